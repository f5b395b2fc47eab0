//! Health checks run by the monitor (`--health-*`, the image's HEALTHCHECK, `healthcheck
//! run`), containers with a terminal (`-t`, `-it` driven through a real pty) and `--init`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::pty::{Winsize, openpty};
use nix::sys::termios::{LocalFlags, tcgetattr};
use serde_json::{Value, json};

use crate::images::{self, ImageBuilder, TestImage};
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::*;

/// A registry with busybox, and a store that pulled it.
fn setup() -> (Registry, Oxpod, TestImage) {
    let reg = Registry::start();
    let bb = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &bb.reference()]);
    (reg, env, bb)
}

/// `container inspect NAME`, the one object of the array.
fn inspect_container(env: &Oxpod, name: &str) -> Value {
    match json(&env.ok(&["container", "inspect", name])) {
        Value::Array(mut all) if all.len() == 1 => all.remove(0),
        other => panic!("container inspect {name}: {other}"),
    }
}

fn health(env: &Oxpod, name: &str) -> Value {
    inspect_container(env, name)["State"]["Health"].clone()
}

/// Poll `f` until it returns Some, failing after `timeout` with `what`.
fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Wait until the container's health status is `status`; returns State.Health.
fn wait_health(env: &Oxpod, name: &str, status: &str) -> Value {
    let mut last = Value::Null;
    let found = {
        let last = &mut last;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let h = health(env, name);
            if h["Status"] == status {
                break Some(h);
            }
            *last = h;
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    found.unwrap_or_else(|| panic!("{name} never became {status}; last health: {last:#}"))
}

fn is_rfc3339(s: &Value) -> bool {
    s.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[test]
fn a_passing_check_makes_the_container_healthy() {
    let (_reg, env, bb) = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "echo ok",
        "--health-interval",
        "1s",
        &bb.reference(),
        "sleep",
        "300",
    ]);
    // The first check runs an interval after the start: until then, `starting`.
    let first = health(&env, "web");
    assert_eq!(first["Status"], "starting", "{first:#}");
    assert_eq!(first["FailingStreak"], 0);

    let h = wait_health(&env, "web", "healthy");
    assert_eq!(h["FailingStreak"], 0, "{h:#}");
    let log = h["Log"].as_array().expect("a log");
    assert!(!log.is_empty(), "{h:#}");
    for entry in log {
        assert_eq!(entry["ExitCode"], 0, "{h:#}");
        assert_eq!(entry["Output"], "ok\n", "{h:#}");
        assert!(
            is_rfc3339(&entry["Start"]) && is_rfc3339(&entry["End"]),
            "{h:#}"
        );
    }
    let ps = env.ok(&["ps"]);
    let row = ps.lines().find(|l| l.ends_with("web")).expect("a ps row");
    assert!(row.contains("(healthy)"), "{ps}");

    // `healthcheck run`: exit 0, nothing printed, recorded; the log keeps the last five.
    for _ in 0..6 {
        let out = env.run(&["healthcheck", "run", "web"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
    let h = health(&env, "web");
    assert_eq!(h["Status"], "healthy");
    assert_eq!(h["Log"].as_array().unwrap().len(), 5, "{h:#}");
    env.ok(&["rm", "-f", "web"]);
}

#[test]
fn a_failing_check_makes_it_unhealthy_after_the_retries_and_a_pass_heals_it() {
    let (_reg, env, bb) = setup();
    // Fails until the container creates /tmp/ok, four seconds in.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--health-cmd",
        "echo checking; test -e /tmp/ok",
        "--health-interval",
        "300ms",
        "--health-retries",
        "3",
        &bb.reference(),
        "sh",
        "-c",
        "sleep 4; touch /tmp/ok; sleep 300",
    ]);
    let h = wait_health(&env, "flaky", "unhealthy");
    let streak = h["FailingStreak"].as_u64().unwrap();
    assert!(streak >= 3, "{h:#}");
    let log = h["Log"].as_array().unwrap();
    assert!(log.len() >= 3, "unhealthy only after three failures: {h:#}");
    for entry in log {
        assert_eq!(entry["ExitCode"], 1, "{h:#}");
        assert_eq!(entry["Output"], "checking\n", "{h:#}");
    }
    let ps = env.ok(&["ps"]);
    assert!(ps.contains("(unhealthy)"), "{ps}");

    let h = wait_health(&env, "flaky", "healthy");
    assert_eq!(h["FailingStreak"], 0, "{h:#}");
    assert_eq!(h["Log"].as_array().unwrap().last().unwrap()["ExitCode"], 0);
    env.ok(&["rm", "-f", "flaky"]);
}

#[test]
fn failures_inside_the_start_period_do_not_count() {
    let (_reg, env, bb) = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "test -e /tmp/ready",
        "--health-interval",
        "300ms",
        "--health-retries",
        "1",
        "--health-start-period",
        "60s",
        &bb.reference(),
        "sh",
        "-c",
        "sleep 3; touch /tmp/ready; sleep 300",
    ]);
    // Several failed checks, yet still starting with no streak.
    let h = wait_for(Duration::from_secs(20), "two failed checks", || {
        let h = health(&env, "slow");
        (h["Log"].as_array().map_or(0, Vec::len) >= 2 && h["Status"] != "healthy").then_some(h)
    });
    assert_eq!(h["Status"], "starting", "{h:#}");
    assert_eq!(h["FailingStreak"], 0, "{h:#}");
    assert!(
        h["Log"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["ExitCode"] == 1),
        "{h:#}"
    );
    let h = wait_health(&env, "slow", "healthy");
    assert_eq!(h["FailingStreak"], 0);

    // Once healthy, the start period no longer shields it: with one retry, one failure
    // turns it unhealthy.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "then-fails",
        "--health-cmd",
        "test ! -e /tmp/broken",
        "--health-interval",
        "300ms",
        "--health-retries",
        "1",
        "--health-start-period",
        "60s",
        &bb.reference(),
        "sh",
        "-c",
        "sleep 2; touch /tmp/broken; sleep 300",
    ]);
    wait_health(&env, "then-fails", "healthy");
    let h = wait_health(&env, "then-fails", "unhealthy");
    assert_eq!(h["FailingStreak"], 1, "{h:#}");
    env.ok(&["rm", "-f", "slow", "then-fails"]);
}

