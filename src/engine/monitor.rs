//! The per-container monitor: the `oxpod` binary re-executed under a hidden subcommand, one
//! per running container. It is the parent and reaper of the container's init, owns its
//! stdio (pipes, or the master of its terminal) and log, runs its health checks, records its
//! exit, applies the restart policy, and exits with the container's exit code.
//!
//! It stays single-threaded, because the built-in runtime clones it: one `poll` loop waits on
//! the signalfd, the container's output, the attached caller's input and a health check's
//! output, with a timeout for the next health check or a check's deadline. Kubernetes probes
//! and hooks ([`super::lifecycle`]) ride on the same loop: their exec processes are reaped
//! here, and a network probe's short-lived thread (which never forks) signals its end through
//! a pipe the loop polls.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::{Pid, pipe2, read};

use super::lifecycle::{KubeProbes, ProbeToken};
use super::{Engine, EngineError, Result};
use crate::image::manifest::ImageConfig;
use crate::runtime::ContainerIo;
use crate::runtime::OciRuntime;
use crate::runtime::cgroups::{self, CgroupLayout};
use crate::runtime::health::{self, CheckProcess, HealthLogEntry, HealthState, HealthStatus};
use crate::runtime::logs::{LogWriter, Stream};
use crate::spec::{ContainerSpec, HealthCheck, ImageDefaults, RestartPolicy};
use crate::state::containers::write;
use crate::state::{ContainerRecord, ContainerStatus};
use crate::storage::ContainerDir;
use crate::sys::process;
use crate::sys::tty;

/// How long a monitor runs before it releases its start-up pages.
const IDLE_BEFORE_TRIM: Duration = Duration::from_secs(1);

/// How the monitor was started.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorOptions {
    /// Descriptor to report "ok PID" or "error MESSAGE" on, then close.
    pub ready_fd: Option<i32>,
    /// Copy the container's output to the monitor's own stdout/stderr (the attached CLI's)
    /// and give it the monitor's stdin.
    pub attach: bool,
}

/// What `healthcheck run` reports.
#[derive(Debug, Clone)]
pub struct HealthCheckReport {
    /// The container's health after this check.
    pub status: HealthStatus,
    /// This check's result.
    pub result: HealthLogEntry,
}

/// Signals the monitor handles itself; the rest keep their defaults.
fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
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

/// Where one run of the container ended.
struct RunEnd {
    exit_code: i32,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// The back-off before restart number `n` (1-based): 100 ms doubling, at most 5 s.
fn restart_delay(n: u32) -> Duration {
    Duration::from_millis(
        100u64
            .saturating_mul(1 << n.saturating_sub(1).min(6))
            .min(5_000),
    )
}

/// Whether the policy restarts after an exit with `code`, this being the `restarts`-th
/// restart already done.
pub fn should_restart(
    policy: &RestartPolicy,
    code: i32,
    restarts: u32,
    stop_requested: bool,
) -> bool {
    if stop_requested {
        return false;
    }
    match policy {
        RestartPolicy::No => false,
        RestartPolicy::OnFailure { max_retries } => {
            code != 0 && max_retries.is_none_or(|max| restarts < max)
        }
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
    }
}

/// The init `--init` runs as the container's PID 1: catatonit (Podman's choice), else tini.
/// Statically linked builds come first: the binary is bind-mounted into images that may have
/// no C library.
pub(crate) fn find_init_binary() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    const PLACES: &[&str] = &[
        "/usr/libexec/podman/catatonit",
        "/usr/bin/catatonit",
        "/usr/libexec/catatonit/catatonit",
        "/usr/local/bin/catatonit",
        "/usr/bin/tini-static",
        "/usr/local/bin/tini-static",
        "/usr/bin/tini",
        "/usr/local/bin/tini",
        "/sbin/tini",
    ];
    let executable = |p: &PathBuf| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    PLACES
        .iter()
        .map(PathBuf::from)
        .chain(
            ["catatonit", "tini-static", "tini"]
                .iter()
                .flat_map(|name| {
                    on_path
                        .iter()
                        .map(move |dir| dir.join(name))
                        .collect::<Vec<_>>()
                }),
        )
        .find(executable)
}

