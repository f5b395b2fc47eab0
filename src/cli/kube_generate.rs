//! `kube generate`: Kubernetes YAML for what runs here.

use std::io::Write;
use std::path::PathBuf;

use super::{CliResult, GlobalOptions};
use crate::kube::generate::{
    GenerateOptions, Generated, ObjectRef, WorkloadType, generate, generate_played,
};
use crate::kube::yaml;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Kind to write plain pods and containers as: pod, deployment, statefulset, daemonset, job.
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    workload: Option<WorkloadType>,
    /// Replicas of a Deployment or StatefulSet (with --type).
    #[arg(short, long)]
    replicas: Option<u32>,
    /// Add a Service for the pods' ports (NodePort when a host port in its range is published).
    #[arg(short, long)]
    service: bool,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    filename: Option<PathBuf>,
    /// Overwrite the file given with --filename.
    #[arg(long)]
    force: bool,
    /// Write every object in this namespace.
    #[arg(long)]
    namespace: Option<String>,
    /// Write referenced Secrets with their data (left out otherwise: only the references).
    #[arg(long)]
    include_secrets: bool,
    /// Write back what a play of these files made (the objects as they are now).
    #[arg(long, value_name = "FILE")]
    from_play: Vec<String>,
    /// Pods, containers, volumes, or objects a play made (`deployment/web` or just `web`).
    #[arg(required_unless_present = "from_play")]
    names: Vec<String>,
}

pub fn generate_cmd(global: &GlobalOptions, args: GenerateArgs) -> CliResult {
    if let Some(path) = &args.filename
        && path.exists()
        && !args.force
    {
        return Err(miette::miette!(
            "{} exists; add --force to overwrite it",
            path.display()
        ));
    }
    let options = GenerateOptions {
        workload: args.workload,
        replicas: args.replicas,
        service: args.service,
        namespace: args.namespace.clone(),
        include_secrets: args.include_secrets,
    };
    let mut engine = global.engine()?;
    let mut generated = Generated::default();
    if !args.from_play.is_empty() {
        let docs = super::kube::read_inputs(&args.from_play, &[])?;
        let mut refs = Vec::new();
        let mut errors = Vec::new();
        for doc in &docs {
            match yaml::typed(doc) {
                Ok(object) => {
                    let Some(meta) = object.metadata() else {
                        continue;
                    };
                    let r = ObjectRef {
                        kind: object.kind().to_string(),
                        namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
                        name: meta.name.clone().unwrap_or_default(),
                    };
                    if crate::kube::generate::PLAYED_KINDS.contains(&r.kind.as_str()) {
                        if !refs.contains(&r) {
                            refs.push(r);
                        }
                    } else {
                        generated.notes.push(format!(
                            "{} {}: play makes nothing of this kind; not written",
                            r.kind, r.name
                        ));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(yaml::KubeErrors(errors).into());
        }
        let g = generate_played(&mut engine, &refs, &options)?;
        generated.objects.extend(g.objects);
        generated.notes.extend(g.notes);
    }
    if !args.names.is_empty() {
        let g = generate(&mut engine, &args.names, &options)?;
        generated.objects.extend(g.objects);
        generated.notes.extend(g.notes);
    }
    for note in &generated.notes {
        eprintln!("Note: {note}");
    }
    let text = yaml::to_yaml_documents(&generated.objects);
    match &args.filename {
        Some(path) => std::fs::write(path, text.as_bytes())
            .map_err(|e| miette::miette!("writing {}: {e}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out.write_all(text.as_bytes());
        }
    }
    Ok(0)
}
