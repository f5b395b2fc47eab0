//! `oxpod run` as a user sees it: output and exit codes, the flags that shape the process
//! (environment, user, working directory, entrypoint, capabilities, mounts, labels), volumes,
//! and what bad input gets: one clear line, Podman's exit code, nothing left behind.

use std::fs;

use serde_json::{Value, json};

use crate::container_support::*;
use crate::images::{self, Compression, ImageBuilder, LayerBuilder, PASSWD};
use crate::oxpod::Oxpod;
use crate::support::{assert_clean_error, fails_cleanly};

/// busybox plus a non-executable file on the PATH and a `VOLUME /data` with content.
fn push_special(fx: &Fixture) -> String {
    let extra = LayerBuilder::new()
        .dir("usr", 0o755)
        .dir("usr/local", 0o755)
        .dir("usr/local/bin", 0o755)
        .file(
            "usr/local/bin/notexec",
            0o644,
            b"#!/bin/sh\necho should not run\n",
        )
        .dir("data", 0o755)
        .file("data/seed.txt", 0o644, b"from the image\n")
        .dir("data/sub", 0o700)
        .file("data/sub/deep.txt", 0o600, b"deep\n")
        .build(Compression::Gzip);
    let image = ImageBuilder::new()
        .layer(images::busybox_layer(), "oxpod-it: busybox")
        .layer(extra, "oxpod-it: notexec and /data")
        .config("Volumes", json!({"/data": {}}))
        .cmd(&["sh"])
        .build();
    let pushed = images::push_image(&fx.reg, &image, "special", "latest");
    fx.env.ok(&["pull", "-q", &pushed.reference()]);
    pushed.reference()
}

/// Runs `args`, which must fail with `code`; returns stderr.
fn fails_with(env: &Oxpod, args: &[&str], code: i32) -> String {
    let (got, stderr) = env.fails(args);
    assert_eq!(got, code, "oxpod {args:?}: exit {got}\n{stderr}");
    stderr
}

#[test]
fn run_prints_output_and_propagates_the_exit_code() {
    let fx = setup();
    let out = fx.env.run(&fx.args(&[
        "run",
        "--rm",
        "{img}",
        "sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2",
    ]));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to-stdout\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-stderr\n");

    let out = fx
        .env
        .run(&fx.args(&["run", "--rm", "{img}", "sh", "-c", "exit 3"]));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_root_empty(&fx.env);
}

#[test]
fn run_rm_leaves_nothing_behind() {
    let fx = setup();
    // The default host name is the ID's first 12 characters: how a --rm container tells us
    // which ID to look for once it is gone.
    let short = fx.ok(&["run", "--rm", "--memory", "32m", "{img}", "hostname"]);
    let short = short.trim();
    assert_eq!(short.len(), 12, "{short:?}");
    assert_container_gone(&fx.env, short);
    assert_root_empty(&fx.env);

    // Detached: the monitor removes it when it exits, and `wait` still gets its exit code.
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--rm",
        "-v",
        "/anon",
        "{img}",
        "sh",
        "-c",
        "sleep 0.5; exit 6",
    ]);
    assert_eq!(fx.env.ok(&["wait", &id]), "6\n");
    assert_container_gone(&fx.env, &id);
    assert_root_empty(&fx.env);
    // stop and rm -f of a running --rm container succeed; it is gone either way.
    let id = fx.run_detached(&["run", "-d", "--rm", "--name", "s", "{img}", "sleep", "100"]);
    assert_eq!(fx.env.ok(&["stop", "-t", "0", "s"]), "s\n");
    assert_container_gone(&fx.env, &id);
    let id = fx.run_detached(&["run", "-d", "--rm", "-v", "/anon", "{img}", "sleep", "100"]);
    assert_eq!(fx.env.ok(&["rm", "-f", &id]), format!("{id}\n"));
    assert_container_gone(&fx.env, &id);
    assert_root_empty(&fx.env);
    // Its anonymous volume went with it.
    let volumes = fx.env.root().join("volumes");
    assert_eq!(
        fs::read_dir(&volumes).map_or(0, |d| d.count()),
        0,
        "volumes left in {}",
        volumes.display()
    );
}

