//! The `[parties]` section, and the context fields the start checks fill in from the directory:
//! a party's address comes from an input field, a configured address, or what a start check
//! fills in (one address, or a list of recipients with `each`).

use std::collections::BTreeMap;

use serde_json::Value;
use toml::Spanned;

use super::build::Builder;
use super::raw::RawParty;
use crate::workflow::input::FieldType;
use crate::workflow::{MailHeaders, Party, ProvidedKind};

/// Where a party's path points: an input field of this type, or a field a start check fills in.
enum Source {
    Input { is_email: bool },
    Provided(ProvidedKind, &'static str),
}

impl Builder<'_, '_> {
    /// Checks that no input field is one a start check fills in (or lies inside one, or holds
    /// one): what the directory says is never the caller's to give.
    pub(super) fn provided_fields_are_not_input(&mut self) {
        if self.check.snapshot {
            return;
        }
        let raw = self.raw;
        for field in &self.input {
            let overlaps = |provided: &str| {
                provided == field.path
                    || provided.starts_with(&format!("{}.", field.path))
                    || field.path.starts_with(&format!("{provided}."))
            };
            let Some((path, (_, check))) = self.provided.iter().find(|(path, _)| overlaps(path)) else { continue };
            let span = raw.input.iter().find(|f| f.field.get_ref() == &field.path).map_or(0..0, |f| f.field.span());
            self.check.report(
                span,
                format!(
                    "input field `{}` is filled in from the directory: start check `{check}` sets `{path}`",
                    field.path
                ),
                "remove it from [[input]]: a caller cannot choose what the directory says",
            );
        }
    }

    fn source(&self, path: &str) -> Option<Source> {
        if let Some(ty) = self.field_type(path) {
            return Some(Source::Input { is_email: ty.is_email() });
        }
        self.provided.get(path).map(|&(kind, check)| Source::Provided(kind, check))
    }

    /// The provided fields of `kind`, for hints.
    fn provided_of(&self, kind: ProvidedKind) -> String {
        let paths: Vec<&str> = self.provided.iter().filter(|(_, (k, _))| *k == kind).map(|(p, _)| *p).collect();
        if paths.is_empty() {
            "none of this workflow's start checks fills one in".to_owned()
        } else {
            format!("this workflow's start checks fill in {}", paths.join(", "))
        }
    }

    /// Checks the `[parties]`: exactly one of an email path or a configured address; an email
    /// path that is an email input field or an address a start check fills in; with `each`, a
    /// list of recipients a start check fills in, `email` and `name` naming keys of each; name
    /// and locale paths that exist.
    pub(super) fn parties(&mut self) -> BTreeMap<String, Party> {
        let raw = self.raw;
        // The sample serves `accord check`; a stored snapshot is not held to today's rules for it.
        let sample = raw.sample.as_ref().filter(|_| !self.check.snapshot);
        let sample = sample.map(|table| serde_json::to_value(table).unwrap_or_default());
        let mut parties = BTreeMap::new();
        for (party_name, party) in &raw.parties {
            let name = party_name.get_ref();
            match (&party.email, &party.config, &party.each) {
                (None, Some(_), Some(each)) => self.check.report(
                    each.span(),
                    format!("party `{name}` has a configured address and `each`"),
                    "a configured party has one address: remove `each`, or use email = \"email\" with it",
                ),
                (None, Some(_), None) => {}
                (Some(_), None, Some(each)) => self.each(name, party, each, sample.as_ref()),
                (Some(email), None, None) => self.email_path(name, email, sample.as_ref()),
                _ => self.check.report(
                    party_name.span(),
                    format!("party `{name}` needs exactly one of `email` (an input field) or `config` (a configured address)"),
                    "write email = \"contact.email\", or config = \"reviewers\" with [parties] reviewers = \"…\" in accord.toml",
                ),
            }
            let paths = if party.each.is_some() { vec![&party.locale] } else { vec![&party.name, &party.locale] };
            for path in paths.into_iter().flatten() {
                if self.source(path.get_ref()).is_none() {
                    self.check.report(
                        path.span(),
                        format!("party `{name}`: no input field `{}`", path.get_ref()),
                        "declare it under [[input]], or fix the path",
                    );
                }
            }
            self.zone_paths(name, party);
            parties.insert(
                name.clone(),
                Party {
                    email: party.email.as_ref().map(|e| e.get_ref().clone()),
                    config: party.config.as_ref().map(|c| c.get_ref().clone()),
                    name: party.name.as_ref().map(|n| n.get_ref().clone()),
                    locale: party.locale.as_ref().map(|l| l.get_ref().clone()),
                    time_zone: party.time_zone.as_ref().map(|z| z.get_ref().clone()),
                    country: party.country.as_ref().map(|c| c.get_ref().clone()),
                    each: party.each.as_ref().map(|e| e.get_ref().clone()),
                },
            );
        }
        parties
    }

