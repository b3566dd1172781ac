//! Drafts: emails rendered and stored but held until a person releases them. A person may edit
//! the subject, text and HTML, but never drop or alter a personalised link: the recipient could
//! not act without it.

use serde::Deserialize;

use crate::engine::Engine;
use crate::ids::OutboxId;
use crate::mail::links;
use crate::store::{EmailRecord, EmailStatus, StoreError};

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
    #[error(
        "the edit removes or alters the personalised link `{action}` in the {part} part; keep {url} exactly as it is"
    )]
    LinkChanged { action: String, part: &'static str, url: String },
    #[error("the {0} must not be empty")]
    Empty(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DraftError {
    pub fn code(&self) -> &'static str {
        match self {
            DraftError::Unknown(_) => "unknown_email",
            DraftError::NotDraft { .. } => "not_a_draft",
            DraftError::LinkChanged { .. } => "link_changed",
            DraftError::Empty(_) => "invalid_draft",
            DraftError::Store(_) => "storage_error",
        }
    }

    /// The field an edit got wrong, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DraftError::LinkChanged { part, .. } => Some(part),
            DraftError::Empty(field) => Some(field),
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
    let subject = edit.subject.unwrap_or_else(|| email.subject.clone());
    let text = edit.text.unwrap_or_else(|| email.text_body.clone());
    let html = edit.html.or_else(|| email.html_body.clone());
    if subject.trim().is_empty() {
        return Err(DraftError::Empty("subject"));
    }
    if text.trim().is_empty() {
        return Err(DraftError::Empty("text"));
    }
    let parts = [("text", Some(&email.text_body), Some(&text)), ("html", email.html_body.as_ref(), html.as_ref())];
    for (part, before, after) in parts {
        let Some(before) = before else { continue };
        let after = after.map(String::as_str).unwrap_or_default();
        for url in links::find_in(before, engine.public_url()) {
            if !links::find_in(after, engine.public_url()).contains(&url) {
                let token = url.rsplit('/').next().unwrap_or_default();
                let action = engine
                    .store()
                    .link(&links::hash_token(token))
                    .await?
                    .map_or_else(|| "link".to_owned(), |l| l.action);
                return Err(DraftError::LinkChanged { action, part, url });
            }
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

/// Queues draft `id` for sending.
pub async fn release(engine: &Engine, id: OutboxId) -> Result<EmailRecord, DraftError> {
    let email = draft(engine, id).await?;
    if !engine.store().release_draft(id, engine.now()).await? {
        return Err(DraftError::NotDraft { id, status: EmailStatus::Queued });
    }
    Ok(EmailRecord { status: EmailStatus::Queued, ..email })
}
