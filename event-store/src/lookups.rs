//! Reads of the tables the event store keeps in the commit (the `events`
//! triggers fill them in the same statement that stores the events): the
//! claims behind uniqueness, equipment bookings, invoice numbers, the
//! permission tables, and an aggregate's stored history. The commit is what
//! enforces each rule; these reads only name what a refusal was about (the
//! serial's holder, the overlapping booking) or show what the rules hold.

use chrono::{DateTime, Utc};
use event_schemas::{Role, TenantId};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

/// The equipment holding `serial` (compared case-insensitively) in `tenant`.
pub async fn serial_holder(
    pool: &PgPool,
    tenant: &TenantId,
    serial: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT equipment_id FROM equipment_serial_claims WHERE tenant_id = $1 AND serial_number = upper($2)",
    )
    .bind(tenant.as_str())
    .bind(serial)
    .fetch_optional(pool)
    .await
}

/// The inventory item holding `sku` at `location` in `tenant`.
pub async fn sku_holder(
    pool: &PgPool,
    tenant: &TenantId,
    location: &str,
    sku: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT item_id FROM inventory_sku_claims WHERE tenant_id = $1 AND location_id = $2 AND sku = upper($3)",
    )
    .bind(tenant.as_str())
    .bind(location)
    .bind(sku)
    .fetch_optional(pool)
    .await
}

/// A booking of a piece of equipment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Booking {
    pub booking_id: String,
    /// `assignment`, `maintenance` or `schedule`.
    pub kind: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Up to 10 bookings of `equipment` overlapping `[from, to)`, other than
/// `except`, earliest first.
pub async fn overlapping_bookings(
    pool: &PgPool,
    tenant: &TenantId,
    equipment: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    except: Option<Uuid>,
) -> Result<Vec<Booking>, sqlx::Error> {
    sqlx::query_as(
        "SELECT booking_id, kind, lower(period) AS starts_at, upper(period) AS ends_at FROM equipment_bookings
          WHERE tenant_id = $1 AND equipment_id = $2 AND period && tstzrange($3, $4, '[)')
            AND booking_id <> coalesce($5, '')
          ORDER BY lower(period) LIMIT 10",
    )
    .bind(tenant.as_str())
    .bind(equipment.to_string())
    .bind(from)
    .bind(to)
    .bind(except.map(|e| e.to_string()))
    .fetch_all(pool)
    .await
}

/// The number the database gave an issued invoice.
pub async fn invoice_number(
    pool: &PgPool,
    tenant: &TenantId,
    invoice: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT invoice_number FROM invoice_numbers WHERE tenant_id = $1 AND invoice_id = $2",
    )
    .bind(tenant.as_str())
    .bind(invoice.to_string())
    .fetch_optional(pool)
    .await
}

/// A role's permission set by an admin: `scope` `None` takes it away.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Override {
    pub role: String,
    pub resource: String,
    pub action: String,
    pub scope: Option<String>,
}

/// The tenant's role permission overrides.
pub async fn permission_overrides(
    pool: &PgPool,
    tenant: &TenantId,
) -> Result<Vec<Override>, sqlx::Error> {
    sqlx::query_as(
        "SELECT role, resource, action, scope FROM permission_overrides WHERE tenant_id = $1",
    )
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await
}

/// A permission granted to one user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Grant {
    pub grant_id: Uuid,
    pub user_id: Uuid,
    pub resource: String,
    pub action: String,
    pub scope: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Neither revoked nor expired.
    pub active: bool,
}

/// Which grants [`grants`] lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrantFilter {
    pub user_id: Option<Uuid>,
    /// Only grants in force (neither revoked nor expired).
    pub active_only: bool,
    pub newest_first: bool,
}

/// Up to 500 of the tenant's grants.
pub async fn grants(
    pool: &PgPool,
    tenant: &TenantId,
    filter: GrantFilter,
) -> Result<Vec<Grant>, sqlx::Error> {
    let order = if filter.newest_first { "DESC" } else { "ASC" };
    sqlx::query_as(&format!(
        "SELECT grant_id, user_id, resource, action, scope, expires_at, reason, granted_at, revoked_at,
                (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS active
           FROM permission_grants
          WHERE tenant_id = $1 AND ($2::uuid IS NULL OR user_id = $2)
            AND (NOT $3 OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())))
          ORDER BY granted_at {order} LIMIT 500"
    ))
    .bind(tenant.as_str())
    .bind(filter.user_id)
    .bind(filter.active_only)
    .fetch_all(pool)
    .await
}

/// One permission of a caller's policy: a role override or a user grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntry {
    /// A role override (else a grant to the user).
    pub is_override: bool,
    pub resource: String,
    pub action: String,
    pub scope: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The tenant's permission version and what applies to `role` and `user`
