//! contrail-mesos: OpenContrail (Tungsten Fabric) networking for Apache Mesos and Marathon.
//!
//! One binary with several applets (`cni`, `manager`, `fip`, `sg`, `status`). The library holds
//! everything; `main.rs` only dispatches. The modules, from the inside out:
//! - [`domain`]: what the project reasons about, pure: labels, fq-names, derived ids, the CNI
//!   network configuration and versions, the manager's settings, the wire contract between
//!   plugin and manager, and the error codes;
//! - [`clients`]: blocking clients of the peers: Contrail's config API and vRouter agent (with
//!   the typed Contrail objects), Marathon, the Mesos master;
//! - [`http`]: HTTP/1.1 plumbing, client and server;
//! - [`netlink`]: the kernel: namespaces, veths, addresses, routes;
//! - [`applets`]: the commands: the CNI plugin, the manager, the operator CLIs;
//! - [`sys`]: process glue: logging, signals, malloc arenas.
//!
//! The emulators of the upstream services, for tests and the demo, are a crate of their own
//! (`tests/sim`, `contrail-mesos-sim`); nothing here imports them.

pub mod applets;
pub mod clients;
pub mod domain;
pub mod http;
pub mod netlink;
pub mod sys;
