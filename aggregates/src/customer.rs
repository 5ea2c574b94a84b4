//! The `Customer` aggregate: a person or household a moving company serves.
//!
//! Email and phone uniqueness per tenant is a rule across customers, so it is
//! not decided here: the event store keeps a claims table in the same
//! transaction as the events (see `docs/decisions/0003-uniqueness-claims.md`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::communication::{CommunicationType, ConsentKind, UnsubscribeSource};
use event_schemas::customer::{
    CustomerConsentRecorded, CustomerContactDetailsUpdated, CustomerDeactivated, CustomerEvent,
    CustomerForgotten, CustomerProfileUpdated, CustomerReactivated, CustomerRegistered,
    CustomerTagged, CustomerUnsubscribed, CustomerUntagged,
};
use event_schemas::{Address, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::patch::Patch;
use crate::values::{self, AddressInput};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: Option<Uuid>,
    pub tenant_id: Option<TenantId>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub lead_source: Option<String>,
    pub tags: BTreeSet<String>,
    pub preferences: Map<String, Value>,
    pub notes: Option<String>,
    pub active: bool,
    /// Personal data forgotten (crypto-shredded): nothing can change any more.
    pub forgotten: bool,
    /// Consent to messages, per channel (CASL).
    #[serde(default)]
    pub consents: BTreeMap<CommunicationType, Consent>,
}

/// A customer's consent on one channel, as it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub kind: ConsentKind,
    pub given_on: NaiveDate,
    pub source: String,
    pub expires_on: Option<NaiveDate>,
    /// Unsubscribed since it was given.
    pub withdrawn: bool,
}

/// Why a marketing message may not go to a customer on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoConsent {
    /// None was ever recorded on the channel.
    Missing,
    /// The customer unsubscribed.
    Withdrawn,
    /// Implied consent that lapsed.
    Expired,
}

/// How long implied consent holds when no end is given: two years, CASL's
/// period after a purchase.
pub const IMPLIED_CONSENT_YEARS: u32 = 2;

/// What a forgotten customer's names read as.
pub const ERASED: &str = "[erased]";

impl Customer {
    pub fn is_registered(&self) -> bool {
        self.id.is_some()
    }

