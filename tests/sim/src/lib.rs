//! In-memory emulators of the upstream REST APIs (tests, benchmarks and the demo only).

pub mod agent;
pub mod config_api;
pub mod config_rest;
pub mod marathon;
pub mod mesos;
pub mod real_api;

/// What the Marathon and Mesos master emulators agree on: the CNI network name Contrail's
/// Mesos integration uses, Marathon's framework id and the agent id their builders use.
pub const CONTRAIL_NETWORK: &str = "contrail-cni-plugin";
pub const FRAMEWORK_ID: &str = "4f0b8c27-5e8d-4c1a-9a3b-7e21d6c0f5aa-0000";
pub const SLAVE_ID: &str = "4f0b8c27-5e8d-4c1a-9a3b-7e21d6c0f5aa-S0";

/// For tests that need root or a tool: `true` when `available`. Otherwise the test is skipped
/// with `why` on stderr, except under CI (`CI` set), where a test that cannot run fails.
pub fn require(available: bool, test: &str, why: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} cannot run under CI: {why}"
    );
    eprintln!("skipped: {test}: {why}");
    false
}
