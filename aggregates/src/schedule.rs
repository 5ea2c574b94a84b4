//! The `Schedule` aggregate: an entry of the dispatch board (the seed's
//! Schedule). SCHEDULED → IN_PROGRESS → COMPLETED, or CANCELLED (from
//! SCHEDULED or IN_PROGRESS); rescheduling keeps it SCHEDULED and records
//! RESCHEDULED in its history.
//!
//! What the aggregate cannot see is checked where it can be: the crew's
//! directory entries (active, able to fill their role) and the tenant's
//! locations are looked up by the command layer and handed over as
//! [`ScheduleFacts`]; overlaps with other schedules, unavailability and
//! other bookings of a truck are refused by the database when the events
//! are stored (decision 0025).

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::schedule::{
    CrewMember, CrewMemberResponded, CrewResponse, ScheduleCancelled, ScheduleCause,
    ScheduleCompleted, ScheduleCreated, ScheduleCrewChanged, ScheduleDetailsUpdated,
    ScheduleEquipmentChanged, ScheduleEvent, ScheduleLink, SchedulePriority, ScheduleRescheduled,
    ScheduleStarted, ScheduleStatus, ScheduleType,
};
use event_schemas::staff::CrewRole;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::patch::Patch;
use crate::values;

/// A schedule lasts at most this long (a long-distance move spans days).
pub const MAX_SCHEDULE_DAYS: i64 = 31;
/// People on one crew, at most.
pub const MAX_CREW: usize = 50;
/// Pieces of equipment (and, separately, vehicles) on one schedule, at most.
pub const MAX_EQUIPMENT: usize = 50;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub tenant_id: Option<TenantId>,
    pub created: Option<ScheduleCreated>,
    pub status: Option<ScheduleStatus>,
}

impl Schedule {
    fn current(&self) -> Option<&ScheduleCreated> {
        self.created.as_ref()
    }

    pub fn crew(&self) -> &[CrewMember] {
        self.current().map_or(&[], |c| c.crew.as_slice())
    }

    /// Whether `user` is on the crew (invited, accepted or declined).
    pub fn on_crew(&self, user: Uuid) -> bool {
        self.crew().iter().any(|m| m.user_id == user)
    }

    pub fn location_id(&self) -> Option<&str> {
        self.current().map(|c| c.location_id.as_str())
    }

    pub fn created_by(&self) -> Option<Uuid> {
        self.current().map(|c| c.created_by)
    }

    pub fn lead_id(&self) -> Option<Uuid> {
        self.current().and_then(|c| c.link.lead_id)
    }

    pub fn period(&self) -> Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)> {
        self.current().map(|c| (c.starts_at, c.ends_at))
    }

    /// Every piece of equipment and vehicle it books.
    pub fn equipment(&self) -> Vec<Uuid> {
        self.current().map_or_else(Vec::new, |c| {
            c.equipment_ids
                .iter()
                .chain(&c.vehicle_ids)
                .copied()
                .collect()
        })
    }
}

/// What the command layer knows about a person it puts on a crew.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrewFact {
    pub active: bool,
    pub roles: Vec<CrewRole>,
}

/// Facts from outside the aggregate a command is decided on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleFacts {
    /// The directory entry of each person named on the crew (absent: not in
    /// the directory).
    pub staff: HashMap<Uuid, CrewFact>,
    /// The tenant profile's locations (empty: any location id).
    pub locations: Vec<String>,
}

/// A schedule as a client sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleInput {
    pub location_id: String,
    pub title: String,
    pub description: Option<String>,
    pub schedule_type: ScheduleType,
    pub priority: SchedulePriority,
    pub starts_at: DateTime<FixedOffset>,
    pub ends_at: DateTime<FixedOffset>,
    pub crew: Vec<(Uuid, CrewRole)>,
    pub equipment_ids: Vec<Uuid>,
    pub vehicle_ids: Vec<Uuid>,
    pub link: ScheduleLink,
}

