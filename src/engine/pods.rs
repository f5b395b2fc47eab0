//! Pods: a set of namespaces (network, IPC, UTS) held by a sandbox, which containers join.
//! A pod's status follows from its containers'; its network side lives from `pod create` to
//! `pod rm`, except the port proxy, which `pod stop` stops to free the host ports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nix::sys::signal::Signal;

use super::sandbox::{SandboxPlan, live, namespace_paths};
use super::{Engine, EngineError, Result};
use crate::network::ports;
use crate::spec::{ContainerSpec, NetworkMode, PodNamespaces, PodSpec};
use crate::state::pods::write;
use crate::state::{ContainerStatus, PodRecord};

/// A pod's status, from its containers' (as Podman reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PodStatus {
    Created,
    Running,
    Degraded,
    Paused,
    Exited,
}

impl PodStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PodStatus::Created => "Created",
            PodStatus::Running => "Running",
            PodStatus::Degraded => "Degraded",
            PodStatus::Paused => "Paused",
            PodStatus::Exited => "Exited",
        }
    }

    fn of(statuses: &[ContainerStatus]) -> PodStatus {
        let count = |s: ContainerStatus| statuses.iter().filter(|c| **c == s).count();
        let (running, paused, exited) = (
            count(ContainerStatus::Running),
            count(ContainerStatus::Paused),
            count(ContainerStatus::Exited),
        );
        let total = statuses.len();
        if total == 0 || count(ContainerStatus::Created) == total {
            PodStatus::Created
        } else if running == total {
            PodStatus::Running
        } else if paused == total {
            PodStatus::Paused
        } else if exited + count(ContainerStatus::Created) == total {
            PodStatus::Exited
        } else if running > 0 || paused > 0 {
            PodStatus::Degraded
        } else {
            PodStatus::Exited
        }
    }
}

/// One container of a pod, as `pod ps` and `pod inspect` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PodContainer {
    pub id: String,
    pub name: String,
    pub status: ContainerStatus,
    /// With a readiness probe: whether it passes.
    pub ready: Option<bool>,
    /// An init container (runs to completion before the others).
    pub init: bool,
    pub exit_code: Option<i32>,
    pub restart_count: u32,
}

/// A pod as `pod ps` and `pod inspect` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PodInfo {
    pub id: String,
    pub name: String,
    pub status: PodStatus,
    pub created: Option<DateTime<Utc>>,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub namespace: Option<String>,
    pub shared_namespaces: String,
    pub network: String,
    pub ip: Option<String>,
    pub ports: Vec<String>,
    pub containers: Vec<PodContainer>,
    /// The port proxy's pid while ports are published and the pod is up.
    pub proxy_pid: Option<i32>,
    /// The host end of its veth.
    pub host_veth: Option<String>,
}

