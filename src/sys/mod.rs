//! Process glue: logging, termination signals, malloc arenas.

pub mod logging;
pub mod malloc;
pub mod signals;
