//! Deterministic identifiers shared by the CNI plugin and the manager. Pure.
//!
//! Both sides derive the same names and UUIDs from (container id, ifname), so a retried or
//! raced ADD lands on the same objects, and a DEL can find them without any local state.
//!
//! Names are unambiguous: a container id never contains `@` (CNI's
//! `^[A-Za-z0-9][A-Za-z0-9_.\-]*$`), so `<container>@<ifname>` splits at its first `@`, and the
//! suffixes of the names derived from it (`@v4`, `@v6`, `@fip<n>`) are read from the end.
//! Teardown never derives a container or ifname from a name: it works from the request or from
//! the objects' annotations.

use std::net::IpAddr;

use ipnet::IpNet;
use uuid::Uuid;

/// An address family, as Contrail spells it in `instance_ip_family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    pub fn of_net(net: &IpNet) -> Family {
        Family::of(&net.addr())
    }

    /// `"v4"` / `"v6"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }

    /// The host prefix length: 32 or 128.
    pub fn max_prefix_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `^[A-Za-z0-9][A-Za-z0-9_.\-]*$`, the CNI specification's container id rule.
pub fn valid_container_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The namespace of every UUIDv5 this project derives.
fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"contrail-mesos.opencontrail.org")
}

fn derived(text: &str) -> String {
    Uuid::new_v5(&namespace(), text.as_bytes()).to_string()
}

