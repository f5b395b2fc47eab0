//! `kube generate`.

use super::{CliResult, GlobalOptions};

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    names: Vec<String>,
}

pub fn generate_cmd(_global: &GlobalOptions, _args: GenerateArgs) -> CliResult {
    Err(miette::miette!("kube generate: not built yet"))
}
