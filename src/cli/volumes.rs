//! The `volume` group: `create`, `ls`, `inspect`, `rm`, `prune` and `exists`, with Podman's
//! flags, output and exit statuses (`rm`: 1 for an unknown volume, 2 for one in use).

use std::collections::BTreeMap;

use super::format::{self, Row};
use super::{CliResult, GlobalOptions};
use crate::engine::{EngineError, VolumeInfo};

/// `volume rm` exit statuses, as Podman's.
const EXIT_NO_SUCH_VOLUME: u8 = 1;
const EXIT_VOLUME_IN_USE: u8 = 2;

#[derive(Debug, clap::Subcommand)]
pub enum VolumeCommand {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Show details of volumes.
    Inspect(InspectArgs),
    /// Remove volumes.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove every volume no container uses.
    Prune(PruneArgs),
    /// Exit 0 when the volume exists, 1 otherwise.
    Exists(ExistsArgs),
}

pub fn volume(global: &GlobalOptions, cmd: VolumeCommand) -> CliResult {
    match cmd {
        VolumeCommand::Create(args) => create(global, args),
        VolumeCommand::Ls(args) => list(global, args),
        VolumeCommand::Inspect(args) => inspect(global, args),
        VolumeCommand::Rm(args) => rm(global, args),
        VolumeCommand::Prune(args) => prune(global, args),
        VolumeCommand::Exists(args) => exists(global, args),
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Volume driver (only `local`).
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set a label KEY=VALUE.
    #[arg(short, long)]
    label: Vec<String>,
    /// Succeed, doing nothing, when the volume already exists.
    #[arg(long)]
    ignore: bool,
    /// Name of the volume (a random one when left out).
    name: Option<String>,
}

fn create(global: &GlobalOptions, args: CreateArgs) -> CliResult {
    if args.driver != "local" {
        miette::bail!(
            "volume driver {:?} is not supported: oxpod has the local driver only",
            args.driver
        );
    }
    let labels = labels(&args.label)?;
    let name = global
        .engine()?
        .create_volume(args.name.as_deref(), labels, args.ignore)?;
    println!("{name}");
    Ok(0)
}

/// `KEY=VALUE` (or a bare `KEY`, with an empty value) into a map.
fn labels(values: &[String]) -> Result<BTreeMap<String, String>, miette::Report> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !v.is_empty() => Ok((v.to_string(), String::new())),
            _ => Err(miette::miette!("invalid label {v:?}: expected KEY=VALUE")),
        })
        .collect()
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print only the volume names.
    #[arg(short, long)]
    quiet: bool,
    /// `json`, or a Go template such as `{{.Name}} {{.Mountpoint}}`.
    #[arg(long)]
    format: Option<String>,
    /// Filter: name=NAME, label=KEY[=VALUE], dangling=true|false, driver=local. Values of
    /// one key are alternatives; different keys must all match.
    #[arg(short, long)]
    filter: Vec<String>,
    /// Leave out the header line.
    #[arg(short, long)]
    noheading: bool,
}

/// `volume ls --filter` (and `volume prune --filter`) conditions.
#[derive(Debug, Default)]
struct VolumeFilter {
    by_key: BTreeMap<String, Vec<String>>,
}

impl VolumeFilter {
    fn parse(filters: &[String], allowed: &[&str]) -> Result<VolumeFilter, miette::Report> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for filter in filters {
            let Some((key, value)) = filter.split_once('=') else {
                miette::bail!("invalid filter {filter:?}: expected KEY=VALUE");
            };
            if !allowed.contains(&key) {
                miette::bail!(
                    "invalid filter {key:?}: supported are {}",
                    allowed.join(", ")
                );
            }
            if key == "dangling" && !matches!(value, "true" | "false" | "1" | "0") {
                miette::bail!("invalid filter dangling={value:?}: expected true or false");
            }
            by_key
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
        Ok(VolumeFilter { by_key })
    }

    fn matches(&self, volume: &VolumeInfo) -> bool {
        self.by_key.iter().all(|(key, values)| {
            values.iter().any(|value| match key.as_str() {
                "name" => name_matches(value, &volume.name),
                "label" => match value.split_once('=') {
                    Some((k, v)) => volume.labels.get(k).is_some_and(|x| x == v),
                    None => volume.labels.contains_key(value),
                },
                "dangling" => volume.used_by.is_empty() == matches!(value.as_str(), "true" | "1"),
                "driver" => volume.driver == value,
                _ => true,
            })
        })
    }
}

