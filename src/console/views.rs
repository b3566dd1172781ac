//! The console's pages and forms.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde_json::{json, Value};
use tracing::error;

use super::{csrf_refused, page, start_session, Reviewer, COOKIE};
use crate::directory::commands;
use crate::directory::PartnerKind;
use crate::engine::{Engine, EngineError, EventRequest};
use crate::ids::{InstanceId, OutboxId};
use crate::mail::drafts::{self, DraftEdit, DraftError};
use crate::store::{EmailStatus, ListFilter, Origin, Scope, TimerStatus};
use crate::workflow::EventKind;

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

pub async fn login_page(State(engine): State<Engine>) -> Response {
    page(&engine, StatusCode::OK, "login", json!({}))
}

pub async fn login(State(engine): State<Engine>, jar: CookieJar, Form(form): Form<Fields>) -> Response {
    let key = form.get("key").map(|k| k.trim()).unwrap_or_default();
    let refuse = |message: &str| page(&engine, StatusCode::UNAUTHORIZED, "login", json!({ "error": message }));
    if key.is_empty() {
        return refuse("Enter your reviewer key.");
    }
    let record = match crate::keys::authenticate(engine.store().as_ref(), key).await {
        Ok(Some(record)) => record,
        Ok(None) => return refuse("This key is not valid. Ask an administrator for a reviewer key."),
        Err(err) => return failure(&engine, err),
    };
    if !matches!(record.scope, Scope::Reviewer | Scope::Admin) {
        return refuse(&format!(
            "This key has the {} scope; the console needs a reviewer key (accord keys create --scope reviewer).",
            record.scope
        ));
    }
    match start_session(&engine, &record).await {
        Ok(cookie) => (jar.add(cookie), Redirect::to("/console")).into_response(),
        Err(err) => failure(&engine, err),
    }
}

pub async fn logout(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    jar: CookieJar,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    if let Err(err) = engine.store().delete_session(&reviewer.session.hash, engine.now()).await {
        return failure(&engine, err);
    }
    (jar.remove(Cookie::build(COOKIE).path("/console")), Redirect::to("/console/login")).into_response()
}

/// "Due in 2 days", "overdue by 3 hours".
fn due_badge(engine: &Engine, due: crate::clock::Timestamp) -> (String, &'static str) {
    let now = engine.now();
    let (delta, overdue) = if due > now { (due.since(now), false) } else { (now.since(due), true) };
    let hours = delta.as_secs() / 3600;
    let span = if hours >= 48 {
        format!("{} days", hours / 24)
    } else if hours >= 1 {
        format!("{hours} hours")
    } else {
        format!("{} minutes", delta.as_secs() / 60)
    };
    if overdue {
        (format!("overdue by {span}"), "overdue")
    } else if hours < 24 {
        (format!("due in {span}"), "soon")
    } else {
        (format!("due in {span}"), "ok")
    }
}

/// The review queue: enrollments waiting for a decision, oldest first, with their deadlines.
pub async fn queue(State(engine): State<Engine>, reviewer: Reviewer) -> Response {
    let store = engine.store();
    let filter =
        ListFilter { workflow: Some("enrollment".into()), state: Some("in_review".into()), limit: 500, offset: 0 };
    let instances = match store.list_instances(&filter).await {
        Ok(instances) => instances,
        Err(err) => return failure(&engine, err),
    };
    let mut items = Vec::new();
    for instance in instances {
        let (history, timers) = match (store.history(instance.id).await, store.timers(instance.id).await) {
            (Ok(h), Ok(t)) => (h, t),
            (Err(err), _) | (_, Err(err)) => return failure(&engine, err),
        };
        let since =
            history.iter().rev().find(|h| h.to_state.as_str() == "in_review").map_or(instance.updated_at, |h| h.at);
        let deadline = timers
            .iter()
            .filter(|t| t.status == TimerStatus::Armed && t.state.as_str() == "in_review")
            .map(|t| t.due_at)
            .min();
        let context = &instance.context.0;
        let (badge, badge_kind) = match deadline {
            Some(due) => due_badge(&engine, due),
            // The deadline timer fired: escalated to the reviewers.
            None => ("overdue (escalated)".to_owned(), "overdue"),
        };
        items.push((
            since,
            json!({
                "id": instance.id.to_string(),
                "company": context.pointer("/company/legal_name"),
                "country": context.pointer("/company/address/country"),
                "contact": context.pointer("/primary_contact/email"),
                "since": since.to_string(),
                "waiting": due_badge(&engine, since).0.replace("overdue by ", ""),
                "badge": badge,
                "badge_kind": badge_kind,
            }),
        ));
    }
    items.sort_by_key(|(since, _)| *since);
    let items: Vec<Value> = items.into_iter().map(|(_, item)| item).collect();
    let waiting = ListFilter {
        workflow: Some("enrollment".into()),
        state: Some("awaiting_information".into()),
        limit: 500,
        offset: 0,
    };
    let waiting: Vec<Value> = match store.list_instances(&waiting).await {
        Ok(list) => list
            .iter()
            .map(|i| json!({ "id": i.id.to_string(), "company": i.context.0.pointer("/company/legal_name") }))
            .collect(),
        Err(err) => return failure(&engine, err),
    };
    page(&engine, StatusCode::OK, "queue", base(&reviewer, json!({ "items": items, "waiting": waiting })))
}

