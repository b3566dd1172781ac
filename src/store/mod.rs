//! Persistence. One [`Store`] trait, implemented for SQLite (the embedded default) and
//! PostgreSQL (for several nodes). Both implementations share their SQL (see `sql.rs`) and pass
//! the same conformance suite.

mod clock;
mod postgres;
mod records;
mod sql;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub use clock::DatabaseClock;
pub use records::*;

use accord_core::directory::{
    CustomerPartner, CustomerRecord, DirectoryReader, PartnerRecord, PartnerUserRecord, ReadError, RelationshipRecord,
};

use crate::clock::Timestamp;
use crate::ids::{InstanceId, OutboxId};

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot reach the database at {url} (check ACCORD_DATABASE_URL and that the server is running)")]
    Unreachable {
        /// The URL with its password removed.
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("{0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether trying again later could succeed (a lost connection, a busy database).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } => true,
            StoreError::Query(err) => {
                matches!(
                    err,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ) || matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| transient_code(&c)))
            }
            _ => false,
        }
    }
}

/// Database error codes worth a retry: SQLite busy (5); on PostgreSQL a serialization failure or
/// deadlock (40001, 40P01), a connection error (class 08), and the server shutting down,
/// restarting or still starting (57P01, 57P02, 57P03).
fn transient_code(code: &str) -> bool {
    matches!(code, "5" | "40001" | "40P01" | "57P01" | "57P02" | "57P03") || code.starts_with("08")
}

/// Why a commit did not apply. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another writer moved the instance since it was read.
    #[error("the instance changed since it was read")]
    Conflict,
    /// The idempotency key was used before on this instance.
    #[error("the idempotency key was used before")]
    DuplicateKey,
    /// The timer being fired was already fired or cancelled.
    #[error("the timer was already settled")]
    TimerSettled,
    /// The link being used was already used or superseded.
    #[error("the link is no longer active")]
    LinkSettled,
    /// The directory refused the change (a relationship that already exists).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The storage operations the engine, scheduler and API need.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Rings `wake` whenever another node queues work, until the process ends (PostgreSQL's
    /// `LISTEN`); returns at once on SQLite, which has a single node.
    async fn listen(&self, wake: Arc<crate::wake::Wake>);

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a definition snapshot; storing the same hash again is a no-op.
    async fn save_definition(&self, definition: &DefinitionRecord) -> Result<(), StoreError>;

    async fn definition(&self, hash: &str) -> Result<Option<DefinitionRecord>, StoreError>;

    /// Writes a new instance with its first history row and entry effects, in one transaction.
    /// A `start_key` used before yields [`CommitError::DuplicateKey`].
    async fn create_instance(&self, instance: &InstanceRecord, step: &Step) -> Result<(), CommitError>;

    /// Applies a transition: instance row (only if still at `expected_version`), history row and
    /// effects, in one transaction.
    async fn commit(&self, commit: &Commit) -> Result<(), CommitError>;

    async fn instance(&self, id: InstanceId) -> Result<Option<InstanceRecord>, StoreError>;

    async fn instance_by_start_key(&self, key: &str) -> Result<Option<InstanceRecord>, StoreError>;

    async fn list_instances(&self, filter: &ListFilter) -> Result<Vec<InstanceRecord>, StoreError>;

    /// Ids of active instances of `workflow` in any of `states`.
    async fn active_in_states(&self, workflow: &str, states: &[String]) -> Result<Vec<InstanceId>, StoreError>;

    async fn history(&self, id: InstanceId) -> Result<Vec<HistoryRecord>, StoreError>;

    async fn history_by_key(&self, id: InstanceId, key: &str) -> Result<Option<HistoryRecord>, StoreError>;

    async fn timers(&self, id: InstanceId) -> Result<Vec<TimerRecord>, StoreError>;

    async fn emails(&self, id: InstanceId) -> Result<Vec<EmailRecord>, StoreError>;

    /// Claims up to `limit` timers due at `now` (armed, or firing under a lapsed lease) until
    /// `lease_until`, in one statement, oldest first. Each claim bumps `attempts`, the fencing
    /// number its completion must show. Only the earliest pending timer of an instance can be
    /// claimed, so one instance's timers fire in due order however many schedulers claim. On
    /// PostgreSQL the rows are picked with `FOR UPDATE SKIP LOCKED`.
    async fn claim_due_timers(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<TimerRecord>, StoreError>;

    /// Extends a timer's claim to `until`; false when the claim no longer holds.
    async fn renew_timer_lease(&self, claim: TimerClaim, until: Timestamp) -> Result<bool, StoreError>;

    /// Extends an email's claim numbered `attempt` to `until`; false when it no longer holds.
    async fn renew_email_lease(&self, id: OutboxId, attempt: i64, until: Timestamp) -> Result<bool, StoreError>;

    /// The database server's clock: every node arms and fires timers by it.
    async fn database_now(&self) -> Result<Timestamp, StoreError>;

    /// When the next armed timer is due.
    async fn next_due(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Settles a claimed timer without a transition (its event no longer applies), if the claim
    /// still holds.
    async fn skip_timer(&self, claim: TimerClaim, at: Timestamp, note: &str) -> Result<bool, StoreError>;

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

    /// Records an attempt and its effect on the email, if the claim numbered `attempt` still holds.
    async fn finish_email(&self, finish: &EmailFinish) -> Result<bool, StoreError>;

    /// Puts a failed email back in the queue; false when it was not failed.
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

    /// Emails in `status`, oldest first.
    async fn emails_by_status(&self, status: EmailStatus, limit: i64) -> Result<Vec<EmailRecord>, StoreError>;

    /// Queue and timer figures for `/metrics`.
    async fn stats(&self, now: Timestamp) -> Result<StoreStats, StoreError>;

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

    async fn link(&self, hash: &str) -> Result<Option<LinkRecord>, StoreError>;

    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Keeps a console session (its token's hash) for `key`, until `expires_at`.
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session with this token hash and its key, if it has not expired at `now`.
    async fn session(&self, hash: &str, now: Timestamp) -> Result<Option<(SessionRecord, ApiKeyRecord)>, StoreError>;

    /// Ends a session (sign-out); also drops every expired one.
    async fn delete_session(&self, hash: &str, now: Timestamp) -> Result<(), StoreError>;

    async fn schedule_tick(&self, name: &str) -> Result<Option<Timestamp>, StoreError>;

    /// Moves a schedule's last tick from `previous` to `tick`; false when another node already did.
    async fn advance_schedule(
        &self,
        name: &str,
        previous: Option<Timestamp>,
        tick: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// The store as the CSP rules' start checks read the directory.
pub struct DirectoryOf(pub Arc<dyn Store>);

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

/// Opens the store `url` names: `sqlite://…` or `postgres://…`.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url, max_connections).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, max_connections).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// The default database: `accord.db` in the data directory.
pub fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("accord.db").display())
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => url.split('@').next_back().map_or_else(String::new, |host| format!("…@{host}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_restarting_or_a_lost_connection_is_worth_a_retry_and_a_broken_rule_is_not() {
        for code in ["57P01", "57P02", "57P03", "08006", "08003", "40001", "40P01", "5"] {
            assert!(transient_code(code), "{code}");
        }
        for code in ["23505", "23503", "42P01", "AC003", "AC004"] {
            assert!(!transient_code(code), "{code}");
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact_url("postgres://accord:hunter2@db:5432/accord"), "postgres://accord:***@db:5432/accord");
        assert_eq!(redact_url("postgres://db/accord"), "postgres://db/accord");
        assert!(!redact_url("not a url:hunter2@db").contains("hunter2"));
    }
}
