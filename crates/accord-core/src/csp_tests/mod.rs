//! The CSP start checks over a directory held in memory: every refusal each check can give, the
//! accepted case, problems reported together, and read errors passed on.

use std::sync::Arc;

use futures::executor::block_on;
use serde_json::{json, Value};
use uuid::Uuid;

use super::registry;
use crate::directory::{
    Cloud, CustomerPartner, CustomerRecord, CustomerRelationshipKind, DirectoryReader, PartnerKind, PartnerRecord,
    PartnerStatus, PartnerUserRecord, ReadError, RelationshipRecord, Role,
};
use crate::machine::StartChecked;
use crate::time::Timestamp;

mod agreement;
mod context;
mod customer;
mod enrollment;
mod memory;
mod provider;

use agreement::agreement;
use customer::customer_invite;
use memory::{Directory, READS, T0};
use provider::provider_invite;

/// An id as an input holds it.
fn id(id: Uuid) -> Value {
    Value::String(id.to_string())
}

// ---------------------------------------------------------------------------------------------
// The cast
// ---------------------------------------------------------------------------------------------

const PROVIDER: Uuid = Uuid::from_u128(0x0a00_0000_0000_4000_8000_0000_0000_0001);
const DE_PROVIDER: Uuid = Uuid::from_u128(0x0a00_0000_0000_4000_8000_0000_0000_0002);
const PENDING_PROVIDER: Uuid = Uuid::from_u128(0x0a00_0000_0000_4000_8000_0000_0000_0003);
const RESELLER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0001);
const RELATED_RESELLER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0002);
const PENDING_RESELLER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0003);
const FRENCH_RESELLER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0004);
/// A reseller whose users include no global admin.
const LONELY_RESELLER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0005);
const CUSTOMER: Uuid = Uuid::from_u128(0x0c00_0000_0000_4000_8000_0000_0000_0001);
const SIGNED_CUSTOMER: Uuid = Uuid::from_u128(0x0c00_0000_0000_4000_8000_0000_0000_0002);
const NOBODY: Uuid = Uuid::from_u128(0x0d00_0000_0000_4000_8000_0000_0000_0009);

/// When Coho Winery accepted the customer agreement, and how messages show it.
const SIGNED_AT: Timestamp = Timestamp::from_millis(1_710_000_000_000);
const SIGNED_AT_TEXT: &str = "2024-03-09T16:00:00.000Z";

/// Providers serving Italy/France and Germany/Austria, a pending one; an Italian reseller with a
/// user in each role (and two global admins), an Italian reseller already authorising
/// `PROVIDER`, a pending reseller, a French one, and one without a global admin; a customer
/// working with `RESELLER` (and formerly `DE_PROVIDER`), and one that has signed the customer
/// agreement.
fn world() -> Directory {
    Directory::default()
        .provider(PROVIDER, "Northwind Distribution S.p.A.", &["IT", "FR"])
        .provider(DE_PROVIDER, "Fabrikam Distribution GmbH", &["DE", "AT"])
        .add_partner(
            PENDING_PROVIDER,
            PartnerKind::IndirectProvider,
            "Litware Ltd",
            "GB",
            PartnerStatus::PendingAgreement,
        )
        .reseller(RESELLER, "Contoso Cloud S.r.l.", "IT")
        .user(RESELLER, "gina@contoso.it", &[Role::GlobalAdmin])
        .user(RESELLER, "aldo@contoso.it", &[Role::AdminAgent])
        .user(RESELLER, "sara@contoso.it", &[Role::SalesAgent, Role::UserAdmin])
        .user(RESELLER, "nora@contoso.it", &[])
        .user(RESELLER, "piero@contoso.it", &[Role::UserAdmin, Role::GlobalAdmin])
        .reseller(RELATED_RESELLER, "Adatum Servizi S.r.l.", "IT")
        .user(RELATED_RESELLER, "ada@adatum.it", &[Role::GlobalAdmin, Role::AdminAgent])
        .related(RELATED_RESELLER, PROVIDER)
        .add_partner(
            PENDING_RESELLER,
            PartnerKind::IndirectReseller,
            "Tailspin Toys S.r.l.",
            "IT",
            PartnerStatus::PendingAgreement,
        )
        .reseller(FRENCH_RESELLER, "Coho Vineyard SARL", "FR")
        .user(FRENCH_RESELLER, "claire@coho.fr", &[Role::GlobalAdmin])
        .reseller(LONELY_RESELLER, "Lonely Cloud S.r.l.", "IT")
        .user(LONELY_RESELLER, "sales@lonely.it", &[Role::SalesAgent, Role::AdminAgent])
        .add_customer(CUSTOMER, "Wide World Importers", None)
        .customer_partner(CUSTOMER, RESELLER, None)
        .customer_partner(CUSTOMER, DE_PROVIDER, Some(T0))
        .add_customer(SIGNED_CUSTOMER, "Coho Winery", Some(SIGNED_AT))
        .customer_partner(SIGNED_CUSTOMER, RESELLER, None)
}

// ---------------------------------------------------------------------------------------------
// Running the checks
// ---------------------------------------------------------------------------------------------

