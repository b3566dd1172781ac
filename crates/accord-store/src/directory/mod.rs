//! The partner directory: partners and their users, reseller-provider relationships, customers and their relationships, the audit log.

use std::sync::Arc;

use accord_core::directory::{
    CustomerPartner, CustomerRecord, DirectoryReader, PartnerRecord, PartnerUserRecord, ReadError, RelationshipRecord,
};
use async_trait::async_trait;

mod writes;

pub(crate) use writes::directory_writes;

use super::{CommitError, StoreError};
use accord_core::time::Timestamp;

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Partners, of one kind or all, by name.
    async fn partners(
        &self,
        kind: Option<accord_core::directory::PartnerKind>,
    ) -> Result<Vec<accord_core::directory::PartnerRecord>, StoreError>;

    async fn partner(&self, id: uuid::Uuid) -> Result<Option<accord_core::directory::PartnerRecord>, StoreError>;

    /// The partners whose MPN ID is `mpn_id` (companies the directory knows to be enrolled in
    /// CSP), oldest first.
    async fn partners_by_mpn(&self, mpn_id: &str) -> Result<Vec<accord_core::directory::PartnerRecord>, StoreError>;

    /// Adds a partner with its users, and an audit row, in one transaction.
    async fn create_partner(
        &self,
        partner: &accord_core::directory::NewPartner,
        actor: &accord_core::directory::Actor,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Active reseller-provider relationships of a partner (either side).
    async fn relationships(
        &self,
        partner: uuid::Uuid,
    ) -> Result<Vec<accord_core::directory::RelationshipRecord>, StoreError>;

    /// The reseller removes its provider's administrator access to its work account; the
    /// relationship stays. `None`: no such relationship; `Some(false)`: already removed.
    async fn remove_provider_admin_access(
        &self,
        reseller: uuid::Uuid,
        provider: uuid::Uuid,
        actor: &accord_core::directory::Actor,
        at: Timestamp,
    ) -> Result<Option<bool>, StoreError>;

    /// Applies a directory command (with its audit row) in one transaction; `Refused` when the
    /// directory no longer allows it.
    async fn change_directory(
        &self,
        change: &accord_core::directory::DirectoryChange,
        actor: &accord_core::directory::Actor,
        at: Timestamp,
    ) -> Result<(), CommitError>;

    async fn customer(&self, id: uuid::Uuid) -> Result<Option<accord_core::directory::CustomerRecord>, StoreError>;

    /// The customer whose tenant has this domain, if there is one.
    async fn customer_by_domain(
        &self,
        domain: &str,
    ) -> Result<Option<accord_core::directory::CustomerRecord>, StoreError>;

    async fn customers(&self) -> Result<Vec<accord_core::directory::CustomerRecord>, StoreError>;

    /// A partner's Customers list (active relationships); with `shared_with`, only customers
    /// that partner also has.
    async fn partner_customers(
        &self,
        partner: uuid::Uuid,
        shared_with: Option<uuid::Uuid>,
    ) -> Result<Vec<accord_core::directory::PartnerCustomer>, StoreError>;

    /// A customer's partners, with removed relationships whose admin privileges remain.
    async fn customer_partners(
        &self,
        customer: uuid::Uuid,
    ) -> Result<Vec<accord_core::directory::CustomerPartner>, StoreError>;

    /// The audit rows about one subject (`partner:{id}`, `customer:{id}`), oldest first.
    async fn audit_log(&self, subject: &str) -> Result<Vec<accord_core::directory::AuditRecord>, StoreError>;

    async fn partner_users(
        &self,
        partner: uuid::Uuid,
    ) -> Result<Vec<accord_core::directory::PartnerUserRecord>, StoreError>;
}

/// The store as the CSP rules' start checks read the directory.
pub struct DirectoryOf(pub Arc<dyn super::Store>);

#[async_trait]
impl DirectoryReader for DirectoryOf {
    async fn partner(&self, id: uuid::Uuid) -> Result<Option<PartnerRecord>, ReadError> {
        self.0.partner(id).await.map_err(ReadError::new)
    }

    async fn relationships(&self, partner: uuid::Uuid) -> Result<Vec<RelationshipRecord>, ReadError> {
        self.0.relationships(partner).await.map_err(ReadError::new)
    }

    async fn partner_users(&self, partner: uuid::Uuid) -> Result<Vec<PartnerUserRecord>, ReadError> {
        self.0.partner_users(partner).await.map_err(ReadError::new)
    }

    async fn partners_by_mpn(&self, mpn_id: &str) -> Result<Vec<PartnerRecord>, ReadError> {
        self.0.partners_by_mpn(mpn_id).await.map_err(ReadError::new)
    }

    async fn customer(&self, id: uuid::Uuid) -> Result<Option<CustomerRecord>, ReadError> {
        self.0.customer(id).await.map_err(ReadError::new)
    }

    async fn customer_by_domain(&self, domain: &str) -> Result<Option<CustomerRecord>, ReadError> {
        self.0.customer_by_domain(domain).await.map_err(ReadError::new)
    }

    async fn customer_partners(&self, customer: uuid::Uuid) -> Result<Vec<CustomerPartner>, ReadError> {
        self.0.customer_partners(customer).await.map_err(ReadError::new)
    }
}

