//! Checking the whole input before play touches anything: typed conversion, unknown fields,
//! required fields, names, label and annotation keys, port ranges, selectors against
//! template labels, and references between objects. Every problem is reported (not just the
//! first), each at its file, line and column. Kinds and fields play does not honour yet are
//! warnings, or errors with `--strict`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::Value;

use super::schema;
use super::yaml::{Document, KubeDiagnostic, KubeErrors, Object, escape_pointer, typed};

/// A reference to a ConfigMap, Secret or claim the input itself does not hold; play checks
/// the store for it before making anything.
#[derive(Debug, Clone)]
pub struct Reference {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub optional: bool,
    /// Position of the referring document in the input.
    pub document: usize,
    /// What play says when the store lacks it too.
    pub diagnostic: KubeDiagnostic,
    /// What `kube validate`, which does not look at the store, says instead (a warning there
    /// unless `--strict`).
    pub unresolved: KubeDiagnostic,
}

/// Input that passed every check.
#[derive(Debug, Default)]
pub struct Checked {
    pub objects: Vec<(Document, Object)>,
    pub references: Vec<Reference>,
}

struct Checker<'a> {
    doc: &'a Document,
    /// Position of `doc` in the input.
    index: usize,
    errors: Vec<KubeDiagnostic>,
    warnings: Vec<KubeDiagnostic>,
    /// Warnings are errors (`--strict`).
    strict: bool,
}

impl Checker<'_> {
    fn error(&mut self, pointer: &str, message: impl Into<String>, help: Option<&str>) {
        self.errors
            .push(self.doc.error(pointer, message, help.map(str::to_string)));
    }

    fn warn(&mut self, pointer: &str, message: impl Into<String>) {
        let d = self.doc.key_error(pointer, message, None);
        if self.strict {
            self.errors.push(d);
        } else {
            self.warnings.push(d.warning());
        }
    }
}

/// What validation found in one input document.
#[derive(Debug, Default)]
pub struct DocumentFindings {
    pub errors: Vec<KubeDiagnostic>,
    pub warnings: Vec<KubeDiagnostic>,
}

/// Everything validation found, document by document (the same order as the input).
#[derive(Debug, Default)]
pub struct Findings {
    pub documents: Vec<DocumentFindings>,
    /// The documents that could be typed: (position in the input, object).
    pub objects: Vec<(usize, Object)>,
    /// References the input does not satisfy.
    pub references: Vec<Reference>,
}

/// Check every document; the objects (in input order) or every error found. `kube play` and
/// `kube validate` both go through here (validate through [`inspect`]).
pub fn check(
    docs: &[Document],
    strict: bool,
    _network: Option<&str>,
) -> Result<(Checked, Vec<KubeDiagnostic>), KubeErrors> {
    let findings = inspect(docs, strict);
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for mut d in findings.documents {
        errors.append(&mut d.errors);
        warnings.append(&mut d.warnings);
    }
    if errors.is_empty() {
        let objects = findings
            .objects
            .into_iter()
            .map(|(i, o)| (docs[i].clone(), o))
            .collect();
        let checked = Checked {
            objects,
            references: findings.references,
        };
        Ok((checked, warnings))
    } else {
        Err(KubeErrors(errors))
    }
}

