//! The load-balancing proxy behind a Service: `oxpod service-proxy` listens on the Service's
//! virtual IP (on the network's bridge, so sandboxes reach it) and on its node ports, and
//! spreads connections round robin over the endpoints the engine lists in a JSON file.
//!
//! The engine owns the file and rewrites it whole (temp file + rename, [`write_endpoints`]) as
//! pods come, go and pass or fail their readiness probes; the proxy notices by stat, at most
//! every 100 ms and only when traffic arrives, so an idle proxy does nothing at all. A missing
//! file, or an id missing from it, means no endpoints: new TCP clients are closed and UDP
//! datagrams dropped. Connections already relayed stay up when their endpoint leaves the list
//! (as in Kubernetes); UDP flows to it are dropped, so the client's next datagram goes to an
//! endpoint that is still listed.
//!
//! Like the port proxy it runs on one thread and sees the client only as a peer: endpoints see
//! connections from the host (the bridge's gateway address), not from the client.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::io::{Interest, copy_bidirectional_with_sizes};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::ports::{Protocol, bind_error};

/// One socket the proxy listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceListener {
    /// Which endpoint list it forwards to (the Service port's name or number as text).
    pub id: String,
    /// Where it listens on the host: the Service's virtual IP and port, or 0.0.0.0/127.0.0.1
    /// and a node port.
    pub addr: SocketAddr,
    pub protocol: Protocol,
}

/// The endpoints file the engine rewrites atomically (write temp + rename) as pods come, go and
/// become ready: JSON `{"<listener id>": ["10.88.0.5:8080", "10.88.0.6:8080"], ...}`. A missing
/// file or id means no endpoints.
pub type Endpoints = BTreeMap<String, Vec<SocketAddr>>;

/// Per direction of a TCP connection, as in the port proxy.
const TCP_BUF: usize = 128 * 1024;
/// Largest UDP payload.
const UDP_BUF: usize = 64 * 1024;
/// An endpoint that has not accepted a connection by then is skipped for the next one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The endpoints file is looked at (stat) at most this often.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// An endpoint that refused or timed out goes to the back of the line for this long, so a
/// dead endpoint does not cost every Nth client a refused attempt or a second of waiting
/// until the engine takes it out of the file.
const FAILED_HOLD: Duration = Duration::from_secs(5);
/// A file modified less than this long before it was read is read again at the next check:
/// its inode, size and timestamps might all repeat in a later rewrite (inode reuse within one
/// timestamp tick), which stat alone would miss.
const RACY: Duration = Duration::from_secs(1);
/// A UDP flow ends after this long without a datagram in either direction.
const UDP_IDLE: Duration = if cfg!(test) {
    Duration::from_millis(600)
} else {
    Duration::from_secs(60)
};
const UDP_SWEEP: Duration = if cfg!(test) {
    Duration::from_millis(150)
} else {
    Duration::from_secs(10)
};
/// Bounds memory (one socket each) when many clients send one datagram and vanish.
const UDP_MAX_FLOWS: usize = 4096;

