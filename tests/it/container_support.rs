//! Shared by the container tests: a root with busybox pulled, `inspect` and `ps` as JSON, and
//! what a container leaves on the host (its directory, mounts, cgroups, processes).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::images::{self, TestImage};
use crate::oxpod::Oxpod;
use crate::registry::Registry;
use crate::support::json;

/// A registry holding busybox and a root that has pulled it.
pub struct Fixture {
    /// Kept alive for tests that push more images.
    pub reg: Registry,
    pub env: Oxpod,
    /// What the tests pass to `run`: the fully qualified busybox reference.
    pub image: String,
    pub busybox: TestImage,
}

pub fn setup() -> Fixture {
    let reg = Registry::start();
    let busybox = images::busybox(&reg);
    let env = Oxpod::with_registry(&reg);
    env.ok(&["pull", "-q", &busybox.reference()]);
    Fixture {
        image: busybox.reference(),
        busybox,
        env,
        reg,
    }
}

impl Drop for Fixture {
    /// Containers a test leaves running (or a failed test leaves behind) go with their
    /// cgroups: the harness kills processes and unmounts, but cgroups are the engine's to
    /// remove.
    fn drop(&mut self) {
        // Pods first (their containers go with them), then lone containers, then the
        // networks tests made, with their bridges and firewall rules.
        for args in [
            &["pod", "rm", "-f", "-a"][..],
            &["rm", "-f", "-a"],
            &["network", "prune", "-f"],
        ] {
            let _ = self
                .env
                .cmd(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

impl Fixture {
    /// `oxpod ARGS` with `{img}` replaced by the busybox reference.
    pub fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        args.iter()
            .map(|a| {
                if *a == "{img}" {
                    self.image.as_str()
                } else {
                    a
                }
            })
            .collect()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.env.ok(&self.args(args))
    }

    /// `run -d ... {img} ...`; returns the full ID it printed.
    pub fn run_detached(&self, args: &[&str]) -> String {
        let out = self.ok(args);
        let id = out.trim().to_owned();
        assert!(
            is_full_id(&id),
            "run -d printed {out:?}, want one 64-hex ID"
        );
        id
    }
}

pub fn is_full_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `inspect NAME`: the one object of the array.
pub fn inspect(env: &Oxpod, name: &str) -> Value {
    match json(&env.ok(&["inspect", name])) {
        Value::Array(mut all) if all.len() == 1 => all.remove(0),
        other => panic!("inspect {name}: want an array of one: {other}"),
    }
}

/// `ps -a --format json`, as an array.
pub fn ps_all(env: &Oxpod) -> Vec<Value> {
    match json(&env.ok(&["ps", "-a", "--format", "json"])) {
        Value::Array(all) => all,
        other => panic!("ps --format json is not an array: {other}"),
    }
}

/// The `ps -a` entry of a container (by name), if listed.
pub fn ps_entry(env: &Oxpod, name: &str) -> Option<Value> {
    ps_all(env)
        .into_iter()
        .find(|c| c["Names"][0].as_str() == Some(name))
}

/// `<root>/containers/<id>`.
pub fn container_dir(env: &Oxpod, id: &str) -> PathBuf {
    env.root().join("containers").join(id)
}

/// `<runroot>/containers/<id>`: the OCI bundle and generated files.
pub fn bundle_dir(env: &Oxpod, id: &str) -> PathBuf {
    env.runroot().join("containers").join(id)
}

/// Names of the entries in `<root>/containers` and `<runroot>/containers`, sorted and
/// deduplicated (none when neither exists).
pub fn container_dirs(env: &Oxpod) -> Vec<String> {
    let mut names: Vec<String> = [env.root(), env.runroot()]
        .iter()
        .filter_map(|base| fs::read_dir(base.join("containers")).ok())
        .flat_map(|entries| entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Mount points at or below `dir` in this (the host's) mount namespace.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("read /proc/self/mountinfo")
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .map(str::to_owned)
        .collect()
}

/// The cgroup directories oxpod made for containers whose ID starts with `prefix`, in every
/// hierarchy (v1 controllers and the unified one).
pub fn cgroup_dirs(prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    for h in hierarchies.flatten() {
        let Ok(entries) = fs::read_dir(h.path().join("oxpod")) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) && e.path().is_dir() {
                found.push(e.path());
            }
        }
    }
    found
}

/// `/sys/fs/cgroup/<controller>/oxpod/<id>/<file>`, trimmed.
pub fn cgroup_file(controller: &str, id: &str, file: &str) -> String {
    let path = Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("oxpod")
        .join(id)
        .join(file);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

pub fn process_alive(pid: i64) -> bool {
    // A zombie is gone for every purpose here.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| !s[i + 2..].starts_with('Z')))
        .unwrap_or(false)
}

/// Processes whose command line mentions `dir` (monitors of this root).
pub fn processes_under(dir: &Path) -> Vec<i32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && process_alive(pid as i64))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// Everything a container with ID (or ID prefix) `id` made is gone: its row, its directories
/// (under the root and the runroot), its mounts, its cgroups and its runtime state.
pub fn assert_container_gone(env: &Oxpod, id: &str) {
    let rows = env.ok(&["ps", "-a", "-q", "--no-trunc"]);
    assert!(
        !rows.lines().any(|l| l.starts_with(id)),
        "container {id} is still listed:\n{rows}"
    );
    let dirs: Vec<String> = container_dirs(env)
        .into_iter()
        .filter(|d| d.starts_with(id))
        .collect();
    assert!(dirs.is_empty(), "container directories left: {dirs:?}");
    let mounts: Vec<String> = mounts_under(&env.root())
        .into_iter()
        .filter(|m| m.contains(id))
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let cgroups = cgroup_dirs(id);
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    let runtime = env.runroot().join("runtime");
    if let Ok(entries) = fs::read_dir(&runtime) {
        let left: Vec<_> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(id))
            .collect();
        assert!(left.is_empty(), "runtime state left: {left:?}");
    }
}

/// Nothing at all is left in the root: no container rows or directories, no mounts under
/// the test directory, no oxpod process for this root.
pub fn assert_root_empty(env: &Oxpod) {
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "containers are listed");
    assert_eq!(container_dirs(env), Vec::<String>::new(), "container dirs");
    assert_eq!(mounts_under(env.dir()), Vec::<String>::new(), "mounts");
    assert_eq!(processes_under(env.dir()), Vec::<i32>::new(), "processes");
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after `timeout`. Only for
/// what nothing can signal (a log line appearing, a restart counter moving).
pub fn poll_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The container's CRI log file as text ("" before it exists).
pub fn log_file(env: &Oxpod, id: &str) -> String {
    fs::read_to_string(container_dir(env, id).join("ctr.log")).unwrap_or_default()
}

/// Waits until the container's log has a line containing `needle` (read from the file, so
/// polling costs no process).
pub fn wait_for_log(env: &Oxpod, id: &str, needle: &str) {
    poll_until(
        &format!("{needle:?} in the log of {id}"),
        Duration::from_secs(20),
        || log_file(env, id).contains(needle),
    );
}

/// `<RFC3339 nanoseconds, UTC> <stdout|stderr> <F|P> <content>`: one CRI log line.
pub fn is_cri_line(line: &str) -> bool {
    let Some((ts, rest)) = line.split_once(' ') else {
        return false;
    };
    let shape = "dddd-dd-ddTdd:dd:dd.dddddddddZ";
    let ts_ok = ts.len() == shape.len()
        && ts.bytes().zip(shape.bytes()).all(|(c, s)| match s {
            b'd' => c.is_ascii_digit(),
            s => c == s,
        });
    let mut parts = rest.splitn(3, ' ');
    let stream = parts.next();
    let tag = parts.next();
    let content = parts.next();
    ts_ok
        && matches!(stream, Some("stdout" | "stderr"))
        && matches!(tag, Some("F" | "P"))
        && content.is_some()
}

/// The `CapEff` mask of a `/proc/PID/status` text.
pub fn cap_eff(status: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff line in:\n{status}"))
        .trim();
    u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("CapEff {hex:?}: {e}"))
}
