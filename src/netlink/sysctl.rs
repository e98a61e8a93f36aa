//! Per-interface sysctls under /proc/sys/net.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::validate_ifname;

/// Writes `/proc/sys/net/ipv6/conf/<ifname>/accept_ra` in the calling thread's namespace (run
/// it inside [`super::NetNs::run`] for a container interface). Does nothing when IPv6 is
/// disabled in the kernel.
pub fn set_ipv6_accept_ra(ifname: &str, value: u8) -> Result<()> {
    validate_ifname(ifname)?;
    // /proc/sys/net follows the calling thread's network namespace.
    let ipv6 = Path::new("/proc/sys/net/ipv6");
    if !ipv6.exists() {
        log::debug!("IPv6 is disabled; not setting accept_ra on {ifname}");
        return Ok(());
    }
    let path: PathBuf = ipv6.join("conf").join(ifname).join("accept_ra");
    std::fs::write(&path, format!("{value}\n"))
        .with_context(|| format!("set accept_ra of {ifname} to {value} ({})", path.display()))
}
