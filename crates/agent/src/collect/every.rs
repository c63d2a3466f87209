//! Work a collector does at most once per period of the clock, not on every tick: listing a
//! class directory to notice hot-plug, rediscovering a layout. By the clock rather than by a
//! count of reads, so the period holds whatever the collector's tier interval.

use std::time::{Duration, Instant};

/// When something periodic was last done, and how often it is due.
#[derive(Debug)]
pub struct Every {
    period: Duration,
    last: Option<Instant>,
}

impl Every {
    pub const fn new(period: Duration) -> Every {
        Every { period, last: None }
    }

    /// Due at `now`: never done, asked for again, or done `period` ago or longer.
    pub fn is_due(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|at| now.saturating_duration_since(at) >= self.period)
    }

    /// It was done at `now`.
    pub fn done(&mut self, now: Instant) {
        self.last = Some(now);
    }

    /// Due on the next check, whenever it was last done (something it would notice happened).
    pub fn now_due(&mut self) {
        self.last = None;
    }

    /// When it was last done; `None` before the first time or once asked for again.
    pub fn last(&self) -> Option<Instant> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_first_then_once_per_period_and_whenever_asked() {
        let mut listing = Every::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |seconds| t0 + Duration::from_secs(seconds);
        assert!(listing.is_due(t0), "never done");
        listing.done(t0);
        assert!(!listing.is_due(at(59)));
        assert!(listing.is_due(at(60)));
        listing.done(at(60));
        listing.now_due();
        assert!(listing.is_due(at(61)), "asked for again");
        assert_eq!(listing.last(), None);
    }
}
