//! Kubernetes manifests: parsing with source positions (`yaml`), validation before any side
//! effect (`validate`), and the mapping onto engine specs (`play`, `down`). It sits beside
//! `cli` and calls only `engine`.

pub mod yaml;
