//! The one error type of `spec`: every variant names the value it refused, so the CLI can
//! print it as one clear line.

use std::io;
use std::path::PathBuf;

/// Why a container description, a flag value or the runtime spec built from them was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A flag or field value that does not parse or is out of range.
    #[error("invalid {what} \"{value}\": {reason}")]
    Invalid {
        /// What the value is for (`memory size`, `--mount`, `ulimit`, ...).
        what: &'static str,
        value: String,
        reason: String,
    },

    /// Neither the image nor the user gave anything to run.
    #[error("no command specified")]
    NoCommand,

    /// `--user NAME` where the image's `/etc/passwd` has no such user.
    #[error("unknown user \"{0}\": not in the image's /etc/passwd")]
    UnknownUser(String),

    /// `--user U:NAME` where the image's `/etc/group` has no such group.
    #[error("unknown group \"{0}\": not in the image's /etc/group")]
    UnknownGroup(String),

    /// A ulimit above what this process may grant: without CAP_SYS_RESOURCE the kernel
    /// refuses to raise a hard limit, and the container would fail to start.
    #[error(
        "ulimit {name}: {which} limit {requested} is above this process's hard limit {allowed} \
         (raising it needs CAP_SYS_RESOURCE)"
    )]
    UlimitTooHigh {
        name: &'static str,
        which: &'static str,
        requested: String,
        allowed: String,
    },

    /// A seccomp profile file that cannot be read or converted.
    #[error("seccomp profile {path}: {reason}")]
    SeccompProfile { path: PathBuf, reason: String },

    /// Reading a file (in the image's rootfs or on the host) failed.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },

    /// The runtime spec types refused a value (a builder check).
    #[error("building the OCI runtime spec: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
}

impl SpecError {
    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        SpecError::Invalid {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        SpecError::Io {
            path: path.into(),
            source,
        }
    }
}
