//! `crm projections status` and the projection lag metrics.

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::{Projection, ProjectionError};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProjectionStatus {
    pub name: String,
    /// The last stream sequence applied.
    pub last_seq: i64,
    /// The stream's last sequence.
    pub stream_head: u64,
    /// Events in the stream not yet applied.
    pub lag: u64,
    /// `running`, `failed`, `rebuilding` or `not started`.
    pub state: String,
    pub error: Option<String>,
    pub failed_seq: Option<i64>,
    pub schema_version: i32,
    /// `(applied, target)` while a rebuild runs.
    pub rebuild: Option<(i64, i64)>,
    pub updated_at: Option<DateTime<Utc>>,
}

type Row = (
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i32>,
    Option<DateTime<Utc>>,
    Option<i64>,
    Option<i64>,
);

/// The status of each projection against the stream's head.
pub async fn status(
    pool: &PgPool,
    js: &jetstream::Context,
    stream: &str,
    projections: &[std::sync::Arc<dyn Projection>],
) -> Result<Vec<ProjectionStatus>, ProjectionError> {
    let head = js
        .get_stream(stream)
        .await
        .map_err(|e| ProjectionError::Nats(e.to_string()))?
        .info()
        .await
        .map_err(|e| ProjectionError::Nats(e.to_string()))?
        .state
        .last_sequence;
    let mut out = Vec::with_capacity(projections.len());
    for projection in projections {
        let name = projection.name();
        let row: Option<Row> = sqlx::query_as(
            "SELECT c.last_seq, c.state, c.error, c.failed_seq, c.schema_version, c.updated_at,
                    r.applied_seq, r.target_seq
               FROM (SELECT $1::text AS name) n
               LEFT JOIN projection_checkpoints c ON c.name = n.name
               LEFT JOIN projection_rebuilds r ON r.name = n.name",
        )
        .bind(name)
        .fetch_optional(pool)
        .await?;
        let (last_seq, state, error, failed_seq, schema_version, updated_at, applied, target) =
            row.unwrap_or_default();
        let last = last_seq.unwrap_or(0);
        let rebuild = applied.zip(target);
        let state = match (state, rebuild) {
            (Some(s), _) if s == "failed" => s,
            (_, Some(_)) => "rebuilding".to_owned(),
            (Some(s), None) => s,
            (None, None) => "not started".to_owned(),
        };
        let lag = head.saturating_sub(last.max(0) as u64);
        metrics::gauge!("projection_lag_events", "projection" => name).set(lag as f64);
        metrics::gauge!("projection_failed", "projection" => name).set(if state == "failed" {
            1.0
        } else {
            0.0
        });
        out.push(ProjectionStatus {
            name: name.to_owned(),
            last_seq: last,
            stream_head: head,
            lag,
            state,
            error,
            failed_seq,
            schema_version: schema_version.unwrap_or(0),
            rebuild,
            updated_at,
        });
    }
    Ok(out)
}

/// How many started projections (checkpoint past 0, not failed) have not
/// applied the stream up to `head` yet.
pub async fn behind(pool: &PgPool, head: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM projection_checkpoints WHERE state <> 'failed' AND last_seq > 0 AND last_seq < $1",
    )
    .bind(head)
    .fetch_one(pool)
    .await
}
