//! Events of the `AuditExport` aggregate: every export of the history is
//! itself part of the history.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name of exports. Changing it orphans stored events.
pub const AGGREGATE_TYPE: &str = "AuditExport";

/// Someone exported a tenant's event history (`GET /v1/audit/export` or
/// `crm events export`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditExportRecorded {
    pub tenant_id: TenantId,
    pub export_id: Uuid,
    /// The recorded-at window exported (both open when absent).
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `api` or `cli`.
    pub channel: String,
}

crate::event_enum! {
    /// Every event of the `AuditExport` aggregate.
    AuditExportEvent for AGGREGATE_TYPE {
        AuditExportRecorded("1.0", "The tenant's event history was exported (who and when are in the metadata)."),
    }
}
