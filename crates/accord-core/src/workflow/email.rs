//! Email addresses as Accord keeps them: one spelling per mailbox, so that a rule about the domain
//! (web-mail, the directory's contacts) cannot be passed by writing the same domain another way.
//!
//! [`normalize`] trims the text, applies Unicode NFKC to the whole address (a fullwidth `＠` or
//! `ｇ` becomes its ASCII letter), splits it at the last `@`, checks the local part by the rules
//! lettre's `Address` applies (so what is accepted here can be sent), and maps the domain with
//! UTS-46: case folded, soft hyphens dropped, the ideographic full stop read as a dot,
//! mathematical letters read as letters. `ｇｍａｉｌ.com`, `gmail。com`, `gm\u{AD}ail.com` and
//! `𝐠𝐦𝐚𝐢𝐥.com` are all `gmail.com`. A domain that is an IP address is refused: an address
//! for consent names its organisation's domain.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::limits::{self, TextLimit};
use super::FieldError;

/// A normalised email address.
///
/// It has two spellings that differ only in the domain: [`Email::as_str`] with the domain in
/// Unicode (`anna@bücher.example`), the form stored and shown to people, and [`Email::envelope`]
/// with the domain as its A-label (`anna@xn--bcher-kva.example`), the form for SMTP. Two values
/// are equal when they name the same mailbox in the same spelling of its local part (which keeps
/// its case: RFC 5321 leaves it to the receiving server).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email {
    /// `local@unicode-domain`.
    stored: String,
    /// `local@ascii-domain`.
    envelope: String,
    /// Where the `@` is in both.
    at: usize,
}

impl Email {
    /// The stored and shown form: the local part and the domain in Unicode.
    pub fn as_str(&self) -> &str {
        &self.stored
    }

    /// The form for the SMTP envelope and the `To` header: the local part and the domain as an
    /// A-label (`xn--…`). It is pure ASCII unless the local part is not (see
    /// [`Email::needs_smtputf8`]).
    pub fn envelope(&self) -> &str {
        &self.envelope
    }

    /// The part before the `@`, NFKC-normalised, case kept.
    pub fn local_part(&self) -> &str {
        &self.stored[..self.at]
    }

    /// The domain in Unicode, lower-case (`bücher.example`).
    pub fn domain(&self) -> &str {
        &self.stored[self.at + 1..]
    }

    /// The domain in ASCII, lower-case (`xn--bcher-kva.example`): the form every rule about
    /// domains compares.
    pub fn domain_ascii(&self) -> &str {
        &self.envelope[self.at + 1..]
    }

    /// Whether the local part has non-ASCII characters, so that only a server offering SMTPUTF8
    /// can take the address.
    pub fn needs_smtputf8(&self) -> bool {
        !self.local_part().is_ascii()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stored)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.stored
    }
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        normalize(text)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        normalize(&text)
    }
}

impl TryFrom<&str> for Email {
    type Error = EmailError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        normalize(text)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.stored
    }
}

/// Why a text is not an address Accord accepts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the address is too long: at most {max} characters are allowed, its domain counted in ASCII", max = TextLimit::EMAIL.max_chars)]
    TooLong,
    #[error("the address contains the control character U+{:04X}", u32::from(*.0))]
    ControlCharacter(char),
    #[error("not an email address such as name@example.com")]
    Invalid,
    #[error("the address has an IP address for a domain, not a domain name")]
    IpLiteralDomain,
}

impl EmailError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            EmailError::TooLong => "too_long",
            EmailError::ControlCharacter(_) => "control_character",
            EmailError::Invalid => "invalid_email",
            EmailError::IpLiteralDomain => "ip_literal_domain",
        }
    }

    /// The error to report for the field at `field`, whose value `text` was given to
    /// [`normalize`]; the message says what to do.
    pub fn field_error(&self, field: &str, text: &str) -> FieldError {
        match self {
            EmailError::TooLong => limits::too_long(field, TextLimit::EMAIL.max_chars),
            EmailError::ControlCharacter(c) => limits::control_character(field, *c, TextLimit::EMAIL),
            // Quoting the text back helps find a typo; `normalize` refused it only once it knew
            // the text to be short and printable.
            EmailError::Invalid => FieldError::new(
                field,
                self.code(),
                format!("`{field}` must be an email address such as name@example.com, not `{}`", text.trim()),
            ),
            EmailError::IpLiteralDomain => FieldError::new(
                field,
                self.code(),
                format!(
                    "`{field}` has an IP address for its domain; use an address on your organisation's domain name, such as name@example.com"
                ),
            ),
        }
    }
}

