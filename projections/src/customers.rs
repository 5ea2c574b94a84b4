//! `read.customers`: one row per customer, with its lead count.

use event_schemas::customer::{CustomerEvent, CustomerRegistered};
use event_schemas::lead::LeadEvent;
use std::collections::HashMap;

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
    consents    jsonb       NOT NULL DEFAULT '{}',
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
        // 3: `consents` (per channel).
        3
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
        self.apply_one(conn, ev).await
    }

    /// Registrations in multi-row INSERTs, lead counts in one UPDATE, the
    /// batch's data keys in one query; other events as `apply` does.
    async fn apply_all(
        &self,
        conn: &mut PgConnection,
        events: &[&ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        let keys = crate::PrefetchedKeys::fetch(&self.keys, events).await?;
        let opened = keys.open_all(events);
        let mut registrations = Registrations::default();
        let mut leads: HashMap<(String, uuid::Uuid), i32> = HashMap::new();
        for (ev, opened) in events.iter().zip(opened) {
            if let Some(event) = opened? {
                match event {
                    CustomerEvent::CustomerRegistered(d) => {
                        registrations.push(d, ev);
                        if registrations.len() >= 1000 {
                            registrations.insert(conn).await?;
                        }
                    }
                    later => {
                        // Later events of a customer update its row: insert
                        // the registrations so far first.
                        registrations.insert(conn).await?;
                        self.apply_customer(conn, ev, later).await?;
                    }
                }
            } else if let Some(customer) = ev.typed::<LeadEvent>()?.and_then(new_lead)
                && !registrations.count_lead(ev.event.tenant.as_str(), customer)
            {
                *leads
                    .entry((ev.event.tenant.to_string(), customer))
                    .or_default() += 1;
            }
        }
        registrations.insert(conn).await?;
        if !leads.is_empty() {
            // Counts commute with every other change of the row.
            let (mut tenants, mut ids, mut counts) = (vec![], vec![], vec![]);
            for ((tenant, id), n) in leads {
                tenants.push(tenant);
                ids.push(id);
                counts.push(n);
            }
            sqlx::query(
                "UPDATE customers c SET lead_count = c.lead_count + v.n
                   FROM unnest($1::text[], $2::uuid[], $3::int[]) AS v(tenant_id, id, n)
                  WHERE c.tenant_id = v.tenant_id AND c.id = v.id",
            )
            .bind(tenants)
            .bind(ids)
            .bind(counts)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// Registrations waiting for one multi-row INSERT.
#[derive(Default)]
struct Registrations {
    tenant_id: Vec<String>,
    id: Vec<uuid::Uuid>,
    first_name: Vec<String>,
    last_name: Vec<String>,
    email: Vec<Option<String>>,
    phone: Vec<Option<String>>,
    address: Vec<Option<serde_json::Value>>,
    lead_source: Vec<Option<String>>,
    tags: Vec<serde_json::Value>,
    preferences: Vec<serde_json::Value>,
    notes: Vec<Option<String>>,
    version: Vec<i64>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
    /// Leads opened in the same batch for a customer waiting here: counted
    /// into its row's INSERT instead of an UPDATE of the row after it.
    lead_count: Vec<i32>,
    /// Where each waiting customer is, by tenant and id.
    index: HashMap<(String, uuid::Uuid), usize>,
}

impl Registrations {
    /// Counts a lead for `customer` if it is waiting here; `false` if not.
    fn count_lead(&mut self, tenant: &str, customer: uuid::Uuid) -> bool {
        match self.index.get(&(tenant.to_owned(), customer)) {
            Some(&i) => {
                self.lead_count[i] += 1;
                true
            }
            None => false,
        }
    }

    fn len(&self) -> usize {
        self.id.len()
    }

    fn push(&mut self, d: CustomerRegistered, ev: &ProjectedEvent) {
        self.index
            .insert((ev.event.tenant.to_string(), d.customer_id), self.id.len());
        self.lead_count.push(0);
        self.tenant_id.push(ev.event.tenant.to_string());
        self.id.push(d.customer_id);
        self.first_name.push(d.first_name);
        self.last_name.push(d.last_name);
        self.email.push(d.email);
        self.phone.push(d.phone);
        self.address.push(
            d.address
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
        );
        self.lead_source.push(d.lead_source);
        self.tags.push(serde_json::Value::from(d.tags));
        self.preferences
            .push(serde_json::Value::Object(d.preferences));
        self.notes.push(d.notes);
        self.version.push(ev.event.sequence);
        self.at.push(ev.event.time);
    }

    /// Inserts what is waiting (nothing when empty) and empties it.
    async fn insert(&mut self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.id.is_empty() {
            return Ok(());
        }
        let r = std::mem::take(self);
        sqlx::query(
            "INSERT INTO customers (tenant_id, id, first_name, last_name, email, phone, address, lead_source,
                                    tags, preferences, notes, active, version, created_at, updated_at, lead_count)
             SELECT v.tenant_id, v.id, v.first_name, v.last_name, v.email, v.phone, v.address, v.lead_source,
                    ARRAY(SELECT jsonb_array_elements_text(v.tags)), v.preferences, v.notes, true, v.version, v.at, v.at,
                    v.lead_count
               FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
                           $8::text[], $9::jsonb[], $10::jsonb[], $11::text[], $12::bigint[], $13::timestamptz[],
                           $14::int[])
                    AS v(tenant_id, id, first_name, last_name, email, phone, address, lead_source, tags,
                         preferences, notes, version, at, lead_count)",
        )
        .bind(r.tenant_id)
        .bind(r.id)
        .bind(r.first_name)
        .bind(r.last_name)
        .bind(r.email)
        .bind(r.phone)
        .bind(r.address.into_iter().map(|a| a.map(Json)).collect::<Vec<_>>())
        .bind(r.lead_source)
        .bind(r.tags.into_iter().map(Json).collect::<Vec<_>>())
        .bind(r.preferences.into_iter().map(Json).collect::<Vec<_>>())
        .bind(r.notes)
        .bind(r.version)
        .bind(r.at)
        .bind(r.lead_count)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// The customer a lead event gives one more lead.
fn new_lead(event: &LeadEvent) -> Option<uuid::Uuid> {
    match event {
        LeadEvent::LeadCreated(d) => Some(d.customer_id),
        LeadEvent::LeadDetailsUpdated(_)
        | LeadEvent::LeadStatusChanged(_)
        | LeadEvent::LeadAssigned(_)
        | LeadEvent::LeadFirstContacted(_)
        | LeadEvent::SalesActivityRecorded(_) => None,
    }
}

impl Customers {
    async fn apply_one(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        if let Some(event) = ev.customer_event(&self.keys).await? {
            self.apply_customer(conn, ev, event).await?;
        } else if let Some(customer) = ev.typed::<LeadEvent>()?.and_then(new_lead) {
            sqlx::query(
                "UPDATE customers SET lead_count = lead_count + 1 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(ev.event.tenant.as_str())
            .bind(customer)
            .execute(conn)
            .await?;
        }
        Ok(())
    }

    /// A customer event (its personal fields opened).
    async fn apply_customer(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
        event: CustomerEvent,
    ) -> Result<(), ProjectionError> {
        let e = &ev.event;
        let tenant = e.tenant.as_str();
        let seq = e.sequence;
        match event {
            CustomerEvent::CustomerRegistered(d) => {
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
            CustomerEvent::CustomerContactDetailsUpdated(d) => {
                crate::on_aggregate("UPDATE customers SET first_name = $3, last_name = $4, email = $5, phone = $6, address = $7,
                            version = $8, updated_at = $9
                      WHERE tenant_id = $1 AND id = $2 AND version < $8", ev)?
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
            CustomerEvent::CustomerProfileUpdated(d) => {
                crate::on_aggregate("UPDATE customers SET lead_source = $3, preferences = $4, notes = $5, version = $6, updated_at = $7
                      WHERE tenant_id = $1 AND id = $2 AND version < $6", ev)?
                .bind(&d.lead_source)
                .bind(Json(&d.preferences))
                .bind(&d.notes)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            CustomerEvent::CustomerTagged(d) => {
                crate::on_aggregate("UPDATE customers SET tags = (SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(array_append(tags, $3)) t),
                            version = $4, updated_at = $5
                      WHERE tenant_id = $1 AND id = $2 AND version < $4", ev)?
                .bind(&d.tag)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            CustomerEvent::CustomerUntagged(d) => {
                crate::on_aggregate("UPDATE customers SET tags = array_remove(tags, $3), version = $4, updated_at = $5
                      WHERE tenant_id = $1 AND id = $2 AND version < $4", ev)?
                .bind(&d.tag)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            CustomerEvent::CustomerDeactivated(_) | CustomerEvent::CustomerReactivated(_) => {
                let active = matches!(event, CustomerEvent::CustomerReactivated(_));
                crate::on_aggregate(
                    "UPDATE customers SET active = $3, version = $4, updated_at = $5
                      WHERE tenant_id = $1 AND id = $2 AND version < $4",
                    ev,
                )?
                .bind(active)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            CustomerEvent::CustomerConsentRecorded(d) => {
                let consent = serde_json::json!({
                    "kind": d.kind,
                    "given_on": d.given_on,
                    "source": d.source,
                    "expires_on": d.expires_on,
                    "withdrawn": false,
                    "recorded_at": e.time,
                });
                crate::on_aggregate(
                    "UPDATE customers SET consents = consents || jsonb_build_object($3::text, $4::jsonb),
                            version = $5, updated_at = $6
                      WHERE tenant_id = $1 AND id = $2 AND version < $5",
                    ev,
                )?
                .bind(d.channel.as_str())
                .bind(Json(consent))
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            CustomerEvent::CustomerUnsubscribed(d) => {
                crate::on_aggregate(
                    "UPDATE customers
                        SET consents = consents || jsonb_build_object($3::text,
                              coalesce(consents -> $3, '{}'::jsonb)
                              || jsonb_build_object('withdrawn', true, 'withdrawn_at', $6::timestamptz,
                                                    'withdrawn_via', $4::text)),
                            version = $5, updated_at = $6
                      WHERE tenant_id = $1 AND id = $2 AND version < $5",
                    ev,
                )?
                .bind(d.channel.as_str())
                .bind(d.source.as_str())
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
            CustomerEvent::CustomerForgotten(_) => {
                // Scrub every personal field this read model held.
                crate::on_aggregate("UPDATE customers SET first_name = $3, last_name = $3, email = NULL, phone = NULL,
                            address = NULL, notes = NULL, active = false, forgotten = true,
                            version = $4, updated_at = $5
                      WHERE tenant_id = $1 AND id = $2 AND version < $4", ev)?
                .bind(keystore::ERASED)
                .bind(seq)
                .bind(e.time)
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }
}
