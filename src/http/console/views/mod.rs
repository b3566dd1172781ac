//! The console's pages and forms, one module per page; what every page shares is here.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde_json::{json, Value};
use tracing::error;

use super::when::Reader;
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
mod instances;
mod partners;
mod queue;
mod session;
mod signals;

pub use emails::{edit_email, email, emails, release_email, retry_email};
pub use instance::{decide, instance};
pub use instances::instances;
pub use partners::{partner, partners, set_roles};
pub use queue::queue;
pub use session::{login, login_page, logout};
pub use signals::{confirm_signal, signal};

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

/// What names an instance to a reader, from its definition rather than from names in code: the
/// first input field called `legal_name` or `name` that has a value (else any such field one
/// level down, a start check's), and the addresses of the parties the context names.
pub(super) fn summary(
    definition: Option<&crate::workflow::Definition>,
    context: &Value,
) -> (Option<String>, Vec<String>) {
    let text = |path: &str| crate::workflow::field(context, path).and_then(Value::as_str).map(str::to_owned);
    let named = |path: &str| matches!(path.rsplit('.').next(), Some("legal_name" | "name"));
    let from_input = definition.and_then(|d| d.input.iter().filter(|f| named(&f.path)).find_map(|f| text(&f.path)));
    let name = from_input.or_else(|| {
        context
            .as_object()?
            .values()
            .find_map(|v| v.get("legal_name").or_else(|| v.get("name")).and_then(Value::as_str).map(str::to_owned))
    });
    let mut emails: Vec<String> = definition
        .map(|d| {
            d.parties.values().filter(|p| p.each.is_none()).filter_map(|p| p.email.as_deref().and_then(&text)).collect()
        })
        .unwrap_or_default();
    emails.dedup();
    (name, emails)
}

/// A workflow as readers know it: its title, else its name.
pub(super) fn workflow_title(definition: &crate::workflow::Definition) -> String {
    if definition.title.is_empty() {
        definition.name.to_string()
    } else {
        definition.title.clone()
    }
}
