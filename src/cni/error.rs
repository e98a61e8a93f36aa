//! The CNI error result and the codes this plugin uses.

use std::fmt;

use serde_json::{Value, json};

/// Error codes: 1-11 from the CNI specification, 50-51 for STATUS, 100+ this plugin's own.
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENVIRONMENT: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODING_FAILURE: u32 = 6;
    pub const INVALID_NETWORK_CONFIG: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    pub const PLUGIN_NOT_AVAILABLE: u32 = 50;
    pub const LIMITED_CONNECTIVITY: u32 = 51;
    /// A Contrail object named by a label (network, floating-IP pool, security group) is missing.
    pub const OBJECT_MISSING: u32 = 100;
    /// A requested address or floating IP is taken or outside the subnet.
    pub const ADDRESS_CONFLICT: u32 = 101;
    /// The vRouter agent refused the port.
    pub const AGENT_REJECTED: u32 = 102;
    /// The kernel refused a netlink request.
    pub const NETLINK_FAILURE: u32 = 103;
    /// No address is free: the subnet or the floating-IP pool is exhausted.
    pub const NO_FREE_ADDRESS: u32 = 104;
    /// Anything else (a bug, or a failure without a better code).
    pub const INTERNAL: u32 = 999;

    /// Every code with its meaning, for `--help` and the man page.
    pub const ALL: &[(u32, &str)] = &[
        (INCOMPATIBLE_VERSION, "incompatible CNI version"),
        (
            UNSUPPORTED_FIELD,
            "unsupported field in the network configuration",
        ),
        (UNKNOWN_CONTAINER, "container unknown or does not exist"),
        (
            INVALID_ENVIRONMENT,
            "invalid or missing CNI_* environment variable",
        ),
        (IO_FAILURE, "I/O failure (stdin, port files)"),
        (
            DECODING_FAILURE,
            "cannot decode the network configuration or a peer's answer",
        ),
        (
            INVALID_NETWORK_CONFIG,
            "invalid network configuration: bad key, label, CIDR or fq-name",
        ),
        (
            TRY_AGAIN_LATER,
            "manager, Contrail or vRouter agent unreachable or not ready in time",
        ),
        (
            PLUGIN_NOT_AVAILABLE,
            "STATUS: manager or vRouter agent unreachable",
        ),
        (
            OBJECT_MISSING,
            "a Contrail object named by a label does not exist",
        ),
        (
            ADDRESS_CONFLICT,
            "requested IP or floating IP taken or outside the subnet",
        ),
        (
            AGENT_REJECTED,
            "the vRouter agent rejected the port, or Contrail has no virtual-router for this node",
        ),
        (NETLINK_FAILURE, "the kernel refused a netlink request"),
        (
            NO_FREE_ADDRESS,
            "no free address: the subnet or floating-IP pool is exhausted",
        ),
        (INTERNAL, "internal error"),
    ];
}

/// A CNI error: printed as `{"cniVersion","code","msg","details"}` on stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }

    /// The JSON the runtime reads.
    pub fn to_json(&self, cni_version: &str) -> Value {
        let mut v = json!({"cniVersion": cni_version, "code": self.code, "msg": self.msg});
        if !self.details.is_empty() {
            v["details"] = Value::from(self.details.clone());
        }
        v
    }

    /// Find the code for any error: the innermost [`CniError`] in the chain decides; a kernel
    /// refusal is 103; a label error is 7; anything else is 999. The full chain goes to
    /// `details` when it says more than `msg`.
    pub fn from_anyhow(err: &anyhow::Error) -> CniError {
        let chain = format!("{err:#}");
        let found = err
            .chain()
            .filter_map(|e| e.downcast_ref::<CniError>())
            .last()
            .cloned();
        let mut out = match found {
            Some(e) => e,
            None if crate::netlink::errno_of(err).is_some() => {
                CniError::new(code::NETLINK_FAILURE, chain.clone())
            }
            None if err
                .chain()
                .any(|e| e.downcast_ref::<crate::labels::LabelError>().is_some()) =>
            {
                CniError::new(code::INVALID_NETWORK_CONFIG, chain.clone())
            }
            None => CniError::new(code::INTERNAL, chain.clone()),
        };
        if out.details.is_empty() && chain != out.msg {
            out.details = chain;
        }
        out
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
    use anyhow::Context;

    #[test]
    fn json_shape() {
        let e = CniError::new(7, "bad label");
        assert_eq!(
            e.to_json("0.2.0"),
            json!({"cniVersion": "0.2.0", "code": 7, "msg": "bad label"})
        );
        let e = e.with_details("more");
        assert_eq!(e.to_json("1.1.0")["details"], "more");
    }

    #[test]
    fn code_comes_from_the_innermost_cni_error() {
        let err =
            anyhow::Error::new(CniError::new(11, "manager unreachable")).context("adding eth0");
        let e = CniError::from_anyhow(&err);
        assert_eq!(e.code, 11);
        assert_eq!(e.msg, "manager unreachable");
        assert_eq!(e.details, "adding eth0: manager unreachable");
        let plain: anyhow::Result<()> = Err(anyhow::anyhow!("boom")).context("ctx");
        let e = CniError::from_anyhow(&plain.expect_err("error"));
        assert_eq!((e.code, e.msg.as_str()), (999, "ctx: boom"));
    }
}
