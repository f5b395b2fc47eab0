//! Pod sandboxes: network, IPC and UTS namespaces held open by bind mounts, so a pod needs no
//! process to keep its namespaces alive, and the veth that connects a network namespace to a
//! bridge.
//!
//! Namespace work happens on short-lived threads: `unshare` and `setns` of these three kinds
//! only change the calling thread, so the caller's own namespaces are never touched and no
//! fork is needed.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::thread;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statfs::{NSFS_MAGIC, statfs};

use super::Ipv4Net;
use super::netlink::{Netlink, annotate, errno};

/// The interface name of the veth peer inside a sandbox.
pub const SANDBOX_IFNAME: &str = "eth0";

/// `lo` is always the first link of a network namespace (LOOPBACK_IFINDEX in the kernel).
const LOOPBACK_IFINDEX: u32 = 1;

/// Where the namespaces of a sandbox are held; a kind without a path is not created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespacePaths {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
}

impl NamespacePaths {
    /// (name under /proc/thread-self/ns, unshare flag, path) for each wanted kind.
    fn kinds(&self) -> Vec<(&'static str, CloneFlags, &Path)> {
        [
            ("net", CloneFlags::CLONE_NEWNET, &self.net),
            ("ipc", CloneFlags::CLONE_NEWIPC, &self.ipc),
            ("uts", CloneFlags::CLONE_NEWUTS, &self.uts),
        ]
        .into_iter()
        .filter_map(|(kind, flag, path)| Some((kind, flag, path.as_deref()?)))
        .collect()
    }
}

/// Create fresh namespaces of the kinds that have a path, each held by a bind mount of
/// `/proc/thread-self/ns/<kind>` onto that path (an empty file is created first; parent
/// directories are created). Done on a short-lived thread that unshares them, sets the hostname
/// when given (in the new UTS namespace) and brings loopback up in the new network namespace.
/// On any failure, whatever was mounted or created is undone before returning the error.
pub fn create_namespaces(paths: &NamespacePaths, hostname: Option<&str>) -> io::Result<()> {
    let kinds = paths.kinds();
    if let Some(name) = hostname {
        // Without a new UTS namespace, sethostname would rename the host.
        if paths.uts.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot set hostname {name:?} without a UTS namespace"),
            ));
        }
        if name.is_empty() || name.len() > 64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid hostname {name:?}: 1 to 64 bytes"),
            ));
        }
    }
    if kinds.is_empty() {
        return Ok(());
    }
    let mut held = Vec::new();
    let made = thread::scope(|s| {
        s.spawn(|| hold_new_namespaces(&kinds, hostname, &mut held))
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
    });
    if made.is_err() {
        for path in &held {
            let _ = release(path);
        }
    }
    made
}

/// Runs on a thread of its own: after `unshare` it is in the new namespaces for good.
fn hold_new_namespaces(
    kinds: &[(&'static str, CloneFlags, &Path)],
    hostname: Option<&str>,
    held: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let flags = kinds
        .iter()
        .fold(CloneFlags::empty(), |all, &(_, flag, _)| all | flag);
    let names: Vec<_> = kinds.iter().map(|k| k.0).collect();
    unshare(flags).map_err(|e| {
        annotate(
            e.into(),
            format_args!("creating {} namespaces", names.join("+")),
        )
    })?;
    if let Some(name) = hostname {
        nix::unistd::sethostname(name)
            .map_err(|e| annotate(e.into(), format_args!("setting hostname {name:?}")))?;
    }
    if flags.contains(CloneFlags::CLONE_NEWNET) {
        // A fresh network namespace has only `lo`, and down.
        Netlink::open()
            .and_then(|mut nl| nl.set_up(LOOPBACK_IFINDEX))
            .map_err(|e| annotate(e, "bringing up lo in the new network namespace"))?;
        // Unprivileged ICMP echo sockets for every group, so `ping` works without
        // CAP_NET_RAW, as Podman sets it. /proc/sys/net is the calling thread's namespace's.
        let _ = fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
        // Announce the address when eth0 comes up (gratuitous ARP): addresses are handed out
        // again soon after they are freed, and the host and other pods may still map this one
        // to the previous holder's MAC, which would black-hole traffic until their ARP entry
        // expires (tens of seconds). eth0 is made later and takes the namespace's defaults.
        let _ = fs::write("/proc/sys/net/ipv4/conf/default/arp_notify", "1");
    }
    for &(kind, _, path) in kinds {
        prepare_mount_point(path)?;
        held.push(path.to_path_buf());
        let source = format!("/proc/thread-self/ns/{kind}");
        mount(
            Some(source.as_str()),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            annotate(
                e.into(),
                format_args!("bind-mounting {source} onto {}", path.display()),
            )
        })?;
    }
    Ok(())
}

/// An empty file to mount over. A leftover empty file (from a killed command) is reused; a
/// path that still holds a namespace is refused, as mounting over it would leak that one.
fn prepare_mount_point(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| annotate(e, format_args!("creating {}", parent.display())))?;
    }
    if is_namespace(path) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} already holds a namespace", path.display()),
        ));
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| annotate(e, format_args!("creating {}", path.display())))?;
    Ok(())
}