/// A canonical (lowercase, hyphenated) UUID string.
pub fn is_canonical_uuid(s: &str) -> bool {
    s.len() == 36 && Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// The virtual-machine UUID of a container: the container id itself when it is a canonical
/// UUID (as Mesos' top-level container ids are), else a UUIDv5 of it.
pub fn vm_uuid(container_id: &str) -> String {
    if is_canonical_uuid(container_id) {
        container_id.to_string()
    } else {
        derived(&format!("vm:{container_id}"))
    }
}

/// The virtual-machine-interface UUID of (container, ifname).
pub fn vmi_uuid(container_id: &str, ifname: &str) -> String {
    derived(&format!("vmi:{container_id}/{ifname}"))
}

/// The name of the interface of (container, ifname): `<container id>@<ifname>`.
pub fn vmi_name(container_id: &str, ifname: &str) -> String {
    format!("{container_id}@{ifname}")
}

/// `(container id, ifname)` of a name made by [`vmi_name`]; `None` for any other name.
pub fn parse_vmi_name(name: &str) -> Option<(&str, &str)> {
    let (cid, ifname) = name.split_once('@')?;
    let valid_cid = cid
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && cid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    (valid_cid && super::ifname::validate_ifname(ifname).is_ok()).then_some((cid, ifname))
}

/// The name of the instance IP of one family of (container, ifname): `<vmi name>@v4`.
pub fn iip_name(container_id: &str, ifname: &str, family: Family) -> String {
    format!("{}@{family}", vmi_name(container_id, ifname))
}

/// The instance-ip UUID of one family of (container, ifname). The IPv4 one keeps the scheme
/// of single-family releases.
pub fn iip_uuid(container_id: &str, ifname: &str, family: Family) -> String {
    match family {
        Family::V4 => derived(&format!("iip:{container_id}/{ifname}")),
        Family::V6 => derived(&format!("iip6:{container_id}/{ifname}")),
    }
}

/// The name of the n-th floating IP this project allocates for an interface:
/// `<vmi name>@fip<n>`.
pub fn fip_name(container_id: &str, ifname: &str, index: usize) -> String {
    format!("{}@fip{index}", vmi_name(container_id, ifname))
}

/// The floating-ip UUID for the n-th floating IP of (container, ifname).
pub fn fip_uuid(container_id: &str, ifname: &str, index: usize) -> String {
    derived(&format!("fip:{container_id}/{ifname}/{index}"))
}

/// Whether `uuid` is one of the first `n` floating IPs this project would allocate for
/// (container, ifname).
pub fn is_own_fip(uuid: &str, container_id: &str, ifname: &str, n: usize) -> bool {
    (0..n).any(|i| fip_uuid(container_id, ifname, i) == uuid)
}

/// The uuid of one object of a service VIP (`kind`: `lb`, `vmi`, `listener`, ...), from the
/// text that identifies it (cluster, VIP, port, backend): every manager derives the same.
pub fn vip_object_uuid(kind: &str, text: &str) -> String {
    derived(&format!("vip-{kind}:{text}"))
}

/// The host end of the veth: `tap` + 12 hex digits of a digest of (container id, ifname).
/// 15 characters, the longest name Linux allows.
pub fn tap_name(container_id: &str, ifname: &str) -> String {
    let digest = Uuid::new_v5(
        &namespace(),
        format!("tap:{container_id}/{ifname}").as_bytes(),
    );
    format!("tap{}", &digest.simple().to_string()[..12])
}

/// A locally administered unicast MAC derived from an interface UUID, the way Contrail does it
/// (`02:` + the first five bytes).
pub fn mac_from_uuid(uuid: &str) -> Option<String> {
    let u = Uuid::parse_str(uuid).ok()?;
    let b = u.as_bytes();
    Some(format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_uuid_is_the_container_id_when_canonical() {
        let cid = "5baff64c-d028-47ba-864e-a5ee679fc069";
        assert_eq!(vm_uuid(cid), cid);
        let upper = cid.to_uppercase();
        assert_ne!(vm_uuid(&upper), upper);
        assert!(is_canonical_uuid(&vm_uuid(&upper)));
        let nested = format!("{cid}.{cid}");
        assert!(is_canonical_uuid(&vm_uuid(&nested)));
        assert_eq!(vm_uuid(&nested), vm_uuid(&nested));
        assert_ne!(vm_uuid("a"), vm_uuid("b"));
    }

    #[test]
    fn tap_names_are_short_stable_and_distinct() {
        let a = tap_name("c1", "eth0");
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("tap"));
        assert_eq!(a, tap_name("c1", "eth0"));
        assert_ne!(a, tap_name("c1", "eth1"));
        assert_ne!(a, tap_name("c2", "eth0"));
        // The old upstream scheme kept 6 uuid characters; ids that share them must not collide.
        assert_ne!(
            tap_name("5baff64c-d028-47ba-864e-a5ee679fc069", "eth0"),
            tap_name("5baff64c-d028-47ba-864e-a5ee679fc070", "eth0")
        );
    }

    #[test]
    fn derived_ids() {
        assert_ne!(vmi_uuid("c", "eth0"), vmi_uuid("c", "eth1"));
        assert!(is_canonical_uuid(&fip_uuid("c", "eth0", 0)));
        assert_eq!(fip_name("c", "eth0", 1), "c@eth0@fip1");
        assert_eq!(iip_name("c", "eth0", Family::V6), "c@eth0@v6");
        assert_ne!(
            iip_uuid("c", "eth0", Family::V4),
            iip_uuid("c", "eth0", Family::V6)
        );
        assert!(is_own_fip(&fip_uuid("c", "eth0", 2), "c", "eth0", 3));
        assert!(!is_own_fip(&fip_uuid("c", "eth0", 2), "c", "eth0", 2));
        assert!(!is_own_fip(&fip_uuid("c", "eth1", 0), "c", "eth0", 3));
        assert_eq!(
            parse_vmi_name(&vmi_name("a.b_c", "eth1")),
            Some(("a.b_c", "eth1"))
        );
        assert_eq!(parse_vmi_name("plain"), None);
        assert_eq!(parse_vmi_name("c__eth0"), None);
        assert_eq!(
            mac_from_uuid("5baff64c-d028-47ba-864e-a5ee679fc069").as_deref(),
            Some("02:5b:af:f6:4c:d0")
        );
        assert_eq!(mac_from_uuid("nope"), None);
    }

    /// Names the old `<container>__<ifname>` scheme could not tell apart (`c___x` was both
    /// (c_, x) and (c, _x)) are distinct now, and every name parses back to its own pair.
    #[test]
    fn names_are_unambiguous() {
        let pairs = [
            ("c_", "x"),
            ("c", "_x"),
            ("c__eth", "_1"),
            ("c", "eth__1"),
            ("c", "eth@v4"),
            ("c", "eth@fip1"),
            ("a.b", "eth0"),
        ];
        // Each kind of name lives in its own namespace (interfaces under the project, instance
        // IPs at the root, floating IPs under their pool): no two pairs may share one.
        let mut seen = std::collections::HashSet::new();
        for (cid, ifname) in pairs {
            let vmi = vmi_name(cid, ifname);
            assert_eq!(parse_vmi_name(&vmi), Some((cid, ifname)), "{vmi}");
            for (kind, n) in [
                ("vmi", vmi.clone()),
                ("iip", iip_name(cid, ifname, Family::V4)),
                ("iip", iip_name(cid, ifname, Family::V6)),
                ("fip", fip_name(cid, ifname, 0)),
                ("fip", fip_name(cid, ifname, 1)),
            ] {
                assert!(seen.insert((kind, n.clone())), "{kind} {n} made twice");
            }
        }
    }
}
