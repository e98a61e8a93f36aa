//! How the binary starts: what users rely on of a process's standard streams and signals.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::{BIN, Scratch};

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

/// A parent that closed stdout gets it on /dev/null: the plugin's log file, opened first,
/// does not become fd 1 and receive the CNI answer.
#[test]
fn a_closed_stdout_is_reopened() {
    let dir = Scratch::new("start");
    let log = dir.0.join("plugin.log");
    let conf = dir.0.join("conf.json");
    let netconf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "net", "type": "contrail-cni-plugin",
        "contrail": {"log-file": log, "log-level": "info", "config-dir": dir.0.join("ports")},
    });
    std::fs::write(&conf, netconf.to_string()).expect("write config");
    let out = Command::new("sh")
        .args([
            "-c",
            "exec 1>&-; \"$0\" <\"$1\" 2>/dev/null; echo \"exit $?\" >&2",
        ])
        .arg(BIN)
        .arg(&conf)
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "c1")
        .env("CNI_NETNS", dir.0.join("no-such-netns"))
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/opt/cni/bin")
        .output()
        .expect("run sh");
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "exit 1");
    let logged = std::fs::read_to_string(&log).expect("the plugin wrote its log");
    assert!(!logged.is_empty(), "nothing logged");
    assert!(
        !logged.contains("\"cniVersion\""),
        "the CNI answer went into the log file: {logged}"
    );
}
