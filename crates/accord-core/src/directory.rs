//! The partner directory: partners (indirect resellers and providers), their users and roles,
//! customers and their relationships with partners, and the audit log. Workflows change it through effects, written in the transition's own
//! transaction.

use serde::Serialize;
use serde_json::Value;

use crate::text_enum;
use crate::time::Timestamp;

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

text_enum! {
    /// The Microsoft cloud a customer's tenant lives in.
    pub enum Cloud {
        Public => "public",
        UsGovernment => "us_government",
        Germany => "germany",
    }
}

impl Cloud {
    /// In the US Government and Germany clouds a partner cannot ask for a relationship without
    /// delegated admin privileges (seed 003).
    pub fn requires_dap(self) -> bool {
        matches!(self, Cloud::UsGovernment | Cloud::Germany)
    }
}

text_enum! {
    /// What a customer lets a partner be (seed 004, "Manage partner relationships").
    pub enum CustomerRelationshipKind {
        /// Sells products to the customer.
        Reseller => "reseller",
        /// Manages products and services as a global admin of the customer's tenant.
        DelegatedAdmin => "delegated_admin",
        ResellerDelegatedAdmin => "reseller_delegated_admin",
        /// Resets passwords and handles support incidents.
        Advisor => "advisor",
        /// A user account assigned in the customer's tenant.
        Partner => "partner",
        /// Sees purchases made with other MPSA partners.
        Mpsa => "mpsa",
        /// Uploads device ids for Autopilot.
        PcOem => "pc_oem",
        /// Builds and manages the customer's line-of-business apps.
        LineOfBusiness => "line_of_business",
    }
}

impl CustomerRelationshipKind {
    /// Whether the customer may end the relationship itself; for every other type it must ask
    /// the partner to.
    pub fn customer_may_delete(self) -> bool {
        matches!(self, Self::DelegatedAdmin | Self::Advisor)
    }

    /// Whether the type comes with delegated admin privileges.
    pub fn grants_dap(self) -> bool {
        matches!(self, Self::DelegatedAdmin | Self::ResellerDelegatedAdmin)
    }

    /// The type after a customer accepts a reseller request (`self` is the type the partner
    /// already has): a reseller request keeps delegated administration the partner already had.
    pub fn merge(self, requested: Self) -> Self {
        if requested.grants_dap() || self.grants_dap() {
            Self::ResellerDelegatedAdmin
        } else {
            requested
        }
    }

