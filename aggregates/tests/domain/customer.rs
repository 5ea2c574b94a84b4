//! Given/when/then tests of the `Customer` aggregate through its public API.

use std::collections::BTreeSet;

use aggregates::customer::{
    Customer, CustomerCommand, CustomerError, RegisterCustomer, UpdateCustomer,
};
use aggregates::values::AddressInput;
use aggregates::{DomainError, ErrorKind, FieldError, Patch, TenantOwned, ValidationErrors};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::customer::{
    CustomerContactDetailsUpdated, CustomerDeactivated, CustomerEvent, CustomerForgotten,
    CustomerProfileUpdated, CustomerReactivated, CustomerRegistered, CustomerTagged,
    CustomerUntagged,
};
use event_schemas::{Address, TenantId};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use uuid::Uuid;

const CUSTOMER_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0001);
const OTHER_CUSTOMER_ID: Uuid = Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0002);
const CONTACT_REQUIRED: &str = "a customer needs an email or a phone number";

// ---------------------------------------------------------------- helpers

fn tenant() -> TenantId {
    TenantId::parse("acme-movers").expect("valid tenant id")
}

fn customer() -> TestFramework<Customer> {
    TestFramework::with(())
}

fn invalid(field: &str, message: &str) -> CustomerError {
    CustomerError::Invalid(ValidationErrors::single(field, message))
}

/// The field names of an `Invalid` rejection, in the order they were reported.
fn rejected_fields(result: Result<Vec<CustomerEvent>, CustomerError>) -> Vec<String> {
    match result {
        Err(CustomerError::Invalid(errors)) => errors.fields().map(str::to_owned).collect(),
        other => panic!("expected CustomerError::Invalid, got {other:?}"),
    }
}

fn prefs(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("preferences must be a JSON object, got {other}"),
    }
}

/// A minimal, valid registration: names and an email only.
fn register_jane() -> RegisterCustomer {
    RegisterCustomer {
        customer_id: CUSTOMER_ID,
        tenant_id: tenant(),
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: Some("jane.doe@example.com".into()),
        phone: None,
        address: None,
        lead_source: None,
        tags: vec![],
        preferences: Map::new(),
        notes: None,
    }
}

fn montreal_address_input() -> AddressInput {
    AddressInput {
        line1: " 123 Rue Principale ".into(),
        line2: Some("  ".into()),
        city: "Montréal".into(),
        province: Some("qc".into()),
        postal_code: "h2x1y4".into(),
        country: None,
    }
}

fn montreal_address() -> Address {
    Address {
        line1: "123 Rue Principale".into(),
        line2: None,
        city: "Montréal".into(),
        province: "QC".into(),
        postal_code: "H2X 1Y4".into(),
        country: "CA".into(),
    }
}

fn quebec_city_address() -> Address {
    Address {
        line1: "500 Grande Allée Est".into(),
        line2: Some("Apt 4".into()),
        city: "Québec".into(),
        province: "QC".into(),
        postal_code: "G1R 2J5".into(),
        country: "CA".into(),
    }
}

/// The registration every "given an existing customer" test starts from,
/// spelled out with already-normalized values.
fn jane_registered() -> CustomerRegistered {
    CustomerRegistered {
        tenant_id: tenant(),
        customer_id: CUSTOMER_ID,
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: Some("jane.doe@example.com".into()),
        phone: Some("+15145550123".into()),
        address: Some(montreal_address()),
        lead_source: Some("website".into()),
        tags: vec!["vip".into()],
        preferences: prefs(json!({"language": "fr"})),
        notes: Some("Has a piano".into()),
    }
}

fn given_jane() -> Vec<CustomerEvent> {
    vec![jane_registered().into()]
}

fn given_jane_with(more: Vec<CustomerEvent>) -> Vec<CustomerEvent> {
    let mut events = given_jane();
    events.extend(more);
    events
}

