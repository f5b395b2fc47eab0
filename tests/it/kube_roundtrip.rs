//! The play ⇄ generate contract over every manifest in `fixtures/kube/roundtrip/`:
//! `generate(play(M))` is `M` after normalisation (defaults filled, empty maps and lists
//! dropped, keys sorted), a second play + generate of that output gives it back byte for byte,
//! every generated document passes `kube validate`, the independent `kubernetes-validate`
//! (strict) and, where a cluster answers, `kubectl create --dry-run=client`; and `kube down`
//! leaves nothing behind.
//!
//! The fixtures say `IMAGE` where the test's busybox reference goes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::container_support::{Fixture, setup};
use crate::kube::{fixture, fixture_files, secret_files, stderr, stdout};

/// The Kubernetes version the independent validator checks against: the newest its schemas
/// cover (`kubernetes-validate --help` names its default).
const KUBERNETES_VERSION: &str = "1.37.0";

/// The suite promises at least this many manifests.
const MIN_FIXTURES: usize = 28;

/// Fixtures are played side by side, each worker in a root (and registry) of its own.
const WORKERS: usize = 3;

fn roundtrip_files() -> Vec<PathBuf> {
    fixture_files("kube/roundtrip")
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The documents of a YAML file, read as `kube play` reads them (`0644` is octal).
fn documents(path: &Path) -> Result<Vec<Value>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let source = ::oxpod::kube::yaml::Source::new(path.display().to_string(), text);
    ::oxpod::kube::yaml::parse(&[Arc::new(source)])
        .map(|docs| docs.into_iter().map(|d| d.value).collect())
        .map_err(|e| format!("{}: {}", path.display(), e.one_line()))
}

/// How the two sides are matched: apiVersion, kind, namespace, name.
type ObjectKey = (String, String, String, String);

fn object_key(v: &Value) -> ObjectKey {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let namespace = match s("/metadata/namespace") {
        ns if ns.is_empty() => "default".to_string(),
        ns => ns,
    };
    (s("/apiVersion"), s("/kind"), namespace, s("/metadata/name"))
}

fn describe_key((api, kind, ns, name): &ObjectKey) -> String {
    format!("{api} {kind} {ns}/{name}")
}

fn normalized_yaml(v: &Value) -> String {
    ::oxpod::kube::yaml::to_yaml(&::oxpod::kube::generate::normalize(v))
}

/// Lines of context kept around each change of a [`line_diff`].
const DIFF_CONTEXT: usize = 3;

/// A line diff of `want` → `have` (`-` only in want, `+` only in have), from their longest
/// common subsequence, with a few unchanged lines around each change.
fn line_diff(want: &str, have: &str) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = have.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            lines.push(('+', b[j]));
            j += 1;
        } else {
            lines.push(('-', a[i]));
            i += 1;
        }
    }
    let changed: Vec<usize> = (0..lines.len()).filter(|&k| lines[k].0 != ' ').collect();
    let near = |k: usize| changed.iter().any(|&c| c.abs_diff(k) <= DIFF_CONTEXT);
    let mut out = String::new();
    let mut skipped = false;
    for (k, (mark, line)) in lines.iter().enumerate() {
        if near(k) {
            out.push_str(&format!(" {mark} {line}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("   ...\n");
            skipped = true;
        }
    }
    out
}

/// Every document of `generated` is one of `manifest` and the other way round, equal after
/// normalisation; one message per difference.
fn compare_objects(manifest: &[Value], generated: &[Value]) -> Vec<String> {
    let index = |docs: &[Value]| -> BTreeMap<ObjectKey, Value> {
        docs.iter().map(|d| (object_key(d), d.clone())).collect()
    };
    let (want, have) = (index(manifest), index(generated));
    let mut problems = Vec::new();
    for (key, m) in &want {
        match have.get(key) {
            None => problems.push(format!("not generated: {}", describe_key(key))),
            Some(g) => {
                let (m, g) = (normalized_yaml(m), normalized_yaml(g));
                if m != g {
                    problems.push(format!(
                        "{} differs after normalisation (- manifest, + generated):\n{}",
                        describe_key(key),
                        line_diff(&m, &g)
                    ));
                }
            }
        }
    }
    for key in have.keys().filter(|k| !want.contains_key(*k)) {
        problems.push(format!(
            "generated but not in the manifest: {}",
            describe_key(key)
        ));
    }
    if generated.len() != have.len() {
        problems.push(format!(
            "{} documents generated for {} distinct objects (duplicates)",
            generated.len(),
            have.len()
        ));
    }
    problems
}

/// `kubernetes-validate`: `$KUBERNETES_VALIDATE`, else on PATH, else where `.ci/run` puts it.
fn kubernetes_validate() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KUBERNETES_VALIDATE") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/opt/kubernetes-validate/bin")])
        .map(|d| d.join("kubernetes-validate"))
        .find(|p| p.is_file())
}

