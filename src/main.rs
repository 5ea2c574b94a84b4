//! The `crm` binary. See `crm --help`.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use api_common::{JwtKeys, Principal};
use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};
use crm::app::{self, Parts, ProjectorSet};
use crm::bench::{self, BenchArgs};
use crm::config::{self, Config};
use crm::infra::{self, Infra};
use crm::telemetry;
use event_schemas::{Role, TenantId};
use indicatif::{ProgressBar, ProgressStyle};
use projections::ProjectorConfig;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// mimalloc instead of glibc's malloc: a rebuild and a loaded server spent
/// 10–15 % of their CPU in glibc's free-list upkeep (`malloc_consolidate`,
/// `unlink_chunk`) on the many small allocations of decoded JSON events
/// (docs/operations.md, figures of 2026-12-06).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "crm",
    version,
    about = "Movers CRM backend: event-sourced CQRS over PostgreSQL and NATS JetStream"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

/// The hidden subcommand of the template renderer's worker processes.
const RENDER_WORKER: &str = crm::infra::RENDER_WORKER_ARG;

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // `crm command-api` is the subcommand's name
enum Command {
    /// Everything in one process: command API + query API on CRM_BIND, the relay, all projectors.
    Serve {
        /// Run only these projectors here (comma-separated; the others run
        /// elsewhere with `crm projector`). Default: all.
        #[arg(long, value_delimiter = ',')]
        projectors: Vec<String>,
    },
    /// Only the command API (scale out behind a load balancer).
    CommandApi,
    /// Only the query API (scale out behind a load balancer).
    QueryApi,
    /// Only the relay (events table → JetStream); extra copies wait as standbys.
    /// `crm relay retry` lets a stopped relay try its failed event again.
    Relay {
        #[command(subcommand)]
        command: Option<RelayCommand>,
    },
    /// Only projectors: the named ones, or all. Extra copies wait as standbys.
    Projector { names: Vec<String> },
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Print a signed JWT.
    Token {
        #[arg(long)]
        tenant: String,
        /// User id (a UUID).
        #[arg(long)]
        user: Uuid,
        #[arg(long, value_parser = role_parser())]
        role: Role,
        /// Lifetime, e.g. 30m, 8h, 7d.
        #[arg(long, default_value = "8h", value_parser = config::parse_ttl)]
        ttl: chrono::Duration,
        /// Location ids (repeatable).
        #[arg(long = "location")]
        locations: Vec<String>,
    },
    /// Inspect and repair projections.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Load-test a running server and print throughput, latency and projection lag.
    Bench(BenchArgs),
    /// Key management for personal data.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Tamper evidence: verify the event history.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The event history.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Import from a file.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Customers (and leads, for rows with a `source`) from a UTF-8 CSV with
    /// a header row: first_name, last_name, email (required), phone, notes,
    /// source, estimated_move_date. Rows matching a customer's email update
    /// it. Progress and failed rows are in the integration's sync log.
    Customers {
        /// The CSV file.
        file: std::path::PathBuf,
        #[arg(long)]
        tenant: String,
        /// The integration to log it under (default: the tenant's
        /// "Command-line import", created on first use).
        #[arg(long)]
        integration: Option<Uuid>,
        /// The import's id: running it again with the same id does nothing
        /// (default: the file's name and size).
        #[arg(long)]
        import_id: Option<String>,
    },
}

