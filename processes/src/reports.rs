//! The report worker (issue 14): scheduled reports asked for when due,
//! runs generated into files, files emailed and, past the tenant's
//! retention, deleted.
//!
//! One process at a time works (a transaction-level advisory lock per
//! round, like the other workers), so a round that finds a run GENERATING
//! knows the worker that started it stopped: it starts it again (attempt
//! 2, …; the aggregate fails it after [`aggregates::report::MAX_ATTEMPTS`]).
//!
//! * **Schedules**: each scheduled report's cron expression is read in the
//!   tenant's time zone; the latest due time not yet asked for is asked
//!   for under an id derived from the report and the due instant, so a due
//!   time is one run however many rounds or processes see it.
//! * **Generation**: the rows come from the read models a batch at a time
//!   down a bounded channel into the file writer (`report_formats`) on a
//!   blocking thread, the file is written to a temporary directory, then
//!   copied into PostgreSQL (`report_files`, a large object) a chunk at a
//!   time: memory holds a batch of rows and a chunk, never the file.
//! * **Email**: a scheduled run's file goes to each recipient (a staff
//!   member's address or an address) as a message of the communications
//!   system, the file attached (a link instead when it is over the
//!   attachment limit).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aggregates::communication::{
    Attachment, Communication, CommunicationAction, CommunicationCommand, CommunicationError,
    DraftInput,
};
use aggregates::report::{
    CronSchedule, Report, ReportAction, ReportCommand, ReportError, scheduled_run_id,
};
use aggregates::staff::StaffMember;
use aggregates::tenant_profile::TenantProfile;
use chrono::{DateTime, Utc};
use event_schemas::communication::{CommunicationLinks, CommunicationType};
use event_schemas::report::{Recipient, ReportFile, ReportFormat, ReportStatus, RunTrigger};
use event_schemas::template::MessagePurpose;
use event_schemas::{EventMetadata, SYSTEM_USER, TenantId};
use event_store::{CommandError, Run, Stores, Target};
use outbound::Clock;
use projections::queries::report_sources::Source;
use projections::queries::saved_reports::{self, RunToDo};
use projections::report_files::{self, NewFile};
use report_formats::{Format, ReportMeta, ReportWriter};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

/// How the worker is set up.
#[derive(Clone, Debug)]
pub struct ReportConfig {
    /// A file larger than this fails its run.
    pub max_file_bytes: u64,
    /// A file larger than this is emailed as a link, not attached.
    pub max_email_bytes: u64,
    /// Where files are written before they are stored (a temporary
    /// directory per run inside it).
    pub work_dir: PathBuf,
    /// Runs generated per round.
    pub runs_per_round: i64,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 512 * 1024 * 1024,
            max_email_bytes: 10 * 1024 * 1024,
            work_dir: std::env::temp_dir(),
            runs_per_round: 20,
        }
    }
}

/// What a round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Scheduled runs asked for.
    pub requested: usize,
    /// Runs generated (completed or failed).
    pub generated: usize,
    /// Files deleted under the retention.
    pub expired: usize,
}

impl Round {
    pub fn is_empty(&self) -> bool {
        *self == Round::default()
    }
}

pub struct ReportWorker {
    pub pool: PgPool,
    pub stores: Stores,
    pub clock: Arc<dyn Clock>,
    pub config: ReportConfig,
}

type Failure = String;

fn metadata(tenant: &TenantId, report: Uuid) -> EventMetadata {
    EventMetadata::system(tenant, format!("report:{report}"))
}

impl ReportWorker {
    /// One round: schedules, then runs to do, then expired files.
    pub async fn run_once(&self) -> Result<Round, sqlx::Error> {
        let requested = self.ask_for_due_runs().await?;
        let mut generated = 0;
        for todo in saved_reports::runs_to_do(&self.pool, self.config.runs_per_round).await? {
            if self.generate(&todo).await {
                generated += 1;
            }
        }
        let expired = self.expire_files().await?;
        Ok(Round {
            requested,
            generated,
            expired,
        })
    }

