//! Ending an instance cancels its unsent email (issue 16): drafts, queued emails and emails a
//! dispatcher claimed but has not handed over become `cancelled` in the transaction that ends the
//! instance; the final state's own notice still goes out. A cancelled email is listed and shown
//! as such, is never sent (even by a dispatcher that claimed it before the end), and releasing or
//! retrying an email of an ended instance is refused with `instance_finished`.

use accord::clock::Clock;
use accord::directory::PartnerKind;
use accord::store::{EmailStatus, Scope};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::customer::{invitation, partner, start};
use crate::helpers::{Backend, TestApp};

crate::on_each_store!(
    a_withdrawn_invitations_draft_is_cancelled_and_cannot_be_released,
    an_ended_instances_queued_email_is_cancelled_and_its_final_notice_sent,
    a_dispatcher_that_claimed_before_the_end_does_not_send,
    a_failed_email_of_an_ended_instance_cannot_be_retried,
    the_console_refuses_to_release_a_cancelled_draft,
);

/// Fails `email` as the dispatcher does when the server refuses it for good.
async fn fail(t: &TestApp, email: accord::ids::OutboxId) {
    let store = t.engine().store();
    let now = t.clock.now();
    let claimed = store.claim_due_emails(now, now.plus(std::time::Duration::from_secs(30)), 10).await.unwrap();
    let claim = claimed.iter().find(|e| e.id == email).expect("the email is due");
    let finish = accord::store::EmailFinish {
        outbox: email,
        attempt: claim.attempts,
        at: now,
        outcome: accord::store::AttemptOutcome::Rejected,
        reply: "550 no such mailbox".into(),
        status: EmailStatus::Failed,
        next_attempt_at: now,
    };
    assert!(store.finish_email(&finish).await.unwrap());
}

