//! CSV imports of customers and leads (issue 13).
//!
//! [`stage`] streams a CSV (UTF-8, a header row) into `import_rows` a batch
//! at a time: memory holds one batch of rows, never the file. The import is
//! then queued in the sync log (`IntegrationSyncQueued`, PENDING) and the
//! [`ImportRunner`] works through its rows in order: each row registers a
//! customer, or updates the one with the same email, and opens a lead when
//! it names a `source`; a row that can't be taken is a failure with its row
//! number, field and reason. Each batch's counts are one
//! `IntegrationSyncRecordsProcessed`; the sync's processed count says where
//! to resume after a crash.

use std::sync::Arc;
use std::time::Duration;

use aggregates::customer::{
    Customer, CustomerCommand, CustomerError, RegisterCustomer, UpdateCustomer,
};
use aggregates::integration::{IntegrationSync, SyncAction, SyncCommand, SyncError};
use aggregates::lead::{CreateLead, CustomerFacts, Lead, LeadAction, LeadCommand, LeadError};
use aggregates::patch::Patch;
use aggregates::{DomainError, ErrorKind};
use chrono::{NaiveDate, Utc};
use event_schemas::integration::{RecordFailure, SyncSource, SyncStatus, SyncType};
use event_schemas::{EventMetadata, Role, TenantId};
use event_store::{CommandError, Run, Store, Target};
use futures::StreamExt;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

/// The columns an import knows (in any order, any case).
pub const COLUMNS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "notes",
    "source",
    "estimated_move_date",
];
/// The columns every import has.
pub const REQUIRED: &[&str] = &["first_name", "last_name", "email"];
/// Rows staged per statement, and processed per batch.
pub const BATCH: usize = 500;

