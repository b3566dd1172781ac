//! The shape of a definition file as serde reads it, spans kept for diagnostics.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::workflow::{LinkField, Localized};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkflow {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) title: String,
    pub(super) initial: Spanned<String>,
    #[serde(default)]
    pub(super) input: Vec<RawField>,
    #[serde(default)]
    pub(super) parties: BTreeMap<Spanned<String>, RawParty>,
    #[serde(default)]
    pub(super) events: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub(super) links: BTreeMap<Spanned<String>, RawLink>,
    #[serde(default)]
    pub(super) states: BTreeMap<Spanned<String>, RawState>,
    #[serde(default)]
    pub(super) schedules: Vec<RawSchedule>,
    /// A sample context for rendering the templates in `accord check`: an input, and what the
    /// start checks fill in from the directory.
    pub(super) sample: Option<toml::Table>,
    /// Rules across input fields.
    #[serde(default)]
    pub(super) checks: Vec<RawCheck>,
    /// Checks against the directory at start, by name.
    #[serde(default)]
    pub(super) start_checks: Vec<Spanned<String>>,
    /// Who the emails are from and whom replies go to.
    pub(super) mail: Option<RawMail>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMail {
    pub(super) from_name: Option<Spanned<String>>,
    pub(super) from_address: Option<Spanned<String>>,
    /// A fixed address.
    pub(super) reply_to: Option<Spanned<String>>,
    /// Or a path in the context, with an optional name path.
    pub(super) reply_to_email: Option<Spanned<String>>,
    pub(super) reply_to_name: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    #[serde(default)]
    pub(super) same_value: Vec<Spanned<String>>,
    /// Fields given all together or not at all.
    #[serde(default)]
    pub(super) all_or_none: Vec<Spanned<String>>,
    pub(super) message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub(super) field: Spanned<String>,
    #[serde(rename = "type")]
    pub(super) ty: Spanned<String>,
    #[serde(default = "yes")]
    pub(super) required: bool,
    #[serde(default, rename = "description")]
    pub(super) _description: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawParty {
    pub(super) email: Option<Spanned<String>>,
    pub(super) config: Option<Spanned<String>>,
    pub(super) name: Option<Spanned<String>>,
    pub(super) locale: Option<Spanned<String>>,
    /// A path to an IANA time zone (an input field of type `time_zone`).
    pub(super) time_zone: Option<Spanned<String>>,
    /// A path to the party's country, whose main time zone is the default.
    pub(super) country: Option<Spanned<String>>,
    /// A list in the context: one recipient per element.
    pub(super) each: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    pub(super) event: Spanned<String>,
    pub(super) party: Spanned<String>,
    pub(super) expires: Spanned<String>,
    pub(super) title: Option<Localized<String>>,
    pub(super) description: Option<Localized<String>>,
    pub(super) button: Option<Localized<String>>,
    pub(super) confirm: Option<Localized<Vec<String>>>,
    #[serde(default)]
    pub(super) resend: bool,
    #[serde(default = "yes")]
    pub(super) supersede: bool,
    #[serde(default)]
    pub(super) fields: Vec<LinkField>,
    #[serde(default)]
    pub(super) alternatives: Vec<Spanned<String>>,
    pub(super) done: Option<Localized<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    #[serde(default, rename = "final")]
    pub(super) is_final: bool,
    /// Instances here wait for a reviewer: the console's review queue lists them.
    #[serde(default)]
    pub(super) review: bool,
    pub(super) description: Option<String>,
    pub(super) label: Option<Localized<String>>,
    #[serde(default)]
    pub(super) emails: Vec<RawEmail>,
    #[serde(default)]
    pub(super) timers: Vec<RawTimer>,
    #[serde(default)]
    pub(super) on: BTreeMap<Spanned<String>, RawTransition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
    pub(super) template: Spanned<String>,
    pub(super) to: Spanned<String>,
    #[serde(default)]
    pub(super) links: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) draft: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimer {
    pub(super) name: Spanned<String>,
    pub(super) after: Spanned<String>,
    pub(super) event: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransition {
    pub(super) to: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) guards: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) effects: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) emails: Vec<RawEmail>,
    /// The final state to go to when what the effects require no longer holds.
    pub(super) otherwise: Option<Spanned<String>>,
    /// Other ways the event may go, each taken when a context field holds `true`.
    #[serde(default)]
    pub(super) branches: Vec<RawBranch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBranch {
    pub(super) when: Spanned<String>,
    pub(super) to: Spanned<String>,
    #[serde(default)]
    pub(super) effects: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) name: Spanned<String>,
    pub(super) cron: Spanned<String>,
    pub(super) event: Spanned<String>,
    pub(super) states: Vec<Spanned<String>>,
}
