//! Sealed JSON values: how a personal field looks in a stored event.
//!
//! ```json
//! "email": {"$sealed": "A256GCM", "n": "<base64 nonce>", "c": "<base64 ciphertext+tag>"}
//! ```
//!
//! The plaintext is the field's JSON text (a string, an address object, …),
//! the associated data `<aggregate type>:<aggregate id>:<sequence>:<field>`:
//! a sealed value moved to another event or field does not open.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::crypto::{self, CryptoError, Key};

/// What a forgotten person's required text fields read as.
pub const ERASED: &str = "[erased]";
pub const ALGORITHM: &str = "A256GCM";

pub fn is_sealed(value: &Value) -> bool {
    value.get("$sealed").is_some()
}

/// The associated data of a field of an event.
pub fn aad(aggregate_type: &str, aggregate_id: &str, sequence: i64, field: &str) -> String {
    format!("{aggregate_type}:{aggregate_id}:{sequence}:{field}")
}

pub fn seal(key: &Key, aad: &str, value: &Value) -> Value {
    let plaintext = serde_json::to_vec(value).expect("a JSON value serializes");
    let (nonce, ciphertext) = crypto::seal(key, aad.as_bytes(), &plaintext);
    json!({"$sealed": ALGORITHM, "n": STANDARD.encode(nonce), "c": STANDARD.encode(ciphertext)})
}

pub fn open(key: &Key, aad: &str, sealed: &Value) -> Result<Value, CryptoError> {
    let field = |name: &'static str| {
        sealed
            .get(name)
            .and_then(Value::as_str)
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or(CryptoError::Malformed(name))
    };
    if sealed.get("$sealed").and_then(Value::as_str) != Some(ALGORITHM) {
        return Err(CryptoError::Malformed("$sealed"));
    }
    let plaintext = crypto::open(key, aad.as_bytes(), &field("n")?, &field("c")?)?;
    serde_json::from_slice(&plaintext).map_err(|_| CryptoError::Malformed("plaintext"))
}

/// Seals the present, non-null `fields` of an event's data in place.
pub fn seal_fields(
    key: &Key,
    data: &mut Map<String, Value>,
    fields: &[&str],
    aad_of: impl Fn(&str) -> String,
) {
    for field in fields {
        if let Some(value) = data.get_mut(*field)
            && !value.is_null()
            && !is_sealed(value)
        {
            *value = seal(key, &aad_of(field), value);
        }
    }
}

/// Opens the sealed `fields` in place. Without a key (destroyed), each
/// sealed field becomes [`ERASED`] if it is one of `required_text`, else
/// `null`. Plain (never sealed) values are left as they are. Returns whether
/// anything was erased.
pub fn open_fields(
    key: Option<&Key>,
    data: &mut Map<String, Value>,
    fields: &[&str],
    required_text: &[&str],
    aad_of: impl Fn(&str) -> String,
) -> Result<bool, CryptoError> {
    let mut erased = false;
    for field in fields {
        let Some(value) = data.get_mut(*field) else {
            continue;
        };
        if !is_sealed(value) {
            continue;
        }
        *value = match key {
            Some(key) => open(key, &aad_of(field), value)?,
            None => {
                erased = true;
                if required_text.contains(field) {
                    Value::String(ERASED.to_owned())
                } else {
                    Value::Null
                }
            }
        };
    }
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Map<String, Value> {
        json!({"first_name": "Jeanne", "email": "j@example.com", "phone": null,
               "address": {"city": "Montréal"}, "tags": ["vip"]})
        .as_object()
        .unwrap()
        .clone()
    }

    const FIELDS: &[&str] = &["first_name", "email", "phone", "address"];

    #[test]
    fn sealed_fields_open_back_to_the_same_values() {
        let key = Key::random();
        let aad = |f: &str| aad("Customer", "c1", 1, f);
        let mut sealed = data();
        seal_fields(&key, &mut sealed, FIELDS, aad);
        assert!(is_sealed(&sealed["first_name"]) && is_sealed(&sealed["address"]));
        assert!(sealed["phone"].is_null(), "null stays null");
        assert_eq!(sealed["tags"], json!(["vip"]), "other fields are untouched");
        assert!(!serde_json::to_string(&sealed).unwrap().contains("Jeanne"));
        let mut opened = sealed.clone();
        assert!(!open_fields(Some(&key), &mut opened, FIELDS, &["first_name"], aad).unwrap());
        assert_eq!(opened, data());
    }

    #[test]
    fn without_the_key_personal_fields_read_as_erased() {
        let key = Key::random();
        let aad = |f: &str| aad("Customer", "c1", 1, f);
        let mut sealed = data();
        seal_fields(&key, &mut sealed, FIELDS, aad);
        assert!(open_fields(None, &mut sealed, FIELDS, &["first_name"], aad).unwrap());
        assert_eq!(sealed["first_name"], ERASED);
        assert!(sealed["email"].is_null() && sealed["address"].is_null());
    }

    #[test]
    fn a_sealed_value_moved_to_another_event_does_not_open() {
        let key = Key::random();
        let sealed = seal(
            &key,
            &aad("Customer", "c1", 1, "email"),
            &json!("j@example.com"),
        );
        assert_eq!(
            open(&key, &aad("Customer", "c1", 2, "email"), &sealed),
            Err(CryptoError::Open)
        );
        assert_eq!(
            open(&key, &aad("Customer", "c2", 1, "email"), &sealed),
            Err(CryptoError::Open)
        );
        assert_eq!(
            open(&key, &aad("Customer", "c1", 1, "phone"), &sealed),
            Err(CryptoError::Open)
        );
    }
}
