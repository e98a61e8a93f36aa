//! contrail-mesos: OpenContrail (Tungsten Fabric) networking for Apache Mesos and Marathon.
//!
//! One binary with several applets (`cni`, `manager`, `fip`, `sg`, `status`). The library holds
//! everything; `main.rs` only dispatches.

pub mod httpd;
pub mod netlink;

#[cfg(feature = "sim")]
pub mod sim;