#[test]
fn a_check_that_overruns_its_timeout_is_killed_and_fails() {
    let (_reg, env, bb) = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "stuck",
        "--health-cmd",
        "sleep 30",
        "--health-interval",
        "500ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        &bb.reference(),
        "sleep",
        "300",
    ]);
    let h = wait_health(&env, "stuck", "unhealthy");
    let entry = &h["Log"][0];
    assert_eq!(entry["ExitCode"], -1, "{h:#}");
    assert!(
        entry["Output"].as_str().unwrap().contains("timeout"),
        "{h:#}"
    );
    env.ok(&["rm", "-f", "stuck"]);
}

#[test]
fn healthcheck_run_exit_codes() {
    let (_reg, env, bb) = setup();
    // Passing and failing checks, run by hand (the interval is long: no scheduled check
    // interferes).
    for (name, cmd) in [("good", "exit 0"), ("bad", "echo nope; exit 3")] {
        env.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--health-cmd",
            cmd,
            "--health-interval",
            "1h",
            &bb.reference(),
            "sleep",
            "300",
        ]);
    }
    let out = env.run(&["healthcheck", "run", "good"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(health(&env, "good")["Status"], "healthy");

    let out = env.run(&["healthcheck", "run", "bad"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // One failure of three: still starting, as Podman prints it.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "starting");
    let h = health(&env, "bad");
    assert_eq!(h["FailingStreak"], 1, "{h:#}");
    assert_eq!(h["Log"][0]["ExitCode"], 3, "{h:#}");
    assert_eq!(h["Log"][0]["Output"], "nope\n", "{h:#}");
    for _ in 0..2 {
        let _ = env.run(&["healthcheck", "run", "bad"]);
    }
    assert_eq!(health(&env, "bad")["Status"], "unhealthy");

    // No health check defined.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "plain",
        &bb.reference(),
        "sleep",
        "300",
    ]);
    let (code, stderr) = env.fails(&["healthcheck", "run", "plain"]);
    assert_eq!(code, 125, "{stderr}");
    assert_clean_error(&stderr, &["plain", "no defined healthcheck"]);
    assert!(inspect_container(&env, "plain")["State"]["Health"].is_null());

    // Not running.
    env.ok(&[
        "create",
        "--name",
        "idle",
        "--health-cmd",
        "true",
        &bb.reference(),
        "sleep",
        "300",
    ]);
    let (code, stderr) = env.fails(&["healthcheck", "run", "idle"]);
    assert_eq!(code, 125, "{stderr}");
    assert_clean_error(&stderr, &["idle", "not running"]);

    // No such container.
    let (code, stderr) = env.fails(&["healthcheck", "run", "missing"]);
    assert_eq!(code, 125, "{stderr}");
    assert_clean_error(&stderr, &["missing"]);

    // A check that cannot start at all is a failure too (Docker's exit code -1).
    env.ok(&[
        "run",
        "-d",
        "--name",
        "nocmd",
        "--health-cmd",
        r#"["/no/such/check"]"#,
        "--health-interval",
        "1h",
        &bb.reference(),
        "sleep",
        "300",
    ]);
    let out = env.run(&["healthcheck", "run", "nocmd"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let h = health(&env, "nocmd");
    assert_eq!(h["Log"][0]["ExitCode"], -1, "{h:#}");
    assert!(
        h["Log"][0]["Output"]
            .as_str()
            .unwrap()
            .contains("no/such/check"),
        "{h:#}"
    );
    env.ok(&["rm", "-f", "good", "bad", "plain", "idle", "nocmd"]);
}

#[test]
fn the_images_healthcheck_is_used_unless_switched_off() {
    let reg = Registry::start();
    let image = ImageBuilder::new()
        .layer(images::busybox_layer(), "oxpod-it: busybox")
        .config(
            "Healthcheck",
            json!({
                "Test": ["CMD-SHELL", "echo from-image"],
                "Interval": 500_000_000u64,
                "Timeout": 5_000_000_000u64,
                "Retries": 2,
            }),
        )
        .cmd(&["sleep", "300"])
        .build();
    let img = images::push_image(&reg, &image, "checked", "1");
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &img.reference()]);

    env.ok(&["run", "-d", "--name", "inherits", &img.reference()]);
    let h = wait_health(&env, "inherits", "healthy");
    assert_eq!(h["Log"][0]["Output"], "from-image\n", "{h:#}");
    assert_eq!(h["Log"][0]["ExitCode"], 0, "{h:#}");

    // The container's own check replaces the image's.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "overrides",
        "--health-cmd",
        "echo mine",
        "--health-interval",
        "500ms",
        &img.reference(),
    ]);
    let h = wait_health(&env, "overrides", "healthy");
    assert_eq!(h["Log"][0]["Output"], "mine\n", "{h:#}");

    // `none` switches the image's check off.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "unchecked",
        "--health-cmd",
        "none",
        &img.reference(),
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(health(&env, "unchecked").is_null());
    let ps = env.ok(&["ps"]);
    let row = ps.lines().find(|l| l.ends_with("unchecked")).unwrap();
    assert!(!row.contains('('), "{ps}");
    let (code, _) = env.fails(&["healthcheck", "run", "unchecked"]);
    assert_eq!(code, 125);
    env.ok(&["rm", "-f", "inherits", "overrides", "unchecked"]);
}

