//! A realistic CRM email: a two-page quote with line items, visits and
//! conditionals, and the data it reads.
#![allow(dead_code)]

use serde_json::{Map, Value, json};
use templating::{Escape, Source};

pub const EMAIL_SUBJECT: &str =
    "Your moving quote {{ quote.number }} for {{ job.starts_at|date('%A %e %B') }}";

pub const EMAIL_CONTENT: &str = r#"<html><body style="font-family: Arial, sans-serif">
<p>Dear {{ customer.first_name }} {{ customer.last_name }},</p>
<p>Thank you for asking {{ company.name }} to quote for your move from
<strong>{{ lead.from_address.street }}, {{ lead.from_address.city }}</strong> to
<strong>{{ lead.to_address.street }}, {{ lead.to_address.city }}</strong>.
{% if lead.notes %}You told us: <em>{{ lead.notes }}</em>{% endif %}</p>

<h2>Quote {{ quote.number }} (valid until {{ quote.valid_until|date('%d/%m/%Y') }})</h2>
<table cellpadding="4">
<tr><th>#</th><th>Item</th><th>Qty</th><th>Unit price</th><th>Total</th></tr>
{% for item in quote.items %}
<tr class="{{ loop.cycle('odd', 'even') }}">
  <td>{{ loop.index }}</td>
  <td>{{ item.description }}{% if item.note %} <small>({{ item.note }})</small>{% endif %}</td>
  <td>{{ item.quantity }}</td>
  <td>{{ company.currency }} {{ item.unit_price|money(',') }}</td>
  <td>{{ company.currency }} {{ item.total|money(',') }}</td>
</tr>
{% endfor %}
<tr><td colspan="4">Subtotal</td><td>{{ company.currency }} {{ quote.subtotal|money(',') }}</td></tr>
{% if quote.discount and quote.discount != "0" %}
<tr><td colspan="4">Discount</td><td>-{{ company.currency }} {{ quote.discount|money(',') }}</td></tr>
{% endif %}
<tr><td colspan="4">VAT ({{ quote.vat_rate }}%)</td><td>{{ company.currency }} {{ quote.vat|money(',') }}</td></tr>
<tr><td colspan="4"><strong>Total</strong></td><td><strong>{{ company.currency }} {{ quote.total|money(',') }}</strong></td></tr>
</table>

<h2>Schedule</h2>
<ul>
{% for visit in schedule.visits %}
  <li>{{ visit.kind|title }}: {{ visit.starts_at|date('%A %e %B %Y, %H:%M') }} to {{ visit.ends_at|date('%H:%M') }},
  crew of {{ visit.crew|length }}{% if visit.trucks %} with {{ visit.trucks|join(', ') }}{% endif %}</li>
{% else %}
  <li>We will call you to agree the dates.</li>
{% endfor %}
</ul>

{% if invoice.deposit_due %}
<p>To confirm your booking, please pay the deposit of {{ company.currency }} {{ invoice.deposit|money(',') }}
by {{ invoice.due_date|date('%d %B %Y') }} (reference <code>{{ invoice.number }}</code>).</p>
{% endif %}

<h3>What is included</h3>
<ol>
{% for line in company.terms %}<li>{{ line }}</li>
{% endfor %}</ol>

<p>If anything changes, reply to this email or call {{ company.phone }}.
{% if customer.preferred_contact == "sms" %}We will also text you on {{ customer.phone }} the day before.{% endif %}</p>
<p>Kind regards,<br>{{ manager.name }}<br>{{ company.name }}</p>
</body></html>
"#;

pub fn email() -> Source {
    Source {
        subject: Some(EMAIL_SUBJECT.to_owned()),
        content: EMAIL_CONTENT.to_owned(),
        escape: Escape::Html,
    }
}

pub fn email_data() -> Map<String, Value> {
    let items: Vec<Value> = (1..=12)
        .map(|n| {
            json!({
                "description": format!("Packing materials & labour, room {n}"),
                "note": if n % 3 == 0 { Value::from("fragile <glass>") } else { Value::Null },
                "quantity": n,
                "unit_price": "45.5",
                "total": format!("{}", 45.5 * f64::from(n)),
            })
        })
        .collect();
    let terms: Vec<Value> = (1..=10)
        .map(|n| Value::from(format!("Term {n}: insurance up to £50,000, blankets and wrapping, dismantling and reassembly of furniture.")))
        .collect();
    json!({
        "customer": {"first_name": "Zoë", "last_name": "O'Brien", "phone": "+44 7700 900123", "preferred_contact": "sms"},
        "lead": {
            "from_address": {"street": "12 High Street", "city": "Bristol"},
            "to_address": {"street": "3 Mill Lane", "city": "Bath"},
            "notes": "Piano on the 2nd floor, no lift"
        },
        "quote": {
            "number": "Q-2025-0042", "valid_until": "2025-07-01", "items": items,
            "subtotal": "3549", "discount": "100", "vat_rate": 20, "vat": "689.8", "total": "4138.8"
        },
        "schedule": {"visits": [
            {"kind": "survey", "starts_at": "2025-06-10T09:00:00+01:00", "ends_at": "2025-06-10T10:00:00+01:00", "crew": ["Sam"], "trucks": []},
            {"kind": "packing", "starts_at": "2025-06-14T08:00:00+01:00", "ends_at": "2025-06-14T17:00:00+01:00", "crew": ["Sam", "Alex", "Jo"], "trucks": ["Van 2"]},
            {"kind": "move", "starts_at": "2025-06-15T07:30:00+01:00", "ends_at": "2025-06-15T18:00:00+01:00", "crew": ["Sam", "Alex", "Jo", "Kim"], "trucks": ["Truck 1", "Van 2"]}
        ]},
        "invoice": {"deposit_due": true, "deposit": "500", "due_date": "2025-06-05", "number": "INV-1001"},
        "job": {"starts_at": "2025-06-15T07:30:00+01:00"},
        "company": {"name": "Swift Movers Ltd", "currency": "£", "phone": "0117 496 0000", "terms": terms},
        "manager": {"name": "Pat Smith"}
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}
