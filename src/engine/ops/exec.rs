//! `exec`: run a process inside a running container.
//!
//! In the foreground the calling process is the new process's parent: it relays its stdio
//! (through pipes, or a pseudo-terminal with `-t`), forwards the signals it receives, reaps it
//! and returns its exit code. No host descriptor is handed to the container as is, so a
//! process inside cannot reach the caller's terminal.
//!
//! Detached (`-d`), a short-lived helper (this binary, re-executed) starts the process and
//! exits at once: the process is orphaned and reparented to init (or the nearest child
//! subreaper), which reaps it. That is the double fork, done with exec so the helper is a
//! fresh single-threaded process whatever the caller is; the container's monitor is not
//! involved, so exec sessions outlive neither more nor less than the container (its PID
//! namespace ends with its init).

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2, read};

use super::tenant::{self, TenantIo, TenantPlan};
use crate::engine::{Engine, EngineError, Result, io_err};
use crate::spec;
use crate::state::ContainerStatus;
use crate::sys::{process, tty};

/// What `exec` runs and how.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// `KEY=VALUE` entries added to the container's environment (replacing the same keys).
    pub env: Vec<String>,
    /// `-u`: `user[:group]` (names or IDs), resolved against the container's own files; the
    /// container's user when unset.
    pub user: Option<String>,
    /// `-w`: the working directory; the container's when unset, relative to it when relative.
    pub workdir: Option<PathBuf>,
    /// `-i`: give the process this process's stdin (otherwise it gets an empty one).
    pub interactive: bool,
    /// `-t`: run it on a new pseudo-terminal; with `interactive`, this process's stdin must
    /// be a terminal.
    pub tty: bool,
}

/// After the process exits, how long output still held open by its own children is relayed:
/// at most this long in all, and only while it keeps coming.
const DRAIN_MAX: Duration = Duration::from_secs(1);
const DRAIN_IDLE: Duration = Duration::from_millis(100);

/// Signals the foreground caller passes on to the process.
fn forwarded_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    set
}

/// Replace `key` in a `KEY=VALUE` list, or append it.
fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

fn has_env(env: &[String], key: &str) -> bool {
    env.iter()
        .any(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
}

/// `.` and `..` resolved lexically; the result is absolute.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Check that `program` resolves to an executable file in the container, as `execvp` would
/// search for it, so a typo gets exit 127 (not found) or 126 (not executable) and a clear
/// line instead of the runtime's flat error.
pub(crate) fn check_program(
    rootfs: &Path,
    program: &str,
    env: &[String],
    cwd: &Path,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(spec::DEFAULT_PATH);
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![cwd.join(program)]
    } else {
        path_var
            .split(':')
            // An empty PATH entry means the working directory, as execvp reads it.
            .map(|dir| cwd.join(dir).join(program))
            .collect()
    };
    let mut not_executable = None;
    for candidate in &candidates {
        let Ok(host) = spec::resolve_in_rootfs(rootfs, &normalize(candidate)) else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(&host) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Ok(());
        }
        not_executable.get_or_insert_with(|| normalize(candidate));
    }
    match not_executable {
        Some(path) => Err(EngineError::NotExecutable(format!(
            "{}: permission denied: the file is not an executable",
            path.display()
        ))),
        None => Err(EngineError::CommandNotFound(format!(
            "{program}: executable file not found in $PATH: no such file or directory"
        ))),
    }
}

