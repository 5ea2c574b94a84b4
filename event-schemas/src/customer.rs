//! Events of the `Customer` aggregate.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::common::{Address, TenantId};

/// The aggregate type name stored with every customer event. Changing it
/// orphans every stored event.
pub const AGGREGATE_TYPE: &str = "Customer";

/// A customer was registered. Email and phone are stored normalized
/// (email trimmed, phone in E.164 form); at least one of them is present.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerRegistered {
    pub tenant_id: TenantId,
    pub customer_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub lead_source: Option<String>,
    pub tags: Vec<String>,
    pub preferences: Map<String, Value>,
    pub notes: Option<String>,
}

/// A customer's contact details changed. Carries the complete contact details
/// after the change (not a diff) and the names of the fields that changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerContactDetailsUpdated {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub changed_fields: Vec<String>,
}

/// A customer's profile (lead source, preferences, notes) changed. Carries the
/// complete profile after the change and the names of the changed fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerProfileUpdated {
    pub lead_source: Option<String>,
    pub preferences: Map<String, Value>,
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

crate::event_enum! {
    /// Every event of the `Customer` aggregate.
    CustomerEvent for AGGREGATE_TYPE {
        CustomerRegistered("1.0", "A customer was registered."),
        CustomerContactDetailsUpdated("1.0", "Names, email, phone or address changed (full contact details after the change)."),
        CustomerProfileUpdated("1.0", "Lead source, preferences or notes changed (full profile after the change)."),
        CustomerTagged("1.0", "A tag was added to the customer."),
        CustomerUntagged("1.0", "A tag was removed from the customer."),
        CustomerDeactivated("1.0", "The customer was deactivated; no new leads can be opened for them."),
        CustomerReactivated("1.0", "A deactivated customer was reactivated."),
    }
}
