//! The hostwatch agent: collectors read the host, the schedule decides what is due, a report
//! leaves through each enabled sink.
//!
//! Linux is the first platform. Everything that parses `/proc` or `/sys` reads through
//! [`HostPaths`], so tests run the real parsers over recorded trees.

pub mod agent;
pub mod collect;
pub mod commands;
pub mod config;
pub mod dump;
pub mod filter;
pub mod job;
pub mod page_out;
pub mod paths;
pub mod run;
pub mod runner;
pub mod schedule;
pub mod sink;
pub mod spool;
pub mod state;

pub use agent::Agent;
/// The config conventions shared with the hub (search order, environment overrides, errors).
pub use hostwatch_config as config_file;
pub use paths::HostPaths;
