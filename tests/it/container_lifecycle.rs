//! Detached containers through their life: `run -d`, `ps`, `logs` (and the CRI log file under
//! it), `wait`, `inspect`, `stop` with its timeout, `kill`, `restart`, `start -a`, and the
//! restart policies the monitor applies.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::container_support::*;
use crate::support::strings;

fn time_of(v: &Value) -> DateTime<Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// `inspect --format TEMPLATE NAME`, trimmed.
fn field(fx: &Fixture, name: &str, template: &str) -> String {
    fx.env
        .ok(&["inspect", "--format", template, name])
        .trim()
        .to_owned()
}

/// The records of a CRI log: (timestamp, stream, tag, content).
fn cri_records(log: &str) -> Vec<(String, String, String, String)> {
    log.lines()
        .map(|l| {
            assert!(is_cri_line(l), "not a CRI log line: {l:?}");
            let mut p = l.splitn(4, ' ');
            let mut next = || p.next().unwrap().to_owned();
            (next(), next(), next(), next())
        })
        .collect()
}

#[test]
fn run_detached_prints_the_id_and_ps_shows_it_up() {
    let fx = setup();
    let id = fx.run_detached(&["run", "-d", "--name", "bg", "{img}", "sleep", "100"]);
    let row = ps_entry(&fx.env, "bg").expect("bg is listed");
    assert_eq!(row["Id"], id.as_str());
    assert_eq!(row["State"], "running");
    assert!(row["Status"].as_str().unwrap().starts_with("Up "), "{row}");
    // The table, as a user reads it.
    let table = fx.env.ok(&["ps"]);
    let line = table
        .lines()
        .find(|l| l.ends_with(" bg"))
        .unwrap_or_else(|| panic!("no bg row:\n{table}"));
    assert!(line.starts_with(&id[..12]), "{line}");
    assert!(line.contains("  Up "), "{line}");
    assert!(line.contains("sleep 100"), "{line}");

    fx.env.ok(&["stop", "-t", "0", "bg"]);
    assert_eq!(
        fx.env.ok(&["ps", "-q"]),
        "",
        "ps without -a lists a stopped one"
    );
    let row = ps_entry(&fx.env, "bg").expect("ps -a lists it");
    assert_eq!(row["State"], "exited");
    assert!(
        row["Status"].as_str().unwrap().starts_with("Exited (137) "),
        "{row}"
    );
}

#[test]
fn logs_split_streams_and_the_log_file_is_cri() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "{img}",
        "sh",
        "-c",
        "echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf no-newline",
    ]);
    assert_eq!(fx.env.ok(&["wait", &id]), "0\n");
    let out = fx.env.run(&["logs", &id]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "out1\nout2\nno-newline"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err1\nerr2\n");

    let log = log_file(&fx.env, &id);
    let records = cri_records(&log);
    let find = |stream: &str, content: &str| {
        records
            .iter()
            .find(|r| r.1 == stream && r.3 == content)
            .unwrap_or_else(|| panic!("no {stream} record {content:?} in:\n{log}"))
            .2
            .clone()
    };
    assert_eq!(find("stdout", "out1"), "F");
    assert_eq!(find("stderr", "err2"), "F");
    // A last line without a newline is a partial record.
    assert_eq!(find("stdout", "no-newline"), "P");
    let times: Vec<&String> = records.iter().map(|r| &r.0).collect();
    assert!(times.is_sorted(), "timestamps go backwards:\n{log}");
}