/// The contact details of `jane_registered`, to be tweaked per test.
fn jane_contact_details(changed_fields: &[&str]) -> CustomerContactDetailsUpdated {
    let jane = jane_registered();
    CustomerContactDetailsUpdated {
        first_name: jane.first_name,
        last_name: jane.last_name,
        email: jane.email,
        phone: jane.phone,
        address: jane.address,
        changed_fields: changed_fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

/// The profile of `jane_registered`, to be tweaked per test.
fn jane_profile(changed_fields: &[&str]) -> CustomerProfileUpdated {
    let jane = jane_registered();
    CustomerProfileUpdated {
        lead_source: jane.lead_source,
        preferences: jane.preferences,
        notes: jane.notes,
        changed_fields: changed_fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

fn state_after(events: Vec<CustomerEvent>) -> Customer {
    let mut customer = Customer::default();
    for event in events {
        customer.apply(event);
    }
    customer
}

// ---------------------------------------------------------------- Register

#[test]
fn registering_a_customer_records_normalized_contact_details() {
    let command = RegisterCustomer {
        first_name: "  Jane ".into(),
        last_name: " Doe".into(),
        email: Some("  Jane.Doe@Example.COM ".into()),
        phone: Some("(514) 555-0123".into()),
        address: Some(montreal_address_input()),
        lead_source: Some("  website ".into()),
        tags: vec!["  VIP ".into(), "vip".into(), "Fragile Items".into()],
        preferences: prefs(json!({"language": "fr"})),
        notes: Some("   ".into()),
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_events(vec![
            CustomerRegistered {
                tenant_id: tenant(),
                customer_id: CUSTOMER_ID,
                first_name: "Jane".into(),
                last_name: "Doe".into(),
                // The local part keeps its case, the domain is lowercased.
                email: Some("Jane.Doe@example.com".into()),
                phone: Some("+15145550123".into()),
                address: Some(montreal_address()),
                lead_source: Some("website".into()),
                // Lowercased, deduplicated and sorted.
                tags: vec!["fragile items".into(), "vip".into()],
                preferences: prefs(json!({"language": "fr"})),
                notes: None,
            }
            .into(),
        ]);
}

#[test]
fn registering_with_only_a_phone_number_is_accepted() {
    let command = RegisterCustomer {
        email: None,
        phone: Some("1-514-555-0123".into()),
        ..register_jane()
    };
    let events = customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .inspect_result()
        .expect("a phone alone is enough");
    let [CustomerEvent::CustomerRegistered(registered)] = events.as_slice() else {
        panic!("expected one CustomerRegistered, got {events:?}");
    };
    assert_eq!(registered.email, None);
    assert_eq!(registered.phone.as_deref(), Some("+15145550123"));
}

#[test]
fn registering_with_only_an_email_is_accepted() {
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(register_jane()))
        .then_expect_events(vec![
            CustomerRegistered {
                tenant_id: tenant(),
                customer_id: CUSTOMER_ID,
                first_name: "Jane".into(),
                last_name: "Doe".into(),
                email: Some("jane.doe@example.com".into()),
                phone: None,
                address: None,
                lead_source: None,
                tags: vec![],
                preferences: Map::new(),
                notes: None,
            }
            .into(),
        ]);
}

#[test]
fn registering_an_international_number_keeps_its_country_code() {
    let command = RegisterCustomer {
        email: None,
        phone: Some("+44 20 7946 0958".into()),
        ..register_jane()
    };
    let events = customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .inspect_result()
        .expect("valid E.164 number");
    let [CustomerEvent::CustomerRegistered(registered)] = events.as_slice() else {
        panic!("expected one CustomerRegistered, got {events:?}");
    };
    assert_eq!(registered.phone.as_deref(), Some("+442079460958"));
}

#[test]
fn registering_without_email_or_phone_is_rejected() {
    let command = RegisterCustomer {
        email: None,
        phone: None,
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(invalid("email", CONTACT_REQUIRED));
}

#[test]
fn registering_with_blank_email_and_phone_counts_as_no_contact() {
    let command = RegisterCustomer {
        email: Some("   ".into()),
        phone: Some("".into()),
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(invalid("email", CONTACT_REQUIRED));
}

#[test]
fn registering_with_a_malformed_email_names_the_email_field() {
    let command = RegisterCustomer {
        email: Some("jane@example".into()),
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(invalid(
            "email",
            "must be an email address like name@example.com",
        ));
}

#[test]
fn registering_with_a_malformed_phone_names_the_phone_field_even_when_an_email_is_given() {
    let command = RegisterCustomer {
        phone: Some("555-0123".into()),
        ..register_jane()
    };
    let fields = rejected_fields(
        customer()
            .given_no_previous_events()
            .when(CustomerCommand::Register(command))
            .inspect_result(),
    );
    assert_eq!(fields, ["phone"]);
}

#[test]
fn registering_an_eleven_digit_number_that_does_not_start_with_one_is_rejected() {
    let command = RegisterCustomer {
        email: None,
        phone: Some("2-514-555-0123".into()),
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(invalid(
            "phone",
            "must be a 10-digit North American number or start with + and the country code",
        ));
}

#[test]
fn registering_with_a_bad_email_and_a_bad_phone_reports_both_but_not_the_contact_rule() {
    let command = RegisterCustomer {
        email: Some("jane@@example.com".into()),
        phone: Some("(014) 555-0123".into()),
        ..register_jane()
    };
    let fields = rejected_fields(
        customer()
            .given_no_previous_events()
            .when(CustomerCommand::Register(command))
            .inspect_result(),
    );
    assert_eq!(fields, ["email", "phone"]);
}

#[test]
fn registering_with_blank_names_reports_every_name_field() {
    let command = RegisterCustomer {
        first_name: "  ".into(),
        last_name: "".into(),
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(CustomerError::Invalid(ValidationErrors(vec![
            FieldError {
                field: "first_name".into(),
                message: "must not be empty".into(),
            },
            FieldError {
                field: "last_name".into(),
                message: "must not be empty".into(),
            },
        ])));
}

#[test]
fn registering_with_a_name_longer_than_100_characters_is_rejected() {
    let command = RegisterCustomer {
        last_name: "x".repeat(101),
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(invalid("last_name", "must be at most 100 characters"));
}

#[test]
fn registering_with_a_blank_name_and_no_contact_reports_both_problems() {
    let command = RegisterCustomer {
        first_name: "".into(),
        email: None,
        phone: None,
        ..register_jane()
    };
    let fields = rejected_fields(
        customer()
            .given_no_previous_events()
            .when(CustomerCommand::Register(command))
            .inspect_result(),
    );
    assert_eq!(fields, ["first_name", "email"]);
}

#[test]
fn registering_with_an_invalid_canadian_address_names_the_nested_fields() {
    let command = RegisterCustomer {
        address: Some(AddressInput {
            province: Some("XX".into()),
            postal_code: "D1A 1A1".into(),
            ..montreal_address_input()
        }),
        ..register_jane()
    };
    let fields = rejected_fields(
        customer()
            .given_no_previous_events()
            .when(CustomerCommand::Register(command))
            .inspect_result(),
    );
    assert_eq!(fields, ["address.province", "address.postal_code"]);
}

#[test]
fn registering_with_an_address_missing_its_street_and_city_names_both() {
    let command = RegisterCustomer {
        address: Some(AddressInput {
            line1: " ".into(),
            city: "".into(),
            ..montreal_address_input()
        }),
        ..register_jane()
    };
    let fields = rejected_fields(
        customer()
            .given_no_previous_events()
            .when(CustomerCommand::Register(command))
            .inspect_result(),
    );
    assert_eq!(fields, ["address.line1", "address.city"]);
}

#[test]
fn registering_with_a_bad_postal_code_only_names_address_postal_code() {
    let command = RegisterCustomer {
        address: Some(AddressInput {
            postal_code: "H2X 1Y".into(),
            ..montreal_address_input()
        }),
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(invalid(
            "address.postal_code",
            "must be a Canadian postal code like H2X 1Y4",
        ));
}

#[test]
fn registering_with_a_foreign_address_uppercases_the_country_and_keeps_the_zip() {
    let command = RegisterCustomer {
        address: Some(AddressInput {
            line1: "1 Main St".into(),
            line2: None,
            city: "Burlington".into(),
            province: Some("VT".into()),
            postal_code: "05401".into(),
            country: Some("us".into()),
        }),
        ..register_jane()
    };
    let events = customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .inspect_result()
        .expect("a US address is valid");
    let [CustomerEvent::CustomerRegistered(registered)] = events.as_slice() else {
        panic!("expected one CustomerRegistered, got {events:?}");
    };
    assert_eq!(
        registered.address,
        Some(Address {
            line1: "1 Main St".into(),
            line2: None,
            city: "Burlington".into(),
            province: "VT".into(),
            postal_code: "05401".into(),
            country: "US".into(),
        })
    );
}

#[test]
fn registering_with_an_invalid_tag_names_its_position() {
    let command = RegisterCustomer {
        tags: vec!["vip".into(), "a;b".into()],
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(invalid(
            "tags[1]",
            "may contain only letters, digits, spaces, '-' and '_'",
        ));
}

#[test]
fn registering_with_more_than_fifty_distinct_tags_is_rejected() {
    let command = RegisterCustomer {
        tags: (0..51).map(|i| format!("tag-{i}")).collect(),
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(invalid("tags", "must have at most 50 tags"));
}

#[test]
fn registering_with_fifty_distinct_tags_and_duplicates_is_accepted() {
    let mut tags: Vec<String> = (0..50).map(|i| format!("tag-{i:02}")).collect();
    tags.extend((0..10).map(|i| format!("TAG-{i:02}")));
    let command = RegisterCustomer {
        tags,
        ..register_jane()
    };
    let events = customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .inspect_result()
        .expect("duplicates do not count towards the limit");
    let [CustomerEvent::CustomerRegistered(registered)] = events.as_slice() else {
        panic!("expected one CustomerRegistered, got {events:?}");
    };
    assert_eq!(registered.tags.len(), 50);
}

#[test]
fn registering_with_oversized_preferences_is_rejected() {
    let command = RegisterCustomer {
        preferences: prefs(json!({"blob": "x".repeat(17 * 1024)})),
        ..register_jane()
    };
    customer()
        .given_no_previous_events()
        .when(CustomerCommand::Register(command))
        .then_expect_error(invalid(
            "preferences",
            "must be at most 16384 bytes of JSON",
        ));
}

#[test]
fn registering_a_customer_twice_is_rejected_with_the_existing_id() {
    let command = RegisterCustomer {
        customer_id: OTHER_CUSTOMER_ID,
        ..register_jane()
    };
    customer()
        .given(given_jane())
        .when(CustomerCommand::Register(command))
        .then_expect_error(CustomerError::AlreadyRegistered(CUSTOMER_ID));
}

#[test]
fn a_registered_customer_is_active_and_owned_by_its_tenant() {
    let jane = state_after(given_jane());
    assert!(jane.is_registered());
    assert!(jane.active);
    assert_eq!(jane.tenant(), Some(&tenant()));
    assert_eq!(jane.full_name(), "Jane Doe");
    assert_eq!(jane.tags, BTreeSet::from(["vip".to_owned()]));
    assert_eq!(Customer::default().tenant(), None);
}

// ---------------------------------------------------------------- not found

#[test]
fn every_command_but_register_on_an_unknown_customer_is_not_found() {
    let commands = [
        CustomerCommand::Update(UpdateCustomer {
            first_name: Some("Janet".into()),
            ..UpdateCustomer::default()
        }),
        CustomerCommand::Tag { tag: "vip".into() },
        CustomerCommand::Untag { tag: "vip".into() },
        CustomerCommand::Deactivate { reason: None },
        CustomerCommand::Reactivate,
    ];
    for command in commands {
        let result = customer()
            .given_no_previous_events()
            .when(command.clone())
            .inspect_result();
        assert_eq!(result, Err(CustomerError::NotFound), "{command:?}");
    }
}

// ---------------------------------------------------------------- Update

#[test]
fn updating_only_the_phone_emits_contact_details_updated_with_the_normalized_number() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            phone: Patch::Set("438.555.0199".into()),
            ..UpdateCustomer::default()
        }))
        .then_expect_events(vec![
            CustomerContactDetailsUpdated {
                phone: Some("+14385550199".into()),
                ..jane_contact_details(&["phone"])
            }
            .into(),
        ]);
}

#[test]
fn updating_only_the_notes_emits_profile_updated() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            notes: Patch::Set("  Piano and a pool table ".into()),
            ..UpdateCustomer::default()
        }))
        .then_expect_events(vec![
            CustomerProfileUpdated {
                notes: Some("Piano and a pool table".into()),
                ..jane_profile(&["notes"])
            }
            .into(),
        ]);
}

#[test]
fn updating_contact_and_profile_fields_emits_both_events_in_order() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            first_name: Some("Janet".into()),
            email: Patch::Set("janet@Example.org".into()),
            address: Patch::Set(AddressInput {
                line1: "500 Grande Allée Est".into(),
                line2: Some("Apt 4".into()),
                city: "Québec".into(),
                province: Some("QC".into()),
                postal_code: "g1r 2j5".into(),
                country: Some("ca".into()),
            }),
            lead_source: Patch::Clear,
            preferences: Some(prefs(json!({"language": "en", "stairs": 3}))),
            ..UpdateCustomer::default()
        }))
        .then_expect_events(vec![
            CustomerContactDetailsUpdated {
                first_name: "Janet".into(),
                email: Some("janet@example.org".into()),
                address: Some(quebec_city_address()),
                ..jane_contact_details(&["first_name", "email", "address"])
            }
            .into(),
            CustomerProfileUpdated {
                lead_source: None,
                preferences: prefs(json!({"language": "en", "stairs": 3})),
                ..jane_profile(&["lead_source", "preferences"])
            }
            .into(),
        ]);
}

#[test]
fn an_empty_update_emits_nothing() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer::default()))
        .then_expect_events(vec![]);
}

