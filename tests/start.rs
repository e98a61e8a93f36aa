//! The binary's entry point (src/main.rs, `sys::start`), which replaces the Rust runtime's
//! start-up: what that start-up did that users rely on still holds.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::BIN;

/// Output to a pipe nobody reads fails with EPIPE, which the applets treat as the end of
/// their output: the process exits normally instead of being killed by SIGPIPE.
#[test]
fn a_closed_pipe_is_not_fatal() {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    let status = Command::new(BIN)
        .arg("--help")
        .stdout(Stdio::from(write))
        .stderr(Stdio::null())
        .status()
        .expect("run contrail-mesos --help");
    assert_eq!(status.signal(), None, "killed by a signal: {status:?}");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// A parent that closed the standard streams gets them on /dev/null: the CNI plugin reads an
/// empty config and fails as CNI says (status 1), neither aborting nor panicking.
#[test]
fn closed_standard_streams_are_reopened() {
    let out = Command::new("sh")
        .args([
            "-c",
            "exec 0<&- 1>&-; \"$0\" 2>/dev/null; echo \"exit $?\" >&2",
        ])
        .arg(BIN)
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "c1")
        .env("CNI_NETNS", "/var/run/netns/none")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/opt/cni/bin")
        .output()
        .expect("run sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim(), "exit 1");
}