pub(crate) fn kubernetes_validate_or_panic() -> PathBuf {
    kubernetes_validate().unwrap_or_else(|| {
        panic!(
            "kubernetes-validate is not installed: install it as .ci/run does \
             (a venv at /opt/kubernetes-validate), or set KUBERNETES_VALIDATE"
        )
    })
}

/// `kubernetes-validate --strict` of `files` against [`KUBERNETES_VERSION`]; `Err` with its
/// output when it rejects one.
pub(crate) fn strictly_valid(tool: &Path, files: &[&Path]) -> Result<(), String> {
    let out = Command::new(tool)
        .args(["--kubernetes-version", KUBERNETES_VERSION, "--strict"])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", tool.display()));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    // It passes a document of a kind it has no schema for with a warning only.
    if out.status.success() && !text.contains("WARN") {
        Ok(())
    } else {
        Err(format!(
            "kubernetes-validate --strict ({:?}):\n{text}",
            out.status
        ))
    }
}

/// `kubectl` on PATH with a cluster that answers: `create --dry-run=client` needs the API's
/// discovery documents, so without a cluster it cannot say anything about the objects.
fn kubectl_with_cluster() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    *ANSWERS.get_or_init(|| {
        let answers = Command::new("kubectl")
            .args(["api-versions", "--request-timeout=5s"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !answers {
            eprintln!(
                "kubectl is missing or no cluster answers: skipping `kubectl create --dry-run=client`"
            );
        }
        answers
    })
}

// ---------------------------------------------------------------------------------------------
// The fixtures themselves.

/// What a document says, as `Scope:path` entries (array indices as `[]`) and, for scalars,
/// `Scope:path=value`; the pod spec of every workload is the scope `pod`, so a field group is
/// found wherever the pod template sits.
fn field_paths(doc: &Value) -> BTreeSet<String> {
    fn walk(scope: &str, path: &str, v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    out.insert(format!("{scope}:{p}"));
                    walk(scope, &p, child, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(scope, &format!("{path}[]"), item, out);
                }
            }
            Value::String(s) => {
                out.insert(format!("{scope}:{path}={s}"));
            }
            other => {
                out.insert(format!("{scope}:{path}={other}"));
            }
        }
    }
    let kind = doc["kind"].as_str().unwrap_or("").to_string();
    let mut out = BTreeSet::new();
    let mut rest = doc.clone();
    let pod_spec = match kind.as_str() {
        "Pod" => rest.get_mut("spec").map(Value::take),
        _ => rest.pointer_mut("/spec/template/spec").map(Value::take),
    };
    if let Some(spec) = pod_spec {
        walk("pod", "", &spec, &mut out);
    }
    walk(&kind, "", &rest, &mut out);
    out
}

