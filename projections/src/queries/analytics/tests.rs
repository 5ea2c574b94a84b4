//! The analytics over a known data set written into the read-model tables
//! (created by the projections' own DDL): every KPI for the whole tenant,
//! the previous period, a rep, each location and another tenant; every
//! widget and report. Needs PostgreSQL (`CRM_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432`); the test makes a database of its
//! own and drops it afterwards.
//!
//! The data (tenant `acme`, America/Toronto; the period is 2026-03-01 to
//! 2026-03-10, EST until the 8th, EDT after; the previous one 2026-02-19 to
//! 2026-02-28). Reps A and B; locations north and south.
//!
//! | lead | customer | created (UTC) | local day | source | status | assignee / author | location | response s |
//! |---|---|---|---|---|---|---|---|---|
//! | L1 | C1 | 03-02 15:00 | 03-02 | web | WON | A / A | north | 60 |
//! | L2 | C2 | 03-03 15:00 | 03-03 | web | CONTACTED | A / A | south | 120 |
//! | L3 | C3 | 03-05 15:00 | 03-05 | referral | NEW | B / B | south | – |
//! | L4 | C1 | 03-11 03:30 | 03-10 | referral | WON | – / B | south | 300 |
//! | L0 | C3 | 03-01 04:30 | 02-28 | web | NEW | A / A | north | 30 |
//! | L5 | C3 | 02-20 15:00 | 02-20 | web | WON | B / B | south | 90 |
//!
//! Quotes (author, location): Q1 (A, north; lead L1, created an hour after
//! it) sent 03-03, accepted 03-04 at 1130.00 (its `total` column says
//! 1000.00: the accepted total counts); Q2 (B, south; lead L4, two hours
//! after it) sent 03-11 01:00 local (after the period); Q3 (A, south) sent
//! 02-26, rejected 03-02, revised, sent 03-05, accepted 03-06 at 2260.00; Q4
//! (B, south) sent 03-01, expired 03-09; Q5 (B, south, USD) sent 03-07,
//! accepted 03-08 at 999.00; Q7 (A, north) sent 02-21, accepted 02-22 at
//! 500.00; Q8 (B, south) sent 02-20, rejected 02-23; Q9 a template with
//! sendings and an acceptance that never count.
//!
//! Invoices (rep / author, location): I1 (A, north, CAD) issued 03-04,
//! subtotal 1000.00, balance 1130.00, due 10 days ago; I2 (B, south) issued
//! 03-06, 2000.00, paid; I3 (– / A, south) issued 02-28 23:00 local, 500.00,
//! balance 452.00, due in 10 days; I4 voided (9999.00); I5 (B, south, USD)
//! issued 03-07, balance 791.00, due 5 days ago; I6 a draft. Credit notes:
//! 200.00 on I2 (03-08), 100.00 on I3 (03-09), 50.00 on the voided I4.
//!
//! Trucks: T1 (north) all along; T2 (north) registered at local midnight
//! starting 03-06; T3 (south) retired 03-04 at noon UTC; a trailer (north,
//! booked all period) does not count. Assignments: T1 03-02 09:00 to 03-03
//! 09:00 local (two days), T1 cancelled (03-05), T1 returned before its
//! start (03-09), T2 03-08 (the 23-hour day), T3 02-27 to 03-01 05:00 local.
//!
//! Inventory: S1 (north, low), S2 (south, low), S3 (north, not low).
//!
//! Tenant `globex` has one of (nearly) everything, on the same days, in
//! the same locations and with the same reps: it never counts for `acme`.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::America::Toronto;
use event_schemas::TenantId;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use super::*;

const A: Uuid = Uuid::from_u128(0xa);
const B: Uuid = Uuid::from_u128(0xb);

fn server_url() -> String {
    std::env::var("CRM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

async fn admin() -> PgConnection {
    let url = format!("{}/postgres", server_url());
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url} ({e}): start it (e.g. `pg_ctlcluster 15 main start`), \
             or set CRM_TEST_POSTGRES_URL"
        )
    })
}

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a decimal")
}

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a timestamp")
        .with_timezone(&Utc)
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::from_str(text).expect("a date")
}

fn id(name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
}

fn period(from: &str, to: &str) -> Period {
    Period::new(day(from), day(to), Toronto).expect("a period")
}

fn acme() -> TenantId {
    TenantId::parse("acme").expect("a tenant id")
}

fn scope(owner: Option<Uuid>, location: Option<&str>) -> Scope {
    Scope {
        tenant: acme(),
        owner,
        location_id: location.map(str::to_owned),
    }
}

#[test]
fn periods_count_their_days_and_precede_themselves() {
    let p = period("2026-03-01", "2026-03-10");
    assert_eq!(p.days(), 10);
    assert_eq!(p.previous(), period("2026-02-19", "2026-02-28"));
    assert_eq!(
        period("2026-03-01", "2026-03-01").previous(),
        period("2026-02-28", "2026-02-28")
    );
    assert!(Period::new(day("2026-03-02"), day("2026-03-01"), Toronto).is_none());
}

#[test]
fn keys_parse_back() {
    let keys: Vec<&str> = Kpi::ALL.iter().map(|k| k.key()).collect();
    assert_eq!(
        keys,
        [
            "new_leads",
            "speed_to_lead",
            "lead_conversion_rate",
            "quotes_sent",
            "quote_acceptance_rate",
            "booked_moves",
            "average_move_value",
            "revenue",
            "ar_outstanding",
            "days_sales_outstanding",
            "overdue_invoices",
            "truck_utilization",
            "low_stock_items"
        ]
    );
    for k in Kpi::ALL {
        assert_eq!(Kpi::parse(k.key()), Some(k));
        assert!(!k.label().is_empty() && k.definition().ends_with('.'));
    }
    assert_eq!(Kpi::parse("revenue "), None);
    for m in SeriesMetric::ALL {
        assert_eq!(SeriesMetric::parse(m.key()), Some(*m));
    }
    for m in BarMetric::ALL {
        assert_eq!(BarMetric::parse(m.key()), Some(*m));
    }
    for m in TableMetric::ALL {
        assert_eq!(TableMetric::parse(m.key()), Some(*m));
    }
}

