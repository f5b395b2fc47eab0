//! `kube validate`: the checks `kube play` runs before it makes anything, on their own, for
//! people and for tools; and the hidden `kube schemas`, which writes the JSON Schemas.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{IntoDiagnostic, WrapErr};
use serde_json::{Value, json};

use super::CliResult;
use crate::kube::validate::{self, DocumentFindings};
use crate::kube::yaml::{self, Document, KubeDiagnostic, Source};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Warnings (fields play does not honour, references to objects only the store could
    /// hold) fail the check too.
    #[arg(long)]
    strict: bool,
    /// `text`: diagnostics with the lines they point at; `json`: one array of findings on
    /// stdout, for tools.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// YAML or JSON files, directories, http URLs, or - for stdin.
    #[arg(required = true)]
    inputs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Exit status when some input is invalid (as other manifest validators report it).
const EXIT_INVALID: u8 = 1;

/// One finding, and the document it belongs to (none for a file that is not YAML at all).
struct Finding<'d> {
    doc: Option<&'d Document>,
    diagnostic: KubeDiagnostic,
}

pub fn validate_cmd(args: ValidateArgs) -> CliResult {
    let mut sources = Vec::new();
    for arg in &args.inputs {
        sources.extend(Source::read(arg)?.into_iter().map(Arc::new));
    }
    // Each source on its own, so a syntax error in one file does not hide the others' findings.
    let mut docs = Vec::new();
    let mut syntax = Vec::new();
    for source in &sources {
        match yaml::parse(std::slice::from_ref(source)) {
            Ok(mut d) => docs.append(&mut d),
            Err(errors) => syntax.extend(errors.0),
        }
    }
    let findings = validate::inspect(&docs, args.strict);
    let mut per_doc: Vec<DocumentFindings> = findings.documents;
    // validate does not look at the store: what the input lacks is for play to find there.
    for r in findings.references.iter().filter(|r| !r.optional) {
        let d = &mut per_doc[r.document];
        if args.strict {
            d.errors.push(r.unresolved.clone());
        } else {
            d.warnings.push(r.unresolved.clone().warning());
        }
    }

    let mut all: Vec<Finding> = syntax
        .into_iter()
        .map(|diagnostic| Finding {
            doc: None,
            diagnostic,
        })
        .collect();
    let mut invalid = 0;
    let mut warnings = 0;
    for (doc, found) in docs.iter().zip(per_doc) {
        invalid += usize::from(!found.errors.is_empty());
        warnings += found.warnings.len();
        let mut here: Vec<KubeDiagnostic> = found.errors;
        here.extend(found.warnings);
        // In the order they appear in the file.
        here.sort_by_key(|d| d.span().offset());
        all.extend(here.into_iter().map(|diagnostic| Finding {
            doc: Some(doc),
            diagnostic,
        }));
    }

    let summary = summary(docs.len(), invalid, warnings, sources_with_errors(&all));
    match args.output {
        Output::Text => {
            for f in &all {
                let report = match sources.iter().find(|s| s.name == f.diagnostic.file()) {
                    Some(source) => miette::Report::new(Excerpted::new(&f.diagnostic, source)),
                    None => miette::Report::new(f.diagnostic.clone()),
                };
                eprintln!("{report:?}");
            }
            println!("{summary}");
        }
        Output::Json => {
            let list: Vec<Value> = all.iter().map(to_json).collect();
            let text = serde_json::to_string_pretty(&list).into_diagnostic()?;
            println!("{text}");
            eprintln!("{summary}");
        }
    }
    let syntax_errors = all.iter().any(|f| f.doc.is_none());
    let failed = invalid > 0 || syntax_errors || (args.strict && warnings > 0);
    Ok(if failed { EXIT_INVALID } else { 0 })
}

fn sources_with_errors(all: &[Finding]) -> usize {
    all.iter().filter(|f| f.doc.is_none()).count()
}

