//! Input validation: each field type, unknown fields, the rules a workflow sets, and fields
//! given together or not at all.

use serde_json::json;

use super::*;

fn field(path: &str, ty: FieldType, required: bool) -> InputField {
    InputField { path: path.into(), ty, required }
}

fn rules() -> InputRules {
    InputRules { webmail_domains: vec!["gmail.com".into(), "yahoo.*".into(), "outlook.com".into()] }
}

#[test]
fn every_problem_is_reported_once_per_field() {
    let fields = [
        field("company.name", FieldType::String, true),
        field("contact.email", FieldType::BusinessEmail, true),
        field("tenant.country", FieldType::Country, true),
        field("contact.locale", FieldType::Locale, false),
    ];
    let input = json!({"contact": {"email": "Someone@GMAIL.com", "extra": 1}, "tenant": {"country": "Italy"}});
    let errors = validate(&fields, &[], &input, &rules()).unwrap_err();
    let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        codes,
        [
            ("company.name", "required"),
            ("contact.email", "webmail_address"),
            ("tenant.country", "invalid_country"),
            ("contact.extra", "unknown_field"),
        ]
    );
}

#[test]
fn values_are_normalised() {
    let fields = [
        field("email", FieldType::BusinessEmail, true),
        field("country", FieldType::Country, true),
        field("locale", FieldType::Locale, true),
    ];
    let input = json!({"email": " Anna@Contoso.COM ", "country": "it", "locale": "it_ch"});
    let clean = validate(&fields, &[], &input, &rules()).unwrap();
    assert_eq!(clean, json!({"email": "Anna@contoso.com", "country": "IT", "locale": "it-CH"}));
}

#[test]
fn same_value_checks_compare_normalised_values() {
    let fields = [field("mpn.country", FieldType::Country, true), field("tenant.country", FieldType::Country, true)];
    let checks = [SameValue {
        fields: vec!["mpn.country".into(), "tenant.country".into()],
        message: "differ".into(),
        all_or_none: false,
    }];
    let same = json!({"mpn": {"country": "it"}, "tenant": {"country": "IT"}});
    assert!(validate(&fields, &checks, &same, &rules()).is_ok());
    let other = json!({"mpn": {"country": "FR"}, "tenant": {"country": "IT"}});
    let errors = validate(&fields, &checks, &other, &rules()).unwrap_err();
    assert_eq!((errors[0].field.as_str(), errors[0].code), ("mpn.country", "mismatch"));
    let bad = json!({"mpn": {"country": "XX"}, "tenant": {"country": "IT"}});
    let errors = validate(&fields, &checks, &bad, &rules()).unwrap_err();
    assert_eq!(errors.len(), 1, "a field already refused is not compared: {errors:?}");
}

