//! `stats`: resource usage of running containers, from their cgroups.

use std::time::{Duration, Instant};

use crate::engine::{Engine, EngineError, Result};
use crate::runtime::cgroups::{self, CgroupLayout, CgroupStats};
use crate::state::ContainerRecord;

/// One container's usage, as `stats` shows it. `None` where the kernel gave nothing (or the
/// container is not running).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ContainerStats {
    pub id: String,
    pub name: String,
    /// CPU time used during the sampling interval over its length, in percent of one CPU
    /// (so up to 100 × CPUs).
    pub cpu_percent: Option<f64>,
    /// CPU time used since the container started over the time since then, in percent.
    pub avg_cpu_percent: Option<f64>,
    pub cpu_time: Option<Duration>,
    /// Memory in use, not counting reclaimable page cache (as `docker stats` and Podman).
    pub mem_usage: Option<u64>,
    /// The cgroup's limit, or the host's memory when there is none.
    pub mem_limit: Option<u64>,
    pub mem_percent: Option<f64>,
    pub pids: Option<u64>,
    pub block_read: Option<u64>,
    pub block_write: Option<u64>,
}

/// The host's memory in bytes (`MemTotal`).
fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn fill(stats: &mut ContainerStats, now: &CgroupStats, host_mem: Option<u64>) {
    stats.cpu_time = now.cpu_usage_ns.map(Duration::from_nanos);
    stats.mem_usage = now.memory_usage.map(|usage| {
        let cache = now.memory_inactive_file.unwrap_or(0);
        usage.saturating_sub(cache)
    });
    // An unlimited cgroup reports a huge number (v1) or nothing (v2): show the host's memory.
    stats.mem_limit = match (now.memory_limit, host_mem) {
        (Some(limit), Some(host)) => Some(limit.min(host)),
        (limit, host) => limit.or(host),
    };
    stats.mem_percent = match (stats.mem_usage, stats.mem_limit) {
        (Some(usage), Some(limit)) if limit > 0 => Some(usage as f64 / limit as f64 * 100.0),
        _ => None,
    };
    stats.pids = now.pids_current;
    stats.block_read = now.block_read_bytes;
    stats.block_write = now.block_write_bytes;
}

impl Engine {
    /// Usage of the given containers (every running one when `names` is empty; with `all`,
    /// stopped ones too, with empty figures). CPU % is measured over `interval`, which this
    /// call waits out once for all containers.
    pub fn container_stats(
        &mut self,
        names: &[String],
        all: bool,
        interval: Duration,
    ) -> Result<Vec<ContainerStats>> {
        let records: Vec<ContainerRecord> = if names.is_empty() {
            let mut records = Vec::new();
            for r in self.store.containers()? {
                let r = self.refresh(r)?;
                if all || r.status.is_active() {
                    records.push(r);
                }
            }
            records
        } else {
            let mut records = Vec::new();
            for name in names {
                let r = self.find_container(name)?;
                if !r.status.is_active() && !all {
                    return Err(EngineError::Conflict(format!(
                        "cannot get stats of container {}: it is {}, not running",
                        r.name,
                        r.status.as_str()
                    )));
                }
                records.push(r);
            }
            records
        };
        let layout = CgroupLayout::detect()
            .map_err(|e| EngineError::Invalid(format!("cannot read the cgroup layout: {e}")))?;
        let sample = |r: &ContainerRecord| -> Option<CgroupStats> {
            r.status
                .is_active()
                .then(|| cgroups::stats(&layout, &Self::cgroup_path(&r.id)).ok())
                .flatten()
        };
        let first: Vec<Option<CgroupStats>> = records.iter().map(sample).collect();
        let started = Instant::now();
        if first.iter().any(Option::is_some) && !interval.is_zero() {
            std::thread::sleep(interval);
        }
        let elapsed = started.elapsed();
        let host_mem = host_memory();
        let mut out = Vec::new();
        for (r, before) in records.iter().zip(first) {
            let mut stats = ContainerStats {
                id: r.id.clone(),
                name: r.name.clone(),
                ..Default::default()
            };
            if let Some(now) = sample(r) {
                fill(&mut stats, &now, host_mem);
                if let (Some(a), Some(b)) = (before.and_then(|s| s.cpu_usage_ns), now.cpu_usage_ns)
                    && !elapsed.is_zero()
                {
                    stats.cpu_percent =
                        Some(b.saturating_sub(a) as f64 / elapsed.as_nanos() as f64 * 100.0);
                }
                let up = r
                    .started_at
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .and_then(|t| (chrono::Utc::now() - t.to_utc()).to_std().ok());
                if let (Some(cpu), Some(up)) = (now.cpu_usage_ns, up)
                    && !up.is_zero()
                {
                    stats.avg_cpu_percent = Some(cpu as f64 / up.as_nanos() as f64 * 100.0);
                }
            }
            out.push(stats);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_usage_without_cache_within_the_limit() {
        let mut s = ContainerStats::default();
        let now = CgroupStats {
            memory_usage: Some(10_000_000),
            memory_inactive_file: Some(2_000_000),
            memory_limit: Some(64 << 20),
            pids_current: Some(3),
            ..Default::default()
        };
        fill(&mut s, &now, Some(1 << 34));
        assert_eq!(s.mem_usage, Some(8_000_000));
        assert_eq!(s.mem_limit, Some(64 << 20));
        assert!((s.mem_percent.unwrap() - 8_000_000.0 / (64u64 << 20) as f64 * 100.0).abs() < 1e-9);
        assert_eq!(s.pids, Some(3));
        // Unlimited: the host's memory.
        let unlimited = CgroupStats {
            memory_usage: Some(1),
            memory_limit: Some(u64::MAX),
            ..Default::default()
        };
        fill(&mut s, &unlimited, Some(1 << 30));
        assert_eq!(s.mem_limit, Some(1 << 30));
    }
}
