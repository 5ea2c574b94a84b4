//! Events of the `Customer` aggregate.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::common::{Address, TenantId};

/// The aggregate type name stored with every customer event. Changing it
/// orphans every stored event.
pub const AGGREGATE_TYPE: &str = "Customer";

/// Personal data: sealed in the stored and published form (version 2.0).
///
/// The schema of a personal field: the value itself in memory (and in
/// version 1.0 events), or a sealed object once stored.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum Personal<T> {
    Plain(T),
    Sealed(SealedValue),
}

/// A personal value sealed with the customer's data key (AES-256-GCM; the
/// associated data is `<aggregate type>:<aggregate id>:<sequence>:<field>`).
/// Once the customer is forgotten it cannot be opened any more.
#[derive(JsonSchema, Serialize, Deserialize)]
#[allow(dead_code)]
pub struct SealedValue {
    #[serde(rename = "$sealed")]
    pub algorithm: String,
    /// Base64 nonce (96 bits).
    pub n: String,
    /// Base64 ciphertext with its tag.
    pub c: String,
}

/// The personal fields of each customer event: sealed when stored.
pub fn personal_fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "CustomerRegistered" => &[
            "first_name",
            "last_name",
            "email",
            "phone",
            "address",
            "notes",
        ],
        "CustomerContactDetailsUpdated" => {
            &["first_name", "last_name", "email", "phone", "address"]
        }
        "CustomerProfileUpdated" => &["notes"],
        _ => &[],
    }
}

/// Personal fields a forgotten customer still needs a text for.
pub const ERASABLE_NAMES: &[&str] = &["first_name", "last_name"];

/// A customer was registered. Email and phone are stored normalized
/// (email trimmed, phone in E.164 form); at least one of them is present.
/// Stored form (2.0): personal fields sealed, plus `email_index` and
/// `phone_index`, keyed blind indexes (HMAC-SHA-256) for uniqueness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerRegistered {
    pub tenant_id: TenantId,
    pub customer_id: Uuid,
    #[schemars(with = "Personal<String>")]
    pub first_name: String,
    #[schemars(with = "Personal<String>")]
    pub last_name: String,
    #[schemars(with = "Option<Personal<String>>")]
    pub email: Option<String>,
    #[schemars(with = "Option<Personal<String>>")]
    pub phone: Option<String>,
    #[schemars(with = "Option<Personal<Address>>")]
    pub address: Option<Address>,
    pub lead_source: Option<String>,
    pub tags: Vec<String>,
    pub preferences: Map<String, Value>,
    #[schemars(with = "Option<Personal<String>>")]
    pub notes: Option<String>,
}

/// A customer's contact details changed. Carries the complete contact details
/// after the change (not a diff) and the names of the fields that changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerContactDetailsUpdated {
    #[schemars(with = "Personal<String>")]
    pub first_name: String,
    #[schemars(with = "Personal<String>")]
    pub last_name: String,
    #[schemars(with = "Option<Personal<String>>")]
    pub email: Option<String>,
    #[schemars(with = "Option<Personal<String>>")]
    pub phone: Option<String>,
    #[schemars(with = "Option<Personal<Address>>")]
    pub address: Option<Address>,
    pub changed_fields: Vec<String>,
}

/// A customer's profile (lead source, preferences, notes) changed. Carries the
/// complete profile after the change and the names of the changed fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerProfileUpdated {
    pub lead_source: Option<String>,
    pub preferences: Map<String, Value>,
    #[schemars(with = "Option<Personal<String>>")]
    pub notes: Option<String>,
    pub changed_fields: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerTagged {
    pub tag: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerUntagged {
    pub tag: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerDeactivated {
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerReactivated {}

/// The customer agreed to receive messages on a channel (Canada's
/// anti-spam law, CASL): express (they asked) or implied (an existing
/// business relationship, which lapses: `expires_on`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerConsentRecorded {
    pub channel: crate::communication::CommunicationType,
    pub kind: crate::communication::ConsentKind,
    /// When the customer gave it.
    pub given_on: chrono::NaiveDate,
    /// Where: a web form, a signed quote, a phone call … (no personal data).
    pub source: String,
    /// The last day it holds (implied consent lapses); none: until withdrawn.
    pub expires_on: Option<chrono::NaiveDate>,
}

/// The customer withdrew consent on a channel: no marketing message is sent
/// there until a new consent is recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerUnsubscribed {
    pub channel: crate::communication::CommunicationType,
    pub source: crate::communication::UnsubscribeSource,
    /// The message whose link or header was used.
    pub communication_id: Option<Uuid>,
}

/// The customer's personal data was forgotten: their data key is destroyed
/// in the same transaction, so no personal field of any of their events can
/// be read again; amounts, dates and the rest of the history stay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerForgotten {
    /// Why (e.g. the customer's erasure request); must not itself hold personal data.
    pub reason: String,
}

crate::event_enum! {
    /// Every event of the `Customer` aggregate.
    CustomerEvent for AGGREGATE_TYPE {
        CustomerRegistered("2.0", "A customer was registered (personal fields sealed; blind indexes of email and phone)."),
        CustomerContactDetailsUpdated("2.0", "Names, email, phone or address changed (full contact details after the change; personal fields sealed)."),
        CustomerProfileUpdated("2.0", "Lead source, preferences or notes changed (full profile after the change; notes sealed)."),
        CustomerTagged("1.0", "A tag was added to the customer."),
        CustomerUntagged("1.0", "A tag was removed from the customer."),
        CustomerDeactivated("1.0", "The customer was deactivated; no new leads can be opened for them."),
        CustomerReactivated("1.0", "A deactivated customer was reactivated."),
        CustomerConsentRecorded("1.0", "The customer's consent to messages on a channel was recorded (express or implied, the date given, the source, when it lapses)."),
        CustomerUnsubscribed("1.0", "The customer withdrew consent on a channel (the unsubscribe link, one-click List-Unsubscribe, or a request)."),
        CustomerForgotten("1.0", "The customer's personal data was forgotten: their data key is destroyed."),
    }
}
