//! Services: a virtual IP on a bridge network with a name in every member's `/etc/hosts`,
//! node ports on the host, and a supervised proxy that spreads connections over the
//! endpoints (the running pods its selector picks, on their target port). The virtual IP is a
//! lease like a pod's (a sandbox row owned by the service), put on the bridge so pods reach
//! the host-side proxy there.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::sandbox::{lease, live, stop_process};
use super::{Engine, EngineError, Result, io_err};
use crate::network::bridge;
use crate::network::ports::{PortMapping, Protocol};
use crate::network::service_proxy::{self, Endpoints, ServiceListener};
use crate::state::SandboxRecord;
use crate::state::kube::{ServiceRecord, write};
use crate::state::networks::write as net_write;
use crate::sys::process;

/// Where a Service port sends connections in each endpoint pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetPort {
    Number(u16),
    /// A container port's name, looked up per pod.
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub target_port: TargetPort,
    /// Published on the host (NodePort and LoadBalancer Services).
    pub node_port: Option<u16>,
    pub protocol: Protocol,
}

impl ServicePort {
    fn id(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.port.to_string())
    }
}

/// A Service as the engine keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub namespace: String,
    pub name: String,
    pub network: String,
    /// Pods whose labels include all of these are its endpoints; empty selects none.
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A Service as `kube play` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceInfo {
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub cluster_ip: Option<String>,
    pub ports: Vec<ServicePort>,
    pub endpoints: Endpoints,
    pub proxy_pid: Option<i32>,
}

impl Engine {
    fn service_dir(&self, id: &str) -> PathBuf {
        self.paths.runroot.join("services").join(id)
    }