fn parse_instance(text: &str) -> Option<InstanceId> {
    text.parse().ok()
}

/// An instance: what was submitted, the checks, the decisions open now, and its timeline.
pub async fn instance(State(engine): State<Engine>, reviewer: Reviewer, Path(id): Path<String>) -> Response {
    let Some(id) = parse_instance(&id) else { return not_found(&engine, "such instance") };
    instance_page(&engine, &reviewer, id, StatusCode::OK, None).await
}

async fn instance_page(
    engine: &Engine,
    reviewer: &Reviewer,
    id: InstanceId,
    status: StatusCode,
    error: Option<(String, String)>,
) -> Response {
    let view = match engine.view(id).await {
        Ok(view) => view,
        Err(EngineError::UnknownInstance(_)) => return not_found(engine, "such instance"),
        Err(err) => return failure(engine, err),
    };
    let definition = match engine.definition_of(&view.instance).await {
        Ok(definition) => definition,
        Err(err) => return failure(engine, err),
    };
    let context = &view.instance.context.0;
    let mut path: Vec<String> = Vec::new();
    for h in &view.history {
        if path.last() != Some(&h.to_state.to_string()) {
            path.push(h.to_state.to_string());
        }
    }
    let diagram = crate::workflow::to_svg(&definition, &path).unwrap_or_else(|err| {
        error!(error = %err, "laying out a state diagram failed");
        String::new()
    });
    // The decisions a reviewer can take now, with the text each needs.
    let mut decisions = Vec::new();
    if let Some(state) = definition.state(&view.instance.state) {
        for (event, transition) in &state.transitions {
            if definition.event_kind(event) != Some(EventKind::Decision) {
                continue;
            }
            let needs = if transition.guards.iter().any(|g| g == "has_reason") {
                Some(("reason", "Reason (the contact reads it)"))
            } else if transition.guards.iter().any(|g| g == "has_message") {
                Some(("message", "Message to the contact"))
            } else {
                None
            };
            let failed = error.as_ref().filter(|(e, _)| e == event.as_str()).map(|(_, m)| m.clone());
            decisions.push(json!({
                "event": event.as_str(),
                "label": event.as_str().replace('_', " "),
                "field": needs.map(|(name, _)| name),
                "field_label": needs.map(|(_, label)| label),
                "error": failed,
            }));
        }
    }
    let verified = view
        .history
        .iter()
        .find(|h| h.event.as_str() == "verify")
        .map(|h| json!({ "at": h.at.to_string(), "by": h.actor.trim_start_matches("link:") }));
    let countries = ["/company/address/country", "/tenant/country", "/mpn/country"]
        .iter()
        .map(|p| context.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned())
        .collect::<Vec<_>>();
    let country_check = (view.instance.workflow.as_str() == "enrollment").then(|| {
        json!({
            "company": countries[0], "tenant": countries[1], "mpn": countries[2],
            "same": countries[1] == countries[2] && !countries[1].is_empty(),
        })
    });
    let history: Vec<Value> = view
        .history
        .iter()
        .map(|h| {
            json!({
                "at": h.at.to_string(), "event": h.event.as_str(), "actor": h.actor, "origin": h.origin,
                "from": h.from_state.as_ref().map(|s| s.to_string()), "to": h.to_state.as_str(),
                "data": if h.data.0.is_null() || h.data.0 == json!({}) { String::new() } else { h.data.0.to_string() },
            })
        })
        .collect();
    let emails: Vec<Value> = view
        .emails
        .iter()
        .map(|e| {
            json!({
                "id": e.id.to_string(), "to": e.recipient, "subject": e.subject, "status": e.status,
                "attempts": e.attempts, "reply": e.last_reply, "created": e.created_at.to_string(),
                "sent": e.sent_at.map(|t| t.to_string()),
            })
        })
        .collect();
    let timers: Vec<Value> = view
        .timers
        .iter()
        .map(|t| {
            json!({ "name": t.name, "due": t.due_at.to_string(), "status": t.status, "note": t.note,
                    "settled": t.settled_at.map(|s| s.to_string()) })
        })
        .collect();
    let page_context = json!({
        "id": id.to_string(),
        "workflow": view.instance.workflow.as_str(),
        "title": definition.title,
        "state": view.instance.state.as_str(),
        "status": view.instance.status,
        "submitted": serde_json::to_string_pretty(context).unwrap_or_default(),
        "company": context.pointer("/company/legal_name"),
        "verified": verified,
        "countries": country_check,
        "decisions": decisions,
        "history": history,
        "emails": emails,
        "timers": timers,
        "diagram": diagram,
        // Sent back with a decision as its idempotency key: a double submit applies once.
        "attempt": uuid::Uuid::new_v4().to_string(),
    });
    page(engine, status, "instance", base(reviewer, page_context))
}

