//! Shared vocabulary of quotes, invoices and the ledger: line items, tax
//! lines, totals, provinces, payment methods. Every amount is a
//! `rust_decimal::Decimal` serialized as a string (`"1234.50"`).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::common::wire_enum! {
    /// The seed's `QuoteItemCategory`.
    QuoteItemCategory {
        MovingServices => "MOVING_SERVICES",
        StorageServices => "STORAGE_SERVICES",
        PackingServices => "PACKING_SERVICES",
        SpecialtyServices => "SPECIALTY_SERVICES",
        EquipmentRental => "EQUIPMENT_RENTAL",
        Insurance => "INSURANCE",
        Other => "OTHER",
    }
}

crate::common::wire_enum! {
    /// How a quote's price binds the mover.
    PricingType {
        /// The price is final.
        Binding => "BINDING",
        /// An estimate; the final bill may differ.
        NonBinding => "NON_BINDING",
        /// The final bill may be lower but never higher than the quote.
        NotToExceed => "NOT_TO_EXCEED",
        /// Hourly rate × estimated hours (at least the minimum hours), plus items.
        Hourly => "HOURLY",
    }
}

crate::common::wire_enum! {
    /// The seed's `QuoteStatus`.
    QuoteStatus {
        Draft => "DRAFT",
        Sent => "SENT",
        Viewed => "VIEWED",
        Accepted => "ACCEPTED",
        Rejected => "REJECTED",
        Expired => "EXPIRED",
        Converted => "CONVERTED",
    }
}

crate::common::wire_enum! {
    /// The seed's `InvoiceStatus`. Issued invoices take theirs from the
    /// amounts: see `aggregates::invoice`.
    InvoiceStatus {
        Draft => "DRAFT",
        Sent => "SENT",
        Viewed => "VIEWED",
        PartialPaid => "PARTIAL_PAID",
        Paid => "PAID",
        Overdue => "OVERDUE",
        Cancelled => "CANCELLED",
        Refunded => "REFUNDED",
    }
}

crate::common::wire_enum! {
    /// The seed's `PaymentMethod`.
    PaymentMethod {
        Cash => "CASH",
        Check => "CHECK",
        BankTransfer => "BANK_TRANSFER",
        CreditCard => "CREDIT_CARD",
        DebitCard => "DEBIT_CARD",
        Paypal => "PAYPAL",
        Stripe => "STRIPE",
        Square => "SQUARE",
        Other => "OTHER",
    }
}

crate::common::wire_enum! {
    /// A Canadian province or territory: where the service is supplied, which
    /// picks the sales taxes.
    Province {
        Ab => "AB",
        Bc => "BC",
        Mb => "MB",
        Nb => "NB",
        Nl => "NL",
        Ns => "NS",
        Nt => "NT",
        Nu => "NU",
        On => "ON",
        Pe => "PE",
        Qc => "QC",
        Sk => "SK",
        Yt => "YT",
    }
}

crate::common::wire_enum! {
    /// A sales-tax component.
    TaxCode {
        /// Federal Goods and Services Tax.
        Gst => "GST",
        /// Harmonized Sales Tax (federal + provincial in one).
        Hst => "HST",
        /// Provincial Sales Tax (BC, SK).
        Pst => "PST",
        /// Manitoba's Retail Sales Tax.
        Rst => "RST",
        /// Québec Sales Tax.
        Qst => "QST",
    }
}

crate::common::wire_enum! {
    /// The seed's `TransactionType` (of `FinancialTransaction`).
    FinancialTransactionType {
        Income => "INCOME",
        Expense => "EXPENSE",
        Transfer => "TRANSFER",
        Adjustment => "ADJUSTMENT",
    }
}

crate::common::wire_enum! {
    /// How often a recurring invoice repeats.
    RecurringInterval {
        Weekly => "WEEKLY",
        Monthly => "MONTHLY",
        Quarterly => "QUARTERLY",
        Yearly => "YEARLY",
    }
}

/// One line of a quote or invoice. `line_total` = round(quantity × unit
/// price, 2), half-up; computed by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    pub item_id: Uuid,
    pub description: String,
    #[schemars(with = "String")]
    pub quantity: Decimal,
    #[schemars(with = "String")]
    pub unit_price: Decimal,
    #[schemars(with = "String")]
    pub line_total: Decimal,
    pub category: QuoteItemCategory,
    pub subcategory: Option<String>,
    /// Listed, but counted only when the customer selects it on acceptance.
    pub optional: bool,
    pub sort_order: i32,
    pub notes: Option<String>,
}

/// One tax component: its rate (a fraction: `0.13`), the amount it was
/// charged on, and the amount (rounded half-up to the cent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaxLine {
    pub code: TaxCode,
    #[schemars(with = "String")]
    pub rate: Decimal,
    #[schemars(with = "String")]
    pub taxable: Decimal,
    #[schemars(with = "String")]
    pub amount: Decimal,
}

/// Hourly pricing: `labour_total` = round(rate × max(estimated, minimum) hours, 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HourlyPricing {
    #[schemars(with = "String")]
    pub rate: Decimal,
    #[schemars(with = "String")]
    pub estimated_hours: Decimal,
    #[schemars(with = "String")]
    pub minimum_hours: Decimal,
    #[schemars(with = "String")]
    pub labour_total: Decimal,
}

/// Server-computed totals: `total = subtotal + Σ tax_lines.amount`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Totals {
    #[schemars(with = "String")]
    pub subtotal: Decimal,
    pub tax_lines: Vec<TaxLine>,
    #[schemars(with = "String")]
    pub tax_total: Decimal,
    #[schemars(with = "String")]
    pub total: Decimal,
    /// The date whose tax rates were used.
    pub tax_date: Option<NaiveDate>,
}

/// A payment's details as recorded (the seed's `Payment`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentDetails {
    pub payment_id: Uuid,
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub method: PaymentMethod,
    pub transaction_id: Option<String>,
    /// Stripe, PayPal, Square, …
    pub gateway: Option<String>,
    /// The gateway's response, as it sent it.
    pub gateway_data: Option<serde_json::Value>,
    #[schemars(with = "Option<String>")]
    pub processing_fee: Option<Decimal>,
    pub receipt_url: Option<String>,
    pub notes: Option<String>,
    pub received_at: DateTime<Utc>,
    pub recorded_by: Uuid,
}
