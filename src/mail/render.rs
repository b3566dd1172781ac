//! Email rendering with Tera: `templates/email/<workflow>/<message>[.<locale>].<part>.tera`,
//! where part is `subject`, `txt` or `html`. HTML is autoescaped; every message has a plain-text
//! part; a message is picked per locale along a fallback chain (it-CH -> it -> the default).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use tera::{Context, Tera};

/// The locale a message is recorded with when only the default version exists.
pub use crate::workflow::DEFAULT_LOCALE;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("loading templates from {dir}: {message}")]
    Load { dir: String, message: String },
    #[error("no template for message `{message}` of workflow `{workflow}` (looked for {looked_for})")]
    Missing { workflow: String, message: String, looked_for: String },
    #[error("rendering {template}: {message}")]
    Render { template: String, message: String },
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub locale: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

pub struct Renderer {
    tera: Tera,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").field("templates", &self.tera.get_template_names().count()).finish()
    }
}

impl Renderer {
    /// Loads every `*.tera` under `dir`.
    pub fn load(dir: &Path) -> Result<Self, RenderError> {
        let mut tera = if dir.is_dir() {
            let glob = format!("{}/**/*.tera", dir.display());
            Tera::new(&glob)
                .map_err(|err| RenderError::Load { dir: dir.display().to_string(), message: chain(&err) })?
        } else {
            Tera::default()
        };
        tera.autoescape_on(vec![".html.tera"]);
        tera.set_escape_fn(escape_html);
        Ok(Self { tera })
    }

    /// A renderer with only the templates added by hand (benchmarks, tests).
    pub fn empty() -> Self {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html.tera"]);
        tera.set_escape_fn(escape_html);
        Self { tera }
    }

    pub fn add_raw(&mut self, name: &str, content: &str) -> Result<(), RenderError> {
        self.tera
            .add_raw_template(name, content)
            .map_err(|err| RenderError::Render { template: name.to_owned(), message: chain(&err) })
    }

    pub fn has(&self, name: &str) -> bool {
        self.tera.get_template_names().any(|n| n == name)
    }

    /// Whether page `pages/<page>` exists (in the default locale at least).
    pub fn has_page(&self, page: &str) -> bool {
        self.has(&format!("pages/{page}.html.tera"))
    }

    /// The locales (besides the default) that page `pages/<page>` has a version in.
    pub fn page_locales(&self, page: &str) -> BTreeSet<String> {
        let prefix = format!("pages/{page}.");
        self.tera
            .get_template_names()
            .filter_map(|name| name.strip_prefix(&prefix)?.strip_suffix(".html.tera"))
            .filter(|locale| !locale.is_empty() && !locale.contains('.'))
            .map(str::to_owned)
            .collect()
    }

    /// The locales (besides the default) that message `message` of `workflow` has a version in.
    pub fn locales_of(&self, workflow: &str, message: &str) -> BTreeSet<String> {
        let prefix = format!("email/{workflow}/{message}.");
        self.tera
            .get_template_names()
            .filter_map(|name| name.strip_prefix(&prefix)?.strip_suffix(".tera"))
            .filter_map(|rest| rest.rsplit_once('.').map(|(locale, _part)| locale.to_owned()))
            .filter(|locale| !locale.contains('.') && !["subject", "txt", "html"].contains(&locale.as_str()))
            .collect()
    }

    /// Renders message `message` for a recipient whose locale is `locale`.
    pub fn render_email(
        &self,
        workflow: &str,
        message: &str,
        locale: Option<&str>,
        context: &Value,
    ) -> Result<Rendered, RenderError> {
        let chain = fallback_chain(locale);
        let mut looked_for = Vec::new();
        for candidate in &chain {
            let text = email_template(workflow, message, candidate.as_deref(), "txt");
            if !self.has(&text) {
                looked_for.push(text);
                continue;
            }
            let context = Context::from_value(context.clone())
                .map_err(|err| RenderError::Render { template: text.clone(), message: chain_of(&err) })?;
            let subject_name = email_template(workflow, message, candidate.as_deref(), "subject");
            let subject = self.render(&subject_name, &context)?;
            let html_name = email_template(workflow, message, candidate.as_deref(), "html");
            let html = if self.has(&html_name) { Some(self.render(&html_name, &context)?) } else { None };
            return Ok(Rendered {
                locale: candidate.clone().unwrap_or_else(|| DEFAULT_LOCALE.to_owned()),
                subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
                text: self.render(&text, &context)?,
                html,
            });
        }
        Err(RenderError::Missing {
            workflow: workflow.to_owned(),
            message: message.to_owned(),
            looked_for: looked_for.join(", "),
        })
    }

