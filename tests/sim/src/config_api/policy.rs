//! What the API server checks in the rules of a network policy: `check_policy_rules(entries,
//! network_policy_rule=True)` of Juniper/contrail-controller R2005
//! `src/config/api-server/vnc_cfg_api_server/resources/_policy_base.py`, which
//! `resources/network_policy.py` runs in `pre_dbe_create` and `pre_dbe_update` on the
//! request's `network_policy_entries`.
//!
//! In upstream's order:
//! 1. two rules that are equal once `rule_uuid`, `created` and `last_modified` are left out are
//!    409 "Rule already exists : <rule_uuid of the first of them>" (Python dict equality: a key
//!    sent as `null` differs from a key left out; `1 == 1.0 == true`);
//! 2. then rule by rule: a rule without a (truthy) `rule_uuid` gets a new one; `protocol` must
//!    be a number from 0 to 255 or one of `any`, `icmp`, `tcp`, `udp`, `icmp6` (400 "Rule with
//!    invalid protocol : <protocol>"); `action_list` must be present and not null (400 "Action
//!    is required"); no address may name a `security_group` (400 "Config Error: policy rule
//!    refering to security group is not allowed").
//!
//! A rule without `protocol` (or with a `protocol` that is not a string) is a 500 traceback
//! upstream (`rule['protocol']`, `protocol.isdigit()`); here a 400 naming the rule.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::pyfmt::value_str;
use super::schema::falsy;

const IGNORED: [&str; 3] = ["rule_uuid", "created", "last_modified"];
const PROTOCOLS: [&str; 5] = ["any", "icmp", "tcp", "udp", "icmp6"];

/// Python's `==` on decoded JSON values: numbers and booleans compare by value.
fn py_eq(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    };
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => match (num(a), num(b)) {
            (Some(p), Some(q)) => p == q,
            _ => a == b,
        },
    }
}

