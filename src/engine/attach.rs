//! The caller's side of a foreground container: wait for the monitor (our child) to exit,
//! forwarding the signals this process receives, and exit with the container's code.
//!
//! For a container with a terminal (`-t`) the monitor relays between the container's pty and
//! the stdio it shares with this process. Here, with `-it` on a terminal, the caller's
//! terminal goes into raw mode (keys, ^C included, reach the container's terminal, which
//! interprets them) until the monitor exits; and SIGWINCH, which only the terminal's
//! foreground process (this one) receives, is passed to the monitor, which then reads the new
//! size from the same terminal and sets it on the container's.

use std::os::fd::AsFd;
use std::process::Child;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::{EngineError, Result};
use crate::spec::ContainerSpec;
use crate::sys::process;
use crate::sys::tty;

/// Wait for an attached monitor; returns the container's exit code.
pub(crate) fn wait_foreground(mut child: Child, spec: &ContainerSpec) -> Result<i32> {
    let pid = child.id() as i32;
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        mask.add(s);
    }
    if spec.tty {
        mask.add(Signal::SIGWINCH);
    }
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
    let io = |e: std::io::Error| EngineError::Io {
        path: "monitor".into(),
        source: e,
    };
    let stdin = std::io::stdin();
    // Restored when this guard drops: on return, on an error below, and on a panic.
    let _raw = if spec.tty && spec.stdin && tty::is_terminal(stdin.as_fd()) {
        match tty::RawMode::enter(stdin.as_fd()) {
            Ok(raw) => Some(raw),
            Err(e) => {
                tracing::warn!("cannot put the terminal in raw mode: {e}");
                None
            }
        }
    } else {
        None
    };
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| io(e.into()))?;
    let pidfd = process::pidfd_open(pid).map_err(io)?;
    loop {
        let mut fds = [
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io(e.into())),
        }
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        let signalled = fds[1].revents().is_some_and(|r| !r.is_empty());
        if signalled {
            while let Ok(Some(info)) = signals.read_signal() {
                if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
                    let _ = process::signal(pid, signal);
                }
            }
        }
        if exited {
            break;
        }
    }
    let status = child.wait().map_err(io)?;
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&mask), None);
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
