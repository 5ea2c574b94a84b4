//! Automated messages end to end: rules written and read back with named
//! refusals, a quote follow-up made once when its delay ends and not at
//! all once the quote is answered, a move reminder the day before at
//! 18:00 tenant time that follows a rescheduled move and stops for a
//! cancelled one, roles and tenancy. The rounds run at chosen instants.

use chrono::{DateTime, Duration, Utc};
use crm_tests::TestApp;
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};

fn runner(app: &TestApp) -> processes::rules::RuleRunner {
    processes::rules::RuleRunner {
        pool: app.pool().clone(),
        stores: event_store::Stores::new(app.pool().clone(), app.env.infra.keystore.clone()),
        renderer: app.env.infra.renderer.clone(),
        keystore: app.env.infra.keystore.clone(),
        public_url: "https://crm.example.com".into(),
    }
}

async fn setup(app: &TestApp) -> (String, String, String) {
    let admin = app.token("acme", Role::Admin);
    app.request(
        Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(
            json!({"company_name": "Acme Movers", "time_zone": "America/Toronto",
                    "locations": [{"location_id": "tor-1", "name": "Toronto"}]}),
        ),
        &[],
    )
    .await
    .expect(200);
    let customer = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "phone": "+15145550123"}),
        )
        .await;
    customer.expect(201);
    let lead = app
        .post(
            "/v1/leads",
            &admin,
            json!({"customer_id": customer.id(), "source": "website"}),
        )
        .await;
    lead.expect(201);
    (admin, customer.id(), lead.id())
}

async fn template(app: &TestApp, token: &str, body: Value) -> String {
    let created = app.post("/v1/templates", token, body).await;
    created.expect(201);
    created.id()
}