#[tokio::test]
async fn analytics_over_a_known_data_set() {
    let db = format!(
        "crm_test_analytics_{}",
        &Uuid::new_v4().simple().to_string()[..16]
    );
    sqlx::query(&format!("CREATE DATABASE \"{db}\""))
        .execute(&mut admin().await)
        .await
        .expect("a test database");
    // The checks run in a task of their own, so that a failed one still
    // lets the database be dropped.
    let url = format!("{}/{db}", server_url());
    let outcome = tokio::spawn(async move {
        let pool = PgPool::connect(&url).await.expect("the test database");
        let result = async {
            create_tables(&pool).await?;
            insert_data(&pool).await?;
            check(&pool).await
        }
        .await;
        pool.close().await;
        result
    })
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .execute(&mut admin().await)
        .await
        .expect("the test database dropped");
    match outcome {
        Ok(result) => result.expect("the analytics' queries run"),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

async fn create_tables(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("CREATE SCHEMA {}", crate::LIVE_SCHEMA))
        .execute(pool)
        .await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .execute(pool)
        .await?;
    let master = keystore::MasterKeys::parse(keystore::DEV_MASTER_KEY, &[]).expect("a key");
    let projections = crate::all(Arc::new(keystore::KeyStore::new(pool.clone(), master)));
    for projection in &projections {
        let mut tx = pool.begin().await?;
        crate::create_tables(&mut tx, projection.as_ref(), crate::LIVE_SCHEMA).await?;
        tx.commit().await?;
    }
    Ok(())
}

struct Lead {
    tenant: &'static str,
    name: &'static str,
    customer: &'static str,
    created: &'static str,
    source: &'static str,
    status: &'static str,
    assigned_to: Option<Uuid>,
    created_by: Uuid,
    location: &'static str,
    response: Option<i64>,
}

async fn lead(pool: &PgPool, l: Lead) -> Result<(), sqlx::Error> {
    let created = t(l.created);
    sqlx::query(
        "INSERT INTO read.leads (tenant_id, id, customer_id, customer_name, source, status, priority, score,
                                 assigned_to, location_id, first_contacted_at, response_seconds, created_by,
                                 version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'MEDIUM', 0, $7, $8, $9, $10, $11, 1, $12, $12)",
    )
    .bind(l.tenant)
    .bind(id(l.name))
    .bind(id(l.customer))
    .bind(format!("Customer {}", l.customer))
    .bind(l.source)
    .bind(l.status)
    .bind(l.assigned_to)
    .bind(l.location)
    .bind(l.response.map(|s| created + Duration::seconds(s)))
    .bind(l.response)
    .bind(l.created_by)
    .bind(created)
    .execute(pool)
    .await?;
    Ok(())
}

async fn customer(
    pool: &PgPool,
    tenant: &str,
    name: &str,
    created: &str,
    source: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO read.customers (tenant_id, id, first_name, last_name, lead_source, active, version,
                                     created_at, updated_at)
         VALUES ($1, $2, 'Customer', $3, $4, true, 1, $5, $5)",
    )
    .bind(tenant)
    .bind(id(name))
    .bind(name)
    .bind(source)
    .bind(t(created))
    .execute(pool)
    .await?;
    Ok(())
}

struct Quote {
    tenant: &'static str,
    name: &'static str,
    lead: Option<&'static str>,
    created_by: Uuid,
    location: &'static str,
    currency: &'static str,
    template: bool,
    created: &'static str,
    /// Each revision's sending.
    sent: &'static [&'static str],
    accepted: Option<(&'static str, &'static str)>,
    rejected: Option<&'static str>,
    expired: Option<&'static str>,
}

async fn quote(pool: &PgPool, q: Quote) -> Result<(), sqlx::Error> {
    let status = if q.accepted.is_some() {
        "ACCEPTED"
    } else if q.expired.is_some() {
        "EXPIRED"
    } else if q.rejected.is_some() {
        "REJECTED"
    } else {
        "SENT"
    };
    sqlx::query(
        "INSERT INTO read.quotes (tenant_id, id, customer_id, lead_id, location_id, status, revision, is_template,
                                  currency, valid_until, pricing_type, province, tax_exempt, items, subtotal,
                                  tax_total, total, tax_lines, sent_at, accepted_at, accepted_totals, rejected_at,
                                  expired_at, created_by, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '2026-12-31', 'FLAT', 'ON', false, '[]', 884.96, 115.04,
                 1000.00, '[]', $10, $11, $12, $13, $14, $15, $16, $16, 1)",
    )
    .bind(q.tenant)
    .bind(id(q.name))
    .bind(id("C1"))
    .bind(q.lead.map(id))
    .bind(q.location)
    .bind(status)
    .bind(q.sent.len() as i32)
    .bind(q.template)
    .bind(q.currency)
    .bind(q.sent.last().map(|s| t(s)))
    .bind(q.accepted.map(|(at, _)| t(at)))
    .bind(q.accepted.map(|(_, total)| json!({"subtotal": "0", "tax_lines": [], "tax_total": "0", "total": total})))
    .bind(q.rejected.map(t))
    .bind(q.expired.map(t))
    .bind(q.created_by)
    .bind(t(q.created))
    .execute(pool)
    .await?;
    for (n, sent) in q.sent.iter().enumerate() {
        sqlx::query(
            "INSERT INTO read.quote_revisions (tenant_id, quote_id, revision, status, items, subtotal, tax_total,
                                               total, tax_lines, opened_at, sent_at)
             VALUES ($1, $2, $3, 'SENT', '[]', 884.96, 115.04, 1000.00, '[]', $4, $4)",
        )
        .bind(q.tenant)
        .bind(id(q.name))
        .bind(n as i32 + 1)
        .bind(t(sent))
        .execute(pool)
        .await?;
    }
    Ok(())
}