#[test]
fn a_restarted_container_starts_its_health_over() {
    let (_reg, env, bb) = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--health-cmd",
        "true",
        "--health-interval",
        "300ms",
        &bb.reference(),
        "sleep",
        "300",
    ]);
    wait_health(&env, "again", "healthy");
    env.ok(&["stop", "-t", "0", "again"]);
    env.ok(&["start", "again"]);
    let h = health(&env, "again");
    assert_eq!(h["Status"], "starting", "{h:#}");
    wait_health(&env, "again", "healthy");
    env.ok(&["rm", "-f", "again"]);
}

// ---------------------------------------------------------------------------------------------
// Terminals

/// oxpod under a pseudo-terminal of `rows`×`cols`, as its controlling terminal (`setsid -c`),
/// the way a user's shell runs it. Everything the terminal shows is collected.
struct PtySession {
    child: Child,
    /// The terminal's slave side, kept to look at its settings.
    slave: OwnedFd,
    master: File,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl PtySession {
    fn start(env: &Oxpod, args: &[&str], rows: u16, cols: u16) -> PtySession {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        let oxpod = env.cmd(args);
        let mut cmd = Command::new("setsid");
        cmd.arg("-c")
            .arg(oxpod.get_program())
            .args(oxpod.get_args());
        for (key, value) in oxpod.get_envs() {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        let stdio = || Stdio::from(pty.slave.try_clone().expect("dup slave"));
        cmd.stdin(stdio()).stdout(stdio()).stderr(stdio());
        let child = cmd.spawn().expect("spawn setsid -c oxpod");
        let mut reader = File::from(pty.master.try_clone().expect("dup master"));
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = screen.clone();
        // Ends with EIO once every slave descriptor (ours included) is closed.
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtySession {
            child,
            slave: pty.slave,
            master: File::from(pty.master),
            screen,
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Wait until the screen shows `needle` after byte `from`; returns the position after it.
    fn expect(&self, from: usize, needle: &str) -> usize {
        wait_for(Duration::from_secs(30), needle, || {
            let screen = self.screen();
            screen
                .get(from..)
                .and_then(|s| s.find(needle))
                .map(|i| from + i + needle.len())
        })
    }

    fn type_keys(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).expect("type");
    }

    fn slave_path(&self) -> String {
        std::fs::read_link(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            self.slave.as_raw_fd()
        }))
        .expect("slave path")
        .display()
        .to_string()
    }

    fn is_raw(&self) -> bool {
        let t = tcgetattr(self.slave.as_fd()).expect("tcgetattr");
        !t.local_flags.contains(LocalFlags::ICANON) && !t.local_flags.contains(LocalFlags::ECHO)
    }

    fn wait(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("oxpod under a pty did not exit; screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            !self.is_raw(),
            "the caller's terminal was left in raw mode; screen:\n{}",
            self.screen()
        );
        // Let the reader collect the last output.
        std::thread::sleep(Duration::from_millis(200));
        (status.code().unwrap_or(-1), self.screen())
    }
}

#[test]
fn run_t_gives_the_container_a_terminal_even_without_one_on_stdin() {
    let (_reg, env, bb) = setup();
    let out = env.run(&["run", "--rm", "-t", &bb.reference(), "/bin/busybox", "tty"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The container's terminal turns \n into \r\n, as a terminal does.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/dev/pts/0\r\n");

    // Without -t: no terminal.
    let out = env.run(&["run", "--rm", &bb.reference(), "/bin/busybox", "tty"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "not a tty");

    // The exit code comes through the terminal too.
    let out = env.run(&["run", "--rm", "-t", &bb.reference(), "sh", "-c", "exit 9"]);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
}

#[test]
fn run_t_under_a_terminal_sees_its_size() {
    let (_reg, env, bb) = setup();
    let session = PtySession::start(
        &env,
        &[
            "run",
            "--rm",
            "-t",
            &bb.reference(),
            "/bin/busybox",
            "stty",
            "size",
        ],
        33,
        101,
    );
    let (code, screen) = session.wait();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("33 101"), "{screen:?}");
}

#[test]
fn run_it_through_a_terminal_types_resizes_and_exits() {
    let (_reg, env, bb) = setup();
    let mut session = PtySession::start(
        &env,
        &[
            "run",
            "--rm",
            "-it",
            "--name",
            "shell",
            &bb.reference(),
            "sh",
        ],
        24,
        80,
    );
    let mut at = session.expect(0, "# ");
    assert!(
        session.is_raw(),
        "the caller's terminal is raw while attached"
    );

    session.type_keys("/bin/busybox stty size; echo $((6*7))\r");
    at = session.expect(at, "24 80");
    at = session.expect(at, "42");

    // A resize of the caller's terminal reaches the container's.
    let status = Command::new("stty")
        .args(["-F", &session.slave_path(), "rows", "40", "cols", "120"])
        .status()
        .expect("stty");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300));
    session.type_keys("/bin/busybox stty size\r");
    at = session.expect(at, "40 120");

    // ^C goes to the container's terminal, which interrupts the foreground job, not the
    // shell or oxpod.
    session.type_keys("sleep 100\r");
    std::thread::sleep(Duration::from_millis(300));
    session.type_keys("\x03");
    session.type_keys("echo after-$((1+1))\r");
    session.expect(at, "after-2");

    session.type_keys("exit 7\r");
    let (code, screen) = session.wait();
    assert_eq!(code, 7, "{screen}");
}

#[test]
fn detached_and_start_attached_terminals() {
    let (_reg, env, bb) = setup();
    env.ok(&[
        "run",
        "-dt",
        "--name",
        "bg",
        &bb.reference(),
        "sh",
        "-c",
        "/bin/busybox tty; echo to-stderr >&2; sleep 300",
    ]);
    let logs = wait_for(
        Duration::from_secs(20),
        "terminal output in the log",
        || {
            let out = env.run(&["logs", "bg"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("to-stderr").then_some((text, out.stderr))
        },
    );
    // A terminal has one output stream: stderr's line is on stdout as well.
    assert_eq!(logs.0, "/dev/pts/0\r\nto-stderr\r\n", "{logs:?}");
    assert!(logs.1.is_empty(), "{logs:?}");
    let c = inspect_container(&env, "bg");
    assert_eq!(c["Config"]["Tty"], true);
    env.ok(&["rm", "-f", "bg"]);

    env.ok(&[
        "create",
        "-t",
        "--name",
        "later",
        &bb.reference(),
        "sh",
        "-c",
        "/bin/busybox tty; exit 3",
    ]);
    let out = env.run(&["start", "-a", "later"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/dev/pts/0\r\n");
    env.ok(&["rm", "later"]);
}

#[test]
fn piped_input_reaches_a_terminal_and_ends_it() {
    let (_reg, env, bb) = setup();
    // stdin is a pipe, not a terminal: the input is typed into the container's terminal and
    // its end becomes the end-of-file character.
    let out = env.run_with_stdin(
        &["run", "--rm", "-i", "-t", &bb.reference(), "cat"],
        b"typed line\n",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    // The terminal echoes the line, then cat prints it.
    assert_eq!(text.matches("typed line").count(), 2, "{text:?}");
}

// ---------------------------------------------------------------------------------------------
// --init

/// Where `--init` finds its init on this host, as oxpod looks for it.
fn host_init() -> Option<std::path::PathBuf> {
    [
        "/usr/libexec/podman/catatonit",
        "/usr/bin/catatonit",
        "/usr/libexec/catatonit/catatonit",
        "/usr/local/bin/catatonit",
        "/usr/bin/tini-static",
        "/usr/local/bin/tini-static",
        "/usr/bin/tini",
        "/usr/local/bin/tini",
        "/sbin/tini",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file())
}

#[test]
fn init_runs_catatonit_as_pid_1_and_it_handles_term() {
    let (_reg, env, bb) = setup();
    let Some(init) = host_init() else {
        // Without catatonit or tini, --init fails clearly and leaves nothing behind.
        let (code, stderr) = env.fails(&["run", "--rm", "--init", &bb.reference(), "true"]);
        assert_eq!(code, 125, "{stderr}");
        assert_clean_error(&stderr, &["--init", "catatonit"]);
        eprintln!("catatonit/tini not installed: checked the error only");
        return;
    };
    let out = env.ok(&[
        "run",
        "--rm",
        "--init",
        &bb.reference(),
        "sh",
        "-c",
        "echo pid=$$; sha256sum /proc/1/exe",
    ]);
    let host_digest = sha256_file(&init);
    assert!(!out.contains("pid=1\n"), "the command is not PID 1: {out}");
    assert!(
        out.contains(&format!("{host_digest}  /proc/1/exe")),
        "PID 1 is {}: {out}",
        init.display()
    );

    // `sleep` as PID 1 would ignore SIGTERM (no handler, and PID 1 gets no default action):
    // the init forwards it, so `stop` does not wait out its timeout.
    env.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "term",
        &bb.reference(),
        "sleep",
        "1000",
    ]);
    let started = Instant::now();
    env.ok(&["stop", "-t", "30", "term"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stop took {:?}",
        started.elapsed()
    );
    let c = inspect_container(&env, "term");
    assert_eq!(c["State"]["ExitCode"], 143, "{:#}", c["State"]);
    env.ok(&["rm", "term"]);
}

fn sha256_file(path: &std::path::Path) -> String {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    images::sha256_digest(&data)
        .trim_start_matches("sha256:")
        .to_string()
}
