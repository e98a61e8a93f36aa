//! Client of the Mesos master's `GET /master/state`: the answer read straight from the wire
//! into [`crate::domain::mesos::MasterState`] (the rest of a large answer is skipped as it is
//! read, never held).

use std::time::Duration;

use anyhow::Result;

use crate::domain::mesos::MasterState;
use crate::http::client::JsonPeer;

/// The master's HTTP API.
pub struct MesosMaster(JsonPeer);

impl MesosMaster {
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        Ok(Self(JsonPeer::new("Mesos master", url, timeout)?))
    }

    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// `GET /master/state`. An answer without a `frameworks` list is an error naming the URL,
    /// so a proxy page or a half-started master never looks like "nothing runs".
    pub fn state(&self) -> Result<MasterState> {
        self.0.get_typed("/master/state")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_master_names_its_url() {
        let m = MesosMaster::new("http://127.0.0.1:1/", Duration::from_secs(2)).expect("client");
        let e = m.state().expect_err("nothing listens");
        assert!(
            format!("{e:#}").contains("http://127.0.0.1:1/master/state"),
            "{e:#}"
        );
    }
}
