//! Address pools, IPv4 and IPv6, the way upstream manages them: `Subnet` in
//! `vnc_addr_mgmt.py` and `IndexAllocator` in `cfgm_common/zkclient.py` (Juniper/
//! contrail-controller R2005).
//!
//! One [`Pool`] per subnet. A virtual network's user-defined subnets are keyed by the network's
//! uuid, a flat-subnet IPAM's subnets by the IPAM's uuid, so every network using the same flat
//! IPAM draws from the same pool.
//!
//! - The allocation pools are the subnet's `allocation_pools`, else one pool from the network
//!   address to the last-but-one address (`Subnet.__init__`).
//! - Never handed out (`Subnet._exclude`): the network address, the last address (IPv4
//!   broadcast; netaddr's `broadcast` of an IPv6 network is its last address too), and the
//!   gateway and the DNS (service) address when they lie in an allocation pool.
//! - Without explicit ones the gateway is the last-but-one address and the DNS address the
//!   last-but-two; with `addr_from_start` the first and second host addresses. The same for
//!   IPv6: in `fd00::/64` the gateway is `fd00::ffff:ffff:ffff:fffe` and the DNS address
//!   `fd00::ffff:ffff:ffff:fffd`.
//! - Allocation takes the highest free address (the lowest with `addr_from_start`), and only
//!   among the first 65536 positions of the allocation pools in that order: the allocator's
//!   bitmap stops at `_MAX_SUBNET_ADDR_ALLOC` (65535, `vnc_db.py`), so a /15 or an IPv6 /64
//!   runs out after 65536 positions less the excluded ones. A requested address may be any
//!   address of the subnet that is not taken (`IndexAllocator.reserve`).
//!
//! Free space is kept as ranges, so an allocation or a release costs O(log n).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// `_MAX_SUBNET_ADDR_ALLOC` in `vnc_db.py`: the last bit position the allocator hands out.
pub const MAX_ALLOC: u128 = 65535;

/// An address as an integer (IPv4 in the low 32 bits), as netaddr's `int(IPAddress(..))`.
pub fn to_int(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of an integer in the family of `like`.
pub fn from_int(v: u128, like: &IpNet) -> IpAddr {
    match like {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX))),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

fn same_family(net: &IpNet, ip: &IpAddr) -> bool {
    matches!(
        (net, ip),
        (IpNet::V4(_), IpAddr::V4(_)) | (IpNet::V6(_), IpAddr::V6(_))
    )
}

fn first_last(net: &IpNet) -> (u128, u128) {
    (to_int(net.network()), to_int(net.broadcast()))
}

/// One subnet's allocator.
#[derive(Debug, Clone)]
pub struct Pool {
    pub net: IpNet,
    pub gw: Option<IpAddr>,
    pub dns: Option<IpAddr>,
    from_start: bool,
    /// the allocation pools as configured (none: the default one)
    configured: Vec<(IpAddr, IpAddr)>,
    /// allocation pools, start -> end (inclusive), sorted
    ranges: Vec<(u128, u128)>,
    /// never handed out: network, last address, gateway and DNS when in a pool
    exclude: Vec<u128>,
    /// what the allocator may still hand out, start -> end (inclusive)
    free: BTreeMap<u128, u128>,
    /// allocated address -> owner (the instance-ip / floating-ip uuid)
    owners: HashMap<u128, String>,
    /// whether the 65536-position cap applies (it goes when the pools are changed)
    capped: bool,
}

impl Pool {
    /// A pool over `net`. `ranges`: the allocation pools, already checked to lie in `net`
    /// (empty: the whole subnet but its last address).
    pub fn new(
        net: IpNet,
        gw: Option<IpAddr>,
        dns: Option<IpAddr>,
        from_start: bool,
        ranges: &[(IpAddr, IpAddr)],
    ) -> Self {
        let mut pool = Pool {
            net,
            gw,
            dns,
            from_start,
            configured: Vec::new(),
            ranges: Vec::new(),
            exclude: Vec::new(),
            free: BTreeMap::new(),
            owners: HashMap::new(),
            capped: true,
        };
        pool.set_ranges(ranges);
        pool
    }

    /// The default allocation pool: network address to last-but-one address.
    fn default_ranges(&self) -> Vec<(u128, u128)> {
        let (first, last) = first_last(&self.net);
        if last > first {
            vec![(first, last - 1)]
        } else {
            vec![(first, first)]
        }
    }

