//! Events of the `Lead` aggregate.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{LeadPriority, LeadStatus, SalesActivityType, TenantId};

/// The aggregate type name stored with every lead event. Changing it orphans
/// every stored event.
pub const AGGREGATE_TYPE: &str = "Lead";

/// A lead was opened for a customer. Its status starts at `NEW`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeadCreated {
    pub tenant_id: TenantId,
    pub lead_id: Uuid,
    pub customer_id: Uuid,
    pub source: String,
    pub priority: LeadPriority,
    pub estimated_move_date: Option<NaiveDate>,
    /// Decimal string, e.g. `"4500.00"`.
    #[schemars(with = "Option<String>")]
    pub estimated_value: Option<Decimal>,
    pub notes: Option<String>,
    pub follow_up_date: Option<DateTime<Utc>>,
    pub score: i32,
    /// Qualification checklist: criterion key → met.
    pub qualification: BTreeMap<String, bool>,
    pub assigned_to: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// The branch handling the move (LOCATION-scoped permissions); since 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
}

/// Editable lead details changed. Carries the complete details after the
/// change and the names of the changed fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeadDetailsUpdated {
    pub source: String,
    pub priority: LeadPriority,
    pub estimated_move_date: Option<NaiveDate>,
    #[schemars(with = "Option<String>")]
    pub estimated_value: Option<Decimal>,
    pub notes: Option<String>,
    pub follow_up_date: Option<DateTime<Utc>>,
    pub score: i32,
    pub qualification: BTreeMap<String, bool>,
    pub changed_fields: Vec<String>,
}

/// The lead moved along the pipeline. `reason` is required when `to` is `LOST`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadStatusChanged {
    pub from: LeadStatus,
    pub to: LeadStatus,
    pub reason: Option<String>,
    pub changed_at: DateTime<Utc>,
    /// Set when the sales process moved the lead (since 1.1): which quote
    /// event caused it. A cause acts on a lead at most once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<PipelineCause>,
}

/// Why the sales process moved a lead: the quote event and the rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineCause {
    /// The id of the triggering event (also the event's causation id).
    pub event_id: String,
    pub quote_id: Uuid,
    /// `quote-sent`, `quote-accepted` or `quotes-rejected`.
    pub rule: String,
}

/// The lead was assigned to a sales rep (`assigned_to`), or unassigned (`null`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadAssigned {
    pub assigned_to: Option<Uuid>,
    pub previous: Option<Uuid>,
}

/// The customer was reached for the first time (speed-to-lead).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadFirstContacted {
    pub contacted_at: DateTime<Utc>,
    /// Seconds from the lead's creation to the first contact.
    pub response_seconds: i64,
}

/// A sales activity (call, email, meeting, …) was recorded on the lead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SalesActivityRecorded {
    pub activity_id: Uuid,
    pub activity_type: SalesActivityType,
    pub subject: Option<String>,
    pub description: String,
    pub outcome: Option<String>,
    pub next_action: Option<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    #[schemars(with = "Option<String>")]
    pub cost: Option<Decimal>,
    pub notes: Option<String>,
    pub recorded_by: Uuid,
}

crate::event_enum! {
    /// Every event of the `Lead` aggregate.
    LeadEvent for AGGREGATE_TYPE {
        LeadCreated("1.1", "A lead was opened for a customer, in status NEW (1.1: optional location_id)."),
        LeadDetailsUpdated("1.0", "Priority, dates, value, notes, score or checklist changed (full details after the change)."),
        LeadStatusChanged("1.1", "The lead moved along the pipeline (LOST carries a reason; 1.1: the quote event that caused an automatic move)."),
        LeadAssigned("1.0", "The lead was assigned to a sales rep, or unassigned."),
        LeadFirstContacted("1.0", "The customer was first reached (speed-to-lead)."),
        SalesActivityRecorded("1.0", "A sales activity was recorded on the lead."),
    }
}
