//! A section is one source's data in a report, or the error that source hit this tick.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

impl<'de, T: DeserializeOwned> Deserialize<'de> for Section<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if let Some(error) = value.as_object().and_then(|o| o.get("error")) {
            let error = SectionError::deserialize(error).map_err(D::Error::custom)?;
            return Ok(Section::Failed(error));
        }
        T::deserialize(value)
            .map(Section::Ok)
            .map_err(D::Error::custom)
    }
}
