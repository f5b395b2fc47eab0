//! Image references as Docker and Podman read them, and short-name resolution.
//!
//! Grammar (docker distribution's `reference` package):
//! `[registry/]path[:tag][@digest]`, where the first `/`-separated component is a registry
//! only when it contains `.` or `:` or is `localhost`. Everything else is Docker Hub, where
//! a one-component path gets the `library/` namespace. References are kept fully
//! normalised: `busybox` is `docker.io/library/busybox:latest`.

use std::fmt;
use std::str::FromStr;

use super::registries::RegistriesConf;

pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const OFFICIAL_NAMESPACE: &str = "library";
pub const DEFAULT_TAG: &str = "latest";
/// Podman names images built or committed without a registry `localhost/NAME`.
pub const LOCALHOST: &str = "localhost";
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: the image name is empty")]
    Empty,
    #[error(
        "invalid reference format: {input:?}: cannot specify 64-byte hexadecimal strings (that is an image ID, not a name)"
    )]
    LooksLikeId { input: String },
    #[error(
        "invalid reference format: {input:?}: repository name {repository:?} must be lowercase"
    )]
    Uppercase { input: String, repository: String },
    #[error(
        "invalid reference format: {input:?}: invalid repository name {repository:?} (path components are lowercase letters and digits, separated by '.', '_', '__' or '-')"
    )]
    InvalidRepository { input: String, repository: String },
    #[error("invalid reference format: {input:?}: invalid registry {registry:?}")]
    InvalidRegistry { input: String, registry: String },
    #[error(
        "invalid reference format: {input:?}: invalid tag {tag:?} (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')"
    )]
    InvalidTag { input: String, tag: String },
    #[error(
        "invalid reference format: {input:?}: invalid digest {digest:?} (expected ALGORITHM:HEX, e.g. sha256: and 64 lowercase hex digits)"
    )]
    InvalidDigest { input: String, digest: String },
    #[error(
        "invalid reference format: {input:?}: unsupported digest algorithm {algorithm:?} (sha256, sha384 or sha512)"
    )]
    UnsupportedDigestAlgorithm { input: String, algorithm: String },
    #[error(
        "invalid reference format: {input:?}: repository name must not be more than 255 characters"
    )]
    NameTooLong { input: String },
    #[error(
        "short-name alias {name:?} in registries.conf points to {value:?}, which is not a fully-qualified name: {reason}"
    )]
    InvalidAlias {
        name: String,
        value: String,
        reason: String,
    },
    #[error(
        "unqualified-search registry {registry:?} in registries.conf cannot qualify {input:?}: {reason}"
    )]
    InvalidSearchRegistry {
        registry: String,
        input: String,
        reason: String,
    },
}

/// A fully-normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`; Docker Hub is `docker.io`.
    pub registry: String,
    /// Path within the registry, e.g. `library/busybox`.
    pub repository: String,
    /// `None` only when the reference is pinned by digest alone.
    pub tag: Option<String>,
    /// `algorithm:hex`.
    pub digest: Option<String>,
}

