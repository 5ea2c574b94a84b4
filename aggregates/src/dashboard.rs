//! The `Dashboard` aggregate (the seed's Dashboard) and `DashboardDefault`,
//! a user's choice of default dashboard.
//!
//! A dashboard's widgets each show one metric of the catalogue for their
//! kind ([`metrics`]); the layout places widgets on a 12-column grid. The
//! default is kept apart, one aggregate per user: choosing a default is
//! one write to that aggregate, so concurrent choices leave exactly one.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::TenantId;
use event_schemas::dashboard::{
    DashboardCreated, DashboardDefaultEvent, DashboardDeleted, DashboardEvent, DashboardTheme,
    DashboardUpdated, DefaultDashboardChosen, LayoutItem, Widget, WidgetKind,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, ErrorKind, ValidationErrors, Validator};
use crate::values;

/// The grid's width in columns.
pub const GRID_COLUMNS: u16 = 12;
/// At most this many widgets per dashboard.
pub const MAX_WIDGETS: usize = 24;
/// The refresh interval's bounds (seconds).
pub const MIN_REFRESH_SECONDS: u32 = 5;
pub const MAX_REFRESH_SECONDS: u32 = 86_400;
/// A widget's `days` bounds and default.
pub const MAX_DAYS: u16 = 366;
pub const DEFAULT_DAYS: u16 = 30;
/// A widget's `limit` bounds and default.
pub const MAX_LIMIT: u16 = 100;
pub const DEFAULT_LIMIT: u16 = 10;

/// The metrics each widget kind can show (the query side computes them;
/// a test checks both lists agree).
pub mod metrics {
    /// KPI tiles: every KPI of `GET /v1/kpis`.
    pub const KPI: &[&str] = &[
        "new_leads",
        "speed_to_lead",
        "lead_conversion_rate",
        "quotes_sent",
        "quote_acceptance_rate",
        "booked_moves",
        "average_move_value",
        "revenue",
        "ar_outstanding",
        "days_sales_outstanding",
        "overdue_invoices",
        "truck_utilization",
        "low_stock_items",
    ];
    /// One point per day.
    pub const TIMESERIES: &[&str] = &["new_leads", "quotes_sent", "booked_moves", "revenue"];
    pub const BAR: &[&str] = &["leads_by_status", "leads_by_source", "revenue_by_month"];
    pub const TABLE: &[&str] = &["recent_leads", "overdue_invoices", "low_stock_items"];

    /// The metrics of `kind`.
    pub fn of(kind: event_schemas::dashboard::WidgetKind) -> &'static [&'static str] {
        use event_schemas::dashboard::WidgetKind;
        match kind {
            WidgetKind::Kpi => KPI,
            WidgetKind::Timeseries => TIMESERIES,
            WidgetKind::Bar => BAR,
            WidgetKind::Table => TABLE,
        }
    }
}

/// A dashboard's settings as the client sent them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardSettings {
    pub name: String,
    pub description: Option<String>,
    pub widgets: Vec<Widget>,
    /// Empty: one widget per row, full width, in order.
    pub layout: Vec<LayoutItem>,
    pub is_public: bool,
    pub refresh_interval_seconds: Option<u32>,
    pub theme: DashboardTheme,
}

