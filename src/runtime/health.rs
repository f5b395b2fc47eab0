//! Health checks with Docker's and Podman's semantics: the check runs as a process inside the
//! container (joining its namespaces and cgroup through libcontainer's tenant builder), its
//! output is captured through a pipe, a check that outlives its timeout is killed, and each
//! result moves the container's health along `starting` → `healthy` / `unhealthy`.
//!
//! The monitor drives checks from its single-threaded poll loop with [`RunningCheck`]'s
//! non-blocking pieces; `oxpod healthcheck run` uses [`RunningCheck::wait`]. Either way the
//! caller is the check's parent (libcontainer clones it with `CLONE_PARENT`) and reaps it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use serde::{Deserialize, Serialize};

use super::RuntimeError;
use crate::spec::HealthCheck;

/// Output kept per check, as Docker keeps it (`maxOutputLen`).
pub const MAX_OUTPUT: usize = 4096;
/// Results kept in the health log, as Docker keeps them (`maxLogEntries`).
pub const MAX_LOG_ENTRIES: usize = 5;
/// The exit code recorded for a check that could not run or overran its timeout (Docker's).
pub const EXIT_CHECK_ERROR: i32 = -1;

/// Where a container's health stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// No check has passed yet, and the failures so far have not used up the retries.
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    pub fn parse(s: &str) -> HealthStatus {
        match s {
            "healthy" => HealthStatus::Healthy,
            "unhealthy" => HealthStatus::Unhealthy,
            _ => HealthStatus::Starting,
        }
    }
}

/// One check's result, in the shape `inspect` shows under `State.Health.Log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthLogEntry {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

impl HealthLogEntry {
    pub fn passed(&self) -> bool {
        self.exit_code == 0
    }
}

/// A container's health: status, failures in a row, the latest results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthState {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<HealthLogEntry>,
}

impl HealthState {
    /// The state stored for a container (`health`, `health_failing`, `health_log` columns).
    pub fn from_stored(status: Option<&str>, failing: u32, log: Option<&str>) -> HealthState {
        HealthState {
            status: status.map_or(HealthStatus::Starting, HealthStatus::parse),
            failing_streak: failing,
            log: log
                .and_then(|l| serde_json::from_str(l).ok())
                .unwrap_or_default(),
        }
    }

    /// Back to `starting` for a new run of the container; earlier results stay in the log.
    pub fn restart(&mut self) {
        self.status = HealthStatus::Starting;
        self.failing_streak = 0;
    }

    /// Apply one result, as Docker does: a pass makes the container healthy and clears the
    /// streak; a failure adds to the streak unless the container has never been healthy and
    /// is still inside its start period (measured from `container_started`), and the streak
    /// reaching `retries` makes it unhealthy.
    pub fn record(
        &mut self,
        entry: HealthLogEntry,
        check: &HealthCheck,
        container_started: Option<DateTime<Utc>>,
    ) {
        if entry.passed() {
            self.status = HealthStatus::Healthy;
            self.failing_streak = 0;
        } else {
            let in_start_period = self.status == HealthStatus::Starting
                && match (
                    container_started,
                    DateTime::parse_from_rfc3339(&entry.start).ok(),
                ) {
                    (Some(started), Some(start)) => {
                        let since = start.with_timezone(&Utc) - started;
                        since.to_std().unwrap_or(Duration::ZERO) < check.start_period
                    }
                    _ => false,
                };
            if !in_start_period {
                self.failing_streak += 1;
                if self.failing_streak >= check.retries.max(1) {
                    self.status = HealthStatus::Unhealthy;
                }
            }
        }
        self.log.push(entry);
        if self.log.len() > MAX_LOG_ENTRIES {
            let extra = self.log.len() - MAX_LOG_ENTRIES;
            self.log.drain(..extra);
        }
    }

    /// The log as stored (a JSON array).
    pub fn log_json(&self) -> String {
        serde_json::to_string(&self.log).expect("health log entries serialise")
    }
}

/// The check a container runs: its own (`--health-cmd`, where `none` switches the image's
/// off), else the image's `HEALTHCHECK`.
pub fn effective(
    container: Option<&HealthCheck>,
    image: Option<&HealthCheck>,
) -> Option<HealthCheck> {
    container
        .or(image)
        .filter(|hc| !hc.is_disabled() && command(hc).is_some())
        .cloned()
}

