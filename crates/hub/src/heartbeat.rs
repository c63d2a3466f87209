//! The dead-man's switch: a host is `up` while its reports arrive, `late` after two missed
//! intervals, `down` after three (and at least a minute). Reports are the heartbeat, so
//! nothing but their absence is needed to notice a dead host.

use crate::hub::{Hub, now_ms};
use crate::store::{HostStatus, Store};
use std::sync::Arc;
use std::time::Duration;

/// A host is `down` no sooner than this after its last report, however short its interval.
pub const DOWN_AT_LEAST_MS: i64 = 60_000;

/// The status a host should have at `now`, given when it was last heard from and the interval
/// it was told to report at.
pub fn judge(last_seen: Option<i64>, interval_seconds: u32, now: i64) -> HostStatus {
    let Some(last) = last_seen else {
        return HostStatus::New;
    };
    let interval = i64::from(interval_seconds.max(1)) * 1000;
    let silent = now - last;
    if silent >= (3 * interval).max(DOWN_AT_LEAST_MS) {
        HostStatus::Down
    } else if silent >= 2 * interval {
        HostStatus::Late
    } else {
        HostStatus::Up
    }
}

/// Re-judges every host once; records each change as an event. Returns how many changed.
pub async fn check<S: Store>(hub: &Hub<S>, now: i64) -> Result<usize, crate::store::StoreError> {
    let mut changed = 0;
    for host in hub.store.hosts().await? {
        let interval = host
            .expected_interval
            .unwrap_or_else(|| hub.config.interval.for_host(host.interval_seconds));
        let status = judge(host.last_seen, interval, now);
        if status == host.status || status == HostStatus::New {
            continue;
        }
        let silent = host.last_seen.map(|l| (now - l) / 1000).unwrap_or(0);
        let message = match status {
            HostStatus::Up => format!("{} is up", host.name),
            _ => format!(
                "{} is {}: no report for {silent} s (expected every {interval} s)",
                host.name,
                status.as_str()
            ),
        };
        tracing::info!(host = %host.name, status = status.as_str(), "{message}");
        hub.store.set_status(host.id, status, now, message).await?;
        let _ = hub.updates.send(crate::hub::HostUpdate { host: host.id });
        changed += 1;
    }
    Ok(changed)
}

/// Re-judges every `every` until the task is dropped.
pub async fn run<S: Store>(hub: Arc<Hub<S>>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = check(&hub, now_ms()).await {
            tracing::error!(error = %e, "heartbeat check failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_late_down_by_missed_intervals() {
        let t = 1_000_000_000;
        assert_eq!(judge(None, 10, t), HostStatus::New);
        assert_eq!(judge(Some(t), 10, t), HostStatus::Up);
        assert_eq!(judge(Some(t - 19_999), 10, t), HostStatus::Up);
        assert_eq!(judge(Some(t - 20_000), 10, t), HostStatus::Late);
        // 3 × 10 s = 30 s, but down needs at least 60 s of silence.
        assert_eq!(judge(Some(t - 30_000), 10, t), HostStatus::Late);
        assert_eq!(judge(Some(t - 60_000), 10, t), HostStatus::Down);
        // A slow reporter: 3 × 300 s.
        assert_eq!(judge(Some(t - 600_000), 300, t), HostStatus::Late);
        assert_eq!(judge(Some(t - 900_000), 300, t), HostStatus::Down);
    }
}
