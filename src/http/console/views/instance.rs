//! One instance: its timeline, timers, emails and state diagram, and the reviewer's decisions.

use super::*;
use crate::engine::Refusal;

pub(super) fn parse_instance(text: &str) -> Option<InstanceId> {
    text.parse().ok()
}

/// An instance: what was submitted, the checks, the decisions open now, and its timeline.
pub async fn instance(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    reader: Reader,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = parse_instance(&id) else { return not_found(&engine, "such instance") };
    instance_page(&engine, &reviewer, &reader, id, StatusCode::OK, None).await
}

pub(super) async fn instance_page(
    engine: &Engine,
    reviewer: &Reviewer,
    reader: &Reader,
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
    let moves: Vec<(String, String, String)> = view
        .history
        .iter()
        .filter_map(|h| {
            h.from_state.as_ref().map(|from| (from.to_string(), h.event.to_string(), h.to_state.to_string()))
        })
        .collect();
    let diagram = crate::workflow::to_svg(&definition, &path, &moves).unwrap_or_else(|err| {
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
        .map(|h| json!({ "at": reader.time(h.at), "by": h.actor.trim_start_matches("link:") }));
    let countries = ["/company/address/country", "/tenant/country", "/mpn/country"]
        .iter()
        .map(|p| context.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned())
        .collect::<Vec<_>>();
    // Whichever workflow asks for a company's, a tenant's and an MPN profile's countries.
    let country_check = countries.iter().all(|c| !c.is_empty()).then(|| {
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
                "at": reader.time(h.at), "event": h.event.as_str(), "actor": h.actor, "origin": h.origin,
                "from": h.from_state.as_ref().map(|s| s.to_string()), "to": h.to_state.as_str(),
                "data": readable(&h.data.0),
            })
        })
        .collect();
    let emails: Vec<Value> = view
        .emails
        .iter()
        .map(|e| {
            json!({
                "id": e.id.to_string(), "to": e.recipient, "subject": e.subject, "status": e.status,
                "attempts": e.attempts, "reply": e.last_reply, "created": reader.time(e.created_at),
                "sent": reader.maybe(e.sent_at),
            })
        })
        .collect();
    let timers: Vec<Value> = view
        .timers
        .iter()
        .map(|t| {
            json!({ "name": t.name, "due": reader.time(t.due_at), "status": t.status, "note": t.note,
                    "settled": reader.maybe(t.settled_at) })
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
        "signals": super::signals::signals_of(&definition, view.instance.state.as_str())
            .into_iter()
            .map(|(event, label)| json!({ "event": event, "label": label }))
            .collect::<Vec<_>>(),
        "may_signal": reviewer.may(crate::access::Action::ConsoleSignal),
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
    reader: Reader,
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
        Err(EngineError::Refused(Refusal::GuardRefused { guard, reason })) => {
            // The built-in guards that ask a reviewer to write something, said as a reviewer
            // would want it said.
            let message = match guard.as_str() {
                "has_reason" => "A rejection needs a reason: write what the contact should know.".to_owned(),
                "has_message" => "Write the question for the contact.".to_owned(),
                _ => reason,
            };
            instance_page(&engine, &reviewer, &reader, id, StatusCode::UNPROCESSABLE_ENTITY, Some((event, message)))
                .await
        }
        Err(EngineError::DirectoryRefused { reason, .. }) => {
            let message = reason;
            instance_page(&engine, &reviewer, &reader, id, StatusCode::UNPROCESSABLE_ENTITY, Some((event, message)))
                .await
        }
        Err(
            err @ (EngineError::Refused(Refusal::EventNotAllowed { .. })
            | EngineError::Refused(Refusal::InstanceFinished { .. })
            | EngineError::Refused(Refusal::UnknownEvent { .. })
            | EngineError::Refused(Refusal::OriginNotAllowed { .. })),
        ) => instance_page(&engine, &reviewer, &reader, id, StatusCode::CONFLICT, Some((event, err.to_string()))).await,
        Err(err) => failure(&engine, err),
    }
}

/// What an event carried, as a reader reads it: `reason: …` for a flat object of texts, JSON
/// for anything else, nothing for nothing.
fn readable(data: &Value) -> String {
    match data {
        Value::Null => String::new(),
        Value::Object(map) if map.is_empty() => String::new(),
        Value::Object(map) if map.values().all(Value::is_string) => map
            .iter()
            .map(|(key, value)| format!("{}: {}", key.replace('_', " "), value.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
