//! Which upstream vRouter agent the emulator answers as.
//!
//! The port-IPC code (`src/vnsw/agent/port_ipc/{rest_server.cc, port_ipc_handler.cc,
//! port_subscribe_table.cc}` in Juniper/contrail-controller) comes in three versions across the
//! release branches:
//! - branch `R5.0`: the single-interface agent;
//! - branches `R5.1`, `R1907`, `R1908`, `R1909`, `R1910`, `R1911`, `R1912`, `R2002`, `R2003`,
//!   `R2005`: byte-identical files, the multi-interface agent;
//! - branch `R2008`, and `R2011` of tungstenfabric/tf-controller (same `port_ipc_handler.cc` and
//!   `port_subscribe_table.cc`; its `rest_server.cc` only adds a test-only listen port): the
//!   multi-interface agent with `GET /vm/<vm>/<vmi>` and `GET /vm-cfg/<name>`.

use std::fmt;
use std::str::FromStr;

/// The release an [`AgentSim`](super::AgentSim) behaves as. The default is the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum AgentRelease {
    /// R5.0: one interface per VM; `GET /vm/<uuid>` and `GET /vm-cfg/<uuid>` answer one object.
    R5_0,
    /// R5.1 to R2005: every interface of the VM, as lists.
    R5_1,
    /// R2008 and later: also `GET /vm/<vm>/<vmi>`, and `GET /vm-cfg/<vm-name>`.
    #[default]
    R2008,
}

/// Every branch name the release switch accepts, and what it stands for.
pub const RELEASE_NAMES: &[(&str, AgentRelease)] = &[
    ("R5.0", AgentRelease::R5_0),
    ("R5.1", AgentRelease::R5_1),
    ("R1907", AgentRelease::R5_1),
    ("R1908", AgentRelease::R5_1),
    ("R1909", AgentRelease::R5_1),
    ("R1910", AgentRelease::R5_1),
    ("R1911", AgentRelease::R5_1),
    ("R1912", AgentRelease::R5_1),
    ("R2002", AgentRelease::R5_1),
    ("R2003", AgentRelease::R5_1),
    ("R2005", AgentRelease::R5_1),
    ("R2008", AgentRelease::R2008),
    ("R2011", AgentRelease::R2008),
];

impl AgentRelease {
    /// The first branch of the group: `R5.0`, `R5.1` or `R2008`.
    pub fn name(self) -> &'static str {
        match self {
            AgentRelease::R5_0 => "R5.0",
            AgentRelease::R5_1 => "R5.1",
            AgentRelease::R2008 => "R2008",
        }
    }

    /// Agents of this release answer lists (the multi-interface agent).
    pub fn multi_interface(self) -> bool {
        self != AgentRelease::R5_0
    }
}

impl fmt::Display for AgentRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A release name [`AgentRelease::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRelease(pub String);

impl fmt::Display for UnknownRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = RELEASE_NAMES.iter().map(|(n, _)| *n).collect();
        write!(
            f,
            "unknown vRouter agent release \"{}\" (one of {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownRelease {}

impl FromStr for AgentRelease {
    type Err = UnknownRelease;

    /// A branch name (`R5.0`, `R5.1`, `R1907` .. `R2005`, `R2008`, `R2011`), any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RELEASE_NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s.trim()))
            .map(|(_, r)| *r)
            .ok_or_else(|| UnknownRelease(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        assert_eq!("R5.0".parse(), Ok(AgentRelease::R5_0));
        assert_eq!("r1912".parse(), Ok(AgentRelease::R5_1));
        assert_eq!("R2005".parse(), Ok(AgentRelease::R5_1));
        assert_eq!("R2011".parse(), Ok(AgentRelease::R2008));
        assert_eq!(AgentRelease::default(), AgentRelease::R2008);
        for r in [AgentRelease::R5_0, AgentRelease::R5_1, AgentRelease::R2008] {
            assert_eq!(r.to_string().parse(), Ok(r));
        }
        let e = "R4.1".parse::<AgentRelease>().expect_err("unknown");
        assert!(e.to_string().contains("\"R4.1\""), "{e}");
        assert!(e.to_string().contains("R2011"), "{e}");
    }
}
