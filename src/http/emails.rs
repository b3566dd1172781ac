//! `/api/v1/emails`: emails by status (`draft`, `queued`, `sending`, `sent`, `failed`,
//! `cancelled`), drafts (read, edit, release) and failed emails (retry). An email of an instance
//! that has ended is refused release and retry (`instance_finished`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::{ApiJson, ApiQuery};
use crate::access::{self, Action};
use crate::delivery::drafts::{self, DraftEdit, DraftError};
use crate::engine::Engine;
use crate::ids::OutboxId;
use crate::mail::links;
use crate::store::{EmailRecord, EmailStatus};

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
            DraftError::NotDraft { .. } | DraftError::NotFailed { .. } | DraftError::InstanceFinished { .. } => {
                StatusCode::CONFLICT
            }
            DraftError::LinkChanged { .. }
            | DraftError::UrlNotAllowed { .. }
            | DraftError::Empty(_)
            | DraftError::Field(_) => StatusCode::UNPROCESSABLE_ENTITY,
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
    caller.allow(Action::ListEmails)?;
    let status: EmailStatus = query.status.parse().map_err(|message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_status", message).field("status")
    })?;
    let owner = caller.principal().partner().map(|p| access::owned_by(p.id));
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let emails = engine.store().emails_by_status(status, limit, owner.as_ref()).await?;
    let items: Vec<EmailView<'_>> = emails.iter().map(|e| EmailView { email: e, text: None, html: None }).collect();
    if caller.is_partner() {
        // Recipients the directory chose are withheld from a partner key's list.
        let mut items = serde_json::to_value(&items).map_err(|_| ApiError::internal())?;
        for item in items.as_array_mut().into_iter().flatten() {
            access::withhold_recipient(item, &[]);
        }
        return Ok(Json(json!({ "items": items })).into_response());
    }
    Ok(Json(json!({ "items": items })).into_response())
}

pub async fn show(State(engine): State<Engine>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.allow(Action::ShowEmail)?;
    let email = reached(&engine, &caller, parse_id(&id)?).await?;
    respond(&engine, &caller, email).await
}

/// Edits a draft. A partner key sees its links withheld as `[[link:ACTION]]` and keeps them so.
pub async fn edit(
    State(engine): State<Engine>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(mut body): ApiJson<DraftEdit>,
) -> Result<Response, ApiError> {
    caller.allow(Action::EditEmail)?;
    let email = reached(&engine, &caller, parse_id(&id)?).await?;
    if caller.is_partner() {
        let withheld = withheld(&engine, &email).await?;
        for part in [&mut body.text, &mut body.html].into_iter().flatten() {
            for (url, placeholder) in &withheld {
                *part = part.replace(placeholder, url);
            }
        }
    }
    let email = drafts::edit(&engine, email.id, body).await?;
    respond(&engine, &caller, email).await
}

pub async fn release(
    State(engine): State<Engine>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.allow(Action::ReleaseEmail)?;
    let email = reached(&engine, &caller, parse_id(&id)?).await?;
    let email = drafts::release(&engine, email.id).await?;
    respond(&engine, &caller, email).await
}

/// The email, if the caller may see it: a partner key only its own instances' (404 otherwise).
async fn reached(engine: &Engine, caller: &Caller, id: OutboxId) -> Result<EmailRecord, ApiError> {
    let email = engine.store().email(id).await?.ok_or_else(|| ApiError::from(DraftError::Unknown(id)))?;
    if let Some(partner) = caller.principal().partner() {
        let instance = engine.store().instance(email.instance_id).await?;
        let owner = instance.and_then(|i| access::owner_of(i.workflow.as_str(), &i.context.0));
        if owner != Some(partner.id) {
            return Err(DraftError::Unknown(id).into());
        }
    }
    Ok(email)
}

/// The personalised links of `email` and the placeholders a partner key sees instead: a link
/// proves that its recipient clicked it, so the partner asking for consent never holds one.
async fn withheld(engine: &Engine, email: &EmailRecord) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for url in links::find_in(&email.text_body, engine.public_url()) {
        let token = url.rsplit('/').next().unwrap_or_default();
        let action =
            engine.store().link(&links::hash_token(token)).await?.map_or_else(|| "link".to_owned(), |l| l.action);
        pairs.push((url, format!("[[link:{action}]]")));
    }
    Ok(pairs)
}

async fn respond(engine: &Engine, caller: &Caller, mut email: EmailRecord) -> Result<Response, ApiError> {
    if !caller.is_partner() {
        return Ok(Json(EmailView::of(&email)).into_response());
    }
    for (url, placeholder) in withheld(engine, &email).await? {
        email.text_body = email.text_body.replace(&url, &placeholder);
        email.html_body = email.html_body.map(|html| html.replace(&url, &placeholder));
    }
    let given = match engine.store().instance(email.instance_id).await? {
        Some(instance) => access::given_addresses(&instance.context.0),
        None => Vec::new(),
    };
    let mut shown = serde_json::to_value(EmailView::of(&email)).map_err(|_| ApiError::internal())?;
    access::withhold_recipient(&mut shown, &given);
    Ok(Json(shown).into_response())
}

pub async fn retry(State(engine): State<Engine>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.allow(Action::RetryEmail)?;
    let email = drafts::retry(&engine, parse_id(&id)?).await?;
    Ok(Json(json!({ "id": email.id, "status": email.status })).into_response())
}
