//! Kubernetes probes and lifecycle hooks as the engine keeps them. The monitor runs probes
//! from outside the container (HTTP, TCP and gRPC from the pod's network namespace; exec by
//! joining the container), so an image needs no tool of its own for them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a probe or hook does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ProbeAction {
    /// Run a command in the container; exit 0 passes.
    Exec { command: Vec<String> },
    /// An HTTP GET; a status from 200 to 399 passes. `host` unset means the pod's address.
    Http {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        port: u16,
        path: String,
        /// `http` or `https` (certificates are not verified, as the kubelet does).
        scheme: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        headers: Vec<(String, String)>,
    },
    /// A TCP connection that opens passes.
    Tcp {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        port: u16,
    },
    /// The gRPC health checking protocol; SERVING passes.
    Grpc {
        port: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
    },
    /// Sleep (a `preStop` hook that gives load balancers time).
    Sleep { seconds: u64 },
}

/// A probe with Kubernetes' timing fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub action: ProbeAction,
    #[serde(with = "secs")]
    pub initial_delay: Duration,
    #[serde(with = "secs")]
    pub period: Duration,
    #[serde(with = "secs")]
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Probe {
    /// Kubernetes' defaults around an action: no delay, every 10 s, 1 s timeout, one success,
    /// three failures.
    pub fn new(action: ProbeAction) -> Probe {
        Probe {
            action,
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: 1,
            failure_threshold: 3,
        }
    }
}

/// A container's probes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Probes {
    /// Failing it restarts the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Probe>,
    /// Until it passes, the container's pod is no Service endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Probe>,
    /// Until it passes, the other probes wait; failing it restarts the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup: Option<Probe>,
}

impl Probes {
    pub fn is_empty(&self) -> bool {
        self.liveness.is_none() && self.readiness.is_none() && self.startup.is_none()
    }
}

/// Lifecycle hooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lifecycle {
    /// Run right after the container starts; failing it kills the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_start: Option<ProbeAction>,
    /// Run before the stop signal; the stop timeout covers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<ProbeAction>,
}

impl Lifecycle {
    pub fn is_empty(&self) -> bool {
        self.post_start.is_none() && self.pre_stop.is_none()
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(secs.max(0.0)))
    }
}
