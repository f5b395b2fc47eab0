//! `save`, `load` and `import`.

use std::io::{Read, Write};

use chrono::Utc;

use super::images::NewImage;
use super::{Engine, EngineError, Result};
use crate::image::archive::{self, SaveImage, SaveLayer};
use crate::image::manifest::Platform;
use crate::image::reference::{self, Reference};
use crate::image::registry::RawManifest;
use crate::state::ImageRecord;

/// Archive formats `save` writes and `load` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchiveFormat {
    /// Docker's `docker save` tarball (the default, as in Podman).
    DockerArchive,
    /// An OCI image layout in a tarball.
    OciArchive,
}

#[derive(Debug, Clone)]
pub struct SaveOptions {
    pub images: Vec<String>,
    pub format: ArchiveFormat,
}

#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Names (or IDs of unnamed images) loaded.
    pub loaded: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Name for the new image; unnamed when absent.
    pub reference: Option<String>,
    /// Dockerfile-style instructions: `CMD ["sh"]`, `ENV A=b`, `WORKDIR /x`, ...
    pub changes: Vec<String>,
    /// Comment recorded in the image history.
    pub message: Option<String>,
}

fn save_image(image: &ImageRecord) -> SaveImage {
    SaveImage {
        manifest: RawManifest {
            bytes: image.manifest.clone(),
            digest: image.digest.clone(),
            media_type: image.media_type.clone(),
        },
        config: image.config.clone(),
        layers: image
            .layers
            .iter()
            .map(|l| SaveLayer {
                diff_id: l.diff_id.clone(),
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                diff_size: l.diff_size,
            })
            .collect(),
        names: Vec::new(),
    }
}

