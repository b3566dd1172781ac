//! How long each kind of text a person types may be, and which characters no such text may hold.
//!
//! One place for every surface that takes text from outside: a workflow's input (through
//! [`super::input::validate`]), and the API's bodies, link-page answers, console forms, the CLI,
//! the directory's commands and event data (through [`check_text`]). A value that is too long or
//! holds a control character is refused with a field error and a stable code (`too_long`,
//! `control_character`) rather than reaching a subject line, a page or a database that answers a
//! NUL with an internal error.

use super::FieldError;

/// The longest text of one kind, and whether it may span lines.
///
/// Lengths count Unicode scalar values (`char`s), which is what a person counts, except for
/// [`TextLimit::EMAIL`], which [`super::email::normalize`] also checks in octets of the form an
/// SMTP server receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextLimit {
    pub max_chars: usize,
    /// Whether line breaks (`\n`; `\r\n` and `\r` are read as `\n`) and tabs are allowed.
    pub multi_line: bool,
}

impl TextLimit {
    /// A name or other one-line text: a company, a person, a label, a street (`string` fields).
    pub const NAME: TextLimit = TextLimit { max_chars: 200, multi_line: false };
    /// Free text over several lines: a reason, a message, an answer typed on a link page (`text`
    /// fields).
    pub const TEXT: TextLimit = TextLimit { max_chars: 5_000, multi_line: true };
    /// An email address: RFC 5321's 254 octets for a path without its angle brackets.
    pub const EMAIL: TextLimit = TextLimit { max_chars: 254, multi_line: false };
    /// A domain name: 253 octets in DNS, without the root's trailing dot.
    pub const DOMAIN: TextLimit = TextLimit { max_chars: 253, multi_line: false };
    /// A telephone number with its spaces and punctuation (E.164 allows 15 digits).
    pub const PHONE: TextLimit = TextLimit { max_chars: 32, multi_line: false };
    /// A number written as digits, such as an MPN id.
    pub const DIGITS: TextLimit = TextLimit { max_chars: 32, multi_line: false };
    /// A language tag (RFC 5646 asks every implementation to handle tags of 35 characters); also
    /// bounds country codes, which are shorter still.
    pub const LOCALE: TextLimit = TextLimit { max_chars: 35, multi_line: false };
}

/// `value` trimmed (and, for multi-line text, with its line breaks as `\n`), if it fits `limit`
/// and holds no control character; else the field error to show for `field` (a dotted path or a
/// form field's name).
///
/// Control characters are Unicode's category Cc: NUL, the C0 and C1 controls and DEL. A
/// multi-line limit allows `\n` and `\t` among them. Empty text is returned as it is: whether a
/// value is required is the caller's rule.
pub fn check_text(field: &str, value: &str, limit: TextLimit) -> Result<String, FieldError> {
    let trimmed = value.trim();
    let text = if limit.multi_line && trimmed.contains('\r') {
        trimmed.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        trimmed.to_owned()
    };
    check_length(field, &text, limit.max_chars)?;
    let allowed = |c: char| limit.multi_line && matches!(c, '\n' | '\t');
    if let Some(c) = text.chars().find(|&c| c.is_control() && !allowed(c)) {
        return Err(control_character(field, c, limit));
    }
    Ok(text)
}

/// Refuses `text` when it has more than `max_chars` characters, with the `too_long` error.
pub fn check_length(field: &str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    // `nth` stops at the limit, so a megabyte is not counted to refuse it.
    if text.chars().nth(max_chars).is_none() {
        return Ok(());
    }
    Err(too_long(field, max_chars))
}

/// The `too_long` error for `field`, naming the limit.
pub fn too_long(field: &str, max_chars: usize) -> FieldError {
    FieldError::new(
        field,
        "too_long",
        format!("`{field}` is too long: at most {max_chars} characters are allowed; shorten it"),
    )
}

/// The `control_character` error for `field`, which holds `c`.
pub(crate) fn control_character(field: &str, c: char, limit: TextLimit) -> FieldError {
    let message = if matches!(c, '\n' | '\r') {
        format!("`{field}` must fit on one line: remove the line break")
    } else if limit.multi_line {
        format!(
            "`{field}` contains the control character U+{:04X}, which is not allowed (line breaks and tabs are); remove it",
            u32::from(c)
        )
    } else {
        format!("`{field}` contains the control character U+{:04X}, which is not allowed; remove it", u32::from(c))
    };
    FieldError::new(field, "control_character", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_kept_when_it_fits() {
        assert_eq!(check_text("name", "  Contoso S.p.A. ", TextLimit::NAME).unwrap(), "Contoso S.p.A.");
        assert_eq!(check_text("name", "", TextLimit::NAME).unwrap(), "");
        let exactly = "é".repeat(200);
        assert_eq!(
            check_text("name", &exactly, TextLimit::NAME).unwrap(),
            exactly,
            "characters are counted, not bytes"
        );
    }

    #[test]
    fn over_long_text_is_refused_with_the_limit_in_the_message() {
        let error = check_text("company.name", &"a".repeat(201), TextLimit::NAME).unwrap_err();
        assert_eq!((error.field.as_str(), error.code), ("company.name", "too_long"));
        assert!(error.message.contains("200"), "{}", error.message);
        let megabyte = "x".repeat(1 << 20);
        assert_eq!(check_text("reason", &megabyte, TextLimit::TEXT).unwrap_err().code, "too_long");
        assert!(check_text("reason", &"x".repeat(5_000), TextLimit::TEXT).is_ok());
    }

    #[test]
    fn nul_and_other_control_characters_are_refused() {
        for text in ["Con\0toso", "a\u{7}b", "a\u{1b}[31mb", "a\u{7f}", "a\u{85}b", "a\u{9f}b"] {
            let error = check_text("company.name", text, TextLimit::NAME).unwrap_err();
            assert_eq!(error.code, "control_character", "{text:?}");
        }
        let error = check_text("reason", "no\0pe", TextLimit::TEXT).unwrap_err();
        assert_eq!(error.code, "control_character");
        assert!(error.message.contains("U+0000"), "{}", error.message);
    }

    #[test]
    fn line_breaks_only_in_multi_line_text() {
        let error = check_text("company.name", "Contoso\nBcc: x@example.com", TextLimit::NAME).unwrap_err();
        assert_eq!(error.code, "control_character");
        assert!(error.message.contains("one line"), "{}", error.message);
        assert_eq!(check_text("company.name", "a\tb", TextLimit::NAME).unwrap_err().code, "control_character");
        assert_eq!(
            check_text("reason", "first\r\nsecond\rthird\tend", TextLimit::TEXT).unwrap(),
            "first\nsecond\nthird\tend"
        );
    }
}
