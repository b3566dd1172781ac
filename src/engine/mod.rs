//! The engine: starts instances and applies events, exactly once, with every effect written in
//! the transition's own transaction.

mod effects;
mod error;
mod write;

use std::sync::Arc;

use accord_core::directory::DirectoryReader;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use tracing::instrument;

pub use accord_core::machine::{self as transition, Decision, Effect, Refusal, Registry, Unmet, UnmetReason};
pub use error::EngineError;
use write::{after_refused_commit, Plan, Retry};

use crate::clock::{Clock, Timestamp};
use crate::ids::{EventId, InstanceId};
use crate::mail::Renderer;
use crate::metrics::Metrics;
use crate::store::{
    Commit, CommitError, DefinitionRecord, DirectoryOf, EmailRecord, HistoryRecord, InstanceRecord, LinkRecord, Origin,
    Step, Store, TimerClaim, TimerRecord,
};
use crate::workflow::{
    input, parse_snapshot, Catalog, CheckEnv, Definition, EmailSpec, EventName, FieldError, InputRules,
};

/// A request to start an instance.
#[derive(Clone, Debug)]
pub struct StartRequest {
    pub workflow: String,
    pub input: Value,
    /// Starting twice with the same key returns the first instance.
    pub idempotency_key: Option<String>,
    pub actor: String,
}

/// A request to apply an event.
#[derive(Clone, Debug)]
pub struct EventRequest {
    pub event: String,
    pub data: Value,
    /// Sending the same key again returns the first outcome; one is generated when absent.
    pub idempotency_key: Option<String>,
    pub origin: Origin,
    pub actor: String,
}

/// The result of a start or an event.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub instance: InstanceRecord,
    /// The history row this request produced (or produced the first time).
    pub event: HistoryRecord,
    /// True when the idempotency key was seen before and this is the first outcome, unchanged.
    pub replayed: bool,
}

/// Everything known about one instance.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceView {
    #[serde(flatten)]
    pub instance: InstanceRecord,
    pub history: Vec<HistoryRecord>,
    pub timers: Vec<TimerRecord>,
    pub emails: Vec<EmailRecord>,
    /// Every delivery attempt of those emails.
    pub attempts: Vec<crate::store::AttemptRecord>,
}

#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    rules: Arc<InputRules>,
    mail: MailSettings,
    metrics: Arc<Metrics>,
    wake: Arc<crate::wake::Wake>,
    /// The store as the start checks read the directory, made once.
    directory: Arc<dyn DirectoryReader>,
}

