//! End-to-end tests: one binary driving the real `oxpod` against real registries.
//!
//! Each test owns its registry and temporary directories, so tests run in parallel.

mod harness_selftest;
mod images;
mod oxpod;
mod registry;
