//! The engine: the one API every front-end (the CLI, later the API server and `kube`) calls.
//! Options in, reports out; it owns the state store and the on-disk layout of a root.

mod archive;
mod attach;
mod containers;
mod images;
mod info;
mod kube_objects;
mod lifecycle;
mod monitor;
mod networks;
mod ops;
mod pods;
mod sandbox;
mod services;
mod supervisors;
mod volumes;

pub use archive::*;
pub use containers::*;
pub use images::*;
pub use info::*;
pub use kube_objects::*;
pub use monitor::*;
pub use networks::*;
pub use ops::*;
pub use pods::*;
pub use services::*;
pub use supervisors::*;
pub use volumes::*;

use std::path::{Path, PathBuf};

// Types of the layers below that are part of the engine's API, so front-ends name only
// `engine` items.
pub use crate::image::auth::Credentials;
pub use crate::image::manifest::Platform;
pub use crate::image::registries::RegistriesConf;
pub use crate::network::ports::{PortMapping, Protocol, parse_publish, publish_all};
pub use crate::runtime::logs::{LogOptions, parse_time_filter};
pub use crate::state::ContainerStatus;

use crate::image::blobs::{BlobError, BlobStore};
use crate::image::layers::{LayerError, LayerStore};
use crate::image::registries::RegistriesError;
use crate::state::{StateError, Store};

/// Rootful or rootless: where state lives and how IDs are mapped follow from this alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Rootful,
    Rootless,
}

impl Mode {
    pub fn current() -> Mode {
        if nix::unistd::geteuid().is_root() {
            Mode::Rootful
        } else {
            Mode::Rootless
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Rootful => "rootful",
            Mode::Rootless => "rootless",
        }
    }
}

/// Where a root's persistent state and runtime state live.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub runroot: PathBuf,
}

impl Paths {
    /// The defaults of DESIGN.md for `mode`, overridden by the given paths.
    pub fn resolve(mode: Mode, root: Option<PathBuf>, runroot: Option<PathBuf>) -> Paths {
        let home = || {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"))
        };
        let root = root.unwrap_or_else(|| match mode {
            Mode::Rootful => PathBuf::from("/var/lib/oxpod"),
            Mode::Rootless => std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home().join(".local/share"))
                .join("oxpod"),
        });
        let runroot = runroot.unwrap_or_else(|| match mode {
            Mode::Rootful => PathBuf::from("/run/oxpod"),
            Mode::Rootless => std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("oxpod-{}", nix::unistd::geteuid()))
                })
                .join("oxpod"),
        });
        Paths { root, runroot }
    }
}

/// Everything an engine call can fail with; what the CLI renders.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EngineError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Registries(#[from] RegistriesError),
    #[error(transparent)]
    Reference(#[from] crate::image::reference::ReferenceError),
    #[error(transparent)]
    Auth(#[from] crate::image::auth::AuthError),
    #[error(transparent)]
    Archive(#[from] crate::image::archive::ArchiveError),
    #[error("{0}")]
    #[diagnostic(help("`oxpod images` lists the images in this store"))]
    ImageNotFound(String),
    #[error("{0}")]
    #[diagnostic(help("`oxpod ps -a` lists the containers in this store"))]
    ContainerNotFound(String),
    #[error("{0}")]
    VolumeNotFound(String),
    #[error("{0}")]
    #[diagnostic(help("`oxpod network ls` lists the networks in this store"))]
    NetworkNotFound(String),
    #[error("{0}")]
    #[diagnostic(help("`oxpod pod ps` lists the pods in this store"))]
    PodNotFound(String),
    /// The container's command exists but cannot be executed (exit 126, as Podman).
    #[error("{0}")]
    NotExecutable(String),
    /// The container's command does not exist (exit 127, as Podman).
    #[error("{0}")]
    CommandNotFound(String),
    #[error("{0}")]
    Pull(String),
    #[error("{0}")]
    Push(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Options that select a root.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    pub root: Option<PathBuf>,
    pub runroot: Option<PathBuf>,
}

/// An open root: the state store plus the stores on disk beside it.
pub struct Engine {
    pub(crate) mode: Mode,
    pub(crate) paths: Paths,
    pub(crate) store: Store,
    pub(crate) blobs: BlobStore,
    pub(crate) layers: LayerStore,
    registries: Option<RegistriesConf>,
}

impl Engine {
    /// Open (creating if needed) the root chosen by `options`.
    pub fn open(options: EngineOptions) -> Result<Engine> {
        let mode = Mode::current();
        let paths = Paths::resolve(mode, options.root, options.runroot);
        for dir in [&paths.root, &paths.runroot] {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let store = Store::open(&paths.root.join("state.db"))?;
        let blobs = BlobStore::open(&paths.root)?;
        let layers = LayerStore::open(&paths.root, mode == Mode::Rootless)?;
        Ok(Engine {
            mode,
            paths,
            store,
            blobs,
            layers,
            registries: None,
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// registries.conf, read on first use only: most commands never need it.
    pub(crate) fn registries(&mut self) -> Result<&RegistriesConf> {
        if self.registries.is_none() {
            self.registries = Some(RegistriesConf::load()?);
        }
        Ok(self.registries.as_ref().expect("just loaded"))
    }
}

/// A current-thread tokio runtime for one I/O-bound call: lifecycle code stays synchronous.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime can always be built")
        .block_on(future)
}
