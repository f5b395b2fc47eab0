//! nftables rules for bridge networks: masquerade for outbound traffic and forwarding to and
//! from the bridge, or isolation for an internal network.
//!
//! oxpod keeps to a table of its own, `ip oxpod`, so it never edits tables that iptables-nft,
//! firewalld or netavark manage. Every rule carries the comment `oxpod:<network>`; that is how
//! rules are found again, counted and removed. The rules are applied through the `nft` binary
//! (Debian package `nftables`), one `nft -f -` transaction per change, so a change is atomic.
//! Callers serialise changes (the engine holds its network lock).

use std::env;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Ipv4Net;

const FAMILY: &str = "ip";
const TABLE: &str = "oxpod";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
/// nftables keeps at most 128 bytes of a comment.
const COMMENT_MAX: usize = 128;

/// Whether the `nft` binary is installed.
pub fn available() -> bool {
    nft_binary().is_some()
}

fn nft_binary() -> Option<PathBuf> {
    // sbin is often missing from PATH under sudo or in services; look there too.
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join("nft"))
        .find(|p| p.is_file())
}

fn nft() -> io::Result<PathBuf> {
    nft_binary().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "nft not found: install nftables (apt-get install nftables) for forwarding and masquerade",
        )
    })
}

fn comment(network: &str) -> String {
    format!("oxpod:{network}")
}

/// Names end up quoted in an nft script: refuse anything that could break out of the quotes.
fn check_name(what: &str, name: &str, max: usize) -> io::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid {what} {name:?} for a firewall rule: use 1 to {max} letters, digits, '_', '-' or '.'"
            ),
        ))
    }
}

/// Forwarding and masquerade for a bridge network. Sets `/proc/sys/net/ipv4/ip_forward` to 1
/// (unless internal) and adds, when not already present (found by comment, so this is
/// idempotent), masquerade for `ip saddr SUBNET ip daddr != SUBNET`, forward accept for
/// `iifname BRIDGE` and for `oifname BRIDGE ct state established,related`. An internal network
/// instead gets drops for traffic leaving or entering the bridge from elsewhere, and no
/// masquerade.
pub fn ensure_rules(
    network: &str,
    bridge: &str,
    subnet: Ipv4Net,
    internal: bool,
) -> io::Result<()> {
    let what = format!("setting up firewall rules for network {network}");
    check_name("network name", network, COMMENT_MAX - "oxpod:".len())?;
    check_name("bridge name", bridge, super::netlink::IFNAME_MAX)?;
    let nft = nft().map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))?;
    if !internal {
        enable_ip_forward().map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))?;
    }
    let wanted = rules(bridge, subnet, internal);
    let ours = comment(network);
    let existing: Vec<RuleRef> = list_rules(&nft)?
        .into_iter()
        .filter(|r| r.comment.as_deref() == Some(ours.as_str()))
        .collect();
    if existing.len() == wanted.len() {
        return Ok(());
    }
    // A partial set (from an older version, or a bridge renamed) is replaced in the same
    // transaction, so there is no moment without rules.
    let script = ensure_script(&ours, &existing, &wanted);
    run(&nft, &["-f", "-"], Some(&script))
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))?;
    Ok(())
}

/// Delete every rule with that network's comment (by handle); an absent table is fine.
pub fn remove_rules(network: &str) -> io::Result<()> {
    let Some(nft) = nft_binary() else {
        // Without nft no rules can have been added.
        return Ok(());
    };
    let ours = comment(network);
    let existing: Vec<RuleRef> = list_rules(&nft)?
        .into_iter()
        .filter(|r| r.comment.as_deref() == Some(ours.as_str()))
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    let script: String = existing.iter().map(delete_line).collect();
    run(&nft, &["-f", "-"], Some(&script)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("removing firewall rules of network {network}: {e}"),
        )
    })?;
    Ok(())
}

/// How many rules carry that network's comment.
pub fn count_rules(network: &str) -> io::Result<usize> {
    let ours = comment(network);
    Ok(list_rules(&nft()?)?
        .iter()
        .filter(|r| r.comment.as_deref() == Some(ours.as_str()))
        .count())
}

fn enable_ip_forward() -> io::Result<()> {
    let current = fs::read_to_string(IP_FORWARD)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {IP_FORWARD}: {e}")))?;
    // Writing resets every interface's forwarding setting, so only write when it changes.
    if current.trim() != "1" {
        fs::write(IP_FORWARD, "1")
            .map_err(|e| io::Error::new(e.kind(), format!("writing 1 to {IP_FORWARD}: {e}")))?;
    }
    Ok(())
}

