//! What the project reasons about, without I/O (except [`settings`] reading its file).

pub mod cluster;
pub mod cni_version;
pub mod contrail;
pub mod dns;
pub mod endpoint;
pub mod error;
pub mod fqname;
pub mod ids;
pub mod ifname;
pub mod labels;
pub mod manager_api;
pub mod marathon;
pub mod mesos;
pub mod netconf;
pub mod plan;
pub mod settings;
pub mod vip;