    /// Whether a marketing message may go to the customer on `channel` on
    /// `today` (transactional messages need no consent).
    pub fn marketing_consent(
        &self,
        channel: CommunicationType,
        today: NaiveDate,
    ) -> Result<&Consent, NoConsent> {
        let consent = self.consents.get(&channel).ok_or(NoConsent::Missing)?;
        if consent.withdrawn {
            return Err(NoConsent::Withdrawn);
        }
        if consent.expires_on.is_some_and(|end| end < today) {
            return Err(NoConsent::Expired);
        }
        Ok(consent)
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RegisterCustomer {
    pub customer_id: Uuid,
    pub tenant_id: TenantId,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<AddressInput>,
    pub lead_source: Option<String>,
    pub tags: Vec<String>,
    pub preferences: Map<String, Value>,
    pub notes: Option<String>,
}

/// Any subset of the editable fields; `Patch::Unchanged` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateCustomer {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Patch<String>,
    pub phone: Patch<String>,
    pub address: Patch<AddressInput>,
    pub lead_source: Patch<String>,
    pub preferences: Option<Map<String, Value>>,
    pub notes: Patch<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CustomerCommand {
    Register(RegisterCustomer),
    Update(UpdateCustomer),
    Tag {
        tag: String,
    },
    Untag {
        tag: String,
    },
    Deactivate {
        reason: Option<String>,
    },
    Reactivate,
    /// Forget the person's personal data (crypto-shredding).
    Forget {
        reason: String,
    },
    /// Record the customer's consent to messages on a channel.
    RecordConsent {
        channel: CommunicationType,
        kind: ConsentKind,
        given_on: NaiveDate,
        source: String,
        expires_on: Option<NaiveDate>,
        /// The tenant's today (a consent can't be given in the future).
        today: NaiveDate,
    },
    /// The customer withdrew consent on a channel (idempotent).
    Unsubscribe {
        channel: CommunicationType,
        source: UnsubscribeSource,
        communication_id: Option<Uuid>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CustomerError {
    #[error("invalid customer: {0}")]
    Invalid(ValidationErrors),
    #[error("customer {0} is already registered")]
    AlreadyRegistered(Uuid),
    #[error("customer not found")]
    NotFound,
    #[error("customer is already inactive")]
    AlreadyInactive,
    #[error("customer is already active")]
    AlreadyActive,
    #[error("the customer's personal data was forgotten; the record can no longer change")]
    Forgotten,
}

impl DomainError for CustomerError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyRegistered(_) => ErrorKind::Conflict {
                rule: "customer.already-registered",
            },
            Self::NotFound => ErrorKind::NotFound,
            Self::AlreadyInactive => ErrorKind::Conflict {
                rule: "customer.already-inactive",
            },
            Self::AlreadyActive => ErrorKind::Conflict {
                rule: "customer.already-active",
            },
            Self::Forgotten => ErrorKind::Conflict {
                rule: "customer.forgotten",
            },
        }
    }
}

impl From<ValidationErrors> for CustomerError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

fn check_address(v: &mut Validator, input: &AddressInput) -> Option<Address> {
    match values::address(input) {
        Ok(address) => Some(address),
        Err(errors) => {
            for (field, message) in errors {
                v.error(&format!("address.{field}"), message);
            }
            None
        }
    }
}

const CONTACT_REQUIRED: &str = "a customer needs an email or a phone number";

impl Customer {
    fn register(cmd: RegisterCustomer) -> Result<CustomerRegistered, CustomerError> {
        let mut v = Validator::new();
        let first_name = v.check(
            "first_name",
            values::required_text(&cmd.first_name, values::MAX_NAME),
        );
        let last_name = v.check(
            "last_name",
            values::required_text(&cmd.last_name, values::MAX_NAME),
        );
        let email = cmd
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .and_then(|e| v.check("email", values::email(e)).map(Some))
            .unwrap_or(None);
        let phone = cmd
            .phone
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .and_then(|p| v.check("phone", values::phone(p)).map(Some))
            .unwrap_or(None);
        let blank = |value: &Option<String>| value.as_deref().is_none_or(|x| x.trim().is_empty());
        if blank(&cmd.email) && blank(&cmd.phone) {
            v.error("email", CONTACT_REQUIRED);
        }
        let address = cmd.address.as_ref().and_then(|a| check_address(&mut v, a));
        let lead_source = v.check(
            "lead_source",
            values::optional_text(cmd.lead_source.as_deref(), values::MAX_NAME),
        );
        let mut tags = BTreeSet::new();
        for (i, raw) in cmd.tags.iter().enumerate() {
            if let Some(tag) = v.check(&format!("tags[{i}]"), values::tag(raw)) {
                tags.insert(tag);
            }
        }
        if tags.len() > values::MAX_TAGS {
            v.error(
                "tags",
                format!("must have at most {} tags", values::MAX_TAGS),
            );
        }
        let preferences = v.check("preferences", values::preferences(&cmd.preferences));
        let notes = v.check(
            "notes",
            values::optional_text(cmd.notes.as_deref(), values::MAX_LONG_TEXT),
        );
        v.finish()?;
        // All `check`s succeeded, so every Option below is Some.
        Ok(CustomerRegistered {
            tenant_id: cmd.tenant_id,
            customer_id: cmd.customer_id,
            first_name: first_name.unwrap_or_default(),
            last_name: last_name.unwrap_or_default(),
            email,
            phone,
            address,
            lead_source: lead_source.flatten(),
            tags: tags.into_iter().collect(),
            preferences: preferences.unwrap_or_default(),
            notes: notes.flatten(),
        })
    }

