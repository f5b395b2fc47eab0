//! Published ports (`-p`, `-P`, `hostPort`): parsing Docker/Podman's spec syntax, picking free host
//! ports, checking they can be bound before anything is started, and Podman's text form.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Protocol, String> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(format!("unsupported protocol {s:?} (tcp or udp)")),
        }
    }
}

/// One published port or range of consecutive ports: host `host_port..host_port+range` maps to
/// container `container_port..container_port+range`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// `None` means every address (0.0.0.0).
    pub host_ip: Option<IpAddr>,
    /// 0 until [`assign_host_ports`] picks a free one.
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// Number of consecutive ports, at least 1.
    pub range: u16,
}

impl PortMapping {
    /// The address the host socket binds: the given one, or 0.0.0.0.
    pub fn bind_ip(&self) -> IpAddr {
        self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// `(host_port, container_port)` for each port of the range; a host port of 0 stays 0.
    /// Ports that would run past 65535 are left out rather than wrapping.
    pub fn pairs(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        (0..u32::from(self.range.max(1))).map_while(move |i| {
            let c = u16::try_from(u32::from(self.container_port) + i).ok()?;
            let h = if self.host_port == 0 {
                0
            } else {
                u16::try_from(u32::from(self.host_port) + i).ok()?
            };
            Some((h, c))
        })
    }

    /// One single-port mapping per port of the range (what `port` lists and the proxy binds).
    pub fn expand(&self) -> Vec<PortMapping> {
        self.pairs()
            .map(|(h, c)| PortMapping {
                host_port: h,
                container_port: c,
                range: 1,
                ..self.clone()
            })
            .collect()
    }
}

/// Podman's form: `0.0.0.0:8080->80/tcp`, `[::1]:8080->80/tcp`, `0.0.0.0:8000-8002->80-82/tcp`.
impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bind_ip() {
            IpAddr::V6(ip) => write!(f, "[{ip}]:")?,
            IpAddr::V4(ip) => write!(f, "{ip}:")?,
        }
        let last = self.range.max(1) - 1;
        if last == 0 {
            write!(f, "{}->{}", self.host_port, self.container_port)?;
        } else {
            let end = |p: u16| p.saturating_add(last);
            let host_end = if self.host_port == 0 {
                0
            } else {
                end(self.host_port)
            };
            write!(
                f,
                "{}-{}->{}-{}",
                self.host_port,
                host_end,
                self.container_port,
                end(self.container_port)
            )?;
        }
        write!(f, "/{}", self.protocol)
    }
}

/// Parse `[ip:][hostPort:]containerPort[/tcp|udp]` with ranges (`8000-8002:80-82`,
/// `127.0.0.1::80`, `[::1]:8080:80`, `80/udp`). IPv6 host addresses need brackets because
/// their colons are otherwise ambiguous. A `Vec` so that one spec may later yield several.
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, String> {
    let err = |why: String| format!("invalid port spec {spec:?}: {why}");
    let s = spec.trim();
    if s.is_empty() {
        return Err(err("empty".into()));
    }
    let (rest, protocol) = match s.rsplit_once('/') {
        Some((rest, proto)) => (rest, proto.parse::<Protocol>().map_err(err)?),
        None => (s, Protocol::Tcp),
    };

    let (host_ip, host, container) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, after) = after
            .split_once(']')
            .ok_or_else(|| err("missing ']' after the IPv6 address".into()))?;
        let ip = ip
            .parse::<IpAddr>()
            .map_err(|_| err(format!("invalid host address {ip:?}")))?;
        let after = after
            .strip_prefix(':')
            .ok_or_else(|| err("expected ':' after the host address".into()))?;
        let (host, container) = after.split_once(':').ok_or_else(|| {
            err("a host address needs a host port or '::', e.g. [::1]::80".into())
        })?;
        (Some(ip), host, container)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts[..] {
            [c] => (None, "", c),
            [h, c] => (None, h, c),
            [ip, h, c] => {
                let ip = if ip.is_empty() {
                    None
                } else {
                    Some(
                        ip.parse::<IpAddr>()
                            .map_err(|_| err(format!("invalid host address {ip:?}")))?,
                    )
                };
                (ip, h, c)
            }
            _ => {
                return Err(err(
                    "too many ':' (IPv6 host addresses go in brackets, e.g. [::1]:8080:80)".into(),
                ));
            }
        }
    };

    if container.is_empty() {
        return Err(err("container port missing".into()));
    }
    let (container_port, range) = parse_range(container, "container").map_err(err)?;
    if container_port == 0 {
        return Err(err("container port 0 is not allowed".into()));
    }
    let host_port = if host.is_empty() {
        0
    } else {
        let (start, len) = parse_range(host, "host").map_err(err)?;
        if start == 0 && len > 1 {
            return Err(err("a host port range cannot start at 0".into()));
        }
        if start != 0 && len != range {
            return Err(err(format!(
                "host ports {host} ({len}) and container ports {container} ({range}) differ in count"
            )));
        }
        start
    };
    Ok(vec![PortMapping {
        host_ip,
        host_port,
        container_port,
        protocol,
        range,
    }])
}

