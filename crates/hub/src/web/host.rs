//! The host page (`/hosts/{name}`): header, charts (drawn by host.js with uPlot from
//! `/api/v1/hosts/{name}/series`), the latest filesystems and processes, job runs, events —
//! and the admin's enrolment form.

use super::format::{self, bytes, pct};
use super::overview::Cell;
use super::{Viewer, render, require};
use crate::api::query::Figures;
use crate::enrol;
use crate::hub::{Hub, now_ms};
use crate::store::{EventQuery, Host, Role, Store};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hostwatch_proto::Section;
use serde::Deserialize;
use std::sync::Arc;

/// The range picker's choices: label and milliseconds.
pub const RANGES: [(&str, i64); 5] = [
    ("1h", 3_600_000),
    ("6h", 6 * 3_600_000),
    ("24h", 24 * 3_600_000),
    ("7d", 7 * 86_400_000),
    ("30d", 30 * 86_400_000),
];

/// The charts of a host page, for host.js: each a list of series selectors; a selector
/// without labels draws every label set (one line per mount, device, interface…).
pub const CHARTS: &str = r#"[
 {"id":"cpu","title":"CPU by mode","unit":"%","stacked":true,"max":100,
  "series":["cpu.user_pct","cpu.nice_pct","cpu.system_pct","cpu.iowait_pct","cpu.irq_pct","cpu.softirq_pct","cpu.steal_pct"]},
 {"id":"memory","title":"Memory and swap","unit":"bytes",
  "series":["mem.used_bytes","mem.cached_bytes","swap.used_bytes","swap.cached_bytes"]},
 {"id":"load","title":"Load","unit":"","series":["load.load1","load.load5","load.load15"]},
 {"id":"fs","title":"Filesystem usage","unit":"%","max":100,"series":["fs.used_pct"]},
 {"id":"disk","title":"Disk I/O","unit":"B/s","series":["disk.read_bps","disk.write_bps"]},
 {"id":"net","title":"Network","unit":"B/s","series":["net.rx_bps","net.tx_bps"]},
 {"id":"temp","title":"Temperatures","unit":"°C","series":["temp.cpu_celsius","temp.sensor_celsius"]},
 {"id":"psi","title":"Pressure (PSI, 10 s average)","unit":"%","series":["psi.cpu_some_pct","psi.memory_some_pct","psi.memory_full_pct","psi.io_some_pct","psi.io_full_pct"]}
]"#;

pub use super::panels::{Panel, PanelCell};

#[derive(Debug)]
pub struct FsRow {
    pub mount: String,
    pub device: String,
    pub fs_type: String,
    pub size: String,
    pub used: String,
    pub available: String,
    pub used_pct: Cell,
    pub inodes: String,
    pub read_only: bool,
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct ProcRow {
    pub pid: u32,
    pub name: String,
    pub user: String,
    pub cpu: String,
    pub rss: String,
}

#[derive(Debug)]
pub struct JobRow {
    pub job: String,
    pub started_ms: i64,
    pub started: String,
    pub duration: String,
    pub outcome: String,
    pub ok: bool,
}

#[derive(Debug)]
pub struct EventRow {
    pub at_ms: i64,
    pub at: String,
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Template)]
#[template(path = "host.html")]
pub struct HostPage {
    pub viewer: Viewer,
    pub host: Host,
    pub status: &'static str,
    pub seen: String,
    pub last_report: String,
    pub last_report_ms: i64,
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub virtualization: String,
    pub uptime: String,
    pub agent_version: String,
    pub cpu: Cell,
    pub memory: Cell,
    pub disk: Cell,
    pub range: &'static str,
    pub ranges: Vec<&'static str>,
    pub range_ms: i64,
    pub charts: &'static str,
    pub filesystems: Vec<FsRow>,
    pub top_cpu: Vec<ProcRow>,
    pub top_memory: Vec<ProcRow>,
    pub jobs: Vec<JobRow>,
    pub events: Vec<EventRow>,
    /// Containers, checks, systemd, ZFS, guests, GPUs — filled by their integrations.
    pub panels: Vec<Panel>,
    /// Open alerts of this host, once the alert engine is wired in.
    pub open_alerts: Option<u32>,
    /// The host's health score, once score.rs is wired in.
    pub score: Option<f64>,
    /// The score with its breakdown per dimension.
    pub score_card: Option<ScoreCard>,
    /// The host's pending and firing alerts.
    pub alerts: Vec<super::alerts::AlertRow>,
    /// "/var reaches 90 % in 12 days (on 2026-12-04)", per filesystem with a projection.
    pub projections: Vec<String>,
}

/// The score card: the total and each dimension's points and reason.
#[derive(Debug, Clone)]
pub struct ScoreCard {
    pub score: f64,
    pub class: &'static str,
    pub note: Option<String>,
    pub dimensions: Vec<DimensionRow>,
    pub computed_ms: i64,
    pub computed: String,
}

