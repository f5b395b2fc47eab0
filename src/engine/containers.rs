//! Container verbs: create, start (detached or attached), stop, kill, remove, list, inspect,
//! wait and logs. Each reads the same way: find the container, check its status guard, act,
//! save the new status.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::sys::signal::Signal;

use super::{Engine, EngineError, Result, io_err};
use crate::image::manifest::ImageConfig;
use crate::runtime::cgroups::CgroupLayout;
use crate::spec::{
    self, ContainerSpec, GeneratedFiles, HostLimits, ImageDefaults, MountKind, ShmMount,
};
use crate::state::containers::write;
use crate::state::{ContainerRecord, ContainerStatus, ImageRecord};
use crate::storage::ContainerDir;
use crate::sys::process;

/// Exit code recorded for a container whose monitor vanished (it was killed with it).
pub const EXIT_MONITOR_LOST: i32 = 137;

/// How `start` connects the caller to the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// Start and return.
    Detached,
    /// Stream the container's output to this process's stdout/stderr (and stdin to it when
    /// the container has `-i`) until it exits.
    Foreground,
}

/// One row of `ps`.
#[derive(Debug, Clone)]
pub struct ContainerSummary {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub command: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    pub status: ContainerStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub exit_code: Option<i32>,
    pub pid: Option<i32>,
    pub labels: BTreeMap<String, String>,
    pub health: Option<String>,
    pub size_rw: Option<u64>,
    /// Published ports (its pod's, for a pod member).
    pub ports: Vec<crate::network::ports::PortMapping>,
    /// The pod it belongs to (its name).
    pub pod: Option<String>,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("/dev/urandom is readable");
    hex::encode(buf)
}

/// Docker-style `adjective_noun` names.
pub(crate) fn random_name() -> String {
    const ADJECTIVES: &[&str] = &[
        "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lively", "merry",
        "nifty", "proud", "quirky", "sharp", "tender", "upbeat", "vivid", "witty", "zealous",
        "bold",
    ];
    const NOUNS: &[&str] = &[
        "turing", "lovelace", "hopper", "curie", "noether", "euler", "gauss", "darwin", "tesla",
        "fermat", "hypatia", "knuth", "ritchie", "thompson", "shannon", "dijkstra", "babbage",
        "galois", "kepler", "lamarr",
    ];
    let r = random_hex(2);
    let a = usize::from_str_radix(&r[..2], 16).unwrap_or(0) % ADJECTIVES.len();
    let n = usize::from_str_radix(&r[2..], 16).unwrap_or(0) % NOUNS.len();
    format!("{}_{}", ADJECTIVES[a], NOUNS[n])
}

pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub(crate) fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    super::images::parse_time(s)
}

impl Engine {
    pub(crate) fn container_dir(&self, id: &str) -> ContainerDir {
        ContainerDir::new(&self.paths.root, &self.paths.runroot, id)
    }

    /// Where the runtime keeps its transient per-container state.
    pub(crate) fn runtime_state_root(&self) -> PathBuf {
        self.paths.runroot.join("runtime")
    }

    pub(crate) fn cgroup_path(id: &str) -> String {
        format!("/oxpod/{id}")
    }

