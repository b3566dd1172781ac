//! Bearer API keys with scopes.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use super::error::ApiError;
use std::sync::Arc;

use crate::keys;
use crate::store::{ApiKeyRecord, Origin, Scope, Store};

/// The caller, authenticated by its key.
#[derive(Clone, Debug)]
pub struct Caller(pub ApiKeyRecord);

impl Caller {
    /// Refuses the request unless the key has one of `scopes`.
    pub fn require(&self, scopes: &[Scope]) -> Result<(), ApiError> {
        if self.0.scope == Scope::Admin || scopes.contains(&self.0.scope) {
            Ok(())
        } else {
            let wanted: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this key has scope `{}`; this request needs one of: admin, {}",
                    self.0.scope,
                    wanted.join(", ")
                ),
            ))
        }
    }

    /// How the engine sees events this caller sends.
    pub fn origin(&self) -> Origin {
        match self.0.scope {
            Scope::Admin => Origin::Operator,
            Scope::Reviewer => Origin::Reviewer,
            Scope::Pipeline => Origin::Pipeline,
        }
    }

    pub fn actor(&self) -> String {
        if self.0.label.is_empty() {
            format!("key:{}", self.0.id)
        } else {
            format!("key:{}", self.0.label)
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    Arc<dyn Store>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let store = Arc::<dyn Store>::from_ref(state);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let key = header.strip_prefix("Bearer ").ok_or_else(ApiError::unauthorized)?;
        let record = keys::authenticate(store.as_ref(), key).await?.ok_or_else(ApiError::unauthorized)?;
        Ok(Caller(record))
    }
}