#[test]
fn logs_tail_since_until_and_timestamps() {
    let fx = setup();
    // Pauses between lines give each its own timestamp.
    let id = fx.run_detached(&[
        "run",
        "-d",
        "{img}",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; sleep 0.02; done",
    ]);
    fx.env.ok(&["wait", &id]);
    let records = cri_records(&log_file(&fx.env, &id));
    let contents: Vec<&str> = records.iter().map(|r| r.3.as_str()).collect();
    assert_eq!(contents, ["line1", "line2", "line3", "line4", "line5"]);

    assert_eq!(fx.env.ok(&["logs", "--tail", "2", &id]), "line4\nline5\n");
    assert_eq!(fx.env.ok(&["logs", "--tail", "0", &id]), "");
    assert_eq!(
        fx.env.ok(&["logs", "--tail", "all", &id]).lines().count(),
        5
    );

    // -t prefixes each line with its record's timestamp.
    let stamped = fx.env.ok(&["logs", "-t", &id]);
    let want: String = records
        .iter()
        .map(|(ts, _, _, content)| format!("{ts} {content}\n"))
        .collect();
    assert_eq!(stamped, want);

    // --since/--until: strictly after / before the given time, as Podman.
    let pivot = &records[2].0;
    let after: String = records
        .iter()
        .filter(|r| &r.0 > pivot)
        .map(|r| format!("{}\n", r.3))
        .collect();
    let before: String = records
        .iter()
        .filter(|r| &r.0 < pivot)
        .map(|r| format!("{}\n", r.3))
        .collect();
    assert_eq!(fx.env.ok(&["logs", "--since", pivot, &id]), after);
    assert_eq!(fx.env.ok(&["logs", "--until", pivot, &id]), before);
    assert!(
        after.contains("line5") && before.contains("line1"),
        "{after}|{before}"
    );
    assert_eq!(
        fx.env.ok(&["logs", "--since", "10m", &id]).lines().count(),
        5
    );
    assert_eq!(fx.env.ok(&["logs", "--until", "10m", &id]), "");
}

#[test]
fn logs_follow_ends_when_the_container_exits() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "{img}",
        "sh",
        "-c",
        "echo first; sleep 1; echo second >&2; echo third",
    ]);
    let start = Instant::now();
    let out = fx.env.run(&["logs", "-f", &id]);
    let took = start.elapsed();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\nthird\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "second\n");
    assert!(took < Duration::from_secs(10), "logs -f took {took:?}");
    // On an exited container it prints and returns.
    assert_eq!(fx.env.ok(&["logs", "-f", &id]), "first\nthird\n");
}

#[test]
fn wait_prints_the_exit_code_and_inspect_tells_the_story() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "five",
        "{img}",
        "sh",
        "-c",
        "read x; exit 5",
    ]);
    // `read` from /dev/null returns at once: the container may already be gone. Inspect a
    // second one that stays up to see the running state.
    let running = fx.run_detached(&["run", "-d", "{img}", "sleep", "100"]);
    let info = inspect(&fx.env, &running);
    let state = &info["State"];
    assert_eq!(state["Status"], "running", "{state}");
    assert_eq!(state["Running"], true);
    let pid = state["Pid"].as_i64().unwrap();
    assert!(pid > 0 && process_alive(pid), "State.Pid {pid}");
    let monitor = state["ConmonPid"].as_i64().unwrap();
    assert!(
        monitor > 0 && process_alive(monitor),
        "State.ConmonPid {monitor}"
    );
    assert!(time_of(&state["StartedAt"]) <= Utc::now());
    assert_eq!(info["Id"], running.as_str());

    assert_eq!(fx.env.ok(&["wait", "five"]), "5\n");
    let info = inspect(&fx.env, &id);
    let state = &info["State"];
    assert_eq!(state["Status"], "exited", "{state}");
    assert_eq!(state["Running"], false);
    assert_eq!(state["ExitCode"], 5);
    assert_eq!(state["Pid"], 0);
    assert_eq!(state["OOMKilled"], false);
    let (started, finished) = (time_of(&state["StartedAt"]), time_of(&state["FinishedAt"]));
    assert!(started <= finished, "{started} > {finished}");
    assert!(finished <= Utc::now());
    assert_eq!(
        strings(&info["Config"]["Cmd"]),
        ["sh", "-c", "read x; exit 5"]
    );
    assert_eq!(info["Path"], "sh");
    assert_eq!(info["Name"], "five");
    assert_eq!(info["HostConfig"]["RestartPolicy"]["Name"], "no");
    assert_eq!(info["RestartCount"], 0);
    assert_eq!(info["ImageName"], fx.image.as_str());
    // Several at once, each on its own line; a second wait answers at once.
    assert_eq!(fx.env.ok(&["wait", "five", &id]), "5\n5\n");
    let (code, stderr) = fx.env.fails(&["wait", "nosuch"]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("nosuch"), "{stderr}");

    // `inspect` also knows images (as Podman); `container inspect` only containers.
    let image = fx.env.ok(&["inspect", "--format", "{{.Id}}", &fx.image]);
    assert_eq!(image.trim(), fx.busybox.image_id());
    let (code, stderr) = fx.env.fails(&["container", "inspect", &fx.image]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains(&fx.image), "{stderr}");
    // Several names: what is found is printed, what is not is an error.
    let out = fx.env.run(&["inspect", "five", "nosuch"]);
    assert_eq!(out.status.code(), Some(125));
    let found = crate::support::json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
}