/// Write `endpoints` to `path` atomically: a temporary file in the same directory, renamed
/// over `path`, so the proxy reads either the old or the new list, never part of one. No
/// fsync: the file is runtime state the engine rewrites after a crash. Concurrent writers do
/// not corrupt the file, but the last rename wins, so the caller serializes its updates.
pub fn write_endpoints(path: &Path, endpoints: &Endpoints) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let annotate = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("writing endpoints file {}: {e}", path.display()),
        )
    };
    let name = path.file_name().ok_or_else(|| {
        annotate(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut data = serde_json::to_vec(endpoints).map_err(io::Error::from)?;
    data.push(b'\n');
    let written = (|| {
        // Unique to this process; truncate rather than create_new, in case a crashed process
        // with the same pid left one behind.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(&data)?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(annotate)
}

/// Read an endpoints file; a missing file is an empty list.
pub fn read_endpoints(path: &Path) -> io::Result<Endpoints> {
    read_stamped(path).map(|(_, e)| e)
}

/// Bind every listener (all before answering), write "ok\n" (or "error <line>\n" and return
/// Err) to `ready` and close it, then serve until SIGTERM or SIGINT. Run it in the network
/// namespace that holds the bridge, after [`super::bridge::add_vip`]: binding a virtual IP
/// that is not on any interface fails ("Cannot assign requested address").
pub fn run(listeners: &[ServiceListener], endpoints_file: &Path, ready: OwnedFd) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    serve_until(listeners, endpoints_file, ready, || {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    })
}

/// [`run`] with the stop condition given: `shutdown` is called inside the runtime before "ok" is
/// written (so a signal right after "ok" is already caught), and serving ends when its future does.
pub(crate) fn serve_until<F, S>(
    listeners: &[ServiceListener],
    endpoints_file: &Path,
    ready: OwnedFd,
    shutdown: F,
) -> io::Result<()>
where
    F: FnOnce() -> io::Result<S>,
    S: Future<Output = ()>,
{
    let mut ready = File::from(ready);
    let setup: io::Result<(tokio::runtime::Runtime, S)> = (|| {
        let sockets = bind_all(listeners)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let table = Arc::new(Mutex::new(Table::new(endpoints_file)));
        // Read once now, so that a bad file is reported at start and not on the first client.
        lock(&table).refresh(Instant::now());
        let stop = {
            let _guard = rt.enter();
            for (socket, l) in sockets.into_iter().zip(listeners) {
                let id: Arc<str> = Arc::from(l.id.as_str());
                match socket {
                    Bound::Tcp(s) => {
                        s.set_nonblocking(true)?;
                        rt.spawn(serve_tcp(TcpListener::from_std(s)?, id, table.clone()));
                    }
                    Bound::Udp(s) => {
                        s.set_nonblocking(true)?;
                        rt.spawn(serve_udp(UdpSocket::from_std(s)?, id, table.clone()));
                    }
                }
            }
            shutdown()?
        };
        Ok((rt, stop))
    })();
    let (rt, stop) = match setup {
        Ok(v) => v,
        Err(e) => {
            let line = e.to_string().replace('\n', " ");
            // The reader may be gone; the error is returned either way.
            let _ = ready.write_all(format!("error {line}\n").as_bytes());
            return Err(e);
        }
    };
    // A vanished reader must not stop a proxy that is otherwise ready.
    let _ = ready.write_all(b"ok\n");
    drop(ready);
    crate::sys::memory::release_startup_pages();
    rt.block_on(stop);
    // Dropping the runtime cancels every task and closes every socket.
    drop(rt);
    Ok(())
}

enum Bound {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

/// One socket per listener, in order.
fn bind_all(listeners: &[ServiceListener]) -> io::Result<Vec<Bound>> {
    listeners
        .iter()
        .map(|l| {
            let (ip, port) = (l.addr.ip(), l.addr.port());
            if port == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("listener {:?} on {ip} has no port", l.id),
                ));
            }
            let fail =
                |e: io::Error| io::Error::new(e.kind(), bind_error(l.protocol, ip, port, &e));
            // std sets SO_REUSEADDR on TCP listeners, so a restarted proxy can bind at once.
            Ok(match l.protocol {
                Protocol::Tcp => Bound::Tcp(std::net::TcpListener::bind(l.addr).map_err(fail)?),
                Protocol::Udp => Bound::Udp(std::net::UdpSocket::bind(l.addr).map_err(fail)?),
            })
        })
        .collect()
}

/// What stat says about the endpoints file; any change means a rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Modified so recently that a later rewrite could look the same to stat.
    fn is_racy(&self) -> bool {
        let (secs, nanos) = self.mtime;
        let mtime = if secs >= 0 {
            SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos.clamp(0, 999_999_999) as u32)
        } else {
            SystemTime::UNIX_EPOCH
        };
        // A modification time in the future (clock stepped back) counts as recent.
        SystemTime::now()
            .duration_since(mtime)
            .map_or(true, |age| age < RACY)
    }
}

/// The file's stamp (None when missing) and its endpoints (empty when missing).
fn read_stamped(path: &Path) -> io::Result<(Option<Stamp>, Endpoints)> {
    let annotate = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("reading endpoints file {}: {e}", path.display()),
        )
    };
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, Endpoints::new())),
        Err(e) => return Err(annotate(e)),
    };
    // The stamp of what is read: the path may be renamed over right after the open.
    let stamp = Stamp::of(&f.metadata().map_err(annotate)?);
    let mut data = Vec::with_capacity(stamp.size as usize + 1);
    f.read_to_end(&mut data).map_err(annotate)?;
    let endpoints = serde_json::from_slice(&data).map_err(|e| annotate(io::Error::from(e)))?;
    Ok((Some(stamp), endpoints))
}

/// The endpoint lists with their round-robin positions, shared by every listener of the
/// process (listeners with the same id share one rotation).
struct Table {
    path: PathBuf,
    /// When the file was last looked at.
    checked: Option<Instant>,
    /// The file as last read; None when it was missing.
    stamp: Option<Stamp>,
    /// Read again at the next check even if the stamp is unchanged.
    racy: bool,
    endpoints: Endpoints,
    /// Bumped whenever `endpoints` changes.
    generation: u64,
    /// The next turn of each id.
    turns: HashMap<String, usize>,
    /// Endpoints that lately refused or did not answer, and when.
    failed: HashMap<SocketAddr, Instant>,
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // Nothing panics while holding it; if something did, the table is still usable.
    table.lock().unwrap_or_else(|e| e.into_inner())
}

impl Table {
    fn new(path: &Path) -> Table {
        Table {
            path: path.to_path_buf(),
            checked: None,
            stamp: None,
            racy: false,
            endpoints: Endpoints::new(),
            generation: 0,
            turns: HashMap::new(),
            failed: HashMap::new(),
        }
    }

