//! The `pod` group: create, start, stop, restart, kill, pause, unpause, rm, ps, inspect,
//! top, logs, exists and prune, with Podman's flags and output.

use super::format::{self, Row};
use super::{CliResult, GlobalOptions};
use crate::engine::{EngineError, PodInfo};
use crate::spec::{self, PodSpec};

#[derive(Debug, clap::Subcommand)]
pub enum PodCommand {
    /// Create a pod.
    Create(CreateArgs),
    /// Start pods (their namespaces, then their containers).
    Start(NamesArgs),
    /// Stop pods (their containers, last added first).
    Stop(StopArgs),
    /// Restart pods.
    Restart(StopArgs),
    /// Send a signal to the containers of pods.
    Kill(KillArgs),
    /// Pause every container of pods.
    Pause(NamesArgs),
    /// Resume the paused containers of pods.
    Unpause(NamesArgs),
    /// Remove pods and their containers.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// List pods.
    #[command(visible_aliases = ["ls", "list"])]
    Ps(PsArgs),
    /// Show details of a pod.
    Inspect(InspectArgs),
    /// Show the processes of a pod's containers.
    Top(TopArgs),
    /// Show the output of a pod's containers.
    Logs(LogsArgs),
    /// Exit 0 when the pod exists, 1 otherwise.
    Exists(ExistsArgs),
    /// Remove every pod with no running container.
    Prune(PruneArgs),
}

pub fn pod(global: &GlobalOptions, cmd: PodCommand) -> CliResult {
    match cmd {
        PodCommand::Create(args) => create(global, args),
        PodCommand::Start(args) => {
            let mut engine = global.engine()?;
            super::each(&args.pods, |p| engine.start_pod(p))
        }
        PodCommand::Stop(args) => {
            let mut engine = global.engine()?;
            let pods = all_or(&mut engine, args.pods, args.all)?;
            super::each(&pods, |p| engine.stop_pod(p, args.time))
        }
        PodCommand::Restart(args) => {
            let mut engine = global.engine()?;
            let pods = all_or(&mut engine, args.pods, args.all)?;
            super::each(&pods, |p| engine.restart_pod(p, args.time))
        }
        PodCommand::Kill(args) => {
            let signal = spec::parse_signal(&args.signal).map_err(bad)?;
            let mut engine = global.engine()?;
            super::each(&args.pods, |p| engine.kill_pod(p, signal))
        }
        PodCommand::Pause(args) => {
            let mut engine = global.engine()?;
            super::each(&args.pods, |p| engine.pause_pod(p))
        }
        PodCommand::Unpause(args) => {
            let mut engine = global.engine()?;
            super::each(&args.pods, |p| engine.unpause_pod(p))
        }
        PodCommand::Rm(args) => rm(global, args),
        PodCommand::Ps(args) => ps(global, args),
        PodCommand::Inspect(args) => inspect(global, args),
        PodCommand::Top(args) => top(global, args),
        PodCommand::Logs(args) => logs(global, args),
        PodCommand::Exists(args) => match global.engine()?.find_pod(&args.pod) {
            Ok(_) => Ok(0),
            Err(EngineError::PodNotFound(_)) => Ok(1),
            Err(e) => Err(e.into()),
        },
        PodCommand::Prune(_) => {
            for id in global.engine()?.prune_pods()? {
                println!("{id}");
            }
            Ok(0)
        }
    }
}

fn bad(e: impl std::fmt::Display) -> miette::Report {
    miette::miette!("{e}")
}

fn all_or(
    engine: &mut crate::engine::Engine,
    pods: Vec<String>,
    all: bool,
) -> Result<Vec<String>, miette::Report> {
    if all {
        return Ok(engine.list_pods()?.into_iter().map(|p| p.id).collect());
    }
    if pods.is_empty() {
        miette::bail!("give at least one pod, or --all");
    }
    Ok(pods)
}

#[derive(Debug, Default, clap::Args)]
pub struct PodNetworkArgs {
    /// Publish a port: [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp], ranges allowed.
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Network: a network name (the default bridge when unset), none or host.
    #[arg(long)]
    pub network: Option<String>,
    /// Add a line to /etc/hosts: NAME:IP.
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Name servers for /etc/resolv.conf.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Search domains for /etc/resolv.conf.
    #[arg(long)]
    pub dns_search: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Name of the pod (a random one when left out).
    #[arg(short, long)]
    name: Option<String>,
    /// Hostname of the pod's UTS namespace (the pod's name by default).
    #[arg(long)]
    hostname: Option<String>,
    /// Namespaces the containers share: net, ipc, uts, pid (comma-separated; +pid adds).
    #[arg(long)]
    share: Option<String>,
    /// Set a label KEY=VALUE.
    #[arg(short, long)]
    label: Vec<String>,
    #[command(flatten)]
    network: PodNetworkArgs,
    /// Print the pod ID to this file.
    #[arg(long)]
    pod_id_file: Option<std::path::PathBuf>,
    /// Name of the pod (as the positional form of --name).
    #[arg(conflicts_with = "name")]
    pod_name: Option<String>,
}

