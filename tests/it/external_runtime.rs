//! The container lifecycle on each external OCI runtime installed (`--runtime crun|runc|youki`).
//!
//! crun 1.8 (Debian 12) refuses hybrid cgroup hosts with a controller on the cgroup2 mount,
//! as this one: there the test asserts oxpod's explanation instead. With
//! `OXPOD_IT_HYBRID_FIX=1` (as root) it then mounts those controllers as v1 hierarchies, runs
//! the lifecycle and unmounts them again. That changes the host's cgroup layout for a few
//! seconds, so run it alone: `OXPOD_IT_HYBRID_FIX=1 cargo test --test it external_runtime`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::images;
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::{assert_clean_error, json};

/// The runtimes oxpod can drive that are installed here.
fn installed_runtimes() -> Vec<&'static str> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["crun", "runc", "youki"]
        .into_iter()
        .filter(|name| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .collect()
}

fn cgroup_mounts() -> Vec<String> {
    fs::read_to_string("/proc/self/mounts")
        .expect("read /proc/self/mounts")
        .lines()
        .filter(|l| l.split(' ').nth(2).is_some_and(|t| t.starts_with("cgroup")))
        .map(str::to_owned)
        .collect()
}

fn inspect(env: &Oxpod, name: &str) -> serde_json::Value {
    let all = json(&env.ok(&["inspect", name]));
    all.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("inspect {name}: {all}"))
}

