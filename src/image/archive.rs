//! Image archives: `docker-archive` (what `docker save` writes) and `oci-archive` (an OCI image
//! layout in a tarball) for `save` and `load`, and root file system tarballs for `import`.
//!
//! Reading streams the tarball once, in whatever order its members come (`manifest.json` and
//! `index.json` are usually last): small members stay in memory, larger ones go straight into
//! the blob store under the digest of their content. Nothing read is trusted until it matches
//! the digest that names it (OCI blobs) or the diff-id its image config gives (docker layers);
//! blobs that end up unused are left for garbage collection.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::blobs::{
    BlobError, BlobStore, HashingWriter, VerifyingReader, digest_hex, sha256_digest,
};
use super::manifest::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, Descriptor, ImageConfig, Index, Manifest,
    OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, Platform, is_index, is_layer, is_manifest,
};
use super::reference::{self, Reference, ReferenceError};
use super::registry::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, RawManifest};
use super::unpack::{Compression, decompress};

/// docker-archive's list of images.
pub const DOCKER_MANIFEST_FILE: &str = "manifest.json";
/// docker-archive's pre-1.10 tag list, still written for old readers.
const REPOSITORIES_FILE: &str = "repositories";
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
pub const OCI_INDEX_FILE: &str = "index.json";
/// The tag of an image in an OCI layout (a full name when Podman writes it).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The full name containerd and BuildKit record; Podman prefers it when reading.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Members up to this size are kept in memory while reading; larger ones go to the blob store.
const INLINE_MEMBER_MAX: u64 = 1 << 20;
/// Memory all inline members may take together.
const INLINE_TOTAL_MAX: u64 = 64 << 20;
/// Manifests, configs and indexes larger than this are refused (containers-image's limits are
/// of the same order).
const METADATA_MAX: u64 = 32 << 20;
/// Links followed one after another before giving up (a loop, or an absurd archive).
const LINK_HOPS_MAX: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(
        "archive member {member:?}: its path leaves the archive (absolute, or climbing out with `..`)"
    )]
    UnsafePath { member: String },
    #[error("archive member {member:?} is corrupt: its content hashes to {actual}, not {expected}")]
    DigestMismatch {
        member: String,
        expected: String,
        actual: String,
    },
    #[error("archive member {member:?} is {actual} bytes long, but {expected} bytes were expected")]
    SizeMismatch {
        member: String,
        expected: u64,
        actual: u64,
    },
    #[error("archive member {member:?} is missing (named in {named_in})")]
    Missing { member: String, named_in: String },
    #[error("archive member {member:?}: {message}")]
    Malformed { member: String, message: String },
    #[error(
        "not an image archive: it has neither {DOCKER_MANIFEST_FILE} (docker-archive) nor {OCI_LAYOUT_FILE} and {OCI_INDEX_FILE} (oci-archive)"
    )]
    UnknownFormat,
    #[error("reading archive member {member:?}: {source}")]
    Read { member: String, source: io::Error },
    #[error("reading the archive{}: {source}", after_member(.last_member))]
    Corrupt {
        /// The last member read successfully, if any.
        last_member: Option<String>,
        source: io::Error,
    },
    #[error("writing archive member {member:?}: {source}")]
    Write { member: String, source: io::Error },
    #[error("image {image}: {message}")]
    Image { image: String, message: String },
    #[error("invalid change {change:?}: {message}")]
    Change { change: String, message: String },
    #[error("reading the root file system tarball: {0}")]
    Rootfs(io::Error),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

fn after_member(last: &Option<String>) -> String {
    match last {
        Some(m) => format!(" after member {m:?}"),
        None => String::new(),
    }
}

type Result<T, E = ArchiveError> = std::result::Result<T, E>;

fn malformed(member: &str, message: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Malformed {
        member: member.to_string(),
        message: message.to_string(),
    }
}

/// A blob-store mismatch found while storing a member, reported against that member.
fn blob_err(member: &str) -> impl FnOnce(BlobError) -> ArchiveError + '_ {
    move |e| match e {
        BlobError::Mismatch { expected, actual } => ArchiveError::DigestMismatch {
            member: member.to_string(),
            expected,
            actual,
        },
        other => ArchiveError::Blob(other),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// One image to write into an archive.
#[derive(Debug, Clone)]
pub struct SaveImage {
    /// The stored manifest (OCI or Docker schema 2).
    pub manifest: RawManifest,
    pub config: Vec<u8>,
    /// Layers bottom first, as stored.
    pub layers: Vec<SaveLayer>,
    /// Fully-qualified tagged names to record; none saves the image unnamed.
    pub names: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SaveLayer {
    pub diff_id: String,
    /// Digest of the stored (possibly compressed) blob.
    pub digest: String,
    pub media_type: String,
    /// Length of the uncompressed tar stream; 0 when unknown (then measured).
    pub diff_size: u64,
}

/// One entry of docker-archive's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default, deserialize_with = "null_as_empty")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers", default, deserialize_with = "null_as_empty")]
    layers: Vec<String>,
}

/// Docker writes `"RepoTags": null` for untagged images.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// A tar stream being written: every member read-only, owned by root and dated 1970, as
/// containers-image writes them, so the same images give the same archive.
struct TarOut<'a> {
    tar: tar::Builder<&'a mut dyn Write>,
}

impl<'a> TarOut<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        TarOut {
            tar: tar::Builder::new(out),
        }
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        let mut header = Self::header(tar::EntryType::Directory, 0, 0o755);
        self.tar
            .append_data(&mut header, path, io::empty())
            .map_err(|source| ArchiveError::Write {
                member: path.to_string(),
                source,
            })
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        self.stream(path, data.len() as u64, data)
    }

    /// Write `size` bytes from `data`; a stream of any other length fails the member rather
    /// than leave a torn archive behind.
    fn stream(&mut self, path: &str, size: u64, data: impl Read) -> Result<()> {
        let mut header = Self::header(tar::EntryType::Regular, size, 0o444);
        let data = ExactSize {
            inner: data,
            expected: size,
            seen: 0,
        };
        self.tar
            .append_data(&mut header, path, data)
            .map_err(|source| ArchiveError::Write {
                member: path.to_string(),
                source,
            })
    }

    fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        let mut header = Self::header(tar::EntryType::Symlink, 0, 0o777);
        self.tar
            .append_link(&mut header, path, target)
            .map_err(|source| ArchiveError::Write {
                member: path.to_string(),
                source,
            })
    }

    fn finish(mut self) -> Result<()> {
        self.tar.finish().map_err(|source| ArchiveError::Write {
            member: "(end of archive)".into(),
            source,
        })
    }
}

/// Fails a read that yields more or fewer bytes than a tar header promised.
struct ExactSize<R> {
    inner: R,
    expected: u64,
    seen: u64,
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        let problem = if self.seen > self.expected {
            format!(
                "the content is longer than the {} bytes recorded for it",
                self.expected
            )
        } else if n == 0 && !buf.is_empty() && self.seen < self.expected {
            format!(
                "the content ends after {} of the {} bytes recorded for it",
                self.seen, self.expected
            )
        } else {
            return Ok(n);
        };
        Err(io::Error::new(io::ErrorKind::InvalidData, problem))
    }
}

fn parse_manifest(image: &RawManifest) -> Result<Manifest> {
    serde_json::from_slice(&image.bytes).map_err(|e| ArchiveError::Image {
        image: image.digest.clone(),
        message: format!("stored manifest is malformed: {e}"),
    })
}

fn check_config(image: &RawManifest, manifest: &Manifest, config: &[u8]) -> Result<()> {
    let actual = sha256_digest(config);
    if actual != manifest.config.digest {
        return Err(ArchiveError::Image {
            image: image.digest.clone(),
            message: format!(
                "stored config hashes to {actual}, but the manifest names {}",
                manifest.config.digest
            ),
        });
    }
    Ok(())
}

