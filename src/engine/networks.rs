//! Bridge networks: `network create/ls/inspect/rm/prune`, the default network, and the IPAM
//! (leases are sandbox rows; see `state::networks`). A network's bridge and firewall rules
//! are made when its first member joins, so `network create` costs no kernel work.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::Utc;

use super::{Engine, EngineError, Result};
use crate::network::{Ipv4Net, bridge, firewall};
use crate::spec::{DEFAULT_NETWORK, valid_network_name};
use crate::state::NetworkRecord;
use crate::state::networks::write;

/// The default network's bridge and subnet, as Podman's `podman0` and 10.88.0.0/16.
pub const DEFAULT_BRIDGE: &str = "oxpod0";
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// A network as `network ls` and `network inspect` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NetworkInfo {
    pub name: String,
    pub id: String,
    pub driver: &'static str,
    pub network_interface: String,
    pub created: String,
    pub subnets: Vec<SubnetInfo>,
    pub ipv6_enabled: bool,
    pub internal: bool,
    pub dns_enabled: bool,
    pub labels: BTreeMap<String, String>,
    pub ipam_options: BTreeMap<String, String>,
    /// Pods and containers attached, by name.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SubnetInfo {
    pub subnet: String,
    pub gateway: String,
}

/// A network with its subnet parsed.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub record: NetworkRecord,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
}

impl Network {
    fn from_record(record: NetworkRecord) -> Result<Network> {
        let subnet: Ipv4Net = record.subnet.parse().map_err(EngineError::Invalid)?;
        let gateway: Ipv4Addr = record.gateway.parse().map_err(|_| {
            EngineError::Invalid(format!(
                "network {} has a malformed gateway {:?}",
                record.name, record.gateway
            ))
        })?;
        Ok(Network {
            record,
            subnet,
            gateway,
        })
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn default_record() -> NetworkRecord {
    let subnet: Ipv4Net = DEFAULT_SUBNET.parse().expect("the default subnet parses");
    NetworkRecord {
        name: DEFAULT_NETWORK.to_string(),
        id: network_id(DEFAULT_NETWORK),
        bridge: DEFAULT_BRIDGE.to_string(),
        subnet: subnet.to_string(),
        gateway: subnet.first_host().to_string(),
        internal: false,
        labels: "{}".to_string(),
        created: now(),
    }
}

/// A stable id from the name (sha256), so the default network has the same id everywhere.
fn network_id(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(name.as_bytes()))
}

impl Engine {
    /// A network by name or id; the default one is made on first use.
    pub(crate) fn find_network(&mut self, name: &str) -> Result<Network> {
        if let Some(record) = self.store.network(name)? {
            return Network::from_record(record);
        }
        if name == DEFAULT_NETWORK {
            let record = default_record();
            self.store.write(|tx| write::insert_network(tx, &record))?;
            let record = self.store.network(name)?.unwrap_or(record);
            return Network::from_record(record);
        }
        let matches: Vec<NetworkRecord> = self
            .store
            .networks()?
            .into_iter()
            .filter(|n| n.id.starts_with(name))
            .collect();
        match matches.len() {
            1 => Network::from_record(matches.into_iter().next().expect("one match")),
            0 => Err(EngineError::NetworkNotFound(format!(
                "no such network: {name}"
            ))),
            _ => Err(EngineError::Invalid(format!(
                "network id {name} is ambiguous; give more characters"
            ))),
        }
    }