#[test]
fn oxpod_errors_exit_125_with_one_line_and_leave_nothing() {
    let fx = setup();
    let missing = crate::support::unique_tmp_path("missing-bind");
    let missing_bind = format!("{}:/mnt", missing.display());
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["run", "--pull=never", "localhost/nosuch:1.0", "true"],
            vec!["localhost/nosuch:1.0"],
        ),
        (vec!["run", "--memory", "12x", "{img}", "true"], vec!["12x"]),
        (vec!["run", "--cpus", "lots", "{img}", "true"], vec!["lots"]),
        (
            vec!["run", "--pids-limit", "many", "{img}", "true"],
            vec!["many"],
        ),
        (
            vec!["run", "--restart", "sometimes", "{img}", "true"],
            vec!["sometimes"],
        ),
        (
            vec!["run", "--stop-signal", "SIGNOPE", "{img}", "true"],
            vec!["SIGNOPE"],
        ),
        (
            vec!["run", "--cap-add", "CAP_NOPE", "{img}", "true"],
            vec!["CAP_NOPE"],
        ),
        (
            vec!["run", "--name", "bad name", "{img}", "true"],
            vec!["bad name"],
        ),
        (
            vec!["run", "-v", &missing_bind, "{img}", "true"],
            vec![missing.to_str().unwrap()],
        ),
        (
            vec!["run", "--rm", "-u", "nosuchuser", "{img}", "id"],
            vec!["nosuchuser"],
        ),
        (
            vec!["run", "--rm", "-w", "/etc/passwd", "{img}", "true"],
            vec!["/etc/passwd"],
        ),
    ];
    for (args, needles) in cases {
        fails_cleanly(&fx.env, &fx.args(&args), &needles);
        assert_root_empty(&fx.env);
    }
}

#[test]
fn not_executable_is_126_and_not_found_is_127() {
    let fx = setup();
    let special = push_special(&fx);
    let stderr = fails_with(
        &fx.env,
        &fx.args(&["run", "--rm", "{img}", "/etc/passwd"]),
        126,
    );
    assert_clean_error(&stderr, &["/etc/passwd"]);
    // Found on the PATH, but not executable.
    let stderr = fails_with(&fx.env, &["run", "--rm", &special, "notexec"], 126);
    assert_clean_error(&stderr, &["notexec"]);
    let stderr = fails_with(
        &fx.env,
        &fx.args(&["run", "--rm", "{img}", "nosuchcmd"]),
        127,
    );
    assert_clean_error(&stderr, &["nosuchcmd"]);
    let stderr = fails_with(
        &fx.env,
        &fx.args(&["run", "--rm", "{img}", "/no/such/path"]),
        127,
    );
    assert_clean_error(&stderr, &["/no/such/path"]);
    assert_root_empty(&fx.env);

    // Without --rm the container stays, created and never started, as with Podman; it holds
    // no mount, and `rm` removes it.
    let stderr = fails_with(
        &fx.env,
        &fx.args(&["run", "--name", "typo", "{img}", "nosuchcmd"]),
        127,
    );
    assert_clean_error(&stderr, &["nosuchcmd"]);
    let row = ps_entry(&fx.env, "typo").expect("typo is listed");
    assert_eq!(row["State"], "created", "{row}");
    assert_eq!(mounts_under(fx.env.dir()), Vec::<String>::new());
    // `start` says the same, with the same code.
    let stderr = fails_with(&fx.env, &["start", "-a", "typo"], 127);
    assert_clean_error(&stderr, &["nosuchcmd"]);
    fx.env.ok(&["rm", "typo"]);
    assert_root_empty(&fx.env);
}

