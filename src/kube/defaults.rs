//! The values Kubernetes fills in when a manifest leaves a field out. `kube generate` strips
//! them (a default is noise in a manifest), and `normalize` fills them in, so two manifests
//! that mean the same objects compare equal: the round-trip contract is
//! `normalize(generate(play(M))) == normalize(M)`.
//!
//! Only defaults the API server applies unconditionally are listed; a value that depends on
//! another field (a container's `imagePullPolicy` on the image's tag, a Service port's
//! `targetPort` on its `port`) is handled beside the table.

use serde_json::{Map, Value, json};

/// Where in an object a group of defaults applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Metadata,
    PodSpec,
    Container,
    ContainerPort,
    Probe,
    HttpGet,
    Volume,
    DeploymentSpec,
    StatefulSetSpec,
    JobSpec,
    ServiceSpec,
    ServicePort,
    Secret,
}

/// (scope, field, default).
fn table() -> &'static [(Scope, &'static str, Value)] {
    use std::sync::OnceLock;
    static TABLE: OnceLock<Vec<(Scope, &'static str, Value)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        use Scope::*;
        vec![
            (Metadata, "namespace", json!("default")),
            (PodSpec, "restartPolicy", json!("Always")),
            (PodSpec, "dnsPolicy", json!("ClusterFirst")),
            (PodSpec, "terminationGracePeriodSeconds", json!(30)),
            (PodSpec, "schedulerName", json!("default-scheduler")),
            (
                Container,
                "terminationMessagePath",
                json!("/dev/termination-log"),
            ),
            (Container, "terminationMessagePolicy", json!("File")),
            (ContainerPort, "protocol", json!("TCP")),
            (Probe, "periodSeconds", json!(10)),
            (Probe, "timeoutSeconds", json!(1)),
            (Probe, "successThreshold", json!(1)),
            (Probe, "failureThreshold", json!(3)),
            (Probe, "initialDelaySeconds", json!(0)),
            (HttpGet, "scheme", json!("HTTP")),
            (HttpGet, "path", json!("/")),
            (DeploymentSpec, "replicas", json!(1)),
            (DeploymentSpec, "revisionHistoryLimit", json!(10)),
            (DeploymentSpec, "progressDeadlineSeconds", json!(600)),
            (StatefulSetSpec, "replicas", json!(1)),
            (
                StatefulSetSpec,
                "podManagementPolicy",
                json!("OrderedReady"),
            ),
            (StatefulSetSpec, "revisionHistoryLimit", json!(10)),
            (JobSpec, "backoffLimit", json!(6)),
            (JobSpec, "completions", json!(1)),
            (JobSpec, "parallelism", json!(1)),
            (ServiceSpec, "type", json!("ClusterIP")),
            (ServiceSpec, "sessionAffinity", json!("None")),
            (ServicePort, "protocol", json!("TCP")),
            (Secret, "type", json!("Opaque")),
        ]
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fill,
    Strip,
}

/// `object` with every default written out, empty maps and lists dropped (an empty
/// `emptyDir` stays: it is the volume's type), a Secret's `stringData` folded into `data`,
/// and keys sorted.
pub fn normalize(object: &Value) -> Value {
    let mut v = object.clone();
    if v["kind"] == "Secret" {
        fold_string_data(&mut v);
    }
    visit(&mut v, Mode::Fill);
    drop_empty(&mut v);
    quantities_as_strings(&mut v, false);
    v
}

/// A quantity may be written as a number (`cpu: 1`); the API server keeps it as a string.
/// `quantities` is set for the maps whose values are quantities.
fn quantities_as_strings(v: &mut Value, quantities: bool) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if let Value::Number(n) = child
                    && (quantities || k == "sizeLimit")
                {
                    *child = Value::String(n.to_string());
                } else {
                    let holds = matches!(k.as_str(), "limits" | "requests" | "capacity");
                    quantities_as_strings(child, holds);
                }
            }
        }
        Value::Array(list) => {
            for child in list {
                quantities_as_strings(child, false);
            }
        }
        _ => {}
    }
}

/// `object` without the fields that equal their default, nor empty maps and lists.
pub fn strip(object: &mut Value) {
    visit(object, Mode::Strip);
    drop_empty(object);
}

