//! The `Report` aggregate (the seed's Report) and the report catalogue.
//!
//! A report names one report of the [`Catalogue`] with its parameters
//! (checked here, each error naming `parameters.<name>`), a format, and
//! optionally a cron schedule read in the tenant's time zone with the
//! recipients of each scheduled run's file. Runs are requested (by hand or
//! by the schedule), started by the worker, and completed or failed; a
//! scheduled run's id comes from the report and its due instant
//! ([`scheduled_run_id`]), so a due time asked for twice is one run.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::report::{
    Recipient, ReportCreated, ReportDeleted, ReportEvent, ReportFile, ReportFormat,
    ReportRunCompleted, ReportRunFailed, ReportRunFileExpired, ReportRunRequested, ReportRunSent,
    ReportRunStarted, ReportSchedule, ReportStatus, ReportType, ReportUpdated, RunTrigger,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::values;

/// At most this many recipients per report.
pub const MAX_RECIPIENTS: usize = 20;
/// The longest period a report may cover (days).
pub const MAX_PERIOD_DAYS: i64 = 3_660;
/// A worker's attempt after which a run that keeps being cut off fails.
pub const MAX_ATTEMPTS: u32 = 3;

/// The relative periods a report can cover, resolved at each run against
/// the tenant's today.
pub const RELATIVE_PERIODS: &[&str] = &[
    "TODAY",
    "YESTERDAY",
    "LAST_7_DAYS",
    "LAST_30_DAYS",
    "MONTH_TO_DATE",
    "LAST_MONTH",
    "QUARTER_TO_DATE",
    "LAST_QUARTER",
    "YEAR_TO_DATE",
    "LAST_YEAR",
];

/// What a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// `YYYY-MM-DD`.
    Date,
    /// One of [`RELATIVE_PERIODS`].
    RelativePeriod,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A whole number in a range.
    Integer { min: i64, max: i64 },
    /// A location of the tenant profile (letters, digits, `-`, `_`).
    Identifier,
    /// An ISO 4217 code: three capital letters.
    Currency,
}

/// One parameter of a catalogue report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub description: &'static str,
}

const FROM: Param = Param {
    name: "from",
    kind: ParamKind::Date,
    description: "First day (inclusive), with `to`; instead of `period`.",
};
const TO: Param = Param {
    name: "to",
    kind: ParamKind::Date,
    description: "Last day (inclusive), with `from`.",
};
const PERIOD: Param = Param {
    name: "period",
    kind: ParamKind::RelativePeriod,
    description: "A period relative to the day the report runs (tenant time zone); default LAST_30_DAYS when neither it nor `from`/`to` is given.",
};
const AS_OF: Param = Param {
    name: "as_of",
    kind: ParamKind::Date,
    description: "The day the figures are taken at; default the day the report runs.",
};
const CURRENCY: Param = Param {
    name: "currency",
    kind: ParamKind::Currency,
    description: "Only amounts in this currency (ISO 4217); default the tenant's reporting currency (the one most of its invoices and quotes use).",
};
const LOCATION: Param = Param {
    name: "location_id",
    kind: ParamKind::Identifier,
    description: "Only this branch.",
};

/// The reports the backend can generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CatalogueReport {
    ArAging,
    Revenue,
    Ledger,
    EquipmentUtilization,
    MaintenanceDue,
    InventoryValuation,
    CrewUtilization,
    SalesPipeline,
    Quotes,
    Customers,
}

/// The report catalogue: every report with its type and parameters.
pub struct Catalogue;

impl Catalogue {
    pub const ALL: [CatalogueReport; 10] = [
        CatalogueReport::ArAging,
        CatalogueReport::Revenue,
        CatalogueReport::Ledger,
        CatalogueReport::EquipmentUtilization,
        CatalogueReport::MaintenanceDue,
        CatalogueReport::InventoryValuation,
        CatalogueReport::CrewUtilization,
        CatalogueReport::SalesPipeline,
        CatalogueReport::Quotes,
        CatalogueReport::Customers,
    ];

    pub fn find(key: &str) -> Option<CatalogueReport> {
        Self::ALL.into_iter().find(|r| r.key() == key)
    }
}