    /// Re-read the file when it changed, looking at most every [`CHECK_EVERY`].
    fn refresh(&mut self, now: Instant) {
        if self
            .checked
            .is_some_and(|t| now.saturating_duration_since(t) < CHECK_EVERY)
        {
            return;
        }
        self.checked = Some(now);
        let stamp = fs::metadata(&self.path).ok().map(|m| Stamp::of(&m));
        if stamp == self.stamp && !self.racy {
            return;
        }
        match read_stamped(&self.path) {
            Ok((stamp, endpoints)) => {
                self.stamp = stamp;
                self.racy = stamp.is_some_and(|s| s.is_racy());
                if endpoints != self.endpoints {
                    self.endpoints = endpoints;
                    self.generation += 1;
                }
            }
            Err(e) => {
                // Keep serving the last good list; try again once the file changes.
                tracing::warn!("service proxy: {e}; keeping the previous endpoints");
                self.stamp = stamp;
                self.racy = false;
            }
        }
    }

    /// The endpoints to try for one new client of `id`, in order: those not failed lately,
    /// starting at this client's turn, then the failed ones. Empty when there are none.
    fn pick(&mut self, id: &str, now: Instant) -> Vec<SocketAddr> {
        self.refresh(now);
        let Some(list) = self.endpoints.get(id).filter(|l| !l.is_empty()) else {
            return Vec::new();
        };
        let turn = match self.turns.get_mut(id) {
            Some(t) => {
                let this = *t;
                *t = t.wrapping_add(1);
                this
            }
            None => {
                self.turns.insert(id.to_owned(), 1);
                0
            }
        };
        let failed = &self.failed;
        let (mut order, mut down): (Vec<SocketAddr>, Vec<SocketAddr>) =
            list.iter().partition(|a| {
                failed
                    .get(a)
                    .is_none_or(|&t| now.saturating_duration_since(t) >= FAILED_HOLD)
            });
        if !order.is_empty() {
            let n = turn % order.len();
            order.rotate_left(n);
        }
        if !down.is_empty() {
            let n = turn % down.len();
            down.rotate_left(n);
        }
        order.append(&mut down);
        order
    }

    fn mark_failed(&mut self, addr: SocketAddr, now: Instant) {
        self.failed
            .retain(|_, &mut t| now.saturating_duration_since(t) < FAILED_HOLD);
        self.failed.insert(addr, now);
    }

    fn mark_ok(&mut self, addr: SocketAddr) {
        if !self.failed.is_empty() {
            self.failed.remove(&addr);
        }
    }

    fn lists(&self, id: &str, addr: SocketAddr) -> bool {
        self.endpoints.get(id).is_some_and(|l| l.contains(&addr))
    }
}

type Shared = Arc<Mutex<Table>>;

async fn serve_tcp(listener: TcpListener, id: Arc<str>, table: Shared) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(relay_tcp(client, id.clone(), table.clone()));
            }
            Err(e) => {
                tracing::warn!("service proxy: accept for {id}: {e}");
                // Out of descriptors or memory: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The first endpoint of this client's turn that accepts a connection within
/// [`CONNECT_TIMEOUT`], each tried once.
async fn connect_endpoint(id: &str, table: &Shared) -> Option<TcpStream> {
    let candidates = lock(table).pick(id, Instant::now());
    if candidates.is_empty() {
        tracing::debug!("service proxy: no endpoints for {id}");
    }
    for addr in candidates {
        let err = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                lock(table).mark_ok(addr);
                return Some(s);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
        };
        tracing::debug!("service proxy: endpoint {addr} of {id}: {err}");
        lock(table).mark_failed(addr, Instant::now());
    }
    None
}

/// One connection: connect to an endpoint, then copy both ways; copy_bidirectional shuts down
/// each write half when its read half ends, so half-close passes through.
async fn relay_tcp(mut client: TcpStream, id: Arc<str>, table: Shared) {
    let _ = client.set_nodelay(true);
    // Dropping the client closes it when no endpoint takes the connection.
    let Some(mut server) = connect_endpoint(&id, &table).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    if let Err(e) = copy_bidirectional_with_sizes(&mut client, &mut server, TCP_BUF, TCP_BUF).await
    {
        tracing::debug!("service proxy: relay for {id}: {e}");
    }
}

/// A client address's private socket connected to its endpoint, so replies find their way
/// back and the client keeps talking to the same endpoint.
struct Flow {
    sock: Arc<UdpSocket>,
    endpoint: SocketAddr,
    /// Milliseconds since the listener's epoch of the last datagram either way.
    last: Arc<AtomicU64>,
    replies: JoinHandle<()>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.replies.abort();
    }
}

thread_local! {
    /// Reply buffer shared by every flow: the runtime has one thread and no flow holds it across
    /// an await, so flows cost a socket each, not 64 KiB each.
    static REPLY_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; UDP_BUF]);
}

