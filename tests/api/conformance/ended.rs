//! A step that ends its instance (`Step::cancel_unsent`) cancels, in its transaction, the emails
//! earlier steps left unsent (drafts, queued, claimed but not handed over), and no other: its own
//! emails are queued as usual. On PostgreSQL a step without directory work is written by
//! `accord_write_step` and one with directory work by the shared transaction: both are run here,
//! and must leave the same rows.

use accord::clock::Clock;
use accord::directory::PartnerKind;
use accord::engine::transition::Precondition;
use accord::ids::{EventId, InstanceId, OutboxId};
use accord::store::{Commit, DirectoryStep, EmailRecord, EmailStatus, InstanceStatus, Step};

use crate::helpers::{spawn_app, Backend, TestApp};

crate::on_each_store!(both_write_paths_cancel_what_an_ended_instance_left_unsent);

/// A step of instance `id` at `version`, to `state`, queueing `emails`.
async fn step(
    t: &TestApp,
    id: InstanceId,
    version: i64,
    state: &str,
    status: InstanceStatus,
    emails: Vec<EmailRecord>,
    directory: Vec<DirectoryStep>,
) -> Commit {
    let view = t.engine().view(id).await.unwrap();
    let mut history = view.history[0].clone();
    history.id = EventId::generate();
    history.seq = version + 1;
    history.event = "withdraw".parse().unwrap();
    history.from_state = Some(view.instance.state.clone());
    history.to_state = state.parse().unwrap();
    history.idempotency_key = format!("step-{version}");
    Commit {
        instance: id,
        expected_version: version,
        state: state.parse().unwrap(),
        status,
        context: view.instance.context.clone(),
        at: t.clock.now(),
        step: Step {
            cancel_unsent: status == InstanceStatus::Finished,
            history,
            cancel_armed_timers: true,
            fired_timer: None,
            arm: vec![],
            emails,
            links: vec![],
            supersede: vec![],
            used_link: None,
            directory,
        },
    }
}

/// A copy of `email` as a new row of step `seq`, in `status`, due an hour after it.
fn another(email: &EmailRecord, seq: i64, status: EmailStatus) -> EmailRecord {
    let next_attempt_at = email.next_attempt_at.plus(std::time::Duration::from_secs(3600));
    EmailRecord { id: OutboxId::generate(), history_seq: seq, status, next_attempt_at, ..email.clone() }
}

/// The statuses of an instance's emails, in the order they were made: verify (claimed), a
/// draft, a queued one, the ending step's own.
async fn after_the_end(t: &TestApp, directory: Vec<DirectoryStep>) -> Vec<EmailStatus> {
    let store = t.engine().store().clone();
    let id = t.start_signup().await;
    let first = store.emails(id).await.unwrap().remove(0);
    let middle = step(
        t,
        id,
        1,
        "awaiting_verification",
        InstanceStatus::Active,
        vec![another(&first, 2, EmailStatus::Draft), another(&first, 2, EmailStatus::Queued)],
        vec![],
    )
    .await;
    store.commit(&middle).await.unwrap();
    // A dispatcher claims the oldest due email (the verification) and has not sent it yet.
    let now = t.clock.now();
    let claimed = store.claim_due_emails(now, now.plus(std::time::Duration::from_secs(30)), 1).await.unwrap();
    assert_eq!(claimed.iter().map(|e| e.id).collect::<Vec<_>>(), [first.id]);
    let end =
        step(t, id, 2, "withdrawn", InstanceStatus::Finished, vec![another(&first, 3, EmailStatus::Queued)], directory)
            .await;
    store.commit(&end).await.unwrap();
    store.emails(id).await.unwrap().iter().map(|e| e.status).collect()
}

async fn both_write_paths_cancel_what_an_ended_instance_left_unsent(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let expected = [EmailStatus::Cancelled, EmailStatus::Cancelled, EmailStatus::Cancelled, EmailStatus::Queued];
    // Without directory work: `accord_write_step` on PostgreSQL.
    assert_eq!(after_the_end(&t, vec![]).await, expected);
    // With directory work (a precondition that holds): the shared transaction.
    let partner = crate::customer::partner(&t, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let holds = Precondition::PartnerActive {
        partner,
        kind: PartnerKind::IndirectReseller,
        name: "Contoso Italia S.r.l.".into(),
    };
    assert_eq!(after_the_end(&t, vec![DirectoryStep::Require(holds)]).await, expected);

    // A step that does not end the instance cancels nothing.
    let store = t.engine().store().clone();
    let id = t.start_signup().await;
    let first = store.emails(id).await.unwrap().remove(0);
    let mut moving = step(&t, id, 1, "withdrawn", InstanceStatus::Finished, vec![], vec![]).await;
    moving.step.cancel_unsent = false;
    store.commit(&moving).await.unwrap();
    assert_eq!(store.email(first.id).await.unwrap().unwrap().status, EmailStatus::Queued);
}
