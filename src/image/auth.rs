//! Registry credentials in the auth.json format Podman and Docker share:
//! `{"auths": {"registry[/namespace[/repo]]": {"auth": base64("user:password")}}}`.
//!
//! Podman writes `$XDG_RUNTIME_DIR/containers/auth.json` (or `--authfile`,
//! `REGISTRY_AUTH_FILE`) and, when neither option names a file, also reads the user's
//! `containers/auth.json` and Docker's config, so `docker login` keeps working.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::reference::{self, Reference};
use crate::sys::fs::write_atomic;

pub const AUTH_FILE_ENV: &str = "REGISTRY_AUTH_FILE";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: invalid JSON: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("invalid credentials key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
}

/// A user name and password (or token) for one registry or namespace.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

// Keeps passwords out of logs and error reports.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The auth file Podman would use, plus the files it falls back to when reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFile {
    path: PathBuf,
    fallbacks: Vec<LookupFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LookupFile {
    path: PathBuf,
    /// `~/.dockercfg`: the `auths` map is the whole file, keyed by URLs.
    legacy: bool,
}

impl AuthFile {
    /// Exactly this file, as `--authfile PATH` means: no fallbacks.
    pub fn new(path: impl Into<PathBuf>) -> AuthFile {
        AuthFile {
            path: path.into(),
            fallbacks: Vec::new(),
        }
    }

    /// The file for `--authfile` (when given), else `REGISTRY_AUTH_FILE`, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json` (`/run/containers/UID/auth.json` without it);
    /// only in that last case are the user's and Docker's files read as fallbacks.
    pub fn locate(authfile: Option<&Path>) -> AuthFile {
        resolve_with(
            authfile,
            |key| std::env::var_os(key),
            nix::unistd::getuid().as_raw(),
        )
    }

    /// Where logins are stored and looked up first.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every file looked in, in order.
    pub fn lookup_paths(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.path.as_path()).chain(self.fallbacks.iter().map(|f| f.path.as_path()))
    }

    /// The credentials for `reference`: the most specific key (`registry/ns/repo`, ...,
    /// `registry`) of the first file that has one.
    pub fn credentials(&self, reference: &Reference) -> Result<Option<Credentials>, AuthError> {
        Ok(self
            .find(&reference.name(), &reference.registry)?
            .map(|(c, _)| c))
    }

    /// Like [`credentials`](Self::credentials) for a login key (`registry[/namespace...]`),
    /// also saying which file held them (Podman's logout tells Docker's logins apart).
    pub fn credentials_for_key(
        &self,
        key: &str,
    ) -> Result<Option<(Credentials, PathBuf)>, AuthError> {
        let registry = key.split('/').next().unwrap_or_default();
        self.find(key, registry)
    }

    fn find(
        &self,
        name: &str,
        registry: &str,
    ) -> Result<Option<(Credentials, PathBuf)>, AuthError> {
        let primary = LookupFile {
            path: self.path.clone(),
            legacy: false,
        };
        for file in std::iter::once(&primary).chain(&self.fallbacks) {
            let Some(doc) = read_json(&file.path)? else {
                continue;
            };
            if let Some(creds) = find_in_file(&doc, file, name, registry)? {
                return Ok(Some((creds, file.path.clone())));
            }
        }
        Ok(None)
    }

    /// Save `creds` under `key` (`registry[/namespace...]`), keeping every other entry.
    pub fn store(&self, key: &str, creds: &Credentials) -> Result<(), AuthError> {
        validate_key(key)?;
        let auth = BASE64.encode(format!("{}:{}", creds.username, creds.password));
        let mut entry = Map::new();
        entry.insert("auth".into(), Value::String(auth));
        self.modify(true, |auths| {
            auths.insert(key.to_string(), Value::Object(entry));
            true
        })?;
        Ok(())
    }

    /// Remove the entry stored under exactly `key`; whether there was one.
    pub fn remove(&self, key: &str) -> Result<bool, AuthError> {
        validate_key(key)?;
        self.modify(false, |auths| auths.remove(key).is_some())
    }

    /// Remove every entry of this file (`logout --all`); other fields stay.
    pub fn remove_all(&self) -> Result<(), AuthError> {
        self.modify(false, |auths| {
            let had = !auths.is_empty();
            auths.clear();
            had
        })?;
        Ok(())
    }

    /// Apply `change` to the `auths` map and write the file back when it says it changed.
    /// A missing file is created only when `create` is set.
    fn modify(
        &self,
        create: bool,
        change: impl FnOnce(&mut Map<String, Value>) -> bool,
    ) -> Result<bool, AuthError> {
        let invalid = |reason: &str| AuthError::Invalid {
            path: self.path.clone(),
            reason: reason.into(),
        };
        let mut doc = match read_json(&self.path)? {
            Some(doc) => doc,
            None if create => Value::Object(Map::new()),
            None => return Ok(false),
        };
        let Value::Object(top) = &mut doc else {
            return Err(invalid("the file is not a JSON object"));
        };
        let auths = top
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(auths) = auths else {
            return Err(invalid("\"auths\" is not a JSON object"));
        };
        if !change(auths) {
            return Ok(false);
        }
        self.write(&doc)?;
        Ok(true)
    }

    fn write(&self, doc: &Value) -> Result<(), AuthError> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| AuthError::Write { path, source }
        };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(write_err(parent))?;
        }
        // Tab-indented like containers-image writes it, so diffs after `podman login` stay small.
        let mut data = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut data, formatter);
        serde::Serialize::serialize(doc, &mut ser).expect("a JSON value always serializes");
        data.push(b'\n');
        write_atomic(&self.path, &data, 0o600).map_err(write_err(&self.path))
    }
}

