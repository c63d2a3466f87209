use serde::{Deserialize, Serialize};

/// systemd: the configured units, and the failed units of the whole system. Absent on hosts
/// without systemd.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Systemd {
    /// The units the configuration names or whose patterns match, sorted by name.
    pub units: Vec<SystemdUnit>,
    /// Units in the `failed` state, all of the system's, configured or not.
    pub failed_units: u32,
    /// Their names, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_unit_names: Vec<String>,
}

/// One unit's state, as `systemctl show` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemdUnit {
    /// e.g. `cloudflared.service`.
    pub name: String,
    /// `loaded`, `not-found`, `masked`, `bad-setting`, `error`…
    pub load_state: String,
    /// `active`, `inactive`, `failed`, `activating`, `deactivating`, `reloading`…
    pub active_state: String,
    /// The unit type's own state: `running`, `exited`, `dead`, `auto-restart`, `failed`…
    pub sub_state: String,
    /// Automatic restarts since the unit was last started by hand (`NRestarts`; services only,
    /// systemd ≥ 235).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
    /// When the unit last entered the active state, unix ms; absent if it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_since: Option<i64>,
    /// Memory its cgroup uses now (`MemoryCurrent`), when accounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// The configuration expects it active: a unit expected active that is not is alerted on.
    pub expected_active: bool,
}

impl SystemdUnit {
    /// Whether the unit is up: `active`, or `reloading` (which is active, re-reading its
    /// configuration).
    pub fn is_active(&self) -> bool {
        matches!(self.active_state.as_str(), "active" | "reloading")
    }
}
