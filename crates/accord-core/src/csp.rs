//! Cloud Solution Provider rules that need code: the effects and start checks the shipped
//! workflows reference by name.
//!
//! Consent goes to whoever owns what is consented to, as the directory records them: the start
//! checks fill in who that is (a reseller's global admins, an existing customer's admin contact)
//! and the partners' names, never the caller; the effects require, in the accepting
//! transaction, that what the start checked still holds.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::directory::{
    Cloud, CustomerRelationshipKind, DirectoryChange, DirectoryReader, NewCustomer, NewCustomerRelationship,
    NewPartner, NewUser, PartnerKind, PartnerRecord, PartnerStatus, PartnerUserRecord, ReadError, Role,
};
use crate::machine::{Call, Effect, Precondition, Registry, StartChecked};
use crate::workflow::{FieldError, Provided, ProvidedKind};

/// The registry the shipped workflows are checked and run against: the built-in guards and
/// effects, and the rules below.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    register(&mut registry);
    registry
}

const fn text_field(path: &'static str) -> Provided {
    Provided { path, kind: ProvidedKind::Text }
}

/// What `provider_may_invite` fills in: both partners' names, the reseller's legal country (the
/// zone its admins read dates in), and its global admins, each of whom the invitation goes to.
const PROVIDER_INVITATION: &[Provided] = &[
    text_field("provider.name"),
    text_field("reseller.name"),
    text_field("reseller.country"),
    Provided { path: "reseller.admins", kind: ProvidedKind::Recipients },
];

/// What `reseller_may_invite_customer` fills in: the reseller's name, the sending user's name,
/// and the customer's admin the invitation goes to (the recorded contact of a customer the
/// directory knows).
const CUSTOMER_INVITATION: &[Provided] = &[
    text_field("reseller.name"),
    text_field("sender.name"),
    Provided { path: "customer.admin.email", kind: ProvidedKind::Email },
    text_field("customer.admin.name"),
];

/// What `reseller_and_provider_may_invite_customer` fills in: the same, and the provider's name.
const DUAL_CUSTOMER_INVITATION: &[Provided] = &[
    text_field("reseller.name"),
    text_field("sender.name"),
    text_field("provider.name"),
    Provided { path: "customer.admin.email", kind: ProvidedKind::Email },
    text_field("customer.admin.name"),
];

/// Adds the Cloud Solution Provider effects and start checks to `registry`.
pub fn register(registry: &mut Registry) {
    registry.effect("create_reseller", create_reseller);
    registry.effect("activate_partner", activate_partner);
    registry.effect("relate_provider", relate_provider);
    registry.effect("accept_customer_invitation", accept_customer_invitation);
    registry.effect("accept_customer_agreement", accept_customer_agreement);
    registry.start_check("provider_may_invite", PROVIDER_INVITATION, |input, directory| {
        Box::pin(provider_may_invite(input, directory))
    });
    registry.start_check("reseller_may_invite_customer", CUSTOMER_INVITATION, |input, directory| {
        Box::pin(customers::reseller_may_invite_customer(input, directory))
    });
    registry.start_check("reseller_and_provider_may_invite_customer", DUAL_CUSTOMER_INVITATION, |input, directory| {
        Box::pin(customers::reseller_and_provider_may_invite_customer(input, directory))
    });
    registry.start_check("customer_needs_agreement", &[], |input, directory| {
        Box::pin(customer_needs_agreement(input, directory))
    });
    registry.start_check("enrollment_path", enrollment::ENROLLMENT, |input, directory| {
        Box::pin(enrollment::enrollment_path(input, directory))
    });
}

#[path = "csp_customers.rs"]
mod customers;
#[path = "csp_enrollment.rs"]
pub mod enrollment;

/// Sets `value` at the dotted `path` of `context`, making the objects on the way.
fn put(context: &mut Value, path: &str, value: Value) {
    let mut target = context;
    for key in path.split('.') {
        if !target.is_object() {
            *target = Value::Object(serde_json::Map::new());
        }
        let Value::Object(map) = target else { return };
        target = map.entry(key.to_owned()).or_insert(Value::Null);
    }
    *target = value;
}

fn refused(field: &str, code: &'static str, message: String) -> FieldError {
    FieldError { field: field.to_owned(), code, message }
}

