//! `kube generate` as a user sees it: played objects written back with their references and
//! replicas, changes made after play showing up, plain pods and lone containers mapped to the
//! nearest Kubernetes fields (and what has no Kubernetes form named on stderr), `--type`,
//! `--service`, `--filename`, and output that plays back to the same thing.
//!
//! Snapshots (insta) hold the YAML with the test registry's image reference written `IMAGE`.

use crate::container_support::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `text` with `IMAGE` filled in, written under the test's directory.
fn manifest(fx: &Fixture, name: &str, text: &str) -> String {
    let path = fx.env.dir().join(name);
    std::fs::write(&path, text.replace("IMAGE", &fx.image)).unwrap();
    path.display().to_string()
}

/// `kube generate ARGS`, asserting success and that the output passes `oxpod kube validate`
/// and the independent `kubernetes-validate --strict`; stdout with the image written `IMAGE`,
/// and stderr.
fn generate(fx: &Fixture, args: &[&str]) -> (String, String) {
    let mut all = vec!["kube", "generate"];
    all.extend_from_slice(args);
    let out = fx.env.run(&all);
    assert!(
        out.status.success(),
        "kube generate {args:?} failed: {}",
        stderr(&out)
    );
    let yaml = stdout(&out);
    let file = fx.env.dir().join("generated-check.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let file_arg = file.display().to_string();
    let check = fx.env.run(&["kube", "validate", &file_arg]);
    assert!(
        check.status.success(),
        "kube validate rejects the output of kube generate {args:?}:\n{}\n{yaml}",
        stderr(&check)
    );
    let tool = crate::kube_roundtrip::kubernetes_validate_or_panic();
    if let Err(e) = crate::kube_roundtrip::strictly_valid(&tool, &[file.as_path()]) {
        panic!("output of kube generate {args:?}: {e}\n{yaml}");
    }
    (yaml.replace(&fx.image, "IMAGE"), stderr(&out))
}

const APP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  mode: fast
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  token: s3cret
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: app-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 2Gi
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels:
    app: app
spec:
  replicas: 2
  selector:
    matchLabels:
      app: app
  template:
    metadata:
      labels:
        app: app
      annotations:
        team: web
    spec:
      containers:
        - name: server
          image: IMAGE
          command: ["sh", "-c", "sleep 1000"]
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          env:
            - name: MODE
              valueFrom:
                configMapKeyRef: {name: app-config, key: mode}
            - name: TOKEN
              valueFrom:
                secretKeyRef: {name: app-secret, key: token}
          readinessProbe:
            tcpSocket: {port: http}
            periodSeconds: 2
          resources:
            requests: {cpu: 100m, memory: 32Mi}
            limits: {memory: 64Mi}
          volumeMounts:
            - {name: data, mountPath: /data}
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: app-data}
"#;

#[test]
fn a_played_deployment_comes_back_with_its_references_and_replicas() {
    let fx = setup();
    let file = manifest(&fx, "app.yaml", APP);
    fx.ok(&["kube", "play", "--start=false", &file]);

    let (yaml, notes) = generate(&fx, &["app"]);
    insta::assert_snapshot!("played_deployment", yaml);
    // The Secret is referenced, not written, unless asked for.
    assert!(!yaml.contains("kind: Secret"), "{yaml}");
    assert!(
        notes.contains("Secret default/app-secret is referenced but not written"),
        "{notes}"
    );
    let (with_secret, _) = generate(&fx, &["deployment/app", "--include-secrets"]);
    assert!(with_secret.contains("kind: Secret"), "{with_secret}");
    assert!(with_secret.contains("token: czNjcmV0"), "{with_secret}");

    // --from-play gives the same objects, the Secret among them when asked.
    let (from_play, _) = generate(&fx, &["--from-play", &file, "--include-secrets"]);
    assert_eq!(from_play, with_secret);
}

