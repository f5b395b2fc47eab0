//! Sandboxes: the network side of a pod or of a lone container. A sandbox is a set of
//! namespaces held open by bind mounts under the runtime dir, an address leased on a bridge
//! network with a veth into it, and a port proxy when ports are published. Setting one up
//! either completes or is undone; tearing one down is idempotent, so any command can finish
//! what a killed one left.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::networks::Network;
use super::{Engine, EngineError, Result, io_err};
use crate::network::hosts::{self, Peer};
use crate::network::ports::PortMapping;
use crate::network::sandbox::{self as netns, Attachment, NamespacePaths};
use crate::spec::{self, HostEntry, NetworkMode};
use crate::state::SandboxRecord;
use crate::state::networks::write;
use crate::sys::process;

/// What a sandbox is made of.
pub(crate) struct SandboxPlan<'a> {
    pub owner: &'a str,
    /// Where its namespace files and generated `/etc` files live.
    pub dir: PathBuf,
    pub network: &'a NetworkMode,
    pub ipc: bool,
    pub uts: bool,
    /// A shared PID namespace, which needs a live PID 1 (the infra process).
    pub pid: bool,
    pub hostname: &'a str,
    pub publish: &'a [PortMapping],
    pub add_hosts: &'a [HostEntry],
    pub dns: &'a [IpAddr],
    pub dns_search: &'a [String],
}

/// The namespace files of a sandbox directory.
pub(crate) fn namespace_paths(dir: &Path, net: bool, ipc: bool, uts: bool) -> NamespacePaths {
    let ns = dir.join("ns");
    NamespacePaths {
        net: net.then(|| ns.join("net")),
        ipc: ipc.then(|| ns.join("ipc")),
        uts: uts.then(|| ns.join("uts")),
    }
}

/// Where a sandbox holds its shared PID namespace.
pub(crate) fn pid_namespace_path(dir: &Path) -> PathBuf {
    dir.join("ns").join("pid")
}