/// The tenant domain of [`CUSTOMER`] (Wide World Importers), whose admin is `admin@example.com`.
fn wwi_domain() -> String {
    format!("{}.onmicrosoft.com", CUSTOMER.simple())
}

/// Runs the start check registered as `name`, the way the engine finds it.
fn run(name: &str, directory: Directory, input: Value) -> Result<StartChecked, ReadError> {
    let check = registry().find_start_check(name).unwrap_or_else(|| panic!("no start check `{name}`"));
    block_on(check(input, Arc::new(directory)))
}

/// One expected refusal: the field, the code, and what its message must mention.
type Expected = (&'static str, &'static str, Vec<String>);

fn refusal(field: &'static str, code: &'static str, mentions: &[&dyn ToString]) -> Expected {
    (field, code, mentions.iter().map(|m| m.to_string()).collect())
}

struct Case {
    name: &'static str,
    check: &'static str,
    /// Changes to [`world`] this case needs.
    setup: fn(Directory) -> Directory,
    input: Value,
    /// Every refusal, in the order the check reports them; empty: the start may go ahead.
    expected: Vec<Expected>,
}

fn same(directory: Directory) -> Directory {
    directory
}

fn case(name: &'static str, check: &'static str, input: Value, expected: Vec<Expected>) -> Case {
    Case { name, check, setup: same, input, expected }
}

fn run_cases(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        let errors = match run(case.check, (case.setup)(world()), case.input.clone()) {
            Ok(checked) => checked.errors,
            Err(err) => {
                failures.push(format!("{} ({}): read error {err}", case.name, case.check));
                continue;
            }
        };
        let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        let want: Vec<(&str, &str)> = case.expected.iter().map(|(f, c, _)| (*f, *c)).collect();
        if got != want {
            failures
                .push(format!("{} ({}): refused {got:?}, expected {want:?}\n    {errors:#?}", case.name, case.check));
            continue;
        }
        for (error, (_, _, mentions)) in errors.iter().zip(&case.expected) {
            for mention in mentions {
                if !error.message.contains(mention.as_str()) {
                    failures.push(format!(
                        "{} ({}): the {} message does not mention {mention:?}: {:?}",
                        case.name, case.check, error.code, error.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The registry and read errors
// ---------------------------------------------------------------------------------------------

const CHECKS: [&str; 4] = [
    "customer_needs_agreement",
    "provider_may_invite",
    "reseller_and_provider_may_invite_customer",
    "reseller_may_invite_customer",
];

#[test]
fn registry_holds_the_four_start_checks() {
    let names = registry().start_check_names();
    for name in CHECKS {
        assert!(names.contains(&name), "`{name}` is not registered: {names:?}");
    }
}

/// An input each check accepts against [`world`], so every read it makes happens.
fn accepted_input(check: &str) -> Value {
    match check {
        "provider_may_invite" => provider_invite(id(PROVIDER), id(RESELLER)),
        "reseller_may_invite_customer" => {
            let known = json!({ "customer": { "domain": wwi_domain(), "email": null } });
            customer_invite(id(RESELLER), "gina@contoso.it", known)
        }
        "reseller_and_provider_may_invite_customer" => customer_invite(
            id(RELATED_RESELLER),
            "ada@adatum.it",
            json!({ "provider": { "id": PROVIDER.to_string() } }),
        ),
        "customer_needs_agreement" => agreement(id(CUSTOMER), id(RESELLER)),
        other => panic!("no accepted input for `{other}`"),
    }
}

#[test]
fn read_errors_are_passed_on_not_turned_into_refusals() {
    let mut checked = 0;
    for check in CHECKS {
        let input = accepted_input(check);
        let errors = |result: Result<StartChecked, ReadError>| result.map(|c| c.errors).map_err(|e| e.to_string());
        assert_eq!(errors(run(check, world(), input.clone())), Ok(vec![]), "{check}");
        let uses = match check {
            "provider_may_invite" => &["partner", "relationships", "partner_users"][..],
            "reseller_may_invite_customer" => &["partner", "partner_users", "customer_by_domain"][..],
            "reseller_and_provider_may_invite_customer" => {
                &["partner", "partner_users", "customer_by_domain", "relationships"][..]
            }
            _ => &["customer", "customer_partners"][..],
        };
        // Every read failing, then each read failing alone (a check that does not make that
        // read must still accept).
        let mut failing: Vec<Vec<&'static str>> = vec![READS.to_vec()];
        failing.extend(READS.iter().map(|read| vec![*read]));
        for reads in failing {
            let result = run(check, world().failing(&reads), input.clone());
            if reads.iter().any(|read| uses.contains(read)) {
                match result {
                    Err(err) => assert!(err.to_string().starts_with("database is down"), "{check}: {err}"),
                    Ok(checked) => panic!("{check} with {reads:?} failing: expected a read error, got {checked:?}"),
                }
                checked += 1;
            } else {
                assert_eq!(errors(result), Ok(vec![]), "{check} with {reads:?} failing");
            }
        }
    }
    // All failing plus each read it makes, for each check.
    assert_eq!(checked, 4 + 4 + 5 + 3);
}