/// Write images as `docker save` does: each layer once as an uncompressed `<diff-id>.tar`,
/// configs as `<id>.json`, `manifest.json`, and the legacy `repositories` file with a
/// directory per legacy layer ID, which old `docker load` versions follow.
pub fn write_docker_archive(
    out: &mut dyn Write,
    images: &[SaveImage],
    blobs: &BlobStore,
) -> Result<()> {
    let mut tar = TarOut::new(out);
    let mut items: Vec<ManifestItem> = Vec::new();
    let mut item_by_config: HashMap<String, usize> = HashMap::new();
    let mut layers_written: HashSet<String> = HashSet::new();
    let mut legacy_written: HashSet<String> = HashSet::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in images {
        let manifest = parse_manifest(&image.manifest)?;
        check_config(&image.manifest, &manifest, &image.config)?;
        let config_hex = digest_hex(&manifest.config.digest)?;
        let config_path = format!("{config_hex}.json");
        let mut layer_paths = Vec::new();
        for layer in &image.layers {
            let path = format!("{}.tar", digest_hex(&layer.diff_id)?);
            if layers_written.insert(layer.diff_id.clone()) {
                write_uncompressed_layer(&mut tar, &path, layer, blobs)?;
            }
            layer_paths.push(path);
        }
        let index = match item_by_config.get(&manifest.config.digest) {
            Some(&i) => i,
            None => {
                tar.bytes(&config_path, &image.config)?;
                items.push(ManifestItem {
                    config: config_path,
                    repo_tags: Vec::new(),
                    layers: layer_paths,
                });
                item_by_config.insert(manifest.config.digest.clone(), items.len() - 1);
                items.len() - 1
            }
        };
        let diff_ids: Vec<&str> = image.layers.iter().map(|l| l.diff_id.as_str()).collect();
        let mut top = None;
        for legacy in legacy_layers(&diff_ids, &image.config) {
            if legacy_written.insert(legacy.id.clone()) {
                let layer_path = format!("{}.tar", digest_hex(legacy.diff_id)?);
                tar.symlink(
                    &format!("{}/layer.tar", legacy.id),
                    &format!("../{layer_path}"),
                )?;
                tar.bytes(&format!("{}/VERSION", legacy.id), b"1.0")?;
                tar.bytes(&format!("{}/json", legacy.id), &legacy.json)?;
            }
            top = Some(legacy.id);
        }
        for name in &image.names {
            if !items[index].repo_tags.contains(name) {
                items[index].repo_tags.push(name.clone());
            }
            let parsed = Reference::parse(name).map_err(|e| ArchiveError::Image {
                image: image.manifest.digest.clone(),
                message: e.to_string(),
            })?;
            if let (Some(tag), Some(top)) = (&parsed.tag, &top) {
                repositories
                    .entry(parsed.name())
                    .or_default()
                    .insert(tag.clone(), top.clone());
            }
        }
    }
    tar.bytes(
        DOCKER_MANIFEST_FILE,
        &serde_json::to_vec(&items).expect("serialisable"),
    )?;
    tar.bytes(
        REPOSITORIES_FILE,
        &serde_json::to_vec(&repositories).expect("serialisable"),
    )?;
    tar.finish()
}

fn write_uncompressed_layer(
    tar: &mut TarOut<'_>,
    path: &str,
    layer: &SaveLayer,
    blobs: &BlobStore,
) -> Result<()> {
    let open = || -> Result<Box<dyn Read>> {
        let file = blobs.open_blob(&layer.digest)?;
        decompress(io::BufReader::with_capacity(1 << 20, file)).map_err(|source| {
            ArchiveError::Write {
                member: path.to_string(),
                source,
            }
        })
    };
    // The tar header needs the length up front; an image recorded without one is measured.
    let size = match layer.diff_size {
        0 => io::copy(&mut open()?, &mut io::sink()).map_err(|source| ArchiveError::Write {
            member: path.to_string(),
            source,
        })?,
        n => n,
    };
    tar.stream(path, size, VerifyingReader::new(open()?, &layer.diff_id))
}

struct LegacyLayer<'a> {
    id: String,
    diff_id: &'a str,
    json: Vec<u8>,
}

/// Legacy (v1) layer IDs and their `json` files, made as containers-image makes them: a chain
/// of IDs over the diff-ids, the top one carrying part of the image config.
fn legacy_layers<'a>(diff_ids: &[&'a str], config: &[u8]) -> Vec<LegacyLayer<'a>> {
    let config: Map<String, Value> = serde_json::from_slice(config).unwrap_or_default();
    let mut out: Vec<LegacyLayer<'a>> = Vec::new();
    let mut chain_id = String::new();
    for (i, diff_id) in diff_ids.iter().enumerate() {
        let mut layer = Map::new();
        if let Some(parent) = out.last() {
            layer.insert("parent".into(), Value::String(parent.id.clone()));
        }
        if i == diff_ids.len() - 1 {
            for key in [
                "architecture",
                "config",
                "container",
                "container_config",
                "created",
                "docker_version",
                "os",
            ] {
                layer.insert(key.into(), config.get(key).cloned().unwrap_or(Value::Null));
            }
        }
        chain_id = if chain_id.is_empty() {
            diff_id.to_string()
        } else {
            sha256_digest(format!("{chain_id} {diff_id}").as_bytes())
        };
        layer.insert("layer_id".into(), Value::String(chain_id.clone()));
        let id = sha256_digest(&serde_json::to_vec(&layer).expect("serialisable"));
        let id = id.trim_start_matches("sha256:").to_string();
        layer.remove("layer_id");
        layer.insert("id".into(), Value::String(id.clone()));
        out.push(LegacyLayer {
            id,
            diff_id,
            json: serde_json::to_vec(&layer).expect("serialisable"),
        });
    }
    out
}

/// The manifest to put in an OCI layout: the stored one byte for byte when it is OCI, else the
/// Docker schema 2 one with OCI media types (same config and layer blobs).
pub fn oci_manifest(image: &RawManifest) -> Result<RawManifest> {
    let parsed = parse_manifest(image)?;
    let media_type = match image.media_type.as_str() {
        "" => parsed.media_type.clone().unwrap_or_else(|| {
            if parsed.config.media_type == DOCKER_CONFIG {
                DOCKER_MANIFEST
            } else {
                OCI_MANIFEST
            }
            .to_string()
        }),
        other => other.to_string(),
    };
    if media_type == OCI_MANIFEST {
        return Ok(RawManifest {
            media_type,
            ..image.clone()
        });
    }
    if media_type != DOCKER_MANIFEST {
        return Err(ArchiveError::Image {
            image: image.digest.clone(),
            message: format!("cannot write a {media_type:?} manifest into an OCI layout"),
        });
    }
    let layers = parsed
        .layers
        .iter()
        .map(|layer| {
            let media_type = match layer.media_type.as_str() {
                DOCKER_LAYER_GZIP => OCI_LAYER_GZIP.to_string(),
                DOCKER_LAYER => OCI_LAYER.to_string(),
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip".to_string()
                }
                other => other.to_string(),
            };
            Descriptor {
                media_type,
                ..layer.clone()
            }
        })
        .collect();
    let converted = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: OCI_CONFIG.into(),
            ..parsed.config.clone()
        },
        layers,
        annotations: parsed.annotations.clone(),
    };
    let bytes = serde_json::to_vec(&converted).expect("serialisable");
    Ok(RawManifest {
        digest: sha256_digest(&bytes),
        bytes,
        media_type: OCI_MANIFEST.into(),
    })
}

/// Write images as an OCI image layout: `oci-layout`, `blobs/sha256/...` (each blob once,
/// byte for byte) and `index.json` with one manifest descriptor per name. Each name is in
/// `org.opencontainers.image.ref.name`, as Podman writes it (the full name, which Podman's
/// load reads back) and in `io.containerd.image.name`, which containerd and `docker load`
/// read.
pub fn write_oci_archive(
    out: &mut dyn Write,
    images: &[SaveImage],
    blobs: &BlobStore,
) -> Result<()> {
    let mut tar = TarOut::new(out);
    tar.bytes(OCI_LAYOUT_FILE, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.dir("blobs/")?;
    tar.dir("blobs/sha256/")?;
    let mut written: HashSet<String> = HashSet::new();
    let mut descriptors: Vec<Value> = Vec::new();
    for image in images {
        let manifest = oci_manifest(&image.manifest)?;
        let parsed = parse_manifest(&manifest)?;
        check_config(&image.manifest, &parsed, &image.config)?;
        for layer in &parsed.layers {
            if written.insert(layer.digest.clone()) {
                let path = format!("blobs/sha256/{}", digest_hex(&layer.digest)?);
                let file = blobs.open_blob(&layer.digest)?;
                let verified = VerifyingReader::new(
                    io::BufReader::with_capacity(1 << 20, file),
                    &layer.digest,
                );
                tar.stream(&path, layer.size, verified)?;
            }
        }
        for (digest, bytes) in [
            (&parsed.config.digest, &image.config),
            (&manifest.digest, &manifest.bytes),
        ] {
            if written.insert(digest.clone()) {
                tar.bytes(&format!("blobs/sha256/{}", digest_hex(digest)?), bytes)?;
            }
        }
        let descriptor = |name: Option<&str>| {
            let mut d = json!({
                "mediaType": OCI_MANIFEST,
                "digest": manifest.digest,
                "size": manifest.bytes.len(),
            });
            if let Some(name) = name {
                d["annotations"] =
                    json!({ ANNOTATION_CONTAINERD_NAME: name, ANNOTATION_REF_NAME: name });
            }
            d
        };
        if image.names.is_empty() {
            descriptors.push(descriptor(None));
        }
        for name in &image.names {
            descriptors.push(descriptor(Some(name)));
        }
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": descriptors,
    });
    tar.bytes(
        OCI_INDEX_FILE,
        &serde_json::to_vec(&index).expect("serialisable"),
    )?;
    tar.finish()
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Which kind of archive was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Docker,
    Oci,
}