impl CatalogueReport {
    pub fn key(self) -> &'static str {
        match self {
            Self::ArAging => "ar_aging",
            Self::Revenue => "revenue",
            Self::Ledger => "ledger",
            Self::EquipmentUtilization => "equipment_utilization",
            Self::MaintenanceDue => "maintenance_due",
            Self::InventoryValuation => "inventory_valuation",
            Self::CrewUtilization => "crew_utilization",
            Self::SalesPipeline => "sales_pipeline",
            Self::Quotes => "quotes",
            Self::Customers => "customers",
        }
    }

    pub fn report_type(self) -> ReportType {
        match self {
            Self::ArAging | Self::Revenue | Self::Ledger => ReportType::Financial,
            Self::EquipmentUtilization | Self::MaintenanceDue => ReportType::Equipment,
            Self::InventoryValuation => ReportType::Inventory,
            Self::CrewUtilization => ReportType::Operational,
            Self::SalesPipeline | Self::Quotes => ReportType::Sales,
            Self::Customers => ReportType::Customer,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::ArAging => "Accounts receivable aging",
            Self::Revenue => "Revenue",
            Self::Ledger => "Ledger",
            Self::EquipmentUtilization => "Equipment utilization",
            Self::MaintenanceDue => "Maintenance due",
            Self::InventoryValuation => "Inventory valuation",
            Self::CrewUtilization => "Crew utilization",
            Self::SalesPipeline => "Sales pipeline",
            Self::Quotes => "Quotes",
            Self::Customers => "New customers",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::ArAging => {
                "Open balances of issued invoices per customer and currency, by days past due at `as_of`, with totals per currency."
            }
            Self::Revenue => {
                "Invoiced less credited (pre-tax), tax and gross, by issue date, grouped by month, lead source or sales rep, with totals per currency."
            }
            Self::Ledger => {
                "Every ledger entry of the period: date, type, amount, currency, invoice, customer, method, reference."
            }
            Self::EquipmentUtilization => {
                "Hours assigned ÷ hours available per piece of equipment over the period."
            }
            Self::MaintenanceDue => {
                "Equipment whose maintenance is overdue or due within `within_days` of `as_of`."
            }
            Self::InventoryValuation => {
                "Stock at weighted average cost per item, location and category."
            }
            Self::CrewUtilization => {
                "Hours scheduled against working hours available per active crew member over the period."
            }
            Self::SalesPipeline => {
                "Leads of the period by status, source and rep: count, converted, conversion rate, speed to lead p50/p90, lead to first quote p50."
            }
            Self::Quotes => {
                "Quotes per month of the period: sent, accepted, rejected, expired, acceptance rate, average value."
            }
            Self::Customers => "New customers by source and month.",
        }
    }

    /// The parameters this report takes (besides `report`).
    pub fn params(self) -> &'static [Param] {
        match self {
            Self::ArAging => &[AS_OF, CURRENCY],
            Self::Revenue => &[
                PERIOD,
                FROM,
                TO,
                Param {
                    name: "group_by",
                    kind: ParamKind::OneOf(&["month", "source", "rep"]),
                    description: "How rows are grouped (default month).",
                },
                CURRENCY,
            ],
            Self::Ledger => &[PERIOD, FROM, TO, CURRENCY],
            Self::EquipmentUtilization | Self::CrewUtilization => &[PERIOD, FROM, TO],
            Self::MaintenanceDue => &[
                AS_OF,
                Param {
                    name: "within_days",
                    kind: ParamKind::Integer { min: 0, max: 3650 },
                    description: "Due within this many days of `as_of` (default 30).",
                },
            ],
            Self::InventoryValuation => &[],
            Self::SalesPipeline | Self::Quotes | Self::Customers => &[PERIOD, FROM, TO, LOCATION],
        }
    }

    /// Whether the report covers a period (`period` or `from`/`to`).
    pub fn has_period(self) -> bool {
        self.params().iter().any(|p| p.name == "period")
    }

    /// The JSON Schema of this report's `parameters` object.
    pub fn parameters_schema(self) -> Value {
        let mut properties = Map::new();
        properties.insert(
            "report".into(),
            json!({"type": "string", "const": self.key(), "description": "This report's key."}),
        );
        for param in self.params() {
            let mut schema = match param.kind {
                ParamKind::Date => json!({"type": "string", "format": "date"}),
                ParamKind::RelativePeriod => json!({"type": "string", "enum": RELATIVE_PERIODS}),
                ParamKind::OneOf(words) => json!({"type": "string", "enum": words}),
                ParamKind::Integer { min, max } => {
                    json!({"type": "integer", "minimum": min, "maximum": max})
                }
                ParamKind::Identifier => {
                    json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
                }
                ParamKind::Currency => json!({"type": "string", "pattern": "^[A-Z]{3}$"}),
            };
            schema["description"] = Value::String(param.description.into());
            properties.insert(param.name.into(), schema);
        }
        let mut schema = json!({
            "type": "object",
            "required": ["report"],
            "additionalProperties": false,
            "properties": properties,
        });
        if self.params().iter().any(|p| p.name == "from") {
            schema["dependentRequired"] = json!({"from": ["to"], "to": ["from"]});
        }
        schema
    }
}

