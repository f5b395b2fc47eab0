//! Pods as a user sees them: containers sharing a pod's namespaces, the pod verbs, published
//! ports served to the host, and a pod leaving nothing behind.

use std::time::Duration;

use crate::container_support::*;
use crate::net_support::*;
use crate::support::{fails_cleanly, json};

/// busybox `httpd` serving one page from /www, made at start.
fn httpd(page: &str, port: u16) -> String {
    format!("mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p {port} -h /www")
}

#[test]
fn containers_of_a_pod_talk_over_localhost_and_share_uts_and_ipc() {
    let fx = setup();
    fx.ok(&["pod", "create", "--name", "duo", "--hostname", "duo-host"]);
    fx.run_detached(&[
        "run",
        "-d",
        "--pod",
        "duo",
        "--name",
        "web",
        "{img}",
        "sh",
        "-c",
        &httpd("hello-over-localhost", 8080),
    ]);
    let out = fx.ok(&[
        "run", "--rm", "--pod", "duo", "{img}", "sh", "-c",
        "for i in $(seq 50); do wget -qO- http://localhost:8080/ && break; sleep 0.1; done; hostname",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["hello-over-localhost", "duo-host"], "{out}");
    // One IPC and one UTS namespace for the whole pod.
    let web = inspect(&fx.env, "web");
    let pid = web["State"]["Pid"].as_i64().unwrap();
    let ns = |kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let other = fx.ok(&[
        "run",
        "--rm",
        "--pod",
        "duo",
        "{img}",
        "sh",
        "-c",
        "for k in ipc uts net; do readlink /proc/self/ns/$k; done",
    ]);
    let want: Vec<String> = ["ipc", "uts", "net"]
        .iter()
        .map(|k| ns(k).to_string_lossy().into_owned())
        .collect();
    assert_eq!(other.lines().collect::<Vec<_>>(), want);
}

#[test]
fn published_pod_port_serves_the_host_and_port_lists_it() {
    let fx = setup();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    fx.ok(&["pod", "create", "--name", "site", "-p", &publish]);
    let id = fx.run_detached(&[
        "run",
        "-d",
        "--pod",
        "site",
        "--name",
        "site-web",
        "{img}",
        "sh",
        "-c",
        &httpd("served-through-the-proxy", 80),
    ]);
    assert_eq!(
        http_get(port, Duration::from_secs(10)).as_deref(),
        Some("served-through-the-proxy\n")
    );
    assert_eq!(
        fx.ok(&["port", &id]),
        format!("80/tcp -> 127.0.0.1:{port}\n")
    );
    let ps = ps_entry(&fx.env, "site-web").unwrap();
    assert_eq!(ps["Ports"][0]["host_port"], port);
    assert_eq!(ps["Ports"][0]["container_port"], 80);
    assert_eq!(ps["Ports"][0]["protocol"], "tcp");
    assert_eq!(ps["PodName"], "site");
    // The proxy belongs to the pod: it outlives the command, and `pod rm` stops it.
    let proxy = pod_inspect(&fx.env, "site")["InfraConfig"]["ProxyPid"]
        .as_i64()
        .expect("a running proxy");
    assert!(process_alive(proxy));
    fx.ok(&["pod", "rm", "-f", "site"]);
    assert!(!process_alive(proxy));
    assert_eq!(http_get(port, Duration::ZERO), None);
    assert!(proxy_processes(&fx.env).is_empty());
}

#[test]
fn run_publish_serves_the_host_and_frees_the_port_on_exit() {
    let fx = setup();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let id = fx.run_detached(&[
        "run",
        "-d",
        "-p",
        &publish,
        "--name",
        "lone",
        "{img}",
        "sh",
        "-c",
        &httpd("lone-container", 80),
    ]);
    assert_eq!(
        http_get(port, Duration::from_secs(10)).as_deref(),
        Some("lone-container\n")
    );
    let settings = &inspect(&fx.env, &id)["NetworkSettings"];
    assert_eq!(settings["Ports"]["80/tcp"][0]["HostPort"], port.to_string());
    assert!(
        settings["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("10.88.")
    );
    // A second container asking for the same port is refused before anything is made.
    let before = container_dirs(&fx.env);
    fails_cleanly(
        &fx.env,
        &fx.args(&[
            "run", "-d", "-p", &publish, "--name", "clash", "{img}", "true",
        ]),
        &["already in use", &port.to_string()],
    );
    assert_eq!(container_dirs(&fx.env), before);
    assert!(ps_entry(&fx.env, "clash").is_none());
    // Stopping frees it (as Podman): another container can take it.
    fx.ok(&["stop", "-t", "0", "lone"]);
    assert_eq!(http_get(port, Duration::ZERO), None);
    fx.run_detached(&[
        "run",
        "-d",
        "-p",
        &publish,
        "--name",
        "second",
        "{img}",
        "sh",
        "-c",
        &httpd("second-container", 80),
    ]);
    assert_eq!(
        http_get(port, Duration::from_secs(10)).as_deref(),
        Some("second-container\n")
    );
}

#[test]
fn publish_all_uses_free_host_ports_for_exposed_ones() {
    let fx = setup();
    // -P on an image without EXPOSE publishes nothing; `-p 80` picks a free host port.
    let id = fx.run_detached(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1::80",
        "{img}",
        "sh",
        "-c",
        &httpd("random-port", 80),
    ]);
    let out = fx.ok(&["port", &id, "80"]);
    let port: u16 = out
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("port printed {out:?}"));
    assert_ne!(port, 0);
    assert_eq!(
        http_get(port, Duration::from_secs(10)).as_deref(),
        Some("random-port\n")
    );
}

