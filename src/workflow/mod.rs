//! Workflow definitions as the application holds them: the core's parsed [`Definition`]s (see
//! `accord_core::workflow`), read from a directory into a [`Catalog`], and drawn as diagrams.

mod catalog;
mod graph;

pub use accord_core::workflow::*;
pub use catalog::{Catalog, LoadReport};
pub use graph::{to_dot, to_svg};