#[test]
fn stop_kills_after_the_timeout_when_sigterm_is_ignored() {
    let fx = setup();
    // PID 1 without a handler ignores SIGTERM.
    fx.run_detached(&["run", "-d", "--name", "stubborn", "{img}", "sleep", "100"]);
    let start = Instant::now();
    let out = fx.env.run(&["stop", "-t", "1", "stubborn"]);
    let took = start.elapsed();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "stubborn\n");
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(6),
        "stop -t 1 took {took:?}"
    );
    assert_eq!(field(&fx, "stubborn", "{{.State.ExitCode}}"), "137");
    assert_eq!(field(&fx, "stubborn", "{{.State.Status}}"), "exited");

    // --stop-timeout is the default for stop.
    fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "short",
        "--stop-timeout",
        "1",
        "{img}",
        "sleep",
        "100",
    ]);
    assert_eq!(field(&fx, "short", "{{.Config.StopTimeout}}"), "1");
    let start = Instant::now();
    fx.env.ok(&["stop", "short"]);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(6),
        "stop with --stop-timeout 1 took {took:?}"
    );
    assert_eq!(field(&fx, "short", "{{.State.ExitCode}}"), "137");
    // Stopping a stopped container is fine and quick.
    fx.env.ok(&["stop", "short"]);
}

#[test]
fn stop_with_a_trap_exits_quickly_and_stop_signal_is_used() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "polite",
        "{img}",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    wait_for_log(&fx.env, &id, "ready");
    let start = Instant::now();
    fx.env.ok(&["stop", "polite"]);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    assert_eq!(field(&fx, "polite", "{{.State.ExitCode}}"), "0");
    assert_eq!(fx.env.ok(&["logs", "polite"]), "ready\nbye\n");

    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "--stop-signal",
        "USR1",
        "{img}",
        "sh",
        "-c",
        "trap 'exit 7' USR1; echo ready; while :; do sleep 0.05; done",
    ]);
    assert_eq!(field(&fx, "usr1", "{{.Config.StopSignal}}"), "SIGUSR1");
    wait_for_log(&fx.env, &id, "ready");
    let start = Instant::now();
    fx.env.ok(&["stop", "usr1"]);
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(fx.env.ok(&["wait", "usr1"]), "7\n");
}

#[test]
fn kill_delivers_signals() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "trapper",
        "{img}",
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 9' USR1; echo ready; while :; do sleep 0.05; done",
    ]);
    wait_for_log(&fx.env, &id, "ready");
    assert_eq!(fx.env.ok(&["kill", "-s", "USR1", "trapper"]), "trapper\n");
    assert_eq!(fx.env.ok(&["wait", "trapper"]), "9\n");
    assert_eq!(fx.env.ok(&["logs", "trapper"]), "ready\ngot-usr1\n");

    // The default is SIGKILL; numbers work too.
    fx.run_detached(&["run", "-d", "--name", "k", "{img}", "sleep", "100"]);
    fx.env.ok(&["kill", "k"]);
    assert_eq!(fx.env.ok(&["wait", "k"]), "137\n");
    fx.run_detached(&["run", "-d", "--name", "k15", "{img}", "sleep", "100"]);
    // sleep as PID 1 ignores TERM, so 15 must not end it; 9 must.
    fx.env.ok(&["kill", "-s", "15", "k15"]);
    fx.env.ok(&["kill", "-s", "9", "k15"]);
    assert_eq!(fx.env.ok(&["wait", "k15"]), "137\n");
    // Killing a stopped container is an error naming it.
    let (code, stderr) = fx.env.fails(&["kill", "k15"]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("k15"), "{stderr}");
}

