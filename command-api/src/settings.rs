//! A tenant's sales settings as commands need them.

use api_common::ApiResult;
use event_schemas::TenantId;
use event_schemas::money::Province;
use rust_decimal::Decimal;

use crate::CommandState;

/// The settings a command reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SalesDefaults {
    pub quote_approval_threshold: Option<Decimal>,
    pub default_province: Province,
    pub default_payment_terms_days: u32,
}

/// `tenant`'s current sales settings.
pub async fn current(_state: &CommandState, _tenant: &TenantId) -> ApiResult<SalesDefaults> {
    // Replaced by the SalesSettings aggregate when it lands.
    Ok(SalesDefaults {
        quote_approval_threshold: None,
        default_province: Province::On,
        default_payment_terms_days: 30,
    })
}
