//! A private oxpod installation per test: its own root, runroot, registries.conf and auth file.
#![allow(dead_code)]

use std::fs;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::registry::Registry;

/// How long one oxpod command may take before the test fails; `OXPOD_IT_TIMEOUT` (seconds)
/// overrides.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// After oxpod exits, how long its stdout/stderr may stay open (held by a child it left behind).
const PIPE_GRACE: Duration = Duration::from_secs(10);

pub struct Oxpod {
    /// `None` once dropped or kept.
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    timeout: Duration,
}

impl Oxpod {
    /// No registries configured (`unqualified-search-registries = []`).
    pub fn new() -> Oxpod {
        Self::with_registries(&[])
    }

    /// `reg` is the only search registry; plain-HTTP registries are marked insecure.
    pub fn with_registry(reg: &Registry) -> Oxpod {
        Self::with_registries(&[reg])
    }

    /// Searches the registries in order. TLS registries are not marked insecure; their CA is
    /// copied into [`Oxpod::certs_d`].
    pub fn with_registries(regs: &[&Registry]) -> Oxpod {
        let dir = tempfile::Builder::new()
            .prefix("oxpod-it.")
            .tempdir()
            .expect("create oxpod temp dir");
        let path = dir.path().to_owned();
        for sub in ["root", "runroot", "certs.d"] {
            fs::create_dir(path.join(sub)).unwrap_or_else(|e| panic!("create {sub}: {e}"));
        }
        let search: Vec<String> = regs.iter().map(|r| format!("{:?}", r.addr())).collect();
        let mut conf = format!("unqualified-search-registries = [{}]\n", search.join(", "));
        for reg in regs {
            conf.push_str(&format!(
                "\n[[registry]]\nlocation = {:?}\ninsecure = {}\n",
                reg.addr(),
                !reg.is_tls()
            ));
            if reg.is_tls() {
                let host = path.join("certs.d").join(reg.addr());
                fs::create_dir_all(&host).expect("create certs.d host dir");
                fs::copy(reg.ca_cert_path(), host.join("ca.crt")).expect("copy ca.crt");
            }
        }
        fs::write(path.join("registries.conf"), conf).expect("write registries.conf");
        let timeout = std::env::var("OXPOD_IT_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        Oxpod {
            dir: Some(dir),
            path,
            timeout,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn root(&self) -> PathBuf {
        self.path.join("root")
    }

    pub fn runroot(&self) -> PathBuf {
        self.path.join("runroot")
    }

    pub fn registries_conf(&self) -> PathBuf {
        self.path.join("registries.conf")
    }

    /// `REGISTRY_AUTH_FILE`; does not exist until something logs in.
    pub fn auth_file(&self) -> PathBuf {
        self.path.join("auth.json")
    }

    /// certs.d layout (`<dir>/127.0.0.1:PORT/ca.crt`) for the TLS registries given at creation.
    pub fn certs_d(&self) -> PathBuf {
        self.path.join("certs.d")
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// `oxpod --root R --runroot RR ARGS...` with this environment's config.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxpod"));
        cmd.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", self.registries_conf())
            .env("REGISTRY_AUTH_FILE", self.auth_file())
            .env("NO_COLOR", "1")
            .env_remove("OXPOD_ROOT");
        cmd
    }

    /// Runs to completion (bounded by the timeout), stdin empty, output captured.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_cmd(self.cmd(args), None)
    }

    /// Like [`Oxpod::run`], feeding `input` on stdin (e.g. `kube play -`).
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        self.run_cmd(self.cmd(args), Some(input))
    }

    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_success(args, &out);
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    pub fn ok_with_stdin(&self, args: &[&str], input: &[u8]) -> String {
        let out = self.run_with_stdin(args, input);
        assert_success(args, &out);
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Asserts a non-zero exit (not a crash by signal) and returns (code, stderr).
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => panic!(
                "oxpod {args:?} succeeded but should have failed\nstdout:\n{}\nstderr:\n{stderr}",
                String::from_utf8_lossy(&out.stdout)
            ),
            Some(code) => (code, stderr),
            None => panic!(
                "oxpod {args:?} was killed by {:?}\nstderr:\n{stderr}",
                out.status
            ),
        }
    }

    /// Runs `cmd` with stdout/stderr captured. Pipes are drained by threads so a chatty command
    /// never blocks; a command that outlives the timeout is killed and the test fails, and so
    /// does one whose pipes stay open after it exits (a child it left behind inherited them).
    pub fn run_cmd(&self, mut cmd: Command, input: Option<&[u8]>) -> Output {
        enum Event {
            Stdout(Vec<u8>),
            Stderr(Vec<u8>),
            Exit(std::io::Result<ExitStatus>),
        }
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let pid = child.id();
        if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let (tx, rx) = mpsc::channel();
        let reader = |mut pipe: Box<dyn std::io::Read + Send>, wrap: fn(Vec<u8>) -> Event| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send(wrap(buf));
            });
        };
        reader(Box::new(child.stdout.take().unwrap()), Event::Stdout);
        reader(Box::new(child.stderr.take().unwrap()), Event::Stderr);
        std::thread::spawn(move || {
            let _ = tx.send(Event::Exit(child.wait()));
        });

        let start = Instant::now();
        let mut deadline = start + self.timeout;
        let (mut stdout, mut stderr, mut status) = (None, None, None);
        let mut failure = None;
        while stdout.is_none() || stderr.is_none() || status.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Event::Stdout(b)) => stdout = Some(b),
                Ok(Event::Stderr(b)) => stderr = Some(b),
                Ok(Event::Exit(s)) => {
                    status = Some(s.unwrap_or_else(|e| panic!("wait for {cmd:?}: {e}")));
                    deadline = deadline.min(Instant::now() + PIPE_GRACE);
                }
                Err(_) if failure.is_some() => break,
                Err(_) => {
                    failure = Some(if status.is_some() {
                        "exited, but its stdout/stderr stayed open: a process it started \
                         inherited them"
                            .to_owned()
                    } else {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                        format!("timed out after {:?} and was killed", self.timeout)
                    });
                    // Collect what is left so the failure shows the output so far.
                    deadline = Instant::now() + Duration::from_secs(2);
                }
            }
        }
        let text = |b: &Option<Vec<u8>>| {
            b.as_deref()
                .map_or("<pipe still open>".into(), String::from_utf8_lossy)
                .into_owned()
        };
        if let Some(failure) = failure {
            panic!(
                "{cmd:?} {failure}\nstdout:\n{}\nstderr:\n{}",
                text(&stdout),
                text(&stderr)
            );
        }
        Output {
            status: status.unwrap(),
            stdout: stdout.unwrap(),
            stderr: stderr.unwrap(),
        }
    }

    /// Keeps the directory for inspection after the test (also with `OXPOD_IT_KEEP=1`).
    pub fn keep(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        self.path.clone()
    }
}

