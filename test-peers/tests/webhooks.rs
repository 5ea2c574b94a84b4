//! The webhook receiver against a real HTTP client (reqwest), with the `standardwebhooks` crate
//! (the one the backend signs with) as the signer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use test_peers::webhooks::{Answer, WebhookReceiver};

const OLD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const NEW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXk=";
const WAIT: Duration = Duration::from_secs(5);

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

/// `v1,<base64>` by the `standardwebhooks` crate.
fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign(id, timestamp, body)
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A POST with whichever Standard Webhooks headers are given.
async fn post(
    url: &str,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> reqwest::Response {
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ] {
        if let Some(value) = value {
            request = request.header(name, value);
        }
    }
    request.send().await.expect("the receiver answers")
}

/// A POST signed with `secret` now, as the backend sends it.
async fn post_signed(url: &str, secret: &str, id: &str, body: &Value) -> reqwest::Response {
    let body = serde_json::to_vec(body).unwrap();
    let timestamp = now();
    let signature = sign(secret, id, timestamp, &body);
    post(
        url,
        Some(id),
        Some(&timestamp.to_string()),
        Some(&signature),
        &body,
    )
    .await
}

/// What is changed, then the id, timestamp and signature headers and the body.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    &'a [u8],
);

async fn status_and_body(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

fn event(n: u32) -> Value {
    json!({"type": "move.booked", "data": {"move_id": format!("mv_{n}"), "note": "café ✓"}})
}

#[tokio::test]
async fn a_request_signed_by_standardwebhooks_is_verified_and_recorded() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    assert!(receiver.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        receiver.url("hooks/crm"),
        format!("{}/hooks/crm", receiver.base_url())
    );
    let body = serde_json::to_vec(&event(1)).unwrap();
    let timestamp = now();
    let signature = sign(NEW_SECRET, "msg_1", timestamp, &body);
    let response = post(
        &receiver.url("/hooks/crm"),
        Some("msg_1"),
        Some(&timestamp.to_string()),
        Some(&signature),
        &body,
    )
    .await;
    assert_eq!(status_and_body(response).await, (200, "{}".to_string()));

    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let hook = &received[0];
    assert_eq!(hook.id.as_deref(), Some("msg_1"));
    assert_eq!(hook.timestamp, Some(timestamp));
    assert_eq!(hook.signatures, vec![signature.clone()]);
    assert!(hook.verified);
    assert_eq!(hook.matched_secrets, vec![0]);
    assert!(hook.timestamp_ok);
    assert!(hook.valid());
    assert_eq!(hook.path, "/hooks/crm");
    assert_eq!(hook.body, body);
    assert_eq!(hook.json(), event(1));
    assert_eq!(hook.header("Webhook-Signature"), Some(signature.as_str()));
    assert_eq!(hook.header("content-type"), Some("application/json"));
    assert_eq!(hook.header("x-absent"), None);
    assert_eq!(hook.answered, 200);

    // The same message again (a retry): two requests, one id.
    assert_eq!(
        post_signed(&receiver.url("/hooks/crm"), NEW_SECRET, "msg_1", &event(1))
            .await
            .status(),
        200
    );
    assert_eq!(receiver.wait_for_count(2, WAIT).await, 2);
    assert_eq!(receiver.count(), 2);
    assert_eq!(
        receiver.distinct_ids().into_iter().collect::<Vec<_>>(),
        vec!["msg_1"]
    );
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[0].received_at <= arrivals[1].received_at);
}

