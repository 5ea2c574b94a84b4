//! The `TenantProfile` aggregate: one per tenant (id
//! [`event_schemas::tenant::profile_id`]): the company's name and address,
//! its branches, time zone, locale, email sender, working hours and the
//! default length of a job. A tenant that never set it has the defaults
//! ([`TenantProfile`]'s accessors) and no company name.

use chrono::{DateTime, NaiveTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::tenant::{
    Location, TenantProfileChanged, TenantProfileEvent, Weekday, WorkingDay,
};
use event_schemas::{Address, TenantId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::values::{self, AddressInput};

/// The time zone of a tenant that chose none.
pub const DEFAULT_TIME_ZONE: &str = "America/Toronto";
/// The locale of a tenant that chose none.
pub const DEFAULT_LOCALE: &str = "en-CA";
/// How long a job is planned for when the tenant chose nothing (4 hours).
pub const DEFAULT_JOB_DURATION_MINUTES: u32 = 240;
/// A job is planned for at least this long…
pub const MIN_JOB_DURATION_MINUTES: u32 = 15;
/// …and at most a day.
pub const MAX_JOB_DURATION_MINUTES: u32 = 24 * 60;
/// Branches per tenant, at most.
pub const MAX_LOCATIONS: usize = 200;
/// How long report runs keep their files unless the tenant says otherwise.
pub const DEFAULT_REPORT_RETENTION_DAYS: u32 = 90;
/// The longest report retention a tenant may set (ten years).
pub const MAX_REPORT_RETENTION_DAYS: u32 = 3_650;

/// Monday to Friday, 08:00 to 17:00.
pub fn default_working_hours() -> Vec<WorkingDay> {
    let at = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("a valid hour");
    [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ]
    .into_iter()
    .map(|day| WorkingDay {
        day,
        opens: at(8),
        closes: at(17),
    })
    .collect()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantProfile {
    pub tenant_id: Option<TenantId>,
    /// The profile as last changed (`None`: never set, the defaults apply).
    pub current: Option<TenantProfileChanged>,
}

impl TenantProfile {
    pub fn company_name(&self) -> Option<&str> {
        self.current.as_ref().map(|c| c.company_name.as_str())
    }

    pub fn address(&self) -> Option<&Address> {
        self.current.as_ref().and_then(|c| c.address.as_ref())
    }

    pub fn locations(&self) -> &[Location] {
        self.current
            .as_ref()
            .map_or(&[], |c| c.locations.as_slice())
    }

    /// The branch named `location_id`, if the profile lists it.
    pub fn location(&self, location_id: &str) -> Option<&Location> {
        self.locations()
            .iter()
            .find(|l| l.location_id == location_id)
    }

    /// The IANA name of the tenant's time zone.
    pub fn time_zone_name(&self) -> &str {
        self.current
            .as_ref()
            .map_or(DEFAULT_TIME_ZONE, |c| c.time_zone.as_str())
    }

    /// The tenant's time zone (the stored name was validated when set).
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.time_zone_name()
            .parse()
            .unwrap_or(chrono_tz::America::Toronto)
    }

    pub fn locale(&self) -> &str {
        self.current
            .as_ref()
            .map_or(DEFAULT_LOCALE, |c| c.locale.as_str())
    }

    pub fn email_sender_name(&self) -> Option<&str> {
        self.current
            .as_ref()
            .and_then(|c| c.email_sender_name.as_deref())
    }

    /// How long report runs keep their files (days).
    pub fn report_retention_days(&self) -> u32 {
        self.current
            .as_ref()
            .and_then(|c| c.report_retention_days)
            .unwrap_or(DEFAULT_REPORT_RETENTION_DAYS)
    }

    /// Whether emails carry an open-tracking pixel (off by default).
    pub fn email_open_tracking(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.email_open_tracking)
    }

    pub fn email_sender_address(&self) -> Option<&str> {
        self.current
            .as_ref()
            .and_then(|c| c.email_sender_address.as_deref())
    }

    pub fn working_hours(&self) -> Vec<WorkingDay> {
        self.current
            .as_ref()
            .map_or_else(default_working_hours, |c| c.working_hours.clone())
    }

    /// The hours of `day`, if it is a working day.
    pub fn hours_of(&self, day: chrono::Weekday) -> Option<WorkingDay> {
        let day = Weekday::from_chrono(day);
        self.working_hours().into_iter().find(|w| w.day == day)
    }

    pub fn default_job_duration_minutes(&self) -> u32 {
        self.current
            .as_ref()
            .map_or(DEFAULT_JOB_DURATION_MINUTES, |c| {
                c.default_job_duration_minutes
            })
    }
}

/// A branch as a client sends it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    pub location_id: String,
    pub name: String,
    #[serde(default)]
    pub address: Option<AddressInput>,
}

/// A working day as a client sends it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingDayInput {
    pub day: Weekday,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
}

