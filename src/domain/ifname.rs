//! Linux interface name rules (the kernel's `dev_valid_name`).

use anyhow::{Result, bail};

/// `IFNAMSIZ` minus the terminating NUL.
const MAX_IFNAME_LEN: usize = 15;

/// Checks that `name` is a valid Linux interface name: 1 to 15 bytes, no '/', ':', whitespace
/// or NUL, and not "." or "..".
pub fn validate_ifname(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("invalid interface name {name:?}: must not be empty");
    }
    if name.len() > MAX_IFNAME_LEN {
        bail!(
            "invalid interface name {name:?}: {} bytes, at most {MAX_IFNAME_LEN} allowed",
            name.len()
        );
    }
    if name == "." || name == ".." {
        bail!("invalid interface name {name:?}: \".\" and \"..\" are reserved");
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || *c == '\0' || c.is_whitespace())
    {
        bail!(
            "invalid interface name {name:?}: must not contain {c:?} ('/', ':', NUL and whitespace are not allowed)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_ifname_accepts_usual_names() {
        for ok in [
            "eth0",
            "lo",
            "tapab12cd34-5f",
            "veth_x.100",
            "a",
            "123456789012345",
        ] {
            validate_ifname(ok).unwrap_or_else(|e| panic!("{ok:?} rejected: {e}"));
        }
    }

    #[test]
    fn validate_ifname_rejects_16_bytes() {
        let err = validate_ifname("1234567890123456").unwrap_err().to_string();
        assert!(err.contains("\"1234567890123456\""), "{err}");
        assert!(err.contains("at most 15"), "{err}");
        // 15 bytes but multi-byte characters are counted in bytes, like the kernel does.
        assert!(validate_ifname("ééééééééé").is_err());
    }

    #[test]
    fn validate_ifname_rejects_forbidden_names_and_says_why() {
        let cases = [
            ("", "empty"),
            (".", "reserved"),
            ("..", "reserved"),
            ("eth/0", "'/'"),
            ("eth0:1", "':'"),
            ("eth 0", "' '"),
            ("eth\t0", "'\\t'"),
            ("eth\x000", "'\\0'"),
        ];
        for (name, why) in cases {
            let err = validate_ifname(name).unwrap_err().to_string();
            assert!(err.contains(&format!("{name:?}")), "{err}");
            assert!(err.contains(why), "error for {name:?} lacks {why:?}: {err}");
        }
    }
}
