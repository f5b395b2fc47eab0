//! `volume create/ls/inspect/rm/prune/exists`, and named volumes used by containers.

use serde_json::Value;

use crate::images;
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::{assert_clean_error, fails_cleanly, json, lines};

/// `volume inspect NAME`, the one object of the array.
fn inspect_volume(env: &Oxpod, name: &str) -> Value {
    let all = json(&env.ok(&["volume", "inspect", name]));
    let all = all.as_array().expect("volume inspect prints an array");
    assert_eq!(all.len(), 1, "volume inspect {name}: {all:?}");
    all[0].clone()
}

fn names(env: &Oxpod, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    args.extend_from_slice(extra);
    lines(&env.ok(&args))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// An environment with busybox pulled and tagged `busybox`.
fn with_busybox() -> (Registry, Oxpod, String) {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &img.reference()]);
    let reference = img.reference();
    (reg, env, reference)
}

#[test]
fn create_list_inspect_exist_and_remove_as_podman() {
    let env = Oxpod::new();
    // No volumes: an empty table, an empty JSON array.
    assert_eq!(env.ok(&["volume", "ls"]), "DRIVER  VOLUME NAME\n");
    assert_eq!(
        json(&env.ok(&["volume", "ls", "--format", "json"])),
        Value::Array(vec![])
    );

    assert_eq!(
        env.ok(&["volume", "create", "--label", "app=web", "data"]),
        "data\n"
    );
    let anonymous = env.ok(&["volume", "create"]);
    let anonymous = anonymous.trim();
    assert!(
        anonymous.len() == 64 && anonymous.bytes().all(|b| b.is_ascii_hexdigit()),
        "a volume without a name gets a random hex one: {anonymous:?}"
    );
    // An existing name is an error, unless --ignore.
    fails_cleanly(
        &env,
        &["volume", "create", "data"],
        &["data", "already exists"],
    );
    assert_eq!(env.ok(&["volume", "create", "--ignore", "data"]), "data\n");
    fails_cleanly(&env, &["volume", "create", "bad/name"], &["bad/name"]);
    fails_cleanly(
        &env,
        &["volume", "create", "--driver", "nfs", "x"],
        &["nfs"],
    );

    let mut all = vec![anonymous.to_owned(), "data".to_owned()];
    all.sort();
    assert_eq!(names(&env, &[]), all);
    let table = env.ok(&["volume", "ls"]);
    let rows = lines(&table);
    assert_eq!(rows[0], "DRIVER  VOLUME NAME");
    assert!(rows.contains(&"local   data"), "{table}");
    assert_eq!(
        env.ok(&[
            "volume",
            "ls",
            "--noheading",
            "--format",
            "{{.Name}} {{.Driver}} {{.Labels}}",
            "--filter",
            "name=dat"
        ]),
        "data local map[app:web]\n"
    );
    assert_eq!(names(&env, &["--filter", "label=app=web"]), ["data"]);
    assert_eq!(
        names(&env, &["--filter", "label=app=db"]),
        Vec::<String>::new()
    );
    assert_eq!(names(&env, &["--filter", "label=app"]), ["data"]);
    assert_eq!(names(&env, &["--filter", "dangling=true"]), all);
    assert_eq!(
        names(&env, &["--filter", "dangling=false"]),
        Vec::<String>::new()
    );
    let (code, stderr) = env.fails(&["volume", "ls", "--filter", "colour=red"]);
    assert_eq!(code, 125);
    assert_clean_error(&stderr, &["colour"]);

    let listed = json(&env.ok(&["volume", "ls", "--format", "json"]));
    let data = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "data")
        .expect("data is listed")
        .clone();
    assert_eq!(data["Driver"], "local");
    assert_eq!(data["Labels"]["app"], "web");

    let info = inspect_volume(&env, "data");
    assert_eq!(info["Name"], "data");
    assert_eq!(info["Driver"], "local");
    assert_eq!(info["Scope"], "local");
    assert_eq!(info["Labels"], serde_json::json!({"app": "web"}));
    assert_eq!(info["Options"], serde_json::json!({}));
    let mountpoint = env.root().join("volumes/data/_data");
    assert_eq!(info["Mountpoint"], mountpoint.display().to_string());
    assert!(mountpoint.is_dir());
    assert!(
        info["CreatedAt"].as_str().is_some_and(|t| t.contains('T')),
        "{info}"
    );
    assert_eq!(
        env.ok(&[
            "volume",
            "inspect",
            "--format",
            "{{.Mountpoint}} {{.Labels.app}}",
            "data"
        ]),
        format!("{} web\n", mountpoint.display())
    );
    assert_eq!(
        json(&env.ok(&["volume", "inspect", "--all"]))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (code, stderr) = env.fails(&["volume", "inspect", "nosuch"]);
    assert_eq!(code, 125);
    assert_clean_error(&stderr, &["nosuch"]);

    assert_eq!(
        env.run(&["volume", "exists", "data"]).status.code(),
        Some(0)
    );
    assert_eq!(
        env.run(&["volume", "exists", "nosuch"]).status.code(),
        Some(1)
    );

    // Podman's exit status for an unknown volume is 1; the others are still removed.
    let (code, stderr) = env.fails(&["volume", "rm", "nosuch"]);
    assert_eq!(code, 1, "{stderr}");
    assert_clean_error(&stderr, &["no volume with name", "nosuch"]);
    let out = env.run(&["volume", "rm", "nosuch", anonymous]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{anonymous}\n")
    );
    assert_eq!(env.ok(&["volume", "rm", "data"]), "data\n");
    assert!(!env.root().join("volumes/data").exists());
    assert_eq!(names(&env, &[]), Vec::<String>::new());
}

