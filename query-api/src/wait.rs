//! Read-your-writes: a GET with `?min_version=N` waits (up to 5 s) until the
//! read model holds version N of the entity.
//!
//! One listener per process follows the projectors' `NOTIFY crm_read_models`
//! and bumps a counter; waiting requests re-read their row whenever it moves,
//! so a wait costs no polling and ends within a notification of the commit.

use std::future::Future;
use std::time::Duration;

use api_common::{ApiError, Principal};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const MAX_WAIT: Duration = Duration::from_secs(5);
/// The channel the projectors notify after each batch (the same as
/// `projections::READ_MODEL_CHANNEL`; the end-to-end tests check they agree).
pub const CHANNEL: &str = "crm_read_models";
/// Re-read even without a notification (a lost listener connection, say).
const RECHECK: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct ReadModelWatch {
    changes: watch::Receiver<u64>,
}

impl ReadModelWatch {
    /// Starts the listener task; it reconnects on its own until `shutdown`.
    pub fn spawn(pool: PgPool, shutdown: CancellationToken) -> Self {
        let (tx, rx) = watch::channel(0u64);
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                if let Err(e) = listen(&pool, &tx, &shutdown).await {
                    tracing::warn!(error = %e, "read-model listener lost; reconnecting");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        });
        Self { changes: rx }
    }

    /// Calls `read` until it returns a version ≥ `min_version` (then its
    /// value), or answers 503 with `Retry-After` after [`MAX_WAIT`].
    /// `read` returns `None` while the entity is not in the read model yet;
    /// then `exists` is asked, once: `false` (the entity does not exist for
    /// the caller) ends the wait with `None`.
    pub async fn until<T, F, Fut, E, EFut>(
        &self,
        min_version: u64,
        mut read: F,
        exists: E,
    ) -> Result<Option<T>, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<(T, u64)>, ApiError>>,
        E: FnOnce() -> EFut,
        EFut: Future<Output = Result<bool, ApiError>>,
    {
        let deadline = Instant::now() + MAX_WAIT;
        let mut changes = self.changes.clone();
        let mut exists = Some(exists);
        loop {
            changes.borrow_and_update();
            let current = read().await?;
            match current {
                Some((value, version)) if version >= min_version => return Ok(Some(value)),
                _ if min_version == 0 => return Ok(current.map(|(value, _)| value)),
                None => {
                    if let Some(check) = exists.take() {
                        if !check().await? {
                            return Ok(None);
                        }
                    }
                }
                Some(_) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ApiError::unavailable(
                    format!(
                        "the read model has not reached version {min_version} yet; retry shortly"
                    ),
                    1,
                ));
            }
            let wait = (deadline - now).min(RECHECK);
            let _ = tokio::time::timeout(wait, changes.changed()).await;
        }
    }
}

/// One entity's row (`sql` with `$1` the caller's tenant, `$2` the id),
/// waiting for `min_version` as [`ReadModelWatch::until`] does; `None` when
/// the caller's tenant has no such entity.
pub(crate) async fn fetch_versioned<T>(
    state: &crate::QueryState,
    principal: &Principal,
    (aggregate_type, id): (&str, Uuid),
    min_version: Option<u64>,
    sql: &str,
    version: fn(&T) -> i64,
) -> Result<Option<T>, ApiError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    state
        .watch
        .until(
            min_version.unwrap_or(0),
            || async {
                let row: Option<T> = sqlx::query_as(sql)
                    .bind(principal.tenant.as_str())
                    .bind(id)
                    .fetch_optional(&state.pool)
                    .await?;
                Ok(row.map(|r| {
                    let v = version(&r) as u64;
                    (r, v)
                }))
            },
            || exists_in_store(&state.pool, principal, aggregate_type, id),
        )
        .await
}

/// Whether the event store holds `aggregate_type`/`id` for the caller's
/// tenant. A read model that lacks a row may just be behind; the event store
/// tells a late row from one that will never come (unknown id, or another
/// tenant's), which is a 404 without waiting.
pub async fn exists_in_store(
    pool: &PgPool,
    principal: &Principal,
    aggregate_type: &str,
    id: Uuid,
) -> Result<bool, ApiError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events
                         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1 AND tenant_id = $3)",
    )
    .bind(aggregate_type)
    .bind(id.to_string())
    .bind(principal.tenant.as_str())
    .fetch_one(pool)
    .await?)
}

async fn listen(
    pool: &PgPool,
    tx: &watch::Sender<u64>,
    shutdown: &CancellationToken,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            n = listener.recv() => {
                n?;
                tx.send_modify(|count| *count += 1);
            }
        }
    }
}
