//! `kube apply` against the HTTPS API server of `kube_api_server`: kubeconfigs with a token, a
//! client certificate and an exec plugin, merged KUBECONFIG files and `--context`, the
//! context's namespace, dependency order, the server-side apply wire format, the
//! created/unchanged/configured report, dry runs, conflicts and invalid objects shown at their
//! file and line, prune, wait (rollouts, Pods, Jobs), and every kind `kube play` understands
//! sent to the path the real API server serves it at.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::kube_api_server::{ApiServer, Auth, Readiness};
use crate::oxpod::Oxpod;

const MANAGER_LABEL: &str = "app.kubernetes.io/managed-by";
const SET_LABEL: &str = "oxpod.io/apply-set";

/// Objects listed in the reverse of the order they must be applied in: the Namespace last,
/// so the server (which refuses objects of a namespace that does not exist) fails the test
/// unless apply orders them.
const APP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        envFrom:
        - configMapRef: {name: cfg}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
---
apiVersion: v1
kind: Secret
metadata:
  name: s
stringData: {password: hunter2}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data: {greeting: hello}
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
";

const APP_ORDER: [&str; 6] = [
    "namespace/shop",
    "configmap/cfg",
    "secret/s",
    "persistentvolumeclaim/data",
    "service/web",
    "deployment.apps/web",
];

const APP_PATHS: [&str; 6] = [
    "/api/v1/namespaces/shop",
    "/api/v1/namespaces/shop/configmaps/cfg",
    "/api/v1/namespaces/shop/secrets/s",
    "/api/v1/namespaces/shop/persistentvolumeclaims/data",
    "/api/v1/namespaces/shop/services/web",
    "/apis/apps/v1/namespaces/shop/deployments/web",
];

/// Each kind apply handles: where a real API server serves it (`/api/v1` for the core group,
/// `/apis/GROUP/VERSION` otherwise), its resource's plural, and its rank in the apply order
/// (what others refer to first).
const KIND_PATHS: [(&str, &str, &str, u8); 12] = [
    ("Namespace", "/api/v1", "namespaces", 0),
    ("ConfigMap", "/api/v1", "configmaps", 1),
    ("Secret", "/api/v1", "secrets", 2),
    (
        "PersistentVolumeClaim",
        "/api/v1",
        "persistentvolumeclaims",
        3,
    ),
    ("Service", "/api/v1", "services", 4),
    ("Pod", "/api/v1", "pods", 5),
    ("Deployment", "/apis/apps/v1", "deployments", 5),
    ("ReplicaSet", "/apis/apps/v1", "replicasets", 5),
    ("StatefulSet", "/apis/apps/v1", "statefulsets", 5),
    ("DaemonSet", "/apis/apps/v1", "daemonsets", 5),
    ("Job", "/apis/batch/v1", "jobs", 5),
    ("CronJob", "/apis/batch/v1", "cronjobs", 5),
];

fn kind_path(kind: &str) -> &'static (&'static str, &'static str, &'static str, u8) {
    KIND_PATHS
        .iter()
        .find(|k| k.0 == kind)
        .unwrap_or_else(|| panic!("kube apply handles no {kind}"))
}

/// The path a real API server serves `object` at (namespaced objects without a namespace are
/// in `default`, the namespace of the test's context).
fn object_path(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap();
    let name = object["metadata"]["name"].as_str().unwrap();
    let (_, prefix, plural, _) = kind_path(kind);
    if kind == "Namespace" {
        format!("{prefix}/{plural}/{name}")
    } else {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        format!("{prefix}/namespaces/{ns}/{plural}/{name}")
    }
}

/// The objects of a manifest file, read as apply reads them (`0644` is octal).
fn objects_of(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let source = ::oxpod::kube::yaml::Source::new(path.to_string(), text);
    ::oxpod::kube::yaml::parse(&[Arc::new(source)])
        .unwrap_or_else(|e| panic!("{path}: {}", e.one_line()))
        .into_iter()
        .map(|d| d.value)
        .collect()
}

const TEST_IMAGE: &str = "registry.example/busybox:1.36";

/// A Job that needs three completions, two at a time.
const JOB: &str = "\
apiVersion: batch/v1
kind: Job
metadata:
  name: thumbnails
spec:
  completions: 3
  parallelism: 2
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: render
        image: registry.example/busybox:1.36
        command: [sh, -c, echo rendering]
";

/// A CronJob: applied like the other kinds, never waited for (it runs on its schedule).
const CRONJOB: &str = "\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-report
spec:
  schedule: \"0 3 * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: registry.example/busybox:1.36
            command: [sh, -c, echo report]