    /// Create a Service: its virtual IP, names, node ports and proxy. Node ports in use fail
    /// it before anything is made; a later failure undoes what was made.
    pub fn create_service(&mut self, spec: ServiceSpec) -> Result<String> {
        if self.store.service(&spec.namespace, &spec.name)?.is_some() {
            return Err(EngineError::Conflict(format!(
                "service {}/{} already exists",
                spec.namespace, spec.name
            )));
        }
        let network = self.find_network(&spec.network)?;
        let node_ports: Vec<PortMapping> = spec
            .ports
            .iter()
            .filter_map(|p| {
                Some(PortMapping {
                    host_ip: None,
                    host_port: p.node_port?,
                    container_port: p.port,
                    protocol: p.protocol,
                    range: 1,
                })
            })
            .collect();
        crate::network::ports::check_free(&node_ports).map_err(EngineError::Conflict)?;
        self.ensure_network_ready(&network)?;
        let id = super::containers::random_hex(32);
        let record = ServiceRecord {
            id: id.clone(),
            namespace: spec.namespace.clone(),
            name: spec.name.clone(),
            spec: serde_json::to_string(&spec).expect("a service spec serialises"),
            created: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let db = self.paths.root.join("state.db");
        let vip = self.store.write(|tx| -> Result<Ipv4Addr> {
            if !write::insert_service(tx, &record)? {
                return Err(EngineError::Conflict(format!(
                    "service {}/{} already exists",
                    spec.namespace, spec.name
                )));
            }
            let vip = lease(tx, &network, &db)?;
            net_write::put_sandbox(
                tx,
                &SandboxRecord {
                    owner: id.clone(),
                    network: Some(network.record.name.clone()),
                    ip: Some(vip.to_string()),
                    ..SandboxRecord::default()
                },
            )?;
            Ok(vip)
        })?;
        let made = (|| -> Result<()> {
            bridge::add_vip(&network.record.bridge, vip)
                .map_err(|e| EngineError::Invalid(format!("service {}: {e}", spec.name)))?;
            let dir = self.service_dir(&id);
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let endpoints = self.endpoints_of(&spec)?;
            let file = dir.join("endpoints.json");
            service_proxy::write_endpoints(&file, &endpoints).map_err(io_err(&file))?;
            let mut listeners = Vec::new();
            for p in &spec.ports {
                listeners.push(ServiceListener {
                    id: p.id(),
                    addr: SocketAddr::new(IpAddr::V4(vip), p.port),
                    protocol: p.protocol,
                });
                if let Some(node_port) = p.node_port {
                    listeners.push(ServiceListener {
                        id: p.id(),
                        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), node_port),
                        protocol: p.protocol,
                    });
                }
            }
            self.start_service_proxy(&id, &listeners, &file)
        })();
        if let Err(e) = made {
            let _ = self.remove_service_by_id(&id);
            return Err(e);
        }
        self.refresh_hosts(&network.record.name);
        Ok(id)
    }

    fn start_service_proxy(
        &mut self,
        id: &str,
        listeners: &[ServiceListener],
        endpoints: &Path,
    ) -> Result<()> {
        let args: Vec<std::ffi::OsString> = vec![
            "service-proxy".into(),
            "--endpoints".into(),
            endpoints.into(),
            "--listeners".into(),
            serde_json::to_string(listeners)
                .expect("listeners serialise")
                .into(),
            id.into(),
        ];
        let pid = self.spawn_supervisor(&args, "the service proxy")?;
        let start = process::start_time(pid).unwrap_or_default();
        self.store
            .write(|tx| net_write::set_proxy(tx, id, Some((pid, start))))?;
        Ok(())
    }

    /// Remove a Service by namespace and name; false when there is none.
    pub fn remove_service(&mut self, namespace: &str, name: &str) -> Result<bool> {
        match self.store.service(namespace, name)? {
            Some(s) => {
                self.remove_service_by_id(&s.id)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Proxy, virtual IP, lease, row, files; best effort and idempotent.
    fn remove_service_by_id(&mut self, id: &str) -> Result<()> {
        let sandbox = self.store.sandbox(id)?;
        if let Some(s) = &sandbox {
            stop_process(s.proxy_pid, s.proxy_start);
            if let (Some(network), Some(ip)) = (&s.network, &s.ip)
                && let Ok(n) = self.find_network(network)
            {
                if let Ok(addr) = ip.parse()
                    && let Err(e) = bridge::remove_vip(&n.record.bridge, addr)
                {
                    tracing::warn!("{e}");
                }
                super::sandbox::host_release(
                    &n.record.bridge,
                    ip,
                    &self.paths.root.join("state.db"),
                );
            }
        }
        self.store.write(|tx| -> Result<()> {
            net_write::remove_sandbox(tx, id)?;
            write::remove_service(tx, id)?;
            Ok(())
        })?;
        let _ = crate::sys::fs::remove_all(&self.service_dir(id));
        if let Some(network) = sandbox.and_then(|s| s.network) {
            self.refresh_hosts(&network);
        }
        Ok(())
    }

    pub fn list_services(&mut self) -> Result<Vec<ServiceInfo>> {
        let mut out = Vec::new();
        for record in self.store.services()? {
            let spec: ServiceSpec = serde_json::from_str(&record.spec).map_err(|e| {
                EngineError::Invalid(format!("stored service {} is malformed: {e}", record.name))
            })?;
            let sandbox = self.store.sandbox(&record.id)?;
            out.push(ServiceInfo {
                id: record.id.clone(),
                namespace: record.namespace,
                name: record.name,
                cluster_ip: sandbox.as_ref().and_then(|s| s.ip.clone()),
                endpoints: self.endpoints_of(&spec)?,
                ports: spec.ports,
                proxy_pid: sandbox.and_then(|s| live(s.proxy_pid, s.proxy_start)),
            });
        }
        Ok(out)
    }

    /// The endpoints of a Service now: each running pod of its namespace whose labels match
    /// its selector, at the target port of each Service port.
    fn endpoints_of(&mut self, spec: &ServiceSpec) -> Result<Endpoints> {
        let mut out = Endpoints::new();
        for p in &spec.ports {
            out.insert(p.id(), Vec::new());
        }
        if spec.selector.is_empty() {
            return Ok(out);
        }
        for pod in self.list_pods()? {
            if pod.namespace.as_deref().unwrap_or("default") != spec.namespace
                || !spec
                    .selector
                    .iter()
                    .all(|(k, v)| pod.labels.get(k) == Some(v))
                || !matches!(
                    pod.status,
                    super::PodStatus::Running | super::PodStatus::Degraded
                )
                // Ready: no running container's readiness probe fails (or has yet to pass).
                || pod
                    .containers
                    .iter()
                    .any(|c| c.status.is_active() && c.ready == Some(false))
            {
                continue;
            }
            let Some(ip) = pod.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) else {
                continue;
            };
            let record = self.find_pod(&pod.id)?;
            let pod_spec = Self::pod_spec_of(&record)?;
            for p in &spec.ports {
                let port = match &p.target_port {
                    TargetPort::Number(n) => Some(*n),
                    TargetPort::Name(name) => pod_spec.named_ports.get(name).copied(),
                };
                if let Some(port) = port {
                    out.entry(p.id())
                        .or_default()
                        .push(SocketAddr::new(ip, port));
                }
            }
        }
        Ok(out)
    }

    /// Rewrite every Service's endpoints (after pods came, went, started or stopped).
    pub fn refresh_service_endpoints(&mut self) -> Result<()> {
        for record in self.store.services()? {
            let Ok(spec) = serde_json::from_str::<ServiceSpec>(&record.spec) else {
                continue;
            };
            let endpoints = self.endpoints_of(&spec)?;
            let file = self.service_dir(&record.id).join("endpoints.json");
            if let Err(e) = service_proxy::write_endpoints(&file, &endpoints) {
                tracing::warn!("updating the endpoints of service {}: {e}", record.name);
            }
        }
        Ok(())
    }
}
