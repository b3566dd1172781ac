//! The `[links]` section and the emails that send them (on entering a state, on a transition).

use std::collections::BTreeMap;

use toml::Spanned;

use super::build::Builder;
use super::raw::{RawEmail, RawLink};
use crate::workflow::{EmailSpec, EventKind, LinkAction, Localized, TemplateName, WorkflowName};

impl Builder<'_, '_> {
    /// Checks the link actions under `[links]`: each one's event (of kind link), party, expiry,
    /// alternatives and text fields.
    pub(super) fn links(&mut self) -> BTreeMap<String, LinkAction> {
        let raw = self.raw;
        let mut links = BTreeMap::new();
        for (link_name, link) in &raw.links {
            if let Some(action) = self.link(link_name, link) {
                links.insert(link_name.get_ref().clone(), action);
            }
        }
        links
    }

    /// Checks one link action; `None` if its event or its expiry is broken.
    fn link(&mut self, link_name: &Spanned<String>, link: &RawLink) -> Option<LinkAction> {
        let event = self.event_of_kind(&link.event, Some(EventKind::Link));
        if !self.raw.parties.keys().any(|p| p.get_ref() == link.party.get_ref()) {
            self.check.report(
                link.party.span(),
                format!("link `{}`: unknown party `{}`", link_name.get_ref(), link.party.get_ref()),
                "declare it under [parties]",
            );
        }
        let expires = self.check.duration(&link.expires);
        self.alternatives(link_name, link);
        self.link_fields(link_name, link);
        let (Some(event), Some(expires)) = (event, expires) else { return None };
        Some(LinkAction {
            title: link.title.clone().unwrap_or_else(|| Localized::One(event.as_str().replace('_', " "))),
            button: link.button.clone().unwrap_or_else(|| Localized::One("Confirm".into())),
            description: link.description.clone().unwrap_or_else(|| Localized::One(String::new())),
            confirm: link.confirm.clone().unwrap_or_else(|| Localized::One(Vec::new())),
            resend: link.resend,
            supersede: link.supersede,
            fields: link.fields.clone(),
            alternatives: link.alternatives.iter().map(|a| a.get_ref().clone()).collect(),
            done: link.done.clone(),
            event,
            party: link.party.get_ref().clone(),
            expires,
        })
    }

    /// Checks a link's alternatives: other link actions of the same party that need nothing but
    /// their button.
    fn alternatives(&mut self, link_name: &Spanned<String>, link: &RawLink) {
        for other in &link.alternatives {
            match self.raw.links.iter().find(|(name, _)| name.get_ref() == other.get_ref()) {
                None => self.check.report(
                    other.span(),
                    format!("link `{}`: unknown alternative `{}`", link_name.get_ref(), other.get_ref()),
                    "name another link action of this workflow, such as `cancel`",
                ),
                Some((_, alt)) if alt.party.get_ref() != link.party.get_ref() => self.check.report(
                    other.span(),
                    format!(
                        "link `{}`: alternative `{}` is for party `{}`, not `{}`",
                        link_name.get_ref(),
                        other.get_ref(),
                        alt.party.get_ref(),
                        link.party.get_ref()
                    ),
                    "a page may only offer actions meant for the same recipient",
                ),
                Some((_, alt)) if alt.confirm.is_some() || !alt.fields.is_empty() => self.check.report(
                    other.span(),
                    format!(
                        "link `{}`: alternative `{}` has checkboxes or text fields, which the page cannot show beside its own",
                        link_name.get_ref(),
                        other.get_ref()
                    ),
                    "offer as an alternative only an action that needs nothing but its button, such as cancel",
                ),
                Some(_) => {}
            }
        }
    }

    /// Checks the names of a link's text fields: snake_case, not taken by the checkboxes.
    fn link_fields(&mut self, link_name: &Spanned<String>, link: &RawLink) {
        for field in &link.fields {
            if WorkflowName::parse(&field.name).is_err() || field.name.starts_with("confirm_") {
                self.check.report(
                    link.event.span(),
                    format!("link `{}`: `{}` is not a valid field name", link_name.get_ref(), field.name),
                    "use snake_case, such as `answer` (names starting with confirm_ are taken by the checkboxes)",
                );
            }
        }
    }

    /// Checks a list of emails: each one's template, party and links.
    pub(super) fn emails(&mut self, raw_emails: &[RawEmail]) -> Vec<EmailSpec> {
        raw_emails.iter().filter_map(|email| self.email(email)).collect()
    }

    /// Checks one email: a valid template name (that exists, when templates are checked), a
    /// declared party, and links meant for that party. `None` when the template name is not
    /// one (reported; the definition is not built).
    fn email(&mut self, email: &RawEmail) -> Option<EmailSpec> {
        let template = email.template.get_ref();
        let name = TemplateName::parse(template);
        if name.is_err() {
            self.check.report(
                email.template.span(),
                format!("`{template}` is not a valid template name"),
                "use snake_case, such as `verify_email`",
            );
        } else if let Some(exists) = self.env.template_exists {
            let workflow = self.raw.name.get_ref().as_str();
            if !exists(workflow, template) {
                self.check.report(
                    email.template.span(),
                    format!("unknown template `{template}`"),
                    format!("create templates/email/{workflow}/{template}.subject.tera and {template}.md.tera"),
                );
            }
        }
        if !self.raw.parties.keys().any(|p| p.get_ref() == email.to.get_ref()) {
            self.check.report(
                email.to.span(),
                format!("email `{template}`: unknown party `{}`", email.to.get_ref()),
                "declare it under [parties]",
            );
        }
        self.email_links(email);
        Some(EmailSpec {
            template: name.ok()?,
            to: email.to.get_ref().clone(),
            links: email.links.iter().map(|l| l.get_ref().clone()).collect(),
            draft: email.draft,
        })
    }

    /// Checks the links an email carries: declared, and for the party the email goes to.
    fn email_links(&mut self, email: &RawEmail) {
        for link in &email.links {
            match self.raw.links.iter().find(|(name, _)| name.get_ref() == link.get_ref()) {
                None => self.check.report(
                    link.span(),
                    format!("unknown link `{}`", link.get_ref()),
                    "declare it under [links]",
                ),
                Some((_, action)) if action.party.get_ref() != email.to.get_ref() => self.check.report(
                    link.span(),
                    format!(
                        "link `{}` belongs to party `{}`, but this email goes to `{}`",
                        link.get_ref(),
                        action.party.get_ref(),
                        email.to.get_ref()
                    ),
                    "a personalised link must be sent to its own party",
                ),
                Some(_) => {}
            }
        }
    }
}