/// (overrides of the role, grants in force to the user), read in one
/// statement so the version and the entries agree.
pub async fn policy(
    pool: &PgPool,
    tenant: &TenantId,
    role: Role,
    user: Uuid,
) -> Result<(i64, Vec<PolicyEntry>), sqlx::Error> {
    type Row = (
        i64,
        Option<bool>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT v.version, r.is_override, r.resource, r.action, r.scope, r.expires_at
           FROM (SELECT coalesce((SELECT version FROM permission_versions WHERE tenant_id = $1), 0) AS version) v
           LEFT JOIN (
                SELECT true AS is_override, resource, action, scope, NULL::timestamptz AS expires_at
                  FROM permission_overrides WHERE tenant_id = $1 AND role = $2
                UNION ALL
                SELECT false, resource, action, scope, expires_at FROM permission_grants
                 WHERE tenant_id = $1 AND user_id = $3 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > now())
           ) r ON true",
    )
    .bind(tenant.as_str())
    .bind(role.as_str())
    .bind(user)
    .fetch_all(pool)
    .await?;
    let mut version = 0;
    let mut entries = Vec::new();
    for (v, is_override, resource, action, scope, expires_at) in rows {
        version = v;
        if let (Some(is_override), Some(resource), Some(action)) = (is_override, resource, action) {
            entries.push(PolicyEntry {
                is_override,
                resource,
                action,
                scope,
                expires_at,
            });
        }
    }
    Ok((version, entries))
}

/// One stored event with its hashes and its tenant-chain link.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub event_id: Uuid,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    pub metadata: Json<Value>,
    /// As stored: personal fields sealed.
    pub payload: Json<Value>,
    pub prev_hash: String,
    pub hash: String,
    /// Set once the relay chained the event.
    pub chain_seq: Option<i64>,
    pub chain_hash: Option<String>,
}

/// Up to `limit` events of one aggregate of `tenant` after sequence
/// `after`, oldest first (the chain link from the relay's `tenant_chain`).
pub async fn history(
    pool: &PgPool,
    tenant: &TenantId,
    (aggregate_type, id): (&str, Uuid),
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.event_id, e.sequence, e.event_type, e.event_version, e.position, e.recorded_at,
                e.metadata::jsonb AS metadata, e.payload::jsonb AS payload,
                encode(e.prev_hash, 'hex') AS prev_hash, encode(e.hash, 'hex') AS hash,
                c.chain_seq, encode(c.chain_hash, 'hex') AS chain_hash
           FROM events e LEFT JOIN tenant_chain c ON c.position = e.position
          WHERE e.aggregate_type = $1 AND e.aggregate_id = $2 AND e.tenant_id = $3
            AND ($4::bigint IS NULL OR e.sequence > $4)
          ORDER BY e.sequence
          LIMIT $5",
    )
    .bind(aggregate_type)
    .bind(id.to_string())
    .bind(tenant.as_str())
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The version an aggregate of `tenant` had at `at` (0: none yet).
pub async fn version_at(
    pool: &PgPool,
    tenant: &TenantId,
    (aggregate_type, id): (&str, Uuid),
    at: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let reached: Option<i64> = sqlx::query_scalar(
        "SELECT max(sequence) FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND tenant_id = $3 AND recorded_at <= $4",
    )
    .bind(aggregate_type)
    .bind(id.to_string())
    .bind(tenant.as_str())
    .bind(at)
    .fetch_one(pool)
    .await?;
    Ok(reached.unwrap_or(0).max(0) as u64)
}

/// When an aggregate's event `sequence` was recorded.
pub async fn recorded_at(
    pool: &PgPool,
    (aggregate_type, id): (&str, Uuid),
    sequence: u64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT recorded_at FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
    )
    .bind(aggregate_type)
    .bind(id.to_string())
    .bind(sequence as i64)
    .fetch_optional(pool)
    .await
}

/// The tenant of an aggregate (its first event's), for a caller that knows
/// only the id (a provider's delivery callback).
pub async fn tenant_of(
    pool: &PgPool,
    (aggregate_type, id): (&str, Uuid),
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT tenant_id FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1",
    )
    .bind(aggregate_type)
    .bind(id.to_string())
    .fetch_optional(pool)
    .await
}

/// How many events the store holds (with one stream per database, the
/// stream's head once the relay has caught up).
pub async fn event_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
}

/// A person's booking: a schedule they are on, or an occurrence of their
/// unavailability.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CrewBooking {
    pub user_id: String,
    /// `schedule` or `unavailable`.
    pub kind: String,
    /// The schedule or availability entry.
    pub source_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Up to 50 bookings of `users` overlapping `[from, to)`, other than those
/// of `except` (the schedule being moved), by person and time.
pub async fn overlapping_crew_bookings(
    pool: &PgPool,
    tenant: &TenantId,
    users: &[Uuid],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    except: Option<Uuid>,
) -> Result<Vec<CrewBooking>, sqlx::Error> {
    let users: Vec<String> = users.iter().map(Uuid::to_string).collect();
    sqlx::query_as(
        "SELECT user_id, kind, source_id, lower(period) AS starts_at, upper(period) AS ends_at FROM crew_bookings
          WHERE tenant_id = $1 AND user_id = ANY($2) AND period && tstzrange($3, $4, '[)')
            AND source_id <> coalesce($5, '')
          ORDER BY user_id, lower(period) LIMIT 50",
    )
    .bind(tenant.as_str())
    .bind(&users)
    .bind(from)
    .bind(to)
    .bind(except.map(|e| e.to_string()))
    .fetch_all(pool)
    .await
}