/// The days a run covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    /// Inclusive.
    pub to: NaiveDate,
}

impl Period {
    /// As a report heading shows it.
    pub fn label(&self) -> String {
        if self.from == self.to {
            self.from.to_string()
        } else {
            format!("{} – {}", self.from, self.to)
        }
    }
}

/// Parameters as validated: the report and its values, in the clear.
#[derive(Clone, Debug, PartialEq)]
pub struct Parameters {
    pub report: CatalogueReport,
    pub values: Map<String, Value>,
}

impl Parameters {
    /// Validates `raw` (an object with `report` and that report's
    /// parameters); every error names `parameters.<name>`.
    pub fn parse(raw: &Value) -> Result<Self, ValidationErrors> {
        let mut v = Validator::new();
        let Some(object) = raw.as_object() else {
            return Err(ValidationErrors::single(
                "parameters",
                "must be an object with `report` and that report's parameters",
            ));
        };
        let report = match object.get("report") {
            Some(Value::String(key)) => match Catalogue::find(key) {
                Some(report) => report,
                None => {
                    let keys: Vec<&str> = Catalogue::ALL.iter().map(|r| r.key()).collect();
                    return Err(ValidationErrors::single(
                        "parameters.report",
                        format!("unknown report `{key}`; one of {}", keys.join(", ")),
                    ));
                }
            },
            _ => {
                return Err(ValidationErrors::single(
                    "parameters.report",
                    "required: the catalogue key of the report (GET /v1/reports/catalogue)",
                ));
            }
        };
        let mut values = Map::new();
        for (name, value) in object {
            if name == "report" {
                continue;
            }
            let field = format!("parameters.{name}");
            let Some(param) = report.params().iter().find(|p| p.name == name) else {
                v.error(
                    &field,
                    format!("not a parameter of the {} report", report.key()),
                );
                continue;
            };
            if value.is_null() {
                continue;
            }
            if let Some(value) = v.check(&field, check_param(param.kind, value)) {
                values.insert(name.clone(), value);
            }
        }
        let date = |name: &str| {
            values
                .get(name)
                .and_then(Value::as_str)
                .and_then(|s| NaiveDate::from_str(s).ok())
        };
        match (date("from"), date("to")) {
            (Some(from), Some(to)) => {
                if to < from {
                    v.error("parameters.to", "must not be before `from`");
                } else if (to - from).num_days() >= MAX_PERIOD_DAYS {
                    v.error(
                        "parameters.to",
                        format!("the period is at most {MAX_PERIOD_DAYS} days"),
                    );
                }
                if values.contains_key("period") {
                    v.error(
                        "parameters.period",
                        "give either `period` or `from` and `to`",
                    );
                }
            }
            (Some(_), None) if !object.contains_key("to") || object["to"].is_null() => {
                v.error("parameters.to", "required with `from`");
            }
            (None, Some(_)) if !object.contains_key("from") || object["from"].is_null() => {
                v.error("parameters.from", "required with `to`");
            }
            _ => {}
        }
        v.finish()?;
        Ok(Self { report, values })
    }

    /// Back to JSON, as stored in the events.
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("report".into(), Value::String(self.report.key().into()));
        object.extend(self.values.clone());
        Value::Object(object)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(Value::as_str)
    }

    pub fn date(&self, name: &str) -> Option<NaiveDate> {
        self.text(name).and_then(|s| NaiveDate::from_str(s).ok())
    }

    pub fn integer(&self, name: &str) -> Option<i64> {
        self.values.get(name).and_then(Value::as_i64)
    }

    /// The days a run on `today` (the tenant's) covers: `from`/`to`, the
    /// relative `period`, or the last 30 days. `None` for a report without
    /// a period.
    pub fn period(&self, today: NaiveDate) -> Option<Period> {
        if !self.report.has_period() {
            return None;
        }
        if let (Some(from), Some(to)) = (self.date("from"), self.date("to")) {
            return Some(Period { from, to });
        }
        Some(relative_period(
            self.text("period").unwrap_or("LAST_30_DAYS"),
            today,
        ))
    }
}

