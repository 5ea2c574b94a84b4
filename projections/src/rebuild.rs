//! Rebuild: replay the whole stream into fresh tables, then swap them in.
//!
//! ```text
//!  1. schema rebuild_<name>: fresh tables; replay the stream from its first
//!     event up to the head seen at the start (queries keep using read.*,
//!     the live projector keeps updating it)
//!  2. one transaction: lock the checkpoint row (the live projector's next
//!     batch waits), replay what arrived meanwhile, DROP read.<t>,
//!     ALTER TABLE rebuild_<name>.<t> SET SCHEMA read, checkpoint := last
//!     replayed sequence; commit. Readers wait only for this swap.
//!  3. the live projector resumes: what it had fetched at or below the new
//!     checkpoint is skipped, the rest applies to the new tables.
//! ```

use std::time::Duration;

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use futures::StreamExt;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::runner::{ProjectorConfig, decode};
use crate::{LIVE_SCHEMA, Projection, ProjectionError, READ_MODEL_CHANNEL, use_schema};

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Events replayed.
    pub events: u64,
    /// The checkpoint the rebuilt tables start from.
    pub last_seq: u64,
}

fn nats(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Nats(e.to_string())
}

const NEXT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Rebuilds `projection` from the start of the stream and swaps the new
/// tables in. `progress(applied, target)` is called after each batch. Only
/// one rebuild per projection runs at a time.
pub async fn rebuild(
    pool: &PgPool,
    js: &jetstream::Context,
    config: &ProjectorConfig,
    projection: &dyn Projection,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<RebuildReport, ProjectionError> {
    let name = projection.name();
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .application_name(crate::DERIVED_APPLICATION_NAME);
    let mut conn = PgConnection::connect_with(&options).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("crm-projection-rebuild:{name}"))
        .fetch_one(&mut conn)
        .await?;
    if !locked {
        return Err(ProjectionError::Stopped(format!(
            "a rebuild of {name} is already running"
        )));
    }
    let result = replay_and_swap(&mut conn, &options, js, config, projection, progress).await;
    if let Err(e) = cleanup(&mut conn, name).await {
        tracing::warn!(projection = name, error = %e, "rebuild cleanup failed; the next rebuild drops the leftovers");
    }
    // Closing the connection releases the rebuild lock.
    drop(conn);
    result
}

async fn cleanup(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    let staging = staging_schema(name);
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{staging}\" CASCADE"))
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM projection_rebuilds WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn staging_schema(name: &str) -> String {
    format!("rebuild_{name}")
}

