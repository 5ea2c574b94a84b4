//! A real SMTP server (RFC 5321, plain text, no TLS, no AUTH) for end-to-end tests and benchmarks.
//!
//! [`SmtpServer::start`] listens on `127.0.0.1:0` and keeps every accepted message
//! ([`SmtpServer::received`], [`SmtpServer::wait_for`]); [`SmtpServer::sink`] only counts them
//! ([`SmtpServer::count`], [`SmtpServer::wait_for_count`]), for benchmarks. The server stops when
//! the value is dropped: the accept loop and every open connection are aborted.
//!
//! It speaks what lettre's `AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
//! .port(server.port())` needs: greeting 220; `EHLO` (250 with `PIPELINING`, `8BITMIME`,
//! `SMTPUTF8`, `SIZE`), `HELO`, `MAIL FROM`, `RCPT TO` (several), `DATA` (354, then the content
//! up to `CRLF.CRLF`, dot-stuffing undone), `RSET`, `NOOP`, `QUIT`; anything else gets 500.
//! Several transactions per connection work (lettre pools connections); pipelined commands are
//! answered in order.
//!
//! # Failing on demand
//!
//! * [`SmtpServer::fail_next`]`(count, reply)`: the next `count` transactions (counted when their
//!   `MAIL FROM` arrives) get `reply` at `reply.phase`; later ones are accepted again. Calls
//!   queue up one after the other.
//! * [`SmtpServer::fail_always`]`(reply)`: every transaction fails that way (after the queued
//!   ones) until [`SmtpServer::clear`].
//! * [`SmtpServer::drop_connection_after_data_next`]`(n)`: the next `n` messages whose content
//!   is accepted are stored, but the connection is closed instead of sending the final 250: the
//!   server has the message and the client does not know (an "at least once" test resends it).
//!
//! A 4xx code is transient for the client (lettre: `Error::is_transient`), a 5xx permanent
//! (`Error::is_permanent`). A message refused at any phase is not stored.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The name the server gives itself in its greeting and its EHLO reply.
pub const SERVER_NAME: &str = "test-peers.localhost";

/// The largest message accepted (advertised as `SIZE`); a larger one gets 552 and is not stored.
pub const MAX_MESSAGE_SIZE: usize = 32 * 1024 * 1024;

/// The longest command line accepted (RFC 5321 says 512 octets; we are lenient).
const MAX_COMMAND_LINE: u64 = 4096;

/// Where in a transaction a scripted [`Reply`] is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Instead of the 250 to `MAIL FROM`.
    Mail,
    /// Instead of the 250 to every `RCPT TO` of the transaction.
    Rcpt,
    /// Instead of the 354 to the `DATA` command (the content is never sent).
    DataCommand,
    /// Instead of the final 250 after the content (`CRLF.CRLF`): the content was transmitted,
    /// the server refuses it. This is where real servers refuse most (spam, full queue).
    Data,
}

/// A scripted SMTP reply: `code` (4xx transient, 5xx permanent) and `text`, given at `phase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub phase: Phase,
    /// The reply text; several lines give a multi-line reply.
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, phase: Phase, text: impl Into<String>) -> Self {
        Reply {
            code,
            phase,
            text: text.into(),
        }
    }

    /// 451 at `phase`: a transient failure.
    pub fn transient(phase: Phase) -> Self {
        Reply::new(
            451,
            phase,
            "4.3.0 Requested action aborted: local error (scripted)",
        )
    }

    /// 550 at `phase`: a permanent failure.
    pub fn permanent(phase: Phase) -> Self {
        Reply::new(
            550,
            phase,
            "5.7.1 Requested action not taken: rejected (scripted)",
        )
    }

    fn render(&self, out: &mut Vec<u8>) {
        write_reply(out, self.code, &self.text);
    }
}