/// `80` or `80-82` into (start, count).
fn parse_range(s: &str, what: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("invalid {what} port {p:?} (0-65535)"))
    };
    match s.split_once('-') {
        None => Ok((port(s)?, 1)),
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if b < a {
                return Err(format!("{what} port range {s} ends before it starts"));
            }
            Ok((a, b - a + 1))
        }
    }
}

/// `-P`: every port an image exposes ("80/tcp", "53/udp", "8000-8002/tcp") on a free host port.
pub fn publish_all(exposed: &[String]) -> Result<Vec<PortMapping>, String> {
    let mut out: Vec<PortMapping> = Vec::new();
    for key in exposed {
        if key.contains(':') || key.contains('[') {
            return Err(format!(
                "invalid exposed port {key:?}: expected PORT[/PROTOCOL]"
            ));
        }
        for m in parse_publish(key).map_err(|e| e.replacen("port spec", "exposed port", 1))? {
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// A bound socket of either protocol, held only to keep a port taken.
enum Probe {
    #[allow(dead_code)] // held for its Drop
    Tcp(TcpListener),
    #[allow(dead_code)]
    Udp(UdpSocket),
}

fn bind_probe(protocol: Protocol, addr: SocketAddr) -> io::Result<(Probe, u16)> {
    match protocol {
        Protocol::Tcp => {
            let l = TcpListener::bind(addr)?;
            let port = l.local_addr()?.port();
            Ok((Probe::Tcp(l), port))
        }
        Protocol::Udp => {
            let s = UdpSocket::bind(addr)?;
            let port = s.local_addr()?.port();
            Ok((Probe::Udp(s), port))
        }
    }
}

/// Replace `host_port` 0 by free ports, asking the kernel (bind to port 0) so the choice follows
/// its ephemeral range. Probe sockets stay open until every mapping is assigned so two mappings
/// never get the same port; explicit host ports in the list are avoided too.
pub fn assign_host_ports(mappings: &mut [PortMapping]) -> io::Result<()> {
    const TRIES: usize = 64;
    let explicit: HashSet<(Protocol, u16)> = mappings
        .iter()
        .flat_map(|m| m.pairs().map(move |(h, _)| (m.protocol, h)))
        .filter(|&(_, h)| h != 0)
        .collect();
    let mut held: Vec<Probe> = Vec::new();
    for m in mappings.iter_mut().filter(|m| m.host_port == 0) {
        let ip = m.bind_ip();
        let count = m.range.max(1);
        let mut found = None;
        for _ in 0..TRIES {
            let (probe, base) = bind_probe(m.protocol, SocketAddr::new(ip, 0))?;
            held.push(probe);
            if explicit.contains(&(m.protocol, base)) {
                continue;
            }
            if count == 1 {
                found = Some(base);
                break;
            }
            if u32::from(base) + u32::from(count) - 1 > u32::from(u16::MAX) {
                continue;
            }
            let mut rest = Vec::new();
            let all_free = (1..count).all(|i| {
                let p = base + i;
                !explicit.contains(&(m.protocol, p))
                    && match bind_probe(m.protocol, SocketAddr::new(ip, p)) {
                        Ok((probe, _)) => {
                            rest.push(probe);
                            true
                        }
                        Err(_) => false,
                    }
            });
            if all_free {
                held.extend(rest);
                found = Some(base);
                break;
            }
        }
        m.host_port = found.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "no {count} consecutive free {} ports on {ip} for container port {}",
                    m.protocol, m.container_port
                ),
            )
        })?;
    }
    drop(held);
    Ok(())
}

/// Whether two bind addresses would clash: equal, or one is a wildcard covering the other
/// (`::` is dual-stack on Linux, so it covers IPv4 too).
fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    let covers = |w: IpAddr, o: IpAddr| w.is_unspecified() && (w.is_ipv6() || o.is_ipv4());
    a == b || covers(a, b) || covers(b, a)
}

