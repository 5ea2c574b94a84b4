//! The OpenAPI document says exactly what the server does: enum schemas list
//! the wire names serde accepts, schema names are not shared, every error is
//! problem+json and every operation lists the errors it can answer; the
//! index, the bundled API reference, and the reference part of docs/api.md
//! (generated from the document; `UPDATE_DOCS=1` regenerates it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use crm_tests::TestApp;
use reqwest::Method;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let doc = app
        .request(Method::GET, "/openapi.json", None, None, &[])
        .await;
    doc.expect(200);
    doc.body
}

/// (path, method, operation) for every operation, in document order.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method.to_owned(), op.clone()));
            }
        }
    }
    out
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_enum_schemas_accept_exactly_what_serde_accepts() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let catalogue: BTreeMap<&str, _> = event_schemas::common::wire_enums()
        .into_iter()
        .map(|info| (info.name, info))
        .collect();
    let mut checked = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        let Some(listed) = schema.get("enum") else {
            continue;
        };
        let listed: BTreeSet<String> = strings(listed).into_iter().collect();
        let (accepts, wire): (fn(&str) -> bool, Vec<String>) = if let Some(info) =
            catalogue.get(name.as_str())
        {
            for variant in info.variants {
                if !info.wire.contains(variant) {
                    assert!(
                        !listed.contains(*variant),
                        "{name} lists the Rust name {variant}"
                    );
                }
            }
            (
                info.accepts,
                info.wire.iter().map(|w| (*w).to_owned()).collect(),
            )
        } else if name == "GroupBy" {
            (
                |s: &str| {
                    serde_json::from_value::<query_api::reports::GroupBy>(Value::from(s)).is_ok()
                },
                vec!["month".into(), "source".into(), "rep".into()],
            )
        } else {
            panic!("enum schema {name} is neither a wire_enum! nor known to this test");
        };
        let wire: BTreeSet<String> = wire.into_iter().collect();
        assert_eq!(listed, wire, "{name} lists exactly its wire names");
        for value in &listed {
            assert!(accepts(value), "{name}: serde accepts the listed {value}");
            assert!(
                accepts(value) && !accepts(&value.to_ascii_lowercase())
                    || value.to_ascii_lowercase() == *value,
                "{name}: serde refuses another spelling of {value}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 22, "every enum schema was checked ({checked})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_request_bodies_have_their_own_schema_names() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let body = |path: &str| {
        doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        body("/v1/leads/{id}/assign"),
        "#/components/schemas/AssignLeadRequest"
    );
    assert_eq!(
        body("/v1/equipment-assignments"),
        "#/components/schemas/AssignEquipmentRequest"
    );
    let schemas = &doc["components"]["schemas"];
    assert!(schemas.get("AssignRequest").is_none());
    assert!(schemas["AssignLeadRequest"]["properties"]["user_id"].is_object());
    assert!(schemas["AssignLeadRequest"]["properties"]["equipment_id"].is_null());
    assert!(schemas["AssignEquipmentRequest"]["properties"]["equipment_id"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_errors_are_problems_and_every_operation_lists_what_it_can_answer() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let mut ops = 0;
    for (path, method, op) in operations(&doc) {
        let label = format!("{method} {path}");
        let responses = op["responses"].as_object().expect("responses");
        let has = |status: &str| responses.contains_key(status);
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                if path == "/readyz" && status == "503" {
                    continue; // readyz answers its JSON status
                }
                let content = response["content"].as_object().expect("content");
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{label} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{label} {status}"
                );
            }
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let param = |place: &str, name: &str| {
            params
                .iter()
                .find(|p| p["in"] == place && p["name"] == name)
                .cloned()
        };
        let authenticated = op.get("security").is_some();
        let body = op.get("requestBody").is_some();
        if path.contains('{') {
            assert!(has("404"), "{label} lists 404");
        }
        if authenticated {
            for status in ["400", "401", "403", "429"] {
                assert!(has(status), "{label} lists {status}");
            }
        } else if !path.contains("/callbacks/") {
            // (Providers' callbacks are signed instead: a bad signature is 401.)
            assert!(!has("401"), "{label} is public");
        }
        for status in ["431", "500"] {
            assert!(has(status), "{label} lists {status}");
        }
        if body {
            for status in ["413", "415", "422"] {
                assert!(has(status), "{label} lists {status}");
            }
        }
        if authenticated && method != "get" {
            assert!(has("409"), "{label} lists 409");
        }
        if let Some(if_match) = param("header", "If-Match") {
            assert!(has("412"), "{label} lists 412");
            let pattern = if_match["schema"]["pattern"].as_str().expect("a pattern");
            assert_eq!(pattern, crm::openapi::IF_MATCH_PATTERN);
        }
        if authenticated && method == "post" {
            let key = param("header", "Idempotency-Key")
                .unwrap_or_else(|| panic!("{label} documents Idempotency-Key"));
            assert_eq!(
                key["schema"]["pattern"],
                crm::openapi::IDEMPOTENCY_KEY_PATTERN
            );
        }
        if param("query", "min_version").is_some() {
            assert!(has("422") && has("503"), "{label} lists 422 and 503");
            assert!(
                responses["200"]["headers"]["ETag"].is_object(),
                "{label} answers an ETag"
            );
        }
        ops += 1;
    }
    assert!(ops > 80, "{ops} operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_the_index_is_public_and_links_to_the_document_and_the_reference() {
    let app = TestApp::spawn().await;
    let index = app.request(Method::GET, "/", None, None, &[]).await;
    index.expect(200);
    assert_eq!(index.header("content-type"), Some("application/json"));
    assert_eq!(index.body["name"], "Movers CRM API");
    assert_eq!(index.body["version"], env!("CARGO_PKG_VERSION"));
    for link in ["openapi", "docs", "health"] {
        let href = index.body["links"][link].as_str().expect("a link");
        app.request(Method::GET, href, None, None, &[])
            .await
            .expect(200);
    }
    let doc = document(&app).await;
    assert!(doc["paths"]["/"]["get"]["responses"]["200"].is_object());
    assert!(doc["paths"]["/docs"]["get"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_the_reference_and_its_assets_are_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let page = app.request(Method::GET, "/docs", None, None, &[]).await;
    page.expect(200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.body.as_str().expect("HTML");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN"
    );
    for (asset, content_type, marker) in [
        (
            "/docs/swagger-ui.css",
            "text/css; charset=utf-8",
            ".swagger-ui",
        ),
        (
            "/docs/swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
            "SwaggerUIBundle",
        ),
        (
            "/docs/swagger-initializer.js",
            "text/javascript; charset=utf-8",
            "/openapi.json",
        ),
    ] {
        assert!(html.contains(asset), "the page loads {asset}");
        let response = app.request(Method::GET, asset, None, None, &[]).await;
        response.expect(200);
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{asset}"
        );
        let text = response.body.as_str().expect("text");
        assert!(text.contains(marker), "{asset} is the real file");
    }
}

// ------------------------------------------------ docs/api.md, generated part

const BEGIN: &str = "<!-- BEGIN GENERATED FROM /openapi.json: UPDATE_DOCS=1 cargo nextest run -p crm-tests -E 'test(openapi_docs)' -->";
const END: &str = "<!-- END GENERATED -->";

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn type_name(doc: &Value, schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        let target = &doc["components"]["schemas"][name];
        if let Some(values) = target.get("enum") {
            return strings(values).join(" \\| ");
        }
        return name.to_owned();
    }
    if let Some(any) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let parts: Vec<String> = any
            .iter()
            .filter(|s| s["type"] != "null")
            .map(|s| type_name(doc, s))
            .collect();
        return parts.join(" \\| ");
    }
    if let Some(values) = schema.get("enum") {
        return strings(values).join(" \\| ");
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" \\| "),
        _ => "any".to_owned(),
    };
    if ty == "array" {
        return format!("[{}]", type_name(doc, &schema["items"]));
    }
    match schema["format"].as_str() {
        Some(format) if ty == "string" => format.to_owned(),
        _ => ty,
    }
}

