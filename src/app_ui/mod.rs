//! `GET /app/`: the analyst page (dashboards with live updates, reports),
//! plain HTML, CSS and ES modules built into the binary with the vendored
//! uPlot (no build step, no CDN; see `README.md` beside this file). It is
//! public like `/docs`: it holds no data, and calls the `/v1` API with the
//! token the user signs in with.
//!
//! Every answer carries a strict `Content-Security-Policy` (no inline
//! script or style, connections to this origin only), `nosniff`, and
//! `Cache-Control: no-cache` with an `ETag`, so the browser keeps the files
//! and revalidates them (a 304 when unchanged).

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;

/// The page's policy: its own files only, no inline code; images may be
/// `data:`/`blob:` URLs; it may not be framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: u64,
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!($name),
            etag: fnv1a(include_bytes!($name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page's files, by the name they are served under (`/app/<name>`).
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("sse.js", JS),
    asset!("format.js", JS),
    asset!("dashboard.js", JS),
    asset!("reports.js", JS),
    asset!("uPlot.iife.min.js", JS),
    asset!("uPlot.min.css", "text/css; charset=utf-8"),
    asset!("LICENSE.uplot", "text/plain; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

/// FNV-1a (64 bits) of a file, at compile time: its `ETag`.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The page's routes, public (no token): `/app` redirects to `/app/`.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .route(
            "/app",
            axum::routing::get(|| async {
                let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
                response
                    .headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/app/"));
                secure(response)
            }),
        )
        .route(
            "/app/",
            axum::routing::get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/app/{file}",
            axum::routing::get(|Path(file): Path<String>, headers: HeaderMap| async move {
                serve(&file, &headers)
            }),
        )
}

/// The names of the page's files (for tests).
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return secure(
            api_common::ApiError::not_found(format!("/app/{name} is not a file of the page"))
                .into_response(),
        );
    };
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    secure(response)
}

/// The headers every answer of the page carries.
fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_names_is_served() {
        let index = std::str::from_utf8(include_bytes!("index.html")).expect("UTF-8");
        for reference in index
            .split(['"', '\''])
            .filter(|s| s.ends_with(".js") || s.ends_with(".css") || s.ends_with(".svg"))
        {
            assert!(
                asset_names().any(|n| n == reference),
                "index.html names {reference}, which is not served"
            );
        }
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).expect("UTF-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let module = line
                    .rsplit_once("\"./")
                    .map(|(_, rest)| rest.trim_end_matches(['"', ';']))
                    .expect("imports are relative");
                assert!(
                    asset_names().any(|n| n == module),
                    "{} imports {module}, which is not served",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn the_page_has_no_inline_script_style_or_handler() {
        let index = std::str::from_utf8(include_bytes!("index.html")).expect("UTF-8");
        assert!(!index.contains("<style"), "inline <style>");
        assert!(!index.contains("style="), "inline style attribute");
        for tag in index.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or_default();
            assert!(open.contains("src="), "an inline <script>: <script{open}>");
        }
        assert!(
            !index
                .split_whitespace()
                .any(|w| w.starts_with("on") && w.contains("=\"")),
            "an inline event handler"
        );
    }

    #[test]
    fn etags_differ_between_files() {
        let mut tags: Vec<u64> = ASSETS.iter().map(|a| a.etag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }
}
