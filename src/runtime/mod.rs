//! Running containers: the OCI runtime behind a trait, the per-container monitor, logs in the
//! CRI format, cgroup limits and stats, probes and exec.

pub mod builtin;
pub mod cgroups;
pub mod logs;
pub mod monitor;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{runtime}: {message}")]
    Failed { runtime: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How the container's standard streams are wired.
pub enum ContainerIo {
    /// Three descriptors become the container's 0, 1 and 2.
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A pseudo-terminal: the runtime sends its master over this (absolute) socket path.
    Terminal { console_socket: PathBuf },
}

/// An OCI runtime: creates, signals and deletes containers from a bundle. Implementations
/// must leave the container's init process a child of the caller, which reaps it.
pub trait OciRuntime {
    fn name(&self) -> &str;
    /// Create and start the container of `bundle`; returns the init's pid.
    fn run(&self, id: &str, bundle: &Path, io: ContainerIo) -> Result<i32, RuntimeError>;
    /// Signal the init (or, with `all`, every process of the container).
    fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<(), RuntimeError>;
    /// Remove the runtime's state and cgroup of a container whose processes are gone (or,
    /// with `force`, after killing them).
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
}