/// A change: absent fields stay, `null` clears the description. A new crew
/// keeps the answers of the people already on it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedulePatch {
    pub location_id: Option<String>,
    pub title: Option<String>,
    pub description: Patch<String>,
    pub priority: Option<SchedulePriority>,
    pub crew: Option<Vec<(Uuid, CrewRole)>>,
    pub equipment_ids: Option<Vec<Uuid>>,
    pub vehicle_ids: Option<Vec<Uuid>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleAction {
    Create {
        tenant_id: TenantId,
        schedule_id: Uuid,
        input: ScheduleInput,
        cause: Option<ScheduleCause>,
    },
    Update(SchedulePatch),
    Reschedule {
        starts_at: DateTime<FixedOffset>,
        ends_at: DateTime<FixedOffset>,
        reason: Option<String>,
    },
    Start,
    Complete {
        notes: Option<String>,
    },
    Cancel {
        reason: String,
    },
    /// `user_id` accepts or declines (INVITED is not an answer).
    Respond {
        user_id: Uuid,
        response: CrewResponse,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub facts: ScheduleFacts,
    pub action: ScheduleAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("invalid schedule: {0}")]
    Invalid(ValidationErrors),
    #[error("a schedule with this id exists already")]
    AlreadyExists,
    #[error("no such schedule")]
    NotFound,
    #[error("a {status} schedule cannot {action}")]
    IllegalTransition {
        status: ScheduleStatus,
        action: &'static str,
    },
    #[error("user {0} is not on this schedule's crew")]
    NotOnCrew(Uuid),
}

impl DomainError for ScheduleError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists => ErrorKind::Conflict {
                rule: "schedule.exists",
            },
            Self::NotFound | Self::NotOnCrew(_) => ErrorKind::NotFound,
            Self::IllegalTransition { .. } => ErrorKind::Conflict {
                rule: "schedule.illegal-transition",
            },
        }
    }
}

impl From<ValidationErrors> for ScheduleError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

fn check_location(v: &mut Validator, value: &str, known: &[String]) -> Option<String> {
    let id = v.check("location_id", values::identifier(value))?;
    if !known.is_empty() && !known.contains(&id) {
        v.error(
            "location_id",
            format!(
                "{id} is not a location of the tenant's profile ({})",
                known.join(", ")
            ),
        );
        return None;
    }
    Some(id)
}

fn check_period(
    v: &mut Validator,
    starts_at: DateTime<FixedOffset>,
    ends_at: DateTime<FixedOffset>,
) {
    if ends_at <= starts_at {
        v.error("ends_at", "must be after starts_at");
    } else if ends_at - starts_at > Duration::days(MAX_SCHEDULE_DAYS) {
        v.error(
            "ends_at",
            format!("a schedule lasts at most {MAX_SCHEDULE_DAYS} days"),
        );
    }
}

