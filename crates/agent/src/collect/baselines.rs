//! The previous read of each device, for rates between two reads — the mechanism the disks and
//! network collectors share.
//!
//! A device seen for the first time (or under a new identity, e.g. a disk re-created with
//! another major:minor) has no baseline, so no rate that tick; whether it is reported at all is
//! decided once, on first sight, so the filter and any sysfs lookup behind it cost nothing on
//! later ticks. A device missing from a read is forgotten.

use std::collections::HashMap;
use std::time::Instant;

/// Per device name: its identity, whether it is reported, its last counters.
#[derive(Debug)]
pub struct Baselines<C, Id> {
    known: HashMap<String, Known<C, Id>>,
    previous_at: Option<Instant>,
    elapsed_seconds: Option<f64>,
    tick: u64,
}

#[derive(Debug)]
struct Known<C, Id> {
    id: Id,
    reported: bool,
    counters: C,
    last_seen_tick: u64,
}

/// What [`Baselines::observe`] says about a device in this read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observed<C> {
    /// Filtered out.
    Hidden,
    /// Reported; with the previous read's counters and the seconds since, when there is one.
    Shown { baseline: Option<(C, f64)> },
}

impl<C: Copy, Id: PartialEq> Default for Baselines<C, Id> {
    fn default() -> Self {
        Baselines {
            known: HashMap::new(),
            previous_at: None,
            elapsed_seconds: None,
            tick: 0,
        }
    }
}

impl<C: Copy, Id: PartialEq> Baselines<C, Id> {
    /// Starts a read taken at `now`.
    pub fn begin(&mut self, now: Instant) {
        self.tick += 1;
        self.elapsed_seconds = self
            .previous_at
            .map(|at| now.saturating_duration_since(at).as_secs_f64());
        self.previous_at = Some(now);
    }

    /// Records this read's `counters` of device `name`, known by `id`. `report` decides, on
    /// first sight only, whether the device is reported.
    pub fn observe(
        &mut self,
        name: &str,
        id: Id,
        counters: C,
        report: impl FnOnce() -> bool,
    ) -> Observed<C> {
        let tick = self.tick;
        match self.known.get_mut(name) {
            Some(known) if known.id == id => {
                let previous = known.counters;
                known.counters = counters;
                known.last_seen_tick = tick;
                if !known.reported {
                    return Observed::Hidden;
                }
                Observed::Shown {
                    baseline: self.elapsed_seconds.map(|e| (previous, e)),
                }
            }
            _ => {
                let reported = report();
                let known = Known {
                    id,
                    reported,
                    counters,
                    last_seen_tick: tick,
                };
                self.known.insert(name.to_string(), known);
                if reported {
                    Observed::Shown { baseline: None }
                } else {
                    Observed::Hidden
                }
            }
        }
    }

    /// Ends a read of every device: those it did not contain are forgotten. A read of only some
    /// devices (the disks' own files between two listings) does not call it, so the others
    /// keep their decision until the next whole read.
    pub fn finish(&mut self) {
        let tick = self.tick;
        self.known.retain(|_, k| k.last_seen_tick == tick);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_sight_new_identity_and_vanishing_devices_have_no_baseline() {
        let mut b: Baselines<u64, u32> = Baselines::default();
        let t0 = Instant::now();
        let mut decided = 0;
        b.begin(t0);
        assert_eq!(
            b.observe("sda", 1, 10, || {
                decided += 1;
                true
            }),
            Observed::Shown { baseline: None }
        );
        assert_eq!(
            b.observe("loop0", 2, 5, || {
                decided += 1;
                false
            }),
            Observed::Hidden
        );
        b.finish();

        b.begin(t0 + Duration::from_secs(10));
        assert_eq!(
            b.observe("sda", 1, 30, || unreachable!("decided once")),
            Observed::Shown {
                baseline: Some((10, 10.0))
            }
        );
        assert_eq!(
            b.observe("loop0", 2, 6, || unreachable!("decided once")),
            Observed::Hidden
        );
        // sdb appears; sda is re-created under another identity.
        assert_eq!(
            b.observe("sdb", 3, 1, || true),
            Observed::Shown { baseline: None }
        );
        b.finish();
        assert_eq!(decided, 2);

        b.begin(t0 + Duration::from_secs(20));
        assert_eq!(
            b.observe("sda", 9, 0, || true),
            Observed::Shown { baseline: None }
        );
        b.finish(); // sdb and loop0 were not seen: forgotten.
        b.begin(t0 + Duration::from_secs(30));
        assert_eq!(
            b.observe("sdb", 3, 2, || true),
            Observed::Shown { baseline: None }
        );
    }
}