/// Fail early, with one line, when a host port is taken or listed twice, so `run`/`create`
/// reports it before starting anything. Unassigned (0) host ports are skipped.
pub fn check_free(mappings: &[PortMapping]) -> Result<(), String> {
    let mut seen: Vec<(Protocol, IpAddr, u16)> = Vec::new();
    for m in mappings {
        let ip = m.bind_ip();
        for (h, _) in m.pairs().filter(|&(h, _)| h != 0) {
            if seen
                .iter()
                .any(|&(p, i, port)| p == m.protocol && port == h && overlaps(i, ip))
            {
                return Err(format!(
                    "port {h}/{} on {ip} is published more than once",
                    m.protocol
                ));
            }
            seen.push((m.protocol, ip, h));
            if let Err(e) = bind_probe(m.protocol, SocketAddr::new(ip, h)) {
                return Err(bind_error(m.protocol, ip, h, &e));
            }
        }
    }
    Ok(())
}

/// One line for a failed bind of a host port; shared with the proxy so both say the same.
pub(crate) fn bind_error(protocol: Protocol, ip: IpAddr, port: u16, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::AddrInUse {
        format!("port {port}/{protocol} on {ip} is already in use")
    } else {
        format!("cannot bind port {port}/{protocol} on {ip}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn one(spec: &str) -> PortMapping {
        let mut v = parse_publish(spec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    fn pm(ip: Option<IpAddr>, h: u16, c: u16, p: Protocol, r: u16) -> PortMapping {
        PortMapping {
            host_ip: ip,
            host_port: h,
            container_port: c,
            protocol: p,
            range: r,
        }
    }

    const LO: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    const LO6: Option<IpAddr> = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));

    #[test]
    fn parses_good_specs() {
        use Protocol::*;
        assert_eq!(one("80"), pm(None, 0, 80, Tcp, 1));
        assert_eq!(one("8080:80"), pm(None, 8080, 80, Tcp, 1));
        assert_eq!(one("80/udp"), pm(None, 0, 80, Udp, 1));
        assert_eq!(one("53:53/udp"), pm(None, 53, 53, Udp, 1));
        assert_eq!(one("53:53/UDP"), pm(None, 53, 53, Udp, 1));
        assert_eq!(one("8080:80/tcp"), pm(None, 8080, 80, Tcp, 1));
        assert_eq!(one("127.0.0.1:8080:80"), pm(LO, 8080, 80, Tcp, 1));
        assert_eq!(one("127.0.0.1::80"), pm(LO, 0, 80, Tcp, 1));
        assert_eq!(one("[::1]:8080:80"), pm(LO6, 8080, 80, Tcp, 1));
        assert_eq!(one("[::1]::80/udp"), pm(LO6, 0, 80, Udp, 1));
        assert_eq!(one("8000-8002:80-82"), pm(None, 8000, 80, Tcp, 3));
        assert_eq!(one("80-82"), pm(None, 0, 80, Tcp, 3));
        assert_eq!(one("127.0.0.1::80-82/udp"), pm(LO, 0, 80, Udp, 3));
        assert_eq!(one("0:80"), pm(None, 0, 80, Tcp, 1));
        assert_eq!(one("::80"), pm(None, 0, 80, Tcp, 1));
        assert_eq!(one(" 8080:80 "), pm(None, 8080, 80, Tcp, 1));
    }

    #[test]
    fn rejects_bad_specs_with_one_line() {
        for (spec, why) in [
            ("", "empty"),
            ("8080:", "container port missing"),
            ("127.0.0.1:8080:", "container port missing"),
            ("0", "container port 0"),
            ("8080:0", "container port 0"),
            ("80/sctp", "unsupported protocol"),
            ("abc", "invalid container port"),
            ("70000", "invalid container port"),
            ("x:80", "invalid host port"),
            ("8000-8001:80-82", "differ in count"),
            ("8080:80-82", "differ in count"),
            ("82-80", "ends before it starts"),
            ("999.0.0.1:80:80", "invalid host address"),
            ("::1:8080:80", "brackets"),
            ("[::1:8080:80", "missing ']'"),
            ("[::1]8080:80", "expected ':'"),
            ("[::1]:80", "host port or '::'"),
            ("[nope]:80:80", "invalid host address"),
            ("0-2:80-82", "cannot start at 0"),
        ] {
            let e = parse_publish(spec).expect_err(spec);
            assert!(
                e.starts_with(&format!("invalid port spec {spec:?}: ")),
                "{spec}: {e}"
            );
            assert!(e.contains(why), "{spec}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn displays_like_podman() {
        assert_eq!(one("8080:80").to_string(), "0.0.0.0:8080->80/tcp");
        assert_eq!(
            one("127.0.0.1:53:53/udp").to_string(),
            "127.0.0.1:53->53/udp"
        );
        assert_eq!(one("[::1]:8080:80").to_string(), "[::1]:8080->80/tcp");
        assert_eq!(
            one("8000-8002:80-82").to_string(),
            "0.0.0.0:8000-8002->80-82/tcp"
        );
        let lines: Vec<String> = one("8000-8001:80-81")
            .expand()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(lines, ["0.0.0.0:8000->80/tcp", "0.0.0.0:8001->81/tcp"]);
    }

    #[test]
    fn serde_is_lowercase() {
        let j = serde_json::to_string(&one("127.0.0.1:53:53/udp")).unwrap();
        assert!(j.contains("\"protocol\":\"udp\""), "{j}");
        let back: PortMapping = serde_json::from_str(&j).unwrap();
        assert_eq!(back, one("127.0.0.1:53:53/udp"));
    }

    #[test]
    fn publish_all_from_exposed_ports() {
        let v = publish_all(&[
            "80/tcp".into(),
            "53/udp".into(),
            "80/tcp".into(),
            "9000".into(),
        ])
        .unwrap();
        assert_eq!(
            v,
            [
                pm(None, 0, 80, Protocol::Tcp, 1),
                pm(None, 0, 53, Protocol::Udp, 1),
                pm(None, 0, 9000, Protocol::Tcp, 1),
            ]
        );
        let e = publish_all(&["8080:80".into()]).unwrap_err();
        assert!(e.contains("invalid exposed port"), "{e}");
        let e = publish_all(&["0/tcp".into()]).unwrap_err();
        assert!(e.starts_with("invalid exposed port \"0/tcp\""), "{e}");
    }

    #[test]
    fn check_free_detects_bound_port_and_duplicates() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let e = check_free(&[pm(LO, port, 80, Protocol::Tcp, 1)]).unwrap_err();
        assert_eq!(e, format!("port {port}/tcp on 127.0.0.1 is already in use"));
        // The wildcard address clashes with the bound loopback port too.
        let e = check_free(&[pm(None, port, 80, Protocol::Tcp, 1)]).unwrap_err();
        assert!(e.contains("already in use"), "{e}");
        drop(l);
        // UDP is a separate space from TCP.
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let uport = u.local_addr().unwrap().port();
        let e = check_free(&[pm(LO, uport, 53, Protocol::Udp, 1)]).unwrap_err();
        assert_eq!(
            e,
            format!("port {uport}/udp on 127.0.0.1 is already in use")
        );
        drop(u);

        let mut free = vec![pm(LO, 0, 80, Protocol::Tcp, 1)];
        assign_host_ports(&mut free).unwrap();
        let p = free[0].host_port;
        check_free(&free).unwrap();
        let dup = [
            pm(LO, p, 80, Protocol::Tcp, 1),
            pm(None, p, 81, Protocol::Tcp, 1),
        ];
        let e = check_free(&dup).unwrap_err();
        assert!(e.contains("more than once"), "{e}");
        // Same number, other protocol: no clash.
        check_free(&[
            pm(LO, p, 80, Protocol::Tcp, 1),
            pm(LO, p, 80, Protocol::Udp, 1),
        ])
        .unwrap();
    }

    #[test]
    fn assigns_distinct_free_ports_and_ranges() {
        let mut v = vec![
            pm(LO, 0, 80, Protocol::Tcp, 1),
            pm(LO, 0, 81, Protocol::Tcp, 1),
            pm(LO, 0, 90, Protocol::Tcp, 4),
            pm(LO, 0, 53, Protocol::Udp, 1),
        ];
        assign_host_ports(&mut v).unwrap();
        assert!(v.iter().all(|m| m.host_port != 0), "{v:?}");
        assert_ne!(v[0].host_port, v[1].host_port);
        let ports: HashSet<u16> = v[..3]
            .iter()
            .flat_map(|m| m.pairs().map(|(h, _)| h))
            .collect();
        assert_eq!(ports.len(), 6, "{v:?}");
        check_free(&v).unwrap();
    }
}
