//! The `kube` group: `play` and `down`; and the hidden `service-proxy` a Service runs.

use std::path::PathBuf;
use std::sync::Arc;

use super::progress::Progress;
use super::{CliResult, GlobalOptions};
use crate::kube::down::{DownOptions, down};
use crate::kube::play::{PlayOptions, play};
use crate::kube::yaml::{self, Source};

#[derive(Debug, clap::Subcommand)]
pub enum KubeCommand {
    /// Make pods, containers, volumes, ConfigMaps, Secrets and Services from Kubernetes YAML.
    Play(PlayArgs),
    /// Remove what a play of the same YAML made.
    Down(DownArgs),
    /// Write Kubernetes YAML for pods, containers and volumes, or for what a play made.
    Generate(super::kube_generate::GenerateArgs),
    /// Check Kubernetes YAML as play would, without making anything.
    Validate(super::kube_validate::ValidateArgs),
    /// Write the JSON Schemas oxpod validates manifests against.
    #[command(hide = true)]
    Schemas(super::kube_validate::SchemasArgs),
    /// Apply Kubernetes YAML, or what runs here, to a Kubernetes cluster (server-side apply).
    Apply(super::kube_apply::ApplyArgs),
}

pub fn kube(global: &GlobalOptions, cmd: KubeCommand) -> CliResult {
    match cmd {
        KubeCommand::Play(args) => play_cmd(global, args),
        KubeCommand::Down(args) => down_cmd(global, args),
        KubeCommand::Generate(args) => super::kube_generate::generate_cmd(global, args),
        KubeCommand::Validate(args) => super::kube_validate::validate_cmd(args),
        KubeCommand::Schemas(args) => super::kube_validate::schemas_cmd(args),
        KubeCommand::Apply(args) => super::kube_apply::apply_cmd(global, args),
    }
}

#[derive(Debug, clap::Args)]
pub struct PlayArgs {
    /// Replace objects that exist instead of leaving them as they are.
    #[arg(long)]
    replace: bool,
    /// Remove what the YAML made instead (as `kube down`).
    #[arg(long)]
    down: bool,
    /// Start the pods (`--start=false` only creates them).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    start: bool,
    /// Network the pods join (the default bridge when unset).
    #[arg(long)]
    network: Option<String>,
    /// Override a host port: [IP:]HOST_PORT:CONTAINER_PORT[/PROTOCOL].
    #[arg(long)]
    publish: Vec<String>,
    /// Extra ConfigMaps, from YAML files.
    #[arg(long)]
    configmap: Vec<PathBuf>,
    /// Print only the IDs of what was made.
    #[arg(short, long)]
    quiet: bool,
    /// Say what would be made and changed; make nothing.
    #[arg(long)]
    dry_run: bool,
    /// Unsupported kinds and fields are errors, not warnings.
    #[arg(long)]
    strict: bool,
    /// Wait until every pod is ready (or a container fails).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, e.g. 30s or 2m (default 5m).
    #[arg(long, value_name = "DURATION")]
    wait_timeout: Option<String>,
    /// Verify registries' TLS certificates (overrides registries.conf's `insecure`).
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    tls_verify: Option<bool>,
    /// Credentials file for registries (instead of auth.json's usual places).
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// YAML or JSON files, directories, http URLs, or - for stdin.
    #[arg(required = true)]
    inputs: Vec<String>,
}

/// Every input read and parsed; diagnostics point at file, line and column.
pub(super) fn read_inputs(
    inputs: &[String],
    extra: &[PathBuf],
) -> Result<Vec<yaml::Document>, miette::Report> {
    let mut sources = Vec::new();
    for arg in inputs
        .iter()
        .cloned()
        .chain(extra.iter().map(|p| p.display().to_string()))
    {
        sources.extend(Source::read(&arg)?.into_iter().map(Arc::new));
    }
    Ok(yaml::parse(&sources)?)
}

