//! Events of a tenant's automated-message rule: "when event X happens, send
//! template Y on channel Z after delay D, unless condition C holds by then".
//! Triggers and conditions come from fixed lists; there is no user code.

use chrono::{DateTime, NaiveTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;
use crate::communication::CommunicationType;

/// The aggregate type name stored with every rule event.
pub const AGGREGATE_TYPE: &str = "CommunicationRule";

crate::common::wire_enum! {
    /// What sets a rule off.
    RuleTrigger {
        /// A quote was sent to its customer.
        QuoteSent => "QUOTE_SENT",
        /// An invoice turned OVERDUE.
        InvoiceOverdue => "INVOICE_OVERDUE",
        /// A JOURNEY schedule was made (or moved): the timing counts back
        /// from its start.
        JourneyScheduled => "JOURNEY_SCHEDULED",
        /// A lead was opened.
        LeadCreated => "LEAD_CREATED",
    }
}

crate::common::wire_enum! {
    /// What stops a rule's message when its time comes.
    RuleCondition {
        /// The quote was accepted (or converted).
        QuoteAccepted => "QUOTE_ACCEPTED",
        /// The quote was rejected.
        QuoteRejected => "QUOTE_REJECTED",
        /// The invoice has no balance left (or was voided).
        InvoicePaid => "INVOICE_PAID",
        /// The lead was won, lost or archived.
        LeadClosed => "LEAD_CLOSED",
        /// The schedule was cancelled.
        ScheduleCancelled => "SCHEDULE_CANCELLED",
    }
}

impl RuleCondition {
    /// The triggers whose records the condition looks at.
    pub fn applies_to(self, trigger: RuleTrigger) -> bool {
        use RuleCondition as C;
        use RuleTrigger as T;
        matches!(
            (self, trigger),
            (C::QuoteAccepted | C::QuoteRejected, T::QuoteSent)
                | (C::InvoicePaid, T::InvoiceOverdue)
                | (C::ScheduleCancelled, T::JourneyScheduled)
                | (
                    C::LeadClosed,
                    T::QuoteSent | T::LeadCreated | T::JourneyScheduled
                )
        )
    }
}

/// When a rule's message goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleTiming {
    /// `minutes` after the triggering event.
    AfterEvent { minutes: u32 },
    /// `days` before the schedule's start day, at `at` in the tenant's time
    /// zone (JOURNEY_SCHEDULED only).
    BeforeStart {
        days: u32,
        #[schema(value_type = String, example = "18:00:00")]
        at: NaiveTime,
    },
}

/// A rule was created (active).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationRuleCreated {
    pub tenant_id: TenantId,
    pub rule_id: Uuid,
    pub name: String,
    pub trigger: RuleTrigger,
    pub template_id: Uuid,
    pub channel: CommunicationType,
    pub timing: RuleTiming,
    pub unless: Vec<RuleCondition>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The rule was deleted: messages it has not sent yet are not sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommunicationRuleDeleted {
    pub deleted_by: Uuid,
    pub deleted_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of an automated-message rule.
    CommunicationRuleEvent for AGGREGATE_TYPE {
        CommunicationRuleCreated("1.0", "An automated-message rule was created: its trigger, template, channel, timing and the conditions that stop it."),
        CommunicationRuleDeleted("1.0", "The rule was deleted; messages it has not sent yet are not sent."),
    }
}
