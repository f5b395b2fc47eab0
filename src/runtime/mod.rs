//! Running containers: the OCI runtime behind a trait, the per-container monitor, logs in the
//! CRI format, cgroup limits and stats, probes and exec.

pub mod builtin;
pub mod cgroups;
pub mod external;
pub mod health;
pub mod logs;
pub mod monitor;
pub mod probes;

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
    #[error("OCI runtime {runtime:?} not found: {detail}")]
    NotFound { runtime: String, detail: String },
    /// crun 1.8 refuses hybrid cgroup hosts whose cgroup2 mount has controllers.
    #[error(
        "{runtime} cannot run containers on this host's hybrid cgroup layout ({said}): cgroup v1 \
         controllers are mounted and {} on the cgroup v2 mount {}; fix the host by mounting \
         {} as v1 (as root: {fix}), or boot with a pure cgroup v1 or v2 layout, or use the \
         built-in runtime (leave out --runtime)",
        on_v2(.controllers),
        .unified.display(),
        if .controllers.len() == 1 { "it" } else { "them" }
    )]
    HybridCgroups {
        runtime: String,
        /// The runtime's own words.
        said: String,
        /// Controllers on the cgroup2 mount.
        controllers: Vec<String>,
        unified: PathBuf,
        /// Shell commands that move those controllers to v1 hierarchies.
        fix: String,
    },
}

fn on_v2(controllers: &[String]) -> String {
    match controllers {
        [] => "a controller sits".to_string(),
        [one] => format!("{one} sits"),
        many => format!("{} sit", many.join(", ")),
    }
}

/// `--runtime builtin` names the default runtime explicitly.
pub const BUILTIN: &str = "builtin";

/// The runtime a container runs on: the built-in one, or the external one its spec names
/// (`--runtime`). `state_root` is the built-in runtime's state directory,
/// `<runroot>/runtime`; an external runtime keeps its state beside it, in
/// `<runroot>/runtime-<name>`.
pub fn runtime_for(
    spec: &crate::spec::ContainerSpec,
    state_root: &Path,
) -> Result<Box<dyn OciRuntime>, RuntimeError> {
    match spec.runtime.as_deref() {
        None | Some(BUILTIN) => Ok(Box::new(builtin::BuiltinRuntime::new(state_root))),
        Some(runtime) => {
            let binary = external::find_binary(runtime)?;
            let root = state_root.parent().unwrap_or(state_root).join(format!(
                "runtime-{}",
                external::ExternalRuntime::name_of(&binary)
            ));
            Ok(Box::new(external::ExternalRuntime::with_binary(
                binary, root,
            )))
        }
    }
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
