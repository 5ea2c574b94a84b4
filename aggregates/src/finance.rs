//! The `FinancialTransaction` aggregate: one manual ledger entry (an
//! expense, a transfer, an adjustment or other income), recorded once and
//! never changed. A correction is a new entry (an ADJUSTMENT, which may be
//! negative).
//!
//! ```text
//!  (none) ──Record──▶ RECORDED (final)
//! ```

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::finance::{FinancialTransactionEvent, FinancialTransactionRecorded};
use event_schemas::money::FinancialTransactionType;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::{sales, values};

pub const MAX_TRANSACTION_TAGS: usize = 20;
pub const MAX_TRANSACTION_TAG: usize = 50;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FinancialTransaction {
    /// The recorded entry (`None` until recorded).
    pub entry: Option<FinancialTransactionRecorded>,
}

impl FinancialTransaction {
    pub fn is_recorded(&self) -> bool {
        self.entry.is_some()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordTransaction {
    pub transaction_id: Uuid,
    pub tenant_id: TenantId,
    pub transaction_type: FinancialTransactionType,
    /// More than 0 with at most 2 decimals; an ADJUSTMENT may be negative
    /// (but not 0).
    pub amount: Decimal,
    /// ISO 4217; `CAD` when absent.
    pub currency: Option<String>,
    pub description: String,
    pub category: String,
    pub subcategory: Option<String>,
    pub reference: Option<String>,
    pub notes: Option<String>,
    /// At most 20, each at most 50 characters; trimmed, duplicates dropped.
    pub tags: Vec<String>,
    /// At most one day after the command (default: the command's day).
    pub transaction_date: Option<NaiveDate>,
    pub invoice_id: Option<Uuid>,
    pub journey_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FinancialTransactionAction {
    Record(RecordTransaction),
}

/// A ledger command: the action, who asked, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct FinancialTransactionCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: FinancialTransactionAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FinancialTransactionError {
    #[error("invalid financial transaction: {0}")]
    Invalid(ValidationErrors),
    #[error("financial transaction {0} is already recorded")]
    AlreadyRecorded(Uuid),
}

impl DomainError for FinancialTransactionError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyRecorded(_) => ErrorKind::Conflict {
                rule: "financial-transaction.already-recorded",
            },
        }
    }
}

impl From<ValidationErrors> for FinancialTransactionError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// The amount of an entry: [`values::money`] rules on its magnitude; only an
/// ADJUSTMENT may be negative, and none may be zero.
pub fn transaction_amount(
    kind: FinancialTransactionType,
    value: Decimal,
) -> Result<Decimal, String> {
    if value.is_sign_negative() && !value.is_zero() {
        if kind != FinancialTransactionType::Adjustment {
            return Err("must be greater than 0 (only an ADJUSTMENT may be negative)".into());
        }
        return values::money(value.abs()).map(|v| -v);
    }
    let v = values::money(value)?;
    if v.is_zero() {
        return Err("must not be 0".into());
    }
    Ok(v)
}

/// Tags of an entry: trimmed, non-empty, at most 50 characters each, at most
/// 20 after dropping duplicates (first occurrence kept).
fn tags(v: &mut Validator, raw: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, tag) in raw.iter().enumerate() {
        if let Some(tag) = v.check(
            &format!("tags[{i}]"),
            values::required_text(tag, MAX_TRANSACTION_TAG),
        ) && seen.insert(tag.clone())
        {
            out.push(tag);
        }
    }
    if out.len() > MAX_TRANSACTION_TAGS {
        v.error(
            "tags",
            format!("must have at most {MAX_TRANSACTION_TAGS} tags"),
        );
    }
    out
}

impl FinancialTransaction {
    fn record(
        cmd: RecordTransaction,
        at: DateTime<Utc>,
        actor: Uuid,
    ) -> Result<FinancialTransactionRecorded, FinancialTransactionError> {
        let mut v = Validator::new();
        let amount = v.check(
            "amount",
            transaction_amount(cmd.transaction_type, cmd.amount),
        );
        let currency = v.check("currency", sales::currency(cmd.currency.as_deref()));
        let description = v.check(
            "description",
            values::required_text(&cmd.description, values::MAX_SHORT_TEXT),
        );
        let category = v.check(
            "category",
            values::required_text(&cmd.category, values::MAX_NAME),
        );
        let subcategory = v.check(
            "subcategory",
            values::optional_text(cmd.subcategory.as_deref(), values::MAX_NAME),
        );
        let reference = v.check(
            "reference",
            values::optional_text(cmd.reference.as_deref(), values::MAX_SHORT_TEXT),
        );
        let notes = v.check(
            "notes",
            values::optional_text(cmd.notes.as_deref(), values::MAX_LONG_TEXT),
        );
        let tags = tags(&mut v, cmd.tags);
        let today = at.date_naive();
        let transaction_date = cmd.transaction_date.unwrap_or(today);
        if today
            .checked_add_days(Days::new(1))
            .is_some_and(|latest| transaction_date > latest)
        {
            v.error(
                "transaction_date",
                "must not be more than one day in the future",
            );
        }
        v.finish()?;
        let (
            Some(amount),
            Some(currency),
            Some(description),
            Some(category),
            Some(subcategory),
            Some(reference),
            Some(notes),
        ) = (
            amount,
            currency,
            description,
            category,
            subcategory,
            reference,
            notes,
        )
        else {
            unreachable!("every field was validated");
        };
        Ok(FinancialTransactionRecorded {
            tenant_id: cmd.tenant_id,
            transaction_id: cmd.transaction_id,
            transaction_type: cmd.transaction_type,
            amount,
            currency,
            description,
            category,
            subcategory,
            reference,
            notes,
            tags,
            transaction_date,
            invoice_id: cmd.invoice_id,
            journey_id: cmd.journey_id,
            recorded_by: actor,
            recorded_at: at,
        })
    }

    /// The events `command` produces against the current state.
    pub fn decide(
        &self,
        command: FinancialTransactionCommand,
    ) -> Result<Vec<FinancialTransactionEvent>, FinancialTransactionError> {
        let FinancialTransactionCommand { at, actor, action } = command;
        match action {
            FinancialTransactionAction::Record(cmd) => {
                if let Some(entry) = &self.entry {
                    return Err(FinancialTransactionError::AlreadyRecorded(
                        entry.transaction_id,
                    ));
                }
                Ok(vec![Self::record(cmd, at, actor)?.into()])
            }
        }
    }
}

impl Aggregate for FinancialTransaction {
    const TYPE: &'static str = event_schemas::finance::TRANSACTION_AGGREGATE_TYPE;
    type Command = FinancialTransactionCommand;
    type Event = FinancialTransactionEvent;
    type Error = FinancialTransactionError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            FinancialTransactionEvent::FinancialTransactionRecorded(e) => self.entry = Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FinancialTransactionType::*;
    use rust_decimal_macros::dec;

    #[test]
    fn only_adjustments_may_be_negative_and_none_may_be_zero() {
        assert_eq!(transaction_amount(Expense, dec!(12.5)), Ok(dec!(12.50)));
        assert_eq!(
            transaction_amount(Adjustment, dec!(-12.5)),
            Ok(dec!(-12.50))
        );
        assert!(transaction_amount(Income, dec!(-1)).is_err());
        assert!(transaction_amount(Adjustment, dec!(0)).is_err());
        assert!(transaction_amount(Adjustment, dec!(-0.001)).is_err());
        assert!(transaction_amount(Transfer, dec!(0.00)).is_err());
    }
}