#[test]
fn environment_user_workdir_entrypoint_and_hostname() {
    let fx = setup();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env");
    fs::write(
        &env_file,
        "# a comment\nFROM_FILE=one\n\nSPACED=two words\n",
    )
    .unwrap();
    let out = fx.ok(&[
        "run",
        "--rm",
        "-e",
        "FROM_FLAG=flag",
        "--env-file",
        env_file.to_str().unwrap(),
        "{img}",
        "sh",
        "-c",
        "echo \"$FROM_FLAG|$FROM_FILE|$SPACED|$PATH\"",
    ]);
    assert_eq!(
        out,
        format!(
            "flag|one|two words|{}\n",
            images::DEFAULT_PATH.trim_start_matches("PATH=")
        )
    );

    let out = fx.ok(&["run", "--rm", "-w", "/tmp", "{img}", "pwd"]);
    assert_eq!(out, "/tmp\n");
    // A working directory the image lacks is created, as Docker and Podman do.
    let out = fx.ok(&[
        "run",
        "--rm",
        "-w",
        "/new/work",
        "-u",
        "65534:65534",
        "{img}",
        "sh",
        "-c",
        "pwd; touch mine && echo writable",
    ]);
    assert_eq!(out, "/new/work\nwritable\n");

    let out = fx.ok(&["run", "--rm", "-u", "65534:65534", "{img}", "id"]);
    // Supplementary groups, when listed, are only the primary one (runtimes differ here).
    assert!(
        [
            "uid=65534(nobody) gid=65534(nogroup)\n",
            "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
        ]
        .contains(&out.as_str()),
        "{out:?}"
    );
    let out = fx.ok(&["run", "--rm", "-u", "nobody", "{img}", "id", "-u"]);
    assert_eq!(out, "65534\n");

    let out = fx.ok(&["run", "--rm", "--entrypoint", "echo", "{img}", "a", "b"]);
    assert_eq!(out, "a b\n");
    let out = fx.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        r#"["sh","-c"]"#,
        "{img}",
        "echo json form",
    ]);
    assert_eq!(out, "json form\n");

    let out = fx.ok(&[
        "run",
        "--rm",
        "--hostname",
        "box.example",
        "{img}",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; grep -c box.example /etc/hosts",
    ]);
    assert_eq!(out, "box.example\nbox.example\n1\n");
    assert_root_empty(&fx.env);
}

#[test]
fn read_only_root_and_tmpfs() {
    let fx = setup();
    let out = fx.env.run(&fx.args(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch:size=1m",
        "{img}",
        "sh",
        "-c",
        "touch /forbidden; echo root=$?; echo kept > /scratch/f && cat /scratch/f; \
         grep ' /scratch ' /proc/mounts",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "root=1", "{stdout}");
    assert_eq!(lines[1], "kept", "{stdout}");
    assert!(
        lines[2].starts_with("tmpfs /scratch tmpfs ") && lines[2].contains("size=1024k"),
        "{stdout}"
    );
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    // Without --read-only the root is writable.
    fx.ok(&["run", "--rm", "{img}", "touch", "/allowed"]);
}

#[test]
fn capabilities_follow_cap_add_cap_drop_and_privileged() {
    let fx = setup();
    let cap_eff_of = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["{img}", "cat", "/proc/self/status"]);
        cap_eff(&fx.ok(&args))
    };
    // Podman's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
    // NET_BIND_SERVICE SYS_CHROOT SETFCAP.
    let default: u64 = [0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 31]
        .iter()
        .map(|b| 1u64 << b)
        .sum();
    assert_eq!(cap_eff_of(&[]), default, "default set");
    assert_eq!(cap_eff_of(&["--cap-drop", "CHOWN"]), default & !1);
    assert_eq!(cap_eff_of(&["--cap-drop", "all"]), 0);
    assert_eq!(
        cap_eff_of(&["--cap-drop", "all", "--cap-add", "NET_ADMIN"]),
        1 << 12
    );
    assert_eq!(
        cap_eff_of(&["--cap-add", "CAP_SYS_PTRACE"]),
        default | 1 << 19
    );
    // Everything this (root) process has: here root lacks CAP_SYS_RESOURCE, and a
    // privileged container cannot have more than its creator.
    let host = cap_eff(&fs::read_to_string("/proc/self/status").unwrap());
    assert_eq!(cap_eff_of(&["--privileged"]), host, "privileged");
    // Privileged also means the host's devices.
    let out = fx.ok(&["run", "--rm", "--privileged", "{img}", "ls", "/dev"]);
    let host_devs = fs::read_dir("/dev").unwrap().count();
    assert!(
        out.lines().count() > 10 && host_devs > 10,
        "privileged /dev has {} entries:\n{out}",
        out.lines().count()
    );
}

