//! `cp`: copy files and directories between a container and the host, or stream them as a tar
//! archive, with `docker cp`'s rules for what lands where.
//!
//! Every copy is an archive of the source extracted at the destination; between a container
//! and the host the two run in two threads joined by a pipe. Modes, ownership, times,
//! extended attributes, symlinks, hard links and device nodes are kept.
//!
//! Both ends are an [`FsView`]: a tree seen as a process rooted in it sees it. Inside a
//! container, symlinks resolve inside the container (absolute targets from its root, `..`
//! stopping there), like [`crate::spec::resolve_in_rootfs`], and its volumes, bind mounts
//! and generated `/etc` files cover the root file system at their destinations. A running
//! container can change its files while they are copied, so no path that might hold a
//! symlink is handed to the kernel: each component is opened relative to its parent's
//! descriptor with `O_NOFOLLOW`, and a symlink met on the way is read and resolved by the
//! view. A component swapped for a symlink mid-copy is copied as that symlink or refused,
//! never followed out of the container.
//!
//! A running container is read and written through its mounted `merged` directory. A stopped
//! one gets its root file system mounted for the copy and unmounted after, unless it was
//! started meanwhile.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat, readlinkat};
use nix::sys::stat::{
    FileStat, Mode, SFlag, fchmod, fstat, fstatat, futimens, major, makedev, minor, mkdirat,
    mknodat, umask, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use xattr::FileExt;

use crate::engine::{Engine, EngineError, Result};
use crate::image::manifest::ImageConfig;
use crate::spec::{ImageDefaults, MountKind};
use crate::storage::rootfs::is_mountpoint;

/// Symlinks followed in one path before giving up, as the kernel's limit.
const MAX_SYMLINKS: u32 = 40;

/// One end of a `cp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyLocation {
    /// A path on the host.
    Host(PathBuf),
    /// `-`: a tar archive read from this process's stdin, or written to its stdout.
    Stream,
    /// `CONTAINER:PATH`; a relative path is taken from the container's root.
    Container { container: String, path: PathBuf },
}

impl CopyLocation {
    /// Read a `cp` argument as Docker does: `-` is a stream; an absolute path is the host's;
    /// `NAME:PATH` is a container's unless NAME starts with `.` (write `./a:b` for a host
    /// file with a colon).
    pub fn parse(arg: &str) -> CopyLocation {
        if arg == "-" {
            return CopyLocation::Stream;
        }
        if arg.starts_with('/') {
            return CopyLocation::Host(PathBuf::from(arg));
        }
        match arg.split_once(':') {
            Some((container, path)) if !container.is_empty() && !container.starts_with('.') => {
                CopyLocation::Container {
                    container: container.to_string(),
                    path: PathBuf::from(path),
                }
            }
            _ => CopyLocation::Host(PathBuf::from(arg)),
        }
    }
}

/// `docker cp` reads a trailing `/.` as "the directory's contents" and a trailing `/` as "must
/// be a directory"; `Path` drops both, so look at the raw bytes.
fn ends_with_dot(path: &Path) -> bool {
    let b = path.as_os_str().as_bytes();
    b == b"." || b.ends_with(b"/.")
}

fn ends_with_slash(path: &Path) -> bool {
    path.as_os_str().as_bytes().ends_with(b"/")
}

/// The last normal component of `path` after resolving `.` and `..` lexically; `None` for
/// the root.
fn base_name(path: &Path) -> Option<OsString> {
    let mut parts: Vec<&OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.last().map(|n| n.to_os_string())
}

/// What covers part of a view.
#[derive(Debug, Clone)]
enum Cover {
    /// A host directory or file (volume, bind mount, generated `/etc` file).
    Host(PathBuf),
    /// Something only the container's own mount namespace holds.
    Unreachable(&'static str),
}

#[derive(Debug, Clone)]
struct ViewMount {
    destination: PathBuf,
    cover: Cover,
    read_only: bool,
}

/// A directory tree as a process rooted in it sees it.
pub(crate) struct FsView {
    /// `container NAME` or `host`, for messages.
    label: String,
    root: OwnedFd,
    root_read_only: bool,
    mounts: Vec<ViewMount>,
    /// Whether device nodes from an archive are made here. Not on the host: a container's
    /// files are untrusted, and a device node it planted would give whoever can read the
    /// destination the raw device.
    devices: bool,
}

/// A path of a view, resolved.
struct Located {
    /// As the view sees it, symlinks resolved.
    path: PathBuf,
    place: Place,
    read_only: bool,
}

enum Place {
    /// `name` in directory `dir`; it may not exist.
    In { dir: OwnedFd, name: OsString },
    /// The top of the view or of a mount, with no parent in reach: the open directory (or,
    /// for a file mount, the file), and the host path of a mount.
    Top {
        fd: OwnedFd,
        source: Option<PathBuf>,
    },
}

/// One resolved directory on the way down.
struct Frame {
    fd: OwnedFd,
    path: PathBuf,
    read_only: bool,
}

enum Part {
    Up,
    Name(OsString),
}

fn parts_of(path: &Path) -> Vec<Part> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(Part::Name(n.to_os_string())),
            Component::ParentDir => Some(Part::Up),
            _ => None,
        })
        .collect()
}

