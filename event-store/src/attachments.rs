//! Files sent with messages, stored apart from the events: the
//! `attachments` table, one row per upload, never changed. A message's
//! `CommunicationDrafted` refers to a file by id and SHA-256
//! ([`event_schemas::communication::AttachmentRef`]); the bytes and the file
//! name are sealed with the data key of the customer the file was uploaded
//! for (so forgetting the customer erases it), else with the file's own key.

use chrono::{DateTime, Utc};
use keystore::{KeyError, KeyStore, crypto};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// What is known of a stored file without opening it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AttachmentInfo {
    pub attachment_id: Uuid,
    /// Whose data key seals it: the customer's id, or `attachment_id`.
    pub sealed_with: Uuid,
    pub customer_id: Option<Uuid>,
    /// SHA-256 of the plain bytes, hex.
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    pub uploaded_by: Uuid,
    pub uploaded_at: DateTime<Utc>,
}

impl AttachmentInfo {
    /// The reference a message records.
    pub fn reference(&self) -> event_schemas::communication::AttachmentRef {
        event_schemas::communication::AttachmentRef {
            attachment_id: self.attachment_id,
            sha256: self.sha256.clone(),
            content_type: self.content_type.clone(),
            size: self.size.max(0) as u64,
        }
    }
}

/// A file to store.
#[derive(Clone, Debug)]
pub struct NewAttachment<'a> {
    pub tenant: &'a str,
    pub attachment_id: Uuid,
    /// The customer it is for (sealed with their key); `None`: its own key.
    pub customer_id: Option<Uuid>,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
    pub uploaded_by: Uuid,
    pub uploaded_at: DateTime<Utc>,
}

/// A file opened.
#[derive(Clone, Debug)]
pub struct OpenedAttachment {
    pub info: AttachmentInfo,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The key that sealed it was destroyed (the customer was forgotten).
    #[error("the attachment was erased")]
    Erased,
    /// The stored bytes do not open, or are not the bytes whose hash was
    /// recorded.
    #[error("attachment {0} is damaged: {1}")]
    Damaged(Uuid, &'static str),
}

fn aad(tenant: &str, id: Uuid, field: &str) -> Vec<u8> {
    format!("attachment/{tenant}/{id}/{field}").into_bytes()
}

fn seal(key: &keystore::Key, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let (mut sealed, ciphertext) = crypto::seal(key, aad, plain);
    sealed.extend(ciphertext);
    sealed
}

fn open(key: &keystore::Key, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < crypto::NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(crypto::NONCE_LEN);
    crypto::open(key, aad, nonce, ciphertext).ok()
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Seals and stores a file; its info as stored. A customer whose key was
/// destroyed (forgotten) is [`AttachmentError::Erased`].
pub async fn put(
    pool: &PgPool,
    keys: &KeyStore,
    new: NewAttachment<'_>,
) -> Result<AttachmentInfo, AttachmentError> {
    let subject = new.customer_id.unwrap_or(new.attachment_id);
    let key = match keys.data_key(new.tenant, &subject.to_string()).await {
        Ok(key) => key,
        Err(KeyError::Destroyed(_)) => return Err(AttachmentError::Erased),
        Err(e) => return Err(e.into()),
    };
    let id = new.attachment_id;
    let file_name = seal(
        &key,
        &aad(new.tenant, id, "file_name"),
        new.file_name.as_bytes(),
    );
    let content = seal(&key, &aad(new.tenant, id, "content"), new.bytes);
    let info = AttachmentInfo {
        attachment_id: id,
        sealed_with: subject,
        customer_id: new.customer_id,
        sha256: sha256_hex(new.bytes),
        size: new.bytes.len() as i64,
        content_type: new.content_type.to_owned(),
        uploaded_by: new.uploaded_by,
        uploaded_at: new.uploaded_at,
    };
    sqlx::query(
        "INSERT INTO attachments (tenant_id, attachment_id, sealed_with, customer_id, sha256, size,
                                  content_type, file_name, content, uploaded_by, uploaded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(new.tenant)
    .bind(id)
    .bind(info.sealed_with)
    .bind(info.customer_id)
    .bind(&info.sha256)
    .bind(info.size)
    .bind(&info.content_type)
    .bind(file_name)
    .bind(content)
    .bind(info.uploaded_by)
    .bind(info.uploaded_at)
    .execute(pool)
    .await?;
    Ok(info)
}

const INFO_COLUMNS: &str =
    "attachment_id, sealed_with, customer_id, sha256, size, content_type, uploaded_by, uploaded_at";

/// The info of the tenant's files among `ids` (another tenant's or an
/// unknown id is absent), in no particular order.
pub async fn infos(
    pool: &PgPool,
    tenant: &str,
    ids: &[Uuid],
) -> Result<Vec<AttachmentInfo>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INFO_COLUMNS} FROM attachments WHERE tenant_id = $1 AND attachment_id = ANY($2)"
    ))
    .bind(tenant)
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// The key that opens a file, or [`AttachmentError::Erased`].
async fn key_of(
    keys: &KeyStore,
    tenant: &str,
    info: &AttachmentInfo,
) -> Result<keystore::Key, AttachmentError> {
    keys.existing_data_key(tenant, &info.sealed_with.to_string())
        .await?
        .ok_or(AttachmentError::Erased)
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    info: AttachmentInfo,
    file_name: Vec<u8>,
    content: Option<Vec<u8>>,
}

