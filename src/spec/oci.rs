//! The OCI runtime spec (`config.json`) for a container: Podman's defaults for
//! capabilities, masked paths, mounts, rlimits and seccomp, then the user's choices.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilities, LinuxCpu, LinuxDeviceCgroup, LinuxMemory,
    LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources, LinuxSeccomp, Mount,
    PosixRlimit, PosixRlimitBuilder, Process, Root, Spec, User,
};

use super::SpecError;
use super::container::{
    ContainerSpec, MountKind, MountSpec, NetworkMode, RLIMIT_UNLIMITED, Seccomp, UlimitKind,
    normalize, parse_capability_name,
};
use super::process::ResolvedProcess;
use super::seccomp;

/// Podman's default capability set (containers.conf `default_capabilities` since 4.0):
/// Docker's less `AUDIT_WRITE`, `MKNOD` and `NET_RAW`.
pub const DEFAULT_CAPABILITIES: [Capability; 11] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::NetBindService,
    Capability::Setfcap,
    Capability::Setgid,
    Capability::Setpcap,
    Capability::Setuid,
    Capability::SysChroot,
];

/// Every capability with its bit number (linux/capability.h), in bit order.
const CAPABILITY_BITS: [(Capability, u32); 41] = [
    (Capability::Chown, 0),
    (Capability::DacOverride, 1),
    (Capability::DacReadSearch, 2),
    (Capability::Fowner, 3),
    (Capability::Fsetid, 4),
    (Capability::Kill, 5),
    (Capability::Setgid, 6),
    (Capability::Setuid, 7),
    (Capability::Setpcap, 8),
    (Capability::LinuxImmutable, 9),
    (Capability::NetBindService, 10),
    (Capability::NetBroadcast, 11),
    (Capability::NetAdmin, 12),
    (Capability::NetRaw, 13),
    (Capability::IpcLock, 14),
    (Capability::IpcOwner, 15),
    (Capability::SysModule, 16),
    (Capability::SysRawio, 17),
    (Capability::SysChroot, 18),
    (Capability::SysPtrace, 19),
    (Capability::SysPacct, 20),
    (Capability::SysAdmin, 21),
    (Capability::SysBoot, 22),
    (Capability::SysNice, 23),
    (Capability::SysResource, 24),
    (Capability::SysTime, 25),
    (Capability::SysTtyConfig, 26),
    (Capability::Mknod, 27),
    (Capability::Lease, 28),
    (Capability::AuditWrite, 29),
    (Capability::AuditControl, 30),
    (Capability::Setfcap, 31),
    (Capability::MacOverride, 32),
    (Capability::MacAdmin, 33),
    (Capability::Syslog, 34),
    (Capability::WakeAlarm, 35),
    (Capability::BlockSuspend, 36),
    (Capability::AuditRead, 37),
    (Capability::Perfmon, 38),
    (Capability::Bpf, 39),
    (Capability::CheckpointRestore, 40),
];

/// Paths hidden from unprivileged containers (containers-common's list): kernel memory,
/// keys, timers and firmware, and host block devices.
pub const DEFAULT_MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/dev/block",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
    "/sys/fs/selinux",
];

/// Kernel tunables an unprivileged container may read but not change.
pub const DEFAULT_READONLY_PATHS: [&str; 6] = [
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// `/dev/shm` size without `--shm-size` (Docker's and Podman's).
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;
/// Podman's defaults for open files and processes; capped at the caller's hard limits.
pub const DEFAULT_NOFILE: u64 = 1_048_576;
pub const DEFAULT_NPROC: u64 = 4_194_304;
/// Podman's default `pids_limit`.
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;
/// CFS period for `--cpus`, in microseconds.
pub const CPU_PERIOD: u64 = 100_000;
/// Where `--init`'s binary is mounted in the container.
pub const INIT_PATH: &str = "/run/oxpod-init";

/// Everything [`runtime_spec`] needs besides the container's description.
#[derive(Debug, Clone, Copy)]
pub struct SpecInput<'a> {
    pub container: &'a ContainerSpec,
    pub process: &'a ResolvedProcess,
    /// The mounted root filesystem (the overlay's merged directory).
    pub rootfs: &'a Path,
    pub container_id: &'a str,
    /// The cgroup, e.g. `/oxpod/<id>`.
    pub cgroups_path: &'a Path,
    pub files: &'a GeneratedFiles,
    /// Host directories of named and anonymous volumes, by mount destination.
    pub volume_sources: &'a BTreeMap<PathBuf, PathBuf>,
    pub host: &'a HostLimits,
    /// `catatonit` or `tini` on the host, for `--init`.
    pub init_binary: Option<&'a Path>,
}

/// Per-container files the engine generated, bind-mounted over the image's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeneratedFiles {
    pub hosts: Option<PathBuf>,
    pub hostname: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
    pub shm: ShmMount,
}

/// The container's `/dev/shm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShmMount {
    /// Its own tmpfs of this many bytes.
    Tmpfs { size: u64 },
    /// A directory shared with others (a pod's).
    Bind(PathBuf),
}

impl Default for ShmMount {
    fn default() -> Self {
        ShmMount::Tmpfs {
            size: DEFAULT_SHM_SIZE,
        }
    }
}

impl ShmMount {
    /// A tmpfs of `--shm-size`, or the default size.
    pub fn for_container(spec: &ContainerSpec) -> Self {
        ShmMount::Tmpfs {
            size: spec.shm_size.unwrap_or(DEFAULT_SHM_SIZE),
        }
    }
}

/// What the calling process may hand down: the container gets no more than this, since
/// asking the kernel for more fails the whole start (here root lacks CAP_SYS_RESOURCE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLimits {
    /// Hard rlimits of this process; a kind missing here counts as unlimited.
    pub rlimit_hard: BTreeMap<UlimitKind, u64>,
    /// The capability bounding set (bit per capability); `None`: every capability.
    pub cap_bounding: Option<u64>,
    /// Kernel `(major, minor)`, for seccomp rules that depend on it.
    pub kernel: Option<(u32, u32)>,
    /// Whether the memory cgroup can limit swap (cgroup v1 needs `swapaccount=1`).
    pub swap_accounting: bool,
    /// Names of the cgroup hierarchies mounted under `/sys/fs/cgroup` (`memory`,
    /// `cpu,cpuacct`, `unified`, ...), which the container sees too.
    pub cgroup_mounts: Vec<String>,
}

