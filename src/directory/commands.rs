//! The directory's queries and relationship commands, shared by the API and the CLI: each checks
//! what it is asked, says precisely why it refuses, and writes through one store transaction
//! with its audit row.

use serde::Serialize;
use serde_json::{json, Value};

use super::{
    Actor, Cloud, CustomerPartner, CustomerRecord, CustomerRelationshipKind, DirectoryChange, NewCustomer,
    NewCustomerRelationship, PartnerCustomer, PartnerKind, PartnerRecord, Role,
};
use crate::clock::Timestamp;
use crate::store::{CommitError, Store, StoreError};
use crate::workflow::TextLimit;

pub use super::users::{remove_user, set_user_roles, SetRoles, CUSTOMER_MANAGERS, USER_MANAGERS};

/// Why a directory command was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Something named does not exist.
    #[error("{message}")]
    NotFound { code: &'static str, field: &'static str, message: String },
    /// The request is malformed or incomplete.
    #[error("{message}")]
    Invalid { code: &'static str, field: &'static str, message: String },
    /// The directory's rules do not allow it now.
    #[error("{message}")]
    Refused { code: &'static str, field: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CommandError {
    /// The stable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::NotFound { code, .. }
            | CommandError::Invalid { code, .. }
            | CommandError::Refused { code, .. } => code,
            CommandError::Store(_) => "storage",
        }
    }
}

impl From<CommitError> for CommandError {
    fn from(err: CommitError) -> Self {
        match err {
            CommitError::Store(err) => CommandError::Store(err),
            // Someone changed the directory between our check and the write.
            other => CommandError::Refused { code: "changed_meanwhile", field: "", message: other.to_string() },
        }
    }
}

pub(crate) fn not_found(code: &'static str, field: &'static str, message: String) -> CommandError {
    CommandError::NotFound { code, field, message }
}

/// A partner on another partner's Indirect providers or Indirect resellers list.
#[derive(Debug, Serialize)]
pub struct RelatedPartner {
    #[serde(flatten)]
    pub partner: PartnerRecord,
    /// Whether the provider keeps administrator access to the reseller's work account.
    pub admin_access: bool,
    pub related_at: Timestamp,
}

pub async fn partner(store: &dyn Store, id: uuid::Uuid, field: &'static str) -> Result<PartnerRecord, CommandError> {
    store.partner(id).await?.ok_or_else(|| {
        not_found("unknown_partner", field, format!("no partner with id {id}; `accord partners` lists them"))
    })
}

pub async fn customer(store: &dyn Store, id: uuid::Uuid) -> Result<CustomerRecord, CommandError> {
    store.customer(id).await?.ok_or_else(|| {
        not_found("unknown_customer", "customer", format!("no customer with id {id}; `accord customers` lists them"))
    })
}

/// A reseller's Indirect providers, or a provider's Indirect resellers.
pub async fn related_partners(
    store: &dyn Store,
    id: uuid::Uuid,
    want: PartnerKind,
) -> Result<Vec<RelatedPartner>, CommandError> {
    let me = partner(store, id, "partner").await?;
    let expected = match want {
        PartnerKind::IndirectProvider => PartnerKind::IndirectReseller,
        PartnerKind::IndirectReseller => PartnerKind::IndirectProvider,
    };
    if me.kind != expected {
        return Err(CommandError::Invalid {
            code: "wrong_partner_kind",
            field: "partner",
            message: format!(
                "{} is an {}: only an {expected} has {}",
                me.legal_name,
                me.kind,
                if want == PartnerKind::IndirectProvider { "indirect providers" } else { "indirect resellers" }
            ),
        });
    }
    let mut out = Vec::new();
    for r in store.relationships(id).await? {
        let other = if want == PartnerKind::IndirectProvider { r.provider_id } else { Some(r.reseller_id) };
        if let Some(partner) = match other {
            Some(other) => store.partner(other).await?,
            None => None,
        } {
            out.push(RelatedPartner { partner, admin_access: r.admin_access, related_at: r.created_at });
        }
    }
    Ok(out)
}

