//! Files sent with messages: uploaded on their own
//! (`POST /v1/attachments`, the raw bytes as the body), then named by id in
//! `POST /v1/communications`' `attachments`. The bytes never go into an
//! event (a message records each file's id, SHA-256, type and size); they
//! are stored sealed in the `attachments` table (`event_store::attachments`)
//! with the data key of the customer they are for, so forgetting the
//! customer erases them, or with the file's own key.
//!
//! Reading a file's bytes needs the right to write messages; a caller who
//! may only read them (auditors, by default) sees its metadata without the
//! file name.

use api_common::authz::{self, Action, RecordOwnership, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiQuery, ApiResult, PathId};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use event_store::attachments::{self, AttachmentError, AttachmentInfo, NewAttachment};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::CommandState;
use crate::context::CommandContext;

/// The upload path (its body limit is `CRM_MAX_ATTACHMENT_BYTES`, not
/// `CRM_MAX_BODY_BYTES`).
pub const UPLOAD_PATH: &str = "/v1/attachments";
/// The longest file name, in characters.
pub const MAX_FILE_NAME: usize = 255;

/// An upload's parameters (the file itself is the body).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The name the recipient sees (no path).
    #[param(example = "quote-2031.pdf")]
    pub file_name: String,
    /// The customer it is for: sealed with their key (forgetting them
    /// erases it) and only sent to them. Without one, the file is for anyone.
    #[serde(default)]
    pub customer_id: Option<Uuid>,
}

/// A stored file.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: Uuid,
    /// `null` for a caller who may not read the file, or once the customer
    /// it was for was forgotten (then its bytes are gone too).
    pub file_name: Option<String>,
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    pub customer_id: Option<Uuid>,
    pub uploaded_by: Uuid,
    pub uploaded_at: DateTime<Utc>,
}

impl AttachmentView {
    fn new(info: AttachmentInfo, file_name: Option<String>) -> Self {
        Self {
            id: info.attachment_id,
            file_name,
            content_type: info.content_type,
            size: info.size.max(0) as u64,
            sha256: info.sha256,
            customer_id: info.customer_id,
            uploaded_by: info.uploaded_by,
            uploaded_at: info.uploaded_at,
        }
    }
}

