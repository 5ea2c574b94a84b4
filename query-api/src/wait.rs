//! Read-your-writes: a GET with `?min_version=N` waits (up to 5 s) until the
//! read model holds version N of the entity.
//!
//! Only a version that exists is worth waiting for. When the read model is
//! behind, the event store is asked once (through [`StoreVersions`], which
//! the crate owning the events table implements) for the entity's current
//! version in the caller's tenant: 0 (no such entity, or another tenant's)
//! is a 404 at once, a `min_version` beyond the current version a 422 at
//! once naming both; only a version that is committed but not yet projected
//! waits.
//!
//! One listener per process follows the projectors' `NOTIFY crm_read_models`
//! (payload `<projection>:<last seq>`) and moves that projection's watch; a
//! waiting request re-reads its row only when the projection that owns its
//! table moved, so a wait costs no polling, other projections' batches cost
//! it nothing, and it ends within a notification of the commit.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use api_common::{ApiError, Principal};
use event_schemas::TenantId;
use futures::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// The projections whose tables the single-entity GETs read (their names, as
/// the projectors notify them; each read model's queries name the
/// projection that owns their tables, and tests check each names one).
pub mod owners {
    use projections::queries;

    pub const CUSTOMERS: &str = queries::customers::PROJECTION;
    pub const LEADS: &str = queries::leads::PROJECTION;
    pub const QUOTES: &str = queries::quotes::PROJECTION;
    pub const INVOICES: &str = queries::invoices::PROJECTION;
    pub const EQUIPMENT: &str = queries::equipment::PROJECTION;
    pub const ASSIGNMENTS: &str = queries::assignments::PROJECTION;
    pub const INVENTORY: &str = queries::inventory::PROJECTION;
    pub const STAFF: &str = queries::staff::PROJECTION;
    pub const SCHEDULES: &str = queries::schedules::PROJECTION;
    pub const TEMPLATES: &str = queries::templates::PROJECTION;
    pub const COMMUNICATIONS: &str = queries::communications::PROJECTION;
    pub const RULES: &str = queries::rules::PROJECTION;
    pub const WEBHOOKS: &str = queries::webhooks::PROJECTION;
    pub const INTEGRATIONS: &str = queries::integrations::PROJECTION;
    pub const REPORTS: &str = queries::saved_reports::PROJECTION;
    pub const DASHBOARDS: &str = queries::dashboards::PROJECTION;
    pub const ALL: &[&str] = &[
        CUSTOMERS,
        LEADS,
        QUOTES,
        INVOICES,
        EQUIPMENT,
        ASSIGNMENTS,
        INVENTORY,
        STAFF,
        SCHEDULES,
        TEMPLATES,
        COMMUNICATIONS,
        RULES,
        WEBHOOKS,
        INTEGRATIONS,
        REPORTS,
        DASHBOARDS,
    ];
}
/// The channel the projectors notify after each batch.
pub const CHANNEL: &str = projections::READ_MODEL_CHANNEL;
/// Re-read even without a notification (a lost listener connection, say).
const RECHECK: Duration = Duration::from_millis(250);

/// The query of every single-entity GET.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// Wait (up to 5 s) until the read model holds at least this version
    /// (503 with `Retry-After` if it does not); a version the entity has not
    /// reached in the event store is 422 at once; not a whole number: 400.
    #[param(value_type = Option<u64>, minimum = 0)]
    min_version: Option<String>,
}

impl GetParams {
    /// The version to wait for (0: none); 400 naming `min_version` when it
    /// is not a whole number that fits 64 bits.
    pub fn min_version(&self) -> Result<u64, ApiError> {
        match self.min_version.as_deref() {
            None => Ok(0),
            Some(text) => text.parse().map_err(|_| {
                ApiError::bad_field(
                    "min_version",
                    format!(
                        "must be a whole number from 0 to {}, not `{text}`",
                        u64::MAX
                    ),
                )
            }),
        }
    }
}

/// The event store's answer to "which version is this entity at?". The
/// events table belongs to command-api; query-api never reads it itself,
/// it asks through this trait (wired in the composition root).
pub trait StoreVersions: Send + Sync {
    /// The current version (its number of events) of `aggregate_type`/`id`
    /// in `tenant`; 0 when `tenant` has no such aggregate (another
    /// tenant's included).
    fn current_version<'a>(
        &'a self,
        tenant: &'a TenantId,
        aggregate_type: &'a str,
        id: Uuid,
    ) -> BoxFuture<'a, Result<u64, ApiError>>;
}

/// Shared handle on a [`StoreVersions`].
pub type Versions = Arc<dyn StoreVersions>;

#[derive(Clone)]
pub struct ReadModelWatch {
    projections: Watches,
    /// Ends the long-lived readers (dashboard streams) on shutdown.
    shutdown: CancellationToken,
    /// Permits for the open dashboard streams of this process.
    streams: Arc<tokio::sync::Semaphore>,
}

/// Dashboard streams a process keeps open unless told otherwise.
pub const DEFAULT_MAX_STREAMS: usize = 256;

