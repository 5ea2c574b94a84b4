//! The `Quote` aggregate: a priced offer to a customer, revised until the
//! customer accepts or declines it.
//!
//! ```text
//!            edit (DRAFT only)        approve (needed over the tenant's limit)
//!              ┌──┐                   ┌──┐
//!              ▼  │                   ▼  │
//!  copy ──▶ DRAFT ─┴──── send ──────▶ SENT ── view ──▶ VIEWED
//!  draft      ▲                        │  │              │  │
//!             │ revise (revision n+1)  │  └── reject ────┼──┴──▶ REJECTED
//!             └────────────────────────┤                 │
//!                                      │ accept (rev. n, now ≤ valid_until)
//!                                      ▼                 ▼
//!                                   ACCEPTED ── convert ──▶ CONVERTED
//!  SENT/VIEWED ── valid_until passed (expiry policy) ──▶ EXPIRED
//! ```
//!
//! Money is computed here, never taken from the client: line totals,
//! hourly labour, subtotal, each tax component and the total
//! ([`crate::pricing`]). Optional items are listed but counted only when the
//! customer selects them on acceptance. Templates are drafts kept as models:
//! they are never sent, only copied into new drafts.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::money::{
    HourlyPricing, LineItem, PaymentDetails, PricingType, Province, QuoteStatus, Totals,
};
use event_schemas::quote::{
    QuoteAccepted, QuoteApproved, QuoteConverted, QuoteDepositRecorded, QuoteDraftUpdated,
    QuoteDrafted, QuoteEvent, QuoteExpired, QuoteInvoiced, QuoteRejected, QuoteRevised, QuoteSent,
    QuoteTerms, QuoteViewed,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::patch::Patch;
use crate::pricing;
use crate::sales::{self, ItemInput, PaymentInput};
use crate::values;

/// At most 1 000 hours of labour on one quote.
const MAX_HOURS: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);
/// A quote may be valid for at most a year.
const MAX_VALIDITY_DAYS: i64 = 366;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub id: Option<Uuid>,
    pub tenant_id: Option<TenantId>,
    pub customer_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub location_id: Option<String>,
    pub is_template: bool,
    pub copied_from: Option<Uuid>,
    pub terms: Option<QuoteTerms>,
    pub status: Option<QuoteStatus>,
    /// 1 for the first draft; each revision adds one.
    pub revision: u32,
    /// The revision a manager approved, and the total they approved.
    pub approved: Option<QuoteApproved>,
    /// The totals the current revision was sent with.
    pub sent_totals: Option<Totals>,
    pub accepted: Option<QuoteAccepted>,
    pub rejection_reason: Option<String>,
    pub journey_id: Option<Uuid>,
    pub invoice_id: Option<Uuid>,
    pub deposits: Vec<PaymentDetails>,
    pub created_by: Option<Uuid>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Hourly pricing as a client sends it.
#[derive(Clone, Debug, PartialEq)]
pub struct HourlyInput {
    pub rate: Decimal,
    pub estimated_hours: Decimal,
    pub minimum_hours: Decimal,
}

/// The editable terms as a client sends them (no totals).
#[derive(Clone, Debug, PartialEq)]
pub struct QuoteInput {
    pub currency: Option<String>,
    pub valid_until: NaiveDate,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub pricing_type: PricingType,
    pub hourly: Option<HourlyInput>,
    pub province: Province,
    pub tax_exempt: bool,
    pub template_name: Option<String>,
    pub items: Vec<ItemInput>,
}

/// What the command layer found out about the quote's customer and lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteParties {
    pub customer_id: Uuid,
    pub customer_active: bool,
    pub lead_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DraftQuote {
    pub quote_id: Uuid,
    pub tenant_id: TenantId,
    pub parties: QuoteParties,
    pub location_id: Option<String>,
    pub is_template: bool,
    /// The template this draft is a copy of.
    pub copied_from: Option<Uuid>,
    pub input: QuoteInput,
}

