//! The SMTP server against a real client (lettre's tokio transport) and against raw SMTP.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use test_peers::smtp::{Phase, Reply, SmtpServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

fn transport(server: &SmtpServer) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .timeout(Some(Duration::from_secs(5)))
        .build()
}

fn mailbox(s: &str) -> Mailbox {
    s.parse().expect("a mailbox")
}

fn simple(n: usize) -> Message {
    Message::builder()
        .from(mailbox("Movers CRM <noreply@crm.test>"))
        .to(mailbox("client@example.test"))
        .subject(format!("message {n}"))
        .message_id(Some(format!("<msg-{n}@crm.test>")))
        .body(format!("body {n}\r\n"))
        .expect("a message")
}

#[tokio::test]
async fn lettre_multipart_message_is_received_and_decoded() {
    let server = SmtpServer::start().await;
    let text = "Bonjour Élise,\r\n\r\nVotre déménagement est confirmé pour le 3 mars.\r\n.\r\n..deux points\r\n";
    let html = "<p>Bonjour Élise,</p><p>Votre déménagement est <b>confirmé</b>.</p>";
    let email = Message::builder()
        .from(mailbox("Movers CRM <noreply@crm.test>"))
        .to(mailbox("Élise Tremblay <elise@example.test>"))
        .cc(mailbox("office@example.test"))
        .subject("Votre déménagement est confirmé ✔")
        .message_id(Some("<comm-0192@crm.test>".to_string()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            "<https://crm.test/unsubscribe/abc>, <mailto:unsubscribe@crm.test?subject=abc>"
                .to_string(),
        ))
        .multipart(MultiPart::alternative_plain_html(
            text.to_string(),
            html.to_string(),
        ))
        .expect("a message");

    transport(&server).send(email).await.expect("sent");

    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let m = &received[0];
    assert_eq!(m.mail_from, "noreply@crm.test");
    assert_eq!(m.rcpt_to, vec!["elise@example.test", "office@example.test"]);
    assert_eq!(m.message_id().as_deref(), Some("<comm-0192@crm.test>"));
    assert_eq!(
        m.subject().as_deref(),
        Some("Votre déménagement est confirmé ✔")
    );
    assert_eq!(
        m.header("list-unsubscribe").as_deref(),
        Some("<https://crm.test/unsubscribe/abc>, <mailto:unsubscribe@crm.test?subject=abc>")
    );
    assert_eq!(m.headers("LIST-UNSUBSCRIBE").len(), 1);
    assert_eq!(m.header("X-Not-There"), None);
    let to = m.header("To").expect("a To header");
    assert!(
        to.contains("Élise Tremblay") && to.contains("<elise@example.test>"),
        "{to}"
    );
    let text_body = m.text_body().expect("a text body");
    assert_eq!(text_body.replace("\r\n", "\n"), text.replace("\r\n", "\n"));
    let html_body = m.html_body().expect("an html body");
    assert_eq!(html_body.trim_end(), html);
    assert!(m.raw_str().contains("multipart/alternative"));
    assert!(
        !m.raw.ends_with(b".\r\n"),
        "the final dot is not part of the message"
    );
}