/// A partner's Customers list; with `provider`, the customers a reseller shares with that
/// indirect provider (which must be one of its providers).
pub async fn customers_of(
    store: &dyn Store,
    id: uuid::Uuid,
    provider: Option<uuid::Uuid>,
) -> Result<Vec<PartnerCustomer>, CommandError> {
    let me = partner(store, id, "partner").await?;
    if let Some(provider) = provider {
        let other = partner(store, provider, "provider").await?;
        if !store.relationships(id).await?.iter().any(|r| r.provider_id == Some(provider) && r.reseller_id == id) {
            return Err(not_found(
                "unknown_relationship",
                "provider",
                format!("{} is not an indirect provider of {}", other.legal_name, me.legal_name),
            ));
        }
    }
    Ok(store.partner_customers(id, provider).await?)
}

/// The reseller removes its provider's administrator access to its work account; the
/// partnership stays (the provider still orders for the reseller's customers).
pub async fn remove_admin_access(
    store: &dyn Store,
    reseller: uuid::Uuid,
    provider: uuid::Uuid,
    actor: &Actor,
    at: Timestamp,
) -> Result<(), CommandError> {
    match store.remove_provider_admin_access(reseller, provider, actor, at).await? {
        None => Err(not_found(
            "unknown_relationship",
            "provider",
            format!("partner {provider} is not an indirect provider of {reseller}"),
        )),
        Some(false) => Err(CommandError::Refused {
            code: "already_removed",
            field: "provider",
            message: "the provider's administrator access was already removed".into(),
        }),
        Some(true) => Ok(()),
    }
}

/// A user to add to a partner's account.
pub struct AddUser {
    pub partner: uuid::Uuid,
    /// Who adds it: a user of the partner with the admin agent or user admin role.
    pub by: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
}

/// Adds a user with roles to a partner's account (seed 000: setting up the account, adding
/// users, needs admin agent permissions; user admins manage users too).
pub async fn add_user(
    store: &dyn Store,
    add: &AddUser,
    principal: &str,
    at: Timestamp,
) -> Result<Vec<super::PartnerUserRecord>, CommandError> {
    let partner = partner(store, add.partner, "partner").await?;
    let invalid = |code, field, message: String| CommandError::Invalid { code, field, message };
    require_role(store, &partner, &add.by, USER_MANAGERS, "add users").await?;
    let name = plain_text(&add.name, "name", TextLimit::NAME)?;
    if name.is_empty() {
        return Err(invalid("required", "name", "the user's name is required".into()));
    }
    let email = parse_address(&add.email, "email")?;
    if add.roles.is_empty() {
        let names: Vec<&str> = Role::ALL.iter().map(Role::as_str).collect();
        return Err(invalid("required", "roles", format!("give at least one role: {}", names.join(", "))));
    }
    let roles = add
        .roles
        .iter()
        .map(|r| r.trim().parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| invalid("invalid_role", "roles", message))?;
    let user = super::NewUser { email, name, roles };
    let change = DirectoryChange::AddUser { partner: partner.id, user };
    match store.change_directory(&change, &Actor::new(add.by.trim(), principal), at).await {
        Err(CommitError::Refused(message)) => {
            return Err(CommandError::Refused { code: "user_exists", field: "email", message })
        }
        other => other?,
    }
    Ok(store.partner_users(partner.id).await?)
}

/// A customer and the partners it works with.
#[derive(Debug, Serialize)]
pub struct CustomerView {
    #[serde(flatten)]
    pub customer: CustomerRecord,
    pub partners: Vec<CustomerPartner>,
}

pub async fn customer_view(store: &dyn Store, id: uuid::Uuid) -> Result<CustomerView, CommandError> {
    let customer = customer(store, id).await?;
    let partners = store.customer_partners(id).await?;
    Ok(CustomerView { customer, partners })
}

/// A reseller ends its relationship with a customer. The caller attests that the decision was
/// made in good faith, for a legitimate business purpose and as its agreement with the customer
/// allows; delegated admin privileges stay as they are, and no notice is sent to the customer.
pub struct RemoveCustomer {
    pub partner: uuid::Uuid,
    pub customer: uuid::Uuid,
    /// A user of the partner with the global admin or admin agent role.
    pub by: String,
    pub reason: String,
    pub attest: bool,
}