/// The crew after a change: each person once, in the directory, active and
/// able to fill the role; people already on the crew keep their answer.
fn check_crew(
    v: &mut Validator,
    crew: &[(Uuid, CrewRole)],
    previous: &[CrewMember],
    facts: &ScheduleFacts,
) -> Vec<CrewMember> {
    if crew.len() > MAX_CREW {
        v.error("crew", format!("at most {MAX_CREW} people"));
    }
    let mut members: Vec<CrewMember> = Vec::with_capacity(crew.len());
    for (i, (user_id, role)) in crew.iter().enumerate() {
        let field = format!("crew[{i}].user_id");
        if members.iter().any(|m| m.user_id == *user_id) {
            v.error(&field, format!("{user_id} is listed twice"));
            continue;
        }
        match facts.staff.get(user_id) {
            None => v.error(&field, format!("{user_id} is not in the staff directory")),
            Some(fact) if !fact.active => {
                v.error(&field, format!("{user_id} is not active staff"));
            }
            Some(fact) if !fact.roles.contains(role) => v.error(
                &format!("crew[{i}].role"),
                format!(
                    "{user_id} cannot be {role} (their crew roles: {})",
                    if fact.roles.is_empty() {
                        "none".to_owned()
                    } else {
                        fact.roles
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ),
            Some(_) => {}
        }
        let response = previous
            .iter()
            .find(|m| m.user_id == *user_id)
            .map_or(CrewResponse::Invited, |m| m.response);
        members.push(CrewMember {
            user_id: *user_id,
            role: *role,
            response,
        });
    }
    members
}

fn check_ids(v: &mut Validator, field: &str, ids: &[Uuid]) -> Vec<Uuid> {
    if ids.len() > MAX_EQUIPMENT {
        v.error(field, format!("at most {MAX_EQUIPMENT}"));
    }
    let mut kept: Vec<Uuid> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if kept.contains(id) {
            v.error(&format!("{field}[{i}]"), format!("{id} is listed twice"));
        } else {
            kept.push(*id);
        }
    }
    kept
}

impl Schedule {
    fn transition(
        &self,
        action: &'static str,
        allowed: &[ScheduleStatus],
    ) -> Result<(), ScheduleError> {
        let status = self.status.ok_or(ScheduleError::NotFound)?;
        if allowed.contains(&status) {
            Ok(())
        } else {
            Err(ScheduleError::IllegalTransition { status, action })
        }
    }

    /// The events `command` produces against the current state.
    pub fn decide(&self, command: ScheduleCommand) -> Result<Vec<ScheduleEvent>, ScheduleError> {
        use ScheduleStatus::*;
        let ScheduleCommand {
            at,
            actor,
            facts,
            action,
        } = command;
        match action {
            ScheduleAction::Create {
                tenant_id,
                schedule_id,
                input,
                cause,
            } => {
                if self.created.is_some() {
                    return Err(ScheduleError::AlreadyExists);
                }
                let mut v = Validator::new();
                let location = check_location(&mut v, &input.location_id, &facts.locations);
                let title = v.check(
                    "title",
                    values::required_text(&input.title, values::MAX_SHORT_TEXT),
                );
                let description = v.check(
                    "description",
                    values::optional_text(input.description.as_deref(), values::MAX_LONG_TEXT),
                );
                check_period(&mut v, input.starts_at, input.ends_at);
                let crew = check_crew(&mut v, &input.crew, &[], &facts);
                let equipment_ids = check_ids(&mut v, "equipment_ids", &input.equipment_ids);
                let vehicle_ids = check_ids(&mut v, "vehicle_ids", &input.vehicle_ids);
                v.finish()?;
                let (Some(location_id), Some(title), Some(description)) =
                    (location, title, description)
                else {
                    unreachable!("every field was validated");
                };
                Ok(vec![
                    ScheduleCreated {
                        tenant_id,
                        schedule_id,
                        location_id,
                        title,
                        description,
                        schedule_type: input.schedule_type,
                        priority: input.priority,
                        starts_at: input.starts_at,
                        ends_at: input.ends_at,
                        crew,
                        equipment_ids,
                        vehicle_ids,
                        link: input.link,
                        created_by: actor,
                        created_at: at,
                        cause,
                    }
                    .into(),
                ])
            }
            ScheduleAction::Update(patch) => {
                self.transition("be changed", &[Scheduled, InProgress])?;
                let current = self.current().ok_or(ScheduleError::NotFound)?;
                let mut v = Validator::new();
                let location = match &patch.location_id {
                    Some(id) => check_location(&mut v, id, &facts.locations),
                    None => Some(current.location_id.clone()),
                };
                let title = match &patch.title {
                    Some(t) => v.check("title", values::required_text(t, values::MAX_SHORT_TEXT)),
                    None => Some(current.title.clone()),
                };
                let description = match &patch.description {
                    Patch::Unchanged => Some(current.description.clone()),
                    Patch::Clear => Some(None),
                    Patch::Set(d) => v.check(
                        "description",
                        values::optional_text(Some(d), values::MAX_LONG_TEXT),
                    ),
                };
                let crew = patch
                    .crew
                    .as_ref()
                    .map(|c| check_crew(&mut v, c, &current.crew, &facts));
                let equipment_ids = patch
                    .equipment_ids
                    .as_ref()
                    .map(|ids| check_ids(&mut v, "equipment_ids", ids));
                let vehicle_ids = patch
                    .vehicle_ids
                    .as_ref()
                    .map(|ids| check_ids(&mut v, "vehicle_ids", ids));
                v.finish()?;
                let (Some(location_id), Some(title), Some(description)) =
                    (location, title, description)
                else {
                    unreachable!("every field was validated");
                };
                let priority = patch.priority.unwrap_or(current.priority);
                let mut events = Vec::new();
                let mut changed = Vec::new();
                for (name, same) in [
                    ("location_id", location_id == current.location_id),
                    ("title", title == current.title),
                    ("description", description == current.description),
                    ("priority", priority == current.priority),
                ] {
                    if !same {
                        changed.push(name.to_owned());
                    }
                }
                if !changed.is_empty() {
                    events.push(
                        ScheduleDetailsUpdated {
                            location_id,
                            title,
                            description,
                            priority,
                            changed_fields: changed,
                            changed_by: actor,
                            changed_at: at,
                        }
                        .into(),
                    );
                }
                if let Some(crew) = crew.filter(|c| *c != current.crew) {
                    events.push(
                        ScheduleCrewChanged {
                            crew,
                            changed_by: actor,
                            changed_at: at,
                        }
                        .into(),
                    );
                }
                let equipment_ids = equipment_ids.unwrap_or_else(|| current.equipment_ids.clone());
                let vehicle_ids = vehicle_ids.unwrap_or_else(|| current.vehicle_ids.clone());
                if equipment_ids != current.equipment_ids || vehicle_ids != current.vehicle_ids {
                    events.push(
                        ScheduleEquipmentChanged {
                            equipment_ids,
                            vehicle_ids,
                            changed_by: actor,
                            changed_at: at,
                        }
                        .into(),
                    );
                }
                Ok(events)
            }
            ScheduleAction::Reschedule {
                starts_at,
                ends_at,
                reason,
            } => {
                self.transition("be rescheduled", &[Scheduled])?;
                let current = self.current().ok_or(ScheduleError::NotFound)?;
                let mut v = Validator::new();
                check_period(&mut v, starts_at, ends_at);
                let reason = v.check(
                    "reason",
                    values::optional_text(reason.as_deref(), values::MAX_SHORT_TEXT),
                );
                v.finish()?;
                if (starts_at, ends_at) == (current.starts_at, current.ends_at) {
                    return Ok(vec![]);
                }
                Ok(vec![
                    ScheduleRescheduled {
                        previous_starts_at: current.starts_at,
                        previous_ends_at: current.ends_at,
                        starts_at,
                        ends_at,
                        reason: reason.flatten(),
                        rescheduled_by: actor,
                        rescheduled_at: at,
                    }
                    .into(),
                ])
            }
            ScheduleAction::Start => {
                self.transition("start", &[Scheduled])?;
                Ok(vec![
                    ScheduleStarted {
                        started_by: actor,
                        started_at: at,
                    }
                    .into(),
                ])
            }
            ScheduleAction::Complete { notes } => {
                self.transition("complete", &[InProgress])?;
                let mut v = Validator::new();
                let notes = v.check(
                    "notes",
                    values::optional_text(notes.as_deref(), values::MAX_LONG_TEXT),
                );
                v.finish()?;
                Ok(vec![
                    ScheduleCompleted {
                        notes: notes.flatten(),
                        completed_by: actor,
                        completed_at: at,
                    }
                    .into(),
                ])
            }
            ScheduleAction::Cancel { reason } => {
                self.transition("be cancelled", &[Scheduled, InProgress])?;
                let mut v = Validator::new();
                let reason = v.check(
                    "reason",
                    values::required_text(&reason, values::MAX_SHORT_TEXT),
                );
                v.finish()?;
                Ok(vec![
                    ScheduleCancelled {
                        reason: reason.unwrap_or_default(),
                        cancelled_by: actor,
                        cancelled_at: at,
                    }
                    .into(),
                ])
            }
            ScheduleAction::Respond { user_id, response } => {
                self.transition("be answered", &[Scheduled, InProgress])?;
                let member = self
                    .crew()
                    .iter()
                    .find(|m| m.user_id == user_id)
                    .ok_or(ScheduleError::NotOnCrew(user_id))?;
                if response == CrewResponse::Invited {
                    let mut v = Validator::new();
                    v.error("response", "answer ACCEPTED or DECLINED");
                    v.finish()?;
                }
                if member.response == response {
                    return Ok(vec![]);
                }
                Ok(vec![
                    CrewMemberResponded {
                        user_id,
                        response,
                        responded_at: at,
                    }
                    .into(),
                ])
            }
        }
    }
}

impl Aggregate for Schedule {
    const TYPE: &'static str = event_schemas::schedule::AGGREGATE_TYPE;
    type Command = ScheduleCommand;
    type Event = ScheduleEvent;
    type Error = ScheduleError;
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
        use ScheduleEvent::*;
        match event {
            ScheduleCreated(e) => {
                self.tenant_id = Some(e.tenant_id.clone());
                self.status = Some(ScheduleStatus::Scheduled);
                self.created = Some(e);
            }
            ScheduleDetailsUpdated(e) => {
                if let Some(c) = &mut self.created {
                    c.location_id = e.location_id;
                    c.title = e.title;
                    c.description = e.description;
                    c.priority = e.priority;
                }
            }
            ScheduleCrewChanged(e) => {
                if let Some(c) = &mut self.created {
                    c.crew = e.crew;
                }
            }
            ScheduleEquipmentChanged(e) => {
                if let Some(c) = &mut self.created {
                    c.equipment_ids = e.equipment_ids;
                    c.vehicle_ids = e.vehicle_ids;
                }
            }
            ScheduleRescheduled(e) => {
                if let Some(c) = &mut self.created {
                    c.starts_at = e.starts_at;
                    c.ends_at = e.ends_at;
                }
            }
            ScheduleStarted(_) => self.status = Some(ScheduleStatus::InProgress),
            ScheduleCompleted(_) => self.status = Some(ScheduleStatus::Completed),
            ScheduleCancelled(_) => self.status = Some(ScheduleStatus::Cancelled),
            CrewMemberResponded(e) => {
                if let Some(c) = &mut self.created
                    && let Some(m) = c.crew.iter_mut().find(|m| m.user_id == e.user_id)
                {
                    m.response = e.response;
                }
            }
        }
    }
}