#[test]
fn bind_mounts_show_host_files_and_honour_ro() {
    let fx = setup();
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("hello.txt"), "from the host\n").unwrap();
    let bind = format!("{}:/data", host.path().display());
    let out = fx.ok(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "{img}",
        "sh",
        "-c",
        "cat /data/hello.txt; echo from the container > /data/back.txt",
    ]);
    assert_eq!(out, "from the host\n");
    assert_eq!(
        fs::read_to_string(host.path().join("back.txt")).unwrap(),
        "from the container\n"
    );

    let bind_ro = format!("{}:/data:ro", host.path().display());
    let out = fx.env.run(&fx.args(&[
        "run",
        "--rm",
        "-v",
        &bind_ro,
        "{img}",
        "sh",
        "-c",
        "cat /data/hello.txt; echo nope > /data/new.txt",
    ]));
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from the host\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "{out:?}"
    );
    assert!(!host.path().join("new.txt").exists());

    // A single file works too, and --mount says the same as -v.
    let file_bind = format!(
        "type=bind,source={},destination=/etc/motd,readonly",
        host.path().join("hello.txt").display()
    );
    let out = fx.ok(&[
        "run",
        "--rm",
        "--mount",
        &file_bind,
        "{img}",
        "cat",
        "/etc/motd",
    ]);
    assert_eq!(out, "from the host\n");
    assert_root_empty(&fx.env);
}

#[test]
fn named_volumes_persist_and_are_seeded_from_the_image() {
    let fx = setup();
    fx.ok(&[
        "run",
        "--rm",
        "-v",
        "keep:/v",
        "{img}",
        "sh",
        "-c",
        "echo persisted > /v/f",
    ]);
    let out = fx.ok(&["run", "--rm", "-v", "keep:/v", "{img}", "cat", "/v/f"]);
    assert_eq!(out, "persisted\n");
    let data = fx.env.root().join("volumes/keep/_data");
    assert_eq!(fs::read_to_string(data.join("f")).unwrap(), "persisted\n");

    // A new volume mounted where the image has files starts with a copy of them.
    let out = fx.ok(&[
        "run",
        "--rm",
        "-v",
        "etc:/etc",
        "{img}",
        "sh",
        "-c",
        "cat /etc/passwd; echo changed > /etc/group",
    ]);
    assert_eq!(out, PASSWD);
    let data = fx.env.root().join("volumes/etc/_data");
    assert_eq!(fs::read_to_string(data.join("passwd")).unwrap(), PASSWD);
    // Once used, it is never seeded again: the change stays.
    let out = fx.ok(&[
        "run",
        "--rm",
        "-v",
        "etc:/etc",
        "{img}",
        "cat",
        "/etc/group",
    ]);
    assert_eq!(out, "changed\n");
    let out = fx.ok(&["run", "--rm", "-v", "etc:/mnt", "{img}", "ls", "/mnt"]);
    assert_eq!(out, "group\npasswd\n");
    assert_root_empty(&fx.env);
}