/// What the partner attests to when removing a customer relationship.
pub const ATTESTATION: &str = "the decision to end the relationship was made in good faith, for a legitimate business \
     purpose and in accordance with the agreement with the customer; any notice of termination the agreement requires \
     is given separately, since none is sent from here";

pub async fn remove_customer_relationship(
    store: &dyn Store,
    command: &RemoveCustomer,
    principal: &str,
    at: Timestamp,
) -> Result<(), CommandError> {
    if !command.attest {
        return Err(CommandError::Invalid {
            code: "attestation_required",
            field: "attest",
            message: format!(
                "removing a customer relationship needs your attestation that {ATTESTATION}: send attest = true"
            ),
        });
    }
    let reason = plain_text(&command.reason, "reason", TextLimit::TEXT)?;
    if reason.is_empty() {
        return Err(CommandError::Invalid {
            code: "reason_required",
            field: "reason",
            message: "say why the relationship ends; the reason is kept in the audit log".into(),
        });
    }
    let partner = partner(store, command.partner, "partner").await?;
    let customer = customer(store, command.customer).await?;
    let doing = "remove a customer relationship";
    require_role(store, &partner, &command.by, CUSTOMER_MANAGERS, doing).await?;
    let active = store.partner_customers(partner.id, None).await?.iter().any(|c| c.customer.id == customer.id);
    if !active {
        return Err(not_found(
            "unknown_relationship",
            "customer",
            format!("{} has no relationship with {}", partner.legal_name, customer.name),
        ));
    }
    let change = DirectoryChange::RemoveCustomerRelationship { partner: partner.id, customer: customer.id, reason };
    store.change_directory(&change, &Actor::new(command.by.trim(), principal), at).await?;
    Ok(())
}

/// The refusal of a change the store found no longer allowed, with its stable code.
pub(crate) fn refused_change(code: &'static str, field: &'static str) -> impl Fn(CommitError) -> CommandError {
    move |err| match err {
        CommitError::Refused(message) => CommandError::Refused { code, field, message },
        other => other.into(),
    }
}

/// Changes a customer's recorded admin contact: from then on, consent over its tenant is asked
/// of the new contact.
pub async fn set_customer_contact(
    store: &dyn Store,
    customer_id: uuid::Uuid,
    name: &str,
    email: &str,
    actor: &Actor,
    at: Timestamp,
) -> Result<CustomerRecord, CommandError> {
    let customer = customer(store, customer_id).await?;
    let email = parse_address(email, "email")?;
    let name = plain_text(name, "name", TextLimit::NAME)?;
    if name.is_empty() {
        return Err(CommandError::Invalid {
            code: "required",
            field: "name",
            message: "the contact's name is required".into(),
        });
    }
    let change = DirectoryChange::SetCustomerContact { customer: customer.id, name, email };
    store.change_directory(&change, actor, at).await.map_err(refused_change("unknown_customer", "customer"))?;
    self::customer(store, customer.id).await
}

/// An email address as the directory keeps it: normalised as every input address is (NFKC,
/// the domain mapped by UTS-46 and shown in Unicode), so look-alikes compare equal.
pub fn parse_address(text: &str, field: &'static str) -> Result<String, CommandError> {
    crate::workflow::email::normalize(text).map(|email| email.as_str().to_owned()).map_err(|err| {
        let refused = err.field_error(field, text);
        CommandError::Invalid { code: refused.code, field, message: refused.message }
    })
}

/// Free text a person typed (a name, a reason): trimmed, within `limit`, without control
/// characters.
pub fn plain_text(text: &str, field: &'static str, limit: TextLimit) -> Result<String, CommandError> {
    crate::workflow::check_text(field, text, limit).map_err(|refused| CommandError::Invalid {
        code: refused.code,
        field,
        message: refused.message,
    })
}

