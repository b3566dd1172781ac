//! A link page's HTML: the page's facts as a template context, rendered in the recipient's
//! locale (`pages/link.<locale>.html.tera`). Every sentence a person reads is in the templates;
//! this module hands them codes (why a request no longer applies, why an action was refused) and
//! names, never a sentence of its own.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{json, Value};
use tracing::error;

use super::{Found, Page};
use crate::engine::Engine;
use crate::mail::dates;
use crate::mail::render::{fallback_chain, RenderError};
use crate::store::InstanceStatus;
use crate::workflow::field;

pub(super) fn render(engine: &Engine, page: Page, found: Option<&Found>) -> Response {
    render_in(engine, page, found, None)
}

/// The page for a link with no known recipient (not found, or the lookup failed), in the
/// reader's language (`reader`, from Accept-Language).
pub(super) fn unfound(engine: &Engine, page: Page, reader: &str) -> Response {
    render_in(engine, page, None, Some(reader))
}

fn render_in(engine: &Engine, page: Page, found: Option<&Found>, reader: Option<&str>) -> Response {
    let chain = fallback_chain(found.and_then(|f| f.locale.as_deref()).or(reader));
    let resend = found.is_some_and(|f| f.action.resend);
    let label = |state: &str| found.map_or_else(|| state.replace('_', " "), |f| f.state_label(state, &chain));
    let (status, mut context): (StatusCode, Value) = match page {
        Page::Form { missing, values } => (
            if missing.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY },
            json!({ "kind": "form", "missing": missing, "values": values }),
        ),
        Page::Done { state, again, said, by_other } => {
            let context =
                json!({ "kind": "done", "state": label(&state), "again": again, "said": said, "by_other": by_other });
            (StatusCode::OK, context)
        }
        Page::Expired => (StatusCode::GONE, json!({ "kind": "expired", "resend": resend })),
        Page::Superseded => (StatusCode::GONE, json!({ "kind": "superseded", "resend": resend })),
        Page::Unknown => (StatusCode::NOT_FOUND, json!({ "kind": "unknown" })),
        Page::NoLongerApplies { state, why } => {
            let finished = found.is_some_and(|f| f.status == InstanceStatus::Finished);
            let context =
                json!({ "kind": "no_longer_applies", "state": label(&state), "why": why, "finished": finished });
            (StatusCode::CONFLICT, context)
        }
        Page::Resent => (StatusCode::OK, json!({ "kind": "resent" })),
        Page::Refused { code, unmet } => {
            let why = unmet.map(|unmet| json!({ "reason": unmet.reason, "subject": unmet.subject }));
            (StatusCode::CONFLICT, json!({ "kind": "refused", "code": code, "unmet": why }))
        }
        Page::Lapsed { state, unmet } => {
            let why = json!({ "reason": unmet.reason, "subject": unmet.subject });
            (StatusCode::CONFLICT, json!({ "kind": "lapsed", "state": label(&state), "unmet": why }))
        }
        Page::Failure { status } => (status, json!({ "kind": "failure" })),
    };
    if let Some(found) = found {
        if let Err(err) = describe(engine, found, &chain, &mut context) {
            error!(error = %err, "rendering a link page's details failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, Html("Something went wrong on our side.".to_owned()))
                .into_response();
        }
    }
    let locale = found.and_then(|f| f.locale.as_deref()).or(reader);
    match engine.renderer().render_localized_page("link", locale, &context) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            error!(error = %err, "rendering a link page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("Something went wrong on our side.".to_owned())).into_response()
        }
    }
}

/// Adds what the page of `found`'s action says in the recipient's language: its title, texts,
/// boxes (ticked as they were sent), fields, other buttons, the names of the parties, and, on
/// the form, what the workflow's own template says is asked.
fn describe(engine: &Engine, found: &Found, chain: &[Option<String>], context: &mut Value) -> Result<(), RenderError> {
    // Relative to /l/{token}: the resend form posts to /l/{token}/resend.
    context["self_path"] = json!(format!("{}/", found.token));
    context["title"] = json!(found.action.title.get(chain));
    context["description"] = json!(found.action.description.get(chain));
    context["button"] = json!(found.action.button.get(chain));
    // Until when the link works, as the recipient's emails date it: their zone, their language.
    let party = found.definition.parties.get(&found.link.party);
    let lookup = |path: &Option<String>| path.as_ref().and_then(|p| field(&found.context, p)).and_then(Value::as_str);
    let zone = dates::recipient_zone(
        party.and_then(|p| lookup(&p.time_zone)),
        party.and_then(|p| lookup(&p.country)),
        engine.time_zone(),
    );
    let language = chain.iter().flatten().next().map_or("en", String::as_str);
    context["open_until"] = json!(dates::format(found.link.expires_at, language, zone));
    let sent = context.get("values").and_then(Value::as_object).cloned().unwrap_or_default();
    let confirm: Vec<Value> = found
        .action
        .confirm
        .get(chain)
        .into_iter()
        .enumerate()
        .map(|(i, label)| json!({ "label": label, "checked": sent.contains_key(&format!("confirm_{i}")) }))
        .collect();
    context["confirm"] = json!(confirm);
    let fields: Vec<Value> = found
        .action
        .fields
        .iter()
        .map(|f| json!({ "name": f.name, "label": f.label.get(chain), "required": f.required }))
        .collect();
    context["fields"] = json!(fields);
    let mut values = sent;
    for field in &found.action.fields {
        values.entry(field.name.clone()).or_insert_with(|| json!(""));
    }
    context["values"] = Value::Object(values);
    let alternatives: Vec<Value> = found
        .alternatives
        .iter()
        .map(|(name, action)| json!({ "name": name, "button": action.button.get(chain) }))
        .collect();
    context["alternatives"] = json!(alternatives);
    // The names a refusal or a closed request is explained with: the partners' and the
    // customer's, as the instance holds them.
    let name = |path: &str| field(&found.context, path).and_then(Value::as_str).unwrap_or_default().to_owned();
    context["names"] = json!({
        "customer": name("customer.name"),
        "reseller": name("reseller.name"),
        "provider": name("provider.name"),
        "partner": name("partner.name"),
    });
    // What is asked, in the workflow's words: `pages/<workflow>/<action>.html.tera`, rendered
    // with the instance's data (the partner's name, the privileges requested, the reviewer's
    // question) and where the agreements' full texts are.
    let details = format!("{}/{}", found.workflow, found.link.action);
    if matches!(context["kind"].as_str(), Some("form")) && engine.renderer().has_page(&details) {
        let mut data = found.context.clone();
        if let Some(object) = data.as_object_mut() {
            object.insert("agreements".into(), json!(found.agreements.as_ref()));
        }
        let html = engine.renderer().render_localized_page(&details, found.locale.as_deref(), &data)?;
        context["details"] = json!(html);
    }
    Ok(())
}