fn open_path_fd(dir: BorrowedFd<'_>, name: &OsStr, directory: bool) -> nix::Result<OwnedFd> {
    let mut flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    if directory {
        flags |= OFlag::O_DIRECTORY;
    }
    openat(dir, name, flags, Mode::empty())
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

impl FsView {
    /// The host's own tree.
    pub(crate) fn host() -> io::Result<FsView> {
        Ok(FsView {
            label: "host".into(),
            root: open(
                "/",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?,
            root_read_only: false,
            mounts: Vec::new(),
            devices: false,
        })
    }

    fn error(&self, path: &Path, what: impl std::fmt::Display) -> EngineError {
        EngineError::Invalid(format!("{}: {}: {what}", self.label, path.display()))
    }

    fn mount_at(&self, path: &Path) -> Option<&ViewMount> {
        // Later mounts cover earlier ones at the same place, as in the runtime spec.
        self.mounts.iter().rev().find(|m| m.destination == path)
    }

    fn cover_fd(&self, mount: &ViewMount) -> Result<(OwnedFd, PathBuf)> {
        match &mount.cover {
            Cover::Host(source) => {
                let fd =
                    open(source, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
                        self.error(
                            &mount.destination,
                            format!("its mount source {}: {e}", source.display()),
                        )
                    })?;
                Ok((fd, source.clone()))
            }
            Cover::Unreachable(what) => Err(self.error(
                &mount.destination,
                format!("is {what} mounted in the container, which cp cannot reach (use exec)"),
            )),
        }
    }

    /// Resolve `path` in the view. The last component is followed when it is a symlink only
    /// with `follow_last`. Missing directories on the way are an error, or created (0755)
    /// with `create_parents`.
    fn resolve(&self, path: &Path, follow_last: bool, create_parents: bool) -> Result<Located> {
        let root = self
            .root
            .try_clone()
            .map_err(|e| self.error(Path::new("/"), e))?;
        let mut stack = vec![Frame {
            fd: root,
            path: PathBuf::from("/"),
            read_only: self.root_read_only,
        }];
        let mut pending = parts_of(path);
        pending.reverse();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            let name = match part {
                Part::Up => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                Part::Name(name) => name,
            };
            let last = pending.is_empty();
            let top = stack.last().expect("the root frame stays");
            let here = top.path.join(&name);
            if let Some(mount) = self.mount_at(&here) {
                let (fd, source) = self.cover_fd(mount)?;
                let is_dir = fstat(&fd).is_ok_and(|st| kind(&st) == SFlag::S_IFDIR);
                if last {
                    return Ok(Located {
                        path: here,
                        place: Place::Top {
                            fd,
                            source: Some(source),
                        },
                        read_only: mount.read_only,
                    });
                }
                if !is_dir {
                    return Err(self.error(&here, "not a directory"));
                }
                stack.push(Frame {
                    fd,
                    path: here,
                    read_only: mount.read_only,
                });
                continue;
            }
            let st = match fstatat(&top.fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => Some(st),
                Err(Errno::ENOENT) => None,
                Err(e) => return Err(self.error(&here, e)),
            };
            match st {
                Some(st) if kind(&st) == SFlag::S_IFLNK && (!last || follow_last) => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(self.error(path, "too many levels of symbolic links"));
                    }
                    let target =
                        readlinkat(&top.fd, name.as_os_str()).map_err(|e| self.error(&here, e))?;
                    let target = PathBuf::from(target);
                    if target.is_absolute() {
                        stack.truncate(1);
                    }
                    let mut more = parts_of(&target);
                    more.reverse();
                    pending.extend(more);
                }
                Some(_) if last => {
                    return Ok(self.located_in(top, name, here));
                }
                Some(st) if kind(&st) == SFlag::S_IFDIR => {
                    let fd = open_path_fd(top.fd.as_fd(), &name, true)
                        .map_err(|e| self.error(&here, e))?;
                    let read_only = top.read_only;
                    stack.push(Frame {
                        fd,
                        path: here,
                        read_only,
                    });
                }
                Some(_) => return Err(self.error(&here, "not a directory")),
                None if last => return Ok(self.located_in(top, name, here)),
                None if create_parents => {
                    if top.read_only {
                        return Err(self.error(&here, "read-only file system"));
                    }
                    match mkdirat(&top.fd, name.as_os_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(self.error(&here, e)),
                    }
                    // Go round again: the new directory is opened like any other.
                    pending.push(Part::Name(name));
                }
                None => return Err(self.error(&here, "no such file or directory")),
            }
        }
        let top = stack.pop().expect("the root frame stays");
        Ok(Located {
            path: top.path,
            place: Place::Top {
                fd: top.fd,
                source: None,
            },
            read_only: top.read_only,
        })
    }

    fn located_in(&self, top: &Frame, name: OsString, path: PathBuf) -> Located {
        Located {
            path,
            place: Place::In {
                dir: top.fd.try_clone().expect("duplicating a descriptor"),
                name,
            },
            read_only: top.read_only,
        }
    }

    /// The metadata of a located path (not following a final symlink); `None` if missing.
    fn stat(&self, loc: &Located) -> Result<Option<FileStat>> {
        match &loc.place {
            Place::In { dir, name } => {
                match fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) => Ok(Some(st)),
                    Err(Errno::ENOENT) => Ok(None),
                    Err(e) => Err(self.error(&loc.path, e)),
                }
            }
            Place::Top { fd, .. } => fstat(fd).map(Some).map_err(|e| self.error(&loc.path, e)),
        }
    }

    /// The contents of a small file (for `top`'s user names), following symlinks inside the
    /// view; `None` when it cannot be read.
    pub(crate) fn read_file(&self, path: &Path) -> Option<String> {
        let loc = self.resolve(path, true, false).ok()?;
        let fd = match loc.place {
            Place::In { dir, name } => openat(
                &dir,
                name.as_os_str(),
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()?,
            Place::Top {
                source: Some(source),
                ..
            } => open(&source, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).ok()?,
            Place::Top { .. } => return None,
        };
        let file = File::from(fd);
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let mut text = String::new();
        file.take(4 << 20).read_to_string(&mut text).ok()?;
        Some(text)
    }
}

/// Reads exactly `size` bytes from a file that may change while it is read: a shorter file is
/// padded with zeros and a longer one cut, so the archive stays well-formed.
struct Exactly<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exactly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// Extended attributes that belong to the storage, not to the file.
fn skip_xattr(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.starts_with(b"trusted.overlay.") || b.starts_with(b"user.overlay.")
}

/// Writes a view's files into a tar archive.
struct Archiver<'v, W: Write> {
    view: &'v FsView,
    tar: tar::Builder<W>,
    /// First archive path of each file with several links, by (device, inode).
    links: HashMap<(u64, u64), PathBuf>,
}

