//! Reading Kubernetes manifests: input sources (files, directories, stdin, http URLs), multi-document
//! YAML/JSON parsing into `serde_json::Value`, source positions for any JSON pointer, conversion to
//! typed k8s-openapi objects, and the diagnostics that point users at the exact line and column.
//!
//! All YAML handling of the crate lives here (see DESIGN.md, "YAML and validation"). Parsing is the
//! fast path: documents are parsed once by serde-saphyr; the pointer → span index is built from
//! granit-parser events only when a diagnostic for that source is actually produced.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, Severity, SourceCode, SourceSpan,
    SpanContents,
};
use serde_json::Value;
use serde_saphyr::granit_parser::{self, Event, ScalarStyle};

// ---------------------------------------------------------------------------------------------
// Input errors
// ---------------------------------------------------------------------------------------------

/// A problem getting at the input text itself (before any YAML is looked at).
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum KubeError {
    /// The I/O error is the diagnostic's cause (miette prints it below the message).
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not UTF-8 text")]
    #[diagnostic(help("Kubernetes manifests are UTF-8 YAML or JSON; convert the file first"))]
    NotUtf8 { path: String },
    #[error("no *.yaml, *.yml or *.json files in directory {path}")]
    NoManifests { path: String },
    #[error("cannot fetch {url}: {message}")]
    Http { url: String, message: String },
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

/// One input text: a file path, "-" for stdin, or a URL, with its contents.
///
/// It also caches the pointer → span index of its documents, built on first use: only sources
/// that end up with a diagnostic pay for it.
pub struct Source {
    /// What users see in messages: the path as given, `<stdin>`, or the URL.
    pub name: String,
    pub text: Arc<str>,
    spans: OnceLock<Vec<DocSpans>>,
    /// Byte offsets where each line starts, built on the first position asked for, so a
    /// file with many diagnostics is scanned once, not once per diagnostic.
    line_starts: OnceLock<Vec<usize>>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("len", &self.text.len())
            .finish()
    }
}

impl Source {
    /// A source from text already in memory (tests, generated manifests).
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        Source {
            name: name.into(),
            text: text.into(),
            spans: OnceLock::new(),
            line_starts: OnceLock::new(),
        }
    }

    /// Reads `arg`: a file, a directory (every `*.yaml`, `*.yml`, `*.json` in it, sorted by name,
    /// not recursive), `-` for stdin, or an `http://` URL.
    pub fn read(arg: &str) -> Result<Vec<Source>, KubeError> {
        if arg == "-" {
            let mut bytes = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map_err(|source| KubeError::Read {
                    path: "<stdin>".into(),
                    source,
                })?;
            return Ok(vec![Self::from_bytes("<stdin>", bytes)?]);
        }
        if let Some(scheme) = url_scheme(arg) {
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
                let bytes = http_get(arg)?;
                return Ok(vec![Self::from_bytes(arg, bytes)?]);
            }
            return Err(KubeError::Http {
                url: arg.into(),
                message: format!("unsupported URL scheme {scheme:?} (http:// and https:// are)"),
            });
        }
        let path = Path::new(arg);
        let meta = std::fs::metadata(path).map_err(|source| KubeError::Read {
            path: arg.into(),
            source,
        })?;
        if !meta.is_dir() {
            return Ok(vec![Self::read_file(path)?]);
        }
        let entries = std::fs::read_dir(path).map_err(|source| KubeError::Read {
            path: arg.into(),
            source,
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| KubeError::Read {
                path: arg.into(),
                source,
            })?;
            let p = entry.path();
            let is_manifest = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            // `metadata` follows symlinks, so a link to a manifest counts as one.
            if is_manifest && std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
                files.push(p);
            }
        }
        if files.is_empty() {
            return Err(KubeError::NoManifests { path: arg.into() });
        }
        files.sort();
        files.iter().map(|p| Self::read_file(p)).collect()
    }

    fn read_file(path: &Path) -> Result<Source, KubeError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| KubeError::Read {
            path: name.clone(),
            source,
        })?;
        Self::from_bytes(&name, bytes)
    }

    fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Source, KubeError> {
        let text =
            String::from_utf8(bytes).map_err(|_| KubeError::NotUtf8 { path: name.into() })?;
        Ok(Source::new(name, text))
    }

    /// The span index of every (non-empty) document, built once per source.
    fn doc_spans(&self) -> &[DocSpans] {
        self.spans.get_or_init(|| index_spans(&self.text))
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col_at(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset);
        let starts = self.line_starts();
        let line = starts.partition_point(|&s| s <= offset);
        let line_start = starts[line - 1];
        (line, self.text[line_start..offset].chars().count() + 1)
    }

    /// Byte offset of a 1-based line and character column (as reported by the YAML parser).
    fn offset_of(&self, line: usize, column: usize) -> usize {
        let text = &*self.text;
        let Some(&start) = self.line_starts().get(line.max(1) - 1) else {
            return text.len();
        };
        let rest = &text[start..];
        let col = rest
            .char_indices()
            .take_while(|&(_, c)| c != '\n')
            .nth(column.saturating_sub(1))
            .map_or_else(|| rest.find('\n').unwrap_or(rest.len()), |(i, _)| i);
        start + col
    }
}