/// The whole profile, as a client sends it (a replacement: what is left
/// out takes its default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileInput {
    pub company_name: String,
    pub address: Option<AddressInput>,
    pub locations: Vec<LocationInput>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub email_sender_name: Option<String>,
    pub email_sender_address: Option<String>,
    pub working_hours: Option<Vec<WorkingDayInput>>,
    pub default_job_duration_minutes: Option<u32>,
    /// Default: off.
    pub email_open_tracking: Option<bool>,
    /// Default: [`DEFAULT_REPORT_RETENTION_DAYS`].
    pub report_retention_days: Option<u32>,
}

/// A profile command: replace the profile.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantProfileCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    /// The tenant whose profile this is (fixed by the first change).
    pub tenant_id: TenantId,
    pub profile: ProfileInput,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TenantProfileError {
    #[error("invalid tenant profile: {0}")]
    Invalid(ValidationErrors),
    #[error("this profile belongs to tenant {0}")]
    WrongTenant(TenantId),
}

impl DomainError for TenantProfileError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::WrongTenant(_) => ErrorKind::Conflict {
                rule: "tenant-profile.wrong-tenant",
            },
        }
    }
}

impl From<ValidationErrors> for TenantProfileError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// An IANA time zone name known to this build.
pub fn time_zone(value: &str) -> Result<String, String> {
    let value = value.trim();
    value
        .parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| "must be an IANA time zone, e.g. America/Toronto".to_owned())
}

/// A BCP 47 language tag of a language and an optional region
/// (`fr`, `en-CA`, `es-419`), normalized (`en-ca` becomes `en-CA`).
pub fn locale(value: &str) -> Result<String, String> {
    let error = || "must be a language tag such as en-CA, fr-CA or es-419".to_owned();
    let value = value.trim();
    let mut parts = value.split(['-', '_']);
    let language = parts.next().unwrap_or_default();
    if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(error());
    }
    let mut tag = language.to_ascii_lowercase();
    if let Some(region) = parts.next() {
        let letters = region.len() == 2 && region.chars().all(|c| c.is_ascii_alphabetic());
        let digits = region.len() == 3 && region.chars().all(|c| c.is_ascii_digit());
        if !(letters || digits) {
            return Err(error());
        }
        tag.push('-');
        tag.push_str(&region.to_ascii_uppercase());
    }
    if parts.next().is_some() {
        return Err(error());
    }
    Ok(tag)
}

/// A display name for the `From:` header: no control characters, no
/// characters with a meaning in an address header.
pub fn sender_name(value: Option<&str>) -> Result<Option<String>, String> {
    let Some(name) = values::optional_text(value, values::MAX_NAME)? else {
        return Ok(None);
    };
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '<' | '>' | '"' | '\\'))
    {
        return Err("must not contain control characters, <, >, \" or \\".into());
    }
    Ok(Some(name))
}

fn check_address(v: &mut Validator, field: &str, input: &AddressInput) -> Option<Address> {
    match values::address(input) {
        Ok(address) => Some(address),
        Err(errors) => {
            for (sub, message) in errors {
                v.error(&format!("{field}.{sub}"), message);
            }
            None
        }
    }
}

