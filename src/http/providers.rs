//! The provider finder: `GET /api/v1/providers?country=IT` (JSON) and `GET /providers` (a page
//! for resellers looking for an indirect provider). Both are public: they show what a provider
//! publishes anyway (name, country, MPN ID, countries served), never its people.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::{pages, ApiQuery, Directory};
use crate::directory::commands::CommandError;
use crate::directory::finder;
use crate::engine::Engine;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindQuery {
    country: Option<String>,
}

/// `GET /api/v1/providers?country=IT`: `{"country", "items": [{"id", "legal_name", "country",
/// "mpn_id", "serves", "serves_from"}]}`.
pub async fn api(
    State(directory): State<Directory>,
    ApiQuery(query): ApiQuery<FindQuery>,
) -> Result<Response, ApiError> {
    let country = finder::parse_country(query.country.as_deref())?;
    let items = finder::providers_serving(directory.store.as_ref(), &country).await?;
    Ok(Json(json!({ "country": country, "items": items })).into_response())
}

#[derive(Deserialize)]
pub struct PageQuery {
    country: Option<String>,
    lang: Option<String>,
}

/// `GET /providers[?country=IT][&lang=it]`: the search form, and the providers serving the
/// country asked about.
pub async fn page(
    State(engine): State<Engine>,
    State(directory): State<Directory>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = pages::language(query.lang.as_deref(), &headers);
    let typed = query.country.clone().unwrap_or_default();
    let regions = accord_core::regions::shipped().ok();
    let mut context = json!({
        "country": typed.trim(),
        "searched": false,
        "items": [],
        "error": "",
        "source": regions.map(|r| json!({ "url": r.url, "read": r.read.to_string() })),
    });
    let mut status = StatusCode::OK;
    if !typed.trim().is_empty() {
        match finder::providers_serving(directory.store.as_ref(), &typed).await {
            Ok(items) => {
                context["searched"] = json!(true);
                context["country"] = json!(typed.trim().to_ascii_uppercase());
                context["items"] = json!(items);
            }
            Err(CommandError::Invalid { code, .. }) => {
                status = StatusCode::UNPROCESSABLE_ENTITY;
                context["error"] = json!(code);
            }
            Err(err) => {
                tracing::error!(error = %err, "the provider finder failed");
                status = StatusCode::SERVICE_UNAVAILABLE;
                context["error"] = json!("unavailable");
            }
        }
    }
    pages::render(&engine, "providers", lang, status, &context)
}
