//! What a recipient's mail client receives: one `multipart/alternative` message with
//! `MIME-Version`, a text part and an HTML part from one source, the recipient's name on `To`,
//! the reseller's sending user on `Reply-To`, deadlines as dates in the recipient's language and
//! zone; an edited draft's HTML part rebuilt from its text; reminders and follow-ups that say
//! what happened; the overdue review linking to the console.

use std::time::Duration;

use accord::clock::Clock;
use accord::directory::{NewPartner, NewUser, PartnerKind, PartnerStatus, Role};
use accord::engine::{EventRequest, StartRequest};
use accord::store::Origin;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{links_in, Backend, TestApp};

crate::on_each_store!(
    a_customer_invitation_is_multipart_named_replies_to_its_sender_and_dated_in_rome,
    an_edited_draft_sends_an_html_part_rebuilt_from_its_text,
    reminders_and_the_review_emails_say_what_happened,
);

const SENDER: &str = "marco.rossi@contoso.example";

/// An active reseller whose global admin, Marco Rossi, sends invitations.
async fn reseller(t: &TestApp) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let partner = NewPartner {
        id,
        kind: PartnerKind::IndirectReseller,
        legal_name: "Contoso Italia S.r.l.".into(),
        country: "IT".into(),
        mpn_id: "7654321".into(),
        tenant_domain: "contoso.example".into(),
        status: PartnerStatus::Active,
        served_countries: vec!["IT".into()],
        users: vec![NewUser { email: SENDER.into(), name: "Marco Rossi".into(), roles: vec![Role::GlobalAdmin] }],
    };
    t.engine()
        .store()
        .create_partner(&partner, &accord::directory::Actor::system("test"), t.clock.now())
        .await
        .unwrap();
    id
}

fn invitation(reseller: uuid::Uuid) -> StartRequest {
    let input = json!({
        "reseller": { "id": reseller.to_string() },
        "sender": { "email": SENDER },
        "customer": { "name": "Northwind <Traders> *S.p.A.*", "domain": "northwind.example", "country": "IT",
                      "contact": "Giulia Bianchi", "email": "giulia@northwind.example", "locale": "it" },
        "dap": true,
    });
    StartRequest { workflow: "customer_invitation".into(), input, idempotency_key: None, actor: "test".into() }
}

/// The value of header `name` in a raw message (unfolded).
fn header(raw: &str, name: &str) -> String {
    let head = raw.split("\r\n\r\n").next().unwrap_or_default().replace("\r\n ", " ").replace("\r\n\t", " ");
    head.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in:\n{head}"))
        .to_owned()
}

fn assert_no_uuid(part: &str) {
    let uuid = regex_lite_uuid(part);
    assert!(uuid.is_none(), "a raw id {uuid:?} in:\n{part}");
}

/// The first UUID-shaped word of `text`, if any.
fn regex_lite_uuid(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|word| uuid::Uuid::parse_str(word).is_ok() && word.len() == 36)
        .map(str::to_owned)
}

async fn a_customer_invitation_is_multipart_named_replies_to_its_sender_and_dated_in_rome(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = reseller(&m).await;
    m.engine().start(invitation(reseller)).await.unwrap();
    let api = m.api(accord::store::Scope::Pipeline).await;
    assert_eq!(api.release_drafts().await, 1);
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;

    assert_eq!(header(&mail.raw, "MIME-Version"), "1.0");
    assert!(header(&mail.raw, "Content-Type").starts_with("multipart/alternative"), "{}", mail.raw);
    assert_eq!(header(&mail.raw, "To"), "\"Giulia Bianchi\" <giulia@northwind.example>");
    assert_eq!(header(&mail.raw, "Reply-To"), "\"Marco Rossi\" <marco.rossi@contoso.example>");
    assert_eq!(header(&mail.raw, "From"), "Accord <accord@localhost>", "the configured sender");

    // The link expires 30 days after 2026-03-02 09:00 UTC: 11:00 in Rome, on summer time by then.
    let date = "mercoledì 1 aprile 2026, ore 11:00 CEST";
    assert!(mail.text.contains(date), "the Italian date in Rome's time: {}", mail.text);
    assert!(mail.html.contains(date), "{}", mail.html);
    // One source: each paragraph is one line in the text part, and both parts say the same.
    let paragraph = mail.text.lines().find(|l| l.contains("vorrebbe diventare il rivenditore")).unwrap();
    assert!(paragraph.contains("Microsoft Entra ID e Microsoft 365") && paragraph.ends_with("servizi."), "{paragraph}");
    assert!(!mail.text.contains("Azure Active Directory") && !mail.html.contains("Office 365"));
    let links = links_in(&mail.text, &m.base);
    assert_eq!(links.len(), 2, "accept and cancel: {}", mail.text);
    assert!(mail.text.contains(&format!("Apri l'invito: {}", links[0])), "a button is label and URL: {}", mail.text);
    assert!(mail.html.contains(&format!("href=\"{}\">Apri l&#39;invito</a>", links[0])), "{}", mail.html);
    assert!(mail.html.contains(&format!(">{}</a></p>", links[0])), "the plain URL beside the button: {}", mail.html);
    assert!(mail.html.contains("<html lang=\"it\""), "{}", mail.html);
    // A customer name with markup and Markdown stays text in both parts.
    assert!(mail.text.contains("Northwind <Traders> *S.p.A.*"), "{}", mail.text);
    assert!(mail.html.contains("Northwind &lt;Traders&gt; *S.p.A.*"), "{}", mail.html);
    assert!(!mail.html.contains("<Traders>") && !mail.html.contains("<em>S.p.A."), "{}", mail.html);
    for part in [&mail.text, &mail.html] {
        assert_no_uuid(part);
        assert!(!part.contains("{{"), "{part}");
    }
}

