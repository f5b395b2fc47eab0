//! `kube play`: typed Kubernetes objects become engine objects. The whole input is checked
//! first (`validate`); then images are pulled, ConfigMaps, Secrets and claims stored, pods
//! created (with their containers) and started, and Services made. Everything made by a play
//! that fails half-way is removed again, so a play either completes or leaves nothing new.
//!
//! Names: a pod of namespace `default` keeps its name; in another namespace it is
//! `<name>_<namespace>` (`_` is not allowed in Kubernetes names, so the two never clash).
//! Deployment, ReplicaSet and StatefulSet replicas are `<name>-<ordinal>`; containers are
//! `<pod>-<container>`. Annotations under `io.oxpod.kube/` remember what a pod was made from,
//! so a re-play scales and `kube down` finds every pod an object made.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec as KubePodSpec, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::convert;
use super::validate::{self, Checked};
use super::yaml::{Document, KubeDiagnostic, KubeErrors, Object};
use crate::engine::{
    DataKind, Engine, EngineError, KeyedData, PortMapping, PullOptions, ServicePort, ServiceSpec,
    TargetPort,
};
use crate::spec::{self, ContainerSpec, MountKind, MountSpec, NetworkMode, PodSpec, SecretEnv};

/// Annotations that tie an engine pod to the object it was made from.
pub const OWNER_KIND: &str = "io.oxpod.kube/owner-kind";
pub const OWNER_NAME: &str = "io.oxpod.kube/owner-name";
pub const NAMESPACE: &str = "io.oxpod.kube/namespace";
pub const POD_NAME: &str = "io.oxpod.kube/name";
pub const ORDINAL: &str = "io.oxpod.kube/ordinal";
/// On a container: the name of the Kubernetes container it was made from.
pub const CONTAINER: &str = "io.oxpod.kube/container";

/// The record kind under which play keeps an object as it was declared (checked), so
/// `kube generate` can write it back.
pub fn played_kind(kind: &str) -> String {
    format!("played:{kind}")
}

#[derive(Debug, Clone, Default)]
pub struct PlayOptions {
    /// Replace objects that exist (remove, then make again).
    pub replace: bool,
    /// Start the pods (`--start=false` only creates them).
    pub start: bool,
    /// The network pods join (the default bridge when unset).
    pub network: Option<String>,
    /// Host port overrides: container port → host port mapping by `--publish`.
    pub publish: Vec<PortMapping>,
    /// Say what would be made and changed, make nothing.
    pub dry_run: bool,
    /// Unsupported kinds and fields are errors, not warnings.
    pub strict: bool,
    /// Wait (at most this long) until every pod made is ready, or a container fails.
    pub wait: Option<std::time::Duration>,
    /// `--tls-verify` and `--authfile` for the pulls.
    pub registry: crate::engine::RegistryOptions,
}

/// What a play did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Default)]
pub struct PlayReport {
    /// Pods made: (pod id, pod name, container ids).
    pub pods: Vec<(String, String, Vec<String>)>,
    /// Services made: (namespace/name, cluster IP).
    pub services: Vec<(String, Option<String>)>,
    pub config_maps: Vec<String>,
    pub secrets: Vec<String>,
    pub volumes: Vec<String>,
    /// Objects left as they were (they exist; no `--replace`).
    pub unchanged: Vec<String>,
    /// Pods removed by scaling down.
    pub removed: Vec<String>,
    /// Lines for `--dry-run`.
    pub plan: Vec<String>,
    pub warnings: Vec<KubeDiagnostic>,
}

/// The engine name of a pod.
pub fn engine_pod_name(namespace: &str, name: &str) -> String {
    if namespace == "default" {
        name.to_string()
    } else {
        format!("{name}_{namespace}")
    }
}

/// One pod to make: its object, its names, and its template.
#[derive(Debug, Clone)]
pub(crate) struct PodPlan {
    pub engine_name: String,
    pub name: String,
    pub namespace: String,
    pub owner_kind: String,
    pub owner_name: String,
    pub ordinal: Option<usize>,
    pub meta: ObjectMeta,
    pub spec: KubePodSpec,
    /// Restart policy forced by the owner (Jobs).
    pub job_backoff: Option<i32>,
}

/// Every object of the input, checked, in the order play makes them.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub config_maps: Vec<(String, String, KeyedData, serde_json::Value)>,
    pub secrets: Vec<(String, String, KeyedData, serde_json::Value)>,
    pub claims: Vec<String>,
    pub pods: Vec<PodPlan>,
    /// Replica sets by owner: (namespace, kind, name) → wanted replicas (for scaling down).
    pub replicas: BTreeMap<(String, String, String), usize>,
    pub services: Vec<ServiceSpec>,
    /// Jobs, whose pods their controller starts.
    pub jobs: Vec<super::jobs::JobSpec>,
    /// The objects as declared: (kind, namespace, name, object), kept for `kube generate`.
    pub records: Vec<(String, String, String, serde_json::Value)>,
}

/// Parse-level failures and validation errors, with their warnings.
pub fn plan(
    docs: &[Document],
    options: &PlayOptions,
) -> Result<(Checked, Vec<KubeDiagnostic>), KubeErrors> {
    validate::check(docs, options.strict, options.network.as_deref())
}

/// Run a play over checked input.
pub fn play(
    engine: &mut Engine,
    open: &EngineFactory,
    checked: Checked,
    options: &PlayOptions,
    progress: &dyn crate::engine::TransferProgress,
) -> Result<PlayReport, miette::Report> {
    let mut plan = build_plan(&checked, options);
    let mut report = PlayReport::default();
    // References to ConfigMaps, Secrets and claims the input does not hold must be in the
    // store (validation could not see it).
    check_stored_references(engine, &checked, &plan)?;
    let existing = existing_objects(engine, &plan, options)?;
    if options.dry_run {
        describe(engine, &plan, &existing, options, &mut report)?;
        return Ok(report);
    }
    pull_images(engine, open, &plan, &options.registry, progress)?;
    let mut made = Made::default();
    let result = apply(
        engine,
        open,
        &mut plan,
        &existing,
        options,
        &mut report,
        &mut made,
    );
    if let Err(e) = result {
        made.undo(engine);
        return Err(e);
    }
    if let Err(e) = engine.refresh_service_endpoints() {
        tracing::warn!("{e}");
    }
    if let Some(timeout) = options.wait {
        wait_ready(engine, &report, timeout)?;
    }
    Ok(report)
}

