//! The real `hostwatch` binary, driven as an operator would. One test binary, so the 2-core
//! machine links once.

#[cfg(feature = "hub")]
mod browser;
mod cli;
mod common;
#[cfg(feature = "hub")]
mod hub;
#[cfg(feature = "hub")]
mod loadgen;
#[cfg(feature = "hub")]
mod up;
#[cfg(feature = "hub")]
mod users;
