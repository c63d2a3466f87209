//! Queries and administration for people and scripts (API tokens).

use super::{ApiError, auth};
use crate::enrol::{self, EnrolError};
use crate::hub::{Hub, now_ms};
use crate::store::{EventQuery, Host, Role, Store};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use hostwatch_proto::{Report, Section};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A host with the figures an overview shows, from its latest report.
#[derive(Debug, Serialize)]
pub struct HostSummary {
    #[serde(flatten)]
    pub host: Host,
    pub figures: Figures,
}

/// Key current figures of a host; each absent when the source did not report it.
#[derive(Debug, Default, Serialize)]
pub struct Figures {
    pub collected_at: Option<i64>,
    pub agent_version: Option<String>,
    pub os: Option<String>,
    pub kernel: Option<String>,
    pub uptime_seconds: Option<f64>,
    pub cpu_busy_pct: Option<f64>,
    pub cpu_steal_pct: Option<f64>,
    pub memory_used_pct: Option<f64>,
    pub swap_used_pct: Option<f64>,
    pub swap_cached_bytes: Option<u64>,
    pub load1_per_core: Option<f64>,
    /// The fullest filesystem: its mount point and used percent.
    pub fullest_mount: Option<String>,
    pub fullest_used_pct: Option<f64>,
}

impl Figures {
    pub fn of(r: &Report) -> Figures {
        let s = &r.sections;
        let mut f = Figures {
            collected_at: Some(r.collected_at),
            agent_version: Some(r.agent.version.clone()),
            ..Figures::default()
        };
        if let Some(Section::Ok(sys)) = &s.system {
            f.os = sys.os.as_ref().map(|o| o.pretty_name.clone());
            f.kernel = Some(sys.kernel.clone());
            f.uptime_seconds = Some(sys.uptime_seconds);
        }
        let mut cores = None;
        if let Some(Section::Ok(cpu)) = &s.cpu {
            f.cpu_busy_pct = cpu.usage.map(|u| u.busy_pct);
            f.cpu_steal_pct = cpu.usage.map(|u| u.steal_pct);
            cores = Some(cpu.logical_cores.max(1));
        }
        if let Some(Section::Ok(m)) = &s.memory {
            f.memory_used_pct = Some(m.used_pct);
            f.swap_used_pct = Some(m.swap_used_pct);
            f.swap_cached_bytes = Some(m.swap_cached_bytes);
        }
        if let (Some(Section::Ok(l)), Some(cores)) = (&s.load, cores) {
            f.load1_per_core = Some(l.load1 / f64::from(cores));
        }
        if let Some(Section::Ok(fs)) = &s.filesystems
            && let Some(m) = fs
                .mounts
                .iter()
                .filter(|m| m.error.is_none())
                .max_by(|a, b| a.used_pct.total_cmp(&b.used_pct))
        {
            f.fullest_mount = Some(m.mount.clone());
            f.fullest_used_pct = Some(m.used_pct);
        }
        f
    }
}

async fn host_or_404<S: Store>(hub: &Hub<S>, name: &str) -> Result<Host, ApiError> {
    hub.store
        .host(name)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no host `{name}`")))
}

pub async fn hosts<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
) -> Result<Json<Vec<HostSummary>>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    let mut out = Vec::new();
    for host in hub.store.hosts().await? {
        let figures = hub
            .store
            .latest(host.id)
            .await?
            .as_ref()
            .map(Figures::of)
            .unwrap_or_default();
        out.push(HostSummary { host, figures });
    }
    Ok(Json(out))
}

#[derive(Debug, Serialize)]
pub struct HostDetail {
    #[serde(flatten)]
    pub host: Host,
    /// The latest state of every source (sections merged across tiers).
    pub latest: Option<Report>,
}

pub async fn host<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<HostDetail>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    let host = host_or_404(&hub, &name).await?;
    let latest = hub.store.latest(host.id).await?;
    Ok(Json(HostDetail { host, latest }))
}

#[derive(Debug, Deserialize)]
pub struct EventsParams {
    pub host: Option<String>,
    pub since: Option<i64>,
    pub limit: Option<u32>,
}

pub async fn events<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Query(p): Query<EventsParams>,
) -> Result<Json<Vec<crate::store::Event>>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    let host = match &p.host {
        Some(name) => Some(host_or_404(&hub, name).await?.id),
        None => None,
    };
    let query = EventQuery {
        host,
        since: p.since,
        until: None,
        limit: p.limit.unwrap_or(100).min(1000),
    };
    Ok(Json(hub.store.events(query).await?))
}

#[derive(Debug, Deserialize)]
pub struct JobsParams {
    pub job: Option<String>,
    pub limit: Option<u32>,
}

pub async fn jobs<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(p): Query<JobsParams>,
) -> Result<Json<Vec<hostwatch_proto::JobRun>>, ApiError> {
    auth::client(&hub, &headers, Role::Viewer).await?;
    let host = host_or_404(&hub, &name).await?;
    let limit = p.limit.unwrap_or(100).min(1000);
    Ok(Json(hub.store.job_runs(host.id, p.job, limit).await?))
}

