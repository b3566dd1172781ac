//! Instances of every workflow: filtered by workflow, state and status, searched in their
//! context (a name, an email address, a tenant domain), newest first, a page at a time.

use super::*;
use crate::store::InstanceStatus;

/// Instances on one page.
const PAGE: i64 = 50;

/// `GET /console/instances?workflow=&state=&status=&q=&page=`.
pub async fn instances(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    reader: Reader,
    Query(query): Query<Fields>,
) -> Response {
    let given = |name: &str| query.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let catalog = engine.catalog();
    let mut problems: Vec<String> = Vec::new();
    let workflow = given("workflow");
    let definition = workflow.as_deref().and_then(|name| catalog.current(name));
    if let (Some(name), None) = (&workflow, &definition) {
        problems.push(format!("There is no workflow called “{name}”. Choose one from the list, or any workflow."));
    }
    let state = given("state");
    if let (Some(state), Some(definition)) = (&state, &definition) {
        if !definition.states.keys().any(|s| s.as_str() == state) {
            problems.push(format!(
                "{} has no state called “{state}”. Choose one from the list, or any state.",
                workflow_title(definition)
            ));
        }
    }
    let status = match given("status").as_deref() {
        None => None,
        Some(text) => match text.parse::<InstanceStatus>() {
            Ok(status) => Some(status),
            Err(_) => {
                problems.push(format!("“{text}” is not a status: choose in progress, finished or any."));
                None
            }
        },
    };
    let page_number = match given("page") {
        None => 1,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=100_000).contains(&n) => n,
            _ => {
                problems.push(format!("“{text}” is not a page number: pages are numbered from 1."));
                1
            }
        },
    };
    let search = given("q");

    // Every workflow and its states, for the filters.
    let workflows: Vec<Value> = catalog
        .all()
        .map(|d| {
            json!({
                "name": d.name.as_str(), "title": workflow_title(d),
                "states": d.states.keys().map(|s| s.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut items = Vec::new();
    let mut more = false;
    if problems.is_empty() {
        let filter = ListFilter {
            workflow: workflow.clone(),
            state: state.clone(),
            status,
            search: search.clone(),
            // One more than a page: whether there is a next one.
            limit: PAGE + 1,
            offset: (page_number - 1) * PAGE,
            owner: None,
        };
        let mut found = match engine.store().list_instances(&filter).await {
            Ok(found) => found,
            Err(err) => return failure(&engine, err),
        };
        more = found.len() as i64 > PAGE;
        found.truncate(PAGE as usize);
        for instance in &found {
            let definition = catalog.current(instance.workflow.as_str());
            let (name, emails) = summary(definition.as_deref(), &instance.context.0);
            items.push(json!({
                "id": instance.id.to_string(),
                "name": name,
                "emails": emails,
                "workflow": definition.as_ref().map_or(instance.workflow.to_string(), |d| workflow_title(d)),
                "state": instance.state.as_str().replace('_', " "),
                "finished": instance.status == InstanceStatus::Finished,
                "created": reader.time(instance.created_at),
                "updated": reader.time(instance.updated_at),
            }));
        }
    }
    // The same filters on the other pages.
    let link = |page: i64| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("workflow", &workflow), ("state", &state), ("q", &search)] {
            if let Some(value) = value {
                pairs.append_pair(name, value);
            }
        }
        if let Some(status) = status {
            pairs.append_pair("status", status.as_str());
        }
        pairs.append_pair("page", &page.to_string());
        format!("/console/instances?{}", pairs.finish())
    };
    let status_code = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let context = json!({
        "workflows": workflows,
        "workflow": workflow,
        "state": state,
        "status": status.map(|s| s.as_str()),
        "q": search,
        "page": page_number,
        "problems": problems,
        "items": items,
        "previous": (page_number > 1).then(|| link(page_number - 1)),
        "next": more.then(|| link(page_number + 1)),
    });
    page(&engine, status_code, "instances", base(&reviewer, context))
}
