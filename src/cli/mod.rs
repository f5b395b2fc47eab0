//! The command line: clap definitions (doc comments are the `--help`) and output formatting.
//! Commands fill engine options, call the engine and print its reports; nothing here reaches
//! below the engine.

mod containers;
mod format;
mod healthcheck;
mod images;
mod kube;
mod kube_apply;
mod kube_generate;
mod kube_validate;
mod login;
mod networks;
mod ops;
mod pods;
mod progress;
mod system;
mod volumes;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::engine::{Engine, EngineOptions};

/// Exit status for oxpod's own failures, as Podman uses it.
pub const EXIT_ERROR: u8 = 125;

/// What a command returns: its exit status, or an error to render (exit 125).
pub type CliResult = Result<u8, miette::Report>;

/// A daemonless pod engine with a Kubernetes-YAML round trip.
#[derive(Debug, Parser)]
#[command(
    name = "oxpod",
    version,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOptions {
    /// Path to the root directory where persistent state is stored.
    #[arg(long, global = true, env = "OXPOD_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Path to the runtime directory where transient state is stored.
    #[arg(long, global = true, env = "OXPOD_RUNROOT", value_name = "DIR")]
    pub runroot: Option<PathBuf>,
    /// Log messages at and above this level: trace, debug, info, warn, error.
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
}