/// True when `path` is a bind-mounted namespace (not a leftover empty file).
fn is_namespace(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// A member of a network as the hosts files need it.
struct Member {
    ip: IpAddr,
    names: Vec<String>,
    /// Its hosts file and own lines; a Service (a virtual IP) has none.
    hosts: Option<(PathBuf, String)>,
}

impl Engine {
    pub(crate) fn pod_dir(&self, pod_id: &str) -> PathBuf {
        self.paths.runroot.join("pods").join(pod_id)
    }

    /// Make the sandbox unless it is there and whole; restart its port proxy if that died.
    pub(crate) fn ensure_sandbox(&mut self, plan: &SandboxPlan) -> Result<()> {
        let wants_net = !matches!(plan.network, NetworkMode::Host);
        let paths = namespace_paths(&plan.dir, wants_net, plan.ipc, plan.uts);
        if let Some(existing) = self.store.sandbox(plan.owner)? {
            let whole = [&paths.net, &paths.ipc, &paths.uts]
                .into_iter()
                .flatten()
                .all(|p| is_namespace(p))
                && (!plan.pid
                    || (is_namespace(&pid_namespace_path(&plan.dir))
                        && live(existing.infra_pid, existing.infra_start).is_some()));
            if whole {
                if !plan.publish.is_empty()
                    && live(existing.proxy_pid, existing.proxy_start).is_none()
                {
                    let net = paths
                        .net
                        .clone()
                        .expect("publishing needs a network namespace");
                    let ip = existing.ip.as_deref().and_then(|ip| ip.parse().ok());
                    self.start_proxy(plan.owner, &net, plan.publish, ip)?;
                }
                return Ok(());
            }
            // Half there (a killed command, or a reboot emptied the runtime dir): redo it.
            self.teardown_sandbox(plan.owner, &plan.dir);
        }
        self.setup_sandbox(plan, &paths)
    }

    fn setup_sandbox(&mut self, plan: &SandboxPlan, paths: &NamespacePaths) -> Result<()> {
        let network = match plan.network {
            NetworkMode::Bridge { network, .. } => Some(self.find_network(network)?),
            _ => None,
        };
        if let Some(n) = &network {
            self.ensure_network_ready(n)?;
        }
        // A fresh name each time: the kernel deletes a released veth asynchronously, so the
        // previous one of this owner may still exist for a few milliseconds.
        let veth = network
            .as_ref()
            .map(|_| netns::veth_name(&super::containers::random_hex(6)));
        let db = self.paths.root.join("state.db");
        let record = self.store.write(|tx| -> Result<SandboxRecord> {
            let ip = match &network {
                Some(n) => Some(lease(tx, n, &db)?),
                None => None,
            };
            let record = SandboxRecord {
                owner: plan.owner.to_string(),
                network: network.as_ref().map(|n| n.record.name.clone()),
                ip: ip.map(|ip| ip.to_string()),
                veth: veth.clone(),
                ..SandboxRecord::default()
            };
            write::put_sandbox(tx, &record)?;
            Ok(record)
        })?;
        let made = self.build_sandbox(plan, paths, network.as_ref(), &record);
        if let Err(e) = made {
            self.teardown_sandbox(plan.owner, &plan.dir);
            return Err(e);
        }
        if let Some(n) = &network {
            self.refresh_hosts(&n.record.name);
        }
        Ok(())
    }

    fn build_sandbox(
        &mut self,
        plan: &SandboxPlan,
        paths: &NamespacePaths,
        network: Option<&Network>,
        record: &SandboxRecord,
    ) -> Result<()> {
        std::fs::create_dir_all(&plan.dir).map_err(io_err(&plan.dir))?;
        let ip: Option<Ipv4Addr> = record.ip.as_deref().and_then(|ip| ip.parse().ok());
        // The generated /etc files come first: the hosts file must exist before a refresh.
        let base = spec::hosts_file(
            plan.hostname,
            &[],
            ip.map(IpAddr::V4),
            plan.add_hosts,
            matches!(plan.network, NetworkMode::Host)
                .then(|| std::fs::read_to_string("/etc/hosts").ok())
                .flatten()
                .as_deref(),
        );
        let hosts_path = plan.dir.join("hosts");
        hosts::rewrite_in_place(&hosts_path, &base).map_err(io_err(&hosts_path))?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let resolv = spec::resolv_conf(
            &host_resolv,
            plan.dns,
            plan.dns_search,
            matches!(plan.network, NetworkMode::Host),
        );
        for (name, content) in [
            ("resolv.conf", resolv),
            ("hostname", spec::hostname_file(plan.hostname)),
        ] {
            let path = plan.dir.join(name);
            crate::sys::fs::write_replace(&path, content.as_bytes(), 0o644)
                .map_err(io_err(&path))?;
        }
        netns::create_namespaces(paths, plan.uts.then_some(plan.hostname))
            .map_err(|e| EngineError::Invalid(format!("creating namespaces: {e}")))?;
        if let (Some(n), Some(ip), Some(net), Some(veth)) = (network, ip, &paths.net, &record.veth)
        {
            netns::attach(
                net,
                &Attachment {
                    bridge: &n.record.bridge,
                    host_veth: veth,
                    ip,
                    subnet: n.subnet,
                    gateway: n.gateway,
                },
            )
            .map_err(|e| EngineError::Invalid(format!("network {}: {e}", n.record.name)))?;
        }
        if plan.pid {
            self.start_infra(plan.owner, &plan.dir)?;
        }
        if !plan.publish.is_empty() {
            let net = paths.net.as_ref().ok_or_else(|| {
                EngineError::Invalid("publishing ports needs a network namespace".into())
            })?;
            self.start_proxy(plan.owner, net, plan.publish, ip)?;
        }
        Ok(())
    }

    /// Undo a sandbox: proxy, veth, namespaces, lease, then the other members' hosts files.
    /// Best effort and idempotent.
    pub(crate) fn teardown_sandbox(&mut self, owner: &str, dir: &Path) {
        let record = self.store.sandbox(owner).ok().flatten();
        let veth = record.as_ref().and_then(|r| r.veth.clone());
        if let Some(r) = &record {
            stop_process(r.proxy_pid, r.proxy_start);
            // PID 1 of a namespace ignores SIGTERM it has no handler for; it holds nothing.
            if let Some(pid) = live(r.infra_pid, r.infra_start) {
                let _ = process::signal(pid, Signal::SIGKILL);
                let _ = process::wait_for_exit(pid, Some(Duration::from_secs(2)));
            }
            if let Some(veth) = &veth
                && let Err(e) = netns::release_veth(veth)
            {
                tracing::warn!("{e}");
            }
        }
        if let Err(e) = netns::release_namespace(&pid_namespace_path(dir)) {
            tracing::warn!("{e}");
        }
        // Once the namespace is unmounted (and its processes are gone) the kernel deletes
        // the veth pair; if it cannot be unmounted, delete the veth here, slowly but surely.
        if let Err(e) = netns::remove_namespaces(&namespace_paths(dir, true, true, true)) {
            tracing::warn!("removing the namespaces of {owner}: {e}");
            if let Some(veth) = &veth
                && let Err(e) = netns::detach(veth)
            {
                tracing::warn!("removing veth {veth}: {e}");
            }
        }
        if let Some(r) = &record
            && let (Some(network), Some(ip)) = (&r.network, &r.ip)
            && let Ok(n) = self.find_network(network)
        {
            host_release(&n.record.bridge, ip, &self.paths.root.join("state.db"));
        }
        if record.is_some() {
            if let Err(e) = self.store.write(|tx| write::remove_sandbox(tx, owner)) {
                tracing::warn!("releasing the address of {owner}: {e}");
            }
            if let Some(network) = record.and_then(|r| r.network) {
                self.refresh_hosts(&network);
            }
        }
    }

    /// Stop a sandbox's port proxy (freeing its host ports) but keep the rest.
    pub(crate) fn stop_sandbox_proxy(&mut self, owner: &str) -> Result<()> {
        if let Some(r) = self.store.sandbox(owner)?
            && r.proxy_pid.is_some()
        {
            stop_process(r.proxy_pid, r.proxy_start);
            self.store.write(|tx| write::set_proxy(tx, owner, None))?;
        }
        Ok(())
    }

    /// Start the infra process, PID 1 of a new PID namespace that reaps the pod's orphans,
    /// hold its namespace by a bind mount, and record it.
    fn start_infra(&mut self, owner: &str, dir: &Path) -> Result<()> {
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().map_err(io_err(Path::new("/proc/self/exe")))?;
        let mut cmd = Command::new(exe);
        // --root and --runroot name the store it belongs to in `ps`.
        cmd.arg("--root")
            .arg(&self.paths.root)
            .arg("--runroot")
            .arg(&self.paths.runroot)
            .arg("pod-infra")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = process::spawn_with_pid_namespace_for_children(&mut cmd)
            .map_err(io_err(Path::new("/proc/self/exe")))?;
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        let _ = child.wait();
        let pid: i32 = out.trim().parse().map_err(|_| {
            EngineError::Invalid(format!("the pod's infra process did not start ({out:?})"))
        })?;
        let start = process::start_time(pid).unwrap_or_default();
        self.store
            .write(|tx| write::set_infra(tx, owner, Some((pid, start))))?;
        netns::hold_namespace(pid, "pid", &pid_namespace_path(dir))
            .map_err(|e| EngineError::Invalid(format!("holding the PID namespace: {e}")))
    }

    /// Start the port proxy for a sandbox and record it. It binds every host port before it
    /// answers, so a port taken meanwhile is reported here.
    fn start_proxy(
        &mut self,
        owner: &str,
        netns: &Path,
        publish: &[PortMapping],
        target: Option<Ipv4Addr>,
    ) -> Result<()> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "port-proxy".into(),
            "--netns".into(),
            netns.into(),
            "--publish".into(),
            serde_json::to_string(publish)
                .expect("mappings serialise")
                .into(),
        ];
        args.extend(target.map(|ip| format!("--target={ip}").into()));
        args.push(owner.into());
        let pid = self.spawn_supervisor(&args, "the port proxy")?;
        let start = process::start_time(pid).unwrap_or_default();
        self.store
            .write(|tx| write::set_proxy(tx, owner, Some((pid, start))))?;
        Ok(())
    }

    /// Start a supervisor (`oxpod --root .. --runroot .. ARGS --ready-fd N`) that outlives
    /// this command, and wait for its "ok" on the ready pipe; "error ..." (or nothing) is a
    /// conflict naming why. Returns its pid.
    pub(crate) fn spawn_supervisor(&self, args: &[std::ffi::OsString], what: &str) -> Result<i32> {
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().map_err(io_err(Path::new("/proc/self/exe")))?;
        let (ready_read, ready_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| io_err(&self.paths.runroot)(e.into()))?;
        crate::sys::fs::set_cloexec(&ready_write, false).map_err(io_err(&self.paths.runroot))?;
        let spawned = Command::new(exe)
            .arg("--root")
            .arg(&self.paths.root)
            .arg("--runroot")
            .arg(&self.paths.runroot)
            .args(&args[..1])
            .arg("--ready-fd")
            .arg(ready_write.as_raw_fd().to_string())
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        drop(ready_write);
        let mut child = spawned.map_err(io_err(Path::new("/proc/self/exe")))?;
        let mut answer = String::new();
        let _ = std::fs::File::from(ready_read).read_to_string(&mut answer);
        let answer = answer.trim();
        if answer != "ok" {
            let _ = child.kill();
            let _ = child.wait();
            let reason = match answer.strip_prefix("error ") {
                Some(reason) => reason.to_string(),
                None if answer.is_empty() => format!("{what} exited before it was ready"),
                None => answer.to_string(),
            };
            return Err(EngineError::Conflict(reason));
        }
        let pid = child.id() as i32;
        // It outlives this command; its exit is reaped by whoever inherits it.
        std::mem::forget(child);
        Ok(pid)
    }

    /// Rewrite the hosts file of every member of a network so each names all the others.
    /// Serialised per network, and reading the members under the lock, so a later change
    /// never loses to an earlier one.
    pub(crate) fn refresh_hosts(&mut self, network: &str) {
        let lock_path = self
            .paths
            .runroot
            .join("networks")
            .join(format!("{network}.lock"));
        let _ = std::fs::create_dir_all(self.paths.runroot.join("networks"));
        let _lock = match crate::sys::lock::exclusive(&lock_path) {
            Ok(lock) => lock,
            Err(e) => {
                tracing::warn!("locking {}: {e}", lock_path.display());
                return;
            }
        };
        let members: Vec<Member> = match self.store.network_members(network) {
            Ok(rows) => rows
                .iter()
                .filter_map(|r| self.describe_member(r))
                .collect(),
            Err(e) => {
                tracing::warn!("listing the members of network {network}: {e}");
                return;
            }
        };
        for (index, member) in members.iter().enumerate() {
            let Some((path, base)) = &member.hosts else {
                continue;
            };
            let peers: Vec<Peer> = members
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, m)| Peer {
                    ip: m.ip,
                    names: m.names.clone(),
                })
                .collect();
            let content = hosts::with_peers(base, &peers);
            if let Err(e) = hosts::rewrite_in_place(path, &content) {
                tracing::debug!("updating {}: {e}", path.display());
            }
        }
    }

    /// A network member's address, names, hosts file and own lines.
    fn describe_member(&self, r: &SandboxRecord) -> Option<Member> {
        let ip: IpAddr = r.ip.as_deref()?.parse().ok()?;
        if let Some(service) = self.store.service_by_id(&r.owner).ok().flatten() {
            let (name, ns) = (&service.name, &service.namespace);
            return Some(Member {
                ip,
                names: vec![
                    name.clone(),
                    format!("{name}.{ns}"),
                    format!("{name}.{ns}.svc"),
                    format!("{name}.{ns}.svc.cluster.local"),
                ],
                hosts: None,
            });
        }
        let (dir, hostname, mut names, add_hosts) =
            if let Some(pod) = self.store.pod(&r.owner).ok().flatten() {
                let spec: spec::PodSpec = serde_json::from_str(&pod.spec).ok()?;
                let mut names = vec![pod.name.clone()];
                for c in self.store.pod_containers(&pod.id).ok()? {
                    names.push(c.name);
                }
                (
                    self.pod_dir(&pod.id),
                    spec.effective_hostname().to_string(),
                    names,
                    spec.add_hosts,
                )
            } else {
                let c = self.store.container(&r.owner).ok().flatten()?;
                let spec = Self::spec_of(&c).ok()?;
                let mut names = vec![c.name.clone()];
                if let NetworkMode::Bridge { aliases, .. } = &spec.network {
                    names.extend(aliases.iter().cloned());
                }
                (
                    self.paths.runroot.join("containers").join(&c.id),
                    spec.effective_hostname(&c.id),
                    names,
                    spec.add_hosts,
                )
            };
        let own: Vec<&str> = names.iter().map(String::as_str).collect();
        let base = spec::hosts_file(&hostname, &own, Some(ip), &add_hosts, None);
        names.insert(0, hostname);
        names.dedup();
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        Some(Member {
            ip,
            names,
            hosts: Some((dir.join("hosts"), base)),
        })
    }
}

