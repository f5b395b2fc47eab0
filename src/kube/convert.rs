//! Field-level conversions play needs: quantities, environment expansion, the downward API,
//! ConfigMap and Secret files, hostPath checks, resources and security contexts.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    Container, KeyToPath, PodSecurityContext, ResourceFieldSelector, ResourceRequirements,
    SecurityContext,
};

use super::play::PodPlan;
use crate::engine::{EngineError, KeyedData};
use std::time::Duration;

use crate::spec::{ContainerSpec, Probe, ProbeAction, Seccomp};

/// What a container's conversion needs to know about its pod.
pub(crate) struct PodContext<'a> {
    pub pod_id: &'a str,
    pub plan: &'a PodPlan,
    pub pod_ip: Option<&'a str>,
    pub volumes: BTreeMap<String, super::play::VolumeSource>,
}

/// Kubernetes' default: `Always` for `:latest` or no tag, `IfNotPresent` otherwise.
pub fn default_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return "IfNotPresent";
    }
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// A Kubernetes quantity in bytes ("128Mi", "1G", "500M", "1e3", "1024").
pub fn quantity_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "m" => 1e-3,
        _ => return None,
    };
    let bytes = number * factor;
    (bytes >= 0.0).then_some(bytes.ceil() as u64)
}

/// A CPU quantity in cores ("500m" → 0.5, "2" → 2).
pub fn quantity_cpus(q: &str) -> Option<f64> {
    let q = q.trim();
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
        None => q.parse().ok(),
    }
}

/// `$(VAR)` references to variables defined so far; `$$(VAR)` stays literal `$(VAR)`, and an
/// unknown reference is left as written (Kubernetes' rules).
pub fn expand_vars(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The downward API's `fieldRef` values.
pub(crate) fn field_value(
    plan: &PodPlan,
    pod_id: &str,
    pod_ip: Option<&str>,
    path: &str,
) -> String {
    let map_key = |prefix: &str, map: &Option<BTreeMap<String, String>>| -> Option<String> {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        map.as_ref()?.get(key).cloned()
    };
    let map_all = |map: &Option<BTreeMap<String, String>>| -> String {
        map.iter()
            .flatten()
            .map(|(k, v)| format!("{k}=\"{v}\"\n"))
            .collect()
    };
    match path {
        "metadata.name" => plan.name.clone(),
        "metadata.namespace" => plan.namespace.clone(),
        "metadata.uid" => pod_id.to_string(),
        "metadata.labels" => map_all(&plan.meta.labels),
        "metadata.annotations" => map_all(&plan.meta.annotations),
        "spec.nodeName" => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        "spec.serviceAccountName" => plan
            .spec
            .service_account_name
            .clone()
            .unwrap_or_else(|| "default".into()),
        "status.podIP" | "status.podIPs" => pod_ip.unwrap_or_default().to_string(),
        "status.hostIP" | "status.hostIPs" => String::new(),
        _ => map_key("metadata.labels['", &plan.meta.labels)
            .or_else(|| map_key("metadata.annotations['", &plan.meta.annotations))
            .unwrap_or_default(),
    }
}

/// `resourceFieldRef`: a container's limit or request, in units of its divisor.
pub(crate) fn resource_value(c: &Container, r: &ResourceFieldSelector) -> String {
    let (section, name) = r
        .resource
        .split_once('.')
        .unwrap_or(("limits", &r.resource));
    let resources = c.resources.clone().unwrap_or_default();
    let map = match section {
        "requests" => resources.requests,
        _ => resources.limits,
    };
    let Some(q) = map.as_ref().and_then(|m| m.get(name)) else {
        return "0".into();
    };
    let divisor = r
        .divisor
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or_else(|| "1".into());
    if name == "cpu" {
        let (v, d) = (
            quantity_cpus(&q.0).unwrap_or(0.0),
            quantity_cpus(&divisor).unwrap_or(1.0).max(1e-9),
        );
        return ((v / d).ceil() as u64).to_string();
    }
    let (v, d) = (
        quantity_bytes(&q.0).unwrap_or(0),
        quantity_bytes(&divisor).unwrap_or(1).max(1),
    );
    v.div_ceil(d).to_string()
}

/// A relative path that stays inside its directory (no `..`, not absolute).
fn safe_relative(path: &str) -> Result<&Path, EngineError> {
    let p = Path::new(path);
    if p.as_os_str().is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(EngineError::Invalid(format!(
            "path {path:?} must be relative and must not contain '..'"
        )));
    }
    Ok(p)
}

