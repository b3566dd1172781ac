//! `/l/{token}`: the pages behind personalised links. A GET only renders (mail scanners prefetch
//! links); the page's form POSTs the action, with its checkboxes enforced here.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use serde_json::{json, Value};
use tracing::error;

use crate::engine::{Engine, EngineError};
use crate::mail::links;
use crate::store::{LinkRecord, LinkStatus};
use crate::workflow::LinkAction;

/// What a link page shows.
enum Page<'a> {
    Form { action: &'a LinkAction, error: Option<String> },
    Done { state: String, again: bool },
    Expired,
    Superseded,
    Unknown,
    NoLongerApplies { state: String },
}

pub async fn show(State(engine): State<Engine>, Path(token): Path<String>) -> Response {
    match find(&engine, &token).await {
        Err(response) => response,
        Ok((link, action)) => match classify(&engine, &link) {
            Some(page) if link.status == LinkStatus::Used => page_for(&engine, &link, page).await,
            Some(page) => render(&engine, page),
            None => render(&engine, Page::Form { action: &action, error: None }),
        },
    }
}

pub async fn act(
    State(engine): State<Engine>,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (link, action) = match find(&engine, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Some(page) = classify(&engine, &link) {
        return page_for(&engine, &link, page).await;
    }
    let missing: Vec<&str> = action
        .confirm
        .iter()
        .enumerate()
        .filter(|(i, _)| form.get(&format!("confirm_{i}")).is_none_or(|v| v.is_empty()))
        .map(|(_, label)| label.as_str())
        .collect();
    if !missing.is_empty() {
        let error = format!("Please tick: {}", missing.join("; "));
        let mut response = render(&engine, Page::Form { action: &action, error: Some(error) });
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return response;
    }
    match engine.apply_link(&link, json!({})).await {
        Ok(outcome) => {
            render(&engine, Page::Done { state: outcome.instance.state.to_string(), again: outcome.replayed })
        }
        Err(EngineError::EventNotAllowed { state, .. } | EngineError::InstanceFinished { state, .. }) => {
            render(&engine, Page::NoLongerApplies { state })
        }
        Err(EngineError::LinkUsed) => render(&engine, Page::Superseded),
        Err(err) => {
            error!(error = %err, "acting on a link failed");
            let mut response = render(
                &engine,
                Page::Form {
                    action: &action,
                    error: Some("Something went wrong on our side; please try again in a minute.".into()),
                },
            );
            *response.status_mut() =
                if err.is_transient() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
            response
        }
    }
}

/// The link and its action, or the page for a link that does not exist.
async fn find(engine: &Engine, token: &str) -> Result<(LinkRecord, LinkAction), Response> {
    if !links::is_well_formed(token) {
        return Err(render(engine, Page::Unknown));
    }
    let link = match engine.store().link(&links::hash_token(token)).await {
        Ok(Some(link)) => link,
        Ok(None) => return Err(render(engine, Page::Unknown)),
        Err(err) => {
            error!(error = %err, "looking up a link failed");
            return Err((StatusCode::SERVICE_UNAVAILABLE, Html("Please try again in a minute.")).into_response());
        }
    };
    let action = match engine.store().instance(link.instance_id).await {
        Ok(Some(instance)) => match engine.definition_of(&instance).await {
            Ok(definition) => definition.links.get(&link.action).cloned(),
            Err(_) => None,
        },
        _ => None,
    };
    match action {
        Some(action) => Ok((link, action)),
        None => Err(render(engine, Page::Unknown)),
    }
}

/// The page for a link that can no longer act, if it cannot.
fn classify<'a>(engine: &Engine, link: &LinkRecord) -> Option<Page<'a>> {
    match link.status {
        LinkStatus::Used => Some(Page::Done { state: String::new(), again: true }),
        LinkStatus::Superseded => Some(Page::Superseded),
        LinkStatus::Active if link.expires_at <= engine.now() => Some(Page::Expired),
        LinkStatus::Active => None,
    }
}

/// For a used link, shows the outcome the first use had.
async fn page_for(engine: &Engine, link: &LinkRecord, page: Page<'_>) -> Response {
    if let Page::Done { .. } = page {
        let key = format!("link:{}", link.hash);
        if let Ok(Some(first)) = engine.store().history_by_key(link.instance_id, &key).await {
            return render(engine, Page::Done { state: first.to_state.to_string(), again: true });
        }
    }
    render(engine, page)
}

fn render(engine: &Engine, page: Page<'_>) -> Response {
    let (status, context): (StatusCode, Value) = match &page {
        Page::Form { action, error } => (
            StatusCode::OK,
            json!({ "kind": "form", "title": action.title, "description": action.description, "button": action.button,
                    "confirm": action.confirm, "error": error }),
        ),
        Page::Done { state, again } => {
            (StatusCode::OK, json!({ "kind": "done", "state": state.replace('_', " "), "again": again }))
        }
        Page::Expired => (StatusCode::GONE, json!({ "kind": "expired" })),
        Page::Superseded => (StatusCode::GONE, json!({ "kind": "superseded" })),
        Page::Unknown => (StatusCode::NOT_FOUND, json!({ "kind": "unknown" })),
        Page::NoLongerApplies { state } => {
            (StatusCode::CONFLICT, json!({ "kind": "no_longer_applies", "state": state.replace('_', " ") }))
        }
    };
    match engine.renderer().render_page("pages/link.html.tera", &context) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            error!(error = %err, "rendering a link page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("Something went wrong on our side.".to_owned())).into_response()
        }
    }
}
