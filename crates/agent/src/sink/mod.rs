//! Sinks: where a report goes once collected.

pub mod exposition;
pub mod prometheus;
pub mod stdout;
