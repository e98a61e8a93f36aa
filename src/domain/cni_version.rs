//! CNI spec versions this plugin speaks, and which result shape each one uses.

/// Every version VERSION reports, oldest first.
pub const SUPPORTED: &[&str] = &[
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

/// The newest version, used when the request names none we know.
pub const LATEST: &str = "1.1.0";

/// The version a config without `cniVersion` means.
pub const IMPLICIT: &str = "0.1.0";

/// How a result is laid out in a given version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// 0.1.0 and 0.2.0: `ip4`/`ip6`/`dns` (what Mesos parses).
    Legacy,
    /// 0.3.0, 0.3.1, 0.4.0: `interfaces`/`ips` with `ips[].version`.
    Interfaces03,
    /// 1.0.0 and later: `interfaces`/`ips` without `version`.
    Interfaces1,
}

pub fn is_supported(v: &str) -> bool {
    SUPPORTED.contains(&v)
}

/// `(major, minor, patch)` of a semver string, if it is one.
pub fn parse(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.trim().split('.');
    let t = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    it.next().is_none().then_some(t)
}

/// `v >= min`; false when `v` is not a version.
pub fn at_least(v: &str, min: &str) -> bool {
    match (parse(v), parse(min)) {
        (Some(a), Some(b)) => a >= b,
        _ => false,
    }
}

pub fn shape(v: &str) -> Shape {
    if !at_least(v, "0.3.0") {
        Shape::Legacy
    } else if !at_least(v, "1.0.0") {
        Shape::Interfaces03
    } else {
        Shape::Interfaces1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(shape("0.1.0"), Shape::Legacy);
        assert_eq!(shape("0.2.0"), Shape::Legacy);
        assert_eq!(shape("0.3.1"), Shape::Interfaces03);
        assert_eq!(shape("0.4.0"), Shape::Interfaces03);
        assert_eq!(shape("1.0.0"), Shape::Interfaces1);
        assert_eq!(shape("1.1.0"), Shape::Interfaces1);
    }

    #[test]
    fn comparisons() {
        assert!(at_least("0.4.0", "0.4.0"));
        assert!(at_least("1.0.0", "0.4.0"));
        assert!(!at_least("0.3.1", "0.4.0"));
        assert!(!at_least("x", "0.1.0"));
        assert_eq!(parse("1.2.3.4"), None);
        assert!(!is_supported("9.9.9"));
    }
}
