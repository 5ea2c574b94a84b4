//! The `TenantPermissions` aggregate: one per tenant, the admin-made changes
//! to the permission matrix and the per-user grants.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::permissions::{
    Action, PermissionEvent, Resource, RolePermissionSet, Scope, UserPermissionGranted,
    UserPermissionRevoked,
};
use event_schemas::{Role, TenantId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::values;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub user_id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantPermissions {
    pub tenant_id: Option<TenantId>,
    pub grants: HashMap<Uuid, Grant>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PermissionAction {
    SetRolePermission {
        role: Role,
        resource: Resource,
        action: Action,
        scope: Option<Scope>,
        reason: String,
    },
    Grant {
        grant_id: Uuid,
        user_id: Uuid,
        resource: Resource,
        action: Action,
        scope: Scope,
        expires_at: Option<DateTime<Utc>>,
        reason: String,
    },
    Revoke {
        grant_id: Uuid,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct PermissionCommand {
    pub tenant_id: TenantId,
    pub at: DateTime<Utc>,
    pub action: PermissionAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PermissionError {
    #[error("invalid permission change: {0}")]
    Invalid(ValidationErrors),
    #[error(
        "the admin role's permissions on the permission matrix cannot be changed (it would lock the tenant out)"
    )]
    AdminLocked,
    #[error("no grant {0}")]
    GrantNotFound(Uuid),
    #[error("grant {0} is already revoked or expired")]
    GrantInactive(Uuid),
}

impl DomainError for PermissionError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AdminLocked => ErrorKind::Conflict {
                rule: "permissions.admin-locked",
            },
            Self::GrantNotFound(_) => ErrorKind::NotFound,
            Self::GrantInactive(_) => ErrorKind::Conflict {
                rule: "permissions.grant-inactive",
            },
        }
    }
}

impl From<ValidationErrors> for PermissionError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

fn reason(v: &mut Validator, reason: &str) -> String {
    v.check(
        "reason",
        values::required_text(reason, values::MAX_SHORT_TEXT),
    )
    .unwrap_or_default()
}

impl TenantPermissions {
    fn decide(&self, cmd: PermissionCommand) -> Result<PermissionEvent, PermissionError> {
        let PermissionCommand {
            tenant_id,
            at,
            action,
        } = cmd;
        let mut v = Validator::new();
        Ok(match action {
            PermissionAction::SetRolePermission {
                role,
                resource,
                action,
                scope,
                reason: why,
            } => {
                if role == Role::Admin && resource == Resource::Permission {
                    return Err(PermissionError::AdminLocked);
                }
                let why = reason(&mut v, &why);
                v.finish()?;
                RolePermissionSet {
                    tenant_id,
                    role,
                    resource,
                    action,
                    scope,
                    reason: why,
                }
                .into()
            }
            PermissionAction::Grant {
                grant_id,
                user_id,
                resource,
                action,
                scope,
                expires_at,
                reason: why,
            } => {
                let why = reason(&mut v, &why);
                if expires_at.is_some_and(|e| e <= at) {
                    v.error("expires_at", "must be in the future");
                }
                v.finish()?;
                UserPermissionGranted {
                    tenant_id,
                    grant_id,
                    user_id,
                    resource,
                    action,
                    scope,
                    expires_at,
                    reason: why,
                }
                .into()
            }
            PermissionAction::Revoke {
                grant_id,
                reason: why,
            } => {
                let grant = self
                    .grants
                    .get(&grant_id)
                    .ok_or(PermissionError::GrantNotFound(grant_id))?;
                if grant.revoked || grant.expires_at.is_some_and(|e| e <= at) {
                    return Err(PermissionError::GrantInactive(grant_id));
                }
                let why = reason(&mut v, &why);
                v.finish()?;
                UserPermissionRevoked {
                    grant_id,
                    reason: why,
                }
                .into()
            }
        })
    }
}

impl Aggregate for TenantPermissions {
    const TYPE: &'static str = event_schemas::permissions::AGGREGATE_TYPE;
    type Command = PermissionCommand;
    type Event = PermissionEvent;
    type Error = PermissionError;
    type Services = ();

    async fn handle(
        &mut self,
        cmd: PermissionCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), PermissionError> {
        let event = self.decide(cmd)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PermissionEvent) {
        match event {
            PermissionEvent::RolePermissionSet(e) => self.tenant_id = Some(e.tenant_id),
            PermissionEvent::UserPermissionGranted(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.grants.insert(
                    e.grant_id,
                    Grant {
                        user_id: e.user_id,
                        expires_at: e.expires_at,
                        revoked: false,
                    },
                );
            }
            PermissionEvent::UserPermissionRevoked(e) => {
                if let Some(grant) = self.grants.get_mut(&e.grant_id) {
                    grant.revoked = true;
                }
            }
        }
    }
}