/// Until every pod of the play is ready (its containers run and pass their readiness probes;
/// a Job's have finished), or a container fails, or the time is up.
fn wait_ready(
    engine: &mut Engine,
    report: &PlayReport,
    timeout: std::time::Duration,
) -> Result<(), miette::Report> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut pending = Vec::new();
        for (id, name, _) in &report.pods {
            let pod = engine.inspect_pod(id)?;
            let job = pod.annotations.get(OWNER_KIND).map(String::as_str) == Some("Job");
            for c in &pod.containers {
                let init = c.init;
                let code = c.exit_code.unwrap_or(0);
                let exited = c.status == crate::engine::ContainerStatus::Exited;
                // Exited for good: its monitor is done with it (no restart coming).
                if exited && code != 0 && !init && engine.container_finished(&c.id)? {
                    miette::bail!(
                        "container {} of pod {name} failed with exit code {code} (restarts: {})",
                        c.name,
                        c.restart_count
                    );
                }
                // A container that ran to completion (and will not run again) is done too.
                let done = if job || init {
                    exited && code == 0
                } else {
                    (c.status.is_active() && c.ready != Some(false))
                        || (exited && code == 0 && engine.container_finished(&c.id)?)
                };
                if !done {
                    pending.push(format!("{name}/{}", c.name));
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            miette::bail!(
                "timed out after {:?} waiting for {}",
                timeout,
                pending.join(", ")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// What a play made so far, undone (in reverse) when a later step fails.
#[derive(Default)]
struct Made {
    pods: Vec<String>,
    services: Vec<(String, String)>,
    data: Vec<(DataKind, String, String)>,
    volumes: Vec<String>,
    /// Records written: (kind, namespace, name, the record they replaced).
    records: Vec<(String, String, String, Option<serde_json::Value>)>,
}

impl Made {
    fn undo(&self, engine: &mut Engine) {
        for (kind, ns, name, previous) in self.records.iter().rev() {
            let _ = match previous {
                Some(v) => engine.put_kube_record(kind, ns, name, v.clone()),
                None => engine.remove_kube_record(kind, ns, name).map(|_| ()),
            };
        }
        for (ns, name) in self.services.iter().rev() {
            let _ = engine.remove_service(ns, name);
        }
        for pod in self.pods.iter().rev() {
            let _ = engine.remove_pod(pod, true);
        }
        for (kind, ns, name) in self.data.iter().rev() {
            let _ = engine.remove_keyed_data(*kind, ns, name);
        }
        for volume in self.volumes.iter().rev() {
            let _ = engine.remove_volume(volume, true);
        }
    }
}

/// Which planned objects exist already.
#[derive(Default)]
struct Existing {
    pods: BTreeSet<String>,
    services: BTreeSet<(String, String)>,
    data: BTreeSet<(&'static str, String, String)>,
    volumes: BTreeSet<String>,
}

fn existing_objects(
    engine: &mut Engine,
    plan: &Plan,
    _options: &PlayOptions,
) -> Result<Existing, miette::Report> {
    let mut out = Existing::default();
    for pod in &plan.pods {
        if engine.find_pod(&pod.engine_name).is_ok() {
            out.pods.insert(pod.engine_name.clone());
        }
    }
    for s in &plan.services {
        if engine
            .list_services()?
            .iter()
            .any(|x| x.namespace == s.namespace && x.name == s.name)
        {
            out.services.insert((s.namespace.clone(), s.name.clone()));
        }
    }
    for (ns, name, _, _) in &plan.config_maps {
        if engine.keyed_data_exists(DataKind::ConfigMap, ns, name)? {
            out.data.insert(("ConfigMap", ns.clone(), name.clone()));
        }
    }
    for (ns, name, _, _) in &plan.secrets {
        if engine.keyed_data_exists(DataKind::Secret, ns, name)? {
            out.data.insert(("Secret", ns.clone(), name.clone()));
        }
    }
    for claim in &plan.claims {
        if engine.volume_info(claim).is_ok() {
            out.volumes.insert(claim.clone());
        }
    }
    Ok(out)
}

fn describe(
    engine: &mut Engine,
    plan: &Plan,
    existing: &Existing,
    options: &PlayOptions,
    report: &mut PlayReport,
) -> Result<(), miette::Report> {
    let verb = |exists: bool| match (exists, options.replace) {
        (false, _) => "create",
        (true, true) => "replace",
        (true, false) => "unchanged",
    };
    for (ns, name, _, _) in &plan.config_maps {
        let exists = existing
            .data
            .contains(&("ConfigMap", ns.clone(), name.clone()));
        report
            .plan
            .push(format!("{} ConfigMap {ns}/{name}", verb(exists)));
    }
    for (ns, name, _, _) in &plan.secrets {
        let exists = existing
            .data
            .contains(&("Secret", ns.clone(), name.clone()));
        report
            .plan
            .push(format!("{} Secret {ns}/{name}", verb(exists)));
    }
    for claim in &plan.claims {
        let exists = existing.volumes.contains(claim);
        report.plan.push(format!(
            "{} volume {claim}",
            if exists { "unchanged" } else { "create" }
        ));
    }
    for pod in &plan.pods {
        let exists = existing.pods.contains(&pod.engine_name);
        let containers: Vec<String> = pod
            .spec
            .init_containers
            .iter()
            .flatten()
            .chain(pod.spec.containers.iter())
            .map(|c| format!("{}-{}", pod.engine_name, c.name))
            .collect();
        report.plan.push(format!(
            "{} pod {} ({}) with containers {}",
            verb(exists),
            pod.engine_name,
            pod.owner_kind,
            containers.join(", ")
        ));
    }
    for name in scale_down(engine, plan)? {
        report.plan.push(format!("remove pod {name} (scaled down)"));
    }
    for s in &plan.services {
        let exists = existing
            .services
            .contains(&(s.namespace.clone(), s.name.clone()));
        report.plan.push(format!(
            "{} Service {}/{}",
            verb(exists),
            s.namespace,
            s.name
        ));
    }
    Ok(())
}

fn apply(
    engine: &mut Engine,
    open: &EngineFactory,
    plan: &mut Plan,
    existing: &Existing,
    options: &PlayOptions,
    report: &mut PlayReport,
    made: &mut Made,
) -> Result<(), miette::Report> {
    for (kind, list) in [
        (DataKind::ConfigMap, &plan.config_maps),
        (DataKind::Secret, &plan.secrets),
    ] {
        for (ns, name, data, meta) in list {
            let key = (kind.as_str(), ns.clone(), name.clone());
            let label = format!("{} {ns}/{name}", kind.as_str());
            if existing.data.contains(&key) && !options.replace {
                report.unchanged.push(label);
                continue;
            }
            engine.put_keyed_data(kind, ns, name, data, meta.clone())?;
            if !existing.data.contains(&key) {
                made.data.push((kind, ns.clone(), name.clone()));
            }
            match kind {
                DataKind::ConfigMap => report.config_maps.push(format!("{ns}/{name}")),
                DataKind::Secret => report.secrets.push(format!("{ns}/{name}")),
            }
        }
    }
    for claim in &plan.claims {
        if existing.volumes.contains(claim) {
            continue;
        }
        engine.create_volume(Some(claim), BTreeMap::new(), true)?;
        made.volumes.push(claim.clone());
        report.volumes.push(claim.clone());
    }
    for name in scale_down(engine, plan)? {
        engine.remove_pod(&name, true)?;
        report.removed.push(name);
    }
    let mut to_make = Vec::new();
    for pod in &plan.pods {
        if existing.pods.contains(&pod.engine_name) {
            if !options.replace {
                report.unchanged.push(format!("pod {}", pod.engine_name));
                continue;
            }
            engine.remove_pod(&pod.engine_name, true)?;
        }
        to_make.push(pod);
    }
    // Pods do not depend on each other: they are made, and then started, side by side.
    let plan_ref: &Plan = plan;
    let results = in_parallel(&to_make, open, |engine, pod| {
        create_pod(engine, plan_lookup(plan_ref), pod, options)
            .map_err(|e| miette::miette!("pod {}: {e}", pod.engine_name))
    });
    let mut first_error = None;
    for (pod, result) in to_make.iter().zip(results) {
        match result {
            Ok((id, containers)) => {
                made.pods.push(id.clone());
                report.pods.push((id, pod.engine_name.clone(), containers));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if options.start {
        // A Job's pods are its controller's to start, `parallelism` at a time.
        let job_pods: BTreeSet<&str> = plan
            .pods
            .iter()
            .filter(|p| p.owner_kind == "Job")
            .map(|p| p.engine_name.as_str())
            .collect();
        let to_start: Vec<_> = report
            .pods
            .iter()
            .filter(|(_, name, _)| !job_pods.contains(name.as_str()))
            .collect();
        let started = in_parallel(&to_start, open, |engine, (id, name, _)| {
            engine
                .start_pod(id)
                .map(|_| ())
                .map_err(|e| miette::miette!("starting pod {name}: {e}"))
        });
        if let Some(e) = started.into_iter().find_map(Result::err) {
            return Err(e);
        }
        for job in &plan.jobs {
            let made_here = plan.pods.iter().any(|p| {
                p.owner_kind == "Job"
                    && p.owner_name == job.name
                    && p.namespace == job.namespace
                    && report.pods.iter().any(|(_, n, _)| *n == p.engine_name)
            });
            if made_here {
                super::jobs::spawn(engine, job)?;
            }
        }
    }
    for service in &plan.services {
        let key = (service.namespace.clone(), service.name.clone());
        if existing.services.contains(&key) {
            if !options.replace {
                report
                    .unchanged
                    .push(format!("Service {}/{}", key.0, key.1));
                continue;
            }
            engine.remove_service(&key.0, &key.1)?;
        }
        engine.create_service(service.clone())?;
        made.services.push(key.clone());
        let ip = engine
            .list_services()?
            .into_iter()
            .find(|s| s.namespace == key.0 && s.name == key.1)
            .and_then(|s| s.cluster_ip);
        report.services.push((format!("{}/{}", key.0, key.1), ip));
    }
    for (kind, ns, name, object) in &plan.records {
        let kind = played_kind(kind);
        let previous = engine.kube_record(&kind, ns, name)?;
        engine.put_kube_record(&kind, ns, name, object.clone())?;
        made.records
            .push((kind, ns.clone(), name.clone(), previous));
    }
    Ok(())
}

/// Pods of a replicated object beyond its wanted replicas (a re-play with fewer).
fn scale_down(engine: &mut Engine, plan: &Plan) -> Result<Vec<String>, miette::Report> {
    let mut out = Vec::new();
    if plan.replicas.is_empty() {
        return Ok(out);
    }
    for pod in engine.list_pods()? {
        let a = &pod.annotations;
        let (Some(ns), Some(kind), Some(name), Some(ordinal)) = (
            a.get(NAMESPACE),
            a.get(OWNER_KIND),
            a.get(OWNER_NAME),
            a.get(ORDINAL).and_then(|o| o.parse::<usize>().ok()),
        ) else {
            continue;
        };
        if let Some(wanted) = plan.replicas.get(&(ns.clone(), kind.clone(), name.clone()))
            && ordinal >= *wanted
        {
            out.push(pod.name);
        }
    }
    Ok(out)
}

/// ConfigMaps and Secrets of the input, by (namespace, name), for env and volumes.
pub(crate) struct Lookup<'a> {
    config_maps: BTreeMap<(&'a str, &'a str), &'a KeyedData>,
    secrets: BTreeMap<(&'a str, &'a str), &'a KeyedData>,
}

fn plan_lookup(plan: &Plan) -> Lookup<'_> {
    Lookup {
        config_maps: plan
            .config_maps
            .iter()
            .map(|(ns, n, d, _)| ((ns.as_str(), n.as_str()), d))
            .collect(),
        secrets: plan
            .secrets
            .iter()
            .map(|(ns, n, d, _)| ((ns.as_str(), n.as_str()), d))
            .collect(),
    }
}

impl Lookup<'_> {
    /// A ConfigMap's or Secret's data: the input's, else the store's.
    fn data(
        &self,
        engine: &mut Engine,
        kind: DataKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<KeyedData>, EngineError> {
        let input = match kind {
            DataKind::ConfigMap => self.config_maps.get(&(namespace, name)),
            DataKind::Secret => self.secrets.get(&(namespace, name)),
        };
        match input {
            Some(d) => Ok(Some((*d).clone())),
            None => engine.keyed_data(kind, namespace, name),
        }
    }
}

fn check_stored_references(
    engine: &mut Engine,
    checked: &Checked,
    plan: &Plan,
) -> Result<(), miette::Report> {
    let lookup = plan_lookup(plan);
    let mut errors = Vec::new();
    for r in &checked.references {
        let found = match r.kind {
            "ConfigMap" => {
                lookup
                    .config_maps
                    .contains_key(&(r.namespace.as_str(), r.name.as_str()))
                    || engine.keyed_data_exists(DataKind::ConfigMap, &r.namespace, &r.name)?
            }
            "Secret" => {
                lookup
                    .secrets
                    .contains_key(&(r.namespace.as_str(), r.name.as_str()))
                    || engine.keyed_data_exists(DataKind::Secret, &r.namespace, &r.name)?
            }
            _ => plan.claims.contains(&r.name) || engine.volume_info(&r.name).is_ok(),
        };
        if !found && !r.optional {
            errors.push(r.diagnostic.clone());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(KubeErrors(errors).into())
    }
}

/// Pull what is missing (or everything with `imagePullPolicy: Always`), images side by side.
fn pull_images(
    engine: &mut Engine,
    open: &EngineFactory,
    plan: &Plan,
    registry: &crate::engine::RegistryOptions,
    progress: &dyn crate::engine::TransferProgress,
) -> Result<(), miette::Report> {
    let mut seen = BTreeSet::new();
    let mut wanted = Vec::new();
    for pod in &plan.pods {
        for c in pod
            .spec
            .init_containers
            .iter()
            .flatten()
            .chain(pod.spec.containers.iter())
        {
            let image = c.image.clone().unwrap_or_default();
            if !seen.insert(image.clone()) {
                continue;
            }
            let policy = c
                .image_pull_policy
                .clone()
                .unwrap_or_else(|| convert::default_pull_policy(&image).to_string());
            let present = engine.image_exists(&image)?;
            match policy.as_str() {
                "Never" if !present => {
                    miette::bail!(
                        "image {image} is not present and imagePullPolicy is Never (container {} of {})",
                        c.name,
                        pod.engine_name
                    )
                }
                "Never" => {}
                "Always" => wanted.push(image),
                _ if !present => wanted.push(image),
                _ => {}
            }
        }
    }
    let pulled = in_parallel(&wanted, open, |engine, image| {
        engine
            .pull(
                &PullOptions {
                    reference: image.clone(),
                    registry: registry.clone(),
                    ..Default::default()
                },
                progress,
            )
            .map(|_| ())
            .map_err(|e| miette::miette!("pulling {image}: {e}"))
    });
    pulled.into_iter().collect()
}

/// Opens an engine over the same store, one per worker thread.
pub type EngineFactory<'a> = dyn Fn() -> Result<Engine, EngineError> + Sync + 'a;

/// Run `f` over `items` on up to eight threads, each with an engine of its own; results in
/// the items' order.
pub(crate) fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    open: &EngineFactory,
    f: impl Fn(&mut Engine, &T) -> Result<R, miette::Report> + Sync,
) -> Vec<Result<R, miette::Report>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R, miette::Report>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    let workers = items.len().min(8);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut engine = match open() {
                    Ok(e) => Some(e),
                    Err(e) => {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i < items.len() {
                            results.lock().expect("results lock")[i] =
                                Some(Err(miette::miette!("{e}")));
                        }
                        None
                    }
                };
                while let Some(engine) = engine.as_mut() {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(engine, &items[i]);
                    results.lock().expect("results lock")[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(miette::miette!("a worker could not open the store"))))
        .collect()
}

/// Turn checked objects into what play makes.
fn build_plan(checked: &Checked, options: &PlayOptions) -> Plan {
    let mut plan = Plan::default();
    for (_, object) in &checked.objects {
        if let Some(record) = record_of(object) {
            plan.records.push(record);
        }
        match object {
            Object::ConfigMap(cm) => {
                let ns = namespace_of(&cm.metadata);
                let mut data: KeyedData = cm
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
                    .collect();
                for (k, v) in cm.binary_data.iter().flatten() {
                    data.insert(k.clone(), v.0.clone());
                }
                let mut meta = meta_json(&cm.metadata);
                // Which keys were declared binary, so generate writes them back as such.
                meta["binaryKeys"] = serde_json::json!(
                    cm.binary_data
                        .iter()
                        .flatten()
                        .map(|(k, _)| k)
                        .collect::<Vec<_>>()
                );
                plan.config_maps.push((
                    ns,
                    cm.metadata.name.clone().unwrap_or_default(),
                    data,
                    meta,
                ));
            }
            Object::Secret(s) => {
                let ns = namespace_of(&s.metadata);
                let mut data: KeyedData = s
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect();
                for (k, v) in s.string_data.iter().flatten() {
                    data.insert(k.clone(), v.as_bytes().to_vec());
                }
                let mut meta = meta_json(&s.metadata);
                meta["type"] = serde_json::json!(s.type_.clone().unwrap_or("Opaque".into()));
                plan.secrets
                    .push((ns, s.metadata.name.clone().unwrap_or_default(), data, meta));
            }
            Object::PersistentVolumeClaim(pvc) => {
                plan.claims
                    .push(pvc.metadata.name.clone().unwrap_or_default());
            }
            Object::Pod(pod) => {
                let ns = namespace_of(&pod.metadata);
                let name = pod.metadata.name.clone().unwrap_or_default();
                plan.pods.push(PodPlan {
                    engine_name: engine_pod_name(&ns, &name),
                    name: name.clone(),
                    namespace: ns,
                    owner_kind: "Pod".into(),
                    owner_name: name,
                    ordinal: None,
                    meta: pod.metadata.clone(),
                    spec: pod.spec.clone().unwrap_or_default(),
                    job_backoff: None,
                });
            }
            Object::Deployment(d) => {
                let spec = d.spec.clone();
                replicated(
                    &mut plan,
                    "Deployment",
                    &d.metadata,
                    spec.replicas.unwrap_or(1),
                    spec.template,
                );
            }
            Object::ReplicaSet(r) => {
                let spec = r.spec.clone();
                replicated(
                    &mut plan,
                    "ReplicaSet",
                    &r.metadata,
                    spec.replicas.unwrap_or(1),
                    spec.template.unwrap_or_default(),
                );
            }
            Object::StatefulSet(s) => {
                let spec = s.spec.clone();
                let first = plan.pods.len();
                replicated(
                    &mut plan,
                    "StatefulSet",
                    &s.metadata,
                    spec.replicas.unwrap_or(1),
                    spec.template,
                );
                // volumeClaimTemplates: one volume per pod, `<claim>-<pod>`, as Kubernetes.
                for pod in &mut plan.pods[first..] {
                    for claim in spec.volume_claim_templates.iter().flatten() {
                        let claim_name = claim.metadata.name.clone().unwrap_or_default();
                        let volume = format!("{claim_name}-{}", pod.name);
                        pod.spec.volumes.get_or_insert_with(Vec::new).push(Volume {
                            name: claim_name,
                            persistent_volume_claim: Some(
                                k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
                                    claim_name: volume.clone(),
                                    read_only: None,
                                },
                            ),
                            ..Volume::default()
                        });
                        plan.claims.push(volume);
                    }
                }
            }
            Object::DaemonSet(d) => {
                let spec = d.spec.clone();
                replicated(&mut plan, "DaemonSet", &d.metadata, 1, spec.template);
            }
            Object::Job(j) => {
                let spec = j.spec.clone().unwrap_or_default();
                let completions = spec.completions.unwrap_or(1).max(1);
                let backoff = spec.backoff_limit.unwrap_or(6).max(0);
                let first = plan.pods.len();
                replicated(&mut plan, "Job", &j.metadata, completions, spec.template);
                for pod in &mut plan.pods[first..] {
                    pod.job_backoff = Some(backoff);
                }
                plan.jobs.push(super::jobs::JobSpec {
                    namespace: namespace_of(&j.metadata),
                    name: j.metadata.name.clone().unwrap_or_default(),
                    completions: completions as u32,
                    parallelism: spec.parallelism.unwrap_or(1).max(1) as u32,
                    backoff_limit: backoff as u32,
                    active_deadline_seconds: spec.active_deadline_seconds.map(|s| s.max(0) as u64),
                });
            }
            Object::Service(s) => {
                if let Some(service) = service_spec(s, options) {
                    plan.services.push(service);
                }
            }
            Object::Namespace(_) | Object::CronJob(_) | Object::Other { .. } => {}
        }
    }
    plan
}

/// What play keeps of an object for `kube generate`: the object as declared (typed, so
/// checked and without unknown fields), without `status`; a ConfigMap's or Secret's data
/// stays in its own store (a Secret's in a file only root can read).
fn record_of(object: &Object) -> Option<(String, String, String, serde_json::Value)> {
    let (meta, mut value) = match object {
        Object::Pod(o) => (&o.metadata, serde_json::to_value(o)),
        Object::Deployment(o) => (&o.metadata, serde_json::to_value(o)),
        Object::ReplicaSet(o) => (&o.metadata, serde_json::to_value(o)),
        Object::StatefulSet(o) => (&o.metadata, serde_json::to_value(o)),
        Object::DaemonSet(o) => (&o.metadata, serde_json::to_value(o)),
        Object::Job(o) => (&o.metadata, serde_json::to_value(o)),
        Object::Service(o) => (&o.metadata, serde_json::to_value(o)),
        Object::PersistentVolumeClaim(o) => (&o.metadata, serde_json::to_value(o)),
        Object::Namespace(o) => (&o.metadata, serde_json::to_value(o)),
        Object::ConfigMap(o) => (&o.metadata, Ok(serde_json::json!({}))),
        Object::Secret(o) => (&o.metadata, Ok(serde_json::json!({}))),
        _ => return None,
    };
    let value = value.as_mut().ok()?;
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    Some((
        object.kind().to_string(),
        namespace_of(meta),
        meta.name.clone().unwrap_or_default(),
        value.take(),
    ))
}

fn replicated(
    plan: &mut Plan,
    kind: &str,
    meta: &ObjectMeta,
    replicas: i32,
    template: k8s_openapi::api::core::v1::PodTemplateSpec,
) {
    let ns = namespace_of(meta);
    let owner = meta.name.clone().unwrap_or_default();
    let replicas = replicas.max(0) as usize;
    plan.replicas
        .insert((ns.clone(), kind.to_string(), owner.clone()), replicas);
    let mut pod_meta = template.metadata.clone().unwrap_or_default();
    pod_meta.namespace = Some(ns.clone());
    for ordinal in 0..replicas {
        let name = format!("{owner}-{ordinal}");
        plan.pods.push(PodPlan {
            engine_name: engine_pod_name(&ns, &name),
            name,
            namespace: ns.clone(),
            owner_kind: kind.to_string(),
            owner_name: owner.clone(),
            ordinal: Some(ordinal),
            meta: pod_meta.clone(),
            spec: template.spec.clone().unwrap_or_default(),
            job_backoff: None,
        });
    }
}

pub(crate) fn namespace_of(meta: &ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_else(|| "default".into())
}

fn meta_json(meta: &ObjectMeta) -> serde_json::Value {
    serde_json::json!({
        "labels": meta.labels.clone().unwrap_or_default(),
        "annotations": meta.annotations.clone().unwrap_or_default(),
    })
}

fn service_spec(
    s: &k8s_openapi::api::core::v1::Service,
    options: &PlayOptions,
) -> Option<ServiceSpec> {
    let spec = s.spec.clone().unwrap_or_default();
    let exposed = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
    let ports = spec
        .ports
        .iter()
        .flatten()
        .map(|p| ServicePort {
            name: p.name.clone(),
            port: p.port as u16,
            target_port: match &p.target_port {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                    TargetPort::Number(*n as u16)
                }
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => {
                    match s.parse::<u16>() {
                        Ok(n) => TargetPort::Number(n),
                        Err(_) => TargetPort::Name(s.clone()),
                    }
                }
                None => TargetPort::Number(p.port as u16),
            },
            // LoadBalancer without a nodePort publishes on its own port, as a local load
            // balancer would.
            node_port: if exposed {
                Some(p.node_port.map(|n| n as u16).unwrap_or(p.port as u16))
            } else {
                None
            },
            protocol: if p.protocol.as_deref() == Some("UDP") {
                crate::engine::Protocol::Udp
            } else {
                crate::engine::Protocol::Tcp
            },
        })
        .collect();
    Some(ServiceSpec {
        namespace: namespace_of(&s.metadata),
        name: s.metadata.name.clone().unwrap_or_default(),
        network: options
            .network
            .clone()
            .unwrap_or_else(|| spec::DEFAULT_NETWORK.to_string()),
        selector: spec.selector.clone().unwrap_or_default(),
        ports,
        labels: s.metadata.labels.clone().unwrap_or_default(),
    })
}

/// Make one pod and its containers (not started).
fn create_pod(
    engine: &mut Engine,
    lookup: Lookup,
    plan: &PodPlan,
    options: &PlayOptions,
) -> Result<(String, Vec<String>), EngineError> {
    let k = &plan.spec;
    let mut annotations = plan.meta.annotations.clone().unwrap_or_default();
    annotations.insert(NAMESPACE.into(), plan.namespace.clone());
    annotations.insert(POD_NAME.into(), plan.name.clone());
    annotations.insert(OWNER_KIND.into(), plan.owner_kind.clone());
    annotations.insert(OWNER_NAME.into(), plan.owner_name.clone());
    if let Some(o) = plan.ordinal {
        annotations.insert(ORDINAL.into(), o.to_string());
    }
    let host_network = k.host_network == Some(true);
    let mut publish = Vec::new();
    let mut named_ports = BTreeMap::new();
    for c in k.containers.iter() {
        for p in c.ports.iter().flatten() {
            if let Some(name) = &p.name {
                named_ports.insert(name.clone(), p.container_port as u16);
            }
            // A bare containerPort is not published, as in Kubernetes.
            let Some(host_port) = p.host_port else {
                continue;
            };
            let mut mapping = PortMapping {
                host_ip: p.host_ip.as_deref().and_then(|ip| ip.parse().ok()),
                host_port: host_port as u16,
                container_port: p.container_port as u16,
                protocol: if p.protocol.as_deref() == Some("UDP") {
                    crate::engine::Protocol::Udp
                } else {
                    crate::engine::Protocol::Tcp
                },
                range: 1,
            };
            if let Some(over) = options.publish.iter().find(|o| {
                o.container_port == mapping.container_port && o.protocol == mapping.protocol
            }) {
                mapping.host_port = over.host_port;
                mapping.host_ip = over.host_ip.or(mapping.host_ip);
            }
            if !host_network {
                publish.push(mapping);
            }
        }
    }
    let dns = k.dns_config.clone().unwrap_or_default();
    let pod_spec = PodSpec {
        name: plan.engine_name.clone(),
        hostname: Some(k.hostname.clone().unwrap_or_else(|| plan.name.clone())),
        share: spec::Shares {
            net: true,
            ipc: k.host_ipc != Some(true),
            uts: true,
            pid: k.share_process_namespace == Some(true),
        },
        network: if host_network {
            NetworkMode::Host
        } else {
            match &options.network {
                Some(n) => n
                    .parse()
                    .map_err(|e: spec::SpecError| EngineError::Invalid(e.to_string()))?,
                None => NetworkMode::default(),
            }
        },
        publish,
        labels: plan.meta.labels.clone().unwrap_or_default(),
        annotations,
        namespace: Some(plan.namespace.clone()),
        named_ports,
        add_hosts: k
            .host_aliases
            .iter()
            .flatten()
            .flat_map(|a| {
                let ip: Option<IpAddr> = a.ip.parse().ok();
                a.hostnames.iter().flatten().filter_map(move |h| {
                    Some(spec::HostEntry {
                        name: h.clone(),
                        ip: ip?,
                    })
                })
            })
            .collect(),
        dns: dns
            .nameservers
            .iter()
            .flatten()
            .filter_map(|n| n.parse().ok())
            .collect(),
        dns_search: dns.searches.clone().unwrap_or_default(),
    };
    let pod_id = engine.create_pod(pod_spec)?;
    let made = (|| -> Result<Vec<String>, EngineError> {
        let pod_ip = engine.inspect_pod(&pod_id)?.ip;
        let ctx = convert::PodContext {
            pod_id: &pod_id,
            plan,
            pod_ip: pod_ip.as_deref(),
            volumes: materialize_volumes(engine, &lookup, plan, &pod_id)?,
        };
        let mut ids = Vec::new();
        let init = k.init_containers.iter().flatten().map(|c| (c, true));
        for (c, is_init) in init.chain(k.containers.iter().map(|c| (c, false))) {
            let spec = container_spec(engine, &lookup, &ctx, c, is_init)?;
            ids.push(engine.create_container(spec)?);
        }
        Ok(ids)
    })();
    match made {
        Ok(ids) => Ok((pod_id, ids)),
        Err(e) => {
            let _ = engine.remove_pod(&pod_id, true);
            Err(e)
        }
    }
}

/// A pod's volumes, as host sources: name → how to mount it.
pub(crate) enum VolumeSource {
    Bind(PathBuf),
    Named(String),
    Tmpfs(Option<u64>),
}

/// Write ConfigMap, Secret, downward API and emptyDir volumes under the pod's data dir; check
/// hostPath types.
fn materialize_volumes(
    engine: &mut Engine,
    lookup: &Lookup,
    plan: &PodPlan,
    pod_id: &str,
) -> Result<BTreeMap<String, VolumeSource>, EngineError> {
    let base = engine.pod_data_dir(pod_id).join("volumes");
    let fs_group = plan
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.fs_group)
        .and_then(|g| u32::try_from(g).ok());
    let mut out = BTreeMap::new();
    for v in plan.spec.volumes.iter().flatten() {
        let dir = base.join(&v.name);
        let source = if let Some(h) = &v.host_path {
            VolumeSource::Bind(convert::check_host_path(&h.path, h.type_.as_deref())?)
        } else if let Some(e) = &v.empty_dir {
            if e.medium.as_deref() == Some("Memory") {
                VolumeSource::Tmpfs(
                    e.size_limit
                        .as_ref()
                        .and_then(|q| convert::quantity_bytes(&q.0)),
                )
            } else {
                make_dir(&dir, 0o777)?;
                VolumeSource::Bind(dir)
            }
        } else if let Some(c) = &v.persistent_volume_claim {
            VolumeSource::Named(c.claim_name.clone())
        } else if let Some(cm) = &v.config_map {
            let data = lookup
                .data(engine, DataKind::ConfigMap, &plan.namespace, &cm.name)?
                .unwrap_or_default();
            make_dir(&dir, 0o755)?;
            convert::write_items(&dir, &data, cm.items.as_deref(), cm.default_mode)?;
            VolumeSource::Bind(dir)
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            let data = lookup
                .data(engine, DataKind::Secret, &plan.namespace, &name)?
                .unwrap_or_default();
            make_dir(&dir, 0o700)?;
            convert::write_items(&dir, &data, s.items.as_deref(), s.default_mode)?;
            VolumeSource::Bind(dir)
        } else if let Some(d) = &v.downward_api {
            make_dir(&dir, 0o755)?;
            for item in d.items.iter().flatten() {
                let value = item
                    .field_ref
                    .as_ref()
                    .map(|f| convert::field_value(plan, pod_id, None, &f.field_path))
                    .unwrap_or_default();
                convert::write_file(
                    &dir,
                    &item.path,
                    value.as_bytes(),
                    item.mode.or(d.default_mode),
                )?;
            }
            VolumeSource::Bind(dir)
        } else if let Some(p) = &v.projected {
            make_dir(&dir, 0o755)?;
            for source in p.sources.iter().flatten() {
                if let Some(cm) = &source.config_map {
                    let data = lookup
                        .data(engine, DataKind::ConfigMap, &plan.namespace, &cm.name)?
                        .unwrap_or_default();
                    convert::write_items(&dir, &data, cm.items.as_deref(), p.default_mode)?;
                }
                if let Some(s) = &source.secret {
                    let data = lookup
                        .data(engine, DataKind::Secret, &plan.namespace, &s.name)?
                        .unwrap_or_default();
                    convert::write_items(&dir, &data, s.items.as_deref(), p.default_mode)?;
                }
                if let Some(d) = &source.downward_api {
                    for item in d.items.iter().flatten() {
                        let value = item
                            .field_ref
                            .as_ref()
                            .map(|f| convert::field_value(plan, pod_id, None, &f.field_path))
                            .unwrap_or_default();
                        convert::write_file(
                            &dir,
                            &item.path,
                            value.as_bytes(),
                            item.mode.or(p.default_mode),
                        )?;
                    }
                }
            }
            VolumeSource::Bind(dir)
        } else {
            // Validation reported every other volume type; with --strict it refused them.
            make_dir(&dir, 0o755)?;
            VolumeSource::Bind(dir)
        };
        if let (Some(gid), VolumeSource::Bind(dir)) = (fs_group, &source)
            && dir.starts_with(&base)
        {
            convert::own_by_group(dir, gid)?;
        }
        out.insert(v.name.clone(), source);
    }
    Ok(out)
}

fn make_dir(dir: &Path, mode: u32) -> Result<(), EngineError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)))
        .map_err(|e| EngineError::Io {
            path: dir.to_path_buf(),
            source: e,
        })
}

