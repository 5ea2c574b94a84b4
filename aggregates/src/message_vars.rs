//! The built-in variables of a message template, built from the records a
//! message is about: the same shapes as the preview's made-up records
//! ([`crate::template::sample_built_ins`]), so a template that previews
//! well renders with real data. Amounts are decimal strings with two
//! places; dates ISO 8601; a schedule's times also in the tenant's zone.

use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::customer::Customer;
use crate::invoice::Invoice;
use crate::lead::Lead;
use crate::quote::Quote;
use crate::schedule::Schedule;

fn money(amount: rust_decimal::Decimal) -> String {
    format!("{:.2}", amount.round_dp(2))
}

/// `customer`: names, contact details, address.
pub fn customer(c: &Customer) -> Value {
    json!({
        "id": c.id,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "full_name": c.full_name(),
        "email": c.email,
        "phone": c.phone,
        "address": c.address,
    })
}

/// `lead`: its status, source, priority and the move it is about.
pub fn lead(l: &Lead) -> Value {
    json!({
        "id": l.id,
        "status": l.status,
        "priority": l.priority,
        "source": l.source,
        "move_date": l.estimated_move_date,
        "estimated_value": l.estimated_value.map(money),
    })
}

/// `quote`: status, revision, total (as sent, else as drafted), currency,
/// validity; `reference` is the first 8 characters of its id.
pub fn quote(q: &Quote) -> Value {
    let total = q
        .sent_totals
        .as_ref()
        .or(q.terms.as_ref().map(|t| &t.totals))
        .map(|t| money(t.total));
    json!({
        "id": q.id,
        "reference": q.id.map(|id| id.simple().to_string()[..8].to_uppercase()),
        "status": q.status(),
        "revision": q.revision,
        "total": total,
        "currency": q.terms.as_ref().map(|t| t.currency.clone()),
        "valid_until": q.terms.as_ref().map(|t| t.valid_until),
    })
}

/// `invoice`: number, status, total, balance, currency, due date.
pub fn invoice(i: &Invoice) -> Value {
    json!({
        "id": i.id,
        "number": i.invoice_number,
        "status": i.status(),
        "total": money(i.total()),
        "balance": money(i.balance()),
        "currency": i.terms().map(|t| t.currency.clone()),
        "due_date": i.due_date,
    })
}

/// `schedule`: title, type, status, start and end (as given and in the
/// tenant's `zone`).
pub fn schedule(s: &Schedule, zone: Tz) -> Value {
    let Some(c) = &s.created else {
        return Value::Null;
    };
    let local_start = c.starts_at.with_timezone(&zone);
    let local_end = c.ends_at.with_timezone(&zone);
    json!({
        "id": c.schedule_id,
        "title": c.title,
        "type": c.schedule_type,
        "status": s.status,
        "location_id": c.location_id,
        "starts_at": c.starts_at.to_rfc3339(),
        "ends_at": c.ends_at.to_rfc3339(),
        "local_start": local_start.format("%Y-%m-%d %H:%M").to_string(),
        "local_end": local_end.format("%Y-%m-%d %H:%M").to_string(),
        "local_date": local_start.format("%Y-%m-%d").to_string(),
        "local_time": local_start.format("%H:%M").to_string(),
        "time_zone": zone.name(),
    })
}