#[test]
fn udp_is_forwarded_both_ways() {
    let fx = setup();
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let publish = format!("127.0.0.1:{port}:5353/udp");
    let id = fx.run_detached(&["run", "-d", "-p", &publish, "{img}", "sleep", "60"]);
    let sandbox = inspect(&fx.env, &id)["NetworkSettings"]["SandboxKey"]
        .as_str()
        .expect("a sandbox key")
        .to_string();
    // A UDP echo server inside the container's network namespace (the image has none).
    let mut server = std::process::Command::new("nsenter")
        .arg(format!("--net={sandbox}"))
        .args([
            "python3",
            "-c",
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             s.bind(('0.0.0.0',5353))\nwhile True:\n d,a=s.recvfrom(2048)\n s.sendto(b'echo:'+d,a)",
        ])
        .spawn()
        .unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 64];
    let mut answer = None;
    for _ in 0..50 {
        client.send_to(b"ping", ("127.0.0.1", port)).unwrap();
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            answer = Some(buf[..n].to_vec());
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(answer.as_deref(), Some(&b"echo:ping"[..]));
}

#[test]
fn pod_verbs_follow_the_containers() {
    let fx = setup();
    fx.ok(&["pod", "create", "--name", "life", "--label", "tier=web"]);
    let pods = json(&fx.ok(&["pod", "ps", "--format", "json"]));
    assert_eq!(pods[0]["State"], "Created");
    assert_eq!(pods[0]["Labels"]["tier"], "web");
    fx.ok(&[
        "create", "--pod", "life", "--name", "a", "{img}", "sleep", "60",
    ]);
    fx.ok(&[
        "create", "--pod", "life", "--name", "b", "{img}", "sleep", "60",
    ]);
    fx.ok(&["pod", "start", "life"]);
    assert_eq!(pod_inspect(&fx.env, "life")["State"], "Running");
    assert_eq!(pod_inspect(&fx.env, "life")["NumContainers"], 2);
    let top = fx.ok(&["pod", "top", "life"]);
    assert_eq!(
        top.lines().filter(|l| l.contains("sleep 60")).count(),
        2,
        "{top}"
    );
    fx.ok(&["pod", "pause", "life"]);
    assert_eq!(pod_inspect(&fx.env, "life")["State"], "Paused");
    fx.ok(&["pod", "unpause", "life"]);
    assert_eq!(pod_inspect(&fx.env, "life")["State"], "Running");
    fx.ok(&["kill", "a"]);
    fx.ok(&["wait", "a"]);
    assert_eq!(pod_inspect(&fx.env, "life")["State"], "Degraded");
    fx.ok(&["pod", "kill", "-s", "TERM", "life"]);
    fx.ok(&["wait", "b"]);
    assert_eq!(pod_inspect(&fx.env, "life")["State"], "Exited");
    fx.ok(&["pod", "restart", "life"]);
    assert_eq!(pod_inspect(&fx.env, "life")["State"], "Running");
    // rm without -f refuses a running pod and changes nothing.
    fails_cleanly(&fx.env, &["pod", "rm", "life"], &["running", "life"]);
    assert_eq!(
        fx.env.run(&["pod", "exists", "life"]).status.code(),
        Some(0)
    );
    fx.ok(&["pod", "stop", "-t", "1", "life"]);
    assert_eq!(pod_inspect(&fx.env, "life")["State"], "Exited");
    let logs_pod = fx.ok(&["pod", "create", "--name", "talk"]);
    assert!(is_full_id(logs_pod.trim()));
    fx.ok(&[
        "run",
        "--pod",
        "talk",
        "--name",
        "say",
        "{img}",
        "echo",
        "from-the-pod",
    ]);
    assert_eq!(fx.ok(&["pod", "logs", "talk"]), "from-the-pod\n");
    // prune takes every pod with nothing running; exists says so.
    let pruned = fx.ok(&["pod", "prune", "-f"]);
    assert_eq!(pruned.lines().count(), 2, "{pruned}");
    assert_eq!(
        fx.env.run(&["pod", "exists", "life"]).status.code(),
        Some(1)
    );
    assert!(ps_all(&fx.env).is_empty());
}

