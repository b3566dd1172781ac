//! The review queue: instances in a state their workflow marks for review (`review = true`),
//! oldest first, with their deadlines; and those a reviewer sent back to someone, waiting to
//! return. Every workflow's, read from the definitions: no workflow or state is named here.

use super::*;
use crate::store::InstanceStatus;
use crate::workflow::{Definition, State as StateSpec};

/// How many instances of one state the queue shows.
const SHOWN: i64 = 500;

/// "due in 2 days" (ok), "due in 5 hours" (soon), "overdue by 3 hours"; in the reader's language.
pub(super) fn due_badge(reader: &Reader, due: crate::clock::Timestamp) -> (String, &'static str) {
    let now = reader.now;
    let (delta, overdue) = if due > now { (due.since(now), false) } else { (now.since(due), true) };
    let span = reader.span(delta.as_secs());
    let italian = reader.lang == super::super::when::Lang::It;
    match (overdue, italian) {
        (true, false) => (format!("overdue by {span}"), "overdue"),
        (true, true) => (format!("in ritardo di {span}"), "overdue"),
        (false, italian) => {
            let text = if italian { format!("scade tra {span}") } else { format!("due in {span}") };
            (text, if delta.as_secs() < 24 * 3600 { "soon" } else { "ok" })
        }
    }
}

/// The states a reviewer's decision sends an instance to from a review state, which lead back
/// to review (waiting for the contact's answer, say).
fn sent_back<'a>(definition: &'a Definition, review: &[&'a StateSpec]) -> Vec<&'a StateSpec> {
    let is_review = |name: &crate::workflow::StateName| review.iter().any(|r| &r.name == name);
    definition
        .states
        .values()
        .filter(|s| !s.review && !s.is_final)
        .filter(|s| s.transitions.values().any(|t| t.to.as_ref().is_some_and(is_review)))
        .filter(|s| {
            review.iter().any(|r| {
                r.transitions.values().any(|t| {
                    definition.event_kind(&t.event) == Some(EventKind::Decision) && t.to.as_ref() == Some(&s.name)
                })
            })
        })
        .collect()
}

pub async fn queue(State(engine): State<Engine>, reviewer: Reviewer, reader: Reader) -> Response {
    let store = engine.store();
    let mut items = Vec::new();
    let mut waiting = Vec::new();
    let mut marked = Vec::new();
    for definition in engine.catalog().all() {
        let review: Vec<&StateSpec> = definition.states.values().filter(|s| s.review).collect();
        if review.is_empty() {
            continue;
        }
        let title = workflow_title(definition);
        marked.push(title.clone());
        let in_state = |state: &StateSpec| ListFilter {
            workflow: Some(definition.name.to_string()),
            state: Some(state.name.to_string()),
            status: Some(InstanceStatus::Active),
            limit: SHOWN,
            ..Default::default()
        };
        for state in &review {
            let instances = match store.list_instances(&in_state(state)).await {
                Ok(instances) => instances,
                Err(err) => return failure(&engine, err),
            };
            for instance in instances {
                let (history, timers) = match (store.history(instance.id).await, store.timers(instance.id).await) {
                    (Ok(h), Ok(t)) => (h, t),
                    (Err(err), _) | (_, Err(err)) => return failure(&engine, err),
                };
                let since =
                    history.iter().rev().find(|h| h.to_state == state.name).map_or(instance.updated_at, |h| h.at);
                let deadline = timers
                    .iter()
                    .filter(|t| t.status == TimerStatus::Armed && t.state == state.name)
                    .map(|t| t.due_at)
                    .min();
                let (badge, badge_kind) = match deadline {
                    Some(due) => {
                        let (text, kind) = due_badge(&reader, due);
                        (Some(text), kind)
                    }
                    // The state's deadline fired: escalated to the reviewers.
                    None if !state.timers.is_empty() => (Some("overdue (escalated)".to_owned()), "overdue"),
                    None => (None, "ok"),
                };
                let (name, emails) = summary(Some(definition), &instance.context.0);
                items.push((
                    since,
                    json!({
                        "id": instance.id.to_string(),
                        "name": name,
                        "emails": emails,
                        "workflow": title,
                        "state": state.name.as_str().replace('_', " "),
                        "since": reader.time(since),
                        "badge": badge,
                        "badge_kind": badge_kind,
                    }),
                ));
            }
        }
        for state in sent_back(definition, &review) {
            let instances = match store.list_instances(&in_state(state)).await {
                Ok(instances) => instances,
                Err(err) => return failure(&engine, err),
            };
            for instance in instances {
                let (name, _) = summary(Some(definition), &instance.context.0);
                waiting.push(json!({
                    "id": instance.id.to_string(), "name": name, "workflow": title,
                    "state": state.name.as_str().replace('_', " "), "since": reader.time(instance.updated_at),
                }));
            }
        }
    }
    items.sort_by_key(|(since, _)| *since);
    let items: Vec<Value> = items.into_iter().map(|(_, item)| item).collect();
    let context = json!({ "items": items, "waiting": waiting, "marked": marked });
    page(&engine, StatusCode::OK, "queue", base(&reviewer, context))
}