    async fn command(
        &self,
        tenant: &TenantId,
        report: Uuid,
        action: ReportAction,
    ) -> Result<(), CommandError<ReportError>> {
        let at = self.clock.now();
        self.stores
            .get::<Report>()
            .run(
                Run::new(tenant, Target::Existing(report)),
                || metadata(tenant, report),
                |_| {
                    Ok::<_, CommandError<ReportError>>(ReportCommand {
                        at,
                        actor: SYSTEM_USER,
                        action: action.clone(),
                    })
                },
            )
            .await
            .map(drop)
    }

    async fn profile(&self, tenant: &TenantId) -> Result<TenantProfile, Failure> {
        self.stores
            .get::<TenantProfile>()
            .load_or_new(tenant, event_schemas::tenant::profile_id(tenant))
            .await
            .map(|loaded| loaded.state().clone())
            .map_err(|e| e.to_string())
    }

    /// Asks for the latest due time of each scheduled report not yet
    /// asked for; how many were asked for.
    async fn ask_for_due_runs(&self) -> Result<usize, sqlx::Error> {
        let now = self.clock.now();
        let mut requested = 0;
        for s in saved_reports::scheduled(&self.pool).await? {
            let Ok(tenant) = TenantId::parse(&s.tenant_id) else {
                continue;
            };
            let Ok(cron) = CronSchedule::parse(&s.schedule_cron) else {
                continue;
            };
            let Ok(profile) = self.profile(&tenant).await else {
                continue;
            };
            let Some(due) = latest_due(
                &cron,
                s.last_due_at.unwrap_or(s.created_at),
                now,
                profile.time_zone(),
            ) else {
                continue;
            };
            let action = ReportAction::RequestRun {
                run_id: scheduled_run_id(s.id, due),
                trigger: RunTrigger::Schedule,
                due_at: Some(due),
            };
            match self.command(&tenant, s.id, action).await {
                Ok(()) => requested += 1,
                Err(e) => {
                    tracing::warn!(report = %s.id, error = %e, "a scheduled run could not be asked for")
                }
            }
        }
        Ok(requested)
    }

    /// Generates one run; whether it ended (completed or failed).
    async fn generate(&self, todo: &RunToDo) -> bool {
        let Ok(tenant) = TenantId::parse(&todo.tenant_id) else {
            return false;
        };
        let (report_id, run_id) = (todo.report_id, todo.run_id);
        match self
            .command(&tenant, report_id, ReportAction::StartRun { run_id })
            .await
        {
            Ok(()) => {}
            // Done already (the read model was behind), or the report is gone.
            Err(CommandError::Domain(
                ReportError::RunOver(_) | ReportError::RunNotFound | ReportError::NotFound,
            ))
            | Err(CommandError::NotFound { .. }) => return false,
            Err(e) => {
                tracing::warn!(%report_id, %run_id, error = %e, "a report run could not be started");
                return false;
            }
        }
        let report = match self.stores.get::<Report>().load(&tenant, report_id).await {
            Ok(loaded) => loaded.state().clone(),
            Err(e) => {
                tracing::warn!(%report_id, error = %e, "a report could not be loaded");
                return false;
            }
        };
        let Some(run) = report.run(run_id).cloned() else {
            return false;
        };
        if run.status != ReportStatus::Generating {
            // Failed by the aggregate: started too many times.
            return true;
        }
        let started = std::time::Instant::now();
        let outcome = self.write(&tenant, &report, run_id).await;
        let action = match outcome {
            Ok((file, period)) => {
                tracing::info!(%report_id, %run_id, rows = file.rows, bytes = file.size,
                    ms = started.elapsed().as_millis() as u64, "report generated");
                ReportAction::CompleteRun {
                    run_id,
                    file,
                    period,
                }
            }
            Err(error) => {
                tracing::warn!(%report_id, %run_id, %error, "a report run failed");
                ReportAction::FailRun { run_id, error }
            }
        };
        let completed = matches!(action, ReportAction::CompleteRun { .. });
        if let Err(e) = self.command(&tenant, report_id, action).await {
            tracing::warn!(%report_id, %run_id, error = %e, "a report run's outcome could not be recorded");
            return false;
        }
        if completed && run.trigger == RunTrigger::Schedule && !report.recipients.is_empty() {
            self.email(&tenant, report_id, run_id).await;
        }
        true
    }

