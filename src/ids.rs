//! Deterministic identifiers shared by the CNI plugin and the manager. Pure.
//!
//! Both sides derive the same names and UUIDs from (container id, ifname), so a retried or
//! raced ADD lands on the same objects, and a DEL can find them without any local state.

use uuid::Uuid;

/// The namespace of every UUIDv5 this project derives.
fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"contrail-mesos.opencontrail.org")
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
        Uuid::new_v5(&namespace(), format!("vm:{container_id}").as_bytes()).to_string()
    }
}

/// The virtual-machine-interface UUID of (container, ifname).
pub fn vmi_uuid(container_id: &str, ifname: &str) -> String {
    Uuid::new_v5(
        &namespace(),
        format!("vmi:{container_id}/{ifname}").as_bytes(),
    )
    .to_string()
}

/// The name of the interface and of its instance IP: `<container id>__<ifname>`.
pub fn vmi_name(container_id: &str, ifname: &str) -> String {
    format!("{container_id}__{ifname}")
}

/// The instance-ip UUID of (container, ifname).
pub fn iip_uuid(container_id: &str, ifname: &str) -> String {
    Uuid::new_v5(
        &namespace(),
        format!("iip:{container_id}/{ifname}").as_bytes(),
    )
    .to_string()
}

/// `(container id, ifname)` of a name made by [`vmi_name`].
pub fn split_vmi_name(name: &str) -> Option<(&str, &str)> {
    name.rsplit_once("__")
        .filter(|(cid, ifname)| !cid.is_empty() && !ifname.is_empty())
}

/// The name of the n-th floating IP this project allocates for an interface.
pub fn fip_name(container_id: &str, ifname: &str, index: usize) -> String {
    format!("{}{FIP_MARK}{index}", vmi_name(container_id, ifname))
}

/// Marks floating IPs the manager allocated (and may delete) as opposed to ones an operator
/// associated (which a teardown only detaches).
pub const FIP_MARK: &str = "__fip";

/// The floating-ip UUID for the n-th floating IP of (container, ifname).
pub fn fip_uuid(container_id: &str, ifname: &str, index: usize) -> String {
    Uuid::new_v5(
        &namespace(),
        format!("fip:{container_id}/{ifname}/{index}").as_bytes(),
    )
    .to_string()
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
        assert_eq!(fip_name("c", "eth0", 1), "c__eth0__fip1");
        assert_eq!(
            split_vmi_name(&vmi_name("a.b_c", "eth1")),
            Some(("a.b_c", "eth1"))
        );
        assert_eq!(split_vmi_name("plain"), None);
        assert_eq!(
            mac_from_uuid("5baff64c-d028-47ba-864e-a5ee679fc069").as_deref(),
            Some("02:5b:af:f6:4c:d0")
        );
        assert_eq!(mac_from_uuid("nope"), None);
    }
}