    /// A party's `time_zone` names an input field of type `time_zone`; its `country` a country
    /// input field or a text a start check fills in.
    fn zone_paths(&mut self, name: &str, party: &RawParty) {
        if let Some(zone) = &party.time_zone {
            let path = zone.get_ref();
            if self.field_type(path) != Some(FieldType::TimeZone) {
                self.check.report(
                    zone.span(),
                    format!("party `{name}`: `{path}` is not an input field of type time_zone"),
                    format!("declare [[input]] field = \"{path}\" with type = \"time_zone\" (an IANA name such as Europe/Rome)"),
                );
            }
        }
        if let Some(country) = &party.country {
            let path = country.get_ref();
            let fits = match self.source(path) {
                Some(Source::Input { .. }) => self.field_type(path) == Some(FieldType::Country),
                Some(Source::Provided(kind, _)) => kind == ProvidedKind::Text,
                None => false,
            };
            if !fits {
                self.check.report(
                    country.span(),
                    format!("party `{name}`: `{path}` is not a country field"),
                    "name an input field of type country (an ISO 3166-1 code such as IT)",
                );
            }
        }
    }

    /// The `[mail]` section: addresses that are addresses, a reply path that is an address
    /// field, a fixed reply address or a path but not both.
    pub(super) fn mail(&mut self) -> MailHeaders {
        let Some(raw) = self.raw.mail.as_ref() else { return MailHeaders::default() };
        for (key, value) in [("from_address", &raw.from_address), ("reply_to", &raw.reply_to)] {
            let Some(value) = value else { continue };
            if let Err(err) = crate::workflow::email::normalize(value.get_ref()) {
                self.check.report(
                    value.span(),
                    format!("[mail] {key} `{}` is not an email address: {err}", value.get_ref()),
                    "write an address such as onboarding@example.com (the name goes in from_name)",
                );
            }
        }
        if let Some(name) = &raw.from_name {
            if name.get_ref().trim().is_empty() || name.get_ref().contains(['\r', '\n', '<', '>', '"']) {
                self.check.report(
                    name.span(),
                    "[mail] from_name must be a name on one line, without quotes or angle brackets",
                    "write from_name = \"Contoso Partner Onboarding\"",
                );
            }
        }
        if let (Some(fixed), Some(_)) = (&raw.reply_to, &raw.reply_to_email) {
            self.check.report(
                fixed.span(),
                "[mail] has both reply_to (a fixed address) and reply_to_email (a field)",
                "keep one of them",
            );
        }
        if let Some(path) = &raw.reply_to_email {
            let ok = match self.source(path.get_ref()) {
                Some(Source::Input { is_email }) => is_email,
                Some(Source::Provided(kind, _)) => kind == ProvidedKind::Email,
                None => false,
            };
            if !ok {
                self.check.report(
                    path.span(),
                    format!("[mail] reply_to_email: `{}` is not an email field", path.get_ref()),
                    "name an input field of type email, or an address a start check fills in",
                );
            }
        }
        if let Some(path) = &raw.reply_to_name {
            if raw.reply_to_email.is_none() || self.source(path.get_ref()).is_none() {
                self.check.report(
                    path.span(),
                    format!("[mail] reply_to_name: no field `{}` (or no reply_to_email beside it)", path.get_ref()),
                    "name a text field the input or a start check gives, beside reply_to_email",
                );
            }
        }
        let text = |value: &Option<Spanned<String>>| value.as_ref().map(|v| v.get_ref().trim().to_owned());
        MailHeaders {
            from_name: text(&raw.from_name),
            from_address: text(&raw.from_address),
            reply_to: text(&raw.reply_to),
            reply_to_email: text(&raw.reply_to_email),
            reply_to_name: text(&raw.reply_to_name),
        }
    }

