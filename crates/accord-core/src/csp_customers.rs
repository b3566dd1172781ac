//! The start checks of customer invitations, single and dual: who may send one, to whom it
//! goes (a known tenant's recorded contact only), the clouds that require delegated admin
//! privileges, and the reseller's CSP region (seed 001).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{active_partner, put, refused, text};
use crate::directory::{Cloud, DirectoryReader, PartnerKind, PartnerRecord, ReadError, Role};
use crate::machine::StartChecked;

/// A customer invitation: sent for an active reseller by one of its global admins or admin
/// agents, with delegated admin privileges wherever the customer's cloud requires them, to the
/// customer's admin (the recorded contact, if the tenant is a customer already).
pub(super) async fn reseller_may_invite_customer(
    input: Value,
    directory: Arc<dyn DirectoryReader>,
) -> Result<StartChecked, ReadError> {
    let mut checked = StartChecked::default();
    check_customer_request(&input, &*directory, &mut checked).await?;
    Ok(checked)
}

/// A dual invitation also needs the reseller's authorised indirect provider.
pub(super) async fn reseller_and_provider_may_invite_customer(
    input: Value,
    directory: Arc<dyn DirectoryReader>,
) -> Result<StartChecked, ReadError> {
    let mut checked = StartChecked::default();
    let reseller = check_customer_request(&input, &*directory, &mut checked).await?;
    let errors = &mut checked.errors;
    let provider = active_partner(&input, "provider.id", PartnerKind::IndirectProvider, &*directory, errors).await?;
    if let Some(provider) = &provider {
        put(&mut checked.context, "provider.name", json!(provider.legal_name));
    }
    if let (Some(reseller), Some(provider)) = (reseller, provider) {
        let authorised = directory.relationships(reseller.id).await?;
        if !authorised.iter().any(|r| r.provider_id == Some(provider.id)) {
            let others: Vec<String> = authorised.iter().filter_map(|r| r.provider_id).map(|p| p.to_string()).collect();
            let hint = if others.is_empty() {
                format!("{} has no authorised indirect provider yet", reseller.legal_name)
            } else {
                format!("its authorised providers are: {}", others.join(", "))
            };
            checked.errors.push(refused(
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
    Ok(checked)
}

/// The checks single and dual invitations share; returns the reseller when it may invite.
async fn check_customer_request(
    input: &Value,
    directory: &dyn DirectoryReader,
    checked: &mut StartChecked,
) -> Result<Option<PartnerRecord>, ReadError> {
    let errors = &mut checked.errors;
    let reseller = active_partner(input, "reseller.id", PartnerKind::IndirectReseller, directory, errors).await?;
    if let Some(reseller) = &reseller {
        put(&mut checked.context, "reseller.name", json!(reseller.legal_name));
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
            // The user's name as the directory has it: the invitation's Reply-To.
            Some(user) => put(&mut checked.context, "sender.name", json!(user.name.trim())),
        }
    }
    customer_admin(input, directory, checked).await?;
    let errors = &mut checked.errors;
    if let Some(reseller) = &reseller {
        let regions = crate::regions::shipped().map_err(|err| ReadError::new(err.clone()))?;
        let country = text(input, "customer.country").unwrap_or_default();
        errors.extend(crate::regions::refuse_outside_region(
            regions,
            &reseller.legal_name,
            &reseller.country,
            &country,
        ));
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

/// Who a customer invitation goes to (`customer.admin`): for a tenant that is a customer
/// already, its recorded admin contact and nobody else (a different `customer.email` is
/// refused, naming the contact and how it is changed); for a new tenant, `customer.email`.
async fn customer_admin(
    input: &Value,
    directory: &dyn DirectoryReader,
    checked: &mut StartChecked,
) -> Result<(), ReadError> {
    let domain = text(input, "customer.domain").unwrap_or_default();
    let given = text(input, "customer.email").ok();
    match directory.customer_by_domain(&domain).await? {
        Some(customer) => {
            if let Some(given) = given.filter(|given| !given.eq_ignore_ascii_case(&customer.admin_email)) {
                checked.errors.push(refused(
                    "customer.email",
                    "customer_contact_mismatch",
                    format!(
                        "{domain} is already a customer ({}): an invitation goes only to its recorded admin contact, \
                         {}, not to {given}; leave out `customer.email` to send it there. If the customer's admin \
                         has changed, an operator records the new contact first: `accord customers set-contact {}` \
                         (POST /api/v1/customers/{}/contact)",
                        customer.name, customer.admin_email, customer.id, customer.id
                    ),
                ));
            }
            let admin = json!({ "email": customer.admin_email, "name": customer.admin_name });
            put(&mut checked.context, "customer.admin", admin);
        }
        None => match given {
            Some(email) => {
                let mut admin = json!({ "email": email });
                if let Ok(name) = text(input, "customer.contact") {
                    admin["name"] = json!(name);
                }
                put(&mut checked.context, "customer.admin", admin);
            }
            None => checked.errors.push(refused(
                "customer.email",
                "required",
                format!(
                    "`customer.email` is required: {domain} is not a customer yet, so the invitation goes to the \
                     address given"
                ),
            )),
        },
    }
    Ok(())
}