";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A kubeconfig with one context `ctx` on `server`'s cluster, for `user` (a YAML mapping).
fn kubeconfig(
    server_url: &str,
    ca_pem: &str,
    ctx: &str,
    user: &str,
    namespace: Option<&str>,
) -> String {
    let ns = namespace.map_or(String::new(), |n| format!("\n    namespace: {n}"));
    format!(
        "apiVersion: v1
kind: Config
current-context: {ctx}
clusters:
- name: cluster-{ctx}
  cluster:
    server: {server_url}
    certificate-authority-data: {}
contexts:
- name: {ctx}
  context:
    cluster: cluster-{ctx}
    user: user-{ctx}{ns}
users:
- name: user-{ctx}
  user:
{user}
",
        b64(ca_pem)
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `oxpod kube apply ARGS` with `KUBECONFIG` set to `kubeconfig` (a path list).
fn apply(env: &Oxpod, kubeconfig: &str, args: &[&str]) -> Output {
    let mut all = vec!["kube", "apply"];
    all.extend_from_slice(args);
    let mut cmd = env.cmd(&all);
    cmd.env("KUBECONFIG", kubeconfig);
    env.run_cmd(cmd, None)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "kube apply failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out).lines().map(str::to_string).collect()
}

/// stderr with miette's frame and line wrapping undone: words separated by one space.
fn flat(text: &str) -> String {
    let unframed: Vec<&str> = text
        .lines()
        .map(|l| l.trim_start_matches(|c: char| c.is_whitespace() || "│×╰├─╭┬·".contains(c)))
        .collect();
    unframed
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts a clean failure (exit 125, no crash) and returns stderr, flattened (see [`flat`]).
fn failed(out: &Output) -> String {
    assert!(
        !out.status.success() && out.status.code().is_some(),
        "kube apply should have failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    assert_eq!(out.status.code(), Some(125), "{}", stderr(out));
    assert!(!stderr(out).contains("panicked"), "{}", stderr(out));
    flat(&stderr(out))
}

fn report(objects: &[&str], outcome: &str) -> Vec<String> {
    objects.iter().map(|o| format!("{o} {outcome}")).collect()
}

/// 1-based line of the first line of `text` equal to `line`.
fn line_of(text: &str, line: &str) -> usize {
    text.lines().position(|l| l == line).expect("line in text") + 1
}

struct Cluster {
    server: ApiServer,
    env: Oxpod,
    kubeconfig: String,
}

/// A token-authenticated server and a kubeconfig whose context has no namespace.
fn token_cluster(readiness: Readiness) -> Cluster {
    let server = ApiServer::start(Auth::Token("s3cret".into()), readiness);
    let env = Oxpod::new();
    let kc = kubeconfig(
        &server.url(),
        server.ca_pem(),
        "test",
        "    token: s3cret",
        None,
    );
    let kc_path = write(env.dir(), "kubeconfig", &kc);
    Cluster {
        server,
        env,
        kubeconfig: kc_path,
    }
}

#[test]
fn kube_apply_token_orders_objects_and_reports_created_unchanged_configured() {
    let c = token_cluster(Readiness::Never);
    let file = write(c.env.dir(), "app.yaml", APP);
    let out = apply(&c.env, &c.kubeconfig, &["-f", &file, "-n", "shop"]);
    assert_eq!(ok(&out), report(&APP_ORDER, "created"));

    let requests = c.server.requests();
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].path, "/version",
        "the server version is asked first"
    );
    for path in ["/api", "/apis", "/api/v1", "/apis/apps/v1"] {
        assert!(
            requests.iter().any(|r| r.method == "GET" && r.path == path),
            "discovery of {path}"
        );
    }
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer s3cret"))
    );
    let patches = c.server.requests_of("PATCH");
    let paths: Vec<&str> = patches.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, APP_PATHS, "dependency order");
    for p in &patches {
        assert_eq!(p.status, 201, "{} {}", p.path, p.body);
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(p.param("fieldManager"), Some("oxpod"));
        assert_eq!(p.param("force"), None, "force only with --force-conflicts");
        assert_eq!(p.param("dryRun"), None);
        let body = p.json();
        assert_eq!(body["metadata"]["labels"][MANAGER_LABEL], "oxpod");
        assert_eq!(
            body["metadata"]["labels"][SET_LABEL], "app",
            "set named after the file"
        );
        if body["kind"] != "Namespace" {
            assert_eq!(
                body["metadata"]["namespace"], "shop",
                "-n fills the namespace"
            );
        }
    }
    let deployment = c
        .server
        .object("/apis/apps/v1/namespaces/shop/deployments/web")
        .unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["metadata"]["managedFields"][0]["manager"],
        "oxpod"
    );
    let rv = |c: &Cluster| -> Vec<Value> {
        APP_PATHS
            .iter()
            .map(|p| c.server.object(p).unwrap()["metadata"]["resourceVersion"].clone())
            .collect()
    };
    let first = rv(&c);

    // The same input again changes nothing on the server.
    let out = apply(&c.env, &c.kubeconfig, &["-f", &file, "-n", "shop"]);
    assert_eq!(ok(&out), report(&APP_ORDER, "unchanged"));
    assert_eq!(rv(&c), first);

    // One changed object is configured; the others are unchanged.
    let file = write(
        c.env.dir(),
        "app.yaml",
        &APP.replace("greeting: hello", "greeting: bonjour"),
    );
    let out = apply(&c.env, &c.kubeconfig, &["-f", &file, "-n", "shop"]);
    let mut expected = report(&APP_ORDER, "unchanged");
    expected[1] = "configmap/cfg configured".into();
    assert_eq!(ok(&out), expected);
    let cm = c
        .server
        .object("/api/v1/namespaces/shop/configmaps/cfg")
        .unwrap();
    assert_eq!(cm["data"]["greeting"], "bonjour");
}

