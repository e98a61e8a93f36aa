//! contrail-mesos: OpenContrail (Tungsten Fabric) networking for Apache Mesos and Marathon.
//!
//! One binary with several applets (`cni`, `manager`, `fip`, `sg`, `status`). The library holds
//! everything; `main.rs` only dispatches.

pub mod app;
pub mod cli;
pub mod cni;
pub mod contrail;
pub mod error;
pub mod fqname;
pub mod http_client;
pub mod httpd;
pub mod ids;
pub mod labels;
pub mod logging;
pub mod malloc;
pub mod man;
pub mod manager;
pub mod manager_api;
pub mod marathon;
pub mod mesos;
pub mod netlink;
pub mod settings;
pub mod signals;

#[cfg(feature = "sim")]
pub mod sim;