impl<'v, W: Write> Archiver<'v, W> {
    fn new(view: &'v FsView, out: W) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        Archiver {
            view,
            tar,
            links: HashMap::new(),
        }
    }

    fn finish(self) -> Result<()> {
        let label = self.view.label.clone();
        self.tar
            .into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| EngineError::Invalid(format!("writing the archive from {label}: {e}")))
    }

    fn fail(&self, path: &Path, e: impl std::fmt::Display) -> EngineError {
        self.view.error(path, e)
    }

    fn header(st: &FileStat, entry: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(entry);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    fn xattrs(&mut self, file: &File, path: &Path) -> Result<()> {
        let Ok(names) = file.list_xattr() else {
            return Ok(());
        };
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        for name in names {
            if skip_xattr(&name) {
                continue;
            }
            if let Ok(Some(value)) = file.get_xattr(&name) {
                records.push((format!("SCHILY.xattr.{}", name.to_string_lossy()), value));
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        self.tar
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| self.fail(path, e))
    }

    /// Add the located path as `apath`; with `contents_only`, a directory's entries go at the
    /// top of the archive, without the directory itself.
    fn add(&mut self, loc: &Located, apath: &Path, contents_only: bool) -> Result<()> {
        match &loc.place {
            Place::In { dir, name } => {
                let st = self
                    .view
                    .stat(loc)?
                    .ok_or_else(|| self.fail(&loc.path, "no such file or directory"))?;
                if contents_only {
                    if kind(&st) != SFlag::S_IFDIR {
                        return Err(self.fail(&loc.path, "not a directory"));
                    }
                    let fd = openat(
                        dir,
                        name.as_os_str(),
                        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| self.fail(&loc.path, e))?;
                    return self.add_children(fd, &loc.path, Path::new(""));
                }
                self.add_at(dir.as_fd(), name, &loc.path, apath)
            }
            Place::Top { fd, source } => {
                self.add_top(fd, source.as_deref(), &loc.path, apath, contents_only)
            }
        }
    }

    /// The top of the view or of a mount.
    fn add_top(
        &mut self,
        fd: &OwnedFd,
        source: Option<&Path>,
        vpath: &Path,
        apath: &Path,
        contents_only: bool,
    ) -> Result<()> {
        let st = fstat(fd).map_err(|e| self.fail(vpath, e))?;
        match kind(&st) {
            SFlag::S_IFDIR => {
                let dir = openat(
                    fd,
                    ".",
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.fail(vpath, e))?;
                if !contents_only && !apath.as_os_str().is_empty() {
                    let file = File::from(dir.try_clone().map_err(|e| self.fail(vpath, e))?);
                    self.xattrs(&file, vpath)?;
                    let mut h = Self::header(&st, tar::EntryType::Directory);
                    self.tar
                        .append_data(&mut h, apath, io::empty())
                        .map_err(|e| self.fail(vpath, e))?;
                }
                let base = if contents_only { Path::new("") } else { apath };
                self.add_children(dir, vpath, base)
            }
            SFlag::S_IFREG => {
                if contents_only {
                    return Err(self.fail(vpath, "not a directory"));
                }
                // A file mount: its host source is the user's or oxpod's own file.
                let source = source.ok_or_else(|| self.fail(vpath, "not a directory"))?;
                let file = File::open(source).map_err(|e| self.fail(vpath, e))?;
                self.add_file(file, &st, vpath, apath)
            }
            _ => Err(self.fail(vpath, "cannot copy this kind of file")),
        }
    }

    fn add_children(&mut self, dir: OwnedFd, vpath: &Path, apath: &Path) -> Result<()> {
        // The descriptor's magic link names exactly this directory, whatever happened to
        // its path since it was opened.
        let listing = format!("/proc/self/fd/{}", dir.as_raw_fd());
        let mut names: Vec<OsString> = std::fs::read_dir(&listing)
            .map_err(|e| self.fail(vpath, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(|e| self.fail(vpath, e))?;
        // A stable order, so the same tree gives the same archive.
        names.sort();
        for name in names {
            self.add_at(dir.as_fd(), &name, &vpath.join(&name), &apath.join(&name))?;
        }
        Ok(())
    }

    /// `name` in directory `dir` (a descriptor), shown in the view as `vpath`.
    fn add_at(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        vpath: &Path,
        apath: &Path,
    ) -> Result<()> {
        if let Some(mount) = self.view.mount_at(vpath) {
            let (fd, source) = self.view.cover_fd(mount)?;
            return self.add_top(&fd, Some(&source), vpath, apath, false);
        }
        let st = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed while we walked: nothing to copy.
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(self.fail(vpath, e)),
        };
        match kind(&st) {
            SFlag::S_IFDIR => {
                let fd = openat(
                    dir,
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.fail(vpath, e))?;
                let file = File::from(fd.try_clone().map_err(|e| self.fail(vpath, e))?);
                self.xattrs(&file, vpath)?;
                let mut h = Self::header(&st, tar::EntryType::Directory);
                self.tar
                    .append_data(&mut h, apath, io::empty())
                    .map_err(|e| self.fail(vpath, e))?;
                self.add_children(fd, vpath, apath)
            }
            SFlag::S_IFREG => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        let mut h = Self::header(&st, tar::EntryType::Link);
                        return self
                            .tar
                            .append_link(&mut h, apath, &first)
                            .map_err(|e| self.fail(vpath, e));
                    }
                    self.links.insert(key, apath.to_path_buf());
                }
                // O_NONBLOCK: a file swapped for a FIFO must not hang the copy.
                let fd = openat(
                    dir,
                    name,
                    OFlag::O_RDONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_NONBLOCK
                        | OFlag::O_NOCTTY
                        | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.fail(vpath, e))?;
                let now = fstat(&fd).map_err(|e| self.fail(vpath, e))?;
                if kind(&now) != SFlag::S_IFREG {
                    return Err(self.fail(vpath, "changed while being copied"));
                }
                self.add_file(File::from(fd), &now, vpath, apath)
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(dir, name).map_err(|e| self.fail(vpath, e))?;
                let mut h = Self::header(&st, tar::EntryType::Symlink);
                self.tar
                    .append_link(&mut h, apath, Path::new(&target))
                    .map_err(|e| self.fail(vpath, e))
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                let entry = match kind(&st) {
                    SFlag::S_IFCHR => tar::EntryType::Char,
                    SFlag::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = Self::header(&st, entry);
                if entry != tar::EntryType::Fifo {
                    h.set_device_major(major(st.st_rdev) as u32)
                        .and_then(|_| h.set_device_minor(minor(st.st_rdev) as u32))
                        .map_err(|e| self.fail(vpath, e))?;
                }
                self.tar
                    .append_data(&mut h, apath, io::empty())
                    .map_err(|e| self.fail(vpath, e))
            }
            // Sockets live only while their server runs; tar cannot hold them either.
            _ => Ok(()),
        }
    }

    fn add_file(&mut self, file: File, st: &FileStat, vpath: &Path, apath: &Path) -> Result<()> {
        self.xattrs(&file, vpath)?;
        let size = st.st_size.max(0) as u64;
        let mut h = Self::header(st, tar::EntryType::Regular);
        h.set_size(size);
        let data = Exactly {
            inner: file,
            left: size,
        };
        self.tar
            .append_data(&mut h, apath, data)
            .map_err(|e| self.fail(vpath, e))
    }
}

