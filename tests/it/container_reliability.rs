//! What must hold when things go wrong around a container: its monitor killed with SIGKILL,
//! the CLI killed in the middle of `run`, many `run`s at once, `rm -f` of a running one.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::container_support::*;

fn sigkill(pid: i64) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap_or_else(|e| panic!("kill {pid}: {e}"));
}

/// The rootfs mount of a container, if mounted.
fn rootfs_mounted(fx: &Fixture, id: &str) -> bool {
    let merged = container_dir(&fx.env, id).join("merged");
    mounts_under(&merged)
        .iter()
        .any(|m| m == merged.to_str().unwrap())
}

#[test]
fn a_monitor_killed_with_sigkill_is_noticed_by_the_next_command() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run", "-d", "--name", "orphan", "--memory", "32m", "{img}", "sleep", "100",
    ]);
    let state = inspect(&fx.env, &id)["State"].clone();
    let (monitor, pid) = (
        state["ConmonPid"].as_i64().unwrap(),
        state["Pid"].as_i64().unwrap(),
    );
    assert!(process_alive(monitor) && process_alive(pid), "{state}");
    assert!(rootfs_mounted(&fx, &id));
    sigkill(monitor);
    poll_until("the monitor to die", Duration::from_secs(10), || {
        !process_alive(monitor)
    });

    // The very next command sees it exited, and has cleaned up after it.
    let row = ps_entry(&fx.env, "orphan").expect("still listed");
    assert_eq!(row["State"], "exited", "{row}");
    assert_eq!(row["ExitCode"], 137, "{row}");
    assert!(!rootfs_mounted(&fx, &id), "the rootfs is still mounted");
    poll_until(
        "the container's init to die",
        Duration::from_secs(10),
        || !process_alive(pid),
    );
    assert_eq!(cgroup_dirs(&id), Vec::<std::path::PathBuf>::new());
    let state = inspect(&fx.env, &id)["State"].clone();
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ConmonPid"], 0);
    assert_eq!(state["Pid"], 0);

    // It can run again, and goes away completely.
    fx.env.ok(&["start", "orphan"]);
    assert_eq!(
        inspect(&fx.env, &id)["State"]["Status"],
        "running",
        "restart after recovery"
    );
    fx.env.ok(&["rm", "-f", "orphan"]);
    assert_container_gone(&fx.env, &id);
    assert_root_empty(&fx.env);
}

#[test]
fn a_monitor_killed_during_a_restart_back_off_is_noticed() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "crashloop",
        "--restart",
        "always",
        "{img}",
        "sh",
        "-c",
        "exit 1",
    ]);
    let monitor = inspect(&fx.env, &id)["State"]["ConmonPid"]
        .as_i64()
        .unwrap();
    // After a few restarts the back-off is long enough to be caught in it.
    poll_until("a few restarts", Duration::from_secs(20), || {
        inspect(&fx.env, &id)["RestartCount"].as_u64().unwrap() >= 3
    });
    sigkill(monitor);
    poll_until("the monitor to die", Duration::from_secs(10), || {
        !process_alive(monitor)
    });
    let row = ps_entry(&fx.env, "crashloop").expect("still listed");
    assert_eq!(row["State"], "exited", "{row}");
    assert!(!rootfs_mounted(&fx, &id), "the rootfs is still mounted");
    assert_eq!(inspect(&fx.env, &id)["State"]["ConmonPid"], 0);
    assert_eq!(cgroup_dirs(&id), Vec::<std::path::PathBuf>::new());
    // A container whose monitor is gone is an ordinary stopped one: rm without -f works.
    fx.env.ok(&["rm", "crashloop"]);
    assert_root_empty(&fx.env);
}

/// A small deterministic sequence of delays (no rand crate): 0..=150 ms.
fn delays(n: usize) -> Vec<Duration> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(x % 151)
        })
        .collect()
}

#[test]
fn a_cli_killed_mid_run_leaves_nothing_rm_and_prune_cannot_clean() {
    let fx = setup();
    let verbs: [&[&str]; 3] = [
        &["run", "--memory", "32m"],
        &["run", "-d", "-v", "/anon"],
        &["create"],
    ];
    for (i, delay) in delays(18).into_iter().enumerate() {
        let mut args: Vec<&str> = verbs[i % verbs.len()].to_vec();
        args.extend_from_slice(&[&fx.image, "sleep", "100"]);
        let mut child = fx
            .env
            .cmd(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn oxpod");
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().expect("reap oxpod");
    }

    // Every command still works on what is left...
    let listed = fx.env.ok(&["ps", "-a", "-q", "--no-trunc"]);
    let mut ids: BTreeSet<String> = listed.lines().map(str::to_owned).collect();
    ids.extend(container_dirs(&fx.env));
    for id in &ids {
        fx.env.ok(&["inspect", id]);
    }
    // ...and rm -f plus prune leave nothing at all.
    fx.env.ok(&["rm", "-f", "-a", "-v"]);
    fx.env.ok(&["container", "prune", "-f"]);
    for id in &ids {
        assert_container_gone(&fx.env, id);
    }
    assert_root_empty(&fx.env);
    let volumes = fx.env.root().join("volumes");
    let left: Vec<_> = std::fs::read_dir(&volumes)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "anonymous volumes left: {left:?}");
}

