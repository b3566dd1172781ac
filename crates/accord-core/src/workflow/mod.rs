//! Workflow definitions: state machines written as TOML in `workflows/`, parsed into validated
//! types. A [`Definition`] that exists has passed every check `accord check` runs.

pub mod email;
pub mod input;
pub mod limits;
mod names;
mod parse;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use email::{Email, EmailError};
pub use input::{FieldError, FieldType, InputField, InputRules};
pub use limits::{check_text, TextLimit};
pub use names::{BadName, EventName, RuleName, StateName, TemplateName, WorkflowName};
pub use parse::{parse_definition, parse_snapshot, CheckEnv, Diagnostic};

/// The locale every fallback chain ends with: emails and pages in it must exist.
pub const DEFAULT_LOCALE: &str = "en";

/// Where an event may come from. A definition declares one kind per event, and the engine
/// refuses an event from a source its kind does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A recipient acting on an emailed link.
    Link,
    /// A reviewer's decision.
    Decision,
    /// A pipeline's signal through the API or CLI.
    Signal,
    /// A durable timer armed on entering a state.
    Timer,
    /// A periodic job driven by a cron expression.
    Schedule,
}

impl EventKind {
    pub const ALL: &'static [(&'static str, EventKind)] = &[
        ("link", EventKind::Link),
        ("decision", EventKind::Decision),
        ("signal", EventKind::Signal),
        ("timer", EventKind::Timer),
        ("schedule", EventKind::Schedule),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, kind)| *kind == self).map(|(name, _)| *name).unwrap_or("signal")
    }
}

/// A validated workflow definition, identified by the hash of its source text.
#[derive(Clone, Debug, Serialize)]
pub struct Definition {
    pub name: WorkflowName,
    pub title: String,
    pub initial: StateName,
    pub input: Vec<InputField>,
    /// Rules across input fields, checked at start with the fields.
    pub checks: Vec<input::SameValue>,
    /// Directory checks run at start (registered by name), after the fields pass.
    pub start_checks: Vec<RuleName>,
    pub parties: BTreeMap<String, Party>,
    pub events: BTreeMap<EventName, EventKind>,
    pub links: BTreeMap<String, LinkAction>,
    pub states: BTreeMap<StateName, State>,
    pub schedules: Vec<ScheduleSpec>,
    /// `[mail]`: who the emails are from and whom replies go to; unset parts come from the
    /// configuration.
    pub mail: MailHeaders,
    /// Sample input (`[sample]`, else every declared field set to ""), for checking templates.
    #[serde(skip)]
    pub sample: serde_json::Value,
    /// SHA-256 of the source text, hex: the version an instance is pinned to.
    pub hash: String,
    #[serde(skip)]
    pub source: String,
}

impl Definition {
    /// Every email the definition can send: (state, spec), entry emails and transition emails.
    pub fn emails(&self) -> impl Iterator<Item = (&State, &EmailSpec)> {
        self.states.values().flat_map(|state| {
            state
                .emails
                .iter()
                .chain(state.transitions.values().flat_map(|t| t.emails.iter()))
                .map(move |email| (state, email))
        })
    }

    pub fn state(&self, name: &StateName) -> Option<&State> {
        self.states.get(name)
    }

    pub fn event_kind(&self, event: &EventName) -> Option<EventKind> {
        self.events.get(event).copied()
    }

    /// The locale of `party`, read from an instance's context.
    pub fn party_locale<'a>(&self, party: &str, context: &'a serde_json::Value) -> Option<&'a str> {
        let path = self.parties.get(party)?.locale.as_ref()?;
        field(context, path)?.as_str()
    }
}

/// The value at a dotted field path (`contact.email`) in an instance's input or context: the one
/// way every part of Accord reads a field a definition names.
pub fn field<'a>(value: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(value, |value, key| value.get(key))
}

/// The hash that versions a definition's source text.
pub fn content_hash(source: &str) -> String {
    hex::encode(Sha256::digest(source.as_bytes()))
}