    /// Writes the run's file and stores it.
    async fn write(
        &self,
        tenant: &TenantId,
        report: &Report,
        run_id: Uuid,
    ) -> Result<(ReportFile, String), Failure> {
        let report_id = report.id.unwrap_or_default();
        let profile = self.profile(tenant).await?;
        let tz = profile.time_zone();
        let now = self.clock.now();
        let today = now.with_timezone(&tz).date_naive();
        let params = report
            .parameters()
            .ok_or_else(|| "the report's parameters are no longer valid".to_owned())?;
        let source = Source::new(&self.pool, tenant, params, today, tz)
            .await
            .map_err(|e| e.to_string())?;
        let format = match report.format.unwrap_or(ReportFormat::Pdf) {
            ReportFormat::Pdf => Format::Pdf,
            ReportFormat::Excel => Format::Excel,
            ReportFormat::Csv => Format::Csv,
            ReportFormat::Json => Format::Json,
        };
        if format == Format::Pdf {
            let rows = source.count(&self.pool).await.map_err(|e| e.to_string())?;
            if rows > report_formats::PDF_MAX_ROWS {
                return Err(pdf_cap_message(rows));
            }
        }
        let period = source.period_label();
        let file_name = file_name(&report.name, &period, format.extension());
        let dir = tempfile::Builder::new()
            .prefix("crm-report-")
            .tempdir_in(&self.config.work_dir)
            .map_err(|e| format!("no temporary directory: {e}"))?;
        let path = dir.path().join(&file_name);
        let meta = ReportMeta {
            company_name: profile
                .company_name()
                .map_or_else(|| tenant.as_str().to_owned(), str::to_owned),
            title: report.name.clone(),
            period: period.clone(),
            generated_at: now,
            time_zone: tz,
        };
        let columns = source.columns();
        let (tx, mut rx) = mpsc::channel::<Vec<Vec<report_formats::Value>>>(4);
        let writer_path = path.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let mut writer = ReportWriter::create(format, meta, columns, &writer_path)?;
            while let Some(batch) = rx.blocking_recv() {
                for row in &batch {
                    writer.write_row(row)?;
                }
            }
            writer.finish()
        });
        let read = source.rows(&self.pool, &tx).await;
        drop(tx);
        let written = match writer.await {
            Ok(Ok(written)) => written,
            Ok(Err(report_formats::FormatError::TooManyRows { limit })) => {
                return Err(format!(
                    "the report has more than {limit} rows, the most a {} file holds",
                    format_name(format)
                ));
            }
            Ok(Err(e)) => return Err(format!("the file could not be written: {e}")),
            Err(e) => return Err(format!("the file writer stopped: {e}")),
        };
        read.map_err(|e| format!("the report's rows could not be read: {e}"))?;
        let file_id = Uuid::new_v5(&run_id, b"file");
        let info = report_files::store(
            &self.pool,
            NewFile {
                tenant: tenant.as_str(),
                file_id,
                report_id,
                run_id,
                content_type: format.content_type(),
                file_name: &file_name,
            },
            &path,
            self.config.max_file_bytes,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok((
            ReportFile {
                file_id: info.file_id,
                file_name: info.file_name,
                content_type: info.content_type,
                size: info.size.max(0) as u64,
                sha256: info.sha256,
                rows: written.rows,
            },
            period,
        ))
    }

    /// Emails a completed scheduled run's file to the report's recipients.
    async fn email(&self, tenant: &TenantId, report_id: Uuid, run_id: Uuid) {
        let report = match self.stores.get::<Report>().load(tenant, report_id).await {
            Ok(loaded) => loaded.state().clone(),
            Err(_) => return,
        };
        let Some(run) = report.run(run_id) else {
            return;
        };
        let Some(file) = run.file.clone() else {
            return;
        };
        if run.sent {
            return;
        }
        let attachment = if file.size <= self.config.max_email_bytes {
            match self.attach(tenant, &file).await {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::warn!(%report_id, %run_id, error = %e, "a report file could not be attached");
                    None
                }
            }
        } else {
            None
        };
        let mut sent = Vec::new();
        for recipient in &report.recipients {
            let address = match recipient {
                Recipient::Email { email } => Some(email.clone()),
                Recipient::Staff { staff_id } => self.staff_email(tenant, *staff_id).await,
            };
            let Some(address) = address else {
                tracing::warn!(%report_id, ?recipient, "a report recipient has no email address");
                continue;
            };
            let id = Uuid::new_v5(&run_id, address.to_lowercase().as_bytes());
            let content = match &attachment {
                Some(_) => format!(
                    "<p>The report <strong>{}</strong> ({}) is attached: {} rows.</p>",
                    escape(&report.name),
                    escape(
                        run.due_at
                            .map_or(String::new(), |d| d.to_rfc3339())
                            .as_str()
                    ),
                    file.rows
                ),
                None => format!(
                    "<p>The report <strong>{}</strong> is ready ({} rows, {} bytes). Download it at \
                     <code>/v1/reports/{report_id}/runs/{run_id}/file</code>.</p>",
                    escape(&report.name),
                    file.rows,
                    file.size
                ),
            };
            let command = CommunicationCommand {
                at: self.clock.now(),
                actor: SYSTEM_USER,
                consent: None,
                action: CommunicationAction::Draft {
                    tenant_id: tenant.clone(),
                    communication_id: id,
                    input: Box::new(DraftInput {
                        channel: CommunicationType::Email,
                        purpose: MessagePurpose::Transactional,
                        customer_id: None,
                        staff_user_id: None,
                        recipient: address,
                        subject: Some(format!("Report: {}", report.name)),
                        content,
                        template: None,
                        variables: None,
                        attachments: attachment.iter().cloned().collect(),
                        metadata: None,
                        unsubscribe_url: None,
                        tags: vec!["report".to_owned()],
                        links: CommunicationLinks::default(),
                        rule: None,
                    }),
                    send: true,
                },
            };
            let outcome = self
                .stores
                .get::<Communication>()
                .run(
                    Run::new(tenant, Target::New(id)),
                    || metadata(tenant, report_id),
                    |_| Ok::<_, CommandError<CommunicationError>>(command.clone()),
                )
                .await;
            match outcome {
                Ok(_)
                | Err(CommandError::Conflict)
                | Err(CommandError::Domain(CommunicationError::AlreadyExists)) => sent.push(id),
                Err(e) => {
                    tracing::warn!(%report_id, %run_id, error = %e, "a report email could not be queued")
                }
            }
        }
        if let Err(e) = self
            .command(
                tenant,
                report_id,
                ReportAction::MarkSent {
                    run_id,
                    communication_ids: sent,
                },
            )
            .await
        {
            tracing::warn!(%report_id, %run_id, error = %e, "a report's sending could not be recorded");
        }
    }

    async fn attach(&self, tenant: &TenantId, file: &ReportFile) -> Result<Attachment, String> {
        let bytes = report_files::read_all(&self.pool, tenant.as_str(), file.file_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the file is gone".to_owned())?;
        let info = event_store::attachments::put(
            &self.pool,
            self.stores.keys(),
            event_store::attachments::NewAttachment {
                tenant: tenant.as_str(),
                attachment_id: Uuid::new_v5(&file.file_id, b"attachment"),
                customer_id: None,
                file_name: &file.file_name,
                content_type: &file.content_type,
                bytes: &bytes,
                uploaded_by: SYSTEM_USER,
                uploaded_at: self.clock.now(),
            },
        )
        .await;
        let info = match info {
            Ok(info) => info,
            // Attached for an earlier recipient list (a round that stopped).
            Err(event_store::attachments::AttachmentError::Db(e))
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                let id = Uuid::new_v5(&file.file_id, b"attachment");
                event_store::attachments::infos(&self.pool, tenant.as_str(), &[id])
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .next()
                    .ok_or_else(|| "the attachment is gone".to_owned())?
            }
            Err(e) => return Err(e.to_string()),
        };
        Ok(Attachment {
            reference: info.reference(),
            sealed_with: info.sealed_with,
        })
    }

    async fn staff_email(&self, tenant: &TenantId, user: Uuid) -> Option<String> {
        let id = event_schemas::staff::staff_id(tenant, user);
        let loaded = self
            .stores
            .get::<StaffMember>()
            .load(tenant, id)
            .await
            .ok()?;
        loaded.state().details.as_ref()?.email.clone()
    }

    /// Deletes the files past each tenant's retention (and those of deleted
    /// reports); how many.
    async fn expire_files(&self) -> Result<usize, sqlx::Error> {
        let now = self.clock.now();
        let mut expired = 0;
        for tenant_id in saved_reports::tenants_with_files(&self.pool).await? {
            let Ok(tenant) = TenantId::parse(&tenant_id) else {
                continue;
            };
            let Ok(profile) = self.profile(&tenant).await else {
                continue;
            };
            let cutoff = now - chrono::Duration::days(i64::from(profile.report_retention_days()));
            for f in saved_reports::files_to_expire(&self.pool, &tenant_id, cutoff, 200).await? {
                report_files::delete(&self.pool, &tenant_id, f.run_id).await?;
                match self
                    .command(
                        &tenant,
                        f.report_id,
                        ReportAction::ExpireFile { run_id: f.run_id },
                    )
                    .await
                {
                    Ok(()) => expired += 1,
                    Err(e) => {
                        tracing::warn!(run = %f.run_id, error = %e, "a report file's expiry could not be recorded")
                    }
                }
            }
        }
        Ok(expired)
    }
}