/// A lone container on a bridge network, or with `--network none`, gets its network
/// namespace from a sandbox (which brings loopback up, as Podman's has it).
fn owns_sandbox(spec: &spec::ContainerSpec) -> bool {
    spec.pod.is_none() && matches!(spec.network, NetworkMode::Bridge { .. } | NetworkMode::None)
}

/// The lowest free address of the network (never the gateway).
pub(crate) fn lease(
    tx: &rusqlite::Transaction,
    network: &Network,
    store: &Path,
) -> Result<Ipv4Addr> {
    let taken: std::collections::HashSet<Ipv4Addr> = write::leased(tx, &network.record.name)?
        .iter()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    network
        .subnet
        .hosts()
        .filter(|ip| *ip != network.gateway && !taken.contains(ip))
        .find(|ip| host_claim(&network.record.bridge, *ip, store))
        .ok_or_else(|| {
            EngineError::Conflict(format!(
                "network {} has no free address left in {}",
                network.record.name, network.subnet
            ))
        })
}

/// Bridges belong to the host, stores do not: several stores (`--root`) may put pods on the
/// same bridge. Each address in use on a bridge is also claimed host-wide by a file naming
/// the store's database, made with O_EXCL; a claim whose store is gone is stale and taken over.
const HOST_CLAIMS: &str = "/run/oxpod-ipam";