    fn set_ranges(&mut self, ranges: &[(IpAddr, IpAddr)]) {
        self.configured = ranges.to_vec();
        let mut r: Vec<(u128, u128)> = ranges
            .iter()
            .map(|(s, e)| (to_int(*s), to_int(*e)))
            .filter(|(s, e)| s <= e)
            .collect();
        if r.is_empty() {
            r = self.default_ranges();
        }
        r.sort_unstable();
        self.ranges = r;
        let (first, last) = first_last(&self.net);
        let mut exclude = vec![first, last];
        for a in [self.gw, self.dns].into_iter().flatten() {
            let v = to_int(a);
            if same_family(&self.net, &a) && self.in_ranges(v) {
                exclude.push(v);
            }
        }
        exclude.sort_unstable();
        exclude.dedup();
        self.exclude = exclude;
        self.rebuild_free();
    }

    fn in_ranges(&self, v: u128) -> bool {
        self.ranges.iter().any(|(s, e)| *s <= v && v <= *e)
    }

    /// The positions the allocator walks, in its order, up to the cap.
    fn window(&self) -> Vec<(u128, u128)> {
        let mut left = if self.capped {
            MAX_ALLOC + 1
        } else {
            u128::MAX
        };
        let mut out = Vec::new();
        let ordered: Vec<(u128, u128)> = if self.from_start {
            self.ranges.clone()
        } else {
            self.ranges.iter().rev().copied().collect()
        };
        for (s, e) in ordered {
            if left == 0 {
                break;
            }
            let size = (e - s).saturating_add(1);
            let take = size.min(left);
            left -= take;
            if self.from_start {
                out.push((s, s + (take - 1)));
            } else {
                out.push((e - (take - 1), e));
            }
        }
        out
    }

    fn rebuild_free(&mut self) {
        self.free.clear();
        for (s, e) in self.window() {
            self.insert_free(s, e);
        }
        let taken: Vec<u128> = self
            .exclude
            .iter()
            .copied()
            .chain(self.owners.keys().copied())
            .collect();
        for a in taken {
            self.take(a);
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        same_family(&self.net, &ip) && self.net.contains(&ip)
    }

    /// `Subnet.is_ip_allocated`: excluded addresses count as allocated.
    pub fn is_allocated(&self, ip: IpAddr) -> bool {
        if !self.contains(ip) {
            return false;
        }
        let v = to_int(ip);
        self.exclude.contains(&v) || self.owners.contains_key(&v)
    }

    /// Remove one address from the free ranges; false when it was not free.
    fn take(&mut self, a: u128) -> bool {
        let Some((&s, &e)) = self.free.range(..=a).next_back() else {
            return false;
        };
        if e < a {
            return false;
        }
        self.free.remove(&s);
        if s < a {
            self.free.insert(s, a - 1);
        }
        if a < e {
            self.free.insert(a + 1, e);
        }
        true
    }

    fn insert_free(&mut self, mut s: u128, mut e: u128) {
        if let Some((&ps, &pe)) = self.free.range(..s).next_back()
            && pe.saturating_add(1) >= s
        {
            self.free.remove(&ps);
            s = ps;
            e = e.max(pe);
        }
        while let Some((&ns, &ne)) = self.free.range(s..).next() {
            if ns > e.saturating_add(1) {
                break;
            }
            self.free.remove(&ns);
            e = e.max(ne);
        }
        self.free.insert(s, e);
    }

    fn in_window(&self, a: u128) -> bool {
        self.window().iter().any(|(s, e)| *s <= a && a <= *e)
    }

    /// Allocate the next address (highest free, or lowest with `addr_from_start`); `None`
    /// when the pool is exhausted.
    pub fn alloc(&mut self, owner: &str) -> Option<IpAddr> {
        let a = if self.from_start {
            *self.free.iter().next()?.0
        } else {
            *self.free.iter().next_back()?.1
        };
        self.take(a);
        self.owners.insert(a, owner.to_string());
        Some(from_int(a, &self.net))
    }

    /// Reserve a requested address of the subnet; false when it is taken (or excluded).
    pub fn reserve(&mut self, ip: IpAddr, owner: &str) -> bool {
        if !self.contains(ip) || self.is_allocated(ip) {
            return false;
        }
        let a = to_int(ip);
        self.take(a);
        self.owners.insert(a, owner.to_string());
        true
    }

    /// Give an address back, only if `owner` holds it (upstream checks the alloc id).
    pub fn release(&mut self, ip: IpAddr, owner: &str) -> bool {
        if !self.contains(ip) {
            return false;
        }
        let a = to_int(ip);
        if self.owners.get(&a).map(String::as_str) != Some(owner) {
            return false;
        }
        self.owners.remove(&a);
        if self.in_window(a) && !self.exclude.contains(&a) {
            self.insert_free(a, a);
        }
        true
    }

    /// A new DNS (service) address for the subnet (`_create_subnet_objs` on an update): the
    /// old one is freed, the new one reserved and excluded.
    pub fn move_dns(&mut self, dns: IpAddr) {
        if let Some(old) = self.dns {
            let v = to_int(old);
            self.exclude.retain(|x| *x != v);
            if self.contains(old) && self.in_window(v) && !self.owners.contains_key(&v) {
                self.insert_free(v, v);
            }
        }
        if self.contains(dns) {
            let v = to_int(dns);
            self.exclude.push(v);
            self.take(v);
        }
        self.dns = Some(dns);
    }

    /// New allocation pools (`IndexAllocator.reallocate`): the allocator's cap goes to the
    /// pools' size.
    pub fn change_ranges(&mut self, ranges: &[(IpAddr, IpAddr)]) {
        self.capped = false;
        self.set_ranges(ranges);
    }

    /// The allocation pools as configured (empty: none, the whole subnet).
    pub fn configured(&self) -> &[(IpAddr, IpAddr)] {
        &self.configured
    }

    pub fn addr_from_start(&self) -> bool {
        self.from_start
    }

    /// How many addresses are handed out.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.owners.len()
    }
}