/// `(repository, manifest digest)` for each name, as Podman lists `RepoDigests`.
fn repo_digests(names: &[String], digest: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for name in names {
        if let Ok(r) = Reference::parse(name) {
            let pair = (r.name(), digest.to_string());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
    }
    out
}

impl Engine {
    /// Write the named images as one archive.
    ///
    /// As in Podman, an image named by one of its names is saved under that name only, and
    /// one named by ID is saved unnamed; naming one image several times merges the names.
    /// Several images may go into either format (Podman allows only one in an oci-archive).
    pub fn save_images(&mut self, opts: &SaveOptions, out: &mut dyn Write) -> Result<()> {
        if opts.images.is_empty() {
            return Err(EngineError::Invalid("no image specified for saving".into()));
        }
        let mut images: Vec<(String, SaveImage)> = Vec::new();
        for query in &opts.images {
            let record = self.find_image(query)?;
            let name = self.saved_name(query, &record)?;
            let i = match images.iter().position(|(id, _)| *id == record.id) {
                Some(i) => i,
                None => {
                    images.push((record.id.clone(), save_image(&record)));
                    images.len() - 1
                }
            };
            let names = &mut images[i].1.names;
            if let Some(name) = name
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
        let images: Vec<SaveImage> = images.into_iter().map(|(_, image)| image).collect();
        // Blobs must not be collected while they are being read.
        let _guard = self.layers.lock_shared()?;
        match opts.format {
            ArchiveFormat::DockerArchive => {
                archive::write_docker_archive(out, &images, &self.blobs)?
            }
            ArchiveFormat::OciArchive => archive::write_oci_archive(out, &images, &self.blobs)?,
        }
        Ok(())
    }

    /// The name `query` found `image` by, when it was a name and not an ID.
    fn saved_name(&mut self, query: &str, image: &ImageRecord) -> Result<Option<String>> {
        let conf = self.registries()?.clone();
        Ok(reference::local_candidates(query, &conf)
            .into_iter()
            .filter(|c| c.digest.is_none())
            .map(|c| c.to_string())
            .find(|n| image.names.contains(n)))
    }

    /// Write the archive to `path`: beside it under a temporary name, synced, then renamed,
    /// so a failed save leaves no partial file.
    pub fn save_images_to_file(
        &mut self,
        opts: &SaveOptions,
        path: &std::path::Path,
    ) -> Result<()> {
        let tmp = crate::sys::fs::temp_sibling(path);
        let result = (|| -> Result<()> {
            let file = std::fs::File::create(&tmp).map_err(super::io_err(&tmp))?;
            let mut writer = std::io::BufWriter::new(file);
            self.save_images(opts, &mut writer)?;
            let file = writer
                .into_inner()
                .map_err(|e| super::io_err(path)(e.into_error()))?;
            file.sync_all().map_err(super::io_err(path))?;
            std::fs::rename(&tmp, path).map_err(super::io_err(path))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Read an archive (format detected from its content) and register its images.
    ///
    /// Every blob of every image is stored and verified before any image is registered, so a
    /// corrupt or truncated archive registers nothing; blobs it left behind are collected by
    /// [`Engine::collect_garbage`].
    pub fn load_images(&mut self, input: &mut dyn Read) -> Result<LoadReport> {
        // Held from the first blob written until the last image is committed, so a
        // concurrent garbage collection cannot take blobs no image names yet.
        let _guard = self.layers.lock_shared()?;
        let loaded = archive::read_archive(input, &self.blobs)?;
        if loaded.images.is_empty() {
            return Err(EngineError::Invalid("the archive holds no image".into()));
        }
        let mut report = LoadReport::default();
        for image in loaded.images {
            let repo_digests = repo_digests(&image.names, &image.manifest.digest);
            let names = image.names.clone();
            let id = self.commit_image(NewImage {
                manifest: image.manifest,
                config: image.config,
                names: image.names,
                repo_digests,
            })?;
            if names.is_empty() {
                report.loaded.push(format!("sha256:{id}"));
            } else {
                report.loaded.extend(names);
            }
        }
        Ok(report)
    }

    /// Make a one-layer image from a root file system tarball; returns the image ID.
    pub fn import_image(&mut self, input: &mut dyn Read, opts: &ImportOptions) -> Result<String> {
        // Everything that can be refused is checked before the tarball is read.
        let names = match &opts.reference {
            Some(name) => vec![import_name(name)?],
            None => Vec::new(),
        };
        let config = archive::config_from_changes(&opts.changes)?;
        let _guard = self.layers.lock_shared()?;
        let layer = archive::store_rootfs_layer(input, &self.blobs)?;
        let created = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let config = archive::import_config(
            &layer,
            config,
            opts.message.as_deref(),
            &created,
            &Platform::host(),
        );
        let manifest = archive::import_manifest(&config, &layer);
        let repo_digests = repo_digests(&names, &manifest.digest);
        self.commit_image(NewImage {
            manifest,
            config,
            names,
            repo_digests,
        })
    }
}

/// Import names a short name `localhost/NAME:latest`, as Podman does.
fn import_name(name: &str) -> Result<String> {
    let parsed = if reference::is_short_name(name) {
        Reference::parse(&format!("{}/{name}", reference::LOCALHOST))?
    } else {
        Reference::parse(name)?
    };
    if parsed.digest.is_some() {
        return Err(EngineError::Invalid(format!(
            "{name}: an image name for import cannot contain a digest"
        )));
    }
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_names_follow_podman() {
        assert_eq!(import_name("t").unwrap(), "localhost/t:latest");
        assert_eq!(import_name("a/b:1").unwrap(), "localhost/a/b:1");
        assert_eq!(import_name("quay.io/x/y").unwrap(), "quay.io/x/y:latest");
        assert!(import_name(&format!("t@sha256:{}", "a".repeat(64))).is_err());
    }

    #[test]
    fn repo_digests_are_per_repository() {
        let names = vec![
            "localhost/a:1".to_string(),
            "localhost/a:2".to_string(),
            "localhost/b:1".to_string(),
        ];
        assert_eq!(
            repo_digests(&names, "sha256:x"),
            vec![
                ("localhost/a".to_string(), "sha256:x".to_string()),
                ("localhost/b".to_string(), "sha256:x".to_string())
            ]
        );
    }
}