/// The `[mail]` section: the `From` name and address of the workflow's emails and their
/// `Reply-To`, a fixed address or one from the context (such as the user who sent an invitation).
#[derive(Clone, Debug, Default, Serialize)]
pub struct MailHeaders {
    pub from_name: Option<String>,
    /// A valid address (checked when the definition is read).
    pub from_address: Option<String>,
    /// A fixed, valid address.
    pub reply_to: Option<String>,
    /// A path in the context to the reply address, and one to its display name.
    pub reply_to_email: Option<String>,
    pub reply_to_name: Option<String>,
}

/// A recipient of the workflow's email, found in the instance's context.
#[derive(Clone, Debug, Serialize)]
pub struct Party {
    /// Dotted path of the email address in the context (an input field, or a field a start
    /// check fills in); with `each`, the key of the address in each element. `None` for a
    /// configured party.
    pub email: Option<String>,
    /// For a party whose address is configured (`[parties]` in accord.toml, such as the
    /// reviewers), the key of that address.
    pub config: Option<String>,
    /// Like `email`: a path in the context, or with `each` a key of each element.
    pub name: Option<String>,
    /// A path in the context: one locale for every recipient of the party.
    pub locale: Option<String>,
    /// A path in the context to the party's IANA time zone (an input field of type `time_zone`):
    /// the zone its emails give dates in.
    pub time_zone: Option<String>,
    /// A path in the context to the party's country (ISO 3166-1 alpha-2): without a time zone,
    /// dates are given in the country's main zone.
    pub country: Option<String>,
    /// Dotted path of a list in the context (filled in by a start check, such as a reseller's
    /// global admins): every element is a recipient, mailed separately with links of their own,
    /// and any of them may answer for the party.
    pub each: Option<String>,
}

/// A field of an instance's context that a start check fills in from the directory, never the
/// caller: definitions may read it (parties, templates) but not declare it as input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Provided {
    /// Dotted path in the context, such as `reseller.name`.
    pub path: &'static str,
    pub kind: ProvidedKind,
}

/// What a [`Provided`] field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvidedKind {
    /// Text, such as a partner's legal name.
    Text,
    /// An email address, fit for a party's `email`.
    Email,
    /// A list of recipients, each `{ "email", "name" }`, fit for a party's `each`.
    Recipients,
    /// `true` or `false`, fit for a transition branch's `when`.
    Flag,
}

impl ProvidedKind {
    /// How diagnostics name it.
    pub fn describe(self) -> &'static str {
        match self {
            ProvidedKind::Text => "text",
            ProvidedKind::Email => "an email address",
            ProvidedKind::Recipients => "a list of recipients",
            ProvidedKind::Flag => "true or false",
        }
    }
}

/// A start check as a definition sees it: its name, and the context fields it fills in.
#[derive(Clone, Copy, Debug)]
pub struct StartCheckSpec {
    pub name: &'static str,
    pub provides: &'static [Provided],
}

/// An action a recipient takes by opening an emailed link.
#[derive(Clone, Debug, Serialize)]
pub struct LinkAction {
    pub event: EventName,
    pub party: String,
    #[serde(with = "humantime_serde_secs")]
    pub expires: Duration,
    /// The page's heading.
    pub title: Localized<String>,
    /// What acting means, shown above the form.
    pub description: Localized<String>,
    /// The submit button's label.
    pub button: Localized<String>,
    /// Checkboxes the recipient must tick; enforced on the server.
    pub confirm: Localized<Vec<String>>,
    /// Whether an expired or replaced link's page offers "send me a new link".
    pub resend: bool,
    /// Whether a newer link for this action (a reminder, a resend) makes older ones stop working.
    pub supersede: bool,
    /// Text the recipient types on the page (an answer to a question); sent as the event's data.
    pub fields: Vec<LinkField>,
    /// Other link actions (of the same recipient) the page also offers as buttons, such as
    /// "Cancel invitation" beside "Accept & authorize"; the link is used by whichever is chosen.
    pub alternatives: Vec<String>,
    /// What the page says once the action is done ("The invitation is cancelled: ...").
    pub done: Option<Localized<String>>,
}

