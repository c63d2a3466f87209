//! The real `hostwatch` binary, driven as an operator would. One test binary, so the 2-core
//! machine links once.

mod cli;
mod common;
#[cfg(feature = "hub")]
mod hub;
#[cfg(feature = "hub")]
mod loadgen;
#[cfg(feature = "hub")]
mod notify;
#[cfg(feature = "hub")]
mod up;