impl Engine {
    /// Where exec keeps its short-lived files (process JSON, console sockets, plans).
    /// Files there are named by [`crate::sys::fs::temp_sibling`], so those of a command that
    /// was killed are recognised and swept by the next one.
    fn exec_scratch_dir(&self) -> Result<PathBuf> {
        let dir = self.paths.runroot.join("exec");
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if crate::sys::fs::is_stale_temp(&entry.file_name().to_string_lossy()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(dir)
    }

    /// Check the container and the request, and describe the process for the runtime.
    fn exec_plan(&mut self, name_or_id: &str, opts: &ExecOptions) -> Result<TenantPlan> {
        let Some(program) = opts.command.first() else {
            return Err(EngineError::Invalid(
                "exec needs a command to run in the container".into(),
            ));
        };
        let record = self.find_container(name_or_id)?;
        match record.status {
            ContainerStatus::Running => {}
            ContainerStatus::Paused => {
                return Err(EngineError::Conflict(format!(
                    "cannot exec in container {}: it is paused; unpause it first",
                    record.name
                )));
            }
            status => {
                return Err(EngineError::Conflict(format!(
                    "cannot exec in container {}: it is {}; only running containers can run \
                     more processes",
                    record.name,
                    status.as_str()
                )));
            }
        }
        let spec = Self::spec_of(&record)?;
        if let Some(runtime) = spec
            .runtime
            .as_deref()
            .filter(|r| *r != crate::runtime::BUILTIN)
        {
            return Err(EngineError::Invalid(format!(
                "cannot exec in container {}: exec is not implemented yet for containers on an \
                 external runtime ({runtime})",
                record.name
            )));
        }
        let dir = self.container_dir(&record.id);
        let config_path = dir.config();
        let config = oci_spec::runtime::Spec::load(&config_path)
            .map_err(|e| EngineError::Invalid(format!("{}: {e}", config_path.display())))?;
        let mut process = config.process().clone().ok_or_else(|| {
            EngineError::Invalid(format!("{}: has no process", config_path.display()))
        })?;
        let rootfs = dir.merged();
        let invalid = |e: spec::SpecError| EngineError::Invalid(e.to_string());

        let mut env = process.env().clone().unwrap_or_default();
        if let Some(user) = &opts.user {
            let resolved = spec::resolve_user(&rootfs, Some(user)).map_err(invalid)?;
            let mut u = process.user().clone();
            u.set_uid(resolved.uid);
            u.set_gid(resolved.gid);
            u.set_additional_gids(
                (!resolved.additional_gids.is_empty()).then_some(resolved.additional_gids),
            );
            u.set_username(None);
            process.set_user(u);
            // The new user's home, unless the container's or this command's own settings
            // name one.
            if !has_env(&spec.env, "HOME") && !has_env(&opts.env, "HOME") {
                set_env(&mut env, "HOME", &resolved.home);
            }
        }
        for entry in &opts.env {
            match entry.split_once('=') {
                Some((k, v)) if !k.is_empty() => set_env(&mut env, k, v),
                _ => {
                    return Err(EngineError::Invalid(format!(
                        "invalid environment variable {entry:?}: expected KEY=VALUE"
                    )));
                }
            }
        }
        if opts.tty && !has_env(&env, "TERM") {
            set_env(&mut env, "TERM", "xterm");
        }

        let cwd = match &opts.workdir {
            Some(dir) => normalize(&process.cwd().join(dir)),
            None => process.cwd().clone(),
        };
        let cwd_is_dir = spec::resolve_in_rootfs(&rootfs, &cwd)
            .and_then(std::fs::metadata)
            .is_ok_and(|m| m.is_dir());
        if !cwd_is_dir {
            return Err(EngineError::Invalid(format!(
                "working directory {} does not exist in container {} (or is not a directory)",
                cwd.display(),
                record.name
            )));
        }
        check_program(&rootfs, program, &env, &cwd)?;

        process.set_args(Some(opts.command.clone()));
        process.set_env(Some(env));
        process.set_cwd(cwd);
        process.set_terminal(Some(opts.tty));
        process.set_console_size(None);
        let seccomp = config.linux().as_ref().and_then(|l| l.seccomp().clone());
        if seccomp.as_ref().is_some_and(tenant::needs_listener) {
            return Err(EngineError::Invalid(format!(
                "cannot exec in container {}: its seccomp profile notifies a listener, which \
                 exec does not support",
                record.name
            )));
        }
        Ok(TenantPlan::new(&record.id, process, seccomp))
    }

    /// Run a process in a running container in the foreground: its output goes to this
    /// process's stdout and stderr (and, with `interactive`, this process's stdin to it);
    /// SIGINT, SIGTERM and friends received meanwhile are passed on. Returns its exit code
    /// (128 + the signal for a process killed by one).
    ///
    /// Must be called from a single-threaded process: the runtime clones it. The calling
    /// process ignores SIGPIPE from then on (a reader of its output that goes away is handled
    /// per stream).
    pub fn exec(&mut self, name_or_id: &str, opts: &ExecOptions) -> Result<i32> {
        // As Docker: typing into the container's terminal needs one here. (`-t` alone reads
        // nothing from stdin, so it works from a script as `run -t` does.)
        let stdin = std::io::stdin();
        if opts.tty && opts.interactive && !tty::is_terminal(stdin.as_fd()) {
            return Err(EngineError::Invalid(
                "the input device is not a TTY: -it needs a terminal on standard input; leave \
                 out -t to pipe input in with -i"
                    .into(),
            ));
        }
        let plan = self.exec_plan(name_or_id, opts)?;
        let scratch = self.exec_scratch_dir()?;

        // Blocked before the process exists, so a ^C during the start is passed on, not lost.
        // The process itself starts with a clean mask (see the tenant executor).
        let mask = forwarded_signals();
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| io_err(&scratch)(e.into()))?;
        let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
        // A reader that went away shows as EPIPE, handled per stream.
        crate::sys::signal::ignore_sigpipe();

        let result = if opts.tty {
            self.exec_on_terminal(&plan, opts, &signals)
        } else {
            self.exec_on_pipes(&plan, opts, &signals)
        };
        let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&mask), None);
        result
    }

    fn exec_on_pipes(
        &mut self,
        plan: &TenantPlan,
        opts: &ExecOptions,
        signals: &SignalFd,
    ) -> Result<i32> {
        let scratch = self.exec_scratch_dir()?;
        let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| io_err(&scratch)(e.into()));
        let (stdin_read, stdin_write) = if opts.interactive {
            let (r, w) = pipe()?;
            (r, Some(w))
        } else {
            let null = std::fs::File::open("/dev/null").map_err(io_err(Path::new("/dev/null")))?;
            (OwnedFd::from(null), None)
        };
        let (out_read, out_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        let pid = tenant::spawn(
            &self.runtime_state_root(),
            &scratch,
            plan,
            TenantIo::Pipes {
                stdin: stdin_read,
                stdout: out_write,
                stderr: err_write,
            },
        )
        .map_err(|e| start_failed(plan, e))?;
        let input = stdin_write.map(|target| Input {
            target: Some(target),
            close_on_eof: true,
            eof: false,
        });
        relay(
            pid,
            signals,
            input,
            vec![(out_read, Sink::Stdout), (err_read, Sink::Stderr)],
            None,
        )
        .map_err(io_err(&scratch))
    }

    fn exec_on_terminal(
        &mut self,
        plan: &TenantPlan,
        opts: &ExecOptions,
        signals: &SignalFd,
    ) -> Result<i32> {
        let scratch = self.exec_scratch_dir()?;
        let socket = crate::sys::fs::temp_sibling(&scratch.join("console.sock"));
        let listener = std::os::unix::net::UnixListener::bind(&socket).map_err(io_err(&socket))?;
        let started = tenant::spawn(
            &self.runtime_state_root(),
            &scratch,
            plan,
            TenantIo::Console {
                socket: socket.clone(),
            },
        );
        let master = started.map_err(|e| start_failed(plan, e)).and_then(|pid| {
            tty::receive_pty_master(&listener, Duration::from_secs(10))
                .map(|master| (pid, master))
                .map_err(io_err(&socket))
        });
        drop(listener);
        let _ = std::fs::remove_file(&socket);
        let (pid, master) = master?;
        let stdin = std::io::stdin();
        let stdout = std::io::stdout();
        resize(&master, &[stdin.as_fd(), stdout.as_fd()]);
        // Raw mode only when our keystrokes go in: ^C must reach the container's terminal
        // as a byte. Without -i the caller's terminal keeps generating SIGINT for us to pass on.
        let _raw = if opts.interactive {
            Some(tty::RawMode::enter(stdin.as_fd()).map_err(io_err(Path::new("/dev/stdin")))?)
        } else {
            None
        };
        let input = if opts.interactive {
            Some(Input {
                target: Some(master.try_clone().map_err(io_err(&socket))?),
                close_on_eof: false,
                eof: false,
            })
        } else {
            None
        };
        let output = master.try_clone().map_err(io_err(&socket))?;
        relay(
            pid,
            signals,
            input,
            vec![(output, Sink::Stdout)],
            Some(&master),
        )
        .map_err(io_err(&socket))
    }

    /// Start a process in a running container and return at once, with its pid (in this
    /// host's PID namespace). Its stdio is `/dev/null`; a terminal (`tty`) is refused, since
    /// nothing would hold it. See the module doc for how it is reaped.
    pub fn exec_detached(&mut self, name_or_id: &str, opts: &ExecOptions) -> Result<i32> {
        if opts.tty {
            return Err(EngineError::Invalid(
                "-t cannot be combined with -d: a detached exec has no one to hold its terminal"
                    .into(),
            ));
        }
        let plan = self.exec_plan(name_or_id, opts)?;
        let scratch = self.exec_scratch_dir()?;
        let plan_file = crate::sys::fs::temp_sibling(&scratch.join("plan.json"));
        let json = serde_json::to_vec(&plan).expect("an exec plan serialises");
        tenant::write_private(&plan_file, &json).map_err(io_err(&plan_file))?;
        let exe = std::env::current_exe().map_err(io_err(Path::new("/proc/self/exe")))?;
        let output = std::process::Command::new(&exe)
            .arg("--root")
            .arg(&self.paths.root)
            .arg("--runroot")
            .arg(&self.paths.runroot)
            .arg("container-exec-helper")
            .arg(&plan_file)
            .stdin(std::process::Stdio::null())
            .output();
        let _ = std::fs::remove_file(&plan_file);
        let output = output.map_err(io_err(&exe))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        match stdout.trim().parse::<i32>() {
            Ok(pid) if output.status.success() => Ok(pid),
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let message = stderr
                    .lines()
                    .map(|l| l.strip_prefix("Error: ").unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join("; ");
                // The helper's own error already says what it was starting, and where.
                Err(EngineError::Invalid(if message.is_empty() {
                    start_failed(&plan, format!("the exec helper failed ({})", output.status))
                        .to_string()
                } else {
                    message
                }))
            }
        }
    }

    /// The helper of [`Engine::exec_detached`]: start the process a plan file describes, with
    /// `/dev/null` as its stdio, and return its pid. The caller (this helper process) exits
    /// right after, orphaning the process.
    pub fn run_exec_helper(&mut self, plan_file: &Path) -> Result<i32> {
        let json = std::fs::read(plan_file).map_err(io_err(plan_file))?;
        let _ = std::fs::remove_file(plan_file);
        let plan: TenantPlan = serde_json::from_slice(&json)
            .map_err(|e| EngineError::Invalid(format!("{}: {e}", plan_file.display())))?;
        let null = |write: bool| -> Result<OwnedFd> {
            std::fs::OpenOptions::new()
                .read(!write)
                .write(write)
                .open("/dev/null")
                .map(OwnedFd::from)
                .map_err(io_err(Path::new("/dev/null")))
        };
        let io = TenantIo::Pipes {
            stdin: null(false)?,
            stdout: null(true)?,
            stderr: null(true)?,
        };
        tenant::spawn(
            &self.runtime_state_root(),
            &self.exec_scratch_dir()?,
            &plan,
            io,
        )
        .map_err(|e| start_failed(&plan, e))
    }
}