/// A reviewer's decision from the detail page.
pub async fn decide(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    let Some(id) = parse_instance(&id) else { return not_found(&engine, "such instance") };
    let event = form.get("event").cloned().unwrap_or_default();
    let mut data = serde_json::Map::new();
    for field in ["reason", "message"] {
        if let Some(text) = form.get(field).map(|t| t.trim()).filter(|t| !t.is_empty()) {
            data.insert(field.into(), json!(text));
        }
    }
    let request = EventRequest {
        event: event.clone(),
        data: if data.is_empty() { Value::Null } else { Value::Object(data) },
        // A double submit of the same form applies once.
        idempotency_key: form.get("attempt").filter(|k| !k.is_empty()).map(|k| format!("console:{k}")),
        origin: if reviewer.key.scope == Scope::Admin { Origin::Operator } else { Origin::Reviewer },
        actor: reviewer.actor(),
    };
    match engine.apply(id, request).await {
        Ok(_) => Redirect::to(&format!("/console/instances/{id}")).into_response(),
        Err(EngineError::GuardRefused { reason, .. }) => {
            let message = if reason.contains("reason") {
                "A rejection needs a reason: write what the contact should know.".to_owned()
            } else if reason.contains("message") {
                "Write the question for the contact.".to_owned()
            } else {
                reason
            };
            instance_page(&engine, &reviewer, id, StatusCode::UNPROCESSABLE_ENTITY, Some((event, message))).await
        }
        Err(
            err @ (EngineError::EventNotAllowed { .. }
            | EngineError::InstanceFinished { .. }
            | EngineError::UnknownEvent { .. }
            | EngineError::OriginNotAllowed { .. }),
        ) => instance_page(&engine, &reviewer, id, StatusCode::CONFLICT, Some((event, err.to_string()))).await,
        Err(err) => failure(&engine, err),
    }
}

/// Drafts (to edit and send) or failed emails (to retry).
pub async fn emails(State(engine): State<Engine>, reviewer: Reviewer, Query(query): Query<Fields>) -> Response {
    let status = match query.get("status").map(String::as_str) {
        None | Some("draft") => EmailStatus::Draft,
        Some("failed") => EmailStatus::Failed,
        Some(_) => return not_found(&engine, "such email list"),
    };
    let emails = match engine.store().emails_by_status(status, 500).await {
        Ok(emails) => emails,
        Err(err) => return failure(&engine, err),
    };
    let items: Vec<Value> = emails
        .iter()
        .map(|e| {
            json!({ "id": e.id.to_string(), "instance": e.instance_id.to_string(), "to": e.recipient,
                    "subject": e.subject, "attempts": e.attempts, "reply": e.last_reply,
                    "created": e.created_at.to_string() })
        })
        .collect();
    page(&engine, StatusCode::OK, "emails", base(&reviewer, json!({ "status": status, "items": items })))
}

pub async fn email(State(engine): State<Engine>, reviewer: Reviewer, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<OutboxId>() else { return not_found(&engine, "such email") };
    email_page(&engine, &reviewer, id, StatusCode::OK, None, None).await
}

/// The draft editor: a preview and the form; `error` shows a refused edit inline, with what
/// was typed kept.
async fn email_page(
    engine: &Engine,
    reviewer: &Reviewer,
    id: OutboxId,
    status: StatusCode,
    error: Option<String>,
    typed: Option<(String, String)>,
) -> Response {
    let email = match engine.store().email(id).await {
        Ok(Some(email)) => email,
        Ok(None) => return not_found(engine, "such email"),
        Err(err) => return failure(engine, err),
    };
    let draft = email.status == EmailStatus::Draft;
    let (subject, text) = typed.unwrap_or_else(|| (email.subject.clone(), email.text_body.clone()));
    let context = json!({
        "id": id.to_string(),
        "instance": email.instance_id.to_string(),
        "to": email.recipient,
        "status": email.status,
        "draft": draft,
        "subject": subject,
        // Bodies hold live links: shown only while the email is a draft.
        "text": if draft { text } else { String::new() },
        "html": if draft { email.html_body.clone().unwrap_or_default() } else { String::new() },
        "attempts": email.attempts,
        "reply": email.last_reply,
        "error": error,
    });
    page(engine, status, "email", base(reviewer, context))
}

