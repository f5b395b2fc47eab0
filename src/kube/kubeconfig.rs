//! Finding the cluster to talk to, as kubectl does: `--kubeconfig FILE`, else every file of
//! `$KUBECONFIG` merged (first one to set a value wins; files that do not exist are skipped,
//! as client-go skips them), else `~/.kube/config`; then `--context` or the current context.
//!
//! Parsing, merging and the context's cluster and user (tokens, client certificates, `exec`
//! credential plugins, `insecure-skip-tls-verify`, CA data) are the `kube` crate's; this module
//! chooses the files and turns its errors into ones that say which file and which context.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};
use miette::Diagnostic;

/// Where the kubeconfig comes from and which of its contexts to use.
#[derive(Debug, Clone, Default)]
pub struct KubeconfigOptions {
    /// `--kubeconfig`: this file only, `$KUBECONFIG` ignored.
    pub path: Option<PathBuf>,
    /// `--context`: instead of the file's `current-context`.
    pub context: Option<String>,
}

/// The client configuration of the chosen context.
#[derive(Debug, Clone)]
pub struct Target {
    pub config: kube::Config,
    /// The context's name.
    pub context: String,
    /// The files read, as users named them (for messages).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum KubeconfigError {
    #[error("no kubeconfig: {searched}")]
    #[diagnostic(help(
        "pass --kubeconfig FILE, set KUBECONFIG, or write ~/.kube/config (kubectl config ...)"
    ))]
    NotFound { searched: String },
    #[error("cannot read kubeconfig {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig {files} sets no current-context")]
    #[diagnostic(help("pass --context NAME (contexts: {known})"))]
    NoCurrentContext { files: String, known: String },
    #[error("kubeconfig {files} has no context {name:?}")]
    #[diagnostic(help("contexts: {known}"))]
    NoContext {
        files: String,
        name: String,
        known: String,
    },
    #[error("context {context:?} of kubeconfig {files} is unusable")]
    Invalid {
        context: String,
        files: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
}

/// Reads and merges the kubeconfig files and resolves the context into a client configuration.
/// `exec` plugins are not run here: the client runs them when it first needs a credential.
pub async fn load(options: &KubeconfigOptions) -> Result<Target, KubeconfigError> {
    let files = files(options)?;
    let mut merged = Kubeconfig::default();
    for path in &files {
        let one = Kubeconfig::read_from(path).map_err(|source| KubeconfigError::Read {
            path: path.clone(),
            source,
        })?;
        merged = merged.merge(one).map_err(|source| KubeconfigError::Read {
            path: path.clone(),
            source,
        })?;
    }
    let names = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let known = merged
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    let context = match (&options.context, &merged.current_context) {
        (Some(name), _) => name.clone(),
        (None, Some(name)) if !name.is_empty() => name.clone(),
        (None, _) => {
            return Err(KubeconfigError::NoCurrentContext {
                files: names,
                known,
            });
        }
    };
    if !merged.contexts.iter().any(|c| c.name == context) {
        return Err(KubeconfigError::NoContext {
            files: names,
            name: context,
            known,
        });
    }
    let config = kube::Config::from_custom_kubeconfig(
        merged,
        &KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        },
    )
    .await
    .map_err(|source| KubeconfigError::Invalid {
        context: context.clone(),
        files: names,
        source,
    })?;
    Ok(Target {
        config,
        context,
        files,
    })
}

/// The files to read, in merge order.
fn files(options: &KubeconfigOptions) -> Result<Vec<PathBuf>, KubeconfigError> {
    if let Some(path) = &options.path {
        // An explicit file must exist: a typo must not fall back to another cluster.
        return Ok(vec![path.clone()]);
    }
    if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let listed: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        let present: Vec<PathBuf> = listed.iter().filter(|p| p.exists()).cloned().collect();
        if present.is_empty() {
            return Err(KubeconfigError::NotFound {
                searched: format!(
                    "none of the files in KUBECONFIG exists ({})",
                    listed
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        return Ok(present);
    }
    let default = home().map(|h| h.join(".kube").join("config"));
    match default {
        Some(path) if path.exists() => Ok(vec![path]),
        Some(path) => Err(KubeconfigError::NotFound {
            searched: format!(
                "KUBECONFIG is not set and {} does not exist",
                path.display()
            ),
        }),
        None => Err(KubeconfigError::NotFound {
            searched: "KUBECONFIG and HOME are not set".into(),
        }),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "apiVersion: v1
kind: Config
current-context: first
clusters:
- name: c1
  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}
contexts:
- name: first
  context: {cluster: c1, user: u1, namespace: team-a}
users:
- name: u1
  user: {token: one}
";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn load_sync(options: &KubeconfigOptions) -> Result<Target, KubeconfigError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(load(options))
    }

    #[test]
    fn explicit_file_and_context_choose_cluster_user_and_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "one", ONE);
        let target = load_sync(&KubeconfigOptions {
            path: Some(path.clone()),
            context: None,
        })
        .unwrap();
        assert_eq!(target.context, "first");
        assert_eq!(target.config.default_namespace, "team-a");
        assert_eq!(target.config.cluster_url.port_u16(), Some(1));
        assert!(target.config.accept_invalid_certs);
        assert_eq!(target.files, vec![path]);
    }

    #[test]
    fn missing_context_names_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "one", ONE);
        let err = load_sync(&KubeconfigOptions {
            path: Some(path),
            context: Some("nope".into()),
        })
        .unwrap_err();
        assert!(
            matches!(&err, KubeconfigError::NoContext { name, known, .. }
            if name == "nope" && known == "first")
        );
    }
}