fn visit(object: &mut Value, mode: Mode) {
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    if let Some(meta) = object.get_mut("metadata") {
        apply(meta, Scope::Metadata, mode);
    }
    match kind.as_str() {
        "Pod" => visit_pod_spec(object.get_mut("spec"), mode),
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" | "Job" => {
            if let Some(spec) = object.get_mut("spec") {
                match kind.as_str() {
                    "Deployment" => {
                        apply(spec, Scope::DeploymentSpec, mode);
                        deployment_strategy(spec, mode);
                    }
                    "ReplicaSet" => apply_one(spec, "replicas", &json!(1), mode),
                    "StatefulSet" => {
                        apply(spec, Scope::StatefulSetSpec, mode);
                        // Claim templates are PersistentVolumeClaims without a kind of their
                        // own to say (typed output writes one; a manifest rarely does).
                        for claim in each(spec.get_mut("volumeClaimTemplates")) {
                            if let Some(m) = claim.as_object_mut() {
                                m.remove("apiVersion");
                                m.remove("kind");
                            }
                        }
                    }
                    "Job" => apply(spec, Scope::JobSpec, mode),
                    _ => {}
                }
                visit_template(spec.get_mut("template"), mode);
            }
        }
        "CronJob" => {
            let job = object.pointer_mut("/spec/jobTemplate/spec");
            if let Some(job) = job {
                apply(job, Scope::JobSpec, mode);
                visit_template(job.get_mut("template"), mode);
            }
        }
        "Service" => {
            if let Some(spec) = object.get_mut("spec") {
                apply(spec, Scope::ServiceSpec, mode);
                for port in each(spec.get_mut("ports")) {
                    apply(port, Scope::ServicePort, mode);
                    // `targetPort` defaults to `port`.
                    let default = port.get("port").cloned().unwrap_or(Value::Null);
                    apply_one(port, "targetPort", &default, mode);
                }
            }
        }
        "Secret" => apply(object, Scope::Secret, mode),
        _ => {}
    }
}

fn visit_template(template: Option<&mut Value>, mode: Mode) {
    if let Some(t) = template {
        if let Some(meta) = t.get_mut("metadata") {
            // A template's metadata has no namespace of its own.
            if mode == Mode::Strip || meta.get("namespace").is_some() {
                apply(meta, Scope::Metadata, mode);
            }
        }
        visit_pod_spec(t.get_mut("spec"), mode);
    }
}

fn visit_pod_spec(spec: Option<&mut Value>, mode: Mode) {
    let Some(spec) = spec else { return };
    apply(spec, Scope::PodSpec, mode);
    for key in ["containers", "initContainers"] {
        for c in each(spec.get_mut(key)) {
            apply(c, Scope::Container, mode);
            pull_policy(c, mode);
            for p in each(c.get_mut("ports")) {
                apply(p, Scope::ContainerPort, mode);
            }
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if let Some(p) = c.get_mut(probe) {
                    apply(p, Scope::Probe, mode);
                    if let Some(h) = p.get_mut("httpGet") {
                        apply(h, Scope::HttpGet, mode);
                    }
                }
            }
            for hook in ["postStart", "preStop"] {
                if let Some(h) = c.pointer_mut(&format!("/lifecycle/{hook}/httpGet")) {
                    apply(h, Scope::HttpGet, mode);
                }
            }
        }
    }
    for v in each(spec.get_mut("volumes")) {
        apply(v, Scope::Volume, mode);
        for source in ["configMap", "secret", "downwardAPI"] {
            if let Some(s) = v.get_mut(source) {
                apply_one(s, "defaultMode", &json!(420), mode);
            }
        }
    }
}

/// `imagePullPolicy` defaults to `Always` for `:latest` (or no tag) and `IfNotPresent`
/// otherwise.
fn pull_policy(container: &mut Value, mode: Mode) {
    let image = container["image"].as_str().unwrap_or_default();
    let name = image.split('@').next().unwrap_or_default();
    let last = name.rsplit('/').next().unwrap_or_default();
    let default = match last.split_once(':') {
        _ if image.contains('@') => "IfNotPresent",
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    };
    apply_one(container, "imagePullPolicy", &json!(default), mode);
}

/// A Deployment's default strategy: RollingUpdate, 25% / 25%.
fn deployment_strategy(spec: &mut Value, mode: Mode) {
    let default = json!({
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
    });
    match mode {
        Mode::Fill => {
            let strategy = spec
                .as_object_mut()
                .map(|m| m.entry("strategy").or_insert_with(|| json!({})));
            if let Some(Value::Object(s)) = strategy {
                s.entry("type").or_insert_with(|| json!("RollingUpdate"));
                if s["type"] == "RollingUpdate" {
                    let r = s.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Value::Object(r) = r {
                        r.entry("maxSurge").or_insert_with(|| json!("25%"));
                        r.entry("maxUnavailable").or_insert_with(|| json!("25%"));
                    }
                }
            }
        }
        Mode::Strip => {
            if spec.get("strategy") == Some(&default)
                || spec.get("strategy") == Some(&json!({"type": "RollingUpdate"}))
            {
                spec.as_object_mut().map(|m| m.remove("strategy"));
            }
        }
    }
}

