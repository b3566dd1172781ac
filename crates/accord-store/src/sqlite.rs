//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{redact_url, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let unreachable = |source| StoreError::Unreachable { url: redact_url(url), source };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(unreachable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| unreachable(sqlx::Error::Io(err)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        Ok(Self { pool })
    }

    /// One node: the engine's own ring is all there is.
    async fn listen_for_wake(&self, _wake: std::sync::Arc<crate::wake::Wake>) {}

    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction never has to upgrade a
    /// read lock (which SQLite answers with SQLITE_BUSY instead of waiting).
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// SQLite runs in this process: a statement costs no round trip, so every step takes the
    /// shared transaction.
    async fn write_in_one_call(
        &self,
        _write: super::InstanceWrite<'_>,
        _step: &super::Step,
    ) -> Option<Result<(), super::CommitError>> {
        None
    }

    /// One node: the engine rings its own workers.
    fn committed(&self, _step: &super::Step) {}
}

impl super::Dialect for SqliteStore {
    const BACKEND: super::Backend = super::Backend::Sqlite;
    const MIGRATOR: &'static sqlx::migrate::Migrator = &MIGRATOR;
    const SKIP_LOCKED: &'static str = "";
    const NOW_MILLIS: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
    const FOR_SHARE: &'static str = "";

    fn json_text(column: &str, path: &str) -> String {
        format!("json_extract({column}, '$.{path}')")
    }
}

super::shared::shared!(SqliteStore, Sqlite);
super::definitions::impl_definition_store!(SqliteStore, Sqlite);
super::instances::impl_instance_store!(SqliteStore, Sqlite);
super::timers::impl_timer_store!(SqliteStore, Sqlite);
super::outbox::impl_outbox_store!(SqliteStore, Sqlite);
super::links::impl_link_store!(SqliteStore, Sqlite);
super::directory::impl_directory_store!(SqliteStore, Sqlite);
super::keys::impl_key_store!(SqliteStore, Sqlite);
super::schedules::impl_schedule_store!(SqliteStore, Sqlite);
super::stats::impl_stats_store!(SqliteStore, Sqlite);
