//! Address pools, the way `vnc_addr_mgmt.py` manages them.
//!
//! One [`Pool`] per subnet. A virtual network's user-defined subnets are keyed by the network's
//! uuid, a flat-subnet IPAM's subnets by the IPAM's uuid, so every network using the same flat
//! IPAM draws from the same pool. Within a subnet the network and broadcast addresses, the
//! gateway and the DNS (service) address are never handed out. Allocation takes the highest
//! free address unless the subnet has `addr_from_start`. Free space is kept as ranges, so an
//! allocation or a release costs O(log n) even with tens of thousands of addresses in use.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// One subnet's allocator.
#[derive(Debug, Clone)]
pub struct Pool {
    pub net: Ipv4Net,
    pub gw: Option<Ipv4Addr>,
    pub dns: Option<Ipv4Addr>,
    from_start: bool,
    /// free ranges, start -> end (inclusive)
    free: BTreeMap<u32, u32>,
    /// allocated address -> owner (the instance-ip / floating-ip uuid)
    owners: HashMap<u32, String>,
}

impl Pool {
    /// A pool over `net` minus network, broadcast, gateway and DNS addresses. With
    /// `ranges` (allocation pools), only those ranges are handed out.
    pub fn new(
        net: Ipv4Net,
        gw: Option<Ipv4Addr>,
        dns: Option<Ipv4Addr>,
        from_start: bool,
        ranges: &[(Ipv4Addr, Ipv4Addr)],
    ) -> Self {
        let first = u32::from(net.network());
        let last = u32::from(net.broadcast());
        let mut pool = Pool {
            net,
            gw,
            dns,
            from_start,
            free: BTreeMap::new(),
            owners: HashMap::new(),
        };
        if last > first + 1 {
            if ranges.is_empty() {
                pool.free.insert(first + 1, last - 1);
            } else {
                for (s, e) in ranges {
                    let s = u32::from(*s).max(first + 1);
                    let e = u32::from(*e).min(last - 1);
                    if s <= e {
                        pool.insert_free(s, e);
                    }
                }
            }
        }
        for a in [gw, dns].into_iter().flatten() {
            pool.take(u32::from(a));
        }
        pool
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.net.contains(&ip)
    }

    /// `Subnet.is_ip_allocated`: excluded addresses (network, broadcast, gateway, DNS) count
    /// as allocated.
    pub fn is_allocated(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && !self.is_free(u32::from(ip))
    }

    fn is_free(&self, a: u32) -> bool {
        self.free
            .range(..=a)
            .next_back()
            .is_some_and(|(_, e)| *e >= a)
    }

