//! `read.calendar_feed_tokens`: each feed token's person, the SHA-256 of
//! its secret and whether it was revoked (the feed route checks a presented
//! secret against it).

use event_schemas::calendar::CalendarFeedTokenEvent;
use sqlx::PgConnection;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct CalendarFeeds;

const DDL: &str = r#"
CREATE TABLE calendar_feed_tokens (
    tenant_id     text        NOT NULL,
    id            uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    secret_digest text        NOT NULL,
    issued_at     timestamptz NOT NULL,
    revoked_at    timestamptz,
    updated_at    timestamptz NOT NULL,
    version       bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX calendar_feed_tokens_by_id ON calendar_feed_tokens (id);
"#;

#[async_trait::async_trait]
impl Projection for CalendarFeeds {
    fn name(&self) -> &'static str {
        "calendar_feeds"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["calendar_feed_tokens"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<CalendarFeedTokenEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, CalendarFeedTokenEvent::CalendarFeedTokenIssued(_));
        if !crate::applies(conn, "calendar_feed_tokens", ev, first).await? {
            return Ok(());
        }
        match event {
            CalendarFeedTokenEvent::CalendarFeedTokenIssued(e) => on_aggregate(
                "INSERT INTO calendar_feed_tokens (tenant_id, id, user_id, secret_digest, issued_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $5, $6)",
                ev,
            )?
            .bind(e.user_id)
            .bind(e.secret_digest.clone())
            .bind(e.issued_at)
            .bind(ev.event.sequence),
            CalendarFeedTokenEvent::CalendarFeedTokenRevoked(e) => on_aggregate(
                "UPDATE calendar_feed_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2",
                ev,
            )?
            .bind(e.revoked_at),
        }
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