/// Each projection's last notified stream sequence, by name.
type Watches = Arc<std::sync::Mutex<std::collections::HashMap<String, watch::Sender<u64>>>>;

impl ReadModelWatch {
    /// Starts the listener task; it reconnects on its own until `shutdown`.
    pub fn spawn(pool: PgPool, shutdown: CancellationToken) -> Self {
        let projections = Watches::default();
        let tx = projections.clone();
        let token = shutdown.clone();
        tokio::spawn(async move {
            let shutdown = token;
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
        Self {
            projections,
            streams: Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_STREAMS)),
            shutdown,
        }
    }

    /// At most `n` dashboard streams open at once in this process.
    pub fn with_max_streams(mut self, n: usize) -> Self {
        self.streams = Arc::new(tokio::sync::Semaphore::new(n));
        self
    }

    /// A permit for one more open stream, if under the limit.
    pub(crate) fn stream_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.streams.clone().try_acquire_owned().ok()
    }

    /// Cancelled when the process shuts down.
    pub(crate) fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The watch of `projection`'s progress.
    pub(crate) fn changes(&self, projection: &str) -> watch::Receiver<u64> {
        self.projections
            .lock()
            .expect("read-model watch lock")
            .entry(projection.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Calls `read` until it returns a version ≥ `min_version` (then its
    /// value), or answers 503 with `Retry-After` after [`MAX_WAIT`].
    /// `read` returns `None` while the entity is not in the read model yet.
    /// The first time `read` falls short, `store_version` is asked, once,
    /// for the entity's version in the event store: 0 (the entity does not
    /// exist for the caller) ends the wait with `None`; a version below
    /// `min_version` is a 422 naming `min_version` (it will never come).
    pub async fn until<T, F, Fut, V, VFut>(
        &self,
        projection: &str,
        min_version: u64,
        mut read: F,
        store_version: V,
    ) -> Result<Option<T>, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<(T, u64)>, ApiError>>,
        V: FnOnce() -> VFut,
        VFut: Future<Output = Result<u64, ApiError>>,
    {
        let deadline = Instant::now() + MAX_WAIT;
        let mut changes = self.changes(projection);
        let mut store_version = Some(store_version);
        loop {
            changes.borrow_and_update();
            let current = read().await?;
            match current {
                Some((value, version)) if version >= min_version => return Ok(Some(value)),
                _ if min_version == 0 => return Ok(current.map(|(value, _)| value)),
                _ => {}
            }
            if let Some(ask) = store_version.take() {
                let committed = ask().await?;
                if committed == 0 {
                    return Ok(None);
                }
                if min_version > committed {
                    return Err(beyond_current(min_version, committed));
                }
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

/// 422: the caller asked to wait for a version the entity never reached.
fn beyond_current(min_version: u64, current: u64) -> ApiError {
    ApiError::invalid_field(
        "min_version",
        format!(
            "the entity is at version {current}; version {min_version} does not exist (yet), so there is nothing to wait for"
        ),
    )
    .with_current_version(current)
}

/// One entity's row (`fetch` reads it from the caller's tenant), waiting
/// for `min_version` as [`ReadModelWatch::until`] does; `None` when the
/// caller's tenant has no such entity.
pub(crate) async fn fetch_versioned<T, F, Fut>(
    state: &crate::QueryState,
    principal: &Principal,
    (aggregate_type, id): (&str, Uuid),
    projection: &str,
    min_version: u64,
    fetch: F,
    version: fn(&T) -> i64,
) -> Result<Option<T>, ApiError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>, sqlx::Error>>,
{
    state
        .watch
        .until(
            projection,
            min_version,
            || async {
                Ok(fetch().await?.map(|r| {
                    let v = version(&r) as u64;
                    (r, v)
                }))
            },
            || store_version(state, principal, aggregate_type, id),
        )
        .await
}

/// The current version of `aggregate_type`/`id` in the caller's tenant,
/// from the event store (0: none).
pub(crate) async fn store_version(
    state: &crate::QueryState,
    principal: &Principal,
    aggregate_type: &str,
    id: Uuid,
) -> Result<u64, ApiError> {
    state
        .versions
        .current_version(&principal.tenant, aggregate_type, id)
        .await
}

async fn listen(
    pool: &PgPool,
    watches: &Watches,
    shutdown: &CancellationToken,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // Whatever was missed while not listening: every waiter looks again.
    for tx in watches.lock().expect("read-model watch lock").values() {
        tx.send_modify(|seq| *seq = seq.wrapping_add(1));
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            n = listener.recv() => {
                let notification = n?;
                let (name, seq) = notification
                    .payload()
                    .rsplit_once(':')
                    .unwrap_or((notification.payload(), "0"));
                if let Some(tx) = watches.lock().expect("read-model watch lock").get(name) {
                    let seq = seq.parse().unwrap_or(0);
                    tx.send_modify(|last| *last = seq.max(last.wrapping_add(1)));
                }
            }
        }
    }
}