/// One Kubernetes container as an engine container spec.
fn container_spec(
    engine: &mut Engine,
    lookup: &Lookup,
    ctx: &convert::PodContext,
    c: &Container,
    is_init: bool,
) -> Result<ContainerSpec, EngineError> {
    let plan = ctx.plan;
    let k = &plan.spec;
    let mut s = ContainerSpec::new(
        format!("{}-{}", plan.engine_name, c.name),
        c.image.clone().unwrap_or_default(),
    );
    s.pod = Some(ctx.pod_id.to_string());
    s.annotations.insert(CONTAINER.into(), c.name.clone());
    s.init_container = is_init && c.restart_policy.as_deref() != Some("Always");
    let (env, secret_env) = container_env(engine, lookup, ctx, c)?;
    s.secret_env = secret_env;
    // Kubernetes' override rules: `command` replaces the image's entrypoint (and drops its
    // cmd), `args` replaces its cmd; `$(VAR)` expands from the container's environment.
    let expand = |v: &Vec<String>| -> Vec<String> {
        v.iter().map(|a| convert::expand_vars(a, &env)).collect()
    };
    if let Some(command) = &c.command {
        s.entrypoint = Some(expand(command));
    }
    if let Some(args) = &c.args {
        s.command = Some(expand(args));
    } else if c.command.is_some() {
        s.command = Some(Vec::new());
    }
    s.env = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    s.workdir = c.working_dir.as_ref().map(PathBuf::from);
    s.tty = c.tty == Some(true);
    s.stdin = c.stdin == Some(true);
    s.labels = plan.meta.labels.clone().unwrap_or_default();
    s.stop_timeout = k
        .termination_grace_period_seconds
        .map(|t| t.clamp(0, u32::MAX as i64) as u32)
        .unwrap_or(30);
    s.restart = match (plan.job_backoff, k.restart_policy.as_deref()) {
        (Some(backoff), _) => spec::RestartPolicy::OnFailure {
            max_retries: Some(backoff.max(0) as u32),
        },
        _ if is_init => spec::RestartPolicy::No,
        (None, Some("Never")) => spec::RestartPolicy::No,
        (None, Some("OnFailure")) => spec::RestartPolicy::OnFailure { max_retries: None },
        _ => spec::RestartPolicy::Always,
    };
    if let Some(r) = &c.resources {
        convert::apply_resources(&mut s, r);
    }
    convert::apply_probes(&mut s, c)?;
    convert::apply_security(
        &mut s,
        k.security_context.as_ref(),
        c.security_context.as_ref(),
    );
    if k.host_pid == Some(true) {
        s.namespaces_from_pod
            .get_or_insert_with(Default::default)
            .pid = Some(PathBuf::from("/proc/1/ns/pid"));
    }
    if k.host_ipc == Some(true) {
        s.namespaces_from_pod
            .get_or_insert_with(Default::default)
            .ipc = Some(PathBuf::from("/proc/1/ns/ipc"));
    }
    for m in c.volume_mounts.iter().flatten() {
        s.mounts.push(mount_of(engine, ctx, m)?);
    }
    Ok(s)
}

