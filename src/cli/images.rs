//! Image commands: `pull`, `push`, `images`, `tag`, `rmi`, `save`, `load`, `import` and the
//! `image` group.

use std::io::Write;
use std::path::PathBuf;

use super::format::{self, Row};
use super::progress::Progress;
use super::{CliResult, GlobalOptions};
use crate::engine::{
    ArchiveFormat, Credentials, EngineError, ImageSummary, ImportOptions, Platform, PullOptions,
    PushOptions, RegistryOptions, RemoveReport, SaveOptions,
};

#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Require HTTPS and verify certificates (default: as registries.conf says).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    tls_verify: Option<bool>,
    /// Path of the authentication file.
    #[arg(long, env = "REGISTRY_AUTH_FILE")]
    authfile: Option<PathBuf>,
    /// Directory with CA certificates (`HOST:PORT/ca.crt`, or `*.crt` directly).
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Credentials `USERNAME[:PASSWORD]` for the registry.
    #[arg(long)]
    creds: Option<String>,
}

impl RegistryArgs {
    fn options(self) -> Result<RegistryOptions, miette::Report> {
        let credentials = match self.creds {
            None => None,
            Some(c) => {
                let (username, password) = c.split_once(':').unwrap_or((&c, ""));
                if username.is_empty() {
                    miette::bail!("--creds: the username is empty");
                }
                Some(Credentials {
                    username: username.to_string(),
                    password: password.to_string(),
                })
            }
        };
        Ok(RegistryOptions {
            tls_verify: self.tls_verify,
            authfile: self.authfile,
            cert_dir: self.cert_dir,
            credentials,
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Print only the image ID.
    #[arg(short, long)]
    quiet: bool,
    /// Pull the image for this platform (OS/ARCH[/VARIANT]) from a multi-arch index.
    #[arg(long)]
    platform: Option<String>,
    /// Override the architecture of the platform.
    #[arg(long)]
    arch: Option<String>,
    /// Override the OS of the platform.
    #[arg(long)]
    os: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The image to pull, e.g. busybox or registry.example.com/app:1.0.
    image: String,
}

pub fn pull(global: &GlobalOptions, args: PullArgs) -> CliResult {
    let mut platform = match &args.platform {
        Some(p) => Some(Platform::parse(p).map_err(|e| miette::miette!(e))?),
        None => None,
    };
    if args.arch.is_some() || args.os.is_some() {
        let mut p = platform.unwrap_or_else(Platform::host);
        if let Some(arch) = args.arch {
            p.architecture = arch;
        }
        if let Some(os) = args.os {
            p.os = os;
        }
        platform = Some(p);
    }
    let mut engine = global.engine()?;
    let progress = Progress::new(args.quiet);
    let report = engine.pull(
        &PullOptions {
            reference: args.image,
            platform,
            registry: args.registry.options()?,
        },
        &progress,
    )?;
    println!("{}", report.image_id);
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// Write the digest of the pushed manifest to this file.
    #[arg(long)]
    digestfile: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The local image to push.
    image: String,
    /// Where to push it (default: the image's own name).
    destination: Option<String>,
}

pub fn push(global: &GlobalOptions, args: PushArgs) -> CliResult {
    let mut engine = global.engine()?;
    let progress = Progress::new(args.quiet);
    let report = engine.push(
        &PushOptions {
            source: args.image,
            destination: args.destination,
            registry: args.registry.options()?,
        },
        &progress,
    )?;
    if let Some(path) = args.digestfile {
        std::fs::write(&path, &report.digest)
            .map_err(|e| miette::miette!("writing {}: {e}", path.display()))?;
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Show all images (intermediate images too; every image is shown already).
    #[arg(short, long)]
    all: bool,
    /// Show digests.
    #[arg(long)]
    digests: bool,
    /// Filter: reference=, dangling=, label=, id=, digest=, before=, since=.
    #[arg(short, long)]
    filter: Vec<String>,
    /// Output format: json, or a Go template such as {{.ID}} {{.Repository}}:{{.Tag}}.
    #[arg(long)]
    format: Option<String>,
    /// Do not print column headings.
    #[arg(short, long = "noheading")]
    noheading: bool,
    /// Do not truncate IDs.
    #[arg(long)]
    no_trunc: bool,
    /// Show only image IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Show images whose names match (as reference=).
    reference: Option<String>,
}

fn split_name(name: &str) -> (String, String) {
    if let Some((repo, _digest)) = name.split_once('@') {
        return (repo.to_string(), "<none>".to_string());
    }
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (name.to_string(), "<none>".to_string()),
    }
}

fn image_json(summary: &ImageSummary) -> serde_json::Value {
    serde_json::json!({
        "Id": summary.id,
        "ParentId": "",
        "RepoTags": match crate::engine::repo_tags(&summary.names) {
            tags if tags.is_empty() => serde_json::Value::Null,
            tags => serde_json::json!(tags),
        },
        "RepoDigests": summary.repo_digests,
        "Size": summary.size,
        "SharedSize": 0,
        "VirtualSize": summary.size,
        "Labels": summary.labels,
        "Containers": 0,
        "Names": summary.names,
        "Digest": summary.digest,
        "Dangling": summary.dangling,
        "Created": summary.created.map(|t| t.timestamp()),
        "CreatedAt": summary.created.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    })
}

pub fn list(global: &GlobalOptions, args: ListArgs) -> CliResult {
    let mut engine = global.engine()?;
    let mut filters = args.filter.clone();
    if let Some(r) = &args.reference {
        filters.push(format!("reference={r}"));
    }
    let images = engine.list_images(&filters)?;
    let mut out = std::io::stdout().lock();
    if args.format.as_deref() == Some("json") {
        let json: Vec<_> = images.iter().map(image_json).collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json).expect("serialisable")
        )
        .ok();
        return Ok(0);
    }
    let id = |s: &ImageSummary| {
        if args.no_trunc {
            format!("sha256:{}", s.id)
        } else {
            s.id[..12.min(s.id.len())].to_string()
        }
    };
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for image in &images {
            if seen.insert(image.id.clone()) {
                writeln!(out, "{}", id(image)).ok();
            }
        }
        return Ok(0);
    }
    let mut rows = Vec::new();
    for image in &images {
        let names = if image.names.is_empty() {
            vec![String::new()]
        } else {
            image.names.clone()
        };
        for name in names {
            let (repository, tag) = if name.is_empty() {
                ("<none>".into(), "<none>".into())
            } else {
                split_name(&name)
            };
            let mut row = Row::new();
            row.insert("Repository", repository);
            row.insert("Tag", tag);
            row.insert("ID", id(image));
            row.insert("Digest", image.digest.clone());
            row.insert("Created", format::human_age(image.created));
            row.insert(
                "CreatedAt",
                image.created.map(|t| t.to_string()).unwrap_or_default(),
            );
            row.insert("Size", format::human_size(image.size));
            row.insert("Dangling", image.dangling.to_string());
            rows.push(row);
        }
    }
    let text = match &args.format {
        Some(tmpl) => format::template(tmpl, &rows).map_err(|e| miette::miette!(e))?,
        None => {
            let mut headers = vec![("Repository", "REPOSITORY"), ("Tag", "TAG")];
            if args.digests {
                headers.push(("Digest", "DIGEST"));
            }
            headers.extend([("ID", "IMAGE ID"), ("Created", "CREATED"), ("Size", "SIZE")]);
            format::table(&headers, &rows, args.noheading)
        }
    };
    out.write_all(text.as_bytes()).ok();
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// The image to name.
    image: String,
    /// New names.
    #[arg(required = true)]
    targets: Vec<String>,
}

