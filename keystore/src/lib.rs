//! # keystore: forgettable personal data (crypto-shredding)
//!
//! ```text
//!  master key (configuration: CRM_MASTER_KEY = <id>:<base64 32 bytes>)
//!    └─ wraps ─▶ tenant key-encryption key (tenant_keys, versioned)   tenant index key (tenant_index_keys)
//!                  └─ wraps ─▶ data key per customer (data_keys)         └─ HMAC blind indexes of email/phone
//!                                └─ AES-256-GCM ─▶ each personal field of each event
//!                                                  (random 96-bit nonce, the event's identity as associated data)
//! ```
//!
//! Forgetting a customer destroys its data key (`wrapped_dek := NULL`): from
//! then on its personal fields cannot be opened anywhere — API, projections,
//! rebuilds, exports — while every stored byte, hence every hash, stays as
//! it was. Key ids are recorded, so the master key and tenant keys rotate by
//! re-wrapping keys, never by rewriting events.

pub mod crypto;
pub mod sealed;

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sqlx::PgPool;

pub use crypto::{CryptoError, Key, random_secret, secret_digest};
pub use sealed::ERASED;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    #[error("master key `{0}` is not configured (set it in CRM_MASTER_KEY or CRM_OLD_MASTER_KEYS)")]
    UnknownMasterKey(String),
    #[error("the data key of {0} was destroyed")]
    Destroyed(String),
    #[error("invalid master key configuration: {0}")]
    Config(String),
}

/// The configured master keys: the current one (used to wrap) and old ones
/// (still accepted to unwrap, until `crm keys rotate` re-wrapped everything).
#[derive(Clone)]
pub struct MasterKeys {
    current_id: String,
    keys: HashMap<String, Key>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeys")
            .field("current_id", &self.current_id)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The development master key: used only in development mode.
pub const DEV_MASTER_KEY: &str = "dev:Y3JtLWRldi1tYXN0ZXIta2V5LU5PVC1GT1ItUFJPRCE=";

impl MasterKeys {
    /// Parses `<id>:<base64 of 32 bytes>` for the current key and a comma
    /// separated list of the same for old keys.
    pub fn parse(current: &str, old: &[String]) -> Result<Self, KeyError> {
        fn one(text: &str) -> Result<(String, Key), KeyError> {
            let (id, b64) = text.trim().split_once(':').ok_or_else(|| {
                KeyError::Config("a master key is `<id>:<base64 of 32 bytes>`".into())
            })?;
            let id = id.trim();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(KeyError::Config(format!(
                    "master key id `{id}` must be letters, digits, - or _"
                )));
            }
            let bytes = STANDARD
                .decode(b64.trim())
                .map_err(|_| KeyError::Config(format!("master key `{id}` is not base64")))?;
            let key = Key::from_bytes(&bytes).ok_or_else(|| {
                KeyError::Config(format!(
                    "master key `{id}` must be 32 bytes, got {}",
                    bytes.len()
                ))
            })?;
            Ok((id.to_owned(), key))
        }
        let (current_id, current) = one(current)?;
        let mut keys = HashMap::from([(current_id.clone(), current)]);
        for text in old.iter().filter(|t| !t.trim().is_empty()) {
            let (id, key) = one(text)?;
            keys.entry(id).or_insert(key);
        }
        Ok(Self { current_id, keys })
    }

    pub fn current_id(&self) -> &str {
        &self.current_id
    }

    fn get(&self, id: &str) -> Result<&Key, KeyError> {
        self.keys
            .get(id)
            .ok_or_else(|| KeyError::UnknownMasterKey(id.to_owned()))
    }

    fn current(&self) -> &Key {
        &self.keys[&self.current_id]
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    pub tenant_keys: u64,
    pub index_keys: u64,
    pub data_keys: u64,
}

/// Keys, from the database, unwrapped on demand. Tenant keys are cached
/// (they are never destroyed); data keys are not, so a destroyed one stops
/// working in every process at once.
pub struct KeyStore {
    pool: PgPool,
    master: MasterKeys,
    keks: Mutex<HashMap<(String, i32), Key>>,
    /// Each tenant's current key version as last seen. A new data key is
    /// wrapped under it only if no newer version exists (checked by the
    /// INSERT itself), so a rotation elsewhere is noticed at the next new
    /// key, never missed.
    current_versions: Mutex<HashMap<String, i32>>,
    index_keys: Mutex<HashMap<String, Key>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("master", &self.master)
            .finish()
    }
}

