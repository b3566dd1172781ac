//! Declared input fields and the checks an instance's input must pass before it starts.
//!
//! Every problem is reported at once, one entry per field, so a pipeline can fix a whole payload
//! in one round trip. Every text value is bounded and free of control characters
//! ([`super::limits`]) before its type's own check; email addresses are normalised
//! ([`super::email`]) before any rule sees them, and stored in that form.

use std::str::FromStr;

use serde::Serialize;
use serde_json::{Map, Value};

use super::email;
use super::limits::{check_text, TextLimit};

/// The kinds of value a workflow may declare for an input field. Every kind but `boolean` is text
/// and has a length limit ([`FieldType::text_limit`]); none may hold control characters, and only
/// `text` may span lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Any non-empty text on one line, such as a name (at most 200 characters).
    String,
    /// Free text that may span lines, such as a reason or a message (at most 5,000 characters).
    Text,
    /// An email address, normalised ([`email::normalize`]) and stored with its domain in Unicode.
    Email,
    /// An email address that is not on a web-mail service, normalised as `email` is.
    BusinessEmail,
    /// An ISO 3166-1 alpha-2 country code, normalised to upper case.
    Country,
    /// A BCP 47 language tag such as `it` or `it-CH`, normalised (`it-ch` becomes `it-CH`).
    Locale,
    /// A telephone number: digits with optional `+`, spaces, dashes, dots and parentheses.
    Phone,
    /// A string of ASCII digits (identifiers such as an MPN id).
    Digits,
    /// JSON `true` or `false`.
    Boolean,
    /// An internet domain name such as `contoso.onmicrosoft.com`, normalised to lower case.
    Domain,
    /// An IANA time zone name such as `Europe/Rome`, in its canonical spelling (`europe/rome`
    /// becomes `Europe/Rome`).
    TimeZone,
}

impl FieldType {
    pub const ALL: &'static [(&'static str, FieldType)] = &[
        ("string", FieldType::String),
        ("text", FieldType::Text),
        ("email", FieldType::Email),
        ("business_email", FieldType::BusinessEmail),
        ("country", FieldType::Country),
        ("locale", FieldType::Locale),
        ("phone", FieldType::Phone),
        ("digits", FieldType::Digits),
        ("boolean", FieldType::Boolean),
        ("domain", FieldType::Domain),
        ("time_zone", FieldType::TimeZone),
    ];

    pub fn names() -> String {
        Self::ALL.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
    }

    pub fn is_email(self) -> bool {
        matches!(self, FieldType::Email | FieldType::BusinessEmail)
    }

    /// How long a value of this kind may be, and whether it may span lines; `None` for
    /// `boolean`, which is not text.
    pub fn text_limit(self) -> Option<TextLimit> {
        match self {
            FieldType::String => Some(TextLimit::NAME),
            FieldType::Text => Some(TextLimit::TEXT),
            FieldType::Email | FieldType::BusinessEmail => Some(TextLimit::EMAIL),
            FieldType::Domain => Some(TextLimit::DOMAIN),
            // The longest IANA name is 32 characters (America/Argentina/ComodRivadavia).
            FieldType::TimeZone => Some(TextLimit { max_chars: 64, multi_line: false }),
            FieldType::Phone => Some(TextLimit::PHONE),
            FieldType::Digits => Some(TextLimit::DIGITS),
            // A country code is shorter still; nothing longer than a language tag is worth parsing.
            FieldType::Locale | FieldType::Country => Some(TextLimit::LOCALE),
            FieldType::Boolean => None,
        }
    }
}

impl FromStr for FieldType {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().find(|(name, _)| *name == text).map(|(_, ty)| *ty).ok_or(())
    }
}

/// One declared input field, addressed by a dotted path such as `company.address.country`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InputField {
    pub path: String,
    #[serde(rename = "type")]
    pub ty: FieldType,
    pub required: bool,
}

impl InputField {
    fn segments(&self) -> impl Iterator<Item = &str> {
        self.path.split('.')
    }
}

/// One refused field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), code, message: message.into() }
    }
}

/// Settings that the input checks depend on.
#[derive(Clone, Debug, Default)]
pub struct InputRules {
    /// Web-mail domains refused for `business_email` fields. An entry `name.*` matches that
    /// service under any country suffix (`yahoo.*` matches `yahoo.co.uk` and `mail.yahoo.it`).
    pub webmail_domains: Vec<String>,
}

