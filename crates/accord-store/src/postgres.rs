//! PostgreSQL: the engine for more than one node.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use tokio::task::AbortHandle;
use tracing::{debug, warn};

use super::step::{Settlements, SETTLE};
use super::{
    redact_url, CommitError, EmailRecord, EmailStatus, HistoryRecord, InstanceRecord, InstanceStatus, InstanceWrite,
    LinkRecord, LinkStatus, Origin, Step, StoreError, TimerRecord, TimerStatus,
};
use crate::wake::{Outgoing, CHANNEL};
use accord_core::ids::{EventId, InstanceId, OutboxId, TimerId};
use accord_core::workflow::{EventName, StateName, WorkflowName};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    /// What other nodes are to be woken for, and the task that tells them.
    outgoing: Arc<Outgoing>,
    notifier: AbortHandle,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.notifier.abort();
    }
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let unreachable = |source| StoreError::Unreachable { url: redact_url(url), source };
        let options = PgConnectOptions::from_str(url).map_err(unreachable)?;
        // One direct connection first: a refused connection or a bad password is reported as
        // such at once, instead of as a pool timeout after the acquire timeout.
        PgConnection::connect_with(&options).await.map_err(unreachable)?.close().await.map_err(unreachable)?;
        // No ping before each use of a pooled connection: it would double every statement's
        // round trips. A connection the server dropped (a restart) fails its next statement
        // instead, with an error `StoreError::is_transient` reports, and leaves the pool.
        let pool = PgPoolOptions::new()
            .test_before_acquire(false)
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        let outgoing = Arc::new(Outgoing::default());
        let notifier = tokio::spawn(notify_other_nodes(pool.clone(), outgoing.clone())).abort_handle();
        Ok(Self { pool, outgoing, notifier })
    }

    /// Queues a wake-up for the other nodes' listeners when the step queued work.
    fn committed(&self, step: &Step) {
        self.outgoing.add(step.wakes());
    }

    /// Listens on [`crate::wake::CHANNEL`], reconnecting after a lost connection; after each
    /// (re)connection it rings everything once, for notifications missed meanwhile.
    async fn listen_for_wake(&self, wake: Arc<crate::wake::Wake>) {
        loop {
            match PgListener::connect_with(&self.pool).await {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
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

    /// Writes a step in one call of `accord_write_step` (migrations `…_write_step*.sql`, the
    /// latest `…_party_answers.sql`): one round trip where the shared transaction takes one per
    /// row plus `BEGIN` and `COMMIT`. Steps with directory work (changes, and the preconditions
    /// checked before them) take the shared transaction (`None`).
    async fn write_in_one_call(&self, write: InstanceWrite<'_>, step: &Step) -> Option<Result<(), CommitError>> {
        if !step.directory.is_empty() {
            return None;
        }
        let written = sqlx::query_scalar::<_, String>("SELECT accord_write_step($1)")
            .bind(Json(StepDocument::new(write, step)))
            .fetch_one(&self.pool)
            .await;
        let outcome = match written {
            Ok(outcome) => outcome,
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(TIMER_SETTLED) => {
                return Some(Err(CommitError::TimerSettled))
            }
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(LINK_SETTLED) => {
                return Some(Err(CommitError::LinkSettled))
            }
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => return Some(Err(CommitError::DuplicateKey)),
            Err(err) => return Some(Err(StoreError::from(err).into())),
        };
        Some(match outcome.as_str() {
            "ok" => {
                self.committed(step);
                Ok(())
            }
            "conflict" => Err(CommitError::Conflict),
            "duplicate" => Err(CommitError::DuplicateKey),
            other => Err(StoreError::Corrupt(format!("accord_write_step answered `{other}`")).into()),
        })
    }
}

/// Sends what `outgoing` gathers as `NOTIFY accord_wake`, one notification at a time, after the
/// commits it tells of, and at most one per [`crate::wake::NOTIFY_PACE`]. One that fails is
/// dropped: the other nodes' polls find the work.
async fn notify_other_nodes(pool: PgPool, outgoing: Arc<Outgoing>) {
    crate::wake::relay(&outgoing, crate::wake::NOTIFY_PACE, |payload| {
        let pool = pool.clone();
        async move {
            let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&payload).execute(&pool).await;
            if let Err(err) = sent {
                debug!(error = %err, payload, "cannot notify the other nodes; their polls will find the work");
            }
        }
    })
    .await;
}

/// The SQLSTATEs `accord_write_step` raises when the fired timer's claim or the used link no
/// longer holds.
const TIMER_SETTLED: &str = "AC003";
const LINK_SETTLED: &str = "AC004";

/// A step as `accord_write_step` reads it; times in Unix milliseconds, names and statuses as
/// the tables keep them.
#[derive(Serialize)]
struct StepDocument<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    create: Option<NewInstance<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a StateName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<InstanceStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a Value>,
    history: History<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fired_timer: Option<FiredTimer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    used_link: Option<&'a str>,
    cancel_armed_timers: bool,
    cancel_unsent: bool,
    arm: Vec<NewTimer<'a>>,
    emails: Vec<NewEmail<'a>>,
    supersede: &'a [super::Superseded],
    links: Vec<NewLink<'a>>,
    /// The statuses the settled rows move between, as the shared transaction moves them.
    settle: Settlements,
}

