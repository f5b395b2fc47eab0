//! `kube generate`: engine state back to Kubernetes objects.
//!
//! Two sources meet here. A pod made by `kube play` carries annotations naming the object it
//! came from, and play kept that object (as the user declared it, checked) as a record: its
//! pod template is the truth for every container play made, including what the engine cannot
//! hold in a spec — references to ConfigMaps, Secrets and claims, named ports, requests.
//! Everything else — pods made with `pod create`, containers added with `run --pod`, lone
//! containers — is mapped field by field from the stored specs, omitting whatever the image
//! supplies anyway. So a played object comes back exactly, changes made since show up, and a
//! flag with no Kubernetes form is named in a note instead of being dropped silently.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value, json};

use super::defaults;
use super::play::{CONTAINER, NAMESPACE, ORDINAL, OWNER_KIND, OWNER_NAME, POD_NAME, played_kind};
use crate::engine::{ContainerView, DataKind, Engine, PodView, Protocol};
use crate::spec::{self, MountKind, NetworkMode, Probe, ProbeAction, RestartPolicy, Seccomp};

/// The workload kind a plain pod is written as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkloadType {
    #[default]
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
}

impl std::str::FromStr for WorkloadType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "pod" => Ok(WorkloadType::Pod),
            "deployment" => Ok(WorkloadType::Deployment),
            "statefulset" => Ok(WorkloadType::StatefulSet),
            "daemonset" => Ok(WorkloadType::DaemonSet),
            "job" => Ok(WorkloadType::Job),
            _ => Err(format!(
                "unknown type {s:?}: expected pod, deployment, statefulset, daemonset or job"
            )),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// Write plain pods as this kind (played objects keep their own kind).
    pub workload: Option<WorkloadType>,
    /// Replicas of a Deployment or StatefulSet written with `workload`.
    pub replicas: Option<u32>,
    /// Add a Service for the pods' published and declared ports.
    pub service: bool,
    /// Write every object in this namespace.
    pub namespace: Option<String>,
    /// Write referenced Secrets (their data included); otherwise only the references.
    pub include_secrets: bool,
}

/// The objects, in dependency order, and what had no Kubernetes form.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub objects: Vec<Value>,
    pub notes: Vec<String>,
}

/// A played object: what `--from-play FILE` names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// Kinds play keeps a record of, so generate can write them back.
pub const PLAYED_KINDS: &[&str] = &[
    "Namespace",
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "Service",
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
];

/// Objects for pods, containers, volumes or played objects named by `names` (a played object
/// may be given as `kind/name`).
pub fn generate(
    engine: &mut Engine,
    names: &[String],
    options: &GenerateOptions,
) -> Result<Generated, miette::Report> {
    let mut out = Output::new(options);
    for name in names {
        match resolve(engine, name)? {
            Target::Pod(view) => out.plain_or_played_pod(engine, &view)?,
            Target::Container(view) => out.lone_container(engine, &view)?,
            Target::Volume(name) => out.claim(engine, "default", &name)?,
            Target::Object(r) => out.played(engine, &r)?,
        }
    }
    out.finish(engine)
}

/// Objects a play made, from the engine's state now.
pub fn generate_played(
    engine: &mut Engine,
    refs: &[ObjectRef],
    options: &GenerateOptions,
) -> Result<Generated, miette::Report> {
    let mut out = Output::new(options);
    for r in refs {
        out.played(engine, r)?;
    }
    out.finish(engine)
}

enum Target {
    Pod(Box<PodView>),
    Container(Box<ContainerView>),
    Volume(String),
    Object(ObjectRef),
}

/// A name is a pod, else a container, else a volume, else an object a play made.
fn resolve(engine: &mut Engine, name: &str) -> Result<Target, miette::Report> {
    if let Some((kind, object)) = name.split_once('/') {
        let kind = kind_of(kind).ok_or_else(|| {
            miette::miette!(
                "unknown kind {kind:?} in {name:?}; kinds: {}",
                PLAYED_KINDS.join(", ")
            )
        })?;
        return played_ref(engine, kind, object)?
            .map(Target::Object)
            .ok_or_else(|| miette::miette!("no {kind} {object:?} was played here"));
    }
    if let Ok(view) = engine.pod_view(name) {
        return Ok(Target::Pod(Box::new(view)));
    }
    if let Ok(view) = engine.container_spec_view(name) {
        if let Some(pod) = &view.spec.pod {
            return Err(miette::miette!(
                "container {name} belongs to pod {}; generate the pod instead",
                engine
                    .pod_view(pod)
                    .map(|p| p.name)
                    .unwrap_or_else(|_| pod.to_string())
            ));
        }
        return Ok(Target::Container(Box::new(view)));
    }
    if engine.volume_info(name).is_ok() {
        return Ok(Target::Volume(name.to_string()));
    }
    let mut found = Vec::new();
    for kind in PLAYED_KINDS {
        if let Some(r) = played_ref(engine, kind, name)? {
            found.push(r);
        }
    }
    match found.len() {
        0 => Err(miette::miette!(
            "no pod, container, volume or played object named {name:?}"
        )),
        1 => Ok(Target::Object(found.remove(0))),
        _ => Err(miette::miette!(
            "{name:?} names several played objects ({}); say which, e.g. {}/{name}",
            found
                .iter()
                .map(|r| format!("{}/{}", r.kind, r.name))
                .collect::<Vec<_>>()
                .join(", "),
            found[0].kind.to_ascii_lowercase()
        )),
    }
}