#[test]
fn kube_apply_wrong_token_is_refused_before_any_write() {
    let c = token_cluster(Readiness::Never);
    let kc = kubeconfig(
        &c.server.url(),
        c.server.ca_pem(),
        "test",
        "    token: wrong",
        None,
    );
    let kubeconfig = write(c.env.dir(), "wrong", &kc);
    let file = write(c.env.dir(), "app.yaml", APP);
    let err = failed(&apply(&c.env, &kubeconfig, &["-f", &file]));
    assert!(
        err.contains(&format!(
            "cannot reach the Kubernetes API server {} (context \"test\")",
            c.server.url()
        )) && err.contains("401 Unauthorized")
            && err.contains("did not accept the credentials"),
        "{err}"
    );
    assert!(c.server.requests_of("PATCH").is_empty());
}

#[test]
fn kube_apply_client_certificate_authenticates() {
    let server = ApiServer::start(Auth::ClientCert, Readiness::Never);
    let env = Oxpod::new();
    // Files named relative to the kubeconfig's directory, as kubectl resolves them.
    write(env.dir(), "user.crt", server.client_cert_pem());
    write(env.dir(), "user.key", server.client_key_pem());
    let kc = kubeconfig(
        &server.url(),
        server.ca_pem(),
        "certs",
        "    client-certificate: user.crt\n    client-key: user.key",
        None,
    );
    let kc_path = write(env.dir(), "kubeconfig", &kc);
    let file = write(
        env.dir(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata: {a: b}\n",
    );
    // --kubeconfig wins over KUBECONFIG.
    let bogus = env.dir().join("bogus").display().to_string();
    assert_eq!(
        ok(&apply(
            &env,
            &bogus,
            &["--kubeconfig", &kc_path, "-f", &file]
        )),
        ["configmap/cfg created"]
    );
    let requests = server.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.client_cert && r.authorization.is_none())
    );
    assert!(
        server
            .object("/api/v1/namespaces/default/configmaps/cfg")
            .is_some()
    );

    // Without the certificate the handshake fails and nothing is written.
    let kc = kubeconfig(&server.url(), server.ca_pem(), "anon", "    {}", None);
    let anon = write(env.dir(), "anon", &kc);
    let err = failed(&apply(&env, &anon, &["-f", &file]));
    assert!(
        err.contains("cannot reach the Kubernetes API server"),
        "{err}"
    );
    assert_eq!(server.requests().len(), requests.len());
}

#[test]
fn kube_apply_exec_plugin_supplies_the_token() {
    let server = ApiServer::start(Auth::Token("from-plugin".into()), Readiness::Never);
    let env = Oxpod::new();
    let plugin = env.dir().join("credential-plugin");
    let ran = env.dir().join("plugin-ran");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\ntouch {}\necho '{{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": {{\"token\": \"from-plugin\"}}}}'\n",
            ran.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never",
        plugin.display()
    );
    let kc = kubeconfig(&server.url(), server.ca_pem(), "exec", &user, None);
    let kc_path = write(env.dir(), "kubeconfig", &kc);
    let file = write(
        env.dir(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n",
    );
    assert_eq!(
        ok(&apply(&env, &kc_path, &["-f", &file])),
        ["configmap/cfg created"]
    );
    assert!(ran.exists(), "the plugin ran");
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer from-plugin"))
    );
}