#[derive(Debug, Clone)]
pub struct DimensionRow {
    pub name: &'static str,
    pub title: &'static str,
    pub points: String,
    pub max: String,
    /// 0–100, for the bar.
    pub share_pct: f64,
    pub class: &'static str,
    pub reason: String,
    /// Where its data is on this page.
    pub anchor: &'static str,
}

impl ScoreCard {
    pub fn of(s: &crate::score::HostScore) -> ScoreCard {
        let points = |v: f64| crate::trend::fmt_pct((v * 10.0).round() / 10.0);
        ScoreCard {
            score: s.score,
            class: super::overview::score_class(Some(s.score)),
            note: s.note.clone(),
            computed_ms: s.computed_at,
            computed: format::time(s.computed_at),
            dimensions: s
                .dimensions
                .iter()
                .filter(|d| d.max > 0.0)
                .map(|d| {
                    let share = (d.points / d.max * 100.0).clamp(0.0, 100.0);
                    DimensionRow {
                        name: d.name,
                        title: d.title,
                        points: points(d.points),
                        max: points(d.max),
                        share_pct: (share * 10.0).round() / 10.0,
                        class: if share < 50.0 {
                            "crit"
                        } else if share < 100.0 {
                            "warn"
                        } else {
                            "ok"
                        },
                        reason: d.reason.clone(),
                        anchor: match d.name {
                            "cpu" | "headroom" => "#chart-cpu",
                            "memory" => "#chart-memory",
                            "disk" => "#filesystems",
                            "services" => "#services",
                            "maintenance" => "#jobs",
                            _ => "#charts",
                        },
                    }
                })
                .collect(),
        }
    }
}

/// Adds what other parts of the hub know about this host: its alerts (alert engine), its
/// score card (score.rs's cache) with the filesystem projections, and `panels` (containers,
/// checks, systemd units, ZFS pools, guests from the latest report's sections). The one place
/// to wire them in.
pub fn enrich<S: Store>(
    hub: &Hub<S>,
    latest: Option<&hostwatch_proto::Report>,
    page: &mut HostPage,
) {
    let now = now_ms();
    let alerts = hub.alerts.alerts(Some(&page.host.name), None);
    page.open_alerts = Some(
        alerts
            .iter()
            .filter(|a| a.state == crate::alert::AlertState::Firing)
            .count() as u32,
    );
    page.alerts = alerts
        .iter()
        .map(|a| super::alerts::AlertRow::of(a, now))
        .collect();
    if let Some(s) = hub.scores.get(&page.host.name) {
        let tz = hub.config.digest.display_zone();
        page.projections = s
            .projections
            .iter()
            .filter(|p| p.reaches.is_some())
            .map(|p| p.sentence(&tz))
            .collect();
        page.score = Some(s.score);
        page.score_card = Some(ScoreCard::of(&s));
    }
    if let Some(report) = latest {
        page.panels = super::panels::all(report, now);
    }
}

#[derive(Debug, Deserialize)]
pub struct HostParams {
    pub range: Option<String>,
}

fn procs(list: &[hostwatch_proto::sections::ProcessInfo]) -> Vec<ProcRow> {
    list.iter()
        .map(|p| ProcRow {
            pid: p.pid,
            name: p.name.clone(),
            user: p.user.clone(),
            cpu: pct(p.cpu_pct),
            rss: bytes(p.rss_bytes),
        })
        .collect()
}

