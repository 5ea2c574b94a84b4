//! The one path every command on an existing aggregate takes: load it (404
//! for another tenant's), check the caller's permission on it, check
//! `If-Match`, decide and commit. Without `If-Match`, a command that loses a
//! race on the aggregate is decided again on the fresh state (a few times),
//! so concurrent requests are decided one after the other: each sees what
//! the previous committed, and a rule (a balance, a status) refuses it with
//! the reason instead of a bare 409.

use aggregates::{DomainError, TenantOwned};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::{ApiError, ApiResult, IfMatch};
use cqrs_es::Aggregate;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::store::{CommandError, Committed, Loaded, Store};

/// How often a command that lost a race is decided again.
const ATTEMPTS: u64 = 8;

/// What a command needs to know about the aggregate's owner for OWN and
/// LOCATION scopes.
pub type Ownership<A> = fn(&A) -> RecordOwnership;

/// Loads an aggregate of the caller's tenant that the caller may `action`
/// on `resource`.
pub async fn load_authorized<A>(
    store: &Store<A>,
    ctx: &CommandContext,
    id: Uuid,
    (resource, action): (Resource, Action),
    ownership: Ownership<A>,
) -> ApiResult<Loaded<A>>
where
    A: Aggregate<Services = ()> + TenantOwned,
    A::Error: DomainError,
{
    let loaded = store.load(&ctx.principal.tenant, id).await?;
    authz::authorize(
        &ctx.principal,
        resource,
        action,
        Some(ownership(loaded.state())),
    )?;
    Ok(loaded)
}

/// Load, authorize, `If-Match`, decide `command(state)`, commit; lost races
/// without `If-Match` are decided again (the command is built again from
/// the fresh state).
pub async fn act<A>(
    store: &Store<A>,
    ctx: &CommandContext,
    id: Uuid,
    if_match: &IfMatch,
    permission: (Resource, Action),
    ownership: Ownership<A>,
    command: impl Fn(&A) -> A::Command,
) -> Result<Committed, ApiError>
where
    A: Aggregate<Services = ()> + TenantOwned,
    A::Error: DomainError,
{
    let attempts = if if_match.0.is_some() { 1 } else { ATTEMPTS };
    for attempt in 1..=attempts {
        let loaded = load_authorized(store, ctx, id, permission, ownership).await?;
        if_match.check(loaded.version())?;
        let decided = command(loaded.state());
        match store.execute(loaded, decided, &ctx.metadata()).await {
            Err(CommandError::Conflict) if attempt < attempts => {
                tokio::time::sleep(std::time::Duration::from_millis(2 * attempt)).await;
            }
            other => return Ok(other?),
        }
    }
    Err(ApiError::concurrent_write())
}