/// A message the server accepted: its envelope and its content exactly as received (after
/// dot-stuffing is undone, without the final `.` line).
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The `MAIL FROM` address without angle brackets (empty for the null sender `<>`).
    pub mail_from: String,
    /// The `RCPT TO` addresses without angle brackets, in order.
    pub rcpt_to: Vec<String>,
    /// The message (headers and body), CRLF line endings as sent.
    pub raw: Vec<u8>,
    /// Which connection carried it: the server numbers its connections 1, 2, ...
    pub connection_id: u64,
}

impl ReceivedMessage {
    fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .unwrap_or_else(|| {
                panic!(
                    "test-peers: could not parse the received message as RFC 5322:\n{}",
                    String::from_utf8_lossy(&self.raw)
                )
            })
    }

    /// The first header named `name` (case-insensitive), unfolded, RFC 2047 encoded words
    /// decoded, trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }

    /// Every header named `name` (case-insensitive), in order, as [`ReceivedMessage::header`].
    pub fn headers(&self, name: &str) -> Vec<String> {
        let message = self.parsed();
        message
            .header_as(name, mail_parser::HeaderForm::Text)
            .into_iter()
            .map(|value| match value {
                mail_parser::HeaderValue::Text(text) => text.trim().to_string(),
                mail_parser::HeaderValue::TextList(list) => list.join(" ").trim().to_string(),
                _ => String::new(),
            })
            .collect()
    }

    /// The `Message-ID` header as written, angle brackets included (e.g. `<abc@crm.example>`).
    pub fn message_id(&self) -> Option<String> {
        self.header("Message-ID")
    }

    /// The decoded `Subject`.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject")
    }

    /// The first text body, decoded (quoted-printable, base64, charset; multipart walked), as
    /// mail-parser sees it: an html-only message yields its html converted to text.
    pub fn text_body(&self) -> Option<String> {
        self.parsed().body_text(0).map(|body| body.into_owned())
    }

    /// The first html body, decoded as [`ReceivedMessage::text_body`]; a text-only message yields
    /// its text converted to html.
    pub fn html_body(&self) -> Option<String> {
        self.parsed().body_html(0).map(|body| body.into_owned())
    }

    /// The attachments, decoded, in order: (file name, `type/subtype`, bytes).
    pub fn attachments(&self) -> Vec<(Option<String>, String, Vec<u8>)> {
        use mail_parser::MimeHeaders;
        let message = self.parsed();
        message
            .attachments()
            .map(|part| {
                let content_type = part
                    .content_type()
                    .map(|t| match t.subtype() {
                        Some(sub) => format!("{}/{sub}", t.ctype()),
                        None => t.ctype().to_owned(),
                    })
                    .unwrap_or_default();
                (
                    part.attachment_name().map(str::to_owned),
                    content_type,
                    part.contents().to_vec(),
                )
            })
            .collect()
    }

    /// The content as (lossy) UTF-8, for assertions and failure messages.
    pub fn raw_str(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    fn summary(&self) -> String {
        let (subject, message_id) = match mail_parser::MessageParser::default().parse(&self.raw) {
            Some(_) => (self.subject(), self.message_id()),
            None => (None, None),
        };
        format!(
            "connection {} from <{}> to {:?}, {} bytes, Subject: {:?}, Message-ID: {:?}",
            self.connection_id,
            self.mail_from,
            self.rcpt_to,
            self.raw.len(),
            subject,
            message_id
        )
    }
}

impl fmt::Debug for ReceivedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedMessage")
            .field("mail_from", &self.mail_from)
            .field("rcpt_to", &self.rcpt_to)
            .field("connection_id", &self.connection_id)
            .field("raw", &String::from_utf8_lossy(&self.raw))
            .finish()
    }
}

/// Counters kept in both modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmtpStats {
    /// Connections accepted.
    pub connections: u64,
    /// `MAIL FROM` commands received (transactions begun, refused ones included).
    pub transactions: u64,
    /// Messages accepted (stored, or counted in sink mode); dropped-after-data ones included.
    pub accepted: u64,
    /// Transactions refused by a scripted [`Reply`].
    pub refused: u64,
    /// Connections closed by [`SmtpServer::drop_connection_after_data_next`].
    pub dropped_after_data: u64,
}

