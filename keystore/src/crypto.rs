//! The primitives: AES-256-GCM with a random 96-bit nonce per value and
//! associated data, and HMAC-SHA-256 blind indexes.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// A 256-bit key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl Key {
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Wrong key, wrong associated data, or altered ciphertext.
    #[error("decryption failed: wrong key or altered data")]
    Open,
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),
}

pub const NONCE_LEN: usize = 12;

/// Encrypts `plaintext`; returns (nonce, ciphertext with tag).
pub fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let cipher = Aes256Gcm::new(key.bytes().into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    (nonce.to_vec(), ciphertext)
}

pub fn open(
    key: &Key,
    aad: &[u8],
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if nonce.len() != NONCE_LEN {
        return Err(CryptoError::Malformed("nonce length"));
    }
    Aes256Gcm::new(key.bytes().into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Open)
}

/// A key wrapped by another: nonce ‖ ciphertext.
pub fn wrap(kek: &Key, aad: &[u8], key: &Key) -> Vec<u8> {
    let (mut nonce, ciphertext) = seal(kek, aad, key.bytes());
    nonce.extend(ciphertext);
    nonce
}

pub fn unwrap(kek: &Key, aad: &[u8], wrapped: &[u8]) -> Result<Key, CryptoError> {
    if wrapped.len() < NONCE_LEN {
        return Err(CryptoError::Malformed("wrapped key length"));
    }
    let (nonce, ciphertext) = wrapped.split_at(NONCE_LEN);
    let bytes = open(kek, aad, nonce, ciphertext)?;
    Key::from_bytes(&bytes).ok_or(CryptoError::Malformed("unwrapped key length"))
}

/// The blind index of a normalized value: HMAC-SHA-256, hex. Equal values
/// give equal indexes; the value cannot be read back without the key.
pub fn blind_index(key: &Key, kind: &str, normalized: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    mac.update(kind.as_bytes());
    mac.update(&[0]);
    mac.update(normalized.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn token_mac(key: &Key, purpose: &str, payload: &str) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    mac.update(b"token\0");
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(payload.as_bytes());
    mac
}

/// A tag proving `payload` was issued for `purpose` under `key`:
/// HMAC-SHA-256, base64url without padding.
pub fn token_tag(key: &Key, purpose: &str, payload: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(token_mac(key, purpose, payload).finalize().into_bytes())
}

/// Whether `tag` is [`token_tag`]'s (compared in constant time).
pub fn verify_token_tag(key: &Key, purpose: &str, payload: &str, tag: &str) -> bool {
    use base64::Engine;
    let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    token_mac(key, purpose, payload).verify_slice(&tag).is_ok()
}

/// A secret for a bearer URL (a calendar feed's, say): 256 random bits from
/// the OS, base64url without padding (43 characters).
pub fn random_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of such a secret: its SHA-256, hex. The secret itself is
/// shown once and never stored.
pub fn secret_digest(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_tag_verifies_only_its_own_payload_purpose_and_key() {
        let key = Key::random();
        let tag = token_tag(&key, "unsubscribe", "acme.c1.EMAIL.m1");
        assert_eq!(tag, token_tag(&key, "unsubscribe", "acme.c1.EMAIL.m1"));
        assert!(verify_token_tag(
            &key,
            "unsubscribe",
            "acme.c1.EMAIL.m1",
            &tag
        ));
        assert!(!verify_token_tag(
            &key,
            "unsubscribe",
            "acme.c2.EMAIL.m1",
            &tag
        ));
        assert!(!verify_token_tag(&key, "other", "acme.c1.EMAIL.m1", &tag));
        assert!(!verify_token_tag(
            &Key::random(),
            "unsubscribe",
            "acme.c1.EMAIL.m1",
            &tag
        ));
        assert!(!verify_token_tag(
            &key,
            "unsubscribe",
            "acme.c1.EMAIL.m1",
            "not base64!"
        ));
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_associated_data() {
        let key = Key::random();
        let (nonce, ct) = seal(&key, b"Customer:1:1:email", b"jeanne@example.com");
        assert_eq!(
            open(&key, b"Customer:1:1:email", &nonce, &ct).unwrap(),
            b"jeanne@example.com"
        );
        assert_eq!(
            open(&key, b"Customer:1:2:email", &nonce, &ct),
            Err(CryptoError::Open),
            "AAD binds the event"
        );
        assert_eq!(
            open(&Key::random(), b"Customer:1:1:email", &nonce, &ct),
            Err(CryptoError::Open)
        );
        let mut altered = ct.clone();
        altered[0] ^= 1;
        assert_eq!(
            open(&key, b"Customer:1:1:email", &nonce, &altered),
            Err(CryptoError::Open)
        );
    }

    #[test]
    fn every_value_gets_its_own_nonce() {
        let key = Key::random();
        let (n1, c1) = seal(&key, b"a", b"same");
        let (n2, c2) = seal(&key, b"a", b"same");
        assert_ne!(n1, n2);
        assert_ne!(c1, c2);
    }

    #[test]
    fn wrapped_keys_unwrap_with_their_key_only() {
        let (kek, dek) = (Key::random(), Key::random());
        let wrapped = wrap(&kek, b"dek:acme:1", &dek);
        assert_eq!(unwrap(&kek, b"dek:acme:1", &wrapped).unwrap(), dek);
        assert!(unwrap(&kek, b"dek:acme:2", &wrapped).is_err());
        assert!(unwrap(&Key::random(), b"dek:acme:1", &wrapped).is_err());
    }

    #[test]
    fn blind_indexes_are_stable_keyed_and_kind_separated() {
        let key = Key::random();
        assert_eq!(
            blind_index(&key, "email", "a@b.co"),
            blind_index(&key, "email", "a@b.co")
        );
        assert_ne!(
            blind_index(&key, "email", "a@b.co"),
            blind_index(&key, "phone", "a@b.co")
        );
        assert_ne!(
            blind_index(&key, "email", "a@b.co"),
            blind_index(&Key::random(), "email", "a@b.co")
        );
        assert_eq!(blind_index(&key, "email", "a@b.co").len(), 64);
    }
}
