//! The engine's error kinds. Each has a stable machine-readable code (used by the API and the
//! CLI's `--json`), and a message that says what to do next.

use accord_core::directory::ReadError;
use accord_core::machine::Refusal;

use crate::ids::InstanceId;
use crate::store::StoreError;
use crate::workflow::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("unknown workflow `{name}`; known workflows: {}", known.join(", "))]
    UnknownWorkflow { name: String, known: Vec<String> },

    #[error("the input was refused: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    InvalidInput(Vec<FieldError>),

    #[error("no instance with id {0}; `accord list` shows the instances there are")]
    UnknownInstance(InstanceId),

    /// `decide` refused the event (unknown, not allowed here, the instance finished, the wrong
    /// origin, a guard): its message and code are the core's.
    #[error(transparent)]
    Refused(Refusal),

    /// The directory refused the change the event makes (a relationship that exists already,
    /// written by another request meanwhile); nothing was written. `unmet`: what the change
    /// required no longer holds, and the transition has no `otherwise` to lapse to (its reason
    /// and subject, which a link page says in the reader's language).
    #[error("refused by the directory: {reason}")]
    DirectoryRefused { reason: String, unmet: Option<Box<accord_core::machine::Unmet>> },

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
            // A definition the engine cannot follow is the engine's problem, however found.
            Refusal::Definition(problem) => EngineError::Definition(problem),
            refusal => EngineError::Refused(refusal),
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
            EngineError::Refused(refusal) => refusal.code(),
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
