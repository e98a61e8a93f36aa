//! What the real API server knows from its schema (`vnc_cfg.xsd`) and enforces on every
//! request: which parent types a resource may have, which properties and references it has,
//! and the field names and simple types inside complex properties and reference attributes.
//!
//! The table (`schema.txt`) is generated from the xsd files. Resource types that are not in it
//! are still accepted (any property, any `*_refs` field), so the emulator serves any type.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::pyfmt::{value_repr, value_str};

/// Properties the server insists on at create time (`_MANDATORY_PROPS` in `api_server.py`).
const MANDATORY_PROPS: &[&str] = &["loadbalancer_healthmonitor_properties"];

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Int,
    Bool,
    Str,
    Any,
    Complex(String),
}

#[derive(Debug)]
struct SimpleType {
    min: Option<i64>,
    max: Option<i64>,
    enums: Vec<String>,
}

#[derive(Debug)]
struct Field {
    kind: Kind,
    list: bool,
    simple: Option<String>,
}

#[derive(Debug)]
struct PropDef {
    kind: Kind,
    simple: Option<String>,
}

#[derive(Debug, Default)]
pub struct Schema {
    simple: HashMap<String, SimpleType>,
    complex: HashMap<String, HashMap<String, Field>>,
    props: HashMap<String, HashMap<String, PropDef>>,
    /// from type -> to type -> link attribute type
    refs: HashMap<String, HashMap<String, Option<String>>>,
    /// child type -> allowed parent types ("config-root" for root objects)
    parents: HashMap<String, Vec<String>>,
    known: HashSet<String>,
}

/// The schema, parsed once.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::parse(include_str!("schema.txt")))
}

fn parse_kind(s: &str) -> Kind {
    match s {
        "i" => Kind::Int,
        "b" => Kind::Bool,
        "s" => Kind::Str,
        other => match other.strip_prefix("c:") {
            Some(t) => Kind::Complex(t.to_string()),
            None => Kind::Any,
        },
    }
}

fn opt(s: Option<&str>) -> Option<String> {
    s.filter(|s| *s != "-").map(str::to_string)
}

/// Python truthiness of a decoded JSON value: the server skips validation of falsy values.
pub fn falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn class_name(t: &str) -> String {
    format!("<class 'vnc_api.gen.resource_xsd.{t}'>")
}

