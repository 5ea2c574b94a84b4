//! The composition root: which parts a process runs, wired to one set of
//! connections. `crm serve` runs them all; `crm command-api`, `crm
//! query-api`, `crm relay` and `crm projector` run one each. Main and the
//! tests use the same [`start`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use api_common::openapi::CheckedRoutes;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use command_api::CommandState;
use metrics_exporter_prometheus::PrometheusHandle;
use projections::{Projection, ProjectorConfig};
use query_api::{QueryState, ReadModelWatch};
use relay::{self, RelayConfig};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::infra::Infra;
use crate::openapi;

/// Which projectors a process runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProjectorSet {
    #[default]
    None,
    All,
    /// These, by name (`crm projector customers leads`).
    Named(Vec<String>),
}

/// What one process runs.
#[derive(Clone, Default)]
pub struct Parts {
    pub command_api: bool,
    pub query_api: bool,
    pub relay: bool,
    pub projectors: ProjectorSet,
    /// Serve `/healthz`, `/readyz`, `/metrics` (and `/openapi.json` with an API).
    pub http: bool,
}

impl Parts {
    pub fn all() -> Self {
        Self {
            command_api: true,
            query_api: true,
            relay: true,
            projectors: ProjectorSet::All,
            http: true,
        }
    }
}

/// A started process: its HTTP address and background tasks.
pub struct Running {
    pub addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Running {
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Asks every part to stop and waits for them (bounded).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            tracing::warn!("some parts did not stop within 10 s; aborting them");
            self.tasks.abort_all();
        }
    }

    /// Waits until the shutdown token is cancelled (by a signal), then stops.
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }
}

#[derive(Clone)]
struct OpsState {
    infra: Infra,
    metrics: Option<PrometheusHandle>,
    projections: Vec<Arc<dyn Projection>>,
    relay: bool,
}

