//! The console's pages and forms, one module per page; what every page shares is here.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde_json::{json, Value};
use tracing::error;

use super::{csrf_refused, page, start_session, Reviewer, COOKIE};
use crate::delivery::drafts::{self, DraftEdit, DraftError};
use crate::directory::commands;
use crate::directory::PartnerKind;
use crate::engine::{Engine, EngineError, EventRequest};
use crate::ids::{InstanceId, OutboxId};
use crate::store::{EmailStatus, ListFilter, Origin, Scope, TimerStatus};
use crate::workflow::EventKind;

mod emails;
mod instance;
mod partners;
mod queue;
mod session;

pub use emails::{edit_email, email, emails, release_email, retry_email};
pub use instance::{decide, instance};
pub use partners::{partner, partners};
pub use queue::queue;
pub use session::{login, login_page, logout};

type Fields = HashMap<String, String>;

/// What went wrong on our side, as a page.
fn failure(engine: &Engine, err: impl std::fmt::Display) -> Response {
    error!(error = %err, "a console request failed");
    page(
        engine,
        StatusCode::INTERNAL_SERVER_ERROR,
        "message",
        json!({ "title": "Something went wrong", "message": "Nothing was changed. Try again in a moment; the error was logged." }),
    )
}

fn not_found(engine: &Engine, what: &str) -> Response {
    page(
        engine,
        StatusCode::NOT_FOUND,
        "message",
        json!({ "title": "Not found", "message": format!("There is no {what} here.") }),
    )
}

/// Every page's shared parts: who is signed in and the CSRF token for its forms.
fn base(reviewer: &Reviewer, mut context: Value) -> Value {
    context["csrf"] = json!(reviewer.session.csrf);
    context["reviewer"] = json!(reviewer.actor());
    context
}