#[tokio::test]
async fn scripted_4xx_is_transient_5xx_permanent_then_accepts_again() {
    let server = SmtpServer::start().await;
    let mailer = transport(&server);

    server.fail_next(1, Reply::new(451, Phase::Data, "4.3.0 try again later"));
    let err = mailer.send(simple(1)).await.expect_err("451 at DATA");
    assert!(err.is_transient(), "{err:?}");
    assert!(!err.is_permanent());
    assert_eq!(err.status().map(u16::from), Some(451));
    // The count is spent: the retry is accepted.
    mailer.send(simple(1)).await.expect("the retry is accepted");

    server.fail_next(1, Reply::new(550, Phase::Rcpt, "5.1.1 no such user"));
    let err = mailer.send(simple(2)).await.expect_err("550 at RCPT");
    assert!(err.is_permanent(), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(err.status().map(u16::from), Some(550));

    server.fail_next(1, Reply::permanent(Phase::Mail));
    assert!(
        mailer
            .send(simple(3))
            .await
            .expect_err("MAIL")
            .is_permanent()
    );
    server.fail_next(1, Reply::transient(Phase::DataCommand));
    assert!(
        mailer
            .send(simple(4))
            .await
            .expect_err("DATA")
            .is_transient()
    );

    mailer.send(simple(5)).await.expect("accepted again");

    let received = server.wait_for(2, WAIT).await;
    let ids: Vec<_> = received.iter().map(|m| m.message_id().unwrap()).collect();
    assert_eq!(
        ids,
        vec!["<msg-1@crm.test>", "<msg-5@crm.test>"],
        "refused messages are not stored"
    );
    let stats = server.stats();
    assert_eq!(stats.transactions, 6);
    assert_eq!(stats.refused, 4);
    assert_eq!(stats.accepted, 2);
}

#[tokio::test]
async fn fail_always_until_clear_and_queued_failures_in_order() {
    let server = SmtpServer::start().await;
    let mailer = transport(&server);
    server.fail_next(1, Reply::transient(Phase::Data));
    server.fail_next(1, Reply::permanent(Phase::Data));
    server.fail_always(Reply::new(421, Phase::Mail, "4.3.2 shutting down"));
    assert!(mailer.send(simple(1)).await.unwrap_err().is_transient());
    assert!(mailer.send(simple(2)).await.unwrap_err().is_permanent());
    for n in 3..6 {
        let err = mailer.send(simple(n)).await.unwrap_err();
        assert_eq!(err.status().map(u16::from), Some(421));
    }
    server.clear();
    mailer.send(simple(6)).await.expect("accepted after clear");
    assert_eq!(server.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn pooled_transport_reuses_one_connection() {
    let server = SmtpServer::start().await;
    let mailer = transport(&server);
    for n in 0..3 {
        mailer.send(simple(n)).await.expect("sent");
        // lettre gives a connection back to its pool in a task of its own: let it run.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = server.wait_for(3, WAIT).await;
    assert!(
        received
            .iter()
            .all(|m| m.connection_id == received[0].connection_id),
        "{received:?}"
    );
    let stats = server.stats();
    assert_eq!((stats.connections, stats.transactions), (1, 3));
}

#[tokio::test]
async fn dropped_connection_after_data_stores_the_message_but_the_client_sees_an_error() {
    let server = SmtpServer::start().await;
    let mailer = transport(&server);
    server.drop_connection_after_data_next(1);
    let err = mailer
        .send(simple(7))
        .await
        .expect_err("the client never gets the 250");
    // Neither a transient nor a permanent SMTP reply: the outcome is unknown to the client.
    assert!(!err.is_permanent() && !err.is_transient(), "{err:?}");
    println!("lettre's error when the connection drops after DATA: {err} ({err:?})");
    assert_eq!(server.received().len(), 1, "the server kept the message");

    // The client resends the same message (same Message-ID): at least once, twice here.
    mailer
        .send(simple(7))
        .await
        .expect("the resend is accepted");
    let received = server.wait_for(2, WAIT).await;
    assert_eq!(received[0].message_id(), received[1].message_id());
    assert_ne!(received[0].connection_id, received[1].connection_id);
    assert_eq!(server.stats().dropped_after_data, 1);
}

async fn reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("a reply line");
        assert!(!line.is_empty(), "connection closed; got so far {all:?}");
        all.push_str(&line);
        if line.as_bytes().get(3) == Some(&b' ') {
            return all;
        }
    }
}

#[tokio::test]
async fn raw_smtp_dialogue_with_pipelining_dot_stuffing_and_errors() {
    let server = SmtpServer::start().await;
    let mut conn = BufReader::new(TcpStream::connect(server.addr()).await.unwrap());
    assert!(reply(&mut conn).await.starts_with("220 "));

    conn.get_mut()
        .write_all(b"MAIL FROM:<a@b.test>\r\n")
        .await
        .unwrap();
    assert!(
        reply(&mut conn).await.starts_with("503 "),
        "MAIL before EHLO"
    );

    conn.get_mut()
        .write_all(b"EHLO client.test\r\n")
        .await
        .unwrap();
    let ehlo = reply(&mut conn).await;
    for keyword in ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE "] {
        assert!(ehlo.contains(keyword), "{ehlo}");
    }
    assert!(ehlo.starts_with("250-") && ehlo.lines().last().unwrap().starts_with("250 "));

    conn.get_mut()
        .write_all(b"NOOP\r\nVRFY x\r\nRSET\r\n")
        .await
        .unwrap();
    assert!(reply(&mut conn).await.starts_with("250 "));
    assert!(reply(&mut conn).await.starts_with("500 "));
    assert!(reply(&mut conn).await.starts_with("250 "));

    conn.get_mut().write_all(b"DATA\r\n").await.unwrap();
    assert!(
        reply(&mut conn).await.starts_with("503 "),
        "DATA before MAIL"
    );

    // A pipelined transaction, several recipients.
    conn.get_mut()
        .write_all(b"mail from:<a@b.test> SIZE=100\r\nRCPT TO:<x@y.test>\r\nRCPT TO:<z@y.test>\r\nDATA\r\n")
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(reply(&mut conn).await.starts_with("250 "));
    }
    assert!(reply(&mut conn).await.starts_with("354 "));
    conn.get_mut()
        .write_all(b"Subject: dots\r\n\r\n..leading dot\r\n..\r\nlast line\r\n.\r\n")
        .await
        .unwrap();
    assert!(reply(&mut conn).await.starts_with("250 "));

    conn.get_mut()
        .write_all(b"HELO again\r\nQUIT\r\n")
        .await
        .unwrap();
    assert!(reply(&mut conn).await.starts_with("250 "));
    assert!(reply(&mut conn).await.starts_with("221 "));
    let mut rest = String::new();
    conn.read_line(&mut rest).await.unwrap();
    assert_eq!(rest, "", "closed after QUIT");

    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received[0].mail_from, "a@b.test");
    assert_eq!(received[0].rcpt_to, vec!["x@y.test", "z@y.test"]);
    assert_eq!(
        received[0].raw,
        b"Subject: dots\r\n\r\n.leading dot\r\n.\r\nlast line\r\n"
    );
}

#[tokio::test]
#[should_panic(expected = "received 1 message(s) within")]
async fn wait_for_times_out_with_a_list_of_what_was_received() {
    let server = SmtpServer::start().await;
    transport(&server).send(simple(1)).await.unwrap();
    server.wait_for(2, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn sink_counts_without_keeping() {
    let server = SmtpServer::sink().await;
    let mailer = transport(&server);
    for n in 0..3 {
        mailer.send(simple(n)).await.unwrap();
    }
    assert_eq!(server.wait_for_count(3, WAIT).await, 3);
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn stops_when_dropped() {
    let server = SmtpServer::start().await;
    let addr = server.addr();
    let mut open = TcpStream::connect(addr).await.unwrap();
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
    // The open connection was closed too: reading ends (after the greeting) instead of hanging.
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_to_end(&mut open, &mut buf),
    )
    .await
    .expect("the open connection is closed, not left hanging");
}
