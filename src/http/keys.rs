//! `/api/v1/keys`: create, list and revoke API keys (admin keys only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::{ApiJson, Directory};
use crate::access::Action;
use crate::clock::Timestamp;
use crate::keys::{self, CreateError, KeyHolder, NewKey};
use crate::store::{ApiKeyRecord, Scope};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// admin, reviewer or pipeline; not with `partner`.
    scope: Option<String>,
    /// A partner key: the partner and the user it acts as.
    partner: Option<uuid::Uuid>,
    user: Option<String>,
    #[serde(default)]
    label: String,
    /// How long the key lives, such as `90d` or `12h`; left out: until revoked.
    expires: Option<String>,
}

/// A key as listings show it: never its hash.
#[derive(Serialize)]
pub struct KeyView<'a> {
    id: uuid::Uuid,
    kind: &'static str,
    scope: Scope,
    partner: Option<uuid::Uuid>,
    user: Option<&'a str>,
    label: &'a str,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

impl<'a> KeyView<'a> {
    pub fn of(key: &'a ApiKeyRecord) -> Self {
        Self {
            id: key.id,
            kind: if key.scope == Scope::Partner { "partner" } else { "operator" },
            scope: key.scope,
            partner: key.partner_id,
            user: key.user_email.as_deref(),
            label: &key.label,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
        }
    }
}

impl From<CreateError> for ApiError {
    fn from(err: CreateError) -> Self {
        match err {
            CreateError::Refused { code, field, message } => {
                let status =
                    if code == "unknown_partner" { StatusCode::NOT_FOUND } else { StatusCode::UNPROCESSABLE_ENTITY };
                ApiError::new(status, code, message).field(field)
            }
            CreateError::Store(store) => ApiError::from(store),
        }
    }
}

fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).field(field)
}

/// Parses `90d`, `12h`, `30m`: how long a key lives.
pub fn parse_lifetime(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|_| format!("`{text}` is not a duration such as 90d, 12h or 30m"))?;
    if duration.is_zero() {
        return Err("a key's lifetime must be longer than zero".into());
    }
    Ok(duration)
}

/// Creates a key; the answer holds the key, once.
pub async fn create(
    State(directory): State<Directory>,
    caller: Caller,
    ApiJson(body): ApiJson<NewKeyBody>,
) -> Result<Response, ApiError> {
    caller.allow(Action::CreateKey)?;
    let holder = match (body.scope, body.partner, body.user) {
        (Some(_), Some(_), _) => {
            return Err(invalid("scope", "invalid_scope", "a partner key takes `partner` and `user`, not `scope`"))
        }
        (Some(scope), None, None) => {
            let scope: Scope = scope.parse().map_err(|m: String| invalid("scope", "invalid_scope", m))?;
            KeyHolder::Operator(scope)
        }
        (None, Some(partner), Some(user)) => KeyHolder::Partner { partner, user },
        (None, Some(_), None) => return Err(invalid("user", "required", "a partner key needs the `user` it acts as")),
        _ => {
            return Err(invalid(
                "scope",
                "required",
                "give `scope` (admin, reviewer, pipeline) or `partner` and `user` for a partner key",
            ))
        }
    };
    let expires_in = body
        .expires
        .as_deref()
        .map(parse_lifetime)
        .transpose()
        .map_err(|m| invalid("expires", "invalid_expires", m))?;
    let new = NewKey { holder, label: body.label, expires_in };
    let (key, record) = keys::create(directory.store.as_ref(), &new, directory.now()).await?;
    let mut view = json!(KeyView::of(&record));
    view["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Every key, without its secret.
pub async fn list(State(directory): State<Directory>, caller: Caller) -> Result<Response, ApiError> {
    caller.allow(Action::ListKeys)?;
    let keys = directory.store.api_keys().await?;
    let items: Vec<KeyView<'_>> = keys.iter().map(KeyView::of).collect();
    Ok(Json(json!({ "items": items })).into_response())
}

/// Revokes a key: it answers 401 `key_revoked` from its next request on.
pub async fn revoke(
    State(directory): State<Directory>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.allow(Action::RevokeKey)?;
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "unknown_key", format!("no key with id {id}")).field("id");
    let key_id: uuid::Uuid = id.trim().parse().map_err(|_| unknown())?;
    match directory.store.revoke_api_key(key_id, directory.now()).await? {
        None => Err(unknown()),
        Some(revoked) => {
            Ok(Json(json!({ "id": key_id, "revoked": true, "already_revoked": !revoked })).into_response())
        }
    }
}
