//! Tests against the real kernel. Each kernel test runs in a fresh, empty network namespace
//! (`unshare(CLONE_NEWNET)` on a thread of its own, gone when the test ends) and is skipped,
//! with a message, when not run as root.

use std::io;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, anyhow, bail, ensure};
use ipnet::IpNet;
use netlink_packet_core::NLM_F_DUMP;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::RouteMessage;
use nix::sched::{CloneFlags, unshare};
use serde_json::Value;

use super::*;

const HOST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xaa, 0xbb, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xaa, 0xbb, 0x02];

// ---- harness ----------------------------------------------------------------------------------

/// Runs `body` on a new thread inside a new, empty network namespace, or skips the test when not
/// root. The namespace (and every link in it) disappears when the thread ends.
fn in_private_netns(test: &str, body: impl FnOnce() -> Result<()> + Send) {
    if !nix::unistd::geteuid().is_root() {
        // Under CI a test that cannot run fails; elsewhere it says why it skips.
        assert!(
            std::env::var_os("CI").is_none(),
            "{test} cannot run under CI: needs root to create network namespaces"
        );
        eprintln!("skipped: {test}: needs root to create network namespaces");
        return;
    }
    let outcome = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
            body()
        });
        match worker.join() {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    if let Err(e) = outcome {
        panic!("{test}: {e:#}");
    }
}

/// A second namespace, alive as long as the handle: made by a thread that unshares and exits.
fn scratch_netns() -> Result<NetNs> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
                NetNs::current()
            })
            .join()
            .map_err(|_| anyhow!("netns thread panicked"))?
    })
}

/// A namespace made with `ip netns add`, deleted on drop (also when the test fails).
struct NamedNetns {
    name: String,
}

impl NamedNetns {
    fn create() -> Result<NamedNetns> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "cmtest-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run_ip(&["netns", "add", &name])?;
        Ok(NamedNetns { name })
    }

    fn path(&self) -> PathBuf {
        Path::new("/var/run/netns").join(&self.name)
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&["netns", "delete", &self.name]) {
            eprintln!("cleanup: {e:#}");
        }
    }
}

