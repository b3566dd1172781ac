//! Every state of a link page, in English and Italian, as a reader sees it in Chromium: the
//! heading, the sentence that says why, and whether there is a form to act on. Each page is saved
//! as `<target dir>/screenshots/pages/<store>-<locale>-<state>.png` (`target/screenshots/pages/`
//! in a default checkout) for a person to look at. Skipped without ChromeDriver, as the other
//! browser tests are (`browser.rs`).

use std::path::PathBuf;
use std::time::Duration;

use accord::clock::Clock;
use accord::directory::{DirectoryChange, PartnerKind, PartnerStatus};
use accord::engine::StartRequest;
use fantoccini::Locator;
use reqwest::Method;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::customer::{partner, start};
use crate::helpers::{Backend, TestApp};
use crate::pages::{invite, link};

crate::on_each_store!(every_link_page_state_reads_right_in_english_and_italian);

/// What a reader must see on one page: its heading, a sentence of its text, and whether it
/// offers a form to act on (the "send me a new link" form does not count).
struct Seen<'a> {
    heading: &'a str,
    says: &'a str,
    form: bool,
}

/// Opens `url`, checks what a reader sees, and saves the screenshot `<store>-<locale>-<state>`.
async fn look(browser: &Browser, backend: Backend, locale: &str, state: &str, url: &str, seen: Seen<'_>) {
    browser.goto(url).await;
    check(browser, backend, locale, state, seen).await;
}

