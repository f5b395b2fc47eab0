//! `kube apply`: Kubernetes objects pushed to a real cluster with server-side apply.
//!
//! The input is checked exactly as `kube play` checks it, limited to the kinds play understands
//! (custom resources are refused), resolved against the server's API discovery, and applied in
//! dependency order (Namespaces, ConfigMaps, Secrets, claims, Services, then workloads) as
//! `application/apply-patch+yaml` with field manager `oxpod`. Everything that can be refused
//! before a write (unknown kinds, namespace mismatches) is refused before the first write; the
//! first object the server refuses stops the apply, and the report says which objects were
//! applied and which were not. Every applied object carries the labels `--prune` looks for.
//!
//! The client is the `kube` crate's, on a current-thread tokio runtime owned by [`Cluster`].

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PropagationPolicy,
};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Discovery, Scope};
use miette::IntoDiagnostic;
use serde_json::Value;

use super::kubeconfig::{self, KubeconfigOptions};
use super::validate;
use super::yaml::{self, Document, KubeErrors, Object, Source};

/// The field manager of every apply: the server records which fields oxpod set.
pub const FIELD_MANAGER: &str = "oxpod";
/// Set on every applied object (with value [`FIELD_MANAGER`]); `--prune` only ever deletes
/// objects that carry it and [`APPLY_SET_LABEL`].
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The apply set an object belongs to: `--prune-set`, or a name taken from the input.
pub const APPLY_SET_LABEL: &str = "oxpod.io/apply-set";

/// How often `--wait` asks the server again.
const WAIT_POLL: Duration = Duration::from_millis(500);

/// The kinds apply handles (those play understands) with their rank: lower ranks are applied
/// first because higher ones refer to them (a Pod mounts a ConfigMap, a claim lives in a
/// Namespace). Within a rank, input order is kept.
const KINDS: [(&str, &str, &str, u8); 12] = [
    (Namespace::GROUP, Namespace::VERSION, Namespace::KIND, 0),
    (ConfigMap::GROUP, ConfigMap::VERSION, ConfigMap::KIND, 1),
    (Secret::GROUP, Secret::VERSION, Secret::KIND, 2),
    (
        PersistentVolumeClaim::GROUP,
        PersistentVolumeClaim::VERSION,
        PersistentVolumeClaim::KIND,
        3,
    ),
    (Service::GROUP, Service::VERSION, Service::KIND, 4),
    (Pod::GROUP, Pod::VERSION, Pod::KIND, 5),
    (Deployment::GROUP, Deployment::VERSION, Deployment::KIND, 5),
    (ReplicaSet::GROUP, ReplicaSet::VERSION, ReplicaSet::KIND, 5),
    (
        StatefulSet::GROUP,
        StatefulSet::VERSION,
        StatefulSet::KIND,
        5,
    ),
    (DaemonSet::GROUP, DaemonSet::VERSION, DaemonSet::KIND, 5),
    (Job::GROUP, Job::VERSION, Job::KIND, 5),
    (CronJob::GROUP, CronJob::VERSION, CronJob::KIND, 5),
];

fn rank(kind: &str) -> u8 {
    KINDS.iter().find(|k| k.2 == kind).map_or(u8::MAX, |k| k.3)
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

/// The documents, checked as `kube play` checks them (every error at its file, line and
/// column) and limited to the kinds apply handles.
///
/// Play's warnings are dropped: they say which fields a local play does not honour, and a
/// cluster honours them.
pub fn check(docs: &[Document]) -> Result<Vec<Document>, KubeErrors> {
    let (checked, _warnings) = validate::check(docs, false, None)?;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (doc, object) in checked.objects {
        if let Object::Other { api_version, kind } = &object {
            let handled: Vec<&str> = KINDS.iter().map(|k| k.2).collect();
            errors.push(doc.error(
                "/kind",
                format!("kube apply does not handle {kind} ({api_version})"),
                Some(format!(
                    "it applies the kinds kube play understands: {}; custom resources are not applied",
                    handled.join(", ")
                )),
            ));
            continue;
        }
        out.push(doc);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(KubeErrors(errors))
    }
}

/// Generated objects (`kube generate` output) as documents of a source named `origin`, so
/// that they are checked, and their errors shown, like objects read from a file.
pub fn generated_documents(origin: &str, objects: &[Value]) -> Result<Vec<Document>, KubeErrors> {
    let source = Arc::new(Source::new(origin, yaml::to_yaml_documents(objects)));
    yaml::parse(&[source])
}

/// An apply-set name from `text` (a file stem, a pod name): what a label value allows, at
/// most 63 characters, starting and ending alphanumeric; `None` when nothing is left.
pub fn apply_set_name(text: &str) -> Option<String> {
    let kept: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let trimmed = kept.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

// ---------------------------------------------------------------------------------------------
// Options and report
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// `-n`: the namespace of objects that name none; objects naming another one are refused.
    /// `None`: the context's namespace.
    pub namespace: Option<String>,
    /// Take over fields another field manager owns instead of failing with a conflict.
    pub force_conflicts: bool,
    /// `--dry-run=server`: the server validates and answers, nothing is persisted.
    pub dry_run: bool,
    /// Delete objects of the apply set that the input no longer holds.
    pub prune: bool,
    /// The value of [`APPLY_SET_LABEL`] (a valid label value).
    pub apply_set: String,
}

/// An object on the server: what kubectl prints, `deployment.apps/web`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.to_ascii_lowercase();
        if self.group.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind}.{}/{}", self.group, self.name)
        }
    }
}

