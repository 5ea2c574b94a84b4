//! `crm bench`: drives a running server over HTTP with C concurrent clients
//! for T seconds and prints throughput, command latency (overall and per
//! command) and projection lag (the time from the last command of a round
//! until its read model shows that version).
//!
//! Workloads (`--workload`):
//! * `registrations`: each round registers a customer (`POST
//!   /v1/customers`), the write path at its simplest.
//! * `leads`: each round registers a customer and opens a lead.
//! * `sales`: each round runs the money path: customer, lead, quote (three
//!   items, one optional), send, accept, a deposit, invoice the quote, issue
//!   it (a gapless number: every issue in the tenant serializes on one
//!   counter row), then two payments; the lag is measured to the PAID
//!   invoice in its read model.
//! * `assignments`: many requests contending for few trucks. The bench
//!   registers `--trucks` trucks (default 4); each round books a random
//!   truck for a random 4-hour slot in the next 30 days; a slot already
//!   taken answers 409 (counted as a conflict, not a failure); a booked
//!   slot is checked out, and every other one returned at once (freeing
//!   it), so the trucks fill up as the run goes on. The lag is to the
//!   assignment's read model.
//! * `dispatch`: dispatchers competing for few crews and trucks: every
//!   client puts two people and a truck on a 4-hour job in the next two
//!   weeks (409s naming every conflict).
//! * `send`: each round writes an email from a template, sent at once; the
//!   bench starts an SMTP sink on `--smtp-sink` (start the server with
//!   `CRM_SMTP_URL=smtp://<that address>`) and reports messages/s during the
//!   load and until every message is delivered.
//! * `webhooks`: webhook fan-out. The bench starts a webhook receiver on
//!   `--webhook-sink` and creates `--webhooks` endpoints (default 1) that
//!   point at it, each subscribed to `CustomerRegistered` (start the server
//!   with `CRM_WEBHOOK_ALLOW_PRIVATE=true`); each round registers a customer,
//!   so every registration is delivered N times. It reports deliveries/s
//!   during the load and until every delivery arrived (or
//!   `--drain-timeout`, saying how many are missing), and the delivery lag:
//!   from a registration's HTTP response to the arrival of each of its
//!   deliveries (matched by the envelope's `subject`, the customer id).
//! * `dashboard`: the live dashboard. The bench makes a dashboard (a
//!   `new_leads` KPI and the `recent_leads` table of today, 100 rows),
//!   opens its stream (`GET /v1/dashboards/{id}/stream`), and opens
//!   customers and leads at a steady `--rate` leads per second (at most
//!   `-c` in flight); for each lead it measures the delay from its 201 to
//!   the first `widget` event whose table lists it (p50/p99/max).
//! * `rebuild`: first grows the stream to `--events` events (default
//!   100,000) with `leads` rounds from every client, then times `crm
//!   projections rebuild` of `audit_trail` and `customers` (in this process,
//!   against the server's database and stream) and prints events/s.
//!
//! Then, unless `--pgbench 0`, the same run measures PostgreSQL's own limit
//! on this machine: pgbench doing one-row INSERT commits into a table shaped
//! like `events` (no triggers) with as many clients, and prints the ratio of
//! the HTTP figure to it. The relay's wake-ups per published event come from
//! the server's `/metrics`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use api_common::{JwtKeys, Principal};
use clap::Args;
use event_schemas::{Role, TenantId};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

use crate::config::Config;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Base URL of a running `crm serve` (or command-api + query-api).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Concurrent clients.
    #[arg(long, short = 'c', default_value_t = 32)]
    pub clients: usize,
    /// Seconds to run.
    #[arg(long, short = 'd', default_value_t = 30)]
    pub duration: u64,
    /// Tenant to write into (default: a fresh `bench-…` tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// PID of the server, to report its memory (Linux).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// What each client does in a round.
    #[arg(long, value_enum, default_value_t = Workload::Leads)]
    pub workload: Workload,
    /// Trucks the `assignments` and `dispatch` workloads contend for.
    #[arg(long, default_value_t = 4)]
    pub trucks: usize,
    /// Crew members the `dispatch` workload contends for.
    #[arg(long, default_value_t = 8)]
    pub crew: usize,
    /// Probe the projection lag after every Nth round only (the probes are
    /// reads that compete with the commands).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub probe_every: u64,
    /// A round waits for its probe before the next one starts (a client
    /// that reads what it just wrote before going on); by default probes
    /// run beside the next rounds.
    #[arg(long)]
    pub probe_inline: bool,
    /// Seconds of pgbench (one-row INSERT commits, same client count) after
    /// the HTTP run, against the server's database (`DATABASE_URL`); 0 skips.
    #[arg(long, default_value_t = 10)]
    pub pgbench: u64,
    /// The `rebuild` workload's stream size (events).
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Where the `send` workload's SMTP sink listens: start the server
    /// with `CRM_SMTP_URL=smtp://<this address>`.
    #[arg(long, default_value = "127.0.0.1:2525")]
    pub smtp_sink: std::net::SocketAddr,
    /// Where the `webhooks` workload's receiver listens; its endpoints point
    /// there (start the server with `CRM_WEBHOOK_ALLOW_PRIVATE=true`).
    #[arg(long, default_value = "127.0.0.1:2526")]
    pub webhook_sink: std::net::SocketAddr,
    /// Endpoints the `webhooks` workload creates, each subscribed to
    /// `CustomerRegistered`: every registration is delivered this many times.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub webhooks: u64,
    /// Seconds after the load the `webhooks` workload waits for every
    /// delivery before it reports how many are missing.
    #[arg(long, default_value_t = 120)]
    pub drain_timeout: u64,
    /// The `reports` workload's ledger sizes (rows), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000u64, 100_000, 1_000_000])]
    pub report_rows: Vec<u64>,
    /// The `reports` workload's formats, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = ["CSV".to_owned(), "EXCEL".to_owned()])]
    pub report_formats: Vec<String>,
    /// Leads per second the `dashboard` workload opens.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub rate: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// A customer registration.
    Registrations,
    /// Customer + lead.
    Leads,
    /// Customer, lead, quote, send, accept, deposit, invoice, issue, two payments.
    Sales,
    /// Bookings of a few trucks by every client (409s for taken slots).
    Assignments,
    /// Dispatchers competing for few crews and trucks: every client puts
    /// two people and a truck on 4-hour jobs in the next two weeks (409s
    /// naming the conflicts for taken people or trucks).
    Dispatch,
    /// Emails from a template, sent at once: rendered in the sandbox,
    /// stored sealed, queued, delivered by the sender into an SMTP sink
    /// this command starts on `--smtp-sink` (messages/s reported).
    Send,
    /// Webhook fan-out: a customer registration, delivered to each of
    /// `--webhooks` endpoints that point at a receiver this command starts
    /// on `--webhook-sink` (deliveries/s and the delivery lag reported).
    Webhooks,
    /// Grow the stream to `--events`, then time rebuilds.
    Rebuild,
    /// Report generation: the ledger read model seeded with COPY to each
    /// of `--report-rows` rows (one tenant per size), then a ledger report
    /// generated in each of `--report-formats` by the server's report
    /// worker (generation time, file size, server memory reported).
    Reports,
    /// A dashboard's stream open while leads come in at `--rate` per
    /// second: the delay from each lead's 201 to the widget event that
    /// carries it.
    Dashboard,
}