/// Runs ip(8) in the calling thread's namespace and returns its stdout.
fn run_ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("run ip {}", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip -j ARGS` in the calling thread's namespace, parsed.
fn ip_json(args: &[&str]) -> Result<Value> {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let text = run_ip(&full)?;
    serde_json::from_str(&text).with_context(|| format!("parse output of ip -j {args:?}: {text}"))
}

/// `ip -j ARGS` run inside `ns`.
fn ip_json_in(ns: &NetNs, args: &[&str]) -> Result<Value> {
    ns.run(|| ip_json(args))
}

/// A throw-away link `name` made with ip(8): a veth pair whose other end is `<name>p` (the kernel
/// here may lack the dummy driver; veth is needed anyway).
fn scratch_link(name: &str) -> Result<()> {
    let peer = format!("{name}p");
    run_ip(&[
        "link", "add", "name", name, "type", "veth", "peer", "name", &peer,
    ])
    .map(drop)
}

fn must_find(nl: &mut Netlink, name: &str) -> Result<Link> {
    nl.link_by_name(name)?
        .ok_or_else(|| anyhow!("link {name} not found"))
}

fn veth_spec<'a>(peer_ns: &'a NetNs) -> VethSpec<'a> {
    VethSpec {
        host_name: "vh0",
        peer_name: "eth0",
        peer_ns,
        mtu: Some(1400),
        host_mac: Some(HOST_MAC),
        peer_mac: Some(PEER_MAC),
    }
}

fn net(s: &str) -> IpNet {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test prefix {s}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test address {s}: {e}"))
}

fn nl_error(err: &anyhow::Error) -> Result<&NlError> {
    err.chain()
        .find_map(|e| e.downcast_ref::<NlError>())
        .ok_or_else(|| anyhow!("not a kernel refusal: {err:#}"))
}

// ---- veth across namespaces -------------------------------------------------------------------

#[test]
fn veth_peer_is_created_in_other_netns_with_mac_and_mtu() {
    in_private_netns(
        "veth_peer_is_created_in_other_netns_with_mac_and_mtu",
        || {
            let named = NamedNetns::create()?;
            let ns = NetNs::open(&named.path())?;
            let mut host = Netlink::new()?;
            host.create_veth(&veth_spec(&ns))?;

            // Host side, via our own dump.
            let links = host.links()?;
            let vh0 = links
                .iter()
                .find(|l| l.name == "vh0")
                .ok_or_else(|| anyhow!("vh0 missing from {links:?}"))?;
            assert_eq!(vh0.kind.as_deref(), Some("veth"));
            assert_eq!(vh0.mac, Some(HOST_MAC));
            assert_eq!(vh0.mtu, Some(1400));
            assert!(!vh0.up, "a new veth is down");
            assert!(
                links.iter().all(|l| l.name != "eth0"),
                "the peer must never appear on the host side: {links:?}"
            );

            // Container side, via a socket bound to that namespace.
            let mut container = Netlink::in_netns(&ns)?;
            let eth0 = container
                .links()?
                .into_iter()
                .find(|l| l.name == "eth0")
                .ok_or_else(|| anyhow!("eth0 missing in {}", ns.path().display()))?;
            assert_eq!(eth0.kind.as_deref(), Some("veth"));
            assert_eq!(eth0.mac, Some(PEER_MAC));
            assert_eq!(eth0.mtu, Some(1400));
            assert_eq!(eth0.peer_index, Some(vh0.index), "IFLA_LINK of the peer");
            assert_eq!(
                vh0.peer_index,
                Some(eth0.index),
                "IFLA_LINK of the host end"
            );

            // What an operator would see with ip(8) in each namespace.
            let shown = ip_json_in(&ns, &["-d", "link", "show", "eth0"])?;
            assert_eq!(shown[0]["address"], "02:00:00:aa:bb:02");
            assert_eq!(shown[0]["mtu"], 1400);
            assert_eq!(shown[0]["linkinfo"]["info_kind"], "veth");
            let shown = ip_json(&["link", "show", "vh0"])?;
            assert_eq!(shown[0]["address"], "02:00:00:aa:bb:01");
            assert_eq!(shown[0]["mtu"], 1400);
            assert_eq!(
                shown[0]["link_netnsid"], 0,
                "vh0's peer lives in another netns"
            );
            Ok(())
        },
    );
}

#[test]
fn creating_the_same_veth_again_fails_with_eexist() {
    in_private_netns("creating_the_same_veth_again_fails_with_eexist", || {
        let ns = scratch_netns()?;
        let mut host = Netlink::new()?;
        host.create_veth(&veth_spec(&ns))?;
        let err = host
            .create_veth(&veth_spec(&ns))
            .err()
            .ok_or_else(|| anyhow!("second create succeeded"))?;
        assert_eq!(errno_of(&err), Some(libc::EEXIST));
        let text = format!("{err:#}");
        assert!(
            text.starts_with(
                "create veth vh0 (peer eth0 in /proc/thread-self/ns/net): File exists (os error 17)"
            ),
            "{text}"
        );
        // The failed request must not leave the socket out of step.
        assert!(host.link_by_name("vh0")?.is_some());
        Ok(())
    });
}

#[test]
fn deleting_the_host_end_removes_the_peer() {
    in_private_netns("deleting_the_host_end_removes_the_peer", || {
        let ns = scratch_netns()?;
        let mut host = Netlink::new()?;
        let mut container = Netlink::in_netns(&ns)?;
        host.create_veth(&veth_spec(&ns))?;
        assert!(container.link_by_name("eth0")?.is_some());

        let vh0 = must_find(&mut host, "vh0")?;
        host.delete_link(vh0.index)?;
        assert_eq!(host.link_by_name("vh0")?, None);
        assert_eq!(container.link_by_name("eth0")?, None, "peer survived");
        let left = ip_json_in(&ns, &["link", "show"])?;
        let names: Vec<_> = left
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["ifname"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(names, ["lo"]);
        Ok(())
    });
}

// ---- addresses and routes ---------------------------------------------------------------------

#[test]
fn container_gets_address_link_up_and_default_route() {
    in_private_netns("container_gets_address_link_up_and_default_route", || {
        let ns = scratch_netns()?;
        Netlink::new()?.create_veth(&veth_spec(&ns))?;
        let mut nl = Netlink::in_netns(&ns)?;
        let lo = must_find(&mut nl, "lo")?;
        let eth0 = must_find(&mut nl, "eth0")?;
        nl.set_up(lo.index)?;
        nl.add_address(eth0.index, net("10.99.0.2/24"))?;
        nl.set_up(eth0.index)?;
        let default = Route {
            destination: net("0.0.0.0/0"),
            gateway: Some(ip("10.99.0.1")),
            oif: Some(eth0.index),
        };
        nl.add_route(&default)?;

        assert!(must_find(&mut nl, "eth0")?.up);
        assert_eq!(
            nl.addresses(Some(eth0.index))?,
            [(eth0.index, net("10.99.0.2/24"))]
        );
        assert!(
            nl.addresses(None)?
                .contains(&(lo.index, net("127.0.0.1/8")))
        );
        assert_eq!(
            nl.default_routes(IpFamily::V4)?,
            std::slice::from_ref(&default)
        );
        let routes = nl.routes(IpFamily::V4)?;
        assert!(
            routes.contains(&Route {
                destination: net("10.99.0.0/24"),
                gateway: None,
                oif: Some(eth0.index),
            }),
            "kernel prefix route missing: {routes:?}"
        );
        assert!(
            routes.iter().all(|r| !r.destination.addr().is_loopback()),
            "local-table routes leaked into the main table listing: {routes:?}"
        );

        // Adding the same address again is a kernel refusal the caller can recognise.
        let err = nl
            .add_address(eth0.index, net("10.99.0.2/24"))
            .err()
            .ok_or_else(|| anyhow!("duplicate address accepted"))?;
        assert_eq!(errno_of(&err), Some(libc::EEXIST));
        assert!(format!("{err:#}").contains("add address 10.99.0.2/24 to link"));

        // And what ip(8) shows inside the namespace.
        let routes = ip_json_in(&ns, &["-d", "route", "show"])?;
        let default_shown = routes
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["dst"] == "default")
            .ok_or_else(|| anyhow!("no default route in {routes}"))?;
        assert_eq!(default_shown["gateway"], "10.99.0.1");
        assert_eq!(default_shown["dev"], "eth0");
        assert_eq!(default_shown["protocol"], "boot");
        let addrs = ip_json_in(&ns, &["-4", "addr", "show", "eth0"])?;
        let info = &addrs[0]["addr_info"][0];
        assert_eq!(info["local"], "10.99.0.2");
        assert_eq!(info["prefixlen"], 24);
        assert_eq!(info["broadcast"], "10.99.0.255");
        assert!(
            addrs[0]["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == "UP"))
        );
        Ok(())
    });
}

#[test]
fn ipv6_address_and_default_route() {
    in_private_netns("ipv6_address_and_default_route", || {
        scratch_link("d0")?;
        let mut nl = Netlink::new()?;
        let d0 = must_find(&mut nl, "d0")?;
        nl.set_up(d0.index)?;
        nl.add_address(d0.index, net("2001:db8::2/64"))?;
        assert!(
            nl.addresses(Some(d0.index))?
                .contains(&(d0.index, net("2001:db8::2/64"))),
            "{:?}",
            nl.addresses(Some(d0.index))?
        );
        let default = Route {
            destination: net("::/0"),
            gateway: Some(ip("2001:db8::1")),
            oif: Some(d0.index),
        };
        nl.add_route(&default)?;
        assert_eq!(nl.default_routes(IpFamily::V6)?, [default]);
        // No IPv4 route at all: the kernel has no main table yet, which is not an error.
        assert_eq!(nl.routes(IpFamily::V4)?, []);

        let addrs = ip_json(&["-6", "addr", "show", "d0"])?;
        let infos = addrs[0]["addr_info"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            infos
                .iter()
                .any(|i| i["local"] == "2001:db8::2" && i["prefixlen"] == 64),
            "{addrs}"
        );
        Ok(())
    });
}

#[test]
fn route_via_unreachable_gateway_fails_with_kernel_explanation() {
    in_private_netns(
        "route_via_unreachable_gateway_fails_with_kernel_explanation",
        || {
            scratch_link("d0")?;
            let mut nl = Netlink::new()?;
            let d0 = must_find(&mut nl, "d0")?;
            nl.set_up(d0.index)?;
            let route = Route {
                destination: net("0.0.0.0/0"),
                gateway: Some(ip("192.0.2.1")),
                oif: Some(d0.index),
            };
            let err = nl
                .add_route(&route)
                .err()
                .ok_or_else(|| anyhow!("route via an off-link gateway was accepted"))?;
            let refusal = nl_error(&err)?;
            assert_eq!(refusal.errno, libc::ENETUNREACH);
            assert_eq!(
                refusal.ext_msg.as_deref(),
                Some("Nexthop has invalid gateway")
            );
            assert_eq!(
                format!("{err:#}"),
                format!(
                    "add route 0.0.0.0/0 via 192.0.2.1 dev {}: Network is unreachable (os error 101): Nexthop has invalid gateway",
                    d0.index
                )
            );
            Ok(())
        },
    );
}

#[test]
fn strict_checked_bad_dump_reports_the_done_error() {
    in_private_netns("strict_checked_bad_dump_reports_the_done_error", || {
        let mut nl = Netlink::new()?;
        // A route dump may not carry a destination prefix length under strict checking: the
        // kernel answers with NLMSG_DONE carrying -EINVAL instead of an error message.
        let mut bad = RouteMessage::default();
        bad.header.address_family = netlink_packet_route::AddressFamily::Inet;
        bad.header.destination_prefix_length = 24;
        let err = nl
            .request(RouteNetlinkMessage::GetRoute(bad), NLM_F_DUMP)
            .err()
            .ok_or_else(|| anyhow!("malformed dump returned a list"))?;
        let refusal = nl_error(&err)?;
        assert_eq!(refusal.errno, libc::EINVAL);
        assert!(
            refusal
                .ext_msg
                .as_deref()
                .is_some_and(|m| m.contains("Invalid values in header")),
            "{err:#}"
        );
        assert!(
            format!("{err:#}").starts_with("RTM_GETROUTE request: Invalid argument (os error 22)")
        );
        // The socket is still usable afterwards.
        assert!(nl.links()?.iter().any(|l| l.name == "lo"));
        Ok(())
    });
}

// ---- lookups, changes, deletion ---------------------------------------------------------------

#[test]
fn link_lookups_return_none_for_missing_links() {
    in_private_netns("link_lookups_return_none_for_missing_links", || {
        let mut nl = Netlink::new()?;
        assert_eq!(nl.link_by_name("nosuch0")?, None);
        assert_eq!(nl.link_by_index(999_999)?, None);
        let lo = must_find(&mut nl, "lo")?;
        assert_eq!(nl.link_by_index(lo.index)?, Some(lo.clone()));
        assert_eq!(lo.kind, None);
        assert_eq!(nl.links()?, [lo]);
        Ok(())
    });
}

#[test]
fn delete_link_by_name_reports_whether_it_existed() {
    in_private_netns("delete_link_by_name_reports_whether_it_existed", || {
        scratch_link("d0")?;
        let mut nl = Netlink::new()?;
        assert_eq!(must_find(&mut nl, "d0")?.kind.as_deref(), Some("veth"));
        assert!(nl.delete_link_by_name("d0")?);
        assert!(!nl.delete_link_by_name("d0")?);
        assert_eq!(nl.link_by_name("d0")?, None);
        let err = nl
            .delete_link(999_999)
            .err()
            .ok_or_else(|| anyhow!("deleting a missing index succeeded"))?;
        assert_eq!(errno_of(&err), Some(libc::ENODEV));
        assert!(format!("{err:#}").starts_with("delete link 999999: No such device"));
        Ok(())
    });
}

#[test]
fn link_state_mac_and_mtu_changes_are_applied() {
    in_private_netns("link_state_mac_and_mtu_changes_are_applied", || {
        scratch_link("d0")?;
        let mut nl = Netlink::new()?;
        let d0 = must_find(&mut nl, "d0")?;
        nl.set_mac(d0.index, PEER_MAC)?;
        nl.set_mtu(d0.index, 1280)?;
        nl.set_up(d0.index)?;
        let now = nl
            .link_by_index(d0.index)?
            .ok_or_else(|| anyhow!("d0 vanished"))?;
        assert_eq!(
            (now.mac, now.mtu, now.up),
            (Some(PEER_MAC), Some(1280), true)
        );
        let shown = ip_json(&["link", "show", "d0"])?;
        assert_eq!(shown[0]["address"], "02:00:00:aa:bb:02");
        assert_eq!(shown[0]["mtu"], 1280);

        nl.set_down(d0.index)?;
        assert!(!must_find(&mut nl, "d0")?.up);
        let err = nl
            .set_mtu(d0.index, 10)
            .err()
            .ok_or_else(|| anyhow!("MTU 10 accepted"))?;
        assert_eq!(errno_of(&err), Some(libc::EINVAL));
        assert!(format!("{err:#}").starts_with(&format!("set MTU of link {} to 10: ", d0.index)));
        Ok(())
    });
}

#[test]
fn raw_get_request_returns_one_reply_and_keeps_the_socket_in_step() {
    in_private_netns(
        "raw_get_request_returns_one_reply_and_keeps_the_socket_in_step",
        || {
            let mut nl = Netlink::new()?;
            for _ in 0..3 {
                let mut msg = LinkMessage::default();
                msg.attributes.push(LinkAttribute::IfName("lo".into()));
                let replies = nl.request(RouteNetlinkMessage::GetLink(msg), 0)?;
                assert_eq!(replies.len(), 1, "{replies:?}");
                assert!(matches!(replies[0], RouteNetlinkMessage::NewLink(_)));
            }
            Ok(())
        },
    );
}

#[test]
fn names_are_validated_before_asking_the_kernel() {
    in_private_netns("names_are_validated_before_asking_the_kernel", || {
        let ns = scratch_netns()?;
        let mut nl = Netlink::new()?;
        let mut spec = veth_spec(&ns);
        spec.host_name = "tap0123456789abcd";
        let err = nl
            .create_veth(&spec)
            .err()
            .ok_or_else(|| anyhow!("17-byte name accepted"))?;
        assert!(format!("{err:#}").contains("\"tap0123456789abcd\""));
        assert_eq!(errno_of(&err), None, "rejected before the kernel was asked");
        assert!(nl.delete_link_by_name("a/b").is_err());
        Ok(())
    });
}

// ---- namespaces and sysctls -------------------------------------------------------------------

#[test]
fn netns_open_missing_path_is_not_found() {
    let err = NetNs::open(Path::new("/var/run/netns/cmtest-does-not-exist"))
        .expect_err("opening a missing netns succeeded");
    let io = err
        .chain()
        .find_map(|e| e.downcast_ref::<io::Error>())
        .expect("no io::Error in the chain");
    assert_eq!(io.kind(), io::ErrorKind::NotFound);
    assert!(
        format!("{err:#}").contains("/var/run/netns/cmtest-does-not-exist"),
        "{err:#}"
    );
}

#[test]
fn netns_open_regular_file_is_not_a_network_namespace() {
    let path = std::env::temp_dir().join(format!("cmtest-not-a-netns-{}", std::process::id()));
    std::fs::write(&path, b"").expect("create temp file");
    let result = NetNs::open(&path);
    let _ = std::fs::remove_file(&path);
    let err = result.expect_err("a regular file was accepted as a netns");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("{} is not a network namespace", path.display())),
        "{text}"
    );
}

#[test]
fn netns_open_other_namespace_kind_is_rejected() {
    let err = NetNs::open(Path::new("/proc/self/ns/uts"))
        .expect_err("a UTS namespace was accepted as a netns");
    assert!(
        format!("{err:#}").contains("is not a network namespace (it is a uts namespace)"),
        "{err:#}"
    );
}

#[test]
fn netns_run_enters_the_namespace_without_moving_the_caller() {
    in_private_netns(
        "netns_run_enters_the_namespace_without_moving_the_caller",
        || {
            let inode = |p: &str| -> Result<u64> { Ok(std::fs::metadata(p)?.ino()) };
            let before = inode("/proc/thread-self/ns/net")?;
            let ns = scratch_netns()?;
            let target = std::fs::metadata(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&ns))
            ))?
            .ino();
            assert_ne!(before, target);
            let inside = ns.run(|| inode("/proc/thread-self/ns/net"))?;
            assert_eq!(inside, target);
            assert_eq!(inode("/proc/thread-self/ns/net")?, before);
            let err = ns
                .run(|| -> Result<()> { bail!("inner failure") })
                .err()
                .ok_or_else(|| anyhow!("error was lost"))?;
            assert_eq!(err.to_string(), "inner failure");
            let current = NetNs::current()?;
            assert_eq!(current.path(), Path::new("/proc/thread-self/ns/net"));
            Ok(())
        },
    );
}

#[test]
fn ipv6_accept_ra_is_written_in_the_calling_namespace() {
    in_private_netns("ipv6_accept_ra_is_written_in_the_calling_namespace", || {
        scratch_link("d0")?;
        let sysctl = "/proc/sys/net/ipv6/conf/d0/accept_ra";
        if !Path::new("/proc/sys/net/ipv6").exists() {
            set_ipv6_accept_ra("d0", 0)?;
            eprintln!("IPv6 disabled: only checked that set_ipv6_accept_ra is a no-op");
            return Ok(());
        }
        set_ipv6_accept_ra("d0", 0)?;
        assert_eq!(std::fs::read_to_string(sysctl)?.trim(), "0");
        set_ipv6_accept_ra("d0", 2)?;
        assert_eq!(std::fs::read_to_string(sysctl)?.trim(), "2");
        let err = set_ipv6_accept_ra("nosuch0", 0)
            .err()
            .ok_or_else(|| anyhow!("missing interface accepted"))?;
        assert!(format!("{err:#}").contains("nosuch0"));
        assert!(set_ipv6_accept_ra("../all", 0).is_err());
        Ok(())
    });
}
