//! Invariants that must hold when requests race: email and phone unique per
//! tenant, optimistic concurrency with `If-Match`, and one consistent history
//! per aggregate.

use std::collections::BTreeMap;

use crm_tests::{TestApp, TestResponse};
use event_schemas::Role;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

const RACERS: usize = 20;

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(app.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Status → how many answers had it.
fn tally(responses: &[TestResponse]) -> BTreeMap<u16, usize> {
    let mut tally = BTreeMap::new();
    for r in responses {
        *tally.entry(r.status).or_default() += 1;
    }
    tally
}

/// Asserts a 409 that names `field` as the unique one.
#[track_caller]
fn assert_duplicate(response: &TestResponse, field: &str) {
    response.expect_problem(409, "conflict");
    assert_eq!(
        response.problem_fields(),
        [field],
        "body: {}",
        response.body
    );
    assert_eq!(
        response.body["rule"],
        format!("{field}.unique"),
        "body: {}",
        response.body
    );
}

/// `email` with the letters' case varied by `i`.
fn vary_case(email: &str, i: usize) -> String {
    email
        .chars()
        .enumerate()
        .map(|(j, c)| {
            if (i >> (j % 5)) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_racing_registrations_of_one_email_in_any_case_leave_exactly_one_customer() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let emails: Vec<String> = (0..RACERS)
        .map(|i| vary_case("jeanne.race@example.com", i))
        .collect();
    assert!(
        emails
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 10,
        "the cases vary"
    );

    let responses = join_all(emails.iter().enumerate().map(|(i, email)| {
        app.post(
            "/v1/customers",
            &admin,
            json!({"first_name": format!("Racer{i}"), "last_name": "Email", "email": email}),
        )
    }))
    .await;

    assert_eq!(
        tally(&responses),
        BTreeMap::from([(201, 1), (409, RACERS - 1)]),
        "{responses:#?}"
    );
    let winner = responses
        .iter()
        .find(|r| r.status == 201)
        .expect("a winner");
    let id = winner.id();
    for loser in responses.iter().filter(|r| r.status != 201) {
        assert_duplicate(loser, "email");
        // The database named the holder inside the losing commit.
        assert!(
            loser.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(&id),
            "the 409 names the winner {id}: {}",
            loser.body
        );
    }

    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = $1",
            "CustomerRegistered"
        )
        .await,
        1,
        "exactly one customer was registered"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM data_keys WHERE tenant_id = $1",
            "acme"
        )
        .await,
        1,
        "the refused registrations left no data key behind"
    );
    let claims: Vec<(String, String)> = sqlx::query_as(
        "SELECT value_key, customer_id FROM customer_contact_claims WHERE kind = 'email'",
    )
    .fetch_all(app.pool())
    .await
    .expect("claims");
    // The claim holds the blind index, never the address.
    let index = claim_key(&app, "email", "jeanne.race@example.com").await;
    assert_eq!(claims, [(index, id.clone())]);

    app.settle().await;
    let list = app
        .get("/v1/customers?email=JEANNE.RACE@example.com", &admin)
        .await;
    list.expect(200);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", list.body);
    assert_eq!(items[0]["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_racing_registrations_of_one_phone_in_any_format_leave_exactly_one_customer() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let formats = [
        "(514) 555-0123",
        "+1 514 555 0123",
        "514-555-0123",
        "514.555.0123",
        "5145550123",
        "+15145550123",
        "1 514 555 0123",
        "15145550123",
        "(514)555-0123",
        "+1 (514) 555-0123",
        " 514 555 0123 ",
        "1-514-555-0123",
    ];
    let responses = join_all((0..RACERS).map(|i| {
        app.post(
            "/v1/customers",
            &admin,
            json!({"first_name": format!("Racer{i}"), "last_name": "Phone",
                   "phone": formats[i % formats.len()]}),
        )
    }))
    .await;

    assert_eq!(
        tally(&responses),
        BTreeMap::from([(201, 1), (409, RACERS - 1)]),
        "{responses:#?}"
    );
    for loser in responses.iter().filter(|r| r.status != 201) {
        assert_duplicate(loser, "phone");
    }
    let id = responses
        .iter()
        .find(|r| r.status == 201)
        .expect("a winner")
        .id();
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = $1",
            "CustomerRegistered"
        )
        .await,
        1
    );
    let claims: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, value_key, customer_id FROM customer_contact_claims")
            .fetch_all(app.pool())
            .await
            .expect("claims");
    assert_eq!(
        claims,
        [(
            "phone".to_owned(),
            claim_key(&app, "phone", "+15145550123").await,
            id.clone()
        )]
    );

    app.settle().await;
    let list = app.get("/v1/customers?q=5145550123", &admin).await;
    list.expect(200);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", list.body);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["phone"], "+15145550123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_customers_racing_to_take_one_email_leave_exactly_one_holder() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let mut customers = Vec::new();
    for i in 0..RACERS {
        customers.push(app.customer(&admin, &format!("racer{i}@example.com")).await);
    }

    let paths: Vec<String> = customers
        .iter()
        .map(|id| format!("/v1/customers/{id}"))
        .collect();
    let responses = join_all(paths.iter().enumerate().map(|(i, path)| {
        app.patch(
            path,
            &admin,
            json!({"email": vary_case("wanted@example.com", i)}),
        )
    }))
    .await;

    assert_eq!(
        tally(&responses),
        BTreeMap::from([(200, 1), (409, RACERS - 1)]),
        "{responses:#?}"
    );
    for loser in responses.iter().filter(|r| r.status != 200) {
        assert_duplicate(loser, "email");
    }
    let winner = responses
        .iter()
        .find(|r| r.status == 200)
        .expect("a winner")
        .id();
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = $1",
            "CustomerContactDetailsUpdated"
        )
        .await,
        1,
        "only the winner changed"
    );
    let holders: Vec<String> = sqlx::query_scalar(
        "SELECT customer_id FROM customer_contact_claims WHERE kind = 'email' AND value_key = $1",
    )
    .bind(claim_key(&app, "email", "wanted@example.com").await)
    .fetch_all(app.pool())
    .await
    .expect("claims");
    assert_eq!(holders, [winner.as_str()]);
    // The winner's old address is free, the losers kept theirs.
    let emails: i64 = count(
        &app,
        "SELECT count(*) FROM customer_contact_claims WHERE kind = $1",
        "email",
    )
    .await;
    assert_eq!(emails, RACERS as i64);

    app.settle().await;
    let list = app
        .get("/v1/customers?email=wanted@example.com", &admin)
        .await;
    list.expect(200);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", list.body);
    assert_eq!(items[0]["id"], winner.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_an_email_to_another_customers_is_refused_and_a_changed_email_is_freed() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let ann = app.customer(&admin, "ann@example.com").await;
    let bob = app.customer(&admin, "bob@example.com").await;

    // Bob may not take Ann's email, in any case.
    let taken = app
        .patch(
            &format!("/v1/customers/{bob}"),
            &admin,
            json!({"email": "ANN@example.com"}),
        )
        .await;
    assert_duplicate(&taken, "email");
    // Nor her phone once she has one.
    app.patch(
        &format!("/v1/customers/{ann}"),
        &admin,
        json!({"phone": "(514) 555-0177"}),
    )
    .await
    .expect(200);
    let taken = app
        .patch(
            &format!("/v1/customers/{bob}"),
            &admin,
            json!({"phone": "+1 514 555 0177"}),
        )
        .await;
    assert_duplicate(&taken, "phone");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE aggregate_id = $1",
            &bob
        )
        .await,
        1,
        "nothing was written for Bob"
    );

    // Setting one's own email again (in another case) is not a clash.
    app.patch(
        &format!("/v1/customers/{ann}"),
        &admin,
        json!({"email": "Ann@Example.com"}),
    )
    .await
    .expect(200);

    // Ann moves to a new address: the old one is free, the new one is hers.
    app.patch(
        &format!("/v1/customers/{ann}"),
        &admin,
        json!({"email": "ann.new@example.com"}),
    )
    .await
    .expect(200);
    let bob_update = app
        .patch(
            &format!("/v1/customers/{bob}"),
            &admin,
            json!({"email": "ann@example.com"}),
        )
        .await;
    bob_update.expect(200);
    let carol = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "Carol", "last_name": "C", "email": "bob@example.com"}),
        )
        .await;
    carol.expect(201);
    let carol = carol.id();
    assert_duplicate(
        &app.post(
            "/v1/customers",
            &admin,
            json!({"first_name": "Dan", "last_name": "D", "email": "ann.new@example.com"}),
        )
        .await,
        "email",
    );
    // Ann's phone stayed claimed through her email changes.
    assert_duplicate(
        &app.post(
            "/v1/customers",
            &admin,
            json!({"first_name": "Dan", "last_name": "D", "phone": "514 555 0177"}),
        )
        .await,
        "phone",
    );

    let mut claims: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, value_key, customer_id FROM customer_contact_claims")
            .fetch_all(app.pool())
            .await
            .expect("claims");
    let mut expected = vec![
        (
            "email".to_owned(),
            claim_key(&app, "email", "ann.new@example.com").await,
            ann.clone(),
        ),
        (
            "email".to_owned(),
            claim_key(&app, "email", "ann@example.com").await,
            bob.clone(),
        ),
        (
            "email".to_owned(),
            claim_key(&app, "email", "bob@example.com").await,
            carol.clone(),
        ),
        (
            "phone".to_owned(),
            claim_key(&app, "phone", "+15145550177").await,
            ann.clone(),
        ),
    ];
    claims.sort();
    expected.sort();
    assert_eq!(claims, expected);

    app.settle().await;
    let read = app.get(&format!("/v1/customers/{bob}"), &admin).await;
    read.expect(200);
    assert_eq!(read.body["email"], "ann@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_if_match_race_has_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let created = app
        .post(
            "/v1/customers",
            &admin,
            json!({"first_name": "Original", "last_name": "Name", "email": "ifmatch@example.com"}),
        )
        .await;
    created.expect(201);
    assert_eq!(created.version(), 1);
    let id = created.id();
    let path = format!("/v1/customers/{id}");

    let responses = join_all((0..10).map(|i| {
        app.request(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"first_name": format!("Racer{i}")})),
            &[("If-Match", "\"1\"")],
        )
    }))
    .await;

    let winners: Vec<(usize, &TestResponse)> = responses
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == 200)
        .collect();
    assert_eq!(winners.len(), 1, "{responses:#?}");
    let (winner, won) = winners[0];
    assert_eq!(won.version(), 2);
    assert_eq!(won.header("etag"), Some("\"2\""));
    for (i, r) in responses.iter().enumerate() {
        match r.status {
            200 => {}
            412 => {
                r.expect_problem(412, "precondition-failed");
                assert_eq!(r.body["current_version"], 2, "{}", r.body);
            }
            409 => {
                r.expect_problem(409, "conflict");
                assert_eq!(r.body["rule"], "concurrency.version-conflict", "{}", r.body);
            }
            other => panic!("racer {i}: unexpected {other}: {}", r.body),
        }
    }

    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE aggregate_id = $1",
            &id
        )
        .await,
        2,
        "registered + one update"
    );
    app.settle().await;
    let read = app.get(&path, &admin).await;
    read.expect(200);
    assert_eq!(read.body["first_name"], format!("Racer{winner}"));
    assert_eq!(read.body["version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transitions_without_if_match_leave_one_consistent_history() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "pipeline@example.com").await;
    let lead = app.lead(&admin, &customer).await;
    let path = format!("/v1/leads/{lead}/transition");
    let targets = [
        "CONTACTED",
        "QUALIFIED",
        "PROPOSAL_SENT",
        "NEGOTIATION",
        "CONTACTED",
        "QUALIFIED",
        "PROPOSAL_SENT",
        "NEGOTIATION",
        "QUALIFIED",
        "CONTACTED",
    ];

    let responses = join_all(
        targets
            .iter()
            .map(|to| app.post(&path, &admin, json!({"to": to}))),
    )
    .await;

    let mut versions = Vec::new();
    for (r, to) in responses.iter().zip(targets) {
        match r.status {
            200 => versions.push(r.version()),
            409 => {
                r.expect_problem(409, "conflict");
                let rule = r.body["rule"].as_str().unwrap_or_default();
                assert!(
                    rule == "concurrency.version-conflict" || rule == "lead.illegal-transition",
                    "to {to}: {}",
                    r.body
                );
            }
            other => panic!("to {to}: unexpected {other}: {}", r.body),
        }
    }
    assert!(!versions.is_empty(), "at least one transition wins");
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(
        versions.len(),
        responses.iter().filter(|r| r.status == 200).count(),
        "each winner got its own version"
    );

    let events: Vec<(i64, String, Value)> = sqlx::query_as(
        "SELECT sequence, event_type, payload::jsonb FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(&lead)
    .fetch_all(app.pool())
    .await
    .expect("events");
    let sequences: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        sequences,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "no gaps, no duplicates"
    );
    assert_eq!(
        versions.last().copied(),
        Some(events.len() as u64),
        "the last winner's version is the aggregate's"
    );

    // Every status change starts where the previous one ended.
    let changes: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.1 == "LeadStatusChanged")
        .map(|e| {
            let data = &e.2["LeadStatusChanged"];
            (
                data["from"].as_str().expect("from").to_owned(),
                data["to"].as_str().expect("to").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changes.len(),
        versions.len(),
        "one status change per 200: {changes:?}"
    );
    let mut status = "NEW".to_owned();
    for (from, to) in &changes {
        assert_eq!(from, &status, "history {changes:?}");
        status = to.clone();
    }
    assert_eq!(
        events
            .iter()
            .filter(|e| e.1 == "LeadFirstContacted")
            .count(),
        1,
        "first contact is stamped once"
    );

    app.settle().await;
    let read = app.get(&format!("/v1/leads/{lead}"), &admin).await;
    read.expect(200);
    assert_eq!(read.body["version"], events.len() as u64);
    assert_eq!(read.body["status"], status.as_str());
    let timeline = app
        .get(
            &format!("/v1/leads/{lead}/timeline?kind=status_changed&limit=200"),
            &admin,
        )
        .await;
    timeline.expect(200);
    assert_eq!(
        timeline.body["items"].as_array().map(Vec::len),
        Some(changes.len())
    );
}

/// Every route runs its command through the event store's one loop: a
/// customer change that loses a race is decided again on the fresh state
/// (as a quote's or a lead's is), never answered with a bare 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_customer_changes_without_if_match_are_all_decided_in_turn() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let customer = app.customer(&admin, "tags.race@example.com").await;
    let tags: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    let path = format!("/v1/customers/{customer}/tags");
    let mut racing: Vec<_> = tags
        .iter()
        .map(|tag| app.post(&path, &admin, json!({ "tag": tag })))
        .collect();
    let rename = format!("/v1/customers/{customer}");
    let renamed = app.patch(&rename, &admin, json!({"notes": "raced"}));
    let (tagged, renamed) = futures::join!(join_all(racing.drain(..)), renamed);
    assert_eq!(
        tally(&tagged),
        BTreeMap::from([(200, tags.len())]),
        "{:?}",
        tagged.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    renamed.expect(200);
    let mut versions: Vec<u64> = tagged.iter().map(TestResponse::version).collect();
    versions.push(renamed.version());
    versions.sort_unstable();
    assert_eq!(
        versions,
        (2..=2 + tags.len() as u64).collect::<Vec<_>>(),
        "each change committed on top of the previous one"
    );
    app.settle().await;
    let read = app.get(&format!("/v1/customers/{customer}"), &admin).await;
    read.expect(200);
    assert_eq!(read.body["tags"], json!(tags));
    assert_eq!(read.body["notes"], "raced");
}

/// What a claim holds for a normalized value: its blind index in tenant acme.
async fn claim_key(app: &TestApp, kind: &str, normalized: &str) -> String {
    app.env
        .infra
        .keystore
        .blind_index("acme", kind, normalized)
        .await
        .expect("a blind index")
}
