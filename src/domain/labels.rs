//! The task's `network_info` labels, parsed into a [`NetworkRequest`]. Pure: no I/O.
//!
//! One table of keys ([`KEYS`]); unknown keys are ignored; a malformed value is a
//! [`LabelError`] naming the key and the value.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::domain::fqname::FqName;

pub const NETWORKS: &str = "networks";
pub const NETWORK_SUBNETS: &str = "network-subnets";
pub const NETWORK_IP: &str = "network-ip";
pub const PROJECT_NAME: &str = "project-name";
pub const DOMAIN_NAME: &str = "domain-name";
pub const FLOATING_IPS: &str = "floating-ips";
pub const SECURITY_GROUPS: &str = "security-groups";
pub const CLUSTER_NAME: &str = "cluster-name";
pub const NETWORK_POLICIES: &str = "network-policies";

/// Every label key this project reads, with a one-line meaning (also used for the man page).
pub const KEYS: &[(&str, &str)] = &[
    (
        NETWORKS,
        "virtual network: a name under the task's project or domain:project:name",
    ),
    (
        NETWORK_SUBNETS,
        "comma-separated CIDRs; the network is created with them when missing",
    ),
    (
        NETWORK_IP,
        "a CIDR (like network-subnets) or a host address, optionally with /len, for the instance IP",
    ),
    (
        PROJECT_NAME,
        "project of the network and the interface (default: the manager's)",
    ),
    (
        DOMAIN_NAME,
        "domain of that project (default: the manager's)",
    ),
    (
        FLOATING_IPS,
        "comma-separated domain:project:network:pool or ...:pool(address) entries",
    ),
    (
        SECURITY_GROUPS,
        "comma-separated security groups: domain:project:name or a name in the task's project",
    ),
    (CLUSTER_NAME, "overrides the cluster name for this task"),
    (
        NETWORK_POLICIES,
        "comma-separated network policies (domain:project:name or a name in the task's project) \
         attached to the task's network; they stay attached after the task",
    ),
];

/// A label whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "label {:?} has a bad value {:?}: {}",
            self.key, self.value, self.reason
        )
    }
}

impl std::error::Error for LabelError {}

/// A name that is either relative to the task's project or fully qualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectRef {
    /// A bare name, resolved under the task's `domain:project`.
    Name(String),
    /// `domain:project:name`.
    Fq(FqName),
}

impl ObjectRef {
    /// The fq-name under `project` (a `[domain, project]` name) for bare names.
    pub fn resolve(&self, project: &FqName) -> FqName {
        match self {
            ObjectRef::Fq(fq) => fq.clone(),
            ObjectRef::Name(n) => project.child(n).unwrap_or_else(|_| project.clone()),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectRef::Name(n) => f.write_str(n),
            ObjectRef::Fq(fq) => fq.fmt(f),
        }
    }
}

/// One `floating-ips` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatingIpRequest {
    /// `domain:project:network:pool`.
    pub pool: FqName,
    /// The address asked for, if any.
    pub address: Option<IpAddr>,
}

/// What the labels ask for. Absent labels are `None`/empty; defaults are applied by the manager.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkRequest {
    pub network: Option<ObjectRef>,
    /// Subnets to create the network with when it does not exist (from `network-subnets` and a
    /// CIDR-valued `network-ip`), without duplicates, in order.
    pub subnets: Vec<IpNet>,
    /// The instance IP asked for by `network-ip`.
    pub ip: Option<IpAddr>,
    pub project: Option<String>,
    pub domain: Option<String>,
    pub floating_ips: Vec<FloatingIpRequest>,
    pub security_groups: Vec<ObjectRef>,
    pub cluster_name: Option<String>,
    /// Network policies to attach to the network, without duplicates, in order.
    pub network_policies: Vec<ObjectRef>,
}