fn partner_id(input: &Value, path: &str) -> Result<uuid::Uuid, FieldError> {
    let text = text(input, path).unwrap_or_default();
    uuid::Uuid::parse_str(text.trim()).map_err(|_| {
        refused(
            path,
            "invalid_partner_id",
            format!("`{path}` must be a partner id (a UUID); `accord partners` lists them"),
        )
    })
}

/// The partner at `path` if it is an active partner of `kind`; otherwise says why not.
async fn active_partner(
    input: &Value,
    path: &str,
    kind: PartnerKind,
    directory: &dyn DirectoryReader,
    errors: &mut Vec<FieldError>,
) -> Result<Option<PartnerRecord>, ReadError> {
    let id = match partner_id(input, path) {
        Ok(id) => id,
        Err(err) => {
            errors.push(err);
            return Ok(None);
        }
    };
    let (what, code) = match kind {
        PartnerKind::IndirectProvider => ("an indirect provider", "not_a_provider"),
        PartnerKind::IndirectReseller => ("an indirect reseller", "not_a_reseller"),
    };
    match directory.partner(id).await? {
        Some(p) if p.kind != kind => {
            errors.push(refused(path, code, format!("{} is not {what}", p.legal_name)));
            Ok(None)
        }
        Some(p) if p.status != PartnerStatus::Active => {
            let message = match kind {
                PartnerKind::IndirectReseller => format!(
                    "the reseller {} is not active yet: its enrollment must be approved and the agreement accepted",
                    p.legal_name
                ),
                PartnerKind::IndirectProvider => format!("the provider {} is not active", p.legal_name),
            };
            errors.push(refused(path, "partner_not_active", message));
            Ok(None)
        }
        Some(p) => Ok(Some(p)),
        None => {
            errors.push(refused(path, "unknown_partner", format!("no partner with id {id}")));
            Ok(None)
        }
    }
}

/// An active indirect provider may invite an active indirect reseller whose legal country it
/// serves, unless they are related already. The invitation goes to every global admin of the
/// reseller the directory records: a `reseller.email` given that is not one of them is refused.
async fn provider_may_invite(input: Value, directory: Arc<dyn DirectoryReader>) -> Result<StartChecked, ReadError> {
    let mut checked = StartChecked::default();
    let errors = &mut checked.errors;
    let provider = active_partner(&input, "provider.id", PartnerKind::IndirectProvider, &*directory, errors).await?;
    let reseller = active_partner(&input, "reseller.id", PartnerKind::IndirectReseller, &*directory, errors).await?;
    if let Some(provider) = &provider {
        put(&mut checked.context, "provider.name", json!(provider.legal_name));
    }
    if let Some(reseller) = &reseller {
        put(&mut checked.context, "reseller.name", json!(reseller.legal_name));
        put(&mut checked.context, "reseller.country", json!(reseller.country));
        let admins: Vec<PartnerUserRecord> = directory
            .partner_users(reseller.id)
            .await?
            .into_iter()
            .filter(|user| user.roles.contains(&Role::GlobalAdmin))
            .collect();
        let addresses: Vec<&str> = admins.iter().map(|admin| admin.email.as_str()).collect();
        let given = text(&input, "reseller.email").ok();
        if admins.is_empty() {
            errors.push(refused(
                "reseller.id",
                "no_global_admin",
                format!(
                    "{} has no global admin in the directory to authorise an indirect provider; `accord partners` \
                     lists its users and their roles",
                    reseller.legal_name
                ),
            ));
        } else if let Some(given) = given.filter(|given| !addresses.iter().any(|a| a.eq_ignore_ascii_case(given))) {
            errors.push(refused(
                "reseller.email",
                "not_the_owner",
                format!(
                    "{given} is not a global admin of {}: the invitation goes to its global admins as the directory \
                     records them ({}); leave out `reseller.email`, or give one of them",
                    reseller.legal_name,
                    addresses.join(", ")
                ),
            ));
        }
        let recipients: Vec<Value> =
            admins.iter().map(|admin| json!({ "email": admin.email, "name": admin.name })).collect();
        put(&mut checked.context, "reseller.admins", Value::Array(recipients));
    }
    if let (Some(provider), Some(reseller)) = (provider, reseller) {
        let regions = crate::regions::shipped().map_err(|err| ReadError::new(err.clone()))?;
        let served = regions.served_by(&provider);
        if !served.includes(&reseller.country) {
            errors.push(refused(
                "reseller.id",
                "country_not_served",
                format!(
                    "{} does not serve {}, the legal country of {}; it serves: {}",
                    provider.legal_name,
                    reseller.country,
                    reseller.legal_name,
                    served.countries.join(", ")
                ),
            ));
        }
        let related = directory.relationships(reseller.id).await?.iter().any(|r| r.provider_id == Some(provider.id));
        if related {
            errors.push(refused(
                "reseller.id",
                "already_related",
                format!("{} is already an indirect provider of {}", provider.legal_name, reseller.legal_name),
            ));
        }
    }
    Ok(checked)
}