    fn update(&self, cmd: UpdateCustomer) -> Result<Vec<CustomerEvent>, CustomerError> {
        let mut v = Validator::new();
        let first_name = match &cmd.first_name {
            Some(name) => v.check("first_name", values::required_text(name, values::MAX_NAME)),
            None => Some(self.first_name.clone()),
        };
        let last_name = match &cmd.last_name {
            Some(name) => v.check("last_name", values::required_text(name, values::MAX_NAME)),
            None => Some(self.last_name.clone()),
        };
        let email = match cmd.email {
            Patch::Set(e) if !e.trim().is_empty() => v.check("email", values::email(&e)).map(Some),
            Patch::Set(_) | Patch::Clear => Some(None),
            Patch::Unchanged => Some(self.email.clone()),
        };
        let phone = match cmd.phone {
            Patch::Set(p) if !p.trim().is_empty() => v.check("phone", values::phone(&p)).map(Some),
            Patch::Set(_) | Patch::Clear => Some(None),
            Patch::Unchanged => Some(self.phone.clone()),
        };
        if let (Some(None), Some(None)) = (&email, &phone) {
            let field = if self.email.is_some() {
                "email"
            } else {
                "phone"
            };
            v.error(field, CONTACT_REQUIRED);
        }
        let address = match &cmd.address {
            Patch::Set(a) => check_address(&mut v, a).map(Some),
            Patch::Clear => Some(None),
            Patch::Unchanged => Some(self.address.clone()),
        };
        let lead_source = match &cmd.lead_source {
            Patch::Set(s) => v.check(
                "lead_source",
                values::optional_text(Some(s), values::MAX_NAME),
            ),
            Patch::Clear => Some(None),
            Patch::Unchanged => Some(self.lead_source.clone()),
        };
        let preferences = match &cmd.preferences {
            Some(p) => v.check("preferences", values::preferences(p)),
            None => Some(self.preferences.clone()),
        };
        let notes = match &cmd.notes {
            Patch::Set(n) => v.check(
                "notes",
                values::optional_text(Some(n), values::MAX_LONG_TEXT),
            ),
            Patch::Clear => Some(None),
            Patch::Unchanged => Some(self.notes.clone()),
        };
        v.finish()?;
        let (
            Some(first_name),
            Some(last_name),
            Some(email),
            Some(phone),
            Some(address),
            Some(lead_source),
            Some(preferences),
            Some(notes),
        ) = (
            first_name,
            last_name,
            email,
            phone,
            address,
            lead_source,
            preferences,
            notes,
        )
        else {
            unreachable!("every field was validated");
        };

        let mut events = Vec::new();
        let mut changed = Vec::new();
        for (field, differs) in [
            ("first_name", first_name != self.first_name),
            ("last_name", last_name != self.last_name),
            ("email", email != self.email),
            ("phone", phone != self.phone),
            ("address", address != self.address),
        ] {
            if differs {
                changed.push(field.to_owned());
            }
        }
        if !changed.is_empty() {
            events.push(
                CustomerContactDetailsUpdated {
                    first_name,
                    last_name,
                    email,
                    phone,
                    address,
                    changed_fields: changed,
                }
                .into(),
            );
        }
        let mut changed = Vec::new();
        for (field, differs) in [
            ("lead_source", lead_source != self.lead_source),
            ("preferences", preferences != self.preferences),
            ("notes", notes != self.notes),
        ] {
            if differs {
                changed.push(field.to_owned());
            }
        }
        if !changed.is_empty() {
            events.push(
                CustomerProfileUpdated {
                    lead_source,
                    preferences,
                    notes,
                    changed_fields: changed,
                }
                .into(),
            );
        }
        Ok(events)
    }

