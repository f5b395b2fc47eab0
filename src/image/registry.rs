//! Talking to registries through the OCI distribution API (`oci-client`): manifests, blobs,
//! pushes and logins, with the TLS and credential choices Podman makes.
//!
//! A registry marked insecure (registries.conf, or `--tls-verify=false`) is tried over HTTPS
//! without certificate checks first and over plain HTTP when that handshake fails, as
//! containers-image does; a secure one trusts the system roots plus the CAs in its certs.d
//! directory.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use futures_util::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::auth::Credentials;
use super::blobs::BlobWriter;
use super::reference::Reference;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPTED_MANIFESTS: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("manifest unknown: the registry has no such image or tag")]
    NotFound { reference: String },
    #[error(
        "{registry}: authentication required or credentials rejected (try `oxpod login {registry}`)"
    )]
    Unauthorized { registry: String },
    #[error("{registry}: cannot reach the registry: {message}")]
    Unreachable { registry: String, message: String },
    #[error("{registry}: {message}")]
    Protocol { registry: String, message: String },
    #[error("reading CA certificates from {path}: {source}")]
    Certs {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl RegistryError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }
}

/// How to connect to one registry.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Skip TLS verification and allow plain HTTP (registries.conf `insecure`, or
    /// `--tls-verify=false`).
    pub insecure: bool,
    /// Directory with `<host[:port]>/*.crt` CA files; defaults to `/etc/containers/certs.d`.
    pub cert_dir: Option<PathBuf>,
    pub credentials: Option<Credentials>,
}

/// A connection to one registry host, ready for one repository's operations.
pub struct Remote {
    client: Client,
    auth: RegistryAuth,
    registry: String,
}

/// A manifest as fetched: the raw bytes (their digest is the manifest digest), its digest and
/// media type.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
}

fn install_crypto_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Ignored error: another part of the process installed one first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn ca_certificates(
    cert_dir: Option<&Path>,
    registry: &str,
) -> Result<Vec<Certificate>, RegistryError> {
    let base = cert_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/etc/containers/certs.d"));
    // Podman reads the host's directory, or the whole directory when --cert-dir names one
    // holding the .crt files directly.
    let mut dirs = vec![base.join(registry)];
    if cert_dir.is_some() {
        dirs.push(base.clone());
    }
    let mut certs = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(RegistryError::Certs { path: dir, source }),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "crt") {
                let data = std::fs::read(&path).map_err(|source| RegistryError::Certs {
                    path: path.clone(),
                    source,
                })?;
                certs.push(Certificate {
                    encoding: CertificateEncoding::Pem,
                    data,
                });
            }
        }
    }
    Ok(certs)
}