/// What an apply did to one object (kubectl's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Applied {
    pub object: ObjectRef,
    pub outcome: Outcome,
    resource: ApiResource,
}

/// Everything an apply did, in order, and what it did not do.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub dry_run: bool,
    pub applied: Vec<Applied>,
    /// The object the server refused (its message, at the object's file and line); the
    /// apply stopped there.
    pub failure: Option<miette::Report>,
    /// Objects after the failure, never sent.
    pub not_applied: Vec<ObjectRef>,
    pub pruned: Vec<ObjectRef>,
    /// Prune keeps going past a failed list or delete; each one is here.
    pub prune_errors: Vec<miette::Report>,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.failure.is_none() && self.prune_errors.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster
// ---------------------------------------------------------------------------------------------

/// A connection to the API server of a kubeconfig context.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    /// The context's name.
    pub context: String,
    /// The context's namespace (`default` when it names none).
    pub namespace: String,
    /// The API server's URL.
    pub server: String,
    /// The API server's version (`/version`'s `gitVersion`).
    pub version: String,
}

/// A checked document resolved against discovery, ready to send.
struct Planned<'a> {
    doc: &'a Document,
    object: ObjectRef,
    resource: ApiResource,
    body: Value,
}

/// Is the object as the server holds it after an apply different from before?
///
/// A real apply answers with the stored object: the server bumps `resourceVersion` on every
/// write and does not write when the apply changes nothing, so the same `resourceVersion`
/// before and after means unchanged. A dry run writes nothing and may answer with the old
/// `resourceVersion` even when it would change the object, so there the objects themselves are
/// compared, without the fields the server maintains.
fn outcome(before: Option<&Value>, after: &Value, dry_run: bool) -> Outcome {
    let Some(before) = before else {
        return Outcome::Created;
    };
    let same = if dry_run {
        comparable(before) == comparable(after)
    } else {
        let rv = |v: &Value| v.pointer("/metadata/resourceVersion").cloned();
        rv(before).is_some() && rv(before) == rv(after)
    };
    if same {
        Outcome::Unchanged
    } else {
        Outcome::Configured
    }
}

fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["resourceVersion", "managedFields", "generation"] {
            meta.remove(key);
        }
    }
    v
}

impl Cluster {
    /// Reads the kubeconfig, connects to the context's API server and asks its version (so a
    /// wrong address or credential is reported before anything else happens).
    pub fn connect(options: &KubeconfigOptions) -> Result<Cluster, miette::Report> {
        // rustls picks its crypto from the process default; oxpod builds it with ring only.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .into_diagnostic()?;
        let (client, target, version) = runtime.block_on(async {
            let target = kubeconfig::load(options).await?;
            let server = url(&target.config.cluster_url);
            let client = kube::Client::try_from(target.config.clone()).map_err(|e| {
                miette::miette!(
                    "cannot set up a client for context {:?} ({server}): {}",
                    target.context,
                    describe(&e)
                )
            })?;
            let version = client.apiserver_version().await.map_err(|e| {
                let help = match &e {
                    kube::Error::Api(s) if s.code == 401 => {
                        "the server did not accept the credentials of the context's user"
                    }
                    kube::Error::Api(s) if s.code == 403 => {
                        "the context's user may not read /version"
                    }
                    _ => "check the server address and certificates of the context",
                };
                miette::miette!(
                    help = help,
                    "cannot reach the Kubernetes API server {server} (context {:?}): {}",
                    target.context,
                    describe(&e)
                )
            })?;
            Ok::<_, miette::Report>((client, target, version.git_version))
        })?;
        Ok(Cluster {
            runtime,
            client,
            namespace: target.config.default_namespace.clone(),
            server: url(&target.config.cluster_url),
            context: target.context,
            version,
        })
    }

    /// Applies the documents (already [`check`]ed) and, with `--prune`, deletes what the apply
    /// set no longer holds. `Err` means nothing was sent (the input does not fit the server);
    /// a refusal by the server is in the report, with what was applied before it.
    pub fn apply(
        &self,
        docs: &[Document],
        options: &ApplyOptions,
    ) -> Result<ApplyReport, miette::Report> {
        self.runtime.block_on(self.apply_async(docs, options))
    }

