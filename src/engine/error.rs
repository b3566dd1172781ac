//! The engine's error kinds. Each has a stable machine-readable code (used by the API and the
//! CLI's `--json`), and a message that says what to do next.

use accord_core::directory::ReadError;
use accord_core::machine::Refusal;

use crate::ids::InstanceId;
use crate::store::{Origin, StoreError};
use crate::workflow::{EventKind, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("unknown workflow `{name}`; known workflows: {}", known.join(", "))]
    UnknownWorkflow { name: String, known: Vec<String> },

    #[error("the input was refused: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    InvalidInput(Vec<FieldError>),

    #[error("no instance with id {0}; `accord list` shows the instances there are")]
    UnknownInstance(InstanceId),

    #[error("workflow `{workflow}` has no event `{event}`; its events are: {}", known.join(", "))]
    UnknownEvent { event: String, workflow: String, known: Vec<String> },

    #[error("event `{event}` is not allowed in state `{state}`; allowed there: {}", if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") })]
    EventNotAllowed { event: String, state: String, allowed: Vec<String> },

    #[error("the instance is finished (state `{state}`): no event applies any more, `{event}` included")]
    InstanceFinished { state: String, event: String },

    #[error("`{event}` is a {} event and cannot be sent by a {origin} caller", kind.as_str())]
    OriginNotAllowed { event: String, kind: EventKind, origin: Origin },

    #[error("refused by `{guard}`: {reason}")]
    GuardRefused { guard: String, reason: String },

    /// The directory refused the change the event makes (a relationship that exists already,
    /// written by another request meanwhile); nothing was written.
    #[error("refused by the directory: {reason}")]
    DirectoryRefused { reason: String },

    #[error("idempotency key `{key}` was already used for a different event or data on this instance; use a new key for a new request")]
    KeyReused { key: String },

    #[error("the instance kept changing while this event was applied; try again")]
    Busy,

    #[error("the timer was already fired or cancelled")]
    TimerSettled,

    #[error("this link was already used or replaced by a newer one")]
    LinkUsed,

    #[error("workflow definition problem: {0}")]
    Definition(String),

    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refusal> for EngineError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::UnknownEvent { event, workflow, known } => EngineError::UnknownEvent { event, workflow, known },
            Refusal::EventNotAllowed { event, state, allowed } => {
                EngineError::EventNotAllowed { event, state, allowed }
            }
            Refusal::InstanceFinished { state, event } => EngineError::InstanceFinished { state, event },
            Refusal::OriginNotAllowed { event, kind, origin } => EngineError::OriginNotAllowed { event, kind, origin },
            Refusal::GuardRefused { guard, reason } => EngineError::GuardRefused { guard, reason },
            Refusal::Definition(problem) => EngineError::Definition(problem),
        }
    }
}

/// A start check's read of the directory failed: the store's error, as it was.
impl From<ReadError> for EngineError {
    fn from(err: ReadError) -> Self {
        match err.0.downcast::<StoreError>() {
            Ok(store) => EngineError::Store(*store),
            Err(other) => EngineError::Store(StoreError::Corrupt(other.to_string())),
        }
    }
}

impl EngineError {
    /// A stable code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::UnknownWorkflow { .. } => "unknown_workflow",
            EngineError::InvalidInput(_) => "invalid_input",
            EngineError::UnknownInstance(_) => "unknown_instance",
            EngineError::UnknownEvent { .. } => "unknown_event",
            EngineError::EventNotAllowed { .. } => "event_not_allowed",
            EngineError::InstanceFinished { .. } => "instance_finished",
            EngineError::OriginNotAllowed { .. } => "forbidden_event",
            EngineError::GuardRefused { .. } => "guard_refused",
            EngineError::DirectoryRefused { .. } => "directory_refused",
            EngineError::KeyReused { .. } => "idempotency_key_reused",
            EngineError::Busy => "busy",
            EngineError::TimerSettled => "timer_settled",
            EngineError::LinkUsed => "link_used",
            EngineError::Definition(_) => "definition_error",
            EngineError::Store(_) => "storage_error",
        }
    }

    /// Whether the same request may succeed if sent again later.
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Busy => true,
            EngineError::Store(err) => err.is_transient(),
            _ => false,
        }
    }
}