impl Default for HostLimits {
    fn default() -> Self {
        HostLimits {
            rlimit_hard: BTreeMap::new(),
            cap_bounding: None,
            kernel: None,
            swap_accounting: true,
            cgroup_mounts: Vec::new(),
        }
    }
}

impl HostLimits {
    /// Read this process's limits from `/proc` and the cgroup mount.
    pub fn current() -> Result<Self, SpecError> {
        let read = |p: &str| std::fs::read_to_string(p).map_err(|e| SpecError::io(p, e));
        let rlimit_hard = parse_proc_limits(&read("/proc/self/limits")?);
        let cap_bounding = read("/proc/self/status")?.lines().find_map(|l| {
            l.strip_prefix("CapBnd:")
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        });
        let kernel = read("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|r| seccomp::parse_kernel_version(&r));
        let cgroup = Path::new("/sys/fs/cgroup");
        let swap_accounting = cgroup.join("cgroup.controllers").exists()
            || cgroup.join("memory/memory.memsw.limit_in_bytes").exists();
        let cgroup_mounts = read("/proc/self/mounts")
            .map(|m| cgroup_mount_names(&m))
            .unwrap_or_default();
        Ok(HostLimits {
            rlimit_hard,
            cap_bounding,
            kernel,
            swap_accounting,
            cgroup_mounts,
        })
    }

    fn hard(&self, kind: UlimitKind) -> u64 {
        self.rlimit_hard
            .get(&kind)
            .copied()
            .unwrap_or(RLIMIT_UNLIMITED)
    }

    fn has_capability(&self, cap: Capability) -> bool {
        match self.cap_bounding {
            None => true,
            Some(mask) => CAPABILITY_BITS
                .iter()
                .find(|(c, _)| *c == cap)
                .is_some_and(|(_, bit)| mask & (1 << bit) != 0),
        }
    }
}

/// Names of the cgroup (v1 and v2) mounts directly under `/sys/fs/cgroup`, from the text of
/// `/proc/self/mounts`.
pub fn cgroup_mount_names(mounts: &str) -> Vec<String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let target = fields.nth(1)?;
            let fstype = fields.next()?;
            let name = target.strip_prefix("/sys/fs/cgroup/")?;
            (matches!(fstype, "cgroup" | "cgroup2") && !name.contains('/')).then_some(name)
        })
        // A joint hierarchy (`cpu,cpuacct`) may appear in the container under each
        // controller's own name instead.
        .flat_map(|name| {
            let mut names = vec![name.to_string()];
            if name.contains(',') {
                names.extend(name.split(',').map(String::from));
            }
            names
        })
        .collect()
}

/// Hard limits from the text of `/proc/<pid>/limits`.
pub fn parse_proc_limits(text: &str) -> BTreeMap<UlimitKind, u64> {
    let mut out = BTreeMap::new();
    for kind in UlimitKind::all() {
        let label = kind.proc_label();
        let Some(rest) = text
            .lines()
            .find_map(|l| l.strip_prefix(label).filter(|r| r.starts_with(' ')))
        else {
            continue;
        };
        let mut cols = rest.split_whitespace();
        let (_soft, hard) = (cols.next(), cols.next());
        let hard = match hard {
            Some("unlimited") => RLIMIT_UNLIMITED,
            Some(n) => match n.parse() {
                Ok(v) => v,
                Err(_) => continue,
            },
            None => continue,
        };
        out.insert(kind, hard);
    }
    out
}

/// The capability sets of the container process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilitySets {
    pub bounding: HashSet<Capability>,
    /// Effective and permitted.
    pub effective: HashSet<Capability>,
    /// Ambient and inheritable: only for a non-root user, so that capabilities it was
    /// explicitly given survive `execve`.
    pub ambient: HashSet<Capability>,
}

/// Podman's capability rules: the default set with `--cap-add`/`--cap-drop` (`ALL`
/// allowed), or every capability when privileged; never more than the host's bounding
/// set. Root gets the set as effective and permitted; another user only what was added.
pub fn capability_sets(
    spec: &ContainerSpec,
    uid: u32,
    host: &HostLimits,
) -> Result<CapabilitySets, SpecError> {
    let all = || CAPABILITY_BITS.iter().map(|(c, _)| *c);
    let parse = |names: &[String]| -> Result<(bool, Vec<Capability>), SpecError> {
        let mut any_all = false;
        let mut caps = Vec::new();
        for n in names {
            match parse_capability_name(n)? {
                None => any_all = true,
                Some(c) => caps.push(c),
            }
        }
        Ok((any_all, caps))
    };
    let (add_all, add) = parse(&spec.cap_add)?;
    let (drop_all, drop) = parse(&spec.cap_drop)?;

    let merged: Vec<Capability> = if spec.privileged {
        all().collect()
    } else if add_all && drop_all {
        return Err(SpecError::invalid(
            "capabilities",
            "ALL",
            "cannot both add and drop ALL",
        ));
    } else if add_all {
        all().filter(|c| !drop.contains(c)).collect()
    } else {
        if let Some(c) = add.iter().find(|c| drop.contains(c)) {
            return Err(SpecError::invalid(
                "capabilities",
                c.to_string(),
                "both added and dropped",
            ));
        }
        let base: &[Capability] = if drop_all { &[] } else { &DEFAULT_CAPABILITIES };
        all()
            .filter(|c| (base.contains(c) && !drop.contains(c)) || add.contains(c))
            .collect()
    };
    let bounding: HashSet<Capability> = merged
        .into_iter()
        .filter(|c| host.has_capability(*c))
        .collect();
    if uid == 0 {
        return Ok(CapabilitySets {
            effective: bounding.clone(),
            bounding,
            ambient: HashSet::new(),
        });
    }
    let added: HashSet<Capability> = if add_all {
        bounding.clone()
    } else {
        add.into_iter().filter(|c| bounding.contains(c)).collect()
    };
    Ok(CapabilitySets {
        bounding,
        effective: added.clone(),
        ambient: added,
    })
}