pub async fn edit_email(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    let Ok(id) = id.parse::<OutboxId>() else { return not_found(&engine, "such email") };
    let subject = form.get("subject").cloned().unwrap_or_default();
    let text = form.get("text").cloned().unwrap_or_default().replace("\r\n", "\n");
    let edit = DraftEdit { subject: Some(subject.clone()), text: Some(text.clone()), html: None };
    match drafts::edit(&engine, id, edit).await {
        Ok(_) => Redirect::to(&format!("/console/emails/{id}")).into_response(),
        Err(err @ (DraftError::LinkChanged { .. } | DraftError::Empty(_) | DraftError::NotDraft { .. })) => {
            let status = if matches!(err, DraftError::NotDraft { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            email_page(&engine, &reviewer, id, status, Some(edit_refusal(&err)), Some((subject, text))).await
        }
        Err(DraftError::Unknown(_)) => not_found(&engine, "such email"),
        Err(err) => failure(&engine, err),
    }
}

fn edit_refusal(err: &DraftError) -> String {
    match err {
        DraftError::LinkChanged { url, .. } => format!(
            "Not saved: the personalised link {url} was removed or changed. Put it back exactly as it was; it links the customer to your account."
        ),
        other => format!("Not saved: {other}."),
    }
}

pub async fn release_email(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    let Ok(id) = id.parse::<OutboxId>() else { return not_found(&engine, "such email") };
    match drafts::release(&engine, id).await {
        Ok(_) => Redirect::to("/console/emails?status=draft").into_response(),
        Err(err @ DraftError::NotDraft { .. }) => {
            email_page(&engine, &reviewer, id, StatusCode::CONFLICT, Some(format!("{err}.")), None).await
        }
        Err(DraftError::Unknown(_)) => not_found(&engine, "such email"),
        Err(err) => failure(&engine, err),
    }
}

pub async fn retry_email(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    let Ok(id) = id.parse::<OutboxId>() else { return not_found(&engine, "such email") };
    match engine.store().retry_email(id, engine.now()).await {
        Ok(true) => Redirect::to("/console/emails?status=failed").into_response(),
        Ok(false) => {
            email_page(
                &engine,
                &reviewer,
                id,
                StatusCode::CONFLICT,
                Some("Only a failed email can be retried; this one is not failed.".into()),
                None,
            )
            .await
        }
        Err(err) => failure(&engine, err),
    }
}

pub async fn partners(State(engine): State<Engine>, reviewer: Reviewer) -> Response {
    let partners = match engine.store().partners(None).await {
        Ok(partners) => partners,
        Err(err) => return failure(&engine, err),
    };
    page(&engine, StatusCode::OK, "partners", base(&reviewer, json!({ "items": partners })))
}

/// A partner with its Indirect providers, Indirect resellers and Customers.
pub async fn partner(State(engine): State<Engine>, reviewer: Reviewer, Path(id): Path<String>) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else { return not_found(&engine, "such partner") };
    let store = engine.store().as_ref();
    let partner = match store.partner(id).await {
        Ok(Some(partner)) => partner,
        Ok(None) => return not_found(&engine, "such partner"),
        Err(err) => return failure(&engine, err),
    };
    let related = |want| commands::related_partners(store, id, want);
    let (providers, resellers) = match partner.kind {
        PartnerKind::IndirectReseller => (related(PartnerKind::IndirectProvider).await, Ok(Vec::new())),
        PartnerKind::IndirectProvider => (Ok(Vec::new()), related(PartnerKind::IndirectReseller).await),
    };
    let (providers, resellers, customers, users) =
        match (providers, resellers, commands::customers_of(store, id, None).await, store.partner_users(id).await) {
            (Ok(p), Ok(r), Ok(c), Ok(u)) => (p, r, c, u),
            (Err(err), ..) | (_, Err(err), ..) | (_, _, Err(err), _) => return failure(&engine, err),
            (.., Err(err)) => return failure(&engine, err),
        };
    let customers: Vec<Value> = customers
        .iter()
        .map(|c| {
            json!({ "name": c.customer.name, "domain": c.customer.domain, "relationship": commands::kind_label(c.relationship),
                    "dap": c.dap, "since": c.related_at.to_string(), "agreement": c.customer.agreement_accepted_at.is_some() })
        })
        .collect();
    let context = json!({
        "partner": partner, "users": users, "providers": providers, "resellers": resellers, "customers": customers,
    });
    page(&engine, StatusCode::OK, "partner", base(&reviewer, context))
}
