//! The `Lead` aggregate: a customer's prospective move, moving through the
//! sales pipeline.
//!
//! ```text
//!  NEW ─▶ CONTACTED ─▶ QUALIFIED ─▶ PROPOSAL_SENT ─▶ NEGOTIATION ─▶ WON (final)
//!   │  (any forward move, skipping stages allowed)                    
//!   └──────────────┬─────────────────────────────────────────────┐
//!                  ▼ (reason required)                           ▼
//!                LOST ──▶ CONTACTED (reopen)                  ARCHIVED (final)
//!                  └────────────────────────────────────────────▲
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::lead::{
    LeadAssigned, LeadCreated, LeadDetailsUpdated, LeadEvent, LeadFirstContacted,
    LeadStatusChanged, PipelineCause, SalesActivityRecorded,
};
use event_schemas::{LeadPriority, LeadStatus, SalesActivityType, TenantId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::patch::Patch;
use crate::values;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub id: Option<Uuid>,
    pub tenant_id: Option<TenantId>,
    pub customer_id: Option<Uuid>,
    pub source: String,
    pub status: Option<LeadStatus>,
    pub priority: Option<LeadPriority>,
    pub estimated_move_date: Option<NaiveDate>,
    pub estimated_value: Option<Decimal>,
    pub notes: Option<String>,
    pub follow_up_date: Option<DateTime<Utc>>,
    pub score: i32,
    pub qualification: BTreeMap<String, bool>,
    pub assigned_to: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: Option<DateTime<Utc>>,
    pub location_id: Option<String>,
    pub first_contacted_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub activity_count: u32,
    /// Ids of the quote events that already moved this lead.
    #[serde(default)]
    pub causes: std::collections::BTreeSet<String>,
    /// When the status last changed (or the lead was opened).
    #[serde(default)]
    pub status_changed_at: Option<DateTime<Utc>>,
    /// The number of events applied (the aggregate's version).
    #[serde(default)]
    pub version: u64,
    /// The version at which a person last set the status (the creation
    /// counts): the sales process's own moves do not.
    #[serde(default)]
    pub status_set_by_person_at_version: u64,
}

impl Lead {
    pub fn is_created(&self) -> bool {
        self.id.is_some()
    }
}

