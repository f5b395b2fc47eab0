//! `kube apply`: Kubernetes YAML, or what runs here, applied to a cluster with server-side
//! apply; kubectl's flags and report lines where they overlap.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CliResult, EXIT_ERROR, GlobalOptions, render_error};
use crate::kube::apply::{self, ApplyOptions, Cluster};
use crate::kube::generate::{GenerateOptions, WorkloadType, generate};
use crate::kube::kubeconfig::KubeconfigOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DryRun {
    /// The server checks and answers as for a real apply; nothing is persisted.
    Server,
    /// Apply for real.
    None,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// YAML or JSON files, directories, http URLs, or - for stdin (repeatable).
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|URL|-")]
    files: Vec<String>,
    /// Kubeconfig file to use instead of $KUBECONFIG's files or ~/.kube/config.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of its current-context.
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// Namespace of the objects that name none (default: the context's namespace).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// `server`: the server validates everything and persists nothing.
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, default_missing_value = "server")]
    dry_run: Option<DryRun>,
    /// Take over fields that another field manager owns instead of failing with a conflict.
    #[arg(long)]
    force_conflicts: bool,
    /// Delete the objects of the apply set (see --prune-set) that the input no longer holds.
    #[arg(long)]
    prune: bool,
    /// The apply set's name, a label value (default: the first input's file name, or the
    /// first NAME).
    #[arg(long, value_name = "NAME")]
    prune_set: Option<String>,
    /// Wait until Deployments, StatefulSets, DaemonSets and ReplicaSets are rolled out, Pods are
    /// ready and Jobs are complete.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, e.g. 90s or 5m (default 5m).
    #[arg(long, value_name = "DURATION", requires = "wait")]
    timeout: Option<String>,
    /// For NAME: write plain pods as this kind (pod, deployment, statefulset, daemonset, job).
    #[arg(long = "type", value_name = "KIND")]
    workload: Option<String>,
    /// For NAME: the replicas of the generated Deployment or StatefulSet.
    #[arg(long)]
    replicas: Option<u32>,
    /// For NAME: also a Service for the pods' published ports.
    #[arg(long)]
    service: bool,
    /// Pods, containers, volumes or played objects here, generated as `kube generate` does.
    names: Vec<String>,
}

pub fn apply_cmd(global: &GlobalOptions, args: ApplyArgs) -> CliResult {
    if args.files.is_empty() && args.names.is_empty() {
        return Err(miette::miette!(
            help = "oxpod kube apply -f app.yaml, or oxpod kube apply POD",
            "nothing to apply: give -f FILE or the NAME of a pod"
        ));
    }
    if args.names.is_empty() && (args.workload.is_some() || args.replicas.is_some() || args.service)
    {
        return Err(miette::miette!(
            "--type, --replicas and --service shape objects generated for NAME arguments; YAML is applied as written"
        ));
    }
    let dry_run = args.dry_run == Some(DryRun::Server);
    let timeout = match &args.timeout {
        None => Duration::from_secs(300),
        Some(t) => {
            crate::spec::parse_duration(t).map_err(|e| miette::miette!("invalid --timeout: {e}"))?
        }
    };
    let apply_set = match &args.prune_set {
        Some(name) if crate::kube::validate::is_label_value(name) && !name.is_empty() => {
            name.clone()
        }
        Some(name) => {
            return Err(miette::miette!(
                help = "up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                "--prune-set {name:?} is not a label value"
            ));
        }
        None => match default_apply_set(&args) {
            Some(name) => name,
            None if args.prune => {
                return Err(miette::miette!(
                    "--prune with input from stdin needs --prune-set NAME: the apply set must have the same name on every apply"
                ));
            }
            None => "stdin".into(),
        },
    };

    let mut docs = if args.files.is_empty() {
        Vec::new()
    } else {
        super::kube::read_inputs(&args.files, &[])?
    };
    if !args.names.is_empty() {
        let options = GenerateOptions {
            workload: args.workload.as_deref().map(workload_type).transpose()?,
            replicas: args.replicas,
            service: args.service,
            namespace: args.namespace.clone(),
            include_secrets: false,
        };
        let mut engine = global.engine()?;
        let generated = generate(&mut engine, &args.names, &options)?;
        for note in &generated.notes {
            eprintln!("Warning: {note}");
        }
        let origin = format!("<generated from {}>", args.names.join(" "));
        docs.extend(apply::generated_documents(&origin, &generated.objects)?);
    }
    let docs = apply::check(&docs)?;
    if docs.is_empty() {
        return Err(miette::miette!(
            "no objects to apply: the input holds no documents"
        ));
    }

    let cluster = Cluster::connect(&KubeconfigOptions {
        path: args.kubeconfig.clone(),
        context: args.context.clone(),
    })?;
    let options = ApplyOptions {
        namespace: args.namespace.clone(),
        force_conflicts: args.force_conflicts,
        dry_run,
        prune: args.prune,
        apply_set,
    };
    let report = cluster.apply(&docs, &options)?;
    let suffix = if dry_run { " (server dry run)" } else { "" };
    for applied in &report.applied {
        println!("{} {}{suffix}", applied.object, applied.outcome);
    }
    if let Some(failure) = &report.failure {
        render_error(failure);
        if !report.not_applied.is_empty() {
            let rest: Vec<String> = report.not_applied.iter().map(ToString::to_string).collect();
            eprintln!("Not applied: {}", rest.join(", "));
        }
        return Ok(EXIT_ERROR);
    }
    for pruned in &report.pruned {
        println!("{pruned} pruned{suffix}");
    }
    for error in &report.prune_errors {
        render_error(error);
    }
    if !report.succeeded() {
        return Ok(EXIT_ERROR);
    }
    if args.wait {
        if dry_run {
            eprintln!("Nothing to wait for: a dry run persists nothing");
        } else {
            for line in cluster.wait(&report, timeout)? {
                println!("{line}");
            }
        }
    }
    Ok(0)
}

/// The first input's file name without extension (a directory's name, a URL's last segment),
/// or the first NAME; `None` for stdin.
fn default_apply_set(args: &ApplyArgs) -> Option<String> {
    let from = match args.files.first() {
        Some(f) if f == "-" => return None,
        Some(f) => {
            let last = f.trim_end_matches('/').rsplit('/').next().unwrap_or(f);
            Path::new(last)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())?
        }
        None => args.names.first()?.clone(),
    };
    apply::apply_set_name(&from)
}

fn workload_type(name: &str) -> Result<WorkloadType, miette::Report> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "pod" => WorkloadType::Pod,
        "deployment" => WorkloadType::Deployment,
        "statefulset" => WorkloadType::StatefulSet,
        "daemonset" => WorkloadType::DaemonSet,
        "job" => WorkloadType::Job,
        _ => {
            return Err(miette::miette!(
                "--type {name:?}: expected pod, deployment, statefulset, daemonset or job"
            ));
        }
    })
}
