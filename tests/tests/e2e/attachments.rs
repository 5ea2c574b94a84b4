//! Attachments end to end: a file uploaded on its own, sealed apart from
//! the events, named by a message and sent as a MIME part over real SMTP;
//! read back by whoever may write messages (auditors see metadata only);
//! refused when it is another customer's, on a channel without files, too
//! large or empty; erased when its customer is forgotten; invisible to
//! another tenant.

use std::time::Duration;

use crm_tests::TestApp;
use event_schemas::Role;
use reqwest::Method;
use serde_json::{Value, json};
use test_peers::{SmsProvider, SmtpServer};

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "sms-secret";

/// A small PDF-like file whose bytes are not UTF-8.
fn pdf() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.extend((0..=255u8).cycle().take(40_000));
    bytes
}

async fn upload(
    app: &TestApp,
    token: &str,
    query: &str,
    content_type: &str,
    bytes: &[u8],
) -> crm_tests::TestResponse {
    app.raw(
        Method::POST,
        &format!("/v1/attachments?{query}"),
        Some(token),
        &[("content-type", content_type)],
        bytes,
    )
    .await
}

/// A POST of `declared` bytes whose body is never sent: the answer the
/// headers alone get (within 2 s), as text.
async fn headers_only(app: &TestApp, token: &str, path: &str, declared: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer))
        .await
        .map_or(0, |r| r.unwrap_or(0));
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

async fn customer(app: &TestApp, token: &str, first: &str, email: &str) -> String {
    let created = app
        .post(
            "/v1/customers",
            token,
            json!({"first_name": first, "last_name": "Doe", "email": email}),
        )
        .await;
    created.expect(201);
    created.id()
}