/// A draft edit: absent fields stay; `items` replaces every item.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateQuote {
    pub currency: Option<String>,
    pub valid_until: Option<NaiveDate>,
    pub terms: Patch<String>,
    pub notes: Patch<String>,
    pub pricing_type: Option<PricingType>,
    pub hourly: Patch<HourlyInput>,
    pub province: Option<Province>,
    pub tax_exempt: Option<bool>,
    pub template_name: Patch<String>,
    pub items: Option<Vec<ItemInput>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AcceptQuote {
    /// The revision the customer saw and accepts.
    pub revision: u32,
    pub accepted_by_name: String,
    pub accepted_ip: Option<String>,
    pub selected_optional_items: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum QuoteAction {
    Draft(DraftQuote),
    Update(UpdateQuote),
    /// A manager approves the current draft revision for sending.
    Approve,
    /// Send the current revision. `approval_threshold` is the tenant's
    /// setting: a total above it needs this revision approved first.
    Send {
        approval_threshold: Option<Decimal>,
    },
    View,
    Accept(AcceptQuote),
    Reject {
        reason: String,
    },
    Revise,
    /// The expiry policy: expires a quote still waiting for an answer whose
    /// `valid_until` is before `today`; otherwise nothing happens.
    Expire {
        today: NaiveDate,
    },
    Convert {
        journey_id: Uuid,
    },
    RecordDeposit(PaymentInput),
    /// Records that `invoice_id` was opened for this accepted quote.
    MarkInvoiced {
        invoice_id: Uuid,
    },
}

/// A quote command: the action, who asked, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct QuoteCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: QuoteAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuoteError {
    #[error("invalid quote: {0}")]
    Invalid(ValidationErrors),
    #[error("quote {0} already exists")]
    AlreadyExists(Uuid),
    #[error("quote not found")]
    NotFound,
    #[error("customer {0} is inactive; reactivate the customer before quoting")]
    CustomerInactive(Uuid),
    #[error("the quote is {status}; only a {allowed} quote can be {action}")]
    WrongStatus {
        status: QuoteStatus,
        action: &'static str,
        allowed: &'static str,
    },
    #[error(
        "the total {total} is above the approval limit of {threshold}; a manager must approve revision {revision} before it is sent"
    )]
    ApprovalRequired {
        total: Decimal,
        threshold: Decimal,
        revision: u32,
    },
    #[error(
        "revision {offered} was superseded by revision {current} and can no longer be accepted"
    )]
    RevisionSuperseded { offered: u32, current: u32 },
    #[error("the quote was valid until {0} and can no longer be {1}")]
    ValidityPassed(NaiveDate, &'static str),
    #[error("a template is a model for other quotes: copy it instead")]
    IsTemplate,
    #[error("quote {0} is not a template")]
    NotATemplate(Uuid),
    #[error("deposits of {deposits} would exceed the accepted total of {total}")]
    DepositExceedsTotal { deposits: Decimal, total: Decimal },
    #[error("the quote was already invoiced as {0}")]
    AlreadyInvoiced(Uuid),
}

impl DomainError for QuoteError {
    fn kind(&self) -> ErrorKind<'_> {
        let rule = match self {
            Self::Invalid(errors) => return ErrorKind::Invalid(errors),
            Self::NotFound => return ErrorKind::NotFound,
            Self::AlreadyExists(_) => "quote.already-exists",
            Self::CustomerInactive(_) => "quote.customer-inactive",
            Self::WrongStatus { .. } => "quote.wrong-status",
            Self::ApprovalRequired { .. } => "quote.approval-required",
            Self::RevisionSuperseded { .. } => "quote.revision-superseded",
            Self::ValidityPassed(..) => "quote.expired",
            Self::IsTemplate => "quote.template",
            Self::NotATemplate(_) => "quote.not-a-template",
            Self::DepositExceedsTotal { .. } => "quote.deposit-exceeds-total",
            Self::AlreadyInvoiced(_) => "quote.already-invoiced",
        };
        ErrorKind::Conflict { rule }
    }
}

impl From<ValidationErrors> for QuoteError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// Hours: more than 0, at most 1 000, at most 2 decimals.
fn hours(value: Decimal) -> Result<Decimal, String> {
    if value <= Decimal::ZERO || value > MAX_HOURS {
        return Err(format!("must be more than 0 and at most {MAX_HOURS}"));
    }
    if value.normalize().scale() > 2 {
        return Err("must have at most 2 decimal places".into());
    }
    Ok(value.normalize())
}