/// `subPath` under a volume's directory (made when missing, as the kubelet does).
pub(crate) fn sub_path(base: &Path, sub: &str) -> Result<PathBuf, EngineError> {
    let path = base.join(safe_relative(sub)?);
    if !path.exists() {
        std::fs::create_dir_all(&path).map_err(|e| EngineError::Io {
            path: path.clone(),
            source: e,
        })?;
    }
    Ok(path)
}

/// Write one file of a ConfigMap/Secret/downward API volume with its mode (0644 by default).
pub(crate) fn write_file(
    dir: &Path,
    relative: &str,
    data: &[u8],
    mode: Option<i32>,
) -> Result<(), EngineError> {
    let path = dir.join(safe_relative(relative)?);
    let io = |e| EngineError::Io {
        path: path.clone(),
        source: e,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(&path, data).map_err(io)?;
    let mode = mode.unwrap_or(0o644) as u32 & 0o777;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)
}

/// Every key as a file, or only `items` (key → path, own mode).
pub(crate) fn write_items(
    dir: &Path,
    data: &KeyedData,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
) -> Result<(), EngineError> {
    match items {
        Some(items) => {
            for item in items {
                if let Some(value) = data.get(&item.key) {
                    write_file(dir, &item.path, value, item.mode.or(default_mode))?;
                }
            }
        }
        None => {
            for (key, value) in data {
                write_file(dir, key, value, default_mode)?;
            }
        }
    }
    Ok(())
}

/// hostPath with its `type` checked (and made for the `OrCreate` types).
pub(crate) fn check_host_path(path: &str, kind: Option<&str>) -> Result<PathBuf, EngineError> {
    use std::os::unix::fs::FileTypeExt;
    let p = PathBuf::from(path);
    let meta = std::fs::metadata(&p).ok();
    let wrong = |what: &str| {
        EngineError::Invalid(format!(
            "hostPath {path} is not {what} (type {})",
            kind.unwrap_or("")
        ))
    };
    let io = |e| EngineError::Io {
        path: p.clone(),
        source: e,
    };
    match kind.unwrap_or("") {
        "" => {
            if meta.is_none() {
                std::fs::create_dir_all(&p).map_err(io)?;
            }
        }
        "DirectoryOrCreate" => match meta {
            None => {
                std::fs::create_dir_all(&p).map_err(io)?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
            }
            Some(m) if !m.is_dir() => return Err(wrong("a directory")),
            _ => {}
        },
        "Directory" => {
            if !meta.is_some_and(|m| m.is_dir()) {
                return Err(wrong("an existing directory"));
            }
        }
        "FileOrCreate" => match meta {
            None => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&p)
                    .map_err(io)?;
            }
            Some(m) if !m.is_file() => return Err(wrong("a file")),
            _ => {}
        },
        "File" => {
            if !meta.is_some_and(|m| m.is_file()) {
                return Err(wrong("an existing file"));
            }
        }
        "Socket" => {
            if !meta.is_some_and(|m| m.file_type().is_socket()) {
                return Err(wrong("a socket"));
            }
        }
        "CharDevice" => {
            if !meta.is_some_and(|m| m.file_type().is_char_device()) {
                return Err(wrong("a character device"));
            }
        }
        "BlockDevice" => {
            if !meta.is_some_and(|m| m.file_type().is_block_device()) {
                return Err(wrong("a block device"));
            }
        }
        other => {
            return Err(EngineError::Invalid(format!(
                "hostPath {path}: unknown type {other:?}"
            )));
        }
    }
    Ok(p)
}

/// Limits become cgroup limits; a CPU request becomes CPU shares (as the kubelet maps it).
/// Requests are kept as an annotation so they can be generated back.
pub(crate) fn apply_resources(s: &mut ContainerSpec, r: &ResourceRequirements) {
    if let Some(limits) = &r.limits {
        if let Some(m) = limits.get("memory").and_then(|q| quantity_bytes(&q.0)) {
            s.resources.memory = Some(m as i64);
        }
        if let Some(c) = limits.get("cpu").and_then(|q| quantity_cpus(&q.0)) {
            s.resources.cpus = Some(c);
        }
    }
    if let Some(requests) = &r.requests {
        if let Some(c) = requests.get("cpu").and_then(|q| quantity_cpus(&q.0)) {
            s.resources.cpu_shares = Some(((c * 1024.0).round() as u64).max(2));
        }
        let kept: BTreeMap<&String, &String> = requests.iter().map(|(k, v)| (k, &v.0)).collect();
        s.annotations.insert(
            "io.oxpod.kube/requests".into(),
            serde_json::to_string(&kept).expect("requests serialise"),
        );
    }
}

