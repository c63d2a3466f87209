//! Sinks: where a report goes.