    /// Renders page `pages/<page>` in the first locale of the chain that has a version of it
    /// (`pages/<page>.<locale>.html.tera`, else `pages/<page>.html.tera`); the template sees the
    /// locale used as `locale`.
    pub fn render_localized_page(
        &self,
        page: &str,
        locale: Option<&str>,
        context: &Value,
    ) -> Result<String, RenderError> {
        for candidate in fallback_chain(locale) {
            let name = match &candidate {
                Some(locale) => format!("pages/{page}.{locale}.html.tera"),
                None => format!("pages/{page}.html.tera"),
            };
            if self.has(&name) {
                let mut context = context.clone();
                context["locale"] = Value::String(candidate.unwrap_or_else(|| DEFAULT_LOCALE.to_owned()));
                return self.render_page(&name, &context);
            }
        }
        Err(RenderError::Render {
            template: format!("pages/{page}.html.tera"),
            message: "the template does not exist".into(),
        })
    }

    /// Renders a page template (`templates/pages/…`).
    pub fn render_page(&self, name: &str, context: &Value) -> Result<String, RenderError> {
        let context = Context::from_value(context.clone())
            .map_err(|err| RenderError::Render { template: name.to_owned(), message: chain_of(&err) })?;
        self.render(name, &context)
    }

    fn render(&self, name: &str, context: &Context) -> Result<String, RenderError> {
        if !self.has(name) {
            return Err(RenderError::Render {
                template: name.to_owned(),
                message: "the template does not exist".into(),
            });
        }
        self.tera
            .render(name, context)
            .map_err(|err| RenderError::Render { template: name.to_owned(), message: chain(&err) })
    }
}

/// Escapes what HTML text and quoted attributes need escaped. Tera's default also escapes `/`,
/// which turns every link into `https:&#x2F;&#x2F;…`: valid, but unreadable to people and to
/// tools that look for links in the source.
fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// `it-CH` -> [`it-CH`, `it`, default].
pub fn fallback_chain(locale: Option<&str>) -> Vec<Option<String>> {
    let mut chain = Vec::new();
    if let Some(locale) = locale.and_then(crate::workflow::input::parse_locale) {
        if let Some((language, _)) = locale.split_once('-') {
            chain.push(Some(locale.clone()));
            chain.push(Some(language.to_owned()));
        } else {
            chain.push(Some(locale));
        }
    }
    chain.push(None);
    chain
}

pub fn email_template(workflow: &str, message: &str, locale: Option<&str>, part: &str) -> String {
    match locale {
        Some(locale) => format!("email/{workflow}/{message}.{locale}.{part}.tera"),
        None => format!("email/{workflow}/{message}.{part}.tera"),
    }
}

/// Tera hides the useful part of an error in its sources.
fn chain(err: &tera::Error) -> String {
    chain_of(err)
}

fn chain_of(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn renderer() -> Renderer {
        let mut r = Renderer::empty();
        r.add_raw("email/w/hello.subject.tera", "Hello\n {{ name }}").unwrap();
        r.add_raw("email/w/hello.txt.tera", "Hi {{ name }}: {{ links.go }}").unwrap();
        r.add_raw("email/w/hello.html.tera", "<p>Hi {{ name }}</p>").unwrap();
        r.add_raw("email/w/hello.it.subject.tera", "Ciao {{ name }}").unwrap();
        r.add_raw("email/w/hello.it.txt.tera", "Ciao {{ name }}").unwrap();
        r
    }

    #[test]
    fn the_locale_chain_falls_back_to_the_language_then_the_default() {
        let context = json!({ "name": "<Anna>", "links": { "go": "https://x/l/t" } });
        let it_ch = renderer().render_email("w", "hello", Some("it-CH"), &context).unwrap();
        assert_eq!((it_ch.locale.as_str(), it_ch.subject.as_str(), it_ch.html), ("it", "Ciao <Anna>", None));
        let de = renderer().render_email("w", "hello", Some("de"), &context).unwrap();
        assert_eq!(de.locale, "en");
        assert_eq!(de.subject, "Hello <Anna>");
        assert_eq!(de.text, "Hi <Anna>: https://x/l/t");
        assert_eq!(de.html.as_deref(), Some("<p>Hi &lt;Anna&gt;</p>"), "HTML is autoescaped, text is not");
    }

    #[test]
    fn undefined_variables_are_errors() {
        let err = renderer().render_email("w", "hello", None, &json!({ "name": "x" })).unwrap_err();
        assert!(err.to_string().contains("links.go"), "{err}");
    }

    #[test]
    fn locales_of_lists_the_versions_on_disk() {
        assert_eq!(renderer().locales_of("w", "hello").into_iter().collect::<Vec<_>>(), ["it"]);
    }
}