struct Stats {
    commands: Histogram<u64>,
    by_command: std::collections::BTreeMap<&'static str, Histogram<u64>>,
    lag: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// Microseconds up to an hour: a delivery waits in the queue for as long as
/// the load and the drain last (a longer one is counted as an hour).
fn long_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

pub async fn run(config: &Config, args: BenchArgs) -> anyhow::Result<()> {
    let tenant = TenantId::parse(
        &args
            .tenant
            .clone()
            .unwrap_or_else(|| format!("bench-{}", &Uuid::now_v7().simple().to_string()[20..])),
    )
    .map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
    let keys = JwtKeys::hs256(&config.jwt_secret_or_dev());
    // One user per client, as real traffic would be (limits are per user).
    let token_for_new_user = || {
        keys.issue(
            &Principal::new(tenant.clone(), Uuid::now_v7(), Role::Admin, vec![]),
            chrono::Duration::hours(1),
        )
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = args.url.trim_end_matches('/').to_owned();
    client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("the server at {base} is not ready; start it with `crm serve`"))?;

    if args.workload == Workload::Reports {
        return reports_workload(config, &args, &client, &base, &tenant, &keys).await;
    }
    if args.workload == Workload::Rebuild {
        let tokens = (0..args.clients)
            .map(|_| token_for_new_user())
            .collect::<Result<Vec<_>, _>>()?;
        return rebuild_workload(config, &args, &client, &base, tokens).await;
    }
    if args.workload == Workload::Dashboard {
        let tokens = (0..args.clients)
            .map(|_| token_for_new_user())
            .collect::<Result<Vec<_>, _>>()?;
        return dashboard_workload(config, &args, &client, &base, tokens).await;
    }
    let memory_before = args.server_pid.and_then(memory_kib);
    println!(
        "crm bench: {:?} workload, {} clients for {} s against {base} (tenant {tenant})",
        args.workload, args.clients, args.duration
    );
    let workload = args.workload;
    let probe_every = args.probe_every;
    let probe_inline = args.probe_inline;
    let relay_before = relay_counters(&client, &base).await;
    let trucks: Arc<Vec<String>> = Arc::new(
        if matches!(workload, Workload::Assignments | Workload::Dispatch) {
            let token = token_for_new_user()?;
            let mut ids = Vec::new();
            for n in 0..args.trucks.max(1) {
                let body = post(&client, &base, &token, "/v1/equipment", json!({
                "location_id": "bench", "name": format!("Bench truck {n}"), "equipment_type": "TRUCK",
                "serial_number": format!("BENCH-{}-{n}", Uuid::now_v7().simple()),
            }))
            .await
            .context("registering the bench trucks")?;
                ids.push(id_of(&body));
            }
            ids
        } else {
            Vec::new()
        },
    );
    let (sink, mailing): (Option<test_peers::SmtpServer>, Arc<Mailing>) = if workload
        == Workload::Send
    {
        let sink = test_peers::SmtpServer::sink_on(args.smtp_sink)
            .await
            .with_context(|| format!("starting the SMTP sink on {}", args.smtp_sink))?;
        let token = token_for_new_user()?;
        let template = post(&client, &base, &token, "/v1/templates", json!({
                "name": "Bench reminder", "type": "EMAIL",
                "subject": "Your move with {{ company.name }}, {{ customer.first_name }}",
                "content": "<p>Hello {{ customer.full_name }},</p><p>{{ note }}</p>\
                            {% for step in steps %}<p>{{ loop.index }}. {{ step }}</p>{% endfor %}",
                "variables": [{"name": "note", "required": true}, {"name": "steps", "required": true}]
            }))
            .await
            .context("creating the bench template")?;
        let mut customers = Vec::new();
        for worker in 0..args.clients {
            let body = post(
                &client,
                &base,
                &token,
                "/v1/customers",
                json!({
                    "first_name": "Bench", "last_name": format!("Recipient {worker}"),
                    "email": format!("bench-{worker}-{}@example.com", Uuid::now_v7().simple()),
                }),
            )
            .await
            .context("registering the bench recipients")?;
            customers.push(id_of(&body));
        }
        (
            Some(sink),
            Arc::new(Mailing {
                template: id_of(&template),
                customers,
            }),
        )
    } else {
        (None, Arc::new(Mailing::default()))
    };
    let (webhook_sink, endpoints) = if workload == Workload::Webhooks {
        let sink = test_peers::webhooks::WebhookReceiver::sink_on(args.webhook_sink)
            .await
            .with_context(|| format!("starting the webhook receiver on {}", args.webhook_sink))?;
        let token = token_for_new_user()?;
        let mut ids = Vec::new();
        for n in 0..args.webhooks {
            let body = post(
                &client,
                &base,
                &token,
                "/v1/webhooks",
                json!({
                    "name": format!("Bench endpoint {n}"),
                    "url": sink.url(&format!("/bench/{n}")),
                    "event_types": ["CustomerRegistered"],
                }),
            )
            .await
            .context(
                "creating the bench webhooks (a 422 on `url`: start the server with CRM_WEBHOOK_ALLOW_PRIVATE=true)",
            )?;
            ids.push(id_of(&body));
        }
        (Some(sink), ids)
    } else {
        (None, Vec::new())
    };
    // When each registration was answered (the `webhooks` workload).
    let registered: Arc<std::sync::Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let crew: Arc<Vec<String>> = Arc::new(if workload == Workload::Dispatch {
        let token = token_for_new_user()?;
        let mut ids = Vec::new();
        for n in 0..args.crew.max(2) {
            let user = Uuid::now_v7();
            post(
                &client,
                &base,
                &token,
                "/v1/staff",
                json!({
                    "user_id": user, "display_name": format!("Bench crew {n}"),
                    "crew_roles": ["DRIVER", "FOREMAN", "MOVER"],
                }),
            )
            .await
            .context("adding the bench crew")?;
            ids.push(user.to_string());
        }
        ids
    } else {
        Vec::new()
    });
    let conflicts = Arc::new(AtomicU64::new(0));
    let stats = Arc::new(Mutex::new(Stats {
        commands: histogram(),
        by_command: Default::default(),
        lag: histogram(),
    }));
    let errors = Arc::new(AtomicU64::new(0));
    let lag_timeouts = Arc::new(AtomicU64::new(0));
    let rate_limited = Arc::new(AtomicU64::new(0));
    let probes = Arc::new(Semaphore::new(args.clients * 4));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..args.clients {
        let (client, base, token) = (client.clone(), base.clone(), token_for_new_user()?);
        let (stats, errors, lag_timeouts, probes) = (
            stats.clone(),
            errors.clone(),
            lag_timeouts.clone(),
            probes.clone(),
        );
        let rate_limited = rate_limited.clone();
        let (trucks, crew, conflicts) = (trucks.clone(), crew.clone(), conflicts.clone());
        let (mailing, registered) = (mailing.clone(), registered.clone());
        workers.spawn(async move {
            let mut probes_running = tokio::task::JoinSet::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let ctx = Round {
                    client: &client,
                    base: &base,
                    token: &token,
                    stats: &stats,
                    errors: &errors,
                    rate_limited: &rate_limited,
                };
                let Some((probe_path, version)) = (match workload {
                    Workload::Registrations => customer(&ctx, worker, n)
                        .await
                        .map(|id| (format!("/v1/customers/{id}"), 1)),
                    Workload::Leads => leads_round(&ctx, worker, n).await,
                    Workload::Sales => sales_round(&ctx, worker, n).await,
                    Workload::Assignments => {
                        assignments_round(&ctx, &trucks, &conflicts, worker, n).await
                    }
                    Workload::Dispatch => {
                        dispatch_round(&ctx, &crew, &trucks, &conflicts, worker, n).await
                    }
                    Workload::Send => send_round(&ctx, &mailing, worker, n).await,
                    Workload::Webhooks => webhooks_round(&ctx, &registered, worker, n).await,
                    Workload::Rebuild | Workload::Reports | Workload::Dashboard => {
                        unreachable!("handled before the load loop")
                    }
                }) else {
                    continue;
                };
                if !n.is_multiple_of(probe_every) {
                    continue;
                }
                let created = Instant::now();
                let Ok(permit) = probes.clone().acquire_owned().await else {
                    break;
                };
                let (client, base, token, stats, lag_timeouts) = (
                    client.clone(),
                    base.clone(),
                    token.clone(),
                    stats.clone(),
                    lag_timeouts.clone(),
                );
                let rate_limited = rate_limited.clone();
                let probe = async move {
                    let _permit = permit;
                    // Until visible, within 5 s; a 429 is waited out (and counted).
                    let deadline = created + Duration::from_secs(5);
                    let mut visible = false;
                    while !visible && Instant::now() < deadline {
                        match client
                            .get(format!("{base}{probe_path}?min_version={version}"))
                            .bearer_auth(&token)
                            .send()
                            .await
                        {
                            Ok(r) if r.status().is_success() => visible = true,
                            Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                                rate_limited.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            _ => break,
                        }
                    }
                    if visible {
                        let micros = created.elapsed().as_micros() as u64;
                        let _ = stats.lock().await.lag.record(micros.max(1));
                    } else {
                        lag_timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                };
                if probe_inline {
                    probe.await;
                } else {
                    probes_running.spawn(probe);
                }
            }
            while probes_running.join_next().await.is_some() {}
        });
    }
    while workers.join_next().await.is_some() {}
    let load_ended = Instant::now();
    let delivered_during_load = sink.as_ref().map(test_peers::SmtpServer::count);
    let webhooks_during_load = webhook_sink
        .as_ref()
        .map(test_peers::webhooks::WebhookReceiver::count);
    let backlog_at_load_end = if webhook_sink.is_some() {
        Some(webhook_backlog(config, &tenant).await)
    } else {
        None
    };
    let registered = std::mem::take(&mut *lock(&registered));
    let expected_deliveries = registered.len() * endpoints.len();
    // Every delivery's arrival (`Err(count)`: not all within the timeout)
    // and when that was, waited for while the projections catch up.
    let deliveries_drained = async {
        let sink = webhook_sink.as_ref()?;
        let wait = Duration::from_secs(args.drain_timeout).saturating_sub(load_ended.elapsed());
        let drained = sink.try_wait_for_count(expected_deliveries, wait).await;
        Some((drained, load_ended.elapsed()))
    };
    let (caught_up, deliveries_drained) = tokio::join!(catch_up(config), deliveries_drained);
    let elapsed = started
        .elapsed()
        .min(Duration::from_secs(args.duration))
        .as_secs_f64();
    let stats = stats.lock().await;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let commands = stats.commands.len();
    if commands == 0 {
        bail!(
            "no command succeeded ({} errors)",
            errors.load(Ordering::Relaxed)
        );
    }
    println!(
        "commands:        {commands} ok, {} failed; {} requests answered 429 (rate limits) and were retried later",
        errors.load(Ordering::Relaxed),
        rate_limited.load(Ordering::Relaxed)
    );
    println!(
        "throughput:      {:.0} commands/s",
        commands as f64 / elapsed
    );
    if workload == Workload::Assignments {
        println!(
            "bookings:        {} refused as taken (409, naming the booking), {} trucks",
            conflicts.load(Ordering::Relaxed),
            trucks.len()
        );
    }
    if let (Some(sink), Some(during)) = (&sink, delivered_during_load) {
        // Everything sent is delivered: wait for the sender to drain.
        let sent = stats
            .by_command
            .get("email")
            .map_or(0, |h| h.len() as usize);
        let drained = sink
            .try_wait_for_count(sent, Duration::from_secs(120))
            .await;
        let drain = load_ended.elapsed().as_secs_f64();
        let delivered = drained.unwrap_or_else(|n| n);
        println!(
            "delivered:       {delivered} of {sent} emails in the SMTP sink; {during} during the load ({:.0} messages/s), all {:.1} s after it ended ({:.0} messages/s over the whole run)",
            during as f64 / elapsed,
            drain,
            delivered as f64 / (elapsed + drain)
        );
    }
    if let (Some(sink), Some(during), Some((drained, drain))) =
        (&webhook_sink, webhooks_during_load, deliveries_drained)
    {
        let expected = expected_deliveries;
        let drain = drain.as_secs_f64();
        let delivered = drained.unwrap_or_else(|n| n);
        let distinct = sink.distinct_ids().len();
        match drained {
            Ok(_) => println!(
                "delivered:       {delivered} of {expected} webhook deliveries ({} registrations × {} endpoints); {during} during the load ({:.0} deliveries/s), all {drain:.1} s after it ended ({:.0} deliveries/s over the whole run)",
                registered.len(),
                endpoints.len(),
                during as f64 / elapsed,
                delivered as f64 / (elapsed + drain)
            ),
            Err(_) => println!(
                "delivered:       {delivered} of {expected} webhook deliveries ({} registrations × {} endpoints); {during} during the load ({:.0} deliveries/s); {} STILL MISSING {drain:.1} s after it ended (--drain-timeout {}; {:.0} deliveries/s over the whole run)",
                registered.len(),
                endpoints.len(),
                during as f64 / elapsed,
                expected.saturating_sub(delivered),
                args.drain_timeout,
                delivered as f64 / (elapsed + drain)
            ),
        }
        let arrivals = sink.arrivals();
        let mut lag = long_histogram();
        let mut unmatched = 0u64;
        // Arrivals per 10 s since the load began: where the time went.
        let mut windows: Vec<usize> = Vec::new();
        for arrival in &arrivals {
            let window = (arrival
                .received_at
                .saturating_duration_since(started)
                .as_secs()
                / 10) as usize;
            if windows.len() <= window {
                windows.resize(window + 1, 0);
            }
            windows[window] += 1;
        }
        for arrival in &arrivals {
            let answered = arrival
                .subject
                .as_deref()
                .and_then(|s| Uuid::parse_str(s).ok())
                .and_then(|id| registered.get(&id));
            match answered {
                Some(answered) => {
                    let micros = arrival
                        .received_at
                        .saturating_duration_since(*answered)
                        .as_micros();
                    lag.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
                }
                None => unmatched += 1,
            }
        }
        println!(
            "delivery lag:    p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (response → receiver, {} deliveries; {} redelivered, {unmatched} not matched to a registration{})",
            ms(&lag, 0.50),
            ms(&lag, 0.99),
            lag.max() as f64 / 1000.0,
            lag.len(),
            delivered.saturating_sub(distinct),
            if drained.is_err() {
                "; the missing ones are not counted, so the figures are low"
            } else {
                ""
            }
        );
        println!(
            "arrivals:        per 10 s since the load began (it ran {} s): {}",
            args.duration,
            windows
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
        if let Some(backlog) = &backlog_at_load_end {
            println!("webhook queue:   at the load's end {backlog}");
        }
        println!(
            "webhook queue:   now {}",
            webhook_backlog(config, &tenant).await
        );
    }
    if workload == Workload::Dispatch {
        println!(
            "schedules:       {} refused as taken (409 naming every conflict), {} people, {} trucks",
            conflicts.load(Ordering::Relaxed),
            crew.len(),
            trucks.len()
        );
    }
    println!(
        "command latency: p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        ms(&stats.commands, 0.50),
        ms(&stats.commands, 0.95),
        ms(&stats.commands, 0.99),
        stats.commands.max() as f64 / 1000.0
    );
    println!(
        "projection lag:  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} rounds measured, {} not visible within 5 s)",
        ms(&stats.lag, 0.50),
        ms(&stats.lag, 0.99),
        stats.lag.max() as f64 / 1000.0,
        stats.lag.len(),
        lag_timeouts.load(Ordering::Relaxed)
    );
    for (name, h) in &stats.by_command {
        println!(
            "  {name:<16} {:>7} ok  p50 {:>6.1} ms  p95 {:>6.1} ms  p99 {:>6.1} ms",
            h.len(),
            ms(h, 0.50),
            ms(h, 0.95),
            ms(h, 0.99)
        );
    }
    if let (Some(before), Some(after)) = (relay_before, relay_counters(&client, &base).await) {
        let published = after.0 - before.0;
        let wakeups = after.1 - before.1;
        let notifications = after.2 - before.2;
        println!(
            "relay:           {published:.0} events published after {wakeups:.0} wake-ups ({:.2} per event) for {notifications:.0} notifications",
            if published > 0.0 {
                wakeups / published
            } else {
                0.0
            }
        );
    }
    if let Some(stages) = stage_lags(&client, &base).await {
        println!("{stages}");
    }
    match caught_up {
        Ok(Some(after)) => println!(
            "caught up:       every projection at the stream head {:.0} ms after the load ended",
            after.as_secs_f64() * 1000.0
        ),
        Ok(None) => println!("caught up:       not within 30 s of the load ending"),
        Err(e) => println!("caught up:       not measured ({e:#})"),
    }
    if let (Some(pid), Some((rss0, _))) = (args.server_pid, memory_before)
        && let Some((rss, hwm)) = memory_kib(pid)
    {
        println!(
            "server memory:   RSS {:.1} MiB before, {:.1} MiB after, peak {:.1} MiB",
            rss0 as f64 / 1024.0,
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    if args.pgbench > 0 {
        let throughput = commands as f64 / elapsed;
        match pgbench(config, args.clients, args.pgbench).await {
            Ok(tps) => println!(
                "postgres limit:  pgbench one-row INSERT commits, {} clients, {} s: {tps:.0} TPS; this run reached {:.3} of it",
                args.clients,
                args.pgbench,
                throughput / tps
            ),
            Err(e) => println!("postgres limit:  pgbench could not run: {e:#}"),
        }
    }
    Ok(())
}

/// The `rebuild` workload: grows the stream to `--events` with `leads`
/// rounds, then rebuilds `audit_trail` and `customers` and reports events/s.
async fn rebuild_workload(
    config: &Config,
    args: &BenchArgs,
    client: &reqwest::Client,
    base: &str,
    tokens: Vec<String>,
) -> anyhow::Result<()> {
    let infra = crate::infra::Infra::connect(config.clone()).await?;
    let stream_name = config.nats_stream.clone();
    let head = {
        let js = infra.js.clone();
        let name = stream_name.clone();
        move || {
            let js = js.clone();
            let name = name.clone();
            async move {
                anyhow::Ok(
                    js.get_stream(&name)
                        .await?
                        .info()
                        .await?
                        .state
                        .last_sequence,
                )
            }
        }
    };
    let start = head().await?;
    println!(
        "crm bench: rebuild workload; the stream {stream_name} holds {start} events, growing it to {} with {} clients",
        args.events, args.clients
    );
    if start < args.events {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(Stats {
            commands: histogram(),
            by_command: Default::default(),
            lag: histogram(),
        }));
        let (errors, rate_limited) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for (worker, token) in tokens.into_iter().enumerate() {
            let (client, base) = (client.clone(), base.to_owned());
            let (done, stats, errors, rate_limited) = (
                done.clone(),
                stats.clone(),
                errors.clone(),
                rate_limited.clone(),
            );
            workers.spawn(async move {
                let mut n = 0;
                while !done.load(Ordering::Relaxed) {
                    n += 1;
                    let ctx = Round {
                        client: &client,
                        base: &base,
                        token: &token,
                        stats: &stats,
                        errors: &errors,
                        rate_limited: &rate_limited,
                    };
                    leads_round(&ctx, worker, n).await;
                }
            });
        }
        let bar = indicatif::ProgressBar::new(args.events);
        loop {
            let now = head().await?;
            bar.set_position(now.min(args.events));
            if now >= args.events {
                break;
            }
            if errors.load(Ordering::Relaxed) > 100 {
                done.store(true, Ordering::Relaxed);
                bail!("more than 100 commands failed while growing the stream");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        done.store(true, Ordering::Relaxed);
        while workers.join_next().await.is_some() {}
        bar.finish_and_clear();
        let commands = stats.lock().await.commands.len();
        println!(
            "grown:           {} events in {:.1} s ({commands} commands, {:.0} commands/s, {} failed)",
            head().await? - start,
            started.elapsed().as_secs_f64(),
            commands as f64 / started.elapsed().as_secs_f64(),
            errors.load(Ordering::Relaxed)
        );
    }
    let projector = projections::ProjectorConfig::new(&stream_name, &config.subject_prefix);
    let names = ["audit_trail".to_owned(), "customers".to_owned()];
    for projection in infra.select_consumers(&names).map_err(anyhow::Error::msg)? {
        let started = Instant::now();
        let report = projections::rebuild(
            &infra.pool,
            &infra.js,
            &projector,
            projection.as_ref(),
            &|_, _| {},
        )
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "rebuild {:<12} {} events in {seconds:.2} s: {:.0} events/s",
            projection.name(),
            report.events,
            report.events as f64 / seconds
        );
    }
    Ok(())
}

/// The `dashboard` workload: a dashboard's stream open while leads come
/// in at `--rate` per second; the delay from each lead's 201 to the first
/// `widget` event whose `recent_leads` table lists it.
async fn dashboard_workload(
    config: &Config,
    args: &BenchArgs,
    client: &reqwest::Client,
    base: &str,
    tokens: Vec<String>,
) -> anyhow::Result<()> {
    let owner = tokens.first().context("at least one client")?.clone();
    println!(
        "crm bench: dashboard workload, {} leads/s for {} s (at most {} in flight) against {base}",
        args.rate, args.duration, args.clients
    );
    let dashboard = post(
        client,
        base,
        &owner,
        "/v1/dashboards",
        json!({"name": "Bench live", "widgets": [
            {"id": "leads", "kind": "kpi", "metric": "new_leads", "params": {"days": 1}},
            {"id": "recent", "kind": "table", "metric": "recent_leads", "params": {"days": 1, "limit": 100}}
        ]}),
    )
    .await
    .context("making the bench dashboard")?;
    let id = id_of(&dashboard);
    client
        .get(format!("{base}/v1/dashboards/{id}?min_version=1"))
        .bearer_auth(&owner)
        .send()
        .await?
        .error_for_status()
        .context("reading the bench dashboard back")?;
    // The stream has no timeout of its own.
    let mut stream = reqwest::Client::new()
        .get(format!("{base}/v1/dashboards/{id}/stream"))
        .bearer_auth(&owner)
        .send()
        .await?
        .error_for_status()
        .context("opening the dashboard stream")?;
    // When each lead was first listed by a widget event, by lead id.
    let seen: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
    let widget_events = Arc::new(AtomicU64::new(0));
    let reader = {
        let (seen, widget_events) = (seen.clone(), widget_events.clone());
        tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = stream.chunk().await {
                let at = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let mut event = "";
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event: ") {
                            event = if v == "widget" { "widget" } else { "other" };
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            data.push_str(v);
                        }
                    }
                    let Ok(data) = serde_json::from_str::<Value>(&data) else {
                        continue;
                    };
                    let widgets = match event {
                        "widget" => {
                            widget_events.fetch_add(1, Ordering::Relaxed);
                            vec![data]
                        }
                        _ => data["widgets"].as_array().cloned().unwrap_or_default(),
                    };
                    let mut seen = lock(&seen);
                    for w in widgets.iter().filter(|w| w["id"] == "recent") {
                        for row in w["data"]["rows"].as_array().into_iter().flatten() {
                            if let Some(lead) = row["id"].as_str() {
                                seen.entry(lead.to_owned()).or_insert(at);
                            }
                        }
                    }
                }
            }
        })
    };
    let stats = Arc::new(Mutex::new(Stats {
        commands: histogram(),
        by_command: Default::default(),
        lag: histogram(),
    }));
    let (errors, rate_limited) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // When each lead was answered 201, by lead id.
    let answered: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(args.clients.max(1)));
    let skipped = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds = tokio::task::JoinSet::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        ticks.tick().await;
        n += 1;
        // A steady rate: a round that finds every client busy is skipped.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let worker = (n as usize) % tokens.len();
        let (client, base, token) = (client.clone(), base.to_owned(), tokens[worker].clone());
        let (stats, errors, rate_limited, answered) = (
            stats.clone(),
            errors.clone(),
            rate_limited.clone(),
            answered.clone(),
        );
        rounds.spawn(async move {
            let _permit = permit;
            let ctx = Round {
                client: &client,
                base: &base,
                token: &token,
                stats: &stats,
                errors: &errors,
                rate_limited: &rate_limited,
            };
            if let Some((path, _)) = leads_round(&ctx, worker, n).await {
                let at = Instant::now();
                let lead = path.trim_start_matches("/v1/leads/").to_owned();
                lock(&answered).insert(lead, at);
            }
        });
    }
    while rounds.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let answered = std::mem::take(&mut *lock(&answered));
    // Every answered lead's event, waited for up to 10 s.
    let wait_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < wait_until {
        let all_seen = {
            let seen = lock(&seen);
            answered.keys().all(|lead| seen.contains_key(lead))
        };
        if all_seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.abort();
    let seen = std::mem::take(&mut *lock(&seen));
    let mut delay = long_histogram();
    let mut missing = 0u64;
    for (lead, at) in &answered {
        match seen.get(lead) {
            // An event may come before the 201 does: no delay then.
            Some(shown) => {
                let micros = shown.saturating_duration_since(*at).as_micros();
                delay.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
            }
            None => missing += 1,
        }
    }
    let stats = stats.lock().await;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let leads = answered.len();
    if leads == 0 {
        bail!(
            "no lead was opened ({} errors)",
            errors.load(Ordering::Relaxed)
        );
    }
    println!(
        "leads:           {leads} opened ({:.1}/s), {} commands failed, {} rounds skipped (every client busy), {} answered 429",
        leads as f64 / elapsed,
        errors.load(Ordering::Relaxed),
        skipped.load(Ordering::Relaxed),
        rate_limited.load(Ordering::Relaxed)
    );
    println!(
        "command latency: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (customer and lead)",
        ms(&stats.commands, 0.50),
        ms(&stats.commands, 0.99),
        stats.commands.max() as f64 / 1000.0
    );
    println!(
        "stream delay:    p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (a lead's 201 → the widget event listing it; {} leads, {missing} not shown within 10 s; {} widget events)",
        ms(&delay, 0.50),
        ms(&delay, 0.99),
        delay.max() as f64 / 1000.0,
        delay.len(),
        widget_events.load(Ordering::Relaxed)
    );
    if args.pgbench > 0 {
        match pgbench(config, args.clients, args.pgbench).await {
            Ok(tps) => println!(
                "postgres limit:  pgbench one-row INSERT commits, {} clients, {} s: {tps:.0} TPS",
                args.clients, args.pgbench
            ),
            Err(e) => println!("postgres limit:  pgbench could not run: {e:#}"),
        }
    }
    Ok(())
}

