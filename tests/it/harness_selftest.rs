//! Checks the harness itself (registries, images, environment) without running oxpod.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::images::{self, *};
use crate::oxpod::{Oxpod, unmount_under};
use crate::registry::Registry;

/// `skopeo [global...] inspect FLAGS... docker://ADDR/REFERENCE` in a scratch dir.
fn skopeo_inspect(reg: &Registry, global: &[&str], flags: &[String], reference: &str) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    images::skopeo(tmp.path())
        .args(global)
        .arg("inspect")
        .args(flags)
        .arg(format!("docker://{}/{reference}", reg.addr()))
        .output()
        .expect("run skopeo")
}

fn json_ok(out: Output) -> Value {
    assert!(
        out.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("skopeo printed JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

fn flags(reg: &Registry) -> Vec<String> {
    skopeo_registry_flags(reg, "--")
}

/// Pushed busybox is what the registry serves: digests, layers, architecture, blob on disk.
fn assert_busybox_served(reg: &Registry, img: &TestImage) {
    let info = json_ok(skopeo_inspect(reg, &[], &flags(reg), "busybox:latest"));
    assert_eq!(info["Digest"], img.manifest_digest.as_str());
    assert_eq!(strings(&info["Layers"]), img.layer_digests);
    assert_eq!(img.layer_digests.len(), 1);
    assert_eq!(info["Architecture"], host_arch());
    assert_eq!(info["Env"][0], DEFAULT_PATH);

    let mut config_flags = flags(reg);
    config_flags.extend(["--config".into(), "--raw".into()]);
    let out = skopeo_inspect(reg, &[], &config_flags, "busybox:latest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_digest(&out.stdout), img.config_digest);
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(strings(&config["rootfs"]["diff_ids"]), img.layer_diff_ids);
    assert_eq!(strings(&config["config"]["Cmd"]), ["sh"]);

    let on_disk = fs::read(reg.blob_path(&img.config_digest)).expect("config blob in storage dir");
    assert_eq!(on_disk, out.stdout);
}

#[test]
fn harness_registry_starts_fast_and_stops_on_drop() {
    let t = Instant::now();
    let reg = Registry::start();
    let took = t.elapsed();
    eprintln!("registry ready in {took:?} at {}", reg.addr());
    // The target is < 1 s; allow slack for a loaded machine running tests in parallel.
    assert!(took < Duration::from_secs(5), "registry took {took:?}");
    assert_eq!(reg.http_status("/v2/"), Some(200));
    assert!(reg.storage_dir().is_dir());
    let pid = reg.pid();
    drop(reg);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "registry {pid} survived drop"
    );
}

#[test]
fn harness_parallel_registries_get_distinct_ports() {
    let regs: Vec<Registry> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(Registry::start)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = regs.iter().map(Registry::port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), regs.len());
    for reg in &regs {
        assert_eq!(reg.http_status("/v2/"), Some(200), "{}", reg.addr());
    }
}

#[test]
fn harness_plain_registry_serves_pushed_busybox() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    assert_eq!(img.reference(), format!("{}/busybox:latest", reg.addr()));
    assert_busybox_served(&reg, &img);
    // Deterministic build: a second push of the same image yields the same digests.
    let again = images::busybox_as(&reg, "other/busybox", "v1");
    assert_eq!(again.manifest_digest, img.manifest_digest);
    assert_eq!(again.config_digest, img.config_digest);
}

#[test]
fn harness_auth_registry_needs_credentials() {
    let reg = Registry::start_with_auth("tester", "s3cret");
    assert_eq!(reg.http_status("/v2/"), Some(401));
    let img = images::busybox(&reg);
    assert_busybox_served(&reg, &img);

    let anonymous = ["--tls-verify=false".to_owned()];
    let out = skopeo_inspect(&reg, &[], &anonymous, "busybox:latest");
    assert!(!out.status.success(), "anonymous inspect succeeded");
    let wrong = [
        "--tls-verify=false".to_owned(),
        "--creds=tester:wrong".to_owned(),
    ];
    let out = skopeo_inspect(&reg, &[], &wrong, "busybox:latest");
    assert!(
        !out.status.success(),
        "inspect with a wrong password succeeded"
    );
    let right = [
        "--tls-verify=false".to_owned(),
        "--creds=tester:s3cret".to_owned(),
    ];
    let info = json_ok(skopeo_inspect(&reg, &[], &right, "busybox:latest"));
    assert_eq!(info["Digest"], img.manifest_digest.as_str());
}

#[test]
fn harness_tls_registry_verifies_with_cert_dir() {
    let reg = Registry::start_tls();
    assert_eq!(reg.scheme(), "https");
    let ca = reg.cert_dir().join(reg.addr()).join("ca.crt");
    assert_eq!(
        fs::read(&ca).unwrap(),
        fs::read(reg.ca_cert_path()).unwrap()
    );
    // The push itself verifies the certificate (--dest-tls-verify=true with the cert dir).
    let img = images::busybox(&reg);
    assert_busybox_served(&reg, &img);

    let out = skopeo_inspect(
        &reg,
        &[],
        &["--tls-verify=true".to_owned()],
        "busybox:latest",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "inspect without the CA succeeded");
    assert!(stderr.contains("certificate"), "unexpected error: {stderr}");
}

#[test]
fn harness_multiarch_index_lists_both_platforms() {
    let reg = Registry::start();
    let img = images::multiarch(&reg);
    let mut raw_flags = flags(&reg);
    raw_flags.push("--raw".into());
    let out = skopeo_inspect(&reg, &[], &raw_flags, "multiarch:latest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_digest(&out.stdout), img.manifest_digest);
    let index: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(index["mediaType"], MEDIA_OCI_INDEX);
    let platforms: Vec<(String, String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let s = |v: &Value| v.as_str().unwrap().to_owned();
            (
                s(&m["platform"]["os"]),
                s(&m["platform"]["architecture"]),
                s(&m["digest"]),
            )
        })
        .collect();
    let want: Vec<_> = img
        .platforms
        .iter()
        .map(|p| {
            (
                p.os.clone(),
                p.architecture.clone(),
                p.manifest_digest.clone(),
            )
        })
        .collect();
    assert_eq!(platforms, want);
    assert_eq!(
        want.iter().map(|p| p.1.as_str()).collect::<Vec<_>>(),
        ["amd64", "arm64"]
    );

    // Each platform's image was pushed too, and its config names its architecture.
    for p in &img.platforms {
        let info = json_ok(skopeo_inspect(
            &reg,
            &["--override-arch", &p.architecture],
            &flags(&reg),
            "multiarch:latest",
        ));
        assert_eq!(info["Architecture"], p.architecture.as_str());
        assert_eq!(strings(&info["Layers"]), p.layer_digests);
        let by_digest = format!("multiarch@{}", p.manifest_digest);
        let info = json_ok(skopeo_inspect(&reg, &[], &flags(&reg), &by_digest));
        assert_eq!(info["Digest"], p.manifest_digest.as_str());
        assert_eq!(info["Architecture"], p.architecture.as_str());
    }
    let host = img
        .platforms
        .iter()
        .find(|p| p.architecture == host_arch())
        .unwrap();
    assert_eq!(img.config_digest, host.config_digest);
}

#[test]
fn harness_multilayer_keeps_media_types() {
    let reg = Registry::start();
    let img = images::multilayer(&reg);
    let manifest: Value =
        serde_json::from_slice(&skopeo_inspect_raw(&reg, "multilayer", "latest")).unwrap();
    let media: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        media,
        [
            MEDIA_OCI_LAYER_GZIP,
            MEDIA_OCI_LAYER_GZIP,
            MEDIA_OCI_LAYER_GZIP,
            MEDIA_OCI_LAYER_ZSTD,
            MEDIA_OCI_LAYER
        ]
    );
    assert_eq!(img.layer_diff_ids.len(), 5);
    // Uncompressed: the blob is the tar itself.
    assert_eq!(img.layer_digests[4], img.layer_diff_ids[4]);
    for digest in &img.layer_digests {
        assert!(
            reg.blob_path(digest).is_file(),
            "blob {digest} not in storage"
        );
    }
}