impl crate::TenantOwned for TenantPermissions {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn cmd(now: &str, action: PermissionAction) -> PermissionCommand {
        PermissionCommand {
            tenant_id: tenant(),
            at: at(now),
            action,
        }
    }

    fn grant(expires: Option<&str>) -> PermissionAction {
        PermissionAction::Grant {
            grant_id: Uuid::from_u128(9),
            user_id: Uuid::from_u128(1),
            resource: Resource::AuditLog,
            action: Action::Read,
            scope: Scope::Client,
            expires_at: expires.map(at),
            reason: "quarter-end audit".into(),
        }
    }

    fn granted(expires: Option<&str>) -> PermissionEvent {
        UserPermissionGranted {
            tenant_id: tenant(),
            grant_id: Uuid::from_u128(9),
            user_id: Uuid::from_u128(1),
            resource: Resource::AuditLog,
            action: Action::Read,
            scope: Scope::Client,
            expires_at: expires.map(at),
            reason: "quarter-end audit".into(),
        }
        .into()
    }

    fn framework() -> TestFramework<TenantPermissions> {
        TestFramework::with(())
    }

    #[test]
    fn an_admin_sets_a_roles_scope_with_a_reason() {
        let set = PermissionAction::SetRolePermission {
            role: Role::Sales,
            resource: Resource::Lead,
            action: Action::Read,
            scope: Some(Scope::Location),
            reason: "branch teams".into(),
        };
        framework()
            .given_no_previous_events()
            .when(cmd("2026-01-01T00:00:00Z", set))
            .then_expect_events(vec![
                RolePermissionSet {
                    tenant_id: tenant(),
                    role: Role::Sales,
                    resource: Resource::Lead,
                    action: Action::Read,
                    scope: Some(Scope::Location),
                    reason: "branch teams".into(),
                }
                .into(),
            ]);
    }

    #[test]
    fn the_admins_rights_on_the_matrix_are_locked() {
        let set = PermissionAction::SetRolePermission {
            role: Role::Admin,
            resource: Resource::Permission,
            action: Action::Update,
            scope: None,
            reason: "oops".into(),
        };
        framework()
            .given_no_previous_events()
            .when(cmd("2026-01-01T00:00:00Z", set))
            .then_expect_error(PermissionError::AdminLocked);
    }

    #[test]
    fn a_grant_needs_a_reason_and_a_future_expiry() {
        framework()
            .given_no_previous_events()
            .when(cmd(
                "2026-01-01T00:00:00Z",
                grant(Some("2026-02-01T00:00:00Z")),
            ))
            .then_expect_events(vec![granted(Some("2026-02-01T00:00:00Z"))]);
        framework()
            .given_no_previous_events()
            .when(cmd(
                "2026-01-01T00:00:00Z",
                grant(Some("2025-12-31T00:00:00Z")),
            ))
            .then_expect_error(PermissionError::Invalid(ValidationErrors::single(
                "expires_at",
                "must be in the future",
            )));
        let no_reason = match grant(None) {
            PermissionAction::Grant {
                grant_id,
                user_id,
                resource,
                action,
                scope,
                expires_at,
                ..
            } => PermissionAction::Grant {
                grant_id,
                user_id,
                resource,
                action,
                scope,
                expires_at,
                reason: " ".into(),
            },
            other => other,
        };
        framework()
            .given_no_previous_events()
            .when(cmd("2026-01-01T00:00:00Z", no_reason))
            .then_expect_error(PermissionError::Invalid(ValidationErrors::single(
                "reason",
                "must not be empty",
            )));
    }

    #[test]
    fn a_grant_is_revoked_once_and_only_while_active() {
        let revoke = || PermissionAction::Revoke {
            grant_id: Uuid::from_u128(9),
            reason: "done".into(),
        };
        framework()
            .given(vec![granted(None)])
            .when(cmd("2026-01-02T00:00:00Z", revoke()))
            .then_expect_events(vec![
                UserPermissionRevoked {
                    grant_id: Uuid::from_u128(9),
                    reason: "done".into(),
                }
                .into(),
            ]);
        framework()
            .given(vec![
                granted(None),
                UserPermissionRevoked {
                    grant_id: Uuid::from_u128(9),
                    reason: "done".into(),
                }
                .into(),
            ])
            .when(cmd("2026-01-03T00:00:00Z", revoke()))
            .then_expect_error(PermissionError::GrantInactive(Uuid::from_u128(9)));
        framework()
            .given(vec![granted(Some("2026-01-02T00:00:00Z"))])
            .when(cmd("2026-01-03T00:00:00Z", revoke()))
            .then_expect_error(PermissionError::GrantInactive(Uuid::from_u128(9)));
        framework()
            .given_no_previous_events()
            .when(cmd("2026-01-03T00:00:00Z", revoke()))
            .then_expect_error(PermissionError::GrantNotFound(Uuid::from_u128(9)));
    }
}
