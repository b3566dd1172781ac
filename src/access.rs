//! Who may do what: the one authorisation table, used by the API, the console and the CLI.
//!
//! A request is made by a [`Principal`]: one of the operator's keys (`admin`, `reviewer`,
//! `pipeline`), a partner key acting as one user of one partner with that user's roles in the
//! directory *now*, the CLI (the operator at the database), or nobody (public pages, whose
//! tokens or rate limits are their guard). [`TABLE`] names every route and console action with
//! the operator scopes and partner roles it admits; [`check`] reads it. What a partner key may
//! touch is then narrowed to its own partner by the handlers, which answer 404 for anything of
//! another partner's, so that ids do not leak.

use std::fmt::Write as _;

use crate::directory::{PartnerRecord, PartnerUserRecord, Role};
use crate::keys;
use crate::store::{ApiKeyRecord, Origin, Scope};

/// Every action a principal may be allowed or refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Health,
    Metrics,
    StartInstance,
    ListInstances,
    ShowInstance,
    SendEvent,
    ListPartners,
    AddProvider,
    AddUser,
    SetUserRoles,
    RemoveUser,
    ProvidersOf,
    ResellersOf,
    CustomersOf,
    SharedCustomers,
    RemoveProviderAdminAccess,
    RemoveCustomer,
    ListCustomers,
    AddCustomer,
    ShowCustomer,
    SetCustomerContact,
    RequestAgreement,
    RemoveAdminRoles,
    DeleteRelationship,
    Audit,
    ListEmails,
    ShowEmail,
    EditEmail,
    ReleaseEmail,
    RetryEmail,
    CreateKey,
    ListKeys,
    RevokeKey,
    LinkPage,
    LinkAct,
    LinkResend,
    ConsoleSignIn,
    ConsoleSignOut,
    ConsoleQueue,
    ConsoleInstances,
    ConsoleInstance,
    ConsoleDecide,
    ConsoleSignal,
    ConsoleEmails,
    ConsoleEmail,
    ConsoleEditEmail,
    ConsoleReleaseEmail,
    ConsoleRetryEmail,
    ConsolePartners,
    ConsoleSetRoles,
    Enroll,
    FindProviders,
    ProvidersPage,
}

/// How a partner key's reach is narrowed to its own partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Not partner-scoped (partner keys are refused, or the action is public).
    None,
    /// The request names one resource; another partner's answers 404.
    Owned,
    /// A list: only the partner's own rows are in it.
    Listed,
}

/// Who may take an action.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub action: Action,
    pub method: &'static str,
    pub path: &'static str,
    /// Needs no key: public pages (a link's token, or a rate limit, guards them).
    pub public: bool,
    /// Operator scopes admitted besides `admin`, which is admitted everywhere a key is needed.
    pub operators: &'static [Scope],
    /// Partner roles admitted, on the key's own partner; empty: partner keys are refused.
    pub partner_roles: &'static [Role],
    pub reach: Reach,
    /// The CLI command doing the same on the operator's behalf, if any.
    pub cli: &'static str,
    pub what: &'static str,
}

use Action::*;
use Role::{AdminAgent, GlobalAdmin, SalesAgent, UserAdmin};
use Scope::{Pipeline, Reviewer};

const ANY_ROLE: &[Role] = &[GlobalAdmin, UserAdmin, AdminAgent, SalesAgent];
const AGENTS: &[Role] = crate::directory::commands::CUSTOMER_MANAGERS;
const USER_ADMINS: &[Role] = crate::directory::commands::USER_MANAGERS;
const READERS: &[Scope] = &[Pipeline, Reviewer];

const fn rule(action: Action, method: &'static str, path: &'static str, what: &'static str) -> Rule {
    Rule { action, method, path, public: false, operators: &[], partner_roles: &[], reach: Reach::None, cli: "", what }
}

const fn public(action: Action, method: &'static str, path: &'static str, what: &'static str) -> Rule {
    Rule { public: true, ..rule(action, method, path, what) }
}

impl Rule {
    const fn ops(self, operators: &'static [Scope]) -> Rule {
        Rule { operators, ..self }
    }

    const fn partners(self, roles: &'static [Role], reach: Reach) -> Rule {
        Rule { partner_roles: roles, reach, ..self }
    }

    const fn cli(self, cli: &'static str) -> Rule {
        Rule { cli, ..self }
    }
}