/// Every kind play makes and every field group of the kube contract, as [`field_paths`]
/// entries one fixture at least must have.
const COVERAGE: &[&str] = &[
    "Pod:kind=Pod",
    "Deployment:kind=Deployment",
    "ReplicaSet:kind=ReplicaSet",
    "StatefulSet:spec.volumeClaimTemplates",
    "DaemonSet:kind=DaemonSet",
    "Job:spec.completions",
    "Job:spec.parallelism",
    "Job:spec.backoffLimit",
    "Job:spec.activeDeadlineSeconds",
    "Service:spec.type=ClusterIP",
    "Service:spec.type=NodePort",
    "Service:spec.type=LoadBalancer",
    "Service:spec.ports[].nodePort",
    "Service:spec.ports[].targetPort=http",
    "Service:spec.ports[].protocol=UDP",
    "ConfigMap:data",
    "ConfigMap:binaryData",
    "Secret:data",
    "Secret:stringData",
    "Secret:type=kubernetes.io/tls",
    "Secret:type=Opaque",
    "PersistentVolumeClaim:spec.resources.requests.storage",
    "Deployment:metadata.namespace=shop",
    "Service:metadata.namespace=shop",
    "ConfigMap:metadata.namespace=shop",
    "Secret:metadata.namespace=shop",
    "Pod:metadata.labels",
    "Pod:metadata.annotations",
    "Deployment:spec.template.metadata.annotations",
    "pod:containers[].command",
    "pod:containers[].args",
    "pod:containers[].workingDir",
    "pod:containers[].env[].value",
    "pod:containers[].env[].valueFrom.configMapKeyRef",
    "pod:containers[].env[].valueFrom.secretKeyRef",
    "pod:containers[].env[].valueFrom.fieldRef",
    "pod:containers[].env[].valueFrom.resourceFieldRef.divisor",
    "pod:containers[].envFrom[].prefix",
    "pod:containers[].envFrom[].configMapRef",
    "pod:containers[].envFrom[].secretRef",
    "pod:volumes[].configMap.items[].mode",
    "pod:volumes[].configMap.defaultMode",
    "pod:volumes[].secret.items",
    "pod:volumes[].secret.defaultMode",
    "pod:volumes[].downwardAPI.items[].fieldRef",
    "pod:volumes[].persistentVolumeClaim.claimName",
    "pod:volumes[].emptyDir.medium=Memory",
    "pod:volumes[].emptyDir.sizeLimit",
    "pod:volumes[].hostPath.type=DirectoryOrCreate",
    "pod:volumes[].hostPath.type=Directory",
    "pod:containers[].volumeMounts[].readOnly=true",
    "pod:containers[].volumeMounts[].subPath",
    "pod:containers[].ports[].name",
    "pod:containers[].ports[].protocol=UDP",
    "pod:containers[].ports[].hostPort",
    "pod:containers[].ports[].hostIP",
    "pod:containers[].livenessProbe.exec",
    "pod:containers[].readinessProbe.httpGet.httpHeaders",
    "pod:containers[].startupProbe.httpGet",
    "pod:containers[].livenessProbe.tcpSocket",
    "pod:containers[].readinessProbe.grpc.service",
    "pod:containers[].livenessProbe.initialDelaySeconds",
    "pod:containers[].livenessProbe.periodSeconds",
    "pod:containers[].livenessProbe.timeoutSeconds",
    "pod:containers[].readinessProbe.successThreshold",
    "pod:containers[].startupProbe.failureThreshold",
    "pod:containers[].lifecycle.postStart.exec",
    "pod:containers[].lifecycle.preStop.httpGet",
    "pod:containers[].lifecycle.preStop.sleep",
    "pod:containers[].resources.requests.cpu",
    "pod:containers[].resources.requests.memory",
    "pod:containers[].resources.limits.cpu",
    "pod:containers[].resources.limits.memory",
    "pod:securityContext.runAsUser",
    "pod:securityContext.runAsGroup",
    "pod:securityContext.runAsNonRoot=true",
    "pod:securityContext.seccompProfile.type=RuntimeDefault",
    "pod:containers[].securityContext.runAsUser",
    "pod:containers[].securityContext.capabilities.add",
    "pod:containers[].securityContext.capabilities.drop",
    "pod:containers[].securityContext.privileged=true",
    "pod:containers[].securityContext.readOnlyRootFilesystem=true",
    "pod:containers[].securityContext.allowPrivilegeEscalation=false",
    "pod:containers[].securityContext.seccompProfile.type=RuntimeDefault",
    "pod:initContainers",
    "pod:restartPolicy=Always",
    "pod:restartPolicy=OnFailure",
    "pod:restartPolicy=Never",
    "pod:hostname",
    "pod:hostAliases[].hostnames",
    "pod:dnsConfig.nameservers",
    "pod:dnsConfig.searches",
    "pod:shareProcessNamespace=true",
    "pod:terminationGracePeriodSeconds",
    "pod:containers[].tty=true",
    "pod:containers[].stdin=true",
    "pod:containers[].imagePullPolicy=Always",
    "pod:containers[].imagePullPolicy=IfNotPresent",
    "pod:containers[].imagePullPolicy=Never",
];