/// Checks every document against its kind's schema (unknown fields, types, enums, required
/// fields), types it, then runs the checks a schema cannot express (names and keys, port
/// ranges, selectors against templates, references, duplicates, what play does not honour).
pub fn inspect(docs: &[Document], strict: bool) -> Findings {
    let mut findings: Vec<DocumentFindings> = docs.iter().map(|_| Default::default()).collect();
    // (position in `docs`, object)
    let mut objects = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let found = &mut findings[i];
        for v in schema::violations(&doc.value) {
            let help = v.help.clone();
            found.errors.push(if v.at_key {
                doc.key_error(&v.pointer, v.message, help)
            } else {
                doc.error(&v.pointer, v.message, help)
            });
        }
        match typed(doc) {
            Ok(object) => objects.push((i, object)),
            // The schema already said what is wrong where typing stumbled.
            Err(_) if !found.errors.is_empty() => {}
            Err(e) => found.errors.push(e),
        }
    }
    // What the input holds, for references: (kind, namespace, name) → keys.
    let mut held: BTreeMap<(&str, String, String), BTreeSet<String>> = BTreeMap::new();
    let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for (i, object) in &objects {
        let doc = &docs[*i];
        let (kind, meta) = match object {
            Object::ConfigMap(cm) => {
                let mut keys: BTreeSet<String> =
                    cm.data.iter().flatten().map(|(k, _)| k.clone()).collect();
                keys.extend(cm.binary_data.iter().flatten().map(|(k, _)| k.clone()));
                held.insert(("ConfigMap", ns(&cm.metadata), name(&cm.metadata)), keys);
                ("ConfigMap", &cm.metadata)
            }
            Object::Secret(s) => {
                let mut keys: BTreeSet<String> =
                    s.data.iter().flatten().map(|(k, _)| k.clone()).collect();
                keys.extend(s.string_data.iter().flatten().map(|(k, _)| k.clone()));
                held.insert(("Secret", ns(&s.metadata), name(&s.metadata)), keys);
                ("Secret", &s.metadata)
            }
            Object::PersistentVolumeClaim(p) => {
                held.insert(
                    ("PersistentVolumeClaim", ns(&p.metadata), name(&p.metadata)),
                    BTreeSet::new(),
                );
                ("PersistentVolumeClaim", &p.metadata)
            }
            Object::StatefulSet(s) => {
                // Its claim templates become claims `<template>-<pod>`.
                for claim in s.spec.volume_claim_templates.iter().flatten() {
                    let replicas = s.spec.replicas.unwrap_or(1).max(0);
                    for i in 0..replicas {
                        held.insert(
                            (
                                "PersistentVolumeClaim",
                                ns(&s.metadata),
                                format!("{}-{}-{i}", name(&claim.metadata), name(&s.metadata)),
                            ),
                            BTreeSet::new(),
                        );
                    }
                }
                ("StatefulSet", &s.metadata)
            }
            other => match other.metadata() {
                Some(meta) => (other.kind(), meta),
                None => continue,
            },
        };
        let key = (kind.to_string(), ns(meta), name(meta));
        if let Some(first) = seen.insert(key.clone(), doc.index) {
            findings[*i].errors.push(doc.error(
                "/metadata/name",
                format!(
                    "{} {}/{} is defined twice (first in document {})",
                    key.0,
                    key.1,
                    key.2,
                    first + 1
                ),
                None,
            ));
        }
    }
    let mut references = Vec::new();
    for (i, object) in &objects {
        let mut c = Checker {
            doc: &docs[*i],
            index: *i,
            errors: Vec::new(),
            warnings: Vec::new(),
            strict,
        };
        check_object(&mut c, object, &held, &mut references);
        findings[*i].errors.append(&mut c.errors);
        findings[*i].warnings.append(&mut c.warnings);
    }
    Findings {
        documents: findings,
        objects,
        references,
    }
}

fn ns(meta: &ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_else(|| "default".into())
}

fn name(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

/// DNS-1123 label: lower-case letters, digits and '-', starting and ending alphanumeric, at
/// most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain, the name 1-63
/// characters of `[A-Za-z0-9._-]` starting and ending alphanumeric.
pub fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns_subdomain) && is_label_value(name) && !name.is_empty()
}

/// A label value: empty, or 1-63 characters of `[A-Za-z0-9._-]` starting and ending
/// alphanumeric.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