/// The one authorisation table. Every route the server answers and every console action is in
/// it (a test walks it against the server); the README prints it.
pub const TABLE: &[Rule] = &[
    public(Health, "GET", "/healthz, /readyz", "liveness and readiness"),
    public(Metrics, "GET", "/metrics", "Prometheus metrics (counts only, no personal data)"),
    rule(StartInstance, "POST", "/api/v1/instances", "start an instance; a partner key only invitations it asks for")
        .ops(&[Pipeline])
        .partners(AGENTS, Reach::Owned)
        .cli("accord start"),
    rule(ListInstances, "GET", "/api/v1/instances", "list instances")
        .ops(READERS)
        .partners(ANY_ROLE, Reach::Listed)
        .cli("accord list"),
    rule(ShowInstance, "GET", "/api/v1/instances/{id}", "read an instance")
        .ops(READERS)
        .partners(ANY_ROLE, Reach::Owned)
        .cli("accord show"),
    rule(SendEvent, "POST", "/api/v1/instances/{id}/events", "send an event (reviewers: decisions; others: signals)")
        .ops(READERS)
        .partners(AGENTS, Reach::Owned)
        .cli("accord event"),
    rule(ListPartners, "GET", "/api/v1/partners", "partners with their users")
        .ops(READERS)
        .partners(ANY_ROLE, Reach::Listed)
        .cli("accord partners"),
    rule(AddProvider, "POST", "/api/v1/partners/providers", "add an indirect provider")
        .cli("accord partners add-provider"),
    rule(AddUser, "POST", "/api/v1/partners/{id}/users", "add a user with roles")
        .ops(&[Pipeline])
        .partners(USER_ADMINS, Reach::Owned)
        .cli("accord partners add-user"),
    rule(SetUserRoles, "POST", "/api/v1/partners/{id}/users/{email}/roles", "change a user's roles")
        .ops(&[Pipeline])
        .partners(USER_ADMINS, Reach::Owned)
        .cli("accord partners set-roles"),
    rule(RemoveUser, "POST", "/api/v1/partners/{id}/users/{email}/remove", "remove a user")
        .ops(&[Pipeline])
        .partners(USER_ADMINS, Reach::Owned)
        .cli("accord partners remove-user"),
    rule(ProvidersOf, "GET", "/api/v1/partners/{id}/providers", "a reseller's indirect providers")
        .ops(READERS)
        .partners(ANY_ROLE, Reach::Owned)
        .cli("accord partners providers"),
    rule(ResellersOf, "GET", "/api/v1/partners/{id}/resellers", "a provider's indirect resellers")
        .ops(READERS)
        .partners(ANY_ROLE, Reach::Owned)
        .cli("accord partners resellers"),
    rule(CustomersOf, "GET", "/api/v1/partners/{id}/customers", "a partner's customers")
        .ops(READERS)
        .partners(ANY_ROLE, Reach::Owned)
        .cli("accord partners customers"),
    rule(
        SharedCustomers,
        "GET",
        "/api/v1/partners/{reseller}/providers/{provider}/customers",
        "customers a reseller shares with its provider",
    )
    .ops(READERS)
    .partners(ANY_ROLE, Reach::Owned)
    .cli("accord partners customers --provider"),
    rule(
        RemoveProviderAdminAccess,
        "POST",
        "/api/v1/partners/{reseller}/providers/{provider}/remove-admin-access",
        "the reseller removes its provider's admin access",
    )
    .ops(&[Pipeline])
    .partners(&[GlobalAdmin], Reach::Owned)
    .cli("accord partners remove-admin-access"),
    rule(
        RemoveCustomer,
        "POST",
        "/api/v1/partners/{partner}/customers/{customer}/remove",
        "the partner ends a customer relationship",
    )
    .ops(&[Pipeline])
    .partners(AGENTS, Reach::Owned)
    .cli("accord partners remove-customer"),
    rule(ListCustomers, "GET", "/api/v1/customers", "customers")
        .ops(READERS)
        .partners(ANY_ROLE, Reach::Listed)
        .cli("accord customers"),
    rule(AddCustomer, "POST", "/api/v1/customers", "add a customer the partners already work with")
        .cli("accord customers add"),
    rule(ShowCustomer, "GET", "/api/v1/customers/{id}", "a customer with its partners")
        .ops(READERS)
        .partners(ANY_ROLE, Reach::Owned)
        .cli("accord customers show"),
    rule(
        SetCustomerContact,
        "POST",
        "/api/v1/customers/{id}/contact",
        "change a customer's admin contact (on the customer's word)",
    )
    .ops(&[Pipeline])
    .cli("accord customers set-contact"),
    rule(
        RequestAgreement,
        "POST",
        "/api/v1/customers/{id}/agreement-requests",
        "mail the customer an agreement-acceptance link",
    )
    .ops(&[Pipeline])
    .partners(AGENTS, Reach::Owned)
    .cli("accord customers request-agreement"),
    rule(
        RemoveAdminRoles,
        "POST",
        "/api/v1/customers/{customer}/partners/{partner}/remove-admin-roles",
        "the customer removes a partner's admin roles",
    )
    .ops(&[Pipeline])
    .cli("accord customers remove-admin-roles"),
    rule(
        DeleteRelationship,
        "POST",
        "/api/v1/customers/{customer}/partners/{partner}/delete",
        "the customer deletes a delegated admin or advisor relationship",
    )
    .ops(&[Pipeline])
    .cli("accord customers delete-relationship"),
    rule(Audit, "GET", "/api/v1/audit", "the audit log of a partner or customer")
        .ops(&[Reviewer])
        .partners(&[GlobalAdmin], Reach::Owned)
        .cli("accord audit"),
    rule(ListEmails, "GET", "/api/v1/emails", "emails by status")
        .ops(READERS)
        .partners(AGENTS, Reach::Listed)
        .cli("accord emails list"),
    rule(ShowEmail, "GET", "/api/v1/emails/{id}", "an email; a draft in full")
        .ops(&[Pipeline])
        .partners(AGENTS, Reach::Owned)
        .cli("accord emails show"),
    rule(EditEmail, "PATCH", "/api/v1/emails/{id}", "edit a draft")
        .ops(&[Pipeline])
        .partners(AGENTS, Reach::Owned)
        .cli("accord emails edit"),
    rule(ReleaseEmail, "POST", "/api/v1/emails/{id}/release", "send a draft")
        .ops(&[Pipeline])
        .partners(AGENTS, Reach::Owned)
        .cli("accord emails release"),
    rule(RetryEmail, "POST", "/api/v1/emails/{id}/retry", "queue a failed email again").cli("accord emails retry"),
    rule(CreateKey, "POST", "/api/v1/keys", "create a key").cli("accord keys create"),
    rule(ListKeys, "GET", "/api/v1/keys", "list keys").cli("accord keys list"),
    rule(RevokeKey, "POST", "/api/v1/keys/{id}/revoke", "revoke a key").cli("accord keys revoke"),
    public(LinkPage, "GET", "/l/{token}", "a link's page (never changes anything)"),
    public(LinkAct, "POST", "/l/{token}", "act on a link (rate-limited)"),
    public(LinkResend, "POST", "/l/{token}/resend", "ask for a new link (rate-limited)"),
    public(
        ConsoleSignIn,
        "GET, POST",
        "/console/login",
        "sign in to the console with a reviewer or admin key (rate-limited)",
    ),
    rule(ConsoleSignOut, "POST", "/console/logout", "sign out").ops(&[Reviewer]),
    rule(ConsoleQueue, "GET", "/console", "the review queue").ops(&[Reviewer]),
    rule(ConsoleInstances, "GET", "/console/instances", "instances of every workflow, filtered and searched")
        .ops(&[Reviewer]),
    rule(ConsoleInstance, "GET", "/console/instances/{id}", "an instance's timeline").ops(&[Reviewer]),
    rule(
        ConsoleDecide,
        "POST",
        "/console/instances/{id}/decisions",
        "decide, or send a signal the workflow gives reviewers",
    )
    .ops(&[Reviewer]),
    rule(
        ConsoleSignal,
        "GET, POST",
        "/console/instances/{id}/signals/{event}",
        "send a workflow's signal (withdraw, say), confirmed, with a reason",
    ),
    rule(ConsoleEmails, "GET", "/console/emails", "emails by status (drafts, queued, sent, failed…)").ops(&[Reviewer]),
    rule(ConsoleEmail, "GET", "/console/emails/{id}", "one email").ops(&[Reviewer]),
    rule(ConsoleEditEmail, "POST", "/console/emails/{id}", "edit a draft"),
    rule(ConsoleReleaseEmail, "POST", "/console/emails/{id}/release", "send a draft"),
    rule(ConsoleRetryEmail, "POST", "/console/emails/{id}/retry", "queue a failed email again"),
    rule(ConsolePartners, "GET", "/console/partners, /console/partners/{id}", "the directory").ops(&[Reviewer]),
    rule(ConsoleSetRoles, "POST", "/console/partners/{id}/users/{email}/roles", "change a partner user's roles"),
    public(Enroll, "GET, POST", "/enroll", "the public enrollment form; posting it starts `enrollment` (rate-limited)"),
    public(FindProviders, "GET", "/api/v1/providers", "active indirect providers serving a country (`?country=IT`)")
        .cli("accord providers"),
    public(ProvidersPage, "GET", "/providers", "the provider finder's page, for resellers looking for one"),
];