/// An image read from an archive. Its config and layer blobs are in the blob store (verified);
/// its manifest and config are here, to be stored when the image is registered.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub manifest: RawManifest,
    pub config: Vec<u8>,
    /// Normalised, tagged names, as Podman names loaded images.
    pub names: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct LoadedArchive {
    pub kind: ArchiveKind,
    pub images: Vec<LoadedImage>,
}

/// An archive member as read.
enum Member {
    Inline(Vec<u8>),
    Stored {
        digest: String,
        size: u64,
    },
    /// A symbolic or hard link, with its target as an archive path.
    Link(String),
}

/// `path` as an archive path without `.` components or a trailing `/`; `None` for the root.
/// Absolute paths and `..` are refused: no member may name something outside the archive.
fn clean_member_path(raw: &str) -> Result<Option<String>> {
    if raw.starts_with('/') {
        return Err(ArchiveError::UnsafePath {
            member: raw.to_string(),
        });
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(ArchiveError::UnsafePath {
                    member: raw.to_string(),
                });
            }
            other => parts.push(other),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// A symbolic link's target, resolved lexically against the directory of `member`.
fn resolve_symlink(member: &str, target: &str) -> Result<String> {
    let escape = || ArchiveError::UnsafePath {
        member: format!("{member} -> {target}"),
    };
    if target.starts_with('/') {
        return Err(escape());
    }
    let mut parts: Vec<&str> = member.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(escape)?;
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

/// Sniff gzip/zstd on a borrowed stream (`unpack::decompress` needs an owned one).
fn decompressing<'a>(mut reader: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut len = 0;
    while len < magic.len() {
        match reader.read(&mut magic[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = io::Cursor::new(magic[..len].to_vec());
    let whole = head.chain(reader);
    Ok(match Compression::sniff(&magic[..len]) {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
    })
}

struct Members<'b> {
    map: HashMap<String, Member>,
    blobs: &'b BlobStore,
}

impl<'b> Members<'b> {
    /// Read every member of a (possibly gzip- or zstd-compressed) tar stream.
    fn read(input: &mut dyn Read, blobs: &'b BlobStore) -> Result<Members<'b>> {
        let corrupt = |last_member: &Option<String>| {
            let last_member = last_member.clone();
            move |source| ArchiveError::Corrupt {
                last_member,
                source,
            }
        };
        let read_err = |member: &str| {
            let member = member.to_string();
            move |source| ArchiveError::Read { member, source }
        };
        let mut last: Option<String> = None;
        let mut archive = tar::Archive::new(decompressing(input).map_err(corrupt(&last))?);
        let mut map = HashMap::new();
        let mut inline_total = 0u64;
        for entry in archive.entries().map_err(corrupt(&last))? {
            let mut entry = entry.map_err(corrupt(&last))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(path) = clean_member_path(&raw)? else {
                continue;
            };
            let kind = entry.header().entry_type();
            let member = if kind.is_file() || kind == tar::EntryType::Continuous {
                let size = entry.size();
                // The tar reader ends a member quietly where a truncated stream ends.
                let truncated = |read: u64| ArchiveError::Read {
                    member: path.clone(),
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the archive ends after {read} of its {size} bytes (truncated?)"),
                    ),
                };
                if size <= INLINE_MEMBER_MAX && inline_total + size <= INLINE_TOTAL_MAX {
                    inline_total += size;
                    let mut data = Vec::with_capacity(size as usize);
                    entry.read_to_end(&mut data).map_err(read_err(&path))?;
                    if data.len() as u64 != size {
                        return Err(truncated(data.len() as u64));
                    }
                    Some(Member::Inline(data))
                } else {
                    let mut writer = blobs.writer()?;
                    let read = io::copy(&mut entry, &mut writer).map_err(read_err(&path))?;
                    if read != size {
                        return Err(truncated(read));
                    }
                    let (digest, size) = writer.commit(None)?;
                    Some(Member::Stored { digest, size })
                }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = String::from_utf8_lossy(&target).into_owned();
                let resolved = if kind.is_symlink() {
                    resolve_symlink(&path, &target)?
                } else {
                    // Hard link targets are archive paths already.
                    clean_member_path(&target)
                        .map_err(|_| ArchiveError::UnsafePath {
                            member: format!("{path} -> {target}"),
                        })?
                        .ok_or_else(|| malformed(&path, "hard link to the archive root"))?
                };
                Some(Member::Link(resolved))
            } else {
                // Directories and special files: nothing an image archive needs.
                None
            };
            if let Some(member) = member {
                map.insert(path.clone(), member);
            }
            last = Some(path);
        }
        Ok(Members { map, blobs })
    }

    fn has(&self, path: &str) -> bool {
        self.map.contains_key(path)
    }

    /// The member at `path` after following links; `named_in` is the file that named it.
    fn get(&self, path: &str, named_in: &str) -> Result<(String, &Member)> {
        let mut path = clean_member_path(path)?
            .ok_or_else(|| malformed(named_in, "names the archive root as a file"))?;
        for _ in 0..LINK_HOPS_MAX {
            match self.map.get(&path) {
                Some(Member::Link(target)) => path = target.clone(),
                Some(member) => return Ok((path, member)),
                None => {
                    return Err(ArchiveError::Missing {
                        member: path,
                        named_in: named_in.to_string(),
                    });
                }
            }
        }
        Err(malformed(&path, "too many links to follow"))
    }

    /// A small member's bytes (manifests, configs, indexes).
    fn bytes(&self, path: &str, named_in: &str) -> Result<Vec<u8>> {
        let (path, member) = self.get(path, named_in)?;
        match member {
            Member::Inline(data) => Ok(data.clone()),
            Member::Stored { size, .. } if *size > METADATA_MAX => Err(malformed(
                &path,
                format!("{size} bytes is too large for image metadata"),
            )),
            Member::Stored { digest, .. } => Ok(self.blobs.read(digest)?),
            Member::Link(_) => unreachable!("links are followed"),
        }
    }

    /// Make sure the blob `digest` (of `size` bytes, when known) is in the blob store, taking it
    /// from member `path`.
    fn store_blob(
        &self,
        path: &str,
        named_in: &str,
        digest: &str,
        size: Option<u64>,
    ) -> Result<u64> {
        let (path, member) = self.get(path, named_in)?;
        let actual_size = match member {
            Member::Inline(data) => {
                self.blobs
                    .put(data, Some(digest))
                    .map_err(blob_err(&path))?;
                data.len() as u64
            }
            Member::Stored {
                digest: actual,
                size,
            } => {
                if actual != digest {
                    return Err(ArchiveError::DigestMismatch {
                        member: path,
                        expected: digest.to_string(),
                        actual: actual.clone(),
                    });
                }
                *size
            }
            Member::Link(_) => unreachable!("links are followed"),
        };
        match size {
            Some(expected) if expected != actual_size => Err(ArchiveError::SizeMismatch {
                member: path,
                expected,
                actual: actual_size,
            }),
            _ => Ok(actual_size),
        }
    }

    /// Store a docker-archive layer as an uncompressed blob whose digest is `diff_id`. Layers
    /// are uncompressed tars as `docker save` writes them, but some tools (umoci) compress them.
    fn store_layer(&self, path: &str, named_in: &str, diff_id: &str) -> Result<u64> {
        let (resolved, member) = self.get(path, named_in)?;
        let actual = match member {
            Member::Inline(data) => sha256_digest(data),
            Member::Stored { digest, .. } => digest.clone(),
            Member::Link(_) => unreachable!("links are followed"),
        };
        if actual == diff_id {
            return self.store_blob(path, named_in, diff_id, None);
        }
        let read_err = |source| ArchiveError::Read {
            member: resolved.clone(),
            source,
        };
        // A plain tar with the wrong content: no point in copying it to find that out.
        let compressed = match member {
            Member::Inline(data) => Compression::sniff(data) != Compression::None,
            Member::Stored { digest, .. } => {
                let mut head = [0u8; 4];
                let n = self
                    .blobs
                    .open_blob(digest)?
                    .read(&mut head)
                    .map_err(read_err)?;
                Compression::sniff(&head[..n]) != Compression::None
            }
            Member::Link(_) => unreachable!("links are followed"),
        };
        if !compressed {
            return Err(ArchiveError::DigestMismatch {
                member: resolved,
                expected: diff_id.to_string(),
                actual,
            });
        }
        let mut decompressed: Box<dyn Read> = match member {
            Member::Inline(data) => {
                decompressing(io::Cursor::new(data.clone())).map_err(read_err)?
            }
            Member::Stored { digest, .. } => {
                decompress(io::BufReader::new(self.blobs.open_blob(digest)?)).map_err(read_err)?
            }
            Member::Link(_) => unreachable!("links are followed"),
        };
        let mut writer = self.blobs.writer()?;
        io::copy(&mut decompressed, &mut writer).map_err(read_err)?;
        let (_, size) = writer.commit(Some(diff_id)).map_err(blob_err(&resolved))?;
        Ok(size)
    }
}

/// Read a `docker-archive` or `oci-archive` (gzip- or zstd-compressed or plain; the format is
/// told from its content), storing every blob its images need, verified. When both are
/// present (Docker 25 writes both), the OCI layout is read, as Podman does.
pub fn read_archive(input: &mut dyn Read, blobs: &BlobStore) -> Result<LoadedArchive> {
    let members = Members::read(input, blobs)?;
    if members.has(OCI_LAYOUT_FILE) && members.has(OCI_INDEX_FILE) {
        Ok(LoadedArchive {
            kind: ArchiveKind::Oci,
            images: read_oci(&members)?,
        })
    } else if members.has(DOCKER_MANIFEST_FILE) {
        Ok(LoadedArchive {
            kind: ArchiveKind::Docker,
            images: read_docker(&members)?,
        })
    } else {
        Err(ArchiveError::UnknownFormat)
    }
}

/// Podman's name for a loaded image: a name without a registry goes under `localhost/`
/// (`busybox:1` → `localhost/busybox:1`, as Podman loads `docker save` archives); a digest
/// is dropped, since a name here is a tag. `None` for a digest-only reference.
pub fn load_name(raw: &str) -> Result<Option<String>, ReferenceError> {
    let parsed = if reference::is_short_name(raw) {
        Reference::parse(&format!(
            "{}/{}",
            reference::LOCALHOST,
            raw.trim_start_matches('/')
        ))?
    } else {
        Reference::parse(raw)?
    };
    if parsed.tag.is_none() {
        return Ok(None);
    }
    Ok(Some(
        Reference {
            digest: None,
            ..parsed
        }
        .to_string(),
    ))
}

fn parse_config(member: &str, bytes: &[u8], layers: usize) -> Result<()> {
    let config: ImageConfig = serde_json::from_slice(bytes)
        .map_err(|e| malformed(member, format!("image config: {e}")))?;
    if config.rootfs.diff_ids.len() != layers {
        return Err(malformed(
            member,
            format!(
                "the image config lists {} layers, but the image has {layers}",
                config.rootfs.diff_ids.len()
            ),
        ));
    }
    Ok(())
}

/// The config of a docker-archive image is named after its digest (`<hex>.json`, or
/// `blobs/sha256/<hex>` from Docker 25); when it is, the content must match.
fn digest_from_member_name(path: &str) -> Option<String> {
    let name = path
        .strip_prefix("blobs/sha256/")
        .or_else(|| path.strip_suffix(".json"))?;
    let digest = format!("sha256:{name}");
    digest_hex(&digest).is_ok().then_some(digest)
}

fn read_docker(members: &Members<'_>) -> Result<Vec<LoadedImage>> {
    let items: Vec<ManifestItem> =
        serde_json::from_slice(&members.bytes(DOCKER_MANIFEST_FILE, "the archive")?)
            .map_err(|e| malformed(DOCKER_MANIFEST_FILE, e))?;
    let mut images: Vec<LoadedImage> = Vec::new();
    let mut by_digest: HashMap<String, usize> = HashMap::new();
    let mut stored: HashMap<String, u64> = HashMap::new();
    for item in &items {
        let (config_path, _) = members.get(&item.config, DOCKER_MANIFEST_FILE)?;
        let config = members.bytes(&item.config, DOCKER_MANIFEST_FILE)?;
        let config_digest = sha256_digest(&config);
        if let Some(named) = digest_from_member_name(&config_path)
            && named != config_digest
        {
            return Err(ArchiveError::DigestMismatch {
                member: config_path,
                expected: named,
                actual: config_digest,
            });
        }
        parse_config(&config_path, &config, item.layers.len())?;
        let parsed: ImageConfig = serde_json::from_slice(&config).expect("parsed above");
        let mut layers = Vec::new();
        for (path, diff_id) in item.layers.iter().zip(&parsed.rootfs.diff_ids) {
            digest_hex(diff_id)
                .map_err(|_| malformed(&config_path, format!("unsupported diff-id {diff_id:?}")))?;
            let size = match stored.get(diff_id) {
                Some(&size) => size,
                None => {
                    let size = members.store_layer(path, DOCKER_MANIFEST_FILE, diff_id)?;
                    stored.insert(diff_id.clone(), size);
                    size
                }
            };
            layers.push(json!({ "mediaType": OCI_LAYER, "digest": diff_id, "size": size }));
        }
        members.blobs.put(&config, Some(&config_digest))?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len() },
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&manifest).expect("serialisable");
        let mut names = Vec::new();
        for tag in &item.repo_tags {
            let name = load_name(tag).map_err(|e| {
                malformed(DOCKER_MANIFEST_FILE, format!("invalid tag {tag:?}: {e}"))
            })?;
            names.extend(name);
        }
        let image = LoadedImage {
            manifest: RawManifest {
                digest: sha256_digest(&bytes),
                bytes,
                media_type: OCI_MANIFEST.into(),
            },
            config,
            names,
        };
        push_image(&mut images, &mut by_digest, image);
    }
    Ok(images)
}

/// Add an image, or only its names when the same manifest came before.
fn push_image(
    images: &mut Vec<LoadedImage>,
    by_digest: &mut HashMap<String, usize>,
    image: LoadedImage,
) {
    match by_digest.get(&image.manifest.digest) {
        Some(&i) => {
            for name in image.names {
                if !images[i].names.contains(&name) {
                    images[i].names.push(name);
                }
            }
        }
        None => {
            by_digest.insert(image.manifest.digest.clone(), images.len());
            images.push(image);
        }
    }
}

fn oci_blob_path(digest: &str, named_in: &str) -> Result<String> {
    let hex = digest_hex(digest)
        .map_err(|_| malformed(named_in, format!("unsupported digest {digest:?}")))?;
    Ok(format!("blobs/sha256/{hex}"))
}

fn read_oci(members: &Members<'_>) -> Result<Vec<LoadedImage>> {
    let layout: Value = serde_json::from_slice(&members.bytes(OCI_LAYOUT_FILE, "the archive")?)
        .map_err(|e| malformed(OCI_LAYOUT_FILE, e))?;
    if layout
        .get("imageLayoutVersion")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err(malformed(OCI_LAYOUT_FILE, "no imageLayoutVersion"));
    }
    let index: Index = serde_json::from_slice(&members.bytes(OCI_INDEX_FILE, "the archive")?)
        .map_err(|e| malformed(OCI_INDEX_FILE, e))?;
    let mut images: Vec<LoadedImage> = Vec::new();
    let mut by_digest: HashMap<String, usize> = HashMap::new();
    for descriptor in &index.manifests {
        let annotations = descriptor.annotations.clone().unwrap_or_default();
        let raw_name = annotations
            .get(ANNOTATION_CONTAINERD_NAME)
            .filter(|n| !n.is_empty())
            .or_else(|| {
                annotations
                    .get(ANNOTATION_REF_NAME)
                    .filter(|n| !n.is_empty())
            });
        let names = match raw_name {
            Some(raw) => load_name(raw)
                .map_err(|e| malformed(OCI_INDEX_FILE, format!("invalid image name {raw:?}: {e}")))?
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        let manifest = oci_image_manifest(members, descriptor, OCI_INDEX_FILE, 0)?;
        let parsed: Manifest = serde_json::from_slice(&manifest.bytes).expect("parsed when read");
        let config_path = oci_blob_path(&parsed.config.digest, &manifest.digest)?;
        let config = members.bytes(&config_path, &manifest.digest)?;
        if sha256_digest(&config) != parsed.config.digest {
            return Err(ArchiveError::DigestMismatch {
                member: config_path,
                expected: parsed.config.digest.clone(),
                actual: sha256_digest(&config),
            });
        }
        parse_config(&config_path, &config, parsed.layers.len())?;
        for layer in &parsed.layers {
            let path = oci_blob_path(&layer.digest, &manifest.digest)?;
            members.store_blob(&path, &manifest.digest, &layer.digest, Some(layer.size))?;
        }
        members.blobs.put(&config, Some(&parsed.config.digest))?;
        push_image(
            &mut images,
            &mut by_digest,
            LoadedImage {
                manifest,
                config,
                names,
            },
        );
    }
    Ok(images)
}

/// The image manifest `descriptor` points to: itself, or the host platform's entry when it is
/// an image index.
fn oci_image_manifest(
    members: &Members<'_>,
    descriptor: &Descriptor,
    named_in: &str,
    depth: usize,
) -> Result<RawManifest> {
    let path = oci_blob_path(&descriptor.digest, named_in)?;
    let bytes = members.bytes(&path, named_in)?;
    let actual = sha256_digest(&bytes);
    if actual != descriptor.digest {
        return Err(ArchiveError::DigestMismatch {
            member: path,
            expected: descriptor.digest.clone(),
            actual,
        });
    }
    if bytes.len() as u64 != descriptor.size {
        return Err(ArchiveError::SizeMismatch {
            member: path,
            expected: descriptor.size,
            actual: bytes.len() as u64,
        });
    }
    let embedded: Value = serde_json::from_slice(&bytes).map_err(|e| malformed(&path, e))?;
    let media_type = match descriptor.media_type.as_str() {
        "" => embedded
            .get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                if embedded.get("manifests").is_some() {
                    OCI_INDEX
                } else {
                    OCI_MANIFEST
                }
                .to_string()
            }),
        other => other.to_string(),
    };
    if is_index(&media_type) {
        let index: Index = serde_json::from_value(embedded).map_err(|e| malformed(&path, e))?;
        let host = Platform::host();
        let chosen = index.select(&host).ok_or_else(|| {
            malformed(
                &path,
                format!(
                    "no image for platform {host} (the index offers {})",
                    index.platforms().join(", ")
                ),
            )
        })?;
        if depth > 2 {
            return Err(malformed(&path, "image indexes nested too deep"));
        }
        return oci_image_manifest(members, chosen, &path, depth + 1);
    }
    if !is_manifest(&media_type) {
        return Err(malformed(
            &path,
            format!("unsupported manifest type {media_type:?}"),
        ));
    }
    members.store_blob(&path, named_in, &descriptor.digest, None)?;
    let parsed: Manifest = serde_json::from_slice(&bytes).map_err(|e| malformed(&path, e))?;
    for layer in &parsed.layers {
        if !is_layer(&layer.media_type) {
            return Err(malformed(
                &path,
                format!(
                    "layer {} has unsupported media type {:?}",
                    layer.digest, layer.media_type
                ),
            ));
        }
    }
    Ok(RawManifest {
        bytes,
        digest: descriptor.digest.clone(),
        media_type,
    })
}

