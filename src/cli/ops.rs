//! Commands on an existing container: `exec`, `top`, `pause`, `unpause`, `rename`, `cp`,
//! `stats` and `port` (also under `container`), and the hidden `container-exec-helper`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::format::{self, Row};
use super::{CliResult, GlobalOptions};
use crate::engine::{
    ContainerStats, CopyLocation, EngineError, ExecOptions, TopDescriptor, go_duration,
    parse_top_descriptors,
};
use crate::spec;

fn bad(e: impl std::fmt::Display) -> miette::Report {
    miette::miette!("{e}")
}

/// Exit codes for a command that could not be run in the container, as Podman.
const EXIT_NOT_EXECUTABLE: u8 = 126;
const EXIT_NOT_FOUND: u8 = 127;

/// Print the error and give the exit code Podman gives for it.
fn failed(e: EngineError) -> u8 {
    let code = match &e {
        EngineError::NotExecutable(_) => EXIT_NOT_EXECUTABLE,
        EngineError::CommandNotFound(_) => EXIT_NOT_FOUND,
        _ => super::EXIT_ERROR,
    };
    super::render_error(&miette::Report::new(e));
    code
}

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Run the process in the background (its output is discarded).
    #[arg(short, long)]
    detach: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from this environment).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long)]
    env_file: Vec<PathBuf>,
    /// Keep standard input open and pass it to the process.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-terminal (with -i, standard input must be a terminal).
    #[arg(short, long)]
    tty: bool,
    /// User (and group) to run as: name, uid, name:group or uid:gid.
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<PathBuf>,
    /// The container.
    container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn exec(global: &GlobalOptions, args: ExecArgs) -> CliResult {
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(spec::read_env_file(file).map_err(bad)?);
    }
    for e in &args.env {
        if let Some(entry) = spec::parse_env_flag(e, |k| std::env::var(k).ok()).map_err(bad)? {
            env.push(entry);
        }
    }
    let opts = ExecOptions {
        command: args.command,
        env,
        user: args.user,
        workdir: args.workdir,
        interactive: args.interactive,
        tty: args.tty,
    };
    let mut engine = global.engine()?;
    let result = if args.detach {
        engine.exec_detached(&args.container, &opts).map(|_| 0)
    } else {
        engine.exec(&args.container, &opts)
    };
    match result {
        Ok(code) => Ok(code.clamp(0, 255) as u8),
        Err(e) => Ok(failed(e)),
    }
}

#[derive(Debug, clap::Args)]
pub struct ExecHelperArgs {
    /// The exec plan written by the detaching `exec`.
    plan: PathBuf,
}

/// Start a detached exec's process and print its pid; exiting then orphans the process.
pub fn exec_helper(global: &GlobalOptions, args: ExecHelperArgs) -> CliResult {
    let mut engine = global.engine()?;
    let pid = engine.run_exec_helper(&args.plan)?;
    println!("{pid}");
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// The container.
    container: String,
    /// Columns to show: user, pid, ppid, pcpu, etime, tty, time, args (the default), or
    /// comm, group, ruser, rgroup, huser, hgroup, hpid, pgid, nice, state, vsz, rss,
    /// seccomp. Anything else is passed to `ps` run inside the container.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    descriptors: Vec<String>,
}