impl TenantProfile {
    /// The events `command` produces against the current state.
    pub fn decide(
        &self,
        command: TenantProfileCommand,
    ) -> Result<Vec<TenantProfileEvent>, TenantProfileError> {
        let TenantProfileCommand {
            at,
            actor,
            tenant_id,
            profile,
        } = command;
        if let Some(owner) = self.tenant_id.as_ref().filter(|t| **t != tenant_id) {
            return Err(TenantProfileError::WrongTenant(owner.clone()));
        }
        let mut v = Validator::new();
        let company_name = v.check(
            "company_name",
            values::required_text(&profile.company_name, values::MAX_SHORT_TEXT),
        );
        let address = profile
            .address
            .as_ref()
            .map(|a| check_address(&mut v, "address", a));
        if profile.locations.len() > MAX_LOCATIONS {
            v.error(
                "locations",
                format!("must list at most {MAX_LOCATIONS} locations"),
            );
        }
        let mut locations = Vec::with_capacity(profile.locations.len());
        for (i, input) in profile.locations.iter().enumerate() {
            let field = |name: &str| format!("locations[{i}].{name}");
            let id = v.check(
                &field("location_id"),
                values::identifier(&input.location_id),
            );
            if let Some(id) = &id
                && locations.iter().any(|l: &Location| &l.location_id == id)
            {
                v.error(&field("location_id"), format!("{id} is listed twice"));
            }
            let name = v.check(
                &field("name"),
                values::required_text(&input.name, values::MAX_NAME),
            );
            let address = input
                .address
                .as_ref()
                .map(|a| check_address(&mut v, &field("address"), a));
            if let (Some(location_id), Some(name)) = (id, name) {
                locations.push(Location {
                    location_id,
                    name,
                    address: address.flatten(),
                });
            }
        }
        let time_zone = v.check(
            "time_zone",
            time_zone(profile.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE)),
        );
        let locale = v.check(
            "locale",
            locale(profile.locale.as_deref().unwrap_or(DEFAULT_LOCALE)),
        );
        let email_sender_name = v.check(
            "email_sender_name",
            sender_name(profile.email_sender_name.as_deref()),
        );
        let email_sender_address = v.check(
            "email_sender_address",
            match profile.email_sender_address.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(address) => values::email(address).map(Some),
            },
        );
        let working_hours = match &profile.working_hours {
            None => default_working_hours(),
            Some(days) => {
                let mut hours: Vec<WorkingDay> = Vec::with_capacity(days.len());
                for (i, day) in days.iter().enumerate() {
                    if hours.iter().any(|h| h.day == day.day) {
                        v.error(
                            &format!("working_hours[{i}].day"),
                            format!("{} is listed twice", day.day),
                        );
                    } else if day.closes <= day.opens {
                        v.error(
                            &format!("working_hours[{i}].closes"),
                            "must be after opens (a working day ends on the day it starts)",
                        );
                    } else {
                        hours.push(WorkingDay {
                            day: day.day,
                            opens: day.opens,
                            closes: day.closes,
                        });
                    }
                }
                hours.sort_by_key(|h| h.day);
                hours
            }
        };
        let duration = profile
            .default_job_duration_minutes
            .unwrap_or(DEFAULT_JOB_DURATION_MINUTES);
        if !(MIN_JOB_DURATION_MINUTES..=MAX_JOB_DURATION_MINUTES).contains(&duration) {
            v.error(
                "default_job_duration_minutes",
                format!(
                    "must be between {MIN_JOB_DURATION_MINUTES} and {MAX_JOB_DURATION_MINUTES} minutes"
                ),
            );
        }
        v.finish()?;
        let (
            Some(company_name),
            Some(address),
            Some(time_zone),
            Some(locale),
            Some(email_sender_name),
            Some(email_sender_address),
        ) = (
            company_name,
            address.map_or(Some(None), |a| a.map(Some)),
            time_zone,
            locale,
            email_sender_name,
            email_sender_address,
        )
        else {
            unreachable!("every field was validated");
        };
        let mut changed = Vec::new();
        let mut differs = |name: &str, same: bool| {
            if !same {
                changed.push(name.to_owned());
            }
        };
        differs("company_name", self.company_name() == Some(&company_name));
        differs("address", self.address() == address.as_ref());
        differs("locations", self.locations() == locations.as_slice());
        differs("time_zone", self.time_zone_name() == time_zone);
        differs("locale", self.locale() == locale);
        differs(
            "email_sender_name",
            self.email_sender_name() == email_sender_name.as_deref(),
        );
        differs(
            "email_sender_address",
            self.email_sender_address() == email_sender_address.as_deref(),
        );
        differs("working_hours", self.working_hours() == working_hours);
        differs(
            "default_job_duration_minutes",
            self.default_job_duration_minutes() == duration,
        );
        let open_tracking = profile.email_open_tracking.unwrap_or(false);
        differs(
            "email_open_tracking",
            self.email_open_tracking() == open_tracking,
        );
        let retention = match profile.report_retention_days {
            Some(days) if !(1..=MAX_REPORT_RETENTION_DAYS).contains(&days) => {
                return Err(ValidationErrors::single(
                    "report_retention_days",
                    format!("from 1 to {MAX_REPORT_RETENTION_DAYS} days"),
                )
                .into());
            }
            Some(days) if days != DEFAULT_REPORT_RETENTION_DAYS => Some(days),
            _ => None,
        };
        differs(
            "report_retention_days",
            self.current.as_ref().and_then(|c| c.report_retention_days) == retention,
        );
        if changed.is_empty() {
            return Ok(vec![]);
        }
        Ok(vec![
            TenantProfileChanged {
                tenant_id,
                company_name,
                address,
                locations,
                time_zone,
                locale,
                email_sender_name,
                email_sender_address,
                working_hours,
                default_job_duration_minutes: duration,
                email_open_tracking: open_tracking,
                report_retention_days: retention,
                changed_fields: changed,
                changed_by: actor,
                changed_at: at,
            }
            .into(),
        ])
    }
}

impl Aggregate for TenantProfile {
    const TYPE: &'static str = event_schemas::tenant::AGGREGATE_TYPE;
    type Command = TenantProfileCommand;
    type Event = TenantProfileEvent;
    type Error = TenantProfileError;
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
            TenantProfileEvent::TenantProfileChanged(e) => {
                self.tenant_id = Some(e.tenant_id.clone());
                self.current = Some(e);
            }
        }
    }
}