    async fn apply_async(
        &self,
        docs: &[Document],
        options: &ApplyOptions,
    ) -> Result<ApplyReport, miette::Report> {
        let discovery = self.discover(docs, options.prune).await?;
        let planned = self.plan(docs, &discovery, options)?;
        let mut report = ApplyReport {
            dry_run: options.dry_run,
            ..Default::default()
        };
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = options.force_conflicts;
        params.dry_run = options.dry_run;
        for (i, p) in planned.iter().enumerate() {
            let api = self.api(&p.resource, p.object.namespace.as_deref());
            match apply_one(&api, p, &params).await {
                Ok(outcome) => report.applied.push(Applied {
                    object: p.object.clone(),
                    outcome,
                    resource: p.resource.clone(),
                }),
                Err(e) => {
                    report.failure = Some(object_error(p, &e));
                    report.not_applied =
                        planned[i + 1..].iter().map(|p| p.object.clone()).collect();
                    break;
                }
            }
        }
        // Pruning after a partial apply would delete what the input still holds but never
        // reached the server.
        if options.prune && report.failure.is_none() {
            self.prune(&discovery, &planned, options, &mut report).await;
        }
        Ok(report)
    }

    fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// Discovery of the groups the input uses (all of apply's kinds' groups for `--prune`).
    async fn discover(&self, docs: &[Document], prune: bool) -> Result<Discovery, miette::Report> {
        let mut groups: BTreeSet<String> = docs
            .iter()
            .filter_map(|d| d.value.get("apiVersion")?.as_str())
            .map(|v| gv(v).0.to_string())
            .collect();
        if prune {
            groups.extend(KINDS.iter().map(|k| k.0.to_string()));
        }
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        Discovery::new(self.client.clone())
            .filter(&groups)
            .run()
            .await
            .map_err(|e| {
                miette::miette!("API discovery on {} failed: {}", self.server, describe(&e))
            })
    }

