//! From TOML text to a [`Definition`], or to every problem found, each with its file and line.

mod build;
mod links;
mod parties;
mod raw;
mod states;
#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use serde::Serialize;
use toml::Spanned;

use self::raw::RawWorkflow;
use super::{Definition, StartCheckSpec};

/// One problem in a definition file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

/// Answers whether `templates/email/<workflow>/<template>` exists.
pub type TemplateExists = dyn Fn(&str, &str) -> bool;

/// What a definition is checked against besides itself.
pub struct CheckEnv<'a> {
    pub guards: &'a [&'a str],
    /// The registered start checks, with the context fields each fills in.
    pub start_checks: &'a [StartCheckSpec],
    pub effects: &'a [&'a str],
    /// Whether `templates/email/<workflow>/<template>` exists; `None` skips the check (a stored
    /// snapshot is loaded without looking at today's templates).
    pub template_exists: Option<&'a TemplateExists>,
}

/// Collects diagnostics while a definition is built.
struct Checker<'a> {
    file: &'a str,
    source: &'a str,
    problems: Vec<Diagnostic>,
    /// A stored snapshot, not a file being written: see [`parse_snapshot`].
    snapshot: bool,
}

impl Checker<'_> {
    fn report(&mut self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) {
        let (line, column) = line_and_column(self.source, span.start);
        self.problems.push(Diagnostic {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
            hint: hint.into(),
        });
    }

    fn name<T>(&mut self, raw: &Spanned<String>, parse: fn(&str) -> Result<T, super::BadName>) -> Option<T> {
        match parse(raw.get_ref()) {
            Ok(name) => Some(name),
            Err(err) => {
                self.report(raw.span(), err.to_string(), "rename it, for example `in_review`");
                None
            }
        }
    }

    fn duration(&mut self, raw: &Spanned<String>) -> Option<Duration> {
        match humantime::parse_duration(raw.get_ref()) {
            Ok(duration) if !duration.is_zero() => Some(duration),
            Ok(_) => {
                self.report(
                    raw.span(),
                    format!("duration `{}` is zero", raw.get_ref()),
                    "give a positive duration such as \"3d\" or \"36h\"",
                );
                None
            }
            Err(err) => {
                self.report(
                    raw.span(),
                    format!("bad duration `{}`: {err}", raw.get_ref()),
                    "write a number and a unit, such as \"30m\", \"36h\", \"3d\" or \"1w\"",
                );
                None
            }
        }
    }
}

fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |tail| tail.chars().count()) + 1;
    (line, column)
}

/// Parses and checks one definition. `file` names the source in diagnostics.
pub fn parse_definition(file: &str, source: &str, env: &CheckEnv<'_>) -> Result<Definition, Vec<Diagnostic>> {
    parse(file, source, env, false)
}

/// Parses a definition stored when an instance started on it. It was checked then; what it needs
/// to run is checked again, but not the rules for writing a definition that came later and that
/// it could not know: an input field that a start check has since come to fill in from the
/// directory (the check's value then replaces the caller's), or a `[sample]` showing what the
/// start checks fill in. Deploying a stricter Accord must not strand instances in flight.
pub fn parse_snapshot(file: &str, source: &str, env: &CheckEnv<'_>) -> Result<Definition, Vec<Diagnostic>> {
    parse(file, source, env, true)
}

fn parse(file: &str, source: &str, env: &CheckEnv<'_>, snapshot: bool) -> Result<Definition, Vec<Diagnostic>> {
    let mut check = Checker { file, source, problems: Vec::new(), snapshot };
    let raw: RawWorkflow = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            check.report(span, err.message().trim().to_owned(), "fix the TOML syntax or the key named here");
            return Err(check.problems);
        }
    };
    let definition = build::build(&mut check, raw, source, env);
    match definition {
        Some(definition) if check.problems.is_empty() => Ok(definition),
        _ => {
            check.problems.sort_by_key(|p| (p.line, p.column));
            Err(check.problems)
        }
    }
}
