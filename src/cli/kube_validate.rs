//! `kube validate` and `kube schemas`.

use super::CliResult;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    inputs: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct SchemasArgs {
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

pub fn validate_cmd(_args: ValidateArgs) -> CliResult {
    Err(miette::miette!("kube validate: not built yet"))
}

pub fn schemas_cmd(_args: SchemasArgs) -> CliResult {
    Err(miette::miette!("kube schemas: not built yet"))
}
