//! `/etc/hosts` for the members of a network: each member's own lines followed by one line
//! per other member (its address, then its names). The file is bind-mounted into running
//! containers, so it is rewritten in place: a rename would leave them the old inode.

use std::fmt::Write as _;
use std::io::{self, Seek, Write};
use std::net::IpAddr;
use std::path::Path;

/// A member of a network as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub ip: IpAddr,
    pub names: Vec<String>,
}

/// The member's own file (`base`, from `spec::hosts_file`) with the other members appended.
pub fn with_peers(base: &str, peers: &[Peer]) -> String {
    let mut out = base.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for peer in peers.iter().filter(|p| !p.names.is_empty()) {
        let _ = writeln!(out, "{}\t{}", peer.ip, peer.names.join(" "));
    }
    out
}

/// Replace the file's content keeping its inode (creating it when absent).
pub fn rewrite_in_place(path: &Path, content: &str) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.rewind()?;
    file.write_all(content.as_bytes())?;
    file.set_len(content.len() as u64)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn peers_follow_the_base() {
        let out = with_peers(
            "127.0.0.1\tlocalhost\n10.88.0.2\tweb\n",
            &[
                Peer {
                    ip: "10.88.0.3".parse().unwrap(),
                    names: vec!["db".into(), "db-1".into()],
                },
                Peer {
                    ip: "10.88.0.4".parse().unwrap(),
                    names: vec![],
                },
            ],
        );
        assert_eq!(
            out,
            "127.0.0.1\tlocalhost\n10.88.0.2\tweb\n10.88.0.3\tdb db-1\n"
        );
    }

    #[test]
    fn rewrite_keeps_the_inode() {
        let dir = std::env::temp_dir().join(format!("oxpod-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hosts");
        rewrite_in_place(&path, "a long first version\n").unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        rewrite_in_place(&path, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
