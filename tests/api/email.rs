//! Render -> send -> click -> move forward, through a real SMTP server (mailcrab, in process)
//! and real HTTP, on each store.

use std::time::Duration;

use accord::clock::Clock;
use accord::store::{AttemptOutcome, EmailStatus};
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{links_in, spawn_app, Backend, TestApp};

crate::on_each_store!(
    the_verification_email_arrives_with_both_parts_and_a_stable_message_id,
    a_get_changes_nothing_a_post_advances_and_a_second_post_shows_the_outcome,
    expired_superseded_and_unknown_links_get_their_own_pages,
    mail_waits_for_an_absent_smtp_server_and_arrives_once_it_is_back,
    a_permanent_rejection_is_kept_with_the_reply_and_can_be_retried,
    a_draft_is_held_edited_without_losing_its_link_and_sent_on_release,
    a_link_action_may_keep_older_links_working,
    the_contact_answers_a_reviewers_question_on_the_link_page,
);

async fn the_contact_answers_a_reviewers_question_on_the_link_page(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let id = m.start_signup().await;
    m.send(id, "verify", serde_json::json!(null)).await.unwrap();
    let question = "Please send the company's VAT number.";
    m.send(id, "request_info", serde_json::json!({ "message": question })).await.unwrap();
    assert_eq!(m.dispatch().await, 3);
    let mut request = None;
    for _ in 0..3 {
        let mail = m.next_mail().await;
        if mail.subject.ends_with("the reviewer has a question") {
            request = Some(mail);
        }
    }
    let request = request.expect("the question is mailed to the contact");
    assert!(request.text.contains(question), "{}", request.text);
    let answer = m.link_titled(&request, "Rispondi al revisore").await;
    let (status, page) = m.get(&answer).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<label for=\"answer\">La tua risposta</label>") && page.contains("<textarea id=\"answer\""),
        "{page}"
    );

    // A NUL in the answer box (a page anyone with the link may post to) is refused with the
    // form again, never stored: PostgreSQL would refuse it with a 500.
    let (status, page) = m.post(&answer, &[("answer", "IT0123\u{0}4567")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("La tua risposta (senza caratteri di controllo)"), "said in Italian: {page}");
    assert_eq!(m.state(id).await, "awaiting_information");

    let (status, page) = m.post(&answer, &[("answer", "   ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("<li>La tua risposta</li>"), "a blank answer is refused: {page}");
    assert_eq!(m.state(id).await, "awaiting_information");

    let (status, page) = m.post(&answer, &[("answer", "IT01234567890")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let view = m.engine().view(id).await.unwrap();
    assert_eq!(view.instance.state.as_str(), "in_review");
    assert_eq!(view.instance.context.0["answer"]["answer"], "IT01234567890");
    assert_eq!(view.instance.context.0["request_info"]["message"], question);
}

async fn a_link_action_may_keep_older_links_working(backend: Backend) {
    let files = tempfile::tempdir().unwrap();
    let (workflows, templates) = crate::helpers::copy_definitions(files.path());
    let file = workflows.join("example_signup.toml");
    let source = std::fs::read_to_string(&file).unwrap();
    let edited = source.replace("[links.not_me]\n", "[links.not_me]\nsupersede = false\n");
    assert_ne!(source, edited);
    std::fs::write(&file, edited).unwrap();
    let Some(mut m) = TestApp::options(backend).smtp().definitions(&workflows, &templates).spawn().await else {
        return;
    };
    let id = m.start_signup().await;
    m.dispatch().await;
    let first = m.next_mail().await;
    let first_verify = m.link_titled(&first, "Conferma il tuo indirizzo email").await;
    let first_not_me = m.link_titled(&first, "Non sono stato io").await;
    m.clock.advance(Duration::from_secs(2 * 86_400 + 1));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    m.dispatch().await;
    let _reminder = m.next_mail().await;
    assert_eq!(m.get(&first_verify).await.0, StatusCode::GONE, "verify supersedes by default");
    let (status, page) = m.post(&first_not_me, &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(m.state(id).await, "withdrawn");
}

async fn the_verification_email_arrives_with_both_parts_and_a_stable_message_id(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let id = m.start_signup().await;
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert_eq!(mail.to, ["anna.rossi@contoso.it"]);
    assert_eq!(mail.subject, "Confirm your email address for Contoso Italia");
    assert!(mail.text.starts_with("Hello Anna Rossi,"), "{}", mail.text);
    let text_links = links_in(&mail.text, &m.base);
    assert_eq!(text_links.len(), 2, "{}", mail.text);
    assert!(mail.html.contains(&format!("href=\"{}\"", text_links[0])), "{}", mail.html);
    let view = m.engine().view(id).await.unwrap();
    assert_eq!(view.emails[0].status, EmailStatus::Sent);
    assert_eq!(format!("<{}>", mail.message_id), view.emails[0].message_id);
    assert_eq!(view.emails[0].locale, "en", "no Italian version yet: the default");
    assert_eq!(view.attempts.len(), 1);
    assert_eq!(view.attempts[0].outcome, AttemptOutcome::Sent);
    assert_eq!(m.dispatch().await, 0, "a sent email is not sent again");
    m.no_more_mail();

    m.clock.advance(Duration::from_secs(2 * 86_400 + 30));
    let (status, metrics) = m.get(&format!("{}/metrics", m.base)).await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "accord_transitions_total{workflow=\"example_signup\"} 1",
        "accord_email_attempts_total{outcome=\"sent\"} 1",
        "accord_outbox_emails{status=\"sent\"} 1",
        "accord_outbox_emails{status=\"queued\"} 0",
        "accord_outbox_oldest_pending_age_seconds 0.0",
        "accord_timer_lag_seconds 30.0",
        "accord_armed_timers 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing from:\n{metrics}");
    }
}

async fn a_get_changes_nothing_a_post_advances_and_a_second_post_shows_the_outcome(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let id = m.start_signup().await;
    m.dispatch().await;
    let mail = m.next_mail().await;
    // The contact's locale is it-CH: the page comes in Italian.
    let verify = m.link_titled(&mail, "Conferma il tuo indirizzo email").await;

    // Prefetching (a mail scanner) any number of times changes nothing.
    for _ in 0..3 {
        let (status, page) = m.get(&verify).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("name=\"confirm_0\""), "{page}");
    }
    let before = m.engine().view(id).await.unwrap();
    assert_eq!((before.instance.version, before.history.len()), (1, 1));

    // The checkbox is enforced on the server.
    let (status, page) = m.post(&verify, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Per continuare, completa:") && page.contains("<li>Ho registrato io questa azienda</li>"),
        "{page}"
    );
    assert!(page.contains("<html lang=\"it\">"), "{page}");
    assert_eq!(m.state(id).await, "awaiting_verification");

    let (status, page) = m.post(&verify, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Fatto</h1>") && page.contains("in review"), "{page}");
    assert_eq!(m.state(id).await, "in_review");

    let (status, page) = m.post(&verify, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Operazione già eseguita</h1>") && page.contains("in review"), "{page}");
    let history = m.engine().store().history(id).await.unwrap();
    assert_eq!(history.iter().filter(|h| h.event.as_str() == "verify").count(), 1);
    assert_eq!(history[1].origin, accord::store::Origin::Link);

    // The status email follows the transition.
    m.dispatch().await;
    let status_mail = m.next_mail().await;
    assert_eq!(status_mail.subject, "Contoso Italia: your sign-up is in review");
}

async fn expired_superseded_and_unknown_links_get_their_own_pages(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let id = m.start_signup().await;
    m.dispatch().await;
    let first = m.next_mail().await;
    let first_verify = m.link_titled(&first, "Conferma il tuo indirizzo email").await;

    // Two days on, the reminder goes out with fresh links that replace the first ones.
    m.clock.advance(Duration::from_secs(2 * 86_400 + 1));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    m.dispatch().await;
    let reminder = m.next_mail().await;
    assert!(reminder.subject.starts_with("Reminder:"), "{}", reminder.subject);
    let (status, page) = m.get(&first_verify).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("Questo link è stato sostituito"), "{page}");
    let (status, _) = m.post(&first_verify, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(m.state(id).await, "awaiting_verification");

    let fresh = m.link_titled(&reminder, "Conferma il tuo indirizzo email").await;
    m.clock.advance(Duration::from_secs(8 * 86_400));
    let (status, page) = m.get(&fresh).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("Questo link è scaduto"), "{page}");
    let (status, _) = m.post(&fresh, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(m.state(id).await, "awaiting_verification");

    // "Send me a new link": the same email again, with fresh links; asking twice sends one.
    let token = fresh.rsplit('/').next().unwrap();
    assert!(page.contains(&format!("action=\"{token}/resend\"")), "{page}");
    let (status, page) = m.post(&format!("{fresh}/resend"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Nuovo link in arrivo"), "{page}");
    let (_, again) = m.post(&format!("{fresh}/resend"), &[]).await;
    assert!(again.contains("Nuovo link in arrivo"), "{again}");
    assert_eq!(m.dispatch().await, 1, "one new email, however often the button is pressed");
    let resent = m.next_mail().await;
    let renewed = m.link_titled(&resent, "Conferma il tuo indirizzo email").await;
    assert_ne!(renewed, fresh);
    let (status, _) = m.post(&renewed, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.state(id).await, "in_review");
    let history = m.engine().store().history(id).await.unwrap();
    assert_eq!(history.iter().filter(|h| h.event.as_str() == "link_resent").count(), 1);

    let (status, page) = m.get(&format!("{}/l/{}", m.base, "A".repeat(43))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("Link not recognised"), "{page}");
    let (status, _) = m.get(&format!("{}/l/short", m.base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn mail_waits_for_an_absent_smtp_server_and_arrives_once_it_is_back(backend: Backend) {
    let Some(mut m) = spawn_app(backend).await else { return };
    let id = m.start_signup().await;
    assert_eq!(m.dispatch().await, 0, "nothing listens on the SMTP port yet");
    m.clock.advance(Duration::from_secs(3600));
    assert_eq!(m.dispatch().await, 0);
    let view = m.engine().view(id).await.unwrap();
    let email = &view.emails[0];
    assert_eq!((email.status, email.attempts), (EmailStatus::Queued, 2));
    assert!(email.last_reply.as_deref().unwrap_or_default().to_lowercase().contains("connection refused"), "{email:?}");
    assert!(email.next_attempt_at > m.clock.now(), "the next try waits (backoff)");
    assert!(view.attempts.iter().all(|a| a.outcome == AttemptOutcome::Deferred));

    m.start_smtp().await;
    m.clock.advance(Duration::from_secs(3600));
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert_eq!(mail.to, ["anna.rossi@contoso.it"]);
    assert_eq!(m.dispatch().await, 0);
    m.no_more_mail();
    let view = m.engine().view(id).await.unwrap();
    assert_eq!((view.emails[0].status, view.emails[0].attempts), (EmailStatus::Sent, 3));
}

/// An SMTP server that refuses every recipient with 550.
pub async fn refusing_smtp_server(port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 refuser ready\r\n").await.ok();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 refuser\r\n",
                        "RCPT" => b"550 5.1.1 mailbox unavailable\r\n",
                        "QUIT" => b"221 bye\r\n",
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.ok();
                    if verb == "QUIT" {
                        break;
                    }
                }
            });
        }
    });
}

async fn a_permanent_rejection_is_kept_with_the_reply_and_can_be_retried(backend: Backend) {
    let Some(m) = spawn_app(backend).await else { return };
    refusing_smtp_server(m.smtp_port).await;
    let id = m.start_signup().await;
    assert_eq!(m.dispatch().await, 0);
    m.clock.advance(Duration::from_secs(86_400));
    assert_eq!(m.dispatch().await, 0, "a permanent failure is not retried by itself");

    let key =
        accord::keys::create_operator(m.engine().store().as_ref(), accord::store::Scope::Admin, "ops", m.clock.now())
            .await
            .unwrap()
            .0;
    let view: serde_json::Value = m
        .client
        .get(format!("{}/api/v1/instances/{id}", m.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["emails"][0]["status"], "failed");
    assert_eq!(view["emails"][0]["attempts"], 1);
    assert!(view["emails"][0]["last_reply"].as_str().unwrap().contains("550"), "{view}");
    assert_eq!(view["attempts"][0]["outcome"], "rejected");
    assert!(view["emails"][0].get("text_body").is_none(), "bodies with personalised links stay private");

    let email_id = view["emails"][0]["id"].as_str().unwrap();
    let retry =
        m.client.post(format!("{}/api/v1/emails/{email_id}/retry", m.base)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    let again =
        m.client.post(format!("{}/api/v1/emails/{email_id}/retry", m.base)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT, "only a failed email can be retried");
    assert_eq!(m.dispatch().await, 0);
    let view = m.engine().view(id).await.unwrap();
    assert_eq!((view.emails[0].status, view.attempts.len()), (EmailStatus::Failed, 2));
}

const INVITE: &str = r#"
name = "invite"
initial = "invited"

[[input]]
field = "customer.name"
type = "string"

[[input]]
field = "customer.email"
type = "email"

[parties.customer]
email = "customer.email"

[events]
accept = "link"
expire = "timer"

[links.accept]
event = "accept"
party = "customer"
expires = "30d"
title = "Accept the invitation"
button = "Accept & authorize"
confirm = ["I have read the agreement"]

[states.invited]
emails = [{ template = "invitation", to = "customer", links = ["accept"], draft = true }]
timers = [{ name = "expiry", after = "30d", event = "expire" }]
on.accept = { to = "accepted" }
on.expire = { to = "expired" }

[states.accepted]
final = true

[states.expired]
final = true
"#;

async fn a_draft_is_held_edited_without_losing_its_link_and_sent_on_release(backend: Backend) {
    let files = tempfile::tempdir().unwrap();
    let (workflows, templates) = crate::helpers::copy_definitions(files.path());
    std::fs::write(workflows.join("invite.toml"), INVITE).unwrap();
    let dir = templates.join("email/invite");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("invitation.subject.tera"), "An invitation for {{ customer.name }}").unwrap();
    std::fs::write(dir.join("invitation.txt.tera"), "Hello {{ customer.name }},\n\nAccept here: {{ links.accept }}\n")
        .unwrap();
    std::fs::write(
        dir.join("invitation.html.tera"),
        "<p>Hello {{ customer.name }}, <a href=\"{{ links.accept }}\">accept</a></p>",
    )
    .unwrap();
    let Some(mut m) = TestApp::options(backend).smtp().definitions(&workflows, &templates).spawn().await else {
        return;
    };
    let input = serde_json::json!({ "customer": { "name": "Fabrikam", "email": "it@fabrikam.example" } });
    let request =
        accord::engine::StartRequest { workflow: "invite".into(), input, idempotency_key: None, actor: "test".into() };
    let id = m.engine().start(request).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 0, "a draft is not sent");

    let key = accord::keys::create_operator(
        m.engine().store().as_ref(),
        accord::store::Scope::Pipeline,
        "crm",
        m.clock.now(),
    )
    .await
    .unwrap()
    .0;
    let api = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut request = m.client.request(method, format!("{}{path}", m.base)).bearer_auth(&key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<serde_json::Value>().await.unwrap())
        }
    };
    use reqwest::Method;
    let (status, list) = api(Method::GET, "/api/v1/emails?status=draft".into(), None).await;
    assert_eq!(status, StatusCode::OK);
    let email_id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, draft) = api(Method::GET, format!("/api/v1/emails/{email_id}"), None).await;
    let text = draft["text"].as_str().unwrap().to_owned();
    let html = draft["html"].as_str().unwrap().to_owned();
    let link = links_in(&text, &m.base).pop().unwrap();

    let path = format!("/api/v1/emails/{email_id}");
    let (status, body) =
        api(Method::PATCH, path.clone(), Some(serde_json::json!({ "text": "Hello, please call us." }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!((body["error"]["code"].as_str(), body["error"]["field"].as_str()), (Some("link_changed"), Some("text")));
    assert!(body["error"]["message"].as_str().unwrap().contains("`accept`"), "{body}");
    let altered = text.replace(&link, &format!("{}x", &link[..link.len() - 1]));
    let (status, _) = api(Method::PATCH, path.clone(), Some(serde_json::json!({ "text": altered }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an altered token is refused too");
    let (status, body) = api(Method::PATCH, path.clone(), Some(serde_json::json!({ "html": "<p>no link</p>" }))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("html")));

    let edited = format!("Dear Fabrikam team,\n\nWe look forward to working with you. Accept here: {link}\n");
    let body = serde_json::json!({ "subject": "Our partnership invitation", "text": edited, "html": html });
    let (status, saved) = api(Method::PATCH, path.clone(), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["subject"], "Our partnership invitation");
    assert_eq!(m.dispatch().await, 0, "still a draft until released");

    let (status, released) = api(Method::POST, format!("{path}/release"), None).await;
    assert_eq!((status, released["status"].as_str()), (StatusCode::OK, Some("queued")));
    let (status, body) = api(Method::PATCH, path.clone(), Some(serde_json::json!({ "subject": "late" }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("not_a_draft")));

    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert_eq!(mail.subject, "Our partnership invitation");
    assert!(mail.text.starts_with("Dear Fabrikam team,"), "{}", mail.text);
    let (status, page) = m.get(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<html lang=\"en\">") && page.contains("<button type=\"submit\">Accept &amp; authorize</button>"),
        "{page}"
    );
    let (status, page) = m.post(&link, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<h1>Done</h1>"), "no locale: the English page: {page}");
    assert_eq!(m.state(id).await, "accepted");
}
