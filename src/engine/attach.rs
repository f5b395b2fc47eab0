//! The caller's side of a foreground container: wait for the monitor (our child) to exit,
//! forwarding the signals this process receives, and exit with the container's code.

use std::process::Child;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::AsFd;

use super::{EngineError, Result};
use crate::sys::process;

/// Wait for an attached monitor; returns the container's exit code.
pub(crate) fn wait_foreground(mut child: Child) -> Result<i32> {
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
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
    let io = |e: std::io::Error| EngineError::Io {
        path: "monitor".into(),
        source: e,
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
