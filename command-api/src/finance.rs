//! Manual ledger entries: expenses, transfers, adjustments and other income
//! entered by hand (payments, refunds and credit notes reach the ledger by
//! themselves).

use aggregates::finance::FinancialTransaction;
use aggregates::finance::{
    FinancialTransactionAction, FinancialTransactionCommand, RecordTransaction,
};
use aggregates::invoice::Invoice;
use api_common::authz::{self, Action, Resource};
use api_common::openapi::CheckedRoutes;
use api_common::{ApiError, ApiJson, ApiResult};
use axum::extract::State;
use axum::response::Response;
use chrono::NaiveDate;
use event_schemas::money::FinancialTransactionType;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::{CommandResponse, CommandState, created};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordTransactionRequest {
    #[serde(rename = "type")]
    pub transaction_type: FinancialTransactionType,
    /// More than 0; an ADJUSTMENT may be negative (never 0).
    #[schema(value_type = String, example = "182.40", pattern = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$")]
    pub amount: Decimal,
    /// ISO 4217; `CAD` by default.
    #[serde(default)]
    pub currency: Option<String>,
    #[schema(example = "Diesel, truck 3")]
    pub description: String,
    #[schema(example = "fuel")]
    pub category: String,
    #[serde(default)]
    pub subcategory: Option<String>,
    /// A receipt or statement reference.
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Default: today.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub transaction_date: Option<NaiveDate>,
    #[serde(default)]
    pub invoice_id: Option<Uuid>,
    #[serde(default)]
    pub journey_id: Option<Uuid>,
}

#[utoipa::path(
    post, path = "/v1/financial-transactions", tag = "ledger",
    request_body = RecordTransactionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    responses(
        (status = 201, description = "Entry recorded", body = CommandResponse),
        (status = 422, description = "Invalid field (named)", body = api_common::Problem),
    ),
    security(("bearer" = []))
)]
async fn record(
    State(state): State<CommandState>,
    ctx: CommandContext,
    ApiJson(body): ApiJson<RecordTransactionRequest>,
) -> ApiResult<Response> {
    authz::authorize(
        &ctx.principal,
        Resource::FinancialTransaction,
        Action::Create,
        None,
    )?;
    if let Some(invoice) = body.invoice_id
        && state
            .store::<Invoice>()
            .find(&ctx.principal.tenant, invoice)
            .await?
            .is_none()
    {
        return Err(ApiError::invalid_field(
            "invoice_id",
            "no invoice with this id",
        ));
    }
    let id = Uuid::now_v7();
    let command = FinancialTransactionCommand {
        at: ctx.now,
        actor: ctx.principal.user_id,
        action: FinancialTransactionAction::Record(RecordTransaction {
            transaction_id: id,
            tenant_id: ctx.principal.tenant.clone(),
            transaction_type: body.transaction_type,
            amount: body.amount,
            currency: body.currency,
            description: body.description,
            category: body.category,
            subcategory: body.subcategory,
            reference: body.reference,
            notes: body.notes,
            tags: body.tags,
            transaction_date: body.transaction_date,
            invoice_id: body.invoice_id,
            journey_id: body.journey_id,
        }),
    };
    let committed =
        crate::act::create(&state.store::<FinancialTransaction>(), &ctx, id, command).await?;
    Ok(created(
        &format!("/v1/financial-transactions/{}", committed.id),
        committed,
    ))
}

/// This module's routes (each handler is private: one left out of here is
/// dead code, which the build refuses).
pub(crate) fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new().checked_routes(routes!(record))
}
