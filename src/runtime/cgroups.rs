//! Reading a container's cgroup back: limits for `inspect`, usage for `stats`, processes for
//! `top`, OOM kills, pause/unpause through the freezer, and removal.
//!
//! Three layouts exist: v1 (a hierarchy per controller), v2 (one unified hierarchy) and hybrid
//! (v1 controllers plus a cgroup2 mount at `/sys/fs/cgroup/unified`, as on this host). Each
//! controller is read where it is mounted: its v1 hierarchy when there is one, else the unified
//! hierarchy with the v2 file names.
//!
//! Limits are written by the OCI runtime from the spec; nothing here sets them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// Controllers of cgroup v1; other mount options of a `cgroup` mount are not hierarchies.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// v1 reports "no limit" as the largest page-aligned i64 (9223372036854771712 with 4 KiB
/// pages); anything this large is no limit in practice.
const UNLIMITED_AT: u64 = 1 << 62;

/// `cpuacct.stat` counts in USER_HZ, which Linux fixes at 100 for user space.
const NS_PER_USER_HZ_TICK: u64 = 10_000_000;

const REMOVE_TIMEOUT: Duration = Duration::from_secs(2);
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup file system is mounted (looked in /proc/self/mounts)")]
    NoCgroups,
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("cgroup {path} exists in no hierarchy (has the container exited?)")]
    NotFound { path: String },
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("unexpected content in {path}: {content:?}")]
    Parse { path: PathBuf, content: String },
    #[error("removing cgroup {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("watching {path}: {source}")]
    Watch { path: PathBuf, source: nix::Error },
    #[error("cgroup {path} has no freezer (neither a v1 freezer hierarchy nor cgroup2)")]
    NoFreezer { path: String },
    #[error("cgroup {path} did not become {state} within {timeout:?}")]
    Timeout {
        path: PathBuf,
        state: &'static str,
        timeout: Duration,
    },
    /// Teardown goes on after a failure; this is every failure it met.
    #[error("{}", list(.0))]
    Several(Vec<CgroupError>),
}