/// Metadata of one archive entry, with PAX overrides applied.
struct EntryMeta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl EntryMeta {
    fn read<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<EntryMeta> {
        let h = entry.header();
        let old = h.as_old();
        let mut meta = EntryMeta {
            mode: blank_is_zero(h.mode(), &old.mode)? as u32 & 0o7777,
            uid: blank_is_zero(h.uid(), &old.uid)? as u32,
            gid: blank_is_zero(h.gid(), &old.gid)? as u32,
            mtime: TimeSpec::new(blank_is_zero(h.mtime(), &old.mtime)? as i64, 0),
            xattrs: Vec::new(),
        };
        if let Some(pax) = entry.pax_extensions()? {
            for ext in pax {
                let ext = ext?;
                let key = ext.key().unwrap_or_default();
                let number = || ext.value().ok().and_then(|v| v.parse::<u64>().ok());
                match key {
                    "uid" => meta.uid = number().map_or(meta.uid, |v| v as u32),
                    "gid" => meta.gid = number().map_or(meta.gid, |v| v as u32),
                    "mtime" => {
                        if let Some(secs) = ext
                            .value()
                            .ok()
                            .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
                        {
                            meta.mtime = TimeSpec::new(secs, 0);
                        }
                    }
                    _ => {
                        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                            meta.xattrs
                                .push((OsString::from(name), ext.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
        Ok(meta)
    }
}

/// Some writers leave numeric header fields empty (all NUL or spaces); they mean zero.
fn blank_is_zero<T: Into<u64>>(value: io::Result<T>, raw: &[u8]) -> io::Result<u64> {
    match value {
        Ok(v) => Ok(v.into()),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(e),
    }
}

/// An entry's path made relative and clean; `None` for the archive's top (`.`), an error
/// for one that climbs out with `..`.
fn clean_entry_path(raw: &Path) -> std::result::Result<Option<PathBuf>, ()> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            // `..` may climb back up what the entry went down, never above the top.
            Component::ParentDir if !out.pop() => return Err(()),
            _ => {}
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Unpacks a tar archive into a directory of a view.
struct Extractor<'v> {
    view: &'v FsView,
    /// The directory entries land in, as the view sees it (resolved).
    dest: PathBuf,
    /// Rename the archive's first path component from the first name to the second.
    rename: Option<(OsString, OsString)>,
    /// Directories whose times are set last (adding entries changes them).
    dir_times: Vec<(PathBuf, TimeSpec)>,
}

impl<'v> Extractor<'v> {
    fn fail(&self, path: &Path, e: impl std::fmt::Display) -> EngineError {
        self.view.error(path, e)
    }

    fn target_path(&self, raw: &Path) -> Result<Option<PathBuf>> {
        let Ok(rel) = clean_entry_path(raw) else {
            return Err(EngineError::Invalid(format!(
                "archive entry {} climbs out of the destination directory",
                raw.display()
            )));
        };
        let Some(rel) = rel else {
            return Ok(None);
        };
        let rel = match &self.rename {
            Some((from, to)) => {
                let mut comps = rel.components();
                match comps.next() {
                    Some(Component::Normal(first)) if first == from.as_os_str() => {
                        Path::new(to).join(comps.as_path())
                    }
                    _ => rel,
                }
            }
            None => rel,
        };
        Ok(Some(self.dest.join(rel)))
    }

    fn extract(&mut self, input: impl Read) -> Result<u64> {
        let mut archive = tar::Archive::new(input);
        let bad = |e: io::Error| EngineError::Invalid(format!("reading the archive: {e}"));
        let mut count = 0;
        // Modes are applied as given: the process umask must not strip group and other bits.
        let old_umask = umask(Mode::empty());
        let result = (|| {
            for entry in archive.entries().map_err(bad)? {
                let mut entry = entry.map_err(bad)?;
                let raw = PathBuf::from(OsString::from_vec(entry.path_bytes().into_owned()));
                if self.entry(&raw, &mut entry)? {
                    count += 1;
                }
            }
            self.finish_dirs();
            Ok(count)
        })();
        umask(old_umask);
        // Read past the end-of-archive blocks too, so the writer never sees its reader go
        // away after a good archive.
        if result.is_ok() {
            let _ = io::copy(&mut archive.into_inner(), &mut io::sink());
        }
        result
    }

    /// Set directory times last, deepest first.
    fn finish_dirs(&mut self) {
        let mut dirs = std::mem::take(&mut self.dir_times);
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (path, mtime) in dirs {
            if let Ok(Located {
                place: Place::In { dir, name },
                ..
            }) = self.view.resolve(&path, false, false)
            {
                let _ = utimensat(
                    &dir,
                    name.as_os_str(),
                    &mtime,
                    &mtime,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                );
            }
        }
    }

    /// Apply one entry; false for entries that carry no file.
    fn entry<R: Read>(&mut self, raw: &Path, entry: &mut tar::Entry<'_, R>) -> Result<bool> {
        use tar::EntryType as T;
        let entry_type = entry.header().entry_type();
        if matches!(
            entry_type,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
        ) {
            return Ok(false);
        }
        let Some(path) = self.target_path(raw)? else {
            // The archive's top (`.`): the destination directory itself, which stays as it is.
            return Ok(false);
        };
        let meta = EntryMeta::read(entry).map_err(|e| self.fail(&path, e))?;
        if matches!(entry_type, T::Char | T::Block) && !self.view.devices {
            tracing::warn!(
                "not copying device node {} to the {}",
                path.display(),
                self.view.label
            );
            return Ok(false);
        }
        let loc = self.view.resolve(&path, false, true)?;
        if loc.read_only {
            return Err(self.fail(&loc.path, "read-only file system"));
        }
        let (dir, name) = match loc.place {
            Place::In { dir, name } => (dir, name),
            Place::Top { fd, source } => return self.onto_top(&loc.path, fd, source, entry),
        };
        let name = name.as_os_str();
        let existing = fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok();
        let existing_dir = existing.is_some_and(|st| kind(&st) == SFlag::S_IFDIR);
        if entry_type == T::Directory {
            if existing.is_some() && !existing_dir {
                unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir)
                    .map_err(|e| self.fail(&loc.path, e))?;
            }
            if !existing_dir {
                mkdirat(&dir, name, Mode::from_bits_truncate(0o700))
                    .map_err(|e| self.fail(&loc.path, e))?;
            }
            let fd = openat(
                &dir,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| self.fail(&loc.path, e))?;
            self.own_and_mode(&fd, &meta, &loc.path)?;
            set_xattrs(&File::from(fd), &meta.xattrs);
            self.dir_times.push((loc.path, meta.mtime));
            return Ok(true);
        }
        if existing_dir {
            return Err(self.fail(
                &loc.path,
                "is a directory; cannot replace it with a non-directory",
            ));
        }
        if existing.is_some() {
            // Never write through what is there: a symlink, a hard link to another file, a
            // device.
            unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir)
                .map_err(|e| self.fail(&loc.path, e))?;
        }
        let perm = Mode::from_bits_truncate(meta.mode & 0o777);
        match entry_type {
            T::Regular | T::Continuous | T::GNUSparse => {
                let fd = openat(
                    &dir,
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| self.fail(&loc.path, e))?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file).map_err(|e| self.fail(&loc.path, e))?;
                self.own_and_mode(&file, &meta, &loc.path)?;
                set_xattrs(&file, &meta.xattrs);
                futimens(&file, &meta.mtime, &meta.mtime).map_err(|e| self.fail(&loc.path, e))?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| OsString::from_vec(b.into_owned()))
                    .ok_or_else(|| self.fail(&loc.path, "symlink without a target"))?;
                symlinkat(target.as_os_str(), &dir, name).map_err(|e| self.fail(&loc.path, e))?;
                let _ = fchownat(
                    &dir,
                    name,
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                );
                let _ = utimensat(
                    &dir,
                    name,
                    &meta.mtime,
                    &meta.mtime,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                );
            }
            T::Link => {
                let raw_target = entry
                    .link_name_bytes()
                    .map(|b| PathBuf::from(OsString::from_vec(b.into_owned())))
                    .ok_or_else(|| self.fail(&loc.path, "hard link without a target"))?;
                let target = self.target_path(&raw_target)?.ok_or_else(|| {
                    self.fail(&loc.path, "hard link to the destination directory")
                })?;
                let Located {
                    place:
                        Place::In {
                            dir: target_dir,
                            name: target_name,
                        },
                    ..
                } = self.view.resolve(&target, false, false)?
                else {
                    return Err(self.fail(&loc.path, "hard link to a mount point"));
                };
                linkat(
                    &target_dir,
                    target_name.as_os_str(),
                    &dir,
                    name,
                    AtFlags::empty(),
                )
                .map_err(|e| {
                    self.fail(&loc.path, format!("linking to {}: {e}", target.display()))
                })?;
            }
            T::Char | T::Block | T::Fifo => {
                let (kind, dev) = match entry_type {
                    T::Char | T::Block => {
                        let h = entry.header();
                        let major = h.device_major().ok().flatten().unwrap_or(0);
                        let minor = h.device_minor().ok().flatten().unwrap_or(0);
                        let kind = if entry_type == T::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (kind, makedev(major as u64, minor as u64))
                    }
                    _ => (SFlag::S_IFIFO, 0),
                };
                mknodat(&dir, name, kind, perm, dev).map_err(|e| self.fail(&loc.path, e))?;
                let _ = fchownat(
                    &dir,
                    name,
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                );
            }
            other => {
                return Err(self.fail(
                    &loc.path,
                    format!("archive entry of type {other:?} cannot be copied"),
                ));
            }
        }
        Ok(true)
    }

    /// An entry that lands on the top of a mount (or of the view).
    fn onto_top<R: Read>(
        &mut self,
        path: &Path,
        fd: OwnedFd,
        source: Option<PathBuf>,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<bool> {
        let st = fstat(&fd).map_err(|e| self.fail(path, e))?;
        match (entry.header().entry_type(), kind(&st), source) {
            // The directory is there already; its metadata belongs to the mount.
            (tar::EntryType::Directory, SFlag::S_IFDIR, _) => Ok(false),
            // A file mount (a bind-mounted file, `/etc/hosts`): its content is replaced in place.
            (tar::EntryType::Regular, SFlag::S_IFREG, Some(source)) => {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&source)
                    .map_err(|e| self.fail(path, e))?;
                io::copy(entry, &mut file).map_err(|e| self.fail(path, e))?;
                Ok(true)
            }
            _ => Err(self.fail(path, "is a mount point; cp cannot replace it")),
        }
    }

    fn own_and_mode(&self, fd: &impl AsFd, meta: &EntryMeta, path: &Path) -> Result<()> {
        // Ownership first: chown clears the set-user-ID and set-group-ID bits.
        fchown(
            fd,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .map_err(|e| self.fail(path, e))?;
        fchmod(fd, Mode::from_bits_truncate(meta.mode)).map_err(|e| self.fail(path, e))
    }
}

fn set_xattrs(file: &File, xattrs: &[(OsString, Vec<u8>)]) {
    for (name, value) in xattrs {
        if skip_xattr(name) {
            continue;
        }
        if let Err(e) = file.set_xattr(name, value) {
            tracing::warn!("cannot set extended attribute {name:?}: {e}");
        }
    }
}

/// Copy `src` in view `from` to `dest` in view `to`, as `docker cp` places things.
fn copy_between(from: &FsView, src: &Path, to: &FsView, dest: &Path) -> Result<()> {
    let source = from.resolve(src, false, false)?;
    let st = from
        .stat(&source)?
        .ok_or_else(|| from.error(&source.path, "no such file or directory"))?;
    let src_is_dir = kind(&st) == SFlag::S_IFDIR;
    if (ends_with_slash(src) || ends_with_dot(src)) && !src_is_dir {
        return Err(from.error(src, "not a directory"));
    }
    let contents_only = ends_with_dot(src) || base_name(&source.path).is_none();
    let src_name = base_name(&source.path).unwrap_or_else(|| OsString::from("."));

    let target = to.resolve(dest, true, false)?;
    let target_st = to.stat(&target)?;
    let (into, rename, contents_only) = match target_st.map(|st| kind(&st)) {
        Some(SFlag::S_IFDIR) if contents_only => (target.path.clone(), None, true),
        Some(SFlag::S_IFDIR) => (target.path.clone(), None, false),
        Some(_) if src_is_dir => {
            return Err(to.error(
                &target.path,
                "cannot copy a directory onto a file that is not a directory",
            ));
        }
        Some(_) => {
            let name = base_name(&target.path).unwrap_or_default();
            (
                parent_of(&target.path),
                Some((src_name.clone(), name)),
                false,
            )
        }
        None => {
            if ends_with_slash(dest) && !src_is_dir {
                return Err(to.error(dest, "the destination directory does not exist"));
            }
            // The new name goes into a directory that must exist.
            let parent = to.resolve(&parent_of(&target.path), true, false)?;
            let parent_is_dir = to
                .stat(&parent)?
                .is_some_and(|st| kind(&st) == SFlag::S_IFDIR);
            if !parent_is_dir {
                return Err(to.error(&parent.path, "no such directory"));
            }
            let name = base_name(&target.path).unwrap_or_default();
            if contents_only {
                // A directory's contents into a new directory: make it, then fill it.
                if target.read_only {
                    return Err(to.error(&target.path, "read-only file system"));
                }
                if let Place::In { dir, name } = &target.place {
                    mkdirat(
                        dir,
                        name.as_os_str(),
                        Mode::from_bits_truncate(st.st_mode & 0o7777),
                    )
                    .map_err(|e| to.error(&target.path, e))?;
                }
                (target.path.clone(), None, true)
            } else {
                (
                    parent_of(&target.path),
                    Some((src_name.clone(), name)),
                    false,
                )
            }
        }
    };
    let apath = if contents_only {
        PathBuf::new()
    } else {
        PathBuf::from(&src_name)
    };
    let mut extractor = Extractor {
        view: to,
        dest: into,
        rename,
        dir_times: Vec::new(),
    };
    // A reader that went away shows as EPIPE in the archiving thread, not as a signal.
    crate::sys::signal::ignore_sigpipe();
    let (reader, writer) = io::pipe().map_err(|e| EngineError::Invalid(format!("pipe: {e}")))?;
    let reader_gone = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let archiving = scope.spawn(|| {
            let out = NoticeBrokenPipe {
                inner: writer,
                broken: &reader_gone,
            };
            let mut archiver = Archiver::new(from, BufWriter::with_capacity(256 * 1024, out));
            archiver.add(&source, &apath, contents_only)?;
            archiver.finish()
        });
        let extracted = extractor.extract(reader);
        let archived = archiving
            .join()
            .expect("the archiving thread does not panic");
        // When the extraction stopped first, the archiver only saw its reader go away.
        match (archived, extracted) {
            (_, Err(e)) if reader_gone.load(Ordering::Relaxed) => Err(e),
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(_)) => Ok(()),
        }
    })
}

