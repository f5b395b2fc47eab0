//! `kube play` and `kube down` as a user sees them: diagnostics that point into the YAML and
//! make nothing, every fixture played and taken down, Services answering from every replica,
//! ConfigMaps and Secrets reaching containers, claims outliving a down, idempotent re-plays,
//! rollback of a failed play, published and unpublished ports, dry runs, Jobs, init
//! containers, and input from stdin, directories and `kind: List`.
//!
//! Manifests under `fixtures/kube/` say `IMAGE` where the test's busybox reference goes.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use crate::container_support::*;
use crate::net_support::*;

/// `fixtures/` at the top of the repository.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The `*.yaml` files of `fixtures/<kind>`, sorted.
pub(crate) fn fixture_files(kind: &str) -> Vec<PathBuf> {
    let dir = fixtures().join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

/// `text` with `IMAGE` replaced by the busybox reference, written to `<test dir>/<name>`.
fn manifest(fx: &Fixture, name: &str, text: &str) -> String {
    let path = fx.env.dir().join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text.replace("IMAGE", &fx.image)).unwrap();
    path.display().to_string()
}

/// A copy of `fixtures/<kind>/<file>` (same file name) with the image filled in.
pub(crate) fn fixture(fx: &Fixture, path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let kind = path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    manifest(fx, &format!("{kind}/{name}"), &text)
}

pub(crate) fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Names of the pods, sorted.
fn pod_names(fx: &Fixture) -> Vec<String> {
    let pods = crate::support::json(&fx.ok(&["pod", "ps", "--format", "json"]));
    let mut names: Vec<String> = pods
        .as_array()
        .unwrap_or_else(|| panic!("pod ps --format json is not an array: {pods}"))
        .iter()
        .map(|p| p["Name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn pod_id(fx: &Fixture, name: &str) -> String {
    pod_inspect(&fx.env, name)["Id"]
        .as_str()
        .unwrap_or_else(|| panic!("pod {name} has no Id"))
        .to_string()
}

/// No pod, container or volume in the root: what a failed play must leave.
fn assert_nothing_made(fx: &Fixture, what: &str) {
    for args in [
        &["pod", "ps", "-q"][..],
        &["ps", "-a", "-q"],
        &["volume", "ls", "-q"],
    ] {
        let out = fx.ok(args);
        assert_eq!(out.trim(), "", "{what}: `{}` lists {out:?}", args.join(" "));
    }
}

/// Files under `<root>/secrets`, if any.
pub(crate) fn secret_files(fx: &Fixture) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&fx.env.root().join("secrets"), &mut out);
    out
}

/// A port in the node port range (30000-32767) that nothing on the host listens on now.
/// Tests of this run start at different places so they do not pick the same one.
fn free_node_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() as u64 * 131
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_micros() as u64) as u16;
    for _ in 0..2768 {
        let n = NEXT.fetch_add(97, Ordering::Relaxed).wrapping_add(seed);
        let port = 30000 + n % 2768;
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 30000-32767");
}