#[test]
fn kube_apply_merged_kubeconfigs_context_and_its_namespace() {
    let server = ApiServer::start(Auth::Token("b-token".into()), Readiness::Never);
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}}));
    let env = Oxpod::new();
    // The first file's current-context wins the merge and points at a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("https://{}", closed.local_addr().unwrap());
    drop(closed);
    let a = write(
        env.dir(),
        "a",
        &kubeconfig(
            &closed_url,
            server.ca_pem(),
            "ctx-a",
            "    token: a-token",
            None,
        ),
    );
    let b = write(
        env.dir(),
        "b",
        &kubeconfig(
            &server.url(),
            server.ca_pem(),
            "ctx-b",
            "    token: b-token",
            Some("team-b"),
        ),
    );
    let missing = env.dir().join("missing").display().to_string();
    let list = format!("{a}:{missing}:{b}");
    let file = write(
        env.dir(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n",
    );

    let err = failed(&apply(&env, &list, &["-f", &file]));
    assert!(
        err.contains(&format!(
            "cannot reach the Kubernetes API server {closed_url} (context \"ctx-a\")"
        )),
        "{err}"
    );

    assert_eq!(
        ok(&apply(&env, &list, &["-f", &file, "--context", "ctx-b"])),
        ["configmap/cfg created"]
    );
    assert!(
        server
            .object("/api/v1/namespaces/team-b/configmaps/cfg")
            .is_some(),
        "the context's namespace is the default: {:?}",
        server.names()
    );

    let err = failed(&apply(&env, &list, &["-f", &file, "--context", "ctx-c"]));
    assert!(
        err.contains("has no context \"ctx-c\"") && err.contains("ctx-a, ctx-b"),
        "{err}"
    );

    // An object's own namespace that -n contradicts is refused before anything is sent.
    server.clear_requests();
    let pinned = write(
        env.dir(),
        "pinned.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pinned\n  namespace: team-b\n",
    );
    let err = failed(&apply(
        &env,
        &list,
        &["-f", &pinned, "--context", "ctx-b", "-n", "other"],
    ));
    assert!(
        err.contains("does not match --namespace \"other\"") && err.contains("pinned.yaml:5:"),
        "{err}"
    );
    assert!(server.requests_of("PATCH").is_empty());
}

#[test]
fn kube_apply_dry_run_server_persists_nothing() {
    let c = token_cluster(Readiness::Never);
    let file = write(c.env.dir(), "app.yaml", APP);
    ok(&apply(&c.env, &c.kubeconfig, &["-f", &file, "-n", "shop"]));
    let before: Vec<Value> = APP_PATHS
        .iter()
        .map(|p| c.server.object(p).unwrap())
        .collect();
    c.server.clear_requests();

    let changed = APP.replace("greeting: hello", "greeting: hi")
        + "---
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
";
    let file = write(c.env.dir(), "app.yaml", &changed);
    let out = apply(
        &c.env,
        &c.kubeconfig,
        &["-f", &file, "-n", "shop", "--dry-run=server"],
    );
    let mut expected = report(&APP_ORDER, "unchanged (server dry run)");
    expected[1] = "configmap/cfg configured (server dry run)".into();
    expected.insert(2, "configmap/extra created (server dry run)".into());
    assert_eq!(ok(&out), expected);
    let patches = c.server.requests_of("PATCH");
    assert_eq!(patches.len(), 7);
    assert!(patches.iter().all(|p| p.param("dryRun") == Some("All")));
    let after: Vec<Value> = APP_PATHS
        .iter()
        .map(|p| c.server.object(p).unwrap())
        .collect();
    assert_eq!(after, before, "nothing persisted");
    assert!(
        c.server
            .object("/api/v1/namespaces/shop/configmaps/extra")
            .is_none()
    );
}

#[test]
fn kube_apply_conflict_stops_with_the_servers_message_and_force_takes_over() {
    let c = token_cluster(Readiness::Never);
    let text = format!(
        "{APP}---
apiVersion: v1
kind: Pod
metadata:
  name: solo
spec:
  containers:
  - name: c
    image: busybox
"
    );
    let file = write(c.env.dir(), "app.yaml", &text);
    ok(&apply(&c.env, &c.kubeconfig, &["-f", &file, "-n", "shop"]));
    // Someone scales the Deployment with their own field manager.
    c.server.apply_as(
        "kubectl-edit",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 5}}),
        true,
    );
    c.server.clear_requests();

    let out = apply(&c.env, &c.kubeconfig, &["-f", &file, "-n", "shop"]);
    let err = failed(&out);
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        report(&APP_ORDER[..5], "unchanged"),
        "the report lists exactly what was applied before the conflict"
    );
    let line = line_of(&text, "kind: Deployment") - 1;
    assert!(
        err.contains(&format!("deployment.apps/web ({file}:{line}): error from server (Conflict)"))
            && err.contains(
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
            )
            && err.contains("--force-conflicts")
            && err.contains("Not applied: pod/solo"),
        "{err}"
    );
    let patches = c.server.requests_of("PATCH");
    assert_eq!(patches.last().unwrap().status, 409);
    assert_eq!(patches.len(), 6, "nothing is sent after the refused object");
    let deployment = |c: &Cluster| {
        c.server
            .object("/apis/apps/v1/namespaces/shop/deployments/web")
            .unwrap()
    };
    assert_eq!(deployment(&c)["spec"]["replicas"], 5);

    c.server.clear_requests();
    let out = apply(
        &c.env,
        &c.kubeconfig,
        &["-f", &file, "-n", "shop", "--force-conflicts"],
    );
    let lines = ok(&out);
    assert!(
        lines.contains(&"deployment.apps/web configured".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"pod/solo unchanged".to_string()),
        "{lines:?}"
    );
    assert!(
        c.server
            .requests_of("PATCH")
            .iter()
            .all(|p| p.param("force") == Some("true"))
    );
    assert_eq!(deployment(&c)["spec"]["replicas"], 2);
}

