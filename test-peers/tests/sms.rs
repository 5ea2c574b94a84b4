//! The SMS provider against a real HTTP client (reqwest).

use std::time::Duration;

use serde_json::{Value, json};
use test_peers::sms::SmsProvider;

const TOKEN: &str = "test-token-123";
const WAIT: Duration = Duration::from_secs(5);

async fn post(provider: &SmsProvider, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/messages", provider.base_url()))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the provider answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn sms(reference: &str) -> Value {
    json!({
        "to": "+15145550123",
        "from": "MoversCRM",
        "body": "Your move is confirmed for March 3",
        "reference": reference,
    })
}

#[tokio::test]
async fn accepts_and_records_a_message() {
    let provider = SmsProvider::start(TOKEN).await;
    assert!(provider.base_url().starts_with("http://127.0.0.1:"));
    let (status, body) = post(&provider, Some(TOKEN), &sms("comm-1")).await;
    assert_eq!(status, 201);
    assert_eq!(body["status"], "queued");
    let id = body["id"].as_str().expect("an id").to_string();
    assert!(id.starts_with("SM"), "{id}");

    let received = provider.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.to, "+15145550123");
    assert_eq!(r.from, "MoversCRM");
    assert_eq!(r.body, "Your move is confirmed for March 3");
    assert_eq!(r.reference, "comm-1");
    assert_eq!(r.id.as_deref(), Some(id.as_str()));
    assert!(r.authorized && r.sent && !r.duplicate);
    assert_eq!(r.status, 201);
    assert_eq!(provider.sent(), received);
}

#[tokio::test]
async fn a_repeated_reference_returns_the_same_id_without_sending_twice() {
    let provider = SmsProvider::start(TOKEN).await;
    let (first, body) = post(&provider, Some(TOKEN), &sms("comm-2")).await;
    assert_eq!(first, 201);
    let (again, body_again) = post(&provider, Some(TOKEN), &sms("comm-2")).await;
    assert_eq!(again, 200);
    assert_eq!(body_again["id"], body["id"]);

    let mut other = sms("comm-2");
    other["body"] = json!("a different text");
    let (conflict, error) = post(&provider, Some(TOKEN), &other).await;
    assert_eq!(conflict, 409);
    assert!(error["error"].as_str().unwrap().contains("comm-2"));

    let received = provider.received();
    assert_eq!(received.len(), 3);
    assert_eq!(
        received
            .iter()
            .map(|r| (r.status, r.duplicate, r.sent))
            .collect::<Vec<_>>(),
        vec![(201, false, true), (200, true, false), (409, true, false)]
    );
    assert_eq!(provider.sent().len(), 1, "sent once");
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_401_and_sends_nothing() {
    let provider = SmsProvider::start(TOKEN).await;
    let (status, body) = post(&provider, Some("wrong"), &sms("comm-3")).await;
    assert_eq!(status, 401);
    assert!(body["error"].is_string());
    let (status, _) = post(&provider, None, &sms("comm-3")).await;
    assert_eq!(status, 401);
    let received = provider.received();
    assert_eq!(received.len(), 2);
    assert!(
        received
            .iter()
            .all(|r| !r.authorized && !r.sent && r.id.is_none())
    );
    // The reference was not taken: the right token then sends it.
    assert_eq!(post(&provider, Some(TOKEN), &sms("comm-3")).await.0, 201);
}

#[tokio::test]
async fn invalid_requests_are_refused_permanently() {
    let provider = SmsProvider::start(TOKEN).await;
    let mut bad_number = sms("comm-4");
    bad_number["to"] = json!("514-555-0123");
    let (status, body) = post(&provider, Some(TOKEN), &bad_number).await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().contains("514-555-0123"));

    let mut no_reference = sms("x");
    no_reference.as_object_mut().unwrap().remove("reference");
    let (status, body) = post(&provider, Some(TOKEN), &no_reference).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("reference"));

    let response = reqwest::Client::new()
        .post(format!("{}/messages", provider.base_url()))
        .bearer_auth(TOKEN)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(provider.sent().is_empty());
    assert_eq!(provider.received().len(), 3);
}

#[tokio::test]
async fn scripted_failures_then_accepts_again() {
    let provider = SmsProvider::start(TOKEN).await;
    provider.fail_next(1, 503, r#"{"error": "maintenance"}"#);
    provider.fail_next(1, 429, "slow down");
    let (status, body) = post(&provider, Some(TOKEN), &sms("comm-5")).await;
    assert_eq!((status, body), (503, json!({"error": "maintenance"})));
    let (status, body) = post(&provider, Some(TOKEN), &sms("comm-5")).await;
    assert_eq!((status, body), (429, json!("slow down")));
    let (status, _) = post(&provider, Some(TOKEN), &sms("comm-5")).await;
    assert_eq!(status, 201, "accepted after the scripted failures");

    provider.fail_always(500, "{}");
    for n in 0..3 {
        assert_eq!(
            post(&provider, Some(TOKEN), &sms(&format!("always-{n}")))
                .await
                .0,
            500
        );
    }
    provider.clear();
    assert_eq!(
        post(&provider, Some(TOKEN), &sms("after-clear")).await.0,
        201
    );
    assert_eq!(
        provider
            .sent()
            .iter()
            .map(|r| r.reference.as_str())
            .collect::<Vec<_>>(),
        vec!["comm-5", "after-clear"]
    );
}

#[tokio::test]
async fn accepted_but_answered_a_failure_then_the_retry_gets_the_same_id() {
    let provider = SmsProvider::start(TOKEN).await;
    provider.accept_then_fail_next(1, 502, r#"{"error": "bad gateway"}"#);
    let (status, _) = post(&provider, Some(TOKEN), &sms("comm-6")).await;
    assert_eq!(status, 502);
    let first = provider.sent();
    assert_eq!(first.len(), 1, "it was sent although the client saw 502");
    let (status, body) = post(&provider, Some(TOKEN), &sms("comm-6")).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"].as_str(), first[0].id.as_deref());
    assert_eq!(provider.sent().len(), 1, "not sent twice");
    assert!(provider.received()[1].duplicate);
}

#[tokio::test]
async fn wait_for_sees_requests_made_later_and_callback_payloads_name_them() {
    let provider = SmsProvider::start(TOKEN).await;
    let url = provider.base_url();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        reqwest::Client::new()
            .post(format!("{url}/messages"))
            .bearer_auth(TOKEN)
            .json(&sms("comm-7"))
            .send()
            .await
            .unwrap();
    });
    let sent = provider.wait_for_sent(1, WAIT).await;
    let id = sent[0].id.clone().unwrap();
    assert_eq!(
        provider.callback_payload(&id, "delivered"),
        json!({"id": id, "reference": "comm-7", "to": "+15145550123", "status": "delivered"})
    );
    let failed = provider.callback_payload(&id, "failed");
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].is_string());
}

#[tokio::test]
#[should_panic(expected = "got 1 request(s), 0 sent")]
async fn wait_for_times_out_listing_what_was_received() {
    let provider = SmsProvider::start(TOKEN).await;
    post(&provider, Some("wrong"), &sms("comm-8")).await;
    provider.wait_for_sent(1, Duration::from_millis(200)).await;
}