/// What the command layer found out about the lead's customer before asking
/// the aggregate; the aggregate decides what the facts mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustomerFacts {
    pub id: Uuid,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateLead {
    pub lead_id: Uuid,
    pub tenant_id: TenantId,
    pub customer: CustomerFacts,
    pub source: String,
    pub priority: Option<LeadPriority>,
    pub estimated_move_date: Option<NaiveDate>,
    pub estimated_value: Option<Decimal>,
    pub notes: Option<String>,
    pub follow_up_date: Option<DateTime<Utc>>,
    pub score: Option<i32>,
    pub qualification: BTreeMap<String, bool>,
    pub assigned_to: Option<Uuid>,
    /// The branch handling the move (for LOCATION-scoped permissions).
    pub location_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateLead {
    pub source: Option<String>,
    pub priority: Option<LeadPriority>,
    pub estimated_move_date: Patch<NaiveDate>,
    pub estimated_value: Patch<Decimal>,
    pub notes: Patch<String>,
    pub follow_up_date: Patch<DateTime<Utc>>,
    pub score: Option<i32>,
    pub qualification: Option<BTreeMap<String, bool>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordActivity {
    pub activity_id: Uuid,
    pub activity_type: SalesActivityType,
    pub subject: Option<String>,
    pub description: String,
    pub outcome: Option<String>,
    pub next_action: Option<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    pub cost: Option<Decimal>,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LeadAction {
    Create(CreateLead),
    Update(UpdateLead),
    Transition {
        to: LeadStatus,
        reason: Option<String>,
    },
    Assign {
        user_id: Option<Uuid>,
    },
    RecordActivity(RecordActivity),
    /// The sales process moves the lead because of a quote event. Acts at
    /// most once per cause, and only when the move goes forward: a lead that
    /// is already further along, LOST, WON or ARCHIVED is left alone.
    PipelineMove {
        to: LeadStatus,
        /// Only move a lead that is currently in one of these statuses
        /// (empty: any status from which the move is legal).
        only_from: Vec<LeadStatus>,
        cause: PipelineCause,
        /// The lead's version when the causing event happened, in the event
        /// stream's order (the lead's events that precede the cause in commit
        /// order). A lead whose status a person changed after that is left
        /// alone: a replayed old event (a rebuild of the process manager)
        /// never overrides what happened since. Clocks are not compared:
        /// readings of different writers are no order.
        as_of_version: u64,
    },
}

/// A lead command: the action, who asked, and when (the aggregate never reads
/// a clock).
#[derive(Clone, Debug, PartialEq)]
pub struct LeadCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: LeadAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LeadError {
    #[error("invalid lead: {0}")]
    Invalid(ValidationErrors),
    #[error("lead {0} already exists")]
    AlreadyExists(Uuid),
    #[error("lead not found")]
    NotFound,
    #[error("customer {0} is inactive; reactivate the customer before opening a lead")]
    CustomerInactive(Uuid),
    #[error("a lead cannot move from {from} to {to}")]
    IllegalTransition { from: LeadStatus, to: LeadStatus },
    #[error("lead is {0} and can no longer be changed")]
    Closed(LeadStatus),
}

impl DomainError for LeadError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists(_) => ErrorKind::Conflict {
                rule: "lead.already-exists",
            },
            Self::NotFound => ErrorKind::NotFound,
            Self::CustomerInactive(_) => ErrorKind::Conflict {
                rule: "lead.customer-inactive",
            },
            Self::IllegalTransition { .. } => ErrorKind::Conflict {
                rule: "lead.illegal-transition",
            },
            Self::Closed(_) => ErrorKind::Conflict {
                rule: "lead.closed",
            },
        }
    }
}

impl From<ValidationErrors> for LeadError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// Position along the forward pipeline; `None` for LOST and ARCHIVED.
fn pipeline_rank(status: LeadStatus) -> Option<u8> {
    Some(match status {
        LeadStatus::New => 0,
        LeadStatus::Contacted => 1,
        LeadStatus::Qualified => 2,
        LeadStatus::ProposalSent => 3,
        LeadStatus::Negotiation => 4,
        LeadStatus::Won => 5,
        LeadStatus::Lost | LeadStatus::Archived => return None,
    })
}

/// The pipeline rules. A move is legal when it goes forward along the
/// pipeline (stages may be skipped), to LOST or ARCHIVED from any open status,
/// or from LOST back to CONTACTED. WON and ARCHIVED are final.
pub fn transition_allowed(from: LeadStatus, to: LeadStatus) -> bool {
    use LeadStatus::*;
    match (from, to) {
        (Won | Archived, _) => false,
        (f, t) if f == t => false,
        (Lost, Contacted | Archived) => true,
        (Lost, _) => false,
        (_, Lost | Archived) => true,
        (f, t) => matches!((pipeline_rank(f), pipeline_rank(t)), (Some(a), Some(b)) if b > a),
    }
}

fn optional_money(
    v: &mut Validator,
    field: &str,
    value: Option<Decimal>,
) -> Option<Option<Decimal>> {
    match value {
        Some(amount) => v.check(field, values::money(amount)).map(Some),
        None => Some(None),
    }
}

impl Lead {
    fn status(&self) -> LeadStatus {
        self.status.unwrap_or(LeadStatus::New)
    }

