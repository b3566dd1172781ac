//! `/l/{token}`: the pages behind personalised links, in the recipient's locale. A GET only
//! renders (mail scanners prefetch links), and first reads where the request stands
//! ([`standing`]): a request that no longer waits for the link's action gets a page saying so and
//! why, with no form. The page's form POSTs the action, with its checkboxes enforced here; what
//! was ticked and typed stays when the form comes back. Expired and replaced links offer "send me
//! a new link" where the workflow allows. [`render`] fills the page templates.

mod render;
mod standing;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde_json::Value;
use tracing::error;

use super::pages;
use crate::config::Agreements;
use crate::engine::{Engine, EngineError, Unmet};
use crate::mail::links;
use crate::mail::render::fallback_chain;
use crate::store::{InstanceStatus, LinkRecord, LinkStatus};
use crate::workflow::LinkAction;
use render::render;
use standing::{after_error, settled, Refused, Why};

/// A link, its action, the other actions its page offers, and the recipient's locale.
struct Found {
    token: String,
    link: LinkRecord,
    action: LinkAction,
    alternatives: Vec<(String, LinkAction)>,
    locale: Option<String>,
    workflow: String,
    /// The instance's state and status when the link was looked up.
    state: String,
    status: InstanceStatus,
    context: Value,
    definition: std::sync::Arc<crate::workflow::Definition>,
    /// Where the agreements' full texts are, for the pages that summarise one.
    agreements: Arc<Agreements>,
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

/// A box or field the form comes back for: its label, and whether it is there but holds a
/// control character (the template says so in the reader's language).
#[derive(serde::Serialize)]
struct Missing {
    label: String,
    control: bool,
}

/// Longest text accepted in a link page's text box.
const MAX_FIELD_CHARS: usize = 10_000;

/// What a link page shows.
enum Page {
    /// The action's form; `missing` lists what must still be ticked or filled in, `values` keeps
    /// what was typed and ticked (`confirm_<n>`).
    Form {
        missing: Vec<Missing>,
        values: HashMap<String, String>,
    },
    Done {
        state: String,
        again: bool,
        /// The action's own words for what happened, if it has them.
        said: Option<String>,
        /// Another recipient of the request answered it (for everyone).
        by_other: bool,
    },
    Expired,
    Superseded,
    Unknown,
    /// The request ended, or moved where the action does not apply; `why` says how.
    NoLongerApplies {
        state: String,
        why: Why,
    },
    /// A rule refused the action (say, the agreement was accepted meanwhile).
    Refused {
        code: Refused,
        unmet: Option<Unmet>,
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

pub async fn show(
    State(engine): State<Engine>,
    State(agreements): State<Arc<Agreements>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match find(&engine, &agreements, &token, pages::language(None, &headers)).await {
        Err(response) => response,
        Ok(found) => {
            let page = settled(&engine, &found).await.unwrap_or_else(Page::blank);
            render(&engine, page, Some(&found))
        }
    }
}

impl Page {
    /// The action's form, as first shown.
    fn blank() -> Self {
        Page::Form { missing: Vec::new(), values: HashMap::new() }
    }
}

pub async fn act(
    State(engine): State<Engine>,
    State(agreements): State<Arc<Agreements>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let found = match find(&engine, &agreements, &token, pages::language(None, &headers)).await {
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
            None => return render(&engine, Page::blank(), Some(&found)),
        },
    };
    let mut missing = Vec::new();
    let mut values = HashMap::new();
    for (i, label) in action.confirm.get(&chain).into_iter().enumerate() {
        let name = format!("confirm_{i}");
        if form.get(&name).is_none_or(|v| v.is_empty()) {
            missing.push(Missing { label, control: false });
        } else {
            // Ticked boxes stay ticked when the form comes back.
            values.insert(name, "on".to_owned());
        }
    }
    let mut data = serde_json::Map::new();
    for field in &action.fields {
        let value = form.get(&field.name).map(|v| v.trim()).unwrap_or_default();
        let value: String = value.chars().take(MAX_FIELD_CHARS).collect();
        if field.required && value.is_empty() {
            missing.push(Missing { label: field.label.get(&chain), control: false });
        } else if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            // A NUL or another control character: the form comes back saying which field.
            missing.push(Missing { label: field.label.get(&chain), control: true });
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
                by_other: false,
            },
        },
        // Used meanwhile (a double click answered by the first, or another recipient): where
        // it stands now.
        Err(EngineError::LinkUsed) => match find(&engine, &agreements, &token, pages::language(None, &headers)).await {
            Ok(now) => settled(&engine, &now).await.unwrap_or(Page::Superseded),
            Err(response) => return response,
        },
        Err(err) => after_error(&engine, &found, err, "acting on a link failed").await,
    };
    render(&engine, page, Some(&found))
}

/// "Send me a new link", offered on the page of an expired or replaced link.
pub async fn resend(
    State(engine): State<Engine>,
    State(agreements): State<Arc<Agreements>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = match find(&engine, &agreements, &token, pages::language(None, &headers)).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let expired = found.link.status == LinkStatus::Active && found.link.expires_at <= engine.now();
    if !found.action.resend || !(expired || found.link.status == LinkStatus::Superseded) {
        let page = settled(&engine, &found).await.unwrap_or_else(Page::blank);
        return render(&engine, page, Some(&found));
    }
    let page = match engine.resend_link(&found.link).await {
        Ok(_) => Page::Resent,
        Err(err) => after_error(&engine, &found, err, "resending a link failed").await,
    };
    render(&engine, page, Some(&found))
}

/// The link, or the page for a link that does not exist, in `reader`'s language (from
/// Accept-Language: no recipient is known).
async fn find(engine: &Engine, agreements: &Arc<Agreements>, token: &str, reader: &str) -> Result<Found, Response> {
    if !links::is_well_formed(token) {
        return Err(render::unfound(engine, Page::Unknown, reader));
    }
    let link = match engine.store().link(&links::hash_token(token)).await {
        Ok(Some(link)) => link,
        Ok(None) => return Err(render::unfound(engine, Page::Unknown, reader)),
        Err(err) => {
            error!(error = %err, "looking up a link failed");
            return Err(render::unfound(engine, Page::Failure { status: StatusCode::SERVICE_UNAVAILABLE }, reader));
        }
    };
    let instance = match engine.store().instance(link.instance_id).await {
        Ok(Some(instance)) => instance,
        Ok(None) => return Err(render::unfound(engine, Page::Unknown, reader)),
        // The database went away between the two reads (a restart): try again, not "unknown".
        Err(err) => {
            error!(error = %err, "reading a link's instance failed");
            return Err(render::unfound(engine, Page::Failure { status: StatusCode::SERVICE_UNAVAILABLE }, reader));
        }
    };
    let definition = match engine.definition_of(&instance).await {
        Ok(definition) => definition,
        Err(err) => {
            let status =
                if err.is_transient() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
            return Err(render::unfound(engine, Page::Failure { status }, reader));
        }
    };
    let Some(action) = definition.links.get(&link.action).cloned() else {
        return Err(render::unfound(engine, Page::Unknown, reader));
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
        status: instance.status,
        context: instance.context.0,
        definition,
        agreements: agreements.clone(),
    })
}
