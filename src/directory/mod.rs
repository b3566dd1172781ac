//! The partner directory: partners (indirect resellers and providers), their users and roles,
//! and the audit log. Workflows change it through effects, written in the transition's own
//! transaction.

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::clock::Timestamp;
use crate::text_enum;

text_enum! {
    pub enum PartnerKind {
        IndirectReseller => "indirect_reseller",
        IndirectProvider => "indirect_provider",
    }
}

text_enum! {
    pub enum PartnerStatus {
        /// Approved; the global admin has not yet accepted the Microsoft Partner Agreement.
        PendingAgreement => "pending_agreement",
        Active => "active",
    }
}

text_enum! {
    /// What a partner's user may do in the Partner Center.
    pub enum Role {
        GlobalAdmin => "global_admin",
        UserAdmin => "user_admin",
        AdminAgent => "admin_agent",
        SalesAgent => "sales_agent",
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct PartnerRecord {
    pub id: uuid::Uuid,
    pub kind: PartnerKind,
    pub legal_name: String,
    pub country: String,
    pub mpn_id: String,
    pub tenant_domain: String,
    pub status: PartnerStatus,
    /// For an indirect provider: the countries (ISO codes) whose resellers it may serve.
    pub served_countries: Json<Vec<String>>,
    pub enrollment_id: Option<uuid::Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct PartnerUserRecord {
    #[serde(skip)]
    pub partner_id: uuid::Uuid,
    pub email: String,
    pub name: String,
    pub roles: Json<Vec<Role>>,
    pub created_at: Timestamp,
}

/// A user to add with a new partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
}

/// A change to the directory, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryChange {
    /// A new partner with its users (an approved enrollment, or a provider added directly).
    CreatePartner(NewPartner),
    SetPartnerStatus {
        id: uuid::Uuid,
        status: PartnerStatus,
    },
    /// The reseller authorised the provider: orders on behalf of its customers, admin access to
    /// its work account.
    RelateProvider {
        reseller: uuid::Uuid,
        provider: uuid::Uuid,
    },
    /// The reseller took back its provider's administrator access; the relationship stays.
    RemoveProviderAdminAccess {
        reseller: uuid::Uuid,
        provider: uuid::Uuid,
    },
}

/// A partner to add, with its users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPartner {
    pub id: uuid::Uuid,
    pub kind: PartnerKind,
    pub legal_name: String,
    pub country: String,
    pub mpn_id: String,
    pub tenant_domain: String,
    pub status: PartnerStatus,
    pub served_countries: Vec<String>,
    pub users: Vec<NewUser>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct RelationshipRecord {
    pub id: uuid::Uuid,
    pub kind: String,
    pub reseller_id: uuid::Uuid,
    pub provider_id: Option<uuid::Uuid>,
    pub admin_access: bool,
    pub created_at: Timestamp,
}

impl DirectoryChange {
    /// What the audit log says about it.
    pub fn audit(&self) -> (&'static str, String, Value) {
        match self {
            DirectoryChange::CreatePartner(p) => (
                "partner_created",
                format!("partner:{}", p.id),
                serde_json::json!({ "kind": p.kind, "legal_name": p.legal_name, "serves": p.served_countries,
                    "users": p.users.iter().map(|u| serde_json::json!({ "email": u.email, "roles": u.roles })).collect::<Vec<_>>() }),
            ),
            DirectoryChange::SetPartnerStatus { id, status } => {
                ("partner_status", format!("partner:{id}"), serde_json::json!({ "status": status }))
            }
            DirectoryChange::RelateProvider { reseller, provider } => {
                ("provider_authorized", format!("partner:{reseller}"), serde_json::json!({ "provider": provider }))
            }
            DirectoryChange::RemoveProviderAdminAccess { reseller, provider } => (
                "provider_admin_access_removed",
                format!("partner:{reseller}"),
                serde_json::json!({ "provider": provider }),
            ),
        }
    }
}
