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
#[path = "input_tests.rs"]
mod tests;