#[test]
fn restart_runs_it_again_and_start_attach_streams() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "again",
        "{img}",
        "sh",
        "-c",
        "echo started; exec sleep 100",
    ]);
    wait_for_log(&fx.env, &id, "started");
    let first_pid = field(&fx, "again", "{{.State.Pid}}");
    assert_eq!(
        fx.env.ok(&["restart", "-t", "0", "again"]),
        format!("{id}\n")
    );
    assert_eq!(field(&fx, "again", "{{.State.Status}}"), "running");
    let second_pid = field(&fx, "again", "{{.State.Pid}}");
    assert_ne!(first_pid, second_pid);
    assert!(process_alive(second_pid.parse().unwrap()));
    poll_until("the second run's output", Duration::from_secs(20), || {
        log_file(&fx.env, &id).matches("started").count() == 2
    });
    // Restarting an exited container starts it.
    fx.env.ok(&["stop", "-t", "0", "again"]);
    fx.env.ok(&["restart", "again"]);
    assert_eq!(field(&fx, "again", "{{.State.Status}}"), "running");

    fx.ok(&[
        "create",
        "--name",
        "attached",
        "{img}",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 4",
    ]);
    assert_eq!(field(&fx, "attached", "{{.State.Status}}"), "created");
    for _ in 0..2 {
        let out = fx.env.run(&["start", "-a", "attached"]);
        assert_eq!(out.status.code(), Some(4), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    }
    assert_eq!(field(&fx, "attached", "{{.State.ExitCode}}"), "4");
    // Plain start is detached and prints the name it was given.
    assert_eq!(fx.env.ok(&["start", "attached"]), "attached\n");
    assert_eq!(fx.env.ok(&["wait", "attached"]), "4\n");
}

#[test]
fn restart_on_failure_stops_after_the_maximum() {
    let fx = setup();
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "{img}",
        "sh",
        "-c",
        "echo run; exit 4",
    ]);
    // wait returns once no restart is left.
    assert_eq!(fx.env.ok(&["wait", "flaky"]), "4\n");
    let info = inspect(&fx.env, "flaky");
    assert_eq!(info["RestartCount"], 2, "{info}");
    assert_eq!(info["State"]["Status"], "exited");
    assert_eq!(info["State"]["ExitCode"], 4);
    assert_eq!(info["State"]["ConmonPid"], 0, "the monitor is still there");
    assert_eq!(
        info["HostConfig"]["RestartPolicy"],
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2})
    );
    assert_eq!(log_file(&fx.env, &id).matches(" F run").count(), 3);
    assert_eq!(mounts_under(fx.env.dir()), Vec::<String>::new());

    // A success is not a failure: no restart.
    fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "{img}",
        "true",
    ]);
    assert_eq!(fx.env.ok(&["wait", "fine"]), "0\n");
    assert_eq!(field(&fx, "fine", "{{.RestartCount}}"), "0");
}