/// A pod spec from `pod create`'s flags (also used by `run --pod new:NAME`).
pub(crate) fn pod_spec(
    name: String,
    hostname: Option<String>,
    share: Option<&str>,
    labels: &[String],
    net: &PodNetworkArgs,
) -> Result<PodSpec, miette::Report> {
    let mut spec = PodSpec {
        name,
        hostname,
        ..PodSpec::default()
    };
    if let Some(share) = share {
        spec.share = share.parse().map_err(bad)?;
    }
    for label in labels {
        let (k, v) = label.split_once('=').unwrap_or((label, ""));
        if k.is_empty() {
            miette::bail!("invalid label {label:?}: expected KEY=VALUE");
        }
        spec.labels.insert(k.to_string(), v.to_string());
    }
    for p in &net.publish {
        spec.publish
            .extend(crate::engine::parse_publish(p).map_err(bad)?);
    }
    if let Some(n) = &net.network {
        spec.network = n.parse().map_err(bad)?;
    }
    for h in &net.add_host {
        spec.add_hosts.push(spec::parse_add_host(h).map_err(bad)?);
    }
    for d in &net.dns {
        spec.dns.push(spec::parse_dns(d).map_err(bad)?);
    }
    spec.dns_search = net.dns_search.clone();
    Ok(spec)
}

