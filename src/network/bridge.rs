//! Host bridges for bridge networks: created on first use (and again after a reboot), with
//! the network's gateway address, shared by every sandbox on the network.

use std::io;
use std::net::Ipv4Addr;

use nix::errno::Errno;

use super::Ipv4Net;
use super::netlink::{Netlink, annotate, errno};

/// Create the bridge when missing with `gateway/subnet.prefix` and bring it up. Idempotent and
/// safe when several processes race: EEXIST from the create or from the address add is fine.
pub fn ensure_bridge(name: &str, subnet: Ipv4Net, gateway: Ipv4Addr) -> io::Result<()> {
    let what = format!("setting up bridge {name} with {gateway}/{}", subnet.prefix);
    if !subnet.contains(gateway) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what}: the gateway is not in {subnet}"),
        ));
    }
    let mut nl = Netlink::open().map_err(|e| annotate(e, &what))?;
    let link = match nl.link(name).map_err(|e| annotate(e, &what))? {
        Some(link) => link,
        None => {
            match nl.create_bridge_with_mac(name, Some(bridge_mac(name))) {
                Err(e) if errno(&e) != Some(Errno::EEXIST) => return Err(annotate(e, &what)),
                _ => {}
            }
            nl.link(name)
                .map_err(|e| annotate(e, &what))?
                .ok_or_else(|| io::Error::other(format!("{what}: it vanished after creation")))?
        }
    };
    if link.kind.as_deref() != Some("bridge") {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{what}: a {} device called {name} exists already",
                link.kind.as_deref().unwrap_or("non-bridge")
            ),
        ));
    }
    match nl.add_address(link.index, gateway, subnet.prefix) {
        Err(e) if errno(&e) != Some(Errno::EEXIST) => return Err(annotate(e, &what)),
        _ => {}
    }
    if !link.up {
        nl.set_up(link.index).map_err(|e| annotate(e, &what))?;
    }
    Ok(())
}

/// Delete the bridge; absent is fine. A device of that name that is not a bridge is left
/// alone, as it is not ours.
pub fn remove_bridge(name: &str) -> io::Result<()> {
    let what = format!("removing bridge {name}");
    let mut nl = Netlink::open().map_err(|e| annotate(e, &what))?;
    let Some(link) = nl.link(name).map_err(|e| annotate(e, &what))? else {
        return Ok(());
    };
    if link.kind.as_deref() != Some("bridge") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what}: {name} is not a bridge"),
        ));
    }
    match nl.delete_link(link.index) {
        Err(e) if errno(&e) != Some(Errno::ENODEV) => Err(annotate(e, what)),
        _ => Ok(()),
    }
}

/// Put a Service's virtual IP on the bridge as `ip/32`, so the host answers ARP for it on the
/// bridge and sandboxes on it reach a proxy listening there. Already there is fine. The bridge
/// must exist ([`ensure_bridge`] first); a /32 adds no prefix route, so the network's own routes
/// are unchanged wherever the VIP lies.
pub fn add_vip(bridge: &str, ip: Ipv4Addr) -> io::Result<()> {
    let what = format!("adding service address {ip} to bridge {bridge}");
    let mut nl = Netlink::open().map_err(|e| annotate(e, &what))?;
    let index = nl
        .link_index(bridge)
        .map_err(|e| annotate(e, &what))?
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{what}: there is no such bridge"),
            )
        })?;
    match nl.add_address(index, ip, 32) {
        Err(e) if errno(&e) != Some(Errno::EEXIST) => Err(annotate(e, what)),
        _ => Ok(()),
    }
}

/// Take a Service's virtual IP off the bridge. An absent address or bridge is fine; only the
/// `/32` goes, never the bridge's gateway address even when it is the same IP.
pub fn remove_vip(bridge: &str, ip: Ipv4Addr) -> io::Result<()> {
    let what = format!("removing service address {ip} from bridge {bridge}");
    let mut nl = Netlink::open().map_err(|e| annotate(e, &what))?;
    let Some(index) = nl.link_index(bridge).map_err(|e| annotate(e, &what))? else {
        return Ok(());
    };
    match nl.delete_address(index, ip, 32) {
        Err(e) if !matches!(errno(&e), Some(Errno::EADDRNOTAVAIL | Errno::ENODEV)) => {
            Err(annotate(e, what))
        }
        _ => Ok(()),
    }
}

