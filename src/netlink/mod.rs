//! Synchronous rtnetlink plumbing: network namespaces, veth pairs, links, addresses, routes.
//!
//! One [`Netlink`] socket per network namespace, one request at a time: every operation goes
//! through [`Netlink::request`], which sends one message and reads the kernel's answer until the
//! ACK (or `NLMSG_DONE` for dumps). A kernel refusal comes back as an [`NlError`] inside the
//! `anyhow` chain, so callers can branch on the errno with [`errno_of`] (EEXIST on ADD, ENODEV on
//! DEL, ...).
//!
//! A socket stays bound to the namespace it was created in, so the container side is handled by
//! a socket made with [`Netlink::in_netns`] (created on a short-lived thread that joined the
//! namespace); the calling thread never switches namespaces.
//!
//! Files: `socket.rs` (socket, request loop, errors), `netns.rs` (namespace handles), `link.rs`,
//! `addr.rs`, `route.rs` (the operations), `mac.rs`, `ifname.rs` (parsing and validation), `sysctl.rs`
//! (per-interface sysctls), `tests.rs` (root-gated tests against the real kernel).

mod addr;
mod link;
mod mac;
mod netns;
mod route;
mod socket;
mod sysctl;

#[cfg(test)]
mod tests;

pub use crate::domain::ifname::validate_ifname;
pub use link::{Link, VethSpec};
pub use mac::{format_mac, parse_mac};
pub use netns::NetNs;
pub use route::{IpFamily, Route};
pub use socket::{Netlink, NlError, errno_of};
pub use sysctl::set_ipv6_accept_ra;
