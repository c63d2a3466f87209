//! The notification delivery log in SQLite (migration V6).

use super::db;
use crate::store::{Delivery, DeliveryQuery, DeliveryStatus, StoreError};
use rusqlite::{Connection, params};

pub fn record(
    c: &Connection,
    d: &Delivery,
    keep_since: i64,
    keep_max: u32,
) -> Result<(), StoreError> {
    let alerts = serde_json::to_string(&d.alerts)
        .map_err(|e| StoreError::Database(format!("encoding a delivery's alerts: {e}")))?;
    c.prepare_cached(
        "INSERT INTO deliveries (at, channel, kind, title, alerts, status, attempts, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            d.at,
            d.channel,
            d.kind,
            d.title,
            alerts,
            d.status.as_str(),
            d.attempts,
            d.error
        ])
    })
    .map_err(db)?;
    c.prepare_cached("DELETE FROM deliveries WHERE at < ?1")
        .and_then(|mut s| s.execute([keep_since]))
        .map_err(db)?;
    c.prepare_cached(
        "DELETE FROM deliveries WHERE id <= (SELECT id FROM deliveries ORDER BY id DESC LIMIT 1 OFFSET ?1)",
    )
    .and_then(|mut s| s.execute([keep_max]))
    .map_err(db)?;
    Ok(())
}

pub fn list(c: &Connection, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
    let mut s = c
        .prepare_cached(
            "SELECT id, at, channel, kind, title, alerts, status, attempts, error FROM deliveries
             WHERE (?1 IS NULL OR channel = ?1) AND (?2 IS NULL OR at >= ?2)
             ORDER BY at DESC, id DESC LIMIT ?3",
        )
        .map_err(db)?;
    s.query_map(params![q.channel, q.since, q.limit], |r| {
        let alerts: String = r.get(5)?;
        let status: String = r.get(6)?;
        Ok(Delivery {
            id: r.get(0)?,
            at: r.get(1)?,
            channel: r.get(2)?,
            kind: r.get(3)?,
            title: r.get(4)?,
            // A damaged entry still shows, without its alert list.
            alerts: serde_json::from_str(&alerts).unwrap_or_default(),
            status: if status == "delivered" {
                DeliveryStatus::Delivered
            } else {
                DeliveryStatus::Failed
            },
            attempts: r.get(7)?,
            error: r.get(8)?,
        })
    })
    .map_err(db)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(db)
}
