//! Connecting to the outside world: PostgreSQL (database created if
//! missing, migrations applied) and NATS JetStream (stream created if
//! missing). Failures say how to start the missing server.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use api_common::JwtKeys;
use async_nats::jetstream;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::config::Config;

pub const START_POSTGRES: &str = "start it with `scripts/services.sh` (installs and starts PostgreSQL and NATS), \
     or `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`";
pub const START_NATS: &str = "start it with `scripts/services.sh` (installs and starts PostgreSQL and NATS), \
     or `start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server`";

/// The migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections shared by every part of a process.
#[derive(Clone)]
pub struct Infra {
    pub config: Config,
    pub pool: PgPool,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub keys: Arc<JwtKeys>,
    /// Data keys for personal data (crypto-shredding).
    pub keystore: Arc<keystore::KeyStore>,
    /// Callers' permission policies, cached for this process.
    pub policies: api_common::PolicyStore,
    /// The sandboxed template renderer: worker processes started on demand.
    pub renderer: Arc<templating::Renderer>,
    /// Resolves webhook hosts for the SSRF guard (tests inject their own).
    pub webhook_resolver: Arc<dyn outbound::Resolver>,
}

/// The argument that makes the `crm` binary a template-renderer worker.
pub const RENDER_WORKER_ARG: &str = "render-worker";

/// The renderer's workers: `CRM_RENDER_WORKER` (a program run without
/// arguments, e.g. in tests), else this binary with `render-worker`.
pub fn renderer(config: &Config) -> anyhow::Result<templating::Renderer> {
    let worker = match &config.render_worker {
        Some(program) => templating::WorkerCommand {
            program: program.into(),
            args: Vec::new(),
        },
        None => templating::WorkerCommand {
            program: std::env::current_exe().context("locating the crm binary")?,
            args: vec![RENDER_WORKER_ARG.to_owned()],
        },
    };
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    Ok(templating::Renderer::new(
        worker,
        templating::Limits::default(),
        workers,
    ))
}

impl Infra {
    /// Connects, creates the database if needed, applies migrations, and
    /// ensures the stream exists.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        config.validate().map_err(|e| anyhow!(e))?;
        let master = config.master_keys().map_err(|e| anyhow!(e))?;
        let pool = connect_postgres(&config.database_url, config.db_max_connections).await?;
        MIGRATOR.run(&pool).await.context("applying migrations")?;
        let keystore = Arc::new(keystore::KeyStore::new(pool.clone(), master));
        projections::runner::install(&pool, &consumers(&pool, &keystore))
            .await
            .context("creating the read-model tables")?;
        let (nats, js) = connect_nats(&config.nats_url).await?;
        relay::ensure_stream(
            &js,
            &config.nats_stream,
            &config.subject_prefix,
            config.duplicate_window(),
            config.nats_replicas,
        )
        .await
        .with_context(|| {
            format!(
                "creating the JetStream stream {} (is JetStream enabled? nats-server needs -js)",
                config.nats_stream
            )
        })?;
        let keys = Arc::new(JwtKeys::hs256(&config.jwt_secret_or_dev()));
        let renderer = Arc::new(renderer(&config)?);
        Ok(Self {
            renderer,
            webhook_resolver: Arc::new(outbound::SystemResolver),
            config,
            policies: api_common::PolicyStore::new(pool.clone()),
            pool,
            nats,
            js,
            keys,
            keystore,
        })
    }
}

/// Creates the database named in `url` if it does not exist.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let options =
        PgConnectOptions::from_str(url).context("DATABASE_URL is not a PostgreSQL URL")?;
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let admin = options.clone().database("postgres");
    let mut conn =
        PgConnection::connect_with(&admin.log_statements(tracing::log::LevelFilter::Debug))
            .await
            .map_err(|e| anyhow!("PostgreSQL is not reachable at {url} ({e}); {START_POSTGRES}"))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        match sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Another process created it first.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context("creating the database"),
        }
    }
    conn.close().await.ok();
    Ok(())
}