impl InputRules {
    /// The web-mail service `domain` belongs to, if any. Both sides are compared in their ASCII
    /// (UTS-46) form, so a look-alike spelling (`ｇｍａｉｌ.com`, `gmail。com`) is the service it
    /// imitates; an [`email::Email`]'s [`domain_ascii`](email::Email::domain_ascii) is already in
    /// that form.
    pub fn webmail_service(&self, domain: &str) -> Option<&str> {
        let domain = email::comparable_domain(domain);
        let labels: Vec<&str> = domain.split('.').collect();
        self.webmail_domains.iter().map(String::as_str).find(|pattern| {
            if let Some(stem) = pattern.strip_suffix(".*") {
                let stem = email::comparable_domain(stem);
                // `stem` followed by a country or generic suffix of at most two short labels.
                labels.iter().enumerate().any(|(i, label)| {
                    let tail = &labels[i + 1..];
                    *label == stem
                        && (1..=2).contains(&tail.len())
                        && tail.iter().all(|part| (2..=3).contains(&part.len()))
                })
            } else {
                let pattern = email::comparable_domain(pattern);
                domain == pattern || domain.ends_with(&format!(".{pattern}"))
            }
        })
    }
}

/// A rule across fields: every listed field must hold the same value (after normalisation), or,
/// with `all_or_none`, the fields are given all together or not at all (a missing one is then
/// `required`, reported with the other fields' problems).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SameValue {
    pub fields: Vec<String>,
    pub message: String,
    pub all_or_none: bool,
}

/// Checks `input` against `fields` and then `checks`; returns the input with values normalised,
/// or every problem.
pub fn validate(
    fields: &[InputField],
    checks: &[SameValue],
    input: &Value,
    rules: &InputRules,
) -> Result<Value, Vec<FieldError>> {
    let Value::Object(_) = input else {
        return Err(vec![FieldError::new("", "not_an_object", "the input must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let mut normalised = input.clone();

    for field in fields {
        match lookup(input, field) {
            None | Some(Value::Null) => {
                if field.required {
                    errors.push(FieldError::new(&field.path, "required", format!("`{}` is required", field.path)));
                }
            }
            Some(value) => match check_value(field, value, rules) {
                Ok(clean) => set(&mut normalised, field, clean),
                Err(error) => errors.push(error),
            },
        }
    }
    unknown_fields(input, "", fields, &mut errors);
    for check in checks.iter().filter(|c| c.all_or_none) {
        let given = |path: &String| super::field(input, path).is_some_and(|v| !v.is_null());
        if check.fields.iter().any(given) {
            for path in check.fields.iter().filter(|p| !given(p)) {
                if !errors.iter().any(|e| &e.field == path) {
                    errors.push(FieldError::new(path, "required", format!("`{path}` is required: {}", check.message)));
                }
            }
        }
    }
    for check in checks.iter().filter(|c| !c.all_or_none) {
        let values: Vec<Option<&Value>> = check.fields.iter().map(|path| super::field(&normalised, path)).collect();
        let failed = |path: &String| errors.iter().any(|e| &e.field == path);
        if check.fields.iter().any(failed) || values.iter().any(Option::is_none) {
            continue; // reported already, or absent and optional
        }
        if values.windows(2).any(|pair| pair[0] != pair[1]) {
            let field = check.fields.first().cloned().unwrap_or_default();
            errors.push(FieldError { field, code: "mismatch", message: check.message.clone() });
        }
    }

    if errors.is_empty() {
        Ok(normalised)
    } else {
        Err(errors)
    }
}

fn lookup<'a>(input: &'a Value, field: &InputField) -> Option<&'a Value> {
    field.segments().try_fold(input, |value, key| value.get(key))
}

fn set(input: &mut Value, field: &InputField, clean: Value) {
    let mut target = input;
    for key in field.segments() {
        let Some(next) = target.get_mut(key) else { return };
        target = next;
    }
    *target = clean;
}

/// Reports keys that no declared field covers, so a misspelt key is not silently ignored.
fn unknown_fields(value: &Value, prefix: &str, fields: &[InputField], errors: &mut Vec<FieldError>) {
    let Value::Object(map) = value else { return };
    for (key, child) in map {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        let exact = fields.iter().any(|f| f.path == path);
        let parent = fields.iter().any(|f| f.path.starts_with(&format!("{path}.")));
        if exact {
            continue;
        }
        if parent {
            if child.is_object() {
                unknown_fields(child, &path, fields, errors);
            } else {
                errors.push(FieldError::new(&path, "not_an_object", format!("`{path}` must be an object")));
            }
        } else {
            errors.push(FieldError::new(
                &path,
                "unknown_field",
                format!("`{path}` is not an input of this workflow; check the spelling against the workflow's declared fields"),
            ));
        }
    }
}

fn check_value(field: &InputField, value: &Value, rules: &InputRules) -> Result<Value, FieldError> {
    let path = field.path.as_str();
    if field.ty == FieldType::Boolean {
        return match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(FieldError::new(path, "not_a_boolean", format!("`{path}` must be true or false"))),
        };
    }
    let (Some(text), Some(limit)) = (value.as_str(), field.ty.text_limit()) else {
        return Err(FieldError::new(path, "not_a_string", format!("`{path}` must be a string")));
    };
    let text = check_text(path, text, limit)?;
    let text = text.as_str();
    if text.is_empty() {
        return Err(FieldError::new(path, "required", format!("`{path}` is required and must not be empty")));
    }
    let clean = match field.ty {
        FieldType::String | FieldType::Text => text.to_owned(),
        FieldType::Email => parse_email(path, text)?.into(),
        FieldType::BusinessEmail => {
            let email = parse_email(path, text)?;
            if let Some(service) = rules.webmail_service(email.domain_ascii()) {
                return Err(FieldError::new(
                    path,
                    "webmail_address",
                    format!(
                        "`{path}` is on a web-mail service ({service}); use an address on your company's own domain"
                    ),
                ));
            }
            email.into()
        }
        FieldType::Domain => {
            let domain = text.trim_end_matches('.').to_ascii_lowercase();
            let labels_ok = domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if !labels_ok || !domain.contains('.') {
                return Err(FieldError::new(
                    path,
                    "invalid_domain",
                    format!("`{path}` must be a domain name such as contoso.onmicrosoft.com, not `{text}`"),
                ));
            }
            domain
        }
        FieldType::Country => parse_country(text).ok_or_else(|| {
            FieldError::new(
                path,
                "invalid_country",
                format!("`{path}` must be an ISO 3166-1 alpha-2 country code such as IT or US, not `{text}`"),
            )
        })?,
        FieldType::Locale => parse_locale(text).ok_or_else(|| {
            FieldError::new(
                path,
                "invalid_locale",
                format!("`{path}` must be a language tag such as `en`, `it` or `it-CH`, not `{text}`"),
            )
        })?,
        FieldType::TimeZone => parse_time_zone(text).ok_or_else(|| {
            FieldError::new(
                path,
                "invalid_time_zone",
                format!(
                    "`{path}` must be an IANA time zone name such as Europe/Rome or America/New_York, not `{text}`; \
                     leave it out to use the one of the country"
                ),
            )
        })?,
        FieldType::Phone => {
            let digits = text.chars().filter(char::is_ascii_digit).count();
            let allowed = text
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')') || (c == '+' && i == 0));
            if !allowed || !(6..=15).contains(&digits) {
                return Err(FieldError::new(
                    path,
                    "invalid_phone",
                    format!("`{path}` must be a telephone number of 6 to 15 digits, such as +39 02 1234 5678"),
                ));
            }
            text.to_owned()
        }
        FieldType::Digits => {
            if !text.chars().all(|c| c.is_ascii_digit()) {
                return Err(FieldError::new(path, "invalid_digits", format!("`{path}` must contain only digits")));
            }
            text.to_owned()
        }
        FieldType::Boolean => unreachable!("booleans are checked before text"),
    };
    Ok(Value::String(clean))
}

