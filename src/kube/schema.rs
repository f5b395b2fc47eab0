//! JSON Schemas for the kinds play and generate support, and validation of documents against
//! them.
//!
//! The schemas come from k8s-openapi's types through schemars, made strict once when they are
//! generated (see DESIGN.md, "YAML and validation"): every object with `properties` is closed
//! (`additionalProperties: false`), int-or-string fields get a real type, `apiVersion` and
//! `kind` are pinned, and the enums Kubernetes checks server-side are added from [`ENUMS`].
//! `schemas/` holds the result (one file per kind, `oxpod kube schemas --out schemas` writes
//! them); the binary embeds those files and compiles each at most once.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError, Validator};
use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::yaml::{display_path, escape_pointer};

/// The command that rewrites `schemas/` from the types (named when a committed file is stale).
pub const REGENERATE: &str = "cargo run -- kube schemas --out schemas";

/// One kind's schema: its committed text and how to make it anew.
struct KindSchema {
    kind: &'static str,
    api_version: &'static str,
    /// File name under `schemas/`: `[group-]version-kind.json`, lower case.
    file: &'static str,
    /// The committed file, embedded so the binary needs no repository.
    text: &'static str,
    generate: fn() -> Value,
}

macro_rules! kinds {
    ($($ty:ty => $file:literal),* $(,)?) => {
        const KINDS: &[KindSchema] = &[$(KindSchema {
            kind: <$ty as Resource>::KIND,
            api_version: <$ty as Resource>::API_VERSION,
            file: $file,
            text: include_str!(concat!("../../schemas/", $file)),
            generate: generate_for::<$ty>,
        }),*];
    };
}

kinds! {
    Pod => "v1-pod.json",
    Deployment => "apps-v1-deployment.json",
    ReplicaSet => "apps-v1-replicaset.json",
    StatefulSet => "apps-v1-statefulset.json",
    DaemonSet => "apps-v1-daemonset.json",
    Job => "batch-v1-job.json",
    CronJob => "batch-v1-cronjob.json",
    Service => "v1-service.json",
    ConfigMap => "v1-configmap.json",
    Secret => "v1-secret.json",
    PersistentVolumeClaim => "v1-persistentvolumeclaim.json",
    Namespace => "v1-namespace.json",
}