fn check_param(kind: ParamKind, value: &Value) -> Result<Value, String> {
    match kind {
        ParamKind::Date => value
            .as_str()
            .and_then(|s| NaiveDate::from_str(s).ok())
            .map(|d| Value::String(d.to_string()))
            .ok_or_else(|| "must be a date, YYYY-MM-DD".to_owned()),
        ParamKind::RelativePeriod => match value.as_str() {
            Some(p) if RELATIVE_PERIODS.contains(&p) => Ok(value.clone()),
            _ => Err(format!("must be one of {}", RELATIVE_PERIODS.join(", "))),
        },
        ParamKind::OneOf(words) => match value.as_str() {
            Some(w) if words.contains(&w) => Ok(value.clone()),
            _ => Err(format!("must be one of {}", words.join(", "))),
        },
        ParamKind::Integer { min, max } => match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(value.clone()),
            _ => Err(format!("must be a whole number from {min} to {max}")),
        },
        ParamKind::Currency => match value.as_str() {
            Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
                Ok(value.clone())
            }
            _ => Err("must be an ISO 4217 code such as CAD".to_owned()),
        },
        ParamKind::Identifier => value
            .as_str()
            .ok_or_else(|| "must be a string".to_owned())
            .and_then(values::identifier)
            .map(Value::String),
    }
}

/// The days `period` (one of [`RELATIVE_PERIODS`]) covers on `today`.
pub fn relative_period(period: &str, today: NaiveDate) -> Period {
    let month_start = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let quarter_start =
        |d: NaiveDate| NaiveDate::from_ymd_opt(d.year(), (d.month0() / 3) * 3 + 1, 1).unwrap_or(d);
    let year_start = |d: NaiveDate| NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d);
    let day = Duration::days(1);
    match period {
        "TODAY" => Period {
            from: today,
            to: today,
        },
        "YESTERDAY" => Period {
            from: today - day,
            to: today - day,
        },
        "LAST_7_DAYS" => Period {
            from: today - Duration::days(6),
            to: today,
        },
        "MONTH_TO_DATE" => Period {
            from: month_start(today),
            to: today,
        },
        "LAST_MONTH" => {
            let to = month_start(today) - day;
            Period {
                from: month_start(to),
                to,
            }
        }
        "QUARTER_TO_DATE" => Period {
            from: quarter_start(today),
            to: today,
        },
        "LAST_QUARTER" => {
            let to = quarter_start(today) - day;
            Period {
                from: quarter_start(to),
                to,
            }
        }
        "YEAR_TO_DATE" => Period {
            from: year_start(today),
            to: today,
        },
        "LAST_YEAR" => {
            let to = year_start(today) - day;
            Period {
                from: year_start(to),
                to,
            }
        }
        _ => Period {
            from: today - Duration::days(29),
            to: today,
        },
    }
}

/// A five-field cron expression, read in a time zone.
#[derive(Clone, Debug)]
pub struct CronSchedule(croner::Cron);

impl CronSchedule {
    pub fn parse(expression: &str) -> Result<Self, String> {
        let expression = expression.trim();
        if expression.split_whitespace().count() != 5 {
            return Err(
                "must have five fields: minute hour day-of-month month day-of-week".to_owned(),
            );
        }
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(expression)
            .map(Self)
            .map_err(|e| format!("not a valid cron expression: {e}"))
    }