// ---------------------------------------------------------------------------------------------
// Import

/// The one layer of an imported root file system, stored gzip-compressed.
#[derive(Debug, Clone)]
pub struct RootfsLayer {
    pub diff_id: String,
    pub diff_size: u64,
    pub digest: String,
    pub size: u64,
}

/// Store a root file system tarball (plain, gzip or zstd) as a gzip layer blob, hashing the
/// uncompressed stream (the diff-id) and the compressed blob (its digest) in the same pass.
pub fn store_rootfs_layer(input: &mut dyn Read, blobs: &BlobStore) -> Result<RootfsLayer> {
    let mut tarball = decompressing(input).map_err(ArchiveError::Rootfs)?;
    let writer = blobs.writer()?;
    let mut uncompressed = HashingWriter::new(flate2::write::GzEncoder::new(
        writer,
        flate2::Compression::default(),
    ));
    io::copy(&mut tarball, &mut uncompressed).map_err(ArchiveError::Rootfs)?;
    let (diff_id, diff_size, encoder) = uncompressed.finish();
    let writer = encoder.finish().map_err(ArchiveError::Rootfs)?;
    let (digest, size) = writer.commit(None)?;
    Ok(RootfsLayer {
        diff_id,
        diff_size,
        digest,
        size,
    })
}

