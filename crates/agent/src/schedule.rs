//! Which tiers are due on a tick.
//!
//! The loop ticks at the fast interval; the medium and slow tiers ride along on the first fast
//! tick at or after their own interval, so every report is one consistent snapshot and the
//! agent wakes up once per fast interval, never more.

use crate::config::TierIntervals;
use hostwatch_proto::Tier;
use std::time::{Duration, Instant};

/// Tracks when each tier last ran.
#[derive(Debug, Clone)]
pub struct Schedule {
    intervals: [Duration; 3],
    last: [Option<Instant>; 3],
}

fn index(t: Tier) -> usize {
    match t {
        Tier::Fast => 0,
        Tier::Medium => 1,
        Tier::Slow => 2,
    }
}

impl Schedule {
    pub fn new(intervals: &TierIntervals) -> Self {
        Schedule {
            intervals: Tier::ALL.map(|t| Duration::from_secs(intervals.seconds(t))),
            last: [None; 3],
        }
    }

    /// The tick interval.
    pub fn fast_interval(&self) -> Duration {
        self.intervals[0]
    }

    /// Changes the fast interval (the hub's envelope may ask for another), keeping the
    /// slower tiers at least as slow.
    pub fn set_fast_interval(&mut self, fast: Duration) {
        self.intervals[0] = fast;
        for i in 1..3 {
            self.intervals[i] = self.intervals[i].max(fast);
        }
    }

    /// The tiers due at `now`, which are then counted as run. The first call returns all.
    ///
    /// A tier counts as due half a tick early, so timer jitter never pushes it a whole fast
    /// interval late.
    pub fn due(&mut self, now: Instant) -> Vec<Tier> {
        let slack = self.intervals[0] / 2;
        let mut due = Vec::with_capacity(3);
        for tier in Tier::ALL {
            let i = index(tier);
            let is_due = match self.last[i] {
                None => true,
                Some(last) => tier == Tier::Fast || now + slack >= last + self.intervals[i],
            };
            if is_due {
                self.last[i] = Some(now);
                due.push(tier);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_tick_runs_everything_then_tiers_follow_their_intervals() {
        let mut s = Schedule::new(&TierIntervals {
            fast: 10,
            medium: 30,
            slow: 60,
        });
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(s.due(t0), vec![Tier::Fast, Tier::Medium, Tier::Slow]);
        assert_eq!(s.due(at(10)), vec![Tier::Fast]);
        assert_eq!(s.due(at(20)), vec![Tier::Fast]);
        assert_eq!(s.due(at(30)), vec![Tier::Fast, Tier::Medium]);
        assert_eq!(s.due(at(40)), vec![Tier::Fast]);
        assert_eq!(s.due(at(50)), vec![Tier::Fast]);
        assert_eq!(s.due(at(60)), vec![Tier::Fast, Tier::Medium, Tier::Slow]);
    }

    #[test]
    fn jitter_does_not_delay_a_tier_by_a_whole_tick() {
        let mut s = Schedule::new(&TierIntervals {
            fast: 10,
            medium: 30,
            slow: 60,
        });
        let t0 = Instant::now();
        s.due(t0);
        // The tick that should carry the medium tier fires a little early.
        let early = t0 + Duration::from_millis(29_990);
        assert_eq!(s.due(early), vec![Tier::Fast, Tier::Medium]);
    }

    #[test]
    fn a_faster_interval_keeps_slower_tiers_ordered() {
        let mut s = Schedule::new(&TierIntervals {
            fast: 10,
            medium: 30,
            slow: 60,
        });
        s.set_fast_interval(Duration::from_secs(120));
        assert_eq!(s.fast_interval(), Duration::from_secs(120));
        let t0 = Instant::now();
        s.due(t0);
        // Every tier is due on every tick now, since none may be faster than the tick.
        assert_eq!(
            s.due(t0 + Duration::from_secs(120)),
            vec![Tier::Fast, Tier::Medium, Tier::Slow]
        );
    }
}
