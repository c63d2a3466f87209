//! Sinks: where a report goes once collected.

pub mod exposition;
pub mod hub;
pub mod mqtt;
pub mod prometheus;
pub mod stdout;
