//! `/api/v1/partners`: the partner directory.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::{ApiJson, ApiQuery};
use crate::directory::PartnerKind;
use crate::engine::Engine;
use crate::store::Scope;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnersQuery {
    kind: Option<String>,
}

/// Partners with their users and roles.
pub async fn partners(
    State(engine): State<Engine>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PartnersQuery>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let kind =
        query.kind.map(|k| k.parse::<PartnerKind>()).transpose().map_err(|message| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_kind", message).field("kind")
        })?;
    let mut items = Vec::new();
    for partner in engine.store().partners(kind).await? {
        let users = engine.store().partner_users(partner.id).await?;
        let mut item = json!(partner);
        item["users"] = json!(users);
        items.push(item);
    }
    Ok(Json(json!({ "items": items })).into_response())
}

/// An indirect provider to add.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProviderBody {
    legal_name: String,
    country: String,
    mpn_id: String,
    tenant_domain: String,
    serves: Vec<String>,
    admin: AdminBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminBody {
    name: String,
    email: String,
}

fn country(field: &str, text: &str) -> Result<String, ApiError> {
    crate::workflow::input::parse_country(text).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_country",
            format!("`{text}` is not an ISO 3166-1 alpha-2 country code such as IT"),
        )
        .field(field)
    })
}

/// Adds an indirect provider (admin keys only): providers deal with Microsoft directly, so they
/// are added rather than enrolled.
pub async fn add_provider(
    State(engine): State<Engine>,
    caller: Caller,
    ApiJson(body): ApiJson<NewProviderBody>,
) -> Result<Response, ApiError> {
    use crate::directory::{NewPartner, NewUser, PartnerStatus, Role};
    caller.require(&[])?;
    let invalid = |field: &str, message: &str| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message).field(field)
    };
    if body.legal_name.trim().is_empty() {
        return Err(invalid("legal_name", "legal_name is required"));
    }
    if body.mpn_id.is_empty() || !body.mpn_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid("mpn_id", "mpn_id must be digits"));
    }
    if body.serves.is_empty() {
        return Err(invalid("serves", "serves needs at least one country, such as [\"IT\"]"));
    }
    let email: lettre::Address =
        body.admin.email.parse().map_err(|_| invalid("admin.email", "admin.email is not an email address"))?;
    let partner = NewPartner {
        id: uuid::Uuid::new_v4(),
        kind: PartnerKind::IndirectProvider,
        legal_name: body.legal_name.trim().to_owned(),
        country: country("country", &body.country)?,
        mpn_id: body.mpn_id,
        tenant_domain: body.tenant_domain,
        status: PartnerStatus::Active,
        served_countries: body.serves.iter().map(|c| country("serves", c)).collect::<Result<_, _>>()?,
        users: vec![NewUser {
            email: email.to_string(),
            name: body.admin.name,
            roles: vec![Role::GlobalAdmin, Role::AdminAgent],
        }],
    };
    engine.store().create_partner(&partner, &caller.actor(), engine.now()).await?;
    let created = engine.store().partner(partner.id).await?.ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// The reseller removes its provider's administrator access to its work account; the
/// partnership stays (the provider still orders for the reseller's customers).
pub async fn remove_admin_access(
    State(engine): State<Engine>,
    caller: Caller,
    axum::extract::Path((reseller, provider)): axum::extract::Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline])?;
    let id = |field: &str, text: &str| {
        uuid::Uuid::parse_str(text).map_err(|_| {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_partner", format!("`{text}` is not a partner id"))
                .field(field)
        })
    };
    let (reseller, provider) = (id("reseller", &reseller)?, id("provider", &provider)?);
    match engine.store().remove_provider_admin_access(reseller, provider, &caller.actor(), engine.now()).await? {
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_relationship",
            format!("partner {provider} is not an indirect provider of {reseller}"),
        )),
        Some(false) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_removed",
            "the provider's administrator access was already removed",
        )),
        Some(true) => {
            Ok(Json(json!({ "reseller": reseller, "provider": provider, "admin_access": false })).into_response())
        }
    }
}
