//! A small synchronous rtnetlink client over a `NETLINK_ROUTE` socket.
//!
//! oxpod needs a handful of link, address and route operations per pod; a hand-rolled client
//! keeps that to one socket and a few hundred microseconds, with no async runtime and no
//! `ip` processes. Messages are built as bytes in the kernel's layout (`nlmsghdr`, then
//! `ifinfomsg`/`ifaddrmsg`/`rtmsg`, then 4-byte aligned attributes) and every change asks for an
//! acknowledgement, so a failure comes back as the kernel's errno.
//!
//! A netlink socket stays bound to the network namespace it was created in: [`Netlink::open`]
//! talks to the calling thread's current namespace, whatever that thread does afterwards.

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    socket,
};

// Values from the kernel's uapi headers (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
// linux/if_addr.h, linux/veth.h).
const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;

const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const RTMSG_LEN: usize = 12;
const RTA_HDRLEN: usize = 4;
/// The top two bits of an attribute type are flags (nested, network byte order).
const NLA_TYPE_MASK: u16 = 0x3fff;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_EXT_MASK: u16 = 29;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
/// Asks the kernel to leave the (large) statistics out of link replies.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const IFF_UP: u32 = 0x1;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// Largest interface name the kernel accepts (IFNAMSIZ minus the NUL).
pub const IFNAME_MAX: usize = 15;

/// Room for one batch of a dump; the kernel never sends more than 32 KiB at once.
const RECV_BUF: usize = 64 * 1024;

/// An error that says what failed and keeps the kernel's errno, so callers can tolerate the
/// expected ones (EEXIST when racing another process, ENODEV when already gone).
#[derive(Debug)]
struct Annotated {
    what: String,
    errno: Option<Errno>,
    detail: String,
}

impl fmt::Display for Annotated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.detail)
    }
}

impl std::error::Error for Annotated {}

/// Prefix `e` with what was being done, keeping its kind and errno (see [`errno`]).
pub fn annotate(e: io::Error, what: impl fmt::Display) -> io::Error {
    let errno = errno(&e);
    let detail = match (e.raw_os_error(), errno) {
        // "File exists" rather than "File exists (os error 17)".
        (Some(_), Some(errno)) => errno.desc().to_string(),
        _ => e.to_string(),
    };
    io::Error::new(
        e.kind(),
        Annotated {
            what: what.to_string(),
            errno,
            detail,
        },
    )
}

/// The errno behind `e`, also through [`annotate`]d layers.
pub fn errno(e: &io::Error) -> Option<Errno> {
    if let Some(raw) = e.raw_os_error() {
        return Some(Errno::from_raw(raw));
    }
    e.get_ref()?.downcast_ref::<Annotated>()?.errno
}

/// A link as reported by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    /// The bridge it is enslaved to.
    pub master: Option<u32>,
    /// `IFLA_INFO_KIND`: "bridge", "veth", ...; None for plain devices such as `lo`.
    pub kind: Option<String>,
}

