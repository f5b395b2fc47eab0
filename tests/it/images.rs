//! Test images built here, byte for byte, as OCI image layouts, then pushed with skopeo.
//!
//! Everything is deterministic (fixed mtimes, owners, JSON key order), so the same image has the
//! same digests in every test; the expensive part (compressing busybox) is done once per process.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::registry::{Registry, run_tool};

pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// mtime of every tar entry; fixed so layer digests never change.
pub const MTIME: u64 = 1_700_000_000;
pub const CREATED: &str = "2024-01-01T00:00:00Z";
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const BUSYBOX: &str = "/bin/busybox";

/// Applets linked to `bin/busybox` in the busybox image.
pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh",
    "echo",
    "ls",
    "cat",
    "true",
    "false",
    "sleep",
    "httpd",
    "wget",
    "env",
    "id",
    "hostname",
    "ps",
    "kill",
    "mkdir",
    "rm",
    "cp",
    "mv",
    "touch",
    "stat",
    "grep",
    "sed",
    "awk",
    "head",
    "tail",
    "wc",
    "date",
    "nc",
    "ip",
    "mount",
    "pwd",
    "whoami",
    "test",
    "uname",
    "readlink",
    "nslookup",
    "ping",
    "sha256sum",
    "timeout",
    "top",
];

pub const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The OCI architecture name of the machine running the tests.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Layers

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

/// A layer blob plus the digests that describe it.
#[derive(Clone, Debug)]
pub struct Layer {
    pub media_type: &'static str,
    pub blob: Arc<[u8]>,
    /// Digest of the blob as stored (compressed).
    pub digest: String,
    /// Digest of the uncompressed tar, as listed in the config's `rootfs.diff_ids`.
    pub diff_id: String,
}

/// Writes a layer tar entry by entry; every entry is root-owned unless said otherwise.
pub struct LayerBuilder {
    tar: tar::Builder<Vec<u8>>,
    /// Mode and owner of regular files so far: a hard link entry repeats its target's, as GNU
    /// tar writes them (unpackers such as containers/storage apply a link header's mode).
    files: HashMap<String, (u32, (u64, u64))>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    pub fn new() -> Self {
        LayerBuilder {
            tar: tar::Builder::new(Vec::new()),
            files: HashMap::new(),
        }
    }

    pub fn dir(self, path: &str, mode: u32) -> Self {
        self.entry(tar::EntryType::Directory, path, mode, (0, 0), &[])
    }

    pub fn file(self, path: &str, mode: u32, data: &[u8]) -> Self {
        self.entry(tar::EntryType::Regular, path, mode, (0, 0), data)
    }

    pub fn file_owned(self, path: &str, mode: u32, owner: (u64, u64), data: &[u8]) -> Self {
        self.entry(tar::EntryType::Regular, path, mode, owner, data)
    }

    pub fn symlink(self, path: &str, target: &str) -> Self {
        self.link(tar::EntryType::Symlink, path, target, (0o777, (0, 0)))
    }

    /// A hard link `path` to the regular file `target` written earlier in this layer.
    pub fn hardlink(self, path: &str, target: &str) -> Self {
        let attrs = *self
            .files
            .get(target)
            .unwrap_or_else(|| panic!("hard link {path}: no file {target} earlier in the layer"));
        self.link(tar::EntryType::Link, path, target, attrs)
    }

