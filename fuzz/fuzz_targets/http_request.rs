//! The HTTP/1.1 request reader on arbitrary bytes: never panics, never reads a body larger than
//! allowed, and a request it accepts has a method of letters only and a body it could frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

use contrail_mesos::http::server::wire::{WireError, read_request};

const MAX_BODY: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut input = std::io::BufReader::new(data);
    let mut interim = Vec::new();
    // Keep-alive: read requests until the input ends or one is refused.
    for _ in 0..64 {
        match read_request(&mut input, &mut interim, MAX_BODY) {
            Ok(Some(incoming)) => {
                let r = &incoming.request;
                assert!(!r.method.is_empty() && r.method.bytes().all(|b| b.is_ascii_uppercase()));
                assert!(r.body.len() <= MAX_BODY);
            }
            Err(WireError::Refused(status, why)) => {
                assert!(matches!(status, 400 | 413 | 414 | 431 | 501), "{status} {why}");
                break;
            }
            Ok(None) | Err(WireError::Io(_)) => break,
        }
    }
});
