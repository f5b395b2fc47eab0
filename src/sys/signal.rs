//! Signal dispositions.

use nix::sys::signal::{SigHandler, Signal, signal};

/// Restore the default SIGPIPE disposition (Rust ignores it), so a closed stdout pipe
/// (`oxpod images | head -1`) ends the process quietly instead of failing a write.
pub fn default_sigpipe() {
    // SAFETY: installs the default disposition, no handler function; called at start-up
    // before other threads exist.
    #[allow(unsafe_code)]
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
}

/// Give a process about to exec a clean signal state: default SIGPIPE and nothing blocked.
/// Supervisors block signals to read them from a signalfd and Rust ignores SIGPIPE; neither
/// may leak into a container.
pub fn reset_for_exec() {
    use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
    default_sigpipe();
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Ignore SIGPIPE: a supervisor writing to a reader that went away gets EPIPE instead of dying.
pub fn ignore_sigpipe() {
    // SAFETY: installs the ignore disposition, no handler function.
    #[allow(unsafe_code)]
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigIgn);
    }
}