    /// Find a container by full ID, unique ID prefix or name, its status brought up to date.
    pub fn find_container(&mut self, name_or_id: &str) -> Result<ContainerRecord> {
        let record = match self.store.container_by_name(name_or_id)? {
            Some(c) => c,
            None => {
                let ids =
                    if name_or_id.len() >= 3 && name_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                        self.store
                            .container_ids_with_prefix(&name_or_id.to_ascii_lowercase())?
                    } else {
                        Vec::new()
                    };
                match ids.as_slice() {
                    [id] => self
                        .store
                        .container(id)?
                        .ok_or_else(|| not_found(name_or_id))?,
                    [] => return Err(not_found(name_or_id)),
                    _ => {
                        return Err(EngineError::Conflict(format!(
                            "{name_or_id}: more than one container matches; give more of the ID"
                        )));
                    }
                }
            }
        };
        self.refresh(record)
    }

    /// A container shown as running whose monitor is gone (killed, or the machine rebooted)
    /// has exited: its init died with the monitor. Record that and clean up its mounts. A
    /// monitor killed while waiting out a restart back-off left the mounts of an exited
    /// container: those go too.
    pub(crate) fn refresh(&mut self, record: ContainerRecord) -> Result<ContainerRecord> {
        if record.monitor_pid.is_none() && !record.status.is_active() {
            return Ok(record);
        }
        if live_monitor(&record).is_some() {
            return Ok(record);
        }
        if record.status.is_active() {
            tracing::warn!(
                "container {} lost its monitor; marking it exited",
                record.name
            );
        }
        self.cleanup_after_exit(&record.id);
        let id = record.id.clone();
        let lost = (record.monitor_pid, record.monitor_start);
        self.store.write(|tx| -> Result<()> {
            // Another command may have reconciled it, or started it again, meanwhile.
            if let Some(current) = write::get(tx, &id)?
                && (current.monitor_pid, current.monitor_start) == lost
            {
                if current.status.is_active() {
                    write::set_exited(tx, &id, EXIT_MONITOR_LOST, false, &now())?;
                }
                write::clear_monitor(tx, &id)?;
            }
            Ok(())
        })?;
        self.store.container(&id)?.ok_or_else(|| not_found(&id))
    }

    /// Release what a stopped container holds: runtime state, cgroup and rootfs mount.
    /// Best effort: each step runs even when an earlier one failed.
    pub(crate) fn cleanup_after_exit(&mut self, id: &str) {
        // The runtime the container ran on (`--runtime`), as its spec says.
        let record = self.store.container(id).ok().flatten();
        let spec = record
            .and_then(|r| Self::spec_of(&r).ok())
            .unwrap_or_default();
        if let Err(e) = crate::runtime::runtime_for(&spec, &self.runtime_state_root())
            .and_then(|runtime| runtime.delete(id, true))
        {
            tracing::warn!("{e}");
        }
        if let Ok(layout) = CgroupLayout::detect()
            && let Err(e) = crate::runtime::cgroups::remove(&layout, &Self::cgroup_path(id))
        {
            tracing::debug!("removing cgroup of {id}: {e}");
        }
        if let Err(e) = self.container_dir(id).unmount_rootfs() {
            tracing::warn!("{e}");
        }
        self.release_container_sandbox(id);
    }

    /// Create a container from a spec: the image must be present (pull it first).
    pub fn create_container(&mut self, mut spec: ContainerSpec) -> Result<String> {
        let image = self.find_image(&spec.image)?;
        spec.image_id = image.id.clone();
        // A generated name is checked again inside the insert: concurrent `run`s may draw the
        // same one, and the loser draws again rather than failing.
        let generated_name = spec.name.is_empty();
        if generated_name {
            spec.name = self.free_random_name()?;
        } else if !valid_name(&spec.name) {
            return Err(EngineError::Invalid(format!(
                "invalid container name {:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit",
                spec.name
            )));
        }
        if let Some(pod) = spec.pod.clone() {
            let pod = self.find_pod(&pod)?;
            self.join_pod(&mut spec, &pod)?;
        }
        if spec.publish_all {
            let config: ImageConfig = serde_json::from_slice(&image.config).unwrap_or_default();
            let exposed: Vec<String> = config
                .config
                .as_ref()
                .and_then(|c| c.get("ExposedPorts"))
                .and_then(|p| p.as_object())
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            let all = crate::network::ports::publish_all(&exposed).map_err(EngineError::Invalid)?;
            for mapping in all {
                if !spec.publish.iter().any(|p| {
                    p.protocol == mapping.protocol
                        && p.pairs().any(|(_, c)| c == mapping.container_port)
                }) {
                    spec.publish.push(mapping);
                }
            }
        }
        self.check_container_network(&mut spec)?;
        spec.validate()
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        crate::runtime::runtime_for(&spec, &self.runtime_state_root())
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        for mount in &spec.mounts {
            if let MountKind::Bind { source } = &mount.kind
                && !source.exists()
            {
                return Err(EngineError::Invalid(format!(
                    "bind mount source {} does not exist",
                    source.display()
                )));
            }
        }
        let config: ImageConfig = serde_json::from_slice(&image.config).unwrap_or_default();
        let defaults = ImageDefaults::from_config(config.config.as_ref())
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let id = random_hex(32);
        let mut record = ContainerRecord {
            id: id.clone(),
            name: spec.name.clone(),
            image_id: image.id.clone(),
            image_name: spec.image.clone(),
            spec: String::new(),
            created: now(),
            status: ContainerStatus::Created,
            pid: None,
            monitor_pid: None,
            monitor_start: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            oom_killed: false,
            restart_count: 0,
            stop_requested: false,
            health: None,
            health_failing: 0,
            health_log: None,
            pod_id: spec.pod.clone(),
            ready: None,
        };
        loop {
            record.name = spec.name.clone();
            record.spec = serde_json::to_string(&spec).expect("a spec serialises");
            let inserted = self.store.write(|tx| -> Result<bool> {
                if write::name_taken(tx, &record.name)? {
                    return Ok(false);
                }
                write::insert(tx, &record)?;
                Ok(true)
            })?;
            if inserted {
                break;
            }
            if !generated_name {
                return Err(EngineError::Conflict(format!(
                    "the container name {:?} is already in use; remove that container or choose another name",
                    spec.name
                )));
            }
            spec.name = self.free_random_name()?;
        }
        // The row comes first: a command killed right after it leaves a row that `rm`
        // removes, never a directory that no command knows about.
        if let Err(e) = self.container_dir(&id).create() {
            let _ = self.store.write(|tx| write::remove(tx, &id));
            let _ = self.container_dir(&id).remove();
            return Err(EngineError::Invalid(e.to_string()));
        }
        // Its name resolves on the pod's network from now on.
        if let Some(pod) = &spec.pod {
            self.refresh_pod_hosts(pod);
        }
        // As Podman, a container uses its volumes from its creation on (`volume rm` refuses
        // them); they are filled from the image at the first start.
        for (_, name, anonymous) in wanted_volumes(&id, &spec, &defaults) {
            if let Err(e) = self.ensure_volume(&name, anonymous, Some(&id)) {
                let _ = self.remove_container(&id, true, true);
                return Err(e);
            }
        }
        Ok(id)
    }

    /// A Docker-style name no container has at the moment.
    fn free_random_name(&self) -> Result<String> {
        loop {
            let candidate = random_name();
            if self.store.container_by_name(&candidate)?.is_none() {
                return Ok(candidate);
            }
        }
    }

    pub(crate) fn spec_of(record: &ContainerRecord) -> Result<ContainerSpec> {
        serde_json::from_str(&record.spec).map_err(|e| {
            EngineError::Invalid(format!("stored spec of {} is malformed: {e}", record.name))
        })
    }

    /// The image a container was made from.
    pub(crate) fn container_image(&self, record: &ContainerRecord) -> Result<ImageRecord> {
        self.store.image(&record.image_id)?.ok_or_else(|| {
            EngineError::ImageNotFound(format!(
                "image {} of container {} is gone",
                record.image_id, record.name
            ))
        })
    }

    /// An image's unpacked layer directories, top layer first (overlay's lowerdir order).
    pub(crate) fn layer_dirs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        Ok(image
            .layers
            .iter()
            .rev()
            .map(|l| self.layers.path(&l.diff_id))
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Mount the root file system and write the OCI bundle for a start.
    fn prepare_bundle(&mut self, record: &ContainerRecord, spec: &ContainerSpec) -> Result<()> {
        let image = self.container_image(record)?;
        let lowers = self.layer_dirs(&image)?;
        let dir = self.container_dir(&record.id);
        dir.create()
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        dir.mount_rootfs(&lowers)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let result = self.write_bundle(record, spec, &image.config, &dir);
        if result.is_err() {
            let _ = dir.unmount_rootfs();
        }
        result
    }

    fn write_bundle(
        &mut self,
        record: &ContainerRecord,
        spec: &ContainerSpec,
        config: &[u8],
        dir: &ContainerDir,
    ) -> Result<()> {
        let config: ImageConfig = serde_json::from_slice(config).unwrap_or_default();
        let defaults = ImageDefaults::from_config(config.config.as_ref())
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let with_secrets;
        let spec = if spec.secret_env.is_empty() {
            spec
        } else {
            with_secrets = self.with_secret_env(spec)?;
            &with_secrets
        };
        let hostname = spec.effective_hostname(&record.id);
        let merged = dir.merged();
        let process = spec::resolve_process(spec, &defaults, &merged, &hostname)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        ensure_workdir(&merged, &process)?;
        super::ops::check_program(&merged, &process.args[0], &process.env, &process.cwd)?;
        let host_network = matches!(spec.network, spec::NetworkMode::Host);
        let host_hosts = if host_network {
            std::fs::read_to_string("/etc/hosts").ok()
        } else {
            None
        };
        let hosts = spec::hosts_file(
            &hostname,
            &[&spec.name],
            None,
            &spec.add_hosts,
            host_hosts.as_deref(),
        );
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let resolv = spec::resolv_conf(&host_resolv, &spec.dns, &spec.dns_search, host_network);
        let write_file = |name: &str, content: &str| -> Result<PathBuf> {
            let path = dir.file(name);
            crate::sys::fs::write_replace(&path, content.as_bytes(), 0o644)
                .map_err(io_err(&path))?;
            Ok(path)
        };
        // A sandbox (the pod's, or the container's own on a bridge network) keeps the hosts
        // and resolv.conf files, rewriting hosts in place as the network's members change.
        let files = match self.sandbox_files(record, spec) {
            Some((hosts, resolv_conf, hostname_file)) => GeneratedFiles {
                hosts: Some(hosts),
                hostname: Some(match hostname_file {
                    Some(path) => path,
                    None => write_file("hostname", &spec::hostname_file(&hostname))?,
                }),
                resolv_conf: Some(resolv_conf),
                shm: ShmMount::for_container(spec),
            },
            None => GeneratedFiles {
                hosts: Some(write_file("hosts", &hosts)?),
                hostname: Some(write_file("hostname", &spec::hostname_file(&hostname))?),
                resolv_conf: Some(write_file("resolv.conf", &resolv)?),
                shm: ShmMount::for_container(spec),
            },
        };
        let joined;
        let spec = match self.container_netns(record, spec) {
            Some(netns) => {
                joined = ContainerSpec {
                    network: spec::NetworkMode::Pod { netns },
                    ..spec.clone()
                };
                &joined
            }
            None => spec,
        };
        let volume_sources = self.volume_sources(record, spec, &defaults)?;
        let host = HostLimits::current().map_err(|e| EngineError::Invalid(e.to_string()))?;
        let cgroups_path = PathBuf::from(Self::cgroup_path(&record.id));
        let oci = spec::runtime_spec(&spec::SpecInput {
            container: spec,
            process: &process,
            rootfs: &merged,
            container_id: &record.id,
            cgroups_path: &cgroups_path,
            files: &files,
            volume_sources: &volume_sources,
            host: &host,
            init_binary: spec.init.then(super::find_init_binary).flatten().as_deref(),
        })
        .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let json = serde_json::to_vec(&oci).expect("an OCI spec serialises");
        let path = dir.config();
        crate::sys::fs::write_replace(&path, &json, 0o600).map_err(io_err(&path))?;
        Ok(())
    }

    /// Host directories for the container's named and anonymous volumes, created (and, for a
    /// new volume, filled from the image) on first use.
    fn volume_sources(
        &mut self,
        record: &ContainerRecord,
        spec: &ContainerSpec,
        defaults: &ImageDefaults,
    ) -> Result<BTreeMap<PathBuf, PathBuf>> {
        let mut out = BTreeMap::new();
        let wanted = wanted_volumes(&record.id, spec, defaults);
        for (destination, name, anonymous) in wanted {
            let data = self.ensure_volume(&name, anonymous, Some(&record.id))?;
            let seed = self
                .container_dir(&record.id)
                .merged()
                .join(destination.strip_prefix("/").unwrap_or(&destination));
            self.seed_volume(&name, &data, &seed)?;
            out.insert(destination, data);
        }
        Ok(out)
    }

    /// Start a created or exited container under a new monitor. With [`Attach::Foreground`]
    /// this streams its output and returns its exit code once it ends.
    pub fn start_container(&mut self, name_or_id: &str, attach: Attach) -> Result<Option<i32>> {
        let mut record = self.find_container(name_or_id)?;
        // Exited, but its monitor is still there: finishing up, or waiting out a restart
        // back-off. Starting means now, under a new monitor: that one goes first.
        if record.status == ContainerStatus::Exited && live_monitor(&record).is_some() {
            self.stop_container(&record.id, None)?;
            record = self.find_container(&record.id)?;
        }
        // Running, or another command's monitor is starting it.
        if record.status.is_active() || live_monitor(&record).is_some() {
            return match attach {
                Attach::Detached => Ok(None),
                Attach::Foreground => Err(EngineError::Conflict(format!(
                    "container {} is already running",
                    record.name
                ))),
            };
        }
        let spec = Self::spec_of(&record)?;
        if let Err(e) = self.prepare_container_network(&record, &spec) {
            self.release_container_sandbox(&record.id);
            return Err(e);
        }
        if let Err(e) = self.prepare_bundle(&record, &spec) {
            self.release_container_sandbox(&record.id);
            return Err(e);
        }
        self.store
            .write(|tx| write::set_stop_requested(tx, &record.id, false))?;
        let (ready_read, ready_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| io_err(&self.paths.runroot)(e.into()))?;
        let mut child = match self.spawn_monitor(&record.id, attach, &ready_write) {
            Ok(child) => child,
            Err(e) => {
                self.cleanup_after_exit(&record.id);
                return Err(e);
            }
        };
        drop(ready_write);
        let monitor_pid = child.id() as i32;
        if let Some(monitor_start) = process::start_time(monitor_pid) {
            self.store.write(|tx| {
                write::set_starting_monitor(tx, &record.id, monitor_pid, monitor_start)
            })?;
        }
        // The monitor writes one line once the container runs (or failed to), then closes.
        let mut answer = String::new();
        let _ = std::fs::File::from(ready_read).read_to_string(&mut answer);
        let answer = answer.trim();
        if let Some(message) = answer.strip_prefix("error ") {
            let _ = child.wait();
            self.cleanup_after_exit(&record.id);
            return Err(EngineError::Invalid(message.to_string()));
        }
        if !answer.starts_with("ok") {
            let status = child.wait().ok();
            self.cleanup_after_exit(&record.id);
            return Err(EngineError::Invalid(format!(
                "the monitor of container {} exited before starting it ({})",
                record.name,
                status.map(|s| s.to_string()).unwrap_or_default()
            )));
        }
        match attach {
            Attach::Detached => Ok(None),
            Attach::Foreground => Ok(Some(super::attach::wait_foreground(child, &spec)?)),
        }
    }

    fn spawn_monitor(
        &self,
        id: &str,
        attach: Attach,
        ready: &OwnedFd,
    ) -> Result<std::process::Child> {
        use std::process::{Command, Stdio};
        let exe =
            std::env::current_exe().map_err(io_err(std::path::Path::new("/proc/self/exe")))?;
        // The ready pipe's write end must survive exec in the monitor only.
        crate::sys::fs::set_cloexec(ready, false).map_err(io_err(&self.paths.runroot))?;
        let mut cmd = Command::new(exe);
        cmd.arg("--root")
            .arg(&self.paths.root)
            .arg("--runroot")
            .arg(&self.paths.runroot)
            .arg("container-monitor")
            .arg("--ready-fd")
            .arg(ready.as_raw_fd().to_string());
        match attach {
            Attach::Detached => {
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
            Attach::Foreground => {
                cmd.arg("--attach");
            }
        }
        cmd.arg(id);
        let spawned = cmd.spawn();
        let _ = crate::sys::fs::set_cloexec(ready, true);
        spawned.map_err(io_err(std::path::Path::new("/proc/self/exe")))
    }

    /// Ask a container to stop: its stop signal, then SIGKILL after `timeout` seconds (the
    /// container's own stop timeout when None). Returns once it has exited.
    pub fn stop_container(&mut self, name_or_id: &str, timeout: Option<u32>) -> Result<String> {
        let mut record = self.find_container(name_or_id)?;
        self.store
            .write(|tx| write::set_stop_requested(tx, &record.id, true))?;
        // Between two runs of a restart policy the container has exited but its monitor
        // waits out a back-off: a SIGTERM makes it give up. If it was just starting the next
        // run, the monitor forwards the signal; a run that ignores it is stopped below.
        while !record.status.is_active() {
            let Some(monitor) = live_monitor(&record) else {
                return Ok(record.id);
            };
            process::signal(monitor, Signal::SIGTERM).map_err(io_err(&self.paths.runroot))?;
            if process::wait_for_exit(monitor, Some(Duration::from_secs(1)))
                .map_err(io_err(&self.paths.runroot))?
            {
                self.wait_for_monitor(&record)?;
                return Ok(record.id);
            }
            record = self.find_container(&record.id)?;
        }
        let spec = Self::spec_of(&record)?;
        let timeout = Duration::from_secs(timeout.unwrap_or(spec.stop_timeout) as u64);
        if let Some(pid) = record.pid {
            if record.status == ContainerStatus::Paused
                && let Ok(layout) = CgroupLayout::detect()
            {
                let _ = crate::runtime::cgroups::thaw(&layout, &Self::cgroup_path(&record.id));
            }
            self.run_pre_stop(&record, &spec, timeout);
            process::signal(pid, spec.stop_signal).map_err(io_err(&self.paths.runroot))?;
            if !process::wait_for_exit(pid, Some(timeout)).map_err(io_err(&self.paths.runroot))? {
                if !timeout.is_zero() {
                    tracing::warn!(
                        "{} did not stop {} seconds after {}; sending SIGKILL",
                        record.name,
                        timeout.as_secs(),
                        spec.stop_signal
                    );
                }
                process::signal(pid, Signal::SIGKILL).map_err(io_err(&self.paths.runroot))?;
            }
        }
        self.wait_for_monitor(&record)?;
        Ok(record.id)
    }

    /// Wait until the monitor has recorded the exit and gone.
    fn wait_for_monitor(&mut self, record: &ContainerRecord) -> Result<()> {
        if let (Some(pid), Some(start)) = (record.monitor_pid, record.monitor_start)
            && process::is_same_process(pid, start)
        {
            process::wait_for_exit(pid, Some(Duration::from_secs(30)))
                .map_err(io_err(&self.paths.runroot))?;
        }
        // Gone: its monitor removed it on exit (`--rm`), which is what stopping it means.
        if let Some(fresh) = self.store.container(&record.id)? {
            self.refresh(fresh)?;
        }
        Ok(())
    }

    /// Send a signal to a running container's init.
    pub fn kill_container(&mut self, name_or_id: &str, signal: Signal) -> Result<String> {
        let record = self.find_container(name_or_id)?;
        match (record.status, record.pid) {
            (ContainerStatus::Running | ContainerStatus::Paused, Some(pid)) => {
                process::signal(pid, signal).map_err(io_err(&self.paths.runroot))?;
                Ok(record.id)
            }
            _ => Err(EngineError::Conflict(format!(
                "can only kill running containers: {} is {}",
                record.name,
                record.status.as_str()
            ))),
        }
    }

    /// Remove a container; a running one only with `force` (stopped first, no grace).
    /// With `volumes`, its anonymous volumes go too.
    pub fn remove_container(
        &mut self,
        name_or_id: &str,
        force: bool,
        volumes: bool,
    ) -> Result<String> {
        let record = self.find_container(name_or_id)?;
        let restarting = !record.status.is_active() && live_monitor(&record).is_some();
        if record.status.is_active() || restarting {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container {}: it is {}; stop it first or use --force",
                    record.name,
                    if restarting {
                        "restarting"
                    } else {
                        record.status.as_str()
                    }
                )));
            }
            self.stop_container(&record.id, Some(0))?;
        }
        self.cleanup_after_exit(&record.id);
        // `run -d --rm` then `wait`: the exit code outlives the row, as with Podman.
        if Self::spec_of(&record).is_ok_and(|s| s.auto_remove)
            && let Some(code) = self.store.container(&record.id)?.and_then(|r| r.exit_code)
        {
            self.keep_exit_code(&record.id, code);
        }
        // The row goes last: a command killed before it leaves a container that the next
        // `rm` removes, never a directory that no command knows about.
        if let Err(e) = self.container_dir(&record.id).remove() {
            tracing::warn!("{e}");
        }
        let rundir = self.paths.runroot.join("containers").join(&record.id);
        let _ = crate::sys::fs::remove_all(&rundir);
        let anonymous = self.store.write(|tx| -> Result<Vec<String>> {
            let anonymous = crate::state::volumes::write::anonymous_volumes_of(tx, &record.id)?;
            write::remove(tx, &record.id)?;
            Ok(anonymous)
        })?;
        if let Some(pod) = &record.pod_id {
            self.refresh_pod_hosts(pod);
        }
        if volumes {
            for name in anonymous {
                if let Err(e) = self.remove_volume(&name, false) {
                    tracing::warn!("{e}");
                }
            }
        }
        Ok(record.id)
    }

    /// Exited with no monitor left to restart it.
    pub fn container_finished(&mut self, name_or_id: &str) -> Result<bool> {
        let record = self.find_container(name_or_id)?;
        Ok(record.status == ContainerStatus::Exited && live_monitor(&record).is_none())
    }

    /// Wait until a container is not running; its exit code. A restart policy may run it
    /// again after an exit: this waits for its monitor, which exits after the last run.
    pub fn wait_container(&mut self, name_or_id: &str) -> Result<i32> {
        let record = self.find_container(name_or_id)?;
        if let Some(monitor) = live_monitor(&record) {
            process::wait_for_exit(monitor, None).map_err(io_err(&self.paths.runroot))?;
        }
        match self.find_container(&record.id) {
            Ok(record) => Ok(record.exit_code.unwrap_or(0)),
            // Removed on exit (`--rm`): its monitor left the exit code behind.
            Err(EngineError::ContainerNotFound(_)) => {
                std::fs::read_to_string(self.exit_file(&record.id))
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| not_found(name_or_id))
            }
            Err(e) => Err(e),
        }
    }

    /// Where the exit code of a container removed on exit waits for `wait`.
    fn exit_file(&self, id: &str) -> PathBuf {
        self.paths.runroot.join("exits").join(id)
    }

    /// Best effort: keep the exit code of a container being removed on exit for a while.
    fn keep_exit_code(&self, id: &str, code: i32) {
        const KEEP: Duration = Duration::from_secs(300);
        let dir = self.paths.runroot.join("exits");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > KEEP));
                if old {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let path = self.exit_file(id);
        let written = std::fs::create_dir_all(&dir)
            .and_then(|_| crate::sys::fs::write_atomic(&path, code.to_string().as_bytes(), 0o644));
        if let Err(e) = written {
            tracing::debug!("keeping the exit code of {id} in {}: {e}", path.display());
        }
    }

    /// Every container (running ones only unless `all`), statuses brought up to date.
    pub fn list_containers(&mut self, all: bool) -> Result<Vec<ContainerSummary>> {
        let records = self.store.containers()?;
        let mut out = Vec::new();
        for record in records {
            let record = self.refresh(record)?;
            if !all && !record.status.is_active() {
                continue;
            }
            let spec = Self::spec_of(&record).unwrap_or_default();
            let pod = match &record.pod_id {
                Some(id) => self.store.pod(id)?,
                None => None,
            };
            let publish = match &pod {
                Some(pod) => Self::pod_spec_of(pod)
                    .map(|p| p.publish)
                    .unwrap_or_default(),
                None => spec.publish.clone(),
            };
            out.push(ContainerSummary {
                ports: publish,
                pod: pod.map(|p| p.name),
                command: self.command_of(&record, &spec),
                id: record.id,
                name: record.name,
                image: record.image_name,
                image_id: record.image_id,
                created: parse_time(Some(&record.created)),
                status: record.status,
                started_at: parse_time(record.started_at.as_deref()),
                finished_at: parse_time(record.finished_at.as_deref()),
                exit_code: record.exit_code,
                pid: record.pid,
                labels: spec.labels,
                health: record.health,
                size_rw: None,
            });
        }
        Ok(out)
    }

    /// The process a container runs (entrypoint + command as resolved against its image).
    pub(crate) fn command_of(&self, record: &ContainerRecord, spec: &ContainerSpec) -> Vec<String> {
        let defaults = self.image_defaults_of(record);
        spec::resolve_args(
            defaults.entrypoint.as_deref(),
            defaults.cmd.as_deref(),
            spec.entrypoint.as_deref(),
            spec.command.as_deref(),
        )
        .unwrap_or_default()
    }
}

