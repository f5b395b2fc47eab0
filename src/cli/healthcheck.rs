//! `healthcheck run`.

use super::{CliResult, GlobalOptions};

#[derive(Debug, clap::Subcommand)]
pub enum HealthcheckCommand {
    /// Run a container's health check now and record its result: exit 0 when it passed, 1
    /// when it failed (printing the container's health), 125 when it could not run (no such
    /// container, no health check defined, not running).
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The container.
    container: String,
}

pub fn healthcheck(global: &GlobalOptions, cmd: HealthcheckCommand) -> CliResult {
    match cmd {
        HealthcheckCommand::Run(args) => run(global, args),
    }
}

fn run(global: &GlobalOptions, args: RunArgs) -> CliResult {
    let mut engine = global.engine()?;
    let report = engine.run_healthcheck(&args.container)?;
    if report.result.passed() {
        return Ok(0);
    }
    // As Podman: a failed check prints the health it leaves the container in.
    println!("{}", report.status.as_str());
    Ok(1)
}