fn kind_of(s: &str) -> Option<&'static str> {
    let s = s.to_ascii_lowercase();
    let kind = match s.as_str() {
        "ns" | "namespaces" => "Namespace",
        "po" | "pods" => "Pod",
        "deploy" | "deployments" => "Deployment",
        "rs" | "replicasets" => "ReplicaSet",
        "sts" | "statefulsets" => "StatefulSet",
        "ds" | "daemonsets" => "DaemonSet",
        "jobs" => "Job",
        "svc" | "services" => "Service",
        "cm" | "configmaps" => "ConfigMap",
        "secrets" => "Secret",
        "pvc" | "persistentvolumeclaims" => "PersistentVolumeClaim",
        _ => {
            return PLAYED_KINDS
                .iter()
                .find(|k| k.to_ascii_lowercase() == s)
                .copied();
        }
    };
    Some(kind)
}

/// The played object of `kind` named `name`, in whichever namespace holds it.
fn played_ref(
    engine: &mut Engine,
    kind: &str,
    name: &str,
) -> Result<Option<ObjectRef>, miette::Report> {
    let records = engine.kube_records(&played_kind(kind))?;
    let mut matching = records.into_iter().filter(|(_, n, _)| n == name);
    let first = matching.next();
    if let (Some((ns, _, _)), Some((other, _, _))) = (&first, matching.next()) {
        return Err(miette::miette!(
            "{kind} {name} was played in namespaces {ns} and {other}; generate by file (--from-play)"
        ));
    }
    Ok(first.map(|(namespace, name, _)| ObjectRef {
        kind: kind.to_string(),
        namespace,
        name,
    }))
}

/// The objects being written, deduplicated, with what they reference.
struct Output<'a> {
    options: &'a GenerateOptions,
    objects: BTreeMap<(usize, String, String), Value>,
    notes: Vec<String>,
    /// References met in pod specs: (kind, namespace, name).
    references: BTreeSet<(String, String, String)>,
    /// Pods written from plain engine pods, for `--service`: (namespace, name, labels, ports).
    service_candidates: Vec<ServiceCandidate>,
}

struct ServiceCandidate {
    namespace: String,
    name: String,
    selector: Map<String, Value>,
    ports: Vec<Value>,
}

/// The order objects are written in: what others depend on first.
fn rank(kind: &str) -> usize {
    match kind {
        "Namespace" => 0,
        "ConfigMap" => 1,
        "Secret" => 2,
        "PersistentVolumeClaim" => 3,
        "Service" => 4,
        _ => 5,
    }
}

impl<'a> Output<'a> {
    fn new(options: &'a GenerateOptions) -> Self {
        Output {
            options,
            objects: BTreeMap::new(),
            notes: Vec::new(),
            references: BTreeSet::new(),
            service_candidates: Vec::new(),
        }
    }

    fn push(&mut self, mut object: Value) {
        if let Some(ns) = &self.options.namespace {
            object["metadata"]["namespace"] = json!(ns);
        }
        defaults::strip(&mut object);
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.objects
            .insert((rank(&kind), format!("{kind}/{ns}"), name), object);
    }

    fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// A pod: written back from its played template when it has one, mapped otherwise.
    fn plain_or_played_pod(
        &mut self,
        engine: &mut Engine,
        view: &PodView,
    ) -> Result<(), miette::Report> {
        let a = &view.spec.annotations;
        if let (Some(kind), Some(owner), Some(ns)) =
            (a.get(OWNER_KIND), a.get(OWNER_NAME), a.get(NAMESPACE))
            && let Some(record) = engine.kube_record(&played_kind(kind), ns, owner)?
        {
            let template = template_spec(kind, &record);
            let spec = self.reconcile(engine, template, view)?;
            let name = a
                .get(POD_NAME)
                .cloned()
                .unwrap_or_else(|| view.name.clone());
            let pod = json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": pod_metadata(view, &name, Some(ns)),
                "spec": spec,
            });
            self.collect_references(ns, &pod["spec"]);
            self.push(pod);
            return Ok(());
        }
        let (meta, spec, ports) = self.map_pod(engine, view)?;
        self.wrap(meta, spec, ports);
        Ok(())
    }

    /// A container outside any pod, as a pod of its own with the container's name.
    fn lone_container(
        &mut self,
        engine: &mut Engine,
        view: &ContainerView,
    ) -> Result<(), miette::Report> {
        let name = kube_name(&view.name);
        if name != view.name {
            self.note(format!(
                "container {}: written as {name} (Kubernetes names are lowercase DNS labels)",
                view.name
            ));
        }
        let pod = PodView {
            id: view.id.clone(),
            name: name.clone(),
            spec: spec::PodSpec {
                name: name.clone(),
                hostname: view.spec.hostname.clone(),
                network: view.spec.network.clone(),
                publish: view.spec.publish.clone(),
                add_hosts: view.spec.add_hosts.clone(),
                dns: view.spec.dns.clone(),
                dns_search: view.spec.dns_search.clone(),
                // A lone container's labels and annotations are its pod's in Kubernetes.
                labels: view.spec.labels.clone(),
                annotations: view
                    .spec
                    .annotations
                    .iter()
                    .filter(|(k, _)| !k.starts_with("io.oxpod."))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                ..spec::PodSpec::default()
            },
            containers: vec![view.clone()],
        };
        let (meta, spec, ports) = self.map_pod(engine, &pod)?;
        self.wrap(meta, spec, ports);
        Ok(())
    }

    /// A plain pod written as `--type` (a Pod by default), remembered for `--service`.
    fn wrap(&mut self, mut meta: Value, mut spec: Value, ports: Vec<Value>) {
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let ns = meta["namespace"].as_str().unwrap_or("default").to_string();
        let workload = self.options.workload.unwrap_or_default();
        let needs_selector = self.options.service || workload != WorkloadType::Pod;
        if needs_selector && meta.pointer("/labels").is_none_or(is_empty_map) {
            meta["labels"] = json!({ "app": name });
        }
        let labels = meta["labels"].as_object().cloned().unwrap_or_default();
        if self.options.service {
            self.service_candidates.push(ServiceCandidate {
                namespace: ns.clone(),
                name: name.clone(),
                selector: labels.clone(),
                ports,
            });
        }
        self.collect_references(&ns, &spec);
        let template_meta = json!({
            "labels": meta["labels"].clone(),
            "annotations": meta.get("annotations").cloned().unwrap_or(Value::Null),
        });
        let object_meta = {
            let mut m = json!({ "name": name, "labels": meta["labels"].clone() });
            if let Some(ns) = meta.get("namespace") {
                m["namespace"] = ns.clone();
            }
            m
        };
        let selector = json!({ "matchLabels": labels });
        let replicas = self
            .options
            .replicas
            .map(|r| json!(r))
            .unwrap_or(Value::Null);
        // A controller's pods always restart; only a Job's (and a lone Pod's) may end.
        if matches!(
            workload,
            WorkloadType::Deployment | WorkloadType::StatefulSet | WorkloadType::DaemonSet
        ) && let Some(policy) = spec.as_object_mut().and_then(|m| m.remove("restartPolicy"))
            && policy != "Always"
        {
            self.note(format!(
                "pod {name}: restartPolicy {} becomes Always (a {workload:?}'s pods always restart)",
                policy.as_str().unwrap_or_default()
            ));
        }
        let object = match workload {
            WorkloadType::Pod => {
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
            }
            WorkloadType::Deployment => json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": object_meta,
                "spec": {"replicas": replicas, "selector": selector,
                         "template": {"metadata": template_meta, "spec": spec}}
            }),
            WorkloadType::StatefulSet => json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": object_meta,
                "spec": {"replicas": replicas, "selector": selector, "serviceName": name,
                         "template": {"metadata": template_meta, "spec": spec}}
            }),
            WorkloadType::DaemonSet => json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": object_meta,
                "spec": {"selector": selector,
                         "template": {"metadata": template_meta, "spec": spec}}
            }),
            WorkloadType::Job => {
                // A Job's pods must end: Always is not allowed.
                if spec.get("restartPolicy").is_none_or(|p| p == "Always") {
                    spec["restartPolicy"] = json!("Never");
                }
                json!({
                    "apiVersion": "batch/v1", "kind": "Job", "metadata": object_meta,
                    "spec": {"template": {"metadata": template_meta, "spec": spec}}
                })
            }
        };
        if self.options.replicas.is_some()
            && !matches!(
                workload,
                WorkloadType::Deployment | WorkloadType::StatefulSet
            )
        {
            self.note("--replicas applies to --type deployment or statefulset only".into());
        }
        self.push(object);
    }

    /// A played object, from the engine's state now.
    fn played(&mut self, engine: &mut Engine, r: &ObjectRef) -> Result<(), miette::Report> {
        let record = engine
            .kube_record(&played_kind(&r.kind), &r.namespace, &r.name)?
            .ok_or_else(|| {
                miette::miette!(
                    "{} {}/{} was not played here (or was taken down)",
                    r.kind,
                    r.namespace,
                    r.name
                )
            })?;
        match r.kind.as_str() {
            "ConfigMap" | "Secret" => self.keyed(engine, &r.kind, &r.namespace, &r.name, true),
            "PersistentVolumeClaim" | "Namespace" => {
                self.push(record);
                Ok(())
            }
            "Service" => {
                self.push(record);
                Ok(())
            }
            "Pod" => {
                let pods = owned_pods(engine, r)?;
                let Some(pod) = pods.first() else {
                    return Err(miette::miette!(
                        "pod {} of {} is gone (removed since it was played)",
                        r.name,
                        r.namespace
                    ));
                };
                let spec = self.reconcile(engine, &record["spec"], pod)?;
                let mut object = record.clone();
                object["spec"] = spec;
                self.collect_references(&r.namespace, &object["spec"]);
                self.push(object);
                Ok(())
            }
            kind => {
                let pods = owned_pods(engine, r)?;
                let mut object = record.clone();
                if matches!(kind, "Deployment" | "ReplicaSet" | "StatefulSet") {
                    object["spec"]["replicas"] = json!(pods.len());
                }
                if let Some(first) = pods.first() {
                    let spec =
                        self.reconcile(engine, &record["spec"]["template"]["spec"], first)?;
                    object["spec"]["template"]["spec"] = spec;
                }
                self.collect_references(&r.namespace, &object["spec"]["template"]["spec"]);
                self.push(object);
                Ok(())
            }
        }
    }

    /// A played pod template brought up to date with the pod: containers removed since are
    /// left out, containers added since (`run --pod`) are mapped and added.
    fn reconcile(
        &mut self,
        engine: &mut Engine,
        template: &Value,
        view: &PodView,
    ) -> Result<Value, miette::Report> {
        let mut spec = template.clone();
        let declared: Vec<(bool, Value)> = ["initContainers", "containers"]
            .iter()
            .flat_map(|key| {
                template[*key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |c| (*key == "initContainers", c.clone()))
            })
            .collect();
        let mut init = Vec::new();
        let mut regular = Vec::new();
        let mut volumes: Vec<Value> = template["volumes"].as_array().cloned().unwrap_or_default();
        for c in &view.containers {
            let played = c
                .spec
                .annotations
                .get(CONTAINER)
                .and_then(|name| declared.iter().find(|(_, d)| d["name"] == json!(name)));
            match played {
                Some((is_init, declared)) => {
                    if *is_init {
                        init.push(declared.clone());
                    } else {
                        regular.push(declared.clone());
                    }
                }
                None => {
                    let mapped = self.map_container(engine, view, c, &mut volumes)?;
                    if c.spec.init_container {
                        init.push(mapped);
                    } else {
                        regular.push(mapped);
                    }
                }
            }
        }
        spec["initContainers"] = json!(init);
        spec["containers"] = json!(regular);
        spec["volumes"] = json!(volumes);
        Ok(spec)
    }

    /// A plain engine pod: metadata, pod spec and the ports it serves (for `--service`).
    fn map_pod(
        &mut self,
        engine: &mut Engine,
        view: &PodView,
    ) -> Result<(Value, Value, Vec<Value>), miette::Report> {
        let name = kube_name(&view.name);
        if name != view.name {
            self.note(format!(
                "pod {}: written as {name} (Kubernetes names are lowercase DNS labels)",
                view.name
            ));
        }
        let p = &view.spec;
        let mut spec = json!({});
        let mut volumes = Vec::new();
        let mut init = Vec::new();
        let mut regular = Vec::new();
        for c in &view.containers {
            let mapped = self.map_container(engine, view, c, &mut volumes)?;
            if c.spec.init_container {
                init.push(mapped);
            } else {
                regular.push(mapped);
            }
        }
        // Published ports go to the container that declares the port, else the first.
        let mut service_ports = Vec::new();
        for m in &p.publish {
            for mut port in container_ports(m) {
                let container_port = port["containerPort"].as_u64().unwrap_or_default() as u16;
                if let Some((name, _)) = p.named_ports.iter().find(|(_, n)| **n == container_port) {
                    port["name"] = json!(name);
                }
                service_ports.push(port.clone());
                let owner = regular
                    .iter()
                    .position(|c| {
                        c["ports"].as_array().is_some_and(|ps| {
                            ps.iter()
                                .any(|x| x["containerPort"] == json!(container_port))
                        })
                    })
                    .unwrap_or(0);
                if let Some(c) = regular.get_mut(owner) {
                    let ports = c
                        .as_object_mut()
                        .expect("a container is an object")
                        .entry("ports")
                        .or_insert_with(|| json!([]));
                    let list = ports.as_array_mut().expect("ports is a list");
                    list.retain(|x| x["containerPort"] != json!(container_port));
                    list.push(port);
                }
            }
        }
        for c in &regular {
            for port in c["ports"].as_array().into_iter().flatten() {
                if !service_ports
                    .iter()
                    .any(|s| s["containerPort"] == port["containerPort"])
                {
                    service_ports.push(port.clone());
                }
            }
        }
        // Pod-level fields the containers share.
        let first = view
            .containers
            .iter()
            .find(|c| !c.spec.init_container)
            .map(|c| &c.spec);
        if let Some(c) = first {
            spec["restartPolicy"] = json!(match c.restart {
                RestartPolicy::Always | RestartPolicy::UnlessStopped => "Always",
                RestartPolicy::OnFailure { .. } => "OnFailure",
                RestartPolicy::No => "Never",
            });
            if let RestartPolicy::OnFailure {
                max_retries: Some(n),
            } = c.restart
            {
                self.note(format!(
                    "pod {name}: the retry limit of --restart on-failure:{n} has no Kubernetes form"
                ));
            }
            if matches!(c.restart, RestartPolicy::UnlessStopped) {
                self.note(format!(
                    "pod {name}: --restart unless-stopped is written as restartPolicy Always"
                ));
            }
            spec["terminationGracePeriodSeconds"] = json!(c.stop_timeout);
            let mut security = json!({});
            if !c.group_add.is_empty() {
                security["supplementalGroups"] = json!(c.group_add);
            }
            if !c.sysctls.is_empty() {
                security["sysctls"] = json!(
                    c.sysctls
                        .iter()
                        .map(|(k, v)| json!({"name": k, "value": v}))
                        .collect::<Vec<_>>()
                );
            }
            spec["securityContext"] = security;
        }
        if let Some(h) = &p.hostname
            && *h != name
        {
            spec["hostname"] = json!(h);
        }
        match &p.network {
            NetworkMode::Host => spec["hostNetwork"] = json!(true),
            NetworkMode::Bridge { network, aliases } => {
                if network != spec::DEFAULT_NETWORK {
                    self.note(format!(
                        "pod {name}: network {network} has no Kubernetes form (play with --network {network})"
                    ));
                }
                if !aliases.is_empty() {
                    self.note(format!(
                        "pod {name}: network aliases {} have no Kubernetes form",
                        aliases.join(", ")
                    ));
                }
            }
            NetworkMode::None => self.note(format!(
                "pod {name}: --network none has no Kubernetes form; the pod gets a network"
            )),
            other => self.note(format!(
                "pod {name}: network mode {other} has no Kubernetes form"
            )),
        }
        if p.share.pid {
            spec["shareProcessNamespace"] = json!(true);
        }
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for h in &p.add_hosts {
            aliases
                .entry(h.ip.to_string())
                .or_default()
                .push(h.name.clone());
        }
        spec["hostAliases"] = json!(
            aliases
                .into_iter()
                .map(|(ip, names)| json!({"ip": ip, "hostnames": names}))
                .collect::<Vec<_>>()
        );
        if !p.dns.is_empty() || !p.dns_search.is_empty() {
            spec["dnsConfig"] = json!({
                "nameservers": p.dns.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                "searches": p.dns_search,
            });
        }
        spec["initContainers"] = json!(init);
        spec["containers"] = json!(regular);
        spec["volumes"] = json!(volumes);
        let ns = p.namespace.as_deref();
        let meta = pod_metadata(view, &name, ns);
        Ok((meta, spec, service_ports))
    }

    /// One container's spec as a Kubernetes container; the volumes it needs are added to
    /// `volumes` (by name, once).
    fn map_container(
        &mut self,
        engine: &mut Engine,
        pod: &PodView,
        view: &ContainerView,
        volumes: &mut Vec<Value>,
    ) -> Result<Value, miette::Report> {
        let s = &view.spec;
        let name = {
            let short = view
                .name
                .strip_prefix(&format!("{}-", pod.name))
                .filter(|n| !n.is_empty())
                .unwrap_or(&view.name);
            kube_name(short)
        };
        let who = format!("container {}", view.name);
        let image = engine
            .image_defaults(if s.image_id.is_empty() {
                &s.image
            } else {
                &s.image_id
            })
            .unwrap_or(Value::Null);
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        };
        let image_entrypoint = strings(&image["Entrypoint"]);
        let image_cmd = strings(&image["Cmd"]);
        let image_env = strings(&image["Env"]);
        let mut c = json!({ "name": name, "image": s.image });
        // The engine's rules: an entrypoint replaces the image's and drops its cmd; a command
        // replaces the cmd. Kubernetes': `command` replaces the entrypoint (and drops the
        // cmd), `args` replaces the cmd.
        if let Some(ep) = &s.entrypoint
            && (*ep != image_entrypoint || !image_cmd.is_empty())
        {
            c["command"] = json!(ep);
        }
        if let Some(cmd) = &s.command
            && (s.entrypoint.is_some() || *cmd != image_cmd)
            && !(s.entrypoint.is_some() && cmd.is_empty())
        {
            c["args"] = json!(cmd);
        }
        if let Some(w) = &s.workdir {
            let image_wd = image["WorkingDir"].as_str().unwrap_or_default();
            if Path::new(image_wd) != w.as_path() {
                c["workingDir"] = json!(w.display().to_string());
            }
        }
        let mut env: Vec<Value> = s
            .env
            .iter()
            .filter(|e| !image_env.contains(e))
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        let mut env_from = Vec::new();
        for se in &s.secret_env {
            let optional = se.optional.then_some(true);
            match &se.key {
                Some(key) => env.push(json!({"name": se.var, "valueFrom": {"secretKeyRef": {
                    "name": se.secret, "key": key, "optional": optional}}})),
                None => env_from.push(
                    json!({"prefix": if se.var.is_empty() { Value::Null } else { json!(se.var) },
                    "secretRef": {"name": se.secret, "optional": optional}}),
                ),
            }
        }
        c["env"] = json!(env);
        c["envFrom"] = json!(env_from);
        // A lone container's own published ports (a pod's are placed by the caller).
        let ports: Vec<Value> = s.publish.iter().flat_map(container_ports).collect();
        if s.publish_all {
            self.note(format!(
                "{who}: -P (publish every exposed port on a random host port) has no Kubernetes form"
            ));
        }
        c["ports"] = json!(ports);
        let mut mounts = Vec::new();
        for m in &s.mounts {
            let dest = m.destination.display().to_string();
            let (volume_name, volume) = match &m.kind {
                MountKind::Volume { name } => (
                    kube_name(name),
                    json!({"persistentVolumeClaim": {"claimName": name}}),
                ),
                MountKind::Bind { source } => (
                    kube_name(&format!("host{}", source.display())),
                    json!({"hostPath": {"path": source.display().to_string()}}),
                ),
                MountKind::Tmpfs { size, mode, flags } => {
                    if mode.is_some() || !flags.is_empty() {
                        self.note(format!(
                            "{who}: the mode and mount options of the tmpfs at {dest} have no Kubernetes form"
                        ));
                    }
                    let mut e = json!({"medium": "Memory"});
                    if let Some(size) = size {
                        e["sizeLimit"] = json!(quantity_of_bytes(*size));
                    }
                    (kube_name(&format!("tmpfs{dest}")), json!({"emptyDir": e}))
                }
                MountKind::Anonymous => {
                    self.note(format!(
                        "{who}: the anonymous volume at {dest} is written as an emptyDir (its data is not carried)"
                    ));
                    (kube_name(&format!("anon{dest}")), json!({"emptyDir": {}}))
                }
            };
            if let MountKind::Volume { name } = &m.kind {
                self.references.insert((
                    "PersistentVolumeClaim".into(),
                    pod.spec
                        .namespace
                        .clone()
                        .unwrap_or_else(|| "default".into()),
                    name.clone(),
                ));
            }
            let mut volume = volume;
            volume["name"] = json!(volume_name);
            if !volumes.iter().any(|v| v["name"] == volume["name"]) {
                volumes.push(volume);
            }
            let mut mount = json!({"name": volume_name, "mountPath": dest});
            if m.read_only {
                mount["readOnly"] = json!(true);
            }
            if m.chown {
                self.note(format!(
                    "{who}: the :U chown of {dest} has no Kubernetes form"
                ));
            }
            mounts.push(mount);
        }
        c["volumeMounts"] = json!(mounts);
        let mut limits = Map::new();
        if let Some(m) = s.resources.memory {
            limits.insert("memory".into(), json!(quantity_of_bytes(m as u64)));
        }
        if let Some(cpus) = s.resources.cpus {
            limits.insert("cpu".into(), json!(quantity_of_cpus(cpus)));
        }
        let mut requests: Map<String, Value> = s
            .annotations
            .get("io.oxpod.kube/requests")
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default();
        if requests.is_empty()
            && let Some(shares) = s.resources.cpu_shares
        {
            requests.insert(
                "cpu".into(),
                json!(quantity_of_cpus(shares as f64 / 1024.0)),
            );
        }
        c["resources"] = json!({"limits": limits, "requests": requests});
        if s.resources.memory_swap.is_some() {
            self.note(format!("{who}: --memory-swap has no Kubernetes form"));
        }
        if s.resources.pids_limit.is_some() {
            self.note(format!("{who}: --pids-limit has no Kubernetes form"));
        }
        let mut security = json!({});
        if let Some(user) = &s.user {
            let (u, g) = match user.split_once(':') {
                Some((u, g)) => (u, Some(g)),
                None => (user.as_str(), None),
            };
            match u.parse::<i64>() {
                Ok(uid) => security["runAsUser"] = json!(uid),
                Err(_) => self.note(format!(
                    "{who}: user {u:?} is a name; Kubernetes takes only numeric IDs (runAsUser)"
                )),
            }
            if let Some(g) = g {
                match g.parse::<i64>() {
                    Ok(gid) => security["runAsGroup"] = json!(gid),
                    Err(_) => self.note(format!(
                        "{who}: group {g:?} is a name; Kubernetes takes only numeric IDs (runAsGroup)"
                    )),
                }
            }
        }
        if s.run_as_non_root {
            security["runAsNonRoot"] = json!(true);
        }
        if s.privileged {
            security["privileged"] = json!(true);
        }
        if s.read_only {
            security["readOnlyRootFilesystem"] = json!(true);
        }
        if s.no_new_privileges {
            security["allowPrivilegeEscalation"] = json!(false);
        }
        let caps = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|c| {
                    let c = c.to_ascii_uppercase();
                    c.strip_prefix("CAP_").map(String::from).unwrap_or(c)
                })
                .collect()
        };
        security["capabilities"] = json!({"add": caps(&s.cap_add), "drop": caps(&s.cap_drop)});
        match &s.seccomp {
            Seccomp::Default => {}
            Seccomp::Unconfined => security["seccompProfile"] = json!({"type": "Unconfined"}),
            Seccomp::Profile(path) => {
                security["seccompProfile"] =
                    json!({"type": "Localhost", "localhostProfile": path.display().to_string()})
            }
        }
        c["securityContext"] = security;
        if s.tty {
            c["tty"] = json!(true);
        }
        if s.stdin {
            c["stdin"] = json!(true);
        }
        for (key, probe) in [
            ("livenessProbe", &s.probes.liveness),
            ("readinessProbe", &s.probes.readiness),
            ("startupProbe", &s.probes.startup),
        ] {
            if let Some(p) = probe {
                c[key] = probe_of(p);
            }
        }
        if let Some(h) = &s.healthcheck
            && !h.is_disabled()
            && s.probes.liveness.is_none()
        {
            let command = match h.test.first().map(String::as_str) {
                Some("CMD-SHELL") => vec![
                    "/bin/sh".to_string(),
                    "-c".to_string(),
                    h.test[1..].join(" "),
                ],
                _ => h.test.iter().skip(1).cloned().collect(),
            };
            c["livenessProbe"] = json!({
                "exec": {"command": command},
                "periodSeconds": h.interval.as_secs().max(1),
                "timeoutSeconds": h.timeout.as_secs().max(1),
                "initialDelaySeconds": h.start_period.as_secs(),
                "failureThreshold": h.retries.max(1),
            });
        }
        let mut lifecycle = json!({});
        if let Some(a) = &s.lifecycle.post_start {
            lifecycle["postStart"] = action_of(a);
        }
        if let Some(a) = &s.lifecycle.pre_stop {
            lifecycle["preStop"] = action_of(a);
        }
        c["lifecycle"] = lifecycle;
        // What has no Kubernetes form is said, never dropped silently.
        let pod_labels = &pod.spec.labels;
        let own_labels: Vec<&str> = s
            .labels
            .iter()
            .filter(|(k, v)| pod_labels.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .collect();
        if !own_labels.is_empty() {
            self.note(format!(
                "{who}: container labels ({}) have no Kubernetes form (labels are the pod's)",
                own_labels.join(", ")
            ));
        }
        let own_annotations: Vec<&str> = s
            .annotations
            .iter()
            .filter(|(k, v)| !k.starts_with("io.oxpod.") && pod.spec.annotations.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .collect();
        if !own_annotations.is_empty() {
            self.note(format!(
                "{who}: container annotations ({}) have no Kubernetes form",
                own_annotations.join(", ")
            ));
        }
        if s.stop_signal != nix::sys::signal::Signal::SIGTERM {
            self.note(format!(
                "{who}: stop signal {} has no Kubernetes form (Kubernetes sends SIGTERM)",
                s.stop_signal
            ));
        }
        for (flag, set) in [
            ("--init", s.init),
            ("--rm", s.auto_remove),
            ("--ulimit", !s.ulimits.is_empty()),
            ("--shm-size", s.shm_size.is_some()),
            ("--runtime", s.runtime.is_some()),
        ] {
            if set {
                self.note(format!("{who}: {flag} has no Kubernetes form"));
            }
        }
        if s.pod.is_some() {
            // Inside a pod the pod's network, hosts and DNS apply; these flags were the
            // container's own.
            if s.hostname.is_some() {
                self.note(format!(
                    "{who}: its own --hostname is left out; the pod's hostname applies"
                ));
            }
            if !s.add_hosts.is_empty() || !s.dns.is_empty() || !s.dns_search.is_empty() {
                self.note(format!(
                    "{who}: its own --add-host/--dns settings are left out; the pod's apply"
                ));
            }
        }
        Ok(c)
    }

    /// A named volume as a claim: as played, or a minimal one.
    fn claim(&mut self, engine: &mut Engine, ns: &str, name: &str) -> Result<(), miette::Report> {
        if let Some(record) = engine.kube_record(&played_kind("PersistentVolumeClaim"), ns, name)? {
            self.push(record);
            return Ok(());
        }
        engine.volume_info(name)?;
        let mut meta = json!({ "name": name });
        if ns != "default" {
            meta["namespace"] = json!(ns);
        }
        self.push(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta,
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            }
        }));
        Ok(())
    }

    /// A stored ConfigMap or Secret. Secrets are written only with `--include-secrets`.
    fn keyed(
        &mut self,
        engine: &mut Engine,
        kind: &str,
        ns: &str,
        name: &str,
        asked: bool,
    ) -> Result<(), miette::Report> {
        let data_kind = if kind == "Secret" {
            DataKind::Secret
        } else {
            DataKind::ConfigMap
        };
        if data_kind == DataKind::Secret && !self.options.include_secrets {
            self.note(format!(
                "Secret {ns}/{name} is referenced but not written (its data is secret); add --include-secrets to write it"
            ));
            return Ok(());
        }
        let Some(data) = engine.keyed_data(data_kind, ns, name)? else {
            if asked {
                return Err(miette::miette!("no {kind} {ns}/{name} is stored"));
            }
            self.note(format!(
                "{kind} {ns}/{name} is referenced but not stored here; not written"
            ));
            return Ok(());
        };
        let stored = engine
            .kube_record(data_kind.as_str(), ns, name)?
            .unwrap_or_default();
        let meta = &stored["meta"];
        let mut metadata = json!({
            "name": name,
            "labels": meta["labels"].clone(),
            "annotations": meta["annotations"].clone(),
        });
        if ns != "default" {
            metadata["namespace"] = json!(ns);
        }
        use base64::Engine as _;
        let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
        let object = match data_kind {
            DataKind::ConfigMap => {
                let binary: BTreeSet<String> = meta["binaryKeys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect();
                let mut text = Map::new();
                let mut bytes = Map::new();
                for (k, v) in &data {
                    match std::str::from_utf8(v) {
                        Ok(s) if !binary.contains(k) => {
                            text.insert(k.clone(), json!(s));
                        }
                        _ => {
                            bytes.insert(k.clone(), json!(b64(v)));
                        }
                    }
                }
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                       "data": text, "binaryData": bytes})
            }
            DataKind::Secret => {
                let encoded: Map<String, Value> = data
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(b64(v))))
                    .collect();
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
                       "type": meta["type"].clone(), "data": encoded})
            }
        };
        self.push(object);
        Ok(())
    }

    /// ConfigMaps, Secrets and claims a pod spec refers to.
    fn collect_references(&mut self, ns: &str, spec: &Value) {
        let mut add = |kind: &str, name: &Value| {
            if let Some(name) = name.as_str() {
                self.references
                    .insert((kind.to_string(), ns.to_string(), name.to_string()));
            }
        };
        for key in ["initContainers", "containers"] {
            for c in spec[key].as_array().into_iter().flatten() {
                for e in c["env"].as_array().into_iter().flatten() {
                    add("ConfigMap", &e["valueFrom"]["configMapKeyRef"]["name"]);
                    add("Secret", &e["valueFrom"]["secretKeyRef"]["name"]);
                }
                for e in c["envFrom"].as_array().into_iter().flatten() {
                    add("ConfigMap", &e["configMapRef"]["name"]);
                    add("Secret", &e["secretRef"]["name"]);
                }
            }
        }
        for v in spec["volumes"].as_array().into_iter().flatten() {
            add("ConfigMap", &v["configMap"]["name"]);
            add("Secret", &v["secret"]["secretName"]);
            add(
                "PersistentVolumeClaim",
                &v["persistentVolumeClaim"]["claimName"],
            );
            for s in v["projected"]["sources"].as_array().into_iter().flatten() {
                add("ConfigMap", &s["configMap"]["name"]);
                add("Secret", &s["secret"]["name"]);
            }
        }
    }

    /// Referenced objects and Services added; objects in dependency order.
    fn finish(mut self, engine: &mut Engine) -> Result<Generated, miette::Report> {
        let references = std::mem::take(&mut self.references);
        for (kind, ns, name) in references {
            let key = (rank(&kind), format!("{kind}/{ns}"), name.clone());
            if self.objects.contains_key(&key) {
                continue;
            }
            match kind.as_str() {
                "PersistentVolumeClaim" => {
                    if engine.volume_info(&name).is_ok() {
                        self.claim(engine, &ns, &name)?;
                    } else {
                        self.note(format!(
                            "claim {name} is referenced but has no volume here; not written"
                        ));
                    }
                }
                _ => self.keyed(engine, &kind, &ns, &name, false)?,
            }
        }
        for candidate in std::mem::take(&mut self.service_candidates) {
            self.service(candidate);
        }
        Ok(Generated {
            objects: self.objects.into_values().collect(),
            notes: self.notes,
        })
    }

    /// `--service`: a Service for a plain pod's ports. Published ports in the NodePort range
    /// move to the Service (as nodePorts, the host port kept), so the pod and the Service do
    /// not both claim them when played back.
    fn service(&mut self, candidate: ServiceCandidate) {
        if candidate.ports.is_empty() {
            self.note(format!(
                "pod {}: no published or declared ports; no Service written",
                candidate.name
            ));
            return;
        }
        let mut ports = Vec::new();
        let mut node_ports = BTreeSet::new();
        for p in &candidate.ports {
            let container_port = p["containerPort"].as_u64().unwrap_or_default();
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            let mut port = json!({
                "name": p["name"].as_str().map(String::from)
                    .unwrap_or_else(|| format!("{}-{container_port}", protocol.to_ascii_lowercase())),
                "port": container_port,
                "targetPort": container_port,
                "protocol": protocol,
            });
            if let Some(host) = p["hostPort"].as_u64() {
                if (30000..=32767).contains(&host) {
                    port["nodePort"] = json!(host);
                    node_ports.insert((container_port, protocol.to_string()));
                } else {
                    self.note(format!(
                        "pod {}: host port {host} is outside the NodePort range (30000-32767); it stays the pod's hostPort",
                        candidate.name
                    ));
                }
            }
            ports.push(port);
        }
        let node_port = !node_ports.is_empty();
        // The pod gives up the host ports the Service now publishes.
        let key_prefix = format!("Pod/{}", candidate.namespace);
        for ((_, kind_ns, name), object) in self.objects.iter_mut() {
            if *name != candidate.name {
                continue;
            }
            let spec = if *kind_ns == key_prefix {
                object.get_mut("spec")
            } else {
                object.pointer_mut("/spec/template/spec")
            };
            let Some(spec) = spec else { continue };
            let containers = spec.get_mut("containers").and_then(Value::as_array_mut);
            for c in containers.into_iter().flatten() {
                let ports = c.get_mut("ports").and_then(Value::as_array_mut);
                for p in ports.into_iter().flatten() {
                    let protocol = p["protocol"].as_str().unwrap_or("TCP").to_string();
                    let cp = p["containerPort"].as_u64().unwrap_or_default();
                    if node_ports.contains(&(cp, protocol))
                        && let Some(m) = p.as_object_mut()
                    {
                        m.remove("hostPort");
                        m.remove("hostIP");
                    }
                }
            }
        }
        let mut meta = json!({"name": candidate.name});
        if candidate.namespace != "default" {
            meta["namespace"] = json!(candidate.namespace);
        }
        self.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": if node_port { "NodePort" } else { "ClusterIP" },
                "selector": candidate.selector,
                "ports": ports,
            }
        }));
    }
}