#[derive(Default)]
struct Script {
    queued: VecDeque<Reply>,
    always: Option<Reply>,
    drop_after_data: usize,
}

struct Shared {
    store: bool,
    messages: Mutex<Vec<ReceivedMessage>>,
    script: Mutex<Script>,
    accepted: watch::Sender<usize>,
    connections: AtomicU64,
    transactions: AtomicU64,
    refused: AtomicU64,
    dropped_after_data: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// The scripted failure for a transaction that begins now, if any.
    fn take_failure(&self) -> Option<Reply> {
        let mut script = lock(&self.script);
        if let Some(reply) = script.queued.pop_front() {
            return Some(reply);
        }
        script.always.clone()
    }

    fn take_drop_after_data(&self) -> bool {
        let mut script = lock(&self.script);
        if script.drop_after_data > 0 {
            script.drop_after_data -= 1;
            true
        } else {
            false
        }
    }

    fn accept(&self, message: ReceivedMessage) {
        if self.store {
            lock(&self.messages).push(message);
        }
        self.accepted.send_modify(|count| *count += 1);
    }
}

/// A running SMTP server on `127.0.0.1`; stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpServer")
            .field("addr", &self.addr)
            .field("store", &self.shared.store)
            .finish()
    }
}

impl SmtpServer {
    /// Starts a server on `127.0.0.1:0` that keeps every accepted message.
    pub async fn start() -> SmtpServer {
        Self::start_inner(true).await
    }

    /// Starts a server on `127.0.0.1:0` that only counts accepted messages (for benchmarks):
    /// [`SmtpServer::received`] stays empty, [`SmtpServer::count`] counts.
    pub async fn sink() -> SmtpServer {
        Self::start_inner(false).await
    }