/// A writer that notes when its reader went away (EPIPE).
struct NoticeBrokenPipe<'a, W> {
    inner: W,
    broken: &'a AtomicBool,
}

impl<W: Write> Write for NoticeBrokenPipe<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.broken.store(true, Ordering::Relaxed);
            }
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

/// A container's root file system mounted for a copy, to unmount afterwards.
pub(crate) struct TemporaryRootfs {
    id: String,
}

impl Engine {
    /// The container's files as a process in it sees them, mounting the root file system of a
    /// stopped container (see [`Engine::release_rootfs`]).
    pub(crate) fn container_view(
        &mut self,
        name_or_id: &str,
    ) -> Result<(FsView, Option<TemporaryRootfs>)> {
        let record = self.find_container(name_or_id)?;
        let spec = Self::spec_of(&record)?;
        let dir = self.container_dir(&record.id);
        let merged = dir.merged();
        let mut mounted = None;
        if !is_mountpoint(&merged) {
            if record.status.is_active() {
                return Err(EngineError::Invalid(format!(
                    "container {}: its root file system {} is not mounted",
                    record.name,
                    merged.display()
                )));
            }
            let image = self.container_image(&record)?;
            let lowers = self.layer_dirs(&image)?;
            dir.create()
                .and_then(|_| dir.mount_rootfs(&lowers))
                .map_err(|e| EngineError::Invalid(e.to_string()))?;
            mounted = Some(TemporaryRootfs {
                id: record.id.clone(),
            });
        }
        let root = open(
            &merged,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        );
        let root = match root {
            Ok(fd) => fd,
            Err(e) => {
                self.release_rootfs(mounted);
                return Err(EngineError::Invalid(format!("{}: {e}", merged.display())));
            }
        };

        // What covers the root file system in the container, in the runtime spec's order.
        let mut mounts = Vec::new();
        for kernel in ["/proc", "/sys", "/dev"] {
            mounts.push(ViewMount {
                destination: PathBuf::from(kernel),
                cover: Cover::Unreachable("a kernel file system"),
                read_only: true,
            });
        }
        for (dest, file) in [
            ("/etc/hosts", "hosts"),
            ("/etc/hostname", "hostname"),
            ("/etc/resolv.conf", "resolv.conf"),
        ] {
            let source = dir.file(file);
            if source.exists() {
                mounts.push(ViewMount {
                    destination: PathBuf::from(dest),
                    cover: Cover::Host(source),
                    read_only: false,
                });
            }
        }
        if spec.read_only {
            for dest in ["/tmp", "/var/tmp", "/run"] {
                mounts.push(ViewMount {
                    destination: PathBuf::from(dest),
                    cover: Cover::Unreachable("a tmpfs"),
                    read_only: false,
                });
            }
        }
        let volume_data = |name: &str| {
            let data = self.paths.root.join("volumes").join(name).join("_data");
            data.is_dir().then_some(data)
        };
        for m in &spec.mounts {
            let cover = match &m.kind {
                MountKind::Bind { source } => Some(Cover::Host(source.clone())),
                MountKind::Volume { name } => volume_data(name).map(Cover::Host),
                MountKind::Anonymous => volume_data(&crate::engine::anonymous_volume_name(
                    &record.id,
                    &m.destination,
                ))
                .map(Cover::Host),
                MountKind::Tmpfs { .. } => Some(Cover::Unreachable("a tmpfs")),
            };
            // A volume not created yet (the container never ran) leaves the image's content.
            if let Some(cover) = cover {
                mounts.push(ViewMount {
                    destination: m.destination.clone(),
                    cover,
                    read_only: m.read_only,
                });
            }
        }
        // The image's VOLUMEs that no mount covers have anonymous volumes of their own.
        let defaults = self
            .store
            .image(&record.image_id)
            .ok()
            .flatten()
            .and_then(|i| serde_json::from_slice::<ImageConfig>(&i.config).ok())
            .and_then(|c| ImageDefaults::from_config(c.config.as_ref()).ok())
            .unwrap_or_default();
        for path in &defaults.volumes {
            if spec.mounts.iter().any(|m| &m.destination == path) {
                continue;
            }
            if let Some(data) = volume_data(&crate::engine::anonymous_volume_name(&record.id, path))
            {
                mounts.push(ViewMount {
                    destination: path.clone(),
                    cover: Cover::Host(data),
                    read_only: false,
                });
            }
        }
        Ok((
            FsView {
                label: format!("container {}", record.name),
                root,
                root_read_only: spec.read_only,
                mounts,
                devices: true,
            },
            mounted,
        ))
    }