/// Rlimits: Podman's `nofile` and `nproc` defaults capped at the caller's hard limits,
/// then the user's `--ulimit`s, refused when above those limits.
pub fn rlimits(spec: &ContainerSpec, host: &HostLimits) -> Result<Vec<PosixRlimit>, SpecError> {
    let show = |v: u64| {
        if v == RLIMIT_UNLIMITED {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let mut out = Vec::new();
    let mut push = |kind: UlimitKind, soft: u64, hard: u64| -> Result<(), SpecError> {
        out.push(
            PosixRlimitBuilder::default()
                .typ(kind.oci_type())
                .soft(soft)
                .hard(hard)
                .build()?,
        );
        Ok(())
    };
    for (kind, want) in [
        (UlimitKind::Nofile, DEFAULT_NOFILE),
        (UlimitKind::Nproc, DEFAULT_NPROC),
    ] {
        if !spec.ulimits.iter().any(|u| u.kind == kind) {
            let v = want.min(host.hard(kind));
            push(kind, v, v)?;
        }
    }
    for u in &spec.ulimits {
        u.validate()?;
        let allowed = host.hard(u.kind);
        if u.hard > allowed {
            return Err(SpecError::UlimitTooHigh {
                name: u.kind.name(),
                which: "hard",
                requested: show(u.hard),
                allowed: show(allowed),
            });
        }
        push(u.kind, u.soft, u.hard)?;
    }
    Ok(out)
}

/// Build the runtime spec.
pub fn runtime_spec(input: &SpecInput) -> Result<Spec, SpecError> {
    let c = input.container;
    c.validate()?;
    let p = input.process;
    if p.args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    if !p.cwd.is_absolute() {
        return Err(SpecError::invalid(
            "working directory",
            p.cwd.display().to_string(),
            "must be an absolute path",
        ));
    }

    let caps = capability_sets(c, p.uid, input.host)?;
    let mut args = p.args.clone();
    if c.init {
        let mut with_init = vec![INIT_PATH.to_string(), "--".to_string()];
        with_init.append(&mut args);
        args = with_init;
    }

    let mut user = User::default();
    user.set_uid(p.uid);
    user.set_gid(p.gid);
    user.set_additional_gids((!p.additional_gids.is_empty()).then(|| p.additional_gids.clone()));
    user.set_umask(Some(0o022));

    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(caps.bounding.clone()));
    capabilities.set_effective(Some(caps.effective.clone()));
    capabilities.set_permitted(Some(caps.effective.clone()));
    capabilities.set_inheritable(Some(caps.ambient.clone()));
    capabilities.set_ambient(Some(caps.ambient.clone()));

    let mut process = Process::default();
    process.set_terminal(Some(c.tty));
    process.set_user(user);
    process.set_args(Some(args));
    process.set_env(Some(p.env.clone()));
    process.set_cwd(p.cwd.clone());
    process.set_capabilities(Some(capabilities));
    process.set_rlimits(Some(rlimits(c, input.host)?));
    // Absent rather than `false`: youki loads seccomp before dropping capabilities only
    // when the field is absent, and a later load without CAP_SYS_ADMIN or no_new_privs
    // fails.
    process.set_no_new_privileges(c.no_new_privileges.then_some(true));
    // Left unset: the runtime would otherwise apply it to the monitor too (see DESIGN.md).
    process.set_oom_score_adj(None);

    let namespaces = namespaces(c);
    let own_uts = !namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Uts && n.path().is_some());
    let own_net = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none());

    let seccomp = seccomp_profile(c, &caps.bounding, input.host)?;
    let mut linux = LinuxBuilder::default()
        .cgroups_path(input.cgroups_path.to_path_buf())
        .namespaces(namespaces)
        .resources(resources(c, input.host)?)
        .build()?;
    linux.set_seccomp(seccomp);
    if c.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        linux.set_masked_paths(Some(DEFAULT_MASKED_PATHS.map(String::from).to_vec()));
        // libcontainer mounts each cgroup v1 hierarchy read-write whatever the `/sys/fs/cgroup`
        // mount says, so root in the container could raise its own limits: make each one
        // read-only (paths missing in the container are skipped by the runtime).
        let mut readonly: Vec<String> = DEFAULT_READONLY_PATHS.map(String::from).to_vec();
        readonly.extend(
            input
                .host
                .cgroup_mounts
                .iter()
                .map(|name| format!("/sys/fs/cgroup/{name}")),
        );
        linux.set_readonly_paths(Some(readonly));
    }
    let mut sysctl = HashMap::new();
    if own_net {
        // Lets root in the container ping without CAP_NET_RAW (Podman's default sysctl).
        sysctl.insert("net.ipv4.ping_group_range".to_string(), "0 0".to_string());
    }
    sysctl.extend(c.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())));
    if !sysctl.is_empty() {
        linux.set_sysctl(Some(sysctl));
    }

    let mut root = Root::default();
    root.set_path(input.rootfs.to_path_buf());
    root.set_readonly(Some(c.read_only));

    let mut spec = Spec::default();
    spec.set_version("1.0.2".to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mounts(input)?));
    spec.set_process(Some(process));
    spec.set_hostname(own_uts.then(|| c.effective_hostname(input.container_id)));
    spec.set_domainname(None);
    spec.set_annotations(Some(
        c.annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ));
    spec.set_linux(Some(linux));
    spec.set_hooks(None);
    Ok(spec)
}

