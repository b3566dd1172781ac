//! What a transition causes, as data: the application writes it in the transition's transaction.

use serde_json::Value;

use super::{InstanceStatus, Precondition};
use crate::directory::DirectoryChange;
use crate::time::Timestamp;
use crate::workflow::{EmailSpec, StateName, TimerSpec};

/// Something a transition causes, as data; the store writes it in the transition's transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Queue an email to `recipient` (already resolved from the party), greeting them by `name`
    /// when the party has one.
    Email { spec: EmailSpec, recipient: String, name: Option<String> },
    /// Arm a timer of the state being entered.
    ArmTimer { spec: TimerSpec, due_at: Timestamp },
    /// Cancel the armed timers of the state being left.
    CancelTimers,
    /// Merge this object into the instance's context.
    MergeContext(Value),
    /// Change the partner directory.
    Directory(DirectoryChange),
    /// Check the directory before the changes that follow it are written: if it no longer
    /// holds, the store writes nothing of the step.
    Require(Precondition),
}

/// The outcome of a transition.
#[derive(Clone, Debug)]
pub struct Decision {
    pub from: Option<StateName>,
    pub to: StateName,
    pub status: InstanceStatus,
    pub context: Value,
    pub effects: Vec<Effect>,
}
