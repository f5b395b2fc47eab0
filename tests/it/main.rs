//! End-to-end tests: one binary driving the real `oxpod` against real registries.
//!
//! Each test owns its registry and temporary directories, so tests run in parallel.

mod archives;
mod concurrency;
mod harness_selftest;
mod image_cmds;
mod image_safety;
mod images;
mod login;
mod oxpod;
mod pull;
mod push;
mod registry;
mod support;
mod system;
