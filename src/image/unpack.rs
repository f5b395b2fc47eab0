//! Applying one OCI image layer (a tar stream) to a directory that becomes an overlayfs lower layer.
//!
//! The layer is untrusted input. Nothing is created or opened by path: every entry's parent
//! directory is reached from a descriptor of the layer directory, one component at a time with
//! `O_NOFOLLOW`, and the entry is made relative to that descriptor. A symlink planted by an
//! earlier entry is therefore never followed, and `..` is resolved lexically and may not climb
//! above the layer directory.
//!
//! OCI whiteouts become overlay whiteouts: `dir/.wh.name` turns into a 0/0 character device at
//! `dir/name`, and `dir/.wh..wh..opq` into the opaque xattr on `dir`.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use sha2::{Digest, Sha256};
use xattr::FileExt;

/// The xattr overlayfs reads to hide a lower directory's contents (rootful mounts).
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The same, for overlay mounted inside a user namespace with `userxattr`: `trusted.*` is out of
/// reach there.
pub const OPAQUE_XATTR_ROOTLESS: &str = "user.overlay.opaque";

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Names aufs used for its own bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`); never image content.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
const COPY_BUFFER: usize = 256 * 1024;

/// How layer content is compressed, from the descriptor's media type or sniffed from magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression of an OCI or Docker layer media type; `None` when it is not a layer type.
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        let mt = mt.split(';').next().unwrap_or(mt).trim();
        let layer = mt.starts_with("application/vnd.oci.image.layer.")
            || mt.starts_with("application/vnd.docker.image.rootfs.");
        if !layer {
            return None;
        }
        if mt.ends_with("+gzip") || mt.ends_with(".tar.gzip") {
            Some(Compression::Gzip)
        } else if mt.ends_with("+zstd") || mt.ends_with(".tar.zstd") {
            Some(Compression::Zstd)
        } else if mt.ends_with(".tar") {
            Some(Compression::None)
        } else {
            None
        }
    }

    /// Guess from the first bytes of the blob; anything unrecognised is taken as a plain tar.
    pub fn sniff(first_bytes: &[u8]) -> Compression {
        if first_bytes.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if first_bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Wrap `reader` in this compression's decoder.
    pub fn decoder(self, reader: impl Read + 'static) -> io::Result<Box<dyn Read>> {
        Ok(match self {
            Compression::None => Box::new(reader),
            // Multi-member: parallel compressors (pigz) emit concatenated gzip members.
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
        })
    }
}

/// Wrap a reader in the right decompressor, sniffing magic bytes (gzip `1f 8b`, zstd
/// `28 b5 2f fd`, anything else is read as a plain tar).
pub fn decompress(mut reader: impl Read + 'static) -> io::Result<Box<dyn Read>> {
    let mut magic = [0u8; 4];
    let mut len = 0;
    // A single read may return fewer bytes than the magic needs.
    while len < magic.len() {
        match reader.read(&mut magic[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = magic[..len].to_vec();
    Compression::sniff(&head).decoder(io::Cursor::new(head).chain(reader))
}

/// How to unpack.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Running without privileges: device nodes are refused, ownership that cannot be applied is
    /// left as is, and the opaque marker is [`OPAQUE_XATTR_ROOTLESS`].
    pub rootless: bool,
}

/// What one unpack did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar members applied (whiteouts included, extension headers not).
    pub entries: u64,
    /// Length of the uncompressed tar stream: the layer's diff size.
    pub bytes: u64,
    /// Bytes of regular file content written.
    pub file_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot open layer directory {path:?}")]
    Dest {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the layer tar stream{}", after_entry(.last_entry))]
    Read {
        /// The last entry read successfully, if any.
        last_entry: Option<PathBuf>,
        #[source]
        source: io::Error,
    },
    #[error("layer entry {entry:?} has a malformed header")]
    Header {
        entry: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer entry {entry:?} escapes the layer directory")]
    Escape { entry: PathBuf },
    #[error(
        "layer entry {entry:?} goes through {symlink:?}, a symlink in the layer; refusing to follow it"
    )]
    ThroughSymlink { entry: PathBuf, symlink: PathBuf },
    #[error("layer entry {entry:?} needs {path:?} to be a directory, but it is not one")]
    NotADirectory { entry: PathBuf, path: PathBuf },
    #[error(
        "layer entry {entry:?} is a hard link to {target:?}, which is outside the layer directory"
    )]
    HardlinkEscape { entry: PathBuf, target: PathBuf },
    #[error(
        "layer entry {entry:?} is a hard link to {target:?}, which is not a file earlier in the layer"
    )]
    HardlinkMissing { entry: PathBuf, target: PathBuf },
    #[error(
        "layer entry {entry:?} is a device node; device nodes cannot be created when running rootless"
    )]
    DeviceNode { entry: PathBuf },
    #[error("layer entry {entry:?} has tar entry type {kind:?}, which cannot be unpacked")]
    Unsupported { entry: PathBuf, kind: char },
    #[error("layer entry {entry:?} is invalid: {reason}")]
    Invalid {
        entry: PathBuf,
        reason: &'static str,
    },
    #[error("cannot set extended attribute {name:?} on {path:?} for layer entry {entry:?}")]
    Xattr {
        entry: PathBuf,
        path: PathBuf,
        name: OsString,
        #[source]
        source: io::Error,
    },
    #[error("cannot {action} {path:?} for layer entry {entry:?}")]
    Io {
        entry: PathBuf,
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
}

fn after_entry(last: &Option<PathBuf>) -> String {
    match last {
        Some(p) => format!(" after entry {p:?}"),
        None => String::new(),
    }
}

/// Unpack one layer (an already decompressed tar stream) into `dest`, an existing empty directory.
pub fn unpack_layer(
    tar: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let root = open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Dest {
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    let mut unpacker = Unpacker {
        dest,
        root,
        opts,
        dirs: HashMap::new(),
        cached_parent: None,
        buf: vec![0; COPY_BUFFER],
        stats: UnpackStats::default(),
    };
    let mut archive = tar::Archive::new(CountingReader {
        inner: tar,
        count: 0,
    });
    let entries = archive.entries().map_err(|source| UnpackError::Read {
        last_entry: None,
        source,
    })?;
    let mut last_entry: Option<PathBuf> = None;
    for entry in entries {
        let mut entry = entry.map_err(|source| UnpackError::Read {
            last_entry: last_entry.clone(),
            source,
        })?;
        let raw = PathBuf::from(OsString::from_vec(entry.path_bytes().into_owned()));
        unpacker.entry(&raw, &mut entry)?;
        last_entry = Some(raw);
    }
    // The tar reader stops at the end-of-archive marker; the stream's length (and a diff-id
    // computed over it) includes the padding after it.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink())
        .map_err(|source| UnpackError::Read { last_entry, source })?;
    let mut stats = unpacker.finish()?;
    stats.bytes = rest.count;
    Ok(stats)
}

/// Unpack a possibly compressed layer, returning its diff-id (`sha256:<hex>` of the uncompressed
/// tar stream) along with the stats.
pub fn unpack_layer_digest(
    compressed: impl Read + 'static,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<(String, UnpackStats), UnpackError> {
    let read_err = |source| UnpackError::Read {
        last_entry: None,
        source,
    };
    let mut reader = DigestReader {
        inner: decompress(compressed).map_err(read_err)?,
        hasher: Sha256::new(),
    };
    // unpack_layer reads the stream to its end, so the digest covers all of it.
    let stats = unpack_layer(&mut reader, dest, opts)?;
    let diff_id = format!("sha256:{}", hex::encode(reader.hasher.finalize()));
    Ok((diff_id, stats))
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

struct DigestReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Metadata of one tar member, with PAX overrides applied.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Meta {
    fn read<R: Read>(raw: &Path, entry: &mut tar::Entry<'_, R>) -> Result<Meta, UnpackError> {
        let bad = |source| UnpackError::Header {
            entry: raw.to_path_buf(),
            source,
        };
        let invalid = |what: &str| {
            bad(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("invalid {what}"),
            ))
        };
        let h = entry.header();
        let old = h.as_old();
        let mode = blank_is_zero(h.mode(), &old.mode).map_err(bad)? & 0o7777;
        let mut uid = blank_is_zero(h.uid(), &old.uid).map_err(bad)?;
        let mut gid = blank_is_zero(h.gid(), &old.gid).map_err(bad)?;
        let mtime = blank_is_zero(h.mtime(), &old.mtime).map_err(bad)?;
        let secs = i64::try_from(mtime).unwrap_or(i64::MAX);
        let mut mtime = TimeSpec::new(secs, 0);
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(bad)? {
            for ext in pax {
                let ext = ext.map_err(bad)?;
                let (key, value) = (ext.key_bytes(), ext.value_bytes());
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((OsStr::from_bytes(name).to_owned(), value.to_vec()));
                    continue;
                }
                // PAX carries ids and times that do not fit the ustar fields.
                match key {
                    b"uid" => uid = parse_decimal(value).ok_or_else(|| invalid("PAX uid"))?,
                    b"gid" => gid = parse_decimal(value).ok_or_else(|| invalid("PAX gid"))?,
                    b"mtime" => {
                        mtime = parse_pax_time(value).ok_or_else(|| invalid("PAX mtime"))?
                    }
                    _ => {}
                }
            }
        }
        Ok(Meta {
            mode,
            uid: u32::try_from(uid).map_err(|_| invalid("uid (above 2^32)"))?,
            gid: u32::try_from(gid).map_err(|_| invalid("gid (above 2^32)"))?,
            mtime,
            xattrs,
        })
    }
}

/// Some writers leave numeric fields they consider unused empty; GNU tar and Go read them as 0.
fn blank_is_zero<T: Default>(parsed: io::Result<T>, field: &[u8]) -> io::Result<T> {
    if field.iter().all(|&b| b == 0 || b == b' ') {
        Ok(T::default())
    } else {
        parsed
    }
}

/// The device number of a character or block device header.
fn device_number(h: &tar::Header) -> io::Result<u64> {
    let (major_field, minor_field) = match (h.as_ustar(), h.as_gnu()) {
        (Some(u), _) => (&u.dev_major, &u.dev_minor),
        (None, Some(g)) => (&g.dev_major, &g.dev_minor),
        // Pre-POSIX headers have no device fields.
        (None, None) => return Ok(makedev(0, 0)),
    };
    let major = blank_is_zero(h.device_major(), major_field)?.unwrap_or(0);
    let minor = blank_is_zero(h.device_minor(), minor_field)?.unwrap_or(0);
    Ok(makedev(major.into(), minor.into()))
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// `secs[.fraction]`, possibly negative, as PAX writes times.
fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let nanos = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    Some(match (negative, nanos) {
        (false, _) => TimeSpec::new(secs, nanos),
        (true, 0) => TimeSpec::new(-secs, 0),
        (true, _) => TimeSpec::new(-secs - 1, 1_000_000_000 - nanos),
    })
}

/// Resolve `raw` lexically inside the layer: leading `/` and `.` are dropped, `..` pops a
/// component and may not climb above the layer directory. The result has only normal components.
fn normalize(raw: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(name) => out.push(name),
        }
    }
    Some(out)
}

/// Why walking to a directory inside the layer failed; paths are relative to the layer.
enum WalkError {
    Symlink(PathBuf),
    NotDir(PathBuf),
    Missing(PathBuf),
    Io(PathBuf, io::Error),
}

/// What `clear` found (and removed, unless it was a directory to keep) at an entry's path.
#[derive(PartialEq, Eq)]
enum Existing {
    Nothing,
    Dir,
    Whiteout,
}

/// Deferred until every entry is in: writing into a directory changes its mtime, and a read-only
/// mode would stop an unprivileged unpack from filling it.
struct DirMeta {
    mode: u32,
    mtime: TimeSpec,
}

/// Where an xattr goes: an open file or directory, or (for symlinks, devices and FIFOs, which
/// cannot be opened safely) a name under an open parent.
enum XattrTarget<'a> {
    File(&'a File),
    Under(&'a OwnedFd, &'a OsStr),
}

/// Errors for one entry at one path.
struct Cx<'a> {
    entry: &'a Path,
    path: PathBuf,
}

impl Cx<'_> {
    fn io<E: Into<io::Error>>(&self, action: &'static str) -> impl FnOnce(E) -> UnpackError + '_ {
        move |e| UnpackError::Io {
            entry: self.entry.to_path_buf(),
            path: self.path.clone(),
            action,
            source: e.into(),
        }
    }

    fn invalid(&self, reason: &'static str) -> UnpackError {
        UnpackError::Invalid {
            entry: self.entry.to_path_buf(),
            reason,
        }
    }
}

struct Unpacker<'a> {
    dest: &'a Path,
    root: OwnedFd,
    opts: &'a UnpackOptions,
    dirs: HashMap<PathBuf, DirMeta>,
    /// The last parent directory walked to: tar members of one directory usually come together.
    cached_parent: Option<(PathBuf, OwnedFd)>,
    buf: Vec<u8>,
    stats: UnpackStats,
}

impl Unpacker<'_> {
    fn entry<R: Read>(
        &mut self,
        raw: &Path,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            // Archive-wide defaults (in practice a comment); nothing to create.
            return Ok(());
        }
        self.stats.entries += 1;
        let rel = normalize(raw).ok_or_else(|| UnpackError::Escape {
            entry: raw.to_path_buf(),
        })?;
        let cx = Cx {
            entry: raw,
            path: self.dest.join(&rel),
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let name = rel.file_name();

        for dir in parent_rel.iter() {
            let dir = dir.as_bytes();
            if dir.starts_with(AUFS_META_PREFIX) {
                return Ok(());
            }
            if dir.starts_with(WHITEOUT_PREFIX) {
                return Err(cx.invalid("a directory in its path has the whiteout prefix \".wh.\""));
            }
        }
        if let Some(name) = name.map(OsStr::as_bytes) {
            if name == OPAQUE_MARKER {
                return self.opaque(raw, parent_rel);
            }
            if name.starts_with(AUFS_META_PREFIX) {
                return Ok(());
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
                return self.whiteout(raw, parent_rel, OsStr::from_bytes(hidden));
            }
        }

        let meta = Meta::read(raw, entry)?;
        // Pre-POSIX tars mark directories only by a trailing slash.
        let is_dir =
            kind.is_dir() || (kind.is_file() && raw.as_os_str().as_bytes().ends_with(b"/"));
        let Some(name) = name else {
            if !is_dir {
                return Err(
                    cx.invalid("it names the layer directory itself but is not a directory")
                );
            }
            let root = File::from(self.root.try_clone().map_err(cx.io("open directory"))?);
            return self.apply_dir_meta(&cx, &root, &rel, meta, false);
        };
        let parent = self.dir_fd(raw, parent_rel)?;

        if is_dir {
            self.directory(&cx, &parent, name, &rel, meta)
        } else if kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse() {
            self.regular(&cx, &parent, name, &rel, entry, meta)
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| cx.invalid("it is a symlink without a target"))?
                .into_owned();
            self.clear(&cx, &parent, name, &rel, false)?;
            symlinkat(target.as_slice(), &parent, name).map_err(cx.io("create symlink"))?;
            self.finish_special(&cx, &parent, name, &meta, false)
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| cx.invalid("it is a hard link without a target"))?
                .into_owned();
            let target = PathBuf::from(OsString::from_vec(target));
            self.hardlink(&cx, &parent, name, &rel, &target)
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            let dev = if kind.is_fifo() {
                0
            } else {
                device_number(entry.header()).map_err(|source| UnpackError::Header {
                    entry: raw.to_path_buf(),
                    source,
                })?
            };
            let (sflag, what) = if kind.is_fifo() {
                (SFlag::S_IFIFO, "create FIFO")
            } else if kind.is_character_special() {
                (SFlag::S_IFCHR, "create character device")
            } else {
                (SFlag::S_IFBLK, "create block device")
            };
            // A 0/0 character device is an overlay whiteout, which the kernel lets anyone create.
            let whiteout = sflag == SFlag::S_IFCHR && dev == 0;
            if self.opts.rootless && !kind.is_fifo() && !whiteout {
                return Err(UnpackError::DeviceNode {
                    entry: raw.to_path_buf(),
                });
            }
            self.clear(&cx, &parent, name, &rel, false)?;
            let perm = Mode::from_bits_truncate(meta.mode & 0o777);
            mknodat(&parent, name, sflag, perm, dev).map_err(cx.io(what))?;
            self.finish_special(&cx, &parent, name, &meta, true)
        } else {
            Err(UnpackError::Unsupported {
                entry: raw.to_path_buf(),
                kind: char::from(kind.as_byte()),
            })
        }
    }

    fn directory(
        &mut self,
        cx: &Cx<'_>,
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        meta: Meta,
    ) -> Result<(), UnpackError> {
        let existing = self.clear(cx, parent, name, rel, true)?;
        if existing != Existing::Dir {
            mkdirat(parent, name, Mode::from_bits_truncate(0o700))
                .map_err(cx.io("create directory"))?;
        }
        let dir = File::from(open_dir_at(parent, name).map_err(cx.io("open directory"))?);
        // A directory replacing a whiteout in the same layer must still hide the lower one.
        self.apply_dir_meta(cx, &dir, rel, meta, existing == Existing::Whiteout)
    }

    fn apply_dir_meta(
        &mut self,
        cx: &Cx<'_>,
        dir: &File,
        rel: &Path,
        meta: Meta,
        opaque: bool,
    ) -> Result<(), UnpackError> {
        self.own(cx, fchown(dir, uid(meta.uid), gid(meta.gid)))?;
        if opaque {
            self.set_opaque(cx, dir)?;
        }
        self.set_xattrs(cx, XattrTarget::File(dir), &meta.xattrs)?;
        self.dirs.insert(
            rel.to_path_buf(),
            DirMeta {
                mode: meta.mode,
                mtime: meta.mtime,
            },
        );
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        cx: &Cx<'_>,
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        entry: &mut tar::Entry<'_, R>,
        meta: Meta,
    ) -> Result<(), UnpackError> {
        // Removing first (rather than truncating) keeps other hard links to the old file intact.
        self.clear(cx, parent, name, rel, false)?;
        let fd = openat(
            parent,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(cx.io("create file"))?;
        let mut file = File::from(fd);
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(UnpackError::Read {
                        last_entry: Some(cx.entry.to_path_buf()),
                        source,
                    });
                }
            };
            file.write_all(&self.buf[..n]).map_err(cx.io("write"))?;
            self.stats.file_bytes += n as u64;
        }
        // chown clears setuid/setgid and file capabilities, so mode and xattrs come after it.
        self.own(cx, fchown(&file, uid(meta.uid), gid(meta.gid)))?;
        fchmod(&file, Mode::from_bits_truncate(meta.mode)).map_err(cx.io("set the mode of"))?;
        self.set_xattrs(cx, XattrTarget::File(&file), &meta.xattrs)?;
        futimens(&file, &meta.mtime, &meta.mtime).map_err(cx.io("set the mtime of"))
    }

    /// Ownership, mode, xattrs and mtime of a symlink, device or FIFO just created at `name`.
    fn finish_special(
        &self,
        cx: &Cx<'_>,
        parent: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        chmod: bool,
    ) -> Result<(), UnpackError> {
        let owned = fchownat(
            parent,
            name,
            uid(meta.uid),
            gid(meta.gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        self.own(cx, owned)?;
        if chmod {
            // The node was just made here and is not a symlink, so following is moot; the
            // no-follow variant is not supported by fchmodat on older kernels.
            fchmodat(
                parent,
                name,
                Mode::from_bits_truncate(meta.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(cx.io("set the mode of"))?;
        }
        self.set_xattrs(cx, XattrTarget::Under(parent, name), &meta.xattrs)?;
        utimensat(
            parent,
            name,
            &meta.mtime,
            &meta.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(cx.io("set the mtime of"))
    }

    fn hardlink(
        &mut self,
        cx: &Cx<'_>,
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        target_raw: &Path,
    ) -> Result<(), UnpackError> {
        let entry = cx.entry.to_path_buf();
        let escape = || UnpackError::HardlinkEscape {
            entry: entry.clone(),
            target: target_raw.to_path_buf(),
        };
        let missing = || UnpackError::HardlinkMissing {
            entry: entry.clone(),
            target: target_raw.to_path_buf(),
        };
        let target = normalize(target_raw).ok_or_else(escape)?;
        let Some(target_name) = target.file_name() else {
            return Err(cx.invalid("it is a hard link to the layer directory itself"));
        };
        if target == rel {
            return Ok(());
        }
        let target_parent = target.parent().unwrap_or(Path::new(""));
        let target_dir = self.walk(target_parent, false).map_err(|e| match e {
            WalkError::Missing(_) => missing(),
            e => self.walk_error(cx.entry, e),
        })?;
        // Check the target before removing anything at the link's own path.
        match fstatat(&target_dir, target_name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if file_type(st.st_mode) == SFlag::S_IFDIR => {
                return Err(cx.invalid("it is a hard link to a directory"));
            }
            Ok(_) => {}
            Err(Errno::ENOENT) => return Err(missing()),
            Err(e) => return Err(cx.io("inspect hard link target for")(e)),
        }
        self.clear(cx, parent, name, rel, false)?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        match linkat(&target_dir, target_name, parent, name, AtFlags::empty()) {
            Ok(()) => Ok(()),
            // The target lived inside whatever `clear` just removed.
            Err(Errno::ENOENT) => Err(missing()),
            Err(e) => Err(cx.io("create hard link")(e)),
        }
    }

    /// `dir/.wh.name`: hide `dir/name` of the lower layers.
    fn whiteout(&mut self, raw: &Path, dir: &Path, name: &OsStr) -> Result<(), UnpackError> {
        let cx = Cx {
            entry: raw,
            path: self.dest.join(dir).join(name),
        };
        if name.is_empty() || name == ".." || name == "." {
            return Err(cx.invalid("it is a whiteout that names no file"));
        }
        let parent = self.dir_fd(raw, dir)?;
        match fstatat(&parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => {
                mknodat(&parent, name, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                    .map_err(cx.io("create whiteout"))
            }
            // Whiteouts only hide lower layers. A directory of this layer at the same path keeps
            // its contents but must stop merging with the lower one.
            Ok(st) if file_type(st.st_mode) == SFlag::S_IFDIR => {
                let dir = File::from(open_dir_at(&parent, name).map_err(cx.io("open directory"))?);
                self.set_opaque(&cx, &dir)
            }
            // Any other file of this layer already hides the lower one.
            Ok(_) => Ok(()),
            Err(e) => Err(cx.io("inspect")(e)),
        }
    }

    /// `dir/.wh..wh..opq`: hide everything the lower layers have in `dir`.
    fn opaque(&mut self, raw: &Path, dir: &Path) -> Result<(), UnpackError> {
        let cx = Cx {
            entry: raw,
            path: self.dest.join(dir),
        };
        let fd = File::from(self.dir_fd(raw, dir)?);
        self.set_opaque(&cx, &fd)
    }

    fn set_opaque(&self, cx: &Cx<'_>, dir: &File) -> Result<(), UnpackError> {
        let name = if self.opts.rootless {
            OPAQUE_XATTR_ROOTLESS
        } else {
            OPAQUE_XATTR
        };
        dir.set_xattr(name, b"y")
            .map_err(|source| UnpackError::Xattr {
                entry: cx.entry.to_path_buf(),
                path: cx.path.clone(),
                name: name.into(),
                source,
            })
    }

    fn set_xattrs(
        &self,
        cx: &Cx<'_>,
        target: XattrTarget<'_>,
        xattrs: &[(OsString, Vec<u8>)],
    ) -> Result<(), UnpackError> {
        for (name, value) in xattrs {
            let bytes = name.as_bytes();
            if bytes.starts_with(b"trusted.overlay.") || bytes.starts_with(b"user.overlay.") {
                // Overlay metadata (whiteouts, redirects) is ours to write, never the image's.
                tracing::warn!(entry = ?cx.entry, xattr = ?name, "ignoring overlay xattr in layer");
                continue;
            }
            let result = match target {
                XattrTarget::File(file) => file.set_xattr(name, value),
                // lsetxattr through the descriptor's /proc link: the link resolves to the
                // already-checked parent, and the last component is not followed.
                XattrTarget::Under(parent, child) => {
                    xattr::set(proc_path(parent, child), name, value)
                }
            };
            match result {
                Ok(()) => {}
                Err(e) if self.opts.rootless && e.raw_os_error() == Some(Errno::EPERM as i32) => {
                    tracing::debug!(entry = ?cx.entry, xattr = ?name, "xattr not permitted rootless");
                }
                Err(source) => {
                    return Err(UnpackError::Xattr {
                        entry: cx.entry.to_path_buf(),
                        path: cx.path.clone(),
                        name: name.clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Apply an ownership change, tolerating refusal when rootless (ids outside our mapping).
    fn own(&self, cx: &Cx<'_>, result: nix::Result<()>) -> Result<(), UnpackError> {
        match result {
            Ok(()) => Ok(()),
            Err(Errno::EPERM | Errno::EINVAL) if self.opts.rootless => Ok(()),
            Err(e) => Err(cx.io("change the owner of")(e)),
        }
    }

    /// Make room for a new entry at `parent/name`: remove what is there, except a directory when
    /// `keep_dir` (a directory entry over a directory keeps its contents).
    fn clear(
        &mut self,
        cx: &Cx<'_>,
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        keep_dir: bool,
    ) -> Result<Existing, UnpackError> {
        let st = match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(Existing::Nothing),
            Err(e) => return Err(cx.io("inspect")(e)),
        };
        let kind = file_type(st.st_mode);
        if kind == SFlag::S_IFDIR {
            if keep_dir {
                return Ok(Existing::Dir);
            }
            // remove_dir_all opens each level with O_NOFOLLOW and unlinks symlinks rather than
            // descending; the /proc link pins the start to the checked parent.
            std::fs::remove_dir_all(proc_path(parent, name)).map_err(cx.io("remove"))?;
            // Descriptors and deferred metadata under the removed tree are stale now.
            self.cached_parent = None;
            self.dirs.retain(|path, _| !path.starts_with(rel));
            return Ok(Existing::Nothing);
        }
        unlinkat(parent, name, UnlinkatFlags::NoRemoveDir).map_err(cx.io("remove"))?;
        if kind == SFlag::S_IFCHR && st.st_rdev == 0 {
            Ok(Existing::Whiteout)
        } else {
            Ok(Existing::Nothing)
        }
    }

    /// The directory `dir` (relative to the layer), created with its missing parents.
    fn dir_fd(&mut self, raw: &Path, dir: &Path) -> Result<OwnedFd, UnpackError> {
        let dup_err = |e| UnpackError::Io {
            entry: raw.to_path_buf(),
            path: self.dest.join(dir),
            action: "open directory",
            source: e,
        };
        if let Some((cached, fd)) = &self.cached_parent
            && cached == dir
        {
            return fd.try_clone().map_err(dup_err);
        }
        let fd = self.walk(dir, true).map_err(|e| self.walk_error(raw, e))?;
        let copy = fd.try_clone().map_err(dup_err)?;
        self.cached_parent = Some((dir.to_path_buf(), copy));
        Ok(fd)
    }

    /// Walk from the layer root to `dir` one component at a time, never following a symlink.
    fn walk(&self, dir: &Path, create: bool) -> Result<OwnedFd, WalkError> {
        let mut done = PathBuf::new();
        let mut cur = self
            .root
            .try_clone()
            .map_err(|e| WalkError::Io(done.clone(), e))?;
        for name in dir.iter() {
            done.push(name);
            cur = match open_dir_at(&cur, name) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if create => {
                    // Layers may omit parent directories; tar tools create them 0755.
                    match mkdirat(&cur, name, Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(WalkError::Io(done, e.into())),
                    }
                    let fd = open_dir_at(&cur, name)
                        .map_err(|e| WalkError::Io(done.clone(), e.into()))?;
                    // Independent of the umask.
                    fchmod(&fd, Mode::from_bits_truncate(0o755))
                        .map_err(|e| WalkError::Io(done.clone(), e.into()))?;
                    fd
                }
                Err(Errno::ENOENT) => return Err(WalkError::Missing(done)),
                // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR or ELOOP: tell them apart.
                Err(Errno::ENOTDIR | Errno::ELOOP) => {
                    return match fstatat(&cur, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                        Ok(st) if file_type(st.st_mode) == SFlag::S_IFLNK => {
                            Err(WalkError::Symlink(done))
                        }
                        _ => Err(WalkError::NotDir(done)),
                    };
                }
                Err(e) => return Err(WalkError::Io(done, e.into())),
            };
        }
        Ok(cur)
    }

    fn walk_error(&self, raw: &Path, e: WalkError) -> UnpackError {
        let entry = raw.to_path_buf();
        match e {
            WalkError::Symlink(symlink) => UnpackError::ThroughSymlink { entry, symlink },
            WalkError::NotDir(path) => UnpackError::NotADirectory { entry, path },
            WalkError::Missing(path) => UnpackError::Io {
                entry,
                path: self.dest.join(path),
                action: "open directory",
                source: Errno::ENOENT.into(),
            },
            WalkError::Io(path, source) => UnpackError::Io {
                entry,
                path: self.dest.join(path),
                action: "open directory",
                source,
            },
        }
    }

    /// Apply the deferred directory modes and mtimes.
    fn finish(self) -> Result<UnpackStats, UnpackError> {
        for (rel, meta) in &self.dirs {
            // A later entry may have replaced the directory; then its metadata no longer applies.
            let fd = match rel.file_name() {
                None => self.root.try_clone().ok(),
                Some(name) => self
                    .walk(rel.parent().unwrap_or(Path::new("")), false)
                    .ok()
                    .and_then(|parent| open_dir_at(&parent, name).ok()),
            };
            let Some(fd) = fd else { continue };
            let cx = Cx {
                entry: rel,
                path: self.dest.join(rel),
            };
            fchmod(&fd, Mode::from_bits_truncate(meta.mode)).map_err(cx.io("set the mode of"))?;
            futimens(&fd, &meta.mtime, &meta.mtime).map_err(cx.io("set the mtime of"))?;
        }
        Ok(self.stats)
    }
}

fn open_dir_at(dir: &impl AsFd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn proc_path(dir: &OwnedFd, name: &OsStr) -> PathBuf {
    Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name)
}

fn file_type(mode: u32) -> SFlag {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits())
}

fn uid(id: u32) -> Option<Uid> {
    Some(Uid::from_raw(id))
}

fn gid(id: u32) -> Option<Gid> {
    Some(Gid::from_raw(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Cursor;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use tar::{EntryType, Header};

    const MTIME: u64 = 1_600_000_000;

    /// A layer tarball, built entry by entry.
    struct Layer(tar::Builder<Vec<u8>>);

    fn header(kind: EntryType, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(0);
        h
    }

    impl Layer {
        fn new() -> Self {
            Layer(tar::Builder::new(Vec::new()))
        }

        fn with(mut self, mut h: Header, path: &str, data: &[u8]) -> Self {
            h.set_size(data.len() as u64);
            self.0.append_data(&mut h, path, data).unwrap();
            self
        }

        fn file(self, path: &str, mode: u32, data: &[u8]) -> Self {
            self.with(header(EntryType::Regular, mode), path, data)
        }

        fn dir(self, path: &str, mode: u32) -> Self {
            self.with(header(EntryType::Directory, mode), path, b"")
        }

        fn link(mut self, kind: EntryType, path: &str, target: &str) -> Self {
            let mut h = header(kind, 0o777);
            self.0.append_link(&mut h, path, target).unwrap();
            self
        }

        fn symlink(self, path: &str, target: &str) -> Self {
            self.link(EntryType::Symlink, path, target)
        }

        fn hardlink(self, path: &str, target: &str) -> Self {
            self.link(EntryType::Link, path, target)
        }

        fn node(self, kind: EntryType, path: &str, mode: u32, major: u32, minor: u32) -> Self {
            let mut h = header(kind, mode);
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
            self.with(h, path, b"")
        }

        fn pax(mut self, exts: &[(&str, &[u8])]) -> Self {
            self.0.append_pax_extensions(exts.iter().copied()).unwrap();
            self
        }

        /// An entry whose names bypass `tar::Builder`'s checks, as a hostile layer's would.
        fn raw(mut self, kind: EntryType, name: &[u8], link: &[u8], data: &[u8]) -> Self {
            let mut h = header(kind, 0o644);
            h.set_size(data.len() as u64);
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }

        fn bytes(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    /// A layer directory nested two levels down, beside a directory it must never touch.
    struct Fixture {
        tmp: tempfile::TempDir,
        dest: PathBuf,
        outside: PathBuf,
    }

    impl Fixture {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let dest = tmp.path().join("a/b/layer");
            fs::create_dir_all(&dest).unwrap();
            let outside = tmp.path().join("outside");
            fs::create_dir(&outside).unwrap();
            Fixture { tmp, dest, outside }
        }

        fn unpack(&self, layer: Layer) -> Result<UnpackStats, UnpackError> {
            self.unpack_with(layer, false)
        }

        fn unpack_with(&self, layer: Layer, rootless: bool) -> Result<UnpackStats, UnpackError> {
            unpack_layer(
                Cursor::new(layer.bytes()),
                &self.dest,
                &UnpackOptions { rootless },
            )
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dest.join(rel)
        }

        fn meta(&self, rel: &str) -> fs::Metadata {
            fs::symlink_metadata(self.path(rel)).unwrap()
        }

        fn exists(&self, rel: &str) -> bool {
            fs::symlink_metadata(self.path(rel)).is_ok()
        }

        /// Nothing was written beside the layer directory.
        fn assert_outside_untouched(&self) {
            assert_eq!(fs::read_dir(&self.outside).unwrap().count(), 0);
            let names: Vec<_> = fs::read_dir(self.tmp.path().join("a"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["b"]);
            let names: Vec<_> = fs::read_dir(self.tmp.path().join("a/b"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["layer"]);
        }
    }

    fn mode(m: &fs::Metadata) -> u32 {
        m.permissions().mode() & 0o7777
    }

    fn no_whiteout_names(dir: &Path) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            assert!(
                !e.file_name().as_bytes().starts_with(b".wh."),
                "{:?} left in the layer",
                e.path()
            );
            if e.file_type().unwrap().is_dir() {
                no_whiteout_names(&e.path());
            }
        }
    }

    #[test]
    fn regular_file_content_mode_owner_mtime() {
        let fx = Fixture::new();
        let mut h = header(EntryType::Regular, 0o640);
        h.set_uid(1234);
        h.set_gid(5678);
        let layer = Layer::new().with(h, "etc/hostname", b"box\n");
        let stats = fx.unpack(layer).unwrap();
        // Header, one data block, and the end-of-archive blocks tar::Builder writes.
        let want = UnpackStats {
            entries: 1,
            bytes: 512 + 512 + 1024,
            file_bytes: 4,
        };
        assert_eq!(stats, want);
        assert_eq!(fs::read(fx.path("etc/hostname")).unwrap(), b"box\n");
        let m = fx.meta("etc/hostname");
        assert_eq!(mode(&m), 0o640);
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
        assert_eq!(m.mtime(), MTIME as i64);
        // Parents missing from the layer are created as tar tools do.
        let etc = fx.meta("etc");
        assert!(etc.is_dir());
        assert_eq!(mode(&etc), 0o755);
    }

    #[test]
    fn directory_mode_and_mtime_survive_later_children() {
        let fx = Fixture::new();
        let layer = Layer::new()
            .dir("./", 0o755)
            .dir("usr", 0o750)
            .dir("ro", 0o555)
            .file("usr/a", 0o644, b"a")
            .file("ro/b", 0o644, b"b");
        fx.unpack(layer).unwrap();
        for (dir, want) in [("usr", 0o750), ("ro", 0o555)] {
            let m = fx.meta(dir);
            assert_eq!(mode(&m), want, "{dir}");
            assert_eq!(m.mtime(), MTIME as i64, "{dir}");
        }
        assert_eq!(fs::metadata(&fx.dest).unwrap().mtime(), MTIME as i64);
        assert_eq!(fs::read(fx.path("ro/b")).unwrap(), b"b");
    }

    #[test]
    fn special_mode_bits_survive_chown() {
        let fx = Fixture::new();
        let owned = |kind, mode| {
            let mut h = header(kind, mode);
            h.set_uid(1000);
            h.set_gid(1000);
            h
        };
        let layer = Layer::new()
            .with(owned(EntryType::Regular, 0o4755), "bin/su", b"x")
            .with(owned(EntryType::Regular, 0o2755), "bin/wall", b"x")
            .with(owned(EntryType::Directory, 0o1777), "tmp", b"")
            .with(owned(EntryType::Directory, 0o2775), "srv", b"");
        fx.unpack(layer).unwrap();
        assert_eq!(mode(&fx.meta("bin/su")), 0o4755);
        assert_eq!(mode(&fx.meta("bin/wall")), 0o2755);
        assert_eq!(mode(&fx.meta("tmp")), 0o1777);
        assert_eq!(mode(&fx.meta("srv")), 0o2775);
        assert_eq!(fx.meta("bin/su").uid(), 1000);
    }

    #[test]
    fn symlink_owner_and_mtime_apply_to_the_link() {
        let fx = Fixture::new();
        let mut h = header(EntryType::Symlink, 0o777);
        h.set_uid(42);
        h.set_gid(43);
        let mut layer = Layer::new().dir("usr/lib", 0o755);
        layer.0.append_link(&mut h, "lib", "usr/lib").unwrap();
        fx.unpack(layer).unwrap();
        assert_eq!(fs::read_link(fx.path("lib")).unwrap(), Path::new("usr/lib"));
        let m = fx.meta("lib");
        assert!(m.file_type().is_symlink());
        assert_eq!((m.uid(), m.gid()), (42, 43));
        assert_eq!(m.mtime(), MTIME as i64);
        // The target directory was not chowned through the link.
        assert_eq!(fx.meta("usr/lib").uid(), 0);
    }

    #[test]
    fn hardlinks_share_the_inode() {
        let fx = Fixture::new();
        let layer = Layer::new()
            .file("bin/a", 0o755, b"shared")
            .hardlink("bin/b", "bin/a")
            .hardlink("c", "/bin/a")
            .hardlink("bin/a", "./bin/a");
        fx.unpack(layer).unwrap();
        let a = fx.meta("bin/a");
        assert_eq!(fx.meta("bin/b").ino(), a.ino());
        assert_eq!(fx.meta("c").ino(), a.ino());
        assert_eq!(a.nlink(), 3);
        assert_eq!(fs::read(fx.path("c")).unwrap(), b"shared");
    }

    #[test]
    fn fifo_and_device_nodes() {
        let fx = Fixture::new();
        let layer = Layer::new()
            .node(EntryType::Fifo, "run/fifo", 0o620, 0, 0)
            .node(EntryType::Char, "dev/null", 0o666, 1, 3)
            .node(EntryType::Block, "dev/loop9", 0o660, 7, 9);
        fx.unpack(layer).unwrap();
        let fifo = fx.meta("run/fifo");
        assert!(fifo.file_type().is_fifo());
        assert_eq!(mode(&fifo), 0o620);
        let null = fx.meta("dev/null");
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), makedev(1, 3));
        assert_eq!(mode(&null), 0o666);
        assert_eq!(null.mtime(), MTIME as i64);
        let block = fx.meta("dev/loop9");
        assert!(block.file_type().is_block_device());
        assert_eq!(block.rdev(), makedev(7, 9));
    }

    #[test]
    fn xattrs_from_pax_headers() {
        let fx = Fixture::new();
        let layer = Layer::new()
            .pax(&[
                ("SCHILY.xattr.user.comment", b"hello"),
                ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
            ])
            .dir("data", 0o755)
            .pax(&[("SCHILY.xattr.user.mime_type", b"text/plain")])
            .file("data/note", 0o644, b"n")
            .pax(&[("SCHILY.xattr.trusted.origin", b"layer")])
            .symlink("data/link", "note");
        fx.unpack(layer).unwrap();
        let get = |rel: &str, name: &str| xattr::get(fx.path(rel), name).unwrap();
        assert_eq!(get("data", "user.comment").as_deref(), Some(&b"hello"[..]));
        // Overlay metadata from the image is never trusted.
        assert_eq!(get("data", OPAQUE_XATTR), None);
        assert_eq!(
            get("data/note", "user.mime_type").as_deref(),
            Some(&b"text/plain"[..])
        );
        assert_eq!(
            get("data/link", "trusted.origin").as_deref(),
            Some(&b"layer"[..])
        );
        assert_eq!(get("data/note", "trusted.origin"), None);
    }

    #[test]
    fn pax_overrides_ids_and_mtime() {
        let fx = Fixture::new();
        let layer = Layer::new()
            .pax(&[
                ("uid", b"3000000"),
                ("gid", b"3000001"),
                ("mtime", b"1500000000.25"),
            ])
            .file("f", 0o644, b"");
        fx.unpack(layer).unwrap();
        let m = fx.meta("f");
        assert_eq!((m.uid(), m.gid()), (3_000_000, 3_000_001));
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_500_000_000, 250_000_000));
        assert_eq!(
            parse_pax_time(b"-1.5"),
            Some(TimeSpec::new(-2, 500_000_000))
        );
        assert_eq!(parse_pax_time(b"x"), None);
    }

    #[test]
    fn gnu_and_pax_long_names() {
        let fx = Fixture::new();
        let long_dir = "d".repeat(120);
        let long_file = format!("{long_dir}/{}", "f".repeat(150));
        let long_target = format!("{}/target", "t".repeat(140));
        let pax_path = format!("{}/pax-file", "p".repeat(130));
        let layer = Layer::new()
            .file(&long_file, 0o644, b"gnu")
            .symlink("short-link", &long_target)
            .pax(&[("path", pax_path.as_bytes())])
            .file("placeholder", 0o644, b"pax");
        fx.unpack(layer).unwrap();
        assert_eq!(fs::read(fx.path(&long_file)).unwrap(), b"gnu");
        assert_eq!(
            fs::read_link(fx.path("short-link")).unwrap(),
            Path::new(&long_target)
        );
        assert_eq!(fs::read(fx.path(&pax_path)).unwrap(), b"pax");
        assert!(!fx.exists("placeholder"));
    }

    #[test]
    fn whiteout_becomes_overlay_char_device() {
        let fx = Fixture::new();
        let layer = Layer::new()
            .file(".wh.gone", 0o644, b"")
            .file("etc/.wh.passwd", 0o644, b"");
        let stats = fx.unpack(layer).unwrap();
        assert_eq!(stats.entries, 2);
        for rel in ["gone", "etc/passwd"] {
            let m = fx.meta(rel);
            assert!(m.file_type().is_char_device(), "{rel}");
            assert_eq!(m.rdev(), 0, "{rel}");
        }
        no_whiteout_names(&fx.dest);
    }

    #[test]
    fn opaque_marker_sets_the_overlay_xattr() {
        for (rootless, name) in [(false, OPAQUE_XATTR), (true, OPAQUE_XATTR_ROOTLESS)] {
            let fx = Fixture::new();
            let layer = Layer::new()
                .dir("var/cache", 0o755)
                .file("var/cache/.wh..wh..opq", 0o644, b"")
                .file("var/cache/kept", 0o644, b"k")
                .file("fresh/.wh..wh..opq", 0o644, b"");
            fx.unpack_with(layer, rootless).unwrap();
            for dir in ["var/cache", "fresh"] {
                let value = xattr::get(fx.path(dir), name).unwrap();
                assert_eq!(value.as_deref(), Some(&b"y"[..]), "{dir}");
            }
            assert!(fx.exists("var/cache/kept"));
            no_whiteout_names(&fx.dest);
        }
    }

    #[test]
    fn whiteout_beside_same_layer_entries() {
        let fx = Fixture::new();
        let layer = Layer::new()
            // Directory first, whiteout after: its contents stay, the lower one is hidden.
            .dir("d", 0o755)
            .file("d/x", 0o644, b"x")
            .file(".wh.d", 0o644, b"")
            // Whiteout first, directory after.
            .file(".wh.e", 0o644, b"")
            .dir("e", 0o700)
            // A file of this layer already hides the lower one.
            .file("f", 0o644, b"f")
            .file(".wh.f", 0o644, b"");
        fx.unpack(layer).unwrap();
        for dir in ["d", "e"] {
            assert!(fx.meta(dir).is_dir(), "{dir}");
            let value = xattr::get(fx.path(dir), OPAQUE_XATTR).unwrap();
            assert_eq!(value.as_deref(), Some(&b"y"[..]), "{dir}");
        }
        assert!(fx.exists("d/x"));
        assert_eq!(mode(&fx.meta("e")), 0o700);
        assert_eq!(fs::read(fx.path("f")).unwrap(), b"f");
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let fx = Fixture::new();
        fs::write(fx.outside.join("keep"), b"host").unwrap();
        let layer = Layer::new()
            .file("p", 0o644, b"file")
            .dir("p", 0o755)
            .file("p/x", 0o644, b"x")
            .dir("q", 0o755)
            .file("q/x", 0o644, b"x")
            .file("q", 0o600, b"now a file")
            .dir("r", 0o755)
            .file("r/x", 0o644, b"x")
            .dir("r", 0o700)
            .symlink("s", fx.outside.join("keep").to_str().unwrap())
            .file("s", 0o644, b"replaced")
            .file("t", 0o644, b"old")
            .hardlink("t2", "t")
            .file("t", 0o644, b"new");
        fx.unpack(layer).unwrap();
        assert_eq!(fs::read(fx.path("p/x")).unwrap(), b"x");
        assert_eq!(fs::read(fx.path("q")).unwrap(), b"now a file");
        assert_eq!(fs::read(fx.path("r/x")).unwrap(), b"x");
        assert_eq!(mode(&fx.meta("r")), 0o700);
        assert!(fx.meta("s").is_file());
        assert_eq!(fs::read(fx.path("s")).unwrap(), b"replaced");
        assert_eq!(fs::read(fx.outside.join("keep")).unwrap(), b"host");
        // Replacing unlinks: the other hard link keeps the old content.
        assert_eq!(fs::read(fx.path("t2")).unwrap(), b"old");
        assert_eq!(fs::read(fx.path("t")).unwrap(), b"new");
        fs::remove_file(fx.outside.join("keep")).unwrap();
    }

    fn compressed(kind: Compression, tar: &[u8]) -> Vec<u8> {
        match kind {
            Compression::None => tar.to_vec(),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(tar).unwrap();
                enc.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(tar, 3).unwrap(),
        }
    }

    #[test]
    fn decompress_sniffs_plain_gzip_and_zstd() {
        for kind in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let fx = Fixture::new();
            let tar = Layer::new().file("hello", 0o644, b"world").bytes();
            let blob = compressed(kind, &tar);
            assert_eq!(Compression::sniff(&blob), kind);
            let reader = decompress(Cursor::new(blob)).unwrap();
            unpack_layer(reader, &fx.dest, &UnpackOptions::default()).unwrap();
            assert_eq!(fs::read(fx.path("hello")).unwrap(), b"world", "{kind:?}");
        }
        // Shorter than any magic: still a (plain) stream.
        let mut tiny = decompress(Cursor::new(vec![0x1f])).unwrap();
        let mut out = Vec::new();
        tiny.read_to_end(&mut out).unwrap();
        assert_eq!(out, [0x1f]);
    }

    #[test]
    fn media_types() {
        use Compression::*;
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Some(None)),
            ("application/vnd.oci.image.layer.v1.tar+gzip", Some(Gzip)),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Some(Zstd)),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Some(Gzip),
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Some(Gzip),
            ),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Some(Gzip),
            ),
            ("application/vnd.oci.image.config.v1+json", Option::None),
            ("text/plain", Option::None),
        ];
        for (mt, want) in cases {
            assert_eq!(Compression::from_media_type(mt), want, "{mt}");
        }
    }

    #[test]
    fn diff_id_is_the_sha256_of_the_uncompressed_tar() {
        let tar = Layer::new()
            .dir("etc", 0o755)
            .file("etc/os-release", 0o644, &[b'x'; 10_000])
            .bytes();
        let want = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
        for kind in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let fx = Fixture::new();
            let blob = compressed(kind, &tar);
            let (diff_id, stats) =
                unpack_layer_digest(Cursor::new(blob), &fx.dest, &UnpackOptions::default())
                    .unwrap();
            assert_eq!(diff_id, want, "{kind:?}");
            let want = UnpackStats {
                entries: 2,
                bytes: tar.len() as u64,
                file_bytes: 10_000,
            };
            assert_eq!(stats, want);
        }
    }

    #[test]
    fn parent_traversal_is_refused() {
        for name in [&b"../../etc/passwd"[..], b"x/../../../pwned", b"./../pwned"] {
            let fx = Fixture::new();
            let layer = Layer::new().raw(EntryType::Regular, name, b"", b"root::0:0::/:/bin/sh\n");
            let err = fx.unpack(layer).unwrap_err();
            assert!(matches!(err, UnpackError::Escape { .. }), "{err}");
            fx.assert_outside_untouched();
        }
        let fx = Fixture::new();
        let layer = Layer::new().raw(EntryType::Regular, b"../../etc/passwd", b"", b"");
        assert_eq!(
            fx.unpack(layer).unwrap_err().to_string(),
            r#"layer entry "../../etc/passwd" escapes the layer directory"#
        );
    }

    #[test]
    fn absolute_and_inner_dotdot_paths_stay_inside() {
        let fx = Fixture::new();
        let layer = Layer::new()
            .raw(EntryType::Regular, b"/oxpod-unpack-test/abs", b"", b"a")
            .raw(EntryType::Regular, b"x/../y", b"", b"y");
        fx.unpack(layer).unwrap();
        assert_eq!(fs::read(fx.path("oxpod-unpack-test/abs")).unwrap(), b"a");
        assert_eq!(fs::read(fx.path("y")).unwrap(), b"y");
        assert!(!Path::new("/oxpod-unpack-test").exists());
    }

    #[test]
    fn write_through_absolute_symlink_is_refused() {
        let fx = Fixture::new();
        let layer = Layer::new()
            .symlink("etc", fx.outside.to_str().unwrap())
            .file("etc/passwd", 0o644, b"pwned");
        let err = fx.unpack(layer).unwrap_err();
        match &err {
            UnpackError::ThroughSymlink { entry, symlink } => {
                assert_eq!(entry, Path::new("etc/passwd"));
                assert_eq!(symlink, Path::new("etc"));
            }
            other => panic!("unexpected error: {other}"),
        }
        assert_eq!(
            err.to_string(),
            r#"layer entry "etc/passwd" goes through "etc", a symlink in the layer; refusing to follow it"#
        );
        fx.assert_outside_untouched();
    }

    #[test]
    fn write_through_relative_symlink_is_refused() {
        let cases: [(&str, &str, &str); 4] = [
            ("link", "../..", "link/pwned"),
            ("d/deep", "../../..", "d/deep/x/pwned"),
            ("link", "../..", "link/.wh.b"),
            ("link", "../..", "link/.wh..wh..opq"),
        ];
        for (link, target, write) in cases {
            let fx = Fixture::new();
            let layer = Layer::new()
                .symlink(link, target)
                .file(write, 0o644, b"pwned");
            let err = fx.unpack(layer).unwrap_err();
            assert!(
                matches!(&err, UnpackError::ThroughSymlink { symlink, .. } if symlink == Path::new(link)),
                "{write}: {err}"
            );
            fx.assert_outside_untouched();
            assert!(
                xattr::get(fx.tmp.path().join("a"), OPAQUE_XATTR)
                    .unwrap()
                    .is_none()
            );
        }
        // A directory entry through the symlink is refused the same way.
        let fx = Fixture::new();
        let layer = Layer::new().symlink("link", "../..").dir("link/sub", 0o755);
        assert!(matches!(
            fx.unpack(layer).unwrap_err(),
            UnpackError::ThroughSymlink { .. }
        ));
        fx.assert_outside_untouched();
    }

    #[test]
    fn hardlink_escapes_are_refused() {
        let fx = Fixture::new();
        fs::write(fx.outside.join("secret"), b"s").unwrap();
        let secret_ino = fs::metadata(fx.outside.join("secret")).unwrap().ino();

        let layer = Layer::new().raw(EntryType::Link, b"h", b"../../../outside/secret", b"");
        let err = fx.unpack(layer).unwrap_err();
        assert!(matches!(err, UnpackError::HardlinkEscape { .. }), "{err}");

        // An absolute target names a path inside the layer, never the host's file.
        let layer = Layer::new().hardlink("h", "/etc/passwd");
        let err = fx.unpack(layer).unwrap_err();
        assert!(matches!(err, UnpackError::HardlinkMissing { .. }), "{err}");

        let layer = Layer::new()
            .symlink("l", fx.outside.to_str().unwrap())
            .hardlink("h", "l/secret");
        let err = fx.unpack(layer).unwrap_err();
        assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err}");

        assert!(!fx.exists("h"));
        assert_eq!(fs::metadata(fx.outside.join("secret")).unwrap().nlink(), 1);
        assert_eq!(
            fs::metadata(fx.outside.join("secret")).unwrap().ino(),
            secret_ino
        );
    }

    #[test]
    fn rootless_refuses_device_nodes_only() {
        let fx = Fixture::new();
        let layer = Layer::new().node(EntryType::Char, "dev/null", 0o666, 1, 3);
        let err = fx.unpack_with(layer, true).unwrap_err();
        assert!(
            matches!(&err, UnpackError::DeviceNode { entry } if entry == Path::new("dev/null"))
        );
        assert!(err.to_string().contains("rootless"), "{err}");
        assert!(!fx.exists("dev/null"));

        let layer = Layer::new().node(EntryType::Block, "dev/sda", 0o660, 8, 0);
        let err = fx.unpack_with(layer, true).unwrap_err();
        assert!(matches!(err, UnpackError::DeviceNode { .. }), "{err}");

        let layer = Layer::new()
            .node(EntryType::Fifo, "run/fifo", 0o600, 0, 0)
            .node(EntryType::Char, "native-whiteout", 0o000, 0, 0)
            .file(".wh.gone", 0o644, b"");
        fx.unpack_with(layer, true).unwrap();
        assert!(fx.meta("run/fifo").file_type().is_fifo());
        assert!(fx.meta("gone").file_type().is_char_device());
        assert_eq!(fx.meta("native-whiteout").rdev(), 0);
    }

    #[test]
    fn blank_numeric_fields_read_as_zero() {
        let fx = Fixture::new();
        let mut h = header(EntryType::Fifo, 0o600);
        let old = h.as_old_mut();
        (old.uid, old.gid, old.mtime) = ([0; 8], [0; 8], [0; 12]);
        h.as_gnu_mut().unwrap().dev_major = [0; 8];
        h.set_path("fifo").unwrap();
        h.set_cksum();
        let mut layer = Layer::new();
        layer.0.append(&h, &b""[..]).unwrap();
        fx.unpack(layer).unwrap();
        let m = fx.meta("fifo");
        assert_eq!((m.uid(), m.gid(), m.mtime()), (0, 0, 0));
    }

    /// The format is only right if overlayfs agrees; skipped where overlay cannot be mounted.
    #[test]
    fn overlay_honours_whiteouts_and_opaque_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper, merged) = (
            tmp.path().join("l1"),
            tmp.path().join("l2"),
            tmp.path().join("m"),
        );
        for d in [&lower, &upper, &merged] {
            fs::create_dir(d).unwrap();
        }
        let base = Layer::new()
            .file("keep", 0o644, b"k")
            .file("gone", 0o644, b"g")
            .file("dir/old", 0o644, b"o");
        let top = Layer::new()
            .file(".wh.gone", 0o644, b"")
            .file("dir/.wh..wh..opq", 0o644, b"")
            .file("dir/new", 0o644, b"n");
        let opts = UnpackOptions::default();
        unpack_layer(Cursor::new(base.bytes()), &lower, &opts).unwrap();
        unpack_layer(Cursor::new(top.bytes()), &upper, &opts).unwrap();
        let lowerdir = format!("lowerdir={}:{}", upper.display(), lower.display());
        let mounted = std::process::Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &lowerdir])
            .arg(&merged)
            .status();
        if !mounted.is_ok_and(|s| s.success()) {
            eprintln!("overlay not mountable here; skipping");
            return;
        }
        let seen = |rel: &str| fs::symlink_metadata(merged.join(rel)).is_ok();
        let result = (seen("keep"), seen("gone"), seen("dir/old"), seen("dir/new"));
        let _ = std::process::Command::new("umount").arg(&merged).status();
        assert_eq!(result, (true, false, false, true));
    }

    #[test]
    fn truncated_stream_names_the_entry() {
        let fx = Fixture::new();
        let mut tar = Layer::new().file("big", 0o644, &[7; 4096]).bytes();
        tar.truncate(512 + 1000);
        let err = unpack_layer(Cursor::new(tar), &fx.dest, &UnpackOptions::default()).unwrap_err();
        assert!(
            matches!(&err, UnpackError::Read { last_entry: Some(e), .. } if e == Path::new("big")),
            "{err}"
        );
    }
}
