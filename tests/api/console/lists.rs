//! The console's lists: instances of every workflow (filters, search, pages), the review queue
//! read from the definitions, emails by status, and times in the reader's language and zone.

use std::time::Duration;

use accord::engine::StartRequest;
use accord::store::Scope;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::Session;
use crate::helpers::{copy_definitions, signup_request, Backend, TestApp};

crate::on_each_store!(
    the_instance_list_filters_searches_and_pages_every_workflow,
    the_review_queue_comes_from_the_states_the_definitions_mark,
    every_email_status_has_its_list,
    times_are_in_the_readers_language_and_zone_with_how_long_ago,
);

fn signup(company: &str, email: &str) -> StartRequest {
    let mut request = signup_request();
    request.input["company"]["name"] = json!(company);
    request.input["contact"]["email"] = json!(email);
    request
}

fn enrollment() -> StartRequest {
    StartRequest {
        workflow: "enrollment".into(),
        input: crate::enrollment::enrollment_input(),
        idempotency_key: None,
        actor: "test".into(),
    }
}

/// The ids of the instances a list page links to, in order.
fn listed(html: &str) -> Vec<String> {
    let table = html.split("<table id=\"instances\"").nth(1).unwrap_or_default();
    table.split("href=\"/console/instances/").skip(1).map(|rest| rest.split('"').next().unwrap().to_owned()).collect()
}

