//! Partial updates: a field left out is unchanged, `null` clears it, a value
//! sets it (JSON Merge Patch semantics, RFC 7396, per field).

use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Unchanged,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_unchanged(&self) -> bool {
        matches!(self, Self::Unchanged)
    }

    /// The value after applying the patch to `current`.
    pub fn apply_to(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Unchanged => current,
            Self::Clear => None,
            Self::Set(value) => Some(value),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Self::Unchanged => Patch::Unchanged,
            Self::Clear => Patch::Clear,
            Self::Set(value) => Patch::Set(f(value)),
        }
    }
}

/// Use with `#[serde(default)]` so an absent field is `Unchanged`.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Self::Clear,
            Some(value) => Self::Set(value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        notes: Patch<String>,
    }

    #[test]
    fn absent_null_and_value_mean_unchanged_clear_and_set() {
        let absent: Body = serde_json::from_str("{}").unwrap();
        let null: Body = serde_json::from_str(r#"{"notes": null}"#).unwrap();
        let set: Body = serde_json::from_str(r#"{"notes": "hi"}"#).unwrap();
        assert_eq!(absent.notes, Patch::Unchanged);
        assert_eq!(null.notes, Patch::Clear);
        assert_eq!(set.notes, Patch::Set("hi".to_owned()));
        assert_eq!(Patch::Unchanged.apply_to(Some(1)), Some(1));
        assert_eq!(Patch::<i32>::Clear.apply_to(Some(1)), None);
        assert_eq!(Patch::Set(2).apply_to(Some(1)), Some(2));
    }
}