/// An rtnetlink socket in the network namespace it was opened in.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// Open a socket in the calling thread's current network namespace.
    pub fn open() -> io::Result<Netlink> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| annotate(e.into(), "opening a NETLINK_ROUTE socket"))?;
        // Port id 0: the kernel assigns a unique one.
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))
            .map_err(|e| annotate(e.into(), "binding a NETLINK_ROUTE socket"))?;
        Ok(Netlink { fd, seq: 0 })
    }

    /// The index of the link called `name`, None when there is none.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        Ok(self.link(name)?.map(|l| l.index))
    }

    /// The link called `name`, None when there is none.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        check_ifname(name)?;
        let mut m = Message::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK);
        m.ifinfomsg(AF_UNSPEC, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        m.attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        match self.transact(m) {
            Ok(replies) => Ok(replies.iter().find_map(|r| parse_link(r))),
            Err(e) if errno(&e) == Some(Errno::ENODEV) => Ok(None),
            Err(e) => Err(annotate(e, format_args!("looking up link {name}"))),
        }
    }

    /// Every link in the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let mut m = Message::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
        m.ifinfomsg(AF_UNSPEC, 0, 0, 0);
        m.attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        let replies = self.transact(m).map_err(|e| annotate(e, "listing links"))?;
        Ok(replies.iter().filter_map(|r| parse_link(r)).collect())
    }

    /// Create a bridge called `name` (down, no address). EEXIST when it is there already.
    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        self.create_bridge_with_mac(name, None)
    }

    /// Create a bridge with a fixed MAC address. Without one, the kernel gives the bridge the
    /// lowest MAC of its ports, so the gateway's MAC would change as veths come and go and
    /// containers would keep a stale ARP entry for it.
    pub fn create_bridge_with_mac(&mut self, name: &str, mac: Option<[u8; 6]>) -> io::Result<()> {
        check_ifname(name)?;
        let mut m = Message::new(
            RTM_NEWLINK,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        );
        m.ifinfomsg(AF_UNSPEC, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        if let Some(mac) = mac {
            m.attr(IFLA_ADDRESS, &mac);
        }
        let info = m.begin(IFLA_LINKINFO);
        m.attr(IFLA_INFO_KIND, b"bridge");
        m.end(info);
        self.transact(m)
            .map_err(|e| annotate(e, format_args!("creating bridge {name}")))?;
        Ok(())
    }

    /// Create a veth pair: `host_name` here (enslaved to `master_index` when given) and
    /// `peer_name` directly inside the namespace `peer_netns`, so the peer's name never has to be
    /// unique on the host and it never shows up there. Both ends start down.
    pub fn create_veth(
        &mut self,
        host_name: &str,
        peer_name: &str,
        peer_netns: BorrowedFd,
        master_index: Option<u32>,
    ) -> io::Result<()> {
        check_ifname(host_name)?;
        check_ifname(peer_name)?;
        let m = veth_message(host_name, peer_name, peer_netns.as_raw_fd(), master_index);
        self.transact(m).map_err(|e| {
            annotate(
                e,
                format_args!("creating veth {host_name} with peer {peer_name}"),
            )
        })?;
        Ok(())
    }

    /// Bring a link up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = Message::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
        m.ifinfomsg(AF_UNSPEC, index, IFF_UP, IFF_UP);
        self.transact(m)
            .map_err(|e| annotate(e, format_args!("bringing up link {index}")))?;
        Ok(())
    }

    /// Add `ip/prefix` to a link; EEXIST when the link has it already.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let m = address_message(index, ip, prefix);
        self.transact(m).map_err(|e| {
            annotate(
                e,
                format_args!("adding address {ip}/{prefix} to link {index}"),
            )
        })?;
        Ok(())
    }

    /// Remove `ip/prefix` from a link; EADDRNOTAVAIL when the link has no such address. The
    /// prefix must match too, so removing `10.88.0.1/32` leaves `10.88.0.1/16` alone.
    pub fn delete_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let m = delete_address_message(index, ip, prefix);
        self.transact(m).map_err(|e| {
            annotate(
                e,
                format_args!("removing address {ip}/{prefix} from link {index}"),
            )
        })?;
        Ok(())
    }

    /// The IPv4 addresses of a link with their prefix lengths.
    pub fn addresses(&mut self, index: u32) -> io::Result<Vec<(Ipv4Addr, u8)>> {
        let mut m = Message::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
        // The kernel filters dumps by index only for strict-checking sockets, so filter here too.
        m.ifaddrmsg(AF_INET, 0, 0, index);
        let replies = self
            .transact(m)
            .map_err(|e| annotate(e, format_args!("listing addresses of link {index}")))?;
        Ok(replies
            .iter()
            .filter_map(|r| parse_address(r))
            .filter(|&(i, _, _)| i == index)
            .map(|(_, ip, prefix)| (ip, prefix))
            .collect())
    }

    /// Add a default route via `gateway` out of link `oif`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, oif: u32) -> io::Result<()> {
        let m = default_route_message(gateway, oif);
        self.transact(m).map_err(|e| {
            annotate(
                e,
                format_args!("adding default route via {gateway} on link {oif}"),
            )
        })?;
        Ok(())
    }

    /// Delete a link (for a veth, its peer goes with it). ENODEV when it is gone already.
    /// Take a link down and out of its bridge: cheap, unlike deleting it (which waits for
    /// an RCU grace period, tens of milliseconds here).
    pub fn set_down_nomaster(&mut self, index: u32) -> io::Result<()> {
        let mut m = Message::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
        m.ifinfomsg(AF_UNSPEC, index, 0, IFF_UP);
        m.attr_u32(IFLA_MASTER, 0);
        self.transact(m)
            .map_err(|e| annotate(e, format_args!("taking link {index} down")))?;
        Ok(())
    }

    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        let mut m = Message::new(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK);
        m.ifinfomsg(AF_UNSPEC, index, 0, 0);
        self.transact(m)
            .map_err(|e| annotate(e, format_args!("deleting link {index}")))?;
        Ok(())
    }

    /// Send one request and collect the payloads of its replies, up to the acknowledgement (or
    /// the end of a dump). A negative errno in the acknowledgement becomes the error.
    fn transact(&mut self, m: Message) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = m.finish(seq);
        loop {
            match send(self.fd.as_raw_fd(), &bytes, MsgFlags::empty()) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(n) if n != bytes.len() => {
                    return Err(io::Error::other("short write to the netlink socket"));
                }
                Ok(_) => break,
            }
        }
        let mut replies = Vec::new();
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            // MSG_TRUNC makes recv report the full datagram length, so truncation is detected.
            let n = match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_TRUNC) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(n) => n,
            };
            if n > buf.len() {
                return Err(io::Error::other(format!(
                    "netlink reply of {n} bytes does not fit in {} bytes",
                    buf.len()
                )));
            }
            for msg in parse_messages(&buf[..n])? {
                if msg.seq != seq {
                    continue; // a late reply to an earlier request
                }
                match msg.ty {
                    NLMSG_NOOP => {}
                    NLMSG_ERROR => {
                        return match parse_errno(msg.payload)? {
                            0 => Ok(replies),
                            err => Err(Errno::from_raw(-err).into()),
                        };
                    }
                    NLMSG_DONE => {
                        // A dump can end with an error code in place of more data.
                        return match msg.payload.get(..4) {
                            Some(b) if i32::from_ne_bytes(b.try_into().unwrap()) < 0 => {
                                let err = i32::from_ne_bytes(b.try_into().unwrap());
                                Err(Errno::from_raw(-err).into())
                            }
                            _ => Ok(replies),
                        };
                    }
                    // Requests other than dumps carry NLM_F_ACK, so an acknowledgement
                    // always follows their replies and ends the loop.
                    _ => replies.push(msg.payload.to_vec()),
                }
            }
        }
    }
}