#[test]
fn twenty_concurrent_runs_all_succeed() {
    const N: usize = 20;
    let fx = setup();
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..N {
            let (fx, results) = (&fx, &results);
            s.spawn(move || {
                let out = fx.env.run(&["run", "-d", &fx.image, "sleep", "100"]);
                results.lock().unwrap().push(out);
            });
        }
    });
    let mut ids = BTreeSet::new();
    for out in results.into_inner().unwrap() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "run -d failed: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(is_full_id(stdout.trim()), "{stdout:?}");
        ids.insert(stdout.trim().to_owned());
    }
    assert_eq!(ids.len(), N, "IDs are not distinct");

    let all = ps_all(&fx.env);
    assert_eq!(all.len(), N);
    let names: BTreeSet<&str> = all
        .iter()
        .map(|c| c["Names"][0].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), N, "names are not distinct: {names:?}");
    for c in &all {
        assert_eq!(c["State"], "running", "{c}");
        assert!(c["Status"].as_str().unwrap().starts_with("Up "), "{c}");
        assert!(ids.contains(c["Id"].as_str().unwrap()));
    }

    let start = Instant::now();
    fx.env.ok(&["rm", "-f", "-a"]);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    for id in &ids {
        assert_container_gone(&fx.env, id);
    }
    assert_root_empty(&fx.env);
}

#[test]
fn concurrent_creates_draw_distinct_names() {
    // 40 generated names out of a few hundred collide often: the loser must draw again.
    const N: usize = 40;
    let fx = setup();
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..N {
            let (fx, failures) = (&fx, &failures);
            s.spawn(move || {
                let out = fx.env.run(&["create", &fx.image, "true"]);
                if !out.status.success() {
                    failures
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&out.stderr).into_owned());
                }
            });
        }
    });
    assert_eq!(failures.into_inner().unwrap(), Vec::<String>::new());
    let names: BTreeSet<String> = ps_all(&fx.env)
        .iter()
        .map(|c| c["Names"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), N, "{names:?}");
    // prune removes what never ran.
    assert_eq!(fx.env.ok(&["container", "prune", "-f"]).lines().count(), N);
    assert_root_empty(&fx.env);
}

#[test]
fn rm_force_of_a_running_container_removes_everything_it_made() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "doomed",
        "--memory",
        "32m",
        "--pids-limit",
        "20",
        "-v",
        "/anon",
        "-v",
        "named:/named",
        "--tmpfs",
        "/tmp",
        "{img}",
        "sleep",
        "100",
    ]);
    let info = inspect(&fx.env, &id);
    let pid = info["State"]["Pid"].as_i64().unwrap();
    let monitor = info["State"]["ConmonPid"].as_i64().unwrap();
    let anon = info["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/anon")
        .expect("anonymous volume")["Name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(rootfs_mounted(&fx, &id));
    assert!(!cgroup_dirs(&id).is_empty(), "no cgroup to test with");

    // Without -f it refuses, saying why, and changes nothing.
    let (code, stderr) = fx.env.fails(&["rm", "doomed"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("doomed"), "{stderr}");
    assert!(process_alive(pid));

    // sleep ignores SIGTERM as PID 1: rm -f must not wait out a grace period.
    let start = Instant::now();
    assert_eq!(fx.env.ok(&["rm", "-f", "-v", "doomed"]), format!("{id}\n"));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(!process_alive(monitor), "the monitor survived");
    poll_until(
        "the container's init to die",
        Duration::from_secs(10),
        || !process_alive(pid),
    );
    assert_container_gone(&fx.env, &id);
    let volumes = fx.env.root().join("volumes");
    assert!(
        !volumes.join(&anon).exists(),
        "the anonymous volume is left"
    );
    assert!(
        volumes.join("named/_data").is_dir(),
        "the named volume went too"
    );
    assert_root_empty(&fx.env);
    // A second rm says it is gone.
    let (code, stderr) = fx.env.fails(&["rm", "doomed"]);
    assert_eq!(code, 1, "{stderr}");
    fx.env.ok(&["rm", "--ignore", "doomed"]);
}
