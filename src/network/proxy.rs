//! The userspace port proxy behind published ports: `oxpod port-proxy` binds the host sockets in
//! the host network namespace, then moves itself into the pod's namespace so that every socket it
//! opens afterwards reaches the pod's `127.0.0.1`. It works without root and without firewall
//! rules, at the cost of the client address (the pod sees connections from 127.0.0.1).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use tokio::io::copy_bidirectional_with_sizes;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::ports::{PortMapping, Protocol, bind_error};

/// Per direction of a TCP connection; large enough for >1 GB/s on loopback, the only
/// per-connection allocation.
const TCP_BUF: usize = 128 * 1024;
/// Largest UDP payload (65535 - 8 - 20 rounds up to this).
const UDP_BUF: usize = 64 * 1024;
/// A UDP "connection" ends after this long without a datagram in either direction.
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

/// A host socket bound before the namespace switch.
enum HostSocket {
    Tcp(std::net::TcpListener, u16),
    Udp(std::net::UdpSocket, u16),
}

/// Bind every host socket of `mappings` in the current (host) network namespace, then setns()
/// into `netns`, then report "ok\n" (or "error <line>\n", returning Err) on `ready` and close it,
/// then serve until SIGTERM or SIGINT. Binding first is what lets the proxy listen on the host
/// while connecting inside the pod with a single thread.
///
/// `target` is the address connections go to inside the pod: its own address on its network
/// (as Kubernetes' hostPort and Docker's proxy reach it), or 127.0.0.1 when it has none.
pub fn run(
    netns: &Path,
    mappings: &[PortMapping],
    ready: OwnedFd,
    target: Option<Ipv4Addr>,
) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    if let Some(ip) = target {
        let _ = TARGET.set(ip);
    }
    serve_until(netns, mappings, ready, || {
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
    netns: &Path,
    mappings: &[PortMapping],
    ready: OwnedFd,
    shutdown: F,
) -> io::Result<()>
where
    F: FnOnce() -> io::Result<S>,
    S: Future<Output = ()>,
{
    let mut ready = File::from(ready);
    let setup: io::Result<(tokio::runtime::Runtime, S)> = (|| {
        let sockets = bind_all(mappings)?;
        let ns = File::open(netns).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open network namespace {}: {e}", netns.display()),
            )
        })?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| {
            io::Error::other(format!(
                "cannot enter network namespace {}: {e}",
                netns.display()
            ))
        })?;
        drop(ns);
        // Built after setns: a current-thread runtime creates every later socket on this thread,
        // which now lives in the pod's namespace.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let stop = {
            let _guard = rt.enter();
            for s in sockets {
                match s {
                    HostSocket::Tcp(l, port) => {
                        l.set_nonblocking(true)?;
                        rt.spawn(serve_tcp(TcpListener::from_std(l)?, port));
                    }
                    HostSocket::Udp(u, port) => {
                        u.set_nonblocking(true)?;
                        rt.spawn(serve_udp(UdpSocket::from_std(u)?, port));
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
    // Start-up pages of the binary are not needed again while serving.
    crate::sys::memory::release_startup_pages();
    rt.block_on(stop);
    // Dropping the runtime cancels every task and closes every socket.
    drop(rt);
    Ok(())
}

fn bind_all(mappings: &[PortMapping]) -> io::Result<Vec<HostSocket>> {
    let mut out = Vec::new();
    for m in mappings {
        let ip = m.bind_ip();
        for (host, container) in m.pairs() {
            if host == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "host port for container port {container}/{} was never assigned",
                        m.protocol
                    ),
                ));
            }
            let addr = SocketAddr::new(ip, host);
            let fail =
                |e: io::Error| io::Error::new(e.kind(), bind_error(m.protocol, ip, host, &e));
            out.push(match m.protocol {
                Protocol::Tcp => {
                    HostSocket::Tcp(std::net::TcpListener::bind(addr).map_err(fail)?, container)
                }
                Protocol::Udp => {
                    HostSocket::Udp(std::net::UdpSocket::bind(addr).map_err(fail)?, container)
                }
            });
        }
    }
    Ok(out)
}

