//! Entry points of the small supervisor processes the engine starts by re-executing oxpod
//! (port proxy, Service proxy, pod infra, Job controller): each first detaches from the
//! command that started it, then serves.

use std::net::Ipv4Addr;
use std::path::Path;

use super::{EngineError, Result};
use crate::network::ports::PortMapping;
use crate::network::service_proxy::ServiceListener;

/// A supervisor outlives the command that started it: nothing that command inherited (a
/// caller's pipe) stays open with it but `keep`, a terminal's signals go to the command (a
/// session of its own), and it holds no directory busy.
pub fn detach_supervisor(keep: &[i32]) {
    crate::sys::fs::close_inherited_fds(keep);
    let _ = nix::unistd::setsid();
    let _ = std::env::set_current_dir("/");
}

/// Only the descriptor hand-off, for the monitor (which keeps its session handling).
pub fn close_inherited_fds(keep: &[i32]) {
    crate::sys::fs::close_inherited_fds(keep);
}

/// `oxpod port-proxy`: forward a pod's published ports until SIGTERM.
pub fn run_port_proxy(
    netns: &Path,
    publish_json: &str,
    ready_fd: i32,
    target: Option<Ipv4Addr>,
    owner: &str,
) -> Result<()> {
    let ready = crate::sys::fs::adopt_inherited_fd(ready_fd);
    detach_supervisor(&[ready_fd]);
    let mappings: Vec<PortMapping> = serde_json::from_str(publish_json)
        .map_err(|e| EngineError::Invalid(format!("port-proxy: malformed --publish: {e}")))?;
    crate::network::proxy::run(netns, &mappings, ready, target)
        .map_err(|e| EngineError::Invalid(format!("port proxy for {owner}: {e}")))
}

/// `oxpod service-proxy`: spread a Service's connections over its endpoints until SIGTERM.
pub fn run_service_proxy(
    listeners_json: &str,
    endpoints: &Path,
    ready_fd: i32,
    service: &str,
) -> Result<()> {
    let ready = crate::sys::fs::adopt_inherited_fd(ready_fd);
    detach_supervisor(&[ready_fd]);
    let listeners: Vec<ServiceListener> = serde_json::from_str(listeners_json)
        .map_err(|e| EngineError::Invalid(format!("service-proxy: malformed --listeners: {e}")))?;
    crate::network::service_proxy::run(&listeners, endpoints, ready)
        .map_err(|e| EngineError::Invalid(format!("service proxy {service}: {e}")))
}

/// `oxpod pod-infra --init`: PID 1 of a pod's PID namespace, reaping the orphans the pod's
/// containers leave and otherwise sleeping, until `pod rm` kills it.
pub fn run_pod_infra() -> ! {
    detach_supervisor(&[]);
    loop {
        match nix::sys::wait::waitpid(None, None) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            // No children now: orphans arrive when a container's process leaves some.
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(1)),
        }
    }
}
