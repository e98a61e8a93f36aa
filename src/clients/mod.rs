//! Blocking clients of the services the project talks to.

pub mod contrail;
pub mod marathon;
pub mod mesos;