impl Reference {
    /// Parse and normalise like `docker pull`: `busybox` → `docker.io/library/busybox:latest`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        parse_with(s, DomainRule::Heuristic)
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same name with `tag` (a digest, if any, is kept as Docker's `WithTag` does).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::InvalidTag {
                input: format!("{}:{tag}", self.name()),
                tag: tag.to_string(),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The same name pinned to `digest` (a tag, if any, is kept).
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        validate_digest(&format!("{}@{digest}", self.name()), digest)?;
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    /// Whether a tag is what the registry should be asked for (no digest pins it).
    pub fn is_digested(&self) -> bool {
        self.digest.is_some()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How the first path component is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DomainRule {
    /// Docker's: a registry only if it has `.` or `:` or is `localhost`.
    Heuristic,
    /// Always a registry: for names built from registries.conf locations and search
    /// registries, which name a host even without a dot (`mirror:5000`, `myregistry`).
    Forced,
}

/// Whether `s` names no registry (`busybox`, `user/app:1`), so that it needs resolving.
pub fn is_short_name(s: &str) -> bool {
    let without_digest = s.split_once('@').map_or(s, |(name, _)| name);
    match without_digest.split_once('/') {
        None => true,
        Some((first, _)) => !names_registry(first),
    }
}

fn names_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == LOCALHOST
}

/// Candidates to pull for `s`, in the order to try them.
///
/// A qualified name is itself. A short name resolves through a registries.conf alias when
/// one exists (and then only there, as containers-image does), else through each
/// unqualified-search registry in order; with none configured it means Docker Hub, as
/// Docker reads it.
pub fn pull_candidates(s: &str, conf: &RegistriesConf) -> Result<Vec<Reference>, ReferenceError> {
    let parsed = Reference::parse(s)?;
    if !is_short_name(s) {
        return Ok(vec![parsed]);
    }
    let short = ShortName::split(s, &parsed);
    if let Some(alias) = short.alias(conf)? {
        return Ok(vec![alias]);
    }
    let mut out = Vec::new();
    if conf.unqualified_search_registries.is_empty() {
        push_unique(&mut out, short.qualify(DOCKER_HUB, s)?);
    }
    for registry in &conf.unqualified_search_registries {
        push_unique(&mut out, short.qualify(registry, s)?);
    }
    Ok(out)
}

/// Names under which an image matching `s` may already be in the local store, best first.
///
/// For a short name, as Podman looks it up: the registries.conf alias, `localhost/NAME`,
/// each unqualified-search registry, then Docker Hub. An unparseable `s` has none.
pub fn local_candidates(s: &str, conf: &RegistriesConf) -> Vec<Reference> {
    let Ok(parsed) = Reference::parse(s) else {
        return Vec::new();
    };
    if !is_short_name(s) {
        return vec![parsed];
    }
    let short = ShortName::split(s, &parsed);
    let mut out = Vec::new();
    // A broken alias or search registry should not hide the other local candidates.
    if let Ok(Some(alias)) = short.alias(conf) {
        push_unique(&mut out, alias);
    }
    let registries = std::iter::once(LOCALHOST)
        .chain(
            conf.unqualified_search_registries
                .iter()
                .map(String::as_str),
        )
        .chain(std::iter::once(DOCKER_HUB));
    for registry in registries {
        if let Ok(candidate) = short.qualify(registry, s) {
            push_unique(&mut out, candidate);
        }
    }
    out
}

fn push_unique(out: &mut Vec<Reference>, r: Reference) {
    if !out.contains(&r) {
        out.push(r);
    }
}

/// A short name as the user typed it (`user/app`, not `library/...`), which is what
/// aliases are keyed by, plus the tag and digest to carry over to every candidate.
struct ShortName<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Split `s` as typed into name, tag and digest, without normalising or validating.
pub(crate) fn split_unparsed(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    // A ':' after the last '/' starts the tag; an earlier one is a registry port.
    match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag), digest),
        _ => (rest, None, digest),
    }
}