/// The pod template a played object declared.
fn template_spec<'v>(kind: &str, record: &'v Value) -> &'v Value {
    if kind == "Pod" {
        &record["spec"]
    } else {
        &record["spec"]["template"]["spec"]
    }
}

/// The engine pods a played object owns, by ordinal.
fn owned_pods(engine: &mut Engine, r: &ObjectRef) -> Result<Vec<PodView>, miette::Report> {
    let mut pods: Vec<PodView> = engine
        .pod_views()?
        .into_iter()
        .filter(|p| {
            let a = &p.spec.annotations;
            a.get(OWNER_KIND) == Some(&r.kind)
                && a.get(OWNER_NAME) == Some(&r.name)
                && a.get(NAMESPACE) == Some(&r.namespace)
        })
        .collect();
    pods.sort_by_key(|p| {
        p.spec
            .annotations
            .get(ORDINAL)
            .and_then(|o| o.parse::<usize>().ok())
            .unwrap_or(0)
    });
    Ok(pods)
}

fn pod_metadata(view: &PodView, name: &str, namespace: Option<&str>) -> Value {
    let annotations: BTreeMap<&String, &String> = view
        .spec
        .annotations
        .iter()
        .filter(|(k, _)| !k.starts_with("io.oxpod."))
        .collect();
    let mut meta = json!({
        "name": name,
        "labels": view.spec.labels,
        "annotations": annotations,
    });
    if let Some(ns) = namespace
        && ns != "default"
    {
        meta["namespace"] = json!(ns);
    }
    meta
}