impl GlobalOptions {
    pub fn engine(&self) -> Result<Engine, miette::Report> {
        Ok(Engine::open(EngineOptions {
            root: self.root.clone(),
            runroot: self.runroot.clone(),
        })?)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the version of oxpod.
    Version(system::VersionArgs),
    /// Show how oxpod is set up on this host.
    Info(system::InfoArgs),
    /// Print a shell completion script.
    Completion(system::CompletionArgs),
    /// Pull an image from a registry.
    Pull(images::PullArgs),
    /// Push an image to a registry.
    Push(images::PushArgs),
    /// List images in local storage.
    Images(images::ListArgs),
    /// Add names to a local image.
    Tag(images::TagArgs),
    /// Remove one or more images.
    Rmi(images::RmiArgs),
    /// Save images to an archive.
    Save(images::SaveArgs),
    /// Load images from an archive.
    Load(images::LoadArgs),
    /// Create an image from a tarball of a root file system.
    Import(images::ImportArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(images::ImageCommand),
    /// Create a container.
    #[command(disable_help_flag = true)]
    Create(containers::CreateArgs),
    /// Run a command in a new container.
    #[command(disable_help_flag = true)]
    Run(containers::RunArgs),
    /// Start containers.
    Start(containers::StartArgs),
    /// Stop containers.
    Stop(containers::StopArgs),
    /// Restart containers.
    Restart(containers::StopArgs),
    /// Send a signal to containers.
    Kill(containers::KillArgs),
    /// Remove containers.
    Rm(containers::RmArgs),
    /// List containers.
    Ps(containers::PsArgs),
    /// Show a container's output.
    Logs(containers::LogsArgs),
    /// Wait for containers to exit and print their exit codes.
    Wait(containers::WaitArgs),
    /// Show details of containers or images.
    Inspect(containers::InspectArgs),
    /// Run a process in a running container.
    Exec(ops::ExecArgs),
    /// Show the processes of a container.
    Top(ops::TopArgs),
    /// Pause every process of containers.
    Pause(ops::PauseArgs),
    /// Resume paused containers.
    Unpause(ops::UnpauseArgs),
    /// Rename a container.
    Rename(ops::RenameArgs),
    /// Copy files between a container and the host.
    Cp(ops::CpArgs),
    /// Show containers' resource usage.
    Stats(ops::StatsArgs),
    /// Show a container's published ports.
    Port(ops::PortArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(containers::ContainerCommand),
    /// Run containers' health checks.
    #[command(subcommand)]
    Healthcheck(healthcheck::HealthcheckCommand),
    /// Supervise one container (started by oxpod itself).
    #[command(hide = true)]
    ContainerMonitor(containers::MonitorArgs),
    /// Start a detached exec's process (started by oxpod itself).
    #[command(hide = true)]
    ContainerExecHelper(ops::ExecHelperArgs),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volumes::VolumeCommand),
    /// Manage pods.
    #[command(subcommand)]
    Pod(pods::PodCommand),
    /// Play Kubernetes YAML as local pods, and take it down again.
    #[command(subcommand)]
    Kube(kube::KubeCommand),
    /// Run a Job's pods to completion (started by oxpod itself).
    #[command(hide = true)]
    JobController(kube::JobControllerArgs),
    /// Spread a Service's connections over its endpoints (started by oxpod itself).
    #[command(hide = true)]
    ServiceProxy(kube::ServiceProxyArgs),
    /// Manage networks.
    #[command(subcommand)]
    Network(networks::NetworkCommand),
    /// Be PID 1 of a pod's PID namespace (started by oxpod itself).
    #[command(hide = true)]
    PodInfra(pods::PodInfraArgs),
    /// Forward published ports into a network namespace (started by oxpod itself).
    #[command(hide = true)]
    PortProxy(networks::PortProxyArgs),
    /// Log in to a container registry.
    Login(login::LoginArgs),
    /// Log out of a container registry.
    Logout(login::LogoutArgs),
}

/// Print an error the way users read it: one `Error:` line (plus help) for plain errors, and
/// miette's full rendering, with the source snippet, for diagnostics that point into a file.
pub fn render_error(report: &miette::Report) {
    // Diagnostics that point into a manifest (or hold several that do) get miette's full
    // rendering, with the snippet.
    let points_into_source = report
        .labels()
        .is_some_and(|mut labels| labels.next().is_some())
        || report
            .related()
            .is_some_and(|mut related| related.next().is_some());
    if points_into_source {
        eprintln!("Error: {report:?}");
    } else {
        eprintln!("Error: {report}");
        if let Some(help) = report.help() {
            eprintln!("  help: {help}");
        }
    }
}

/// Apply `f` to each name, printing what it returns; keep going past failures, which are
/// printed; exit 125 when any failed (as Podman's multi-container verbs do).
pub(crate) fn each(
    names: &[String],
    mut f: impl FnMut(&str) -> crate::engine::Result<String>,
) -> CliResult {
    let mut code = 0;
    for name in names {
        match f(name) {
            Ok(out) => println!("{out}"),
            Err(e) => {
                render_error(&miette::Report::new(e));
                code = EXIT_ERROR;
            }
        }
    }
    Ok(code)
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> CliResult {
    let global = &cli.global;
    match cli.command {
        Command::Version(args) => system::version(args),
        Command::Info(args) => system::info(global, args),
        Command::Completion(args) => system::completion(args),
        Command::Pull(args) => images::pull(global, args),
        Command::Push(args) => images::push(global, args),
        Command::Images(args) => images::list(global, args),
        Command::Tag(args) => images::tag(global, args),
        Command::Rmi(args) => images::rmi(global, args),
        Command::Save(args) => images::save(global, args),
        Command::Load(args) => images::load(global, args),
        Command::Import(args) => images::import(global, args),
        Command::Image(cmd) => images::image(global, cmd),
        Command::Create(args) => containers::create(global, args),
        Command::Run(args) => containers::run(global, args),
        Command::Start(args) => containers::start(global, args),
        Command::Stop(args) => containers::stop(global, args),
        Command::Restart(args) => containers::restart(global, args),
        Command::Kill(args) => containers::kill(global, args),
        Command::Rm(args) => containers::rm(global, args),
        Command::Ps(args) => containers::ps(global, args),
        Command::Logs(args) => containers::logs(global, args),
        Command::Wait(args) => containers::wait(global, args),
        Command::Inspect(args) => containers::inspect(global, args),
        Command::Exec(args) => ops::exec(global, args),
        Command::Top(args) => ops::top(global, args),
        Command::Pause(args) => ops::pause(global, args),
        Command::Unpause(args) => ops::unpause(global, args),
        Command::Rename(args) => ops::rename(global, args),
        Command::Cp(args) => ops::cp(global, args),
        Command::Stats(args) => ops::stats(global, args),
        Command::Port(args) => ops::port(global, args),
        Command::Container(cmd) => containers::container(global, cmd),
        Command::Healthcheck(cmd) => healthcheck::healthcheck(global, cmd),
        Command::ContainerMonitor(args) => containers::monitor(global, args),
        Command::ContainerExecHelper(args) => ops::exec_helper(global, args),
        Command::Volume(cmd) => volumes::volume(global, cmd),
        Command::Pod(cmd) => pods::pod(global, cmd),
        Command::Kube(cmd) => kube::kube(global, cmd),
        Command::ServiceProxy(args) => kube::service_proxy(args),
        Command::JobController(args) => kube::job_controller(global, args),
        Command::Network(cmd) => networks::network(global, cmd),
        Command::PortProxy(args) => networks::port_proxy(args),
        Command::PodInfra(args) => pods::pod_infra(global, args),
        Command::Login(args) => login::login(global, args),
        Command::Logout(args) => login::logout(global, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