/// The pod's and the container's security contexts (the container's wins).
pub(crate) fn apply_security(
    s: &mut ContainerSpec,
    pod: Option<&PodSecurityContext>,
    c: Option<&SecurityContext>,
) {
    let user = c
        .and_then(|c| c.run_as_user)
        .or_else(|| pod.and_then(|p| p.run_as_user));
    let group = c
        .and_then(|c| c.run_as_group)
        .or_else(|| pod.and_then(|p| p.run_as_group));
    match (user, group) {
        (Some(u), Some(g)) => s.user = Some(format!("{u}:{g}")),
        (Some(u), None) => s.user = Some(u.to_string()),
        (None, Some(g)) => s.user = Some(format!("0:{g}")),
        (None, None) => {}
    }
    let non_root = c
        .and_then(|c| c.run_as_non_root)
        .or_else(|| pod.and_then(|p| p.run_as_non_root));
    s.run_as_non_root = non_root == Some(true);
    if let Some(p) = pod {
        // fsGroup owns the pod's volumes and is one of every container's groups.
        for gid in p
            .supplemental_groups
            .iter()
            .flatten()
            .chain(p.fs_group.iter())
        {
            if let Ok(gid) = u32::try_from(*gid)
                && !s.group_add.contains(&gid)
            {
                s.group_add.push(gid);
            }
        }
        for sysctl in p.sysctls.iter().flatten() {
            s.sysctls.insert(sysctl.name.clone(), sysctl.value.clone());
        }
    }
    let seccomp = c
        .and_then(|c| c.seccomp_profile.as_ref())
        .or_else(|| pod.and_then(|p| p.seccomp_profile.as_ref()));
    if let Some(profile) = seccomp {
        match profile.type_.as_str() {
            "Unconfined" => s.seccomp = Seccomp::Unconfined,
            "Localhost" => {
                if let Some(path) = &profile.localhost_profile {
                    s.seccomp = Seccomp::Profile(PathBuf::from(path));
                }
            }
            _ => s.seccomp = Seccomp::Default,
        }
    }
    let Some(c) = c else {
        return;
    };
    if c.privileged == Some(true) {
        s.privileged = true;
    }
    if c.read_only_root_filesystem == Some(true) {
        s.read_only = true;
    }
    if c.allow_privilege_escalation == Some(false) {
        s.no_new_privileges = true;
    }
    if let Some(caps) = &c.capabilities {
        s.cap_add.extend(caps.add.iter().flatten().cloned());
        s.cap_drop.extend(caps.drop.iter().flatten().cloned());
    }
}

/// A port given by number or by the name of one of the container's ports.
fn named_port(
    port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
    c: &Container,
) -> Result<u16, EngineError> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match port {
        IntOrString::Int(n) => Ok(*n as u16),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port as u16)
            .ok_or_else(|| {
                EngineError::Invalid(format!("container {} has no port named {name:?}", c.name))
            }),
    }
}

/// A probe's or hook's action.
fn action(
    c: &Container,
    exec: Option<&k8s_openapi::api::core::v1::ExecAction>,
    http: Option<&k8s_openapi::api::core::v1::HTTPGetAction>,
    tcp: Option<&k8s_openapi::api::core::v1::TCPSocketAction>,
    grpc: Option<&k8s_openapi::api::core::v1::GRPCAction>,
    sleep: Option<&k8s_openapi::api::core::v1::SleepAction>,
) -> Result<Option<ProbeAction>, EngineError> {
    Ok(Some(if let Some(e) = exec {
        ProbeAction::Exec {
            command: e.command.clone().unwrap_or_default(),
        }
    } else if let Some(h) = http {
        ProbeAction::Http {
            host: h.host.clone(),
            port: named_port(&h.port, c)?,
            path: h.path.clone().unwrap_or_else(|| "/".into()),
            scheme: h.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase(),
            headers: h
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        }
    } else if let Some(t) = tcp {
        ProbeAction::Tcp {
            host: t.host.clone(),
            port: named_port(&t.port, c)?,
        }
    } else if let Some(g) = grpc {
        ProbeAction::Grpc {
            port: g.port as u16,
            service: g.service.clone().filter(|s| !s.is_empty()),
        }
    } else if let Some(s) = sleep {
        ProbeAction::Sleep {
            seconds: s.seconds.max(0) as u64,
        }
    } else {
        return Ok(None);
    }))
}