#[test]
fn restart_always_and_unless_stopped_run_until_stopped() {
    let fx = setup();
    for policy in ["always", "unless-stopped"] {
        let name = format!("loop-{policy}");
        let id = fx.run_detached(&[
            "run",
            "-d",
            "--name",
            &name,
            "--restart",
            policy,
            "{img}",
            "sh",
            "-c",
            "echo run; sleep 0.05",
        ]);
        // Exits with 0, and runs again anyway.
        poll_until(
            &format!("{name} to restart twice"),
            Duration::from_secs(20),
            || log_file(&fx.env, &id).matches(" F run").count() >= 3,
        );
        assert_eq!(
            field(&fx, &name, "{{.HostConfig.RestartPolicy.Name}}"),
            policy
        );
        let start = Instant::now();
        fx.env.ok(&["stop", "-t", "1", &name]);
        assert!(start.elapsed() < Duration::from_secs(5));
        let info = inspect(&fx.env, &name);
        assert_eq!(info["State"]["Status"], "exited", "{info}");
        assert_eq!(info["State"]["ConmonPid"], 0, "the monitor is still there");
        assert!(info["RestartCount"].as_u64().unwrap() >= 2, "{info}");
        let runs = log_file(&fx.env, &id).matches(" F run").count();
        // Nothing runs it again after stop: the monitor is gone, and wait answers at once.
        let code = fx.env.ok(&["wait", &name]);
        assert!(code.trim().parse::<i32>().is_ok(), "wait printed {code:?}");
        assert_eq!(log_file(&fx.env, &id).matches(" F run").count(), runs);
        assert_eq!(fx.env.ok(&["ps", "-q"]), "");
    }
}

