//! In-memory emulators of the upstream REST APIs (tests, benchmarks and the demo only).

pub mod agent;
pub mod config_api;
pub mod marathon;
pub mod mesos;

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
