//! `POST /api/v1/reports` and `POST /api/v1/job-runs`: what agents send. See docs/wire.md,
//! "Transport", for the contract every status code here follows.

use super::zstd_body::SentFrame;
use super::{ApiError, auth};
use crate::hub::{Hub, now_ms};
use crate::store::{HostStatus, IncomingReport, IngestOutcome, Store};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hostwatch_proto::{Envelope, JobRun, Report};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Instant;

/// One document or an array of them, each kept as its raw JSON text so it is stored as sent.
fn split_documents(body: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let bad =
        |e: serde_json::Error| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}"));
    match first {
        Some(b'[') => serde_json::from_slice::<Vec<&RawValue>>(body).map_err(bad),
        Some(_) => serde_json::from_slice::<&RawValue>(body)
            .map(|d| vec![d])
            .map_err(bad),
        None => Err(ApiError::new(StatusCode::BAD_REQUEST, "empty body")),
    }
}

/// Checks what every ingest request needs before its body is read: the host, its rate, the
/// content type.
async fn admit<S: Store>(
    hub: &Hub<S>,
    headers: &HeaderMap,
) -> Result<crate::store::Host, Response> {
    let host = auth::host(hub, headers)
        .await
        .map_err(IntoResponse::into_response)?;
    if let Err(wait) = hub.rate.check(host.id, Instant::now()) {
        let secs = wait.as_secs().max(1);
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many requests from {}; retry in {secs} s", host.name),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Err(r);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        )
        .into_response());
    }
    Ok(host)
}

fn too_many<S>(hub: &Hub<S>, n: usize) -> Result<(), ApiError> {
    if n > hub.config.ingest.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{n} documents in one request; at most {} — split the batch",
                hub.config.ingest.max_batch
            ),
        ));
    }
    Ok(())
}

fn wrong_host(doc: usize, found: &str, host: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!("document {doc}: host_id `{found}` is not this token's host `{host}`"),
    )
}

/// The hub is handling `[ingest] max_in_flight` requests already: 503, come back in a moment.
fn busy<S>(hub: &Hub<S>) -> Response {
    let mut r = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the hub is handling {} requests already; retry in {BUSY_RETRY_SECONDS} s",
            hub.config.ingest.max_in_flight
        ),
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_SECONDS));
    r
}

/// What a busy hub asks agents to wait; they add their own backoff and jitter.
const BUSY_RETRY_SECONDS: u64 = 5;

pub async fn reports<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    sent: Option<Extension<SentFrame>>,
    body: Bytes,
) -> Response {
    let Ok(_slot) = hub.ingest_slots.try_acquire() else {
        return busy(&hub);
    };
    let sent = sent.map(|Extension(SentFrame(frame))| frame);
    match admit(&hub, &headers).await {
        Ok(host) => answer(store_reports(&hub, &host, &body, sent.as_deref()).await),
        Err(refused) => refused,
    }
}

pub async fn job_runs<S: Store>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(_slot) = hub.ingest_slots.try_acquire() else {
        return busy(&hub);
    };
    match admit(&hub, &headers).await {
        Ok(host) => answer(store_job_runs(&hub, &host, &body).await),
        Err(refused) => refused,
    }
}

/// The envelope on success, the error's status and message otherwise.
fn answer(result: Result<Envelope, ApiError>) -> Response {
    match result {
        Ok(envelope) => Json(envelope).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The envelope for a request of `host` that stored `outcome`.
fn envelope<S>(
    hub: &Hub<S>,
    host: &crate::store::Host,
    outcome: IngestOutcome,
    now: i64,
) -> Envelope {
    Envelope {
        interval_seconds: hub.config.interval.for_host(host.interval_seconds),
        server_time: Some(now),
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        commands: Vec::new(),
    }
}

async fn store_reports<S: Store>(
    hub: &Hub<S>,
    host: &crate::store::Host,
    body: &[u8],
    sent: Option<&[u8]>,
) -> Result<Envelope, ApiError> {
    let docs = split_documents(body)?;
    too_many(hub, docs.len())?;
    // One document that is the whole body, as the agent sends it: its zstd frame, as sent, is
    // what the report log stores (it decodes to exactly the document's text).
    let sent = sent.filter(|_| docs.len() == 1 && docs[0].get().len() == body.len());
    let mut incoming = Vec::with_capacity(docs.len());
    let mut audit = Vec::new();
    for (i, raw) in docs.into_iter().enumerate() {
        let mut report = Report::from_json(raw.get().as_bytes())
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("document {i}: {e}")))?;
        if report.host_id != host.name {
            return Err(wrong_host(i, &report.host_id, &host.name));
        }
        audit.extend(crate::audit::take_from(&mut report));
        let body = match sent {
            Some(frame) => frame.to_vec(),
            None => crate::store::compress(raw.get().as_bytes()),
        };
        incoming.push(IncomingReport { report, body });
    }
    let interval = hub.config.interval.for_host(host.interval_seconds);
    let now = now_ms();
    let watchdog: Vec<_> = incoming
        .iter()
        .flat_map(|i| crate::container_events::actions(&i.report).cloned())
        .collect();
    let samples: Vec<_> = incoming
        .iter()
        .map(|i| crate::recent::Sample::of(&i.report))
        .collect();
    let outcome = hub
        .store
        .ingest_reports(host.id, incoming, now, interval)
        .await?;
    for sample in samples {
        hub.recent.record(host.id, sample);
    }
    crate::container_events::record(&hub.store, host.id, watchdog).await?;
    // Also for duplicates: the entries are stored once each, and a retry repairs a lost write.
    crate::audit::record(&hub.store, host.id, &host.name, audit, now).await?;
    if host.status != HostStatus::Up {
        // The report is the heartbeat: a host that reports is up, whatever it was.
        let message = format!("{} is up (was {})", host.name, host.status.as_str());
        hub.store
            .set_status(host.id, HostStatus::Up, now, message)
            .await?;
    }
    // Durable now: tell the live views (nobody listening is fine).
    let _ = hub.updates.send(crate::hub::HostUpdate { host: host.id });
    let mut reply = envelope(hub, host, outcome, now);
    reply.commands = crate::commands::take_for(hub, host.id, now).await;
    Ok(reply)
}

async fn store_job_runs<S: Store>(
    hub: &Hub<S>,
    host: &crate::store::Host,
    body: &[u8],
) -> Result<Envelope, ApiError> {
    let docs = split_documents(body)?;
    too_many(hub, docs.len())?;
    let mut runs = Vec::with_capacity(docs.len());
    for (i, raw) in docs.into_iter().enumerate() {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let run: JobRun = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "document {i}: invalid job run at `{}`: {}",
                    e.path(),
                    e.inner()
                ),
            )
        })?;
        if run.schema_version > hostwatch_proto::SCHEMA_VERSION {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "document {i}: job run schema_version {} is newer than this hub understands",
                    run.schema_version
                ),
            ));
        }
        if run.host_id != host.name {
            return Err(wrong_host(i, &run.host_id, &host.name));
        }
        runs.push(run);
    }
    let outcome = hub.store.ingest_job_runs(host.id, runs).await?;
    Ok(envelope(hub, host, outcome, now_ms()))
}
