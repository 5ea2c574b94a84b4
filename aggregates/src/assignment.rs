//! The `EquipmentAssignment` aggregate: a piece of equipment booked for a
//! journey and/or a user over the half-open period `[starts_at, ends_at)`.
//!
//! ```text
//!   Assign (equipment exists and is ACTIVE; starts_at < ends_at)
//!      │
//!      ▼
//!   ACTIVE ◀── Reschedule (before checkout: start and end; after: the end only)
//!      │ │
//!      │ └── CheckOut ──▶ ACTIVE, checked out ── Return ──▶ COMPLETED (final)
//!      ▼ Cancel (not after checkout)
//!   CANCELLED (final)
//! ```
//!
//! Two assignments of the same equipment (or an assignment and a maintenance
//! window) never overlap. That rule spans aggregates, so a Postgres exclusion
//! constraint enforces it when the event is stored; [`overlaps`] and
//! [`Calendar`] state the same rule in pure code.
//!
//! ```
//! use aggregates::assignment::{Calendar, overlaps};
//! use chrono::{TimeZone, Utc};
//! let h = |h| Utc.with_ymd_and_hms(2026, 5, 1, h, 0, 0).unwrap();
//! assert!(overlaps((h(8), h(12)), (h(11), h(14))));
//! assert!(!overlaps((h(8), h(12)), (h(12), h(14))), "half-open: touching is fine");
//! let mut calendar = Calendar::default();
//! assert_eq!(calendar.book(1, (h(8), h(12))), Ok(()));
//! assert_eq!(calendar.book(2, (h(10), h(13))), Err(1));
//! assert_eq!(calendar.book(3, (h(12), h(13))), Ok(()));
//! ```

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
pub use event_schemas::assignment::AssignmentStatus;
use event_schemas::assignment::{
    AssignmentCancelled, AssignmentCheckedOut, AssignmentRescheduled, AssignmentReturned,
    EquipmentAssigned, EquipmentAssignmentEvent,
};
use event_schemas::equipment::EquipmentStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::values;

/// A half-open period `[start, end)`.
pub type Period = (DateTime<Utc>, DateTime<Utc>);

/// Whether two half-open periods share an instant. A period ending when the
/// other starts does not overlap it; an empty period overlaps nothing.
pub fn overlaps(a: Period, b: Period) -> bool {
    a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1
}

/// The bookings of one piece of equipment, in memory: the rule the exclusion
/// constraint enforces in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar<K> {
    booked: Vec<(K, Period)>,
}

impl<K> Default for Calendar<K> {
    fn default() -> Self {
        Self { booked: Vec::new() }
    }
}

impl<K: Clone + PartialEq> Calendar<K> {
    /// Books `period` under `id`, or names a booking it overlaps.
    pub fn book(&mut self, id: K, period: Period) -> Result<(), K> {
        if let Some((other, _)) = self.booked.iter().find(|(_, p)| overlaps(*p, period)) {
            return Err(other.clone());
        }
        self.booked.push((id, period));
        Ok(())
    }

    /// Frees a booking (a cancelled or returned assignment).
    pub fn release(&mut self, id: &K) {
        self.booked.retain(|(k, _)| k != id);
    }