impl<'a> ShortName<'a> {
    fn split(s: &'a str, parsed: &'a Reference) -> ShortName<'a> {
        let (name, _, _) = split_unparsed(s);
        ShortName {
            name,
            tag: parsed.tag.as_deref(),
            digest: parsed.digest.as_deref(),
        }
    }

    fn finish(&self, mut r: Reference) -> Reference {
        r.tag = self.tag.map(str::to_string);
        r.digest = self.digest.map(str::to_string);
        r
    }

    fn alias(&self, conf: &RegistriesConf) -> Result<Option<Reference>, ReferenceError> {
        let Some(value) = conf.aliases.get(self.name) else {
            return Ok(None);
        };
        let invalid = |reason: String| ReferenceError::InvalidAlias {
            name: self.name.to_string(),
            value: value.clone(),
            reason,
        };
        if is_short_name(value) {
            return Err(invalid("it names no registry".into()));
        }
        let target = Reference::parse(value).map_err(|e| invalid(e.to_string()))?;
        Ok(Some(self.finish(target)))
    }

    fn qualify(&self, registry: &str, input: &str) -> Result<Reference, ReferenceError> {
        let joined = format!("{registry}/{}", self.name);
        let r = parse_with(&joined, DomainRule::Forced).map_err(|e| {
            ReferenceError::InvalidSearchRegistry {
                registry: registry.to_string(),
                input: input.to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(self.finish(r))
    }
}

/// Parse a name whose first component is a registry host even without a dot, as
/// registries.conf `location`s are read. Tag defaults as in [`Reference::parse`].
pub(crate) fn parse_qualified(s: &str) -> Result<Reference, ReferenceError> {
    parse_with(s, DomainRule::Forced)
}

fn parse_with(input: &str, rule: DomainRule) -> Result<Reference, ReferenceError> {
    if input.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if input.len() == 64
        && input
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ReferenceError::LooksLikeId {
            input: input.into(),
        });
    }
    let (name, tag, digest) = split_unparsed(input);
    if let Some(digest) = digest {
        validate_digest(input, digest)?;
    }
    if let Some(tag) = tag
        && !is_valid_tag(tag)
    {
        return Err(ReferenceError::InvalidTag {
            input: input.into(),
            tag: tag.into(),
        });
    }
    if name.is_empty() {
        return Err(ReferenceError::InvalidRepository {
            input: input.into(),
            repository: String::new(),
        });
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, path)) if rule == DomainRule::Forced || names_registry(first) => (first, path),
        _ => (DOCKER_HUB, name),
    };
    if !is_valid_domain(registry) {
        return Err(ReferenceError::InvalidRegistry {
            input: input.into(),
            registry: registry.into(),
        });
    }
    let registry = if registry == DOCKER_HUB_LEGACY {
        DOCKER_HUB
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("{OFFICIAL_NAMESPACE}/{path}")
    } else {
        path.to_string()
    };
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase {
            input: input.into(),
            repository,
        });
    }
    if !repository.split('/').all(is_valid_path_component) {
        return Err(ReferenceError::InvalidRepository {
            input: input.into(),
            repository,
        });
    }
    if registry.len() + 1 + repository.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong {
            input: input.into(),
        });
    }
    let tag = match (tag, digest) {
        (None, None) => Some(DEFAULT_TAG.to_string()),
        (tag, _) => tag.map(str::to_string),
    };
    Ok(Reference {
        registry: registry.to_string(),
        repository,
        tag,
        digest: digest.map(str::to_string),
    })
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn is_valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`.
fn is_valid_tag(tag: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_LENGTH_MAX
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// `host[:port]`: DNS labels joined by dots, or a bracketed IPv6 address.
fn is_valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.bytes().all(|x| x.is_ascii_hexdigit() || x == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|x| x.is_ascii_digit()))
    {
        return false;
    }
    if domain.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        })
}

/// `algorithm:hex`; only algorithms go-digest can verify are accepted, as Docker does.
fn validate_digest(input: &str, digest: &str) -> Result<(), ReferenceError> {
    let invalid = || ReferenceError::InvalidDigest {
        input: input.into(),
        digest: digest.into(),
    };
    let (algorithm, hex) = digest.split_once(':').ok_or_else(invalid)?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            let b = part.as_bytes();
            !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
        });
    if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|x| x.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(ReferenceError::UnsupportedDigestAlgorithm {
                input: input.into(),
                algorithm: algorithm.into(),
            });
        }
    };
    if hex.len() != length || hex.bytes().any(|x| x.is_ascii_uppercase()) {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    fn conf(search: &[&str], aliases: &[(&str, &str)]) -> RegistriesConf {
        RegistriesConf {
            unqualified_search_registries: search.iter().map(|s| s.to_string()).collect(),
            aliases: aliases
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..Default::default()
        }
    }

    fn strings(refs: &[Reference]) -> Vec<String> {
        refs.iter().map(Reference::to_string).collect()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(p("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(p("user/app"), "docker.io/user/app:latest");
        assert_eq!(p("docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            p("index.docker.io/busybox:1"),
            "docker.io/library/busybox:1"
        );
        assert_eq!(p("index.docker.io/user/app"), "docker.io/user/app:latest");
        assert_eq!(p("localhost/app"), "localhost/app:latest");
        assert_eq!(p("localhost:5000/app:v2"), "localhost:5000/app:v2");
        assert_eq!(p("127.0.0.1:5000/a/b:1.0"), "127.0.0.1:5000/a/b:1.0");
        assert_eq!(p("[::1]:5000/a"), "[::1]:5000/a:latest");
        assert_eq!(p("Quay.IO/x/y"), "Quay.IO/x/y:latest");
        assert_eq!(p("a/b/c/d"), "docker.io/a/b/c/d:latest");
        // No slash after it, so `localhost` is the repository and `5000` the tag.
        assert_eq!(p("localhost:5000"), "docker.io/library/localhost:5000");
        assert_eq!(p("foo.com"), "docker.io/library/foo.com:latest");
    }

    #[test]
    fn digests_and_tags() {
        let r = Reference::parse(&format!("quay.io/x/y@sha256:{HEX}")).unwrap();
        assert_eq!(r.registry, "quay.io");
        assert_eq!(r.repository, "x/y");
        assert_eq!(r.tag, None, "no default tag when pinned by digest");
        assert_eq!(r.digest.as_deref(), Some(format!("sha256:{HEX}").as_str()));
        assert_eq!(r.to_string(), format!("quay.io/x/y@sha256:{HEX}"));

        let both = Reference::parse(&format!("name:tag@sha256:{HEX}")).unwrap();
        assert_eq!(
            both.to_string(),
            format!("docker.io/library/name:tag@sha256:{HEX}")
        );
        assert_eq!(both.name(), "docker.io/library/name");

        let sha512 = format!("busybox@sha512:{}", "a".repeat(128));
        assert!(Reference::parse(&sha512).is_ok());
    }

    #[test]
    fn separators_in_paths() {
        for ok in ["a.b", "a_b", "a__b", "a-b", "a---b", "a1/b2", "x.y_z-w"] {
            assert!(Reference::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a..b", "a___b", "_a", "a_", "a/", "/a", "a//b", "a-", "a._b", "a b", "a/.b",
        ] {
            assert!(
                matches!(
                    Reference::parse(bad),
                    Err(ReferenceError::InvalidRepository { .. })
                ),
                "{bad}: {:?}",
                Reference::parse(bad)
            );
        }
    }

    #[test]
    fn rejects_bad_input_with_the_reason() {
        assert_eq!(Reference::parse(""), Err(ReferenceError::Empty));
        assert!(matches!(
            Reference::parse(HEX),
            Err(ReferenceError::LooksLikeId { .. })
        ));
        let upper = Reference::parse("Busybox").unwrap_err();
        assert!(
            matches!(upper, ReferenceError::Uppercase { ref repository, .. } if repository == "library/Busybox")
        );
        assert!(upper.to_string().contains("must be lowercase"));
        // Without a dot the first component is not a registry, so this is Hub and uppercase.
        assert!(matches!(
            Reference::parse("Foo/bar"),
            Err(ReferenceError::Uppercase { .. })
        ));
        assert!(matches!(
            Reference::parse("quay.io/Foo/bar"),
            Err(ReferenceError::Uppercase { .. })
        ));

        for tag in [".x", "-x", "a+b", ""] {
            let s = format!("busybox:{tag}");
            assert!(
                matches!(Reference::parse(&s), Err(ReferenceError::InvalidTag { .. })),
                "{s}"
            );
        }
        assert!(Reference::parse(&format!("busybox:{}", "t".repeat(128))).is_ok());
        assert!(matches!(
            Reference::parse(&format!("busybox:{}", "t".repeat(129))),
            Err(ReferenceError::InvalidTag { .. })
        ));

        for digest in [
            "sha256:abc",
            "sha256",
            "",
            &format!("sha256:{}", HEX.to_uppercase()),
            &format!("sha256:{HEX}0"),
        ] {
            let s = format!("busybox@{digest}");
            assert!(
                matches!(
                    Reference::parse(&s),
                    Err(ReferenceError::InvalidDigest { .. })
                ),
                "{s}"
            );
        }
        assert!(matches!(
            Reference::parse(&format!("busybox@md5:{HEX}")),
            Err(ReferenceError::UnsupportedDigestAlgorithm { .. })
        ));
        assert!(matches!(
            Reference::parse("bad_host.com/x"),
            Err(ReferenceError::InvalidRegistry { .. })
        ));
        assert!(matches!(
            Reference::parse("host.com:/x"),
            Err(ReferenceError::InvalidRegistry { .. })
        ));
        assert!(matches!(
            Reference::parse("host.com:80a/x"),
            Err(ReferenceError::InvalidRegistry { .. })
        ));

        let long = format!("quay.io/{}", "a".repeat(247));
        assert!(Reference::parse(&long).is_ok());
        let too_long = format!("quay.io/{}", "a".repeat(248));
        assert!(matches!(
            Reference::parse(&too_long),
            Err(ReferenceError::NameTooLong { .. })
        ));

        let err = Reference::parse("Quay.io/x/Y:1").unwrap_err().to_string();
        assert!(
            err.contains("Quay.io/x/Y:1"),
            "errors carry the input: {err}"
        );
    }

    #[test]
    fn with_tag_and_digest() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(
            r.with_tag("1.36").unwrap().to_string(),
            "docker.io/library/busybox:1.36"
        );
        assert!(r.with_tag("-bad").is_err());
        let d = r.with_digest(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(
            d.to_string(),
            format!("docker.io/library/busybox:latest@sha256:{HEX}")
        );
        assert!(d.is_digested());
        assert!(r.with_digest("sha256:nothex").is_err());
    }

    #[test]
    fn round_trips_through_display_and_serde() {
        for s in [
            "busybox",
            "quay.io/a/b:1",
            &format!("localhost:5000/a@sha256:{HEX}"),
        ] {
            let r = Reference::parse(s).unwrap();
            assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
        }
        assert!(serde_json::from_str::<Reference>("\"UPPER\"").is_err());
    }

    #[test]
    fn short_names() {
        assert!(is_short_name("busybox"));
        assert!(is_short_name("busybox:1"));
        assert!(is_short_name("user/app"));
        assert!(is_short_name(&format!("user/app@sha256:{HEX}")));
        assert!(is_short_name("localhost"));
        assert!(!is_short_name("localhost/app"));
        assert!(!is_short_name("docker.io/busybox"));
        assert!(!is_short_name("registry:5000/app"));
        assert!(!is_short_name("quay.io/a/b:1"));
    }

    #[test]
    fn pull_candidates_follow_search_registries() {
        let c = conf(&["quay.io", "docker.io"], &[]);
        assert_eq!(
            strings(&pull_candidates("busybox:1", &c).unwrap()),
            ["quay.io/busybox:1", "docker.io/library/busybox:1"]
        );
        assert_eq!(
            strings(&pull_candidates("user/app", &c).unwrap()),
            ["quay.io/user/app:latest", "docker.io/user/app:latest"]
        );
        let digested = format!("app@sha256:{HEX}");
        assert_eq!(
            strings(&pull_candidates(&digested, &c).unwrap()),
            [
                format!("quay.io/app@sha256:{HEX}"),
                format!("docker.io/library/app@sha256:{HEX}")
            ]
        );
        // Qualified names are not searched.
        assert_eq!(
            strings(&pull_candidates("ghcr.io/o/r", &c).unwrap()),
            ["ghcr.io/o/r:latest"]
        );
        assert_eq!(
            strings(&pull_candidates("docker.io/busybox", &c).unwrap()),
            ["docker.io/library/busybox:latest"]
        );
        // Without search registries a short name means Docker Hub.
        assert_eq!(
            strings(&pull_candidates("busybox", &conf(&[], &[])).unwrap()),
            ["docker.io/library/busybox:latest"]
        );
        // A search registry without a dot is still a host.
        assert_eq!(
            strings(&pull_candidates("app", &conf(&["myreg:5000", "mirror"], &[])).unwrap()),
            ["myreg:5000/app:latest", "mirror/app:latest"]
        );
        assert!(pull_candidates("Bad", &c).is_err());
        assert!(matches!(
            pull_candidates("app", &conf(&["bad host"], &[])),
            Err(ReferenceError::InvalidSearchRegistry { .. })
        ));
    }

    #[test]
    fn aliases_win_and_keep_tag_or_digest() {
        let c = conf(
            &["quay.io"],
            &[
                ("fedora", "registry.fedoraproject.org/fedora"),
                ("hub/alp", "docker.io/alpine"),
            ],
        );
        assert_eq!(
            strings(&pull_candidates("fedora", &c).unwrap()),
            ["registry.fedoraproject.org/fedora:latest"]
        );
        assert_eq!(
            strings(&pull_candidates("fedora:40", &c).unwrap()),
            ["registry.fedoraproject.org/fedora:40"]
        );
        assert_eq!(
            strings(&pull_candidates(&format!("fedora@sha256:{HEX}"), &c).unwrap()),
            [format!("registry.fedoraproject.org/fedora@sha256:{HEX}")]
        );
        assert_eq!(
            strings(&pull_candidates("hub/alp", &c).unwrap()),
            ["docker.io/library/alpine:latest"]
        );
        let bad = conf(&[], &[("x", "notqualified")]);
        assert!(matches!(
            pull_candidates("x", &bad),
            Err(ReferenceError::InvalidAlias { .. })
        ));
    }

    #[test]
    fn local_candidates_as_podman_looks_up() {
        let c = conf(
            &["quay.io", "docker.io"],
            &[("fedora", "registry.fedoraproject.org/fedora")],
        );
        assert_eq!(
            strings(&local_candidates("busybox", &c)),
            [
                "localhost/busybox:latest",
                "quay.io/busybox:latest",
                "docker.io/library/busybox:latest"
            ]
        );
        assert_eq!(
            strings(&local_candidates("fedora:40", &c)),
            [
                "registry.fedoraproject.org/fedora:40",
                "localhost/fedora:40",
                "quay.io/fedora:40",
                "docker.io/library/fedora:40"
            ]
        );
        assert_eq!(
            strings(&local_candidates("user/app", &conf(&[], &[]))),
            ["localhost/user/app:latest", "docker.io/user/app:latest"]
        );
        assert_eq!(
            strings(&local_candidates("quay.io/a/b", &c)),
            ["quay.io/a/b:latest"]
        );
        assert!(local_candidates("NOPE", &c).is_empty());
    }

    #[test]
    fn parse_qualified_forces_the_registry() {
        assert_eq!(
            parse_qualified("mirror/x").unwrap().to_string(),
            "mirror/x:latest"
        );
        assert_eq!(
            parse_qualified("docker.io/x").unwrap().to_string(),
            "docker.io/library/x:latest"
        );
        assert!(parse_qualified("x").is_ok());
    }
}
