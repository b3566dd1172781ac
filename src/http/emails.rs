//! `/api/v1/emails`: drafts (read, edit, release) and failed emails (retry).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::{ApiJson, ApiQuery};
use crate::delivery::drafts::{self, DraftEdit, DraftError};
use crate::engine::Engine;
use crate::ids::OutboxId;
use crate::store::{EmailRecord, EmailStatus, Scope};

/// An email as the API shows it: bodies only while it is a draft (afterwards they hold live
/// personalised links).
#[derive(Serialize)]
pub struct EmailView<'a> {
    #[serde(flatten)]
    email: &'a EmailRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<&'a str>,
}

impl<'a> EmailView<'a> {
    pub fn of(email: &'a EmailRecord) -> Self {
        let draft = email.status == EmailStatus::Draft;
        Self {
            email,
            text: draft.then_some(email.text_body.as_str()),
            html: if draft { email.html_body.as_deref() } else { None },
        }
    }
}

impl From<DraftError> for ApiError {
    fn from(err: DraftError) -> Self {
        let status = match &err {
            DraftError::Unknown(_) => StatusCode::NOT_FOUND,
            DraftError::NotDraft { .. } => StatusCode::CONFLICT,
            DraftError::LinkChanged { .. } | DraftError::Empty(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DraftError::Store(store) => return ApiError::from_store(store),
        };
        let mut api = ApiError::new(status, err.code(), err.to_string());
        if let Some(field) = err.field() {
            api = api.field(field);
        }
        api
    }
}

fn parse_id(text: &str) -> Result<OutboxId, ApiError> {
    text.parse().map_err(|message: String| ApiError::new(StatusCode::NOT_FOUND, "unknown_email", message).field("id"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: String,
    limit: Option<i64>,
}

pub async fn list(
    State(engine): State<Engine>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let status: EmailStatus = query.status.parse().map_err(|message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_status", message).field("status")
    })?;
    let emails = engine.store().emails_by_status(status, query.limit.unwrap_or(100).clamp(1, 1000)).await?;
    let items: Vec<EmailView<'_>> = emails.iter().map(|e| EmailView { email: e, text: None, html: None }).collect();
    Ok(Json(json!({ "items": items })).into_response())
}

pub async fn show(State(engine): State<Engine>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline])?;
    let id = parse_id(&id)?;
    let email = engine.store().email(id).await?.ok_or_else(|| ApiError::from(DraftError::Unknown(id)))?;
    Ok(Json(EmailView::of(&email)).into_response())
}

pub async fn edit(
    State(engine): State<Engine>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DraftEdit>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline])?;
    let email = drafts::edit(&engine, parse_id(&id)?, body).await?;
    Ok(Json(EmailView::of(&email)).into_response())
}

pub async fn release(
    State(engine): State<Engine>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline])?;
    let email = drafts::release(&engine, parse_id(&id)?).await?;
    Ok(Json(EmailView::of(&email)).into_response())
}

/// Puts a failed email back in the queue (operators, after fixing what the server refused).
pub async fn retry(State(engine): State<Engine>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&[])?;
    let id = parse_id(&id)?;
    let Some(email) = engine.store().email(id).await? else {
        return Err(DraftError::Unknown(id).into());
    };
    if !engine.store().retry_email(id, engine.now()).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "email_not_failed",
            format!("email {id} is {}, not failed: only failed emails can be retried", email.status),
        ));
    }
    Ok(Json(json!({ "id": id, "status": EmailStatus::Queued })).into_response())
}