impl Engine {
    /// What the container's image configures (empty when the image is gone).
    fn image_defaults_of(&self, record: &ContainerRecord) -> ImageDefaults {
        self.store
            .image(&record.image_id)
            .ok()
            .flatten()
            .and_then(|i| serde_json::from_slice::<ImageConfig>(&i.config).ok())
            .and_then(|c| ImageDefaults::from_config(c.config.as_ref()).ok())
            .unwrap_or_default()
    }
}

/// The PID of the container's monitor when it is still alive: the container runs, or its
/// restart policy will run it again after a back-off.
fn live_monitor(record: &ContainerRecord) -> Option<i32> {
    match (record.monitor_pid, record.monitor_start) {
        (Some(pid), Some(start)) if process::is_same_process(pid, start) => Some(pid),
        _ => None,
    }
}

fn not_found(name: &str) -> EngineError {
    EngineError::ContainerNotFound(format!("no container with name or ID {name:?} found"))
}

pub(crate) fn anonymous_volume_name(container_id: &str, destination: &std::path::Path) -> String {
    let digest = crate::image::blobs::sha256_digest(
        format!("{container_id}{}", destination.display()).as_bytes(),
    );
    digest.trim_start_matches("sha256:").to_string()
}

/// The volumes a container mounts, as (destination, volume name, anonymous): its named and
/// anonymous volume mounts, and an anonymous volume for each image VOLUME no mount covers,
/// as Docker does.
fn wanted_volumes(
    id: &str,
    spec: &ContainerSpec,
    defaults: &ImageDefaults,
) -> Vec<(PathBuf, String, bool)> {
    let mut wanted = Vec::new();
    for mount in &spec.mounts {
        match &mount.kind {
            MountKind::Volume { name } => {
                wanted.push((mount.destination.clone(), name.clone(), false))
            }
            MountKind::Anonymous => wanted.push((
                mount.destination.clone(),
                anonymous_volume_name(id, &mount.destination),
                true,
            )),
            _ => {}
        }
    }
    for path in &defaults.volumes {
        if !spec.mounts.iter().any(|m| &m.destination == path) {
            wanted.push((path.clone(), anonymous_volume_name(id, path), true));
        }
    }
    wanted
}

