//! Every shipped email's HTML part as a reader sees it: rendered from its workflow's `[sample]`
//! in each language it is written in, opened in headless Chromium (light, then dark), and saved
//! as `<target dir>/screenshots/emails/<workflow>-<message>-<locale>[-dark].png` beside the HTML
//! it shows. The test asserts what a person sees: every link a visible button or link with its
//! text, the plain URL of each button beside it, each date the text part gives, and no template
//! syntax or raw id. Skipped without Chromium (failed under CI=true, as tests/api/browser.rs).

use std::path::PathBuf;

use accord::app::load_workflows;
use accord::config::Config;
use accord::mail::check::sample_context;
use accord::mail::Renderer;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::repo;

/// Where the screenshots go: `target/screenshots/emails` (or under `CARGO_TARGET_DIR`).
fn screenshots() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(&tmp).join("screenshots").join("emails")
}

/// Headless Chromium at a phone's width (the layout must hold there); `dark` asks pages for
/// `prefers-color-scheme: dark`.
async fn chromium(dark: bool) -> Option<Browser> {
    let flags: &[&str] = if dark { &["--force-dark-mode", "--blink-settings=preferredColorScheme=0"] } else { &[] };
    Browser::start_sized("emails", "420,1100", flags).await
}

/// One shipped email in one language, rendered from the sample.
struct Sample {
    name: String,
    locale: String,
    html: String,
    text: String,
    links: Vec<String>,
    dates: Vec<String>,
}

fn samples() -> Vec<Sample> {
    let config = Config {
        workflows_dir: repo().join("workflows"),
        templates_dir: repo().join("templates"),
        parties: [("reviewers".to_owned(), "reviewers@contoso.example".to_owned())].into(),
        ..Config::default()
    };
    let report = load_workflows(&config, &accord::csp::registry()).unwrap();
    assert!(report.problems.is_empty(), "accord check passes: {:?}", report.problems);
    let renderer = Renderer::load(&config.templates_dir).unwrap();
    let mut samples = Vec::new();
    for definition in &report.definitions {
        let mut seen = std::collections::BTreeSet::new();
        for (state, email) in definition.emails() {
            if !seen.insert(email.template.clone()) {
                continue;
            }
            for locale in ["en", "it"] {
                let context = sample_context(definition, state, email, locale);
                let workflow = definition.name.as_str();
                let rendered =
                    renderer.render_email(workflow, email.template.as_str(), Some(locale), &context).unwrap();
                if rendered.locale != locale {
                    continue; // written in English only (example_signup)
                }
                let mut dates = Vec::new();
                collect_strings(&context["dates"], &mut dates);
                dates.retain(|date| rendered.text.contains(date.as_str()));
                samples.push(Sample {
                    name: format!("{workflow}-{}-{locale}", email.template),
                    locale: locale.to_owned(),
                    html: rendered.html.expect("every shipped email has an HTML part"),
                    text: rendered.text,
                    links: email.links.iter().map(|l| format!("https://accord.example/l/sample-{l}")).collect(),
                    dates,
                });
            }
        }
    }
    samples
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) if text.chars().any(|c| c.is_ascii_digit()) && text.contains(' ') => out.push(text.clone()),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

async fn visible_text(client: &Client) -> String {
    let text = client.execute("return document.body.innerText", vec![]).await.unwrap();
    text.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_email_reads_well_in_a_browser_in_both_languages() {
    let samples = samples();
    assert!(samples.len() >= 35, "every email of every workflow: {}", samples.len());
    assert!(samples.iter().any(|s| s.locale == "it") && samples.iter().any(|s| s.locale == "en"));
    let Some(browser) = chromium(false).await else { return };
    let client = browser.client.clone();
    let dir = screenshots();
    std::fs::create_dir_all(&dir).unwrap();
    let mut dated = 0;
    for sample in &samples {
        let file = dir.join(format!("{}.html", sample.name));
        std::fs::write(&file, &sample.html).unwrap();
        client.goto(&format!("file://{}", file.display())).await.unwrap();
        let shown = visible_text(&client).await;
        std::fs::write(dir.join(format!("{}.png", sample.name)), client.screenshot().await.unwrap()).unwrap();
        let name = &sample.name;
        assert!(!shown.contains("{{") && !shown.contains("{%"), "{name}: template syntax shown:\n{shown}");
        assert!(!shown.contains("00000000-0000"), "{name}: a raw id shown:\n{shown}");
        assert!(!shown.trim().is_empty(), "{name}: nothing shown");
        for date in &sample.dates {
            assert!(shown.contains(date.as_str()), "{name}: the date {date:?} is not shown:\n{shown}");
            dated += 1;
        }
        for url in &sample.links {
            let link = client
                .find(Locator::Css(&format!("a[href=\"{url}\"]")))
                .await
                .unwrap_or_else(|_| panic!("{name}: no link to {url}"));
            assert!(link.is_displayed().await.unwrap(), "{name}: the link to {url} is hidden");
            let label = link.text().await.unwrap();
            assert!(!label.trim().is_empty() && !label.contains("sample-"), "{name}: the link to {url} has no label");
        }
        for button in client.find_all(Locator::Css("a.accord-button")).await.unwrap() {
            assert!(button.is_displayed().await.unwrap(), "{name}: a hidden button");
            let label = button.text().await.unwrap();
            let href = button.attr("href").await.unwrap().unwrap_or_default();
            assert!(!label.trim().is_empty(), "{name}: a button without text");
            assert!(shown.contains(&href), "{name}: the plain URL {href} is not shown beside its button:\n{shown}");
            assert!(
                sample.text.contains(&format!("{}: {href}", label.trim())),
                "{name}: the text part has {label}: {href}"
            );
        }
    }
    assert!(dated >= 20, "most emails state a deadline: {dated}");
    browser.finish().await;

    // Dark mode: the same emails with the reader's dark scheme; the card and text follow it.
    let Some(browser) = chromium(true).await else { return };
    let client = browser.client.clone();
    for sample in &samples {
        let file = dir.join(format!("{}.html", sample.name));
        client.goto(&format!("file://{}", file.display())).await.unwrap();
        std::fs::write(dir.join(format!("{}-dark.png", sample.name)), client.screenshot().await.unwrap()).unwrap();
        let colours = client
            .execute(
                "const card = getComputedStyle(document.querySelector('.accord-card')).backgroundColor; \
                 const text = getComputedStyle(document.querySelector('p.accord-text')).color; return [card, text];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(colours, json!(["rgb(22, 27, 34)", "rgb(230, 237, 243)"]), "{}: dark card, light text", sample.name);
    }
    browser.finish().await;
}