fn resolve_with(
    authfile: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
    uid: u32,
) -> AuthFile {
    let set = |key: &str| env(key).filter(|v| !v.is_empty());
    if let Some(path) = authfile.filter(|p| !p.as_os_str().is_empty()) {
        return AuthFile::new(path);
    }
    if let Some(path) = set(AUTH_FILE_ENV) {
        return AuthFile::new(path);
    }
    let path = match set("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("containers/auth.json"),
        None => PathBuf::from(format!("/run/containers/{uid}/auth.json")),
    };
    let home = set("HOME").map(PathBuf::from);
    let mut fallbacks = Vec::new();
    let config_home = set("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    if let Some(config_home) = config_home {
        fallbacks.push(LookupFile {
            path: config_home.join("containers/auth.json"),
            legacy: false,
        });
    }
    let docker_config = set("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".docker")));
    if let Some(dir) = docker_config {
        fallbacks.push(LookupFile {
            path: dir.join("config.json"),
            legacy: false,
        });
    }
    if let Some(home) = &home {
        fallbacks.push(LookupFile {
            path: home.join(".dockercfg"),
            legacy: true,
        });
    }
    AuthFile { path, fallbacks }
}

fn read_json(path: &Path) -> Result<Option<Value>, AuthError> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Value::Object(Map::new())));
    }
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|source| AuthError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

/// The entry for `name` in one file: exact keys from most to least specific, then any key
/// that normalises to the registry (`https://index.docker.io/v1/` for docker.io). The
/// first key found decides for this file, as containers-image does.
fn find_in_file(
    doc: &Value,
    file: &LookupFile,
    name: &str,
    registry: &str,
) -> Result<Option<Credentials>, AuthError> {
    let invalid = |reason: String| AuthError::Invalid {
        path: file.path.clone(),
        reason,
    };
    let auths = if file.legacy {
        Some(doc)
    } else {
        doc.get("auths")
    };
    let auths = match auths {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(auths)) => auths,
        Some(_) => return Err(invalid("\"auths\" is not a JSON object".into())),
    };
    if !file.legacy
        && let Some(helper) = doc.get("credHelpers").and_then(|h| h.get(registry))
    {
        tracing::warn!(
            path = %file.path.display(),
            "credential helper {helper} configured for {registry} is not supported; using the file's own entries"
        );
    }
    let mut key = name;
    loop {
        if let Some(entry) = auths.get(key) {
            return decode_entry(entry, key).map_err(invalid);
        }
        match key.rsplit_once('/') {
            Some((shorter, _)) => key = shorter,
            None => break,
        }
    }
    let wanted = normalize_registry(registry);
    for (key, entry) in auths {
        if normalize_file_key(key, file.legacy) == wanted {
            return decode_entry(entry, key).map_err(invalid);
        }
    }
    Ok(None)
}

