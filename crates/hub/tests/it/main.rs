//! The hub's integration tests, over the real HTTP stack on loopback. One binary.

mod compact;
mod harness;
mod ingest;
mod logcapture;
mod store;
mod web;
