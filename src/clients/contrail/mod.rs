//! Blocking clients of Contrail's REST APIs: the config (VNC) API and the vRouter agent's port API.

pub mod agent;
pub mod config_api;
