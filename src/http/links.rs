//! `/l/{token}`: the pages behind personalised links, in the recipient's locale. A GET only
//! renders (mail scanners prefetch links); the page's form POSTs the action, with its checkboxes
//! enforced here. Expired and replaced links offer "send me a new link" where the workflow allows.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use serde_json::{json, Value};
use tracing::error;

use crate::engine::{Engine, EngineError, Refusal, Unmet};
use crate::mail::links;
use crate::mail::render::fallback_chain;
use crate::store::{LinkRecord, LinkStatus};
use crate::workflow::LinkAction;

/// A link, its action, the other actions its page offers, and the recipient's locale.
struct Found {
    token: String,
    link: LinkRecord,
    action: LinkAction,
    alternatives: Vec<(String, LinkAction)>,
    locale: Option<String>,
    workflow: String,
    /// The instance's state when the link was looked up.
    state: String,
    context: Value,
    definition: std::sync::Arc<crate::workflow::Definition>,
}

impl Found {
    /// The state as the recipient reads it: its label in their locale, else its name.
    fn state_label(&self, state: &str, chain: &[Option<String>]) -> String {
        state
            .parse::<crate::workflow::StateName>()
            .ok()
            .and_then(|name| self.definition.state(&name)?.label.as_ref().map(|label| label.get(chain)))
            .unwrap_or_else(|| state.replace('_', " "))
    }
}

/// Longest text accepted in a link page's text box.
const MAX_FIELD_CHARS: usize = 10_000;

/// What a link page shows.
enum Page {
    /// The action's form; `missing` lists what must still be ticked or filled in, `values` keeps
    /// what was typed.
    Form {
        missing: Vec<String>,
        values: HashMap<String, String>,
    },
    Done {
        state: String,
        again: bool,
        /// The action's own words for what happened, if it has them.
        said: Option<String>,
    },
    Expired,
    Superseded,
    Unknown,
    NoLongerApplies {
        state: String,
    },
    /// A rule refused the action (say, the relationship exists already).
    Refused {
        reason: String,
    },
    /// What the action depended on no longer held when it was taken (a partner no longer
    /// active, a contact changed): nothing was recorded, and the request ended.
    Lapsed {
        state: String,
        unmet: Unmet,
    },
    Resent,
    Failure {
        status: StatusCode,
    },
}

pub async fn show(State(engine): State<Engine>, Path(token): Path<String>) -> Response {
    match find(&engine, &token).await {
        Err(response) => response,
        Ok(found) => match settled(&engine, &found).await {
            Some(page) => render(&engine, page, Some(&found)),
            None => render(&engine, Page::Form { missing: Vec::new(), values: HashMap::new() }, Some(&found)),
        },
    }
}

pub async fn act(
    State(engine): State<Engine>,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let found = match find(&engine, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Some(page) = settled(&engine, &found).await {
        return render(&engine, page, Some(&found));
    }
    let chain = fallback_chain(found.locale.as_deref());
    // The page's other buttons ("Cancel invitation") post `choice` with their action's name.
    let (event, action) = match form.get("choice").map(String::as_str) {
        None | Some("") => (found.link.event.clone(), &found.action),
        Some(choice) => match found.alternatives.iter().find(|(name, _)| name == choice) {
            Some((_, action)) => (action.event.clone(), action),
            None => {
                return render(&engine, Page::Form { missing: Vec::new(), values: HashMap::new() }, Some(&found));
            }
        },
    };
    let mut missing: Vec<String> = action
        .confirm
        .get(&chain)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| form.get(&format!("confirm_{i}")).is_none_or(|v| v.is_empty()))
        .map(|(_, label)| label)
        .collect();
    let mut data = serde_json::Map::new();
    let mut values = HashMap::new();
    for field in &action.fields {
        let value = form.get(&field.name).map(|v| v.trim()).unwrap_or_default();
        let value: String = value.chars().take(MAX_FIELD_CHARS).collect();
        if field.required && value.is_empty() {
            missing.push(field.label.get(&chain));
        } else if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            // A NUL or another control character: the form comes back saying which field.
            missing.push(format!("{} (without control characters)", field.label.get(&chain)));
        }
        values.insert(field.name.clone(), value.clone());
        data.insert(field.name.clone(), Value::String(value));
    }
    if !missing.is_empty() {
        return render(&engine, Page::Form { missing, values }, Some(&found));
    }
    let page = match engine.apply_link(&found.link, event, Value::Object(data)).await {
        Ok(outcome) => match Engine::unmet_of(&outcome.event) {
            Some(unmet) => Page::Lapsed { state: outcome.instance.state.to_string(), unmet },
            None => Page::Done {
                state: outcome.instance.state.to_string(),
                again: outcome.replayed,
                said: action.done.as_ref().map(|done| done.get(&chain)),
            },
        },
        Err(EngineError::LinkUsed) => Page::Superseded,
        Err(err) => refused(err, "acting on a link failed"),
    };
    render(&engine, page, Some(&found))
}

