//! Jobs: a small supervised process per Job (`oxpod job-controller`, hidden) starts its pods
//! `parallelism` at a time until `completions` of them succeed, counts failures (failed
//! pods and container restarts) against `backoffLimit`, and stops everything when
//! `activeDeadlineSeconds` passes. It records the Job's status beside its spec and exits when
//! the Job ends or its pods are gone (`kube down`).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::play::{NAMESPACE, OWNER_KIND, OWNER_NAME};
use crate::engine::{ContainerStatus, Engine, EngineError, PodInfo};

/// What the controller needs of a Job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub namespace: String,
    pub name: String,
    pub completions: u32,
    pub parallelism: u32,
    pub backoff_limit: u32,
    pub active_deadline_seconds: Option<u64>,
}

/// Where a Job stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub active: u32,
    pub succeeded: u32,
    pub failed: u32,
    /// `Complete`, or `Failed` with a reason (`BackoffLimitExceeded`, `DeadlineExceeded`).
    pub condition: Option<String>,
}

/// How often the controller looks at its pods.
const TICK: Duration = Duration::from_millis(100);

fn job_pods(engine: &mut Engine, spec: &JobSpec) -> Result<Vec<PodInfo>, EngineError> {
    let mut pods: Vec<PodInfo> = engine
        .list_pods()?
        .into_iter()
        .filter(|p| {
            let a = &p.annotations;
            a.get(NAMESPACE) == Some(&spec.namespace)
                && a.get(OWNER_KIND).map(String::as_str) == Some("Job")
                && a.get(OWNER_NAME) == Some(&spec.name)
        })
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pods)
}

/// One look at the pods: how many succeeded, failed (and restarted), run, and wait.
fn tally(engine: &mut Engine, pods: &[PodInfo]) -> Result<(JobStatus, Vec<String>), EngineError> {
    let mut status = JobStatus::default();
    let mut waiting = Vec::new();
    for pod in pods {
        let app: Vec<_> = pod.containers.iter().filter(|c| !c.init).collect();
        status.failed += app.iter().map(|c| c.restart_count).sum::<u32>();
        if app.iter().all(|c| c.status == ContainerStatus::Created) {
            waiting.push(pod.id.clone());
            continue;
        }
        let mut finished = true;
        let mut ok = true;
        for c in &app {
            if !engine.container_finished(&c.id)? {
                finished = false;
            } else if c.exit_code != Some(0) {
                ok = false;
            }
        }
        match (finished, ok) {
            (false, _) => status.active += 1,
            (true, true) => status.succeeded += 1,
            (true, false) => status.failed += 1,
        }
    }
    Ok((status, waiting))
}

/// Run a Job to its end. Returns its final status.
pub fn control(engine: &mut Engine, spec: &JobSpec) -> Result<JobStatus, EngineError> {
    let started = Instant::now();
    let deadline = spec.active_deadline_seconds.map(Duration::from_secs);
    loop {
        let pods = job_pods(engine, spec)?;
        if pods.is_empty() {
            // Taken down.
            return Ok(JobStatus::default());
        }
        let (mut status, waiting) = tally(engine, &pods)?;
        let end = if status.succeeded >= spec.completions {
            Some("Complete".to_string())
        } else if status.failed > spec.backoff_limit {
            Some("Failed: BackoffLimitExceeded".to_string())
        } else if deadline.is_some_and(|d| started.elapsed() >= d) {
            Some("Failed: DeadlineExceeded".to_string())
        } else {
            None
        };
        if let Some(condition) = end {
            if condition.starts_with("Failed") {
                for pod in &pods {
                    let _ = engine.stop_pod(&pod.id, Some(0));
                }
            }
            status.active = 0;
            status.condition = Some(condition);
            record(engine, spec, &status);
            return Ok(status);
        }
        // Start waiting pods while fewer than `parallelism` run and more successes are needed.
        let mut active = status.active;
        for id in waiting {
            if active >= spec.parallelism || status.succeeded + active >= spec.completions {
                break;
            }
            engine.start_pod(&id)?;
            active += 1;
        }
        status.active = active;
        record(engine, spec, &status);
        std::thread::sleep(TICK);
    }
}

/// Keep the Job's status where `kube` commands can read it.
fn record(engine: &mut Engine, spec: &JobSpec, status: &JobStatus) {
    let meta = serde_json::json!({ "spec": spec, "status": status });
    if let Err(e) = engine.put_kube_record("Job", &spec.namespace, &spec.name, meta) {
        tracing::debug!("recording the status of Job {}: {e}", spec.name);
    }
}

/// Start the controller of a Job as a process of its own, outliving this command.
pub fn spawn(engine: &Engine, spec: &JobSpec) -> Result<(), EngineError> {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().map_err(|e| EngineError::Io {
        path: "/proc/self/exe".into(),
        source: e,
    })?;
    let paths = engine.paths();
    Command::new(exe)
        .arg("--root")
        .arg(&paths.root)
        .arg("--runroot")
        .arg(&paths.runroot)
        .arg("job-controller")
        .arg(serde_json::to_string(spec).expect("a job spec serialises"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| EngineError::Io {
            path: "/proc/self/exe".into(),
            source: e,
        })
}