#[test]
fn pod_stop_stops_containers_last_added_first_with_the_timeout() {
    let fx = setup();
    fx.ok(&["pod", "create", "--name", "order"]);
    // Each container notes that it got SIGTERM in a shared file, then exits.
    let trap = |name: &str| {
        format!("trap 'echo {name} >> /shared/order; exit 0' TERM; while true; do sleep 0.05; done")
    };
    for name in ["first", "second"] {
        fx.run_detached(&[
            "run",
            "-d",
            "--pod",
            "order",
            "--name",
            name,
            "-v",
            &format!("{}:/shared", fx.env.dir().display()),
            "{img}",
            "sh",
            "-c",
            &trap(name),
        ]);
    }
    fx.ok(&["pod", "stop", "-t", "5", "order"]);
    let order = std::fs::read_to_string(fx.env.dir().join("order")).unwrap();
    assert_eq!(order, "second\nfirst\n", "stopped last added first");
}

#[test]
fn run_pod_new_makes_the_pod_and_takes_its_ports() {
    let fx = setup();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    fx.run_detached(&[
        "run",
        "-d",
        "--pod",
        "new:fresh",
        "-p",
        &publish,
        "--name",
        "fresh-web",
        "{img}",
        "sh",
        "-c",
        &httpd("new-pod", 80),
    ]);
    let pod = pod_inspect(&fx.env, "fresh");
    assert_eq!(pod["Containers"][0]["Name"], "fresh-web");
    assert_eq!(
        pod["InfraConfig"]["PortBindings"][0],
        format!("127.0.0.1:{port}->80/tcp")
    );
    assert_eq!(
        http_get(port, Duration::from_secs(10)).as_deref(),
        Some("new-pod\n")
    );
    // A container that cannot be made takes its new pod with it.
    fails_cleanly(
        &fx.env,
        &fx.args(&[
            "run",
            "--pod",
            "new:broken",
            "--name",
            "fresh-web",
            "{img}",
            "true",
        ]),
        &["fresh-web"],
    );
    assert_eq!(
        fx.env.run(&["pod", "exists", "broken"]).status.code(),
        Some(1)
    );
    // Ports belong to the pod: a member cannot publish its own.
    fails_cleanly(
        &fx.env,
        &fx.args(&["create", "--pod", "fresh", "-p", "9999:80", "{img}", "true"]),
        &["pod"],
    );
}

