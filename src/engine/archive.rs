//! `save`, `load` and `import`.

use std::io::{Read, Write};

use super::{Engine, EngineError, Result};

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

impl Engine {
    /// Write the named images as one archive.
    pub fn save_images(&mut self, opts: &SaveOptions, out: &mut dyn Write) -> Result<()> {
        let _ = (opts, out);
        Err(EngineError::Invalid("save is not available yet".into()))
    }

    /// Read an archive (format detected from its content) and register its images.
    pub fn load_images(&mut self, input: &mut dyn Read) -> Result<LoadReport> {
        let _ = input;
        Err(EngineError::Invalid("load is not available yet".into()))
    }

    /// Make a one-layer image from a root file system tarball; returns the image ID.
    pub fn import_image(&mut self, input: &mut dyn Read, opts: &ImportOptions) -> Result<String> {
        let _ = (input, opts);
        Err(EngineError::Invalid("import is not available yet".into()))
    }
}
