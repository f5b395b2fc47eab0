//! A real `docker-registry` (distribution 2.8) per test, on a private port and storage directory.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// A running registry; killed and reaped on drop.
pub struct Registry {
    child: Child,
    port: u16,
    dir: TempDir,
    creds: Option<(String, String)>,
    tls: Option<TlsFiles>,
}

struct TlsFiles {
    ca_cert: PathBuf,
    cert_dir: PathBuf,
}

impl Registry {
    /// Plain HTTP, no authentication.
    pub fn start() -> Registry {
        Self::launch(None, false)
    }

    /// Plain HTTP behind htpasswd basic auth: `/v2/` answers 401 without credentials.
    pub fn start_with_auth(user: &str, pass: &str) -> Registry {
        Self::launch(Some((user.to_owned(), pass.to_owned())), false)
    }

    /// HTTPS with a certificate for IP 127.0.0.1 signed by a fresh self-signed CA.
    pub fn start_tls() -> Registry {
        Self::launch(None, true)
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// `(user, password)` for registries started with auth.
    pub fn creds(&self) -> Option<(&str, &str)> {
        self.creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// `storage.filesystem.rootdirectory`; blobs are under `docker/registry/v2/blobs/sha256/`.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the blob `sha256:<hex>` (or bare `<hex>`), for tampering tests.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The CA that signed the server certificate. Panics for non-TLS registries.
    pub fn ca_cert_path(&self) -> &Path {
        &self.tls_files().ca_cert
    }

    /// A certs.d-style directory: `<cert_dir>/127.0.0.1:PORT/ca.crt`. Panics for non-TLS registries.
    pub fn cert_dir(&self) -> &Path {
        &self.tls_files().cert_dir
    }

    /// `<cert_dir>/127.0.0.1:PORT`: what `--cert-dir` / `--dest-cert-dir` take (a flat directory of certs).
    pub fn host_cert_dir(&self) -> PathBuf {
        self.cert_dir().join(self.addr())
    }

    /// The registry's own log (stderr), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Status code of a plain `GET path` without credentials; `None` for TLS registries, which
    /// need a TLS client (use skopeo there).
    pub fn http_status(&self, path: &str) -> Option<u16> {
        if self.is_tls() {
            return None;
        }
        let line = http_get_status_line(self.port, path).ok()?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn tls_files(&self) -> &TlsFiles {
        self.tls
            .as_ref()
            .expect("not a TLS registry (use Registry::start_tls)")
    }

    fn launch(creds: Option<(String, String)>, tls: bool) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("oxpod-it-registry.")
            .tempdir()
            .expect("create registry temp dir");
        let storage = dir.path().join("storage");
        fs::create_dir(&storage).expect("create registry storage dir");

        // Port 0 lets the kernel pick a free port atomically; we then read the chosen port back
        // from the child's listening socket. Choosing a port first and passing it in would race
        // with every other test starting a registry at the same time.
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:0\n",
            storage.display()
        );
        let tls_paths = tls.then(|| make_server_cert(dir.path()));
        if let Some((_, cert, key)) = &tls_paths {
            write!(
                config,
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            )
            .unwrap();
        }
        if let Some((user, pass)) = &creds {
            let htpasswd = dir.path().join("htpasswd");
            let out = run_tool(Command::new("htpasswd").args(["-Bbn", user, pass]));
            fs::write(&htpasswd, out).expect("write htpasswd");
            write!(
                config,
                "auth:\n  htpasswd:\n    realm: oxpod-it\n    path: {}\n",
                htpasswd.display()
            )
            .unwrap();
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write registry config");

        let log = fs::File::create(dir.path().join("registry.log")).expect("create registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup registry log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {REGISTRY_BIN}: {e}"));

        let mut registry = Registry {
            child,
            port: 0,
            dir,
            creds,
            tls: None,
        };
        registry.port = registry.wait_ready();
        if let Some((ca_cert, _, _)) = tls_paths {
            let cert_dir = registry.dir.path().join("certs.d");
            let host_dir = cert_dir.join(registry.addr());
            fs::create_dir_all(&host_dir).expect("create certs.d host dir");
            fs::copy(&ca_cert, host_dir.join("ca.crt")).expect("copy ca.crt into certs.d");
            registry.tls = Some(TlsFiles { ca_cert, cert_dir });
        }
        registry
    }

    /// Waits until the child listens and answers HTTP on that port; returns the port.
    fn wait_ready(&mut self) -> u16 {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let pid = self.child.id();
        let mut port = None;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for registry") {
                panic!(
                    "docker-registry exited at startup ({status}):\n{}",
                    self.log()
                );
            }
            if port.is_none() {
                port = listening_port(pid);
            }
            // Any HTTP answer will do: 200/401 over plain HTTP, or Go's "400 client sent an
            // HTTP request to an HTTPS server" on a TLS port, which proves the server loop runs.
            if let Some(p) = port
                && http_get_status_line(p, "/v2/").is_ok_and(|l| l.starts_with("HTTP/1."))
            {
                return p;
            }
            if Instant::now() > deadline {
                panic!(
                    "docker-registry (pid {pid}) not ready after {STARTUP_TIMEOUT:?}, port {port:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TCP port `pid` listens on, matched through socket inodes in /proc (same network
/// namespace as ours), so a port taken by someone else can never be mistaken for it.
fn listening_port(pid: u32) -> Option<u16> {
    let mut inodes = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        if let Ok(target) = fs::read_link(entry.path())
            && let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
        {
            inodes.push(inode.to_owned());
        }
    }
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        const LISTEN: &str = "0A";
        if fields.len() > 9 && fields[3] == LISTEN && inodes.iter().any(|i| i == fields[9]) {
            let (_, port) = fields[1].split_once(':')?;
            u16::from_str_radix(port, 16).ok()
        } else {
            None
        }
    })
}

/// Sends `GET path` over plain TCP and returns the status line.
fn http_get_status_line(port: u16, path: &str) -> std::io::Result<String> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.contains(&b'\n') {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    match text.lines().next() {
        Some(line) if !line.is_empty() => Ok(line.to_owned()),
        _ => Err(std::io::Error::other("empty HTTP answer")),
    }
}

/// A CA and a server certificate for IP 127.0.0.1; returns (ca.crt, server.crt, server.key).
fn make_server_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let tls = dir.join("tls");
    fs::create_dir(&tls).expect("create tls dir");
    let p = |name: &str| tls.join(name);
    // EC keys: generating them is instant, unlike RSA, and both Go and rustls accept P-256.
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run_tool(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .args(["-days", "3650", "-subj", "/CN=oxpod-it test CA"])
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.crt")),
    );
    run_tool(
        Command::new("openssl")
            .arg("req")
            .args(ec)
            .args(["-subj", "/CN=127.0.0.1"])
            .arg("-keyout")
            .arg(p("server.key"))
            .arg("-out")
            .arg(p("server.csr")),
    );
    // webpki (rustls) insists on a SAN and on a leaf that is not a CA.
    fs::write(
        p("server.ext"),
        "subjectAltName = IP:127.0.0.1\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n",
    )
    .expect("write server.ext");
    run_tool(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "3650", "-set_serial", "2"])
            .arg("-in")
            .arg(p("server.csr"))
            .arg("-CA")
            .arg(p("ca.crt"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-extfile")
            .arg(p("server.ext"))
            .arg("-out")
            .arg(p("server.crt")),
    );
    (p("ca.crt"), p("server.crt"), p("server.key"))
}

/// Runs a helper tool, panicking with its stderr on failure; returns stdout.
pub(crate) fn run_tool(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
