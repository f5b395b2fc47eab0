//! registries.conf as containers-registries.conf(5) defines it: unqualified-search
//! registries, `[[registry]]` tables (prefix rewriting, mirrors, insecure, blocked) and
//! short-name `[aliases]`, merged from the main file and its `.conf.d` drop-ins.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::reference::{self, Reference, ReferenceError};

pub const SYSTEM_REGISTRIES_CONF: &str = "/etc/containers/registries.conf";
pub const SYSTEM_REGISTRIES_CONF_DIR: &str = "/etc/containers/registries.conf.d";
const USER_REGISTRIES_CONF: &str = ".config/containers/registries.conf";
const USER_REGISTRIES_CONF_DIR: &str = ".config/containers/registries.conf.d";
/// Names the one registries.conf to read, as Podman's environment variable does.
pub const REGISTRIES_CONF_ENV: &str = "CONTAINERS_REGISTRIES_CONF";

#[derive(Debug, thiserror::Error)]
pub enum RegistriesError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot use {reference}: registry {prefix:?} is blocked in registries.conf")]
    Blocked { reference: String, prefix: String },
    #[error(
        "registries.conf rewrites {reference} to {rewritten:?}, which is not a valid reference: {source}"
    )]
    Rewrite {
        reference: String,
        rewritten: String,
        source: Box<ReferenceError>,
    },
}

/// The merged configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesConf {
    /// `host[:port]` registries to qualify short names with, in order.
    pub unqualified_search_registries: Vec<String>,
    /// Unique by prefix, sorted by prefix (as containers-image keeps them after a merge).
    pub registries: Vec<RegistryEntry>,
    /// Short name (as typed, without tag) → fully-qualified name without tag.
    pub aliases: BTreeMap<String, String>,
    /// `None` when no file sets it; containers-image then means `permissive`.
    pub short_name_mode: Option<ShortNameMode>,
}

/// One `[[registry]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// `host[:port][/namespace...][/repo][:tag|@digest]`, or `*.example.com`.
    pub prefix: String,
    /// Where `prefix` really lives; empty only for a wildcard prefix (no rewriting).
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
    /// Use the mirrors only for references pinned by digest.
    pub mirror_by_digest_only: bool,
    pub mirrors: Vec<Mirror>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub location: String,
    pub insecure: bool,
    pub pull_from_mirror: PullFromMirror,
}

/// A mirror's `pull-from-mirror`: which references it may serve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullFromMirror {
    #[default]
    All,
    DigestOnly,
    TagOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortNameMode {
    Enforcing,
    Permissive,
    Disabled,
}

/// One place to pull a reference from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The reference with the entry's prefix replaced by this endpoint's location.
    pub reference: Reference,
    pub insecure: bool,
    /// Whether this is a mirror rather than the primary location.
    pub mirror: bool,
}

impl RegistriesConf {
    /// Read the configuration as Podman does. With `CONTAINERS_REGISTRIES_CONF` set only that
    /// file is read. Otherwise `$HOME/.config/containers/registries.conf` replaces the
    /// system file when it exists (then only the user's drop-ins follow); else the system
    /// file, its drop-ins and the user's drop-ins, in that order. Missing files are fine.
    pub fn load() -> Result<Self, RegistriesError> {
        let sources = ConfigSources::from_env(
            |key| std::env::var_os(key),
            Path::new(SYSTEM_REGISTRIES_CONF),
            Path::new(SYSTEM_REGISTRIES_CONF_DIR),
        );
        Self::load_files(&sources.main, &sources.drop_in_dirs)
    }

    /// Read `main` (absent is fine), then the `*.conf` files of each directory in lexical
    /// order, each overriding what came before.
    pub fn load_files(main: &Path, drop_in_dirs: &[PathBuf]) -> Result<Self, RegistriesError> {
        let mut merged = Merged::default();
        if let Some(text) = read_optional(main)? {
            merged.apply(FileConf::parse(&text, main, false)?);
        }
        for dir in drop_in_dirs {
            for path in drop_ins(dir)? {
                if let Some(text) = read_optional(&path)? {
                    merged.apply(FileConf::parse(&text, &path, true)?);
                }
            }
        }
        Ok(merged.finish())
    }