async fn messages(app: &TestApp, token: &str, customer: &str) -> Vec<Value> {
    app.settle().await;
    app.get(&format!("/v1/communications?customer_id={customer}"), token)
        .await
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn sent_quote(app: &TestApp, admin: &str, lead: &str) -> String {
    let quote = app
        .post(
            "/v1/quotes",
            admin,
            json!({"lead_id": lead, "valid_until": (Utc::now().date_naive() + Duration::days(30)).to_string(),
                   "province": "ON",
                   "items": [{"description": "Movers", "quantity": "4", "unit_price": "150.00", "category": "MOVING_SERVICES"}]}),
        )
        .await;
    quote.expect(201);
    app.post(&format!("/v1/quotes/{}/send", quote.id()), admin, json!({}))
        .await
        .expect(200);
    quote.id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_follow_up_goes_once_after_three_days_and_not_at_all_once_the_quote_is_accepted() {
    let app = TestApp::spawn().await;
    let (admin, customer, lead) = setup(&app).await;
    let manager = app.token("acme", Role::Manager);
    let tpl = template(
        &app,
        &manager,
        json!({"name": "Follow-up", "type": "EMAIL",
               "subject": "Your quote {{ quote.reference }}",
               "content": "<p>Hello {{ customer.first_name }}, any questions about the {{ quote.total | money }} quote?</p>"}),
    )
    .await;
    let rule = app
        .post(
            "/v1/communication-rules",
            &manager,
            json!({"name": "Quote follow-up", "trigger": "QUOTE_SENT", "template_id": tpl, "channel": "EMAIL",
                   "timing": {"kind": "AFTER_EVENT", "minutes": 4320},
                   "unless": ["QUOTE_ACCEPTED", "QUOTE_REJECTED"]}),
        )
        .await;
    rule.expect(201);
    let read = app
        .get(
            &format!("/v1/communication-rules/{}?min_version=1", rule.id()),
            &manager,
        )
        .await;
    assert_eq!(read.body["trigger"], "QUOTE_SENT");
    assert_eq!(
        read.body["timing"],
        json!({"kind": "AFTER_EVENT", "minutes": 4320})
    );

    let follow_up = sent_quote(&app, &admin, &lead).await;
    let answered = sent_quote(&app, &admin, &lead).await;
    app.settle().await;
    app.post(
        &format!("/v1/quotes/{answered}/accept"),
        &admin,
        json!({"revision": 1, "accepted_by_name": "Jane Doe", "accepted_ip": "203.0.113.7"}),
    )
    .await
    .expect(200);
    app.settle().await;

    let runner = runner(&app);
    // Not yet due.
    let report = runner
        .run_once(Utc::now() + Duration::days(2))
        .await
        .unwrap();
    assert_eq!((report.sent, report.stopped), (0, 0));
    assert!(messages(&app, &admin, &customer).await.is_empty());
    // Due: the open quote gets its follow-up, the accepted one nothing.
    let report = runner
        .run_once(Utc::now() + Duration::days(3) + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!((report.sent, report.stopped, report.failed), (1, 1, 0));
    let made = messages(&app, &admin, &customer).await;
    assert_eq!(made.len(), 1);
    let message = &made[0];
    assert_eq!(message["status"], "QUEUED");
    assert_eq!(message["quote_id"].as_str(), Some(follow_up.as_str()));
    assert_eq!(message["rule_id"].as_str(), Some(rule.id().as_str()));
    assert_eq!(message["recipient"], "jane@example.com");
    assert!(
        message["content"]
            .as_str()
            .unwrap()
            .contains("the 678.00 quote"),
        "{message}"
    );
    // Once per cause: another round makes nothing more.
    let report = runner
        .run_once(Utc::now() + Duration::days(4))
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(messages(&app, &admin, &customer).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_reminder_goes_the_day_before_at_six_tenant_time_follows_the_move_and_stops_if_cancelled()
 {
    let app = TestApp::spawn().await;
    let (admin, customer, lead) = setup(&app).await;
    let tpl = template(
        &app,
        &admin,
        json!({"name": "Reminder", "type": "SMS",
               "content": "Hi {{ customer.first_name }}, your movers arrive {{ schedule.local_date }} at {{ schedule.local_time }}."}),
    )
    .await;
    app.post(
        "/v1/communication-rules",
        &admin,
        json!({"name": "Day-before reminder", "trigger": "JOURNEY_SCHEDULED", "template_id": tpl, "channel": "SMS",
               "timing": {"kind": "BEFORE_START", "days": 1, "at": "18:00:00"},
               "unless": ["SCHEDULE_CANCELLED"]}),
    )
    .await
    .expect(201);
    app.settle().await;
    let schedule = |starts: &str, ends: &str| {
        json!({"location_id": "tor-1", "title": "Move", "type": "JOURNEY",
               "starts_at": starts, "ends_at": ends, "link": {"lead_id": lead}})
    };
    // Far ahead, so the reminder is in the future whatever today is.
    let moved = app
        .post(
            "/v1/schedules",
            &admin,
            schedule("2030-06-20T08:00:00-04:00", "2030-06-20T16:00:00-04:00"),
        )
        .await;
    moved.expect(201);
    let cancelled = app
        .post(
            "/v1/schedules",
            &admin,
            schedule("2030-07-20T08:00:00-04:00", "2030-07-20T16:00:00-04:00"),
        )
        .await;
    cancelled.expect(201);
    app.settle().await;
    // The first move is pushed by ten days; the second is cancelled.
    app.post(
        &format!("/v1/schedules/{}/reschedule", moved.id()),
        &admin,
        json!({"starts_at": "2030-06-30T08:00:00-04:00", "ends_at": "2030-06-30T16:00:00-04:00", "reason": "customer asked"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/schedules/{}/cancel", cancelled.id()),
        &admin,
        json!({"reason": "lost the job"}),
    )
    .await
    .expect(200);
    app.settle().await;

    let runner = runner(&app);
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    // The old day-before-18:00 is no longer due.
    let report = runner.run_once(at("2030-06-19T22:30:00Z")).await.unwrap();
    assert_eq!(report.sent, 0);
    // 18:00 Toronto (EDT) the day before the new date is 22:00 UTC.
    let report = runner.run_once(at("2030-06-29T21:59:00Z")).await.unwrap();
    assert_eq!(report.sent, 0);
    let report = runner.run_once(at("2030-06-29T22:00:00Z")).await.unwrap();
    assert_eq!(report.sent, 1);
    let made = messages(&app, &admin, &customer).await;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0]["type"], "SMS");
    assert_eq!(made[0]["recipient"], "+15145550123");
    assert_eq!(
        made[0]["content"],
        "Hi Jane, your movers arrive 2030-06-30 at 08:00."
    );
    assert_eq!(made[0]["schedule_id"].as_str(), Some(moved.id().as_str()));
    // The cancelled move's reminder never goes.
    let report = runner.run_once(at("2030-07-19T22:00:00Z")).await.unwrap();
    assert_eq!((report.sent, report.stopped), (0, 1));
    assert_eq!(messages(&app, &admin, &customer).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_name_their_field_managers_keep_rules_and_other_tenants_see_404() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = setup(&app).await;
    let sms = template(
        &app,
        &admin,
        json!({"name": "SMS", "type": "SMS", "content": "Hi {{ customer.first_name }}"}),
    )
    .await;
    let cases = [
        (
            json!({"name": "x", "trigger": "QUOTE_SENT", "template_id": uuid::Uuid::new_v4(), "channel": "SMS",
                "timing": {"kind": "AFTER_EVENT", "minutes": 10}}),
            vec!["template_id"],
        ),
        (
            json!({"name": "x", "trigger": "QUOTE_SENT", "template_id": sms, "channel": "EMAIL",
                "timing": {"kind": "AFTER_EVENT", "minutes": 10}}),
            vec!["channel"],
        ),
        (
            json!({"name": "x", "trigger": "QUOTE_SENT", "template_id": sms, "channel": "SMS",
                "timing": {"kind": "BEFORE_START", "days": 1, "at": "18:00:00"}}),
            vec!["timing"],
        ),
        (
            json!({"name": "x", "trigger": "QUOTE_SENT", "template_id": sms, "channel": "SMS",
                "timing": {"kind": "AFTER_EVENT", "minutes": 10}, "unless": ["INVOICE_PAID"]}),
            vec!["unless[0]"],
        ),
        (
            json!({"name": " ", "trigger": "LEAD_CREATED", "template_id": sms, "channel": "SMS",
                "timing": {"kind": "AFTER_EVENT", "minutes": 200000}}),
            vec!["name", "timing.minutes"],
        ),
    ];
    for (body, fields) in cases {
        let refused = app
            .post("/v1/communication-rules", &admin, body.clone())
            .await;
        refused.expect_problem(422, "validation");
        assert_eq!(refused.problem_fields(), fields, "{body}");
    }
    let good = json!({"name": "Welcome", "trigger": "LEAD_CREATED", "template_id": sms, "channel": "SMS",
                      "timing": {"kind": "AFTER_EVENT", "minutes": 5}});
    for role in [Role::Sales, Role::Dispatcher, Role::Crew] {
        app.post(
            "/v1/communication-rules",
            &app.token("acme", role),
            good.clone(),
        )
        .await
        .expect_problem(403, "forbidden");
    }
    let rule = app.post("/v1/communication-rules", &admin, good).await;
    rule.expect(201);
    let id = rule.id();
    app.get(
        &format!("/v1/communication-rules/{id}?min_version=1"),
        &app.token("acme", Role::Auditor),
    )
    .await
    .expect(200);
    let other = app.token("globex", Role::Admin);
    app.get(&format!("/v1/communication-rules/{id}"), &other)
        .await
        .expect_problem(404, "not-found");
    app.delete(&format!("/v1/communication-rules/{id}"), &other)
        .await
        .expect_problem(404, "not-found");
    assert_eq!(
        app.get("/v1/communication-rules", &other).await.body["items"],
        json!([])
    );
    app.delete(&format!("/v1/communication-rules/{id}"), &admin)
        .await
        .expect(200);
    let read = app
        .get(
            &format!("/v1/communication-rules/{id}?min_version=2"),
            &admin,
        )
        .await;
    assert_eq!(read.body["active"], false);
    let active = app.get("/v1/communication-rules?active=true", &admin).await;
    assert_eq!(active.body["items"], json!([]));
}
