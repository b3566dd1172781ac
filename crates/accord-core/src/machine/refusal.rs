//! Why [`decide`](super::decide) refused an event: each case is the caller's to report (the
//! application maps them onto its error codes), none is worth a retry.

use super::Origin;
use crate::workflow::EventKind;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("workflow `{workflow}` has no event `{event}`; its events are: {}", known.join(", "))]
    UnknownEvent { event: String, workflow: String, known: Vec<String> },

    #[error("event `{event}` is not allowed in state `{state}`; allowed there: {}", if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") })]
    EventNotAllowed { event: String, state: String, allowed: Vec<String> },

    #[error("the instance is finished (state `{state}`): no event applies any more, `{event}` included")]
    InstanceFinished { state: String, event: String },

    #[error("`{event}` is a {} event and cannot be sent by a {origin} caller", kind.as_str())]
    OriginNotAllowed { event: String, kind: EventKind, origin: Origin },

    /// A guard, or an effect that checks its input, said no.
    #[error("refused by `{guard}`: {reason}")]
    GuardRefused { guard: String, reason: String },

    /// The definition cannot be followed (a state or party it names is missing, a rule it
    /// references is not registered): a fault of the definition, not of the event.
    #[error("workflow definition problem: {0}")]
    Definition(String),
}

impl Refusal {
    /// A stable code for scripts (the API's and the CLI's `--json`).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownEvent { .. } => "unknown_event",
            Refusal::EventNotAllowed { .. } => "event_not_allowed",
            Refusal::InstanceFinished { .. } => "instance_finished",
            Refusal::OriginNotAllowed { .. } => "forbidden_event",
            Refusal::GuardRefused { .. } => "guard_refused",
            Refusal::Definition(_) => "definition_error",
        }
    }
}