fn client(protocol: ClientProtocol, insecure: bool, certs: Vec<Certificate>) -> Client {
    install_crypto_provider();
    Client::new(ClientConfig {
        protocol,
        accept_invalid_certificates: insecure,
        extra_root_certificates: certs,
        // Index resolution is ours (for --platform and to record both digests).
        platform_resolver: None,
        max_concurrent_download: 8,
        connect_timeout: Some(std::time::Duration::from_secs(10)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        user_agent: concat!("oxpod/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    })
}

fn classify(registry: &str, reference: &str, err: OciDistributionError) -> RegistryError {
    use OciDistributionError as E;
    let registry = registry.to_string();
    match err {
        E::ImageManifestNotFoundError(_) => RegistryError::NotFound {
            reference: reference.to_string(),
        },
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
            RegistryError::Unauthorized { registry }
        }
        E::ServerError {
            code: 401 | 403, ..
        } => RegistryError::Unauthorized { registry },
        E::ServerError { code: 404, .. } => RegistryError::NotFound {
            reference: reference.to_string(),
        },
        E::RegistryError { ref envelope, .. } => {
            let codes: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}", e.code))
                .collect();
            if codes
                .iter()
                .any(|c| c.contains("ManifestUnknown") || c.contains("NameUnknown"))
            {
                RegistryError::NotFound {
                    reference: reference.to_string(),
                }
            } else if codes
                .iter()
                .any(|c| c.contains("Unauthorized") || c.contains("Denied"))
            {
                RegistryError::Unauthorized { registry }
            } else {
                RegistryError::Protocol {
                    registry,
                    message: err.to_string(),
                }
            }
        }
        E::DigestError(DigestError::VerificationError { expected, actual }) => {
            RegistryError::Protocol {
                registry,
                message: format!(
                    "{reference}: content for {expected} failed verification (digest mismatch): it hashes to {actual}; the registry's copy is corrupt or was tampered with"
                ),
            }
        }
        // Some calls (`blob_exists`, blob uploads) turn an HTTP error status into a request
        // error: that is an answer from the registry, not a failure to reach it.
        E::RequestError(ref e) if e.status().is_some() => match e.status().map(|s| s.as_u16()) {
            Some(401 | 403) => RegistryError::Unauthorized { registry },
            Some(404) => RegistryError::NotFound {
                reference: reference.to_string(),
            },
            _ => RegistryError::Protocol {
                registry,
                message: err.to_string(),
            },
        },
        E::RequestError(e) => {
            // The innermost cause says what happened ("Connection refused", a TLS alert);
            // the wrappers around it only repeat the URL.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                message = inner.to_string();
                source = inner.source();
            }
            RegistryError::Unreachable { registry, message }
        }
        other => RegistryError::Protocol {
            registry,
            message: other.to_string(),
        },
    }
}

fn to_oci_ref(r: &Reference) -> oci_client::Reference {
    match (&r.tag, &r.digest) {
        (_, Some(digest)) => oci_client::Reference::with_digest(
            r.registry.clone(),
            r.repository.clone(),
            digest.clone(),
        ),
        (Some(tag), None) => {
            oci_client::Reference::with_tag(r.registry.clone(), r.repository.clone(), tag.clone())
        }
        (None, None) => oci_client::Reference::with_tag(
            r.registry.clone(),
            r.repository.clone(),
            "latest".into(),
        ),
    }
}

impl Remote {
    /// Connect to `reference`'s registry for `operation`, authenticating as needed. For insecure
    /// registries this probes HTTPS first and falls back to HTTP.
    pub async fn connect(
        reference: &Reference,
        operation: RegistryOperation,
        opts: &ConnectOptions,
    ) -> Result<Remote, RegistryError> {
        let registry = reference.registry.clone();
        let auth = match &opts.credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        let certs = ca_certificates(opts.cert_dir.as_deref(), &registry)?;
        let target = to_oci_ref(reference);
        let https = client(ClientProtocol::Https, opts.insecure, certs.clone());
        match https.auth(&target, &auth, operation).await {
            Ok(_) => {
                return Ok(Remote {
                    client: https,
                    auth,
                    registry,
                });
            }
            Err(e) => {
                let err = classify(&registry, &reference.to_string(), e);
                if !(opts.insecure && matches!(err, RegistryError::Unreachable { .. })) {
                    return Err(err);
                }
            }
        }
        let http = client(ClientProtocol::Http, true, certs);
        http.auth(&target, &auth, operation)
            .await
            .map_err(|e| classify(&registry, &reference.to_string(), e))?;
        Ok(Remote {
            client: http,
            auth,
            registry,
        })
    }

    fn err(
        &self,
        reference: &Reference,
    ) -> impl FnOnce(OciDistributionError) -> RegistryError + '_ {
        let reference = reference.to_string();
        move |e| classify(&self.registry, &reference, e)
    }

    /// Fetch a manifest or index by tag or digest.
    pub async fn manifest(&self, reference: &Reference) -> Result<RawManifest, RegistryError> {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&to_oci_ref(reference), &self.auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(self.err(reference))?;
        let bytes = bytes.to_vec();
        let actual = super::blobs::sha256_digest(&bytes);
        // A registry may answer with another digest algorithm in its header; ours is the truth.
        let expected = reference.digest.clone().unwrap_or_else(|| {
            if digest.starts_with("sha256:") {
                digest.clone()
            } else {
                actual.clone()
            }
        });
        if actual != expected {
            return Err(RegistryError::Protocol {
                registry: self.registry.clone(),
                message: format!(
                    "manifest for {reference} hashes to {actual}, expected {expected}: corrupt or tampered"
                ),
            });
        }
        let media_type = media_type_of(&bytes).unwrap_or_default();
        Ok(RawManifest {
            bytes,
            digest: actual,
            media_type,
        })
    }

    /// Stream a blob into the blob store; the writer's commit verifies the digest.
    pub async fn blob(
        &self,
        reference: &Reference,
        digest: &str,
        mut out: BlobWriter,
        mut progress: impl FnMut(u64),
    ) -> Result<BlobWriter, RegistryError> {
        use std::io::Write;
        let mut stream = self
            .client
            .pull_blob_stream(&to_oci_ref(reference), &digest)
            .await
            .map_err(self.err(reference))?;
        while let Some(chunk) = stream.stream.next().await {
            let chunk = chunk.map_err(|e| {
                // oci-client checks the digest at the end of the stream: a mismatch is corrupt
                // content in the registry (or on the way), not a connection problem.
                let mismatch = e.get_ref().and_then(|inner| inner.downcast_ref::<DigestError>());
                match mismatch {
                    Some(DigestError::VerificationError { actual, .. }) => RegistryError::Protocol {
                        registry: self.registry.clone(),
                        message: format!(
                            "blob {digest} failed verification (digest mismatch): the content received hashes to {actual}; the registry's copy is corrupt or was tampered with"
                        ),
                    },
                    _ => RegistryError::Unreachable {
                        registry: self.registry.clone(),
                        message: format!("downloading {digest}: {e}"),
                    },
                }
            })?;
            out.write_all(&chunk).map_err(|e| RegistryError::Protocol {
                registry: self.registry.clone(),
                message: format!("writing {digest}: {e}"),
            })?;
            progress(chunk.len() as u64);
        }
        Ok(out)
    }

    pub async fn blob_exists(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        self.client
            .blob_exists(&to_oci_ref(reference), digest)
            .await
            .map_err(self.err(reference))
    }

    pub async fn push_blob(
        &self,
        reference: &Reference,
        data: Vec<u8>,
        digest: &str,
    ) -> Result<(), RegistryError> {
        self.client
            .push_blob(&to_oci_ref(reference), data, digest)
            .await
            .map_err(self.err(reference))?;
        Ok(())
    }

    /// Push manifest bytes unchanged, so the digest stays what it was locally.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        let content_type = manifest
            .media_type
            .parse()
            .map_err(|_| RegistryError::Protocol {
                registry: self.registry.clone(),
                message: format!("bad manifest media type {:?}", manifest.media_type),
            })?;
        self.client
            .push_manifest_raw(&to_oci_ref(reference), manifest.bytes.clone(), content_type)
            .await
            .map_err(self.err(reference))?;
        Ok(())
    }
}

