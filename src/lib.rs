//! Accord: a durable workflow orchestrator for onboarding that happens by email.
//!
//! Workflows are state machines written as data (`workflows/*.toml`, see [`workflow`]). The
//! [`engine`] starts instances and applies events exactly once; the [`store`] writes each
//! transition with its history row and effects in one transaction (SQLite or PostgreSQL); the
//! [`scheduler`] fires durable timers and periodic jobs; [`http`] is the surface of servers, and
//! the `accord` binary (`src/main.rs`, with the CLI and `accord bench`) the surface of people.
//! The pure core (definitions, the state machine, the CSP rules) is the `accord-core` crate, the
//! persistence `accord-store`.
#![forbid(unsafe_code)]

pub use accord_core::time as clock;
pub use accord_core::{csp, ids};
pub use accord_store::{self as store, wake};

pub mod access;
pub mod app;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod directory;
pub mod engine;
pub mod http;
pub mod keys;
pub mod lease;
pub mod mail;
pub mod metrics;
pub mod scheduler;
pub mod sink;
pub mod telemetry;
pub mod workflow;
