//! `PodSpec`: what `pod create` asks for. A pod is a set of namespaces its containers join,
//! plus the network side those namespaces get (an address on a network, published ports).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::container::{HostEntry, NetworkMode};
use super::error::SpecError;
use crate::network::ports::PortMapping;

/// Which namespaces the pod's containers share (`--share`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Shares {
    pub net: bool,
    pub ipc: bool,
    pub uts: bool,
    pub pid: bool,
}

impl Default for Shares {
    /// Podman's default: network, IPC and UTS.
    fn default() -> Self {
        Shares {
            net: true,
            ipc: true,
            uts: true,
            pid: false,
        }
    }
}

impl FromStr for Shares {
    type Err = SpecError;

    /// `net,ipc,uts[,pid]`; `none` or an empty list shares nothing; a leading `+` adds to
    /// the default set, as Podman's `--share +pid`.
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let (mut out, list) = match s.strip_prefix('+') {
            Some(rest) => (Shares::default(), rest),
            None => (
                Shares {
                    net: false,
                    ipc: false,
                    uts: false,
                    pid: false,
                },
                s,
            ),
        };
        for kind in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            match kind {
                "net" => out.net = true,
                "ipc" => out.ipc = true,
                "uts" => out.uts = true,
                "pid" => out.pid = true,
                "none" => {}
                "cgroup" => {
                    return Err(SpecError::invalid(
                        "--share",
                        s,
                        "sharing the cgroup namespace is not supported",
                    ));
                }
                other => {
                    return Err(SpecError::invalid(
                        "--share",
                        s,
                        format!("unknown namespace {other:?}: expected net, ipc, uts or pid"),
                    ));
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Shares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> = [
            (self.ipc, "ipc"),
            (self.net, "net"),
            (self.pid, "pid"),
            (self.uts, "uts"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        f.write_str(&kinds.join(","))
    }
}

/// A pod as created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodSpec {
    pub name: String,
    /// The UTS namespace's hostname; the pod's name when unset.
    pub hostname: Option<String>,
    pub share: Shares,
    /// Bridge (a named network), none or host. Only meaningful when the network is shared.
    pub network: NetworkMode,
    pub publish: Vec<PortMapping>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The Kubernetes namespace of a played pod (Services of that namespace resolve by their
    /// short name in it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Named container ports (Kubernetes `ports[].name`), which a Service's `targetPort`
    /// may name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub named_ports: BTreeMap<String, u16>,
    pub add_hosts: Vec<HostEntry>,
    pub dns: Vec<IpAddr>,
    pub dns_search: Vec<String>,
}

impl PodSpec {
    pub fn effective_hostname(&self) -> &str {
        self.hostname.as_deref().unwrap_or(&self.name)
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        if !self.share.net {
            if !self.publish.is_empty() {
                return Err(SpecError::invalid(
                    "--publish",
                    self.publish[0].to_string(),
                    "a pod that does not share its network namespace cannot publish ports",
                ));
            }
        } else if matches!(self.network, NetworkMode::Host) && !self.publish.is_empty() {
            return Err(SpecError::invalid(
                "--publish",
                self.publish[0].to_string(),
                "ports cannot be published with --network host (they are the host's already)",
            ));
        }
        if matches!(self.network, NetworkMode::Pod { .. } | NetworkMode::Private) {
            return Err(SpecError::invalid(
                "--network",
                self.network.to_string(),
                "a pod's network is a bridge network name, none or host",
            ));
        }
        if let Some(h) = &self.hostname
            && (h.is_empty() || h.len() > 64 || h.contains(char::is_whitespace))
        {
            return Err(SpecError::invalid(
                "--hostname",
                h.clone(),
                "a hostname is 1 to 64 characters without spaces",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_lists() {
        let s: Shares = "net,ipc".parse().unwrap();
        assert!(s.net && s.ipc && !s.uts && !s.pid);
        let s: Shares = "+pid".parse().unwrap();
        assert!(s.net && s.ipc && s.uts && s.pid);
        let s: Shares = "none".parse().unwrap();
        assert!(!s.net && !s.ipc && !s.uts && !s.pid);
        assert_eq!(Shares::default().to_string(), "ipc,net,uts");
        assert!("net,mnt".parse::<Shares>().is_err());
    }

    #[test]
    fn publishing_needs_a_shared_network() {
        let mut spec = PodSpec {
            name: "p".into(),
            publish: crate::network::ports::parse_publish("8080:80").unwrap(),
            ..PodSpec::default()
        };
        assert!(spec.validate().is_ok());
        spec.share.net = false;
        assert!(spec.validate().is_err());
        spec.share.net = true;
        spec.network = NetworkMode::Host;
        assert!(spec.validate().is_err());
    }
}
