//! Engine-level container descriptions and the OCI runtime spec built from them.
//!
//! The flow for a container:
//! 1. the CLI (or `kube play`) fills a [`ContainerSpec`] with the parsers here
//!    ([`parse_volume_flag`], [`parse_memory`], ...), each naming the value it refuses;
//! 2. the engine stores it as JSON and, at start, resolves the process against the image
//!    config and the mounted rootfs with [`resolve_process`] (Docker's entrypoint/command
//!    rules, environment merge, users from the image's own `/etc/passwd`);
//! 3. [`runtime_spec`] turns both into an [`oci_spec::runtime::Spec`] with Podman's
//!    defaults: capabilities, masked paths, mounts, seccomp, rlimits no higher than the
//!    caller may grant.
//!
//! Nothing here touches the system beyond reading files: the image's user database, a
//! seccomp profile, an env file, and `/proc` for [`HostLimits::current`].

mod container;
mod error;
mod etc;
mod oci;
mod pod;
mod probe;
mod process;
mod seccomp;

pub use container::{
    ContainerSpec, DEFAULT_NETWORK, DEFAULT_STOP_TIMEOUT, HealthCheck, HostEntry, MountKind,
    MountSpec, NetworkMode, PodNamespaces, RLIMIT_UNLIMITED, Resources, RestartPolicy, Seccomp,
    Ulimit, UlimitKind, parse_add_host, parse_capability_name, parse_cpus, parse_dns,
    parse_duration, parse_env_file, parse_env_flag, parse_memory, parse_memory_swap,
    parse_mount_flag, parse_pids_limit, parse_signal, parse_tmpfs_flag, parse_ulimit,
    parse_volume_flag, read_env_file,
};
pub use container::{SecretEnv, valid_network_name};
pub use error::SpecError;
pub use etc::{hostname_file, hosts_file, resolv_conf};
pub use oci::{
    CPU_PERIOD, CapabilitySets, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_NOFILE,
    DEFAULT_NPROC, DEFAULT_PIDS_LIMIT, DEFAULT_READONLY_PATHS, DEFAULT_SHM_SIZE, GeneratedFiles,
    HostLimits, INIT_PATH, ShmMount, SpecInput, capability_sets, parse_proc_limits, rlimits,
    runtime_spec,
};
pub use pod::{PodSpec, Shares};
pub use probe::{Lifecycle, Probe, ProbeAction, Probes};
pub use process::{
    DEFAULT_PATH, ImageDefaults, ResolvedProcess, ResolvedUser, build_env, resolve_args,
    resolve_in_rootfs, resolve_process, resolve_user, resolve_workdir,
};
pub use seccomp::{
    default_profile as default_seccomp_profile, load_profile as load_seccomp_profile,
};
