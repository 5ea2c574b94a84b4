//! The files of report runs: the `report_files` table (a migration's),
//! one row per file, its bytes in a PostgreSQL large object. [`store`]
//! copies a finished file from disk a chunk at a time inside one
//! transaction (a crash leaves neither the row nor the object); [`chunks`]
//! reads one back a chunk at a time, so any process serves a file of any
//! size in constant memory; [`delete`] removes the row and its object.

use std::path::Path;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use sqlx::postgres::types::Oid;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

/// Bytes per statement when writing or reading a file.
pub const CHUNK: usize = 1024 * 1024;

/// What is known of a stored file.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct FileInfo {
    pub file_id: Uuid,
    pub report_id: Uuid,
    pub run_id: Uuid,
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
    pub file_name: String,
    pub created_at: DateTime<Utc>,
}

/// A file to store.
#[derive(Clone, Debug)]
pub struct NewFile<'a> {
    pub tenant: &'a str,
    pub file_id: Uuid,
    pub report_id: Uuid,
    pub run_id: Uuid,
    pub content_type: &'a str,
    pub file_name: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
    /// Larger than the deployment allows.
    #[error("the file is {size} bytes; report files are at most {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
}

/// Copies the file at `path` into a new large object and records it (at
/// most `limit` bytes); the stored info, with the bytes' SHA-256. A run
/// stored before (a worker that stopped after storing, before its event)
/// keeps its first file.
pub async fn store(
    pool: &PgPool,
    new: NewFile<'_>,
    path: &Path,
    limit: u64,
) -> Result<FileInfo, FileError> {
    let mut file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    if size > limit {
        return Err(FileError::TooLarge { size, limit });
    }
    let mut tx = pool.begin().await?;
    let oid: Oid = sqlx::query_scalar("SELECT lo_create(0)")
        .fetch_one(&mut *tx)
        .await?;
    let mut hash = Sha256::new();
    let mut offset: i64 = 0;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut filled = 0;
        while filled < CHUNK {
            let n = file.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        hash.update(&buf[..filled]);
        sqlx::query("SELECT lo_put($1, $2, $3)")
            .bind(oid)
            .bind(offset)
            .bind(&buf[..filled])
            .execute(&mut *tx)
            .await?;
        offset += filled as i64;
        if filled < CHUNK {
            break;
        }
    }
    let info = FileInfo {
        file_id: new.file_id,
        report_id: new.report_id,
        run_id: new.run_id,
        size: offset,
        sha256: hex::encode(hash.finalize()),
        content_type: new.content_type.to_owned(),
        file_name: new.file_name.to_owned(),
        created_at: Utc::now(),
    };
    let inserted = sqlx::query(
        "INSERT INTO report_files (tenant_id, file_id, report_id, run_id, object_id, size, sha256,
                                   content_type, file_name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (tenant_id, run_id) DO NOTHING",
    )
    .bind(new.tenant)
    .bind(info.file_id)
    .bind(info.report_id)
    .bind(info.run_id)
    .bind(oid)
    .bind(info.size)
    .bind(&info.sha256)
    .bind(&info.content_type)
    .bind(&info.file_name)
    .bind(info.created_at)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        tx.rollback().await?;
        return of_run(pool, new.tenant, new.run_id)
            .await?
            .ok_or(FileError::Db(sqlx::Error::RowNotFound));
    }
    tx.commit().await?;
    Ok(info)
}

const INFO_COLUMNS: &str =
    "file_id, report_id, run_id, size, sha256, content_type, file_name, created_at";

/// The tenant's file `file_id` (another tenant's: `None`).
pub async fn get(
    pool: &PgPool,
    tenant: &str,
    file_id: Uuid,
) -> Result<Option<FileInfo>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INFO_COLUMNS} FROM report_files WHERE tenant_id = $1 AND file_id = $2"
    ))
    .bind(tenant)
    .bind(file_id)
    .fetch_optional(pool)
    .await
}

/// The file of run `run_id`, if stored.
pub async fn of_run(
    pool: &PgPool,
    tenant: &str,
    run_id: Uuid,
) -> Result<Option<FileInfo>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INFO_COLUMNS} FROM report_files WHERE tenant_id = $1 AND run_id = $2"
    ))
    .bind(tenant)
    .bind(run_id)
    .fetch_optional(pool)
    .await
}

/// The bytes of the tenant's file `file_id`, a chunk at a time (one
/// statement per chunk; a stored file never changes).
pub fn chunks(
    pool: PgPool,
    tenant: String,
    file_id: Uuid,
) -> impl Stream<Item = Result<Bytes, sqlx::Error>> + Send + 'static {
    futures::stream::try_unfold(0i64, move |offset| {
        let (pool, tenant) = (pool.clone(), tenant.clone());
        async move {
            let chunk: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT lo_get(object_id, $3, $4) FROM report_files
                  WHERE tenant_id = $1 AND file_id = $2",
            )
            .bind(&tenant)
            .bind(file_id)
            .bind(offset)
            .bind(CHUNK as i32)
            .fetch_optional(&pool)
            .await?;
            Ok(match chunk {
                Some(bytes) if !bytes.is_empty() => {
                    let next = offset + bytes.len() as i64;
                    Some((Bytes::from(bytes), next))
                }
                _ => None,
            })
        }
    })
}

/// The whole file in memory (an email attachment, which is bounded).
pub async fn read_all(
    pool: &PgPool,
    tenant: &str,
    file_id: Uuid,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT lo_get(object_id) FROM report_files WHERE tenant_id = $1 AND file_id = $2",
    )
    .bind(tenant)
    .bind(file_id)
    .fetch_optional(pool)
    .await
}

/// Deletes the file of run `run_id` and its large object; whether there
/// was one.
pub async fn delete(pool: &PgPool, tenant: &str, run_id: Uuid) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let oid: Option<Oid> = sqlx::query_scalar(
        "DELETE FROM report_files WHERE tenant_id = $1 AND run_id = $2 RETURNING object_id",
    )
    .bind(tenant)
    .bind(run_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(oid) = oid {
        sqlx::query("SELECT lo_unlink($1)")
            .bind(oid)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(oid.is_some())
}