/// The process a check runs: `CMD` arguments as they are, `CMD-SHELL` through `/bin/sh -c`.
pub fn command(check: &HealthCheck) -> Option<Vec<String>> {
    match check.test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
            Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
        }
        _ => None,
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A result for a check that never ran.
pub fn not_run(start: String, message: &str) -> HealthLogEntry {
    HealthLogEntry {
        start,
        end: now(),
        exit_code: EXIT_CHECK_ERROR,
        output: truncate(message.as_bytes()),
    }
}

fn truncate(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_OUTPUT)];
    String::from_utf8_lossy(bytes).into_owned()
}

/// Who the check runs as and where: the container process's user and working directory,
/// read from its bundle, as `docker exec` would use them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckProcess {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub cwd: PathBuf,
}

impl CheckProcess {
    pub fn from_bundle(config: &Path) -> Result<CheckProcess, RuntimeError> {
        let spec = Spec::load(config).map_err(|e| RuntimeError::Failed {
            runtime: "health check".into(),
            message: format!("reading {}: {e}", config.display()),
        })?;
        let Some(process) = spec.process() else {
            return Ok(CheckProcess {
                cwd: PathBuf::from("/"),
                ..Default::default()
            });
        };
        let user = process.user();
        Ok(CheckProcess {
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            cwd: process.cwd().clone(),
        })
    }
}

/// Runs in the check process just before its exec: the monitor blocks signals to read them
/// from a signalfd and Rust ignores SIGPIPE, neither of which may leak into the check; and a
/// check dies with the process that started it.
#[derive(Clone)]
struct CheckExecutor;

impl Executor for CheckExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        crate::sys::signal::reset_for_exec();
        let _ = crate::sys::process::die_with_parent(Signal::SIGKILL);
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// A check process that is running (or has exited and is waiting to be reaped).
pub struct RunningCheck {
    pid: i32,
    output: Option<OwnedFd>,
    captured: Vec<u8>,
    start: String,
    deadline: Instant,
    timeout: Duration,
    timed_out: bool,
}

/// Start `args` inside running container `id` of the built-in runtime (whose state lives in
/// `state_root`), stdout and stderr to a pipe the caller drains. The check is the caller's
/// child.
pub fn spawn(
    state_root: &Path,
    id: &str,
    args: Vec<String>,
    process: &CheckProcess,
    timeout: Duration,
) -> Result<RunningCheck, RuntimeError> {
    let start = now();
    let failed = |context: &str, e: &dyn std::fmt::Display| RuntimeError::Failed {
        runtime: "health check".into(),
        message: format!("{context}: {e}"),
    };
    let io = |e: nix::Error| RuntimeError::Io {
        path: state_root.to_path_buf(),
        source: e.into(),
    };
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io)?;
    let err_w = out_w.try_clone().map_err(|source| RuntimeError::Io {
        path: state_root.to_path_buf(),
        source,
    })?;
    let devnull = std::fs::File::open("/dev/null").map_err(|source| RuntimeError::Io {
        path: "/dev/null".into(),
        source,
    })?;
    let pid = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(state_root)
        .map_err(|e| failed("state directory", &e))?
        .with_executor(CheckExecutor)
        .with_stdin(OwnedFd::from(devnull))
        .with_stdout(out_w)
        .with_stderr(err_w)
        .as_tenant()
        .with_container_args(args)
        .with_user(Some(process.uid))
        .with_group(Some(process.gid))
        .with_additional_gids(process.additional_gids.clone())
        .with_cwd(Some(process.cwd.clone()))
        .with_detach(true)
        .build()
        .map_err(|e| failed("starting the health check", &e))?
        .as_raw();
    sweep_notify_sockets(&state_root.join(id));
    // The monitor's loop must never block on the pipe.
    let _ = nix::fcntl::fcntl(&out_r, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    Ok(RunningCheck {
        pid,
        output: Some(out_r),
        captured: Vec::new(),
        start,
        deadline: Instant::now() + timeout,
        timeout,
        timed_out: false,
    })
}

