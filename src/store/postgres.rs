//! PostgreSQL: the engine for more than one node.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use tracing::warn;

use super::{redact_url, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let unreachable = |source| StoreError::Unreachable { url: redact_url(url), source };
        let options = PgConnectOptions::from_str(url).map_err(unreachable)?;
        // One direct connection first: a refused connection or a bad password is reported as
        // such at once, instead of as a pool timeout after the acquire timeout.
        PgConnection::connect_with(&options).await.map_err(unreachable)?.close().await.map_err(unreachable)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        Ok(Self { pool })
    }

    /// Listens on [`crate::wake::CHANNEL`], reconnecting after a lost connection; after each
    /// (re)connection it rings everything once, for notifications missed meanwhile.
    async fn listen_for_wake(&self, wake: std::sync::Arc<crate::wake::Wake>) {
        loop {
            match PgListener::connect_with(&self.pool).await {
                Ok(mut listener) => match listener.listen(crate::wake::CHANNEL).await {
                    Ok(()) => {
                        wake.ring("outbox timers");
                        loop {
                            match listener.recv().await {
                                Ok(notification) => wake.ring(notification.payload()),
                                Err(err) => {
                                    warn!(error = %err, "lost the notification listener; polling until it is back");
                                    break;
                                }
                            }
                        }
                    }
                    Err(err) => warn!(error = %err, "cannot listen for notifications; polling meanwhile"),
                },
                Err(err) => warn!(error = %err, "cannot connect the notification listener; polling meanwhile"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Read committed is enough: every write is guarded by the instance's version, which
    /// PostgreSQL rechecks after waiting for a concurrent writer's row lock.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }
}

super::sql::impl_store!(
    PgStore,
    Postgres,
    super::Backend::Postgres,
    MIGRATOR,
    "FOR UPDATE SKIP LOCKED",
    "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
);