    /// The type a reseller request asks for.
    pub fn reseller(dap: bool) -> Self {
        if dap {
            Self::ResellerDelegatedAdmin
        } else {
            Self::Reseller
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct PartnerRecord {
    pub id: uuid::Uuid,
    pub kind: PartnerKind,
    pub legal_name: String,
    pub country: String,
    pub mpn_id: String,
    pub tenant_domain: String,
    pub status: PartnerStatus,
    /// For an indirect provider: the countries (ISO codes) whose resellers it may serve.
    #[cfg_attr(feature = "sqlx", sqlx(json))]
    pub served_countries: Vec<String>,
    pub enrollment_id: Option<uuid::Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct PartnerUserRecord {
    #[serde(skip)]
    pub partner_id: uuid::Uuid,
    pub email: String,
    pub name: String,
    #[cfg_attr(feature = "sqlx", sqlx(json))]
    pub roles: Vec<Role>,
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
    /// A user joins a partner's account with roles.
    AddUser {
        partner: uuid::Uuid,
        user: NewUser,
    },
    /// A user's roles change (the user keeps their email and name).
    SetUserRoles {
        partner: uuid::Uuid,
        email: String,
        roles: Vec<Role>,
    },
    /// A user leaves a partner's account; their partner keys stop working with it.
    RemoveUser {
        partner: uuid::Uuid,
        email: String,
    },
    /// A customer's recorded admin contact changes (on the customer's word): the person
    /// consent for its tenant is asked of from then on.
    SetCustomerContact {
        customer: uuid::Uuid,
        name: String,
        email: String,
    },
    /// A customer the partners already work with, added directly (no agreement signed yet).
    AddCustomer {
        customer: NewCustomer,
        relationships: Vec<NewCustomerRelationship>,
    },
    /// The customer accepted an invitation: the customer (found by tenant domain, or added), its
    /// relationships with every inviting partner, and the customer agreement, all at once.
    AcceptInvitation {
        customer: NewCustomer,
        relationships: Vec<NewCustomerRelationship>,
        accepted_by: String,
    },
    /// The customer accepted the customer agreement for a relationship that existed without it.
    AcceptCustomerAgreement {
        customer: uuid::Uuid,
        accepted_by: String,
    },
    /// The partner ended its relationship with the customer; delegated admin privileges stay as
    /// they are and no notice is sent.
    RemoveCustomerRelationship {
        partner: uuid::Uuid,
        customer: uuid::Uuid,
        reason: String,
    },
    /// The customer removed the partner's delegated admin privileges; the relationship stays.
    RemoveAdminRoles {
        customer: uuid::Uuid,
        partner: uuid::Uuid,
    },
    /// The customer ended a delegated admin or advisor relationship.
    DeleteCustomerRelationship {
        customer: uuid::Uuid,
        partner: uuid::Uuid,
    },
}

/// A customer to add or find, as an invitation or import describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCustomer {
    /// Used when the customer is new; an existing customer with the same domain keeps its id.
    pub id: uuid::Uuid,
    pub name: String,
    pub domain: String,
    pub country: String,
    pub cloud: Cloud,
    pub admin_name: String,
    pub admin_email: String,
    pub locale: Option<String>,
}

/// A relationship a customer grants a partner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewCustomerRelationship {
    pub partner: uuid::Uuid,
    pub kind: CustomerRelationshipKind,
    pub dap: bool,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct CustomerRecord {
    pub id: uuid::Uuid,
    pub name: String,
    pub domain: String,
    pub country: String,
    pub cloud: Cloud,
    pub admin_name: String,
    pub admin_email: String,
    pub locale: Option<String>,
    pub agreement_accepted_at: Option<Timestamp>,
    pub agreement_accepted_by: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A customer on a partner's Customers list.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct PartnerCustomer {
    #[cfg_attr(feature = "sqlx", sqlx(flatten))]
    #[serde(flatten)]
    pub customer: CustomerRecord,
    pub relationship: CustomerRelationshipKind,
    pub dap: bool,
    pub related_at: Timestamp,
}

/// A partner as its customer sees it. A removed relationship still shows while its delegated
/// admin privileges remain.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct CustomerPartner {
    pub partner_id: uuid::Uuid,
    pub legal_name: String,
    pub relationship: CustomerRelationshipKind,
    pub dap: bool,
    pub related_at: Timestamp,
    pub removed_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct AuditRecord {
    pub id: uuid::Uuid,
    pub at: Timestamp,
    /// The person who acted: a partner's user, a customer's admin, a link's recipient.
    pub actor: String,
    /// What authenticated the change: an API key, the CLI, a link, the engine.
    pub principal: String,
    pub action: String,
    pub subject: String,
    pub reason: Option<String>,
    #[cfg_attr(feature = "sqlx", sqlx(json))]
    pub data: Value,
}

/// Who changes the directory, as the audit log keeps it: the person acting and, separately, what
/// authenticated the request (a key never stands in for the person, nor the person for the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The acting person (an email address), or empty when only a system acted.
    pub user: String,
    /// The authenticated principal: `key:<id> (<label>)`, `cli`, `link`, `timer`...
    pub principal: String,
}

impl Actor {
    /// A person acting through `principal`.
    pub fn new(user: impl Into<String>, principal: impl Into<String>) -> Self {
        Self { user: user.into(), principal: principal.into() }
    }

    /// A system acting on no one's behalf (the CLI, a test, the demo).
    pub fn system(principal: impl Into<String>) -> Self {
        Self { user: String::new(), principal: principal.into() }
    }
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

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct RelationshipRecord {
    pub id: uuid::Uuid,
    pub kind: String,
    pub reseller_id: uuid::Uuid,
    pub provider_id: Option<uuid::Uuid>,
    pub admin_access: bool,
    pub created_at: Timestamp,
}

/// What the audit log keeps of a directory change.
pub struct AuditEntry {
    pub action: &'static str,
    pub subject: String,
    pub reason: Option<String>,
    pub data: Value,
}

impl DirectoryChange {
    /// What the audit log says about it.
    pub fn audit(&self) -> AuditEntry {
        let (action, subject, data) = self.describe();
        let reason = match self {
            DirectoryChange::RemoveCustomerRelationship { reason, .. } => Some(reason.clone()),
            _ => None,
        };
        AuditEntry { action, subject, reason, data }
    }

    fn describe(&self) -> (&'static str, String, Value) {
        use serde_json::json;
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
            DirectoryChange::AddUser { partner, user } => (
                "user_added",
                format!("partner:{partner}"),
                json!({ "email": user.email, "name": user.name, "roles": user.roles }),
            ),
            DirectoryChange::SetUserRoles { partner, email, roles } => {
                ("user_roles_changed", format!("partner:{partner}"), json!({ "email": email, "roles": roles }))
            }
            DirectoryChange::RemoveUser { partner, email } => {
                ("user_removed", format!("partner:{partner}"), json!({ "email": email }))
            }
            DirectoryChange::SetCustomerContact { customer, name, email } => {
                ("customer_contact_changed", format!("customer:{customer}"), json!({ "name": name, "email": email }))
            }
            DirectoryChange::AddCustomer { customer, relationships } => (
                "customer_added",
                format!("customer:{}", customer.id),
                json!({ "name": customer.name, "domain": customer.domain, "relationships": relationships }),
            ),
            DirectoryChange::AcceptInvitation { customer, relationships, accepted_by } => (
                "invitation_accepted",
                format!("customer:{}", customer.domain),
                json!({ "name": customer.name, "relationships": relationships, "accepted_by": accepted_by }),
            ),
            DirectoryChange::AcceptCustomerAgreement { customer, accepted_by } => {
                ("customer_agreement_accepted", format!("customer:{customer}"), json!({ "accepted_by": accepted_by }))
            }
            DirectoryChange::RemoveCustomerRelationship { partner, customer, .. } => (
                "customer_relationship_removed",
                format!("customer:{customer}"),
                json!({ "partner": partner, "attested": true, "notice_sent": false }),
            ),
            DirectoryChange::RemoveAdminRoles { customer, partner } => {
                ("admin_roles_removed", format!("customer:{customer}"), json!({ "partner": partner }))
            }
            DirectoryChange::DeleteCustomerRelationship { customer, partner } => {
                ("customer_relationship_deleted", format!("customer:{customer}"), json!({ "partner": partner }))
            }
        }
    }
}

/// Why the directory could not be read (the store's error, kept whole for the caller).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ReadError(pub Box<dyn std::error::Error + Send + Sync>);

impl ReadError {
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(source))
    }
}