    /// `network create`. Fails on a taken name, an overlapping subnet or a bad gateway;
    /// nothing is made then.
    pub fn create_network(&mut self, options: NetworkOptions) -> Result<NetworkInfo> {
        if !valid_network_name(&options.name) {
            return Err(EngineError::Invalid(format!(
                "invalid network name {:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit",
                options.name
            )));
        }
        if matches!(
            options.name.as_str(),
            "none" | "host" | "bridge" | "private" | "default"
        ) {
            return Err(EngineError::Invalid(format!(
                "{:?} is a reserved network name",
                options.name
            )));
        }
        // Make sure the default network is in the store, so its subnet counts below.
        self.find_network(DEFAULT_NETWORK)?;
        let labels = serde_json::to_string(&options.labels).expect("labels serialise");
        let record = self.store.write(|tx| -> Result<NetworkRecord> {
            let existing = write::networks(tx)?;
            if existing.iter().any(|n| n.name == options.name) {
                return Err(EngineError::Conflict(format!(
                    "network name {} is already used",
                    options.name
                )));
            }
            let taken: Vec<Ipv4Net> = existing
                .iter()
                .filter_map(|n| n.subnet.parse().ok())
                .collect();
            let subnet = match options.subnet {
                Some(subnet) => {
                    if let Some((other, net)) = existing
                        .iter()
                        .zip(&taken)
                        .find(|(_, net)| net.overlaps(&subnet))
                    {
                        return Err(EngineError::Conflict(format!(
                            "subnet {subnet} overlaps {net} of network {}",
                            other.name
                        )));
                    }
                    subnet
                }
                None => free_subnet(&taken).ok_or_else(|| {
                    EngineError::Conflict(
                        "no free subnet left in 10.89.0.0/16 to 10.255.255.0/24; give --subnet"
                            .to_string(),
                    )
                })?,
            };
            let gateway = match options.gateway {
                Some(gw) => {
                    if !subnet.contains(gw) || gw == subnet.addr || gw == subnet.broadcast() {
                        return Err(EngineError::Invalid(format!(
                            "gateway {gw} is not a host address of subnet {subnet}"
                        )));
                    }
                    gw
                }
                None => subnet.first_host(),
            };
            let used: Vec<&str> = existing.iter().map(|n| n.bridge.as_str()).collect();
            let bridge = (1..)
                .map(|n| format!("oxpod{n}"))
                .find(|b| !used.contains(&b.as_str()) && !bridge::exists(b))
                .expect("an unused bridge name");
            let record = NetworkRecord {
                name: options.name.clone(),
                id: network_id(&format!(
                    "{}\0{}",
                    options.name,
                    super::containers::random_hex(16)
                )),
                bridge,
                subnet: subnet.to_string(),
                gateway: gateway.to_string(),
                internal: options.internal,
                labels: labels.clone(),
                created: now(),
            };
            write::insert_network(tx, &record)?;
            Ok(record)
        })?;
        self.network_info(Network::from_record(record)?)
    }

    fn network_info(&mut self, network: Network) -> Result<NetworkInfo> {
        let members = self.network_member_names(&network.record.name)?;
        Ok(NetworkInfo {
            name: network.record.name.clone(),
            id: network.record.id.clone(),
            driver: "bridge",
            network_interface: network.record.bridge.clone(),
            created: network.record.created.clone(),
            subnets: vec![SubnetInfo {
                subnet: network.subnet.to_string(),
                gateway: network.gateway.to_string(),
            }],
            ipv6_enabled: false,
            internal: network.record.internal,
            dns_enabled: false,
            labels: serde_json::from_str(&network.record.labels).unwrap_or_default(),
            ipam_options: BTreeMap::from([("driver".to_string(), "host-local".to_string())]),
            members,
        })
    }

    /// Names of the pods and containers holding a lease on the network.
    fn network_member_names(&mut self, network: &str) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for member in self.store.network_members(network)? {
            if let Some(pod) = self.store.pod(&member.owner)? {
                names.push(pod.name);
            } else if let Some(c) = self.store.container(&member.owner)? {
                names.push(c.name);
            }
        }
        Ok(names)
    }

    /// `network ls`: every network, the default one included.
    pub fn list_networks(&mut self) -> Result<Vec<NetworkInfo>> {
        self.find_network(DEFAULT_NETWORK)?;
        let records = self.store.networks()?;
        records
            .into_iter()
            .map(|r| Network::from_record(r).and_then(|n| self.network_info(n)))
            .collect()
    }

    pub fn inspect_network(&mut self, name: &str) -> Result<NetworkInfo> {
        let network = self.find_network(name)?;
        self.network_info(network)
    }

