//! Finishing touches on the generated OpenAPI 3.1 document: title and
//! description, the bearer security scheme, the problem schema, and one pass
//! over every operation that makes its error answers exact (see [`finish`]).

use api_common::{Problem, ProblemField};
use utoipa::openapi::content::{Content, ContentBuilder};
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr, Required, Schema};
use utoipa::{PartialSchema, ToSchema};

const DESCRIPTION: &str = "Movers CRM backend. Commands (POST/PATCH/DELETE) answer `{\"id\", \"version\"}`; \
reads come from projections and accept `?min_version=N` to wait for your own write. \
Every error is `application/problem+json` (RFC 9457). Money is a decimal string, times are RFC 3339 UTC. \
Authenticate with `Authorization: Bearer <JWT>` (HS256; claims sub, tenant, role, exp).";

/// Finishes the document: title, security scheme, problem schemas, and
/// [`exact`] over every operation.
pub fn finish(doc: &mut OpenApi) {
    doc.info.title = "Movers CRM API".to_owned();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.description = Some(DESCRIPTION.to_owned());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components
        .schemas
        .insert(Problem::name().into_owned(), Problem::schema());
    components
        .schemas
        .insert(ProblemField::name().into_owned(), ProblemField::schema());

    for (path, item) in doc.paths.paths.iter_mut() {
        let has_path_params = path.contains('{');
        for (method, operation) in [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ] {
            if let Some(operation) = operation {
                exact(operation, method, has_path_params);
            }
        }
    }
}

/// `If-Match`: a strong entity tag with the version (`"3"`), or `*`.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|"[0-9]{1,18}")$"#;
/// `Idempotency-Key`: 1 to 255 printable ASCII characters, no spaces.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";
/// `ETag` of an entity: its version, quoted.
const ETAG_PATTERN: &str = r#"^"[0-9]+"$"#;

/// Makes one operation's answers what the server really sends:
///
/// * every error answer is `application/problem+json` with the `Problem`
///   schema (readyz's 503, whose body is its JSON status, stays as it is);
/// * with a path parameter: 404 (a malformed or unknown id, or another
///   tenant's entity);
/// * authenticated: 400 (malformed header, unknown query parameter or
///   field), 401, 403, 429 (with `Retry-After`); everywhere 431 (headers too
///   large) and 500;
/// * 422 where the request carries values (a body, query or path
///   parameters), 413 and 415 with a body, 409 on commands (a concurrent
///   write, an `Idempotency-Key` still in progress), 412 with `If-Match`,
///   422 and 503 (with `Retry-After`) with `min_version`;
/// * `If-Match` and `Idempotency-Key` are strings with their patterns, and
///   every authenticated POST takes `Idempotency-Key` (the middleware reads
///   it on all of them);
/// * `ETag` on single-entity reads and on command answers, `Location` on
///   creations.
fn exact(operation: &mut Operation, method: &str, has_path_params: bool) {
    let read = method == "get";
    let authenticated = operation.security.is_some();
    let has_body = operation.request_body.is_some();
    if authenticated && method == "post" && !has_header(operation, "Idempotency-Key") {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(header_parameter("Idempotency-Key"));
    }
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    for parameter in parameters.iter_mut() {
        if parameter.parameter_in == ParameterIn::Header {
            let (pattern, description) = match parameter.name.as_str() {
                "If-Match" => (
                    IF_MATCH_PATTERN,
                    "The version you expect, quoted (`\"3\"`, as the `ETag` gave it), or `*`: \
                     412 when the entity is at another version or the tag is weak (`W/\"3\"`), \
                     400 when it is not quoted",
                ),
                "Idempotency-Key" => (
                    IDEMPOTENCY_KEY_PATTERN,
                    "Makes a retry return the first 2xx answer (kept 24 h per tenant); \
                     1 to 255 printable ASCII characters",
                ),
                _ => continue,
            };
            parameter.schema = Some(string_with_pattern(pattern));
            parameter.description = Some(description.to_owned());
            parameter.required = Required::False;
        }
    }
    let has_query = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let min_version = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Query && p.name == "min_version");
    let if_match = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Header && p.name == "If-Match");
    if parameters.is_empty() {
        operation.parameters = None;
    }

    let responses = &mut operation.responses.responses;
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status.starts_with('4') || status.starts_with('5') {
            let keeps_own_body = response
                .content
                .values()
                .any(|c| c.schema.as_ref().is_some_and(|s| !is_problem(s)));
            if !keeps_own_body {
                response.content.clear();
                response
                    .content
                    .insert("application/problem+json".to_owned(), problem());
            }
        } else if status.starts_with('2') && !read && returns_command_response(response) {
            response
                .headers
                .entry("ETag".to_owned())
                .or_insert_with(|| {
                    header(
                        "The entity's version after the command (for If-Match)",
                        ETAG_PATTERN,
                    )
                });
            if status == "201" {
                response
                    .headers
                    .entry("Location".to_owned())
                    .or_insert_with(|| {
                        HeaderBuilder::new()
                            .schema(ObjectBuilder::new().schema_type(Type::String))
                            .description(Some("Where the new entity is read"))
                            .build()
                    });
            }
        } else if status == "200"
            && read
            && has_path_params
            && response.content.contains_key("application/json")
        {
            response
                .headers
                .entry("ETag".to_owned())
                .or_insert_with(|| header("The entity's version, for If-Match", ETAG_PATTERN));
        }
    }

    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(status, description)));
    };
    if authenticated {
        add(
            "400",
            "Malformed JSON, an unknown field or query parameter, or a malformed header",
        );
        add("401", "Missing, invalid or expired token");
        add(
            "403",
            "The caller's role may not do this, or the record is outside its scope",
        );
        add("429", "Too many requests; see Retry-After");
    }
    if has_path_params {
        add(
            "404",
            "No such entity in the caller's tenant (or a malformed id)",
        );
    }
    if has_body || has_query || has_path_params {
        add("422", "Invalid input; `errors` names each field");
    }
    if has_body {
        add("413", "The body is too large");
        add("415", "The body is not sent as application/json");
    }
    if authenticated && !read {
        add(
            "409",
            "A concurrent write to the same entity (`concurrency.version-conflict`), \
             or a request with this Idempotency-Key still in progress",
        );
    }
    if if_match {
        add(
            "412",
            "If-Match names another version than the current one (`current_version` given), \
             or is a weak tag",
        );
    }
    if min_version {
        add("422", "min_version is beyond the entity's current version");
        add("503", "min_version not reached in time; see Retry-After");
    }
    add("431", "Request headers too large");
    add(
        "500",
        "Internal error (logged with the request id; nothing internal is shown)",
    );
}

fn has_header(operation: &Operation, name: &str) -> bool {
    operation.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case(name))
    })
}

fn header_parameter(name: &str) -> utoipa::openapi::path::Parameter {
    utoipa::openapi::path::ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .build()
}

fn string_with_pattern(pattern: &str) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .build(),
    ))
}

fn header(description: &str, pattern: &str) -> Header {
    HeaderBuilder::new()
        .schema(string_with_pattern(pattern))
        .description(Some(description))
        .build()
}

fn is_problem(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::Ref(r) if r.ref_location.ends_with("/Problem"))
}

fn returns_command_response(response: &Response) -> bool {
    response.content.values().any(|c| {
        matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/CommandResponse"))
    })
}

fn problem() -> Content {
    ContentBuilder::new()
        .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
        .build()
}

fn problem_response(status: &str, description: &str) -> Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", problem())
        .build();
    if status == "429" || status == "503" {
        response.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    response
}
