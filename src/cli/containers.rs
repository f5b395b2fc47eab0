//! Container commands: `create`, `run`, `start`, `stop`, `kill`, `restart`, `rm`, `ps`,
//! `logs`, `wait`, `inspect` and the `container` group; and the hidden `container-monitor`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use super::format::{self, Row};
use super::progress::Progress;
use super::{CliResult, GlobalOptions};
use crate::engine::{Attach, ContainerSummary, Engine, EngineError, MonitorOptions, PullOptions};
use crate::spec::{self, ContainerSpec, HealthCheck};

fn bad(e: impl std::fmt::Display) -> miette::Report {
    miette::miette!("{e}")
}

/// Exit codes for a container command that could not run the container, as Podman.
const EXIT_NOT_EXECUTABLE: u8 = 126;
const EXIT_NOT_FOUND: u8 = 127;

#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    /// Print help (`-h` is --hostname, as in Podman and Docker).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Name of the container.
    #[arg(long)]
    name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from this environment).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long)]
    env_file: Vec<PathBuf>,
    /// Bind mount or volume: SRC:DST[:OPTIONS], NAME:DST, or DST for an anonymous volume.
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=...,destination=...[,readonly].
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs: DST[:OPTIONS].
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<PathBuf>,
    /// User (and group) to run as: name, uid, name:group or uid:gid.
    #[arg(short, long)]
    user: Option<String>,
    /// Override the image's entrypoint.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name.
    #[arg(long, short = 'h')]
    hostname: Option<String>,
    /// Mount the root file system read-only.
    #[arg(long)]
    read_only: bool,
    /// Add capabilities.
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop capabilities.
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Give the container every capability and device.
    #[arg(long)]
    privileged: bool,
    /// Security options: seccomp=unconfined|PATH, no-new-privileges.
    #[arg(long)]
    security_opt: Vec<String>,
    /// Memory limit (e.g. 512m).
    #[arg(short, long)]
    memory: Option<String>,
    /// Memory plus swap limit (-1 for unlimited swap).
    #[arg(long)]
    memory_swap: Option<String>,
    /// Number of CPUs (e.g. 1.5).
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long, short = 'c')]
    cpu_shares: Option<u64>,
    /// Maximum number of processes (-1 for unlimited).
    #[arg(long)]
    pids_limit: Option<String>,
    /// Restart policy: no, on-failure[:N], always, unless-stopped.
    #[arg(long)]
    restart: Option<String>,
    /// Health check command (a JSON array, or a shell command; `none` disables the image's).
    #[arg(long)]
    health_cmd: Option<String>,
    /// Time between health checks (e.g. 30s).
    #[arg(long)]
    health_interval: Option<String>,
    /// Time a health check may take.
    #[arg(long)]
    health_timeout: Option<String>,
    /// Failures in a row before the container is unhealthy.
    #[arg(long)]
    health_retries: Option<u32>,
    /// Grace period before failures count.
    #[arg(long)]
    health_start_period: Option<String>,
    /// Signal that stops the container.
    #[arg(long)]
    stop_signal: Option<String>,
    /// Seconds to wait for the stop signal before SIGKILL.
    #[arg(long)]
    stop_timeout: Option<u32>,
    /// Set a label KEY=VALUE.
    #[arg(short, long)]
    label: Vec<String>,
    /// Set an annotation KEY=VALUE.
    #[arg(long)]
    annotation: Vec<String>,
    /// Run an init process as PID 1 that forwards signals and reaps zombies.
    #[arg(long)]
    init: bool,
    /// Network: a network name (the default bridge `oxpod` when unset), none, host or
    /// ns:PATH.
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// Another name for the container on its network.
    #[arg(long)]
    network_alias: Vec<String>,
    /// Publish a port: [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp], ranges allowed.
    #[arg(short = 'p', long)]
    publish: Vec<String>,
    /// Publish every port the image exposes, each on a free host port.
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Join a pod (NAME or ID), or make one first with new:NAME.
    #[arg(long)]
    pod: Option<String>,
    /// Resource limit: NAME=SOFT[:HARD].
    #[arg(long)]
    ulimit: Vec<String>,
    /// Add a host to /etc/hosts: NAME:IP.
    #[arg(long)]
    add_host: Vec<String>,
    /// DNS server for /etc/resolv.conf.
    #[arg(long)]
    dns: Vec<String>,
    /// Size of /dev/shm.
    #[arg(long)]
    shm_size: Option<String>,
    /// Keep standard input open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// OCI runtime: crun, runc, youki or a path (the built-in runtime when left out).
    #[arg(long)]
    runtime: Option<String>,
    /// Pull policy: missing (default), always, never.
    #[arg(long, default_value = "missing")]
    pull: String,
    /// Print nothing while pulling.
    #[arg(short, long)]
    quiet: bool,
    /// The image to run.
    image: String,
    /// Command and arguments (replace the image's command).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn key_values(values: &[String], what: &str) -> Result<BTreeMap<String, String>, miette::Report> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !v.is_empty() => Ok((v.to_string(), String::new())),
            _ => Err(miette::miette!("invalid {what} {v:?}: expected KEY=VALUE")),
        })
        .collect()
}

