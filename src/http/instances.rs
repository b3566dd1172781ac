//! `/api/v1/instances`: start, read, list, send events.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::{ApiJson, ApiQuery};
use crate::engine::{Engine, EventRequest, StartRequest};
use crate::ids::InstanceId;
use crate::store::{InstanceRecord, ListFilter, Scope};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    workflow: String,
    #[serde(default = "empty_object")]
    input: Value,
    idempotency_key: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Serialize)]
struct Summary<'a> {
    #[serde(flatten)]
    instance: &'a InstanceRecord,
    replayed: bool,
}

pub async fn start(
    State(engine): State<Engine>,
    caller: Caller,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline])?;
    let outcome = engine
        .start(StartRequest {
            workflow: body.workflow,
            input: body.input,
            idempotency_key: body.idempotency_key,
            actor: caller.actor(),
        })
        .await?;
    let status = if outcome.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(Summary { instance: &outcome.instance, replayed: outcome.replayed })).into_response())
}

pub async fn show(State(engine): State<Engine>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let id = parse_id(&id)?;
    Ok(Json(engine.view(id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    workflow: Option<String>,
    state: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn list(
    State(engine): State<Engine>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
            "limit must be between 1 and 500",
        )
        .field("limit"));
    }
    let offset = query.offset.unwrap_or(0).max(0);
    let filter = ListFilter { workflow: query.workflow, state: query.state, limit, offset };
    let items = engine.store().list_instances(&filter).await?;
    let next_offset = (items.len() as i64 == limit).then_some(offset + limit);
    Ok(Json(json!({ "items": items, "next_offset": next_offset })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    event: String,
    #[serde(default)]
    data: Value,
    idempotency_key: Option<String>,
}

pub async fn event(
    State(engine): State<Engine>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EventBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let id = parse_id(&id)?;
    let request = EventRequest {
        event: body.event,
        data: body.data,
        idempotency_key: body.idempotency_key,
        origin: caller.origin(),
        actor: caller.actor(),
    };
    let outcome = engine.apply(id, request).await?;
    Ok(Json(outcome).into_response())
}

fn parse_id(text: &str) -> Result<InstanceId, ApiError> {
    text.parse()
        .map_err(|message: String| ApiError::new(StatusCode::NOT_FOUND, "unknown_instance", message).field("id"))
}