    /// Deletes `path` of lower layers: an empty `<dir>/.wh.<name>` entry.
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&wh, 0o644, &[])
    }

    /// Hides everything lower layers put in `dir`: `<dir>/.wh..wh..opq`.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), 0o644, &[])
    }

    fn entry(
        mut self,
        kind: tar::EntryType,
        path: &str,
        mode: u32,
        owner: (u64, u64),
        data: &[u8],
    ) -> Self {
        if kind == tar::EntryType::Regular {
            self.files.insert(path.to_owned(), (mode, owner));
        }
        let mut h = header(kind, mode, owner);
        h.set_size(data.len() as u64);
        self.tar
            .append_data(&mut h, path, data)
            .unwrap_or_else(|e| panic!("tar entry {path}: {e}"));
        self
    }

    fn link(
        mut self,
        kind: tar::EntryType,
        path: &str,
        target: &str,
        (mode, owner): (u32, (u64, u64)),
    ) -> Self {
        let mut h = header(kind, mode, owner);
        self.tar
            .append_link(&mut h, path, target)
            .unwrap_or_else(|e| panic!("tar link {path} -> {target}: {e}"));
        self
    }

    pub fn build(self, compression: Compression) -> Layer {
        let tar = self.tar.into_inner().expect("finish layer tar");
        let diff_id = sha256_digest(&tar);
        let (media_type, blob) = match compression {
            Compression::None => (MEDIA_OCI_LAYER, tar),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(&tar).expect("gzip layer");
                (MEDIA_OCI_LAYER_GZIP, enc.finish().expect("gzip layer"))
            }
            Compression::Zstd => (
                MEDIA_OCI_LAYER_ZSTD,
                zstd::encode_all(&tar[..], 3).expect("zstd layer"),
            ),
        };
        Layer {
            media_type,
            digest: sha256_digest(&blob),
            blob: blob.into(),
            diff_id,
        }
    }
}

fn header(kind: tar::EntryType, mode: u32, (uid, gid): (u64, u64)) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(MTIME);
    h.set_size(0);
    h
}

// ---------------------------------------------------------------------------------------------
// Images and indexes

/// One image: config and manifest bytes with their digests, and its layers.
#[derive(Clone, Debug)]
pub struct Image {
    pub os: String,
    pub architecture: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub layers: Vec<Layer>,
}

impl Image {
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    pub fn layer_digests(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.digest.clone()).collect()
    }

    /// Writes `dir` as an OCI image layout whose `index.json` names this image `tag`.
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) {
        write_layout(dir, tag, MEDIA_OCI_MANIFEST, &self.manifest, &[self]);
    }

    fn descriptor(&self) -> Value {
        json!({
            "mediaType": MEDIA_OCI_MANIFEST,
            "digest": self.manifest_digest,
            "size": self.manifest.len(),
            "platform": {"architecture": self.architecture, "os": self.os},
        })
    }
}

/// Assembles an image config and manifest around a list of layers.
pub struct ImageBuilder {
    architecture: String,
    layers: Vec<Layer>,
    history: Vec<Value>,
    config: serde_json::Map<String, Value>,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageBuilder {
    /// linux on the host architecture, `Env` = the default PATH.
    pub fn new() -> Self {
        let mut config = serde_json::Map::new();
        config.insert("Env".into(), json!([DEFAULT_PATH]));
        ImageBuilder {
            architecture: host_arch().to_owned(),
            layers: Vec::new(),
            history: Vec::new(),
            config,
        }
    }

    pub fn architecture(mut self, arch: &str) -> Self {
        self.architecture = arch.to_owned();
        self
    }

    pub fn layer(mut self, layer: Layer, created_by: &str) -> Self {
        self.layers.push(layer);
        self.history
            .push(json!({"created": CREATED, "created_by": created_by}));
        self
    }

    /// Sets a key of the config's `config` object (`Cmd`, `Entrypoint`, `Env`, `WorkingDir`,
    /// `User`, `Labels`, `ExposedPorts`, `StopSignal`, `Volumes`, ...), recorded in `history`
    /// as an empty layer the way builders do.
    pub fn config(mut self, key: &str, value: Value) -> Self {
        self.history.push(json!({
            "created": CREATED,
            "created_by": format!("{key} {value}"),
            "empty_layer": true,
        }));
        self.config.insert(key.to_owned(), value);
        self
    }

    pub fn cmd(self, cmd: &[&str]) -> Self {
        self.config("Cmd", json!(cmd))
    }

    pub fn entrypoint(self, entrypoint: &[&str]) -> Self {
        self.config("Entrypoint", json!(entrypoint))
    }

    /// Replaces `Env`; include PATH yourself.
    pub fn env(self, env: &[&str]) -> Self {
        self.config("Env", json!(env))
    }

    pub fn build(self) -> Image {
        let diff_ids: Vec<&str> = self.layers.iter().map(|l| l.diff_id.as_str()).collect();
        let config = serde_json::to_vec(&json!({
            "created": CREATED,
            "architecture": self.architecture,
            "os": "linux",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": self.history,
        }))
        .expect("serialise image config");
        let config_digest = sha256_digest(&config);
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.blob.len()}))
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": layers,
        }))
        .expect("serialise manifest");
        Image {
            os: "linux".into(),
            architecture: self.architecture,
            manifest_digest: sha256_digest(&manifest),
            manifest,
            config_digest,
            config,
            layers: self.layers,
        }
    }
}