#[test]
fn an_update_that_restates_the_current_values_emits_nothing() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            first_name: Some(" Jane ".into()),
            last_name: Some("Doe".into()),
            // Same address once the domain is lowercased.
            email: Patch::Set("jane.doe@EXAMPLE.com".into()),
            // Same number once normalized.
            phone: Patch::Set("(514) 555-0123".into()),
            address: Patch::Set(montreal_address_input()),
            lead_source: Patch::Set("website".into()),
            preferences: Some(prefs(json!({"language": "fr"}))),
            notes: Patch::Set("Has a piano ".into()),
        }))
        .then_expect_events(vec![]);
}

#[test]
fn clearing_the_email_while_a_phone_remains_is_accepted() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            email: Patch::Clear,
            ..UpdateCustomer::default()
        }))
        .then_expect_events(vec![
            CustomerContactDetailsUpdated {
                email: None,
                ..jane_contact_details(&["email"])
            }
            .into(),
        ]);
}

#[test]
fn setting_the_email_to_blank_clears_it() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            email: Patch::Set("  ".into()),
            ..UpdateCustomer::default()
        }))
        .then_expect_events(vec![
            CustomerContactDetailsUpdated {
                email: None,
                ..jane_contact_details(&["email"])
            }
            .into(),
        ]);
}