async fn an_edited_draft_sends_an_html_part_rebuilt_from_its_text(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = reseller(&m).await;
    m.engine().start(invitation(reseller)).await.unwrap();
    let api = m.api(accord::store::Scope::Pipeline).await;
    let drafts = api.get("/api/v1/emails?status=draft").await;
    let email = drafts["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/emails/{email}");
    let draft = api.get(&path).await;
    let before = draft["html"].as_str().unwrap().to_owned();
    assert!(before.contains("vorrebbe diventare"), "{before}");
    let links = links_in(draft["text"].as_str().unwrap(), &m.base);
    // The partner rewrites the text (the links kept) and sends the HTML back unchanged, as a form
    // with both fields does: the HTML part follows the new text.
    let text = format!(
        "Ciao Giulia, come d'accordo al telefono <oggi>:\n\nAccetta qui: {}\n\nOppure annulla: {}",
        links[0], links[1]
    );
    let (status, body) = api.call(Method::PATCH, &path, Some(json!({ "text": text, "html": before }))).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(api.release_drafts().await, 1);
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert!(mail.text.starts_with("Ciao Giulia, come d'accordo"), "{}", mail.text);
    assert!(mail.html.contains("Ciao Giulia, come d&#39;accordo al telefono &lt;oggi&gt;:"), "{}", mail.html);
    assert!(!mail.html.contains("vorrebbe diventare"), "the old HTML is not sent beside the new text: {}", mail.html);
    assert!(mail.html.contains(&format!("href=\"{}\">Accetta qui</a>", links[0])), "a button again: {}", mail.html);
    assert!(mail.html.contains("<html lang=\"it\""), "in the shared layout: {}", mail.html);

    // An edit of the HTML itself is kept as written.
    m.engine().start(invitation(reseller)).await.unwrap();
    let drafts = api.get("/api/v1/emails?status=draft").await;
    let email = drafts["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/emails/{email}");
    let draft = api.get(&path).await;
    let text = draft["text"].as_str().unwrap().to_owned();
    let links = links_in(&text, &m.base);
    let html = format!("<p>Ciao! <a href=\"{}\">Accetta</a> <a href=\"{}\">Annulla</a></p>", links[0], links[1]);
    let edit = json!({ "text": format!("Ciao!\n\n{text}"), "html": html });
    let (status, body) = api.call(Method::PATCH, &path, Some(edit)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(api.get(&path).await["html"], json!(html));
}

fn enrollment(locale: &str) -> StartRequest {
    let mut input = crate::enrollment::enrollment_input();
    input["primary_contact"]["locale"] = json!(locale);
    StartRequest { workflow: "enrollment".into(), input, idempotency_key: None, actor: "test".into() }
}

fn reviewer(event: &str, data: Value) -> EventRequest {
    EventRequest {
        event: event.into(),
        data,
        idempotency_key: None,
        origin: Origin::Reviewer,
        actor: "reviewer:giulia".into(),
    }
}

async fn reminders_and_the_review_emails_say_what_happened(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let id = m.engine().start(enrollment("en")).await.unwrap().instance.id;
    let first = m.deliver(1).await.pop().unwrap();
    assert_eq!(header(&first.raw, "To"), "\"Anna Rossi\" <anna.rossi@contoso.it>");
    // 7 days after 2026-03-02 09:00 UTC, in the company's country (Italy), in English.
    assert!(first.text.contains("Please confirm by Monday 9 March 2026, 10:00 CET"), "{}", first.text);

    m.clock.advance(Duration::from_secs(2 * 86_400 + 1));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    let reminder = m.deliver(1).await.pop().unwrap();
    assert!(reminder.subject.starts_with("Reminder: "), "{}", reminder.subject);
    assert!(reminder.text.contains("This is a reminder"), "{}", reminder.text);
    // The expiry armed when the state was entered, not a new one.
    assert!(reminder.text.contains("expires on Monday 9 March 2026, 10:00 CET"), "{}", reminder.text);

    m.send(id, "verify", Value::Null).await.unwrap();
    let mails = m.deliver(1).await;
    let in_review = &mails[0];
    assert!(in_review.text.contains("Thank you for confirming your email address"), "{}", in_review.text);
    assert!(in_review.text.contains("by Monday 9 March 2026, 10:00 CET"), "{}", in_review.text);

    m.engine().apply(id, reviewer("request_info", json!({ "message": "Your VAT number, please." }))).await.unwrap();
    let request = m.deliver(1).await.pop().unwrap();
    let answer = m.link_titled(&request, "Answer the reviewer").await;
    let (status, page) = m.post(&answer, &[("answer", "IT01234567890")]).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{page}");
    let back = m.deliver(1).await.pop().unwrap();
    assert!(back.text.contains("Thank you for your answer"), "{}", back.text);
    assert!(!back.text.contains("confirming your email address"), "{}", back.text);

    m.clock.advance(Duration::from_secs(5 * 86_400 + 1));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    let overdue = m.deliver(1).await.pop().unwrap();
    let console = format!("{}/console/instances/{id}", m.base);
    assert!(overdue.text.contains(&format!("Open the enrollment in the console: {console}")), "{}", overdue.text);
    assert!(overdue.html.contains(&format!("href=\"{console}\"")), "{}", overdue.html);
    assert!(!overdue.text.contains("Instance:"), "{}", overdue.text);
}
