//! `save`, `load` and `import`, checked against skopeo (and Podman when installed) as the
//! independent readers and writers of the same archive formats.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::images::{self, skopeo, skopeo_registry_flags};
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::{fails_cleanly, image_ids, inspect, json, strings};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo_inspect(scratch: &Path, transport: &str) -> Value {
    json(&run(skopeo(scratch).args(["inspect", transport])))
}

fn skopeo_config(scratch: &Path, transport: &str) -> Value {
    json(&run(
        skopeo(scratch).args(["inspect", "--config", transport])
    ))
}

#[test]
fn docker_archive_round_trips_and_skopeo_reads_it() {
    let reg = Registry::start();
    let img = images::multilayer(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &img.reference()]);
    let archive = env.dir().join("m.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), &img.reference()]);

    let transport = format!("docker-archive:{}", archive.display());
    let seen = skopeo_inspect(env.dir(), &transport);
    assert_eq!(strings(&seen["Layers"]).len(), img.layer_diff_ids.len());
    let config = skopeo_config(env.dir(), &transport);
    assert_eq!(
        strings(&config["rootfs"]["diff_ids"]),
        img.layer_diff_ids,
        "docker-archive layers are the uncompressed diffs"
    );

    let fresh = Oxpod::new();
    let out = fresh.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        out.contains(&format!("Loaded image: {}", img.reference())),
        "{out}"
    );
    let loaded = inspect(&fresh, &img.reference());
    assert_eq!(loaded["Id"], img.image_id());
    assert_eq!(strings(&loaded["RootFS"]["Layers"]), img.layer_diff_ids);
}

#[test]
fn oci_archive_keeps_the_manifest_byte_for_byte() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &img.reference()]);
    let archive = env.dir().join("b.oci.tar");
    env.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        archive.to_str().unwrap(),
        &img.reference(),
    ]);
    let seen = skopeo_inspect(env.dir(), &format!("oci-archive:{}", archive.display()));
    assert_eq!(seen["Digest"], img.manifest_digest.as_str());

    // skopeo copies it into a registry; oxpod pulls the same image back.
    let dest = format!("docker://{}/copied:1", reg.addr());
    run(skopeo(env.dir())
        .arg("copy")
        .arg("--quiet")
        .args(skopeo_registry_flags(&reg, "--dest-"))
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(&dest));
    let fresh = Oxpod::with_registry(&reg);
    let id = fresh.ok(&["pull", "-q", &format!("{}/copied:1", reg.addr())]);
    assert_eq!(id.trim(), img.image_id());

    let again = Oxpod::new();
    again.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    assert_eq!(inspect(&again, &img.reference())["Id"], img.image_id());
}

#[test]
fn archives_written_by_skopeo_load() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::new();
    for (transport, file) in [("docker-archive", "d.tar"), ("oci-archive", "o.tar")] {
        let path = env.dir().join(file);
        run(skopeo(env.dir())
            .arg("copy")
            .arg("--quiet")
            .args(skopeo_registry_flags(&reg, "--src-"))
            .arg(format!("docker://{}", img.reference()))
            .arg(format!(
                "{transport}:{}:localhost/from-skopeo:{file}",
                path.display()
            )));
        env.ok(&["load", "-i", path.to_str().unwrap()]);
        let loaded = inspect(&env, &format!("localhost/from-skopeo:{file}"));
        assert_eq!(loaded["Id"], img.image_id(), "{transport}");
        assert_eq!(strings(&loaded["RootFS"]["Layers"]), img.layer_diff_ids);
    }
}

#[test]
fn load_reads_standard_input_and_several_images() {
    let reg = Registry::start();
    let a = images::busybox(&reg);
    let b = images::multilayer(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &a.reference()]);
    env.ok(&["pull", "-q", &b.reference()]);
    let archive = env.dir().join("both.tar");
    env.ok(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        &a.reference(),
        &b.reference(),
    ]);
    let fresh = Oxpod::new();
    let out = fresh.ok_with_stdin(&["load"], &fs::read(&archive).unwrap());
    assert!(
        out.contains(&a.reference()) && out.contains(&b.reference()),
        "{out}"
    );
    let mut ids = image_ids(&fresh);
    ids.sort();
    let mut want = vec![
        a.image_id()[..12].to_string(),
        b.image_id()[..12].to_string(),
    ];
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn a_truncated_archive_registers_nothing() {
    let reg = Registry::start();
    let img = images::multilayer(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &img.reference()]);
    let archive = env.dir().join("m.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), &img.reference()]);
    let bytes = fs::read(&archive).unwrap();
    let cut = env.dir().join("cut.tar");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let fresh = Oxpod::new();
    fails_cleanly(&fresh, &["load", "-i", cut.to_str().unwrap()], &[]);
    assert!(image_ids(&fresh).is_empty());
}

