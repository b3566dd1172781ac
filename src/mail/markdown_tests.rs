use super::*;

const SOURCE: &str = "Hello Anna,\n\nNorthwind asks you to confirm this\naddress, **today**.\n\n\
[Confirm my address](https://accord.example/l/abc)\n\nOr read [the terms](https://accord.example/terms).\n";

#[test]
fn text_paragraphs_are_one_line_and_links_are_label_and_url() {
    let parts = render(SOURCE);
    assert_eq!(
        parts.text,
        "Hello Anna,\n\nNorthwind asks you to confirm this address, today.\n\n\
         Confirm my address: https://accord.example/l/abc\n\n\
         Or read the terms (https://accord.example/terms).\n"
    );
}

#[test]
fn a_link_alone_in_its_paragraph_is_a_button_with_the_url_beside() {
    let html = render(SOURCE).html;
    assert!(html.contains("class=\"accord-button\""), "{html}");
    assert!(html.contains(">Confirm my address</a>"), "{html}");
    assert!(html.contains(">https://accord.example/l/abc</a></p>"), "the plain URL is shown beside: {html}");
    assert!(html.contains("<strong>today</strong>"), "{html}");
    assert!(
        html.contains("href=\"https://accord.example/terms\">the terms</a>"),
        "an inline link stays a link: {html}"
    );
    assert_eq!(html.matches("accord-button\" style").count(), 2, "one button (cell and link): {html}");
    assert!(html.contains("style=\""), "CSS is on the elements");
    assert!(!html.contains("<style"), "no style block in the body");
}

#[test]
fn escaped_values_are_text_in_both_parts() {
    let name = "<b>Eve</b> *bold* [x](https://evil.example) & _co_ # `tick`";
    let source = format!("Hello {},\n\nWelcome.", escape_markdown(name));
    let parts = render(&source);
    assert_eq!(parts.text, format!("Hello {name},\n\nWelcome.\n"));
    assert!(
        parts.html.contains("Hello &lt;b&gt;Eve&lt;/b&gt; *bold* [x](https://evil.example) &amp; _co_ # `tick`,"),
        "{}",
        parts.html
    );
    assert!(!parts.html.contains("<b>") && !parts.html.contains("href=\"https://evil"), "{}", parts.html);
}

#[test]
fn raw_html_in_a_template_is_shown_as_text() {
    let parts = render("<script>alert(1)</script>\n\nHi <img src=x onerror=y>");
    assert!(!parts.html.contains("<script") && !parts.html.contains("<img"), "{}", parts.html);
    assert!(parts.html.contains("&lt;script&gt;"), "{}", parts.html);
}

#[test]
fn only_web_and_mail_links_become_links() {
    let html = render("[Click](javascript:alert(1))").html;
    assert!(!html.contains("href=\"javascript"), "{html}");
}

#[test]
fn lists_headings_and_quotes_read_in_text() {
    let parts = render("## Next steps\n\n- one\n- two\n\n1. first\n2. second\n\n> Why: because\n");
    assert_eq!(parts.text, "Next steps\n\n- one\n- two\n\n1. first\n2. second\n\n> Why: because\n");
    assert!(parts.html.contains("<ul") && parts.html.contains("<ol") && parts.html.contains("<h2"), "{}", parts.html);
}

#[test]
fn an_edited_text_part_gives_the_same_html_shape() {
    let text = render(SOURCE).text;
    let html = html_from_text(&text);
    assert!(html.contains(">Confirm my address</a>"), "the button comes back: {html}");
    assert!(html.contains(">https://accord.example/l/abc</a></p>"), "{html}");
    assert!(html.contains("href=\"https://accord.example/terms\""), "{html}");
    let edited = html_from_text("Dear <Anna>,\nsee you\n\nGo: https://accord.example/l/abc");
    assert!(edited.contains("Dear &lt;Anna&gt;,<br>see you"), "{edited}");
    assert!(edited.contains("class=\"accord-button\""), "{edited}");
}
