//! Rows as the stores read and write them.

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use accord_core::ids::{EventId, InstanceId, OutboxId, TimerId};
use accord_core::text_enum;
use accord_core::time::Timestamp;

pub use accord_core::machine::{InstanceStatus, Origin};
use accord_core::workflow::{EventName, StateName, TemplateName, WorkflowName};

text_enum! {
    pub enum TimerStatus {
        Armed => "armed",
        /// Claimed by a scheduler until its lease lapses; then another scheduler may take it over.
        Firing => "firing",
        Fired => "fired",
        /// Its state was left before it was due.
        Cancelled => "cancelled",
        /// It came due but its event no longer applied.
        Skipped => "skipped",
    }
}

text_enum! {
    pub enum EmailStatus {
        /// Waiting for the dispatcher.
        Queued => "queued",
        /// Rendered and held until a person releases it.
        Draft => "draft",
        /// Claimed by a dispatcher; if its lease lapses another dispatcher takes it over.
        Sending => "sending",
        Sent => "sent",
        /// Refused permanently by the SMTP server; an operator may retry.
        Failed => "failed",
        /// Never sent: its instance ended (withdrawn, expired, cancelled, completed) while it was
        /// a draft, queued, or claimed but not yet handed to the server.
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// What an API key may do.
    pub enum Scope {
        /// Everything, including any event on any instance.
        Admin => "admin",
        /// Read instances and send decision events.
        Reviewer => "reviewer",
        /// Start instances, read them and send signal events.
        Pipeline => "pipeline",
        /// One user of one partner, with that user's roles in the directory (created with
        /// `accord keys create --partner`, never with `--scope`).
        Partner => "partner",
    }
}

impl Scope {
    /// The operator's scopes, the ones `--scope` accepts.
    pub const OPERATOR: &'static [Scope] = &[Scope::Admin, Scope::Reviewer, Scope::Pipeline];
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DefinitionRecord {
    pub hash: String,
    pub workflow: WorkflowName,
    pub source: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct InstanceRecord {
    pub id: InstanceId,
    pub workflow: WorkflowName,
    pub definition_hash: String,
    pub state: StateName,
    pub status: InstanceStatus,
    /// Bumped by every transition; a commit only applies at the version it read.
    pub version: i64,
    pub context: Json<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_key: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct HistoryRecord {
    pub id: EventId,
    #[serde(skip)]
    pub instance_id: InstanceId,
    /// The instance's version after this event.
    pub seq: i64,
    pub event: EventName,
    pub origin: Origin,
    pub actor: String,
    pub from_state: Option<StateName>,
    pub to_state: StateName,
    pub data: Json<Value>,
    pub idempotency_key: String,
    /// Hash of the event name and data: a key replayed with another payload is refused.
    #[serde(skip)]
    pub fingerprint: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct TimerRecord {
    pub id: TimerId,
    pub instance_id: InstanceId,
    pub name: String,
    pub event: EventName,
    /// The state that armed it.
    pub state: StateName,
    pub due_at: Timestamp,
    pub status: TimerStatus,
    pub created_at: Timestamp,
    pub settled_at: Option<Timestamp>,
    pub note: Option<String>,
    /// Claims so far; also the fencing number the current claim's completion must show.
    pub attempts: i64,
    /// While firing: when the claim lapses.
    pub lease_until: Option<Timestamp>,
    pub claimed_at: Option<Timestamp>,
    /// The last claim took over from a claim whose lease had lapsed (its node stopped).
    pub took_over: bool,
}

/// One claim on a timer: which timer, and the fencing number its completion must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerClaim {
    pub id: TimerId,
    pub attempt: i64,
}

impl TimerRecord {
    pub fn claim(&self) -> TimerClaim {
        TimerClaim { id: self.id, attempt: self.attempts }
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct EmailRecord {
    pub id: OutboxId,
    #[serde(skip)]
    pub instance_id: InstanceId,
    /// The history row whose transition queued it.
    pub history_seq: i64,
    pub template: TemplateName,
    pub party: String,
    pub recipient: String,
    /// The link actions personalised in it.
    pub links: Json<Vec<String>>,
    pub status: EmailStatus,
    pub created_at: Timestamp,
    /// The locale the message was rendered in, after the fallback chain.
    pub locale: String,
    pub subject: String,
    /// Bodies carry personalised links: never shown by the instance API.
    #[serde(skip)]
    pub text_body: String,
    #[serde(skip)]
    pub html_body: Option<String>,
    /// Stable across retries, so a resent message is recognisably the same one.
    pub message_id: String,
    /// Delivery attempts so far; also the fencing number of the current claim.
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    /// The SMTP server's last reply (or the connection error).
    pub last_reply: Option<String>,
    pub sent_at: Option<Timestamp>,
    /// When the current (or last) claim was taken.
    pub claimed_at: Option<Timestamp>,
    /// The last claim took over from a claim whose lease had lapsed (its node stopped).
    pub took_over: bool,
    /// The recipient's display name, for the `To` header.
    pub recipient_name: Option<String>,
    /// The `From` mailbox (`Name <address>`) the workflow or the configuration chose; `None`:
    /// the configured sender at the time of sending.
    pub sender: Option<String>,
    /// The `Reply-To` mailbox, if any.
    pub reply_to: Option<String>,
}

text_enum! {
    pub enum AttemptOutcome {
        Sent => "sent",
        /// A transient failure: connection refused or lost, timeout, 4xx.
        Deferred => "deferred",
        /// A permanent refusal (5xx).
        Rejected => "rejected",
    }
}

/// One delivery attempt of an email.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AttemptRecord {
    pub id: uuid::Uuid,
    pub outbox_id: OutboxId,
    pub at: Timestamp,
    pub outcome: AttemptOutcome,
    pub reply: String,
}

text_enum! {
    pub enum LinkStatus {
        Active => "active",
        Used => "used",
        /// A newer link for the same action and recipient replaced it.
        Superseded => "superseded",
    }
}

/// A personalised link. Only the SHA-256 of its token is stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct LinkRecord {
    #[serde(skip)]
    pub hash: String,
    pub instance_id: InstanceId,
    pub outbox_id: OutboxId,
    pub action: String,
    pub event: EventName,
    pub party: String,
    pub recipient: String,
    pub status: LinkStatus,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: uuid::Uuid,
    /// SHA-256 of the key, hex; the key itself is shown once and never stored.
    pub hash: String,
    pub scope: Scope,
    pub label: String,
    pub created_at: Timestamp,
    /// A partner key's partner and user (both set exactly when `scope` is `partner`).
    pub partner_id: Option<uuid::Uuid>,
    pub user_email: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// Why a key that exists may not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Usable,
    Revoked,
    Expired,
}

impl ApiKeyRecord {
    /// Whether the key may be used at `now`.
    pub fn state(&self, now: Timestamp) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyState::Expired
        } else {
            KeyState::Usable
        }
    }
}

/// A reviewer's console session.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionRecord {
    /// SHA-256 of the session token, hex; the token lives only in the reviewer's cookie.
    pub hash: String,
    pub key_id: uuid::Uuid,
    /// The token every form of the session must carry.
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What a transition writes besides the instance row.
#[derive(Clone, Debug)]
pub struct Step {
    pub history: HistoryRecord,
    /// Cancel every armed timer of the instance (the state was left).
    pub cancel_armed_timers: bool,
    /// The timer whose firing this is; its claim must still hold.
    pub fired_timer: Option<TimerClaim>,
    pub arm: Vec<TimerRecord>,
    pub emails: Vec<EmailRecord>,
    /// Links issued with the emails.
    pub links: Vec<LinkRecord>,
    /// Actions whose older active links to a recipient on this instance stop working (the new
    /// ones above stay).
    pub supersede: Vec<crate::step::Superseded>,
    /// The link whose use this is; it must still be active. A step that also leaves the state
    /// uses up the other active links of the same party: one of its recipients answered for all.
    pub used_link: Option<String>,
    /// Directory changes, each with an audit row, and what must hold before them.
    pub directory: Vec<crate::step::DirectoryStep>,
    /// The step ends the instance: the emails earlier steps left unsent (drafts, queued, claimed
    /// but not yet handed over) are cancelled in its transaction; the step's own emails (the
    /// final state's notice) still go out.
    pub cancel_unsent: bool,
}

impl Step {
    /// Whether the step queues an email for the dispatcher (a draft waits for a person).
    pub fn queues_email(&self) -> bool {
        self.emails.iter().any(|email| email.status == EmailStatus::Queued)
    }

    /// What other nodes' listeners should wake for once the step commits. Only timers due within
    /// [`crate::wake::SOON_MILLIS`] need other nodes woken: a later one is found by their poll
    /// (and this node's engine rings its own scheduler for every timer it arms).
    pub fn wakes(&self) -> crate::wake::Queued {
        let soon = self.history.at.millis() + crate::wake::SOON_MILLIS;
        crate::wake::Queued {
            outbox: self.queues_email(),
            timers: self.arm.iter().any(|timer| timer.due_at.millis() <= soon),
        }
    }
}

/// How a step changes its instance's row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum InstanceWrite<'a> {
    /// The step starts a new instance.
    Create(&'a InstanceRecord),
    /// The step moves an existing instance on, if it is still at the version it was read at.
    Move(&'a Commit),
}

/// A transition ready to be written.
#[derive(Clone, Debug)]
pub struct Commit {
    pub instance: InstanceId,
    pub expected_version: i64,
    pub state: StateName,
    pub status: InstanceStatus,
    pub context: Json<Value>,
    pub at: Timestamp,
    pub step: Step,
}

/// Filters for listing instances, newest first (then by id, so that pages do not overlap).
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub workflow: Option<String>,
    pub state: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Only the instances this partner owns (a partner key's list).
    pub owner: Option<Owner>,
    /// Only active (or only finished) instances.
    pub status: Option<InstanceStatus>,
    /// Text the instance's context contains anywhere (a name, an email address, a tenant
    /// domain), ignoring case (on SQLite, case of ASCII letters only); `%` and `_` are literal.
    pub search: Option<String>,
}

impl ListFilter {
    /// The search as an SQL `LIKE` pattern (lower case, `\` escaping the wildcards), or `None`
    /// when there is nothing to search for.
    pub fn search_pattern(&self) -> Option<String> {
        let term = self.search.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
        let mut pattern = String::from("%");
        for c in term.to_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Some(pattern)
    }
}

/// The instances one partner owns: those of each workflow whose context names the partner at
/// that workflow's owner field (`reseller.id` of a customer invitation, say).
#[derive(Clone, Debug, Default)]
pub struct Owner {
    pub partner: uuid::Uuid,
    /// `(workflow, dotted path of the owner's id in the context)`; names only (letters, digits,
    /// `_` and `.`), as they are written into the SQL.
    pub fields: Vec<(&'static str, &'static str)>,
}

/// How one claimed delivery attempt ended.
#[derive(Clone, Debug)]
pub struct EmailFinish {
    pub outbox: OutboxId,
    /// The `attempts` value the claim set.
    pub attempt: i64,
    pub at: Timestamp,
    pub outcome: AttemptOutcome,
    pub reply: String,
    /// The email's status afterwards: sent, queued again, or failed.
    pub status: EmailStatus,
    pub next_attempt_at: Timestamp,
}

/// Figures for `/metrics`, read at scrape time.
#[derive(Clone, Debug, Default)]
pub struct StoreStats {
    pub outbox: Vec<(EmailStatus, i64)>,
    /// When the oldest email still waiting to be sent was queued.
    pub oldest_pending: Option<Timestamp>,
    /// The due time of the most overdue armed timer.
    pub oldest_due_timer: Option<Timestamp>,
    pub armed_timers: i64,
    /// Claims (emails being sent, timers firing) whose lease has lapsed: their node stopped.
    pub lapsed_claims: i64,
    /// When the oldest claim still held was taken.
    pub oldest_claim: Option<Timestamp>,
    /// Active instances that cannot move by themselves: an email failed for good, or a timer
    /// is overdue by more than a minute.
    pub stuck_instances: i64,
}