    /// Resolves every document, fills in its namespace and the apply labels, and orders them.
    /// Every problem is reported, and none is sent, before the first write.
    fn plan<'a>(
        &self,
        docs: &'a [Document],
        discovery: &Discovery,
        options: &ApplyOptions,
    ) -> Result<Vec<Planned<'a>>, KubeErrors> {
        let mut errors = Vec::new();
        let mut planned = Vec::new();
        for doc in docs {
            let api_version = doc
                .value
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let kind = doc.kind().unwrap_or_default();
            let (group, version) = gv(api_version);
            let Some((resource, caps)) =
                discovery.resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
            else {
                errors.push(doc.error(
                    "/apiVersion",
                    format!(
                        "the server {} does not serve {kind} in {api_version}",
                        self.server
                    ),
                    None,
                ));
                continue;
            };
            let Some(name) = doc.name().map(str::to_string) else {
                errors.push(doc.error("/metadata", "metadata.name is required", None));
                continue;
            };
            let namespace = match caps.scope {
                Scope::Cluster => None,
                Scope::Namespaced => {
                    let own = doc
                        .value
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty());
                    match (own, &options.namespace) {
                        (Some(own), Some(flag)) if own != flag => {
                            errors.push(doc.error(
                                "/metadata/namespace",
                                format!(
                                    "the object's namespace {own:?} does not match --namespace {flag:?}"
                                ),
                                Some(format!("pass --namespace {own} or remove the object's namespace")),
                            ));
                            continue;
                        }
                        (Some(own), _) => Some(own.to_string()),
                        (None, Some(flag)) => Some(flag.clone()),
                        (None, None) => Some(self.namespace.clone()),
                    }
                }
            };
            let mut body = doc.value.clone();
            let meta = body
                .as_object_mut()
                .map(|m| m.entry("metadata").or_insert_with(|| serde_json::json!({})));
            if let Some(Value::Object(meta)) = meta {
                // The body names the namespace of the URL it is sent to; a cluster-scoped
                // object has none (the server refuses a mismatch), as kubectl sends it.
                match &namespace {
                    Some(ns) => meta.insert("namespace".into(), Value::String(ns.clone())),
                    None => meta.remove("namespace"),
                };
                let labels = meta
                    .entry("labels")
                    .or_insert_with(|| serde_json::json!({}));
                if !labels.is_object() {
                    *labels = serde_json::json!({});
                }
                if let Some(labels) = labels.as_object_mut() {
                    labels.insert(MANAGED_BY_LABEL.into(), FIELD_MANAGER.into());
                    labels.insert(APPLY_SET_LABEL.into(), options.apply_set.clone().into());
                }
            }
            planned.push(Planned {
                doc,
                object: ObjectRef {
                    group: resource.group.clone(),
                    kind: resource.kind.clone(),
                    namespace,
                    name,
                },
                resource,
                body,
            });
        }
        if !errors.is_empty() {
            return Err(KubeErrors(errors));
        }
        planned.sort_by_key(|p| rank(&p.object.kind));
        Ok(planned)
    }

    /// Deletes the objects of the apply set, of every kind apply handles, in the namespaces
    /// the input uses, that the input no longer holds. Workloads go first, Namespaces last.
    async fn prune(
        &self,
        discovery: &Discovery,
        planned: &[Planned<'_>],
        options: &ApplyOptions,
        report: &mut ApplyReport,
    ) {
        let selector = format!(
            "{MANAGED_BY_LABEL}={FIELD_MANAGER},{APPLY_SET_LABEL}={}",
            options.apply_set
        );
        let keep: BTreeSet<&ObjectRef> = planned.iter().map(|p| &p.object).collect();
        let namespaces: BTreeSet<&str> = planned
            .iter()
            .filter_map(|p| p.object.namespace.as_deref())
            .collect();
        let delete = DeleteParams {
            dry_run: options.dry_run,
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        let mut kinds: Vec<_> = KINDS.iter().collect();
        kinds.sort_by_key(|k| std::cmp::Reverse(k.3));
        for (group, version, kind, _) in kinds {
            let Some((resource, caps)) =
                discovery.resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
            else {
                continue;
            };
            let scopes: Vec<Option<&str>> = match caps.scope {
                Scope::Cluster => vec![None],
                Scope::Namespaced => namespaces.iter().copied().map(Some).collect(),
            };
            for namespace in scopes {
                let api = self.api(&resource, namespace);
                let list = match api.list(&ListParams::default().labels(&selector)).await {
                    Ok(list) => list,
                    Err(e) => {
                        report.prune_errors.push(miette::miette!(
                            "prune: cannot list {} in {}: {}",
                            resource.plural,
                            namespace.unwrap_or("the cluster"),
                            describe(&e)
                        ));
                        continue;
                    }
                };
                let mut items = list.items;
                items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
                for item in items {
                    let Some(name) = item.metadata.name.clone() else {
                        continue;
                    };
                    let object = ObjectRef {
                        group: resource.group.clone(),
                        kind: resource.kind.clone(),
                        namespace: namespace.map(str::to_string),
                        name,
                    };
                    // Objects a controller made are its to remove; objects already going
                    // away need no second delete.
                    let owned = item
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.controller == Some(true));
                    if keep.contains(&object) || owned || item.metadata.deletion_timestamp.is_some()
                    {
                        continue;
                    }
                    match api.delete(&object.name, &delete).await {
                        Ok(_) => report.pruned.push(object),
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => report
                            .prune_errors
                            .push(miette::miette!("prune: {object}: {}", describe(&e))),
                    }
                }
            }
        }
    }

    /// Waits until every applied Deployment, StatefulSet, DaemonSet and ReplicaSet is rolled
    /// out, every Pod is ready (or has succeeded) and every Job is complete, polling with GET;
    /// returns one line per object. A Pod or Job that failed, or the deadline, ends the wait
    /// with an error naming what was still not ready and why.
    pub fn wait(
        &self,
        report: &ApplyReport,
        timeout: Duration,
    ) -> Result<Vec<String>, miette::Report> {
        self.runtime.block_on(self.wait_async(report, timeout))
    }

    async fn wait_async(
        &self,
        report: &ApplyReport,
        timeout: Duration,
    ) -> Result<Vec<String>, miette::Report> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<&Applied> = report
            .applied
            .iter()
            .filter(|a| waits_for(&a.object.kind))
            .collect();
        let mut done = Vec::new();
        loop {
            let mut waiting = Vec::new();
            for applied in pending {
                let api = self.api(&applied.resource, applied.object.namespace.as_deref());
                let value = match api.get(&applied.object.name).await {
                    Ok(obj) => serde_json::to_value(obj).into_diagnostic()?,
                    Err(e) => {
                        return Err(miette::miette!(
                            "waiting for {}: {}",
                            applied.object,
                            describe(&e)
                        ));
                    }
                };
                match readiness(&applied.object.kind, &value) {
                    Readiness::Ready(what) => done.push(format!("{} {what}", applied.object)),
                    Readiness::Failed(why) => {
                        return Err(miette::miette!("{} failed: {why}", applied.object));
                    }
                    Readiness::Waiting(why) => waiting.push((applied, why)),
                }
            }
            if waiting.is_empty() {
                return Ok(done);
            }
            let now = Instant::now();
            if now >= deadline {
                let what: Vec<String> = waiting
                    .iter()
                    .map(|(a, why)| format!("{}: {why}", a.object))
                    .collect();
                return Err(miette::miette!(
                    help = "raise --timeout, or look at the objects' events (kubectl describe)",
                    "timed out after {timeout:?} waiting for {}",
                    what.join("; ")
                ));
            }
            tokio::time::sleep(WAIT_POLL.min(deadline - now)).await;
            pending = waiting.into_iter().map(|(a, _)| a).collect();
        }
    }
}

async fn apply_one(
    api: &Api<DynamicObject>,
    p: &Planned<'_>,
    params: &PatchParams,
) -> Result<Outcome, kube::Error> {
    let before = api
        .get_opt(&p.object.name)
        .await?
        .map(serde_json::to_value)
        .transpose()
        .map_err(kube::Error::SerdeError)?;
    let after = api
        .patch(&p.object.name, params, &Patch::Apply(&p.body))
        .await?;
    let after = serde_json::to_value(after).map_err(kube::Error::SerdeError)?;
    Ok(outcome(before.as_ref(), &after, params.dry_run))
}

