//! Advisory file locks (flock) that coordinate commands touching the same on-disk objects.
//! The lock is released when the returned guard drops or the process dies, so a killed
//! command never leaves a lock behind.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// A held lock; dropping it unlocks.
pub struct FileLock {
    _lock: Flock<File>,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn take(path: &Path, arg: FlockArg) -> io::Result<FileLock> {
    let file = open(path)?;
    let lock = Flock::lock(file, arg).map_err(|(_, errno)| io::Error::from(errno))?;
    Ok(FileLock { _lock: lock })
}

/// Shared lock: many holders at once (e.g. pulls adding layers).
pub fn shared(path: &Path) -> io::Result<FileLock> {
    take(path, FlockArg::LockShared)
}

/// Exclusive lock: one holder (e.g. removing layers no image uses).
pub fn exclusive(path: &Path) -> io::Result<FileLock> {
    take(path, FlockArg::LockExclusive)
}