async fn check(browser: &Browser, backend: Backend, locale: &str, state: &str, seen: Seen<'_>) {
    // After a click the old page may still be there: wait for the heading to become the one
    // expected (an element of the old page goes stale meanwhile).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let heading = match browser.client.find(Locator::Css("h1")).await {
            Ok(h1) => h1.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if heading == seen.heading {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{locale} {state}: the heading is {heading:?}, not {:?}",
            seen.heading
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = browser.css("main").await.text().await.unwrap();
    assert!(text.contains(seen.says), "{locale} {state}: the page says {:?}:\n{text}", seen.says);
    let forms = browser.client.find_all(Locator::Css("form:not([action$='resend'])")).await.unwrap();
    assert_eq!(!forms.is_empty(), seen.form, "{locale} {state}: a form to act on:\n{text}");
    let title = browser.client.title().await.unwrap();
    assert_eq!(title, seen.heading, "{locale} {state}: the window title names the page");
    let png = browser.client.screenshot().await.unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("screenshots").join("pages");
    std::fs::create_dir_all(&dir).unwrap();
    let store = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    std::fs::write(dir.join(format!("{store}-{locale}-{state}.png")), png).unwrap();
}

async fn every_link_page_state_reads_right_in_english_and_italian(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    let Some(browser) = Browser::start("pages").await else { return };
    let reseller = partner(&t, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let provider = partner(&t, PartnerKind::IndirectProvider, "Fabrikam Distribution").await;
    let admin = t.api(accord::store::Scope::Admin).await;
    let english = |en: &'static str, it: &'static str, locale: &str| if locale == "it" { it } else { en };
    let mut waiting = Vec::new();

    for locale in ["en", "it"] {
        let l = |en, it| english(en, it, locale);
        // Open, then accepted in the browser: done, then done again.
        let open = invite(&t, reseller, &format!("open-{locale}.example"), locale).await;
        let accept = link(&t, open, "accept").await;
        let heading = l("Accept agreement & authorize partner", "Accetta il contratto e autorizza il partner");
        let says = l("Read the full Microsoft Customer Agreement", "Leggi il testo completo del Contratto del cliente");
        look(&browser, backend, locale, "open", &accept, Seen { heading, says, form: true }).await;
        browser.css("#confirm_0").await.click().await.unwrap();
        browser.css(".actions button:not(.secondary)").await.click().await.unwrap();
        let heading = l("Done", "Fatto");
        let says = l("The request is now: accepted.", "Stato della richiesta: accettata.");
        check(&browser, backend, locale, "done", Seen { heading, says, form: false }).await;
        let heading = l("Already done", "Operazione già eseguita");
        let says = l("This was already recorded", "La tua risposta era già stata registrata");
        look(&browser, backend, locale, "done-again", &accept, Seen { heading, says, form: false }).await;

        // Withdrawn by the sender, and expired by its timer: closed, no form.
        let id = invite(&t, reseller, &format!("withdrawn-{locale}.example"), locale).await;
        t.send(id, "withdraw", Value::Null).await.unwrap();
        let heading = l("This request is closed", "Questa richiesta è chiusa");
        let says = l("The sender withdrew this request", "Il mittente ha ritirato questa richiesta");
        let url = link(&t, id, "accept").await;
        look(&browser, backend, locale, "withdrawn", &url, Seen { heading, says, form: false }).await;
        let id = invite(&t, reseller, &format!("expired-{locale}.example"), locale).await;
        let timer = accord::engine::EventRequest {
            event: "expire".into(),
            data: Value::Null,
            idempotency_key: None,
            origin: accord::store::Origin::Timer,
            actor: "timer:expiry".into(),
        };
        t.engine().apply(id, timer).await.unwrap();
        let says = l("The time to answer this request ran out", "Il tempo per rispondere a questa richiesta è scaduto");
        let url = link(&t, id, "accept").await;
        look(&browser, backend, locale, "expired-request", &url, Seen { heading, says, form: false }).await;

        // An enrollment: "this wasn't me" after confirming no longer applies; the answer page
        // shows the question.
        let mut input = crate::enrollment::enrollment_input();
        input["primary_contact"]["locale"] = json!(locale);
        input["company"]["legal_name"] = json!(format!("Contoso {locale}"));
        let request = StartRequest { workflow: "enrollment".into(), input, idempotency_key: None, actor: "t".into() };
        let id = t.engine().start(request).await.unwrap().instance.id;
        let not_me = link(&t, id, "not_me").await;
        t.post(&link(&t, id, "verify").await, &[("confirm_0", "on"), ("confirm_1", "on")]).await;
        let heading = l("This link no longer applies", "Questo link non è più valido");
        let says = l("The request has moved on", "La richiesta è andata avanti");
        look(&browser, backend, locale, "no-longer-applies", &not_me, Seen { heading, says, form: false }).await;
        let question = l("Please send the VAT number of the company.", "Inviate il numero di partita IVA, per favore.");
        t.send(id, "request_info", json!({ "message": question })).await.unwrap();
        let heading = l("Answer the reviewer", "Rispondi al revisore");
        let url = link(&t, id, "answer").await;
        look(&browser, backend, locale, "answer", &url, Seen { heading, says: question, form: true }).await;

        // The provider's invitation names the provider.
        let input = json!({ "provider": { "id": provider.to_string() },
                            "reseller": { "id": reseller.to_string(), "locale": locale } });
        let id = t.engine().start(start("provider_invitation", input)).await.unwrap().instance.id;
        let heading = l("Authorize indirect provider", "Autorizza il provider indiretto");
        let says =
            l("Fabrikam Distribution invites Contoso Italia S.r.l.", "Fabrikam Distribution invita Contoso Italia");
        let url = link(&t, id, "authorize").await;
        look(&browser, backend, locale, "provider", &url, Seen { heading, says, form: true }).await;

        // Refused: the agreement was accepted through another request meanwhile.
        let domain = format!("refused-{locale}.example");
        let body = json!({
            "name": "Northwind Traders", "domain": domain, "country": "IT", "locale": locale,
            "admin": { "name": "Giulia Bianchi", "email": format!("giulia@{domain}") },
            "relationships": [{ "partner": reseller, "kind": "reseller" }],
        });
        let (_, customer) = admin.call(Method::POST, "/api/v1/customers", Some(body)).await;
        let request = format!("/api/v1/customers/{}/agreement-requests", customer["id"].as_str().unwrap());
        let mut accepts = Vec::new();
        for _ in 0..2 {
            let (_, instance) = admin.call(Method::POST, &request, Some(json!({ "partner": reseller }))).await;
            let id = instance["id"].as_str().unwrap().parse().unwrap();
            accepts.push(link(&t, id, "accept").await);
        }
        t.post(&accepts[0], &[("confirm_0", "on")]).await;
        browser.goto(&accepts[1]).await;
        browser.wait_for("confirm_0").await;
        browser.css("#confirm_0").await.click().await.unwrap();
        browser.css(".actions button:not(.secondary)").await.click().await.unwrap();
        let heading = l("This cannot be done", "Non è possibile procedere");
        let says = l(
            "Northwind Traders has already accepted the Microsoft Customer Agreement",
            "Northwind Traders ha già accettato il Contratto del cliente Microsoft",
        );
        check(&browser, backend, locale, "refused", Seen { heading, says, form: false }).await;

        // Lapsed: the inviting reseller is no longer active when the customer accepts.
        let lapsing = partner(&t, PartnerKind::IndirectReseller, "Tailspin Toys S.p.A.").await;
        let id = invite(&t, lapsing, &format!("lapsed-{locale}.example"), locale).await;
        let url = link(&t, id, "accept").await;
        let change = DirectoryChange::SetPartnerStatus { id: lapsing, status: PartnerStatus::PendingAgreement };
        t.engine()
            .store()
            .change_directory(&change, &accord::directory::Actor::system("t"), t.clock.now())
            .await
            .unwrap();
        t.post(&url, &[("confirm_0", "on")]).await;
        let heading = l("This can no longer be done", "Non è più possibile procedere");
        let says = l(
            "Tailspin Toys S.p.A. is no longer an active partner",
            "Tailspin Toys S.p.A. non è più un partner attivo",
        );
        look(&browser, backend, locale, "lapsed", &url, Seen { heading, says, form: false }).await;

        // Still waiting, to be opened once its link has expired (below).
        let mut input = crate::enrollment::enrollment_input();
        input["primary_contact"]["locale"] = json!(locale);
        input["company"]["legal_name"] = json!(format!("Contoso late {locale}"));
        let request = StartRequest { workflow: "enrollment".into(), input, idempotency_key: None, actor: "t".into() };
        let id = t.engine().start(request).await.unwrap().instance.id;
        waiting.push((locale, link(&t, id, "verify").await));
    }

    t.clock.advance(Duration::from_secs(8 * 24 * 3600));
    for (locale, url) in waiting {
        let heading = english("This link has expired", "Questo link è scaduto", locale);
        let says = english("Send me a new link", "Inviami un nuovo link", locale);
        look(&browser, backend, locale, "expired-link", &url, Seen { heading, says, form: false }).await;
    }
    let unknown = format!("{}/l/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", t.base);
    let seen = Seen { heading: "Link not recognised", says: "copied the whole address", form: false };
    look(&browser, backend, "en", "unknown", &unknown, seen).await;
    browser.finish().await;
}