/// The server's refusal of one object, at the object in its file: at the field the server
/// names when the input has it, at the object's first line otherwise.
fn object_error(p: &Planned<'_>, error: &kube::Error) -> miette::Report {
    let (line, _) = p.doc.line_col("");
    let origin = format!("{}:{line}", p.doc.source.name);
    let (pointer, message, help) = match error {
        kube::Error::Api(status) => {
            let pointer = status
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .map(|c| field_pointer(&c.field))
                .find(|ptr| !ptr.is_empty() && p.doc.value.pointer(ptr).is_some())
                .unwrap_or_default();
            let reason = if status.reason.is_empty() {
                status.code.to_string()
            } else {
                status.reason.clone()
            };
            let help = match status.code {
                409 => Some(
                    "another field manager owns these fields; --force-conflicts makes oxpod their manager"
                        .to_string(),
                ),
                403 => Some("the context's user may not do this".to_string()),
                _ => None,
            };
            (
                pointer,
                format!(
                    "{} ({origin}): error from server ({reason}): {}",
                    p.object, status.message
                ),
                help,
            )
        }
        other => (
            String::new(),
            format!("{} ({origin}): {}", p.object, describe(other)),
            None,
        ),
    };
    miette::Report::new(p.doc.error(&pointer, message, help))
}

/// `spec.template.spec.containers[0].image` → `/spec/template/spec/containers/0/image`.
fn field_pointer(field: &str) -> String {
    let mut out = String::new();
    for part in field.split('.').filter(|s| !s.is_empty()) {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        out.push('/');
        out.push_str(&yaml::escape_pointer(key));
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(&yaml::escape_pointer(index));
        }
    }
    out
}

/// The server's URL as the kubeconfig gives it (without the `/` a bare authority gets).
fn url(uri: &impl fmt::Display) -> String {
    uri.to_string().trim_end_matches('/').to_string()
}

/// (`group`, `version`) of an `apiVersion`: `apps/v1` → (`apps`, `v1`), `v1` → (``, `v1`).
fn gv(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// A client error as users read it: the server's own message for a refusal, the cause chain
/// for everything else.
fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(s) if s.message.is_empty() || s.message == s.reason => {
            format!("{} {}", s.code, s.reason)
        }
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => chain(other),
    }
}

/// An error and its causes on one line; causes already quoted by their parent are skipped.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Readiness
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum Readiness {
    Ready(&'static str),
    Waiting(String),
    Failed(String),
}

/// CronJobs start their Jobs on a schedule, so there is nothing to wait for at apply time.
fn waits_for(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Pod" | "Job"
    )
}

/// kubectl's `rollout status` rules, read from the object's status; a Job is done as
/// `kubectl wait --for=condition=complete` sees it.
fn readiness(kind: &str, object: &Value) -> Readiness {
    let int = |ptr: &str| object.pointer(ptr).and_then(Value::as_i64);
    let generation = int("/metadata/generation").unwrap_or(0);
    let observed = int("/status/observedGeneration").unwrap_or(0);
    // Pods and Jobs have no observedGeneration: their status is about runs, not a rollout.
    if !matches!(kind, "Pod" | "Job") && observed < generation {
        return Readiness::Waiting(format!(
            "the controller has not seen generation {generation} yet"
        ));
    }
    match kind {
        "Deployment" => {
            if let Some(c) = condition(object, "Progressing")
                && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
            {
                return Readiness::Failed(
                    c.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("progress deadline exceeded")
                        .to_string(),
                );
            }
            let wanted = int("/spec/replicas").unwrap_or(1);
            let updated = int("/status/updatedReplicas").unwrap_or(0);
            let total = int("/status/replicas").unwrap_or(0);
            let available = int("/status/availableReplicas").unwrap_or(0);
            if updated < wanted {
                Readiness::Waiting(format!("{updated} of {wanted} replicas updated"))
            } else if total > updated {
                Readiness::Waiting(format!(
                    "{} old replicas are pending termination",
                    total - updated
                ))
            } else if available < updated {
                Readiness::Waiting(format!(
                    "{available} of {updated} updated replicas available"
                ))
            } else {
                Readiness::Ready("rolled out")
            }
        }
        "StatefulSet" => stateful_set(object),
        "ReplicaSet" => {
            // `kubectl rollout status` has no rule for ReplicaSets; this is the Deployment
            // rule for the one ReplicaSet a Deployment rolls out.
            let wanted = int("/spec/replicas").unwrap_or(1);
            let total = int("/status/replicas").unwrap_or(0);
            let available = int("/status/availableReplicas").unwrap_or(0);
            if available < wanted {
                Readiness::Waiting(format!("{available} of {wanted} replicas available"))
            } else if total > wanted {
                Readiness::Waiting(format!(
                    "{} extra replicas are pending termination",
                    total - wanted
                ))
            } else {
                Readiness::Ready("rolled out")
            }
        }
        "DaemonSet" => {
            let wanted = int("/status/desiredNumberScheduled").unwrap_or(0);
            let updated = int("/status/updatedNumberScheduled").unwrap_or(0);
            let available = int("/status/numberAvailable").unwrap_or(0);
            // OnDelete replaces a pod only when it is deleted, so waiting for updated pods
            // could last forever (kubectl refuses to watch such a rollout).
            let on_delete = object
                .pointer("/spec/updateStrategy/type")
                .and_then(Value::as_str)
                == Some("OnDelete");
            if !on_delete && updated < wanted {
                Readiness::Waiting(format!("{updated} of {wanted} new pods updated"))
            } else if available < wanted {
                Readiness::Waiting(format!("{available} of {wanted} pods available"))
            } else {
                Readiness::Ready("rolled out")
            }
        }
        "Job" => {
            // A Job that failed stays failed (its pods are not retried past the backoff
            // limit or the deadline), so there is no point waiting on.
            if let Some(c) = true_condition(object, "Failed") {
                let text = |key: &str| c.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
                return Readiness::Failed(
                    text("message")
                        .or_else(|| text("reason"))
                        .unwrap_or("the job failed")
                        .to_string(),
                );
            }
            if true_condition(object, "Complete").is_some() {
                return Readiness::Ready("complete");
            }
            // Without completions, the first pod that succeeds completes the Job.
            let wanted = int("/spec/completions").unwrap_or(1);
            let succeeded = int("/status/succeeded").unwrap_or(0);
            let active = int("/status/active").unwrap_or(0);
            Readiness::Waiting(format!(
                "{succeeded} of {wanted} completions succeeded, {active} pods active"
            ))
        }
        _ => match object.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Readiness::Ready("succeeded"),
            Some("Failed") => Readiness::Failed(
                object
                    .pointer("/status/message")
                    .and_then(Value::as_str)
                    .unwrap_or("the pod failed")
                    .to_string(),
            ),
            phase => match condition(object, "Ready") {
                Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {
                    Readiness::Ready("ready")
                }
                _ => {
                    Readiness::Waiting(format!("not ready (phase {})", phase.unwrap_or("unknown")))
                }
            },
        },
    }
}

