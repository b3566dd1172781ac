//! `accord check` for templates: every email of every definition is rendered in every locale it
//! has, with the sample input declared beside the workflow, links and dates filled in, and both
//! its parts checked (each link in the text and as a link in the HTML, no template syntax left);
//! so is every link page's details part (`pages/<workflow>/<action>`).

use serde_json::{json, Value};

use super::dates;
use super::render::{email_template, Rendered, Renderer, DEFAULT_LOCALE};
use crate::clock::Timestamp;
use crate::workflow::{Definition, Diagnostic, EmailSpec, State};

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
        let workflow = definition.name.as_str();
        let default_parts: Vec<&str> = ["subject", "md", "txt", "html"]
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
            let context = sample_context(definition, state, email, shown);
            match renderer.render_email(workflow, email.template.as_str(), locale.as_deref().or(Some("zz")), &context) {
                Ok(rendered) if rendered.locale != shown && locale.is_some() => {}
                Ok(rendered) => {
                    for (problem, hint) in check_parts(&rendered, &email.links) {
                        report(format!("email `{}` ({shown}) {problem}", email.template), hint);
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

/// The context an email is rendered with at a transition, with the workflow's `[sample]` for
/// the instance and fixed stand-ins for links, dates and ids.
pub fn sample_context(definition: &Definition, state: &State, email: &EmailSpec, locale: &str) -> Value {
    let mut context = definition.sample.clone();
    if let Value::Object(map) = &mut context {
        let links: serde_json::Map<String, Value> =
            email.links.iter().map(|l| (l.clone(), json!(format!("https://accord.example/l/sample-{l}")))).collect();
        let date = |days: u64| {
            let at = SAMPLE_NOW.plus(std::time::Duration::from_secs(days * 86_400));
            json!(dates::format(at, locale, chrono_tz::Europe::Rome))
        };
        let expiries: serde_json::Map<String, Value> = email
            .links
            .iter()
            .map(|l| (l.clone(), definition.links.get(l).map_or(date(7), |a| date(a.expires.as_secs() / 86_400))))
            .collect();
        // The timers of the email's state: those armed when it is sent (a template naming another
        // would fail when it is sent, so it fails here).
        let timers: serde_json::Map<String, Value> =
            state.timers.iter().map(|t| (t.name.clone(), date(t.after.as_secs() / 86_400))).collect();
        map.insert("links".into(), Value::Object(links));
        map.insert("state".into(), json!(state.name));
        map.insert("from_state".into(), Value::Null);
        map.insert("event".into(), json!("sample"));
        map.insert("workflow".into(), json!(definition.name));
        map.insert("instance_id".into(), json!("00000000-0000-0000-0000-000000000000"));
        map.insert("console_url".into(), json!("https://accord.example/console/instances/sample"));
        map.insert("recipient".into(), json!({ "email": "sample@example.com", "name": "Sample" }));
        map.insert(
            "dates".into(),
            json!({ "links": expiries, "timers": timers, "now": date(0), "time_zone": "Europe/Rome" }),
        );
    }
    context
}

/// 2027-01-08T16:00:00Z: the instant sample dates count from.
const SAMPLE_NOW: Timestamp = Timestamp::from_millis(1_799_424_000_000);

/// What is wrong with a rendered email's parts: a link missing from the text or the HTML, or
/// template syntax or a raw id left in either.
pub fn check_parts(rendered: &Rendered, links: &[String]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for link in links {
        let url = format!("https://accord.example/l/sample-{link}");
        if !rendered.text.contains(&url) {
            problems.push((
                format!("does not put link `{link}` in its text part"),
                format!("add {{{{ links.{link} }}}} to the template"),
            ));
        }
        if let Some(html) = &rendered.html {
            if !html.contains(&format!("href=\"{url}\"")) {
                problems.push((
                    format!("does not link `{link}` in its HTML part"),
                    format!(
                        "write it as a link, such as [Open]({{{{ links.{link} }}}}), on a line of its own for a button"
                    ),
                ));
            }
        }
    }
    let parts =
        [("text", Some(&rendered.text)), ("HTML", rendered.html.as_ref()), ("subject", Some(&rendered.subject))];
    for (part, text) in parts {
        let Some(text) = text else { continue };
        if text.contains("{{") || text.contains("{%") {
            problems
                .push((format!("leaves template syntax in its {part} part"), "close every {{ … }} and {% … %}".into()));
        }
        if text.contains("00000000-0000-0000-0000-000000000000") {
            problems.push((
                format!("shows the instance's id in its {part} part"),
                "name things as a person knows them; link to {{ console_url }} for operators".into(),
            ));
        }
    }
    problems
}

fn renderer_has(renderer: &Renderer, workflow: &str, message: &str, locale: Option<&str>, part: &str) -> bool {
    renderer.has(&email_template(workflow, message, locale, part))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(text: &str, html: &str) -> Rendered {
        Rendered { locale: "en".into(), subject: "Hello".into(), text: text.into(), html: Some(html.into()) }
    }

    #[test]
    fn a_link_missing_from_a_part_and_leftover_syntax_are_reported() {
        let url = "https://accord.example/l/sample-go";
        let good = rendered(&format!("Go: {url}"), &format!("<a href=\"{url}\">Go</a>"));
        assert!(check_parts(&good, &["go".into()]).is_empty());
        let problems = check_parts(&rendered(&format!("Go: {url}"), "<p>Go</p>"), &["go".into()]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].0.contains("does not link `go` in its HTML part"), "{problems:?}");
        let problems = check_parts(&rendered("Hi {{ name", "<p>00000000-0000-0000-0000-000000000000</p>"), &[]);
        let messages: Vec<&str> = problems.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(messages, ["leaves template syntax in its text part", "shows the instance's id in its HTML part"]);
    }
}