impl Schema {
    fn parse(text: &str) -> Self {
        let mut s = Schema::default();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (head, enums) = match line.split_once('\t') {
                Some((h, rest)) => (h, rest.split('\t').map(str::to_string).collect()),
                None => (line, Vec::new()),
            };
            let w: Vec<&str> = head.split(' ').collect();
            match w.as_slice() {
                ["S", name, _kind, min, max] => {
                    s.simple.insert(
                        name.to_string(),
                        SimpleType {
                            min: min.parse().ok(),
                            max: max.parse().ok(),
                            enums,
                        },
                    );
                }
                ["T", name] => {
                    s.complex.insert(name.to_string(), HashMap::new());
                    current = Some(name.to_string());
                }
                ["F", name, kind, list, simple] => {
                    if let Some(t) = current.as_ref().and_then(|c| s.complex.get_mut(c)) {
                        t.insert(
                            name.to_string(),
                            Field {
                                kind: parse_kind(kind),
                                list: *list == "1",
                                simple: opt(Some(simple)),
                            },
                        );
                    }
                }
                ["P", owner, name, kind, simple, _required] => {
                    s.props.entry(owner.to_string()).or_default().insert(
                        name.to_string(),
                        PropDef {
                            kind: parse_kind(kind),
                            simple: opt(Some(simple)),
                        },
                    );
                    if *owner != "all" {
                        s.known.insert(owner.to_string());
                    }
                }
                ["R", from, to, attr, ..] => {
                    s.refs
                        .entry(from.to_string())
                        .or_default()
                        .insert(to.to_string(), opt(Some(attr)));
                    for t in [from, to] {
                        if *t != "all" {
                            s.known.insert(t.to_string());
                        }
                    }
                }
                ["H", parent, child, ..] => {
                    s.parents
                        .entry(child.to_string())
                        .or_default()
                        .push(parent.to_string());
                    for t in [parent, child] {
                        if *t != "config-root" {
                            s.known.insert(t.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        s
    }

    /// Whether the real server knows this resource type.
    pub fn is_known(&self, ty: &str) -> bool {
        self.known.contains(ty)
    }

    /// The parent types the schema allows; `["config-root"]` for objects without a parent.
    /// `None` for types the schema does not know.
    pub fn parent_types(&self, ty: &str) -> Option<Vec<String>> {
        if !self.is_known(ty) {
            return None;
        }
        Some(
            self.parents
                .get(ty)
                .cloned()
                .unwrap_or_else(|| vec!["config-root".to_string()]),
        )
    }

    fn prop(&self, ty: &str, name: &str) -> Option<&PropDef> {
        self.props
            .get(ty)
            .and_then(|p| p.get(name))
            .or_else(|| self.props.get("all").and_then(|p| p.get(name)))
    }

    /// Whether `name` is a property of `ty` (always true for unknown types).
    pub fn has_prop(&self, ty: &str, name: &str) -> bool {
        !self.is_known(ty) || self.prop(ty, name).is_some()
    }

    /// Whether `ty` may refer to `to` (always true for unknown types).
    pub fn has_ref(&self, ty: &str, to: &str) -> bool {
        if !self.is_known(ty) {
            return true;
        }
        let direct = self.refs.get(ty).is_some_and(|m| m.contains_key(to));
        direct || self.refs.get("all").is_some_and(|m| m.contains_key(to))
    }

    /// The attribute type of references from `ty` to `to`, when the link carries one.
    pub fn ref_attr_type(&self, ty: &str, to: &str) -> Option<&str> {
        self.refs
            .get(ty)
            .and_then(|m| m.get(to))
            .and_then(|a| a.as_deref())
    }

    /// `_validate_props_in_request`: check (and normalise, as the server does) every known
    /// property present in the request. The error text is what follows "Bad property in ...: ".
    pub fn validate_props(
        &self,
        ty: &str,
        obj: &mut Map<String, Value>,
        create: bool,
    ) -> Result<(), String> {
        if !self.is_known(ty) {
            return Ok(());
        }
        if create {
            for m in MANDATORY_PROPS {
                if self.prop(ty, m).is_some() && obj.get(*m).is_none_or(falsy) {
                    return Err(format!("{m} property is missing"));
                }
            }
        }
        for (name, value) in obj.iter_mut() {
            let Some(def) = self.prop(ty, name) else {
                continue;
            };
            if falsy(value) {
                continue;
            }
            match &def.kind {
                Kind::Complex(t) => {
                    if value.is_object() {
                        let shown = value_repr(value);
                        self.validate_complex(t, value).map_err(|e| {
                            format!("Error validating property {name} value {shown} {e}")
                        })?;
                    } else {
                        return Err(format!(
                            "Error in property {name} type {} value of {} ",
                            class_name(t),
                            value_str(value)
                        ));
                    }
                }
                kind => {
                    self.validate_simple(name, kind, def.simple.as_deref(), value)
                        .map_err(|e| format!("Error validating property {e}"))?;
                }
            }
        }
        Ok(())
    }

    /// `_validate_refs_in_request` for one reference field: references of links that carry an
    /// attribute must have an `attr` key, and the attribute must match its type.
    pub fn validate_ref_attrs(
        &self,
        ty: &str,
        field: &str,
        to: &str,
        refs: &mut [Value],
    ) -> Result<(), String> {
        let Some(attr_type) = self.ref_attr_type(ty, to) else {
            return Ok(());
        };
        for r in refs.iter_mut() {
            let shown = value_repr(r);
            let Some(obj) = r.as_object_mut() else {
                continue;
            };
            let Some(attr) = obj.get_mut("attr") else {
                return Err(format!(
                    "Error validating reference {field} value {shown} 'attr'"
                ));
            };
            self.validate_complex(attr_type, attr)
                .map_err(|e| format!("Error validating reference {field} value {shown} {e}"))?;
        }
        Ok(())
    }

    /// `_validate_complex_type`.
    pub fn validate_complex(&self, t: &str, value: &mut Value) -> Result<(), String> {
        if value.is_null() {
            return Ok(());
        }
        let Some(fields) = self.complex.get(t) else {
            return Ok(());
        };
        let Some(obj) = value.as_object_mut() else {
            return Err(format!(
                "{} expects a dict instead of {}",
                class_name(t),
                value_str(value)
            ));
        };
        for (key, v) in obj.iter_mut() {
            let Some(field) = fields.get(key) else {
                return Err(format!("class {} does not have field {key}", class_name(t)));
            };
            if falsy(v) {
                continue;
            }
            let items: Vec<&mut Value> = if field.list {
                match v {
                    Value::Array(a) => a.iter_mut().collect(),
                    other => {
                        return Err(format!(
                            "Field {key} must be a list. Received value: {}",
                            value_str(other)
                        ));
                    }
                }
            } else {
                vec![v]
            };
            for item in items {
                match &field.kind {
                    Kind::Complex(ct) => {
                        if ct == "SubnetType" {
                            normalise_subnet(item)?;
                        }
                        self.validate_complex(ct, item)?;
                    }
                    kind => self.validate_simple(key, kind, field.simple.as_deref(), item)?,
                }
            }
        }
        Ok(())
    }

    /// `_validate_simple_type`: integers may arrive as strings and are converted.
    fn validate_simple(
        &self,
        name: &str,
        kind: &Kind,
        simple: Option<&str>,
        v: &mut Value,
    ) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        let restrictions = simple.and_then(|s| self.simple.get(s));
        match kind {
            Kind::Int => {
                let n = match &*v {
                    Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
                    Value::Bool(b) => Some(i64::from(*b)),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                let Some(n) = n else {
                    return Err(format!(
                        "{name}: integer value expected instead of {}",
                        value_str(v)
                    ));
                };
                if !v.is_number() && !v.is_boolean() {
                    *v = Value::from(n);
                }
                if let Some((lo, hi)) = restrictions.and_then(|r| r.min.zip(r.max)) {
                    if !(lo <= n && n <= hi) {
                        return Err(format!("{name}: value must be between {lo} and {hi}"));
                    }
                }
            }
            Kind::Bool => {
                if !v.is_boolean() {
                    return Err(format!(
                        "{name}: true/false expected instead of {}",
                        value_str(v)
                    ));
                }
            }
            Kind::Str => {
                let Some(s) = v.as_str() else {
                    return Err(format!(
                        "{name}: string value expected instead of {}",
                        value_str(v)
                    ));
                };
                let enums = restrictions.map(|r| r.enums.as_slice()).unwrap_or(&[]);
                if !enums.is_empty() && !enums.iter().any(|e| e == s) {
                    return Err(format!(
                        "{name}: value must be one of {}",
                        super::pyfmt::list_repr(enums)
                    ));
                }
            }
            Kind::Any | Kind::Complex(_) => {}
        }
        Ok(())
    }
}

/// `_validate_subnet_type`: the prefix must parse, and is rewritten to the network address.
fn normalise_subnet(item: &mut Value) -> Result<(), String> {
    let Some(obj) = item.as_object_mut() else {
        return Err("Subnet type is invalid".into());
    };
    let prefix = obj.get("ip_prefix").map(value_str).unwrap_or("None".into());
    let len = obj
        .get("ip_prefix_len")
        .map(value_str)
        .unwrap_or("None".into());
    let cidr = format!("{prefix}/{len}");
    let net: ipnet::IpNet = cidr
        .parse()
        .map_err(|_| format!("Subnet type '{cidr}' is invalid"))?;
    obj.insert("ip_prefix".into(), Value::String(net.network().to_string()));
    obj.insert("ip_prefix_len".into(), Value::from(net.prefix_len()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn knows_parents_props_and_refs() {
        let s = schema();
        assert_eq!(s.parent_types("project"), Some(vec!["domain".to_string()]));
        assert_eq!(
            s.parent_types("virtual-machine"),
            Some(vec!["config-root".to_string()])
        );
        let vmi = s
            .parent_types("virtual-machine-interface")
            .unwrap_or_default();
        assert!(vmi.contains(&"project".to_string()) && vmi.len() > 1);
        assert!(s.has_prop("virtual-network", "virtual_network_properties"));
        assert!(s.has_prop("virtual-network", "annotations"));
        assert!(!s.has_prop("virtual-network", "annotation"));
        assert!(s.has_ref("virtual-router", "virtual-machine"));
        assert!(s.has_ref("virtual-network", "tag"));
        assert!(!s.has_ref("virtual-network", "virtual-machine"));
        assert_eq!(
            s.ref_attr_type("virtual-network", "network-ipam"),
            Some("VnSubnetsType")
        );
        assert!(s.has_prop("some-new-type", "anything"));
    }

    #[test]
    fn rejects_unknown_keys_in_complex_properties() {
        let s = schema();
        let mut obj =
            json!({"loadbalancer_properties": {"vip_address": "1.2.3.4", "id_perms": {}}})
                .as_object()
                .cloned()
                .unwrap_or_default();
        let e = s
            .validate_props("loadbalancer", &mut obj, true)
            .unwrap_err();
        assert!(e.contains("does not have field id_perms"), "{e}");
        let mut ok = json!({"loadbalancer_properties": {"vip_address": "1.2.3.4", "status": null}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(s.validate_props("loadbalancer", &mut ok, true).is_ok());
    }

    #[test]
    fn checks_simple_types_and_enums() {
        let s = schema();
        let mut obj = json!({"ipam_subnet_method": "flat"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let e = s
            .validate_props("network-ipam", &mut obj, true)
            .unwrap_err();
        assert!(e.contains("value must be one of"), "{e}");
        let mut obj = json!({"port_security_enabled": "yes"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(
            s.validate_props("virtual-machine-interface", &mut obj, true)
                .is_err()
        );
        let mut attr =
            json!({"ipam_subnets": [{"subnet": {"ip_prefix": "10.1.2.3", "ip_prefix_len": "24"}}]});
        assert!(s.validate_complex("VnSubnetsType", &mut attr).is_ok());
        assert_eq!(attr["ipam_subnets"][0]["subnet"]["ip_prefix"], "10.1.2.0");
        assert_eq!(attr["ipam_subnets"][0]["subnet"]["ip_prefix_len"], 24);
        let mut bad =
            json!({"ipam_subnets": [{"subnet": {"ip_prefix": "10.1.2.300", "ip_prefix_len": 24}}]});
        let e = s.validate_complex("VnSubnetsType", &mut bad).unwrap_err();
        assert!(e.contains("10.1.2.300/24"), "{e}");
        let mut lb = json!({}).as_object().cloned().unwrap_or_default();
        assert!(
            s.validate_props("loadbalancer-healthmonitor", &mut lb, true)
                .is_err()
        );
    }
}
