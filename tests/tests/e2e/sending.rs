//! The sender end to end, against a real SMTP server and a real HTTP SMS
//! provider (test-peers, each on its own port): a template rendered and
//! delivered with its headers, a temporary refusal retried, a permanent
//! one failing the message with the server's answer, a lost answer after
//! the server accepted the message resent with the same Message-ID, SMS
//! with the communication id as the provider's reference.

use std::time::Duration;

use crm_tests::TestApp;
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};
use test_peers::{Phase, Reply, SmsProvider, SmtpServer};

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "sms-secret";

async fn profile_and_customer(app: &TestApp) -> (String, String) {
    let admin = app.token("acme", Role::Admin);
    app.request(
        Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(
            json!({"company_name": "Acme Movers", "email_sender_name": "Acme Movers",
                    "email_sender_address": "hello@acme-movers.example"}),
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
    (admin, customer.id())
}

/// Polls the message until `done` holds (the read model follows the stream).
async fn until(app: &TestApp, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let read = app.get(&format!("/v1/communications/{id}"), token).await;
        if read.status == 200 && done(&read.body) {
            return read.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message never got there: {}",
            read.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn email(app: &TestApp, token: &str, customer: &str, extra: Value) -> String {
    let mut body = json!({"type": "EMAIL", "customer_id": customer, "subject": "Your move",
                          "content": "<p>Hello Jane</p>", "send": true});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = app.post("/v1/communications", token, body).await;
    created.expect(201);
    created.id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templated_email_leaves_over_smtp_with_its_headers_and_is_sent() {
    let smtp = SmtpServer::start().await;
    let sms = SmsProvider::start(TOKEN).await;
    let app = TestApp::spawn_sending(smtp.port(), &sms.base_url(), TOKEN).await;
    let (admin, customer) = profile_and_customer(&app).await;
    let template = app
        .post(
            "/v1/templates",
            &admin,
            json!({"name": "Welcome", "type": "EMAIL", "subject": "Welcome, {{ customer.first_name }}",
                   "content": "<p>Hello {{ customer.first_name }} &amp; family,</p><p>{{ company.name }}</p>"}),
        )
        .await;
    template.expect(201);
    let created = app
        .post(
            "/v1/communications",
            &admin,
            json!({"type": "EMAIL", "customer_id": customer, "template_id": template.id(), "send": true}),
        )
        .await;
    created.expect(201);
    let id = created.id();
    let received = smtp.wait_for(1, WAIT).await;
    let mail = &received[0];
    assert_eq!(mail.rcpt_to, vec!["jane@example.com".to_owned()]);
    assert_eq!(mail.subject().as_deref(), Some("Welcome, Jane"));
    let simple = uuid::Uuid::parse_str(&id).unwrap().simple().to_string();
    assert_eq!(
        mail.message_id(),
        Some(format!("<{simple}@acme-movers.example>"))
    );
    assert!(
        mail.header("from")
            .unwrap()
            .contains("hello@acme-movers.example")
    );
    assert!(
        mail.html_body()
            .unwrap()
            .contains("Hello Jane &amp; family")
    );
    assert!(mail.text_body().unwrap().contains("Hello Jane & family"));
    // Transactional: no unsubscribe header.
    assert_eq!(mail.header("list-unsubscribe"), None);
    let sent = until(&app, &admin, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["attempts"], 1);
    assert!(sent["sent_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_refusal_is_retried_and_a_permanent_one_fails_with_the_servers_answer() {
    let smtp = SmtpServer::start().await;
    let sms = SmsProvider::start(TOKEN).await;
    let app = TestApp::spawn_sending(smtp.port(), &sms.base_url(), TOKEN).await;
    let (admin, customer) = profile_and_customer(&app).await;

    smtp.fail_next(1, Reply::new(451, Phase::Data, "4.3.0 try again later"));
    let retried = email(&app, &admin, &customer, json!({})).await;
    let failed_once = until(&app, &admin, &retried, |m| {
        m["attempts"] == 1 && m["last_error"].is_string()
    })
    .await;
    assert!(
        failed_once["last_error"].as_str().unwrap().contains("451"),
        "{failed_once}"
    );
    assert!(failed_once["next_attempt_at"].is_string());
    let sent = until(&app, &admin, &retried, |m| m["status"] == "SENT").await;
    assert_eq!(sent["attempts"], 2);
    assert_eq!(
        smtp.wait_for(1, WAIT).await.len(),
        1,
        "the refused attempt stored nothing"
    );

    smtp.fail_next(1, Reply::new(550, Phase::Rcpt, "5.1.1 no such mailbox"));
    let refused = email(&app, &admin, &customer, json!({})).await;
    let failed = until(&app, &admin, &refused, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["attempts"], 1);
    assert!(
        failed["failure_reason"].as_str().unwrap().contains("550"),
        "{failed}"
    );
    assert!(failed["failed_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_lost_after_the_server_accepted_is_retried_with_the_same_message_id() {
    let smtp = SmtpServer::start().await;
    let sms = SmsProvider::start(TOKEN).await;
    let app = TestApp::spawn_sending(smtp.port(), &sms.base_url(), TOKEN).await;
    let (admin, customer) = profile_and_customer(&app).await;
    // The server stores the message, then the connection drops before its
    // 250: as if the sender had crashed between the acceptance and SENT.
    smtp.drop_connection_after_data_next(1);
    let id = email(&app, &admin, &customer, json!({})).await;
    let sent = until(&app, &admin, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["attempts"], 2);
    let received = smtp.wait_for(2, WAIT).await;
    assert_eq!(received.len(), 2, "delivered at least once: twice here");
    assert_eq!(
        received[0].message_id(),
        received[1].message_id(),
        "the receiver can drop the duplicate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketing_email_carries_the_list_unsubscribe_headers_and_its_link() {
    let smtp = SmtpServer::start().await;
    let sms = SmsProvider::start(TOKEN).await;
    let app = TestApp::spawn_sending(smtp.port(), &sms.base_url(), TOKEN).await;
    let (admin, customer) = profile_and_customer(&app).await;
    app.post(
        &format!("/v1/customers/{customer}/consent"),
        &admin,
        json!({"channel": "EMAIL", "kind": "IMPLIED", "given_on": "2026-06-01", "source": "past move"}),
    )
    .await
    .expect(200);
    email(&app, &admin, &customer, json!({"purpose": "MARKETING"})).await;
    let mail = smtp.wait_for(1, WAIT).await.remove(0);
    let header = mail.header("list-unsubscribe").expect("List-Unsubscribe");
    assert_eq!(
        mail.header("list-unsubscribe-post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let url = header.trim_matches(|c| c == '<' || c == '>');
    assert!(
        mail.html_body().unwrap().contains(url),
        "the link is in the body too"
    );
    // The header's URL works (one-click POST, no login).
    let path = &url[url.find("/v1/unsubscribe/").unwrap()..];
    let done = app.request(Method::POST, path, None, None, &[]).await;
    assert_eq!(done.status, 200);
    app.post(
        "/v1/communications",
        &admin,
        json!({"type": "EMAIL", "customer_id": customer, "subject": "Sale", "content": "x", "purpose": "MARKETING"}),
    )
    .await
    .expect_problem(409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_goes_to_the_provider_with_its_reference_and_is_retried_or_failed_by_the_answer() {
    let smtp = SmtpServer::start().await;
    let sms = SmsProvider::start(TOKEN).await;
    let app = TestApp::spawn_sending(smtp.port(), &sms.base_url(), TOKEN).await;
    let (admin, customer) = profile_and_customer(&app).await;

    sms.fail_next(1, 503, "{\"error\": \"busy\"}");
    let created = app
        .post(
            "/v1/communications",
            &admin,
            json!({"type": "SMS", "customer_id": customer, "content": "Your movers arrive at 8.", "send": true}),
        )
        .await;
    created.expect(201);
    let id = created.id();
    let sent = until(&app, &admin, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["attempts"], 2);
    let delivered = sms.wait_for_sent(1, WAIT).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].to, "+15145550123");
    assert_eq!(delivered[0].body, "Your movers arrive at 8.");
    assert_eq!(delivered[0].reference, id);
    assert!(delivered[0].authorized);
    assert_eq!(
        sent["provider_message_id"].as_str(),
        delivered[0].id.as_deref()
    );

    sms.fail_next(1, 422, "{\"error\": \"not a mobile number\"}");
    let refused = app
        .post(
            "/v1/communications",
            &admin,
            json!({"type": "SMS", "customer_id": customer, "content": "Hello again", "send": true}),
        )
        .await;
    refused.expect(201);
    let failed = until(&app, &admin, &refused.id(), |m| m["status"] == "FAILED").await;
    assert!(
        failed["failure_reason"].as_str().unwrap().contains("422"),
        "{failed}"
    );
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .contains("not a mobile number")
    );
}

/// A provider's callback, signed (or not) in the Standard Webhooks format.
async fn callback(
    app: &TestApp,
    provider: &str,
    body: &Value,
    event_id: &str,
    secret: &str,
    age_secs: i64,
) -> u16 {
    let payload = body.to_string();
    let timestamp = chrono::Utc::now().timestamp() - age_secs;
    let signature = standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign(event_id, timestamp, payload.as_bytes())
        .unwrap();
    app.client
        .post(format!(
            "{}/v1/communications/callbacks/{provider}",
            app.base
        ))
        .header("content-type", "application/json")
        .header("webhook-id", event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(payload)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_callbacks_move_a_sent_message_forward_once_and_a_bad_signature_writes_nothing() {
    let smtp = SmtpServer::start().await;
    let sms = SmsProvider::start(TOKEN).await;
    let app = TestApp::spawn_sending(smtp.port(), &sms.base_url(), TOKEN).await;
    let (admin, customer) = profile_and_customer(&app).await;
    let id = email(&app, &admin, &customer, json!({})).await;
    let sent = until(&app, &admin, &id, |m| m["status"] == "SENT").await;
    let version = sent["version"].as_i64().unwrap();
    let message_id = smtp.wait_for(1, WAIT).await[0].message_id().unwrap();
    let secret = crm_tests::CALLBACK_SECRET;

    // Forged, stale or for an unknown provider: refused, nothing written.
    let delivered = json!({"type": "delivered", "message_id": message_id});
    let other_secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    assert_eq!(
        callback(&app, "email", &delivered, "evt-1", other_secret, 0).await,
        401
    );
    assert_eq!(
        callback(&app, "email", &delivered, "evt-1", secret, 600).await,
        401
    );
    assert_eq!(
        callback(&app, "fax", &delivered, "evt-1", secret, 0).await,
        404
    );
    let unsigned = app
        .client
        .post(format!("{}/v1/communications/callbacks/email", app.base))
        .json(&delivered)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    app.settle().await;
    let still = app.get(&format!("/v1/communications/{id}"), &admin).await;
    assert_eq!(still.body["status"], "SENT");
    assert_eq!(
        still.body["version"].as_i64(),
        Some(version),
        "nothing was written"
    );

    // Delivered, then read; the same report twice and a late "delivered"
    // change nothing.
    assert_eq!(
        callback(&app, "email", &delivered, "evt-1", secret, 0).await,
        200
    );
    assert_eq!(
        callback(&app, "email", &delivered, "evt-1", secret, 0).await,
        200
    );
    let read_report = json!({"type": "opened", "message_id": message_id});
    assert_eq!(
        callback(&app, "email", &read_report, "evt-2", secret, 0).await,
        200
    );
    assert_eq!(
        callback(&app, "email", &delivered, "evt-3", secret, 0).await,
        200
    );
    let read = until(&app, &admin, &id, |m| m["status"] == "READ").await;
    assert!(read["delivered_at"].is_string());
    assert!(read["read_at"].is_string());
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type IN ('CommunicationDelivered', 'CommunicationRead')",
    )
    .bind(&id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(events, 2, "one DELIVERED and one READ");

    // An SMS provider's bounce report fails its message.
    let created = app
        .post(
            "/v1/communications",
            &admin,
            json!({"type": "SMS", "customer_id": customer, "content": "Hi", "send": true}),
        )
        .await;
    let sms_id = created.id();
    until(&app, &admin, &sms_id, |m| m["status"] == "SENT").await;
    let provider_id = sms.wait_for_sent(1, WAIT).await[0].id.clone().unwrap();
    let mut bounce = sms.callback_payload(&provider_id, "failed");
    bounce["error"] = json!("handset unreachable");
    assert_eq!(
        callback(&app, "sms", &bounce, "sms-evt-1", secret, 0).await,
        200
    );
    let failed = until(&app, &admin, &sms_id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["failure_reason"], "handset unreachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_open_tracking_on_an_email_is_read_when_its_pixel_loads_and_only_then() {
    let smtp = SmtpServer::start().await;
    let sms = SmsProvider::start(TOKEN).await;
    let app = TestApp::spawn_sending(smtp.port(), &sms.base_url(), TOKEN).await;
    let (admin, customer) = profile_and_customer(&app).await;
    // Off by default: no pixel.
    let plain = email(&app, &admin, &customer, json!({})).await;
    let first = smtp.wait_for(1, WAIT).await.remove(0);
    assert!(!first.html_body().unwrap().contains("/open/"));
    until(&app, &admin, &plain, |m| m["status"] == "SENT").await;

    app.request(
        Method::PUT,
        "/v1/tenant/profile",
        Some(&admin),
        Some(json!({"company_name": "Acme Movers", "email_open_tracking": true})),
        &[],
    )
    .await
    .expect(200);
    let profile = app.get("/v1/tenant/profile", &admin).await;
    assert_eq!(profile.body["email_open_tracking"], true);
    let tracked = email(&app, &admin, &customer, json!({})).await;
    let mail = smtp.wait_for(2, WAIT).await.remove(1);
    let html = mail.html_body().unwrap();
    let start = html.find("/v1/communications/").expect("a pixel");
    let path: String = html[start..].chars().take_while(|c| *c != '"').collect();
    assert!(path.contains(&tracked) && path.contains("/open/"), "{path}");
    until(&app, &admin, &tracked, |m| m["status"] == "SENT").await;

    // A forged tag, or another message's id: 404, nothing changes.
    let forged = format!("{}x", &path[..path.len() - 1]);
    let answer = app.request(Method::GET, &forged, None, None, &[]).await;
    assert_eq!(answer.status, 404);
    let other = path.replace(&tracked, &plain);
    assert_eq!(
        app.request(Method::GET, &other, None, None, &[])
            .await
            .status,
        404
    );
    // Loaded: an image, and the email is READ.
    let image = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(image.status().as_u16(), 200);
    assert_eq!(image.headers()["content-type"], "image/gif");
    let read = until(&app, &admin, &tracked, |m| m["status"] == "READ").await;
    assert!(read["read_at"].is_string());
    let untouched = app
        .get(&format!("/v1/communications/{plain}"), &admin)
        .await;
    assert_eq!(untouched.body["status"], "SENT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_crashed_after_recording_its_attempt_resends_with_the_same_message_id() {
    use aggregates::communication::{Communication, CommunicationAction, CommunicationCommand};
    let smtp = SmtpServer::start().await;
    // The app's own sender is off: this test plays the crashed one, then a new one.
    let app = TestApp::spawn().await;
    let (admin, customer) = profile_and_customer(&app).await;
    let id = email(&app, &admin, &customer, json!({})).await;
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    let tenant = event_schemas::TenantId::parse("acme").unwrap();
    let stores = event_store::Stores::new(app.pool().clone(), app.env.infra.keystore.clone());
    // The crashed sender recorded its attempt (and may have handed the
    // message over) but never its outcome.
    let message_id = Communication::message_id_of(uuid, "acme-movers.example");
    stores
        .get::<Communication>()
        .run(
            event_store::Run::new(&tenant, event_store::Target::Existing(uuid)),
            || event_schemas::EventMetadata {
                tenant_id: tenant.clone(),
                user_id: event_schemas::SYSTEM_USER,
                role: Role::System,
                correlation_id: "crashed-sender".into(),
                causation_id: "crashed-sender".into(),
                command_id: uuid::Uuid::now_v7(),
                recorded_at: chrono::Utc::now(),
                policy_version: None,
                policy_valid_until: None,
            },
            |_| {
                Ok::<_, event_store::CommandError<aggregates::communication::CommunicationError>>(
                    CommunicationCommand {
                        at: chrono::Utc::now(),
                        actor: event_schemas::SYSTEM_USER,
                        consent: None,
                        action: CommunicationAction::StartAttempt {
                            message_id: message_id.clone(),
                        },
                    },
                )
            },
        )
        .await
        .unwrap();
    app.settle().await;
    // A new sender finds it still due and finishes it.
    let sender = processes::sender::Sender::new(
        app.pool().clone(),
        &stores,
        processes::sender::SenderConfig {
            smtp_url: Some(format!("smtp://127.0.0.1:{}", smtp.port())),
            ..processes::sender::SenderConfig::default()
        },
    )
    .unwrap();
    assert_eq!(sender.run_once().await.unwrap(), 1);
    let mail = smtp.wait_for(1, WAIT).await.remove(0);
    assert_eq!(mail.message_id(), Some(message_id));
    let sent = until(&app, &admin, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["attempts"], 2, "the crashed attempt counts");
    // Nothing is due any more.
    app.settle().await;
    assert_eq!(sender.run_once().await.unwrap(), 0);
}