#[test]
fn save_refuses_unknown_images_and_leaves_no_file() {
    let env = Oxpod::new();
    let out = env.dir().join("none.tar");
    fails_cleanly(
        &env,
        &["save", "-o", out.to_str().unwrap(), "nope"],
        &["nope"],
    );
    assert!(!out.exists());
}

fn rootfs_tar(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("rootfs");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/message"), "imported\n").unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let tar = dir.join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    tar
}

#[test]
fn import_applies_changes_and_the_layer_holds_the_files() {
    let env = Oxpod::new();
    let tar = rootfs_tar(env.dir());
    let id = env.ok(&[
        "import",
        "-q",
        "--change",
        r#"CMD ["/bin/busybox", "cat", "/etc/message"]"#,
        "--change",
        "ENV GREETING=hello",
        "--change",
        "WORKDIR /etc",
        "--change",
        "LABEL app=demo",
        "--message",
        "from a tarball",
        tar.to_str().unwrap(),
        "demo:1",
    ]);
    let info = inspect(&env, "localhost/demo:1");
    assert_eq!(
        info["Id"].as_str().unwrap(),
        id.trim().trim_start_matches("sha256:")
    );
    assert_eq!(
        strings(&info["Config"]["Cmd"]),
        ["/bin/busybox", "cat", "/etc/message"]
    );
    assert!(strings(&info["Config"]["Env"]).contains(&"GREETING=hello".to_string()));
    assert_eq!(info["Config"]["WorkingDir"], "/etc");
    assert_eq!(info["Labels"]["app"], "demo");
    let layers = strings(&info["RootFS"]["Layers"]);
    assert_eq!(layers.len(), 1);
    let layer = env
        .root()
        .join("layers")
        .join(layers[0].trim_start_matches("sha256:"));
    assert_eq!(
        fs::read_to_string(layer.join("etc/message")).unwrap(),
        "imported\n"
    );
    let history = env.ok(&[
        "image",
        "history",
        "--format",
        "{{.Comment}}",
        "localhost/demo:1",
    ]);
    assert!(history.contains("from a tarball"), "{history}");

    // The same tarball from standard input, gzip-compressed, gives the same layer.
    let compressed = Command::new("gzip")
        .arg("-c")
        .arg(&tar)
        .output()
        .unwrap()
        .stdout;
    env.ok_with_stdin(&["import", "-q", "-", "demo:2"], &compressed);
    assert_eq!(
        strings(&inspect(&env, "localhost/demo:2")["RootFS"]["Layers"]),
        layers
    );
}

#[test]
fn import_refuses_an_unknown_instruction_and_creates_nothing() {
    let env = Oxpod::new();
    let tar = rootfs_tar(env.dir());
    fails_cleanly(
        &env,
        &[
            "import",
            "--change",
            "FROBNICATE x",
            tar.to_str().unwrap(),
            "bad",
        ],
        &["FROBNICATE"],
    );
    assert!(image_ids(&env).is_empty());
}

#[test]
fn podman_loads_what_oxpod_saves() {
    if Command::new("podman").arg("--version").output().is_err() {
        eprintln!("podman not installed: skipping");
        return;
    }
    let env = Oxpod::new();
    let tar = rootfs_tar(env.dir());
    let id = env.ok(&["import", "-q", tar.to_str().unwrap(), "peer:1"]);
    let id = id.trim().trim_start_matches("sha256:").to_string();
    for (format, file) in [("docker-archive", "p.tar"), ("oci-archive", "p.oci.tar")] {
        let archive = env.dir().join(file);
        env.ok(&[
            "save",
            "--format",
            format,
            "-o",
            archive.to_str().unwrap(),
            "localhost/peer:1",
        ]);
        let root = env.dir().join(format!("podman-{format}"));
        let podman = |args: &[&str]| {
            run(Command::new("podman")
                .arg("--root")
                .arg(root.join("root"))
                .arg("--runroot")
                .arg(root.join("run"))
                .arg("--storage-driver")
                .arg("overlay")
                .env("CONTAINERS_CONF", env.dir().join("podman-containers.conf"))
                .args(args))
        };
        fs::write(
            env.dir().join("podman-containers.conf"),
            "[engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n",
        )
        .unwrap();
        podman(&["load", "-q", "-i", archive.to_str().unwrap()]);
        let listed = json(&podman(&["images", "--format", "json"]));
        assert_eq!(listed[0]["Id"], id.as_str(), "{format}");
        assert!(
            strings(&listed[0]["Names"]).contains(&"localhost/peer:1".to_string()),
            "{format}: {listed}"
        );
    }
}
