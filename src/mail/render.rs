//! Email rendering with Tera: `templates/email/<workflow>/<message>[.<locale>].<part>.tera`. A
//! shipped message is `md` (Markdown, its values escaped for Markdown) plus `subject`: the one
//! source gives the text part and the HTML part (see `markdown.rs`), the HTML inside the shared
//! layout `email/layout.html.tera`. A message written as a `txt` part (and optionally an `html`
//! part, autoescaped) still renders as written. A message is picked per locale along a fallback
//! chain (it-CH -> it -> the default).

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
    /// The `.md.tera` templates, whose values are escaped for Markdown rather than HTML (Tera has
    /// one escape function per instance).
    markdown: Tera,
}

/// The layout every Markdown email's HTML part is placed in, unless the templates directory has
/// its own `email/layout.html.tera`.
const LAYOUT: &str = "email/layout.html.tera";
const DEFAULT_LAYOUT: &str = include_str!("../../templates/email/layout.html.tera");

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
        let mut markdown = if dir.is_dir() {
            let glob = format!("{}/**/*.md.tera", dir.display());
            Tera::new(&glob)
                .map_err(|err| RenderError::Load { dir: dir.display().to_string(), message: chain(&err) })?
        } else {
            Tera::default()
        };
        tera.autoescape_on(vec![".html.tera"]);
        tera.set_escape_fn(escape_html);
        markdown.autoescape_on(vec![".md.tera"]);
        markdown.set_escape_fn(super::markdown::escape_markdown);
        let mut renderer = Self { tera, markdown };
        if !renderer.has(LAYOUT) {
            renderer.add_raw(LAYOUT, DEFAULT_LAYOUT)?;
        }
        Ok(renderer)
    }

    /// A renderer with only the templates added by hand (benchmarks, tests), and the layout.
    pub fn empty() -> Self {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html.tera"]);
        tera.set_escape_fn(escape_html);
        let mut markdown = Tera::default();
        markdown.autoescape_on(vec![".md.tera"]);
        markdown.set_escape_fn(super::markdown::escape_markdown);
        let mut renderer = Self { tera, markdown };
        renderer.add_raw(LAYOUT, DEFAULT_LAYOUT).expect("the built-in email layout parses");
        renderer
    }

    pub fn add_raw(&mut self, name: &str, content: &str) -> Result<(), RenderError> {
        let tera = if name.ends_with(".md.tera") { &mut self.markdown } else { &mut self.tera };
        tera.add_raw_template(name, content)
            .map_err(|err| RenderError::Render { template: name.to_owned(), message: chain(&err) })
    }

    pub fn has(&self, name: &str) -> bool {
        let tera = if name.ends_with(".md.tera") { &self.markdown } else { &self.tera };
        tera.get_template_names().any(|n| n == name)
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
            .chain(self.markdown.get_template_names())
            .filter_map(|name| name.strip_prefix(&prefix)?.strip_suffix(".tera"))
            .filter_map(|rest| rest.rsplit_once('.').map(|(locale, _part)| locale.to_owned()))
            .filter(|locale| !locale.contains('.') && !["subject", "txt", "html", "md"].contains(&locale.as_str()))
            .collect()
    }

    /// The locale message `message` will be rendered in for a recipient whose locale is
    /// `locale`, along the fallback chain: the language its dates are written in.
    pub fn locale_for(&self, workflow: &str, message: &str, locale: Option<&str>) -> String {
        fallback_chain(locale)
            .into_iter()
            .find(|candidate| {
                ["md", "txt"]
                    .iter()
                    .any(|part| self.has(&email_template(workflow, message, candidate.as_deref(), part)))
            })
            .flatten()
            .unwrap_or_else(|| DEFAULT_LOCALE.to_owned())
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
            let source = email_template(workflow, message, candidate.as_deref(), "md");
            let text = email_template(workflow, message, candidate.as_deref(), "txt");
            let markdown = self.has(&source);
            if !markdown && !self.has(&text) {
                looked_for.push(source);
                looked_for.push(text);
                continue;
            }
            let context = Context::from_value(context.clone())
                .map_err(|err| RenderError::Render { template: text.clone(), message: chain_of(&err) })?;
            let subject_name = email_template(workflow, message, candidate.as_deref(), "subject");
            let subject = self.render(&subject_name, &context)?;
            let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
            let locale = candidate.clone().unwrap_or_else(|| DEFAULT_LOCALE.to_owned());
            if markdown {
                let parts = super::markdown::render(&self.render(&source, &context)?);
                let html = self.layout(&locale, &subject, &parts.html)?;
                return Ok(Rendered { locale, subject, text: parts.text, html: Some(html) });
            }
            let html_name = email_template(workflow, message, candidate.as_deref(), "html");
            let html = if self.has(&html_name) { Some(self.render(&html_name, &context)?) } else { None };
            return Ok(Rendered { locale, subject, text: self.render(&text, &context)?, html });
        }
        Err(RenderError::Missing {
            workflow: workflow.to_owned(),
            message: message.to_owned(),
            looked_for: looked_for.join(", "),
        })
    }

    /// Places an HTML body (from Markdown, or a draft's edited text) in the shared layout.
    pub fn layout(&self, locale: &str, subject: &str, body: &str) -> Result<String, RenderError> {
        let context = serde_json::json!({ "lang": locale, "subject": subject, "content": body });
        self.render_page(LAYOUT, &context)
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
        let tera = if name.ends_with(".md.tera") { &self.markdown } else { &self.tera };
        tera.render(name, context)
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
    fn a_markdown_message_gives_a_text_part_and_an_html_part_in_the_layout() {
        let mut r = renderer();
        r.add_raw("email/w/md.subject.tera", "Welcome {{ name }}").unwrap();
        r.add_raw("email/w/md.md.tera", "Hello **{{ name }}**,\n\n[Start now]({{ links.go }})\n").unwrap();
        r.add_raw("email/w/md.it.md.tera", "Ciao {{ name }}").unwrap();
        let context =
            json!({ "name": "<Anna> *[x](https://evil.example)*", "links": { "go": "https://x/l/t?a=1&b=2" } });
        let en = r.render_email("w", "md", Some("en"), &context).unwrap();
        assert_eq!(en.subject, "Welcome <Anna> *[x](https://evil.example)*");
        assert_eq!(en.text, "Hello <Anna> *[x](https://evil.example)*,\n\nStart now: https://x/l/t?a=1&b=2\n");
        let html = en.html.unwrap();
        assert!(html.starts_with("<!doctype html>") && html.contains("<html lang=\"en\""), "{html}");
        assert!(html.contains("<title>Welcome &lt;Anna&gt;"), "{html}");
        assert!(html.contains("<strong>&lt;Anna&gt; *[x](https://evil.example)*</strong>"), "{html}");
        assert!(!html.contains("href=\"https://evil"), "a value never becomes a link: {html}");
        assert!(html.contains("href=\"https://x/l/t?a=1&amp;b=2\">Start now</a>"), "{html}");
        assert_eq!(html.matches("<style").count(), 1, "one style block: {html}");
        assert!(html.contains("prefers-color-scheme: dark"), "{html}");
        // The Italian source has no subject of its own: the message falls back whole, never half.
        assert!(r.render_email("w", "md", Some("it"), &context).is_err());
        assert_eq!(r.locales_of("w", "md").into_iter().collect::<Vec<_>>(), ["it"]);
    }

    #[test]
    fn custom_text_and_html_pairs_still_render_as_written() {
        let context = json!({ "name": "Anna", "links": { "go": "https://x/l/t" } });
        let en = renderer().render_email("w", "hello", Some("en"), &context).unwrap();
        assert_eq!(en.text, "Hi Anna: https://x/l/t");
        assert_eq!(en.html.as_deref(), Some("<p>Hi Anna</p>"), "no layout around a custom HTML part");
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