fn claim_path(bridge: &str, ip: Ipv4Addr) -> PathBuf {
    Path::new(HOST_CLAIMS).join(bridge).join(ip.to_string())
}

/// Claim `ip` on `bridge` for the store whose database is `store`; false when another live
/// store holds it.
fn host_claim(bridge: &str, ip: Ipv4Addr, store: &Path) -> bool {
    use std::io::Write as _;
    let path = claim_path(bridge, ip);
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_err()
    {
        // No host-wide registry (a read-only /run): the store's own leases still hold.
        return true;
    }
    let holder = store.as_os_str().as_encoded_bytes();
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                // Nobody claims it: a virtual IP still on the bridge for it is a leftover of a
                // store that went without removing its Service.
                let _ = crate::network::bridge::remove_vip(bridge, ip);
                return f.write_all(holder).is_ok();
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let current = std::fs::read(&path).unwrap_or_default();
                if current == holder {
                    // Ours already (a lease this store lost track of, e.g. a killed command).
                    return true;
                }
                let other = Path::new(std::ffi::OsStr::from_bytes(&current));
                if current.is_empty() || other.exists() {
                    return false;
                }
                // Its store is gone: the claim is stale. A Service's virtual IP that store
                // left on the bridge goes too, or the host would keep answering for the
                // address itself and never reach the pod that gets it next.
                let _ = crate::network::bridge::remove_vip(bridge, ip);
                let _ = std::fs::remove_file(&path);
            }
            Err(_) => return true,
        }
    }
    false
}

