//! The leads inbound lead capture opened (`inbound_leads`), and the lock
//! that serializes one person's posts.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use sqlx::postgres::Postgres;
use uuid::Uuid;

/// Holds the advisory lock of one person (a tenant and a normalized email
/// or phone) until dropped or released: their posts run one at a time.
pub struct PersonLock {
    conn: Option<PoolConnection<Postgres>>,
    key: i64,
}

impl PersonLock {
    /// Waits for the lock of `person` in `tenant` (up to 30 s). A waiter
    /// holds no connection: it tries, and sleeps between tries, so many
    /// posts of one person can't take the pool.
    pub async fn acquire(pool: &PgPool, tenant: &str, person: &str) -> Result<Self, sqlx::Error> {
        let name = format!("inbound:{tenant}:{person}");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            let mut conn = pool.acquire().await?;
            let key: Option<i64> = sqlx::query_scalar(
                "SELECT k FROM (SELECT hashtextextended($1, 7) AS k) AS key WHERE pg_try_advisory_lock(k)",
            )
            .bind(&name)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(key) = key {
                return Ok(Self {
                    conn: Some(conn),
                    key,
                });
            }
            drop(conn);
            if tokio::time::Instant::now() > deadline {
                return Err(sqlx::Error::PoolTimedOut);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(50));
        }
    }

    /// Releases the lock (dropping the guard also does, by closing the
    /// connection's session).
    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        if let Some(mut conn) = self.conn.take() {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

impl Drop for PersonLock {
    fn drop(&mut self) {
        // Not released (an error, a cancelled request): close the session
        // rather than return a connection that holds the lock to the pool.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// The latest lead `integration` opened for `customer` at or after `since`.
pub async fn latest_lead(
    pool: &PgPool,
    tenant: &str,
    integration: Uuid,
    customer: Uuid,
    since: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT lead_id FROM inbound_leads
          WHERE tenant_id = $1 AND integration_id = $2 AND customer_id = $3 AND opened_at >= $4
          ORDER BY opened_at DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(integration)
    .bind(customer)
    .bind(since)
    .fetch_optional(pool)
    .await
}

/// Records a lead `integration` opened (again: nothing).
pub async fn record_lead(
    pool: &PgPool,
    tenant: &str,
    integration: Uuid,
    customer: Uuid,
    lead: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO inbound_leads (tenant_id, integration_id, customer_id, lead_id, opened_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(integration)
    .bind(customer)
    .bind(lead)
    .bind(at)
    .execute(pool)
    .await
    .map(drop)
}