/// Create a working directory the image lacks, owned by the process's user, as Docker and
/// Podman do (the runtime would fail with a bare "failed to unix syscall").
fn ensure_workdir(rootfs: &std::path::Path, process: &spec::ResolvedProcess) -> Result<()> {
    let host = spec::resolve_in_rootfs(rootfs, &process.cwd).map_err(io_err(&process.cwd))?;
    match std::fs::metadata(&host) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(EngineError::Invalid(format!(
            "working directory {} is not a directory in the image",
            process.cwd.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&host).map_err(io_err(&host))?;
            std::os::unix::fs::chown(&host, Some(process.uid), Some(process.gid))
                .map_err(io_err(&host))
        }
        Err(e) => Err(io_err(&host)(e)),
    }
}

impl Engine {
    /// Print a container's log (stdout records to stdout, stderr to stderr); with `follow`,
    /// keep printing until it exits.
    pub fn container_logs(
        &mut self,
        name_or_id: &str,
        opts: &crate::runtime::logs::LogOptions,
        follow: bool,
    ) -> Result<()> {
        let record = self.find_container(name_or_id)?;
        let path = self.container_dir(&record.id).log();
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr().lock();
        let result = if follow && record.status.is_active() {
            let monitor = record.monitor_pid.zip(record.monitor_start);
            let stop =
                move || monitor.is_none_or(|(pid, start)| !process::is_same_process(pid, start));
            crate::runtime::logs::follow_logs(&path, opts, &mut stdout, &mut stderr, stop)
        } else if path.exists() {
            crate::runtime::logs::read_logs(&path, opts, &mut stdout, &mut stderr)
        } else {
            Ok(())
        };
        match result {
            Ok(()) => Ok(()),
            // A closed pipe (`logs | head`) is not an error.
            Err(crate::runtime::logs::LogError::Output(e))
                if e.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                Ok(())
            }
            Err(e) => Err(EngineError::Invalid(e.to_string())),
        }
    }

    /// Bytes in the container's writable layer.
    pub fn container_size(&self, id: &str) -> u64 {
        fn walk(path: &std::path::Path) -> u64 {
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                return 0;
            };
            if meta.is_dir() {
                std::fs::read_dir(path)
                    .map(|entries| entries.flatten().map(|e| walk(&e.path())).sum())
                    .unwrap_or(0)
            } else {
                meta.len()
            }
        }
        walk(&self.container_dir(id).upper())
    }

    /// Podman-shaped `container inspect` JSON.
    pub fn inspect_container(&mut self, name_or_id: &str) -> Result<serde_json::Value> {
        let record = self.find_container(name_or_id)?;
        let spec = Self::spec_of(&record)?;
        let command = self.command_of(&record, &spec);
        let dir = self.container_dir(&record.id);
        let network_settings = self.network_settings(&record)?;
        let limits = CgroupLayout::detect()
            .ok()
            .filter(|_| record.status.is_active())
            .and_then(|l| crate::runtime::cgroups::limits(&l, &Self::cgroup_path(&record.id)).ok());
        let health_log: serde_json::Value = record
            .health_log
            .as_deref()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| serde_json::json!([]));
        let volume_data = |name: &str| {
            self.paths
                .root
                .join("volumes")
                .join(name)
                .join("_data")
                .display()
                .to_string()
        };
        let mut mounts: Vec<serde_json::Value> = spec
            .mounts
            .iter()
            .map(|m| {
                let (kind, source, name) = match &m.kind {
                    MountKind::Bind { source } => {
                        ("bind", source.display().to_string(), String::new())
                    }
                    MountKind::Volume { name } => ("volume", volume_data(name), name.clone()),
                    MountKind::Anonymous => {
                        let name = anonymous_volume_name(&record.id, &m.destination);
                        ("volume", volume_data(&name), name)
                    }
                    MountKind::Tmpfs { .. } => ("tmpfs", "tmpfs".to_string(), String::new()),
                };
                serde_json::json!({
                    "Type": kind,
                    "Name": name,
                    "Source": source,
                    "Destination": m.destination,
                    "RW": !m.read_only,
                })
            })
            .collect();
        // The image's VOLUMEs no mount covers get anonymous volumes when the container starts.
        for path in self.image_defaults_of(&record).volumes {
            if !spec.mounts.iter().any(|m| m.destination == path) {
                let name = anonymous_volume_name(&record.id, &path);
                mounts.push(serde_json::json!({
                    "Type": "volume",
                    "Name": name,
                    "Source": volume_data(&name),
                    "Destination": path,
                    "RW": true,
                }));
            }
        }
        let restart = match &spec.restart {
            spec::RestartPolicy::No => ("no", 0),
            spec::RestartPolicy::OnFailure { max_retries } => {
                ("on-failure", max_retries.unwrap_or(0))
            }
            spec::RestartPolicy::Always => ("always", 0),
            spec::RestartPolicy::UnlessStopped => ("unless-stopped", 0),
        };
        Ok(serde_json::json!({
            "Id": record.id,
            "Created": record.created,
            "Path": command.first().cloned().unwrap_or_default(),
            "Args": command.iter().skip(1).collect::<Vec<_>>(),
            "State": {
                "OciVersion": "1.2.0",
                "Status": record.status.as_str(),
                "Running": record.status == ContainerStatus::Running,
                "Paused": record.status == ContainerStatus::Paused,
                "Restarting": !record.status.is_active() && live_monitor(&record).is_some(),
                "OOMKilled": record.oom_killed,
                "Dead": false,
                "Pid": record.pid.unwrap_or(0),
                "ConmonPid": record.monitor_pid.unwrap_or(0),
                "ExitCode": record.exit_code.unwrap_or(0),
                "Error": "",
                "StartedAt": record.started_at.clone().unwrap_or_default(),
                "FinishedAt": record.finished_at.clone().unwrap_or_default(),
                "Health": record.health.as_ref().map(|h| serde_json::json!({
                    "Status": h,
                    "FailingStreak": record.health_failing,
                    "Log": health_log,
                })),
            },
            "Image": record.image_id,
            "ImageName": record.image_name,
            "Rootfs": "",
            "ResolvConfPath": dir.file("resolv.conf"),
            "HostnamePath": dir.file("hostname"),
            "HostsPath": dir.file("hosts"),
            "LogPath": dir.log(),
            "Name": record.name,
            "Pod": record.pod_id.clone().unwrap_or_default(),
            "NetworkSettings": network_settings,
            "RestartCount": record.restart_count,
            "Driver": "overlay",
            "OCIRuntime": spec.runtime.as_deref().unwrap_or(crate::runtime::BUILTIN),
            "Mounts": mounts,
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "UpperDir": dir.upper(),
                    "WorkDir": dir.work(),
                    "MergedDir": dir.merged(),
                }
            },
            "Config": {
                "Hostname": spec.effective_hostname(&record.id),
                "User": spec.user.clone().unwrap_or_default(),
                "Env": spec.env,
                "Cmd": spec.command,
                "Entrypoint": spec.entrypoint,
                "Image": record.image_name,
                "WorkingDir": spec.workdir,
                "Labels": spec.labels,
                "Annotations": spec.annotations,
                "StopSignal": format!("{:?}", spec.stop_signal),
                "StopTimeout": spec.stop_timeout,
                "Tty": spec.tty,
                "OpenStdin": spec.stdin,
                "Healthcheck": spec.healthcheck.as_ref().map(|h| serde_json::json!({
                    "Test": h.test,
                    "Interval": h.interval.as_nanos() as u64,
                    "Timeout": h.timeout.as_nanos() as u64,
                    "StartPeriod": h.start_period.as_nanos() as u64,
                    "Retries": h.retries,
                })),
            },
            "HostConfig": {
                "Memory": spec.resources.memory.unwrap_or(0),
                "MemorySwap": spec.resources.memory_swap.unwrap_or(0),
                "NanoCpus": spec.resources.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
                "CpuShares": spec.resources.cpu_shares.unwrap_or(0),
                "PidsLimit": spec.resources.pids_limit.unwrap_or(0),
                "RestartPolicy": { "Name": restart.0, "MaximumRetryCount": restart.1 },
                "AutoRemove": spec.auto_remove,
                "Privileged": spec.privileged,
                "ReadonlyRootfs": spec.read_only,
                "CapAdd": spec.cap_add,
                "CapDrop": spec.cap_drop,
                "NetworkMode": match &spec.network {
                    spec::NetworkMode::Bridge { .. } => "bridge".to_string(),
                    other => other.to_string(),
                },
                "CgroupLimits": limits.map(|l| serde_json::json!({
                    "Memory": l.memory_limit,
                    "CpuQuota": l.cpu_quota_us,
                    "CpuPeriod": l.cpu_period_us,
                    "CpuShares": l.cpu_shares,
                    "PidsLimit": l.pids_max,
                })),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("web"));
        assert!(valid_name("a.b-c_d9"));
        assert!(valid_name("9lives"));
        assert!(!valid_name(""));
        assert!(!valid_name("-web"));
        assert!(!valid_name("_web"));
        assert!(!valid_name("we b"));
        assert!(!valid_name("web/1"));
        assert!(!valid_name("wéb"));
    }
}
