//! The fleet overview (`/`): one row per host with its key figures, problems first.
//!
//! The page is built from three in-memory or single-query sources — the host list, every
//! host's latest state (`Store::latest_all`) and the sparkline rings — so its cost grows with
//! the fleet only by formatting, and the browser makes no request per host.

use super::format::{self, pct};
use super::{Viewer, render, require};
use crate::api::query::Figures;
use crate::hub::{Hub, now_ms};
use crate::store::{Host, HostId, HostStatus, Role, Store};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// One figure as shown: its text, a severity class, and a value to sort by.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    /// `""`, `warn` or `crit`.
    pub class: &'static str,
    pub sort: Option<f64>,
}

impl Cell {
    fn pct(v: Option<f64>, warn: f64, crit: f64) -> Cell {
        Cell {
            text: pct(v),
            class: level(v, warn, crit),
            sort: v,
        }
    }
}

/// A health score's colour: `crit` below [`SCORE_CRIT`], `warn` below [`SCORE_WARN`].
pub fn score_class(score: Option<f64>) -> &'static str {
    match score {
        Some(s) if s < SCORE_CRIT => "crit",
        Some(s) if s < SCORE_WARN => "warn",
        _ => "",
    }
}

/// Scores below this are a problem (ranked with critical figures).
pub const SCORE_CRIT: f64 = 50.0;
/// Scores below this deserve a look (ranked with warnings).
pub const SCORE_WARN: f64 = 75.0;

fn level(v: Option<f64>, warn: f64, crit: f64) -> &'static str {
    match v {
        Some(v) if v >= crit => "crit",
        Some(v) if v >= warn => "warn",
        _ => "",
    }
}

/// A host's row on the overview. `open_alerts` and `score` come from the alert engine and
/// the health score once those are wired in; `None` hides their columns.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub status: HostStatus,
    pub last_seen: Option<i64>,
    pub seen: String,
    pub cpu: Cell,
    pub steal: Cell,
    pub memory: Cell,
    pub swap: Cell,
    pub disk: Cell,
    pub disk_mount: String,
    pub load: Cell,
    pub uptime: Cell,
    pub tags: Vec<String>,
    /// Inline SVG of the last hour's CPU.
    pub spark: String,
    pub open_alerts: Option<u32>,
    /// Of `open_alerts`: how many are critical (the rest are warnings).
    pub critical_alerts: u32,
    pub score: Option<f64>,
    /// 0 (worst) … 4 (fine): problems float to the top.
    pub rank: u8,
}

impl Row {
    pub fn build(host: &Host, figures: &Figures, spark: String, now: i64) -> Row {
        let f = figures;
        let cpu = Cell::pct(f.cpu_busy_pct, 80.0, 95.0);
        let steal = Cell::pct(f.cpu_steal_pct, 5.0, 20.0);
        let memory = Cell::pct(f.memory_used_pct, 85.0, 95.0);
        let swap = Cell::pct(f.swap_used_pct, 50.0, 90.0);
        let disk = Cell::pct(f.fullest_used_pct, 85.0, 95.0);
        let load = Cell {
            text: format::num2(f.load1_per_core),
            class: level(f.load1_per_core, 1.5, 3.0),
            sort: f.load1_per_core,
        };
        let uptime = Cell {
            text: f.uptime_seconds.map_or("—".into(), format::duration),
            class: "",
            sort: f.uptime_seconds,
        };
        let hot = [&cpu, &steal, &memory, &swap, &disk, &load];
        let rank = match host.status {
            HostStatus::Down => 0,
            HostStatus::Late => 1,
            _ if hot.iter().any(|c| c.class == "crit") => 2,
            _ if hot.iter().any(|c| c.class == "warn") => 3,
            HostStatus::New => 3,
            HostStatus::Up => 4,
        };
        Row {
            name: host.name.clone(),
            status: host.status,
            last_seen: host.last_seen,
            seen: format::ago(host.last_seen, now),
            cpu,
            steal,
            memory,
            swap,
            disk,
            disk_mount: f.fullest_mount.clone().unwrap_or_default(),
            load,
            uptime,
            tags: host.tags.clone(),
            spark,
            open_alerts: None,
            critical_alerts: 0,
            score: None,
            rank,
        }
    }

    /// Open alerts that are not critical.
    pub fn warning_alerts(&self) -> u32 {
        self.open_alerts
            .unwrap_or(0)
            .saturating_sub(self.critical_alerts)
    }