impl<'a> StepDocument<'a> {
    fn new(write: InstanceWrite<'a>, step: &'a Step) -> Self {
        let (create, moved) = match write {
            InstanceWrite::Create(instance) => (Some(NewInstance::new(instance)), None),
            InstanceWrite::Move(commit) => (None, Some(commit)),
        };
        Self {
            create,
            expected_version: moved.map(|c| c.expected_version),
            state: moved.map(|c| &c.state),
            status: moved.map(|c| c.status),
            context: moved.map(|c| &c.context.0),
            history: History::new(&step.history),
            fired_timer: step.fired_timer.map(|claim| FiredTimer { id: claim.id, attempt: claim.attempt }),
            used_link: step.used_link.as_deref(),
            cancel_armed_timers: step.cancel_armed_timers,
            cancel_unsent: step.cancel_unsent,
            arm: step.arm.iter().map(NewTimer::new).collect(),
            emails: step.emails.iter().map(NewEmail::new).collect(),
            supersede: &step.supersede,
            links: step.links.iter().map(NewLink::new).collect(),
            settle: SETTLE,
        }
    }
}

#[derive(Serialize)]
struct NewInstance<'a> {
    workflow: &'a WorkflowName,
    definition_hash: &'a str,
    state: &'a StateName,
    status: InstanceStatus,
    version: i64,
    context: &'a Value,
    start_key: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
}

impl<'a> NewInstance<'a> {
    fn new(i: &'a InstanceRecord) -> Self {
        Self {
            workflow: &i.workflow,
            definition_hash: &i.definition_hash,
            state: &i.state,
            status: i.status,
            version: i.version,
            context: &i.context.0,
            start_key: i.start_key.as_deref(),
            created_at: i.created_at.millis(),
            updated_at: i.updated_at.millis(),
        }
    }
}

#[derive(Serialize)]
struct History<'a> {
    id: EventId,
    instance_id: InstanceId,
    seq: i64,
    event: &'a EventName,
    origin: Origin,
    actor: &'a str,
    from_state: Option<&'a StateName>,
    to_state: &'a StateName,
    data: &'a Value,
    idempotency_key: &'a str,
    fingerprint: &'a str,
    at: i64,
}

impl<'a> History<'a> {
    fn new(h: &'a HistoryRecord) -> Self {
        Self {
            id: h.id,
            instance_id: h.instance_id,
            seq: h.seq,
            event: &h.event,
            origin: h.origin,
            actor: &h.actor,
            from_state: h.from_state.as_ref(),
            to_state: &h.to_state,
            data: &h.data.0,
            idempotency_key: &h.idempotency_key,
            fingerprint: &h.fingerprint,
            at: h.at.millis(),
        }
    }
}

