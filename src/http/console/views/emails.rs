//! Emails: a list per delivery status (drafts, queued, sending, sent, failed, and any status
//! the store adds), a draft's editor, release and retry.

use super::*;

/// The lists, one per status the store knows, drafts first.
fn tabs(current: Option<EmailStatus>) -> Vec<Value> {
    let mut statuses: Vec<EmailStatus> = EmailStatus::ALL.to_vec();
    statuses.sort_by_key(|s| *s != EmailStatus::Draft);
    statuses
        .into_iter()
        .map(|s| json!({ "status": s.as_str(), "label": list_label(s), "current": Some(s) == current }))
        .collect()
}

/// "Drafts", "Sent", …: a status as the list's name.
fn list_label(status: EmailStatus) -> String {
    match status.as_str() {
        "draft" => "Drafts".to_owned(),
        other => {
            let mut chars = other.chars();
            chars.next().map_or(String::new(), |first| first.to_uppercase().chain(chars).collect())
        }
    }
}

/// The emails of one status (`?status=`, drafts by default), newest first.
pub async fn emails(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    reader: Reader,
    Query(query): Query<Fields>,
) -> Response {
    let status = match query.get("status").map(String::as_str) {
        None | Some("") => EmailStatus::Draft,
        Some(text) => match text.parse::<EmailStatus>() {
            Ok(status) => status,
            Err(_) => {
                let names: Vec<&str> = EmailStatus::ALL.iter().map(EmailStatus::as_str).collect();
                let context = json!({
                    "tabs": tabs(None), "items": [], "status": Value::Null,
                    "error": format!("There is no “{text}” list of emails: choose one of {}.", names.join(", ")),
                });
                return page(&engine, StatusCode::NOT_FOUND, "emails", base(&reviewer, context));
            }
        },
    };
    let emails = match engine.store().emails_by_status(status, 500, None).await {
        Ok(emails) => emails,
        Err(err) => return failure(&engine, err),
    };
    let items: Vec<Value> = emails
        .iter()
        .map(|e| {
            json!({ "id": e.id.to_string(), "instance": e.instance_id.to_string(), "to": e.recipient,
                    "subject": e.subject, "attempts": e.attempts, "reply": e.last_reply,
                    "created": reader.time(e.created_at), "sent": reader.maybe(e.sent_at) })
        })
        .collect();
    let context = json!({
        "status": status, "label": list_label(status), "tabs": tabs(Some(status)), "items": items,
        "may_retry": reviewer.may(crate::access::Action::ConsoleRetryEmail),
    });
    page(&engine, StatusCode::OK, "emails", base(&reviewer, context))
}

pub async fn email(State(engine): State<Engine>, reviewer: Reviewer, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<OutboxId>() else { return not_found(&engine, "such email") };
    email_page(&engine, &reviewer, id, StatusCode::OK, None, None).await
}

/// The draft editor: a preview and the form; `error` shows a refused edit inline, with what
/// was typed kept.
pub(super) async fn email_page(
    engine: &Engine,
    reviewer: &Reviewer,
    id: OutboxId,
    status: StatusCode,
    error: Option<String>,
    typed: Option<(String, String)>,
) -> Response {
    let email = match engine.store().email(id).await {
        Ok(Some(email)) => email,
        Ok(None) => return not_found(engine, "such email"),
        Err(err) => return failure(engine, err),
    };
    let draft = email.status == EmailStatus::Draft;
    let (subject, text) = typed.unwrap_or_else(|| (email.subject.clone(), email.text_body.clone()));
    let context = json!({
        "id": id.to_string(),
        "instance": email.instance_id.to_string(),
        "to": email.recipient,
        "status": email.status,
        "draft": draft,
        "subject": subject,
        // Bodies hold live links: shown only while the email is a draft.
        "text": if draft { text } else { String::new() },
        "html": if draft { email.html_body.clone().unwrap_or_default() } else { String::new() },
        "attempts": email.attempts,
        "reply": email.last_reply,
        "may_edit": reviewer.may(crate::access::Action::ConsoleEditEmail),
        "may_release": reviewer.may(crate::access::Action::ConsoleReleaseEmail),
        "may_retry": reviewer.may(crate::access::Action::ConsoleRetryEmail),
        "error": error,
    });
    page(engine, status, "email", base(reviewer, context))
}

pub async fn edit_email(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    if let Some(refused) = reviewer.refusal(&engine, crate::access::Action::ConsoleEditEmail) {
        return refused;
    }
    let Ok(id) = id.parse::<OutboxId>() else { return not_found(&engine, "such email") };
    let subject = form.get("subject").cloned().unwrap_or_default();
    let text = form.get("text").cloned().unwrap_or_default().replace("\r\n", "\n");
    let edit = DraftEdit { subject: Some(subject.clone()), text: Some(text.clone()), html: None };
    match drafts::edit(&engine, id, edit).await {
        Ok(_) => Redirect::to(&format!("/console/emails/{id}")).into_response(),
        Err(
            err @ (DraftError::LinkChanged { .. }
            | DraftError::UrlNotAllowed { .. }
            | DraftError::Field(_)
            | DraftError::Empty(_)
            | DraftError::NotDraft { .. }),
        ) => {
            let status = if matches!(err, DraftError::NotDraft { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            email_page(&engine, &reviewer, id, status, Some(edit_refusal(&err)), Some((subject, text))).await
        }
        Err(DraftError::Unknown(_)) => not_found(&engine, "such email"),
        Err(err) => failure(&engine, err),
    }
}

pub(super) fn edit_refusal(err: &DraftError) -> String {
    match err {
        DraftError::LinkChanged { url, .. } => format!(
            "Not saved: the personalised link {url} was removed or changed. Put it back exactly as it was; it links the customer to your account."
        ),
        other => format!("Not saved: {other}."),
    }
}

pub async fn release_email(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    if let Some(refused) = reviewer.refusal(&engine, crate::access::Action::ConsoleReleaseEmail) {
        return refused;
    }
    let Ok(id) = id.parse::<OutboxId>() else { return not_found(&engine, "such email") };
    match drafts::release(&engine, id).await {
        Ok(_) => Redirect::to("/console/emails?status=draft").into_response(),
        Err(err @ (DraftError::NotDraft { .. } | DraftError::InstanceFinished { .. })) => {
            email_page(&engine, &reviewer, id, StatusCode::CONFLICT, Some(format!("{err}.")), None).await
        }
        Err(DraftError::Unknown(_)) => not_found(&engine, "such email"),
        Err(err) => failure(&engine, err),
    }
}

pub async fn retry_email(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    if let Some(refused) = reviewer.refusal(&engine, crate::access::Action::ConsoleRetryEmail) {
        return refused;
    }
    let Ok(id) = id.parse::<OutboxId>() else { return not_found(&engine, "such email") };
    match drafts::retry(&engine, id).await {
        Ok(_) => Redirect::to("/console/emails?status=failed").into_response(),
        Err(err @ (DraftError::NotFailed { .. } | DraftError::InstanceFinished { .. })) => {
            email_page(&engine, &reviewer, id, StatusCode::CONFLICT, Some(format!("{err}.")), None).await
        }
        Err(DraftError::Unknown(_)) => not_found(&engine, "such email"),
        Err(err) => failure(&engine, err),
    }
}