/// Give up this store's claim of `ip` on `bridge`.
pub(crate) fn host_release(bridge: &str, ip: &str, store: &Path) {
    let Ok(ip) = ip.parse::<Ipv4Addr>() else {
        return;
    };
    let path = claim_path(bridge, ip);
    if std::fs::read(&path).is_ok_and(|h| h == store.as_os_str().as_encoded_bytes()) {
        let _ = std::fs::remove_file(&path);
    }
}

/// The pid of a supervised process that is still the one recorded.
pub(crate) fn live(pid: Option<i32>, start: Option<u64>) -> Option<i32> {
    match (pid, start) {
        (Some(pid), Some(start)) if process::is_same_process(pid, start) => Some(pid),
        _ => None,
    }
}

/// SIGTERM, then SIGKILL after two seconds; returns once it is gone.
pub(crate) fn stop_process(pid: Option<i32>, start: Option<u64>) {
    let Some(pid) = live(pid, start) else {
        return;
    };
    if process::signal(pid, Signal::SIGTERM).is_err() {
        return;
    }
    if !process::wait_for_exit(pid, Some(Duration::from_secs(2))).unwrap_or(true) {
        let _ = process::signal(pid, Signal::SIGKILL);
        let _ = process::wait_for_exit(pid, Some(Duration::from_secs(2)));
    }
}

