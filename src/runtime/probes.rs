//! Kubernetes probe and hook actions that reach the container over the network, run from
//! outside it: an HTTP GET (plain, or TLS without certificate checks as the kubelet does), a
//! TCP connect, and the gRPC health check (`grpc.health.v1.Health/Check` over a minimal
//! HTTP/2 client speaking prior knowledge). Exec actions run through [`super::health`]'s
//! runner, which joins the container.
//!
//! A network action runs on a short-lived thread that first enters the container's network
//! namespace ([`NetProbe`]), so it works for pods without a bridge (`--network none`) and
//! reaches `127.0.0.1` of the pod. The thread never forks; it hands its [`Outcome`] back
//! through a channel and closes a pipe the monitor's poll loop watches. Every step honours the
//! probe's deadline, and the caller gives up at the deadline too.
//!
//! [`Tracker`] turns single results into a probe's state with Kubernetes' thresholds.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;

use crate::spec::{Probe, ProbeAction};

/// The `User-Agent` of HTTP and gRPC probes; servers that recognise the kubelet's probes look
/// for the `kube-probe/` prefix.
pub const USER_AGENT: &str = concat!("kube-probe/oxpod-", env!("CARGO_PKG_VERSION"));

/// How much of an HTTP response a probe reads (the kubelet's limit on a probe's body).
const MAX_RESPONSE: usize = 10 * 1024;

/// One probe's or hook's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub passed: bool,
    /// Why it failed, or what passed (`HTTP 200`).
    pub message: String,
}

impl Outcome {
    pub fn pass(message: impl Into<String>) -> Outcome {
        Outcome {
            passed: true,
            message: message.into(),
        }
    }

    pub fn fail(message: impl Into<String>) -> Outcome {
        Outcome {
            passed: false,
            message: message.into(),
        }
    }
}

/// Which probe of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Startup => "startup",
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
        }
    }
}

/// A probe's thresholds, as the kubelet's prober worker applies them: a result counts toward
/// a run of equal results; a run of `successThreshold` successes or `failureThreshold`
/// failures sets the probe's state (again on every further equal result).
#[derive(Debug, Clone)]
pub struct Tracker {
    pub probe: Probe,
    last: Option<bool>,
    run: u32,
}

impl Tracker {
    pub fn new(probe: Probe) -> Tracker {
        Tracker {
            probe,
            last: None,
            run: 0,
        }
    }

    /// Take one result; the probe's state when this result completes a run long enough.
    pub fn record(&mut self, passed: bool) -> Option<bool> {
        if self.last == Some(passed) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(passed);
            self.run = 1;
        }
        let threshold = if passed {
            self.probe.success_threshold
        } else {
            self.probe.failure_threshold
        };
        (self.run >= threshold.max(1)).then_some(passed)
    }
}

// ---------------------------------------------------------------------------------------------
// Running a network action on a thread inside the container's network namespace.

/// A network action running on its thread.
pub struct NetProbe {
    /// Closed by the thread when it is done: readable (end of file) from then on.
    done: OwnedFd,
    result: mpsc::Receiver<Outcome>,
    deadline: Instant,
    timeout: Duration,
}

impl NetProbe {
    /// Start `action` (HTTP, TCP or gRPC) against the container: from inside `netns` when
    /// given, at `pod_ip` unless the action names a host, within `timeout`.
    pub fn spawn(
        netns: Option<OwnedFd>,
        action: ProbeAction,
        pod_ip: IpAddr,
        timeout: Duration,
    ) -> io::Result<NetProbe> {
        let (done, done_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let (tx, result) = mpsc::channel();
        let deadline = Instant::now() + timeout;
        std::thread::Builder::new()
            .name("probe".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                let outcome = match netns {
                    Some(ns) => match nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET) {
                        Ok(()) => run_network(&action, pod_ip, deadline),
                        Err(e) => Outcome::fail(format!(
                            "entering the container's network namespace: {e}"
                        )),
                    },
                    None => run_network(&action, pod_ip, deadline),
                };
                let _ = tx.send(outcome);
                drop(done_w);
            })?;
        Ok(NetProbe {
            done,
            result,
            deadline,
            timeout,
        })
    }

    /// Becomes readable when the action is done.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.done.as_fd()
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The outcome once the action is done, or a timeout once its deadline has passed (the
    /// thread then ends on its own, its socket timeouts being that deadline too).
    pub fn outcome(&self, now: Instant) -> Option<Outcome> {
        match self.result.try_recv() {
            Ok(outcome) => Some(outcome),
            Err(mpsc::TryRecvError::Disconnected) => {
                Some(Outcome::fail("the probe's thread ended without a result"))
            }
            Err(mpsc::TryRecvError::Empty) if now >= self.deadline => Some(self.timed_out()),
            Err(mpsc::TryRecvError::Empty) => None,
        }
    }

    /// Wait for the outcome (for a caller without an event loop).
    pub fn wait(self) -> Outcome {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.result.recv_timeout(left + Duration::from_millis(50)) {
            Ok(outcome) => outcome,
            Err(mpsc::RecvTimeoutError::Timeout) => self.timed_out(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Outcome::fail("the probe's thread ended without a result")
            }
        }
    }

    fn timed_out(&self) -> Outcome {
        Outcome::fail(format!(
            "timed out after {}s",
            self.timeout
                .as_secs_f64()
                .to_string()
                .trim_end_matches(".0")
        ))
    }
}

/// Run a network action in the calling thread (already in the right namespace).
pub fn run_network(action: &ProbeAction, pod_ip: IpAddr, deadline: Instant) -> Outcome {
    match action {
        ProbeAction::Http {
            host,
            port,
            path,
            scheme,
            headers,
        } => {
            let addr = match address(host.as_deref(), pod_ip, *port) {
                Ok(addr) => addr,
                Err(e) => return Outcome::fail(e),
            };
            let host = host.as_deref().filter(|h| !h.is_empty());
            let name = host.map_or_else(|| pod_ip.to_string(), str::to_string);
            http_get(
                addr,
                &authority(&name, *port),
                &name,
                path,
                scheme,
                headers,
                deadline,
            )
        }
        ProbeAction::Tcp { host, port } => match address(host.as_deref(), pod_ip, *port) {
            Ok(addr) => tcp_connect(addr, deadline),
            Err(e) => Outcome::fail(e),
        },
        ProbeAction::Grpc { port, service } => {
            let addr = SocketAddr::new(pod_ip, *port);
            grpc_check(
                addr,
                &authority(&pod_ip.to_string(), *port),
                service.as_deref(),
                deadline,
            )
        }
        ProbeAction::Exec { .. } | ProbeAction::Sleep { .. } => {
            Outcome::fail("not a network action")
        }
    }
}