/// An OCI image index over several single-platform images.
#[derive(Clone, Debug)]
pub struct Index {
    pub manifests: Vec<Image>,
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Index {
    pub fn new(manifests: Vec<Image>) -> Index {
        let descriptors: Vec<Value> = manifests.iter().map(Image::descriptor).collect();
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_INDEX,
            "manifests": descriptors,
        }))
        .expect("serialise index");
        Index {
            digest: sha256_digest(&bytes),
            bytes,
            manifests,
        }
    }

    /// The image a puller on this machine should choose.
    pub fn host_image(&self) -> &Image {
        self.manifests
            .iter()
            .find(|m| m.architecture == host_arch())
            .unwrap_or(&self.manifests[0])
    }

    pub fn write_oci_layout(&self, dir: &Path, tag: &str) {
        let images: Vec<&Image> = self.manifests.iter().collect();
        write_layout(dir, tag, MEDIA_OCI_INDEX, &self.bytes, &images);
    }
}

fn write_layout(dir: &Path, tag: &str, top_media_type: &str, top: &[u8], images: &[&Image]) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap_or_else(|e| panic!("create {}: {e}", blobs.display()));
    let put = |data: &[u8]| {
        let digest = sha256_digest(data);
        let path = blobs.join(&digest["sha256:".len()..]);
        fs::write(&path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        digest
    };
    for image in images {
        put(&image.config);
        put(&image.manifest);
        for layer in &image.layers {
            put(&layer.blob);
        }
    }
    let top_digest = put(top);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": top_media_type,
            "digest": top_digest,
            "size": top.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    let write = |name: &str, data: Vec<u8>| {
        let path = dir.join(name);
        fs::write(&path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    };
    write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec());
    write("index.json", serde_json::to_vec(&index).unwrap());
}

// ---------------------------------------------------------------------------------------------
// The standard test images

/// `/bin/busybox` with applet symlinks, `etc/{passwd,group}`, `tmp` (1777), `root`.
pub fn busybox_layer() -> Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER
        .get_or_init(|| {
            let busybox = fs::read(BUSYBOX).unwrap_or_else(|e| panic!("read {BUSYBOX}: {e}"));
            let mut b = LayerBuilder::new()
                .dir("bin", 0o755)
                .file("bin/busybox", 0o755, &busybox);
            for applet in BUSYBOX_APPLETS {
                b = b.symlink(&format!("bin/{applet}"), "busybox");
            }
            b.dir("dev", 0o755)
                .dir("etc", 0o755)
                .file("etc/passwd", 0o644, PASSWD.as_bytes())
                .file("etc/group", 0o644, GROUP.as_bytes())
                .dir("proc", 0o555)
                .dir("root", 0o700)
                .dir("sys", 0o555)
                .dir("tmp", 0o1777)
                .build(Compression::Gzip)
        })
        .clone()
}

/// The busybox image: one layer, `Cmd ["sh"]`.
pub fn busybox_image() -> Image {
    ImageBuilder::new()
        .layer(busybox_layer(), "oxpod-it: busybox")
        .cmd(&["sh"])
        .build()
}