#[test]
fn kube_apply_invalid_object_is_shown_at_its_field_and_line() {
    let c = token_cluster(Readiness::Never);
    let text = APP.replace(
        "  replicas: 2\n",
        "  replicas: 2\n  minReadySeconds: 30\n  progressDeadlineSeconds: 10\n",
    );
    let file = write(c.env.dir(), "app.yaml", &text);
    let out = apply(&c.env, &c.kubeconfig, &["-f", &file, "-n", "shop"]);
    let err = failed(&out);
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        report(&APP_ORDER[..5], "created")
    );
    assert!(
        err.contains(&format!(
            "deployment.apps/web ({file}:1): error from server (Invalid)"
        )) && err.contains(
            "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds"
        ),
        "{err}"
    );
    // The snippet is the field the server named.
    let field_line = line_of(&text, "  progressDeadlineSeconds: 10");
    assert!(
        err.contains(&format!("app.yaml:{field_line}:"))
            && err.contains("progressDeadlineSeconds: 10"),
        "{err}"
    );
    assert!(
        c.server
            .object("/apis/apps/v1/namespaces/shop/deployments/web")
            .is_none()
    );
}

#[test]
fn kube_apply_prune_deletes_only_labelled_objects_no_longer_in_the_input() {
    let c = token_cluster(Readiness::Never);
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    let deployment = APP.split("---\n").next().unwrap().to_string();
    let full = [cm("keep"), cm("gone"), deployment].join("---\n");
    let file = write(c.env.dir(), "site.yaml", &full);
    ok(&apply(&c.env, &c.kubeconfig, &["-f", &file]));
    // Not oxpod's, and oxpod's of another apply set.
    c.server.put(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "foreign", "namespace": "default", "labels": {"app": "x"}}}));
    c.server.put(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "other-set", "namespace": "default",
                     "labels": {MANAGER_LABEL: "oxpod", SET_LABEL: "other"}}}));
    c.server.clear_requests();

    let file = write(c.env.dir(), "site.yaml", &cm("keep"));
    let out = apply(&c.env, &c.kubeconfig, &["-f", &file, "--prune"]);
    assert_eq!(
        ok(&out),
        [
            "configmap/keep unchanged",
            "deployment.apps/web pruned",
            "configmap/gone pruned"
        ]
    );
    let deletes: Vec<String> = c
        .server
        .requests_of("DELETE")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        deletes,
        [
            "/apis/apps/v1/namespaces/default/deployments/web",
            "/api/v1/namespaces/default/configmaps/gone"
        ]
    );
    let lists: Vec<_> = c
        .server
        .requests_of("GET")
        .into_iter()
        .filter(|r| r.param("labelSelector").is_some())
        .collect();
    assert!(!lists.is_empty());
    assert!(lists.iter().all(|r| r.param("labelSelector")
        == Some("app.kubernetes.io/managed-by=oxpod,oxpod.io/apply-set=site")));
    let names = c.server.names();
    for kept in [
        "configmaps/default/keep",
        "configmaps/default/foreign",
        "configmaps/default/other-set",
    ] {
        assert!(names.contains(&kept.to_string()), "{kept} kept: {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with("/gone") || n.starts_with("deployments/"))
    );
}

