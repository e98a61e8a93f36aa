//! The operator applets: argument parsing and rendering; the work is done by the shared
//! Contrail client.

pub mod common;
pub mod fip;
pub mod sg;
pub mod status;
pub mod table;
pub mod vips;