/// Where connections go inside the pod; set once by [`run`] before serving (a process serves
/// one pod), loopback when unset.
static TARGET: std::sync::OnceLock<Ipv4Addr> = std::sync::OnceLock::new();

fn pod_addr(port: u16) -> SocketAddr {
    SocketAddr::from((*TARGET.get().unwrap_or(&Ipv4Addr::LOCALHOST), port))
}

async fn serve_tcp(listener: TcpListener, port: u16) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(relay_tcp(client, port));
            }
            Err(e) => {
                tracing::warn!("port proxy: accept for container port {port}: {e}");
                // Out of descriptors or memory: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One connection: connect inside the pod, then copy both ways; copy_bidirectional shuts down
/// each write half when its read half ends, so half-close passes through.
async fn relay_tcp(mut client: TcpStream, port: u16) {
    let _ = client.set_nodelay(true);
    let mut server = match TcpStream::connect(pod_addr(port)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("port proxy: connect to container port {port}: {e}");
            return; // dropping the client closes it
        }
    };
    let _ = server.set_nodelay(true);
    if let Err(e) = copy_bidirectional_with_sizes(&mut client, &mut server, TCP_BUF, TCP_BUF).await
    {
        tracing::debug!("port proxy: relay to container port {port}: {e}");
    }
}

/// A client address's private socket inside the pod, so replies find their way back.
struct Flow {
    sock: Arc<UdpSocket>,
    /// Milliseconds since the port's epoch of the last datagram either way.
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

async fn serve_udp(host: UdpSocket, port: u16) {
    let host = Arc::new(host);
    let epoch = Instant::now();
    let now_ms = move || epoch.elapsed().as_millis() as u64;
    let idle_ms = UDP_IDLE.as_millis() as u64;
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut buf = vec![0u8; UDP_BUF];
    let mut sweep = tokio::time::interval(UDP_SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (n, peer) = tokio::select! {
            r = host.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!("port proxy: udp receive for container port {port}: {e}");
                    continue;
                }
            },
            _ = sweep.tick() => {
                let now = now_ms();
                flows.retain(|_, f| {
                    !f.replies.is_finished() && now.saturating_sub(f.last.load(Ordering::Relaxed)) < idle_ms
                });
                continue;
            }
        };
        let now = now_ms();
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
            match open_flow(&host, peer, port, now, now_ms).await {
                Ok(f) => {
                    flows.insert(peer, f);
                }
                Err(e) => {
                    tracing::debug!("port proxy: udp flow to container port {port}: {e}");
                    continue;
                }
            }
        }
        let Some(flow) = flows.get(&peer) else {
            continue;
        };
        flow.last.store(now, Ordering::Relaxed);
        // Nobody listening yet shows up as ECONNREFUSED; UDP may drop, so just go on.
        let _ = flow.sock.send(&buf[..n]).await;
    }
}

async fn open_flow(
    host: &Arc<UdpSocket>,
    peer: SocketAddr,
    port: u16,
    now: u64,
    now_ms: impl Fn() -> u64 + Send + 'static,
) -> io::Result<Flow> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
    sock.connect(pod_addr(port)).await?;
    let sock = Arc::new(sock);
    let last = Arc::new(AtomicU64::new(now));
    let replies = tokio::spawn(relay_replies(
        sock.clone(),
        host.clone(),
        peer,
        last.clone(),
        now_ms,
    ));
    Ok(Flow {
        sock,
        last,
        replies,
    })
}

