//! The one place that maps the CNI environment to a command. Pure: the environment is passed
//! in as a lookup function.

use std::path::PathBuf;

use crate::domain::error::{CniError, Code};
use crate::domain::ids::valid_container_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    Status,
    Gc,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Version => "VERSION",
            Command::Status => "STATUS",
            Command::Gc => "GC",
        }
    }
}

/// What the runtime passed in the environment, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdArgs {
    pub command: Command,
    pub container_id: String,
    pub netns: Option<PathBuf>,
    pub ifname: String,
    pub cni_path: Option<String>,
    /// `CNI_ARGS` pairs (`IgnoreUnknown` removed).
    pub args: Vec<(String, String)>,
}

/// CNI_ARGS keys this plugin understands (none yet besides `IgnoreUnknown`).
const KNOWN_ARGS: &[&str] = &[];

/// Read and validate the environment. Errors are code 4 and name the variable.
pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<CmdArgs, CniError> {
    let get = |k: &str| get(k).filter(|v| !v.is_empty());
    let command = match get("CNI_COMMAND") {
        None => return Err(missing(&["CNI_COMMAND"])),
        Some(c) => match c.as_str() {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "VERSION" => Command::Version,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            other => {
                return Err(CniError::new(
                    Code::InvalidEnvironment,
                    format!("unknown CNI_COMMAND: {other}"),
                ));
            }
        },
    };
    let required: &[&str] = match command {
        Command::Add | Command::Check => &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
        Command::Del => &["CNI_CONTAINERID", "CNI_IFNAME"],
        Command::Version | Command::Status | Command::Gc => &[],
    };
    let absent: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| get(k).is_none())
        .collect();
    if !absent.is_empty() {
        return Err(missing(&absent));
    }
    let container_id = get("CNI_CONTAINERID").unwrap_or_default();
    if required.contains(&"CNI_CONTAINERID") && !valid_container_id(&container_id) {
        return Err(CniError::new(
            Code::InvalidEnvironment,
            format!(
                "CNI_CONTAINERID {container_id:?} is invalid: it must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
            ),
        ));
    }
    let ifname = get("CNI_IFNAME").unwrap_or_default();
    if required.contains(&"CNI_IFNAME")
        && let Err(e) = crate::domain::ifname::validate_ifname(&ifname)
    {
        return Err(CniError::new(
            Code::InvalidEnvironment,
            format!("CNI_IFNAME is invalid: {e:#}"),
        ));
    }
    let args = match get("CNI_ARGS") {
        None => Vec::new(),
        Some(raw) => parse_cni_args(&raw)?,
    };
    Ok(CmdArgs {
        command,
        container_id,
        netns: get("CNI_NETNS").map(PathBuf::from),
        ifname,
        cni_path: get("CNI_PATH"),
        args,
    })
}

fn missing(vars: &[&str]) -> CniError {
    CniError::new(
        Code::InvalidEnvironment,
        format!("required env variables [{}] missing", vars.join(",")),
    )
}

/// `K=V;K=V` as libcni reads it: a pair without exactly one `=` is an error; unknown keys are an
/// error unless `IgnoreUnknown` is `1`/`true`.
pub fn parse_cni_args(raw: &str) -> Result<Vec<(String, String)>, CniError> {
    let mut pairs = Vec::new();
    for part in raw.split(';').filter(|p| !p.is_empty()) {
        let mut kv = part.split('=');
        let (Some(k), Some(v), None) = (kv.next(), kv.next(), kv.next()) else {
            return Err(CniError::new(
                Code::InvalidEnvironment,
                format!("CNI_ARGS has an invalid pair {part:?}: expected KEY=VALUE"),
            ));
        };
        pairs.push((k.to_string(), v.to_string()));
    }
    let mut ignore_unknown = false;
    if let Some((_, v)) = pairs.iter().find(|(k, _)| k == "IgnoreUnknown") {
        ignore_unknown = match v.to_ascii_lowercase().as_str() {
            "1" | "true" => true,
            "0" | "false" => false,
            _ => {
                return Err(CniError::new(
                    Code::InvalidEnvironment,
                    format!("CNI_ARGS IgnoreUnknown={v:?} is not a boolean"),
                ));
            }
        };
    }
    pairs.retain(|(k, _)| k != "IgnoreUnknown");
    let unknown: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| !KNOWN_ARGS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !unknown.is_empty() && !ignore_unknown {
        return Err(CniError::new(
            Code::InvalidEnvironment,
            format!(
                "CNI_ARGS has unknown args [{}] (add IgnoreUnknown=1 to ignore them)",
                unknown.join(", ")
            ),
        ));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::valid_container_id;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn mesos_add_environment() {
        let e = env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "5baff64c-d028-47ba-864e-a5ee679fc069"),
            ("CNI_NETNS", "/var/run/mesos/isolators/network/cni/x/ns"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/opt/cni/bin"),
        ]);
        let a = from_env(&e).expect("valid");
        assert_eq!(a.command, Command::Add);
        assert_eq!(a.ifname, "eth0");
        assert!(a.netns.is_some());
    }

    #[test]
    fn missing_variables_are_named() {
        let e =
            from_env(&env(&[("CNI_COMMAND", "ADD"), ("CNI_IFNAME", "eth0")])).expect_err("missing");
        assert_eq!(e.code, Code::InvalidEnvironment);
        assert_eq!(
            e.msg,
            "required env variables [CNI_CONTAINERID,CNI_NETNS] missing"
        );
        let e = from_env(&env(&[])).expect_err("no command");
        assert!(e.msg.contains("CNI_COMMAND"));
        let e = from_env(&env(&[("CNI_COMMAND", "FOO")])).expect_err("unknown");
        assert_eq!(e.msg, "unknown CNI_COMMAND: FOO");
    }

    #[test]
    fn del_needs_no_netns_and_version_needs_nothing() {
        let a = from_env(&env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c"),
            ("CNI_IFNAME", "eth0"),
        ]))
        .expect("valid");
        assert_eq!(a.netns, None);
        assert_eq!(
            from_env(&env(&[("CNI_COMMAND", "VERSION")]))
                .expect("valid")
                .command,
            Command::Version
        );
    }

    #[test]
    fn container_id_and_ifname_are_validated() {
        for bad in ["../x", "-a", "a/b", "a b", ".x"] {
            let e = from_env(&env(&[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", bad),
                ("CNI_IFNAME", "eth0"),
            ]))
            .expect_err(bad);
            assert_eq!(e.code, Code::InvalidEnvironment);
            assert!(e.msg.contains("CNI_CONTAINERID"));
        }
        assert!(valid_container_id("a.b-c_d.e"));
        let e = from_env(&env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c"),
            ("CNI_IFNAME", "abcdefghijklmnop"),
        ]))
        .expect_err("16 chars");
        assert_eq!(e.code, Code::InvalidEnvironment);
        assert!(e.msg.contains("CNI_IFNAME"), "{}", e.msg);
    }

    #[test]
    fn cni_args_follow_libcni() {
        assert!(parse_cni_args("IgnoreUnknown=1;FOO=bar").is_ok());
        assert!(parse_cni_args("FOO=bar;IgnoreUnknown=true").is_ok());
        let e = parse_cni_args("FOO=bar").expect_err("unknown");
        assert!(e.msg.contains("FOO=bar"), "{}", e.msg);
        assert!(parse_cni_args("FOO").is_err());
        assert!(parse_cni_args("A=b=c;IgnoreUnknown=1").is_err());
        assert!(parse_cni_args("IgnoreUnknown=maybe").is_err());
        assert_eq!(parse_cni_args("").expect("empty"), vec![]);
    }
}