fn create(global: &GlobalOptions, args: CreateArgs) -> CliResult {
    let name = args.name.or(args.pod_name).unwrap_or_default();
    let spec = pod_spec(
        name,
        args.hostname,
        args.share.as_deref(),
        &args.label,
        &args.network,
    )?;
    let id = global.engine()?.create_pod(spec)?;
    if let Some(path) = &args.pod_id_file {
        std::fs::write(path, format!("{id}\n"))
            .map_err(|e| miette::miette!("writing {}: {e}", path.display()))?;
    }
    println!("{id}");
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct NamesArgs {
    /// Pods (names or IDs).
    #[arg(required = true)]
    pods: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait for each container before killing it.
    #[arg(short = 't', long = "time", alias = "timeout")]
    time: Option<u32>,
    /// Every pod.
    #[arg(short, long)]
    all: bool,
    /// Pods (names or IDs).
    pods: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Signal to send (name or number).
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Pods (names or IDs).
    #[arg(required = true)]
    pods: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Remove running pods too (their containers are stopped first).
    #[arg(short, long)]
    force: bool,
    /// Every pod.
    #[arg(short, long)]
    all: bool,
    /// Succeed for pods that do not exist.
    #[arg(short, long)]
    ignore: bool,
    /// Seconds to wait for containers to stop (with --force).
    #[arg(short = 't', long = "time")]
    time: Option<u32>,
    /// Pods (names or IDs).
    pods: Vec<String>,
}

fn rm(global: &GlobalOptions, args: RmArgs) -> CliResult {
    let mut engine = global.engine()?;
    let pods = all_or(&mut engine, args.pods, args.all)?;
    let mut code = 0;
    for pod in &pods {
        if args.force
            && let Some(t) = args.time
            && engine.find_pod(pod).is_ok()
        {
            let _ = engine.stop_pod(pod, Some(t));
        }
        match engine.remove_pod(pod, args.force) {
            Ok(id) => println!("{id}"),
            Err(EngineError::PodNotFound(_)) if args.ignore => {}
            Err(e) => {
                super::render_error(&miette::Report::new(e));
                code = super::EXIT_ERROR;
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Print only the pod IDs.
    #[arg(short, long)]
    quiet: bool,
    /// `json`, or a Go template such as `{{.Name}} {{.Status}}`.
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate IDs.
    #[arg(long)]
    no_trunc: bool,
    /// Leave out the header line.
    #[arg(short, long)]
    noheading: bool,
    /// Filter: name=, id=, label=KEY[=VALUE], status=.
    #[arg(short, long)]
    filter: Vec<String>,
    /// Show the containers' names.
    #[arg(long)]
    ctr_names: bool,
    /// Show the containers' IDs.
    #[arg(long)]
    ctr_ids: bool,
    /// Show the containers' statuses.
    #[arg(long)]
    ctr_status: bool,
}

fn pod_filter(filters: &[String]) -> Result<impl Fn(&PodInfo) -> bool, miette::Report> {
    let mut conds: Vec<(String, String)> = Vec::new();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            miette::bail!("invalid filter {f:?}: expected KEY=VALUE");
        };
        if !["name", "id", "label", "status", "network"].contains(&k) {
            miette::bail!("invalid filter {k:?}: supported are name, id, label, status, network");
        }
        conds.push((k.to_string(), v.to_string()));
    }
    Ok(move |p: &PodInfo| {
        conds.iter().all(|(k, v)| match k.as_str() {
            "name" => p.name.contains(v.as_str()),
            "id" => p.id.starts_with(v.as_str()),
            "status" => p.status.as_str().eq_ignore_ascii_case(v),
            "network" => p.network == *v,
            _ => match v.split_once('=') {
                Some((lk, lv)) => p.labels.get(lk).is_some_and(|x| x == lv),
                None => p.labels.contains_key(v.as_str()),
            },
        })
    })
}

fn pod_row(p: &PodInfo, no_trunc: bool) -> Row {
    let mut row = Row::new();
    let id = if no_trunc {
        p.id.clone()
    } else {
        p.id[..12].to_string()
    };
    row.insert("ID", id);
    row.insert("Name", p.name.clone());
    row.insert("Status", p.status.as_str().to_string());
    row.insert("Created", format::human_age(p.created));
    row.insert("InfraID", String::new());
    row.insert("NumberOfContainers", p.containers.len().to_string());
    row.insert("Networks", p.network.clone());
    row.insert(
        "Labels",
        format!(
            "map[{}]",
            p.labels
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    );
    let names: Vec<String> = p.containers.iter().map(|c| c.name.clone()).collect();
    row.insert("ContainerNames", names.join(","));
    let ids: Vec<String> = p
        .containers
        .iter()
        .map(|c| c.id[..12].to_string())
        .collect();
    row.insert("ContainerIds", ids.join(","));
    let statuses: Vec<&str> = p.containers.iter().map(|c| c.status.as_str()).collect();
    row.insert("ContainerStatuses", statuses.join(","));
    row
}

fn ps(global: &GlobalOptions, args: PsArgs) -> CliResult {
    let keep = pod_filter(&args.filter)?;
    let pods: Vec<PodInfo> = global
        .engine()?
        .list_pods()?
        .into_iter()
        .filter(|p| keep(p))
        .collect();
    if args.quiet {
        for p in &pods {
            println!("{}", if args.no_trunc { &p.id } else { &p.id[..12] });
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => println!(
            "{}",
            serde_json::to_string_pretty(&pods.iter().map(pod_json).collect::<Vec<_>>())
                .expect("serialisable")
        ),
        Some(template) => {
            let rows: Vec<Row> = pods.iter().map(|p| pod_row(p, args.no_trunc)).collect();
            print!("{}", format::template(template, &rows).map_err(bad)?);
        }
        None => {
            let rows: Vec<Row> = pods.iter().map(|p| pod_row(p, args.no_trunc)).collect();
            let mut headers = vec![
                ("ID", "POD ID"),
                ("Name", "NAME"),
                ("Status", "STATUS"),
                ("Created", "CREATED"),
                ("InfraID", "INFRA ID"),
            ];
            if args.ctr_names {
                headers.push(("ContainerNames", "NAMES"));
            }
            if args.ctr_ids {
                headers.push(("ContainerIds", "IDS"));
            }
            if args.ctr_status {
                headers.push(("ContainerStatuses", "STATUS"));
            }
            if !(args.ctr_names || args.ctr_ids || args.ctr_status) {
                headers.push(("NumberOfContainers", "# OF CONTAINERS"));
            }
            print!("{}", format::table(&headers, &rows, args.noheading));
        }
    }
    Ok(0)
}

/// A pod as Podman's `pod inspect` shows it (the fields oxpod has).
fn pod_json(p: &PodInfo) -> serde_json::Value {
    serde_json::json!({
        "Id": p.id,
        "Name": p.name,
        "Created": p.created.map(|t| t.to_rfc3339()),
        "State": p.status.as_str(),
        "Hostname": p.hostname,
        "Labels": p.labels,
        "SharedNamespaces": p.shared_namespaces.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "NumContainers": p.containers.len(),
        "Containers": p.containers.iter().map(|c| serde_json::json!({
            "Id": c.id, "Name": c.name, "State": c.status.as_str(),
        })).collect::<Vec<_>>(),
        "InfraConfig": {
            "Networks": [p.network],
            "PortBindings": p.ports,
            "IPAddress": p.ip,
            "ProxyPid": p.proxy_pid,
            "HostInterface": p.host_veth,
        },
    })
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// `json` (the default), or a Go template such as `{{.State}}`.
    #[arg(short, long)]
    format: Option<String>,
    /// Pods to inspect.
    #[arg(required = true)]
    pods: Vec<String>,
}

fn inspect(global: &GlobalOptions, args: InspectArgs) -> CliResult {
    let mut engine = global.engine()?;
    let mut code = 0;
    let mut values = Vec::new();
    for name in &args.pods {
        match engine.inspect_pod(name) {
            Ok(p) => values.push(pod_json(&p)),
            Err(e) => {
                super::render_error(&miette::Report::new(e));
                code = super::EXIT_ERROR;
            }
        }
    }
    match args.format.as_deref() {
        None | Some("json") => {
            // One pod prints as an object, as Podman does; several as an array.
            let out = if values.len() == 1 {
                values.pop().expect("one value")
            } else {
                serde_json::Value::Array(values)
            };
            if !(out.is_array() && out.as_array().is_some_and(|a| a.is_empty())) {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).expect("serialisable")
                );
            }
        }
        Some(template) => {
            for value in &values {
                println!("{}", format::json_template(template, value).map_err(bad)?);
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// The pod.
    pod: String,
}

fn top(global: &GlobalOptions, args: TopArgs) -> CliResult {
    let mut engine = global.engine()?;
    let columns = crate::engine::DEFAULT_TOP_DESCRIPTORS.to_vec();
    let mut rows = Vec::new();
    let mut headers: Vec<&'static str> = Vec::new();
    for (id, name) in engine.pod_container_ids(&args.pod)? {
        let Ok(report) = engine.top_container(&id, &columns) else {
            continue;
        };
        headers = report.headers.clone();
        for cells in report.rows {
            let mut row = vec![name.clone()];
            row.extend(cells);
            rows.push(row);
        }
    }
    if rows.is_empty() {
        miette::bail!("pod {} has no running containers", args.pod);
    }
    const KEYS: [&str; 12] = [
        "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11",
    ];
    let mut all_headers = vec!["CONTAINER"];
    all_headers.extend(headers);
    let header_pairs: Vec<(&'static str, &str)> = KEYS
        .iter()
        .copied()
        .zip(all_headers.iter().copied())
        .collect();
    let table_rows: Vec<Row> = rows
        .into_iter()
        .map(|cells| KEYS.iter().copied().zip(cells).collect())
        .collect();
    print!("{}", format::table(&header_pairs, &table_rows, false));
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Only this container of the pod.
    #[arg(short, long)]
    container: Option<String>,
    /// Number of lines from the end of each container's output ("all" for every line).
    #[arg(short = 'n', long)]
    tail: Option<String>,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    /// The pod.
    pod: String,
}

fn logs(global: &GlobalOptions, args: LogsArgs) -> CliResult {
    let opts = crate::engine::LogOptions {
        since: None,
        until: None,
        tail: match args.tail.as_deref() {
            None | Some("all") | Some("-1") => None,
            Some(n) => Some(n.parse().map_err(|_| {
                miette::miette!("invalid --tail {n:?}: expected a number of lines")
            })?),
        },
        timestamps: args.timestamps,
    };
    let mut engine = global.engine()?;
    for (id, name) in engine.pod_container_ids(&args.pod)? {
        if args
            .container
            .as_deref()
            .is_some_and(|c| c != name && !id.starts_with(c))
        {
            continue;
        }
        engine.container_logs(&id, &opts, false)?;
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct ExistsArgs {
    /// The pod.
    pod: String,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation (there is no prompt; accepted for compatibility).
    #[arg(short, long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
pub struct PodInfraArgs {
    /// Be the PID 1 itself (otherwise start it and print its PID).
    #[arg(long)]
    init: bool,
}

/// Started with the PID namespace unshared for its children: the first child it starts is
/// PID 1 of the pod's PID namespace. That child reaps the orphans the pod's containers leave
/// and otherwise sleeps; `pod rm` kills it.
pub fn pod_infra(global: &GlobalOptions, args: PodInfraArgs) -> CliResult {
    use std::process::{Command, Stdio};
    if !args.init {
        let exe = std::env::current_exe().map_err(|e| miette::miette!("pod-infra: {e}"))?;
        let mut cmd = Command::new(exe);
        for (flag, value) in [("--root", &global.root), ("--runroot", &global.runroot)] {
            if let Some(v) = value {
                cmd.arg(flag).arg(v);
            }
        }
        let child = cmd
            .args(["pod-infra", "--init"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| miette::miette!("pod-infra: {e}"))?;
        println!("{}", child.id());
        return Ok(0);
    }
    crate::engine::run_pod_infra()
}
