//! A workflow's signals (`withdraw`, say) from the console: the instance page offers the ones
//! its current state takes; each asks for a confirmation and a reason, which the history keeps.
//! Sending one is an admin's (the authorisation table's `ConsoleSignal`), as it is on the API.

use super::*;
use crate::access::Action;
use crate::engine::Refusal;

/// The signals the instance's current state takes: `(event, label)`.
pub(super) fn signals_of(definition: &crate::workflow::Definition, state: &str) -> Vec<(String, String)> {
    definition
        .states
        .values()
        .filter(|s| s.name.as_str() == state)
        .flat_map(|s| s.transitions.keys())
        .filter(|event| definition.event_kind(event) == Some(EventKind::Signal))
        .map(|event| (event.to_string(), capitalised(&event.as_str().replace('_', " "))))
        .collect()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |first| first.to_uppercase().chain(chars).collect())
}

/// `GET /console/instances/{id}/signals/{event}`: what the signal does, and the form that sends it.
pub async fn confirm_signal(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    Path((id, event)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = reviewer.refusal(&engine, Action::ConsoleSignal) {
        return refused;
    }
    let Some(id) = instance::parse_instance(&id) else { return not_found(&engine, "such instance") };
    confirm_page(&engine, &reviewer, id, &event, StatusCode::OK, None, "").await
}

/// The confirmation page; `error` says why the last submit was refused, `reason` keeps what was typed.
async fn confirm_page(
    engine: &Engine,
    reviewer: &Reviewer,
    id: InstanceId,
    event: &str,
    status: StatusCode,
    error: Option<String>,
    reason: &str,
) -> Response {
    let instance = match engine.store().instance(id).await {
        Ok(Some(instance)) => instance,
        Ok(None) => return not_found(engine, "such instance"),
        Err(err) => return failure(engine, err),
    };
    let definition = match engine.definition_of(&instance).await {
        Ok(definition) => definition,
        Err(err) => return failure(engine, err),
    };
    let signals = signals_of(&definition, instance.state.as_str());
    let Some((_, label)) = signals.iter().find(|(name, _)| name == event) else {
        let message = format!(
            "“{}” is not something this instance takes now: it is {} ({}). Go back to the instance to see what it takes.",
            event.replace('_', " "),
            instance.state.as_str().replace('_', " "),
            if instance.status == crate::store::InstanceStatus::Finished { "finished" } else { "in progress" },
        );
        let context =
            json!({ "title": "Not available", "message": message, "back": format!("/console/instances/{id}") });
        return page(engine, StatusCode::CONFLICT, "message", base(reviewer, context));
    };
    let target = definition
        .state(&instance.state)
        .and_then(|s| s.transitions.iter().find(|(name, _)| name.as_str() == event))
        .and_then(|(_, t)| t.to.as_ref())
        .map(|to| to.as_str().replace('_', " "));
    let (name, _) = summary(Some(&definition), &instance.context.0);
    let context = json!({
        "id": id.to_string(),
        "event": event,
        "label": label,
        "name": name,
        "workflow": workflow_title(&definition),
        "state": instance.state.as_str().replace('_', " "),
        "target": target,
        "error": error,
        "reason": reason,
        "attempt": uuid::Uuid::new_v4().to_string(),
    });
    page(engine, status, "signal", base(reviewer, context))
}

/// `POST /console/instances/{id}/signals/{event}`: sends the signal with its reason.
pub async fn signal(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    Path((id, event)): Path<(String, String)>,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    if let Some(refused) = reviewer.refusal(&engine, Action::ConsoleSignal) {
        return refused;
    }
    let Some(id) = instance::parse_instance(&id) else { return not_found(&engine, "such instance") };
    let reason = form.get("reason").map(|r| r.trim()).unwrap_or_default().to_owned();
    if reason.is_empty() {
        let error = "Write the reason: it is kept in the instance's history for whoever reads it later.";
        return confirm_page(&engine, &reviewer, id, &event, StatusCode::UNPROCESSABLE_ENTITY, Some(error.into()), "")
            .await;
    }
    let request = EventRequest {
        event: event.clone(),
        data: json!({ "reason": reason }),
        idempotency_key: form.get("attempt").filter(|k| !k.is_empty()).map(|k| format!("console:{k}")),
        // Only an admin gets here (the table): signals are the operator's.
        origin: Origin::Operator,
        actor: reviewer.actor(),
    };
    match engine.apply(id, request).await {
        Ok(_) => Redirect::to(&format!("/console/instances/{id}")).into_response(),
        Err(EngineError::UnknownInstance(_)) => not_found(&engine, "such instance"),
        Err(
            err @ (EngineError::Refused(
                Refusal::EventNotAllowed { .. }
                | Refusal::InstanceFinished { .. }
                | Refusal::UnknownEvent { .. }
                | Refusal::GuardRefused { .. },
            )
            | EngineError::DirectoryRefused { .. }),
        ) => {
            let error = format!("Not sent: {err}.");
            confirm_page(&engine, &reviewer, id, &event, StatusCode::CONFLICT, Some(error), &reason).await
        }
        Err(err) => failure(&engine, err),
    }
}