pub fn top(global: &GlobalOptions, args: TopArgs) -> CliResult {
    let mut engine = global.engine()?;
    let Some(columns) = parse_top_descriptors(&args.descriptors) else {
        // As Podman: options that are not descriptors are `ps`'s, run in the container.
        let mut command = vec!["ps".to_string()];
        command.extend(args.descriptors);
        return match engine.exec(
            &args.container,
            &ExecOptions {
                command,
                ..Default::default()
            },
        ) {
            Ok(code) => Ok(code.clamp(0, 255) as u8),
            Err(e) => {
                let code = failed(e);
                eprintln!(
                    "  help: top descriptors are {}",
                    TopDescriptor::names().join(", ")
                );
                Ok(code)
            }
        };
    };
    if columns.len() > COLUMN_KEYS.len() {
        miette::bail!("top shows at most {} columns", COLUMN_KEYS.len());
    }
    let report = engine.top_container(&args.container, &columns)?;
    let keys: Vec<&'static str> = (0..report.headers.len()).map(column_key).collect();
    let headers: Vec<(&'static str, &str)> = keys
        .iter()
        .zip(&report.headers)
        .map(|(k, h)| (*k, *h))
        .collect();
    let rows: Vec<Row> = report
        .rows
        .into_iter()
        .map(|cells| keys.iter().copied().zip(cells).collect())
        .collect();
    print!("{}", format::table(&headers, &rows, false));
    Ok(0)
}

/// Row keys for `top`'s columns, which may repeat a descriptor.
const COLUMN_KEYS: [&str; 24] = [
    "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13", "c14",
    "c15", "c16", "c17", "c18", "c19", "c20", "c21", "c22", "c23",
];

fn column_key(i: usize) -> &'static str {
    COLUMN_KEYS[i]
}

#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    /// Pause every running container.
    #[arg(short, long)]
    all: bool,
    /// Containers to pause.
    containers: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct UnpauseArgs {
    /// Unpause every paused container.
    #[arg(short, long)]
    all: bool,
    /// Containers to unpause.
    containers: Vec<String>,
}

fn names_or_all(
    global: &GlobalOptions,
    names: &[String],
    all: bool,
    status: crate::engine::ContainerStatus,
) -> Result<Vec<String>, miette::Report> {
    if all {
        let mut engine = global.engine()?;
        return Ok(engine
            .list_containers(false)?
            .into_iter()
            .filter(|c| c.status == status)
            .map(|c| c.name)
            .collect());
    }
    if names.is_empty() {
        miette::bail!("give at least one container name or ID, or --all");
    }
    Ok(names.to_vec())
}

pub fn pause(global: &GlobalOptions, args: PauseArgs) -> CliResult {
    use crate::engine::ContainerStatus;
    let names = names_or_all(global, &args.containers, args.all, ContainerStatus::Running)?;
    let mut engine = global.engine()?;
    super::each(&names, |name| {
        engine.pause_container(name).map(|_| name.to_string())
    })
}

pub fn unpause(global: &GlobalOptions, args: UnpauseArgs) -> CliResult {
    use crate::engine::ContainerStatus;
    let names = names_or_all(global, &args.containers, args.all, ContainerStatus::Paused)?;
    let mut engine = global.engine()?;
    super::each(&names, |name| {
        engine.unpause_container(name).map(|_| name.to_string())
    })
}

#[derive(Debug, clap::Args)]
pub struct RenameArgs {
    /// The container to rename.
    container: String,
    /// Its new name.
    new_name: String,
}

