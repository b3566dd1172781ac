//! The step write: what one transition leaves in the database, in one transaction. The shared
//! transaction below and PostgreSQL's `accord_write_step` both follow [`SETTLE`] for the rows a
//! step settles, so neither spells a status the other could spell differently.

use serde::Serialize;

use super::{EmailStatus, LinkStatus, TimerStatus};
use accord_core::directory::DirectoryChange;
use accord_core::machine::Precondition;

/// A step's directory work, in order: what must still hold, and the changes written once it
/// does. A precondition that no longer holds fails the whole step with
/// [`CommitError::Unmet`](super::CommitError::Unmet), nothing written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryStep {
    Require(Precondition),
    Change(DirectoryChange),
}

/// The earlier active links of `action` sent to `recipient` on the step's instance, which a new
/// email to them replaces (others' links of the same action stay: a party of many recipients
/// asking for a new link replaces only their own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Superseded {
    pub action: String,
    pub recipient: String,
}

/// A row's move from one status to another.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Settle<S, F = S> {
    pub from: F,
    pub to: S,
}

/// How a step moves the rows it settles.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Settlements {
    /// The timer being fired, if the claim that fires it still holds.
    pub fired_timer: Settle<TimerStatus>,
    /// The link being used, if it is still active.
    pub used_link: Settle<LinkStatus>,
    /// When the step leaves the state, the party's other active links (other recipients', and
    /// the same email's other actions): the party has answered.
    pub answered_links: Settle<LinkStatus>,
    /// The left state's timers: armed ones, and claimed ones (whose firing then finds them settled).
    pub cancelled_timers: Settle<TimerStatus, [TimerStatus; 2]>,
    /// Earlier links of the actions a new email supersedes.
    pub superseded_links: Settle<LinkStatus>,
    /// When the step ends the instance, the emails earlier steps left unsent: drafts, queued
    /// ones, and ones a dispatcher claimed but has not handed over yet (it checks its claim just
    /// before the SMTP exchange and drops the email when the claim no longer holds).
    pub cancelled_emails: Settle<EmailStatus, [EmailStatus; 3]>,
}

pub const SETTLE: Settlements = Settlements {
    fired_timer: Settle { from: TimerStatus::Firing, to: TimerStatus::Fired },
    used_link: Settle { from: LinkStatus::Active, to: LinkStatus::Used },
    answered_links: Settle { from: LinkStatus::Active, to: LinkStatus::Used },
    cancelled_timers: Settle { from: [TimerStatus::Armed, TimerStatus::Firing], to: TimerStatus::Cancelled },
    superseded_links: Settle { from: LinkStatus::Active, to: LinkStatus::Superseded },
    cancelled_emails: Settle {
        from: [EmailStatus::Draft, EmailStatus::Queued, EmailStatus::Sending],
        to: EmailStatus::Cancelled,
    },
};

