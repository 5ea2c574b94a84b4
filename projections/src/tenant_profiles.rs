//! `read.tenant_profiles`: each tenant's profile as last changed (the whole
//! `TenantProfileChanged`, which the query side reads through
//! `aggregates::tenant_profile::TenantProfile`'s accessors: time zone,
//! working hours, locations). No row: the defaults.

use event_schemas::tenant::TenantProfileEvent;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError};

pub struct TenantProfiles;

const DDL: &str = r#"
CREATE TABLE tenant_profiles (
    tenant_id  text        NOT NULL PRIMARY KEY,
    profile    jsonb       NOT NULL,
    updated_at timestamptz NOT NULL,
    version    bigint      NOT NULL
);
"#;

#[async_trait::async_trait]
impl Projection for TenantProfiles {
    fn name(&self) -> &'static str {
        "tenant_profiles"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["tenant_profiles"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(TenantProfileEvent::TenantProfileChanged(e)) = ev.typed::<TenantProfileEvent>()?
        else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO tenant_profiles (tenant_id, profile, updated_at, version) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id) DO UPDATE SET profile = $2, updated_at = $3, version = $4
              WHERE tenant_profiles.version < $4",
        )
        .bind(ev.event.tenant.as_str())
        .bind(Json(e))
        .bind(ev.event.time)
        .bind(ev.event.sequence)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
