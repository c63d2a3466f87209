//! The hub's reply to a report.

use serde::{Deserialize, Serialize};

/// What the hub tells an agent after accepting its report(s), with the commands waiting for
/// the host (a field older agents simply ignore).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The fast-tier interval the agent should use from now on, in seconds (already clamped by the hub).
    pub interval_seconds: u32,
    /// The hub's clock when it answered, unix milliseconds; lets the agent notice clock skew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<i64>,
    /// Documents of the request newly stored.
    #[serde(default)]
    pub accepted: u32,
    /// Documents of the request the hub already had (a retry); acknowledged, not stored again.
    #[serde(default)]
    pub duplicates: u32,
    /// Commands an admin queued for this host, signed by the hub; each is sent once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<crate::SignedCommand>,
}
