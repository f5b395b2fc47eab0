//! `version`, `info`, `completion`.

use clap::CommandFactory;

use super::{Cli, CliResult, GlobalOptions};
use crate::engine::{self, Mode, Paths, RegistriesConf};

#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Output format: json, or a Go template such as {{.Version}}.
    #[arg(short, long)]
    format: Option<String>,
}

pub fn version(args: VersionArgs) -> CliResult {
    let v = engine::version();
    match args.format.as_deref() {
        Some("json") => println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("serialisable")
        ),
        Some(tmpl) => {
            let mut row = super::format::Row::new();
            row.insert("Version", v.version.to_string());
            row.insert("APIVersion", v.api_version.to_string());
            row.insert("OsArch", v.os_arch.clone());
            print!(
                "{}",
                super::format::template(tmpl, &[row]).map_err(|e| miette::miette!(e))?
            );
        }
        None => {
            println!("Version:      {}", v.version);
            println!("API Version:  {}", v.api_version);
            if !v.git_commit.is_empty() {
                println!("Git Commit:   {}", v.git_commit);
            }
            println!("OS/Arch:      {}", v.os_arch);
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Output format: json (default is a readable listing).
    #[arg(short, long)]
    format: Option<String>,
}

pub fn info(global: &GlobalOptions, args: InfoArgs) -> CliResult {
    // Info describes the host without creating a root, so it works before any other command.
    let mode = Mode::current();
    let paths = Paths::resolve(mode, global.root.clone(), global.runroot.clone());
    let report = engine::info(
        mode,
        &paths,
        RegistriesConf::load().map_err(|e| e.to_string()),
    );
    match args.format.as_deref() {
        Some("json") => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        ),
        Some(other) => miette::bail!("unsupported --format {other:?} for info: use json"),
        None => {
            println!("host:");
            println!("  mode: {}", report.mode);
            println!("  kernel: {}", report.kernel);
            println!(
                "  cgroups: {} (v1: {}; v2: {})",
                report.cgroups.version,
                report.cgroups.v1_controllers.join(","),
                report.cgroups.v2_controllers.join(",")
            );
            println!("  overlay: {}", report.overlay);
            println!("  runtimes:");
            for rt in &report.runtimes {
                println!(
                    "    {}: {}",
                    rt.name,
                    rt.path.as_deref().unwrap_or("built in")
                );
            }
            println!("store:");
            println!("  root: {}", report.root);
            println!("  runroot: {}", report.runroot);
            println!("registries:");
            println!("  search: [{}]", report.registries.search.join(", "));
            println!("  insecure: [{}]", report.registries.insecure.join(", "));
            if !report.registries.blocked.is_empty() {
                println!("  blocked: [{}]", report.registries.blocked.join(", "));
            }
            if let Some(err) = &report.registries.error {
                println!("  error: {err}");
            }
            println!("version: {}", report.version.version);
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to generate completions for.
    shell: clap_complete::Shell,
}

pub fn completion(args: CompletionArgs) -> CliResult {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "oxpod",
        &mut std::io::stdout(),
    );
    Ok(0)
}