#[derive(Serialize)]
struct FiredTimer {
    id: TimerId,
    attempt: i64,
}

#[derive(Serialize)]
struct NewTimer<'a> {
    id: TimerId,
    name: &'a str,
    event: &'a EventName,
    state: &'a StateName,
    due_at: i64,
    status: TimerStatus,
    created_at: i64,
}

impl<'a> NewTimer<'a> {
    fn new(t: &'a TimerRecord) -> Self {
        Self {
            id: t.id,
            name: &t.name,
            event: &t.event,
            state: &t.state,
            due_at: t.due_at.millis(),
            status: t.status,
            created_at: t.created_at.millis(),
        }
    }
}

#[derive(Serialize)]
struct NewEmail<'a> {
    id: OutboxId,
    history_seq: i64,
    template: &'a str,
    party: &'a str,
    recipient: &'a str,
    links: &'a [String],
    status: EmailStatus,
    created_at: i64,
    locale: &'a str,
    subject: &'a str,
    text_body: &'a str,
    html_body: Option<&'a str>,
    message_id: &'a str,
    attempts: i64,
    next_attempt_at: i64,
    recipient_name: Option<&'a str>,
    sender: Option<&'a str>,
    reply_to: Option<&'a str>,
}

impl<'a> NewEmail<'a> {
    fn new(e: &'a EmailRecord) -> Self {
        Self {
            id: e.id,
            history_seq: e.history_seq,
            template: e.template.as_str(),
            party: &e.party,
            recipient: &e.recipient,
            links: &e.links.0,
            status: e.status,
            created_at: e.created_at.millis(),
            locale: &e.locale,
            subject: &e.subject,
            text_body: &e.text_body,
            html_body: e.html_body.as_deref(),
            message_id: &e.message_id,
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at.millis(),
            recipient_name: e.recipient_name.as_deref(),
            sender: e.sender.as_deref(),
            reply_to: e.reply_to.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct NewLink<'a> {
    hash: &'a str,
    outbox_id: OutboxId,
    action: &'a str,
    event: &'a EventName,
    party: &'a str,
    recipient: &'a str,
    status: LinkStatus,
    expires_at: i64,
    created_at: i64,
}

impl<'a> NewLink<'a> {
    fn new(l: &'a LinkRecord) -> Self {
        Self {
            hash: &l.hash,
            outbox_id: l.outbox_id,
            action: &l.action,
            event: &l.event,
            party: &l.party,
            recipient: &l.recipient,
            status: l.status,
            expires_at: l.expires_at.millis(),
            created_at: l.created_at.millis(),
        }
    }
}

impl super::Dialect for PgStore {
    const BACKEND: super::Backend = super::Backend::Postgres;
    const MIGRATOR: &'static sqlx::migrate::Migrator = &MIGRATOR;
    const SKIP_LOCKED: &'static str = "FOR UPDATE SKIP LOCKED";
    const NOW_MILLIS: &'static str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";
    const FOR_SHARE: &'static str = "FOR SHARE";

    fn json_text(column: &str, path: &str) -> String {
        format!("({column} #>> '{{{}}}')", path.replace('.', ","))
    }
}

super::shared::shared!(PgStore, Postgres);
super::definitions::impl_definition_store!(PgStore, Postgres);
super::instances::impl_instance_store!(PgStore, Postgres);
super::timers::impl_timer_store!(PgStore, Postgres);
super::outbox::impl_outbox_store!(PgStore, Postgres);
super::links::impl_link_store!(PgStore, Postgres);
super::directory::impl_directory_store!(PgStore, Postgres);
super::keys::impl_key_store!(PgStore, Postgres);
super::schedules::impl_schedule_store!(PgStore, Postgres);
super::stats::impl_stats_store!(PgStore, Postgres);
