//! The one way a step is written ([`Engine::write`]): read the instance, plan the step against
//! it, commit at the version read; retry a lost race, replay a used key, and, when what the
//! step's effects require of the directory no longer holds, commit the transition's `otherwise`
//! instead ([`Engine::lapse`]).

use serde_json::Value;
use sqlx::types::Json;

use super::{transition, Decision, Effect, Engine, EngineError, Outcome, Unmet};
use crate::ids::{EventId, InstanceId};
use crate::store::{Commit, CommitError, HistoryRecord, InstanceRecord, Origin, TimerClaim};
use crate::workflow::{Definition, EventName};

/// How many times a transition is re-evaluated after losing a race before giving up.
const MAX_ATTEMPTS: usize = 8;

/// What one attempt at a step decided against the instance as it was read.
pub(super) struct Plan {
    pub(super) decision: Decision,
    pub(super) event: EventName,
    pub(super) origin: Origin,
    pub(super) actor: String,
    pub(super) data: Value,
    /// The timer this step fires, settled in its transaction.
    pub(super) timer: Option<TimerClaim>,
    /// The hash of the link this step uses up, in its transaction.
    pub(super) link: Option<String>,
    /// Counted as a transition in the metrics (a resent link is not).
    pub(super) is_transition: bool,
}

/// What a command does after the store refused its commit.
pub(super) enum Retry {
    /// The instance moved since it was read: plan again against the new state.
    Again,
    /// The key was used, or the link used up, by an earlier request: answer with its outcome
    /// if it has one, else with this.
    Replay(EngineError),
    Fail(EngineError),
    /// What the step's effects require no longer holds: end the instance in the transition's
    /// `otherwise` state instead, if it has one.
    Lapse(Unmet),
}

/// The one mapping of the store's refusals onto the engine's, for every command.
pub(super) fn after_refused_commit(refused: CommitError) -> Retry {
    match refused {
        CommitError::Conflict => Retry::Again,
        CommitError::DuplicateKey => Retry::Replay(EngineError::Busy),
        CommitError::LinkSettled => Retry::Replay(EngineError::LinkUsed),
        CommitError::TimerSettled => Retry::Fail(EngineError::TimerSettled),
        CommitError::Refused(reason) => Retry::Fail(EngineError::DirectoryRefused { reason, unmet: None }),
        CommitError::Unmet(unmet) => Retry::Lapse(unmet),
        CommitError::Store(err) => Retry::Fail(err.into()),
    }
}

impl Engine {
    /// The one way a step is written: reads the instance, asks `plan` what the step is against
    /// it, and commits it at the version read. A lost race plans again against the new state (up
    /// to [`MAX_ATTEMPTS`] times, then `busy`); a key used before returns its first outcome,
    /// also when the plan is refused (the first request may have moved the instance on). If what
    /// the step's effects require no longer holds, the instance lapses instead (see [`Self::lapse`]).
    pub(super) async fn write(
        &self,
        id: InstanceId,
        key: &str,
        print: &str,
        mut plan: impl FnMut(&InstanceRecord, &Definition, crate::clock::Timestamp) -> Result<Plan, EngineError>,
    ) -> Result<Outcome, EngineError> {
        for _ in 0..MAX_ATTEMPTS {
            let instance = self.store.instance(id).await?.ok_or(EngineError::UnknownInstance(id))?;
            let definition = self.definition_of(&instance).await?;
            let now = self.clock.now();
            let plan = match plan(&instance, &definition, now) {
                Ok(plan) => plan,
                Err(refusal) => return self.replay(id, key, print).await?.ok_or(refusal),
            };
            let mut refused = match self.commit_plan(&instance, &definition, &plan, key, print, now).await? {
                Ok(outcome) => return Ok(outcome),
                Err(refused) => refused,
            };
            if let CommitError::Unmet(unmet) = refused {
                let Some(lapse) = self.lapse(&instance, &definition, &plan, unmet.clone(), now)? else {
                    // Nowhere to lapse to: refused, and the instance stays where it is.
                    return Err(EngineError::DirectoryRefused {
                        reason: unmet.message.clone(),
                        unmet: Some(Box::new(unmet)),
                    });
                };
                refused = match self.commit_plan(&instance, &definition, &lapse, key, print, now).await? {
                    Ok(outcome) => return Ok(outcome),
                    Err(refused) => refused,
                };
            }
            match after_refused_commit(refused) {
                Retry::Again => continue,
                Retry::Replay(otherwise) => return self.replay(id, key, print).await?.ok_or(otherwise),
                Retry::Fail(err) => return Err(err),
                // A lapse requires nothing of the directory: it cannot find anything unmet.
                Retry::Lapse(unmet) => {
                    return Err(EngineError::DirectoryRefused {
                        reason: unmet.message.clone(),
                        unmet: Some(Box::new(unmet)),
                    })
                }
            }
        }
        Err(EngineError::Busy)
    }