/// The row of file `id`, with its bytes when `with_content`.
async fn row(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
    with_content: bool,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INFO_COLUMNS}, file_name, CASE WHEN $3 THEN content END AS content
           FROM attachments WHERE tenant_id = $1 AND attachment_id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .bind(with_content)
    .fetch_optional(pool)
    .await
}

fn file_name_of(
    key: &keystore::Key,
    tenant: &str,
    id: Uuid,
    sealed: &[u8],
) -> Result<String, AttachmentError> {
    open(key, &aad(tenant, id, "file_name"), sealed)
        .and_then(|n| String::from_utf8(n).ok())
        .ok_or(AttachmentError::Damaged(id, "its name does not open"))
}

/// A file's info and name (not its bytes); `None`: no such file in this
/// tenant. The name of an erased file is `None`.
pub async fn described(
    pool: &PgPool,
    keys: &KeyStore,
    tenant: &str,
    id: Uuid,
) -> Result<Option<(AttachmentInfo, Option<String>)>, AttachmentError> {
    let Some(row) = row(pool, tenant, id, false).await? else {
        return Ok(None);
    };
    let name = match key_of(keys, tenant, &row.info).await {
        Ok(key) => Some(file_name_of(&key, tenant, id, &row.file_name)?),
        Err(AttachmentError::Erased) => None,
        Err(e) => return Err(e),
    };
    Ok(Some((row.info, name)))
}

/// A file opened, its bytes checked against the hash recorded when it was
/// stored; `None`: no such file in this tenant.
pub async fn opened(
    pool: &PgPool,
    keys: &KeyStore,
    tenant: &str,
    id: Uuid,
) -> Result<Option<OpenedAttachment>, AttachmentError> {
    let Some(row) = row(pool, tenant, id, true).await? else {
        return Ok(None);
    };
    let key = key_of(keys, tenant, &row.info).await?;
    let file_name = file_name_of(&key, tenant, id, &row.file_name)?;
    let bytes = open(
        &key,
        &aad(tenant, id, "content"),
        row.content.as_deref().unwrap_or_default(),
    )
    .ok_or(AttachmentError::Damaged(id, "its bytes do not open"))?;
    if sha256_hex(&bytes) != row.info.sha256 {
        return Err(AttachmentError::Damaged(
            id,
            "its bytes are not the ones recorded",
        ));
    }
    Ok(Some(OpenedAttachment {
        info: row.info,
        file_name,
        bytes,
    }))
}