fn mount_of(
    engine: &mut Engine,
    ctx: &convert::PodContext,
    m: &VolumeMount,
) -> Result<MountSpec, EngineError> {
    let source = ctx.volumes.get(&m.name).ok_or_else(|| {
        EngineError::Invalid(format!("volumeMount {} names no volume of the pod", m.name))
    })?;
    let sub = m.sub_path.as_deref().filter(|p| !p.is_empty());
    let kind = match (source, sub) {
        (VolumeSource::Bind(dir), None) => MountKind::Bind {
            source: dir.clone(),
        },
        (VolumeSource::Bind(dir), Some(sub)) => MountKind::Bind {
            source: convert::sub_path(dir, sub)?,
        },
        (VolumeSource::Named(name), None) => MountKind::Volume { name: name.clone() },
        (VolumeSource::Named(name), Some(sub)) => {
            engine.create_volume(Some(name), BTreeMap::new(), true)?;
            let data = engine.volume_info(name)?.mountpoint;
            MountKind::Bind {
                source: convert::sub_path(&data, sub)?,
            }
        }
        (VolumeSource::Tmpfs(size), _) => MountKind::Tmpfs {
            size: *size,
            mode: None,
            flags: Vec::new(),
        },
    };
    Ok(MountSpec {
        destination: PathBuf::from(&m.mount_path),
        kind,
        read_only: m.read_only == Some(true),
        chown: false,
    })
}