/// Whether a link called `name` exists (of any kind, as any would block creating the bridge).
pub fn exists(name: &str) -> bool {
    Netlink::open()
        .and_then(|mut nl| nl.link_index(name))
        .is_ok_and(|index| index.is_some())
}

/// A fixed, locally administered MAC for a bridge. Left to itself the kernel gives a bridge the
/// lowest MAC among its ports, so the gateway's MAC would change whenever a veth with a lower
/// one joins, and sandboxes would keep sending to a stale ARP entry.
fn bridge_mac(name: &str) -> [u8; 6] {
    // FNV-1a: stable across runs and versions, unlike std's hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    let b = hash.to_be_bytes();
    // 0x02: locally administered, unicast.
    [0x02, b[0], b[1], b[2], b[3], b[4]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_mac_is_stable_local_unicast() {
        let mac = bridge_mac("oxpod0");
        assert_eq!(mac, bridge_mac("oxpod0"));
        assert_ne!(mac, bridge_mac("oxpod1"));
        assert_eq!(mac[0] & 0x03, 0x02);
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    struct RemoveOnDrop(String);

    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = remove_bridge(&self.0);
        }
    }

    #[test]
    fn ensure_is_idempotent_and_remove_tolerates_absence() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("oxt{:06x}", (nanos ^ std::process::id()) & 0xff_ffff);
        let _guard = RemoveOnDrop(name.clone());
        let subnet: Ipv4Net = "10.253.7.0/24".parse().unwrap();
        let gateway = subnet.first_host();
        assert!(!exists(&name));
        ensure_bridge(&name, subnet, gateway).unwrap();
        ensure_bridge(&name, subnet, gateway).unwrap();
        assert!(exists(&name));
        let mut nl = Netlink::open().unwrap();
        let link = nl.link(&name).unwrap().unwrap();
        assert!(link.up);
        assert_eq!(link.kind.as_deref(), Some("bridge"));
        assert_eq!(nl.addresses(link.index).unwrap(), vec![(gateway, 24)]);
        let bad = ensure_bridge(&name, subnet, "10.9.9.9".parse().unwrap()).unwrap_err();
        assert_eq!(bad.kind(), io::ErrorKind::InvalidInput);
        remove_bridge(&name).unwrap();
        assert!(!exists(&name));
        remove_bridge(&name).unwrap();
        assert!(remove_bridge("lo").is_err(), "not a bridge");
    }

    #[test]
    fn vips_come_and_go_without_touching_the_gateway() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "oxt{:06x}",
            (nanos ^ std::process::id() ^ 0x5a5a5a) & 0xff_ffff
        );
        let _guard = RemoveOnDrop(name.clone());
        let subnet: Ipv4Net = "10.253.9.0/24".parse().unwrap();
        let gateway = subnet.first_host();
        let inside: Ipv4Addr = "10.253.9.200".parse().unwrap();
        let outside: Ipv4Addr = "10.254.9.7".parse().unwrap();

        let e = add_vip(&name, inside).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        remove_vip(&name, inside).unwrap(); // no bridge: nothing to remove

        ensure_bridge(&name, subnet, gateway).unwrap();
        add_vip(&name, inside).unwrap();
        add_vip(&name, inside).unwrap(); // EEXIST is fine
        add_vip(&name, outside).unwrap();
        let mut nl = Netlink::open().unwrap();
        let index = nl.link_index(&name).unwrap().unwrap();
        let mut addrs = nl.addresses(index).unwrap();
        addrs.sort();
        assert_eq!(addrs, vec![(gateway, 24), (inside, 32), (outside, 32)]);
        // The host owns the VIP: something listening there is reachable.
        let l = std::net::TcpListener::bind((inside, 0)).unwrap();
        std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();

        remove_vip(&name, inside).unwrap();
        remove_vip(&name, inside).unwrap(); // EADDRNOTAVAIL is fine
        remove_vip(&name, gateway).unwrap(); // the /24 is not a VIP
        remove_vip(&name, outside).unwrap();
        assert_eq!(nl.addresses(index).unwrap(), vec![(gateway, 24)]);
    }
}