fn probe(
    c: &Container,
    p: &k8s_openapi::api::core::v1::Probe,
) -> Result<Option<Probe>, EngineError> {
    let Some(action) = action(
        c,
        p.exec.as_ref(),
        p.http_get.as_ref(),
        p.tcp_socket.as_ref(),
        p.grpc.as_ref(),
        None,
    )?
    else {
        return Ok(None);
    };
    let secs =
        |v: Option<i32>, default: u64| Duration::from_secs(v.map_or(default, |v| v.max(0) as u64));
    Ok(Some(Probe {
        action,
        initial_delay: secs(p.initial_delay_seconds, 0),
        period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
        timeout: secs(p.timeout_seconds, 1).max(Duration::from_secs(1)),
        success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
        failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
    }))
}

/// Probes and lifecycle hooks of a container.
pub(crate) fn apply_probes(s: &mut ContainerSpec, c: &Container) -> Result<(), EngineError> {
    if let Some(p) = &c.liveness_probe {
        s.probes.liveness = probe(c, p)?;
    }
    if let Some(p) = &c.readiness_probe {
        s.probes.readiness = probe(c, p)?;
    }
    if let Some(p) = &c.startup_probe {
        s.probes.startup = probe(c, p)?;
    }
    if let Some(l) = &c.lifecycle {
        let hook = |h: &k8s_openapi::api::core::v1::LifecycleHandler| {
            action(
                c,
                h.exec.as_ref(),
                h.http_get.as_ref(),
                h.tcp_socket.as_ref(),
                None,
                h.sleep.as_ref(),
            )
        };
        if let Some(h) = &l.post_start {
            s.lifecycle.post_start = hook(h)?;
        }
        if let Some(h) = &l.pre_stop {
            s.lifecycle.pre_stop = hook(h)?;
        }
    }
    Ok(())
}

/// Give a pod volume's tree to the pod's fsGroup (group-owned, group-writable directories with
/// the set-group-ID bit, as the kubelet prepares them).
pub(crate) fn own_by_group(dir: &Path, gid: u32) -> Result<(), EngineError> {
    let io = |path: &Path, e: std::io::Error| EngineError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        std::os::unix::fs::lchown(&path, None, Some(gid)).map_err(|e| io(&path, e))?;
        if meta.is_dir() {
            let mode = (meta.permissions().mode() & 0o7777) | 0o2070;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| io(&path, e))?;
            for entry in std::fs::read_dir(&path).map_err(|e| io(&path, e))? {
                stack.push(entry.map_err(|e| io(&path, e))?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(quantity_bytes("128Mi"), Some(128 << 20));
        assert_eq!(quantity_bytes("1G"), Some(1_000_000_000));
        assert_eq!(quantity_bytes("1e3"), Some(1000));
        assert_eq!(quantity_bytes("512"), Some(512));
        assert_eq!(quantity_bytes("12parsecs"), None);
        assert_eq!(quantity_cpus("500m"), Some(0.5));
        assert_eq!(quantity_cpus("2"), Some(2.0));
    }

    #[test]
    fn variables_expand_like_kubernetes() {
        let env = vec![
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "x".to_string()),
        ];
        assert_eq!(expand_vars("$(A)-$(B)", &env), "1-x");
        assert_eq!(expand_vars("$$(A)", &env), "$(A)");
        assert_eq!(expand_vars("$(MISSING)", &env), "$(MISSING)");
        assert_eq!(expand_vars("cost $5", &env), "cost $5");
    }

    #[test]
    fn pull_policy_defaults() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/busybox:1.36"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn paths_stay_inside() {
        assert!(safe_relative("a/b").is_ok());
        assert!(safe_relative("../x").is_err());
        assert!(safe_relative("/etc").is_err());
        assert!(safe_relative("").is_err());
    }
}