    /// Unmount a root file system [`Engine::container_view`] mounted, unless the container
    /// started (or began to start) meanwhile: its runtime uses the mount then.
    pub(crate) fn release_rootfs(&mut self, mounted: Option<TemporaryRootfs>) {
        let Some(TemporaryRootfs { id }) = mounted else {
            return;
        };
        // A monitor recorded on a container that is not running yet is starting it.
        let active = self
            .store
            .container(&id)
            .ok()
            .flatten()
            .is_some_and(|c| c.status.is_active() || c.monitor_pid.is_some());
        if !active && let Err(e) = self.container_dir(&id).unmount_rootfs() {
            tracing::warn!("{e}");
        }
    }

    /// `cp`: copy between a container and the host, or between a container and a tar stream
    /// on stdin/stdout. Exactly one side must be in a container.
    pub fn copy(&mut self, source: &CopyLocation, destination: &CopyLocation) -> Result<()> {
        use CopyLocation::{Container, Host, Stream};
        let absolute = |p: &Path| -> Result<PathBuf> {
            Ok(if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir()
                    .map_err(crate::engine::io_err(Path::new(".")))?
                    .join(p)
            })
        };
        let in_container = |p: &Path| -> Result<PathBuf> {
            if p.as_os_str().is_empty() {
                return Err(EngineError::Invalid(
                    "give a path after the container name: CONTAINER:PATH".into(),
                ));
            }
            Ok(Path::new("/").join(p))
        };
        let host_view =
            || FsView::host().map_err(|e| EngineError::Invalid(format!("opening /: {e}")));
        match (source, destination) {
            (Container { .. }, Container { .. }) => Err(EngineError::Invalid(
                "copying from one container to another is not supported: copy to the host first"
                    .into(),
            )),
            (Container { container, path }, other) => {
                let path = in_container(path)?;
                let (view, mounted) = self.container_view(container)?;
                let result = match other {
                    Stream => archive_to_stdout(&view, &path),
                    Host(host) => copy_between(&view, &path, &host_view()?, &absolute(host)?),
                    Container { .. } => unreachable!("handled above"),
                };
                drop(view);
                self.release_rootfs(mounted);
                result
            }
            (other, Container { container, path }) => {
                let path = in_container(path)?;
                let (view, mounted) = self.container_view(container)?;
                let result = match other {
                    Stream => extract_from_stdin(&view, &path),
                    Host(host) => copy_between(&host_view()?, &absolute(host)?, &view, &path),
                    Container { .. } => unreachable!("handled above"),
                };
                drop(view);
                self.release_rootfs(mounted);
                result
            }
            _ => Err(EngineError::Invalid(
                "one of SOURCE and DESTINATION must be a container path: CONTAINER:PATH".into(),
            )),
        }
    }
}