/// True when `path` is a bind-mounted namespace.
fn is_namespace(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC)
}

/// Unmount everything mounted on `path` and remove it; absent is fine.
fn release(path: &Path) -> io::Result<()> {
    // Bounded: a path mounted over more than once (a bug elsewhere) is peeled layer by layer.
    for _ in 0..16 {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            // EINVAL: not a mount point (any more).
            Err(Errno::EINVAL | Errno::ENOENT) => break,
            Err(e) => {
                return Err(annotate(
                    e.into(),
                    format_args!("unmounting {}", path.display()),
                ));
            }
        }
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(annotate(e, format_args!("removing {}", path.display())))
        }
        _ => Ok(()),
    }
}

/// Unmount (MNT_DETACH) and unlink each path; absent paths are fine, so this is idempotent.
/// Keeps going after a failure and reports every one.
pub fn remove_namespaces(paths: &NamespacePaths) -> io::Result<()> {
    let errors: Vec<String> = [&paths.net, &paths.ipc, &paths.uts]
        .into_iter()
        .flatten()
        .filter_map(|p| release(p).err().map(|e| e.to_string()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(io::Error::other(errors.join("; ")))
    }
}

/// Hold another process's namespace (`/proc/PID/ns/KIND`) by a bind mount at `target`, as
/// [`create_namespaces`] holds its own.
pub fn hold_namespace(pid: i32, kind: &str, target: &Path) -> io::Result<()> {
    prepare_mount_point(target)?;
    let source = format!("/proc/{pid}/ns/{kind}");
    mount(
        Some(source.as_str()),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        let _ = fs::remove_file(target);
        annotate(
            e.into(),
            format_args!("bind-mounting {source} onto {}", target.display()),
        )
    })
}

/// Unmount and remove a namespace file held by [`hold_namespace`]; absent is fine.
pub fn release_namespace(target: &Path) -> io::Result<()> {
    release(target)
}

/// How a network namespace joins a bridge network.
#[derive(Debug, Clone, Copy)]
pub struct Attachment<'a> {
    pub bridge: &'a str,
    pub host_veth: &'a str,
    pub ip: Ipv4Addr,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// Connect the network namespace at `netns` to a bridge: a veth pair whose host end
/// `host_veth` is enslaved to the bridge and up, and whose peer is `eth0` inside the namespace
/// with `ip/subnet.prefix`, up, and a default route via `gateway`. On failure the veth is
/// deleted again.
pub fn attach(netns: &Path, a: &Attachment) -> io::Result<()> {
    let what = format!(
        "attaching {} to bridge {} as {}/{}",
        netns.display(),
        a.bridge,
        a.ip,
        a.subnet.prefix
    );
    if !a.subnet.contains(a.ip) || !a.subnet.contains(a.gateway) || a.ip == a.gateway {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{what}: the address and gateway {} must be distinct and in {}",
                a.gateway, a.subnet
            ),
        ));
    }
    let ns = File::open(netns).map_err(|e| {
        annotate(
            e,
            format_args!("{what}: opening network namespace {}", netns.display()),
        )
    })?;
    let mut host = Netlink::open().map_err(|e| annotate(e, &what))?;
    let bridge = host
        .link_index(a.bridge)
        .map_err(|e| annotate(e, &what))?
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{what}: bridge {} does not exist", a.bridge),
            )
        })?;
    host.create_veth(a.host_veth, SANDBOX_IFNAME, ns.as_fd(), Some(bridge))
        .map_err(|e| annotate(e, &what))?;
    let configured = (|| {
        let index = host
            .link_index(a.host_veth)?
            .ok_or_else(|| io::Error::other(format!("veth {} vanished", a.host_veth)))?;
        host.set_up(index)?;
        let mut inner = open_netlink_in(ns.as_fd())?;
        let eth0 = inner.link_index(SANDBOX_IFNAME)?.ok_or_else(|| {
            io::Error::other(format!("{SANDBOX_IFNAME} is missing in the namespace"))
        })?;
        inner.add_address(eth0, a.ip, a.subnet.prefix)?;
        // Up before the route: the kernel adds the subnet route (which makes the gateway
        // reachable) only for addresses on a link that is up.
        inner.set_up(eth0)?;
        inner.add_default_route(a.gateway, eth0)
    })();
    if let Err(e) = configured {
        let _ = detach(a.host_veth);
        return Err(annotate(e, what));
    }
    Ok(())
}