#[track_caller]
fn refused(ty: FieldType, value: &str) -> FieldError {
    let fields = [field("value", ty, true)];
    let mut errors = validate(&fields, &[], &json!({ "value": value }), &rules())
        .expect_err(&format!("{value:?} was accepted as {ty:?}"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0)
}

#[test]
fn web_mail_look_alikes_are_refused_as_web_mail() {
    for text in [
        "someone@ｇｍａｉｌ.com",
        "someone@gmail。com",
        "someone@gm\u{AD}ail.com",
        "someone@𝐲𝐚𝐡𝐨𝐨.com",
        "someone@𝐲𝐚𝐡𝐨𝐨.co.uk",
        "someone＠ＯＵＴＬＯＯＫ．ＣＯＭ",
        "someone@gmail.com.",
    ] {
        let error = refused(FieldType::BusinessEmail, text);
        assert_eq!(error.code, "webmail_address", "{text:?}: {error:?}");
    }
    // An A-label that decodes to plain ASCII is no spelling of `gmail.com`, and not a domain.
    assert_eq!(refused(FieldType::BusinessEmail, "someone@xn--gmail-.com").code, "invalid_email");
}

#[test]
fn email_fields_store_the_normalised_address() {
    let fields = [field("a", FieldType::Email, true), field("b", FieldType::BusinessEmail, true)];
    let input = json!({"a": " Anna＠ＣＯＮＴＯＳＯ．com ", "b": "anna@BÜCHER.example"});
    let clean = validate(&fields, &[], &input, &rules()).unwrap();
    assert_eq!(clean, json!({"a": "Anna@contoso.com", "b": "anna@bücher.example"}));
}

#[test]
fn ip_literal_addresses_are_refused_with_their_own_code() {
    for ty in [FieldType::Email, FieldType::BusinessEmail] {
        for text in ["a@[127.0.0.1]", "a@[IPv6:::1]", "a@127.0.0.1"] {
            let error = refused(ty, text);
            assert_eq!(error.code, "ip_literal_domain", "{text:?}");
            assert!(error.message.starts_with("`value` "), "{}", error.message);
        }
    }
}

#[test]
fn nul_and_control_characters_are_refused_in_every_text_field() {
    for (_, ty) in FieldType::ALL.iter().filter(|(_, ty)| *ty != FieldType::Boolean) {
        for text in ["con\0toso.com", "con\u{1b}toso.com", "con\u{85}toso.com", "con\ntoso.com"] {
            if *ty == FieldType::Text && text.contains('\n') {
                continue; // the one kind that spans lines
            }
            let value = if ty.is_email() { format!("a@{text}") } else { text.to_owned() };
            assert_eq!(refused(*ty, &value).code, "control_character", "{ty:?} {value:?}");
        }
    }
    let fields = [field("reason", FieldType::Text, true)];
    let clean = validate(&fields, &[], &json!({"reason": "first line\r\n\tsecond"}), &rules()).unwrap();
    assert_eq!(clean, json!({"reason": "first line\n\tsecond"}));
    assert_eq!(refused(FieldType::Text, "no\0pe").code, "control_character");
}

#[test]
fn over_long_values_are_refused_per_type() {
    let cases = [
        (FieldType::String, 200),
        (FieldType::Text, 5_000),
        (FieldType::Domain, 253),
        (FieldType::Phone, 32),
        (FieldType::Digits, 32),
        (FieldType::Locale, 35),
        (FieldType::Country, 35),
    ];
    for (ty, max) in cases {
        assert_eq!(ty.text_limit().map(|limit| limit.max_chars), Some(max));
        let error = refused(ty, &"1".repeat(max + 1));
        assert_eq!(error.code, "too_long", "{ty:?}");
        assert!(error.message.contains(&max.to_string()), "{}", error.message);
    }
    let email = format!("{}@contoso.com", "a".repeat(250));
    assert_eq!(refused(FieldType::BusinessEmail, &email).code, "too_long");
    assert_eq!(refused(FieldType::String, &"x".repeat(1 << 20)).code, "too_long");
    let fields = [field("name", FieldType::String, true), field("mpn", FieldType::Digits, true)];
    let input = json!({"name": "n".repeat(200), "mpn": "1".repeat(32)});
    assert!(validate(&fields, &[], &input, &rules()).is_ok(), "values at the limit are accepted");
}

#[test]
fn time_zones_are_iana_names_in_their_canonical_spelling() {
    let fields = [field("zone", FieldType::TimeZone, true)];
    let clean = validate(&fields, &[], &json!({"zone": " europe/rome "}), &rules()).unwrap();
    assert_eq!(clean, json!({"zone": "Europe/Rome"}));
    for bad in ["Europe/Milano", "CEST+2", "Rome"] {
        let error = refused(FieldType::TimeZone, bad);
        assert_eq!(error.code, "invalid_time_zone", "{bad}");
        assert!(error.message.contains("such as Europe/Rome") && error.message.contains(bad), "{}", error.message);
    }
    assert_eq!("time_zone".parse::<FieldType>(), Ok(FieldType::TimeZone));
}

#[test]
fn text_is_a_declarable_type() {
    assert_eq!("text".parse::<FieldType>(), Ok(FieldType::Text));
    assert!(FieldType::names().contains("text"));
}

#[test]
fn webmail_compares_the_ascii_form_of_both_sides() {
    let rules = rules();
    assert_eq!(rules.webmail_service("ｇｍａｉｌ.com"), Some("gmail.com"));
    assert_eq!(rules.webmail_service("𝐲𝐚𝐡𝐨𝐨.it"), Some("yahoo.*"));
    assert_eq!(rules.webmail_service("gm\u{AD}ail.com"), Some("gmail.com"));
    let idn = InputRules { webmail_domains: vec!["Bücher.example".into()] };
    assert_eq!(idn.webmail_service("xn--bcher-kva.example"), Some("Bücher.example"));
}

#[test]
fn webmail_matches_subdomains_case_and_national_variants() {
    let rules = rules();
    assert_eq!(rules.webmail_service("GMAIL.COM"), Some("gmail.com"));
    assert_eq!(rules.webmail_service("eu.outlook.com"), Some("outlook.com"));
    assert_eq!(rules.webmail_service("yahoo.co.uk"), Some("yahoo.*"));
    assert_eq!(rules.webmail_service("mail.yahoo.it"), Some("yahoo.*"));
    assert_eq!(rules.webmail_service("yahoo.contoso.com"), None);
    assert_eq!(rules.webmail_service("notgmail.com"), None);
    assert_eq!(rules.webmail_service("contoso.com"), None);
}

#[test]
fn all_or_none_fields_are_given_together_or_not_at_all() {
    let fields = [
        field("a", FieldType::String, false),
        field("b", FieldType::String, false),
        field("c", FieldType::String, true),
    ];
    let checks =
        [SameValue { fields: vec!["a".into(), "b".into()], message: "both or neither".into(), all_or_none: true }];
    let rules = InputRules::default();
    assert!(validate(&fields, &checks, &json!({ "c": "x" }), &rules).is_ok(), "neither");
    assert!(validate(&fields, &checks, &json!({ "a": "1", "b": "2", "c": "x" }), &rules).is_ok(), "both");
    let errors = validate(&fields, &checks, &json!({ "a": "1" }), &rules).unwrap_err();
    let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(found, [("c", "required"), ("b", "required")], "reported with the other problems");
    assert!(errors[1].message.contains("both or neither"), "{}", errors[1].message);
}
