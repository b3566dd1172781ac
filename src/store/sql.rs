//! The SQL both stores share. SQLite and PostgreSQL accept the same statements here (`$n`
//! placeholders, `ON CONFLICT`, partial indexes), so one body serves both; each store supplies
//! its pool type and how it begins a write transaction.

/// Implements [`super::Store`] for `$store`, which has a `pool` field of `sqlx::Pool<$db>` and
/// inherent `begin_write()`, `write_in_one_call()` (which writes a step without the shared
/// transaction below where the database can, answering `None` where it cannot) and
/// `committed()` (told of every step written).
macro_rules! impl_store {
    ($store:ident, $db:ty, $backend:expr, $migrator:expr, $skip_locked:expr, $now_millis:expr) => {
        /// How a claim's row selection skips rows another transaction has locked
        /// (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer at a time).
        const SKIP_LOCKED: &str = $skip_locked;
        /// The database's clock in Unix milliseconds.
        const NOW_MILLIS: &str = $now_millis;
        /// How overdue a timer must be before its instance counts as stuck.
        const STUCK_AFTER_MILLIS: i64 = 60_000;

        fn unique_violation(err: &sqlx::Error) -> bool {
            matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
        }

        async fn write_step(
            tx: &mut sqlx::Transaction<'static, $db>,
            step: &$crate::store::Step,
        ) -> Result<(), $crate::store::CommitError> {
            use $crate::store::{CommitError, TimerStatus};
            let h = &step.history;
            let inserted = sqlx::query::<$db>(
                "INSERT INTO history (id, instance_id, seq, event, origin, actor, from_state, to_state, data, \
                 idempotency_key, fingerprint, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(h.id)
            .bind(h.instance_id)
            .bind(h.seq)
            .bind(&h.event)
            .bind(h.origin)
            .bind(&h.actor)
            .bind(&h.from_state)
            .bind(&h.to_state)
            .bind(&h.data)
            .bind(&h.idempotency_key)
            .bind(&h.fingerprint)
            .bind(h.at)
            .execute(&mut **tx)
            .await;
            match inserted {
                Err(err) if unique_violation(&err) => return Err(CommitError::DuplicateKey),
                other => other.map_err($crate::store::StoreError::from)?,
            };
            if let Some(timer) = step.fired_timer {
                let fired = sqlx::query::<$db>(
                    "UPDATE timers SET status = $1, settled_at = $2, lease_until = NULL \
                     WHERE id = $3 AND status = $4 AND attempts = $5",
                )
                .bind(TimerStatus::Fired)
                .bind(h.at)
                .bind(timer.id)
                .bind(TimerStatus::Firing)
                .bind(timer.attempt)
                .execute(&mut **tx)
                    .await
                    .map_err($crate::store::StoreError::from)?;
                if fired.rows_affected() != 1 {
                    return Err(CommitError::TimerSettled);
                }
            }
            if let Some(hash) = &step.used_link {
                let used = sqlx::query::<$db>("UPDATE links SET status = $1, used_at = $2 WHERE hash = $3 AND status = $4")
                    .bind($crate::store::LinkStatus::Used)
                    .bind(h.at)
                    .bind(hash)
                    .bind($crate::store::LinkStatus::Active)
                    .execute(&mut **tx)
                    .await
                    .map_err($crate::store::StoreError::from)?;
                if used.rows_affected() != 1 {
                    return Err(CommitError::LinkSettled);
                }
            }
            if step.cancel_armed_timers {
                // A timer claimed meanwhile is cancelled too: its firing then finds it settled.
                sqlx::query::<$db>(
                    "UPDATE timers SET status = $1, settled_at = $2, lease_until = NULL \
                     WHERE instance_id = $3 AND status IN ($4, $5)",
                )
                .bind(TimerStatus::Cancelled)
                .bind(h.at)
                .bind(h.instance_id)
                .bind(TimerStatus::Armed)
                .bind(TimerStatus::Firing)
                .execute(&mut **tx)
                    .await
                    .map_err($crate::store::StoreError::from)?;
            }
            for timer in &step.arm {
                sqlx::query::<$db>(
                    "INSERT INTO timers (id, instance_id, name, event, state, due_at, status, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(timer.id)
                .bind(timer.instance_id)
                .bind(&timer.name)
                .bind(&timer.event)
                .bind(&timer.state)
                .bind(timer.due_at)
                .bind(timer.status)
                .bind(timer.created_at)
                .execute(&mut **tx)
                .await
                .map_err($crate::store::StoreError::from)?;
            }
            for email in &step.emails {
                sqlx::query::<$db>(
                    "INSERT INTO outbox (id, instance_id, history_seq, template, party, recipient, links, status, created_at, \
                     locale, subject, text_body, html_body, message_id, attempts, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(email.id)
                .bind(email.instance_id)
                .bind(email.history_seq)
                .bind(&email.template)
                .bind(&email.party)
                .bind(&email.recipient)
                .bind(&email.links)
                .bind(email.status)
                .bind(email.created_at)
                .bind(&email.locale)
                .bind(&email.subject)
                .bind(&email.text_body)
                .bind(&email.html_body)
                .bind(&email.message_id)
                .bind(email.attempts)
                .bind(email.next_attempt_at)
                .execute(&mut **tx)
                .await
                .map_err($crate::store::StoreError::from)?;
            }
            for action in &step.supersede {
                sqlx::query::<$db>("UPDATE links SET status = $1 WHERE instance_id = $2 AND action = $3 AND status = $4")
                    .bind($crate::store::LinkStatus::Superseded)
                    .bind(h.instance_id)
                    .bind(action)
                    .bind($crate::store::LinkStatus::Active)
                    .execute(&mut **tx)
                    .await
                    .map_err($crate::store::StoreError::from)?;
            }
            for change in &step.directory {
                write_directory(&mut **tx, change, &h.actor, h.at, Some(h.instance_id)).await?;
            }
            for link in &step.links {
                sqlx::query::<$db>(
                    "INSERT INTO links (hash, instance_id, outbox_id, action, event, party, recipient, status, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&link.hash)
                .bind(link.instance_id)
                .bind(link.outbox_id)
                .bind(&link.action)
                .bind(&link.event)
                .bind(&link.party)
                .bind(&link.recipient)
                .bind(link.status)
                .bind(link.expires_at)
                .bind(link.created_at)
                .execute(&mut **tx)
                .await
                .map_err($crate::store::StoreError::from)?;
            }
            Ok(())
        }

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

        const CUSTOMER_COLUMNS: &str = "id, name, domain, country, cloud, admin_name, admin_email, locale, \
             agreement_accepted_at, agreement_accepted_by, created_at, updated_at";
        const INSTANCE_COLUMNS: &str =
            "id, workflow, definition_hash, state, status, version, context, start_key, created_at, updated_at";
        const HISTORY_COLUMNS: &str = "id, instance_id, seq, event, origin, actor, from_state, to_state, data, \
             idempotency_key, fingerprint, at";
        const TIMER_COLUMNS: &str = "id, instance_id, name, event, state, due_at, status, created_at, settled_at, note, \
             attempts, lease_until, claimed_at, took_over";
        const EMAIL_COLUMNS: &str = "id, instance_id, history_seq, template, party, recipient, links, status, created_at, \
             locale, subject, text_body, html_body, message_id, attempts, next_attempt_at, last_reply, sent_at, \
             claimed_at, took_over";
        const LINK_COLUMNS: &str =
            "hash, instance_id, outbox_id, action, event, party, recipient, status, expires_at, created_at, used_at";

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> $crate::store::Backend {
                $backend
            }

            async fn migrate(&self) -> Result<(), $crate::store::StoreError> {
                // PostgreSQL serialises concurrent migrators with an advisory lock; SQLite has
                // none, so a process that loses the race (the other applied the migration
                // first) tries again and then finds nothing left to do.
                let mut attempt = 0;
                loop {
                    match $migrator.run(&self.pool).await {
                        Ok(()) => return Ok(()),
                        Err(_) if attempt < 3 => {
                            attempt += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                        }
                        Err(err) => return Err(err.into()),
                    }
                }
            }

            async fn listen(&self, wake: std::sync::Arc<$crate::wake::Wake>) {
                self.listen_for_wake(wake).await
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query::<$db>("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn save_definition(
                &self,
                d: &$crate::store::DefinitionRecord,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query::<$db>(
                    "INSERT INTO definitions (hash, workflow, source, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (hash) DO NOTHING",
                )
                .bind(&d.hash)
                .bind(&d.workflow)
                .bind(&d.source)
                .bind(d.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn definition(
                &self,
                hash: &str,
            ) -> Result<Option<$crate::store::DefinitionRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>("SELECT hash, workflow, source, created_at FROM definitions WHERE hash = $1")
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn create_instance(
                &self,
                i: &$crate::store::InstanceRecord,
                step: &$crate::store::Step,
            ) -> Result<(), $crate::store::CommitError> {
                if let Some(written) = self.write_in_one_call($crate::store::InstanceWrite::Create(i), step).await {
                    return written;
                }
                let mut tx = self.begin_write().await?;
                let inserted = sqlx::query::<$db>(
                    "INSERT INTO instances (id, workflow, definition_hash, state, status, version, context, start_key, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(i.id)
                .bind(&i.workflow)
                .bind(&i.definition_hash)
                .bind(&i.state)
                .bind(i.status)
                .bind(i.version)
                .bind(&i.context)
                .bind(&i.start_key)
                .bind(i.created_at)
                .bind(i.updated_at)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(err) if unique_violation(&err) => return Err($crate::store::CommitError::DuplicateKey),
                    other => other.map_err($crate::store::StoreError::from)?,
                };
                write_step(&mut tx, step).await?;
                tx.commit().await.map_err($crate::store::StoreError::from)?;
                self.committed(step);
                Ok(())
            }

            async fn commit(&self, c: &$crate::store::Commit) -> Result<(), $crate::store::CommitError> {
                if let Some(written) = self.write_in_one_call($crate::store::InstanceWrite::Move(c), &c.step).await {
                    return written;
                }
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query::<$db>(
                    "UPDATE instances SET state = $1, status = $2, version = version + 1, context = $3, updated_at = $4 \
                     WHERE id = $5 AND version = $6",
                )
                .bind(&c.state)
                .bind(c.status)
                .bind(&c.context)
                .bind(c.at)
                .bind(c.instance)
                .bind(c.expected_version)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::StoreError::from)?;
                if updated.rows_affected() != 1 {
                    return Err($crate::store::CommitError::Conflict);
                }
                write_step(&mut tx, &c.step).await?;
                tx.commit().await.map_err($crate::store::StoreError::from)?;
                self.committed(&c.step);
                Ok(())
            }

            async fn instance(
                &self,
                id: $crate::ids::InstanceId,
            ) -> Result<Option<$crate::store::InstanceRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn instance_by_start_key(
                &self,
                key: &str,
            ) -> Result<Option<$crate::store::InstanceRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE start_key = $1"))
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_instances(
                &self,
                f: &$crate::store::ListFilter,
            ) -> Result<Vec<$crate::store::InstanceRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {INSTANCE_COLUMNS} FROM instances WHERE ($1 IS NULL OR workflow = $1) \
                     AND ($2 IS NULL OR state = $2) ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
                ))
                .bind(&f.workflow)
                .bind(&f.state)
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn active_in_states(
                &self,
                workflow: &str,
                states: &[String],
            ) -> Result<Vec<$crate::ids::InstanceId>, $crate::store::StoreError> {
                let mut ids = Vec::new();
                for state in states {
                    let rows: Vec<($crate::ids::InstanceId,)> =
                        sqlx::query_as::<$db, _>("SELECT id FROM instances WHERE workflow = $1 AND state = $2 AND status = $3")
                            .bind(workflow)
                            .bind(state)
                            .bind($crate::store::InstanceStatus::Active)
                            .fetch_all(&self.pool)
                            .await?;
                    ids.extend(rows.into_iter().map(|(id,)| id));
                }
                Ok(ids)
            }

            async fn history(
                &self,
                id: $crate::ids::InstanceId,
            ) -> Result<Vec<$crate::store::HistoryRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {HISTORY_COLUMNS} FROM history WHERE instance_id = $1 ORDER BY seq"))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn history_by_key(
                &self,
                id: $crate::ids::InstanceId,
                key: &str,
            ) -> Result<Option<$crate::store::HistoryRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {HISTORY_COLUMNS} FROM history WHERE instance_id = $1 AND idempotency_key = $2"
                ))
                .bind(id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn timers(
                &self,
                id: $crate::ids::InstanceId,
            ) -> Result<Vec<$crate::store::TimerRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {TIMER_COLUMNS} FROM timers WHERE instance_id = $1 ORDER BY created_at, due_at, name"
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn emails(
                &self,
                id: $crate::ids::InstanceId,
            ) -> Result<Vec<$crate::store::EmailRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {EMAIL_COLUMNS} FROM outbox WHERE instance_id = $1 ORDER BY history_seq, created_at, template"
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn attempts(
                &self,
                id: $crate::ids::InstanceId,
            ) -> Result<Vec<$crate::store::AttemptRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT a.id, a.outbox_id, a.at, a.outcome, a.reply FROM email_attempts a \
                     JOIN outbox o ON o.id = a.outbox_id WHERE o.instance_id = $1 ORDER BY a.at",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn email(
                &self,
                id: $crate::ids::OutboxId,
            ) -> Result<Option<$crate::store::EmailRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {EMAIL_COLUMNS} FROM outbox WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn claim_due_emails(
                &self,
                now: $crate::clock::Timestamp,
                lease_until: $crate::clock::Timestamp,
                limit: i64,
            ) -> Result<Vec<$crate::store::EmailRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "UPDATE outbox SET status = $1, attempts = attempts + 1, next_attempt_at = $2, claimed_at = $4, \
                     took_over = (status = $1) WHERE id IN (SELECT id FROM outbox WHERE status IN ($3, $1) AND next_attempt_at <= $4 \
                     ORDER BY next_attempt_at LIMIT $5 {SKIP_LOCKED}) RETURNING {EMAIL_COLUMNS}"
                ))
                .bind($crate::store::EmailStatus::Sending)
                .bind(lease_until)
                .bind($crate::store::EmailStatus::Queued)
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn finish_email(
                &self,
                f: &$crate::store::EmailFinish,
            ) -> Result<bool, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let sent_at = (f.status == $crate::store::EmailStatus::Sent).then_some(f.at);
                let updated = sqlx::query::<$db>(
                    "UPDATE outbox SET status = $1, next_attempt_at = $2, last_reply = $3, sent_at = $4 \
                     WHERE id = $5 AND attempts = $6 AND status = $7",
                )
                .bind(f.status)
                .bind(f.next_attempt_at)
                .bind(&f.reply)
                .bind(sent_at)
                .bind(f.outbox)
                .bind(f.attempt)
                .bind($crate::store::EmailStatus::Sending)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query::<$db>("INSERT INTO email_attempts (id, outbox_id, at, outcome, reply) VALUES ($1, $2, $3, $4, $5)")
                    .bind(uuid::Uuid::new_v4())
                    .bind(f.outbox)
                    .bind(f.at)
                    .bind(f.outcome)
                    .bind(&f.reply)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn retry_email(
                &self,
                id: $crate::ids::OutboxId,
                now: $crate::clock::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                let updated = sqlx::query::<$db>("UPDATE outbox SET status = $1, next_attempt_at = $2 WHERE id = $3 AND status = $4")
                    .bind($crate::store::EmailStatus::Queued)
                    .bind(now)
                    .bind(id)
                    .bind($crate::store::EmailStatus::Failed)
                    .execute(&self.pool)
                    .await?;
                Ok(updated.rows_affected() == 1)
            }

            async fn update_draft(
                &self,
                id: $crate::ids::OutboxId,
                subject: &str,
                text: &str,
                html: Option<&str>,
            ) -> Result<bool, $crate::store::StoreError> {
                let updated = sqlx::query::<$db>(
                    "UPDATE outbox SET subject = $1, text_body = $2, html_body = $3 WHERE id = $4 AND status = $5",
                )
                .bind(subject)
                .bind(text)
                .bind(html)
                .bind(id)
                .bind($crate::store::EmailStatus::Draft)
                .execute(&self.pool)
                .await?;
                Ok(updated.rows_affected() == 1)
            }

            async fn release_draft(
                &self,
                id: $crate::ids::OutboxId,
                now: $crate::clock::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                let updated = sqlx::query::<$db>("UPDATE outbox SET status = $1, next_attempt_at = $2 WHERE id = $3 AND status = $4")
                    .bind($crate::store::EmailStatus::Queued)
                    .bind(now)
                    .bind(id)
                    .bind($crate::store::EmailStatus::Draft)
                    .execute(&self.pool)
                    .await?;
                Ok(updated.rows_affected() == 1)
            }

            async fn emails_by_status(
                &self,
                status: $crate::store::EmailStatus,
                limit: i64,
            ) -> Result<Vec<$crate::store::EmailRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {EMAIL_COLUMNS} FROM outbox WHERE status = $1 ORDER BY created_at LIMIT $2"
                ))
                .bind(status)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn stats(
                &self,
                now: $crate::clock::Timestamp,
            ) -> Result<$crate::store::StoreStats, $crate::store::StoreError> {
                use $crate::store::{EmailStatus, TimerStatus};
                let outbox: Vec<(EmailStatus, i64)> =
                    sqlx::query_as::<$db, _>("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetch_all(&self.pool).await?;
                let (oldest_pending,): (Option<$crate::clock::Timestamp>,) =
                    sqlx::query_as::<$db, _>("SELECT MIN(created_at) FROM outbox WHERE status IN ($1, $2)")
                        .bind(EmailStatus::Queued)
                        .bind(EmailStatus::Sending)
                        .fetch_one(&self.pool)
                        .await?;
                let (oldest_due_timer,): (Option<$crate::clock::Timestamp>,) =
                    // Spelled as an OR so each side can use its partial index.
                    sqlx::query_as::<$db, _>(
                        "SELECT MIN(due_at) FROM timers WHERE (status = $1 AND due_at <= $2) OR (status = $3 AND due_at <= $2)",
                    )
                        .bind(TimerStatus::Armed)
                        .bind(now)
                        .bind(TimerStatus::Firing)
                        .fetch_one(&self.pool)
                        .await?;
                let (armed_timers,): (i64,) = sqlx::query_as::<$db, _>("SELECT COUNT(*) FROM timers WHERE status = $1")
                    .bind(TimerStatus::Armed)
                    .fetch_one(&self.pool)
                    .await?;
                let (lapsed_emails, oldest_email_claim): (i64, Option<$crate::clock::Timestamp>) = sqlx::query_as::<$db, _>(
                    "SELECT COUNT(*) FILTER (WHERE next_attempt_at <= $2), MIN(claimed_at) FROM outbox WHERE status = $1",
                )
                .bind(EmailStatus::Sending)
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                let (lapsed_timers, oldest_timer_claim): (i64, Option<$crate::clock::Timestamp>) = sqlx::query_as::<$db, _>(
                    "SELECT COUNT(*) FILTER (WHERE lease_until <= $2), MIN(claimed_at) FROM timers WHERE status = $1",
                )
                .bind(TimerStatus::Firing)
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                let (stuck_instances,): (i64,) = sqlx::query_as::<$db, _>(
                    "SELECT COUNT(*) FROM instances i WHERE i.status = $1 AND i.id IN ( \
                       SELECT instance_id FROM outbox WHERE status = $2 \
                       UNION SELECT instance_id FROM timers WHERE (status = $3 AND due_at <= $5) OR (status = $4 AND due_at <= $5))",
                )
                .bind($crate::store::InstanceStatus::Active)
                .bind(EmailStatus::Failed)
                .bind(TimerStatus::Armed)
                .bind(TimerStatus::Firing)
                .bind($crate::clock::Timestamp::from_millis(now.millis() - STUCK_AFTER_MILLIS))
                .fetch_one(&self.pool)
                .await?;
                let oldest_claim = match (oldest_email_claim, oldest_timer_claim) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                Ok($crate::store::StoreStats {
                    outbox,
                    oldest_pending,
                    oldest_due_timer,
                    armed_timers,
                    lapsed_claims: lapsed_emails + lapsed_timers,
                    oldest_claim,
                    stuck_instances,
                })
            }

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

            async fn link(&self, hash: &str) -> Result<Option<$crate::store::LinkRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {LINK_COLUMNS} FROM links WHERE hash = $1"))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn claim_due_timers(
                &self,
                now: $crate::clock::Timestamp,
                lease_until: $crate::clock::Timestamp,
                limit: i64,
            ) -> Result<Vec<$crate::store::TimerRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "UPDATE timers SET status = $1, attempts = attempts + 1, lease_until = $2, claimed_at = $3, \
                     took_over = (status = $1) \
                     WHERE id IN (SELECT t.id FROM timers t \
                       WHERE ((t.status = $4 AND t.due_at <= $3) OR (t.status = $1 AND t.lease_until <= $3)) \
                       AND NOT EXISTS (SELECT 1 FROM timers e WHERE e.instance_id = t.instance_id \
                         AND e.status IN ($4, $1) AND (e.due_at < t.due_at OR (e.due_at = t.due_at AND e.id < t.id))) \
                       ORDER BY t.due_at LIMIT $5 {SKIP_LOCKED}) \
                     RETURNING {TIMER_COLUMNS}"
                ))
                .bind($crate::store::TimerStatus::Firing)
                .bind(lease_until)
                .bind(now)
                .bind($crate::store::TimerStatus::Armed)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn renew_timer_lease(
                &self,
                claim: $crate::store::TimerClaim,
                until: $crate::clock::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                let renewed = sqlx::query::<$db>("UPDATE timers SET lease_until = $1 WHERE id = $2 AND status = $3 AND attempts = $4")
                    .bind(until)
                    .bind(claim.id)
                    .bind($crate::store::TimerStatus::Firing)
                    .bind(claim.attempt)
                    .execute(&self.pool)
                    .await?;
                Ok(renewed.rows_affected() == 1)
            }

            async fn renew_email_lease(
                &self,
                id: $crate::ids::OutboxId,
                attempt: i64,
                until: $crate::clock::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                let renewed =
                    sqlx::query::<$db>("UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND status = $3 AND attempts = $4")
                        .bind(until)
                        .bind(id)
                        .bind($crate::store::EmailStatus::Sending)
                        .bind(attempt)
                        .execute(&self.pool)
                        .await?;
                Ok(renewed.rows_affected() == 1)
            }

            async fn database_now(&self) -> Result<$crate::clock::Timestamp, $crate::store::StoreError> {
                let (now,): (i64,) =
                    sqlx::query_as::<$db, _>(&format!("SELECT {NOW_MILLIS}")).fetch_one(&self.pool).await?;
                Ok($crate::clock::Timestamp::from_millis(now))
            }

            async fn next_due(&self) -> Result<Option<$crate::clock::Timestamp>, $crate::store::StoreError> {
                let row: Option<($crate::clock::Timestamp,)> =
                    sqlx::query_as::<$db, _>("SELECT due_at FROM timers WHERE status = $1 ORDER BY due_at LIMIT 1")
                        .bind($crate::store::TimerStatus::Armed)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(due,)| due))
            }

            async fn skip_timer(
                &self,
                claim: $crate::store::TimerClaim,
                at: $crate::clock::Timestamp,
                note: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE timers SET status = $1, settled_at = $2, note = $3, lease_until = NULL \
                     WHERE id = $4 AND status = $5 AND attempts = $6",
                )
                .bind($crate::store::TimerStatus::Skipped)
                .bind(at)
                .bind(note)
                .bind(claim.id)
                .bind($crate::store::TimerStatus::Firing)
                .bind(claim.attempt)
                .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn create_api_key(&self, k: &$crate::store::ApiKeyRecord) -> Result<(), $crate::store::StoreError> {
                sqlx::query::<$db>("INSERT INTO api_keys (id, hash, scope, label, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(k.id)
                    .bind(&k.hash)
                    .bind(k.scope)
                    .bind(&k.label)
                    .bind(k.created_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn api_key_by_hash(
                &self,
                hash: &str,
            ) -> Result<Option<$crate::store::ApiKeyRecord>, $crate::store::StoreError> {
                Ok(sqlx::query_as::<$db, _>("SELECT id, hash, scope, label, created_at FROM api_keys WHERE hash = $1")
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn create_session(&self, session: &$crate::store::SessionRecord) -> Result<(), $crate::store::StoreError> {
                sqlx::query::<$db>(
                    "INSERT INTO console_sessions (hash, key_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&session.hash)
                .bind(session.key_id)
                .bind(&session.csrf)
                .bind(session.created_at)
                .bind(session.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session(
                &self,
                hash: &str,
                now: $crate::clock::Timestamp,
            ) -> Result<Option<($crate::store::SessionRecord, $crate::store::ApiKeyRecord)>, $crate::store::StoreError> {
                let Some(session) = sqlx::query_as::<$db, $crate::store::SessionRecord>(
                    "SELECT hash, key_id, csrf, created_at, expires_at FROM console_sessions WHERE hash = $1 AND expires_at > $2",
                )
                .bind(hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                let key = sqlx::query_as::<$db, $crate::store::ApiKeyRecord>(
                    "SELECT id, hash, scope, label, created_at FROM api_keys WHERE id = $1",
                )
                .bind(session.key_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(key.map(|key| (session, key)))
            }

            async fn delete_session(&self, hash: &str, now: $crate::clock::Timestamp) -> Result<(), $crate::store::StoreError> {
                sqlx::query::<$db>("DELETE FROM console_sessions WHERE hash = $1 OR expires_at <= $2")
                    .bind(hash)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn schedule_tick(
                &self,
                name: &str,
            ) -> Result<Option<$crate::clock::Timestamp>, $crate::store::StoreError> {
                let row: Option<($crate::clock::Timestamp,)> =
                    sqlx::query_as::<$db, _>("SELECT last_tick FROM schedule_ticks WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(tick,)| tick))
            }

            async fn advance_schedule(
                &self,
                name: &str,
                previous: Option<$crate::clock::Timestamp>,
                tick: $crate::clock::Timestamp,
            ) -> Result<bool, $crate::store::StoreError> {
                let done = match previous {
                    None => {
                        sqlx::query::<$db>(
                            "INSERT INTO schedule_ticks (name, last_tick) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                        )
                        .bind(name)
                        .bind(tick)
                        .execute(&self.pool)
                        .await?
                    }
                    Some(previous) => {
                        sqlx::query::<$db>("UPDATE schedule_ticks SET last_tick = $1 WHERE name = $2 AND last_tick = $3")
                            .bind(tick)
                            .bind(name)
                            .bind(previous)
                            .execute(&self.pool)
                            .await?
                    }
                };
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_store;