fn kek_aad(tenant: &str, version: i32) -> Vec<u8> {
    format!("kek:{tenant}:{version}").into_bytes()
}

fn index_aad(tenant: &str) -> Vec<u8> {
    format!("index:{tenant}").into_bytes()
}

fn dek_aad(tenant: &str, subject: &str) -> Vec<u8> {
    format!("dek:{tenant}:{subject}").into_bytes()
}

/// A new data key, wrapped, waiting to be stored with its subject's first
/// event (see [`KeyStore::new_data_key`]).
#[derive(Clone, Debug)]
pub struct NewDataKey {
    pub tenant: String,
    pub subject: String,
    pub kek_version: i32,
    pub wrapped: Vec<u8>,
}

impl KeyStore {
    pub fn new(pool: PgPool, master: MasterKeys) -> Self {
        Self {
            pool,
            master,
            keks: Mutex::new(HashMap::new()),
            current_versions: Mutex::new(HashMap::new()),
            index_keys: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's current key-encryption key (created on first use), as
    /// last seen by this process (see `current_versions`).
    async fn current_kek(&self, tenant: &str) -> Result<(i32, Key), KeyError> {
        let cached = self
            .current_versions
            .lock()
            .expect("key cache lock")
            .get(tenant)
            .copied();
        if let Some(version) = cached {
            return Ok((version, self.kek(tenant, version).await?));
        }
        let current: Option<i32> = sqlx::query_scalar(
            "SELECT max(version) FROM tenant_keys WHERE tenant_id = $1 AND retired_at IS NULL",
        )
        .bind(tenant)
        .fetch_one(&self.pool)
        .await?;
        let version = match current {
            Some(v) => v,
            None => {
                let kek = Key::random();
                let wrapped = crypto::wrap(self.master.current(), &kek_aad(tenant, 1), &kek);
                sqlx::query(
                    "INSERT INTO tenant_keys (tenant_id, version, master_key_id, wrapped_kek) VALUES ($1, 1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(self.master.current_id())
                .bind(&wrapped)
                .execute(&self.pool)
                .await?;
                1
            }
        };
        self.current_versions
            .lock()
            .expect("key cache lock")
            .insert(tenant.to_owned(), version);
        Ok((version, self.kek(tenant, version).await?))
    }

    async fn kek(&self, tenant: &str, version: i32) -> Result<Key, KeyError> {
        let cache_key = (tenant.to_owned(), version);
        if let Some(key) = self.keks.lock().expect("key cache lock").get(&cache_key) {
            return Ok(key.clone());
        }
        let (master_id, wrapped): (String, Vec<u8>) = sqlx::query_as(
            "SELECT master_key_id, wrapped_kek FROM tenant_keys WHERE tenant_id = $1 AND version = $2",
        )
        .bind(tenant)
        .bind(version)
        .fetch_one(&self.pool)
        .await?;
        let key = crypto::unwrap(
            self.master.get(&master_id)?,
            &kek_aad(tenant, version),
            &wrapped,
        )?;
        self.keks
            .lock()
            .expect("key cache lock")
            .insert(cache_key, key.clone());
        Ok(key)
    }

    /// The tenant's blind-index key (created on first use, never rotated:
    /// the uniqueness claims are built from it).
    async fn index_key(&self, tenant: &str) -> Result<Key, KeyError> {
        if let Some(key) = self.index_keys.lock().expect("key cache lock").get(tenant) {
            return Ok(key.clone());
        }
        let fresh = Key::random();
        sqlx::query(
            "INSERT INTO tenant_index_keys (tenant_id, master_key_id, wrapped_key) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(self.master.current_id())
        .bind(crypto::wrap(self.master.current(), &index_aad(tenant), &fresh))
        .execute(&self.pool)
        .await?;
        let (master_id, wrapped): (String, Vec<u8>) = sqlx::query_as(
            "SELECT master_key_id, wrapped_key FROM tenant_index_keys WHERE tenant_id = $1",
        )
        .bind(tenant)
        .fetch_one(&self.pool)
        .await?;
        let key = crypto::unwrap(self.master.get(&master_id)?, &index_aad(tenant), &wrapped)?;
        self.index_keys
            .lock()
            .expect("key cache lock")
            .insert(tenant.to_owned(), key.clone());
        Ok(key)
    }

    /// The blind index of a normalized value (`kind`: `email`, `phone`).
    pub async fn blind_index(
        &self,
        tenant: &str,
        kind: &str,
        normalized: &str,
    ) -> Result<String, KeyError> {
        Ok(crypto::blind_index(
            &self.index_key(tenant).await?,
            kind,
            normalized,
        ))
    }

    /// A tag that proves `payload` was issued by this tenant for `purpose`
    /// (an unsubscribe link, say): HMAC-SHA-256 under the tenant's index
    /// key, base64url. Deterministic: the same payload gives the same tag.
    pub async fn token_tag(
        &self,
        tenant: &str,
        purpose: &str,
        payload: &str,
    ) -> Result<String, KeyError> {
        Ok(crypto::token_tag(
            &self.index_key(tenant).await?,
            purpose,
            payload,
        ))
    }

    /// Whether `tag` is [`Self::token_tag`]'s for the same payload
    /// (compared in constant time).
    pub async fn verify_token_tag(
        &self,
        tenant: &str,
        purpose: &str,
        payload: &str,
        tag: &str,
    ) -> Result<bool, KeyError> {
        Ok(crypto::verify_token_tag(
            &self.index_key(tenant).await?,
            purpose,
            payload,
            tag,
        ))
    }

    /// The subject's data key, created on first use. A destroyed key is an
    /// error. A new subject costs one read and one INSERT.
    pub async fn data_key(&self, tenant: &str, subject: &str) -> Result<Key, KeyError> {
        self.get_or_create_data_key(tenant, subject, false).await
    }

    /// A data key for a subject that has no event yet, not stored: the
    /// statement that stores the subject's first event stores it too (with
    /// `store_new_data_key(tenant, subject, kek_version, wrapped)`, which
    /// says whether it did), so a new subject costs no round trip of its own.
    pub async fn new_data_key(
        &self,
        tenant: &str,
        subject: &str,
    ) -> Result<(Key, NewDataKey), KeyError> {
        let (kek_version, kek) = self.current_kek(tenant).await?;
        let dek = Key::random();
        let wrapped = crypto::wrap(&kek, &dek_aad(tenant, subject), &dek);
        Ok((
            dek,
            NewDataKey {
                tenant: tenant.to_owned(),
                subject: subject.to_owned(),
                kek_version,
                wrapped,
            },
        ))
    }

    /// Forgets the cached current version of `tenant`'s key (a new data key
    /// was refused as wrapped under an older one).
    pub fn forget_current_version(&self, tenant: &str) {
        self.current_versions
            .lock()
            .expect("key cache lock")
            .remove(tenant);
    }

    /// The data key for a subject's first event: created before looking for
    /// one, so a new subject costs one INSERT (an existing key, e.g. from a
    /// first attempt that lost a race, is found after the INSERT did nothing).
    pub async fn first_data_key(&self, tenant: &str, subject: &str) -> Result<Key, KeyError> {
        self.get_or_create_data_key(tenant, subject, true).await
    }

    async fn get_or_create_data_key(
        &self,
        tenant: &str,
        subject: &str,
        first: bool,
    ) -> Result<Key, KeyError> {
        // One read tells an existing key, a destroyed one and none apart.
        if !first && let Some(found) = self.stored_data_key(tenant, subject).await? {
            return found.ok_or_else(|| KeyError::Destroyed(subject.to_owned()));
        }
        for _ in 0..3 {
            let (version, kek) = self.current_kek(tenant).await?;
            let dek = Key::random();
            // Committed without waiting for the disk (synchronous_commit off
            // for this statement's transaction): a key is only ever used by
            // an event committed after it, whose synchronous commit flushes
            // the WAL up to and past this INSERT; a key lost with an
            // unflushed WAL had no event.
            let inserted: Option<i32> = sqlx::query_scalar(
                "INSERT INTO data_keys (tenant_id, subject_id, kek_version, wrapped_dek)
                 SELECT $1, $2, $3, $4
                   FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
                  WHERE NOT EXISTS (SELECT 1 FROM tenant_keys WHERE tenant_id = $1 AND version > $3)
                 ON CONFLICT DO NOTHING
                 RETURNING kek_version",
            )
            .bind(tenant)
            .bind(subject)
            .bind(version)
            .bind(crypto::wrap(&kek, &dek_aad(tenant, subject), &dek))
            .fetch_optional(&self.pool)
            .await?;
            if inserted.is_some() {
                return Ok(dek);
            }
            // Another writer created it first (use whatever is stored), or
            // the tenant key was rotated since this process last looked.
            if let Some(found) = self.stored_data_key(tenant, subject).await? {
                return found.ok_or_else(|| KeyError::Destroyed(subject.to_owned()));
            }
            self.forget_current_version(tenant);
        }
        Err(KeyError::Db(sqlx::Error::Protocol(format!(
            "no data key could be created for {subject}: the tenant key kept changing"
        ))))
    }

    /// Removes the data key of a subject that will never have an event (its
    /// first command was refused after sealing). Never call it for a
    /// subject that exists: its personal data would be lost.
    pub async fn discard_unused_data_key(
        &self,
        tenant: &str,
        subject: &str,
    ) -> Result<(), KeyError> {
        sqlx::query("DELETE FROM data_keys WHERE tenant_id = $1 AND subject_id = $2 AND wrapped_dek IS NOT NULL")
            .bind(tenant)
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The subject's data key, or `None` when it never existed or was destroyed.
    pub async fn existing_data_key(
        &self,
        tenant: &str,
        subject: &str,
    ) -> Result<Option<Key>, KeyError> {
        Ok(self.stored_data_key(tenant, subject).await?.flatten())
    }

    /// The data keys of many subjects in one query (a projector's batch, a
    /// rebuild): `None` for a subject whose key never existed or was
    /// destroyed. Nothing is cached.
    pub async fn existing_data_keys(
        &self,
        subjects: &[(String, String)],
    ) -> Result<HashMap<(String, String), Option<Key>>, KeyError> {
        let (tenants, ids): (Vec<&str>, Vec<&str>) = subjects
            .iter()
            .map(|(t, s)| (t.as_str(), s.as_str()))
            .unzip();
        let rows: Vec<(String, String, i32, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT d.tenant_id, d.subject_id, d.kek_version, d.wrapped_dek
               FROM data_keys d JOIN unnest($1::text[], $2::text[]) AS s(tenant_id, subject_id)
                 ON d.tenant_id = s.tenant_id AND d.subject_id = s.subject_id",
        )
        .bind(&tenants)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut keys: HashMap<(String, String), Option<Key>> =
            subjects.iter().map(|k| (k.clone(), None)).collect();
        for (tenant, subject, version, wrapped) in rows {
            let Some(wrapped) = wrapped else { continue };
            let kek = self.kek(&tenant, version).await?;
            let key = crypto::unwrap(&kek, &dek_aad(&tenant, &subject), &wrapped)?;
            keys.insert((tenant, subject), Some(key));
        }
        Ok(keys)
    }

    /// `None`: never created; `Some(None)`: destroyed; `Some(Some(key))`.
    async fn stored_data_key(
        &self,
        tenant: &str,
        subject: &str,
    ) -> Result<Option<Option<Key>>, KeyError> {
        let row: Option<(i32, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT kek_version, wrapped_dek FROM data_keys WHERE tenant_id = $1 AND subject_id = $2")
                .bind(tenant)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some((version, Some(wrapped))) => {
                let kek = self.kek(tenant, version).await?;
                Ok(Some(Some(crypto::unwrap(
                    &kek,
                    &dek_aad(tenant, subject),
                    &wrapped,
                )?)))
            }
            Some((_, None)) => Ok(Some(None)),
            None => Ok(None),
        }
    }

    /// Re-wraps every tenant key and index key under the current master key
    /// (after it was changed; the old one must still be configured).
    pub async fn rotate_master(&self) -> Result<Rotation, KeyError> {
        let mut rotation = Rotation::default();
        let keks: Vec<(String, i32, String, Vec<u8>)> = sqlx::query_as(
            "SELECT tenant_id, version, master_key_id, wrapped_kek FROM tenant_keys WHERE master_key_id <> $1",
        )
        .bind(self.master.current_id())
        .fetch_all(&self.pool)
        .await?;
        for (tenant, version, master_id, wrapped) in keks {
            let aad = kek_aad(&tenant, version);
            let kek = crypto::unwrap(self.master.get(&master_id)?, &aad, &wrapped)?;
            sqlx::query("UPDATE tenant_keys SET master_key_id = $3, wrapped_kek = $4 WHERE tenant_id = $1 AND version = $2")
                .bind(&tenant)
                .bind(version)
                .bind(self.master.current_id())
                .bind(crypto::wrap(self.master.current(), &aad, &kek))
                .execute(&self.pool)
                .await?;
            rotation.tenant_keys += 1;
        }
        let index_keys: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT tenant_id, master_key_id, wrapped_key FROM tenant_index_keys WHERE master_key_id <> $1",
        )
        .bind(self.master.current_id())
        .fetch_all(&self.pool)
        .await?;
        for (tenant, master_id, wrapped) in index_keys {
            let aad = index_aad(&tenant);
            let key = crypto::unwrap(self.master.get(&master_id)?, &aad, &wrapped)?;
            sqlx::query("UPDATE tenant_index_keys SET master_key_id = $2, wrapped_key = $3 WHERE tenant_id = $1")
                .bind(&tenant)
                .bind(self.master.current_id())
                .bind(crypto::wrap(self.master.current(), &aad, &key))
                .execute(&self.pool)
                .await?;
            rotation.index_keys += 1;
        }
        Ok(rotation)
    }

    /// Gives each tenant (or one) a new key-encryption key, re-wraps its data
    /// keys under it, and retires the old versions.
    pub async fn rotate_tenant_keys(&self, tenant: Option<&str>) -> Result<Rotation, KeyError> {
        let mut rotation = Rotation::default();
        let tenants: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM tenant_keys WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY 1",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        for tenant in tenants {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("crm-kek-rotation:{tenant}"))
                .execute(&mut *tx)
                .await?;
            let latest: i32 =
                sqlx::query_scalar("SELECT max(version) FROM tenant_keys WHERE tenant_id = $1")
                    .bind(&tenant)
                    .fetch_one(&mut *tx)
                    .await?;
            let version = latest + 1;
            let kek = Key::random();
            sqlx::query("INSERT INTO tenant_keys (tenant_id, version, master_key_id, wrapped_kek) VALUES ($1, $2, $3, $4)")
                .bind(&tenant)
                .bind(version)
                .bind(self.master.current_id())
                .bind(crypto::wrap(self.master.current(), &kek_aad(&tenant, version), &kek))
                .execute(&mut *tx)
                .await?;
            let deks: Vec<(String, i32, Vec<u8>)> = sqlx::query_as(
                "SELECT subject_id, kek_version, wrapped_dek FROM data_keys
                  WHERE tenant_id = $1 AND wrapped_dek IS NOT NULL FOR UPDATE",
            )
            .bind(&tenant)
            .fetch_all(&mut *tx)
            .await?;
            for (subject, old_version, wrapped) in deks {
                let aad = dek_aad(&tenant, &subject);
                let dek = crypto::unwrap(&self.kek(&tenant, old_version).await?, &aad, &wrapped)?;
                sqlx::query(
                    "UPDATE data_keys SET kek_version = $3, wrapped_dek = $4 WHERE tenant_id = $1 AND subject_id = $2",
                )
                .bind(&tenant)
                .bind(&subject)
                .bind(version)
                .bind(crypto::wrap(&kek, &aad, &dek))
                .execute(&mut *tx)
                .await?;
                rotation.data_keys += 1;
            }
            sqlx::query("UPDATE tenant_keys SET retired_at = now() WHERE tenant_id = $1 AND version < $2 AND retired_at IS NULL")
                .bind(&tenant)
                .bind(version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            rotation.tenant_keys += 1;
        }
        Ok(rotation)
    }
}