/// A rule to add: its chain, whether it goes first (drops must come before other networks'
/// accepts), and its statement.
#[derive(Debug, PartialEq, Eq)]
struct Rule {
    chain: &'static str,
    first: bool,
    body: String,
}

fn rules(bridge: &str, subnet: Ipv4Net, internal: bool) -> Vec<Rule> {
    let rule = |chain, first, body: String| Rule { chain, first, body };
    if internal {
        vec![
            rule(
                "forward",
                true,
                format!("iifname \"{bridge}\" oifname != \"{bridge}\" drop"),
            ),
            rule(
                "forward",
                true,
                format!("oifname \"{bridge}\" iifname != \"{bridge}\" drop"),
            ),
        ]
    } else {
        vec![
            rule(
                "postrouting",
                false,
                format!("ip saddr {subnet} ip daddr != {subnet} masquerade"),
            ),
            rule("forward", false, format!("iifname \"{bridge}\" accept")),
            rule(
                "forward",
                false,
                format!("oifname \"{bridge}\" ct state established,related accept"),
            ),
        ]
    }
}

fn ensure_script(comment: &str, stale: &[RuleRef], wanted: &[Rule]) -> String {
    let mut s = format!(
        "add table {FAMILY} {TABLE}\n\
         add chain {FAMILY} {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
         add chain {FAMILY} {TABLE} forward {{ type filter hook forward priority filter; policy accept; }}\n"
    );
    for r in stale {
        s.push_str(&delete_line(r));
    }
    for r in wanted {
        let verb = if r.first { "insert" } else { "add" };
        s.push_str(&format!(
            "{verb} rule {FAMILY} {TABLE} {} {} comment \"{comment}\"\n",
            r.chain, r.body
        ));
    }
    s
}

fn delete_line(r: &RuleRef) -> String {
    format!(
        "delete rule {FAMILY} {TABLE} {} handle {}\n",
        r.chain, r.handle
    )
}

/// A rule as listed by `nft -j`.
#[derive(Debug, PartialEq, Eq)]
struct RuleRef {
    chain: String,
    handle: u64,
    comment: Option<String>,
}

/// The rules of our table; none when the table does not exist.
fn list_rules(nft: &Path) -> io::Result<Vec<RuleRef>> {
    match run(nft, &["-j", "list", "table", FAMILY, TABLE], None) {
        Ok(json) => parse_rules(&json),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("listing nftables table {FAMILY} {TABLE}: {e}"),
        )),
    }
}

fn parse_rules(json: &str) -> io::Result<Vec<RuleRef>> {
    let bad = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected output of nft -j: {why}"),
        )
    };
    let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let items = doc
        .get("nftables")
        .and_then(|v| v.as_array())
        .ok_or_else(|| bad("no \"nftables\" array".into()))?;
    let mut rules = Vec::new();
    for rule in items.iter().filter_map(|item| item.get("rule")) {
        let chain = rule.get("chain").and_then(|v| v.as_str());
        let handle = rule.get("handle").and_then(|v| v.as_u64());
        let (Some(chain), Some(handle)) = (chain, handle) else {
            return Err(bad(format!("a rule without chain or handle: {rule}")));
        };
        rules.push(RuleRef {
            chain: chain.to_string(),
            handle,
            comment: rule
                .get("comment")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        });
    }
    Ok(rules)
}

