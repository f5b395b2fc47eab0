//! Terminals: window sizes (the TIOCGWINSZ/TIOCSWINSZ ioctls), raw mode for an attached
//! caller's terminal, and receiving a container's pty master over the runtime's console
//! socket (SCM_RIGHTS).

use std::io;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSize {
    pub rows: u16,
    pub cols: u16,
}

/// Whether `fd` refers to a terminal.
pub fn is_terminal(fd: BorrowedFd<'_>) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// The window size of the terminal behind `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<WindowSize> {
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer, which points at a
    // live, properly aligned local of that type; the descriptor is borrowed, so it stays open
    // for the call.
    #[allow(unsafe_code)]
    let rc = unsafe { nix::libc::ioctl(fd.as_raw_fd(), nix::libc::TIOCGWINSZ, &mut ws) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(WindowSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

/// Set the window size of the terminal behind `fd` (a pty master or slave). The kernel sends
/// SIGWINCH to the terminal's foreground process group when the size changes.
pub fn set_window_size(fd: BorrowedFd<'_>, size: WindowSize) -> io::Result<()> {
    let ws = nix::libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ only reads one `struct winsize` through the pointer, which points at
    // a live local of that type; the descriptor is borrowed, so it stays open for the call.
    #[allow(unsafe_code)]
    let rc = unsafe { nix::libc::ioctl(fd.as_raw_fd(), nix::libc::TIOCSWINSZ, &ws) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Give this process's terminal (its stdin) the size a bundle asks for in
/// `process.consoleSize`; nothing when stdin is not a terminal or the size is unset. Runs in a
/// container's init just before its exec: youki does not apply `consoleSize` itself.
pub fn apply_console_size(height: u64, width: u64) {
    let stdin = io::stdin();
    if height == 0 || width == 0 || !is_terminal(stdin.as_fd()) {
        return;
    }
    let size = WindowSize {
        rows: height.min(u16::MAX as u64) as u16,
        cols: width.min(u16::MAX as u64) as u16,
    };
    let _ = set_window_size(stdin.as_fd(), size);
}

/// The size of the first of `fds` that is a terminal with a non-zero size.
pub fn first_window_size(fds: &[BorrowedFd<'_>]) -> Option<WindowSize> {
    fds.iter()
        .filter(|fd| is_terminal(**fd))
        .find_map(|fd| window_size(*fd).ok())
        .filter(|ws| ws.rows > 0 && ws.cols > 0)
}

/// A terminal switched to raw mode; dropping it restores the settings it had.
pub struct RawMode<'fd> {
    fd: BorrowedFd<'fd>,
    saved: Termios,
}

impl<'fd> RawMode<'fd> {
    /// Put the terminal behind `fd` in raw mode (no echo, no line editing, no signals from
    /// ^C/^Z: those bytes go to the container's own terminal, which interprets them).
    pub fn enter(fd: BorrowedFd<'fd>) -> io::Result<RawMode<'fd>> {
        let saved = tcgetattr(fd)?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw)?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        // TCSADRAIN: let the container's last output reach the screen with raw settings.
        let _ = tcsetattr(self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// Accept one connection on the console socket and receive the pty master the runtime sends
/// on it (a byte of payload plus one descriptor as SCM_RIGHTS). Waits at most `timeout`.
pub fn receive_pty_master(listener: &UnixListener, timeout: Duration) -> io::Result<OwnedFd> {
    let deadline = Instant::now() + timeout;
    let wait = |fd: BorrowedFd<'_>| -> io::Result<()> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the runtime sent no terminal",
                ));
            }
            let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    listener.set_nonblocking(true)?;
    let stream = loop {
        wait(listener.as_fd())?;
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    };
    wait(stream.as_fd())?;
    let mut payload = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut payload)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            let mut owned: Vec<OwnedFd> = fds
                .into_iter()
                // SAFETY: SCM_RIGHTS installed these descriptors in this process just now;
                // nothing else refers to them, so each becomes owned exactly once.
                .map(|fd| {
                    #[allow(unsafe_code)]
                    unsafe {
                        OwnedFd::from_raw_fd(fd)
                    }
                })
                .collect();
            if let Some(master) = owned.pop() {
                return Ok(master);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "the console socket message carried no descriptor",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_size_round_trips_through_a_pty() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let size = WindowSize {
            rows: 33,
            cols: 101,
        };
        set_window_size(pty.master.as_fd(), size).unwrap();
        assert_eq!(window_size(pty.slave.as_fd()).unwrap(), size);
        assert!(is_terminal(pty.slave.as_fd()));
        assert_eq!(first_window_size(&[pty.slave.as_fd()]), Some(size));
        let devnull = std::fs::File::open("/dev/null").unwrap();
        assert!(!is_terminal(devnull.as_fd()));
        assert!(window_size(devnull.as_fd()).is_err());
    }

    #[test]
    fn raw_mode_is_restored_on_drop() {
        use nix::sys::termios::LocalFlags;
        let pty = nix::pty::openpty(None, None).unwrap();
        let before = tcgetattr(pty.slave.as_fd()).unwrap();
        assert!(before.local_flags.contains(LocalFlags::ICANON));
        {
            let _raw = RawMode::enter(pty.slave.as_fd()).unwrap();
            let during = tcgetattr(pty.slave.as_fd()).unwrap();
            assert!(!during.local_flags.contains(LocalFlags::ICANON));
            assert!(!during.local_flags.contains(LocalFlags::ECHO));
        }
        let after = tcgetattr(pty.slave.as_fd()).unwrap();
        assert_eq!(after.local_flags, before.local_flags);
    }

    #[test]
    fn a_descriptor_sent_over_the_console_socket_arrives() {
        use nix::sys::socket::{ControlMessage, sendmsg};
        use std::io::IoSlice;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let pty = nix::pty::openpty(None, None).unwrap();
        let fds = [pty.master.as_raw_fd()];
        sendmsg::<()>(
            client.as_raw_fd(),
            &[IoSlice::new(b"/dev/ptmx")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let master = receive_pty_master(&listener, Duration::from_secs(5)).unwrap();
        set_window_size(master.as_fd(), WindowSize { rows: 7, cols: 9 }).unwrap();
        assert_eq!(
            window_size(pty.slave.as_fd()).unwrap(),
            WindowSize { rows: 7, cols: 9 }
        );
    }

    #[test]
    fn waiting_for_a_terminal_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("s")).unwrap();
        let err = receive_pty_master(&listener, Duration::from_millis(50)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
