//! Contrail fully-qualified names (`default-domain:default-project:blue-network`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A fully-qualified name: a non-empty list of non-empty parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FqName(Vec<String>);

impl FqName {
    /// Build from parts; every part must be non-empty and free of `:` and control characters.
    pub fn new<I, S>(parts: I) -> Result<Self, NameError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let parts: Vec<String> = parts.into_iter().map(Into::into).collect();
        if parts.is_empty() {
            return Err(NameError::NoParts);
        }
        for p in &parts {
            check_part(p)?;
        }
        Ok(Self(parts))
    }

    /// Parts as given, unchecked: for names whose parts were validated elsewhere (a config
    /// the manager checked at start). The API server refuses a bad one, naming it.
    pub fn from_checked_parts(parts: Vec<String>) -> Self {
        Self(parts)
    }

    /// Parse `a:b:c`, trimming whitespace around each part.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(NameError::NoParts);
        }
        Self::new(s.split(':').map(|p| p.trim().to_string())).map_err(|e| NameError::In {
            name: s.to_string(),
            cause: Box::new(e),
        })
    }

    pub fn parts(&self) -> &[String] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The last part: the object's own name.
    pub fn name(&self) -> &str {
        self.0.last().map(String::as_str).unwrap_or("")
    }

    /// All parts but the last: the parent's fq-name, if any.
    pub fn parent(&self) -> Option<FqName> {
        (self.0.len() > 1).then(|| FqName(self.0[..self.0.len() - 1].to_vec()))
    }

    /// A child of this name.
    pub fn child(&self, name: &str) -> Result<FqName, NameError> {
        check_part(name)?;
        let mut parts = self.0.clone();
        parts.push(name.to_string());
        Ok(FqName(parts))
    }

    /// The fq-name as a JSON array, as the config API wants it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::from(self.0.clone())
    }

    /// Read a JSON array of strings.
    pub fn from_json(v: &serde_json::Value) -> Option<FqName> {
        let parts = v
            .as_array()?
            .iter()
            .map(|p| p.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()?;
        (!parts.is_empty()).then_some(FqName(parts))
    }

    /// An fq-name as Contrail returned it (a model object's `fq_name`, a reference's `to`):
    /// taken as it is, only not empty.
    pub fn from_read(parts: &[String]) -> Option<FqName> {
        (!parts.is_empty()).then(|| FqName(parts.to_vec()))
    }
}

/// The longest name Contrail takes for one part of an fq-name.
pub const MAX_NAME_LEN: usize = 255;

/// Why a name is not one Contrail can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    NoParts,
    EmptyPart,
    Colon(String),
    ControlCharacter(String),
    /// The part's first characters and its length.
    TooLong {
        start: String,
        len: usize,
    },
    /// In the fq-name `name`.
    In {
        name: String,
        cause: Box<NameError>,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::NoParts => f.write_str("an fq-name needs at least one part"),
            NameError::EmptyPart => f.write_str("empty name part"),
            NameError::Colon(p) => write!(f, "name part {p:?} contains ':'"),
            NameError::ControlCharacter(p) => {
                write!(f, "name part {p:?} contains a control character")
            }
            NameError::TooLong { start, len } => write!(
                f,
                "name part {start:?}... is {len} characters long; Contrail names hold at most \
                 {MAX_NAME_LEN}"
            ),
            NameError::In { name, cause } => write!(f, "bad fq-name {name:?}: {cause}"),
        }
    }
}

impl std::error::Error for NameError {}

fn check_part(p: &str) -> Result<(), NameError> {
    if p.is_empty() {
        return Err(NameError::EmptyPart);
    }
    let len = p.chars().count();
    if len > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            start: p.chars().take(24).collect(),
            len,
        });
    }
    if p.contains(':') {
        return Err(NameError::Colon(p.to_string()));
    }
    if p.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter(p.to_string()));
    }
    Ok(())
}

impl fmt::Display for FqName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(":"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let fq = FqName::parse(" default-domain : default-project:blue ").expect("valid");
        assert_eq!(fq.parts(), ["default-domain", "default-project", "blue"]);
        assert_eq!(fq.to_string(), "default-domain:default-project:blue");
        assert_eq!(fq.name(), "blue");
        assert_eq!(
            fq.parent().map(|p| p.to_string()).as_deref(),
            Some("default-domain:default-project")
        );
        assert_eq!(FqName::parse("a").expect("valid").parent(), None);
    }

    #[test]
    fn rejects_empty_parts() {
        assert!(FqName::parse("").is_err());
        let e = FqName::parse("a::b").expect_err("empty middle part");
        assert!(e.to_string().contains("a::b"), "{e}");
        assert!(FqName::new(Vec::<String>::new()).is_err());
        assert!(FqName::new(["a", "b\n"]).is_err());
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let e = FqName::new(["a", long.as_str()]).expect_err("too long");
        assert!(e.to_string().contains("256 characters"), "{e}");
        assert!(FqName::new(["a", &long[1..]]).is_ok());
    }

    #[test]
    fn json_round_trip() {
        let fq = FqName::parse("a:b").expect("valid");
        assert_eq!(FqName::from_json(&fq.to_json()), Some(fq));
        assert_eq!(FqName::from_json(&serde_json::json!([])), None);
        assert_eq!(FqName::from_json(&serde_json::json!(["a", 1])), None);
    }

    #[test]
    fn names_read_from_contrail_are_taken_as_they_are() {
        let read = vec!["default-domain".to_string(), "a b".to_string()];
        let fq = FqName::from_read(&read).expect("not empty");
        assert_eq!(fq.parts(), read.as_slice());
        assert_eq!(FqName::from_read(&[]), None);
    }
}