/// A booking of one of several pieces of equipment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EquipmentBooking {
    pub equipment_id: String,
    /// `assignment`, `maintenance` or `schedule`.
    pub kind: String,
    /// The assignment, the maintenance or the schedule.
    pub holder: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Up to 50 bookings of `equipment` overlapping `[from, to)`, other than
/// those of schedule `except`, by equipment and time.
pub async fn overlapping_equipment_bookings(
    pool: &PgPool,
    tenant: &TenantId,
    equipment: &[Uuid],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    except: Option<Uuid>,
) -> Result<Vec<EquipmentBooking>, sqlx::Error> {
    let equipment: Vec<String> = equipment.iter().map(Uuid::to_string).collect();
    sqlx::query_as(
        "SELECT equipment_id, kind, coalesce(source_id, booking_id) AS holder,
                lower(period) AS starts_at, upper(period) AS ends_at
           FROM equipment_bookings
          WHERE tenant_id = $1 AND equipment_id = ANY($2) AND period && tstzrange($3, $4, '[)')
            AND coalesce(source_id, '') <> coalesce($5, '')
          ORDER BY equipment_id, lower(period) LIMIT 50",
    )
    .bind(tenant.as_str())
    .bind(&equipment)
    .bind(from)
    .bind(to)
    .bind(except.map(|e| e.to_string()))
    .fetch_all(pool)
    .await
}

/// Up to 50 schedule bookings of `user` overlapping any of `periods`, by
/// time (what an unavailability would cover).
pub async fn schedules_overlapping(
    pool: &PgPool,
    tenant: &TenantId,
    user: Uuid,
    periods: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<CrewBooking>, sqlx::Error> {
    let (starts, ends): (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) = periods.iter().copied().unzip();
    sqlx::query_as(
        "SELECT DISTINCT b.user_id, b.kind, b.source_id, lower(b.period) AS starts_at, upper(b.period) AS ends_at
           FROM crew_bookings b
           JOIN unnest($3::timestamptz[], $4::timestamptz[]) AS p(starts_at, ends_at)
             ON b.period && tstzrange(p.starts_at, p.ends_at, '[)')
          WHERE b.tenant_id = $1 AND b.user_id = $2 AND b.kind = 'schedule'
          ORDER BY starts_at LIMIT 50",
    )
    .bind(tenant.as_str())
    .bind(user.to_string())
    .bind(&starts)
    .bind(&ends)
    .fetch_all(pool)
    .await
}

/// Event `event_id` of `tenant` in its CloudEvents envelope, as on NATS but
/// with its personal fields opened (erased once the subject's key is
/// destroyed): what a tenant's own webhook receives. `None`: no such event
/// in this tenant.
pub async fn opened_envelope(
    pool: &PgPool,
    keys: &keystore::KeyStore,
    tenant: &TenantId,
    event_id: Uuid,
) -> Result<Option<event_schemas::CloudEvent>, keystore::KeyError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        position: i64,
        aggregate_type: String,
        aggregate_id: String,
        sequence: i64,
        event_type: String,
        event_version: String,
        payload: Json<Value>,
        metadata: Json<Value>,
        recorded_at: DateTime<Utc>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload::jsonb AS payload, metadata::jsonb AS metadata, recorded_at
           FROM events WHERE event_id = $1 AND tenant_id = $2",
    )
    .bind(event_id)
    .bind(tenant.as_str())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut event = cqrs_es::persist::SerializedEvent::new(
        row.aggregate_id.clone(),
        row.sequence.max(0) as usize,
        row.aggregate_type.clone(),
        row.event_type.clone(),
        row.event_version.clone(),
        row.payload.0,
        row.metadata.0.clone(),
    );
    // Credentials (an integration's secrets, a webhook's) stay sealed:
    // personal data is opened for the tenant's endpoint, secrets are not.
    if !event_schemas::personal::holds_credentials(&row.aggregate_type) {
        crate::sealing::open_event(keys, &mut event).await?;
    }
    let meta = |name: &str| {
        row.metadata
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Some(event_schemas::CloudEvent {
        specversion: event_schemas::envelope::SPEC_VERSION.to_owned(),
        id: event_id,
        source: event_schemas::CloudEvent::source_for(tenant, &row.aggregate_type),
        event_type: row.event_type.clone(),
        subject: row.aggregate_id.clone(),
        time: row.recorded_at,
        datacontenttype: event_schemas::envelope::CONTENT_TYPE.to_owned(),
        dataschema: event_schemas::CloudEvent::dataschema_for(&row.event_type, &row.event_version),
        data: event_schemas::CloudEvent::data_from_stored_payload(&row.event_type, event.payload),
        tenant: tenant.clone(),
        aggregatetype: row.aggregate_type,
        aggregateid: row.aggregate_id,
        sequence: row.sequence,
        eventversion: row.event_version,
        position: row.position,
        correlationid: meta("correlation_id"),
        causationid: meta("causation_id"),
        commandid: meta("command_id"),
        actor: meta("user_id"),
        actorrole: meta("role"),
    }))
}