struct Invoice {
    tenant: &'static str,
    name: &'static str,
    customer: &'static str,
    sales_rep: Option<Uuid>,
    created_by: Uuid,
    location: &'static str,
    currency: &'static str,
    status: &'static str,
    issued: Option<&'static str>,
    subtotal: &'static str,
    balance: Option<&'static str>,
    /// Days from today (local).
    due_in: i64,
    voided: bool,
}

async fn invoice(pool: &PgPool, today: NaiveDate, i: Invoice) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO read.invoices (tenant_id, id, number, customer_id, location_id, sales_rep, status, currency,
                                    province, tax_exempt, payment_terms_days, items, subtotal, tax_total, total,
                                    tax_lines, due_date, issued_at, balance, voided_at, created_by, created_at,
                                    updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ON', false, 30, '[]', $9, round($9 * 0.13, 2),
                 round($9 * 1.13, 2), '[]', $10, $11, $12, $13, $14, '2026-01-01T00:00:00Z',
                 '2026-01-01T00:00:00Z', 1)",
    )
    .bind(i.tenant)
    .bind(id(i.name))
    .bind(i.issued.map(|_| format!("INV-{}", i.name)))
    .bind(id(i.customer))
    .bind(i.location)
    .bind(i.sales_rep)
    .bind(i.status)
    .bind(i.currency)
    .bind(d(i.subtotal))
    .bind(today + Duration::days(i.due_in))
    .bind(i.issued.map(t))
    .bind(i.balance.map(d))
    .bind(i.voided.then(|| t("2026-03-06T00:00:00Z")))
    .bind(i.created_by)
    .execute(pool)
    .await?;
    Ok(())
}

async fn credit_note(
    pool: &PgPool,
    invoice: &str,
    issued: &str,
    subtotal: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO read.invoice_credit_notes (tenant_id, invoice_id, credit_note_id, number, amount,
                                                subtotal_portion, tax_portion, reason, issued_by, issued_at,
                                                balance_after)
         VALUES ('acme', $1, $2, $3, round($4 * 1.13, 2), $4, round($4 * 0.13, 2), 'goodwill', $5, $6, 0)",
    )
    .bind(id(invoice))
    .bind(id(&format!("credit {invoice}")))
    .bind(format!("CN-{invoice}"))
    .bind(d(subtotal))
    .bind(A)
    .bind(t(issued))
    .execute(pool)
    .await?;
    Ok(())
}

async fn equipment(
    pool: &PgPool,
    tenant: &str,
    name: &str,
    kind: &str,
    location: &str,
    created: &str,
    retired: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO read.equipment (tenant_id, id, location_id, name, equipment_type, specifications, status,
                                     retired_at, created_by, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, '{}', $6, $7, $8, $9, $9, 1)",
    )
    .bind(tenant)
    .bind(id(name))
    .bind(location)
    .bind(name)
    .bind(kind)
    .bind(if retired.is_some() { "RETIRED" } else { "ACTIVE" })
    .bind(retired.map(t))
    .bind(A)
    .bind(t(created))
    .execute(pool)
    .await?;
    Ok(())
}

async fn assignment(
    pool: &PgPool,
    tenant: &str,
    equipment: &str,
    (starts, ends): (&str, &str),
    status: &str,
    booked_until: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO read.equipment_assignments (tenant_id, id, equipment_id, starts_at, ends_at, booked_until,
                                                 status, assigned_by, assigned_at, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4, $4, $4, 1)",
    )
    .bind(tenant)
    .bind(Uuid::new_v4())
    .bind(id(equipment))
    .bind(t(starts))
    .bind(t(ends))
    .bind(booked_until.map(t))
    .bind(status)
    .bind(A)
    .execute(pool)
    .await?;
    Ok(())
}

async fn item(
    pool: &PgPool,
    tenant: &str,
    sku: &str,
    location: &str,
    (quantity, min): (&str, &str),
    low: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO read.inventory_items (tenant_id, id, location_id, sku, name, category, min_quantity,
                                           unit_cost, unit_price, quantity, stock_quantity, low_stock,
                                           created_by, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, 'boxes', $6, 1, 2, $7, $7, $8, $9, now(), now(), 1)",
    )
    .bind(tenant)
    .bind(id(&format!("{tenant} {sku}")))
    .bind(location)
    .bind(sku)
    .bind(format!("Item {sku}"))
    .bind(d(min))
    .bind(d(quantity))
    .bind(low)
    .bind(A)
    .execute(pool)
    .await?;
    Ok(())
}

/// The tenant's today, as the queries compute it.
fn today() -> NaiveDate {
    Utc::now().with_timezone(&Toronto).date_naive()
}

