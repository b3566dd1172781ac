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
use crate::access::{self, Action};
use crate::engine::{Engine, EventRequest, StartRequest};
use crate::ids::InstanceId;
use crate::store::{InstanceRecord, ListFilter};

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
    caller.allow(Action::StartInstance)?;
    let mut input = body.input;
    if caller.is_partner() {
        partner_start(&caller, &body.workflow, &mut input)?;
    }
    let started = engine
        .start(StartRequest {
            workflow: body.workflow,
            input,
            idempotency_key: body.idempotency_key,
            actor: caller.actor(),
        })
        .await;
    let outcome = match started {
        Err(crate::engine::EngineError::InvalidInput(fields)) if caller.is_partner() => {
            return Err(crate::engine::EngineError::InvalidInput(withhold_addresses(fields)).into())
        }
        other => other?,
    };
    let status = if outcome.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(Summary { instance: &outcome.instance, replayed: outcome.replayed })).into_response())
}

pub async fn show(State(engine): State<Engine>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.allow(Action::ShowInstance)?;
    let id = parse_id(&id)?;
    let view = engine.view(id).await?;
    reach(&caller, &view.instance)?;
    if caller.is_partner() {
        let mut shown = serde_json::to_value(&view).map_err(|_| ApiError::internal())?;
        access::withhold_from_partner(&mut shown);
        return Ok(Json(shown).into_response());
    }
    Ok(Json(view).into_response())
}

/// What a partner key starts: only invitations its own partner asks for, sent by its own user
/// (filled in where the input leaves them out). Another partner's id answers as unknown.
fn partner_start(caller: &Caller, workflow: &str, input: &mut Value) -> Result<(), ApiError> {
    let partner = caller.principal().partner().map(|p| p.id).unwrap_or_default();
    let Some((_, owner)) = access::OWNER_FIELDS.iter().find(|(w, _)| *w == workflow) else {
        let allowed: Vec<&str> = access::OWNER_FIELDS.iter().map(|(w, _)| *w).collect();
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "workflow_not_allowed",
            format!("a partner key may start only {}; `{workflow}` is started by the operator", allowed.join(", ")),
        )
        .field("workflow"));
    };
    if !input.is_object() {
        return Ok(()); // the engine refuses it with its own message
    }
    let given = crate::workflow::field(input, owner).and_then(Value::as_str).map(str::to_owned);
    match given {
        None => set_path(input, owner, json!(partner.to_string())),
        Some(id) if id.trim().parse::<uuid::Uuid>().ok() == Some(partner) => {
            set_path(input, owner, json!(partner.to_string()))
        }
        Some(id) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no partner with id {}; a partner key asks only for its own partner", id.trim()),
            )
            .field(&format!("input.{owner}")))
        }
    }
    if let Some((_, sender)) = access::SENDER_FIELDS.iter().find(|(w, _)| *w == workflow) {
        let given = crate::workflow::field(input, sender).and_then(Value::as_str).map(str::to_owned);
        let by = caller.by(given.as_deref()).map_err(|err| err.field(&format!("input.{sender}")))?;
        set_path(input, sender, json!(by));
    }
    Ok(())
}

/// The start checks' refusals name who an invitation goes to (a reseller's global admins, a
/// customer's recorded contact). A partner key never sees another partner's people, so to it
/// they say where the invitation goes without the addresses.
fn withhold_addresses(fields: Vec<crate::workflow::FieldError>) -> Vec<crate::workflow::FieldError> {
    fields
        .into_iter()
        .map(|mut refused| {
            refused.message = match refused.code {
                "not_the_owner" => "the invitation goes to the reseller's global admins as the directory records \
                                    them; leave out `reseller.email`"
                    .to_owned(),
                "customer_contact_mismatch" => "this tenant is already a customer: an invitation goes only to its \
                                                recorded admin contact; leave out `customer.email`. If its admin \
                                                has changed, ask the operator to record the new contact"
                    .to_owned(),
                _ => refused.message,
            };
            refused
        })
        .collect()
}

/// Writes `value` at a dotted `path` of the object `input`, making the objects on the way.
fn set_path(input: &mut Value, path: &str, value: Value) {
    let mut at = input;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let Some(object) = at.as_object_mut() else { return };
        if segments.peek().is_none() {
            object.insert(segment.to_owned(), value);
            return;
        }
        at = object.entry(segment.to_owned()).or_insert_with(|| json!({}));
    }
}

/// Refuses, as unknown, an instance a partner key's partner does not own.
pub fn reach(caller: &Caller, instance: &InstanceRecord) -> Result<(), ApiError> {
    let Some(partner) = caller.principal().partner() else { return Ok(()) };
    if access::owner_of(instance.workflow.as_str(), &instance.context.0) == Some(partner.id) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_instance", format!("no instance with id {}", instance.id))
            .field("id"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    workflow: Option<String>,
    state: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    /// `active` or `finished`.
    status: Option<String>,
    /// Text the instance's context contains (a name, an email address, a domain).
    q: Option<String>,
}

pub async fn list(
    State(engine): State<Engine>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    caller.allow(Action::ListInstances)?;
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
    let owner = caller.principal().partner().map(|p| access::owned_by(p.id));
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<crate::store::InstanceStatus>().map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_status",
                format!("status must be `active` or `finished`, not `{text}`"),
            )
            .field("status")
        })?),
    };
    let filter =
        ListFilter { workflow: query.workflow, state: query.state, limit, offset, owner, status, search: query.q };
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
    caller.allow(Action::SendEvent)?;
    let id = parse_id(&id)?;
    if caller.is_partner() {
        let instance = engine.store().instance(id).await?.ok_or(crate::engine::EngineError::UnknownInstance(id))?;
        reach(&caller, &instance)?;
    }
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
