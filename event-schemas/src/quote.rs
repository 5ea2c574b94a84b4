//! Events of the `Quote` aggregate (the seed's Quote and QuoteItem).
//!
//! Every event that changes prices carries the server-computed totals, so
//! readers never recompute money.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;
use crate::money::{HourlyPricing, LineItem, PaymentDetails, PricingType, Province, Totals};

/// The aggregate type name stored with every quote event.
pub const AGGREGATE_TYPE: &str = "Quote";

/// The editable part of a quote: what a draft holds and what an edit replaces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteTerms {
    /// ISO 4217, `CAD` by default.
    pub currency: String,
    pub valid_until: NaiveDate,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub pricing_type: PricingType,
    /// Present exactly when `pricing_type` is `HOURLY`.
    pub hourly: Option<HourlyPricing>,
    /// Where the move is supplied: picks the sales taxes.
    pub province: Province,
    pub tax_exempt: bool,
    pub template_name: Option<String>,
    pub items: Vec<LineItem>,
    /// Totals of the required items (optional items excluded), taxes at the
    /// date of the command.
    pub totals: Totals,
}

/// A quote was drafted (revision 1, status DRAFT).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteDrafted {
    pub tenant_id: TenantId,
    pub quote_id: Uuid,
    pub customer_id: Uuid,
    pub lead_id: Option<Uuid>,
    pub location_id: Option<String>,
    pub is_template: bool,
    /// The template this draft was copied from.
    pub copied_from: Option<Uuid>,
    #[serde(flatten)]
    pub draft: QuoteTerms,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A draft's fields or items changed (complete terms after the change). Any
/// approval of the draft is withdrawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteDraftUpdated {
    #[serde(flatten)]
    pub draft: QuoteTerms,
    pub changed_fields: Vec<String>,
}

/// A manager approved the current revision for sending (needed over the
/// tenant's approval threshold).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteApproved {
    pub revision: u32,
    pub approved_by: Uuid,
    pub approved_at: DateTime<Utc>,
    #[schemars(with = "String")]
    pub total: Decimal,
}

/// The current revision was sent to the customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteSent {
    pub revision: u32,
    pub sent_by: Uuid,
    pub sent_at: DateTime<Utc>,
    pub totals: Totals,
    /// The tenant's approval threshold at the time (`null`: none set).
    #[schemars(with = "Option<String>")]
    pub approval_threshold: Option<Decimal>,
}

/// The customer opened the sent quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteViewed {
    pub revision: u32,
    pub viewed_at: DateTime<Utc>,
}

/// The customer accepted a revision, with the optional items they chose.
/// `totals` include the selected optional items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteAccepted {
    pub revision: u32,
    /// The name the customer signed with.
    pub accepted_by_name: String,
    pub accepted_at: DateTime<Utc>,
    /// The IP address the acceptance came from.
    pub accepted_ip: Option<String>,
    pub selected_optional_items: Vec<Uuid>,
    pub totals: Totals,
    pub recorded_by: Uuid,
}

/// The customer declined the quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteRejected {
    pub revision: u32,
    pub reason: String,
    pub rejected_at: DateTime<Utc>,
}

/// `valid_until` passed while the quote was waiting for an answer (raised
/// by the expiry policy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteExpired {
    pub revision: u32,
    pub valid_until: NaiveDate,
    pub expired_at: DateTime<Utc>,
}

/// A sent quote was reopened as revision `revision` (in DRAFT); the previous
/// revision can no longer be accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteRevised {
    pub from_revision: u32,
    pub revision: u32,
    pub revised_by: Uuid,
    pub revised_at: DateTime<Utc>,
}

/// The accepted quote became a job (a truck journey).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteConverted {
    pub journey_id: Uuid,
    pub converted_by: Uuid,
    pub converted_at: DateTime<Utc>,
}

/// A deposit was taken on the accepted quote; it is carried onto the quote's
/// invoice as a payment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteDepositRecorded {
    #[serde(flatten)]
    pub payment: PaymentDetails,
}

/// An invoice was opened for the accepted quote; from now on deposits are
/// taken on the invoice, and no second invoice is opened from this quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteInvoiced {
    pub invoice_id: Uuid,
    pub invoiced_by: Uuid,
    pub invoiced_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of the `Quote` aggregate.
    QuoteEvent for AGGREGATE_TYPE {
        QuoteDrafted("1.0", "A quote was drafted (revision 1): items, pricing, tax province and server-computed totals."),
        QuoteDraftUpdated("1.0", "A draft's terms or items changed (complete terms after the change); approval withdrawn."),
        QuoteApproved("1.0", "A manager approved the current revision for sending."),
        QuoteSent("1.0", "The current revision was sent to the customer."),
        QuoteViewed("1.0", "The customer opened the quote."),
        QuoteAccepted("1.0", "The customer accepted a revision (who, when, from which IP, which optional items)."),
        QuoteRejected("1.0", "The customer declined the quote, with a reason."),
        QuoteExpired("1.0", "valid_until passed before an answer (raised by the expiry policy)."),
        QuoteRevised("1.0", "A sent quote was reopened as the next revision, in DRAFT."),
        QuoteConverted("1.0", "The accepted quote became a job (journey id)."),
        QuoteDepositRecorded("1.0", "A deposit was taken on the accepted quote."),
        QuoteInvoiced("1.0", "An invoice was opened for the accepted quote (its deposits carried onto it)."),
    }
}
