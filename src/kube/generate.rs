//! `kube generate`: engine state back to Kubernetes objects.

use crate::engine::Engine;

/// The workload kind a plain pod is written as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkloadType {
    #[default]
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
}

#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    pub workload: Option<WorkloadType>,
    pub replicas: Option<u32>,
    pub service: bool,
    pub namespace: Option<String>,
    pub include_secrets: bool,
}

/// The objects, in dependency order, and what had no Kubernetes form.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub objects: Vec<serde_json::Value>,
    pub notes: Vec<String>,
}

/// Objects for pods, containers, volumes or played objects named by `names`.
pub fn generate(
    _engine: &mut Engine,
    _names: &[String],
    _options: &GenerateOptions,
) -> Result<Generated, miette::Report> {
    Err(miette::miette!("kube generate: not built yet"))
}
