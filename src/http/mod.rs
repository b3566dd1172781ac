//! The HTTP surface: the JSON API under `/api/v1` and the health endpoints.

mod auth;
pub mod console;
mod directory;
mod emails;
mod enroll;
mod error;
pub mod harden;
mod instances;
mod keys;
mod links;
mod pages;
mod providers;

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use keys::{parse_lifetime as parse_key_lifetime, KeyView};

use std::sync::Arc;

use axum::extract::FromRef;

use crate::clock::{Clock, Timestamp};
use crate::config::Agreements;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::store::Store;

/// What the handlers need, each taken by the handlers that use it and no more: the engine by
/// those that start instances or apply events, the [`Directory`] by the directory's reads and
/// commands, the store alone by the key check and the health and metrics endpoints.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub directory: Directory,
    pub metrics: Arc<Metrics>,
    /// The agreements' full texts, which the link pages link to.
    pub agreements: Arc<Agreements>,
}

impl AppState {
    pub fn new(engine: Engine) -> Self {
        let directory = Directory { store: engine.store().clone(), clock: engine.clock().clone() };
        Self { metrics: engine.metrics().clone(), directory, engine, agreements: Arc::default() }
    }
}

impl FromRef<AppState> for Arc<Agreements> {
    fn from_ref(state: &AppState) -> Self {
        state.agreements.clone()
    }
}

impl FromRef<AppState> for Engine {
    fn from_ref(state: &AppState) -> Self {
        state.engine.clone()
    }
}

impl FromRef<AppState> for Directory {
    fn from_ref(state: &AppState) -> Self {
        state.directory.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

impl FromRef<AppState> for Arc<dyn Store> {
    fn from_ref(state: &AppState) -> Self {
        state.directory.store.clone()
    }
}

/// The partner directory as the API and the console use it: the store, and the clock its
/// changes are stamped with.
#[derive(Clone)]
pub struct Directory {
    pub store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Directory {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// JSON bodies whose rejections come back in the API's error shape. Before a body is read
/// into its type, every string in it (keys too) is checked for control characters: a NUL would
/// otherwise reach PostgreSQL, which refuses it, and no field of the API takes one. Line breaks
/// and tabs are left to the field's own rule (a draft's text has them; a name may not).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if let Some((field, c)) = control_character(&value, "") {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "control_character",
                format!("`{field}` holds the control character U+{:04X}; remove it", c as u32),
            )
            .field(&field));
        }
        serde_json::from_value(value).map(ApiJson).map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the request body is not the expected JSON: {err}"),
            )
        })
    }
}

/// The first string of `value` (at a dotted path) holding a control character other than a
/// line break or a tab, and the character.
fn control_character(value: &serde_json::Value, path: &str) -> Option<(String, char)> {
    let bad = |text: &str| text.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    let join = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        serde_json::Value::String(text) => bad(text).map(|c| (path.to_owned(), c)),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| control_character(item, &join(&i.to_string())))
        }
        serde_json::Value::Object(fields) => fields
            .iter()
            .find_map(|(key, item)| bad(key).map(|c| (join(key), c)).or_else(|| control_character(item, &join(key)))),
        _ => None,
    }
}

/// Query strings whose rejections come back in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub fn router(engine: Engine) -> Router {
    router_with(AppState::new(engine))
}

/// The routes over `state`, which `App::router` fills from the configuration (the agreements).
pub fn router_with(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/instances", post(instances::start).get(instances::list))
        .route("/api/v1/instances/{id}", get(instances::show))
        .route("/api/v1/instances/{id}/events", post(instances::event))
        .route("/api/v1/partners", get(directory::partners))
        .route("/api/v1/partners/providers", post(directory::add_provider))
        .route(
            "/api/v1/partners/{reseller}/providers/{provider}/remove-admin-access",
            post(directory::remove_admin_access),
        )
        .route("/api/v1/partners/{id}/users", post(directory::add_user))
        .route("/api/v1/partners/{id}/users/{email}/roles", post(directory::set_roles))
        .route("/api/v1/partners/{id}/users/{email}/remove", post(directory::remove_user))
        .route("/api/v1/partners/{id}/providers", get(directory::providers_of))
        .route("/api/v1/partners/{id}/resellers", get(directory::resellers_of))
        .route("/api/v1/partners/{id}/customers", get(directory::customers_of))
        .route("/api/v1/partners/{reseller}/providers/{provider}/customers", get(directory::shared_customers))
        .route("/api/v1/partners/{partner}/customers/{customer}/remove", post(directory::remove_customer))
        .route("/api/v1/customers", get(directory::customers).post(directory::add_customer))
        .route("/api/v1/customers/{id}", get(directory::customer))
        .route("/api/v1/customers/{id}/contact", post(directory::set_contact))
        .route("/api/v1/customers/{id}/agreement-requests", post(directory::request_agreement))
        .route(
            "/api/v1/customers/{customer}/partners/{partner}/remove-admin-roles",
            post(directory::remove_admin_roles),
        )
        .route("/api/v1/customers/{customer}/partners/{partner}/delete", post(directory::delete_relationship))
        .route("/api/v1/audit", get(directory::audit))
        .route("/api/v1/emails", get(emails::list))
        .route("/api/v1/emails/{id}", get(emails::show).patch(emails::edit))
        .route("/api/v1/emails/{id}/release", post(emails::release))
        .route("/api/v1/emails/{id}/retry", post(emails::retry))
        .route("/api/v1/keys", get(keys::list).post(keys::create))
        .route("/api/v1/keys/{id}/revoke", post(keys::revoke))
        .route("/l/{token}", get(links::show).post(links::act))
        .route("/l/{token}/resend", post(links::resend))
        .route("/enroll", get(enroll::show).post(enroll::submit))
        .route("/providers", get(providers::page))
        .route("/api/v1/providers", get(providers::api))
        .merge(crate::http::console::router())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route; the API lives under /api/v1")
        })
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Ready when the database answers.
async fn readyz(State(store): State<Arc<dyn Store>>) -> impl IntoResponse {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" }))),
    }
}

/// Prometheus scrape endpoint.
async fn metrics(
    State(metrics): State<Arc<Metrics>>,
    State(directory): State<Directory>,
) -> Result<impl IntoResponse, ApiError> {
    let text = metrics.render(directory.store.as_ref(), directory.now()).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text))
}