/// Parse label pairs. A key given twice with different values is an error.
pub fn parse<'a, I>(pairs: I) -> Result<NetworkRequest, LabelError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut seen: Vec<(&str, &str)> = Vec::new();
    let mut req = NetworkRequest::default();
    let mut network_ip_subnet: Option<IpNet> = None;
    let mut network_subnets: Vec<IpNet> = Vec::new();
    for (key, value) in pairs {
        let key = key.trim();
        let Some((known, _)) = KEYS.iter().find(|(k, _)| *k == key) else {
            continue;
        };
        if let Some((_, prev)) = seen.iter().find(|(k, _)| k == known) {
            if prev.trim() != value.trim() {
                return Err(err(key, value, format!("given twice, also as {prev:?}")));
            }
            continue;
        }
        seen.push((known, value));
        let v = value.trim();
        match *known {
            NETWORKS => req.network = Some(object_ref(key, value, v, 3)?),
            NETWORK_SUBNETS => network_subnets = cidr_list(key, value, v)?,
            NETWORK_IP => {
                let (ip, subnet) = network_ip(key, value, v)?;
                req.ip = ip;
                network_ip_subnet = subnet;
            }
            PROJECT_NAME => req.project = Some(simple_name(key, value, v)?),
            DOMAIN_NAME => req.domain = Some(simple_name(key, value, v)?),
            CLUSTER_NAME => req.cluster_name = Some(simple_name(key, value, v)?),
            FLOATING_IPS => req.floating_ips = floating_ips(key, value, v)?,
            SECURITY_GROUPS => {
                req.security_groups = split_list(v)
                    .map(|e| object_ref(key, value, e, 3))
                    .collect::<Result<_, _>>()?;
            }
            NETWORK_POLICIES => {
                for e in split_list(v) {
                    let r = object_ref(key, value, e, 3)?;
                    if !req.network_policies.contains(&r) {
                        req.network_policies.push(r);
                    }
                }
                if req.network_policies.is_empty() {
                    return Err(err(key, value, "no network policy given"));
                }
            }
            _ => {}
        }
    }
    for net in network_ip_subnet.into_iter().chain(network_subnets) {
        if !req.subnets.contains(&net) {
            req.subnets.push(net);
        }
    }
    if let Some(ip) = req.ip
        && !req.subnets.is_empty()
        && !req.subnets.iter().any(|n| n.contains(&ip))
    {
        let value = seen
            .iter()
            .find(|(k, _)| *k == NETWORK_IP)
            .map(|(_, v)| *v)
            .unwrap_or_default();
        return Err(err(
            NETWORK_IP,
            value,
            format!("address {ip} is outside the network's subnets"),
        ));
    }
    Ok(req)
}

fn err(key: &str, value: &str, reason: impl Into<String>) -> LabelError {
    LabelError {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|e| !e.is_empty())
}

fn simple_name(key: &str, raw: &str, v: &str) -> Result<String, LabelError> {
    if v.is_empty() {
        return Err(err(key, raw, "empty"));
    }
    if v.contains(':') {
        return Err(err(key, raw, "a name must not contain ':'"));
    }
    FqName::new([v]).map_err(|e| err(key, raw, e.to_string()))?;
    Ok(v.to_string())
}

/// A bare name, or an fq-name with exactly `fq_len` parts.
fn object_ref(key: &str, raw: &str, v: &str, fq_len: usize) -> Result<ObjectRef, LabelError> {
    if v.is_empty() {
        return Err(err(key, raw, "empty"));
    }
    let fq = FqName::parse(v).map_err(|e| err(key, raw, e.to_string()))?;
    match fq.len() {
        1 => Ok(ObjectRef::Name(fq.name().to_string())),
        n if n == fq_len => Ok(ObjectRef::Fq(fq)),
        n => Err(err(
            key,
            raw,
            format!("{v:?} has {n} parts; expected a name or domain:project:name"),
        )),
    }
}

fn cidr(key: &str, raw: &str, v: &str) -> Result<IpNet, LabelError> {
    let net: IpNet = v
        .parse()
        .map_err(|_| err(key, raw, format!("{v:?} is not a CIDR like 5.5.5.0/24")))?;
    if net.trunc() != net {
        return Err(err(
            key,
            raw,
            format!("{v:?} has host bits set; the subnet is {}", net.trunc()),
        ));
    }
    Ok(net)
}