pub async fn connect_postgres(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    ensure_database(url).await?;
    let options = PgConnectOptions::from_str(url)?
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        // The pool's liveness ping costs a round trip on every checkout;
        // a dead connection fails its query and is replaced instead.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|e| anyhow!("PostgreSQL is not reachable at {url} ({e}); {START_POSTGRES}"))
}

/// The servers of `NATS_URL`: one URL, or several seed URLs of a cluster
/// separated by commas (`nats://a:4222,nats://b:4222`), as NATS clients
/// conventionally take them. The client learns the rest of the cluster from
/// the seeds and fails over between them.
pub fn nats_servers(url: &str) -> anyhow::Result<Vec<async_nats::ServerAddr>> {
    let servers = url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<async_nats::ServerAddr>()
                .map_err(|e| anyhow!("NATS_URL: `{s}` is not a NATS server URL ({e})"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if servers.is_empty() {
        return Err(anyhow!("NATS_URL names no server"));
    }
    Ok(servers)
}

pub async fn connect_nats(url: &str) -> anyhow::Result<(async_nats::Client, jetstream::Context)> {
    let servers = nats_servers(url)?;
    let client = async_nats::ConnectOptions::new()
        .name("crm")
        .connection_timeout(Duration::from_secs(3))
        .connect(servers);
    let client = tokio::time::timeout(Duration::from_secs(5), client)
        .await
        .map_err(|_| anyhow!("NATS is not reachable at {url}; {START_NATS}"))?
        .map_err(|e| anyhow!("NATS is not reachable at {url} ({e}); {START_NATS}"))?;
    tokio::time::timeout(Duration::from_secs(5), client.flush())
        .await
        .map_err(|_| anyhow!("NATS is not reachable at {url}; {START_NATS}"))?
        .map_err(|e| anyhow!("NATS is not reachable at {url} ({e}); {START_NATS}"))?;
    Ok((client.clone(), jetstream::new(client)))
}

/// Every stream consumer of this build: the read models and the processes
/// (sales process manager, deadlines), run and managed alike.
pub fn consumers(
    pool: &sqlx::PgPool,
    keystore: &Arc<keystore::KeyStore>,
) -> Vec<Arc<dyn projections::Projection>> {
    let mut all = projections::all(keystore.clone());
    all.extend(processes::consumers(&event_store::Stores::new(
        pool.clone(),
        keystore.clone(),
    )));
    all
}

/// The consumers named (all when `names` is empty); unknown names are an error.
pub fn select_consumers(
    pool: &sqlx::PgPool,
    keystore: &Arc<keystore::KeyStore>,
    names: &[String],
) -> Result<Vec<Arc<dyn projections::Projection>>, String> {
    let all = consumers(pool, keystore);
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|p| p.name() == n).cloned().ok_or_else(|| {
                let known: Vec<_> = all.iter().map(|p| p.name()).collect();
                format!("unknown projection `{n}`; known: {}", known.join(", "))
            })
        })
        .collect()
}

impl Infra {
    /// Every stream consumer (see [`consumers`]).
    pub fn consumers(&self) -> Vec<Arc<dyn projections::Projection>> {
        consumers(&self.pool, &self.keystore)
    }

    /// The consumers named (see [`select_consumers`]).
    pub fn select_consumers(
        &self,
        names: &[String],
    ) -> Result<Vec<Arc<dyn projections::Projection>>, String> {
        select_consumers(&self.pool, &self.keystore, names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_url_takes_several_seeds_separated_by_commas() {
        let servers =
            nats_servers("nats://10.0.0.1:4222, nats://10.0.0.2:4223,nats://h3:4224").unwrap();
        let ports: Vec<u16> = servers.iter().map(|s| s.port()).collect();
        assert_eq!(ports, [4222, 4223, 4224]);
        assert_eq!(servers[2].host(), "h3");
        assert_eq!(nats_servers("nats://127.0.0.1:4222").unwrap().len(), 1);
        assert!(
            nats_servers("nats://a:4222,not a url")
                .unwrap_err()
                .to_string()
                .contains("not a url")
        );
        assert!(nats_servers(" , ").is_err());
    }
}
