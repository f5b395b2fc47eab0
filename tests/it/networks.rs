//! Bridge networks as a user sees them: `network` verbs, members reaching each other by
//! address and by name with `/etc/hosts` kept current, concurrent pods getting distinct
//! addresses, and bad input refused with nothing made.

use std::collections::BTreeSet;

use crate::container_support::*;
use crate::net_support::*;
use crate::support::{fails_cleanly, json};

#[test]
fn network_verbs_create_list_inspect_and_remove() {
    let fx = setup();
    let subnet = unique_subnet();
    let gateway = subnet.replace(".0/24", ".254");
    fx.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--gateway",
        &gateway,
        "--label",
        "team=a",
        "verbs",
    ]);
    let all = json(&fx.ok(&["network", "ls", "--format", "json"]));
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["oxpod", "verbs"],
        "the default network is always listed"
    );
    let net = &json(&fx.ok(&["network", "inspect", "verbs"]))[0];
    assert_eq!(net["subnets"][0]["subnet"], subnet);
    assert_eq!(net["subnets"][0]["gateway"], gateway);
    assert_eq!(net["labels"]["team"], "a");
    assert_eq!(net["driver"], "bridge");
    let default = &json(&fx.ok(&["network", "inspect", "oxpod"]))[0];
    assert_eq!(default["subnets"][0]["subnet"], "10.88.0.0/16");
    assert_eq!(default["network_interface"], "oxpod0");
    assert_eq!(
        fx.env.run(&["network", "exists", "verbs"]).status.code(),
        Some(0)
    );
    // In use: rm refuses, rm -f removes the user first.
    fx.ok(&["pod", "create", "--name", "member", "--network", "verbs"]);
    assert!(pod_ip(&fx.env, "member").starts_with(&subnet[..subnet.len() - 4]));
    fails_cleanly(&fx.env, &["network", "rm", "verbs"], &["verbs", "member"]);
    fx.ok(&["network", "rm", "-f", "verbs"]);
    assert_eq!(
        fx.env.run(&["pod", "exists", "member"]).status.code(),
        Some(1)
    );
    assert_eq!(
        fx.env.run(&["network", "exists", "verbs"]).status.code(),
        Some(1)
    );
    fails_cleanly(&fx.env, &["network", "rm", "oxpod"], &["default"]);
    // prune keeps the default network and anything in use.
    fx.ok(&["network", "create", "--subnet", &unique_subnet(), "unused"]);
    assert_eq!(fx.ok(&["network", "prune", "-f"]), "unused\n");
    assert_eq!(fx.ok(&["network", "ls", "-q"]), "oxpod\n");
}

