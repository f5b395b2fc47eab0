//! Networking below the engine: namespaces held by bind mounts, bridges and veth pairs over
//! rtnetlink, nftables rules for forwarding and masquerade, address arithmetic for the IPAM,
//! `/etc/hosts` contents for the members of a network, and the userspace port proxy.

pub mod bridge;
pub mod firewall;
pub mod hosts;
pub mod netlink;
pub mod ports;
pub mod proxy;
pub mod sandbox;
pub mod service_proxy;

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 subnet: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    /// The subnet holding `addr`, with host bits cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
        let prefix = prefix.min(32);
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & Self::mask_of(prefix)),
            prefix,
        }
    }

    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix as u32)
        }
    }

    pub fn mask(&self) -> u32 {
        Self::mask_of(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let mask = self.mask() & other.mask();
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }

    /// The first usable host address (the default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Usable host addresses in order (neither the network nor the broadcast address).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.addr) + 1;
        let last = u32::from(self.broadcast());
        (first..last).map(Ipv4Addr::from)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid subnet {s:?}: expected ADDRESS/PREFIX"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("invalid subnet {s:?}: {addr:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| format!("invalid subnet {s:?}: the prefix must be 8 to 30"))?;
        let net = Ipv4Net::new(addr, prefix);
        if net.addr != addr {
            return Err(format!(
                "invalid subnet {s:?}: host bits are set (did you mean {net}?)"
            ));
        }
        Ok(net)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_arithmetic() {
        let net: Ipv4Net = "10.88.0.0/16".parse().unwrap();
        assert_eq!(net.first_host(), Ipv4Addr::new(10, 88, 0, 1));
        assert_eq!(net.broadcast(), Ipv4Addr::new(10, 88, 255, 255));
        assert!(net.contains(Ipv4Addr::new(10, 88, 3, 4)));
        assert!(!net.contains(Ipv4Addr::new(10, 89, 0, 1)));
        assert!(net.overlaps(&"10.88.5.0/24".parse().unwrap()));
        assert!(!net.overlaps(&"10.89.0.0/24".parse().unwrap()));
        let small: Ipv4Net = "192.168.7.0/30".parse().unwrap();
        assert_eq!(
            small.hosts().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(192, 168, 7, 1), Ipv4Addr::new(192, 168, 7, 2)]
        );
        assert!("10.88.0.1/16".parse::<Ipv4Net>().is_err());
        assert!("10.88.0.0".parse::<Ipv4Net>().is_err());
        assert!("10.88.0.0/40".parse::<Ipv4Net>().is_err());
    }
}