/// `3 resources: 2 valid, 1 invalid (2 warnings); 1 file is not valid YAML`.
fn summary(resources: usize, invalid: usize, warnings: usize, broken_files: usize) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut s = format!(
        "{}: {} valid",
        plural(resources, "resource", "resources"),
        resources - invalid
    );
    if invalid > 0 {
        s.push_str(&format!(", {invalid} invalid"));
    }
    if warnings > 0 {
        s.push_str(&format!(" ({})", plural(warnings, "warning", "warnings")));
    }
    if broken_files > 0 {
        s.push_str(&format!(
            "; {} not valid YAML",
            plural(broken_files, "file is", "files are")
        ));
    }
    s
}

fn to_json(f: &Finding) -> Value {
    let d = &f.diagnostic;
    json!({
        "file": d.file(),
        "line": d.line(),
        "column": d.column(),
        "kind": f.doc.and_then(Document::kind),
        "name": f.doc.and_then(Document::name),
        "severity": if d.is_warning() { "warning" } else { "error" },
        "message": d.message(),
        "help": d.help_text(),
        "pointer": d.pointer(),
    })
}

/// A diagnostic rendered from a few lines around its label rather than from the whole source:
/// miette finds a label's line by reading the source from its start, which for hundreds of
/// findings in a large file costs more than validating it.
#[derive(Debug)]
struct Excerpted {
    inner: KubeDiagnostic,
    excerpt: Excerpt,
}

/// Lines `first_line..` of a source (0-based), which start at byte `start` of it.
#[derive(Debug)]
struct Excerpt {
    name: String,
    text: String,
    start: usize,
    first_line: usize,
}

/// Lines of context kept on each side of a label (miette shows one).
const EXCERPT_CONTEXT: usize = 3;

impl Excerpted {
    fn new(d: &KubeDiagnostic, source: &Source) -> Self {
        let text = &*source.text;
        let at = d.span().offset().min(text.len());
        let end = (at + d.span().len()).min(text.len());
        let start = text[..at]
            .rmatch_indices('\n')
            .nth(EXCERPT_CONTEXT)
            .map_or(0, |(i, _)| i + 1);
        let stop = text[end..]
            .match_indices('\n')
            .nth(EXCERPT_CONTEXT)
            .map_or(text.len(), |(i, _)| end + i);
        // The diagnostic knows its own line; count back from it.
        let above = text[start..at].matches('\n').count();
        Excerpted {
            inner: d.clone(),
            excerpt: Excerpt {
                name: source.name.clone(),
                text: text[start..stop].to_string(),
                start,
                first_line: (d.line() - 1).saturating_sub(above),
            },
        }
    }
}

impl std::fmt::Display for Excerpted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::error::Error for Excerpted {}

impl miette::Diagnostic for Excerpted {
    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.inner.help()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.excerpt)
    }
}

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let local =
            miette::SourceSpan::from((span.offset().saturating_sub(self.start), span.len()));
        let inner = self
            .text
            .read_span(&local, context_lines_before, context_lines_after)?;
        let shown =
            miette::SourceSpan::from((inner.span().offset() + self.start, inner.span().len()));
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            shown,
            inner.line() + self.first_line,
            inner.column(),
            inner.line_count(),
        )))
    }
}

#[derive(Debug, clap::Args)]
pub struct SchemasArgs {
    /// Directory to write `[group-]version-kind.json` files into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Writes every schema, each to a temporary name first and renamed, so a reader never sees
/// half a file.
pub fn schemas_cmd(args: SchemasArgs) -> CliResult {
    std::fs::create_dir_all(&args.out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create {}", args.out.display()))?;
    for (file, text) in crate::kube::schema::generate() {
        let path = args.out.join(file);
        write_atomically(&path, text.as_bytes())
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(0)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn summary_line() {
        assert_eq!(summary(3, 0, 0, 0), "3 resources: 3 valid");
        assert_eq!(
            summary(1, 1, 1, 0),
            "1 resource: 0 valid, 1 invalid (1 warning)"
        );
        assert_eq!(
            summary(5, 2, 0, 2),
            "5 resources: 3 valid, 2 invalid; 2 files are not valid YAML"
        );
    }
}
