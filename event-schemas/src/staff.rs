//! Events of the staff directory: the people of a tenant as far as the CRM
//! needs them (the seed's User): who they are, which crew roles they can
//! fill, their home branch and how to reach them. Phone and email are
//! personal data, sealed with the staff member's own data key like a
//! customer's.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;
use crate::customer::SealedValue;

/// The aggregate type name stored with every staff event.
pub const AGGREGATE_TYPE: &str = "StaffMember";

/// The aggregate id of `user_id`'s entry in `tenant`'s directory. Derived
/// from both: a user id (the JWT `sub`) is chosen by the identity provider,
/// and another tenant's entry must never be the same aggregate.
pub fn staff_id(tenant: &TenantId, user_id: Uuid) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6d6f_7665_7273_2d63_726d_2d73_7461_6666);
    Uuid::new_v5(
        &NAMESPACE,
        format!("{}/{user_id}", tenant.as_str()).as_bytes(),
    )
}

crate::common::wire_enum! {
    /// What a person can be on a crew.
    CrewRole {
        Driver => "DRIVER",
        Foreman => "FOREMAN",
        Mover => "MOVER",
    }
}

/// The schema of a personal field: the value in memory, sealed once stored.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum Personal<T> {
    Plain(T),
    Sealed(SealedValue),
}

/// The personal fields of each staff event: sealed when stored.
pub fn personal_fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "StaffMemberAdded" | "StaffMemberUpdated" => &["phone", "email"],
        _ => &[],
    }
}

/// A person was added to the directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StaffMemberAdded {
    pub tenant_id: TenantId,
    /// The person's user id (the JWT `sub`).
    pub user_id: Uuid,
    pub display_name: String,
    pub crew_roles: Vec<CrewRole>,
    pub home_location_id: Option<String>,
    /// E.164.
    #[schemars(with = "Option<Personal<String>>")]
    pub phone: Option<String>,
    #[schemars(with = "Option<Personal<String>>")]
    pub email: Option<String>,
    /// Only active staff can be scheduled.
    pub active: bool,
    pub added_by: Uuid,
    pub added_at: DateTime<Utc>,
}

/// A person's entry changed: the complete entry after the change, and the
/// names of the fields that changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StaffMemberUpdated {
    pub display_name: String,
    pub crew_roles: Vec<CrewRole>,
    pub home_location_id: Option<String>,
    #[schemars(with = "Option<Personal<String>>")]
    pub phone: Option<String>,
    #[schemars(with = "Option<Personal<String>>")]
    pub email: Option<String>,
    pub active: bool,
    pub changed_fields: Vec<String>,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
}

crate::event_enum! {
    /// Every event of a staff member's entry.
    StaffMemberEvent for AGGREGATE_TYPE {
        StaffMemberAdded("1.0", "A person was added to the staff directory (phone and email sealed)."),
        StaffMemberUpdated("1.0", "A person's name, crew roles, home location, phone, email or active flag changed (the complete entry after the change; phone and email sealed)."),
    }
}