fn validate_hourly(v: &mut Validator, input: &HourlyInput) -> Option<HourlyPricing> {
    let rate = v.check("hourly.rate", values::money(input.rate));
    let estimated = v.check("hourly.estimated_hours", hours(input.estimated_hours));
    let minimum = if input.minimum_hours.is_zero() {
        Some(Decimal::ZERO)
    } else {
        v.check("hourly.minimum_hours", hours(input.minimum_hours))
    };
    Some(pricing::hourly(rate?, estimated?, minimum?))
}

fn tax_error(message: String) -> ValidationErrors {
    ValidationErrors::single("province", message)
}

/// Validates and prices complete terms; totals at `on` with no optional
/// items selected.
fn price(
    input: QuoteInput,
    at: DateTime<Utc>,
    is_template: bool,
) -> Result<QuoteTerms, QuoteError> {
    let mut v = Validator::new();
    let currency = v.check("currency", sales::currency(input.currency.as_deref()));
    let today = at.date_naive();
    if input.valid_until < today {
        v.error("valid_until", "must not be in the past");
    } else if (input.valid_until - today).num_days() > MAX_VALIDITY_DAYS {
        v.error(
            "valid_until",
            format!("must be at most {MAX_VALIDITY_DAYS} days ahead"),
        );
    }
    let terms = v.check(
        "terms",
        values::optional_text(input.terms.as_deref(), values::MAX_LONG_TEXT),
    );
    let notes = v.check(
        "notes",
        values::optional_text(input.notes.as_deref(), values::MAX_LONG_TEXT),
    );
    let template_name = v.check(
        "template_name",
        values::optional_text(input.template_name.as_deref(), values::MAX_NAME),
    );
    if is_template && matches!(template_name, Some(None)) {
        v.error("template_name", "a template needs a name");
    }
    let hourly = match (input.pricing_type, &input.hourly) {
        (PricingType::Hourly, Some(h)) => validate_hourly(&mut v, h),
        (PricingType::Hourly, None) => {
            v.error("hourly", "is required when pricing_type is HOURLY");
            None
        }
        (_, Some(_)) => {
            v.error("hourly", "is only allowed when pricing_type is HOURLY");
            None
        }
        (_, None) => None,
    };
    if input.items.is_empty() && input.pricing_type != PricingType::Hourly {
        v.error("items", "must have at least one item");
    }
    let items = sales::line_items(&mut v, input.items);
    // The most a customer could owe: every optional item selected.
    let all: Vec<Uuid> = items.iter().map(|i| i.item_id).collect();
    if let Ok(most) = pricing::totals(
        &items,
        &all,
        hourly.as_ref(),
        input.province,
        today,
        input.tax_exempt,
    ) && most.total > values::MAX_MONEY
    {
        v.error(
            "items",
            format!("the quote's total must not exceed {}", values::MAX_MONEY),
        );
    }
    v.finish()?;
    let totals = pricing::totals(
        &items,
        &[],
        hourly.as_ref(),
        input.province,
        today,
        input.tax_exempt,
    )
    .map_err(tax_error)?;
    Ok(QuoteTerms {
        currency: currency.unwrap_or_default(),
        valid_until: input.valid_until,
        terms: terms.flatten(),
        notes: notes.flatten(),
        pricing_type: input.pricing_type,
        hourly,
        province: input.province,
        tax_exempt: input.tax_exempt,
        template_name: template_name.flatten(),
        items,
        totals,
    })
}

fn hourly_input(h: &HourlyPricing) -> HourlyInput {
    HourlyInput {
        rate: h.rate,
        estimated_hours: h.estimated_hours,
        minimum_hours: h.minimum_hours,
    }
}

/// The input that reproduces `terms` (for edits and copies).
pub fn input_of(terms: &QuoteTerms) -> QuoteInput {
    QuoteInput {
        currency: Some(terms.currency.clone()),
        valid_until: terms.valid_until,
        terms: terms.terms.clone(),
        notes: terms.notes.clone(),
        pricing_type: terms.pricing_type,
        hourly: terms.hourly.as_ref().map(hourly_input),
        province: terms.province,
        tax_exempt: terms.tax_exempt,
        template_name: terms.template_name.clone(),
        items: terms.items.iter().map(ItemInput::from).collect(),
    }
}

