//! The `cni` applet: the CNI plugin the Mesos agent runs. `run` maps the environment and stdin
//! to one command (see `skel`), prints the result or the error JSON on stdout, and returns the
//! exit code. Logs never go to stdout.

pub mod add;
pub mod answers;
pub mod check;
pub mod del;
pub mod lifecycle;
pub mod manager_client;
pub mod migrate;
pub mod node;
pub mod poll;
pub mod portfile;
pub mod result;
pub mod skel;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use self::manager_client::ManagerClient;
use self::skel::{CmdArgs, Command};
use crate::clients::contrail::agent::AgentClient;
use crate::domain::cni_version as version;
use crate::domain::error::{CniError, Code};
use crate::domain::netconf::NetConf;
use crate::netlink::NetNs;

/// `contrail-mesos cni` takes no arguments: the runtime passes CNI_* variables and the network
/// configuration on stdin.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CniArgs {}

/// What a command works with.
pub struct Ctx<'a> {
    pub args: &'a CmdArgs,
    pub conf: &'a NetConf,
    /// Stdin as received (forwarded to the manager as upstream's CNI does).
    pub stdin: &'a str,
    pub agent: AgentClient,
    pub manager: ManagerClient,
    node: std::sync::OnceLock<crate::domain::manager_api::NodeInfo>,
}

impl Ctx<'_> {
    /// Learn this node's identity through a socket the command already has open (else
    /// [`node`](Self::node) opens one).
    pub fn learn_node(&self, nl: &mut crate::netlink::Netlink) {
        self.node.get_or_init(|| node::identity(nl));
    }

    /// This node's identity (read once per run).
    pub fn node(&self) -> &crate::domain::manager_api::NodeInfo {
        self.node
            .get_or_init(|| match crate::netlink::Netlink::new() {
                Ok(mut nl) => node::identity(&mut nl),
                Err(e) => {
                    log::warn!("cannot open a netlink socket to list this node's addresses: {e:#}");
                    node::identity_without_addresses()
                }
            })
    }

    /// The port records are where this version keeps them (an older install's moved there
    /// once, `migrate`).
    pub fn ensure_records(&self) -> Result<(), CniError> {
        migrate::ensure(&self.conf.contrail.config_dir, &self.agent)
            .map_err(|e| CniError::new(Code::IoFailure, format!("{e:#}")))
    }

    /// The lock of container `cid`'s ports (`portfile::ContainerLock`), after the migration
    /// of an older install's records on the first run of this version.
    pub fn lock_container(&self, cid: &str) -> Result<portfile::ContainerLock, CniError> {
        let dir = &self.conf.contrail.config_dir;
        let locked = match portfile::ContainerLock::acquire(dir, cid) {
            Err(portfile::LockError::NoRecordsDir(_)) => {
                self.ensure_records()?;
                portfile::ContainerLock::acquire(dir, cid)
            }
            other => other,
        };
        locked.map_err(|e| CniError::new(Code::IoFailure, e.to_string()))
    }

    /// What the manager is told about this call.
    pub fn manager_call(&self) -> manager_client::Call<'_> {
        manager_client::Call {
            cid: &self.args.container_id,
            ifname: &self.args.ifname,
            stdin: self.stdin,
            node: Some(self.node()),
        }
    }
}

/// Run one CNI command. Returns the process exit code.
pub fn run(
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
) -> i32 {
    let mut input = Vec::new();
    let read = stdin.read_to_end(&mut input);
    let outcome = match read {
        Err(e) => Err(CniError::new(
            Code::IoFailure,
            format!("cannot read stdin: {e}"),
        )),
        Ok(_) => dispatch(env, &input),
    };
    let (text, rc) = match outcome {
        Ok(Some(v)) => (Some(v.to_string()), 0),
        Ok(None) => (None, 0),
        Err(e) => {
            // Errors are reported in the config's version, when we speak it.
            let version_in_use = serde_json::from_slice::<Value>(&input)
                .ok()
                .filter(Value::is_object)
                .map(|v| {
                    v["cniVersion"]
                        .as_str()
                        .unwrap_or(version::IMPLICIT)
                        .to_string()
                })
                .filter(|v| version::is_supported(v))
                .unwrap_or_else(|| version::LATEST.to_string());
            log::error!(
                "{}{}",
                e.msg,
                if e.details.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", e.details)
                }
            );
            (Some(e.to_json(&version_in_use).to_string()), 1)
        }
    };
    if let Some(t) = text
        && writeln!(stdout, "{t}")
            .and_then(|_| stdout.flush())
            .is_err()
    {
        return 1;
    }
    rc
}