    fn create(cmd: CreateLead, at: DateTime<Utc>, actor: Uuid) -> Result<LeadCreated, LeadError> {
        let mut v = Validator::new();
        let source = v.check(
            "source",
            values::required_text(&cmd.source, values::MAX_NAME),
        );
        let move_date = cmd
            .estimated_move_date
            .map(|d| v.check("estimated_move_date", values::future_move_date(d, at)));
        let value = optional_money(&mut v, "estimated_value", cmd.estimated_value);
        let notes = v.check(
            "notes",
            values::optional_text(cmd.notes.as_deref(), values::MAX_LONG_TEXT),
        );
        let score = v.check("score", values::score(cmd.score.unwrap_or(0)));
        let qualification = v.check("qualification", values::checklist(&cmd.qualification));
        let location_id = cmd
            .location_id
            .as_deref()
            .map(|l| v.check("location_id", values::identifier(l)));
        v.finish()?;
        if !cmd.customer.active {
            return Err(LeadError::CustomerInactive(cmd.customer.id));
        }
        Ok(LeadCreated {
            tenant_id: cmd.tenant_id,
            lead_id: cmd.lead_id,
            customer_id: cmd.customer.id,
            source: source.unwrap_or_default(),
            priority: cmd.priority.unwrap_or(LeadPriority::Medium),
            estimated_move_date: move_date.flatten(),
            estimated_value: value.flatten(),
            notes: notes.flatten(),
            follow_up_date: cmd.follow_up_date,
            score: score.unwrap_or_default(),
            qualification: qualification.unwrap_or_default(),
            assigned_to: cmd.assigned_to,
            created_by: actor,
            created_at: at,
            location_id: location_id.flatten(),
        })
    }

    fn update(
        &self,
        cmd: UpdateLead,
        at: DateTime<Utc>,
    ) -> Result<Option<LeadDetailsUpdated>, LeadError> {
        let mut v = Validator::new();
        // A new move date follows the create rule; an unchanged one may have passed.
        if let Patch::Set(date) = cmd.estimated_move_date
            && Some(date) != self.estimated_move_date
        {
            v.check("estimated_move_date", values::future_move_date(date, at));
        }
        let source = match &cmd.source {
            Some(s) => v.check("source", values::required_text(s, values::MAX_NAME)),
            None => Some(self.source.clone()),
        };
        let value = match cmd.estimated_value {
            Patch::Set(amount) => v.check("estimated_value", values::money(amount)).map(Some),
            Patch::Clear => Some(None),
            Patch::Unchanged => Some(self.estimated_value),
        };
        let notes = match &cmd.notes {
            Patch::Set(n) => v.check(
                "notes",
                values::optional_text(Some(n), values::MAX_LONG_TEXT),
            ),
            Patch::Clear => Some(None),
            Patch::Unchanged => Some(self.notes.clone()),
        };
        let score = v.check("score", values::score(cmd.score.unwrap_or(self.score)));
        let qualification = match &cmd.qualification {
            Some(q) => v.check("qualification", values::checklist(q)),
            None => Some(self.qualification.clone()),
        };
        v.finish()?;
        let (Some(source), Some(estimated_value), Some(notes), Some(score), Some(qualification)) =
            (source, value, notes, score, qualification)
        else {
            unreachable!("every field was validated");
        };
        let priority = cmd
            .priority
            .unwrap_or(self.priority.unwrap_or(LeadPriority::Medium));
        let estimated_move_date = cmd.estimated_move_date.apply_to(self.estimated_move_date);
        let follow_up_date = cmd.follow_up_date.apply_to(self.follow_up_date);

        let changed: Vec<String> = [
            ("source", source != self.source),
            ("priority", Some(priority) != self.priority),
            (
                "estimated_move_date",
                estimated_move_date != self.estimated_move_date,
            ),
            ("estimated_value", estimated_value != self.estimated_value),
            ("notes", notes != self.notes),
            ("follow_up_date", follow_up_date != self.follow_up_date),
            ("score", score != self.score),
            ("qualification", qualification != self.qualification),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(field, _)| field.to_owned())
        .collect();
        if changed.is_empty() {
            return Ok(None);
        }
        Ok(Some(LeadDetailsUpdated {
            source,
            priority,
            estimated_move_date,
            estimated_value,
            notes,
            follow_up_date,
            score,
            qualification,
            changed_fields: changed,
        }))
    }