/// A published mapping (a range counts port by port) as container ports with their host side.
fn container_ports(m: &crate::engine::PortMapping) -> Vec<Value> {
    (0..m.range.max(1))
        .map(|i| {
            let mut port = json!({"containerPort": m.container_port + i});
            if m.host_port != 0 {
                port["hostPort"] = json!(m.host_port + i);
            }
            if let Some(ip) = m.host_ip {
                port["hostIP"] = json!(ip.to_string());
            }
            if m.protocol == Protocol::Udp {
                port["protocol"] = json!("UDP");
            }
            port
        })
        .collect()
}

fn probe_of(p: &Probe) -> Value {
    let mut v = action_of(&p.action);
    v["initialDelaySeconds"] = json!(p.initial_delay.as_secs());
    v["periodSeconds"] = json!(p.period.as_secs());
    v["timeoutSeconds"] = json!(p.timeout.as_secs());
    v["successThreshold"] = json!(p.success_threshold);
    v["failureThreshold"] = json!(p.failure_threshold);
    v
}

fn action_of(a: &ProbeAction) -> Value {
    match a {
        ProbeAction::Exec { command } => json!({"exec": {"command": command}}),
        ProbeAction::Http {
            host,
            port,
            path,
            scheme,
            headers,
        } => json!({"httpGet": {
            "host": host, "port": port, "path": path, "scheme": scheme.to_ascii_uppercase(),
            "httpHeaders": headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        }}),
        ProbeAction::Tcp { host, port } => json!({"tcpSocket": {"host": host, "port": port}}),
        ProbeAction::Grpc { port, service } => {
            json!({"grpc": {"port": port, "service": service}})
        }
        ProbeAction::Sleep { seconds } => json!({"sleep": {"seconds": seconds}}),
    }
}