/// `write_step` on a transaction of `$db`: the history row, the settled timer and link (and the
/// party's other links), the cancelled timers, the cancelled unsent emails of an ended instance,
/// the armed timers, the queued emails, the superseded
/// links, the preconditions and directory changes, the new links, in the order
/// `accord_write_step` writes them (it takes no step with directory work).
macro_rules! step_writes {
    ($db:ty) => {
        fn unique_violation(err: &sqlx::Error) -> bool {
            matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
        }

        async fn write_step(
            tx: &mut sqlx::Transaction<'static, $db>,
            step: &$crate::Step,
        ) -> Result<(), $crate::CommitError> {
            use $crate::step::SETTLE;
            use $crate::CommitError;
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
                other => other.map_err($crate::StoreError::from)?,
            };
            if let Some(timer) = step.fired_timer {
                let fired = sqlx::query::<$db>(
                    "UPDATE timers SET status = $1, settled_at = $2, lease_until = NULL \
                     WHERE id = $3 AND status = $4 AND attempts = $5",
                )
                .bind(SETTLE.fired_timer.to)
                .bind(h.at)
                .bind(timer.id)
                .bind(SETTLE.fired_timer.from)
                .bind(timer.attempt)
                .execute(&mut **tx)
                    .await
                    .map_err($crate::StoreError::from)?;
                if fired.rows_affected() != 1 {
                    return Err(CommitError::TimerSettled);
                }
            }
            if let Some(hash) = &step.used_link {
                let used = sqlx::query::<$db>("UPDATE links SET status = $1, used_at = $2 WHERE hash = $3 AND status = $4")
                    .bind(SETTLE.used_link.to)
                    .bind(h.at)
                    .bind(hash)
                    .bind(SETTLE.used_link.from)
                    .execute(&mut **tx)
                    .await
                    .map_err($crate::StoreError::from)?;
                if used.rows_affected() != 1 {
                    return Err(CommitError::LinkSettled);
                }
                if step.cancel_armed_timers {
                    sqlx::query::<$db>(
                        "UPDATE links SET status = $1, used_at = $2 WHERE instance_id = $3 AND status = $4 \
                         AND party = (SELECT party FROM links WHERE hash = $5)",
                    )
                    .bind(SETTLE.answered_links.to)
                    .bind(h.at)
                    .bind(h.instance_id)
                    .bind(SETTLE.answered_links.from)
                    .bind(hash)
                    .execute(&mut **tx)
                    .await
                    .map_err($crate::StoreError::from)?;
                }
            }
            if step.cancel_armed_timers {
                // A timer claimed meanwhile is cancelled too: its firing then finds it settled.
                sqlx::query::<$db>(
                    "UPDATE timers SET status = $1, settled_at = $2, lease_until = NULL \
                     WHERE instance_id = $3 AND status IN ($4, $5)",
                )
                .bind(SETTLE.cancelled_timers.to)
                .bind(h.at)
                .bind(h.instance_id)
                .bind(SETTLE.cancelled_timers.from[0])
                .bind(SETTLE.cancelled_timers.from[1])
                .execute(&mut **tx)
                    .await
                    .map_err($crate::StoreError::from)?;
            }
            if step.cancel_unsent {
                // Only earlier steps' emails: this step's own are inserted below and go out.
                sqlx::query::<$db>(
                    "UPDATE outbox SET status = $1 WHERE instance_id = $2 AND status IN ($3, $4, $5) \
                     AND history_seq < $6",
                )
                .bind(SETTLE.cancelled_emails.to)
                .bind(h.instance_id)
                .bind(SETTLE.cancelled_emails.from[0])
                .bind(SETTLE.cancelled_emails.from[1])
                .bind(SETTLE.cancelled_emails.from[2])
                .bind(h.seq)
                .execute(&mut **tx)
                .await
                .map_err($crate::StoreError::from)?;
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
                .map_err($crate::StoreError::from)?;
            }
            for email in &step.emails {
                sqlx::query::<$db>(
                    "INSERT INTO outbox (id, instance_id, history_seq, template, party, recipient, links, status, created_at, \
                     locale, subject, text_body, html_body, message_id, attempts, next_attempt_at, \
                     recipient_name, sender, reply_to) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
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
                .bind(&email.recipient_name)
                .bind(&email.sender)
                .bind(&email.reply_to)
                .execute(&mut **tx)
                .await
                .map_err($crate::StoreError::from)?;
            }
            for superseded in &step.supersede {
                sqlx::query::<$db>(
                    "UPDATE links SET status = $1 WHERE instance_id = $2 AND action = $3 AND recipient = $4 \
                     AND status = $5",
                )
                .bind(SETTLE.superseded_links.to)
                .bind(h.instance_id)
                .bind(&superseded.action)
                .bind(&superseded.recipient)
                .bind(SETTLE.superseded_links.from)
                .execute(&mut **tx)
                .await
                .map_err($crate::StoreError::from)?;
            }
            for work in &step.directory {
                match work {
                    $crate::DirectoryStep::Require(precondition) => require(&mut **tx, precondition).await?,
                    $crate::DirectoryStep::Change(change) => {
                        // The person is whoever the history names (a link's recipient, a
                        // reviewer); the principal is how the event came in.
                        let actor = accord_core::directory::Actor::new(h.actor.as_str(), h.origin.as_str());
                        write_directory(&mut **tx, change, &actor, h.at, Some(h.instance_id)).await?
                    }
                }
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
                .map_err($crate::StoreError::from)?;
            }
            Ok(())
        }
    };
}

pub(crate) use step_writes;
