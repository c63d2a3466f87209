//! Remote commands through the hub: what the hub sends an agent in the envelope, what the
//! agent posts back, and what the agent advertises it can run.
//!
//! A command is signed by the hub's Ed25519 key over [`signed_message`]; the agent runs it only
//! if one of its `[remote] trusted_keys` signed it, for this host, before the expiry, once.

use serde::{Deserialize, Serialize};

/// A command for one host, signed by the hub. Rides on the [`crate::Envelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedCommand {
    /// Unique per request; the result names it, and the agent runs a request id at most once.
    pub request_id: String,
    /// The name of one of the agent's `[[commands]]`.
    pub command: String,
    #[serde(default)]
    pub params: Vec<String>,
    /// Unix ms after which the agent must not run it.
    pub expires_at: i64,
    /// Base64 Ed25519 signature over [`signed_message`].
    pub signature: String,
}

/// What happened to a command, as the agent posts it to `POST /api/v1/command-results`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    pub request_id: String,
    pub command: String,
    /// Ran and exited 0.
    pub ok: bool,
    /// Why it was refused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Output was cut at the command's `output_max_bytes`.
    #[serde(default)]
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// One command an agent allows, as it advertises it (in the `system` section) so the hub can
/// offer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// One rule per parameter position.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamInfo>,
}

/// What one parameter may be: one of `choices`, or text matching the whole of `regex`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// The bytes a command signature covers: a version tag, the host, the request id, the expiry
/// (unix ms), the command and its parameters as a JSON array, one per line.
pub fn signed_message(
    host: &str,
    request_id: &str,
    expires_at: i64,
    command: &str,
    params: &[String],
) -> Vec<u8> {
    let params = serde_json::to_string(params).unwrap_or_default();
    format!("hostwatch-command-v1\n{host}\n{request_id}\n{expires_at}\n{command}\n{params}")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_message_is_pinned() {
        // Agents and hubs of different versions must agree on these bytes exactly.
        let m = signed_message("web1", "r-1", 1700000000000, "restart", &["nginx".into()]);
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "hostwatch-command-v1\nweb1\nr-1\n1700000000000\nrestart\n[\"nginx\"]"
        );
    }

    #[test]
    fn a_result_reads_with_only_its_required_fields() {
        let r: CommandResult =
            serde_json::from_str(r#"{"request_id":"a","command":"b","ok":false,"extra":1}"#)
                .unwrap();
        assert_eq!(r.request_id, "a");
        assert!(!r.truncated && r.exit_code.is_none());
    }
}
