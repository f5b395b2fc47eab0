//! Processes: pidfds (waiting on a process that is not our child without polling), process
//! identity (pid plus start time, so a reused pid is never mistaken for ours), and the prctl
//! settings supervisors need.

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;

/// Open a pidfd for `pid`: readable once the process has exited.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is
    // passed. A non-negative return value is a descriptor we now own.
    #[allow(unsafe_code)]
    unsafe {
        let fd = nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd as i32))
    }
}

/// Wait until the process behind `pidfd` exits, or `timeout` passes (None: forever).
/// True when it exited.
pub fn wait_pidfd(pidfd: &OwnedFd, timeout: Option<Duration>) -> io::Result<bool> {
    let timeout = match timeout {
        None => PollTimeout::NONE,
        Some(t) => PollTimeout::try_from(t.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX),
    };
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Wait for `pid` to exit (not our child). True when it exited within `timeout`; a pid that
/// is already gone counts as exited.
pub fn wait_for_exit(pid: i32, timeout: Option<Duration>) -> io::Result<bool> {
    match pidfd_open(pid) {
        Ok(fd) => wait_pidfd(&fd, timeout),
        Err(e) if e.raw_os_error() == Some(nix::libc::ESRCH) => Ok(true),
        Err(e) => Err(e),
    }
}

/// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or
/// None when it does not exist.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past its last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is still the process that started at `start`.
pub fn is_same_process(pid: i32, start: u64) -> bool {
    start_time(pid) == Some(start) && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .unwrap_or(true)
}

/// Make this process the reaper of orphaned descendants, so a supervisor collects the exit
/// status of container processes whose intermediate parents are gone.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// Have the kernel send `signal` to this process when its parent dies.
pub fn die_with_parent(signal: nix::sys::signal::Signal) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Some(signal)).map_err(io::Error::from)
}

/// Spawn `cmd` after unsharing the PID namespace in the child before exec: the program itself
/// stays in ours, and its children start in the new namespace, the first as its PID 1.
pub fn spawn_with_pid_namespace_for_children(
    cmd: &mut std::process::Command,
) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    #[allow(unsafe_code)]
    // SAFETY: the closure runs between fork and exec and only makes the unshare(2) system
    // call, which allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID).map_err(io::Error::from)
        });
    }
    cmd.spawn()
}

/// Send a signal; a process already gone is not an error.
pub fn signal(pid: i32, signal: nix::sys::signal::Signal) -> io::Result<()> {
    match nix::sys::signal::kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfd_reports_exit_of_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.1")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = start_time(pid).unwrap();
        assert!(is_same_process(pid, start));
        assert!(!is_same_process(pid, start + 1));
        let fd = pidfd_open(pid).unwrap();
        assert!(!wait_pidfd(&fd, Some(Duration::from_millis(1))).unwrap());
        assert!(wait_pidfd(&fd, Some(Duration::from_secs(5))).unwrap());
        child.wait().unwrap();
        assert!(start_time(pid).is_none() || !is_same_process(pid, start));
    }
}