impl Default for Oxpod {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Oxpod {
    fn drop(&mut self) {
        if std::env::var_os("OXPOD_IT_KEEP").is_some() {
            eprintln!("OXPOD_IT_KEEP: leaving {}", self.keep().display());
            return;
        }
        if self.dir.is_none() {
            return;
        }
        kill_processes_under(&self.path);
        unmount_under(&self.path);
        remove_container_cgroups(&self.root());
        // TempDir's drop removes the tree and ignores errors.
        self.dir.take();
    }
}

/// Remove the cgroups (`/sys/fs/cgroup/<hierarchy>/oxpod/<id>`) of every container this root
/// knew, so a test that ends with containers still running leaves nothing on the host.
pub fn remove_container_cgroups(root: &Path) {
    let Ok(containers) = std::fs::read_dir(root.join("containers")) else {
        return;
    };
    let ids: Vec<String> = containers
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let hierarchies: Vec<PathBuf> = hierarchies.flatten().map(|e| e.path()).collect();
    for id in &ids {
        for hierarchy in &hierarchies {
            let dir = hierarchy.join("oxpod").join(id);
            // Processes were killed just before; give the kernel a moment to let go.
            for _ in 0..20 {
                if !dir.exists() || std::fs::remove_dir(&dir).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn assert_success(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "oxpod {args:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
        describe(out.status),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// SIGKILLs every process whose command line, root or cwd lies under `dir`: monitors and
/// containers a failed test left behind. The directory name is random, so nothing else matches.
pub fn kill_processes_under(dir: &Path) {
    let me = std::process::id();
    let mut prefix = dir.as_os_str().as_bytes().to_vec();
    prefix.push(b'/');
    let under = |p: &Path| {
        let b = p.as_os_str().as_bytes();
        b == dir.as_os_str().as_bytes() || b.starts_with(&prefix)
    };
    let Ok(procs) = fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == me {
            continue;
        }
        let proc_dir = entry.path();
        let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        let in_cmdline = cmdline
            .split(|&b| b == 0)
            .any(|arg| arg == dir.as_os_str().as_bytes() || contains(arg, &prefix));
        let in_links = ["root", "cwd"]
            .iter()
            .any(|l| fs::read_link(proc_dir.join(l)).is_ok_and(|t| under(&t)));
        if in_cmdline || in_links {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Lazily unmounts everything mounted at or below `dir` in our mount namespace, deepest first.
pub fn unmount_under(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    // Later mounts may sit on top of earlier ones at the same place: undo in reverse order.
    points.reverse();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// mountinfo writes space, tab, newline and backslash as `\NNN` octal.
fn unescape_mountinfo(s: &str) -> std::ffi::OsString {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::ffi::OsStr::from_bytes(&out).to_owned()
}
