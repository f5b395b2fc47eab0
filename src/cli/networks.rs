//! The `network` group: create, ls, inspect, rm, prune, exists; and the hidden `port-proxy`
//! that the engine starts to forward a pod's published ports.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::format::{self, Row};
use super::{CliResult, GlobalOptions};
use crate::engine::{EngineError, NetworkInfo, NetworkOptions};

#[derive(Debug, clap::Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network.
    Create(CreateArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Show details of networks.
    Inspect(InspectArgs),
    /// Remove networks.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove every network no pod or container uses (not the default one).
    Prune(PruneArgs),
    /// Exit 0 when the network exists, 1 otherwise.
    Exists(ExistsArgs),
}

pub fn network(global: &GlobalOptions, cmd: NetworkCommand) -> CliResult {
    match cmd {
        NetworkCommand::Create(args) => create(global, args),
        NetworkCommand::Ls(args) => list(global, args),
        NetworkCommand::Inspect(args) => inspect(global, args),
        NetworkCommand::Rm(args) => {
            let mut engine = global.engine()?;
            super::each(&args.networks, |n| engine.remove_network(n, args.force))
        }
        NetworkCommand::Prune(_) => {
            for name in global.engine()?.prune_networks()? {
                println!("{name}");
            }
            Ok(0)
        }
        NetworkCommand::Exists(args) => match global.engine()?.inspect_network(&args.network) {
            Ok(_) => Ok(0),
            Err(EngineError::NetworkNotFound(_)) => Ok(1),
            Err(e) => Err(e.into()),
        },
    }
}

fn bad(e: impl std::fmt::Display) -> miette::Report {
    miette::miette!("{e}")
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Driver (only `bridge`).
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR form, e.g. 10.90.0.0/24 (a free /24 in 10.89.0.0/16 and up when unset).
    #[arg(long)]
    subnet: Option<String>,
    /// Gateway address (the subnet's first address when unset).
    #[arg(long)]
    gateway: Option<String>,
    /// No traffic leaves the network: no masquerade, forwarding out of its bridge dropped.
    #[arg(long)]
    internal: bool,
    /// Set a label KEY=VALUE.
    #[arg(long)]
    label: Vec<String>,
    /// Succeed, doing nothing, when the network exists.
    #[arg(long)]
    ignore: bool,
    /// Name of the network.
    name: String,
}