#[tokio::test]
async fn tampered_unsigned_or_wrongly_signed_requests_are_recorded_unverified_and_refused() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    let url = receiver.url("/hooks");
    let body = serde_json::to_vec(&event(2)).unwrap();
    let timestamp = now();
    let ts = timestamp.to_string();
    let signature = sign(NEW_SECRET, "msg_2", timestamp, &body);
    let tampered_body = serde_json::to_vec(&event(3)).unwrap();
    let later = (timestamp + 1).to_string();
    let wrong_secret = sign(OTHER_SECRET, "msg_2", timestamp, &body);
    let other_version = signature.replacen("v1,", "v1a,", 1);
    let truncated = &signature[..signature.len() - 4];

    let cases: Vec<Case<'_>> = vec![
        (
            "body",
            Some("msg_2"),
            Some(&ts),
            Some(&signature),
            &tampered_body,
        ),
        ("id", Some("msg_X"), Some(&ts), Some(&signature), &body),
        (
            "timestamp",
            Some("msg_2"),
            Some(&later),
            Some(&signature),
            &body,
        ),
        (
            "secret",
            Some("msg_2"),
            Some(&ts),
            Some(&wrong_secret),
            &body,
        ),
        (
            "version",
            Some("msg_2"),
            Some(&ts),
            Some(&other_version),
            &body,
        ),
        (
            "truncated",
            Some("msg_2"),
            Some(&ts),
            Some(truncated),
            &body,
        ),
        (
            "garbage",
            Some("msg_2"),
            Some(&ts),
            Some("v1,not base64!"),
            &body,
        ),
        ("unsigned", Some("msg_2"), Some(&ts), None, &body),
        ("no id", None, Some(&ts), Some(&signature), &body),
        ("no timestamp", Some("msg_2"), None, Some(&signature), &body),
    ];
    for (what, id, timestamp, signature, body) in &cases {
        let (status, answer) =
            status_and_body(post(&url, *id, *timestamp, *signature, body).await).await;
        assert_eq!(status, 401, "{what}");
        assert!(answer.contains("error"), "{what}: {answer}");
    }
    // The control: the untampered request passes.
    let response = post(&url, Some("msg_2"), Some(&ts), Some(&signature), &body).await;
    assert_eq!(response.status(), 200);

    let received = receiver.wait_for(cases.len() + 1, WAIT).await;
    for ((what, ..), hook) in cases.iter().zip(&received) {
        assert!(!hook.verified, "{what}: {hook:?}");
        assert!(hook.matched_secrets.is_empty(), "{what}: {hook:?}");
        assert_eq!(hook.answered, 401, "{what}");
    }
    assert_eq!(received[0].body, tampered_body, "recorded as received");
    assert_eq!(received[2].timestamp, Some(timestamp + 1));
    assert!(received[2].timestamp_ok, "a second later is still timely");
    assert!(received[7].signatures.is_empty());
    let control = received.last().unwrap();
    assert!(control.verified && control.timestamp_ok);
    assert_eq!(control.matched_secrets, vec![0]);
}

#[tokio::test]
async fn two_signatures_verify_with_either_secret_and_matched_secrets_says_which() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    let url = receiver.url("/rotating");
    let body = serde_json::to_vec(&event(4)).unwrap();
    let timestamp = now();
    let ts = timestamp.to_string();
    // Signed with the old and the new secret during a rotation.
    let both = format!(
        "{} {}",
        sign(OLD_SECRET, "msg_4", timestamp, &body),
        sign(NEW_SECRET, "msg_4", timestamp, &body)
    );

    let mut answers = Vec::new();
    for secrets in [
        &[NEW_SECRET][..],
        &[OLD_SECRET],
        &[OTHER_SECRET, NEW_SECRET],
        &[NEW_SECRET, OTHER_SECRET, OLD_SECRET],
        &[OTHER_SECRET],
    ] {
        receiver.set_secrets(secrets);
        let response = post(&url, Some("msg_4"), Some(&ts), Some(&both), &body).await;
        answers.push(response.status().as_u16());
    }
    assert_eq!(answers, vec![200, 200, 200, 200, 401]);

    let received = receiver.wait_for(5, WAIT).await;
    assert_eq!(received[0].signatures.len(), 2);
    assert_eq!(
        received
            .iter()
            .map(|hook| (hook.verified, hook.matched_secrets.clone()))
            .collect::<Vec<_>>(),
        vec![
            (true, vec![0]),
            (true, vec![0]),
            (true, vec![1]),
            (true, vec![0, 2]),
            (false, vec![]),
        ]
    );
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_flagged() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    let url = receiver.url("/hooks");
    let body = serde_json::to_vec(&event(5)).unwrap();
    let stale = now() - 10 * 60;
    let future = now() + 10 * 60;
    for timestamp in [stale, future] {
        let signature = sign(NEW_SECRET, "msg_5", timestamp, &body);
        let (status, answer) = status_and_body(
            post(
                &url,
                Some("msg_5"),
                Some(&timestamp.to_string()),
                Some(&signature),
                &body,
            )
            .await,
        )
        .await;
        assert_eq!(status, 401);
        assert!(answer.contains("tolerance"), "{answer}");
    }
    // Not an integer: no timestamp, nothing verifies.
    let signature = sign(NEW_SECRET, "msg_5", stale, &body);
    let response = post(
        &url,
        Some("msg_5"),
        Some("yesterday"),
        Some(&signature),
        &body,
    )
    .await;
    assert_eq!(response.status(), 401);

    // A wider tolerance accepts the stale one.
    receiver.set_tolerance(Duration::from_secs(3600));
    let response = post(
        &url,
        Some("msg_5"),
        Some(&stale.to_string()),
        Some(&signature),
        &body,
    )
    .await;
    assert_eq!(response.status(), 200);

    let received = receiver.wait_for(4, WAIT).await;
    assert_eq!(
        received
            .iter()
            .map(|hook| (hook.timestamp, hook.verified, hook.timestamp_ok))
            .collect::<Vec<_>>(),
        vec![
            (Some(stale), true, false),
            (Some(future), true, false),
            (None, false, false),
            (Some(stale), true, true),
        ]
    );
}