/// An agreement-acceptance request: the customer has a relationship with the partner and has not
/// accepted the customer agreement.
async fn customer_needs_agreement(
    input: Value,
    directory: Arc<dyn DirectoryReader>,
) -> Result<StartChecked, ReadError> {
    agreement_errors(input, directory).await.map(StartChecked::refused)
}

/// Every reason the customer agreement cannot be requested.
async fn agreement_errors(input: Value, directory: Arc<dyn DirectoryReader>) -> Result<Vec<FieldError>, ReadError> {
    let mut errors = Vec::new();
    let customer = match uuid::Uuid::parse_str(&text(&input, "customer.id").unwrap_or_default()) {
        Err(_) => {
            errors.push(refused(
                "customer.id",
                "invalid_customer_id",
                "`customer.id` must be a customer id (a UUID); `accord customers` lists them".into(),
            ));
            return Ok(errors);
        }
        Ok(id) => match directory.customer(id).await? {
            None => {
                errors.push(refused("customer.id", "unknown_customer", format!("no customer with id {id}")));
                return Ok(errors);
            }
            Some(customer) => customer,
        },
    };
    if let Some(at) = customer.agreement_accepted_at {
        errors.push(refused(
            "customer.id",
            "agreement_already_accepted",
            format!("{} accepted the customer agreement already (at {at})", customer.name),
        ));
    }
    let partner = match partner_id(&input, "partner.id") {
        Ok(partner) => partner,
        Err(err) => {
            errors.push(err);
            return Ok(errors);
        }
    };
    // Compared as ids, not as text: an id in capitals or braces names the same partner.
    let related = directory
        .customer_partners(customer.id)
        .await?
        .iter()
        .any(|p| p.removed_at.is_none() && p.partner_id == partner);
    if !related {
        errors.push(refused(
            "partner.id",
            "not_related",
            format!("{partner} has no relationship with {}; invite the customer instead", customer.name),
        ));
    }
    Ok(errors)
}

/// The reseller authorised the provider: required, in the same transaction, that both are
/// still active, that the person authorising is still a global admin of the reseller, and that
/// the provider is not its indirect provider already.
fn relate_provider(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    let id = |path: &str| {
        text(call.context, path)
            .and_then(|t| uuid::Uuid::parse_str(&t).map_err(|_| format!("`{path}` is not a partner id")))
    };
    let (reseller, provider) = (id("reseller.id")?, id("provider.id")?);
    let reseller_name = name(call.context, "reseller.name", reseller);
    let provider_name = name(call.context, "provider.name", provider);
    let mut effects = vec![
        Effect::Require(Precondition::PartnerActive {
            partner: reseller,
            kind: PartnerKind::IndirectReseller,
            name: reseller_name.clone(),
        }),
        Effect::Require(Precondition::PartnerActive {
            partner: provider,
            kind: PartnerKind::IndirectProvider,
            name: provider_name.clone(),
        }),
    ];
    if let Some(by) = call.by {
        effects.push(Effect::Require(Precondition::HoldsRole {
            partner: reseller,
            partner_name: reseller_name,
            email: by.to_owned(),
            roles: vec![Role::GlobalAdmin],
        }));
    }
    effects.push(Effect::Require(Precondition::NotRelated { reseller, provider, provider_name }));
    effects.push(Effect::Directory(DirectoryChange::RelateProvider { reseller, provider }));
    Ok(effects)
}

/// A partner's name as the context holds it (filled in by a start check), else its id.
fn name(context: &Value, path: &str, id: uuid::Uuid) -> String {
    text(context, path).unwrap_or_else(|_| id.to_string())
}

fn text(context: &Value, path: &str) -> Result<String, String> {
    crate::workflow::field(context, path)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the instance has no `{path}`"))
}

