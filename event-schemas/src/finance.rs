//! Manual ledger entries (the seed's FinancialTransaction) and a tenant's
//! sales settings.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;
use crate::money::{FinancialTransactionType, Province};

/// The aggregate type of manual ledger entries.
pub const TRANSACTION_AGGREGATE_TYPE: &str = "FinancialTransaction";

/// The aggregate type of a tenant's sales settings.
pub const SETTINGS_AGGREGATE_TYPE: &str = "SalesSettings";

/// The id of `tenant`'s sales settings (one per tenant, derived from it).
pub fn settings_id(tenant: &TenantId) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6d6f_7665_7273_2d63_726d_2d73_616c_6573);
    Uuid::new_v5(&NAMESPACE, tenant.as_str().as_bytes())
}

/// An expense, transfer, adjustment or other income was entered by hand.
/// `amount` is positive except for adjustments, which may be negative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FinancialTransactionRecorded {
    pub tenant_id: TenantId,
    pub transaction_id: Uuid,
    pub transaction_type: FinancialTransactionType,
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub currency: String,
    pub description: String,
    pub category: String,
    pub subcategory: Option<String>,
    pub reference: Option<String>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub transaction_date: NaiveDate,
    pub invoice_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

/// A tenant's sales settings changed (complete settings after the change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SalesSettingsChanged {
    pub tenant_id: TenantId,
    /// Quotes whose total is above this need a manager's approval before
    /// they are sent (`null`: never).
    #[schemars(with = "Option<String>")]
    pub quote_approval_threshold: Option<Decimal>,
    /// The province used when a quote or invoice names none.
    pub default_province: Province,
    /// Days from issue to due date for new invoices.
    pub default_payment_terms_days: u32,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of a manual ledger entry.
    FinancialTransactionEvent for TRANSACTION_AGGREGATE_TYPE {
        FinancialTransactionRecorded("1.0", "An expense, transfer, adjustment or other income was entered by hand."),
    }
}

crate::event_enum! {
    /// Every event of a tenant's sales settings.
    SalesSettingsEvent for SETTINGS_AGGREGATE_TYPE {
        SalesSettingsChanged("1.0", "The quote approval threshold, default province or payment terms changed."),
    }
}