/// Five layers exercising the unpacker: gzip, hard links, whiteouts, an opaque directory,
/// zstd and an uncompressed tar. See [`expected_multilayer_files`] for the merged result.
pub fn multilayer_image() -> Image {
    let files = LayerBuilder::new()
        .dir("opt", 0o755)
        .file("opt/hello.txt", 0o644, b"hello from layer 2\n")
        .file("opt/hard-a", 0o644, b"linked\n")
        .hardlink("opt/hard-b", "opt/hard-a")
        .file_owned("opt/private.txt", 0o640, (1000, 1000), b"private\n")
        .symlink("opt/hello-link", "hello.txt")
        .dir("opt/gone", 0o755)
        .file("opt/gone/old.txt", 0o644, b"old\n")
        .dir("data", 0o755)
        .file("data/a.txt", 0o644, b"a\n")
        .file("data/b.txt", 0o644, b"b\n")
        .dir("data/sub", 0o755)
        .file("data/sub/c.txt", 0o644, b"c\n")
        .build(Compression::Gzip);
    let deletions = LayerBuilder::new()
        .dir("etc", 0o755)
        .whiteout("etc/group")
        .dir("opt", 0o755)
        .whiteout("opt/gone")
        .dir("data", 0o755)
        .opaque("data")
        .file("data/new.txt", 0o644, b"new in layer 3\n")
        .build(Compression::Gzip);
    let zstd = LayerBuilder::new()
        .dir("opt", 0o755)
        .file("opt/hello.txt", 0o644, b"hello again from the zstd layer\n")
        .dir("srv", 0o755)
        .file("srv/zstd.txt", 0o644, b"from a zstd layer\n")
        .build(Compression::Zstd);
    let plain = LayerBuilder::new()
        .dir("srv", 0o755)
        .file("srv/plain.txt", 0o644, b"from an uncompressed layer\n")
        // Re-created after layer 3 deleted it: only the new content may show.
        .dir("opt", 0o755)
        .dir("opt/gone", 0o755)
        .file("opt/gone/back.txt", 0o644, b"back\n")
        .build(Compression::None);
    ImageBuilder::new()
        .layer(busybox_layer(), "oxpod-it: busybox")
        .layer(files, "oxpod-it: files, hard links, data/")
        .layer(deletions, "oxpod-it: whiteouts and opaque data/")
        .layer(zstd, "oxpod-it: zstd layer")
        .layer(plain, "oxpod-it: uncompressed layer")
        .cmd(&["sh"])
        .build()
}

/// linux/amd64 and linux/arm64, both with busybox plus `etc/platform` naming their platform.
pub fn multiarch_index() -> Index {
    let for_arch = |arch: &str| {
        let marker = LayerBuilder::new()
            .dir("etc", 0o755)
            .file("etc/platform", 0o644, format!("linux/{arch}\n").as_bytes())
            .build(Compression::Gzip);
        ImageBuilder::new()
            .architecture(arch)
            .layer(busybox_layer(), "oxpod-it: busybox")
            .layer(marker, "oxpod-it: platform marker")
            .cmd(&["sh"])
            .build()
    };
    Index::new(vec![for_arch("amd64"), for_arch("arm64")])
}

// ---------------------------------------------------------------------------------------------
// What the merged multilayer root must look like