    /// `crit` with a critical alert open, `warn` with only warnings, else `""`.
    pub fn alerts_class(&self) -> &'static str {
        match self.open_alerts {
            Some(_) if self.critical_alerts > 0 => "crit",
            Some(n) if n > 0 => "warn",
            _ => "",
        }
    }

    /// `crit` below 50, `warn` below 75 (a host that lost a quarter of its points).
    pub fn score_class(&self) -> &'static str {
        score_class(self.score)
    }

    /// The score as shown: `87`, or `—` before the first computation.
    pub fn score_text(&self) -> String {
        self.score.map_or("—".into(), |s| format!("{s:.0}"))
    }

    pub fn status(&self) -> &'static str {
        self.status.as_str()
    }

    pub fn last_seen_ms(&self) -> i64 {
        self.last_seen.unwrap_or(0)
    }
}

/// What the overview's query string may ask for.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Params {
    /// `problems` (default), `name`, `status`, `cpu`, `steal`, `memory`, `swap`, `disk`,
    /// `load`, `uptime`, `seen`, `alerts`, `score`.
    pub sort: Option<String>,
    /// `asc` or `desc`; each column has a natural default.
    pub dir: Option<String>,
    pub status: Option<String>,
    pub tag: Option<String>,
    /// Part of a host name.
    pub q: Option<String>,
}

/// The columns that can be sorted by, with their natural direction (`true` = descending).
pub const SORTS: [(&str, bool); 13] = [
    ("problems", false),
    ("name", false),
    ("status", false),
    ("cpu", true),
    ("steal", true),
    ("memory", true),
    ("swap", true),
    ("disk", true),
    ("load", true),
    ("uptime", true),
    ("seen", true),
    ("alerts", true),
    ("score", false),
];

impl Params {
    pub fn sort_key(&self) -> &str {
        let s = self.sort.as_deref().unwrap_or("problems");
        SORTS
            .iter()
            .find(|(k, _)| *k == s)
            .map_or("problems", |(k, _)| k)
    }

    pub fn descending(&self) -> bool {
        match self.dir.as_deref() {
            Some("asc") => false,
            Some("desc") => true,
            _ => SORTS
                .iter()
                .find(|(k, _)| *k == self.sort_key())
                .is_some_and(|(_, d)| *d),
        }
    }

    /// Keeps the rows that pass the status, tag and name filters.
    pub fn keep(&self, row: &Row) -> bool {
        let status = self
            .status
            .as_deref()
            .filter(|s| !s.is_empty())
            .is_none_or(|s| row.status.as_str() == s);
        let tag = self
            .tag
            .as_deref()
            .filter(|t| !t.is_empty())
            .is_none_or(|t| row.tags.iter().any(|have| have == t));
        let name = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .is_none_or(|q| row.name.to_lowercase().contains(&q.to_lowercase()));
        status && tag && name
    }

    /// Sorts rows; unknown figures go last in either direction, names break ties.
    pub fn sort(&self, rows: &mut [Row]) {
        let key = self.sort_key();
        let desc = self.descending();
        let figure = |r: &Row| -> Option<f64> {
            match key {
                "cpu" => r.cpu.sort,
                "steal" => r.steal.sort,
                "memory" => r.memory.sort,
                "swap" => r.swap.sort,
                "disk" => r.disk.sort,
                "load" => r.load.sort,
                "uptime" => r.uptime.sort,
                "seen" => r.last_seen.map(|t| t as f64),
                // Critical alerts weigh more than any number of warnings.
                "alerts" => r
                    .open_alerts
                    .map(|n| f64::from(r.critical_alerts) * 1e6 + f64::from(n)),
                "score" => r.score,
                _ => None,
            }
        };
        rows.sort_by(|a, b| {
            use std::cmp::Ordering;
            let primary = match key {
                "name" => Ordering::Equal,
                // Within a rank, the lower score first (unscored last).
                "problems" => a.rank.cmp(&b.rank).then_with(|| {
                    let score = |r: &Row| r.score.unwrap_or(f64::INFINITY);
                    score(a).total_cmp(&score(b))
                }),
                "status" => status_order(a.status).cmp(&status_order(b.status)),
                _ => match (figure(a), figure(b)) {
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    (Some(_), None) => return Ordering::Less,
                    (None, Some(_)) => return Ordering::Greater,
                    (None, None) => Ordering::Equal,
                },
            };
            let primary = if desc { primary.reverse() } else { primary };
            primary.then_with(|| {
                let by_name = a.name.cmp(&b.name);
                if key == "name" && desc {
                    by_name.reverse()
                } else {
                    by_name
                }
            })
        });
    }