#[test]
fn prune_removes_unused_volumes_only() {
    let (_reg, env, image) = with_busybox();
    env.ok(&["volume", "create", "--label", "keep=no", "spare1"]);
    env.ok(&["volume", "create", "spare2"]);
    env.ok(&["run", "--name", "user", "-v", "held:/data", &image, "true"]);
    // A filter narrows the prune.
    assert_eq!(
        env.ok(&["volume", "prune", "-f", "--filter", "label=keep=no"]),
        "spare1\n"
    );
    assert_eq!(names(&env, &[]), ["held", "spare2"]);
    assert_eq!(env.ok(&["volume", "prune", "-f"]), "spare2\n");
    assert_eq!(names(&env, &[]), ["held"]);
    assert_eq!(names(&env, &["--filter", "dangling=false"]), ["held"]);
    assert_eq!(
        inspect_volume(&env, "held")["UsedBy"],
        serde_json::json!(["user"])
    );
}

#[test]
fn a_named_volume_keeps_its_data_across_containers() {
    let (_reg, env, image) = with_busybox();
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "store:/data",
        &image,
        "sh",
        "-c",
        "echo kept > /data/file",
    ]);
    // The volume outlives the container that made it.
    assert_eq!(names(&env, &[]), ["store"]);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "-v",
            "store:/data",
            &image,
            "cat",
            "/data/file"
        ]),
        "kept\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.root().join("volumes/store/_data/file")).unwrap(),
        "kept\n"
    );
    // A new named volume is filled from the image's content at the mount point, once.
    let out = env.ok(&["run", "--rm", "-v", "etc:/etc", &image, "ls", "/etc"]);
    assert!(lines(&out).contains(&"passwd"), "{out}");
    env.ok(&["run", "--rm", "-v", "etc:/etc", &image, "rm", "/etc/group"]);
    let out = env.ok(&["run", "--rm", "-v", "etc:/etc", &image, "ls", "/etc"]);
    assert!(!lines(&out).contains(&"group"), "not seeded again: {out}");
    // `--mount type=volume` names the same volume.
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,source=store,destination=/v",
            &image,
            "cat",
            "/v/file"
        ]),
        "kept\n"
    );
}

#[test]
fn removing_a_volume_in_use_needs_force_which_removes_its_containers() {
    let (_reg, env, image) = with_busybox();
    // An exited container still uses its volumes, until it is removed.
    env.ok(&[
        "run",
        "--name",
        "idle",
        "-v",
        "shared:/data",
        &image,
        "true",
    ]);
    let running = env.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-v",
        "shared:/data",
        &image,
        "sleep",
        "1000",
    ]);
    let running = running.trim().to_owned();

    // Podman's exit status for a volume in use is 2; the error names the containers.
    let (code, stderr) = env.fails(&["volume", "rm", "shared"]);
    assert_eq!(code, 2, "{stderr}");
    assert_clean_error(&stderr, &["shared", "busy", "idle"]);
    assert_eq!(names(&env, &[]), ["shared"]);
    assert_eq!(lines(&env.ok(&["ps", "-a", "-q"])).len(), 2);

    assert_eq!(env.ok(&["volume", "rm", "-f", "shared"]), "shared\n");
    assert_eq!(names(&env, &[]), Vec::<String>::new());
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert!(!env.root().join("volumes/shared").exists());
    assert!(!env.root().join("containers").join(&running).exists());
}

/// As Podman, `create` makes the named volumes a container asks for and counts as using them,
/// before it ever starts.
#[test]
fn a_created_container_already_uses_its_named_volumes() {
    let (_reg, env, image) = with_busybox();
    env.ok(&[
        "create",
        "--name",
        "idle",
        "-v",
        "early:/data",
        &image,
        "true",
    ]);
    assert_eq!(names(&env, &[]), ["early"]);
    let (code, stderr) = env.fails(&["volume", "rm", "early"]);
    assert_eq!(code, 2, "{stderr}");
    assert_clean_error(&stderr, &["early", "idle"]);
    assert_eq!(env.ok(&["volume", "prune", "-f"]), "");
}