fn validate(s: DashboardSettings) -> Result<DashboardSettings, ValidationErrors> {
    let mut v = Validator::new();
    let name = v.check(
        "name",
        values::required_text(&s.name, values::MAX_SHORT_TEXT),
    );
    let description = v.check(
        "description",
        values::optional_text(s.description.as_deref(), values::MAX_LONG_TEXT),
    );
    if s.widgets.len() > MAX_WIDGETS {
        v.error("widgets", format!("at most {MAX_WIDGETS} widgets"));
    }
    let mut ids = BTreeSet::new();
    let mut widgets = Vec::with_capacity(s.widgets.len());
    for (i, mut w) in s.widgets.into_iter().enumerate() {
        let at = |field: &str| format!("widgets[{i}].{field}");
        if let Some(id) = v.check(&at("id"), values::identifier(&w.id)) {
            if !ids.insert(id.clone()) {
                v.error(&at("id"), "another widget has this id");
            }
            w.id = id;
        }
        if !metrics::of(w.kind).contains(&w.metric.as_str()) {
            v.error(
                &at("metric"),
                format!(
                    "a {} widget shows one of {}",
                    w.kind,
                    metrics::of(w.kind).join(", ")
                ),
            );
        }
        if let Some(title) = v.check(
            &at("title"),
            values::optional_text(w.title.as_deref(), values::MAX_SHORT_TEXT),
        ) {
            w.title = title;
        }
        if let Some(days) = w.params.days
            && !(1..=MAX_DAYS).contains(&days)
        {
            v.error(&at("params.days"), format!("from 1 to {MAX_DAYS}"));
        }
        if let Some(limit) = w.params.limit {
            if matches!(w.kind, WidgetKind::Kpi | WidgetKind::Timeseries) {
                v.error(
                    &at("params.limit"),
                    "only bar and table widgets take a limit",
                );
            } else if !(1..=MAX_LIMIT).contains(&limit) {
                v.error(&at("params.limit"), format!("from 1 to {MAX_LIMIT}"));
            }
        }
        if let Some(location) = &w.params.location_id
            && let Some(id) = v.check(&at("params.location_id"), values::identifier(location))
        {
            w.params.location_id = Some(id);
        }
        widgets.push(w);
    }
    let mut placed = BTreeSet::new();
    for (i, item) in s.layout.iter().enumerate() {
        let at = |field: &str| format!("layout[{i}].{field}");
        if !ids.contains(&item.widget) {
            v.error(&at("widget"), "no widget has this id");
        } else if !placed.insert(item.widget.clone()) {
            v.error(&at("widget"), "this widget is placed twice");
        }
        if item.w == 0 || item.h == 0 {
            v.error(&at("w"), "width and height are at least 1");
        } else if item.x + item.w > GRID_COLUMNS {
            v.error(
                &at("x"),
                format!("x + w must fit the {GRID_COLUMNS}-column grid"),
            );
        }
        if item.h > 24 || item.y > 1_000 {
            v.error(&at("h"), "at most 24 rows high, at row 1000 or above");
        }
    }
    if let Some(seconds) = s.refresh_interval_seconds
        && !(MIN_REFRESH_SECONDS..=MAX_REFRESH_SECONDS).contains(&seconds)
    {
        v.error(
            "refresh_interval_seconds",
            format!("from {MIN_REFRESH_SECONDS} to {MAX_REFRESH_SECONDS}"),
        );
    }
    v.finish()?;
    let layout = if s.layout.is_empty() {
        widgets
            .iter()
            .enumerate()
            .map(|(i, w)| LayoutItem {
                widget: w.id.clone(),
                x: 0,
                y: (i as u16) * 4,
                w: GRID_COLUMNS,
                h: 4,
            })
            .collect()
    } else {
        s.layout
    };
    Ok(DashboardSettings {
        name: name.unwrap_or_default(),
        description: description.flatten(),
        widgets,
        layout,
        ..s
    })
}

#[derive(Clone, Debug, PartialEq)]
pub enum DashboardAction {
    Create {
        tenant_id: TenantId,
        dashboard_id: Uuid,
        owner_id: Uuid,
        settings: DashboardSettings,
    },
    Update(DashboardSettings),
    Delete,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DashboardCommand {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub action: DashboardAction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DashboardError {
    #[error("invalid dashboard: {0}")]
    Invalid(ValidationErrors),
    #[error("this dashboard exists already")]
    AlreadyExists,
    #[error("no such dashboard")]
    NotFound,
}

impl DomainError for DashboardError {
    fn kind(&self) -> ErrorKind<'_> {
        match self {
            Self::Invalid(errors) => ErrorKind::Invalid(errors),
            Self::AlreadyExists => ErrorKind::Conflict {
                rule: "dashboard.exists",
            },
            Self::NotFound => ErrorKind::NotFound,
        }
    }
}

impl From<ValidationErrors> for DashboardError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

/// A dashboard as it stands.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub tenant_id: Option<TenantId>,
    pub id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub widgets: Vec<Widget>,
    pub layout: Vec<LayoutItem>,
    pub is_public: bool,
    pub refresh_interval_seconds: Option<u32>,
    pub theme: Option<DashboardTheme>,
    pub deleted: bool,
}

impl Dashboard {
    pub fn exists(&self) -> bool {
        self.id.is_some() && !self.deleted
    }

    fn settings(&self) -> DashboardSettings {
        DashboardSettings {
            name: self.name.clone(),
            description: self.description.clone(),
            widgets: self.widgets.clone(),
            layout: self.layout.clone(),
            is_public: self.is_public,
            refresh_interval_seconds: self.refresh_interval_seconds,
            theme: self.theme.unwrap_or(DashboardTheme::Dark),
        }
    }

