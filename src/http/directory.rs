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
use crate::access::Action;
use crate::directory::commands::{self, AddCustomer, AddUser, RemoveCustomer, SetRoles};
use crate::directory::PartnerKind;
use crate::engine::Engine;

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
    caller.allow(Action::ListPartners)?;
    let kind =
        query.kind.map(|k| k.parse::<PartnerKind>()).transpose().map_err(|message| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_kind", message).field("kind")
        })?;
    let mut items = Vec::new();
    for partner in directory.store.partners(kind).await? {
        if !caller.principal().reaches(partner.id) {
            continue;
        }
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
    caller.allow(Action::AddProvider)?;
    let invalid = |field: &str, message: &str| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message).field(field)
    };
    let legal_name = commands::plain_text(&body.legal_name, "legal_name", crate::workflow::TextLimit::NAME)?;
    if legal_name.is_empty() {
        return Err(invalid("legal_name", "legal_name is required"));
    }
    let admin_name = commands::plain_text(&body.admin.name, "admin.name", crate::workflow::TextLimit::NAME)?;
    if body.mpn_id.is_empty() || !body.mpn_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid("mpn_id", "mpn_id must be digits"));
    }
    if body.serves.is_empty() {
        return Err(invalid("serves", "serves needs at least one country, such as [\"IT\"]"));
    }
    let email = commands::parse_address(&body.admin.email, "admin.email")?;
    let partner = NewPartner {
        id: uuid::Uuid::new_v4(),
        kind: PartnerKind::IndirectProvider,
        legal_name,
        country: country("country", &body.country)?,
        mpn_id: body.mpn_id,
        tenant_domain: body.tenant_domain,
        status: PartnerStatus::Active,
        served_countries: body.serves.iter().map(|c| country("serves", c)).collect::<Result<_, _>>()?,
        users: vec![NewUser { email, name: admin_name, roles: vec![Role::GlobalAdmin, Role::AdminAgent] }],
    };
    directory.store.create_partner(&partner, &caller.audit_actor(""), directory.now()).await?;
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
    caller.allow(Action::RemoveProviderAdminAccess)?;
    let id = |field: &str, text: &str| {
        uuid::Uuid::parse_str(text).map_err(|_| {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_partner", format!("`{text}` is not a partner id"))
                .field(field)
        })
    };
    let (reseller, provider) = (id("reseller", &reseller)?, id("provider", &provider)?);
    caller.reach(reseller, "reseller", "partner")?;
    let actor = caller.audit_actor(caller.principal().user().unwrap_or_default());
    commands::remove_admin_access(directory.store.as_ref(), reseller, provider, &actor, directory.now()).await?;
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
    caller.allow(Action::ProvidersOf)?;
    related(&directory, &caller, &id, PartnerKind::IndirectProvider).await
}

/// A provider's Indirect resellers.
pub async fn resellers_of(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    caller.allow(Action::ResellersOf)?;
    related(&directory, &caller, &id, PartnerKind::IndirectReseller).await
}

async fn related(directory: &Directory, caller: &Caller, id: &str, want: PartnerKind) -> Result<Response, ApiError> {
    let id = path_id("partner", id)?;
    caller.reach(id, "partner", "partner")?;
    let items = commands::related_partners(directory.store.as_ref(), id, want).await?;
    Ok(Json(json!({ "items": items })).into_response())
}

/// A partner's Customers, with the relationship type and DAP.
pub async fn customers_of(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    caller.allow(Action::CustomersOf)?;
    let id = path_id("partner", &id)?;
    caller.reach(id, "partner", "partner")?;
    let items = commands::customers_of(directory.store.as_ref(), id, None).await?;
    Ok(Json(json!({ "items": items })).into_response())
}

/// The customers a reseller shares with one of its indirect providers.
pub async fn shared_customers(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path((reseller, provider)): axum::extract::Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.allow(Action::SharedCustomers)?;
    let (reseller, provider) = (path_id("reseller", &reseller)?, path_id("provider", &provider)?);
    caller.reach(reseller, "reseller", "partner")?;
    let items = commands::customers_of(directory.store.as_ref(), reseller, Some(provider)).await?;
    Ok(Json(json!({ "items": items })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveCustomerBody {
    /// The partner's user removing it (a global admin or admin agent); a partner key's own user
    /// when left out.
    by: Option<String>,
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
    caller.allow(Action::RemoveCustomer)?;
    let partner = path_id("partner", &partner)?;
    caller.reach(partner, "partner", "partner")?;
    let command = RemoveCustomer {
        partner,
        customer: path_id("customer", &customer)?,
        by: caller.by(body.by.as_deref())?,
        reason: body.reason,
        attest: body.attest,
    };
    let principal = caller.principal().name();
    commands::remove_customer_relationship(directory.store.as_ref(), &command, &principal, directory.now()).await?;
    Ok(Json(json!({ "partner": command.partner, "customer": command.customer, "removed": true, "notice_sent": false }))
        .into_response())
}

/// Every customer.
pub async fn customers(State(directory): State<Directory>, caller: Caller) -> Result<Response, ApiError> {
    caller.allow(Action::ListCustomers)?;
    let mut items = directory.store.customers().await?;
    if let Some(partner) = caller.principal().partner() {
        let mine: Vec<uuid::Uuid> =
            directory.store.partner_customers(partner.id, None).await?.iter().map(|c| c.customer.id).collect();
        items.retain(|c| mine.contains(&c.id));
    }
    Ok(Json(json!({ "items": items })).into_response())
}

/// One customer with its partners.
pub async fn customer(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    caller.allow(Action::ShowCustomer)?;
    let id = path_id("customer", &id)?;
    customer_reach(&directory, &caller, id).await?;
    Ok(Json(commands::customer_view(directory.store.as_ref(), id).await?).into_response())
}

/// Refuses, as unknown, a customer a partner key's partner has no active relationship with.
/// A partner sees its own customers only, and nothing of their other partners'.
async fn customer_reach(directory: &Directory, caller: &Caller, id: uuid::Uuid) -> Result<(), ApiError> {
    let Some(partner) = caller.principal().partner() else { return Ok(()) };
    let related = directory.store.partner_customers(partner.id, None).await?.iter().any(|c| c.customer.id == id);
    if related {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_customer", format!("no customer with id {id}"))
            .field("customer"))
    }
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
    caller.allow(Action::AddCustomer)?;
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
    let created =
        commands::add_customer(directory.store.as_ref(), &add, &caller.audit_actor(""), directory.now()).await?;
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
    action: Action,
    (customer, partner): (String, String),
    body: &[u8],
) -> Result<(uuid::Uuid, uuid::Uuid, crate::directory::Actor), ApiError> {
    caller.allow(action)?;
    let body = optional_body(body)?;
    let by = body.by.as_deref().map(str::trim).unwrap_or_default();
    if by.chars().count() > 254 || by.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "`by` is an email address: at most 254 characters, without control characters",
        )
        .field("by"));
    }
    Ok((path_id("customer", &customer)?, path_id("partner", &partner)?, caller.audit_actor(by)))
}

