//! The normaliser: the look-alikes found when Accord was probed as an attacker would, IP literals,
//! control characters and lengths, then properties over generated addresses.

use proptest::prelude::*;

use super::*;

#[track_caller]
fn normal(text: &str) -> Email {
    normalize(text).unwrap_or_else(|err| panic!("{text:?} refused: {err}"))
}

#[test]
fn trims_folds_the_domain_and_keeps_the_local_part() {
    let email = normal("  Anna.Rossi@Contoso.COM ");
    assert_eq!(email.as_str(), "Anna.Rossi@contoso.com");
    assert_eq!(email.envelope(), "Anna.Rossi@contoso.com");
    assert_eq!(
        (email.local_part(), email.domain(), email.domain_ascii()),
        ("Anna.Rossi", "contoso.com", "contoso.com")
    );
    assert_eq!(normal("anna@contoso.com.").as_str(), "anna@contoso.com", "the root's dot is dropped");
}

#[test]
fn an_internationalised_domain_is_stored_in_unicode_and_sent_as_its_a_label() {
    let email = normal("anna@BÜCHER.example");
    assert_eq!(email.as_str(), "anna@bücher.example");
    assert_eq!(email.domain(), "bücher.example");
    assert_eq!(email.domain_ascii(), "xn--bcher-kva.example");
    assert_eq!(email.envelope(), "anna@xn--bcher-kva.example");
    assert!(!email.needs_smtputf8());
    assert_eq!(normal("anna@xn--bcher-kva.example"), email, "the A-label spelling is the same address");
}

#[test]
fn look_alikes_of_web_mail_domains_become_the_domain_they_imitate() {
    let cases = [
        ("someone@ｇｍａｉｌ.com", "gmail.com"),      // fullwidth letters
        ("someone@gmail。com", "gmail.com"),          // ideographic full stop
        ("someone@gmail．com", "gmail.com"),          // fullwidth full stop
        ("someone@gmail｡com", "gmail.com"),           // halfwidth ideographic full stop
        ("someone@gm\u{AD}ail.com", "gmail.com"),     // soft hyphen
        ("someone@𝐲𝐚𝐡𝐨𝐨.com", "yahoo.com"),           // mathematical bold
        ("someone＠ＧＭＡＩＬ．ＣＯＭ", "gmail.com"), // all of it fullwidth, `＠` included
        ("someone@ⓖⓜⓐⓘⓛ.com", "gmail.com"),           // circled letters
        ("someone@gmail.com\u{3002}", "gmail.com"),   // a trailing ideographic full stop
    ];
    for (text, domain) in cases {
        let email = normal(text);
        assert_eq!(email.domain_ascii(), domain, "{text:?}");
        assert_eq!(email.as_str(), format!("someone@{domain}"), "{text:?}");
    }
}

#[test]
fn ip_literal_domains_are_refused_with_their_own_error() {
    for text in [
        "a@[127.0.0.1]",
        "a@[IPv6:::1]",
        "a@[IPv6:2001:db8::1]",
        "a@127.0.0.1",
        "a@::1",
        "a@127。0。0。1",
        "a@［127.0.0.1］",
        "a@１２７.０.０.１",
        "a@10.1",
        "a@0x7f.0.0.1",
        "a@example.123",
    ] {
        assert_eq!(normalize(text), Err(EmailError::IpLiteralDomain), "{text:?}");
    }
    let error = EmailError::IpLiteralDomain.field_error("contact.email", "a@[127.0.0.1]");
    assert_eq!(error.code, "ip_literal_domain");
    assert!(error.message.contains("use an address on"), "the message says what to do: {}", error.message);
}

#[test]
fn malformed_addresses_are_refused() {
    for text in [
        "",
        "anna",
        "anna@",
        "@contoso.com",
        "anna@localhost",
        "anna@contoso..com",
        "anna@-contoso.com",
        "anna@contoso-.com",
        "anna@con_toso.com",
        "anna@con toso.com",
        "anna@.contoso.com",
        "an..na@contoso.com",
        "anna@contoso.com/x",
        "anna@xn--gmail-.com",
        &format!("anna@{}.com", "a".repeat(64)),
    ] {
        assert_eq!(normalize(text), Err(EmailError::Invalid), "{text:?}");
    }
}

