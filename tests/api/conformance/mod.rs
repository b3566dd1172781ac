//! The store's contract, one file per aggregate, each test run against SQLite and PostgreSQL
//! alike (`on_each_store!`) unless a file says why not. Claims and leases across nodes are in
//! `leases.rs`, the directory's rules in `customer.rs` and `provider.rs` (what an acceptance
//! re-checks, end to end, in `consent.rs`), links in `email.rs`.

mod definitions;
mod ended;
mod instances;
mod keys;
mod outbox;
mod preconditions;
mod schedules;
mod timers;
