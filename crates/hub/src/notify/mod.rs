//! Notifications: routing alerts to channels by severity, labels and host tags; grouping
//! them so a burst is one message; repeating what still fires; retrying; and a delivery log.
//! The alert engine and the digest reach it only through [`crate::notice::Notifier`].

pub mod channel;
pub mod config;
pub mod delivery;
pub mod dispatcher;
pub mod grouping;
pub mod message;
pub mod quiet;
pub mod routing;

pub use config::NotifyConfig;
pub use dispatcher::{Dispatcher, NotifyError, run, send_test};
