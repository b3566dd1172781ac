//! The partner directory: partners and their users, reseller-provider relationships, customers and their relationships, the audit log.

use std::sync::Arc;

use accord_core::directory::{
    CustomerPartner, CustomerRecord, DirectoryReader, PartnerRecord, PartnerUserRecord, ReadError, RelationshipRecord,
};
use async_trait::async_trait;

use super::{CommitError, StoreError};
use crate::clock::Timestamp;

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Partners, of one kind or all, by name.
    async fn partners(
        &self,
        kind: Option<crate::directory::PartnerKind>,
    ) -> Result<Vec<crate::directory::PartnerRecord>, StoreError>;

    async fn partner(&self, id: uuid::Uuid) -> Result<Option<crate::directory::PartnerRecord>, StoreError>;

    /// Adds a partner with its users, and an audit row, in one transaction.
    async fn create_partner(
        &self,
        partner: &crate::directory::NewPartner,
        actor: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Active reseller-provider relationships of a partner (either side).
    async fn relationships(&self, partner: uuid::Uuid)
        -> Result<Vec<crate::directory::RelationshipRecord>, StoreError>;

    /// The reseller removes its provider's administrator access to its work account; the
    /// relationship stays. `None`: no such relationship; `Some(false)`: already removed.
    async fn remove_provider_admin_access(
        &self,
        reseller: uuid::Uuid,
        provider: uuid::Uuid,
        actor: &str,
        at: Timestamp,
    ) -> Result<Option<bool>, StoreError>;

    /// Applies a directory command (with its audit row) in one transaction; `Refused` when the
    /// directory no longer allows it.
    async fn change_directory(
        &self,
        change: &crate::directory::DirectoryChange,
        actor: &str,
        at: Timestamp,
    ) -> Result<(), CommitError>;

    async fn customer(&self, id: uuid::Uuid) -> Result<Option<crate::directory::CustomerRecord>, StoreError>;

    async fn customers(&self) -> Result<Vec<crate::directory::CustomerRecord>, StoreError>;

    /// A partner's Customers list (active relationships); with `shared_with`, only customers
    /// that partner also has.
    async fn partner_customers(
        &self,
        partner: uuid::Uuid,
        shared_with: Option<uuid::Uuid>,
    ) -> Result<Vec<crate::directory::PartnerCustomer>, StoreError>;

    /// A customer's partners, with removed relationships whose admin privileges remain.
    async fn customer_partners(
        &self,
        customer: uuid::Uuid,
    ) -> Result<Vec<crate::directory::CustomerPartner>, StoreError>;

    /// The audit rows about one subject (`partner:{id}`, `customer:{id}`), oldest first.
    async fn audit_log(&self, subject: &str) -> Result<Vec<crate::directory::AuditRecord>, StoreError>;

    async fn partner_users(&self, partner: uuid::Uuid) -> Result<Vec<crate::directory::PartnerUserRecord>, StoreError>;
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

    async fn customer(&self, id: uuid::Uuid) -> Result<Option<CustomerRecord>, ReadError> {
        self.0.customer(id).await.map_err(ReadError::new)
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
        impl $crate::store::DirectoryStore for $store {
            async fn partners(
                &self,
                kind: Option<$crate::directory::PartnerKind>,
            ) -> Result<Vec<$crate::directory::PartnerRecord>, $crate::store::StoreError> {
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
            ) -> Result<Option<$crate::directory::PartnerRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT id, kind, legal_name, country, mpn_id, tenant_domain, status, served_countries, enrollment_id, \
                     created_at, updated_at FROM partners WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn create_partner(
                &self,
                p: &$crate::directory::NewPartner,
                actor: &str,
                at: $crate::clock::Timestamp,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                insert_partner(&mut *tx, p, None, at).await?;
                insert_audit(&mut *tx, &$crate::directory::DirectoryChange::CreatePartner(p.clone()).audit(), actor, at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn relationships(
                &self,
                partner: uuid::Uuid,
            ) -> Result<Vec<$crate::directory::RelationshipRecord>, $crate::store::StoreError> {
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
                actor: &str,
                at: $crate::clock::Timestamp,
            ) -> Result<Option<bool>, $crate::store::StoreError> {
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
                let change = $crate::directory::DirectoryChange::RemoveProviderAdminAccess { reseller, provider };
                match write_directory(&mut *tx, &change, actor, at, None).await {
                    Ok(()) => {}
                    Err($crate::store::CommitError::Store(err)) => return Err(err),
                    Err(other) => return Err($crate::store::StoreError::Corrupt(other.to_string())),
                }
                tx.commit().await?;
                Ok(Some(true))
            }

            async fn change_directory(
                &self,
                change: &$crate::directory::DirectoryChange,
                actor: &str,
                at: $crate::clock::Timestamp,
            ) -> Result<(), $crate::store::CommitError> {
                let mut tx = self.begin_write().await?;
                write_directory(&mut *tx, change, actor, at, None).await?;
                tx.commit().await.map_err($crate::store::StoreError::from)?;
                Ok(())
            }

            async fn customer(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<$crate::directory::CustomerRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn customers(&self) -> Result<Vec<$crate::directory::CustomerRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY name, id"))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn partner_customers(
                &self,
                partner: uuid::Uuid,
                shared_with: Option<uuid::Uuid>,
            ) -> Result<Vec<$crate::directory::PartnerCustomer>, $crate::store::StoreError> {
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
            ) -> Result<Vec<$crate::directory::CustomerPartner>, $crate::store::StoreError> {
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
            ) -> Result<Vec<$crate::directory::AuditRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT id, at, actor, action, subject, reason, data FROM audit_log WHERE subject = $1 ORDER BY at, id",
                )
                .bind(subject)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn partner_users(
                &self,
                partner: uuid::Uuid,
            ) -> Result<Vec<$crate::directory::PartnerUserRecord>, $crate::store::StoreError> {
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

/// The directory's writes, as functions on a connection of `$db`: a step's directory changes go
/// through them inside the step's transaction, a command's in a transaction of its own.
macro_rules! directory_writes {
    ($db:ty) => {
        /// A directory change and its audit row. `instance` is the transition's instance, which an
        /// enrollment's partner records as its origin.
        async fn write_directory(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: &$crate::directory::DirectoryChange,
            actor: &str,
            at: $crate::clock::Timestamp,
            instance: Option<$crate::ids::InstanceId>,
        ) -> Result<(), $crate::store::CommitError> {
            use $crate::directory::{CustomerRelationshipKind, DirectoryChange};
            use $crate::store::{CommitError, StoreError};
            // The audit row's subject, where the change only learns it here.
            let mut subject = String::new();
            match change {
                DirectoryChange::CreatePartner(partner) => insert_partner(&mut *conn, partner, instance, at).await?,
                DirectoryChange::SetPartnerStatus { id, status } => {
                    sqlx::query::<$db>("UPDATE partners SET status = $1, updated_at = $2 WHERE id = $3")
                        .bind(status)
                        .bind(at)
                        .bind(id)
                        .execute(&mut *conn)
                        .await
                        .map_err($crate::store::StoreError::from)?;
                }
                DirectoryChange::RelateProvider { reseller, provider } => {
                    let inserted = sqlx::query::<$db>(
                        "INSERT INTO relationships (id, kind, reseller_id, provider_id, admin_access, created_at) \
                         VALUES ($1, 'reseller_provider', $2, $3, $4, $5)",
                    )
                    .bind(uuid::Uuid::new_v4())
                    .bind(reseller)
                    .bind(provider)
                    .bind(true)
                    .bind(at)
                    .execute(&mut *conn)
                    .await;
                    match inserted {
                        Err(err) if unique_violation(&err) => {
                            return Err($crate::store::CommitError::Refused(
                                "the reseller already has this indirect provider".into(),
                            ))
                        }
                        other => other.map_err($crate::store::StoreError::from)?,
                    };
                }
                DirectoryChange::RemoveProviderAdminAccess { reseller, provider } => {
                    sqlx::query::<$db>(
                        "UPDATE relationships SET admin_access = $1 WHERE reseller_id = $2 AND provider_id = $3 \
                         AND kind = 'reseller_provider' AND removed_at IS NULL",
                    )
                    .bind(false)
                    .bind(reseller)
                    .bind(provider)
                    .execute(&mut *conn)
                    .await
                    .map_err($crate::store::StoreError::from)?;
                }
                DirectoryChange::AddUser { partner, user } => {
                    let inserted = insert_user(&mut *conn, *partner, user, at).await;
                    match inserted {
                        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                            return Err(CommitError::Refused(format!("{} is a user of this partner already", user.email)))
                        }
                        other => other.map_err(StoreError::from)?,
                    };
                }
                DirectoryChange::AddCustomer { customer, relationships } => {
                    let inserted = insert_customer(&mut *conn, customer, at).await;
                    match inserted {
                        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                            return Err(CommitError::Refused(format!(
                                "a customer with the tenant domain {} exists already",
                                customer.domain
                            )))
                        }
                        other => other.map_err(StoreError::from)?,
                    };
                    for relationship in relationships {
                        relate_customer(&mut *conn, customer.id, relationship, instance, at).await?;
                    }
                }
                DirectoryChange::AcceptInvitation { customer, relationships, accepted_by } => {
                    // One customer per tenant domain: an invitation to a known tenant finds it.
                    let known: Option<(uuid::Uuid,)> =
                        sqlx::query_as::<$db, _>("SELECT id FROM customers WHERE domain = $1")
                            .bind(&customer.domain)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(StoreError::from)?;
                    let id = match known {
                        Some((id,)) => id,
                        None => {
                            insert_customer(&mut *conn, customer, at).await.map_err(StoreError::from)?;
                            customer.id
                        }
                    };
                    for relationship in relationships {
                        relate_customer(&mut *conn, id, relationship, instance, at).await?;
                    }
                    sign_agreement(&mut *conn, id, accepted_by, at).await?;
                    subject = format!("customer:{id}");
                }
                DirectoryChange::AcceptCustomerAgreement { customer, accepted_by } => {
                    if !sign_agreement(&mut *conn, *customer, accepted_by, at).await? {
                        return Err(CommitError::Refused("the customer agreement was accepted already".into()));
                    }
                }
                DirectoryChange::RemoveCustomerRelationship { partner, customer, .. } => {
                    // Delegated admin privileges stay as they are: only the relationship ends.
                    let removed = sqlx::query::<$db>(
                        "UPDATE customer_relationships SET removed_at = $1, updated_at = $1 \
                         WHERE customer_id = $2 AND partner_id = $3 AND removed_at IS NULL",
                    )
                    .bind(at)
                    .bind(customer)
                    .bind(partner)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::from)?;
                    if removed.rows_affected() == 0 {
                        return Err(CommitError::Refused("the partner has no relationship with this customer".into()));
                    }
                }
                DirectoryChange::RemoveAdminRoles { customer, partner } => {
                    let removed = sqlx::query::<$db>(
                        "UPDATE customer_relationships SET dap = $1, updated_at = $2 \
                         WHERE customer_id = $3 AND partner_id = $4 AND dap = $5",
                    )
                    .bind(false)
                    .bind(at)
                    .bind(customer)
                    .bind(partner)
                    .bind(true)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::from)?;
                    if removed.rows_affected() == 0 {
                        return Err(CommitError::Refused("the partner holds no admin roles for this customer".into()));
                    }
                }
                DirectoryChange::DeleteCustomerRelationship { customer, partner } => {
                    let deleted = sqlx::query::<$db>(
                        "UPDATE customer_relationships SET removed_at = $1, updated_at = $1, dap = $2 \
                         WHERE customer_id = $3 AND partner_id = $4 AND removed_at IS NULL AND kind IN ($5, $6)",
                    )
                    .bind(at)
                    .bind(false)
                    .bind(customer)
                    .bind(partner)
                    .bind(CustomerRelationshipKind::DelegatedAdmin)
                    .bind(CustomerRelationshipKind::Advisor)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::from)?;
                    if deleted.rows_affected() == 0 {
                        return Err(CommitError::Refused(
                            "only delegated admin and advisor relationships can be deleted by the customer".into(),
                        ));
                    }
                }
            }
            let mut entry = change.audit();
            if !subject.is_empty() {
                entry.subject = subject;
            }
            insert_audit(&mut *conn, &entry, actor, at).await?;
            Ok(())
        }

        async fn insert_customer(
            conn: &mut <$db as sqlx::Database>::Connection,
            c: &$crate::directory::NewCustomer,
            at: $crate::clock::Timestamp,
        ) -> Result<(), sqlx::Error> {
            sqlx::query::<$db>(
                "INSERT INTO customers (id, name, domain, country, cloud, admin_name, admin_email, locale, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(c.id)
            .bind(&c.name)
            .bind(&c.domain)
            .bind(&c.country)
            .bind(c.cloud)
            .bind(&c.admin_name)
            .bind(&c.admin_email)
            .bind(&c.locale)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Adds a relationship, or merges a new request into the one the partner already has.
        async fn relate_customer(
            conn: &mut <$db as sqlx::Database>::Connection,
            customer: uuid::Uuid,
            r: &$crate::directory::NewCustomerRelationship,
            instance: Option<$crate::ids::InstanceId>,
            at: $crate::clock::Timestamp,
        ) -> Result<(), $crate::store::StoreError> {
            use $crate::directory::CustomerRelationshipKind;
            let current: Option<(uuid::Uuid, CustomerRelationshipKind, bool)> = sqlx::query_as::<$db, _>(
                "SELECT id, kind, dap FROM customer_relationships \
                 WHERE customer_id = $1 AND partner_id = $2 AND removed_at IS NULL",
            )
            .bind(customer)
            .bind(r.partner)
            .fetch_optional(&mut *conn)
            .await?;
            match current {
                Some((id, kind, dap)) => {
                    sqlx::query::<$db>(
                        "UPDATE customer_relationships SET kind = $1, dap = $2, updated_at = $3 WHERE id = $4",
                    )
                    .bind(kind.merge(r.kind))
                    .bind(dap || r.dap)
                    .bind(at)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                }
                None => {
                    sqlx::query::<$db>(
                        "INSERT INTO customer_relationships (id, customer_id, partner_id, kind, dap, instance_id, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    )
                    .bind(uuid::Uuid::new_v4())
                    .bind(customer)
                    .bind(r.partner)
                    .bind(r.kind)
                    .bind(r.dap)
                    .bind(instance)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            Ok(())
        }

        /// Records the customer agreement as accepted; `false` if it already was.
        async fn sign_agreement(
            conn: &mut <$db as sqlx::Database>::Connection,
            customer: uuid::Uuid,
            by: &str,
            at: $crate::clock::Timestamp,
        ) -> Result<bool, $crate::store::StoreError> {
            let signed = sqlx::query::<$db>(
                "UPDATE customers SET agreement_accepted_at = $1, agreement_accepted_by = $2, updated_at = $1 \
                 WHERE id = $3 AND agreement_accepted_at IS NULL",
            )
            .bind(at)
            .bind(by)
            .bind(customer)
            .execute(&mut *conn)
            .await?;
            Ok(signed.rows_affected() == 1)
        }

        /// A partner row and its users.
        async fn insert_partner(
            conn: &mut <$db as sqlx::Database>::Connection,
            p: &$crate::directory::NewPartner,
            enrollment: Option<$crate::ids::InstanceId>,
            at: $crate::clock::Timestamp,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query::<$db>(
                "INSERT INTO partners (id, kind, legal_name, country, mpn_id, tenant_domain, status, served_countries, \
                 enrollment_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            )
            .bind(p.id)
            .bind(p.kind)
            .bind(&p.legal_name)
            .bind(&p.country)
            .bind(&p.mpn_id)
            .bind(&p.tenant_domain)
            .bind(p.status)
            .bind(sqlx::types::Json(&p.served_countries))
            .bind(enrollment)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            for user in &p.users {
                insert_user(&mut *conn, p.id, user, at).await?;
            }
            Ok(())
        }

        async fn insert_user(
            conn: &mut <$db as sqlx::Database>::Connection,
            partner: uuid::Uuid,
            user: &$crate::directory::NewUser,
            at: $crate::clock::Timestamp,
        ) -> Result<(), sqlx::Error> {
            sqlx::query::<$db>("INSERT INTO partner_users (partner_id, email, name, roles, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(partner)
                .bind(&user.email)
                .bind(&user.name)
                .bind(sqlx::types::Json(&user.roles))
                .bind(at)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        /// The audit row of a directory change.
        async fn insert_audit(
            conn: &mut <$db as sqlx::Database>::Connection,
            entry: &$crate::directory::AuditEntry,
            actor: &str,
            at: $crate::clock::Timestamp,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query::<$db>("INSERT INTO audit_log (id, at, actor, action, subject, reason, data) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(uuid::Uuid::new_v4())
                .bind(at)
                .bind(actor)
                .bind(entry.action)
                .bind(&entry.subject)
                .bind(&entry.reason)
                .bind(sqlx::types::Json(&entry.data))
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
    };
}

pub(crate) use directory_writes;