#[test]
fn harness_docker_schema2_uses_docker_media_types() {
    let reg = Registry::start();
    let img = images::docker_schema2(&reg, "busybox", "latest");
    let manifest: Value =
        serde_json::from_slice(&skopeo_inspect_raw(&reg, "busybox", "latest")).unwrap();
    assert_eq!(manifest["mediaType"], MEDIA_DOCKER_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], MEDIA_DOCKER_CONFIG);
    assert_eq!(manifest["layers"][0]["mediaType"], MEDIA_DOCKER_LAYER_GZIP);
    assert_ne!(img.manifest_digest, busybox_image().manifest_digest);
    assert_busybox_served(&reg, &img);
}

#[test]
fn harness_layer_builder_writes_whiteouts_and_links() {
    let layer = LayerBuilder::new()
        .dir("a", 0o755)
        .file("a/f", 0o600, b"x")
        .hardlink("a/g", "a/f")
        .symlink("a/s", "f")
        .whiteout("a/old")
        .whiteout("top")
        .opaque("a")
        .build(Compression::Zstd);
    assert_eq!(layer.media_type, MEDIA_OCI_LAYER_ZSTD);
    assert_eq!(sha256_digest(&layer.blob), layer.digest);
    let tar = zstd::decode_all(&layer.blob[..]).unwrap();
    assert_eq!(sha256_digest(&tar), layer.diff_id);
    let mut archive = tar::Archive::new(&tar[..]);
    let entries: Vec<(String, tar::EntryType, Option<String>)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            (
                e.path().unwrap().display().to_string(),
                e.header().entry_type(),
                link,
            )
        })
        .collect();
    use tar::EntryType::*;
    let want = [
        ("a", Directory, None),
        ("a/f", Regular, None),
        ("a/g", Link, Some("a/f")),
        ("a/s", Symlink, Some("f")),
        ("a/.wh.old", Regular, None),
        (".wh.top", Regular, None),
        ("a/.wh..wh..opq", Regular, None),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(p, t, l)| (p.to_string(), *t, l.map(str::to_owned)))
        .collect();
    assert_eq!(entries, want);
}