/// On approval: the partner record, pending the agreement, with the global admin in the
/// admin-agent group (needed to finish setting up the account and add users).
fn create_reseller(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    let context = call.context;
    Ok(vec![Effect::Directory(DirectoryChange::CreatePartner(NewPartner {
        id: call.instance_id,
        kind: PartnerKind::IndirectReseller,
        legal_name: text(context, "company.legal_name")?,
        country: text(context, "company.address.country")?,
        mpn_id: text(context, "mpn.id")?,
        tenant_domain: text(context, "tenant.domain")?,
        status: PartnerStatus::PendingAgreement,
        served_countries: Vec::new(),
        users: vec![NewUser {
            email: text(context, "global_admin.email")?,
            name: text(context, "global_admin.name")?,
            roles: vec![Role::GlobalAdmin, Role::AdminAgent],
        }],
    }))])
}

/// Once the global admin accepts the Microsoft Partner Agreement.
fn activate_partner(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    Ok(vec![Effect::Directory(DirectoryChange::SetPartnerStatus {
        id: call.instance_id,
        status: PartnerStatus::Active,
    })])
}

/// The customer accepted a (single or dual) invitation: reseller relationships with the reseller
/// (with delegated admin privileges if asked for) and, in a dual invitation, the provider; and
/// the customer agreement. Written in the transition's transaction: all of it or none, and only
/// if the partners are still active, the provider still authorised, and the tenant's recorded
/// admin contact (if it is a customer by now) still the person the invitation went to.
fn accept_customer_invitation(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    let context = call.context;
    let id = |path: &str| {
        text(context, path).and_then(|t| uuid::Uuid::parse_str(&t).map_err(|_| format!("`{path}` is not an id")))
    };
    let dap = context.get("dap").and_then(Value::as_bool).unwrap_or(false);
    let reseller = id("reseller.id")?;
    let mut requires = vec![Precondition::PartnerActive {
        partner: reseller,
        kind: PartnerKind::IndirectReseller,
        name: name(context, "reseller.name", reseller),
    }];
    let mut relationships =
        vec![NewCustomerRelationship { partner: reseller, kind: CustomerRelationshipKind::reseller(dap), dap }];
    if context.pointer("/provider/id").is_some() {
        let provider = id("provider.id")?;
        let provider_name = name(context, "provider.name", provider);
        requires.push(Precondition::PartnerActive {
            partner: provider,
            kind: PartnerKind::IndirectProvider,
            name: provider_name.clone(),
        });
        requires.push(Precondition::ProviderAuthorized { reseller, provider, provider_name });
        relationships.push(NewCustomerRelationship {
            partner: provider,
            kind: CustomerRelationshipKind::Reseller,
            dap: false,
        });
    }
    let cloud = match context.pointer("/customer/cloud").and_then(Value::as_str) {
        Some(text) => text.parse::<Cloud>()?,
        None => Cloud::Public,
    };
    // The admin the start check chose (instances started before it did: the input's address).
    let email = text(context, "customer.admin.email").or_else(|_| text(context, "customer.email"))?;
    let admin_name = text(context, "customer.admin.name")
        .or_else(|_| text(context, "customer.contact"))
        .unwrap_or_else(|_| email.clone());
    let domain = text(context, "customer.domain")?;
    requires.push(Precondition::CustomerContact { domain: domain.clone(), email: email.clone() });
    let mut effects: Vec<Effect> = requires.into_iter().map(Effect::Require).collect();
    effects.push(Effect::Directory(DirectoryChange::AcceptInvitation {
        customer: NewCustomer {
            id: call.instance_id,
            name: text(context, "customer.name")?,
            domain,
            country: text(context, "customer.country")?,
            cloud,
            admin_name,
            admin_email: email.clone(),
            locale: text(context, "customer.locale").ok(),
        },
        relationships,
        accepted_by: email,
    }));
    Ok(effects)
}

/// The customer accepted the customer agreement.
fn accept_customer_agreement(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    let customer = text(call.context, "customer.id")?;
    Ok(vec![Effect::Directory(DirectoryChange::AcceptCustomerAgreement {
        customer: uuid::Uuid::parse_str(&customer).map_err(|_| "`customer.id` is not an id".to_owned())?,
        accepted_by: text(call.context, "customer.email")?,
    })])
}

#[cfg(test)]
#[path = "csp_tests/mod.rs"]
mod tests;

#[cfg(test)]
#[path = "csp_effect_tests.rs"]
mod effect_tests;
