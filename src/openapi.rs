//! Finishing touches on the generated OpenAPI 3.1 document: title and
//! description, the bearer security scheme, the problem schema, and the
//! error answers every authenticated route can give.

use api_common::{Problem, ProblemField};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

const DESCRIPTION: &str = "Movers CRM backend. Commands (POST/PATCH/DELETE) answer `{\"id\", \"version\"}`; \
reads come from projections and accept `?min_version=N` to wait for your own write. \
Every error is `application/problem+json` (RFC 9457). Money is a decimal string, times are RFC 3339 UTC. \
Authenticate with `Authorization: Bearer <JWT>` (HS256; claims sub, tenant, role, exp).";

/// Errors every authenticated operation may answer, unless it documents them itself.
const COMMON_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "Malformed JSON, an unknown field, or a malformed header",
    ),
    ("401", "Missing, invalid or expired token"),
    ("403", "The caller's role may not do this"),
    ("422", "Invalid input; `errors` names each field"),
    ("429", "Too many requests; see Retry-After"),
    (
        "500",
        "Internal error (logged with the request id; nothing internal is shown)",
    ),
];

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

    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            if operation.security.is_some() {
                add_common_errors(operation);
            }
        }
    }
}

fn add_common_errors(operation: &mut Operation) {
    for (status, description) in COMMON_ERRORS {
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(*description)
                        .content(
                            "application/problem+json",
                            ContentBuilder::new()
                                .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                                .build(),
                        )
                        .build(),
                )
            });
    }
}
