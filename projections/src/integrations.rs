//! The `integrations` projection: `read.integrations` (settings with the
//! secret ones' names only, whether active, the sync figures the status is
//! read from: syncs running, errors, last error, last sync),
//! `read.integration_api_keys` (each key's hint, issue and revocation) and
//! `read.integration_syncs` (the sync log: counts, per-record failures,
//! times, the inbound result).

use std::sync::Arc;

use event_schemas::integration::{IntegrationEvent, IntegrationSyncEvent};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Integrations {
    pub keys: Arc<keystore::KeyStore>,
}

const DDL: &str = r#"
CREATE TABLE integrations (
    tenant_id             text        NOT NULL,
    id                    uuid        NOT NULL,
    name                  text        NOT NULL,
    integration_type      text        NOT NULL,
    description           text,
    integration_version   text,
    config                jsonb       NOT NULL,
    secret_names          text[]      NOT NULL,
    lead_source           text        NOT NULL,
    sync_interval_minutes integer,
    auto_sync             boolean     NOT NULL,
    active                boolean     NOT NULL,
    syncs_running         integer     NOT NULL DEFAULT 0,
    error_count           bigint      NOT NULL DEFAULT 0,
    last_error            text,
    last_sync_status      text,
    last_sync_at          timestamptz,
    created_by            uuid        NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    version               bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX integrations_newest ON integrations (tenant_id, created_at DESC, id DESC);
CREATE TABLE integration_api_keys (
    tenant_id      text        NOT NULL,
    key_id         uuid        NOT NULL,
    integration_id uuid        NOT NULL,
    hint           text        NOT NULL,
    issued_by      uuid        NOT NULL,
    issued_at      timestamptz NOT NULL,
    revoked_at     timestamptz,
    PRIMARY KEY (tenant_id, key_id)
);
CREATE INDEX integration_api_keys_by_integration ON integration_api_keys (tenant_id, integration_id, issued_at);
CREATE TABLE integration_syncs (
    tenant_id      text        NOT NULL,
    id             uuid        NOT NULL,
    integration_id uuid        NOT NULL,
    sync_type      text        NOT NULL,
    source         text        NOT NULL,
    reference      text,
    status         text        NOT NULL,
    processed      bigint      NOT NULL DEFAULT 0,
    created_count  bigint      NOT NULL DEFAULT 0,
    updated_count  bigint      NOT NULL DEFAULT 0,
    failed_count   bigint      NOT NULL DEFAULT 0,
    total          bigint,
    failures       jsonb       NOT NULL DEFAULT '[]',
    result         jsonb,
    error          text,
    queued_at      timestamptz NOT NULL,
    started_at     timestamptz,
    ended_at       timestamptz,
    duration_ms    bigint,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX integration_syncs_newest ON integration_syncs (tenant_id, integration_id, created_at DESC, id DESC);
"#;

#[async_trait::async_trait]
impl Projection for Integrations {
    fn name(&self) -> &'static str {
        "integrations"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["integrations", "integration_api_keys", "integration_syncs"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if let Some(event) = ev.opened::<IntegrationEvent>(&self.keys).await? {
            return apply_integration(conn, ev, event).await;
        }
        if let Some(event) = ev.typed::<IntegrationSyncEvent>()? {
            return apply_sync(conn, ev, event).await;
        }
        Ok(())
    }
}

async fn apply_integration(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    event: IntegrationEvent,
) -> Result<(), ProjectionError> {
    let first = matches!(event, IntegrationEvent::IntegrationCreated(_));
    if !crate::applies(conn, "integrations", ev, first).await? {
        return Ok(());
    }
    let tenant = ev.event.tenant.as_str();
    let id = ev.aggregate_uuid()?;
    match event {
        IntegrationEvent::IntegrationCreated(e) => {
            on_aggregate(
                "INSERT INTO integrations (tenant_id, id, name, integration_type, description, integration_version,
                                           config, secret_names, lead_source, sync_interval_minutes, auto_sync,
                                           active, created_by, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true, $12, $13, $13, $14)",
                ev,
            )?
            .bind(&e.name)
            .bind(e.integration_type.as_str())
            .bind(&e.description)
            .bind(&e.version)
            .bind(Json(&e.config))
            .bind(e.secrets.keys().cloned().collect::<Vec<_>>())
            .bind(&e.lead_source)
            .bind(e.sync_interval_minutes.map(|m| m as i32))
            .bind(e.auto_sync)
            .bind(e.created_by)
            .bind(e.created_at)
            .bind(ev.event.sequence)
            .execute(&mut *conn)
            .await?;
        }
        IntegrationEvent::IntegrationUpdated(e) => {
            on_aggregate(
                "UPDATE integrations SET name = $3, description = $4, integration_version = $5, config = $6,
                        secret_names = $7, lead_source = $8, sync_interval_minutes = $9, auto_sync = $10
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(&e.name)
            .bind(&e.description)
            .bind(&e.version)
            .bind(Json(&e.config))
            .bind(e.secrets.keys().cloned().collect::<Vec<_>>())
            .bind(&e.lead_source)
            .bind(e.sync_interval_minutes.map(|m| m as i32))
            .bind(e.auto_sync)
            .execute(&mut *conn)
            .await?;
        }
        IntegrationEvent::IntegrationEnabled(_) | IntegrationEvent::IntegrationDisabled(_) => {
            let active = matches!(event, IntegrationEvent::IntegrationEnabled(_));
            on_aggregate(
                "UPDATE integrations SET active = $3 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(active)
            .execute(&mut *conn)
            .await?;
        }
        IntegrationEvent::IntegrationApiKeyIssued(e) => {
            sqlx::query(
                "INSERT INTO integration_api_keys (tenant_id, key_id, integration_id, hint, issued_by, issued_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(e.key_id)
            .bind(id)
            .bind(&e.hint)
            .bind(e.issued_by)
            .bind(e.issued_at)
            .execute(&mut *conn)
            .await?;
        }
        IntegrationEvent::IntegrationApiKeyRevoked(e) => {
            sqlx::query(
                "UPDATE integration_api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND key_id = $2",
            )
            .bind(tenant)
            .bind(e.key_id)
            .bind(e.revoked_at)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Moves the sync's integration figures: `running` syncs (+1, -1), a
/// finished sync's status, time and error.
async fn integration_figures(
    conn: &mut PgConnection,
    tenant: &str,
    integration: Uuid,
    running: i32,
    finished: Option<(&str, chrono::DateTime<chrono::Utc>, Option<&str>)>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE integrations
            SET syncs_running = greatest(syncs_running + $3, 0),
                last_sync_status = coalesce($4, last_sync_status),
                last_sync_at = coalesce($5, last_sync_at),
                error_count = error_count + CASE WHEN $4 = 'FAILED' THEN 1 ELSE 0 END,
                last_error = CASE WHEN $4 = 'FAILED' THEN $6 ELSE last_error END
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(integration)
    .bind(running)
    .bind(finished.map(|f| f.0))
    .bind(finished.map(|f| f.1))
    .bind(finished.and_then(|f| f.2))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn apply_sync(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    event: &IntegrationSyncEvent,
) -> Result<(), ProjectionError> {
    let first = matches!(event, IntegrationSyncEvent::IntegrationSyncQueued(_));
    if !crate::applies(conn, "integration_syncs", ev, first).await? {
        return Ok(());
    }
    let tenant = ev.event.tenant.as_str();
    let id = ev.aggregate_uuid()?;
    match event {
        IntegrationSyncEvent::IntegrationSyncQueued(e) => {
            on_aggregate(
                "INSERT INTO integration_syncs (tenant_id, id, integration_id, sync_type, source, reference, status,
                                                queued_at, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', $7, $7, $7, $8)",
                ev,
            )?
            .bind(e.integration_id)
            .bind(e.sync_type.as_str())
            .bind(e.source.as_str())
            .bind(&e.reference)
            .bind(e.queued_at)
            .bind(ev.event.sequence)
            .execute(&mut *conn)
            .await?;
        }
        IntegrationSyncEvent::IntegrationSyncStarted(e) => {
            let integration: Option<Uuid> = sqlx::query_scalar(
                "UPDATE integration_syncs SET status = 'IN_PROGRESS', started_at = $3
                  WHERE tenant_id = $1 AND id = $2 RETURNING integration_id",
            )
            .bind(tenant)
            .bind(id)
            .bind(e.started_at)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(integration) = integration {
                integration_figures(conn, tenant, integration, 1, None).await?;
            }
        }
        IntegrationSyncEvent::IntegrationSyncRecordsProcessed(e) => {
            on_aggregate(
                "UPDATE integration_syncs
                    SET processed = processed + $3, created_count = created_count + $4,
                        updated_count = updated_count + $5, failed_count = failed_count + $6,
                        total = coalesce($7, total), failures = failures || $8
                  WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(e.processed as i64)
            .bind(e.created as i64)
            .bind(e.updated as i64)
            .bind(e.failed as i64)
            .bind(e.total.map(|t| t as i64))
            .bind(Json(&e.failures))
            .execute(&mut *conn)
            .await?;
        }
        IntegrationSyncEvent::IntegrationSyncCompleted(e) => {
            let integration: Option<Uuid> = sqlx::query_scalar(
                "UPDATE integration_syncs
                    SET status = 'COMPLETED', ended_at = $3, result = $4,
                        duration_ms = (extract(epoch FROM ($3 - coalesce(started_at, queued_at))) * 1000)::bigint
                  WHERE tenant_id = $1 AND id = $2 RETURNING integration_id",
            )
            .bind(tenant)
            .bind(id)
            .bind(e.completed_at)
            .bind(e.result.as_ref().map(Json))
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(integration) = integration {
                integration_figures(
                    conn,
                    tenant,
                    integration,
                    -1,
                    Some(("COMPLETED", e.completed_at, None)),
                )
                .await?;
            }
        }
        IntegrationSyncEvent::IntegrationSyncFailed(e) => {
            let row: Option<(Uuid, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
                "UPDATE integration_syncs
                    SET status = 'FAILED', ended_at = $3, error = $4,
                        duration_ms = (extract(epoch FROM ($3 - coalesce(started_at, queued_at))) * 1000)::bigint
                  WHERE tenant_id = $1 AND id = $2 RETURNING integration_id, started_at",
            )
            .bind(tenant)
            .bind(id)
            .bind(e.failed_at)
            .bind(&e.error)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((integration, started)) = row {
                integration_figures(
                    conn,
                    tenant,
                    integration,
                    if started.is_some() { -1 } else { 0 },
                    Some(("FAILED", e.failed_at, Some(&e.error))),
                )
                .await?;
            }
        }
    }
    Ok(())
}