    pub fn decide(&self, command: DashboardCommand) -> Result<Vec<DashboardEvent>, DashboardError> {
        let DashboardCommand { at, actor, action } = command;
        if let DashboardAction::Create {
            tenant_id,
            dashboard_id,
            owner_id,
            settings,
        } = action
        {
            if self.id.is_some() {
                return Err(DashboardError::AlreadyExists);
            }
            let s = validate(settings)?;
            return Ok(vec![
                DashboardCreated {
                    tenant_id,
                    dashboard_id,
                    owner_id,
                    name: s.name,
                    description: s.description,
                    widgets: s.widgets,
                    layout: s.layout,
                    is_public: s.is_public,
                    refresh_interval_seconds: s.refresh_interval_seconds,
                    theme: s.theme,
                    created_by: actor,
                    created_at: at,
                }
                .into(),
            ]);
        }
        if !self.exists() {
            return Err(DashboardError::NotFound);
        }
        Ok(match action {
            DashboardAction::Create { .. } => unreachable!("handled above"),
            DashboardAction::Update(settings) => {
                let s = validate(settings)?;
                if s == self.settings() {
                    vec![]
                } else {
                    vec![
                        DashboardUpdated {
                            name: s.name,
                            description: s.description,
                            widgets: s.widgets,
                            layout: s.layout,
                            is_public: s.is_public,
                            refresh_interval_seconds: s.refresh_interval_seconds,
                            theme: s.theme,
                            updated_by: actor,
                            updated_at: at,
                        }
                        .into(),
                    ]
                }
            }
            DashboardAction::Delete => vec![
                DashboardDeleted {
                    deleted_by: actor,
                    deleted_at: at,
                }
                .into(),
            ],
        })
    }
}

impl Aggregate for Dashboard {
    const TYPE: &'static str = event_schemas::dashboard::AGGREGATE_TYPE;
    type Command = DashboardCommand;
    type Event = DashboardEvent;
    type Error = DashboardError;
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
            DashboardEvent::DashboardCreated(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.id = Some(e.dashboard_id);
                self.owner_id = Some(e.owner_id);
                self.name = e.name;
                self.description = e.description;
                self.widgets = e.widgets;
                self.layout = e.layout;
                self.is_public = e.is_public;
                self.refresh_interval_seconds = e.refresh_interval_seconds;
                self.theme = Some(e.theme);
            }
            DashboardEvent::DashboardUpdated(e) => {
                self.name = e.name;
                self.description = e.description;
                self.widgets = e.widgets;
                self.layout = e.layout;
                self.is_public = e.is_public;
                self.refresh_interval_seconds = e.refresh_interval_seconds;
                self.theme = Some(e.theme);
            }
            DashboardEvent::DashboardDeleted(_) => self.deleted = true,
        }
    }
}

impl crate::TenantOwned for Dashboard {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}

/// The id of `user`'s default-dashboard aggregate in `tenant`.
pub fn default_id(tenant: &TenantId, user: Uuid) -> Uuid {
    Uuid::new_v5(
        &user,
        format!("dashboard-default:{}", tenant.as_str()).as_bytes(),
    )
}

/// Choose (or clear) a user's default dashboard. The handler has checked
/// that the user may read the dashboard.
#[derive(Clone, Debug, PartialEq)]
pub struct ChooseDefault {
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub tenant_id: TenantId,
    pub user_id: Uuid,
    pub dashboard_id: Option<Uuid>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DashboardDefaultError {
    #[error("this choice belongs to another user")]
    WrongUser,
}

impl DomainError for DashboardDefaultError {
    fn kind(&self) -> ErrorKind<'_> {
        ErrorKind::Conflict {
            rule: "dashboard-default.wrong-user",
        }
    }
}

/// A user's default dashboard.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DashboardDefault {
    pub tenant_id: Option<TenantId>,
    pub user_id: Option<Uuid>,
    pub dashboard_id: Option<Uuid>,
}

impl DashboardDefault {
    pub fn decide(
        &self,
        c: ChooseDefault,
    ) -> Result<Vec<DashboardDefaultEvent>, DashboardDefaultError> {
        if self.user_id.is_some_and(|u| u != c.user_id) {
            return Err(DashboardDefaultError::WrongUser);
        }
        if self.user_id.is_some() && self.dashboard_id == c.dashboard_id {
            return Ok(vec![]);
        }
        if self.user_id.is_none() && c.dashboard_id.is_none() {
            return Ok(vec![]);
        }
        Ok(vec![
            DefaultDashboardChosen {
                tenant_id: c.tenant_id,
                user_id: c.user_id,
                dashboard_id: c.dashboard_id,
                chosen_by: c.actor,
                chosen_at: c.at,
            }
            .into(),
        ])
    }
}

impl Aggregate for DashboardDefault {
    const TYPE: &'static str = event_schemas::dashboard::DEFAULT_AGGREGATE_TYPE;
    type Command = ChooseDefault;
    type Event = DashboardDefaultEvent;
    type Error = DashboardDefaultError;
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
            DashboardDefaultEvent::DefaultDashboardChosen(e) => {
                self.tenant_id = Some(e.tenant_id);
                self.user_id = Some(e.user_id);
                self.dashboard_id = e.dashboard_id;
            }
        }
    }
}

impl crate::TenantOwned for DashboardDefault {
    fn tenant(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }
}
