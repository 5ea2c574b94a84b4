//! `read.leads`: one row per lead, with its customer's name, pipeline status,
//! speed-to-lead and last activity. `read.lead_customer_names` is this
//! projection's own copy of customer names (so it rebuilds on its own).

use event_schemas::LeadStatus;
use event_schemas::customer::CustomerEvent;
use event_schemas::lead::LeadEvent;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{PrefetchedKeys, ProjectedEvent, Projection, ProjectionError};

pub struct Leads {
    /// Opens customers' names.
    pub keys: std::sync::Arc<keystore::KeyStore>,
}

const DDL: &str = r#"
CREATE TABLE lead_customer_names (
    tenant_id   text NOT NULL,
    customer_id uuid NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE TABLE leads (
    tenant_id           text          NOT NULL,
    id                  uuid          NOT NULL,
    customer_id         uuid          NOT NULL,
    customer_name       text,
    source              text          NOT NULL,
    status              text          NOT NULL,
    priority            text          NOT NULL,
    estimated_move_date date,
    estimated_value     numeric(14, 2),
    notes               text,
    follow_up_date      timestamptz,
    score               integer       NOT NULL,
    qualification       jsonb         NOT NULL DEFAULT '{}',
    assigned_to         uuid,
    location_id         text,
    lost_reason         text,
    first_contacted_at  timestamptz,
    response_seconds    bigint,
    last_contact_at     timestamptz,
    last_activity_at    timestamptz,
    last_activity_type  text,
    activity_count      integer       NOT NULL DEFAULT 0,
    created_by          uuid          NOT NULL,
    version             bigint        NOT NULL,
    created_at          timestamptz   NOT NULL,
    updated_at          timestamptz   NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX leads_newest ON leads (tenant_id, created_at DESC, id DESC);
CREATE INDEX leads_by_status ON leads (tenant_id, status, created_at DESC);
CREATE INDEX leads_by_rep ON leads (tenant_id, assigned_to, created_at DESC);
CREATE INDEX leads_by_follow_up ON leads (tenant_id, follow_up_date);
CREATE INDEX leads_by_customer ON leads (tenant_id, customer_id);
CREATE INDEX leads_by_location ON leads (tenant_id, location_id);
"#;

#[async_trait::async_trait]
impl Projection for Leads {
    fn name(&self) -> &'static str {
        "leads"
    }

    fn version(&self) -> i32 {
        // 2: customer names opened from sealed events, erased when forgotten.
        // 3: location_id.
        3
    }

    fn tables(&self) -> &'static [&'static str] {
        &["leads", "lead_customer_names"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_all(conn, &[ev]).await
    }

    /// A batch: customers' names in one multi-row upsert per run of name
    /// events (flushed before any other event, since a lead reads the name
    /// when it is created), the batch's data keys in one query, the rest
    /// event by event.
    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[&ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        let keys = PrefetchedKeys::fetch(&self.keys, events).await?;
        let opened = keys.open_all(events);
        let mut names = Names::default();
        for (ev, opened) in events.iter().zip(opened) {
            let tenant = ev.event.tenant.as_str();
            if let Some(event) = opened? {
                match event {
                    CustomerEvent::CustomerRegistered(d) => {
                        names
                            .set(conn, tenant, d.customer_id, &d.first_name, &d.last_name)
                            .await?;
                    }
                    CustomerEvent::CustomerContactDetailsUpdated(d) => {
                        names
                            .set(
                                conn,
                                tenant,
                                ev.aggregate_uuid()?,
                                &d.first_name,
                                &d.last_name,
                            )
                            .await?;
                    }
                    CustomerEvent::CustomerForgotten(_) => {
                        let erased = keystore::ERASED;
                        names
                            .set(conn, tenant, ev.aggregate_uuid()?, erased, erased)
                            .await?;
                    }
                    CustomerEvent::CustomerProfileUpdated(_)
                    | CustomerEvent::CustomerTagged(_)
                    | CustomerEvent::CustomerUntagged(_)
                    | CustomerEvent::CustomerDeactivated(_)
                    | CustomerEvent::CustomerReactivated(_)
                    | CustomerEvent::CustomerConsentRecorded(_)
                    | CustomerEvent::CustomerUnsubscribed(_) => {}
                }
            } else if let Some(event) = ev.typed::<LeadEvent>()? {
                names.flush(conn).await?;
                self.apply_lead(conn, ev, event).await?;
            }
        }
        names.flush(conn).await?;
        Ok(())
    }
}

impl Leads {
    /// A lead event (customers' names are [`Names`]'s).
    async fn apply_lead(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
        event: &LeadEvent,
    ) -> Result<(), ProjectionError> {
        let e = &ev.event;
        let tenant = e.tenant.as_str();
        let seq = e.sequence;
        match event {
            LeadEvent::LeadCreated(d) => {
                sqlx::query(
                    "INSERT INTO leads (tenant_id, id, customer_id, customer_name, source, status, priority,
                                        estimated_move_date, estimated_value, notes, follow_up_date, score,
                                        qualification, assigned_to, created_by, version, created_at, updated_at,
                                        location_id)
                     VALUES ($1, $2, $3,
                             (SELECT name FROM lead_customer_names WHERE tenant_id = $1 AND customer_id = $3),
                             $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                )
                .bind(tenant)
                .bind(d.lead_id)
                .bind(d.customer_id)
                .bind(&d.source)
                .bind(LeadStatus::New.as_str())
                .bind(d.priority.as_str())
                .bind(d.estimated_move_date)
                .bind(d.estimated_value)
                .bind(&d.notes)
                .bind(d.follow_up_date)
                .bind(d.score)
                .bind(Json(&d.qualification))
                .bind(d.assigned_to)
                .bind(d.created_by)
                .bind(seq)
                .bind(d.created_at)
                .bind(e.time)
                .bind(&d.location_id)
                .execute(conn)
                .await?;
            }
            LeadEvent::LeadDetailsUpdated(d) => {
                crate::on_aggregate("UPDATE leads SET source = $3, priority = $4, estimated_move_date = $5, estimated_value = $6,
                            notes = $7, follow_up_date = $8, score = $9, qualification = $10,
                            version = $11, updated_at = $12
                      WHERE tenant_id = $1 AND id = $2 AND version < $11", ev)?
                .bind(&d.source)
                .bind(d.priority.as_str())
                .bind(d.estimated_move_date)
                .bind(d.estimated_value)
                .bind(&d.notes)
                .bind(d.follow_up_date)
                .bind(d.score)
                .bind(Json(&d.qualification))
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            LeadEvent::LeadStatusChanged(d) => {
                let lost_reason = (d.to == LeadStatus::Lost).then_some(d.reason.as_deref());
                crate::on_aggregate(
                    "UPDATE leads SET status = $3, lost_reason = $4, version = $5, updated_at = $6
                      WHERE tenant_id = $1 AND id = $2 AND version < $5",
                    ev,
                )?
                .bind(d.to.as_str())
                .bind(lost_reason.flatten())
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            LeadEvent::LeadAssigned(d) => {
                crate::on_aggregate(
                    "UPDATE leads SET assigned_to = $3, version = $4, updated_at = $5
                      WHERE tenant_id = $1 AND id = $2 AND version < $4",
                    ev,
                )?
                .bind(d.assigned_to)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            LeadEvent::LeadFirstContacted(d) => {
                crate::on_aggregate("UPDATE leads SET first_contacted_at = $3, response_seconds = $4, version = $5, updated_at = $6
                      WHERE tenant_id = $1 AND id = $2 AND version < $5", ev)?
                .bind(d.contacted_at)
                .bind(d.response_seconds)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            LeadEvent::SalesActivityRecorded(d) => {
                crate::on_aggregate(
                    "UPDATE leads SET activity_count = activity_count + 1,
                            last_activity_at = $3, last_activity_type = $4,
                            last_contact_at = CASE WHEN $5::timestamptz IS NULL THEN last_contact_at
                                                   ELSE greatest(last_contact_at, $5) END,
                            version = $6, updated_at = $3
                      WHERE tenant_id = $1 AND id = $2 AND version < $6",
                    ev,
                )?
                .bind(e.time)
                .bind(d.activity_type.as_str())
                .bind(d.completed_at)
                .bind(seq)
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }
}

/// Customers' names waiting for one multi-row upsert. A customer named twice
/// in one run flushes the first name first (one statement cannot change a row
/// twice).
#[derive(Default)]
struct Names {
    tenants: Vec<String>,
    customers: Vec<Uuid>,
    names: Vec<String>,
    pending: std::collections::HashSet<(String, Uuid)>,
}

impl Names {
    async fn set(
        &mut self,
        conn: &mut PgConnection,
        tenant: &str,
        customer: Uuid,
        first: &str,
        last: &str,
    ) -> Result<(), sqlx::Error> {
        if !self.pending.insert((tenant.to_owned(), customer)) {
            self.flush(conn).await?;
            self.pending.insert((tenant.to_owned(), customer));
        }
        self.tenants.push(tenant.to_owned());
        self.customers.push(customer);
        self.names.push(format!("{first} {last}"));
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.tenants.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "WITH named AS (
                 INSERT INTO lead_customer_names (tenant_id, customer_id, name)
                 SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[])
                 ON CONFLICT (tenant_id, customer_id) DO UPDATE SET name = EXCLUDED.name
                 RETURNING tenant_id, customer_id, name)
             UPDATE leads l SET customer_name = named.name
               FROM named
              WHERE l.tenant_id = named.tenant_id AND l.customer_id = named.customer_id",
        )
        .bind(&self.tenants)
        .bind(&self.customers)
        .bind(&self.names)
        .execute(&mut *conn)
        .await?;
        self.tenants.clear();
        self.customers.clear();
        self.names.clear();
        self.pending.clear();
        Ok(())
    }
}
