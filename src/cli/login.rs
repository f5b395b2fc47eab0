//! `login` and `logout`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use super::{CliResult, GlobalOptions};
use crate::engine::{Credentials, RegistryOptions};

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Username for the registry.
    #[arg(short, long)]
    username: Option<String>,
    /// Password for the registry (prefer --password-stdin).
    #[arg(short, long)]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Path of the authentication file.
    #[arg(long, env = "REGISTRY_AUTH_FILE")]
    authfile: Option<PathBuf>,
    /// Require HTTPS and verify certificates.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    tls_verify: Option<bool>,
    /// Directory with CA certificates for the registry.
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// The registry to log in to (host[:port]).
    registry: String,
}

fn prompt(label: &str) -> std::io::Result<String> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn login(global: &GlobalOptions, args: LoginArgs) -> CliResult {
    let username = match args.username {
        Some(u) => u,
        None if std::io::stdin().is_terminal() => {
            prompt("Username: ").map_err(|e| miette::miette!("reading username: {e}"))?
        }
        None => miette::bail!("login needs --username when standard input is not a terminal"),
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => miette::bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p,
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| miette::miette!("reading password: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
        (None, false) => {
            prompt("Password: ").map_err(|e| miette::miette!("reading password: {e}"))?
        }
    };
    let mut engine = global.engine()?;
    engine.login(
        &args.registry,
        &RegistryOptions {
            tls_verify: args.tls_verify,
            authfile: args.authfile,
            cert_dir: args.cert_dir,
            credentials: Some(Credentials { username, password }),
        },
    )?;
    println!("Login Succeeded!");
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// Remove the credentials of every registry.
    #[arg(short, long)]
    all: bool,
    /// Path of the authentication file.
    #[arg(long, env = "REGISTRY_AUTH_FILE")]
    authfile: Option<PathBuf>,
    /// The registry to log out of.
    #[arg(required_unless_present = "all")]
    registry: Option<String>,
}

pub fn logout(global: &GlobalOptions, args: LogoutArgs) -> CliResult {
    let mut engine = global.engine()?;
    if args.all {
        engine.logout(None, args.authfile.as_deref())?;
        println!("Removed login credentials for all registries");
        return Ok(0);
    }
    let registry = args.registry.expect("required unless --all");
    if engine.logout(Some(&registry), args.authfile.as_deref())? {
        println!("Removed login credentials for {registry}");
        Ok(0)
    } else {
        miette::bail!("not logged into {registry}")
    }
}
