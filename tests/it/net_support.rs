//! Shared by the pod and network tests: unique subnets, free host ports, HTTP over the
//! published ports, and counts of what a pod leaves on the host.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::oxpod::Oxpod;
use crate::support::json;

/// A /24 no other test of this run uses (10.200.0.0 - 10.239.255.0), so tests on their own
/// networks never share addresses even though bridges are host-wide.
pub fn unique_subnet() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) + (std::process::id() % 97) * 64;
    let n = n % (40 * 256);
    format!("10.{}.{}.0/24", 200 + n / 256, n % 256)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /` on 127.0.0.1:PORT; the body, once the server answers (retrying for `within`).
pub fn http_get(port: u16, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(body) = try_get(port) {
            return Some(body);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn try_get(port: u16) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// `pod inspect NAME` as JSON.
pub fn pod_inspect(env: &Oxpod, name: &str) -> Value {
    json(&env.ok(&["pod", "inspect", name]))
}

/// The pod's address on its network.
pub fn pod_ip(env: &Oxpod, name: &str) -> String {
    pod_inspect(env, name)["InfraConfig"]["IPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("pod {name} has no address"))
        .to_string()
}

/// Network interfaces on the host whose name is in `names`.
pub fn existing_links(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| Path::new("/sys/class/net").join(n).exists())
        .cloned()
        .collect()
}

/// Wait (up to two seconds) until none of the links exists: the kernel deletes a veth pair
/// shortly after its namespace goes. Returns those still there.
pub fn links_gone(names: &[String]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = existing_links(names);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Running `oxpod port-proxy` processes of this root.
pub fn proxy_processes(env: &Oxpod) -> Vec<i32> {
    crate::container_support::processes_under(env.dir())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|b| *b == 0).any(|a| a == b"port-proxy"))
                .unwrap_or(false)
        })
        .collect()
}

/// Rules tagged for a network in oxpod's nftables table.
pub fn nft_rules(network: &str) -> usize {
    let out = std::process::Command::new("nft")
        .args(["-a", "list", "table", "ip", "oxpod"])
        .output()
        .expect("nft runs");
    let tag = format!("comment \"oxpod:{network}\"");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&tag))
        .count()
}

/// Namespace (nsfs) mounts at or below `dir`.
pub fn ns_mounts_under(dir: &Path) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            fields.get(4).is_some_and(|p| Path::new(p).starts_with(dir))
                && l.split(" - ")
                    .nth(1)
                    .is_some_and(|t| t.starts_with("nsfs "))
        })
        .count()
}