/// Where to connect: the named host, else the pod's address.
fn address(host: Option<&str>, pod_ip: IpAddr, port: u16) -> Result<SocketAddr, String> {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return Ok(SocketAddr::new(pod_ip, port));
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {bare}: {e}"))?
        .collect();
    // IPv4 first, as the kubelet dials "tcp4" for an IPv4 pod.
    addrs.sort_by_key(|a| !a.is_ipv4());
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| format!("{bare} has no address"))
}

/// `host:port`, with brackets around an IPv6 address.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An error in the words a user expects: `connection refused`, `timed out`.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out".to_string(),
        io::ErrorKind::UnexpectedEof => "connection closed before a response".to_string(),
        _ => match e.raw_os_error() {
            Some(code) => {
                let text = nix::errno::Errno::from_raw(code).desc();
                let mut chars = text.chars();
                chars.next().map_or_else(String::new, |c| {
                    c.to_lowercase().chain(chars).collect::<String>()
                })
            }
            None => e.to_string(),
        },
    }
}

fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    } else {
        Ok(left)
    }
}

/// A TCP stream whose every read and write ends by the deadline.
struct Timed {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(left(self.deadline)?))?;
        self.stream.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(left(self.deadline)?))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn connect(addr: SocketAddr, deadline: Instant) -> Result<Timed, String> {
    let wait = left(deadline).map_err(|e| format!("{addr}: {}", describe(&e)))?;
    let stream =
        TcpStream::connect_timeout(&addr, wait).map_err(|e| format!("{addr}: {}", describe(&e)))?;
    let _ = stream.set_nodelay(true);
    Ok(Timed { stream, deadline })
}

/// The TCP action: a connection that opens passes.
pub fn tcp_connect(addr: SocketAddr, deadline: Instant) -> Outcome {
    match connect(addr, deadline) {
        Ok(_) => Outcome::pass(format!("connected to {addr}")),
        Err(e) => Outcome::fail(format!("TCP {e}")),
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1

/// The request an HTTP action sends. Headers given by the probe replace the defaults of the
/// same name (`Host`, `User-Agent`, `Accept`), as with the kubelet.
fn http_request(authority: &str, path: &str, headers: &[(String, String)]) -> Vec<u8> {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = format!("GET {path} HTTP/1.1\r\n");
    if !given("host") {
        out.push_str(&format!("Host: {authority}\r\n"));
    }
    if !given("user-agent") {
        out.push_str(&format!("User-Agent: {USER_AGENT}\r\n"));
    }
    if !given("accept") {
        out.push_str("Accept: */*\r\n");
    }
    for (name, value) in headers {
        // A header cannot carry a line break; one that tries is dropped.
        if name.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status code of a response's status line (`HTTP/1.1 200 OK`).
fn status_code(head: &[u8]) -> Option<u16> {
    let line = &head[..find(head, b"\n").unwrap_or(head.len())];
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// Where a response's body ends.
#[derive(Debug, Clone, Copy)]
enum BodyEnd {
    /// It has none.
    Empty,
    /// At its last chunk.
    Chunked,
    /// After this many bytes.
    Length(usize),
    /// At end of file.
    Eof,
}

impl BodyEnd {
    /// From a response's head (through its blank line).
    fn of(head: &[u8], status: u16) -> BodyEnd {
        let text = String::from_utf8_lossy(head).to_ascii_lowercase();
        let header = |name: &str| {
            text.split('\n')
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim() == name)
                .map(|(_, v)| v.trim().to_string())
        };
        if (100..200).contains(&status) || status == 204 || status == 304 {
            BodyEnd::Empty
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            BodyEnd::Chunked
        } else if let Some(n) = header("content-length").and_then(|v| v.parse().ok()) {
            BodyEnd::Length(n)
        } else {
            BodyEnd::Eof
        }
    }

    /// Whether `body`, all received so far, is whole.
    fn reached(self, body: &[u8]) -> bool {
        match self {
            BodyEnd::Empty => true,
            BodyEnd::Chunked => find(body, b"0\r\n\r\n").is_some(),
            BodyEnd::Length(n) => body.len() >= n,
            BodyEnd::Eof => false,
        }
    }
}

/// Send the request and read the response's status, then what is left of it up to
/// [`MAX_RESPONSE`] (so the server sees its answer read, not reset): a body of a known
/// length, a chunked body to its last chunk, or anything else to end of file. Once the status
/// is known, failures to read the rest do not matter.
fn exchange<S: Read + Write>(stream: &mut S, request: &[u8]) -> io::Result<u16> {
    stream.write_all(request)?;
    stream.flush()?;
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP response");
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let mut status = None;
    let mut body: Option<(usize, BodyEnd)> = None;
    loop {
        // Lines end in CRLF; a bare LF is tolerated, as HTTP clients do.
        if status.is_none() && find(&got, b"\n").is_some() {
            status = Some(status_code(&got).ok_or_else(malformed)?);
        }
        if let Some(code) = status {
            if body.is_none()
                && let Some(start) = find(&got, b"\r\n\r\n")
                    .map(|i| i + 4)
                    .or_else(|| find(&got, b"\n\n").map(|i| i + 2))
            {
                body = Some((start, BodyEnd::of(&got[..start], code)));
            }
            if body.is_some_and(|(start, end)| end.reached(&got[start..]))
                || got.len() >= MAX_RESPONSE
            {
                return Ok(code);
            }
        } else if got.len() >= MAX_RESPONSE {
            return Err(malformed());
        }
        match stream.read(&mut buf) {
            Ok(0) => return status.ok_or_else(|| io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return status.ok_or(e),
        }
    }
}

/// The HTTP action: a GET whose status is 200 to 399 passes (redirects are not followed; a
/// redirect passes). `name` is the host for TLS's server name.
pub fn http_get(
    addr: SocketAddr,
    authority: &str,
    name: &str,
    path: &str,
    scheme: &str,
    headers: &[(String, String)],
    deadline: Instant,
) -> Outcome {
    let request = http_request(authority, path, headers);
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "http" | "" => false,
        "https" => true,
        other => return Outcome::fail(format!("unsupported scheme {other:?}")),
    };
    let mut stream = match connect(addr, deadline) {
        Ok(stream) => stream,
        Err(e) => return Outcome::fail(format!("HTTP GET: {e}")),
    };
    let status = if tls {
        let config = tls_config();
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string())
            .unwrap_or_else(|_| rustls::pki_types::ServerName::IpAddress(addr.ip().into()));
        let conn = match rustls::ClientConnection::new(config, server_name) {
            Ok(conn) => conn,
            Err(e) => return Outcome::fail(format!("TLS: {e}")),
        };
        let mut tls = rustls::StreamOwned::new(conn, stream);
        exchange(&mut tls, &request)
    } else {
        exchange(&mut stream, &request)
    };
    match status {
        Ok(code) if (200..400).contains(&code) => Outcome::pass(format!("HTTP {code}")),
        Ok(code) => Outcome::fail(format!("HTTP {code}")),
        Err(e) => Outcome::fail(format!("HTTP GET {addr}{path}: {}", describe(&e))),
    }
}

/// TLS that does not check the server's certificate, as the kubelet's probes do (the
/// handshake's signatures are still checked).
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// ---------------------------------------------------------------------------------------------
// gRPC health checking over HTTP/2 with prior knowledge.

/// HTTP/2 framing: just what one unary call needs.
mod h2 {
    use std::io::{self, Read};

    pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const CONTINUATION: u8 = 0x9;

    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;

    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;

    /// The largest frame accepted: the default SETTINGS_MAX_FRAME_SIZE, which this client
    /// never raises.
    const MAX_FRAME: usize = 16_384;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Frame {
        pub kind: u8,
        pub flags: u8,
        pub stream: u32,
        pub payload: Vec<u8>,
    }

    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = Vec::with_capacity(9 + payload.len());
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    pub fn read_frame(r: &mut impl Read) -> io::Result<Frame> {
        let mut head = [0u8; 9];
        r.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("HTTP/2 frame of {len} bytes is over the limit"),
            ));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload)?;
        Ok(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        })
    }

    /// The payload of a DATA or HEADERS frame without its padding (and a HEADERS frame's
    /// priority fields).
    pub fn content(f: &Frame) -> Result<&[u8], String> {
        let mut body = &f.payload[..];
        let mut pad = 0;
        if f.flags & PADDED != 0 {
            let (&n, rest) = body.split_first().ok_or("empty padded frame")?;
            pad = n as usize;
            body = rest;
        }
        if f.kind == HEADERS && f.flags & PRIORITY != 0 {
            body = body.get(5..).ok_or("short HEADERS frame")?;
        }
        if pad > body.len() {
            return Err("padding longer than the frame".into());
        }
        Ok(&body[..body.len() - pad])
    }
}