/// Refuses unless `by` is a user of `partner` with one of `roles`; `doing` says what for.
pub(crate) async fn require_role(
    store: &dyn Store,
    partner: &PartnerRecord,
    by: &str,
    roles: &[Role],
    doing: &str,
) -> Result<(), CommandError> {
    let users = store.partner_users(partner.id).await?;
    let allowed =
        users.iter().any(|u| u.email.eq_ignore_ascii_case(by.trim()) && u.roles.iter().any(|r| roles.contains(r)));
    if allowed {
        return Ok(());
    }
    let names: Vec<String> = roles.iter().map(|r| r.as_str().replace('_', " ")).collect();
    Err(CommandError::Refused {
        code: "role_not_allowed",
        field: "by",
        message: format!(
            "only a {} of {} may {doing}; {by} is not one (`accord partners` lists its users and roles)",
            names.join(" or a "),
            partner.legal_name
        ),
    })
}

/// The relationship a customer has with a partner, active or with admin roles left.
async fn customer_relationship(
    store: &dyn Store,
    customer: &CustomerRecord,
    partner: uuid::Uuid,
) -> Result<(PartnerRecord, Vec<CustomerPartner>), CommandError> {
    let partner = self::partner(store, partner, "partner").await?;
    let rows: Vec<CustomerPartner> =
        store.customer_partners(customer.id).await?.into_iter().filter(|p| p.partner_id == partner.id).collect();
    if rows.is_empty() {
        return Err(not_found(
            "unknown_relationship",
            "partner",
            format!("{} has no relationship with {}", customer.name, partner.legal_name),
        ));
    }
    Ok((partner, rows))
}

/// The customer removes a partner's admin roles (delegated admin privileges); the relationship
/// stays, so the partner can still, say, resell.
pub async fn remove_admin_roles(
    store: &dyn Store,
    customer_id: uuid::Uuid,
    partner_id: uuid::Uuid,
    actor: &Actor,
    at: Timestamp,
) -> Result<(), CommandError> {
    let customer = customer(store, customer_id).await?;
    let (partner, rows) = customer_relationship(store, &customer, partner_id).await?;
    if !rows.iter().any(|r| r.dap) {
        return Err(CommandError::Refused {
            code: "no_admin_roles",
            field: "partner",
            message: format!("{} holds no admin roles for {}; nothing to remove", partner.legal_name, customer.name),
        });
    }
    store
        .change_directory(&DirectoryChange::RemoveAdminRoles { customer: customer.id, partner: partner.id }, actor, at)
        .await?;
    Ok(())
}

/// The customer ends a relationship itself: allowed for delegated admin and advisor partners;
/// any other partner must be asked to end it.
pub async fn delete_customer_relationship(
    store: &dyn Store,
    customer_id: uuid::Uuid,
    partner_id: uuid::Uuid,
    actor: &Actor,
    at: Timestamp,
) -> Result<(), CommandError> {
    let customer = customer(store, customer_id).await?;
    let (partner, rows) = customer_relationship(store, &customer, partner_id).await?;
    let Some(active) = rows.iter().find(|r| r.removed_at.is_none()) else {
        return Err(not_found(
            "unknown_relationship",
            "partner",
            format!("{} has no active relationship with {}", customer.name, partner.legal_name),
        ));
    };
    if !active.relationship.customer_may_delete() {
        return Err(CommandError::Refused {
            code: "ask_partner",
            field: "partner",
            message: format!(
                "{} is your {} partner: only delegated admin and advisor relationships can be deleted from your side. \
                 Ask {} to end the relationship.",
                partner.legal_name,
                kind_label(active.relationship),
                partner.legal_name
            ),
        });
    }
    let change = DirectoryChange::DeleteCustomerRelationship { customer: customer.id, partner: partner.id };
    store.change_directory(&change, actor, at).await?;
    Ok(())
}

/// The relationship type in words.
pub fn kind_label(kind: CustomerRelationshipKind) -> &'static str {
    match kind {
        CustomerRelationshipKind::Reseller => "reseller",
        CustomerRelationshipKind::DelegatedAdmin => "delegated administrator",
        CustomerRelationshipKind::ResellerDelegatedAdmin => "reseller and delegated administrator",
        CustomerRelationshipKind::Advisor => "advisor",
        CustomerRelationshipKind::Partner => "partner",
        CustomerRelationshipKind::Mpsa => "MPSA",
        CustomerRelationshipKind::PcOem => "PC OEM",
        CustomerRelationshipKind::LineOfBusiness => "line-of-business",
    }
}

