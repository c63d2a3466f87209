//! The hostwatch hub: receives every host's reports (the report is the heartbeat), stores them
//! durably, tracks which hosts are up, late or down, and answers queries.

pub mod alert;
pub mod api;
pub mod audit;
pub mod commands;
pub mod compact;
pub mod config;
pub mod container_events;
pub mod digest;
pub mod enrol;
pub mod heartbeat;
pub mod history;
pub mod hub;
pub mod notice;
pub mod notify;
pub mod rate;
pub mod recent;
pub mod score;
pub mod series;
pub mod serve;
pub mod store;
pub mod token;
pub mod trend;
pub mod web;

pub use hub::Hub;