/// All pools, by owner (network or IPAM uuid) and subnet name (`10.0.0.0/24`, `fd00::/64`).
#[derive(Debug, Default)]
pub struct Ipam {
    pools: HashMap<String, BTreeMap<String, Pool>>,
}

impl Ipam {
    pub fn get(&self, owner: &str, subnet: &str) -> Option<&Pool> {
        self.pools.get(owner).and_then(|m| m.get(subnet))
    }

    pub fn get_mut(&mut self, owner: &str, subnet: &str) -> Option<&mut Pool> {
        self.pools.get_mut(owner).and_then(|m| m.get_mut(subnet))
    }

    pub fn insert(&mut self, owner: &str, subnet: &str, pool: Pool) {
        self.pools
            .entry(owner.to_string())
            .or_default()
            .insert(subnet.to_string(), pool);
    }

    pub fn remove(&mut self, owner: &str, subnet: &str) -> Option<Pool> {
        let m = self.pools.get_mut(owner)?;
        let p = m.remove(subnet);
        if m.is_empty() {
            self.pools.remove(owner);
        }
        p
    }

    pub fn remove_owner(&mut self, owner: &str) {
        self.pools.remove(owner);
    }

    /// Subnet names held for an owner.
    pub fn subnets(&self, owner: &str) -> Vec<String> {
        self.pools
            .get(owner)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Parse `ip_prefix` / `ip_prefix_len` (IPv4 or IPv6) into a network, host bits dropped.
pub fn parse_subnet(prefix: &str, len: i64) -> Option<IpNet> {
    let addr: IpAddr = prefix.trim().parse().ok()?;
    let len = u8::try_from(len).ok()?;
    IpNet::new(addr, len).ok().map(|n| n.trunc())
}

/// The subnet's name as upstream keys it: `<ip_prefix>/<ip_prefix_len>`.
pub fn subnet_name(net: &IpNet) -> String {
    format!("{}/{}", net.network(), net.prefix_len())
}

/// The default gateway and DNS addresses of a subnet without explicit ones: the last-but-one
/// and last-but-two addresses, or the first and second host addresses with `addr_from_start`.
pub fn default_gw_dns(net: IpNet, from_start: bool) -> (IpAddr, IpAddr) {
    let (first, last) = first_last(&net);
    if from_start {
        (
            from_int(first.saturating_add(1), &net),
            from_int(first.saturating_add(2), &net),
        )
    } else {
        (
            from_int(last.saturating_sub(1), &net),
            from_int(last.saturating_sub(2), &net),
        )
    }
}

/// `Subnet.__init__` with `alloc_unit` 1: each allocation pool must hold more addresses than
/// the ones it blocks (network, last address, gateway, DNS), else `AddrMgmtAllocUnitInvalid`
/// "Pool range<=block_alloc_unit". With no pools the whole subnet counts. Returns whether
/// the subnet is usable.
pub fn pools_hold_addresses(
    net: &IpNet,
    gw: Option<IpAddr>,
    dns: Option<IpAddr>,
    ranges: &[(IpAddr, IpAddr)],
) -> bool {
    let (first, last) = first_last(net);
    let pools: Vec<(u128, u128)> = if ranges.is_empty() {
        vec![(first, last)]
    } else {
        ranges
            .iter()
            .map(|(s, e)| (to_int(*s), to_int(*e)))
            .collect()
    };
    let fam = |a: &Option<IpAddr>| a.filter(|ip| same_family(net, ip)).map(to_int);
    let (gw, dns) = (fam(&gw), fam(&dns));
    pools.iter().all(|&(s, e)| {
        let range = e.saturating_sub(s).saturating_add(1);
        let mut block: u128 = 0;
        if s == first {
            block += 1;
            if e == last && e - s >= 1 {
                block += 1;
            }
        } else if e == last {
            block += 1;
        }
        if let Some(g) = gw
            && s <= g
            && g <= e
            && g - s >= 1
            && e - g >= 1
        {
            block += 1;
        }
        if let Some(d) = dns {
            let apart = gw.is_none_or(|g| g.abs_diff(d) > 1);
            if s <= d && d <= e && d - s >= 1 && e - d >= 1 && apart {
                block += 1;
            }
        }
        range > block
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|_| IpNet::V4(Default::default()))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    fn gw_dns(n: IpNet, from_start: bool) -> (Option<IpAddr>, Option<IpAddr>) {
        let (g, d) = default_gw_dns(n, from_start);
        (Some(g), Some(d))
    }

    #[test]
    fn allocates_from_the_end_skipping_reserved() {
        let n = net("10.0.0.0/29");
        let (gw, dns) = gw_dns(n, false);
        assert_eq!((gw, dns), (Some(ip("10.0.0.6")), Some(ip("10.0.0.5"))));
        let mut p = Pool::new(n, gw, dns, false, &[]);
        let got: Vec<_> = std::iter::from_fn(|| p.alloc("o")).collect();
        let want: Vec<IpAddr> = ["10.0.0.4", "10.0.0.3", "10.0.0.2", "10.0.0.1"]
            .iter()
            .map(|s| ip(s))
            .collect();
        assert_eq!(got, want);
        assert!(p.is_allocated(ip("10.0.0.0")) && p.is_allocated(ip("10.0.0.7")));
        assert!(!p.release(ip("10.0.0.3"), "other"));
        assert!(p.release(ip("10.0.0.3"), "o"));
        assert_eq!(p.alloc("o2"), Some(ip("10.0.0.3")));
    }

    #[test]
    fn ipv6_reserves_like_ipv4() {
        let n = net("fd00::/64");
        let (gw, dns) = gw_dns(n, false);
        assert_eq!(gw, Some(ip("fd00::ffff:ffff:ffff:fffe")));
        assert_eq!(dns, Some(ip("fd00::ffff:ffff:ffff:fffd")));
        let mut p = Pool::new(n, gw, dns, false, &[]);
        assert_eq!(p.alloc("a"), Some(ip("fd00::ffff:ffff:ffff:fffc")));
        assert!(p.is_allocated(ip("fd00::")) && p.is_allocated(ip("fd00::ffff:ffff:ffff:ffff")));
        assert!(!p.contains(ip("10.0.0.1")));
        assert!(p.reserve(ip("fd00::10"), "b"));
        assert!(!p.reserve(ip("fd00::10"), "c"));
        let s = net("fd00:1::/64");
        let (gw, dns) = gw_dns(s, true);
        assert_eq!((gw, dns), (Some(ip("fd00:1::1")), Some(ip("fd00:1::2"))));
        let mut p = Pool::new(s, gw, dns, true, &[]);
        assert_eq!(p.alloc("a"), Some(ip("fd00:1::3")));
        // a /125 has 8 addresses: network, last, gateway and DNS leave four
        let small = net("fd00:2::/125");
        let (gw, dns) = gw_dns(small, false);
        let mut p = Pool::new(small, gw, dns, false, &[]);
        assert_eq!(std::iter::from_fn(|| p.alloc("x")).count(), 4);
        assert_eq!(p.used(), 4);
    }

    #[test]
    fn allocates_from_the_start_and_reserves() {
        let n = net("10.0.0.0/24");
        let (gw, dns) = gw_dns(n, true);
        let mut p = Pool::new(n, gw, dns, true, &[]);
        assert!(p.reserve(ip("10.0.0.3"), "a"));
        assert!(!p.reserve(ip("10.0.0.3"), "b"));
        assert!(!p.reserve(ip("10.0.0.1"), "b"));
        assert_eq!(p.alloc("c"), Some(ip("10.0.0.4")));
        assert!(p.release(ip("10.0.0.3"), "a"));
        assert_eq!(p.alloc("d"), Some(ip("10.0.0.3")));
        assert_eq!(p.used(), 2);
    }

    #[test]
    fn honours_allocation_ranges_and_reserves_outside_them() {
        let n = net("10.0.0.0/24");
        let mut p = Pool::new(n, None, None, true, &[(ip("10.0.0.10"), ip("10.0.0.11"))]);
        assert_eq!(p.alloc("a"), Some(ip("10.0.0.10")));
        assert_eq!(p.alloc("a"), Some(ip("10.0.0.11")));
        assert_eq!(p.alloc("a"), None);
        // IndexAllocator.reserve takes any address of the subnet
        assert!(p.reserve(ip("10.0.0.99"), "b"));
        // the gateway is excluded only when it lies in a pool
        let (gw, dns) = gw_dns(n, false);
        let p = Pool::new(n, gw, dns, false, &[(ip("10.0.0.10"), ip("10.0.0.20"))]);
        assert!(!p.is_allocated(ip("10.0.0.254")));
        let p = Pool::new(n, gw, dns, false, &[(ip("10.0.0.10"), ip("10.0.0.254"))]);
        assert!(p.is_allocated(ip("10.0.0.254")));
    }

    #[test]
    fn the_allocator_stops_after_65536_positions() {
        // a /15: 131072 addresses, but the bitmap ends at position 65535 from the top
        let n = net("10.0.0.0/15");
        let (gw, dns) = gw_dns(n, false);
        let mut p = Pool::new(n, gw, dns, false, &[]);
        let got = std::iter::from_fn(|| p.alloc("x")).count();
        assert_eq!(got, 65534, "65536 positions less gateway and DNS");
        // an address below the window can still be asked for
        assert!(p.reserve(ip("10.0.0.5"), "y"));
        // an IPv6 /64 the same
        let n = net("fd00::/64");
        let (gw, dns) = gw_dns(n, false);
        let mut p = Pool::new(n, gw, dns, false, &[]);
        assert_eq!(std::iter::from_fn(|| p.alloc("x")).count(), 65534);
        // changed pools lift the cap
        p.change_ranges(&[(ip("fd00::"), ip("fd00::ffff:ffff:ffff:fffe"))]);
        assert!(p.alloc("x").is_some());
    }

    #[test]
    fn tiny_subnets_are_refused() {
        let check = |s: &str| {
            let n = net(s);
            let (gw, dns) = gw_dns(n, false);
            pools_hold_addresses(&n, gw, dns, &[])
        };
        assert!(check("10.0.0.0/30"));
        assert!(!check("10.0.0.0/31"));
        assert!(!check("10.0.0.0/32"));
        assert!(check("fd00::/126"));
        assert!(!check("fd00::/127"));
    }

    #[test]
    fn dns_moves() {
        let n = net("10.0.0.0/29");
        let (gw, dns) = gw_dns(n, false);
        let mut p = Pool::new(n, gw, dns, false, &[]);
        p.move_dns(ip("10.0.0.1"));
        assert!(p.is_allocated(ip("10.0.0.1")));
        assert!(!p.is_allocated(ip("10.0.0.5")));
        let got: Vec<_> = std::iter::from_fn(|| p.alloc("o")).collect();
        assert_eq!(got.first(), Some(&ip("10.0.0.5")));
        assert_eq!(got.len(), 4);
    }
}