    /// The first due instant strictly after `after`, read in `tz`. A local
    /// time in a spring-forward gap is due at the first valid instant after
    /// the gap; a fixed local time in a repeated autumn hour is due once,
    /// at its first occurrence (croner's DST rules, after OCPS and Vixie
    /// cron).
    pub fn next_after(&self, after: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
        let local = tz.from_utc_datetime(&after.naive_utc());
        self.0
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The run id of `report`'s scheduled run due at `due_at`: the same on
/// every process, so a due time is one run.
pub fn scheduled_run_id(report_id: Uuid, due_at: DateTime<Utc>) -> Uuid {
    Uuid::new_v5(
        &report_id,
        format!("schedule:{}", due_at.timestamp()).as_bytes(),
    )
}

/// A report's settings as the client sent them.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportSettings {
    pub report_type: Option<ReportType>,
    pub name: String,
    pub description: Option<String>,
    pub parameters: Value,
    pub format: ReportFormat,
    pub schedule: Option<ReportSchedule>,
    pub recipients: Vec<Recipient>,
}

/// A report's settings as validated.
#[derive(Clone, Debug, PartialEq)]
struct Checked {
    report_type: ReportType,
    name: String,
    description: Option<String>,
    parameters: Value,
    format: ReportFormat,
    schedule: Option<ReportSchedule>,
    recipients: Vec<Recipient>,
}

fn validate(settings: ReportSettings) -> Result<Checked, ValidationErrors> {
    let mut v = Validator::new();
    let name = v.check(
        "name",
        values::required_text(&settings.name, values::MAX_SHORT_TEXT),
    );
    let description = v.check(
        "description",
        values::optional_text(settings.description.as_deref(), values::MAX_LONG_TEXT),
    );
    let parameters = match Parameters::parse(&settings.parameters) {
        Ok(p) => Some(p),
        Err(errors) => {
            for e in errors.0 {
                v.error(&e.field, e.message);
            }
            None
        }
    };
    let mut report_type = settings.report_type;
    if let Some(p) = &parameters {
        let expected = p.report.report_type();
        match settings.report_type {
            Some(given) if given != expected && given != ReportType::Custom => v.error(
                "report_type",
                format!("the {} report is {expected}", p.report.key()),
            ),
            Some(_) => {}
            None => report_type = Some(expected),
        }
    }
    let schedule = match settings.schedule {
        Some(s) => v
            .check("schedule.cron", CronSchedule::parse(&s.cron))
            .map(|_| {
                Some(ReportSchedule {
                    cron: s.cron.split_whitespace().collect::<Vec<_>>().join(" "),
                })
            }),
        None => Some(None),
    };
    let mut recipients = Vec::new();
    if settings.recipients.len() > MAX_RECIPIENTS {
        v.error("recipients", format!("at most {MAX_RECIPIENTS} recipients"));
    }
    for (i, r) in settings.recipients.into_iter().enumerate() {
        let r = match r {
            Recipient::Email { email } => v
                .check(&format!("recipients[{i}].email"), values::email(&email))
                .map(|email| Recipient::Email { email }),
            staff @ Recipient::Staff { .. } => Some(staff),
        };
        if let Some(r) = r {
            if recipients.contains(&r) {
                v.error(&format!("recipients[{i}]"), "listed twice");
            } else {
                recipients.push(r);
            }
        }
    }
    v.finish()?;
    let (Some(name), Some(description), Some(parameters), Some(report_type), Some(schedule)) =
        (name, description, parameters, report_type, schedule)
    else {
        unreachable!("every field was validated");
    };
    Ok(Checked {
        report_type,
        name,
        description,
        parameters: parameters.to_value(),
        format: settings.format,
        schedule,
        recipients,
    })
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReportAction {
    Create {
        tenant_id: TenantId,
        report_id: Uuid,
        settings: ReportSettings,
    },
    /// The settings as they are to stand (nothing changes: no event).
    Update(ReportSettings),
    Delete,
    /// Ask for a run (a run id seen before: nothing).
    RequestRun {
        run_id: Uuid,
        trigger: RunTrigger,
        due_at: Option<DateTime<Utc>>,
    },
    /// The worker starts (or, after a crash, restarts) a pending run.
    StartRun {
        run_id: Uuid,
    },
    CompleteRun {
        run_id: Uuid,
        file: ReportFile,
        period: String,
    },
    FailRun {
        run_id: Uuid,
        error: String,
    },
    MarkSent {
        run_id: Uuid,
        communication_ids: Vec<Uuid>,
    },
    ExpireFile {
        run_id: Uuid,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReportCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: ReportAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("invalid report: {0}")]
    Invalid(ValidationErrors),
    #[error("this report exists already")]
    AlreadyExists,
    #[error("no such report")]
    NotFound,
    #[error("no such run")]
    RunNotFound,
    #[error("this run is over ({0})")]
    RunOver(ReportStatus),
}

impl DomainError for ReportError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists => ErrorKind::Conflict {
                rule: "report.exists",
            },
            Self::NotFound | Self::RunNotFound => ErrorKind::NotFound,
            Self::RunOver(_) => ErrorKind::Conflict {
                rule: "report.run-over",
            },
        }
    }
}