/// Values Kubernetes accepts for string fields whose schema says only `type: string`:
/// (definition, property, values). An array property gets the enum on its items.
const ENUMS: &[(&str, &str, &[&str])] = &[
    (
        "io.k8s.api.core.v1.Container",
        "imagePullPolicy",
        &["Always", "IfNotPresent", "Never"],
    ),
    (
        "io.k8s.api.core.v1.Container",
        "terminationMessagePolicy",
        &["File", "FallbackToLogsOnError"],
    ),
    (
        "io.k8s.api.core.v1.ContainerPort",
        "protocol",
        &["TCP", "UDP", "SCTP"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "restartPolicy",
        &["Always", "OnFailure", "Never"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "dnsPolicy",
        &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "preemptionPolicy",
        &["Never", "PreemptLowerPriority"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "type",
        &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "sessionAffinity",
        &["None", "ClientIP"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "externalTrafficPolicy",
        &["Cluster", "Local"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "internalTrafficPolicy",
        &["Cluster", "Local"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ipFamilyPolicy",
        &["SingleStack", "PreferDualStack", "RequireDualStack"],
    ),
    (
        "io.k8s.api.core.v1.ServicePort",
        "protocol",
        &["TCP", "UDP", "SCTP"],
    ),
    (
        "io.k8s.api.apps.v1.DeploymentStrategy",
        "type",
        &["Recreate", "RollingUpdate"],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetUpdateStrategy",
        "type",
        &["OnDelete", "RollingUpdate"],
    ),
    (
        "io.k8s.api.apps.v1.DaemonSetUpdateStrategy",
        "type",
        &["OnDelete", "RollingUpdate"],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetSpec",
        "podManagementPolicy",
        &["OrderedReady", "Parallel"],
    ),
    (
        "io.k8s.api.batch.v1.JobSpec",
        "completionMode",
        &["NonIndexed", "Indexed"],
    ),
    (
        "io.k8s.api.batch.v1.CronJobSpec",
        "concurrencyPolicy",
        &["Allow", "Forbid", "Replace"],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "accessModes",
        &[
            "ReadWriteOnce",
            "ReadOnlyMany",
            "ReadWriteMany",
            "ReadWriteOncePod",
        ],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "volumeMode",
        &["Filesystem", "Block"],
    ),
    (
        "io.k8s.api.core.v1.HostPathVolumeSource",
        "type",
        &[
            "",
            "DirectoryOrCreate",
            "Directory",
            "FileOrCreate",
            "File",
            "Socket",
            "CharDevice",
            "BlockDevice",
        ],
    ),
    (
        "io.k8s.api.core.v1.VolumeMount",
        "mountPropagation",
        &["None", "HostToContainer", "Bidirectional"],
    ),
    (
        "io.k8s.api.core.v1.HTTPGetAction",
        "scheme",
        &["HTTP", "HTTPS"],
    ),
    (
        "io.k8s.api.core.v1.SeccompProfile",
        "type",
        &["Unconfined", "RuntimeDefault", "Localhost"],
    ),
    (
        "io.k8s.api.core.v1.SecurityContext",
        "procMount",
        &["Default", "Unmasked"],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        "operator",
        &["In", "NotIn", "Exists", "DoesNotExist"],
    ),
    (
        "io.k8s.api.core.v1.Toleration",
        "operator",
        &["Exists", "Equal"],
    ),
];

/// Quantities (`cpu: 0.5`, `memory: 1Gi`) may be any number, not only an integer.
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

// ---------------------------------------------------------------------------------------------
// Generating
// ---------------------------------------------------------------------------------------------

fn generate_for<T: JsonSchema + Resource>() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.root_schema_for::<T>().to_value();
    make_strict(&mut schema, T::API_VERSION, T::KIND);
    schema
}

/// Every schema file: (file name under `schemas/`, its text), in a stable form (sorted keys,
/// pretty, a final newline).
pub fn generate() -> Vec<(&'static str, String)> {
    KINDS
        .iter()
        .map(|k| (k.file, to_text(&(k.generate)())))
        .collect()
}

fn to_text(schema: &Value) -> String {
    // A Value with string keys always serializes.
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

fn make_strict(schema: &mut Value, api_version: &str, kind: &str) {
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        for (name, def) in defs.iter_mut() {
            if name == QUANTITY
                && let Some(def) = def.as_object_mut()
            {
                def.remove("x-kubernetes-int-or-string");
                def.insert("type".into(), json!(["string", "number"]));
            }
        }
        for (def, property, values) in ENUMS {
            if let Some(target) = defs
                .get_mut(*def)
                .and_then(|d| d.pointer_mut(&format!("/properties/{property}")))
            {
                let target = if target.get("type").and_then(Value::as_str) == Some("array") {
                    target.get_mut("items")
                } else {
                    Some(target)
                };
                if let Some(target) = target.and_then(Value::as_object_mut) {
                    target.insert("enum".into(), json!(values));
                }
            }
        }
    }
    close_objects(schema);
    if let Some(root) = schema.as_object_mut() {
        if let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) {
            for (field, value) in [("apiVersion", api_version), ("kind", kind)] {
                if let Some(p) = props.get_mut(field).and_then(Value::as_object_mut) {
                    p.insert("enum".into(), json!([value]));
                }
            }
        }
        let required = root
            .entry("required")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = required.as_array_mut() {
            for field in ["kind", "apiVersion"] {
                if !list.iter().any(|v| v == field) {
                    list.insert(0, field.into());
                }
            }
        }
    }
}

/// Closes every object schema that lists `properties` (free-form maps have none and stay open)
/// and gives int-or-string schemas their types. Walks only schema positions, so a property that
/// happens to be called `properties` or `type` is not mistaken for a keyword.
fn close_objects(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if obj.contains_key("properties") && !preserve && !obj.contains_key("additionalProperties") {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    if obj.remove("x-kubernetes-int-or-string") == Some(Value::Bool(true)) {
        obj.insert("type".into(), json!(["integer", "string"]));
    }
    for (keyword, value) in obj.iter_mut() {
        match keyword.as_str() {
            "properties" | "$defs" | "patternProperties" => {
                for sub in value.as_object_mut().into_iter().flat_map(Map::values_mut) {
                    close_objects(sub);
                }
            }
            "allOf" | "anyOf" | "oneOf" => {
                for sub in value.as_array_mut().into_iter().flatten() {
                    close_objects(sub);
                }
            }
            "items" | "additionalProperties" | "not" => close_objects(value),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validating
// ---------------------------------------------------------------------------------------------

struct Compiled {
    schema: Value,
    validator: Validator,
}

static COMPILED: [OnceLock<Option<Compiled>>; KINDS.len()] =
    [const { OnceLock::new() }; KINDS.len()];

/// The compiled schema of kind `i` of [`KINDS`], built on first use.
fn compiled(i: usize) -> Option<&'static Compiled> {
    COMPILED[i]
        .get_or_init(|| {
            // The embedded files are checked by a unit test: parse and compile cannot fail
            // for them; `None` only keeps a broken build from panicking.
            let schema: Value = serde_json::from_str(KINDS[i].text).ok()?;
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(false)
                .build(&schema)
                .ok()?;
            Some(Compiled { schema, validator })
        })
        .as_ref()
}

/// One way a document breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer (within the document) of the offending value; for an unknown field, of the
    /// field itself.
    pub pointer: String,
    /// Label the key (unknown fields) rather than the value.
    pub at_key: bool,
    pub message: String,
    pub help: Option<String>,
    /// The required field that is missing, for that kind of violation.
    missing: Option<String>,
}

/// Whether a schema covers `kind` as served at `api_version`.
pub fn covers(api_version: &str, kind: &str) -> bool {
    kind_index(api_version, kind).is_some()
}

fn kind_index(api_version: &str, kind: &str) -> Option<usize> {
    KINDS
        .iter()
        .position(|k| k.kind == kind && k.api_version == api_version)
}

/// The schema violations of a document (empty when it conforms, or when no schema covers its
/// `apiVersion`/`kind`: reading those is [`super::yaml::typed`]'s job).
pub fn violations(value: &Value) -> Vec<Violation> {
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        return Vec::new();
    };
    let Some(compiled) = kind_index(api_version, kind).and_then(compiled) else {
        return Vec::new();
    };
    // The fast path: most documents conform, and `is_valid` stops at nothing to report.
    if compiled.validator.is_valid(value) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut near_misses = Vec::new();
    for error in compiled.validator.iter_errors(value) {
        violation(&compiled.schema, &error, &mut out, &mut near_misses);
    }
    // `containres:` for `containers:` is one slip, not also a missing field.
    out.retain(|v| !near_misses.contains(&(v.pointer.clone(), v.missing.clone())));
    out
}

/// Turns one validation error into violations; `near_misses` collects (object, known field)
/// for unknown fields that look like a misspelt known one.
fn violation(
    schema: &Value,
    error: &ValidationError,
    out: &mut Vec<Violation>,
    near_misses: &mut Vec<(String, Option<String>)>,
) {
    let pointer = error.instance_path().as_str().to_string();
    let instance: &Value = error.instance();
    let at = |pointer: &str| {
        if pointer.is_empty() {
            String::new()
        } else {
            format!("{}: ", display_path(pointer))
        }
    };
    match error.kind() {
        // Kubernetes reads `field: null` (or an empty `field:`) as unset.
        ValidationErrorKind::Type { .. } | ValidationErrorKind::Enum { .. }
            if instance.is_null() => {}
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let parent = if pointer.is_empty() {
                "the document".to_string()
            } else {
                display_path(&pointer)
            };
            let known = known_properties(schema, &pointer);
            for key in unexpected {
                let help = match closest(key, &known) {
                    Some(near) => {
                        near_misses.push((pointer.clone(), Some(near.to_string())));
                        format!("did you mean {near:?}?")
                    }
                    None => {
                        "check the spelling and indentation against the Kubernetes API".to_string()
                    }
                };
                out.push(Violation {
                    pointer: format!("{pointer}/{}", escape_pointer(key)),
                    at_key: true,
                    message: format!("unknown field {key:?} in {parent}"),
                    help: Some(help),
                    missing: None,
                });
            }
        }
        ValidationErrorKind::Type { kind } => {
            let expected: Vec<&str> = match kind {
                TypeKind::Single(t) => vec![type_name(*t)],
                TypeKind::Multiple(set) => set.iter().map(type_name).collect(),
            };
            let mut message = format!(
                "{}invalid type: {}, expected {}",
                at(&pointer),
                describe(instance),
                expected.join(" or ")
            );
            if expected == ["a string"] && (instance.is_number() || instance.is_boolean()) {
                message.push_str(" (quote the value to make it a string)");
            }
            out.push(Violation {
                pointer,
                at_key: false,
                message,
                help: None,
                missing: None,
            });
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| match v.as_str() {
                    Some("") => "\"\"".to_string(),
                    Some(s) => s.to_string(),
                    None => v.to_string(),
                })
                .collect();
            let choices: Vec<&str> = allowed.iter().map(String::as_str).collect();
            let help = instance
                .as_str()
                .and_then(|given| closest(given, &choices))
                .map(|near| format!("did you mean {near}?"));
            out.push(Violation {
                message: format!(
                    "{}{} is not one of {}",
                    at(&pointer),
                    describe_short(instance),
                    allowed.join(", ")
                ),
                pointer,
                at_key: false,
                help,
                missing: None,
            });
        }
        ValidationErrorKind::Required { property } => {
            let field = property.as_str().unwrap_or_default();
            let whose = if pointer.is_empty() {
                String::new()
            } else {
                format!(" in {}", display_path(&pointer))
            };
            let help = match field {
                "metadata" => Some("every object needs metadata.name".to_string()),
                "selector" => {
                    Some("give spec.selector.matchLabels matching the template's labels".into())
                }
                _ => None,
            };
            out.push(Violation {
                message: format!("required field {field:?} is missing{whose}"),
                pointer,
                at_key: false,
                help,
                missing: Some(field.to_string()),
            });
        }
        _ => out.push(Violation {
            message: format!("{}{error}", at(&pointer)),
            pointer,
            at_key: false,
            help: None,
            missing: None,
        }),
    }
}

fn type_name(t: JsonType) -> &'static str {
    match t {
        JsonType::Null => "null",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "an integer",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "a list",
        JsonType::Object => "a mapping",
    }
}

/// As serde names a value in its errors (`string "three"`, ``integer `5` ``).
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {}", describe_short(&Value::String(s.clone()))),
        Value::Array(_) => "list".into(),
        Value::Object(_) => "mapping".into(),
    }
}

