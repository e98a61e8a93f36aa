//! Text the way the Python API server prints it: error messages there are built with `str()`,
//! `repr()` and `pprint.pformat()` of lists and dicts, and timestamps with
//! `datetime.utcnow().isoformat()`. Clients only match on status codes, but people read these.

use std::time::SystemTime;

use serde_json::Value;

/// `repr()` of a Python `str`.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `str()` of a list of strings, e.g. `['default-domain', 'p']`.
pub fn list_repr<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| str_repr(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

/// `pprint.pformat()` of a list of strings: one line when it fits in 80 columns, else one
/// element per line.
pub fn pformat_list<S: AsRef<str>>(items: &[S]) -> String {
    let one_line = list_repr(items);
    if one_line.chars().count() <= 80 {
        return one_line;
    }
    let parts: Vec<String> = items.iter().map(|s| str_repr(s.as_ref())).collect();
    format!("[{}]", parts.join(",\n "))
}

/// `repr()` of a decoded JSON value as Python would hold it.
pub fn value_repr(v: &Value) -> String {
    match v {
        Value::String(s) => str_repr(s),
        other => value_str(other),
    }
}

/// `str()` of a decoded JSON value as Python would hold it.
pub fn value_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_repr).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", str_repr(k), value_repr(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// `datetime.utcnow().isoformat()`: `2026-11-25T10:11:12.123456`, without the fraction when
/// the microseconds are zero, and without a zone designator.
pub fn utc_isoformat(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_micros(t).to_string();
    let s = s.trim_end_matches('Z');
    s.strip_suffix(".000000").unwrap_or(s).to_string()
}

/// Keystone style: `2026-11-25T10:11:12.123456Z`.
pub fn utc_rfc3339_micros(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Keystone v2 style: `2026-11-25T10:11:12Z`.
pub fn utc_rfc3339_seconds(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_reprs() {
        assert_eq!(list_repr(&["a", "b'c"]), "['a', \"b'c\"]");
        assert_eq!(
            value_str(&json!({"a": [1, true, null, "x"]})),
            "{'a': [1, True, None, 'x']}"
        );
        let long: Vec<String> = (0..10).map(|i| format!("element-number-{i}")).collect();
        assert!(pformat_list(&long).contains(",\n 'element-number-1'"));
        assert_eq!(pformat_list(&["d", "p"]), "['d', 'p']");
    }

    #[test]
    fn isoformat_has_no_zone_and_drops_zero_micros() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
        assert_eq!(utc_isoformat(t), "1970-01-02T00:00:00");
        let t = t + std::time::Duration::from_micros(5);
        assert_eq!(utc_isoformat(t), "1970-01-02T00:00:00.000005");
    }
}