async fn insert_data(pool: &PgPool) -> Result<(), sqlx::Error> {
    let today = today();
    for (name, created, source) in [
        ("C1", "2026-03-02T14:00:00Z", None),
        ("C2", "2026-03-03T14:00:00Z", Some("Referral")),
        ("C3", "2026-02-25T14:00:00Z", None),
        ("C4", "2026-03-05T14:00:00Z", None),
        ("C5", "2026-03-01T04:00:00Z", Some("Ads")),
    ] {
        customer(pool, "acme", name, created, source).await?;
    }
    customer(pool, "globex", "GC", "2026-03-02T14:00:00Z", Some("web")).await?;

    let acme_lead =
        |name, customer, created, source, status, assigned_to, created_by, location, response| {
            Lead {
                tenant: "acme",
                name,
                customer,
                created,
                source,
                status,
                assigned_to,
                created_by,
                location,
                response,
            }
        };
    for l in [
        acme_lead(
            "L1",
            "C1",
            "2026-03-02T15:00:00Z",
            "web",
            "WON",
            Some(A),
            A,
            "north",
            Some(60),
        ),
        acme_lead(
            "L2",
            "C2",
            "2026-03-03T15:00:00Z",
            "web",
            "CONTACTED",
            Some(A),
            A,
            "south",
            Some(120),
        ),
        acme_lead(
            "L3",
            "C3",
            "2026-03-05T15:00:00Z",
            "referral",
            "NEW",
            Some(B),
            B,
            "south",
            None,
        ),
        acme_lead(
            "L4",
            "C1",
            "2026-03-11T03:30:00Z",
            "referral",
            "WON",
            None,
            B,
            "south",
            Some(300),
        ),
        acme_lead(
            "L0",
            "C3",
            "2026-03-01T04:30:00Z",
            "web",
            "NEW",
            Some(A),
            A,
            "north",
            Some(30),
        ),
        acme_lead(
            "L5",
            "C3",
            "2026-02-20T15:00:00Z",
            "web",
            "WON",
            Some(B),
            B,
            "south",
            Some(90),
        ),
        Lead {
            tenant: "globex",
            ..acme_lead(
                "GL",
                "GC",
                "2026-03-02T15:00:00Z",
                "web",
                "WON",
                Some(A),
                A,
                "north",
                Some(1),
            )
        },
    ] {
        lead(pool, l).await?;
    }

    let q = |name, created_by, location, created| Quote {
        tenant: "acme",
        name,
        lead: None,
        created_by,
        location,
        currency: "CAD",
        template: false,
        created,
        sent: &[],
        accepted: None,
        rejected: None,
        expired: None,
    };
    for quote_row in [
        Quote {
            lead: Some("L1"),
            sent: &["2026-03-03T15:00:00Z"],
            accepted: Some(("2026-03-04T15:00:00Z", "1130.00")),
            ..q("Q1", A, "north", "2026-03-02T16:00:00Z")
        },
        Quote {
            lead: Some("L4"),
            sent: &["2026-03-11T06:00:00Z"],
            ..q("Q2", B, "south", "2026-03-11T05:30:00Z")
        },
        Quote {
            sent: &["2026-02-26T15:00:00Z", "2026-03-05T15:00:00Z"],
            rejected: Some("2026-03-02T15:00:00Z"),
            accepted: Some(("2026-03-06T15:00:00Z", "2260.00")),
            ..q("Q3", A, "south", "2026-02-25T14:00:00Z")
        },
        Quote {
            sent: &["2026-03-01T15:00:00Z"],
            expired: Some("2026-03-09T15:00:00Z"),
            ..q("Q4", B, "south", "2026-03-01T14:00:00Z")
        },
        Quote {
            currency: "USD",
            sent: &["2026-03-07T15:00:00Z"],
            accepted: Some(("2026-03-08T15:00:00Z", "999.00")),
            ..q("Q5", B, "south", "2026-03-07T14:00:00Z")
        },
        Quote {
            sent: &["2026-02-21T15:00:00Z"],
            accepted: Some(("2026-02-22T15:00:00Z", "500.00")),
            ..q("Q7", A, "north", "2026-02-21T14:00:00Z")
        },
        Quote {
            sent: &["2026-02-20T15:00:00Z"],
            rejected: Some("2026-02-23T15:00:00Z"),
            ..q("Q8", B, "south", "2026-02-20T14:00:00Z")
        },
        Quote {
            lead: Some("L3"),
            template: true,
            sent: &["2026-03-03T15:00:00Z"],
            accepted: Some(("2026-03-04T15:00:00Z", "7777.00")),
            ..q("Q9", A, "north", "2026-03-02T16:00:00Z")
        },
        Quote {
            tenant: "globex",
            sent: &["2026-03-03T15:00:00Z"],
            accepted: Some(("2026-03-04T15:00:00Z", "100000.00")),
            ..q("GQ", A, "north", "2026-03-02T16:00:00Z")
        },
    ] {
        quote(pool, quote_row).await?;
    }

    let inv = |name,
               customer,
               sales_rep,
               created_by,
               location,
               status,
               issued,
               subtotal,
               balance,
               due_in| Invoice {
        tenant: "acme",
        name,
        customer,
        sales_rep,
        created_by,
        location,
        currency: "CAD",
        status,
        issued,
        subtotal,
        balance,
        due_in,
        voided: false,
    };
    for i in [
        inv(
            "I1",
            "C1",
            Some(A),
            A,
            "north",
            "OVERDUE",
            Some("2026-03-04T15:00:00Z"),
            "1000.00",
            Some("1130.00"),
            -10,
        ),
        inv(
            "I2",
            "C2",
            Some(B),
            B,
            "south",
            "PAID",
            Some("2026-03-06T15:00:00Z"),
            "2000.00",
            Some("0.00"),
            -20,
        ),
        inv(
            "I3",
            "C3",
            None,
            A,
            "south",
            "PARTIAL_PAID",
            Some("2026-03-01T04:00:00Z"),
            "500.00",
            Some("452.00"),
            10,
        ),
        Invoice {
            voided: true,
            ..inv(
                "I4",
                "C1",
                Some(A),
                A,
                "north",
                "CANCELLED",
                Some("2026-03-05T15:00:00Z"),
                "9999.00",
                Some("11298.87"),
                -30,
            )
        },
        Invoice {
            currency: "USD",
            ..inv(
                "I5",
                "C2",
                Some(B),
                B,
                "south",
                "OVERDUE",
                Some("2026-03-07T15:00:00Z"),
                "700.00",
                Some("791.00"),
                -5,
            )
        },
        inv(
            "I6",
            "C1",
            Some(A),
            A,
            "north",
            "DRAFT",
            None,
            "300.00",
            None,
            30,
        ),
        Invoice {
            tenant: "globex",
            ..inv(
                "GI",
                "GC",
                Some(A),
                A,
                "north",
                "OVERDUE",
                Some("2026-03-03T15:00:00Z"),
                "1000000.00",
                Some("1130000.00"),
                -20,
            )
        },
    ] {
        invoice(pool, today, i).await?;
    }
    credit_note(pool, "I2", "2026-03-08T15:00:00Z", "200.00").await?;
    credit_note(pool, "I3", "2026-03-09T15:00:00Z", "100.00").await?;
    credit_note(pool, "I4", "2026-03-05T16:00:00Z", "50.00").await?;

    let jan = "2026-01-01T12:00:00Z";
    equipment(pool, "acme", "T1", "TRUCK", "north", jan, None).await?;
    equipment(
        pool,
        "acme",
        "T2",
        "TRUCK",
        "north",
        "2026-03-06T05:00:00Z",
        None,
    )
    .await?;
    equipment(
        pool,
        "acme",
        "T3",
        "TRUCK",
        "south",
        jan,
        Some("2026-03-04T12:00:00Z"),
    )
    .await?;
    equipment(pool, "acme", "TR", "TRAILER", "north", jan, None).await?;
    equipment(pool, "globex", "GT", "TRUCK", "north", jan, None).await?;
    let span = ("2026-03-02T14:00:00Z", "2026-03-03T14:00:00Z");
    assignment(pool, "acme", "T1", span, "ACTIVE", Some(span.1)).await?;
    let span = ("2026-03-05T14:00:00Z", "2026-03-05T18:00:00Z");
    assignment(pool, "acme", "T1", span, "CANCELLED", None).await?;
    let span = ("2026-03-09T14:00:00Z", "2026-03-09T18:00:00Z");
    assignment(pool, "acme", "T1", span, "COMPLETED", None).await?;
    let span = ("2026-03-08T15:00:00Z", "2026-03-08T20:00:00Z");
    assignment(pool, "acme", "T2", span, "COMPLETED", Some(span.1)).await?;
    let span = ("2026-02-27T15:00:00Z", "2026-03-01T10:00:00Z");
    assignment(pool, "acme", "T3", span, "COMPLETED", Some(span.1)).await?;
    let span = ("2026-03-01T06:00:00Z", "2026-03-10T06:00:00Z");
    assignment(pool, "acme", "TR", span, "ACTIVE", Some(span.1)).await?;
    let span = ("2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z");
    assignment(pool, "globex", "GT", span, "ACTIVE", Some(span.1)).await?;

    item(pool, "acme", "S1", "north", ("2", "5"), true).await?;
    item(pool, "acme", "S2", "south", ("0", "10"), true).await?;
    item(pool, "acme", "S3", "north", ("50", "5"), false).await?;
    item(pool, "globex", "GS", "north", ("0", "5"), true).await?;
    Ok(())
}

