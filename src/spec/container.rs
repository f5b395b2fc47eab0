//! [`ContainerSpec`]: what `oxpod create/run` flags (and `kube play`) ask of a container, and
//! the parsers that turn flag strings into it. Values are validated here so the runtime
//! never sees one it would reject with an obscure message.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;
use oci_spec::runtime::PosixRlimitType;
use serde::{Deserialize, Serialize};

use super::SpecError;

/// How long `stop` waits for the stop signal to work before it kills (Podman's default).
pub const DEFAULT_STOP_TIMEOUT: u32 = 10;

/// A container as the engine stores it (JSON in the state database). Fields hold the user's
/// choices only; what the image supplies is merged in when the process is resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSpec {
    pub name: String,
    /// The image reference as the user typed it.
    pub image: String,
    /// The resolved image (config digest).
    pub image_id: String,
    /// `--entrypoint`: `Some` replaces the image's entrypoint and clears its command.
    pub entrypoint: Option<Vec<String>>,
    /// Arguments after the image: `Some` replaces the image's command.
    pub command: Option<Vec<String>>,
    /// `K=V` entries, already expanded from `--env-file` and bare `-e KEY`.
    pub env: Vec<String>,
    /// `-w`: absolute path inside the container.
    pub workdir: Option<PathBuf>,
    /// `-u`: `uid[:gid]` or `name[:group]`, resolved against the image's files.
    pub user: Option<String>,
    /// `--hostname`; the short container ID when unset.
    pub hostname: Option<String>,
    pub tty: bool,
    /// `-i`: keep stdin open.
    pub stdin: bool,
    pub read_only: bool,
    pub privileged: bool,
    /// Capability names as given (`NET_ADMIN`, `CAP_NET_ADMIN`, `ALL`).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
    pub mounts: Vec<MountSpec>,
    pub resources: Resources,
    /// `--shm-size` in bytes; 64 MiB when unset.
    pub shm_size: Option<u64>,
    pub restart: RestartPolicy,
    pub healthcheck: Option<HealthCheck>,
    #[serde(with = "signal_name")]
    pub stop_signal: Signal,
    /// Seconds `stop` waits before SIGKILL.
    pub stop_timeout: u32,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `--init`: run a minimal init as PID 1 that reaps zombies and forwards signals.
    pub init: bool,
    /// `--rm`: remove the container (and its anonymous volumes) once it exits.
    pub auto_remove: bool,
    pub network: NetworkMode,
    /// The pod (its id) the container belongs to; it joins the pod's namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// `-p`: host ports forwarded into the container's network namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<crate::network::ports::PortMapping>,
    /// `--group-add`: supplementary groups (by number) beside the user's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<u32>,
    /// `--sysctl`: namespaced kernel parameters set in the container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// Refuse to start when the user is root (Kubernetes' runAsNonRoot).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run_as_non_root: bool,
    /// Variables whose values come from Secrets, read from the store (mode 0600) at each
    /// start, so the values are never kept in the container's spec or shown by `inspect`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<SecretEnv>,
    /// Kubernetes probes, run by the monitor.
    #[serde(default, skip_serializing_if = "super::Probes::is_empty")]
    pub probes: super::Probes,
    /// Kubernetes lifecycle hooks.
    #[serde(default, skip_serializing_if = "super::Lifecycle::is_empty")]
    pub lifecycle: super::Lifecycle,
    /// A pod's init container: `pod start` runs it to completion, before the others.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init_container: bool,
    /// `-P`: publish every port the image exposes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publish_all: bool,
    /// Namespaces to join by path (a pod's); unset kinds get their own.
    pub namespaces_from_pod: Option<PodNamespaces>,
    pub ulimits: Vec<Ulimit>,
    /// `--add-host name:ip`.
    pub add_hosts: Vec<HostEntry>,
    /// `--dns`: replaces the host's name servers.
    pub dns: Vec<IpAddr>,
    /// `--dns-search`: replaces the host's search domains.
    pub dns_search: Vec<String>,
    /// `--runtime`: an external OCI runtime (`crun`, `runc`, `youki` or a path); the
    /// built-in one when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

