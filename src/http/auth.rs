//! Bearer API keys: who the caller is ([`Principal`]) and what the table lets them do.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use super::error::ApiError;
use super::Directory;

use crate::access::{self, Action, Principal};
use crate::keys::{self, Refused};
use crate::store::Scope;

/// The caller, authenticated by its key; a partner key's user and roles read afresh.
#[derive(Clone, Debug)]
pub struct Caller(pub Principal);

impl Caller {
    /// Refuses the request unless the table lets the caller take `action`.
    pub fn allow(&self, action: Action) -> Result<(), ApiError> {
        access::check(&self.0, action)
            .map_err(|denied| ApiError::new(StatusCode::FORBIDDEN, denied.code, denied.message))
    }

    pub fn principal(&self) -> &Principal {
        &self.0
    }

    /// Refuses (404, as if it did not exist) what belongs to another partner than a partner
    /// key's own; `what` names it in the message.
    pub fn reach(&self, partner: uuid::Uuid, field: &str, what: &str) -> Result<(), ApiError> {
        if self.0.reaches(partner) {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no {what} with id {partner}")).field(field))
        }
    }

    /// The person a command is done by. A partner key acts as its user: a `by` naming someone
    /// else is refused (`actor_mismatch`). An operator key names the person in `by`, which the
    /// command then checks against the directory.
    pub fn by(&self, by: Option<&str>) -> Result<String, ApiError> {
        let by = by.map(str::trim).filter(|b| !b.is_empty());
        match (self.0.user(), by) {
            (Some(user), None) => Ok(user.to_owned()),
            (Some(user), Some(by)) if by.eq_ignore_ascii_case(user) => Ok(user.to_owned()),
            (Some(user), Some(by)) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "actor_mismatch",
                format!("this key acts as {user}; it cannot act as {by} (leave `by` out, or name {user})"),
            )
            .field("by")),
            (None, Some(by)) => Ok(by.to_owned()),
            (None, None) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "by_required",
                "an operator key must name the partner's user doing this in `by`",
            )
            .field("by")),
        }
    }

    /// How the engine sees events this caller sends.
    pub fn origin(&self) -> crate::store::Origin {
        self.0.origin()
    }

    /// Who the history records.
    pub fn actor(&self) -> String {
        self.0.actor()
    }

    /// The audit log's actor for a command done by `user`.
    pub fn audit_actor(&self, user: &str) -> crate::directory::Actor {
        crate::directory::Actor::new(user, self.0.name())
    }

    pub fn is_partner(&self) -> bool {
        self.0.partner().is_some()
    }
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

impl<S> FromRequestParts<S> for Caller
where
    Directory: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let directory = Directory::from_ref(state);
        let store = directory.store.as_ref();
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let key = header.strip_prefix("Bearer ").ok_or_else(ApiError::unauthorized)?;
        let key = match keys::authenticate(store, key, directory.now()).await? {
            Ok(key) => key,
            Err(Refused::Unknown) => return Err(ApiError::unauthorized()),
            Err(Refused::Revoked) => {
                return Err(unauthorized("key_revoked", "this key was revoked; ask an admin for a new one"))
            }
            Err(Refused::Expired) => {
                return Err(unauthorized("key_expired", "this key has expired; ask an admin for a new one"))
            }
        };
        let principal = match (key.scope, key.partner_id, key.user_email.clone()) {
            (Scope::Partner, Some(partner_id), Some(email)) => {
                let gone = || {
                    unauthorized(
                        "key_user_removed",
                        "the user this key acts as is no longer a user of its partner; ask an admin for a new key",
                    )
                };
                let partner = store.partner(partner_id).await?.ok_or_else(gone)?;
                let users = store.partner_users(partner_id).await?;
                let user = keys::user_of(&users, &email).cloned().ok_or_else(gone)?;
                Principal::Partner { key, partner: Box::new(partner), user: Box::new(user) }
            }
            (Scope::Partner, _, _) => return Err(ApiError::unauthorized()),
            _ => Principal::Operator { key },
        };
        Ok(Caller(principal))
    }
}