fn check_ifname(name: &str) -> io::Result<()> {
    if name.is_empty()
        || name.len() > IFNAME_MAX
        || name.contains(['/', '\0'])
        || name.contains(char::is_whitespace)
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}: 1 to {IFNAME_MAX} bytes, no '/' or spaces"),
        ));
    }
    Ok(())
}

fn veth_message(host: &str, peer: &str, netns_fd: i32, master: Option<u32>) -> Message {
    let mut m = Message::new(
        RTM_NEWLINK,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    );
    m.ifinfomsg(AF_UNSPEC, 0, 0, 0);
    m.attr_str(IFLA_IFNAME, host);
    if let Some(master) = master {
        m.attr_u32(IFLA_MASTER, master);
    }
    let info = m.begin(IFLA_LINKINFO);
    m.attr(IFLA_INFO_KIND, b"veth");
    let data = m.begin(IFLA_INFO_DATA);
    // The peer attribute is not a plain nest: an ifinfomsg comes before its attributes.
    let peer_attr = m.begin(VETH_INFO_PEER);
    m.ifinfomsg(AF_UNSPEC, 0, 0, 0);
    m.attr_str(IFLA_IFNAME, peer);
    m.attr_u32(IFLA_NET_NS_FD, netns_fd as u32);
    m.end(peer_attr);
    m.end(data);
    m.end(info);
    m
}