fn dispatch(env: &dyn Fn(&str) -> Option<String>, input: &[u8]) -> Result<Option<Value>, CniError> {
    let args = skel::from_env(env)?;
    if args.command == Command::Version {
        let asked = serde_json::from_slice::<Value>(input)
            .ok()
            .and_then(|v| v["cniVersion"].as_str().map(str::to_string))
            .filter(|v| version::is_supported(v))
            .unwrap_or_else(|| version::LATEST.to_string());
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Versions<'a> {
            cni_version: &'a str,
            supported_versions: &'a [&'a str],
        }
        let answer = Versions {
            cni_version: &asked,
            supported_versions: version::SUPPORTED,
        };
        return Ok(Some(serde_json::to_value(answer).unwrap_or(Value::Null)));
    }
    let conf = NetConf::parse(input)?;
    check_version(&conf.cni_version, args.command)?;
    crate::sys::logging::init(
        conf.contrail.log_level.as_deref(),
        conf.contrail.log_file.as_deref(),
        log::LevelFilter::Warn,
        false,
    );
    log::debug!(
        "{} container {} ifname {} netns {}",
        args.command.as_str(),
        args.container_id,
        args.ifname,
        args.netns
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    let stdin = String::from_utf8_lossy(input);
    let ctx = context(&args, &conf, &stdin)?;
    match args.command {
        Command::Add => {
            let result = add::add(&ctx)?;
            Ok(Some(result.render(&conf.cni_version)))
        }
        Command::Del => del::del(&ctx).map(|_| None),
        Command::Check => check::check(&ctx).map(|_| None),
        Command::Status => lifecycle::status(&ctx).map(|_| None),
        Command::Gc => lifecycle::gc(&ctx).map(|_| None),
        Command::Version => Ok(None),
    }
}

fn check_version(v: &str, cmd: Command) -> Result<(), CniError> {
    if !version::is_supported(v) {
        return Err(
            CniError::new(Code::IncompatibleVersion, "incompatible CNI versions").with_details(
                format!(
                    "config is {v:?}, plugin supports [{}]",
                    version::SUPPORTED
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ),
        );
    }
    let min = match cmd {
        Command::Check => "0.4.0",
        Command::Status | Command::Gc => "1.1.0",
        _ => return Ok(()),
    };
    if !version::at_least(v, min) {
        return Err(CniError::new(
            Code::IncompatibleVersion,
            format!(
                "config version {v} does not allow {} (needs {min} or later)",
                cmd.as_str()
            ),
        ));
    }
    Ok(())
}

fn context<'a>(args: &'a CmdArgs, conf: &'a NetConf, stdin: &'a str) -> Result<Ctx<'a>, CniError> {
    let c = &conf.contrail;
    let call_timeout = c
        .poll_timeout
        .clamp(Duration::from_secs(1), Duration::from_secs(10));
    let agent = AgentClient::new(&c.agent_url(), call_timeout)
        .map_err(|e| CniError::new(Code::Internal, format!("vRouter agent client: {e:#}")))?;
    let token = match &c.manager_token_file {
        Some(p) => Some(
            crate::domain::settings::read_token(p)
                .map_err(|e| CniError::new(Code::IoFailure, format!("{e:#}")))?,
        ),
        None => None,
    };
    let manager_timeout = match args.command {
        Command::Add => c
            .poll_budget()
            .clamp(Duration::from_secs(10), Duration::from_secs(120)),
        _ => Duration::from_secs(10),
    };
    let manager = ManagerClient::new(c.manager_urls(), token, manager_timeout)?;
    Ok(Ctx {
        args,
        conf,
        stdin,
        agent,
        manager,
        node: std::sync::OnceLock::new(),
    })
}