    /// `network rm`: refused while pods or containers use it, unless `force`, which removes
    /// those first.
    pub fn remove_network(&mut self, name: &str, force: bool) -> Result<String> {
        let network = self.find_network(name)?;
        let name = network.record.name.clone();
        if name == DEFAULT_NETWORK {
            return Err(EngineError::Invalid(format!(
                "the default network {name} cannot be removed"
            )));
        }
        let users = self.network_users(&name)?;
        if !users.is_empty() {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "network {name} is used by {}; remove them first or use --force",
                    users
                        .iter()
                        .map(|(kind, n)| format!("{kind} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            for (kind, user) in users {
                let removed = if kind == "pod" {
                    self.remove_pod(&user, true).map(|_| ())
                } else {
                    self.remove_container(&user, true, false).map(|_| ())
                };
                match removed {
                    Ok(())
                    | Err(EngineError::PodNotFound(_) | EngineError::ContainerNotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let removed = self.store.write(|tx| -> Result<bool> {
            if write::member_count(tx, &name)? > 0 {
                return Err(EngineError::Conflict(format!(
                    "network {name} gained a member meanwhile; try again"
                )));
            }
            Ok(write::remove_network(tx, &name)?)
        })?;
        if removed {
            let _lock = self.network_lock()?;
            if let Err(e) = firewall::remove_rules(&name) {
                tracing::warn!("removing the firewall rules of network {name}: {e}");
            }
            if let Err(e) = bridge::remove_bridge(&network.record.bridge) {
                tracing::warn!("removing bridge {}: {e}", network.record.bridge);
            }
        }
        Ok(name)
    }

    /// Pods and containers (kind, name) whose spec names the network, running or not.
    fn network_users(&mut self, network: &str) -> Result<Vec<(&'static str, String)>> {
        let mut users = Vec::new();
        for pod in self.store.pods()? {
            if let Ok(spec) = serde_json::from_str::<crate::spec::PodSpec>(&pod.spec)
                && spec.network.bridge() == Some(network)
            {
                users.push(("pod", pod.name));
            }
        }
        for c in self.store.containers()? {
            if c.pod_id.is_none()
                && let Ok(spec) = Self::spec_of(&c)
                && spec.network.bridge() == Some(network)
            {
                users.push(("container", c.name));
            }
        }
        Ok(users)
    }

    /// `network prune`: every network but the default one that nothing uses.
    pub fn prune_networks(&mut self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for record in self.store.networks()? {
            if record.name == DEFAULT_NETWORK || !self.network_users(&record.name)?.is_empty() {
                continue;
            }
            match self.remove_network(&record.name, false) {
                Ok(name) => removed.push(name),
                Err(EngineError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Serialises changes to bridges and firewall rules, which belong to the whole host
    /// rather than to one store.
    pub(crate) fn network_lock(&self) -> Result<crate::sys::lock::FileLock> {
        let path = std::path::Path::new("/run/lock/oxpod-network.lock");
        let path = if path.parent().is_some_and(|p| p.is_dir()) {
            path.to_path_buf()
        } else {
            self.paths.runroot.join("network.lock")
        };
        crate::sys::lock::exclusive(&path).map_err(super::io_err(&path))
    }

    /// Make the network's bridge and firewall rules when its bridge is missing (first use,
    /// or after a reboot).
    pub(crate) fn ensure_network_ready(&self, network: &Network) -> Result<()> {
        if bridge::exists(&network.record.bridge) {
            return Ok(());
        }
        let _lock = self.network_lock()?;
        bridge::ensure_bridge(&network.record.bridge, network.subnet, network.gateway)
            .map_err(|e| EngineError::Invalid(format!("network {}: {e}", network.record.name)))?;
        if let Err(e) = firewall::ensure_rules(
            &network.record.name,
            &network.record.bridge,
            network.subnet,
            network.record.internal,
        ) {
            tracing::warn!(
                "network {}: {e}; pods on it can reach each other and the host, but not beyond",
                network.record.name
            );
        }
        Ok(())
    }
}

/// The first /24 in 10.89.0.0 - 10.255.255.0 that overlaps none of `taken`, as Podman picks
/// subnets for new networks.
fn free_subnet(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    (89u32..=255)
        .flat_map(|b| (0u32..=255).map(move |c| (b, c)))
        .map(|(b, c)| Ipv4Net::new(Ipv4Addr::new(10, b as u8, c as u8, 0), 24))
        .find(|candidate| !taken.iter().any(|t| t.overlaps(candidate)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_subnets_skip_taken_ones() {
        let default: Ipv4Net = DEFAULT_SUBNET.parse().unwrap();
        assert_eq!(free_subnet(&[default]).unwrap().to_string(), "10.89.0.0/24");
        let taken = [default, "10.89.0.0/23".parse().unwrap()];
        assert_eq!(free_subnet(&taken).unwrap().to_string(), "10.89.2.0/24");
    }
}