async fn serve_udp(host: UdpSocket, id: Arc<str>, table: Shared) {
    let host = Arc::new(host);
    let epoch = Instant::now();
    let now_ms = move || epoch.elapsed().as_millis() as u64;
    let idle_ms = UDP_IDLE.as_millis() as u64;
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut generation = lock(&table).generation;
    let mut buf = vec![0u8; UDP_BUF];
    let mut sweep = tokio::time::interval(UDP_SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (n, peer) = tokio::select! {
            r = host.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!("service proxy: udp receive for {id}: {e}");
                    continue;
                }
            },
            _ = sweep.tick() => {
                let now = now_ms();
                flows.retain(|_, f| {
                    !f.replies.is_finished()
                        && now.saturating_sub(f.last.load(Ordering::Relaxed)) < idle_ms
                });
                continue;
            }
        };
        {
            let mut t = lock(&table);
            t.refresh(Instant::now());
            if t.generation != generation {
                // Flows to endpoints that left the list end; their clients get new ones.
                generation = t.generation;
                flows.retain(|_, f| t.lists(&id, f.endpoint));
            }
        }
        let now = now_ms();
        // A second try when the flow's endpoint turns out to refuse, with a new flow.
        for _ in 0..2 {
            let alive = flows.get(&peer).is_some_and(|f| !f.replies.is_finished());
            if !alive {
                if flows.len() >= UDP_MAX_FLOWS {
                    let oldest = flows
                        .iter()
                        .min_by_key(|(_, f)| f.last.load(Ordering::Relaxed))
                        .map(|(a, _)| *a);
                    if let Some(a) = oldest {
                        flows.remove(&a);
                    }
                }
                match open_flow(&host, peer, &id, &table, now, now_ms).await {
                    Some(f) => {
                        flows.insert(peer, f);
                    }
                    // No endpoints: the datagram is dropped, as a network without a route
                    // would.
                    None => break,
                }
            }
            let Some(flow) = flows.get(&peer) else {
                break;
            };
            flow.last.store(now, Ordering::Relaxed);
            match flow.sock.send(&buf[..n]).await {
                // An ICMP error from an earlier datagram, reported here unless the reply task
                // took it first (which ends the flow just the same).
                Err(e) if is_unreachable(&e) => {
                    tracing::debug!("service proxy: udp endpoint {} of {id}: {e}", flow.endpoint);
                    lock(&table).mark_failed(flow.endpoint, Instant::now());
                    flows.remove(&peer);
                }
                // Anything else (a full buffer): dropped, as UDP may.
                _ => break,
            }
        }
    }
}

/// The errors an ICMP message leaves on a connected UDP socket.
fn is_unreachable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// A socket connected to the first endpoint of this client's turn that a socket can be
/// connected to (UDP cannot tell more before sending).
async fn open_flow(
    host: &Arc<UdpSocket>,
    peer: SocketAddr,
    id: &str,
    table: &Shared,
    now: u64,
    now_ms: impl Fn() -> u64 + Send + 'static,
) -> Option<Flow> {
    let candidates = lock(table).pick(id, Instant::now());
    for endpoint in candidates {
        let local = match endpoint {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let sock = match UdpSocket::bind(local).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("service proxy: udp socket for {id}: {e}");
                return None;
            }
        };
        if let Err(e) = sock.connect(endpoint).await {
            tracing::debug!("service proxy: udp endpoint {endpoint} of {id}: {e}");
            lock(table).mark_failed(endpoint, Instant::now());
            continue;
        }
        let sock = Arc::new(sock);
        let last = Arc::new(AtomicU64::new(now));
        let replies = tokio::spawn(relay_replies(
            sock.clone(),
            host.clone(),
            peer,
            endpoint,
            table.clone(),
            last.clone(),
            now_ms,
        ));
        return Some(Flow {
            sock,
            endpoint,
            last,
            replies,
        });
    }
    None
}