/// Diagnostics render snippets straight from the shared source, named by its file.
impl SourceCode for Source {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = (*self.text).read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `Some("http")` for `http://...`; `None` for paths (including Windows-like `C:\x`).
fn url_scheme(arg: &str) -> Option<&str> {
    let (scheme, _) = arg.split_once("://")?;
    let ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some(scheme)
}

// ---------------------------------------------------------------------------------------------
// http:// input: a tiny blocking HTTP/1.0 GET, enough for `kube play http://host/app.yaml`
// ---------------------------------------------------------------------------------------------

const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
const HTTP_MAX_BYTES: u64 = 64 << 20;
const HTTP_MAX_REDIRECTS: usize = 5;

fn http_get(url: &str) -> Result<Vec<u8>, KubeError> {
    let fail = |message: String| KubeError::Http {
        url: url.into(),
        message,
    };
    let mut current = url.to_string();
    for _ in 0..=HTTP_MAX_REDIRECTS {
        let (status, headers, body) = http_get_once(&current).map_err(fail)?;
        match status {
            200..=299 => return Ok(body),
            301 | 302 | 303 | 307 | 308 => {
                let location = header(&headers, "location")
                    .ok_or_else(|| fail(format!("redirect {status} without a Location")))?;
                current = if location.starts_with('/') {
                    let (host, _, _) = split_http_url(&current).map_err(fail)?;
                    let scheme = url_scheme(&current).unwrap_or("http");
                    format!("{scheme}://{host}{location}")
                } else {
                    location.to_string()
                };
                if let Some(scheme) = url_scheme(&current)
                    && !scheme.eq_ignore_ascii_case("http")
                    && !scheme.eq_ignore_ascii_case("https")
                {
                    return Err(fail(format!("redirected to unsupported URL {current}")));
                }
            }
            _ => {
                let reason = headers.lines().next().unwrap_or_default().to_string();
                return Err(fail(format!("server answered {reason}")));
            }
        }
    }
    Err(fail(format!("more than {HTTP_MAX_REDIRECTS} redirects")))
}

/// Splits `http://host[:port]/path` into (`host[:port]`, connect address, path).
fn split_http_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err("the URL needs a host (and no user info)".into());
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let https = url_scheme(url).is_some_and(|s| s.eq_ignore_ascii_case("https"));
    let addr = if has_port {
        authority.to_string()
    } else if https {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    };
    Ok((authority.to_string(), addr, path))
}

/// One request: returns (status, header block, body).
fn http_get_once(url: &str) -> Result<(u16, String, Vec<u8>), String> {
    let (host, addr, path) = split_http_url(url)?;
    let addrs = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last_err = format!("{host} has no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, HTTP_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = format!("cannot connect to {a}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last_err)?;
    let io_err = |e: io::Error| e.to_string();
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .map_err(io_err)?;
    stream
        .set_write_timeout(Some(HTTP_TIMEOUT))
        .map_err(io_err)?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: oxpod/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut response = Vec::new();
    if url_scheme(url).is_some_and(|s| s.eq_ignore_ascii_case("https")) {
        let mut tls = tls_stream(&host, stream)?;
        tls.write_all(request.as_bytes()).map_err(io_err)?;
        match (&mut tls)
            .take(HTTP_MAX_BYTES + 1)
            .read_to_end(&mut response)
        {
            Ok(_) => {}
            // Servers that close without close_notify: what came is the whole answer.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
            Err(e) => return Err(io_err(e)),
        }
    } else {
        stream.write_all(request.as_bytes()).map_err(io_err)?;
        stream
            .take(HTTP_MAX_BYTES + 1)
            .read_to_end(&mut response)
            .map_err(io_err)?;
    }
    if response.len() as u64 > HTTP_MAX_BYTES {
        return Err(format!("response larger than {} MiB", HTTP_MAX_BYTES >> 20));
    }
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP response (no end of headers)")?;
    let headers = String::from_utf8_lossy(&response[..end]).into_owned();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("malformed HTTP status line")?;
    let mut body = response[end + 4..].to_vec();
    if header(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body).ok_or("malformed chunked body")?;
    }
    Ok((status, headers, body))
}

/// TLS over `stream`, verified against the system's CAs (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override them, as for other tools).
fn tls_stream(
    authority: &str,
    stream: TcpStream,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err("no CA certificates found to verify the server with".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("invalid server name {host:?}: {e}"))?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    Ok(rustls::StreamOwned::new(conn, stream))
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Chunked transfer decoding, in case a server answers HTTP/1.0 with it anyway.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_line = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Diagnostics
// ---------------------------------------------------------------------------------------------

/// A user-facing diagnostic pointing into a source: rendered by miette with the file name, a
/// snippet and a label, or as one line `FILE:LINE:COL: message`.
///
/// `Diagnostic` is implemented by hand (rather than derived) so that the severity can be chosen
/// at run time: validation reports the same finding as a warning or, with `--strict`, an error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.message)]
pub struct KubeDiagnostic(Box<Inner>);

/// Boxed so that `Result<_, KubeDiagnostic>` stays one word wide.
#[derive(Debug, Clone)]
struct Inner {
    message: String,
    help: Option<String>,
    label: Option<String>,
    severity: Severity,
    src: Arc<Source>,
    span: SourceSpan,
    line: usize,
    column: usize,
    pointer: String,
}

impl KubeDiagnostic {
    /// A diagnostic at `span` (byte offset, length) of `source`; `pointer` is informational.
    pub fn new(
        source: &Arc<Source>,
        span: SourceSpan,
        pointer: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        let (line, column) = source.line_col_at(span.offset());
        KubeDiagnostic(Box::new(Inner {
            message: message.into(),
            help,
            label: None,
            severity: Severity::Error,
            src: source.clone(),
            span,
            line,
            column,
            pointer: pointer.into(),
        }))
    }

    /// `FILE:LINE:COL: message`, for logs, tests and `--quiet` style output.
    pub fn one_line(&self) -> String {
        let sev = if self.0.severity == Severity::Warning {
            "warning: "
        } else {
            ""
        };
        format!(
            "{}:{}:{}: {sev}{}",
            self.0.src.name.as_str(),
            self.0.line,
            self.0.column,
            self.0.message
        )
    }

    /// Reports it as a warning instead of an error.
    pub fn warning(mut self) -> Self {
        self.0.severity = Severity::Warning;
        self
    }

    /// A short text shown at the label under the source line.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.0.label = Some(label.into());
        self
    }

    pub fn is_warning(&self) -> bool {
        self.0.severity == Severity::Warning
    }
    pub fn message(&self) -> &str {
        &self.0.message
    }
    pub fn help_text(&self) -> Option<&str> {
        self.0.help.as_deref()
    }
    /// The name of the source (file path, `<stdin>` or URL).
    pub fn file(&self) -> &str {
        self.0.src.name.as_str()
    }
    /// 1-based line of the label.
    pub fn line(&self) -> usize {
        self.0.line
    }
    /// 1-based column (in characters) of the label.
    pub fn column(&self) -> usize {
        self.0.column
    }
    /// The JSON pointer (from the document root) the diagnostic is about; "" when none.
    pub fn pointer(&self) -> &str {
        &self.0.pointer
    }
    pub fn span(&self) -> SourceSpan {
        self.0.span
    }
}

