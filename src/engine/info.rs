//! `oxpod info` and `oxpod version`: what this host offers and how oxpod is set up on it.

use std::path::Path;

use serde::Serialize;

use super::{Mode, Paths};

#[derive(Debug, Clone, Serialize)]
pub struct VersionReport {
    pub version: &'static str,
    pub api_version: &'static str,
    pub go_version_equivalent: &'static str,
    pub git_commit: &'static str,
    pub os_arch: String,
}

/// The version of this build (no state is touched).
pub fn version() -> VersionReport {
    VersionReport {
        version: env!("CARGO_PKG_VERSION"),
        api_version: "4.3.1",
        go_version_equivalent: "n/a",
        git_commit: option_env!("OXPOD_GIT_COMMIT").unwrap_or(""),
        os_arch: format!(
            "{}/{}",
            std::env::consts::OS,
            crate::image::manifest::Platform::host().architecture
        ),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CgroupReport {
    /// "v1", "v2" or "hybrid" (v1 controllers plus a unified mount).
    pub version: String,
    /// Controllers mounted as v1 hierarchies.
    pub v1_controllers: Vec<String>,
    /// Controllers enabled on the v2 mount.
    pub v2_controllers: Vec<String>,
    pub unified_mount: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuntimeReport {
    pub name: String,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InfoReport {
    pub version: VersionReport,
    pub mode: &'static str,
    pub root: String,
    pub runroot: String,
    pub kernel: String,
    pub cgroups: CgroupReport,
    pub overlay: bool,
    pub runtimes: Vec<RuntimeReport>,
    pub registries: RegistriesReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegistriesReport {
    pub search: Vec<String>,
    pub insecure: Vec<String>,
    pub blocked: Vec<String>,
    pub mirrors: Vec<String>,
    pub error: Option<String>,
}

fn mounts() -> Vec<(String, String, String)> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _source = f.next()?;
            let target = f.next()?;
            let fstype = f.next()?;
            let options = f.next()?;
            Some((target.to_string(), fstype.to_string(), options.to_string()))
        })
        .collect()
}

/// Cgroup layout as read from the mount table.
pub fn cgroups() -> CgroupReport {
    let mounts = mounts();
    let known = [
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "devices",
        "freezer",
        "hugetlb",
        "net_cls",
        "net_prio",
        "perf_event",
        "rdma",
        "misc",
    ];
    let mut v1 = Vec::new();
    let mut unified = None;
    for (target, fstype, options) in &mounts {
        match fstype.as_str() {
            "cgroup" => v1.extend(
                options
                    .split(',')
                    .filter(|o| known.contains(o))
                    .map(String::from),
            ),
            "cgroup2" => unified = Some(target.clone()),
            _ => {}
        }
    }
    v1.sort();
    v1.dedup();
    let v2_controllers: Vec<String> = unified
        .as_ref()
        .and_then(|u| std::fs::read_to_string(Path::new(u).join("cgroup.controllers")).ok())
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let version = match (v1.is_empty(), unified.is_some()) {
        (true, _) => "v2",
        (false, true) => "hybrid",
        (false, false) => "v1",
    };
    CgroupReport {
        version: version.into(),
        v1_controllers: v1,
        v2_controllers,
        unified_mount: unified,
    }
}

fn find_in_path(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

/// The host as oxpod sees it.
pub fn info(
    mode: Mode,
    paths: &Paths,
    registries: Result<crate::image::registries::RegistriesConf, String>,
) -> InfoReport {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let overlay = std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
        || Path::new("/sys/module/overlay").exists();
    let mut runtimes = vec![RuntimeReport {
        name: "builtin".into(),
        path: None,
    }];
    for name in ["crun", "runc", "youki"] {
        if let Some(path) = find_in_path(name) {
            runtimes.push(RuntimeReport {
                name: name.into(),
                path: Some(path),
            });
        }
    }
    let registries = match registries {
        Ok(conf) => RegistriesReport {
            search: conf.unqualified_search_registries.clone(),
            insecure: conf
                .registries
                .iter()
                .filter(|r| r.insecure)
                .map(|r| r.location.clone())
                .collect(),
            blocked: conf
                .registries
                .iter()
                .filter(|r| r.blocked)
                .map(|r| r.prefix.clone())
                .collect(),
            mirrors: conf
                .registries
                .iter()
                .flat_map(|r| r.mirrors.iter().map(|m| m.location.clone()))
                .collect(),
            error: None,
        },
        Err(e) => RegistriesReport {
            search: vec![],
            insecure: vec![],
            blocked: vec![],
            mirrors: vec![],
            error: Some(e),
        },
    };
    InfoReport {
        version: version(),
        mode: mode.as_str(),
        root: paths.root.display().to_string(),
        runroot: paths.runroot.display().to_string(),
        kernel,
        cgroups: cgroups(),
        overlay,
        runtimes,
        registries,
    }
}
