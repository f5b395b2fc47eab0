//! `kube down`: remove what a play of the same input made — pods (every replica an object
//! made, found by the pods' owner annotations), Services, ConfigMaps and Secrets; claims'
//! volumes only with `--volumes`. Idempotent: what is gone already is skipped. Teardown keeps
//! going past a failure and reports every one.

use super::play::{NAMESPACE, OWNER_KIND, OWNER_NAME, engine_pod_name, namespace_of};
use super::yaml::{Document, KubeErrors, Object, typed};
use crate::engine::{DataKind, Engine, EngineError};

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// Remove the volumes of PersistentVolumeClaims too.
    pub volumes: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DownReport {
    pub pods: Vec<String>,
    pub services: Vec<String>,
    pub config_maps: Vec<String>,
    pub secrets: Vec<String>,
    pub volumes: Vec<String>,
    /// Failures, each with what it was removing; teardown went on past them.
    pub errors: Vec<String>,
}

pub fn down(
    engine: &mut Engine,
    open: &super::play::EngineFactory,
    docs: &[Document],
    options: &DownOptions,
) -> Result<DownReport, miette::Report> {
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for doc in docs {
        match typed(doc) {
            Ok(o) => objects.push(o),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(KubeErrors(errors).into());
    }
    let mut report = DownReport::default();
    let pods = engine.list_pods()?;
    // Services first (their proxies point at the pods), then pods, then what pods used.
    for o in &objects {
        if let Object::Service(s) = o {
            let ns = namespace_of(&s.metadata);
            let name = s.metadata.name.clone().unwrap_or_default();
            match engine.remove_service(&ns, &name) {
                Ok(true) => report.services.push(format!("{ns}/{name}")),
                Ok(false) => {}
                Err(e) => report.errors.push(format!("Service {ns}/{name}: {e}")),
            }
        }
    }
    // The pods to take down: by name for Pods, by owner annotations for the rest.
    let mut names: Vec<String> = Vec::new();
    for o in &objects {
        let (kind, meta) = match o {
            Object::Pod(p) => {
                let ns = namespace_of(&p.metadata);
                names.push(engine_pod_name(
                    &ns,
                    p.metadata.name.as_deref().unwrap_or_default(),
                ));
                continue;
            }
            Object::Deployment(d) => ("Deployment", &d.metadata),
            Object::ReplicaSet(r) => ("ReplicaSet", &r.metadata),
            Object::StatefulSet(s) => ("StatefulSet", &s.metadata),
            Object::DaemonSet(d) => ("DaemonSet", &d.metadata),
            Object::Job(j) => ("Job", &j.metadata),
            _ => continue,
        };
        let ns = namespace_of(meta);
        let owner = meta.name.clone().unwrap_or_default();
        for pod in &pods {
            let a = &pod.annotations;
            if a.get(NAMESPACE) == Some(&ns)
                && a.get(OWNER_KIND).map(String::as_str) == Some(kind)
                && a.get(OWNER_NAME) == Some(&owner)
            {
                names.push(pod.name.clone());
            }
        }
    }
    names.retain(|n| pods.iter().any(|p| p.name == *n));
    // As Kubernetes deletes pods: preStop, the stop signal, the grace period
    // (terminationGracePeriodSeconds), then removal; the pods side by side.
    let results = super::play::in_parallel(&names, open, |engine, name| {
        let _ = engine.stop_pod(name, None);
        engine
            .remove_pod(name, true)
            .map_err(|e| miette::miette!("pod {name}: {e}"))
    });
    for result in results {
        match result {
            Ok(id) => report.pods.push(id),
            Err(e) if e.to_string().contains("no such pod") => {}
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    for o in &objects {
        if let Some(meta) = o.metadata() {
            let ns = namespace_of(meta);
            let name = meta.name.as_deref().unwrap_or_default();
            if let Err(e) =
                engine.remove_kube_record(&super::play::played_kind(o.kind()), &ns, name)
            {
                report.errors.push(format!("{} {ns}/{name}: {e}", o.kind()));
            }
        }
        match o {
            Object::Job(j) => {
                let ns = namespace_of(&j.metadata);
                let name = j.metadata.name.as_deref().unwrap_or_default();
                if let Err(e) = engine.remove_kube_record("Job", &ns, name) {
                    report.errors.push(format!("Job {ns}/{name}: {e}"));
                }
            }
            Object::ConfigMap(cm) => {
                remove_data(
                    engine,
                    DataKind::ConfigMap,
                    &namespace_of(&cm.metadata),
                    cm.metadata.name.as_deref().unwrap_or_default(),
                    &mut report.config_maps,
                    &mut report.errors,
                );
            }
            Object::Secret(s) => {
                remove_data(
                    engine,
                    DataKind::Secret,
                    &namespace_of(&s.metadata),
                    s.metadata.name.as_deref().unwrap_or_default(),
                    &mut report.secrets,
                    &mut report.errors,
                );
            }
            Object::PersistentVolumeClaim(p) if options.volumes => {
                remove_volume(
                    engine,
                    p.metadata.name.as_deref().unwrap_or_default(),
                    &mut report,
                );
            }
            Object::StatefulSet(s) if options.volumes => {
                let spec = s.spec.clone();
                let owner = s.metadata.name.clone().unwrap_or_default();
                for claim in spec.volume_claim_templates.iter().flatten() {
                    let claim = claim.metadata.name.clone().unwrap_or_default();
                    for i in 0..spec.replicas.unwrap_or(1).max(0) {
                        remove_volume(engine, &format!("{claim}-{owner}-{i}"), &mut report);
                    }
                }
            }
            _ => {}
        }
    }
    if let Err(e) = engine.refresh_service_endpoints() {
        report
            .errors
            .push(format!("updating Service endpoints: {e}"));
    }
    Ok(report)
}

fn remove_data(
    engine: &mut Engine,
    kind: DataKind,
    ns: &str,
    name: &str,
    done: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    match engine.remove_keyed_data(kind, ns, name) {
        Ok(true) => done.push(format!("{ns}/{name}")),
        Ok(false) => {}
        Err(e) => errors.push(format!("{} {ns}/{name}: {e}", kind.as_str())),
    }
}

fn remove_volume(engine: &mut Engine, name: &str, report: &mut DownReport) {
    match engine.remove_volume(name, true) {
        Ok(_) => report.volumes.push(name.to_string()),
        Err(EngineError::VolumeNotFound(_)) => {}
        Err(e) => report.errors.push(format!("volume {name}: {e}")),
    }
}
