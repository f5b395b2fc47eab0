//! Contents of the per-container `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`,
//! which the engine writes next to the container and bind-mounts over the image's.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::container::HostEntry;

/// `/etc/hosts`: loopback names, the user's `--add-host` entries, and the container's own
/// name on its address (`127.0.1.1` until it has one on a network, as Debian does for a
/// host without a fixed address). With `host_hosts` (the host's file, for
/// `--network host`) that file is the base instead of the loopback lines.
pub fn hosts_file(
    hostname: &str,
    aliases: &[&str],
    ip: Option<IpAddr>,
    extra: &[HostEntry],
    host_hosts: Option<&str>,
) -> String {
    let mut out = String::new();
    match host_hosts {
        Some(base) => {
            out.push_str(base);
            if !base.is_empty() && !base.ends_with('\n') {
                out.push('\n');
            }
        }
        None => {
            out.push_str(
                "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n",
            );
            out.push_str(
                "::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n",
            );
        }
    }
    for entry in extra {
        let _ = writeln!(out, "{}\t{}", entry.ip, entry.name);
    }
    let mut names = vec![hostname];
    names.extend(aliases.iter().filter(|a| **a != hostname && !a.is_empty()));
    let own = ip.map_or_else(|| "127.0.1.1".to_string(), |ip| ip.to_string());
    let _ = writeln!(out, "{own}\t{}", names.join(" "));
    out
}

/// `/etc/hostname`.
pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// Public resolvers used when the host's only name servers are on its loopback, which a
/// container in its own network namespace cannot reach (Docker does the same).
const FALLBACK_NAMESERVERS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// `/etc/resolv.conf` from the host's (`host`), with `--dns` servers and `--dns-search`
/// domains replacing the host's when given. In a private network namespace loopback name
/// servers (systemd-resolved's 127.0.0.53, a local dnsmasq) are dropped: they would be the
/// container's own loopback.
pub fn resolv_conf(host: &str, dns: &[IpAddr], search: &[String], host_network: bool) -> String {
    let mut servers: Vec<String> = Vec::new();
    let mut searches: Vec<String> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    for line in host.lines() {
        let trimmed = line.trim();
        let mut words = trimmed.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(addr) = words.next() {
                    servers.push(addr.to_string());
                }
            }
            // The last search or domain line wins, as in the resolver.
            Some("search") | Some("domain") => {
                searches = words.map(String::from).collect();
            }
            Some(w) if w.starts_with('#') || w.starts_with(';') => {}
            Some(_) => other.push(trimmed.to_string()),
            None => {}
        }
    }
    if !dns.is_empty() {
        servers = dns.iter().map(IpAddr::to_string).collect();
    } else if !host_network {
        servers.retain(|s| {
            let addr = s.split('%').next().unwrap_or(s);
            !addr.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        });
        if servers.is_empty() {
            servers = FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect();
        }
    }
    if !search.is_empty() {
        searches = search.to_vec();
    }

    let mut out = String::new();
    if !searches.is_empty() {
        let _ = writeln!(out, "search {}", searches.join(" "));
    }
    for s in &servers {
        let _ = writeln!(out, "nameserver {s}");
    }
    for line in other {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_default_and_extra() {
        let extra = vec![HostEntry {
            name: "db".into(),
            ip: "10.0.0.5".parse().unwrap(),
        }];
        let text = hosts_file("abc123", &["web", "abc123"], None, &extra, None);
        assert_eq!(
            text,
            "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n\
             ::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n\
             10.0.0.5\tdb\n\
             127.0.1.1\tabc123 web\n"
        );
        let text = hosts_file("h", &[], Some("10.88.0.2".parse().unwrap()), &[], None);
        assert!(text.ends_with("10.88.0.2\th\n"), "{text}");
        let text = hosts_file("h", &[], None, &[], Some("1.2.3.4 hostbox"));
        assert_eq!(text, "1.2.3.4 hostbox\n127.0.1.1\th\n");
    }

    #[test]
    fn hostname() {
        assert_eq!(hostname_file("web"), "web\n");
    }

    #[test]
    fn resolv_from_host() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 192.168.1.1\n\
                    search lan example.com\noptions edns0 trust-ad\n";
        assert_eq!(
            resolv_conf(host, &[], &[], false),
            "search lan example.com\nnameserver 192.168.1.1\noptions edns0 trust-ad\n"
        );
        // Host network keeps the loopback resolver: it is the host's.
        assert!(resolv_conf(host, &[], &[], true).contains("nameserver 127.0.0.53"));
        // Only loopback servers: fall back to public ones.
        let only_local = "nameserver 127.0.0.53\n";
        assert_eq!(
            resolv_conf(only_local, &[], &[], false),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        // Overrides replace servers and search domains.
        let text = resolv_conf(
            host,
            &["1.1.1.1".parse().unwrap()],
            &["corp.example".into()],
            false,
        );
        assert_eq!(
            text,
            "search corp.example\nnameserver 1.1.1.1\noptions edns0 trust-ad\n"
        );
        assert_eq!(resolv_conf("", &[], &[], true), "");
    }
}
