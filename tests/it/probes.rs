//! Kubernetes probes and lifecycle hooks through `kube play`: the monitor probes from outside
//! the container (httpGet, tcpSocket, exec), restarts containers whose liveness fails, gates
//! Service endpoints on readiness, and runs postStart and preStop hooks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::container_support::*;
use crate::net_support::http_get;

/// A played manifest, taken down when the test ends (Services hold addresses and proxies
/// that the fixture's clean-up does not know about).
struct Played<'a> {
    fx: &'a Fixture,
    file: PathBuf,
}

impl Drop for Played<'_> {
    fn drop(&mut self) {
        let _ = self
            .fx
            .env
            .cmd(&["kube", "down", &self.file.to_string_lossy()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Write `yaml` (with `{img}` standing for the busybox image) and play it.
fn play<'a>(fx: &'a Fixture, name: &str, yaml: &str) -> Played<'a> {
    let file = fx.env.dir().join(format!("{name}.yaml"));
    std::fs::write(&file, yaml.replace("{img}", &fx.image)).unwrap();
    fx.ok(&["kube", "play", &file.to_string_lossy()]);
    Played { fx, file }
}

fn restart_count(fx: &Fixture, container: &str) -> u64 {
    inspect(&fx.env, container)["RestartCount"]
        .as_u64()
        .unwrap_or_else(|| panic!("{container} has no RestartCount"))
}

fn status(fx: &Fixture, container: &str) -> String {
    inspect(&fx.env, container)["State"]["Status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Poll `cond` every 100 ms until it holds or `within` passes.
fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Both output streams of `oxpod logs NAME`.
fn logs(fx: &Fixture, container: &str) -> String {
    let out = fx.env.run(&["logs", container]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// busybox httpd on `port`, serving /www (with an index page when `page` is given).
fn httpd(port: u16, page: Option<&str>) -> String {
    let make = page.map_or(String::new(), |p| format!("echo {p} > /www/index.html && "));
    format!("mkdir -p /www && {make}exec httpd -f -p {port} -h /www")
}

#[test]
fn a_failing_http_liveness_probe_restarts_the_container() {
    let fx = setup();
    let _played = play(
        &fx,
        "live",
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: live
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {{img}}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "{}"]
    livenessProbe:
      httpGet:
        path: /index.html
        port: 8080
      periodSeconds: 1
      failureThreshold: 2
"#,
            httpd(8080, Some("alive"))
        ),
    );
    // Passing probes leave it alone.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        restart_count(&fx, "live-web"),
        0,
        "{}",
        logs(&fx, "live-web")
    );
    assert_eq!(status(&fx, "live-web"), "running");

    // httpd answers 404 from now on: two failures in a row kill it, and restartPolicy
    // Always (the default) brings it back, its page made again.
    fx.ok(&["exec", "live-web", "rm", "/www/index.html"]);
    assert!(
        eventually(Duration::from_secs(20), || restart_count(&fx, "live-web")
            >= 1),
        "not restarted; logs:\n{}",
        logs(&fx, "live-web")
    );
    let log = logs(&fx, "live-web");
    assert!(
        log.contains("oxpod: liveness probe failed: HTTP 404"),
        "logs:\n{log}"
    );
    assert!(eventually(Duration::from_secs(10), || status(
        &fx, "live-web"
    ) == "running"));
    // The new run passes again: no further restarts.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        restart_count(&fx, "live-web"),
        1,
        "{}",
        logs(&fx, "live-web")
    );
}

/// A node port nothing else on this host uses, most likely (30000-32767, Kubernetes' range).
fn some_node_port(attempt: u32) -> u16 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let seed = nanos ^ std::process::id().rotate_left(16) ^ attempt.wrapping_mul(7919);
    30000 + (seed % 2768) as u16
}

