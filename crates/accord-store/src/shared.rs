//! What the two databases share: the [`Dialect`] each backend declares (the little that differs),
//! the column lists every query of a table reads, and [`shared!`], which stamps the helpers every
//! aggregate's SQL uses (the step write, the directory writes) and the [`Store`] methods that
//! are not any aggregate's into a backend's module.
//!
//! The aggregates' SQL is text both databases accept (`$n` placeholders, `ON CONFLICT`, partial
//! indexes), written once per aggregate as a macro body that each backend expands over its own
//! pool type (`sqlx::Pool<Sqlite>`, `sqlx::Pool<Postgres>`), so the two cannot drift; the
//! conformance suite proves they behave alike.
//!
//! [`Store`]: super::Store

use super::Backend;

/// What differs between SQLite and PostgreSQL in the SQL they share.
pub trait Dialect {
    const BACKEND: Backend;
    /// This backend's migrations (`migrations/sqlite` or `migrations/postgres`).
    const MIGRATOR: &'static sqlx::migrate::Migrator;
    /// How a claim's row selection skips rows another transaction has locked (`FOR UPDATE SKIP
    /// LOCKED` on PostgreSQL; SQLite has one writer at a time and needs nothing).
    const SKIP_LOCKED: &'static str;
    /// The database's clock in Unix milliseconds, as an SQL expression.
    const NOW_MILLIS: &'static str;
    /// The text at a dotted `path` of the JSON `column`, as an SQL expression.
    fn json_text(column: &str, path: &str) -> String;
    /// How a read inside a write transaction keeps the rows it found from changing until the
    /// commit (`FOR SHARE` on PostgreSQL; SQLite's write transaction already excludes every
    /// other writer).
    const FOR_SHARE: &'static str;
}

/// The SQL condition that the row (its `workflow` and `context` columns, under `alias`) belongs
/// to `owner`, comparing ids in lower case with the parameter `$param`.
pub fn owner_clause<D: Dialect>(owner: &super::Owner, alias: &str, param: usize) -> String {
    let plain = |name: &str| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    let cases: Vec<String> = owner
        .fields
        .iter()
        .filter(|(workflow, path)| plain(workflow) && plain(path))
        .map(|(workflow, path)| {
            format!(
                "({alias}workflow = '{workflow}' AND lower({}) = ${param})",
                D::json_text(&format!("{alias}context"), path)
            )
        })
        .collect();
    if cases.is_empty() {
        "FALSE".to_owned()
    } else {
        format!("({})", cases.join(" OR "))
    }
}

/// The columns each table's rows are read with, in the order of their `FromRow` records.
pub mod columns {
    pub const CUSTOMER_COLUMNS: &str = "id, name, domain, country, cloud, admin_name, admin_email, locale, \
         agreement_accepted_at, agreement_accepted_by, created_at, updated_at";
    pub const INSTANCE_COLUMNS: &str =
        "id, workflow, definition_hash, state, status, version, context, start_key, created_at, updated_at";
    pub const HISTORY_COLUMNS: &str = "id, instance_id, seq, event, origin, actor, from_state, to_state, data, \
         idempotency_key, fingerprint, at";
    pub const TIMER_COLUMNS: &str =
        "id, instance_id, name, event, state, due_at, status, created_at, settled_at, note, \
         attempts, lease_until, claimed_at, took_over";
    pub const EMAIL_COLUMNS: &str =
        "id, instance_id, history_seq, template, party, recipient, links, status, created_at, \
         locale, subject, text_body, html_body, message_id, attempts, next_attempt_at, last_reply, sent_at, \
         claimed_at, took_over, recipient_name, sender, reply_to";
    pub const LINK_COLUMNS: &str =
        "hash, instance_id, outbox_id, action, event, party, recipient, status, expires_at, created_at, used_at";
}

/// How overdue a timer must be before its instance counts as stuck.
pub const STUCK_AFTER_MILLIS: i64 = 60_000;

/// Stamps into a backend's module what every aggregate's SQL uses (the [`Dialect`]'s constants
/// under short names, the column lists, the step and directory writes) and implements the
/// [`Store`](super::Store) methods of its own. `$store` has a `pool` field of
/// `sqlx::Pool<$db>` and inherent `listen_for_wake()`.
macro_rules! shared {
    ($store:ty, $db:ty) => {
        #[allow(unused_imports)]
        use $crate::shared::columns::*;
        use $crate::shared::STUCK_AFTER_MILLIS;

        const SKIP_LOCKED: &str = <$store as $crate::Dialect>::SKIP_LOCKED;
        const NOW_MILLIS: &str = <$store as $crate::Dialect>::NOW_MILLIS;
        const FOR_SHARE: &str = <$store as $crate::Dialect>::FOR_SHARE;

        $crate::step::step_writes!($db);
        $crate::directory::directory_writes!($db);

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                <$store as $crate::Dialect>::BACKEND
            }

            async fn migrate(&self) -> Result<(), $crate::StoreError> {
                // PostgreSQL serialises concurrent migrators with an advisory lock; SQLite has
                // none, so a process that loses the race (the other applied the migration
                // first) tries again and then finds nothing left to do.
                let mut attempt = 0;
                loop {
                    match <$store as $crate::Dialect>::MIGRATOR.run(&self.pool).await {
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

            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query::<$db>("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn database_now(&self) -> Result<accord_core::time::Timestamp, $crate::StoreError> {
                let (now,): (i64,) =
                    sqlx::query_as::<$db, _>(&format!("SELECT {NOW_MILLIS}")).fetch_one(&self.pool).await?;
                Ok(accord_core::time::Timestamp::from_millis(now))
            }
        }
    };
}

pub(crate) use shared;