/// The sync log entry of import `import_id` of `integration`.
pub fn sync_id(integration: Uuid, import_id: &str) -> Uuid {
    Uuid::new_v5(&integration, format!("import:{import_id}").as_bytes())
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The header row is missing a required column or names an unknown one.
    #[error("{0}")]
    Header(String),
    #[error("the CSV could not be read: {0}")]
    Csv(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Streams the CSV from `reader` into `import_rows` for `sync`; returns
/// the number of rows (after the header). Nothing is kept when it fails.
pub async fn stage<R>(
    pool: &PgPool,
    tenant: &TenantId,
    integration: Uuid,
    sync: Uuid,
    reader: R,
) -> Result<u64, StageError>
where
    R: tokio::io::AsyncRead + Unpin + Send,
{
    let mut csv = csv_async::AsyncReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .create_reader(reader);
    let header: Vec<String> = csv
        .headers()
        .await
        .map_err(|e| StageError::Csv(e.to_string()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    check_header(&header)?;
    let clear = |pool: PgPool| async move {
        let _ = sqlx::query("DELETE FROM import_rows WHERE tenant_id = $1 AND sync_id = $2")
            .bind(tenant.as_str())
            .bind(sync)
            .execute(&pool)
            .await;
    };
    let mut records = csv.into_byte_records();
    let mut batch_nos: Vec<i32> = Vec::with_capacity(BATCH);
    let mut batch_fields: Vec<Option<Json<Vec<String>>>> = Vec::with_capacity(BATCH);
    let mut total: u64 = 0;
    loop {
        let next = records.next().await;
        if let Some(record) = &next {
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    clear(pool.clone()).await;
                    return Err(StageError::Csv(e.to_string()));
                }
            };
            total += 1;
            let fields: Option<Vec<String>> = record
                .iter()
                .map(|f| std::str::from_utf8(f).ok().map(str::to_owned))
                .collect();
            batch_nos.push(total as i32);
            batch_fields.push(fields.map(Json));
        }
        if batch_nos.len() >= BATCH || (next.is_none() && !batch_nos.is_empty()) {
            if let Err(e) = sqlx::query(
                "INSERT INTO import_rows (tenant_id, sync_id, row_no, fields)
                 SELECT $1, $2, n, f FROM unnest($3::int[], $4::jsonb[]) AS r(n, f)
                 ON CONFLICT DO NOTHING",
            )
            .bind(tenant.as_str())
            .bind(sync)
            .bind(&batch_nos)
            .bind(&batch_fields)
            .execute(pool)
            .await
            {
                clear(pool.clone()).await;
                return Err(e.into());
            }
            batch_nos.clear();
            batch_fields.clear();
        }
        if next.is_none() {
            break;
        }
    }
    sqlx::query(
        "INSERT INTO imports (tenant_id, sync_id, integration_id, header, total, created_at)
         VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(sync)
    .bind(integration)
    .bind(&header)
    .bind(total as i32)
    .execute(pool)
    .await?;
    Ok(total)
}

fn check_header(header: &[String]) -> Result<(), StageError> {
    let missing: Vec<&str> = REQUIRED
        .iter()
        .filter(|c| !header.iter().any(|h| h == *c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(StageError::Header(format!(
            "the header row lacks {}; the columns are {}",
            missing.join(", "),
            COLUMNS.join(", ")
        )));
    }
    if let Some(unknown) = header.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return Err(StageError::Header(format!(
            "unknown column `{unknown}`; the columns are {}",
            COLUMNS.join(", ")
        )));
    }
    Ok(())
}

/// Works through staged imports.
pub struct ImportRunner {
    pub pool: PgPool,
    pub syncs: Arc<Store<IntegrationSync>>,
    pub customers: Arc<Store<Customer>>,
    pub leads: Arc<Store<Lead>>,
    pub keys: Arc<keystore::KeyStore>,
}

/// A row's outcome.
enum Taken {
    Created,
    Updated,
}

fn metadata(tenant: &TenantId, integration: Uuid, sync: Uuid) -> EventMetadata {
    let command_id = Uuid::now_v7();
    EventMetadata {
        tenant_id: tenant.clone(),
        user_id: integration,
        role: Role::Integration,
        correlation_id: format!("import:{sync}"),
        causation_id: command_id.to_string(),
        command_id,
        recorded_at: Utc::now(),
        policy_version: None,
        policy_valid_until: None,
    }
}

fn failure(row: i64, field: Option<&str>, reason: impl Into<String>) -> RecordFailure {
    RecordFailure {
        record: row.to_string(),
        field: field.map(str::to_owned),
        reason: reason.into(),
    }
}

/// A domain refusal as the row's failures (each invalid field named).
fn refusals<E: DomainError>(row: i64, error: &CommandError<E>) -> Vec<RecordFailure> {
    if let CommandError::Domain(e) = error
        && let ErrorKind::Invalid(errors) = e.kind()
    {
        return errors
            .0
            .iter()
            .map(|e| failure(row, Some(&e.field), e.message.clone()))
            .collect();
    }
    if let CommandError::Taken { field, .. } = error {
        return vec![failure(row, Some(field), "another customer has it")];
    }
    vec![failure(row, None, error.to_string())]
}

impl ImportRunner {
    async fn sync_command(
        &self,
        tenant: &TenantId,
        integration: Uuid,
        sync: Uuid,
        action: SyncAction,
    ) -> Result<(), CommandError<SyncError>> {
        self.syncs
            .run(
                Run::new(tenant, Target::Existing(sync)),
                || metadata(tenant, integration, sync),
                |_| {
                    Ok::<_, CommandError<SyncError>>(SyncCommand {
                        at: Utc::now(),
                        action: action.clone(),
                    })
                },
            )
            .await
            .map(drop)
    }

    /// Queues an import staged by [`stage`] (PENDING).
    pub async fn queue(
        &self,
        tenant: &TenantId,
        integration: Uuid,
        sync: Uuid,
        import_id: &str,
    ) -> Result<(), CommandError<SyncError>> {
        let action = SyncAction::Queue {
            tenant_id: tenant.clone(),
            sync_id: sync,
            integration_id: integration,
            sync_type: SyncType::Manual,
            source: SyncSource::CsvImport,
            reference: Some(import_id.to_owned()),
        };
        self.syncs
            .run(
                Run::new(tenant, Target::New(sync)),
                || metadata(tenant, integration, sync),
                |_| {
                    Ok::<_, CommandError<SyncError>>(SyncCommand {
                        at: Utc::now(),
                        action: action.clone(),
                    })
                },
            )
            .await
            .map(drop)
    }

    /// One row: the customer registered or updated (matched by email), and a
    /// lead when the row names a source.
    async fn take(
        &self,
        tenant: &TenantId,
        integration: Uuid,
        sync: Uuid,
        row: i64,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Taken, Vec<RecordFailure>> {
        let email = get("email").ok_or_else(|| {
            vec![failure(
                row,
                Some("email"),
                "required: rows are matched by email",
            )]
        })?;
        let move_date = match get("estimated_move_date") {
            Some(text) => Some(NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
                vec![failure(
                    row,
                    Some("estimated_move_date"),
                    "must be a date like 2027-06-30",
                )]
            })?),
            None => None,
        };
        let id = Uuid::now_v7();
        let register = CustomerCommand::Register(RegisterCustomer {
            customer_id: id,
            tenant_id: tenant.clone(),
            first_name: get("first_name").unwrap_or_default(),
            last_name: get("last_name").unwrap_or_default(),
            email: Some(email),
            phone: get("phone"),
            address: None,
            lead_source: get("source"),
            tags: Vec::new(),
            preferences: serde_json::Map::new(),
            notes: get("notes"),
        });
        let meta = || metadata(tenant, integration, sync);
        let (customer, taken) = match self
            .customers
            .run(Run::new(tenant, Target::New(id)), meta, |_| {
                Ok::<_, CommandError<CustomerError>>(register.clone())
            })
            .await
        {
            Ok(_) => (id, Taken::Created),
            Err(CommandError::Taken { field, holder }) if field == "email" => {
                let _ = self
                    .keys
                    .discard_unused_data_key(tenant.as_str(), &id.to_string())
                    .await;
                let holder = Uuid::try_parse(&holder)
                    .map_err(|_| vec![failure(row, None, "the email's holder is unreadable")])?;
                let update = CustomerCommand::Update(UpdateCustomer {
                    first_name: get("first_name"),
                    last_name: get("last_name"),
                    email: Patch::Unchanged,
                    phone: get("phone").map_or(Patch::Unchanged, Patch::Set),
                    address: Patch::Unchanged,
                    lead_source: Patch::Unchanged,
                    preferences: None,
                    notes: get("notes").map_or(Patch::Unchanged, Patch::Set),
                });
                self.customers
                    .run(Run::new(tenant, Target::Existing(holder)), meta, |_| {
                        Ok::<_, CommandError<CustomerError>>(update.clone())
                    })
                    .await
                    .map_err(|e| refusals(row, &e))?;
                (holder, Taken::Updated)
            }
            Err(e) => {
                let _ = self
                    .keys
                    .discard_unused_data_key(tenant.as_str(), &id.to_string())
                    .await;
                return Err(refusals(row, &e));
            }
        };
        if let Some(source) = get("source") {
            let lead = Uuid::now_v7();
            let create = LeadCommand {
                at: Utc::now(),
                actor: integration,
                action: LeadAction::Create(CreateLead {
                    lead_id: lead,
                    tenant_id: tenant.clone(),
                    customer: CustomerFacts {
                        id: customer,
                        active: true,
                    },
                    source,
                    priority: None,
                    estimated_move_date: move_date,
                    estimated_value: None,
                    notes: None,
                    follow_up_date: None,
                    score: None,
                    qualification: Default::default(),
                    assigned_to: None,
                    location_id: None,
                }),
            };
            self.leads
                .run(Run::new(tenant, Target::New(lead)), meta, |_| {
                    Ok::<_, CommandError<LeadError>>(create.clone())
                })
                .await
                .map_err(|e| refusals(row, &e))?;
        }
        Ok(taken)
    }

    /// Works through import `sync` of `tenant` to its end; `progress` hears
    /// (processed, total) after each batch. Returns the rows processed.
    pub async fn run_import(
        &self,
        tenant: &TenantId,
        sync: Uuid,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<u64, String> {
        let Some((integration, header, total)): Option<(Uuid, Vec<String>, i32)> = sqlx::query_as(
            "SELECT integration_id, header, total FROM imports WHERE tenant_id = $1 AND sync_id = $2",
        )
        .bind(tenant.as_str())
        .bind(sync)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| e.to_string())?
        else {
            return Ok(0);
        };
        let total = total.max(0) as u64;
        let state = self
            .syncs
            .load(tenant, sync)
            .await
            .map_err(|e| e.to_string())?
            .state()
            .clone();
        if state.status == Some(SyncStatus::Pending) {
            self.sync_command(tenant, integration, sync, SyncAction::Start)
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut processed = state.processed;
        let column = |name: &str| header.iter().position(|h| h == name);
        let columns: Vec<(&str, Option<usize>)> = COLUMNS.iter().map(|c| (*c, column(c))).collect();
        loop {
            progress(processed, total);
            let rows: Vec<(i32, Option<Json<Vec<String>>>)> = sqlx::query_as(
                "SELECT row_no, fields FROM import_rows
                  WHERE tenant_id = $1 AND sync_id = $2 AND row_no > $3
                  ORDER BY row_no LIMIT $4",
            )
            .bind(tenant.as_str())
            .bind(sync)
            .bind(processed as i64)
            .bind(BATCH as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
            if rows.is_empty() {
                break;
            }
            let (mut created, mut updated) = (0u64, 0u64);
            let mut failures = Vec::new();
            for (row_no, fields) in &rows {
                let row = i64::from(*row_no);
                let Some(Json(fields)) = fields else {
                    failures.push(failure(row, None, "the row is not UTF-8"));
                    continue;
                };
                let get = |name: &str| {
                    columns
                        .iter()
                        .find(|(c, _)| *c == name)
                        .and_then(|(_, i)| *i)
                        .and_then(|i| fields.get(i))
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                };
                match self.take(tenant, integration, sync, row, get).await {
                    Ok(Taken::Created) => created += 1,
                    Ok(Taken::Updated) => updated += 1,
                    Err(mut f) => failures.append(&mut f),
                }
            }
            let batch = rows.len() as u64;
            let last = rows.last().map_or(0, |(n, _)| *n);
            self.sync_command(
                tenant,
                integration,
                sync,
                SyncAction::Process {
                    processed: batch,
                    created,
                    updated,
                    failures,
                    total: Some(total),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            processed = u64::try_from(last).unwrap_or(processed + batch);
            sqlx::query(
                "DELETE FROM import_rows WHERE tenant_id = $1 AND sync_id = $2 AND row_no <= $3",
            )
            .bind(tenant.as_str())
            .bind(sync)
            .bind(last)
            .execute(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        }
        self.sync_command(
            tenant,
            integration,
            sync,
            SyncAction::Complete { result: None },
        )
        .await
        .map_err(|e| e.to_string())?;
        sqlx::query("DELETE FROM imports WHERE tenant_id = $1 AND sync_id = $2")
            .bind(tenant.as_str())
            .bind(sync)
            .execute(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        progress(processed, total);
        Ok(processed)
    }

    /// Runs every staged import to its end.
    pub async fn run_once(&self) -> Result<usize, String> {
        let pending: Vec<(String, Uuid)> =
            sqlx::query_as("SELECT tenant_id, sync_id FROM imports ORDER BY created_at")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| e.to_string())?;
        let count = pending.len();
        for (tenant, sync) in pending {
            let Ok(tenant) = TenantId::parse(&tenant) else {
                continue;
            };
            self.run_import(&tenant, sync, &|_, _| {}).await?;
        }
        Ok(count)
    }
}

/// Runs the staged imports every `poll` until `shutdown`, one process at a
/// time.
pub async fn run(
    runner: Arc<ImportRunner>,
    poll: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    const LOCK: i64 = 0x696d_706f_7274; // "import"
    crate::every_locked(&runner.pool, LOCK, poll, &shutdown, || async {
        if let Err(e) = runner.run_once().await {
            tracing::warn!(error = %e, "an import round failed");
        }
    })
    .await;
}
