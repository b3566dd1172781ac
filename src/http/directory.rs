//! `/api/v1/partners`: the partner directory.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::ApiQuery;
use crate::directory::PartnerKind;
use crate::engine::Engine;
use crate::store::Scope;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnersQuery {
    kind: Option<String>,
}

/// Partners with their users and roles.
pub async fn partners(
    State(engine): State<Engine>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PartnersQuery>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let kind =
        query.kind.map(|k| k.parse::<PartnerKind>()).transpose().map_err(|message| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_kind", message).field("kind")
        })?;
    let mut items = Vec::new();
    for partner in engine.store().partners(kind).await? {
        let users = engine.store().partner_users(partner.id).await?;
        let mut item = json!(partner);
        item["users"] = json!(users);
        items.push(item);
    }
    Ok(Json(json!({ "items": items })).into_response())
}
