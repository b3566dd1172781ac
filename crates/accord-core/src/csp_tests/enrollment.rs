//! `enrollment_path`: the short path for a company the directory knows to be enrolled in CSP,
//! and the full path's required fields otherwise.

use super::*;

const KNOWN_MPN: &str = "7777777";

/// Northwind (an active provider) carries MPN ID 7777777, with a global admin and a sales agent.
fn known(directory: Directory) -> Directory {
    directory.mpn(PROVIDER, KNOWN_MPN).user(PROVIDER, "gianni@northwind.it", &[Role::GlobalAdmin]).user(
        PROVIDER,
        "paola@northwind.it",
        &[Role::SalesAgent],
    )
}

/// The short path's input: the MPN ID, a primary contact, the support details.
fn short(mpn: &str, contact: &str) -> Value {
    json!({
        "mpn": { "id": mpn },
        "primary_contact": { "name": "Paola Verdi", "email": contact, "phone": "+39 02 5555 0000" },
        "support": { "email": "support@northwind.it", "phone": "+39 02 5555 0001" },
    })
}

fn full(mpn: &str) -> Value {
    let mut input = short(mpn, "paola@northwind.it");
    input["company"] = json!({ "legal_name": "Fourth Coffee S.r.l.",
        "address": { "line1": "Via Po 2", "city": "Torino", "postal_code": "10121", "country": "IT" } });
    input["tenant"] = json!({ "domain": "fourthcoffee.onmicrosoft.com", "country": "IT" });
    input["mpn"]["country"] = json!("IT");
    input["global_admin"] = json!({ "name": "Ugo", "email": "ugo@fourthcoffee.it" });
    input
}

const CHECK: &str = "enrollment_path";

fn with_known(name: &'static str, input: Value, expected: Vec<Expected>) -> Case {
    Case { name, check: CHECK, setup: known, input, expected }
}

#[test]
fn enrollment_path_cases() {
    let required = |path: &'static str| refusal(path, "required", &[&format!("`{path}` is required")]);
    let every_field: Vec<Expected> = super::super::enrollment::FROM_DIRECTORY.iter().map(|p| required(p)).collect();
    run_cases(vec![
        with_known(
            "a known MPN ID, the primary contact one of its users: the short path",
            short(KNOWN_MPN, "paola@northwind.it"),
            vec![],
        ),
        with_known("the full details with an unknown MPN ID: the full path", full("5555555"), vec![]),
        with_known("the full details with a known MPN ID: the full path", full(KNOWN_MPN), vec![]),
        with_known(
            "a known MPN ID, the primary contact not one of its users",
            short(KNOWN_MPN, "mallory@example.com"),
            vec![refusal(
                "primary_contact.email",
                "not_a_partner_user",
                &[&"Northwind Distribution S.p.A.", &"accord partners add-user", &"full enrollment details"],
            )],
        ),
        with_known(
            "an MPN ID that belongs to a reseller already",
            short("1234567", "paola@northwind.it"),
            vec![refusal("mpn.id", "already_enrolled", &[&"MPN ID 1234567", &"already an indirect reseller"])],
        ),
        with_known(
            "an unknown MPN ID without the details: every one required",
            short("5555555", "paola@northwind.it"),
            every_field,
        ),
        with_known(
            "a known MPN ID with only some details: the rest required, and how to take the short path",
            {
                let mut input = short(KNOWN_MPN, "paola@northwind.it");
                input["company"] = json!({ "legal_name": "Northwind" });
                input
            },
            super::super::enrollment::FROM_DIRECTORY
                .iter()
                .skip(1)
                .map(|p| refusal(p, "required", &[&"leave out every company, work account and global admin field"]))
                .collect(),
        ),
        Case {
            name: "a known MPN ID whose partner has no global admin",
            check: CHECK,
            setup: |d| {
                known(d).mpn(PROVIDER, "0").mpn(DE_PROVIDER, KNOWN_MPN).user(DE_PROVIDER, "paola@northwind.it", &[])
            },
            input: short(KNOWN_MPN, "paola@northwind.it"),
            expected: vec![refusal("mpn.id", "no_global_admin", &[&"Fabrikam Distribution GmbH"])],
        },
        Case {
            name: "a known MPN ID whose partner is not active: the full path",
            check: CHECK,
            setup: |d| known(d).mpn(PROVIDER, "0").mpn(PENDING_PROVIDER, KNOWN_MPN),
            input: short(KNOWN_MPN, "paola@northwind.it"),
            expected: super::super::enrollment::FROM_DIRECTORY.iter().map(|p| refusal(p, "required", &[])).collect(),
        },
    ]);
}

/// The short path fills in the company, the work account and the global admin from the
/// directory, and the flag the workflow branches on; the full path only the flag.
#[test]
fn the_short_path_fills_in_the_company_from_the_directory() {
    let checked = run(CHECK, known(world()), short(KNOWN_MPN, "paola@northwind.it")).unwrap();
    assert_eq!(checked.errors, vec![]);
    assert_eq!(
        checked.context,
        json!({
            "company": { "legal_name": "Northwind Distribution S.p.A.", "address": { "country": "IT" } },
            "tenant": { "domain": format!("{}.onmicrosoft.com", PROVIDER.simple()), "country": "IT" },
            "mpn": { "country": "IT" },
            "global_admin": { "name": "gianni", "email": "gianni@northwind.it" },
            "csp": { "enrolled": true, "partner_name": "Northwind Distribution S.p.A." },
        })
    );
    let checked = run(CHECK, known(world()), full(KNOWN_MPN)).unwrap();
    assert_eq!(checked.context, json!({ "csp": { "enrolled": false } }));
}

#[test]
fn a_read_error_is_passed_on() {
    let result = run(CHECK, known(world()).failing(&["partners_by_mpn"]), short(KNOWN_MPN, "paola@northwind.it"));
    assert!(result.is_err_and(|err| err.to_string().starts_with("database is down")));
}
