//! What keeps one client from taking the server from the others, and pages from being turned
//! against their readers: the accept loop with its timeouts and connection cap ([`serve`]), the
//! body size and time limits, the request rates, and the security headers. [`protect`] wraps
//! the application's router in all but the first; `[limits]` in the configuration sets them.

mod body;
mod headers;
mod rate;
mod serve;

use std::path::Path;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::Router;

pub use body::BodyTimedOut;
pub(in crate::http) use body::{body_timed_out, body_too_large};
pub use headers::CONTENT_SECURITY_POLICY;
pub use serve::{serve, Serving};

use crate::config::Limits;

/// `router` with the limits and headers applied, and the pages' stylesheets added (read from
/// `templates_dir`). Outermost first: security headers (on every answer, refusals included),
/// the body limits, then the request rates.
pub fn protect(router: Router, limits: &Limits, templates_dir: &Path) -> anyhow::Result<Router> {
    let bodies = body::Bodies { max_bytes: limits.max_body_bytes, timeout: limits.body_timeout()? };
    let rates = Arc::new(rate::RateLimits::new(limits));
    Ok(router
        .merge(headers::stylesheets(templates_dir))
        .layer(middleware::from_fn_with_state(rates, rate::limit))
        .layer(middleware::from_fn_with_state(bodies, body::bound))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(middleware::from_fn(headers::secure)))
}

/// Whether `path` is the JSON API's, whose refusals are JSON.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}
