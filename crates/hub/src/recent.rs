//! The last hour of a few figures per host, one point a minute, kept in memory as reports
//! arrive: the overview's CPU sparklines and the health score's hourly averages read it.
//!
//! The last hour is not compacted into series chunks yet, so reading it from the store means
//! decoding every report of that hour (360 at a 10 s interval). Done for every host on every
//! score pass, that alone saturated a hub of 10,000 hosts; recording three numbers per report
//! as it is ingested costs nothing. After a restart the rings are filled once from the store
//! ([`backfill`]), so averages are right from the start.

use crate::api::query::Figures;
use crate::hub::{Hub, now_ms};
use crate::store::{HostId, Store};
use hostwatch_proto::Report;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Minutes kept.
pub const MINUTES: usize = 60;
const MINUTE_MS: i64 = 60_000;

/// A figure kept per minute, named by its series (docs/series.md); its discriminant is its
/// slot in a minute's sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// `cpu.busy_pct`
    CpuBusy,
    /// `cpu.steal_pct`
    CpuSteal,
    /// `mem.used_pct`
    MemUsed,
}

impl Figure {
    pub const ALL: [Figure; 3] = [Figure::CpuBusy, Figure::CpuSteal, Figure::MemUsed];

    /// The series this figure is a point of.
    pub fn series(self) -> &'static str {
        match self {
            Figure::CpuBusy => "cpu.busy_pct",
            Figure::CpuSteal => "cpu.steal_pct",
            Figure::MemUsed => "mem.used_pct",
        }
    }

    fn of(self, f: &Figures) -> Option<f64> {
        match self {
            Figure::CpuBusy => f.cpu_busy_pct,
            Figure::CpuSteal => f.cpu_steal_pct,
            Figure::MemUsed => f.memory_used_pct,
        }
    }
}

/// One report's figures, taken before the report is handed to the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    at: i64,
    values: [Option<f64>; 3],
}

impl Sample {
    pub fn of(report: &Report) -> Sample {
        let figures = Figures::of(report);
        Sample {
            at: report.collected_at,
            values: Figure::ALL.map(|f| f.of(&figures).filter(|v| v.is_finite())),
        }
    }
}

/// One minute's running sums, per figure.
#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    start: i64,
    sum: [f64; 3],
    count: [u32; 3],
}

#[derive(Debug, Default)]
struct Ring {
    /// Oldest first.
    minutes: VecDeque<Minute>,
    /// The newest report time recorded, so a report seen twice counts once.
    newest: i64,
}

impl Ring {
    fn minute(&mut self, start: i64) -> &mut Minute {
        let at = match self.minutes.binary_search_by_key(&start, |m| m.start) {
            Ok(i) => i,
            Err(i) => {
                self.minutes.insert(
                    i,
                    Minute {
                        start,
                        ..Minute::default()
                    },
                );
                i
            }
        };
        &mut self.minutes[at]
    }

    fn trim(&mut self) {
        while self.minutes.len() > MINUTES + 1 {
            self.minutes.pop_front();
        }
    }
}

/// Per-host rings of per-minute averages.
#[derive(Debug, Default)]
pub struct Recent {
    rings: Mutex<HashMap<HostId, Ring>>,
}

impl Recent {
    /// Adds an ingested report's figures; a report not newer than what the host has is ignored.
    pub fn record(&self, host: HostId, sample: Sample) {
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let ring = rings.entry(host).or_default();
        if sample.at <= ring.newest {
            return;
        }
        ring.newest = sample.at;
        let minute = ring.minute(sample.at - sample.at.rem_euclid(MINUTE_MS));
        for (i, value) in sample.values.into_iter().enumerate() {
            if let Some(v) = value {
                minute.sum[i] += v;
                minute.count[i] += 1;
            }
        }
        ring.trim();
    }

    /// Adds whole minutes' averages of `figure` (from the stored series) to minutes that have
    /// none of it yet: what arrived live is kept.
    pub fn backfill(&self, host: HostId, figure: Figure, minutes: &[(i64, f64)]) {
        let i = figure as usize;
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let ring = rings.entry(host).or_default();
        for &(at, value) in minutes.iter().filter(|(_, v)| v.is_finite()) {
            let minute = ring.minute(at - at.rem_euclid(MINUTE_MS));
            if minute.count[i] == 0 {
                minute.sum[i] = value;
                minute.count[i] = 1;
            }
        }
        ring.trim();
    }

