//! Lists: `{"items": [...], "next_cursor": "..." | null}` with opaque keyset
//! cursors (base64url JSON of the last item's sort key) and `limit` ≤ 200.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::problem::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Validates `limit` (default 50, 1 to 200).
pub fn limit(raw: Option<u32>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

pub fn decode_cursor<K: DeserializeOwned>(raw: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let invalid = || ApiError::invalid_field("cursor", "is not a cursor this list returned");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| invalid())
}

/// Builds a page from `limit + 1` fetched rows: the extra row only tells
/// whether there is a next page.
pub fn page<T, K: Serialize>(
    mut rows: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> K,
) -> ListResponse<T> {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if has_more {
        rows.last().map(|last| encode_cursor(&key(last)))
    } else {
        None
    };
    ListResponse {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_validation_error() {
        let key = ("2026-01-01T00:00:00Z".to_owned(), 42_i64);
        let encoded = encode_cursor(&key);
        assert_eq!(
            decode_cursor::<(String, i64)>(Some(&encoded)).unwrap(),
            Some(key)
        );
        let err = decode_cursor::<(String, i64)>(Some("not-a-cursor!")).unwrap_err();
        assert_eq!(err.status().as_u16(), 422);
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        let full = page(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(full.items, vec![1, 2]);
        assert_eq!(
            decode_cursor::<i32>(full.next_cursor.as_deref()).unwrap(),
            Some(2)
        );
        let last = page(vec![1, 2], 2, |n| *n);
        assert!(last.next_cursor.is_none());
        assert!(limit(Some(201)).is_err());
        assert!(limit(Some(0)).is_err());
        assert_eq!(limit(None).unwrap(), 50);
    }
}
