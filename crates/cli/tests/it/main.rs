//! The real `hostwatch` binary, driven as an operator would. One test binary, so the 2-core
//! machine links once.

#[cfg(feature = "hub")]
mod alerts_e2e;
#[cfg(feature = "hub")]
mod browser;
mod cli;
mod common;
mod containers;
#[cfg(feature = "hub")]
mod digest;
#[cfg(feature = "hub")]
mod hub;
#[cfg(feature = "hub")]
mod hub_commands;
#[cfg(feature = "hub")]
mod loadgen;
// The agent tests' Mosquitto harness, shared rather than copied.
#[path = "../../../agent/tests/it/mosquitto.rs"]
mod mosquitto;
mod mqtt;
#[cfg(feature = "hub")]
mod notify;
#[cfg(feature = "hub")]
mod up;
#[cfg(feature = "hub")]
mod users;