    /// `figure`'s minute averages over the hour up to `now_ms`, oldest first.
    pub fn points(&self, host: HostId, figure: Figure, now_ms: i64) -> Vec<(i64, f64)> {
        let i = figure as usize;
        let since = now_ms - MINUTES as i64 * MINUTE_MS;
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings
            .get(&host)
            .map(|r| {
                r.minutes
                    .iter()
                    .filter(|m| m.start >= since && m.count[i] > 0)
                    .map(|m| (m.start, m.sum[i] / f64::from(m.count[i])))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `figure`'s average over the hour up to `now_ms`, each sample weighing the same;
    /// `None` without any.
    pub fn mean(&self, host: HostId, figure: Figure, now_ms: i64) -> Option<f64> {
        let i = figure as usize;
        let since = now_ms - MINUTES as i64 * MINUTE_MS;
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let (sum, n) = rings
            .get(&host)?
            .minutes
            .iter()
            .filter(|m| m.start >= since)
            .fold((0.0, 0u64), |(s, n), m| {
                (s + m.sum[i], n + u64::from(m.count[i]))
            });
        (n > 0).then(|| sum / n as f64)
    }
}

/// Fills every host's rings with its last hour from the store, once when the hub starts: the
/// minute rollups compacted so far, then one uncompacted report a minute (decoding all of
/// them, for 10,000 hosts, would keep a core busy for minutes while agents reconnect).
pub async fn backfill<S: Store>(hub: Arc<Hub<S>>) {
    use hostwatch_tsdb::{RangeQuery, Resolution};
    let Ok(hosts) = hub.store.hosts().await else {
        return;
    };
    let to = now_ms();
    let from = to - MINUTES as i64 * MINUTE_MS;
    for host in hosts {
        let Ok(mut queries) = Figure::ALL
            .map(|_| RangeQuery::new(from, to, Resolution::Minute, MINUTES + 1))
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
        else {
            return;
        };
        for (figure, q) in Figure::ALL.into_iter().zip(&mut queries) {
            if let Ok(chunks) = hub
                .store
                .chunks(host.id, figure.series().into(), 60, from, to)
                .await
            {
                for c in chunks {
                    let _ = q.add_chunk(&c.data);
                }
            }
        }
        if let Ok(pending) = hub
            .store
            .pending_samples(host.id, from, to, MINUTE_MS)
            .await
        {
            let mut samples = Figure::ALL.map(|_| (Vec::new(), Vec::new()));
            for r in pending {
                let figures = Figures::of(&r);
                for (figure, (ts, vs)) in Figure::ALL.into_iter().zip(&mut samples) {
                    if let Some(v) = figure.of(&figures) {
                        ts.push(r.collected_at);
                        vs.push(v);
                    }
                }
            }
            for (q, (ts, vs)) in queries.iter_mut().zip(&samples) {
                q.add_samples(ts, vs);
            }
        }
        for (figure, q) in Figure::ALL.into_iter().zip(queries) {
            let points: Vec<(i64, f64)> =
                q.finish().points.iter().map(|p| (p.ts_ms, p.avg)).collect();
            hub.recent.backfill(host.id, figure, &points);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(at: i64, busy: f64, steal: f64, mem: f64) -> Report {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proto/tests/fixtures/report-v1-full.json"
        );
        let mut r = Report::from_json(&std::fs::read(path).unwrap()).unwrap();
        r.collected_at = at;
        if let Some(hostwatch_proto::Section::Ok(c)) = &mut r.sections.cpu {
            let usage = c.usage.as_mut().expect("the golden report has rates");
            usage.busy_pct = busy;
            usage.steal_pct = steal;
        }
        if let Some(hostwatch_proto::Section::Ok(m)) = &mut r.sections.memory {
            m.used_pct = mem;
        }
        r
    }

    const T0: i64 = 1_700_000_040_000 - 1_700_000_040_000 % MINUTE_MS;

    #[test]
    fn samples_average_per_minute_and_a_report_seen_twice_counts_once() {
        let recent = Recent::default();
        recent.record(1, Sample::of(&report(T0 + 1_000, 10.0, 1.0, 40.0)));
        recent.record(1, Sample::of(&report(T0 + 11_000, 30.0, 3.0, 60.0)));
        recent.record(1, Sample::of(&report(T0 + 11_000, 99.0, 99.0, 99.0))); // the same report again
        recent.record(1, Sample::of(&report(T0 + 61_000, 50.0, 8.0, 50.0)));
        let now = T0 + 120_000;
        assert_eq!(
            recent.points(1, Figure::CpuBusy, now),
            vec![(T0, 20.0), (T0 + 60_000, 50.0)]
        );
        // The hour's mean weighs every sample alike, not every minute.
        assert_eq!(recent.mean(1, Figure::CpuBusy, now), Some(30.0));
        assert_eq!(recent.mean(1, Figure::CpuSteal, now), Some(4.0));
        assert_eq!(recent.mean(1, Figure::MemUsed, now), Some(50.0));
        assert!(recent.points(2, Figure::CpuBusy, now).is_empty());
        assert_eq!(recent.mean(2, Figure::CpuBusy, now), None);
        // An hour later the old minutes are out of the window.
        assert!(
            recent
                .points(1, Figure::CpuBusy, T0 + 2 * 3_600_000)
                .is_empty()
        );
        assert_eq!(recent.mean(1, Figure::MemUsed, T0 + 2 * 3_600_000), None);
    }

    #[test]
    fn backfill_fills_minutes_without_live_samples_only() {
        let recent = Recent::default();
        recent.record(7, Sample::of(&report(T0 + 120_000, 80.0, 0.0, 10.0)));
        recent.backfill(
            7,
            Figure::CpuBusy,
            &[(T0, 5.0), (T0 + 60_000, 6.0), (T0 + 120_000, 1.0)],
        );
        let busy: Vec<f64> = recent
            .points(7, Figure::CpuBusy, T0 + 180_000)
            .iter()
            .map(|p| p.1)
            .collect();
        assert_eq!(busy, vec![5.0, 6.0, 80.0]);
        // The other figures have only the live minute.
        assert_eq!(recent.points(7, Figure::MemUsed, T0 + 180_000).len(), 1);
        // A report older than the newest recorded is ignored.
        recent.record(7, Sample::of(&report(T0 + 60_500, 100.0, 0.0, 10.0)));
        assert_eq!(recent.points(7, Figure::CpuBusy, T0 + 180_000)[1].1, 6.0);
    }
}