fn check_meta(c: &mut Checker, meta: &ObjectMeta, at: &str, needs_name: bool, name_rule: NameRule) {
    match &meta.name {
        // Without `metadata` at all, the schema has said so.
        None if needs_name && c.doc.value.get("metadata").is_some() => {
            c.error(at, "metadata.name is required", None)
        }
        Some(n) if !name_rule.ok(n) => c.error(
            &format!("{at}/name"),
            format!("invalid name {n:?}: {}", name_rule.describe()),
            None,
        ),
        _ => {}
    }
    if let Some(ns) = &meta.namespace
        && !is_dns_label(ns)
    {
        c.error(
            &format!("{at}/namespace"),
            format!("invalid namespace {ns:?}: {}", NameRule::Label.describe()),
            None,
        );
    }
    for (field, map, values) in [
        ("labels", &meta.labels, true),
        ("annotations", &meta.annotations, false),
    ] {
        for (k, v) in map.iter().flatten() {
            let p = format!("{at}/{field}/{}", escape_pointer(k));
            if !is_qualified_name(k) {
                c.errors.push(c.doc.key_error(
                    &p,
                    format!("invalid {} key {k:?}: [prefix/]name, the name 1-63 characters of letters, digits, '-', '_', '.'", &field[..field.len() - 1]),
                    None,
                ));
            } else if values && !is_label_value(v) {
                c.error(&p, format!("invalid label value {v:?}: at most 63 characters of letters, digits, '-', '_', '.', starting and ending with a letter or digit"), None);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum NameRule {
    Label,
    Subdomain,
}

impl NameRule {
    fn ok(self, s: &str) -> bool {
        match self {
            NameRule::Label => is_dns_label(s),
            NameRule::Subdomain => is_dns_subdomain(s),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            NameRule::Label => {
                "a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
            }
            NameRule::Subdomain => {
                "a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253 characters"
            }
        }
    }
}

fn check_object(
    c: &mut Checker,
    object: &Object,
    held: &BTreeMap<(&str, String, String), BTreeSet<String>>,
    refs: &mut Vec<Reference>,
) {
    match object {
        Object::Pod(p) => {
            check_meta(c, &p.metadata, "/metadata", true, NameRule::Subdomain);
            match &p.spec {
                Some(spec) => check_pod_spec(c, spec, "/spec", &ns(&p.metadata), held, refs),
                None => c.error("", "a Pod needs a spec", None),
            }
        }
        Object::Deployment(d) => {
            check_meta(c, &d.metadata, "/metadata", true, NameRule::Subdomain);
            let s = &d.spec;
            replicas_ok(c, s.replicas, "/spec/replicas");
            check_template(
                c,
                Some(&s.selector),
                &s.template,
                &ns(&d.metadata),
                held,
                refs,
            );
            if let Some(strategy) = &s.strategy
                && strategy.type_.is_some()
            {
                c.warn("/spec/strategy", "spec.strategy is not honoured: a re-play replaces pods that changed with --replace, all at once");
            }
        }
        Object::ReplicaSet(r) => {
            check_meta(c, &r.metadata, "/metadata", true, NameRule::Subdomain);
            let s = &r.spec;
            replicas_ok(c, s.replicas, "/spec/replicas");
            match &s.template {
                Some(t) => check_template(c, Some(&s.selector), t, &ns(&r.metadata), held, refs),
                None => c.error("/spec", "spec.template is required", None),
            }
        }
        Object::StatefulSet(s) => {
            check_meta(c, &s.metadata, "/metadata", true, NameRule::Subdomain);
            let spec = &s.spec;
            replicas_ok(c, spec.replicas, "/spec/replicas");
            // Each claim template is a volume of the pods (play makes `<claim>-<pod>`).
            let mut template = spec.template.clone();
            if let Some(pod) = template.spec.as_mut() {
                for claim in spec.volume_claim_templates.iter().flatten() {
                    pod.volumes.get_or_insert_with(Vec::new).push(
                        k8s_openapi::api::core::v1::Volume {
                            name: name(&claim.metadata),
                            empty_dir: Some(Default::default()),
                            ..Default::default()
                        },
                    );
                }
            }
            check_template(
                c,
                Some(&spec.selector),
                &template,
                &ns(&s.metadata),
                held,
                refs,
            );
        }
        Object::DaemonSet(d) => {
            check_meta(c, &d.metadata, "/metadata", true, NameRule::Subdomain);
            let s = &d.spec;
            check_template(
                c,
                Some(&s.selector),
                &s.template,
                &ns(&d.metadata),
                held,
                refs,
            );
        }
        Object::Job(j) => {
            check_meta(c, &j.metadata, "/metadata", true, NameRule::Subdomain);
            match &j.spec {
                Some(s) => {
                    check_template(
                        c,
                        s.selector.as_ref(),
                        &s.template,
                        &ns(&j.metadata),
                        held,
                        refs,
                    );
                    let policy = s
                        .template
                        .spec
                        .as_ref()
                        .and_then(|p| p.restart_policy.as_deref());
                    if !matches!(policy, Some("Never" | "OnFailure")) {
                        c.error(
                            "/spec/template/spec/restartPolicy",
                            "a Job's pods need restartPolicy Never or OnFailure",
                            None,
                        );
                    }
                    if s.completions.is_some_and(|n| n < 1) {
                        c.error("/spec/completions", "completions must be at least 1", None);
                    }
                    if s.parallelism.is_some_and(|n| n < 1) {
                        c.error("/spec/parallelism", "parallelism must be at least 1", None);
                    }
                    if s.backoff_limit.is_some_and(|n| n < 0) {
                        c.error(
                            "/spec/backoffLimit",
                            "backoffLimit cannot be negative",
                            None,
                        );
                    }
                    if s.completion_mode.as_deref() == Some("Indexed") {
                        c.warn(
                            "/spec/completionMode",
                            "completionMode Indexed is not honoured (no JOB_COMPLETION_INDEX)",
                        );
                    }
                }
                None => c.error("", "a Job needs a spec", None),
            }
        }
        Object::CronJob(j) => {
            check_meta(c, &j.metadata, "/metadata", true, NameRule::Subdomain);
            c.warn("/kind", "CronJob is not supported: nothing is scheduled");
        }
        Object::Service(s) => {
            check_meta(c, &s.metadata, "/metadata", true, NameRule::Label);
            let spec = s.spec.clone().unwrap_or_default();
            let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
            // Other values than these and ExternalName are the schema's to report.
            if kind == "ExternalName" {
                c.error(
                    "/spec/type",
                    format!(
                        "Service type {kind} is not supported (ClusterIP, NodePort, LoadBalancer)"
                    ),
                    None,
                );
            }
            if spec.cluster_ip.as_deref() == Some("None") {
                c.warn(
                    "/spec/clusterIP",
                    "headless Services get a virtual IP like the others",
                );
            }
            for field in [
                "sessionAffinity",
                "sessionAffinityConfig",
                "externalTrafficPolicy",
                "internalTrafficPolicy",
                "externalIPs",
                "externalName",
                "loadBalancerIP",
                "loadBalancerSourceRanges",
                "loadBalancerClass",
                "publishNotReadyAddresses",
                "trafficDistribution",
            ] {
                if c.doc.value.pointer(&format!("/spec/{field}")).is_some() {
                    c.warn(
                        &format!("/spec/{field}"),
                        format!("Service spec.{field} is not honoured"),
                    );
                }
            }
            let mut names = BTreeSet::new();
            for (i, p) in spec.ports.iter().flatten().enumerate() {
                let at = format!("/spec/ports/{i}");
                port_ok(c, p.port, &format!("{at}/port"), "port");
                if let Some(n) = p.node_port {
                    if kind == "ClusterIP" {
                        c.error(
                            &format!("{at}/nodePort"),
                            "nodePort needs type NodePort or LoadBalancer",
                            None,
                        );
                    } else if !(30000..=32767).contains(&n) {
                        c.error(
                            &format!("{at}/nodePort"),
                            format!("nodePort {n} is outside the node port range 30000-32767"),
                            None,
                        );
                    }
                }
                if let Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(t)) =
                    p.target_port
                {
                    port_ok(c, t, &format!("{at}/targetPort"), "targetPort");
                }
                if let Some(proto) = &p.protocol
                    && proto == "SCTP"
                {
                    c.error(
                        &format!("{at}/protocol"),
                        format!("protocol {proto} is not supported (TCP, UDP)"),
                        None,
                    );
                }
                match &p.name {
                    Some(n) if !names.insert(n.clone()) => c.error(
                        &format!("{at}/name"),
                        format!("port name {n} is used twice"),
                        None,
                    ),
                    None if spec.ports.as_ref().is_some_and(|p| p.len() > 1) => c.error(
                        &at,
                        "ports of a Service with several ports need names",
                        None,
                    ),
                    _ => {}
                }
            }
        }
        Object::ConfigMap(cm) => {
            check_meta(c, &cm.metadata, "/metadata", true, NameRule::Subdomain)
        }
        Object::Secret(s) => check_meta(c, &s.metadata, "/metadata", true, NameRule::Subdomain),
        Object::PersistentVolumeClaim(p) => {
            check_meta(c, &p.metadata, "/metadata", true, NameRule::Subdomain)
        }
        Object::Namespace(n) => check_meta(c, &n.metadata, "/metadata", true, NameRule::Label),
        Object::Other { kind, .. } => c.warn(
            "/kind",
            format!("kind {kind} is not supported and is skipped"),
        ),
    }
}

fn replicas_ok(c: &mut Checker, replicas: Option<i32>, at: &str) {
    if replicas.is_some_and(|r| r < 0) {
        c.error(at, "replicas cannot be negative", None);
    }
}

fn port_ok(c: &mut Checker, port: i32, at: &str, what: &str) {
    if !(1..=65535).contains(&port) {
        c.error(at, format!("{what} {port} is outside 1-65535"), None);
    }
}

fn check_template(
    c: &mut Checker,
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    namespace: &str,
    held: &BTreeMap<(&str, String, String), BTreeSet<String>>,
    refs: &mut Vec<Reference>,
) {
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if let Some(meta) = &template.metadata {
        check_meta(
            c,
            meta,
            "/spec/template/metadata",
            false,
            NameRule::Subdomain,
        );
    }
    if let Some(selector) = selector {
        // A missing selector (k8s-openapi gives an empty one) is the schema's to report.
        for (k, v) in selector.match_labels.iter().flatten() {
            if labels.get(k) != Some(v) {
                c.error(
                    &format!("/spec/selector/matchLabels/{}", escape_pointer(k)),
                    format!("selector {k}={v} does not match the template's labels"),
                    Some("spec.template.metadata.labels must include every spec.selector.matchLabels entry"),
                );
            }
        }
        if selector.match_expressions.is_some() {
            c.warn(
                "/spec/selector/matchExpressions",
                "selector.matchExpressions is not checked against the template",
            );
        }
    }
    match &template.spec {
        Some(spec) => check_pod_spec(c, spec, "/spec/template/spec", namespace, held, refs),
        None => c.error("/spec/template", "spec.template.spec is required", None),
    }
}

/// Fields of a pod spec play does not honour yet (warned about, by name and line).
const UNHONOURED_POD: &[(&str, &str)] = &[
    ("affinity", "affinity"),
    ("nodeSelector", "nodeSelector"),
    ("tolerations", "tolerations"),
    ("topologySpreadConstraints", "topologySpreadConstraints"),
    ("priorityClassName", "priorityClassName"),
    ("runtimeClassName", "runtimeClassName"),
    ("schedulerName", "schedulerName"),
    ("readinessGates", "readinessGates"),
    ("ephemeralContainers", "ephemeralContainers"),
    ("subdomain", "subdomain"),
    (
        "imagePullSecrets",
        "imagePullSecrets (registry logins come from auth.json)",
    ),
    ("os", "os"),
    ("overhead", "overhead"),
    ("preemptionPolicy", "preemptionPolicy"),
    ("hostUsers", "hostUsers"),
    ("setHostnameAsFQDN", "setHostnameAsFQDN"),
    ("resourceClaims", "resourceClaims"),
    ("schedulingGates", "schedulingGates"),
];

const UNHONOURED_CONTAINER: &[&str] = &[
    "resizePolicy",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "volumeDevices",
    "stdinOnce",
];

/// Container securityContext fields play does not honour.
const UNHONOURED_SECURITY: &[&str] = &[
    "seLinuxOptions",
    "appArmorProfile",
    "procMount",
    "windowsOptions",
];

fn check_pod_spec(
    c: &mut Checker,
    spec: &PodSpec,
    at: &str,
    namespace: &str,
    held: &BTreeMap<(&str, String, String), BTreeSet<String>>,
    refs: &mut Vec<Reference>,
) {
    let doc = c.doc;
    let value = pointer_value(&doc.value, at).unwrap_or(&Value::Null);
    for (field, label) in UNHONOURED_POD {
        if value.get(field).is_some() {
            c.warn(
                &format!("{at}/{field}"),
                format!("{label} is not honoured on a single host"),
            );
        }
    }
    if value.pointer("/dnsConfig/options").is_some() {
        c.warn(
            &format!("{at}/dnsConfig/options"),
            "dnsConfig.options is not honoured (resolv.conf gets the nameservers and searches)",
        );
    }
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        if let Some(e) = &v.empty_dir
            && e.size_limit.is_some()
            && e.medium.as_deref() != Some("Memory")
        {
            c.warn(
                &format!("{at}/volumes/{i}/emptyDir/sizeLimit"),
                "sizeLimit of a disk-backed emptyDir is not enforced (with medium: Memory it is)",
            );
        }
    }
    // Without `containers` at all, the schema has said so.
    if spec.containers.is_empty() && value.get("containers").is_some() {
        c.error(
            &format!("{at}/containers"),
            "a pod needs at least one container",
            None,
        );
    }
    let mut volume_names = BTreeSet::new();
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let vat = format!("{at}/volumes/{i}");
        if !is_dns_label(&v.name) {
            c.error(
                &format!("{vat}/name"),
                format!(
                    "invalid volume name {:?}: {}",
                    v.name,
                    NameRule::Label.describe()
                ),
                None,
            );
        }
        if !volume_names.insert(v.name.clone()) {
            c.error(
                &format!("{vat}/name"),
                format!("volume name {} is used twice", v.name),
                None,
            );
        }
        let supported = v.host_path.is_some()
            || v.empty_dir.is_some()
            || v.config_map.is_some()
            || v.secret.is_some()
            || v.persistent_volume_claim.is_some()
            || v.projected.is_some()
            || v.downward_api.is_some();
        if !supported {
            c.warn(
                &vat,
                format!(
                    "volume {} is of a type play does not support; an empty directory is used",
                    v.name
                ),
            );
        }
        if let Some(h) = &v.host_path
            && !h.path.starts_with('/')
        {
            c.error(
                &format!("{vat}/hostPath/path"),
                "hostPath.path must be absolute",
                None,
            );
        }
        if let Some(cm) = &v.config_map {
            reference(
                c,
                held,
                refs,
                "ConfigMap",
                namespace,
                &cm.name,
                cm.optional == Some(true),
                &format!("{vat}/configMap/name"),
                cm.items.iter().flatten().map(|i| i.key.as_str()),
            );
        }
        if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            reference(
                c,
                held,
                refs,
                "Secret",
                namespace,
                &name,
                s.optional == Some(true),
                &format!("{vat}/secret/secretName"),
                s.items.iter().flatten().map(|i| i.key.as_str()),
            );
        }
        if let Some(p) = &v.persistent_volume_claim {
            reference(
                c,
                held,
                refs,
                "PersistentVolumeClaim",
                namespace,
                &p.claim_name,
                false,
                &format!("{vat}/persistentVolumeClaim/claimName"),
                std::iter::empty(),
            );
        }
    }
    let mut container_names = BTreeSet::new();
    let mut host_ports = BTreeSet::new();
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| ("initContainers", c));
    let all: Vec<(usize, (&str, &Container))> = init
        .enumerate()
        .chain(
            spec.containers
                .iter()
                .map(|c| ("containers", c))
                .enumerate(),
        )
        .collect();
    for (i, (list, container)) in all {
        let cat = format!("{at}/{list}/{i}");
        let doc = c.doc;
        let cvalue = pointer_value(&doc.value, &cat).unwrap_or(&Value::Null);
        if container.name.is_empty() {
            // A missing `name` is the schema's to report; this is `name: ""` or `name: ~`.
            if cvalue.get("name").is_some() {
                c.error(&format!("{cat}/name"), "a container needs a name", None);
            }
        } else if !is_dns_label(&container.name) {
            c.error(
                &format!("{cat}/name"),
                format!(
                    "invalid container name {:?}: {}",
                    container.name,
                    NameRule::Label.describe()
                ),
                None,
            );
        }
        if !container_names.insert(container.name.clone()) {
            c.error(
                &format!("{cat}/name"),
                format!("container name {} is used twice in the pod", container.name),
                None,
            );
        }
        if container.image.as_deref().is_none_or(str::is_empty) {
            c.error(
                &cat,
                format!("container {} needs an image", container.name),
                None,
            );
        }

        for field in UNHONOURED_SECURITY {
            if cvalue
                .get("securityContext")
                .and_then(|s| s.get(field))
                .is_some()
            {
                c.warn(
                    &format!("{cat}/securityContext/{field}"),
                    format!("securityContext.{field} is not honoured"),
                );
            }
        }
        for field in UNHONOURED_CONTAINER {
            if cvalue.get(field).is_some() {
                c.warn(
                    &format!("{cat}/{field}"),
                    format!("{field} is not honoured yet"),
                );
            }
        }
        let limits = cvalue
            .pointer("/resources/limits")
            .and_then(Value::as_object);
        for key in limits.into_iter().flat_map(|l| l.keys()) {
            if key != "cpu" && key != "memory" {
                c.warn(
                    &format!("{cat}/resources/limits/{}", escape_pointer(key)),
                    format!("resources.limits.{key} is not enforced (cpu and memory are)"),
                );
            }
        }
        let mut port_names = BTreeSet::new();
        for (j, p) in container.ports.iter().flatten().enumerate() {
            let pat = format!("{cat}/ports/{j}");
            port_ok(
                c,
                p.container_port,
                &format!("{pat}/containerPort"),
                "containerPort",
            );
            if let Some(h) = p.host_port {
                port_ok(c, h, &format!("{pat}/hostPort"), "hostPort");
                let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                if !host_ports.insert((h, proto.clone())) {
                    c.error(
                        &format!("{pat}/hostPort"),
                        format!("hostPort {h}/{proto} is used twice in the pod"),
                        None,
                    );
                }
            }
            if let Some(proto) = &p.protocol
                && proto == "SCTP"
            {
                c.error(
                    &format!("{pat}/protocol"),
                    format!("protocol {proto} is not supported (TCP, UDP)"),
                    None,
                );
            }
            if let Some(n) = &p.name {
                let valid = !n.is_empty()
                    && n.len() <= 15
                    && n.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && n.bytes().any(|b| b.is_ascii_lowercase());
                if !valid {
                    c.error(&format!("{pat}/name"), format!("invalid port name {n:?}: at most 15 lower-case letters, digits and '-', with a letter"), None);
                }
                if !port_names.insert(n.clone()) {
                    c.error(
                        &format!("{pat}/name"),
                        format!("port name {n} is used twice"),
                        None,
                    );
                }
            }
        }
        for (j, m) in container.volume_mounts.iter().flatten().enumerate() {
            if !volume_names.contains(&m.name) {
                c.error(
                    &format!("{cat}/volumeMounts/{j}/name"),
                    format!("volumeMount {} names no volume of the pod", m.name),
                    Some("add it under spec.volumes"),
                );
            }
            if !m.mount_path.starts_with('/') {
                c.error(
                    &format!("{cat}/volumeMounts/{j}/mountPath"),
                    "mountPath must be absolute",
                    None,
                );
            }
        }
        for (j, e) in container.env.iter().flatten().enumerate() {
            let eat = format!("{cat}/env/{j}");
            if let Some(from) = &e.value_from {
                if let Some(r) = &from.config_map_key_ref {
                    reference(
                        c,
                        held,
                        refs,
                        "ConfigMap",
                        namespace,
                        &r.name,
                        r.optional == Some(true),
                        &format!("{eat}/valueFrom/configMapKeyRef"),
                        std::iter::once(r.key.as_str()),
                    );
                }
                if let Some(r) = &from.secret_key_ref {
                    reference(
                        c,
                        held,
                        refs,
                        "Secret",
                        namespace,
                        &r.name,
                        r.optional == Some(true),
                        &format!("{eat}/valueFrom/secretKeyRef"),
                        std::iter::once(r.key.as_str()),
                    );
                }
                if let Some(f) = &from.field_ref {
                    let known = matches!(
                        f.field_path.as_str(),
                        "metadata.name"
                            | "metadata.namespace"
                            | "metadata.uid"
                            | "metadata.labels"
                            | "metadata.annotations"
                            | "spec.nodeName"
                            | "spec.serviceAccountName"
                            | "status.podIP"
                            | "status.podIPs"
                            | "status.hostIP"
                            | "status.hostIPs"
                    ) || f.field_path.starts_with("metadata.labels['")
                        || f.field_path.starts_with("metadata.annotations['");
                    if !known {
                        c.error(
                            &format!("{eat}/valueFrom/fieldRef/fieldPath"),
                            format!("unsupported fieldPath {:?}", f.field_path),
                            None,
                        );
                    }
                }
            }
        }
        for (j, from) in container.env_from.iter().flatten().enumerate() {
            if let Some(r) = &from.config_map_ref {
                reference(
                    c,
                    held,
                    refs,
                    "ConfigMap",
                    namespace,
                    &r.name,
                    r.optional == Some(true),
                    &format!("{cat}/envFrom/{j}/configMapRef"),
                    std::iter::empty(),
                );
            }
            if let Some(r) = &from.secret_ref {
                reference(
                    c,
                    held,
                    refs,
                    "Secret",
                    namespace,
                    &r.name,
                    r.optional == Some(true),
                    &format!("{cat}/envFrom/{j}/secretRef"),
                    std::iter::empty(),
                );
            }
        }
    }
}

