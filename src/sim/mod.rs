//! In-memory emulators of the upstream REST APIs (tests, benchmarks and the demo only).

pub mod agent;
pub mod config_api;
pub mod marathon;
pub mod mesos;
