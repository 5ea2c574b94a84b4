//! The queries against the tables the projections create: every table
//! named here belongs to the projection said to own it, every column read
//! exists in its table, and every query runs. Needs PostgreSQL
//! (`CRM_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432`);
//! the test makes a database of its own and drops it afterwards.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use event_schemas::TenantId;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use super::*;

fn server_url() -> String {
    std::env::var("CRM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

async fn admin() -> PgConnection {
    let url = format!("{}/postgres", server_url());
    PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {url} ({e}): start it"))
}

#[tokio::test]
async fn queries_read_what_the_projections_create() {
    let db = format!(
        "crm_test_queries_{}",
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
        let result = check(&pool).await;
        pool.close().await;
        result
    })
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .execute(&mut admin().await)
        .await
        .expect("the test database dropped");
    match outcome {
        Ok(result) => result.expect("queries and tables agree"),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

async fn check(pool: &PgPool) -> Result<(), sqlx::Error> {
    // What the migrations give the read models.
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

    for (owner, table, columns) in column_sets() {
        let (schema, name) = table.split_once('.').expect("a qualified table");
        assert_eq!(schema, crate::LIVE_SCHEMA, "{table} is in the live schema");
        let projection = projections
            .iter()
            .find(|p| p.name() == owner)
            .unwrap_or_else(|| panic!("{owner}, said to own {table}, is no projection"));
        assert!(
            projection.tables().contains(&name),
            "{table} is not among the tables of {owner}: {:?}",
            projection.tables()
        );
        let existing: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
              WHERE table_schema = $1 AND table_name = $2",
        )
        .bind(schema)
        .bind(name)
        .fetch_all(pool)
        .await?;
        assert!(!existing.is_empty(), "{table} was not created");
        for column in columns.split(',').map(str::trim) {
            assert!(
                existing.iter().any(|c| c == column),
                "{table} has no column `{column}` (it has {existing:?})"
            );
        }
    }

    // Every statement runs (names in conditions and orders included) and
    // its rows decode into the row types (of empty tables: the types are
    // checked by the end-to-end tests).
    let tenant = TenantId::parse("acme").expect("a tenant id");
    let id = Uuid::new_v4();
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
    let now = Utc::now();
    let limited = Scope {
        limited: true,
        own: Some(id),
        locations: Some(vec!["north".to_owned()]),
    };
    let newest = NewestFirst {
        limit: 10,
        after: Some((now, id)),
    };
    customers::get(pool, &tenant, id).await?;
    dashboards::get(pool, &tenant, id, id).await?;
    dashboards::list(pool, &tenant, id, &limited, newest).await?;
    dashboards::default_of(pool, &tenant, id).await?;
    customers::list(
        pool,
        &tenant,
        &customers::CustomerFilter {
            email: Some("a@example.com".into()),
            q: Some("50%".into()),
            active: Some(true),
            tag: Some("vip".into()),
        },
        newest,
    )
    .await?;
    leads::get(pool, &tenant, id).await?;
    leads::list(
        pool,
        &tenant,
        &limited,
        &leads::LeadFilter {
            status: Some(event_schemas::LeadStatus::ALL[0]),
            assigned_to: Some(id),
            location_id: Some("north".into()),
            priority: Some(event_schemas::LeadPriority::ALL[0]),
            source: Some("web".into()),
            customer_id: Some(id),
            follow_up_before: Some(now),
        },
        newest,
    )
    .await?;
    let after_seq = Page {
        limit: 10,
        after: Some(5),
    };
    timeline::list(
        pool,
        &tenant,
        timeline::Of::Lead(id),
        Some("activity"),
        after_seq,
    )
    .await?;
    timeline::list(pool, &tenant, timeline::Of::Customer(id), None, after_seq).await?;
    audit::list(
        pool,
        &tenant,
        &audit::AuditFilter {
            aggregate_type: Some("Lead".into()),
            aggregate_id: Some(id.to_string()),
            from: Some(now),
            to: Some(now),
        },
        after_seq,
    )
    .await?;
    quotes::get(pool, &tenant, id).await?;
    quotes::deposits(pool, &tenant, id).await?;
    quotes::revisions(pool, &tenant, id).await?;
    quotes::list(
        pool,
        &tenant,
        &limited,
        &quotes::QuoteFilter {
            status: Some(event_schemas::money::QuoteStatus::ALL[0]),
            customer_id: Some(id),
            lead_id: Some(id),
            is_template: Some(false),
        },
        newest,
    )
    .await?;
    invoices::get(pool, &tenant, id).await?;
    invoices::payments(pool, &tenant, id).await?;
    invoices::refunds(pool, &tenant, id).await?;
    invoices::credit_notes(pool, &tenant, id).await?;
    invoices::list(
        pool,
        &tenant,
        &limited,
        &invoices::InvoiceFilter {
            status: Some(event_schemas::money::InvoiceStatus::ALL[0]),
            customer_id: Some(id),
            overdue: Some(true),
        },
        newest,
    )
    .await?;
    ledger::list(
        pool,
        &tenant,
        &limited,
        &ledger::TransactionFilter {
            from: Some(day),
            to: Some(day),
            transaction_type: Some(event_schemas::money::FinancialTransactionType::ALL[0]),
        },
        Page {
            limit: 10,
            after: Some((day, id)),
        },
    )
    .await?;
    equipment::get(pool, &tenant, id).await?;
    equipment::maintenance(pool, &tenant, id).await?;
    equipment::defects(pool, &tenant, id).await?;
    equipment::list(
        pool,
        &tenant,
        &limited,
        &equipment::EquipmentFilter {
            equipment_type: Some(event_schemas::equipment::EquipmentType::ALL[0]),
            status: Some(event_schemas::equipment::EquipmentStatus::ALL[0]),
            location_id: Some("north".into()),
            available: Some((now, now + chrono::Duration::hours(1))),
        },
        newest,
    )
    .await?;
    equipment::maintenance_due(pool, &tenant, day, 30).await?;
    assignments::get(pool, &tenant, id).await?;
    assignments::of_equipment(pool, &tenant, id, &limited).await?;
    assignments::list(
        pool,
        &tenant,
        &limited,
        &assignments::AssignmentFilter {
            equipment_id: Some(id),
            journey_id: Some(id),
            user_id: Some(id),
            from: Some(now),
            to: Some(now),
            status: Some(event_schemas::assignment::AssignmentStatus::ALL[0]),
        },
        newest,
    )
    .await?;
    inventory::get(pool, &tenant, id).await?;
    inventory::transactions(pool, &tenant, id).await?;
    inventory::list(
        pool,
        &tenant,
        &limited,
        &inventory::ItemFilter {
            location_id: Some("north".into()),
            low_stock: Some(true),
            category: Some("boxes".into()),
        },
        newest,
    )
    .await?;
    inventory::valuation(pool, &tenant).await?;
    availability::occurrences(
        pool,
        &tenant,
        &limited,
        Some(id),
        (now, now),
        Page {
            limit: 10,
            after: Some((now, id)),
        },
    )
    .await?;
    calendar::profile(pool, &tenant).await?;
    calendar::capacity(
        pool,
        &tenant,
        &[calendar::Day {
            day,
            start: now,
            end: now,
            work: Some((now, now)),
        }],
        Some("north"),
    )
    .await?;
    calendar::crew(pool, &tenant).await?;
    calendar::feed_token(pool, id).await?;
    calendar::feed_entries(pool, &tenant, id, now, 10).await?;
    calendar::crew_intervals(pool, &tenant, (now, now)).await?;
    schedules::get(pool, &tenant, id).await?;
    schedules::lead_is_own(pool, &tenant, id, id).await?;
    schedules::list(
        pool,
        &tenant,
        &limited,
        &schedules::ScheduleFilter {
            from: Some(now),
            to: Some(now),
            user_id: Some(id),
            location_id: Some("north".into()),
            schedule_type: Some("JOURNEY".into()),
            status: Some("SCHEDULED".into()),
        },
        schedules::EarliestFirst {
            limit: 10,
            after: Some((now, id)),
        },
    )
    .await?;
    staff::get(pool, &tenant, id).await?;
    staff::list(
        pool,
        &tenant,
        &limited,
        &staff::StaffFilter {
            location_id: Some("north".into()),
            role: Some("DRIVER".into()),
            active: Some(true),
        },
        newest,
    )
    .await?;
    leads::owners_of_customer(pool, &tenant, id).await?;
    communications::get(pool, &tenant, id).await?;
    communications::list(
        pool,
        &tenant,
        &limited,
        &communications::CommunicationFilter {
            customer_id: Some(id),
            lead_id: Some(id),
            status: Some("SENT".into()),
            channel: Some("EMAIL".into()),
        },
        newest,
    )
    .await?;
    rules::get(pool, &tenant, id).await?;
    rules::list(pool, &tenant, &limited, Some(true), newest).await?;
    integrations::get(pool, &tenant, id).await?;
    integrations::list(pool, &tenant, &limited, Some(true), newest).await?;
    integrations::keys(pool, &tenant, id).await?;
    integrations::keys_of(pool, &tenant, &[id]).await?;
    integrations::sync(pool, &tenant, id).await?;
    integrations::syncs(pool, &tenant, &limited, id, Some("FAILED".into()), newest).await?;
    webhooks::get(pool, &tenant, id).await?;
    webhooks::list(pool, &tenant, &limited, Some(true), newest).await?;
    webhooks::delivery(pool, &tenant, id).await?;
    webhooks::deliveries(pool, &tenant, &limited, id, Some("FAILED".into()), newest).await?;
    webhooks::attempts(pool, &tenant, id).await?;
    webhooks::failed_since(pool, &tenant, id, chrono::Utc::now()).await?;
    templates::get(pool, &tenant, id).await?;
    templates::get_version(pool, &tenant, id, 1).await?;
    templates::versions(pool, &tenant, id).await?;
    templates::list(
        pool,
        &tenant,
        &limited,
        &templates::TemplateFilter {
            template_type: Some("EMAIL".into()),
            category: Some("sales".into()),
            tag: Some("follow-up".into()),
            active: Some(true),
        },
        newest,
    )
    .await?;
    reports::ar_aging(pool, &tenant, day).await?;
    for key in [
        reports::RevenueKey::Month,
        reports::RevenueKey::Source,
        reports::RevenueKey::Rep,
    ] {
        reports::revenue(pool, &tenant, (day, day), key).await?;
    }
    reports::equipment_utilization(pool, &tenant, (now, now)).await?;
    Ok(())
}

#[test]
fn like_patterns_escape_wildcards() {
    assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
}