/// The workflows a partner key may start, and where their input names the partner asking: a
/// partner key starts only the ones its own partner asks for. Enrollment is the operator's.
pub const OWNER_FIELDS: &[(&str, &str)] = &[
    ("customer_invitation", "reseller.id"),
    ("dual_customer_invitation", "reseller.id"),
    ("provider_invitation", "provider.id"),
    ("customer_agreement", "partner.id"),
];

/// Where a workflow's input names the partner's user sending it; a partner key's user.
pub const SENDER_FIELDS: &[(&str, &str)] =
    &[("customer_invitation", "sender.email"), ("dual_customer_invitation", "sender.email")];

/// The partner an instance of `workflow` with `context` belongs to, if any.
pub fn owner_of(workflow: &str, context: &serde_json::Value) -> Option<uuid::Uuid> {
    let (_, path) = OWNER_FIELDS.iter().find(|(w, _)| *w == workflow)?;
    crate::workflow::field(context, path).and_then(serde_json::Value::as_str).and_then(|id| id.trim().parse().ok())
}

/// Context fields the start checks fill from the directory with another party's people (a
/// reseller's global admins, a customer's recorded contact): a partner key never sees them.
pub const WITHHELD_FIELDS: &[&str] = &["/reseller/admins", "/customer/admin"];

