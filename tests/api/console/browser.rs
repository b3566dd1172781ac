//! The instance list and the state diagram in Chromium (the `Browser` of `tests/api/browser.rs`),
//! with screenshots under `target/screenshots/console/` for a person to look at.

use std::path::PathBuf;

use accord::clock::Clock;
use accord::engine::StartRequest;
use fantoccini::Locator;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{signup_request, Backend, TestApp};

crate::on_each_store!(the_instance_list_and_a_legible_diagram_in_a_browser);

/// Saves `png` as `target/screenshots/console/<backend>-<name>.png`.
fn save(backend: Backend, name: &str, png: &[u8]) {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = target.parent().unwrap_or(&target).join("screenshots").join("console");
    std::fs::create_dir_all(&dir).unwrap();
    let store = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    std::fs::write(dir.join(format!("{store}-{name}.png")), png).unwrap();
}

/// The boxes of the diagram's labels that overlap another's, as the browser lays them out.
const OVERLAPS: &str = r#"
const boxes = [...document.querySelectorAll('.diagram svg text')]
  .filter(t => t.textContent.trim() !== '')
  .map(t => { const r = t.getBoundingClientRect(); return { text: t.textContent.trim(), l: r.left, r: r.right, t: r.top, b: r.bottom }; });
const found = [];
for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
  const a = boxes[i], b = boxes[j];
  if (a.l < b.r - 1 && b.l < a.r - 1 && a.t < b.b - 1 && b.t < a.b - 1) found.push(a.text + ' / ' + b.text);
}
return { count: boxes.length, overlaps: found, font: boxes.length ? getComputedStyle(document.querySelector('.diagram svg text')).fontFamily : '' };
"#;

async fn the_instance_list_and_a_legible_diagram_in_a_browser(backend: Backend) {
    let Some(m) = TestApp::options(backend).spawn().await else { return };
    let Some(browser) = Browser::start(&format!("console-{backend:?}")).await else { return };
    // The largest shipped workflow, down a path that loops once: in review, asked for
    // information, answered, in review again, approved; waiting for the agreement now.
    let request = StartRequest {
        workflow: "enrollment".into(),
        input: crate::enrollment::enrollment_input(),
        idempotency_key: None,
        actor: "test".into(),
    };
    let id = m.engine().start(request).await.unwrap().instance.id;
    for (event, data) in [
        ("verify", Value::Null),
        ("request_info", json!({ "message": "Your VAT number?" })),
        ("answer", json!({ "answer": "IT01234567890" })),
        ("approve", Value::Null),
    ] {
        m.send(id, event, data).await.unwrap();
    }
    for _ in 0..3 {
        m.engine().start(signup_request()).await.unwrap();
    }
    let key =
        accord::keys::create_operator(m.engine().store().as_ref(), accord::store::Scope::Admin, "marco", m.clock.now())
            .await
            .unwrap()
            .0;
    browser.sign_in(&m.base, &key).await;

    browser.xpath("//nav//a[text()='Instances']").await.click().await.unwrap();
    let list = browser.wait_for("<table id=\"instances\"").await;
    assert_eq!(list.matches("href=\"/console/instances/").count(), 4, "every workflow's instances: {list}");
    save(backend, "instances", &browser.client.screenshot().await.unwrap());

    // Filter and search with the form, as a person would.
    browser.css("#workflow").await.select_by_value("enrollment").await.unwrap();
    browser.css("#q").await.send_keys("CONTOSOITALIA").await.unwrap();
    browser.xpath("//button[text()='Show']").await.click().await.unwrap();
    let found = browser.wait_for("value=\"CONTOSOITALIA\"").await;
    let table = found.split("<table id=\"instances\"").nth(1).expect("a match").split("</table>").next().unwrap();
    assert_eq!(table.matches("href=\"/console/instances/").count(), 1, "{table}");
    assert!(table.contains("Contoso Italia S.r.l.") && table.contains("awaiting agreement"), "{table}");
    assert!(table.contains("<time datetime="), "times in <time> elements: {table}");
    save(backend, "instances-searched", &browser.client.screenshot().await.unwrap());

    browser.xpath("//a[text()='Contoso Italia S.r.l.']").await.click().await.unwrap();
    browser.wait_for("State diagram").await;
    // Tall and wide enough for the whole diagram: a screenshot shows what is in the window.
    browser.client.set_window_size(2400, 3200).await.unwrap();
    let unclip = "document.querySelector('main').style.maxWidth = 'none'; return null;";
    browser.client.execute(unclip, Vec::new()).await.unwrap();
    // The screenshot waits for the page laid out again at its new size: two animation frames.
    let relaid = "const done = arguments[arguments.length - 1]; \
                  requestAnimationFrame(() => requestAnimationFrame(() => done(null)));";
    browser.client.execute_async(relaid, Vec::new()).await.unwrap();
    let diagram = browser.css(".diagram svg").await;
    save(backend, "diagram", &diagram.screenshot().await.unwrap());
    save(backend, "instance", &browser.client.screenshot().await.unwrap());
    browser.client.set_window_size(1280, 1000).await.unwrap();
    let measured = browser.client.execute(OVERLAPS, Vec::new()).await.unwrap();
    assert!(measured["count"].as_u64().unwrap() > 20, "states and events are labelled: {measured}");
    assert_eq!(measured["overlaps"], json!([]), "no label overlaps another");
    let font = measured["font"].as_str().unwrap().to_lowercase();
    assert!(font.contains("sans-serif") && !font.contains("times"), "sans-serif: {font}");
    let svg = browser.client.source().await.unwrap();
    for state in ["awaiting verification", "in review", "awaiting agreement", "withdrawn", "request info"] {
        assert!(svg.contains(state), "{state} is drawn");
    }
    // A signal from the page: confirmed, with a reason.
    browser.xpath("//button[text()='Withdraw…']").await.click().await.unwrap();
    browser.wait_for("This cannot be undone").await;
    browser.css("#reason").await.send_keys("Duplicate of another enrollment").await.unwrap();
    save(backend, "signal-confirm", &browser.client.screenshot().await.unwrap());
    browser.xpath("//button[text()='Confirm: withdraw']").await.click().await.unwrap();
    browser.wait_for("reason: Duplicate of another enrollment").await;
    assert_eq!(m.state(id).await, "withdrawn");
    let _ = browser.client.find(Locator::Css(".diagram svg")).await.unwrap();
    save(backend, "diagram-withdrawn", &browser.css(".diagram svg").await.screenshot().await.unwrap());
    browser.finish().await;
}