#[test]
fn network_none_has_only_loopback() {
    let fx = setup();
    let out = fx.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "{img}",
        "ip",
        "-o",
        "link",
    ]);
    let links: Vec<&str> = out
        .lines()
        .map(|l| l.split(':').nth(1).unwrap().trim())
        .collect();
    assert_eq!(links, ["lo"], "{out}");
    assert!(out.contains("UP"), "loopback is up: {out}");
    fx.ok(&["pod", "create", "--name", "isolated", "--network", "none"]);
    let out = fx.ok(&[
        "run", "--rm", "--pod", "isolated", "{img}", "ip", "-o", "link",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn bad_pod_input_gets_one_line_and_leaves_nothing() {
    let fx = setup();
    let runroot = fx.env.runroot();
    fails_cleanly(
        &fx.env,
        &["pod", "create", "--name", "x1", "--network", "nosuchnet"],
        &["no such network", "nosuchnet"],
    );
    fails_cleanly(
        &fx.env,
        &["pod", "create", "--name", "x2", "-p", "80:80:80:80"],
        &["80:80:80:80"],
    );
    fails_cleanly(
        &fx.env,
        &["pod", "create", "--name", "x3", "-p", "8080-8081:80"],
        &["8080-8081:80"],
    );
    fails_cleanly(
        &fx.env,
        &["pod", "create", "--name", "bad name"],
        &["bad name"],
    );
    fails_cleanly(
        &fx.env,
        &["pod", "create", "--name", "x4", "--share", "mnt"],
        &["mnt"],
    );
    // A taken port is found before the pod exists.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    fails_cleanly(
        &fx.env,
        &[
            "pod",
            "create",
            "--name",
            "x5",
            "-p",
            &format!("127.0.0.1:{port}:80"),
        ],
        &["already in use"],
    );
    fx.ok(&["pod", "create", "--name", "dup"]);
    fails_cleanly(
        &fx.env,
        &["pod", "create", "--name", "dup"],
        &["dup", "already in use"],
    );
    fails_cleanly(
        &fx.env,
        &["run", "--pod", "nosuchpod", "busybox", "true"],
        &["no such pod"],
    );
    let pods = json(&fx.ok(&["pod", "ps", "--format", "json"]));
    assert_eq!(pods.as_array().unwrap().len(), 1, "{pods}");
    fx.ok(&["pod", "rm", "dup"]);
    assert_eq!(ns_mounts_under(&runroot), 0);
    assert!(proxy_processes(&fx.env).is_empty());
}

#[test]
fn a_hundred_pod_cycles_leave_nothing_behind() {
    let fx = setup();
    let subnet = unique_subnet();
    fx.ok(&["network", "create", "--subnet", &subnet, "cycles"]);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let mut veths = Vec::new();
    let mut first_ip = None;
    for i in 0..100 {
        let name = format!("cycle{i}");
        fx.ok(&[
            "pod",
            "create",
            "--name",
            &name,
            "--network",
            "cycles",
            "-p",
            &publish,
        ]);
        fx.ok(&["create", "--pod", &name, "{img}", "sleep", "30"]);
        fx.ok(&["pod", "start", &name]);
        let pod = pod_inspect(&fx.env, &name);
        veths.push(
            pod["InfraConfig"]["HostInterface"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        // The address is handed out again each time: nothing held on to it.
        let ip = pod["InfraConfig"]["IPAddress"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(ip, *first_ip.get_or_insert_with(|| ip.clone()), "cycle {i}");
        fx.ok(&["pod", "rm", "-f", &name]);
    }
    // The network's own rules (made with its bridge on first use) stay; none per pod.
    let rules = nft_rules("cycles");
    assert!(rules > 0, "the network has forwarding rules");
    assert_eq!(links_gone(&veths), Vec::<String>::new(), "veths left");
    assert_eq!(
        ns_mounts_under(&fx.env.runroot()),
        0,
        "namespace mounts left"
    );
    assert!(mounts_under(fx.env.dir()).is_empty(), "mounts left");
    assert!(proxy_processes(&fx.env).is_empty(), "proxies left");
    let network = json(&fx.ok(&["network", "inspect", "cycles"]));
    assert_eq!(
        network[0]["containers"],
        serde_json::json!([]),
        "leases left"
    );
    assert!(ps_all(&fx.env).is_empty());
    assert_eq!(fx.ok(&["pod", "ps", "-q"]), "");
    // The port is free again (retried: other tests draw free ports too).
    let freed = (0..100).any(|_| {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() || {
            std::thread::sleep(Duration::from_millis(20));
            false
        }
    });
    assert!(freed, "port {port} still taken");
    // Removing the network takes its bridge and rules.
    let bridge = network[0]["network_interface"]
        .as_str()
        .unwrap()
        .to_string();
    fx.ok(&["network", "rm", "cycles"]);
    assert_eq!(nft_rules("cycles"), 0);
    assert_eq!(existing_links(&[bridge]), Vec::<String>::new());
}

#[test]
fn shared_pid_namespace_has_an_infra_pid_1_that_goes_with_the_pod() {
    let fx = setup();
    fx.ok(&[
        "pod",
        "create",
        "--name",
        "pids",
        "--share",
        "net,ipc,uts,pid",
    ]);
    fx.run_detached(&[
        "run", "-d", "--pod", "pids", "--name", "sleeper", "{img}", "sleep", "77",
    ]);
    let out = fx.ok(&[
        "run", "--rm", "--pod", "pids", "{img}", "ps", "-o", "pid,args",
    ]);
    let first = out.lines().nth(1).unwrap_or_default();
    assert!(
        first.trim_start().starts_with("1 ") && first.contains("pod-infra"),
        "{out}"
    );
    assert!(
        out.contains("sleep 77"),
        "the other container's process is visible:\n{out}"
    );
    // Without pid in --share, each container has its own.
    fx.ok(&["pod", "create", "--name", "apart"]);
    fx.run_detached(&["run", "-d", "--pod", "apart", "{img}", "sleep", "78"]);
    let out = fx.ok(&["run", "--rm", "--pod", "apart", "{img}", "ps", "-o", "args"]);
    assert!(!out.contains("sleep 78"), "{out}");
    // The infra has no --root argument; it is found by its namespace instead.
    let sleeper = inspect(&fx.env, "sleeper")["State"]["Pid"]
        .as_i64()
        .unwrap();
    let pidns = std::fs::read_link(format!("/proc/{sleeper}/ns/pid")).unwrap();
    let in_pidns = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == pidns)
                    && !process_is_zombie(*pid)
            })
            .count()
    };
    assert_eq!(in_pidns(), 2, "infra and sleeper");
    fx.ok(&["pod", "rm", "-f", "pids", "apart"]);
    assert_eq!(in_pidns(), 0, "nothing left in the pod's PID namespace");
    assert_eq!(ns_mounts_under(&fx.env.runroot().join("pods")), 0);
}