#[test]
fn kube_apply_wait_polls_until_rolled_out() {
    let c = token_cluster(Readiness::After(Duration::from_millis(1500)));
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: solo\nspec:\n  containers:\n  - name: c\n    image: busybox\n";
    let text = format!("{}---\n{pod}", APP.split("---\n").next().unwrap());
    let file = write(c.env.dir(), "app.yaml", &text);
    let started = Instant::now();
    let out = apply(
        &c.env,
        &c.kubeconfig,
        &["-f", &file, "--wait", "--timeout", "30s"],
    );
    assert_eq!(
        ok(&out),
        [
            "deployment.apps/web created",
            "pod/solo created",
            "deployment.apps/web rolled out",
            "pod/solo ready"
        ]
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let polls = c
        .server
        .requests_of("GET")
        .iter()
        .filter(|r| r.path == "/apis/apps/v1/namespaces/default/deployments/web")
        .count();
    assert!(polls >= 3, "one GET before the apply, then polls: {polls}");
}

#[test]
fn kube_apply_wait_times_out_with_what_is_not_ready() {
    let c = token_cluster(Readiness::Never);
    let file = write(c.env.dir(), "app.yaml", APP.split("---\n").next().unwrap());
    let started = Instant::now();
    let out = apply(
        &c.env,
        &c.kubeconfig,
        &["-f", &file, "--wait", "--timeout", "2s"],
    );
    let err = failed(&out);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(stdout(&out).trim(), "deployment.apps/web created");
    assert!(
        err.contains(
            "timed out after 2s waiting for deployment.apps/web: 0 of 2 updated replicas available"
        ),
        "{err}"
    );
}

#[test]
fn kube_apply_refuses_custom_resources_before_connecting() {
    let c = token_cluster(Readiness::Never);
    let file = write(
        c.env.dir(),
        "crd.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    );
    let err = failed(&apply(&c.env, &c.kubeconfig, &["-f", &file]));
    assert!(
        err.contains("kube apply does not handle Widget (example.com/v1)")
            && err.contains("crd.yaml:7:7"),
        "{err}"
    );
    assert!(c.server.requests().is_empty(), "nothing sent");
}

#[test]
fn kube_apply_insecure_skip_tls_verify_trusts_an_unknown_ca() {
    let c = token_cluster(Readiness::Never);
    let file = write(
        c.env.dir(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n",
    );
    let without_ca = |extra: &str| {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster:\n    server: {}{extra}\ncontexts:\n- name: t\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user: {{token: s3cret}}\n",
            c.server.url()
        )
    };
    let strict = write(c.env.dir(), "strict", &without_ca(""));
    let err = failed(&apply(&c.env, &strict, &["-f", &file]));
    assert!(
        err.contains("cannot reach the Kubernetes API server"),
        "{err}"
    );
    assert!(c.server.requests().is_empty(), "the handshake failed");

    let insecure = write(
        c.env.dir(),
        "insecure",
        &without_ca("\n    insecure-skip-tls-verify: true"),
    );
    assert_eq!(
        ok(&apply(&c.env, &insecure, &["-f", &file])),
        ["configmap/cfg created"]
    );
}

#[test]
fn kube_apply_names_applies_what_runs_here() {
    let fx = crate::container_support::setup();
    let server = ApiServer::start(Auth::Token("s3cret".into()), Readiness::Never);
    let kc = kubeconfig(
        &server.url(),
        server.ca_pem(),
        "test",
        "    token: s3cret",
        None,
    );
    let kc = write(fx.env.dir(), "kubeconfig", &kc);
    let played = format!(
        "{}---\n{}",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata: {mode: fast}\n",
        APP.split("---\n")
            .next()
            .unwrap()
            .replace("name: web", "name: app")
            .replace("app: web", "app: app")
            .replace("nginx:1.27", &fx.image)
            .replace("{name: cfg}", "{name: app-config}")
    );
    let file = write(fx.env.dir(), "app.yaml", &played);
    fx.env.ok(&["kube", "play", "--start=false", &file]);

    // A played object comes back as declared, with the ConfigMap it uses, applied first.
    assert_eq!(
        ok(&apply(&fx.env, &kc, &["app"])),
        [
            "configmap/app-config created",
            "deployment.apps/app created"
        ]
    );
    let deployment = server
        .object("/apis/apps/v1/namespaces/default/deployments/app")
        .unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        fx.image.as_str()
    );
    assert_eq!(deployment["metadata"]["labels"][SET_LABEL], "app");

    // A plain pod, shaped by --type, --replicas and --service.
    fx.env
        .ok(&["pod", "create", "--name", "web", "-p", "127.0.0.1:30093:80"]);
    fx.env.ok(&[
        "create", "--pod", "web", "--name", "web-srv", &fx.image, "httpd", "-f",
    ]);
    let out = apply(
        &fx.env,
        &kc,
        &[
            "web",
            "--type",
            "deployment",
            "--replicas",
            "3",
            "--service",
        ],
    );
    assert_eq!(
        ok(&out),
        ["service/web created", "deployment.apps/web created"]
    );
    let web = server
        .object("/apis/apps/v1/namespaces/default/deployments/web")
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 3);
    let service = server
        .object("/api/v1/namespaces/default/services/web")
        .unwrap();
    assert_eq!(service["spec"]["ports"][0]["nodePort"], 30093);

    // Shaping flags without NAME are refused: YAML is applied as written.
    let err = failed(&apply(&fx.env, &kc, &["-f", &file, "--replicas", "3"]));
    assert!(err.contains("--type, --replicas and --service"), "{err}");
}