/// Run nft, feeding `stdin` when given; its stdout on success. A missing table or rule comes
/// back as NotFound.
fn run(nft: &Path, args: &[&str], stdin: Option<&str>) -> io::Result<String> {
    let mut child = Command::new(nft)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("running {}: {e}", nft.display())))?;
    if let (Some(script), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Scripts are a few hundred bytes, far below the pipe buffer, so this cannot block
        // while nft waits to write its output.
        pipe.write_all(script.as_bytes()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("writing a script to {}: {e}", nft.display()),
            )
        })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| io::Error::new(e.kind(), format!("waiting for {}: {e}", nft.display())))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().unwrap_or("").trim();
    let kind = if first.contains("No such file or directory") {
        io::ErrorKind::NotFound
    } else {
        io::ErrorKind::Other
    };
    Err(io::Error::new(
        kind,
        format!(
            "nft {} failed ({}): {}",
            args.join(" "),
            out.status,
            stderr.trim()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> Ipv4Net {
        "10.88.0.0/16".parse().unwrap()
    }

    #[test]
    fn script_adds_table_chains_and_commented_rules() {
        let stale = [RuleRef {
            chain: "forward".into(),
            handle: 7,
            comment: Some("oxpod:web".into()),
        }];
        let s = ensure_script("oxpod:web", &stale, &rules("oxpod0", net(), false));
        assert_eq!(
            s,
            "add table ip oxpod\n\
             add chain ip oxpod postrouting { type nat hook postrouting priority srcnat; policy accept; }\n\
             add chain ip oxpod forward { type filter hook forward priority filter; policy accept; }\n\
             delete rule ip oxpod forward handle 7\n\
             add rule ip oxpod postrouting ip saddr 10.88.0.0/16 ip daddr != 10.88.0.0/16 masquerade comment \"oxpod:web\"\n\
             add rule ip oxpod forward iifname \"oxpod0\" accept comment \"oxpod:web\"\n\
             add rule ip oxpod forward oifname \"oxpod0\" ct state established,related accept comment \"oxpod:web\"\n"
        );
        let internal = ensure_script("oxpod:db", &[], &rules("oxbr1", net(), true));
        assert!(internal.contains(
            "insert rule ip oxpod forward iifname \"oxbr1\" oifname != \"oxbr1\" drop comment \"oxpod:db\"\n"
        ));
        assert!(!internal.contains("masquerade"));
    }

    #[test]
    fn names_that_could_break_the_script_are_refused() {
        assert!(check_name("network name", "web-1.prod_x", 100).is_ok());
        for bad in ["", "a\"b", "a b", "a\nb", "a;b", "x\\"] {
            assert!(check_name("network name", bad, 100).is_err(), "{bad:?}");
        }
        let e = ensure_rules("bad\"name", "oxpod0", net(), false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn parses_rules_from_json_listing() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "ip", "name": "oxpod", "handle": 3}},
            {"chain": {"family": "ip", "table": "oxpod", "name": "forward", "handle": 2}},
            {"rule": {"family": "ip", "table": "oxpod", "chain": "forward", "handle": 5,
                      "comment": "oxpod:web", "expr": []}},
            {"rule": {"family": "ip", "table": "oxpod", "chain": "postrouting", "handle": 6,
                      "expr": []}}]}"#;
        assert_eq!(
            parse_rules(json).unwrap(),
            vec![
                RuleRef {
                    chain: "forward".into(),
                    handle: 5,
                    comment: Some("oxpod:web".into())
                },
                RuleRef {
                    chain: "postrouting".into(),
                    handle: 6,
                    comment: None
                },
            ]
        );
        assert!(parse_rules("{}").is_err());
    }

    fn can_run() -> bool {
        if !nix::unistd::geteuid().is_root() || !available() {
            eprintln!("skipped: needs root and nft");
            return false;
        }
        true
    }

    struct RemoveOnDrop(String);

    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = remove_rules(&self.0);
        }
    }

    fn unique_network() -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("oxtest-{:08x}", nanos ^ std::process::id().rotate_left(20))
    }

    #[test]
    fn rules_are_idempotent_and_removed() {
        if !can_run() {
            return;
        }
        let network = unique_network();
        let _guard = RemoveOnDrop(network.clone());
        let subnet: Ipv4Net = "10.254.3.0/24".parse().unwrap();
        assert_eq!(count_rules(&network).unwrap(), 0);
        ensure_rules(&network, "oxt3c0ffe", subnet, false).unwrap();
        assert_eq!(count_rules(&network).unwrap(), 3);
        ensure_rules(&network, "oxt3c0ffe", subnet, false).unwrap();
        assert_eq!(count_rules(&network).unwrap(), 3);
        assert_eq!(fs::read_to_string(IP_FORWARD).unwrap().trim(), "1");
        remove_rules(&network).unwrap();
        assert_eq!(count_rules(&network).unwrap(), 0);
        remove_rules(&network).unwrap();
    }

    #[test]
    fn internal_network_gets_drops_only() {
        if !can_run() {
            return;
        }
        let network = unique_network() + "-int";
        let _guard = RemoveOnDrop(network.clone());
        let subnet: Ipv4Net = "10.254.4.0/24".parse().unwrap();
        ensure_rules(&network, "oxt4c0ffe", subnet, true).unwrap();
        ensure_rules(&network, "oxt4c0ffe", subnet, true).unwrap();
        assert_eq!(count_rules(&network).unwrap(), 2);
        let listing = run(&nft().unwrap(), &["list", "table", FAMILY, TABLE], None).unwrap();
        let ours: Vec<&str> = listing
            .lines()
            .filter(|l| l.contains(&format!("\"oxpod:{network}\"")))
            .collect();
        assert!(ours.iter().all(|l| l.contains(" drop ")), "{ours:?}");
        remove_rules(&network).unwrap();
        assert_eq!(count_rules(&network).unwrap(), 0);
    }
}