/// `None` for an entry without usable `user:password` (Podman then tries the next file).
fn decode_entry(entry: &Value, key: &str) -> Result<Option<Credentials>, String> {
    let auth = match entry.get("auth") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(auth)) => auth,
        Some(_) => return Err(format!("the \"auth\" of {key:?} is not a string")),
    };
    if auth.is_empty() {
        return Ok(None);
    }
    let decoded = BASE64
        .decode(auth)
        .map_err(|e| format!("the \"auth\" of {key:?} is not valid base64: {e}"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| format!("the \"auth\" of {key:?} is not UTF-8"))?;
    Ok(decoded.split_once(':').map(|(user, password)| Credentials {
        username: user.to_string(),
        password: password.trim_matches('\0').to_string(),
    }))
}

/// Docker Hub answers to several names; compare them as one.
fn normalize_registry(registry: &str) -> &str {
    match registry {
        "registry-1.docker.io" | "docker.io" => "index.docker.io",
        other => other,
    }
}

/// `https://host/v1/` (Docker, and every key of the legacy file) → `host`.
fn normalize_file_key(key: &str, legacy: bool) -> &str {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    let host = if legacy || stripped.len() != key.len() {
        stripped.split('/').next().unwrap_or_default()
    } else {
        stripped
    };
    normalize_registry(host)
}

/// The rules containers-image applies to keys it stores: `host[:port][/path...]`, no URL
/// scheme, no tag or digest.
fn validate_key(key: &str) -> Result<(), AuthError> {
    let invalid = |reason: &str| {
        Err(AuthError::InvalidKey {
            key: key.to_string(),
            reason: reason.to_string(),
        })
    };
    if key.is_empty() {
        return invalid("it is empty");
    }
    if key.starts_with("http://") || key.starts_with("https://") {
        return invalid("it has an http[s]:// prefix");
    }
    if key.contains('@') {
        return invalid("it has a digest ('@')");
    }
    if let Some((_, path)) = key.split_once('/')
        && path.contains(':')
    {
        return invalid("it has a tag (':' after host[:port])");
    }
    Ok(())
}