/// A text box on a link page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkField {
    /// The key in the event's data.
    pub name: String,
    pub label: Localized<String>,
    #[serde(default = "required_by_default")]
    pub required: bool,
}

fn required_by_default() -> bool {
    true
}

/// Text given once, or per locale: `title = "Accept"` or `title = { en = "Accept", it = "Accetta" }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Localized<T> {
    One(T),
    PerLocale(BTreeMap<String, T>),
}

impl<T: Clone + Default> Localized<T> {
    /// The version for the first locale of `chain` that has one (`None` in the chain stands for
    /// the default: `en`, else the first given).
    pub fn get(&self, chain: &[Option<String>]) -> T {
        match self {
            Localized::One(value) => value.clone(),
            Localized::PerLocale(map) => chain
                .iter()
                .find_map(|locale| map.get(locale.as_deref().unwrap_or(DEFAULT_LOCALE)))
                .or_else(|| map.values().next())
                .cloned()
                .unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct State {
    pub name: StateName,
    pub is_final: bool,
    /// Marked `review = true`: instances here wait for a reviewer's decision, and the console's
    /// review queue lists them.
    pub review: bool,
    pub description: Option<String>,
    /// How pages name the state to recipients, per locale ("accettata"); else its name.
    pub label: Option<Localized<String>>,
    /// Emails sent on entering the state.
    pub emails: Vec<EmailSpec>,
    /// Timers armed on entering the state and cancelled on leaving it.
    pub timers: Vec<TimerSpec>,
    pub transitions: BTreeMap<EventName, Transition>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Transition {
    pub event: EventName,
    /// `None`: an internal transition that runs its effects and stays in the state (timers keep
    /// running).
    pub to: Option<StateName>,
    pub guards: Vec<RuleName>,
    pub effects: Vec<RuleName>,
    pub emails: Vec<EmailSpec>,
    /// The final state the instance goes to instead when what the effects require (checked in
    /// the transition's own transaction) no longer holds: the start's checks, made again.
    pub otherwise: Option<StateName>,
    /// Where the event goes instead, with other effects, when a context field holds `true`: the
    /// first branch whose field does is taken (the transition's guards and emails still apply).
    pub branches: Vec<Branch>,
}

/// A way a transition may go instead (`branches = [{ when = "csp.enrolled", to = "…",
/// effects = […] }]`): a branch in one definition rather than a second copy of the workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Branch {
    /// The dotted context field that must hold `true` (typically one a start check fills in).
    pub when: String,
    pub to: StateName,
    pub effects: Vec<RuleName>,
}

impl Transition {
    /// The branch `context` selects, if any.
    pub fn branch_for(&self, context: &serde_json::Value) -> Option<&Branch> {
        self.branches.iter().find(|b| field(context, &b.when) == Some(&serde_json::Value::Bool(true)))
    }

    /// Every state the transition may lead to: its target, its branches', its `otherwise`.
    pub fn targets(&self) -> impl Iterator<Item = &StateName> {
        self.to.iter().chain(self.branches.iter().map(|b| &b.to)).chain(self.otherwise.iter())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmailSpec {
    pub template: TemplateName,
    /// The party it is sent to.
    pub to: String,
    /// Link actions personalised for the recipient.
    pub links: Vec<String>,
    /// Rendered and stored, sent only once a person releases it.
    pub draft: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimerSpec {
    pub name: String,
    #[serde(with = "humantime_serde_secs")]
    pub after: Duration,
    pub event: EventName,
}

/// A periodic job: on each tick of `cron`, `event` is sent to every active instance in `states`.
#[derive(Clone, Debug, Serialize)]
pub struct ScheduleSpec {
    pub name: String,
    #[serde(serialize_with = "serialize_cron")]
    pub cron: cron::Schedule,
    pub event: EventName,
    pub states: Vec<StateName>,
}

fn serialize_cron<S: serde::Serializer>(schedule: &cron::Schedule, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(schedule)
}

mod humantime_serde_secs {
    pub fn serialize<S: serde::Serializer>(duration: &std::time::Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*duration))
    }
}