fn parse_email(path: &str, text: &str) -> Result<email::Email, FieldError> {
    email::normalize(text).map_err(|err| err.field_error(path, text))
}

/// The canonical name of the IANA time zone `text` names (case aside), if it names one.
pub fn parse_time_zone(text: &str) -> Option<String> {
    let text = text.trim();
    let zone = text
        .parse::<chrono_tz::Tz>()
        .ok()
        .or_else(|| chrono_tz::TZ_VARIANTS.iter().copied().find(|zone| zone.name().eq_ignore_ascii_case(text)))?;
    Some(zone.name().to_owned())
}

/// An ISO 3166-1 alpha-2 code, upper-cased (`it` becomes `IT`), if `text` is one.
pub fn parse_country(text: &str) -> Option<String> {
    let upper = text.trim().to_ascii_uppercase();
    (upper.len() == 2 && isocountry::CountryCode::for_alpha2(&upper).is_ok()).then_some(upper)
}

/// `language[-REGION]` with a two- or three-letter language and a two-letter or three-digit
/// region, normalised to the usual casing.
pub fn parse_locale(text: &str) -> Option<String> {
    let mut parts = text.split(['-', '_']);
    let language = parts.next()?;
    let region = parts.next();
    if parts.next().is_some()
        || !(2..=3).contains(&language.len())
        || !language.chars().all(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    let language = language.to_ascii_lowercase();
    match region {
        None => Some(language),
        Some(region) if region.len() == 2 && region.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(format!("{language}-{}", region.to_ascii_uppercase()))
        }
        Some(region) if region.len() == 3 && region.chars().all(|c| c.is_ascii_digit()) => {
            Some(format!("{language}-{region}"))
        }
        Some(_) => None,
    }
}

/// Builds an empty object with every declared path, for documentation and samples.
pub fn skeleton(fields: &[InputField]) -> Value {
    let mut root = Value::Object(Map::new());
    for field in fields {
        let mut target = &mut root;
        let segments: Vec<&str> = field.segments().collect();
        for (i, key) in segments.iter().enumerate() {
            let Value::Object(map) = target else { break };
            let leaf = i + 1 == segments.len();
            target = map.entry((*key).to_owned()).or_insert_with(|| {
                if leaf {
                    Value::String(String::new())
                } else {
                    Value::Object(Map::new())
                }
            });
        }
    }
    root
}

#[cfg(test)]
mod tests {
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
        let fields =
            [field("mpn.country", FieldType::Country, true), field("tenant.country", FieldType::Country, true)];
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
}
