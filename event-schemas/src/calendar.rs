//! Events of a calendar feed token: a revocable secret URL through which a
//! phone calendar subscribes to one person's schedules without a bearer
//! header. Only the secret's SHA-256 is stored.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name stored with every feed token event.
pub const AGGREGATE_TYPE: &str = "CalendarFeedToken";

/// A feed token was issued for `user_id`'s schedules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CalendarFeedTokenIssued {
    pub tenant_id: TenantId,
    pub token_id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 of the secret, hex.
    pub secret_digest: String,
    pub issued_by: Uuid,
    pub issued_at: DateTime<Utc>,
}

/// The token was revoked: its URL answers 404 from now on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CalendarFeedTokenRevoked {
    pub revoked_by: Uuid,
    pub revoked_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of a calendar feed token.
    CalendarFeedTokenEvent for AGGREGATE_TYPE {
        CalendarFeedTokenIssued("1.0", "A secret calendar feed URL was issued for a person's schedules (only its SHA-256 is stored)."),
        CalendarFeedTokenRevoked("1.0", "The feed URL was revoked."),
    }
}
