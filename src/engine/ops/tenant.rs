//! Starting a process inside a running container with the built-in runtime: libcontainer's
//! tenant builder, which joins the init's namespaces and cgroup.
//!
//! This is the one part of `exec` that knows libcontainer. It belongs behind
//! `runtime::OciRuntime` once that trait grows an exec verb (an external runtime would take the
//! same process JSON as `RUNTIME exec --process FILE`).
//!
//! The process is described by a whole OCI `process` object (`with_process`), cloned from the
//! container's `config.json` and then changed: that keeps the container's capabilities,
//! rlimits, no_new_privileges and umask, which the builder's piecewise setters would reset.
//!
//! libcontainer 0.7 rebuilds a tenant's `linux` section from the namespaces and cgroup only, so
//! the container's seccomp filter would not reach the new process. The executor loads it just
//! before the exec. Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which a
//! container does not have by default; the process is then given CAP_SYS_ADMIN (and
//! CAP_SETPCAP, to shrink its bounding set again) for the few instructions between
//! libcontainer's capability drop and the exec, and drops to exactly the container's
//! capabilities once the filter is in place. runc and crun load the filter before dropping
//! capabilities; this reaches the same end state.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, LinuxSeccomp, Process, Spec};

/// Everything needed to start the process; serialisable, so that a short-lived helper process
/// can start it (`exec -d`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct TenantPlan {
    pub container_id: String,
    /// The process as the runtime gets it (capabilities possibly widened, see the module doc).
    pub process: Process,
    pub seccomp: Option<LinuxSeccomp>,
    /// The capabilities to end with when `process` carries extra ones for loading `seccomp`.
    pub final_capabilities: Option<LinuxCapabilities>,
}

impl TenantPlan {
    pub fn new(container_id: &str, mut process: Process, seccomp: Option<LinuxSeccomp>) -> Self {
        let final_capabilities = grant_filter_capabilities(&mut process, seccomp.as_ref());
        TenantPlan {
            container_id: container_id.to_string(),
            process,
            seccomp,
            final_capabilities,
        }
    }
}

/// How the new process's standard streams are wired.
pub(crate) enum TenantIo {
    /// Three descriptors become its 0, 1 and 2.
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A new pseudo-terminal in the container; its master is sent over this socket.
    Console { socket: PathBuf },
}

/// When loading the seccomp filter will need CAP_SYS_ADMIN, add it (and CAP_SETPCAP) to
/// `process` and return the capabilities to drop back to afterwards.
fn grant_filter_capabilities(
    process: &mut Process,
    seccomp: Option<&LinuxSeccomp>,
) -> Option<LinuxCapabilities> {
    seccomp?;
    if process.no_new_privileges() == Some(true) {
        return None;
    }
    // No capability section: libcontainer drops nothing and the filter loads as root.
    let caps = process.capabilities().clone()?;
    let holds = |set: &Option<Capabilities>, cap| set.as_ref().is_some_and(|s| s.contains(&cap));
    if holds(caps.effective(), Capability::SysAdmin) && holds(caps.bounding(), Capability::SysAdmin)
    {
        return None;
    }
    let widen = |set: &Option<Capabilities>| {
        let mut set = set.clone().unwrap_or_default();
        set.insert(Capability::SysAdmin);
        set.insert(Capability::Setpcap);
        Some(set)
    };
    let mut granted = caps.clone();
    granted
        .set_bounding(widen(caps.bounding()))
        .set_effective(widen(caps.effective()))
        .set_permitted(widen(caps.permitted()));
    process.set_capabilities(Some(granted));
    Some(caps)
}

/// Runs in the new process just before its exec.
#[derive(Clone)]
struct TenantExecutor {
    seccomp: Option<LinuxSeccomp>,
    final_capabilities: Option<LinuxCapabilities>,
}