#[tokio::test]
async fn each_scripted_answer_is_returned_as_scripted() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    let url = receiver.url("/hooks");
    let elsewhere = receiver.url("/elsewhere");
    receiver.answer_next(1, Answer::Status(500));
    receiver.answer_next(
        1,
        Answer::StatusWithBody(400, r#"{"error": "bad payload"}"#.to_string()),
    );
    receiver.answer_next(1, Answer::StatusWithBody(502, "upstream down".to_string()));
    receiver.answer_next(
        1,
        Answer::RetryAfter {
            status: 429,
            seconds: 7,
        },
    );
    receiver.answer_next(
        1,
        Answer::RetryAfter {
            status: 503,
            seconds: 120,
        },
    );
    receiver.answer_next(1, Answer::Gone);
    receiver.answer_next(1, Answer::Redirect(elsewhere.clone()));

    let mut seen = Vec::new();
    for n in 0..8 {
        let response = post_signed(&url, NEW_SECRET, &format!("msg_s{n}"), &event(n)).await;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let retry_after = header("retry-after");
        let location = header("location");
        let content_type = header("content-type");
        let body = response.text().await.unwrap();
        seen.push((status, retry_after, location, content_type, body));
    }
    let json = Some("application/json".to_string());
    let text = Some("text/plain; charset=utf-8".to_string());
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        seen,
        vec![
            (500, None, None, json.clone(), "{}".to_string()),
            (
                400,
                None,
                None,
                json.clone(),
                r#"{"error": "bad payload"}"#.to_string()
            ),
            (502, None, None, text, "upstream down".to_string()),
            (429, s("7"), None, json.clone(), "{}".to_string()),
            (503, s("120"), None, json.clone(), "{}".to_string()),
            (410, None, None, json.clone(), "{}".to_string()),
            // Not followed: the client sees the 302 itself.
            (302, None, Some(elsewhere), None, String::new()),
            (200, None, None, json, "{}".to_string()),
        ]
    );
    let received = receiver.wait_for(8, WAIT).await;
    assert_eq!(received.len(), 8, "nothing reached /elsewhere");
    assert!(received.iter().all(|hook| hook.path == "/hooks"));
    assert!(received.iter().all(|hook| hook.verified));
    assert_eq!(
        received
            .iter()
            .map(|hook| hook.answered)
            .collect::<Vec<_>>(),
        vec![500, 400, 502, 429, 503, 410, 302, 200]
    );
}

#[tokio::test]
async fn answer_next_is_consumed_in_order_then_answer_always_then_the_default() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    let url = receiver.url("/hooks");
    receiver.answer_next(2, Answer::Status(500));
    receiver.answer_next(1, Answer::Gone);
    let mut statuses = Vec::new();
    for n in 0..5 {
        let response = post_signed(&url, NEW_SECRET, &format!("msg_q{n}"), &event(n)).await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, vec![500, 500, 410, 200, 200]);

    receiver.answer_always(Answer::Status(503));
    receiver.answer_next(1, Answer::Status(429));
    let mut statuses = Vec::new();
    for n in 0..3 {
        let response = post_signed(&url, NEW_SECRET, &format!("msg_a{n}"), &event(n)).await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, vec![429, 503, 503]);
    receiver.clear_script();
    assert_eq!(
        post_signed(&url, NEW_SECRET, "msg_c", &event(0))
            .await
            .status(),
        200
    );

    // A script applies to unsigned requests too; then they are refused again.
    receiver.answer_next(1, Answer::Status(202));
    let body = serde_json::to_vec(&event(9)).unwrap();
    assert_eq!(post(&url, None, None, None, &body).await.status(), 202);
    assert_eq!(post(&url, None, None, None, &body).await.status(), 401);
    let received = receiver.wait_for(11, WAIT).await;
    assert!(!received[9].verified && !received[10].verified);
    assert_eq!((received[9].answered, received[10].answered), (202, 401));
}

