//! Where a caller's [`Policy`] comes from: the permission tables the event
//! store keeps, cached per process (docs/decisions/0019-policy-cache.md).
//!
//! * **Commands** may use a cached policy at any time. Their events carry the
//!   policy's version and the earliest expiry of its grants; the event store
//!   refuses the commit with `CRM03` when either is out of date, and the
//!   request is decided again under a fresh policy ([`authenticate`]). A
//!   command refused (403) under a cached policy is also retried once with a
//!   fresh one, so a new grant works at once.
//! * **Reads** use the cache only while this process listens on the
//!   `crm_permissions` channel, which every permission change notifies: a read
//!   may see the previous policy for as long as a notification takes to
//!   arrive (milliseconds). Without the listener, reads load the policy.
//! * A cached policy holding a grant is used only until the grant expires.
//!
//! [`authenticate`]: crate::auth::authenticate

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use event_schemas::{Role, TenantId};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::authz::Policy;
use crate::problem::ApiError;

/// The channel every permission change is announced on (payload: the tenant).
pub const PERMISSIONS_CHANNEL: &str = "crm_permissions";

/// Beyond this many cached callers the cache starts afresh (a bound on memory).
const MAX_ENTRIES: usize = 50_000;

type Key = (TenantId, Role, Uuid);

/// Loads policies, through a cache shared by every clone.
#[derive(Clone, Debug)]
pub struct PolicyStore {
    pool: PgPool,
    cache: Arc<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    entries: Mutex<HashMap<Key, Arc<Policy>>>,
    /// Bumped by every invalidation: a load that started before one is not
    /// cached (it may hold what was just invalidated).
    generation: AtomicU64,
    /// Whether invalidations are being received (reads may use the cache).
    listening: AtomicBool,
}

/// What a policy is loaded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A command: the event store checks the policy's version at commit.
    Command,
    /// A read: cached only while invalidations are received.
    Read,
}

impl Purpose {
    /// Reads for GET and HEAD; commands for every other method.
    pub fn of(method: &axum::http::Method) -> Self {
        if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
            Self::Read
        } else {
            Self::Command
        }
    }
}

/// A policy and whether it came from the cache.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub policy: Arc<Policy>,
    pub cached: bool,
}

impl PolicyStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            cache: Arc::default(),
        }
    }

    /// The overrides for `role` and the active grants of `user` in `tenant`,
    /// with the tenant's matrix version.
    pub async fn load(
        &self,
        tenant: &TenantId,
        role: Role,
        user: Uuid,
        purpose: Purpose,
    ) -> Result<Loaded, ApiError> {
        let usable = purpose == Purpose::Command || self.cache.listening.load(Ordering::Acquire);
        let key = (tenant.clone(), role, user);
        if usable {
            let entries = self.cache.entries.lock().expect("policy cache lock");
            if let Some(policy) = entries.get(&key)
                && policy.valid_until.is_none_or(|until| until > Utc::now())
            {
                return Ok(Loaded {
                    policy: policy.clone(),
                    cached: true,
                });
            }
        }
        let generation = self.cache.generation.load(Ordering::Acquire);
        let policy = Arc::new(load_policy(&self.pool, tenant, role, user).await?);
        let mut entries = self.cache.entries.lock().expect("policy cache lock");
        if self.cache.generation.load(Ordering::Acquire) == generation {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, policy.clone());
        }
        Ok(Loaded {
            policy,
            cached: false,
        })
    }

    /// Forgets the cached policies of `tenant`.
    pub fn invalidate(&self, tenant: &TenantId) {
        let mut entries = self.cache.entries.lock().expect("policy cache lock");
        self.cache.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|(t, _, _), _| t != tenant);
    }

    fn invalidate_all(&self) {
        let mut entries = self.cache.entries.lock().expect("policy cache lock");
        self.cache.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Whether reads may use the cache now.
    pub fn listening(&self) -> bool {
        self.cache.listening.load(Ordering::Acquire)
    }

    /// Listens for permission changes until `shutdown`, invalidating the
    /// changed tenant's policies; while the listener is down (and until it
    /// first connects) reads bypass the cache.
    pub async fn keep_invalidated(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                result = self.listen() => {
                    self.cache.listening.store(false, Ordering::Release);
                    self.invalidate_all();
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "the permission listener stopped; reads load policies until it is back");
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        self.cache.listening.store(false, Ordering::Release);
    }

    async fn listen(&self) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(PERMISSIONS_CHANNEL).await?;
        // Whatever changed before the listener was up is forgotten.
        self.invalidate_all();
        self.cache.listening.store(true, Ordering::Release);
        loop {
            // `recv` reconnects silently, losing what was sent meanwhile:
            // `try_recv` reports the lost connection instead.
            match listener.try_recv().await? {
                Some(notification) => match TenantId::parse(notification.payload()) {
                    Ok(tenant) => self.invalidate(&tenant),
                    Err(_) => self.invalidate_all(),
                },
                None => return Ok(()),
            }
        }
    }
}

async fn load_policy(
    pool: &PgPool,
    tenant: &TenantId,
    role: Role,
    user: Uuid,
) -> Result<Policy, ApiError> {
    let (version, entries) = event_store::lookups::policy(pool, tenant, role, user).await?;
    let mut policy = Policy {
        version,
        ..Policy::default()
    };
    for entry in entries {
        let event_store::lookups::PolicyEntry {
            is_override,
            resource,
            action,
            scope,
            expires_at,
        } = entry;
        let (Ok(resource), Ok(action)) = (resource.parse(), action.parse()) else {
            tracing::warn!(%resource, %action, "ignoring a permission this build does not know");
            continue;
        };
        let scope = scope.and_then(|s| s.parse().ok());
        match (is_override, scope) {
            (true, scope) => {
                policy.overrides.insert((resource, action), scope);
            }
            (false, Some(scope)) => {
                policy.grants.push((resource, action, scope));
                if let Some(expires_at) = expires_at {
                    policy.valid_until = Some(
                        policy
                            .valid_until
                            .map_or(expires_at, |until| until.min(expires_at)),
                    );
                }
            }
            (false, None) => {}
        }
    }
    Ok(policy)
}