#[test]
fn clearing_both_email_and_phone_is_rejected_on_the_email_field() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            email: Patch::Clear,
            phone: Patch::Clear,
            ..UpdateCustomer::default()
        }))
        .then_expect_error(invalid("email", CONTACT_REQUIRED));
}

#[test]
fn clearing_the_only_phone_of_a_customer_without_email_is_rejected_on_the_phone_field() {
    let phone_only = CustomerRegistered {
        email: None,
        ..jane_registered()
    };
    customer()
        .given(vec![phone_only.into()])
        .when(CustomerCommand::Update(UpdateCustomer {
            phone: Patch::Clear,
            ..UpdateCustomer::default()
        }))
        .then_expect_error(invalid("phone", CONTACT_REQUIRED));
}

#[test]
fn clearing_the_email_after_the_phone_was_removed_is_rejected() {
    customer()
        .given(given_jane_with(vec![
            CustomerContactDetailsUpdated {
                phone: None,
                ..jane_contact_details(&["phone"])
            }
            .into(),
        ]))
        .when(CustomerCommand::Update(UpdateCustomer {
            email: Patch::Clear,
            ..UpdateCustomer::default()
        }))
        .then_expect_error(invalid("email", CONTACT_REQUIRED));
}

#[test]
fn updating_with_a_malformed_email_is_rejected() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            email: Patch::Set("jane.doe.example.com".into()),
            ..UpdateCustomer::default()
        }))
        .then_expect_error(invalid(
            "email",
            "must be an email address like name@example.com",
        ));
}