/// A customer the partners already work with (from another portal), added by an admin. The
/// customer agreement is not signed yet: `request-agreement` asks for it.
pub struct AddCustomer {
    pub name: String,
    pub domain: String,
    pub country: String,
    pub cloud: String,
    pub admin_name: String,
    pub admin_email: String,
    pub locale: Option<String>,
    pub relationships: Vec<(uuid::Uuid, String, Option<bool>)>,
}

pub async fn add_customer(
    store: &dyn Store,
    add: &AddCustomer,
    actor: &Actor,
    at: Timestamp,
) -> Result<CustomerRecord, CommandError> {
    use crate::workflow::input::{parse_country, parse_locale};
    let invalid = |code, field, message: String| CommandError::Invalid { code, field, message };
    let name = plain_text(&add.name, "name", TextLimit::NAME)?;
    if name.is_empty() {
        return Err(invalid("required", "name", "the customer's name is required".into()));
    }
    let admin_name = plain_text(&add.admin_name, "admin.name", TextLimit::NAME)?;
    let domain = add.domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if !domain.contains('.') || domain.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.')) {
        return Err(invalid(
            "invalid_domain",
            "domain",
            format!("`{}` is not a domain name such as contoso.onmicrosoft.com", add.domain),
        ));
    }
    let country = parse_country(&add.country).ok_or_else(|| {
        invalid("invalid_country", "country", format!("`{}` is not an ISO 3166-1 alpha-2 code such as IT", add.country))
    })?;
    let cloud: Cloud = add.cloud.parse().map_err(|message| invalid("invalid_cloud", "cloud", message))?;
    let email = parse_address(&add.admin_email, "admin.email")?;
    let locale = match &add.locale {
        None => None,
        Some(text) => Some(parse_locale(text).ok_or_else(|| {
            invalid("invalid_locale", "locale", format!("`{text}` is not a language tag such as it or it-CH"))
        })?),
    };
    if add.relationships.is_empty() {
        return Err(invalid(
            "required",
            "relationships",
            "name at least one partner the customer works with, and the relationship's type".into(),
        ));
    }
    let mut relationships = Vec::new();
    for (partner_id, kind, dap) in &add.relationships {
        partner(store, *partner_id, "relationships.partner").await?;
        let kind: CustomerRelationshipKind =
            kind.parse().map_err(|message| invalid("invalid_relationship", "relationships.kind", message))?;
        if relationships.iter().any(|r: &NewCustomerRelationship| r.partner == *partner_id) {
            return Err(invalid(
                "duplicate_partner",
                "relationships.partner",
                format!("partner {partner_id} is named twice; a customer has one relationship per partner"),
            ));
        }
        relationships.push(NewCustomerRelationship {
            partner: *partner_id,
            kind,
            dap: dap.unwrap_or(kind.grants_dap()),
        });
    }
    let customer =
        NewCustomer { id: uuid::Uuid::new_v4(), name, domain, country, cloud, admin_name, admin_email: email, locale };
    let id = customer.id;
    match store.change_directory(&DirectoryChange::AddCustomer { customer, relationships }, actor, at).await {
        Err(CommitError::Refused(message)) => {
            return Err(CommandError::Refused { code: "customer_exists", field: "domain", message })
        }
        other => other?,
    }
    self::customer(store, id).await
}

/// The input of a `customer_agreement` instance for a customer and one of its partners, from
/// the directory.
pub async fn agreement_request(
    store: &dyn Store,
    customer_id: uuid::Uuid,
    partner_id: uuid::Uuid,
) -> Result<Value, CommandError> {
    let customer = customer(store, customer_id).await?;
    let partner = partner(store, partner_id, "partner").await?;
    let mut input = json!({
        "customer": { "id": customer.id, "name": customer.name, "contact": customer.admin_name, "email": customer.admin_email,
                      "country": customer.country },
        "partner": { "id": partner.id, "name": partner.legal_name },
    });
    if let Some(locale) = customer.locale {
        input["customer"]["locale"] = json!(locale);
    }
    if customer.admin_name.is_empty() {
        input["customer"].as_object_mut().map(|c| c.remove("contact"));
    }
    Ok(input)
}