fn address_message(index: u32, ip: Ipv4Addr, prefix: u8) -> Message {
    let mut m = Message::new(
        RTM_NEWADDR,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    );
    m.ifaddrmsg(AF_INET, prefix, RT_SCOPE_UNIVERSE, index);
    m.attr(IFA_LOCAL, &ip.octets());
    m.attr(IFA_ADDRESS, &ip.octets());
    // /31 and /32 have no broadcast address.
    if prefix < 31 {
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let broadcast = Ipv4Addr::from(u32::from(ip) | !mask);
        m.attr(IFA_BROADCAST, &broadcast.octets());
    }
    m
}

/// The kernel matches IFA_LOCAL, then IFA_ADDRESS together with the prefix length.
fn delete_address_message(index: u32, ip: Ipv4Addr, prefix: u8) -> Message {
    let mut m = Message::new(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK);
    m.ifaddrmsg(AF_INET, prefix, 0, index);
    m.attr(IFA_LOCAL, &ip.octets());
    m.attr(IFA_ADDRESS, &ip.octets());
    m
}

fn default_route_message(gateway: Ipv4Addr, oif: u32) -> Message {
    let mut m = Message::new(
        RTM_NEWROUTE,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    );
    m.rtmsg(
        AF_INET,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
    );
    m.attr(RTA_GATEWAY, &gateway.octets());
    m.attr_u32(RTA_OIF, oif);
    m
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A request being built: the header first, its length and sequence filled in by `finish`.
struct Message {
    buf: Vec<u8>,
}

impl Message {
    fn new(ty: u16, flags: u16) -> Message {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: 0, the kernel fills it in
        Message { buf }
    }

    fn pad(&mut self) {
        self.buf.resize(align4(self.buf.len()), 0);
    }

    fn ifinfomsg(&mut self, family: u8, index: u32, flags: u32, change: u32) {
        let start = self.buf.len();
        self.buf.push(family);
        self.buf.push(0); // padding
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
        debug_assert_eq!(self.buf.len() - start, IFINFOMSG_LEN);
    }

    fn ifaddrmsg(&mut self, family: u8, prefix: u8, scope: u8, index: u32) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[family, prefix, 0, scope]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        debug_assert_eq!(self.buf.len() - start, IFADDRMSG_LEN);
    }

    fn rtmsg(&mut self, family: u8, dst_len: u8, table: u8, protocol: u8, scope: u8, ty: u8) {
        let start = self.buf.len();
        // family, dst_len, src_len, tos, table, protocol, scope, type, flags
        self.buf
            .extend_from_slice(&[family, dst_len, 0, 0, table, protocol, scope, ty]);
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        debug_assert_eq!(self.buf.len() - start, RTMSG_LEN);
    }

    fn attr(&mut self, ty: u16, data: &[u8]) {
        let len = u16::try_from(RTA_HDRLEN + data.len()).expect("netlink attribute too long");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn attr_u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_ne_bytes());
    }

    /// A NUL-terminated string, as the kernel expects for names.
    fn attr_str(&mut self, ty: u16, s: &str) {
        let mut data = Vec::with_capacity(s.len() + 1);
        data.extend_from_slice(s.as_bytes());
        data.push(0);
        self.attr(ty, &data);
    }

    /// Start a nested attribute; its length is written by `end`.
    fn begin(&mut self, ty: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        start
    }

    fn end(&mut self, start: usize) {
        self.pad();
        let len = u16::try_from(self.buf.len() - start).expect("netlink attribute too long");
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        self.pad();
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// One message of a reply datagram.
#[derive(Debug)]
struct Reply<'a> {
    ty: u16,
    seq: u32,
    payload: &'a [u8],
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed netlink reply: {what}"),
    )
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Split a datagram into its messages.
fn parse_messages(mut buf: &[u8]) -> io::Result<Vec<Reply<'_>>> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_at(buf, 0) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(malformed("message length out of bounds"));
        }
        out.push(Reply {
            ty: u16_at(buf, 4),
            seq: u32_at(buf, 8),
            payload: &buf[NLMSG_HDRLEN..len],
        });
        buf = &buf[align4(len).min(buf.len())..];
    }
    Ok(out)
}

