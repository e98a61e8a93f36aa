//! VIP labels as dcos-l4lb reads them, and the names of named VIPs. Pure.
//!
//! dcos/dcos-net `apps/dcos_l4lb/src/dcos_l4lb_mesos_poller.erl` (`key/3`): the value splits at
//! its last `:` into VIP and port, the port must be a positive integer; a VIP that parses as
//! an address is that address, anything else is a name owned by the framework
//! (`{name, {Label, Framework}}`). dcos/mesos_state `src/mesos_state.erl` (`domain_frag/1`,
//! `label/1`) turns the name into DNS labels: `/web` + `marathon` is `web.marathon`, `/grp/web`
//! is `grpweb.marathon`. `dcos_net_mesos_listener.erl` (`handle_vip_labels`) takes keys that
//! start with `VIP` or `vip`; the contract takes any case.

use std::fmt;
use std::net::IpAddr;

/// The framework whose VIPs these are.
pub const FRAMEWORK: &str = "marathon";

/// What a VIP label names: an address, or a name (`web.marathon`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VipKey {
    Address(IpAddr),
    Named(String),
}

impl VipKey {
    /// Parse what [`fmt::Display`] wrote.
    pub fn parse(s: &str) -> Option<VipKey> {
        if let Ok(a) = s.parse::<IpAddr>() {
            return Some(VipKey::Address(a));
        }
        let ok = !s.is_empty()
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        ok.then(|| VipKey::Named(s.to_string()))
    }
}

impl fmt::Display for VipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VipKey::Address(a) => write!(f, "{a}"),
            VipKey::Named(n) => f.write_str(n),
        }
    }
}

/// A transport protocol of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// As `LoadbalancerProtocolType` spells it.
    pub fn as_contrail(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }

    pub fn as_lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A VIP port: the listener's port and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VipPort {
    pub port: u16,
    pub protocol: Protocol,
}

impl fmt::Display for VipPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol.as_lower())
    }
}

/// One VIP label, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipLabel {
    /// The VIP part as written (`/web`, `10.96.0.10`).
    pub vip: String,
    pub key: VipKey,
    pub port: u16,
}

/// Why a label value is not a VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelError {
    /// No `:` separates a VIP from a port.
    NoPort(String),
    /// The part after the last `:` is not a port number from 1 to 65535.
    BadPort(String),
    /// The name leaves no DNS label (`/`, `!!`).
    EmptyName(String),
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelError::NoPort(v) => write!(f, "VIP label {v:?} has no ':<port>'"),
            LabelError::BadPort(v) => {
                write!(
                    f,
                    "VIP label {v:?}: the part after the last ':' is not a port from 1 to 65535"
                )
            }
            LabelError::EmptyName(v) => {
                write!(f, "VIP label {v:?} names nothing a DNS name can hold")
            }
        }
    }
}

impl std::error::Error for LabelError {}

/// Whether a label key declares a VIP: it starts with `VIP`, in any case.
pub fn is_vip_key(key: &str) -> bool {
    key.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("vip"))
}

/// Read a VIP label value (`/web:80`, `10.96.0.10:80`).
pub fn parse(value: &str) -> Result<VipLabel, LabelError> {
    let (vip, port) = value
        .rsplit_once(':')
        .ok_or_else(|| LabelError::NoPort(value.to_string()))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| LabelError::BadPort(value.to_string()))?;
    let key = match vip.parse::<IpAddr>() {
        Ok(a) => VipKey::Address(a),
        Err(_) => {
            let name = domain_frag(vip);
            if name.is_empty() || name.split('.').any(str::is_empty) {
                return Err(LabelError::EmptyName(value.to_string()));
            }
            VipKey::Named(format!("{name}.{FRAMEWORK}"))
        }
    };
    Ok(VipLabel {
        vip: vip.to_string(),
        key,
        port,
    })
}

