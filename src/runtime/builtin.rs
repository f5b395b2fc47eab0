//! The built-in runtime: youki's `libcontainer`, called in the monitor process.
//!
//! libcontainer forks an intermediate process that clones the container init with
//! `CLONE_PARENT`, so the init is the caller's child and the monitor reaps it. It must be
//! called from a single-threaded process (it uses raw `clone3`, which skips fork handlers).

use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::signal::Signal;

use super::{ContainerIo, OciRuntime, RuntimeError};

/// libcontainer keeps its own state per container under `state_root`.
pub struct BuiltinRuntime {
    state_root: PathBuf,
}

impl BuiltinRuntime {
    pub fn new(state_root: &Path) -> BuiltinRuntime {
        BuiltinRuntime {
            state_root: state_root.to_path_buf(),
        }
    }

    fn failed(&self, context: &str, e: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Failed {
            runtime: "builtin runtime".into(),
            message: format!("{context}: {e}"),
        }
    }

    fn load(&self, id: &str) -> Result<Option<Container>, RuntimeError> {
        let dir = self.state_root.join(id);
        if !dir.exists() {
            return Ok(None);
        }
        Container::load(dir)
            .map(Some)
            .map_err(|e| self.failed("loading container state", e))
    }
}

/// Runs in the container init just before the workload's exec.
#[derive(Clone)]
struct ContainerExecutor;

impl Executor for ContainerExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        crate::sys::signal::reset_for_exec();
        // The init dies with its monitor, so a killed monitor never leaves a container
        // running unsupervised; the next command notices and cleans up.
        let _ = crate::sys::process::die_with_parent(Signal::SIGKILL);
        if let Some(size) = spec.process().as_ref().and_then(|p| p.console_size()) {
            crate::sys::tty::apply_console_size(size.height(), size.width());
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

impl OciRuntime for BuiltinRuntime {
    fn name(&self) -> &str {
        "builtin"
    }

    fn run(&self, id: &str, bundle: &Path, io: ContainerIo) -> Result<i32, RuntimeError> {
        std::fs::create_dir_all(&self.state_root).map_err(|source| RuntimeError::Io {
            path: self.state_root.clone(),
            source,
        })?;
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(&self.state_root)
            .map_err(|e| self.failed("state directory", e))?
            .with_executor(ContainerExecutor);
        let console;
        match io {
            ContainerIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                builder = builder
                    .with_stdin(stdin)
                    .with_stdout(stdout)
                    .with_stderr(stderr);
                console = None;
            }
            ContainerIo::Terminal { console_socket } => console = Some(console_socket),
        }
        let mut container = builder
            .with_console_socket(console.as_deref())
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| self.failed("creating the container", e))?;
        let pid = container
            .pid()
            .ok_or_else(|| self.failed("creating the container", "no init process"))?
            .as_raw();
        if let Err(e) = container.start() {
            let _ = container.delete(true);
            return Err(self.failed("starting the container", e));
        }
        Ok(pid)
    }

    fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<(), RuntimeError> {
        let Some(mut container) = self.load(id)? else {
            return Ok(());
        };
        let signal = libcontainer::signal::Signal::try_from(signal as i32)
            .map_err(|e| self.failed("signal", e))?;
        container
            .kill(signal, all)
            .map_err(|e| self.failed("signalling the container", e))
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let Some(mut container) = self.load(id)? else {
            return Ok(());
        };
        container
            .delete(force)
            .map_err(|e| self.failed("deleting the container", e))
    }
}