fn play_cmd(global: &GlobalOptions, args: PlayArgs) -> CliResult {
    if args.down {
        return down_cmd(
            global,
            DownArgs {
                volumes: false,
                inputs: args.inputs,
            },
        );
    }
    let docs = read_inputs(&args.inputs, &args.configmap)?;
    let mut publish = Vec::new();
    for p in &args.publish {
        publish.extend(crate::engine::parse_publish(p).map_err(|e| miette::miette!("{e}"))?);
    }
    let options = PlayOptions {
        replace: args.replace,
        start: args.start,
        network: args.network.clone(),
        publish,
        dry_run: args.dry_run,
        strict: args.strict,
        registry: crate::engine::RegistryOptions {
            tls_verify: args.tls_verify,
            authfile: args.authfile.clone(),
            ..Default::default()
        },
        wait: match (args.wait, &args.wait_timeout) {
            (false, None) => None,
            (_, None) => Some(std::time::Duration::from_secs(300)),
            (_, Some(t)) => Some(
                crate::spec::parse_duration(t)
                    .map_err(|e| miette::miette!("invalid --wait-timeout: {e}"))?,
            ),
        },
    };
    let (checked, warnings) = crate::kube::play::plan(&docs, &options)?;
    for w in &warnings {
        eprintln!("Warning: {}", w.one_line());
    }
    let mut engine = global.engine()?;
    let progress = Progress::new(args.quiet);
    let open = || {
        crate::engine::Engine::open(crate::engine::EngineOptions {
            root: global.root.clone(),
            runroot: global.runroot.clone(),
        })
    };
    let report = play(&mut engine, &open, checked, &options, &progress)?;
    if args.dry_run {
        for line in &report.plan {
            println!("{line}");
        }
        return Ok(0);
    }
    if args.quiet {
        for (id, _, _) in &report.pods {
            println!("{id}");
        }
        return Ok(0);
    }
    for name in &report.unchanged {
        eprintln!("{name} exists; left as it is (use --replace to replace it)");
    }
    for name in &report.removed {
        println!("Removed pod {name} (scaled down)");
    }
    for v in &report.volumes {
        println!("Volume:\n{v}\n");
    }
    for (id, _, containers) in &report.pods {
        println!("Pod:\n{id}\nContainers:");
        for c in containers {
            println!("{c}");
        }
        println!();
    }
    for (name, ip) in &report.services {
        println!(
            "Service:\n{name} {}\n",
            ip.as_deref().unwrap_or("(no cluster IP)")
        );
    }
    for cm in &report.config_maps {
        println!("ConfigMap:\n{cm}\n");
    }
    for s in &report.secrets {
        println!("Secret:\n{s}\n");
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// Remove the volumes of PersistentVolumeClaims too.
    #[arg(long)]
    volumes: bool,
    /// The YAML that was played: files, directories, http URLs, or - for stdin.
    #[arg(required = true)]
    inputs: Vec<String>,
}

fn down_cmd(global: &GlobalOptions, args: DownArgs) -> CliResult {
    let docs = read_inputs(&args.inputs, &[])?;
    let mut engine = global.engine()?;
    let open = || {
        crate::engine::Engine::open(crate::engine::EngineOptions {
            root: global.root.clone(),
            runroot: global.runroot.clone(),
        })
    };
    let report = down(
        &mut engine,
        &open,
        &docs,
        &DownOptions {
            volumes: args.volumes,
        },
    )?;
    if !report.pods.is_empty() {
        println!("Pods stopped and removed:");
        for id in &report.pods {
            println!("{id}");
        }
    }
    for (label, list) in [
        ("Services removed:", &report.services),
        ("ConfigMaps removed:", &report.config_maps),
        ("Secrets removed:", &report.secrets),
        ("Volumes removed:", &report.volumes),
    ] {
        if !list.is_empty() {
            println!("{label}");
            for item in list {
                println!("{item}");
            }
        }
    }
    if report.errors.is_empty() {
        Ok(0)
    } else {
        for e in &report.errors {
            eprintln!("Error: {e}");
        }
        Ok(super::EXIT_ERROR)
    }
}

#[derive(Debug, clap::Args)]
pub struct ServiceProxyArgs {
    /// Inherited pipe: "ok" once every listener is bound, or "error ...".
    #[arg(long)]
    ready_fd: i32,
    /// The endpoints file the engine keeps current.
    #[arg(long)]
    endpoints: PathBuf,
    /// The listeners, as JSON.
    #[arg(long)]
    listeners: String,
    /// The Service it serves (its id, shown in `ps`).
    service: String,
}

pub fn service_proxy(args: ServiceProxyArgs) -> CliResult {
    crate::engine::run_service_proxy(
        &args.listeners,
        &args.endpoints,
        args.ready_fd,
        &args.service,
    )?;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct JobControllerArgs {
    /// The Job, as JSON.
    job: String,
}

/// Run a Job's controller until the Job ends (started by `kube play`).
pub fn job_controller(global: &GlobalOptions, args: JobControllerArgs) -> CliResult {
    crate::engine::detach_supervisor(&[]);
    let spec: crate::kube::jobs::JobSpec = serde_json::from_str(&args.job)
        .map_err(|e| miette::miette!("job-controller: malformed job: {e}"))?;
    let mut engine = global.engine()?;
    let status = crate::kube::jobs::control(&mut engine, &spec)?;
    Ok(u8::from(
        status.condition.as_deref().is_some_and(|c| c != "Complete"),
    ))
}