/// Podman takes a regular expression for `name=`; oxpod matches a substring, or a glob when
/// the value has `*` or `?` — which covers how the filter is used in practice.
fn name_matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return name.contains(pattern);
    }
    fn glob(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], t) || (!t.is_empty() && glob(p, &t[1..])),
            (Some(b'?'), Some(_)) => glob(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => glob(&p[1..], &t[1..]),
            _ => false,
        }
    }
    glob(pattern.as_bytes(), name.as_bytes())
}

/// A volume as Podman's `volume inspect` and `volume ls --format json` show it (plus the
/// containers using it).
fn volume_json(volume: &VolumeInfo) -> serde_json::Value {
    let mut value = serde_json::to_value(volume).expect("a volume serialises");
    if let Some(object) = value.as_object_mut() {
        object.insert("Options".into(), serde_json::json!({}));
        // Podman leaves `Anonymous` out unless it is true.
        if !volume.anonymous {
            object.remove("Anonymous");
        }
    }
    value
}

/// Go prints a map as `map[k1:v1 k2:v2]`.
fn go_map(map: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", items.join(" "))
}

fn volume_row(volume: &VolumeInfo) -> Row {
    let mut row = Row::new();
    row.insert("Name", volume.name.clone());
    row.insert("Driver", volume.driver.to_string());
    row.insert("Mountpoint", volume.mountpoint.display().to_string());
    row.insert("CreatedAt", volume.created.clone());
    row.insert("Scope", volume.scope.to_string());
    row.insert("Labels", go_map(&volume.labels));
    row.insert("Options", go_map(&BTreeMap::new()));
    row.insert("Anonymous", volume.anonymous.to_string());
    row
}

fn list(global: &GlobalOptions, args: ListArgs) -> CliResult {
    let filter = VolumeFilter::parse(&args.filter, &["name", "label", "dangling", "driver"])?;
    let volumes: Vec<VolumeInfo> = global
        .engine()?
        .list_volumes()?
        .into_iter()
        .filter(|v| filter.matches(v))
        .collect();
    if args.quiet {
        for volume in &volumes {
            println!("{}", volume.name);
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => {
            let json: Vec<_> = volumes.iter().map(volume_json).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json).expect("serialisable")
            );
        }
        Some(template) => {
            let rows: Vec<Row> = volumes.iter().map(volume_row).collect();
            print!("{}", format::template(template, &rows).map_err(bad)?);
        }
        None => {
            let rows: Vec<Row> = volumes.iter().map(volume_row).collect();
            print!(
                "{}",
                format::table(
                    &[("Driver", "DRIVER"), ("Name", "VOLUME NAME")],
                    &rows,
                    args.noheading
                )
            );
        }
    }
    Ok(0)
}

fn bad(e: impl std::fmt::Display) -> miette::Report {
    miette::miette!("{e}")
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Inspect every volume.
    #[arg(short, long)]
    all: bool,
    /// `json` (the default), or a Go template such as `{{.Mountpoint}}`.
    #[arg(short, long)]
    format: Option<String>,
    /// Volumes to inspect.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    volumes: Vec<String>,
}

fn inspect(global: &GlobalOptions, args: InspectArgs) -> CliResult {
    let mut engine = global.engine()?;
    let mut found = Vec::new();
    let mut code = 0;
    if args.all {
        found = engine.list_volumes()?;
    }
    for name in &args.volumes {
        match engine.volume_info(name) {
            Ok(v) => found.push(v),
            Err(e) => {
                super::render_error(&miette::Report::new(e));
                code = super::EXIT_ERROR;
            }
        }
    }
    let values: Vec<serde_json::Value> = found.iter().map(volume_json).collect();
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
    /// Remove every volume.
    #[arg(short, long)]
    all: bool,
    /// Remove volumes in use too, removing the containers that use them first.
    #[arg(short, long)]
    force: bool,
    /// Volumes to remove.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    volumes: Vec<String>,
}