/// A reference to a ConfigMap, Secret or claim: checked against the input (with its keys);
/// one the input lacks is left for play to find in the store.
#[allow(clippy::too_many_arguments)]
fn reference<'k>(
    c: &mut Checker,
    held: &BTreeMap<(&str, String, String), BTreeSet<String>>,
    refs: &mut Vec<Reference>,
    kind: &'static str,
    namespace: &str,
    name: &str,
    optional: bool,
    at: &str,
    keys: impl Iterator<Item = &'k str>,
) {
    match held.get(&(kind, namespace.to_string(), name.to_string())) {
        Some(have) => {
            for key in keys {
                if !have.contains(key) && !optional {
                    c.error(at, format!("{kind} {name} has no key {key:?}"), None);
                }
            }
        }
        None => refs.push(Reference {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            optional,
            document: c.index,
            unresolved: c.doc.error(
                at,
                format!("{kind} {name} is not in the input; play checks the store"),
                None,
            ),
            diagnostic: c.doc.error(
                at,
                format!("{kind} {name} is neither in the input nor in the store"),
                Some(format!(
                    "add the {kind} to the input, create it first, or mark the reference optional"
                )),
            ),
        }),
    }
}

fn pointer_value<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        Some(value)
    } else {
        value.pointer(pointer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(is_dns_label("web-1"));
        assert!(!is_dns_label("Web"));
        assert!(!is_dns_label("-web"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_dns_subdomain("web.example.com"));
        assert!(is_qualified_name("app.kubernetes.io/name"));
        assert!(is_qualified_name("tier"));
        assert!(!is_qualified_name("bad key"));
        assert!(!is_qualified_name("Bad.Prefix/x"));
        assert!(is_label_value(""));
        assert!(is_label_value("v1.2_3"));
        assert!(!is_label_value("-x"));
    }

    #[test]
    fn settings_play_cannot_enforce_are_warned_about_at_their_line() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\nspec:\n  dnsConfig:\n    options:\n    - name: ndots\n      value: \"2\"\n  containers:\n  - name: c\n    image: busybox\n    resources:\n      limits:\n        ephemeral-storage: 1Gi\n        memory: 10Mi\n  volumes:\n  - name: v\n    emptyDir:\n      sizeLimit: 1Gi\n  - name: m\n    emptyDir:\n      medium: Memory\n      sizeLimit: 1Gi\n";
        let source = std::sync::Arc::new(super::super::yaml::Source::new("w.yaml", text));
        let docs = super::super::yaml::parse(&[source]).unwrap();
        let (_, warnings) = check(&docs, false, None).unwrap();
        let got: Vec<(usize, String)> = warnings
            .iter()
            .map(|w| (w.line(), w.message().to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (7, "dnsConfig.options is not honoured (resolv.conf gets the nameservers and searches)".to_string()),
                (20, "sizeLimit of a disk-backed emptyDir is not enforced (with medium: Memory it is)".to_string()),
                (15, "resources.limits.ephemeral-storage is not enforced (cpu and memory are)".to_string()),
            ]
        );
        assert!(
            check(&docs, true, None).is_err(),
            "--strict makes them errors"
        );
    }
}