    fn first_contact(&self, contacted_at: DateTime<Utc>) -> Option<LeadFirstContacted> {
        if self.first_contacted_at.is_some() {
            return None;
        }
        let created = self.created_at.unwrap_or(contacted_at);
        Some(LeadFirstContacted {
            contacted_at,
            response_seconds: (contacted_at - created).num_seconds().max(0),
        })
    }

    fn record_activity(
        &self,
        cmd: RecordActivity,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<Vec<LeadEvent>, LeadError> {
        let mut v = Validator::new();
        let subject = v.check(
            "subject",
            values::optional_text(cmd.subject.as_deref(), values::MAX_SHORT_TEXT),
        );
        let description = v.check(
            "description",
            values::required_text(&cmd.description, values::MAX_LONG_TEXT),
        );
        let outcome = v.check(
            "outcome",
            values::optional_text(cmd.outcome.as_deref(), values::MAX_LONG_TEXT),
        );
        let next_action = v.check(
            "next_action",
            values::optional_text(cmd.next_action.as_deref(), values::MAX_SHORT_TEXT),
        );
        let notes = v.check(
            "notes",
            values::optional_text(cmd.notes.as_deref(), values::MAX_LONG_TEXT),
        );
        let duration = cmd
            .duration_minutes
            .map(|d| v.check("duration_minutes", values::duration_minutes(d)));
        let cost = optional_money(&mut v, "cost", cmd.cost);
        if let Some(completed) = cmd.completed_at
            && completed > at + chrono::Duration::minutes(5)
        {
            v.error("completed_at", "must not be in the future");
        }
        v.finish()?;
        let recorded = SalesActivityRecorded {
            activity_id: cmd.activity_id,
            activity_type: cmd.activity_type,
            subject: subject.flatten(),
            description: description.unwrap_or_default(),
            outcome: outcome.flatten(),
            next_action: next_action.flatten(),
            scheduled_at: cmd.scheduled_at,
            completed_at: cmd.completed_at,
            duration_minutes: duration.flatten(),
            cost: cost.flatten(),
            notes: notes.flatten(),
            recorded_by: actor,
        };
        let mut events = vec![LeadEvent::from(recorded)];
        if let Some(completed) = cmd.completed_at.filter(|_| cmd.activity_type.is_contact()) {
            events.extend(self.first_contact(completed).map(LeadEvent::from));
        }
        Ok(events)
    }

    fn decide(&self, command: LeadCommand) -> Result<Vec<LeadEvent>, LeadError> {
        let LeadCommand { at, actor, action } = command;
        if let LeadAction::Create(cmd) = action {
            if let Some(id) = self.id {
                return Err(LeadError::AlreadyExists(id));
            }
            return Ok(vec![Self::create(cmd, at, actor)?.into()]);
        }
        if !self.is_created() {
            return Err(LeadError::NotFound);
        }
        let status = self.status();
        if status == LeadStatus::Archived {
            return Err(LeadError::Closed(status));
        }
        Ok(match action {
            LeadAction::Create(_) => unreachable!("handled above"),
            LeadAction::Update(cmd) => self.update(cmd, at)?.into_iter().map(Into::into).collect(),
            LeadAction::Transition { to, reason } => {
                if !transition_allowed(status, to) {
                    return Err(LeadError::IllegalTransition { from: status, to });
                }
                let reason = values::optional_text(reason.as_deref(), values::MAX_LONG_TEXT)
                    .map_err(|m| ValidationErrors::single("reason", m))?;
                if to == LeadStatus::Lost && reason.is_none() {
                    return Err(ValidationErrors::single(
                        "reason",
                        "a reason is required to mark a lead LOST",
                    )
                    .into());
                }
                let mut events = vec![LeadEvent::from(LeadStatusChanged {
                    from: status,
                    to,
                    reason,
                    changed_at: at,
                    cause: None,
                })];
                // Reaching the customer is what moves a lead along the pipeline
                // (also when a lead lost before any contact is reopened);
                // giving up on it is not a contact.
                if pipeline_rank(to).is_some() {
                    events.extend(self.first_contact(at).map(LeadEvent::from));
                }
                events
            }
            LeadAction::Assign { user_id } => {
                if user_id == self.assigned_to {
                    vec![]
                } else {
                    vec![
                        LeadAssigned {
                            assigned_to: user_id,
                            previous: self.assigned_to,
                        }
                        .into(),
                    ]
                }
            }
            LeadAction::RecordActivity(cmd) => self.record_activity(cmd, at, actor)?,
            LeadAction::PipelineMove {
                to,
                only_from,
                cause,
                as_of_version,
            } => {
                let applies = !self.causes.contains(&cause.event_id)
                    && self.status_set_by_person_at_version <= as_of_version
                    && transition_allowed(status, to)
                    && (only_from.is_empty() || only_from.contains(&status))
                    && pipeline_rank(status).is_some();
                if !applies {
                    return Ok(vec![]);
                }
                let mut events = vec![LeadEvent::from(LeadStatusChanged {
                    from: status,
                    to,
                    reason: None,
                    changed_at: at,
                    cause: Some(cause),
                })];
                events.extend(self.first_contact(at).map(LeadEvent::from));
                events
            }
        })
    }
}

impl Aggregate for Lead {
    const TYPE: &'static str = event_schemas::lead::AGGREGATE_TYPE;
    type Command = LeadCommand;
    type Event = LeadEvent;
    type Error = LeadError;
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
        let version = self.version + 1;
        match event {
            LeadEvent::LeadCreated(e) => {
                *self = Self {
                    id: Some(e.lead_id),
                    tenant_id: Some(e.tenant_id),
                    customer_id: Some(e.customer_id),
                    source: e.source,
                    status: Some(LeadStatus::New),
                    priority: Some(e.priority),
                    estimated_move_date: e.estimated_move_date,
                    estimated_value: e.estimated_value,
                    notes: e.notes,
                    follow_up_date: e.follow_up_date,
                    score: e.score,
                    qualification: e.qualification,
                    assigned_to: e.assigned_to,
                    created_by: Some(e.created_by),
                    created_at: Some(e.created_at),
                    location_id: e.location_id,
                    status_changed_at: Some(e.created_at),
                    status_set_by_person_at_version: version,
                    ..Self::default()
                }
            }
            LeadEvent::LeadDetailsUpdated(e) => {
                self.source = e.source;
                self.priority = Some(e.priority);
                self.estimated_move_date = e.estimated_move_date;
                self.estimated_value = e.estimated_value;
                self.notes = e.notes;
                self.follow_up_date = e.follow_up_date;
                self.score = e.score;
                self.qualification = e.qualification;
            }
            LeadEvent::LeadStatusChanged(e) => {
                self.status = Some(e.to);
                self.status_changed_at = Some(e.changed_at);
                match e.cause {
                    Some(cause) => {
                        self.causes.insert(cause.event_id);
                    }
                    None => self.status_set_by_person_at_version = version,
                }
            }
            LeadEvent::LeadAssigned(e) => self.assigned_to = e.assigned_to,
            LeadEvent::LeadFirstContacted(e) => self.first_contacted_at = Some(e.contacted_at),
            LeadEvent::SalesActivityRecorded(e) => {
                self.activity_count += 1;
                if let Some(done) = e.completed_at {
                    self.last_contact_at = Some(self.last_contact_at.map_or(done, |l| l.max(done)));
                }
            }
        }
        self.version = version;
    }
}
