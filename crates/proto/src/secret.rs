//! A configuration value that must never be printed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A token, password or key. `Debug`, `Display` and `Serialize` all print `[redacted]`;
/// only [`Secret::expose`] gives the value, so every use of it is a deliberate, greppable call.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself. Call only where it is handed to a peer, never to format a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// Any scalar is taken as its text: configuration overlays read environment values as TOML
/// when they parse, so `HOSTWATCH_HUB_TOKEN=12345` arrives as an integer. And a type error
/// names no value: serde's own message would echo it, which a secret must never do.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scalar {
            Text(String),
            Integer(i64),
            Unsigned(u64),
            Float(f64),
            Bool(bool),
        }
        match Scalar::deserialize(d) {
            Ok(Scalar::Text(s)) => Ok(Secret(s)),
            Ok(Scalar::Integer(i)) => Ok(Secret(i.to_string())),
            Ok(Scalar::Unsigned(u)) => Ok(Secret(u.to_string())),
            Ok(Scalar::Float(f)) => Ok(Secret(f.to_string())),
            Ok(Scalar::Bool(b)) => Ok(Secret(b.to_string())),
            Err(_) => Err(serde::de::Error::custom(
                "expected a string (the value is not shown: it is a secret)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2-token");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        let nested = format!("{:?}", Some(vec![s.clone()]));
        assert!(!nested.contains("hunter2"), "{nested}");
        assert_eq!(s.expose(), "hunter2-token");
    }

    #[test]
    fn takes_any_scalar_as_text_and_never_echoes_a_bad_value() {
        let s: Secret = serde_json::from_str("12345").unwrap();
        assert_eq!(s.expose(), "12345");
        let s: Secret = serde_json::from_str("true").unwrap();
        assert_eq!(s.expose(), "true");
        let e = serde_json::from_str::<Secret>(r#"["hunter2"]"#).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("expected a string"), "{e}");
    }

    #[test]
    fn reads_the_plain_value() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(s.expose(), "abc");
    }
}
