//! `/api/v1/partners`: the partner directory.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::{ApiJson, ApiQuery, Directory};
use crate::directory::commands::{self, AddCustomer, AddUser, RemoveCustomer};
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
    State(directory): State<Directory>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PartnersQuery>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let kind =
        query.kind.map(|k| k.parse::<PartnerKind>()).transpose().map_err(|message| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_kind", message).field("kind")
        })?;
    let mut items = Vec::new();
    for partner in directory.store.partners(kind).await? {
        let users = directory.store.partner_users(partner.id).await?;
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
    State(directory): State<Directory>,
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
    directory.store.create_partner(&partner, &caller.actor(), directory.now()).await?;
    let created = directory.store.partner(partner.id).await?.ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// The reseller removes its provider's administrator access to its work account; the
/// partnership stays (the provider still orders for the reseller's customers).
pub async fn remove_admin_access(
    State(directory): State<Directory>,
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
    commands::remove_admin_access(directory.store.as_ref(), reseller, provider, &caller.actor(), directory.now())
        .await?;
    Ok(Json(json!({ "reseller": reseller, "provider": provider, "admin_access": false })).into_response())
}

fn path_id(field: &'static str, text: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(text).map_err(|_| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_id", format!("`{text}` is not an id (a UUID)")).field(field)
    })
}

/// A reseller's Indirect providers.
pub async fn providers_of(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    related(&directory, &caller, &id, PartnerKind::IndirectProvider).await
}

/// A provider's Indirect resellers.
pub async fn resellers_of(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    related(&directory, &caller, &id, PartnerKind::IndirectReseller).await
}

async fn related(directory: &Directory, caller: &Caller, id: &str, want: PartnerKind) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let items = commands::related_partners(directory.store.as_ref(), path_id("partner", id)?, want).await?;
    Ok(Json(json!({ "items": items })).into_response())
}

/// A partner's Customers, with the relationship type and DAP.
pub async fn customers_of(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let items = commands::customers_of(directory.store.as_ref(), path_id("partner", &id)?, None).await?;
    Ok(Json(json!({ "items": items })).into_response())
}

/// The customers a reseller shares with one of its indirect providers.
pub async fn shared_customers(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path((reseller, provider)): axum::extract::Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    let (reseller, provider) = (path_id("reseller", &reseller)?, path_id("provider", &provider)?);
    let items = commands::customers_of(directory.store.as_ref(), reseller, Some(provider)).await?;
    Ok(Json(json!({ "items": items })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveCustomerBody {
    /// The partner's user removing it (a global admin or admin agent).
    by: String,
    reason: String,
    #[serde(default)]
    attest: bool,
}

/// The partner ends its relationship with a customer (attestation required; DAP unchanged; no
/// email).
pub async fn remove_customer(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path((partner, customer)): axum::extract::Path<(String, String)>,
    ApiJson(body): ApiJson<RemoveCustomerBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline])?;
    let command = RemoveCustomer {
        partner: path_id("partner", &partner)?,
        customer: path_id("customer", &customer)?,
        by: body.by,
        reason: body.reason,
        attest: body.attest,
    };
    commands::remove_customer_relationship(directory.store.as_ref(), &command, &caller.actor(), directory.now())
        .await?;
    Ok(Json(json!({ "partner": command.partner, "customer": command.customer, "removed": true, "notice_sent": false }))
        .into_response())
}

/// Every customer.
pub async fn customers(State(directory): State<Directory>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    Ok(Json(json!({ "items": directory.store.customers().await? })).into_response())
}

/// One customer with its partners.
pub async fn customer(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline, Scope::Reviewer])?;
    Ok(Json(commands::customer_view(directory.store.as_ref(), path_id("customer", &id)?).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerBody {
    name: String,
    domain: String,
    country: String,
    #[serde(default = "public_cloud")]
    cloud: String,
    admin: AdminBody,
    locale: Option<String>,
    relationships: Vec<RelationshipBody>,
}

fn public_cloud() -> String {
    "public".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipBody {
    partner: uuid::Uuid,
    kind: String,
    dap: Option<bool>,
}

/// Adds a customer the partners already work with (admin keys only).
pub async fn add_customer(
    State(directory): State<Directory>,
    caller: Caller,
    ApiJson(body): ApiJson<NewCustomerBody>,
) -> Result<Response, ApiError> {
    caller.require(&[])?;
    let add = AddCustomer {
        name: body.name,
        domain: body.domain,
        country: body.country,
        cloud: body.cloud,
        admin_name: body.admin.name,
        admin_email: body.admin.email,
        locale: body.locale,
        relationships: body.relationships.into_iter().map(|r| (r.partner, r.kind, r.dap)).collect(),
    };
    let created = commands::add_customer(directory.store.as_ref(), &add, &caller.actor(), directory.now()).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CustomerActionBody {
    /// Who at the customer acts (their admin's email), kept in the audit log.
    by: Option<String>,
}

/// The body is optional: empty means no `by`.
fn optional_body(body: &[u8]) -> Result<CustomerActionBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CustomerActionBody::default());
    }
    serde_json::from_slice(body).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the request body is not the expected JSON: {err}"),
        )
    })
}