/// `exec CONTAINER COMMAND...`, retried (for up to ten seconds) until it succeeds; its stdout.
fn exec_ok(fx: &Fixture, container: &str, command: &[&str]) -> String {
    let mut args = vec!["exec", container];
    args.extend_from_slice(command);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = fx.env.run(&args);
        if out.status.success() {
            return stdout(&out);
        }
        if Instant::now() > deadline {
            panic!(
                "oxpod {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
                out.status,
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `exec CONTAINER sh -c SCRIPT`, as [`exec_ok`].
fn exec_sh(fx: &Fixture, container: &str, script: &str) -> String {
    exec_ok(fx, container, &["sh", "-c", script])
}

/// `wait CONTAINER` (it runs to completion) and its output.
fn finished_logs(fx: &Fixture, container: &str) -> String {
    assert_eq!(
        fx.ok(&["wait", container]).trim(),
        "0",
        "{container} failed"
    );
    fx.ok(&["logs", container])
}

/// busybox httpd serving the pod's hostname on 8080.
const HOSTNAME_HTTPD: &str =
    "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www";

// ---------------------------------------------------------------------------------------------
// 1. Invalid input: a diagnostic at the right place, and nothing made.

#[test]
fn every_invalid_fixture_is_refused_at_its_position_and_nothing_is_made() {
    let fx = setup();
    let mut failures = Vec::new();
    for path in fixture_files("kube/invalid") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected_path = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{name} has no {}: {e}", expected_path.display()));
        let file = fixture(&fx, &path);
        let out = fx.env.run(&["kube", "play", &file]);
        let err = stderr(&out);
        if out.status.code() != Some(125) {
            failures.push(format!(
                "{name}: exit {:?}, want 125\nstdout:\n{}\nstderr:\n{err}",
                out.status,
                stdout(&out)
            ));
        }
        for crash in ["panicked", "RUST_BACKTRACE"] {
            if err.contains(crash) {
                failures.push(format!("{name}: looks like a crash:\n{err}"));
            }
        }
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            if !err.contains(line) {
                failures.push(format!("{name}: stderr lacks {line:?}:\n{err}"));
            }
        }
        // The position is miette's `╭─[FILE:LINE:COL]` header.
        assert!(
            expected
                .lines()
                .any(|l| l.starts_with(name.as_str()) && l[name.len()..].starts_with(':')),
            "{name}.expected names no position"
        );
        for args in [
            &["pod", "ps", "-q"][..],
            &["ps", "-a", "-q"],
            &["volume", "ls", "-q"],
        ] {
            let listed = fx.ok(args);
            if !listed.trim().is_empty() {
                failures.push(format!(
                    "{name}: `{}` lists {listed:?} after the refused play",
                    args.join(" ")
                ));
                // Clean up so the next fixture is judged on its own.
                let _ = fx.env.run(&["kube", "down", "--volumes", &file]);
            }
        }
        if !secret_files(&fx).is_empty() {
            failures.push(format!("{name}: secrets stored: {:?}", secret_files(&fx)));
        }
        // Nor a ConfigMap, Secret or Service: `kube down` finds nothing (when the input is
        // well-formed enough for down to read it).
        let down = fx.env.run(&["kube", "down", "--volumes", &file]);
        if down.status.success() && !stdout(&down).is_empty() {
            failures.push(format!(
                "{name}: the refused play made something; kube down removed:\n{}",
                stdout(&down)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A reference to a ConfigMap the input lacks is fine when the store has it (and refused,
/// with its position, when it does not).
#[test]
fn a_reference_to_a_stored_config_map_is_checked_against_the_store() {
    let fx = setup();
    let pod = manifest(
        &fx,
        "pod.yaml",
        "apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo level=$LEVEL']
    env:
    - name: LEVEL
      valueFrom:
        configMapKeyRef:
          name: stored
          key: level
",
    );
    let (code, err) = fx.env.fails(&["kube", "play", "--start=false", &pod]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("ConfigMap stored is neither in the input nor in the store")
            && err.contains("pod.yaml:15:9"),
        "{err}"
    );
    assert_nothing_made(&fx, "missing ConfigMap");
    let cm = manifest(
        &fx,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stored\ndata:\n  level: high\n",
    );
    fx.ok(&["kube", "play", &cm]);
    fx.ok(&["kube", "play", &pod]);
    assert_eq!(finished_logs(&fx, "reader-main"), "level=high\n");
}

// ---------------------------------------------------------------------------------------------
// 2. Every valid fixture plays, and `kube down` takes it away.

/// The pods a fixture says it makes: its `# pods: a b c` line.
fn expected_pods(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# pods:"))
        .unwrap_or_else(|| panic!("{} has no `# pods:` line", path.display()));
    let mut pods: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    pods.sort();
    pods
}

#[test]
fn every_valid_fixture_plays_and_kube_down_removes_it() {
    let fx = setup();
    let mut failures = Vec::new();
    for path in fixture_files("kube/valid") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let file = fixture(&fx, &path);
        let out = fx.env.run(&["kube", "play", "--start=false", &file]);
        if !out.status.success() {
            failures.push(format!(
                "{name}: play failed ({:?})\nstdout:\n{}\nstderr:\n{}",
                out.status,
                stdout(&out),
                stderr(&out)
            ));
            let _ = fx.env.run(&["kube", "down", "--volumes", &file]);
            continue;
        }
        let want = expected_pods(&path);
        let have = pod_names(&fx);
        if have != want {
            failures.push(format!("{name}: pods {have:?}, want {want:?}"));
        }
        let down = fx.env.run(&["kube", "down", "--volumes", &file]);
        if !down.status.success() {
            failures.push(format!(
                "{name}: down failed ({:?})\nstdout:\n{}\nstderr:\n{}",
                down.status,
                stdout(&down),
                stderr(&down)
            ));
        }
        for args in [
            &["pod", "ps", "-q"][..],
            &["ps", "-a", "-q"],
            &["volume", "ls", "-q"],
        ] {
            let listed = fx.ok(args);
            if !listed.trim().is_empty() {
                failures.push(format!(
                    "{name}: `{}` lists {listed:?} after kube down --volumes",
                    args.join(" ")
                ));
            }
        }
        if !secret_files(&fx).is_empty() {
            failures.push(format!(
                "{name}: secrets left after down: {:?}",
                secret_files(&fx)
            ));
        }
        // Whatever a broken down left must not spoil the next fixture.
        let _ = fx.env.run(&["pod", "rm", "-f", "-a"]);
        let _ = fx.env.run(&["volume", "prune", "-f"]);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------------
// 3. A Deployment behind a NodePort Service answers from every replica.

#[test]
fn node_port_service_spreads_requests_over_every_replica() {
    let fx = setup();
    let node_port = free_node_port();
    let file = manifest(
        &fx,
        "web.yaml",
        &format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: httpd
        image: IMAGE
        imagePullPolicy: IfNotPresent
        command: [sh, -c]
        args: [{HOSTNAME_HTTPD:?}]
        ports:
        - name: http
          containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
    targetPort: http
    nodePort: {node_port}
"
        ),
    );
    // A network of its own: the default bridge is shared by every test root on the host.
    fx.ok(&["network", "create", "--subnet", &unique_subnet(), "kube-np"]);
    let out = fx.ok(&[
        "kube",
        "play",
        "--network",
        "kube-np",
        "--wait",
        "--wait-timeout",
        "60s",
        &file,
    ]);
    assert!(out.contains("Service:\ndefault/web "), "{out}");
    assert_eq!(pod_names(&fx), ["web-0", "web-1", "web-2"]);
    let want: BTreeSet<String> = ["web-0", "web-1", "web-2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answers = 0;
    while seen != want && Instant::now() < deadline {
        if let Some(body) = http_get(node_port, Duration::from_secs(5)) {
            answers += 1;
            seen.insert(body.trim().to_string());
        }
    }
    assert_eq!(seen, want, "after {answers} answers on :{node_port}");
    // Inside a pod the Service has a name, short and fully qualified.
    for host in ["web", "web.default.svc.cluster.local"] {
        let body = exec_sh(&fx, "web-0-httpd", &format!("wget -qO- http://{host}:80/"));
        assert!(
            want.contains(body.trim()),
            "wget http://{host}:80/ from web-0 answered {body:?}"
        );
    }
    fx.ok(&["kube", "down", &file]);
    assert!(pod_names(&fx).is_empty());
    assert_eq!(
        http_get(node_port, Duration::ZERO),
        None,
        "node port still served"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. ConfigMaps and Secrets reach env and files; Secret data stays private.

const CONFIG_AND_SECRET: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: production
  color: blue
  app.properties: |
    size=10
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
type: Opaque
stringData:
  password: hunter2-kube-secret
  token: tok-0xC0FFEE-secret
---
apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  volumes:
  - name: config
    configMap:
      name: settings
      defaultMode: 0400
      items:
      - key: app.properties
        path: conf/app.properties
  - name: secret
    secret:
      secretName: creds
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
    env:
    - name: MODE
      valueFrom:
        configMapKeyRef:
          name: settings
          key: mode
    - name: PASSWORD
      valueFrom:
        secretKeyRef:
          name: creds
          key: password
    envFrom:
    - configMapRef:
        name: settings
      prefix: CFG_
    - secretRef:
        name: creds
      prefix: SEC_
    volumeMounts:
    - name: config
      mountPath: /etc/app
    - name: secret
      mountPath: /run/secret
      readOnly: true
";

#[test]
fn config_map_and_secret_values_reach_env_and_files() {
    let fx = setup();
    let file = manifest(&fx, "app.yaml", CONFIG_AND_SECRET);
    fx.ok(&["kube", "play", "--wait", "--wait-timeout", "60s", &file]);
    // `env` itself (a shell would drop names such as `CFG_app.properties`).
    let env = exec_ok(&fx, "app-main", &["env"]);
    let mut vars: Vec<&str> = env
        .lines()
        .filter(|l| {
            ["MODE=", "PASSWORD=", "CFG_", "SEC_"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    vars.sort();
    assert_eq!(
        vars,
        [
            "CFG_app.properties=size=10",
            "CFG_color=blue",
            "CFG_mode=production",
            "MODE=production",
            "PASSWORD=hunter2-kube-secret",
            "SEC_password=hunter2-kube-secret",
            "SEC_token=tok-0xC0FFEE-secret",
        ],
        "{env}"
    );
    // Only the item asked for, at its path, with defaultMode 0400.
    assert_eq!(
        exec_sh(&fx, "app-main", "cat /etc/app/conf/app.properties"),
        "size=10\n"
    );
    assert_eq!(
        exec_sh(
            &fx,
            "app-main",
            "stat -L -c %a /etc/app/conf/app.properties"
        ),
        "400\n"
    );
    assert_eq!(exec_sh(&fx, "app-main", "ls /etc/app"), "conf\n");
    assert_eq!(
        exec_sh(
            &fx,
            "app-main",
            "cat /run/secret/password; echo; cat /run/secret/token"
        ),
        "hunter2-kube-secret\ntok-0xC0FFEE-secret"
    );
    // The stored Secret is a file only root can read.
    let files = secret_files(&fx);
    assert_eq!(files.len(), 1, "{files:?}");
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", files[0].display());
    fx.ok(&["kube", "down", &file]);
    assert!(secret_files(&fx).is_empty(), "{:?}", secret_files(&fx));
}

#[test]
fn inspect_does_not_print_secret_data() {
    let fx = setup();
    let file = manifest(&fx, "app.yaml", CONFIG_AND_SECRET);
    fx.ok(&["kube", "play", "--start=false", &file]);
    let shown = fx.ok(&["inspect", "app-main"]);
    for secret in ["hunter2-kube-secret", "tok-0xC0FFEE-secret"] {
        assert!(
            !shown.contains(secret),
            "inspect app-main prints the Secret value {secret:?}:\n{shown}"
        );
    }
    let pod = fx.ok(&["pod", "inspect", "app"]);
    assert!(!pod.contains("hunter2-kube-secret"), "{pod}");
    // On disk, only root can read it: every file holding the value is out of others' reach.
    let exposed = files_others_can_read_holding(&fx.env.root(), b"hunter2-kube-secret");
    assert!(
        exposed.is_empty(),
        "files other users can read hold the Secret value: {exposed:?}"
    );
}

/// Files under `root` containing `needle` that a user other than root could read: the file
/// is readable by others and every directory above it (up to `root`) searchable by others.
fn files_others_can_read_holding(root: &Path, needle: &[u8]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                walk(&p, out);
            } else if meta.is_file() {
                out.push(p);
            }
        }
    }
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    let mut files = Vec::new();
    walk(root, &mut files);
    files
        .into_iter()
        .filter(|f| std::fs::read(f).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
        .filter(|f| {
            mode(f) & 0o004 != 0
                && f.ancestors()
                    .skip(1)
                    .take_while(|d| d.starts_with(root))
                    .all(|d| mode(d) & 0o001 != 0)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 5. A claim's data outlives `kube down`; `--volumes` removes it.

#[test]
fn claim_data_survives_down_and_replay_and_down_volumes_removes_it() {
    let fx = setup();
    let file = manifest(
        &fx,
        "pvc.yaml",
        "apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: keep-me
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 10Mi
---
apiVersion: v1
kind: Pod
metadata:
  name: store
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: data
    persistentVolumeClaim:
      claimName: keep-me
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
    volumeMounts:
    - name: data
      mountPath: /data
",
    );
    fx.ok(&["kube", "play", "--wait", "--wait-timeout", "60s", &file]);
    assert_eq!(fx.ok(&["volume", "ls", "-q"]), "keep-me\n");
    exec_sh(&fx, "store-main", "echo written-before-down > /data/note");
    fx.ok(&["kube", "down", &file]);
    assert!(pod_names(&fx).is_empty());
    assert_eq!(fx.ok(&["volume", "ls", "-q"]), "keep-me\n");
    fx.ok(&["kube", "play", "--wait", "--wait-timeout", "60s", &file]);
    assert_eq!(
        exec_sh(&fx, "store-main", "cat /data/note"),
        "written-before-down\n"
    );
    let out = fx.ok(&["kube", "down", "--volumes", &file]);
    assert!(out.contains("Volumes removed:\nkeep-me"), "{out}");
    assert_eq!(fx.ok(&["volume", "ls", "-q"]), "");
    assert!(pod_names(&fx).is_empty());
}

/// A StatefulSet's volumeClaimTemplates give each replica a claim of its own,
/// `<template>-<pod>`, mounted where the containers' volumeMounts (naming the template) say.
#[test]
fn statefulset_replicas_mount_their_own_claims() {
    let fx = setup();
    let path = fixtures().join("kube/valid/statefulset.yaml");
    let file = fixture(&fx, &path);
    fx.ok(&["kube", "play", "--start=false", &file]);
    assert_eq!(pod_names(&fx), ["db-0", "db-1"]);
    assert_eq!(fx.ok(&["volume", "ls", "-q"]), "data-db-0\ndata-db-1\n");
    for ordinal in 0..2 {
        let c = inspect(&fx.env, &format!("db-{ordinal}-store"));
        let mounts = c["Mounts"].as_array().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["Name"] == format!("data-db-{ordinal}") && m["Destination"] == "/data"),
            "db-{ordinal}-store mounts {mounts:?}"
        );
    }
    fx.ok(&["kube", "down", &file]);
    assert_eq!(fx.ok(&["volume", "ls", "-q"]), "data-db-0\ndata-db-1\n");
    fx.ok(&["kube", "down", "--volumes", &file]);
    assert_nothing_made(&fx, "down --volumes of a StatefulSet");
}

// ---------------------------------------------------------------------------------------------
// 6. Re-plays: unchanged without --replace, recreated with it, scaled down with fewer replicas.

fn deployment(replicas: usize) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: main
        image: IMAGE
        imagePullPolicy: IfNotPresent
        command: [sleep, '3600']
"
    )
}

#[test]
fn replay_is_idempotent_replace_recreates_and_fewer_replicas_scale_down() {
    let fx = setup();
    let three = manifest(&fx, "three.yaml", &deployment(3));
    fx.ok(&["kube", "play", &three]);
    let names = ["web-0", "web-1", "web-2"];
    assert_eq!(pod_names(&fx), names);
    let ids: Vec<String> = names.iter().map(|n| pod_id(&fx, n)).collect();
    let containers = fx.ok(&["ps", "-a", "-q", "--no-trunc"]);

    // Again, without --replace: nothing changes, and stderr says why.
    let out = fx.env.run(&["kube", "play", &three]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for n in names {
        assert!(
            err.contains(&format!("pod {n} exists; left as it is")),
            "stderr does not say {n} exists:\n{err}"
        );
    }
    assert_eq!(
        names.iter().map(|n| pod_id(&fx, n)).collect::<Vec<_>>(),
        ids
    );
    assert_eq!(fx.ok(&["ps", "-a", "-q", "--no-trunc"]), containers);

    // --replace: the same names, new pods.
    fx.ok(&["kube", "play", "--replace", &three]);
    assert_eq!(pod_names(&fx), names);
    for (n, old) in names.iter().zip(&ids) {
        assert_ne!(&pod_id(&fx, n), old, "pod {n} was not recreated");
    }
    let replaced: Vec<String> = names.iter().map(|n| pod_id(&fx, n)).collect();

    // One replica: the others go, the one kept is left as it was.
    let one = manifest(&fx, "one.yaml", &deployment(1));
    let out = fx.ok(&["kube", "play", &one]);
    assert!(out.contains("Removed pod web-1 (scaled down)"), "{out}");
    assert!(out.contains("Removed pod web-2 (scaled down)"), "{out}");
    assert_eq!(pod_names(&fx), ["web-0"]);
    assert_eq!(pod_id(&fx, "web-0"), replaced[0]);
    assert_eq!(fx.ok(&["ps", "-a", "-q"]).lines().count(), 1);

    // Down twice: the second has nothing to do, and says nothing.
    let out = fx.ok(&["kube", "down", &one]);
    assert!(out.contains("Pods stopped and removed:"), "{out}");
    assert!(pod_names(&fx).is_empty());
    let again = fx.env.run(&["kube", "down", &one]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), "");
    assert_nothing_made(&fx, "after two downs");
}

// ---------------------------------------------------------------------------------------------
// 7. A play that fails half-way leaves nothing it made.

fn rollback_input(second_pod: &str) -> String {
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: rollback-settings
data:
  a: '1'
---
apiVersion: v1
kind: Secret
metadata:
  name: rollback-secret
stringData:
  b: '2'
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: rollback-claim
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 10Mi
---
apiVersion: v1
kind: Pod
metadata:
  name: first
spec:
  volumes:
  - name: data
    persistentVolumeClaim:
      claimName: rollback-claim
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
    envFrom:
    - configMapRef:
        name: rollback-settings
    volumeMounts:
    - name: data
      mountPath: /data
---
{second_pod}"
    )
}

/// Nothing of [`rollback_input`] is left: no pod, container, volume, Secret file, and `kube
/// down` of the input finds nothing to remove (no ConfigMap, Secret or Service).
fn assert_rolled_back(fx: &Fixture, file: &str, what: &str) {
    assert_nothing_made(fx, what);
    assert!(
        secret_files(fx).is_empty(),
        "{what}: {:?}",
        secret_files(fx)
    );
    let down = fx.ok(&["kube", "down", "--volumes", file]);
    assert_eq!(down, "", "{what}: kube down found something to remove");
    // And a ConfigMap reference to it is refused: it is not in the store.
    let probe = manifest(
        fx,
        "probe.yaml",
        "apiVersion: v1
kind: Pod
metadata:
  name: probe
spec:
  containers:
  - name: main
    image: IMAGE
    envFrom:
    - configMapRef:
        name: rollback-settings
",
    );
    let (_, err) = fx.env.fails(&["kube", "play", "--dry-run", &probe]);
    assert!(
        err.contains("ConfigMap rollback-settings is neither in the input nor in the store"),
        "{what}: {err}"
    );
}

#[test]
fn a_taken_host_port_fails_the_play_and_rolls_everything_back() {
    let fx = setup();
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let file = manifest(
        &fx,
        "rollback.yaml",
        &rollback_input(&format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: second
spec:
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
    ports:
    - containerPort: 80
      hostPort: {port}
"
        )),
    );
    let (code, err) = fx.env.fails(&["kube", "play", &file]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains(&port.to_string()),
        "error does not name the port:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_rolled_back(&fx, &file, "taken host port");
    drop(taken);
}

#[test]
fn a_missing_image_fails_the_play_and_leaves_nothing() {
    let fx = setup();
    let missing = format!("{}/busybox:no-such-tag", fx.reg.addr());
    let file = manifest(
        &fx,
        "rollback.yaml",
        &rollback_input(&format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: second
spec:
  containers:
  - name: main
    image: {missing}
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
"
        )),
    );
    let (code, err) = fx.env.fails(&["kube", "play", &file]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("no-such-tag"),
        "error does not name the image:\n{err}"
    );
    assert_rolled_back(&fx, &file, "missing image");
}

// ---------------------------------------------------------------------------------------------
// 8. A bare containerPort is not published; a hostPort is.

#[test]
fn bare_container_port_is_not_published_but_host_port_is() {
    let fx = setup();
    let bare = free_port();
    let host = free_port();
    let file = manifest(
        &fx,
        "ports.yaml",
        &format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: ports
spec:
  containers:
  - name: bare
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'mkdir -p /b && echo bare > /b/index.html && exec httpd -f -p {bare} -h /b']
    ports:
    - containerPort: {bare}
  - name: published
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'mkdir -p /p && echo published > /p/index.html && exec httpd -f -p 8081 -h /p']
    ports:
    - containerPort: 8081
      hostPort: {host}
"
        ),
    );
    fx.ok(&[
        "network",
        "create",
        "--subnet",
        &unique_subnet(),
        "kube-ports",
    ]);
    fx.ok(&[
        "kube",
        "play",
        "--network",
        "kube-ports",
        "--wait",
        "--wait-timeout",
        "60s",
        &file,
    ]);
    assert_eq!(
        http_get(host, Duration::from_secs(10)).as_deref(),
        Some("published\n")
    );
    // The bare port serves inside the pod, and not on the host.
    assert_eq!(
        exec_sh(
            &fx,
            "ports-published",
            &format!("wget -qO- http://127.0.0.1:{bare}/")
        ),
        "bare\n"
    );
    assert_eq!(http_get(bare, Duration::ZERO), None);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", bare)).is_err(),
        "something listens on the host on the bare containerPort {bare}"
    );
    // Ports belong to the pod: every container of it lists the one published.
    for c in ["ports-bare", "ports-published"] {
        assert_eq!(
            fx.ok(&["port", c]),
            format!("8081/tcp -> 0.0.0.0:{host}\n"),
            "port {c}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 9. --dry-run says what would be made and makes nothing.

#[test]
fn dry_run_prints_the_plan_and_makes_nothing() {
    let fx = setup();
    let file = manifest(
        &fx,
        "plan.yaml",
        &format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: plan-settings
data:
  a: '1'
---
apiVersion: v1
kind: Secret
metadata:
  name: plan-secret
stringData:
  b: '2'
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: plan-claim
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 10Mi
---
{}---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
",
            deployment(2)
        ),
    );
    let out = fx.ok(&["kube", "play", "--dry-run", &file]);
    for line in [
        "create ConfigMap default/plan-settings",
        "create Secret default/plan-secret",
        "create volume plan-claim",
        "create pod web-0 (Deployment) with containers web-0-main",
        "create pod web-1 (Deployment) with containers web-1-main",
        "create Service default/web",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
    assert_nothing_made(&fx, "dry run");
    assert!(secret_files(&fx).is_empty());
    assert_eq!(
        fx.ok(&["kube", "down", &file]),
        "",
        "the dry run made something"
    );

    // After a real play, the dry run says what is left and what would be replaced.
    fx.ok(&["kube", "play", "--start=false", &file]);
    let ids = [pod_id(&fx, "web-0"), pod_id(&fx, "web-1")];
    let out = fx.ok(&["kube", "play", "--dry-run", &file]);
    assert!(
        out.lines()
            .any(|l| l == "unchanged pod web-0 (Deployment) with containers web-0-main"),
        "{out}"
    );
    let out = fx.ok(&["kube", "play", "--dry-run", "--replace", &file]);
    assert!(
        out.lines()
            .any(|l| l == "replace pod web-1 (Deployment) with containers web-1-main"),
        "{out}"
    );
    assert_eq!([pod_id(&fx, "web-0"), pod_id(&fx, "web-1")], ids);
    let scaled = manifest(&fx, "one.yaml", &deployment(1));
    let out = fx.ok(&["kube", "play", "--dry-run", &scaled]);
    assert!(
        out.lines().any(|l| l == "remove pod web-1 (scaled down)"),
        "{out}"
    );
    assert_eq!(pod_names(&fx), ["web-0", "web-1"]);
}

// ---------------------------------------------------------------------------------------------
// 10. A Job retries a failing container until it succeeds.

#[test]
fn job_retries_with_backoff_until_it_succeeds() {
    let fx = setup();
    let file = manifest(
        &fx,
        "job.yaml",
        "apiVersion: batch/v1
kind: Job
metadata:
  name: flaky
spec:
  backoffLimit: 3
  template:
    spec:
      restartPolicy: OnFailure
      volumes:
      - name: state
        emptyDir: {}
      containers:
      - name: task
        image: IMAGE
        imagePullPolicy: IfNotPresent
        command: [sh, -c]
        args:
        - |
          n=$(cat /state/attempts 2>/dev/null || echo 0)
          n=$((n + 1))
          echo $n > /state/attempts
          echo attempt $n
          [ $n -ge 3 ]
        volumeMounts:
        - name: state
          mountPath: /state
",
    );
    fx.ok(&["kube", "play", "--wait", "--wait-timeout", "90s", &file]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let task = loop {
        let task = inspect(&fx.env, "flaky-0-task");
        if task["State"]["Status"] == "exited" && !task["State"]["Restarting"].as_bool().unwrap() {
            break task;
        }
        assert!(Instant::now() < deadline, "the Job did not finish: {task}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(task["State"]["ExitCode"], 0, "{task}");
    assert_eq!(task["RestartCount"], 2, "{task}");
    let logs = fx.ok(&["logs", "flaky-0-task"]);
    assert_eq!(logs, "attempt 1\nattempt 2\nattempt 3\n");
}

#[test]
fn job_runs_parallelism_pods_at_a_time_until_completions_succeed() {
    let fx = setup();
    let shared = fx.env.dir().join("job-log");
    std::fs::create_dir_all(&shared).unwrap();
    let file = manifest(
        &fx,
        "batch.yaml",
        &format!(
            "apiVersion: batch/v1
kind: Job
metadata:
  name: batch
spec:
  completions: 3
  parallelism: 1
  template:
    spec:
      restartPolicy: Never
      volumes:
      - name: log
        hostPath: {{path: {}, type: Directory}}
      containers:
      - name: step
        image: IMAGE
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'echo start >> /log/lines; sleep 0.3; echo end >> /log/lines']
        volumeMounts: [{{name: log, mountPath: /log}}]
",
            shared.display()
        ),
    );
    fx.ok(&["kube", "play", "--wait", "--wait-timeout", "60s", &file]);
    // One pod at a time: every start is followed by its end before the next start.
    let lines = std::fs::read_to_string(shared.join("lines")).unwrap();
    assert_eq!(lines, "start\nend\n".repeat(3), "{lines}");
}

#[test]
fn job_past_its_active_deadline_is_stopped() {
    let fx = setup();
    let file = manifest(
        &fx,
        "deadline.yaml",
        "apiVersion: batch/v1
kind: Job
metadata:
  name: slow
spec:
  activeDeadlineSeconds: 1
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: step
        image: IMAGE
        imagePullPolicy: IfNotPresent
        command: [sleep, '60']
",
    );
    let started = Instant::now();
    let (code, stderr) = fx
        .env
        .fails(&["kube", "play", "--wait", "--wait-timeout", "30s", &file]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("slow-0"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped at its deadline"
    );
    let task = inspect(&fx.env, "slow-0-step");
    assert_eq!(task["State"]["Status"], "exited", "{task}");
}

#[test]
fn kube_down_stops_pods_with_their_signal_and_grace_period() {
    let fx = setup();
    let marks = fx.env.dir().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let file = manifest(
        &fx,
        "graceful.yaml",
        &format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: graceful
spec:
  terminationGracePeriodSeconds: 5
  volumes:
  - name: marks
    hostPath: {{path: {}, type: Directory}}
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, \"trap 'echo term >> /marks/log; exit 0' TERM; echo up >> /marks/log; while true; do sleep 0.1; done\"]
    volumeMounts: [{{name: marks, mountPath: /marks}}]
",
            marks.display()
        ),
    );
    fx.ok(&["kube", "play", "--wait", &file]);
    let log = marks.join("log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("up")) {
        assert!(Instant::now() < deadline, "the container did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    fx.ok(&["kube", "down", &file]);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "up\nterm\n");
    assert_eq!(fx.ok(&["pod", "ps", "-q"]), "");
}

// ---------------------------------------------------------------------------------------------
// 11. Init containers run in order, before the app, once per pod start.

#[test]
fn init_containers_run_in_order_once_per_pod_start() {
    let fx = setup();
    let file = manifest(
        &fx,
        "init.yaml",
        "apiVersion: v1
kind: Pod
metadata:
  name: boot
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: shared
    emptyDir: {}
  initContainers:
  - name: first
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo first >> /shared/log']
    volumeMounts:
    - {name: shared, mountPath: /shared}
  - name: second
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'grep -q first /shared/log && echo second >> /shared/log']
    volumeMounts:
    - {name: shared, mountPath: /shared}
  containers:
  - name: app
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'cat /shared/log; echo app >> /shared/log; exec sleep 3600']
    volumeMounts:
    - {name: shared, mountPath: /shared}
",
    );
    fx.ok(&["kube", "play", "--wait", "--wait-timeout", "60s", &file]);
    let log = || exec_sh(&fx, "boot-app", "cat /shared/log");
    assert_eq!(log(), "first\nsecond\napp\n");
    assert_eq!(fx.ok(&["logs", "boot-app"]), "first\nsecond\n");
    for init in ["boot-first", "boot-second"] {
        let c = inspect(&fx.env, init);
        assert_eq!(c["State"]["Status"], "exited", "{init}: {c}");
        assert_eq!(c["State"]["ExitCode"], 0, "{init}: {c}");
    }
    // Starting a pod that is up runs nothing again.
    fx.ok(&["pod", "start", "boot"]);
    assert_eq!(log(), "first\nsecond\napp\n");
    // A restart of the pod is a new start: the init containers run again, first.
    fx.ok(&["pod", "restart", "boot"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while log().lines().count() < 6 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(log(), "first\nsecond\napp\nfirst\nsecond\napp\n");
}

// ---------------------------------------------------------------------------------------------
// 12. Input from stdin, from a directory, and a multi-document file with a List.

const STDIN_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: from-stdin
spec:
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
";

#[test]
fn play_reads_stdin() {
    let fx = setup();
    let yaml = STDIN_POD.replace("IMAGE", &fx.image);
    let out = fx
        .env
        .ok_with_stdin(&["kube", "play", "--start=false", "-"], yaml.as_bytes());
    assert!(out.starts_with("Pod:\n"), "{out}");
    assert_eq!(pod_names(&fx), ["from-stdin"]);
    assert!(out.contains(&pod_id(&fx, "from-stdin")), "{out}");
    let down = fx
        .env
        .ok_with_stdin(&["kube", "down", "-"], yaml.as_bytes());
    assert!(down.contains("Pods stopped and removed:"), "{down}");
    assert_nothing_made(&fx, "down from stdin");
    // Errors in stdin point at `<stdin>`.
    let bad = yaml.replace("containers:", "containres:");
    let out = fx
        .env
        .run_with_stdin(&["kube", "play", "-"], bad.as_bytes());
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown field \"containres\""),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(":6:3]"), "{}", stderr(&out));
    assert_nothing_made(&fx, "bad stdin");
}

#[test]
fn play_reads_a_directory_and_a_multi_document_file_with_a_list() {
    let fx = setup();
    // A directory: the Pod in one file needs the ConfigMap in the other.
    manifest(
        &fx,
        "dir/a-pod.yaml",
        "apiVersion: v1
kind: Pod
metadata:
  name: dir-pod
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo greeting=$GREETING']
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef:
          name: dir-settings
          key: greeting
",
    );
    manifest(
        &fx,
        "dir/b-config.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dir-settings\ndata:\n  greeting: hi-from-dir\n",
    );
    manifest(&fx, "dir/notes.txt", "not yaml: [");
    let dir = fx.env.dir().join("dir").display().to_string();
    fx.ok(&["kube", "play", &dir]);
    assert_eq!(pod_names(&fx), ["dir-pod"]);
    assert_eq!(finished_logs(&fx, "dir-pod-main"), "greeting=hi-from-dir\n");
    let out = fx.ok(&["kube", "down", &dir]);
    assert!(
        out.contains("ConfigMaps removed:\ndefault/dir-settings"),
        "{out}"
    );
    assert_nothing_made(&fx, "down of a directory");

    // One file: a List of two objects, then a plain document.
    let file = manifest(
        &fx,
        "multi.yaml",
        "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: list-settings
  data:
    color: green
- apiVersion: v1
  kind: Pod
  metadata:
    name: listed
  spec:
    restartPolicy: Never
    containers:
    - name: main
      image: IMAGE
      imagePullPolicy: IfNotPresent
      command: [sh, -c, 'echo color=$color']
      envFrom:
      - configMapRef:
          name: list-settings
---
apiVersion: v1
kind: Pod
metadata:
  name: plain
spec:
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
",
    );
    fx.ok(&["kube", "play", &file]);
    assert_eq!(pod_names(&fx), ["listed", "plain"]);
    assert_eq!(finished_logs(&fx, "listed-main"), "color=green\n");
    fx.ok(&["kube", "down", &file]);
    assert_nothing_made(&fx, "down of a List");
}

#[test]
fn play_reads_an_https_url_verified_against_the_given_cas() {
    let fx = setup();
    let dir = fx.env.dir().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let sh = |script: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=oxpod-it-ca \
        && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 \
        && printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf \
        && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 -extfile ext.cnf",
    );
    std::fs::write(
        dir.join("app.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-https\ndata:\n  k: v\n",
    )
    .unwrap();
    let mut server = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import http.server, ssl\n\
             s = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n\
             c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('srv.pem', 'srv.key')\n\
             s.socket = c.wrap_socket(s.socket, server_side=True)\n\
             print(s.server_address[1], flush=True)\n\
             s.serve_forever()",
        )
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = format!("https://127.0.0.1:{}/app.yaml", line.trim());
    // Not signed by a CA the system trusts: refused, nothing made.
    let (code, stderr) = fx.env.fails(&["kube", "play", &url]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    // With the test's CA given as the trusted set, it plays.
    let mut cmd = fx.env.cmd(&["kube", "play", &url]);
    cmd.env("SSL_CERT_FILE", dir.join("ca.pem"));
    let out = fx.env.run_cmd(cmd, None);
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("default/from-https"));
}