struct Ready(Option<std::fs::File>);

impl Ready {
    fn say(&mut self, message: &str) {
        if let Some(mut file) = self.0.take() {
            let _ = file.write_all(message.as_bytes());
        }
    }
}

/// The container's side of one run: its output streams, and its terminal when it has one.
struct RunIo {
    /// stdout and stderr pipes; or, with a terminal, its master (as stdout) alone.
    outputs: [Option<(OwnedFd, Stream)>; 2],
    terminal: Option<TerminalIo>,
    /// Holds the write end of an `-i` container's stdin pipe open while it runs.
    keep_stdin_open: Option<OwnedFd>,
}

/// The master of the container's terminal, for input and resizes (a second descriptor: the
/// output side may close on a hang-up while input still has somewhere to go).
struct TerminalIo {
    master: OwnedFd,
    /// Copy the monitor's stdin (the attached caller's) into the terminal.
    read_stdin: bool,
    /// Input read but not yet written: the master is non-blocking, and a full terminal
    /// input queue must not stall the loop.
    pending: Vec<u8>,
}

/// The health check of one run: when the next check is due, and the one running.
struct Prober {
    check: HealthCheck,
    args: Vec<String>,
    process: CheckProcess,
    state_root: PathBuf,
    next: Instant,
    running: Option<health::RunningCheck>,
}

/// What the poll loop waits on, slot by slot.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Signals,
    Output(usize),
    Stdin,
    TerminalInput,
    CheckOutput,
    Kube(ProbeToken),
}

/// Bind the console socket the runtime sends the terminal's master over, in the bundle
/// directory. A socket path holds at most 108 bytes and runroots can be deep, so it is bound
/// by its relative name from inside the directory (the monitor is single-threaded; its
/// working directory is `/` otherwise).
fn bind_console_socket(dir: &Path) -> std::io::Result<(UnixListener, PathBuf)> {
    let path = dir.join("console.sock");
    let _ = std::fs::remove_file(&path);
    std::env::set_current_dir(dir)?;
    let bound = UnixListener::bind("console.sock");
    let _ = std::env::set_current_dir("/");
    Ok((bound?, path))
}

/// Record the caller's window size as the bundle's `process.consoleSize`, so the container's
/// terminal has the right size before its process starts (the runtime applies it).
fn set_console_size(config: &Path, size: tty::WindowSize) -> std::io::Result<()> {
    let data = std::fs::read(config)?;
    let mut spec: serde_json::Value = serde_json::from_slice(&data)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    if let Some(process) = spec.get_mut("process").and_then(|p| p.as_object_mut()) {
        process.insert(
            "consoleSize".into(),
            serde_json::json!({"height": size.rows, "width": size.cols}),
        );
    }
    let json = serde_json::to_vec_pretty(&spec).expect("a JSON value serialises");
    crate::sys::fs::write_replace(config, &json, 0o600)
}

/// The size of the attached caller's terminal (its stdin, else its stdout).
fn caller_window_size() -> Option<tty::WindowSize> {
    tty::first_window_size(&[std::io::stdin().as_fd(), std::io::stdout().as_fd()])
}

/// Whether `pid` (our child) has exited but is not reaped yet.
fn exited_unreaped(pid: i32) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    matches!(
        waitid(Id::Pid(Pid::from_raw(pid)), flags),
        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..))
    )
}

