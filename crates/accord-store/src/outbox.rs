//! The outbox: emails rendered by steps, claimed under a lease by dispatchers, their attempts, drafts.

use async_trait::async_trait;

use super::{AttemptRecord, EmailFinish, EmailRecord, EmailStatus, StoreError};
use accord_core::ids::{InstanceId, OutboxId};
use accord_core::time::Timestamp;

#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn emails(&self, id: InstanceId) -> Result<Vec<EmailRecord>, StoreError>;

    /// Delivery attempts of every email of an instance, oldest first.
    async fn attempts(&self, id: InstanceId) -> Result<Vec<AttemptRecord>, StoreError>;

    async fn email(&self, id: OutboxId) -> Result<Option<EmailRecord>, StoreError>;

    /// Claims up to `limit` emails due now (queued, or being sent under a lapsed lease) for one
    /// attempt each, until `lease_until`, in one statement. Each claim bumps `attempts`, the
    /// fencing number its completion must show. On PostgreSQL the rows are picked with
    /// `FOR UPDATE SKIP LOCKED`, so dispatchers on several nodes take disjoint batches without
    /// waiting on each other.
    async fn claim_due_emails(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<EmailRecord>, StoreError>;

    /// Extends an email's claim numbered `attempt` to `until`; false when it no longer holds
    /// (taken over, or cancelled because its instance ended).
    async fn renew_email_lease(&self, id: OutboxId, attempt: i64, until: Timestamp) -> Result<bool, StoreError>;

    /// Records an attempt and its effect on the email, if the claim numbered `attempt` still holds.
    /// A delivery is recorded also when its instance ended (and the email was cancelled) during
    /// the SMTP exchange: the email was sent.
    async fn finish_email(&self, finish: &EmailFinish) -> Result<bool, StoreError>;

    /// Puts a failed email back in the queue; false when it was not failed, or when its instance
    /// has ended since the step that queued it (the final state's own notice may be retried).
    async fn retry_email(&self, id: OutboxId, now: Timestamp) -> Result<bool, StoreError>;

    /// Replaces a draft's content; false when the email is not (or no longer) a draft.
    async fn update_draft(
        &self,
        id: OutboxId,
        subject: &str,
        text: &str,
        html: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Queues a draft for sending; false when it is not a draft.
    async fn release_draft(&self, id: OutboxId, now: Timestamp) -> Result<bool, StoreError>;

    /// Emails in `status`, oldest first; with `owner`, only those of instances it owns.
    async fn emails_by_status(
        &self,
        status: EmailStatus,
        limit: i64,
        owner: Option<&crate::Owner>,
    ) -> Result<Vec<EmailRecord>, StoreError>;
}

/// Implements [`OutboxStore`] for `$store`, whose `pool` is a `sqlx::Pool<$db>`; expanded in the
/// backend's module after [`super::shared::shared!`], whose helpers and constants it uses.
macro_rules! impl_outbox_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::OutboxStore for $store {
            async fn emails(
                &self,
                id: accord_core::ids::InstanceId,
            ) -> Result<Vec<$crate::EmailRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {EMAIL_COLUMNS} FROM outbox WHERE instance_id = $1 ORDER BY history_seq, created_at, template"
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn attempts(
                &self,
                id: accord_core::ids::InstanceId,
            ) -> Result<Vec<$crate::AttemptRecord>, $crate::StoreError> {
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
                id: accord_core::ids::OutboxId,
            ) -> Result<Option<$crate::EmailRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {EMAIL_COLUMNS} FROM outbox WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn claim_due_emails(
                &self,
                now: accord_core::time::Timestamp,
                lease_until: accord_core::time::Timestamp,
                limit: i64,
            ) -> Result<Vec<$crate::EmailRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "UPDATE outbox SET status = $1, attempts = attempts + 1, next_attempt_at = $2, claimed_at = $4, \
                     took_over = (status = $1) WHERE id IN (SELECT id FROM outbox WHERE status IN ($3, $1) AND next_attempt_at <= $4 \
                     ORDER BY next_attempt_at LIMIT $5 {SKIP_LOCKED}) RETURNING {EMAIL_COLUMNS}"
                ))
                .bind($crate::EmailStatus::Sending)
                .bind(lease_until)
                .bind($crate::EmailStatus::Queued)
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn renew_email_lease(
                &self,
                id: accord_core::ids::OutboxId,
                attempt: i64,
                until: accord_core::time::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let renewed =
                    sqlx::query::<$db>("UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND status = $3 AND attempts = $4")
                        .bind(until)
                        .bind(id)
                        .bind($crate::EmailStatus::Sending)
                        .bind(attempt)
                        .execute(&self.pool)
                        .await?;
                Ok(renewed.rows_affected() == 1)
            }

            async fn finish_email(
                &self,
                f: &$crate::EmailFinish,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let sent_at = (f.status == $crate::EmailStatus::Sent).then_some(f.at);
                // An email cancelled while its SMTP exchange ran was delivered all the same: a
                // delivery is recorded as what it is; any other outcome leaves it cancelled.
                let or_cancelled =
                    if sent_at.is_some() { $crate::EmailStatus::Cancelled } else { $crate::EmailStatus::Sending };
                let updated = sqlx::query::<$db>(
                    "UPDATE outbox SET status = $1, next_attempt_at = $2, last_reply = $3, sent_at = $4 \
                     WHERE id = $5 AND attempts = $6 AND status IN ($7, $8)",
                )
                .bind(f.status)
                .bind(f.next_attempt_at)
                .bind(&f.reply)
                .bind(sent_at)
                .bind(f.outbox)
                .bind(f.attempt)
                .bind($crate::EmailStatus::Sending)
                .bind(or_cancelled)
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
                id: accord_core::ids::OutboxId,
                now: accord_core::time::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                // Not an email an ended instance left behind: only while the instance is active,
                // or the email is the ending step's own (its final notice). The instance row is
                // read `FOR SHARE`, so a step ending it meanwhile waits, then cancels the email.
                let updated = sqlx::query::<$db>(&format!(
                    "UPDATE outbox SET status = $1, next_attempt_at = $2 WHERE id = $3 AND status = $4 \
                     AND EXISTS (SELECT 1 FROM instances i WHERE i.id = outbox.instance_id \
                     AND (i.status = $5 OR outbox.history_seq >= i.version) {FOR_SHARE})"
                ))
                .bind($crate::EmailStatus::Queued)
                .bind(now)
                .bind(id)
                .bind($crate::EmailStatus::Failed)
                .bind($crate::InstanceStatus::Active)
                .execute(&self.pool)
                .await?;
                Ok(updated.rows_affected() == 1)
            }

            async fn update_draft(
                &self,
                id: accord_core::ids::OutboxId,
                subject: &str,
                text: &str,
                html: Option<&str>,
            ) -> Result<bool, $crate::StoreError> {
                let updated = sqlx::query::<$db>(
                    "UPDATE outbox SET subject = $1, text_body = $2, html_body = $3 WHERE id = $4 AND status = $5",
                )
                .bind(subject)
                .bind(text)
                .bind(html)
                .bind(id)
                .bind($crate::EmailStatus::Draft)
                .execute(&self.pool)
                .await?;
                Ok(updated.rows_affected() == 1)
            }

            async fn release_draft(
                &self,
                id: accord_core::ids::OutboxId,
                now: accord_core::time::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let updated = sqlx::query::<$db>("UPDATE outbox SET status = $1, next_attempt_at = $2 WHERE id = $3 AND status = $4")
                    .bind($crate::EmailStatus::Queued)
                    .bind(now)
                    .bind(id)
                    .bind($crate::EmailStatus::Draft)
                    .execute(&self.pool)
                    .await?;
                Ok(updated.rows_affected() == 1)
            }

            async fn emails_by_status(
                &self,
                status: $crate::EmailStatus,
                limit: i64,
                owner: Option<&$crate::Owner>,
            ) -> Result<Vec<$crate::EmailRecord>, $crate::StoreError> {
                let Some(owner) = owner else {
                    return Ok(sqlx::query_as::<$db, _>(&format!(
                        "SELECT {EMAIL_COLUMNS} FROM outbox WHERE status = $1 ORDER BY created_at LIMIT $2"
                    ))
                    .bind(status)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?);
                };
                let columns: Vec<String> = EMAIL_COLUMNS.split(", ").map(|c| format!("o.{}", c.trim())).collect();
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {} FROM outbox o JOIN instances i ON i.id = o.instance_id \
                     WHERE o.status = $1 AND {} ORDER BY o.created_at LIMIT $2",
                    columns.join(", "),
                    $crate::shared::owner_clause::<$store>(owner, "i.", 3)
                ))
                .bind(status)
                .bind(limit)
                .bind(owner.partner.to_string())
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use impl_outbox_store;
