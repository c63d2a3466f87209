//! The shape every integration section shares: a list of items (containers, pools, disks,
//! guests…), each named by the same labels in every family it appears in.

use crate::sink::exposition::{Exposition, Kind};
use std::collections::BTreeSet;

/// A label set whose values come from the report.
pub(super) type Labels = Vec<(&'static str, String)>;

/// A section's items with their label sets, built once and shared by the section's families,
/// so an item carries the same identity everywhere. An item whose labels repeat an earlier
/// one's is dropped: a duplicate series would make Prometheus reject the samples.
pub(super) struct Rows<'a, T> {
    rows: Vec<(&'a T, Labels)>,
}

impl<'a, T> Rows<'a, T> {
    pub(super) fn new(
        items: impl IntoIterator<Item = &'a T>,
        labels: impl Fn(&T) -> Labels,
    ) -> Self {
        Self::from_rows(items.into_iter().map(|item| (item, labels(item))))
    }

    pub(super) fn from_rows(rows: impl IntoIterator<Item = (&'a T, Labels)>) -> Self {
        let mut seen = BTreeSet::new();
        Rows {
            rows: rows
                .into_iter()
                .filter(|(_, labels)| seen.insert(labels.clone()))
                .collect(),
        }
    }

    /// Whether any item has a value, i.e. whether a family would have samples.
    pub(super) fn any(&self, value: impl Fn(&T) -> Option<f64>) -> bool {
        self.rows.iter().any(|(item, _)| value(item).is_some())
    }

    /// One sample per item that has a value, into the family already started.
    pub(super) fn samples(
        &self,
        e: &mut Exposition,
        name: &str,
        value: impl Fn(&T) -> Option<f64>,
    ) {
        for (item, labels) in &self.rows {
            if let Some(v) = value(item) {
                sample(e, name, labels, &[], v);
            }
        }
    }

    /// A family with one sample per item that has a value; absent when none has one, so no
    /// family is ever written without samples.
    pub(super) fn family(
        &self,
        e: &mut Exposition,
        name: &str,
        kind: Kind,
        help: &str,
        value: impl Fn(&T) -> Option<f64>,
    ) {
        if self.any(&value) {
            e.family(name, kind, help);
            self.samples(e, name, value);
        }
    }

    /// A family with several samples per item, told apart by one more label (an error's
    /// type, a temperature's kind).
    pub(super) fn family_by(
        &self,
        e: &mut Exposition,
        name: &str,
        kind: Kind,
        help: &str,
        label: &str,
        values: impl Fn(&T) -> Vec<(&'static str, f64)>,
    ) {
        let mut started = false;
        for (item, labels) in &self.rows {
            for (extra, v) in values(item) {
                if !started {
                    e.family(name, kind, help);
                    started = true;
                }
                sample(e, name, labels, &[(label, extra)], v);
            }
        }
    }

    /// A state set, as node_exporter writes them (`node_zfs_zpool_state`,
    /// `node_systemd_unit_state`): per item one sample for each known state, 1 for the current
    /// one and 0 for the others. A current state outside the known ones gets a sample of its
    /// own, so it is never lost. States compare without regard to ASCII case and are written
    /// in lower case.
    pub(super) fn state_set(
        &self,
        e: &mut Exposition,
        name: &str,
        help: &str,
        states: &[&str],
        current: impl Fn(&T) -> Option<&str>,
    ) {
        let mut started = false;
        for (item, labels) in &self.rows {
            let Some(now) = current(item) else { continue };
            if !started {
                e.family(name, Kind::Gauge, help);
                started = true;
            }
            for &state in states {
                let v = flag(now.eq_ignore_ascii_case(state));
                sample(e, name, labels, &[("state", state)], v);
            }
            if !states.iter().any(|s| now.eq_ignore_ascii_case(s)) {
                let other = now.to_ascii_lowercase();
                sample(e, name, labels, &[("state", other.as_str())], 1.0);
            }
        }
    }
}

/// One sample: the item's labels, then the extra ones.
fn sample(e: &mut Exposition, name: &str, labels: &Labels, extra: &[(&str, &str)], v: f64) {
    let all: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra.iter().copied())
        .collect();
    e.sample(name, &all, v);
}

/// An `_info` family: one sample of 1 per item, the identity and descriptive labels its
/// other families leave out.
pub(super) fn info<'a, T>(
    e: &mut Exposition,
    name: &str,
    help: &str,
    items: impl IntoIterator<Item = &'a T>,
    labels: impl Fn(&T) -> Labels,
) where
    T: 'a,
{
    let rows = Rows::new(items, labels);
    rows.family(e, name, Kind::Gauge, help, |_| Some(1.0));
}

/// 1 for true, 0 for false.
pub(super) fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// Unix milliseconds as the unix seconds Prometheus timestamps are.
pub(super) fn unix_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