/// A scalar as the user wrote it, shortened.
fn describe_short(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > 60 => {
            format!(
                "{:?}",
                format!("{}...", s.chars().take(57).collect::<String>())
            )
        }
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The property names the schema allows at `pointer` (for spelling suggestions).
fn known_properties<'s>(schema: &'s Value, pointer: &str) -> Vec<&'s str> {
    let resolve = |mut node: &'s Value| {
        // Our schemas refer only to their own `$defs`; a few hops at most.
        for _ in 0..8 {
            let Some(name) = node
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            else {
                break;
            };
            match schema.get("$defs").and_then(|d| d.get(name)) {
                Some(def) => node = def,
                None => break,
            }
        }
        node
    };
    let mut node = resolve(schema);
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let next = node
            .get("properties")
            .and_then(|p| p.get(&segment))
            .or_else(|| node.get("items"))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
        match next {
            Some(n) => node = resolve(n),
            None => return Vec::new(),
        }
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The known name nearest to `key`, if near enough to be a slip (case, a letter or two).
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|&(d, _)| d * 3 <= key.chars().count() + 1)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    }

    fn messages(value: &Value) -> Vec<String> {
        violations(value).into_iter().map(|v| v.message).collect()
    }

    /// The committed `schemas/` are what the types give today.
    #[test]
    fn committed_schemas_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let mut stale = Vec::new();
        for (k, (file, text)) in KINDS.iter().zip(generate()) {
            let on_disk = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            if on_disk != text || k.text != text {
                stale.push(file);
            }
        }
        let mut listed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        listed.sort();
        let mut wanted: Vec<String> = KINDS.iter().map(|k| k.file.to_string()).collect();
        wanted.sort();
        assert!(
            stale.is_empty() && listed == wanted,
            "schemas/ is stale ({stale:?} differ; files {listed:?}, want {wanted:?}): run `{REGENERATE}`"
        );
    }

    #[test]
    fn file_names_follow_group_version_kind() {
        for k in KINDS {
            let want =
                format!("{}-{}.json", k.api_version.replace('/', "-"), k.kind).to_ascii_lowercase();
            assert_eq!(k.file, want);
            assert!(compiled(kind_index(k.api_version, k.kind).unwrap()).is_some());
        }
    }

    #[test]
    fn every_enum_lands_in_some_schema() {
        let all: Vec<Value> = KINDS.iter().map(|k| (k.generate)()).collect();
        for (def, property, values) in ENUMS {
            let found = all.iter().any(|s| {
                let Some(p) = s.pointer(&format!("/$defs/{def}/properties/{property}")) else {
                    return false;
                };
                let e = p.get("enum").or_else(|| p.pointer("/items/enum"));
                e == Some(&json!(values))
            });
            assert!(found, "{def}.{property} is in no schema");
        }
    }

    #[test]
    fn conforming_documents_pass() {
        let v = pod(json!({
            "restartPolicy": "Never",
            "containers": [{
                "name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "protocol": "UDP"}],
                "resources": {"limits": {"cpu": 0.5, "memory": "64Mi"}},
                "livenessProbe": {"httpGet": {"port": "http", "path": "/"}},
                "env": null
            }]
        }));
        assert_eq!(messages(&v), Vec::<String>::new());
        let other = json!({"apiVersion": "example.com/v1", "kind": "Widget", "x": 1});
        assert!(violations(&other).is_empty());
    }

    #[test]
    fn unknown_field_names_its_parent_and_a_near_miss() {
        let v = pod(json!({"containers": [{"name": "c", "portz": []}]}));
        let found = violations(&v);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!(f.pointer, "/spec/containers/0/portz");
        assert!(f.at_key);
        assert_eq!(f.message, "unknown field \"portz\" in spec.containers[0]");
        assert_eq!(f.help.as_deref(), Some("did you mean \"ports\"?"));
        let top =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "date": {}});
        assert_eq!(messages(&top), ["unknown field \"date\" in the document"]);
        assert_eq!(
            violations(&top)[0].help.as_deref(),
            Some("did you mean \"data\"?")
        );
        // Free-form maps stay open.
        let labels = pod(json!({"containers": [{"name": "c"}], "nodeSelector": {"any": "x"}}));
        assert!(violations(&labels).is_empty());
    }

    #[test]
    fn wrong_types_enums_and_required_fields() {
        let v = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": "three", "selector": {}, "template": {"spec": {
                "restartPolicy": "Sometimes",
                "containers": [{"image": "x", "ports": [{"containerPort": "80"}], "env": [{"name": "A", "value": 1}]}]
            }}}
        });
        let mut found = messages(&v);
        found.sort();
        assert_eq!(
            found,
            [
                "required field \"name\" is missing in spec.template.spec.containers[0]",
                "spec.replicas: invalid type: string \"three\", expected an integer",
                "spec.template.spec.containers[0].env[0].value: invalid type: integer `1`, expected a string (quote the value to make it a string)",
                "spec.template.spec.containers[0].ports[0].containerPort: invalid type: string \"80\", expected an integer",
                "spec.template.spec.restartPolicy: \"Sometimes\" is not one of Always, OnFailure, Never",
            ]
        );
        let port = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": true}]}});
        assert_eq!(
            messages(&port),
            [
                "spec.ports[0].targetPort: invalid type: boolean `true`, expected an integer or a string"
            ]
        );
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
            "spec": {"accessModes": ["ReadWriteSometimes"]}});
        assert_eq!(
            messages(&pvc),
            [
                "spec.accessModes[0]: \"ReadWriteSometimes\" is not one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod"
            ]
        );
    }

    #[test]
    fn spelling_suggestions() {
        assert_eq!(
            closest("containres", &["containers", "volumes"]),
            Some("containers")
        );
        assert_eq!(
            closest("ImagePullPolicy", &["imagePullPolicy"]),
            Some("imagePullPolicy")
        );
        assert_eq!(closest("foo", &["containers", "volumes"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