    /// Parse one file's text; `path` is only for error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, RegistriesError> {
        let mut merged = Merged::default();
        merged.apply(FileConf::parse(text, path, false)?);
        Ok(merged.finish())
    }

    /// The `[[registry]]` table whose prefix is the longest match for `r`, if any.
    pub fn find_registry(&self, r: &Reference) -> Option<&RegistryEntry> {
        let name = r.to_string();
        let mut best: Option<&RegistryEntry> = None;
        for entry in &self.registries {
            if prefix_match(&name, r, &entry.prefix).is_some()
                && best.is_none_or(|b| entry.prefix.len() > b.prefix.len())
            {
                best = Some(entry);
            }
        }
        best
    }

    /// Where to pull `r` from, in order: the usable mirrors, then the primary location.
    pub fn endpoints(&self, r: &Reference) -> Result<Vec<Endpoint>, RegistriesError> {
        let Some(entry) = self.find_registry(r) else {
            return Ok(vec![Endpoint {
                reference: r.clone(),
                insecure: false,
                mirror: false,
            }]);
        };
        if entry.blocked {
            return Err(RegistriesError::Blocked {
                reference: r.to_string(),
                prefix: entry.prefix.clone(),
            });
        }
        let mut out = Vec::with_capacity(entry.mirrors.len() + 1);
        for mirror in &entry.mirrors {
            let usable = match (entry.mirror_by_digest_only, mirror.pull_from_mirror) {
                (true, _) | (false, PullFromMirror::DigestOnly) => r.is_digested(),
                (false, PullFromMirror::TagOnly) => !r.is_digested(),
                (false, PullFromMirror::All) => true,
            };
            if usable {
                out.push(Endpoint {
                    reference: rewrite(r, &entry.prefix, &mirror.location)?,
                    insecure: mirror.insecure,
                    mirror: true,
                });
            }
        }
        out.push(Endpoint {
            reference: rewrite(r, &entry.prefix, &entry.location)?,
            insecure: entry.insecure,
            mirror: false,
        });
        Ok(out)
    }
}

/// Length of the part of `name` (a reference's canonical string) that `prefix` matches.
/// A plain prefix matches whole or up to a `/`, `:` or `@`; `*.example.com` matches any
/// subdomain host of example.com.
fn prefix_match(name: &str, r: &Reference, prefix: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix('*') {
        let host_len = if r.registry.starts_with('[') {
            r.registry.len()
        } else {
            r.registry.split(':').next().unwrap_or_default().len()
        };
        let host = &name[..host_len];
        return (host.len() > domain.len() && host.ends_with(domain)).then_some(host_len);
    }
    let rest = name.strip_prefix(prefix)?;
    match rest.chars().next() {
        None | Some('/' | ':' | '@') => Some(prefix.len()),
        Some(_) => None,
    }
}

fn rewrite(r: &Reference, prefix: &str, location: &str) -> Result<Reference, RegistriesError> {
    if location.is_empty() {
        return Ok(r.clone());
    }
    let name = r.to_string();
    let matched = prefix_match(&name, r, prefix).unwrap_or_default();
    let rewritten = format!("{location}{}", &name[matched..]);
    reference::parse_qualified(&rewritten).map_err(|source| RegistriesError::Rewrite {
        reference: name,
        rewritten,
        source: Box::new(source),
    })
}

/// Which files `load` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConfigSources {
    main: PathBuf,
    drop_in_dirs: Vec<PathBuf>,
}