#[test]
fn updating_with_a_blank_first_name_is_rejected() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            first_name: Some(" ".into()),
            ..UpdateCustomer::default()
        }))
        .then_expect_error(invalid("first_name", "must not be empty"));
}

#[test]
fn updating_with_a_country_that_is_not_an_iso_code_names_address_country() {
    let result = customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            address: Patch::Set(AddressInput {
                postal_code: "Z1A 1A1".into(),
                country: Some("Canada".into()),
                ..montreal_address_input()
            }),
            ..UpdateCustomer::default()
        }))
        .inspect_result();
    // An unknown country is reported; the province and postal code are then
    // checked by the generic rules and pass.
    assert_eq!(rejected_fields(result), ["address.country"]);
}

#[test]
fn updating_with_a_bad_canadian_postal_code_names_address_postal_code() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            address: Patch::Set(AddressInput {
                postal_code: "W1A 1A1".into(),
                ..montreal_address_input()
            }),
            ..UpdateCustomer::default()
        }))
        .then_expect_error(invalid(
            "address.postal_code",
            "must be a Canadian postal code like H2X 1Y4",
        ));
}

#[test]
fn clearing_the_address_and_notes_emits_both_events() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            address: Patch::Clear,
            notes: Patch::Clear,
            ..UpdateCustomer::default()
        }))
        .then_expect_events(vec![
            CustomerContactDetailsUpdated {
                address: None,
                ..jane_contact_details(&["address"])
            }
            .into(),
            CustomerProfileUpdated {
                notes: None,
                ..jane_profile(&["notes"])
            }
            .into(),
        ]);
}

#[test]
fn an_update_with_several_invalid_fields_reports_them_all() {
    let result = customer()
        .given(given_jane())
        .when(CustomerCommand::Update(UpdateCustomer {
            last_name: Some("".into()),
            phone: Patch::Set("12".into()),
            notes: Patch::Set("x".repeat(10_001)),
            ..UpdateCustomer::default()
        }))
        .inspect_result();
    assert_eq!(rejected_fields(result), ["last_name", "phone", "notes"]);
}

#[test]
fn an_update_is_folded_into_the_state() {
    let jane = state_after(given_jane_with(vec![
        CustomerContactDetailsUpdated {
            first_name: "Janet".into(),
            phone: None,
            ..jane_contact_details(&["first_name", "phone"])
        }
        .into(),
        CustomerProfileUpdated {
            notes: None,
            ..jane_profile(&["notes"])
        }
        .into(),
    ]));
    assert_eq!(jane.full_name(), "Janet Doe");
    assert_eq!(jane.phone, None);
    assert_eq!(jane.email.as_deref(), Some("jane.doe@example.com"));
    assert_eq!(jane.notes, None);
    assert_eq!(jane.lead_source.as_deref(), Some("website"));
}

// ---------------------------------------------------------------- Tag / Untag

#[test]
fn tagging_a_customer_records_the_normalized_tag() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Tag {
            tag: "  Piano Mover ".into(),
        })
        .then_expect_events(vec![
            CustomerTagged {
                tag: "piano mover".into(),
            }
            .into(),
        ]);
}

#[test]
fn tagging_with_a_tag_the_customer_already_has_emits_nothing() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Tag {
            tag: " VIP ".into(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn tagging_with_an_invalid_tag_is_rejected() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Tag {
            tag: "piano!".into(),
        })
        .then_expect_error(invalid(
            "tag",
            "may contain only letters, digits, spaces, '-' and '_'",
        ));
}

#[test]
fn tagging_with_a_blank_tag_is_rejected() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Tag { tag: "   ".into() })
        .then_expect_error(invalid("tag", "must be 1 to 40 characters"));
}

#[test]
fn a_fifty_first_tag_is_rejected_but_an_existing_one_is_still_a_no_op() {
    let fifty = CustomerRegistered {
        tags: (0..50).map(|i| format!("tag-{i:02}")).collect(),
        ..jane_registered()
    };
    customer()
        .given(vec![fifty.clone().into()])
        .when(CustomerCommand::Tag {
            tag: "one-too-many".into(),
        })
        .then_expect_error(invalid("tag", "a customer has at most 50 tags"));
    customer()
        .given(vec![fifty.into()])
        .when(CustomerCommand::Tag {
            tag: "TAG-07".into(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn untagging_a_customer_removes_the_normalized_tag() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Untag { tag: " Vip".into() })
        .then_expect_events(vec![CustomerUntagged { tag: "vip".into() }.into()]);
}

#[test]
fn untagging_a_tag_the_customer_does_not_have_emits_nothing() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Untag {
            tag: "fragile".into(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn untagging_a_tag_twice_emits_nothing_the_second_time() {
    customer()
        .given(given_jane_with(vec![
            CustomerUntagged { tag: "vip".into() }.into(),
        ]))
        .when(CustomerCommand::Untag { tag: "vip".into() })
        .then_expect_events(vec![]);
}

#[test]
fn re_tagging_after_an_untag_records_the_tag_again() {
    customer()
        .given(given_jane_with(vec![
            CustomerUntagged { tag: "vip".into() }.into(),
        ]))
        .when(CustomerCommand::Tag { tag: "VIP".into() })
        .then_expect_events(vec![CustomerTagged { tag: "vip".into() }.into()]);
}

#[test]
fn untagging_with_an_invalid_tag_is_rejected() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Untag {
            tag: "x".repeat(41),
        })
        .then_expect_error(invalid("tag", "must be 1 to 40 characters"));
}

// ---------------------------------------------------------------- Deactivate / Reactivate

#[test]
fn deactivating_a_customer_records_the_trimmed_reason() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Deactivate {
            reason: Some("  Moved out of province ".into()),
        })
        .then_expect_events(vec![
            CustomerDeactivated {
                reason: Some("Moved out of province".into()),
            }
            .into(),
        ]);
}

