//! oxpod: a daemonless pod engine with a Kubernetes-YAML round trip.
//!
//! The `oxpod` binary is a thin front-end over this library: [`cli`] parses and prints,
//! [`engine`] is the one API every front-end calls, and the modules below it do the work.
#![deny(unsafe_code)]

pub mod cli;
pub mod engine;
pub mod image;
pub mod kube;
pub mod network;
pub mod runtime;
pub mod spec;
pub mod state;
pub mod storage;
pub mod sys;