#[derive(Clone, Debug)]
pub enum Kind {
    /// A regular file; content checked when given.
    File(Option<&'static [u8]>),
    /// A directory; when given, exactly these entries.
    Dir(Option<&'static [&'static str]>),
    Symlink(&'static str),
    /// A regular file sharing its inode with the other path.
    HardLinkOf(&'static str),
    Absent,
}

#[derive(Clone, Debug)]
pub struct ExpectedEntry {
    pub path: &'static str,
    pub kind: Kind,
    /// Permission bits (`mode & 0o7777`).
    pub mode: Option<u32>,
    pub owner: Option<(u32, u32)>,
}

/// The merged view of [`multilayer_image`]'s five layers.
pub fn expected_multilayer_files() -> Vec<ExpectedEntry> {
    use Kind::*;
    let e = |path, kind, mode| ExpectedEntry {
        path,
        kind,
        mode,
        owner: Some((0, 0)),
    };
    vec![
        e("bin/busybox", File(None), Some(0o755)),
        e("bin/sh", Symlink("busybox"), None),
        e("etc/passwd", File(Some(PASSWD.as_bytes())), Some(0o644)),
        e("etc/group", Absent, None),
        e("tmp", Dir(None), Some(0o1777)),
        e("root", Dir(None), Some(0o700)),
        e(
            "opt/hello.txt",
            File(Some(b"hello again from the zstd layer\n")),
            Some(0o644),
        ),
        e("opt/hello-link", Symlink("hello.txt"), None),
        e("opt/hard-a", File(Some(b"linked\n")), Some(0o644)),
        e("opt/hard-b", HardLinkOf("opt/hard-a"), Some(0o644)),
        ExpectedEntry {
            owner: Some((1000, 1000)),
            ..e("opt/private.txt", File(Some(b"private\n")), Some(0o640))
        },
        e("opt/gone", Dir(Some(&["back.txt"])), Some(0o755)),
        e("opt/gone/old.txt", Absent, None),
        e("opt/gone/back.txt", File(Some(b"back\n")), Some(0o644)),
        e("data", Dir(Some(&["new.txt"])), Some(0o755)),
        e("data/a.txt", Absent, None),
        e("data/sub", Absent, None),
        e("data/new.txt", File(Some(b"new in layer 3\n")), Some(0o644)),
        e(
            "srv/zstd.txt",
            File(Some(b"from a zstd layer\n")),
            Some(0o644),
        ),
        e(
            "srv/plain.txt",
            File(Some(b"from an uncompressed layer\n")),
            Some(0o644),
        ),
    ]
}

/// Checks a merged root (an overlay mount, or a fully applied directory) against
/// [`expected_multilayer_files`]; the error lists every mismatch.
pub fn check_multilayer_rootfs(root: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for entry in expected_multilayer_files() {
        if let Err(p) = check_entry(root, &entry) {
            problems.push(format!("{}: {p}", entry.path));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} does not match:\n  {}",
            root.display(),
            problems.join("\n  ")
        ))
    }
}