    /// Remove one address from the free ranges; false when it was not free.
    fn take(&mut self, a: u32) -> bool {
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

    fn insert_free(&mut self, mut s: u32, mut e: u32) {
        if let Some((&ps, &pe)) = self.free.range(..s).next_back() {
            if pe.saturating_add(1) >= s {
                self.free.remove(&ps);
                s = ps;
                e = e.max(pe);
            }
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

    /// Allocate the next address (highest free, or lowest with `addr_from_start`).
    pub fn alloc(&mut self, owner: &str) -> Option<Ipv4Addr> {
        let a = if self.from_start {
            *self.free.iter().next()?.0
        } else {
            *self.free.iter().next_back()?.1
        };
        self.take(a);
        self.owners.insert(a, owner.to_string());
        Some(Ipv4Addr::from(a))
    }

    /// Reserve a requested address; false when it is not free.
    pub fn reserve(&mut self, ip: Ipv4Addr, owner: &str) -> bool {
        let a = u32::from(ip);
        if !self.take(a) {
            return false;
        }
        self.owners.insert(a, owner.to_string());
        true
    }

    /// Give an address back, only if `owner` holds it (as upstream checks the alloc id).
    pub fn release(&mut self, ip: Ipv4Addr, owner: &str) -> bool {
        let a = u32::from(ip);
        if self.owners.get(&a).map(String::as_str) != Some(owner) {
            return false;
        }
        self.owners.remove(&a);
        self.insert_free(a, a);
        true
    }

    /// Some address still handed out, if any.
    pub fn in_use(&self) -> Option<Ipv4Addr> {
        self.owners.keys().min().map(|a| Ipv4Addr::from(*a))
    }

    /// How many addresses are handed out.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.owners.len()
    }
}

/// All pools, by owner (network or IPAM uuid) and subnet name (`10.0.0.0/24`).
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

/// Parse `ip_prefix` / `ip_prefix_len` into a network (host bits dropped).
pub fn parse_subnet(prefix: &str, len: i64) -> Option<Ipv4Net> {
    let addr: Ipv4Addr = prefix.trim().parse().ok()?;
    let len = u8::try_from(len).ok()?;
    Ipv4Net::new(addr, len).ok().map(|n| n.trunc())
}

/// The default gateway and DNS addresses of a subnet without explicit ones: the last-but-one
/// and last-but-two addresses, or the first and second hosts with `addr_from_start`.
pub fn default_gw_dns(net: Ipv4Net, from_start: bool) -> (Ipv4Addr, Ipv4Addr) {
    let first = u32::from(net.network());
    let last = u32::from(net.broadcast());
    if from_start {
        (
            Ipv4Addr::from(first.saturating_add(1)),
            Ipv4Addr::from(first.saturating_add(2)),
        )
    } else {
        (
            Ipv4Addr::from(last.saturating_sub(1)),
            Ipv4Addr::from(last.saturating_sub(2)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap_or_else(|_| Ipv4Net::default())
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    #[test]
    fn allocates_from_the_end_skipping_reserved() {
        let n = net("10.0.0.0/29");
        let (gw, dns) = default_gw_dns(n, false);
        assert_eq!((gw, dns), (ip("10.0.0.6"), ip("10.0.0.5")));
        let mut p = Pool::new(n, Some(gw), Some(dns), false, &[]);
        let got: Vec<_> = std::iter::from_fn(|| p.alloc("o")).collect();
        assert_eq!(
            got,
            vec![
                ip("10.0.0.4"),
                ip("10.0.0.3"),
                ip("10.0.0.2"),
                ip("10.0.0.1")
            ]
        );
        assert!(p.is_allocated(ip("10.0.0.0")) && p.is_allocated(ip("10.0.0.7")));
        assert!(!p.release(ip("10.0.0.3"), "other"));
        assert!(p.release(ip("10.0.0.3"), "o"));
        assert_eq!(p.alloc("o2"), Some(ip("10.0.0.3")));
    }

    #[test]
    fn allocates_from_the_start_and_reserves() {
        let n = net("10.0.0.0/24");
        let (gw, dns) = default_gw_dns(n, true);
        let mut p = Pool::new(n, Some(gw), Some(dns), true, &[]);
        assert!(p.reserve(ip("10.0.0.3"), "a"));
        assert!(!p.reserve(ip("10.0.0.3"), "b"));
        assert!(!p.reserve(ip("10.0.0.1"), "b"));
        assert_eq!(p.alloc("c"), Some(ip("10.0.0.4")));
        assert!(p.release(ip("10.0.0.3"), "a"));
        assert_eq!(p.alloc("d"), Some(ip("10.0.0.3")));
        assert_eq!(p.used(), 2);
    }

    #[test]
    fn honours_allocation_ranges() {
        let n = net("10.0.0.0/24");
        let mut p = Pool::new(n, None, None, true, &[(ip("10.0.0.10"), ip("10.0.0.11"))]);
        assert_eq!(p.alloc("a"), Some(ip("10.0.0.10")));
        assert_eq!(p.alloc("a"), Some(ip("10.0.0.11")));
        assert_eq!(p.alloc("a"), None);
    }
}
