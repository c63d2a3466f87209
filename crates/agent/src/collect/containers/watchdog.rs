//! The health watchdog: restart a running container whose health check has failed N times in
//! a row — what Docker's restart policies never do (they react to the process exiting, not to
//! a failing health check). Opt-in, rate-limited per container, and it never touches a
//! container that is not running (stopped, created, paused, restarting: someone meant that).

use crate::config::WatchdogConfig;
use std::collections::{HashMap, HashSet, VecDeque};

const HOUR_MS: i64 = 3_600_000;

/// What the watchdog knows of a container this tick.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub state: &'a str,
    /// `healthy`, `unhealthy`, `starting`; `None` without a health check.
    pub health: Option<&'a str>,
    pub failing_streak: u32,
}

/// The watchdog's verdict on one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Leave it alone: healthy, no health check, not running, or not failing long enough.
    Nothing,
    /// It should be restarted, for this reason.
    Restart(String),
    /// It qualifies, but the cooldown or the hourly cap holds the restart back.
    HeldBack(String),
}

/// Restart history per container id.
#[derive(Debug)]
pub struct Watchdog {
    config: WatchdogConfig,
    restarts: HashMap<String, VecDeque<i64>>,
    /// Containers whose held-back restart was logged, so a long hold logs once.
    held_logged: HashSet<String>,
}

impl Watchdog {
    pub fn new(config: WatchdogConfig) -> Watchdog {
        Watchdog {
            config,
            restarts: HashMap::new(),
            held_logged: HashSet::new(),
        }
    }

    pub fn stop_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.stop_timeout_seconds)
    }

    /// Whether `c` should be restarted at `now_ms`.
    pub fn decide(&mut self, c: &Candidate<'_>, now_ms: i64) -> Decision {
        let failing = c.state == "running"
            && c.health == Some("unhealthy")
            && c.failing_streak >= self.config.failing_streak;
        if !failing {
            self.held_logged.remove(c.id);
            return Decision::Nothing;
        }
        let reason = format!("health check failed {} times in a row", c.failing_streak);
        let history = self.restarts.entry(c.id.to_string()).or_default();
        while history.front().is_some_and(|t| now_ms - t >= HOUR_MS) {
            history.pop_front();
        }
        let cooldown_ms = self.config.cooldown_seconds as i64 * 1000;
        let held = if let Some(last) = history.back().filter(|t| now_ms - **t < cooldown_ms) {
            Some(format!(
                "{reason}; restart held back: cooldown of {} s since the last one ({} s ago)",
                self.config.cooldown_seconds,
                (now_ms - last) / 1000
            ))
        } else if history.len() >= self.config.max_restarts_per_hour as usize {
            Some(format!(
                "{reason}; restart held back: already restarted {} times in the last hour",
                history.len()
            ))
        } else {
            None
        };
        match held {
            Some(why) => {
                if self.held_logged.insert(c.id.to_string()) {
                    tracing::warn!(container = c.name, "{why}");
                }
                Decision::HeldBack(why)
            }
            None => {
                self.held_logged.remove(c.id);
                Decision::Restart(reason)
            }
        }
    }

    /// Records a restart attempt (successful or not: a failing restart is rate-limited too).
    pub fn record(&mut self, id: &str, now_ms: i64) {
        self.restarts
            .entry(id.to_string())
            .or_default()
            .push_back(now_ms);
    }

    /// Forgets containers that no longer exist.
    pub fn retain(&mut self, exists: impl Fn(&str) -> bool) {
        self.restarts.retain(|id, _| exists(id));
        self.held_logged.retain(|id| exists(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dog() -> Watchdog {
        Watchdog::new(WatchdogConfig {
            enabled: true,
            ..WatchdogConfig::default()
        })
    }

    fn unhealthy(streak: u32) -> Candidate<'static> {
        Candidate {
            id: "abc",
            name: "api",
            state: "running",
            health: Some("unhealthy"),
            failing_streak: streak,
        }
    }

    #[test]
    fn restarts_only_at_the_streak() {
        let mut w = dog();
        assert_eq!(w.decide(&unhealthy(2), 0), Decision::Nothing);
        assert_eq!(
            w.decide(&unhealthy(3), 0),
            Decision::Restart("health check failed 3 times in a row".into())
        );
    }

    #[test]
    fn never_touches_what_is_not_running_or_not_unhealthy() {
        let mut w = dog();
        for (state, health) in [
            ("exited", Some("unhealthy")),
            ("paused", Some("unhealthy")),
            ("created", Some("unhealthy")),
            ("restarting", Some("unhealthy")),
            ("running", Some("starting")),
            ("running", Some("healthy")),
            ("running", None),
        ] {
            let c = Candidate {
                state,
                health,
                ..unhealthy(9)
            };
            assert_eq!(w.decide(&c, 0), Decision::Nothing, "{state} {health:?}");
        }
    }

    #[test]
    fn cooldown_then_hourly_cap() {
        let mut w = dog();
        let min = 60_000;
        assert!(matches!(w.decide(&unhealthy(3), 0), Decision::Restart(_)));
        w.record("abc", 0);
        let held = w.decide(&unhealthy(3), 9 * min);
        assert!(
            matches!(&held, Decision::HeldBack(why) if why.contains("cooldown of 600 s")),
            "{held:?}"
        );
        assert!(matches!(
            w.decide(&unhealthy(3), 10 * min),
            Decision::Restart(_)
        ));
        w.record("abc", 10 * min);
        assert!(matches!(
            w.decide(&unhealthy(3), 20 * min),
            Decision::Restart(_)
        ));
        w.record("abc", 20 * min);
        // Three in the last hour: the cap holds even though the cooldown has passed.
        let held = w.decide(&unhealthy(3), 45 * min);
        assert!(
            matches!(&held, Decision::HeldBack(why) if why.contains("3 times in the last hour")),
            "{held:?}"
        );
        // An hour after the first, one slot is free again.
        assert!(matches!(
            w.decide(&unhealthy(3), 60 * min),
            Decision::Restart(_)
        ));
    }
}