/// Starts `parts` on `infra`. HTTP listens on `infra.config.bind`.
pub async fn start(
    infra: &Infra,
    parts: Parts,
    metrics: Option<PrometheusHandle>,
) -> anyhow::Result<Running> {
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let config = &infra.config;

    if parts.relay {
        let mut relay_config = RelayConfig::new(&config.nats_stream, &config.subject_prefix);
        relay_config.seal_interval = Duration::from_secs(config.seal_interval_secs);
        tasks.spawn(relay::run(
            infra.pool.clone(),
            infra.js.clone(),
            relay_config,
            shutdown.clone(),
        ));
    }
    let projector_config = ProjectorConfig::new(&config.nats_stream, &config.subject_prefix);
    let projectors: Vec<Arc<dyn Projection>> = match &parts.projectors {
        ProjectorSet::None => Vec::new(),
        ProjectorSet::All => infra.consumers(),
        ProjectorSet::Named(names) => infra.select_consumers(names).map_err(anyhow::Error::msg)?,
    };
    // The read models share one consumer; each process that issues
    // commands has its own.
    let (acting, reading): (Vec<_>, Vec<_>) = projectors
        .iter()
        .cloned()
        .partition(|p| p.issues_commands());
    let groups = std::iter::once(reading)
        .chain(acting.into_iter().map(|p| vec![p]))
        .filter(|group| !group.is_empty());
    for group in groups {
        tasks.spawn(projections::run_projectors(
            infra.pool.clone(),
            infra.js.clone(),
            projector_config.clone(),
            group,
            shutdown.clone(),
        ));
    }
    if parts.command_api || parts.query_api {
        tasks.spawn(infra.policies.clone().keep_invalidated(shutdown.clone()));
    }
    // Whatever this process commits (commands, processes) wakes the relay,
    // wherever it runs.
    tasks.spawn(relay::announce_commits(
        infra.pool.clone(),
        shutdown.clone(),
    ));
    if parts.command_api && config.sender_poll_ms > 0 {
        let stores = event_store::Stores::new(infra.pool.clone(), infra.keystore.clone());
        let sender = processes::sender::Sender::new(infra.pool.clone(), &stores, config.sender())
            .map_err(anyhow::Error::msg)?;
        tasks.spawn(processes::sender::run(
            std::sync::Arc::new(sender),
            shutdown.clone(),
        ));
    }
    if parts.command_api && config.webhook_poll_ms > 0 {
        let stores = event_store::Stores::new(infra.pool.clone(), infra.keystore.clone());
        let deliverer =
            outbound::Deliverer::builder(config.webhook_policy(), infra.webhook_resolver.clone())
                .timeout(Duration::from_millis(config.webhook_timeout_ms.max(1)))
                .build()?;
        let worker = processes::webhooks::WebhookWorker {
            pool: infra.pool.clone(),
            webhooks: stores.get(),
            deliveries: stores.get(),
            keys: infra.keystore.clone(),
            deliverer,
            clock: std::sync::Arc::new(outbound::SystemClock),
            jitter: std::sync::Arc::new(rand_unit),
            config: config.webhook_worker(),
        };
        tasks.spawn(processes::webhooks::run(
            std::sync::Arc::new(worker),
            Duration::from_millis(config.webhook_poll_ms),
            shutdown.clone(),
        ));
    }
    if parts.command_api && config.import_poll_ms > 0 {
        let stores = event_store::Stores::new(infra.pool.clone(), infra.keystore.clone());
        let runner = processes::imports::ImportRunner {
            pool: infra.pool.clone(),
            syncs: stores.get(),
            customers: stores.get(),
            leads: stores.get(),
            keys: infra.keystore.clone(),
        };
        tasks.spawn(processes::imports::run(
            std::sync::Arc::new(runner),
            Duration::from_millis(config.import_poll_ms),
            shutdown.clone(),
        ));
    }
    if parts.command_api && config.report_poll_ms > 0 {
        let worker = processes::reports::ReportWorker {
            pool: infra.pool.clone(),
            stores: event_store::Stores::new(infra.pool.clone(), infra.keystore.clone()),
            clock: std::sync::Arc::new(outbound::SystemClock),
            config: config.report_worker(),
        };
        tasks.spawn(processes::reports::run(
            std::sync::Arc::new(worker),
            Duration::from_millis(config.report_poll_ms),
            shutdown.clone(),
        ));
    }
    if parts.command_api && config.policy_interval_secs > 0 {
        let runner = processes::rules::RuleRunner {
            pool: infra.pool.clone(),
            stores: event_store::Stores::new(infra.pool.clone(), infra.keystore.clone()),
            renderer: infra.renderer.clone(),
            keystore: infra.keystore.clone(),
            public_url: config.public_url(),
        };
        tasks.spawn(processes::rules::run(
            runner,
            Duration::from_secs(config.policy_interval_secs),
            shutdown.clone(),
        ));
    }
    if parts.command_api && config.policy_interval_secs > 0 {
        let stores =
            processes::policies::PolicyStores::new(infra.pool.clone(), infra.keystore.clone());
        tasks.spawn(processes::policies::run(
            stores,
            Duration::from_secs(config.policy_interval_secs),
            shutdown.clone(),
        ));
    }
    if parts.command_api {
        let pool = infra.pool.clone();
        let token = shutdown.clone();
        tasks.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = every.tick() => match command_api::idempotency::purge_expired(&pool).await {
                        Ok(n) if n > 0 => tracing::info!(purged = n, "expired idempotency keys removed"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed"),
                    },
                }
            }
        });
    }

    let mut addr = None;
    if parts.http {
        let ops = OpsState {
            infra: infra.clone(),
            metrics,
            projections: if projectors.is_empty() {
                infra.consumers()
            } else {
                projectors.clone()
            },
            relay: parts.relay || parts.command_api,
        };
        let router = http_router(infra, &parts, ops, shutdown.clone());
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let local = listener.local_addr()?;
        addr = Some(local);
        tasks.spawn(serve(listener, router, shutdown.clone()));
        tracing::info!(%local, "listening");
    }
    Ok(Running {
        addr,
        shutdown,
        tasks,
    })
}