fn create(global: &GlobalOptions, args: CreateArgs) -> CliResult {
    if args.driver != "bridge" {
        miette::bail!(
            "network driver {:?} is not supported: oxpod has the bridge driver only",
            args.driver
        );
    }
    let subnet = args
        .subnet
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(bad)?;
    let gateway = args
        .gateway
        .as_deref()
        .map(|g| {
            g.parse()
                .map_err(|_| miette::miette!("invalid gateway {g:?}: expected an IPv4 address"))
        })
        .transpose()?;
    let mut labels = BTreeMap::new();
    for label in &args.label {
        let (k, v) = label.split_once('=').unwrap_or((label, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut engine = global.engine()?;
    if args.ignore && engine.inspect_network(&args.name).is_ok() {
        println!("{}", args.name);
        return Ok(0);
    }
    let info = engine.create_network(NetworkOptions {
        name: args.name,
        subnet,
        gateway,
        internal: args.internal,
        labels,
    })?;
    println!("{}", info.name);
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print only the network names.
    #[arg(short, long)]
    quiet: bool,
    /// `json`, or a Go template such as `{{.Name}} {{.Subnets}}`.
    #[arg(long)]
    format: Option<String>,
    /// Leave out the header line.
    #[arg(short, long)]
    noheading: bool,
    /// Do not truncate IDs.
    #[arg(long)]
    no_trunc: bool,
    /// Filter: name=, id=, label=KEY[=VALUE], driver=bridge.
    #[arg(short, long)]
    filter: Vec<String>,
}

/// A network as Podman's `network inspect` shows it.
fn network_json(n: &NetworkInfo) -> serde_json::Value {
    serde_json::json!({
        "name": n.name,
        "id": n.id,
        "driver": n.driver,
        "network_interface": n.network_interface,
        "created": n.created,
        "subnets": n.subnets,
        "ipv6_enabled": n.ipv6_enabled,
        "internal": n.internal,
        "dns_enabled": n.dns_enabled,
        "labels": n.labels,
        "ipam_options": n.ipam_options,
        "containers": n.members,
    })
}

fn network_row(n: &NetworkInfo, no_trunc: bool) -> Row {
    let mut row = Row::new();
    row.insert(
        "ID",
        if no_trunc {
            n.id.clone()
        } else {
            n.id[..12].to_string()
        },
    );
    row.insert("Name", n.name.clone());
    row.insert("Driver", n.driver.to_string());
    row.insert("NetworkInterface", n.network_interface.clone());
    row.insert(
        "Subnets",
        n.subnets
            .iter()
            .map(|s| s.subnet.clone())
            .collect::<Vec<_>>()
            .join(","),
    );
    row.insert("Internal", n.internal.to_string());
    row.insert("Created", n.created.clone());
    row
}

fn keep(n: &NetworkInfo, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "name" => n.name.contains(v.as_str()),
        "id" => n.id.starts_with(v.as_str()),
        "driver" => n.driver == v,
        _ => match v.split_once('=') {
            Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
            None => n.labels.contains_key(v.as_str()),
        },
    })
}

fn list(global: &GlobalOptions, args: ListArgs) -> CliResult {
    let mut filters = Vec::new();
    for f in &args.filter {
        match f.split_once('=') {
            Some((k, v)) if ["name", "id", "label", "driver"].contains(&k) => {
                filters.push((k.to_string(), v.to_string()))
            }
            _ => miette::bail!("invalid filter {f:?}: expected name=, id=, label= or driver="),
        }
    }
    let networks: Vec<NetworkInfo> = global
        .engine()?
        .list_networks()?
        .into_iter()
        .filter(|n| keep(n, &filters))
        .collect();
    if args.quiet {
        for n in &networks {
            println!("{}", n.name);
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => println!(
            "{}",
            serde_json::to_string_pretty(&networks.iter().map(network_json).collect::<Vec<_>>())
                .expect("serialisable")
        ),
        Some(template) => {
            let rows: Vec<Row> = networks
                .iter()
                .map(|n| network_row(n, args.no_trunc))
                .collect();
            print!("{}", format::template(template, &rows).map_err(bad)?);
        }
        None => {
            let rows: Vec<Row> = networks
                .iter()
                .map(|n| network_row(n, args.no_trunc))
                .collect();
            print!(
                "{}",
                format::table(
                    &[("ID", "NETWORK ID"), ("Name", "NAME"), ("Driver", "DRIVER")],
                    &rows,
                    args.noheading
                )
            );
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// `json` (the default), or a Go template such as `{{.name}}`.
    #[arg(short, long)]
    format: Option<String>,
    /// Networks to inspect.
    #[arg(required = true)]
    networks: Vec<String>,
}

fn inspect(global: &GlobalOptions, args: InspectArgs) -> CliResult {
    let mut engine = global.engine()?;
    let mut code = 0;
    let mut values = Vec::new();
    for name in &args.networks {
        match engine.inspect_network(name) {
            Ok(n) => values.push(network_json(&n)),
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
        Some(template) => {
            for value in &values {
                println!("{}", format::json_template(template, value).map_err(bad)?);
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Remove the pods and containers using it first.
    #[arg(short, long)]
    force: bool,
    /// Networks to remove.
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation (there is no prompt; accepted for compatibility).
    #[arg(short, long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExistsArgs {
    /// The network.
    network: String,
}

#[derive(Debug, clap::Args)]
pub struct PortProxyArgs {
    /// The network namespace to forward into.
    #[arg(long)]
    netns: PathBuf,
    /// Inherited pipe: "ok" once every host port is bound, or "error ...".
    #[arg(long)]
    ready_fd: i32,
    /// The port mappings, as JSON.
    #[arg(long)]
    publish: String,
    /// The pod's address to connect to (127.0.0.1 inside the pod when unset).
    #[arg(long)]
    target: Option<std::net::Ipv4Addr>,
    /// The pod or container it serves (shown in `ps`).
    owner: String,
}

pub fn port_proxy(args: PortProxyArgs) -> CliResult {
    crate::engine::run_port_proxy(
        &args.netns,
        &args.publish,
        args.ready_fd,
        args.target,
        &args.owner,
    )?;
    Ok(0)
}