/// The id of the journey schedule the sales process creates for
/// `journey_id` (one per journey: a redelivered conversion finds it).
pub fn journey_schedule_id(journey_id: Uuid) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6d6f_7665_7273_2d63_726d_2d6a_6f75_726e);
    Uuid::new_v5(&NAMESPACE, journey_id.as_bytes())
}

/// When a converted quote's job is planned: on the lead's move date, from
/// the start of that day's working hours (the earliest start of the working
/// week when the move falls on a day off, 08:00 with no working hours),
/// for the tenant's default job duration, in the tenant's time zone (a
/// start in a daylight-saving gap moves to the gap's end). `None` without a
/// move date.
pub fn journey_plan(
    profile: &crate::tenant_profile::TenantProfile,
    move_date: Option<chrono::NaiveDate>,
) -> Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)> {
    use chrono::{Datelike, NaiveTime, TimeZone};
    let date = move_date?;
    let hours = profile.working_hours();
    let opens = profile
        .hours_of(date.weekday())
        .map(|w| w.opens)
        .or_else(|| hours.iter().map(|w| w.opens).min())
        .unwrap_or_else(|| NaiveTime::from_hms_opt(8, 0, 0).expect("a valid time"));
    let tz = profile.time_zone();
    let local_start = date.and_time(opens);
    let local_end =
        local_start + Duration::minutes(i64::from(profile.default_job_duration_minutes()));
    let place = |local| {
        let at = crate::recurrence::to_instant(tz, local);
        at.with_timezone(&tz.offset_from_utc_datetime(&at.naive_utc()).fix())
    };
    use chrono::Offset;
    Some((place(local_start), place(local_end)))
}