/// A netlink socket inside the network namespace `netns`. The socket is opened on a thread
/// that joined the namespace; it stays bound to that namespace after the thread ends, so the
/// caller never leaves its own.
pub fn open_netlink_in(netns: BorrowedFd) -> io::Result<Netlink> {
    thread::scope(|s| {
        s.spawn(|| {
            setns(netns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| annotate(e.into(), "joining the network namespace"))?;
            Netlink::open()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the netlink thread panicked")))
    })
}

/// Delete the host end of a veth (its peer goes with it); absent is fine.
pub fn detach(host_veth: &str) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    let Some(index) = nl.link_index(host_veth)? else {
        return Ok(());
    };
    match nl.delete_link(index) {
        Err(e) if errno(&e) != Some(Errno::ENODEV) => {
            Err(annotate(e, format_args!("deleting veth {host_veth}")))
        }
        _ => Ok(()),
    }
}

/// Cut the host end of a veth off its bridge and take it down, leaving its deletion to the
/// kernel, which deletes both ends when the namespace holding the peer goes (after the caller
/// unmounts it). Deleting it here would cost an RCU grace period (about 40 ms on this kind
/// of kernel); cut off, it can no longer answer for an address that is leased again.
/// Absent is fine.
pub fn release_veth(host_veth: &str) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    let Some(index) = nl.link_index(host_veth)? else {
        return Ok(());
    };
    match nl.set_down_nomaster(index) {
        Err(e) if errno(&e) != Some(Errno::ENODEV) => {
            Err(annotate(e, format_args!("releasing veth {host_veth}")))
        }
        _ => Ok(()),
    }
}

