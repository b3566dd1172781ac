//! Guards and effects that need code, registered by name and referenced from the TOML.
//!
//! Both are pure functions of the instance's context and the event's data: a guard says why an
//! event may not apply, an effect returns more effects as data. Domain modules add their own.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Effect;
use crate::directory::{DirectoryReader, ReadError};
use crate::workflow::FieldError;

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
}

/// `Err(reason)` refuses the event; the reason is shown to whoever sent it.
pub type Guard = fn(&Call<'_>) -> Result<(), String>;

/// Returns effects to apply with the transition, or `Err(reason)` to refuse it.
pub type EffectFn = fn(&Call<'_>) -> Result<Vec<Effect>, String>;

/// Checks an instance's (already validated) input against the directory before it starts;
/// returns every refused field.
pub type StartCheck = fn(
    Value,
    std::sync::Arc<dyn DirectoryReader>,
) -> futures::future::BoxFuture<'static, Result<Vec<FieldError>, ReadError>>;

/// The named guards, effects and start checks a definition may reference.
#[derive(Clone, Debug)]
pub struct Registry {
    guards: BTreeMap<&'static str, Guard>,
    effects: BTreeMap<&'static str, EffectFn>,
    start_checks: BTreeMap<&'static str, StartCheck>,
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

    pub fn start_check(&mut self, name: &'static str, check: StartCheck) -> &mut Self {
        self.start_checks.insert(name, check);
        self
    }

    pub fn find_start_check(&self, name: &str) -> Option<StartCheck> {
        self.start_checks.get(name).copied()
    }

    pub fn start_check_names(&self) -> Vec<&'static str> {
        self.start_checks.keys().copied().collect()
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
