//! Container storage: the per-container directory, its overlay root file system over the
//! image's shared layers, and (later) named volumes.

pub mod rootfs;

pub use rootfs::{ContainerDir, StorageError};
