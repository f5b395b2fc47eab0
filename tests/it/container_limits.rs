//! Resource limits on this host's cgroups (v1 controllers, as here, or v2): what the flags
//! write into the container's cgroup, what `inspect` reads back, and an OOM kill as the user
//! sees it.

use std::path::Path;

use crate::container_support::*;

/// Whether this host has the v1 hierarchies the file-level checks read.
fn cgroup_v1() -> bool {
    ["memory", "cpu", "pids"].iter().all(|c| {
        Path::new("/sys/fs/cgroup")
            .join(c)
            .join("cgroup.procs")
            .exists()
    })
}

#[test]
fn memory_cpu_and_pids_limits_reach_the_cgroup_and_inspect() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "limited",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "{img}",
        "sleep",
        "100",
    ]);
    if cgroup_v1() {
        assert_eq!(
            cgroup_file("memory", &id, "memory.limit_in_bytes"),
            "67108864"
        );
        let period: u64 = cgroup_file("cpu", &id, "cpu.cfs_period_us")
            .parse()
            .unwrap();
        let quota: u64 = cgroup_file("cpu", &id, "cpu.cfs_quota_us").parse().unwrap();
        assert_eq!(quota * 2, period, "quota {quota} for period {period}");
        assert_eq!(cgroup_file("pids", &id, "pids.max"), "50");
        // The container's processes are in it.
        let pid = inspect(&fx.env, &id)["State"]["Pid"].as_i64().unwrap();
        let procs = cgroup_file("memory", &id, "cgroup.procs");
        assert!(
            procs.lines().any(|p| p == pid.to_string()),
            "{pid} not in {procs}"
        );
    }

    let info = inspect(&fx.env, "limited");
    let host = &info["HostConfig"];
    assert_eq!(host["Memory"], 67_108_864, "{host}");
    assert_eq!(host["NanoCpus"], 500_000_000u64, "{host}");
    assert_eq!(host["PidsLimit"], 50, "{host}");
    // And what the cgroup holds, read back while it runs.
    let live = &host["CgroupLimits"];
    assert_eq!(live["Memory"], 67_108_864, "{live}");
    assert_eq!(live["PidsLimit"], 50, "{live}");
    assert_eq!(
        live["CpuQuota"].as_u64().unwrap() * 2,
        live["CpuPeriod"].as_u64().unwrap(),
        "{live}"
    );

    fx.env.ok(&["rm", "-f", "limited"]);
    assert_container_gone(&fx.env, &id);
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let fx = setup();
    // 20 background sleeps against a limit of 10: a fork fails and the shell gives up.
    let out = fx.env.run(&fx.args(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "{img}",
        "sh",
        "-c",
        "for i in $(seq 20); do sleep 2 & done; echo all forked",
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(stderr.contains("can't fork"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    // The same loop fits under a higher limit.
    let out = fx.ok(&[
        "run",
        "--rm",
        "--pids-limit",
        "50",
        "{img}",
        "sh",
        "-c",
        "for i in $(seq 20); do sleep 0.1 & done; wait; echo all forked",
    ]);
    assert_eq!(out, "all forked\n");
    assert_root_empty(&fx.env);
}

#[test]
fn an_oom_kill_shows_as_oomkilled_and_137() {
    let fx = setup();
    // `tail` keeps the last lines of input in memory: /dev/zero has no newline, so it keeps
    // everything and meets the limit within a moment.
    let out = fx.env.run(&fx.args(&[
        "run",
        "--name",
        "hungry",
        "--memory",
        "16m",
        "{img}",
        "tail",
        "/dev/zero",
    ]));
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    let info = inspect(&fx.env, "hungry");
    assert_eq!(info["State"]["OOMKilled"], true, "{}", info["State"]);
    assert_eq!(info["State"]["ExitCode"], 137);
    assert_eq!(info["State"]["Status"], "exited");
    assert_eq!(info["HostConfig"]["Memory"], 16 * 1024 * 1024);
    let id = info["Id"].as_str().unwrap().to_owned();
    // The cgroup went with the container.
    assert_eq!(cgroup_dirs(&id), Vec::<std::path::PathBuf>::new());

    // The next run of the same container starts with a clean record.
    let out = fx.env.run(&["start", "-a", "hungry"]);
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    assert_eq!(inspect(&fx.env, "hungry")["State"]["OOMKilled"], true);

    // Under the limit, nothing is killed and OOMKilled stays false.
    let out = fx.ok(&[
        "run",
        "--name",
        "modest",
        "--memory",
        "16m",
        "{img}",
        "sh",
        "-c",
        "head -c 1000000 /dev/zero | wc -c",
    ]);
    assert_eq!(out.trim(), "1000000");
    assert_eq!(inspect(&fx.env, "modest")["State"]["OOMKilled"], false);
}

#[test]
fn a_container_cannot_raise_its_own_limits() {
    let fx = setup();
    // Each cgroup hierarchy the container sees is read-only; a privileged one may write.
    // Writing a file's own value back changes nothing but shows whether it is writable.
    let script = "for f in pids/pids.max cpu/cpu.shares memory/memory.limit_in_bytes; do \
                  p=/sys/fs/cgroup/$f; if [ -e $p ]; then v=$(cat $p); \
                  echo $v 2>/dev/null > $p && echo \"$f writable\"; fi; done; \
                  cat /sys/fs/cgroup/pids/pids.max 2>/dev/null; true";
    let out = fx.ok(&[
        "run",
        "--rm",
        "--pids-limit",
        "50",
        "{img}",
        "sh",
        "-c",
        script,
    ]);
    assert!(!out.contains("writable"), "{out}");
    if cgroup_v1() {
        assert_eq!(out.trim(), "50");
    }
    let out = fx.ok(&["run", "--rm", "--privileged", "{img}", "sh", "-c", script]);
    if cgroup_v1() {
        assert!(out.contains("pids/pids.max writable"), "{out}");
    }
    assert_root_empty(&fx.env);
}
