//! Accord's core: everything that decides, nothing that waits.
//!
//! Workflow definitions and their parser ([`workflow`]), the state machine that turns an event
//! into a [`machine::Decision`] with its effects as data ([`machine`]), the partner directory's
//! model and the reads the rules need ([`directory`]), and the Cloud Solution Provider rules
//! ([`csp`]). No database, network, file or clock access happens here: the application reads and
//! writes, then asks this crate what follows. That is what lets every rule be unit-tested in
//! milliseconds (`cargo test -p accord-core`).
#![forbid(unsafe_code)]

pub mod csp;
pub mod directory;
#[cfg(test)]
mod fixtures;
pub mod ids;
pub mod machine;
pub mod regions;
mod text;
pub mod time;
pub mod workflow;

/// What the exported macros need from this crate's dependencies.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "sqlx")]
    pub use sqlx;
}