/// A poll timeout for `d`, rounded up so an almost-due wake-up does not spin.
fn poll_timeout(d: Duration) -> PollTimeout {
    let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

impl Engine {
    /// Run as the monitor of container `id` until it exits for good; returns the exit code to
    /// exit with.
    pub fn run_monitor(&mut self, id: &str, opts: MonitorOptions) -> Result<i32> {
        let ready_file = opts
            .ready_fd
            .map(crate::sys::fs::adopt_inherited_fd)
            .map(std::fs::File::from);
        let mut ready = Ready(ready_file);
        let _ = std::env::set_current_dir("/");
        // A session of its own: the terminal's signals go to the CLI, which forwards them.
        let _ = nix::unistd::setsid();
        crate::sys::signal::ignore_sigpipe();
        let _ = process::become_subreaper();
        let mask = handled_signals();
        let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
        let signals =
            match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
                Ok(fd) => fd,
                Err(e) => {
                    ready.say(&format!("error monitor: signalfd: {e}"));
                    return Ok(125);
                }
            };
        let record = match self.store.container(id)? {
            Some(r) => r,
            None => {
                ready.say("error monitor: the container was removed");
                return Ok(125);
            }
        };
        let spec = Self::spec_of(&record)?;
        let runtime = match crate::runtime::runtime_for(&spec, &self.runtime_state_root()) {
            Ok(runtime) => runtime,
            Err(e) => {
                ready.say(&format!("error {e}"));
                return Ok(125);
            }
        };
        let health_check = self.effective_healthcheck(&record, &spec);
        let dir = self.container_dir(id);
        let layout = CgroupLayout::detect().ok();
        let cgroup = Self::cgroup_path(id);
        let mut log = match LogWriter::open(&dir.log()) {
            Ok(log) => log,
            Err(e) => {
                ready.say(&format!("error {e}"));
                return Ok(125);
            }
        };
        let monitor_pid = std::process::id() as i32;
        let monitor_start = process::start_time(monitor_pid).unwrap_or_default();
        let mut restarts = record.restart_count;
        let mut first = true;
        let final_code = loop {
            let (pid, io) = match self.launch(id, &spec, runtime.as_ref(), &dir, opts.attach) {
                Ok(launched) => launched,
                Err(e) => {
                    reap_all();
                    if first {
                        ready.say(&format!("error {e}"));
                        break 125;
                    }
                    // A restart that cannot start ends the restarts.
                    let _ = log.write(
                        Stream::Stderr,
                        format!("oxpod: restart failed: {e}\n").as_bytes(),
                    );
                    break 125;
                }
            };
            let started_at = now();
            self.store.write(|tx| {
                write::set_running(tx, id, pid, monitor_pid, monitor_start, &started_at)
            })?;
            let mut prober = self.start_health(id, &spec, health_check.as_ref(), &dir)?;
            let mut kube = self.start_kube_probes(&record, &spec, pid, first, &mut log);
            if first {
                ready.say(&format!("ok {pid}\n"));
                first = false;
            }
            let end = self.relay(
                id,
                pid,
                &signals,
                io,
                &mut log,
                opts.attach,
                &mut prober,
                &mut kube,
            );
            let _ = log.flush_partial();
            // A probe's kill is a failure whatever the exit code, as the kubelet restarts
            // `OnFailure` containers whose liveness probe failed.
            let probe_killed = kube.as_ref().is_some_and(|k| k.killed);
            let oom = layout
                .as_ref()
                .is_some_and(|l| cgroups::oom_killed(l, &cgroup));
            if let Err(e) = runtime.delete(id, true) {
                tracing::warn!("{e}");
            }
            let finished = now();
            self.store
                .write(|tx| write::set_exited(tx, id, end.exit_code, oom, &finished))?;
            // Once exited in the store, so that Services drop the pod if it was ready.
            if let Some(kube) = kube.take() {
                self.end_kube_probes(id, kube);
            }
            let current = self.store.container(id)?;
            let stop_requested = current.as_ref().is_none_or(|c| c.stop_requested);
            let policy_code = if probe_killed && end.exit_code == 0 {
                1
            } else {
                end.exit_code
            };
            if !should_restart(&spec.restart, policy_code, restarts, stop_requested) {
                break end.exit_code;
            }
            restarts += 1;
            self.store
                .write(|tx| write::set_restart_count(tx, id, restarts))?;
            // Wait out the back-off, unless asked to stop meanwhile.
            if wait_signal(&signals, restart_delay(restarts)) {
                break end.exit_code;
            }
        };
        if let Err(e) = dir.unmount_rootfs() {
            tracing::warn!("{e}");
        }
        if let Some(layout) = &layout {
            let _ = cgroups::remove(layout, &cgroup);
        }
        self.release_container_sandbox(id);
        self.store.write(|tx| write::clear_monitor(tx, id))?;
        if spec.auto_remove
            && let Err(e) = self.remove_container(id, true, true)
        {
            tracing::warn!("removing {}: {e}", record.name);
        }
        Ok(final_code)
    }

    /// Start one run of the container with its stdio wired: pipes, or a terminal whose
    /// master comes back over the console socket. Returns the init's pid.
    fn launch(
        &self,
        id: &str,
        spec: &ContainerSpec,
        runtime: &dyn OciRuntime,
        dir: &ContainerDir,
        attach: bool,
    ) -> std::result::Result<(i32, RunIo), String> {
        if !spec.tty {
            let (stdin, keep_stdin_open) = self
                .container_stdin(spec, attach)
                .map_err(|e| format!("container stdin: {e}"))?;
            let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"));
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            let io = ContainerIo::Pipes {
                stdin,
                stdout: out_w,
                stderr: err_w,
            };
            let pid = runtime
                .run(id, dir.bundle(), io)
                .map_err(|e| e.to_string())?;
            return Ok((
                pid,
                RunIo {
                    outputs: [Some((out_r, Stream::Stdout)), Some((err_r, Stream::Stderr))],
                    terminal: None,
                    keep_stdin_open,
                },
            ));
        }
        if attach && let Some(size) = caller_window_size() {
            let config = dir.config();
            set_console_size(&config, size).map_err(|e| format!("{}: {e}", config.display()))?;
        }
        let (listener, socket) = bind_console_socket(dir.bundle())
            .map_err(|e| format!("{}: {e}", dir.bundle().join("console.sock").display()))?;
        let started = runtime.run(
            id,
            dir.bundle(),
            ContainerIo::Terminal {
                console_socket: socket.clone(),
            },
        );
        let master = started.map_err(|e| e.to_string()).and_then(|pid| {
            tty::receive_pty_master(&listener, Duration::from_secs(10))
                .map(|master| (pid, master))
                .map_err(|e| {
                    let _ = process::signal(pid, Signal::SIGKILL);
                    let _ = waitpid(Pid::from_raw(pid), None);
                    let _ = runtime.delete(id, true);
                    format!("receiving the container's terminal: {e}")
                })
        });
        let _ = std::fs::remove_file(&socket);
        let (pid, master) = master?;
        let _ = nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        let input = master
            .try_clone()
            .map_err(|e| format!("the container's terminal: {e}"))?;
        Ok((
            pid,
            RunIo {
                outputs: [Some((master, Stream::Stdout)), None],
                terminal: Some(TerminalIo {
                    master: input,
                    read_stdin: attach && spec.stdin,
                    pending: Vec::new(),
                }),
                keep_stdin_open: None,
            },
        ))
    }

    /// The container's stdin: the attached caller's, an open pipe for `-i` without one, or
    /// /dev/null. The second value keeps a pipe's write end open while the container runs.
    fn container_stdin(
        &self,
        spec: &crate::spec::ContainerSpec,
        attach: bool,
    ) -> std::io::Result<(OwnedFd, Option<OwnedFd>)> {
        if spec.stdin && attach {
            return Ok((std::io::stdin().as_fd().try_clone_to_owned()?, None));
        }
        if spec.stdin {
            let (r, w) = pipe2(OFlag::O_CLOEXEC)?;
            return Ok((r, Some(w)));
        }
        Ok((std::fs::File::open("/dev/null")?.into(), None))
    }

    /// The health check a container runs: its own, else its image's; none when switched off.
    pub(crate) fn effective_healthcheck(
        &self,
        record: &ContainerRecord,
        spec: &ContainerSpec,
    ) -> Option<HealthCheck> {
        let image = if spec.healthcheck.is_some() {
            None
        } else {
            self.store
                .image(&record.image_id)
                .ok()
                .flatten()
                .and_then(|i| serde_json::from_slice::<ImageConfig>(&i.config).ok())
                .and_then(|c| ImageDefaults::from_config(c.config.as_ref()).ok())
                .and_then(|d| d.healthcheck)
        };
        health::effective(spec.healthcheck.as_ref(), image.as_ref())
    }

    /// Set a new run's health to `starting` (or clear it when there is no check) and schedule
    /// the first check an interval from now, as Docker does.
    fn start_health(
        &mut self,
        id: &str,
        spec: &ContainerSpec,
        check: Option<&HealthCheck>,
        dir: &ContainerDir,
    ) -> Result<Option<Prober>> {
        let builtin = spec
            .runtime
            .as_deref()
            .is_none_or(|r| r == crate::runtime::BUILTIN);
        let check = match check {
            Some(check) if builtin => check,
            other => {
                if other.is_some() {
                    tracing::warn!("health checks run on the built-in runtime only");
                }
                self.store.write(|tx| -> Result<()> {
                    if let Some(c) = write::get(tx, id)?
                        && c.health.is_some()
                    {
                        let log = c.health_log.as_deref().unwrap_or("[]");
                        write::set_health(tx, id, None, 0, log)?;
                    }
                    Ok(())
                })?;
                return Ok(None);
            }
        };
        self.store.write(|tx| -> Result<()> {
            if let Some(c) = write::get(tx, id)? {
                let mut state = HealthState::from_stored(
                    c.health.as_deref(),
                    c.health_failing,
                    c.health_log.as_deref(),
                );
                state.restart();
                write::set_health(
                    tx,
                    id,
                    Some(state.status.as_str()),
                    state.failing_streak,
                    &state.log_json(),
                )?;
            }
            Ok(())
        })?;
        let process = CheckProcess::from_bundle(&dir.config()).unwrap_or_else(|e| {
            tracing::warn!("{e}; health checks run as root in /");
            CheckProcess {
                cwd: PathBuf::from("/"),
                ..Default::default()
            }
        });
        Ok(Some(Prober {
            args: health::command(check).unwrap_or_default(),
            check: check.clone(),
            process,
            state_root: self.runtime_state_root(),
            next: Instant::now() + check.interval,
            running: None,
        }))
    }

    /// Apply one check's result to the stored health, in one transaction (the monitor and
    /// `healthcheck run` may both record). None when the container is gone.
    fn record_health(
        &mut self,
        id: &str,
        check: &HealthCheck,
        entry: HealthLogEntry,
    ) -> Result<Option<HealthState>> {
        self.store.write(|tx| -> Result<Option<HealthState>> {
            let Some(c) = write::get(tx, id)? else {
                return Ok(None);
            };
            let mut state = HealthState::from_stored(
                c.health.as_deref(),
                c.health_failing,
                c.health_log.as_deref(),
            );
            state.record(
                entry,
                check,
                super::images::parse_time(c.started_at.as_deref()),
            );
            write::set_health(
                tx,
                id,
                Some(state.status.as_str()),
                state.failing_streak,
                &state.log_json(),
            )?;
            Ok(Some(state))
        })
    }

    /// Start the prober's check, unless the container is paused (Docker skips those).
    fn start_check(&mut self, id: &str, container_pid: i32, prober: &mut Prober) {
        prober.next = Instant::now() + prober.check.interval;
        let paused = self
            .store
            .container(id)
            .ok()
            .flatten()
            .is_some_and(|c| c.status == ContainerStatus::Paused);
        if paused {
            return;
        }
        let start = now();
        match health::spawn(
            &prober.state_root,
            id,
            prober.args.clone(),
            &prober.process,
            prober.check.timeout,
        ) {
            Ok(running) => prober.running = Some(running),
            // A container that has just exited refuses new processes: not a failed check.
            Err(_) if exited_unreaped(container_pid) => {}
            Err(e) => {
                let entry = health::not_run(start, &e.to_string());
                if let Err(e) = self.record_health(id, &prober.check, entry) {
                    tracing::warn!("recording a health check: {e}");
                }
            }
        }
    }

    /// Copy the container's output to the log (and the attached caller), the caller's input
    /// to its terminal, forward signals, run health checks, and reap it. Returns once it
    /// exited and its output is drained.
    #[allow(clippy::too_many_arguments)]
    fn relay(
        &mut self,
        id: &str,
        pid: i32,
        signals: &SignalFd,
        mut io: RunIo,
        log: &mut LogWriter,
        attach: bool,
        prober: &mut Option<Prober>,
        kube: &mut Option<KubeProbes>,
    ) -> RunEnd {
        let mut exit: Option<i32> = None;
        let mut drain_deadline: Option<Instant> = None;
        // A monitor that is still here after a moment will idle for the container's life:
        // then shed the pages start-up touched. Short runs (`run --rm true`) skip it, since
        // they would only fault the same pages back in for teardown.
        let mut trim_at = Some(Instant::now() + IDLE_BEFORE_TRIM);
        let mut buf = vec![0u8; 64 * 1024];
        let mut attached = attach;
        let stdin = std::io::stdin();
        loop {
            if exit.is_some() && io.outputs.iter().all(Option::is_none) {
                break;
            }
            let now = Instant::now();
            if drain_deadline.is_some_and(|deadline| now >= deadline) {
                // Another process still holds the container's output open; stop waiting.
                break;
            }
            if trim_at.is_some_and(|at| now >= at) {
                crate::sys::memory::release_startup_pages();
                trim_at = None;
            }
            let mut wake = drain_deadline.into_iter().chain(trim_at).min();
            if let Some(p) = prober.as_mut() {
                if let Some(running) = p.running.as_mut() {
                    running.enforce_timeout(now);
                } else if exit.is_none() && now >= p.next {
                    self.start_check(id, pid, p);
                }
                // Wake up for a running check's deadline (once it is killed, its reaping
                // wakes us), or for the next check while the container runs.
                let due = match &p.running {
                    Some(running) if !running.timed_out() => Some(running.deadline()),
                    Some(_) => None,
                    None if exit.is_none() => Some(p.next),
                    None => None,
                };
                wake = wake.into_iter().chain(due).min();
            }
            if let Some(k) = kube.as_mut() {
                k.tick(self, log, now, exit.is_some());
                wake = wake.into_iter().chain(k.wake(exit.is_some())).min();
            }
            let timeout = wake.map_or(PollTimeout::NONE, |w| {
                poll_timeout(w.saturating_duration_since(Instant::now()))
            });

            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            let mut slots = vec![Slot::Signals];
            for (i, output) in io.outputs.iter().enumerate() {
                if let Some((fd, _)) = output {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    slots.push(Slot::Output(i));
                }
            }
            if let Some(t) = &io.terminal
                && exit.is_none()
            {
                if !t.pending.is_empty() {
                    fds.push(PollFd::new(t.master.as_fd(), PollFlags::POLLOUT));
                    slots.push(Slot::TerminalInput);
                } else if t.read_stdin {
                    fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
                    slots.push(Slot::Stdin);
                }
            }
            if let Some(fd) = prober
                .as_ref()
                .and_then(|p| p.running.as_ref())
                .and_then(|r| r.output_fd())
            {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                slots.push(Slot::CheckOutput);
            }
            if let Some(k) = kube.as_ref() {
                for (fd, token) in k.fds() {
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                    slots.push(Slot::Kube(token));
                }
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            let ready: Vec<Slot> = fds
                .iter()
                .zip(&slots)
                .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
                .map(|(_, slot)| *slot)
                .collect();
            drop(fds);

            for slot in ready {
                match slot {
                    Slot::Signals => {
                        while let Ok(Some(info)) = signals.read_signal() {
                            let signo = info.ssi_signo as i32;
                            if signo == Signal::SIGCHLD as i32 {
                                self.reap(
                                    id,
                                    pid,
                                    prober,
                                    kube,
                                    log,
                                    &mut exit,
                                    &mut drain_deadline,
                                );
                            } else if signo == Signal::SIGWINCH as i32
                                && let Some(t) = &io.terminal
                            {
                                // The attached CLI got a resize and passed it on: take the
                                // size from the terminal we share with it.
                                if let Some(size) = caller_window_size() {
                                    let _ = tty::set_window_size(t.master.as_fd(), size);
                                }
                            } else if exit.is_none()
                                && let Ok(signal) = Signal::try_from(signo)
                            {
                                let _ = process::signal(pid, signal);
                            }
                        }
                    }
                    Slot::Output(i) => {
                        let Some((fd, stream)) = &io.outputs[i] else {
                            continue;
                        };
                        let stream = *stream;
                        match read(fd, &mut buf) {
                            Ok(0) => io.outputs[i] = None,
                            Ok(n) => {
                                let _ = log.write(stream, &buf[..n]);
                                // The caller went away: keep logging, stop echoing.
                                if attached && echo(stream, &buf[..n]).is_err() {
                                    attached = false;
                                }
                            }
                            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                            // EIO: every holder of the terminal's other side closed it.
                            Err(_) => io.outputs[i] = None,
                        }
                    }
                    Slot::Stdin => {
                        let Some(t) = io.terminal.as_mut() else {
                            continue;
                        };
                        match read(stdin.as_fd(), &mut buf) {
                            Ok(n) if n > 0 => t.pending.extend_from_slice(&buf[..n]),
                            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                            _ => {
                                // End of the caller's input: type the terminal's end-of-file
                                // character, as a user would to end a program's input.
                                t.read_stdin = false;
                                t.pending.push(eof_char(&t.master));
                            }
                        }
                    }
                    Slot::TerminalInput => {
                        let Some(t) = io.terminal.as_mut() else {
                            continue;
                        };
                        match nix::unistd::write(&t.master, &t.pending) {
                            Ok(n) => {
                                t.pending.drain(..n);
                            }
                            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                            Err(_) => {
                                t.pending.clear();
                                t.read_stdin = false;
                            }
                        }
                    }
                    Slot::CheckOutput => {
                        if let Some(running) = prober.as_mut().and_then(|p| p.running.as_mut()) {
                            running.read_output();
                        }
                    }
                    Slot::Kube(token) => {
                        if let Some(k) = kube.as_mut() {
                            k.readable(token);
                        }
                    }
                }
            }
        }
        // A check still running dies with the container: collect it.
        if let Some(running) = prober.as_mut().and_then(|p| p.running.take()) {
            let _ = process::signal(running.pid(), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(running.pid()), None);
        }
        // The write end of an `-i` stdin pipe goes only now: the container has exited.
        drop(io.keep_stdin_open);
        RunEnd {
            exit_code: exit.unwrap_or(crate::engine::EXIT_MONITOR_LOST),
        }
    }

    /// Reap every exited child: the container's init (its exit code), a health check (its
    /// result, recorded), a probe's or hook's process (its result, applied), or an orphan
    /// reparented to this subreaper (nothing to do).
    #[allow(clippy::too_many_arguments)]
    fn reap(
        &mut self,
        id: &str,
        pid: i32,
        prober: &mut Option<Prober>,
        kube: &mut Option<KubeProbes>,
        log: &mut LogWriter,
        exit: &mut Option<i32>,
        drain_deadline: &mut Option<Instant>,
    ) {
        while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            let Some(reaped) = status.pid().map(Pid::as_raw) else {
                break;
            };
            if reaped == pid {
                *exit = exit_code(status);
                *drain_deadline = Some(Instant::now() + Duration::from_secs(2));
                continue;
            }
            if let Some(k) = kube.as_mut()
                && k.reaped(self, log, reaped, status, exit.is_some())
            {
                continue;
            }
            let Some(p) = prober.as_mut() else {
                continue;
            };
            if p.running.as_ref().is_none_or(|r| r.pid() != reaped) {
                continue;
            }
            let entry = p.running.take().expect("checked above").finish(status);
            p.next = Instant::now() + p.check.interval;
            if exit.is_none()
                && let Err(e) = self.record_health(id, &p.check, entry)
            {
                tracing::warn!("recording a health check: {e}");
            }
        }
    }

    /// Run a container's health check now and record its result (`healthcheck run`).
    pub fn run_healthcheck(&mut self, name_or_id: &str) -> Result<HealthCheckReport> {
        let record = self.find_container(name_or_id)?;
        let spec = Self::spec_of(&record)?;
        let Some(check) = self.effective_healthcheck(&record, &spec) else {
            return Err(EngineError::Invalid(format!(
                "container {} has no defined healthcheck",
                record.name
            )));
        };
        if record.status != ContainerStatus::Running {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                record.name
            )));
        }
        if spec
            .runtime
            .as_deref()
            .is_some_and(|r| r != crate::runtime::BUILTIN)
        {
            return Err(EngineError::Invalid(format!(
                "container {}: health checks run on the built-in runtime only",
                record.name
            )));
        }
        let dir = self.container_dir(&record.id);
        let process = CheckProcess::from_bundle(&dir.config())
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let start = now();
        let result = match health::spawn(
            &self.runtime_state_root(),
            &record.id,
            health::command(&check).unwrap_or_default(),
            &process,
            check.timeout,
        ) {
            Ok(running) => running.wait(),
            Err(e) => health::not_run(start, &e.to_string()),
        };
        let state = self
            .record_health(&record.id, &check, result.clone())?
            .ok_or_else(|| {
                EngineError::ContainerNotFound(format!("container {} was removed", record.name))
            })?;
        Ok(HealthCheckReport {
            status: state.status,
            result,
        })
    }
}

