//! The per-container monitor: the `oxpod` binary re-executed under a hidden subcommand, one
//! per running container. It is the parent and reaper of the container's init, owns its
//! stdio and log, records its exit, applies the restart policy, and exits with the
//! container's exit code. It stays single-threaded: the built-in runtime clones it.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2, read};

use super::{Engine, Result};
use crate::runtime::builtin::BuiltinRuntime;
use crate::runtime::cgroups::{self, CgroupLayout};
use crate::runtime::logs::{LogWriter, Stream};
use crate::runtime::{ContainerIo, OciRuntime};
use crate::spec::RestartPolicy;
use crate::state::containers::write;
use crate::sys::process;

/// How the monitor was started.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorOptions {
    /// Descriptor to report "ok PID" or "error MESSAGE" on, then close.
    pub ready_fd: Option<i32>,
    /// Copy the container's output to the monitor's own stdout/stderr (the attached CLI's)
    /// and give it the monitor's stdin.
    pub attach: bool,
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

struct Ready(Option<std::fs::File>);

impl Ready {
    fn say(&mut self, message: &str) {
        if let Some(mut file) = self.0.take() {
            let _ = file.write_all(message.as_bytes());
        }
    }
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
        let runtime = BuiltinRuntime::new(&self.runtime_state_root());
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
            let (stdin, keep_stdin_open) = match self.container_stdin(&spec, opts.attach) {
                Ok(pair) => pair,
                Err(e) => {
                    ready.say(&format!("error {e}"));
                    break 125;
                }
            };
            let (out_r, out_w) =
                pipe2(OFlag::O_CLOEXEC).map_err(|e| super::io_err(dir.path())(e.into()))?;
            let (err_r, err_w) =
                pipe2(OFlag::O_CLOEXEC).map_err(|e| super::io_err(dir.path())(e.into()))?;
            let started = runtime.run(
                id,
                dir.path(),
                ContainerIo::Pipes {
                    stdin,
                    stdout: out_w,
                    stderr: err_w,
                },
            );
            let pid = match started {
                Ok(pid) => pid,
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
            if first {
                ready.say(&format!("ok {pid}\n"));
                first = false;
            }
            let end = relay(pid, &signals, out_r, err_r, &mut log, opts.attach);
            drop(keep_stdin_open);
            let _ = log.flush_partial();
            let oom = layout
                .as_ref()
                .is_some_and(|l| cgroups::oom_killed(l, &cgroup));
            if let Err(e) = runtime.delete(id, true) {
                tracing::warn!("{e}");
            }
            let finished = now();
            self.store
                .write(|tx| write::set_exited(tx, id, end.exit_code, oom, &finished))?;
            let current = self.store.container(id)?;
            let stop_requested = current.as_ref().is_none_or(|c| c.stop_requested);
            if !should_restart(&spec.restart, end.exit_code, restarts, stop_requested) {
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
        self.store.write(|tx| write::clear_monitor(tx, id))?;
        if spec.auto_remove
            && let Err(e) = self.remove_container(id, true, true)
        {
            tracing::warn!("removing {}: {e}", record.name);
        }
        Ok(final_code)
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
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, ms) {
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

/// Copy the container's output to the log (and the attached caller), forward signals, and
/// reap it. Returns once it exited and its output is drained.
fn relay(
    pid: i32,
    signals: &SignalFd,
    out: OwnedFd,
    err: OwnedFd,
    log: &mut LogWriter,
    attach: bool,
) -> RunEnd {
    let mut streams: [Option<(OwnedFd, Stream)>; 2] =
        [Some((out, Stream::Stdout)), Some((err, Stream::Stderr))];
    let mut exit: Option<i32> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut attached = attach;
    loop {
        if exit.is_some() && streams.iter().all(Option::is_none) {
            break;
        }
        if let Some(deadline) = drain_deadline
            && Instant::now() >= deadline
        {
            // Another process still holds the container's output open; stop waiting for it.
            break;
        }
        let timeout = match drain_deadline {
            Some(deadline) => PollTimeout::try_from(
                deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis() as i32,
            )
            .unwrap_or(PollTimeout::ZERO),
            None => PollTimeout::NONE,
        };
        let mut index = Vec::new();
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        for (i, stream) in streams.iter().enumerate() {
            if let Some((fd, _)) = stream {
                fds.push(PollFd::new(borrow(fd), PollFlags::POLLIN));
                index.push(i);
            }
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = signals.read_signal() {
                let signo = info.ssi_signo as i32;
                if signo == Signal::SIGCHLD as i32 {
                    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                        match status {
                            WaitStatus::StillAlive => break,
                            s if s.pid() == Some(Pid::from_raw(pid)) => {
                                exit = exit_code(s);
                                drain_deadline = Some(Instant::now() + Duration::from_secs(2));
                            }
                            _ => {}
                        }
                    }
                } else if exit.is_none()
                    && let Ok(signal) = Signal::try_from(signo)
                {
                    let _ = process::signal(pid, signal);
                }
            }
        }
        for (slot, &i) in index.iter().enumerate() {
            if !ready[slot + 1] {
                continue;
            }
            let Some((fd, stream)) = &streams[i] else {
                continue;
            };
            match read(fd, &mut buf) {
                Ok(0) => streams[i] = None,
                Ok(n) => {
                    let _ = log.write(*stream, &buf[..n]);
                    if attached {
                        let result = match stream {
                            Stream::Stdout => std::io::stdout()
                                .write_all(&buf[..n])
                                .and_then(|_| std::io::stdout().flush()),
                            Stream::Stderr => std::io::stderr().write_all(&buf[..n]),
                        };
                        // The caller went away: keep logging, stop echoing.
                        if result.is_err() {
                            attached = false;
                        }
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => streams[i] = None,
            }
        }
    }
    RunEnd {
        exit_code: exit.unwrap_or(crate::engine::EXIT_MONITOR_LOST),
    }
}

fn borrow(fd: &OwnedFd) -> BorrowedFd<'_> {
    fd.as_fd()
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
}