/// Play `yaml` whose `{node_port}` is a random node port; a port taken meanwhile picks another.
fn play_with_node_port<'a>(fx: &'a Fixture, name: &str, yaml: &str) -> (Played<'a>, u16) {
    for attempt in 0..8 {
        let port = some_node_port(attempt);
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_err() {
            continue;
        }
        let file = fx.env.dir().join(format!("{name}.yaml"));
        let text = yaml
            .replace("{img}", &fx.image)
            .replace("{node_port}", &port.to_string());
        std::fs::write(&file, text).unwrap();
        let out = fx.env.run(&["kube", "play", &file.to_string_lossy()]);
        if out.status.success() {
            return (Played { fx, file }, port);
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let _ = fx.env.run(&["kube", "down", &file.to_string_lossy()]);
        assert!(
            stderr.contains(&port.to_string()),
            "kube play failed, not over its node port:\n{stderr}"
        );
    }
    panic!("no free node port found");
}

/// One GET / through the node port: the body, if a ready endpoint answered.
fn via_node_port(port: u16) -> Option<String> {
    http_get(port, Duration::ZERO)
}

#[test]
fn readiness_gates_the_service_endpoint() {
    let fx = setup();
    let (_played, node_port) = play_with_node_port(
        &fx,
        "rdy",
        &format!(
            r#"apiVersion: v1
kind: Service
metadata:
  name: rdy
spec:
  type: NodePort
  selector:
    app: rdy
  ports:
  - port: 80
    targetPort: 8080
    nodePort: {{node_port}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rdy
spec:
  replicas: 1
  selector:
    matchLabels:
      app: rdy
  template:
    metadata:
      labels:
        app: rdy
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {{img}}
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "{}"]
        readinessProbe:
          httpGet:
            path: /index.html
            port: 8080
          periodSeconds: 1
          failureThreshold: 1
"#,
            httpd(8080, None)
        ),
    );
    let web = "rdy-0-web";
    assert!(eventually(Duration::from_secs(10), || status(&fx, web) == "running"));
    // httpd runs but answers 404 for the probe's page: not ready, so no endpoint (a request
    // through the node port would otherwise reach httpd).
    let deadline = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < deadline {
        assert_eq!(via_node_port(node_port), None, "served before ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    fx.ok(&["exec", web, "sh", "-c", "echo ready-now > /www/index.html"]);
    let got = http_get(node_port, Duration::from_secs(15));
    if got.as_deref() != Some("ready-now\n") {
        // What the Service saw, to tell a probe that never passed from a proxy that never
        // reached the pod.
        let endpoints: Vec<String> = std::fs::read_dir(fx.env.runroot().join("services"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path().join("endpoints.json")).unwrap_or_default())
            .collect();
        let neigh = std::process::Command::new("ip")
            .args(["neigh", "show", "dev", "oxpod0"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let pod = fx.ok(&["pod", "inspect", "rdy-0"]);
        panic!(
            "the endpoint did not appear once ready: got {got:?}\nendpoints: {endpoints:?}\nneighbours:\n{neigh}\npod: {pod}\nlogs: {}",
            fx.ok(&["logs", web])
        );
    }
    // Failing again takes it out.
    fx.ok(&["exec", web, "rm", "/www/index.html"]);
    assert!(
        eventually(Duration::from_secs(15), || via_node_port(node_port)
            .is_none()),
        "the endpoint stayed after readiness failed"
    );
    assert_eq!(restart_count(&fx, web), 0, "readiness never restarts");
}

#[test]
fn tcp_socket_and_exec_probes_judge_from_outside() {
    let fx = setup();
    let _played = play(
        &fx,
        "kinds",
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: kinds
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: tcpok
    image: {{img}}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "{}"]
    livenessProbe:
      tcpSocket:
        port: 8080
      periodSeconds: 1
      failureThreshold: 2
  - name: tcpbad
    image: {{img}}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "1000"]
    livenessProbe:
      tcpSocket:
        port: 8081
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 1
  - name: exec
    image: {{img}}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "touch /tmp/healthy; exec sleep 1000"]
    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      periodSeconds: 1
      failureThreshold: 1
"#,
            httpd(8080, Some("x"))
        ),
    );
    // Nothing listens on 8081 in the pod: killed and restarted, again and again.
    assert!(
        eventually(Duration::from_secs(20), || restart_count(
            &fx,
            "kinds-tcpbad"
        ) >= 2),
        "logs:\n{}",
        logs(&fx, "kinds-tcpbad")
    );
    let log = logs(&fx, "kinds-tcpbad");
    assert!(
        log.contains("oxpod: liveness probe failed: TCP ") && log.contains(":8081"),
        "logs:\n{log}"
    );
    // httpd listens on 8080 and the exec check's file is there: left alone.
    assert_eq!(
        restart_count(&fx, "kinds-tcpok"),
        0,
        "{}",
        logs(&fx, "kinds-tcpok")
    );
    assert_eq!(
        restart_count(&fx, "kinds-exec"),
        0,
        "{}",
        logs(&fx, "kinds-exec")
    );
    fx.ok(&["exec", "kinds-exec", "rm", "/tmp/healthy"]);
    assert!(
        eventually(Duration::from_secs(20), || restart_count(&fx, "kinds-exec")
            >= 1),
        "logs:\n{}",
        logs(&fx, "kinds-exec")
    );
    let log = logs(&fx, "kinds-exec");
    assert!(
        log.contains("oxpod: liveness probe failed: command \"cat /tmp/healthy\" exited with 1"),
        "logs:\n{log}"
    );
    assert_eq!(restart_count(&fx, "kinds-tcpok"), 0);
}

#[test]
fn post_start_runs_after_start_and_a_failing_one_kills() {
    let fx = setup();
    let _played = play(
        &fx,
        "hooks",
        r#"apiVersion: v1
kind: Pod
metadata:
  name: hooks
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: good
    image: {img}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo main > /tmp/order; exec sleep 1000"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "sleep 0.2; echo postStart >> /tmp/order"]
  - name: bad
    image: {img}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "1000"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "exit 3"]
"#,
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            fx.env
                .run(&["exec", "hooks-good", "cat", "/tmp/order"])
                .stdout
                .ends_with(b"postStart\n")
        }),
        "postStart did not run"
    );
    let order = fx.ok(&["exec", "hooks-good", "cat", "/tmp/order"]);
    assert_eq!(order, "main\npostStart\n");
    // The failing hook killed its container; restartPolicy Never leaves it exited.
    assert!(
        eventually(Duration::from_secs(10), || status(&fx, "hooks-bad")
            == "exited"),
        "logs:\n{}",
        logs(&fx, "hooks-bad")
    );
    let log = logs(&fx, "hooks-bad");
    assert!(
        log.contains("oxpod: postStart hook failed: command \"sh -c exit 3\" exited with 3"),
        "logs:\n{log}"
    );
    assert_eq!(restart_count(&fx, "hooks-bad"), 0);
    assert_eq!(status(&fx, "hooks-good"), "running");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn pre_stop_runs_before_the_stop_signal() {
    let fx = setup();
    let (a, b) = (fx.env.dir().join("out-a"), fx.env.dir().join("out-b"));
    for dir in [&a, &b] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // The main process notes the stop signal; preStop notes that it ran.
    let pod = |name: &str, dir: &Path| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: {{img}}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'echo term >> /out/order; exit 0' TERM; while true; do sleep 0.1; done"]
    volumeMounts:
    - name: out
      mountPath: /out
    lifecycle:
      preStop:
        exec:
          command: ["sh", "-c", "echo preStop >> /out/order"]
  volumes:
  - name: out
    hostPath:
      path: {}
      type: Directory
"#,
            dir.display()
        )
    };
    let yaml = format!("{}---\n{}", pod("pre-a", &a), pod("pre-b", &b));
    let played = play(&fx, "prestop", &yaml);
    for c in ["pre-a-main", "pre-b-main"] {
        assert!(eventually(Duration::from_secs(10), || status(&fx, c) == "running"));
    }
    // `pod stop`: the hook, then the signal the process traps.
    fx.ok(&["pod", "stop", "pre-a"]);
    assert_eq!(read(&a.join("order")), "preStop\nterm\n");
    assert_eq!(status(&fx, "pre-a-main"), "exited");
    assert_eq!(restart_count(&fx, "pre-a-main"), 0, "a stop is no restart");
    // `kube down` removes the pod with no grace: the hook still runs first.
    drop(played);
    let order = read(&b.join("order"));
    assert!(order.starts_with("preStop\n"), "{order:?}");
    assert_eq!(ps_entry(&fx.env, "pre-b-main"), None);
}