/// The customer and partner a customer's command names, and who it is recorded as: the
/// optional `by` in the body, with the caller's key.
fn customer_command(
    caller: &Caller,
    (customer, partner): (String, String),
    body: &[u8],
) -> Result<(uuid::Uuid, uuid::Uuid, String), ApiError> {
    caller.require(&[Scope::Pipeline])?;
    let body = optional_body(body)?;
    let actor = match &body.by {
        Some(by) if !by.trim().is_empty() => format!("{} ({})", by.trim(), caller.actor()),
        _ => caller.actor(),
    };
    Ok((path_id("customer", &customer)?, path_id("partner", &partner)?, actor))
}

/// The customer removes a partner's admin roles; the relationship stays.
pub async fn remove_admin_roles(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(ids): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (customer, partner, actor) = customer_command(&caller, ids, &body)?;
    let store = directory.store.as_ref();
    commands::remove_admin_roles(store, customer, partner, &actor, directory.now()).await?;
    Ok(Json(commands::customer_view(store, customer).await?).into_response())
}

/// The customer deletes a delegated admin or advisor relationship.
pub async fn delete_relationship(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(ids): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (customer, partner, actor) = customer_command(&caller, ids, &body)?;
    let store = directory.store.as_ref();
    commands::delete_customer_relationship(store, customer, partner, &actor, directory.now()).await?;
    Ok(Json(commands::customer_view(store, customer).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementRequestBody {
    partner: uuid::Uuid,
}

/// Mails the customer a link to accept the customer agreement (a `customer_agreement`
/// instance, its input taken from the directory).
pub async fn request_agreement(
    State(engine): State<Engine>,
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(customer): axum::extract::Path<String>,
    ApiJson(body): ApiJson<AgreementRequestBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline])?;
    let input =
        commands::agreement_request(directory.store.as_ref(), path_id("customer", &customer)?, body.partner).await?;
    let outcome = engine
        .start(crate::engine::StartRequest {
            workflow: "customer_agreement".into(),
            input,
            idempotency_key: None,
            actor: caller.actor(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(outcome.instance)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    subject: String,
}

/// The audit log of one partner or customer (`subject=partner:<id>` or `customer:<id>`).
pub async fn audit(
    State(directory): State<Directory>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Reviewer])?;
    Ok(Json(json!({ "items": directory.store.audit_log(&query.subject).await? })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// The partner's admin agent or user admin adding the user.
    by: String,
    name: String,
    email: String,
    roles: Vec<String>,
}

/// Adds a user with roles to a partner's account.
pub async fn add_user(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(partner): axum::extract::Path<String>,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Scope::Pipeline])?;
    let add = AddUser {
        partner: path_id("partner", &partner)?,
        by: body.by,
        name: body.name,
        email: body.email,
        roles: body.roles,
    };
    let users = commands::add_user(directory.store.as_ref(), &add, &caller.actor(), directory.now()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "users": users }))).into_response())
}