#[tokio::test]
async fn per_path_scripts_come_before_the_common_queue() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    receiver.answer_next(1, Answer::Status(500));
    receiver.answer_next_at("/a", 1, Answer::Gone);
    let mut statuses = Vec::new();
    for (n, path) in ["/a", "/b", "/a", "/b"].into_iter().enumerate() {
        let response = post_signed(
            &receiver.url(path),
            NEW_SECRET,
            &format!("msg_p{n}"),
            &event(0),
        )
        .await;
        statuses.push((path, response.status().as_u16()));
    }
    assert_eq!(
        statuses,
        vec![("/a", 410), ("/b", 500), ("/a", 200), ("/b", 200)]
    );
}

#[tokio::test]
async fn hang_holds_its_answer_while_other_requests_are_answered() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    let url = receiver.url("/hooks");
    receiver.answer_next(1, Answer::Hang(Duration::from_secs(60)));
    let hung_url = url.clone();
    let mut hung = tokio::spawn(async move {
        post_signed(&hung_url, NEW_SECRET, "msg_hung", &event(1))
            .await
            .status()
            .as_u16()
    });
    // Received (and so holding the Hang) before the second request is sent.
    receiver.wait_for(1, WAIT).await;
    let second = post_signed(&url, NEW_SECRET, "msg_second", &event(2)).await;
    assert_eq!(second.status(), 200);
    assert!(!hung.is_finished(), "the hung request was answered");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut hung)
            .await
            .is_err(),
        "the hung request was answered"
    );
    hung.abort();
    let received = receiver.wait_for(2, WAIT).await;
    assert_eq!(
        received
            .iter()
            .map(|hook| hook.id.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["msg_hung", "msg_second"]
    );

    // After the hang, the default answer.
    receiver.answer_next(1, Answer::Hang(Duration::from_millis(50)));
    let response = post_signed(&url, NEW_SECRET, "msg_short", &event(3)).await;
    assert_eq!(status_and_body(response).await, (200, "{}".to_string()));
    let body = serde_json::to_vec(&event(4)).unwrap();
    receiver.answer_next(1, Answer::Hang(Duration::from_millis(50)));
    assert_eq!(post(&url, None, None, None, &body).await.status(), 401);
}

#[tokio::test]
async fn clear_forgets_what_was_received_but_not_the_script() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    let url = receiver.url("/hooks");
    post_signed(&url, NEW_SECRET, "msg_old", &event(0)).await;
    receiver.answer_always(Answer::Status(500));
    receiver.clear();
    assert_eq!(receiver.count(), 0);
    assert!(receiver.received().is_empty());
    assert!(receiver.distinct_ids().is_empty());
    let response = post_signed(&url, NEW_SECRET, "msg_new", &event(1)).await;
    assert_eq!(response.status(), 500);
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id.as_deref(), Some("msg_new"));
}