/// The customer removes a partner's admin roles; the relationship stays.
pub async fn remove_admin_roles(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(ids): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (customer, partner, actor) = customer_command(&caller, Action::RemoveAdminRoles, ids, &body)?;
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
    let (customer, partner, actor) = customer_command(&caller, Action::DeleteRelationship, ids, &body)?;
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
    caller.allow(Action::RequestAgreement)?;
    let customer = path_id("customer", &customer)?;
    caller.reach(body.partner, "partner", "partner")?;
    customer_reach(&directory, &caller, customer).await?;
    let input = commands::agreement_request(directory.store.as_ref(), customer, body.partner).await?;
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
    caller.allow(Action::Audit)?;
    if let Some(partner) = caller.principal().partner() {
        if query.subject != format!("partner:{}", partner.id) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_subject",
                format!("no audit log for {}; a partner key reads its own: partner:{}", query.subject, partner.id),
            )
            .field("subject"));
        }
    }
    Ok(Json(json!({ "items": directory.store.audit_log(&query.subject).await? })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// The partner's user adding the user (a global admin, admin agent or user admin); a
    /// partner key's own user when left out.
    by: Option<String>,
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
    caller.allow(Action::AddUser)?;
    let partner = path_id("partner", &partner)?;
    caller.reach(partner, "partner", "partner")?;
    let add =
        AddUser { partner, by: caller.by(body.by.as_deref())?, name: body.name, email: body.email, roles: body.roles };
    let principal = caller.principal().name();
    let users = commands::add_user(directory.store.as_ref(), &add, &principal, directory.now()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "users": users }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesBody {
    by: Option<String>,
    roles: Vec<String>,
}

/// Changes a user's roles (a global admin, admin agent or user admin of the partner).
pub async fn set_roles(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path((partner, email)): axum::extract::Path<(String, String)>,
    ApiJson(body): ApiJson<RolesBody>,
) -> Result<Response, ApiError> {
    caller.allow(Action::SetUserRoles)?;
    let partner = path_id("partner", &partner)?;
    caller.reach(partner, "partner", "partner")?;
    let set = SetRoles { partner, email, by: caller.by(body.by.as_deref())?, roles: body.roles };
    let principal = caller.principal().name();
    let users = commands::set_user_roles(directory.store.as_ref(), &set, &principal, directory.now()).await?;
    Ok(Json(json!({ "users": users })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByBody {
    by: Option<String>,
}

/// Removes a user from the partner's account; their keys stop working.
pub async fn remove_user(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path((partner, email)): axum::extract::Path<(String, String)>,
    ApiJson(body): ApiJson<ByBody>,
) -> Result<Response, ApiError> {
    caller.allow(Action::RemoveUser)?;
    let partner = path_id("partner", &partner)?;
    caller.reach(partner, "partner", "partner")?;
    let by = caller.by(body.by.as_deref())?;
    let principal = caller.principal().name();
    let users =
        commands::remove_user(directory.store.as_ref(), partner, &email, &by, &principal, directory.now()).await?;
    Ok(Json(json!({ "users": users })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    name: String,
    email: String,
    /// Who at the customer asked for the change, kept in the audit log.
    by: Option<String>,
}

/// Changes a customer's admin contact, on the customer's word (operator keys only): consent
/// over its tenant is asked of that person from then on.
pub async fn set_contact(
    State(directory): State<Directory>,
    caller: Caller,
    axum::extract::Path(customer): axum::extract::Path<String>,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<Response, ApiError> {
    caller.allow(Action::SetCustomerContact)?;
    let customer = path_id("customer", &customer)?;
    let actor = caller.audit_actor(body.by.as_deref().map(str::trim).unwrap_or_default());
    let record = commands::set_customer_contact(
        directory.store.as_ref(),
        customer,
        &body.name,
        &body.email,
        &actor,
        directory.now(),
    )
    .await?;
    Ok(Json(record).into_response())
}