/// What the engine needs to turn an email effect into a message.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub renderer: Arc<Renderer>,
    /// The base of every personalised link, without a trailing slash.
    pub public_url: String,
    /// Addresses of configured parties (reviewers and the like), by key.
    pub parties: transition::Addresses,
    /// The hosts a draft's URLs may point at: the public URL's and those configured.
    pub draft_url_hosts: Vec<String>,
    /// The sender and reply address of a workflow without its own (`mail_from`, `mail_reply_to`).
    pub from: lettre::message::Mailbox,
    pub reply_to: Option<lettre::message::Mailbox>,
    /// The configured time zone (`time_zone`): the zone dates are given in for a recipient
    /// without a time zone or a country, and the console's.
    pub time_zone: chrono_tz::Tz,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<Catalog>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        rules: InputRules,
        mail: MailSettings,
    ) -> Self {
        Self {
            directory: Arc::new(DirectoryOf(store.clone())),
            store,
            catalog,
            registry,
            clock,
            rules: Arc::new(rules),
            mail,
            metrics: Arc::default(),
            wake: Arc::default(),
        }
    }

    /// Rung after each commit that queues an email or arms a timer.
    pub fn wake(&self) -> &Arc<crate::wake::Wake> {
        &self.wake
    }

    /// Writes a transition, then wakes this node's dispatcher or scheduler for what it queued.
    async fn commit(&self, commit: &Commit) -> Result<(), CommitError> {
        self.store.commit(commit).await?;
        self.queued(&commit.step);
        Ok(())
    }

    /// Wakes this node's dispatcher or scheduler for what a committed step queued.
    fn queued(&self, step: &Step) {
        if step.queues_email() {
            self.wake.outbox();
        }
        if !step.arm.is_empty() {
            self.wake.timers();
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn renderer(&self) -> &Arc<Renderer> {
        &self.mail.renderer
    }

    /// The base of every personalised link.
    pub fn public_url(&self) -> &str {
        &self.mail.public_url
    }

    /// The hosts a draft's URLs may point at.
    pub fn draft_url_hosts(&self) -> &[String] {
        &self.mail.draft_url_hosts
    }

    /// The configured time zone.
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.mail.time_zone
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Records every current definition, so instances can later find the snapshot they started on.
    pub async fn publish_definitions(&self) -> Result<(), EngineError> {
        for definition in self.catalog.all() {
            self.store
                .save_definition(&DefinitionRecord {
                    hash: definition.hash.clone(),
                    workflow: definition.name.clone(),
                    source: definition.source.clone(),
                    created_at: self.clock.now(),
                })
                .await?;
        }
        Ok(())
    }

    /// Starts an instance of the current definition of `request.workflow`.
    #[instrument(skip_all, fields(workflow = %request.workflow))]
    pub async fn start(&self, request: StartRequest) -> Result<Outcome, EngineError> {
        let definition = self.catalog.current(&request.workflow).ok_or_else(|| EngineError::UnknownWorkflow {
            name: request.workflow.clone(),
            known: self.catalog.names(),
        })?;
        if let Some(key) = &request.idempotency_key {
            if let Some(first) = self.replayed_start(key, &request).await? {
                return Ok(first);
            }
        }
        let mut context = input::validate(&definition.input, &definition.checks, &request.input, &self.rules)
            .map_err(|errors| EngineError::InvalidInput(self.explain_directory_fields(&definition, errors)))?;
        // Each check sees the input and what the checks before it filled in from the directory.
        let mut refused = Vec::new();
        for name in &definition.start_checks {
            let check = self
                .registry
                .find_start_check(name.as_str())
                .ok_or_else(|| EngineError::Definition(format!("start check `{name}` is not registered")))?;
            let checked = check(context.clone(), self.directory.clone()).await?;
            refused.extend(checked.errors);
            if !checked.context.is_null() {
                transition::merge_context(&mut context, &checked.context);
            }
        }
        if !refused.is_empty() {
            return Err(EngineError::InvalidInput(refused));
        }
        let now = self.clock.now();
        let decision = transition::start(&definition, context, &self.mail.parties, now)?;
        let id = InstanceId::generate();
        let instance = InstanceRecord {
            id,
            workflow: definition.name.clone(),
            definition_hash: definition.hash.clone(),
            state: decision.to.clone(),
            status: decision.status,
            version: 1,
            context: Json(decision.context.clone()),
            start_key: request.idempotency_key.clone(),
            created_at: now,
            updated_at: now,
        };
        let history = HistoryRecord {
            id: EventId::generate(),
            instance_id: id,
            seq: 1,
            event: EventName::parse("start").map_err(|e| EngineError::Definition(e.to_string()))?,
            origin: Origin::Start,
            actor: request.actor.clone(),
            from_state: None,
            to_state: decision.to.clone(),
            data: Json(Value::Null),
            idempotency_key: request.idempotency_key.clone().unwrap_or_else(|| format!("start:{id}")),
            fingerprint: fingerprint("start", &request.input),
            at: now,
        };
        let step = self.step_for(&definition, history.clone(), &decision, None, None, &[], now)?;
        let created = self.store.create_instance(&instance, &step).await;
        if created.is_ok() {
            self.queued(&step);
        }
        match created {
            Ok(()) => {
                self.metrics.transition(definition.name.as_str());
                Ok(Outcome { instance, event: history, replayed: false })
            }
            Err(refused) => match after_refused_commit(refused) {
                // A new instance's row cannot have moved: only its start key can have been taken.
                Retry::Again => Err(EngineError::Busy),
                Retry::Replay(otherwise) => {
                    let key = request.idempotency_key.clone().unwrap_or_default();
                    self.replayed_start(&key, &request).await?.ok_or(otherwise)
                }
                Retry::Fail(err) => Err(err),
                // Entering the initial state changes no directory, so requires nothing of it.
                Retry::Lapse(unmet) => {
                    Err(EngineError::DirectoryRefused { reason: unmet.message.clone(), unmet: Some(Box::new(unmet)) })
                }
            },
        }
    }

    /// An input key the caller may not give because a start check fills it in from the
    /// directory (a partner's name, who is asked) is reported as such (`from_directory`), not as
    /// a misspelling.
    fn explain_directory_fields(&self, definition: &Definition, errors: Vec<FieldError>) -> Vec<FieldError> {
        let specs = self.registry.start_check_specs();
        let provided: Vec<(&str, &str)> = specs
            .iter()
            .filter(|spec| definition.start_checks.iter().any(|name| name.as_str() == spec.name))
            .flat_map(|spec| spec.provides.iter().map(|field| (field.path, spec.name)))
            .collect();
        let overlaps = |field: &str, path: &str| {
            field == path || path.starts_with(&format!("{field}.")) || field.starts_with(&format!("{path}."))
        };
        errors
            .into_iter()
            .map(|mut error| {
                let found = provided.iter().find(|(path, _)| overlaps(&error.field, path));
                if let (Some((path, check)), "unknown_field") = (found, error.code) {
                    error.code = "from_directory";
                    error.message = format!(
                        "`{}` is filled in from the directory (start check `{check}` sets `{path}`), never taken \
                         from the caller: leave it out",
                        error.field
                    );
                }
                error
            })
            .collect()
    }

    async fn replayed_start(&self, key: &str, request: &StartRequest) -> Result<Option<Outcome>, EngineError> {
        let Some(instance) = self.store.instance_by_start_key(key).await? else { return Ok(None) };
        let history = self.store.history(instance.id).await?;
        let Some(first) = history.into_iter().next() else { return Ok(None) };
        if instance.workflow.as_str() != request.workflow || first.fingerprint != fingerprint("start", &request.input) {
            return Err(EngineError::KeyReused { key: key.to_owned() });
        }
        Ok(Some(Outcome { instance, event: first, replayed: true }))
    }

    /// Applies an event to an instance: exactly once per idempotency key, and never on a stale
    /// read (a lost race is re-evaluated against the new state).
    #[instrument(skip_all, fields(instance.id = %id, event = %request.event))]
    pub async fn apply(&self, id: InstanceId, request: EventRequest) -> Result<Outcome, EngineError> {
        self.apply_inner(id, request, None, None).await
    }

    /// An event whose transition's effects found the directory changed since the start
    /// ([`Unmet`]) ends the instance in the transition's `otherwise` state instead, with the
    /// reason in the history row's data under `unmet`: this reads it back.
    pub fn unmet_of(event: &HistoryRecord) -> Option<Unmet> {
        serde_json::from_value(event.data.0.get("unmet")?.clone()).ok()
    }

    /// A recipient acts on a link: the event of its action (or of an alternative its page
    /// offers), with the link used up in the same transaction.
    /// Acting twice returns the first outcome.
    #[instrument(skip_all, fields(instance.id = %link.instance_id, action = %link.action))]
    pub async fn apply_link(&self, link: &LinkRecord, event: EventName, data: Value) -> Result<Outcome, EngineError> {
        let request = EventRequest {
            event: event.to_string(),
            data,
            idempotency_key: Some(format!("link:{}", link.hash)),
            origin: Origin::Link,
            actor: format!("link:{}", link.recipient),
        };
        self.apply_inner(link.instance_id, request, None, Some(link)).await
    }

    /// "Send me a new link": mails the recipient of an expired or replaced link the email it
    /// came in again, with fresh links (which supersede the old ones). Recorded in the history as
    /// `link_resent`; asking twice with the same old link sends one email.
    #[instrument(skip_all, fields(instance.id = %link.instance_id, action = %link.action))]
    pub async fn resend_link(&self, link: &LinkRecord) -> Result<Outcome, EngineError> {
        let data = serde_json::json!({ "action": link.action });
        let print = fingerprint("link_resent", &data);
        let key = format!("resend:{}", link.hash);
        let original = self
            .store
            .email(link.outbox_id)
            .await?
            .ok_or_else(|| EngineError::Definition(format!("the email of link `{}` is missing", link.action)))?;
        let event = EventName::parse("link_resent").map_err(|e| EngineError::Definition(e.to_string()))?;
        self.write(link.instance_id, &key, &print, |instance, definition, _now| {
            if instance.status == crate::store::InstanceStatus::Finished {
                return Err(EngineError::Refused(Refusal::InstanceFinished {
                    state: instance.state.to_string(),
                    event: link.event.to_string(),
                }));
            }
            let state = definition
                .state(&instance.state)
                .ok_or_else(|| EngineError::Definition(format!("state `{}` is missing", instance.state)))?;
            if !state.transitions.contains_key(&link.event) {
                return Err(EngineError::Refused(Refusal::EventNotAllowed {
                    event: link.event.to_string(),
                    state: instance.state.to_string(),
                    allowed: state.transitions.keys().map(ToString::to_string).collect(),
                }));
            }
            let spec = EmailSpec {
                template: original.template.clone(),
                to: link.party.clone(),
                links: original.links.0.clone(),
                draft: false,
            };
            // Greeted as the first email greeted them (one recipient of a party of many).
            let name = transition::recipients(definition, &link.party, &instance.context, &self.mail.parties)
                .ok()
                .and_then(|all| all.into_iter().find(|r| r.email == link.recipient))
                .and_then(|r| r.name);
            Ok(Plan {
                decision: Decision {
                    from: Some(instance.state.clone()),
                    to: instance.state.clone(),
                    status: instance.status,
                    context: instance.context.0.clone(),
                    effects: vec![Effect::Email { spec, recipient: link.recipient.clone(), name }],
                },
                event: event.clone(),
                origin: Origin::Link,
                actor: format!("link:{}", link.recipient),
                data: data.clone(),
                timer: None,
                link: None,
                is_transition: false,
            })
        })
        .await
    }

    /// Fires a due timer: its event, with the timer settled in the same transaction.
    #[instrument(skip_all, fields(instance.id = %timer.instance_id, timer = %timer.name))]
    pub async fn fire_timer(&self, timer: &TimerRecord) -> Result<Outcome, EngineError> {
        let request = EventRequest {
            event: timer.event.to_string(),
            data: Value::Null,
            idempotency_key: Some(format!("timer:{}", timer.id)),
            origin: Origin::Timer,
            actor: format!("timer:{}", timer.name),
        };
        match self.apply_inner(timer.instance_id, request, Some(timer.claim()), None).await {
            Err(err) if !err.is_transient() && !matches!(err, EngineError::TimerSettled) => {
                // The event no longer applies: settle the timer with the reason rather than
                // retrying it forever; if it was settled meanwhile (an earlier timer of the same
                // instance left the state), that is all there is to say.
                if self.store.skip_timer(timer.claim(), self.clock.now(), &err.to_string()).await? {
                    Err(err)
                } else {
                    Err(EngineError::TimerSettled)
                }
            }
            result => result,
        }
    }

    async fn apply_inner(
        &self,
        id: InstanceId,
        request: EventRequest,
        timer: Option<TimerClaim>,
        link: Option<&LinkRecord>,
    ) -> Result<Outcome, EngineError> {
        check_event_data(&request.data, "data").map_err(|refused| EngineError::InvalidInput(vec![refused]))?;
        let key = request.idempotency_key.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let print = fingerprint(&request.event, &request.data);
        let event = EventName::parse(&request.event);
        self.write(id, &key, &print, |instance, definition, now| {
            let incoming = transition::Incoming {
                event: &request.event,
                data: &request.data,
                origin: request.origin,
                by: link.map(|link| link.recipient.as_str()),
            };
            let current = transition::Current {
                instance_id: id.as_uuid(),
                state: &instance.state,
                status: instance.status,
                context: &instance.context,
            };
            let decision = transition::decide(definition, &self.registry, current, &incoming, &self.mail.parties, now)?;
            Ok(Plan {
                decision,
                event: event.clone().map_err(|e| EngineError::Definition(e.to_string()))?,
                origin: request.origin,
                actor: request.actor.clone(),
                data: request.data.clone(),
                timer,
                link: link.map(|link| link.hash.clone()),
                is_transition: true,
            })
        })
        .await
    }

    /// The definition snapshot `instance` started on: from this process's cache, else from the
    /// database (so an edited file never changes an instance in flight).
    pub async fn definition_of(&self, instance: &InstanceRecord) -> Result<Arc<Definition>, EngineError> {
        if let Some(definition) = self.catalog.snapshot(&instance.definition_hash) {
            return Ok(definition);
        }
        let record = self.store.definition(&instance.definition_hash).await?.ok_or_else(|| {
            EngineError::Definition(format!(
                "definition snapshot {} is missing from the database",
                instance.definition_hash
            ))
        })?;
        let guards = self.registry.guard_names();
        let effects = self.registry.effect_names();
        let start_checks = self.registry.start_check_specs();
        let env = CheckEnv { guards: &guards, start_checks: &start_checks, effects: &effects, template_exists: None };
        let file = format!("{}.toml", record.workflow);
        let definition = parse_snapshot(&file, &record.source, &env).map_err(|problems| {
            let first = problems.first().map(ToString::to_string).unwrap_or_default();
            EngineError::Definition(format!(
                "snapshot {} of `{}` no longer loads: {first}",
                record.hash, record.workflow
            ))
        })?;
        let definition = Arc::new(definition);
        self.catalog.remember(definition.clone());
        Ok(definition)
    }

    /// State, history, timers and emails of one instance.
    pub async fn view(&self, id: InstanceId) -> Result<InstanceView, EngineError> {
        let instance = self.store.instance(id).await?.ok_or(EngineError::UnknownInstance(id))?;
        let (history, timers, emails, attempts) = futures::try_join!(
            self.store.history(id),
            self.store.timers(id),
            self.store.emails(id),
            self.store.attempts(id)
        )?;
        Ok(InstanceView { instance, history, timers, emails, attempts })
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Identifies a request's payload, so a key replayed with different content is caught.
fn fingerprint(event: &str, data: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(event.as_bytes());
    hasher.update([0]);
    hasher.update(data.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// An event's data is typed by people (a rejection reason, an answer to a question): every
/// string in it is free text, bounded, without control characters but line breaks and tabs,
/// whichever surface it came through (the API, a link page's answer box, the console, the CLI).
fn check_event_data(data: &Value, path: &str) -> Result<(), crate::workflow::FieldError> {
    match data {
        Value::String(text) => crate::workflow::check_text(path, text, crate::workflow::TextLimit::TEXT).map(drop),
        Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, item)| check_event_data(item, &format!("{path}.{i}")))
        }
        Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            crate::workflow::check_text(path, key, crate::workflow::TextLimit::NAME)?;
            check_event_data(item, &format!("{path}.{key}"))
        }),
        _ => Ok(()),
    }
}
