//! The `reports` projection: `read.reports` (each saved report's settings,
//! its latest run's status and its latest file) and `read.report_runs`
//! (every run: trigger, due instant, status, attempts, file, error, when it
//! was emailed, when its file expired). The report worker reads the runs
//! to do and the schedules from here; the query API the rest.

use event_schemas::report::ReportEvent;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::{ProjectedEvent, Projection, ProjectionError, on_aggregate};

pub struct Reports;

const DDL: &str = r#"
CREATE TABLE reports (
    tenant_id           text        NOT NULL,
    id                  uuid        NOT NULL,
    report_type         text        NOT NULL,
    name                text        NOT NULL,
    description         text,
    catalogue_key       text        NOT NULL,
    parameters          jsonb       NOT NULL,
    format              text        NOT NULL,
    schedule_cron       text,
    recipients          jsonb       NOT NULL,
    status              text        NOT NULL DEFAULT 'PENDING',
    latest_run_id       uuid,
    last_error          text,
    last_generated_at   timestamptz,
    last_file           jsonb,
    last_due_at         timestamptz,
    deleted_at          timestamptz,
    created_by          uuid        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    version             bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX reports_newest ON reports (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX reports_scheduled ON reports (tenant_id, id) WHERE schedule_cron IS NOT NULL AND deleted_at IS NULL;
CREATE TABLE report_runs (
    tenant_id         text        NOT NULL,
    report_id         uuid        NOT NULL,
    run_id            uuid        NOT NULL,
    trigger           text        NOT NULL,
    due_at            timestamptz,
    status            text        NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    file              jsonb,
    period            text,
    error             text,
    communication_ids jsonb,
    requested_by      uuid        NOT NULL,
    requested_at      timestamptz NOT NULL,
    started_at        timestamptz,
    completed_at      timestamptz,
    sent_at           timestamptz,
    expired_at        timestamptz,
    sequence          bigint      NOT NULL,
    PRIMARY KEY (tenant_id, run_id)
);
CREATE INDEX report_runs_newest ON report_runs (tenant_id, report_id, requested_at DESC, run_id DESC);
CREATE INDEX report_runs_to_do ON report_runs (requested_at) WHERE status IN ('PENDING', 'GENERATING');
CREATE INDEX report_runs_with_files ON report_runs (completed_at) WHERE file IS NOT NULL AND expired_at IS NULL;
"#;

#[async_trait::async_trait]
impl Projection for Reports {
    fn name(&self) -> &'static str {
        "reports"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["reports", "report_runs"]
    }

    fn ddl(&self) -> &'static str {
        DDL
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        ev: &ProjectedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(event) = ev.typed::<ReportEvent>()? else {
            return Ok(());
        };
        let first = matches!(event, ReportEvent::ReportCreated(_));
        if !crate::applies(conn, "reports", ev, first).await? {
            return Ok(());
        }
        let tenant = ev.event.tenant.as_str().to_owned();
        let report = ev.aggregate_uuid()?;
        let seq = ev.event.sequence;
        match event {
            ReportEvent::ReportCreated(e) => {
                let key = e.parameters["report"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                on_aggregate(
                    "INSERT INTO reports (tenant_id, id, report_type, name, description, catalogue_key, parameters,
                                          format, schedule_cron, recipients, created_by, created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)
                     ON CONFLICT DO NOTHING",
                    ev,
                )?
                .bind(e.report_type.as_str())
                .bind(&e.name)
                .bind(&e.description)
                .bind(key)
                .bind(Json(&e.parameters))
                .bind(e.format.as_str())
                .bind(e.schedule.as_ref().map(|s| s.cron.clone()))
                .bind(Json(&e.recipients))
                .bind(e.created_by)
                .bind(e.created_at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            ReportEvent::ReportUpdated(e) => {
                let key = e.parameters["report"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                on_aggregate(
                    "UPDATE reports SET report_type = $3, name = $4, description = $5, catalogue_key = $6,
                                        parameters = $7, format = $8, schedule_cron = $9, recipients = $10
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.report_type.as_str())
                .bind(&e.name)
                .bind(&e.description)
                .bind(key)
                .bind(Json(&e.parameters))
                .bind(e.format.as_str())
                .bind(e.schedule.as_ref().map(|s| s.cron.clone()))
                .bind(Json(&e.recipients))
                .execute(&mut *conn)
                .await?;
            }
            ReportEvent::ReportDeleted(e) => {
                on_aggregate(
                    "UPDATE reports SET deleted_at = $3 WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.deleted_at)
                .execute(&mut *conn)
                .await?;
            }
            ReportEvent::ReportRunRequested(e) => {
                sqlx::query(
                    "INSERT INTO report_runs (tenant_id, report_id, run_id, trigger, due_at, status,
                                              requested_by, requested_at, sequence)
                     VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8)
                     ON CONFLICT DO NOTHING",
                )
                .bind(&tenant)
                .bind(report)
                .bind(e.run_id)
                .bind(e.trigger.as_str())
                .bind(e.due_at)
                .bind(e.requested_by)
                .bind(e.requested_at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
                on_aggregate(
                    "UPDATE reports SET status = 'PENDING', latest_run_id = $3, last_error = NULL,
                            last_due_at = greatest(last_due_at, $4)
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.run_id)
                .bind(e.due_at)
                .execute(&mut *conn)
                .await?;
            }
            ReportEvent::ReportRunStarted(e) => {
                run_update(
                    conn,
                    &tenant,
                    e.run_id,
                    seq,
                    "UPDATE report_runs SET status = 'GENERATING', attempts = $4, started_at = $5, sequence = $3 WHERE tenant_id = $1 AND run_id = $2 AND sequence < $3",
                    |q| q.bind(e.attempt as i32).bind(e.started_at),
                )
                .await?;
                latest_status(conn, ev, e.run_id, "GENERATING", None).await?;
            }
            ReportEvent::ReportRunCompleted(e) => {
                run_update(
                    conn,
                    &tenant,
                    e.run_id,
                    seq,
                    "UPDATE report_runs SET status = 'COMPLETED', file = $4, period = $5, completed_at = $6, error = NULL, sequence = $3 WHERE tenant_id = $1 AND run_id = $2 AND sequence < $3",
                    |q| q.bind(Json(&e.file)).bind(&e.period).bind(e.completed_at),
                )
                .await?;
                latest_status(conn, ev, e.run_id, "COMPLETED", None).await?;
                on_aggregate(
                    "UPDATE reports SET last_generated_at = $3, last_file = $4 || jsonb_build_object('run_id', $5::uuid)
                      WHERE tenant_id = $1 AND id = $2",
                    ev,
                )?
                .bind(e.completed_at)
                .bind(Json(&e.file))
                .bind(e.run_id)
                .execute(&mut *conn)
                .await?;
            }
            ReportEvent::ReportRunFailed(e) => {
                run_update(
                    conn,
                    &tenant,
                    e.run_id,
                    seq,
                    "UPDATE report_runs SET status = 'FAILED', error = $4, completed_at = $5, sequence = $3 WHERE tenant_id = $1 AND run_id = $2 AND sequence < $3",
                    |q| q.bind(&e.error).bind(e.failed_at),
                )
                .await?;
                latest_status(conn, ev, e.run_id, "FAILED", Some(&e.error)).await?;
            }
            ReportEvent::ReportRunSent(e) => {
                run_update(
                    conn,
                    &tenant,
                    e.run_id,
                    seq,
                    "UPDATE report_runs SET sent_at = $4, communication_ids = $5, sequence = $3 WHERE tenant_id = $1 AND run_id = $2 AND sequence < $3",
                    |q| q.bind(e.sent_at).bind(Json(&e.communication_ids)),
                )
                .await?;
            }
            ReportEvent::ReportRunFileExpired(e) => {
                run_update(
                    conn,
                    &tenant,
                    e.run_id,
                    seq,
                    "UPDATE report_runs SET expired_at = $4, sequence = $3 WHERE tenant_id = $1 AND run_id = $2 AND sequence < $3",
                    |q| q.bind(e.expired_at),
                )
                .await?;
                on_aggregate(
                    "UPDATE reports SET last_file = NULL
                      WHERE tenant_id = $1 AND id = $2 AND last_file->>'run_id' = $3",
                    ev,
                )?
                .bind(e.run_id.to_string())
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}

type Statement<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Runs `sql` (an UPDATE of one run: `$1` tenant, `$2` run, `$3` the
/// event's sequence, `$4`... bound by `bind`), once per event.
async fn run_update<'q>(
    conn: &mut PgConnection,
    tenant: &'q str,
    run_id: uuid::Uuid,
    seq: i64,
    sql: &'static str,
    bind: impl FnOnce(Statement<'q>) -> Statement<'q>,
) -> Result<(), ProjectionError> {
    bind(sqlx::query(sql).bind(tenant).bind(run_id).bind(seq))
        .execute(conn)
        .await?;
    Ok(())
}

/// The report's status follows its latest run.
async fn latest_status(
    conn: &mut PgConnection,
    ev: &ProjectedEvent,
    run_id: uuid::Uuid,
    status: &str,
    error: Option<&str>,
) -> Result<(), ProjectionError> {
    on_aggregate(
        "UPDATE reports SET status = $4, last_error = $5
          WHERE tenant_id = $1 AND id = $2 AND latest_run_id = $3",
        ev,
    )?
    .bind(run_id)
    .bind(status)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}