pub fn rename(global: &GlobalOptions, args: RenameArgs) -> CliResult {
    let mut engine = global.engine()?;
    engine.rename_container(&args.container, &args.new_name)?;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct CpArgs {
    /// What to copy: CONTAINER:PATH, a host path, or `-` for a tar archive on stdin.
    #[arg(allow_hyphen_values = true)]
    source: String,
    /// Where to: CONTAINER:PATH, a host path, or `-` for a tar archive on stdout.
    #[arg(allow_hyphen_values = true)]
    destination: String,
}

pub fn cp(global: &GlobalOptions, args: CpArgs) -> CliResult {
    let source = CopyLocation::parse(&args.source);
    let destination = CopyLocation::parse(&args.destination);
    if destination == CopyLocation::Stream && std::io::stdout().is_terminal() {
        miette::bail!("refusing to write a tar archive to a terminal: redirect standard output");
    }
    let mut engine = global.engine()?;
    engine.copy(&source, &destination)?;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Show stopped containers too (with empty figures).
    #[arg(short, long)]
    all: bool,
    /// Print one sample and exit (otherwise refresh every --interval seconds until
    /// interrupted).
    #[arg(long)]
    no_stream: bool,
    /// Output format: json, or a Go template over ID, Name, CPUPerc, MemUsage, MemPerc,
    /// NetIO, BlockIO, PIDS, CPUTime, AVGCPU.
    #[arg(long)]
    format: Option<String>,
    /// Seconds between refreshes when streaming.
    #[arg(short, long, default_value_t = 5)]
    interval: u64,
    /// Do not truncate IDs.
    #[arg(long)]
    no_trunc: bool,
    /// Do not clear the screen between refreshes.
    #[arg(long)]
    no_reset: bool,
    /// Containers to show (every running one when none is given).
    containers: Vec<String>,
}

/// Podman's sizes in `stats` (go-units `HumanSize`): four significant digits, SI units, no
/// space: `8.192kB`, `67.11MB`.
pub fn human_size_compact(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    // `%.4g`: four significant digits, trailing zeros dropped.
    let int_digits = if value < 1.0 {
        1
    } else {
        value.log10().floor() as usize + 1
    };
    let decimals = 4usize.saturating_sub(int_digits);
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

fn percent(value: Option<f64>) -> String {
    match value {
        Some(v) if v > 0.0 => format!("{v:.2}%"),
        _ => "--".into(),
    }
}

fn pair(a: Option<u64>, b: Option<u64>) -> String {
    match (a.unwrap_or(0), b.unwrap_or(0)) {
        (0, 0) => "-- / --".into(),
        (a, b) => format!("{} / {}", human_size_compact(a), human_size_compact(b)),
    }
}

fn stats_row(s: &ContainerStats, no_trunc: bool) -> Row {
    let mut row = Row::new();
    let id = if no_trunc {
        s.id.clone()
    } else {
        s.id.chars().take(12).collect()
    };
    row.insert("ID", id.clone());
    row.insert("Container", id);
    row.insert("Name", s.name.clone());
    row.insert("CPUPerc", percent(s.cpu_percent));
    row.insert("AVGCPU", percent(s.avg_cpu_percent));
    row.insert("MemUsage", pair(s.mem_usage, s.mem_limit));
    row.insert(
        "MemUsageBytes",
        match (s.mem_usage, s.mem_limit) {
            (Some(u), Some(l)) => format!("{u} / {l}"),
            _ => "-- / --".into(),
        },
    );
    row.insert("MemPerc", percent(s.mem_percent));
    row.insert("NetIO", "-- / --".into());
    row.insert("BlockIO", pair(s.block_read, s.block_write));
    let pids = s
        .pids
        .filter(|p| *p > 0)
        .map_or_else(|| "--".into(), |p| p.to_string());
    row.insert("PIDS", pids.clone());
    row.insert("PIDs", pids);
    let cpu_time = s.cpu_time.map_or_else(|| "--".into(), go_duration);
    row.insert("CPUTime", cpu_time.clone());
    row.insert("UpTime", cpu_time);
    row
}

fn render_stats(stats: &[ContainerStats], args: &StatsArgs) -> Result<String, miette::Report> {
    let rows: Vec<Row> = stats.iter().map(|s| stats_row(s, args.no_trunc)).collect();
    match args.format.as_deref() {
        Some("json") => {
            let json: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r["ID"],
                        "name": r["Name"],
                        "cpu_time": r["CPUTime"],
                        "cpu_percent": r["CPUPerc"],
                        "avg_cpu": r["AVGCPU"],
                        "mem_usage": r["MemUsage"],
                        "mem_percent": r["MemPerc"],
                        "net_io": r["NetIO"],
                        "block_io": r["BlockIO"],
                        "pids": r["PIDS"],
                    })
                })
                .collect();
            Ok(format!(
                "{}\n",
                serde_json::to_string_pretty(&json).expect("serialisable")
            ))
        }
        Some(tmpl) => format::template(tmpl, &rows).map_err(bad),
        None => Ok(format::table(
            &[
                ("ID", "ID"),
                ("Name", "NAME"),
                ("CPUPerc", "CPU %"),
                ("MemUsage", "MEM USAGE / LIMIT"),
                ("MemPerc", "MEM %"),
                ("NetIO", "NET IO"),
                ("BlockIO", "BLOCK IO"),
                ("PIDS", "PIDS"),
                ("CPUTime", "CPU TIME"),
                ("AVGCPU", "AVG CPU %"),
            ],
            &rows,
            false,
        )),
    }
}

