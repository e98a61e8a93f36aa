//! The API server's rules for `virtual-DNS` and `virtual-DNS-record`
//! (`vnc_cfg_api_server/resources/virtual_dns.py`, `VirtualDnsServer`, and
//! `virtual_dns_record.py`, `VirtualDnsRecordServer`; tf-controller master, as the real server in
//! `../shared/contrail-api-server` runs them). They run after the schema check, so enum values
//! (`record_order`, `record_type`, `record_class`) never reach them wrongly spelt. Statuses and
//! texts are upstream's, quirks included:
//! - the hooks read the request's own dict, so an update without `virtual_DNS_data` (or without
//!   `virtual_DNS_record_data`) fails with the `KeyError` (500), as does a missing key inside it
//!   (`default_ttl_seconds`, `record_ttl_seconds`, ...);
//! - an update naming a `next_virtual_DNS` that itself has a `next_virtual_DNS` reads the
//!   request's `fq_name` (500 `KeyError: 'fq_name'` without it);
//! - record names are not unique: two records may carry the same `record_name`.

use std::collections::HashSet;
use std::net::Ipv6Addr;

use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::store::{Obj, Store};

const TTL_MAX: i64 = 2_147_483_647;

fn key_error(key: &str) -> ApiError {
    ApiError::new(500, format!("KeyError: '{key}'"))
}

fn get<'a>(data: &'a Map<String, Value>, key: &str) -> ApiResult<&'a Value> {
    data.get(key).ok_or_else(|| key_error(key))
}

/// The dict a hook reads: present in the request, or the `KeyError` the hook raises.
fn data<'a>(
    obj: &'a Obj,
    key: &str,
    changed: Option<&HashSet<String>>,
) -> ApiResult<&'a Map<String, Value>> {
    if changed.is_some_and(|c| !c.contains(key)) {
        return Err(key_error(key));
    }
    obj.props
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| key_error(key))
}

/// Python's `str(x)` of a JSON scalar, lower-cased, as the hooks compare enum values.
fn lower(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_lowercase(),
        Value::Null => "none".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        other => other.to_string().to_lowercase(),
    }
}

/// A JSON text the hooks take as a Python string; anything else is the `TypeError` of
/// `len()`/`split()` on it.
fn text<'a>(v: &'a Value, key: &str) -> ApiResult<&'a str> {
    v.as_str().ok_or_else(|| {
        ApiError::new(
            500,
            format!("TypeError: {key} is {}, not a string", python_type(v)),
        )
    })
}

fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn int(v: &Value, key: &str) -> ApiResult<i64> {
    v.as_i64().ok_or_else(|| {
        ApiError::new(
            500,
            format!("TypeError: {key} is {}, not an int", python_type(v)),
        )
    })
}