/// The bug of issue 16: after `withdraw`, the invitation's draft could still be released and
/// was delivered, and the customer saw an accept form for a withdrawn request.
async fn a_withdrawn_invitations_draft_is_cancelled_and_cannot_be_released(backend: Backend) {
    let Some(mut t) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&t, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let id = t
        .engine()
        .start(start("customer_invitation", invitation(reseller, "northwind.example", "public", true)))
        .await
        .unwrap()
        .instance
        .id;
    let api = t.api(Scope::Pipeline).await;
    let drafts = api.get("/api/v1/emails?status=draft").await;
    let email = drafts["items"][0]["id"].as_str().unwrap().to_owned();

    let (status, body) =
        api.call(Method::POST, &format!("/api/v1/instances/{id}/events"), Some(json!({ "event": "withdraw" }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(t.state(id).await, "withdrawn");

    // Cancelled in the withdrawing transaction: listed and shown as such.
    assert!(api.get("/api/v1/emails?status=draft").await["items"].as_array().unwrap().is_empty());
    let cancelled = api.get("/api/v1/emails?status=cancelled").await;
    let listed: Vec<&str> = cancelled["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [email.as_str()], "{cancelled}");
    let shown = api.get(&format!("/api/v1/emails/{email}")).await;
    assert_eq!(shown["status"], "cancelled", "{shown}");
    assert!(shown.get("text").is_none(), "a cancelled email's body holds links: not shown: {shown}");

    let (status, body) = api.call(Method::POST, &format!("/api/v1/emails/{email}/release"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "instance_finished", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("has ended (withdrawn)") && message.contains("cannot be released"), "{message}");
    assert_eq!(t.dispatch().await, 0, "nothing is sent");
    t.no_more_mail();
    let (status, body) = api.call(Method::GET, "/api/v1/emails?status=cancelld", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_status")));
    assert!(body["error"]["message"].as_str().unwrap().contains("cancelled"), "the message lists the statuses: {body}");
}

async fn an_ended_instances_queued_email_is_cancelled_and_its_final_notice_sent(backend: Backend) {
    let Some(mut t) = TestApp::options(backend).smtp().spawn().await else { return };
    let request = accord::engine::StartRequest {
        workflow: "enrollment".into(),
        input: crate::enrollment::enrollment_input(),
        idempotency_key: None,
        actor: "test".into(),
    };
    let id = t.engine().start(request).await.unwrap().instance.id;
    let queued = t.engine().store().emails(id).await.unwrap();
    assert_eq!(queued.iter().map(|e| e.status).collect::<Vec<_>>(), [EmailStatus::Queued], "the verification email");

    // Nobody confirmed in time: the request expires before the dispatcher ran.
    t.send(id, "verification_expired", Value::Null).await.unwrap();
    assert_eq!(t.state(id).await, "expired");
    let emails = t.engine().store().emails(id).await.unwrap();
    let by_template: Vec<(&str, EmailStatus)> = emails.iter().map(|e| (e.template.as_str(), e.status)).collect();
    assert_eq!(
        by_template,
        [("verify_email", EmailStatus::Cancelled), ("status_expired", EmailStatus::Queued)],
        "the unsent verification is cancelled; the notice of the end goes out"
    );
    assert_eq!(t.dispatch().await, 1);
    let mail = t.next_mail().await;
    assert_eq!(mail.to, ["anna.rossi@contoso.it"]);
    assert!(!mail.text.contains("/l/"), "the one email sent is the notice, without a link: {}", mail.text);
    t.no_more_mail();
    let statuses: Vec<EmailStatus> = t.engine().store().emails(id).await.unwrap().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [EmailStatus::Cancelled, EmailStatus::Sent]);
}

/// A dispatcher claims a batch, then the instance ends before it sends this one: the claim no
/// longer holds, so the email is dropped instead of sent. Cancelled while the SMTP exchange ran,
/// an email the server took is recorded as sent: that is what happened.
async fn a_dispatcher_that_claimed_before_the_end_does_not_send(backend: Backend) {
    let Some(mut t) = TestApp::options(backend).smtp().spawn().await else { return };
    let store = t.engine().store().clone();
    let id = t.start_signup().await;
    let now = t.clock.now();
    let claimed = store.claim_due_emails(now, now.plus(std::time::Duration::from_secs(30)), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(store.email(claimed[0].id).await.unwrap().unwrap().status, EmailStatus::Sending);

    t.send(id, "withdraw", Value::Null).await.unwrap();
    assert_eq!(store.email(claimed[0].id).await.unwrap().unwrap().status, EmailStatus::Cancelled, "claimed, unsent");
    let dispatcher = t.app.dispatcher().unwrap();
    assert!(!dispatcher.send_claimed(claimed[0].clone()).await.unwrap(), "not delivered");
    t.no_more_mail();
    let email = store.email(claimed[0].id).await.unwrap().unwrap();
    assert_eq!((email.status, email.sent_at), (EmailStatus::Cancelled, None));
    assert!(store.attempts(id).await.unwrap().is_empty(), "no attempt was made");
    assert_eq!(t.dispatch().await, 0, "and no dispatcher takes it later");

    // The end lands while the server takes the message: the delivery is what is recorded.
    let id = t.start_signup().await;
    let now = t.clock.now();
    let claimed = store.claim_due_emails(now, now.plus(std::time::Duration::from_secs(30)), 10).await.unwrap();
    t.send(id, "withdraw", Value::Null).await.unwrap();
    let finish = accord::store::EmailFinish {
        outbox: claimed[0].id,
        attempt: claimed[0].attempts,
        at: t.clock.now(),
        outcome: accord::store::AttemptOutcome::Sent,
        reply: "250 OK".into(),
        status: EmailStatus::Sent,
        next_attempt_at: t.clock.now(),
    };
    assert!(store.finish_email(&finish).await.unwrap());
    assert_eq!(store.email(claimed[0].id).await.unwrap().unwrap().status, EmailStatus::Sent);
    // A failure, though, leaves it cancelled: it will not be tried again.
    let id = t.start_signup().await;
    let now = t.clock.now();
    let claimed = store.claim_due_emails(now, now.plus(std::time::Duration::from_secs(30)), 10).await.unwrap();
    t.send(id, "withdraw", Value::Null).await.unwrap();
    let deferred = accord::store::EmailFinish {
        outbox: claimed[0].id,
        attempt: claimed[0].attempts,
        outcome: accord::store::AttemptOutcome::Deferred,
        status: EmailStatus::Queued,
        ..finish
    };
    assert!(!store.finish_email(&deferred).await.unwrap());
    assert_eq!(store.email(claimed[0].id).await.unwrap().unwrap().status, EmailStatus::Cancelled);
}

async fn a_failed_email_of_an_ended_instance_cannot_be_retried(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    let admin = t.api(Scope::Admin).await;
    let id = t.start_signup().await;
    let email = t.engine().store().emails(id).await.unwrap()[0].id;
    fail(&t, email).await;
    t.send(id, "withdraw", Value::Null).await.unwrap();
    let failed = t.engine().store().email(email).await.unwrap().unwrap();
    assert_eq!(failed.status, EmailStatus::Failed, "a failure stays on record");
    let (status, body) = admin.call(Method::POST, &format!("/api/v1/emails/{email}/retry"), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("instance_finished")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cannot be retried"), "{body}");
    assert_eq!(t.engine().store().email(email).await.unwrap().unwrap().status, EmailStatus::Failed);

    // The final state's own notice, failed, may be retried: it tells of the end.
    let request = accord::engine::StartRequest {
        workflow: "enrollment".into(),
        input: crate::enrollment::enrollment_input(),
        idempotency_key: None,
        actor: "test".into(),
    };
    let id = t.engine().start(request).await.unwrap().instance.id;
    t.send(id, "verification_expired", Value::Null).await.unwrap();
    let notice = t.engine().store().emails(id).await.unwrap().pop().unwrap();
    assert_eq!(notice.template.as_str(), "status_expired");
    fail(&t, notice.id).await;
    let (status, body) = admin.call(Method::POST, &format!("/api/v1/emails/{}/retry", notice.id), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "queued");
    // And a queued email is not failed.
    let (status, body) = admin.call(Method::POST, &format!("/api/v1/emails/{}/retry", notice.id), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("email_not_failed")), "{body}");
}

async fn the_console_refuses_to_release_a_cancelled_draft(backend: Backend) {
    use reqwest::header::{COOKIE, SET_COOKIE};
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    let reseller = partner(&t, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let id = t
        .engine()
        .start(start("customer_invitation", invitation(reseller, "northwind.example", "public", true)))
        .await
        .unwrap()
        .instance
        .id;
    let email = t.engine().store().emails(id).await.unwrap()[0].id;
    t.send(id, "withdraw", Value::Null).await.unwrap();
    let key = accord::keys::create_operator(t.engine().store().as_ref(), Scope::Admin, "marco", t.clock.now())
        .await
        .unwrap()
        .0;
    let response = t.console_sign_in(&key).await;
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = t.client.get(format!("{}/console/emails/{email}", t.base)).header(COOKIE, &cookie).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("cancelled"), "the email's view shows its status: {html}");
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let release = format!("{}/console/emails/{email}/release", t.base);
    let response =
        t.client.post(&release).header(COOKIE, &cookie).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains("has ended (withdrawn)") && html.contains("cannot be released"), "{html}");
    assert_eq!(t.engine().store().email(email).await.unwrap().unwrap().status, EmailStatus::Cancelled);
}
