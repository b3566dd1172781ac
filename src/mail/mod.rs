//! Email content: rendering (Tera, Markdown to text and HTML) in the recipient's locale, dates in
//! the recipient's language and zone, the From and Reply-To headers, personalised links, and
//! `accord check`'s rendering of every email. Below the engine, which renders an email when a transition
//! queues it; sending is the `delivery` module's.

pub mod check;
pub mod dates;
pub mod headers;
pub mod links;
pub mod markdown;
pub mod render;

pub use render::{Rendered, Renderer};