fn wait_for_log(env: &Oxpod, name: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = env.ok(&["logs", name]);
        if out.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "logs of {name} never showed {needle:?}: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `run` in the foreground with an exit code, and `run -d` + `logs` + `stop` + `rm`.
fn lifecycle(env: &Oxpod, image: &str, runtime: &str) {
    let out = env.run(&[
        "run",
        "--rm",
        "--runtime",
        runtime,
        image,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{runtime}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    let name = format!("bg-{runtime}");
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--runtime",
        runtime,
        image,
        "sh",
        "-c",
        "echo started; trap 'exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    let id = id.trim().to_owned();
    wait_for_log(env, &name, "started");
    let info = inspect(env, &name);
    assert_eq!(info["OCIRuntime"], runtime);
    assert_eq!(info["State"]["Status"], "running");
    // The init was reparented to its monitor (a child subreaper), which reaps it.
    let pid = info["State"]["Pid"].as_i64().unwrap();
    let monitor = info["State"]["ConmonPid"].as_i64().unwrap();
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i64 = stat
        .rsplit(") ")
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, monitor, "the container's parent is its monitor");
    let state_dir = env.runroot().join(format!("runtime-{runtime}")).join(&id);
    assert!(
        state_dir.exists(),
        "{runtime} keeps its state in {}",
        state_dir.display()
    );

    env.ok(&["stop", &name]);
    let info = inspect(env, &name);
    assert_eq!(info["State"]["Status"], "exited");
    assert_eq!(info["State"]["ExitCode"], 0);
    assert!(
        !state_dir.exists(),
        "the runtime's state is deleted once it exited"
    );
    env.ok(&["rm", &name]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    for controller in ["memory", "pids"] {
        let cgroup = Path::new("/sys/fs/cgroup")
            .join(controller)
            .join("oxpod")
            .join(&id);
        assert!(!cgroup.exists(), "{} is left", cgroup.display());
    }
}

#[test]
fn the_lifecycle_runs_on_every_installed_runtime() {
    let runtimes = installed_runtimes();
    if runtimes.is_empty() {
        eprintln!("no external OCI runtime (crun, runc, youki) installed: nothing to test");
        return;
    }
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &img.reference()]);
    let image = img.reference();
    for runtime in runtimes {
        let probe = env.run(&["run", "--rm", "--runtime", runtime, &image, "true"]);
        if probe.status.success() {
            lifecycle(&env, &image, runtime);
            continue;
        }
        let stderr = String::from_utf8_lossy(&probe.stderr).into_owned();
        assert!(
            stderr.contains("hybrid cgroup layout"),
            "{runtime} failed, and not for the known hybrid cgroup refusal:\n{stderr}"
        );
        assert_eq!(probe.status.code(), Some(125), "{stderr}");
        assert_clean_error(
            &stderr,
            &[
                runtime,
                "cgroups in hybrid mode not supported",
                "mount -t cgroup -o",
                "pure cgroup v1 or v2",
            ],
        );
        // Nothing is left of the failed container.
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
        if std::env::var_os("OXPOD_IT_HYBRID_FIX").is_some() {
            with_v2_controllers_on_v1(|| lifecycle(&env, &image, runtime));
        } else {
            eprintln!(
                "{runtime} refuses this hybrid cgroup host; set OXPOD_IT_HYBRID_FIX=1 to run its lifecycle with the controllers moved to v1"
            );
        }
    }
}

#[test]
fn an_unknown_runtime_is_one_clear_error_and_leaves_nothing() {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &img.reference()]);
    for runtime in ["oxpod-no-such-runtime", "/nonexistent/crun"] {
        for verb in ["create", "run"] {
            let (code, stderr) = env.fails(&[verb, "--runtime", runtime, &img.reference(), "true"]);
            assert_eq!(code, 125, "{stderr}");
            assert_clean_error(&stderr, &[runtime, "not found"]);
        }
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

/// Mount each controller of the cgroup2 mount as a v1 hierarchy of its own, run `f`, and
/// restore the layout (checked against `/proc/self/mounts`), also when `f` panics.
fn with_v2_controllers_on_v1(f: impl FnOnce()) {
    let unified = Path::new("/sys/fs/cgroup/unified");
    let controllers: Vec<String> = fs::read_to_string(unified.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let before = (cgroup_mounts(), controllers.clone());
    let mut mounted = Vec::new();
    for controller in &controllers {
        let dir = PathBuf::from("/sys/fs/cgroup").join(controller);
        let existed = dir.exists();
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let status = std::process::Command::new("mount")
            .args(["-t", "cgroup", "-o", controller, "cgroup"])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount {controller} as v1 at {}",
            dir.display()
        );
        mounted.push((dir, existed, controller));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    for (dir, existed, controller) in mounted.iter().rev() {
        unmount_hierarchy(dir, controller);
        if !existed {
            let _ = fs::remove_dir(dir);
        }
    }
    // The hierarchies are freed asynchronously; then their controllers are on v2 again.
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let after = (
            cgroup_mounts(),
            fs::read_to_string(unified.join("cgroup.controllers"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
        if after == before || Instant::now() > deadline {
            break after;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(after, before, "the cgroup layout is restored");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Live cgroups of `controller`'s hierarchy, removed ones still being freed included
/// (`num_cgroups` of `/proc/cgroups`).
fn cgroups_of(controller: &str) -> Option<u64> {
    fs::read_to_string("/proc/cgroups")
        .ok()?
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&controller))
        .and_then(|f| f.get(2)?.parse().ok())
}

/// Unmount a v1 hierarchy so that its controller goes back to the cgroup2 mount. The kernel
/// destroys the hierarchy on unmount only when it has no child cgroups, dying ones included;
/// otherwise it lingers unmounted and keeps the controller. So remove the (empty) `oxpod*`
/// cgroups left there and wait until they are freed first; a cgroup with processes in it
/// keeps the hierarchy, and the test says so.
fn unmount_hierarchy(dir: &Path, controller: &str) {
    fn remove_empty(dir: &Path) {
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_empty(&entry.path());
                }
            }
        }
        let _ = fs::remove_dir(dir);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with("oxpod") {
                    remove_empty(&entry.path());
                }
            }
        }
        if cgroups_of(controller) == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the {controller} hierarchy at {} still has child cgroups; remove them and unmount it by hand",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::process::Command::new("umount")
        .arg(dir)
        .status()
        .expect("run umount");
    assert!(status.success(), "umount {}", dir.display());
}