/// The key `podman login ARG` / `logout ARG` stores under: a URL becomes its `host[:port]`
/// (so `docker login https://...` habits work); `registry/namespace` keys are checked to
/// name a registry and carry no tag or digest.
pub fn login_key(arg: &str) -> Result<String, AuthError> {
    let invalid = |reason: String| AuthError::InvalidKey {
        key: arg.to_string(),
        reason,
    };
    if let Some(rest) = arg
        .strip_prefix("http://")
        .or_else(|| arg.strip_prefix("https://"))
    {
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            return Err(invalid("the URL has no host".into()));
        }
        return Ok(host.to_string());
    }
    let key = arg.trim_end_matches('/');
    validate_key(key)?;
    if !key.contains('/') {
        return Ok(key.to_string());
    }
    if reference::is_short_name(key) {
        return Err(invalid(
            "it does not start with a registry (host with '.', ':' or localhost)".into(),
        ));
    }
    let (_, tag, digest) = reference::split_unparsed(key);
    if tag.is_some() || digest.is_some() {
        return Err(invalid("it has a tag or digest".into()));
    }
    Reference::parse(key).map_err(|e| invalid(e.to_string()))?;
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds(user: &str, pass: &str) -> Credentials {
        Credentials {
            username: user.into(),
            password: pass.into(),
        }
    }

    fn entry(user: &str, pass: &str) -> Value {
        serde_json::json!({ "auth": BASE64.encode(format!("{user}:{pass}")) })
    }

    fn write_json(path: &Path, v: &Value) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(v).unwrap()).unwrap();
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    fn user_of(file: &AuthFile, s: &str) -> Option<String> {
        file.credentials(&r(s)).unwrap().map(|c| c.username)
    }

    #[test]
    fn most_specific_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        write_json(
            &path,
            &serde_json::json!({ "auths": {
                "quay.io": entry("reg", "p"),
                "quay.io/ns": entry("ns", "p"),
                "quay.io/ns/repo": entry("repo", "p"),
                "localhost:5000": entry("local", "p"),
            }}),
        );
        let file = AuthFile::new(&path);
        assert_eq!(user_of(&file, "quay.io/ns/repo:1").as_deref(), Some("repo"));
        assert_eq!(user_of(&file, "quay.io/ns/other").as_deref(), Some("ns"));
        assert_eq!(user_of(&file, "quay.io/ns/repo2").as_deref(), Some("ns"));
        assert_eq!(user_of(&file, "quay.io/x").as_deref(), Some("reg"));
        assert_eq!(user_of(&file, "localhost:5000/a").as_deref(), Some("local"));
        assert_eq!(user_of(&file, "ghcr.io/x"), None);
        let c = file.credentials(&r("quay.io/ns/repo")).unwrap().unwrap();
        assert_eq!(c, creds("repo", "p"));
    }

    #[test]
    fn docker_style_keys_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        write_json(
            &path,
            &serde_json::json!({ "auths": {
                "https://index.docker.io/v1/": entry("hub", "p"),
                "https://ghcr.io": entry("gh", "p:with:colons\u{0}"),
                "registry.example.com/v1/": entry("no-scheme", "p"),
            }}),
        );
        let file = AuthFile::new(&path);
        assert_eq!(user_of(&file, "busybox").as_deref(), Some("hub"));
        let gh = file.credentials(&r("ghcr.io/o/r")).unwrap().unwrap();
        assert_eq!(gh, creds("gh", "p:with:colons"));
        // Without a scheme a key is a path, not a URL, as containers-image reads it.
        assert_eq!(user_of(&file, "registry.example.com/x"), None);
    }

    #[test]
    fn falls_back_through_podman_and_docker_files() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let run = dir.path().join("run");
        let env = |vars: Vec<(&'static str, PathBuf)>| {
            move |key: &str| {
                vars.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone().into_os_string())
            }
        };
        let file = resolve_with(
            None,
            env(vec![
                ("XDG_RUNTIME_DIR", run.clone()),
                ("HOME", home.clone()),
            ]),
            1000,
        );
        assert_eq!(file.path, run.join("containers/auth.json"));
        assert_eq!(
            file.lookup_paths().collect::<Vec<_>>(),
            [
                run.join("containers/auth.json").as_path(),
                &home.join(".config/containers/auth.json"),
                &home.join(".docker/config.json"),
                &home.join(".dockercfg"),
            ]
        );

        write_json(
            &home.join(".dockercfg"),
            &serde_json::json!({ "https://legacy.io/v1/": entry("legacy", "p") }),
        );
        write_json(
            &home.join(".docker/config.json"),
            &serde_json::json!({ "auths": { "docker.io": entry("docker", "p"), "quay.io": { "auth": "" } } }),
        );
        assert_eq!(user_of(&file, "busybox").as_deref(), Some("docker"));
        assert_eq!(user_of(&file, "legacy.io/x").as_deref(), Some("legacy"));
        assert_eq!(
            user_of(&file, "quay.io/x"),
            None,
            "an empty entry is no credentials"
        );

        file.store("docker.io", &creds("podman", "p")).unwrap();
        assert_eq!(
            user_of(&file, "busybox").as_deref(),
            Some("podman"),
            "the primary file comes first"
        );
        let (_, from) = file.credentials_for_key("docker.io").unwrap().unwrap();
        assert_eq!(from, file.path);

        let docker_config = dir.path().join("dc");
        let file = resolve_with(
            None,
            env(vec![
                ("HOME", home.clone()),
                ("DOCKER_CONFIG", docker_config.clone()),
            ]),
            1000,
        );
        assert_eq!(file.path, PathBuf::from("/run/containers/1000/auth.json"));
        assert!(
            file.lookup_paths()
                .any(|p| p == docker_config.join("config.json"))
        );
        assert!(
            !file
                .lookup_paths()
                .any(|p| p == home.join(".docker/config.json"))
        );

        // A named file is the only one read.
        let named = dir.path().join("named.json");
        let by_env = resolve_with(
            None,
            env(vec![(AUTH_FILE_ENV, named.clone()), ("HOME", home.clone())]),
            0,
        );
        assert_eq!(by_env.lookup_paths().collect::<Vec<_>>(), [named.as_path()]);
        let by_flag = resolve_with(
            Some(&dir.path().join("flag.json")),
            env(vec![(AUTH_FILE_ENV, named)]),
            0,
        );
        assert_eq!(by_flag.path, dir.path().join("flag.json"));
        assert_eq!(user_of(&by_flag, "busybox"), None);
    }

    #[test]
    fn store_keeps_other_keys_and_fields_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/containers/auth.json");
        let file = AuthFile::new(&path);
        file.store("quay.io", &creds("a", "b")).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let parent_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(parent_mode & 0o777, 0o700);

        let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        doc["credHelpers"] = serde_json::json!({ "gcr.io": "gcloud" });
        doc["auths"]["quay.io"]["email"] = "x@y".into();
        doc["auths"]["other.io"] = entry("o", "p");
        write_json(&path, &doc);

        file.store("quay.io/ns", &creds("ns", "pw")).unwrap();
        file.store("quay.io", &creds("new", "pw")).unwrap();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["credHelpers"]["gcr.io"], "gcloud");
        assert_eq!(doc["auths"]["other.io"], entry("o", "p"));
        assert_eq!(
            doc["auths"]["quay.io"],
            entry("new", "pw"),
            "a new login replaces the entry"
        );
        assert_eq!(doc["auths"]["quay.io/ns"], entry("ns", "pw"));
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temp file left"
        );

        assert!(file.remove("quay.io/ns").unwrap());
        assert!(!file.remove("quay.io/ns").unwrap());
        assert_eq!(user_of(&file, "quay.io/ns/x").as_deref(), Some("new"));

        file.remove_all().unwrap();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["auths"], serde_json::json!({}));
        assert_eq!(doc["credHelpers"]["gcr.io"], "gcloud");
    }

    #[test]
    fn remove_on_a_missing_file_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = AuthFile::new(dir.path().join("sub/auth.json"));
        assert!(!file.remove("quay.io").unwrap());
        file.remove_all().unwrap();
        assert!(!dir.path().join("sub").exists());
        assert_eq!(file.credentials(&r("quay.io/x")).unwrap(), None);
    }

    #[test]
    fn broken_files_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, "{not json").unwrap();
        let file = AuthFile::new(&path);
        let err = file.credentials(&r("quay.io/x")).unwrap_err();
        assert!(err.to_string().contains("auth.json"), "{err}");
        assert!(file.store("quay.io", &creds("a", "b")).is_err());

        write_json(
            &path,
            &serde_json::json!({ "auths": { "quay.io": { "auth": "!!!" } } }),
        );
        let err = file.credentials(&r("quay.io/x")).unwrap_err().to_string();
        assert!(err.contains("base64") && err.contains("auth.json"), "{err}");

        write_json(&path, &serde_json::json!({ "auths": [] }));
        assert!(file.credentials(&r("quay.io/x")).is_err());

        std::fs::write(&path, "").unwrap();
        assert_eq!(file.credentials(&r("quay.io/x")).unwrap(), None);

        write_json(
            &path,
            &serde_json::json!({ "auths": { "quay.io": { "auth": BASE64.encode("nocolon") } } }),
        );
        assert_eq!(file.credentials(&r("quay.io/x")).unwrap(), None);
    }

    #[test]
    fn keys_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let file = AuthFile::new(dir.path().join("auth.json"));
        for bad in ["", "https://quay.io", "quay.io/a:1", "quay.io/a@sha256:x"] {
            assert!(
                matches!(
                    file.store(bad, &creds("a", "b")),
                    Err(AuthError::InvalidKey { .. })
                ),
                "{bad}"
            );
        }
        file.store("localhost:5000", &creds("a", "b")).unwrap();
        file.store("localhost:5000/ns", &creds("a", "b")).unwrap();

        assert_eq!(login_key("quay.io").unwrap(), "quay.io");
        assert_eq!(
            login_key("https://index.docker.io/v1/").unwrap(),
            "index.docker.io"
        );
        assert_eq!(
            login_key("http://localhost:5000").unwrap(),
            "localhost:5000"
        );
        assert_eq!(login_key("quay.io/ns/repo/").unwrap(), "quay.io/ns/repo");
        assert_eq!(login_key("docker.io/user").unwrap(), "docker.io/user");
        assert!(login_key("user/app").is_err());
        assert!(login_key("quay.io/ns:1").is_err());
        assert!(login_key("quay.io/NS").is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", creds("me", "s3cret"));
        assert!(shown.contains("me") && !shown.contains("s3cret"));
    }
}