    /// A party's single address: an email input field, or an address a start check fills in
    /// (which the sample, when given, shows).
    fn email_path(&mut self, name: &str, email: &Spanned<String>, sample: Option<&Value>) {
        let path = email.get_ref();
        match self.source(path) {
            Some(Source::Input { is_email: true }) => {}
            Some(Source::Input { is_email: false }) => self.check.report(
                email.span(),
                format!("party `{name}`: field `{path}` is not an email field"),
                "declare it with type = \"email\" or \"business_email\"",
            ),
            Some(Source::Provided(ProvidedKind::Email, check)) => {
                let shown = sample.and_then(|s| crate::workflow::field(s, path)).is_some_and(Value::is_string);
                if sample.is_some() && !shown {
                    self.check.report(
                        email.span(),
                        format!("party `{name}`: the [sample] has no `{path}`, which start check `{check}` fills in"),
                        "give an example address in [sample], so that templates are checked as they will be sent",
                    );
                }
            }
            Some(Source::Provided(kind, check)) => self.check.report(
                email.span(),
                format!(
                    "party `{name}`: start check `{check}` fills `{path}` with {}, not an address",
                    kind.describe()
                ),
                match kind {
                    ProvidedKind::Recipients => format!("write each = \"{path}\" and email = \"email\""),
                    _ => self.provided_of(ProvidedKind::Email),
                },
            ),
            None => self.check.report(
                email.span(),
                format!("party `{name}`: no input field `{path}`"),
                "declare it under [[input]], or fix the path",
            ),
        }
    }

    /// A party of many recipients: `each` names a list of recipients a start check fills in;
    /// `email` and `name` are keys of each element.
    fn each(&mut self, name: &str, party: &RawParty, each: &Spanned<String>, sample: Option<&Value>) {
        let path = each.get_ref();
        match self.source(path) {
            Some(Source::Provided(ProvidedKind::Recipients, check)) => {
                let listed = sample.and_then(|s| crate::workflow::field(s, path)).and_then(Value::as_array);
                let shown = listed.is_some_and(|list| {
                    !list.is_empty() && list.iter().all(|r| r.get("email").is_some_and(Value::is_string))
                });
                if sample.is_some() && !shown {
                    self.check.report(
                        each.span(),
                        format!("party `{name}`: the [sample] has no recipients at `{path}`, which start check `{check}` fills in"),
                        format!("give an example list in [sample], such as {path} = [{{ email = \"…\", name = \"…\" }}]"),
                    );
                }
            }
            _ => self.check.report(
                each.span(),
                format!("party `{name}`: `{path}` is not a list of recipients a start check fills in"),
                self.provided_of(ProvidedKind::Recipients),
            ),
        }
        for (key, given) in [("email", &party.email), ("name", &party.name)] {
            let Some(given) = given else { continue };
            if given.get_ref() != key {
                self.check.report(
                    given.span(),
                    format!(
                        "party `{name}`: with `each`, `{key}` names the key of each recipient, not `{}`",
                        given.get_ref()
                    ),
                    format!("write {key} = \"{key}\""),
                );
            }
        }
    }
}
