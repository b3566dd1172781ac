//! `/console`: the reviewers' web console. Server-rendered pages (Tera, `templates/pages/console`),
//! every action a plain form POST, no script and no asset from elsewhere. A reviewer signs in
//! with a reviewer (or admin) key and gets a session: a random token in an HttpOnly,
//! SameSite=Strict cookie (only its hash is stored) and a CSRF token that every form carries.

mod views;
pub mod when;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::error;

use crate::engine::Engine;
use crate::store::{ApiKeyRecord, Scope, SessionRecord};

const COOKIE: &str = "accord_session";

/// The sign-in form's CSRF token, repeated by the form (a double-submit cookie): another site
/// cannot read it, so it cannot sign a browser in with a key of its own choosing.
const SIGN_IN_COOKIE: &str = "accord_sign_in";

/// How long a sign-in lasts.
const SESSION_HOURS: u64 = 12;

pub fn router() -> Router<crate::http::AppState> {
    Router::new()
        .route("/console", get(views::queue))
        .route("/console/login", get(views::login_page).post(views::login))
        .route("/console/logout", post(views::logout))
        .route("/console/instances", get(views::instances))
        .route("/console/instances/{id}", get(views::instance))
        .route("/console/instances/{id}/decisions", post(views::decide))
        .route("/console/instances/{id}/signals/{event}", get(views::confirm_signal).post(views::signal))
        .route("/console/emails", get(views::emails))
        .route("/console/emails/{id}", get(views::email).post(views::edit_email))
        .route("/console/emails/{id}/release", post(views::release_email))
        .route("/console/emails/{id}/retry", post(views::retry_email))
        .route("/console/partners", get(views::partners))
        .route("/console/partners/{id}", get(views::partner))
        .route("/console/partners/{id}/users/{email}/roles", post(views::set_roles))
}

/// A signed-in reviewer.
pub struct Reviewer {
    pub key: ApiKeyRecord,
    pub session: SessionRecord,
}

impl Reviewer {
    /// Who decisions and signals are recorded as: `reviewer:<label>`, or `admin:<label>` for an
    /// admin key (the key's id when it has no label).
    pub fn actor(&self) -> String {
        let role = if self.key.scope == Scope::Admin { "admin" } else { "reviewer" };
        if self.key.label.is_empty() {
            format!("{role}:{}", self.key.id)
        } else {
            format!("{role}:{}", self.key.label)
        }
    }

    /// Whether a form carries this session's CSRF token.
    /// Refuses, with a page saying why, what the authorisation table does not let this key do
    /// in the console (a reviewer decides; editing, releasing and retrying emails is an admin's).
    pub fn refusal(&self, engine: &Engine, action: crate::access::Action) -> Option<Response> {
        let principal = crate::access::Principal::Operator { key: self.key.clone() };
        crate::access::check(&principal, action).err().map(|denied| {
            let context = serde_json::json!({ "title": "Not allowed", "message": denied.message });
            page(engine, StatusCode::FORBIDDEN, "message", context)
        })
    }

    /// Whether the table lets this key take `action` (to show or hide its button).
    pub fn may(&self, action: crate::access::Action) -> bool {
        crate::access::check(&crate::access::Principal::Operator { key: self.key.clone() }, action).is_ok()
    }

    pub fn csrf_ok(&self, form_token: Option<&String>) -> bool {
        same_token(form_token.map(String::as_str), Some(&self.session.csrf))
    }
}

/// Whether a form's token is the expected one, compared in constant time (how long a wrong
/// guess takes says nothing of how close it came). Empty or missing tokens never match.
fn same_token(given: Option<&str>, expected: Option<&str>) -> bool {
    match (given, expected) {
        (Some(given), Some(expected)) if !given.is_empty() && !expected.is_empty() => {
            bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    }
}

/// The answer to a form without the session's CSRF token.
fn csrf_refused() -> Response {
    (StatusCode::FORBIDDEN, Html("This form has expired. Go back, reload the page and try again.".to_owned()))
        .into_response()
}

impl<S> FromRequestParts<S> for Reviewer
where
    crate::http::Directory: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let directory = crate::http::Directory::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(COOKIE).map(|c| c.value().to_owned()) else {
            return Err(Redirect::to("/console/login").into_response());
        };
        match directory.store.session(&hash(&token), directory.now()).await {
            Ok(Some((session, key))) if matches!(key.scope, Scope::Reviewer | Scope::Admin) => {
                Ok(Reviewer { key, session })
            }
            Ok(_) => Err(Redirect::to("/console/login").into_response()),
            Err(err) => {
                error!(error = %err, "reading a console session failed");
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    Html("The database is unavailable; try again shortly.".to_owned()),
                )
                    .into_response())
            }
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Starts a session for `key`: the cookie to set.
async fn start_session(engine: &Engine, key: &ApiKeyRecord) -> Result<Cookie<'static>, crate::store::StoreError> {
    let token = random_token();
    let now = engine.now();
    let session = SessionRecord {
        hash: hash(&token),
        key_id: key.id,
        csrf: random_token(),
        created_at: now,
        expires_at: now.plus(std::time::Duration::from_secs(SESSION_HOURS * 3600)),
    };
    engine.store().create_session(&session).await?;
    let secure = engine.public_url().starts_with("https://");
    Ok(Cookie::build((COOKIE, token))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build())
}

/// The cookie that carries the sign-in form's CSRF token; HttpOnly and SameSite=Strict like
/// the session's, and sent back only to the sign-in form.
fn sign_in_cookie(engine: &Engine, token: String) -> Cookie<'static> {
    Cookie::build((SIGN_IN_COOKIE, token))
        .path("/console/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(engine.public_url().starts_with("https://"))
        .build()
}

/// Renders `templates/pages/console/<page>.html.tera`.
fn page(engine: &Engine, status: StatusCode, name: &str, context: Value) -> Response {
    match engine.renderer().render_page(&format!("pages/console/{name}.html.tera"), &context) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            error!(error = %err, "rendering a console page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("Something went wrong on our side.".to_owned())).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn only_the_same_nonempty_token_matches() {
        assert!(same_token(Some("abc"), Some("abc")));
        assert!(!same_token(Some("abd"), Some("abc")));
        assert!(!same_token(Some("abcd"), Some("abc")), "a longer guess");
        assert!(!same_token(Some(""), Some("")), "an empty token never matches");
        assert!(!same_token(None, Some("abc")));
        assert!(!same_token(Some("abc"), None));
    }
}