#[test]
fn deactivating_without_a_reason_is_accepted() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Deactivate {
            reason: Some("   ".into()),
        })
        .then_expect_events(vec![CustomerDeactivated { reason: None }.into()]);
}

#[test]
fn deactivating_a_customer_twice_is_rejected() {
    customer()
        .given(given_jane_with(vec![
            CustomerDeactivated { reason: None }.into(),
        ]))
        .when(CustomerCommand::Deactivate {
            reason: Some("again".into()),
        })
        .then_expect_error(CustomerError::AlreadyInactive);
}

#[test]
fn deactivating_with_an_overlong_reason_is_rejected() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Deactivate {
            reason: Some("x".repeat(10_001)),
        })
        .then_expect_error(invalid("reason", "must be at most 10000 characters"));
}

#[test]
fn reactivating_an_inactive_customer_records_the_reactivation() {
    customer()
        .given(given_jane_with(vec![
            CustomerDeactivated { reason: None }.into(),
        ]))
        .when(CustomerCommand::Reactivate)
        .then_expect_events(vec![CustomerReactivated {}.into()]);
}

#[test]
fn reactivating_an_active_customer_is_rejected() {
    customer()
        .given(given_jane())
        .when(CustomerCommand::Reactivate)
        .then_expect_error(CustomerError::AlreadyActive);
}

#[test]
fn a_reactivated_customer_can_be_deactivated_again() {
    customer()
        .given(given_jane_with(vec![
            CustomerDeactivated { reason: None }.into(),
            CustomerReactivated {}.into(),
        ]))
        .when(CustomerCommand::Deactivate { reason: None })
        .then_expect_events(vec![CustomerDeactivated { reason: None }.into()]);
}

#[test]
fn deactivation_and_reactivation_toggle_the_active_flag() {
    let deactivated = given_jane_with(vec![CustomerDeactivated { reason: None }.into()]);
    assert!(!state_after(deactivated.clone()).active);
    let mut reactivated = deactivated;
    reactivated.push(CustomerReactivated {}.into());
    assert!(state_after(reactivated).active);
}

// ---------------------------------------------------------------- error kinds

#[test]
fn customer_errors_are_sorted_into_invalid_conflict_and_not_found() {
    let errors = ValidationErrors::single("email", CONTACT_REQUIRED);
    assert_eq!(
        CustomerError::Invalid(errors.clone()).kind(),
        ErrorKind::Invalid(&errors)
    );
    assert_eq!(
        CustomerError::AlreadyRegistered(CUSTOMER_ID).kind(),
        ErrorKind::Conflict {
            rule: "customer.already-registered"
        }
    );
    assert_eq!(CustomerError::NotFound.kind(), ErrorKind::NotFound);
    assert_eq!(
        CustomerError::AlreadyInactive.kind(),
        ErrorKind::Conflict {
            rule: "customer.already-inactive"
        }
    );
    assert_eq!(
        CustomerError::AlreadyActive.kind(),
        ErrorKind::Conflict {
            rule: "customer.already-active"
        }
    );
    assert_eq!(
        CustomerError::Invalid(errors).to_string(),
        format!("invalid customer: email: {CONTACT_REQUIRED}")
    );
}

// ---------------------------------------------------------------- properties

/// A North American number in one of the formats people type.
fn north_american_phone() -> impl Strategy<Value = (String, String)> {
    ("[2-9][0-9]{2}", "[2-9][0-9]{2}", "[0-9]{4}", 0..6usize).prop_map(
        |(area, exchange, line, style)| {
            let typed = match style {
                0 => format!("({area}) {exchange}-{line}"),
                1 => format!("{area}-{exchange}-{line}"),
                2 => format!("{area}.{exchange}.{line}"),
                3 => format!("1 {area} {exchange} {line}"),
                4 => format!("+1 ({area}) {exchange} {line}"),
                _ => format!("  {area}{exchange}{line} "),
            };
            (typed, format!("+1{area}{exchange}{line}"))
        },
    )
}

#[derive(Clone, Debug)]
enum TagOp {
    Tag(String),
    Untag(String),
}