/// Serves `router` on `listener` until `shutdown`, then lets open requests
/// finish (bounded). Our own accept loop rather than `axum::serve`: hyper's
/// header limits are raised here (`SERVER_MAX_*`) so that requests over our
/// own, lower limits reach `api_common::http`'s middleware and get a 431
/// problem instead of hyper's bare 431.
async fn serve(listener: tokio::net::TcpListener, router: Router, shutdown: CancellationToken) {
    use api_common::http::{SERVER_MAX_BUFFER_BYTES, SERVER_MAX_HEADER_FIELDS};
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .max_headers(SERVER_MAX_HEADER_FIELDS)
        .max_buf_size(SERVER_MAX_BUFFER_BYTES)
        // With a timer hyper bounds the time to send the headers (30 s).
        .timer(TokioTimer::new());
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: back off, keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http1.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some HTTP connections were still open after 5 s");
    }
}

/// The HTTP surface of a process, with the common middleware.
fn http_router(infra: &Infra, parts: &Parts, ops: OpsState, shutdown: CancellationToken) -> Router {
    let mut api: OpenApiRouter = OpenApiRouter::new();
    let mut public = OpenApiRouter::new();
    if parts.command_api {
        let state = CommandState {
            policies: infra.policies.clone(),
            public_url: infra.config.public_url(),
            callback_secrets: Arc::new(infra.config.callback_secret_map()),
            webhooks: command_api::webhooks::WebhookGuard {
                policy: infra.config.webhook_policy(),
                resolver: infra.webhook_resolver.clone(),
            },
            inbound_limiter: Arc::new(api_common::ratelimit::RateLimiter::new(
                api_common::ratelimit::Limits {
                    per_tenant: 0.0,
                    per_user: infra.config.inbound_rps_per_key,
                },
            )),
            ..CommandState::new(
                infra.pool.clone(),
                infra.keys.clone(),
                infra.keystore.clone(),
                infra.renderer.clone(),
            )
        };
        public = public.checked_merge(command_api::public_router(state.clone()));
        api = api.checked_merge(command_api::router(state));
    }
    if parts.query_api {
        let watch = ReadModelWatch::spawn(infra.pool.clone(), shutdown)
            .with_max_streams(infra.config.max_sse_streams);
        let state = QueryState {
            pool: infra.pool.clone(),
            keys: infra.keys.clone(),
            watch,
            versions: Arc::new(EventStoreVersions(infra.pool.clone())),
            policies: infra.policies.clone(),
        };
        public = public.checked_merge(query_api::public_router(state.clone()));
        api = api.checked_merge(query_api::router(state));
    }
    // Authentication first, on every /v1 route: a request without a valid
    // token is 401 before its idempotency key, body, If-Match or query is
    // looked at. (Rate limiting wraps it: an over-rate caller is refused
    // before the policy is read from the database.)
    let api = api.layer(axum::middleware::from_fn_with_state(
        api_common::AuthState {
            keys: infra.keys.clone(),
            policies: infra.policies.clone(),
        },
        api_common::auth::authenticate,
    ));
    let limiter = api_common::ratelimit::RateLimitState {
        limiter: Arc::new(api_common::ratelimit::RateLimiter::new(
            api_common::ratelimit::Limits {
                per_tenant: infra.config.rate_limit_tenant_rps,
                per_user: infra.config.rate_limit_user_rps,
            },
        )),
        keys: infra.keys.clone(),
    };
    let api = api.layer(axum::middleware::from_fn_with_state(
        limiter,
        api_common::ratelimit::rate_limit,
    ));
    let ops_router = OpenApiRouter::new()
        .checked_routes(routes!(healthz))
        .checked_routes(routes!(readyz))
        .checked_routes(routes!(metrics_text))
        .with_state(ops);
    let (router, mut doc) = api
        .checked_merge(public)
        .checked_merge(ops_router)
        .checked_merge(crate::docs_ui::router())
        .checked_merge(crate::app_ui::router())
        .split_for_parts();
    openapi::finish(&mut doc);
    let doc = Arc::new(doc);
    let router = router.route(
        "/openapi.json",
        axum::routing::get(move || {
            let doc: Arc<OpenApi> = doc.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    );
    let limits = api_common::http::BodyLimits::uniform(infra.config.max_body_bytes)
        .with_upload(
            command_api::attachments::UPLOAD_PATH,
            infra.config.max_attachment_bytes,
        )
        .with_upload(
            command_api::integrations::IMPORT_PATH,
            infra.config.max_import_bytes,
        );
    let router = api_common::http::with_common_layers(router, limits);
    match cors(&infra.config.cors_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// The read side's view of versions in the event store, answered by the
/// crate that owns the events table.
struct EventStoreVersions(sqlx::PgPool);

impl query_api::StoreVersions for EventStoreVersions {
    fn current_version<'a>(
        &'a self,
        tenant: &'a event_schemas::TenantId,
        aggregate_type: &'a str,
        id: uuid::Uuid,
    ) -> futures::future::BoxFuture<'a, Result<u64, api_common::ApiError>> {
        Box::pin(async move {
            Ok(event_store::current_version(&self.0, tenant, aggregate_type, id).await?)
        })
    }
}

/// CORS for the configured browser origins (none: no CORS headers at all).
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method};
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let header = HeaderName::from_static;
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header("authorization"),
                header("content-type"),
                header("if-match"),
                header("idempotency-key"),
                header("x-request-id"),
            ])
            .expose_headers([
                header("etag"),
                header("location"),
                header("x-request-id"),
                header("retry-after"),
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

#[derive(Serialize, utoipa::ToSchema)]
struct Readiness {
    postgres: bool,
    nats: bool,
    /// `running`, `failed` (an event it cannot publish stopped it; see
    /// `relay_failure`), or `unknown` when PostgreSQL did not answer.
    relay: &'static str,
    /// The event that stopped the relay and why.
    #[schema(value_type = Option<Object>)]
    relay_failure: Option<relay::RelayFailure>,
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "PostgreSQL and NATS are reachable (and the relay, when this process runs it, is not stopped)", body = Readiness),
        (status = 503, description = "One of them is not, or the relay this process runs is stopped by an event it cannot publish", body = Readiness),
    ))]