    pub fn bookings(&self) -> &[(K, Period)] {
        &self.booked
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EquipmentAssignment {
    pub id: Option<Uuid>,
    pub tenant_id: Option<TenantId>,
    pub equipment_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub purpose: Option<String>,
    pub notes: Option<String>,
    pub assigned_by: Option<Uuid>,
    pub checked_out_at: Option<DateTime<Utc>>,
    pub checkout_odometer_km: Option<u32>,
    pub returned_at: Option<DateTime<Utc>>,
    pub return_odometer_km: Option<u32>,
    pub cancelled: bool,
}

// ---------------------------------------------------------------- commands

/// Books equipment. `equipment_status` is what the command layer read
/// (`None`: no such equipment of the tenant).
#[derive(Clone, Debug, PartialEq)]
pub struct AssignEquipment {
    pub assignment_id: Uuid,
    pub tenant_id: TenantId,
    pub equipment_id: Uuid,
    pub equipment_status: Option<EquipmentStatus>,
    pub journey_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub purpose: Option<String>,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AssignmentAction {
    Assign(AssignEquipment),
    /// ACTIVE, not checked out yet.
    CheckOut {
        odometer_km: Option<u32>,
    },
    /// Checked out, not returned: COMPLETED.
    Return {
        odometer_km: Option<u32>,
        condition_notes: Option<String>,
    },
    /// ACTIVE, not checked out: CANCELLED.
    Cancel {
        reason: String,
    },
    /// ACTIVE; once checked out only `ends_at` may change. The same period
    /// again produces no event.
    Reschedule {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
}

/// An assignment command: the action, who asked, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct AssignmentCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: AssignmentAction,
}

// ---------------------------------------------------------------- errors

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssignmentError {
    #[error("invalid assignment: {0}")]
    Invalid(ValidationErrors),
    #[error("assignment {0} already exists")]
    AlreadyExists(Uuid),
    #[error("assignment not found")]
    NotFound,
    #[error("equipment {0} does not exist")]
    UnknownEquipment(Uuid),
    #[error("equipment is {0} and cannot be assigned")]
    EquipmentUnavailable(EquipmentStatus),
    #[error("assignment is {0}")]
    Closed(AssignmentStatus),
    #[error("equipment is already checked out")]
    AlreadyCheckedOut,
    #[error("equipment has not been checked out")]
    NotCheckedOut,
    #[error("equipment is checked out; only the end of the period can change")]
    StartFixed,
}

impl DomainError for AssignmentError {
    fn kind(&self) -> ErrorKind<'_> {
        let rule = match self {
            Self::Invalid(errors) => return ErrorKind::Invalid(errors),
            Self::NotFound => return ErrorKind::NotFound,
            Self::AlreadyExists(_) => "assignment.already-exists",
            Self::UnknownEquipment(_) => "assignment.unknown-equipment",
            Self::EquipmentUnavailable(_) => "assignment.equipment-unavailable",
            Self::Closed(_) => "assignment.closed",
            Self::AlreadyCheckedOut => "assignment.already-checked-out",
            Self::NotCheckedOut => "assignment.not-checked-out",
            Self::StartFixed => "assignment.start-fixed",
        };
        ErrorKind::Conflict { rule }
    }
}

impl From<ValidationErrors> for AssignmentError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

// ---------------------------------------------------------------- read helpers

impl EquipmentAssignment {
    pub fn is_created(&self) -> bool {
        self.id.is_some()
    }

    pub fn status(&self) -> AssignmentStatus {
        if self.cancelled {
            AssignmentStatus::Cancelled
        } else if self.returned_at.is_some() {
            AssignmentStatus::Completed
        } else {
            AssignmentStatus::Active
        }
    }

    pub fn is_checked_out(&self) -> bool {
        self.checked_out_at.is_some()
    }

    /// The booked period `[starts_at, ends_at)`.
    pub fn period(&self) -> Option<Period> {
        Some((self.starts_at?, self.ends_at?))
    }
}

// ---------------------------------------------------------------- deciding

fn period(v: &mut Validator, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) {
    if starts_at >= ends_at {
        v.error("ends_at", "must be after starts_at");
    }
}

fn notes(v: &mut Validator, field: &str, value: Option<&str>) -> Option<Option<String>> {
    v.check(field, values::optional_text(value, values::MAX_LONG_TEXT))
}

impl EquipmentAssignment {
    fn assign(
        cmd: AssignEquipment,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<EquipmentAssigned, AssignmentError> {
        let mut v = Validator::new();
        if cmd.journey_id.is_none() && cmd.user_id.is_none() {
            v.error("journey_id", "a journey or a user is required");
        }
        period(&mut v, cmd.starts_at, cmd.ends_at);
        let purpose = v.check(
            "purpose",
            values::optional_text(cmd.purpose.as_deref(), values::MAX_SHORT_TEXT),
        );
        let notes = notes(&mut v, "notes", cmd.notes.as_deref());
        v.finish()?;
        match cmd.equipment_status {
            None => return Err(AssignmentError::UnknownEquipment(cmd.equipment_id)),
            Some(status) if !status.is_assignable() => {
                return Err(AssignmentError::EquipmentUnavailable(status));
            }
            Some(_) => {}
        }
        let (Some(purpose), Some(notes)) = (purpose, notes) else {
            unreachable!("every field was validated");
        };
        Ok(EquipmentAssigned {
            tenant_id: cmd.tenant_id,
            assignment_id: cmd.assignment_id,
            equipment_id: cmd.equipment_id,
            journey_id: cmd.journey_id,
            user_id: cmd.user_id,
            starts_at: cmd.starts_at,
            ends_at: cmd.ends_at,
            purpose,
            notes,
            assigned_by: actor,
            assigned_at: at,
        })
    }

    fn ensure_active(&self) -> Result<(), AssignmentError> {
        match self.status() {
            AssignmentStatus::Active => Ok(()),
            closed => Err(AssignmentError::Closed(closed)),
        }
    }

    /// The events `command` produces against the current state.
    pub fn decide(
        &self,
        command: AssignmentCommand,
    ) -> Result<Vec<EquipmentAssignmentEvent>, AssignmentError> {
        let AssignmentCommand { at, actor, action } = command;
        if let AssignmentAction::Assign(cmd) = action {
            if let Some(id) = self.id {
                return Err(AssignmentError::AlreadyExists(id));
            }
            return Ok(vec![Self::assign(cmd, at, actor)?.into()]);
        }
        let Some((starts_at, ends_at)) = self.period().filter(|_| self.is_created()) else {
            return Err(AssignmentError::NotFound);
        };
        self.ensure_active()?;
        let event: EquipmentAssignmentEvent = match action {
            AssignmentAction::Assign(_) => unreachable!("handled above"),
            AssignmentAction::CheckOut { odometer_km } => {
                if self.is_checked_out() {
                    return Err(AssignmentError::AlreadyCheckedOut);
                }
                AssignmentCheckedOut {
                    checked_out_at: at,
                    checked_out_by: actor,
                    odometer_km,
                }
                .into()
            }
            AssignmentAction::Return {
                odometer_km,
                condition_notes,
            } => {
                let mut v = Validator::new();
                if let (Some(out), Some(back)) = (self.checkout_odometer_km, odometer_km)
                    && back < out
                {
                    v.error(
                        "odometer_km",
                        format!("must not be less than the {out} km read at checkout"),
                    );
                }
                let condition_notes = notes(&mut v, "condition_notes", condition_notes.as_deref());
                v.finish()?;
                if !self.is_checked_out() {
                    return Err(AssignmentError::NotCheckedOut);
                }
                AssignmentReturned {
                    returned_at: at,
                    returned_by: actor,
                    odometer_km,
                    condition_notes: condition_notes.flatten(),
                }
                .into()
            }
            AssignmentAction::Cancel { reason } => {
                let reason = values::required_text(&reason, values::MAX_LONG_TEXT)
                    .map_err(|m| ValidationErrors::single("reason", m))?;
                if self.is_checked_out() {
                    return Err(AssignmentError::AlreadyCheckedOut);
                }
                AssignmentCancelled {
                    reason,
                    cancelled_by: actor,
                    cancelled_at: at,
                }
                .into()
            }
            AssignmentAction::Reschedule {
                starts_at: new_start,
                ends_at: new_end,
            } => {
                let mut v = Validator::new();
                period(&mut v, new_start, new_end);
                v.finish()?;
                if self.is_checked_out() && new_start != starts_at {
                    return Err(AssignmentError::StartFixed);
                }
                if (new_start, new_end) == (starts_at, ends_at) {
                    return Ok(vec![]);
                }
                AssignmentRescheduled {
                    starts_at: new_start,
                    ends_at: new_end,
                    previous_starts_at: starts_at,
                    previous_ends_at: ends_at,
                    rescheduled_by: actor,
                    rescheduled_at: at,
                }
                .into()
            }
        };
        Ok(vec![event])
    }
}

impl Aggregate for EquipmentAssignment {
    const TYPE: &'static str = event_schemas::assignment::AGGREGATE_TYPE;
    type Command = AssignmentCommand;
    type Event = EquipmentAssignmentEvent;
    type Error = AssignmentError;
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
            EquipmentAssignmentEvent::EquipmentAssigned(e) => {
                *self = Self {
                    id: Some(e.assignment_id),
                    tenant_id: Some(e.tenant_id),
                    equipment_id: Some(e.equipment_id),
                    journey_id: e.journey_id,
                    user_id: e.user_id,
                    starts_at: Some(e.starts_at),
                    ends_at: Some(e.ends_at),
                    purpose: e.purpose,
                    notes: e.notes,
                    assigned_by: Some(e.assigned_by),
                    ..Self::default()
                }
            }
            EquipmentAssignmentEvent::AssignmentCheckedOut(e) => {
                self.checked_out_at = Some(e.checked_out_at);
                self.checkout_odometer_km = e.odometer_km;
            }
            EquipmentAssignmentEvent::AssignmentReturned(e) => {
                self.returned_at = Some(e.returned_at);
                self.return_odometer_km = e.odometer_km;
            }
            EquipmentAssignmentEvent::AssignmentCancelled(_) => self.cancelled = true,
            EquipmentAssignmentEvent::AssignmentRescheduled(e) => {
                self.starts_at = Some(e.starts_at);
                self.ends_at = Some(e.ends_at);
            }
        }
    }
}