pub async fn page<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Query(p): Query<HostParams>,
) -> Response {
    let session = match require(&hub, &headers, &uri, Role::Viewer).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let host = match hub.store.host(&name).await {
        Ok(Some(h)) => h,
        Ok(None) => {
            return (StatusCode::NOT_FOUND, format!("no host `{name}`")).into_response();
        }
        Err(e) => return super::unavailable(&e),
    };
    let events = EventQuery {
        host: Some(host.id),
        since: None,
        until: None,
        limit: 30,
    };
    let loaded = tokio::try_join!(
        hub.store.latest(host.id),
        hub.store.events(events),
        hub.store.job_runs(host.id, None, 20),
    );
    let (latest, events, jobs) = match loaded {
        Ok(x) => x,
        Err(e) => return super::unavailable(&e),
    };
    let now = now_ms();
    let (range, range_ms) = RANGES
        .iter()
        .find(|(label, _)| Some(*label) == p.range.as_deref())
        .copied()
        .unwrap_or(RANGES[0]);
    let figures = latest.as_ref().map(Figures::of).unwrap_or_default();
    let mut page = HostPage {
        viewer: (&session).into(),
        status: host.status.as_str(),
        seen: format::ago(host.last_seen, now),
        last_report: figures.collected_at.map_or("never".into(), format::time),
        last_report_ms: figures.collected_at.unwrap_or(0),
        os: figures.os.clone().unwrap_or_else(|| "—".into()),
        kernel: figures.kernel.clone().unwrap_or_else(|| "—".into()),
        arch: String::new(),
        virtualization: "—".into(),
        uptime: figures.uptime_seconds.map_or("—".into(), format::duration),
        agent_version: figures.agent_version.clone().unwrap_or_else(|| "—".into()),
        cpu: Cell {
            text: pct(figures.cpu_busy_pct),
            class: "",
            sort: None,
        },
        memory: Cell {
            text: pct(figures.memory_used_pct),
            class: "",
            sort: None,
        },
        disk: Cell {
            text: pct(figures.fullest_used_pct),
            class: "",
            sort: None,
        },
        range,
        ranges: RANGES.iter().map(|(l, _)| *l).collect(),
        range_ms,
        charts: CHARTS,
        filesystems: Vec::new(),
        top_cpu: Vec::new(),
        top_memory: Vec::new(),
        jobs: jobs
            .iter()
            .map(|j| JobRow {
                job: j.job.clone(),
                started_ms: j.started_at,
                started: format::time(j.started_at),
                duration: format::duration(j.duration_seconds),
                outcome: match &j.outcome {
                    hostwatch_proto::JobOutcome::Exited(c) => format!("exit {c}"),
                    hostwatch_proto::JobOutcome::Signaled(s) => format!("signal {s}"),
                    hostwatch_proto::JobOutcome::FailedToStart(why) => {
                        format!("failed to start: {why}")
                    }
                    hostwatch_proto::JobOutcome::TimedOut => "timed out".into(),
                },
                ok: j.succeeded(),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| EventRow {
                at_ms: e.at,
                at: format::time(e.at),
                kind: e.kind,
                message: e.message,
            })
            .collect(),
        panels: Vec::new(),
        open_alerts: None,
        score: None,
        score_card: None,
        alerts: Vec::new(),
        projections: Vec::new(),
        host,
    };
    if let Some(report) = &latest {
        let s = &report.sections;
        if let Some(Section::Ok(sys)) = &s.system {
            page.arch = sys.arch.clone();
            page.virtualization = sys.virtualization.clone().unwrap_or_else(|| "none".into());
        }
        if let Some(Section::Ok(fs)) = &s.filesystems {
            page.filesystems = fs
                .mounts
                .iter()
                .map(|m| FsRow {
                    mount: m.mount.clone(),
                    device: m.device.clone(),
                    fs_type: m.fs_type.clone(),
                    size: bytes(m.size_bytes),
                    used: bytes(m.used_bytes),
                    available: bytes(m.available_bytes),
                    used_pct: Cell {
                        text: pct(Some(m.used_pct)),
                        class: if m.used_pct >= 95.0 {
                            "crit"
                        } else if m.used_pct >= 85.0 {
                            "warn"
                        } else {
                            ""
                        },
                        sort: Some(m.used_pct),
                    },
                    inodes: pct(m.inodes_used_pct),
                    read_only: m.read_only,
                    error: m.error.clone(),
                })
                .collect();
        }
        if let Some(Section::Ok(p)) = &s.processes {
            page.top_cpu = procs(&p.top_cpu);
            page.top_memory = procs(&p.top_memory);
        }
    }
    // A host not scored yet (the hub just started) is scored now: one host is cheap.
    if hub.scores.get(&page.host.name).is_none()
        && let Err(e) = crate::score::compute(&hub, &page.host, now).await
    {
        tracing::warn!(host = %page.host.name, error = %e, "scoring for the host page failed");
    }
    enrich(&hub, latest.as_ref(), &mut page);
    render(&page)
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    viewer: Viewer,
    error: Option<String>,
    done: Option<Enrolled>,
}

struct Enrolled {
    name: String,
    token: String,
    agent_config: String,
}

pub async fn enrol_form<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match require(&hub, &headers, &uri, Role::Admin).await {
        Ok(session) => render(&EnrolPage {
            viewer: (&session).into(),
            error: None,
            done: None,
        }),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
pub struct EnrolForm {
    name: String,
    #[serde(default)]
    tags: String,
}

pub async fn enrol_submit<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<EnrolForm>,
) -> Response {
    let session = match require(&hub, &headers, &uri, Role::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let tags: Vec<String> = form
        .tags
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    let result = enrol::add_host(
        &hub.store,
        form.name.trim(),
        &tags,
        &hub.config.server.public_url(),
        now_ms(),
    )
    .await;
    let viewer = (&session).into();
    match result {
        Ok(e) => {
            tracing::info!(host = %e.host.name, by = %session.user.name, "host enrolled from the dashboard");
            render(&EnrolPage {
                viewer,
                error: None,
                done: Some(Enrolled {
                    name: e.host.name.clone(),
                    token: e.token.expose().to_string(),
                    agent_config: e.agent_config.expose().to_string(),
                }),
            })
        }
        Err(e) => {
            let mut r = render(&EnrolPage {
                viewer,
                error: Some(e.to_string()),
                done: None,
            });
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
    }
}
