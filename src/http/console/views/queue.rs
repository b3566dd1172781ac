//! The review queue: instances waiting for a decision, oldest due first.

use super::*;

/// "Due in 2 days", "overdue by 3 hours".
pub(super) fn due_badge(engine: &Engine, due: crate::clock::Timestamp) -> (String, &'static str) {
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
    let filter = ListFilter {
        workflow: Some("enrollment".into()),
        state: Some("in_review".into()),
        limit: 500,
        offset: 0,
        owner: None,
    };
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
        owner: None,
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