/// libcontainer leaves a `tenant-notify-*.sock` behind in the container's state directory for
/// every process it starts in it. Remove those old enough that no start can still be using
/// them (a start takes milliseconds; an `exec` may be starting at this very moment).
fn sweep_notify_sockets(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let cutoff = SystemTime::now() - Duration::from_secs(60);
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("tenant-notify-") {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < cutoff);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl RunningCheck {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The output pipe to poll, until it reached end of file.
    pub fn output_fd(&self) -> Option<BorrowedFd<'_>> {
        self.output.as_ref().map(|fd| fd.as_fd())
    }

    /// When the check overruns its timeout.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Read what the check has written so far, keeping the first [`MAX_OUTPUT`] bytes and
    /// discarding the rest (the check must never block on a full pipe).
    pub fn read_output(&mut self) {
        let Some(fd) = &self.output else {
            return;
        };
        let mut buf = [0u8; 8192];
        loop {
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => {
                    self.output = None;
                    return;
                }
                Ok(n) => {
                    let room = MAX_OUTPUT.saturating_sub(self.captured.len());
                    self.captured.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(_) => {
                    self.output = None;
                    return;
                }
            }
        }
    }

    /// Whether the check overran its timeout and was killed.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Kill the check when it has overrun its timeout; true when it did now.
    pub fn enforce_timeout(&mut self, now: Instant) -> bool {
        if self.timed_out || now < self.deadline {
            return false;
        }
        self.timed_out = true;
        let _ = crate::sys::process::signal(self.pid, Signal::SIGKILL);
        true
    }

    /// The result, once the check has been reaped with `status`.
    pub fn finish(mut self, status: WaitStatus) -> HealthLogEntry {
        // Everything it wrote before exiting is in the pipe already.
        self.read_output();
        let end = now();
        if self.timed_out {
            return HealthLogEntry {
                start: self.start,
                end,
                exit_code: EXIT_CHECK_ERROR,
                output: format!(
                    "Health check exceeded timeout ({})",
                    humantime(self.timeout)
                ),
            };
        }
        let exit_code = match status {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
            _ => EXIT_CHECK_ERROR,
        };
        HealthLogEntry {
            start: self.start,
            end,
            exit_code,
            output: truncate(&self.captured),
        }
    }

    /// Run the check to its end in the foreground (for a caller without an event loop):
    /// drain its output, kill it at the timeout, reap it.
    pub fn wait(mut self) -> HealthLogEntry {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let pidfd = crate::sys::process::pidfd_open(self.pid).ok();
        loop {
            let now = Instant::now();
            self.enforce_timeout(now);
            let left = if self.timed_out {
                Duration::from_millis(100)
            } else {
                self.deadline.saturating_duration_since(now)
            };
            let mut fds = Vec::new();
            if let Some(fd) = &pidfd {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            if let Some(fd) = &self.output {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            let ms = PollTimeout::try_from(left.as_millis().clamp(1, i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX);
            let exited = match poll(&mut fds, ms) {
                Ok(_) => pidfd
                    .as_ref()
                    .is_none_or(|_| fds[0].revents().is_some_and(|r| !r.is_empty())),
                Err(nix::errno::Errno::EINTR) => false,
                Err(_) => true,
            };
            drop(fds);
            self.read_output();
            if exited {
                break;
            }
        }
        let status = loop {
            match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(status) => break status,
                Err(_) => break WaitStatus::StillAlive,
            }
        };
        self.finish(status)
    }
}

/// `30s`, `1m30s`, `500ms`: how Go prints a duration, which Docker's messages use.
fn humantime(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    let (h, rest) = ((secs / 3600.0).floor(), secs % 3600.0);
    let (m, s) = ((rest / 60.0).floor(), rest % 60.0);
    let mut out = String::new();
    if h > 0.0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0.0 || m > 0.0 {
        out.push_str(&format!("{m}m"));
    }
    let s = format!("{s:.3}");
    out.push_str(s.trim_end_matches('0').trim_end_matches('.'));
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(retries: u32, start_period: Duration) -> HealthCheck {
        let mut hc = HealthCheck::new(vec!["CMD".into(), "true".into()]);
        hc.retries = retries;
        hc.start_period = start_period;
        hc
    }

    fn entry(at: DateTime<Utc>, code: i32) -> HealthLogEntry {
        HealthLogEntry {
            start: at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            end: at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn failures_turn_unhealthy_after_the_retries_and_a_pass_heals() {
        let started = Utc::now();
        let hc = check(3, Duration::ZERO);
        let mut state = HealthState::from_stored(Some("starting"), 0, None);
        for i in 1..=2 {
            state.record(entry(started, 1), &hc, Some(started));
            assert_eq!(state.status, HealthStatus::Starting);
            assert_eq!(state.failing_streak, i);
        }
        state.record(entry(started, 1), &hc, Some(started));
        assert_eq!(state.status, HealthStatus::Unhealthy);
        state.record(entry(started, 0), &hc, Some(started));
        assert_eq!(state.status, HealthStatus::Healthy);
        assert_eq!(state.failing_streak, 0);
        state.record(entry(started, 1), &hc, Some(started));
        assert_eq!(state.status, HealthStatus::Healthy, "one failure of three");
        assert_eq!(state.failing_streak, 1);
    }

    #[test]
    fn failures_inside_the_start_period_do_not_count_until_healthy_once() {
        let started = Utc::now();
        let hc = check(1, Duration::from_secs(60));
        let mut state = HealthState::from_stored(None, 0, None);
        let early = started + chrono::TimeDelta::seconds(5);
        state.record(entry(early, 1), &hc, Some(started));
        assert_eq!(state.status, HealthStatus::Starting);
        assert_eq!(state.failing_streak, 0);
        let late = started + chrono::TimeDelta::seconds(61);
        state.record(entry(late, 1), &hc, Some(started));
        assert_eq!(state.status, HealthStatus::Unhealthy);
        // Once healthy, the start period no longer shields failures.
        let mut state = HealthState::from_stored(None, 0, None);
        state.record(entry(early, 0), &hc, Some(started));
        state.record(entry(early, 1), &hc, Some(started));
        assert_eq!(state.status, HealthStatus::Unhealthy);
    }

    #[test]
    fn the_log_keeps_the_last_five_and_round_trips() {
        let started = Utc::now();
        let hc = check(3, Duration::ZERO);
        let mut state = HealthState::from_stored(None, 0, None);
        for code in 0..7 {
            state.record(entry(started, code), &hc, Some(started));
        }
        assert_eq!(state.log.len(), MAX_LOG_ENTRIES);
        assert_eq!(state.log[0].exit_code, 2);
        let json = state.log_json();
        assert!(json.contains("\"ExitCode\":6"), "{json}");
        let back = HealthState::from_stored(Some("unhealthy"), 4, Some(&json));
        assert_eq!(back.log, state.log);
        assert_eq!(back.status, HealthStatus::Unhealthy);
    }

    #[test]
    fn commands_and_the_effective_check() {
        let cmd = HealthCheck::new(vec!["CMD".into(), "/bin/check".into(), "-v".into()]);
        assert_eq!(command(&cmd).unwrap(), vec!["/bin/check", "-v"]);
        let shell = HealthCheck::new(vec!["CMD-SHELL".into(), "exit 1".into()]);
        assert_eq!(command(&shell).unwrap(), vec!["/bin/sh", "-c", "exit 1"]);
        let none = HealthCheck::new(vec!["NONE".into()]);
        assert_eq!(effective(Some(&none), Some(&shell)), None);
        assert_eq!(effective(None, Some(&shell)), Some(shell.clone()));
        assert_eq!(effective(Some(&cmd), Some(&shell)), Some(cmd));
        assert_eq!(effective(None, None), None);
    }

    #[test]
    fn output_is_truncated_and_durations_print_as_go_does() {
        assert_eq!(truncate(&[b'a'; MAX_OUTPUT + 10]).len(), MAX_OUTPUT);
        assert_eq!(humantime(Duration::from_secs(30)), "30s");
        assert_eq!(humantime(Duration::from_secs(90)), "1m30s");
        assert_eq!(humantime(Duration::from_millis(1500)), "1.5s");
        assert_eq!(humantime(Duration::from_millis(200)), "200ms");
    }
}