impl ConfigSources {
    fn from_env(
        env: impl Fn(&str) -> Option<OsString>,
        system_file: &Path,
        system_dir: &Path,
    ) -> Self {
        if let Some(path) = env(REGISTRIES_CONF_ENV).filter(|p| !p.is_empty()) {
            return ConfigSources {
                main: path.into(),
                drop_in_dirs: Vec::new(),
            };
        }
        let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        if let Some(home) = &home {
            let user_file = home.join(USER_REGISTRIES_CONF);
            if user_file.exists() {
                return ConfigSources {
                    main: user_file,
                    drop_in_dirs: vec![home.join(USER_REGISTRIES_CONF_DIR)],
                };
            }
        }
        let mut drop_in_dirs = vec![system_dir.to_path_buf()];
        drop_in_dirs.extend(home.map(|h| h.join(USER_REGISTRIES_CONF_DIR)));
        ConfigSources {
            main: system_file.to_path_buf(),
            drop_in_dirs,
        }
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, RegistriesError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RegistriesError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The `*.conf` files of `dir` in lexical order; sub-directories and other names are ignored.
fn drop_ins(dir: &Path) -> Result<Vec<PathBuf>, RegistriesError> {
    let read_err = |source| RegistriesError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(read_err)?.path();
        if path.extension().is_some_and(|e| e == "conf") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFile {
    unqualified_search_registries: Option<Vec<String>>,
    short_name_mode: Option<String>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    /// The deprecated v1 format: `[registries.search]`, `.insecure`, `.block`.
    registries: Option<RawV1>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawRegistry {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<RawMirror>,
    pull_from_mirror: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMirror {
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawV1 {
    #[serde(default)]
    search: RawV1List,
    #[serde(default)]
    insecure: RawV1List,
    #[serde(default)]
    block: RawV1List,
}

#[derive(Deserialize, Default)]
struct RawV1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// One file, validated; `None`/empty means the file does not set it.
struct FileConf {
    search: Option<Vec<String>>,
    short_name_mode: Option<ShortNameMode>,
    registries: Vec<RegistryEntry>,
    /// An empty value erases the alias set by an earlier file.
    aliases: BTreeMap<String, String>,
}

impl FileConf {
    fn parse(text: &str, path: &Path, drop_in: bool) -> Result<FileConf, RegistriesError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| RegistriesError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |reason: String| RegistriesError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let v1 = raw.registries.unwrap_or_default();
        let has_v1 = !(v1.search.registries.is_empty()
            && v1.insecure.registries.is_empty()
            && v1.block.registries.is_empty());
        let (search, raw_registries) = if has_v1 {
            if drop_in {
                return Err(invalid(
                    "drop-in files must use the version 2 format".into(),
                ));
            }
            if !raw.registry.is_empty() || raw.unqualified_search_registries.is_some() {
                return Err(invalid(
                    "mixing the version 1 ([registries.search] ...) and version 2 formats is not supported".into(),
                ));
            }
            (Some(v1.search.registries.clone()), v1_registries(&v1))
        } else {
            (raw.unqualified_search_registries, raw.registry)
        };

        let search = search
            .map(|list| {
                list.iter()
                    .map(|s| parse_search_registry(s).map_err(&invalid))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let short_name_mode = match raw.short_name_mode.as_deref() {
            None | Some("") => None,
            Some("enforcing") => Some(ShortNameMode::Enforcing),
            Some("permissive") => Some(ShortNameMode::Permissive),
            Some("disabled") => Some(ShortNameMode::Disabled),
            Some(other) => return Err(invalid(format!("invalid short-name-mode {other:?}"))),
        };
        let registries = raw_registries
            .into_iter()
            .map(|r| registry_entry(r).map_err(&invalid))
            .collect::<Result<Vec<_>, _>>()?;
        check_conflicts(&registries).map_err(&invalid)?;
        for (name, value) in &raw.aliases {
            validate_alias(name, value).map_err(&invalid)?;
        }
        Ok(FileConf {
            search,
            short_name_mode,
            registries,
            aliases: raw.aliases,
        })
    }
}

fn v1_registries(v1: &RawV1) -> Vec<RawRegistry> {
    let mut out: Vec<RawRegistry> = Vec::new();
    let lists = [
        (&v1.search, false, false),
        (&v1.insecure, true, false),
        (&v1.block, false, true),
    ];
    for (list, insecure, blocked) in lists {
        for location in &list.registries {
            match out
                .iter_mut()
                .find(|r| r.location.as_deref() == Some(location.as_str()))
            {
                Some(existing) => {
                    existing.insecure |= insecure;
                    existing.blocked |= blocked;
                }
                None => out.push(RawRegistry {
                    prefix: None,
                    location: Some(location.clone()),
                    insecure,
                    blocked,
                    mirror_by_digest_only: false,
                    mirror: Vec::new(),
                    pull_from_mirror: None,
                }),
            }
        }
    }
    out
}

/// Trailing slashes are dropped and URL schemes refused, as containers-image does.
fn parse_location(input: &str) -> Result<String, String> {
    let trimmed = input.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err(format!(
            "invalid location {input:?}: URI schemes are not supported"
        ));
    }
    Ok(trimmed.to_string())
}

fn validate_location(what: &str, location: &str) -> Result<(), String> {
    reference::parse_qualified(location)
        .map(drop)
        .map_err(|e| format!("invalid {what} {location:?}: {e}"))
}

fn parse_search_registry(input: &str) -> Result<String, String> {
    let registry = parse_location(input)?;
    if registry.is_empty() {
        return Err("unqualified-search-registries has an empty entry".into());
    }
    reference::parse_qualified(&format!("{registry}/x"))
        .map(drop)
        .map_err(|e| format!("invalid unqualified-search registry {input:?}: {e}"))?;
    Ok(registry)
}

fn parse_pull_from_mirror(value: Option<&str>, location: &str) -> Result<PullFromMirror, String> {
    match value {
        None | Some("") | Some("all") => Ok(PullFromMirror::All),
        Some("digest-only") => Ok(PullFromMirror::DigestOnly),
        Some("tag-only") => Ok(PullFromMirror::TagOnly),
        Some(other) => Err(format!(
            "unsupported pull-from-mirror value {other:?} for mirror {location:?}"
        )),
    }
}

fn registry_entry(raw: RawRegistry) -> Result<RegistryEntry, String> {
    let location = parse_location(raw.location.as_deref().unwrap_or_default())?;
    let prefix = match raw.prefix.as_deref() {
        None | Some("") if location.is_empty() => {
            return Err("a [[registry]] table has neither location nor prefix".into());
        }
        None | Some("") => location.clone(),
        Some(prefix) => parse_location(prefix)?,
    };
    if let Some(domain) = prefix.strip_prefix("*.") {
        if domain.is_empty() || domain.contains(['/', ':', '@', '*']) {
            return Err(format!(
                "invalid prefix {prefix:?}: a wildcard prefix must look like *.example.com"
            ));
        }
    } else if prefix.contains('*') {
        return Err(format!(
            "invalid prefix {prefix:?}: a wildcard is allowed only as a leading *."
        ));
    } else if location.is_empty() {
        return Err(format!(
            "[[registry]] {prefix:?} has no location (only a *.example.com prefix may omit it)"
        ));
    }
    if !location.is_empty() {
        validate_location("location", &location)?;
    }
    if raw.pull_from_mirror.is_some() {
        return Err(format!(
            "pull-from-mirror must not be set for the non-mirror registry {prefix:?}"
        ));
    }
    let mut mirrors = Vec::with_capacity(raw.mirror.len());
    for m in raw.mirror {
        let location = parse_location(m.location.as_deref().unwrap_or_default())?;
        if location.is_empty() {
            return Err(format!("a mirror of {prefix:?} has no location"));
        }
        validate_location("mirror location", &location)?;
        if raw.mirror_by_digest_only && m.pull_from_mirror.is_some() {
            return Err(format!(
                "{prefix:?} sets mirror-by-digest-only and its mirror {location:?} sets pull-from-mirror; use one"
            ));
        }
        let pull_from_mirror = parse_pull_from_mirror(m.pull_from_mirror.as_deref(), &location)?;
        mirrors.push(Mirror {
            location,
            insecure: m.insecure,
            pull_from_mirror,
        });
    }
    Ok(RegistryEntry {
        prefix,
        location,
        insecure: raw.insecure,
        blocked: raw.blocked,
        mirror_by_digest_only: raw.mirror_by_digest_only,
        mirrors,
    })
}

/// Tables naming the same location must agree on `insecure` and `blocked`.
fn check_conflicts(entries: &[RegistryEntry]) -> Result<(), String> {
    let key = |e: &RegistryEntry| {
        if e.location.is_empty() {
            e.prefix.clone()
        } else {
            e.location.clone()
        }
    };
    for (i, a) in entries.iter().enumerate() {
        for b in &entries[i + 1..] {
            if key(a) != key(b) {
                continue;
            }
            for (setting, differs) in [
                ("insecure", a.insecure != b.insecure),
                ("blocked", a.blocked != b.blocked),
            ] {
                if differs {
                    return Err(format!(
                        "registry {:?} is defined multiple times with conflicting {setting:?} settings",
                        key(a)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn validate_alias(name: &str, value: &str) -> Result<(), String> {
    let (bare, tag, digest) = reference::split_unparsed(name);
    if !reference::is_short_name(name) {
        return Err(format!(
            "invalid short-name alias {name:?}: it must not name a registry"
        ));
    }
    if tag.is_some() || digest.is_some() || bare != name {
        return Err(format!(
            "invalid short-name alias {name:?}: it must not have a tag or digest"
        ));
    }
    Reference::parse(name).map_err(|e| format!("invalid short-name alias {name:?}: {e}"))?;
    if value.is_empty() {
        return Ok(());
    }
    let (_, tag, digest) = reference::split_unparsed(value);
    if tag.is_some() || digest.is_some() {
        return Err(format!(
            "alias {name:?} = {value:?}: the value must not have a tag or digest"
        ));
    }
    if reference::is_short_name(value) {
        return Err(format!(
            "alias {name:?} = {value:?}: the value must be a fully-qualified name (registry/repository)"
        ));
    }
    Reference::parse(value).map_err(|e| format!("alias {name:?} = {value:?}: {e}"))?;
    Ok(())
}

#[derive(Default)]
struct Merged {
    conf: RegistriesConf,
    by_prefix: BTreeMap<String, RegistryEntry>,
}

impl Merged {
    /// Later files replace the search list when they set it (even to empty), replace tables
    /// with the same prefix, and set or (with "") erase aliases.
    fn apply(&mut self, file: FileConf) {
        if let Some(search) = file.search {
            self.conf.unqualified_search_registries = search;
        }
        if file.short_name_mode.is_some() {
            self.conf.short_name_mode = file.short_name_mode;
        }
        for entry in file.registries {
            self.by_prefix.insert(entry.prefix.clone(), entry);
        }
        for (name, value) in file.aliases {
            if value.is_empty() {
                self.conf.aliases.remove(&name);
            } else {
                self.conf.aliases.insert(name, value);
            }
        }
    }

    fn finish(mut self) -> RegistriesConf {
        self.conf.registries = self.by_prefix.into_values().collect();
        self.conf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(text: &str) -> RegistriesConf {
        RegistriesConf::parse(text, Path::new("test.conf")).unwrap()
    }

    fn parse_err(text: &str) -> String {
        RegistriesConf::parse(text, Path::new("test.conf"))
            .unwrap_err()
            .to_string()
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    fn endpoints(conf: &RegistriesConf, s: &str) -> Vec<(String, bool)> {
        conf.endpoints(&r(s))
            .unwrap()
            .into_iter()
            .map(|e| (e.reference.to_string(), e.insecure))
            .collect()
    }

    fn own(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(s, b)| (s.to_string(), *b)).collect()
    }

    const EXAMPLE: &str = r#"
unqualified-search-registries = ["example.com", "docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "example.com/foo"
insecure = false
blocked = false
location = "internal-registry-for-example.com/bar"

[[registry.mirror]]
location = "example-mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "example-mirror-1.local/mirrors/foo"
insecure = true

[[registry]]
location = "insecure.local:5000/"
insecure = true

[[registry]]
prefix = "example.com/foo/blocked"
location = "example.com/foo/blocked"
blocked = true

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"#;

    #[test]
    fn parses_the_documented_example() {
        let c = parse(EXAMPLE);
        assert_eq!(
            c.unqualified_search_registries,
            ["example.com", "docker.io"]
        );
        assert_eq!(c.short_name_mode, Some(ShortNameMode::Enforcing));
        assert_eq!(c.aliases["fedora"], "registry.fedoraproject.org/fedora");
        let insecure = c
            .registries
            .iter()
            .find(|e| e.location == "insecure.local:5000")
            .unwrap();
        assert_eq!(
            insecure.prefix, "insecure.local:5000",
            "prefix defaults to location, trailing / dropped"
        );
        assert!(insecure.insecure);
        assert_eq!(
            endpoints(&c, "example.com/foo/image:latest"),
            own(&[
                ("example-mirror-0.local/mirror-for-foo/image:latest", false),
                ("example-mirror-1.local/mirrors/foo/image:latest", true),
                ("internal-registry-for-example.com/bar/image:latest", false),
            ])
        );
        assert_eq!(
            endpoints(&c, "insecure.local:5000/a"),
            own(&[("insecure.local:5000/a:latest", true)])
        );
        assert_eq!(
            endpoints(&c, "quay.io/a/b:1"),
            own(&[("quay.io/a/b:1", false)])
        );
    }

    #[test]
    fn blocked_names_the_registry() {
        let c = parse(EXAMPLE);
        let err = c.endpoints(&r("example.com/foo/blocked/x")).unwrap_err();
        assert!(
            matches!(err, RegistriesError::Blocked { ref prefix, .. } if prefix == "example.com/foo/blocked")
        );
        assert!(err.to_string().contains("example.com/foo/blocked"));
    }

    #[test]
    fn prefixes_match_at_boundaries_and_longest_wins() {
        let c = parse(
            r#"
[[registry]]
prefix = "example.com"
location = "a.local"
[[registry]]
prefix = "example.com/foo"
location = "b.local/x"
[[registry]]
prefix = "example.com/foo/bar:1"
location = "c.local/y:2"
[[registry]]
prefix = "docker.io/library/busybox"
location = "hub.local/bb"
"#,
        );
        assert_eq!(
            endpoints(&c, "example.com/img"),
            own(&[("a.local/img:latest", false)])
        );
        assert_eq!(
            endpoints(&c, "example.com/foo/img"),
            own(&[("b.local/x/img:latest", false)])
        );
        assert_eq!(
            endpoints(&c, "example.com/foobar"),
            own(&[("a.local/foobar:latest", false)])
        );
        assert_eq!(
            endpoints(&c, "example.com/foo:3"),
            own(&[("b.local/x:3", false)])
        );
        assert_eq!(
            endpoints(&c, "example.com/foo/bar:1"),
            own(&[("c.local/y:2", false)])
        );
        assert_eq!(
            endpoints(&c, "example.com/foo/bar:10"),
            own(&[("b.local/x/bar:10", false)])
        );
        assert_eq!(
            endpoints(&c, &format!("example.com/foo@sha256:{HEX}")),
            own(&[(&format!("b.local/x@sha256:{HEX}"), false)])
        );
        assert_eq!(
            endpoints(&c, "example.company/x"),
            own(&[("example.company/x:latest", false)])
        );
        assert_eq!(
            endpoints(&c, "busybox"),
            own(&[("hub.local/bb:latest", false)])
        );
        assert_eq!(
            endpoints(&c, "busyboxer"),
            own(&[("docker.io/library/busyboxer:latest", false)])
        );
    }

    #[test]
    fn wildcard_prefixes() {
        let c = parse(
            r#"
[[registry]]
prefix = "*.example.com"
insecure = true
[[registry]]
prefix = "*.corp.example.com"
location = "mirror.corp:5000"
[[registry]]
prefix = "exact.example.com"
location = "exact.example.com"
"#,
        );
        assert_eq!(
            endpoints(&c, "a.example.com/x"),
            own(&[("a.example.com/x:latest", true)])
        );
        assert_eq!(
            endpoints(&c, "a.b.example.com:5000/x"),
            own(&[("a.b.example.com:5000/x:latest", true)])
        );
        assert_eq!(
            endpoints(&c, "example.com/x"),
            own(&[("example.com/x:latest", false)])
        );
        assert_eq!(
            endpoints(&c, "a.example.com.evil/x"),
            own(&[("a.example.com.evil/x:latest", false)])
        );
        assert_eq!(
            endpoints(&c, "b.corp.example.com/ns/x"),
            own(&[("mirror.corp:5000/ns/x:latest", false)])
        );
        assert_eq!(
            endpoints(&c, "exact.example.com/x"),
            own(&[("exact.example.com/x:latest", false)])
        );
    }

    #[test]
    fn mirrors_by_digest_or_tag_only() {
        let c = parse(
            r#"
[[registry]]
location = "d.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.local"

[[registry]]
location = "t.io"
[[registry.mirror]]
location = "digest.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tag.local"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "all.local"
pull-from-mirror = "all"
"#,
        );
        assert_eq!(endpoints(&c, "d.io/x:1"), own(&[("d.io/x:1", false)]));
        let digested = format!("d.io/x@sha256:{HEX}");
        assert_eq!(
            endpoints(&c, &digested),
            own(&[
                (&format!("m.local/x@sha256:{HEX}"), false),
                (&digested, false)
            ])
        );
        assert_eq!(
            endpoints(&c, "t.io/x"),
            own(&[
                ("tag.local/x:latest", false),
                ("all.local/x:latest", false),
                ("t.io/x:latest", false)
            ])
        );
        let digested = format!("t.io/x@sha256:{HEX}");
        let got: Vec<String> = endpoints(&c, &digested).into_iter().map(|e| e.0).collect();
        assert_eq!(
            got,
            [
                format!("digest.local/x@sha256:{HEX}"),
                format!("all.local/x@sha256:{HEX}"),
                digested
            ]
        );
        let eps = c.endpoints(&r("t.io/x")).unwrap();
        assert!(eps[0].mirror && !eps.last().unwrap().mirror);
    }

    #[test]
    fn hub_mirror_keeps_library_and_dotless_location() {
        let c = parse(
            r#"
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror:5000"
"#,
        );
        assert_eq!(
            endpoints(&c, "busybox"),
            own(&[
                ("mirror:5000/library/busybox:latest", false),
                ("docker.io/library/busybox:latest", false)
            ])
        );
    }

    #[test]
    fn invalid_files_say_why_and_where() {
        assert!(parse_err("unqualified-search-registries = [").starts_with("test.conf: "));
        assert!(parse_err("[[registry]]\ninsecure = \"yes\"").contains("test.conf"));
        assert!(parse_err("[[registry]]\ninsecure = true").contains("neither location nor prefix"));
        assert!(parse_err("[[registry]]\nprefix = \"a.io\"").contains("no location"));
        assert!(parse_err("[[registry]]\nlocation = \"https://a.io\"").contains("URI schemes"));
        assert!(parse_err("[[registry]]\nprefix = \"*.a.io/x\"").contains("wildcard"));
        assert!(
            parse_err("[[registry]]\nprefix = \"a.*.io\"\nlocation = \"a.io\"")
                .contains("wildcard")
        );
        assert!(
            parse_err("[[registry]]\nlocation = \"a.io\"\npull-from-mirror = \"all\"")
                .contains("non-mirror")
        );
        assert!(
            parse_err("[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\ninsecure = true")
                .contains("no location")
        );
        assert!(
            parse_err("[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"x\"")
                .contains("unsupported pull-from-mirror")
        );
        assert!(
            parse_err(
                "[[registry]]\nlocation = \"a.io\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"all\""
            )
            .contains("use one")
        );
        assert!(
            parse_err("[[registry]]\nprefix = \"x.io\"\nlocation = \"a.io\"\n[[registry]]\nprefix = \"y.io\"\nlocation = \"a.io\"\ninsecure = true")
                .contains("conflicting")
        );
        assert!(parse_err("short-name-mode = \"loose\"").contains("short-name-mode"));
        assert!(parse_err("unqualified-search-registries = [\"bad host\"]").contains("bad host"));
        assert!(
            parse_err("[aliases]\n\"quay.io/x\" = \"quay.io/x\"")
                .contains("must not name a registry")
        );
        assert!(parse_err("[aliases]\n\"x:1\" = \"quay.io/x\"").contains("tag or digest"));
        assert!(parse_err("[aliases]\n\"x\" = \"quay.io/x:1\"").contains("tag or digest"));
        assert!(parse_err("[aliases]\n\"x\" = \"other/x\"").contains("fully-qualified"));
        assert!(parse_err("[aliases]\n\"X\" = \"quay.io/x\"").contains("lowercase"));
        assert!(
            parse_err(
                "[registries.search]\nregistries = [\"a.io\"]\n[[registry]]\nlocation = \"b.io\""
            )
            .contains("mixing")
        );
    }

    #[test]
    fn unknown_keys_are_tolerated() {
        let c = parse(
            "credential-helpers = [\"containers-auth.json\"]\n[[registry]]\nlocation = \"a.io\"\nfuture = 1",
        );
        assert_eq!(c.registries.len(), 1);
    }

    #[test]
    fn reads_the_v1_format() {
        let c = parse(
            r#"
[registries.search]
registries = ["a.io", "b.io"]
[registries.insecure]
registries = ["b.io", "c.io"]
[registries.block]
registries = ["evil.io"]
"#,
        );
        assert_eq!(c.unqualified_search_registries, ["a.io", "b.io"]);
        assert_eq!(endpoints(&c, "b.io/x"), own(&[("b.io/x:latest", true)]));
        assert_eq!(endpoints(&c, "a.io/x"), own(&[("a.io/x:latest", false)]));
        assert!(c.endpoints(&r("evil.io/x")).is_err());
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn drop_ins_override_in_lexical_order() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("registries.conf");
        let d = dir.path().join("registries.conf.d");
        write(
            &main,
            r#"
unqualified-search-registries = ["a.io"]
[[registry]]
location = "a.io"
[[registry]]
location = "keep.io"
insecure = true
[aliases]
"one" = "a.io/one"
"two" = "a.io/two"
"#,
        );
        write(
            &d.join("20-b.conf"),
            "unqualified-search-registries = [\"c.io\"]\n[aliases]\n\"two\" = \"\"\n",
        );
        write(
            &d.join("10-a.conf"),
            "unqualified-search-registries = [\"b.io\"]\n[[registry]]\nlocation = \"a.io\"\ninsecure = true\n",
        );
        write(
            &d.join("30-c.conf"),
            "[aliases]\n\"three\" = \"c.io/three\"\n",
        );
        write(&d.join("ignored.txt"), "not toml [");
        std::fs::create_dir(d.join("sub.conf")).unwrap();

        let c = RegistriesConf::load_files(&main, &[d.clone(), dir.path().join("absent")]).unwrap();
        assert_eq!(c.unqualified_search_registries, ["c.io"]);
        assert_eq!(
            c.registries
                .iter()
                .map(|e| e.prefix.as_str())
                .collect::<Vec<_>>(),
            ["a.io", "keep.io"]
        );
        assert!(
            c.registries.iter().all(|e| e.insecure),
            "a.io replaced by the drop-in"
        );
        assert_eq!(c.aliases.keys().collect::<Vec<_>>(), ["one", "three"]);

        // A file that leaves the search list out does not clear it.
        write(&d.join("40-d.conf"), "[[registry]]\nlocation = \"d.io\"\n");
        let c = RegistriesConf::load_files(&main, std::slice::from_ref(&d)).unwrap();
        assert_eq!(c.unqualified_search_registries, ["c.io"]);

        // An empty list does.
        write(&d.join("50-e.conf"), "unqualified-search-registries = []\n");
        let c = RegistriesConf::load_files(&main, std::slice::from_ref(&d)).unwrap();
        assert!(c.unqualified_search_registries.is_empty());

        write(&d.join("60-bad.conf"), "[[registry]\n");
        let err = RegistriesConf::load_files(&main, std::slice::from_ref(&d)).unwrap_err();
        assert!(err.to_string().contains("60-bad.conf"), "{err}");
    }

    #[test]
    fn drop_ins_must_be_v2_and_missing_files_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        let c = RegistriesConf::load_files(&dir.path().join("none.conf"), std::slice::from_ref(&d))
            .unwrap();
        assert_eq!(c, RegistriesConf::default());
        write(
            &d.join("v1.conf"),
            "[registries.search]\nregistries = [\"a.io\"]\n",
        );
        let err = RegistriesConf::load_files(&dir.path().join("none.conf"), &[d]).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn chooses_files_as_containers_image_does() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let sys_file = dir.path().join("etc/registries.conf");
        let sys_dir = dir.path().join("etc/registries.conf.d");
        let env_with = |vars: Vec<(&'static str, PathBuf)>| {
            move |key: &str| {
                vars.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone().into_os_string())
            }
        };

        let only = ConfigSources::from_env(
            env_with(vec![
                (REGISTRIES_CONF_ENV, dir.path().join("x.conf")),
                ("HOME", home.clone()),
            ]),
            &sys_file,
            &sys_dir,
        );
        assert_eq!(only.main, dir.path().join("x.conf"));
        assert!(only.drop_in_dirs.is_empty());

        let system =
            ConfigSources::from_env(env_with(vec![("HOME", home.clone())]), &sys_file, &sys_dir);
        assert_eq!(system.main, sys_file);
        assert_eq!(
            system.drop_in_dirs,
            [sys_dir.clone(), home.join(USER_REGISTRIES_CONF_DIR)]
        );

        write(&home.join(USER_REGISTRIES_CONF), "");
        let user =
            ConfigSources::from_env(env_with(vec![("HOME", home.clone())]), &sys_file, &sys_dir);
        assert_eq!(user.main, home.join(USER_REGISTRIES_CONF));
        assert_eq!(user.drop_in_dirs, [home.join(USER_REGISTRIES_CONF_DIR)]);

        let no_home = ConfigSources::from_env(env_with(vec![]), &sys_file, &sys_dir);
        assert_eq!(no_home.drop_in_dirs, [sys_dir]);
    }
}
