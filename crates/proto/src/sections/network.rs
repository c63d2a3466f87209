use serde::{Deserialize, Serialize};

/// Network interfaces from `/proc/net/dev`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Network {
    pub interfaces: Vec<Interface>,
}

/// One interface: counters since it appeared, and rates over the last interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub rx_bytes_total: u64,
    pub tx_bytes_total: u64,
    pub rx_packets_total: u64,
    pub tx_packets_total: u64,
    pub rx_errors_total: u64,
    pub tx_errors_total: u64,
    pub rx_drops_total: u64,
    pub tx_drops_total: u64,
    /// Absent on the first read, and after a counter went backwards (interface re-created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rates: Option<InterfaceRates>,
}

/// Per-second rates over the last interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InterfaceRates {
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
    pub rx_packets_per_sec: f64,
    pub tx_packets_per_sec: f64,
    pub rx_errors_per_sec: f64,
    pub tx_errors_per_sec: f64,
    pub rx_drops_per_sec: f64,
    pub tx_drops_per_sec: f64,
}
