//! How a route runs a command: always through [`Store::run`], the event
//! store's one load → decide → commit loop. These helpers add what HTTP
//! brings to the decision: the caller's permission on the loaded aggregate
//! (404 for another tenant's), and `If-Match`. Without `If-Match`, a
//! command that loses a race on the aggregate is decided again on the fresh
//! state (a few times), so concurrent requests are decided one after the
//! other: each sees what the previous committed, and a rule (a balance, a
//! status) refuses it with the reason instead of a bare 409. With
//! `If-Match`, the client pinned the version it decided on: one attempt.

use aggregates::{DomainError, TenantOwned};
use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::{ApiError, ApiResult, IfMatch};
use cqrs_es::Aggregate;
use event_store::{CommandError, Committed, Loaded, Run, Store, Target};
use uuid::Uuid;

use crate::context::CommandContext;

/// What a command needs to know about the aggregate's owner for OWN and
/// LOCATION scopes.
pub type Ownership<A> = fn(&A) -> RecordOwnership;

/// For aggregates without an owner (customers): only the role's scope counts.
pub fn unowned<A>(_: &A) -> RecordOwnership {
    RecordOwnership::default()
}

/// Loads an aggregate of the caller's tenant that the caller may `action`
/// on `resource` (to read it, or to check a reference).
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

/// Runs `decide` on `target` through [`Store::run`], checking `If-Match`
/// against the version it decided on.
pub async fn run<A>(
    store: &Store<A>,
    ctx: &CommandContext,
    target: Target,
    if_match: &IfMatch,
    mut decide: impl FnMut(&Loaded<A>) -> ApiResult<A::Command>,
) -> ApiResult<Committed>
where
    A: Aggregate<Services = ()> + TenantOwned,
    A::Error: DomainError,
{
    let run = Run::new(&ctx.principal.tenant, target).once(if_match.0.is_some());
    store
        .run(
            run,
            || ctx.metadata(),
            |loaded| {
                let command = decide(loaded)?;
                if_match.check(loaded.version())?;
                Ok(command)
            },
        )
        .await
}

/// Load, authorize, `If-Match`, decide `command(state)`, commit; lost races
/// without `If-Match` are decided again (the command is built again from
/// the fresh state).
pub async fn act<A>(
    store: &Store<A>,
    ctx: &CommandContext,
    id: Uuid,
    if_match: &IfMatch,
    (resource, action): (Resource, Action),
    ownership: Ownership<A>,
    command: impl Fn(&A) -> A::Command,
) -> Result<Committed, ApiError>
where
    A: Aggregate<Services = ()> + TenantOwned,
    A::Error: DomainError,
{
    run(store, ctx, Target::Existing(id), if_match, |loaded| {
        authz::authorize(
            &ctx.principal,
            resource,
            action,
            Some(ownership(loaded.state())),
        )?;
        Ok(command(loaded.state()))
    })
    .await
}

/// Creates an aggregate under the new `id` with `command` (the caller
/// authorized it); the event store's outcome as it is, for routes that
/// answer some refusals their own way.
pub async fn create<A>(
    store: &Store<A>,
    ctx: &CommandContext,
    id: Uuid,
    command: A::Command,
) -> Result<Committed, CommandError<A::Error>>
where
    A: Aggregate<Services = ()> + TenantOwned,
    A::Command: Clone,
    A::Error: DomainError,
{
    let run = Run::new(&ctx.principal.tenant, Target::New(id));
    store
        .run(run, || ctx.metadata(), |_| Ok(command.clone()))
        .await
}
