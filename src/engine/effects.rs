//! From a decision's effects to the rows one transaction writes: timers, and emails rendered in
//! the recipient's locale with freshly issued personalised links.

use serde_json::{json, Value};
use sqlx::types::Json;

use super::{Decision, Effect, Engine, EngineError};
use crate::clock::Timestamp;
use crate::ids::{OutboxId, TimerId};
use crate::mail::{dates, headers, links};
use crate::store::{
    DirectoryStep, EmailRecord, EmailStatus, HistoryRecord, LinkRecord, LinkStatus, Step, Superseded, TimerClaim,
    TimerRecord, TimerStatus,
};
use crate::workflow::{Definition, EmailSpec};

impl Engine {
    /// Turns a decision's effects into rows: timers, rendered emails and their links. `armed`
    /// holds the timers still armed in a state the instance stays in, whose due times its
    /// emails may state.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn step_for(
        &self,
        definition: &Definition,
        history: HistoryRecord,
        decision: &Decision,
        fired_timer: Option<TimerClaim>,
        used_link: Option<String>,
        armed: &[TimerRecord],
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
                    let deadlines = Deadlines { decision, armed };
                    let (email, links) = self.email(definition, &step.history, decision, spec, to, deadlines, now)?;
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

    /// Issues the email's links and renders it in the recipient's locale, its dates in the
    /// recipient's language and time zone, with its `From`, `Reply-To` and `To` name settled.
    #[allow(clippy::too_many_arguments)]
    fn email(
        &self,
        definition: &Definition,
        history: &HistoryRecord,
        decision: &Decision,
        spec: &EmailSpec,
        to: Addressee<'_>,
        deadlines: Deadlines<'_>,
        now: Timestamp,
    ) -> Result<(EmailRecord, Vec<LinkRecord>), EngineError> {
        let recipient = to.email;
        let id = OutboxId::generate();
        let party = definition.parties.get(&spec.to);
        let lookup = |path: &Option<String>| {
            path.as_ref().and_then(|p| crate::workflow::field(&decision.context, p)).and_then(Value::as_str)
        };
        let locale = party.and_then(|p| lookup(&p.locale));
        let renderer = &self.mail.renderer;
        let shown_locale = renderer.locale_for(definition.name.as_str(), spec.template.as_str(), locale);
        let zone = dates::recipient_zone(
            party.and_then(|p| lookup(&p.time_zone)),
            party.and_then(|p| lookup(&p.country)),
            self.mail.time_zone,
        );
        let date = |at: Timestamp| Value::String(dates::format(at, &shown_locale, zone));
        let mut urls = serde_json::Map::new();
        let mut expiries = serde_json::Map::new();
        let mut links = Vec::new();
        for action_name in &spec.links {
            let action = definition.links.get(action_name).ok_or_else(|| {
                EngineError::Definition(format!("email `{}` names unknown link `{action_name}`", spec.template))
            })?;
            let (token, hash) = links::new_token();
            urls.insert(action_name.clone(), Value::String(format!("{}/l/{token}", self.mail.public_url)));
            expiries.insert(action_name.clone(), date(now.plus(action.expires)));
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
        let timers: serde_json::Map<String, Value> =
            deadlines.due().into_iter().map(|(name, at)| (name.to_owned(), date(at))).collect();
        let mut context = decision.context.clone();
        if let Value::Object(map) = &mut context {
            map.insert("links".into(), Value::Object(urls));
            map.insert("state".into(), Value::String(decision.to.to_string()));
            map.insert("from_state".into(), json!(history.from_state.as_ref().map(ToString::to_string)));
            map.insert("event".into(), Value::String(history.event.to_string()));
            map.insert("workflow".into(), Value::String(definition.name.to_string()));
            map.insert("instance_id".into(), Value::String(history.instance_id.to_string()));
            map.insert(
                "console_url".into(),
                Value::String(format!("{}/console/instances/{}", self.mail.public_url, history.instance_id)),
            );
            map.insert("recipient".into(), json!({ "email": recipient, "name": to.name }));
            map.insert(
                "dates".into(),
                json!({ "links": expiries, "timers": timers, "now": date(now), "time_zone": zone.name() }),
            );
        }
        let rendered = renderer
            .render_email(definition.name.as_str(), spec.template.as_str(), locale, &context)
            .map_err(|err| EngineError::Definition(err.to_string()))?;
        let host = url::Url::parse(&self.mail.public_url).ok().and_then(|u| u.host_str().map(str::to_owned));
        let headers = headers::settle(&definition.mail, &context, &self.mail.from, self.mail.reply_to.as_ref());
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
            recipient_name: to.name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
            sender: Some(headers.from.to_string()),
            reply_to: headers.reply_to.map(|r| r.to_string()),
        };
        Ok((email, links))
    }
}

/// The timers an email may state the due time of: those this step arms, and those still armed
/// in the state it stays in (a reminder states the expiry armed when the state was entered).
#[derive(Clone, Copy)]
struct Deadlines<'a> {
    decision: &'a Decision,
    armed: &'a [TimerRecord],
}

impl<'a> Deadlines<'a> {
    fn due(&self) -> Vec<(&'a str, Timestamp)> {
        let mut due: Vec<(&str, Timestamp)> = self.armed.iter().map(|t| (t.name.as_str(), t.due_at)).collect();
        for effect in &self.decision.effects {
            if let Effect::ArmTimer { spec, due_at } = effect {
                due.retain(|(name, _)| *name != spec.name.as_str());
                due.push((spec.name.as_str(), *due_at));
            }
        }
        due
    }
}

/// Who an email goes to, as the decision resolved the party.
#[derive(Clone, Copy)]
struct Addressee<'a> {
    email: &'a str,
    name: Option<&'a str>,
}
