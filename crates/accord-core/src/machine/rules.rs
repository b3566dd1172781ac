//! Guards and effects that need code, registered by name and referenced from the TOML.
//!
//! Both are pure functions of the instance's context and the event's data: a guard says why an
//! event may not apply, an effect returns more effects as data. Domain modules add their own.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Effect;
use crate::directory::{DirectoryReader, ReadError};
use crate::workflow::{FieldError, Provided, StartCheckSpec};

/// What a guard or effect sees.
#[derive(Debug)]
pub struct Call<'a> {
    /// The instance the event applies to (also the id of records it creates, such as the
    /// partner an enrollment approves).
    pub instance_id: uuid::Uuid,
    pub workflow: &'a str,
    pub state: &'a str,
    pub event: &'a str,
    pub context: &'a Value,
    pub data: &'a Value,
    /// Who is acting, when a person is known: a link's recipient.
    pub by: Option<&'a str>,
}

/// `Err(reason)` refuses the event; the reason is shown to whoever sent it.
pub type Guard = fn(&Call<'_>) -> Result<(), String>;

/// Returns effects to apply with the transition, or `Err(reason)` to refuse it.
pub type EffectFn = fn(&Call<'_>) -> Result<Vec<Effect>, String>;

/// Checks an instance's (already validated) input against the directory before it starts:
/// every refused field, and what the directory says that the instance's context should hold.
pub type StartCheck = fn(
    Value,
    std::sync::Arc<dyn DirectoryReader>,
) -> futures::future::BoxFuture<'static, Result<StartChecked, ReadError>>;

/// What a start check found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StartChecked {
    /// Every refused field; empty: the start may go ahead.
    pub errors: Vec<FieldError>,
    /// Fields to merge into the instance's context (the fields the check declares it provides,
    /// such as partners' names and recipients), read from the directory, never from the caller.
    pub context: Value,
}

impl StartChecked {
    pub fn refused(errors: Vec<FieldError>) -> Self {
        Self { errors, context: Value::Null }
    }
}

/// The named guards, effects and start checks a definition may reference.
#[derive(Clone, Debug)]
pub struct Registry {
    guards: BTreeMap<&'static str, Guard>,
    effects: BTreeMap<&'static str, EffectFn>,
    start_checks: BTreeMap<&'static str, (StartCheck, &'static [Provided])>,
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Self {
        Self { guards: BTreeMap::new(), effects: BTreeMap::new(), start_checks: BTreeMap::new() }
    }

    /// The guards and effects every workflow may use; [`crate::csp::registry`] adds the Cloud
    /// Solution Provider rules the shipped workflows reference.
    pub fn builtin() -> Self {
        let mut registry = Self::empty();
        registry.guard("has_reason", |call| require_text(call, "reason"));
        registry.guard("has_message", |call| require_text(call, "message"));
        registry.effect("record_data", record_data);
        registry
    }

    pub fn guard(&mut self, name: &'static str, guard: Guard) -> &mut Self {
        self.guards.insert(name, guard);
        self
    }

    pub fn effect(&mut self, name: &'static str, effect: EffectFn) -> &mut Self {
        self.effects.insert(name, effect);
        self
    }

    /// Registers a start check, with the context fields it fills in (which definitions may then
    /// read, and may not declare as input).
    pub fn start_check(&mut self, name: &'static str, provides: &'static [Provided], check: StartCheck) -> &mut Self {
        self.start_checks.insert(name, (check, provides));
        self
    }

    pub fn find_start_check(&self, name: &str) -> Option<StartCheck> {
        self.start_checks.get(name).map(|(check, _)| *check)
    }

    pub fn start_check_names(&self) -> Vec<&'static str> {
        self.start_checks.keys().copied().collect()
    }

    /// The start checks as definitions are checked against them (`CheckEnv::start_checks`).
    pub fn start_check_specs(&self) -> Vec<StartCheckSpec> {
        self.start_checks.iter().map(|(name, (_, provides))| StartCheckSpec { name, provides }).collect()
    }

    pub fn find_guard(&self, name: &str) -> Option<Guard> {
        self.guards.get(name).copied()
    }

    pub fn find_effect(&self, name: &str) -> Option<EffectFn> {
        self.effects.get(name).copied()
    }

    pub fn guard_names(&self) -> Vec<&'static str> {
        self.guards.keys().copied().collect()
    }

    pub fn effect_names(&self) -> Vec<&'static str> {
        self.effects.keys().copied().collect()
    }
}

fn require_text(call: &Call<'_>, key: &str) -> Result<(), String> {
    match call.data.get(key).and_then(Value::as_str) {
        Some(text) if !text.trim().is_empty() => Ok(()),
        _ => Err(format!("`{}` needs a {key}: send data {{\"{key}\": \"…\"}}", call.event)),
    }
}

/// Keeps the event's data in the instance's context under the event's name, so later emails and
/// reviewers can see it (a rejection reason, a requested document).
fn record_data(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    Ok(vec![Effect::MergeContext(json!({ call.event: call.data }))])
}
