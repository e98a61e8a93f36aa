//! HTTP/1.1 plumbing: the blocking client every peer client shares (timeouts, TLS, resolution
//! of address literals without a thread), and the small threaded server of the manager and
//! the emulators.

pub mod client;
pub mod server;