fn file_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let problem = |why: &str| ApiError::invalid_field("file_name", why.to_owned());
    if name.is_empty() {
        return Err(problem("must not be empty"));
    }
    if name.chars().count() > MAX_FILE_NAME {
        return Err(problem("must be at most 255 characters"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(problem("a file name, without a path or control characters"));
    }
    if name == "." || name == ".." {
        return Err(problem("a file name, not a directory"));
    }
    Ok(name.to_owned())
}

fn content_type(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok("application/octet-stream".to_owned());
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .map(|m| m.to_string())
        .ok_or_else(|| {
            ApiError::bad_field(
                "Content-Type",
                "must be a media type such as application/pdf",
            )
        })
}

fn store_error(e: AttachmentError) -> ApiError {
    match e {
        AttachmentError::Erased => ApiError::conflict(
            "customer.forgotten",
            "the customer's personal data was forgotten: nothing can be stored for them",
        ),
        other => ApiError::internal(other),
    }
}

/// Who may write messages with the file (and so read it): for a
/// customer's, whoever may write to that customer.
async fn ownership(
    state: &CommandState,
    ctx: &CommandContext,
    customer: Option<Uuid>,
) -> ApiResult<Option<RecordOwnership>> {
    Ok(match customer {
        Some(customer) => Some(RecordOwnership {
            assigned_to: crate::communications::customer_owner(state, ctx, customer).await?,
            created_by: None,
            location_id: None,
        }),
        None => authz::unowned(),
    })
}

#[utoipa::path(
    post, path = "/v1/attachments", tag = "communications",
    params(UploadParams, ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes (its own `Content-Type`, e.g. application/pdf); at most `CRM_MAX_ATTACHMENT_BYTES` (10 MiB)"),
    responses(
        (status = 201, description = "Stored (sealed); name its id in a message's `attachments`", body = AttachmentView),
        (status = 400, description = "A malformed Content-Type", body = api_common::Problem),
        (status = 403, description = "Not allowed (sales: for their own customers; crew: none)", body = api_common::Problem),
        (status = 409, description = "`customer.forgotten`", body = api_common::Problem),
        (status = 413, description = "Larger than `CRM_MAX_ATTACHMENT_BYTES`", body = api_common::Problem),
        (status = 422, description = "An empty body, a bad file name, or a customer not in this tenant (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn upload(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let file_name = file_name(&params.file_name)?;
    let content_type = content_type(&headers)?;
    if let Some(customer) = params.customer_id {
        let customer: aggregates::customer::Customer =
            crate::communications::referenced(&state, &ctx, "customer_id", customer).await?;
        if customer.forgotten {
            return Err(store_error(AttachmentError::Erased));
        }
    }
    authz::authorize(
        &ctx.principal,
        Resource::Communication,
        Action::Create,
        ownership(&state, &ctx, params.customer_id).await?,
    )?;
    // The body limit (CRM_MAX_ATTACHMENT_BYTES) is applied around the
    // routes: a larger body ends in an error here.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| api_common::extract::read_error(&e))?;
    if bytes.is_empty() {
        return Err(ApiError::invalid_field("body", "the file is empty"));
    }
    let id = Uuid::now_v7();
    let info = attachments::put(
        &state.pool,
        &state.keystore,
        NewAttachment {
            tenant: ctx.principal.tenant.as_str(),
            attachment_id: id,
            customer_id: params.customer_id,
            file_name: &file_name,
            content_type: &content_type,
            bytes: &bytes,
            uploaded_by: ctx.principal.user_id,
            uploaded_at: ctx.now,
        },
    )
    .await
    .map_err(store_error)?;
    tracing::info!(%id, size = info.size, "attachment stored");
    let location = format!("{UPLOAD_PATH}/{id}");
    let mut response = (
        StatusCode::CREATED,
        Json(AttachmentView::new(info, Some(file_name))),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    Ok(response)
}

/// The file `id` of the caller's tenant and whether the caller may read
/// its bytes; another tenant's is a 404, one outside the caller's scope a
/// 403.
async fn visible(
    state: &CommandState,
    ctx: &CommandContext,
    id: Uuid,
) -> ApiResult<(AttachmentInfo, Option<String>, bool)> {
    let not_found = || ApiError::not_found(format!("attachment {id}"));
    let (info, name) = attachments::described(
        &state.pool,
        &state.keystore,
        ctx.principal.tenant.as_str(),
        id,
    )
    .await
    .map_err(store_error)?
    .ok_or_else(not_found)?;
    let owner = ownership(state, ctx, info.customer_id).await?;
    authz::authorize(
        &ctx.principal,
        Resource::Communication,
        Action::Read,
        owner.clone(),
    )?;
    let reads_content = authz::authorize(
        &ctx.principal,
        Resource::Communication,
        Action::Create,
        owner,
    )
    .is_ok();
    Ok((info, name, reads_content))
}

#[utoipa::path(
    get, path = "/v1/attachments/{id}", tag = "communications",
    params(("id" = Uuid, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The file's metadata (its name only for a caller who may write messages with it)", body = AttachmentView),
        (status = 404, description = "No such file in this tenant", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn describe(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
) -> ApiResult<Json<AttachmentView>> {
    let (info, name, reads_content) = visible(&state, &ctx, id).await?;
    Ok(Json(AttachmentView::new(
        info,
        name.filter(|_| reads_content),
    )))
}

#[utoipa::path(
    get, path = "/v1/attachments/{id}/content", tag = "communications",
    params(("id" = Uuid, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The file's bytes, with its type and name (`Content-Disposition: attachment`)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, description = "The caller may read messages' metadata only", body = api_common::Problem),
        (status = 404, description = "No such file in this tenant", body = api_common::Problem),
        (status = 410, description = "Erased: the customer it was for was forgotten", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn content(
    State(state): State<CommandState>,
    ctx: CommandContext,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let (_, _, reads_content) = visible(&state, &ctx, id).await?;
    if !reads_content {
        return Err(ApiError::forbidden(
            "reading a file needs the right to write messages; its metadata is at /v1/attachments/{id}",
        ));
    }
    let opened = match attachments::opened(
        &state.pool,
        &state.keystore,
        ctx.principal.tenant.as_str(),
        id,
    )
    .await
    {
        Ok(Some(opened)) => opened,
        Ok(None) => return Err(ApiError::not_found(format!("attachment {id}"))),
        Err(AttachmentError::Erased) => {
            return Err(ApiError::gone(
                "the file was erased: the customer it was for was forgotten",
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let mut response = opened.bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&opened.info.content_type) {
        headers.insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&opened.file_name)) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `attachment` with the name as an ASCII fallback and RFC 5987's UTF-8
/// `filename*`.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .checked_routes(routes!(upload))
        .checked_routes(routes!(describe))
        .checked_routes(routes!(content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_names_not_paths() {
        assert_eq!(file_name("  quote.pdf ").unwrap(), "quote.pdf");
        for bad in [
            "",
            "  ",
            "../etc/passwd",
            "a\\b",
            "a\nb",
            "..",
            &"x".repeat(256),
        ] {
            assert!(file_name(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(file_name(&"é".repeat(255)).is_ok());
    }

    #[test]
    fn content_disposition_quotes_nothing_it_should_not() {
        assert_eq!(
            content_disposition("devis été \"final\".pdf"),
            "attachment; filename=\"devis _t_ _final_.pdf\"; filename*=UTF-8''devis%20%C3%A9t%C3%A9%20%22final%22.pdf"
        );
    }
}