#[test]
fn pods_on_one_network_reach_each_other_by_name() {
    let fx = setup();
    let subnet = unique_subnet();
    fx.ok(&["network", "create", "--subnet", &subnet, "shop"]);
    fx.ok(&["pod", "create", "--name", "backend", "--network", "shop"]);
    fx.run_detached(&[
        "run",
        "-d",
        "--pod",
        "backend",
        "--name",
        "api",
        "{img}",
        "sh",
        "-c",
        "mkdir /www && echo api-answer > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    fx.ok(&["pod", "create", "--name", "frontend", "--network", "shop"]);
    let backend_ip = pod_ip(&fx.env, "backend");
    // By the pod's name, by its container's name, and by address.
    let out = fx.ok(&[
        "run",
        "--rm",
        "--pod",
        "frontend",
        "{img}",
        "sh",
        "-c",
        &format!(
            "for i in $(seq 50); do wget -qO- http://backend/ && break; sleep 0.1; done; \
             wget -qO- http://api/; wget -qO- http://{backend_ip}/"
        ),
    ]);
    assert_eq!(out, "api-answer\napi-answer\napi-answer\n");
    // A lone container on the network, with an alias, is reachable by both names.
    fx.run_detached(&[
        "run",
        "-d",
        "--network",
        "shop",
        "--network-alias",
        "cache",
        "--name",
        "redisish",
        "{img}",
        "sh",
        "-c",
        "mkdir /www && echo cache-answer > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let out = fx.ok(&[
        "run", "--rm", "--pod", "frontend", "{img}", "sh", "-c",
        "for i in $(seq 50); do wget -qO- http://cache/ && break; sleep 0.1; done; wget -qO- http://redisish/",
    ]);
    assert_eq!(out, "cache-answer\ncache-answer\n");
}

#[test]
fn hosts_files_follow_members_as_they_come_and_go() {
    let fx = setup();
    fx.ok(&["network", "create", "--subnet", &unique_subnet(), "roster"]);
    fx.ok(&["pod", "create", "--name", "watcher", "--network", "roster"]);
    fx.run_detached(&[
        "run", "-d", "--pod", "watcher", "--name", "w", "{img}", "sleep", "60",
    ]);
    let hosts = || fx.ok(&["exec", "w", "cat", "/etc/hosts"]);
    assert!(!hosts().contains("latecomer"));
    // A pod created after the container started shows up in its (bind-mounted) file...
    fx.ok(&[
        "pod",
        "create",
        "--name",
        "latecomer",
        "--network",
        "roster",
    ]);
    let ip = pod_ip(&fx.env, "latecomer");
    let line = hosts()
        .lines()
        .find(|l| l.contains("latecomer"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no latecomer in\n{}", hosts()));
    assert!(line.starts_with(&format!("{ip}\t")), "{line}");
    // ...with its containers' names as they are added...
    fx.ok(&[
        "create",
        "--pod",
        "latecomer",
        "--name",
        "late-web",
        "{img}",
        "true",
    ]);
    assert!(hosts().contains("late-web"));
    // ...and leaves it when removed.
    fx.ok(&["pod", "rm", "-f", "latecomer"]);
    let after = hosts();
    assert!(
        !after.contains("latecomer") && !after.contains("late-web"),
        "{after}"
    );
    assert!(after.contains("watcher"), "its own name stays: {after}");
}

#[test]
fn concurrent_pods_get_distinct_addresses() {
    let fx = setup();
    fx.ok(&["network", "create", "--subnet", &unique_subnet(), "crowd"]);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let env = &fx.env;
                s.spawn(move || {
                    env.ok(&[
                        "pod",
                        "create",
                        "--name",
                        &format!("c{i}"),
                        "--network",
                        "crowd",
                    ])
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let ips: BTreeSet<String> = (0..10).map(|i| pod_ip(&fx.env, &format!("c{i}"))).collect();
    assert_eq!(ips.len(), 10, "{ips:?}");
    // Each pod's namespace really has its address.
    for i in 0..10 {
        let pod = format!("c{i}");
        let out = fx.ok(&[
            "run", "--rm", "--pod", &pod, "{img}", "ip", "-o", "-4", "addr", "show", "eth0",
        ]);
        let ip = pod_ip(&fx.env, &pod);
        assert!(out.contains(&format!(" {ip}/24 ")), "{pod}: {out}");
    }
}

#[test]
fn bad_network_input_gets_one_line_and_leaves_nothing() {
    let fx = setup();
    let subnet = unique_subnet();
    fx.ok(&["network", "create", "--subnet", &subnet, "first"]);
    let overlapping = subnet.replace(".0/24", ".128/25");
    fails_cleanly(
        &fx.env,
        &["network", "create", "--subnet", &overlapping, "second"],
        &["overlaps", "first"],
    );
    fails_cleanly(
        &fx.env,
        &["network", "create", "--subnet", "10.88.1.0/24", "third"],
        &["overlaps", "oxpod"],
    );
    fails_cleanly(
        &fx.env,
        &["network", "create", "--subnet", &unique_subnet(), "first"],
        &["first", "already"],
    );
    fails_cleanly(
        &fx.env,
        &["network", "create", "--subnet", "10.1.2.3/24", "x"],
        &["host bits"],
    );
    fails_cleanly(
        &fx.env,
        &[
            "network",
            "create",
            "--subnet",
            "10.9.9.0/24",
            "--gateway",
            "10.9.10.1",
            "x",
        ],
        &["gateway"],
    );
    fails_cleanly(&fx.env, &["network", "create", "bad/name"], &["bad/name"]);
    fails_cleanly(
        &fx.env,
        &fx.args(&["run", "--network", "nosuchnet", "{img}", "true"]),
        &["no such network"],
    );
    fails_cleanly(
        &fx.env,
        &fx.args(&["run", "-p", "70000:80", "{img}", "true"]),
        &["70000"],
    );
    fails_cleanly(
        &fx.env,
        &["network", "inspect", "nosuchnet"],
        &["nosuchnet"],
    );
    assert_eq!(fx.ok(&["network", "ls", "-q"]), "first\noxpod\n");
    assert!(ps_all(&fx.env).is_empty());
}

#[test]
fn internal_network_reaches_members_but_not_beyond() {
    let fx = setup();
    fx.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &unique_subnet(),
        "sealed",
    ]);
    fx.ok(&["pod", "create", "--name", "inside", "--network", "sealed"]);
    let ip = pod_ip(&fx.env, "inside");
    fx.run_detached(&[
        "run",
        "-d",
        "--pod",
        "inside",
        "{img}",
        "sh",
        "-c",
        "mkdir /www && echo inner > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let out = fx.ok(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "{img}",
        "sh",
        "-c",
        &format!("for i in $(seq 50); do wget -qO- http://{ip}/ && break; sleep 0.1; done"),
    ]);
    assert_eq!(out, "inner\n");
    let net = &json(&fx.ok(&["network", "inspect", "sealed"]))[0];
    assert_eq!(net["internal"], true);
    // Forwarding out of its bridge is dropped (the rule is there), and nothing masquerades.
    assert!(nft_rules("sealed") >= 1);
    let table = String::from_utf8_lossy(
        &std::process::Command::new("nft")
            .args(["list", "table", "ip", "oxpod"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    let sealed: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("\"oxpod:sealed\""))
        .collect();
    assert!(
        sealed.iter().all(|l| !l.contains("masquerade")),
        "{sealed:?}"
    );
    assert!(sealed.iter().any(|l| l.contains("drop")), "{sealed:?}");
}

#[test]
fn two_stores_on_one_bridge_never_share_an_address() {
    let fx = setup();
    let other = crate::oxpod::Oxpod::with_registry(&fx.reg);
    // Both stores use the host's default bridge; each address is claimed host-wide.
    let mut seen = BTreeSet::new();
    for i in 0..3 {
        fx.ok(&["pod", "create", "--name", &format!("a{i}")]);
        other.ok(&["pod", "create", "--name", &format!("b{i}")]);
        assert!(seen.insert(pod_ip(&fx.env, &format!("a{i}"))));
        assert!(seen.insert(pod_ip(&other, &format!("b{i}"))));
    }
    // Released addresses are free again for the other store.
    let freed = pod_ip(&fx.env, "a0");
    fx.ok(&["pod", "rm", "a0"]);
    other.ok(&["pod", "create", "--name", "b-late"]);
    let late = pod_ip(&other, "b-late");
    assert!(
        late == freed || !seen.contains(&late),
        "{late} reused while held"
    );
    other.ok(&["pod", "rm", "-f", "-a"]);
}
