//! The outbox (`OutboxStore`): claims under a lease with fencing numbers, drafts, retries.

use accord::clock::Clock;
use accord::store::{AttemptOutcome, EmailFinish, EmailStatus};
use serde_json::json;

use crate::helpers::{signup_request, spawn_app, Backend};

crate::on_each_store!(
    concurrent_dispatchers_claim_disjoint_emails_and_a_lapsed_claim_is_fenced,
    only_a_failed_email_is_retried_and_only_a_draft_is_edited_or_released,
);

async fn concurrent_dispatchers_claim_disjoint_emails_and_a_lapsed_claim_is_fenced(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    for _ in 0..40 {
        t.engine().start(signup_request()).await.unwrap();
    }
    let store = t.engine().store().clone();
    let now = t.clock.now();
    let lease = now.plus(std::time::Duration::from_secs(120));
    // Four dispatchers claim at once, in small batches, until nothing is left.
    let claimers = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due_emails(now, lease, 3).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|e| (e.id, e.attempts)));
            }
        })
    });
    let mut claimed: Vec<_> = futures::future::join_all(claimers).await.into_iter().flat_map(|r| r.unwrap()).collect();
    assert_eq!(claimed.len(), 40, "every email claimed once");
    assert!(claimed.iter().all(|(_, attempt)| *attempt == 1));
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), 40, "no email claimed twice");
    assert!(store.claim_due_emails(now, lease, 100).await.unwrap().is_empty(), "claimed emails are leased");

    // The lease lapses: another dispatcher takes the email over, and the first one's completion
    // no longer counts.
    let later = lease.plus(std::time::Duration::from_secs(1));
    let retaken = store.claim_due_emails(later, later.plus(std::time::Duration::from_secs(120)), 1).await.unwrap();
    assert_eq!(retaken.len(), 1);
    assert_eq!(retaken[0].attempts, 2, "the new claim has a new fencing number");
    let finish = |attempt| EmailFinish {
        outbox: retaken[0].id,
        attempt,
        at: later,
        outcome: AttemptOutcome::Sent,
        reply: "250 ok".into(),
        status: EmailStatus::Sent,
        next_attempt_at: later,
    };
    assert!(!store.finish_email(&finish(1)).await.unwrap(), "the lapsed claim cannot complete");
    assert!(store.finish_email(&finish(2)).await.unwrap());
}

async fn only_a_failed_email_is_retried_and_only_a_draft_is_edited_or_released(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let store = t.engine().store().clone();
    let id = t.engine().start(signup_request()).await.unwrap().instance.id;
    let email = store.emails(id).await.unwrap().remove(0);
    assert_eq!(email.status, EmailStatus::Queued);
    let now = t.clock.now();

    assert!(!store.retry_email(email.id, now).await.unwrap(), "a queued email is not failed");
    assert!(!store.update_draft(email.id, "Other", "other", None).await.unwrap(), "a queued email is no draft");
    assert!(!store.release_draft(email.id, now).await.unwrap(), "a queued email is no draft");
    let unchanged = store.email(email.id).await.unwrap().unwrap();
    assert_eq!((unchanged.subject.as_str(), unchanged.status), (email.subject.as_str(), EmailStatus::Queued));

    let claim = store.claim_due_emails(now, now.plus(std::time::Duration::from_secs(60)), 1).await.unwrap();
    assert_eq!(claim.len(), 1);
    let failed = EmailFinish {
        outbox: email.id,
        attempt: claim[0].attempts,
        at: now,
        outcome: AttemptOutcome::Rejected,
        reply: "550 no such user".into(),
        status: EmailStatus::Failed,
        next_attempt_at: now,
    };
    assert!(store.finish_email(&failed).await.unwrap());
    assert_eq!(store.emails_by_status(EmailStatus::Failed, 10, None).await.unwrap().len(), 1);
    assert!(store.retry_email(email.id, now).await.unwrap(), "a failed email goes back to the queue");
    assert!(!store.retry_email(email.id, now).await.unwrap(), "once");
    let requeued = store.email(email.id).await.unwrap().unwrap();
    assert_eq!(requeued.status, EmailStatus::Queued);
    let attempts = store.attempts(id).await.unwrap();
    assert_eq!(attempts.len(), 1, "the failed attempt stays on record: {attempts:?}");
    assert_eq!(json!(attempts[0].reply), json!("550 no such user"));
}