/// What a partner key is shown instead of another party's address.
pub const WITHHELD: &str = "(withheld: taken from the directory)";

/// The addresses a partner's caller gave in an instance's input, which it may see again.
pub fn given_addresses(context: &serde_json::Value) -> Vec<String> {
    ["/customer/email", "/reseller/email", "/sender/email"]
        .iter()
        .filter_map(|path| context.pointer(path).and_then(serde_json::Value::as_str))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Withholds from an instance as a partner key sees it (its JSON) what the directory filled in
/// about other parties' people: those context fields, and emails' recipients it did not give.
pub fn withhold_from_partner(view: &mut serde_json::Value) {
    let given = given_addresses(&view["context"]);
    if let Some(context) = view.get_mut("context") {
        for path in WITHHELD_FIELDS {
            let (parent, key) = path.rsplit_once('/').unwrap_or_default();
            if let Some(object) = context.pointer_mut(parent).and_then(serde_json::Value::as_object_mut) {
                object.remove(key);
            }
        }
    }
    if let Some(emails) = view.get_mut("emails").and_then(serde_json::Value::as_array_mut) {
        for email in emails {
            withhold_recipient(email, &given);
        }
    }
}

/// Replaces an email's `recipient` unless it is one of the `given` addresses.
pub fn withhold_recipient(email: &mut serde_json::Value, given: &[String]) {
    let shown = email["recipient"].as_str().is_some_and(|r| given.contains(&r.to_ascii_lowercase()));
    if !shown && email.get("recipient").is_some() {
        email["recipient"] = serde_json::Value::String(WITHHELD.to_owned());
    }
}

/// The store's filter for the instances `partner` owns.
pub fn owned_by(partner: uuid::Uuid) -> crate::store::Owner {
    crate::store::Owner { partner, fields: OWNER_FIELDS.to_vec() }
}

/// The rule of `action`.
pub fn rule_of(action: Action) -> &'static Rule {
    TABLE.iter().find(|r| r.action == action).expect("every action is in the table")
}

/// Who makes a request.
#[derive(Clone, Debug)]
pub enum Principal {
    /// One of the operator's keys.
    Operator { key: ApiKeyRecord },
    /// A partner key: its user, with the roles the directory gives them at this request.
    Partner { key: ApiKeyRecord, partner: Box<PartnerRecord>, user: Box<PartnerUserRecord> },
    /// The CLI, run by the operator at the database: admits what an admin key admits.
    Cli,
}

/// Why a principal may not take an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub code: &'static str,
    pub message: String,
}

impl Principal {
    /// The operator scope, for operator keys and the CLI (as admin).
    pub fn scope(&self) -> Option<Scope> {
        match self {
            Principal::Operator { key } => Some(key.scope),
            Principal::Partner { .. } => None,
            Principal::Cli => Some(Scope::Admin),
        }
    }

    pub fn key(&self) -> Option<&ApiKeyRecord> {
        match self {
            Principal::Operator { key } | Principal::Partner { key, .. } => Some(key),
            Principal::Cli => None,
        }
    }

    /// The partner a partner key acts for.
    pub fn partner(&self) -> Option<&PartnerRecord> {
        match self {
            Principal::Partner { partner, .. } => Some(partner),
            _ => None,
        }
    }

