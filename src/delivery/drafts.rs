//! Drafts: emails rendered and stored but held until a person releases them. A person may edit
//! the subject, text and HTML, but never drop or alter a personalised link: the recipient could
//! not act without it. Editing the text alone rebuilds the HTML part from it (see [`edit`]).

use serde::Deserialize;

use crate::engine::Engine;
use crate::ids::OutboxId;
use crate::mail::links;
use crate::store::{EmailRecord, EmailStatus, StoreError};
use crate::workflow::{check_text, TextLimit};

/// A change to a draft; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftEdit {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("no email with id {0}")]
    Unknown(OutboxId),
    #[error("email {id} is {status}, not a draft: only drafts can be edited or released")]
    NotDraft { id: OutboxId, status: EmailStatus },
    #[error("email {id} is {status}, not failed: only failed emails can be retried")]
    NotFailed { id: OutboxId, status: EmailStatus },
    /// Its instance ended (withdrawn, expired, cancelled, completed) after the email was queued:
    /// it was cancelled then, and sending it now would ask for something no longer wanted.
    #[error(
        "email {id} belongs to an instance that has ended ({state}), so it was cancelled and cannot be {what}; start a new instance if it is still wanted"
    )]
    InstanceFinished { id: OutboxId, state: String, what: &'static str },
    #[error(
        "the edit removes or alters the personalised link `{action}` in the {part} part; keep {url} exactly as it is"
    )]
    LinkChanged { action: String, part: &'static str, url: String },
    #[error("the {0} must not be empty")]
    Empty(&'static str),
    /// The edit adds a URL to a host that is not the public URL's nor configured.
    #[error(
        "the {part} part links to {url}; a draft may link only to {allowed} (add a host to draft_url_hosts to allow it)"
    )]
    UrlNotAllowed { part: &'static str, url: String, allowed: String },
    /// A part is too long or holds a control character (a line break in the subject would
    /// start a new header).
    #[error("{}", .0.message)]
    Field(crate::workflow::FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A subject line: one line, as long as mail clients show.
const SUBJECT: TextLimit = TextLimit { max_chars: 250, multi_line: false };
/// A body part: plenty for a letter, far from what would burden the outbox.
const BODY: TextLimit = TextLimit { max_chars: 100_000, multi_line: true };

impl DraftError {
    pub fn code(&self) -> &'static str {
        match self {
            DraftError::Unknown(_) => "unknown_email",
            DraftError::NotDraft { .. } => "not_a_draft",
            DraftError::NotFailed { .. } => "email_not_failed",
            DraftError::InstanceFinished { .. } => "instance_finished",
            DraftError::LinkChanged { .. } => "link_changed",
            DraftError::Empty(_) => "invalid_draft",
            DraftError::UrlNotAllowed { .. } => "url_not_allowed",
            DraftError::Field(refused) => refused.code,
            DraftError::Store(_) => "storage_error",
        }
    }

    /// The field an edit got wrong, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DraftError::LinkChanged { part, .. } | DraftError::UrlNotAllowed { part, .. } => Some(part),
            DraftError::Empty(field) => Some(field),
            DraftError::Field(refused) => match refused.field.as_str() {
                "subject" => Some("subject"),
                "html" => Some("html"),
                _ => Some("text"),
            },
            _ => None,
        }
    }
}

async fn draft(engine: &Engine, id: OutboxId) -> Result<EmailRecord, DraftError> {
    let email = engine.store().email(id).await?.ok_or(DraftError::Unknown(id))?;
    if email.status != EmailStatus::Draft {
        return Err(DraftError::NotDraft { id, status: email.status });
    }
    Ok(email)
}

