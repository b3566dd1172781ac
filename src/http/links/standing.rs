//! Where a link's request stands, read before its page shows a form: a link whose instance no
//! longer waits for its action (ended, or moved to a state where the action does not apply)
//! gets a page saying so and why, never a form that can only fail.

use axum::http::StatusCode;
use serde::Serialize;
use tracing::{error, info};

use super::{Found, Page};
use crate::engine::{Engine, EngineError, Refusal};
use crate::store::{InstanceStatus, LinkStatus, Origin};

/// Why a link no longer applies, as the page explains it (a stable code the page templates map
/// to a sentence in the recipient's language). A request answered by a link (the recipient's
/// other link, or another recipient's) shows as done instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The sender withdrew or cancelled the request (a signal, or an operator).
    Withdrawn,
    /// Its time ran out (a timer or a periodic job ended it).
    Expired,
    /// Reviewers decided.
    Decided,
    /// The request is still open but moved to a state where this action does not apply.
    MovedOn,
}

/// The page for a link that cannot act now, if it cannot. A link used by its own recipient shows
/// the outcome its first use had; otherwise an instance that no longer waits for the action says
/// why; then a replaced or expired link gets its page.
pub(super) async fn settled(engine: &Engine, found: &Found) -> Option<Page> {
    let link = &found.link;
    if link.status == LinkStatus::Used {
        let key = format!("link:{}", link.hash);
        match engine.store().history_by_key(link.instance_id, &key).await {
            Ok(Some(first)) => {
                return Some(match Engine::unmet_of(&first) {
                    Some(unmet) => Page::Lapsed { state: first.to_state.to_string(), unmet },
                    None => Page::Done { state: first.to_state.to_string(), again: true, said: None, by_other: false },
                })
            }
            // Used up when someone answered for the party: where the request stands, below.
            Ok(None) => {}
            Err(err) => {
                error!(error = %err, "reading a link's first use failed");
                return Some(Page::Failure { status: StatusCode::SERVICE_UNAVAILABLE });
            }
        }
    }
    if let Some(page) = closed(engine, found).await {
        return Some(page);
    }
    match link.status {
        LinkStatus::Used => Some(Page::Done { state: found.state.clone(), again: true, said: None, by_other: true }),
        LinkStatus::Superseded => Some(Page::Superseded),
        LinkStatus::Active if link.expires_at <= engine.now() => Some(Page::Expired),
        LinkStatus::Active => None,
    }
}

/// The page for a link whose instance ended or left the states where its action applies.
async fn closed(engine: &Engine, found: &Found) -> Option<Page> {
    if found.status == InstanceStatus::Active {
        let applies = found
            .state
            .parse::<crate::workflow::StateName>()
            .ok()
            .and_then(|state| found.definition.state(&state).map(|s| s.transitions.contains_key(&found.link.event)))
            .unwrap_or(false);
        return (!applies).then(|| Page::NoLongerApplies { state: found.state.clone(), why: Why::MovedOn });
    }
    let history = match engine.store().history(found.link.instance_id).await {
        Ok(history) => history,
        Err(err) => {
            error!(error = %err, "reading a link's instance history failed");
            return Some(Page::Failure { status: StatusCode::SERVICE_UNAVAILABLE });
        }
    };
    // The step that entered the final state (not one that stayed in a state on the way).
    let ending =
        history.iter().rev().find(|h| h.to_state.as_str() == found.state && h.from_state.as_ref() != Some(&h.to_state));
    let Some(last) = ending else {
        return Some(Page::NoLongerApplies { state: found.state.clone(), why: Why::Withdrawn });
    };
    let state = found.state.clone();
    // Answered by a link: by this recipient's other link, or by another recipient of the party.
    let by_other = last.actor != format!("link:{}", found.link.recipient);
    Some(match (last.origin, Engine::unmet_of(last)) {
        // Someone else's attempt lapsed: their reason (a role they lost) is not this reader's.
        (Origin::Link, Some(_)) if by_other => Page::Done { state, again: true, said: None, by_other },
        (_, Some(unmet)) => Page::Lapsed { state, unmet },
        (Origin::Link, None) => Page::Done { state, again: true, said: None, by_other },
        (Origin::Timer | Origin::Schedule, None) => Page::NoLongerApplies { state, why: Why::Expired },
        (Origin::Reviewer, None) => Page::NoLongerApplies { state, why: Why::Decided },
        (Origin::Pipeline | Origin::Operator | Origin::Start, None) => {
            Page::NoLongerApplies { state, why: Why::Withdrawn }
        }
    })
}

/// Why an action was refused, as a stable code the page templates put in the recipient's words,
/// with the partners' and the customer's names (never an id, never the server's English).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    /// The customer accepted the Microsoft Customer Agreement meanwhile.
    AgreementAlreadyAccepted,
    /// The provider is the reseller's indirect provider already.
    AlreadyRelated,
    /// What the action requires no longer holds (its reason and subject come with it).
    Unmet,
    /// Any other rule: the page says the request cannot be completed as it stands.
    NotPossible,
}

/// The directory's refusals a link's action can meet, by the store's wording.
const DIRECTORY_REFUSALS: &[(&str, Refused)] = &[
    ("the customer agreement was accepted already", Refused::AgreementAlreadyAccepted),
    ("the reseller already has this indirect provider", Refused::AlreadyRelated),
];

impl Refused {
    fn of(reason: &str) -> Self {
        DIRECTORY_REFUSALS.iter().find(|(text, _)| *text == reason).map_or(Refused::NotPossible, |(_, code)| *code)
    }
}

/// The page for an engine error on acting: the request moved on (read again, to say why), a rule
/// refused, or something failed (logged).
pub(super) async fn after_error(engine: &Engine, found: &Found, err: EngineError, what: &str) -> Page {
    match err {
        EngineError::Refused(Refusal::EventNotAllowed { state, .. })
        | EngineError::Refused(Refusal::InstanceFinished { state, .. }) => {
            // It moved since the page was read: say why, as a fresh read of it would.
            match super::find(engine, &found.agreements, &found.token, found.locale.as_deref().unwrap_or("en")).await {
                Ok(now) => match closed(engine, &now).await {
                    Some(page) => page,
                    None => Page::NoLongerApplies { state, why: Why::MovedOn },
                },
                Err(_) => Page::NoLongerApplies { state, why: Why::MovedOn },
            }
        }
        EngineError::DirectoryRefused { reason, unmet: Some(unmet) } => {
            // What the action requires does not hold, and the request has nowhere to lapse to:
            // it stays open for someone who may act (a global admin, the recorded contact).
            info!(%reason, "a link's action was refused");
            Page::Refused { code: Refused::Unmet, unmet: Some(*unmet) }
        }
        EngineError::DirectoryRefused { reason, unmet: None }
        | EngineError::Refused(Refusal::GuardRefused { reason, .. }) => {
            info!(%reason, "a link's action was refused");
            Page::Refused { code: Refused::of(&reason), unmet: None }
        }
        err => {
            error!(error = %err, "{what}");
            let status =
                if err.is_transient() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
            Page::Failure { status }
        }
    }
}
