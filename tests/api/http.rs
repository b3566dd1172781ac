//! The JSON API's fixed points, over real HTTP on port 0.

use accord::store::Scope;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{signup_input, spawn_app, Backend};

crate::on_each_store!(the_api_starts_reads_lists_and_moves_instances, the_api_refuses_bad_requests_with_stable_codes);

async fn the_api_starts_reads_lists_and_moves_instances(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let pipeline = t.key(Scope::Pipeline).await;
    let reviewer = t.key(Scope::Reviewer).await;
    let api = t;
    use reqwest::Method;

    let body = json!({ "workflow": "example_signup", "input": signup_input(), "idempotency_key": "crm-1" });
    let (status, started) = api.call(Method::POST, "/api/v1/instances", &pipeline, Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["workflow"], "example_signup");
    assert_eq!(started["state"], "awaiting_verification");
    let id = started["id"].as_str().unwrap().to_owned();
    let (status, again) = api.call(Method::POST, "/api/v1/instances", &pipeline, Some(body)).await;
    assert_eq!((status, again["id"].as_str()), (StatusCode::OK, Some(id.as_str())));
    assert_eq!(again["replayed"], true);

    let (status, view) = api.call(Method::GET, &format!("/api/v1/instances/{id}"), &reviewer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["history"].as_array().unwrap().len(), 1);
    assert_eq!(view["emails"][0]["recipient"], "anna.rossi@contoso.it");
    // The server's dispatcher runs beside the API: the email may be on its way already.
    let delivery = view["emails"][0]["status"].as_str().unwrap_or_default();
    assert!(["queued", "sending", "sent"].contains(&delivery), "{view}");
    assert_eq!(view["timers"].as_array().unwrap().len(), 2);

    let verify = json!({ "event": "withdraw", "idempotency_key": "w-1" });
    let (status, moved) =
        api.call(Method::POST, &format!("/api/v1/instances/{id}/events"), &pipeline, Some(verify.clone())).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!((moved["instance"]["state"].as_str(), moved["replayed"].as_bool()), (Some("withdrawn"), Some(false)));
    let (_, replay) = api.call(Method::POST, &format!("/api/v1/instances/{id}/events"), &pipeline, Some(verify)).await;
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["event"]["id"], moved["event"]["id"]);

    let (status, list) =
        api.call(Method::GET, "/api/v1/instances?workflow=example_signup&state=withdrawn", &reviewer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], id.as_str());
    let (status, found) =
        api.call(Method::GET, "/api/v1/instances?q=ANNA.ROSSI@contoso&status=finished", &reviewer, None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "searched by the contact's email: {found}");
    let (_, none) = api.call(Method::GET, "/api/v1/instances?q=northwind", &reviewer, None).await;
    assert_eq!(none["items"], json!([]));
    let (_, active) = api.call(Method::GET, "/api/v1/instances?status=active", &reviewer, None).await;
    assert_eq!(active["items"], json!([]), "the only instance is withdrawn");
    let (status, body) = api.call(Method::GET, "/api/v1/instances?status=done", &reviewer, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_status")));
    assert!(body["error"]["message"].as_str().unwrap().contains("`active` or `finished`"), "{body}");
}

async fn the_api_refuses_bad_requests_with_stable_codes(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let pipeline = t.key(Scope::Pipeline).await;
    let reviewer = t.key(Scope::Reviewer).await;
    let api = t;
    use reqwest::Method;

    let (status, body) = api.call(Method::GET, "/api/v1/instances", "acc_not-a-key", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));

    let mut input = signup_input();
    input["contact"]["email"] = json!("anna@hotmail.it");
    input["company"] = json!({});
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/instances",
            &pipeline,
            Some(json!({ "workflow": "example_signup", "input": input })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_input");
    assert_eq!(body["error"]["field"], "input.company.name");
    let fields: Vec<&str> =
        body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["company.name", "contact.email"]);

    let (status, body) = api
        .call(Method::POST, "/api/v1/instances", &reviewer, Some(json!({ "workflow": "example_signup", "input": {} })))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

    let (status, body) =
        api.call(Method::POST, "/api/v1/instances", &pipeline, Some(json!({ "workflow": "nope", "input": {} }))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("workflow")));

    let (_, started) = api
        .call(
            Method::POST,
            "/api/v1/instances",
            &pipeline,
            Some(json!({ "workflow": "example_signup", "input": signup_input() })),
        )
        .await;
    let events = format!("/api/v1/instances/{}/events", started["id"].as_str().unwrap());
    let (status, body) = api.call(Method::POST, &events, &reviewer, Some(json!({ "event": "approve" }))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "event_not_allowed");
    assert!(body["error"]["message"].as_str().unwrap().contains("awaiting_verification"), "{body}");

    let (status, body) = api.call(Method::POST, &events, &pipeline, Some(json!({ "event": "verify" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden_event")));

    let response = reqwest::Client::new()
        .post(format!("{}{events}", api.base))
        .bearer_auth(&pipeline)
        .header("content-type", "application/json")
        .body("{\"event\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let (status, body) = api.call(Method::GET, "/api/v1/instances?stat=in_review", &reviewer, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    assert!(body["error"]["message"].as_str().unwrap().contains("stat"), "{body}");

    let (status, body) =
        api.call(Method::GET, "/api/v1/instances/67e55044-10b1-426f-9247-bb680e5fe0c8", &reviewer, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_instance")));
}