/// `kubectl rollout status` for a StatefulSet: every replica ready, then the update done.
/// The API server fills in `updateStrategy: {type: RollingUpdate, rollingUpdate: {partition:
/// 0}}` when the manifest names no strategy; an explicit RollingUpdate without `rollingUpdate`
/// is judged by revision instead.
fn stateful_set(object: &Value) -> Readiness {
    let int = |ptr: &str| object.pointer(ptr).and_then(Value::as_i64);
    // A new StatefulSet has generation 1; observedGeneration 0 means no controller saw it.
    if int("/status/observedGeneration").unwrap_or(0) == 0 {
        return Readiness::Waiting("the controller has not seen it yet".into());
    }
    let wanted = int("/spec/replicas").unwrap_or(1);
    let ready = int("/status/readyReplicas").unwrap_or(0);
    let updated = int("/status/updatedReplicas").unwrap_or(0);
    let strategy = object.pointer("/spec/updateStrategy");
    let type_ = strategy
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate");
    if ready < wanted {
        return Readiness::Waiting(format!("{ready} of {wanted} replicas ready"));
    }
    if type_ == "OnDelete" {
        // Pods are replaced only when deleted (kubectl refuses to watch this rollout).
        return Readiness::Ready("rolled out");
    }
    let rolling = strategy.and_then(|s| s.get("rollingUpdate"));
    let defaulted = strategy.and_then(|s| s.get("type")).is_none();
    if rolling.is_some() || defaulted {
        // Pods below the partition keep the old revision on purpose.
        let partition = rolling
            .and_then(|r| r.get("partition"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let target = wanted - partition;
        if updated < target {
            return Readiness::Waiting(format!("{updated} of {target} new replicas updated"));
        }
        return Readiness::Ready("rolled out");
    }
    let current = object
        .pointer("/status/currentRevision")
        .and_then(Value::as_str);
    let update = object
        .pointer("/status/updateRevision")
        .and_then(Value::as_str);
    if current != update {
        return Readiness::Waiting(format!(
            "{updated} replicas at revision {}, the rolling update is not complete",
            update.unwrap_or("unknown")
        ));
    }
    Readiness::Ready("rolled out")
}

/// The condition of this type when its status is `True`.
fn true_condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    condition(object, type_).filter(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_rank_what_others_refer_to_first() {
        let mut kinds = vec![
            "Deployment",
            "Service",
            "Secret",
            "Namespace",
            "ConfigMap",
            "PersistentVolumeClaim",
            "Pod",
        ];
        kinds.sort_by_key(|k| rank(k));
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ConfigMap",
                "Secret",
                "PersistentVolumeClaim",
                "Service",
                "Deployment",
                "Pod"
            ]
        );
    }

    #[test]
    fn outcome_follows_resource_version_and_dry_run_compares_content() {
        let before = json!({"metadata": {"name": "a", "resourceVersion": "5"}, "data": {"k": "v"}});
        let same = json!({"metadata": {"name": "a", "resourceVersion": "5"}, "data": {"k": "v"}});
        let bumped = json!({"metadata": {"name": "a", "resourceVersion": "6"}, "data": {"k": "w"}});
        let changed_same_rv =
            json!({"metadata": {"name": "a", "resourceVersion": "5"}, "data": {"k": "w"}});
        assert_eq!(outcome(None, &same, false), Outcome::Created);
        assert_eq!(outcome(Some(&before), &same, false), Outcome::Unchanged);
        assert_eq!(outcome(Some(&before), &bumped, false), Outcome::Configured);
        assert_eq!(
            outcome(Some(&before), &changed_same_rv, true),
            Outcome::Configured
        );
        assert_eq!(outcome(Some(&before), &same, true), Outcome::Unchanged);
    }

    #[test]
    fn server_field_paths_become_pointers() {
        assert_eq!(field_pointer("spec.replicas"), "/spec/replicas");
        assert_eq!(
            field_pointer("spec.template.spec.containers[0].image"),
            "/spec/template/spec/containers/0/image"
        );
        assert_eq!(field_pointer(""), "");
    }

    #[test]
    fn apply_set_names_are_label_values() {
        assert_eq!(
            apply_set_name("web app.yaml").as_deref(),
            Some("web-app.yaml")
        );
        assert_eq!(apply_set_name("--x--").as_deref(), Some("x"));
        assert_eq!(apply_set_name("///"), None);
        let long = apply_set_name(&"a".repeat(100)).unwrap();
        assert!(validate::is_label_value(&long));
    }

    #[test]
    fn object_refs_read_like_kubectl() {
        let r = |group: &str, kind: &str| ObjectRef {
            group: group.into(),
            kind: kind.into(),
            namespace: None,
            name: "web".into(),
        };
        assert_eq!(r("apps", "Deployment").to_string(), "deployment.apps/web");
        assert_eq!(r("", "ConfigMap").to_string(), "configmap/web");
    }

    #[test]
    fn deployments_are_ready_once_every_replica_is_updated_and_available() {
        let d = |generation: i64, status: Value| json!({"metadata": {"generation": generation}, "spec": {"replicas": 2}, "status": status});
        assert!(matches!(
            readiness("Deployment", &d(2, json!({"observedGeneration": 1}))),
            Readiness::Waiting(_)
        ));
        assert_eq!(
            readiness(
                "Deployment",
                &d(
                    2,
                    json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1})
                )
            ),
            Readiness::Waiting("1 of 2 updated replicas available".into())
        );
        assert_eq!(
            readiness(
                "Deployment",
                &d(
                    2,
                    json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2})
                )
            ),
            Readiness::Waiting("1 old replicas are pending termination".into())
        );
        assert_eq!(
            readiness(
                "Deployment",
                &d(
                    2,
                    json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2})
                )
            ),
            Readiness::Ready("rolled out")
        );
        let stuck = d(
            1,
            json!({"observedGeneration": 1, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}
            ]}),
        );
        assert_eq!(
            readiness("Deployment", &stuck),
            Readiness::Failed("too slow".into())
        );
    }

    #[test]
    fn pods_are_ready_by_condition_and_fail_by_phase() {
        let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        let pending = json!({"status": {"phase": "Pending"}});
        let failed = json!({"status": {"phase": "Failed", "message": "OOMKilled"}});
        assert_eq!(readiness("Pod", &ready), Readiness::Ready("ready"));
        assert_eq!(
            readiness("Pod", &pending),
            Readiness::Waiting("not ready (phase Pending)".into())
        );
        assert_eq!(
            readiness("Pod", &failed),
            Readiness::Failed("OOMKilled".into())
        );
    }

    #[test]
    fn jobs_are_done_when_complete_and_fail_at_once_when_failed() {
        // Jobs report no observedGeneration; a generation alone must not keep them waiting.
        let job = |status: Value| json!({"metadata": {"generation": 1}, "spec": {"completions": 3}, "status": status});
        assert_eq!(
            readiness("Job", &job(json!({"active": 2, "succeeded": 1}))),
            Readiness::Waiting("1 of 3 completions succeeded, 2 pods active".into())
        );
        assert_eq!(
            readiness(
                "Job",
                &json!({"metadata": {"generation": 1}, "spec": {}, "status": {}})
            ),
            Readiness::Waiting("0 of 1 completions succeeded, 0 pods active".into())
        );
        let complete = job(json!({"succeeded": 3, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True"},
            {"type": "Complete", "status": "True"}
        ]}));
        assert_eq!(readiness("Job", &complete), Readiness::Ready("complete"));
        let not_yet =
            job(json!({"succeeded": 2, "conditions": [{"type": "Complete", "status": "False"}]}));
        assert!(matches!(readiness("Job", &not_yet), Readiness::Waiting(_)));
        let failed = job(json!({"failed": 3, "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit"}
        ]}));
        assert_eq!(
            readiness("Job", &failed),
            Readiness::Failed("Job has reached the specified backoff limit".into())
        );
        let failed_without_message = job(json!({"conditions": [
            {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
        ]}));
        assert_eq!(
            readiness("Job", &failed_without_message),
            Readiness::Failed("DeadlineExceeded".into())
        );
    }

    #[test]
    fn stateful_sets_wait_for_ready_replicas_then_the_update_up_to_the_partition() {
        let sts = |spec: Value, status: Value| {
            let mut spec = spec;
            spec["replicas"] = json!(3);
            json!({"metadata": {"generation": 2}, "spec": spec, "status": status})
        };
        let full = |ready: i64, updated: i64, current: &str, update: &str| {
            json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": ready,
                   "currentReplicas": 3 - updated, "updatedReplicas": updated,
                   "availableReplicas": ready, "currentRevision": current,
                   "updateRevision": update})
        };
        assert_eq!(
            readiness(
                "StatefulSet",
                &sts(json!({}), json!({"observedGeneration": 1}))
            ),
            Readiness::Waiting("the controller has not seen generation 2 yet".into())
        );
        let unseen = json!({"metadata": {}, "spec": {"replicas": 1}, "status": {}});
        assert!(matches!(
            readiness("StatefulSet", &unseen),
            Readiness::Waiting(_)
        ));
        // The server's default strategy: RollingUpdate with partition 0.
        let defaulted = json!({});
        assert_eq!(
            readiness("StatefulSet", &sts(defaulted.clone(), full(2, 3, "a", "b"))),
            Readiness::Waiting("2 of 3 replicas ready".into())
        );
        assert_eq!(
            readiness("StatefulSet", &sts(defaulted.clone(), full(3, 1, "a", "b"))),
            Readiness::Waiting("1 of 3 new replicas updated".into())
        );
        assert_eq!(
            readiness("StatefulSet", &sts(defaulted, full(3, 3, "b", "b"))),
            Readiness::Ready("rolled out")
        );
        let partitioned =
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}});
        assert_eq!(
            readiness(
                "StatefulSet",
                &sts(partitioned.clone(), full(3, 0, "a", "b"))
            ),
            Readiness::Waiting("0 of 1 new replicas updated".into())
        );
        assert_eq!(
            readiness("StatefulSet", &sts(partitioned, full(3, 1, "a", "b"))),
            Readiness::Ready("rolled out"),
            "replicas below the partition stay at the old revision"
        );
        let by_revision = json!({"updateStrategy": {"type": "RollingUpdate"}});
        assert_eq!(
            readiness(
                "StatefulSet",
                &sts(by_revision.clone(), full(3, 3, "a", "b"))
            ),
            Readiness::Waiting(
                "3 replicas at revision b, the rolling update is not complete".into()
            )
        );
        assert_eq!(
            readiness("StatefulSet", &sts(by_revision, full(3, 3, "b", "b"))),
            Readiness::Ready("rolled out")
        );
        let on_delete = json!({"updateStrategy": {"type": "OnDelete"}});
        assert_eq!(
            readiness("StatefulSet", &sts(on_delete, full(3, 0, "a", "b"))),
            Readiness::Ready("rolled out")
        );
    }

    #[test]
    fn replica_sets_are_ready_once_every_replica_is_available_and_no_extra_remains() {
        let rs = |status: Value| json!({"metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": status});
        assert_eq!(
            readiness("ReplicaSet", &rs(json!({}))),
            Readiness::Waiting("the controller has not seen generation 1 yet".into())
        );
        assert_eq!(
            readiness(
                "ReplicaSet",
                &rs(
                    json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "availableReplicas": 1})
                )
            ),
            Readiness::Waiting("1 of 2 replicas available".into())
        );
        assert_eq!(
            readiness(
                "ReplicaSet",
                &rs(
                    json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3})
                )
            ),
            Readiness::Waiting("1 extra replicas are pending termination".into())
        );
        assert_eq!(
            readiness(
                "ReplicaSet",
                &rs(
                    json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2})
                )
            ),
            Readiness::Ready("rolled out")
        );
    }

    #[test]
    fn daemon_sets_wait_for_updated_then_available_pods_on_every_node() {
        let ds = |strategy: &str, status: Value| json!({"metadata": {"generation": 2}, "spec": {"updateStrategy": {"type": strategy}}, "status": status});
        let status = |updated: i64, available: i64| {
            json!({"observedGeneration": 2, "desiredNumberScheduled": 3,
                   "currentNumberScheduled": 3, "numberReady": available,
                   "updatedNumberScheduled": updated, "numberAvailable": available})
        };
        assert_eq!(
            readiness(
                "DaemonSet",
                &ds("RollingUpdate", json!({"observedGeneration": 1}))
            ),
            Readiness::Waiting("the controller has not seen generation 2 yet".into())
        );
        assert_eq!(
            readiness("DaemonSet", &ds("RollingUpdate", status(1, 3))),
            Readiness::Waiting("1 of 3 new pods updated".into())
        );
        assert_eq!(
            readiness("DaemonSet", &ds("RollingUpdate", status(3, 2))),
            Readiness::Waiting("2 of 3 pods available".into())
        );
        assert_eq!(
            readiness("DaemonSet", &ds("RollingUpdate", status(3, 3))),
            Readiness::Ready("rolled out")
        );
        assert_eq!(
            readiness("DaemonSet", &ds("OnDelete", status(0, 3))),
            Readiness::Ready("rolled out"),
            "OnDelete pods are replaced only when deleted"
        );
    }

    #[test]
    fn wait_holds_for_jobs_but_not_cronjobs() {
        assert!(waits_for("Job"));
        assert!(!waits_for("CronJob"));
        assert!(!waits_for("ConfigMap"));
    }

    #[test]
    fn custom_resources_are_refused_at_their_kind() {
        let src = Arc::new(Source::new(
            "crd.yaml",
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
        ));
        let docs = yaml::parse(&[src]).unwrap();
        let err = check(&docs).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(
            err.0[0]
                .one_line()
                .starts_with("crd.yaml:2:7: kube apply does not handle Widget"),
            "{}",
            err.0[0].one_line()
        );
    }
}
