//! What must still hold when a transition's directory changes are written: the start's checks,
//! made again in the transition's own transaction. A start check reads the directory before the
//! instance exists; weeks may pass before the link is clicked, and the directory moves on
//! meanwhile (a partner deactivated, a relationship removed, a contact changed). The store checks
//! each precondition just before the step's directory changes and, if one no longer holds,
//! writes nothing and says which ([`Unmet`]).

use serde::{Deserialize, Serialize};

use crate::directory::{PartnerKind, Role};

/// A fact about the directory a transition's changes depend on, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// The partner exists, is of `kind`, and is active. `name` is how the reason names it.
    PartnerActive { partner: uuid::Uuid, kind: PartnerKind, name: String },
    /// The reseller has the provider as its indirect provider (the relationship not removed).
    ProviderAuthorized { reseller: uuid::Uuid, provider: uuid::Uuid, provider_name: String },
    /// The reseller does not have the provider as its indirect provider yet.
    NotRelated { reseller: uuid::Uuid, provider: uuid::Uuid, provider_name: String },
    /// The customer with this tenant domain, if there is one yet, has `email` as its admin
    /// contact: only that contact may grant a partner rights over the tenant.
    CustomerContact { domain: String, email: String },
    /// The user `email` of the partner holds one of `roles` (the person answering a link still
    /// has the standing the link was sent for).
    HoldsRole { partner: uuid::Uuid, partner_name: String, email: String, roles: Vec<Role> },
}

crate::text_enum! {
    /// Why a precondition no longer holds: a stable code for scripts, and the key of the
    /// localised sentence the link page shows.
    pub enum UnmetReason {
        PartnerNotActive => "partner_not_active",
        ProviderNotAuthorized => "provider_not_authorized",
        AlreadyRelated => "already_related",
        CustomerContactChanged => "customer_contact_changed",
        RoleRemoved => "role_removed",
    }
}

/// A precondition that no longer holds: why, whom it is about (`subject`: a partner's name, a
/// tenant domain, the person), and an English sentence for logs and API callers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmet {
    pub reason: UnmetReason,
    pub subject: String,
    pub message: String,
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Precondition {
    /// What to say when this no longer holds.
    pub fn unmet(&self) -> Unmet {
        let (reason, subject, message) = match self {
            Precondition::PartnerActive { name, .. } => {
                (UnmetReason::PartnerNotActive, name.clone(), format!("{name} is no longer an active partner"))
            }
            Precondition::ProviderAuthorized { provider_name, .. } => (
                UnmetReason::ProviderNotAuthorized,
                provider_name.clone(),
                format!("{provider_name} is no longer the reseller's authorised indirect provider"),
            ),
            Precondition::NotRelated { provider_name, .. } => (
                UnmetReason::AlreadyRelated,
                provider_name.clone(),
                format!("{provider_name} is already an indirect provider of the reseller"),
            ),
            Precondition::CustomerContact { domain, email } => (
                UnmetReason::CustomerContactChanged,
                domain.clone(),
                format!("the admin contact recorded for {domain} is no longer {email}"),
            ),
            Precondition::HoldsRole { partner_name, email, roles, .. } => {
                let roles: Vec<&str> = roles.iter().map(Role::as_str).collect();
                (
                    UnmetReason::RoleRemoved,
                    partner_name.clone(),
                    format!("{email} is not a {} of {partner_name}", roles.join(" or ")),
                )
            }
        };
        Unmet { reason, subject, message }
    }
}