impl Quote {
    pub fn is_created(&self) -> bool {
        self.id.is_some()
    }

    pub fn status(&self) -> QuoteStatus {
        self.status.unwrap_or(QuoteStatus::Draft)
    }

    /// The items that count once accepted: the required ones and the
    /// selected optional ones, with hourly labour as an item of its own.
    pub fn accepted_items(&self) -> Vec<LineItem> {
        let (Some(terms), Some(accepted)) = (&self.terms, &self.accepted) else {
            return vec![];
        };
        let mut items: Vec<LineItem> = terms
            .items
            .iter()
            .filter(|i| !i.optional || accepted.selected_optional_items.contains(&i.item_id))
            .cloned()
            .map(|mut i| {
                i.optional = false;
                i
            })
            .collect();
        if let Some(h) = &terms.hourly {
            let hours = h.estimated_hours.max(h.minimum_hours);
            let id = Uuid::new_v5(&self.id.unwrap_or_default(), b"hourly-labour");
            items.push(LineItem {
                item_id: id,
                description: format!("Labour: {hours} h at {} per hour", h.rate),
                quantity: hours,
                unit_price: h.rate,
                line_total: h.labour_total,
                category: event_schemas::money::QuoteItemCategory::MovingServices,
                subcategory: Some("labour".into()),
                optional: false,
                sort_order: items
                    .iter()
                    .map(|i| i.sort_order)
                    .max()
                    .unwrap_or(0)
                    .saturating_add(1),
                notes: None,
            });
        }
        items
    }

    /// The total of the accepted revision (selected optional items included).
    pub fn accepted_total(&self) -> Option<Decimal> {
        self.accepted.as_ref().map(|a| a.totals.total)
    }

    pub fn deposits_total(&self) -> Decimal {
        self.deposits.iter().map(|d| d.amount).sum()
    }

    /// A copy of this template's terms as the input of a new draft: new
    /// item ids, the template's name dropped.
    pub fn copy_input(&self, valid_until: NaiveDate) -> Result<QuoteInput, QuoteError> {
        let (Some(id), Some(terms)) = (self.id, &self.terms) else {
            return Err(QuoteError::NotFound);
        };
        if !self.is_template {
            return Err(QuoteError::NotATemplate(id));
        }
        let mut input = input_of(terms);
        input.valid_until = valid_until;
        input.template_name = None;
        for item in &mut input.items {
            item.item_id = None;
        }
        Ok(input)
    }

    fn wrong_status(&self, action: &'static str, allowed: &'static str) -> QuoteError {
        QuoteError::WrongStatus {
            status: self.status(),
            action,
            allowed,
        }
    }

    fn require(
        &self,
        allowed: &[QuoteStatus],
        action: &'static str,
        allowed_text: &'static str,
    ) -> Result<(), QuoteError> {
        if allowed.contains(&self.status()) {
            Ok(())
        } else {
            Err(self.wrong_status(action, allowed_text))
        }
    }

    fn terms(&self) -> &QuoteTerms {
        self.terms.as_ref().expect("a created quote has terms")
    }

    fn draft(cmd: DraftQuote, at: DateTime<Utc>, actor: Uuid) -> Result<QuoteDrafted, QuoteError> {
        let mut v = Validator::new();
        let location_id = cmd
            .location_id
            .as_deref()
            .map(|l| v.check("location_id", values::identifier(l)));
        // Every invalid field is reported at once.
        let draft = match (v.finish(), price(cmd.input, at, cmd.is_template)) {
            (Ok(()), priced) => priced?,
            (Err(mut errors), Err(QuoteError::Invalid(more))) => {
                errors.0.extend(more.0);
                return Err(errors.into());
            }
            (Err(errors), _) => return Err(errors.into()),
        };
        if !cmd.parties.customer_active {
            return Err(QuoteError::CustomerInactive(cmd.parties.customer_id));
        }
        Ok(QuoteDrafted {
            tenant_id: cmd.tenant_id,
            quote_id: cmd.quote_id,
            customer_id: cmd.parties.customer_id,
            lead_id: cmd.parties.lead_id,
            location_id: location_id.flatten(),
            is_template: cmd.is_template,
            copied_from: cmd.copied_from,
            draft,
            created_by: actor,
            created_at: at,
        })
    }

