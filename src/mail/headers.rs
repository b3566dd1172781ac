//! Who an email is from and whom replies go to: the workflow's `[mail]` section where it says,
//! the configuration (`mail_from`, `mail_reply_to`) where it does not. A reply address may come
//! from the instance's context, such as the reseller's user who sent a customer invitation, with
//! the name the directory gives that user.

use lettre::message::Mailbox;
use lettre::Address;
use serde_json::Value;

use crate::workflow::MailHeaders;

/// The headers settled for one email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
}

/// An address as mail carries it: normalised, its domain as an A-label.
fn address(text: &str) -> Option<Address> {
    let normal = crate::workflow::email::normalize(text).ok()?;
    normal.envelope().parse().ok()
}

/// The `From` and `Reply-To` of an email of a workflow with `mail`, rendered with `context`.
/// The definition's addresses were checked when it was read; a reply address in the context is
/// an input (checked at start) or the directory's, and one that does not parse is left out
/// rather than sent broken.
pub fn settle(mail: &MailHeaders, context: &Value, default_from: &Mailbox, default_reply: Option<&Mailbox>) -> Headers {
    let from_address = mail.from_address.as_deref().and_then(address).unwrap_or_else(|| default_from.email.clone());
    let from_name = mail.from_name.clone().or_else(|| default_from.name.clone());
    let text_at = |path: &Option<String>| {
        path.as_deref()
            .and_then(|p| crate::workflow::field(context, p))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let reply_to = match &mail.reply_to_email {
        Some(_) => text_at(&mail.reply_to_email)
            .and_then(|email| address(&email))
            .map(|email| Mailbox::new(text_at(&mail.reply_to_name), email)),
        None => mail.reply_to.as_deref().and_then(address).map(|email| Mailbox::new(None, email)),
    };
    Headers { from: Mailbox::new(from_name, from_address), reply_to: reply_to.or_else(|| default_reply.cloned()) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn default_from() -> Mailbox {
        "Accord <accord@example.com>".parse().unwrap()
    }

    #[test]
    fn the_workflow_overrides_the_configuration_part_by_part() {
        let mail = MailHeaders { from_name: Some("Contoso Onboarding".into()), ..Default::default() };
        let headers = settle(&mail, &json!({}), &default_from(), None);
        assert_eq!(headers.from.to_string(), "Contoso Onboarding <accord@example.com>");
        assert_eq!(headers.reply_to, None);
        let configured: Mailbox = "Support <support@example.com>".parse().unwrap();
        let mail = MailHeaders { from_address: Some("onboarding@contoso.example".into()), ..Default::default() };
        let headers = settle(&mail, &json!({}), &default_from(), Some(&configured));
        assert_eq!(headers.from.to_string(), "Accord <onboarding@contoso.example>");
        assert_eq!(headers.reply_to, Some(configured));
    }

    #[test]
    fn a_reply_address_from_the_context_carries_the_name_the_directory_gives() {
        let mail = MailHeaders {
            reply_to_email: Some("sender.email".into()),
            reply_to_name: Some("sender.name".into()),
            ..Default::default()
        };
        let context = json!({ "sender": { "email": "marco@contoso.it", "name": "Marco Rossi" } });
        let reply = settle(&mail, &context, &default_from(), None).reply_to.unwrap();
        assert_eq!(reply.to_string(), "Marco Rossi <marco@contoso.it>");
        let nameless = json!({ "sender": { "email": "marco@bücher.example", "name": "" } });
        let reply = settle(&mail, &nameless, &default_from(), None).reply_to.unwrap();
        assert_eq!(reply.to_string(), "marco@xn--bcher-kva.example");
    }
}