#[test]
fn roundtrip_fixtures_cover_the_contract_and_are_valid_kubernetes() {
    let files = roundtrip_files();
    assert!(
        files.len() >= MIN_FIXTURES,
        "{} round-trip fixtures, want at least {MIN_FIXTURES}",
        files.len()
    );
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut host_ports: BTreeMap<String, String> = BTreeMap::new();
    let scratch = tempfile::tempdir().unwrap();
    let mut filled = Vec::new();
    for path in &files {
        let name = file_name(path);
        let text = std::fs::read_to_string(path).unwrap();
        if !text.lines().next().is_some_and(|l| l.starts_with("# ")) {
            problems.push(format!("{name}: the first line is not a `# ` comment"));
        }
        if !text.contains("image: IMAGE") {
            problems.push(format!("{name}: no `image: IMAGE`"));
        }
        let docs = match documents(path) {
            Ok(docs) => docs,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        for doc in &docs {
            let paths = field_paths(doc);
            for p in paths
                .iter()
                .filter(|p| p.contains("hostPort=") || p.contains("nodePort="))
            {
                let port = p.rsplit('=').next().unwrap().to_string();
                // Fixtures are played side by side: a port two of them publish would collide.
                if let Some(other) = host_ports.insert(port.clone(), name.clone())
                    && other != name
                {
                    problems.push(format!("{name} and {other} both publish port {port}"));
                }
            }
            seen.extend(paths);
        }
        let copy = scratch.path().join(&name);
        std::fs::write(
            &copy,
            text.replace("IMAGE", "127.0.0.1:5000/busybox:latest"),
        )
        .unwrap();
        filled.push(copy);
    }
    for want in COVERAGE {
        let covered = seen.iter().any(|p| {
            p == want
                || p.strip_prefix(want)
                    .is_some_and(|r| r.starts_with(['.', '[', '=']))
        });
        if !covered {
            problems.push(format!("no fixture has {want}"));
        }
    }
    let filled: Vec<&Path> = filled.iter().map(PathBuf::as_path).collect();
    if let Err(e) = strictly_valid(&kubernetes_validate_or_panic(), &filled) {
        problems.push(e);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The round trip.

/// `oxpod ARGS`, or a failure message with its output.
fn run_ok(fx: &Fixture, args: &[&str]) -> Result<Output, String> {
    let out = fx.env.run(args);
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`oxpod {}` failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            stdout(&out),
            stderr(&out)
        ))
    }
}

/// `kube play --start=false FILE`, which must not warn.
fn play(fx: &Fixture, file: &str) -> Result<(), String> {
    let out = run_ok(fx, &["kube", "play", "--start=false", file])?;
    let warnings: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| l.contains("Warning"))
        .map(str::to_string)
        .collect();
    if warnings.is_empty() {
        Ok(())
    } else {
        Err(format!("play warned:\n{}", warnings.join("\n")))
    }
}

/// `kube generate --from-play FILE --include-secrets`, written to `out`.
fn generate(fx: &Fixture, file: &str, out: &Path) -> Result<String, String> {
    let done = run_ok(
        fx,
        &["kube", "generate", "--from-play", file, "--include-secrets"],
    )?;
    let text = stdout(&done);
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(out, &text).unwrap();
    Ok(text)
}

/// Whether the manifest makes volumes (claims, or a StatefulSet's claim templates).
fn has_claims(docs: &[Value]) -> bool {
    docs.iter().any(|d| {
        d["kind"] == "PersistentVolumeClaim" || d.pointer("/spec/volumeClaimTemplates").is_some()
    })
}

/// `/tmp/oxpod-roundtrip-*` directories a manifest's hostPath volumes make on the host.
fn host_dirs(docs: &[Value]) -> BTreeSet<PathBuf> {
    docs.iter()
        .flat_map(|d| field_paths(d).into_iter())
        .filter_map(|p| {
            let path = p.strip_prefix("pod:volumes[].hostPath.path=")?;
            let top: PathBuf = Path::new(path).components().take(3).collect();
            top.to_string_lossy()
                .starts_with("/tmp/oxpod-roundtrip-")
                .then_some(top)
        })
        .collect()
}

/// `kube down [--volumes] FILE`.
fn down(fx: &Fixture, file: &str, volumes: bool) -> Result<(), String> {
    let mut args = vec!["kube", "down"];
    if volumes {
        args.push("--volumes");
    }
    args.push(file);
    run_ok(fx, &args).map(|_| ())
}

/// Nothing of the play is left: no pod, container, volume or stored secret, and a further
/// `kube down` finds nothing to remove (no Service, ConfigMap or Secret).
fn assert_nothing_left(fx: &Fixture, file: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for args in [
        &["pod", "ps", "-q"][..],
        &["ps", "-a", "-q"],
        &["volume", "ls", "-q"],
    ] {
        let listed = fx.env.run(args);
        if !listed.status.success() || !stdout(&listed).trim().is_empty() {
            problems.push(format!(
                "`{}` after kube down: {}{}",
                args.join(" "),
                stdout(&listed),
                stderr(&listed)
            ));
        }
    }
    if !secret_files(fx).is_empty() {
        problems.push(format!("secrets left: {:?}", secret_files(fx)));
    }
    match run_ok(fx, &["kube", "down", "--volumes", file]) {
        Ok(out) if stdout(&out).trim().is_empty() => {}
        Ok(out) => problems.push(format!(
            "a second kube down still removed:\n{}",
            stdout(&out)
        )),
        Err(e) => problems.push(e),
    }
    problems
}

