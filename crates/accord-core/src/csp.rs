//! Cloud Solution Provider rules that need code: guards and effects the shipped workflows
//! reference by name.

use std::sync::Arc;

use serde_json::Value;

use crate::directory::{
    Cloud, CustomerRelationshipKind, DirectoryChange, DirectoryReader, NewCustomer, NewCustomerRelationship,
    NewPartner, NewUser, PartnerKind, PartnerRecord, PartnerStatus, ReadError, Role,
};
use crate::machine::{Call, Effect, Registry};
use crate::workflow::FieldError;

/// The registry the shipped workflows are checked and run against: the built-in guards and
/// effects, and the rules below.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    register(&mut registry);
    registry
}

/// Adds the Cloud Solution Provider effects and start checks to `registry`.
pub fn register(registry: &mut Registry) {
    registry.effect("create_reseller", create_reseller);
    registry.effect("activate_partner", activate_partner);
    registry.effect("relate_provider", relate_provider);
    registry.effect("accept_customer_invitation", accept_customer_invitation);
    registry.effect("accept_customer_agreement", accept_customer_agreement);
    registry.start_check("provider_may_invite", |input, directory| Box::pin(provider_may_invite(input, directory)));
    registry.start_check("reseller_may_invite_customer", |input, directory| {
        Box::pin(reseller_may_invite_customer(input, directory))
    });
    registry.start_check("reseller_and_provider_may_invite_customer", |input, directory| {
        Box::pin(reseller_and_provider_may_invite_customer(input, directory))
    });
    registry.start_check("customer_needs_agreement", |input, directory| {
        Box::pin(customer_needs_agreement(input, directory))
    });
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
/// serves, unless they are related already.
async fn provider_may_invite(input: Value, directory: Arc<dyn DirectoryReader>) -> Result<Vec<FieldError>, ReadError> {
    let mut errors = Vec::new();
    let provider =
        active_partner(&input, "provider.id", PartnerKind::IndirectProvider, &*directory, &mut errors).await?;
    let reseller =
        active_partner(&input, "reseller.id", PartnerKind::IndirectReseller, &*directory, &mut errors).await?;
    if let (Some(provider), Some(reseller)) = (provider, reseller) {
        if !provider.served_countries.iter().any(|c| c == &reseller.country) {
            errors.push(refused(
                "reseller.id",
                "country_not_served",
                format!(
                    "{} does not serve {}, the legal country of {}; it serves: {}",
                    provider.legal_name,
                    reseller.country,
                    reseller.legal_name,
                    provider.served_countries.join(", ")
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
    Ok(errors)
}

/// A customer invitation: sent for an active reseller by one of its global admins or admin
/// agents, with delegated admin privileges wherever the customer's cloud requires them.
async fn reseller_may_invite_customer(
    input: Value,
    directory: Arc<dyn DirectoryReader>,
) -> Result<Vec<FieldError>, ReadError> {
    let mut errors = Vec::new();
    check_customer_request(&input, &*directory, &mut errors).await?;
    Ok(errors)
}

/// A dual invitation also needs the reseller's authorised indirect provider.
async fn reseller_and_provider_may_invite_customer(
    input: Value,
    directory: Arc<dyn DirectoryReader>,
) -> Result<Vec<FieldError>, ReadError> {
    let mut errors = Vec::new();
    let reseller = check_customer_request(&input, &*directory, &mut errors).await?;
    let provider =
        active_partner(&input, "provider.id", PartnerKind::IndirectProvider, &*directory, &mut errors).await?;
    if let (Some(reseller), Some(provider)) = (reseller, provider) {
        let authorised = directory.relationships(reseller.id).await?;
        if !authorised.iter().any(|r| r.provider_id == Some(provider.id)) {
            let others: Vec<String> = authorised.iter().filter_map(|r| r.provider_id).map(|p| p.to_string()).collect();
            let hint = if others.is_empty() {
                format!("{} has no authorised indirect provider yet", reseller.legal_name)
            } else {
                format!("its authorised providers are: {}", others.join(", "))
            };
            errors.push(refused(
                "provider.id",
                "no_provider_relationship",
                format!(
                    "{} has not authorised {} as its indirect provider ({hint}); the provider must first invite \
                     it (workflow provider_invitation) and the reseller authorise it",
                    reseller.legal_name, provider.legal_name
                ),
            ));
        }
    }
    Ok(errors)
}

/// The checks single and dual invitations share; returns the reseller when it may invite.
async fn check_customer_request(
    input: &Value,
    directory: &dyn DirectoryReader,
    errors: &mut Vec<FieldError>,
) -> Result<Option<PartnerRecord>, ReadError> {
    let reseller = active_partner(input, "reseller.id", PartnerKind::IndirectReseller, directory, errors).await?;
    if let Some(reseller) = &reseller {
        let sender = text(input, "sender.email").unwrap_or_default();
        let users = directory.partner_users(reseller.id).await?;
        match users.iter().find(|u| u.email.eq_ignore_ascii_case(&sender)) {
            None => errors.push(refused(
                "sender.email",
                "unknown_user",
                format!("{sender} is not a user of {}; `accord partners` lists its users", reseller.legal_name),
            )),
            Some(user) if !user.roles.iter().any(|r| matches!(r, Role::GlobalAdmin | Role::AdminAgent)) => {
                let roles: Vec<&str> = user.roles.iter().map(Role::as_str).collect();
                errors.push(refused(
                    "sender.email",
                    "role_not_allowed",
                    format!(
                        "only a global admin or an admin agent of {} may invite customers; {sender} is: {}",
                        reseller.legal_name,
                        if roles.is_empty() { "no role".to_owned() } else { roles.join(", ") }
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let cloud = match input.pointer("/customer/cloud").and_then(Value::as_str) {
        None => Some(Cloud::Public),
        Some(text) => match text.parse::<Cloud>() {
            Ok(cloud) => Some(cloud),
            Err(_) => {
                let names: Vec<&str> = Cloud::ALL.iter().map(Cloud::as_str).collect();
                errors.push(refused(
                    "customer.cloud",
                    "invalid_cloud",
                    format!("`customer.cloud` must be one of {}, not `{text}`", names.join(", ")),
                ));
                None
            }
        },
    };
    let dap = input.get("dap").and_then(Value::as_bool).unwrap_or(false);
    if let Some(cloud) = cloud.filter(|c| c.requires_dap() && !dap) {
        let name = match cloud {
            Cloud::UsGovernment => "Microsoft Cloud for US Government",
            _ => "Microsoft Cloud Germany",
        };
        errors.push(refused(
            "dap",
            "dap_required",
            format!(
                "in the {name} a reseller relationship cannot be requested without delegated admin privileges: \
                 send \"dap\": true"
            ),
        ));
    }
    Ok(reseller)
}

/// An agreement-acceptance request: the customer has a relationship with the partner and has not
/// accepted the customer agreement.
async fn customer_needs_agreement(
    input: Value,
    directory: Arc<dyn DirectoryReader>,
) -> Result<Vec<FieldError>, ReadError> {
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

/// The reseller authorised the provider.
fn relate_provider(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    let id = |path: &str| {
        text(call.context, path)
            .and_then(|t| uuid::Uuid::parse_str(&t).map_err(|_| format!("`{path}` is not a partner id")))
    };
    Ok(vec![Effect::Directory(DirectoryChange::RelateProvider {
        reseller: id("reseller.id")?,
        provider: id("provider.id")?,
    })])
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
/// the customer agreement. Written in the transition's transaction: all of it or none.
fn accept_customer_invitation(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    let context = call.context;
    let id = |path: &str| {
        text(context, path).and_then(|t| uuid::Uuid::parse_str(&t).map_err(|_| format!("`{path}` is not an id")))
    };
    let dap = context.get("dap").and_then(Value::as_bool).unwrap_or(false);
    let mut relationships = vec![NewCustomerRelationship {
        partner: id("reseller.id")?,
        kind: CustomerRelationshipKind::reseller(dap),
        dap,
    }];
    if context.pointer("/provider/id").is_some() {
        relationships.push(NewCustomerRelationship {
            partner: id("provider.id")?,
            kind: CustomerRelationshipKind::Reseller,
            dap: false,
        });
    }
    let cloud = match context.pointer("/customer/cloud").and_then(Value::as_str) {
        Some(text) => text.parse::<Cloud>()?,
        None => Cloud::Public,
    };
    let email = text(context, "customer.email")?;
    Ok(vec![Effect::Directory(DirectoryChange::AcceptInvitation {
        customer: NewCustomer {
            id: call.instance_id,
            name: text(context, "customer.name")?,
            domain: text(context, "customer.domain")?,
            country: text(context, "customer.country")?,
            cloud,
            admin_name: text(context, "customer.contact").unwrap_or_else(|_| email.clone()),
            admin_email: email.clone(),
            locale: text(context, "customer.locale").ok(),
        },
        relationships,
        accepted_by: email,
    })])
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
