//! From a decision's effects to the rows one transaction writes: timers, and emails rendered in
//! the recipient's locale with freshly issued personalised links.

use serde_json::Value;
use sqlx::types::Json;

use super::{Decision, Effect, Engine, EngineError};
use crate::clock::Timestamp;
use crate::ids::{OutboxId, TimerId};
use crate::mail::links;
use crate::store::{
    DirectoryStep, EmailRecord, EmailStatus, HistoryRecord, LinkRecord, LinkStatus, Step, Superseded, TimerClaim,
    TimerRecord, TimerStatus,
};
use crate::workflow::{Definition, EmailSpec};

impl Engine {
    /// Turns a decision's effects into rows: timers, rendered emails and their links.
    pub(super) fn step_for(
        &self,
        definition: &Definition,
        history: HistoryRecord,
        decision: &Decision,
        fired_timer: Option<TimerClaim>,
        used_link: Option<String>,
        now: Timestamp,
    ) -> Result<Step, EngineError> {
        let mut step = Step {
            cancel_armed_timers: false,
            fired_timer,
            arm: Vec::new(),
            emails: Vec::new(),
            links: Vec::new(),
            supersede: Vec::new(),
            directory: Vec::new(),
            used_link,
            // Ending the instance cancels what earlier steps left unsent: a withdrawn
            // invitation's draft must not be released, nor a queued reminder delivered.
            cancel_unsent: decision.status == crate::store::InstanceStatus::Finished,
            history,
        };
        for effect in &decision.effects {
            match effect {
                Effect::CancelTimers => step.cancel_armed_timers = true,
                Effect::ArmTimer { spec, due_at } => step.arm.push(TimerRecord {
                    id: TimerId::generate(),
                    instance_id: step.history.instance_id,
                    name: spec.name.clone(),
                    event: spec.event.clone(),
                    state: decision.to.clone(),
                    due_at: *due_at,
                    status: TimerStatus::Armed,
                    created_at: now,
                    settled_at: None,
                    note: None,
                    attempts: 0,
                    lease_until: None,
                    claimed_at: None,
                    took_over: false,
                }),
                Effect::Email { spec, recipient, name } => {
                    let to = Addressee { email: recipient, name: name.as_deref() };
                    let (email, links) = self.email(definition, &step.history, decision, spec, to, now)?;
                    step.emails.push(email);
                    for link in &links {
                        let supersedes = definition.links.get(&link.action).is_some_and(|a| a.supersede);
                        let superseded = Superseded { action: link.action.clone(), recipient: link.recipient.clone() };
                        if supersedes && !step.supersede.contains(&superseded) {
                            step.supersede.push(superseded);
                        }
                    }
                    step.links.extend(links);
                }
                Effect::MergeContext(_) => {}
                Effect::Require(precondition) => step.directory.push(DirectoryStep::Require(precondition.clone())),
                Effect::Directory(change) => step.directory.push(DirectoryStep::Change(change.clone())),
            }
        }
        Ok(step)
    }

    /// Issues the email's links and renders it in the recipient's locale.
    fn email(
        &self,
        definition: &Definition,
        history: &HistoryRecord,
        decision: &Decision,
        spec: &EmailSpec,
        to: Addressee<'_>,
        now: Timestamp,
    ) -> Result<(EmailRecord, Vec<LinkRecord>), EngineError> {
        let recipient = to.email;
        let id = OutboxId::generate();
        let party = definition.parties.get(&spec.to);
        let lookup = |path: &Option<String>| {
            path.as_ref().and_then(|p| crate::workflow::field(&decision.context, p)).and_then(Value::as_str)
        };
        let locale = party.and_then(|p| lookup(&p.locale));
        let mut urls = serde_json::Map::new();
        let mut links = Vec::new();
        for action_name in &spec.links {
            let action = definition.links.get(action_name).ok_or_else(|| {
                EngineError::Definition(format!("email `{}` names unknown link `{action_name}`", spec.template))
            })?;
            let (token, hash) = links::new_token();
            urls.insert(action_name.clone(), Value::String(format!("{}/l/{token}", self.mail.public_url)));
            links.push(LinkRecord {
                hash,
                instance_id: history.instance_id,
                outbox_id: id,
                action: action_name.clone(),
                event: action.event.clone(),
                party: spec.to.clone(),
                recipient: recipient.to_owned(),
                status: LinkStatus::Active,
                expires_at: now.plus(action.expires),
                created_at: now,
                used_at: None,
            });
        }
        let mut context = decision.context.clone();
        if let Value::Object(map) = &mut context {
            map.insert("links".into(), Value::Object(urls));
            map.insert("state".into(), Value::String(decision.to.to_string()));
            map.insert("workflow".into(), Value::String(definition.name.to_string()));
            map.insert("instance_id".into(), Value::String(history.instance_id.to_string()));
            map.insert("recipient".into(), serde_json::json!({ "email": recipient, "name": to.name }));
        }
        let rendered = self
            .mail
            .renderer
            .render_email(definition.name.as_str(), spec.template.as_str(), locale, &context)
            .map_err(|err| EngineError::Definition(err.to_string()))?;
        let host = url::Url::parse(&self.mail.public_url).ok().and_then(|u| u.host_str().map(str::to_owned));
        let email = EmailRecord {
            id,
            instance_id: history.instance_id,
            history_seq: history.seq,
            template: spec.template.clone(),
            party: spec.to.clone(),
            recipient: recipient.to_owned(),
            links: Json(spec.links.clone()),
            status: if spec.draft { EmailStatus::Draft } else { EmailStatus::Queued },
            created_at: now,
            locale: rendered.locale,
            subject: rendered.subject,
            text_body: rendered.text,
            html_body: rendered.html,
            message_id: format!("<{id}@{}>", host.unwrap_or_else(|| "accord.localhost".into())),
            attempts: 0,
            next_attempt_at: now,
            last_reply: None,
            sent_at: None,
            claimed_at: None,
            took_over: false,
        };
        Ok((email, links))
    }
}

/// Who an email goes to, as the decision resolved the party.
#[derive(Clone, Copy)]
struct Addressee<'a> {
    email: &'a str,
    name: Option<&'a str>,
}
