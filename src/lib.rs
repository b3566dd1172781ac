//! Accord: a durable workflow orchestrator for onboarding that happens by email.
//!
//! Workflows are state machines written as data (`workflows/*.toml`, see [`workflow`]). The
//! [`engine`] starts instances and applies events exactly once; the [`store`] writes each
//! transition with its history row and effects in one transaction (SQLite or PostgreSQL); the
//! [`scheduler`] fires durable timers and periodic jobs; [`http`] and [`cli`] are the surfaces.
#![forbid(unsafe_code)]

pub use accord_core::time as clock;
pub use accord_core::{csp, ids};

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod console;
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
pub mod store;
pub mod telemetry;
pub mod wake;
pub mod workflow;