/// Applies `edit` to draft `id`, refusing it if any personalised link would be lost or changed.
pub async fn edit(engine: &Engine, id: OutboxId, edit: DraftEdit) -> Result<EmailRecord, DraftError> {
    let mut email = draft(engine, id).await?;
    let subject = check_text("subject", &edit.subject.unwrap_or_else(|| email.subject.clone()), SUBJECT)
        .map_err(DraftError::Field)?;
    let text = edit.text.unwrap_or_else(|| email.text_body.clone());
    check_text("text", &text, BODY).map_err(DraftError::Field)?;
    // The HTML part follows the text: an edit that changes the text but not the HTML (leaves it
    // out, or sends it back as it was) rebuilds the HTML part from the new text in the shared
    // layout, so the two parts never say different things. An edit of the HTML itself is kept
    // as written (and checked below like the text).
    let html_kept = edit.html.as_ref().is_none_or(|html| Some(html) == email.html_body.as_ref());
    let html = if text != email.text_body && html_kept && email.html_body.is_some() {
        let body = crate::mail::markdown::html_from_text(&text);
        let subject = subject.trim();
        Some(engine.renderer().layout(&email.locale, subject, &body).map_err(|err| {
            DraftError::Field(crate::workflow::FieldError::new("html", "invalid_draft", err.to_string()))
        })?)
    } else {
        edit.html.or_else(|| email.html_body.clone())
    };
    if let Some(html) = &html {
        check_text("html", html, BODY).map_err(DraftError::Field)?;
    }
    if subject.trim().is_empty() {
        return Err(DraftError::Empty("subject"));
    }
    if text.trim().is_empty() {
        return Err(DraftError::Empty("text"));
    }
    // Every personalised link stays in every part, an added HTML part included, as a URL of its
    // own (not wrapped in another); and no part links anywhere but the allowed hosts.
    let personal = links::find_in(&email.text_body, engine.public_url());
    for (part, after) in [("text", Some(&text)), ("html", html.as_ref())] {
        let Some(after) = after else { continue };
        let found = urls_in(after);
        for url in &personal {
            if !found.contains(url) {
                let token = url.rsplit('/').next().unwrap_or_default();
                let action = engine
                    .store()
                    .link(&links::hash_token(token))
                    .await?
                    .map_or_else(|| "link".to_owned(), |l| l.action);
                return Err(DraftError::LinkChanged { action, part, url: url.clone() });
            }
        }
        let allowed = engine.draft_url_hosts();
        if let Some(url) = found.iter().find(|url| !url_allowed(url, allowed)) {
            return Err(DraftError::UrlNotAllowed { part, url: url.clone(), allowed: allowed.join(", ") });
        }
    }
    if !engine.store().update_draft(id, subject.trim(), &text, html.as_deref()).await? {
        // Released (or sent) between the read and the write.
        let status = engine.store().email(id).await?.map_or(EmailStatus::Queued, |e| e.status);
        return Err(DraftError::NotDraft { id, status });
    }
    email.subject = subject.trim().to_owned();
    email.text_body = text;
    email.html_body = html;
    Ok(email)
}

/// Queues draft `id` for sending; refused once its instance has ended (the draft was cancelled
/// then).
pub async fn release(engine: &Engine, id: OutboxId) -> Result<EmailRecord, DraftError> {
    let email = match draft(engine, id).await {
        Err(DraftError::NotDraft { status: EmailStatus::Cancelled, .. }) => {
            return Err(ended(engine, id, "released").await?)
        }
        other => other?,
    };
    if !engine.store().release_draft(id, engine.now()).await? {
        // Released, or cancelled by the step that ended its instance, since the read.
        let status = engine.store().email(id).await?.map_or(EmailStatus::Queued, |e| e.status);
        if status == EmailStatus::Cancelled {
            return Err(ended(engine, id, "released").await?);
        }
        return Err(DraftError::NotDraft { id, status });
    }
    Ok(EmailRecord { status: EmailStatus::Queued, ..email })
}