    fn update(&self, cmd: UpdateQuote, at: DateTime<Utc>) -> Result<Vec<QuoteEvent>, QuoteError> {
        self.require(&[QuoteStatus::Draft], "edited", "DRAFT")?;
        let current = self.terms();
        let mut input = input_of(current);
        if let Some(c) = cmd.currency {
            input.currency = Some(c);
        }
        if let Some(d) = cmd.valid_until {
            input.valid_until = d;
        }
        input.terms = cmd.terms.apply_to(input.terms);
        input.notes = cmd.notes.apply_to(input.notes);
        if let Some(p) = cmd.pricing_type {
            input.pricing_type = p;
        }
        let hourly_unchanged = cmd.hourly.is_unchanged();
        input.hourly = cmd.hourly.apply_to(input.hourly);
        // Leaving hourly pricing drops its hours unless new ones were sent.
        if input.pricing_type != PricingType::Hourly && hourly_unchanged {
            input.hourly = None;
        }
        if let Some(p) = cmd.province {
            input.province = p;
        }
        if let Some(e) = cmd.tax_exempt {
            input.tax_exempt = e;
        }
        input.template_name = cmd.template_name.apply_to(input.template_name);
        if let Some(items) = cmd.items {
            input.items = items;
        }
        // A valid-until date that has passed must be moved to edit the draft.
        let draft = price(input, at, self.is_template)?;
        let changed: Vec<String> = [
            ("currency", draft.currency != current.currency),
            ("valid_until", draft.valid_until != current.valid_until),
            ("terms", draft.terms != current.terms),
            ("notes", draft.notes != current.notes),
            ("pricing_type", draft.pricing_type != current.pricing_type),
            ("hourly", draft.hourly != current.hourly),
            ("province", draft.province != current.province),
            ("tax_exempt", draft.tax_exempt != current.tax_exempt),
            (
                "template_name",
                draft.template_name != current.template_name,
            ),
            ("items", draft.items != current.items),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(f, _)| f.to_owned())
        .collect();
        if changed.is_empty() {
            return Ok(vec![]);
        }
        Ok(vec![
            QuoteDraftUpdated {
                draft,
                changed_fields: changed,
            }
            .into(),
        ])
    }

    fn sendable_totals(&self, at: DateTime<Utc>) -> Result<Totals, QuoteError> {
        let terms = self.terms();
        pricing::totals(
            &terms.items,
            &[],
            terms.hourly.as_ref(),
            terms.province,
            at.date_naive(),
            terms.tax_exempt,
        )
        .map_err(|m| tax_error(m).into())
    }

