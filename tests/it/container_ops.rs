//! `exec`, `top`, `pause`/`unpause`, `rename`, `cp`, `stats` and `port`, on busybox.

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::images::{self, TestImage};
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::{assert_clean_error, fails_cleanly, json, lines};

fn setup() -> (Registry, Oxpod, TestImage) {
    let reg = Registry::start();
    let img = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &img.reference()]);
    (reg, env, img)
}

/// `run -d --name NAME IMAGE ARGS...`; returns the full ID.
fn run_detached(env: &Oxpod, name: &str, image: &TestImage, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    let reference = image.reference();
    let (flags, command): (Vec<&str>, Vec<&str>) = match extra.iter().position(|a| *a == "--") {
        Some(i) => (extra[..i].to_vec(), extra[i + 1..].to_vec()),
        None => (Vec::new(), extra.to_vec()),
    };
    args.extend(flags);
    args.push(&reference);
    args.extend(command);
    env.ok(&args).trim().to_string()
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn inspect(env: &Oxpod, name: &str) -> Value {
    let all = json(&env.ok(&["inspect", name]));
    all[0].clone()
}

fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn freezer_state(id: &str) -> Option<String> {
    fs::read_to_string(format!("/sys/fs/cgroup/freezer/oxpod/{id}/freezer.state"))
        .ok()
        .map(|s| s.trim().to_string())
}

// ---------------------------------------------------------------------------------------------
// exec

#[test]
fn exec_runs_in_the_container_with_its_output_and_exit_code() {
    let (_reg, env, bb) = setup();
    let id = run_detached(
        &env,
        "web",
        &bb,
        &["-e", "FROM_RUN=1", "-w", "/tmp", "--", "sleep", "1000"],
    );

    assert_eq!(
        env.ok(&["exec", "web", "echo", "hello", "world"]),
        "hello world\n"
    );
    // Arguments after the command are its own, dashes included.
    assert_eq!(env.ok(&["exec", "web", "ls", "-d", "/etc"]), "/etc\n");

    let out = env.run(&["exec", "web", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(stdout_of(&out), "out\n");
    assert_eq!(stderr_of(&out), "err\n");

    // A process killed by a signal: 128 + the signal, as a shell reports it.
    let out = env.run(&["exec", "web", "sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(137), "{out:?}");

    // The same PID namespace, hostname and root as the container's init.
    assert_eq!(
        env.ok(&["exec", "web", "cat", "/proc/1/cmdline"]),
        "sleep\u{0}1000\u{0}"
    );
    assert_eq!(env.ok(&["exec", "web", "hostname"]).trim(), &id[..12]);

    // The container's capabilities and seccomp filter apply to the new process too.
    let status_of = |pid: &str| {
        let text = env.ok(&["exec", "web", "cat", &format!("/proc/{pid}/status")]);
        text.lines()
            .filter(|l| {
                [
                    "CapEff:",
                    "CapPrm:",
                    "CapBnd:",
                    "CapInh:",
                    "CapAmb:",
                    "Seccomp:",
                    "NoNewPrivs:",
                ]
                .iter()
                .any(|k| l.starts_with(k))
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let init = status_of("1");
    let mine = status_of("self");
    assert_eq!(init, mine);
    assert!(
        mine.iter()
            .any(|l| l.starts_with("Seccomp:") && l.ends_with('2')),
        "the seccomp filter is loaded: {mine:?}"
    );
    assert!(
        !mine.iter().any(|l| l == "CapEff:\t000001ffffffffff"),
        "not every capability: {mine:?}"
    );
}

/// The status lines that say what a process may do.
fn privileges(env: &Oxpod, container: &str, exec_args: &[&str], pid: &str) -> Vec<String> {
    let path = format!("/proc/{pid}/status");
    let mut args = vec!["exec"];
    args.extend_from_slice(exec_args);
    args.extend([container, "cat", path.as_str()]);
    env.ok(&args)
        .lines()
        .filter(|l| {
            [
                "Uid:",
                "CapEff:",
                "CapPrm:",
                "CapBnd:",
                "CapInh:",
                "CapAmb:",
                "Seccomp:",
                "NoNewPrivs:",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn exec_keeps_the_privileges_of_every_kind_of_container() {
    let (_reg, env, bb) = setup();
    for (name, flags) in [
        ("nnp", &["--security-opt", "no-new-privileges"][..]),
        ("nocaps", &["--cap-drop", "ALL"][..]),
        ("admin", &["--cap-add", "SYS_ADMIN"][..]),
        ("unconfined", &["--security-opt", "seccomp=unconfined"][..]),
        ("user", &["-u", "65534"][..]),
        ("privileged", &["--privileged"][..]),
    ] {
        let mut extra = flags.to_vec();
        extra.extend(["--", "sleep", "1000"]);
        run_detached(&env, name, &bb, &extra);
        let init = privileges(&env, name, &[], "1");
        let mine = privileges(&env, name, &[], "self");
        assert_eq!(init, mine, "{name}");
        let seccomp = mine.iter().find(|l| l.starts_with("Seccomp:")).unwrap();
        let filtered = seccomp.ends_with('2');
        assert_eq!(
            filtered,
            !["unconfined", "privileged"].contains(&name),
            "{name}: {seccomp}"
        );
    }
    // Another user in a container without capabilities still gets the filter.
    let other = privileges(&env, "nocaps", &["-u", "nobody"], "self");
    assert!(other.iter().any(|l| l == "Seccomp:\t2"), "{other:?}");
    assert!(
        other.iter().any(|l| l == "CapEff:\t0000000000000000"),
        "{other:?}"
    );
}

#[test]
fn exec_environment_user_and_working_directory() {
    let (_reg, env, bb) = setup();
    run_detached(
        &env,
        "web",
        &bb,
        &["-e", "FROM_RUN=1", "-w", "/tmp", "--", "sleep", "1000"],
    );

    let vars = env.ok(&["exec", "-e", "EXTRA=x y", "web", "env"]);
    let vars = lines(&vars);
    assert!(vars.contains(&"FROM_RUN=1"), "{vars:?}");
    assert!(vars.contains(&"EXTRA=x y"), "{vars:?}");
    assert!(vars.iter().any(|v| v.starts_with("PATH=")), "{vars:?}");
    let vars = env.ok(&["exec", "-e", "FROM_RUN=2", "web", "env"]);
    assert!(lines(&vars).contains(&"FROM_RUN=2"), "{vars}");
    assert!(!lines(&vars).contains(&"FROM_RUN=1"), "{vars}");
    // `-e KEY` copies the value from oxpod's own environment.
    let mut cmd = env.cmd(&["exec", "-e", "FROM_HOST", "web", "env"]);
    cmd.env("FROM_HOST", "copied");
    let out = env.run_cmd(cmd, None);
    assert!(stdout_of(&out).contains("FROM_HOST=copied\n"), "{out:?}");

    assert_eq!(env.ok(&["exec", "web", "id", "-u"]), "0\n");
    // As `run -u` resolves it.
    let id = env.ok(&["exec", "-u", "nobody", "web", "id"]);
    assert!(
        id.starts_with("uid=65534(nobody) gid=65534(nogroup)"),
        "{id}"
    );
    assert_eq!(
        id,
        env.ok(&["run", "--rm", "-u", "nobody", &bb.reference(), "id"])
    );
    assert_eq!(
        env.ok(&["exec", "-u", "1234:99", "web", "id", "-u"]),
        "1234\n"
    );
    assert_eq!(
        env.ok(&["exec", "-u", "1234:99", "web", "id", "-g"]),
        "99\n"
    );
    // The new user's home (nobody's is /nonexistent in this image).
    assert_eq!(
        env.ok(&["exec", "-u", "nobody", "web", "sh", "-c", "echo $HOME"]),
        "/nonexistent\n"
    );
    fails_cleanly(
        &env,
        &["exec", "-u", "nosuchuser", "web", "true"],
        &["nosuchuser"],
    );

    assert_eq!(env.ok(&["exec", "web", "pwd"]), "/tmp\n");
    assert_eq!(env.ok(&["exec", "-w", "/root", "web", "pwd"]), "/root\n");
    assert_eq!(env.ok(&["exec", "--workdir", "/", "web", "pwd"]), "/\n");
    fails_cleanly(
        &env,
        &["exec", "-w", "/nonexistent", "web", "pwd"],
        &["/nonexistent"],
    );
}

#[test]
fn exec_not_found_and_not_executable_exit_127_and_126() {
    let (_reg, env, bb) = setup();
    run_detached(&env, "web", &bb, &["sleep", "1000"]);

    let (code, stderr) = env.fails(&["exec", "web", "nosuchcmd", "arg"]);
    assert_eq!(code, 127, "{stderr}");
    assert_clean_error(&stderr, &["nosuchcmd", "not found"]);
    let (code, stderr) = env.fails(&["exec", "web", "/bin/nosuch"]);
    assert_eq!(code, 127, "{stderr}");

    let (code, stderr) = env.fails(&["exec", "web", "/etc/passwd"]);
    assert_eq!(code, 126, "{stderr}");
    assert_clean_error(&stderr, &["/etc/passwd", "permission denied"]);
    let (code, stderr) = env.fails(&["exec", "web", "/tmp"]);
    assert_eq!(code, 126, "{stderr}");

    // The container is unharmed.
    assert_eq!(env.ok(&["exec", "web", "true"]), "");
}

#[test]
fn exec_interactive_passes_stdin_and_without_it_stdin_is_empty() {
    let (_reg, env, bb) = setup();
    run_detached(&env, "web", &bb, &["sleep", "1000"]);

    assert_eq!(
        env.ok_with_stdin(&["exec", "-i", "web", "cat"], b"piped line\nand more\n"),
        "piped line\nand more\n"
    );
    // More than a pipe holds, both ways.
    let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = env.run_with_stdin(&["exec", "-i", "web", "wc", "-c"], &big);
    assert_eq!(stdout_of(&out).trim(), "300000", "{out:?}");
    let out = env.run_with_stdin(&["exec", "-i", "web", "cat"], &big);
    assert_eq!(out.stdout.len(), big.len());
    assert!(out.stdout == big);

    // Without -i the process reads an empty stdin, even when oxpod's has data.
    let out = env.run_with_stdin(&["exec", "web", "cat"], b"ignored\n");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_of(&out), "");

    // A process that never reads its input still ends the command.
    let out = env.run_with_stdin(&["exec", "-i", "web", "true"], &big);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn exec_terminal() {
    let (_reg, env, bb) = setup();
    run_detached(&env, "web", &bb, &["sleep", "1000"]);

    // -it needs a terminal to type into the container's.
    let stderr = fails_cleanly(&env, &["exec", "-it", "web", "sh"], &["not a tty"]);
    assert!(stderr.contains("-i"), "{stderr}");

    // -t alone: the process runs on a terminal of its own, whose output comes back.
    let out = env.run(&[
        "exec",
        "-t",
        "web",
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo tty $TERM",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_of(&out), "tty xterm\r\n");
    let out = env.run(&["exec", "-t", "web", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");

    // Under a real terminal: typed input, the terminal's size, and the caller's terminal
    // restored afterwards.
    let size = nix::pty::Winsize {
        ws_row: 31,
        ws_col: 97,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    let mut cmd = env.cmd(&["exec", "-it", "web", "sh"]);
    let stdio = || Stdio::from(pty.slave.try_clone().expect("dup"));
    cmd.stdin(stdio()).stdout(stdio()).stderr(stdio());
    let child = cmd.spawn().expect("spawn");
    let screen = Screen::start(&pty.master);
    screen.expect("# ");
    type_into(&pty.master, "/bin/busybox stty size; echo $((20+22))\r");
    screen.expect("31 97");
    screen.expect("42");
    type_into(&pty.master, "exit 4\r");
    let code = wait_child(child);
    assert_eq!(code, 4, "{}", screen.text());
    let t = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
    assert!(
        t.local_flags
            .contains(nix::sys::termios::LocalFlags::ICANON),
        "the caller's terminal is back in canonical mode"
    );
}

/// Everything a pty master shows, collected in the background.
struct Screen(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Screen {
    fn start(master: &OwnedFd) -> Screen {
        let mut reader = fs::File::from(master.try_clone().expect("dup master"));
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = reader.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Screen(buf)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn expect(&self, needle: &str) {
        wait_for(Duration::from_secs(30), needle, || {
            self.text().contains(needle).then_some(())
        });
    }
}

fn type_into(master: &OwnedFd, keys: &str) {
    nix::unistd::write(master, keys.as_bytes()).expect("type");
}

fn wait_child(mut child: Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("oxpod did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exec_forwards_signals_to_the_process() {
    let (_reg, env, bb) = setup();
    run_detached(&env, "web", &bb, &["sleep", "1000"]);
    let mut cmd = env.cmd(&[
        "exec",
        "web",
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    stdout.read_exact(&mut first).expect("ready");
    assert_eq!(&first, b"ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let code = wait_child(child);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(code, 7);
    assert_eq!(rest, "got-term\n");
}

#[test]
fn exec_detached_starts_the_process_and_returns() {
    let (_reg, env, bb) = setup();
    run_detached(&env, "web", &bb, &["sleep", "1000"]);
    let started = Instant::now();
    let out = env.ok(&[
        "exec",
        "-d",
        "web",
        "sh",
        "-c",
        "echo detached > /tmp/marker; exec sleep 777",
    ]);
    assert_eq!(out, "");
    assert!(started.elapsed() < Duration::from_secs(10));
    let marker = wait_for(Duration::from_secs(10), "the detached process", || {
        let out = env.run(&["exec", "web", "cat", "/tmp/marker"]);
        out.status.success().then(|| stdout_of(&out))
    });
    assert_eq!(marker, "detached\n");
    // It runs in the container (its cgroup), and nothing is left a zombie by oxpod.
    let top = env.ok(&["top", "web", "pid", "hpid", "state", "args"]);
    let row = top
        .lines()
        .find(|l| l.ends_with("sleep 777"))
        .unwrap_or_else(|| panic!("no sleep 777 in\n{top}"));
    let hpid: i32 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
    let stat = fs::read_to_string(format!("/proc/{hpid}/stat")).unwrap();
    let ppid: i32 = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ppid, std::process::id() as i32);
    assert!(
        !env.runroot().join("exec").exists()
            || fs::read_dir(env.runroot().join("exec"))
                .unwrap()
                .next()
                .is_none(),
        "exec leaves no plan or process files behind"
    );

    fails_cleanly(&env, &["exec", "-dt", "web", "true"], &["-d"]);
    let (code, stderr) = env.fails(&["exec", "-d", "web", "nosuchcmd"]);
    assert_eq!(code, 127, "{stderr}");
}

#[test]
fn exec_needs_a_running_container() {
    let (_reg, env, bb) = setup();
    env.ok(&["create", "--name", "made", &bb.reference(), "sleep", "1000"]);
    fails_cleanly(&env, &["exec", "made", "true"], &["made", "created"]);
    run_detached(&env, "web", &bb, &["sleep", "1000"]);
    env.ok(&["stop", "-t", "0", "web"]);
    fails_cleanly(&env, &["exec", "web", "true"], &["web", "exited"]);
    fails_cleanly(&env, &["exec", "nosuch", "true"], &["nosuch"]);
}

// ---------------------------------------------------------------------------------------------
// top

#[test]
fn top_lists_the_containers_processes() {
    let (_reg, env, bb) = setup();
    run_detached(
        &env,
        "web",
        &bb,
        &["sh", "-c", "sleep 1000 & exec sleep 2000"],
    );
    let table = wait_for(Duration::from_secs(10), "both sleeps", || {
        let table = env.ok(&["top", "web"]);
        // Until the shell has exec'd its sleep, its command line names both.
        let ends = |what: &str| table.lines().any(|l| l.ends_with(what));
        (ends("sleep 1000") && ends("sleep 2000")).then_some(table)
    });
    let rows = lines(&table);
    let header: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"
        ]
    );
    // PIDs as the container sees them: its init is 1, the other sleep its child.
    let init: Vec<&str> = rows
        .iter()
        .find(|r| r.ends_with("sleep 2000"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&init[..3], ["root", "1", "0"], "{table}");
    assert_eq!(init[5], "?");
    let child: Vec<&str> = rows
        .iter()
        .find(|r| r.ends_with("sleep 1000"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(child[2], "1", "{table}");
    assert_eq!(rows.len(), 3, "{table}");

    // Chosen columns; a process started by exec shows up with its user.
    env.ok(&["exec", "-d", "-u", "nobody", "web", "sleep", "3000"]);
    let table = wait_for(Duration::from_secs(10), "the exec'd sleep", || {
        let t = env.ok(&["top", "web", "user,pid", "comm", "args"]);
        t.contains("sleep 3000").then_some(t)
    });
    assert!(lines(&table)[0].starts_with("USER"), "{table}");
    assert!(
        lines(&table)
            .iter()
            .any(|r| r.starts_with("nobody") && r.ends_with("sleep 3000")),
        "{table}"
    );

    // Anything that is not a descriptor goes to ps in the container, as Podman does.
    let ps = env.ok(&["top", "web", "-o", "pid,comm"]);
    assert!(lines(&ps)[0].contains("PID"), "{ps}");
    assert!(ps.contains("sleep"), "{ps}");

    env.ok(&["stop", "-t", "0", "web"]);
    fails_cleanly(&env, &["top", "web"], &["web", "running"]);
}

// ---------------------------------------------------------------------------------------------
// pause / unpause

#[test]
fn pause_freezes_and_unpause_resumes() {
    let (_reg, env, bb) = setup();
    let id = run_detached(
        &env,
        "web",
        &bb,
        &[
            "sh",
            "-c",
            "while :; do date +%s%N > /tmp/tick; sleep 0.05; done",
        ],
    );
    assert_eq!(env.ok(&["pause", "web"]), "web\n");
    assert_eq!(freezer_state(&id).as_deref(), Some("FROZEN"));
    assert_eq!(inspect(&env, "web")["State"]["Status"], "paused");
    assert_eq!(inspect(&env, "web")["State"]["Paused"], true);
    let ps = env.ok(&["ps", "--format", "{{.Names}} {{.State}} {{.Status}}"]);
    assert!(ps.starts_with("web paused Up "), "{ps}");
    assert!(ps.trim_end().ends_with("(paused)"), "{ps}");
    // Frozen processes sit in uninterruptible sleep, and do no work.
    let states = env.ok(&["top", "web", "state"]);
    assert!(
        lines(&states)[1..].iter().all(|s| s.trim() == "D"),
        "{states}"
    );
    let tick =
        fs::read_to_string(env.root().join(format!("containers/{id}/merged/tmp/tick"))).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let later =
        fs::read_to_string(env.root().join(format!("containers/{id}/merged/tmp/tick"))).unwrap();
    assert_eq!(tick, later, "a paused container does nothing");

    fails_cleanly(&env, &["pause", "web"], &["web", "paused"]);
    fails_cleanly(
        &env,
        &["exec", "web", "true"],
        &["web", "paused", "unpause"],
    );

    assert_eq!(env.ok(&["unpause", "web"]), "web\n");
    assert_eq!(freezer_state(&id).as_deref(), Some("THAWED"));
    assert_eq!(inspect(&env, "web")["State"]["Status"], "running");
    wait_for(Duration::from_secs(10), "the loop to run again", || {
        let now =
            fs::read_to_string(env.root().join(format!("containers/{id}/merged/tmp/tick"))).ok()?;
        (now != later).then_some(())
    });
    fails_cleanly(&env, &["unpause", "web"], &["web", "not paused"]);

    // A paused container can still be stopped and removed.
    env.ok(&["pause", "web"]);
    env.ok(&["rm", "-f", "web"]);
    assert!(freezer_state(&id).is_none());

    env.ok(&["create", "--name", "made", &bb.reference(), "true"]);
    fails_cleanly(&env, &["pause", "made"], &["made", "created"]);
    fails_cleanly(&env, &["pause"], &["--all"]);
}

// ---------------------------------------------------------------------------------------------
// rename

#[test]
fn rename_then_find_by_the_new_name() {
    let (_reg, env, bb) = setup();
    let id = env
        .ok(&["create", "--name", "old", &bb.reference(), "sleep", "1000"])
        .trim()
        .to_string();
    assert_eq!(env.ok(&["rename", "old", "new"]), "");
    assert_eq!(inspect(&env, "new")["Id"], id.as_str());
    assert_eq!(inspect(&env, "new")["Name"], "new");
    fails_cleanly(&env, &["inspect", "old"], &["old"]);
    // Running, and by ID.
    env.ok(&["start", "new"]);
    env.ok(&["rename", &id[..12], "newer"]);
    assert_eq!(env.ok(&["exec", "newer", "echo", "hi"]), "hi\n");

    env.ok(&["create", "--name", "other", &bb.reference(), "true"]);
    fails_cleanly(
        &env,
        &["rename", "newer", "other"],
        &["other", "already in use"],
    );
    fails_cleanly(&env, &["rename", "newer", "bad/name"], &["bad/name"]);
    fails_cleanly(&env, &["rename", "newer", "_x"], &["_x"]);
    fails_cleanly(&env, &["rename", "nosuch", "x"], &["nosuch"]);
    // Renaming to its own name is a no-op.
    env.ok(&["rename", "newer", "newer"]);
    assert_eq!(inspect(&env, "newer")["Id"], id.as_str());
}

// ---------------------------------------------------------------------------------------------
// cp

fn host_tree(base: &Path) -> PathBuf {
    let dir = base.join("tree");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/file"), "in a tree\n").unwrap();
    fs::write(dir.join("top"), "top\n").unwrap();
    fs::set_permissions(dir.join("top"), fs::Permissions::from_mode(0o640)).unwrap();
    nix::unistd::chown(
        &dir.join("top"),
        Some(nix::unistd::Uid::from_raw(1234)),
        Some(nix::unistd::Gid::from_raw(4321)),
    )
    .unwrap();
    symlink("sub/file", dir.join("link")).unwrap();
    dir
}

#[test]
fn cp_copies_files_and_directories_in_and_out_keeping_modes_and_owners() {
    let (_reg, env, bb) = setup();
    run_detached(&env, "web", &bb, &["sleep", "1000"]);
    let tmp = tempfile::tempdir().unwrap();
    let tree = host_tree(tmp.path());
    let tree_arg = tree.display().to_string();

    // A file into a directory, and to a new name.
    env.ok(&["cp", &format!("{tree_arg}/top"), "web:/tmp"]);
    assert_eq!(env.ok(&["exec", "web", "cat", "/tmp/top"]), "top\n");
    assert_eq!(
        env.ok(&["exec", "web", "stat", "-c", "%a %u %g", "/tmp/top"]),
        "640 1234 4321\n"
    );
    env.ok(&["cp", &format!("{tree_arg}/top"), "web:/tmp/renamed"]);
    assert_eq!(env.ok(&["exec", "web", "cat", "/tmp/renamed"]), "top\n");
    // Onto an existing file: replaced.
    fs::write(tmp.path().join("v2"), "version 2\n").unwrap();
    env.ok(&[
        "cp",
        &tmp.path().join("v2").display().to_string(),
        "web:/tmp/renamed",
    ]);
    assert_eq!(
        env.ok(&["exec", "web", "cat", "/tmp/renamed"]),
        "version 2\n"
    );

    // A directory to a new path, then into an existing directory, then its contents only.
    env.ok(&["cp", &tree_arg, "web:/tmp/copy"]);
    assert_eq!(
        env.ok(&["exec", "web", "cat", "/tmp/copy/sub/file"]),
        "in a tree\n"
    );
    assert_eq!(
        env.ok(&["exec", "web", "readlink", "/tmp/copy/link"]),
        "sub/file\n"
    );
    env.ok(&["cp", &tree_arg, "web:/tmp/copy"]);
    assert_eq!(
        env.ok(&["exec", "web", "cat", "/tmp/copy/tree/top"]),
        "top\n"
    );
    env.ok(&["exec", "web", "mkdir", "/tmp/flat"]);
    env.ok(&["cp", &format!("{tree_arg}/."), "web:/tmp/flat"]);
    assert_eq!(
        env.ok(&["exec", "web", "cat", "/tmp/flat/sub/file"]),
        "in a tree\n"
    );

    // And back out.
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    env.ok(&["cp", "web:/etc/passwd", &out.display().to_string()]);
    assert_eq!(
        fs::read_to_string(out.join("passwd")).unwrap(),
        images::PASSWD
    );
    env.ok(&[
        "cp",
        "web:/tmp/copy",
        &out.join("back").display().to_string(),
    ]);
    assert_eq!(
        fs::read_to_string(out.join("back/sub/file")).unwrap(),
        "in a tree\n"
    );
    let meta = fs::metadata(out.join("back/top")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), (1234, 4321));
    assert_eq!(
        fs::read_link(out.join("back/link")).unwrap(),
        Path::new("sub/file")
    );
    // The container's generated files are what it sees.
    env.ok(&[
        "cp",
        "web:/etc/hostname",
        &out.join("hn").display().to_string(),
    ]);
    assert_eq!(
        fs::read_to_string(out.join("hn")).unwrap(),
        env.ok(&["exec", "web", "cat", "/etc/hostname"])
    );

    // Device nodes stay in the container: one it holds must not appear on the host.
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_size(0);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    builder
        .append_data(&mut h, "disk", std::io::empty())
        .unwrap();
    env.ok_with_stdin(&["cp", "-", "web:/tmp"], &builder.into_inner().unwrap());
    assert_eq!(
        env.ok(&["exec", "web", "stat", "-c", "%F %t:%T", "/tmp/disk"]),
        "character special file 1:3\n"
    );
    let out_dev = env.run(&[
        "cp",
        "web:/tmp/disk",
        &out.join("disk").display().to_string(),
    ]);
    assert!(out_dev.status.success(), "{out_dev:?}");
    assert!(stderr_of(&out_dev).contains("device node"), "{out_dev:?}");
    assert!(!out.join("disk").exists());

    // Errors name what is wrong.
    fails_cleanly(
        &env,
        &["cp", "web:/nosuch", &out.display().to_string()],
        &["/nosuch"],
    );
    fails_cleanly(
        &env,
        &["cp", &tree_arg, "web:/tmp/top"],
        &["/tmp/top", "directory"],
    );
    fails_cleanly(
        &env,
        &["cp", &tree_arg, &out.display().to_string()],
        &["container"],
    );
    fails_cleanly(&env, &["cp", "web:/etc", "web:/tmp"], &["container"]);
    fails_cleanly(
        &env,
        &["cp", "nosuch:/etc", &out.display().to_string()],
        &["nosuch"],
    );
    fails_cleanly(
        &env,
        &["cp", &tree_arg, "web:/nosuch/deeper/x"],
        &["/nosuch"],
    );
    // `container cp` is the same command.
    env.ok(&[
        "container",
        "cp",
        "web:/tmp/top",
        &out.join("again").display().to_string(),
    ]);
    assert_eq!(fs::read_to_string(out.join("again")).unwrap(), "top\n");
}

#[test]
fn cp_streams_tar_archives_with_a_dash() {
    let (_reg, env, bb) = setup();
    run_detached(&env, "web", &bb, &["sleep", "1000"]);
    env.ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo one > /data/sub/f && ln -s sub/f /data/l",
    ]);

    let out = env.run(&["cp", "web:/data", "-"]);
    assert!(out.status.success(), "{out:?}");
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name == "data/sub/f" {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            assert_eq!(text, "one\n");
        }
        if name == "data/l" {
            assert_eq!(entry.header().entry_type(), tar::EntryType::Symlink);
            assert_eq!(entry.link_name().unwrap().unwrap(), Path::new("sub/f"));
        }
        names.push(name);
    }
    names.sort();
    assert_eq!(names, ["data", "data/l", "data/sub", "data/sub/f"]);

    // An archive on stdin is unpacked into a directory.
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o600);
    h.set_uid(42);
    h.set_gid(43);
    h.set_size(9);
    builder
        .append_data(&mut h, "streamed/in/x", &b"streamed\n"[..])
        .unwrap();
    let tarball = builder.into_inner().unwrap();
    env.ok_with_stdin(&["cp", "-", "web:/tmp"], &tarball);
    assert_eq!(
        env.ok(&["exec", "web", "cat", "/tmp/streamed/in/x"]),
        "streamed\n"
    );
    assert_eq!(
        env.ok(&[
            "exec",
            "web",
            "stat",
            "-c",
            "%a %u %g",
            "/tmp/streamed/in/x"
        ]),
        "600 42 43\n"
    );
    // Compressed archives work too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tarball).unwrap();
    env.ok_with_stdin(&["cp", "-", "web:/root"], &gz.finish().unwrap());
    assert_eq!(
        env.ok(&["exec", "web", "cat", "/root/streamed/in/x"]),
        "streamed\n"
    );

    fails_cleanly(
        &env,
        &["cp", "-", "web:/etc/passwd"],
        &["/etc/passwd", "directory"],
    );
    // An archive whose entries climb out of the destination is refused.
    let mut evil = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_old();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(4);
    h.set_mode(0o644);
    let name = b"../../../../evil";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    evil.append(&h, &b"evil"[..]).unwrap();
    let evil = evil.into_inner().unwrap();
    let out = env.run_with_stdin(&["cp", "-", "web:/tmp"], &evil);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert_clean_error(&stderr_of(&out), &["climbs out"]);
}

#[test]
fn cp_into_a_stopped_container_and_out_of_it() {
    let (_reg, env, bb) = setup();
    let id = env
        .ok(&[
            "create",
            "--name",
            "made",
            &bb.reference(),
            "cat",
            "/copied",
        ])
        .trim()
        .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("copied");
    fs::write(&file, "into a created container\n").unwrap();
    env.ok(&["cp", &file.display().to_string(), "made:/"]);
    let merged = env.root().join(format!("containers/{id}/merged"));
    assert!(
        fs::read_dir(&merged).map_or(true, |mut d| d.next().is_none()),
        "the root file system is unmounted again"
    );
    let out = env.ok(&["start", "-a", "made"]);
    assert_eq!(out, "into a created container\n");
    // Exited now: copy out of it.
    let back = tmp.path().join("back");
    env.ok(&["cp", "made:/copied", &back.display().to_string()]);
    assert_eq!(
        fs::read_to_string(&back).unwrap(),
        "into a created container\n"
    );
    let out = env.run(&["cp", "made:/etc", "-"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.is_empty());
}

#[test]
fn cp_never_leaves_the_container_through_its_symlinks() {
    let (_reg, env, bb) = setup();
    let id = run_detached(&env, "web", &bb, &["sleep", "1000"]);
    let tmp = tempfile::tempdir().unwrap();
    // A host directory the container's symlinks try to reach.
    let target = tmp.path().join("host-target");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("secret"), "host secret\n").unwrap();
    let target_arg = target.display().to_string();
    env.ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        &format!(
            "ln -s / /tmp/root && ln -s ../../../../../../.. /tmp/up && ln -s {target_arg} /tmp/abs \
             && mkdir -p {target_arg} && echo container secret > {target_arg}/secret"
        ),
    ]);

    // Out: the container's files, never the host's.
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    for path in ["/tmp/root/etc/passwd", "/tmp/up/etc/passwd"] {
        let dest = out.join("passwd");
        let _ = fs::remove_file(&dest);
        env.ok(&["cp", &format!("web:{path}"), &dest.display().to_string()]);
        assert_eq!(fs::read_to_string(&dest).unwrap(), images::PASSWD, "{path}");
    }
    env.ok(&[
        "cp",
        "web:/tmp/abs/secret",
        &out.join("s").display().to_string(),
    ]);
    assert_eq!(
        fs::read_to_string(out.join("s")).unwrap(),
        "container secret\n"
    );
    // A symlink given as the source is copied as the symlink it is.
    env.ok(&[
        "cp",
        "web:/tmp/abs",
        &out.join("link").display().to_string(),
    ]);
    assert_eq!(fs::read_link(out.join("link")).unwrap(), target);

    // In: through the symlinks, files land inside the container.
    let file = tmp.path().join("payload");
    fs::write(&file, "payload\n").unwrap();
    let file_arg = file.display().to_string();
    env.ok(&["cp", &file_arg, "web:/tmp/root/owned-1"]);
    env.ok(&["cp", &file_arg, "web:/tmp/up/owned-2"]);
    env.ok(&["cp", &file_arg, "web:/tmp/abs/"]);
    assert!(!Path::new("/owned-1").exists() && !Path::new("/owned-2").exists());
    assert_eq!(
        fs::read_to_string(target.join("secret")).unwrap(),
        "host secret\n"
    );
    assert_eq!(
        fs::read_dir(&target).unwrap().count(),
        1,
        "nothing new on the host"
    );
    let merged = env.root().join(format!("containers/{id}/merged"));
    assert!(merged.join("owned-1").is_file());
    assert!(merged.join("owned-2").is_file());
    assert_eq!(
        env.ok(&["exec", "web", "cat", &format!("{target_arg}/payload")]),
        "payload\n"
    );
    // An archive whose entries go through a symlink stays inside too.
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    builder.append_link(&mut h, "hop", "/").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(4);
    h.set_mode(0o644);
    builder
        .append_data(&mut h, "hop/owned-3", &b"tar\n"[..])
        .unwrap();
    env.ok_with_stdin(&["cp", "-", "web:/tmp"], &builder.into_inner().unwrap());
    assert!(!Path::new("/owned-3").exists());
    assert_eq!(env.ok(&["exec", "web", "cat", "/owned-3"]), "tar\n");
}

#[test]
fn cp_reaches_volumes_as_the_container_sees_them() {
    let (_reg, env, bb) = setup();
    run_detached(
        &env,
        "web",
        &bb,
        &["-v", "data:/data", "--", "sleep", "1000"],
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("f");
    fs::write(&file, "in the volume\n").unwrap();
    env.ok(&["cp", &file.display().to_string(), "web:/data/f"]);
    assert_eq!(
        env.ok(&["exec", "web", "cat", "/data/f"]),
        "in the volume\n"
    );
    assert_eq!(
        fs::read_to_string(env.root().join("volumes/data/_data/f")).unwrap(),
        "in the volume\n"
    );
    let out = tmp.path().join("out");
    env.ok(&["cp", "web:/data", &out.display().to_string()]);
    assert_eq!(
        fs::read_to_string(out.join("f")).unwrap(),
        "in the volume\n"
    );
}

// ---------------------------------------------------------------------------------------------
// stats and port

#[test]
fn stats_shows_usage_and_the_memory_limit() {
    let (_reg, env, bb) = setup();
    run_detached(
        &env,
        "web",
        &bb,
        &["--memory", "64m", "--", "sleep", "1000"],
    );
    run_detached(&env, "other", &bb, &["sleep", "1000"]);

    let rows = json(&env.ok(&["stats", "--no-stream", "--format", "json", "web"]));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let web = &rows[0];
    assert_eq!(web["name"], "web");
    let mem = web["mem_usage"].as_str().unwrap();
    assert!(mem.ends_with(" / 67.11MB"), "{mem}");
    assert!(web["mem_percent"].as_str().unwrap().ends_with('%'), "{web}");
    assert_eq!(web["pids"], "1");
    assert_eq!(web["net_io"], "-- / --");

    let table = env.ok(&["stats", "--no-stream"]);
    let rows = lines(&table);
    assert!(rows[0].starts_with("ID"), "{table}");
    for column in [
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "BLOCK IO",
        "PIDS",
    ] {
        assert!(rows[0].contains(column), "{column}: {table}");
    }
    assert_eq!(rows.len(), 3, "every running container: {table}");
    assert!(table.contains("/ 67.11MB"), "{table}");

    let line = env.ok(&[
        "container",
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}: {{.MemUsage}} {{.PIDS}}",
        "web",
    ]);
    assert!(
        line.starts_with("web: ") && line.trim_end().ends_with("/ 67.11MB 1"),
        "{line}"
    );

    env.ok(&["stop", "-t", "0", "other"]);
    fails_cleanly(
        &env,
        &["stats", "--no-stream", "other"],
        &["other", "running"],
    );
    let all = env.ok(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "{{.Name}} {{.PIDS}}",
    ]);
    assert!(lines(&all).contains(&"other --"), "{all}");
}

#[test]
fn port_prints_nothing_without_published_ports() {
    let (_reg, env, bb) = setup();
    run_detached(&env, "web", &bb, &["sleep", "1000"]);
    assert_eq!(env.ok(&["port", "web"]), "");
    assert_eq!(env.ok(&["container", "port", "web"]), "");
    assert_eq!(env.ok(&["port", "--all"]), "");
    fails_cleanly(&env, &["port", "web", "80"], &["80/tcp"]);
    fails_cleanly(&env, &["port", "nosuch"], &["nosuch"]);
}

#[test]
fn the_container_group_has_every_verb() {
    let (_reg, env, bb) = setup();
    run_detached(&env, "web", &bb, &["sleep", "1000"]);
    assert_eq!(env.ok(&["container", "exec", "web", "echo", "x"]), "x\n");
    assert!(env.ok(&["container", "top", "web"]).contains("sleep 1000"));
    assert_eq!(env.ok(&["container", "pause", "web"]), "web\n");
    assert_eq!(env.ok(&["container", "unpause", "web"]), "web\n");
    env.ok(&["container", "rename", "web", "site"]);
    assert!(
        env.ok(&["container", "stats", "--no-stream"])
            .contains("site")
    );
    env.ok(&["rm", "-f", "site"]);
}
