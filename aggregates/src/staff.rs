//! The `StaffMember` aggregate: one person's entry in a tenant's staff
//! directory (id [`event_schemas::staff::staff_id`] of the tenant and the
//! user id). Phone and email are personal data (sealed when stored, like a
//! customer's); only active staff can be scheduled.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::staff::{CrewRole, StaffMemberAdded, StaffMemberEvent, StaffMemberUpdated};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::patch::Patch;
use crate::values;

/// A person's entry as it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffDetails {
    pub display_name: String,
    pub crew_roles: Vec<CrewRole>,
    pub home_location_id: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub active: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StaffMember {
    pub tenant_id: Option<TenantId>,
    pub user_id: Option<Uuid>,
    pub details: Option<StaffDetails>,
}

impl StaffMember {
    pub fn exists(&self) -> bool {
        self.details.is_some()
    }

    /// Whether the person can be put on a schedule.
    pub fn schedulable(&self) -> bool {
        self.details.as_ref().is_some_and(|d| d.active)
    }

    pub fn has_role(&self, role: CrewRole) -> bool {
        self.details
            .as_ref()
            .is_some_and(|d| d.crew_roles.contains(&role))
    }
}

/// A new entry as a client sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaffInput {
    pub display_name: String,
    pub crew_roles: Vec<CrewRole>,
    pub home_location_id: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub active: bool,
}

/// A change as a client sends it: absent fields stay, `null` clears.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaffPatch {
    pub display_name: Option<String>,
    pub crew_roles: Option<Vec<CrewRole>>,
    pub home_location_id: Patch<String>,
    pub phone: Patch<String>,
    pub email: Patch<String>,
    pub active: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StaffAction {
    Add {
        tenant_id: TenantId,
        user_id: Uuid,
        input: StaffInput,
    },
    Update(StaffPatch),
}

/// A staff command: the action, who asked, when, and the branches the
/// tenant's profile lists (a home location must be one of them; an empty
/// list accepts any location id, as before profiles existed).
#[derive(Clone, Debug, PartialEq)]
pub struct StaffCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub known_locations: Vec<String>,
    pub action: StaffAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StaffError {
    #[error("invalid staff entry: {0}")]
    Invalid(ValidationErrors),
    #[error("user {0} is already in the staff directory")]
    AlreadyExists(Uuid),
    #[error("no such staff member")]
    NotFound,
}

impl DomainError for StaffError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists(_) => ErrorKind::Conflict {
                rule: "staff.already-exists",
            },
            Self::NotFound => ErrorKind::NotFound,
        }
    }
}

impl From<ValidationErrors> for StaffError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// Crew roles in a stable order, each once (none: office staff).
fn crew_roles(mut roles: Vec<CrewRole>) -> Vec<CrewRole> {
    roles.sort();
    roles.dedup();
    roles
}

fn home_location(value: &str, known: &[String]) -> Result<String, String> {
    let id = values::identifier(value)?;
    if !known.is_empty() && !known.contains(&id) {
        return Err(format!(
            "{id} is not a location of the tenant's profile ({})",
            known.join(", ")
        ));
    }
    Ok(id)
}

/// An optional field after `patch` (an empty string clears it too), `None`
/// when the new value is invalid.
fn optional(
    v: &mut Validator,
    field: &str,
    patch: Patch<String>,
    current: Option<String>,
    rule: impl Fn(&str) -> Result<String, String>,
) -> Option<Option<String>> {
    match patch {
        Patch::Unchanged => Some(current),
        Patch::Clear => Some(None),
        Patch::Set(value) if value.trim().is_empty() => Some(None),
        Patch::Set(value) => v.check(field, rule(&value)).map(Some),
    }
}