/// An exited process its parent (here the host's init, for the orphaned infra) has not
/// reaped yet holds nothing but its pid.
fn process_is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .unwrap_or(true)
}

#[test]
fn publish_all_and_port_ranges() {
    use crate::images::{self, ImageBuilder};
    let fx = setup();
    let image = ImageBuilder::new()
        .layer(images::busybox_layer(), "oxpod-it: busybox")
        .config(
            "ExposedPorts",
            serde_json::json!({"80/tcp": {}, "9000/udp": {}}),
        )
        .cmd(&["sh"])
        .build();
    let exposed = images::push_image(&fx.reg, &image, "exposed", "latest").reference();
    fx.ok(&["pull", "-q", &exposed]);
    let id = fx.run_detached(&[
        "run",
        "-d",
        "-P",
        &exposed,
        "sh",
        "-c",
        &httpd("published-by-P", 80),
    ]);
    let ports = fx.ok(&["port", &id]);
    let mut lines: Vec<&str> = ports.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{ports}");
    assert!(lines[0].starts_with("80/tcp -> 0.0.0.0:"), "{ports}");
    assert!(lines[1].starts_with("9000/udp -> 0.0.0.0:"), "{ports}");
    let port: u16 = lines[0].rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(
        http_get(port, Duration::from_secs(10)).as_deref(),
        Some("published-by-P\n")
    );
    // A range: two host ports onto two container ports, each its own server.
    let base = loop {
        let p = free_port();
        if p < 65000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let range = format!("127.0.0.1:{}-{}:8001-8002", base, base + 1);
    fx.run_detached(&[
        "run",
        "-d",
        "-p",
        &range,
        "{img}",
        "sh",
        "-c",
        "mkdir /a /b && echo a > /a/index.html && echo b > /b/index.html && \
         httpd -p 8001 -h /a && exec httpd -f -p 8002 -h /b",
    ]);
    assert_eq!(
        http_get(base, Duration::from_secs(10)).as_deref(),
        Some("a\n")
    );
    assert_eq!(
        http_get(base + 1, Duration::from_secs(10)).as_deref(),
        Some("b\n")
    );
}

#[test]
fn supervisors_do_not_hold_the_callers_descriptors() {
    let fx = setup();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    for args in [
        fx.args(&["pod", "create", "--name", "fds", "-p", &publish]),
        fx.args(&["run", "-d", "--pod", "fds", "{img}", "sleep", "60"]),
    ] {
        // The command inherits our pipe as fd 5 (and its output goes elsewhere): the pipe
        // reaches EOF once the command exits, though a proxy and a monitor live on.
        let template = fx.env.cmd(&args);
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg("exec 5>&1; \"$0\" \"$@\" >/dev/null 2>&1")
            .arg(template.get_program())
            .args(template.get_args())
            .stdout(std::process::Stdio::piped());
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let mut child = cmd.spawn().unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut out, &mut sink);
            let _ = tx.send(());
        });
        let eof = rx.recv_timeout(Duration::from_secs(10));
        assert!(child.wait().unwrap().success(), "{args:?}");
        assert!(
            eof.is_ok(),
            "{args:?}: the pipe stayed open after the command exited"
        );
    }
    assert!(!proxy_processes(&fx.env).is_empty());
}

#[test]
fn published_port_reaches_a_server_bound_to_the_pod_address_only() {
    let fx = setup();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    // httpd listens on eth0's address alone, as a server bound to the pod IP does.
    fx.run_detached(&[
        "run",
        "-d",
        "-p",
        &publish,
        "{img}",
        "sh",
        "-c",
        "mkdir /www && echo on-pod-ip > /www/index.html && \
         ip=$(ip -o -4 addr show eth0 | awk '{print $4}' | cut -d/ -f1) && \
         exec httpd -f -p $ip:80 -h /www",
    ]);
    assert_eq!(
        http_get(port, Duration::from_secs(10)).as_deref(),
        Some("on-pod-ip\n")
    );
}