/// `cp CONTAINER:PATH -`: the path as a tar archive on stdout.
fn archive_to_stdout(view: &FsView, path: &Path) -> Result<()> {
    let source = view.resolve(path, false, false)?;
    let st = view
        .stat(&source)?
        .ok_or_else(|| view.error(&source.path, "no such file or directory"))?;
    let is_dir = kind(&st) == SFlag::S_IFDIR;
    if (ends_with_slash(path) || ends_with_dot(path)) && !is_dir {
        return Err(view.error(path, "not a directory"));
    }
    let name = base_name(&source.path);
    let contents_only = ends_with_dot(path) || name.is_none();
    let apath = name.map(PathBuf::from).unwrap_or_default();
    let stdout = io::stdout().lock();
    let mut archiver = Archiver::new(view, BufWriter::with_capacity(256 * 1024, stdout));
    archiver.add(&source, &apath, contents_only)?;
    archiver.finish()
}

/// `cp - CONTAINER:PATH`: a tar archive (plain or compressed) from stdin, unpacked into the
/// directory PATH.
fn extract_from_stdin(view: &FsView, path: &Path) -> Result<()> {
    let target = view.resolve(path, true, false)?;
    let is_dir = view
        .stat(&target)?
        .is_some_and(|st| kind(&st) == SFlag::S_IFDIR);
    if !is_dir {
        return Err(view.error(
            &target.path,
            "not a directory: an archive from stdin is unpacked into an existing directory",
        ));
    }
    let input = crate::image::unpack::decompress(io::stdin())
        .map_err(|e| EngineError::Invalid(format!("reading the archive from stdin: {e}")))?;
    let mut extractor = Extractor {
        view,
        dest: target.path,
        rename: None,
        dir_times: Vec::new(),
    };
    extractor.extract(input).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn view_of(dir: &Path) -> FsView {
        FsView {
            label: "test".into(),
            root: open(
                dir,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .unwrap(),
            root_read_only: false,
            mounts: Vec::new(),
            devices: true,
        }
    }

    #[test]
    fn arguments_parse_as_docker_reads_them() {
        assert_eq!(CopyLocation::parse("-"), CopyLocation::Stream);
        assert_eq!(
            CopyLocation::parse("web:/etc/hosts"),
            CopyLocation::Container {
                container: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(
            CopyLocation::parse("/tmp/a:b"),
            CopyLocation::Host("/tmp/a:b".into())
        );
        assert_eq!(
            CopyLocation::parse("./a:b"),
            CopyLocation::Host("./a:b".into())
        );
        assert_eq!(
            CopyLocation::parse("file.txt"),
            CopyLocation::Host("file.txt".into())
        );
    }

    #[test]
    fn symlinks_resolve_inside_the_view() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "inside\n").unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../../etc", root.join("climb")).unwrap();
        symlink("/", root.join("top")).unwrap();
        let view = view_of(&root);
        assert_eq!(
            view.read_file(Path::new("/abs/passwd")).unwrap(),
            "inside\n"
        );
        assert_eq!(
            view.read_file(Path::new("/climb/passwd")).unwrap(),
            "inside\n"
        );
        assert_eq!(
            view.read_file(Path::new("/top/../../etc/passwd")).unwrap(),
            "inside\n"
        );
        let loc = view.resolve(Path::new("/abs/new"), false, false).unwrap();
        assert_eq!(loc.path, Path::new("/etc/new"));
        assert!(view.resolve(Path::new("/nope/x"), false, false).is_err());
    }

    #[test]
    fn copies_keep_trees_links_and_modes_and_never_leave_the_view() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let dst = tmp.path().join("dst");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(src.join("tree/sub")).unwrap();
        std::fs::create_dir_all(dst.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(src.join("tree/sub/f"), "data").unwrap();
        std::fs::set_permissions(
            src.join("tree/sub/f"),
            std::fs::Permissions::from_mode(0o751),
        )
        .unwrap();
        std::fs::hard_link(src.join("tree/sub/f"), src.join("tree/hard")).unwrap();
        symlink("/etc/passwd", src.join("tree/link")).unwrap();
        // In the destination, a symlink pointing at the host directory next to it.
        symlink(&outside, dst.join("escape")).unwrap();

        let from = view_of(&src);
        let to = view_of(&dst);
        copy_between(&from, Path::new("/tree"), &to, Path::new("/copy")).unwrap();
        let f = dst.join("copy/sub/f");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "data");
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o7777, 0o751);
        assert_eq!(
            std::fs::metadata(&f).unwrap().ino(),
            std::fs::metadata(dst.join("copy/hard")).unwrap().ino()
        );
        assert_eq!(
            std::fs::read_link(dst.join("copy/link")).unwrap(),
            Path::new("/etc/passwd")
        );

        // Into an existing directory; a file onto a file.
        copy_between(&from, Path::new("/tree"), &to, Path::new("/etc")).unwrap();
        assert!(dst.join("etc/tree/sub/f").is_file());
        copy_between(
            &from,
            Path::new("/tree/sub/f"),
            &to,
            Path::new("/etc/renamed"),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dst.join("etc/renamed")).unwrap(),
            "data"
        );
        // Contents only.
        copy_between(&from, Path::new("/tree/."), &to, Path::new("/flat")).unwrap();
        assert!(dst.join("flat/sub/f").is_file());

        // Through the destination's absolute symlink: it resolves inside the view, where its
        // target does not exist.
        copy_between(&from, Path::new("/tree/sub/f"), &to, Path::new("/escape/x")).unwrap_err();
        copy_between(&from, Path::new("/tree/sub/f"), &to, Path::new("/escape")).unwrap_err();
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        // An archive entry landing on a symlink replaces the link, never writes through it.
        std::fs::remove_file(dst.join("etc/tree/sub/f")).unwrap();
        symlink(outside.join("f"), dst.join("etc/tree/sub/f")).unwrap();
        std::fs::remove_file(dst.join("etc/tree/hard")).unwrap();
        symlink(&outside, dst.join("etc/tree/hard")).unwrap();
        copy_between(&from, Path::new("/tree"), &to, Path::new("/etc")).unwrap();
        assert!(
            std::fs::symlink_metadata(dst.join("etc/tree/sub/f"))
                .unwrap()
                .is_file()
        );
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
    }

    #[test]
    fn archive_paths_may_not_climb_out() {
        assert_eq!(
            clean_entry_path(Path::new("./a/b")).unwrap(),
            Some("a/b".into())
        );
        assert_eq!(
            clean_entry_path(Path::new("/a/../b")).unwrap(),
            Some("b".into())
        );
        assert_eq!(clean_entry_path(Path::new("./")).unwrap(), None);
        assert!(clean_entry_path(Path::new("a/../../b")).is_err());
    }
}