impl Diagnostic for KubeDiagnostic {
    fn severity(&self) -> Option<Severity> {
        Some(self.0.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&*self.0.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let label = LabeledSpan::new_with_span(self.0.label.clone(), self.0.span);
        Some(Box::new(std::iter::once(label)))
    }
}

/// Several diagnostics: every problem of the input, not just the first.
#[derive(Debug, Clone, Default, thiserror::Error, Diagnostic)]
#[error("{}", summary(.0))]
pub struct KubeErrors(#[related] pub Vec<KubeDiagnostic>);

fn summary(diags: &[KubeDiagnostic]) -> String {
    let errors = diags.iter().filter(|d| !d.is_warning()).count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (e, 0) => format!("{} in the manifests", plural(e, "error")),
        (0, w) => format!("{} in the manifests", plural(w, "warning")),
        (e, w) => format!(
            "{} and {} in the manifests",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

impl KubeErrors {
    /// Every diagnostic as `FILE:LINE:COL: message`, one a line.
    pub fn one_line(&self) -> String {
        self.0
            .iter()
            .map(KubeDiagnostic::one_line)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl From<KubeDiagnostic> for KubeErrors {
    fn from(d: KubeDiagnostic) -> Self {
        KubeErrors(vec![d])
    }
}

// ---------------------------------------------------------------------------------------------
// Documents and parsing
// ---------------------------------------------------------------------------------------------

/// One YAML/JSON document of a source (or one item of a `kind: List` document).
#[derive(Debug, Clone)]
pub struct Document {
    pub source: Arc<Source>,
    /// 0-based index among the non-empty documents of its source.
    pub index: usize,
    /// Where `value` sits in the document: "" normally, `/items/3` for the 4th item of a List.
    /// Pointers given to [`Document::span`] and friends are relative to `value`.
    pub prefix: String,
    pub value: Value,
}

impl Document {
    /// The span (byte offset, length) of the value at `pointer` (relative to `self.value`, e.g.
    /// `/spec/containers/0/image`). Scalars are labelled themselves; mappings and sequences by
    /// their key (a label over a whole block is noise). Falls back to the nearest parent that
    /// exists in the text (fields added by defaults or merges have no position of their own).
    pub fn span(&self, pointer: &str) -> SourceSpan {
        let (node, exact) = self.lookup(pointer);
        let Some(node) = node else {
            return SourceSpan::from((0, 0));
        };
        match (&node.key, exact) {
            // A missing child: point at the parent's key, which is where it should be added.
            (Some(key), false) => to_span(key),
            (Some(key), true) if node.collection || node.value.is_empty() => to_span(key),
            (None, _) if node.collection => to_span(&(node.value.start..node.value.start)),
            _ => to_span(&node.value),
        }
    }

    /// The span of the key of the entry at `pointer` (e.g. an unknown field's name); the value's
    /// span for sequence items and the document root.
    pub fn key_span(&self, pointer: &str) -> SourceSpan {
        match self.lookup(pointer) {
            (Some(Node { key: Some(key), .. }), true) => to_span(key),
            _ => self.span(pointer),
        }
    }

    /// Line and column (1-based) of [`Document::span`], for one-line messages.
    pub fn line_col(&self, pointer: &str) -> (usize, usize) {
        self.source.line_col_at(self.span(pointer).offset())
    }

    /// An error diagnostic labelled at `pointer` (see [`Document::span`]).
    pub fn error(
        &self,
        pointer: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) -> KubeDiagnostic {
        let full = format!("{}{pointer}", self.prefix);
        KubeDiagnostic::new(&self.source, self.span(pointer), full, message, help)
    }

    /// Like [`Document::error`], labelled at the key of `pointer` (for unknown fields).
    pub fn key_error(
        &self,
        pointer: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) -> KubeDiagnostic {
        let full = format!("{}{pointer}", self.prefix);
        KubeDiagnostic::new(&self.source, self.key_span(pointer), full, message, help)
    }

    /// `kind` of the document, if it is a string.
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind")?.as_str()
    }

    /// `metadata.name`, if it is a string.
    pub fn name(&self) -> Option<&str> {
        self.value.get("metadata")?.get("name")?.as_str()
    }

    /// The nearest recorded node for `pointer`, and whether it is that exact pointer.
    fn lookup(&self, pointer: &str) -> (Option<&Node>, bool) {
        let Some(spans) = self.source.doc_spans().get(self.index) else {
            return (None, false);
        };
        let mut full = format!("{}{pointer}", self.prefix);
        let mut exact = true;
        loop {
            if let Some(node) = spans.get(full.as_str()) {
                return (Some(node), exact);
            }
            match full.rfind('/') {
                Some(i) => full.truncate(i),
                None => return (None, false),
            }
            exact = false;
        }
    }
}

fn to_span(r: &Range<usize>) -> SourceSpan {
    SourceSpan::from((r.start, r.end - r.start))
}

/// serde-saphyr options: kubectl's reading of YAML, with budgets scaled to the input so large
/// multi-document files are not refused (alias-bomb limits stay at their defaults).
fn parse_options(text: &str) -> serde_saphyr::Options {
    let len = text.len();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = budget.max_documents.max(len / 3 + 1);
    budget.max_nodes = budget.max_nodes.max(len + 1);
    budget.max_events = budget.max_events.max(2 * len + 16);
    serde_saphyr::options! {
        budget: Some(budget),
        // `defaultMode: 0644` means 420, as kubectl (YAML 1.1) reads it.
        legacy_octal_numbers: true,
        emit_comments: false,
        // Errors are rendered by us, with the file name; no snippet to build.
        with_snippet: false,
        crop_radius: 0,
    }
}

/// Parses every source into documents: multi-document YAML and JSON, empty documents skipped,
/// `kind: List` (and any `*List` with `items`) expanded into one document per item. All syntax
/// errors are returned (one per source: a parser cannot resume inside a broken document).
pub fn parse(sources: &[Arc<Source>]) -> Result<Vec<Document>, KubeErrors> {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for source in sources {
        match serde_saphyr::from_multiple_with_options::<Value>(
            &source.text,
            parse_options(&source.text),
        ) {
            Ok(values) => {
                for (index, value) in values.into_iter().enumerate() {
                    push_document(&mut docs, source, index, value);
                }
            }
            Err(e) => errors.push(syntax_diagnostic(source, &e)),
        }
    }
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(KubeErrors(errors))
    }
}

fn push_document(docs: &mut Vec<Document>, source: &Arc<Source>, index: usize, value: Value) {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    if !is_list {
        docs.push(Document {
            source: source.clone(),
            index,
            prefix: String::new(),
            value,
        });
        return;
    }
    let Value::Object(mut map) = value else {
        return;
    };
    let Some(Value::Array(items)) = map.remove("items") else {
        return;
    };
    for (i, item) in items.into_iter().enumerate() {
        docs.push(Document {
            source: source.clone(),
            index,
            prefix: format!("/items/{i}"),
            value: item,
        });
    }
}

fn syntax_diagnostic(source: &Arc<Source>, e: &serde_saphyr::Error) -> KubeDiagnostic {
    use serde_saphyr::MessageFormatter as _;
    let e = e.without_snippet();
    // The message can quote the input: keep control characters from reaching the terminal.
    let mut message = String::new();
    for c in serde_saphyr::UserMessageFormatter.format_message(e).chars() {
        if c.is_control() {
            message.extend(c.escape_default());
        } else {
            message.push(c);
        }
    }
    let span = match e.location() {
        Some(loc) => {
            let start = source.offset_of(loc.line() as usize, loc.column() as usize);
            let chars = loc.span().len() as usize;
            let len: usize = source.text[start..]
                .chars()
                .take(chars)
                .map(char::len_utf8)
                .sum();
            SourceSpan::from((start, len))
        }
        None => SourceSpan::from((source.text.len(), 0)),
    };
    KubeDiagnostic::new(source, span, "", format!("invalid YAML: {message}"), None)
}

// ---------------------------------------------------------------------------------------------
// The pointer → span index (built from parser events, only for sources with diagnostics)
// ---------------------------------------------------------------------------------------------

/// Where one node sits in the text: its key (for mapping entries) and its value. For
/// collections `value` runs from the opening token (or first entry) to the closing one.
#[derive(Debug, Clone)]
struct Node {
    key: Option<Range<usize>>,
    value: Range<usize>,
    collection: bool,
}

/// Pointer (from the document root) → node, for one document.
type DocSpans = HashMap<Box<str>, Node>;

/// An open collection while walking events. `pointer` is `None` inside parts we cannot address
/// (complex keys).
struct Frame {
    pointer: Option<String>,
    kind: FrameKind,
}

enum FrameKind {
    Map {
        pending_key: Option<(String, Range<usize>)>,
        expecting_key: bool,
    },
    Seq {
        next: usize,
    },
}

/// Walks the whole source once and indexes every non-empty document, in the same order (and
/// with the same empty-document rule) as serde-saphyr's `from_multiple`.
fn index_spans(text: &str) -> Vec<DocSpans> {
    let mut options = granit_parser::Options::default();
    options.set_emit_comments(false);
    let parser = granit_parser::Parser::new_from_str_with_options(text, options);

    let mut docs = Vec::new();
    let mut current: Option<DocSpans> = None;
    let mut stack: Vec<Frame> = Vec::new();
    let mut at_root = false;
    for event in parser {
        // Sources reaching here parsed cleanly; on a surprise keep what was indexed so far.
        let Ok((event, span)) = event else { break };
        let range = span.byte_range().unwrap_or(0..0);
        match event {
            Event::DocumentStart(..) => {
                stack.clear();
                current = None;
                at_root = true;
            }
            Event::DocumentEnd => docs.extend(current.take()),
            Event::Scalar(value, style, _, tag) => {
                if std::mem::take(&mut at_root) {
                    let null_tag = tag
                        .as_ref()
                        .is_some_and(|t| t.is_yaml_core_schema_tag("null"));
                    let untagged_null = tag.is_none()
                        && style == ScalarStyle::Plain
                        && matches!(&*value, "" | "~" | "null" | "Null" | "NULL");
                    if null_tag || untagged_null {
                        continue; // serde-saphyr skips this document too
                    }
                    current = Some(DocSpans::new());
                }
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                if let Some((pointer, key)) = place(&mut stack, Some(&value), &range) {
                    doc.insert(
                        pointer.into(),
                        Node {
                            key,
                            value: range,
                            collection: false,
                        },
                    );
                }
            }
            Event::Alias(_) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                if let Some((pointer, key)) = place(&mut stack, None, &range) {
                    doc.insert(
                        pointer.into(),
                        Node {
                            key,
                            value: range,
                            collection: false,
                        },
                    );
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if std::mem::take(&mut at_root) {
                    current = Some(DocSpans::new());
                }
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                let placed = place(&mut stack, None, &range);
                let pointer = placed.map(|(pointer, key)| {
                    doc.insert(
                        pointer.as_str().into(),
                        Node {
                            key,
                            value: range,
                            collection: true,
                        },
                    );
                    pointer
                });
                let kind = if matches!(event, Event::MappingStart(..)) {
                    FrameKind::Map {
                        pending_key: None,
                        expecting_key: true,
                    }
                } else {
                    FrameKind::Seq { next: 0 }
                };
                stack.push(Frame { pointer, kind });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(frame) = stack.pop() else { continue };
                if let (Some(doc), Some(pointer)) = (current.as_mut(), frame.pointer)
                    && let Some(node) = doc.get_mut(pointer.as_str())
                {
                    node.value.end = node.value.end.max(range.end);
                }
            }
            _ => {}
        }
    }
    docs
}

/// Decides where the next node goes. Returns its pointer and key span, or `None` when the node
/// is a mapping key (remembered for the value that follows) or cannot be addressed.
/// `scalar` is the text of a scalar node (keys must be scalars to be addressable).
fn place(
    stack: &mut [Frame],
    scalar: Option<&str>,
    range: &Range<usize>,
) -> Option<(String, Option<Range<usize>>)> {
    let Some(top) = stack.last_mut() else {
        return Some((String::new(), None));
    };
    match &mut top.kind {
        FrameKind::Seq { next } => {
            let i = *next;
            *next += 1;
            Some((format!("{}/{i}", top.pointer.as_ref()?), None))
        }
        FrameKind::Map {
            pending_key,
            expecting_key,
        } => {
            if *expecting_key {
                *expecting_key = false;
                *pending_key = scalar.map(|k| (escape_pointer(k), range.clone()));
                // A complex (collection) key: it and its value cannot be addressed.
                return None;
            }
            *expecting_key = true;
            let (key, key_range) = pending_key.take()?;
            Some((format!("{}/{key}", top.pointer.as_ref()?), Some(key_range)))
        }
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn escape_pointer(segment: &str) -> String {
    if segment.contains(['~', '/']) {
        segment.replace('~', "~0").replace('/', "~1")
    } else {
        segment.to_string()
    }
}

/// `/spec/containers/0/image` → `spec.containers[0].image`, as kubectl names fields.
pub fn display_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else if seg.contains(['.', '/', '[', ']']) || seg.is_empty() {
            out.push_str(&format!("[{seg:?}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Typed objects
// ---------------------------------------------------------------------------------------------

/// The kinds play understands, typed (k8s-openapi); anything else is `Other`.
#[derive(Debug, Clone)]
// Objects are few and short-lived; boxing every variant would only add noise at match sites.
#[allow(clippy::large_enum_variant)]
pub enum Object {
    Pod(Pod),
    Deployment(Deployment),
    ReplicaSet(ReplicaSet),
    StatefulSet(StatefulSet),
    DaemonSet(DaemonSet),
    Job(Job),
    CronJob(CronJob),
    Service(Service),
    ConfigMap(ConfigMap),
    Secret(Secret),
    PersistentVolumeClaim(PersistentVolumeClaim),
    Namespace(Namespace),
    Other { api_version: String, kind: String },
}

impl Object {
    /// The `kind` of the object.
    pub fn kind(&self) -> &str {
        match self {
            Object::Pod(_) => Pod::KIND,
            Object::Deployment(_) => Deployment::KIND,
            Object::ReplicaSet(_) => ReplicaSet::KIND,
            Object::StatefulSet(_) => StatefulSet::KIND,
            Object::DaemonSet(_) => DaemonSet::KIND,
            Object::Job(_) => Job::KIND,
            Object::CronJob(_) => CronJob::KIND,
            Object::Service(_) => Service::KIND,
            Object::ConfigMap(_) => ConfigMap::KIND,
            Object::Secret(_) => Secret::KIND,
            Object::PersistentVolumeClaim(_) => PersistentVolumeClaim::KIND,
            Object::Namespace(_) => Namespace::KIND,
            Object::Other { kind, .. } => kind,
        }
    }

    /// The object's metadata (`None` for kinds play does not type).
    pub fn metadata(&self) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta> {
        Some(match self {
            Object::Pod(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::DaemonSet(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
            Object::CronJob(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
            Object::Other { .. } => return None,
        })
    }
}

/// `(kind, apiVersion)` of every kind [`Object`] types.
const KNOWN_KINDS: [(&str, &str); 12] = [
    (Pod::KIND, Pod::API_VERSION),
    (Deployment::KIND, Deployment::API_VERSION),
    (ReplicaSet::KIND, ReplicaSet::API_VERSION),
    (StatefulSet::KIND, StatefulSet::API_VERSION),
    (DaemonSet::KIND, DaemonSet::API_VERSION),
    (Job::KIND, Job::API_VERSION),
    (CronJob::KIND, CronJob::API_VERSION),
    (Service::KIND, Service::API_VERSION),
    (ConfigMap::KIND, ConfigMap::API_VERSION),
    (Secret::KIND, Secret::API_VERSION),
    (
        PersistentVolumeClaim::KIND,
        PersistentVolumeClaim::API_VERSION,
    ),
    (Namespace::KIND, Namespace::API_VERSION),
];

/// Converts a document to its typed object. `apiVersion` and `kind` are checked first (a missing
/// one, or a wrong apiVersion for a known kind, is reported at that key); then the document is
/// deserialized with serde_path_to_error so a type error names the exact field. Unknown fields
/// are not detected here (k8s-openapi ignores them): validation does that against the schemas.
pub fn typed(doc: &Document) -> Result<Object, KubeDiagnostic> {
    let Value::Object(map) = &doc.value else {
        return Err(doc.error(
            "",
            format!(
                "expected a Kubernetes object (a mapping), found {}",
                value_kind(&doc.value)
            ),
            Some(HELP_HEADER.into()),
        ));
    };
    let kind = match map.get("kind") {
        Some(Value::String(k)) if !k.is_empty() => k.as_str(),
        Some(Value::String(_) | Value::Null) | None => {
            return Err(doc.error("/kind", "`kind` is not set", Some(HELP_HEADER.into())));
        }
        Some(other) => {
            return Err(doc.error(
                "/kind",
                format!("`kind` must be a string, found {}", value_kind(other)),
                None,
            ));
        }
    };
    let known = KNOWN_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|&(_, v)| v);
    let api_version = match map.get("apiVersion") {
        Some(Value::String(v)) if !v.is_empty() => v.as_str(),
        Some(Value::String(_) | Value::Null) | None => {
            let help = match known {
                Some(v) => format!("add `apiVersion: {v}`"),
                None => HELP_HEADER.into(),
            };
            return Err(doc.error("/apiVersion", "`apiVersion` is not set", Some(help)));
        }
        Some(other) => {
            return Err(doc.error(
                "/apiVersion",
                format!("`apiVersion` must be a string, found {}", value_kind(other)),
                None,
            ));
        }
    };
    let Some(expected) = known else {
        return Ok(Object::Other {
            api_version: api_version.into(),
            kind: kind.into(),
        });
    };
    if api_version != expected {
        return Err(doc.error(
            "/apiVersion",
            format!("{kind} is not served as {api_version:?}"),
            Some(format!("use `apiVersion: {expected}`")),
        ));
    }
    Ok(match kind {
        Pod::KIND => Object::Pod(deserialize(doc)?),
        Deployment::KIND => Object::Deployment(deserialize(doc)?),
        ReplicaSet::KIND => Object::ReplicaSet(deserialize(doc)?),
        StatefulSet::KIND => Object::StatefulSet(deserialize(doc)?),
        DaemonSet::KIND => Object::DaemonSet(deserialize(doc)?),
        Job::KIND => Object::Job(deserialize(doc)?),
        CronJob::KIND => Object::CronJob(deserialize(doc)?),
        Service::KIND => Object::Service(deserialize(doc)?),
        ConfigMap::KIND => Object::ConfigMap(deserialize(doc)?),
        Secret::KIND => Object::Secret(deserialize(doc)?),
        PersistentVolumeClaim::KIND => Object::PersistentVolumeClaim(deserialize(doc)?),
        Namespace::KIND => Object::Namespace(deserialize(doc)?),
        _ => unreachable!("every KNOWN_KINDS entry has a match arm"),
    })
}

const HELP_HEADER: &str =
    "every manifest starts with `apiVersion` and `kind`, e.g. `apiVersion: v1` and `kind: Pod`";

/// Deserializes the whole document, turning a serde error into a diagnostic at the exact field.
fn deserialize<T: serde::de::DeserializeOwned>(doc: &Document) -> Result<T, KubeDiagnostic> {
    serde_path_to_error::deserialize(&doc.value).map_err(|e| {
        let pointer = path_to_pointer(e.path());
        let inner = friendlier(&e.inner().to_string());
        let message = if pointer.is_empty() {
            inner
        } else {
            format!("{}: {inner}", display_path(&pointer))
        };
        doc.error(&pointer, message, None)
    })
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for seg in path {
        match seg {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&escape_pointer(key));
            }
            Segment::Enum { .. } => {}
            Segment::Unknown => break,
        }
    }
    pointer
}

/// Serde speaks Rust ("expected i32"); users wrote YAML.
fn friendlier(message: &str) -> String {
    let mut m = message.to_string();
    for (rust, yaml) in [
        ("expected i32", "expected an integer"),
        ("expected i64", "expected an integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        if let Some(rest) = m.strip_suffix(rust) {
            m = format!("{rest}{yaml}");
        }
    }
    // `value: 8080` or `value: yes` where Kubernetes wants a string: YAML read a number/boolean.
    let scalar = [
        "invalid type: integer",
        "invalid type: floating point",
        "invalid type: boolean",
    ];
    if m.ends_with("expected a string") && scalar.iter().any(|p| m.starts_with(p)) {
        m.push_str(" (quote the value to make it a string)");
    }
    m
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

// ---------------------------------------------------------------------------------------------
// Writing YAML
// ---------------------------------------------------------------------------------------------

/// Serializes one document as kubectl-like YAML (block style, lists not indented under their
/// key, ambiguous strings such as `"yes"`, `"0644"` quoted).
pub fn to_yaml(value: &Value) -> String {
    // A serde_json::Value has string keys and finite numbers only: serialization cannot fail.
    serde_saphyr::to_string(value).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"))
}

/// Serializes several documents, separated by `---`.
pub fn to_yaml_documents(values: &[Value]) -> String {
    values.iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(name: &str, text: &str) -> Vec<Document> {
        parse(&[Arc::new(Source::new(name, text))]).expect("parses")
    }

    /// The text at a span.
    fn at<'a>(doc: &'a Document, pointer: &str) -> &'a str {
        let s = doc.span(pointer);
        &doc.source.text[s.offset()..s.offset() + s.len()]
    }

    const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, tier: \"front\"}
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports: [{containerPort: 80}, {containerPort: 443, name: https}]
    volumeMounts:
    - name: cfg
      mountPath: /etc/nginx
  volumes:
  - name: cfg
    configMap:
      name: cfg
      defaultMode: 0644
";

    #[test]
    fn positions_in_block_style() {
        let d = &docs("pod.yaml", POD)[0];
        assert_eq!(at(d, "/spec/containers/0/image"), "nginx:1.27");
        assert_eq!(d.line_col("/spec/containers/0/image"), (9, 12));
        assert_eq!(
            at(d, "/spec/containers/0/volumeMounts/0/mountPath"),
            "/etc/nginx"
        );
        // Collections are labelled by their key.
        assert_eq!(at(d, "/spec/containers"), "containers");
        assert_eq!(d.line_col("/spec/containers"), (7, 3));
        assert_eq!(at(d, "/metadata/name"), "web");
        assert_eq!(at(d, "/kind"), "Pod");
    }

    #[test]
    fn positions_in_flow_style() {
        let d = &docs("pod.yaml", POD)[0];
        assert_eq!(at(d, "/metadata/labels/tier"), "\"front\"");
        assert_eq!(at(d, "/spec/containers/0/ports/1/containerPort"), "443");
        assert_eq!(d.line_col("/spec/containers/0/ports/1/name"), (10, 61));
        assert_eq!(
            d.source
                .line_col_at(d.key_span("/spec/containers/0/ports/1/name").offset()),
            (10, 55)
        );
        assert_eq!(d.key_span("/spec/containers/0/ports/1/name").len(), 4);
    }

    #[test]
    fn missing_pointer_falls_back_to_nearest_parent() {
        let d = &docs("pod.yaml", POD)[0];
        // No `resources` in the text: the container item (its first key) is labelled.
        assert_eq!(d.line_col("/spec/containers/0/resources/limits"), (8, 5));
        assert_eq!(at(d, "/metadata/namespace"), "metadata");
        assert_eq!(d.span("/nope/deeper").offset(), 0);
    }

    #[test]
    fn positions_in_second_document() {
        let text =
            "# leading comment\n---\n---\nkind: A\n---\n\nkind: B\nspec:\n  x: [1, 2, {y: 3}]\n";
        let ds = docs("multi.yaml", text);
        assert_eq!(ds.len(), 2, "the empty document is skipped");
        assert_eq!((ds[1].index, ds[1].kind()), (1, Some("B")));
        assert_eq!(at(&ds[1], "/spec/x/2/y"), "3");
        assert_eq!(ds[1].line_col("/spec/x/2/y"), (9, 17));
        assert_eq!(ds[0].line_col("/kind"), (4, 7));
    }

    #[test]
    fn null_documents_are_skipped_consistently() {
        let text = "~\n---\nnull\n---\n!!null x\n---\nkind: A\n---\n\"\"\n---\nkind: C\n";
        let ds = docs("n.yaml", text);
        let kinds: Vec<_> = ds.iter().map(|d| d.value.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                serde_json::json!({"kind": "A"}),
                Value::from(""),
                serde_json::json!({"kind": "C"})
            ]
        );
        assert_eq!(ds[2].line_col("/kind"), (11, 7));
        assert_eq!(ds[0].line_col("/kind"), (7, 7));
    }

    #[test]
    fn positions_in_json() {
        let text = "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"Pod\",\n\t\"spec\": {\"containers\": [\n\t\t{\"name\": \"a\", \"image\": \"busybox\"}\n\t]}\n}\n";
        let d = &docs("pod.json", text)[0];
        assert_eq!(at(d, "/spec/containers/0/image"), "\"busybox\"");
        assert_eq!(d.line_col("/spec/containers/0/image"), (5, 26));
        assert!(matches!(typed(d), Ok(Object::Pod(_))));
    }

    #[test]
    fn keys_with_slashes_are_escaped() {
        let d = &docs(
            "l.yaml",
            "metadata:\n  labels:\n    app.kubernetes.io/name: web\n",
        )[0];
        assert_eq!(at(d, "/metadata/labels/app.kubernetes.io~1name"), "web");
        assert_eq!(
            display_path("/metadata/labels/app.kubernetes.io~1name"),
            "metadata.labels[\"app.kubernetes.io/name\"]"
        );
        assert_eq!(
            display_path("/spec/containers/0/image"),
            "spec.containers[0].image"
        );
    }

    #[test]
    fn legacy_octal_is_read_as_kubectl_does() {
        let d = &docs("pod.yaml", POD)[0];
        assert_eq!(
            d.value.pointer("/spec/volumes/0/configMap/defaultMode"),
            Some(&Value::from(420))
        );
        let Ok(Object::Pod(pod)) = typed(d) else {
            panic!("a Pod")
        };
        let vol = &pod.spec.unwrap().volumes.unwrap()[0];
        assert_eq!(vol.config_map.as_ref().unwrap().default_mode, Some(420));
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let text = "apiVersion: v1\nkind: Pod\n---\na: 1\nb: [1, 2\nc: 3\n";
        let sources = [
            Arc::new(Source::new("ok.yaml", "kind: A\n")),
            Arc::new(Source::new("bad.yaml", text)),
        ];
        let errs = parse(&sources).unwrap_err();
        assert_eq!(errs.0.len(), 1);
        let e = &errs.0[0];
        assert_eq!(e.file(), "bad.yaml");
        assert_eq!((e.line(), e.column()), (6, 2));
        assert!(
            e.one_line().starts_with("bad.yaml:6:2: invalid YAML: "),
            "{}",
            e.one_line()
        );
        assert_eq!(
            &text[e.span().offset()..e.span().offset() + e.span().len()],
            ":"
        );
    }

    #[test]
    fn every_source_reports_its_syntax_error() {
        let sources = [
            Arc::new(Source::new("a.yaml", "a: [\n")),
            Arc::new(Source::new("b.yaml", "x: 1\nx: 2\n")),
        ];
        let errs = parse(&sources).unwrap_err();
        let files: Vec<_> = errs.0.iter().map(|e| e.file()).collect();
        assert_eq!(files, ["a.yaml", "b.yaml"]);
        assert_eq!(errs.to_string(), "2 errors in the manifests");
        assert_eq!(
            errs.0[1].line(),
            2,
            "duplicate key is reported at the second one"
        );
    }

    #[test]
    fn type_error_names_the_field_and_line() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: \"three\"\n  selector: {matchLabels: {app: d}}\n  template:\n    spec:\n      containers: []\n";
        let d = &docs("d.yaml", text)[0];
        let e = typed(d).unwrap_err();
        assert_eq!(e.pointer(), "/spec/replicas");
        assert_eq!((e.line(), e.column()), (5, 13));
        assert!(
            e.message()
                .starts_with("spec.replicas: invalid type: string \"three\""),
            "{}",
            e.message()
        );
        assert!(
            e.message().ends_with("expected an integer"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn type_error_deep_in_a_container() {
        let text = POD.replace("containerPort: 443", "containerPort: http");
        let d = &docs("pod.yaml", &text)[0];
        let e = typed(d).unwrap_err();
        assert_eq!(e.pointer(), "/spec/containers/0/ports/1/containerPort");
        assert_eq!(e.line(), 10);
        assert_eq!(e.one_line(), format!("pod.yaml:10:50: {}", e.message()));
    }

    #[test]
    fn number_where_a_string_is_needed_suggests_quoting() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    env:\n    - {name: PORT, value: 8080}\n";
        let e = typed(&docs("p.yaml", text)[0]).unwrap_err();
        assert_eq!(e.pointer(), "/spec/containers/0/env/0/value");
        assert!(
            e.message()
                .ends_with("(quote the value to make it a string)"),
            "{}",
            e.message()
        );
        assert_eq!((e.line(), e.column()), (7, 27));
    }

    #[test]
    fn wrong_shape_points_at_the_field() {
        // Note: k8s-openapi fills missing required fields with defaults (a container without
        // `name` gets ""), so required fields are validation's job, not this one's.
        let text =
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    name: c\n";
        let e = typed(&docs("p.yaml", text)[0]).unwrap_err();
        assert_eq!(e.pointer(), "/spec/containers");
        assert!(
            e.message()
                .starts_with("spec.containers: invalid type: map"),
            "{}",
            e.message()
        );
        assert_eq!((e.line(), e.column()), (5, 3));
    }

    #[test]
    fn list_items_become_documents_that_keep_their_place() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Pod\n  spec:\n    containers:\n    - name: c\n      image: [bad]\n";
        let ds = docs("list.yaml", text);
        assert_eq!(ds.len(), 2);
        assert_eq!((ds[1].prefix.as_str(), ds[1].index), ("/items/1", 0));
        assert!(matches!(typed(&ds[0]), Ok(Object::ConfigMap(_))));
        assert_eq!(ds[1].line_col("/kind"), (8, 9));
        let e = typed(&ds[1]).unwrap_err();
        assert_eq!(e.pointer(), "/items/1/spec/containers/0/image");
        assert_eq!(e.line(), 12);
    }

    #[test]
    fn missing_kind_and_api_version() {
        let ds = docs(
            "k.yaml",
            "apiVersion: v1\nmetadata: {name: x}\n---\nkind: Pod\n---\n- a\n",
        );
        let e = typed(&ds[0]).unwrap_err();
        assert_eq!(e.message(), "`kind` is not set");
        assert_eq!(e.line(), 1);
        let e = typed(&ds[1]).unwrap_err();
        assert_eq!(e.message(), "`apiVersion` is not set");
        assert_eq!(e.help_text(), Some("add `apiVersion: v1`"));
        let e = typed(&ds[2]).unwrap_err();
        assert!(e.message().contains("found a list"), "{}", e.message());
        assert_eq!(e.line(), 6);
    }

    #[test]
    fn wrong_api_version_for_a_known_kind() {
        let ds = docs("d.yaml", "kind: Deployment\napiVersion: apps/v2\n");
        let e = typed(&ds[0]).unwrap_err();
        assert_eq!((e.line(), e.column(), e.pointer()), (2, 13, "/apiVersion"));
        assert_eq!(e.help_text(), Some("use `apiVersion: apps/v1`"));
    }

    #[test]
    fn unknown_kind_is_other() {
        let ds = docs(
            "x.yaml",
            "apiVersion: example.com/v1\nkind: Widget\nspec: {x: 1}\n",
        );
        match typed(&ds[0]) {
            Ok(Object::Other { api_version, kind }) => {
                assert_eq!(
                    (api_version.as_str(), kind.as_str()),
                    ("example.com/v1", "Widget")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn all_known_kinds_type() {
        let text: String = KNOWN_KINDS
            .iter()
            .map(|(k, v)| format!("apiVersion: {v}\nkind: {k}\nmetadata: {{name: x}}\n---\n"))
            .collect();
        for d in docs("all.yaml", &text) {
            let o = typed(&d).unwrap_or_else(|e| panic!("{}", e.one_line()));
            assert_eq!(Some(o.kind()), d.kind());
        }
    }

    #[test]
    fn diagnostic_renders_with_file_name() {
        let ds = docs("d.yaml", "kind: Deployment\napiVersion: apps/v2\n");
        let report = miette::Report::new(typed(&ds[0]).unwrap_err());
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, report.as_ref())
            .unwrap();
        assert!(out.contains("d.yaml:2:13"), "{out}");
        assert!(out.contains("use `apiVersion: apps/v1`"), "{out}");
        let warn = ds[0].error("/kind", "just so you know", None).warning();
        assert_eq!(warn.one_line(), "d.yaml:1:7: warning: just so you know");
    }

    #[test]
    fn directory_is_read_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("b.yml", "kind: B\n"),
            ("a.yaml", "kind: A\n"),
            ("c.json", "{\"kind\": \"C\"}"),
            ("notes.txt", "x"),
            ("d.yaml.bak", "x"),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
        let sources = Source::read(dir.path().to_str().unwrap()).unwrap();
        let names: Vec<_> = sources
            .iter()
            .map(|s| {
                Path::new(&s.name)
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["a.yaml", "b.yml", "c.json"]);
        let sources: Vec<_> = sources.into_iter().map(Arc::new).collect();
        let kinds: Vec<_> = parse(&sources)
            .unwrap()
            .iter()
            .map(|d| d.kind().unwrap().to_string())
            .collect();
        assert_eq!(kinds, ["A", "B", "C"]);

        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            Source::read(empty.path().to_str().unwrap()),
            Err(KubeError::NoManifests { .. })
        ));
        assert!(matches!(
            Source::read("/nonexistent/x.yaml"),
            Err(KubeError::Read { .. })
        ));
        assert!(matches!(
            Source::read("ftp://example.com/a.yaml"),
            Err(KubeError::Http { .. })
        ));
    }

    #[test]
    fn http_url_is_fetched() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for reply in [
                "HTTP/1.0 302 Found\r\nLocation: /real.yaml\r\n\r\n".to_string(),
                "HTTP/1.0 200 OK\r\nContent-Type: text/yaml\r\n\r\nkind: A\n".to_string(),
            ] {
                let (mut conn, _) = listener.accept().unwrap();
                let mut req = [0u8; 1024];
                let n = conn.read(&mut req).unwrap();
                assert!(String::from_utf8_lossy(&req[..n]).starts_with("GET /"));
                conn.write_all(reply.as_bytes()).unwrap();
            }
        });
        let url = format!("http://127.0.0.1:{port}/app.yaml");
        let sources = Source::read(&url).unwrap();
        server.join().unwrap();
        assert_eq!(sources[0].name, url);
        assert_eq!(&*sources[0].text, "kind: A\n");
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_deref(),
            Some(&b"abcde"[..])
        );
    }

    #[test]
    fn yaml_output_is_kubectl_like() {
        let v = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"on": "yes"}, "annotations": {}},
            "spec": {"containers": [{"name": "c", "args": ["0644", "1.0", "true"], "ports": [{"containerPort": 80}]}]}
        });
        let y = to_yaml(&v);
        assert!(
            y.contains("containers:\n  - name: c\n") || y.contains("containers:\n  - args:"),
            "{y}"
        );
        for quoted in ["\"yes\"", "\"0644\"", "\"1.0\"", "\"true\""] {
            assert!(
                y.contains(quoted) || y.contains(&quoted.replace('"', "'")),
                "{quoted} not quoted in:\n{y}"
            );
        }
        let back = docs("gen.yaml", &to_yaml_documents(&[v.clone(), v.clone()]));
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].value, v);
    }

    /// Rough throughput of parse + typed on small Pods: `cargo test --release --lib
    /// kube::yaml::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let one = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-N\n  labels: {app: web}\nspec:\n  containers:\n  - name: nginx\n    image: nginx:1.27\n    ports:\n    - containerPort: 80\n    env:\n    - {name: A, value: \"1\"}\n    resources:\n      limits: {cpu: 500m, memory: 128Mi}\n";
        let text: String = (0..1000)
            .map(|i| format!("---\n{}", one.replace('N', &i.to_string())))
            .collect();
        let sources = [Arc::new(Source::new("many.yaml", text))];
        let start = std::time::Instant::now();
        let ds = parse(&sources).unwrap();
        let parsed = start.elapsed();
        for d in &ds {
            assert!(matches!(typed(d), Ok(Object::Pod(_))));
        }
        let typed_at = start.elapsed();
        let _ = ds[999].span("/spec/containers/0/image");
        let indexed = start.elapsed();
        eprintln!(
            "1000 Pods: parse {parsed:?}, +typed {:?}, span index (whole file) {:?}",
            typed_at - parsed,
            indexed - typed_at
        );
    }
}
