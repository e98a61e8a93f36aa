//! The CNI stdin parser and the result reader on arbitrary bytes: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(conf) = contrail_mesos::domain::netconf::NetConf::parse(data) {
        let _ = contrail_mesos::domain::labels::parse(conf.label_pairs());
        if let Some(prev) = &conf.prev_result {
            let _ = contrail_mesos::applets::cni::result::AddResult::parse(prev);
        }
    }
});