#[test]
fn control_characters_are_refused() {
    for text in ["an\0na@contoso.com", "anna@con\0toso.com", "\"an\tna\"@contoso.com", "anna@contoso.com\u{7}x"] {
        assert!(matches!(normalize(text), Err(EmailError::ControlCharacter(_))), "{text:?}");
    }
    let error = normalize("an\0na@contoso.com").unwrap_err().field_error("contact.email", "an\0na@contoso.com");
    assert_eq!(error.code, "control_character");
    assert!(error.message.contains("U+0000"), "{}", error.message);
}

#[test]
fn over_long_addresses_are_refused() {
    let long = format!("anna@{}.com", ["a"; 130].join("."));
    assert_eq!(normalize(&long), Err(EmailError::TooLong));
    assert_eq!(normalize(&"a".repeat(1 << 20)), Err(EmailError::TooLong));
    // Short in Unicode, too long once its domain is spelt in ASCII: the address, then the domain.
    let labels = vec!["ü".repeat(20); 9].join(".");
    let text = format!("{}@{labels}.com", "a".repeat(50));
    assert!(text.chars().count() < 254);
    assert_eq!(normalize(&text), Err(EmailError::TooLong));
    let labels = vec!["ü".repeat(20); 11].join(".");
    assert_eq!(normalize(&format!("anna@{labels}.com")), Err(EmailError::TooLong));
    let error = EmailError::TooLong.field_error("contact.email", &long);
    assert_eq!(error.code, "too_long");
    assert!(error.message.contains("254"), "{}", error.message);
}

#[test]
fn local_parts_lettre_accepts_are_kept() {
    assert_eq!(normal("first.last+tag@contoso.com").local_part(), "first.last+tag");
    assert_eq!(normal("\"first last\"@contoso.com").local_part(), "\"first last\"");
    let email = normal("josé@contoso.com");
    assert_eq!(email.envelope(), "josé@contoso.com");
    assert!(email.needs_smtputf8());
}

#[test]
fn parses_and_serialises_through_the_normaliser() {
    let email: Email = serde_json::from_str("\"Anna@ＣＯＮＴＯＳＯ.com\"").unwrap();
    assert_eq!(serde_json::to_string(&email).unwrap(), "\"Anna@contoso.com\"");
    assert!(serde_json::from_str::<Email>("\"a@[127.0.0.1]\"").is_err());
    assert_eq!("anna@contoso.com".parse::<Email>().unwrap().to_string(), "anna@contoso.com");
}

// ---- Properties ----

/// A character that may spell a domain label's letter, in one of the ways NFKC or UTS-46 read as
/// that letter, or any other code point.
fn domain_char() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::char::range('a', 'z').prop_map(String::from),
        1 => proptest::char::range('0', '9').prop_map(String::from),
        1 => Just("-".to_owned()),
        1 => proptest::char::range('a', 'z').prop_map(|c| fullwidth(c).to_string()),
        1 => proptest::char::range('a', 'z').prop_map(|c| math_bold(c).to_string()),
        1 => proptest::char::range('A', 'Z').prop_map(String::from),
        1 => Just("\u{AD}".to_owned()),
        1 => any::<char>().prop_map(String::from),
    ]
}

fn dot() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just("."), 1 => Just("。"), 1 => Just("．"), 1 => Just("｡")]
}

fn address() -> impl Strategy<Value = String> {
    let local = prop_oneof![
        4 => "[a-zA-Z0-9][a-zA-Z0-9._+-]{0,15}",
        1 => "\\PC{1,10}",
    ];
    let label = proptest::collection::vec(domain_char(), 1..12).prop_map(|chars| chars.concat());
    let domain = (proptest::collection::vec((label, dot()), 1..4), "[a-z]{2,4}").prop_map(|(labels, tld)| {
        labels.into_iter().map(|(label, dot)| format!("{label}{dot}")).collect::<String>() + &tld
    });
    (local, prop_oneof![Just("@"), Just("＠")], domain).prop_map(|(local, at, domain)| format!("{local}{at}{domain}"))
}

fn fullwidth(c: char) -> char {
    char::from_u32(u32::from(c) - 0x21 + 0xFF01).unwrap_or(c)
}

