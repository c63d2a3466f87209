//! The hub's integration tests, over the real HTTP stack on loopback. One binary.

mod alerts;
mod audit;
mod commands;
mod compact;
mod containers;
mod harness;
mod history;
mod ingest;
mod insight;
// The agent's, shared rather than copied: one capture, one behaviour.
#[path = "../../../agent/tests/it/logcapture.rs"]
mod logcapture;
pub(crate) mod notify;
mod notify_email;
mod store;
mod web;
mod web_panels;