async fn the_instance_list_filters_searches_and_pages_every_workflow(backend: Backend) {
    let Some(m) = TestApp::options(backend).spawn().await else { return };
    let reviewer = Session::start(&m, Scope::Reviewer, "giulia").await;
    let enrollment = m.engine().start(enrollment()).await.unwrap().instance.id.to_string();
    m.clock.advance(Duration::from_secs(1));
    let northwind = m.engine().start(signup("Northwind Traders", "giulia@northwind.example")).await.unwrap();
    let northwind = northwind.instance.id.to_string();
    m.clock.advance(Duration::from_secs(1));
    let fabrikam = m.engine().start(signup("Fabrikam", "luca@fabrikam.example")).await.unwrap().instance.id;
    m.send(fabrikam, "withdraw", Value::Null).await.unwrap();
    let fabrikam = fabrikam.to_string();

    let (status, all) = reviewer.get(&m, "/console/instances").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let (enrollment, northwind, fabrikam) = (enrollment.as_str(), northwind.as_str(), fabrikam.as_str());
    assert_eq!(listed(&all), [fabrikam, northwind, enrollment], "every workflow, newest first");
    assert!(all.contains("Contoso Italia S.r.l.") && all.contains("Indirect reseller enrollment"), "{all}");
    assert!(all.contains("anna.rossi@contoso.it"), "the people: {all}");

    let only = |query: &str| {
        let path = format!("/console/instances?{query}");
        let reviewer = &reviewer;
        let m = &m;
        async move {
            let (status, html) = reviewer.get(m, &path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {html}");
            listed(&html)
        }
    };
    assert_eq!(only("workflow=enrollment").await, [enrollment]);
    assert_eq!(only("workflow=example_signup&state=withdrawn").await, [fabrikam]);
    assert_eq!(only("status=active").await, [northwind, enrollment]);
    assert_eq!(only("status=finished").await, [fabrikam]);
    assert_eq!(only("q=NORTHWIND").await, [northwind], "a name, whatever its case");
    assert_eq!(only("q=luca%40fabrikam").await, [fabrikam], "an email address");
    assert_eq!(only("q=contosoitalia.onmicrosoft.com").await, [enrollment], "a tenant domain");
    assert_eq!(only("q=example&status=active").await, [northwind], "filters together");
    let (_, none) = reviewer.get(&m, "/console/instances?q=tailspin").await;
    assert!(none.contains("No instance matches"), "{none}");

    // What cannot be listed is said, with what to choose instead.
    for (query, says) in [
        ("workflow=enrolment", "There is no workflow called “enrolment”"),
        ("workflow=enrollment&state=approved", "has no state called “approved”"),
        ("status=done", "“done” is not a status"),
        ("page=0", "pages are numbered from 1"),
    ] {
        let (status, html) = reviewer.get(&m, &format!("/console/instances?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(html.contains(says), "{query}: {html}");
    }

    // Fifty a page, newest first; the next page carries the filters.
    for n in 0..50 {
        m.clock.advance(Duration::from_millis(10));
        m.engine().start(signup(&format!("Company {n:02}"), &format!("c{n}@company.example"))).await.unwrap();
    }
    let (_, first) = reviewer.get(&m, "/console/instances?workflow=example_signup").await;
    assert_eq!(listed(&first).len(), 50);
    assert!(first.contains("Company 49") && !first.contains("Northwind"), "newest first");
    let next = "/console/instances?workflow=example_signup&amp;page=2";
    assert!(first.contains(next), "a link to the next page with the filter: {first}");
    let (_, second) = reviewer.get(&m, &next.replace("&amp;", "&")).await;
    assert_eq!(listed(&second), [fabrikam, northwind]);
    assert!(second.contains("rel=\"prev\"") && !second.contains("rel=\"next\""), "{second}");
}

/// A workflow whose review state is called `vetting`, with decisions of its own.
const VETTING: &str = r#"
name = "supplier_vetting"
title = "Supplier vetting"
initial = "vetting"

[[input]]
field = "supplier.name"
type = "string"

[events]
admit = "decision"
refuse = "decision"
withdraw = "signal"

[states.vetting]
review = true
on.admit = { to = "admitted" }
on.refuse = { to = "refused" }
on.withdraw = { to = "withdrawn" }

[states.admitted]
final = true

[states.refused]
final = true

[states.withdrawn]
final = true
"#;

async fn the_review_queue_comes_from_the_states_the_definitions_mark(backend: Backend) {
    let files = tempfile::tempdir().unwrap();
    let (workflows, templates) = copy_definitions(files.path());
    std::fs::write(workflows.join("supplier_vetting.toml"), VETTING).unwrap();
    // The enrollment's review state no longer marked: its instances leave the queue.
    let enrollment_toml = workflows.join("enrollment.toml");
    let source = std::fs::read_to_string(&enrollment_toml).unwrap();
    std::fs::write(&enrollment_toml, source.replace("[states.in_review]\nreview = true\n", "[states.in_review]\n"))
        .unwrap();
    let Some(m) = TestApp::options(backend).definitions(&workflows, &templates).spawn().await else { return };
    let reviewer = Session::start(&m, Scope::Reviewer, "giulia").await;
    let input = json!({ "supplier": { "name": "Tailspin Toys" } });
    let request = StartRequest { workflow: "supplier_vetting".into(), input, idempotency_key: None, actor: "t".into() };
    let vetting = m.engine().start(request).await.unwrap().instance.id;
    let enrollment = m.engine().start(enrollment()).await.unwrap().instance.id;
    m.send(enrollment, "verify", Value::Null).await.unwrap();
    let signup = m.engine().start(signup_request()).await.unwrap().instance.id;
    m.send(signup, "verify", Value::Null).await.unwrap();
    m.send(signup, "request_info", json!({ "message": "Your VAT number?" })).await.unwrap();

    let (status, queue) = reviewer.get(&m, "/console").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let table = queue.split("<table id=\"queue\"").nth(1).expect("a queue").split("</table>").next().unwrap();
    assert!(table.contains(&format!("/console/instances/{vetting}")), "the custom review state: {queue}");
    assert!(table.contains("Tailspin Toys") && table.contains("Supplier vetting · vetting"), "{table}");
    assert!(!table.contains(&enrollment.to_string()), "an unmarked state is not queued: {table}");
    // Sent back by a decision, waiting to return to review: from the definition too.
    let waiting = queue.split("Sent back, waiting for an answer").nth(1).expect("the sent-back list");
    assert!(waiting.contains(&format!("/console/instances/{signup}")), "{waiting}");
    assert!(waiting.contains("awaiting information"), "{waiting}");

    // The custom workflow's decisions are on its page.
    let (_, page) = reviewer.get(&m, &format!("/console/instances/{vetting}")).await;
    for event in ["admit", "refuse"] {
        assert!(page.contains(&format!("name=\"event\" value=\"{event}\"")), "{event}: {page}");
    }
}

async fn every_email_status_has_its_list(backend: Backend) {
    let Some(m) = TestApp::options(backend).smtp().spawn().await else { return };
    let admin = Session::start(&m, Scope::Admin, "marco").await;
    m.engine().start(signup("Northwind Traders", "giulia@northwind.example")).await.unwrap();
    let (status, queued) = admin.get(&m, "/console/emails?status=queued").await;
    assert_eq!(status, StatusCode::OK);
    let table = queued.split("<table id=\"emails\"").nth(1).expect("a list of queued emails");
    assert!(table.contains("giulia@northwind.example"), "{queued}");
    for status in accord::store::EmailStatus::ALL {
        assert!(queued.contains(&format!("/console/emails?status={status}\"")), "a tab for {status}: {queued}");
    }
    assert!(queued.contains("aria-current=\"page\">Queued"), "the current tab is marked: {queued}");

    assert_eq!(m.dispatch().await, 1);
    let (_, queued) = admin.get(&m, "/console/emails?status=queued").await;
    assert!(queued.contains("No email is queued."), "{queued}");
    let (_, sent) = admin.get(&m, "/console/emails?status=sent").await;
    let table = sent.split("<table id=\"emails\"").nth(1).expect("a list of sent emails");
    assert!(
        table.contains("giulia@northwind.example") && table.contains("<time datetime="),
        "when it was sent: {sent}"
    );

    let (status, unknown) = admin.get(&m, "/console/emails?status=bounced").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(unknown.contains("There is no “bounced” list of emails: choose one of"), "{unknown}");
}

/// Every ISO 8601 instant on a page is inside a `datetime` attribute.
fn no_raw_instants(html: &str) {
    let without: String = html.split("datetime=\"").enumerate().fold(String::new(), |mut out, (n, piece)| {
        out.push_str(if n == 0 { piece } else { piece.split_once('"').map_or("", |(_, rest)| rest) });
        out
    });
    let raw = without
        .as_bytes()
        .windows(11)
        .any(|w| w[..4].iter().all(u8::is_ascii_digit) && w[4] == b'-' && w[7] == b'-' && w[10] == b'T');
    assert!(!raw, "a raw instant outside <time datetime>: {html}");
}

async fn times_are_in_the_readers_language_and_zone_with_how_long_ago(backend: Backend) {
    let Some(m) = TestApp::options(backend).config(|c| c.time_zone = "Europe/Rome".into()).spawn().await else {
        return;
    };
    let reviewer = Session::start(&m, Scope::Reviewer, "giulia").await;
    // The test clock starts at 2026-03-02T09:00:00Z: 10:00 in Rome.
    let id = m.engine().start(enrollment()).await.unwrap().instance.id;
    m.send(id, "verify", Value::Null).await.unwrap();
    m.clock.advance(Duration::from_secs(3 * 3600));
    let path = format!("/console/instances/{id}");
    let (_, italian) = reviewer.get_in(&m, &path, "it-IT,it;q=0.9,en;q=0.5").await;
    assert!(
        italian.contains("<time datetime=\"2026-03-02T09:00:00.000Z\">2 mar 2026, 10:00 CET</time> <span class=\"ago\">(3 ore fa)</span>"),
        "{italian}"
    );
    assert!(italian.contains("(tra 4 giorni)"), "the review deadline, ahead: {italian}");
    no_raw_instants(&italian);
    let (_, english) = reviewer.get_in(&m, &path, "en-US").await;
    assert!(english.contains(">2 Mar 2026, 10:00 CET</time> <span class=\"ago\">(3 hours ago)</span>"), "{english}");
    no_raw_instants(&english);
    for page in ["/console", "/console/instances", "/console/emails?status=queued"] {
        let (_, html) = reviewer.get_in(&m, page, "it").await;
        assert!(html.contains("10:00 CET</time>"), "{page}: {html}");
        no_raw_instants(&html);
    }
    let (_, queue) = reviewer.get_in(&m, "/console", "it").await;
    assert!(queue.contains("scade tra 4 giorni"), "the deadline badge in Italian: {queue}");

    let refused = accord::config::Config { time_zone: "Europe/Milano".into(), ..Default::default() };
    let err = refused.time_zone().expect_err("an unknown zone is refused").to_string();
    assert!(err.contains("bad time_zone `Europe/Milano`") && err.contains("Europe/Rome"), "{err}");
}