impl From<ValidationErrors> for ReportError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// One run as it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub run_id: Uuid,
    pub trigger: RunTrigger,
    pub due_at: Option<DateTime<Utc>>,
    pub status: ReportStatus,
    pub attempts: u32,
    pub file: Option<ReportFile>,
    pub sent: bool,
    pub expired: bool,
    pub requested_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A report as it stands.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tenant_id: Option<TenantId>,
    pub id: Option<Uuid>,
    pub report_type: Option<ReportType>,
    pub name: String,
    pub description: Option<String>,
    pub parameters: Value,
    pub format: Option<ReportFormat>,
    pub schedule: Option<ReportSchedule>,
    pub recipients: Vec<Recipient>,
    pub deleted: bool,
    pub created_by: Option<Uuid>,
    /// Every run, oldest first.
    pub runs: Vec<Run>,
}

impl Report {
    pub fn exists(&self) -> bool {
        self.id.is_some() && !self.deleted
    }

    pub fn run(&self, run_id: Uuid) -> Option<&Run> {
        self.runs.iter().find(|r| r.run_id == run_id)
    }

    fn run_mut(&mut self, run_id: Uuid) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.run_id == run_id)
    }

    /// The validated parameters (they were valid when stored).
    pub fn parameters(&self) -> Option<Parameters> {
        Parameters::parse(&self.parameters).ok()
    }

    fn checked(&self) -> Checked {
        Checked {
            report_type: self.report_type.unwrap_or(ReportType::Custom),
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
            format: self.format.unwrap_or(ReportFormat::Pdf),
            schedule: self.schedule.clone(),
            recipients: self.recipients.clone(),
        }
    }

    pub fn decide(&self, command: ReportCommand) -> Result<Vec<ReportEvent>, ReportError> {
        let ReportCommand { at, actor, action } = command;
        if let ReportAction::Create {
            tenant_id,
            report_id,
            settings,
        } = action
        {
            if self.id.is_some() {
                return Err(ReportError::AlreadyExists);
            }
            let s = validate(settings)?;
            return Ok(vec![
                ReportCreated {
                    tenant_id,
                    report_id,
                    report_type: s.report_type,
                    name: s.name,
                    description: s.description,
                    parameters: s.parameters,
                    format: s.format,
                    schedule: s.schedule,
                    recipients: s.recipients,
                    created_by: actor,
                    created_at: at,
                }
                .into(),
            ]);
        }
        // A deleted report's files still expire.
        let expiring = matches!(action, ReportAction::ExpireFile { .. });
        if !(self.exists() || (self.id.is_some() && expiring)) {
            return Err(ReportError::NotFound);
        }
        let run = |run_id: Uuid| self.run(run_id).ok_or(ReportError::RunNotFound);
        Ok(match action {
            ReportAction::Create { .. } => unreachable!("handled above"),
            ReportAction::Update(settings) => {
                let s = validate(settings)?;
                if s == self.checked() {
                    vec![]
                } else {
                    vec![
                        ReportUpdated {
                            report_type: s.report_type,
                            name: s.name,
                            description: s.description,
                            parameters: s.parameters,
                            format: s.format,
                            schedule: s.schedule,
                            recipients: s.recipients,
                            updated_by: actor,
                            updated_at: at,
                        }
                        .into(),
                    ]
                }
            }
            ReportAction::Delete => vec![
                ReportDeleted {
                    deleted_by: actor,
                    deleted_at: at,
                }
                .into(),
            ],
            ReportAction::RequestRun { run_id, .. } if self.run(run_id).is_some() => vec![],
            ReportAction::RequestRun {
                run_id,
                trigger,
                due_at,
            } => vec![
                ReportRunRequested {
                    run_id,
                    trigger,
                    due_at,
                    requested_by: actor,
                    requested_at: at,
                }
                .into(),
            ],
            ReportAction::StartRun { run_id } => {
                let run = run(run_id)?;
                match run.status {
                    ReportStatus::Pending | ReportStatus::Generating => {}
                    over => return Err(ReportError::RunOver(over)),
                }
                if run.attempts >= MAX_ATTEMPTS {
                    vec![
                        ReportRunFailed {
                            run_id,
                            error: format!(
                                "the worker stopped {MAX_ATTEMPTS} times while writing this report"
                            ),
                            failed_at: at,
                        }
                        .into(),
                    ]
                } else {
                    vec![
                        ReportRunStarted {
                            run_id,
                            attempt: run.attempts + 1,
                            started_at: at,
                        }
                        .into(),
                    ]
                }
            }
            ReportAction::CompleteRun {
                run_id,
                file,
                period,
            } => {
                let run = run(run_id)?;
                if run.status != ReportStatus::Generating {
                    return Err(ReportError::RunOver(run.status));
                }
                vec![
                    ReportRunCompleted {
                        run_id,
                        file,
                        period,
                        completed_at: at,
                    }
                    .into(),
                ]
            }
            ReportAction::FailRun { run_id, error } => {
                let run = run(run_id)?;
                if matches!(run.status, ReportStatus::Completed | ReportStatus::Failed) {
                    return Err(ReportError::RunOver(run.status));
                }
                vec![
                    ReportRunFailed {
                        run_id,
                        error: cut(&error, 2_000),
                        failed_at: at,
                    }
                    .into(),
                ]
            }
            ReportAction::MarkSent {
                run_id,
                communication_ids,
            } => {
                let run = run(run_id)?;
                if run.sent {
                    vec![]
                } else {
                    vec![
                        ReportRunSent {
                            run_id,
                            communication_ids,
                            sent_at: at,
                        }
                        .into(),
                    ]
                }
            }
            ReportAction::ExpireFile { run_id } => {
                let run = run(run_id)?;
                if run.file.is_none() || run.expired {
                    vec![]
                } else {
                    vec![
                        ReportRunFileExpired {
                            run_id,
                            expired_at: at,
                        }
                        .into(),
                    ]
                }
            }
        })
    }
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