/// Bytes as the shortest exact quantity (`512Mi`, `1Gi`, or plain bytes).
fn quantity_of_bytes(bytes: u64) -> String {
    for (suffix, factor) in [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes >= factor && bytes.is_multiple_of(factor) {
            return format!("{}{suffix}", bytes / factor);
        }
    }
    bytes.to_string()
}

/// Cores as a quantity (`2`, `500m`).
fn quantity_of_cpus(cpus: f64) -> String {
    let milli = (cpus * 1000.0).round() as u64;
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

/// A name made a DNS label: lowercase, `[a-z0-9-]`, at most 63 characters, starting and
/// ending alphanumeric.
fn kube_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-');
    let mut out: String = out.chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "x".into() } else { out }
}

fn is_empty_map(v: &Value) -> bool {
    v.as_object().is_none_or(Map::is_empty)
}

/// Normalise for comparison: defaults filled, empties dropped, keys sorted.
pub fn normalize(object: &Value) -> Value {
    defaults::normalize(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_the_shortest_exact_form() {
        assert_eq!(quantity_of_bytes(512 << 20), "512Mi");
        assert_eq!(quantity_of_bytes(1 << 30), "1Gi");
        assert_eq!(quantity_of_bytes(1536 << 20), "1536Mi");
        assert_eq!(quantity_of_bytes(1000), "1000");
        assert_eq!(quantity_of_cpus(0.5), "500m");
        assert_eq!(quantity_of_cpus(2.0), "2");
        assert_eq!(quantity_of_cpus(0.25), "250m");
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(kube_name("web"), "web");
        assert_eq!(kube_name("My_App.1"), "my-app-1");
        assert_eq!(kube_name("host/srv/data"), "host-srv-data");
        assert_eq!(kube_name("__"), "x");
        assert_eq!(kube_name(&"a".repeat(70)).len(), 63);
    }

    #[test]
    fn kinds_have_short_names() {
        assert_eq!(kind_of("deploy"), Some("Deployment"));
        assert_eq!(kind_of("Deployment"), Some("Deployment"));
        assert_eq!(kind_of("svc"), Some("Service"));
        assert_eq!(kind_of("pvc"), Some("PersistentVolumeClaim"));
        assert_eq!(kind_of("widget"), None);
    }
}