#[derive(Subcommand)]
enum RelayCommand {
    /// Let a relay stopped by an event it could not publish try that event
    /// again (after a fix, e.g. a larger NATS max_payload).
    Retry,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-wrap every tenant key under the current master key (CRM_MASTER_KEY;
    /// keep the previous one in CRM_OLD_MASTER_KEYS until this has run). With
    /// --tenant-keys, also give tenants new key-encryption keys and re-wrap
    /// their data keys. Events are never rewritten.
    Rotate {
        #[arg(long)]
        tenant_keys: bool,
        /// With --tenant-keys: only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every event hash, aggregate chain, tenant chain and seal, and
    /// report the first broken link (exit code 1) or success.
    Verify {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Verify an export file (`crm events export`) instead of the database.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Write the events with metadata, hashes, chain links and seals as
    /// NDJSON (verifiable offline with `crm audit verify --file`).
    Export {
        #[arg(long)]
        tenant: Option<String>,
        /// Recorded at or after (RFC 3339).
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Recorded before (RFC 3339).
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Each projection's position, the stream head, lag and state.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a projection from the start of the stream and swap it in.
    Rebuild { name: String },
    /// Let a failed projection try its failing event again (after a fix).
    Retry { name: String },
}

/// The roles a token can carry: every role but `system`, which only the
/// backend's own processes act as (so `--help` and errors list only these).
fn role_parser() -> impl TypedValueParser<Value = Role> {
    let people: Vec<&'static str> = Role::ALL
        .iter()
        .filter(|r| r.is_person())
        .map(|r| r.as_str())
        .collect();
    clap::builder::PossibleValuesParser::new(people)
        .try_map(|text| text.parse::<Role>().map_err(|e| e.to_string()))
}

/// `crm render-worker` is the template renderer's sandboxed worker process
/// (started by the API processes, one per concurrent render): it renders
/// on stdin/stdout under its own memory limit, without a runtime.
fn main() -> anyhow::Result<std::process::ExitCode> {
    if std::env::args().nth(1).as_deref() == Some(RENDER_WORKER) {
        return Ok(templating::worker_main());
    }
    run().map(|()| std::process::ExitCode::SUCCESS)
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init_tracing(cli.config.log_format);
    match cli.command {
        Command::Serve { projectors } => {
            let mut parts = Parts::all();
            if !projectors.is_empty() {
                parts.projectors = ProjectorSet::Named(projectors);
            }
            serve(cli.config, parts, true).await
        }
        Command::CommandApi => {
            let parts = Parts {
                command_api: true,
                http: true,
                ..Parts::default()
            };
            serve(cli.config, parts, false).await
        }
        Command::QueryApi => {
            let parts = Parts {
                query_api: true,
                http: true,
                ..Parts::default()
            };
            serve(cli.config, parts, false).await
        }
        Command::Relay {
            command: Some(RelayCommand::Retry),
        } => {
            let pool = infra::connect_postgres(&cli.config.database_url, 2).await?;
            let stream = &cli.config.nats_stream;
            let failure = relay::failure(&pool, stream).await?;
            if relay::retry(&pool, stream).await? {
                if let Some(f) = failure {
                    println!(
                        "the relay of {stream} will try event {} again",
                        f.event.event_id
                    );
                }
                Ok(())
            } else {
                bail!("the relay of {stream} is not stopped")
            }
        }
        Command::Relay { command: None } => {
            let parts = Parts {
                relay: true,
                http: true,
                ..Parts::default()
            };
            serve(cli.config, parts, false).await
        }
        Command::Projector { names } => {
            let projectors = if names.is_empty() {
                ProjectorSet::All
            } else {
                ProjectorSet::Named(names)
            };
            let parts = Parts {
                projectors,
                http: true,
                ..Parts::default()
            };
            serve(cli.config, parts, false).await
        }
        Command::Migrate => {
            let pool = infra::connect_postgres(&cli.config.database_url, 2).await?;
            infra::MIGRATOR
                .run(&pool)
                .await
                .context("applying migrations")?;
            println!("migrations applied to {}", redact(&cli.config.database_url));
            Ok(())
        }
        Command::Token {
            tenant,
            user,
            role,
            ttl,
            locations,
        } => {
            let tenant = TenantId::parse(&tenant).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
            if cli.config.dev_mode() {
                eprintln!(
                    "warning: CRM_JWT_SECRET is not set; signing with the development secret"
                );
            }
            let keys = JwtKeys::hs256(&cli.config.jwt_secret_or_dev());
            println!(
                "{}",
                keys.issue(&Principal::new(tenant, user, role, locations), ttl)?
            );
            Ok(())
        }
        Command::Projections { command } => projections_command(cli.config, command).await,
        Command::Bench(args) => bench::run(&cli.config, args).await,
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    tenant_keys,
                    tenant,
                },
        } => rotate_keys(cli.config, tenant_keys, tenant).await,
        Command::Audit {
            command: AuditCommand::Verify { tenant, file },
        } => audit_verify(cli.config, tenant, file).await,
        Command::Events {
            command:
                EventsCommand::Export {
                    tenant,
                    from,
                    to,
                    out,
                },
        } => events_export(cli.config, tenant, from, to, out).await,
        Command::Import {
            command:
                ImportCommand::Customers {
                    file,
                    tenant,
                    integration,
                    import_id,
                },
        } => import_customers(cli.config, file, tenant, integration, import_id).await,
    }
}

/// `crm import customers`: the file staged, queued and worked through in
/// this process, with a progress bar.
async fn import_customers(
    config: Config,
    file: std::path::PathBuf,
    tenant: String,
    integration: Option<Uuid>,
    import_id: Option<String>,
) -> anyhow::Result<()> {
    use aggregates::integration::{
        Integration, IntegrationAction, IntegrationCommand, IntegrationSettings,
    };
    let tenant = TenantId::parse(&tenant).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
    let infra = infra::Infra::connect(config).await?;
    let stores = event_store::Stores::new(infra.pool.clone(), infra.keystore.clone());
    let integration = match integration {
        Some(id) => {
            stores
                .get::<Integration>()
                .load(&tenant, id)
                .await
                .map_err(|e| anyhow::anyhow!("--integration {id}: {e}"))?;
            id
        }
        None => {
            let id = Uuid::new_v5(
                &Uuid::NAMESPACE_OID,
                format!("cli-import:{tenant}").as_bytes(),
            );
            let create = IntegrationCommand {
                at: chrono::Utc::now(),
                actor: event_schemas::SYSTEM_USER,
                action: IntegrationAction::Create {
                    tenant_id: tenant.clone(),
                    integration_id: id,
                    integration_type: event_schemas::integration::IntegrationType::Custom,
                    settings: IntegrationSettings {
                        name: "Command-line import".into(),
                        description: Some("Imports run with `crm import`".into()),
                        version: None,
                        config: Default::default(),
                        secrets: Default::default(),
                        lead_source: Some("import".into()),
                        sync_interval_minutes: None,
                        auto_sync: false,
                    },
                },
            };
            match stores
                .get::<Integration>()
                .run(
                    event_store::Run::new(&tenant, event_store::Target::New(id)),
                    || event_schemas::EventMetadata::system(&tenant, "crm import"),
                    |_| Ok(create.clone()),
                )
                .await
            {
                Ok(_)
                | Err(event_store::CommandError::Domain(
                    aggregates::integration::IntegrationError::AlreadyExists,
                )) => {}
                Err(e) => bail!("creating the command-line import integration: {e}"),
            }
            id
        }
    };
    let meta = tokio::fs::metadata(&file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    let import_id = import_id.unwrap_or_else(|| {
        format!(
            "{}:{}",
            file.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            meta.len()
        )
    });
    let sync = processes::imports::sync_id(integration, &import_id);
    let runner = processes::imports::ImportRunner {
        pool: infra.pool.clone(),
        syncs: stores.get(),
        customers: stores.get(),
        leads: stores.get(),
        keys: infra.keystore.clone(),
    };
    if stores
        .get::<aggregates::integration::IntegrationSync>()
        .find(&tenant, sync)
        .await?
        .is_some()
    {
        println!("import {import_id} was run before (sync {sync}); nothing to do");
        return Ok(());
    }
    let reader = tokio::fs::File::open(&file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let rows = processes::imports::stage(&infra.pool, &tenant, integration, sync, reader)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    runner
        .queue(&tenant, integration, sync, &import_id)
        .await
        .map_err(|e| anyhow::anyhow!("queueing the import: {e}"))?;
    let bar = indicatif::ProgressBar::new(rows);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let processed = runner
        .run_import(&tenant, sync, &move |done, _| shown.set_position(done))
        .await
        .map_err(|e| anyhow::anyhow!("the import stopped: {e}"))?;
    bar.finish();
    let done = stores
        .get::<aggregates::integration::IntegrationSync>()
        .load(&tenant, sync)
        .await?;
    println!(
        "imported {processed} rows of {} (sync {sync}, {:?}); failed rows are in GET /v1/integrations/{integration}/sync-logs/{sync}",
        file.display(),
        done.state().status
    );
    Ok(())
}

async fn rotate_keys(
    config: Config,
    tenant_keys: bool,
    tenant: Option<String>,
) -> anyhow::Result<()> {
    let master = config.master_keys().map_err(anyhow::Error::msg)?;
    let current = master.current_id().to_owned();
    let pool = infra::connect_postgres(&config.database_url, 2).await?;
    infra::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    let keys = keystore::KeyStore::new(pool, master);
    let rotation = keys.rotate_master().await?;
    println!(
        "master key `{current}`: re-wrapped {} tenant keys and {} index keys",
        rotation.tenant_keys, rotation.index_keys
    );
    if tenant_keys {
        let rotation = keys.rotate_tenant_keys(tenant.as_deref()).await?;
        println!(
            "new key-encryption keys for {} tenants; re-wrapped {} data keys",
            rotation.tenant_keys, rotation.data_keys
        );
    }
    Ok(())
}

async fn audit_verify(
    config: Config,
    tenant: Option<String>,
    file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let outcome = match file {
        Some(path) => {
            let reader = std::io::BufReader::new(
                std::fs::File::open(&path)
                    .with_context(|| format!("opening {}", path.display()))?,
            );
            match event_schemas::integrity::verify_export(reader) {
                Ok(report) => Ok(report),
                Err(event_schemas::integrity::FileError::Broken(found)) => Err(found),
                Err(e) => bail!("{}: {e}", path.display()),
            }
        }
        None => {
            let pool = infra::connect_postgres(&config.database_url, 2).await?;
            infra::MIGRATOR
                .run(&pool)
                .await
                .context("applying migrations")?;
            relay::history::verify_database(&pool, tenant.as_deref()).await?
        }
    };
    match outcome {
        Ok(report) => {
            println!(
                "verified: {} events in {} aggregates, {} tenant chain links in {} tenants, {} seals — no alteration found",
                report.events, report.aggregates, report.chained, report.tenants, report.seals
            );
            Ok(())
        }
        Err(found) => {
            eprintln!("BROKEN: {found}");
            std::process::exit(1);
        }
    }
}

async fn events_export(
    config: Config,
    tenant: Option<String>,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    out: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use futures::TryStreamExt;
    use std::io::Write;
    let pool = infra::connect_postgres(&config.database_url, 2).await?;
    infra::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    let mut writer: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    // A tenant's export is recorded in its history, as an operator's.
    if let Some(tenant) = &tenant {
        let tenant = TenantId::parse(tenant).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
        let master = config.master_keys().map_err(anyhow::Error::msg)?;
        let keys = std::sync::Arc::new(keystore::KeyStore::new(pool.clone(), master));
        let exports = event_store::Store::new(pool.clone(), keys);
        let ctx = command_api::context::CommandContext {
            principal: Principal::new(tenant, Uuid::nil(), Role::Admin, vec![]),
            request_id: format!("cli-export-{}", Uuid::now_v7()),
            now: chrono::Utc::now(),
        };
        command_api::audit::record_export(&exports, &ctx, from, to, "cli")
            .await
            .map_err(|e| anyhow::anyhow!("recording the export: {e}"))?;
    }
    let mut lines = std::pin::pin!(relay::history::export(
        pool.clone(),
        tenant.clone(),
        from,
        to
    ));
    let mut events = 0u64;
    while let Some(line) = lines.try_next().await? {
        if matches!(line, event_schemas::integrity::ExportLine::Event(_)) {
            events += 1;
        }
        serde_json::to_writer(&mut writer, &line)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()?;
    if let Some(path) = out {
        eprintln!("{events} events exported to {}", path.display());
    }
    Ok(())
}

/// Hides the password of a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
fn on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = interrupt => {}
            _ = terminate => {}
        }
        tracing::info!("shutting down");
        token.cancel();
    });
}

async fn serve(config: Config, parts: Parts, announce: bool) -> anyhow::Result<()> {
    let dev = config.dev_mode();
    if dev {
        tracing::warn!(
            "DEVELOPMENT MODE: CRM_JWT_SECRET is not set, so tokens are signed with a fixed, public secret. \
             Anyone can forge a token. Set CRM_JWT_SECRET (32+ random bytes) for any real use."
        );
    }
    let infra = Infra::connect(config).await?;
    let running = app::start(&infra, parts, Some(telemetry::metrics())).await?;
    on_signal(running.shutdown_token());
    if announce && let Some(addr) = running.addr {
        print_welcome(&infra, addr, dev)?;
    }
    running.wait().await;
    Ok(())
}

/// What a new user needs for a first authenticated request.
fn print_welcome(infra: &Infra, addr: std::net::SocketAddr, dev: bool) -> anyhow::Result<()> {
    let base = format!("http://{addr}");
    println!();
    println!("Movers CRM is running at {base}  (API description: {base}/openapi.json)");
    if !dev {
        println!("Mint a token with: crm token --tenant <tenant> --user <uuid> --role admin");
        return Ok(());
    }
    let principal = Principal::new(
        TenantId::parse("demo")?,
        Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001),
        Role::Admin,
        vec![],
    );
    let token = infra.keys.issue(&principal, chrono::Duration::hours(8))?;
    let bold = |s: &str| {
        if std::io::stdout().is_terminal() {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    println!();
    println!(
        "{}",
        bold("DEVELOPMENT MODE — an admin token for the demo tenant (valid 8 h):")
    );
    println!();
    println!("  export TOKEN={token}");
    println!();
    println!(
        "{}",
        bold("The analyst page (dashboards, reports), signed in with that token:")
    );
    println!();
    println!("  {base}/app/#token={token}");
    println!();
    println!("{}", bold("Try it:"));
    println!();
    println!("  curl -sS --fail-with-body -X POST {base}/v1/customers \\");
    println!("    -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\");
    // The email is made unique by the shell, so the example works every time.
    println!(
        "    -d '{{\"first_name\":\"Marc\",\"last_name\":\"Gagnon\",\"email\":\"marc.'$(date +%s%N)'@example.com\"}}'"
    );
    println!();
    println!("  curl -sS {base}/v1/customers -H \"Authorization: Bearer $TOKEN\"");
    println!();
    println!("Then follow the walkthrough in README.md; `crm --help` lists the rest.");
    println!();
    Ok(())
}

async fn projections_command(config: Config, command: ProjectionsCommand) -> anyhow::Result<()> {
    let infra = Infra::connect(config).await?;
    let stream = infra.config.nats_stream.clone();
    match command {
        ProjectionsCommand::Status { json } => {
            let statuses =
                projections::status(&infra.pool, &infra.js, &stream, &infra.consumers()).await?;
            let relay = relay::status(&infra.pool, &stream).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "relay": relay, "projections": statuses })
                    )?
                );
                return Ok(());
            }
            print!("{}", crm::status::render(&relay, &statuses));
            Ok(())
        }
        ProjectionsCommand::Rebuild { name } => {
            let projection = infra
                .select_consumers(std::slice::from_ref(&name))
                .map_err(anyhow::Error::msg)?
                .remove(0);
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message(format!("rebuilding {name}"));
            let config = ProjectorConfig::new(&stream, &infra.config.subject_prefix);
            let progress = |applied: u64, target: u64| {
                bar.set_length(target);
                bar.set_position(applied);
            };
            let report = projections::rebuild(
                &infra.pool,
                &infra.js,
                &config,
                projection.as_ref(),
                &progress,
            )
            .await;
            bar.finish_and_clear();
            let report = report?;
            println!(
                "{name} rebuilt from {} events and swapped in (checkpoint {})",
                report.events, report.last_seq
            );
            Ok(())
        }
        ProjectionsCommand::Retry { name } => {
            infra
                .select_consumers(std::slice::from_ref(&name))
                .map_err(anyhow::Error::msg)?;
            if projections::runner::retry(&infra.pool, &name).await? {
                println!("{name} will retry its failed event");
                Ok(())
            } else {
                bail!("{name} is not in the failed state")
            }
        }
    }
}