/// Copy output to the attached caller's stdout or stderr.
fn echo(stream: Stream, data: &[u8]) -> std::io::Result<()> {
    match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(data)?;
            out.flush()
        }
        Stream::Stderr => std::io::stderr().write_all(data),
    }
}

/// The terminal's end-of-file character (^D unless the program changed it).
fn eof_char(master: &OwnedFd) -> u8 {
    nix::sys::termios::tcgetattr(master)
        .map(|t| t.control_chars[nix::sys::termios::SpecialCharacterIndices::VEOF as usize])
        .unwrap_or(4)
}

/// Reap every exited child without blocking (a failed create leaves zombies behind).
fn reap_all() {
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Wait up to `timeout` for a stop request (SIGTERM/SIGINT) on the signal fd; true if one came.
fn wait_signal(signals: &SignalFd, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, poll_timeout(left)) {
            Ok(0) => return false,
            Ok(_) => {
                while let Ok(Some(info)) = signals.read_signal() {
                    let signal = info.ssi_signo as i32;
                    if signal == Signal::SIGTERM as i32 || signal == Signal::SIGINT as i32 {
                        return true;
                    }
                    if signal == Signal::SIGCHLD as i32 {
                        reap_all();
                    }
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_decide_as_docker_does() {
        let on_failure = RestartPolicy::OnFailure {
            max_retries: Some(2),
        };
        assert!(!should_restart(&RestartPolicy::No, 1, 0, false));
        assert!(should_restart(&on_failure, 1, 1, false));
        assert!(!should_restart(&on_failure, 1, 2, false));
        assert!(!should_restart(&on_failure, 0, 0, false));
        assert!(should_restart(&RestartPolicy::Always, 0, 10, false));
        assert!(!should_restart(&RestartPolicy::Always, 0, 10, true));
        assert!(should_restart(&RestartPolicy::UnlessStopped, 3, 0, false));
    }

    #[test]
    fn back_off_doubles_and_is_capped() {
        assert_eq!(restart_delay(1), Duration::from_millis(100));
        assert_eq!(restart_delay(2), Duration::from_millis(200));
        assert_eq!(restart_delay(20), Duration::from_millis(5_000));
    }

    #[test]
    fn the_console_size_lands_in_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"process":{"terminal":true,"args":["sh"]}}"#).unwrap();
        set_console_size(
            &config,
            tty::WindowSize {
                rows: 40,
                cols: 120,
            },
        )
        .unwrap();
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        assert_eq!(
            spec["process"]["consoleSize"],
            serde_json::json!({"height": 40, "width": 120})
        );
        assert_eq!(spec["process"]["args"][0], "sh");
    }
}