#[derive(Debug, Deserialize)]
pub struct NewHost {
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Tags {
    pub tags: Vec<String>,
}

/// `PUT /api/v1/hosts/{name}/tags`: replaces a host's tags; answers the canonical list.
pub async fn set_tags<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<Tags>,
) -> Result<Json<Tags>, ApiError> {
    auth::client(&hub, &headers, Role::Admin).await?;
    match enrol::set_tags(&hub.store, &name, &body.tags).await? {
        Some(tags) => Ok(Json(Tags { tags })),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no host `{name}`"),
        )),
    }
}

/// The answer to enrolment: shown once, as the token is not stored.
#[derive(Debug, Serialize)]
pub struct EnrolmentReply {
    pub name: String,
    pub token: String,
    pub agent_config: String,
    pub tags: Vec<String>,
}

impl From<enrol::Enrolment> for EnrolmentReply {
    fn from(e: enrol::Enrolment) -> Self {
        EnrolmentReply {
            name: e.host.name,
            token: e.token.expose().to_string(),
            agent_config: e.agent_config.expose().to_string(),
            tags: e.host.tags,
        }
    }
}

impl From<EnrolError> for ApiError {
    fn from(e: EnrolError) -> Self {
        match e {
            EnrolError::InvalidName(_) | EnrolError::InvalidTag(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            }
            EnrolError::Store(s) => s.into(),
        }
    }
}

pub async fn add_host<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Json(new): Json<NewHost>,
) -> Result<(StatusCode, Json<EnrolmentReply>), ApiError> {
    auth::client(&hub, &headers, Role::Admin).await?;
    let e = enrol::add_host(
        &hub.store,
        &new.name,
        &new.tags,
        &hub.config.server.public_url(),
        now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(e.into())))
}

pub async fn remove_host<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth::client(&hub, &headers, Role::Admin).await?;
    if hub.store.remove_host(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no host `{name}`"),
        ))
    }
}

pub async fn rotate_token<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<EnrolmentReply>, ApiError> {
    auth::client(&hub, &headers, Role::Admin).await?;
    match enrol::rotate_token(&hub.store, &name, &hub.config.server.public_url(), now_ms()).await? {
        Some(e) => Ok(Json(e.into())),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no host `{name}`"),
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct SeriesParams {
    /// A selector: `cpu.steal_pct` or `fs.used_pct{mount="/var"}`.
    pub name: String,
    /// Unix ms; default one hour before `to`.
    pub from: Option<i64>,
    /// Unix ms; default now.
    pub to: Option<i64>,
    /// At most this many points per series (default 1000): longer ranges are merged into
    /// buckets that keep min and max, so spikes stay visible.
    pub max_points: Option<usize>,
}

/// One series of a query answer.
#[derive(Debug, Serialize)]
pub struct SeriesAnswer {
    pub key: String,
    pub labels: std::collections::BTreeMap<String, String>,
    /// `[time_ms, min, avg, max]` per point.
    pub points: Vec<[f64; 4]>,
}

#[derive(Debug, Serialize)]
pub struct SeriesReply {
    /// `raw`, `minute` or `hour`: the stored resolution the answer was read from.
    pub resolution: &'static str,
    /// Width of each point in ms; 0 for raw samples.
    pub step_ms: i64,
    pub series: Vec<SeriesAnswer>,
}

pub async fn series<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(p): Query<SeriesParams>,
) -> Result<Json<SeriesReply>, ApiError> {
    use hostwatch_tsdb::{Resolution, pick_resolution};
    auth::client(&hub, &headers, Role::Viewer).await?;
    let host = host_or_404(&hub, &name).await?;
    let (series_name, labels) = crate::series::parse_selector(&p.name).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid series selector `{}`", p.name),
        )
    })?;
    let now = now_ms();
    let to = p.to.unwrap_or(now);
    let from = p.from.unwrap_or(to - 3_600_000);
    if to <= from {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`to` must be after `from`",
        ));
    }
    let max_points = p.max_points.unwrap_or(1000).clamp(1, 20_000);
    let resolution = pick_resolution(from, to, now);
    let histories = crate::history::read_thinned(
        &hub.store,
        host.id,
        &series_name,
        &labels,
        from,
        to,
        resolution,
        max_points,
    )
    .await?;
    let step_ms = histories.iter().map(|h| h.step_ms).max().unwrap_or(0);
    let series = histories
        .into_iter()
        .map(|h| SeriesAnswer {
            points: h
                .points
                .iter()
                .map(|p| [p.ts_ms as f64, p.min, p.avg, p.max])
                .collect(),
            key: h.key,
            labels: h.labels,
        })
        .collect();
    Ok(Json(SeriesReply {
        resolution: match resolution {
            Resolution::Raw => "raw",
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
        },
        step_ms,
        series,
    }))
}