    /// A counting sink on `addr` (a benchmark's server is told where it is).
    pub async fn sink_on(addr: SocketAddr) -> std::io::Result<SmtpServer> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::serve(listener, false))
    }

    async fn start_inner(store: bool) -> SmtpServer {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("test-peers: bind an SMTP listener on 127.0.0.1:0");
        Self::serve(listener, store)
    }

    fn serve(listener: TcpListener, store: bool) -> SmtpServer {
        let addr = listener
            .local_addr()
            .expect("test-peers: SMTP listener address");
        let shared = Arc::new(Shared {
            store,
            messages: Mutex::new(Vec::new()),
            script: Mutex::new(Script::default()),
            accepted: watch::Sender::new(0),
            connections: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            dropped_after_data: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        SmtpServer { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The next `count` transactions get `reply` at `reply.phase`; queued after earlier calls.
    pub fn fail_next(&self, count: usize, reply: Reply) {
        let mut script = lock(&self.shared.script);
        script.queued.extend(std::iter::repeat_n(reply, count));
    }

    /// Every transaction (after the queued [`SmtpServer::fail_next`] ones) gets `reply`, until
    /// [`SmtpServer::clear`].
    pub fn fail_always(&self, reply: Reply) {
        lock(&self.shared.script).always = Some(reply);
    }

    /// The next `count` messages whose content is accepted are stored, but the connection is
    /// closed instead of the final 250 reply.
    pub fn drop_connection_after_data_next(&self, count: usize) {
        lock(&self.shared.script).drop_after_data += count;
    }

    /// Forgets every scripted failure: from now on everything is accepted.
    pub fn clear(&self) {
        *lock(&self.shared.script) = Script::default();
    }

    /// The messages accepted so far, in order of acceptance (always empty for a sink).
    pub fn received(&self) -> Vec<ReceivedMessage> {
        lock(&self.shared.messages).clone()
    }

    /// Forgets the messages received so far (the count and stats stay).
    pub fn clear_received(&self) {
        lock(&self.shared.messages).clear();
    }

    /// How many messages were accepted (both modes).
    pub fn count(&self) -> usize {
        *self.shared.accepted.borrow()
    }

    pub fn stats(&self) -> SmtpStats {
        SmtpStats {
            connections: self.shared.connections.load(Ordering::Relaxed),
            transactions: self.shared.transactions.load(Ordering::Relaxed),
            accepted: *self.shared.accepted.borrow() as u64,
            refused: self.shared.refused.load(Ordering::Relaxed),
            dropped_after_data: self.shared.dropped_after_data.load(Ordering::Relaxed),
        }
    }

    /// Waits until at least `n` messages were accepted and returns all received messages.
    ///
    /// # Panics
    /// On timeout, with the list of what was received; on a sink (use
    /// [`SmtpServer::wait_for_count`]).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        assert!(
            self.shared.store,
            "test-peers: SmtpServer::sink() keeps no messages; use wait_for_count"
        );
        if self.try_wait_for_count(n, timeout).await.is_err() {
            let received = self.received();
            let list: Vec<String> = received
                .iter()
                .enumerate()
                .map(|(i, m)| format!("  {}. {}", i + 1, m.summary()))
                .collect();
            panic!(
                "test-peers: SMTP server {} received {} message(s) within {:?}, expected at least {}; stats {:?}; received:\n{}",
                self.addr,
                received.len(),
                timeout,
                n,
                self.stats(),
                if list.is_empty() {
                    "  (none)".to_string()
                } else {
                    list.join("\n")
                }
            );
        }
        self.received()
    }

    /// Waits until at least `n` messages were accepted; returns the count.
    ///
    /// # Panics
    /// On timeout.
    pub async fn wait_for_count(&self, n: usize, timeout: Duration) -> usize {
        match self.try_wait_for_count(n, timeout).await {
            Ok(count) => count,
            Err(count) => panic!(
                "test-peers: SMTP server {} accepted {count} message(s) within {timeout:?}, expected at least {n}; stats {:?}",
                self.addr,
                self.stats()
            ),
        }
    }

    /// Waits until at least `n` messages were accepted: `Ok(count)`, or `Err(count)` on timeout.
    pub async fn try_wait_for_count(&self, n: usize, timeout: Duration) -> Result<usize, usize> {
        let mut rx = self.shared.accepted.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await {
            Ok(Ok(count)) => Ok(*count),
            _ => Err(self.count()),
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owned here so that aborting this task aborts every connection too.
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let id = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
                connections.spawn(serve_connection(stream, Arc::clone(&shared), id));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        while connections.try_join_next().is_some() {}
    }
}

fn write_reply(out: &mut Vec<u8>, code: u16, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        out.extend_from_slice(format!("{code} \r\n").as_bytes());
        return;
    }
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.extend_from_slice(format!("{code}{sep}{line}\r\n").as_bytes());
    }
}

struct Transaction {
    mail_from: String,
    rcpt_to: Vec<String>,
    failure: Option<Reply>,
    refusal_counted: bool,
}

/// The address in `FROM:<a@b> PARAM=...` / `TO:<a@b>` after the keyword, and the parameters.
fn parse_path<'a>(args: &'a str, keyword: &str) -> Option<(String, &'a str)> {
    let args = args.trim_start();
    if args.len() < keyword.len() || !args[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = args[keyword.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some((inner[..end].to_string(), inner[end + 1..].trim()))
    } else {
        let mut parts = rest.splitn(2, ' ');
        let addr = parts.next().filter(|a| !a.is_empty())?;
        Some((addr.to_string(), parts.next().unwrap_or("").trim()))
    }
}

fn size_param(params: &str) -> Option<usize> {
    params.split_ascii_whitespace().find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.eq_ignore_ascii_case("SIZE")
            .then(|| value.parse().ok())
            .flatten()
    })
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, id: u64) {
    let _ = handle_connection(stream, &shared, id).await;
}

