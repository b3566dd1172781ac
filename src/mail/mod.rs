//! Email: rendering (Tera), personalised links, and the outbox dispatcher (lettre).

pub mod check;
pub mod dispatcher;
pub mod drafts;
pub mod links;
pub mod render;
pub mod smtp;

pub use dispatcher::{Backoff, Dispatcher, Transport};
pub use render::{Rendered, Renderer};
