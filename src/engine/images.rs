//! Image verbs: pull, push, list, inspect, tag, remove, prune, history, login and logout.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use oci_client::RegistryOperation;

use super::{Engine, EngineError, Result, block_on};
use crate::image::auth::{AuthFile, Credentials};
use crate::image::blobs::sha256_digest;
use crate::image::manifest::{
    ImageConfig, Index, Manifest, Platform, is_index, is_layer, is_manifest,
};
use crate::image::reference::{self, Reference};
use crate::image::registry::{ConnectOptions, RawManifest, RegistryError, Remote};
use crate::state::{ImageLayer, ImageRecord, images::write};

/// What happens during a pull or push, for progress display.
#[derive(Debug, Clone)]
pub enum TransferEvent<'a> {
    Trying(&'a str),
    BlobStart { digest: &'a str, size: u64 },
    BlobProgress { digest: &'a str, bytes: u64 },
    BlobDone { digest: &'a str, skipped: bool },
    WritingManifest,
}

/// Receives [`TransferEvent`]s; the CLI draws progress bars or prints lines.
pub trait TransferProgress: Sync {
    fn event(&self, event: TransferEvent<'_>);
}

/// Progress that shows nothing.
pub struct Silent;
impl TransferProgress for Silent {
    fn event(&self, _: TransferEvent<'_>) {}
}

/// Connection choices shared by pull, push and login.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `Some(false)` is `--tls-verify=false`; `None` follows registries.conf.
    pub tls_verify: Option<bool>,
    pub authfile: Option<PathBuf>,
    pub cert_dir: Option<PathBuf>,
    /// `--creds user:pass`, overriding the auth file.
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub reference: String,
    pub platform: Option<Platform>,
    pub registry: RegistryOptions,
}

#[derive(Debug, Clone)]
pub struct PullReport {
    pub image_id: String,
    pub name: String,
    pub digest: String,
}

#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    pub source: String,
    pub destination: Option<String>,
    pub registry: RegistryOptions,
}

#[derive(Debug, Clone)]
pub struct PushReport {
    pub destination: String,
    pub digest: String,
    pub blobs_pushed: usize,
    pub blobs_skipped: usize,
}

/// One row of `images`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageSummary {
    pub id: String,
    pub names: Vec<String>,
    pub repo_digests: Vec<String>,
    pub digest: String,
    pub created: Option<DateTime<Utc>>,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
    pub dangling: bool,
}

/// What `rmi`/`image prune` did.
#[derive(Debug, Default)]
pub struct RemoveReport {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
    /// Per-image failures; removal of the others went on.
    pub errors: Vec<EngineError>,
}

/// One row of `image history`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryEntry {
    pub id: String,
    pub created: Option<DateTime<Utc>>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
}

/// An image whose manifest, config and layer blobs are all in the blob store, ready to be
/// registered (by pull, load or import).
pub(crate) struct NewImage {
    pub manifest: RawManifest,
    pub config: Vec<u8>,
    pub names: Vec<String>,
    /// `(repository, manifest digest)` pairs to remember.
    pub repo_digests: Vec<(String, String)>,
}

pub(crate) fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn config_of(image: &ImageRecord) -> ImageConfig {
    serde_json::from_slice(&image.config).unwrap_or_default()
}

/// Names that are tags (`repo:tag`), leaving out digest names (`repo@digest`).
pub fn repo_tags(names: &[String]) -> Vec<String> {
    names.iter().filter(|n| !n.contains('@')).cloned().collect()
}

/// Glob with `*` and `?`, as Podman's `reference=` filter takes it.
fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

impl Engine {
    fn connect_options(
        &mut self,
        endpoint_insecure: bool,
        reference: &Reference,
        opts: &RegistryOptions,
    ) -> Result<ConnectOptions> {
        let credentials = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => AuthFile::locate(opts.authfile.as_deref()).credentials(reference)?,
        };
        Ok(ConnectOptions {
            insecure: match opts.tls_verify {
                Some(verify) => !verify,
                None => endpoint_insecure,
            },
            cert_dir: opts.cert_dir.clone(),
            credentials,
        })
    }

    /// Find a local image by ID, ID prefix, `sha256:` ID, name, short name or `name@digest`.
    pub fn find_image(&mut self, name: &str) -> Result<ImageRecord> {
        let not_found = || EngineError::ImageNotFound(format!("{name}: image not known"));
        let hexish = name.strip_prefix("sha256:").unwrap_or(name);
        if !hexish.is_empty() && hexish.len() <= 64 && hexish.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let ids = self
                .store
                .image_ids_with_prefix(&hexish.to_ascii_lowercase())?;
            match ids.len() {
                1 => return self.store.image(&ids[0])?.ok_or_else(not_found),
                0 => {}
                _ => {
                    return Err(EngineError::Conflict(format!(
                        "{name}: ambiguous image ID prefix ({} images match); give more characters",
                        ids.len()
                    )));
                }
            }
        }
        if name.starts_with("sha256:") {
            return Err(not_found());
        }
        let conf = self.registries()?.clone();
        for candidate in reference::local_candidates(name, &conf) {
            let found = match &candidate.digest {
                Some(digest) => self.store.image_by_digest(&candidate.name(), digest)?,
                None => self.store.image_by_name(&candidate.to_string())?,
            };
            if let Some(image) = found {
                return Ok(image);
            }
        }
        Err(not_found())
    }

    /// Whether an image can be found by [`Engine::find_image`].
    pub fn image_exists(&mut self, name: &str) -> Result<bool> {
        match self.find_image(name) {
            Ok(_) => Ok(true),
            Err(EngineError::ImageNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Pull an image (the first short-name candidate that resolves), verifying every blob.
    pub fn pull(
        &mut self,
        opts: &PullOptions,
        progress: &dyn TransferProgress,
    ) -> Result<PullReport> {
        let conf = self.registries()?.clone();
        let candidates = reference::pull_candidates(&opts.reference, &conf)?;
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let mut failures = Vec::new();
        for candidate in &candidates {
            for endpoint in conf.endpoints(candidate)? {
                progress.event(TransferEvent::Trying(&candidate.to_string()));
                let connect =
                    self.connect_options(endpoint.insecure, &endpoint.reference, &opts.registry)?;
                match self.pull_from(
                    candidate,
                    &endpoint.reference,
                    &connect,
                    &platform,
                    progress,
                ) {
                    Ok(report) => return Ok(report),
                    Err(EngineError::Pull(message)) => {
                        failures.push((endpoint.reference.to_string(), message))
                    }
                    Err(other) => return Err(other),
                }
            }
        }
        // One place tried: say what went wrong there. Several: say it for each.
        Err(EngineError::Pull(if failures.len() == 1 {
            format!("pulling {}: {}", failures[0].0, failures[0].1)
        } else {
            let detail = failures
                .iter()
                .map(|(place, message)| format!("{place}: {message}"))
                .collect::<Vec<_>>()
                .join("; ");
            format!(
                "pulling {}: no candidate resolved: {detail}",
                opts.reference
            )
        }))
    }

    fn pull_from(
        &mut self,
        name: &Reference,
        source: &Reference,
        connect: &ConnectOptions,
        platform: &Platform,
        progress: &dyn TransferProgress,
    ) -> Result<PullReport> {
        // Downloaded blobs belong to no committed image until `commit_image` is done, so
        // garbage collection (which takes this lock exclusively) must wait for the whole pull.
        // `commit_image` takes the lock again on another descriptor; shared flocks never
        // conflict with each other, so that cannot deadlock.
        let _collection_guard = self.layers.lock_shared()?;
        let blobs = self.blobs.clone();
        let pull_err = |e: RegistryError| EngineError::Pull(e.to_string());
        let (manifest, config, list_digest) = block_on(async {
            let remote = Remote::connect(source, RegistryOperation::Pull, connect)
                .await
                .map_err(pull_err)?;
            let top = remote.manifest(source).await.map_err(pull_err)?;
            let (manifest, list_digest) = if is_index(&top.media_type) {
                let index: Index = serde_json::from_slice(&top.bytes)
                    .map_err(|e| EngineError::Pull(format!("malformed image index: {e}")))?;
                let chosen = index.select(platform).ok_or_else(|| {
                    EngineError::Pull(format!(
                        "no image for platform {platform} (the index offers {})",
                        index.platforms().join(", ")
                    ))
                })?;
                let child = source.with_digest(&chosen.digest)?;
                (
                    remote.manifest(&child).await.map_err(pull_err)?,
                    Some(top.digest),
                )
            } else {
                (top, None)
            };
            if !is_manifest(&manifest.media_type) {
                return Err(EngineError::Pull(format!(
                    "unsupported manifest type {:?} (schema 1 and artifacts are not images)",
                    manifest.media_type
                )));
            }
            let parsed: Manifest = serde_json::from_slice(&manifest.bytes)
                .map_err(|e| EngineError::Pull(format!("malformed manifest: {e}")))?;
            for layer in &parsed.layers {
                if !is_layer(&layer.media_type) {
                    return Err(EngineError::Pull(format!(
                        "layer {} has unsupported media type {:?}",
                        layer.digest, layer.media_type
                    )));
                }
            }
            // The config is small: fetch it, then every missing layer blob at once.
            let config = if blobs.contains(&parsed.config.digest) {
                blobs.read(&parsed.config.digest)?
            } else {
                let writer = blobs.writer()?;
                let writer = remote
                    .blob(source, &parsed.config.digest, writer, |_| {})
                    .await
                    .map_err(pull_err)?;
                writer.commit(Some(&parsed.config.digest))?;
                blobs.read(&parsed.config.digest)?
            };
            let downloads = parsed.layers.iter().map(|layer| {
                let remote = &remote;
                let blobs = &blobs;
                async move {
                    if blobs.contains(&layer.digest) {
                        progress.event(TransferEvent::BlobDone {
                            digest: &layer.digest,
                            skipped: true,
                        });
                        return Ok(());
                    }
                    progress.event(TransferEvent::BlobStart {
                        digest: &layer.digest,
                        size: layer.size,
                    });
                    let writer = blobs.writer()?;
                    let writer = remote
                        .blob(source, &layer.digest, writer, |n| {
                            progress.event(TransferEvent::BlobProgress {
                                digest: &layer.digest,
                                bytes: n,
                            })
                        })
                        .await
                        .map_err(pull_err)?;
                    writer
                        .commit(Some(&layer.digest))
                        .map_err(|e| EngineError::Pull(e.to_string()))?;
                    progress.event(TransferEvent::BlobDone {
                        digest: &layer.digest,
                        skipped: false,
                    });
                    Ok::<_, EngineError>(())
                }
            });
            for result in futures_util::future::join_all(downloads).await {
                result?;
            }
            Ok::<_, EngineError>((manifest, config, list_digest))
        })?;
        progress.event(TransferEvent::WritingManifest);
        let mut repo_digests = vec![(name.name(), manifest.digest.clone())];
        if let Some(list) = list_digest {
            repo_digests.push((name.name(), list));
        }
        let digest = name
            .digest
            .clone()
            .unwrap_or_else(|| manifest.digest.clone());
        // A digest pull names the image `repo@digest`, as Podman does, so it is not dangling;
        // a tag pull names it `repo:tag`.
        let names = match (&name.digest, &name.tag) {
            (Some(digest), _) => vec![format!("{}@{digest}", name.name())],
            (None, Some(_)) => vec![name.to_string()],
            (None, None) => Vec::new(),
        };
        let image_id = self.commit_image(NewImage {
            manifest,
            config,
            names,
            repo_digests,
        })?;
        Ok(PullReport {
            image_id,
            name: name.to_string(),
            digest,
        })
    }

    /// Register an image whose blobs are all stored: unpack missing layers (in parallel), then
    /// record it and its names in one transaction. Layers cannot be collected meanwhile.
    pub(crate) fn commit_image(&mut self, image: NewImage) -> Result<String> {
        let manifest: Manifest = serde_json::from_slice(&image.manifest.bytes).map_err(|e| {
            EngineError::Invalid(format!("malformed manifest {}: {e}", image.manifest.digest))
        })?;
        let config: ImageConfig = serde_json::from_slice(&image.config).map_err(|e| {
            EngineError::Invalid(format!(
                "malformed image config {}: {e}",
                manifest.config.digest
            ))
        })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(EngineError::Invalid(format!(
                "image config {} lists {} layers but its manifest has {}",
                manifest.config.digest,
                config.rootfs.diff_ids.len(),
                manifest.layers.len()
            )));
        }
        // Taken before the blobs go in: garbage collection would remove them until the image
        // naming them is committed.
        let _guard = self.layers.lock_shared()?;
        let config_digest = self
            .blobs
            .put(&image.config, Some(&manifest.config.digest))?;
        self.blobs
            .put(&image.manifest.bytes, Some(&image.manifest.digest))?;
        let pairs: Vec<(&str, &str)> = config
            .rootfs
            .diff_ids
            .iter()
            .map(String::as_str)
            .zip(manifest.layers.iter().map(|l| l.digest.as_str()))
            .collect();
        let diff_sizes = self.ensure_layers(&pairs)?;
        let layers: Vec<ImageLayer> = manifest
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .zip(diff_sizes)
            .map(|((desc, diff_id), diff_size)| ImageLayer {
                diff_id: diff_id.clone(),
                digest: desc.digest.clone(),
                media_type: desc.media_type.clone(),
                size: desc.size,
                diff_size,
            })
            .collect();
        let id = config_digest.trim_start_matches("sha256:").to_string();
        let record = ImageRecord {
            id: id.clone(),
            digest: image.manifest.digest.clone(),
            media_type: image.manifest.media_type.clone(),
            manifest: image.manifest.bytes.clone(),
            config: image.config.clone(),
            created: config.created.clone(),
            size: layers.iter().map(|l| l.diff_size).sum(),
            added: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            layers,
            names: Vec::new(),
            repo_digests: Vec::new(),
        };
        self.store.write(|tx| -> Result<()> {
            write::put_image(tx, &record)?;
            for name in &image.names {
                write::set_name(tx, name, &id)?;
            }
            for (repository, digest) in &image.repo_digests {
                write::add_digest(tx, repository, digest, &id)?;
            }
            Ok(())
        })?;
        Ok(id)
    }

    /// Make sure every `(diff_id, blob digest)` layer is unpacked; returns each one's
    /// uncompressed size. Missing layers are unpacked in parallel.
    fn ensure_layers(&self, layers: &[(&str, &str)]) -> Result<Vec<u64>> {
        let known: BTreeMap<String, u64> = {
            let mut stmt = self
                .store
                .conn()
                .prepare_cached("SELECT diff_id, MAX(diff_size) FROM image_layers GROUP BY diff_id")
                .map_err(crate::state::StateError::from)?;
            stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(crate::state::StateError::from)?
            .collect::<rusqlite::Result<_>>()
            .map_err(crate::state::StateError::from)?
        };
        let (layer_store, blob_store) = (&self.layers, &self.blobs);
        std::thread::scope(|scope| {
            let handles: Vec<_> = layers
                .iter()
                .map(|&(diff_id, digest)| {
                    let known = known.get(diff_id).copied();
                    scope.spawn(move || -> Result<u64> {
                        if let Some(size) = known
                            && layer_store.contains(diff_id)
                        {
                            return Ok(size);
                        }
                        let blob = blob_store.open_blob(digest)?;
                        // Present without a size on record: unpacked by a concurrent pull, or by
                        // one killed before it committed. Measure it; never remove it under them.
                        if layer_store.contains(diff_id) {
                            let mut tar =
                                crate::image::unpack::decompress(std::io::BufReader::new(blob))
                                    .map_err(super::io_err(&layer_store.path(diff_id)?))?;
                            let size = std::io::copy(&mut tar, &mut std::io::sink())
                                .map_err(super::io_err(&layer_store.path(diff_id)?))?;
                            return Ok(size);
                        }
                        let verified = crate::image::blobs::VerifyingReader::new(
                            std::io::BufReader::with_capacity(1 << 20, blob),
                            digest,
                        );
                        let unpacked = layer_store.add(diff_id, verified)?;
                        Ok(unpacked.map(|u| u.diff_size).unwrap_or_default())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("layer unpack thread panicked"))
                .collect()
        })
    }

    /// Push a local image to a registry, skipping blobs the registry already has.
    pub fn push(
        &mut self,
        opts: &PushOptions,
        progress: &dyn TransferProgress,
    ) -> Result<PushReport> {
        let image = self.find_image(&opts.source)?;
        let destination = match &opts.destination {
            Some(dest) => Reference::parse(dest.strip_prefix("docker://").unwrap_or(dest))?,
            None => {
                let conf = self.registries()?.clone();
                reference::local_candidates(&opts.source, &conf)
                    .into_iter()
                    .find(|c| image.names.contains(&c.to_string()))
                    .ok_or_else(|| {
                        EngineError::Push(format!(
                            "{}: give a destination: the image has no name to push to",
                            opts.source
                        ))
                    })?
            }
        };
        let conf = self.registries()?.clone();
        let endpoint = conf
            .endpoints(&destination)?
            .pop()
            .expect("the primary location is always the last endpoint");
        let connect = self.connect_options(endpoint.insecure, &destination, &opts.registry)?;
        let target = endpoint.reference;
        let manifest = RawManifest {
            bytes: image.manifest.clone(),
            digest: image.digest.clone(),
            media_type: image.media_type.clone(),
        };
        let parsed: Manifest = serde_json::from_slice(&manifest.bytes).map_err(|e| {
            EngineError::Invalid(format!("stored manifest of {} is malformed: {e}", image.id))
        })?;
        let blobs = self.blobs.clone();
        let push_err = |e: RegistryError| EngineError::Push(format!("pushing {destination}: {e}"));
        let (pushed, skipped) = block_on(async {
            let remote = Remote::connect(&target, RegistryOperation::Push, &connect)
                .await
                .map_err(push_err)?;
            let mut pushed = 0;
            let mut skipped = 0;
            let descriptors = parsed.layers.iter().chain(std::iter::once(&parsed.config));
            for desc in descriptors {
                if remote
                    .blob_exists(&target, &desc.digest)
                    .await
                    .map_err(push_err)?
                {
                    progress.event(TransferEvent::BlobDone {
                        digest: &desc.digest,
                        skipped: true,
                    });
                    skipped += 1;
                    continue;
                }
                progress.event(TransferEvent::BlobStart {
                    digest: &desc.digest,
                    size: desc.size,
                });
                let path = blobs.path(&desc.digest)?;
                let data = tokio::fs::read(&path).await.map_err(super::io_err(&path))?;
                if sha256_digest(&data) != desc.digest {
                    return Err(EngineError::Push(format!(
                        "local blob {} is corrupt (its content no longer matches its digest)",
                        desc.digest
                    )));
                }
                remote
                    .push_blob(&target, data, &desc.digest)
                    .await
                    .map_err(push_err)?;
                progress.event(TransferEvent::BlobDone {
                    digest: &desc.digest,
                    skipped: false,
                });
                pushed += 1;
            }
            progress.event(TransferEvent::WritingManifest);
            remote
                .push_manifest(&target, &manifest)
                .await
                .map_err(push_err)?;
            Ok::<_, EngineError>((pushed, skipped))
        })?;
        self.store
            .write(|tx| write::add_digest(tx, &destination.name(), &image.digest, &image.id))?;
        Ok(PushReport {
            destination: destination.to_string(),
            digest: image.digest,
            blobs_pushed: pushed,
            blobs_skipped: skipped,
        })
    }

    /// Every image, filtered as `images --filter` asks.
    pub fn list_images(&mut self, filters: &[String]) -> Result<Vec<ImageSummary>> {
        let mut parsed = Vec::new();
        for filter in filters {
            let (key, value) = filter.split_once('=').ok_or_else(|| {
                EngineError::Invalid(format!("invalid filter {filter:?}: expected KEY=VALUE"))
            })?;
            match key {
                "reference" | "dangling" | "label" | "id" | "digest" | "before" | "since" => {}
                other => {
                    return Err(EngineError::Invalid(format!(
                        "invalid filter {other:?}: supported are reference, dangling, label, id, digest, before, since"
                    )));
                }
            }
            if key == "dangling" && !matches!(value, "true" | "false") {
                return Err(EngineError::Invalid(format!(
                    "invalid filter dangling={value:?}: expected true or false"
                )));
            }
            parsed.push((key.to_string(), value.to_string()));
        }
        let mut bounds = Vec::new();
        for (key, value) in &parsed {
            if key == "before" || key == "since" {
                let image = self.find_image(value)?;
                bounds.push((key.clone(), image.added));
            }
        }
        let images = self.store.images()?;
        let mut out = Vec::new();
        'images: for image in images {
            let config = config_of(&image);
            let summary = ImageSummary {
                id: image.id.clone(),
                dangling: image.names.is_empty(),
                names: image.names.clone(),
                repo_digests: image.repo_digests.clone(),
                digest: image.digest.clone(),
                created: parse_time(image.created.as_deref()),
                size: image.size,
                labels: config.labels(),
            };
            for (key, value) in &parsed {
                let keep = match key.as_str() {
                    "reference" => summary.names.iter().any(|n| {
                        let short = n.rsplit_once(':').map(|(repo, _)| repo).unwrap_or(n);
                        glob_match(value, n)
                            || glob_match(value, short)
                            || glob_match(&format!("*/{value}"), n)
                            || glob_match(&format!("*/{value}"), short)
                    }),
                    "dangling" => summary.dangling == (value == "true"),
                    "label" => match value.split_once('=') {
                        Some((k, v)) => summary.labels.get(k).is_some_and(|x| x == v),
                        None => summary.labels.contains_key(value),
                    },
                    "id" => summary.id.starts_with(value.trim_start_matches("sha256:")),
                    "digest" => {
                        summary.digest == *value
                            || summary
                                .repo_digests
                                .iter()
                                .any(|d| d.ends_with(value.as_str()))
                    }
                    _ => true,
                };
                if !keep {
                    continue 'images;
                }
            }
            for (key, added) in &bounds {
                let keep = if key == "before" {
                    image.added < *added
                } else {
                    image.added > *added
                };
                if !keep {
                    continue 'images;
                }
            }
            out.push(summary);
        }
        Ok(out)
    }

    /// Podman-shaped `image inspect` JSON.
    pub fn inspect_image(&mut self, name: &str) -> Result<serde_json::Value> {
        let image = self.find_image(name)?;
        let config = config_of(&image);
        let raw_config: serde_json::Value =
            serde_json::from_slice(&image.config).unwrap_or_default();
        let layer_dirs: Vec<String> = image
            .layers
            .iter()
            .rev()
            .filter_map(|l| self.layers.path(&l.diff_id).ok())
            .map(|p| p.display().to_string())
            .collect();
        let annotations = serde_json::from_slice::<Manifest>(&image.manifest)
            .ok()
            .and_then(|m| m.annotations)
            .unwrap_or_default();
        Ok(serde_json::json!({
            "Id": image.id,
            "Digest": image.digest,
            "RepoTags": repo_tags(&image.names),
            "RepoDigests": image.repo_digests,
            "Parent": "",
            "Comment": raw_config.get("comment").cloned().unwrap_or(serde_json::Value::String(String::new())),
            "Created": image.created,
            "Config": raw_config.get("config").cloned().unwrap_or_else(|| serde_json::json!({})),
            "Version": raw_config.get("docker_version").cloned().unwrap_or(serde_json::Value::String(String::new())),
            "Author": config.author.clone().unwrap_or_default(),
            "Architecture": config.architecture,
            "Os": config.os,
            "Variant": config.variant,
            "Size": image.size,
            "VirtualSize": image.size,
            "GraphDriver": {
                "Name": "overlay",
                "Data": { "LowerDir": layer_dirs.join(":") }
            },
            "RootFS": {
                "Type": "layers",
                "Layers": image.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
            "Labels": config.labels(),
            "Annotations": annotations,
            "ManifestType": image.media_type,
            "User": raw_config.pointer("/config/User").cloned().unwrap_or(serde_json::Value::String(String::new())),
            "History": raw_config.get("history").cloned().unwrap_or_else(|| serde_json::json!([])),
            "NamesHistory": image.names,
        }))
    }

    /// Give an image more names. Short target names go under `localhost/`, as Podman does.
    pub fn tag_image(&mut self, source: &str, targets: &[String]) -> Result<()> {
        let image = self.find_image(source)?;
        let mut names = Vec::new();
        for target in targets {
            let r = if reference::is_short_name(target) {
                Reference::parse(&format!("localhost/{target}"))?
            } else {
                Reference::parse(target)?
            };
            if r.digest.is_some() {
                return Err(EngineError::Invalid(format!(
                    "{target}: a tag cannot contain a digest"
                )));
            }
            names.push(r.to_string());
        }
        self.store.write(|tx| -> Result<()> {
            if !write::image_exists(tx, &image.id)? {
                return Err(EngineError::ImageNotFound(format!(
                    "{source}: image not known"
                )));
            }
            for name in &names {
                write::set_name(tx, name, &image.id)?;
            }
            Ok(())
        })
    }

    /// `rmi`: untag names, delete images left without names, then collect unused layers.
    /// An image a container uses is refused; with `force`, those containers are removed
    /// first (as Podman's `rmi -f`), and an image with several names loses them all.
    /// Keeps going past failures, which land in the report.
    pub fn remove_images(
        &mut self,
        names: &[String],
        force: bool,
        all: bool,
    ) -> Result<RemoveReport> {
        let mut report = RemoveReport::default();
        let targets: Vec<String> = if all {
            self.store.images()?.into_iter().map(|i| i.id).collect()
        } else {
            names.to_vec()
        };
        for target in &targets {
            if let Err(e) = self.remove_one(target, force, force || all, &mut report) {
                report.errors.push(e);
            }
        }
        self.collect_garbage()?;
        Ok(report)
    }

    /// Remove one image (or untag one of its names). `remove_users` removes the containers
    /// using an image that is to be deleted; `every_name` deletes an image named by ID
    /// although it has several names.
    fn remove_one(
        &mut self,
        target: &str,
        remove_users: bool,
        every_name: bool,
        report: &mut RemoveReport,
    ) -> Result<()> {
        let image = self.find_image(target)?;
        // Naming an image by one of its names untags that name; by ID, removes the image.
        let by_name = image.names.iter().find(|n| {
            let conf = self.registries.clone().unwrap_or_default();
            reference::local_candidates(target, &conf)
                .iter()
                .any(|c| &c.to_string() == *n)
        });
        let by_name = by_name.cloned();
        let only_untags = by_name.is_some() && image.names.len() > 1;
        if !only_untags {
            let users = self.store.containers_using_image(&image.id)?;
            if !users.is_empty() {
                if !remove_users {
                    return Err(image_in_use(&image.id, &users));
                }
                for user in &users {
                    match self.remove_container(user, true, false) {
                        Ok(_) | Err(EngineError::ContainerNotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        self.store.write(|tx| -> Result<()> {
            // Decide on the image as it is now: another command may have removed it, or moved
            // or added names, since it was looked up.
            let names = write::names_of(tx, &image.id)?;
            let gone = !write::image_exists(tx, &image.id)?
                || by_name.as_ref().is_some_and(|n| !names.contains(n));
            if gone {
                return Err(EngineError::ImageNotFound(format!(
                    "{target}: image not known"
                )));
            }
            match by_name {
                Some(name) if names.len() > 1 => {
                    write::remove_name(tx, &name)?;
                    report.untagged.push(name);
                }
                _ => {
                    if names.len() > 1 && !every_name {
                        return Err(EngineError::Conflict(format!(
                            "unable to delete image {}: it is referred to by {} names ({}); remove them one by one or use --force",
                            &image.id[..12.min(image.id.len())],
                            names.len(),
                            names.join(", ")
                        )));
                    }
                    delete_image(tx, &image.id)?;
                    report.untagged.extend(names);
                    report.deleted.push(image.id.clone());
                }
            }
            Ok(())
        })
    }

    /// `image prune`: remove dangling images (all unused ones with `all`). Images a
    /// container uses are kept, dangling or not.
    pub fn prune_images(&mut self, all: bool) -> Result<RemoveReport> {
        let mut report = RemoveReport::default();
        let mut victims = Vec::new();
        for image in self.store.images()? {
            if (all || image.names.is_empty())
                && self.store.containers_using_image(&image.id)?.is_empty()
            {
                victims.push(image);
            }
        }
        // One transaction per image: a container created meanwhile keeps its image (the
        // database refuses to delete it) without undoing the rest of the prune.
        for image in &victims {
            let removed = self.store.write(|tx| -> Result<Vec<String>> {
                if !write::image_exists(tx, &image.id)? {
                    return Ok(Vec::new());
                }
                let names = write::names_of(tx, &image.id)?;
                delete_image(tx, &image.id)?;
                Ok(names)
            });
            match removed {
                Ok(names) => {
                    report.untagged.extend(names);
                    report.deleted.push(image.id.clone());
                }
                Err(EngineError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.collect_garbage()?;
        Ok(report)
    }

    /// Remove layers and blobs no image uses. Holds the layer lock exclusively so a
    /// concurrent pull never loses a layer between unpacking and committing its image.
    pub fn collect_garbage(&mut self) -> Result<()> {
        let _guard = self.layers.lock_exclusive()?;
        let used_layers: HashSet<String> = self.store.used_diff_ids()?.into_iter().collect();
        for diff_id in self.layers.diff_ids()? {
            if !used_layers.contains(&diff_id) {
                self.layers.remove(&diff_id)?;
            }
        }
        let mut used_blobs: HashSet<String> = self.store.used_blob_digests()?.into_iter().collect();
        for image in self.store.images()? {
            used_blobs.insert(format!("sha256:{}", image.id));
            used_blobs.insert(image.digest.clone());
        }
        for digest in self.blobs.digests()? {
            if !used_blobs.contains(&digest) {
                self.blobs.remove(&digest)?;
            }
        }
        Ok(())
    }

    /// `image history`: newest first, as Podman prints it.
    pub fn image_history(&mut self, name: &str) -> Result<Vec<HistoryEntry>> {
        let image = self.find_image(name)?;
        let config = config_of(&image);
        let mut layer_sizes = image.layers.iter().map(|l| l.diff_size);
        let mut entries: Vec<HistoryEntry> = config
            .history
            .iter()
            .map(|h| HistoryEntry {
                id: "<missing>".into(),
                created: parse_time(h.created.as_deref()),
                created_by: h.created_by.clone().unwrap_or_default(),
                size: if h.empty_layer {
                    0
                } else {
                    layer_sizes.next().unwrap_or(0)
                },
                comment: h.comment.clone().unwrap_or_default(),
            })
            .collect();
        // Images without history (imports, some builders) still have layers to show.
        if entries.is_empty() {
            entries = image
                .layers
                .iter()
                .map(|l| HistoryEntry {
                    id: "<missing>".into(),
                    created: parse_time(image.created.as_deref()),
                    created_by: String::new(),
                    size: l.diff_size,
                    comment: String::new(),
                })
                .collect();
        }
        entries.reverse();
        if let Some(first) = entries.first_mut() {
            first.id = image.id.clone();
        }
        Ok(entries)
    }

    /// Check credentials against a registry and store them in the auth file.
    pub fn login(&mut self, registry: &str, opts: &RegistryOptions) -> Result<PathBuf> {
        let credentials = opts
            .credentials
            .clone()
            .ok_or_else(|| EngineError::Invalid("login needs a username and a password".into()))?;
        let key = crate::image::auth::login_key(registry)?;
        let host = key.split('/').next().unwrap_or(&key);
        let probe = Reference::parse(&format!("{host}/oxpod-login-probe:latest"))?;
        let conf = self.registries()?.clone();
        let endpoint = conf.endpoints(&probe)?.pop().expect("primary endpoint");
        let mut connect = self.connect_options(endpoint.insecure, &probe, opts)?;
        connect.credentials = Some(credentials.clone());
        block_on(async {
            let remote = Remote::connect(&probe, RegistryOperation::Pull, &connect).await?;
            // Any answer but "unauthorized" means the registry accepted the credentials.
            match remote.manifest(&probe).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| EngineError::Pull(format!("login to {registry}: {e}")))?;
        let file = AuthFile::locate(opts.authfile.as_deref());
        file.store(&key, &credentials)?;
        Ok(file.path().to_path_buf())
    }

    /// Forget stored credentials for one registry (or all).
    pub fn logout(
        &mut self,
        registry: Option<&str>,
        authfile: Option<&std::path::Path>,
    ) -> Result<bool> {
        let file = AuthFile::locate(authfile);
        match registry {
            Some(registry) => Ok(file.remove(&crate::image::auth::login_key(registry)?)?),
            None => {
                file.remove_all()?;
                Ok(true)
            }
        }
    }
}

/// The error for deleting an image containers use: Podman's exit status 2 (a conflict).
fn image_in_use(image_id: &str, users: &[String]) -> EngineError {
    EngineError::Conflict(format!(
        "image {} is in use by {} {}: remove {} first, or use --force to remove {} too",
        &image_id[..12.min(image_id.len())],
        if users.len() == 1 {
            "container"
        } else {
            "containers"
        },
        users.join(", "),
        if users.len() == 1 { "it" } else { "them" },
        if users.len() == 1 { "it" } else { "them" },
    ))
}

/// Delete an image row. The database refuses while a container refers to it (one may have
/// been created since the caller checked); that is the in-use conflict, not a database error.
fn delete_image(tx: &rusqlite::Transaction, image_id: &str) -> Result<()> {
    match write::remove_image(tx, image_id) {
        Ok(_) => Ok(()),
        Err(crate::state::StateError::Sql(rusqlite::Error::SqliteFailure(e, _)))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(EngineError::Conflict(format!(
                "image {} is in use by a container created meanwhile",
                &image_id[..12.min(image_id.len())]
            )))
        }
        Err(e) => Err(e.into()),
    }
}

impl Engine {
    /// What an image supplies to a container by default: the `config` object of its config
    /// (`Entrypoint`, `Cmd`, `Env`, `WorkingDir`, `User`, `ExposedPorts`); `null` when unset.
    pub fn image_defaults(&mut self, name_or_id: &str) -> Result<serde_json::Value> {
        let image = self.find_image(name_or_id)?;
        Ok(config_of(&image).config.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_globs() {
        assert!(glob_match(
            "docker.io/library/*",
            "docker.io/library/busybox:latest"
        ));
        assert!(glob_match("busy?ox", "busybox"));
        assert!(!glob_match("alpine*", "busybox"));
    }
}