/// The protocols of a port mapping (`tcp`, `udp`, `udp,tcp`, any case) or of a pod endpoint's
/// list; `None` when one is neither.
pub fn protocols<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Vec<Protocol>> {
    let mut out = Vec::new();
    for n in names {
        for p in n.split(',') {
            let p = match p.trim().to_ascii_lowercase().as_str() {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => return None,
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `mesos_state:domain_frag/1`: the dot-separated parts of `name`, each made a DNS label.
pub fn domain_frag(name: &str) -> String {
    name.split('.')
        .filter(|f| !f.is_empty())
        .map(label)
        .collect::<Vec<_>>()
        .join(".")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Middle,
    Terminate,
}

/// `mesos_state:label/1`: lowercase; skip to the first letter or digit; `-`, `_` and `.` become
/// `-`; anything else is dropped; at most 63 characters; no trailing `-`.
pub fn label(fragment: &str) -> String {
    let bytes = fragment.as_bytes();
    let mut acc: Vec<u8> = Vec::new();
    let mut state = State::Start;
    let mut i = 0;
    let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let strip = |acc: &mut Vec<u8>| {
        while acc.last() == Some(&b'-') {
            acc.pop();
        }
    };
    while i < bytes.len() {
        let c = bytes[i].to_ascii_lowercase();
        match state {
            State::Start if allowed(c) => {
                state = State::Middle;
                continue;
            }
            State::Middle if acc.len() > 62 => {
                strip(&mut acc);
                state = State::Terminate;
                continue;
            }
            State::Middle if matches!(c, b'-' | b'_' | b'.') => acc.push(b'-'),
            State::Terminate if acc.len() == 63 => break,
            _ if allowed(c) => acc.push(c),
            _ => {}
        }
        i += 1;
    }
    strip(&mut acc);
    String::from_utf8(acc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_as_mesos_state_makes_them() {
        // mesos_state.erl remap_test
        for (input, want) in [
            (
                "fd%gsf---gs7-f$gs--d7fddg-123",
                "fdgsf---gs7-fgs--d7fddg-123",
            ),
            ("4abc123", "4abc123"),
            (
                "89fdgsf---gs7-fgs--d7fddg-123",
                "89fdgsf---gs7-fgs--d7fddg-123",
            ),
            (
                "##fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789-",
                "fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789",
            ),
            (
                "fd%gsf---gs7-f$gs--d7fddg123456789012345678901234567890123456789-123",
                "fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891",
            ),
            (
                "89fdgsf---gs7-fgs--d7fddg---123",
                "89fdgsf---gs7-fgs--d7fddg---123",
            ),
            (
                "%%fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789---123",
                "fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891",
            ),
            ("-4abc123", "4abc123"),
            ("89fdgsf---gs7-fgs--d7fddg-", "89fdgsf---gs7-fgs--d7fddg"),
            ("0-0", "0-0"),
            ("/Web_App", "web-app"),
        ] {
            assert_eq!(label(input), want, "{input}");
        }
        assert_eq!(domain_frag("/grp/web"), "grpweb");
        assert_eq!(domain_frag("/my.app"), "my.app");
    }

    #[test]
    fn values_split_at_the_last_colon() {
        let l = parse("/web:80").expect("named");
        assert_eq!(l.key, VipKey::Named("web.marathon".into()));
        assert_eq!((l.vip.as_str(), l.port), ("/web", 80));
        let a = parse("10.96.0.10:8080").expect("address");
        assert_eq!(a.key, VipKey::Address("10.96.0.10".parse().expect("ip")));
        let v6 = parse("fd00::10:53").expect("v6");
        assert_eq!((v6.key.to_string().as_str(), v6.port), ("fd00::10", 53));
        assert_eq!(
            parse("/grp/web:1").expect("nested").key.to_string(),
            "grpweb.marathon"
        );
        assert_eq!(parse("web"), Err(LabelError::NoPort("web".into())));
        for bad in ["/web:0", "/web:65536", "/web:http", "/web:"] {
            assert!(matches!(parse(bad), Err(LabelError::BadPort(_))), "{bad}");
        }
        assert!(matches!(parse("/:80"), Err(LabelError::EmptyName(_))));
        assert!(matches!(parse("!!:80"), Err(LabelError::EmptyName(_))));
        let e = parse("web").expect_err("no port").to_string();
        assert!(e.contains("\"web\""), "{e}");
    }

    #[test]
    fn keys_protocols_and_key_round_trip() {
        for k in ["VIP_0", "vip_1", "Vip", "VIP"] {
            assert!(is_vip_key(k), "{k}");
        }
        for k in ["VI", "HAPROXY_0_VHOST", "network-scope", "é"] {
            assert!(!is_vip_key(k), "{k}");
        }
        assert_eq!(protocols(["tcp"]), Some(vec![Protocol::Tcp]));
        assert_eq!(
            protocols(["udp,tcp"]),
            Some(vec![Protocol::Udp, Protocol::Tcp])
        );
        assert_eq!(
            protocols(["UDP", "tcp"]),
            Some(vec![Protocol::Udp, Protocol::Tcp])
        );
        assert_eq!(protocols(["sctp"]), None);
        assert_eq!(protocols([]), None);
        for k in ["web.marathon", "10.96.0.1", "fd00::1"] {
            assert_eq!(VipKey::parse(k).map(|k| k.to_string()).as_deref(), Some(k));
        }
        assert_eq!(VipKey::parse("Web.marathon"), None);
        assert_eq!(VipKey::parse(""), None);
        let p = VipPort {
            port: 80,
            protocol: Protocol::Udp,
        };
        assert_eq!(p.to_string(), "80/udp");
    }
}