    fn decide(&self, command: QuoteCommand) -> Result<Vec<QuoteEvent>, QuoteError> {
        use QuoteStatus::*;
        let QuoteCommand { at, actor, action } = command;
        if let QuoteAction::Draft(cmd) = action {
            if let Some(id) = self.id {
                return Err(QuoteError::AlreadyExists(id));
            }
            return Ok(vec![Self::draft(cmd, at, actor)?.into()]);
        }
        if !self.is_created() {
            return Err(QuoteError::NotFound);
        }
        let today = at.date_naive();
        let terms = self.terms();
        let template_guard = || {
            if self.is_template {
                Err(QuoteError::IsTemplate)
            } else {
                Ok(())
            }
        };
        Ok(match action {
            QuoteAction::Draft(_) => unreachable!("handled above"),
            QuoteAction::Update(cmd) => self.update(cmd, at)?,
            QuoteAction::Approve => {
                template_guard()?;
                self.require(&[Draft], "approved", "DRAFT")?;
                let totals = self.sendable_totals(at)?;
                vec![
                    QuoteApproved {
                        revision: self.revision,
                        approved_by: actor,
                        approved_at: at,
                        total: totals.total,
                    }
                    .into(),
                ]
            }
            QuoteAction::Send { approval_threshold } => {
                template_guard()?;
                self.require(&[Draft], "sent", "DRAFT")?;
                if terms.valid_until < today {
                    return Err(QuoteError::ValidityPassed(terms.valid_until, "sent"));
                }
                let totals = self.sendable_totals(at)?;
                if let Some(threshold) = approval_threshold.filter(|t| totals.total > *t) {
                    // The approval covers this revision at no more than the
                    // total the manager saw.
                    let approved = self
                        .approved
                        .as_ref()
                        .is_some_and(|a| a.revision == self.revision && a.total >= totals.total);
                    if !approved {
                        return Err(QuoteError::ApprovalRequired {
                            total: totals.total,
                            threshold,
                            revision: self.revision,
                        });
                    }
                }
                vec![
                    QuoteSent {
                        revision: self.revision,
                        sent_by: actor,
                        sent_at: at,
                        totals,
                        approval_threshold,
                    }
                    .into(),
                ]
            }
            QuoteAction::View => match self.status() {
                Viewed => vec![],
                Sent => vec![
                    QuoteViewed {
                        revision: self.revision,
                        viewed_at: at,
                    }
                    .into(),
                ],
                _ => return Err(self.wrong_status("viewed", "SENT")),
            },
            QuoteAction::Accept(cmd) => {
                self.require(&[Sent, Viewed], "accepted", "SENT or VIEWED")?;
                if cmd.revision > self.revision {
                    return Err(ValidationErrors::single(
                        "revision",
                        format!(
                            "revision {} does not exist; the current one is {}",
                            cmd.revision, self.revision
                        ),
                    )
                    .into());
                }
                if cmd.revision != self.revision {
                    return Err(QuoteError::RevisionSuperseded {
                        offered: cmd.revision,
                        current: self.revision,
                    });
                }
                if today > terms.valid_until {
                    return Err(QuoteError::ValidityPassed(terms.valid_until, "accepted"));
                }
                let mut v = Validator::new();
                let name = v.check(
                    "accepted_by_name",
                    values::required_text(&cmd.accepted_by_name, values::MAX_NAME),
                );
                let ip = v.check("accepted_ip", ip_address(cmd.accepted_ip.as_deref()));
                let mut selected = Vec::new();
                for (i, id) in cmd.selected_optional_items.iter().enumerate() {
                    if !terms
                        .items
                        .iter()
                        .any(|it| it.item_id == *id && it.optional)
                    {
                        v.error(
                            &format!("selected_optional_items[{i}]"),
                            "is not an optional item of this quote",
                        );
                    } else if !selected.contains(id) {
                        selected.push(*id);
                    }
                }
                v.finish()?;
                let totals = pricing::totals(
                    &terms.items,
                    &selected,
                    terms.hourly.as_ref(),
                    terms.province,
                    today,
                    terms.tax_exempt,
                )
                .map_err(tax_error)?;
                vec![
                    QuoteAccepted {
                        revision: self.revision,
                        accepted_by_name: name.unwrap_or_default(),
                        accepted_at: at,
                        accepted_ip: ip.flatten(),
                        selected_optional_items: selected,
                        totals,
                        recorded_by: actor,
                    }
                    .into(),
                ]
            }
            QuoteAction::Reject { reason } => {
                self.require(&[Sent, Viewed], "rejected", "SENT or VIEWED")?;
                let reason = values::required_text(&reason, values::MAX_LONG_TEXT)
                    .map_err(|m| ValidationErrors::single("reason", m))?;
                vec![
                    QuoteRejected {
                        revision: self.revision,
                        reason,
                        rejected_at: at,
                    }
                    .into(),
                ]
            }
            QuoteAction::Revise => {
                template_guard()?;
                self.require(
                    &[Sent, Viewed, Rejected, Expired],
                    "revised",
                    "SENT, VIEWED, REJECTED or EXPIRED",
                )?;
                vec![
                    QuoteRevised {
                        from_revision: self.revision,
                        revision: self.revision + 1,
                        revised_by: actor,
                        revised_at: at,
                    }
                    .into(),
                ]
            }
            QuoteAction::Expire { today } => {
                if matches!(self.status(), Sent | Viewed) && terms.valid_until < today {
                    vec![
                        QuoteExpired {
                            revision: self.revision,
                            valid_until: terms.valid_until,
                            expired_at: at,
                        }
                        .into(),
                    ]
                } else {
                    vec![]
                }
            }
            QuoteAction::Convert { journey_id } => {
                self.require(&[Accepted], "converted", "ACCEPTED")?;
                vec![
                    QuoteConverted {
                        journey_id,
                        converted_by: actor,
                        converted_at: at,
                    }
                    .into(),
                ]
            }
            QuoteAction::RecordDeposit(input) => {
                self.require(
                    &[Accepted, Converted],
                    "given a deposit",
                    "ACCEPTED or CONVERTED",
                )?;
                if let Some(invoice) = self.invoice_id {
                    return Err(QuoteError::AlreadyInvoiced(invoice));
                }
                let mut v = Validator::new();
                if self
                    .deposits
                    .iter()
                    .any(|d| d.payment_id == input.payment_id)
                {
                    v.error("payment_id", "was already recorded");
                }
                let payment = sales::payment(&mut v, input, at, actor);
                v.finish()?;
                let payment = payment.expect("validated");
                let total = self.accepted_total().unwrap_or_default();
                let deposits = self.deposits_total() + payment.amount;
                if deposits > total {
                    return Err(QuoteError::DepositExceedsTotal { deposits, total });
                }
                vec![QuoteDepositRecorded { payment }.into()]
            }
            QuoteAction::MarkInvoiced { invoice_id } => {
                self.require(&[Accepted, Converted], "invoiced", "ACCEPTED or CONVERTED")?;
                match self.invoice_id {
                    Some(existing) if existing == invoice_id => vec![],
                    Some(existing) => return Err(QuoteError::AlreadyInvoiced(existing)),
                    None => vec![
                        QuoteInvoiced {
                            invoice_id,
                            invoiced_by: actor,
                            invoiced_at: at,
                        }
                        .into(),
                    ],
                }
            }
        })
    }
}