/// A host-side veth name for an owner id: "veth" and the id's first 11 letters or digits,
/// the most that fits in an interface name (15 bytes), to make clashes between ids unlikely.
pub fn veth_name(owner_id: &str) -> String {
    let mut name = String::from("veth");
    name.extend(
        owner_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(super::netlink::IFNAME_MAX - name.len()),
    );
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn veth_names_fit_an_interface_name() {
        let id = "3f2a9c0d1b7e4a5f8c6d2e1f0a9b8c7d";
        assert_eq!(veth_name(id), "veth3f2a9c0d1b7");
        assert_eq!(veth_name(id).len(), 15);
        assert_eq!(veth_name("ab-12"), "vethab12");
    }

    #[test]
    fn hostname_needs_a_uts_namespace() {
        let paths = NamespacePaths {
            net: Some("/nonexistent/net".into()),
            ..Default::default()
        };
        let e = create_namespaces(&paths, Some("web")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(create_namespaces(&NamespacePaths::default(), None).is_ok());
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn unique(prefix: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let n = (nanos ^ std::process::id().rotate_left(16)) & 0xff_ffff;
        format!("{prefix}{n:06x}")
    }

    /// Tears down whatever a test made, even when it fails half-way.
    struct Cleanup {
        paths: NamespacePaths,
        veth: Option<String>,
        bridge: Option<String>,
        _dir: tempfile::TempDir,
    }

    impl Cleanup {
        fn new(net: bool, ipc: bool, uts: bool) -> Cleanup {
            let dir = tempfile::tempdir().unwrap();
            let ns = dir.path().join("ns");
            Cleanup {
                paths: NamespacePaths {
                    net: net.then(|| ns.join("net")),
                    ipc: ipc.then(|| ns.join("ipc")),
                    uts: uts.then(|| ns.join("uts")),
                },
                veth: None,
                bridge: None,
                _dir: dir,
            }
        }
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            if let Some(v) = &self.veth {
                let _ = detach(v);
            }
            let _ = remove_namespaces(&self.paths);
            if let Some(b) = &self.bridge {
                let _ = super::super::bridge::remove_bridge(b);
            }
        }
    }

    fn mounted(path: &Path) -> bool {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let needle = path.to_str().unwrap();
        info.lines().any(|l| l.split(' ').nth(4) == Some(needle))
    }

    fn links_in(netns: &Path) -> Vec<super::super::netlink::Link> {
        let ns = File::open(netns).unwrap();
        open_netlink_in(ns.as_fd()).unwrap().links().unwrap()
    }

    #[test]
    fn namespaces_are_held_by_mounts_and_released() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let c = Cleanup::new(true, true, true);
        create_namespaces(&c.paths, Some("oxpod-test-host")).unwrap();
        let net = c.paths.net.as_deref().unwrap();
        for p in [
            net,
            c.paths.ipc.as_deref().unwrap(),
            c.paths.uts.as_deref().unwrap(),
        ] {
            assert!(is_namespace(p), "{}", p.display());
            assert!(mounted(p), "{}", p.display());
        }
        let links = links_in(net);
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!((links[0].name.as_str(), links[0].up), ("lo", true));

        let uts = c.paths.uts.as_deref().unwrap();
        let out = Command::new("nsenter")
            .arg(format!("--uts={}", uts.display()))
            .arg("hostname")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "oxpod-test-host"
        );
        assert_ne!(nix::unistd::gethostname().unwrap(), "oxpod-test-host");

        // A second sandbox on the same paths is refused and leaves the first intact.
        let e = create_namespaces(&c.paths, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
        assert!(is_namespace(net));

        remove_namespaces(&c.paths).unwrap();
        for p in [net, c.paths.ipc.as_deref().unwrap(), uts] {
            assert!(!mounted(p), "{}", p.display());
            assert!(!p.exists(), "{}", p.display());
        }
        remove_namespaces(&c.paths).unwrap();
    }

    #[test]
    fn failed_creation_leaves_nothing_behind() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let c = Cleanup::new(true, false, true);
        // The uts path's parent is a file, so the second mount point cannot be made.
        let blocker = c.paths.net.as_ref().unwrap().with_file_name("blocker");
        fs::create_dir_all(blocker.parent().unwrap()).unwrap();
        fs::write(&blocker, b"").unwrap();
        let paths = NamespacePaths {
            uts: Some(blocker.join("uts")),
            ..c.paths.clone()
        };
        assert!(create_namespaces(&paths, None).is_err());
        let net = paths.net.as_deref().unwrap();
        assert!(!mounted(net));
        assert!(!net.exists());
    }

    #[test]
    fn attached_namespace_is_reachable_over_the_bridge() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let mut c = Cleanup::new(true, false, false);
        let bridge = unique("oxt");
        c.bridge = Some(bridge.clone());
        // A /24 unlikely to clash with anything on a test host.
        let subnet = Ipv4Net::new(
            Ipv4Addr::new(10, 250, (std::process::id() % 250) as u8, 0),
            24,
        );
        let gateway = subnet.first_host();
        let ip = Ipv4Addr::from(u32::from(gateway) + 4);
        super::super::bridge::ensure_bridge(&bridge, subnet, gateway).unwrap();
        create_namespaces(&c.paths, None).unwrap();
        let net = c.paths.net.clone().unwrap();
        let veth = veth_name(&unique("a1b2"));
        c.veth = Some(veth.clone());
        let attachment = Attachment {
            bridge: &bridge,
            host_veth: &veth,
            ip,
            subnet,
            gateway,
        };
        attach(&net, &attachment).unwrap();

        let mut host = Netlink::open().unwrap();
        let bridge_index = host.link_index(&bridge).unwrap().unwrap();
        let host_end = host.link(&veth).unwrap().unwrap();
        assert!(host_end.up);
        assert_eq!(host_end.master, Some(bridge_index));
        let ns = File::open(&net).unwrap();
        let mut inner = open_netlink_in(ns.as_fd()).unwrap();
        let eth0 = inner.link(SANDBOX_IFNAME).unwrap().unwrap();
        assert!(eth0.up);
        assert_eq!(inner.addresses(eth0.index).unwrap(), vec![(ip, 24)]);
        let routes = Command::new("nsenter")
            .arg(format!("--net={}", net.display()))
            .args(["ip", "-4", "route", "show", "default"])
            .output()
            .unwrap();
        let routes = String::from_utf8_lossy(&routes.stdout);
        assert!(
            routes.contains(&format!("default via {gateway} dev eth0")),
            "{routes}"
        );

        // Host to namespace and back: a TCP listener inside the namespace, connected from here.
        let listener = thread::scope(|s| {
            s.spawn(|| {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).unwrap();
                std::net::TcpListener::bind((ip, 0)).unwrap()
            })
            .join()
            .unwrap()
        });
        let port = listener.local_addr().unwrap().port();
        let stream = std::net::TcpStream::connect_timeout(
            &(ip, port).into(),
            std::time::Duration::from_secs(2),
        )
        .unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::V4(gateway));
        drop(stream);
        if Path::new("/usr/bin/ping").exists() || Path::new("/bin/ping").exists() {
            let ok = Command::new("ping")
                .args(["-c1", "-W1", &ip.to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "ping {ip}");
        }

        // Attaching the same name again fails and leaves the first veth alone.
        let e = attach(&net, &attachment).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
        assert!(e.to_string().contains(&veth), "{e}");
        assert!(host.link_index(&veth).unwrap().is_some());

        detach(&veth).unwrap();
        assert_eq!(host.link_index(&veth).unwrap(), None);
        assert_eq!(links_in(&net).len(), 1, "eth0 goes with its host end");
        detach(&veth).unwrap();
    }

    #[test]
    fn attach_to_a_missing_bridge_fails_cleanly() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let c = Cleanup::new(true, false, false);
        create_namespaces(&c.paths, None).unwrap();
        let veth = veth_name(&unique("c3d4"));
        let subnet = Ipv4Net::new(Ipv4Addr::new(10, 251, 0, 0), 24);
        let e = attach(
            c.paths.net.as_deref().unwrap(),
            &Attachment {
                bridge: "oxt-missing0",
                host_veth: &veth,
                ip: Ipv4Addr::new(10, 251, 0, 9),
                subnet,
                gateway: subnet.first_host(),
            },
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(!super::super::bridge::exists(&veth));
    }

    /// The whole per-pod network setup and teardown, timed. Run with
    /// `cargo test --lib network::sandbox::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timing() {
        if !is_root() {
            return;
        }
        let mut c = Cleanup::new(true, true, true);
        let bridge = unique("oxt");
        c.bridge = Some(bridge.clone());
        let subnet = Ipv4Net::new(Ipv4Addr::new(10, 252, 0, 0), 24);
        super::super::bridge::ensure_bridge(&bridge, subnet, subnet.first_host()).unwrap();
        let veth = veth_name(&unique("e5f6"));
        c.veth = Some(veth.clone());
        let net = c.paths.net.clone().unwrap();
        let mut phases: Vec<[f64; 4]> = Vec::new();
        for _ in 0..50 {
            let t0 = Instant::now();
            create_namespaces(&c.paths, Some("timing")).unwrap();
            let t1 = Instant::now();
            attach(
                &net,
                &Attachment {
                    bridge: &bridge,
                    host_veth: &veth,
                    ip: Ipv4Addr::new(10, 252, 0, 2),
                    subnet,
                    gateway: subnet.first_host(),
                },
            )
            .unwrap();
            let t2 = Instant::now();
            detach(&veth).unwrap();
            let t3 = Instant::now();
            remove_namespaces(&c.paths).unwrap();
            let t4 = Instant::now();
            let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
            phases.push([ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4)]);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let total = median(phases.iter().map(|p| p.iter().sum()).collect());
        let each: Vec<f64> = (0..4)
            .map(|i| median(phases.iter().map(|p| p[i]).collect()))
            .collect();
        eprintln!(
            "median total {total:.2} ms; create {:.2}, attach {:.2}, detach {:.2}, remove {:.2}",
            each[0], each[1], each[2], each[3]
        );
    }
}