impl StaffMember {
    /// The events `command` produces against the current state.
    pub fn decide(&self, command: StaffCommand) -> Result<Vec<StaffMemberEvent>, StaffError> {
        let StaffCommand {
            at,
            actor,
            known_locations,
            action,
        } = command;
        match action {
            StaffAction::Add {
                tenant_id,
                user_id,
                input,
            } => {
                if self.exists() {
                    return Err(StaffError::AlreadyExists(user_id));
                }
                let patch = StaffPatch {
                    display_name: Some(input.display_name),
                    crew_roles: Some(input.crew_roles),
                    home_location_id: input.home_location_id.map_or(Patch::Clear, Patch::Set),
                    phone: input.phone.map_or(Patch::Clear, Patch::Set),
                    email: input.email.map_or(Patch::Clear, Patch::Set),
                    active: Some(input.active),
                };
                let details = validate(None, patch, &known_locations)?;
                Ok(vec![
                    StaffMemberAdded {
                        tenant_id,
                        user_id,
                        display_name: details.display_name,
                        crew_roles: details.crew_roles,
                        home_location_id: details.home_location_id,
                        phone: details.phone,
                        email: details.email,
                        active: details.active,
                        added_by: actor,
                        added_at: at,
                    }
                    .into(),
                ])
            }
            StaffAction::Update(patch) => {
                let Some(current) = &self.details else {
                    return Err(StaffError::NotFound);
                };
                let details = validate(Some(current), patch, &known_locations)?;
                let mut changed = Vec::new();
                let mut differs = |name: &str, same: bool| {
                    if !same {
                        changed.push(name.to_owned());
                    }
                };
                differs("display_name", details.display_name == current.display_name);
                differs("crew_roles", details.crew_roles == current.crew_roles);
                differs(
                    "home_location_id",
                    details.home_location_id == current.home_location_id,
                );
                differs("phone", details.phone == current.phone);
                differs("email", details.email == current.email);
                differs("active", details.active == current.active);
                if changed.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![
                    StaffMemberUpdated {
                        display_name: details.display_name,
                        crew_roles: details.crew_roles,
                        home_location_id: details.home_location_id,
                        phone: details.phone,
                        email: details.email,
                        active: details.active,
                        changed_fields: changed,
                        changed_by: actor,
                        changed_at: at,
                    }
                    .into(),
                ])
            }
        }
    }
}

/// `patch` applied to `current` (`None`: a new entry), every field checked.
fn validate(
    current: Option<&StaffDetails>,
    patch: StaffPatch,
    known_locations: &[String],
) -> Result<StaffDetails, ValidationErrors> {
    let mut v = Validator::new();
    let display_name = match patch.display_name {
        Some(name) => v.check(
            "display_name",
            values::required_text(&name, values::MAX_NAME),
        ),
        None => current.map(|c| c.display_name.clone()),
    };
    let crew_roles = match patch.crew_roles {
        Some(roles) => Some(crew_roles(roles)),
        None => current.map(|c| c.crew_roles.clone()),
    };
    let home_location_id = optional(
        &mut v,
        "home_location_id",
        patch.home_location_id,
        current.and_then(|c| c.home_location_id.clone()),
        |id| home_location(id, known_locations),
    );
    let phone = optional(
        &mut v,
        "phone",
        patch.phone,
        current.and_then(|c| c.phone.clone()),
        values::phone,
    );
    let email = optional(
        &mut v,
        "email",
        patch.email,
        current.and_then(|c| c.email.clone()),
        values::email,
    );
    let active = patch.active.or(current.map(|c| c.active)).unwrap_or(true);
    v.finish()?;
    let (Some(display_name), Some(crew_roles), Some(home_location_id), Some(phone), Some(email)) =
        (display_name, crew_roles, home_location_id, phone, email)
    else {
        unreachable!("every field was validated");
    };
    Ok(StaffDetails {
        display_name,
        crew_roles,
        home_location_id,
        phone,
        email,
        active,
    })
}

impl Aggregate for StaffMember {
    const TYPE: &'static str = event_schemas::staff::AGGREGATE_TYPE;
    type Command = StaffCommand;
    type Event = StaffMemberEvent;
    type Error = StaffError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            StaffMemberEvent::StaffMemberAdded(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.user_id = Some(e.user_id);
                self.details = Some(StaffDetails {
                    display_name: e.display_name,
                    crew_roles: e.crew_roles,
                    home_location_id: e.home_location_id,
                    phone: e.phone,
                    email: e.email,
                    active: e.active,
                });
            }
            StaffMemberEvent::StaffMemberUpdated(e) => {
                self.details = Some(StaffDetails {
                    display_name: e.display_name,
                    crew_roles: e.crew_roles,
                    home_location_id: e.home_location_id,
                    phone: e.phone,
                    email: e.email,
                    active: e.active,
                });
            }
        }
    }
}
