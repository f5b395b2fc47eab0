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