#[test]
fn kube_apply_every_kind_play_understands_goes_to_its_api_path() {
    let c = token_cluster(Readiness::Never);
    // The round-trip fixtures (every kind play makes), then a CronJob and the Namespace the
    // fixtures' `shop` objects live in, last: the server refuses objects of a namespace that
    // does not exist, so they land only if apply sends the Namespace first.
    let dir = c.env.dir().join("roundtrip");
    std::fs::create_dir(&dir).unwrap();
    let mut files = Vec::new();
    for fixture in crate::kube::fixture_files("kube/roundtrip") {
        let text = std::fs::read_to_string(&fixture)
            .unwrap()
            .replace("IMAGE", TEST_IMAGE);
        let copy = dir.join(fixture.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        files.push(copy.display().to_string());
    }
    assert!(files.len() >= 34, "{} fixtures", files.len());
    let own = write(
        c.env.dir(),
        "own.yaml",
        &format!("{CRONJOB}---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"),
    );
    files.push(own.clone());
    let objects: Vec<Value> = files.iter().flat_map(|f| objects_of(f)).collect();
    let kinds: BTreeSet<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    let all: BTreeSet<&str> = KIND_PATHS.iter().map(|k| k.0).collect();
    assert_eq!(kinds, all, "every kind apply handles is in the input");
    assert!(
        objects
            .iter()
            .any(|o| o["metadata"]["namespace"] == "shop" && o["kind"] != "Namespace"),
        "objects in the shop namespace"
    );
    let expected: BTreeSet<String> = objects.iter().map(object_path).collect();
    assert_eq!(expected.len(), objects.len(), "one path per object");

    let dir_arg = dir.display().to_string();
    let lines = ok(&apply(&c.env, &c.kubeconfig, &["-f", &dir_arg, "-f", &own]));
    assert_eq!(lines.len(), objects.len(), "{lines:?}");
    assert!(lines.iter().all(|l| l.ends_with(" created")), "{lines:?}");

    let patches = c.server.requests_of("PATCH");
    let sent: BTreeSet<String> = patches.iter().map(|p| p.path.clone()).collect();
    assert_eq!(sent, expected, "the paths of the real API server");
    assert_eq!(patches.len(), objects.len(), "one PATCH per object");
    for p in &patches {
        assert_eq!(p.status, 201, "{} {}", p.path, p.body);
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{}",
            p.path
        );
        assert_eq!(
            p.query,
            [("fieldManager".to_string(), "oxpod".to_string())],
            "{}",
            p.path
        );
    }
    // Dependency order: the kinds others refer to come first.
    let ranks: Vec<u8> = patches
        .iter()
        .map(|p| kind_path(p.json()["kind"].as_str().unwrap()).3)
        .collect();
    assert!(ranks.is_sorted(), "apply order by kind: {ranks:?}");
    assert_eq!(patches[0].path, "/api/v1/namespaces/shop");

    // The server holds each object as written, with the apply labels.
    for object in &objects {
        let path = object_path(object);
        let stored = c
            .server
            .object(&path)
            .unwrap_or_else(|| panic!("{path} not stored: {:?}", c.server.names()));
        for (key, value) in object.as_object().unwrap() {
            if key != "metadata" {
                assert_eq!(&stored[key], value, "{path}: {key}");
            }
        }
        let meta = &stored["metadata"];
        assert_eq!(meta["name"], object["metadata"]["name"], "{path}");
        if let Some(labels) = object["metadata"]["labels"].as_object() {
            for (k, v) in labels {
                assert_eq!(&meta["labels"][k], v, "{path}: label {k}");
            }
        }
        assert_eq!(meta["labels"][MANAGER_LABEL], "oxpod", "{path}");
        assert_eq!(meta["labels"][SET_LABEL], "roundtrip", "{path}");
        if let Some(annotations) = object["metadata"]["annotations"].as_object() {
            for (k, v) in annotations {
                assert_eq!(&meta["annotations"][k], v, "{path}: annotation {k}");
            }
        }
    }

    // Applied again, every object is read back over the wire (GET) and found unchanged.
    c.server.clear_requests();
    let lines = ok(&apply(&c.env, &c.kubeconfig, &["-f", &dir_arg, "-f", &own]));
    assert_eq!(lines.len(), objects.len(), "{lines:?}");
    assert!(lines.iter().all(|l| l.ends_with(" unchanged")), "{lines:?}");
    let read: BTreeSet<String> = c
        .server
        .requests_of("GET")
        .into_iter()
        .filter(|r| r.status == 200 && expected.contains(&r.path))
        .map(|r| r.path)
        .collect();
    assert_eq!(read, expected, "every object read back");
}

#[test]
fn kube_apply_wait_holds_until_a_job_completes() {
    let c = token_cluster(Readiness::After(Duration::from_millis(1500)));
    let file = write(c.env.dir(), "batch.yaml", &format!("{JOB}---\n{CRONJOB}"));
    let started = Instant::now();
    let out = apply(
        &c.env,
        &c.kubeconfig,
        &["-f", &file, "--wait", "--timeout", "30s"],
    );
    assert_eq!(
        ok(&out),
        [
            "job.batch/thumbnails created",
            "cronjob.batch/nightly-report created",
            "job.batch/thumbnails complete"
        ]
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let gets = |path: &str| {
        c.server
            .requests_of("GET")
            .iter()
            .filter(|r| r.path == path)
            .count()
    };
    let polls = gets("/apis/batch/v1/namespaces/default/jobs/thumbnails");
    assert!(polls >= 3, "one GET before the apply, then polls: {polls}");
    assert_eq!(
        gets("/apis/batch/v1/namespaces/default/cronjobs/nightly-report"),
        1,
        "a CronJob is read before its apply and not waited for"
    );
}

#[test]
fn kube_apply_wait_fails_at_once_with_a_failed_jobs_message() {
    let c = token_cluster(Readiness::Fail(Duration::from_millis(500)));
    let file = write(c.env.dir(), "job.yaml", JOB);
    let started = Instant::now();
    let out = apply(
        &c.env,
        &c.kubeconfig,
        &["-f", &file, "--wait", "--timeout", "60s"],
    );
    let err = failed(&out);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no waiting on past the failure: {:?}",
        started.elapsed()
    );
    assert_eq!(stdout(&out).trim(), "job.batch/thumbnails created");
    assert!(
        err.contains("job.batch/thumbnails failed: Job has reached the specified backoff limit"),
        "{err}"
    );
}