async fn readyz(State(ops): State<OpsState>) -> Response {
    // The relay's failure is read from PostgreSQL, so the same query tells
    // whether PostgreSQL answers.
    let failure = tokio::time::timeout(
        Duration::from_secs(2),
        relay::failure(&ops.infra.pool, &ops.infra.config.nats_stream),
    )
    .await
    .ok()
    .and_then(Result::ok);
    let postgres = failure.is_some();
    let relay_failure = failure.flatten();
    let nats = tokio::time::timeout(Duration::from_secs(2), ops.infra.nats.flush())
        .await
        .is_ok_and(|r| r.is_ok());
    let relay_state = match (postgres, &relay_failure) {
        (false, _) => "unknown",
        (true, None) => "running",
        (true, Some(_)) => "failed",
    };
    let status = if postgres && nats && !(ops.relay && relay_failure.is_some()) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        postgres,
        nats,
        relay: relay_state,
        relay_failure,
    };
    (status, axum::Json(body)).into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics_text(State(ops): State<OpsState>) -> Response {
    // Lags are measured at scrape time, so they are right whichever process
    // runs the relay and the projectors.
    let stream = &ops.infra.config.nats_stream;
    if ops.relay {
        match relay::status(&ops.infra.pool, stream).await {
            Ok(s) => metrics::gauge!("relay_lag_events", "stream" => stream.clone())
                .set(s.unpublished as f64),
            Err(e) => tracing::warn!(error = %e, "relay status unavailable"),
        }
    }
    if let Err(e) =
        projections::status(&ops.infra.pool, &ops.infra.js, stream, &ops.projections).await
    {
        tracing::warn!(error = %e, "projection status unavailable");
    }
    let body = ops
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// A random number in [0, 1): the webhook schedule's jitter.
fn rand_unit() -> f64 {
    use rand::Rng;
    rand::thread_rng().r#gen::<f64>()
}