pub fn stats(global: &GlobalOptions, args: StatsArgs) -> CliResult {
    if args.interval == 0 {
        miette::bail!("invalid --interval 0: give a number of seconds of at least 1");
    }
    let mut engine = global.engine()?;
    // CPU % is measured between two samples this far apart.
    let sample = Duration::from_millis(100);
    let stats = engine.container_stats(&args.containers, args.all, sample)?;
    let mut out = std::io::stdout().lock();
    let clear = !args.no_stream && !args.no_reset && std::io::stdout().is_terminal();
    let mut frame = render_stats(&stats, &args)?;
    loop {
        if clear {
            // Clear the screen and go home, as Podman does between refreshes.
            frame.insert_str(0, "\x1b[2J\x1b[H");
        }
        if out
            .write_all(frame.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return Ok(0);
        }
        if args.no_stream {
            return Ok(0);
        }
        // Later samples span the whole interval; containers that stopped meanwhile show
        // empty figures instead of ending the stream with an error.
        let all = args.all || !args.containers.is_empty();
        let stats =
            engine.container_stats(&args.containers, all, Duration::from_secs(args.interval))?;
        frame = render_stats(&stats, &args)?;
    }
}

#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// List the published ports of every running container.
    #[arg(short, long)]
    all: bool,
    /// The container.
    container: Option<String>,
    /// Only this container port: PORT[/PROTOCOL].
    port: Option<String>,
}

pub fn port(global: &GlobalOptions, args: PortArgs) -> CliResult {
    let mut engine = global.engine()?;
    if args.all {
        if args.container.is_some() {
            miette::bail!("give either --all or a container, not both");
        }
        for c in engine.list_containers(false)? {
            for (port, host) in engine.container_ports(&c.id, None)? {
                println!("{}\t{port} -> {host}", &c.id[..12]);
            }
        }
        return Ok(0);
    }
    let Some(container) = &args.container else {
        miette::bail!("give a container name or ID, or --all");
    };
    for (port, host) in engine.container_ports(container, args.port.as_deref())? {
        println!("{port} -> {host}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_podman_stats() {
        assert_eq!(human_size_compact(0), "0B");
        assert_eq!(human_size_compact(512), "512B");
        assert_eq!(human_size_compact(8192), "8.192kB");
        assert_eq!(human_size_compact(64 << 20), "67.11MB");
        assert_eq!(human_size_compact(1_000_000), "1MB");
        assert_eq!(human_size_compact(3_092_000), "3.092MB");
    }

    #[test]
    fn stats_rows_show_dashes_for_nothing() {
        let row = stats_row(
            &ContainerStats {
                id: "0123456789abcdef".into(),
                name: "web".into(),
                mem_usage: Some(1_000_000),
                mem_limit: Some(64 << 20),
                mem_percent: Some(1.49),
                pids: Some(2),
                ..Default::default()
            },
            false,
        );
        assert_eq!(row["ID"], "0123456789ab");
        assert_eq!(row["CPUPerc"], "--");
        assert_eq!(row["MemUsage"], "1MB / 67.11MB");
        assert_eq!(row["MemPerc"], "1.49%");
        assert_eq!(row["BlockIO"], "-- / --");
        assert_eq!(row["PIDS"], "2");
    }
}
