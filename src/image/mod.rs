//! Images: references and short names, registries configuration, credentials, the registry
//! client, the content-addressed blob store, layer unpacking and archives.

pub mod archive;
pub mod auth;
pub mod blobs;
pub mod layers;
pub mod manifest;
pub mod reference;
pub mod registries;
pub mod registry;
pub mod unpack;