fn cidr_list(key: &str, raw: &str, v: &str) -> Result<Vec<IpNet>, LabelError> {
    let mut out = Vec::new();
    for e in v.split([',', ' ']).map(str::trim).filter(|e| !e.is_empty()) {
        let net = cidr(key, raw, e)?;
        if !out.contains(&net) {
            out.push(net);
        }
    }
    if out.is_empty() {
        return Err(err(key, raw, "no subnet given"));
    }
    Ok(out)
}

/// `5.5.5.0/24` (a subnet), `5.5.5.10` (an address) or `5.5.5.10/24` (an address in a subnet).
fn network_ip(
    key: &str,
    raw: &str,
    v: &str,
) -> Result<(Option<IpAddr>, Option<IpNet>), LabelError> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Ok((Some(ip), None));
    }
    let net: IpNet = v.parse().map_err(|_| {
        err(
            key,
            raw,
            format!("{v:?} is neither an address nor a CIDR like 5.5.5.0/24"),
        )
    })?;
    if net.prefix_len() == net.max_prefix_len() {
        return Ok((Some(net.addr()), None));
    }
    if net.trunc() == net {
        Ok((None, Some(net)))
    } else {
        Ok((Some(net.addr()), Some(net.trunc())))
    }
}

fn floating_ips(key: &str, raw: &str, v: &str) -> Result<Vec<FloatingIpRequest>, LabelError> {
    let mut out = Vec::new();
    for entry in split_entries(key, raw, v)? {
        let (pool, address) = match entry.split_once('(') {
            None => (entry, None),
            Some((pool, rest)) => {
                let inner = rest
                    .strip_suffix(')')
                    .ok_or_else(|| err(key, raw, format!("entry {entry:?} has no closing ')'")))?;
                let inner = inner.trim();
                let addr = inner.parse::<IpAddr>().map_err(|_| {
                    err(
                        key,
                        raw,
                        format!("{inner:?} in entry {entry:?} is not an IP address"),
                    )
                })?;
                (pool, Some(addr))
            }
        };
        let pool = FqName::parse(pool).map_err(|e| err(key, raw, e.to_string()))?;
        if pool.len() != 4 {
            return Err(err(
                key,
                raw,
                format!(
                    "pool {pool} has {} parts; expected domain:project:network:pool",
                    pool.len()
                ),
            ));
        }
        out.push(FloatingIpRequest { pool, address });
    }
    Ok(out)
}

