//! Email delivery: the outbox dispatcher (lettre, over pooled SMTP connections or `.eml` files),
//! which failures keep an email queued and which fail it, and drafts held for a person to edit
//! and release. Above the engine: it claims what transitions queued.

pub mod dispatcher;
pub mod drafts;
pub mod smtp;

pub use dispatcher::{Backoff, Dispatcher, Transport};