async fn handle_connection(stream: TcpStream, shared: &Shared, id: u64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    let mut writer = BufWriter::with_capacity(16 * 1024, write);
    let mut out = Vec::with_capacity(512);
    write_reply(
        &mut out,
        220,
        &format!("{SERVER_NAME} ESMTP test-peers ready"),
    );
    writer.write_all(&out).await?;
    writer.flush().await?;

    let mut greeted = false;
    let mut transaction: Option<Transaction> = None;
    let mut line = Vec::with_capacity(512);
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_COMMAND_LINE)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        out.clear();
        if !line.ends_with(b"\n") {
            // Too long (or the peer closed mid-line): refuse and resynchronise on the next line.
            write_reply(&mut out, 500, "5.5.2 Line too long");
            writer.write_all(&out).await?;
            writer.flush().await?;
            let mut discard = Vec::new();
            reader.read_until(b'\n', &mut discard).await?;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let command = text.trim_end_matches(['\r', '\n']);
        let (verb, args) = match command.split_once(' ') {
            Some((verb, args)) => (verb, args),
            None => (command, ""),
        };
        let verb = verb.to_ascii_uppercase();
        let mut close = false;
        match verb.as_str() {
            "EHLO" => {
                greeted = true;
                transaction = None;
                let client = args.trim();
                write_reply(
                    &mut out,
                    250,
                    &format!(
                        "{SERVER_NAME} greets {}\nPIPELINING\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES\nSIZE {MAX_MESSAGE_SIZE}",
                        if client.is_empty() { "you" } else { client }
                    ),
                );
            }
            "HELO" => {
                greeted = true;
                transaction = None;
                write_reply(&mut out, 250, SERVER_NAME);
            }
            "MAIL" => {
                if !greeted {
                    write_reply(&mut out, 503, "5.5.1 Send EHLO or HELO first");
                } else if transaction.is_some() {
                    write_reply(&mut out, 503, "5.5.1 Nested MAIL command");
                } else {
                    match parse_path(args, "FROM:") {
                        None => write_reply(&mut out, 501, "5.5.4 Syntax: MAIL FROM:<address>"),
                        Some((from, params)) => {
                            shared.transactions.fetch_add(1, Ordering::Relaxed);
                            let failure = shared.take_failure();
                            match failure {
                                Some(reply) if reply.phase == Phase::Mail => {
                                    shared.refused.fetch_add(1, Ordering::Relaxed);
                                    reply.render(&mut out);
                                }
                                _ if size_param(params).is_some_and(|s| s > MAX_MESSAGE_SIZE) => {
                                    write_reply(
                                        &mut out,
                                        552,
                                        "5.3.4 Message size exceeds fixed limit",
                                    );
                                }
                                failure => {
                                    transaction = Some(Transaction {
                                        mail_from: from,
                                        rcpt_to: Vec::new(),
                                        failure,
                                        refusal_counted: false,
                                    });
                                    write_reply(&mut out, 250, "2.1.0 OK");
                                }
                            }
                        }
                    }
                }
            }
            "RCPT" => match transaction.as_mut() {
                None => write_reply(&mut out, 503, "5.5.1 Need MAIL before RCPT"),
                Some(tx) => match parse_path(args, "TO:") {
                    None => write_reply(&mut out, 501, "5.5.4 Syntax: RCPT TO:<address>"),
                    Some((to, _)) => match &tx.failure {
                        Some(reply) if reply.phase == Phase::Rcpt => {
                            if !tx.refusal_counted {
                                tx.refusal_counted = true;
                                shared.refused.fetch_add(1, Ordering::Relaxed);
                            }
                            reply.render(&mut out);
                        }
                        _ => {
                            tx.rcpt_to.push(to);
                            write_reply(&mut out, 250, "2.1.5 OK");
                        }
                    },
                },
            },
            "DATA" => match transaction.take() {
                None => write_reply(&mut out, 503, "5.5.1 Need MAIL before DATA"),
                Some(tx) if tx.rcpt_to.is_empty() => {
                    write_reply(&mut out, 554, "5.5.1 No valid recipients");
                }
                Some(tx) => match &tx.failure {
                    Some(reply) if reply.phase == Phase::DataCommand => {
                        shared.refused.fetch_add(1, Ordering::Relaxed);
                        reply.render(&mut out);
                    }
                    _ => {
                        write_reply(&mut out, 354, "End data with <CR><LF>.<CR><LF>");
                        writer.write_all(&out).await?;
                        writer.flush().await?;
                        out.clear();
                        let (raw, too_big) = read_data(&mut reader, shared.store).await?;
                        match &tx.failure {
                            _ if too_big => {
                                write_reply(&mut out, 552, "5.3.4 Message size exceeds fixed limit")
                            }
                            Some(reply) if reply.phase == Phase::Data => {
                                shared.refused.fetch_add(1, Ordering::Relaxed);
                                reply.render(&mut out);
                            }
                            _ => {
                                shared.accept(ReceivedMessage {
                                    mail_from: tx.mail_from,
                                    rcpt_to: tx.rcpt_to,
                                    raw,
                                    connection_id: id,
                                });
                                if shared.take_drop_after_data() {
                                    shared.dropped_after_data.fetch_add(1, Ordering::Relaxed);
                                    // Close without a reply: the client never learns of the 250.
                                    let mut stream = writer.into_inner();
                                    let _ = stream.shutdown().await;
                                    return Ok(());
                                }
                                write_reply(&mut out, 250, "2.0.0 OK: queued");
                            }
                        }
                    }
                },
            },
            "RSET" => {
                transaction = None;
                write_reply(&mut out, 250, "2.0.0 OK");
            }
            "NOOP" => write_reply(&mut out, 250, "2.0.0 OK"),
            "QUIT" => {
                write_reply(
                    &mut out,
                    221,
                    &format!("2.0.0 {SERVER_NAME} closing connection"),
                );
                close = true;
            }
            _ => write_reply(&mut out, 500, "5.5.2 Command not recognized"),
        }
        writer.write_all(&out).await?;
        // Answer pipelined commands in one write; flush before waiting for more input.
        if close || reader.buffer().is_empty() {
            writer.flush().await?;
        }
        if close {
            let _ = writer.shutdown().await;
            return Ok(());
        }
    }
}