fn namespaces(c: &ContainerSpec) -> Vec<LinuxNamespace> {
    let pod = c.namespaces_from_pod.clone().unwrap_or_default();
    let ns = |typ: LinuxNamespaceType, path: Option<PathBuf>| {
        let mut n = LinuxNamespace::default();
        n.set_typ(typ);
        n.set_path(path);
        n
    };
    let mut out = vec![ns(LinuxNamespaceType::Pid, pod.pid)];
    match &c.network {
        NetworkMode::Host => {}
        NetworkMode::Pod { netns } => {
            out.push(ns(LinuxNamespaceType::Network, Some(netns.clone())))
        }
        NetworkMode::Bridge { .. } | NetworkMode::Private | NetworkMode::None => {
            out.push(ns(LinuxNamespaceType::Network, pod.net))
        }
    }
    out.push(ns(LinuxNamespaceType::Ipc, pod.ipc));
    out.push(ns(LinuxNamespaceType::Uts, pod.uts));
    out.push(ns(LinuxNamespaceType::Mount, None));
    out.push(ns(LinuxNamespaceType::Cgroup, None));
    out
}

fn resources(c: &ContainerSpec, host: &HostLimits) -> Result<LinuxResources, SpecError> {
    let r = &c.resources;
    let mut out = LinuxResources::default();

    if r.memory.is_some() || r.memory_swap.is_some() {
        if let Some(swap) = r.memory_swap
            && !host.swap_accounting
        {
            return Err(SpecError::invalid(
                "--memory-swap",
                swap.to_string(),
                "this host's memory cgroup has no swap accounting (boot with swapaccount=1)",
            ));
        }
        let swap = match (r.memory, r.memory_swap) {
            (_, Some(s)) => Some(s),
            // Docker's default: as much swap as memory.
            (Some(m), None) if host.swap_accounting => Some(m.saturating_mul(2)),
            _ => None,
        };
        let mut mem = LinuxMemory::default();
        mem.set_limit(r.memory);
        mem.set_swap(swap);
        out.set_memory(Some(mem));
    }

    if r.cpus.is_some() || r.cpu_shares.is_some() {
        let mut cpu = LinuxCpu::default();
        if let Some(cpus) = r.cpus {
            cpu.set_quota(Some((cpus * CPU_PERIOD as f64).round() as i64));
            cpu.set_period(Some(CPU_PERIOD));
        }
        cpu.set_shares(r.cpu_shares);
        out.set_cpu(Some(cpu));
    }

    let pids = match r.pids_limit {
        None => Some(DEFAULT_PIDS_LIMIT),
        Some(n) if n <= 0 => None,
        Some(n) => Some(n),
    };
    if let Some(limit) = pids {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        out.set_pids(Some(p));
    }

    // Unprivileged: deny every device but the runtime's standard ones (null, zero, tty,
    // ...), which the runtime allows itself. Privileged: all.
    let mut devices = LinuxDeviceCgroup::default();
    devices.set_allow(c.privileged);
    devices.set_access(Some("rwm".to_string()));
    out.set_devices(Some(vec![devices]));
    Ok(out)
}

fn seccomp_profile(
    c: &ContainerSpec,
    caps: &HashSet<Capability>,
    host: &HostLimits,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    Ok(match &c.seccomp {
        Seccomp::Unconfined => None,
        // As Podman: privileged means no filter unless a profile is named.
        Seccomp::Default if c.privileged => None,
        Seccomp::Default => Some(seccomp::default_profile(caps, host.kernel)),
        Seccomp::Profile(path) => Some(seccomp::load_profile(path, caps, host.kernel)?),
    })
}

fn oci_mount(destination: &str, typ: &str, source: &Path, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(source.to_path_buf()));
    m.set_options(Some(options.iter().map(|s| s.to_string()).collect()));
    m
}