fn rm(global: &GlobalOptions, args: RmArgs) -> CliResult {
    let mut engine = global.engine()?;
    let names: Vec<String> = if args.all {
        engine.list_volumes()?.into_iter().map(|v| v.name).collect()
    } else {
        args.volumes
    };
    // Keep going past failures; the exit status says the worst, as Podman's.
    let mut code = 0;
    for name in &names {
        match engine.remove_volume(name, args.force) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                code = code.max(match &e {
                    EngineError::VolumeNotFound(_) => EXIT_NO_SUCH_VOLUME,
                    EngineError::Conflict(_) => EXIT_VOLUME_IN_USE,
                    _ => super::EXIT_ERROR,
                });
                super::render_error(&miette::Report::new(e));
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
    /// Prune only volumes matching: label=KEY[=VALUE], name=NAME.
    #[arg(long)]
    filter: Vec<String>,
}

fn prune(global: &GlobalOptions, args: PruneArgs) -> CliResult {
    use std::io::{BufRead, IsTerminal};
    let filter = VolumeFilter::parse(&args.filter, &["label", "name"])?;
    let mut engine = global.engine()?;
    if !args.force && std::io::stdin().is_terminal() {
        eprint!(
            "WARNING! This will remove all volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(0);
        }
    }
    if args.filter.is_empty() {
        for name in engine.prune_volumes()? {
            println!("{name}");
        }
        return Ok(0);
    }
    // With a filter: the unused volumes it selects, one by one.
    let mut code = 0;
    for volume in engine.list_volumes()? {
        if !volume.used_by.is_empty() || !filter.matches(&volume) {
            continue;
        }
        match engine.remove_volume(&volume.name, false) {
            Ok(()) => println!("{}", volume.name),
            // Taken into use since it was listed: not unused any more.
            Err(EngineError::Conflict(_)) => {}
            Err(e) => {
                super::render_error(&miette::Report::new(e));
                code = super::EXIT_ERROR;
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct ExistsArgs {
    /// The volume.
    volume: String,
}

fn exists(global: &GlobalOptions, args: ExistsArgs) -> CliResult {
    match global.engine()?.volume_info(&args.volume) {
        Ok(_) => Ok(0),
        Err(EngineError::VolumeNotFound(_)) => Ok(1),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, labels: &[(&str, &str)], used: bool) -> VolumeInfo {
        VolumeInfo {
            name: name.into(),
            driver: "local",
            mountpoint: format!("/var/lib/oxpod/volumes/{name}/_data").into(),
            created: "2024-01-01T00:00:00Z".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            scope: "local",
            anonymous: false,
            used_by: if used { vec!["c1".into()] } else { Vec::new() },
        }
    }

    fn filter(f: &[&str]) -> VolumeFilter {
        let f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
        VolumeFilter::parse(&f, &["name", "label", "dangling", "driver"]).unwrap()
    }

    #[test]
    fn filters_and_keys_or_values() {
        let data = volume("data", &[("app", "web")], true);
        let cache = volume("cache", &[("app", "db"), ("tmp", "")], false);
        assert!(filter(&["name=dat"]).matches(&data));
        assert!(!filter(&["name=dat"]).matches(&cache));
        assert!(filter(&["name=c*e"]).matches(&cache));
        assert!(filter(&["label=app=web"]).matches(&data));
        assert!(filter(&["label=tmp"]).matches(&cache));
        assert!(filter(&["dangling=true"]).matches(&cache));
        assert!(!filter(&["dangling=true"]).matches(&data));
        assert!(filter(&["name=data", "name=cache"]).matches(&cache));
        assert!(!filter(&["name=data", "label=tmp"]).matches(&data));
        let bad: Vec<String> = vec!["colour=red".into()];
        assert!(VolumeFilter::parse(&bad, &["name"]).is_err());
    }

    #[test]
    fn json_is_podman_shaped() {
        let v = volume_json(&volume("data", &[], false));
        assert_eq!(v["Name"], "data");
        assert_eq!(v["Driver"], "local");
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["Options"], serde_json::json!({}));
        assert!(v.get("Anonymous").is_none());
        assert_eq!(
            go_map(&[("a".to_string(), "b".to_string())].into()),
            "map[a:b]"
        );
    }
}