#[test]
fn harness_oci_layout_is_well_formed() {
    let tmp = tempfile::tempdir().unwrap();
    let image = multilayer_image();
    image.write_oci_layout(tmp.path(), "v1");
    let index: Value =
        serde_json::from_slice(&fs::read(tmp.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        image.manifest_digest.as_str()
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    assert!(tmp.path().join("oci-layout").is_file());
    let blobs = tmp.path().join("blobs/sha256");
    for entry in fs::read_dir(&blobs).unwrap() {
        let entry = entry.unwrap();
        let hex = entry.file_name().into_string().unwrap();
        assert_eq!(
            sha256_digest(&fs::read(entry.path()).unwrap()),
            format!("sha256:{hex}")
        );
    }
    // config + manifest + 5 layers
    assert_eq!(fs::read_dir(&blobs).unwrap().count(), 7);
    let config: Value = serde_json::from_slice(&image.config).unwrap();
    assert_eq!(strings(&config["rootfs"]["diff_ids"]), image.diff_ids());
    assert_eq!(config["architecture"], host_arch());
    // history: one entry per layer plus the empty-layer Cmd
    assert_eq!(config["history"].as_array().unwrap().len(), 6);
}

/// Validates `expected_multilayer_files` independently: Podman pulls the image and mounts it.
#[test]
fn harness_multilayer_expectations_match_podman() {
    if Command::new("podman").arg("--version").output().is_err() {
        eprintln!("podman not installed; skipping");
        return;
    }
    let reg = Registry::start();
    let img = images::multilayer(&reg);
    /// Podman leaves its storage bind-mounted onto itself; undo that even when the test fails.
    struct Scratch(tempfile::TempDir);
    impl Drop for Scratch {
        fn drop(&mut self) {
            unmount_under(self.0.path());
        }
    }
    let scratch = Scratch(
        tempfile::Builder::new()
            .prefix("oxpod-it-podman.")
            .tempdir()
            .unwrap(),
    );
    let tmp = &scratch.0;
    // Podman 4.3 refuses a REGISTRY_AUTH_FILE that does not exist.
    fs::write(tmp.path().join("auth.json"), r#"{"auths":{}}"#).unwrap();
    let podman = |args: &[&str]| {
        let out = Command::new("podman")
            .arg("--root")
            .arg(tmp.path().join("root"))
            .arg("--runroot")
            .arg(tmp.path().join("runroot"))
            .args(["--storage-driver", "overlay", "--events-backend", "none"])
            .env("REGISTRY_AUTH_FILE", tmp.path().join("auth.json"))
            .env("TMPDIR", tmp.path())
            .args(args)
            .output()
            .expect("run podman");
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    podman(&["pull", "-q", "--tls-verify=false", &img.reference()]);
    let mounted = podman(&["image", "mount", &img.reference()]);
    let result = check_multilayer_rootfs(Path::new(mounted.trim()));
    let _ = podman(&["image", "unmount", "--all"]);
    result.unwrap();
}

#[test]
fn harness_oxpod_env_writes_config_and_cleans_up() {
    let plain = Registry::start();
    let tls = Registry::start_tls();
    let env = Oxpod::with_registries(&[&plain, &tls]);
    let conf = fs::read_to_string(env.registries_conf()).unwrap();
    assert!(conf.starts_with(&format!(
        "unqualified-search-registries = [\"{}\", \"{}\"]\n",
        plain.addr(),
        tls.addr()
    )));
    assert!(conf.contains(&format!(
        "location = \"{}\"\ninsecure = true\n",
        plain.addr()
    )));
    assert!(conf.contains(&format!(
        "location = \"{}\"\ninsecure = false\n",
        tls.addr()
    )));
    assert!(env.certs_d().join(tls.addr()).join("ca.crt").is_file());
    assert!(env.root().is_dir() && env.runroot().is_dir());

    let cmd = env.cmd(&["ps"]);
    let args: Vec<_> = cmd
        .get_args()
        .map(|a| a.to_str().unwrap().to_owned())
        .collect();
    let root = env.root().display().to_string();
    let runroot = env.runroot().display().to_string();
    assert_eq!(args, ["--root", &root, "--runroot", &runroot, "ps"]);

    // A leftover mount and a leftover process are both cleaned up on drop.
    let dir = env.dir().to_owned();
    let mnt = dir.join("root/mnt");
    fs::create_dir(&mnt).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &mnt,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("mount tmpfs");
    let mut straggler = Command::new("sleep")
        .arg("600")
        .current_dir(&mnt)
        .spawn()
        .unwrap();
    drop(env);
    let status = straggler.wait().unwrap();
    assert!(!status.success(), "sleep was not killed");
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(dir.to_str().unwrap()),
        "mount left behind"
    );
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[test]
fn harness_oxpod_run_times_out_and_captures_output() {
    let mut env = Oxpod::new();
    let out = env.run_cmd(
        {
            let mut c = Command::new("sh");
            c.args(["-c", "cat; echo err >&2; exit 3"]);
            c
        },
        Some(b"from stdin\n"),
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"from stdin\n");
    assert_eq!(out.stderr, b"err\n");

    env.set_timeout(Duration::from_millis(300));
    let t = Instant::now();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut c = Command::new("sh");
        c.args(["-c", "echo started; exec sleep 600"]);
        env.run_cmd(c, None)
    }));
    let msg = panicked.expect_err("a hanging command must fail the test");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("timed out") && msg.contains("started"),
        "{msg}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}