/// Send each datagram the pod answers back to the client from the host socket.
async fn relay_replies(
    sock: Arc<UdpSocket>,
    host: Arc<UdpSocket>,
    peer: SocketAddr,
    last: Arc<AtomicU64>,
    now_ms: impl Fn() -> u64,
) {
    loop {
        if sock.readable().await.is_err() {
            return;
        }
        let done = REPLY_BUF.with_borrow_mut(|buf| {
            loop {
                match sock.try_recv(buf) {
                    Ok(n) => {
                        last.store(now_ms(), Ordering::Relaxed);
                        // A full host send buffer drops the datagram, as the network would.
                        let _ = host.try_send_to(&buf[..n], peer);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                    // ICMP port unreachable from an earlier send: the flow stays usable.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                    Err(_) => return true,
                }
            }
        });
        if done {
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

    use crate::network::ports::assign_host_ports;

    const HOST_NS: &str = "/proc/self/ns/net";

    /// A proxy on its own thread, stopped on drop.
    struct Proxy {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<thread::JoinHandle<io::Result<()>>>,
        ready: String,
    }

    impl Proxy {
        fn start(mappings: Vec<PortMapping>) -> Proxy {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let (mut reader, writer) = UnixStream::pair().unwrap();
            let thread = thread::spawn(move || {
                serve_until(Path::new(HOST_NS), &mappings, writer.into(), || {
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

    fn mapping(container_port: u16, protocol: Protocol) -> PortMapping {
        let mut m = vec![PortMapping {
            host_ip: Some(Ipv4Addr::LOCALHOST.into()),
            host_port: 0,
            container_port,
            protocol,
            range: 1,
        }];
        assign_host_ports(&mut m).unwrap();
        m.remove(0)
    }

    /// Echo server: answers each connection with what it read, then closes its side once the
    /// client has closed its side (so half-close must pass through the proxy both ways).
    fn tcp_echo_server() -> u16 {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        thread::spawn(move || {
            for c in l.incoming() {
                let mut c = c.unwrap();
                thread::spawn(move || {
                    let mut data = Vec::new();
                    c.read_to_end(&mut data).unwrap();
                    c.write_all(b"echo:").unwrap();
                    c.write_all(&data).unwrap();
                    c.shutdown(Shutdown::Write).unwrap();
                });
            }
        });
        port
    }

    #[test]
    fn tcp_echo_with_half_close() {
        let backend = tcp_echo_server();
        let m = mapping(backend, Protocol::Tcp);
        let host_port = m.host_port;
        let mut p = Proxy::start(vec![m]);
        assert_eq!(p.ready, "ok\n");
        for round in 0..3 {
            let mut c = StdStream::connect(("127.0.0.1", host_port)).unwrap();
            let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + round) as u8).collect();
            c.write_all(&payload).unwrap();
            // The server only answers after seeing EOF: half-close must reach it.
            c.shutdown(Shutdown::Write).unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).unwrap();
            assert_eq!(&back[..5], b"echo:");
            assert!(back[5..] == payload[..], "round {round}: payload differs");
        }
        p.stop().unwrap();
        // Stopped: the host port is free again (retried: tests running beside this one draw
        // ephemeral ports too, and may hold this one for a moment).
        let freed = (0..100).any(|_| {
            StdListener::bind(("127.0.0.1", host_port)).is_ok() || {
                thread::sleep(Duration::from_millis(20));
                false
            }
        });
        assert!(
            freed,
            "port {host_port} still taken after the proxy stopped"
        );
    }

    #[test]
    fn tcp_connect_failure_closes_client() {
        // A port with nobody listening behind the proxy.
        let dead = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let m = mapping(dead, Protocol::Tcp);
        let host_port = m.host_port;
        let p = Proxy::start(vec![m]);
        assert_eq!(p.ready, "ok\n");
        let mut c = StdStream::connect(("127.0.0.1", host_port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        // EOF or reset, not a hang (a timeout shows up as WouldBlock).
        match c.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "{e}"),
        }
    }

    #[test]
    fn udp_echo_and_idle_expiry() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let backend = server.local_addr().unwrap().port();
        let (seen_tx, seen_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                seen_tx.send(from).unwrap();
                let mut reply = b"re:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                server.send_to(&reply, from).unwrap();
            }
        });
        let m = mapping(backend, Protocol::Udp);
        let host_port = m.host_port;
        let p = Proxy::start(vec![m]);
        assert_eq!(p.ready, "ok\n");

        let recv = |c: &std::net::UdpSocket| {
            let mut buf = [0u8; 65536];
            let n = c.recv(&mut buf).unwrap();
            buf[..n].to_vec()
        };
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for c in [&a, &b] {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.connect(("127.0.0.1", host_port)).unwrap();
        }
        a.send(b"one").unwrap();
        assert_eq!(recv(&a), b"re:one");
        let a_flow = seen_rx.recv().unwrap();
        b.send(b"two").unwrap();
        assert_eq!(recv(&b), b"re:two");
        let b_flow = seen_rx.recv().unwrap();
        assert_ne!(a_flow, b_flow, "each client gets its own flow");
        let big = vec![9u8; 60_000];
        a.send(&big).unwrap();
        assert_eq!(recv(&a).len(), 60_003);
        assert_eq!(seen_rx.recv().unwrap(), a_flow, "flow reused while active");

        // After the idle timeout the flow is gone and a new one is made.
        thread::sleep(UDP_IDLE + 3 * UDP_SWEEP);
        a.send(b"three").unwrap();
        assert_eq!(recv(&a), b"re:three");
        assert_ne!(seen_rx.recv().unwrap(), a_flow, "idle flow expired");
    }

    #[test]
    fn bound_port_makes_run_report_error() {
        let taken = StdListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let m = PortMapping {
            host_ip: Some(Ipv4Addr::LOCALHOST.into()),
            host_port: port,
            container_port: 80,
            protocol: Protocol::Tcp,
            range: 1,
        };
        let (mut reader, writer) = UnixStream::pair().unwrap();
        let r = thread::spawn(move || run(Path::new(HOST_NS), &[m], writer.into(), None))
            .join()
            .unwrap();
        let mut ready = String::new();
        reader.read_to_string(&mut ready).unwrap();
        assert_eq!(
            ready,
            format!("error port {port}/tcp on 127.0.0.1 is already in use\n")
        );
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn bad_netns_reports_error() {
        let m = mapping(80, Protocol::Tcp);
        let (mut reader, writer) = UnixStream::pair().unwrap();
        let r = thread::spawn(move || run(Path::new("/nonexistent/ns"), &[m], writer.into(), None))
            .join()
            .unwrap();
        let mut ready = String::new();
        reader.read_to_string(&mut ready).unwrap();
        assert!(
            ready.starts_with("error cannot open network namespace /nonexistent/ns"),
            "{ready}"
        );
        assert!(r.is_err());
    }

    /// `cargo test --release --lib network::proxy::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn throughput() {
        const TOTAL: u64 = 1 << 30;
        let sink = StdListener::bind("127.0.0.1:0").unwrap();
        let backend = sink.local_addr().unwrap().port();
        let sink = thread::spawn(move || {
            let (mut c, _) = sink.accept().unwrap();
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                let n = c.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            total
        });
        let m = mapping(backend, Protocol::Tcp);
        let host_port = m.host_port;
        let p = Proxy::start(vec![m]);
        assert_eq!(p.ready, "ok\n");
        let mut c = StdStream::connect(("127.0.0.1", host_port)).unwrap();
        let chunk = vec![0x5au8; 256 * 1024];
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < TOTAL {
            c.write_all(&chunk).unwrap();
            sent += chunk.len() as u64;
        }
        c.shutdown(Shutdown::Write).unwrap();
        let got = sink.join().unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(got, TOTAL);
        println!(
            "proxy throughput: {:.0} MB/s ({TOTAL} bytes in {secs:.2} s)",
            TOTAL as f64 / secs / 1e6
        );
    }
}
