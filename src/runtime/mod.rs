//! Running containers: the OCI runtime behind a trait, the per-container monitor, logs in the
//! CRI format, cgroup limits and stats, probes and exec.

pub mod cgroups;
pub mod logs;
