//! The hostwatch hub: receives every host's reports (the report is the heartbeat), stores them
//! durably, tracks which hosts are up, late or down, and answers queries.

pub mod api;
pub mod compact;
pub mod config;
pub mod enrol;
pub mod heartbeat;
pub mod hub;
pub mod notice;
pub mod rate;
pub mod series;
pub mod serve;
pub mod store;
pub mod token;
pub mod web;

pub use hub::Hub;