/// The latest due instant of `cron` in `tz` after `after` and at or
/// before `now` (several missed while the service was down: the latest
/// only).
pub fn latest_due(
    cron: &CronSchedule,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Option<DateTime<Utc>> {
    let mut due = None;
    let mut from = after;
    for _ in 0..10_000 {
        match cron.next_after(from, tz) {
            Some(next) if next <= now => {
                due = Some(next);
                from = next;
            }
            _ => break,
        }
    }
    due
}

/// Why a PDF was refused.
pub fn pdf_cap_message(rows: u64) -> String {
    format!(
        "a PDF report holds at most {} rows and this one has {rows}: choose EXCEL, CSV or JSON, or a shorter period",
        report_formats::PDF_MAX_ROWS
    )
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Pdf => "PDF",
        Format::Excel => "Excel",
        Format::Csv => "CSV",
        Format::Json => "JSON",
    }
}

/// `monthly-revenue_2026-11-01_2026-11-30.xlsx`: the name's letters and
/// digits, then the period's.
pub fn file_name(name: &str, period: &str, extension: &str) -> String {
    let slug = |text: &str| {
        let mut out = String::new();
        for c in text.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        out.trim_end_matches('-').to_owned()
    };
    let name = slug(name);
    let name = if name.is_empty() {
        "report".to_owned()
    } else {
        name
    };
    let period: String = period
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '-' || *c == ' ')
        .collect::<String>()
        .split_whitespace()
        .filter(|p| *p != "-")
        .collect::<Vec<_>>()
        .join("_");
    if period.is_empty() {
        format!("{name}.{extension}")
    } else {
        format!("{name}_{period}.{extension}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Runs the worker every `poll` until `shutdown`, one process at a time,
/// round after round while there is work.
pub async fn run(
    worker: Arc<ReportWorker>,
    poll: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    const LOCK: i64 = 0x7265_706f_7274; // "report"
    crate::every_locked(&worker.pool, LOCK, poll, &shutdown, || async {
        loop {
            match worker.run_once().await {
                Ok(round) if !round.is_empty() && !shutdown.is_cancelled() => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "a report round failed");
                    break;
                }
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain() {
        assert_eq!(
            file_name("Monthly Revenue!", "2026-11-01 – 2026-11-30", "xlsx"),
            "monthly-revenue_2026-11-01_2026-11-30.xlsx"
        );
        assert_eq!(
            file_name("Été", "As of 2026-12-06", "pdf"),
            "t_2026-12-06.pdf"
        );
        assert_eq!(file_name("***", "", "csv"), "report.csv");
    }

    #[test]
    fn missed_due_times_run_once_at_the_latest() {
        let cron = CronSchedule::parse("0 8 * * *").expect("a valid schedule");
        let tz = chrono_tz::America::Toronto;
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("a valid instant")
                .to_utc()
        };
        // Three days missed: only the third day's 08:00 (13:00 UTC).
        assert_eq!(
            latest_due(
                &cron,
                at("2027-01-01T14:00:00Z"),
                at("2027-01-04T15:00:00Z"),
                tz
            ),
            Some(at("2027-01-04T13:00:00Z"))
        );
        // Not yet due.
        assert_eq!(
            latest_due(
                &cron,
                at("2027-01-04T13:00:00Z"),
                at("2027-01-04T15:00:00Z"),
                tz
            ),
            None
        );
    }
}