fn check_entry(root: &Path, entry: &ExpectedEntry) -> Result<(), String> {
    let path = root.join(entry.path);
    let meta = match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match entry.kind {
                Kind::Absent => Ok(()),
                _ => Err("missing".into()),
            };
        }
        Err(e) => return Err(e.to_string()),
        Ok(m) => m,
    };
    let ft = meta.file_type();
    match &entry.kind {
        Kind::Absent => return Err(format!("should be absent, found {ft:?}")),
        Kind::File(content) => {
            if !ft.is_file() {
                return Err(format!("not a regular file but {ft:?}"));
            }
            if let Some(want) = content {
                let got = fs::read(&path).map_err(|e| e.to_string())?;
                if got != *want {
                    return Err(format!("content {:?}", String::from_utf8_lossy(&got)));
                }
            }
        }
        Kind::Dir(entries) => {
            if !ft.is_dir() {
                return Err(format!("not a directory but {ft:?}"));
            }
            if let Some(want) = entries {
                let mut got: Vec<String> = fs::read_dir(&path)
                    .map_err(|e| e.to_string())?
                    .map(|d| d.map(|d| d.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?;
                got.sort();
                if got != *want {
                    return Err(format!("entries {got:?}, want {want:?}"));
                }
            }
        }
        Kind::Symlink(target) => {
            let got = fs::read_link(&path).map_err(|_| format!("not a symlink but {ft:?}"))?;
            if got != Path::new(target) {
                return Err(format!("points to {}, want {target}", got.display()));
            }
        }
        Kind::HardLinkOf(other) => {
            let other = fs::symlink_metadata(root.join(other)).map_err(|e| e.to_string())?;
            if !ft.is_file() || meta.ino() != other.ino() || meta.nlink() < 2 {
                return Err(format!(
                    "not a hard link (ino {} vs {}, nlink {})",
                    meta.ino(),
                    other.ino(),
                    meta.nlink()
                ));
            }
        }
    }
    if let Some(mode) = entry.mode {
        let got = meta.permissions().mode() & 0o7777;
        if got != mode {
            return Err(format!("mode {got:o}, want {mode:o}"));
        }
    }
    if let Some((uid, gid)) = entry.owner
        && (meta.uid(), meta.gid()) != (uid, gid)
    {
        return Err(format!(
            "owner {}:{}, want {uid}:{gid}",
            meta.uid(),
            meta.gid()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pushing

/// Per platform of a pushed index.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    pub os: String,
    pub architecture: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub layer_diff_ids: Vec<String>,
}

/// What a push left in the registry.
#[derive(Clone, Debug)]
pub struct TestImage {
    /// `127.0.0.1:PORT`
    pub registry: String,
    pub repo: String,
    pub tag: String,
    /// Digest of what the tag points at: the manifest, or the index for multi-arch images.
    pub manifest_digest: String,
    /// For an index, the config of the host platform's image (what a pull picks here).
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub layer_diff_ids: Vec<String>,
    /// For an index, each platform's image; empty otherwise.
    pub platforms: Vec<PlatformImage>,
}

impl TestImage {
    /// `127.0.0.1:PORT/REPO:TAG`
    pub fn reference(&self) -> String {
        format!("{}/{}:{}", self.registry, self.repo, self.tag)
    }

    /// `127.0.0.1:PORT/REPO@sha256:...`
    pub fn digest_reference(&self) -> String {
        format!("{}/{}@{}", self.registry, self.repo, self.manifest_digest)
    }

    /// `REPO:TAG`, resolved through unqualified-search-registries.
    pub fn short_name(&self) -> String {
        format!("{}:{}", self.repo, self.tag)
    }

    /// The 64-hex config digest, which Podman and Docker show as the image ID.
    pub fn image_id(&self) -> &str {
        self.config_digest.trim_start_matches("sha256:")
    }
}

/// Pushes [`busybox_image`] as `busybox:latest`.
pub fn busybox(reg: &Registry) -> TestImage {
    busybox_as(reg, "busybox", "latest")
}

pub fn busybox_as(reg: &Registry, repo: &str, tag: &str) -> TestImage {
    push_image(reg, &busybox_image(), repo, tag)
}

/// Pushes [`multilayer_image`] as `multilayer:latest`.
pub fn multilayer(reg: &Registry) -> TestImage {
    push_image(reg, &multilayer_image(), "multilayer", "latest")
}

/// Pushes [`multiarch_index`] (with `--all`) as `multiarch:latest`.
pub fn multiarch(reg: &Registry) -> TestImage {
    push_index(reg, &multiarch_index(), "multiarch", "latest")
}

/// Busybox content stored with Docker schema-2 media types (skopeo converts the manifest, so
/// the manifest digest differs from [`busybox`]'s; the digests are read back from the registry).
pub fn docker_schema2(reg: &Registry, repo: &str, tag: &str) -> TestImage {
    let tmp = tempdir("oxpod-it-layout.");
    busybox_image().write_oci_layout(tmp.path(), tag);
    let pushed = skopeo_copy(reg, tmp.path(), repo, tag, &["--format", "v2s2"]);
    let raw = skopeo_inspect_raw(reg, repo, tag);
    assert_eq!(
        sha256_digest(&raw),
        pushed,
        "digest of the stored v2s2 manifest"
    );
    let manifest: Value = serde_json::from_slice(&raw).expect("parse pushed manifest");
    assert_eq!(manifest["mediaType"], MEDIA_DOCKER_MANIFEST, "{manifest}");
    let digest = |v: &Value| v["digest"].as_str().expect("descriptor digest").to_owned();
    TestImage {
        registry: reg.addr(),
        repo: repo.into(),
        tag: tag.into(),
        manifest_digest: pushed,
        config_digest: digest(&manifest["config"]),
        layer_digests: manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(digest)
            .collect(),
        layer_diff_ids: busybox_image().diff_ids(),
        platforms: Vec::new(),
    }
}

/// Pushes one image unchanged (`--preserve-digests`), so the registry holds our exact bytes.
pub fn push_image(reg: &Registry, image: &Image, repo: &str, tag: &str) -> TestImage {
    let tmp = tempdir("oxpod-it-layout.");
    image.write_oci_layout(tmp.path(), tag);
    let pushed = skopeo_copy(reg, tmp.path(), repo, tag, &["--preserve-digests"]);
    assert_eq!(pushed, image.manifest_digest, "skopeo changed the manifest");
    TestImage {
        registry: reg.addr(),
        repo: repo.into(),
        tag: tag.into(),
        manifest_digest: image.manifest_digest.clone(),
        config_digest: image.config_digest.clone(),
        layer_digests: image.layer_digests(),
        layer_diff_ids: image.diff_ids(),
        platforms: Vec::new(),
    }
}

/// Pushes an index and every image in it (`--all --preserve-digests`).
pub fn push_index(reg: &Registry, index: &Index, repo: &str, tag: &str) -> TestImage {
    let tmp = tempdir("oxpod-it-layout.");
    index.write_oci_layout(tmp.path(), tag);
    let pushed = skopeo_copy(reg, tmp.path(), repo, tag, &["--all", "--preserve-digests"]);
    assert_eq!(pushed, index.digest, "skopeo changed the index");
    let host = index.host_image();
    TestImage {
        registry: reg.addr(),
        repo: repo.into(),
        tag: tag.into(),
        manifest_digest: index.digest.clone(),
        config_digest: host.config_digest.clone(),
        layer_digests: host.layer_digests(),
        layer_diff_ids: host.diff_ids(),
        platforms: index
            .manifests
            .iter()
            .map(|m| PlatformImage {
                os: m.os.clone(),
                architecture: m.architecture.clone(),
                manifest_digest: m.manifest_digest.clone(),
                config_digest: m.config_digest.clone(),
                layer_digests: m.layer_digests(),
                layer_diff_ids: m.diff_ids(),
            })
            .collect(),
    }
}

/// A `skopeo` command isolated from the host's auth files and signature policy.
pub fn skopeo(scratch: &Path) -> Command {
    let mut cmd = Command::new("skopeo");
    cmd.env("REGISTRY_AUTH_FILE", scratch.join("no-auth.json"))
        .arg("--insecure-policy");
    cmd
}

/// TLS and credential flags for talking to `reg`: `prefix` is `"--dest-"`, `"--src-"` or `"--"`.
pub fn skopeo_registry_flags(reg: &Registry, prefix: &str) -> Vec<String> {
    let mut flags = Vec::new();
    if reg.is_tls() {
        flags.push(format!(
            "{prefix}cert-dir={}",
            reg.host_cert_dir().display()
        ));
        flags.push(format!("{prefix}tls-verify=true"));
    } else {
        flags.push(format!("{prefix}tls-verify=false"));
    }
    if let Some((user, pass)) = reg.creds() {
        flags.push(format!("{prefix}creds={user}:{pass}"));
    }
    flags
}

/// `skopeo copy oci:LAYOUT:TAG docker://ADDR/REPO:TAG`; returns the pushed manifest digest.
fn skopeo_copy(reg: &Registry, layout: &Path, repo: &str, tag: &str, extra: &[&str]) -> String {
    let digest_file = layout.join("pushed.digest");
    run_tool(
        skopeo(layout)
            .args(["copy", "--quiet", "--retry-times", "2"])
            .args(skopeo_registry_flags(reg, "--dest-"))
            .args(extra)
            .arg("--digestfile")
            .arg(&digest_file)
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", reg.addr())),
    );
    fs::read_to_string(&digest_file)
        .unwrap_or_else(|e| panic!("read {}: {e}", digest_file.display()))
        .trim()
        .to_owned()
}

/// The manifest (or index) bytes the registry serves for `repo:tag`.
pub fn skopeo_inspect_raw(reg: &Registry, repo: &str, tag: &str) -> Vec<u8> {
    let tmp = tempdir("oxpod-it-skopeo.");
    run_tool(
        skopeo(tmp.path())
            .args(["inspect", "--raw"])
            .args(skopeo_registry_flags(reg, "--"))
            .arg(format!("docker://{}/{repo}:{tag}", reg.addr())),
    )
}

fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create temp dir")
}