/// The normalised address `text` stands for; see the module's documentation for the steps.
pub fn normalize(text: &str) -> Result<Email, EmailError> {
    let text = text.trim();
    // Bounded before NFKC, which may lengthen text (one code point becomes up to 18).
    if text.chars().nth(TextLimit::EMAIL.max_chars).is_some() {
        return Err(EmailError::TooLong);
    }
    let text: String = text.nfkc().collect();
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(EmailError::ControlCharacter(c));
    }
    let (local, domain) = text.rsplit_once('@').ok_or(EmailError::Invalid)?;
    if !email_address::EmailAddress::is_valid_local_part(local) {
        return Err(EmailError::Invalid);
    }
    let ascii = domain_to_ascii(domain)?;
    let envelope = format!("{local}@{ascii}");
    if envelope.len() > TextLimit::EMAIL.max_chars {
        return Err(EmailError::TooLong);
    }
    let (unicode, shown) = idna::domain_to_unicode(&ascii);
    let unicode = if shown.is_ok() { unicode } else { ascii };
    Ok(Email { stored: format!("{local}@{unicode}"), envelope, at: local.len() })
}

/// The A-label form of an address's domain (already NFKC-normalised), lower-case, without the
/// root's trailing dot; refused unless it is a domain name of two labels or more.
fn domain_to_ascii(domain: &str) -> Result<String, EmailError> {
    if domain.starts_with('[') || domain.ends_with(']') || is_ip_address(domain) {
        return Err(EmailError::IpLiteralDomain);
    }
    // STD3: letters, digits and hyphens only, and no hyphen first or last in a label. Lengths are
    // checked below, so that a domain too long is told so.
    let ascii = Uts46::new()
        .to_ascii(domain.as_bytes(), AsciiDenyList::STD3, Hyphens::CheckFirstLast, DnsLength::Ignore)
        .map_err(|_| EmailError::Invalid)?;
    let ascii = ascii.strip_suffix('.').unwrap_or(&ascii);
    // Mapping may make an address of what did not look like one (`127。0。0。1`).
    if is_ip_address(ascii) {
        return Err(EmailError::IpLiteralDomain);
    }
    if ascii.len() > TextLimit::DOMAIN.max_chars {
        return Err(EmailError::TooLong);
    }
    // Labels of 1 to 63 octets, starting and ending with a letter or digit: lettre's own check.
    if !ascii.contains('.') || !email_address::EmailAddress::is_valid_domain(ascii) {
        return Err(EmailError::Invalid);
    }
    Ok(ascii.to_owned())
}

/// Whether `domain` reads as an IP address: one `IpAddr` parses, or a last label that is a
/// number (no top-level domain is, and resolvers read `10.1`, `0x7f.1` or `2130706433` as IPv4).
fn is_ip_address(domain: &str) -> bool {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.parse::<IpAddr>().is_ok() {
        return true;
    }
    let last = domain.rsplit('.').next().unwrap_or_default();
    let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X"));
    match hex {
        Some(digits) => digits.chars().all(|c| c.is_ascii_hexdigit()),
        None => !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()),
    }
}

/// `domain` in ASCII for comparing with other domains: its UTS-46 A-label form when it has one,
/// else lower-cased as it is (so that a rule still sees something to compare).
pub(crate) fn comparable_domain(domain: &str) -> String {
    let domain: String = domain.trim().nfkc().collect();
    let ascii = idna::domain_to_ascii(&domain).unwrap_or_else(|_| domain.to_lowercase());
    ascii.trim_end_matches('.').to_owned()
}

#[cfg(test)]
#[path = "email_tests.rs"]
mod tests;
