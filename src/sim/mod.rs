//! In-memory emulators of the upstream REST APIs (tests, benchmarks and the demo only).

pub mod config_api;