impl Default for ContainerSpec {
    fn default() -> Self {
        ContainerSpec {
            name: String::new(),
            image: String::new(),
            image_id: String::new(),
            entrypoint: None,
            command: None,
            env: Vec::new(),
            workdir: None,
            user: None,
            hostname: None,
            tty: false,
            stdin: false,
            read_only: false,
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            seccomp: Seccomp::Default,
            no_new_privileges: false,
            mounts: Vec::new(),
            resources: Resources::default(),
            shm_size: None,
            restart: RestartPolicy::No,
            healthcheck: None,
            stop_signal: Signal::SIGTERM,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            init: false,
            auto_remove: false,
            network: NetworkMode::default(),
            pod: None,
            publish: Vec::new(),
            publish_all: false,
            init_container: false,
            group_add: Vec::new(),
            sysctls: BTreeMap::new(),
            run_as_non_root: false,
            secret_env: Vec::new(),
            probes: Default::default(),
            lifecycle: Default::default(),
            namespaces_from_pod: None,
            ulimits: Vec::new(),
            add_hosts: Vec::new(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            runtime: None,
        }
    }
}

impl ContainerSpec {
    /// A spec with defaults for everything but the name and image.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        ContainerSpec {
            name: name.into(),
            image: image.into(),
            ..Default::default()
        }
    }

    /// The hostname the container sees: `--hostname`, else the first 12 characters of the
    /// container ID, as Docker and Podman do.
    pub fn effective_hostname(&self, container_id: &str) -> String {
        match &self.hostname {
            Some(h) => h.clone(),
            None => container_id.chars().take(12).collect(),
        }
    }

    /// Check every field a later step would trip over, naming the first bad value.
    pub fn validate(&self) -> Result<(), SpecError> {
        validate_name(&self.name)?;
        for entry in &self.env {
            validate_env_entry(entry)?;
        }
        if let Some(dir) = &self.workdir {
            require_absolute("working directory", dir)?;
        }
        if let Some(user) = &self.user
            && (user.is_empty()
                || user.split(':').count() > 2
                || user.split(':').any(str::is_empty))
        {
            return Err(SpecError::invalid(
                "user",
                user,
                "expected uid[:gid] or name[:group]",
            ));
        }
        if let Some(h) = &self.hostname {
            validate_hostname(h)?;
        }
        for cap in self.cap_add.iter().chain(&self.cap_drop) {
            parse_capability_name(cap)?;
        }
        self.validate_mounts()?;
        self.resources.validate()?;
        if let Some(shm) = self.shm_size
            && shm == 0
        {
            return Err(SpecError::invalid(
                "--shm-size",
                "0",
                "must be greater than 0",
            ));
        }
        if let Some(hc) = &self.healthcheck {
            hc.validate()?;
        }
        for key in self.labels.keys() {
            if key.is_empty() {
                return Err(SpecError::invalid("label", "", "the key is empty"));
            }
        }
        for key in self.annotations.keys() {
            if key.is_empty() {
                return Err(SpecError::invalid("annotation", "", "the key is empty"));
            }
        }
        self.validate_namespaces()?;
        let mut seen = Vec::new();
        for u in &self.ulimits {
            u.validate()?;
            if seen.contains(&u.kind) {
                return Err(SpecError::invalid(
                    "--ulimit",
                    u.kind.name(),
                    "given more than once",
                ));
            }
            seen.push(u.kind);
        }
        for h in &self.add_hosts {
            validate_hostname(&h.name)
                .map_err(|_| SpecError::invalid("--add-host", h.to_string(), "bad host name"))?;
        }
        Ok(())
    }

    fn validate_mounts(&self) -> Result<(), SpecError> {
        let mut destinations: Vec<PathBuf> = Vec::new();
        for m in &self.mounts {
            require_absolute("mount destination", &m.destination)?;
            let dest = normalize(&m.destination);
            if dest == Path::new("/") {
                return Err(SpecError::invalid(
                    "mount destination",
                    "/",
                    "cannot mount over the root filesystem",
                ));
            }
            if destinations.contains(&dest) {
                return Err(SpecError::invalid(
                    "mount destination",
                    dest.display().to_string(),
                    "more than one mount at this path",
                ));
            }
            destinations.push(dest);
            match &m.kind {
                MountKind::Bind { source } => require_absolute("bind source", source)?,
                MountKind::Volume { name } => validate_volume_name(name)?,
                MountKind::Anonymous => {}
                MountKind::Tmpfs { mode, .. } => {
                    if let Some(mode) = mode
                        && *mode > 0o7777
                    {
                        return Err(SpecError::invalid(
                            "tmpfs mode",
                            format!("{mode:o}"),
                            "not a file mode",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn validate_namespaces(&self) -> Result<(), SpecError> {
        if let NetworkMode::Pod { netns } = &self.network {
            require_absolute("network namespace path", netns)?;
        }
        if let Some(ns) = &self.namespaces_from_pod {
            for path in [&ns.net, &ns.ipc, &ns.uts, &ns.pid].into_iter().flatten() {
                require_absolute("namespace path", path)?;
            }
            if let Some(net) = &ns.net {
                match &self.network {
                    NetworkMode::Pod { netns } if netns != net => {
                        return Err(SpecError::invalid(
                            "network namespace path",
                            net.display().to_string(),
                            format!("conflicts with --network ns:{}", netns.display()),
                        ));
                    }
                    NetworkMode::Host | NetworkMode::None => {
                        return Err(SpecError::invalid(
                            "network namespace path",
                            net.display().to_string(),
                            format!("conflicts with --network {}", self.network),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// `--security-opt seccomp=...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seccomp {
    /// oxpod's built-in allow-list.
    #[default]
    Default,
    /// No filter at all.
    Unconfined,
    /// A profile in OCI/Docker JSON format, read when the runtime spec is built.
    Profile(PathBuf),
}

impl FromStr for Seccomp {
    type Err = SpecError;

    /// The value after `seccomp=`: `unconfined`, `default` or a path.
    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s {
            "unconfined" => Ok(Seccomp::Unconfined),
            "default" | "" => Ok(Seccomp::Default),
            path => Ok(Seccomp::Profile(PathBuf::from(path))),
        }
    }
}

/// One mount the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub destination: PathBuf,
    pub kind: MountKind,
    #[serde(default)]
    pub read_only: bool,
    /// `-v ...:U`: chown the source to the container user before start.
    #[serde(default)]
    pub chown: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum MountKind {
    /// A host path.
    Bind { source: PathBuf },
    /// A named volume (created on first use).
    Volume { name: String },
    /// A volume with a generated name, removed with the container by `rm -v`.
    Anonymous,
    /// A fresh tmpfs. `flags` are the accepted mount flags (`exec`, `nosuid`, ...).
    Tmpfs {
        size: Option<u64>,
        mode: Option<u32>,
        #[serde(default)]
        flags: Vec<String>,
    },
}

/// cgroup limits. Memory values are bytes; `memory_swap` is memory plus swap, `-1`
/// unlimited (Docker's meaning).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    /// `-1` or `0`: unlimited; unset: Podman's default of 2048.
    pub pids_limit: Option<i64>,
}

/// Below this the container cannot even start its runtime (Docker's and Podman's floor).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

impl Resources {
    pub fn validate(&self) -> Result<(), SpecError> {
        if let Some(m) = self.memory
            && m < MIN_MEMORY
        {
            return Err(SpecError::invalid(
                "--memory",
                m.to_string(),
                "the minimum is 6m (6291456 bytes)",
            ));
        }
        if let Some(swap) = self.memory_swap {
            match self.memory {
                _ if swap == -1 => {}
                None => {
                    return Err(SpecError::invalid(
                        "--memory-swap",
                        swap.to_string(),
                        "needs --memory as well",
                    ));
                }
                Some(m) if swap < m => {
                    return Err(SpecError::invalid(
                        "--memory-swap",
                        swap.to_string(),
                        "must be at least --memory (it counts memory plus swap)",
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(c) = self.cpus
            && !(c.is_finite() && c > 0.0)
        {
            return Err(SpecError::invalid(
                "--cpus",
                c.to_string(),
                "must be greater than 0",
            ));
        }
        if let Some(s) = self.cpu_shares
            && !(2..=262_144).contains(&s)
        {
            return Err(SpecError::invalid(
                "--cpu-shares",
                s.to_string(),
                "must be between 2 and 262144",
            ));
        }
        if let Some(p) = self.pids_limit
            && p < -1
        {
            return Err(SpecError::invalid(
                "--pids-limit",
                p.to_string(),
                "must be -1 (unlimited) or positive",
            ));
        }
        Ok(())
    }
}

/// `--restart`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    #[default]
    No,
    OnFailure {
        max_retries: Option<u32>,
    },
    Always,
    UnlessStopped,
}

impl FromStr for RestartPolicy {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let bad = |reason: &str| SpecError::invalid("restart policy", s, reason);
        match s.split_once(':') {
            Some(("on-failure", n)) => {
                let n = n
                    .parse::<u32>()
                    .map_err(|_| bad("the retry count must be a non-negative integer"))?;
                Ok(RestartPolicy::OnFailure {
                    max_retries: Some(n),
                })
            }
            Some(_) => Err(bad("only on-failure takes a retry count")),
            None => match s {
                "" | "no" => Ok(RestartPolicy::No),
                "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: None }),
                "always" => Ok(RestartPolicy::Always),
                "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
                _ => Err(bad("expected no, on-failure[:N], always or unless-stopped")),
            },
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::OnFailure { max_retries: None } => f.write_str("on-failure"),
            RestartPolicy::OnFailure {
                max_retries: Some(n),
            } => write!(f, "on-failure:{n}"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

/// A health check, in the image config's shape: `test` is `["CMD", arg...]`,
/// `["CMD-SHELL", script]` or `["NONE"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u32,
}

impl HealthCheck {
    /// Docker's and Podman's defaults around a test.
    pub fn new(test: Vec<String>) -> Self {
        HealthCheck {
            test,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            start_period: Duration::ZERO,
            retries: 3,
        }
    }

    /// Parse `--health-cmd`: a JSON array is an exec form (`CMD` added when missing), `none`
    /// disables the image's check, anything else runs through `/bin/sh -c`.
    pub fn parse_test(cmd: &str) -> Result<Vec<String>, SpecError> {
        let trimmed = cmd.trim();
        if trimmed.is_empty() {
            return Err(SpecError::invalid("--health-cmd", cmd, "empty command"));
        }
        if trimmed.eq_ignore_ascii_case("none") {
            return Ok(vec!["NONE".into()]);
        }
        if trimmed.starts_with('[') {
            let mut args: Vec<String> = serde_json::from_str(trimmed).map_err(|e| {
                SpecError::invalid("--health-cmd", cmd, format!("not a JSON array: {e}"))
            })?;
            match args.first().map(String::as_str) {
                None => Err(SpecError::invalid("--health-cmd", cmd, "empty command")),
                Some("CMD" | "CMD-SHELL" | "NONE") => Ok(args),
                Some(_) => {
                    args.insert(0, "CMD".into());
                    Ok(args)
                }
            }
        } else {
            Ok(vec!["CMD-SHELL".into(), cmd.to_string()])
        }
    }

    /// Whether the check is switched off (`NONE`).
    pub fn is_disabled(&self) -> bool {
        self.test.first().is_some_and(|t| t == "NONE")
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        let shown = self.test.join(" ");
        match self.test.first().map(String::as_str) {
            Some("NONE") => return Ok(()),
            Some("CMD") | Some("CMD-SHELL") if self.test.len() > 1 => {}
            _ => {
                return Err(SpecError::invalid(
                    "health check",
                    shown,
                    "expected CMD, CMD-SHELL or NONE followed by the command",
                ));
            }
        }
        if self.interval.is_zero() {
            return Err(SpecError::invalid(
                "--health-interval",
                "0s",
                "must be positive",
            ));
        }
        if self.timeout.is_zero() {
            return Err(SpecError::invalid(
                "--health-timeout",
                "0s",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// A variable (or, with no key, every key of the Secret under a prefix) taken from a Secret
/// when the container starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretEnv {
    pub namespace: String,
    pub secret: String,
    /// The key; None takes every key (`envFrom`), each named `var` + key.
    pub key: Option<String>,
    /// The variable's name, or the prefix with `envFrom`.
    pub var: String,
    /// A missing Secret or key is skipped rather than an error.
    pub optional: bool,
}

/// The network every container and pod joins unless told otherwise.
pub const DEFAULT_NETWORK: &str = "oxpod";

/// `--network`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// A namespace of its own attached to a bridge network, reachable by name there.
    Bridge {
        network: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        aliases: Vec<String>,
    },
    /// A namespace of its own with only loopback (containers made before networks existed;
    /// or a pod member, whose namespace the pod gives).
    Private,
    /// A namespace with only loopback.
    None,
    /// The host's namespace.
    Host,
    /// An existing namespace (a pod's), by path.
    Pod { netns: PathBuf },
}

impl Default for NetworkMode {
    fn default() -> Self {
        NetworkMode::Bridge {
            network: DEFAULT_NETWORK.to_string(),
            aliases: Vec::new(),
        }
    }
}

impl NetworkMode {
    /// The bridge network joined, if any.
    pub fn bridge(&self) -> Option<&str> {
        match self {
            NetworkMode::Bridge { network, .. } => Some(network),
            _ => None,
        }
    }
}

impl FromStr for NetworkMode {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s {
            "" | "private" | "bridge" | "default" => Ok(NetworkMode::default()),
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            _ => match s.strip_prefix("ns:") {
                Some(path) if Path::new(path).is_absolute() => Ok(NetworkMode::Pod {
                    netns: PathBuf::from(path),
                }),
                Some(_) => Err(SpecError::invalid(
                    "--network",
                    s,
                    "ns: needs an absolute path",
                )),
                None if valid_network_name(s) => Ok(NetworkMode::Bridge {
                    network: s.to_string(),
                    aliases: Vec::new(),
                }),
                None => Err(SpecError::invalid(
                    "--network",
                    s,
                    "expected bridge, none, host, ns:/path or a network name",
                )),
            },
        }
    }
}

/// Network names follow container names: letters, digits, `_`, `.`, `-`, starting with a
/// letter or digit.
pub fn valid_network_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Bridge { network, .. } => f.write_str(network),
            NetworkMode::Private => f.write_str("private"),
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Pod { netns } => write!(f, "ns:{}", netns.display()),
        }
    }
}

/// Existing namespaces to join, by path (a bind-mounted `/proc/PID/ns/*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodNamespaces {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub pid: Option<PathBuf>,
}

/// The resources `--ulimit` can set, by their Docker names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UlimitKind {
    As,
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl UlimitKind {
    /// Each kind with its flag name, OCI type and the row label in `/proc/<pid>/limits`.
    #[rustfmt::skip]
    const TABLE: [(UlimitKind, &'static str, PosixRlimitType, &'static str); 16] = [
        (UlimitKind::As, "as", PosixRlimitType::RlimitAs, "Max address space"),
        (UlimitKind::Core, "core", PosixRlimitType::RlimitCore, "Max core file size"),
        (UlimitKind::Cpu, "cpu", PosixRlimitType::RlimitCpu, "Max cpu time"),
        (UlimitKind::Data, "data", PosixRlimitType::RlimitData, "Max data size"),
        (UlimitKind::Fsize, "fsize", PosixRlimitType::RlimitFsize, "Max file size"),
        (UlimitKind::Locks, "locks", PosixRlimitType::RlimitLocks, "Max file locks"),
        (UlimitKind::Memlock, "memlock", PosixRlimitType::RlimitMemlock, "Max locked memory"),
        (UlimitKind::Msgqueue, "msgqueue", PosixRlimitType::RlimitMsgqueue, "Max msgqueue size"),
        (UlimitKind::Nice, "nice", PosixRlimitType::RlimitNice, "Max nice priority"),
        (UlimitKind::Nofile, "nofile", PosixRlimitType::RlimitNofile, "Max open files"),
        (UlimitKind::Nproc, "nproc", PosixRlimitType::RlimitNproc, "Max processes"),
        (UlimitKind::Rss, "rss", PosixRlimitType::RlimitRss, "Max resident set"),
        (UlimitKind::Rtprio, "rtprio", PosixRlimitType::RlimitRtprio, "Max realtime priority"),
        (UlimitKind::Rttime, "rttime", PosixRlimitType::RlimitRttime, "Max realtime timeout"),
        (UlimitKind::Sigpending, "sigpending", PosixRlimitType::RlimitSigpending, "Max pending signals"),
        (UlimitKind::Stack, "stack", PosixRlimitType::RlimitStack, "Max stack size"),
    ];

    fn row(self) -> &'static (UlimitKind, &'static str, PosixRlimitType, &'static str) {
        Self::TABLE
            .iter()
            .find(|row| row.0 == self)
            .expect("every kind has a row")
    }

    pub fn name(self) -> &'static str {
        self.row().1
    }

    pub fn oci_type(self) -> PosixRlimitType {
        self.row().2
    }

    /// The label of this limit's row in `/proc/self/limits`.
    pub fn proc_label(self) -> &'static str {
        self.row().3
    }

    pub fn all() -> impl Iterator<Item = UlimitKind> {
        Self::TABLE.iter().map(|row| row.0)
    }

    pub fn from_name(name: &str) -> Option<UlimitKind> {
        Self::TABLE
            .iter()
            .find(|row| row.1 == name)
            .map(|row| row.0)
    }
}

/// `RLIM_INFINITY`: what `-1` and `unlimited` mean.
pub const RLIMIT_UNLIMITED: u64 = u64::MAX;

/// One `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub kind: UlimitKind,
    pub soft: u64,
    pub hard: u64,
}

impl Ulimit {
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.soft > self.hard {
            return Err(SpecError::invalid(
                "--ulimit",
                self.to_string(),
                "the soft limit is above the hard limit",
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Ulimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: u64| {
            if v == RLIMIT_UNLIMITED {
                "-1".to_string()
            } else {
                v.to_string()
            }
        };
        write!(
            f,
            "{}={}:{}",
            self.kind.name(),
            show(self.soft),
            show(self.hard)
        )
    }
}

/// One `--add-host` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub name: String,
    pub ip: IpAddr,
}

impl fmt::Display for HostEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.ip)
    }
}

/// Parse `--add-host name:ip` (also `name=ip`; IPv6 may be in brackets).
pub fn parse_add_host(value: &str) -> Result<HostEntry, SpecError> {
    let bad = |reason: &str| SpecError::invalid("--add-host", value, reason);
    let (name, ip) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .ok_or_else(|| bad("expected name:ip"))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = ip.parse().map_err(|_| bad("not an IP address"))?;
    validate_hostname(name).map_err(|_| bad("bad host name"))?;
    Ok(HostEntry {
        name: name.to_string(),
        ip,
    })
}

/// Parse `--dns`.
pub fn parse_dns(value: &str) -> Result<IpAddr, SpecError> {
    value
        .parse()
        .map_err(|_| SpecError::invalid("--dns", value, "not an IP address"))
}

/// Parse a size as Docker does: a number (decimals allowed) with an optional `b`, `k`, `m`,
/// `g`, `t` suffix (optionally followed by `b`), in powers of 1024.
pub fn parse_memory(value: &str) -> Result<i64, SpecError> {
    let bad = |reason: &str| SpecError::invalid("memory size", value, reason);
    let lower = value.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, suffix) = lower.split_at(split);
    if number.is_empty() {
        return Err(bad(
            "expected a number with an optional b, k, m or g suffix",
        ));
    }
    let number: f64 = number.parse().map_err(|_| bad("not a number"))?;
    let shift = match suffix {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad("unknown unit; use b, k, m, g or t")),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(bad("too large"));
    }
    Ok(bytes as i64)
}

/// `--memory-swap`: a size, or `-1` for unlimited swap.
pub fn parse_memory_swap(value: &str) -> Result<i64, SpecError> {
    if value.trim() == "-1" {
        Ok(-1)
    } else {
        parse_memory(value)
    }
}

/// Parse `--cpus` (fractional CPUs, e.g. `1.5`).
pub fn parse_cpus(value: &str) -> Result<f64, SpecError> {
    let cpus: f64 = value
        .trim()
        .parse()
        .map_err(|_| SpecError::invalid("--cpus", value, "not a number"))?;
    if !cpus.is_finite() || cpus <= 0.0 {
        return Err(SpecError::invalid(
            "--cpus",
            value,
            "must be greater than 0",
        ));
    }
    // Below one millicpu the CFS quota would round to nothing.
    if cpus < 0.001 {
        return Err(SpecError::invalid("--cpus", value, "the minimum is 0.001"));
    }
    Ok(cpus)
}

/// Parse `--pids-limit`.
pub fn parse_pids_limit(value: &str) -> Result<i64, SpecError> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| SpecError::invalid("--pids-limit", value, "not an integer"))?;
    if n < -1 {
        return Err(SpecError::invalid(
            "--pids-limit",
            value,
            "must be -1 (unlimited) or positive",
        ));
    }
    Ok(n)
}

/// Parse a Go-style duration as `--health-interval` takes it: `30s`, `1m30s`, `500ms`,
/// `1.5h`; a bare number is seconds.
pub fn parse_duration(value: &str) -> Result<Duration, SpecError> {
    let bad = |reason: &str| SpecError::invalid("duration", value, reason);
    let s = value.trim();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| bad("a number needs a unit (ns, us, ms, s, m, h)"))?;
        if num_end == 0 {
            return Err(bad("expected a number"));
        }
        let number: f64 = rest[..num_end].parse().map_err(|_| bad("not a number"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad("unknown unit; use ns, us, ms, s, m or h")),
        };
        total += number * nanos_per_unit;
        rest = &rest[unit_end..];
    }
    if !total.is_finite() || total >= u64::MAX as f64 {
        return Err(bad("too large"));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Parse a signal as `--stop-signal` and `kill -s` take it: `SIGTERM`, `TERM`, `term`, `15`.
pub fn parse_signal(value: &str) -> Result<Signal, SpecError> {
    let bad = || SpecError::invalid("signal", value, "not a signal name or number");
    let s = value.trim();
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| bad())
}

/// Parse `--ulimit name=soft[:hard]`; `-1` or `unlimited` means no limit.
pub fn parse_ulimit(value: &str) -> Result<Ulimit, SpecError> {
    let bad = |reason: String| SpecError::invalid("--ulimit", value, reason);
    let (name, limits) = value
        .split_once('=')
        .ok_or_else(|| bad("expected name=soft[:hard]".into()))?;
    let kind = UlimitKind::from_name(name.trim())
        .ok_or_else(|| bad(format!("unknown resource \"{name}\"")))?;
    let number = |s: &str| -> Result<u64, SpecError> {
        match s.trim() {
            "-1" | "unlimited" => Ok(RLIMIT_UNLIMITED),
            n => n
                .parse::<u64>()
                .map_err(|_| bad(format!("\"{n}\" is not a limit"))),
        }
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((s, h)) => (number(s)?, number(h)?),
        None => {
            let v = number(limits)?;
            (v, v)
        }
    };
    let ulimit = Ulimit { kind, soft, hard };
    ulimit.validate()?;
    Ok(ulimit)
}

/// Parse `-v`/`--volume`: `SRC:DST[:OPTS]` (an absolute or `./` SRC is a bind mount, a
/// name is a named volume), `DST[:OPTS]` (an anonymous volume). Options: `ro`, `rw`, `z`,
/// `Z` (SELinux relabel; accepted, no effect here), `U` (chown to the container user).
pub fn parse_volume_flag(value: &str) -> Result<MountSpec, SpecError> {
    let bad = |reason: String| SpecError::invalid("-v", value, reason);
    let parts: Vec<&str> = value.split(':').collect();
    let (source, destination, options) = match parts.as_slice() {
        [dst] => (None, *dst, None),
        [first, second] if !second.starts_with('/') => (None, *first, Some(*second)),
        [src, dst] => (Some(*src), *dst, None),
        [src, dst, opts] => (Some(*src), *dst, Some(*opts)),
        _ => return Err(bad("expected [SOURCE:]DESTINATION[:OPTIONS]".into())),
    };
    if destination.is_empty() || !destination.starts_with('/') {
        return Err(bad(format!(
            "the destination \"{destination}\" must be an absolute path"
        )));
    }
    let kind = match source {
        None => MountKind::Anonymous,
        Some("") => return Err(bad("the source is empty".into())),
        Some(src) if src.starts_with('/') || src.starts_with('.') => MountKind::Bind {
            source: absolute_host_path(src),
        },
        Some(name) => {
            validate_volume_name(name).map_err(|_| {
                bad(format!(
                    "\"{name}\" is neither an absolute path nor a volume name \
                     (letters, digits, _ . -)"
                ))
            })?;
            MountKind::Volume {
                name: name.to_string(),
            }
        }
    };
    let mut mount = MountSpec {
        destination: PathBuf::from(destination),
        kind,
        read_only: false,
        chown: false,
    };
    let mut ro_rw_seen = false;
    for opt in options.into_iter().flat_map(|o| o.split(',')) {
        match opt {
            "ro" | "rw" if ro_rw_seen => return Err(bad("ro/rw given more than once".into())),
            "ro" | "rw" => {
                ro_rw_seen = true;
                mount.read_only = opt == "ro";
            }
            "z" | "Z" => {}
            "U" => mount.chown = true,
            other => return Err(bad(format!("unsupported option \"{other}\""))),
        }
    }
    Ok(mount)
}

/// Parse `--mount type=bind|volume|tmpfs,source=..,destination=..[,readonly][,tmpfs-size=..]
/// [,tmpfs-mode=..]`. The type defaults to `volume`, as in Docker.
pub fn parse_mount_flag(value: &str) -> Result<MountSpec, SpecError> {
    let bad = |reason: String| SpecError::invalid("--mount", value, reason);
    let mut kind = "volume".to_string();
    let mut source: Option<String> = None;
    let mut destination: Option<String> = None;
    let mut read_only = false;
    let mut chown = false;
    let mut size = None;
    let mut mode = None;
    for field in value.split(',').filter(|f| !f.is_empty()) {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        let flag = |v: Option<&str>| -> Result<bool, SpecError> {
            match v {
                None | Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                Some(other) => Err(bad(format!("{key}={other}: expected true or false"))),
            }
        };
        let needs_value = || val.ok_or_else(|| bad(format!("\"{key}\" needs a value")));
        match key {
            "type" => kind = needs_value()?.to_string(),
            "source" | "src" => source = Some(needs_value()?.to_string()),
            "destination" | "target" | "dst" => destination = Some(needs_value()?.to_string()),
            "readonly" | "ro" => read_only = flag(val)?,
            "rw" => read_only = !flag(val)?,
            "U" | "chown" => chown = flag(val)?,
            "z" | "Z" | "relabel" => {}
            "tmpfs-size" => size = Some(parse_memory(needs_value()?)? as u64),
            "tmpfs-mode" => mode = Some(parse_octal_mode(needs_value()?)?),
            other => return Err(bad(format!("unsupported option \"{other}\""))),
        }
    }
    let destination = destination.ok_or_else(|| bad("no destination (target=...)".into()))?;
    if !destination.starts_with('/') {
        return Err(bad(format!(
            "the destination \"{destination}\" must be an absolute path"
        )));
    }
    if kind != "tmpfs" && (size.is_some() || mode.is_some()) {
        return Err(bad("tmpfs-size and tmpfs-mode need type=tmpfs".into()));
    }
    let kind = match kind.as_str() {
        "bind" => {
            let src = source.ok_or_else(|| bad("a bind mount needs source=...".into()))?;
            if !(src.starts_with('/') || src.starts_with('.')) {
                return Err(bad(format!("the bind source \"{src}\" must be a path")));
            }
            MountKind::Bind {
                source: absolute_host_path(&src),
            }
        }
        "volume" => match source {
            None => MountKind::Anonymous,
            Some(name) => {
                validate_volume_name(&name)
                    .map_err(|_| bad(format!("\"{name}\" is not a volume name")))?;
                MountKind::Volume { name }
            }
        },
        "tmpfs" => {
            if source.is_some() {
                return Err(bad("a tmpfs mount takes no source".into()));
            }
            MountKind::Tmpfs {
                size,
                mode,
                flags: Vec::new(),
            }
        }
        other => {
            return Err(bad(format!(
                "unsupported type \"{other}\" (bind, volume or tmpfs)"
            )));
        }
    };
    Ok(MountSpec {
        destination: PathBuf::from(destination),
        kind,
        read_only,
        chown,
    })
}

/// Mount flags `--tmpfs` accepts besides `size`, `mode`, `ro` and `rw`.
const TMPFS_FLAGS: &[&str] = &["exec", "noexec", "suid", "nosuid", "dev", "nodev"];

/// Parse `--tmpfs /dst[:size=64m,mode=1777,ro,exec,...]`.
pub fn parse_tmpfs_flag(value: &str) -> Result<MountSpec, SpecError> {
    let bad = |reason: String| SpecError::invalid("--tmpfs", value, reason);
    let (destination, options) = match value.split_once(':') {
        Some((d, o)) => (d, o),
        None => (value, ""),
    };
    if !destination.starts_with('/') {
        return Err(bad(format!(
            "the destination \"{destination}\" must be an absolute path"
        )));
    }
    let mut size = None;
    let mut mode = None;
    let mut flags = Vec::new();
    let mut read_only = false;
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", v)) => size = Some(parse_memory(v)? as u64),
            Some(("mode", v)) => mode = Some(parse_octal_mode(v)?),
            None if opt == "ro" || opt == "rw" => read_only = opt == "ro",
            None if TMPFS_FLAGS.contains(&opt) => flags.push(opt.to_string()),
            _ => return Err(bad(format!("unsupported option \"{opt}\""))),
        }
    }
    Ok(MountSpec {
        destination: PathBuf::from(destination),
        kind: MountKind::Tmpfs { size, mode, flags },
        read_only,
        chown: false,
    })
}

fn parse_octal_mode(value: &str) -> Result<u32, SpecError> {
    let mode = u32::from_str_radix(value, 8)
        .map_err(|_| SpecError::invalid("mode", value, "expected an octal file mode"))?;
    if mode > 0o7777 {
        return Err(SpecError::invalid(
            "mode",
            value,
            "expected an octal file mode",
        ));
    }
    Ok(mode)
}

/// Expand one `-e` value: `KEY=VAL` as is, a bare `KEY` takes its value from `lookup` (the
/// caller's environment) and is dropped when unset, as Docker does.
pub fn parse_env_flag(
    value: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, SpecError> {
    let (key, val) = match value.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (value, None),
    };
    if key.is_empty() {
        return Err(SpecError::invalid(
            "environment variable",
            value,
            "the name is empty",
        ));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(SpecError::invalid(
            "environment variable",
            value,
            "the name contains whitespace",
        ));
    }
    Ok(val.or_else(|| lookup(key)).map(|v| format!("{key}={v}")))
}

/// Parse the text of an `--env-file`: `KEY=VAL` lines, `#` comments and blank lines
/// skipped, a bare `KEY` taking its value from `lookup`. Values are kept verbatim (quotes
/// included), as Docker does.
pub fn parse_env_file(
    content: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SpecError> {
    let mut out = Vec::new();
    for (n, line) in content.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = if line.contains('=') {
            line
        } else {
            line.trim_end()
        };
        match parse_env_flag(line, &lookup) {
            Ok(Some(entry)) => out.push(entry),
            Ok(None) => {}
            Err(SpecError::Invalid { value, reason, .. }) => {
                return Err(SpecError::invalid(
                    "env file line",
                    value,
                    format!("line {}: {reason}", n + 1),
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Read and parse an `--env-file`, taking bare keys from this process's environment.
pub fn read_env_file(path: &Path) -> Result<Vec<String>, SpecError> {
    let content = std::fs::read_to_string(path).map_err(|e| SpecError::io(path, e))?;
    parse_env_file(&content, |k| std::env::var(k).ok()).map_err(|e| match e {
        SpecError::Invalid {
            what,
            value,
            reason,
        } => SpecError::invalid(what, value, format!("{} {reason}", path.display())),
        other => other,
    })
}

/// A capability name as `--cap-add` takes it, in the runtime spec's type; `None` for `ALL`.
pub fn parse_capability_name(
    name: &str,
) -> Result<Option<oci_spec::runtime::Capability>, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    oci_spec::runtime::Capability::from_str(bare)
        .map(Some)
        .map_err(|_| SpecError::invalid("capability", name, "unknown capability"))
}

/// Container and volume names: Docker's rule, a letter or digit then letters, digits, `_`,
/// `.`, `-`.
fn valid_object_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn validate_name(name: &str) -> Result<(), SpecError> {
    if valid_object_name(name) {
        Ok(())
    } else {
        Err(SpecError::invalid(
            "container name",
            name,
            "use letters, digits, _ . - and start with a letter or digit",
        ))
    }
}

fn validate_volume_name(name: &str) -> Result<(), SpecError> {
    if valid_object_name(name) {
        Ok(())
    } else {
        Err(SpecError::invalid(
            "volume name",
            name,
            "use letters, digits, _ . - and start with a letter or digit",
        ))
    }
}

fn validate_hostname(name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(SpecError::invalid(
            "hostname",
            name,
            "use at most 64 letters, digits, - and . (not at either end)",
        ))
    }
}

fn validate_env_entry(entry: &str) -> Result<(), SpecError> {
    match entry.split_once('=') {
        Some((key, _)) if !key.is_empty() && !key.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(SpecError::invalid(
            "environment variable",
            entry,
            "expected KEY=VALUE",
        )),
    }
}

fn require_absolute(what: &'static str, path: &Path) -> Result<(), SpecError> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(SpecError::invalid(
            what,
            path.display().to_string(),
            "must be an absolute path",
        ))
    }
}

/// Make a `./relative` host path absolute against the current directory, and tidy it.
fn absolute_host_path(path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        normalize(p)
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        normalize(&cwd.join(p))
    }
}

/// Lexically clean an absolute path: drop `.` and empty parts, apply `..` (never above `/`).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Signals are stored by name (`"SIGTERM"`), which stays readable and portable.
mod signal_name {
    use nix::sys::signal::Signal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &Signal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(sig.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signal, D::Error> {
        let name = String::deserialize(d)?;
        super::parse_signal(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1024 * 1024;

    #[test]
    fn memory_sizes_as_docker() {
        assert_eq!(parse_memory("512m").unwrap(), 512 * MIB);
        assert_eq!(parse_memory("512M").unwrap(), 512 * MIB);
        assert_eq!(parse_memory("1g").unwrap(), 1024 * MIB);
        assert_eq!(parse_memory("1.5g").unwrap(), 1536 * MIB);
        assert_eq!(parse_memory("64k").unwrap(), 64 * 1024);
        assert_eq!(parse_memory("100").unwrap(), 100);
        assert_eq!(parse_memory("100b").unwrap(), 100);
        assert_eq!(parse_memory("2mb").unwrap(), 2 * MIB);
        for bad in ["", "m", "12x", "-1", "1..5m", "1e400g"] {
            let err = parse_memory(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
        }
        assert_eq!(parse_memory_swap("-1").unwrap(), -1);
    }

    #[test]
    fn cpus_and_pids() {
        assert_eq!(parse_cpus("1.5").unwrap(), 1.5);
        assert_eq!(parse_cpus("2").unwrap(), 2.0);
        for bad in ["0", "-1", "abc", "NaN", "inf", "0.0001"] {
            assert!(parse_cpus(bad).unwrap_err().to_string().contains(bad));
        }
        assert_eq!(parse_pids_limit("-1").unwrap(), -1);
        assert_eq!(parse_pids_limit("100").unwrap(), 100);
        assert!(parse_pids_limit("-2").is_err());
    }

    #[test]
    fn restart_policies_round_trip() {
        for s in [
            "no",
            "on-failure",
            "on-failure:5",
            "always",
            "unless-stopped",
        ] {
            let p: RestartPolicy = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
        }
        assert_eq!(
            "on-failure:3".parse::<RestartPolicy>().unwrap(),
            RestartPolicy::OnFailure {
                max_retries: Some(3)
            }
        );
        for bad in ["sometimes", "always:3", "on-failure:x", "on-failure:-1"] {
            let err = bad.parse::<RestartPolicy>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("kill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("15").unwrap(), Signal::SIGTERM);
        assert!(parse_signal("SIGRTMIN").is_err());
        let err = parse_signal("SIGFOO").unwrap_err().to_string();
        assert!(err.contains("SIGFOO"), "{err}");
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn durations_go_style() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        for bad in ["", "s", "10x", "1.5", "m5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ulimits() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.kind, u.soft, u.hard), (UlimitKind::Nofile, 1024, 2048));
        let u = parse_ulimit("nproc=100").unwrap();
        assert_eq!((u.soft, u.hard), (100, 100));
        let u = parse_ulimit("core=-1").unwrap();
        assert_eq!(u.hard, RLIMIT_UNLIMITED);
        assert_eq!(u.to_string(), "core=-1:-1");
        let err = parse_ulimit("nofile=2048:1024").unwrap_err().to_string();
        assert!(err.contains("soft limit is above"), "{err}");
        let err = parse_ulimit("bogus=1").unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
        assert!(parse_ulimit("nofile").is_err());
        assert!(parse_ulimit("nofile=abc").is_err());
        assert_eq!(UlimitKind::Nofile.oci_type(), PosixRlimitType::RlimitNofile);
        assert_eq!(UlimitKind::all().count(), 16);
    }

    #[test]
    fn volume_flags() {
        let m = parse_volume_flag("/srv/data:/data:ro").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Bind {
                source: "/srv/data".into()
            }
        );
        assert_eq!(m.destination, Path::new("/data"));
        assert!(m.read_only);

        let m = parse_volume_flag("cache:/var/cache:rw,z,U").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Volume {
                name: "cache".into()
            }
        );
        assert!(!m.read_only && m.chown);

        let m = parse_volume_flag("/data").unwrap();
        assert_eq!(m.kind, MountKind::Anonymous);
        let m = parse_volume_flag("/data:ro").unwrap();
        assert_eq!(m.kind, MountKind::Anonymous);
        assert!(m.read_only);

        let m = parse_volume_flag("./rel:/x").unwrap();
        match m.kind {
            MountKind::Bind { source } => {
                assert!(source.is_absolute() && source.ends_with("rel"))
            }
            other => panic!("{other:?}"),
        }

        for (bad, needle) in [
            ("data", "absolute"),
            ("/a:data", "unsupported option"),
            ("/a:/b:bogus", "bogus"),
            ("/a:/b:ro,rw", "more than once"),
            ("bad name!:/b", "bad name!"),
            ("/a:/b:ro:x", "expected"),
            (":/b", "empty"),
        ] {
            let err = parse_volume_flag(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn mount_flags() {
        let m = parse_mount_flag("type=bind,source=/src,target=/dst,readonly").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Bind {
                source: "/src".into()
            }
        );
        assert_eq!(m.destination, Path::new("/dst"));
        assert!(m.read_only);

        let m = parse_mount_flag("type=volume,src=vol1,dst=/v").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Volume {
                name: "vol1".into()
            }
        );
        assert!(!m.read_only);

        let m = parse_mount_flag("destination=/anon").unwrap();
        assert_eq!(m.kind, MountKind::Anonymous);

        let m =
            parse_mount_flag("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1777").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Tmpfs {
                size: Some(64 * MIB as u64),
                mode: Some(0o1777),
                flags: vec![]
            }
        );

        let m = parse_mount_flag("type=bind,src=/a,dst=/b,readonly=false").unwrap();
        assert!(!m.read_only);

        for (bad, needle) in [
            ("type=bind,target=/x", "needs source"),
            ("type=nfs,target=/x", "nfs"),
            ("type=volume,source=v", "no destination"),
            ("type=tmpfs,source=x,target=/t", "no source"),
            (
                "type=bind,source=/a,target=/b,bind-propagation=rshared",
                "bind-propagation",
            ),
            ("type=bind,source=/a,target=rel", "absolute"),
            ("type=volume,target=/t,tmpfs-size=1m", "need type=tmpfs"),
            ("type=tmpfs,target=/t,tmpfs-mode=999", "999"),
        ] {
            let err = parse_mount_flag(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn tmpfs_flags() {
        let m = parse_tmpfs_flag("/run:size=64m,mode=1777").unwrap();
        assert_eq!(m.destination, Path::new("/run"));
        assert_eq!(
            m.kind,
            MountKind::Tmpfs {
                size: Some(64 * MIB as u64),
                mode: Some(0o1777),
                flags: vec![]
            }
        );
        let m = parse_tmpfs_flag("/tmp:exec,ro").unwrap();
        assert!(m.read_only);
        assert!(matches!(m.kind, MountKind::Tmpfs { ref flags, .. } if flags == &["exec"]));
        assert_eq!(
            parse_tmpfs_flag("/x").unwrap().kind,
            MountKind::Tmpfs {
                size: None,
                mode: None,
                flags: vec![]
            }
        );
        for bad in ["tmp", "/t:size=lots", "/t:mode=8", "/t:weird"] {
            assert!(parse_tmpfs_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_flags_and_files() {
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "host value".to_string());
        assert_eq!(parse_env_flag("A=1", lookup).unwrap(), Some("A=1".into()));
        assert_eq!(parse_env_flag("A=", lookup).unwrap(), Some("A=".into()));
        assert_eq!(
            parse_env_flag("FROM_HOST", lookup).unwrap(),
            Some("FROM_HOST=host value".into())
        );
        assert_eq!(parse_env_flag("UNSET", lookup).unwrap(), None);
        assert!(parse_env_flag("=x", lookup).is_err());

        let file = "# comment\n\nA=1\n  B=two words\nFROM_HOST\nUNSET\nC=\"quoted\"\nD=x=y\n";
        assert_eq!(
            parse_env_file(file, lookup).unwrap(),
            vec![
                "A=1",
                "B=two words",
                "FROM_HOST=host value",
                "C=\"quoted\"",
                "D=x=y"
            ]
        );
        let err = parse_env_file("A=1\nBAD KEY=1\n", lookup)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("BAD KEY"), "{err}");
    }

    #[test]
    fn env_file_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env");
        std::fs::write(&path, "X=1\n").unwrap();
        assert_eq!(read_env_file(&path).unwrap(), vec!["X=1"]);
        let err = read_env_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn health_commands() {
        assert_eq!(
            HealthCheck::parse_test("curl -f http://localhost").unwrap(),
            vec!["CMD-SHELL", "curl -f http://localhost"]
        );
        assert_eq!(
            HealthCheck::parse_test(r#"["/bin/check", "-v"]"#).unwrap(),
            vec!["CMD", "/bin/check", "-v"]
        );
        assert_eq!(
            HealthCheck::parse_test(r#"["CMD-SHELL", "exit 0"]"#).unwrap(),
            vec!["CMD-SHELL", "exit 0"]
        );
        assert_eq!(HealthCheck::parse_test("none").unwrap(), vec!["NONE"]);
        assert!(HealthCheck::parse_test("[broken").is_err());
        assert!(HealthCheck::parse_test(" ").is_err());

        let hc = HealthCheck::new(vec!["CMD".into(), "true".into()]);
        assert!(hc.validate().is_ok());
        assert_eq!(hc.retries, 3);
        assert!(HealthCheck::new(vec!["CMD".into()]).validate().is_err());
        assert!(HealthCheck::new(vec!["NONE".into()]).is_disabled());
    }

    #[test]
    fn networks_and_hosts() {
        assert_eq!("host".parse::<NetworkMode>().unwrap(), NetworkMode::Host);
        assert_eq!("none".parse::<NetworkMode>().unwrap(), NetworkMode::None);
        assert_eq!(
            "ns:/run/netns/p1".parse::<NetworkMode>().unwrap(),
            NetworkMode::Pod {
                netns: "/run/netns/p1".into()
            }
        );
        assert!("ns:relative".parse::<NetworkMode>().is_err());
        assert!("sl/irp".parse::<NetworkMode>().is_err());
        assert!("ns:relative".parse::<NetworkMode>().is_err());
        assert_eq!(
            "bridge".parse::<NetworkMode>().unwrap(),
            NetworkMode::default()
        );
        assert_eq!(
            "backend".parse::<NetworkMode>().unwrap().bridge(),
            Some("backend")
        );

        let h = parse_add_host("db:10.0.0.5").unwrap();
        assert_eq!(
            (h.name.as_str(), h.ip.to_string().as_str()),
            ("db", "10.0.0.5")
        );
        let h = parse_add_host("v6:[fe80::1]").unwrap();
        assert_eq!(h.ip.to_string(), "fe80::1");
        let h = parse_add_host("v6:fe80::1").unwrap();
        assert_eq!(h.ip.to_string(), "fe80::1");
        assert!(parse_add_host("db").is_err());
        assert!(parse_add_host("db:not-an-ip").is_err());
        assert!(parse_dns("1.1.1.1").is_ok());
        assert!(parse_dns("one").is_err());
    }

    #[test]
    fn capability_names() {
        use oci_spec::runtime::Capability;
        assert_eq!(
            parse_capability_name("net_admin").unwrap(),
            Some(Capability::NetAdmin)
        );
        assert_eq!(
            parse_capability_name("CAP_SYS_ADMIN").unwrap(),
            Some(Capability::SysAdmin)
        );
        assert_eq!(parse_capability_name("all").unwrap(), None);
        let err = parse_capability_name("CAP_FLY").unwrap_err().to_string();
        assert!(err.contains("CAP_FLY"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_value() {
        let ok = ContainerSpec::new("web-1", "busybox");
        ok.validate().unwrap();

        let mut s = ok.clone();
        s.name = "-bad".into();
        assert!(s.validate().unwrap_err().to_string().contains("-bad"));

        let mut s = ok.clone();
        s.workdir = Some("relative".into());
        assert!(s.validate().unwrap_err().to_string().contains("relative"));

        let mut s = ok.clone();
        s.mounts = vec![
            parse_volume_flag("/a:/data").unwrap(),
            parse_volume_flag("/b:/data/").unwrap(),
        ];
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("more than one mount")
        );

        let mut s = ok.clone();
        s.resources.memory = Some(1024);
        assert!(s.validate().unwrap_err().to_string().contains("1024"));

        let mut s = ok.clone();
        s.resources.memory = Some(64 * MIB);
        s.resources.memory_swap = Some(32 * MIB);
        assert!(s.validate().is_err());
        s.resources.memory_swap = Some(-1);
        s.validate().unwrap();

        let mut s = ok.clone();
        s.cap_add = vec!["FLY".into()];
        assert!(s.validate().unwrap_err().to_string().contains("FLY"));

        let mut s = ok.clone();
        s.env = vec!["NOEQUALS".into()];
        assert!(s.validate().unwrap_err().to_string().contains("NOEQUALS"));

        let mut s = ok.clone();
        s.user = Some("1000:".into());
        assert!(s.validate().is_err());

        let mut s = ok.clone();
        s.network = NetworkMode::Host;
        s.namespaces_from_pod = Some(PodNamespaces {
            net: Some("/run/netns/x".into()),
            ..Default::default()
        });
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("/run/netns/x")
        );

        let mut s = ok.clone();
        s.ulimits = vec![
            parse_ulimit("nofile=10").unwrap(),
            parse_ulimit("nofile=20").unwrap(),
        ];
        assert!(s.validate().unwrap_err().to_string().contains("nofile"));
    }

    #[test]
    fn spec_json_round_trip() {
        let mut s = ContainerSpec::new("c", "busybox");
        s.stop_signal = Signal::SIGINT;
        s.restart = RestartPolicy::OnFailure {
            max_retries: Some(2),
        };
        s.mounts.push(parse_tmpfs_flag("/run:size=1m").unwrap());
        s.mounts.push(parse_volume_flag("v:/v").unwrap());
        s.healthcheck = Some(HealthCheck::new(vec!["CMD".into(), "true".into()]));
        s.ulimits.push(parse_ulimit("nofile=10:20").unwrap());
        s.seccomp = Seccomp::Profile("/etc/p.json".into());
        s.network = NetworkMode::Pod {
            netns: "/run/netns/p".into(),
        };
        s.resources.cpus = Some(0.5);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"SIGINT\""), "{json}");
        let back: ContainerSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);

        // Rows written before a field existed still load, with its default.
        let old: ContainerSpec = serde_json::from_str(r#"{"name":"x","image":"y"}"#).unwrap();
        assert_eq!(old.stop_timeout, DEFAULT_STOP_TIMEOUT);
        assert_eq!(old.stop_signal, Signal::SIGTERM);
    }

    #[test]
    fn hostname_defaults_to_short_id() {
        let s = ContainerSpec::new("c", "i");
        assert_eq!(s.effective_hostname("0123456789abcdef"), "0123456789ab");
        let mut s = s;
        s.hostname = Some("web".into());
        assert_eq!(s.effective_hostname("0123456789abcdef"), "web");
    }

    #[test]
    fn seccomp_option() {
        assert_eq!(
            "unconfined".parse::<Seccomp>().unwrap(),
            Seccomp::Unconfined
        );
        assert_eq!(
            "/p.json".parse::<Seccomp>().unwrap(),
            Seccomp::Profile("/p.json".into())
        );
    }
}