    /// Whether the principal may see or change what belongs to partner `id`: operators may,
    /// a partner key only for its own partner.
    pub fn reaches(&self, id: uuid::Uuid) -> bool {
        self.partner().is_none_or(|p| p.id == id)
    }

    /// How the engine sees events this principal sends.
    pub fn origin(&self) -> Origin {
        match self.scope() {
            Some(Scope::Admin) => Origin::Operator,
            Some(Scope::Reviewer) => Origin::Reviewer,
            // Partners send signals (cancelling their own invitation), as pipelines do.
            _ => Origin::Pipeline,
        }
    }

    /// The authenticated principal, as histories and audit rows name it.
    pub fn name(&self) -> String {
        match self {
            Principal::Operator { key } | Principal::Partner { key, .. } => keys::principal_name(key),
            Principal::Cli => "cli".into(),
        }
    }

    /// The person acting: a partner key's user; operators name no one (they name `by`).
    pub fn user(&self) -> Option<&str> {
        match self {
            Principal::Partner { user, .. } => Some(&user.email),
            _ => None,
        }
    }

    /// Who the history records: a partner key's user with the key, an operator's key.
    pub fn actor(&self) -> String {
        match self.user() {
            Some(user) => format!("{user} ({})", self.name()),
            None => self.name(),
        }
    }
}

/// Whether `principal` may take `action`, by the table.
pub fn check(principal: &Principal, action: Action) -> Result<(), Denied> {
    let rule = rule_of(action);
    if rule.public {
        return Ok(());
    }
    match principal {
        Principal::Cli => Ok(()),
        Principal::Operator { key } => {
            if key.scope == Scope::Admin || rule.operators.contains(&key.scope) {
                return Ok(());
            }
            let mut wanted = vec!["admin"];
            wanted.extend(rule.operators.iter().map(Scope::as_str));
            if !rule.partner_roles.is_empty() {
                wanted.push("a partner key");
            }
            Err(Denied {
                code: "forbidden",
                message: format!(
                    "this key has scope `{}`; `{} {}` ({}) needs one of: {}",
                    key.scope,
                    rule.method,
                    rule.path,
                    rule.what,
                    wanted.join(", ")
                ),
            })
        }
        Principal::Partner { partner, user, .. } => {
            if rule.partner_roles.is_empty() {
                return Err(Denied {
                    code: "forbidden",
                    message: format!(
                        "partner keys may not {}; this is for the operator's keys ({})",
                        rule.what,
                        std::iter::once("admin")
                            .chain(rule.operators.iter().map(Scope::as_str))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            if user.roles.iter().any(|r| rule.partner_roles.contains(r)) {
                return Ok(());
            }
            let roles: Vec<&str> = user.roles.iter().map(Role::as_str).collect();
            let wanted: Vec<&str> = rule.partner_roles.iter().map(Role::as_str).collect();
            Err(Denied {
                code: "role_not_allowed",
                message: format!(
                    "to {} a user of {} needs one of the roles {}; {} has {}",
                    rule.what,
                    partner.legal_name,
                    wanted.join(", "),
                    user.email,
                    if roles.is_empty() { "none".to_owned() } else { roles.join(", ") }
                ),
            })
        }
    }
}

/// The table as Markdown, for the README (a test keeps the two the same).
pub fn markdown() -> String {
    let mut out = String::from(
        "| Route | What | Operator keys | Partner keys (own partner only) | CLI |\n|---|---|---|---|---|\n",
    );
    for rule in TABLE {
        let operators = if rule.public {
            "public".to_owned()
        } else {
            std::iter::once("admin").chain(rule.operators.iter().map(Scope::as_str)).collect::<Vec<_>>().join(", ")
        };
        let partners = if rule.public {
            "public".to_owned()
        } else if rule.partner_roles.is_empty() {
            "—".to_owned()
        } else if rule.partner_roles == ANY_ROLE {
            "any role".to_owned()
        } else {
            rule.partner_roles.iter().map(Role::as_str).collect::<Vec<_>>().join(", ")
        };
        let paths: Vec<String> = rule.path.split(", ").map(|p| format!("`{p}`")).collect();
        let cli = if rule.cli.is_empty() { "—".to_owned() } else { format!("`{}`", rule.cli) };
        let _ = writeln!(
            out,
            "| {} {} | {} | {operators} | {partners} | {cli} |",
            rule.method,
            paths.join(", "),
            rule.what
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_exactly_one_rule() {
        let mut actions: Vec<Action> = TABLE.iter().map(|r| r.action).collect();
        actions.sort();
        let before = actions.len();
        actions.dedup();
        assert_eq!(before, actions.len(), "an action has two rules");
    }
}
