//! The label parser on arbitrary key/value pairs: never panics; whatever it accepts is
//! self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Lines of "key=value".
    let pairs: Vec<(&str, &str)> = text
        .lines()
        .map(|l| l.split_once('=').unwrap_or((l, "")))
        .collect();
    if let Ok(req) = contrail_mesos::domain::labels::parse(pairs.iter().copied()) {
        if let (Some(ip), false) = (req.ip, req.subnets.is_empty()) {
            assert!(req.subnets.iter().any(|n| n.contains(&ip)));
        }
        for f in &req.floating_ips {
            assert_eq!(f.pool.len(), 4);
        }
    }
});