/// Parse `--change` instructions into the `config` object of an image config, as Podman's
/// `import --change` reads them.
pub fn config_from_changes(changes: &[String]) -> Result<Map<String, Value>> {
    let mut config = Map::new();
    for change in changes {
        apply_change(&mut config, change)?;
    }
    Ok(config)
}

const INSTRUCTIONS: &str =
    "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR";

fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let err = |message: String| ArchiveError::Change {
        change: change.to_string(),
        message,
    };
    let trimmed = change.trim();
    let (instruction, value) = trimmed
        .split_once(char::is_whitespace)
        .or_else(|| trimmed.split_once('='))
        .ok_or_else(|| err("expected INSTRUCTION VALUE, e.g. CMD [\"sh\"]".into()))?;
    let instruction = instruction.trim().to_ascii_uppercase();
    let value = value.trim();
    let json_array = || serde_json::from_str::<Vec<String>>(value).ok();
    match instruction.as_str() {
        "CMD" => {
            let cmd = json_array().unwrap_or_else(|| {
                let mut cmd = vec!["/bin/sh".to_string(), "-c".to_string()];
                if !value.is_empty() {
                    cmd.push(value.to_string());
                }
                cmd
            });
            config.insert("Cmd".into(), json!(cmd));
        }
        "ENTRYPOINT" => {
            let entrypoint = json_array().unwrap_or_else(|| match value {
                "" => Vec::new(),
                shell => vec!["/bin/sh".into(), "-c".into(), shell.into()],
            });
            config.insert("Entrypoint".into(), json!(entrypoint));
        }
        "ENV" => {
            // `ENV k=v`, or Docker's older `ENV k v` (a space before any `=`).
            let (key, val) = match (value.find(char::is_whitespace), value.find('=')) {
                (Some(space), eq) if eq.is_none_or(|eq| space < eq) => {
                    (&value[..space], value[space..].trim())
                }
                _ => value.split_once('=').unwrap_or((value, "")),
            };
            let (key, val) = (unquote(key.trim()), unquote(val));
            if key.is_empty() {
                return Err(err("ENV needs a variable name".into()));
            }
            let env = config.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().expect("Env is a list");
            let prefix = format!("{key}=");
            list.retain(|e| !e.as_str().is_some_and(|e| e.starts_with(&prefix)));
            list.push(Value::String(format!("{key}={val}")));
        }
        "EXPOSE" => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            let mut any = false;
            for spec in value.split_whitespace() {
                let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
                let proto = proto.to_ascii_lowercase();
                match port.parse::<u16>() {
                    Ok(p) if p > 0 => {}
                    _ => {
                        return Err(err(format!(
                            "EXPOSE port {port:?} is not a port number (1-65535)"
                        )));
                    }
                }
                if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
                    return Err(err(format!(
                        "EXPOSE protocol {proto:?} is not tcp, udp or sctp"
                    )));
                }
                ports[format!("{port}/{proto}")] = json!({});
                any = true;
            }
            if !any {
                return Err(err("EXPOSE needs a port, e.g. EXPOSE 80/tcp".into()));
            }
        }
        "LABEL" => {
            let (key, val) = value
                .split_once('=')
                .ok_or_else(|| err("LABEL must be formatted KEY=VALUE".into()))?;
            let (key, val) = (unquote(key.trim()), unquote(val.trim()));
            if key.is_empty() {
                return Err(err("LABEL needs a non-empty key".into()));
            }
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            labels[key] = Value::String(val.to_string());
        }
        "USER" => {
            if value.is_empty() {
                return Err(err("USER needs a user".into()));
            }
            config.insert("User".into(), json!(value));
        }
        "VOLUME" => {
            let paths = json_array()
                .unwrap_or_else(|| value.split_whitespace().map(str::to_string).collect());
            if paths.is_empty() || paths.iter().any(String::is_empty) {
                return Err(err("VOLUME needs one or more non-empty paths".into()));
            }
            let volumes = config.entry("Volumes").or_insert_with(|| json!({}));
            for path in paths {
                volumes[path] = json!({});
            }
        }
        "WORKDIR" => {
            if value.is_empty() {
                return Err(err("WORKDIR needs a directory".into()));
            }
            // Relative to the one before, as successive WORKDIRs in a Dockerfile.
            let previous = config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("");
            config.insert("WorkingDir".into(), json!(join_clean(previous, value)));
        }
        "STOPSIGNAL" => {
            // Podman records the number.
            let number = signal_number(value)
                .ok_or_else(|| err(format!("STOPSIGNAL {value:?} is not a signal")))?;
            config.insert("StopSignal".into(), json!(number.to_string()));
        }
        "ONBUILD" => {
            if value.is_empty() {
                return Err(err("ONBUILD needs an instruction".into()));
            }
            let onbuild = config.entry("OnBuild").or_insert_with(|| json!([]));
            onbuild
                .as_array_mut()
                .expect("OnBuild is a list")
                .push(json!(value));
        }
        other => {
            return Err(err(format!(
                "unknown instruction {other} (supported: {INSTRUCTIONS})"
            )));
        }
    }
    Ok(())
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// `filepath.Join(previous, next)`: join, then drop `.`, `..` and repeated slashes.
fn join_clean(previous: &str, next: &str) -> String {
    let joined = if next.starts_with('/') || previous.is_empty() {
        next.to_string()
    } else {
        format!("{previous}/{next}")
    };
    let absolute = joined.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    match (absolute, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".into(),
        (false, false) => parts.join("/"),
    }
}