/// Containers: a lone container on a bridge network has a sandbox of its own from start to
/// exit (as with Podman, its address and ports are held while it runs); a pod member uses
/// its pod's.
impl Engine {
    fn container_run_dir(&self, id: &str) -> PathBuf {
        self.paths.runroot.join("containers").join(id)
    }

    /// At create: the network must exist and published ports must be free now.
    pub(crate) fn check_container_network(&mut self, spec: &mut spec::ContainerSpec) -> Result<()> {
        if let Some(network) = spec.network.bridge() {
            let network = network.to_string();
            self.find_network(&network)?;
        }
        if !spec.publish.is_empty() {
            match &spec.network {
                NetworkMode::Bridge { .. } => {}
                other => {
                    return Err(EngineError::Invalid(format!(
                        "ports cannot be published with --network {other}"
                    )));
                }
            }
            super::pods::prepare_ports(&mut spec.publish)?;
        }
        Ok(())
    }

    /// Before a start: the pod's sandbox, or the container's own.
    pub(crate) fn prepare_container_network(
        &mut self,
        record: &crate::state::ContainerRecord,
        spec: &spec::ContainerSpec,
    ) -> Result<()> {
        if let Some(pod) = &record.pod_id {
            return self.ensure_pod_sandbox(pod);
        }
        if !owns_sandbox(spec) {
            return Ok(());
        }
        let hostname = spec.effective_hostname(&record.id);
        let plan = SandboxPlan {
            owner: &record.id,
            dir: self.container_run_dir(&record.id),
            network: &spec.network,
            ipc: false,
            uts: false,
            pid: false,
            hostname: &hostname,
            publish: &spec.publish,
            add_hosts: &spec.add_hosts,
            dns: &spec.dns,
            dns_search: &spec.dns_search,
        };
        self.ensure_sandbox(&plan)
    }

    /// After an exit or a failed start: a lone container's sandbox goes.
    pub(crate) fn release_container_sandbox(&mut self, id: &str) {
        if matches!(self.store.sandbox(id), Ok(Some(_))) {
            let dir = self.container_run_dir(id);
            self.teardown_sandbox(id, &dir);
        }
    }