impl CreateArgs {
    fn spec(&self) -> Result<ContainerSpec, miette::Report> {
        let mut s = ContainerSpec::new(self.name.clone().unwrap_or_default(), self.image.clone());
        for file in &self.env_file {
            s.env.extend(spec::read_env_file(file).map_err(bad)?);
        }
        for e in &self.env {
            if let Some(entry) = spec::parse_env_flag(e, |k| std::env::var(k).ok()).map_err(bad)? {
                s.env.push(entry);
            }
        }
        for v in &self.volume {
            s.mounts.push(spec::parse_volume_flag(v).map_err(bad)?);
        }
        for m in &self.mount {
            s.mounts.push(spec::parse_mount_flag(m).map_err(bad)?);
        }
        for t in &self.tmpfs {
            s.mounts.push(spec::parse_tmpfs_flag(t).map_err(bad)?);
        }
        s.workdir = self.workdir.clone();
        s.user = self.user.clone();
        if let Some(ep) = &self.entrypoint {
            // A JSON array is the exec form; anything else is one program name, as Podman.
            s.entrypoint = Some(match serde_json::from_str::<Vec<String>>(ep) {
                Ok(list) => list,
                Err(_) if ep.is_empty() => Vec::new(),
                Err(_) => vec![ep.clone()],
            });
        }
        if !self.command.is_empty() {
            s.command = Some(self.command.clone());
        }
        s.hostname = self.hostname.clone();
        s.read_only = self.read_only;
        s.cap_add = self.cap_add.clone();
        s.cap_drop = self.cap_drop.clone();
        s.privileged = self.privileged;
        for opt in &self.security_opt {
            match opt.split_once('=').unwrap_or((opt.as_str(), "")) {
                ("seccomp", "unconfined") => s.seccomp = spec::Seccomp::Unconfined,
                ("seccomp", path) if !path.is_empty() => {
                    s.seccomp = spec::Seccomp::Profile(PathBuf::from(path))
                }
                ("no-new-privileges", "" | "true") => s.no_new_privileges = true,
                ("no-new-privileges", "false") => s.no_new_privileges = false,
                ("label", _) | ("apparmor", _) => {}
                _ => miette::bail!(
                    "invalid --security-opt {opt:?}: supported are seccomp=unconfined|PATH and no-new-privileges"
                ),
            }
        }
        if let Some(m) = &self.memory {
            s.resources.memory = Some(spec::parse_memory(m).map_err(bad)?);
        }
        if let Some(m) = &self.memory_swap {
            s.resources.memory_swap = Some(spec::parse_memory_swap(m).map_err(bad)?);
        }
        if let Some(c) = &self.cpus {
            s.resources.cpus = Some(spec::parse_cpus(c).map_err(bad)?);
        }
        s.resources.cpu_shares = self.cpu_shares;
        if let Some(p) = &self.pids_limit {
            s.resources.pids_limit = Some(spec::parse_pids_limit(p).map_err(bad)?);
        }
        if let Some(r) = &self.restart {
            s.restart = r.parse().map_err(bad)?;
        }
        if let Some(cmd) = &self.health_cmd {
            let mut hc = HealthCheck::new(HealthCheck::parse_test(cmd).map_err(bad)?);
            if let Some(v) = &self.health_interval {
                hc.interval = spec::parse_duration(v).map_err(bad)?;
            }
            if let Some(v) = &self.health_timeout {
                hc.timeout = spec::parse_duration(v).map_err(bad)?;
            }
            if let Some(v) = &self.health_start_period {
                hc.start_period = spec::parse_duration(v).map_err(bad)?;
            }
            if let Some(v) = self.health_retries {
                hc.retries = v;
            }
            s.healthcheck = Some(hc);
        }
        if let Some(sig) = &self.stop_signal {
            s.stop_signal = spec::parse_signal(sig).map_err(bad)?;
        }
        if let Some(t) = self.stop_timeout {
            s.stop_timeout = t;
        }
        s.labels = key_values(&self.label, "label")?;
        s.annotations = key_values(&self.annotation, "annotation")?;
        s.init = self.init;
        if let Some(n) = &self.network {
            s.network = n.parse().map_err(bad)?;
        }
        if !self.network_alias.is_empty() {
            match &mut s.network {
                spec::NetworkMode::Bridge { aliases, .. } => {
                    aliases.extend(self.network_alias.iter().cloned())
                }
                other => miette::bail!("--network-alias needs a bridge network, not {other}"),
            }
        }
        for p in &self.publish {
            s.publish
                .extend(crate::engine::parse_publish(p).map_err(bad)?);
        }
        s.publish_all = self.publish_all;
        s.pod = self.pod.clone();
        for u in &self.ulimit {
            s.ulimits.push(spec::parse_ulimit(u).map_err(bad)?);
        }
        for h in &self.add_host {
            s.add_hosts.push(spec::parse_add_host(h).map_err(bad)?);
        }
        for d in &self.dns {
            s.dns.push(spec::parse_dns(d).map_err(bad)?);
        }
        if let Some(size) = &self.shm_size {
            s.shm_size = Some(spec::parse_memory(size).map_err(bad)? as u64);
        }
        s.stdin = self.interactive;
        s.tty = self.tty;
        s.auto_remove = self.rm;
        s.runtime = self.runtime.clone();
        Ok(s)
    }
}