/// The relay's `(published, wake-ups, notifications)` counters summed over
/// streams, from the server's `/metrics` (absent when no relay runs there).
async fn relay_counters(client: &reqwest::Client, base: &str) -> Option<(f64, f64, f64)> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let sum = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let published = sum("relay_published_total");
    (published > 0.0 || text.contains("relay_")).then(|| {
        (
            published,
            sum("relay_wakeups_total"),
            sum("relay_notifications_total"),
        )
    })
}

/// How long after the load ended every projection of the server's database
/// had applied every event committed during it (`None`: not within 30 s).
/// One stream per database, so the events table's count is the head to
/// reach; projections that never started here (a `--projectors` subset)
/// are not waited for.
async fn catch_up(config: &Config) -> anyhow::Result<Option<Duration>> {
    let ended = Instant::now();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&config.database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    let target = event_store::lookups::event_count(&pool).await?;
    while ended.elapsed() < Duration::from_secs(30) {
        if projections::status::behind(&pool, target).await? == 0 {
            return Ok(Some(ended.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(None)
}

/// The server's own view of where an event's way to the read models goes:
/// from its transaction's start to the stream (the relay), and to the
/// committed projector batch (quantiles of the server's recent window).
async fn stage_lags(client: &reqwest::Client, base: &str) -> Option<String> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let quantile = |name: &str, q: &str| -> Option<f64> {
        let prefix = format!("{name}{{quantile=\"{q}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str())?.parse::<f64>().ok())
            .map(|seconds| seconds * 1000.0)
    };
    let stage = |name: &str| -> Option<String> {
        Some(format!(
            "p50 {:.1} ms  p99 {:.1} ms",
            quantile(name, "0.5")?,
            quantile(name, "0.99")?
        ))
    };
    Some(format!(
        "server stages:   commit → stream {};  commit → read models {}",
        stage("relay_publish_lag_seconds")?,
        stage("projection_lag_seconds").unwrap_or_else(|| "(no projector here)".into())
    ))
}

/// PostgreSQL's limit for the shape of our writes on this machine: pgbench
/// with `clients` clients doing one-row INSERT commits into a scratch table
/// with the columns, defaults and indexes of `events` but none of its
/// triggers. Returns transactions per second; the table is dropped after.
/// Seeds `rows` ledger entries of `tenant` into the read model with COPY
/// (CAD, dated over 2026), in chunks.
async fn seed_ledger(config: &Config, tenant: &str, rows: u64) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&config.database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    let mut copy = conn
        .copy_in_raw(
            "COPY read.financial_transactions (tenant_id, id, source, transaction_type, amount, cash_effect,
                 currency, description, category, reference, transaction_date, occurred_at, source_event_id,
                 recorded_by, recorded_at) FROM STDIN WITH (FORMAT csv)",
        )
        .await?;
    let recorder = Uuid::now_v7();
    let mut chunk = String::with_capacity(1 << 20);
    for n in 0..rows {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date")
            + chrono::Duration::days((n % 365) as i64);
        let cents = 100 + (n * 7919) % 250_000;
        let (kind, amount, effect) = if n % 3 == 0 {
            ("INCOME", cents, cents as i64)
        } else {
            ("EXPENSE", cents, -(cents as i64))
        };
        use std::fmt::Write as _;
        let _ = writeln!(
            chunk,
            "{tenant},{},manual,{kind},{}.{:02},{}.{:02},CAD,\"Bench entry {n}, truck {}\",{},R-{n},{day},{day}T12:00:00Z,{},{recorder},{day}T12:00:00Z",
            Uuid::now_v7(),
            amount / 100,
            amount % 100,
            effect / 100,
            (effect % 100).abs(),
            n % 17,
            ["fuel", "rent", "supplies", "storage"][(n % 4) as usize],
            Uuid::now_v7(),
        );
        if chunk.len() > (1 << 20) - 512 {
            copy.send(chunk.as_bytes()).await?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        copy.send(chunk.as_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// Times report generation over seeded ledgers.
async fn reports_workload(
    config: &Config,
    args: &BenchArgs,
    client: &reqwest::Client,
    base: &str,
    tenant: &TenantId,
    keys: &JwtKeys,
) -> anyhow::Result<()> {
    println!(
        "crm bench: reports workload; ledgers of {:?} rows, formats {:?}, against {base}",
        args.report_rows, args.report_formats
    );
    println!(
        "{:>9}  {:<6} {:>10} {:>10} {:>12} {:>11} {:>14}",
        "rows", "format", "seed (s)", "total (s)", "generate (s)", "file (MiB)", "server RSS/peak"
    );
    for &rows in &args.report_rows {
        let size_tenant = TenantId::parse(&format!("{}-{rows}", tenant.as_str()))
            .map_err(|e| anyhow::anyhow!("tenant: {e}"))?;
        let token = keys.issue(
            &Principal::new(size_tenant.clone(), Uuid::now_v7(), Role::Admin, vec![]),
            chrono::Duration::hours(4),
        )?;
        let seeding = Instant::now();
        seed_ledger(config, size_tenant.as_str(), rows).await?;
        let seeded = seeding.elapsed().as_secs_f64();
        for format in &args.report_formats {
            let created = post(
                client,
                base,
                &token,
                "/v1/reports",
                json!({
                    "name": format!("Bench ledger {rows}"),
                    "parameters": {"report": "ledger", "from": "2026-01-01", "to": "2026-12-31", "currency": "CAD"},
                    "format": format,
                }),
            )
            .await?;
            let id = id_of(&created);
            let started = Instant::now();
            post(
                client,
                base,
                &token,
                &format!("/v1/reports/{id}/generate"),
                json!({}),
            )
            .await?;
            let report = loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let report: Value = client
                    .get(format!("{base}/v1/reports/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .json()
                    .await?;
                match report["status"].as_str() {
                    Some("COMPLETED") | Some("FAILED") => break report,
                    _ if started.elapsed() > Duration::from_secs(3600) => {
                        bail!("report {id} did not finish within an hour")
                    }
                    _ => {}
                }
            };
            let total = started.elapsed().as_secs_f64();
            if report["status"] != "COMPLETED" {
                println!("{rows:>9}  {format:<6} failed: {}", report["error"]);
                continue;
            }
            let runs: Value = client
                .get(format!("{base}/v1/reports/{id}/runs"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            let run = &runs["items"][0];
            let at = |field: &str| {
                run[field]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            };
            let generate = match (at("started_at"), at("completed_at")) {
                (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
                _ => f64::NAN,
            };
            let size = report["file"]["size"].as_u64().unwrap_or(0) as f64 / 1048576.0;
            let memory = args
                .server_pid
                .and_then(memory_kib)
                .map(|(rss, hwm)| {
                    format!("{:.0}/{:.0} MiB", rss as f64 / 1024.0, hwm as f64 / 1024.0)
                })
                .unwrap_or_else(|| "-".to_owned());
            println!(
                "{rows:>9}  {format:<6} {seeded:>10.1} {total:>10.1} {generate:>12.1} {size:>11.1} {memory:>14}"
            );
            assert_eq!(
                report["file"]["rows"].as_u64(),
                Some(rows),
                "every row is in the file"
            );
        }
    }
    if args.pgbench > 0 {
        match pgbench(config, args.clients, args.pgbench).await {
            Ok(tps) => println!(
                "PostgreSQL limit (pgbench, one-row INSERT commits, {} clients): {tps:.0} TPS",
                args.clients
            ),
            Err(e) => println!("pgbench: not measured ({e:#})"),
        }
    }
    Ok(())
}

async fn pgbench(config: &Config, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    use sqlx::Connection;
    let table = format!("crm_pgbench_{}", Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&config.database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    sqlx::query(&format!(
        "CREATE TABLE {table} (
             aggregate_type text NOT NULL, aggregate_id text NOT NULL, sequence bigint NOT NULL,
             event_type text NOT NULL, event_version text NOT NULL, payload json NOT NULL,
             metadata json NOT NULL, position bigserial NOT NULL UNIQUE,
             txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
             event_id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
             recorded_at timestamptz NOT NULL DEFAULT now(),
             tenant_id text GENERATED ALWAYS AS (metadata ->> 'tenant_id') STORED,
             PRIMARY KEY (aggregate_type, aggregate_id, sequence))"
    ))
    .execute(&mut conn)
    .await?;
    for index in [
        format!("CREATE INDEX ON {table} (txid, position)"),
        format!("CREATE INDEX ON {table} (tenant_id, position)"),
    ] {
        sqlx::query(&index).execute(&mut conn).await?;
    }
    let script = std::env::temp_dir().join(format!("{table}.sql"));
    std::fs::write(
        &script,
        format!(
            "INSERT INTO {table} (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             VALUES ('Customer', gen_random_uuid()::text, 1, 'CustomerRegistered', '1.0', \
             '{{\"CustomerRegistered\":{{\"first_name\":\"Bench\",\"last_name\":\"Client\",\"email\":\"sealed:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"customer_type\":\"RESIDENTIAL\"}}}}', \
             '{{\"tenant_id\":\"bench\",\"actor\":\"0193a1b2-0000-7000-8000-000000000000\",\"actor_role\":\"admin\",\"correlation_id\":\"0193a1b2-0000-7000-8000-000000000001\"}}');\n"
        ),
    )?;
    let output = tokio::process::Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(&config.database_url)
        .output()
        .await;
    let _ = std::fs::remove_file(&script);
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&mut conn)
        .await?;
    let output = output.context("running pgbench (Debian: apt-get install postgresql-contrib)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_pgbench_tps(&stdout).with_context(|| format!("no tps in pgbench's output: {stdout}"))
}

/// The `tps = …` figure of pgbench's report.
fn parse_pgbench_tps(report: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        bail!(RateLimited);
    }
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("{path} answered {status}: {body}");
    }
    if !body["id"].is_string() {
        bail!("{path}: the response has no id: {body}");
    }
    Ok(body)
}

/// What one client's round needs.
struct Round<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
    stats: &'a Mutex<Stats>,
    errors: &'a AtomicU64,
    rate_limited: &'a AtomicU64,
}

impl Round<'_> {
    /// Runs one command, timing it under `name`; `None` when it failed.
    async fn command(&self, name: &'static str, path: &str, body: Value) -> Option<Value> {
        let t = Instant::now();
        let result = post(self.client, self.base, self.token, path, body).await;
        record(self.stats, self.errors, self.rate_limited, name, t, result).await
    }
}

fn id_of(body: &Value) -> String {
    body["id"].as_str().unwrap_or_default().to_owned()
}

fn version_of(body: &Value) -> u64 {
    body["version"].as_u64().unwrap_or(1)
}

/// What the `send` workload writes with: its template and one recipient
/// per client.
#[derive(Default)]
struct Mailing {
    template: String,
    customers: Vec<String>,
}

/// One email from the template to this client's recipient, sent at once;
/// the message's read model (QUEUED) is probed.
async fn send_round(
    r: &Round<'_>,
    mailing: &Mailing,
    worker: usize,
    n: u64,
) -> Option<(String, u64)> {
    let customer = mailing.customers.get(worker)?;
    let body = r
        .command(
            "email",
            "/v1/communications",
            json!({"type": "EMAIL", "customer_id": customer, "template_id": mailing.template,
                   "variables": {"note": format!("Reminder {n}: your movers arrive at 8."),
                                 "steps": ["Pack the kitchen", "Label the boxes", "Empty the fridge"]},
                   "send": true}),
        )
        .await?;
    Some((
        format!("/v1/communications/{}", id_of(&body)),
        version_of(&body),
    ))
}

/// A customer registration, its answer's instant kept (the deliveries'
/// lag is measured from it); the customer's read model is probed.
async fn webhooks_round(
    r: &Round<'_>,
    registered: &std::sync::Mutex<HashMap<Uuid, Instant>>,
    worker: usize,
    n: u64,
) -> Option<(String, u64)> {
    let id = customer(r, worker, n).await?;
    let answered = Instant::now();
    if let Ok(uuid) = Uuid::parse_str(&id) {
        lock(registered).insert(uuid, answered);
    }
    Some((format!("/v1/customers/{id}"), 1))
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The server's side of the tenant's deliveries: its queue by status, and
/// how far the fan-out process is behind the stream (its events not yet
/// turned into deliveries).
async fn webhook_backlog(config: &Config, tenant: &TenantId) -> String {
    let figures = async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&config.database_url).await?;
        let by_status: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, count(*) FROM read.webhook_queue WHERE tenant_id = $1
              GROUP BY status ORDER BY status",
        )
        .bind(tenant.as_str())
        .fetch_all(&mut conn)
        .await?;
        // One stream per database: the events table's count is its head.
        let head: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&mut conn)
            .await?;
        let fanout: Option<i64> = sqlx::query_scalar(
            "SELECT last_seq FROM projection_checkpoints WHERE name = 'webhook_fanout'",
        )
        .fetch_optional(&mut conn)
        .await?;
        anyhow::Ok((by_status, head, fanout))
    };
    match figures.await {
        Ok((by_status, head, fanout)) => {
            let queue = if by_status.is_empty() {
                "empty".to_owned()
            } else {
                by_status
                    .iter()
                    .map(|(status, n)| format!("{n} {status}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let fanout = fanout.map_or_else(
                || "not started".to_owned(),
                |seq| format!("{} events behind", (head - seq).max(0)),
            );
            format!(
                "{queue} (sent: claimed by the worker, or delivered and not yet projected); the fan-out process {fanout}"
            )
        }
        Err(e) => format!("not measured ({e:#})"),
    }
}

/// A customer and a lead; the lead's read model is probed.
async fn leads_round(r: &Round<'_>, worker: usize, n: u64) -> Option<(String, u64)> {
    let customer = customer(r, worker, n).await?;
    let lead = r
        .command(
            "lead",
            "/v1/leads",
            json!({"customer_id": customer, "source": "bench", "priority": "HIGH", "estimated_value": "4500.00"}),
        )
        .await?;
    Some((format!("/v1/leads/{}", id_of(&lead)), version_of(&lead)))
}

async fn customer(r: &Round<'_>, worker: usize, n: u64) -> Option<String> {
    let email = format!("bench-{worker}-{n}-{}@example.com", Uuid::now_v7().simple());
    let customer = r
        .command(
            "customer",
            "/v1/customers",
            json!({"first_name": "Bench", "last_name": format!("Client {worker}-{n}"), "email": email}),
        )
        .await?;
    Some(id_of(&customer))
}

/// Books a random truck for a random 4-hour slot in the next 30 days; a
/// taken slot (409) is counted as a conflict; a booked one is checked out
/// and returned.
/// One dispatcher's job: two people and a truck on a 4-hour slot in the
/// next two weeks (a 409 when any of them is taken then).
async fn dispatch_round(
    r: &Round<'_>,
    crew: &[String],
    trucks: &[String],
    conflicts: &AtomicU64,
    worker: usize,
    n: u64,
) -> Option<(String, u64)> {
    let seed = (worker as u64).wrapping_mul(6_364_136_223_846_793_005)
        ^ n.wrapping_mul(1_442_695_040_888_963_407);
    let first = (seed % crew.len() as u64) as usize;
    let second = (first + 1 + ((seed >> 9) % (crew.len() as u64 - 1)) as usize) % crew.len();
    let truck = &trucks[((seed >> 23) % trucks.len() as u64) as usize];
    let slot = (seed >> 31) % (14 * 6);
    let start = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)?
        .and_utc()
        + chrono::Duration::days(1)
        + chrono::Duration::hours(4 * slot as i64);
    let body = json!({"location_id": "bench", "title": "Bench job", "type": "JOURNEY",
                      "starts_at": start.to_rfc3339(), "ends_at": (start + chrono::Duration::hours(4)).to_rfc3339(),
                      "crew": [{"user_id": crew[first], "role": "DRIVER"}, {"user_id": crew[second], "role": "MOVER"}],
                      "vehicle_ids": [truck]});
    let t = Instant::now();
    let response = r
        .client
        .post(format!("{}/v1/schedules", r.base))
        .bearer_auth(r.token)
        .json(&body)
        .send()
        .await;
    let scheduled = match response {
        Ok(resp) if resp.status() == reqwest::StatusCode::CONFLICT => {
            conflicts.fetch_add(1, Ordering::Relaxed);
            let micros = (t.elapsed().as_micros() as u64).max(1);
            let mut stats = r.stats.lock().await;
            let _ = stats
                .by_command
                .entry("schedule (409)")
                .or_insert_with(histogram)
                .record(micros);
            return None;
        }
        Ok(resp) => {
            let status = resp.status();
            let result = match resp.json::<Value>().await {
                Ok(v) if status.is_success() => Ok(v),
                Ok(_) if status == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    Err(anyhow::Error::new(RateLimited))
                }
                Ok(v) => Err(anyhow::anyhow!("schedule answered {status}: {v}")),
                Err(e) => Err(e.into()),
            };
            record(r.stats, r.errors, r.rate_limited, "schedule", t, result).await?
        }
        Err(e) => {
            record(
                r.stats,
                r.errors,
                r.rate_limited,
                "schedule",
                t,
                Err(e.into()),
            )
            .await?
        }
    };
    Some((format!("/v1/schedules/{}", id_of(&scheduled)), 1))
}

async fn assignments_round(
    r: &Round<'_>,
    trucks: &[String],
    conflicts: &AtomicU64,
    worker: usize,
    n: u64,
) -> Option<(String, u64)> {
    // A cheap deterministic spread over trucks and slots.
    let seed = (worker as u64).wrapping_mul(6_364_136_223_846_793_005)
        ^ n.wrapping_mul(1_442_695_040_888_963_407);
    let truck = &trucks[(seed % trucks.len() as u64) as usize];
    let slot = (seed >> 17) % (30 * 6);
    let start = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)?
        .and_utc()
        + chrono::Duration::days(1)
        + chrono::Duration::hours(4 * slot as i64);
    let body = json!({"equipment_id": truck, "journey_id": Uuid::now_v7(),
                      "starts_at": start.to_rfc3339(), "ends_at": (start + chrono::Duration::hours(4)).to_rfc3339(),
                      "purpose": "bench"});
    let t = Instant::now();
    let response = r
        .client
        .post(format!("{}/v1/equipment-assignments", r.base))
        .bearer_auth(r.token)
        .json(&body)
        .send()
        .await;
    let booked = match response {
        Ok(resp) if resp.status() == reqwest::StatusCode::CONFLICT => {
            conflicts.fetch_add(1, Ordering::Relaxed);
            let micros = (t.elapsed().as_micros() as u64).max(1);
            let mut stats = r.stats.lock().await;
            let _ = stats
                .by_command
                .entry("assign (409)")
                .or_insert_with(histogram)
                .record(micros);
            return None;
        }
        Ok(resp) => {
            let status = resp.status();
            let result = match resp.json::<Value>().await {
                Ok(v) if status.is_success() => Ok(v),
                Ok(_) if status == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    Err(anyhow::Error::new(RateLimited))
                }
                Ok(v) => Err(anyhow::anyhow!("assign answered {status}: {v}")),
                Err(e) => Err(e.into()),
            };
            record(r.stats, r.errors, r.rate_limited, "assign", t, result).await?
        }
        Err(e) => {
            record(
                r.stats,
                r.errors,
                r.rate_limited,
                "assign",
                t,
                Err(e.into()),
            )
            .await?
        }
    };
    let a = id_of(&booked);
    let out = r
        .command(
            "checkout",
            &format!("/v1/equipment-assignments/{a}/checkout"),
            json!({}),
        )
        .await?;
    // Every other booking is brought back at once (which frees its slot);
    // the rest stay booked, so the trucks fill up and contention grows.
    if n % 2 == 1 {
        let returned = r
            .command(
                "return",
                &format!("/v1/equipment-assignments/{a}/return"),
                json!({}),
            )
            .await?;
        return Some((
            format!("/v1/equipment-assignments/{a}"),
            version_of(&returned),
        ));
    }
    Some((format!("/v1/equipment-assignments/{a}"), version_of(&out)))
}

/// The money path of one sale; the PAID invoice's read model is probed.
async fn sales_round(r: &Round<'_>, worker: usize, n: u64) -> Option<(String, u64)> {
    let customer = customer(r, worker, n).await?;
    let lead = r
        .command(
            "lead",
            "/v1/leads",
            json!({"customer_id": customer, "source": if n.is_multiple_of(2) { "web" } else { "referral" }}),
        )
        .await?;
    let valid_until = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    let quote = r
        .command(
            "quote",
            "/v1/quotes",
            json!({"lead_id": id_of(&lead), "valid_until": valid_until, "province": "QC",
                   "items": [
                       {"description": "Movers", "quantity": "12.5", "unit_price": "62.50", "category": "MOVING_SERVICES"},
                       {"description": "Truck", "quantity": "1", "unit_price": "240.00", "category": "EQUIPMENT_RENTAL"},
                       {"description": "Insurance", "quantity": "1", "unit_price": "45.00", "category": "INSURANCE", "optional": true}
                   ]}),
        )
        .await?;
    let q = id_of(&quote);
    r.command("quote send", &format!("/v1/quotes/{q}/send"), json!({}))
        .await?;
    r.command(
        "quote accept",
        &format!("/v1/quotes/{q}/accept"),
        json!({"revision": 1, "accepted_by_name": "Bench Customer", "accepted_ip": "127.0.0.1"}),
    )
    .await?;
    r.command(
        "deposit",
        &format!("/v1/quotes/{q}/deposits"),
        json!({"amount": "200.00", "method": "CREDIT_CARD", "processing_fee": "5.80"}),
    )
    .await?;
    let invoice = r
        .command("invoice", &format!("/v1/quotes/{q}/invoice"), json!({}))
        .await?;
    let i = id_of(&invoice);
    r.command(
        "invoice issue",
        &format!("/v1/invoices/{i}/issue"),
        json!({}),
    )
    .await?;
    // 781.25 + 240.00 = 1021.25 + GST 51.06 + QST 101.87 = 1174.18; 200.00 deposit.
    r.command(
        "payment",
        &format!("/v1/invoices/{i}/payments"),
        json!({"amount": "500.00", "method": "DEBIT_CARD"}),
    )
    .await?;
    let paid = r
        .command(
            "payment",
            &format!("/v1/invoices/{i}/payments"),
            json!({"amount": "474.18", "method": "BANK_TRANSFER"}),
        )
        .await?;
    Some((format!("/v1/invoices/{i}"), version_of(&paid)))
}

/// A command answered 429: not a failure, a signal to slow down.
#[derive(Debug)]
struct RateLimited;

impl std::fmt::Display for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rate limited")
    }
}

impl std::error::Error for RateLimited {}

async fn record(
    stats: &Mutex<Stats>,
    errors: &AtomicU64,
    rate_limited: &AtomicU64,
    name: &'static str,
    started: Instant,
    result: anyhow::Result<Value>,
) -> Option<Value> {
    match result {
        Err(e) if e.is::<RateLimited>() => {
            rate_limited.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
        Ok(body) => {
            let micros = (started.elapsed().as_micros() as u64).max(1);
            let mut stats = stats.lock().await;
            let _ = stats.commands.record(micros);
            let _ = stats
                .by_command
                .entry(name)
                .or_insert_with(histogram)
                .record(micros);
            Some(body)
        }
        Err(e) => {
            if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                eprintln!("command failed: {e:#}");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_pgbench_tps;

    #[test]
    fn pgbench_tps_is_read_from_its_report() {
        let report = "number of failed transactions: 0 (0.000%)\nlatency average = 2.661 ms\ninitial connection time = 31.517 ms\ntps = 12026.359012 (without initial connection time)\n";
        assert_eq!(parse_pgbench_tps(report), Some(12026.359012));
        assert_eq!(parse_pgbench_tps("pgbench: error: connection failed"), None);
    }
}