/// `TERM`, `SIGTERM`, `sigterm` or `15`.
fn signal_number(value: &str) -> Option<i32> {
    if let Ok(n) = value.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = value.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

/// The image config of an imported root file system, as Podman's import makes it.
pub fn import_config(
    layer: &RootfsLayer,
    config: Map<String, Value>,
    message: Option<&str>,
    created: &str,
    platform: &Platform,
) -> Vec<u8> {
    let hex = layer.diff_id.trim_start_matches("sha256:");
    let mut image = json!({
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [layer.diff_id] },
        "history": [{
            "created": created,
            "created_by": format!("/bin/sh -c #(nop) ADD file:{hex} in /"),
            "comment": message.unwrap_or("imported from tarball"),
        }],
    });
    if let Some(variant) = &platform.variant {
        image["variant"] = json!(variant);
    }
    // Docker's config keeps the message at the top too; `inspect` shows it as `Comment`.
    if let Some(message) = message {
        image["comment"] = json!(message);
    }
    serde_json::to_vec(&image).expect("serialisable")
}

/// The OCI manifest of an imported image.
pub fn import_manifest(config: &[u8], layer: &RootfsLayer) -> RawManifest {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": config.len() },
        "layers": [{ "mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size }],
    });
    let bytes = serde_json::to_vec(&manifest).expect("serialisable");
    RawManifest {
        digest: sha256_digest(&bytes),
        bytes,
        media_type: OCI_MANIFEST.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        (dir, blobs)
    }

    fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Store an image whose layers are the given tars (gzip-compressed in the store), with an
    /// OCI or Docker schema 2 manifest.
    fn stored_image(
        blobs: &BlobStore,
        layers: &[&[u8]],
        docker: bool,
        names: &[&str],
    ) -> SaveImage {
        let mut descriptors = Vec::new();
        let mut save_layers = Vec::new();
        for tar in layers {
            let compressed = gzip(tar);
            let digest = blobs.put(&compressed, None).unwrap();
            let diff_id = sha256_digest(tar);
            descriptors.push(json!({
                "mediaType": if docker { DOCKER_LAYER_GZIP } else { OCI_LAYER_GZIP },
                "digest": digest,
                "size": compressed.len(),
            }));
            save_layers.push(SaveLayer {
                diff_id,
                digest,
                media_type: descriptors.last().unwrap()["mediaType"]
                    .as_str()
                    .unwrap()
                    .into(),
                diff_size: tar.len() as u64,
            });
        }
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Cmd": ["sh"], "Env": [format!("N={}", names.join(","))] },
            "rootfs": { "type": "layers", "diff_ids": save_layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>() },
        }))
        .unwrap();
        let config_digest = blobs.put(&config, None).unwrap();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": if docker { DOCKER_MANIFEST } else { OCI_MANIFEST },
            "config": { "mediaType": if docker { DOCKER_CONFIG } else { OCI_CONFIG }, "digest": config_digest, "size": config.len() },
            "layers": descriptors,
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        SaveImage {
            manifest: RawManifest {
                digest: blobs.put(&bytes, None).unwrap(),
                bytes,
                media_type: if docker {
                    DOCKER_MANIFEST
                } else {
                    OCI_MANIFEST
                }
                .into(),
            },
            config,
            layers: save_layers,
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn members_of(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for entry in tar::Archive::new(archive).entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.push((path, data));
        }
        out
    }

    /// A tar written header by header, so that paths the tar crate refuses to write can be.
    fn raw_tar(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, kind, data, link) in entries {
            let mut header = tar::Header::new_old();
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    /// Rebuild an archive, replacing the content of the members `replace` returns some for.
    fn rewrite(archive: &[u8], replace: impl Fn(&str) -> Option<Vec<u8>>) -> Vec<u8> {
        let members = members_of(archive);
        let owned: Vec<(String, Vec<u8>)> = members
            .into_iter()
            .filter(|(path, _)| !path.ends_with('/') && !path.ends_with("layer.tar"))
            .map(|(path, data)| {
                let data = replace(&path).unwrap_or(data);
                (path, data)
            })
            .collect();
        let entries: Vec<(&str, tar::EntryType, &[u8], &str)> = owned
            .iter()
            .map(|(p, d)| (p.as_str(), tar::EntryType::Regular, d.as_slice(), ""))
            .collect();
        raw_tar(&entries)
    }

    fn read(archive: &[u8], blobs: &BlobStore) -> Result<LoadedArchive> {
        read_archive(&mut &archive[..], blobs)
    }

    #[test]
    fn docker_archive_round_trip_shares_layers_and_keeps_configs() {
        let (_src_dir, src) = store();
        // Over the in-memory limit, so the reader spills it to the blob store.
        let big: Vec<u8> = (0..3 << 20)
            .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let base = layer_tar(&[("bin/big", &big)]);
        let top = layer_tar(&[("etc/hello", b"hi\n")]);
        let a = stored_image(
            &src,
            &[&base, &top],
            false,
            &["localhost/a:1", "localhost/a:2"],
        );
        let b = stored_image(&src, &[&base], true, &[]);
        let mut archive = Vec::new();
        write_docker_archive(&mut archive, &[a.clone(), b.clone()], &src).unwrap();

        let members = members_of(&archive);
        let base_member = format!("{}.tar", sha256_digest(&base).trim_start_matches("sha256:"));
        assert_eq!(
            members.iter().filter(|(p, _)| *p == base_member).count(),
            1,
            "shared layer written once"
        );
        let (_, base_data) = members.iter().find(|(p, _)| *p == base_member).unwrap();
        assert_eq!(base_data, &base, "layers are written uncompressed");
        let (_, manifest) = members
            .iter()
            .find(|(p, _)| p == DOCKER_MANIFEST_FILE)
            .unwrap();
        let items: Vec<ManifestItem> = serde_json::from_slice(manifest).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].repo_tags, vec!["localhost/a:1", "localhost/a:2"]);
        assert!(items[1].repo_tags.is_empty());
        let (_, repositories) = members
            .iter()
            .find(|(p, _)| p == REPOSITORIES_FILE)
            .unwrap();
        let repositories: Value = serde_json::from_slice(repositories).unwrap();
        assert!(repositories["localhost/a"]["2"].is_string());

        let (_dst_dir, dst) = store();
        let loaded = read(&archive, &dst).unwrap();
        assert_eq!(loaded.kind, ArchiveKind::Docker);
        assert_eq!(loaded.images.len(), 2);
        let (la, lb) = (&loaded.images[0], &loaded.images[1]);
        assert_eq!(la.names, vec!["localhost/a:1", "localhost/a:2"]);
        assert!(lb.names.is_empty());
        assert_eq!(la.config, a.config);
        assert_eq!(
            lb.config, b.config,
            "the config is kept byte for byte: the image ID does not change"
        );
        let manifest: Manifest = serde_json::from_slice(&la.manifest.bytes).unwrap();
        assert_eq!(la.manifest.media_type, OCI_MANIFEST);
        assert_eq!(la.manifest.digest, sha256_digest(&la.manifest.bytes));
        assert_eq!(manifest.config.digest, sha256_digest(&a.config));
        for (desc, tar) in manifest.layers.iter().zip([&base, &top]) {
            assert_eq!(desc.media_type, OCI_LAYER);
            assert_eq!(desc.digest, sha256_digest(tar));
            assert_eq!(desc.size, tar.len() as u64);
            assert_eq!(&dst.read(&desc.digest).unwrap(), tar);
        }
        assert!(dst.contains(&manifest.config.digest));
    }

    #[test]
    fn oci_archive_round_trip_keeps_blobs_and_converts_docker_manifests() {
        let (_src_dir, src) = store();
        let base = layer_tar(&[("etc/os-release", b"ID=test\n")]);
        let oci = stored_image(&src, &[&base], false, &["localhost/oci:1"]);
        let docker = stored_image(&src, &[&base], true, &["docker.io/library/d:latest"]);
        let mut archive = Vec::new();
        write_oci_archive(&mut archive, &[oci.clone(), docker.clone()], &src).unwrap();

        let members = members_of(&archive);
        let (_, index) = members.iter().find(|(p, _)| p == OCI_INDEX_FILE).unwrap();
        let index: Index = serde_json::from_slice(index).unwrap();
        assert_eq!(index.manifests.len(), 2);
        let names: Vec<&str> = index
            .manifests
            .iter()
            .map(|d| d.annotations.as_ref().unwrap()[ANNOTATION_REF_NAME].as_str())
            .collect();
        assert_eq!(names, ["localhost/oci:1", "docker.io/library/d:latest"]);
        assert_eq!(
            index.manifests[0].digest, oci.manifest.digest,
            "OCI manifests are kept byte for byte"
        );
        let layer_path = format!(
            "blobs/sha256/{}",
            oci.layers[0].digest.trim_start_matches("sha256:")
        );
        assert_eq!(members.iter().filter(|(p, _)| *p == layer_path).count(), 1);

        let (_dst_dir, dst) = store();
        let loaded = read(&archive, &dst).unwrap();
        assert_eq!(loaded.kind, ArchiveKind::Oci);
        assert_eq!(loaded.images.len(), 2);
        assert_eq!(loaded.images[0].manifest.bytes, oci.manifest.bytes);
        assert_eq!(loaded.images[0].names, ["localhost/oci:1"]);
        let converted: Manifest = serde_json::from_slice(&loaded.images[1].manifest.bytes).unwrap();
        assert_eq!(loaded.images[1].manifest.media_type, OCI_MANIFEST);
        assert_eq!(converted.config.media_type, OCI_CONFIG);
        assert_eq!(converted.layers[0].media_type, OCI_LAYER_GZIP);
        assert_eq!(
            converted.layers[0].digest, docker.layers[0].digest,
            "layer blobs are not recompressed"
        );
        assert_eq!(loaded.images[1].config, docker.config);
        assert!(dst.contains(&docker.layers[0].digest));
    }

    #[test]
    fn compressed_archives_are_read() {
        let (_src_dir, src) = store();
        let image = stored_image(
            &src,
            &[&layer_tar(&[("a", b"a")])],
            false,
            &["localhost/z:1"],
        );
        let mut archive = Vec::new();
        write_docker_archive(&mut archive, &[image], &src).unwrap();
        let zstd = zstd::encode_all(&archive[..], 3).unwrap();
        for compressed in [gzip(&archive), zstd] {
            let (_dir, dst) = store();
            let loaded = read(&compressed, &dst).unwrap();
            assert_eq!(loaded.images[0].names, ["localhost/z:1"]);
        }
    }

    #[test]
    fn docker_tags_are_named_as_podman_loads_them() {
        assert_eq!(
            load_name("busybox:1").unwrap().unwrap(),
            "localhost/busybox:1"
        );
        assert_eq!(
            load_name("latest").unwrap().unwrap(),
            "localhost/latest:latest"
        );
        assert_eq!(
            load_name("docker.io/library/busybox:1").unwrap().unwrap(),
            "docker.io/library/busybox:1"
        );
        assert_eq!(
            load_name("quay.io/a/b").unwrap().unwrap(),
            "quay.io/a/b:latest"
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            load_name(&format!("quay.io/a/b:1@{digest}"))
                .unwrap()
                .unwrap(),
            "quay.io/a/b:1"
        );
        assert_eq!(load_name(&format!("quay.io/a/b@{digest}")).unwrap(), None);
        assert!(load_name("UPPER:1").is_err());
    }

    #[test]
    fn member_paths_may_not_leave_the_archive() {
        let (_dir, blobs) = store();
        for (path, kind, link) in [
            ("../evil", tar::EntryType::Regular, ""),
            ("a/../../evil", tar::EntryType::Regular, ""),
            ("/etc/passwd", tar::EntryType::Regular, ""),
            ("x/layer.tar", tar::EntryType::Symlink, "../../etc/shadow"),
            ("x/layer.tar", tar::EntryType::Symlink, "/etc/shadow"),
            ("x/layer.tar", tar::EntryType::Link, "../etc/shadow"),
        ] {
            let archive = raw_tar(&[(path, kind, b"", link)]);
            match read(&archive, &blobs) {
                Err(ArchiveError::UnsafePath { member }) => {
                    assert!(member.starts_with(path), "{member} for {path}")
                }
                other => panic!("{path} -> {link}: {other:?}"),
            }
        }
        // Paths from manifest.json are checked the same way.
        let manifest = br#"[{"Config":"../c.json","RepoTags":[],"Layers":[]}]"#;
        let archive = raw_tar(&[("manifest.json", tar::EntryType::Regular, manifest, "")]);
        assert!(
            matches!(read(&archive, &blobs), Err(ArchiveError::UnsafePath { member }) if member == "../c.json")
        );
        // `./` prefixes and links that stay inside are fine.
        assert_eq!(
            clean_member_path("./a//b/./c").unwrap().as_deref(),
            Some("a/b/c")
        );
        assert_eq!(
            resolve_symlink("id/layer.tar", "../x.tar").unwrap(),
            "x.tar"
        );
    }

    #[test]
    fn tampered_blobs_are_refused_naming_the_member() {
        let (_src_dir, src) = store();
        let tar = layer_tar(&[("etc/hello", b"hi\n")]);
        let image = stored_image(&src, &[&tar], false, &["localhost/t:1"]);
        let other = layer_tar(&[("etc/hello", b"ho\n")]);

        let mut oci = Vec::new();
        write_oci_archive(&mut oci, std::slice::from_ref(&image), &src).unwrap();
        let layer_member = format!(
            "blobs/sha256/{}",
            image.layers[0].digest.trim_start_matches("sha256:")
        );
        let tampered = rewrite(&oci, |p| (p == layer_member).then(|| gzip(&other)));
        let (_dir, dst) = store();
        match read(&tampered, &dst) {
            Err(ArchiveError::DigestMismatch {
                member, expected, ..
            }) => {
                assert_eq!(member, layer_member);
                assert_eq!(expected, image.layers[0].digest);
            }
            other => panic!("{other:?}"),
        }

        let mut docker = Vec::new();
        write_docker_archive(&mut docker, std::slice::from_ref(&image), &src).unwrap();
        let layer_member = format!(
            "{}.tar",
            image.layers[0].diff_id.trim_start_matches("sha256:")
        );
        for replacement in [other.clone(), gzip(&other)] {
            let tampered = rewrite(&docker, |p| {
                (p == layer_member).then(|| replacement.clone())
            });
            match read(&tampered, &dst) {
                Err(ArchiveError::DigestMismatch {
                    member, expected, ..
                }) => {
                    assert_eq!(member, layer_member);
                    assert_eq!(expected, image.layers[0].diff_id);
                }
                other => panic!("{other:?}"),
            }
        }
        // A config whose name is its digest must hash to it.
        let config_member = format!(
            "{}.json",
            sha256_digest(&image.config).trim_start_matches("sha256:")
        );
        let tampered = rewrite(&docker, |p| {
            (p == config_member).then(|| [image.config.as_slice(), b" "].concat())
        });
        assert!(
            matches!(read(&tampered, &dst), Err(ArchiveError::DigestMismatch { member, .. }) if member == config_member)
        );
    }

    #[test]
    fn docker_layers_compressed_by_other_tools_are_decompressed() {
        let (_src_dir, src) = store();
        let tar = layer_tar(&[("etc/hello", b"hi\n")]);
        let image = stored_image(&src, &[&tar], false, &[]);
        let mut docker = Vec::new();
        write_docker_archive(&mut docker, std::slice::from_ref(&image), &src).unwrap();
        let layer_member = format!(
            "{}.tar",
            image.layers[0].diff_id.trim_start_matches("sha256:")
        );
        let compressed = rewrite(&docker, |p| (p == layer_member).then(|| gzip(&tar)));
        let (_dir, dst) = store();
        let loaded = read(&compressed, &dst).unwrap();
        assert_eq!(dst.read(&image.layers[0].diff_id).unwrap(), tar);
        assert_eq!(loaded.images[0].names, Vec::<String>::new());
    }

    #[test]
    fn missing_members_and_unknown_archives_are_reported() {
        let (_dir, blobs) = store();
        let archive = raw_tar(&[("hello.txt", tar::EntryType::Regular, b"hi", "")]);
        assert!(matches!(
            read(&archive, &blobs),
            Err(ArchiveError::UnknownFormat)
        ));
        let manifest = br#"[{"Config":"c.json","RepoTags":null,"Layers":[]}]"#;
        let archive = raw_tar(&[("manifest.json", tar::EntryType::Regular, manifest, "")]);
        match read(&archive, &blobs) {
            Err(ArchiveError::Missing { member, named_in }) => assert_eq!(
                (member.as_str(), named_in.as_str()),
                ("c.json", "manifest.json")
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read(b"not a tar at all, not at all", &blobs),
            Err(ArchiveError::Corrupt { .. } | ArchiveError::UnknownFormat)
        ));
    }

    #[test]
    fn truncated_archives_name_the_member_they_end_in() {
        let (_src_dir, src) = store();
        let big: Vec<u8> = (0..2 << 20).map(|i: u32| (i % 251) as u8).collect();
        for layer in [layer_tar(&[("small", b"s")]), layer_tar(&[("big", &big)])] {
            let image = stored_image(&src, &[&layer], false, &[]);
            let mut archive = Vec::new();
            write_docker_archive(&mut archive, std::slice::from_ref(&image), &src).unwrap();
            let layer_member = format!(
                "{}.tar",
                image.layers[0].diff_id.trim_start_matches("sha256:")
            );
            let cut = &archive[..512 + layer.len() / 2];
            let (_dir, dst) = store();
            match read(cut, &dst) {
                Err(ArchiveError::Read { member, .. }) => assert_eq!(member, layer_member),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn saving_refuses_layers_that_do_not_match_their_record() {
        let (_dir, blobs) = store();
        let tar = layer_tar(&[("a", b"a")]);
        let mut image = stored_image(&blobs, &[&tar], false, &[]);
        image.layers[0].diff_size = 0; // unknown: measured
        write_docker_archive(&mut Vec::new(), std::slice::from_ref(&image), &blobs).unwrap();
        image.layers[0].diff_size = 512;
        let err = write_docker_archive(&mut Vec::new(), std::slice::from_ref(&image), &blobs)
            .unwrap_err();
        assert!(matches!(err, ArchiveError::Write { .. }), "{err}");
        image.layers[0].diff_size = tar.len() as u64;
        image.layers[0].diff_id = sha256_digest(b"other");
        assert!(write_docker_archive(&mut Vec::new(), &[image], &blobs).is_err());
    }

    #[test]
    fn rootfs_layers_are_hashed_both_ways_in_one_pass() {
        let (_dir, blobs) = store();
        let tar = layer_tar(&[("bin/sh", b"#!"), ("etc/hosts", b"127.0.0.1 localhost\n")]);
        for input in [
            tar.clone(),
            gzip(&tar),
            zstd::encode_all(&tar[..], 3).unwrap(),
        ] {
            let layer = store_rootfs_layer(&mut &input[..], &blobs).unwrap();
            assert_eq!(layer.diff_id, sha256_digest(&tar));
            assert_eq!(layer.diff_size, tar.len() as u64);
            let blob = blobs.read(&layer.digest).unwrap();
            assert_eq!(blob.len() as u64, layer.size);
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&blob[..])
                .read_to_end(&mut plain)
                .unwrap();
            assert_eq!(plain, tar);
        }
    }

    #[test]
    fn import_config_and_manifest_describe_the_layer() {
        let layer = RootfsLayer {
            diff_id: sha256_digest(b"t"),
            diff_size: 1,
            digest: sha256_digest(b"g"),
            size: 2,
        };
        let changes = config_from_changes(&["CMD /bin/sh".into()]).unwrap();
        let platform = Platform::parse("linux/arm64/v8").unwrap();
        let config = import_config(
            &layer,
            changes,
            Some("hello"),
            "2024-01-01T00:00:00Z",
            &platform,
        );
        let parsed: ImageConfig = serde_json::from_slice(&config).unwrap();
        assert_eq!(parsed.rootfs.diff_ids, std::slice::from_ref(&layer.diff_id));
        assert_eq!(
            (parsed.architecture.as_str(), parsed.variant.as_deref()),
            ("arm64", Some("v8"))
        );
        assert_eq!(parsed.history[0].comment.as_deref(), Some("hello"));
        assert!(
            parsed.history[0]
                .created_by
                .as_deref()
                .unwrap()
                .starts_with("/bin/sh -c #(nop) ADD file:")
        );
        let manifest = import_manifest(&config, &layer);
        let parsed: Manifest = serde_json::from_slice(&manifest.bytes).unwrap();
        assert_eq!(parsed.config.digest, sha256_digest(&config));
        assert_eq!(
            (
                parsed.layers[0].digest.as_str(),
                parsed.layers[0].media_type.as_str()
            ),
            (layer.digest.as_str(), OCI_LAYER_GZIP)
        );
    }

    fn changes(list: &[&str]) -> Value {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        Value::Object(config_from_changes(&list).unwrap())
    }

    #[test]
    fn changes_follow_podman() {
        assert_eq!(changes(&["CMD [\"a\",\"b\"]"])["Cmd"], json!(["a", "b"]));
        assert_eq!(
            changes(&["CMD echo hi"])["Cmd"],
            json!(["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(
            changes(&["entrypoint top -b"])["Entrypoint"],
            json!(["/bin/sh", "-c", "top -b"])
        );
        assert_eq!(
            changes(&["ENTRYPOINT=[\"/x\"]"])["Entrypoint"],
            json!(["/x"])
        );
        assert_eq!(
            changes(&[
                "ENV A=b c",
                "ENV PATH /usr/bin:/bin",
                "ENV A=\"d\"",
                "ENV E="
            ])["Env"],
            json!(["PATH=/usr/bin:/bin", "A=d", "E="])
        );
        assert_eq!(
            changes(&["EXPOSE 80", "EXPOSE 53/UDP 8080/tcp"])["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8080/tcp": {}})
        );
        assert_eq!(
            changes(&["LABEL \"a\"=\"b=c\""])["Labels"],
            json!({"a": "b=c"})
        );
        assert_eq!(changes(&["USER 1000:1000"])["User"], json!("1000:1000"));
        assert_eq!(
            changes(&["VOLUME /a /b", "VOLUME [\"/c\"]"])["Volumes"],
            json!({"/a": {}, "/b": {}, "/c": {}})
        );
        assert_eq!(
            changes(&["WORKDIR /a", "WORKDIR b/../c", "WORKDIR ./d"])["WorkingDir"],
            json!("/a/c/d")
        );
        assert_eq!(changes(&["STOPSIGNAL SIGKILL"])["StopSignal"], json!("9"));
        assert_eq!(changes(&["STOPSIGNAL term"])["StopSignal"], json!("15"));
        assert_eq!(changes(&["STOPSIGNAL 2"])["StopSignal"], json!("2"));
    }

    #[test]
    fn bad_changes_name_what_is_wrong() {
        for (change, needle) in [
            ("FROM busybox", "unknown instruction FROM"),
            ("RUN true", "unknown instruction RUN"),
            ("CMD", "expected INSTRUCTION VALUE"),
            ("EXPOSE 0", "EXPOSE port"),
            ("EXPOSE 80/icmp", "EXPOSE protocol"),
            ("LABEL novalue", "KEY=VALUE"),
            ("STOPSIGNAL SIGNOPE", "not a signal"),
            ("WORKDIR  ", "expected INSTRUCTION VALUE"),
        ] {
            let err = config_from_changes(&[change.to_string()])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(needle) && err.contains(change.trim()),
                "{change}: {err}"
            );
        }
    }
}