/// HPACK (RFC 7541): literal encoding for requests; a full decoder (static and dynamic
/// tables, Huffman) for responses.
mod hpack {
    use std::sync::OnceLock;

    use super::VecDeque;

    /// RFC 7541 Appendix A.
    const STATIC: [(&str, &str); 61] = [
        (":authority", ""),
        (":method", "GET"),
        (":method", "POST"),
        (":path", "/"),
        (":path", "/index.html"),
        (":scheme", "http"),
        (":scheme", "https"),
        (":status", "200"),
        (":status", "204"),
        (":status", "206"),
        (":status", "304"),
        (":status", "400"),
        (":status", "404"),
        (":status", "500"),
        ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"),
        ("accept-language", ""),
        ("accept-ranges", ""),
        ("accept", ""),
        ("access-control-allow-origin", ""),
        ("age", ""),
        ("allow", ""),
        ("authorization", ""),
        ("cache-control", ""),
        ("content-disposition", ""),
        ("content-encoding", ""),
        ("content-language", ""),
        ("content-length", ""),
        ("content-location", ""),
        ("content-range", ""),
        ("content-type", ""),
        ("cookie", ""),
        ("date", ""),
        ("etag", ""),
        ("expect", ""),
        ("expires", ""),
        ("from", ""),
        ("host", ""),
        ("if-match", ""),
        ("if-modified-since", ""),
        ("if-none-match", ""),
        ("if-range", ""),
        ("if-unmodified-since", ""),
        ("last-modified", ""),
        ("link", ""),
        ("location", ""),
        ("max-forwards", ""),
        ("proxy-authenticate", ""),
        ("proxy-authorization", ""),
        ("range", ""),
        ("referer", ""),
        ("refresh", ""),
        ("retry-after", ""),
        ("server", ""),
        ("set-cookie", ""),
        ("strict-transport-security", ""),
        ("transfer-encoding", ""),
        ("user-agent", ""),
        ("vary", ""),
        ("via", ""),
        ("www-authenticate", ""),
    ];

    pub const AUTHORITY: usize = 1;
    pub const METHOD_POST: usize = 3;
    pub const PATH: usize = 4;
    pub const SCHEME_HTTP: usize = 6;
    pub const CONTENT_TYPE: usize = 31;
    pub const USER_AGENT: usize = 58;

    /// The bit length of each symbol's Huffman code (RFC 7541 Appendix B; 256 is EOS). The
    /// code is canonical: codes of one length are consecutive, in symbol order, so the
    /// lengths alone define it.
    const CODE_LEN: [u8; 257] = [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //
        28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //
        5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //
        7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //
        6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, //
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, //
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, //
        21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, //
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, //
        19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, //
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, //
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, //
        30,
    ];

    const MAX_LEN: usize = 30;

    /// The canonical code, by length.
    struct Huffman {
        /// The first code of each length.
        first: [u32; MAX_LEN + 1],
        /// How many codes each length has.
        count: [u32; MAX_LEN + 1],
        /// Where each length's symbols start in `symbols`.
        offset: [usize; MAX_LEN + 1],
        /// Symbols ordered by (code length, symbol).
        symbols: Vec<u16>,
        #[cfg(test)]
        codes: Vec<u32>,
    }