    /// The query string for a header link sorting by `key` (toggling the direction when the
    /// table is already sorted by it), keeping the filters.
    pub fn sort_link(&self, key: &str) -> String {
        let dir = if self.sort_key() == key {
            if self.descending() { "asc" } else { "desc" }
        } else if SORTS.iter().any(|(k, d)| *k == key && *d) {
            "desc"
        } else {
            "asc"
        };
        let mut q = format!("?sort={key}&dir={dir}");
        for (name, value) in [("status", &self.status), ("tag", &self.tag), ("q", &self.q)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                q.push_str(&format!("&{name}={}", format::url_encode(v)));
            }
        }
        q
    }

    /// `▲`/`▼` on the sorted column.
    pub fn arrow(&self, key: &str) -> &'static str {
        match (self.sort_key() == key, self.descending()) {
            (true, true) => " ▼",
            (true, false) => " ▲",
            _ => "",
        }
    }
}

fn status_order(s: HostStatus) -> u8 {
    match s {
        HostStatus::Down => 0,
        HostStatus::Late => 1,
        HostStatus::New => 2,
        HostStatus::Up => 3,
    }
}

/// Every host's row, unsorted: one pass over the host list and the latest states.
pub fn rows<S>(
    hub: &Hub<S>,
    hosts: &[Host],
    latest: &HashMap<HostId, Figures>,
    now: i64,
) -> Vec<Row> {
    let none = Figures::default();
    hosts
        .iter()
        .map(|h| {
            let figures = latest.get(&h.id).unwrap_or(&none);
            Row::build(
                h,
                figures,
                super::sparkline::cpu(&hub.recent, h.id, now),
                now,
            )
        })
        .collect()
}

/// Adds what other parts of the hub know about each row: the firing-alert count (alert engine)
/// and the health score (score.rs, from its cache: a map lookup per row). The one place to
/// wire them in; both the page and the live feed call it, so their columns agree. Critical
/// alerts and low scores move a row up among the problems.
pub fn enrich<S: Store>(hub: &Hub<S>, rows: &mut [Row]) {
    let counts = hub.alerts.open_counts();
    for row in rows {
        let (warning, critical) = counts.get(&row.name).copied().unwrap_or_default();
        row.open_alerts = Some(warning + critical);
        row.critical_alerts = critical;
        row.score = hub.scores.get(&row.name).map(|s| s.score);
        row.rank = rerank(row.rank, critical, warning, row.score);
    }
}

/// A row's rank once alerts and the score are known: down (0) stays first; a critical alert
/// ranks with late hosts (1); a score below [`SCORE_CRIT`] with critical figures (2); a
/// warning or a score below [`SCORE_WARN`] with warning figures (3).
pub fn rerank(rank: u8, critical: u32, warning: u32, score: Option<f64>) -> u8 {
    let mut rank = rank;
    if critical > 0 {
        rank = rank.min(1);
    }
    match score_class(score) {
        "crit" => rank = rank.min(2),
        "warn" => rank = rank.min(3),
        _ => {}
    }
    if warning > 0 {
        rank = rank.min(3);
    }
    rank
}

/// The header's fleet figures: the fleet's health score and the firing alerts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FleetSummary {
    /// `None` until the first scores are computed.
    pub score: Option<f64>,
    pub critical: u32,
    pub warning: u32,
}

impl FleetSummary {
    pub fn of<S: Store>(hub: &Hub<S>) -> FleetSummary {
        let scores = hub.scores.all();
        let fleet = crate::score::fleet(&scores, hub.config.score.fleet);
        let (warning, critical) = hub
            .alerts
            .open_counts()
            .values()
            .fold((0, 0), |(w, c), (dw, dc)| (w + dw, c + dc));
        FleetSummary {
            score: fleet.score,
            critical,
            warning,
        }
    }

    pub fn score_text(&self) -> String {
        self.score.map_or("—".into(), |s| format!("{s:.0}"))
    }

    pub fn score_class(&self) -> &'static str {
        score_class(self.score)
    }
}

/// Counts per status for the summary line.
#[derive(Debug, Default)]
pub struct Counts {
    pub total: usize,
    pub up: usize,
    pub late: usize,
    pub down: usize,
    pub new: usize,
}

#[derive(Debug, Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub viewer: Viewer,
    pub rows: Vec<Row>,
    pub counts: Counts,
    pub params: Params,
    pub tags: Vec<String>,
    pub show_alerts: bool,
    pub show_score: bool,
    pub fleet: FleetSummary,
}

#[derive(Debug, Template)]
#[template(path = "overview_row.html")]
pub struct RowFragment<'a> {
    pub row: &'a Row,
    pub show_alerts: bool,
    pub show_score: bool,
}