#[test]
fn stop_and_rm_during_a_restart_back_off() {
    let fx = setup();
    // Fails at once, so the monitor spends most of its time waiting to restart it.
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--name",
        "crashy",
        "--restart",
        "always",
        "{img}",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    poll_until("a few restarts", Duration::from_secs(20), || {
        log_file(&fx.env, &id).matches(" F run").count() >= 4
    });
    // Between two runs, inspect says it is restarting.
    poll_until("a back-off", Duration::from_secs(20), || {
        inspect(&fx.env, "crashy")["State"]["Restarting"] == true
    });
    // A container waiting to be restarted is not removable without -f, nor startable twice.
    let (code, stderr) = fx.env.fails(&["rm", "crashy"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("crashy"), "{stderr}");
    // start in the middle of a back-off starts it now, under a new monitor.
    let old_monitor = inspect(&fx.env, "crashy")["State"]["ConmonPid"]
        .as_i64()
        .unwrap();
    assert!(process_alive(old_monitor));
    fx.env.ok(&["start", "crashy"]);
    assert!(
        !process_alive(old_monitor),
        "two monitors for one container"
    );
    let new_monitor = inspect(&fx.env, "crashy")["State"]["ConmonPid"]
        .as_i64()
        .unwrap();
    assert!(new_monitor != old_monitor && process_alive(new_monitor));
    let start = Instant::now();
    fx.env.ok(&["stop", "crashy"]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        start.elapsed()
    );
    let info = inspect(&fx.env, "crashy");
    assert_eq!(info["State"]["ConmonPid"], 0, "the monitor is still there");
    assert_eq!(info["State"]["Status"], "exited");
    assert_eq!(mounts_under(fx.env.dir()), Vec::<String>::new());

    // start brings the policy back; rm -f in the middle of a back-off ends it for good.
    fx.env.ok(&["start", "crashy"]);
    poll_until("restarts after start", Duration::from_secs(20), || {
        field(&fx, "crashy", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap()
            > info["RestartCount"].as_u64().unwrap() as u32
    });
    fx.env.ok(&["rm", "-f", "crashy"]);
    assert_container_gone(&fx.env, &id);
    assert_root_empty(&fx.env);
}

#[test]
fn ps_formats_filters_and_sizes() {
    let fx = setup();
    let up = fx.run_detached(&[
        "run", "-d", "--name", "up", "--label", "k=v", "{img}", "sleep", "100",
    ]);
    let out = fx.env.run(&fx.args(&[
        "run",
        "--name",
        "writer",
        "{img}",
        "sh",
        "-c",
        "head -c 300000 /dev/zero > /blob; exit 3",
    ]));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    fx.ok(&["create", "--name", "fresh", "{img}", "true"]);

    let all = ps_all(&fx.env);
    assert_eq!(all.len(), 3, "{all:?}");
    let by_name = |n: &str| {
        all.iter()
            .find(|c| c["Names"][0] == n)
            .unwrap_or_else(|| panic!("no {n} in {all:?}"))
    };
    let c = by_name("up");
    assert_eq!(c["Id"], up.as_str());
    assert_eq!(c["State"], "running");
    assert_eq!(c["Image"], fx.image.as_str());
    assert_eq!(c["ImageID"], fx.busybox.image_id());
    assert_eq!(strings(&c["Command"]), ["sleep", "100"]);
    assert_eq!(c["Labels"]["k"], "v");
    assert!(c["Pid"].as_i64().unwrap() > 0);
    let c = by_name("writer");
    assert_eq!(c["State"], "exited");
    assert_eq!(c["Exited"], true);
    assert_eq!(c["ExitCode"], 3);
    assert_eq!(by_name("fresh")["State"], "created");

    // -q: short IDs of running ones; with -a all of them.
    assert_eq!(fx.env.ok(&["ps", "-q"]), format!("{}\n", &up[..12]));
    let ids = fx.env.ok(&["ps", "-a", "-q"]);
    assert_eq!(ids.lines().count(), 3);
    assert!(ids.lines().all(|l| l.len() == 12), "{ids}");
    let ids = fx.env.ok(&["ps", "-a", "-q", "--no-trunc"]);
    assert!(ids.lines().all(is_full_id), "{ids}");

    let names = |args: &[&str]| {
        let mut full = vec!["ps", "--format", "{{.Names}}"];
        full.extend_from_slice(args);
        let mut v: Vec<String> = fx.env.ok(&full).lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(names(&["--filter", "status=exited"]), ["writer"]);
    assert_eq!(names(&["--filter", "status=created"]), ["fresh"]);
    assert_eq!(names(&["--filter", "exited=3"]), ["writer"]);
    assert_eq!(names(&["-a", "--filter", "name=wri"]), ["writer"]);
    assert_eq!(
        names(&["-a", "--filter", &format!("id={}", &up[..8])]),
        ["up"]
    );
    let (code, stderr) = fx.env.fails(&["ps", "--filter", "colour=blue"]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");

    // --size: the writable layer of each.
    let sized = match crate::support::json(&fx.env.ok(&["ps", "-a", "--size", "--format", "json"]))
    {
        Value::Array(v) => v,
        other => panic!("{other}"),
    };
    let size_of = |n: &str| {
        sized.iter().find(|c| c["Names"][0] == n).unwrap()["Size"]["rwSize"]
            .as_u64()
            .unwrap_or_else(|| panic!("no Size.rwSize for {n}: {sized:?}"))
    };
    assert!(size_of("writer") >= 300_000, "{}", size_of("writer"));
    assert!(size_of("fresh") < 10_000, "{}", size_of("fresh"));
    let table = fx.env.ok(&["ps", "-a", "--size"]);
    assert!(table.lines().next().unwrap().contains("SIZE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains(" writer ") && (l.contains("kB") || l.contains("KB"))),
        "{table}"
    );
}

#[test]
fn prune_removes_stopped_containers_only() {
    let fx = setup();
    let up = fx.run_detached(&["run", "-d", "--name", "up", "{img}", "sleep", "100"]);
    let done = fx.run_detached(&["run", "-d", "--name", "done", "{img}", "true"]);
    fx.env.ok(&["wait", "done"]);
    let created = fx.ok(&["create", "--name", "new", "{img}", "true"]);
    let mut pruned: Vec<String> = fx
        .env
        .ok(&["container", "prune", "-f"])
        .lines()
        .map(str::to_owned)
        .collect();
    pruned.sort();
    let mut want = vec![done.clone(), created.trim().to_owned()];
    want.sort();
    assert_eq!(pruned, want);
    assert_container_gone(&fx.env, &done);
    let all = ps_all(&fx.env);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["Id"], up.as_str());
    assert_eq!(fx.env.ok(&["container", "prune", "-f"]), "");
}