impl Aggregate for Report {
    const TYPE: &'static str = event_schemas::report::AGGREGATE_TYPE;
    type Command = ReportCommand;
    type Event = ReportEvent;
    type Error = ReportError;
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
            ReportEvent::ReportCreated(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.id = Some(e.report_id);
                self.report_type = Some(e.report_type);
                self.name = e.name;
                self.description = e.description;
                self.parameters = e.parameters;
                self.format = Some(e.format);
                self.schedule = e.schedule;
                self.recipients = e.recipients;
                self.created_by = Some(e.created_by);
            }
            ReportEvent::ReportUpdated(e) => {
                self.report_type = Some(e.report_type);
                self.name = e.name;
                self.description = e.description;
                self.parameters = e.parameters;
                self.format = Some(e.format);
                self.schedule = e.schedule;
                self.recipients = e.recipients;
            }
            ReportEvent::ReportDeleted(_) => self.deleted = true,
            ReportEvent::ReportRunRequested(e) => self.runs.push(Run {
                run_id: e.run_id,
                trigger: e.trigger,
                due_at: e.due_at,
                status: ReportStatus::Pending,
                attempts: 0,
                file: None,
                sent: false,
                expired: false,
                requested_at: e.requested_at,
                completed_at: None,
            }),
            ReportEvent::ReportRunStarted(e) => {
                if let Some(run) = self.run_mut(e.run_id) {
                    run.status = ReportStatus::Generating;
                    run.attempts = e.attempt;
                }
            }
            ReportEvent::ReportRunCompleted(e) => {
                if let Some(run) = self.run_mut(e.run_id) {
                    run.status = ReportStatus::Completed;
                    run.file = Some(e.file);
                    run.completed_at = Some(e.completed_at);
                }
            }
            ReportEvent::ReportRunFailed(e) => {
                if let Some(run) = self.run_mut(e.run_id) {
                    run.status = ReportStatus::Failed;
                    run.completed_at = Some(e.failed_at);
                }
            }
            ReportEvent::ReportRunSent(e) => {
                if let Some(run) = self.run_mut(e.run_id) {
                    run.sent = true;
                }
            }
            ReportEvent::ReportRunFileExpired(e) => {
                if let Some(run) = self.run_mut(e.run_id) {
                    run.expired = true;
                }
            }
        }
    }
}
