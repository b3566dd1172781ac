//! Accord's integration tests: one binary. Most tests run once per store (`sqlite::…` and
//! `postgres::…`); the PostgreSQL variants need ACCORD_TEST_POSTGRES_URL and are required in CI.

mod helpers;

mod access;

mod browser;
mod cli;
mod conformance;
mod consent;
mod console;
mod customer;
mod demo;
mod email;
mod email_parts;
mod email_screens;
mod ended;
mod enrollment;
mod faults;
mod hardening;
mod hostile;

mod http;
mod layering;
mod leases;
mod pages;
mod pages_browser;
mod process;
mod provider;
mod seeds;
mod sinks;
mod timers;
mod versioning;