#[tokio::test]
async fn other_methods_are_refused_and_not_recorded() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    let response = client().get(receiver.url("/hooks")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    post_signed(&receiver.url("/hooks"), NEW_SECRET, "msg_m", &event(0)).await;
    assert_eq!(receiver.wait_for(1, WAIT).await.len(), 1);
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn a_sink_counts_and_keeps_only_ids_and_arrival_times() {
    let sink = WebhookReceiver::sink().await;
    let url = sink.url("/bench");
    let mut statuses = Vec::new();
    for id in ["msg_a", "msg_b", "msg_a"] {
        // Signed with a secret the sink knows nothing of: it does not verify.
        statuses.push(
            post_signed(&url, OTHER_SECRET, id, &event(0))
                .await
                .status()
                .as_u16(),
        );
    }
    let body = serde_json::to_vec(&event(0)).unwrap();
    statuses.push(post(&url, None, None, None, &body).await.status().as_u16());
    sink.answer_next(1, Answer::Status(503));
    statuses.push(
        post_signed(&url, OTHER_SECRET, "msg_c", &event(0))
            .await
            .status()
            .as_u16(),
    );
    assert_eq!(statuses, vec![200, 200, 200, 200, 503]);

    assert_eq!(sink.wait_for_count(5, WAIT).await, 5);
    assert_eq!(sink.count(), 5);
    assert!(sink.received().is_empty());
    assert_eq!(
        sink.arrivals()
            .into_iter()
            .map(|arrival| arrival.id)
            .collect::<Vec<_>>(),
        vec![
            Some("msg_a".to_string()),
            Some("msg_b".to_string()),
            Some("msg_a".to_string()),
            None,
            Some("msg_c".to_string())
        ]
    );
    assert_eq!(
        sink.wait_for_distinct(3, WAIT)
            .await
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["msg_a", "msg_b", "msg_c"]
    );
}

#[tokio::test]
#[should_panic(
    expected = "got 1 request(s) (1 distinct webhook-id(s)) within 200ms, expected at least 2; received:\n  1. POST /hooks/wait webhook-id Some(\"msg_wait\")"
)]
async fn wait_for_times_out_listing_what_was_received() {
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    post_signed(
        &receiver.url("/hooks/wait"),
        NEW_SECRET,
        "msg_wait",
        &event(0),
    )
    .await;
    receiver.wait_for(2, Duration::from_millis(200)).await;
}

#[tokio::test]
#[should_panic(expected = "got 1 request(s) within 200ms, expected at least 3")]
async fn wait_for_count_times_out_with_the_count() {
    let sink = WebhookReceiver::sink().await;
    post_signed(&sink.url("/bench"), NEW_SECRET, "msg_wait", &event(0)).await;
    sink.wait_for_count(3, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn arrivals_carry_the_body_s_top_level_subject_in_both_modes() {
    // A CloudEvents envelope as the backend sends it: `subject` is the aggregate id; a nested
    // `subject` is not taken for it.
    let envelope = |subject: &str| {
        json!({
            "specversion": "1.0", "id": "0193a1b2-0000-7000-8000-00000000000e",
            "type": "CustomerRegistered", "source": "/tenants/t/Customer",
            "data": {"first_name": "Bench", "subject": "not this one", "tags": [1, {"a": null}]},
            "subject": subject, "tenant": "t", "sequence": 1,
        })
    };
    let bodies = [
        serde_json::to_vec(&envelope("0193a1b2-0000-7000-8000-0000000000c1")).unwrap(),
        serde_json::to_vec(&event(0)).unwrap(),
        serde_json::to_vec(&json!({"subject": 42})).unwrap(),
        serde_json::to_vec(&json!(["subject"])).unwrap(),
        b"not json".to_vec(),
        serde_json::to_vec(&envelope("0193a1b2-0000-7000-8000-0000000000c2")).unwrap(),
    ];
    let expected = vec![
        Some("0193a1b2-0000-7000-8000-0000000000c1".to_string()),
        None,
        None,
        None,
        None,
        Some("0193a1b2-0000-7000-8000-0000000000c2".to_string()),
    ];

    let sink = WebhookReceiver::sink().await;
    for (n, body) in bodies.iter().enumerate() {
        let id = format!("msg_subject_{n}");
        let response = post(&sink.url("/bench"), Some(&id), None, None, body).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(sink.wait_for_count(bodies.len(), WAIT).await, bodies.len());
    let arrivals = sink.arrivals();
    assert_eq!(
        arrivals
            .iter()
            .map(|a| a.subject.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        arrivals[5].id.as_deref(),
        Some("msg_subject_5"),
        "the id is kept beside it"
    );

    // A verifying receiver gives the same from the bodies it keeps.
    let receiver = WebhookReceiver::start(&[NEW_SECRET]).await;
    for (n, body) in bodies.iter().enumerate() {
        let id = format!("msg_subject_{n}");
        let timestamp = now();
        let signature = sign(NEW_SECRET, &id, timestamp, body);
        let response = post(
            &receiver.url("/hooks"),
            Some(&id),
            Some(&timestamp.to_string()),
            Some(&signature),
            body,
        )
        .await;
        assert_eq!(response.status(), 200);
    }
    receiver.wait_for(bodies.len(), WAIT).await;
    assert_eq!(
        receiver
            .arrivals()
            .into_iter()
            .map(|a| a.subject)
            .collect::<Vec<_>>(),
        expected
    );
}
