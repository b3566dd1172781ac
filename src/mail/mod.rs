//! Email content: rendering (Tera) in the recipient's locale, personalised links, and `accord
//! check`'s rendering of every email. Below the engine, which renders an email when a transition
//! queues it; sending is the `delivery` module's.

pub mod check;
pub mod links;
pub mod render;

pub use render::{Rendered, Renderer};