/// An IPv4 or IPv6 address, as the acceptance came from.
fn ip_address(value: Option<&str>) -> Result<Option<String>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(ip) => ip
            .parse::<std::net::IpAddr>()
            .map(|ip| Some(ip.to_string()))
            .map_err(|_| "must be an IPv4 or IPv6 address".into()),
    }
}

impl Aggregate for Quote {
    const TYPE: &'static str = event_schemas::quote::AGGREGATE_TYPE;
    type Command = QuoteCommand;
    type Event = QuoteEvent;
    type Error = QuoteError;
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
            QuoteEvent::QuoteDrafted(e) => {
                *self = Self {
                    id: Some(e.quote_id),
                    tenant_id: Some(e.tenant_id),
                    customer_id: Some(e.customer_id),
                    lead_id: e.lead_id,
                    location_id: e.location_id,
                    is_template: e.is_template,
                    copied_from: e.copied_from,
                    terms: Some(e.draft),
                    status: Some(QuoteStatus::Draft),
                    revision: 1,
                    created_by: Some(e.created_by),
                    created_at: Some(e.created_at),
                    ..Self::default()
                }
            }
            QuoteEvent::QuoteDraftUpdated(e) => {
                self.terms = Some(e.draft);
                self.approved = None;
            }
            QuoteEvent::QuoteApproved(e) => self.approved = Some(e),
            QuoteEvent::QuoteSent(e) => {
                self.status = Some(QuoteStatus::Sent);
                self.sent_totals = Some(e.totals);
            }
            QuoteEvent::QuoteViewed(_) => self.status = Some(QuoteStatus::Viewed),
            QuoteEvent::QuoteAccepted(e) => {
                self.status = Some(QuoteStatus::Accepted);
                self.accepted = Some(e);
            }
            QuoteEvent::QuoteRejected(e) => {
                self.status = Some(QuoteStatus::Rejected);
                self.rejection_reason = Some(e.reason);
            }
            QuoteEvent::QuoteExpired(_) => self.status = Some(QuoteStatus::Expired),
            QuoteEvent::QuoteRevised(e) => {
                self.status = Some(QuoteStatus::Draft);
                self.revision = e.revision;
                self.approved = None;
                self.sent_totals = None;
                self.rejection_reason = None;
            }
            QuoteEvent::QuoteConverted(e) => {
                self.status = Some(QuoteStatus::Converted);
                self.journey_id = Some(e.journey_id);
            }
            QuoteEvent::QuoteDepositRecorded(e) => self.deposits.push(e.payment),
            QuoteEvent::QuoteInvoiced(e) => self.invoice_id = Some(e.invoice_id),
        }
    }
}