/// Pull the image when the policy says so, as `run`/`create` do.
fn ensure_image(engine: &mut Engine, args: &CreateArgs) -> Result<(), miette::Report> {
    let present = engine.image_exists(&args.image)?;
    let pull = match args.pull.as_str() {
        "always" => true,
        "missing" | "ifnotpresent" => !present,
        "never" => {
            if !present {
                miette::bail!("{}: image not known, and --pull=never", args.image);
            }
            false
        }
        other => miette::bail!("invalid --pull {other:?}: use always, missing or never"),
    };
    if pull {
        let progress = Progress::new(args.quiet);
        engine.pull(
            &PullOptions {
                reference: args.image.clone(),
                ..Default::default()
            },
            &progress,
        )?;
    }
    Ok(())
}

fn start_error_code(e: &EngineError) -> u8 {
    match e {
        EngineError::NotExecutable(_) => EXIT_NOT_EXECUTABLE,
        EngineError::CommandNotFound(_) => EXIT_NOT_FOUND,
        _ => super::EXIT_ERROR,
    }
}

/// Create the container, and first its pod with `--pod new:NAME` (which takes the
/// container's published ports and network, as Podman's does). A pod made here goes again
/// when the container cannot be made.
fn create_with_pod(
    engine: &mut Engine,
    args: &CreateArgs,
    mut spec: ContainerSpec,
) -> Result<String, miette::Report> {
    let Some(name) = spec.pod.as_deref().and_then(|p| p.strip_prefix("new:")) else {
        return Ok(engine.create_container(spec)?);
    };
    let net = super::pods::PodNetworkArgs {
        publish: args.publish.clone(),
        network: args.network.clone(),
        add_host: args.add_host.clone(),
        dns: args.dns.clone(),
        dns_search: Vec::new(),
    };
    let pod_spec = super::pods::pod_spec(name.to_string(), None, None, &[], &net)?;
    let pod = engine.create_pod(pod_spec)?;
    spec.pod = Some(pod.clone());
    spec.publish.clear();
    spec.network = spec::NetworkMode::default();
    spec.add_hosts.clear();
    spec.dns.clear();
    match engine.create_container(spec) {
        Ok(id) => Ok(id),
        Err(e) => {
            let _ = engine.remove_pod(&pod, true);
            Err(e.into())
        }
    }
}