#[test]
fn the_startup_probe_holds_liveness_back_and_restarts_when_it_fails() {
    let fx = setup();
    let _played = play(
        &fx,
        "boot",
        r#"apiVersion: v1
kind: Pod
metadata:
  name: boot
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: slow
    image: {img}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "1000"]
    startupProbe:
      exec:
        command: ["test", "-f", "/tmp/booted"]
      periodSeconds: 1
      failureThreshold: 60
    livenessProbe:
      exec:
        command: ["false"]
      periodSeconds: 1
      failureThreshold: 1
  - name: never
    image: {img}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "1000"]
    startupProbe:
      tcpSocket:
        port: 9999
      periodSeconds: 1
      failureThreshold: 2
"#,
    );
    // Until it has started, the failing liveness probe does not run.
    assert!(
        eventually(Duration::from_secs(20), || restart_count(&fx, "boot-never")
            >= 1),
        "logs:\n{}",
        logs(&fx, "boot-never")
    );
    let log = logs(&fx, "boot-never");
    assert!(
        log.contains("oxpod: startup probe failed: TCP ") && log.contains(":9999"),
        "logs:\n{log}"
    );
    assert_eq!(
        restart_count(&fx, "boot-slow"),
        0,
        "{}",
        logs(&fx, "boot-slow")
    );
    // Started: now liveness runs, and fails.
    fx.ok(&["exec", "boot-slow", "touch", "/tmp/booted"]);
    assert!(
        eventually(Duration::from_secs(20), || restart_count(&fx, "boot-slow")
            >= 1),
        "logs:\n{}",
        logs(&fx, "boot-slow")
    );
    let log = logs(&fx, "boot-slow");
    assert!(
        log.contains("oxpod: liveness probe failed: command \"false\" exited with 1"),
        "logs:\n{log}"
    );
}
