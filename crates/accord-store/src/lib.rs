//! Accord's persistence, one module per aggregate (definitions, instances, timers, outbox, links,
//! directory, keys and sessions, schedules, stats), each with a small trait and the SQL that
//! implements it; [`Store`] is all of them. Both backends, SQLite (the embedded default) and
//! PostgreSQL (for several nodes), expand the same SQL (`shared.rs`) and pass the same
//! conformance suite (`tests/api/conformance`). Also here: the migrations of both databases,
//! [`DatabaseClock`], and [`wake`], how a commit announces new work to this node and the others.
#![forbid(unsafe_code)]

mod clock;
pub mod definitions;
pub mod directory;
pub mod instances;
pub mod keys;
pub mod links;
pub mod outbox;
mod postgres;
mod records;
pub mod schedules;
pub(crate) mod shared;
mod sqlite;
pub mod stats;
pub(crate) mod step;
pub mod timers;
pub mod wake;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub use clock::DatabaseClock;
pub use definitions::DefinitionStore;
pub use directory::{DirectoryOf, DirectoryStore};
pub use instances::InstanceStore;
pub use keys::KeyStore;
pub use links::LinkStore;
pub use outbox::OutboxStore;
pub use records::*;
pub use schedules::ScheduleStore;
pub use shared::Dialect;
pub use stats::StatsStore;
pub use step::{DirectoryStep, Superseded};
pub use timers::TimerStore;

use accord_core::time::Timestamp;

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
    /// What the step's directory changes require no longer holds (a partner deactivated, a
    /// relationship removed, a contact changed since the instance started).
    #[error("{0}")]
    Unmet(accord_core::machine::Unmet),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything the engine, the scheduler, the dispatcher and the API store: one small trait per
/// aggregate, and what concerns the database itself. Code that needs a store takes
/// `Arc<dyn Store>` (whose aggregate methods need no import); code that needs one aggregate can
/// take that trait alone, as the CSP rules take [`DirectoryOf`]'s `DirectoryReader`.
#[async_trait]
pub trait Store:
    DefinitionStore
    + InstanceStore
    + TimerStore
    + OutboxStore
    + LinkStore
    + DirectoryStore
    + KeyStore
    + ScheduleStore
    + StatsStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Rings `wake` whenever another node queues work, until the process ends (PostgreSQL's
    /// `LISTEN`); returns at once on SQLite, which has a single node.
    async fn listen(&self, wake: Arc<crate::wake::Wake>);

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The database server's clock: every node arms and fires timers by it.
    async fn database_now(&self) -> Result<Timestamp, StoreError>;
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