fn mounts(input: &SpecInput) -> Result<Vec<Mount>, SpecError> {
    let c = input.container;
    let sys_mode = if c.privileged { "rw" } else { "ro" };
    let shm_size;
    let mut defaults = vec![
        oci_mount(
            "/proc",
            "proc",
            Path::new("proc"),
            &["nosuid", "noexec", "nodev"],
        ),
        oci_mount(
            "/dev",
            "tmpfs",
            Path::new("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        oci_mount(
            "/dev/pts",
            "devpts",
            Path::new("devpts"),
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        match &input.files.shm {
            ShmMount::Tmpfs { size } => {
                shm_size = format!("size={size}");
                oci_mount(
                    "/dev/shm",
                    "tmpfs",
                    Path::new("shm"),
                    &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
                )
            }
            ShmMount::Bind(dir) => oci_mount(
                "/dev/shm",
                "bind",
                dir,
                &["rbind", "rprivate", "nosuid", "noexec", "nodev"],
            ),
        },
        oci_mount(
            "/dev/mqueue",
            "mqueue",
            Path::new("mqueue"),
            &["nosuid", "noexec", "nodev"],
        ),
        oci_mount(
            "/sys",
            "sysfs",
            Path::new("sysfs"),
            &["nosuid", "noexec", "nodev", sys_mode],
        ),
        oci_mount(
            "/sys/fs/cgroup",
            "cgroup",
            Path::new("cgroup"),
            &["nosuid", "noexec", "nodev", "relatime", sys_mode],
        ),
    ];
    let generated = [
        ("/etc/hosts", &input.files.hosts),
        ("/etc/hostname", &input.files.hostname),
        ("/etc/resolv.conf", &input.files.resolv_conf),
    ];
    for (dest, source) in generated {
        if let Some(source) = source {
            defaults.push(oci_mount(
                dest,
                "bind",
                source,
                &["rbind", "rprivate", "rw"],
            ));
        }
    }
    if c.read_only {
        // Podman's --read-only-tmpfs: scratch space where programs expect to write.
        for (dest, mode) in [
            ("/tmp", "mode=1777"),
            ("/var/tmp", "mode=1777"),
            ("/run", "mode=755"),
        ] {
            defaults.push(oci_mount(
                dest,
                "tmpfs",
                Path::new("tmpfs"),
                &["rw", "nosuid", "nodev", mode],
            ));
        }
    }

    let mut user: Vec<Mount> = Vec::new();
    for m in &c.mounts {
        user.push(user_mount(m, input.volume_sources)?);
    }
    if c.init {
        let binary = input.init_binary.ok_or_else(|| {
            SpecError::invalid(
                "--init",
                "true",
                "no init binary (catatonit or tini) was found on the host",
            )
        })?;
        user.push(oci_mount(
            INIT_PATH,
            "bind",
            binary,
            &["bind", "ro", "nosuid", "nodev"],
        ));
    }
    // Parents before children: the runtime mounts in list order.
    user.sort_by_key(|m| m.destination().components().count());

    // A user mount replaces a default at the same place; a user `/dev` replaces all of ours.
    let taken: HashSet<PathBuf> = user.iter().map(|m| normalize(m.destination())).collect();
    let own_dev = taken.contains(Path::new("/dev"));
    defaults.retain(|m| {
        let d = m.destination();
        !(taken.contains(d) || (own_dev && d.starts_with("/dev")))
    });
    defaults.extend(user);
    Ok(defaults)
}

fn user_mount(m: &MountSpec, volumes: &BTreeMap<PathBuf, PathBuf>) -> Result<Mount, SpecError> {
    let dest = normalize(&m.destination);
    let dest_str = dest.to_string_lossy().into_owned();
    let rw = if m.read_only { "ro" } else { "rw" };
    Ok(match &m.kind {
        MountKind::Bind { source } => {
            // The runtime would only say "No such file or directory" from inside its child.
            if let Err(e) = std::fs::metadata(source) {
                let reason = if e.kind() == std::io::ErrorKind::NotFound {
                    "does not exist".to_string()
                } else {
                    e.to_string()
                };
                return Err(SpecError::invalid(
                    "bind mount source",
                    source.display().to_string(),
                    reason,
                ));
            }
            oci_mount(&dest_str, "bind", source, &["rbind", "rprivate", rw])
        }
        MountKind::Volume { .. } | MountKind::Anonymous => {
            let source = volumes
                .get(&dest)
                .or_else(|| volumes.get(&m.destination))
                .ok_or_else(|| {
                    SpecError::invalid(
                        "volume mount",
                        dest_str.clone(),
                        "no host directory was prepared for it",
                    )
                })?;
            oci_mount(&dest_str, "bind", source, &["rbind", "rprivate", rw])
        }
        MountKind::Tmpfs { size, mode, flags } => {
            // Docker's tmpfs defaults, each switchable by its opposite flag.
            let mut opts: Vec<String> =
                vec![rw.into(), "noexec".into(), "nosuid".into(), "nodev".into()];
            for f in flags {
                let opposite = f
                    .strip_prefix("no")
                    .map_or_else(|| format!("no{f}"), String::from);
                opts.retain(|o| o != &opposite);
                if !opts.contains(f) {
                    opts.push(f.clone());
                }
            }
            if let Some(size) = size {
                opts.push(format!("size={size}"));
            }
            if let Some(mode) = mode {
                opts.push(format!("mode={mode:o}"));
            }
            let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
            oci_mount(&dest_str, "tmpfs", Path::new("tmpfs"), &opts)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::container::{
        PodNamespaces, parse_mount_flag, parse_tmpfs_flag, parse_ulimit, parse_volume_flag,
    };

    fn process(uid: u32) -> ResolvedProcess {
        ResolvedProcess {
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            uid,
            gid: uid,
            additional_gids: vec![],
        }
    }

    #[test]
    fn cgroup_hierarchies_are_read_only_unless_privileged() {
        let mounts = "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n\
                      cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n\
                      tmpfs /sys/fs/cgroup tmpfs ro 0 0\n\
                      proc /proc proc rw 0 0\n";
        assert_eq!(
            cgroup_mount_names(mounts),
            ["unified", "cpu,cpuacct", "cpu", "cpuacct"]
        );
    }

    /// The numbers this machine's root has: no CAP_SYS_RESOURCE, nofile 20000.
    fn host() -> HostLimits {
        HostLimits {
            rlimit_hard: BTreeMap::from([
                (UlimitKind::Nofile, 20_000),
                (UlimitKind::Nproc, 96_364),
                (UlimitKind::Core, RLIMIT_UNLIMITED),
            ]),
            cap_bounding: Some(0x01ff_feff_ffff),
            kernel: Some((6, 1)),
            swap_accounting: true,
            cgroup_mounts: vec!["memory".into(), "cpu,cpuacct".into()],
        }
    }

    struct Fixture {
        spec: ContainerSpec,
        process: ResolvedProcess,
        files: GeneratedFiles,
        volumes: BTreeMap<PathBuf, PathBuf>,
        host: HostLimits,
        init: Option<PathBuf>,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                spec: ContainerSpec::new("c1", "busybox"),
                process: process(0),
                files: GeneratedFiles {
                    hosts: Some("/run/oxpod/c/hosts".into()),
                    hostname: Some("/run/oxpod/c/hostname".into()),
                    resolv_conf: Some("/run/oxpod/c/resolv.conf".into()),
                    shm: ShmMount::default(),
                },
                volumes: BTreeMap::new(),
                host: host(),
                init: None,
            }
        }

        fn build(&self) -> Result<Spec, SpecError> {
            runtime_spec(&SpecInput {
                container: &self.spec,
                process: &self.process,
                rootfs: Path::new("/var/lib/oxpod/containers/abc/merged"),
                container_id: "0123456789abcdef0123",
                cgroups_path: Path::new("/oxpod/0123456789abcdef0123"),
                files: &self.files,
                volume_sources: &self.volumes,
                host: &self.host,
                init_binary: self.init.as_deref(),
            })
        }
    }

    fn set(caps: &[Capability]) -> HashSet<Capability> {
        caps.iter().copied().collect()
    }

    fn mount_dests(spec: &Spec) -> Vec<String> {
        spec.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect()
    }

    fn find_mount<'a>(spec: &'a Spec, dest: &str) -> &'a Mount {
        spec.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new(dest))
            .unwrap_or_else(|| panic!("no mount at {dest}"))
    }

    fn caps_of(spec: &Spec) -> LinuxCapabilities {
        spec.process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap()
    }

    #[test]
    fn default_spec_serialises_with_namespaces_and_mounts() {
        let spec = Fixture::new().build().unwrap();
        let json = serde_json::to_value(&spec).unwrap();

        let ns: Vec<&str> = json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount", "cgroup"]);

        assert_eq!(
            mount_dests(&spec),
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup",
                "/etc/hosts",
                "/etc/hostname",
                "/etc/resolv.conf"
            ]
        );
        let shm = find_mount(&spec, "/dev/shm");
        assert!(
            shm.options()
                .as_ref()
                .unwrap()
                .contains(&"size=67108864".to_string())
        );
        assert!(
            find_mount(&spec, "/sys")
                .options()
                .as_ref()
                .unwrap()
                .contains(&"ro".into())
        );

        assert_eq!(json["hostname"], "0123456789ab");
        assert_eq!(json["root"]["readonly"], false);
        assert_eq!(json["process"]["terminal"], false);
        assert!(json["process"].get("noNewPrivileges").is_none());
        assert!(json["process"].get("oomScoreAdj").is_none());
        assert_eq!(json["linux"]["cgroupsPath"], "/oxpod/0123456789abcdef0123");
        assert_eq!(json["linux"]["resources"]["pids"]["limit"], 2048);
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], false);
        assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["linux"]["sysctl"]["net.ipv4.ping_group_range"], "0 0");
        let masked = json["linux"]["maskedPaths"].as_array().unwrap();
        assert!(masked.contains(&"/proc/kcore".into()));
        assert!(masked.contains(&"/sys/firmware".into()));
        let ro = json["linux"]["readonlyPaths"].as_array().unwrap();
        assert!(ro.contains(&"/proc/sys".into()));

        // It reads back as the same spec.
        let back: Spec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn default_capabilities_for_root() {
        let spec = Fixture::new().build().unwrap();
        let caps = caps_of(&spec);
        let want = set(&DEFAULT_CAPABILITIES);
        assert_eq!(caps.bounding().as_ref().unwrap(), &want);
        assert_eq!(caps.effective().as_ref().unwrap(), &want);
        assert_eq!(caps.permitted().as_ref().unwrap(), &want);
        assert!(caps.inheritable().as_ref().unwrap().is_empty());
        assert!(caps.ambient().as_ref().unwrap().is_empty());
    }

    #[test]
    fn non_root_user_gets_only_added_capabilities() {
        let mut f = Fixture::new();
        f.process = process(1000);
        let caps = caps_of(&f.build().unwrap());
        assert_eq!(
            caps.bounding().as_ref().unwrap(),
            &set(&DEFAULT_CAPABILITIES)
        );
        assert!(caps.effective().as_ref().unwrap().is_empty());
        assert!(caps.ambient().as_ref().unwrap().is_empty());

        f.spec.cap_add = vec!["NET_ADMIN".into()];
        let caps = caps_of(&f.build().unwrap());
        let want = set(&[Capability::NetAdmin]);
        assert_eq!(caps.effective().as_ref().unwrap(), &want);
        assert_eq!(caps.permitted().as_ref().unwrap(), &want);
        assert_eq!(caps.ambient().as_ref().unwrap(), &want);
        assert_eq!(caps.inheritable().as_ref().unwrap(), &want);
        assert!(
            caps.bounding()
                .as_ref()
                .unwrap()
                .contains(&Capability::NetAdmin)
        );
    }

    #[test]
    fn cap_add_drop_and_all() {
        let h = host();
        let mut s = ContainerSpec::new("c", "i");
        s.cap_add = vec!["net_admin".into(), "CAP_SYS_PTRACE".into()];
        s.cap_drop = vec!["CHOWN".into(), "cap_kill".into()];
        let sets = capability_sets(&s, 0, &h).unwrap();
        assert!(sets.bounding.contains(&Capability::NetAdmin));
        assert!(sets.bounding.contains(&Capability::SysPtrace));
        assert!(!sets.bounding.contains(&Capability::Chown));
        assert!(!sets.bounding.contains(&Capability::Kill));
        assert_eq!(sets.bounding.len(), DEFAULT_CAPABILITIES.len());

        s.cap_add = vec![];
        s.cap_drop = vec!["ALL".into()];
        assert!(capability_sets(&s, 0, &h).unwrap().bounding.is_empty());
        s.cap_add = vec!["NET_BIND_SERVICE".into()];
        assert_eq!(
            capability_sets(&s, 0, &h).unwrap().bounding,
            set(&[Capability::NetBindService])
        );

        s.cap_add = vec!["ALL".into()];
        s.cap_drop = vec!["SYS_ADMIN".into()];
        let sets = capability_sets(&s, 0, &h).unwrap();
        assert!(!sets.bounding.contains(&Capability::SysAdmin));
        // Never beyond the host's bounding set (no CAP_SYS_RESOURCE here).
        assert!(!sets.bounding.contains(&Capability::SysResource));
        assert_eq!(sets.bounding.len(), 39);

        s.cap_drop = vec!["ALL".into()];
        assert!(capability_sets(&s, 0, &h).is_err());
        s.cap_add = vec!["KILL".into()];
        s.cap_drop = vec!["KILL".into()];
        let err = capability_sets(&s, 0, &h).unwrap_err().to_string();
        assert!(
            err.contains("KILL") && err.contains("both added and dropped"),
            "{err}"
        );
        s.cap_drop = vec!["FLY".into()];
        assert!(
            capability_sets(&s, 0, &h)
                .unwrap_err()
                .to_string()
                .contains("FLY")
        );
    }

    #[test]
    fn privileged_container() {
        let mut f = Fixture::new();
        f.spec.privileged = true;
        let spec = f.build().unwrap();
        let caps = caps_of(&spec);
        let bounding = caps.bounding().as_ref().unwrap();
        assert_eq!(bounding.len(), 40);
        assert!(bounding.contains(&Capability::SysAdmin));
        assert!(!bounding.contains(&Capability::SysResource));
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.masked_paths().is_none());
        assert!(linux.readonly_paths().is_none());
        assert!(linux.seccomp().is_none());
        let devices = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert!(devices[0].allow());
        assert!(
            find_mount(&spec, "/sys")
                .options()
                .as_ref()
                .unwrap()
                .contains(&"rw".into())
        );

        // A named profile still applies.
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("p.json");
        std::fs::write(
            &profile,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}"#,
        )
        .unwrap();
        f.spec.seccomp = Seccomp::Profile(profile);
        let spec = f.build().unwrap();
        assert!(spec.linux().as_ref().unwrap().seccomp().is_some());
    }

    #[test]
    fn read_only_rootfs() {
        let mut f = Fixture::new();
        f.spec.read_only = true;
        f.spec.mounts = vec![parse_tmpfs_flag("/tmp:size=1m").unwrap()];
        let spec = f.build().unwrap();
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        let dests = mount_dests(&spec);
        assert!(dests.contains(&"/var/tmp".into()) && dests.contains(&"/run".into()));
        // The user's /tmp replaces the read-only default one.
        assert_eq!(dests.iter().filter(|d| *d == "/tmp").count(), 1);
        assert!(
            find_mount(&spec, "/tmp")
                .options()
                .as_ref()
                .unwrap()
                .contains(&"size=1048576".into())
        );
    }

    #[test]
    fn rlimits_never_exceed_the_callers_hard_limits() {
        let f = Fixture::new();
        let spec = f.build().unwrap();
        let limits = spec.process().as_ref().unwrap().rlimits().clone().unwrap();
        let get = |t| limits.iter().find(|r| r.typ() == t).unwrap();
        let nofile = get(oci_spec::runtime::PosixRlimitType::RlimitNofile);
        assert_eq!((nofile.soft(), nofile.hard()), (20_000, 20_000));
        let nproc = get(oci_spec::runtime::PosixRlimitType::RlimitNproc);
        assert_eq!((nproc.soft(), nproc.hard()), (96_364, 96_364));

        // Against this very process's limits, too.
        let real = HostLimits::current().unwrap();
        let s = ContainerSpec::new("c", "i");
        for r in rlimits(&s, &real).unwrap() {
            let kind = UlimitKind::all().find(|k| k.oci_type() == r.typ()).unwrap();
            assert!(r.hard() <= real.hard(kind), "{kind:?}");
            assert!(r.soft() <= r.hard());
        }

        // Without a known limit the default stands.
        let s = ContainerSpec::new("c", "i");
        let open = rlimits(&s, &HostLimits::default()).unwrap();
        assert_eq!(open[0].hard(), DEFAULT_NOFILE);
    }

    #[test]
    fn user_ulimits_checked_against_hard_limits() {
        let mut f = Fixture::new();
        f.spec.ulimits = vec![parse_ulimit("nofile=1024:4096").unwrap()];
        let spec = f.build().unwrap();
        let limits = spec.process().as_ref().unwrap().rlimits().clone().unwrap();
        let nofile: Vec<_> = limits
            .iter()
            .filter(|r| r.typ() == oci_spec::runtime::PosixRlimitType::RlimitNofile)
            .collect();
        assert_eq!(nofile.len(), 1);
        assert_eq!((nofile[0].soft(), nofile[0].hard()), (1024, 4096));

        f.spec.ulimits = vec![parse_ulimit("nofile=30000").unwrap()];
        let err = f.build().unwrap_err().to_string();
        assert!(
            err.contains("nofile") && err.contains("30000") && err.contains("20000"),
            "{err}"
        );
        assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");

        f.spec.ulimits = vec![parse_ulimit("core=-1").unwrap()];
        f.build().unwrap();
        f.spec.ulimits = vec![parse_ulimit("nproc=-1").unwrap()];
        assert!(f.build().unwrap_err().to_string().contains("unlimited"));
    }

    #[test]
    fn parse_limits_file() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max processes             96364                96364                processes \n\
                    Max open files            20000                20000                files     \n\
                    Max nice priority         0                    0                    \n";
        let l = parse_proc_limits(text);
        assert_eq!(l[&UlimitKind::Nofile], 20_000);
        assert_eq!(l[&UlimitKind::Nproc], 96_364);
        assert_eq!(l[&UlimitKind::Cpu], RLIMIT_UNLIMITED);
        assert_eq!(l[&UlimitKind::Nice], 0);
        assert!(!l.contains_key(&UlimitKind::Stack));
    }

    #[test]
    fn resource_limits() {
        let mut f = Fixture::new();
        f.spec.resources.memory = Some(512 << 20);
        f.spec.resources.cpus = Some(1.5);
        f.spec.resources.cpu_shares = Some(512);
        f.spec.resources.pids_limit = Some(100);
        let spec = f.build().unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        let r = &json["linux"]["resources"];
        assert_eq!(r["memory"]["limit"], 512 << 20);
        assert_eq!(r["memory"]["swap"], 1024 << 20);
        assert_eq!(r["cpu"]["quota"], 150_000);
        assert_eq!(r["cpu"]["period"], 100_000);
        assert_eq!(r["cpu"]["shares"], 512);
        assert_eq!(r["pids"]["limit"], 100);

        f.spec.resources.pids_limit = Some(-1);
        f.host.swap_accounting = false;
        let json = serde_json::to_value(f.build().unwrap()).unwrap();
        assert!(json["linux"]["resources"].get("pids").is_none());
        assert!(json["linux"]["resources"]["memory"].get("swap").is_none());

        f.spec.resources.memory_swap = Some(1 << 30);
        assert!(
            f.build()
                .unwrap_err()
                .to_string()
                .contains("swap accounting")
        );
    }

    #[test]
    fn user_mounts_volumes_and_tmpfs() {
        let host_dir = tempfile::tempdir().unwrap();
        let deep = host_dir.path().display().to_string();
        let mut f = Fixture::new();
        f.spec.mounts = vec![
            parse_volume_flag(&format!("{deep}:/data/sub/deep:ro")).unwrap(),
            parse_volume_flag("named:/data").unwrap(),
            parse_volume_flag("/anon").unwrap(),
            parse_mount_flag("type=tmpfs,target=/scratch,tmpfs-mode=700").unwrap(),
            parse_tmpfs_flag("/exec:exec").unwrap(),
        ];
        f.volumes = BTreeMap::from([
            (PathBuf::from("/data"), PathBuf::from("/vols/named/_data")),
            (PathBuf::from("/anon"), PathBuf::from("/vols/abc/_data")),
        ]);
        let spec = f.build().unwrap();
        let dests = mount_dests(&spec);
        let pos = |d: &str| dests.iter().position(|x| x == d).unwrap();
        assert!(pos("/data") < pos("/data/sub/deep"));

        let bind = find_mount(&spec, "/data/sub/deep");
        assert_eq!(bind.typ().as_deref(), Some("bind"));
        assert_eq!(bind.source().as_deref(), Some(host_dir.path()));
        assert!(bind.options().as_ref().unwrap().contains(&"ro".into()));
        let vol = find_mount(&spec, "/data");
        assert_eq!(
            vol.source().as_deref(),
            Some(Path::new("/vols/named/_data"))
        );
        assert_eq!(
            find_mount(&spec, "/anon").source().as_deref(),
            Some(Path::new("/vols/abc/_data"))
        );
        let tmp = find_mount(&spec, "/scratch").options().clone().unwrap();
        assert_eq!(tmp, ["rw", "noexec", "nosuid", "nodev", "mode=700"]);
        let exec = find_mount(&spec, "/exec").options().clone().unwrap();
        assert!(!exec.contains(&"noexec".into()) && exec.contains(&"exec".into()));

        f.volumes.clear();
        let err = f.build().unwrap_err().to_string();
        assert!(err.contains("/data") || err.contains("/anon"), "{err}");

        f.volumes = BTreeMap::new();
        f.spec.mounts = vec![parse_volume_flag("/no/such/dir:/x").unwrap()];
        let err = f.build().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid bind mount source \"/no/such/dir\": does not exist"
        );
    }

    #[test]
    fn user_mounts_replace_defaults() {
        let my_hosts = tempfile::NamedTempFile::new().unwrap();
        let my_hosts = my_hosts.path();
        let mut f = Fixture::new();
        f.spec.mounts = vec![
            parse_volume_flag(&format!("{}:/etc/hosts", my_hosts.display())).unwrap(),
            parse_tmpfs_flag("/dev/shm:size=1g").unwrap(),
        ];
        let spec = f.build().unwrap();
        let dests = mount_dests(&spec);
        assert_eq!(dests.iter().filter(|d| *d == "/etc/hosts").count(), 1);
        assert_eq!(
            find_mount(&spec, "/etc/hosts").source().as_deref(),
            Some(my_hosts)
        );
        assert_eq!(dests.iter().filter(|d| *d == "/dev/shm").count(), 1);

        f.spec.mounts = vec![parse_volume_flag("/dev:/dev").unwrap()];
        let dests = mount_dests(&f.build().unwrap());
        assert!(!dests.iter().any(|d| d.starts_with("/dev/")), "{dests:?}");
    }

    #[test]
    fn network_and_pod_namespaces() {
        let mut f = Fixture::new();
        f.spec.network = NetworkMode::Host;
        let spec = f.build().unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let ns = linux.namespaces().as_ref().unwrap();
        assert!(!ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
        assert!(linux.sysctl().is_none());

        f.spec.network = NetworkMode::Private;
        f.spec.namespaces_from_pod = Some(PodNamespaces {
            net: Some("/run/oxpod/pods/p/net".into()),
            ipc: Some("/run/oxpod/pods/p/ipc".into()),
            uts: Some("/run/oxpod/pods/p/uts".into()),
            pid: None,
        });
        let spec = f.build().unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        let path_of = |t| {
            ns.iter()
                .find(|n| n.typ() == t)
                .and_then(|n| n.path().clone())
        };
        assert_eq!(
            path_of(LinuxNamespaceType::Network),
            Some("/run/oxpod/pods/p/net".into())
        );
        assert_eq!(
            path_of(LinuxNamespaceType::Uts),
            Some("/run/oxpod/pods/p/uts".into())
        );
        assert_eq!(path_of(LinuxNamespaceType::Pid), None);
        // The pod's UTS namespace has its hostname already; setting one would change it.
        assert!(spec.hostname().is_none());

        f.spec.namespaces_from_pod = None;
        f.spec.network = NetworkMode::Pod {
            netns: "/run/netns/x".into(),
        };
        let ns = f
            .build()
            .unwrap()
            .linux()
            .clone()
            .unwrap()
            .namespaces()
            .clone()
            .unwrap();
        assert!(
            ns.iter()
                .any(|n| n.path().as_deref() == Some(Path::new("/run/netns/x")))
        );
    }

    #[test]
    fn tty_annotations_init_and_security_options() {
        let mut f = Fixture::new();
        f.spec.tty = true;
        f.spec.no_new_privileges = true;
        f.spec.hostname = Some("web".into());
        f.spec.annotations.insert("io.example/a".into(), "b".into());
        f.spec.seccomp = Seccomp::Unconfined;
        let spec = f.build().unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(spec.hostname().as_deref(), Some("web"));
        assert_eq!(spec.annotations().as_ref().unwrap()["io.example/a"], "b");
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());

        f.spec.init = true;
        assert!(f.build().unwrap_err().to_string().contains("--init"));
        f.init = Some("/usr/libexec/catatonit".into());
        let spec = f.build().unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().args().as_deref().unwrap(),
            [INIT_PATH, "--", "sh"]
        );
        assert_eq!(
            find_mount(&spec, INIT_PATH).source().as_deref(),
            Some(Path::new("/usr/libexec/catatonit"))
        );
    }

    #[test]
    fn process_checks() {
        let mut f = Fixture::new();
        f.process.args.clear();
        assert!(matches!(f.build(), Err(SpecError::NoCommand)));
        let mut f = Fixture::new();
        f.process.cwd = "rel".into();
        assert!(f.build().unwrap_err().to_string().contains("rel"));
        let mut f = Fixture::new();
        f.process.additional_gids = vec![10, 20];
        let spec = f.build().unwrap();
        let user = spec.process().as_ref().unwrap().user();
        assert_eq!(user.additional_gids().as_deref(), Some(&[10, 20][..]));
        assert_eq!(user.umask(), Some(0o022));
    }

    #[test]
    fn current_host_limits_are_readable() {
        let h = HostLimits::current().unwrap();
        assert!(h.rlimit_hard.contains_key(&UlimitKind::Nofile));
        assert!(h.cap_bounding.is_some());
        assert!(h.kernel.is_some());
    }
}
