//! Kubernetes manifests: parsing with source positions (`yaml`), validation before any side
//! effect (`validate`), the mapping onto engine specs (`play`, with field conversions in
//! `convert`), and removal of what a play made (`down`). It sits beside `cli` and calls only
//! `engine`.

mod convert;
mod defaults;
pub mod down;
pub mod generate;
pub mod jobs;
pub mod play;
pub mod schema;
pub mod validate;
pub mod yaml;
