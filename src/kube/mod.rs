//! Kubernetes manifests: parsing with source positions (`yaml`), validation before any side
//! effect (`validate`), the mapping onto engine specs (`play`, with field conversions in
//! `convert`), removal of what a play made (`down`), and server-side apply to a real cluster
//! (`apply`, reaching it through `kubeconfig`). It sits beside `cli` and calls only `engine`.

pub mod apply;
mod convert;
mod defaults;
pub mod down;
pub mod generate;
pub mod jobs;
pub mod kubeconfig;
pub mod play;
pub mod schema;
pub mod validate;
pub mod yaml;