    /// The sandbox-kept files a container bind-mounts: hosts, resolv.conf and, when the
    /// pod shares its UTS namespace, hostname.
    pub(crate) fn sandbox_files(
        &self,
        record: &crate::state::ContainerRecord,
        spec: &spec::ContainerSpec,
    ) -> Option<(PathBuf, PathBuf, Option<PathBuf>)> {
        if let Some(pod) = &record.pod_id {
            let dir = self.pod_dir(pod);
            let shared_uts = spec
                .namespaces_from_pod
                .as_ref()
                .is_some_and(|ns| ns.uts.is_some());
            return Some((
                dir.join("hosts"),
                dir.join("resolv.conf"),
                shared_uts.then(|| dir.join("hostname")),
            ));
        }
        if owns_sandbox(spec) {
            let dir = self.container_run_dir(&record.id);
            return Some((dir.join("hosts"), dir.join("resolv.conf"), None));
        }
        None
    }

    /// The network namespace a lone bridged container joins (its sandbox's).
    pub(crate) fn container_netns(
        &self,
        record: &crate::state::ContainerRecord,
        spec: &spec::ContainerSpec,
    ) -> Option<PathBuf> {
        if record.pod_id.is_none() && owns_sandbox(spec) {
            return namespace_paths(&self.container_run_dir(&record.id), true, false, false).net;
        }
        None
    }

    /// A pod's member names changed: rewrite the hosts files of its network.
    pub(crate) fn refresh_pod_hosts(&mut self, pod_id: &str) {
        if let Ok(Some(sandbox)) = self.store.sandbox(pod_id)
            && let Some(network) = sandbox.network
        {
            self.refresh_hosts(&network);
        }
    }

    /// `inspect`'s NetworkSettings: the address on its network (while it has one) and the
    /// published ports, in Docker's shape.
    pub(crate) fn network_settings(
        &mut self,
        record: &crate::state::ContainerRecord,
    ) -> Result<serde_json::Value> {
        let owner = record.pod_id.as_deref().unwrap_or(&record.id);
        let sandbox = self.store.sandbox(owner)?;
        let mut ports = serde_json::Map::new();
        for m in self
            .published_ports(&record.id)?
            .iter()
            .flat_map(|m| m.expand())
        {
            let key = format!("{}/{}", m.container_port, m.protocol.as_str());
            let binding = serde_json::json!({
                "HostIp": m.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                "HostPort": m.host_port.to_string(),
            });
            match ports.get_mut(&key).and_then(|v| v.as_array_mut()) {
                Some(list) => list.push(binding),
                None => {
                    ports.insert(key, serde_json::Value::Array(vec![binding]));
                }
            }
        }
        let mut networks = serde_json::Map::new();
        let (mut ip, mut gateway, mut prefix) = (String::new(), String::new(), 0);
        if let Some(s) = &sandbox
            && let (Some(name), Some(addr)) = (&s.network, &s.ip)
        {
            if let Ok(n) = self.find_network(name) {
                gateway = n.gateway.to_string();
                prefix = n.subnet.prefix;
            }
            ip = addr.clone();
            networks.insert(
                name.clone(),
                serde_json::json!({
                    "IPAddress": ip,
                    "Gateway": gateway,
                    "IPPrefixLen": prefix,
                    "InterfaceName": netns::SANDBOX_IFNAME,
                }),
            );
        }
        Ok(serde_json::json!({
            "IPAddress": ip,
            "Gateway": gateway,
            "IPPrefixLen": prefix,
            "Ports": ports,
            "Networks": networks,
            "SandboxKey": namespace_paths(
                &record.pod_id.as_deref().map_or_else(
                    || self.container_run_dir(&record.id),
                    |pod| self.pod_dir(pod),
                ),
                true,
                false,
                false,
            )
            .net
            .filter(|_| sandbox.is_some()),
        }))
    }
}
