//! Synchronous rtnetlink plumbing (to be written).