/// The directory reads the CSP rules' start checks need. The store implements it over the
/// database; tests implement it over a few records in memory.
#[async_trait::async_trait]
pub trait DirectoryReader: Send + Sync {
    async fn partner(&self, id: uuid::Uuid) -> Result<Option<PartnerRecord>, ReadError>;

    /// Active reseller-provider relationships of a partner (either side).
    async fn relationships(&self, partner: uuid::Uuid) -> Result<Vec<RelationshipRecord>, ReadError>;

    async fn partner_users(&self, partner: uuid::Uuid) -> Result<Vec<PartnerUserRecord>, ReadError>;

    /// The partners whose MPN ID is `mpn_id`, oldest first: how the directory knows a company
    /// is already enrolled in CSP (the short path of an enrollment).
    async fn partners_by_mpn(&self, mpn_id: &str) -> Result<Vec<PartnerRecord>, ReadError>;

    async fn customer(&self, id: uuid::Uuid) -> Result<Option<CustomerRecord>, ReadError>;

    /// The customer whose tenant has this domain (one customer per tenant), if there is one.
    async fn customer_by_domain(&self, domain: &str) -> Result<Option<CustomerRecord>, ReadError>;

    /// A customer's partners, with removed relationships whose admin privileges remain.
    async fn customer_partners(&self, customer: uuid::Uuid) -> Result<Vec<CustomerPartner>, ReadError>;
}
