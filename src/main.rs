//! The `oxpod` binary: parse, dispatch, render errors, exit.

use std::process::ExitCode;

use clap::Parser;
use oxpod::cli::{self, Cli, EXIT_ERROR};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors are oxpod's own errors (125), as Podman reports them; help and
            // version requests succeed.
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(EXIT_ERROR),
            };
        }
    };
    init_logging(&cli.global.log_level);
    // A closed stdout (`oxpod images | head -1`) must not turn into a panic message.
    oxpod::sys::signal::default_sigpipe();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(report) => {
            cli::render_error(&report);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("oxpod={level}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("oxpod=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}