fn tag_op() -> impl Strategy<Value = TagOp> {
    // A small alphabet so that sequences repeat tags, with case and space noise.
    let raw = (
        prop::sample::select(vec!["vip", "piano", "fragile", "storage"]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(tag, upper, padded)| {
            let tag = if upper {
                tag.to_uppercase()
            } else {
                tag.to_owned()
            };
            if padded { format!("  {tag} ") } else { tag }
        });
    (raw, any::<bool>()).prop_map(|(tag, add)| {
        if add {
            TagOp::Tag(tag)
        } else {
            TagOp::Untag(tag)
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_typed_north_american_phone_is_registered_in_e164_form((typed, expected) in north_american_phone()) {
        let command = RegisterCustomer { email: None, phone: Some(typed), ..register_jane() };
        let events = customer()
            .given_no_previous_events()
            .when(CustomerCommand::Register(command))
            .inspect_result()
            .expect("a valid number is accepted");
        let [CustomerEvent::CustomerRegistered(registered)] = events.as_slice() else {
            panic!("expected one CustomerRegistered, got {events:?}");
        };
        prop_assert_eq!(registered.phone.as_deref(), Some(expected.as_str()));
    }

    #[test]
    fn any_email_is_registered_with_its_local_part_kept_and_its_domain_lowercased(
        local in "[A-Za-z0-9]{1,12}",
        label in "[A-Za-z][A-Za-z0-9]{0,10}",
        tld in "[A-Za-z]{2,4}",
    ) {
        let command = RegisterCustomer {
            email: Some(format!(" {local}@{label}.{tld} ")),
            ..register_jane()
        };
        let events = customer()
            .given_no_previous_events()
            .when(CustomerCommand::Register(command))
            .inspect_result()
            .expect("a valid email is accepted");
        let [CustomerEvent::CustomerRegistered(registered)] = events.as_slice() else {
            panic!("expected one CustomerRegistered, got {events:?}");
        };
        let expected = format!("{local}@{}.{}", label.to_ascii_lowercase(), tld.to_ascii_lowercase());
        prop_assert_eq!(registered.email.as_deref(), Some(expected.as_str()));
    }

    #[test]
    fn tagging_and_untagging_behaves_like_a_set(ops in prop::collection::vec(tag_op(), 1..16)) {
        let mut history = given_jane();
        let mut model: BTreeSet<String> = BTreeSet::from(["vip".to_owned()]);
        for op in ops {
            let (command, key, adding) = match &op {
                TagOp::Tag(t) => (CustomerCommand::Tag { tag: t.clone() }, t.trim().to_lowercase(), true),
                TagOp::Untag(t) => (CustomerCommand::Untag { tag: t.clone() }, t.trim().to_lowercase(), false),
            };
            let events = customer()
                .given(history.clone())
                .when(command)
                .inspect_result()
                .expect("valid tags are never rejected below the limit");
            let expected: Vec<CustomerEvent> = match (adding, model.contains(&key)) {
                (true, false) => vec![CustomerTagged { tag: key.clone() }.into()],
                (false, true) => vec![CustomerUntagged { tag: key.clone() }.into()],
                _ => vec![],
            };
            prop_assert_eq!(&events, &expected, "after {:?}", op);
            if adding { model.insert(key); } else { model.remove(&key); }
            history.extend(events);
        }
        prop_assert_eq!(state_after(history).tags, model);
    }
}

#[test]
fn forgetting_a_customer_records_the_reason() {
    customer()
        .given(vec![jane_registered().into()])
        .when(CustomerCommand::Forget {
            reason: "erasure request #12".into(),
        })
        .then_expect_events(vec![
            CustomerForgotten {
                reason: "erasure request #12".into(),
            }
            .into(),
        ]);
}

#[test]
fn forgetting_without_a_reason_is_rejected() {
    customer()
        .given(vec![jane_registered().into()])
        .when(CustomerCommand::Forget {
            reason: "  ".into(),
        })
        .then_expect_error(CustomerError::Invalid(ValidationErrors::single(
            "reason",
            "must not be empty",
        )));
}

#[test]
fn a_forgotten_customer_can_no_longer_change_or_be_forgotten_again() {
    let history = vec![
        jane_registered().into(),
        CustomerForgotten {
            reason: "request".into(),
        }
        .into(),
    ];
    for command in [
        CustomerCommand::Tag { tag: "x".into() },
        CustomerCommand::Reactivate,
        CustomerCommand::Forget {
            reason: "again".into(),
        },
        CustomerCommand::Update(UpdateCustomer {
            first_name: Some("Back".into()),
            ..UpdateCustomer::default()
        }),
    ] {
        customer()
            .given(history.clone())
            .when(command)
            .then_expect_error(CustomerError::Forgotten);
    }
}

#[test]
fn forgetting_clears_the_personal_data_from_the_state() {
    let mut state = Customer::default();
    state.apply(jane_registered().into());
    state.apply(
        CustomerForgotten {
            reason: "request".into(),
        }
        .into(),
    );
    assert!(state.forgotten && !state.active);
    assert_eq!(state.first_name, aggregates::customer::ERASED);
    assert_eq!(
        (
            state.email.clone(),
            state.phone.clone(),
            state.address.clone(),
            state.notes.clone()
        ),
        (None, None, None, None)
    );
}

// ---------------------------------------------------------------- Consent (CASL)

mod consent {
    use aggregates::customer::{CustomerCommand, NoConsent};
    use chrono::NaiveDate;
    use event_schemas::communication::{CommunicationType, ConsentKind, UnsubscribeSource};
    use event_schemas::customer::{CustomerConsentRecorded, CustomerEvent, CustomerUnsubscribed};

    use super::{customer, given_jane, given_jane_with, rejected_fields, state_after};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn record(kind: ConsentKind, given_on: &str, expires_on: Option<&str>) -> CustomerCommand {
        CustomerCommand::RecordConsent {
            channel: CommunicationType::Email,
            kind,
            given_on: day(given_on),
            source: " web form ".into(),
            expires_on: expires_on.map(day),
            today: day("2026-05-01"),
        }
    }

    fn recorded(kind: ConsentKind, given_on: &str, expires_on: Option<&str>) -> CustomerEvent {
        CustomerConsentRecorded {
            channel: CommunicationType::Email,
            kind,
            given_on: day(given_on),
            source: "web form".into(),
            expires_on: expires_on.map(day),
        }
        .into()
    }

    fn unsubscribed() -> CustomerEvent {
        CustomerUnsubscribed {
            channel: CommunicationType::Email,
            source: UnsubscribeSource::Link,
            communication_id: None,
        }
        .into()
    }

    #[test]
    fn express_consent_is_recorded_until_withdrawn_and_implied_consent_lapses_after_two_years() {
        customer()
            .given(given_jane())
            .when(record(ConsentKind::Express, "2026-04-30", None))
            .then_expect_events(vec![recorded(ConsentKind::Express, "2026-04-30", None)]);
        customer()
            .given(given_jane())
            .when(record(ConsentKind::Implied, "2026-04-30", None))
            .then_expect_events(vec![recorded(
                ConsentKind::Implied,
                "2026-04-30",
                Some("2028-04-30"),
            )]);
        // The same consent again records nothing.
        customer()
            .given(given_jane_with(vec![recorded(
                ConsentKind::Express,
                "2026-04-30",
                None,
            )]))
            .when(record(ConsentKind::Express, "2026-04-30", None))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_consent_in_the_future_or_ending_before_it_began_or_without_a_source_is_refused() {
        let result = customer()
            .given(given_jane())
            .when(CustomerCommand::RecordConsent {
                channel: CommunicationType::Sms,
                kind: ConsentKind::Express,
                given_on: day("2026-05-02"),
                source: " ".into(),
                expires_on: Some(day("2026-01-01")),
                today: day("2026-05-01"),
            })
            .inspect_result();
        assert_eq!(
            rejected_fields(result),
            vec!["given_on", "source", "expires_on"]
        );
    }

    #[test]
    fn marketing_needs_a_live_consent_on_the_channel() {
        let today = day("2026-05-01");
        let jane = state_after(given_jane());
        assert_eq!(
            jane.marketing_consent(CommunicationType::Email, today)
                .err(),
            Some(NoConsent::Missing)
        );
        let jane = state_after(given_jane_with(vec![recorded(
            ConsentKind::Express,
            "2026-04-30",
            None,
        )]));
        assert!(
            jane.marketing_consent(CommunicationType::Email, today)
                .is_ok()
        );
        assert_eq!(
            jane.marketing_consent(CommunicationType::Sms, today).err(),
            Some(NoConsent::Missing)
        );
        let lapsed = state_after(given_jane_with(vec![recorded(
            ConsentKind::Implied,
            "2024-01-01",
            Some("2026-01-01"),
        )]));
        assert_eq!(
            lapsed
                .marketing_consent(CommunicationType::Email, today)
                .err(),
            Some(NoConsent::Expired)
        );
        let gone = state_after(given_jane_with(vec![
            recorded(ConsentKind::Express, "2026-04-30", None),
            unsubscribed(),
        ]));
        assert_eq!(
            gone.marketing_consent(CommunicationType::Email, today)
                .err(),
            Some(NoConsent::Withdrawn)
        );
        // A new consent after an unsubscribe counts again.
        let back = state_after(given_jane_with(vec![
            recorded(ConsentKind::Express, "2026-04-01", None),
            unsubscribed(),
            recorded(ConsentKind::Express, "2026-04-30", None),
        ]));
        assert!(
            back.marketing_consent(CommunicationType::Email, today)
                .is_ok()
        );
    }

    #[test]
    fn unsubscribing_is_recorded_once_even_without_a_consent() {
        customer()
            .given(given_jane())
            .when(CustomerCommand::Unsubscribe {
                channel: CommunicationType::Email,
                source: UnsubscribeSource::Link,
                communication_id: None,
            })
            .then_expect_events(vec![unsubscribed()]);
        customer()
            .given(given_jane_with(vec![unsubscribed()]))
            .when(CustomerCommand::Unsubscribe {
                channel: CommunicationType::Email,
                source: UnsubscribeSource::Link,
                communication_id: None,
            })
            .then_expect_events(vec![]);
        let jane = state_after(given_jane_with(vec![unsubscribed()]));
        assert_eq!(
            jane.marketing_consent(CommunicationType::Email, day("2026-05-01"))
                .err(),
            Some(NoConsent::Withdrawn)
        );
    }
}
