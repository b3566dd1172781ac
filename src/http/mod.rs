//! The HTTP surface: the JSON API under `/api/v1` and the health endpoints.

mod auth;
mod directory;
mod emails;
mod error;
mod instances;
mod links;

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::engine::Engine;

/// JSON bodies whose rejections come back in the API's error shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Query strings whose rejections come back in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub fn router(engine: Engine) -> Router {
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
        .route("/api/v1/partners/{id}/providers", get(directory::providers_of))
        .route("/api/v1/partners/{id}/resellers", get(directory::resellers_of))
        .route("/api/v1/partners/{id}/customers", get(directory::customers_of))
        .route("/api/v1/partners/{reseller}/providers/{provider}/customers", get(directory::shared_customers))
        .route("/api/v1/partners/{partner}/customers/{customer}/remove", post(directory::remove_customer))
        .route("/api/v1/customers", get(directory::customers).post(directory::add_customer))
        .route("/api/v1/customers/{id}", get(directory::customer))
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
        .route("/l/{token}", get(links::show).post(links::act))
        .route("/l/{token}/resend", post(links::resend))
        .merge(crate::console::router())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route; the API lives under /api/v1")
        })
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(engine)
}

/// Ready when the database answers.
async fn readyz(State(engine): State<Engine>) -> impl IntoResponse {
    match engine.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" }))),
    }
}

/// Prometheus scrape endpoint.
async fn metrics(State(engine): State<Engine>) -> Result<impl IntoResponse, ApiError> {
    let text = engine.metrics().render(engine.store().as_ref(), engine.now()).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text))
}