async fn until_status(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let read = app.get(&format!("/v1/communications/{id}"), token).await;
        if read.status == 200 && read.body["status"] == status {
            return read.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message never became {status}: {}",
            read.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_file_is_sent_as_a_mime_part_and_never_enters_an_event() {
    let smtp = SmtpServer::start().await;
    let sms = SmsProvider::start(TOKEN).await;
    let app = TestApp::spawn_sending(smtp.port(), &sms.base_url(), TOKEN).await;
    let admin = app.token("acme", Role::Admin);
    let jane = customer(&app, &admin, "Jane", "jane@example.com").await;
    let bytes = pdf();
    let stored = upload(
        &app,
        &admin,
        &format!("file_name=Devis%20%C3%A9t%C3%A9.pdf&customer_id={jane}"),
        "application/pdf",
        &bytes,
    )
    .await;
    stored.expect(201);
    let file = stored.body["id"].as_str().unwrap().to_owned();
    assert_eq!(stored.body["file_name"], "Devis été.pdf");
    assert_eq!(stored.body["size"], bytes.len());
    assert_eq!(
        stored.body["sha256"],
        event_store::attachments::sha256_hex(&bytes)
    );
    assert_eq!(
        stored.headers["location"].to_str().unwrap(),
        format!("/v1/attachments/{file}")
    );
    // A brochure for anyone, sent beside it.
    let brochure = upload(
        &app,
        &admin,
        "file_name=brochure.txt",
        "text/plain",
        b"Boxes: 3 sizes",
    )
    .await;
    brochure.expect(201);
    let brochure = brochure.id();

    let created = app
        .post(
            "/v1/communications",
            &admin,
            json!({"type": "EMAIL", "customer_id": jane, "subject": "Your quote",
                   "content": "<p>Attached.</p>", "attachments": [file, brochure], "send": true}),
        )
        .await;
    created.expect(201);
    let id = created.id();
    let received = smtp.wait_for(1, WAIT).await;
    let files = received[0].attachments();
    assert_eq!(files.len(), 2, "{}", received[0].raw_str());
    assert_eq!(files[0].0.as_deref(), Some("Devis été.pdf"));
    assert_eq!(files[0].1, "application/pdf");
    assert_eq!(files[0].2, bytes);
    assert_eq!(files[1].0.as_deref(), Some("brochure.txt"));
    assert_eq!(files[1].2, b"Boxes: 3 sizes");
    // The text is still there, as both alternatives.
    assert!(received[0].html_body().unwrap().contains("Attached."));
    let sent = until_status(&app, &admin, &id, "SENT").await;
    assert_eq!(sent["attachments"][0]["attachment_id"], file);
    assert_eq!(sent["attachments"][0]["size"], bytes.len());
    assert_eq!(sent["attachments"][1]["content_type"], "text/plain");

    // The events hold the reference, never the bytes (nor the file name).
    let payloads: Vec<String> = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE aggregate_type = 'Communication'",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let all = payloads.concat();
    assert!(all.contains(&file), "{all}");
    assert!(!all.contains("Devis"), "{all}");
    assert!(all.len() < 8_000, "the events hold {} bytes", all.len());
    // Stored sealed: the table holds neither the bytes nor the name.
    let (content, name): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT content, file_name FROM attachments WHERE attachment_id = $1::uuid")
            .bind(&file)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert!(!content.windows(9).any(|w| w == b"%PDF-1.4\n"));
    assert!(!name.windows(5).any(|w| w == b"Devis"));

    // Read back whole, with its type and name.
    let (status, headers, body) = app
        .bytes(&format!("/v1/attachments/{file}/content"), &admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"Devis _t_.pdf\"; filename*=UTF-8''Devis%20%C3%A9t%C3%A9.pdf"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_and_misused_files_name_their_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let jane = customer(&app, &admin, "Jane", "jane@example.com").await;
    let john = customer(&app, &admin, "John", "john@example.com").await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM attachments")
            .fetch_one(app.pool())
            .await
            .unwrap()
    };
    upload(&app, &admin, "file_name=a.txt", "text/plain", b"")
        .await
        .expect_problem(422, "validation")
        .expect_field("body");
    upload(
        &app,
        &admin,
        "file_name=..%2Fetc%2Fpasswd",
        "text/plain",
        b"x",
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("file_name");
    upload(
        &app,
        &admin,
        "customer_id=00000000-0000-0000-0000-000000000001&file_name=a.txt",
        "text/plain",
        b"x",
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("customer_id");
    upload(&app, &admin, "file_name=a.txt", "not a type", b"x")
        .await
        .expect_problem(400, "bad-request");
    upload(
        &app,
        &admin,
        "file_name=a.txt&colour=red",
        "text/plain",
        b"x",
    )
    .await
    .expect_problem(400, "bad-request");
    // One byte over the limit (10 MiB) is refused before the body is read
    // (the answer comes to the headers alone); other routes keep their own
    // limit (1 MiB).
    for (path, declared) in [
        ("/v1/attachments?file_name=big.bin", 10 * 1024 * 1024 + 1),
        ("/v1/customers", 1024 * 1024 + 1),
    ] {
        let answer = headers_only(&app, &admin, path, declared).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer.contains("urn:crm:problem:payload-too-large"),
            "{answer}"
        );
    }
    let answer = headers_only(&app, &admin, "/v1/customers", 1024 * 1024).await;
    assert!(!answer.contains(" 413 "), "{answer}");
    upload(
        &app,
        &app.token("acme", Role::Crew),
        "file_name=a.txt",
        "text/plain",
        b"x",
    )
    .await
    .expect_problem(403, "forbidden");
    assert_eq!(count().await, 0);

    // Just under the limit is taken.
    let almost = vec![7u8; 10 * 1024 * 1024];
    upload(
        &app,
        &admin,
        "file_name=big.bin",
        "application/octet-stream",
        &almost,
    )
    .await
    .expect(201);
    let johns = upload(
        &app,
        &admin,
        &format!("file_name=j.txt&customer_id={john}"),
        "text/plain",
        b"John's",
    )
    .await;
    johns.expect(201);
    let anyones = upload(&app, &admin, "file_name=a.txt", "text/plain", b"anyone").await;
    anyones.expect(201);
    let messages = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM events WHERE aggregate_type = 'Communication'",
        )
        .fetch_one(app.pool())
        .await
        .unwrap()
    };
    let email = |attachments: Value| json!({"type": "EMAIL", "customer_id": jane, "subject": "Hi", "content": "x", "attachments": attachments});
    // John's file can't go to Jane.
    app.post(
        "/v1/communications",
        &admin,
        email(json!([anyones.id(), johns.id()])),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("attachments[1]");
    // An unknown file, a file twice.
    app.post(
        "/v1/communications",
        &admin,
        email(json!([uuid::Uuid::new_v4()])),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("attachments[0]");
    app.post(
        "/v1/communications",
        &admin,
        email(json!([anyones.id(), anyones.id()])),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("attachments[1]");
    // An SMS carries no file.
    app.post(
        "/v1/communications",
        &admin,
        json!({"type": "SMS", "recipient": "+15145550123", "content": "x", "attachments": [anyones.id()]}),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("attachments");
    // To a bare address: files for no one only.
    app.post(
        "/v1/communications",
        &admin,
        json!({"type": "EMAIL", "recipient": "x@example.com", "subject": "Hi", "content": "x", "attachments": [johns.id()]}),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("attachments[0]");
    assert_eq!(messages().await, 0);
    // John's file goes to John.
    app.post(
        "/v1/communications",
        &admin,
        json!({"type": "EMAIL", "customer_id": john, "subject": "Hi", "content": "x", "attachments": [johns.id(), anyones.id()]}),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_see_metadata_other_tenants_nothing_and_forgetting_erases_the_file() {
    let app = TestApp::spawn().await;
    let admin = app.token("acme", Role::Admin);
    let jane = customer(&app, &admin, "Jane", "jane@example.com").await;
    let stored = upload(
        &app,
        &admin,
        &format!("file_name=inventory.csv&customer_id={jane}"),
        "text/csv",
        b"piano,1\nboxes,30\n",
    )
    .await;
    stored.expect(201);
    let file = stored.id();

    let auditor = app.token("acme", Role::Auditor);
    let seen = app.get(&format!("/v1/attachments/{file}"), &auditor).await;
    seen.expect(200);
    assert_eq!(seen.body["file_name"], Value::Null);
    assert_eq!(seen.body["size"], 17);
    assert_eq!(seen.body["content_type"], "text/csv");
    app.get(&format!("/v1/attachments/{file}/content"), &auditor)
        .await
        .expect_problem(403, "forbidden");
    let mine = app.get(&format!("/v1/attachments/{file}"), &admin).await;
    assert_eq!(mine.body["file_name"], "inventory.csv");
    assert_eq!(mine.body["customer_id"], jane);

    let other = app.token("globex", Role::Admin);
    for path in [
        format!("/v1/attachments/{file}"),
        format!("/v1/attachments/{file}/content"),
    ] {
        app.get(&path, &other)
            .await
            .expect_problem(404, "not-found");
    }
    // Another tenant can't send it either.
    let theirs = customer(&app, &other, "Bob", "bob@example.com").await;
    app.post(
        "/v1/communications",
        &other,
        json!({"type": "EMAIL", "customer_id": theirs, "subject": "Hi", "content": "x", "attachments": [file]}),
    )
    .await
    .expect_problem(422, "validation")
    .expect_field("attachments[0]");
    app.get("/v1/attachments/not-an-id", &admin)
        .await
        .expect_problem(404, "not-found");

    app.post(
        &format!("/v1/customers/{jane}/forget"),
        &admin,
        json!({"reason": "erasure request"}),
    )
    .await
    .expect(200);
    app.get(&format!("/v1/attachments/{file}/content"), &admin)
        .await
        .expect_problem(410, "gone");
    let after = app.get(&format!("/v1/attachments/{file}"), &admin).await;
    after.expect(200);
    assert_eq!(after.body["file_name"], Value::Null);
    // And nothing more is stored for them.
    upload(
        &app,
        &admin,
        &format!("file_name=b.txt&customer_id={jane}"),
        "text/plain",
        b"x",
    )
    .await
    .expect_problem(409, "conflict");
}