    fn huffman() -> &'static Huffman {
        static TABLE: OnceLock<Huffman> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut count = [0u32; MAX_LEN + 1];
            for &len in &CODE_LEN {
                count[len as usize] += 1;
            }
            let mut first = [0u32; MAX_LEN + 1];
            let mut offset = [0usize; MAX_LEN + 1];
            let mut code = 0u32;
            let mut at = 0usize;
            for len in 1..=MAX_LEN {
                code = (code + count[len - 1]) << 1;
                first[len] = code;
                offset[len] = at;
                at += count[len] as usize;
            }
            let mut symbols: Vec<u16> = (0..=256).collect();
            symbols.sort_by_key(|&s| (CODE_LEN[s as usize], s));
            #[cfg(test)]
            let codes = (0..=256usize)
                .map(|s| {
                    let len = CODE_LEN[s] as usize;
                    let rank = symbols[offset[len]..]
                        .iter()
                        .position(|&x| x as usize == s)
                        .expect("every symbol has a code");
                    first[len] + rank as u32
                })
                .collect();
            Huffman {
                first,
                count,
                offset,
                symbols,
                #[cfg(test)]
                codes,
            }
        })
    }

    pub fn huffman_decode(data: &[u8]) -> Result<Vec<u8>, String> {
        let t = huffman();
        let mut out = Vec::with_capacity(data.len() * 8 / 5);
        let (mut code, mut len) = (0u32, 0usize);
        for &byte in data {
            for bit in (0..8).rev() {
                code = (code << 1) | u32::from((byte >> bit) & 1);
                len += 1;
                if len > MAX_LEN {
                    return Err("invalid Huffman code".into());
                }
                let rank = code.wrapping_sub(t.first[len]);
                if code >= t.first[len] && rank < t.count[len] {
                    let symbol = t.symbols[t.offset[len] + rank as usize];
                    if symbol == 256 {
                        return Err("EOS inside a Huffman string".into());
                    }
                    out.push(symbol as u8);
                    code = 0;
                    len = 0;
                }
            }
        }
        // What is left is padding: fewer than 8 bits, all ones (a prefix of EOS).
        if len > 7 || code != (1u32 << len) - 1 {
            return Err("invalid Huffman padding".into());
        }
        Ok(out)
    }

    #[cfg(test)]
    pub fn huffman_encode(data: &[u8]) -> Vec<u8> {
        let t = huffman();
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u64, 0u32);
        for &b in data {
            let len = CODE_LEN[b as usize] as u32;
            acc = (acc << len) | u64::from(t.codes[b as usize]);
            bits += len;
            while bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        if bits > 0 {
            out.push(((acc << (8 - bits)) as u8) | (0xffu8 >> bits));
        }
        out
    }

    /// An integer with an `prefix`-bit prefix, the first byte's other bits being `flags`.
    pub fn encode_int(out: &mut Vec<u8>, flags: u8, prefix: u32, value: usize) {
        let max = (1usize << prefix) - 1;
        if value < max {
            out.push(flags | value as u8);
            return;
        }
        out.push(flags | max as u8);
        let mut rest = value - max;
        while rest >= 128 {
            out.push((rest % 128) as u8 | 0x80);
            rest /= 128;
        }
        out.push(rest as u8);
    }

    /// A string literal, without Huffman coding.
    pub fn encode_str(out: &mut Vec<u8>, s: &[u8]) {
        encode_int(out, 0, 7, s.len());
        out.extend_from_slice(s);
    }

    /// A field from the static table, whole.
    pub fn indexed(out: &mut Vec<u8>, index: usize) {
        encode_int(out, 0x80, 7, index);
    }

    /// A literal field without indexing, its name from the static table.
    pub fn literal(out: &mut Vec<u8>, name_index: usize, value: &str) {
        encode_int(out, 0, 4, name_index);
        encode_str(out, value.as_bytes());
    }

    /// A literal field without indexing, with a literal name.
    pub fn literal_named(out: &mut Vec<u8>, name: &str, value: &str) {
        out.push(0);
        encode_str(out, name.as_bytes());
        encode_str(out, value.as_bytes());
    }

    pub type Field = (Vec<u8>, Vec<u8>);

    /// A connection's header decoder: its dynamic table lives across header blocks.
    pub struct Decoder {
        table: VecDeque<Field>,
        size: usize,
        max: usize,
        /// The most the peer may set `max` to (our SETTINGS_HEADER_TABLE_SIZE).
        limit: usize,
    }

    struct Cursor<'a> {
        data: &'a [u8],
        at: usize,
    }

    impl Cursor<'_> {
        fn byte(&mut self) -> Result<u8, String> {
            let b = *self.data.get(self.at).ok_or("truncated header block")?;
            self.at += 1;
            Ok(b)
        }

        fn int(&mut self, prefix: u32) -> Result<usize, String> {
            let max = (1usize << prefix) - 1;
            let mut value = (self.byte()? as usize) & max;
            if value < max {
                return Ok(value);
            }
            let mut shift = 0u32;
            loop {
                let b = self.byte()?;
                value = value
                    .checked_add(((b & 0x7f) as usize) << shift)
                    .ok_or("header integer overflow")?;
                if b & 0x80 == 0 {
                    return Ok(value);
                }
                shift += 7;
                if shift > 28 {
                    return Err("header integer overflow".into());
                }
            }
        }

        fn string(&mut self) -> Result<Vec<u8>, String> {
            let huffman = self.data.get(self.at).ok_or("truncated header block")? & 0x80 != 0;
            let len = self.int(7)?;
            let end = self.at.checked_add(len).ok_or("truncated header block")?;
            let raw = self
                .data
                .get(self.at..end)
                .ok_or("truncated header block")?;
            self.at = end;
            if huffman {
                huffman_decode(raw)
            } else {
                Ok(raw.to_vec())
            }
        }
    }

    impl Decoder {
        pub fn new(limit: usize) -> Decoder {
            Decoder {
                table: VecDeque::new(),
                size: 0,
                max: limit,
                limit,
            }
        }

        #[cfg(test)]
        pub fn table_size(&self) -> usize {
            self.size
        }

        fn get(&self, index: usize) -> Result<Field, String> {
            match index {
                0 => Err("header index 0".into()),
                1..=61 => {
                    let (n, v) = STATIC[index - 1];
                    Ok((n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                }
                _ => self
                    .table
                    .get(index - 62)
                    .cloned()
                    .ok_or_else(|| format!("header index {index} is not in the table")),
            }
        }

        fn evict(&mut self, room: usize) {
            while self.size + room > self.max {
                let Some((n, v)) = self.table.pop_back() else {
                    break;
                };
                self.size -= n.len() + v.len() + 32;
            }
        }

        fn insert(&mut self, field: Field) {
            let size = field.0.len() + field.1.len() + 32;
            self.evict(size);
            if size <= self.max {
                self.size += size;
                self.table.push_front(field);
            }
        }

        pub fn decode(&mut self, block: &[u8]) -> Result<Vec<Field>, String> {
            let mut c = Cursor { data: block, at: 0 };
            let mut out = Vec::new();
            while c.at < block.len() {
                let first = block[c.at];
                if first & 0x80 != 0 {
                    let index = c.int(7)?;
                    out.push(self.get(index)?);
                } else if first & 0xc0 == 0x40 {
                    let index = c.int(6)?;
                    let name = if index == 0 {
                        c.string()?
                    } else {
                        self.get(index)?.0
                    };
                    let field = (name, c.string()?);
                    self.insert(field.clone());
                    out.push(field);
                } else if first & 0xe0 == 0x20 {
                    let max = c.int(5)?;
                    if max > self.limit {
                        return Err(format!("header table size {max} over the limit"));
                    }
                    self.max = max;
                    self.evict(0);
                } else {
                    // Literal without indexing (0000) or never indexed (0001).
                    let index = c.int(4)?;
                    let name = if index == 0 {
                        c.string()?
                    } else {
                        self.get(index)?.0
                    };
                    out.push((name, c.string()?));
                }
            }
            Ok(out)
        }
    }
}

/// The HTTP/2 path of the health check.
const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// A protobuf varint.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// `HealthCheckRequest{service = 1}` in a gRPC message (the 5-byte prefix: not compressed,
/// big-endian length).
fn health_request_message(service: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(service) = service.filter(|s| !s.is_empty()) {
        body.push(0x0a); // field 1, length-delimited
        put_varint(&mut body, service.len() as u64);
        body.extend_from_slice(service.as_bytes());
    }
    let mut out = vec![0u8];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// `HealthCheckResponse.status` (field 1, an enum); 0 (UNKNOWN) when absent, as proto3 has it.
fn health_response_status(message: &[u8]) -> Result<u64, String> {
    let mut at = 0;
    let mut status = 0;
    while at < message.len() {
        let key = get_varint(message, &mut at).ok_or("malformed health response")?;
        let value_end = match key & 7 {
            0 => {
                let v = get_varint(message, &mut at).ok_or("malformed health response")?;
                if key >> 3 == 1 {
                    status = v;
                }
                continue;
            }
            1 => at + 8,
            2 => {
                let len = get_varint(message, &mut at).ok_or("malformed health response")?;
                at + len as usize
            }
            5 => at + 4,
            _ => return Err("malformed health response".into()),
        };
        if value_end > message.len() {
            return Err("malformed health response".into());
        }
        at = value_end;
    }
    Ok(status)
}

fn serving_status_name(status: u64) -> String {
    match status {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => n.to_string(),
    }
}

fn grpc_code_name(code: &str) -> &str {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    code.parse::<usize>()
        .ok()
        .and_then(|n| NAMES.get(n).copied())
        .unwrap_or(code)
}

/// Everything a health check sends before reading: the connection preface, SETTINGS
/// (no server push), the request's HEADERS and its one DATA frame, which ends the stream.
fn grpc_request(authority: &str, service: Option<&str>, timeout: Duration) -> Vec<u8> {
    let mut out = h2::PREFACE.to_vec();
    let mut settings = h2::ENABLE_PUSH.to_be_bytes().to_vec();
    settings.extend_from_slice(&0u32.to_be_bytes());
    out.extend(h2::frame(h2::SETTINGS, 0, 0, &settings));
    let mut block = Vec::new();
    hpack::indexed(&mut block, hpack::METHOD_POST);
    hpack::indexed(&mut block, hpack::SCHEME_HTTP);
    hpack::literal(&mut block, hpack::PATH, HEALTH_CHECK_PATH);
    hpack::literal(&mut block, hpack::AUTHORITY, authority);
    hpack::literal(&mut block, hpack::CONTENT_TYPE, "application/grpc");
    hpack::literal_named(&mut block, "te", "trailers");
    hpack::literal(&mut block, hpack::USER_AGENT, USER_AGENT);
    let millis = timeout.as_millis().clamp(1, 99_999_999);
    hpack::literal_named(&mut block, "grpc-timeout", &format!("{millis}m"));
    out.extend(h2::frame(h2::HEADERS, h2::END_HEADERS, 1, &block));
    out.extend(h2::frame(
        h2::DATA,
        h2::END_STREAM,
        1,
        &health_request_message(service),
    ));
    out
}

/// The verdict on a finished call: its headers and trailers, and its response body.
fn grpc_verdict(fields: &[hpack::Field], body: &[u8]) -> Outcome {
    let get = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    if let Some(status) = get(":status")
        && status != "200"
    {
        return Outcome::fail(format!("gRPC health check: HTTP status {status}"));
    }
    if let Some(code) = get("grpc-status")
        && code != "0"
    {
        let desc = get("grpc-message").map(|m| percent_decode(&m));
        return Outcome::fail(format!(
            "rpc error: code = {}{}",
            grpc_code_name(&code),
            desc.map(|d| format!(" desc = {d}")).unwrap_or_default()
        ));
    }
    let Some(prefix) = body.get(..5) else {
        return Outcome::fail("gRPC health check: no response message");
    };
    if prefix[0] != 0 {
        return Outcome::fail("gRPC health check: the response is compressed");
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    let Some(message) = body.get(5..5 + len) else {
        return Outcome::fail("gRPC health check: truncated response message");
    };
    match health_response_status(message) {
        Ok(1) => Outcome::pass("SERVING"),
        Ok(status) => Outcome::fail(format!(
            "service unhealthy (responded with \"{}\")",
            serving_status_name(status)
        )),
        Err(e) => Outcome::fail(format!("gRPC health check: {e}")),
    }
}

/// `grpc-message` is percent-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read the server's frames until stream 1 ends; answer SETTINGS and PING on the way.
fn grpc_exchange<S: Read + Write>(
    stream: &mut S,
    request: &[u8],
) -> Result<(Vec<hpack::Field>, Vec<u8>), String> {
    let io = |e: io::Error| describe(&e);
    stream.write_all(request).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut decoder = hpack::Decoder::new(4096);
    let mut fields = Vec::new();
    let mut body = Vec::new();
    // A header block that CONTINUATION frames still add to, and whether it ends the stream.
    let mut block: Option<(Vec<u8>, bool)> = None;
    loop {
        let f = h2::read_frame(stream).map_err(io)?;
        if let Some((pending, _)) = &mut block {
            if f.kind != h2::CONTINUATION || f.stream != 1 {
                return Err("HTTP/2 protocol error: expected CONTINUATION".into());
            }
            pending.extend_from_slice(&f.payload);
        }
        match f.kind {
            h2::SETTINGS if f.flags & h2::ACK == 0 => {
                stream
                    .write_all(&h2::frame(h2::SETTINGS, h2::ACK, 0, &[]))
                    .map_err(io)?;
            }
            h2::PING if f.flags & h2::ACK == 0 => {
                stream
                    .write_all(&h2::frame(h2::PING, h2::ACK, 0, &f.payload))
                    .map_err(io)?;
            }
            h2::GOAWAY => {
                let code = f
                    .payload
                    .get(4..8)
                    .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                return Err(format!("the server closed the connection (GOAWAY {code})"));
            }
            h2::RST_STREAM if f.stream == 1 => {
                let code = f
                    .payload
                    .get(..4)
                    .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                return Err(format!("the server reset the call (RST_STREAM {code})"));
            }
            h2::HEADERS if f.stream == 1 => {
                let content = h2::content(&f)?.to_vec();
                block = Some((content, f.flags & h2::END_STREAM != 0));
            }
            h2::DATA if f.stream == 1 => {
                body.extend_from_slice(h2::content(&f)?);
                if body.len() > MAX_RESPONSE {
                    return Err("the health response is too large".into());
                }
                if f.flags & h2::END_STREAM != 0 {
                    return Ok((fields, body));
                }
            }
            _ => {}
        }
        if matches!(f.kind, h2::HEADERS | h2::CONTINUATION)
            && f.stream == 1
            && f.flags & h2::END_HEADERS != 0
            && let Some((pending, ends)) = block.take()
        {
            fields.extend(decoder.decode(&pending)?);
            if ends {
                return Ok((fields, body));
            }
        }
    }
}

/// The gRPC action: `grpc.health.v1.Health/Check` for `service` (the server's overall health
/// when unset); SERVING passes.
pub fn grpc_check(
    addr: SocketAddr,
    authority: &str,
    service: Option<&str>,
    deadline: Instant,
) -> Outcome {
    let mut stream = match connect(addr, deadline) {
        Ok(stream) => stream,
        Err(e) => return Outcome::fail(format!("gRPC health check: {e}")),
    };
    let timeout = deadline.saturating_duration_since(Instant::now());
    match grpc_exchange(&mut stream, &grpc_request(authority, service, timeout)) {
        Ok((fields, body)) => grpc_verdict(&fields, &body),
        Err(e) => Outcome::fail(format!("gRPC health check {addr}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};
    use std::thread;

    use super::*;

    fn soon(secs: u64) -> Instant {
        Instant::now() + Duration::from_secs(secs)
    }

    fn local(port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn probe(success: u32, failure: u32) -> Probe {
        let mut p = Probe::new(ProbeAction::Tcp {
            host: None,
            port: 1,
        });
        p.success_threshold = success;
        p.failure_threshold = failure;
        p
    }

    #[test]
    fn thresholds_need_runs_of_equal_results() {
        let mut t = Tracker::new(probe(2, 3));
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(true));
        assert_eq!(
            t.record(true),
            Some(true),
            "reported again past the threshold"
        );
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None, "a success breaks the run of failures");
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(false));
        let mut once = Tracker::new(probe(1, 1));
        assert_eq!(once.record(false), Some(false));
        assert_eq!(once.record(true), Some(true));
    }

    /// A one-connection-at-a-time HTTP server answering each request with `status`; sends
    /// each request it read over the channel.
    fn http_server(status: u16, requests: usize) -> (u16, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for _ in 0..requests {
                let (mut s, _) = listener.accept().unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                while find(&got, b"\r\n\r\n").is_none() {
                    let n = s.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
                let _ = s.write_all(
                    format!("HTTP/1.1 {status} Whatever\r\nContent-Length: 5\r\n\r\nhello")
                        .as_bytes(),
                );
            }
        });
        (port, rx)
    }

    fn get(port: u16, headers: &[(String, String)]) -> Outcome {
        http_get(
            local(port),
            &authority("127.0.0.1", port),
            "127.0.0.1",
            "healthz?x=1",
            "http",
            headers,
            soon(5),
        )
    }

    #[test]
    fn http_passes_on_2xx_and_3xx_and_fails_otherwise() {
        for (status, passes) in [
            (200, true),
            (204, true),
            (302, true),
            (404, false),
            (500, false),
        ] {
            let (port, _requests) = http_server(status, 1);
            let outcome = get(port, &[]);
            assert_eq!(outcome.passed, passes, "{status}: {outcome:?}");
            assert_eq!(outcome.message, format!("HTTP {status}"));
        }
    }

    #[test]
    fn http_sends_the_path_and_headers_the_kubelet_sends() {
        let (port, requests) = http_server(200, 2);
        assert!(get(port, &[]).passed);
        let request = requests.recv().unwrap();
        assert!(
            request.starts_with("GET /healthz?x=1 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
            "{request}"
        );
        assert!(request.contains("User-Agent: kube-probe/"), "{request}");
        assert!(request.contains("Connection: close\r\n"), "{request}");
        let custom = [
            ("Host".to_string(), "example.test".to_string()),
            ("X-Probe".to_string(), "yes".to_string()),
        ];
        assert!(get(port, &custom).passed);
        let request = requests.recv().unwrap();
        assert!(request.contains("Host: example.test\r\n"), "{request}");
        assert!(!request.contains("Host: 127.0.0.1"), "{request}");
        assert!(request.contains("X-Probe: yes\r\n"), "{request}");
    }

    #[test]
    fn http_fails_on_refusal_garbage_and_silence_within_the_timeout() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = get(port, &[]);
        assert!(!refused.passed);
        assert!(
            refused.message.contains("connection refused"),
            "{refused:?}"
        );

        let garbage = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = garbage.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut s, _) = garbage.accept().unwrap();
            let _ = s.write_all(b"SSH-2.0-nope\r\n");
        });
        let outcome = get(port, &[]);
        assert!(!outcome.passed);
        assert!(outcome.message.contains("malformed"), "{outcome:?}");

        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let started = Instant::now();
        let outcome = http_get(
            local(port),
            "x",
            "x",
            "/",
            "http",
            &[],
            Instant::now() + Duration::from_millis(300),
        );
        assert!(!outcome.passed);
        assert!(outcome.message.contains("timed out"), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(silent);
    }

    #[test]
    fn http_reads_a_chunked_or_unsized_body_to_its_end() {
        for response in [
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            "HTTP/1.0 301 Moved\r\nLocation: /x\r\n\r\nmoved",
            "HTTP/1.1 200\nContent-Length: 2\n\nok",
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(response.as_bytes());
                // The chunked answer keeps the connection open: the client must stop at
                // the last chunk.
                if response.contains("chunked") {
                    thread::sleep(Duration::from_secs(3));
                }
            });
            let started = Instant::now();
            let outcome = get(port, &[]);
            assert!(outcome.passed, "{outcome:?}");
            if response.contains("chunked") {
                assert!(started.elapsed() < Duration::from_secs(2));
            }
        }
    }

    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBgjCCASegAwIBAgIUTIablLD+p5W8o7l76SUZwWf1VUMwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKcHJvYmUtdGVzdDAgFw0yNjExMjgxNjU1MDRaGA8yMTI2MTEw
