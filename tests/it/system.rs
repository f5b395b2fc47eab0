//! `version`, `info`, `completion` and command-line errors.

use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::*;

#[test]
fn version_prints_the_crate_version() {
    let env = Oxpod::new();
    let out = env.ok(&["version"]);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        out.lines()
            .any(|l| l.starts_with("Version:") && l.trim_end().ends_with(version)),
        "{out}"
    );
    assert!(out.contains("OS/Arch:"), "{out}");
    let v = json(&env.ok(&["version", "--format", "json"]));
    assert_eq!(v["version"], version);
    assert_eq!(
        env.ok(&["version", "--format", "{{.Version}}"]),
        format!("{version}\n")
    );
    // clap's --version agrees.
    assert_eq!(env.ok(&["--version"]), format!("oxpod {version}\n"));
}

/// What the mount table says about cgroups, decided the way Podman reports it.
fn cgroup_version_of_host() -> &'static str {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let v1 = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("cgroup"));
    let v2 = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("cgroup2"));
    match (v1, v2) {
        (false, true) => "v2",
        (true, true) => "hybrid",
        (true, false) => "v1",
        (false, false) => panic!("no cgroup mounts in /proc/self/mounts"),
    }
}

#[test]
fn info_describes_this_root_and_host() {
    let reg = Registry::start();
    let env = Oxpod::with_registry(&reg);
    let info = json(&env.ok(&["info", "--format", "json"]));
    assert_eq!(info["mode"], "rootful");
    assert_eq!(info["root"], env.root().to_str().unwrap());
    assert_eq!(info["runroot"], env.runroot().to_str().unwrap());
    assert_eq!(info["cgroups"]["version"], cgroup_version_of_host());
    assert_eq!(info["version"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(strings(&info["registries"]["search"]), [reg.addr()]);
    assert_eq!(strings(&info["registries"]["insecure"]), [reg.addr()]);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(info["kernel"], kernel.trim());
    assert_eq!(
        info["overlay"], true,
        "overlay is available on the test hosts"
    );

    let text = env.ok(&["info"]);
    assert!(
        text.contains(&format!("root: {}", env.root().display())),
        "{text}"
    );
    assert!(text.contains("mode: rootful"), "{text}");
    let (code, stderr) = env.fails(&["info", "--format", "yaml"]);
    assert_eq!(code, 125);
    assert_clean_error(&stderr, &["yaml"]);
}

#[test]
fn completion_scripts_are_generated() {
    let env = Oxpod::new();
    let bash = env.ok(&["completion", "bash"]);
    assert!(bash.contains("_oxpod()"), "{bash}");
    for word in ["pull", "push", "images", "rmi", "login"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    for shell in ["zsh", "fish"] {
        assert!(!env.ok(&["completion", shell]).is_empty(), "{shell}");
    }
    let (code, stderr) = env.fails(&["completion", "tcsh"]);
    assert_eq!(code, 125, "{stderr}");
}

#[test]
fn usage_errors_exit_125_and_help_exits_0() {
    let env = Oxpod::new();
    for args in [
        &["--bogus"][..],
        &["images", "--bogus"],
        &["pull"],
        &["nosuchcommand"],
        &["image", "exists"],
        &["pull", "--tls-verify=maybe", "busybox"],
    ] {
        let (code, stderr) = env.fails(args);
        assert_eq!(code, 125, "oxpod {args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "oxpod {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (_, stderr) = env.fails(&["images", "--bogus"]);
    assert!(stderr.contains("'--bogus'"), "{stderr}");

    let help = env.ok(&["--help"]);
    assert!(help.contains("Usage:") && help.contains("pull"), "{help}");
    assert!(env.ok(&["pull", "--help"]).contains("--platform"));
}
