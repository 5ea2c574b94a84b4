//! `read.leads` (the `leads` projection): one lead by id, and lists a
//! caller's scope covers, filtered.
//!
//! A lead is owned by its assignee and its author, and an unassigned lead
//! by everyone (OWN scopes see it); it is located by `location_id`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::{LeadPriority, LeadStatus, TenantId};
use rust_decimal::Decimal;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use super::{NewestFirst, Scope};

/// The projection that owns [`TABLE`].
pub const PROJECTION: &str = "leads";
pub const TABLE: &str = "read.leads";
/// The columns of a [`LeadRow`].
pub const COLUMNS: &str = "id, customer_id, customer_name, source, status, priority, estimated_move_date, estimated_value, \
     notes, follow_up_date, score, qualification, assigned_to, location_id, lost_reason, first_contacted_at, response_seconds, \
     last_contact_at, last_activity_at, last_activity_type, activity_count, created_by, version, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeadRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub customer_name: Option<String>,
    pub source: String,
    pub status: String,
    pub priority: String,
    pub estimated_move_date: Option<NaiveDate>,
    pub estimated_value: Option<Decimal>,
    pub notes: Option<String>,
    pub follow_up_date: Option<DateTime<Utc>>,
    pub score: i32,
    pub qualification: Json<BTreeMap<String, bool>>,
    pub assigned_to: Option<Uuid>,
    pub location_id: Option<String>,
    pub lost_reason: Option<String>,
    pub first_contacted_at: Option<DateTime<Utc>>,
    pub response_seconds: Option<i64>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_activity_type: Option<String>,
    pub activity_count: i32,
    pub created_by: Uuid,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The lead `id` of `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<LeadRow>, sqlx::Error> {
    super::by_id(pool, (TABLE, COLUMNS), tenant, id).await
}

/// What a lead list keeps (each `None`: no condition).
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    pub status: Option<LeadStatus>,
    pub assigned_to: Option<Uuid>,
    pub location_id: Option<String>,
    pub priority: Option<LeadPriority>,
    /// Exact source, case-insensitive.
    pub source: Option<String>,
    pub customer_id: Option<Uuid>,
    /// A follow-up date before this time.
    pub follow_up_before: Option<DateTime<Utc>>,
}

/// A page of the leads of `tenant` that `scope` covers, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    scope: &Scope,
    filter: &LeadFilter,
    page: NewestFirst,
) -> Result<Vec<LeadRow>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        scope,
        (TABLE, COLUMNS),
        // OWN: assigned to the caller, created by them, or unassigned.
        (
            "(CASE WHEN assigned_to IS NULL OR created_by = $3 THEN $3 ELSE assigned_to END)",
            "location_id",
        ),
        "AND ($8::text IS NULL OR location_id = $8)
         AND ($9::text IS NULL OR status = $9)
         AND ($10::uuid IS NULL OR assigned_to = $10)
         AND ($11::text IS NULL OR priority = $11)
         AND ($12::text IS NULL OR lower(source) = lower($12))
         AND ($13::uuid IS NULL OR customer_id = $13)
         AND ($14::timestamptz IS NULL OR follow_up_date < $14)",
        page,
        |q| {
            q.bind(filter.location_id.clone())
                .bind(filter.status.map(LeadStatus::as_str))
                .bind(filter.assigned_to)
                .bind(filter.priority.map(LeadPriority::as_str))
                .bind(filter.source.clone())
                .bind(filter.customer_id)
                .bind(filter.follow_up_before)
        },
    )
    .await
}

/// Who the leads of customer `customer_id` are assigned to (one entry per
/// lead; `None`: unassigned). A message to the customer is owned by them.
pub async fn owners_of_customer(
    pool: &PgPool,
    tenant: &TenantId,
    customer_id: Uuid,
) -> Result<Vec<Option<Uuid>>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT assigned_to FROM {TABLE} WHERE tenant_id = $1 AND customer_id = $2 ORDER BY created_at"
    ))
    .bind(tenant.as_str())
    .bind(customer_id)
    .fetch_all(pool)
    .await
}
