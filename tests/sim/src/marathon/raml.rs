//! Marathon's RAML types (`docs/docs/rest-api/public/api/v2/types/*.raml`), read just enough
//! to check a JSON answer against them: each type's properties and which are required (a name
//! without `?`). Tests only.

use std::collections::BTreeMap;

use serde_json::Value;

/// Type name → (property → required).
pub type Types = BTreeMap<String, BTreeMap<String, bool>>;

/// The object types of a RAML library (`types:` at the top, two spaces per level).
pub fn parse(text: &str) -> Types {
    let mut out = Types::new();
    let (mut ty, mut in_props): (Option<String>, bool) = (None, false);
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match indent {
            2 if t.ends_with(':') => {
                ty = Some(t.trim_end_matches(':').to_string());
                in_props = false;
            }
            4 => in_props = t == "properties:",
            6 if in_props => {
                if let (Some(ty), Some((name, _))) = (&ty, t.split_once(':')) {
                    let required = !name.ends_with('?');
                    out.entry(ty.clone())
                        .or_default()
                        .insert(name.trim_end_matches('?').to_string(), required);
                }
            }
            _ => {}
        }
    }
    out
}

/// What `v` breaks of type `ty`: required properties missing, properties the type does not
/// have; `nested` names the (property, type) pairs to check inside, lists item by item.
pub fn check(types: &Types, ty: &str, v: &Value, nested: &[(&str, &str)], at: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(props) = types.get(ty) else {
        return vec![format!("{at}: no RAML type {ty}")];
    };
    let Some(obj) = v.as_object() else {
        return vec![format!("{at}: a {ty} that is not an object: {v}")];
    };
    for (name, required) in props {
        if *required && !obj.contains_key(name) {
            out.push(format!("{at}: {ty} without required {name}"));
        }
    }
    for key in obj.keys() {
        if !props.contains_key(key) {
            out.push(format!("{at}: {ty} has no property {key}"));
        }
    }
    for (field, inner) in nested {
        let items: Vec<&Value> = match obj.get(*field) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(o @ Value::Object(_)) => vec![o],
            _ => continue,
        };
        for (i, item) in items.into_iter().enumerate() {
            out.extend(check(
                types,
                inner,
                item,
                nested,
                &format!("{at}.{field}[{i}]"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_required_and_optional_properties() {
        let t = parse(include_str!("../../../fixtures/marathon/podStatus.raml"));
        let c = &t["ContainerEndpointStatus"];
        assert_eq!(c.get("name"), Some(&true));
        assert_eq!(c.get("healthy"), Some(&false));
        assert_eq!(t["PodInstanceStatus"].get("role"), Some(&true));
        assert!(
            !t.contains_key("PodState"),
            "a string type has no properties"
        );
        let h = parse(include_str!("../../../fixtures/marathon/healthCheck.raml"));
        assert_eq!(h["Health"].get("alive"), Some(&true));
        assert_eq!(h["Health"].get("lastFailureCause"), Some(&false));
    }
}