type Expected = [Option<&'static str>; 13];

/// Every KPI of `scope` over `period` is `expected` (in [`Kpi::ALL`]'s
/// order), money in CAD.
async fn assert_kpis(
    pool: &PgPool,
    scope: &Scope,
    period: &Period,
    expected: Expected,
) -> Result<(), sqlx::Error> {
    let values = kpis(pool, scope, period, &Kpi::ALL).await?;
    let wanted: Vec<KpiValue> = Kpi::ALL
        .iter()
        .zip(expected)
        .map(|(&kpi, value)| KpiValue {
            kpi,
            value: value.map(d),
            currency: (kpi.unit() == Unit::Money).then(|| "CAD".to_owned()),
        })
        .collect();
    for (got, want) in values.iter().zip(&wanted) {
        assert_eq!(
            got,
            want,
            "{} of {scope:?} over {} to {}",
            got.kpi.key(),
            period.from,
            period.to
        );
    }
    assert_eq!(values.len(), wanted.len());
    Ok(())
}

async fn check(pool: &PgPool) -> Result<(), sqlx::Error> {
    let march = period("2026-03-01", "2026-03-10");
    let all = scope(None, None);

    // new leads, speed to lead, conversion, quotes sent, acceptance, booked,
    // average move value, revenue, AR, DSO, overdue, truck utilization, low stock.
    assert_kpis(
        pool,
        &all,
        &march,
        [
            Some("4"),
            Some("120"),
            Some("0.5"),
            Some("4"),
            Some("0.6"),
            Some("3"),
            Some("1695.00"),
            Some("2700.00"),
            Some("1582.00"),
            Some("5.86"),
            Some("2"),
            Some("0.2105"),
            Some("2"),
        ],
    )
    .await?;
    assert_kpis(
        pool,
        &all,
        &march.previous(),
        [
            Some("2"),
            Some("60"),
            Some("0.5"),
            Some("3"),
            Some("0.5"),
            Some("1"),
            Some("500.00"),
            Some("500.00"),
            Some("1582.00"),
            Some("31.64"),
            Some("2"),
            Some("0.1"),
            Some("2"),
        ],
    )
    .await?;
    // Rep A: L1, L2; Q1, Q3; I1, I3 (authored, no rep).
    assert_kpis(
        pool,
        &scope(Some(A), None),
        &march,
        [
            Some("2"),
            Some("90"),
            Some("0.5"),
            Some("2"),
            Some("0.6667"),
            Some("2"),
            Some("1695.00"),
            Some("900.00"),
            Some("1582.00"),
            Some("17.58"),
            Some("1"),
            Some("0.2105"),
            Some("2"),
        ],
    )
    .await?;
    // Rep B: L3, L4 (unassigned, authored); Q4, Q5 (USD: no average);
    // I2, I5 (USD: not in AR, but overdue).
    assert_kpis(
        pool,
        &scope(Some(B), None),
        &march,
        [
            Some("2"),
            Some("300"),
            Some("0.5"),
            Some("2"),
            Some("0.5"),
            Some("1"),
            None,
            Some("1800.00"),
            Some("0.00"),
            Some("0"),
            Some("1"),
            Some("0.2105"),
            Some("2"),
        ],
    )
    .await?;
    assert_kpis(
        pool,
        &scope(None, Some("north")),
        &march,
        [
            Some("1"),
            Some("60"),
            Some("1"),
            Some("1"),
            Some("1"),
            Some("1"),
            Some("1130.00"),
            Some("1000.00"),
            Some("1130.00"),
            Some("11.3"),
            Some("1"),
            Some("0.2"),
            Some("1"),
        ],
    )
    .await?;
    assert_kpis(
        pool,
        &scope(None, Some("south")),
        &march,
        [
            Some("3"),
            Some("210"),
            Some("0.3333"),
            Some("3"),
            Some("0.5"),
            Some("2"),
            Some("2260.00"),
            Some("1700.00"),
            Some("452.00"),
            Some("2.66"),
            Some("1"),
            Some("0.25"),
            Some("1"),
        ],
    )
    .await?;
    // Both narrowings at once: rep A's leads in the south (L2 only).
    let a_south = kpis(
        pool,
        &scope(Some(A), Some("south")),
        &march,
        &[Kpi::NewLeads, Kpi::LeadConversionRate, Kpi::SpeedToLead],
    )
    .await?;
    let a_south: Vec<Option<Decimal>> = a_south.into_iter().map(|v| v.value).collect();
    assert_eq!(a_south, [Some(d("1")), Some(d("0")), Some(d("120"))]);
    // The other tenant sees its own rows only.
    let globex = Scope::tenant(TenantId::parse("globex").expect("a tenant id"));
    let values: Vec<Option<Decimal>> = kpis(pool, &globex, &march, &Kpi::ALL)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    let want: Vec<Option<Decimal>> = [
        "1",
        "1",
        "1",
        "1",
        "1",
        "1",
        "100000.00",
        "1000000.00",
        "1130000.00",
        "11.3",
        "1",
        "1",
        "1",
    ]
    .into_iter()
    .map(|v| Some(d(v)))
    .collect();
    assert_eq!(values, want, "globex's KPIs");
    // An empty period: counts are zero, rates and medians undefined.
    let empty = period("2020-01-01", "2020-01-31");
    let values: Vec<Option<Decimal>> = kpis(
        pool,
        &all,
        &empty,
        &[
            Kpi::NewLeads,
            Kpi::SpeedToLead,
            Kpi::LeadConversionRate,
            Kpi::QuoteAcceptanceRate,
            Kpi::AverageMoveValue,
            Kpi::Revenue,
            Kpi::DaysSalesOutstanding,
            Kpi::TruckUtilization,
        ],
    )
    .await?
    .into_iter()
    .map(|v| v.value)
    .collect();
    assert_eq!(
        values,
        [
            Some(d("0")),
            None,
            None,
            None,
            None,
            Some(d("0")),
            None,
            None
        ]
    );
    // Only what is asked, in the order asked.
    let some = kpis(pool, &all, &march, &[Kpi::LowStockItems, Kpi::NewLeads]).await?;
    assert_eq!(
        some.iter().map(|v| (v.kpi, v.value)).collect::<Vec<_>>(),
        [
            (Kpi::LowStockItems, Some(d("2"))),
            (Kpi::NewLeads, Some(d("4")))
        ]
    );

    check_series(pool, &march).await?;
    check_bars(pool, &march).await?;
    check_tables(pool, &march).await?;
    check_reports(pool, &march).await?;
    Ok(())
}

/// `values` on the days of March 1 to 10.
fn march_points(values: [&str; 10]) -> Vec<(NaiveDate, Decimal)> {
    values
        .iter()
        .enumerate()
        .map(|(n, v)| (day("2026-03-01") + Duration::days(n as i64), d(v)))
        .collect()
}

async fn check_series(pool: &PgPool, march: &Period) -> Result<(), sqlx::Error> {
    let all = scope(None, None);
    let s = series(pool, &all, march, SeriesMetric::NewLeads).await?;
    assert_eq!(
        s,
        Series {
            unit: Unit::Count,
            currency: None,
            // L4 is created on the 11th in UTC, the 10th in Toronto.
            points: march_points(["0", "1", "1", "0", "1", "0", "0", "0", "0", "1"]),
        }
    );
    let s = series(pool, &all, march, SeriesMetric::QuotesSent).await?;
    assert_eq!(
        s.points,
        march_points(["1", "0", "1", "0", "1", "0", "1", "0", "0", "0"])
    );
    let s = series(pool, &all, march, SeriesMetric::BookedMoves).await?;
    assert_eq!(
        s.points,
        march_points(["0", "0", "0", "1", "0", "1", "0", "1", "0", "0"])
    );
    let s = series(pool, &all, march, SeriesMetric::Revenue).await?;
    assert_eq!(
        s,
        Series {
            unit: Unit::Money,
            currency: Some("CAD".into()),
            points: march_points(["0", "0", "0", "1000", "0", "2000", "0", "-200", "-100", "0"]),
        }
    );
    let s = series(
        pool,
        &scope(None, Some("north")),
        march,
        SeriesMetric::Revenue,
    )
    .await?;
    assert_eq!(
        s.points,
        march_points(["0", "0", "0", "1000", "0", "0", "0", "0", "0", "0"])
    );
    let s = series(pool, &scope(Some(B), None), march, SeriesMetric::NewLeads).await?;
    assert_eq!(
        s.points,
        march_points(["0", "0", "0", "0", "1", "0", "0", "0", "0", "1"])
    );
    Ok(())
}

fn bar_list(bars: &[(&str, &str)]) -> Vec<(String, Decimal)> {
    bars.iter().map(|(l, v)| (l.to_string(), d(v))).collect()
}

async fn check_bars(pool: &PgPool, march: &Period) -> Result<(), sqlx::Error> {
    let all = scope(None, None);
    let b = bars(pool, &all, march, BarMetric::LeadsByStatus, 10).await?;
    assert_eq!(
        b,
        Bars {
            unit: Unit::Count,
            currency: None,
            bars: bar_list(&[("WON", "2"), ("CONTACTED", "1"), ("NEW", "1")]),
        }
    );
    let b = bars(pool, &all, march, BarMetric::LeadsByStatus, 1).await?;
    assert_eq!(b.bars, bar_list(&[("WON", "2")]));
    let b = bars(pool, &all, march, BarMetric::LeadsBySource, 10).await?;
    assert_eq!(b.bars, bar_list(&[("referral", "2"), ("web", "2")]));
    let b = bars(
        pool,
        &scope(Some(A), None),
        march,
        BarMetric::LeadsBySource,
        10,
    )
    .await?;
    assert_eq!(b.bars, bar_list(&[("web", "2")]));
    let both = period("2026-02-19", "2026-03-10");
    let b = bars(pool, &all, &both, BarMetric::RevenueByMonth, 12).await?;
    assert_eq!(
        b,
        Bars {
            unit: Unit::Money,
            currency: Some("CAD".into()),
            bars: bar_list(&[("2026-02", "500.00"), ("2026-03", "2700.00")]),
        }
    );
    let b = bars(pool, &all, &both, BarMetric::RevenueByMonth, 1).await?;
    assert_eq!(b.bars, bar_list(&[("2026-03", "2700.00")]));
    Ok(())
}

fn texts(row: &[Option<&str>]) -> Vec<Option<String>> {
    row.iter().map(|c| c.map(str::to_owned)).collect()
}

async fn check_tables(pool: &PgPool, march: &Period) -> Result<(), sqlx::Error> {
    let all = scope(None, None);
    let t1 = table(pool, &all, march, TableMetric::RecentLeads, 2).await?;
    let keys: Vec<&str> = t1.columns.iter().map(|c| c.0).collect();
    assert_eq!(
        keys,
        [
            "id",
            "created_at",
            "customer_name",
            "source",
            "status",
            "assigned_to",
            "estimated_value"
        ]
    );
    let (l4, l3) = (id("L4").to_string(), id("L3").to_string());
    let b = B.to_string();
    assert_eq!(
        t1.rows,
        [
            texts(&[
                Some(&l4),
                Some("2026-03-11T03:30:00Z"),
                Some("Customer C1"),
                Some("referral"),
                Some("WON"),
                None,
                None
            ]),
            texts(&[
                Some(&l3),
                Some("2026-03-05T15:00:00Z"),
                Some("Customer C3"),
                Some("referral"),
                Some("NEW"),
                Some(&b),
                None
            ]),
        ]
    );

    let today = today();
    let overdue = table(pool, &all, march, TableMetric::OverdueInvoices, 10).await?;
    let (i1, i5) = (id("I1").to_string(), id("I5").to_string());
    let (due1, due5) = (
        (today - Duration::days(10)).to_string(),
        (today - Duration::days(5)).to_string(),
    );
    assert_eq!(
        overdue.rows,
        [
            texts(&[
                Some(&i1),
                Some("INV-I1"),
                Some("Customer C1"),
                Some(&due1),
                Some("10"),
                Some("1130.00"),
                Some("CAD")
            ]),
            texts(&[
                Some(&i5),
                Some("INV-I5"),
                Some("Customer C2"),
                Some(&due5),
                Some("5"),
                Some("791.00"),
                Some("USD")
            ]),
        ]
    );
    let mine = table(
        pool,
        &scope(Some(B), None),
        march,
        TableMetric::OverdueInvoices,
        10,
    )
    .await?;
    assert_eq!(mine.rows.len(), 1);
    assert_eq!(mine.rows[0][0].as_deref(), Some(i5.as_str()));

    let low = table(pool, &all, march, TableMetric::LowStockItems, 10).await?;
    let skus: Vec<(Option<String>, Option<String>, Option<String>)> = low
        .rows
        .iter()
        .map(|r| (r[1].clone(), r[4].clone(), r[5].clone()))
        .collect();
    let want =
        |s: &str, q: &str, m: &str| (Some(s.to_owned()), Some(q.to_owned()), Some(m.to_owned()));
    assert_eq!(
        skus,
        [want("S2", "0.000", "10.000"), want("S1", "2.000", "5.000")]
    );
    let north = table(
        pool,
        &scope(None, Some("north")),
        march,
        TableMetric::LowStockItems,
        10,
    )
    .await?;
    assert_eq!(north.rows.len(), 1);
    assert_eq!(north.rows[0][1].as_deref(), Some("S1"));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn pipeline_row(
    dimension: &str,
    key: Option<&str>,
    leads: i64,
    converted: i64,
    rate: &str,
    p50: Option<&str>,
    p90: Option<&str>,
    to_quote: Option<&str>,
) -> PipelineRow {
    PipelineRow {
        dimension: dimension.into(),
        key: key.map(str::to_owned),
        leads,
        converted,
        conversion_rate: Some(d(rate)),
        speed_to_lead_p50: p50.map(d),
        speed_to_lead_p90: p90.map(d),
        lead_to_quote_p50: to_quote.map(d),
    }
}

async fn check_reports(pool: &PgPool, march: &Period) -> Result<(), sqlx::Error> {
    let all = scope(None, None);
    let (a, b) = (A.to_string(), B.to_string());
    let rows = sales_pipeline(pool, &all, march).await?;
    let r = pipeline_row;
    assert_eq!(
        rows,
        [
            r(
                "status",
                Some("CONTACTED"),
                1,
                0,
                "0",
                Some("120"),
                Some("120"),
                None
            ),
            r("status", Some("NEW"), 1, 0, "0", None, None, None),
            r(
                "status",
                Some("WON"),
                2,
                2,
                "1",
                Some("180"),
                Some("276"),
                Some("5400")
            ),
            r(
                "source",
                Some("referral"),
                2,
                1,
                "0.5",
                Some("300"),
                Some("300"),
                Some("7200")
            ),
            r(
                "source",
                Some("web"),
                2,
                1,
                "0.5",
                Some("90"),
                Some("114"),
                Some("3600")
            ),
            r(
                "rep",
                Some(&a),
                2,
                1,
                "0.5",
                Some("90"),
                Some("114"),
                Some("3600")
            ),
            r("rep", Some(&b), 1, 0, "0", None, None, None),
            r(
                "rep",
                None,
                1,
                1,
                "1",
                Some("300"),
                Some("300"),
                Some("7200")
            ),
            r(
                "total",
                None,
                4,
                2,
                "0.5",
                Some("120"),
                Some("264"),
                Some("5400")
            ),
        ]
    );
    let rows = sales_pipeline(pool, &scope(Some(A), None), march).await?;
    assert_eq!(
        rows.last(),
        Some(&r(
            "total",
            None,
            2,
            1,
            "0.5",
            Some("90"),
            Some("114"),
            Some("3600")
        ))
    );
    let rows = sales_pipeline(pool, &scope(None, Some("north")), march).await?;
    assert_eq!(
        rows.last(),
        Some(&r(
            "total",
            None,
            1,
            1,
            "1",
            Some("60"),
            Some("60"),
            Some("3600")
        ))
    );
    let rows = sales_pipeline(pool, &all, &period("2020-01-01", "2020-01-31")).await?;
    assert_eq!(
        rows,
        [PipelineRow {
            conversion_rate: None,
            ..r("total", None, 0, 0, "0", None, None, None)
        }]
    );

    let month = |month: &str, counts: [i64; 4], rate: Option<&str>, average: Option<&str>| {
        QuoteSummaryRow {
            month: month.into(),
            sent: counts[0],
            accepted: counts[1],
            rejected: counts[2],
            expired: counts[3],
            acceptance_rate: rate.map(d),
            average_value: average.map(d),
            currency: "CAD".into(),
        }
    };
    assert_eq!(
        quotes_summary(pool, &all, march).await?,
        [month("2026-03", [4, 3, 1, 1], Some("0.6"), Some("1695.00"))]
    );
    assert_eq!(
        quotes_summary(pool, &all, &period("2026-02-19", "2026-03-10")).await?,
        [
            month("2026-02", [3, 1, 1, 0], Some("0.5"), Some("500.00")),
            month("2026-03", [4, 3, 1, 1], Some("0.6"), Some("1695.00")),
        ]
    );
    assert_eq!(
        quotes_summary(pool, &scope(Some(B), None), march).await?,
        [month("2026-03", [2, 1, 0, 1], Some("0.5"), None)]
    );
    assert_eq!(
        quotes_summary(
            pool,
            &scope(None, Some("north")),
            &period("2026-01-15", "2026-03-10")
        )
        .await?,
        [
            month("2026-01", [0, 0, 0, 0], None, None),
            month("2026-02", [1, 1, 0, 0], Some("1"), Some("500.00")),
            month("2026-03", [1, 1, 0, 0], Some("1"), Some("1130.00")),
        ]
    );

    let customers = |month: &str, rows: &[(Option<&str>, i64)]| -> Vec<NewCustomerRow> {
        rows.iter()
            .map(|(source, n)| NewCustomerRow {
                month: month.into(),
                source: source.map(str::to_owned),
                customers: *n,
            })
            .collect()
    };
    assert_eq!(
        new_customers(pool, &all, march).await?,
        customers(
            "2026-03",
            &[(Some("Referral"), 1), (Some("web"), 1), (None, 1)]
        )
    );
    assert_eq!(
        new_customers(pool, &all, &march.previous()).await?,
        customers("2026-02", &[(Some("Ads"), 1), (Some("web"), 1)])
    );
    assert_eq!(
        new_customers(pool, &scope(Some(A), None), march).await?,
        customers("2026-03", &[(Some("Referral"), 1), (Some("web"), 1)])
    );
    assert_eq!(new_customers(pool, &scope(Some(B), None), march).await?, []);
    assert_eq!(
        new_customers(pool, &scope(None, Some("north")), march).await?,
        customers("2026-03", &[(Some("web"), 1)])
    );
    let globex = Scope::tenant(TenantId::parse("globex").expect("a tenant id"));
    assert_eq!(
        new_customers(pool, &globex, march).await?,
        customers("2026-03", &[(Some("web"), 1)])
    );
    Ok(())
}
