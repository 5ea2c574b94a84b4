//! The one place that decides who may do what.
//!
//! Every command route, every query route and every list filter asks
//! [`decide`] (directly or through [`authorize`] / [`list_scope`]). Tenant
//! isolation is not decided here: it comes first and is absolute (another
//! tenant's id is simply not found).
//!
//! Baseline matrix (role × resource → actions and scope):
//!
//! | role       | Customer          | Lead                                 | AuditLog |
//! |------------|-------------------|--------------------------------------|----------|
//! | admin      | all, tenant       | all, tenant                          | read     |
//! | manager    | all, tenant       | all, tenant                          | read     |
//! | sales      | create/read/update| create/read/update, own + unassigned | —        |
//! | dispatcher | read              | read                                 | —        |
//! | accountant | read              | read                                 | —        |
//! | auditor    | read              | read                                 | read     |
//! | crew       | —                 | —                                    | —        |
//!
//! Forgetting a customer (delete on PersonalData) is for admins only.
//!
//! "Delete" on a customer is deactivation/reactivation.

use event_schemas::Role;
use uuid::Uuid;

use crate::auth::Principal;
use crate::problem::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Customer,
    Lead,
    AuditLog,
    /// A customer's personal data as such: deleting it is forgetting the
    /// person (crypto-shredding).
    PersonalData,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Approve,
}

/// Which records of the tenant a permission covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Records assigned to the user, or assigned to nobody.
    OwnOrUnassigned,
    /// Every record of the tenant.
    Tenant,
}

/// The facts about a record that scopes look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordOwnership {
    pub assigned_to: Option<Uuid>,
}

/// `None`: the role may not do this at all.
pub fn decide(role: Role, resource: Resource, action: Action) -> Option<Scope> {
    use Action::*;
    use Resource::*;
    use Role::*;
    match (role, resource, action) {
        (Admin | Manager, Customer | Lead, _) => Some(Scope::Tenant),
        (Admin | Manager | Auditor, AuditLog, Read) => Some(Scope::Tenant),
        (Admin, PersonalData, Delete) => Some(Scope::Tenant),
        (Sales, Customer, Create | Read | Update) => Some(Scope::Tenant),
        (Sales, Lead, Create | Read | Update) => Some(Scope::OwnOrUnassigned),
        (Dispatcher | Accountant | Auditor, Customer | Lead, Read) => Some(Scope::Tenant),
        _ => None,
    }
}

fn describe(resource: Resource, action: Action) -> String {
    format!("{action:?} on {resource:?}").to_lowercase()
}

/// Checks that `principal` may do `action` on `resource`, and when a record is
/// given, that the record is within the permission's scope.
pub fn authorize(
    principal: &Principal,
    resource: Resource,
    action: Action,
    record: Option<RecordOwnership>,
) -> Result<(), ApiError> {
    let Some(scope) = decide(principal.role, resource, action) else {
        return Err(ApiError::forbidden(format!(
            "role {} may not {}",
            principal.role,
            describe(resource, action)
        )));
    };
    match (scope, record) {
        (Scope::Tenant, _) | (Scope::OwnOrUnassigned, None) => Ok(()),
        (Scope::OwnOrUnassigned, Some(r)) => {
            if r.assigned_to.is_none() || r.assigned_to == Some(principal.user_id) {
                Ok(())
            } else {
                Err(ApiError::forbidden(format!(
                    "role {} may only {} records assigned to them or unassigned",
                    principal.role,
                    describe(resource, action)
                )))
            }
        }
    }
}

/// How a list must be filtered for `principal`; `Err` if they may not read
/// the resource at all.
pub fn list_scope(principal: &Principal, resource: Resource) -> Result<ListScope, ApiError> {
    authorize(principal, resource, Action::Read, None)?;
    Ok(match decide(principal.role, resource, Action::Read) {
        Some(Scope::OwnOrUnassigned) => ListScope::AssignedToOrUnassigned(principal.user_id),
        _ => ListScope::Tenant,
    })
}

/// A filter for list queries (always within the caller's tenant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListScope {
    Tenant,
    AssignedToOrUnassigned(Uuid),
}

impl ListScope {
    /// The user whose records (plus unassigned ones) the list is limited to.
    pub fn restricted_to(&self) -> Option<Uuid> {
        match self {
            Self::Tenant => None,
            Self::AssignedToOrUnassigned(user) => Some(*user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_schemas::TenantId;

    fn who(role: Role) -> Principal {
        Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user_id: Uuid::from_u128(1),
            role,
            locations: vec![],
        }
    }

    /// The full baseline table, written out independently of `decide`.
    #[test]
    fn the_baseline_matrix_holds_for_every_role_resource_and_action() {
        use Action::*;
        use Resource::*;
        let actions = [Create, Read, Update, Delete, Approve];
        for role in Role::ALL {
            for resource in [Customer, Lead, AuditLog, PersonalData] {
                for action in actions {
                    let expected = match (role, resource) {
                        (Role::Admin | Role::Manager, Customer | Lead) => Some(Scope::Tenant),
                        (Role::Admin | Role::Manager | Role::Auditor, AuditLog) => {
                            (action == Read).then_some(Scope::Tenant)
                        }
                        (Role::Admin, PersonalData) => (action == Delete).then_some(Scope::Tenant),
                        (Role::Sales, Customer) => {
                            matches!(action, Create | Read | Update).then_some(Scope::Tenant)
                        }
                        (Role::Sales, Lead) => matches!(action, Create | Read | Update)
                            .then_some(Scope::OwnOrUnassigned),
                        (Role::Dispatcher | Role::Accountant | Role::Auditor, Customer | Lead) => {
                            (action == Read).then_some(Scope::Tenant)
                        }
                        _ => None,
                    };
                    assert_eq!(
                        decide(*role, resource, action),
                        expected,
                        "{role} {resource:?} {action:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn sales_may_change_their_own_and_unassigned_leads_only() {
        let sales = who(Role::Sales);
        let mine = RecordOwnership {
            assigned_to: Some(sales.user_id),
        };
        let nobodys = RecordOwnership { assigned_to: None };
        let theirs = RecordOwnership {
            assigned_to: Some(Uuid::from_u128(2)),
        };
        assert!(authorize(&sales, Resource::Lead, Action::Update, Some(mine)).is_ok());
        assert!(authorize(&sales, Resource::Lead, Action::Update, Some(nobodys)).is_ok());
        let err = authorize(&sales, Resource::Lead, Action::Update, Some(theirs)).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::FORBIDDEN);
        assert_eq!(
            list_scope(&sales, Resource::Lead).unwrap(),
            ListScope::AssignedToOrUnassigned(sales.user_id)
        );
        assert_eq!(
            list_scope(&who(Role::Manager), Resource::Lead).unwrap(),
            ListScope::Tenant
        );
    }

    #[test]
    fn crew_cannot_even_list_customers() {
        assert!(list_scope(&who(Role::Crew), Resource::Customer).is_err());
        assert!(list_scope(&who(Role::Auditor), Resource::AuditLog).is_ok());
        assert!(
            authorize(
                &who(Role::Auditor),
                Resource::Customer,
                Action::Update,
                None
            )
            .is_err()
        );
    }
}