fn math_bold(c: char) -> char {
    let base = if c.is_ascii_lowercase() { 0x1D41A + u32::from(c) - u32::from('a') } else { u32::from(c) };
    char::from_u32(base).unwrap_or(c)
}

/// `domain` spelt with each character in one of the forms that normalise back to it, chosen by
/// `choices` (one number per character).
fn disguise(domain: &str, choices: &[u8]) -> String {
    domain
        .chars()
        .zip(choices.iter().cycle())
        .map(|(c, choice)| match (c, choice % 6) {
            ('.', 0) => "。".to_owned(),
            ('.', 1) => "．".to_owned(),
            ('.', 2) => "｡".to_owned(),
            ('.', _) => ".".to_owned(),
            (c, 0) => fullwidth(c).to_string(),
            (c, 1) => math_bold(c).to_string(),
            (c, 2) => c.to_ascii_uppercase().to_string(),
            (c, 3) => format!("{c}\u{AD}"),
            (c, 4) => fullwidth(c.to_ascii_uppercase()).to_string(),
            (c, _) => c.to_string(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn normalising_is_idempotent_and_its_forms_are_sound(text in address()) {
        if let Ok(email) = normalize(&text) {
            prop_assert_eq!(normalize(email.as_str()), Ok(email.clone()));
            prop_assert_eq!(normalize(email.envelope()), Ok(email.clone()));
            prop_assert!(email.domain_ascii().is_ascii());
            prop_assert_eq!(email.domain_ascii(), email.domain_ascii().to_ascii_lowercase());
            prop_assert_eq!(email.envelope().is_ascii(), !email.needs_smtputf8());
            prop_assert!(email.domain_ascii().contains('.'));
            prop_assert!(email.envelope().len() <= TextLimit::EMAIL.max_chars);
            prop_assert!(!email.as_str().chars().any(char::is_control));
            let soft_hyphen = '\u{AD}';
            prop_assert!(!email.domain().contains(soft_hyphen));
            prop_assert_eq!(email.as_str().strip_suffix(email.domain()), email.envelope().strip_suffix(email.domain_ascii()));
        }
    }

    #[test]
    fn any_text_is_refused_or_normalised_without_panicking(text in "\\PC{0,60}|.{0,60}") {
        if let Ok(email) = normalize(&text) {
            prop_assert_eq!(normalize(email.as_str()), Ok(email.clone()));
        }
    }

    #[test]
    fn disguised_web_mail_domains_normalise_to_the_real_one(
        domain in prop::sample::select(vec!["gmail.com", "yahoo.com", "outlook.com", "hotmail.co.uk", "libero.it"]),
        choices in proptest::collection::vec(any::<u8>(), 1..24),
        local in "[a-z][a-z0-9]{0,5}(\\.[a-z0-9]{1,5})?",
    ) {
        let text = format!(" {local}@{} ", disguise(domain, &choices));
        let email = normalize(&text).map_err(|err| TestCaseError::fail(format!("{text:?}: {err}")))?;
        prop_assert_eq!(email.domain_ascii(), domain);
        prop_assert_eq!(email.as_str(), format!("{local}@{domain}"));
    }

    #[test]
    fn ip_addresses_are_never_domains(ip in any::<std::net::IpAddr>(), local in "[a-z]{1,8}") {
        let mut texts = vec![format!("{local}@[{ip}]"), format!("{local}@{ip}")];
        if ip.is_ipv6() {
            texts.push(format!("{local}@[IPv6:{ip}]"));
        } else {
            texts.push(format!("{local}@{}", ip.to_string().replace('.', "。")));
        }
        for text in texts {
            prop_assert_eq!(normalize(&text), Err(EmailError::IpLiteralDomain), "{}", text);
        }
    }

    #[test]
    fn a_control_character_anywhere_inside_is_refused(
        at in 1..16usize,
        control in prop_oneof![proptest::char::range('\0', '\u{1f}'), proptest::char::range('\u{7f}', '\u{9f}')],
    ) {
        let mut text = "anna.rossi@contoso.com".to_owned();
        text.insert(at, control);
        prop_assert!(matches!(normalize(&text), Err(EmailError::ControlCharacter(_))), "{:?}", text);
    }
}