fn start_failed(plan: &TenantPlan, message: String) -> EngineError {
    EngineError::Invalid(format!(
        "starting {:?} in container {}: {message}",
        plan.process.args().clone().unwrap_or_default().join(" "),
        plan.container_id.get(..12).unwrap_or(&plan.container_id)
    ))
}

/// Give the container's terminal the size of the first of `from` that is a terminal.
fn resize(master: &OwnedFd, from: &[BorrowedFd<'_>]) {
    if let Some(size) = tty::first_window_size(from) {
        let _ = tty::set_window_size(master.as_fd(), size);
    }
}

/// Where relayed output goes.
#[derive(Clone, Copy)]
enum Sink {
    Stdout,
    Stderr,
}

impl Sink {
    fn write_all(self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(data).and_then(|_| out.flush())
            }
            Sink::Stderr => std::io::stderr().lock().write_all(data),
        }
    }
}

/// This process's stdin, copied to the process.
struct Input {
    /// The process's stdin pipe or terminal; `None` once closed.
    target: Option<OwnedFd>,
    /// Close the target at our EOF (a pipe: the process then reads EOF too).
    close_on_eof: bool,
    eof: bool,
}

/// Copy stdio between this process and process `pid` (our child) until it exits and its
/// output is drained, passing on the signals read from `signals`; reap it and return its exit
/// code. `terminal` is the pty master to resize on SIGWINCH.
fn relay(
    pid: i32,
    signals: &SignalFd,
    mut input: Option<Input>,
    mut outputs: Vec<(OwnedFd, Sink)>,
    terminal: Option<&OwnedFd>,
) -> std::io::Result<i32> {
    let pidfd = process::pidfd_open(pid)?;
    if let Some(target) = input.as_ref().and_then(|i| i.target.as_ref()) {
        // Never block on a process that does not read its input: poll for room instead.
        let flags = OFlag::from_bits_truncate(fcntl(target, FcntlArg::F_GETFL)?);
        fcntl(target, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut exited: Option<Instant> = None;
    let mut last_output = Instant::now();
    loop {
        if let Some(at) = exited {
            let now = Instant::now();
            if outputs.is_empty()
                || now >= at + DRAIN_MAX
                || now >= last_output.max(at) + DRAIN_IDLE
            {
                break;
            }
        }
        let want_input = input
            .as_ref()
            .is_some_and(|i| !i.eof && i.target.is_some() && pending.is_empty());
        let want_room = !pending.is_empty() && input.as_ref().is_some_and(|i| i.target.is_some());
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        let pid_slot = exited.is_none().then(|| {
            fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let stdin_slot = want_input.then(|| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let room_slot = if want_room {
            let target = input
                .as_ref()
                .and_then(|i| i.target.as_ref())
                .expect("checked");
            fds.push(PollFd::new(target.as_fd(), PollFlags::POLLOUT));
            Some(fds.len() - 1)
        } else {
            None
        };
        let first_output = fds.len();
        for (fd, _) in &outputs {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        let timeout = match exited {
            Some(at) => {
                let until = (at + DRAIN_MAX).min(last_output.max(at) + DRAIN_IDLE);
                let ms = until.saturating_duration_since(Instant::now()).as_millis() as i32;
                PollTimeout::try_from(ms.max(1)).unwrap_or(PollTimeout::ZERO)
            }
            None => PollTimeout::NONE,
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);

        if ready[0] {
            while let Ok(Some(info)) = signals.read_signal() {
                let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                match (signal, terminal) {
                    (Signal::SIGWINCH, Some(master)) => {
                        resize(master, &[stdin.as_fd(), stdout.as_fd()])
                    }
                    (Signal::SIGWINCH, None) => {}
                    _ if exited.is_none() => {
                        let _ = process::signal(pid, signal);
                    }
                    _ => {}
                }
            }
        }
        if pid_slot.is_some_and(|i| ready[i]) {
            exited = Some(Instant::now());
        }
        if stdin_slot.is_some_and(|i| ready[i])
            && let Some(inp) = input.as_mut()
        {
            match read(&stdin, &mut buf) {
                Ok(0) | Err(_) => {
                    inp.eof = true;
                    if inp.close_on_eof {
                        inp.target = None;
                    }
                }
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
        if room_slot.is_some_and(|i| ready[i])
            && let Some(inp) = input.as_mut()
            && let Some(target) = &inp.target
        {
            match nix::unistd::write(target, &pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                // The process closed its stdin or is gone: drop what it will never read.
                Err(_) => {
                    pending.clear();
                    inp.target = None;
                    inp.eof = true;
                }
            }
            if pending.is_empty() && inp.eof && inp.close_on_eof {
                inp.target = None;
            }
        }
        let mut closed = Vec::new();
        for (i, (fd, sink)) in outputs.iter().enumerate() {
            if !ready[first_output + i] {
                continue;
            }
            match read(fd, &mut buf) {
                Ok(0) => closed.push(i),
                Ok(n) => {
                    last_output = Instant::now();
                    // Our reader went away: close the pipe, so the process gets SIGPIPE as it
                    // would writing to a closed pipe itself.
                    if sink.write_all(&buf[..n]).is_err() {
                        closed.push(i);
                    }
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                // EIO: the terminal's last user closed it.
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            outputs.remove(i);
        }
    }
    let status = loop {
        match waitpid(Pid::from_raw(pid), None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    Ok(match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_entries_replace_in_place() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        set_env(&mut env, "A", "2");
        set_env(&mut env, "B", "x=y");
        assert_eq!(env, ["PATH=/bin", "A=2", "B=x=y"]);
        assert!(has_env(&env, "B"));
        assert!(!has_env(&env, "PAT"));
    }

    #[test]
    fn paths_normalise_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
        assert_eq!(normalize(Path::new("/../..")), Path::new("/"));
        assert_eq!(
            normalize(&Path::new("/work").join("sub")),
            Path::new("/work/sub")
        );
        assert_eq!(
            normalize(&Path::new("/work").join(Path::new("/abs").as_os_str())),
            Path::new("/abs")
        );
    }

    #[test]
    fn programs_are_found_as_execvp_would() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("bin")).unwrap();
        std::fs::create_dir_all(r.join("opt")).unwrap();
        std::fs::write(r.join("bin/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(r.join("bin/tool"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(r.join("opt/data"), "x").unwrap();
        symlink("/bin/tool", r.join("opt/link")).unwrap();
        let env = vec!["PATH=/usr/bin:/bin".to_string()];
        let cwd = Path::new("/opt");
        assert!(check_program(r, "tool", &env, cwd).is_ok());
        assert!(check_program(r, "/bin/tool", &env, cwd).is_ok());
        assert!(check_program(r, "./link", &env, cwd).is_ok());
        assert!(matches!(
            check_program(r, "nope", &env, cwd),
            Err(EngineError::CommandNotFound(_))
        ));
        assert!(matches!(
            check_program(r, "./data", &env, cwd),
            Err(EngineError::NotExecutable(_))
        ));
        assert!(matches!(
            check_program(r, "/opt", &env, cwd),
            Err(EngineError::NotExecutable(_))
        ));
    }
}