/// The container's environment in Kubernetes' order: `envFrom` sources, then `env` (later
/// entries win), with `$(VAR)` references to earlier variables expanded.
/// A container's variables, in order.
type Environment = Vec<(String, String)>;

fn container_env(
    engine: &mut Engine,
    lookup: &Lookup,
    ctx: &convert::PodContext,
    c: &Container,
) -> Result<(Environment, Vec<SecretEnv>), EngineError> {
    let plan = ctx.plan;
    let mut env: Vec<(String, String)> = Vec::new();
    // Secret values are not put in the spec: the engine reads them at each start.
    let mut secrets: Vec<SecretEnv> = Vec::new();
    let set =
        |env: &mut Vec<(String, String)>, secrets: &mut Vec<SecretEnv>, k: String, v: String| {
            env.retain(|(key, _)| *key != k);
            secrets.retain(|s| s.key.is_none() || s.var != k);
            env.push((k, v));
        };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.secret_ref {
            secrets.push(SecretEnv {
                namespace: plan.namespace.clone(),
                secret: r.name.clone(),
                key: None,
                var: prefix,
                optional: r.optional == Some(true),
            });
            continue;
        }
        let Some(r) = &from.config_map_ref else {
            continue;
        };
        let data = lookup
            .data(engine, DataKind::ConfigMap, &plan.namespace, &r.name)?
            .unwrap_or_default();
        for (k, v) in data {
            set(
                &mut env,
                &mut secrets,
                format!("{prefix}{k}"),
                String::from_utf8_lossy(&v).into_owned(),
            );
        }
    }
    for EnvVar {
        name,
        value,
        value_from,
    } in c.env.iter().flatten()
    {
        let value = if let Some(v) = value {
            convert::expand_vars(v, &env)
        } else if let Some(from) = value_from {
            if let Some(r) = &from.config_map_key_ref {
                let data = lookup.data(engine, DataKind::ConfigMap, &plan.namespace, &r.name)?;
                match data.and_then(|d| d.get(&r.key).cloned()) {
                    Some(v) => String::from_utf8_lossy(&v).into_owned(),
                    None if r.optional == Some(true) => continue,
                    None => {
                        return Err(EngineError::Invalid(format!(
                            "env {name}: ConfigMap {} has no key {}",
                            r.name, r.key
                        )));
                    }
                }
            } else if let Some(r) = &from.secret_key_ref {
                let data = lookup.data(engine, DataKind::Secret, &plan.namespace, &r.name)?;
                if !data.is_some_and(|d| d.contains_key(&r.key)) && r.optional != Some(true) {
                    return Err(EngineError::Invalid(format!(
                        "env {name}: Secret {} has no key {}",
                        r.name, r.key
                    )));
                }
                env.retain(|(key, _)| key != name);
                secrets.retain(|s| s.key.is_none() || s.var != *name);
                secrets.push(SecretEnv {
                    namespace: plan.namespace.clone(),
                    secret: r.name.clone(),
                    key: Some(r.key.clone()),
                    var: name.clone(),
                    optional: r.optional == Some(true),
                });
                continue;
            } else if let Some(f) = &from.field_ref {
                convert::field_value(plan, ctx.pod_id, ctx.pod_ip, &f.field_path)
            } else if let Some(r) = &from.resource_field_ref {
                convert::resource_value(c, r)
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut env, &mut secrets, name.clone(), value);
    }
    Ok((env, secrets))
}