NDE2NTUwNFowFTETMBEGA1UEAwwKcHJvYmUtdGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABLQ4vjG0MPRYbLy1hzkTDXTaeu0VVW9wWmRxvFBMi1sfl1GWDDnf
Au0xEHwXdsjUOgBKkI3S86jDQRA4XMrWP/OjUzBRMB0GA1UdDgQWBBQaklJr2cjS
9B55+1Pcl8uOIXQmSzAfBgNVHSMEGDAWgBQaklJr2cjS9B55+1Pcl8uOIXQmSzAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQDynb3LwLBh+qG9m0ZJ
XaQTXsi9GTpROfY5YMHCdMKAqwIhAPLwQ9X/hFVIQDd5v5lTrMF+oFF2uoTo42aw
trdvm/PB
-----END CERTIFICATE-----
";

    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqzkRw10tfczaP8yN
mHQ6OYtFAtjdQyFDrqpVVBN1D6ahRANCAAS0OL4xtDD0WGy8tYc5Ew102nrtFVVv
cFpkcbxQTItbH5dRlgw53wLtMRB8F3bI1DoASpCN0vOow0EQOFzK1j/z
-----END PRIVATE KEY-----
";

    #[test]
    fn https_does_not_check_the_certificate() {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, s);
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while find(&got, b"\r\n\r\n").is_none() {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tls.write_all(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        });
        let outcome = http_get(
            local(port),
            &authority("localhost", port),
            "localhost",
            "/",
            "https",
            &[],
            soon(5),
        );
        assert_eq!(outcome, Outcome::fail("HTTP 503"));
        let outcome = http_get(local(1), "x", "x", "/", "gopher", &[], soon(1));
        assert!(
            outcome.message.contains("unsupported scheme"),
            "{outcome:?}"
        );
    }

    #[test]
    fn tcp_passes_when_the_port_accepts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(tcp_connect(local(port), soon(2)).passed);
        drop(listener);
        let outcome = tcp_connect(local(port), soon(2));
        assert!(!outcome.passed);
        assert!(outcome.message.starts_with("TCP 127.0.0.1:"), "{outcome:?}");
    }

    #[test]
    fn net_probes_run_on_a_thread_in_a_namespace_and_time_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let own = std::fs::File::open("/proc/self/ns/net")
            .map(OwnedFd::from)
            .ok();
        let pod_ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let tcp = ProbeAction::Tcp { host: None, port };
        let running = NetProbe::spawn(own, tcp.clone(), pod_ip, Duration::from_secs(2)).unwrap();
        // The pipe turns readable when the thread is done.
        let mut fds = [nix::poll::PollFd::new(
            running.fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(2000u16)).unwrap();
        let outcome = running.outcome(Instant::now()).expect("done once readable");
        assert!(outcome.passed, "{outcome:?}");

        // A server that never answers: the outcome is a timeout at the deadline.
        let http = ProbeAction::Http {
            host: Some("127.0.0.1".into()),
            port,
            path: "/".into(),
            scheme: "http".into(),
            headers: Vec::new(),
        };
        let running = NetProbe::spawn(None, http, pod_ip, Duration::from_millis(200)).unwrap();
        assert_eq!(running.outcome(Instant::now()), None);
        let outcome = running.wait();
        assert!(!outcome.passed);
        assert!(outcome.message.contains("timed out"), "{outcome:?}");
        drop(listener);
    }

    #[test]
    fn huffman_matches_rfc_7541() {
        // C.4.1
        assert_eq!(
            hpack::huffman_encode(b"www.example.com"),
            hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")
        );
        assert_eq!(
            hpack::huffman_decode(&hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")).unwrap(),
            b"www.example.com"
        );
        // C.4.2
        assert_eq!(hpack::huffman_encode(b"no-cache"), hex("a8eb 1064 9cbf"));
        for s in [
            &b"custom-value"[..],
            b"grpc-status",
            b"\x00\xff\x7f odd bytes",
        ] {
            assert_eq!(hpack::huffman_decode(&hpack::huffman_encode(s)).unwrap(), s);
        }
        assert!(hpack::huffman_decode(&[0x00]).is_err(), "bad padding");
    }

    #[test]
    fn hpack_decodes_rfc_7541_responses_with_eviction() {
        let field = |n: &str, v: &str| (n.as_bytes().to_vec(), v.as_bytes().to_vec());
        let mut d = hpack::Decoder::new(4096);
        // A dynamic table size update to 256 first, as C.6 assumes.
        let mut first = Vec::new();
        hpack::encode_int(&mut first, 0x20, 5, 256);
        first.extend(hex(
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        ));
        let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
        let location = "https://www.example.com";
        assert_eq!(
            d.decode(&first).unwrap(),
            [
                field(":status", "302"),
                field("cache-control", "private"),
                field("date", date1),
                field("location", location),
            ]
        );
        assert_eq!(d.table_size(), 222);
        assert_eq!(
            d.decode(&hex("4883 640e ffc1 c0bf")).unwrap(),
            [
                field(":status", "307"),
                field("cache-control", "private"),
                field("date", date1),
                field("location", location),
            ]
        );
        assert_eq!(d.table_size(), 222);
        let third = d
            .decode(&hex(
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ))
            .unwrap();
        assert_eq!(
            third,
            [
                field(":status", "200"),
                field("cache-control", "private"),
                field("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                field("location", location),
                field("content-encoding", "gzip"),
                field(
                    "set-cookie",
                    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
                ),
            ]
        );
        assert_eq!(d.table_size(), 215);
        assert!(
            d.decode(&[0x80 | 0x7f, 0x10]).is_err(),
            "an index past the table"
        );
    }

    #[test]
    fn the_grpc_request_is_what_a_health_client_sends() {
        let bytes = grpc_request("10.88.0.5:9000", Some("web"), Duration::from_secs(1));
        assert!(bytes.starts_with(h2::PREFACE));
        let mut r = &bytes[h2::PREFACE.len()..];
        let settings = h2::read_frame(&mut r).unwrap();
        assert_eq!(
            (settings.kind, settings.flags, settings.stream),
            (h2::SETTINGS, 0, 0)
        );
        assert_eq!(settings.payload, [0, 2, 0, 0, 0, 0], "ENABLE_PUSH = 0");
        let headers = h2::read_frame(&mut r).unwrap();
        assert_eq!(
            (headers.kind, headers.flags, headers.stream),
            (h2::HEADERS, h2::END_HEADERS, 1)
        );
        let fields = hpack::Decoder::new(4096).decode(&headers.payload).unwrap();
        let text: Vec<(String, String)> = fields
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8(n.clone()).unwrap(),
                    String::from_utf8(v.clone()).unwrap(),
                )
            })
            .collect();
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            text[..6],
            [
                pair(":method", "POST"),
                pair(":scheme", "http"),
                pair(":path", "/grpc.health.v1.Health/Check"),
                pair(":authority", "10.88.0.5:9000"),
                pair("content-type", "application/grpc"),
                pair("te", "trailers"),
            ]
        );
        assert!(text.contains(&pair("grpc-timeout", "1000m")), "{text:?}");
        let data = h2::read_frame(&mut r).unwrap();
        assert_eq!(
            (data.kind, data.flags, data.stream),
            (h2::DATA, h2::END_STREAM, 1)
        );
        // Not compressed, 5 bytes: field 1 (string) "web".
        assert_eq!(data.payload, [0, 0, 0, 0, 5, 0x0a, 3, b'w', b'e', b'b']);
        assert!(r.is_empty());
        assert_eq!(health_request_message(None), [0, 0, 0, 0, 0]);
    }

    /// What a test gRPC server answers.
    #[derive(Clone, Copy)]
    enum Answer {
        Status(u8),
        /// A trailers-only response with this grpc-status.
        Error(u8),
    }

    /// A minimal HTTP/2 health server: reads the preface and the call (checking it asks for
    /// `service`), answers with Huffman-coded, dynamically indexed headers as real servers do.
    fn grpc_server(answer: Answer, service: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut preface = [0u8; 24];
            s.read_exact(&mut preface).unwrap();
            assert_eq!(&preface[..], h2::PREFACE);
            let mut decoder = hpack::Decoder::new(4096);
            // The server's SETTINGS and a PING come first; the client must answer both.
            s.write_all(&h2::frame(h2::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]))
                .unwrap();
            s.write_all(&h2::frame(h2::PING, 0, 0, b"12345678"))
                .unwrap();
            let (mut acked, mut ponged, mut request_done) = (false, false, false);
            while !(acked && ponged && request_done) {
                let f = h2::read_frame(&mut s).unwrap();
                match f.kind {
                    h2::SETTINGS if f.flags & h2::ACK != 0 => acked = true,
                    h2::SETTINGS => s
                        .write_all(&h2::frame(h2::SETTINGS, h2::ACK, 0, &[]))
                        .unwrap(),
                    h2::PING => {
                        assert_eq!(f.flags, h2::ACK);
                        assert_eq!(f.payload, b"12345678");
                        ponged = true;
                    }
                    h2::HEADERS => {
                        let fields = decoder.decode(&f.payload).unwrap();
                        assert!(fields.contains(&(
                            b":path".to_vec(),
                            b"/grpc.health.v1.Health/Check".to_vec()
                        )));
                    }
                    h2::DATA => {
                        assert_eq!(f.payload[5..], health_request_message(Some(service))[5..]);
                        request_done = f.flags & h2::END_STREAM != 0;
                    }
                    _ => {}
                }
            }
            let huff = |out: &mut Vec<u8>, s: &str| {
                let coded = hpack::huffman_encode(s.as_bytes());
                hpack::encode_int(out, 0x80, 7, coded.len());
                out.extend(coded);
            };
            // :status 200, then content-type added to the dynamic table (index 62).
            let mut head = vec![0x88];
            hpack::encode_int(&mut head, 0x40, 6, 31);
            huff(&mut head, "application/grpc");
            let trailers = |code: u8| {
                let mut t = Vec::new();
                t.push(0x40);
                huff(&mut t, "grpc-status");
                huff(&mut t, &code.to_string());
                if code != 0 {
                    t.push(0x00);
                    huff(&mut t, "grpc-message");
                    huff(&mut t, "unknown%20service");
                }
                t
            };
            match answer {
                Answer::Status(status) => {
                    s.write_all(&h2::frame(h2::HEADERS, h2::END_HEADERS, 1, &head))
                        .unwrap();
                    // A padded DATA frame.
                    let mut data = vec![3u8, 0, 0, 0, 0, 2, 0x08, status];
                    data.extend([0, 0, 0]);
                    s.write_all(&h2::frame(h2::DATA, h2::PADDED, 1, &data))
                        .unwrap();
                    // Trailers that refer to the dynamic entry, split over a CONTINUATION.
                    let mut t = vec![0xbe]; // index 62: content-type: application/grpc
                    t.extend(trailers(0));
                    let (a, b) = t.split_at(3);
                    s.write_all(&h2::frame(h2::HEADERS, h2::END_STREAM, 1, a))
                        .unwrap();
                    s.write_all(&h2::frame(h2::CONTINUATION, h2::END_HEADERS, 1, b))
                        .unwrap();
                }
                Answer::Error(code) => {
                    head.extend(trailers(code));
                    s.write_all(&h2::frame(
                        h2::HEADERS,
                        h2::END_HEADERS | h2::END_STREAM,
                        1,
                        &head,
                    ))
                    .unwrap();
                }
            }
            // Linger until the client hangs up.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        });
        port
    }

    fn check(port: u16, service: Option<&str>) -> Outcome {
        grpc_check(local(port), &authority("127.0.0.1", port), service, soon(5))
    }

    #[test]
    fn grpc_passes_on_serving_only() {
        let port = grpc_server(Answer::Status(1), "");
        assert_eq!(check(port, None), Outcome::pass("SERVING"));
        let port = grpc_server(Answer::Status(2), "db");
        assert_eq!(
            check(port, Some("db")),
            Outcome::fail("service unhealthy (responded with \"NOT_SERVING\")")
        );
        let port = grpc_server(Answer::Error(5), "nope");
        assert_eq!(
            check(port, Some("nope")),
            Outcome::fail("rpc error: code = NotFound desc = unknown service")
        );
    }

    #[test]
    fn grpc_fails_on_a_server_that_does_not_speak_http2() {
        let (port, _requests) = http_server(200, 1);
        let outcome = check(port, None);
        assert!(!outcome.passed, "{outcome:?}");
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let outcome = check(port, None);
        assert!(
            outcome.message.contains("connection refused"),
            "{outcome:?}"
        );
    }

    #[test]
    fn responses_decode() {
        assert_eq!(health_response_status(&[0x08, 0x01]), Ok(1));
        assert_eq!(health_response_status(&[]), Ok(0));
        // An unknown string field before the status.
        assert_eq!(
            health_response_status(&[0x12, 0x02, b'h', b'i', 0x08, 0x02]),
            Ok(2)
        );
        assert!(health_response_status(&[0x12, 0x09]).is_err());
        assert_eq!(percent_decode("a%20b%zz"), "a b%zz");
        assert_eq!(grpc_code_name("12"), "Unimplemented");
        assert_eq!(authority("::1", 80), "[::1]:80");
        assert_eq!(
            address(Some("[::1]"), IpAddr::V4(Ipv4Addr::LOCALHOST), 80).unwrap(),
            "[::1]:80".parse().unwrap()
        );
    }
}