    fn decide(&self, command: CustomerCommand) -> Result<Vec<CustomerEvent>, CustomerError> {
        if let CustomerCommand::Register(cmd) = command {
            if let Some(id) = self.id {
                return Err(CustomerError::AlreadyRegistered(id));
            }
            return Ok(vec![Self::register(cmd)?.into()]);
        }
        if !self.is_registered() {
            return Err(CustomerError::NotFound);
        }
        if self.forgotten {
            return Err(CustomerError::Forgotten);
        }
        Ok(match command {
            CustomerCommand::Register(_) => unreachable!("handled above"),
            CustomerCommand::Forget { reason } => {
                let reason = values::required_text(&reason, values::MAX_SHORT_TEXT)
                    .map_err(|m| ValidationErrors::single("reason", m))?;
                vec![CustomerForgotten { reason }.into()]
            }
            CustomerCommand::Update(cmd) => self.update(cmd)?,
            CustomerCommand::Tag { tag } => {
                let tag = values::tag(&tag).map_err(|m| ValidationErrors::single("tag", m))?;
                if self.tags.contains(&tag) {
                    vec![]
                } else if self.tags.len() >= values::MAX_TAGS {
                    return Err(ValidationErrors::single(
                        "tag",
                        format!("a customer has at most {} tags", values::MAX_TAGS),
                    )
                    .into());
                } else {
                    vec![CustomerTagged { tag }.into()]
                }
            }
            CustomerCommand::Untag { tag } => {
                let tag = values::tag(&tag).map_err(|m| ValidationErrors::single("tag", m))?;
                if self.tags.contains(&tag) {
                    vec![CustomerUntagged { tag }.into()]
                } else {
                    vec![]
                }
            }
            CustomerCommand::RecordConsent {
                channel,
                kind,
                given_on,
                source,
                expires_on,
                today,
            } => {
                let mut v = Validator::new();
                v.check(
                    "given_on",
                    if given_on > today {
                        Err(format!("{given_on} is in the future"))
                    } else {
                        Ok(())
                    },
                );
                let source = v.check(
                    "source",
                    values::required_text(&source, values::MAX_SHORT_TEXT),
                );
                let expires_on = match (kind, expires_on) {
                    (_, Some(end)) if end < given_on => {
                        v.check::<()>(
                            "expires_on",
                            Err(format!(
                                "{end} is before the consent was given ({given_on})"
                            )),
                        );
                        None
                    }
                    (ConsentKind::Implied, None) => {
                        given_on.checked_add_months(chrono::Months::new(12 * IMPLIED_CONSENT_YEARS))
                    }
                    (_, end) => end,
                };
                v.finish()?;
                let source = source.unwrap_or_default();
                let unchanged = self.consents.get(&channel).is_some_and(|c| {
                    !c.withdrawn
                        && c.kind == kind
                        && c.given_on == given_on
                        && c.source == source
                        && c.expires_on == expires_on
                });
                if unchanged {
                    vec![]
                } else {
                    vec![
                        CustomerConsentRecorded {
                            channel,
                            kind,
                            given_on,
                            source,
                            expires_on,
                        }
                        .into(),
                    ]
                }
            }
            CustomerCommand::Unsubscribe {
                channel,
                source,
                communication_id,
            } => {
                if self.consents.get(&channel).is_some_and(|c| c.withdrawn) {
                    vec![]
                } else {
                    vec![
                        CustomerUnsubscribed {
                            channel,
                            source,
                            communication_id,
                        }
                        .into(),
                    ]
                }
            }
            CustomerCommand::Deactivate { reason } => {
                if !self.active {
                    return Err(CustomerError::AlreadyInactive);
                }
                let reason = values::optional_text(reason.as_deref(), values::MAX_LONG_TEXT)
                    .map_err(|m| ValidationErrors::single("reason", m))?;
                vec![CustomerDeactivated { reason }.into()]
            }
            CustomerCommand::Reactivate => {
                if self.active {
                    return Err(CustomerError::AlreadyActive);
                }
                vec![CustomerReactivated {}.into()]
            }
        })
    }
}

impl Aggregate for Customer {
    const TYPE: &'static str = event_schemas::customer::AGGREGATE_TYPE;
    type Command = CustomerCommand;
    type Event = CustomerEvent;
    type Error = CustomerError;
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
            CustomerEvent::CustomerRegistered(e) => {
                *self = Self {
                    id: Some(e.customer_id),
                    tenant_id: Some(e.tenant_id),
                    first_name: e.first_name,
                    last_name: e.last_name,
                    email: e.email,
                    phone: e.phone,
                    address: e.address,
                    lead_source: e.lead_source,
                    tags: e.tags.into_iter().collect(),
                    preferences: e.preferences,
                    notes: e.notes,
                    active: true,
                    forgotten: false,
                    consents: BTreeMap::new(),
                }
            }
            CustomerEvent::CustomerContactDetailsUpdated(e) => {
                self.first_name = e.first_name;
                self.last_name = e.last_name;
                self.email = e.email;
                self.phone = e.phone;
                self.address = e.address;
            }
            CustomerEvent::CustomerProfileUpdated(e) => {
                self.lead_source = e.lead_source;
                self.preferences = e.preferences;
                self.notes = e.notes;
            }
            CustomerEvent::CustomerTagged(e) => {
                self.tags.insert(e.tag);
            }
            CustomerEvent::CustomerUntagged(e) => {
                self.tags.remove(&e.tag);
            }
            CustomerEvent::CustomerConsentRecorded(e) => {
                self.consents.insert(
                    e.channel,
                    Consent {
                        kind: e.kind,
                        given_on: e.given_on,
                        source: e.source,
                        expires_on: e.expires_on,
                        withdrawn: false,
                    },
                );
            }
            CustomerEvent::CustomerUnsubscribed(e) => {
                // An unsubscribe with no consent recorded still counts: a
                // later message must not assume consent.
                self.consents
                    .entry(e.channel)
                    .and_modify(|c| c.withdrawn = true)
                    .or_insert(Consent {
                        kind: ConsentKind::Implied,
                        given_on: NaiveDate::MIN,
                        source: String::new(),
                        expires_on: None,
                        withdrawn: true,
                    });
            }
            CustomerEvent::CustomerDeactivated(_) => self.active = false,
            CustomerEvent::CustomerReactivated(_) => self.active = true,
            CustomerEvent::CustomerForgotten(_) => {
                self.forgotten = true;
                self.active = false;
                self.first_name = ERASED.to_owned();
                self.last_name = ERASED.to_owned();
                self.email = None;
                self.phone = None;
                self.address = None;
                self.notes = None;
            }
        }
    }
}