fn apply(object: &mut Value, scope: Scope, mode: Mode) {
    for (s, key, default) in table() {
        if *s == scope {
            apply_one(object, key, default, mode);
        }
    }
}

fn apply_one(object: &mut Value, key: &str, default: &Value, mode: Mode) {
    let Value::Object(map) = object else { return };
    if default.is_null() {
        return;
    }
    match mode {
        Mode::Fill => {
            map.entry(key.to_string())
                .or_insert_with(|| default.clone());
        }
        Mode::Strip => {
            if map.get(key) == Some(default) {
                map.remove(key);
            }
        }
    }
}

fn each(list: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    list.and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|l| l.iter_mut())
}

/// `stringData` is write-only in Kubernetes: the server merges it into `data`, base64.
fn fold_string_data(secret: &mut Value) {
    use base64::Engine as _;
    let Some(Value::Object(string_data)) =
        secret.as_object_mut().and_then(|m| m.remove("stringData"))
    else {
        return;
    };
    let Value::Object(map) = secret else { return };
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(data) = data {
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

/// Drop empty maps and lists (and nulls), bottom-up, except where emptiness is the value
/// (`emptyDir: {}`).
fn drop_empty(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (_, child) in map.iter_mut() {
                drop_empty(child);
            }
            map.retain(|k, child| k == "emptyDir" || !is_empty(child));
        }
        Value::Array(list) => {
            for child in list.iter_mut() {
                drop_empty(child);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_and_implicit_defaults_normalize_alike() {
        let explicit = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "namespace": "default", "labels": {}},
            "spec": {
                "restartPolicy": "Always",
                "containers": [{
                    "name": "c", "image": "r/i:1.0", "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "readinessProbe": {"httpGet": {"port": 80, "scheme": "HTTP"}, "periodSeconds": 10}
                }],
                "volumes": [{"name": "v", "emptyDir": {}}]
            }
        });
        let implicit = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a"},
            "spec": {
                "containers": [{
                    "name": "c", "image": "r/i:1.0",
                    "ports": [{"containerPort": 80}],
                    "readinessProbe": {"httpGet": {"port": 80}}
                }],
                "volumes": [{"name": "v", "emptyDir": {}}]
            }
        });
        assert_eq!(normalize(&explicit), normalize(&implicit));
        let mut stripped = explicit.clone();
        strip(&mut stripped);
        assert_eq!(stripped, implicit);
    }

    #[test]
    fn numeric_quantities_compare_as_strings() {
        let a = json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "i:1",
            "resources": {"limits": {"cpu": 1, "memory": "64Mi"}}}],
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": 1000}}]}});
        let b = json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "i:1",
            "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}],
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1000"}}]}});
        assert_eq!(normalize(&a), normalize(&b));
    }

    #[test]
    fn a_value_other_than_the_default_is_kept() {
        let mut v = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "namespace": "shop"},
            "spec": {"replicas": 3, "strategy": {"type": "Recreate"},
                     "template": {"spec": {"containers": [{"name": "c", "image": "i",
                        "imagePullPolicy": "IfNotPresent"}]}}}
        });
        let before = v.clone();
        strip(&mut v);
        assert_eq!(v, before);
    }

    #[test]
    fn pull_policy_default_follows_the_tag() {
        for (image, default) in [
            ("busybox", "Always"),
            ("busybox:latest", "Always"),
            ("localhost:5000/busybox", "Always"),
            ("localhost:5000/busybox:1.36", "IfNotPresent"),
            ("busybox@sha256:abcd", "IfNotPresent"),
        ] {
            let mut c = json!({"image": image});
            pull_policy(&mut c, Mode::Fill);
            assert_eq!(c["imagePullPolicy"], default, "{image}");
        }
    }

    #[test]
    fn string_data_folds_into_data_and_service_target_port_defaults_to_port() {
        let s = json!({"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}});
        assert_eq!(normalize(&s)["data"]["k"], "dg==");
        assert_eq!(normalize(&s)["type"], "Opaque");
        let svc = json!({"kind": "Service", "metadata": {"name": "s"},
                         "spec": {"ports": [{"port": 80}]}});
        let mut same = json!({"kind": "Service", "metadata": {"name": "s"},
                         "spec": {"ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}],
                                  "type": "ClusterIP"}});
        assert_eq!(normalize(&svc), normalize(&same));
        strip(&mut same);
        assert_eq!(same, svc);
    }
}
