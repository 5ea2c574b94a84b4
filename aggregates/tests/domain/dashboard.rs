//! The `Dashboard` aggregate: widgets checked against the metric catalogue
//! of their kind, the layout against the widgets and the grid; and a user's
//! default dashboard, one at a time.

use aggregates::dashboard::{
    ChooseDefault, Dashboard, DashboardAction, DashboardCommand, DashboardDefault,
    DashboardDefaultError, DashboardError, DashboardSettings, default_id, metrics,
};
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::Aggregate;
use event_schemas::TenantId;
use event_schemas::dashboard::{
    DashboardDefaultEvent, DashboardEvent, DashboardTheme, LayoutItem, Widget, WidgetKind,
    WidgetParams,
};
use uuid::Uuid;

fn acme() -> TenantId {
    TenantId::parse("acme").expect("a valid tenant id")
}

const ACTOR: Uuid = Uuid::from_u128(0xa1);

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 10, 9, 0, 0).unwrap()
}

fn widget(id: &str, kind: WidgetKind, metric: &str) -> Widget {
    Widget {
        id: id.into(),
        kind,
        metric: metric.into(),
        title: None,
        params: WidgetParams::default(),
    }
}

fn settings() -> DashboardSettings {
    DashboardSettings {
        name: "Sales".into(),
        description: None,
        widgets: vec![
            widget("leads", WidgetKind::Kpi, "new_leads"),
            widget("trend", WidgetKind::Timeseries, "revenue"),
            widget("status", WidgetKind::Bar, "leads_by_status"),
            widget("recent", WidgetKind::Table, "recent_leads"),
        ],
        layout: vec![],
        is_public: false,
        refresh_interval_seconds: Some(60),
        theme: DashboardTheme::Light,
    }
}

fn create(settings: DashboardSettings) -> Result<Vec<DashboardEvent>, DashboardError> {
    Dashboard::default().decide(DashboardCommand {
        at: at(),
        actor: ACTOR,
        action: DashboardAction::Create {
            tenant_id: acme(),
            dashboard_id: Uuid::from_u128(1),
            owner_id: ACTOR,
            settings,
        },
    })
}

fn invalid_fields(result: Result<Vec<DashboardEvent>, DashboardError>) -> Vec<String> {
    match result {
        Err(DashboardError::Invalid(errors)) => errors.fields().map(str::to_owned).collect(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn an_empty_layout_stacks_the_widgets_full_width() {
    let events = create(settings()).unwrap();
    let mut dashboard = Dashboard::default();
    for e in events {
        dashboard.apply(e);
    }
    assert_eq!(dashboard.layout.len(), 4);
    assert_eq!(
        dashboard.layout[1],
        LayoutItem {
            widget: "trend".into(),
            x: 0,
            y: 4,
            w: 12,
            h: 4
        }
    );
    // Unchanged settings (with the layout as it was filled) change nothing.
    let mut same = settings();
    same.layout = dashboard.layout.clone();
    let again = dashboard
        .decide(DashboardCommand {
            at: at(),
            actor: ACTOR,
            action: DashboardAction::Update(same),
        })
        .unwrap();
    assert_eq!(again, vec![]);
}

#[test]
fn each_bad_widget_and_layout_item_is_named() {
    let mut s = settings();
    s.widgets[0].metric = "leads_by_status".into(); // a bar metric on a KPI tile
    s.widgets[1].params.days = Some(0);
    s.widgets[2].params.limit = Some(101);
    s.widgets[3].id = "leads".into();
    s.widgets.push(Widget {
        params: WidgetParams {
            limit: Some(5),
            ..Default::default()
        },
        ..widget("k2", WidgetKind::Kpi, "revenue")
    });
    s.layout = vec![
        LayoutItem {
            widget: "ghost".into(),
            x: 0,
            y: 0,
            w: 3,
            h: 2,
        },
        LayoutItem {
            widget: "trend".into(),
            x: 10,
            y: 0,
            w: 3,
            h: 2,
        },
    ];
    s.refresh_interval_seconds = Some(1);
    assert_eq!(
        invalid_fields(create(s)),
        vec![
            "widgets[0].metric",
            "widgets[1].params.days",
            "widgets[2].params.limit",
            "widgets[3].id",
            "widgets[4].params.limit",
            "layout[0].widget",
            "layout[1].x",
            "refresh_interval_seconds",
        ]
    );
}

#[test]
fn every_kind_has_metrics_and_kpis_are_all_tiles() {
    for kind in WidgetKind::ALL {
        assert!(!metrics::of(*kind).is_empty());
    }
    assert_eq!(metrics::KPI.len(), 13);
}

fn choose(
    state: &DashboardDefault,
    user: Uuid,
    dashboard: Option<u128>,
) -> Result<Vec<DashboardDefaultEvent>, DashboardDefaultError> {
    state.decide(ChooseDefault {
        at: at(),
        actor: user,
        tenant_id: acme(),
        user_id: user,
        dashboard_id: dashboard.map(Uuid::from_u128),
    })
}

#[test]
fn a_user_has_one_default_at_a_time() {
    let user = Uuid::from_u128(5);
    let mut state = DashboardDefault::default();
    assert_eq!(choose(&state, user, None).unwrap(), vec![]);
    for e in choose(&state, user, Some(1)).unwrap() {
        state.apply(e);
    }
    assert_eq!(state.dashboard_id, Some(Uuid::from_u128(1)));
    assert_eq!(choose(&state, user, Some(1)).unwrap(), vec![]);
    for e in choose(&state, user, Some(2)).unwrap() {
        state.apply(e);
    }
    assert_eq!(state.dashboard_id, Some(Uuid::from_u128(2)));
    assert_eq!(
        choose(&state, Uuid::from_u128(6), Some(2)),
        Err(DashboardDefaultError::WrongUser)
    );
    let acme = acme();
    let other = TenantId::parse("other").unwrap();
    assert_ne!(default_id(&acme, user), default_id(&other, user));
    assert_eq!(default_id(&acme, user), default_id(&acme, user));
}
