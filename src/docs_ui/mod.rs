//! `GET /`: a small JSON index; `GET /docs`: the API reference, Swagger UI
//! over `/openapi.json`, with its assets built into the binary (no CDN; see
//! `README.md` beside this file for where they come from).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use api_common::openapi::CheckedRoutes;

const INDEX_HTML: &[u8] = include_bytes!("index.html");
const INITIALIZER_JS: &[u8] = include_bytes!("swagger-initializer.js");
const BUNDLE_JS: &[u8] = include_bytes!("swagger-ui-bundle.js");
const BUNDLE_LICENSE: &[u8] = include_bytes!("swagger-ui-bundle.js.LICENSE.txt");
const CSS: &[u8] = include_bytes!("swagger-ui.css");

/// The index and the reference's pages, public (no token).
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .checked_routes(routes!(index))
        .checked_routes(routes!(docs))
        .route(
            "/docs/",
            axum::routing::get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/docs/swagger-initializer.js",
            axum::routing::get(|| async {
                asset("text/javascript; charset=utf-8", INITIALIZER_JS)
            }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            axum::routing::get(|| async { asset("text/javascript; charset=utf-8", BUNDLE_JS) }),
        )
        .route(
            "/docs/swagger-ui-bundle.js.LICENSE.txt",
            axum::routing::get(|| async { asset("text/plain; charset=utf-8", BUNDLE_LICENSE) }),
        )
        .route(
            "/docs/swagger-ui.css",
            axum::routing::get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// What this server is and where to go from here.
#[derive(Serialize, ToSchema)]
pub struct Index {
    #[schema(example = "Movers CRM API")]
    pub name: &'static str,
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    pub links: IndexLinks,
}

#[derive(Serialize, ToSchema)]
pub struct IndexLinks {
    /// The OpenAPI 3.1 document.
    #[schema(example = "/openapi.json")]
    pub openapi: &'static str,
    /// The API reference (Swagger UI).
    #[schema(example = "/docs")]
    pub docs: &'static str,
    /// Liveness.
    #[schema(example = "/healthz")]
    pub health: &'static str,
}

#[utoipa::path(get, path = "/", tag = "operations",
    responses((status = 200, description = "The name and version of the API, and links to its description", body = Index)))]
async fn index() -> axum::Json<Index> {
    axum::Json(Index {
        name: "Movers CRM API",
        version: env!("CARGO_PKG_VERSION"),
        links: IndexLinks {
            openapi: "/openapi.json",
            docs: "/docs",
            health: "/healthz",
        },
    })
}

#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "The API reference: Swagger UI over /openapi.json (HTML)", body = String, content_type = "text/html")))]
async fn docs() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}