/// `VirtualDnsServer.is_valid_dns_name`: at most 255 characters, one trailing dot allowed,
/// labels of 1 to 63 letters, digits and inner hyphens.
pub fn is_valid_dns_name(name: &str) -> bool {
    if name.chars().count() > 255 {
        return false;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    name.split('.').all(|label| {
        !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// `VirtualDnsServer.is_valid_ipv4_address`: four dot-separated parts, each an `int()` in
/// 0..=255 (Python's `int` takes surrounding blanks, a sign, leading zeros and `_` between
/// digits).
pub fn is_valid_ipv4_address(address: &str) -> bool {
    let parts: Vec<&str> = address.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| python_int(p).is_some_and(|n| (0..=255).contains(&n)))
}

fn python_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let ok = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !ok {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

/// `VirtualDnsServer.is_valid_ipv6_address` (`inet_pton(AF_INET6)`).
pub fn is_valid_ipv6_address(address: &str) -> bool {
    address.parse::<Ipv6Addr>().is_ok()
}

fn fq_of(text: &str) -> Vec<String> {
    text.split(':').map(str::to_string).collect()
}

/// `VirtualDnsServer.pre_dbe_create` / `pre_dbe_update` → `validate_dns_server`. `changed` is
/// `None` on create, else the keys the update carried.
pub fn check_server(store: &Store, obj: &Obj, changed: Option<&HashSet<String>>) -> ApiResult<()> {
    let has_fq_name = changed.is_none_or(|c| c.contains("fq_name"));
    if has_fq_name {
        let name = obj.fq_name.get(1).map(String::as_str).unwrap_or_default();
        if name.starts_with('-') || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ApiError::new(
                403,
                "Special characters are not allowed in Virtual DNS server name",
            ));
        }
    }
    let data = data(obj, "virtual_DNS_data", changed)?;
    if !is_valid_dns_name(text(get(data, "domain_name")?, "domain_name")?) {
        return Err(ApiError::new(
            403,
            "Domain name does not adhere to DNS name requirements",
        ));
    }
    if !["fixed", "random", "round-robin"].contains(&lower(get(data, "record_order")?).as_str()) {
        return Err(ApiError::new(403, "Invalid value for record order"));
    }
    let ttl = int(get(data, "default_ttl_seconds")?, "default_ttl_seconds")?;
    if !(0..=TTL_MAX).contains(&ttl) {
        return Err(ApiError::bad_request("Invalid value for TTL"));
    }
    let next = match data.get("next_virtual_DNS") {
        None | Some(Value::Null) => return Ok(()),
        Some(v) => text(v, "next_virtual_DNS")?,
    };
    if next.is_empty() {
        return Ok(());
    }
    let Some(next_uuid) = store.find("virtual-DNS", &fq_of(next)) else {
        return match is_valid_ipv4_address(next) {
            true => Ok(()),
            false => Err(ApiError::bad_request(
                "Invalid Virtual Forwarder(next virtual dns server)",
            )),
        };
    };
    let next_next = store
        .get(next_uuid)
        .and_then(|o| o.props.get("virtual_DNS_data"))
        .and_then(|d| d.get("next_virtual_DNS"));
    if let Some(nn) = next_next {
        if !has_fq_name {
            return Err(key_error("fq_name"));
        }
        if nn.as_str() == Some(obj.fq_name.join(":").as_str()) {
            return Err(ApiError::new(
                403,
                "Cannot have Virtual DNS Servers referring to each other",
            ));
        }
    }
    Ok(())
}

/// `VirtualDnsServer.pre_dbe_create`: the server is shared read-only with its whole domain.
pub fn share_with_domain(obj: &mut Obj) {
    let Some((_, domain)) = obj.parent.clone() else {
        return;
    };
    let perms = obj.props.entry("perms2").or_insert_with(|| json!({}));
    if let Some(p) = perms.as_object_mut() {
        let share = p.entry("share").or_insert_with(|| json!([]));
        if let Some(list) = share.as_array_mut() {
            // PERMS_RX
            list.push(json!({"tenant": format!("domain:{domain}"), "tenant_access": 5}));
        }
    }
}

/// `VirtualDnsServer.pre_dbe_delete`: no other server of the domain may forward to it.
pub fn check_server_delete(store: &Store, obj: &Obj) -> ApiResult<()> {
    let Some((_, domain)) = &obj.parent else {
        return Ok(());
    };
    let name = obj.fq_name.join(":");
    for uuid in store.children_of_type(domain, "virtual-DNS") {
        let next = store
            .get(&uuid)
            .and_then(|o| o.props.get("virtual_DNS_data"))
            .and_then(|d| d.get("next_virtual_DNS"))
            .and_then(Value::as_str);
        if next == Some(name.as_str()) {
            return Err(ApiError::new(
                403,
                "Virtual DNS server is referred by other virtual DNS servers",
            ));
        }
    }
    Ok(())
}

/// `VirtualDnsRecordServer.validate_dns_record`, on create and update.
pub fn check_record(store: &Store, obj: &Obj, changed: Option<&HashSet<String>>) -> ApiResult<()> {
    let data = data(obj, "virtual_DNS_record_data", changed)?;
    let ty = lower(get(data, "record_type")?);
    if !["a", "cname", "ptr", "ns", "mx", "aaaa"].contains(&ty.as_str()) {
        return Err(ApiError::new(403, "Invalid record type"));
    }
    if lower(get(data, "record_class")?) != "in" {
        return Err(ApiError::new(403, "Invalid record class"));
    }
    let name = text(get(data, "record_name")?, "record_name")?;
    let value = text(get(data, "record_data")?, "record_data")?;
    if ty == "ptr" {
        let lname = name.to_lowercase();
        if !is_valid_ipv4_address(name)
            && !is_valid_ipv6_address(name)
            && !lname.contains("in-addr.arpa")
            && !lname.contains("ip6.arpa")
        {
            return Err(ApiError::new(
                403,
                "PTR Record name has to be IP address or reverse.ip.in-addr.arpa",
            ));
        }
    } else if !is_valid_dns_name(name) {
        return Err(ApiError::new(
            403,
            "Record name does not adhere to DNS name requirements",
        ));
    }
    match ty.as_str() {
        "a" if !is_valid_ipv4_address(value) => {
            return Err(ApiError::new(403, "Invalid IP address"));
        }
        "aaaa" if !is_valid_ipv6_address(value) => {
            return Err(ApiError::new(403, "Invalid IPv6 address"));
        }
        "cname" | "ptr" | "mx" if !is_valid_dns_name(value) => {
            return Err(ApiError::new(
                403,
                "Record data does not adhere to DNS name requirements",
            ));
        }
        "ns" if store.find("virtual-DNS", &fq_of(value)).is_none()
            && !is_valid_ipv4_address(value)
            && !is_valid_dns_name(value) =>
        {
            return Err(ApiError::new(
                403,
                "Invalid virtual dns server in record data",
            ));
        }
        _ => {}
    }
    let ttl = int(get(data, "record_ttl_seconds")?, "record_ttl_seconds")?;
    if !(0..=TTL_MAX).contains(&ttl) {
        return Err(ApiError::new(403, "Invalid value for TTL"));
    }
    if ty == "mx" {
        let pref = int(get(data, "record_mx_preference")?, "record_mx_preference")?;
        if !(0..=65535).contains(&pref) {
            return Err(ApiError::new(403, "Invalid value for MX record preference"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_as_upstream_checks_them() {
        for ok in ["web.marathon", "l4lb.thisdcos.directory.", "a-b.c1", "x"] {
            assert!(is_valid_dns_name(ok), "{ok}");
        }
        let long_label = "a".repeat(64);
        for bad in [
            "web_x.marathon",
            "-a.b",
            "a-.b",
            "a..b",
            "",
            ".",
            long_label.as_str(),
            "a.b..",
        ] {
            assert!(!is_valid_dns_name(bad), "{bad:?}");
        }
        assert!(!is_valid_dns_name(&"a.".repeat(128)));
    }

    #[test]
    fn ipv4_as_python_int_reads_it() {
        for ok in [
            "10.96.0.5",
            "010.1.1.1",
            " 1.2.3.4",
            "1_0.0.0.1",
            "+1.0.0.0",
        ] {
            assert!(is_valid_ipv4_address(ok), "{ok}");
        }
        for bad in [
            "10.96.0",
            "256.1.1.1",
            "a.b.c.d",
            "1.2.3.4.5",
            "1__0.0.0.1",
            "-1.0.0.0",
            "",
        ] {
            assert!(!is_valid_ipv4_address(bad), "{bad:?}");
        }
    }
}