    /// Commits `plan` against `instance` as read (at its version), with its history row: the
    /// outcome, or the store's refusal as it came (the outer error: the step could not be
    /// built, an email not rendered).
    async fn commit_plan(
        &self,
        instance: &InstanceRecord,
        definition: &Definition,
        plan: &Plan,
        key: &str,
        print: &str,
        now: crate::clock::Timestamp,
    ) -> Result<Result<Outcome, CommitError>, EngineError> {
        let history = HistoryRecord {
            id: EventId::generate(),
            instance_id: instance.id,
            seq: instance.version + 1,
            event: plan.event.clone(),
            origin: plan.origin,
            actor: plan.actor.clone(),
            from_state: Some(instance.state.clone()),
            to_state: plan.decision.to.clone(),
            data: Json(plan.data.clone()),
            idempotency_key: key.to_owned(),
            fingerprint: print.to_owned(),
            at: now,
        };
        // An email sent while the instance stays in its state (a reminder) may state the due
        // time of a timer armed when the state was entered: read them only then.
        let effects = &plan.decision.effects;
        let armed = if effects.iter().any(|e| matches!(e, Effect::Email { .. }))
            && !effects.iter().any(|e| matches!(e, Effect::CancelTimers))
        {
            let timers = self.store.timers(instance.id).await.map_err(EngineError::from)?;
            timers.into_iter().filter(|t| t.status == crate::store::TimerStatus::Armed).collect()
        } else {
            Vec::new()
        };
        let step =
            self.step_for(definition, history.clone(), &plan.decision, plan.timer, plan.link.clone(), &armed, now)?;
        let commit = Commit {
            instance: instance.id,
            expected_version: instance.version,
            state: plan.decision.to.clone(),
            status: plan.decision.status,
            context: Json(plan.decision.context.clone()),
            at: now,
            step,
        };
        if let Err(refused) = self.commit(&commit).await {
            return Ok(Err(refused));
        }
        if plan.is_transition {
            self.metrics.transition(definition.name.as_str());
        }
        let instance = InstanceRecord {
            state: commit.state,
            status: commit.status,
            version: instance.version + 1,
            context: commit.context,
            updated_at: now,
            ..instance.clone()
        };
        Ok(Ok(Outcome { instance, event: history, replayed: false }))
    }

    /// The step `plan` becomes when what its effects require no longer holds: the same event,
    /// with the same link used and timer settled, moving the instance to its transition's
    /// `otherwise` state with none of the transition's effects, and `unmet` (why) in the history
    /// row's data. `None` if the transition has no `otherwise`.
    fn lapse(
        &self,
        instance: &InstanceRecord,
        definition: &Definition,
        plan: &Plan,
        unmet: Unmet,
        now: crate::clock::Timestamp,
    ) -> Result<Option<Plan>, EngineError> {
        let current = transition::Current {
            instance_id: instance.id.as_uuid(),
            state: &instance.state,
            status: instance.status,
            context: &instance.context,
        };
        let Some(decision) = transition::lapse(definition, current, &plan.event, &self.mail.parties, now)? else {
            return Ok(None);
        };
        tracing::info!(
            instance.id = %instance.id,
            reason = %unmet.reason,
            "{}; the instance lapses to `{}`",
            unmet.message,
            decision.to
        );
        let unmet = serde_json::to_value(&unmet).map_err(|err| EngineError::Definition(err.to_string()))?;
        let data = match plan.data.clone() {
            Value::Object(mut data) => {
                data.insert("unmet".into(), unmet);
                Value::Object(data)
            }
            Value::Null => serde_json::json!({ "unmet": unmet }),
            other => serde_json::json!({ "unmet": unmet, "data": other }),
        };
        Ok(Some(Plan {
            decision,
            event: plan.event.clone(),
            origin: plan.origin,
            actor: plan.actor.clone(),
            data,
            timer: plan.timer,
            link: plan.link.clone(),
            is_transition: plan.is_transition,
        }))
    }

    /// The first outcome of `key` on instance `id`, if it was used before.
    async fn replay(&self, id: InstanceId, key: &str, print: &str) -> Result<Option<Outcome>, EngineError> {
        let Some(first) = self.store.history_by_key(id, key).await? else { return Ok(None) };
        if first.fingerprint != print {
            return Err(EngineError::KeyReused { key: key.to_owned() });
        }
        let instance = self.store.instance(id).await?.ok_or(EngineError::UnknownInstance(id))?;
        Ok(Some(Outcome { instance, event: first, replayed: true }))
    }
}