/// Implements [`DirectoryStore`] for `$store`, whose `pool` is a `sqlx::Pool<$db>`; expanded in the
/// backend's module after [`super::shared::shared!`], whose helpers and constants it uses.
macro_rules! impl_directory_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::DirectoryStore for $store {
            async fn partners(
                &self,
                kind: Option<accord_core::directory::PartnerKind>,
            ) -> Result<Vec<accord_core::directory::PartnerRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT id, kind, legal_name, country, mpn_id, tenant_domain, status, served_countries, enrollment_id, \
                     created_at, updated_at FROM partners WHERE ($1 IS NULL OR kind = $1) ORDER BY legal_name, id",
                )
                .bind(kind)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn partner(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<accord_core::directory::PartnerRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT id, kind, legal_name, country, mpn_id, tenant_domain, status, served_countries, enrollment_id, \
                     created_at, updated_at FROM partners WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn partners_by_mpn(
                &self,
                mpn_id: &str,
            ) -> Result<Vec<accord_core::directory::PartnerRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT id, kind, legal_name, country, mpn_id, tenant_domain, status, served_countries, enrollment_id, \
                     created_at, updated_at FROM partners WHERE mpn_id = $1 ORDER BY created_at, id",
                )
                .bind(mpn_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn create_partner(
                &self,
                p: &accord_core::directory::NewPartner,
                actor: &accord_core::directory::Actor,
                at: accord_core::time::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                insert_partner(&mut *tx, p, None, at).await?;
                insert_audit(&mut *tx, &accord_core::directory::DirectoryChange::CreatePartner(p.clone()).audit(), actor, at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn relationships(
                &self,
                partner: uuid::Uuid,
            ) -> Result<Vec<accord_core::directory::RelationshipRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT id, kind, reseller_id, provider_id, admin_access, created_at FROM relationships \
                     WHERE (reseller_id = $1 OR provider_id = $1) AND removed_at IS NULL ORDER BY created_at",
                )
                .bind(partner)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn remove_provider_admin_access(
                &self,
                reseller: uuid::Uuid,
                provider: uuid::Uuid,
                actor: &accord_core::directory::Actor,
                at: accord_core::time::Timestamp,
            ) -> Result<Option<bool>, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let row: Option<(bool,)> = sqlx::query_as::<$db, _>(
                    "SELECT admin_access FROM relationships WHERE reseller_id = $1 AND provider_id = $2 \
                     AND kind = 'reseller_provider' AND removed_at IS NULL",
                )
                .bind(reseller)
                .bind(provider)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((admin_access,)) = row else { return Ok(None) };
                if !admin_access {
                    return Ok(Some(false));
                }
                let change = accord_core::directory::DirectoryChange::RemoveProviderAdminAccess { reseller, provider };
                match write_directory(&mut *tx, &change, actor, at, None).await {
                    Ok(()) => {}
                    Err($crate::CommitError::Store(err)) => return Err(err),
                    Err(other) => return Err($crate::StoreError::Corrupt(other.to_string())),
                }
                tx.commit().await?;
                Ok(Some(true))
            }

            async fn change_directory(
                &self,
                change: &accord_core::directory::DirectoryChange,
                actor: &accord_core::directory::Actor,
                at: accord_core::time::Timestamp,
            ) -> Result<(), $crate::CommitError> {
                let mut tx = self.begin_write().await?;
                write_directory(&mut *tx, change, actor, at, None).await?;
                tx.commit().await.map_err($crate::StoreError::from)?;
                Ok(())
            }

            async fn customer(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<accord_core::directory::CustomerRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn customer_by_domain(
                &self,
                domain: &str,
            ) -> Result<Option<accord_core::directory::CustomerRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE domain = $1"))
                    .bind(domain)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn customers(&self) -> Result<Vec<accord_core::directory::CustomerRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY name, id"))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn partner_customers(
                &self,
                partner: uuid::Uuid,
                shared_with: Option<uuid::Uuid>,
            ) -> Result<Vec<accord_core::directory::PartnerCustomer>, $crate::StoreError> {
                let columns = CUSTOMER_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {columns}, r.kind AS relationship, r.dap, r.created_at AS related_at \
                     FROM customer_relationships r JOIN customers c ON c.id = r.customer_id \
                     WHERE r.partner_id = $1 AND r.removed_at IS NULL \
                     AND ($2 IS NULL OR EXISTS (SELECT 1 FROM customer_relationships s WHERE s.customer_id = c.id \
                          AND s.partner_id = $2 AND s.removed_at IS NULL)) \
                     ORDER BY c.name, c.id"
                ))
                .bind(partner)
                .bind(shared_with)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn customer_partners(
                &self,
                customer: uuid::Uuid,
            ) -> Result<Vec<accord_core::directory::CustomerPartner>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT r.partner_id, p.legal_name, r.kind AS relationship, r.dap, r.created_at AS related_at, \
                     r.removed_at FROM customer_relationships r JOIN partners p ON p.id = r.partner_id \
                     WHERE r.customer_id = $1 AND (r.removed_at IS NULL OR r.dap = $2) \
                     ORDER BY p.legal_name, r.created_at",
                )
                .bind(customer)
                .bind(true)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn audit_log(
                &self,
                subject: &str,
            ) -> Result<Vec<accord_core::directory::AuditRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT id, at, actor, principal, action, subject, reason, data FROM audit_log WHERE subject = $1 ORDER BY at, id",
                )
                .bind(subject)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn partner_users(
                &self,
                partner: uuid::Uuid,
            ) -> Result<Vec<accord_core::directory::PartnerUserRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT partner_id, email, name, roles, created_at FROM partner_users WHERE partner_id = $1 ORDER BY email",
                )
                .bind(partner)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use impl_directory_store;
