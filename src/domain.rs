//! Cloud Solution Provider rules that need code: guards and effects the shipped workflows
//! reference by name.

use std::sync::Arc;

use serde_json::Value;

use crate::directory::{DirectoryChange, NewPartner, NewUser, PartnerKind, PartnerStatus, Role};
use crate::engine::registry::{Call, Registry};
use crate::engine::Effect;
use crate::store::{Store, StoreError};
use crate::workflow::FieldError;

pub fn register(registry: &mut Registry) {
    registry.effect("create_reseller", create_reseller);
    registry.effect("activate_partner", activate_partner);
    registry.effect("relate_provider", relate_provider);
    registry.start_check("provider_may_invite", |input, store| Box::pin(provider_may_invite(input, store)));
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

/// An active indirect provider may invite an active indirect reseller whose legal country it
/// serves, unless they are related already.
async fn provider_may_invite(input: Value, store: Arc<dyn Store>) -> Result<Vec<FieldError>, StoreError> {
    let mut errors = Vec::new();
    let provider = match partner_id(&input, "provider.id") {
        Ok(id) => match store.partner(id).await? {
            Some(p) if p.kind != PartnerKind::IndirectProvider => {
                errors.push(refused(
                    "provider.id",
                    "not_a_provider",
                    format!("{} is not an indirect provider", p.legal_name),
                ));
                None
            }
            Some(p) if p.status != PartnerStatus::Active => {
                errors.push(refused(
                    "provider.id",
                    "partner_not_active",
                    format!("the provider {} is not active", p.legal_name),
                ));
                None
            }
            Some(p) => Some(p),
            None => {
                errors.push(refused("provider.id", "unknown_partner", format!("no partner with id {id}")));
                None
            }
        },
        Err(err) => {
            errors.push(err);
            None
        }
    };
    let reseller = match partner_id(&input, "reseller.id") {
        Ok(id) => {
            match store.partner(id).await? {
                Some(r) if r.kind != PartnerKind::IndirectReseller => {
                    errors.push(refused(
                        "reseller.id",
                        "not_a_reseller",
                        format!("{} is not an indirect reseller", r.legal_name),
                    ));
                    None
                }
                Some(r) if r.status != PartnerStatus::Active => {
                    errors.push(refused(
                    "reseller.id",
                    "partner_not_active",
                    format!("the reseller {} is not active yet: its enrollment must be approved and the agreement accepted", r.legal_name),
                ));
                    None
                }
                Some(r) => Some(r),
                None => {
                    errors.push(refused("reseller.id", "unknown_partner", format!("no partner with id {id}")));
                    None
                }
            }
        }
        Err(err) => {
            errors.push(err);
            None
        }
    };
    if let (Some(provider), Some(reseller)) = (provider, reseller) {
        if !provider.served_countries.0.iter().any(|c| c == &reseller.country) {
            errors.push(refused(
                "reseller.id",
                "country_not_served",
                format!(
                    "{} does not serve {}, the legal country of {}; it serves: {}",
                    provider.legal_name,
                    reseller.country,
                    reseller.legal_name,
                    provider.served_countries.0.join(", ")
                ),
            ));
        }
        let related = store.relationships(reseller.id).await?.iter().any(|r| r.provider_id == Some(provider.id));
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
    path.split('.')
        .try_fold(context, |value, key| value.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the enrollment has no `{path}`"))
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