/// "Send me a new link", offered on the page of an expired or replaced link.
pub async fn resend(State(engine): State<Engine>, Path(token): Path<String>) -> Response {
    let found = match find(&engine, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let expired = found.link.status == LinkStatus::Active && found.link.expires_at <= engine.now();
    if !found.action.resend || !(expired || found.link.status == LinkStatus::Superseded) {
        let page = settled(&engine, &found).await.unwrap_or(Page::Form { missing: Vec::new(), values: HashMap::new() });
        return render(&engine, page, Some(&found));
    }
    let page = match engine.resend_link(&found.link).await {
        Ok(_) => Page::Resent,
        Err(err) => refused(err, "resending a link failed"),
    };
    render(&engine, page, Some(&found))
}

/// The page for an engine error: the request moved on, or something failed (logged).
fn refused(err: EngineError, what: &str) -> Page {
    match err {
        EngineError::Refused(Refusal::EventNotAllowed { state, .. })
        | EngineError::Refused(Refusal::InstanceFinished { state, .. }) => Page::NoLongerApplies { state },
        EngineError::Refused(Refusal::GuardRefused { reason, .. }) | EngineError::DirectoryRefused { reason } => {
            Page::Refused { reason }
        }
        err => {
            error!(error = %err, "{what}");
            let status =
                if err.is_transient() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
            Page::Failure { status }
        }
    }
}

/// The link, or the page for a link that does not exist.
async fn find(engine: &Engine, token: &str) -> Result<Found, Response> {
    if !links::is_well_formed(token) {
        return Err(render(engine, Page::Unknown, None));
    }
    let link = match engine.store().link(&links::hash_token(token)).await {
        Ok(Some(link)) => link,
        Ok(None) => return Err(render(engine, Page::Unknown, None)),
        Err(err) => {
            error!(error = %err, "looking up a link failed");
            return Err(render(engine, Page::Failure { status: StatusCode::SERVICE_UNAVAILABLE }, None));
        }
    };
    let instance = match engine.store().instance(link.instance_id).await {
        Ok(Some(instance)) => instance,
        Ok(None) => return Err(render(engine, Page::Unknown, None)),
        // The database went away between the two reads (a restart): try again, not "unknown".
        Err(err) => {
            error!(error = %err, "reading a link's instance failed");
            return Err(render(engine, Page::Failure { status: StatusCode::SERVICE_UNAVAILABLE }, None));
        }
    };
    let definition = match engine.definition_of(&instance).await {
        Ok(definition) => definition,
        Err(err) => {
            let status =
                if err.is_transient() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
            return Err(render(engine, Page::Failure { status }, None));
        }
    };
    let Some(action) = definition.links.get(&link.action).cloned() else {
        return Err(render(engine, Page::Unknown, None));
    };
    let locale = definition.party_locale(&link.party, &instance.context).map(str::to_owned);
    let alternatives = action
        .alternatives
        .iter()
        .filter_map(|name| Some((name.clone(), definition.links.get(name)?.clone())))
        .collect();
    Ok(Found {
        token: token.to_owned(),
        link,
        action,
        alternatives,
        locale,
        workflow: instance.workflow.to_string(),
        state: instance.state.to_string(),
        context: instance.context.0,
        definition,
    })
}

/// The page for a link that can no longer act, if it cannot. A used link shows the outcome its
/// first use had; a link used up when another recipient of the party answered, where the
/// request stands now.
async fn settled(engine: &Engine, found: &Found) -> Option<Page> {
    let link = &found.link;
    match link.status {
        LinkStatus::Used => {
            let key = format!("link:{}", link.hash);
            match engine.store().history_by_key(link.instance_id, &key).await {
                Ok(Some(first)) => match Engine::unmet_of(&first) {
                    Some(unmet) => Some(Page::Lapsed { state: first.to_state.to_string(), unmet }),
                    None => Some(Page::Done { state: first.to_state.to_string(), again: true, said: None }),
                },
                Ok(None) => Some(Page::Done { state: found.state.clone(), again: true, said: None }),
                Err(_) => Some(Page::Done { state: String::new(), again: true, said: None }),
            }
        }
        LinkStatus::Superseded => Some(Page::Superseded),
        LinkStatus::Active if link.expires_at <= engine.now() => Some(Page::Expired),
        LinkStatus::Active => None,
    }
}

fn render(engine: &Engine, page: Page, found: Option<&Found>) -> Response {
    let chain = fallback_chain(found.and_then(|f| f.locale.as_deref()));
    let resend = found.is_some_and(|f| f.action.resend);
    let (status, mut context): (StatusCode, Value) = match page {
        Page::Form { missing, values } => (
            if missing.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY },
            json!({ "kind": "form", "missing": missing, "values": values }),
        ),
        Page::Done { state, again, said } => {
            let state = found.map_or_else(|| state.replace('_', " "), |f| f.state_label(&state, &chain));
            (StatusCode::OK, json!({ "kind": "done", "state": state, "again": again, "said": said }))
        }
        Page::Expired => (StatusCode::GONE, json!({ "kind": "expired", "resend": resend })),
        Page::Superseded => (StatusCode::GONE, json!({ "kind": "superseded", "resend": resend })),
        Page::Unknown => (StatusCode::NOT_FOUND, json!({ "kind": "unknown" })),
        Page::NoLongerApplies { state } => {
            let state = found.map_or_else(|| state.replace('_', " "), |f| f.state_label(&state, &chain));
            (StatusCode::CONFLICT, json!({ "kind": "no_longer_applies", "state": state }))
        }
        Page::Resent => (StatusCode::OK, json!({ "kind": "resent" })),
        Page::Refused { reason } => (StatusCode::CONFLICT, json!({ "kind": "refused", "reason": reason })),
        Page::Lapsed { state, unmet } => {
            let state = found.map_or_else(|| state.replace('_', " "), |f| f.state_label(&state, &chain));
            let why = json!({ "reason": unmet.reason, "subject": unmet.subject });
            (StatusCode::CONFLICT, json!({ "kind": "lapsed", "state": state, "unmet": why }))
        }
        Page::Failure { status } => (status, json!({ "kind": "failure" })),
    };
    if let Some(found) = found {
        // Relative to /l/{token}: the resend form posts to /l/{token}/resend.
        context["self_path"] = json!(format!("{}/", found.token));
        context["title"] = json!(found.action.title.get(&chain));
        context["description"] = json!(found.action.description.get(&chain));
        context["button"] = json!(found.action.button.get(&chain));
        context["confirm"] = json!(found.action.confirm.get(&chain));
        let fields: Vec<Value> = found
            .action
            .fields
            .iter()
            .map(|f| json!({ "name": f.name, "label": f.label.get(&chain), "required": f.required }))
            .collect();
        context["fields"] = json!(fields);
        let mut values = context.get("values").and_then(Value::as_object).cloned().unwrap_or_default();
        for field in &found.action.fields {
            values.entry(field.name.clone()).or_insert_with(|| json!(""));
        }
        context["values"] = Value::Object(values);
        let alternatives: Vec<Value> = found
            .alternatives
            .iter()
            .map(|(name, action)| json!({ "name": name, "button": action.button.get(&chain) }))
            .collect();
        context["alternatives"] = json!(alternatives);
        // What is asked, in the workflow's words: `pages/<workflow>/<action>.html.tera`, rendered
        // with the instance's data (the partner's name, the privileges requested).
        let details = format!("{}/{}", found.workflow, found.link.action);
        if matches!(context["kind"].as_str(), Some("form")) && engine.renderer().has_page(&details) {
            match engine.renderer().render_localized_page(&details, found.locale.as_deref(), &found.context) {
                Ok(html) => context["details"] = json!(html),
                Err(err) => {
                    error!(error = %err, "rendering a link page's details failed");
                    return (StatusCode::INTERNAL_SERVER_ERROR, Html("Something went wrong on our side.".to_owned()))
                        .into_response();
                }
            }
        }
    }
    let locale = found.and_then(|f| f.locale.as_deref());
    match engine.renderer().render_localized_page("link", locale, &context) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            error!(error = %err, "rendering a link page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("Something went wrong on our side.".to_owned())).into_response()
        }
    }
}
