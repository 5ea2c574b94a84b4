//! Events of dashboards (the seed's Dashboard).
//!
//! A `Dashboard` belongs to the user who made it and is visible to the
//! tenant when public. Its widgets each show one metric of the KPI
//! catalogue; its layout places them on a grid.
//!
//! Which dashboard is a user's default is kept by a second aggregate, one
//! per user (`DashboardDefault`): choosing a default is one write to one
//! aggregate, so a user has at most one default however many requests
//! race.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::TenantId;

/// The aggregate type name of a dashboard's events.
pub const AGGREGATE_TYPE: &str = "Dashboard";
/// The aggregate type name of a user's default-dashboard choice.
pub const DEFAULT_AGGREGATE_TYPE: &str = "DashboardDefault";

crate::common::wire_enum! {
    /// How a widget shows its metric.
    WidgetKind {
        /// One figure with the previous period's.
        Kpi => "kpi",
        /// One point per day.
        Timeseries => "timeseries",
        Bar => "bar",
        Table => "table",
    }
}

crate::common::wire_enum! {
    /// A dashboard's colours.
    DashboardTheme {
        Light => "light",
        Dark => "dark",
    }
}

/// What a widget's metric is computed over.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct WidgetParams {
    /// The period: the last `days` days, today included (1–366; default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u16>,
    /// Rows or bars shown (1–100; default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u16>,
    /// Only this branch (a location of the tenant profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
}

/// One widget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct Widget {
    /// Unique within the dashboard (letters, digits, `-`, `_`).
    pub id: String,
    pub kind: WidgetKind,
    /// A metric of the catalogue for this kind (`GET /v1/kpis` lists the KPIs).
    pub metric: String,
    /// Shown instead of the metric's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub params: WidgetParams,
}

/// Where a widget sits on the 12-column grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct LayoutItem {
    /// The widget's id.
    pub widget: String,
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

/// A dashboard was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DashboardCreated {
    pub tenant_id: TenantId,
    pub dashboard_id: Uuid,
    /// The user it belongs to.
    pub owner_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub widgets: Vec<Widget>,
    pub layout: Vec<LayoutItem>,
    pub is_public: bool,
    /// How often a page without the live stream reloads (seconds).
    pub refresh_interval_seconds: Option<u32>,
    pub theme: DashboardTheme,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A dashboard was edited: all of its settings as they now stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DashboardUpdated {
    pub name: String,
    pub description: Option<String>,
    pub widgets: Vec<Widget>,
    pub layout: Vec<LayoutItem>,
    pub is_public: bool,
    pub refresh_interval_seconds: Option<u32>,
    pub theme: DashboardTheme,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

/// A dashboard was deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DashboardDeleted {
    pub deleted_by: Uuid,
    pub deleted_at: DateTime<Utc>,
}

crate::event_enum! {
    DashboardEvent for AGGREGATE_TYPE {
        DashboardCreated("1.0", "A dashboard was made: owner, name, widgets (kind, metric, parameters), grid layout, public or not, refresh interval, theme."),
        DashboardUpdated("1.0", "A dashboard was edited, all of its settings as they now stand."),
        DashboardDeleted("1.0", "A dashboard was deleted."),
    }
}

/// A user's default dashboard is now `dashboard_id` (`None`: no default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DefaultDashboardChosen {
    pub tenant_id: TenantId,
    pub user_id: Uuid,
    pub dashboard_id: Option<Uuid>,
    pub chosen_by: Uuid,
    pub chosen_at: DateTime<Utc>,
}

crate::event_enum! {
    DashboardDefaultEvent for DEFAULT_AGGREGATE_TYPE {
        DefaultDashboardChosen("1.0", "A user's default dashboard was chosen (or cleared): at most one per user."),
    }
}
