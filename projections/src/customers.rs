//! `read.customers`: one row per customer, with its lead count.

use event_schemas::customer::{
    AGGREGATE_TYPE as CUSTOMER, CustomerContactDetailsUpdated, CustomerDeactivated,
    CustomerForgotten, CustomerProfileUpdated, CustomerReactivated, CustomerRegistered,
    CustomerTagged, CustomerUntagged,
};
use event_schemas::lead::{AGGREGATE_TYPE as LEAD, LeadCreated};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError};

pub struct Customers {
    /// Opens the personal fields of customer events.
    pub keys: std::sync::Arc<keystore::KeyStore>,
}

const DDL: &str = r#"
CREATE TABLE customers (
    tenant_id   text        NOT NULL,
    id          uuid        NOT NULL,
    first_name  text        NOT NULL,
    last_name   text        NOT NULL,
    email       text,
    phone       text,
    address     jsonb,
    lead_source text,
    tags        text[]      NOT NULL DEFAULT '{}',
    preferences jsonb       NOT NULL DEFAULT '{}',
    notes       text,
    active      boolean     NOT NULL,
    forgotten   boolean     NOT NULL DEFAULT false,
    lead_count  integer     NOT NULL DEFAULT 0,
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX customers_newest ON customers (tenant_id, created_at DESC, id DESC);
CREATE INDEX customers_email ON customers (tenant_id, lower(email));
CREATE INDEX customers_search ON customers USING gin (
    (lower(first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, ''))) gin_trgm_ops
);
"#;

#[async_trait::async_trait]
impl Projection for Customers {
    fn name(&self) -> &'static str {
        "customers"
    }

    fn version(&self) -> i32 {
        // 2: personal data opened from sealed events; `forgotten`.
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &["customers"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let e = &ev.event;
        let tenant = e.tenant.as_str();
        let seq = e.sequence;
        match (e.aggregatetype.as_str(), e.event_type.as_str()) {
            (CUSTOMER, "CustomerRegistered") => {
                let d: CustomerRegistered = ev.personal_data(&self.keys).await?;
                sqlx::query(
                    "INSERT INTO customers (tenant_id, id, first_name, last_name, email, phone, address, lead_source,
                                            tags, preferences, notes, active, version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true, $12, $13, $13)",
                )
                .bind(tenant)
                .bind(d.customer_id)
                .bind(&d.first_name)
                .bind(&d.last_name)
                .bind(&d.email)
                .bind(&d.phone)
                .bind(d.address.as_ref().map(Json))
                .bind(&d.lead_source)
                .bind(&d.tags)
                .bind(Json(&d.preferences))
                .bind(&d.notes)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            (CUSTOMER, "CustomerContactDetailsUpdated") => {
                let d: CustomerContactDetailsUpdated = ev.personal_data(&self.keys).await?;
                sqlx::query(
                    "UPDATE customers SET first_name = $3, last_name = $4, email = $5, phone = $6, address = $7,
                            version = $8, updated_at = $9
                      WHERE tenant_id = $1 AND id = $2 AND version < $8",
                )
                .bind(tenant)
                .bind(ev.aggregate_uuid()?)
                .bind(&d.first_name)
                .bind(&d.last_name)
                .bind(&d.email)
                .bind(&d.phone)
                .bind(d.address.as_ref().map(Json))
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            (CUSTOMER, "CustomerProfileUpdated") => {
                let d: CustomerProfileUpdated = ev.personal_data(&self.keys).await?;
                sqlx::query(
                    "UPDATE customers SET lead_source = $3, preferences = $4, notes = $5, version = $6, updated_at = $7
                      WHERE tenant_id = $1 AND id = $2 AND version < $6",
                )
                .bind(tenant)
                .bind(ev.aggregate_uuid()?)
                .bind(&d.lead_source)
                .bind(Json(&d.preferences))
                .bind(&d.notes)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            (CUSTOMER, "CustomerTagged") => {
                let d: CustomerTagged = ev.data()?;
                sqlx::query(
                    "UPDATE customers SET tags = (SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(array_append(tags, $3)) t),
                            version = $4, updated_at = $5
                      WHERE tenant_id = $1 AND id = $2 AND version < $4",
                )
                .bind(tenant)
                .bind(ev.aggregate_uuid()?)
                .bind(&d.tag)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            (CUSTOMER, "CustomerUntagged") => {
                let d: CustomerUntagged = ev.data()?;
                sqlx::query(
                    "UPDATE customers SET tags = array_remove(tags, $3), version = $4, updated_at = $5
                      WHERE tenant_id = $1 AND id = $2 AND version < $4",
                )
                .bind(tenant)
                .bind(ev.aggregate_uuid()?)
                .bind(&d.tag)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            (CUSTOMER, "CustomerDeactivated" | "CustomerReactivated") => {
                let active = if e.event_type == "CustomerReactivated" {
                    let _: CustomerReactivated = ev.data()?;
                    true
                } else {
                    let _: CustomerDeactivated = ev.data()?;
                    false
                };
                sqlx::query(
                    "UPDATE customers SET active = $3, version = $4, updated_at = $5
                      WHERE tenant_id = $1 AND id = $2 AND version < $4",
                )
                .bind(tenant)
                .bind(ev.aggregate_uuid()?)
                .bind(active)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            (CUSTOMER, "CustomerForgotten") => {
                let _: CustomerForgotten = ev.data()?;
                // Scrub every personal field this read model held.
                sqlx::query(
                    "UPDATE customers SET first_name = $3, last_name = $3, email = NULL, phone = NULL,
                            address = NULL, notes = NULL, active = false, forgotten = true,
                            version = $4, updated_at = $5
                      WHERE tenant_id = $1 AND id = $2 AND version < $4",
                )
                .bind(tenant)
                .bind(ev.aggregate_uuid()?)
                .bind(keystore::ERASED)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            (LEAD, "LeadCreated") => {
                let d: LeadCreated = ev.data()?;
                sqlx::query("UPDATE customers SET lead_count = lead_count + 1 WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(d.customer_id)
                    .execute(conn)
                    .await?;
            }
            _ => crate::ignore(ev, &[CUSTOMER, LEAD])?,
        }
        Ok(())
    }
}
