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
}