/// Queues failed email `id` again; refused when it is not failed, or when its instance has
/// ended since the step that queued it (the final state's own notice may be retried).
pub async fn retry(engine: &Engine, id: OutboxId) -> Result<EmailRecord, DraftError> {
    let email = engine.store().email(id).await?.ok_or(DraftError::Unknown(id))?;
    if email.status == EmailStatus::Cancelled {
        return Err(ended(engine, id, "retried").await?);
    }
    if email.status != EmailStatus::Failed {
        return Err(DraftError::NotFailed { id, status: email.status });
    }
    if !engine.store().retry_email(id, engine.now()).await? {
        let status = engine.store().email(id).await?.map_or(EmailStatus::Queued, |e| e.status);
        if status == EmailStatus::Failed {
            // Still failed: the store refused it because the instance ended.
            return Err(ended(engine, id, "retried").await?);
        }
        return Err(DraftError::NotFailed { id, status });
    }
    Ok(EmailRecord { status: EmailStatus::Queued, ..email })
}

/// The refusal for an email of an ended instance, naming the state it ended in.
async fn ended(engine: &Engine, id: OutboxId, what: &'static str) -> Result<DraftError, DraftError> {
    let email = engine.store().email(id).await?.ok_or(DraftError::Unknown(id))?;
    let state = match engine.store().instance(email.instance_id).await? {
        Some(instance) => instance.state.to_string(),
        None => "unknown".to_owned(),
    };
    Ok(DraftError::InstanceFinished { id, state, what })
}

/// Every URL in a part: web addresses (found by `linkify`, wherever they sit, inside HTML
/// attributes too) and the values of `href`, `src` and `action` attributes with any other scheme
/// (`javascript:`, `data:`), which a mail client would follow.
fn urls_in(part: &str) -> Vec<String> {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    let mut found: Vec<String> = finder.links(part).map(|link| link.as_str().to_owned()).collect();
    let lower = part.to_ascii_lowercase();
    for attribute in ["href=", "src=", "action="] {
        for (at, _) in lower.match_indices(attribute) {
            let value = part[at + attribute.len()..].trim_start_matches(['"', '\'', ' ']);
            let value: String = value.chars().take_while(|c| !matches!(c, '"' | '\'' | ' ' | '>')).collect();
            let scheme = value.split(':').next().unwrap_or_default().to_ascii_lowercase();
            if value.contains(':') && !matches!(scheme.as_str(), "http" | "https" | "mailto") {
                found.push(value);
            }
        }
    }
    found
}

/// Whether `url` is a web address on one of the `allowed` hosts.
fn url_allowed(url: &str, allowed: &[String]) -> bool {
    let Ok(parsed) = url::Url::parse(url) else { return false };
    matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some_and(|host| allowed.iter().any(|a| a.eq_ignore_ascii_case(host)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "https://accord.example/l/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn urls_are_found_in_text_and_in_html_attributes() {
        let text = format!("Accept: {LINK}\nor see https://evil.example/x.");
        assert_eq!(urls_in(&text), [LINK, "https://evil.example/x"]);
        let html = format!("<a href=\"{LINK}\">Accept</a> <a href='javascript:alert(1)'>x</a>");
        assert_eq!(urls_in(&html), [LINK.to_owned(), "javascript:alert(1)".to_owned()]);
    }

    #[test]
    fn a_link_wrapped_in_another_url_is_not_the_link() {
        let wrapped = format!("https://evil.example/?u={LINK}");
        let found = urls_in(&wrapped);
        assert!(!found.contains(&LINK.to_owned()), "{found:?}");
        assert!(!url_allowed(&found[0], &["accord.example".into()]));
    }

    #[test]
    fn only_web_addresses_on_allowed_hosts_pass() {
        let allowed = ["accord.example".to_owned(), "contoso.example".to_owned()];
        assert!(url_allowed(LINK, &allowed));
        assert!(url_allowed("https://CONTOSO.example/about", &allowed));
        assert!(!url_allowed("https://contoso.example.evil.example/", &allowed));
        assert!(!url_allowed("javascript:alert(1)", &allowed));
        assert!(!url_allowed("data:text/html,hi", &allowed));
    }
}