/// `name` (`?` when optional): type, for each property.
fn fields(doc: &Value, schema: &Value) -> String {
    let schema = resolve(doc, schema);
    let required: BTreeSet<String> = strings(&schema["required"]).into_iter().collect();
    let Some(properties) = schema["properties"].as_object() else {
        return type_name(doc, schema);
    };
    properties
        .iter()
        .map(|(name, property)| {
            let optional = if required.contains(name) { "" } else { "?" };
            format!("`{name}`{optional}: {}", type_name(doc, property))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reference part of docs/api.md, rendered from the document.
fn render(doc: &Value) -> String {
    let mut by_tag: BTreeMap<String, Vec<(String, String, Value)>> = BTreeMap::new();
    for (path, method, op) in operations(doc) {
        let tag = strings(&op["tags"])
            .into_iter()
            .next()
            .unwrap_or_else(|| "other".to_owned());
        by_tag.entry(tag).or_default().push((path, method, op));
    }
    let mut out = String::new();
    out.push_str(
        "Generated from the OpenAPI document; a field marked `?` is optional. \
         Every error answer is a problem (see [Errors](#errors)).\n",
    );
    for (tag, ops) in by_tag {
        let _ = write!(
            out,
            "\n### {tag}\n\n| method and path | parameters | body | answers |\n|---|---|---|---|\n"
        );
        for (path, method, op) in ops {
            let params: Vec<String> = op["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|p| p["in"] != "path")
                .map(|p| {
                    let optional = if p["required"] == true { "" } else { "?" };
                    let place = if p["in"] == "header" { " (header)" } else { "" };
                    format!(
                        "`{}`{optional}{place}",
                        p["name"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            let body = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|c| fields(doc, &c["schema"]))
                .unwrap_or_default();
            let answers: Vec<String> = op["responses"]
                .as_object()
                .map(|r| {
                    r.iter()
                        .filter(|(status, _)| status.starts_with('2'))
                        .map(|(status, response)| {
                            match response["content"]
                                .as_object()
                                .and_then(|c| c.iter().next())
                            {
                                Some((ct, c)) if ct == "application/json" => {
                                    format!("{status} {}", type_name(doc, &c["schema"]))
                                }
                                Some((ct, _)) => format!("{status} `{ct}`"),
                                None => status.clone(),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let errors: Vec<&str> = op["responses"]
                .as_object()
                .map(|r| {
                    r.keys()
                        .filter(|s| !s.starts_with('2'))
                        .map(String::as_str)
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| `{} {path}` | {} | {} | {}; errors {} |",
                method.to_uppercase(),
                params.join(", "),
                body.replace('\n', " "),
                answers.join(", "),
                errors.join(", ")
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_docs_api_md_reference_matches_the_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let generated = render(&doc);
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
    let text = std::fs::read_to_string(&file).expect("docs/api.md");
    let start = text
        .find(BEGIN)
        .unwrap_or_else(|| panic!("docs/api.md has the marker {BEGIN}"));
    let end = text[start..]
        .find(END)
        .map(|i| start + i)
        .expect("docs/api.md has the end marker");
    let committed = &text[start + BEGIN.len()..end];
    let wanted = format!("\n{generated}");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{BEGIN}{wanted}{}", &text[..start], &text[end..]);
        std::fs::write(&file, updated).expect("docs/api.md written");
        return;
    }
    assert!(
        committed == wanted,
        "docs/api.md's generated reference is out of date; regenerate it with \
         UPDATE_DOCS=1 cargo nextest run -p crm-tests -E 'test(openapi_docs)'"
    );
}
