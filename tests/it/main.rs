//! End-to-end tests: one binary driving the real `oxpod` against real registries.
//!
//! Each test owns its registry and temporary directories, so tests run in parallel.

mod archives;
mod concurrency;
mod container_health_tty;
mod container_lifecycle;
mod container_limits;
mod container_ops;
mod container_reliability;
mod container_support;
mod containers;
mod external_runtime;
mod harness_selftest;
mod image_cmds;
mod image_safety;
mod images;
mod kube;
mod kube_api_server;
mod kube_apply;
mod kube_generate;
mod kube_roundtrip;
mod kube_validate;
mod login;
mod net_support;
mod networks;
mod oxpod;
mod pods;
mod probes;
mod pull;
mod push;
mod registry;
mod rmi_containers;
mod support;
mod system;
mod volumes;
