//! The error every command and the manager answer with: a CNI error code and a message that
//! names what was wrong. The codes are part of two wire contracts: the CNI error result the
//! plugin prints, and the manager's `{"error": {"code", "msg"}}` answer.

use std::fmt;

use serde_json::Value;

/// Defines [`Code`] and its list from one table, so the list is complete by construction.
macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $meaning:literal;)*) => {
        /// Error codes: 1-11 from the CNI specification, 50-51 for STATUS, 100 and up this
        /// project's own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $name = $value,)*
        }

        impl Code {
            /// Every code, in the table's order.
            pub const ALL: &[Code] = &[$(Code::$name,)*];

            /// What the code means (for `--help` and the man pages).
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$name => $meaning,)*
                }
            }
        }
    };
}

codes! {
    IncompatibleVersion = 1, "incompatible CNI version";
    UnsupportedField = 2, "unsupported field in the network configuration";
    UnknownContainer = 3, "container unknown or does not exist";
    InvalidEnvironment = 4, "invalid or missing CNI_* environment variable";
    IoFailure = 5, "I/O failure (stdin, port files)";
    DecodingFailure = 6, "cannot decode the network configuration or a peer's answer";
    InvalidNetworkConfig = 7, "invalid network configuration: bad key, label, CIDR or fq-name";
    TryAgainLater = 11, "manager, Contrail or vRouter agent unreachable or not ready in time";
    PluginNotAvailable = 50, "STATUS: manager or vRouter agent unreachable";
    LimitedConnectivity = 51, "STATUS: limited connectivity";
    /// A Contrail object named by a label (network, floating-IP pool, security group) is
    /// missing.
    ObjectMissing = 100, "a Contrail object named by a label does not exist";
    /// A requested address or floating IP is taken or outside the subnet.
    AddressConflict = 101, "requested IP or floating IP taken or outside the subnet";
    /// The vRouter agent refused the port, or no virtual-router stands for the node.
    AgentRejected = 102,
        "the vRouter agent rejected the port, or Contrail has no virtual-router for this node";
    /// The kernel refused a netlink request.
    NetlinkFailure = 103, "the kernel refused a netlink request";
    /// The subnet or the floating-IP pool is exhausted.
    NoFreeAddress = 104, "no free address: the subnet or floating-IP pool is exhausted";
    /// A bug, or a failure without a better code.
    Internal = 999, "internal error";
}

impl Code {
    /// The number on the wire.
    pub fn value(self) -> u32 {
        self as u32
    }

    /// The code of a number a peer sent; `None` for one this version does not know.
    pub fn from_value(v: u32) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.value() == v)
    }

    /// The HTTP status the manager answers an error of this code with.
    pub fn http_status(self) -> u16 {
        match self {
            Code::InvalidEnvironment
            | Code::DecodingFailure
            | Code::InvalidNetworkConfig
            | Code::UnsupportedField => 400,
            Code::ObjectMissing => 404,
            Code::AddressConflict | Code::NoFreeAddress => 409,
            Code::TryAgainLater => 503,
            _ => 500,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

/// A coded error: printed by the plugin as `{"cniVersion","code","msg","details"}`, answered
/// by the manager as `{"error": {"code", "msg"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    pub code: Code,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: Code, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// An error a peer answered with code `value`; a code this version does not know is kept
    /// in `details` under [`Code::Internal`].
    pub fn from_wire(value: u32, msg: impl Into<String>) -> Self {
        match Code::from_value(value) {
            Some(c) => Self::new(c, msg),
            None => Self::new(Code::Internal, msg).with_details(format!("peer's code {value}")),
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }

    /// The JSON the runtime reads.
    pub fn to_json(&self, cni_version: &str) -> Value {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer<'a> {
            cni_version: &'a str,
            code: u32,
            msg: &'a str,
            #[serde(skip_serializing_if = "str::is_empty")]
            details: &'a str,
        }
        let answer = Answer {
            cni_version,
            code: self.code.value(),
            msg: &self.msg,
            details: &self.details,
        };
        serde_json::to_value(answer).unwrap_or(Value::Null)
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for CniError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_shape() {
        let e = CniError::new(Code::InvalidNetworkConfig, "bad label");
        assert_eq!(
            e.to_json("0.2.0"),
            json!({"cniVersion": "0.2.0", "code": 7, "msg": "bad label"})
        );
        let e = e.with_details("more");
        assert_eq!(e.to_json("1.1.0")["details"], "more");
    }

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for c in Code::ALL {
            assert_eq!(Code::from_value(c.value()), Some(*c));
            assert!(!c.meaning().is_empty());
        }
        let mut values: Vec<u32> = Code::ALL.iter().map(|c| c.value()).collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), Code::ALL.len());
        assert_eq!(Code::NoFreeAddress.value(), 104);
        let unknown = CniError::from_wire(105, "new");
        assert_eq!(unknown.code, Code::Internal);
        assert!(unknown.details.contains("105"));
        assert_eq!(CniError::from_wire(101, "x").code, Code::AddressConflict);
    }
}
