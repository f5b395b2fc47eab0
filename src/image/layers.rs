//! Unpacked layers, `layers/<diff-id hex>/`: each layer is unpacked once and shared by every
//! image and container that uses it, as an overlay lower directory.
//!
//! A layer is unpacked into a temporary directory and renamed into place only once its
//! diff-id checked out, so a crash or a kill mid-unpack never leaves a half layer under a
//! real name. Removal of unused layers holds `layers.lock` exclusively; adding holds it shared.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::blobs::digest_hex;
use super::unpack::{self, UnpackError, UnpackOptions};
use crate::sys::fs::{is_stale_temp, remove_all, temp_sibling};
use crate::sys::lock::{self, FileLock};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {expected} is corrupt: its uncompressed content hashes to {actual}")]
    DiffIdMismatch { expected: String, actual: String },
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error(transparent)]
    Digest(#[from] super::blobs::BlobError),
    #[error("layer store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayerError + '_ {
    move |source| LayerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `<root>/layers/`.
#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
    rootless: bool,
}

/// What unpacking a layer found.
#[derive(Debug, Clone, Copy)]
pub struct UnpackedLayer {
    /// Bytes of the uncompressed tar stream.
    pub diff_size: u64,
}

impl LayerStore {
    pub fn open(root: &Path, rootless: bool) -> Result<LayerStore, LayerError> {
        let dir = root.join("layers");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(LayerStore { dir, rootless })
    }

    pub fn path(&self, diff_id: &str) -> Result<PathBuf, LayerError> {
        Ok(self.dir.join(digest_hex(diff_id)?))
    }

    pub fn contains(&self, diff_id: &str) -> bool {
        self.path(diff_id).map(|p| p.is_dir()).unwrap_or(false)
    }

    /// Held while blobs and layers are being added and until the image naming them is
    /// committed; garbage collection of both holds it exclusively.
    pub fn lock_shared(&self) -> Result<FileLock, LayerError> {
        let path = self.dir.join("layers.lock");
        lock::shared(&path).map_err(io_err(&path))
    }

    /// Held while removing layers no image uses.
    pub fn lock_exclusive(&self) -> Result<FileLock, LayerError> {
        let path = self.dir.join("layers.lock");
        lock::exclusive(&path).map_err(io_err(&path))
    }

    /// Unpack a (possibly compressed) layer stream as `diff_id`, unless it is already here.
    /// Returns `None` when the layer was already present.
    pub fn add(
        &self,
        diff_id: &str,
        compressed: impl io::Read + Send + 'static,
    ) -> Result<Option<UnpackedLayer>, LayerError> {
        let final_path = self.path(diff_id)?;
        if final_path.is_dir() {
            return Ok(None);
        }
        let tmp = temp_sibling(&final_path);
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        let result = (|| {
            let opts = UnpackOptions {
                rootless: self.rootless,
            };
            let (actual, stats) = unpack::unpack_layer_digest(compressed, &tmp, &opts)?;
            if actual != diff_id {
                return Err(LayerError::DiffIdMismatch {
                    expected: diff_id.to_string(),
                    actual,
                });
            }
            match fs::rename(&tmp, &final_path) {
                Ok(()) => {}
                // Another pull unpacked the same layer first; theirs is as good as ours.
                Err(e) if final_path.is_dir() => {
                    tracing::debug!("layer {diff_id} appeared concurrently: {e}");
                    remove_all(&tmp).map_err(io_err(&tmp))?;
                }
                Err(e) => return Err(io_err(&final_path)(e)),
            }
            Ok(UnpackedLayer {
                diff_size: stats.bytes,
            })
        })();
        if result.is_err() {
            let _ = remove_all(&tmp);
        }
        result.map(Some)
    }

    /// Remove a layer directory; absent is fine.
    pub fn remove(&self, diff_id: &str) -> Result<(), LayerError> {
        let path = self.path(diff_id)?;
        remove_all(&path).map_err(io_err(&path))
    }

    /// Diff IDs of every layer present, removing leftovers of killed unpacks on the way.
    pub fn diff_ids(&self) -> Result<Vec<String>, LayerError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_stale_temp(&name) {
                let _ = remove_all(&entry.path());
            } else if !name.starts_with('.') && entry.path().is_dir() {
                out.push(format!("sha256:{name}"));
            }
        }
        Ok(out)
    }
}
