//! The agent's integration tests: one binary, so the 2-core machine links once.

mod containers;
mod fakedocker;
mod fakehub;
mod hub;
mod logcapture;
mod prometheus;
