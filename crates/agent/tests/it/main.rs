//! The agent's integration tests: one binary, so the 2-core machine links once.

mod audit_forward;
mod checks;
mod containers;
mod fakedocker;
mod fakehub;
mod hub;
mod logcapture;
mod mosquitto;
mod mqtt;
mod prometheus;
mod proxmox_api;
mod systemd;
