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
    CreatePartner {
        id: uuid::Uuid,
        kind: PartnerKind,
        legal_name: String,
        country: String,
        mpn_id: String,
        tenant_domain: String,
        users: Vec<NewUser>,
    },
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
}

/// A partner added directly (indirect providers, which deal with Microsoft themselves).
#[derive(Clone, Debug)]
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
            DirectoryChange::CreatePartner { id, kind, legal_name, users, .. } => (
                "partner_created",
                format!("partner:{id}"),
                serde_json::json!({ "kind": kind, "legal_name": legal_name,
                    "users": users.iter().map(|u| serde_json::json!({ "email": u.email, "roles": u.roles })).collect::<Vec<_>>() }),
            ),
            DirectoryChange::SetPartnerStatus { id, status } => {
                ("partner_status", format!("partner:{id}"), serde_json::json!({ "status": status }))
            }
            DirectoryChange::RelateProvider { reseller, provider } => {
                ("provider_authorized", format!("partner:{reseller}"), serde_json::json!({ "provider": provider }))
            }
        }
    }
}
