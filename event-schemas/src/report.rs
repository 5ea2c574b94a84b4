//! Events of reports (the seed's Report).
//!
//! A `Report` is a saved request for one report of the catalogue: which
//! report and its parameters (period, filters), the file format, and
//! optionally a cron schedule (in the tenant's time zone) with recipients.
//! Each generation is a run, kept with its file until the tenant's
//! retention:
//!
//! ```text
//! RunRequested (PENDING) ─▶ RunStarted (GENERATING) ─▶ RunCompleted (COMPLETED) ─▶ RunSent
//!                               │  ╰─▶ RunStarted again (after a crash)
//!                               ╰───▶ RunFailed (FAILED)
//! RunCompleted ─ … retention … ─▶ RunFileExpired
//! ```
//!
//! A scheduled run's id is derived from the report and its due instant,
//! so every process that sees the same due time asks for the same run,
//! and the aggregate keeps only the first.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name of a report's events.
pub const AGGREGATE_TYPE: &str = "Report";

crate::common::wire_enum! {
    /// What a report is about (the seed's ReportType).
    ReportType {
        Financial => "FINANCIAL",
        Operational => "OPERATIONAL",
        Customer => "CUSTOMER",
        Sales => "SALES",
        Inventory => "INVENTORY",
        Equipment => "EQUIPMENT",
        Custom => "CUSTOM",
    }
}

crate::common::wire_enum! {
    /// The file a report is written as (the seed's ReportFormat).
    ReportFormat {
        /// A paged table; capped at 10,000 rows.
        Pdf => "PDF",
        /// An `.xlsx` workbook: real numbers, dates and currency formats.
        Excel => "EXCEL",
        /// RFC 4180, with a formula guard.
        Csv => "CSV",
        Json => "JSON",
    }
}

crate::common::wire_enum! {
    /// Where a report's latest run is (the seed's ReportStatus).
    ReportStatus {
        /// Asked for; waiting for the worker.
        Pending => "PENDING",
        /// The worker is writing the file.
        Generating => "GENERATING",
        Completed => "COMPLETED",
        Failed => "FAILED",
    }
}

crate::common::wire_enum! {
    /// What asked for a run.
    RunTrigger {
        /// `POST /v1/reports/{id}/generate`.
        Manual => "MANUAL",
        /// The report's cron schedule.
        Schedule => "SCHEDULE",
    }
}

/// When a report runs by itself: a five-field cron expression (minute,
/// hour, day of month, month, day of week) read in the tenant's time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct ReportSchedule {
    /// e.g. `0 8 1 * *`: 08:00 on the first of every month.
    pub cron: String,
}

/// Who receives a scheduled report's file by email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Recipient {
    /// A staff member (the staff directory's email at sending time).
    Staff { staff_id: Uuid },
    /// An address.
    Email { email: String },
}

/// A report was saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportCreated {
    pub tenant_id: TenantId,
    pub report_id: Uuid,
    pub report_type: ReportType,
    pub name: String,
    pub description: Option<String>,
    /// `report` (the catalogue key) and that report's parameters, as
    /// validated.
    pub parameters: serde_json::Value,
    pub format: ReportFormat,
    pub schedule: Option<ReportSchedule>,
    pub recipients: Vec<Recipient>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A report's settings were edited: all of them as they now stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportUpdated {
    pub report_type: ReportType,
    pub name: String,
    pub description: Option<String>,
    pub parameters: serde_json::Value,
    pub format: ReportFormat,
    pub schedule: Option<ReportSchedule>,
    pub recipients: Vec<Recipient>,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

/// The report was deleted: no more runs; its files go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportDeleted {
    pub deleted_by: Uuid,
    pub deleted_at: DateTime<Utc>,
}

/// A run was asked for (PENDING).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportRunRequested {
    pub run_id: Uuid,
    pub trigger: RunTrigger,
    /// A scheduled run's due instant.
    pub due_at: Option<DateTime<Utc>>,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
}

/// The worker started writing the run's file (GENERATING). A run started
/// again (attempt 2, …) was cut off by a stopped worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportRunStarted {
    pub run_id: Uuid,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
}

/// A run's file, stored in PostgreSQL (`GET /v1/reports/{id}/runs/{run_id}/file`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct ReportFile {
    pub file_id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub rows: u64,
}

/// The run's file was written (COMPLETED).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportRunCompleted {
    pub run_id: Uuid,
    pub file: ReportFile,
    /// The period the data covers, as the file's heading shows it.
    pub period: String,
    pub completed_at: DateTime<Utc>,
}

/// The run failed (FAILED): why, in words for the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportRunFailed {
    pub run_id: Uuid,
    pub error: String,
    pub failed_at: DateTime<Utc>,
}

/// The run's file was emailed to the report's recipients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportRunSent {
    pub run_id: Uuid,
    /// One message per recipient.
    pub communication_ids: Vec<Uuid>,
    pub sent_at: DateTime<Utc>,
}

/// The run's file was deleted: older than the tenant's retention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportRunFileExpired {
    pub run_id: Uuid,
    pub expired_at: DateTime<Utc>,
}

crate::event_enum! {
    ReportEvent for AGGREGATE_TYPE {
        ReportCreated("1.0", "A report was saved: type, name, the catalogue report and its parameters, format, an optional cron schedule (tenant time zone) and recipients."),
        ReportUpdated("1.0", "A report's settings were edited, all of them as they now stand."),
        ReportDeleted("1.0", "A report was deleted: no more runs, its files go."),
        ReportRunRequested("1.0", "A run was asked for (PENDING), by hand or by the schedule (with its due instant)."),
        ReportRunStarted("1.0", "The worker started writing a run's file (GENERATING); attempt 2+ follows a stopped worker."),
        ReportRunCompleted("1.0", "A run's file was written and stored (COMPLETED): name, type, size, SHA-256, rows."),
        ReportRunFailed("1.0", "A run failed (FAILED), with the reason."),
        ReportRunSent("1.0", "A run's file was emailed to the report's recipients, one message each."),
        ReportRunFileExpired("1.0", "A run's file was deleted under the tenant's retention."),
    }
}
