//! Delivering one message through one channel: retries with exponential backoff and jitter
//! for what may succeed later (5xx, timeouts, lost connections, 429 after its `Retry-After`),
//! none for a request the service refused (other 4xx); then one entry in the delivery log.

use super::channel::{Channel, Retry};
use super::message::Message;
use crate::store::{DeliveredAlert, Delivery, DeliveryStatus, Store};
use std::time::Duration;

/// The log keeps at most this many entries, whatever their age.
pub const LOG_MAX_ENTRIES: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub backoff: Duration,
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `n + 1` after `n` failed: `backoff × 2^(n-1)`, capped, with
    /// jitter (a random half to all of it) so many hubs do not retry in step.
    pub fn delay(&self, failed: u32) -> Duration {
        let exp = self
            .backoff
            .saturating_mul(1u32 << failed.saturating_sub(1).min(20))
            .min(self.backoff_max);
        exp.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub delivered: bool,
    pub attempts: u32,
    /// The last attempt's error, scrubbed of secrets.
    pub error: Option<String>,
}

/// Sends `message`, retrying as `policy` allows.
pub async fn deliver(channel: &Channel, message: &Message, policy: &RetryPolicy) -> Outcome {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match channel.send(message).await {
            Ok(()) => {
                return Outcome {
                    delivered: true,
                    attempts,
                    error: None,
                };
            }
            Err(e) => {
                let wait = match e.retry {
                    Retry::Later(_) if attempts >= policy.attempts => None,
                    Retry::Never => None,
                    // A rate limit's own wait, within reason.
                    Retry::Later(Some(after)) => Some(after.min(policy.backoff_max)),
                    Retry::Later(None) => Some(policy.delay(attempts)),
                };
                let Some(wait) = wait else {
                    tracing::warn!(
                        channel = %channel.name,
                        attempts,
                        error = %e.message,
                        "notification not delivered"
                    );
                    return Outcome {
                        delivered: false,
                        attempts,
                        error: Some(e.message),
                    };
                };
                tracing::info!(
                    channel = %channel.name,
                    attempt = attempts,
                    error = %e.message,
                    retry_in_ms = wait.as_millis() as u64,
                    "notification attempt failed; retrying"
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Writes the delivery log entry for one message.
pub async fn log<S: Store>(
    store: &S,
    channel: &Channel,
    message: &Message,
    outcome: &Outcome,
    now: i64,
    keep_days: u32,
) {
    let entry = Delivery {
        id: 0,
        at: now,
        channel: channel.name.clone(),
        kind: message.kind.as_str().to_string(),
        title: channel.redact(&message.title),
        alerts: message
            .alerts
            .iter()
            .map(|n| DeliveredAlert {
                fingerprint: n.fingerprint.clone(),
                rule: n.rule.clone(),
                host: n.host.clone(),
                state: n.state,
                severity: n.severity,
            })
            .collect(),
        status: if outcome.delivered {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Failed
        },
        attempts: outcome.attempts,
        error: outcome.error.clone(),
    };
    let keep_since = now - i64::from(keep_days) * crate::store::DAY_MS;
    if let Err(e) = store
        .record_delivery(entry, keep_since, LOG_MAX_ENTRIES)
        .await
    {
        tracing::error!(error = %e, channel = %channel.name, "cannot write the delivery log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            backoff: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
        };
        for _ in 0..50 {
            let first = p.delay(1);
            assert!(
                first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
                "{first:?}"
            );
            let third = p.delay(3);
            assert!(
                third >= Duration::from_secs(4) && third <= Duration::from_secs(8),
                "{third:?}"
            );
            let late = p.delay(30);
            assert!(
                late >= Duration::from_secs(30) && late <= Duration::from_secs(60),
                "{late:?}"
            );
        }
    }
}