#[test]
fn changes_made_after_play_show_up() {
    let fx = setup();
    let file = manifest(&fx, "app.yaml", APP);
    fx.ok(&["kube", "play", "--start=false", &file]);
    // One replica removed, a container added to the other.
    fx.ok(&["pod", "rm", "-f", "app-1"]);
    fx.ok(&[
        "create",
        "--pod",
        "app-0",
        "--name",
        "app-0-sidecar",
        "-e",
        "LEVEL=debug",
        "{img}",
        "sleep",
        "500",
    ]);
    let (yaml, _) = generate(&fx, &["deployment/app"]);
    assert!(!yaml.contains("replicas: 2"), "{yaml}");
    let doc = serde_saphyr::from_multiple::<serde_json::Value>(&yaml)
        .unwrap()
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    // One replica left: `replicas: 1` is the default, so it is not written.
    assert!(doc["spec"].get("replicas").is_none(), "{yaml}");
    let containers = doc["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["server", "sidecar"], "{yaml}");
    assert_eq!(
        containers[1]["env"],
        serde_json::json!([{"name": "LEVEL", "value": "debug"}])
    );
    assert_eq!(containers[1]["args"], serde_json::json!(["sleep", "500"]));
}

#[test]
fn a_plain_pod_maps_to_the_nearest_fields_and_says_what_has_no_form() {
    let fx = setup();
    fx.ok(&[
        "pod",
        "create",
        "--name",
        "shop",
        "-p",
        "127.0.0.1:30091:80",
        "--label",
        "tier=front",
        "--add-host",
        "db:10.0.0.5",
        "--dns",
        "10.0.0.53",
    ]);
    fx.ok(&[
        "create",
        "--pod",
        "shop",
        "--name",
        "shop-api",
        "-e",
        "FOO=bar",
        "-v",
        "cache:/cache",
        "-v",
        "/tmp:/host:ro",
        "--tmpfs",
        "/run/scratch",
        "--memory",
        "128m",
        "--cpus",
        "0.5",
        "-u",
        "1000:1000",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "ALL",
        "--read-only",
        "-w",
        "/tmp",
        "--pids-limit",
        "100",
        "{img}",
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    fx.ok(&[
        "create",
        "--pod",
        "shop",
        "--name",
        "shop-worker",
        "--stop-signal",
        "SIGINT",
        "{img}",
    ]);
    let (yaml, notes) = generate(&fx, &["shop"]);
    insta::assert_snapshot!("plain_pod", yaml);
    for expected in [
        "container shop-api: --pids-limit has no Kubernetes form",
        "container shop-worker: stop signal SIGINT has no Kubernetes form",
    ] {
        assert!(notes.contains(expected), "missing {expected:?} in {notes}");
    }
    // The image's own command is not repeated: the worker runs the image's `sh`.
    assert!(!yaml.contains("- sh\n"), "{yaml}");
    // The named volume comes with a claim.
    assert!(yaml.contains("kind: PersistentVolumeClaim"), "{yaml}");
}

#[test]
fn generated_plain_pod_plays_back_to_the_same_yaml() {
    let fx = setup();
    fx.ok(&["pod", "create", "--name", "echo", "--label", "app=echo"]);
    fx.ok(&[
        "create",
        "--pod",
        "echo",
        "--name",
        "echo-srv",
        "-e",
        "A=1",
        "-v",
        "/tmp:/t:ro",
        "--memory",
        "64m",
        "{img}",
        "sleep",
        "300",
    ]);
    let (first, _) = generate(&fx, &["echo"]);
    fx.ok(&["pod", "rm", "-f", "echo"]);
    let file = manifest(&fx, "echo.yaml", &first);
    fx.ok(&["kube", "play", "--start=false", &file]);
    let (second, _) = generate(&fx, &["echo"]);
    assert_eq!(second, first);
}

#[test]
fn type_and_service_wrap_a_pod() {
    let fx = setup();
    fx.ok(&["pod", "create", "--name", "web", "-p", "127.0.0.1:30092:80"]);
    fx.ok(&[
        "create", "--pod", "web", "--name", "web-srv", "{img}", "httpd", "-f",
    ]);
    let (yaml, _) = generate(
        &fx,
        &[
            "web",
            "--type",
            "deployment",
            "--replicas",
            "3",
            "--service",
        ],
    );
    insta::assert_snapshot!("deployment_with_service", yaml);
    // The host port moved to the Service's nodePort: the pod does not claim it too.
    assert!(yaml.contains("nodePort: 30092"), "{yaml}");
    assert!(!yaml.contains("hostPort"), "{yaml}");

    // A port outside the NodePort range stays the pod's and the Service is a ClusterIP.
    fx.ok(&[
        "pod",
        "create",
        "--name",
        "api",
        "-p",
        "127.0.0.1:8089:8080",
    ]);
    fx.ok(&["create", "--pod", "api", "--name", "api-srv", "{img}"]);
    let (yaml, notes) = generate(&fx, &["api", "--service"]);
    assert!(yaml.contains("hostPort: 8089"), "{yaml}");
    assert!(!yaml.contains("NodePort"), "{yaml}");
    assert!(notes.contains("outside the NodePort range"), "{notes}");

    let (job, _) = generate(&fx, &["api", "--type", "job"]);
    assert!(job.contains("kind: Job"), "{job}");
    assert!(job.contains("restartPolicy: Never"), "{job}");
}

#[test]
fn a_lone_container_and_a_volume() {
    let fx = setup();
    fx.ok(&[
        "create",
        "--name",
        "lone",
        "-p",
        "127.0.0.1:8093:80",
        "--restart",
        "always",
        "--label",
        "team=a",
        "--tmpfs",
        "/scratch:mode=1777",
        "{img}",
        "sleep",
        "100",
    ]);
    let (yaml, notes) = generate(&fx, &["lone"]);
    insta::assert_snapshot!("lone_container", yaml);
    // A lone container's labels are its pod's; a tmpfs mode has no Kubernetes form.
    assert!(yaml.contains("team: a"), "{yaml}");
    assert!(
        notes.contains(
            "the mode and mount options of the tmpfs at /scratch have no Kubernetes form"
        ),
        "{notes}"
    );
    fx.ok(&["volume", "create", "keep"]);
    let (claim, _) = generate(&fx, &["keep"]);
    assert!(claim.contains("kind: PersistentVolumeClaim"), "{claim}");
    assert!(claim.contains("name: keep"), "{claim}");
}

#[test]
fn filename_is_not_overwritten_without_force_and_unknown_names_fail() {
    let fx = setup();
    fx.ok(&["pod", "create", "--name", "p"]);
    fx.ok(&["create", "--pod", "p", "--name", "p-c", "{img}"]);
    let path = fx.env.dir().join("out.yaml");
    std::fs::write(&path, "keep me").unwrap();
    let path = path.display().to_string();
    let out = fx.env.run(&["kube", "generate", "p", "-f", &path]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    fx.ok(&["kube", "generate", "p", "-f", &path, "--force"]);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("kind: Pod")
    );

    let out = fx.env.run(&["kube", "generate", "nothing-here"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no pod, container, volume or played object named"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}