/// Open `CNI_NETNS`: missing is "container unknown" (3); anything else is a bad variable (4).
pub fn open_netns(path: &Path) -> Result<NetNs, CniError> {
    NetNs::open(path).map_err(|e| {
        let missing = e
            .chain()
            .filter_map(|c| c.downcast_ref::<std::io::Error>())
            .any(|io| io.kind() == std::io::ErrorKind::NotFound);
        if missing {
            CniError::new(
                Code::UnknownContainer,
                format!("network namespace {} does not exist", path.display()),
            )
        } else {
            CniError::new(
                Code::InvalidEnvironment,
                format!("CNI_NETNS {}: {e:#}", path.display()),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_with(vars: &[(&str, &str)], stdin: &str) -> (i32, Value) {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut out = Vec::new();
        let rc = run(&env, &mut stdin.as_bytes(), &mut out);
        let v = serde_json::from_slice(&out).unwrap_or(Value::Null);
        (rc, v)
    }

    #[test]
    fn version_lists_every_supported_version() {
        let (rc, v) = run_with(&[("CNI_COMMAND", "VERSION")], r#"{"cniVersion":"0.4.0"}"#);
        assert_eq!(rc, 0);
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(v["supportedVersions"], json!(version::SUPPORTED));
        let (_, v) = run_with(&[("CNI_COMMAND", "VERSION")], "");
        assert_eq!(v["cniVersion"], version::LATEST);
    }

    #[test]
    fn unknown_version_is_code_1_with_details() {
        let (rc, v) = run_with(
            &[
                ("CNI_COMMAND", "ADD"),
                ("CNI_CONTAINERID", "c"),
                ("CNI_NETNS", "/x"),
                ("CNI_IFNAME", "eth0"),
            ],
            r#"{"cniVersion":"9.9.9","name":"n","type":"t"}"#,
        );
        assert_eq!(rc, 1);
        assert_eq!(v["code"], 1);
        assert_eq!(v["msg"], "incompatible CNI versions");
        assert!(v["details"].as_str().unwrap_or_default().contains("9.9.9"));
        assert_eq!(v["cniVersion"], version::LATEST);
    }

    #[test]
    fn verbs_gated_by_version() {
        let env = [
            ("CNI_COMMAND", "CHECK"),
            ("CNI_CONTAINERID", "c"),
            ("CNI_NETNS", "/x"),
            ("CNI_IFNAME", "eth0"),
        ];
        let (rc, v) = run_with(&env, r#"{"cniVersion":"0.3.1"}"#);
        assert_eq!((rc, v["code"].as_u64()), (1, Some(1)));
        assert_eq!(v["cniVersion"], "0.3.1");
        let (_, v) = run_with(&[("CNI_COMMAND", "GC")], r#"{"cniVersion":"1.0.0"}"#);
        assert_eq!(v["code"], 1);
        let (_, v) = run_with(&[("CNI_COMMAND", "STATUS")], r#"{"cniVersion":"0.4.0"}"#);
        assert_eq!(v["code"], 1);
    }

    #[test]
    fn env_and_decode_errors() {
        let (rc, v) = run_with(&[("CNI_COMMAND", "ADD")], r#"{"cniVersion":"0.2.0"}"#);
        assert_eq!((rc, v["code"].as_u64()), (1, Some(4)));
        assert_eq!(v["cniVersion"], "0.2.0");
        let (_, v) = run_with(
            &[
                ("CNI_COMMAND", "ADD"),
                ("CNI_CONTAINERID", "c"),
                ("CNI_NETNS", "/x"),
                ("CNI_IFNAME", "eth0"),
            ],
            "{not json",
        );
        assert_eq!(v["code"], 6);
        let (_, v) = run_with(
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "../x"),
                ("CNI_IFNAME", "eth0"),
            ],
            r#"{"cniVersion":"1.0.0"}"#,
        );
        assert_eq!(v["code"], 4);
    }
}
