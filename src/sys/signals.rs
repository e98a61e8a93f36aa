//! Waiting for SIGTERM/SIGINT without a signal handler: block them in every thread, then wait.

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, Signal};

/// Block SIGTERM and SIGINT in the calling thread and in every thread it starts afterwards.
/// Call before starting threads.
pub fn block_termination() -> Result<SigSet> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block().context("cannot block SIGTERM/SIGINT")?;
    Ok(set)
}

/// Wait for one of the blocked signals; returns its name.
pub fn wait(set: &SigSet) -> Result<&'static str> {
    let sig = set.wait().context("waiting for a signal")?;
    Ok(sig.as_str())
}