/// One fixture through play → generate (G1) → checks → down → play G1 → generate (G2).
fn round_trip(fx: &Fixture, path: &Path, tool: &Path) -> Vec<String> {
    let name = file_name(path);
    let manifest = fixture(fx, path);
    let m_docs = match documents(Path::new(&manifest)) {
        Ok(d) => d,
        Err(e) => return vec![e],
    };
    let claims = has_claims(&m_docs);
    let mut problems = Vec::new();
    let mut step = |what: &str, r: Result<(), String>| -> bool {
        match r {
            Ok(()) => true,
            Err(e) => {
                problems.push(format!("{what}: {e}"));
                false
            }
        }
    };
    let generated = fx.env.dir().join("generated").join(&name);
    let g1_file = generated.display().to_string();
    let mut g1_played = false;
    'trip: {
        if !step("play", play(fx, &manifest)) {
            break 'trip;
        }
        let g1 = match generate(fx, &manifest, &generated) {
            Ok(t) => t,
            Err(e) => {
                step("generate", Err(e));
                break 'trip;
            }
        };
        let g_docs = match documents(&generated) {
            Ok(d) => d,
            Err(e) => {
                step("generated YAML", Err(format!("{e}\n{g1}")));
                break 'trip;
            }
        };
        for p in compare_objects(&m_docs, &g_docs) {
            step("generate(play(M)) vs M", Err(p));
        }
        step(
            "oxpod kube validate",
            run_ok(fx, &["kube", "validate", &g1_file]).map(|_| ()),
        );
        step("generated", strictly_valid(tool, &[&generated]));
        if kubectl_with_cluster() {
            let out = Command::new("kubectl")
                .args(["create", "--dry-run=client", "-o", "name", "-f", &g1_file])
                .output()
                .expect("run kubectl");
            if !out.status.success() {
                step(
                    "kubectl create --dry-run=client",
                    Err(format!("{}{}", stdout(&out), stderr(&out))),
                );
            }
        }
        if !step("kube down of the manifest", down(fx, &manifest, claims)) {
            break 'trip;
        }
        if !step("play of the generated YAML", play(fx, &g1_file)) {
            break 'trip;
        }
        g1_played = true;
        let again = fx.env.dir().join("generated-again").join(&name);
        match generate(fx, &g1_file, &again) {
            Ok(g2) if g2 == g1 => {}
            Ok(g2) => {
                step(
                    "second generate is not byte-identical (- first, + second)",
                    Err(line_diff(&g1, &g2)),
                );
            }
            Err(e) => {
                step("second generate", Err(e));
            }
        }
    }
    // Take everything away whatever happened, and check that nothing is left.
    let last = if g1_played { &g1_file } else { &manifest };
    step("kube down", down(fx, last, claims));
    for p in assert_nothing_left(fx, last) {
        step("after kube down", Err(p));
    }
    for dir in host_dirs(&m_docs) {
        let _ = std::fs::remove_dir_all(dir);
    }
    if !problems.is_empty() {
        // Whatever a failed step left must not spoil the next fixture of this worker.
        let _ = fx.env.run(&["kube", "down", "--volumes", &manifest]);
        let _ = fx.env.run(&["pod", "rm", "-f", "-a"]);
        let _ = fx.env.run(&["volume", "prune", "-f"]);
    }
    problems
        .into_iter()
        .map(|p| format!("{name}: {p}"))
        .collect()
}

#[test]
fn generate_of_play_is_the_manifest_and_a_fixed_point() {
    let files = roundtrip_files();
    let tool = kubernetes_validate_or_panic();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                s.spawn(|| {
                    let fx = setup();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        let problems = round_trip(&fx, path, &tool);
                        failures.lock().unwrap().extend(problems);
                    }
                })
            })
            .collect();
        for w in workers {
            if let Err(panic) = w.join() {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures
                    .lock()
                    .unwrap()
                    .push(format!("a worker panicked: {what}"));
            }
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} problem(s) over {} fixtures:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