#[test]
fn kube_apply_wait_times_out_on_a_running_job() {
    let c = token_cluster(Readiness::Never);
    let file = write(c.env.dir(), "job.yaml", JOB);
    let out = apply(
        &c.env,
        &c.kubeconfig,
        &["-f", &file, "--wait", "--timeout", "2s"],
    );
    let err = failed(&out);
    assert!(
        err.contains(
            "timed out after 2s waiting for job.batch/thumbnails: 0 of 3 completions succeeded, 2 pods active"
        ),
        "{err}"
    );
}

/// A StatefulSet, a ReplicaSet and a DaemonSet, none naming an update strategy (the server's
/// default, RollingUpdate, applies).
const SETS: &str = "\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 2
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: registry.example/busybox:1.36
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: workers
spec:
  replicas: 3
  selector:
    matchLabels: {app: workers}
  template:
    metadata:
      labels: {app: workers}
    spec:
      containers:
      - name: work
        image: registry.example/busybox:1.36
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: registry.example/busybox:1.36
";

const SET_PATHS: [&str; 3] = [
    "/apis/apps/v1/namespaces/default/statefulsets/db",
    "/apis/apps/v1/namespaces/default/replicasets/workers",
    "/apis/apps/v1/namespaces/default/daemonsets/agent",
];

#[test]
fn kube_apply_wait_holds_until_stateful_replica_and_daemon_sets_are_ready() {
    let c = token_cluster(Readiness::After(Duration::from_millis(1500)));
    let file = write(c.env.dir(), "sets.yaml", SETS);
    let started = Instant::now();
    let out = apply(
        &c.env,
        &c.kubeconfig,
        &["-f", &file, "--wait", "--timeout", "30s"],
    );
    assert_eq!(
        ok(&out),
        [
            "statefulset.apps/db created",
            "replicaset.apps/workers created",
            "daemonset.apps/agent created",
            "statefulset.apps/db rolled out",
            "replicaset.apps/workers rolled out",
            "daemonset.apps/agent rolled out",
        ]
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // What each poll saw: the GET before the apply finds nothing; then the status the server
    // reported, not ready at first and ready at the last poll, which ended the wait.
    let requests = c.server.requests();
    for path in SET_PATHS {
        let statuses: Vec<&Value> = requests
            .iter()
            .filter(|r| r.method == "GET" && r.path == path && r.status == 200)
            .map(|r| &r.response["status"])
            .collect();
        let (last, before) = statuses.split_last().expect("polls");
        assert!(!before.is_empty(), "{path}: polled before it was ready");
        let ready = |s: &Value| match path.split('/').nth(6).unwrap() {
            "statefulsets" => s["readyReplicas"] == 2 && s["updatedReplicas"] == 2,
            "replicasets" => s["availableReplicas"] == 3,
            _ => s["numberAvailable"] == 2 && s["updatedNumberScheduled"] == 2,
        };
        assert!(ready(last), "{path}: {last}");
        assert!(
            before.iter().all(|s| !ready(s)),
            "{path}: no poll after the ready one: {before:?}"
        );
        let last_get = requests
            .iter()
            .rposition(|r| r.method == "GET" && r.path == path)
            .unwrap();
        assert_eq!(requests[last_get].status, 200);
    }
}

#[test]
fn kube_apply_wait_times_out_naming_each_set_and_what_it_waits_for() {
    let c = token_cluster(Readiness::Never);
    let file = write(c.env.dir(), "sets.yaml", SETS);
    let started = Instant::now();
    let out = apply(
        &c.env,
        &c.kubeconfig,
        &["-f", &file, "--wait", "--timeout", "2s"],
    );
    let err = failed(&out);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        [
            "statefulset.apps/db created",
            "replicaset.apps/workers created",
            "daemonset.apps/agent created",
        ]
    );
    assert!(
        err.contains(
            "timed out after 2s waiting for statefulset.apps/db: 0 of 2 replicas ready; \
             replicaset.apps/workers: 0 of 3 replicas available; \
             daemonset.apps/agent: 0 of 2 pods available"
        ),
        "{err}"
    );
}
