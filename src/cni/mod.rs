//! The CNI plugin applet.
pub mod config;
pub mod error;
pub mod result;
pub mod skel;
pub mod version;
