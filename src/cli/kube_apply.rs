//! `kube apply`.

use super::{CliResult, GlobalOptions};

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    inputs: Vec<String>,
}

pub fn apply_cmd(_global: &GlobalOptions, _args: ApplyArgs) -> CliResult {
    Err(miette::miette!("kube apply: not built yet"))
}