/// Split on commas that are outside parentheses; reject unbalanced parentheses.
fn split_entries<'a>(key: &str, raw: &str, v: &'a str) -> Result<Vec<&'a str>, LabelError> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in v.char_indices() {
        match c {
            '(' => {
                depth += 1;
                if depth > 1 {
                    return Err(err(key, raw, "nested '('"));
                }
            }
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| err(key, raw, "')' without '('"))?;
            }
            ',' if depth == 0 => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(err(key, raw, "'(' without ')'"));
    }
    out.push(v[start..].trim());
    Ok(out.into_iter().filter(|e| !e.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Result<NetworkRequest, LabelError> {
        parse(pairs.iter().copied())
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("test CIDR")
    }

    #[test]
    fn seed_example_network_ip_cidr() {
        let r = p(&[
            ("networks", "blue-network"),
            ("network-ip", "5.5.5.0/24"),
            ("project-name", "default-project"),
            ("domain-name", "default-domain"),
        ])
        .expect("seed example parses");
        assert_eq!(r.network, Some(ObjectRef::Name("blue-network".into())));
        assert_eq!(r.subnets, vec![net("5.5.5.0/24")]);
        assert_eq!(r.ip, None);
        assert_eq!(r.project.as_deref(), Some("default-project"));
        assert_eq!(r.domain.as_deref(), Some("default-domain"));
    }

    #[test]
    fn seed_example_floating_ips() {
        let r = p(&[
            ("networks", "blue-network"),
            ("network-subnets", "5.5.5.0/24"),
            (
                "floating-ips",
                "default-domain:default-project:__public__:__fip_pool_public__(10.66.77.123),default-domain:default-project:__public__:__fip_pool_public2__(10.33.44.11)",
            ),
        ])
        .expect("seed example parses");
        assert_eq!(r.subnets, vec![net("5.5.5.0/24")]);
        assert_eq!(r.floating_ips.len(), 2);
        assert_eq!(
            r.floating_ips[0].pool.to_string(),
            "default-domain:default-project:__public__:__fip_pool_public__"
        );
        assert_eq!(
            r.floating_ips[0].address,
            Some("10.66.77.123".parse().expect("ip"))
        );
        assert_eq!(r.floating_ips[1].pool.name(), "__fip_pool_public2__");
        assert_eq!(
            r.floating_ips[1].address,
            Some("10.33.44.11".parse().expect("ip"))
        );
    }

    #[test]
    fn seed_example_security_groups() {
        let r = p(&[(
            "security-groups",
            "default-domain:default-project:security_groups_mesos",
        )])
        .expect("parses");
        assert_eq!(
            r.security_groups,
            vec![ObjectRef::Fq(
                FqName::parse("default-domain:default-project:security_groups_mesos").expect("fq")
            )]
        );
    }

    #[test]
    fn whitespace_is_tolerated() {
        let r = p(&[
            (" networks ", "  default-domain:p:blue  "),
            ("floating-ips", " d:p:n:pool ( 10.0.0.5 ) ,  d:p:n:pool2 ,"),
            ("security-groups", " sg1 , d:p:sg2 "),
            ("network-subnets", "10.1.0.0/16, 10.2.0.0/16"),
        ])
        .expect("parses");
        assert_eq!(
            r.network,
            Some(ObjectRef::Fq(
                FqName::parse("default-domain:p:blue").expect("fq")
            ))
        );
        assert_eq!(r.floating_ips.len(), 2);
        assert_eq!(
            r.floating_ips[0].address,
            Some("10.0.0.5".parse().expect("ip"))
        );
        assert_eq!(r.floating_ips[1].address, None);
        assert_eq!(r.security_groups[0], ObjectRef::Name("sg1".into()));
        assert_eq!(r.subnets, vec![net("10.1.0.0/16"), net("10.2.0.0/16")]);
    }

    #[test]
    fn network_ip_forms() {
        let r = p(&[("network-ip", "5.5.5.10")]).expect("address");
        assert_eq!(
            (r.ip, r.subnets.len()),
            (Some("5.5.5.10".parse().expect("ip")), 0)
        );
        let r = p(&[("network-ip", "5.5.5.10/24")]).expect("address in subnet");
        assert_eq!(r.ip, Some("5.5.5.10".parse().expect("ip")));
        assert_eq!(r.subnets, vec![net("5.5.5.0/24")]);
        let r = p(&[
            ("network-ip", "5.5.5.0/24"),
            ("network-subnets", "5.5.5.0/24"),
        ])
        .expect("duplicate subnet");
        assert_eq!(r.subnets, vec![net("5.5.5.0/24")]);
        let r = p(&[("network-ip", "fd00::10/64")]).expect("v6");
        assert_eq!(r.ip, Some("fd00::10".parse().expect("ip")));
    }

    #[test]
    fn network_ip_outside_subnets_is_an_error() {
        let e = p(&[("network-ip", "6.6.6.6"), ("network-subnets", "5.5.5.0/24")])
            .expect_err("outside");
        assert_eq!(e.key, "network-ip");
        assert!(e.to_string().contains("6.6.6.6"), "{e}");
    }

    #[test]
    fn malformed_values_name_the_key_and_value() {
        let cases: &[(&str, &str)] = &[
            ("network-subnets", "5.5.5.0/33"),
            ("network-subnets", "5.5.5.1/24"),
            ("network-subnets", ""),
            ("network-ip", "five"),
            ("networks", "a:b"),
            ("networks", ""),
            ("networks", "a::c"),
            ("project-name", "a:b"),
            ("domain-name", " "),
            ("floating-ips", "d:p:n(10.0.0.1)"),
            ("floating-ips", "d:p:n:pool(10.0.0.300)"),
            ("floating-ips", "d:p:n:pool(10.0.0.1"),
            ("floating-ips", "d:p:n:pool10.0.0.1)"),
            ("floating-ips", "d:p:n:pool((10.0.0.1))"),
            ("security-groups", "a:b"),
            ("cluster-name", ""),
            ("network-policies", "d:p"),
            ("network-policies", " , "),
            ("network-policies", "d:p:np:x"),
            ("network-policies", "np,a::b"),
        ];
        // Longer than the 255 characters a Contrail name holds.
        let long = "n".repeat(256);
        let long_fq = format!("default-domain:default-project:{long}");
        let long_pool = format!("d:p:net:{long}");
        let long_cases = [
            ("networks", long.as_str()),
            ("networks", long_fq.as_str()),
            ("project-name", long.as_str()),
            ("domain-name", long.as_str()),
            ("cluster-name", long.as_str()),
            ("security-groups", long.as_str()),
            ("floating-ips", long_pool.as_str()),
        ];
        for (k, v) in cases.iter().copied().chain(long_cases) {
            let e = p(&[(k, v)]).expect_err(&format!("{k}={v:?} must be refused"));
            assert_eq!(e.key, *k);
            assert_eq!(e.value, *v);
            let text = e.to_string();
            assert!(text.contains(k), "{text}");
        }
    }

    #[test]
    fn ipv6_and_dual_stack_subnets() {
        let r = p(&[
            ("network-subnets", "5.5.5.0/24, 2001:db8:5::/64"),
            ("network-ip", "2001:db8:5::10"),
        ])
        .expect("dual stack");
        assert_eq!(r.subnets.len(), 2);
        assert_eq!(r.ip, Some("2001:db8:5::10".parse().expect("ip")));
        let r = p(&[("network-ip", "2001:db8:6::/64")]).expect("v6 cidr");
        assert_eq!(
            r.subnets,
            vec!["2001:db8:6::/64".parse::<IpNet>().expect("net")]
        );
        assert!(p(&[("network-subnets", "2001:db8:5::1/64")]).is_err());
    }

    #[test]
    fn unknown_keys_are_ignored_and_duplicates_checked() {
        let r = p(&[("app", "web"), ("networks", "n"), ("networks", " n ")]).expect("same");
        assert_eq!(r.network, Some(ObjectRef::Name("n".into())));
        let e = p(&[("networks", "n"), ("networks", "m")]).expect_err("conflict");
        assert!(e.reason.contains("twice"), "{e}");
    }

    #[test]
    fn network_policies_are_names_or_fq_names_once_each() {
        let r = p(&[(
            "network-policies",
            " allow-web , default-domain:shared:allow-dns, allow-web",
        )])
        .expect("parses");
        assert_eq!(
            r.network_policies,
            vec![
                ObjectRef::Name("allow-web".into()),
                ObjectRef::Fq(FqName::parse("default-domain:shared:allow-dns").expect("fq")),
            ]
        );
        assert!(p(&[]).expect("none").network_policies.is_empty());
        let long = format!("np,{}", "n".repeat(256));
        let e = p(&[("network-policies", long.as_str())]).expect_err("too long");
        assert_eq!(e.key, "network-policies");
    }

    #[test]
    fn object_ref_resolution() {
        let project = FqName::parse("d:p").expect("fq");
        assert_eq!(
            ObjectRef::Name("x".into()).resolve(&project).to_string(),
            "d:p:x"
        );
        let fq = FqName::parse("e:q:y").expect("fq");
        assert_eq!(ObjectRef::Fq(fq.clone()).resolve(&project), fq);
    }
}
