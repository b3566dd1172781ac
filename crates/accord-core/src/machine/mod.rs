//! The state machine: given a definition, where an instance stands and an event, [`decide`] says
//! where it goes and what that causes ([`Effect`]s, as data). The caller reads and writes; nothing
//! here waits on anything.

mod decide;
mod effect;
mod precondition;
mod refusal;
mod rules;

pub use decide::{
    decide, lapse, merge_context, origin_allows, recipients, start, Addresses, Current, Incoming, Recipient,
};
pub use effect::{Decision, Effect};
pub use precondition::{Precondition, Unmet, UnmetReason};
pub use refusal::Refusal;
pub use rules::{Call, EffectFn, Guard, Registry, StartCheck, StartChecked};

crate::text_enum! {
    /// Whether an instance can still move.
    pub enum InstanceStatus {
        Active => "active",
        /// In a final state: no event applies any more.
        Finished => "finished",
    }
}

crate::text_enum! {
    /// Who or what delivered an event.
    pub enum Origin {
        /// The instance was created.
        Start => "start",
        /// A recipient acted on an emailed link.
        Link => "link",
        /// A reviewer decided.
        Reviewer => "reviewer",
        /// A pipeline signalled through the API.
        Pipeline => "pipeline",
        /// A durable timer fired.
        Timer => "timer",
        /// A periodic job ticked.
        Schedule => "schedule",
        /// An operator with full rights (CLI or admin key).
        Operator => "operator",
    }
}