pub async fn page<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<Params>,
) -> Response {
    let started = Instant::now();
    let session = match require(&hub, &headers, &uri, Role::Viewer).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (hosts, latest) = match tokio::try_join!(hub.store.hosts(), hub.store.latest_all()) {
        Ok(x) => x,
        Err(e) => return super::unavailable(&e),
    };
    let now = now_ms();
    let figures: HashMap<HostId, Figures> =
        latest.iter().map(|(id, r)| (*id, Figures::of(r))).collect();
    let mut all = rows(&hub, &hosts, &figures, now);
    enrich(&hub, &mut all);
    let mut counts = Counts {
        total: all.len(),
        ..Counts::default()
    };
    let mut tags: Vec<String> = Vec::new();
    for r in &all {
        match r.status {
            HostStatus::Up => counts.up += 1,
            HostStatus::Late => counts.late += 1,
            HostStatus::Down => counts.down += 1,
            HostStatus::New => counts.new += 1,
        }
        tags.extend(r.tags.iter().cloned());
    }
    tags.sort();
    tags.dedup();
    all.retain(|r| params.keep(r));
    params.sort(&mut all);
    // Wired in: the columns show even before the first score (as `—`), so live rows fit.
    let (show_alerts, show_score) = (true, true);
    let fleet = FleetSummary::of(&hub);
    let mut response = render(&OverviewPage {
        viewer: (&session).into(),
        rows: all,
        counts,
        params,
        tags,
        show_alerts,
        show_score,
        fleet,
    });
    // How long the server took, for the browser's devtools and the load test.
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.1}")) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, status: HostStatus, tags: &[&str]) -> Host {
        Host {
            id: 1,
            name: name.into(),
            created_at: 0,
            interval_seconds: None,
            status,
            status_since: 0,
            last_seen: Some(0),
            expected_interval: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn row(name: &str, status: HostStatus, cpu: Option<f64>, tags: &[&str]) -> Row {
        let f = Figures {
            cpu_busy_pct: cpu,
            ..Figures::default()
        };
        Row::build(&host(name, status, tags), &f, String::new(), 0)
    }

    fn names(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn problems_float_to_the_top_by_default() {
        let mut rows = vec![
            row("a-fine", HostStatus::Up, Some(10.0), &[]),
            row("b-busy", HostStatus::Up, Some(97.0), &[]),
            row("c-down", HostStatus::Down, None, &[]),
            row("d-warm", HostStatus::Up, Some(85.0), &[]),
            row("e-late", HostStatus::Late, Some(1.0), &[]),
        ];
        Params::default().sort(&mut rows);
        assert_eq!(
            names(&rows),
            ["c-down", "e-late", "b-busy", "d-warm", "a-fine"]
        );
        assert_eq!(rows[2].cpu.class, "crit");
        assert_eq!(rows[3].cpu.class, "warn");
    }

    #[test]
    fn sorting_by_a_figure_puts_unknowns_last_both_ways() {
        let mut rows = vec![
            row("a", HostStatus::Up, Some(10.0), &[]),
            row("b", HostStatus::New, None, &[]),
            row("c", HostStatus::Up, Some(50.0), &[]),
        ];
        let mut p = Params {
            sort: Some("cpu".into()),
            ..Params::default()
        };
        p.sort(&mut rows);
        assert_eq!(names(&rows), ["c", "a", "b"]);
        p.dir = Some("asc".into());
        p.sort(&mut rows);
        assert_eq!(names(&rows), ["a", "c", "b"]);
        p.sort = Some("name".into());
        p.dir = Some("desc".into());
        p.sort(&mut rows);
        assert_eq!(names(&rows), ["c", "b", "a"]);
        // An unknown sort key falls back to problems-first.
        assert_eq!(
            Params {
                sort: Some("'; drop".into()),
                ..Params::default()
            }
            .sort_key(),
            "problems"
        );
    }

    #[test]
    fn filters_by_status_tag_and_name() {
        let rows = [
            row("web-1", HostStatus::Up, None, &["prod", "web"]),
            row("web-2", HostStatus::Down, None, &["staging"]),
            row("db-1", HostStatus::Up, None, &["prod"]),
        ];
        let keep = |p: Params| -> Vec<String> {
            rows.iter()
                .filter(|r| p.keep(r))
                .map(|r| r.name.clone())
                .collect()
        };
        assert_eq!(
            keep(Params {
                tag: Some("prod".into()),
                ..Params::default()
            }),
            ["web-1", "db-1"]
        );
        assert_eq!(
            keep(Params {
                status: Some("down".into()),
                ..Params::default()
            }),
            ["web-2"]
        );
        assert_eq!(
            keep(Params {
                q: Some(" WEB ".into()),
                ..Params::default()
            }),
            ["web-1", "web-2"]
        );
        assert_eq!(
            keep(Params {
                q: Some("web".into()),
                tag: Some("prod".into()),
                ..Params::default()
            }),
            ["web-1"]
        );
        assert_eq!(
            keep(Params {
                status: Some(String::new()),
                ..Params::default()
            })
            .len(),
            3
        );
    }

    #[test]
    fn alert_and_score_cells_appear_only_when_wired_in() {
        let mut r = row("web-1", HostStatus::Up, Some(5.0), &[]);
        let plain = RowFragment {
            row: &r,
            show_alerts: false,
            show_score: false,
        }
        .render()
        .unwrap();
        assert!(!plain.contains("class=\"num alerts\"") && !plain.contains("class=\"num score\""));
        r.open_alerts = Some(3);
        r.score = Some(87.4);
        let wired = RowFragment {
            row: &r,
            show_alerts: true,
            show_score: true,
        }
        .render()
        .unwrap();
        assert!(
            wired.contains("class=\"num alerts warn\"") && wired.contains(">3</a></td>"),
            "{wired}"
        );
        assert!(
            wired.contains("class=\"num score \"") && wired.contains(">87</a></td>"),
            "{wired}"
        );
        r.critical_alerts = 1;
        r.score = Some(42.0);
        let bad = RowFragment {
            row: &r,
            show_alerts: true,
            show_score: true,
        }
        .render()
        .unwrap();
        assert!(bad.contains("class=\"num alerts crit\""), "{bad}");
        assert!(bad.contains("title=\"1 critical, 2 warning\""), "{bad}");
        assert!(bad.contains("class=\"num score crit\""), "{bad}");
        r.score = None;
        let unscored = RowFragment {
            row: &r,
            show_alerts: true,
            show_score: true,
        }
        .render()
        .unwrap();
        assert!(
            unscored.contains("class=\"num score \">—</td>"),
            "{unscored}"
        );
    }

    #[test]
    fn critical_alerts_and_low_scores_float_up_and_the_lower_score_leads_a_rank() {
        let mut rows = vec![
            row("a-fine", HostStatus::Up, Some(10.0), &[]),
            row("b-critical", HostStatus::Up, Some(10.0), &[]),
            row("c-sick", HostStatus::Up, Some(10.0), &[]),
            row("d-warned", HostStatus::Up, Some(10.0), &[]),
            row("e-down", HostStatus::Down, None, &[]),
            row("f-meh", HostStatus::Up, Some(10.0), &[]),
            row("g-worse-meh", HostStatus::Up, Some(10.0), &[]),
        ];
        let facts: [(u32, u32, Option<f64>); 7] = [
            (0, 0, Some(100.0)),
            (1, 0, Some(90.0)),
            (0, 0, Some(35.0)),
            (0, 2, Some(95.0)),
            (0, 0, Some(0.0)),
            (0, 0, Some(70.0)),
            (0, 0, Some(60.0)),
        ];
        for (r, (critical, warning, score)) in rows.iter_mut().zip(facts) {
            r.open_alerts = Some(critical + warning);
            r.critical_alerts = critical;
            r.score = score;
            r.rank = rerank(r.rank, critical, warning, score);
        }
        Params::default().sort(&mut rows);
        assert_eq!(
            names(&rows),
            [
                "e-down",
                "b-critical",
                "c-sick",
                "g-worse-meh",
                "f-meh",
                "d-warned",
                "a-fine"
            ]
        );
        let mut p = Params {
            sort: Some("alerts".into()),
            ..Params::default()
        };
        p.sort(&mut rows);
        assert_eq!(names(&rows)[..2], ["b-critical", "d-warned"]);
        p.sort = Some("score".into());
        p.sort(&mut rows);
        assert_eq!(names(&rows)[..3], ["e-down", "c-sick", "g-worse-meh"]);
    }

    #[test]
    fn sort_links_toggle_and_keep_filters() {
        let p = Params {
            sort: Some("cpu".into()),
            tag: Some("a b".into()),
            ..Params::default()
        };
        assert_eq!(p.sort_link("cpu"), "?sort=cpu&dir=asc&tag=a%20b");
        assert_eq!(p.sort_link("name"), "?sort=name&dir=asc&tag=a%20b");
        assert_eq!(p.sort_link("memory"), "?sort=memory&dir=desc&tag=a%20b");
        assert_eq!(p.arrow("cpu"), " ▼");
        assert_eq!(p.arrow("name"), "");
    }
}