impl Engine {
    /// A pod by name, full id or unique id prefix.
    pub fn find_pod(&mut self, name_or_id: &str) -> Result<PodRecord> {
        if let Some(p) = self.store.pod_by_name(name_or_id)? {
            return Ok(p);
        }
        if let Some(p) = self.store.pod(name_or_id)? {
            return Ok(p);
        }
        let ids = if name_or_id.len() >= 3 && name_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.store.pod_ids_with_prefix(name_or_id)?
        } else {
            Vec::new()
        };
        match ids.as_slice() {
            [id] => Ok(self
                .store
                .pod(id)?
                .ok_or_else(|| pod_not_found(name_or_id))?),
            [] => Err(pod_not_found(name_or_id)),
            _ => Err(EngineError::Invalid(format!(
                "pod id {name_or_id} is ambiguous; give more characters"
            ))),
        }
    }

    pub(crate) fn pod_spec_of(record: &PodRecord) -> Result<PodSpec> {
        serde_json::from_str(&record.spec).map_err(|e| {
            EngineError::Invalid(format!(
                "stored spec of pod {} is malformed: {e}",
                record.name
            ))
        })
    }

    fn pod_plan<'a>(&self, id: &'a str, spec: &'a PodSpec) -> SandboxPlan<'a> {
        SandboxPlan {
            owner: id,
            dir: self.pod_dir(id),
            network: if spec.share.net {
                &spec.network
            } else {
                &NetworkMode::Host
            },
            ipc: spec.share.ipc,
            uts: spec.share.uts,
            pid: spec.share.pid,
            hostname: spec.effective_hostname(),
            publish: &spec.publish,
            add_hosts: &spec.add_hosts,
            dns: &spec.dns,
            dns_search: &spec.dns_search,
        }
    }

    /// `pod create`: the row, then the sandbox (namespaces, address, port proxy). A taken
    /// name or port, or an unknown network, fails before anything is made; a later failure
    /// undoes what was made.
    pub fn create_pod(&mut self, mut spec: PodSpec) -> Result<String> {
        if spec.name.is_empty() {
            spec.name = self.free_pod_name()?;
        } else if !super::containers::valid_name(&spec.name) {
            return Err(EngineError::Invalid(format!(
                "invalid pod name {:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit",
                spec.name
            )));
        }
        spec.validate()
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        if self.store.pod_by_name(&spec.name)?.is_some() {
            return Err(name_taken(&spec.name));
        }
        if let Some(network) = spec.network.bridge() {
            self.find_network(network)?;
        }
        prepare_ports(&mut spec.publish)?;
        let id = super::containers::random_hex(32);
        let record = PodRecord {
            id: id.clone(),
            name: spec.name.clone(),
            spec: serde_json::to_string(&spec).expect("a pod spec serialises"),
            created: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        };
        if !self.store.write(|tx| write::insert(tx, &record))? {
            return Err(name_taken(&spec.name));
        }
        let plan = self.pod_plan(&id, &spec);
        if let Err(e) = self.ensure_sandbox(&plan) {
            let _ = self.store.write(|tx| write::remove(tx, &id));
            let _ = crate::sys::fs::remove_all(&self.pod_dir(&id));
            return Err(e);
        }
        Ok(id)
    }

    fn free_pod_name(&mut self) -> Result<String> {
        loop {
            let candidate = super::containers::random_name();
            if self.store.pod_by_name(&candidate)?.is_none() {
                return Ok(candidate);
            }
        }
    }

    /// Put a container spec into a pod: it joins the pod's namespaces and takes its
    /// hostname. Ports are the pod's to publish.
    pub(crate) fn join_pod(&mut self, spec: &mut ContainerSpec, pod: &PodRecord) -> Result<()> {
        let pod_spec = Self::pod_spec_of(pod)?;
        if !spec.publish.is_empty() {
            return Err(EngineError::Invalid(format!(
                "container {}: ports are published by the pod; give -p to `pod create` for pod {}",
                spec.name, pod.name
            )));
        }
        let paths = namespace_paths(
            &self.pod_dir(&pod.id),
            pod_spec.share.net && !matches!(pod_spec.network, NetworkMode::Host),
            pod_spec.share.ipc,
            pod_spec.share.uts,
        );
        spec.pod = Some(pod.id.clone());
        if pod_spec.share.net {
            spec.network = match (&pod_spec.network, &paths.net) {
                (NetworkMode::Host, _) => NetworkMode::Host,
                (_, Some(net)) => NetworkMode::Pod { netns: net.clone() },
                (_, None) => NetworkMode::Private,
            };
        }
        // A container may ask for the host's PID or IPC namespace (Kubernetes' hostPID,
        // hostIPC) where the pod does not share its own.
        let asked = spec.namespaces_from_pod.take().unwrap_or_default();
        spec.namespaces_from_pod = Some(PodNamespaces {
            net: match spec.network {
                NetworkMode::Pod { ref netns } => Some(netns.clone()),
                _ => None,
            },
            ipc: paths.ipc.or(asked.ipc),
            uts: paths.uts,
            pid: pod_spec
                .share
                .pid
                .then(|| super::sandbox::pid_namespace_path(&self.pod_dir(&pod.id)))
                .or(asked.pid),
        });
        if pod_spec.share.uts {
            spec.hostname = None;
        }
        Ok(())
    }

    /// Make sure a pod's sandbox is whole before one of its containers starts.
    pub(crate) fn ensure_pod_sandbox(&mut self, pod_id: &str) -> Result<()> {
        let pod = self
            .store
            .pod(pod_id)?
            .ok_or_else(|| pod_not_found(pod_id))?;
        let spec = Self::pod_spec_of(&pod)?;
        let plan = self.pod_plan(&pod.id, &spec);
        self.ensure_sandbox(&plan)
    }

    /// `pod start`: the sandbox, then every container in the order they were added.
    /// Returns the pod id; the first container that fails to start ends it with an error.
    pub fn start_pod(&mut self, name_or_id: &str) -> Result<String> {
        let pod = self.find_pod(name_or_id)?;
        self.ensure_pod_sandbox(&pod.id)?;
        let mut members = Vec::new();
        for c in self.store.pod_containers(&pod.id)? {
            let c = self.refresh(c)?;
            let init = Self::spec_of(&c)?.init_container;
            members.push((c, init));
        }
        // Init containers run once per start of the pod: not again while it is up.
        let up = members
            .iter()
            .any(|(c, init)| !init && c.status.is_active());
        for (c, init) in members {
            if init {
                if !up {
                    self.run_init_container(&pod.name, &c.id, &c.name)?;
                }
            } else if !c.status.is_active() {
                self.start_container(&c.id, super::Attach::Detached)?;
            } else if c.status == ContainerStatus::Paused {
                self.unpause_container(&c.id)?;
            }
        }
        Ok(pod.id)
    }

    /// Start an init container and wait for it; anything but exit 0 stops the pod's start.
    fn run_init_container(&mut self, pod: &str, id: &str, name: &str) -> Result<()> {
        self.start_container(id, super::Attach::Detached)?;
        let code = self.wait_container(id)?;
        if code != 0 {
            return Err(EngineError::Invalid(format!(
                "init container {name} of pod {pod} exited with code {code}"
            )));
        }
        Ok(())
    }

    /// Where a pod keeps files that outlive its restarts: emptyDir volumes, ConfigMap and
    /// Secret files. Removed with the pod.
    pub fn pod_data_dir(&self, pod_id: &str) -> std::path::PathBuf {
        self.paths.root.join("pods").join(pod_id)
    }

    /// `pod stop`: containers in reverse order, each with the timeout (its own when None);
    /// then the port proxy, freeing the host ports.
    pub fn stop_pod(&mut self, name_or_id: &str, timeout: Option<u32>) -> Result<String> {
        let pod = self.find_pod(name_or_id)?;
        let mut first_error = None;
        for c in self.store.pod_containers(&pod.id)?.into_iter().rev() {
            if let Err(e) = self.stop_container(&c.id, timeout)
                && first_error.is_none()
            {
                first_error = Some(e);
            }
        }
        self.stop_sandbox_proxy(&pod.id)?;
        match first_error {
            Some(e) => Err(e),
            None => Ok(pod.id),
        }
    }

    pub fn restart_pod(&mut self, name_or_id: &str, timeout: Option<u32>) -> Result<String> {
        let id = self.stop_pod(name_or_id, timeout)?;
        self.start_pod(&id)
    }

    /// `pod kill`: the signal to every running container.
    pub fn kill_pod(&mut self, name_or_id: &str, signal: Signal) -> Result<String> {
        let pod = self.find_pod(name_or_id)?;
        let mut killed = 0;
        for c in self.store.pod_containers(&pod.id)? {
            let c = self.refresh(c)?;
            if c.status.is_active() {
                self.kill_container(&c.id, signal)?;
                killed += 1;
            }
        }
        if killed == 0 {
            return Err(EngineError::Conflict(format!(
                "pod {} has no running containers to kill",
                pod.name
            )));
        }
        Ok(pod.id)
    }

    pub fn pause_pod(&mut self, name_or_id: &str) -> Result<String> {
        let pod = self.find_pod(name_or_id)?;
        for c in self.store.pod_containers(&pod.id)? {
            if self.refresh(c.clone())?.status == ContainerStatus::Running {
                self.pause_container(&c.id)?;
            }
        }
        Ok(pod.id)
    }

    pub fn unpause_pod(&mut self, name_or_id: &str) -> Result<String> {
        let pod = self.find_pod(name_or_id)?;
        for c in self.store.pod_containers(&pod.id)? {
            if self.refresh(c.clone())?.status == ContainerStatus::Paused {
                self.unpause_container(&c.id)?;
            }
        }
        Ok(pod.id)
    }

    /// `pod rm`: refused while containers run, unless `force`; removes its containers, its
    /// sandbox (proxy, veth, address, namespaces) and its files.
    pub fn remove_pod(&mut self, name_or_id: &str, force: bool) -> Result<String> {
        let pod = self.find_pod(name_or_id)?;
        let containers = self.store.pod_containers(&pod.id)?;
        if !force {
            for c in &containers {
                let c = self.refresh(c.clone())?;
                if c.status.is_active() {
                    return Err(EngineError::Conflict(format!(
                        "pod {} has running containers ({}); stop it first or use --force",
                        pod.name, c.name
                    )));
                }
            }
        }
        for c in containers.iter().rev() {
            match self.remove_container(&c.id, true, true) {
                Ok(_) | Err(EngineError::ContainerNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let dir = self.pod_dir(&pod.id);
        self.teardown_sandbox(&pod.id, &dir);
        // The row goes last: a command killed before it leaves a pod the next `rm` removes.
        self.store.write(|tx| -> Result<()> {
            if write::container_count(tx, &pod.id)? > 0 {
                return Err(EngineError::Conflict(format!(
                    "pod {} gained a container meanwhile; try again",
                    pod.name
                )));
            }
            write::remove(tx, &pod.id)?;
            Ok(())
        })?;
        let _ = crate::sys::fs::remove_all(&dir);
        let _ = crate::sys::fs::remove_all(&self.pod_data_dir(&pod.id));
        Ok(pod.id)
    }

    /// `pod prune`: every pod with no running container.
    pub fn prune_pods(&mut self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for pod in self.store.pods()? {
            let info = self.pod_info(&pod)?;
            if matches!(
                info.status,
                PodStatus::Running | PodStatus::Degraded | PodStatus::Paused
            ) {
                continue;
            }
            match self.remove_pod(&pod.id, false) {
                Ok(id) => removed.push(id),
                Err(EngineError::PodNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    pub fn list_pods(&mut self) -> Result<Vec<PodInfo>> {
        let pods = self.store.pods()?;
        pods.iter().map(|p| self.pod_info(p)).collect()
    }

    pub fn inspect_pod(&mut self, name_or_id: &str) -> Result<PodInfo> {
        let pod = self.find_pod(name_or_id)?;
        self.pod_info(&pod)
    }

    fn pod_info(&mut self, pod: &PodRecord) -> Result<PodInfo> {
        let spec = Self::pod_spec_of(pod)?;
        let mut containers = Vec::new();
        // Init containers have exited by design; the pod's status is its other containers'.
        let mut statuses = Vec::new();
        for c in self.store.pod_containers(&pod.id)? {
            let c = self.refresh(c)?;
            let init = Self::spec_of(&c).is_ok_and(|s| s.init_container);
            if !init {
                statuses.push(c.status);
            }
            containers.push(PodContainer {
                id: c.id,
                name: c.name,
                status: c.status,
                ready: c.ready,
                init,
                exit_code: c.exit_code,
                restart_count: c.restart_count,
            });
        }
        let sandbox = self.store.sandbox(&pod.id)?;
        Ok(PodInfo {
            id: pod.id.clone(),
            name: pod.name.clone(),
            status: PodStatus::of(&statuses),
            created: super::containers::parse_time(Some(&pod.created)),
            hostname: spec.effective_hostname().to_string(),
            labels: spec.labels.clone(),
            annotations: spec.annotations.clone(),
            namespace: spec.namespace.clone(),
            shared_namespaces: spec.share.to_string(),
            network: if spec.share.net {
                spec.network.to_string()
            } else {
                "host".to_string()
            },
            ip: sandbox.as_ref().and_then(|s| s.ip.clone()),
            ports: spec.publish.iter().map(|p| p.to_string()).collect(),
            containers,
            proxy_pid: sandbox
                .as_ref()
                .and_then(|s| live(s.proxy_pid, s.proxy_start)),
            host_veth: sandbox.and_then(|s| s.veth),
        })
    }

    /// The containers of a pod (ids), in the order they were added.
    pub fn pod_container_ids(&mut self, name_or_id: &str) -> Result<Vec<(String, String)>> {
        let pod = self.find_pod(name_or_id)?;
        Ok(self
            .store
            .pod_containers(&pod.id)?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect())
    }
}

/// Pick free host ports for `-p CONTAINER` and check every host port is free now, so a
/// taken one is reported before anything is made.
pub(crate) fn prepare_ports(publish: &mut [ports::PortMapping]) -> Result<()> {
    if publish.is_empty() {
        return Ok(());
    }
    ports::assign_host_ports(publish)
        .map_err(|e| EngineError::Conflict(format!("choosing free host ports: {e}")))?;
    ports::check_free(publish).map_err(EngineError::Conflict)
}

fn pod_not_found(name: &str) -> EngineError {
    EngineError::PodNotFound(format!("no such pod: {name}"))
}

fn name_taken(name: &str) -> EngineError {
    EngineError::Conflict(format!(
        "the pod name {name:?} is already in use; remove that pod or choose another name"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_status_follows_containers() {
        use ContainerStatus::*;
        assert_eq!(PodStatus::of(&[]), PodStatus::Created);
        assert_eq!(PodStatus::of(&[Created, Created]), PodStatus::Created);
        assert_eq!(PodStatus::of(&[Running, Running]), PodStatus::Running);
        assert_eq!(PodStatus::of(&[Running, Exited]), PodStatus::Degraded);
        assert_eq!(PodStatus::of(&[Exited, Created]), PodStatus::Exited);
        assert_eq!(PodStatus::of(&[Paused]), PodStatus::Paused);
    }
}

/// A pod as stored: its spec and its containers' specs, in the order they were added (what
/// `kube generate` maps back to Kubernetes objects).
#[derive(Debug, Clone)]
pub struct PodView {
    pub id: String,
    pub name: String,
    pub spec: PodSpec,
    pub containers: Vec<ContainerView>,
}

/// A container as stored.
#[derive(Debug, Clone)]
pub struct ContainerView {
    pub id: String,
    pub name: String,
    pub spec: ContainerSpec,
}

impl Engine {
    pub fn pod_view(&mut self, name_or_id: &str) -> Result<PodView> {
        let pod = self.find_pod(name_or_id)?;
        self.view_of(&pod)
    }

    /// Every pod, as stored (no status refresh: views are about specs).
    pub fn pod_views(&mut self) -> Result<Vec<PodView>> {
        let pods = self.store.pods()?;
        pods.iter().map(|p| self.view_of(p)).collect()
    }

    fn view_of(&mut self, pod: &PodRecord) -> Result<PodView> {
        let mut containers = Vec::new();
        for c in self.store.pod_containers(&pod.id)? {
            containers.push(ContainerView {
                spec: Self::spec_of(&c)?,
                id: c.id,
                name: c.name,
            });
        }
        Ok(PodView {
            id: pod.id.clone(),
            name: pod.name.clone(),
            spec: Self::pod_spec_of(pod)?,
            containers,
        })
    }

    /// A container (in a pod or not), as stored.
    pub fn container_spec_view(&mut self, name_or_id: &str) -> Result<ContainerView> {
        let c = self.find_container(name_or_id)?;
        Ok(ContainerView {
            spec: Self::spec_of(&c)?,
            id: c.id,
            name: c.name,
        })
    }
}
