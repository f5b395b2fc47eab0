//! ConfigMaps and Secrets that `kube play` keeps beside pods: their data, by namespace and
//! name. A ConfigMap lives in the state store; a Secret's data lives in a file of mode 0600
//! under `<root>/secrets/`, and the store row holds none of it, so nothing that prints rows
//! (inspect, logs, errors) can show it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::Utc;

use super::{Engine, EngineError, Result, io_err};
use crate::state::kube::{KubeObjectRecord, write};

/// Which kind of keyed data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    ConfigMap,
    Secret,
}

impl DataKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::ConfigMap => "ConfigMap",
            DataKind::Secret => "Secret",
        }
    }
}

/// A ConfigMap's or Secret's keys and values (bytes: binaryData and Secret data are
/// arbitrary).
pub type KeyedData = BTreeMap<String, Vec<u8>>;

impl Engine {
    fn secret_file(&self, namespace: &str, name: &str) -> PathBuf {
        self.paths
            .root
            .join("secrets")
            .join(namespace)
            .join(format!("{name}.json"))
    }

    /// Store (or replace) a ConfigMap or Secret. `meta` is what is kept in the store: labels
    /// and annotations, never a Secret's data.
    pub fn put_keyed_data(
        &mut self,
        kind: DataKind,
        namespace: &str,
        name: &str,
        data: &KeyedData,
        meta: serde_json::Value,
    ) -> Result<()> {
        let encoded: BTreeMap<&String, String> = data
            .iter()
            .map(|(k, v)| {
                use base64::Engine as _;
                (k, base64::engine::general_purpose::STANDARD.encode(v))
            })
            .collect();
        let mut row = serde_json::json!({ "meta": meta });
        match kind {
            DataKind::ConfigMap => row["data"] = serde_json::json!(encoded),
            DataKind::Secret => {
                let path = self.secret_file(namespace, name);
                let dir = path.parent().expect("a secret file has a directory");
                std::fs::create_dir_all(dir).map_err(io_err(dir))?;
                std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                    .map_err(io_err(dir))?;
                let json = serde_json::to_vec(&encoded).expect("secret data serialises");
                crate::sys::fs::write_atomic(&path, &json, 0o600).map_err(io_err(&path))?;
            }
        }
        let record = KubeObjectRecord {
            namespace: namespace.to_string(),
            kind: kind.as_str().to_string(),
            name: name.to_string(),
            data: row.to_string(),
            created: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        self.store.write(|tx| write::put_object(tx, &record))?;
        Ok(())
    }

    /// A stored ConfigMap's or Secret's data, None when there is no such object.
    pub fn keyed_data(
        &mut self,
        kind: DataKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<KeyedData>> {
        let Some(row) = self.store.kube_object(namespace, kind.as_str(), name)? else {
            return Ok(None);
        };
        let encoded: BTreeMap<String, String> = match kind {
            DataKind::ConfigMap => {
                let value: serde_json::Value = serde_json::from_str(&row.data).map_err(|e| {
                    EngineError::Invalid(format!("stored ConfigMap {name} is malformed: {e}"))
                })?;
                serde_json::from_value(value["data"].clone()).unwrap_or_default()
            }
            DataKind::Secret => {
                let path = self.secret_file(namespace, name);
                let bytes = std::fs::read(&path).map_err(io_err(&path))?;
                serde_json::from_slice(&bytes).map_err(|e| {
                    EngineError::Invalid(format!("stored Secret {name} is malformed: {e}"))
                })?
            }
        };
        use base64::Engine as _;
        Ok(Some(
            encoded
                .into_iter()
                .filter_map(|(k, v)| {
                    Some((k, base64::engine::general_purpose::STANDARD.decode(v).ok()?))
                })
                .collect(),
        ))
    }

    pub fn keyed_data_exists(&self, kind: DataKind, namespace: &str, name: &str) -> Result<bool> {
        Ok(self
            .store
            .kube_object(namespace, kind.as_str(), name)?
            .is_some())
    }

    /// Remove a ConfigMap or Secret; false when there was none.
    pub fn remove_keyed_data(
        &mut self,
        kind: DataKind,
        namespace: &str,
        name: &str,
    ) -> Result<bool> {
        let removed = self
            .store
            .write(|tx| write::remove_object(tx, namespace, kind.as_str(), name))?;
        if kind == DataKind::Secret {
            let path = self.secret_file(namespace, name);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err(&path)(e));
                }
                _ => {}
            }
        }
        Ok(removed)
    }

    /// The spec with its Secret variables resolved into `env`, for one start.
    pub(crate) fn with_secret_env(
        &mut self,
        spec: &crate::spec::ContainerSpec,
    ) -> Result<crate::spec::ContainerSpec> {
        let mut out = spec.clone();
        for s in &spec.secret_env {
            let data = self.keyed_data(DataKind::Secret, &s.namespace, &s.secret)?;
            let Some(data) = data else {
                if s.optional {
                    continue;
                }
                return Err(EngineError::Invalid(format!(
                    "Secret {}/{} does not exist (variable {})",
                    s.namespace, s.secret, s.var
                )));
            };
            match &s.key {
                Some(key) => match data.get(key) {
                    Some(v) => out
                        .env
                        .push(format!("{}={}", s.var, String::from_utf8_lossy(v))),
                    None if s.optional => {}
                    None => {
                        return Err(EngineError::Invalid(format!(
                            "Secret {}/{} has no key {key} (variable {})",
                            s.namespace, s.secret, s.var
                        )));
                    }
                },
                None => {
                    for (k, v) in &data {
                        out.env
                            .push(format!("{}{k}={}", s.var, String::from_utf8_lossy(v)));
                    }
                }
            }
        }
        out.secret_env.clear();
        Ok(out)
    }

    /// Keep a small JSON record of a Kubernetes object (a Job's spec and status).
    pub fn put_kube_record(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
        data: serde_json::Value,
    ) -> Result<()> {
        let record = KubeObjectRecord {
            namespace: namespace.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            data: data.to_string(),
            created: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        self.store.write(|tx| write::put_object(tx, &record))?;
        Ok(())
    }

    pub fn kube_record(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>> {
        Ok(self
            .store
            .kube_object(namespace, kind, name)?
            .and_then(|r| serde_json::from_str(&r.data).ok()))
    }

    pub fn remove_kube_record(&mut self, kind: &str, namespace: &str, name: &str) -> Result<bool> {
        Ok(self
            .store
            .write(|tx| write::remove_object(tx, namespace, kind, name))?)
    }
}

impl Engine {
    /// Every record of one kind: (namespace, name, data).
    pub fn kube_records(&mut self, kind: &str) -> Result<Vec<(String, String, serde_json::Value)>> {
        Ok(self
            .store
            .kube_objects(kind)?
            .into_iter()
            .filter_map(|r| Some((r.namespace, r.name, serde_json::from_str(&r.data).ok()?)))
            .collect())
    }
}
