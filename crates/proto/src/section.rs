//! A section is one source's data in a report, or the error that source hit this tick.

use serde::de::value::{
    BorrowedStrDeserializer, MapAccessDeserializer, SeqAccessDeserializer, StringDeserializer,
};
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// What a source produced this tick: its data, or why it could not.
///
/// On the wire a healthy section is the data object itself; a failed one is
/// `{"error": {"kind": "...", "message": "..."}}`, so one broken source never costs the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Section<T> {
    Ok(T),
    Failed(SectionError),
}

impl<T> Section<T> {
    /// The data, if the source succeeded.
    pub fn ok(&self) -> Option<&T> {
        match self {
            Section::Ok(t) => Some(t),
            Section::Failed(_) => None,
        }
    }

    /// The error, if the source failed.
    pub fn error(&self) -> Option<&SectionError> {
        match self {
            Section::Ok(_) => None,
            Section::Failed(e) => Some(e),
        }
    }
}

/// Why a source produced no data this tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionError {
    pub kind: ErrorKind,
    /// Human-readable; names the file, command or field that was wrong. Never holds a secret.
    pub message: String,
}

/// Broad class of a section error, for grouping and alerting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Reading a file or socket failed.
    Io,
    /// The source answered, but with text or JSON we could not understand.
    Parse,
    /// An external command or request did not finish in time.
    Timeout,
    /// The agent lacks the permission to read the source.
    Permission,
    /// An external command failed (non-zero exit, signal, missing binary).
    Command,
    /// Anything else; also what an older reader maps unknown kinds to.
    #[serde(other)]
    Other,
}

impl<T: Serialize> Serialize for Section<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Failed<'a> {
            error: &'a SectionError,
        }
        match self {
            Section::Ok(t) => t.serialize(s),
            Section::Failed(error) => Failed { error }.serialize(s),
        }
    }
}

/// Decodes straight from the input, without an intermediate `serde_json::Value` (building one
/// per section was a fifth of the hub's request-side CPU): the object's keys are read one by
/// one; an `error` key makes the section `Failed`, every other key is handed to `T`.
impl<'de, T: DeserializeOwned> Deserialize<'de> for Section<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SectionVisitor(PhantomData))
    }
}

struct SectionVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for SectionVisitor<T> {
    type Value = Section<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a section object, or {\"error\": {\"kind\": …, \"message\": …}}")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut keys = ErrorKeyFilter { map, error: None };
        let data = T::deserialize(MapAccessDeserializer::new(&mut keys));
        if let Some(error) = keys.error {
            // An object with an `error` key is a failed section, whatever else it holds.
            while keys.map.next_key::<IgnoredAny>()?.is_some() {
                keys.map.next_value::<IgnoredAny>()?;
            }
            return Ok(Section::Failed(error));
        }
        data.map(Section::Ok)
    }

    /// A struct may also arrive as an array of its fields.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::deserialize(SeqAccessDeserializer::new(seq)).map(Section::Ok)
    }
}

/// Passes an object's entries through to `T`, except the `error` entry, which it decodes as
/// the section's error and keeps out of `T`'s sight.
struct ErrorKeyFilter<A> {
    map: A,
    error: Option<SectionError>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for &mut ErrorKeyFilter<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        loop {
            let Some(key) = self.map.next_key::<Key<'de>>()? else {
                return Ok(None);
            };
            match key {
                Key::Borrowed("error") => {}
                Key::Owned(ref k) if k == "error" => {}
                Key::Borrowed(k) => {
                    return seed.deserialize(BorrowedStrDeserializer::new(k)).map(Some);
                }
                Key::Owned(k) => return seed.deserialize(StringDeserializer::new(k)).map(Some),
            }
            self.error = Some(self.map.next_value::<SectionError>()?);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// An object key, borrowed from the input when the input allows it (no allocation).
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Probe {
        name: String,
        #[serde(default)]
        count: u32,
    }

    fn parse(json: &str) -> Result<Section<Probe>, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn a_healthy_section_is_its_data() {
        let s = parse(r#"{"count": 3, "name": "a\"b", "unknown": {"deep": [1, 2]}}"#).unwrap();
        assert_eq!(
            s,
            Section::Ok(Probe {
                name: "a\"b".into(),
                count: 3
            })
        );
    }

    #[test]
    fn an_error_object_is_a_failed_section_wherever_its_key_stands() {
        let want = Section::Failed(SectionError {
            kind: ErrorKind::Timeout,
            message: "zpool took 5 s".into(),
        });
        let error = r#""error": {"kind": "timeout", "message": "zpool took 5 s"}"#;
        assert_eq!(parse(&format!("{{{error}}}")).unwrap(), want);
        assert_eq!(parse(&format!("{{{error}, \"extra\": 1}}")).unwrap(), want);
        // Even beside fields that would make valid data.
        assert_eq!(
            parse(&format!("{{\"name\": \"x\", {error}}}")).unwrap(),
            want
        );
    }

    #[test]
    fn an_unknown_error_kind_reads_as_other() {
        let s = parse(r#"{"error": {"kind": "from-the-future", "message": "m"}}"#).unwrap();
        assert_eq!(s.error().unwrap().kind, ErrorKind::Other);
    }

    #[test]
    fn broken_sections_are_errors_naming_the_problem() {
        let e = parse(r#"{"error": 1}"#).unwrap_err().to_string();
        assert!(e.contains("invalid type: integer `1`"), "{e}");
        let e = parse(r#"{"count": 1}"#).unwrap_err().to_string();
        assert!(e.contains("missing field `name`"), "{e}");
        let e = parse(r#"{"name": 5}"#).unwrap_err().to_string();
        assert!(
            e.contains("invalid type: integer `5`, expected a string"),
            "{e}"
        );
        let e = parse("7").unwrap_err().to_string();
        assert!(e.contains("a section object"), "{e}");
        assert!(parse(r#"{"name": "x""#).is_err());
    }

    #[test]
    fn keys_that_cannot_be_borrowed_decode_too() {
        // A reader hands over transient keys, and escaped keys are never borrowed.
        let s: Section<Probe> =
            serde_json::from_reader(&br#"{"na\u006de": "r", "count": 2}"#[..]).unwrap();
        assert_eq!(
            s,
            Section::Ok(Probe {
                name: "r".into(),
                count: 2
            })
        );
        let s: Section<Probe> =
            serde_json::from_reader(&br#"{"\u0065rror": {"kind": "io", "message": "m"}}"#[..])
                .unwrap();
        assert_eq!(s.error().unwrap().kind, ErrorKind::Io);
    }

    #[test]
    fn a_section_round_trips_and_also_decodes_from_a_value() {
        for s in [
            Section::Ok(Probe {
                name: "n".into(),
                count: 9,
            }),
            Section::Failed(SectionError {
                kind: ErrorKind::Parse,
                message: "bad".into(),
            }),
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(parse(&json).unwrap(), s);
            let value = serde_json::to_value(&s).unwrap();
            assert_eq!(serde_json::from_value::<Section<Probe>>(value).unwrap(), s);
        }
    }
}