fn list(errors: &[CgroupError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Which cgroup version governs resources: hybrid hosts count as v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Where the cgroup hierarchies are mounted. Detected once per process; tests build one over
/// a temporary directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// v1 hierarchies by controller (`memory`, `cpu`, `name=systemd`), as mounted.
    v1: BTreeMap<String, PathBuf>,
    /// The cgroup2 mount.
    unified: Option<PathBuf>,
    /// Controllers available at the root of the cgroup2 mount.
    unified_controllers: BTreeSet<String>,
}

impl CgroupLayout {
    /// The layout of this process's mount namespace.
    pub fn detect() -> Result<Self, CgroupError> {
        let mounts = Path::new("/proc/self/mounts");
        let text = fs::read_to_string(mounts).map_err(|source| CgroupError::Read {
            path: mounts.to_owned(),
            source,
        })?;
        let layout = Self::from_mounts(&text);
        if layout.v1.is_empty() && layout.unified.is_none() {
            return Err(CgroupError::NoCgroups);
        }
        Ok(layout)
    }

    /// The layout described by a mount table in `/proc/self/mounts` form. Reads
    /// `cgroup.controllers` at the root of the cgroup2 mount it names.
    pub fn from_mounts(mounts: &str) -> Self {
        let mut v1 = BTreeMap::new();
        let mut unified = None;
        for line in mounts.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, mount_point, fs_type, options, ..] = fields[..] else {
                continue;
            };
            let mount_point = PathBuf::from(unescape_mount_field(mount_point));
            match fs_type {
                "cgroup2" => {
                    unified.get_or_insert(mount_point);
                }
                "cgroup" => {
                    for option in options.split(',') {
                        if V1_CONTROLLERS.contains(&option) || option.starts_with("name=") {
                            // A hierarchy bind-mounted twice: the first mount is the real one.
                            v1.entry(option.to_owned())
                                .or_insert_with(|| mount_point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        Self::new(v1, unified)
    }

    /// A v1 (or hybrid, with `unified`) layout from controller → mount point.
    pub fn v1<C: Into<String>, P: Into<PathBuf>>(
        hierarchies: impl IntoIterator<Item = (C, P)>,
        unified: Option<PathBuf>,
    ) -> Self {
        let v1 = hierarchies
            .into_iter()
            .map(|(c, p)| (c.into(), p.into()))
            .collect();
        Self::new(v1, unified)
    }

    /// A pure v2 layout mounted at `root`.
    pub fn v2(root: impl Into<PathBuf>) -> Self {
        Self::new(BTreeMap::new(), Some(root.into()))
    }

    fn new(v1: BTreeMap<String, PathBuf>, unified: Option<PathBuf>) -> Self {
        let unified_controllers = unified
            .as_ref()
            .and_then(|root| fs::read_to_string(root.join("cgroup.controllers")).ok())
            .map(|text| text.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        CgroupLayout {
            v1,
            unified,
            unified_controllers,
        }
    }

    pub fn version(&self) -> CgroupVersion {
        if self.v1.keys().any(|c| !c.starts_with("name=")) {
            CgroupVersion::V1
        } else {
            CgroupVersion::V2
        }
    }

    /// v1 controllers next to a cgroup2 mount.
    pub fn is_hybrid(&self) -> bool {
        self.version() == CgroupVersion::V1 && self.unified.is_some()
    }

    pub fn v1_mount(&self, controller: &str) -> Option<&Path> {
        self.v1.get(controller).map(PathBuf::as_path)
    }

    pub fn unified_mount(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// Controllers on the cgroup2 mount. On a hybrid host, any of them makes crun 1.8 refuse
    /// to run ("cgroups in hybrid mode not supported").
    pub fn unified_controllers(&self) -> impl Iterator<Item = &str> {
        self.unified_controllers.iter().map(String::as_str)
    }

    /// The container's directory for `controller`, and whether it uses v2 file names.
    fn locate(&self, controller: &str, rel: &Path) -> Option<Place> {
        if let Some(mount) = self.v1.get(controller) {
            return Some(Place::V1(mount.join(rel)));
        }
        let unified = self.unified.as_ref()?;
        // On a pure v2 host every controller is read there, enabled or not (files are absent).
        let here =
            self.version() == CgroupVersion::V2 || self.unified_controllers.contains(controller);
        here.then(|| Place::V2(unified.join(rel)))
    }

    /// Every hierarchy's directory for the cgroup, each mount once.
    fn all_dirs(&self, rel: &Path) -> Vec<PathBuf> {
        let mut mounts: Vec<&PathBuf> = self.v1.values().collect();
        mounts.extend(self.unified.as_ref());
        mounts.sort();
        mounts.dedup();
        mounts.into_iter().map(|m| m.join(rel)).collect()
    }
}

enum Place {
    V1(PathBuf),
    V2(PathBuf),
}

impl Place {
    fn dir(&self) -> &Path {
        match self {
            Place::V1(d) | Place::V2(d) => d,
        }
    }
}

/// `/proc/self/mounts` writes space, tab, newline and backslash as octal escapes.
fn unescape_mount_field(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(code) = u8::try_from(code) {
                out.push(code);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The OCI `cgroupsPath` as a path relative to each hierarchy's root.
fn relative(cgroup_path: &str) -> Result<PathBuf, CgroupError> {
    let invalid = |reason| CgroupError::InvalidPath {
        path: cgroup_path.to_owned(),
        reason,
    };
    if cgroup_path.contains(':') {
        return Err(invalid(
            "systemd slice paths (slice:prefix:name) are not supported",
        ));
    }
    let mut rel = PathBuf::new();
    for component in Path::new(cgroup_path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => rel.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(invalid("it must stay inside the hierarchy"));
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(invalid("the root cgroup is not a container's"));
    }
    Ok(rel)
}

/// Usage counters for `stats`; `None` where the kernel does not provide the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CgroupStats {
    pub memory_usage: Option<u64>,
    pub memory_limit: Option<u64>,
    /// Reclaimable page cache, which `docker stats` subtracts from the usage.
    pub memory_inactive_file: Option<u64>,
    pub cpu_usage_ns: Option<u64>,
    pub cpu_user_ns: Option<u64>,
    pub cpu_system_ns: Option<u64>,
    pub pids_current: Option<u64>,
    pub pids_limit: Option<u64>,
    pub block_read_bytes: Option<u64>,
    pub block_write_bytes: Option<u64>,
}

/// Limits as the kernel holds them, for `inspect`; `None` means unlimited or not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CgroupLimits {
    pub memory_limit: Option<u64>,
    /// v1 `memory.soft_limit_in_bytes`, v2 `memory.low`.
    pub memory_reservation: Option<u64>,
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: Option<u64>,
    /// v1 only; v2 has a weight instead and the two do not convert back exactly.
    pub cpu_shares: Option<u64>,
    /// v2 only.
    pub cpu_weight: Option<u64>,
    pub pids_max: Option<u64>,
}

/// Current usage of the container's cgroup. Fails with `NotFound` when the cgroup exists in
/// none of the hierarchies read.
pub fn stats(layout: &CgroupLayout, cgroup_path: &str) -> Result<CgroupStats, CgroupError> {
    let rel = relative(cgroup_path)?;
    let mut stats = CgroupStats::default();
    let mut found = false;

    if let Some(place) = present(layout.locate("memory", &rel), &mut found) {
        let dir = place.dir();
        let (usage, limit, stat_key) = match place {
            Place::V1(_) => (
                "memory.usage_in_bytes",
                "memory.limit_in_bytes",
                "total_inactive_file",
            ),
            Place::V2(_) => ("memory.current", "memory.max", "inactive_file"),
        };
        stats.memory_usage = read_u64(&dir.join(usage))?;
        stats.memory_limit = read_limit(&dir.join(limit))?;
        stats.memory_inactive_file = read_keyed(&dir.join("memory.stat"), stat_key)?;
    }

    // v1 accounts CPU time in cpuacct; v2 in the core file cpu.stat.
    let cpu = layout
        .locate("cpuacct", &rel)
        .filter(|p| matches!(p, Place::V1(_)))
        .or_else(|| layout.locate("cpu", &rel));
    match present(cpu, &mut found) {
        Some(Place::V1(dir)) => {
            stats.cpu_usage_ns = read_u64(&dir.join("cpuacct.usage"))?;
            stats.cpu_user_ns = read_u64(&dir.join("cpuacct.usage_user"))?;
            stats.cpu_system_ns = read_u64(&dir.join("cpuacct.usage_sys"))?;
            if stats.cpu_user_ns.is_none() {
                let file = dir.join("cpuacct.stat");
                let ticks =
                    |key| read_keyed(&file, key).map(|t| t.map(|t| t * NS_PER_USER_HZ_TICK));
                stats.cpu_user_ns = ticks("user")?;
                stats.cpu_system_ns = ticks("system")?;
            }
        }
        Some(Place::V2(dir)) => {
            let file = dir.join("cpu.stat");
            let usec = |key| read_keyed(&file, key).map(|v| v.map(|v| v * 1000));
            stats.cpu_usage_ns = usec("usage_usec")?;
            stats.cpu_user_ns = usec("user_usec")?;
            stats.cpu_system_ns = usec("system_usec")?;
        }
        None => {}
    }

    if let Some(place) = present(layout.locate("pids", &rel), &mut found) {
        stats.pids_current = read_u64(&place.dir().join("pids.current"))?;
        stats.pids_limit = read_limit(&place.dir().join("pids.max"))?;
    }

    let io = match present(layout.locate("blkio", &rel), &mut found) {
        Some(Place::V1(dir)) => blkio_v1(&dir)?,
        Some(Place::V2(dir)) => io_v2(&dir)?,
        None => match present(layout.locate("io", &rel), &mut found) {
            Some(place) => io_v2(place.dir())?,
            None => None,
        },
    };
    if let Some((read, write)) = io {
        stats.block_read_bytes = Some(read);
        stats.block_write_bytes = Some(write);
    }

    if !found {
        return Err(CgroupError::NotFound {
            path: cgroup_path.to_owned(),
        });
    }
    Ok(stats)
}

/// `place` if its directory exists, noting that one did.
fn present(place: Option<Place>, found: &mut bool) -> Option<Place> {
    let place = place.filter(|p| p.dir().is_dir())?;
    *found = true;
    Some(place)
}

/// Bytes read and written from `blkio.*io_service_bytes_recursive`: the CFQ file, else BFQ,
/// else the throttle layer, which counts every device (the order runc uses).
fn blkio_v1(dir: &Path) -> Result<Option<(u64, u64)>, CgroupError> {
    let mut result = None;
    for name in [
        "blkio.io_service_bytes_recursive",
        "blkio.bfq.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes_recursive",
    ] {
        let path = dir.join(name);
        let Some(text) = read_optional(&path)? else {
            continue;
        };
        let (mut read, mut write, mut entries) = (0u64, 0u64, 0);
        // "8:0 Read 4096" per device and operation, then "Total N".
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(_device), Some(op), Some(value)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let value: u64 = value.parse().map_err(|_| parse_error(&path, line))?;
            match op {
                "Read" => read += value,
                "Write" => write += value,
                _ => continue,
            }
            entries += 1;
        }
        result = Some((read, write));
        if entries > 0 {
            break;
        }
    }
    Ok(result)
}

/// Bytes read and written from v2 `io.stat`: "8:0 rbytes=N wbytes=N rios=N ...".
fn io_v2(dir: &Path) -> Result<Option<(u64, u64)>, CgroupError> {
    let path = dir.join("io.stat");
    let Some(text) = read_optional(&path)? else {
        return Ok(None);
    };
    let (mut read, mut write) = (0u64, 0u64);
    for line in text.lines() {
        for field in line.split_whitespace().skip(1) {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let counter = match key {
                "rbytes" => &mut read,
                "wbytes" => &mut write,
                _ => continue,
            };
            *counter += value.parse::<u64>().map_err(|_| parse_error(&path, line))?;
        }
    }
    Ok(Some((read, write)))
}

/// Limits read back from the container's cgroup files.
pub fn limits(layout: &CgroupLayout, cgroup_path: &str) -> Result<CgroupLimits, CgroupError> {
    let rel = relative(cgroup_path)?;
    let mut limits = CgroupLimits::default();
    let mut found = false;

    match present(layout.locate("memory", &rel), &mut found) {
        Some(Place::V1(dir)) => {
            limits.memory_limit = read_limit(&dir.join("memory.limit_in_bytes"))?;
            limits.memory_reservation = read_limit(&dir.join("memory.soft_limit_in_bytes"))?;
        }
        Some(Place::V2(dir)) => {
            limits.memory_limit = read_limit(&dir.join("memory.max"))?;
            // memory.low is 0 when unset.
            limits.memory_reservation = read_limit(&dir.join("memory.low"))?.filter(|&v| v > 0);
        }
        None => {}
    }

    match present(layout.locate("cpu", &rel), &mut found) {
        Some(Place::V1(dir)) => {
            limits.cpu_quota_us = read_limit(&dir.join("cpu.cfs_quota_us"))?;
            limits.cpu_period_us = read_u64(&dir.join("cpu.cfs_period_us"))?;
            limits.cpu_shares = read_u64(&dir.join("cpu.shares"))?;
        }
        Some(Place::V2(dir)) => {
            let path = dir.join("cpu.max");
            // "max 100000" or "50000 100000".
            if let Some(text) = read_optional(&path)? {
                let mut fields = text.split_whitespace();
                let quota = fields.next().ok_or_else(|| parse_error(&path, &text))?;
                limits.cpu_quota_us = parse_limit(&path, quota)?;
                limits.cpu_period_us = match fields.next() {
                    Some(period) => Some(parse_u64(&path, period)?),
                    None => None,
                };
            }
            limits.cpu_weight = read_u64(&dir.join("cpu.weight"))?;
        }
        None => {}
    }

    if let Some(place) = present(layout.locate("pids", &rel), &mut found) {
        limits.pids_max = read_limit(&place.dir().join("pids.max"))?;
    }

    if !found {
        return Err(CgroupError::NotFound {
            path: cgroup_path.to_owned(),
        });
    }
    Ok(limits)
}

/// Whether the kernel's OOM killer has killed a process of the cgroup. Read it before
/// [`remove`]: the counter goes with the cgroup.
pub fn oom_killed(layout: &CgroupLayout, cgroup_path: &str) -> bool {
    let Ok(rel) = relative(cgroup_path) else {
        return false;
    };
    let file = match layout.locate("memory", &rel) {
        Some(Place::V1(dir)) => dir.join("memory.oom_control"),
        Some(Place::V2(dir)) => dir.join("memory.events"),
        None => return false,
    };
    matches!(read_keyed(&file, "oom_kill"), Ok(Some(n)) if n > 0)
}

/// PIDs of the processes in the cgroup and its descendants, for `top`; empty when the cgroup
/// is gone.
pub fn pids(layout: &CgroupLayout, cgroup_path: &str) -> Vec<i32> {
    let Ok(rel) = relative(cgroup_path) else {
        return Vec::new();
    };
    // Any hierarchy holds every process; prefer those a container is always placed in.
    let preferred = ["pids", "memory", "cpu", "cpuacct", "freezer"]
        .iter()
        .filter_map(|c| layout.v1_mount(c).map(|m| m.join(&rel)))
        .chain(layout.unified_mount().map(|m| m.join(&rel)))
        .chain(layout.all_dirs(&rel));
    let Some(dir) = preferred.into_iter().find(|d| d.is_dir()) else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    let mut dirs = vec![dir];
    while let Some(dir) = dirs.pop() {
        if let Ok(Some(text)) = read_optional(&dir.join("cgroup.procs")) {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        dirs.extend(child_cgroups(&dir));
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Pause every process of the cgroup (`pause`), returning once the kernel reports it frozen.
pub fn freeze(layout: &CgroupLayout, cgroup_path: &str) -> Result<(), CgroupError> {
    set_frozen(layout, cgroup_path, true, FREEZE_TIMEOUT)
}

/// Resume the cgroup's processes (`unpause`), returning once the kernel reports it thawed.
pub fn thaw(layout: &CgroupLayout, cgroup_path: &str) -> Result<(), CgroupError> {
    set_frozen(layout, cgroup_path, false, FREEZE_TIMEOUT)
}

/// Whether the cgroup is frozen (or freezing), for a container's status.
pub fn frozen(layout: &CgroupLayout, cgroup_path: &str) -> Result<bool, CgroupError> {
    match freezer(layout, cgroup_path)? {
        Place::V1(dir) => {
            let path = dir.join("freezer.state");
            let state = read_optional(&path)?.unwrap_or_default();
            Ok(matches!(state.trim(), "FROZEN" | "FREEZING"))
        }
        Place::V2(dir) => Ok(read_keyed(&dir.join("cgroup.freeze"), "")?.is_some_and(|v| v == 1)),
    }
}

/// The v1 freezer hierarchy, else cgroup2, whose `cgroup.freeze` needs no controller.
fn freezer(layout: &CgroupLayout, cgroup_path: &str) -> Result<Place, CgroupError> {
    let rel = relative(cgroup_path)?;
    let place = match (layout.v1_mount("freezer"), layout.unified_mount()) {
        (Some(mount), _) => Place::V1(mount.join(&rel)),
        (None, Some(mount)) => Place::V2(mount.join(&rel)),
        (None, None) => {
            return Err(CgroupError::NoFreezer {
                path: cgroup_path.to_owned(),
            });
        }
    };
    if !place.dir().is_dir() {
        return Err(CgroupError::NotFound {
            path: cgroup_path.to_owned(),
        });
    }
    Ok(place)
}

fn set_frozen(
    layout: &CgroupLayout,
    cgroup_path: &str,
    freeze: bool,
    timeout: Duration,
) -> Result<(), CgroupError> {
    match freezer(layout, cgroup_path)? {
        Place::V1(dir) => set_frozen_v1(&dir, freeze, timeout),
        Place::V2(dir) => set_frozen_v2(&dir, freeze, timeout),
    }
}

/// The v1 freezer gives no notification, and a task in uninterruptible sleep can hold it in
/// FREEZING until the write is repeated (as runc does): retry with a short back-off.
fn set_frozen_v1(dir: &Path, freeze: bool, timeout: Duration) -> Result<(), CgroupError> {
    let path = dir.join("freezer.state");
    let want = if freeze { "FROZEN" } else { "THAWED" };
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_micros(100);
    loop {
        write_file(&path, want)?;
        let state = read_optional(&path)?.unwrap_or_default();
        if state.trim() == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            if freeze {
                // Do not leave the container half-frozen.
                let _ = write_file(&path, "THAWED");
            }
            return Err(CgroupError::Timeout {
                path,
                state: want,
                timeout,
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    }
}

/// v2 reports the outcome as `frozen 0|1` in `cgroup.events`, which notifies on change.
fn set_frozen_v2(dir: &Path, freeze: bool, timeout: Duration) -> Result<(), CgroupError> {
    let events = dir.join("cgroup.events");
    let watch_error = |source| CgroupError::Watch {
        path: events.clone(),
        source,
    };
    let inotify =
        Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(watch_error)?;
    // Watch before writing, so the change cannot slip between the two.
    inotify
        .add_watch(&events, AddWatchFlags::IN_MODIFY)
        .map_err(watch_error)?;
    write_file(&dir.join("cgroup.freeze"), if freeze { "1" } else { "0" })?;
    let deadline = Instant::now() + timeout;
    loop {
        if read_keyed(&events, "frozen")? == Some(u64::from(freeze)) {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            if freeze {
                let _ = write_file(&dir.join("cgroup.freeze"), "0");
            }
            return Err(CgroupError::Timeout {
                path: events,
                state: if freeze { "frozen" } else { "thawed" },
                timeout,
            });
        }
        let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(watch_error(e)),
        }
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
        }
    }
}

/// Remove the container's cgroup, and any it made below, from every hierarchy. Absent is fine.
/// Keeps going after a failure and reports them all.
pub fn remove(layout: &CgroupLayout, cgroup_path: &str) -> Result<(), CgroupError> {
    let rel = relative(cgroup_path)?;
    let mut errors = Vec::new();
    for dir in layout.all_dirs(&rel) {
        remove_tree(&dir, &mut errors);
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(CgroupError::Several(errors)),
    }
}

/// Children first: a cgroup with children cannot be removed.
fn remove_tree(dir: &Path, errors: &mut Vec<CgroupError>) {
    for child in child_cgroups(dir) {
        remove_tree(&child, errors);
    }
    if let Err(source) = rmdir_when_empty(dir) {
        errors.push(CgroupError::Remove {
            path: dir.to_owned(),
            source,
        });
    }
}

/// rmdir, retried while it says EBUSY: the container's last tasks leave the cgroup shortly
/// after they are reaped, and v1 gives no notification of it.
fn rmdir_when_empty(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + REMOVE_TIMEOUT;
    let mut delay = Duration::from_millis(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sub-directories of a cgroup directory, which are its child cgroups.
fn child_cgroups(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// A file's content, `None` when the kernel does not provide it.
fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    // No create: a missing control file means the controller is missing, not a file to make.
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|source| CgroupError::Write {
            path: path.to_owned(),
            source,
        })
}

fn parse_error(path: &Path, content: &str) -> CgroupError {
    CgroupError::Parse {
        path: path.to_owned(),
        content: content.to_owned(),
    }
}

fn parse_u64(path: &Path, s: &str) -> Result<u64, CgroupError> {
    s.trim().parse().map_err(|_| parse_error(path, s))
}

/// A limit: "max", -1 and v1's huge values mean none.
fn parse_limit(path: &Path, s: &str) -> Result<Option<u64>, CgroupError> {
    match s.trim() {
        "max" | "-1" => Ok(None),
        v => Ok(Some(parse_u64(path, v)?).filter(|&v| v < UNLIMITED_AT)),
    }
}

fn read_u64(path: &Path) -> Result<Option<u64>, CgroupError> {
    read_optional(path)?
        .map(|s| parse_u64(path, &s))
        .transpose()
}

fn read_limit(path: &Path) -> Result<Option<u64>, CgroupError> {
    Ok(read_optional(path)?
        .map(|s| parse_limit(path, &s))
        .transpose()?
        .flatten())
}

/// The value of `key` in a "key value" per line file (`memory.stat`, `cpu.stat`,
/// `memory.events`); an empty key reads a file holding a single number.
fn read_keyed(path: &Path, key: &str) -> Result<Option<u64>, CgroupError> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    if key.is_empty() {
        return parse_u64(path, &text).map(Some);
    }
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        if fields.next() == Some(key) {
            let value = fields.next().ok_or_else(|| parse_error(path, line))?;
            return parse_u64(path, value).map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_MOUNTS: &str = "\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,xattr,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
cgroup /somewhere/else/memory cgroup rw,relatime,memory 0 0
";

    /// Write `files` (path relative to `root`, content) creating directories.
    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (path, content) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
    }

    fn fake_v1(root: &Path) -> CgroupLayout {
        let controllers = ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer"];
        CgroupLayout::v1(controllers.map(|c| (c, root.join(c))), None)
    }

    #[test]
    fn detects_the_hybrid_layout_from_mounts() {
        let layout = CgroupLayout::from_mounts(HOST_MOUNTS);
        assert_eq!(layout.version(), CgroupVersion::V1);
        assert!(layout.is_hybrid());
        assert_eq!(
            layout.v1_mount("memory"),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            layout.v1_mount("cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpuacct"))
        );
        assert_eq!(
            layout.v1_mount("name=systemd"),
            Some(Path::new("/sys/fs/cgroup/systemd"))
        );
        assert_eq!(layout.v1_mount("xattr"), None);
        assert_eq!(layout.v1_mount("blkio"), None);
        assert_eq!(
            layout.unified_mount(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );

        let combined = CgroupLayout::from_mounts(
            "cgroup /sys/fs/cgroup/cpu\\054cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n\
             cgroup /mnt/with\\040space cgroup rw,pids 0 0\n",
        );
        let both = Path::new("/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(combined.v1_mount("cpu"), Some(both));
        assert_eq!(combined.v1_mount("cpuacct"), Some(both));
        assert_eq!(
            combined.v1_mount("pids"),
            Some(Path::new("/mnt/with space"))
        );
        assert!(!combined.is_hybrid());

        let v2 = CgroupLayout::from_mounts("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n");
        assert_eq!(v2.version(), CgroupVersion::V2);
        assert!(!v2.is_hybrid());
        assert_eq!(
            CgroupLayout::from_mounts("garbage\n\n"),
            CgroupLayout::default()
        );
    }

    #[test]
    fn detect_reads_this_host() {
        // Hosts without cgroups (some sandboxes) have nothing to check.
        if let Ok(layout) = CgroupLayout::detect() {
            assert!(layout.unified_mount().is_some() || layout.version() == CgroupVersion::V1);
        }
    }

    #[test]
    fn rejects_paths_outside_the_hierarchy() {
        for bad in ["", "/", "/oxpod/../..", "../x", "system.slice:oxpod:abc"] {
            assert!(
                matches!(relative(bad), Err(CgroupError::InvalidPath { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(relative("/oxpod/abc").unwrap(), Path::new("oxpod/abc"));
        assert_eq!(relative("oxpod/./abc/").unwrap(), Path::new("oxpod/abc"));
    }

    #[test]
    fn v1_stats_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(
            root,
            &[
                ("memory/oxpod/c1/memory.usage_in_bytes", "10485760\n"),
                ("memory/oxpod/c1/memory.limit_in_bytes", "67108864\n"),
                (
                    "memory/oxpod/c1/memory.soft_limit_in_bytes",
                    "9223372036854771712\n",
                ),
                (
                    "memory/oxpod/c1/memory.stat",
                    "cache 8192\ninactive_file 1\ntotal_inactive_file 4096\n",
                ),
                (
                    "memory/oxpod/c1/memory.oom_control",
                    "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
                ),
                ("cpuacct/oxpod/c1/cpuacct.usage", "123456789\n"),
                ("cpuacct/oxpod/c1/cpuacct.stat", "user 7\nsystem 3\n"),
                ("cpu/oxpod/c1/cpu.cfs_quota_us", "50000\n"),
                ("cpu/oxpod/c1/cpu.cfs_period_us", "100000\n"),
                ("cpu/oxpod/c1/cpu.shares", "512\n"),
                ("pids/oxpod/c1/pids.current", "3\n"),
                ("pids/oxpod/c1/pids.max", "max\n"),
                (
                    "blkio/oxpod/c1/blkio.io_service_bytes_recursive",
                    "Total 0\n",
                ),
                (
                    "blkio/oxpod/c1/blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 4608\n8:16 Read 1\nTotal 4609\n",
                ),
            ],
        );
        let layout = fake_v1(root);
        assert_eq!(
            stats(&layout, "/oxpod/c1").unwrap(),
            CgroupStats {
                memory_usage: Some(10_485_760),
                memory_limit: Some(67_108_864),
                memory_inactive_file: Some(4096),
                cpu_usage_ns: Some(123_456_789),
                cpu_user_ns: Some(70_000_000),
                cpu_system_ns: Some(30_000_000),
                pids_current: Some(3),
                pids_limit: None,
                block_read_bytes: Some(4097),
                block_write_bytes: Some(512),
            }
        );
        assert_eq!(
            limits(&layout, "/oxpod/c1").unwrap(),
            CgroupLimits {
                memory_limit: Some(67_108_864),
                memory_reservation: None,
                cpu_quota_us: Some(50_000),
                cpu_period_us: Some(100_000),
                cpu_shares: Some(512),
                cpu_weight: None,
                pids_max: None,
            }
        );
        assert!(!oom_killed(&layout, "/oxpod/c1"));
        fs::write(
            root.join("memory/oxpod/c1/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        )
        .unwrap();
        assert!(oom_killed(&layout, "/oxpod/c1"));
    }

    #[test]
    fn unlimited_values_read_as_none() {
        let dir = tempfile::tempdir().unwrap();
        tree(
            dir.path(),
            &[
                ("memory/c/memory.limit_in_bytes", "9223372036854771712\n"),
                ("cpu/c/cpu.cfs_quota_us", "-1\n"),
                ("cpu/c/cpu.cfs_period_us", "100000\n"),
                ("pids/c/pids.max", "max\n"),
            ],
        );
        let limits = limits(&fake_v1(dir.path()), "c").unwrap();
        assert_eq!(limits.memory_limit, None);
        assert_eq!(limits.cpu_quota_us, None);
        assert_eq!(limits.cpu_period_us, Some(100_000));
        assert_eq!(limits.pids_max, None);
    }

    #[test]
    fn missing_files_are_none_and_a_missing_cgroup_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path(), &[("memory/c/memory.usage_in_bytes", "42\n")]);
        let layout = fake_v1(dir.path());
        let s = stats(&layout, "/c").unwrap();
        assert_eq!(s.memory_usage, Some(42));
        assert_eq!(
            s,
            CgroupStats {
                memory_usage: Some(42),
                ..Default::default()
            }
        );
        assert!(matches!(
            stats(&layout, "/gone"),
            Err(CgroupError::NotFound { .. })
        ));
        assert!(matches!(
            limits(&layout, "/gone"),
            Err(CgroupError::NotFound { .. })
        ));
        assert!(!oom_killed(&layout, "/gone"));
        assert!(pids(&layout, "/gone").is_empty());
        assert!(matches!(
            freeze(&layout, "/gone"),
            Err(CgroupError::NotFound { .. })
        ));
    }

    #[test]
    fn garbage_in_a_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path(), &[("memory/c/memory.usage_in_bytes", "lots\n")]);
        let err = stats(&fake_v1(dir.path()), "c").unwrap_err();
        assert!(matches!(err, CgroupError::Parse { .. }));
        assert!(err.to_string().contains("memory.usage_in_bytes"), "{err}");
    }

    #[test]
    fn v2_stats_limits_and_oom() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(
            root,
            &[
                ("cgroup.controllers", "cpuset cpu io memory pids\n"),
                ("oxpod/c2/memory.current", "2097152\n"),
                ("oxpod/c2/memory.max", "max\n"),
                ("oxpod/c2/memory.low", "0\n"),
                (
                    "oxpod/c2/memory.stat",
                    "anon 1\nfile 2\ninactive_file 1024\n",
                ),
                (
                    "oxpod/c2/memory.events",
                    "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n",
                ),
                (
                    "oxpod/c2/cpu.stat",
                    "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\n",
                ),
                ("oxpod/c2/cpu.max", "25000 100000\n"),
                ("oxpod/c2/cpu.weight", "100\n"),
                ("oxpod/c2/pids.current", "1\n"),
                ("oxpod/c2/pids.max", "64\n"),
                (
                    "oxpod/c2/io.stat",
                    "8:0 rbytes=100 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n\
                     8:16 rbytes=1 wbytes=2 rios=1 wios=1\n",
                ),
            ],
        );
        let layout = CgroupLayout::v2(root);
        assert_eq!(layout.version(), CgroupVersion::V2);
        assert_eq!(
            stats(&layout, "/oxpod/c2").unwrap(),
            CgroupStats {
                memory_usage: Some(2_097_152),
                memory_limit: None,
                memory_inactive_file: Some(1024),
                cpu_usage_ns: Some(2_500_000),
                cpu_user_ns: Some(2_000_000),
                cpu_system_ns: Some(500_000),
                pids_current: Some(1),
                pids_limit: Some(64),
                block_read_bytes: Some(101),
                block_write_bytes: Some(22),
            }
        );
        assert_eq!(
            limits(&layout, "/oxpod/c2").unwrap(),
            CgroupLimits {
                memory_limit: None,
                memory_reservation: None,
                cpu_quota_us: Some(25_000),
                cpu_period_us: Some(100_000),
                cpu_shares: None,
                cpu_weight: Some(100),
                pids_max: Some(64),
            }
        );
        assert!(oom_killed(&layout, "/oxpod/c2"));
        fs::write(root.join("oxpod/c2/cpu.max"), "max 100000\n").unwrap();
        let l = limits(&layout, "/oxpod/c2").unwrap();
        assert_eq!((l.cpu_quota_us, l.cpu_period_us), (None, Some(100_000)));
    }

    #[test]
    fn hybrid_reads_a_controller_from_the_unified_mount() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(
            root,
            &[
                ("unified/cgroup.controllers", "pids\n"),
                ("unified/c/pids.current", "5\n"),
                ("unified/c/memory.current", "999\n"),
                ("memory/c/memory.usage_in_bytes", "7\n"),
            ],
        );
        let layout = CgroupLayout::v1(
            [("memory", root.join("memory"))],
            Some(root.join("unified")),
        );
        assert!(layout.is_hybrid());
        assert_eq!(layout.unified_controllers().collect::<Vec<_>>(), ["pids"]);
        let s = stats(&layout, "c").unwrap();
        assert_eq!(s.pids_current, Some(5));
        assert_eq!(s.memory_usage, Some(7), "memory is on v1, not unified");
    }

    #[test]
    fn pids_include_child_cgroups() {
        let dir = tempfile::tempdir().unwrap();
        tree(
            dir.path(),
            &[
                ("pids/c/cgroup.procs", "12\n7\n"),
                ("pids/c/sub/cgroup.procs", "30\n7\n"),
                ("memory/c/cgroup.procs", "999\n"),
            ],
        );
        assert_eq!(pids(&fake_v1(dir.path()), "/c"), [7, 12, 30]);
    }

    #[test]
    fn freeze_and_thaw_v1() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path(), &[("freezer/c/freezer.state", "THAWED\n")]);
        let layout = fake_v1(dir.path());
        assert!(!frozen(&layout, "c").unwrap());
        freeze(&layout, "c").unwrap();
        assert!(frozen(&layout, "c").unwrap());
        thaw(&layout, "c").unwrap();
        assert!(!frozen(&layout, "c").unwrap());
    }

    #[test]
    fn freeze_v2_waits_for_cgroup_events() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(
            root,
            &[
                ("c/cgroup.freeze", "0\n"),
                ("c/cgroup.events", "populated 1\nfrozen 0\n"),
            ],
        );
        let layout = CgroupLayout::v2(root);
        let events = root.join("c/cgroup.events");
        // The "kernel" reports the freeze a little later, as a change to cgroup.events.
        let kernel = {
            let events = events.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                fs::write(events, "populated 1\nfrozen 1\n").unwrap();
            })
        };
        freeze(&layout, "c").unwrap();
        kernel.join().unwrap();
        assert_eq!(
            fs::read_to_string(root.join("c/cgroup.freeze")).unwrap(),
            "1"
        );
        assert!(frozen(&layout, "c").unwrap());

        // Nobody reports the thaw: a bounded wait, then an error naming the file.
        let err = set_frozen(&layout, "c", false, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, CgroupError::Timeout { .. }), "{err}");
    }

    #[test]
    fn remove_takes_children_first_and_absent_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "memory/oxpod/c/sub/deeper",
            "cpu/oxpod/c",
            "pids/oxpod/other",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let layout = fake_v1(root);
        remove(&layout, "/oxpod/c").unwrap();
        assert!(!root.join("memory/oxpod/c").exists());
        assert!(!root.join("cpu/oxpod/c").exists());
        assert!(root.join("memory/oxpod").exists());
        assert!(root.join("pids/oxpod/other").exists());
        remove(&layout, "/oxpod/c").unwrap();
    }

    #[test]
    fn remove_reports_every_failure() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Regular files make rmdir fail with ENOTEMPTY, standing in for a kernel refusal.
        tree(root, &[("memory/c/file", ""), ("cpu/c/file", "")]);
        fs::create_dir_all(root.join("pids/c")).unwrap();
        let err = remove(&fake_v1(root), "c").unwrap_err();
        let CgroupError::Several(errors) = &err else {
            panic!("expected several errors, got {err}");
        };
        assert_eq!(errors.len(), 2);
        assert!(
            !root.join("pids/c").exists(),
            "the others were still removed"
        );
        assert!(err.to_string().contains("memory/c"), "{err}");
    }

    /// As root on a v1 host: a real memory cgroup with a limit, read back, then removed, and a
    /// process in freezer + memory cgroups for `pids`, `freeze` and `thaw`.
    #[test]
    fn real_v1_cgroup_round_trip() {
        let Ok(layout) = CgroupLayout::detect() else {
            return;
        };
        let (Some(memory), Some(freezer)) = (layout.v1_mount("memory"), layout.v1_mount("freezer"))
        else {
            return;
        };
        let name = format!("oxpod-test-{}", std::process::id());
        let path = format!("/{name}");
        let mem_dir = memory.join(&name);
        if fs::create_dir(&mem_dir).is_err() {
            eprintln!("skipped: cannot create {}", mem_dir.display());
            return;
        }
        let frz_dir = freezer.join(&name);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fs::write(mem_dir.join("memory.limit_in_bytes"), "67108864").unwrap();
            let l = limits(&layout, &path).unwrap();
            assert_eq!(l.memory_limit, Some(64 << 20));
            assert!(!oom_killed(&layout, &path));

            fs::create_dir(&frz_dir).unwrap();
            let pid = child.id().to_string();
            fs::write(mem_dir.join("cgroup.procs"), &pid).unwrap();
            fs::write(frz_dir.join("cgroup.procs"), &pid).unwrap();
            assert_eq!(pids(&layout, &path), [child.id() as i32]);
            let s = stats(&layout, &path).unwrap();
            // Zero is fine: v1 does not move earlier charges with a task.
            assert!(s.memory_usage.is_some());
            freeze(&layout, &path).unwrap();
            assert!(frozen(&layout, &path).unwrap());
            thaw(&layout, &path).unwrap();
            assert!(!frozen(&layout, &path).unwrap());
        }));
        // Killed and reaped before removal, whatever happened: a live task keeps the cgroup.
        let _ = child.kill();
        let _ = child.wait();
        let removed = remove(&layout, &path);
        assert!(!mem_dir.exists() && !frz_dir.exists());
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
        removed.unwrap();
    }
}