/// The (negative or zero) error code of an NLMSG_ERROR payload.
fn parse_errno(payload: &[u8]) -> io::Result<i32> {
    let b = payload
        .get(..4)
        .ok_or_else(|| malformed("short error message"))?;
    Ok(i32::from_ne_bytes(b.try_into().unwrap()))
}

/// Iterate over the attributes in `buf` as (type without flag bits, data).
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < RTA_HDRLEN {
            return None;
        }
        let len = u16_at(buf, 0) as usize;
        if len < RTA_HDRLEN || len > buf.len() {
            return None;
        }
        let item = (u16_at(buf, 2) & NLA_TYPE_MASK, &buf[RTA_HDRLEN..len]);
        buf = &buf[align4(len).min(buf.len())..];
        Some(item)
    })
}

fn cstr(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// A link from the payload of an RTM_NEWLINK reply.
fn parse_link(payload: &[u8]) -> Option<Link> {
    if payload.len() < IFINFOMSG_LEN {
        return None;
    }
    let index = u32_at(payload, 4);
    let flags = u32_at(payload, 8);
    let mut link = Link {
        index,
        name: String::new(),
        up: flags & IFF_UP != 0,
        master: None,
        kind: None,
    };
    for (ty, data) in attrs(&payload[IFINFOMSG_LEN..]) {
        match ty {
            IFLA_IFNAME => link.name = cstr(data),
            IFLA_MASTER if data.len() >= 4 => link.master = Some(u32_at(data, 0)),
            IFLA_LINKINFO => {
                link.kind = attrs(data)
                    .find(|&(t, _)| t == IFLA_INFO_KIND)
                    .map(|(_, d)| cstr(d));
            }
            _ => {}
        }
    }
    Some(link)
}

/// (link index, address, prefix) from the payload of an RTM_NEWADDR reply.
fn parse_address(payload: &[u8]) -> Option<(u32, Ipv4Addr, u8)> {
    if payload.len() < IFADDRMSG_LEN || payload[0] != AF_INET {
        return None;
    }
    let prefix = payload[1];
    let index = u32_at(payload, 4);
    let mut local = None;
    let mut address = None;
    for (ty, data) in attrs(&payload[IFADDRMSG_LEN..]) {
        let Ok(octets) = <[u8; 4]>::try_from(data) else {
            continue;
        };
        match ty {
            IFA_LOCAL => local = Some(Ipv4Addr::from(octets)),
            IFA_ADDRESS => address = Some(Ipv4Addr::from(octets)),
            _ => {}
        }
    }
    // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours.
    Some((index, local.or(address)?, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(b: &[u8]) -> (u32, u16, u16, u32) {
        (u32_at(b, 0), u16_at(b, 4), u16_at(b, 6), u32_at(b, 8))
    }

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let mut m = Message::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK);
        m.ifinfomsg(AF_UNSPEC, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, "eth0"); // 4 + 5 bytes, padded to 12
        let b = m.finish(7);
        assert_eq!(header(&b), (44, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 7));
        let a = &b[NLMSG_HDRLEN + IFINFOMSG_LEN..];
        assert_eq!(u16_at(a, 0), 9);
        assert_eq!(u16_at(a, 2), IFLA_IFNAME);
        assert_eq!(&a[4..12], b"eth0\0\0\0\0");
    }

    #[test]
    fn veth_request_nests_the_peer_with_its_namespace() {
        let b = veth_message("vethab12", "eth0", 9, Some(4)).finish(1);
        let (len, ty, flags, _) = header(&b);
        assert_eq!(len as usize, b.len());
        assert_eq!(ty, RTM_NEWLINK);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        let top: Vec<_> = attrs(&b[NLMSG_HDRLEN + IFINFOMSG_LEN..]).collect();
        assert_eq!(top[0], (IFLA_IFNAME, &b"vethab12\0"[..]));
        assert_eq!(top[1], (IFLA_MASTER, &4u32.to_ne_bytes()[..]));
        assert_eq!(top[2].0, IFLA_LINKINFO);
        let info: Vec<_> = attrs(top[2].1).collect();
        assert_eq!(info[0], (IFLA_INFO_KIND, &b"veth"[..]));
        assert_eq!(info[1].0, IFLA_INFO_DATA);
        let data: Vec<_> = attrs(info[1].1).collect();
        assert_eq!(data.len(), 1);
        assert_eq!(data[0].0, VETH_INFO_PEER);
        let peer = data[0].1;
        assert_eq!(&peer[..IFINFOMSG_LEN], &[0u8; IFINFOMSG_LEN]);
        let peer_attrs: Vec<_> = attrs(&peer[IFINFOMSG_LEN..]).collect();
        assert_eq!(
            peer_attrs,
            vec![
                (IFLA_IFNAME, &b"eth0\0"[..]),
                (IFLA_NET_NS_FD, &9u32.to_ne_bytes()[..])
            ]
        );
        // The nest lengths cover exactly the rest of the message.
        assert_eq!(
            NLMSG_HDRLEN + IFINFOMSG_LEN + align4(4 + 9) + 8 + align4(top[2].1.len() + 4),
            b.len()
        );
    }

    #[test]
    fn address_request_carries_local_address_and_broadcast() {
        let b = address_message(5, Ipv4Addr::new(10, 88, 0, 5), 16).finish(3);
        let msg = &b[NLMSG_HDRLEN..];
        assert_eq!(&msg[..4], &[AF_INET, 16, 0, RT_SCOPE_UNIVERSE]);
        assert_eq!(u32_at(msg, 4), 5);
        let a: Vec<_> = attrs(&msg[IFADDRMSG_LEN..]).collect();
        assert_eq!(
            a,
            vec![
                (IFA_LOCAL, &[10u8, 88, 0, 5][..]),
                (IFA_ADDRESS, &[10u8, 88, 0, 5][..]),
                (IFA_BROADCAST, &[10u8, 88, 255, 255][..]),
            ]
        );
        let p2p = address_message(5, Ipv4Addr::new(10, 0, 0, 1), 31).finish(3);
        assert_eq!(attrs(&p2p[NLMSG_HDRLEN + IFADDRMSG_LEN..]).count(), 2);
    }

    #[test]
    fn default_route_request() {
        let b = default_route_message(Ipv4Addr::new(10, 88, 0, 1), 2).finish(1);
        let msg = &b[NLMSG_HDRLEN..];
        assert_eq!(
            &msg[..8],
            &[
                AF_INET,
                0,
                0,
                0,
                RT_TABLE_MAIN,
                RTPROT_BOOT,
                RT_SCOPE_UNIVERSE,
                RTN_UNICAST
            ]
        );
        let a: Vec<_> = attrs(&msg[RTMSG_LEN..]).collect();
        assert_eq!(
            a,
            vec![
                (RTA_GATEWAY, &[10u8, 88, 0, 1][..]),
                (RTA_OIF, &2u32.to_ne_bytes()[..])
            ]
        );
    }

    #[test]
    fn delete_address_request_names_address_and_prefix() {
        let b = delete_address_message(5, Ipv4Addr::new(10, 88, 0, 9), 32).finish(4);
        let (len, ty, flags, seq) = header(&b);
        assert_eq!(
            (len as usize, ty, flags, seq),
            (b.len(), RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, 4)
        );
        let msg = &b[NLMSG_HDRLEN..];
        assert_eq!(&msg[..4], &[AF_INET, 32, 0, 0]);
        assert_eq!(u32_at(msg, 4), 5);
        let a: Vec<_> = attrs(&msg[IFADDRMSG_LEN..]).collect();
        assert_eq!(
            a,
            vec![
                (IFA_LOCAL, &[10u8, 88, 0, 9][..]),
                (IFA_ADDRESS, &[10u8, 88, 0, 9][..]),
            ]
        );
    }

    /// A reply datagram as the kernel would send it.
    fn reply(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(payload);
        b.resize(align4(b.len()), 0);
        b
    }

    #[test]
    fn parses_links_and_errors() {
        let mut link = Message::new(0, 0);
        link.ifinfomsg(AF_UNSPEC, 12, IFF_UP | 0x40, 0);
        link.attr_str(IFLA_IFNAME, "oxt0");
        link.attr_u32(IFLA_MASTER, 3);
        let info = link.begin(IFLA_LINKINFO | 0x8000); // NLA_F_NESTED, as newer kernels set it
        link.attr(IFLA_INFO_KIND, b"veth");
        link.end(info);
        let payload = link.finish(0)[NLMSG_HDRLEN..].to_vec();

        let mut datagram = reply(RTM_NEWLINK, 0, 9, &payload);
        let mut err = (-17i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&[0; NLMSG_HDRLEN]);
        datagram.extend(reply(NLMSG_ERROR, 0, 9, &err));

        let msgs = parse_messages(&datagram).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0].ty, msgs[0].seq), (RTM_NEWLINK, 9));
        assert_eq!(
            parse_link(msgs[0].payload),
            Some(Link {
                index: 12,
                name: "oxt0".into(),
                up: true,
                master: Some(3),
                kind: Some("veth".into()),
            })
        );
        assert_eq!(msgs[1].ty, NLMSG_ERROR);
        assert_eq!(parse_errno(msgs[1].payload).unwrap(), -17);

        let mut bad = reply(NLMSG_DONE, 0, 1, &[]);
        bad[0] = 200; // longer than the datagram
        assert!(parse_messages(&bad).is_err());
    }

    #[test]
    fn parses_addresses() {
        let mut m = Message::new(0, 0);
        m.ifaddrmsg(AF_INET, 24, 0, 7);
        m.attr(IFA_ADDRESS, &[192, 168, 1, 9]);
        m.attr(IFA_LOCAL, &[192, 168, 1, 9]);
        let b = m.finish(0);
        assert_eq!(
            parse_address(&b[NLMSG_HDRLEN..]),
            Some((7, Ipv4Addr::new(192, 168, 1, 9), 24))
        );
    }

    #[test]
    fn annotated_errors_keep_their_errno() {
        let e = annotate(Errno::EEXIST.into(), "creating veth vethab12");
        let e = annotate(e, "attaching to oxpod0 as 10.88.0.5");
        assert_eq!(errno(&e), Some(Errno::EEXIST));
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            e.to_string(),
            "attaching to oxpod0 as 10.88.0.5: creating veth vethab12: File exists"
        );
        assert!(check_ifname("a-name-far-too-long").is_err());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("oxpod0").is_ok());
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn loopback_is_found_and_unknown_links_are_none() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let mut nl = Netlink::open().unwrap();
        assert_eq!(nl.link_index("lo").unwrap(), Some(1));
        assert_eq!(nl.link_index("oxt-absent0").unwrap(), None);
        assert!(nl.links().unwrap().iter().any(|l| l.name == "lo" && l.up));
        assert!(nl.addresses(1).unwrap().contains(&(Ipv4Addr::LOCALHOST, 8)));
        let e = nl.delete_link(999_999).unwrap_err();
        assert_eq!(errno(&e), Some(Errno::ENODEV));
        assert!(e.to_string().starts_with("deleting link 999999: "), "{e}");
    }
}