pub fn tag(global: &GlobalOptions, args: TagArgs) -> CliResult {
    global.engine()?.tag_image(&args.image, &args.targets)?;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Remove every image.
    #[arg(short, long)]
    all: bool,
    /// Remove images even when they have several names.
    #[arg(short, long)]
    force: bool,
    /// Succeed when an image does not exist.
    #[arg(short, long)]
    ignore: bool,
    /// Images to remove (names or IDs).
    images: Vec<String>,
}

fn print_removal(report: &RemoveReport) {
    for name in &report.untagged {
        println!("Untagged: {name}");
    }
    for id in &report.deleted {
        println!("Deleted: {id}");
    }
}

pub fn rmi(global: &GlobalOptions, args: RmiArgs) -> CliResult {
    if args.images.is_empty() && !args.all {
        miette::bail!("rmi needs at least one image name or ID, or --all");
    }
    let mut engine = global.engine()?;
    let report = engine.remove_images(&args.images, args.force, args.all)?;
    print_removal(&report);
    // Exit status as Podman: 1 when an image was unknown, 2 when one is in use or ambiguous.
    let mut code = 0;
    for error in report.errors {
        match error {
            EngineError::ImageNotFound(_) if args.ignore => {}
            EngineError::ImageNotFound(_) => {
                eprintln!("Error: {error}");
                code = code.max(1);
            }
            EngineError::Conflict(_) => {
                eprintln!("Error: {error}");
                code = code.max(2);
            }
            other => {
                super::render_error(&miette::Report::new(other));
                code = 125;
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value = "docker-archive")]
    format: ArchiveFormat,
    /// Accepted for compatibility: several images always go into one archive.
    #[arg(short = 'm', long)]
    multi_image_archive: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// Images to save.
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn save(global: &GlobalOptions, args: SaveArgs) -> CliResult {
    use std::io::IsTerminal;
    let mut engine = global.engine()?;
    let opts = SaveOptions {
        images: args.images,
        format: args.format,
    };
    match &args.output {
        Some(path) => engine.save_images_to_file(&opts, path)?,
        None => {
            if std::io::stdout().is_terminal() {
                miette::bail!(
                    "refusing to write an archive to a terminal: use --output FILE or redirect standard output"
                );
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            engine.save_images(&opts, &mut out)?;
            out.flush()
                .map_err(|e| miette::miette!("writing standard output: {e}"))?;
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Read from this archive instead of standard input.
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

pub fn load(global: &GlobalOptions, args: LoadArgs) -> CliResult {
    let mut engine = global.engine()?;
    let report = match &args.input {
        Some(path) => {
            let mut file = std::fs::File::open(path)
                .map_err(|e| miette::miette!("opening {}: {e}", path.display()))?;
            engine.load_images(&mut file)?
        }
        None => engine.load_images(&mut std::io::stdin().lock())?,
    };
    if !args.quiet {
        for name in &report.loaded {
            println!("Loaded image: {name}");
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR).
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message for the imported image.
    #[arg(short, long)]
    message: Option<String>,
    /// Print nothing but the image ID.
    #[arg(short, long)]
    quiet: bool,
    /// The tarball (`-` for standard input).
    source: String,
    /// Name for the new image.
    reference: Option<String>,
}

pub fn import(global: &GlobalOptions, args: ImportArgs) -> CliResult {
    let mut engine = global.engine()?;
    let opts = ImportOptions {
        reference: args.reference,
        changes: args.change,
        message: args.message,
    };
    let id = if args.source == "-" {
        engine.import_image(&mut std::io::stdin().lock(), &opts)?
    } else {
        let mut file = std::fs::File::open(&args.source)
            .map_err(|e| miette::miette!("opening {}: {e}", args.source))?;
        engine.import_image(&mut file, &opts)?
    };
    println!("{id}");
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Output format: json (default) or a Go template over the top-level fields.
    #[arg(short, long)]
    format: Option<String>,
    /// Images to inspect.
    #[arg(required = true)]
    images: Vec<String>,
}

fn inspect(global: &GlobalOptions, args: InspectArgs) -> CliResult {
    let mut engine = global.engine()?;
    let mut values = Vec::new();
    let mut code = 0;
    for name in &args.images {
        match engine.inspect_image(name) {
            Ok(v) => values.push(v),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 125;
            }
        }
    }
    match args.format.as_deref() {
        None | Some("json") => println!(
            "{}",
            serde_json::to_string_pretty(&values).expect("serialisable")
        ),
        Some(tmpl) => {
            let rows: Vec<Row> = values
                .iter()
                .map(|v| {
                    let mut row = Row::new();
                    for key in [
                        "Id",
                        "Digest",
                        "Created",
                        "Architecture",
                        "Os",
                        "Size",
                        "User",
                        "ManifestType",
                        "Author",
                    ] {
                        let value = match &v[key] {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        row.insert(key, value);
                    }
                    for key in ["RepoTags", "RepoDigests", "Labels", "Config", "RootFS"] {
                        row.insert(key, v[key].to_string());
                    }
                    row
                })
                .collect();
            print!(
                "{}",
                format::template(tmpl, &rows).map_err(|e| miette::miette!(e))?
            );
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Do not truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Show only IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Output format: json or a Go template.
    #[arg(long)]
    format: Option<String>,
    /// The image.
    image: String,
}

fn history(global: &GlobalOptions, args: HistoryArgs) -> CliResult {
    let mut engine = global.engine()?;
    let entries = engine.image_history(&args.image)?;
    if args.format.as_deref() == Some("json") {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("serialisable")
        );
        return Ok(0);
    }
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| {
            let mut row = Row::new();
            let id = if args.no_trunc || e.id == "<missing>" {
                e.id.clone()
            } else {
                e.id[..12.min(e.id.len())].to_string()
            };
            row.insert("ID", id);
            row.insert("Created", format::human_age(e.created));
            let by = if args.no_trunc || e.created_by.chars().count() <= 45 {
                e.created_by.clone()
            } else {
                format!("{}...", e.created_by.chars().take(42).collect::<String>())
            };
            row.insert("CreatedBy", by);
            row.insert("Size", format::human_size(e.size));
            row.insert("Comment", e.comment.clone());
            row
        })
        .collect();
    if args.quiet {
        for row in &rows {
            println!("{}", row["ID"]);
        }
        return Ok(0);
    }
    let text = match &args.format {
        Some(tmpl) => format::template(tmpl, &rows).map_err(|e| miette::miette!(e))?,
        None => format::table(
            &[
                ("ID", "ID"),
                ("Created", "CREATED"),
                ("CreatedBy", "CREATED BY"),
                ("Size", "SIZE"),
                ("Comment", "COMMENT"),
            ],
            &rows,
            false,
        ),
    };
    print!("{text}");
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only unnamed ones.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

fn prune(global: &GlobalOptions, args: PruneArgs) -> CliResult {
    use std::io::{BufRead, IsTerminal};
    if !args.force && std::io::stdin().is_terminal() {
        eprint!(
            "WARNING! This will remove all {} images.\nAre you sure you want to continue? [y/N] ",
            if args.all { "unused" } else { "dangling" }
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(0);
        }
    }
    let report = global.engine()?.prune_images(args.all)?;
    for id in &report.deleted {
        println!("{id}");
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct ExistsArgs {
    /// The image.
    image: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// List images in local storage.
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Pull an image from a registry.
    Pull(PullArgs),
    /// Push an image to a registry.
    Push(PushArgs),
    /// Remove one or more images.
    Rm(RmiArgs),
    /// Add names to a local image.
    Tag(TagArgs),
    /// Show details of images.
    Inspect(InspectArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Remove unused images.
    Prune(PruneArgs),
    /// Exit 0 when the image exists locally, 1 otherwise.
    Exists(ExistsArgs),
    /// Save images to an archive.
    Save(SaveArgs),
    /// Load images from an archive.
    Load(LoadArgs),
    /// Create an image from a root file system tarball.
    Import(ImportArgs),
}

pub fn image(global: &GlobalOptions, cmd: ImageCommand) -> CliResult {
    match cmd {
        ImageCommand::Ls(args) => list(global, args),
        ImageCommand::Pull(args) => pull(global, args),
        ImageCommand::Push(args) => push(global, args),
        ImageCommand::Rm(args) => rmi(global, args),
        ImageCommand::Tag(args) => tag(global, args),
        ImageCommand::Inspect(args) => inspect(global, args),
        ImageCommand::History(args) => history(global, args),
        ImageCommand::Prune(args) => prune(global, args),
        ImageCommand::Exists(args) => Ok(if global.engine()?.image_exists(&args.image)? {
            0
        } else {
            1
        }),
        ImageCommand::Save(args) => save(global, args),
        ImageCommand::Load(args) => load(global, args),
        ImageCommand::Import(args) => import(global, args),
    }
}
