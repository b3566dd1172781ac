//! The partner directory as the application uses it: the core's model (`accord_core::directory`)
//! and the queries and commands the API and the CLI share ([`commands`]).

pub use accord_core::directory::*;

pub mod commands;
pub mod finder;
mod users;
