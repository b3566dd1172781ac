//! `accord check` for templates: every email of every definition is rendered in every locale it
//! has, with the sample input declared beside the workflow, and links filled in; so is every link
//! page's details part (`pages/<workflow>/<action>`).

use serde_json::{json, Value};

use super::render::{email_template, Renderer, DEFAULT_LOCALE};
use crate::workflow::{Definition, Diagnostic};

/// The problems found rendering `definition`'s emails; `file` and `source` locate them.
pub fn check_templates(definition: &Definition, renderer: &Renderer, file: &str, source: &str) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (state, email) in definition.emails() {
        if !seen.insert(email.template.clone()) {
            continue;
        }
        let line = source.lines().position(|l| l.contains(&format!("\"{}\"", email.template))).map_or(1, |i| i + 1);
        let mut report = |message: String, hint: String| {
            problems.push(Diagnostic { file: file.to_owned(), line, column: 1, message, hint });
        };
        let mut context = definition.sample.clone();
        if let Value::Object(map) = &mut context {
            let links: serde_json::Map<String, Value> = email
                .links
                .iter()
                .map(|l| (l.clone(), json!(format!("https://accord.example/l/sample-{l}"))))
                .collect();
            map.insert("links".into(), Value::Object(links));
            map.insert("state".into(), json!(state.name));
            map.insert("workflow".into(), json!(definition.name));
            map.insert("instance_id".into(), json!("00000000-0000-0000-0000-000000000000"));
            map.insert("recipient".into(), json!({ "email": "sample@example.com", "name": "Sample" }));
        }
        let workflow = definition.name.as_str();
        let default_parts: Vec<&str> = ["subject", "txt", "html"]
            .into_iter()
            .filter(|part| renderer_has(renderer, workflow, email.template.as_str(), None, part))
            .collect();
        let mut locales: Vec<Option<String>> = vec![None];
        locales.extend(renderer.locales_of(workflow, email.template.as_str()).into_iter().map(Some));
        for locale in &locales {
            let shown = locale.as_deref().unwrap_or(DEFAULT_LOCALE);
            for part in &default_parts {
                if locale.is_some()
                    && !renderer_has(renderer, workflow, email.template.as_str(), locale.as_deref(), part)
                {
                    report(
                        format!(
                            "email `{}` in locale `{shown}` has no {part} part, which the default has",
                            email.template
                        ),
                        format!(
                            "create {}",
                            email_template(workflow, email.template.as_str(), locale.as_deref(), part)
                        ),
                    );
                }
            }
            match renderer.render_email(workflow, email.template.as_str(), locale.as_deref().or(Some("zz")), &context) {
                Ok(rendered) if rendered.locale != shown && locale.is_some() => {}
                Ok(rendered) => {
                    for link in &email.links {
                        if !rendered.text.contains(&format!("sample-{link}")) {
                            report(
                                format!(
                                    "email `{}` ({shown}) does not put link `{link}` in its text part",
                                    email.template
                                ),
                                format!("add {{{{ links.{link} }}}} to the text template"),
                            );
                        }
                    }
                }
                Err(err) => report(
                    format!("email `{}` ({shown}) does not render with the sample input: {err}", email.template),
                    "declare the variable under [[input]], give it in [sample], or fix the template".into(),
                ),
            }
        }
    }
    for action in definition.links.keys() {
        let page = format!("{}/{action}", definition.name);
        if !renderer.has_page(&page) {
            continue;
        }
        let line = source.lines().position(|l| l.contains(&format!("[links.{action}]"))).map_or(1, |i| i + 1);
        let mut locales: Vec<Option<String>> = vec![None];
        locales.extend(renderer.page_locales(&page).into_iter().map(Some));
        for locale in locales {
            let name = match &locale {
                Some(locale) => format!("pages/{page}.{locale}.html.tera"),
                None => format!("pages/{page}.html.tera"),
            };
            if let Err(err) = renderer.render_page(&name, &definition.sample) {
                problems.push(Diagnostic {
                    file: file.to_owned(),
                    line,
                    column: 1,
                    message: format!("the page of link `{action}` does not render with the sample input: {err}"),
                    hint: format!("fix templates/{name}, or give the variable in [sample]"),
                });
            }
        }
    }
    problems
}

fn renderer_has(renderer: &Renderer, workflow: &str, message: &str, locale: Option<&str>, part: &str) -> bool {
    renderer.has(&email_template(workflow, message, locale, part))
}
