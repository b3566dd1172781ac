//! The directory's writes (partners and their users, relationships, customers, the audit log),
//! shared by a step's directory changes and the directory's own commands.

/// The directory's writes, as functions on a connection of `$db`: a step's directory changes go
/// through them inside the step's transaction, a command's in a transaction of its own.
macro_rules! directory_writes {
    ($db:ty) => {
        /// A directory change and its audit row. `instance` is the transition's instance, which an
        /// enrollment's partner records as its origin.
        async fn write_directory(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: &accord_core::directory::DirectoryChange,
            actor: &accord_core::directory::Actor,
            at: accord_core::time::Timestamp,
            instance: Option<accord_core::ids::InstanceId>,
        ) -> Result<(), $crate::CommitError> {
            use accord_core::directory::{CustomerRelationshipKind, DirectoryChange};
            use $crate::{CommitError, StoreError};
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
                        .map_err($crate::StoreError::from)?;
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
                            return Err($crate::CommitError::Refused(
                                "the reseller already has this indirect provider".into(),
                            ))
                        }
                        other => other.map_err($crate::StoreError::from)?,
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
                    .map_err($crate::StoreError::from)?;
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
                DirectoryChange::SetUserRoles { partner, email, roles } => {
                    let updated = sqlx::query::<$db>("UPDATE partner_users SET roles = $1 WHERE partner_id = $2 AND email = $3")
                        .bind(sqlx::types::Json(roles))
                        .bind(partner)
                        .bind(email)
                        .execute(&mut *conn)
                        .await
                        .map_err(StoreError::from)?;
                    if updated.rows_affected() == 0 {
                        return Err(CommitError::Refused(format!("{email} is not a user of this partner")));
                    }
                    keep_a_global_admin(&mut *conn, *partner).await?;
                }
                DirectoryChange::RemoveUser { partner, email } => {
                    let deleted = sqlx::query::<$db>("DELETE FROM partner_users WHERE partner_id = $1 AND email = $2")
                        .bind(partner)
                        .bind(email)
                        .execute(&mut *conn)
                        .await
                        .map_err(StoreError::from)?;
                    if deleted.rows_affected() == 0 {
                        return Err(CommitError::Refused(format!("{email} is not a user of this partner")));
                    }
                    keep_a_global_admin(&mut *conn, *partner).await?;
                }
                DirectoryChange::SetCustomerContact { customer, name, email } => {
                    let updated = sqlx::query::<$db>(
                        "UPDATE customers SET admin_name = $1, admin_email = $2, updated_at = $3 WHERE id = $4",
                    )
                    .bind(name)
                    .bind(email)
                    .bind(at)
                    .bind(customer)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::from)?;
                    if updated.rows_affected() == 0 {
                        return Err(CommitError::Refused(format!("no customer with id {customer}")));
                    }
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
                        None => match insert_customer(&mut *conn, customer, at).await {
                            // Another invitation to the same tenant was accepted meanwhile: try
                            // again against the directory as it is now (whose recorded contact
                            // the step's precondition then checks).
                            Err(err) if unique_violation(&err) => return Err(CommitError::Conflict),
                            other => {
                                other.map_err(StoreError::from)?;
                                customer.id
                            }
                        },
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
                        // Without its admin roles a reseller-and-delegated-admin relationship
                        // is a reseller's: its type says so, wherever it is read.
                        "UPDATE customer_relationships SET dap = $1, updated_at = $2, \
                         kind = CASE WHEN kind = 'reseller_delegated_admin' THEN 'reseller' ELSE kind END \
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

        /// Checks that `precondition` still holds, keeping the rows it read from changing until
        /// the transaction ends (`FOR SHARE`); [`CommitError::Unmet`] if it no longer holds.
        async fn require(
            conn: &mut <$db as sqlx::Database>::Connection,
            precondition: &accord_core::machine::Precondition,
        ) -> Result<(), $crate::CommitError> {
            use accord_core::directory::{PartnerKind, PartnerStatus, Role};
            use accord_core::machine::Precondition;
            const PROVIDER_RELATIONSHIP: &str = "SELECT id FROM relationships WHERE reseller_id = $1 \
                 AND provider_id = $2 AND kind = 'reseller_provider' AND removed_at IS NULL";
            let holds = match precondition {
                Precondition::PartnerActive { partner, kind, .. } => {
                    let row: Option<(PartnerKind, PartnerStatus)> = sqlx::query_as::<$db, _>(&format!(
                        "SELECT kind, status FROM partners WHERE id = $1 {FOR_SHARE}"
                    ))
                    .bind(partner)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err($crate::StoreError::from)?;
                    row == Some((*kind, PartnerStatus::Active))
                }
                Precondition::ProviderAuthorized { reseller, provider, .. }
                | Precondition::NotRelated { reseller, provider, .. } => {
                    let row: Option<(uuid::Uuid,)> =
                        sqlx::query_as::<$db, _>(&format!("{PROVIDER_RELATIONSHIP} {FOR_SHARE}"))
                            .bind(reseller)
                            .bind(provider)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err($crate::StoreError::from)?;
                    row.is_some() == matches!(precondition, Precondition::ProviderAuthorized { .. })
                }
                Precondition::CustomerContact { domain, email } => {
                    let row: Option<(String,)> = sqlx::query_as::<$db, _>(&format!(
                        "SELECT admin_email FROM customers WHERE domain = $1 {FOR_SHARE}"
                    ))
                    .bind(domain)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err($crate::StoreError::from)?;
                    row.is_none_or(|(recorded,)| recorded.eq_ignore_ascii_case(email))
                }
                Precondition::HoldsRole { partner, email, roles, .. } => {
                    let row: Option<(sqlx::types::Json<Vec<Role>>,)> = sqlx::query_as::<$db, _>(&format!(
                        "SELECT roles FROM partner_users WHERE partner_id = $1 AND lower(email) = lower($2) {FOR_SHARE}"
                    ))
                    .bind(partner)
                    .bind(email)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err($crate::StoreError::from)?;
                    row.is_some_and(|(held,)| held.0.iter().any(|role| roles.contains(role)))
                }
            };
            if holds {
                Ok(())
            } else {
                Err($crate::CommitError::Unmet(precondition.unmet()))
            }
        }

        async fn insert_customer(
            conn: &mut <$db as sqlx::Database>::Connection,
            c: &accord_core::directory::NewCustomer,
            at: accord_core::time::Timestamp,
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
            r: &accord_core::directory::NewCustomerRelationship,
            instance: Option<accord_core::ids::InstanceId>,
            at: accord_core::time::Timestamp,
        ) -> Result<(), $crate::StoreError> {
            use accord_core::directory::CustomerRelationshipKind;
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
            at: accord_core::time::Timestamp,
        ) -> Result<bool, $crate::StoreError> {
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
            p: &accord_core::directory::NewPartner,
            enrollment: Option<accord_core::ids::InstanceId>,
            at: accord_core::time::Timestamp,
        ) -> Result<(), $crate::StoreError> {
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
            user: &accord_core::directory::NewUser,
            at: accord_core::time::Timestamp,
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

        /// Refuses a change that leaves a partner without a global admin: someone must be
        /// able to authorise providers and manage its users. Checked after the change, in its
        /// transaction, so two changes at once cannot both pass.
        async fn keep_a_global_admin(
            conn: &mut <$db as sqlx::Database>::Connection,
            partner: uuid::Uuid,
        ) -> Result<(), $crate::CommitError> {
            let users: Vec<(sqlx::types::Json<Vec<accord_core::directory::Role>>,)> =
                sqlx::query_as::<$db, _>("SELECT roles FROM partner_users WHERE partner_id = $1")
                    .bind(partner)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err($crate::StoreError::from)?;
            if users.iter().any(|(roles,)| roles.0.contains(&accord_core::directory::Role::GlobalAdmin)) {
                Ok(())
            } else {
                Err($crate::CommitError::Refused(
                    "a partner must keep at least one global admin: give the role to another user first".into(),
                ))
            }
        }

        /// The audit row of a directory change.
        async fn insert_audit(
            conn: &mut <$db as sqlx::Database>::Connection,
            entry: &accord_core::directory::AuditEntry,
            actor: &accord_core::directory::Actor,
            at: accord_core::time::Timestamp,
        ) -> Result<(), $crate::StoreError> {
            sqlx::query::<$db>("INSERT INTO audit_log (id, at, actor, principal, action, subject, reason, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(uuid::Uuid::new_v4())
                .bind(at)
                .bind(&actor.user)
                .bind(&actor.principal)
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