/// A rule without the keys the duplicate check ignores.
fn without_ids(rule: &Value) -> Value {
    match rule {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !IGNORED.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

/// Check (and complete with rule uuids) the `PolicyEntriesType` of a network policy.
pub fn check_network_policy_rules(entries: Option<&mut Value>) -> ApiResult<()> {
    let Some(entries) = entries.filter(|e| !falsy(e)) else {
        return Ok(());
    };
    let Some(rules) = entries
        .get_mut("policy_rule")
        .filter(|r| !falsy(r))
        .and_then(Value::as_array_mut)
    else {
        return Ok(());
    };
    let mut rest: Vec<Option<Value>> = rules.iter().map(|r| Some(without_ids(r))).collect();
    for index in 0..rest.len() {
        let Some(rule) = rest[index].take() else {
            continue;
        };
        if rest.iter().flatten().any(|other| py_eq(&rule, other)) {
            let uuid = rules[index]
                .get("rule_uuid")
                .map(value_str)
                .unwrap_or_else(|| "None".into());
            return Err(ApiError::conflict(format!("Rule already exists : {uuid}")));
        }
    }
    for (i, rule) in rules.iter_mut().enumerate() {
        let Some(rule) = rule.as_object_mut() else {
            continue;
        };
        if rule.get("rule_uuid").is_none_or(falsy) {
            rule.insert(
                "rule_uuid".into(),
                Value::String(Uuid::new_v4().to_string()),
            );
        }
        let protocol = match rule.get("protocol") {
            Some(Value::String(p)) => p.as_str(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "Bad Request, network_policy_entries.policy_rule[{i}].protocol must be a \
                     string, got {}",
                    other.map(value_str).unwrap_or_else(|| "nothing".into())
                )));
            }
        };
        let valid = if !protocol.is_empty() && protocol.bytes().all(|b| b.is_ascii_digit()) {
            protocol.parse::<u32>().is_ok_and(|n| n <= 255)
        } else {
            PROTOCOLS.contains(&protocol)
        };
        if !valid {
            return Err(ApiError::bad_request(format!(
                "Rule with invalid protocol : {protocol}"
            )));
        }
        if rule.get("action_list").is_none_or(Value::is_null) {
            return Err(ApiError::bad_request("Action is required"));
        }
        let names_group = |key: &str| {
            rule.get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|a| a.get("security_group").is_some_and(|g| !g.is_null()))
        };
        if names_group("src_addresses") || names_group("dst_addresses") {
            return Err(ApiError::bad_request(
                "Config Error: policy rule refering to security group is not allowed",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(extra: Value) -> Value {
        let mut r = json!({"direction": "<>", "protocol": "any", "ethertype": "IPv4",
            "action_list": {"simple_action": "pass"},
            "src_addresses": [{"network_policy": "d:p:np"}], "src_ports": [{"start_port": -1, "end_port": -1}],
            "dst_addresses": [{"virtual_network": "default-domain:default-project:ip-fabric"}],
            "dst_ports": [{"start_port": -1, "end_port": -1}]});
        if let (Some(r), Some(e)) = (r.as_object_mut(), extra.as_object()) {
            r.extend(e.clone());
        }
        r
    }

    fn check(rules: Vec<Value>) -> Result<Value, ApiError> {
        let mut entries = json!({"policy_rule": rules});
        check_network_policy_rules(Some(&mut entries)).map(|()| entries)
    }

    #[test]
    fn duplicates_are_409_naming_the_first_rule_uuid() {
        let e = check(vec![
            rule(json!({"rule_uuid": "r1"})),
            rule(json!({"rule_uuid": "r2", "created": "x"})),
        ])
        .expect_err("duplicate");
        assert_eq!(
            (e.status, e.msg.as_str()),
            (409, "Rule already exists : r1")
        );
        let e = check(vec![rule(json!({})), rule(json!({}))]).expect_err("duplicate");
        assert_eq!(e.msg, "Rule already exists : None");
        // Python's equality: 1 == 1.0, but a key sent as null is not a key left out.
        let e = check(vec![
            rule(json!({"src_ports": [{"start_port": -1, "end_port": -1}]})),
            rule(json!({"src_ports": [{"start_port": -1.0, "end_port": -1}]})),
        ])
        .expect_err("same numbers");
        assert_eq!(e.status, 409);
        check(vec![rule(json!({})), rule(json!({"application": null}))]).expect("not equal");
    }

    #[test]
    fn uuids_are_filled_and_kept() {
        let got = check(vec![
            rule(json!({"rule_uuid": "mine"})),
            rule(json!({"rule_uuid": "", "direction": ">"})),
        ])
        .expect("valid");
        assert_eq!(got["policy_rule"][0]["rule_uuid"], "mine");
        let filled = got["policy_rule"][1]["rule_uuid"].as_str().unwrap_or("");
        assert!(Uuid::parse_str(filled).is_ok(), "{filled}");
    }

    #[test]
    fn protocol_action_and_security_groups() {
        for p in ["any", "tcp", "udp", "icmp", "icmp6", "0", "6", "255"] {
            check(vec![rule(json!({"protocol": p}))]).expect(p);
        }
        for p in ["256", "TCP", "-1", "", "sctp"] {
            let e = check(vec![rule(json!({"protocol": p}))]).expect_err(p);
            assert_eq!(e.msg, format!("Rule with invalid protocol : {p}"));
        }
        let e = check(vec![rule(json!({"protocol": null}))]).expect_err("no protocol");
        assert_eq!(e.status, 400);
        assert!(e.msg.contains("policy_rule[0].protocol"), "{}", e.msg);
        let e = check(vec![rule(json!({"action_list": null}))]).expect_err("no action");
        assert_eq!((e.status, e.msg.as_str()), (400, "Action is required"));
        check(vec![rule(json!({"action_list": {}}))]).expect("an empty action is an action");
        let e = check(vec![rule(
            json!({"dst_addresses": [{"security_group": "local"}]}),
        )])
        .expect_err("security group");
        assert_eq!(
            e.msg,
            "Config Error: policy rule refering to security group is not allowed"
        );
        check_network_policy_rules(None).expect("no entries");
        check(vec![]).expect("no rules");
    }
}