/// Send each datagram the endpoint answers back to the client from the listening socket.
/// Ends, and so ends the flow, when the socket reports an error: an ICMP port or host
/// unreachable from the endpoint.
async fn relay_replies(
    sock: Arc<UdpSocket>,
    host: Arc<UdpSocket>,
    peer: SocketAddr,
    endpoint: SocketAddr,
    table: Shared,
    last: Arc<AtomicU64>,
    now_ms: impl Fn() -> u64,
) {
    loop {
        // An ICMP error makes the socket report EPOLLERR without EPOLLIN, so readable() alone
        // would never see it.
        let ready = match sock.ready(Interest::READABLE | Interest::ERROR).await {
            Ok(r) => r,
            Err(_) => return,
        };
        if ready.is_error() {
            // SO_ERROR both reads and clears it.
            let e = sock.take_error().ok().flatten();
            tracing::debug!("service proxy: udp endpoint {endpoint}: {e:?}");
            if e.as_ref().is_some_and(is_unreachable) {
                lock(&table).mark_failed(endpoint, Instant::now());
            }
            return;
        }
        let failed = REPLY_BUF.with_borrow_mut(|buf| {
            loop {
                match sock.try_recv(buf) {
                    Ok(n) => {
                        last.store(now_ms(), Ordering::Relaxed);
                        // A full send buffer drops the datagram, as the network would.
                        let _ = host.try_send_to(&buf[..n], peer);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                    Err(e) => return Some(e),
                }
            }
        });
        if let Some(e) = failed {
            tracing::debug!("service proxy: udp endpoint {endpoint}: {e}");
            if is_unreachable(&e) {
                lock(&table).mark_failed(endpoint, Instant::now());
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{Shutdown, TcpListener as StdListener, TcpStream as StdStream};
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;
    use std::thread;

    /// A proxy on its own thread, stopped on drop.
    struct Proxy {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<thread::JoinHandle<io::Result<()>>>,
        ready: String,
    }

    impl Proxy {
        fn start(listeners: Vec<ServiceListener>, file: &Path) -> Proxy {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let (mut reader, writer) = UnixStream::pair().unwrap();
            let file = file.to_path_buf();
            let thread = thread::spawn(move || {
                serve_until(&listeners, &file, writer.into(), || {
                    Ok(async move {
                        let _ = rx.await;
                    })
                })
            });
            let mut ready = String::new();
            reader.read_to_string(&mut ready).unwrap();
            Proxy {
                stop: Some(tx),
                thread: Some(thread),
                ready,
            }
        }

        fn stop(&mut self) -> io::Result<()> {
            let _ = self.stop.take().unwrap().send(());
            self.thread.take().unwrap().join().unwrap()
        }
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            if self.thread.is_some() {
                let _ = self.stop();
            }
        }
    }

    fn free_port(protocol: Protocol) -> u16 {
        match protocol {
            Protocol::Tcp => StdListener::bind("127.0.0.1:0").unwrap().local_addr(),
            Protocol::Udp => std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr(),
        }
        .unwrap()
        .port()
    }

    fn listener(id: &str, protocol: Protocol) -> ServiceListener {
        ServiceListener {
            id: id.into(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(protocol))),
            protocol,
        }
    }

    fn endpoints(id: &str, addrs: &[SocketAddr]) -> Endpoints {
        BTreeMap::from([(id.to_string(), addrs.to_vec())])
    }

    /// Identity server: reads a request up to EOF, answers "<name>:<bytes read>" and closes.
    /// Answering only after EOF checks that half-close passes through the proxy. One connection
    /// at a time, which is all the tests need.
    fn identity_server(name: &'static str) -> SocketAddr {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                let mut data = Vec::new();
                if c.read_to_end(&mut data).is_ok() {
                    let _ = c.write_all(format!("{name}:{}", data.len()).as_bytes());
                }
            }
        });
        addr
    }

    /// Connect, send `payload`, half-close, read the whole answer. Err for a refused
    /// connection, Ok("") for one closed without an answer.
    fn request(addr: SocketAddr, payload: &[u8]) -> io::Result<String> {
        let mut c = StdStream::connect(addr)?;
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        c.write_all(payload)?;
        c.shutdown(Shutdown::Write)?;
        let mut back = Vec::new();
        c.read_to_end(&mut back)?;
        Ok(String::from_utf8(back).unwrap())
    }

    /// The name of the endpoint that answered `ping`.
    fn who(addr: SocketAddr) -> String {
        let answer = request(addr, b"ping").unwrap();
        let (name, len) = answer
            .split_once(':')
            .unwrap_or_else(|| panic!("{answer:?}"));
        assert_eq!(len, "4");
        name.to_string()
    }

    /// A port nobody listens on.
    fn refused_addr() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Protocol::Tcp)))
    }

    /// A listener whose accept queue is full, so new connections get no answer at all.
    fn unanswering_addr() -> (StdListener, Vec<StdStream>, SocketAddr) {
        use nix::sys::socket::{Backlog, listen};
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        // Listening again only changes the backlog: one queued connection fills it.
        listen(&l, Backlog::new(0).unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let mut fill = Vec::new();
        loop {
            match StdStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => fill.push(s),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
                    break;
                }
            }
            assert!(fill.len() < 16, "the accept queue never filled");
        }
        (l, fill, addr)
    }

    fn wait_for_check() {
        thread::sleep(CHECK_EVERY + Duration::from_millis(60));
    }

    #[test]
    fn tcp_round_robin_over_three_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        let eps = [
            identity_server("a"),
            identity_server("b"),
            identity_server("c"),
        ];
        write_endpoints(&file, &endpoints("http", &eps)).unwrap();
        let l = listener("http", Protocol::Tcp);
        let addr = l.addr;
        let mut p = Proxy::start(vec![l], &file);
        assert_eq!(p.ready, "ok\n");
        let names: Vec<String> = (0..6).map(|_| who(addr)).collect();
        assert_eq!(names, ["a", "b", "c", "a", "b", "c"]);
        // A large request, half-closed, passes whole.
        let big = vec![7u8; 1_000_000];
        assert_eq!(request(addr, &big).unwrap(), "a:1000000");
        p.stop().unwrap();
        // Stopped: the port is free again (retried: tests beside this one draw ephemeral
        // ports too, and may hold this one for a moment).
        let freed = (0..100).any(|_| {
            StdListener::bind(addr).is_ok() || {
                std::thread::sleep(Duration::from_millis(20));
                false
            }
        });
        assert!(freed, "{addr} still taken after the proxy stopped");
    }

    #[test]
    fn refused_endpoint_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        let (a, b) = (identity_server("a"), identity_server("b"));
        write_endpoints(&file, &endpoints("80", &[a, refused_addr(), b])).unwrap();
        let l = listener("80", Protocol::Tcp);
        let addr = l.addr;
        let p = Proxy::start(vec![l], &file);
        assert_eq!(p.ready, "ok\n");
        let start = Instant::now();
        let names: Vec<String> = (0..6).map(|_| who(addr)).collect();
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        // The dead endpoint's turn went to the next one; after that it waits at the back and
        // the live ones take turns.
        assert_eq!(names, ["a", "b", "a", "b", "a", "b"]);
    }

    #[test]
    fn unanswering_endpoint_is_skipped_after_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        let (_fd, _fill, hung) = unanswering_addr();
        let a = identity_server("a");
        write_endpoints(&file, &endpoints("80", &[hung, a])).unwrap();
        let l = listener("80", Protocol::Tcp);
        let addr = l.addr;
        let p = Proxy::start(vec![l], &file);
        assert_eq!(p.ready, "ok\n");
        let start = Instant::now();
        assert_eq!(who(addr), "a");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(950) && took < Duration::from_secs(3),
            "{took:?}"
        );
        // Marked as failed: the next clients go straight to the live endpoint.
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(who(addr), "a");
        }
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn endpoint_file_changes_are_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        let (a, b) = (identity_server("a"), identity_server("b"));
        let l = listener("web", Protocol::Tcp);
        let addr = l.addr;
        // No file yet: no endpoints.
        let p = Proxy::start(vec![l], &file);
        assert_eq!(p.ready, "ok\n");
        assert_eq!(request(addr, b"ping").unwrap_or_default(), "");

        write_endpoints(&file, &endpoints("web", &[a])).unwrap();
        wait_for_check();
        assert_eq!(who(addr), "a");
        assert_eq!(who(addr), "a");

        write_endpoints(&file, &endpoints("web", &[a, b])).unwrap();
        wait_for_check();
        let mut names: Vec<String> = (0..4).map(|_| who(addr)).collect();
        names.sort();
        assert_eq!(names, ["a", "a", "b", "b"]);

        write_endpoints(&file, &endpoints("web", &[b])).unwrap();
        wait_for_check();
        for _ in 0..3 {
            assert_eq!(who(addr), "b");
        }

        // A file that does not parse keeps the previous list.
        fs::write(&file, b"{ not json").unwrap();
        wait_for_check();
        assert_eq!(who(addr), "b");

        // Another id only.
        write_endpoints(&file, &endpoints("other", &[a])).unwrap();
        wait_for_check();
        assert_eq!(request(addr, b"ping").unwrap_or_default(), "");

        write_endpoints(&file, &endpoints("web", &[a])).unwrap();
        wait_for_check();
        assert_eq!(who(addr), "a");
        fs::remove_file(&file).unwrap();
        wait_for_check();
        assert_eq!(request(addr, b"ping").unwrap_or_default(), "");
    }

    #[test]
    fn no_endpoints_closes_the_client_promptly() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        write_endpoints(&file, &endpoints("web", &[])).unwrap();
        let l = listener("web", Protocol::Tcp);
        let addr = l.addr;
        let p = Proxy::start(vec![l], &file);
        assert_eq!(p.ready, "ok\n");
        let start = Instant::now();
        let mut c = StdStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        // EOF or reset, not a hang (a timeout shows up as WouldBlock).
        match c.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "{e}"),
        }
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    /// A UDP server answering "<name>:<payload>", reporting each sender.
    fn udp_identity_server(
        name: &'static str,
        seen: mpsc::Sender<(&'static str, SocketAddr)>,
    ) -> SocketAddr {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = s.recv_from(&mut buf) else {
                    return;
                };
                let _ = seen.send((name, from));
                let mut reply = format!("{name}:").into_bytes();
                reply.extend_from_slice(&buf[..n]);
                let _ = s.send_to(&reply, from);
            }
        });
        addr
    }

    #[test]
    fn udp_flows_are_spread_and_follow_the_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        let (seen_tx, seen) = mpsc::channel();
        let a = udp_identity_server("a", seen_tx.clone());
        let b = udp_identity_server("b", seen_tx);
        write_endpoints(&file, &endpoints("dns", &[a, b])).unwrap();
        let l = listener("dns", Protocol::Udp);
        let addr = l.addr;
        let p = Proxy::start(vec![l], &file);
        assert_eq!(p.ready, "ok\n");

        let ask = |c: &std::net::UdpSocket, msg: &str| {
            c.send(msg.as_bytes()).unwrap();
            let mut buf = [0u8; 65536];
            let n = c.recv(&mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        let clients: Vec<_> = (0..3)
            .map(|_| {
                let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                c.connect(addr).unwrap();
                c
            })
            .collect();
        // New flows take turns; a client stays with its endpoint.
        assert_eq!(ask(&clients[0], "x"), "a:x");
        assert_eq!(ask(&clients[1], "y"), "b:y");
        assert_eq!(ask(&clients[2], "z"), "a:z");
        assert_eq!(ask(&clients[1], "y2"), "b:y2");
        assert_eq!(ask(&clients[0], "x2"), "a:x2");
        let first: Vec<_> = seen.try_iter().collect();
        assert_eq!(first.len(), 5);
        assert_eq!(first[0].1, first[4].1, "a flow keeps its socket");
        let big = vec![b'q'; 60_000];
        assert_eq!(
            ask(&clients[1], std::str::from_utf8(&big).unwrap()).len(),
            60_002
        );

        // `a` leaves: its flows end and their clients move to `b`.
        write_endpoints(&file, &endpoints("dns", &[b])).unwrap();
        wait_for_check();
        assert_eq!(ask(&clients[0], "x3"), "b:x3");
        assert_eq!(ask(&clients[2], "z3"), "b:z3");

        // Idle flows expire: the next datagram comes from a new socket.
        let before = seen.try_iter().last().unwrap().1;
        thread::sleep(UDP_IDLE + 3 * UDP_SWEEP);
        assert_eq!(ask(&clients[2], "z4"), "b:z4");
        assert_ne!(
            seen.try_iter().last().unwrap().1,
            before,
            "idle flow expired"
        );

        // No endpoints: datagrams are dropped.
        write_endpoints(&file, &Endpoints::new()).unwrap();
        wait_for_check();
        clients[0]
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        clients[0].send(b"lost").unwrap();
        let mut buf = [0u8; 64];
        assert!(clients[0].recv(&mut buf).is_err());
    }

    #[test]
    fn udp_refusing_endpoint_loses_its_flow() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        let (seen_tx, _seen) = mpsc::channel();
        let dead = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Protocol::Udp)));
        let b = udp_identity_server("b", seen_tx);
        write_endpoints(&file, &endpoints("dns", &[dead, b])).unwrap();
        let l = listener("dns", Protocol::Udp);
        let addr = l.addr;
        let p = Proxy::start(vec![l], &file);
        assert_eq!(p.ready, "ok\n");
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        c.connect(addr).unwrap();
        let mut buf = [0u8; 64];
        // The first datagram goes to the dead endpoint and is lost; the refusal ends the flow
        // and the retry (as a UDP client would) reaches `b`.
        let mut answer = None;
        for _ in 0..2 {
            c.send(b"hi").unwrap();
            if let Ok(n) = c.recv(&mut buf) {
                answer = Some(String::from_utf8(buf[..n].to_vec()).unwrap());
                break;
            }
        }
        assert_eq!(answer.as_deref(), Some("b:hi"));
    }

    #[test]
    fn address_in_use_reports_error() {
        let dir = tempfile::tempdir().unwrap();
        let taken = StdListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let free = listener("a", Protocol::Tcp);
        let busy = ServiceListener {
            id: "b".into(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            protocol: Protocol::Tcp,
        };
        let free_addr = free.addr;
        let file = dir.path().join("endpoints.json");
        let (mut reader, writer) = UnixStream::pair().unwrap();
        let r = thread::spawn(move || run(&[free, busy], &file, writer.into()))
            .join()
            .unwrap();
        let mut ready = String::new();
        reader.read_to_string(&mut ready).unwrap();
        assert_eq!(
            ready,
            format!("error port {port}/tcp on 127.0.0.1 is already in use\n")
        );
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::AddrInUse);
        // The listener bound before the failure was closed again.
        StdListener::bind(free_addr).unwrap();

        let (mut reader, writer) = UnixStream::pair().unwrap();
        let unassigned = ServiceListener {
            id: "c".into(),
            addr: "127.0.0.1:0".parse().unwrap(),
            protocol: Protocol::Udp,
        };
        let file = dir.path().join("endpoints.json");
        assert!(run(&[unassigned], &file, writer.into()).is_err());
        let mut ready = String::new();
        reader.read_to_string(&mut ready).unwrap();
        assert_eq!(ready, "error listener \"c\" on 127.0.0.1 has no port\n");
    }

    #[test]
    fn write_endpoints_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        assert_eq!(read_endpoints(&file).unwrap(), Endpoints::new());
        let small = endpoints("http", &["10.88.0.5:8080".parse().unwrap()]);
        write_endpoints(&file, &small).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "{\"http\":[\"10.88.0.5:8080\"]}\n"
        );
        assert_eq!(read_endpoints(&file).unwrap(), small);
        let names = || {
            let mut v: Vec<String> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(), ["endpoints.json"], "no temporary file left");

        // A big list, so that a non-atomic write would be seen half done.
        let big: Endpoints = (0..200)
            .map(|i| {
                let addrs = (0..50)
                    .map(|j| SocketAddr::from((Ipv4Addr::new(10, 88, i as u8, j as u8), 8080)))
                    .collect();
                (format!("port-{i}"), addrs)
            })
            .collect();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (file, stop, small, big) = (file.clone(), stop.clone(), small.clone(), big.clone());
            thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    let e = read_endpoints(&file).expect("a reader saw a partial file");
                    assert!(e == small || e == big);
                    reads += 1;
                }
                reads
            })
        };
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        let mut last = ino(&file);
        for i in 0..200 {
            write_endpoints(&file, if i % 2 == 0 { &big } else { &small }).unwrap();
            let now = ino(&file);
            assert_ne!(now, last, "replaced by rename, not rewritten in place");
            last = now;
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(names(), ["endpoints.json"]);

        let e = write_endpoints(&dir.path().join("missing/endpoints.json"), &small).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().starts_with("writing endpoints file "), "{e}");
    }

    #[test]
    fn pick_rotates_over_live_endpoints_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        let [a, b, c]: [SocketAddr; 3] =
            ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"].map(|s| s.parse().unwrap());
        write_endpoints(&file, &endpoints("x", &[a, b, c])).unwrap();
        let mut t = Table::new(&file);
        let now = Instant::now();
        assert_eq!(t.pick("x", now), [a, b, c]);
        assert_eq!(t.pick("x", now), [b, c, a]);
        assert_eq!(t.pick("y", now), []);
        t.mark_failed(b, now);
        assert_eq!(t.pick("x", now), [a, c, b]);
        assert_eq!(t.pick("x", now), [c, a, b]);
        // Failures are forgotten after a while, or at the first success.
        let later = now + FAILED_HOLD;
        assert_eq!(t.pick("x", later), [b, c, a]);
        t.mark_failed(c, now);
        t.mark_ok(c);
        assert_eq!(t.pick("x", now), [c, a, b]);
    }

    /// Binds a listener on a virtual IP put on a throwaway bridge, as the engine does.
    #[test]
    fn listens_on_a_vip() {
        use crate::network::{Ipv4Net, bridge};
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        struct RemoveOnDrop(String);
        impl Drop for RemoveOnDrop {
            fn drop(&mut self) {
                let _ = bridge::remove_bridge(&self.0);
            }
        }
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "oxt{:06x}",
            (nanos ^ std::process::id() ^ 0xa5a5a5) & 0xff_ffff
        );
        let _guard = RemoveOnDrop(name.clone());
        let subnet: Ipv4Net = "10.253.11.0/24".parse().unwrap();
        bridge::ensure_bridge(&name, subnet, subnet.first_host()).unwrap();
        let vip = Ipv4Addr::new(10, 253, 11, 250);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        write_endpoints(&file, &endpoints("http", &[identity_server("a")])).unwrap();
        let l = ServiceListener {
            id: "http".into(),
            addr: SocketAddr::from((vip, 80)),
            protocol: Protocol::Tcp,
        };
        // Not on the bridge yet: the bind fails and says so.
        let p = Proxy::start(vec![l.clone()], &file);
        assert!(
            p.ready
                .starts_with("error cannot bind port 80/tcp on 10.253.11.250"),
            "{}",
            p.ready
        );
        drop(p);

        bridge::add_vip(&name, vip).unwrap();
        let p = Proxy::start(vec![l.clone()], &file);
        assert_eq!(p.ready, "ok\n");
        assert_eq!(who(l.addr), "a");
        drop(p);
        bridge::remove_vip(&name, vip).unwrap();
    }

    /// `cargo test --release --lib network::service_proxy::tests::short_connections -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn short_connections() {
        const N: usize = 2000;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        let eps = [
            identity_server("a"),
            identity_server("b"),
            identity_server("c"),
        ];
        write_endpoints(&file, &endpoints("http", &eps)).unwrap();
        let l = listener("http", Protocol::Tcp);
        let addr = l.addr;
        let p = Proxy::start(vec![l], &file);
        assert_eq!(p.ready, "ok\n");
        let cycles = |target: &dyn Fn(usize) -> SocketAddr| {
            let start = Instant::now();
            for i in 0..N {
                let answer = request(target(i), b"ping").unwrap();
                assert!(answer.ends_with(":4"), "{answer:?}");
            }
            N as f64 / start.elapsed().as_secs_f64()
        };
        // Warm up.
        for _ in 0..100 {
            who(addr);
        }
        let direct = cycles(&|i| eps[i % 3]);
        let proxied = cycles(&|_| addr);
        println!(
            "short connections (connect, send, half-close, receive, close), {N} sequential: \
             direct {direct:.0}/s, through the service proxy {proxied:.0}/s"
        );
    }
}