impl Executor for TenantExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        // The caller blocks signals to read them from a signalfd and ignores SIGPIPE; neither
        // may leak into the container.
        crate::sys::signal::reset_for_exec();
        if let Some(seccomp) = &self.seccomp {
            libcontainer::seccomp::initialize_seccomp(seccomp).map_err(|e| {
                ExecutorError::Other(format!("loading the container's seccomp filter: {e}"))
            })?;
            if let Some(caps) = &self.final_capabilities {
                let syscall = libcontainer::syscall::syscall::create_syscall();
                libcontainer::capabilities::drop_privileges(caps, syscall.as_ref()).map_err(
                    |e| {
                        ExecutorError::Other(format!(
                            "dropping to the container's capabilities: {e}"
                        ))
                    },
                )?;
            }
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// Whether a seccomp profile hands decisions to a user-space listener, which `exec` cannot
/// connect.
pub(crate) fn needs_listener(seccomp: &LinuxSeccomp) -> bool {
    libcontainer::seccomp::is_notify(seccomp)
}

/// Start the planned process in container `plan.container_id`, whose runtime state lives under
/// `state_root`. `scratch`, an existing directory, holds the process JSON for the duration
/// of the call. Returns the
/// process's pid: it is a child of the caller, which must reap it. Must be called from a
/// single-threaded process.
pub(crate) fn spawn(
    state_root: &Path,
    scratch: &Path,
    plan: &TenantPlan,
    io: TenantIo,
) -> Result<i32, String> {
    let file = crate::sys::fs::temp_sibling(&scratch.join("process.json"));
    let json = serde_json::to_vec(&plan.process).expect("an OCI process serialises");
    write_private(&file, &json).map_err(|e| format!("{}: {e}", file.display()))?;
    let result = build(state_root, plan, &file, io);
    let _ = std::fs::remove_file(&file);
    result
}

/// A new file readable by root only (the process JSON carries the container's environment).
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(data)
}

fn build(state_root: &Path, plan: &TenantPlan, file: &Path, io: TenantIo) -> Result<i32, String> {
    let mut builder = ContainerBuilder::new(plan.container_id.clone(), SyscallType::default())
        .with_root_path(state_root)
        .map_err(|e| format!("runtime state directory {}: {e}", state_root.display()))?
        .with_executor(TenantExecutor {
            seccomp: plan.seccomp.clone(),
            final_capabilities: plan.final_capabilities.clone(),
        });
    // libcontainer wants a console socket exactly when a terminal is detached from the caller.
    let (console, detach) = match io {
        TenantIo::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            builder = builder
                .with_stdin(stdin)
                .with_stdout(stdout)
                .with_stderr(stderr);
            (None, false)
        }
        TenantIo::Console { socket } => (Some(socket), true),
    };
    let pid = builder
        .with_console_socket(console.as_deref())
        .as_tenant()
        .with_process(Some(file))
        .with_detach(detach)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(pid.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCapabilitiesBuilder, LinuxSeccompAction, LinuxSeccompBuilder};

    fn process_with(caps: &[Capability], nnp: Option<bool>) -> Process {
        let set: Capabilities = caps.iter().copied().collect();
        let mut process = Process::default();
        process.set_no_new_privileges(nnp);
        process.set_capabilities(Some(
            LinuxCapabilitiesBuilder::default()
                .bounding(set.clone())
                .effective(set.clone())
                .permitted(set)
                .build()
                .unwrap(),
        ));
        process
    }

    fn filter() -> LinuxSeccomp {
        LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActAllow)
            .build()
            .unwrap()
    }

    #[test]
    fn filter_capabilities_are_granted_only_when_needed() {
        let base = [Capability::Chown, Capability::Kill];
        // No filter, or no_new_privs: nothing to widen.
        let mut p = process_with(&base, None);
        assert!(grant_filter_capabilities(&mut p, None).is_none());
        let mut p = process_with(&base, Some(true));
        assert!(grant_filter_capabilities(&mut p, Some(&filter())).is_none());
        // Already privileged enough.
        let mut p = process_with(&[Capability::SysAdmin], None);
        assert!(grant_filter_capabilities(&mut p, Some(&filter())).is_none());

        let mut p = process_with(&base, None);
        let back = grant_filter_capabilities(&mut p, Some(&filter())).unwrap();
        let granted = p.capabilities().clone().unwrap();
        for set in [granted.bounding(), granted.effective(), granted.permitted()] {
            let set = set.as_ref().unwrap();
            assert!(set.contains(&Capability::SysAdmin));
            assert!(set.contains(&Capability::Setpcap));
            assert!(set.contains(&Capability::Kill));
        }
        let final_effective = back.effective().as_ref().unwrap();
        assert_eq!(final_effective.len(), 2);
        assert!(!final_effective.contains(&Capability::SysAdmin));
    }

    #[test]
    fn plans_survive_the_trip_to_the_helper() {
        let plan = TenantPlan::new(
            "abc",
            process_with(&[Capability::Chown], None),
            Some(filter()),
        );
        let json = serde_json::to_string(&plan).unwrap();
        let back: TenantPlan = serde_json::from_str(&json).unwrap();
        assert_eq!(back.process, plan.process);
        assert_eq!(back.final_capabilities, plan.final_capabilities);
        assert_eq!(back.container_id, "abc");
    }
}