/// The `Name` of the volume a container mounts at `destination`.
fn volume_at(info: &Value, destination: &str) -> String {
    let mounts = info["Mounts"].as_array().expect("Mounts");
    let m = mounts
        .iter()
        .find(|m| m["Destination"] == destination)
        .unwrap_or_else(|| panic!("no mount at {destination}: {mounts:?}"));
    assert_eq!(m["Type"], "volume", "{m}");
    m["Name"].as_str().unwrap().to_owned()
}

#[test]
fn anonymous_volumes_are_seeded_and_removed_by_rm_v() {
    let fx = setup();
    let special = push_special(&fx);
    let volumes = fx.env.root().join("volumes");

    // The image's VOLUME /data: an anonymous volume with the image's files, modes kept.
    let out = fx.ok(&[
        "run",
        "--name",
        "img-vol",
        &special,
        "sh",
        "-c",
        "cat /data/seed.txt; stat -c %a /data/sub",
    ]);
    assert_eq!(out, "from the image\n700\n");
    let image_vol = volume_at(&inspect(&fx.env, "img-vol"), "/data");
    assert!(is_full_id(&image_vol), "{image_vol}");
    assert_eq!(
        fs::read_to_string(volumes.join(&image_vol).join("_data/sub/deep.txt")).unwrap(),
        "deep\n"
    );

    // -v with a destination only.
    fx.ok(&[
        "run",
        "--name",
        "flag-vol",
        "-v",
        "/scratch",
        "{img}",
        "sh",
        "-c",
        "echo x > /scratch/x",
    ]);
    let flag_vol = volume_at(&inspect(&fx.env, "flag-vol"), "/scratch");
    assert!(volumes.join(&flag_vol).join("_data/x").is_file());

    // rm without -v keeps them (as Docker and Podman do); rm -v removes them.
    fx.env.ok(&["rm", "flag-vol"]);
    assert!(volumes.join(&flag_vol).is_dir(), "rm alone removed it");
    fx.env.ok(&["rm", "-v", "img-vol"]);
    assert!(!volumes.join(&image_vol).exists(), "rm -v kept it");
    // A named volume survives rm -v.
    fx.ok(&["run", "--name", "named", "-v", "mine:/m", "{img}", "true"]);
    fx.env.ok(&["rm", "-v", "named"]);
    assert!(
        volumes.join("mine/_data").is_dir(),
        "rm -v removed a named volume"
    );
}

#[test]
fn labels_filter_ps_and_annotations_reach_the_runtime() {
    let fx = setup();
    fx.ok(&[
        "create",
        "--name",
        "web",
        "--label",
        "app=web",
        "--label",
        "tier=front",
        "--annotation",
        "io.example/owner=tests",
        "{img}",
        "true",
    ]);
    fx.ok(&[
        "create", "--name", "db", "--label", "app=db", "{img}", "true",
    ]);
    fx.ok(&["create", "--name", "plain", "{img}", "true"]);
    let names = |filter: &str| {
        let mut names: Vec<String> = fx
            .env
            .ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])
            .lines()
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    };
    assert_eq!(names("label=app=web"), ["web"]);
    assert_eq!(names("label=app"), ["db", "web"]);
    assert_eq!(names("label=tier=back"), Vec::<String>::new());

    let info = inspect(&fx.env, "web");
    assert_eq!(
        info["Config"]["Labels"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(
        info["Config"]["Annotations"]["io.example/owner"], "tests",
        "{info}"
    );
    // Annotations go into the OCI config the runtime reads.
    fx.env.ok(&["start", "web"]);
    fx.env.ok(&["wait", "web"]);
    let id = info["Id"].as_str().unwrap();
    let config: Value =
        serde_json::from_slice(&fs::read(bundle_dir(&fx.env, id).join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        config["annotations"]["io.example/owner"], "tests",
        "{config}"
    );
}