/// Reads the content after 354 up to the line `.`, undoing dot-stuffing. Returns the content
/// (empty when `keep` is false) and whether it exceeded [`MAX_MESSAGE_SIZE`].
///
/// lettre writes the content and the final `CRLF.CRLF` in two writes without `TCP_NODELAY`:
/// Nagle's algorithm holds the second until the first is acknowledged, and a delayed ACK would
/// cost 40 ms a message. So whenever the content read so far is used up without its end, the
/// server acknowledges at once (`TCP_QUICKACK`, on Linux).
async fn read_data(
    reader: &mut BufReader<OwnedReadHalf>,
    keep: bool,
) -> io::Result<(Vec<u8>, bool)> {
    let mut raw = Vec::new();
    let mut size = 0usize;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed during DATA",
            ));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok((raw, size > MAX_MESSAGE_SIZE));
        }
        let content = match line.first() {
            Some(b'.') => &line[1..],
            _ => &line[..],
        };
        size += content.len();
        if keep && size <= MAX_MESSAGE_SIZE {
            raw.extend_from_slice(content);
        }
        if reader.buffer().is_empty() {
            quick_ack(reader.get_ref().as_ref());
        }
    }
}

#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_stream: &TcpStream) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_parameters() {
        assert_eq!(
            parse_path("FROM:<a@b.c> SIZE=10 BODY=8BITMIME", "FROM:"),
            Some(("a@b.c".to_string(), "SIZE=10 BODY=8BITMIME"))
        );
        assert_eq!(parse_path("from: <>", "FROM:"), Some((String::new(), "")));
        assert_eq!(parse_path("TO:x@y", "TO:"), Some(("x@y".to_string(), "")));
        assert_eq!(parse_path("TO:", "FROM:"), None);
        assert_eq!(size_param("BODY=8BITMIME size=42"), Some(42));
        assert_eq!(size_param("BODY=8BITMIME"), None);
    }

    #[test]
    fn multi_line_replies() {
        let mut out = Vec::new();
        write_reply(&mut out, 250, "a\nb\nc");
        assert_eq!(out, b"250-a\r\n250-b\r\n250 c\r\n");
    }
}