async fn replay_and_swap(
    conn: &mut PgConnection,
    options: &PgConnectOptions,
    js: &jetstream::Context,
    config: &ProjectorConfig,
    projection: &dyn Projection,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<RebuildReport, ProjectionError> {
    let name = projection.name();
    let staging = staging_schema(name);
    {
        let mut tx = conn.begin().await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{staging}\" CASCADE"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA \"{staging}\""))
            .execute(&mut *tx)
            .await?;
        // The tables and their keys now; plain secondary indexes after the
        // load (building one at the end is cheaper than keeping it up to
        // date row by row).
        let (tables, _) = split_ddl(projection.ddl());
        use_schema(&mut tx, &staging).await?;
        sqlx::Executor::execute(&mut *tx, tables.as_str()).await?;
        tx.commit().await?;
    }
    // A rebuild's batches need not wait for the disk: a crash leaves a
    // staging schema that the next rebuild drops.
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut *conn)
        .await?;
    let mut stream = js.get_stream(&config.stream).await.map_err(nats)?;
    let info = stream.info().await.map_err(nats)?;
    let (first, target) = (info.state.first_sequence, info.state.last_sequence);
    if first > 1 {
        return Err(ProjectionError::Stopped(format!(
            "the stream starts at sequence {first}: events 1..{} are gone, so {name} cannot be rebuilt from it",
            first - 1
        )));
    }
    sqlx::query(
        "INSERT INTO projection_rebuilds (name, target_seq, applied_seq) VALUES ($1, $2, 0)
         ON CONFLICT (name) DO UPDATE SET started_at = now(), target_seq = $2, applied_seq = 0, updated_at = now()",
    )
    .bind(name)
    .bind(target as i64)
    .execute(&mut *conn)
    .await?;

    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: config.filter_subject(),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    let messages = consumer.messages().await.map_err(nats)?;
    let mut applied: u64 = 0;
    let mut replayed: u64 = 0;
    progress(0, target);

    // 1. Up to the head seen at the start, in large batches (one
    //    transaction each, written with the projection's batch path),
    //    blocking nobody. The next batch is fetched and decoded while this
    //    one is written.
    let (batches, mut fetched) = tokio::sync::mpsc::channel(2);
    let fetcher = tokio::spawn(fetch_ahead(messages, target, batches));
    while applied < target {
        let batch_end = (applied + REBUILD_BATCH).min(target);
        let Some(events) = fetched.recv().await else {
            // The fetcher stopped: its error says why.
            fetcher
                .await
                .map_err(|e| ProjectionError::Nats(e.to_string()))??;
            return Err(ProjectionError::Nats(
                "the stream ended during the rebuild".into(),
            ));
        };
        let events = events?;
        let mut tx = conn.begin().await?;
        use_schema(&mut tx, &staging).await?;
        apply_events(&mut tx, projection, &events).await?;
        applied = batch_end;
        replayed += events.len() as u64;
        sqlx::query("UPDATE public.projection_rebuilds SET applied_seq = $2, updated_at = now() WHERE name = $1")
            .bind(name)
            .bind(applied as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        progress(applied, target);
    }

    let mut messages = fetcher
        .await
        .map_err(|e| ProjectionError::Nats(e.to_string()))??;
    let (_, indexes) = split_ddl(projection.ddl());
    build_indexes(options, &staging, indexes).await?;

    // 2. The swap, with the live projector held at its checkpoint.
    let mut tx = conn.begin().await?;
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, last_seq, state, schema_version) VALUES ($1, 0, 'running', $2)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(projection.version())
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let head = stream.info().await.map_err(nats)?.state.last_sequence;
    use_schema(&mut tx, &staging).await?;
    while applied < head {
        let batch_end = (applied + REBUILD_BATCH).min(head);
        let events = fetch(&mut messages, applied, batch_end).await?;
        apply_events(&mut tx, projection, &events).await?;
        applied = batch_end;
        replayed += events.len() as u64;
    }
    for table in projection.tables() {
        sqlx::query(&format!(
            "DROP TABLE IF EXISTS \"{LIVE_SCHEMA}\".\"{table}\" CASCADE"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "ALTER TABLE \"{staging}\".\"{table}\" SET SCHEMA \"{LIVE_SCHEMA}\""
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE public.projection_checkpoints
            SET last_seq = $2, schema_version = $3, state = 'running', error = NULL, failed_seq = NULL,
                rebuilt_at = now(), updated_at = now()
          WHERE name = $1",
    )
    .bind(name)
    .bind(applied as i64)
    .bind(projection.version())
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(READ_MODEL_CHANNEL)
        .bind(format!("{name}:{applied}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    progress(applied, applied.max(target));
    tracing::info!(
        projection = name,
        events = replayed,
        last_seq = applied,
        "projection rebuilt and swapped in"
    );
    Ok(RebuildReport {
        events: replayed,
        last_seq: applied,
    })
}

/// Builds a projection's plain secondary indexes on the loaded staging
/// tables, each on a connection of its own, all at once: PostgreSQL builds
/// one index on one core, and a projection's indexes differ widely in cost
/// (the customers' trigram index takes 3–4× the time of its two B-trees
/// together, which are built meanwhile). Each build commits alone: a rebuild
/// that fails later drops the staging schema with them.
async fn build_indexes(
    options: &PgConnectOptions,
    staging: &str,
    indexes: Vec<String>,
) -> Result<(), ProjectionError> {
    let builds = indexes.into_iter().map(|index| async move {
        let mut conn = PgConnection::connect_with(options).await?;
        let mut tx = conn.begin().await?;
        use_schema(&mut tx, staging).await?;
        // Room to sort an index in memory (the default 64 MB spills a
        // large trigram index to disk); PostgreSQL takes only what it needs.
        sqlx::query("SET LOCAL maintenance_work_mem = '256MB'")
            .execute(&mut *tx)
            .await?;
        sqlx::Executor::execute(&mut *tx, index.as_str()).await?;
        tx.commit().await?;
        conn.close().await?;
        Ok::<_, ProjectionError>(())
    });
    futures::future::try_join_all(builds).await?;
    Ok(())
}

/// Events per rebuild transaction.
const REBUILD_BATCH: u64 = 5000;

/// Fetches and decodes the messages up to `target` in batches of
/// [`REBUILD_BATCH`], ahead of the writer; hands the consumer back.
async fn fetch_ahead(
    mut messages: pull::Ordered,
    target: u64,
    batches: tokio::sync::mpsc::Sender<Result<Vec<crate::ProjectedEvent>, ProjectionError>>,
) -> Result<pull::Ordered, ProjectionError> {
    let mut fetched = 0;
    while fetched < target {
        let end = (fetched + REBUILD_BATCH).min(target);
        let batch = fetch(&mut messages, fetched, end).await;
        let failed = batch.is_err();
        if batches.send(batch).await.is_err() || failed {
            break;
        }
        fetched = end;
    }
    Ok(messages)
}

/// A projection's DDL split into what a rebuild creates before loading (the
/// tables, their keys and unique indexes, which upserts rely on) and the
/// plain secondary indexes it builds after.
fn split_ddl(ddl: &str) -> (String, Vec<String>) {
    // Comments first (one may hold a `;`); the DDL has no `--` or `;`
    // inside string literals.
    let code: String = ddl
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    let mut tables = String::new();
    let mut indexes = Vec::new();
    for statement in code.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        if statement.to_ascii_uppercase().starts_with("CREATE INDEX") {
            indexes.push(statement.to_owned());
        } else {
            tables.push_str(statement);
            tables.push_str(";\n");
        }
    }
    (tables, indexes)
}

/// The messages after `applied` up to `end`, decoded, checking that none is
/// missing.
async fn fetch(
    messages: &mut pull::Ordered,
    applied: u64,
    end: u64,
) -> Result<Vec<crate::ProjectedEvent>, ProjectionError> {
    let mut events = Vec::with_capacity((end - applied) as usize);
    let mut next = applied + 1;
    while next <= end {
        let message = tokio::time::timeout(NEXT_MESSAGE_TIMEOUT, messages.next())
            .await
            .map_err(|_| {
                ProjectionError::Nats("timed out waiting for the stream during the rebuild".into())
            })?
            .ok_or_else(|| ProjectionError::Nats("the stream ended during the rebuild".into()))?
            .map_err(nats)?;
        let seq = message.info().map_err(nats)?.stream_sequence;
        if seq != next {
            return Err(ProjectionError::Stopped(format!(
                "rebuild expected stream sequence {next} but got {seq}"
            )));
        }
        events.push(decode(seq, &message.payload)?);
        next += 1;
    }
    Ok(events)
}

/// Applies a batch with the projection's batch path; if that fails, one by
/// one inside a savepoint, so a failure names its event (and a batch path
/// that failed where single events pass still rebuilds).
async fn apply_events(
    tx: &mut PgConnection,
    projection: &dyn Projection,
    events: &[crate::ProjectedEvent],
) -> Result<(), ProjectionError> {
    let refs: Vec<&crate::ProjectedEvent> = events.iter().collect();
    sqlx::query("SAVEPOINT batch").execute(&mut *tx).await?;
    match projection.apply_all(&mut *tx, &refs).await {
        Ok(()) => {
            sqlx::query("RELEASE SAVEPOINT batch")
                .execute(&mut *tx)
                .await?;
            Ok(())
        }
        Err(e) if e.is_transient() => Err(e),
        Err(batch_error) => {
            sqlx::query("ROLLBACK TO SAVEPOINT batch")
                .execute(&mut *tx)
                .await?;
            tracing::warn!(projection = projection.name(), error = %batch_error, "the batch path failed; applying one by one");
            for event in events {
                projection.apply(&mut *tx, event).await.map_err(|e| {
                    ProjectionError::Stopped(format!("stream sequence {}: {e}", event.stream_seq))
                })?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_ddl;

    #[test]
    fn plain_indexes_are_built_after_the_load_and_keys_before() {
        let (tables, indexes) = split_ddl(
            "-- a comment; with a semicolon\nCREATE TABLE t (a int PRIMARY KEY, b text); -- why\n\
             CREATE UNIQUE INDEX t_b ON t (b);\nCREATE INDEX t_a ON t\n    (a);\n",
        );
        assert_eq!(indexes, ["CREATE INDEX t_a ON t\n    (a)"]);
        assert_eq!(
            tables,
            "CREATE TABLE t (a int PRIMARY KEY, b text);\nCREATE UNIQUE INDEX t_b ON t (b);\n"
        );
    }

    #[tokio::test]
    async fn every_projection_keeps_its_tables_and_defers_only_plain_indexes() {
        // Never connects: only the DDL is looked at.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let master = keystore::MasterKeys::parse(keystore::DEV_MASTER_KEY, &[]).unwrap();
        let keys = std::sync::Arc::new(keystore::KeyStore::new(pool, master));
        for projection in crate::all(keys) {
            let (tables, indexes) = split_ddl(projection.ddl());
            for table in projection.tables() {
                assert!(
                    tables.contains(&format!("CREATE TABLE {table} ")),
                    "{}: {table}",
                    projection.name()
                );
            }
            assert!(indexes.iter().all(|i| i.starts_with("CREATE INDEX")));
        }
    }
}