/// The `mediaType` a manifest declares, or what its shape says when it declares none (OCI
/// allows omitting it).
pub fn media_type_of(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(mt) = value.get("mediaType").and_then(|v| v.as_str()) {
        return Some(mt.to_string());
    }
    if value.get("manifests").is_some() {
        Some(OCI_INDEX.to_string())
    } else if value.get("layers").is_some() {
        Some(OCI_MANIFEST.to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_is_read_or_inferred() {
        assert_eq!(
            media_type_of(
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#
            )
            .unwrap(),
            DOCKER_MANIFEST
        );
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            OCI_INDEX
        );
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"layers":[]}"#).unwrap(),
            OCI_MANIFEST
        );
        assert!(media_type_of(b"nope").is_none());
    }

    #[test]
    fn certs_are_read_from_the_registry_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("127.0.0.1:5000")).unwrap();
        std::fs::write(
            dir.path().join("127.0.0.1:5000/ca.crt"),
            b"-----BEGIN CERTIFICATE-----",
        )
        .unwrap();
        std::fs::write(dir.path().join("127.0.0.1:5000/client.key"), b"x").unwrap();
        assert_eq!(
            ca_certificates(Some(dir.path()), "127.0.0.1:5000")
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            ca_certificates(Some(dir.path()), "other:1").unwrap().len(),
            0
        );
    }
}