pub fn create(global: &GlobalOptions, args: CreateArgs) -> CliResult {
    let spec = args.spec()?;
    let mut engine = global.engine()?;
    ensure_image(&mut engine, &args)?;
    let id = create_with_pod(&mut engine, &args, spec)?;
    println!("{id}");
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run in the background and print the container ID.
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    create: CreateArgs,
}

pub fn run(global: &GlobalOptions, args: RunArgs) -> CliResult {
    let spec = args.create.spec()?;
    let mut engine = global.engine()?;
    ensure_image(&mut engine, &args.create)?;
    let id = create_with_pod(&mut engine, &args.create, spec)?;
    let attach = if args.detach {
        Attach::Detached
    } else {
        Attach::Foreground
    };
    match engine.start_container(&id, attach) {
        Ok(Some(code)) => Ok(code.clamp(0, 255) as u8),
        Ok(None) => {
            println!("{id}");
            Ok(0)
        }
        Err(e) => {
            let code = start_error_code(&e);
            if args.create.rm {
                let _ = engine.remove_container(&id, true, true);
            }
            super::render_error(&miette::Report::new(e));
            Ok(code)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Attach to the container's output and wait for it (one container only).
    #[arg(short, long)]
    attach: bool,
    /// Keep standard input attached.
    #[arg(short, long)]
    interactive: bool,
    /// Containers to start.
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn start(global: &GlobalOptions, args: StartArgs) -> CliResult {
    let mut engine = global.engine()?;
    if args.attach {
        if args.containers.len() != 1 {
            miette::bail!("start --attach takes exactly one container");
        }
        return match engine.start_container(&args.containers[0], Attach::Foreground) {
            Ok(code) => Ok(code.unwrap_or(0).clamp(0, 255) as u8),
            Err(e) => {
                let code = start_error_code(&e);
                super::render_error(&miette::Report::new(e));
                Ok(code)
            }
        };
    }
    super::each(&args.containers, |name| {
        let code = engine.start_container(name, Attach::Detached);
        code.map(|_| name.to_string())
    })
}

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", alias = "timeout")]
    time: Option<u32>,
    /// Stop every running container.
    #[arg(short, long)]
    all: bool,
    /// Containers to stop.
    containers: Vec<String>,
}

fn names_or_all(
    engine: &mut Engine,
    names: &[String],
    all: bool,
    running_only: bool,
) -> Result<Vec<String>, miette::Report> {
    if all {
        Ok(engine
            .list_containers(!running_only)?
            .into_iter()
            .map(|c| c.name)
            .collect())
    } else if names.is_empty() {
        miette::bail!("give at least one container name or ID, or --all")
    } else {
        Ok(names.to_vec())
    }
}

pub fn stop(global: &GlobalOptions, args: StopArgs) -> CliResult {
    let mut engine = global.engine()?;
    let names = names_or_all(&mut engine, &args.containers, args.all, true)?;
    super::each(&names, |name| {
        engine
            .stop_container(name, args.time)
            .map(|_| name.to_string())
    })
}

pub fn restart(global: &GlobalOptions, args: StopArgs) -> CliResult {
    let mut engine = global.engine()?;
    let names = names_or_all(&mut engine, &args.containers, args.all, false)?;
    super::each(&names, |name| {
        let id = engine.stop_container(name, args.time)?;
        engine.start_container(&id, Attach::Detached)?;
        Ok(id)
    })
}

#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Signal to send (name or number).
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Containers to signal.
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn kill(global: &GlobalOptions, args: KillArgs) -> CliResult {
    let signal = spec::parse_signal(&args.signal).map_err(bad)?;
    let mut engine = global.engine()?;
    super::each(&args.containers, |name| {
        engine
            .kill_container(name, signal)
            .map(|_| name.to_string())
    })
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Remove running containers too (they are stopped first).
    #[arg(short, long)]
    force: bool,
    /// Remove the containers' anonymous volumes.
    #[arg(short, long)]
    volumes: bool,
    /// Remove every container.
    #[arg(short, long)]
    all: bool,
    /// Succeed when a container does not exist.
    #[arg(short, long)]
    ignore: bool,
    /// Containers to remove.
    containers: Vec<String>,
}

pub fn rm(global: &GlobalOptions, args: RmArgs) -> CliResult {
    let mut engine = global.engine()?;
    let names = names_or_all(&mut engine, &args.containers, args.all, false)?;
    let mut code = 0;
    for name in &names {
        match engine.remove_container(name, args.force, args.volumes) {
            Ok(id) => println!("{id}"),
            Err(EngineError::ContainerNotFound(_)) if args.ignore => {}
            Err(e) => {
                // As Podman: 1 for an unknown container, 2 for one that is running.
                code = code.max(match &e {
                    EngineError::ContainerNotFound(_) => 1,
                    EngineError::Conflict(_) => 2,
                    _ => super::EXIT_ERROR,
                });
                super::render_error(&miette::Report::new(e));
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show every container, not only running ones.
    #[arg(short, long)]
    all: bool,
    /// Show only IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Filter: name=, id=, status=, label=, ancestor=, exited=.
    #[arg(short, long)]
    filter: Vec<String>,
    /// Output format: json, or a Go template such as {{.Names}} {{.Status}}.
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate IDs and commands.
    #[arg(long)]
    no_trunc: bool,
    /// Do not print column headings.
    #[arg(short, long = "noheading")]
    noheading: bool,
    /// Show the latest container only.
    #[arg(short, long)]
    latest: bool,
    /// Show the size of each container's writable layer.
    #[arg(short, long)]
    size: bool,
}

fn status_text(c: &ContainerSummary) -> String {
    use crate::engine::ContainerStatus as S;
    let since = |t| format::human_age(t).trim_end_matches(" ago").to_string();
    let health = c
        .health
        .as_deref()
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    match c.status {
        S::Created => "Created".into(),
        S::Running => format!("Up {}{health}", since(c.started_at)),
        S::Paused => format!("Up {} (paused)", since(c.started_at)),
        S::Exited => format!(
            "Exited ({}) {}",
            c.exit_code.unwrap_or(0),
            format::human_age(c.finished_at)
        ),
    }
}

fn matches_filter(c: &ContainerSummary, key: &str, value: &str) -> bool {
    match key {
        "name" => c.name.contains(value),
        "id" => c.id.starts_with(value),
        "status" => c.status.as_str() == value,
        "label" => match value.split_once('=') {
            Some((k, v)) => c.labels.get(k).is_some_and(|x| x == v),
            None => c.labels.contains_key(value),
        },
        "ancestor" => c.image == value || c.image_id.starts_with(value),
        "exited" => {
            c.exit_code.map(|e| e.to_string()).as_deref() == Some(value)
                && c.status == crate::engine::ContainerStatus::Exited
        }
        _ => true,
    }
}

pub fn ps(global: &GlobalOptions, args: PsArgs) -> CliResult {
    let mut filters = Vec::new();
    for f in &args.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| miette::miette!("invalid filter {f:?}: expected KEY=VALUE"))?;
        if !["name", "id", "status", "label", "ancestor", "exited"].contains(&k) {
            miette::bail!(
                "invalid filter {k:?}: supported are name, id, status, label, ancestor, exited"
            );
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let mut engine = global.engine()?;
    let all =
        args.all || args.latest || filters.iter().any(|(k, _)| k == "status" || k == "exited");
    let mut containers: Vec<ContainerSummary> = engine
        .list_containers(all)?
        .into_iter()
        .filter(|c| filters.iter().all(|(k, v)| matches_filter(c, k, v)))
        .collect();
    if args.latest {
        containers.truncate(1);
    }
    if args.size {
        for c in &mut containers {
            c.size_rw = Some(engine.container_size(&c.id));
        }
    }
    let mut out = std::io::stdout().lock();
    if args.format.as_deref() == Some("json") {
        let json: Vec<_> = containers
            .iter()
            .map(|c| {
                serde_json::json!({
                    "Id": c.id,
                    "Names": [c.name],
                    "Image": c.image,
                    "ImageID": c.image_id,
                    "Command": c.command,
                    "Created": c.created.map(|t| t.timestamp()),
                    "CreatedAt": c.created.map(|t| t.to_rfc3339()),
                    "State": c.status.as_str(),
                    "Status": status_text(c),
                    "Exited": c.status == crate::engine::ContainerStatus::Exited,
                    "ExitCode": c.exit_code.unwrap_or(0),
                    "StartedAt": c.started_at.map(|t| t.timestamp()).unwrap_or(0),
                    "ExitedAt": c.finished_at.map(|t| t.timestamp()).unwrap_or(0),
                    "Pid": c.pid.unwrap_or(0),
                    "Labels": c.labels,
                    "Ports": c.ports,
                    "PodName": c.pod.clone().unwrap_or_default(),
                    "Size": c.size_rw.map(|s| serde_json::json!({"rwSize": s})),
                })
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json).expect("serialisable")
        )
        .ok();
        return Ok(0);
    }
    if args.quiet {
        for c in &containers {
            writeln!(
                out,
                "{}",
                if args.no_trunc {
                    c.id.clone()
                } else {
                    c.id[..12].to_string()
                }
            )
            .ok();
        }
        return Ok(0);
    }
    let rows: Vec<Row> = containers
        .iter()
        .map(|c| {
            let mut row = Row::new();
            row.insert(
                "ID",
                if args.no_trunc {
                    c.id.clone()
                } else {
                    c.id[..12].to_string()
                },
            );
            row.insert("Image", c.image.clone());
            let command = c.command.join(" ");
            let command = if args.no_trunc || command.chars().count() <= 20 {
                command
            } else {
                format!("{}...", command.chars().take(17).collect::<String>())
            };
            row.insert("Command", command);
            row.insert(
                "CreatedAt",
                c.created.map(|t| t.to_string()).unwrap_or_default(),
            );
            row.insert("Created", format::human_age(c.created));
            row.insert("Status", status_text(c));
            row.insert("State", c.status.as_str().to_string());
            row.insert(
                "Ports",
                c.ports
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            row.insert("PodName", c.pod.clone().unwrap_or_default());
            row.insert("Names", c.name.clone());
            row.insert(
                "Size",
                c.size_rw.map(format::human_size).unwrap_or_default(),
            );
            row
        })
        .collect();
    let text = match &args.format {
        Some(tmpl) => format::template(tmpl, &rows).map_err(|e| miette::miette!(e))?,
        None => {
            let mut headers = vec![
                ("ID", "CONTAINER ID"),
                ("Image", "IMAGE"),
                ("Command", "COMMAND"),
                ("Created", "CREATED"),
                ("Status", "STATUS"),
                ("Ports", "PORTS"),
                ("Names", "NAMES"),
            ];
            if args.size {
                headers.push(("Size", "SIZE"));
            }
            format::table(&headers, &rows, args.noheading)
        }
    };
    out.write_all(text.as_bytes()).ok();
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container exits.
    #[arg(short, long)]
    follow: bool,
    /// Only output since this time (RFC 3339, Unix seconds, or a duration like 10m).
    #[arg(long)]
    since: Option<String>,
    /// Only output before this time.
    #[arg(long)]
    until: Option<String>,
    /// Number of lines from the end ("all" for every line).
    #[arg(short = 'n', long)]
    tail: Option<String>,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    /// The container.
    container: String,
}

pub fn logs(global: &GlobalOptions, args: LogsArgs) -> CliResult {
    let now = chrono::Utc::now();
    let parse = |v: &Option<String>| {
        v.as_deref()
            .map(|s| crate::engine::parse_time_filter(s, now))
            .transpose()
            .map_err(bad)
    };
    let opts = crate::engine::LogOptions {
        since: parse(&args.since)?,
        until: parse(&args.until)?,
        tail: match args.tail.as_deref() {
            None | Some("all") | Some("-1") => None,
            Some(n) => Some(n.parse().map_err(|_| {
                miette::miette!("invalid --tail {n:?}: expected a number of lines")
            })?),
        },
        timestamps: args.timestamps,
    };
    let mut engine = global.engine()?;
    engine.container_logs(&args.container, &opts, args.follow)?;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Containers to wait for.
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn wait(global: &GlobalOptions, args: WaitArgs) -> CliResult {
    let mut engine = global.engine()?;
    super::each(&args.containers, |name| {
        engine.wait_container(name).map(|code| code.to_string())
    })
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Output format: json (default) or a Go template over the top-level fields.
    #[arg(short, long)]
    format: Option<String>,
    /// What the names refer to: container, image, or all (a container first, as Podman).
    #[arg(short = 't', long = "type", default_value = "all", value_parser = ["all", "container", "image"])]
    kind: String,
    /// Containers (or images) to inspect.
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn inspect(global: &GlobalOptions, args: InspectArgs) -> CliResult {
    let mut engine = global.engine()?;
    let mut values = Vec::new();
    let mut code = 0;
    for name in &args.containers {
        let found = match args.kind.as_str() {
            "image" => engine.inspect_image(name),
            "container" => engine.inspect_container(name),
            _ => match engine.inspect_container(name) {
                Err(EngineError::ContainerNotFound(e)) => engine
                    .inspect_image(name)
                    .map_err(|_| EngineError::ContainerNotFound(e)),
                other => other,
            },
        };
        match found {
            Ok(v) => values.push(v),
            Err(e) => {
                super::render_error(&miette::Report::new(e));
                code = super::EXIT_ERROR;
            }
        }
    }
    match args.format.as_deref() {
        None | Some("json") => println!(
            "{}",
            serde_json::to_string_pretty(&values).expect("serialisable")
        ),
        Some(tmpl) => {
            for v in &values {
                println!("{}", super::format::json_template(tmpl, v).map_err(bad)?);
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// Descriptor on which to report the start.
    #[arg(long)]
    ready_fd: Option<i32>,
    /// Relay the container's stdio through this process.
    #[arg(long)]
    attach: bool,
    /// The container.
    id: String,
}

pub fn monitor(global: &GlobalOptions, args: MonitorArgs) -> CliResult {
    // Detached, it outlives the command that started it: nothing that command inherited
    // stays open with it (the engine's database is opened below).
    if !args.attach {
        crate::engine::close_inherited_fds(&args.ready_fd.into_iter().collect::<Vec<_>>());
    }
    let mut engine = global.engine()?;
    let code = engine.run_monitor(
        &args.id,
        MonitorOptions {
            ready_fd: args.ready_fd,
            attach: args.attach,
        },
    )?;
    Ok(code.clamp(0, 255) as u8)
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

pub fn prune(global: &GlobalOptions, _args: PruneArgs) -> CliResult {
    let mut engine = global.engine()?;
    let stopped: Vec<String> = engine
        .list_containers(true)?
        .into_iter()
        .filter(|c| !c.status.is_active())
        .map(|c| c.id)
        .collect();
    let mut code = 0;
    for id in &stopped {
        match engine.remove_container(id, false, false) {
            Ok(id) => println!("{id}"),
            // Started again meanwhile, or its restart policy is about to: not prunable.
            Err(EngineError::Conflict(_)) => {}
            Err(e) => {
                super::render_error(&miette::Report::new(e));
                code = super::EXIT_ERROR;
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Subcommand)]
pub enum ContainerCommand {
    /// Create a container.
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Run a command in a new container.
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Start containers.
    Start(StartArgs),
    /// Stop containers.
    Stop(StopArgs),
    /// Restart containers.
    Restart(StopArgs),
    /// Send a signal to containers.
    Kill(KillArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// List containers.
    #[command(visible_alias = "ls", visible_alias = "list")]
    Ps(PsArgs),
    /// Show a container's output.
    Logs(LogsArgs),
    /// Wait for containers to exit and print their exit codes.
    Wait(WaitArgs),
    /// Show details of containers.
    Inspect(InspectArgs),
    /// Remove every stopped container.
    Prune(PruneArgs),
    /// Run a process in a running container.
    Exec(super::ops::ExecArgs),
    /// Show the processes of a container.
    Top(super::ops::TopArgs),
    /// Pause every process of containers.
    Pause(super::ops::PauseArgs),
    /// Resume paused containers.
    Unpause(super::ops::UnpauseArgs),
    /// Rename a container.
    Rename(super::ops::RenameArgs),
    /// Copy files between a container and the host.
    Cp(super::ops::CpArgs),
    /// Show containers' resource usage.
    Stats(super::ops::StatsArgs),
    /// Show a container's published ports.
    Port(super::ops::PortArgs),
}

pub fn container(global: &GlobalOptions, cmd: ContainerCommand) -> CliResult {
    match cmd {
        ContainerCommand::Create(a) => create(global, a),
        ContainerCommand::Run(a) => run(global, a),
        ContainerCommand::Start(a) => start(global, a),
        ContainerCommand::Stop(a) => stop(global, a),
        ContainerCommand::Restart(a) => restart(global, a),
        ContainerCommand::Kill(a) => kill(global, a),
        ContainerCommand::Rm(a) => rm(global, a),
        ContainerCommand::Ps(a) => ps(global, a),
        ContainerCommand::Logs(a) => logs(global, a),
        ContainerCommand::Wait(a) => wait(global, a),
        ContainerCommand::Inspect(a) => inspect(
            global,
            InspectArgs {
                kind: "container".into(),
                ..a
            },
        ),
        ContainerCommand::Prune(a) => prune(global, a),
        ContainerCommand::Exec(a) => super::ops::exec(global, a),
        ContainerCommand::Top(a) => super::ops::top(global, a),
        ContainerCommand::Pause(a) => super::ops::pause(global, a),
        ContainerCommand::Unpause(a) => super::ops::unpause(global, a),
        ContainerCommand::Rename(a) => super::ops::rename(global, a),
        ContainerCommand::Cp(a) => super::ops::cp(global, a),
        ContainerCommand::Stats(a) => super::ops::stats(global, a),
        ContainerCommand::Port(a) => super::ops::port(global, a),
    }
}
