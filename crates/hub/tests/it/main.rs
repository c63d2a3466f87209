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
// Shared with the other crates' integration tests: one capture, one behaviour.
#[path = "../../../../tests/support/logcapture.rs"]
mod logcapture;
pub(crate) mod notify;
mod notify_email;
mod store;
mod web;
mod web_panels;
