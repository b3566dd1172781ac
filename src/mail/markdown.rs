//! One email source, two parts: Markdown (rendered from a `.md.tera` template) read once with
//! pulldown-cmark into a few blocks, then written as a plain-text part and as the HTML body that
//! goes into the shared layout (`templates/email/layout.html.tera`).
//!
//! - A paragraph that is one link and nothing else is a **button**: in HTML a styled link with
//!   the plain URL under it (a reader whose client hides the button, or who prints the email,
//!   still has the address); in text `Label: URL` on one line. Any other link is `label (URL)` in
//!   text.
//! - Text paragraphs are never hard-wrapped: a line break inside a paragraph of the source is a
//!   space, so each paragraph is one line that the reader's client wraps to its width.
//! - Raw HTML in the source is shown as text, never passed through: the HTML part's markup is
//!   only what this module writes. Context values are escaped for Markdown when the template is
//!   rendered ([`escape_markdown`]), so a name with `<`, `*` or `[` stays that text.
//! - CSS is on the elements (`style="…"`), as mail clients that drop `<style>` still show it; the
//!   layout's one `<style>` block holds the dark-mode media query, which needs the classes written
//!   here.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Text and link colours, on the elements; the layout's dark-mode query overrides them.
const TEXT: &str = "color:#1f2328;font-size:16px;line-height:1.55;margin:0 0 16px 0;";
const HEADING: &str = "color:#1f2328;font-size:20px;line-height:1.3;font-weight:600;margin:0 0 16px 0;";
const LINK: &str = "color:#0b57b0;text-decoration:underline;";
const BUTTON_CELL: &str = "border-radius:6px;background-color:#0b57b0;";
const BUTTON: &str = "display:inline-block;padding:12px 22px;border-radius:6px;background-color:#0b57b0;\
color:#ffffff;font-size:16px;font-weight:600;line-height:1.2;text-decoration:none;";
const URL_BESIDE: &str = "color:#57606a;font-size:13px;line-height:1.4;margin:0 0 20px 0;word-break:break-all;";
const LIST: &str = "color:#1f2328;font-size:16px;line-height:1.55;margin:0 0 16px 0;padding:0 0 0 24px;";
const QUOTE: &str = "margin:0 0 16px 0;padding:4px 0 4px 14px;border-left:4px solid #d0d7de;color:#424a53;";
const CODE: &str = "font-family:ui-monospace,Menlo,Consolas,monospace;font-size:14px;";

/// The two parts written from one Markdown source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts {
    pub text: String,
    /// The body, to be placed in the layout.
    pub html: String,
}

/// Renders `markdown` to its text part and its HTML body.
pub fn render(markdown: &str) -> Parts {
    let blocks = parse(markdown);
    let mut text = String::new();
    write_text(&blocks, &mut text, "");
    let mut html = String::new();
    write_html(&blocks, &mut html);
    Parts { text: format!("{}\n", text.trim_end()), html }
}

/// Escapes a value for Markdown: every ASCII punctuation character CommonMark lets a backslash
/// escape gets one, so that the value is read back as the same text and never as emphasis, a
/// link, a heading or HTML. Tera calls this for every `{{ value }}` of a `.md.tera` template.
pub fn escape_markdown(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    for c in input.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Turns an edited text part back into an HTML body the way [`render`] would have written the
/// Markdown it came from: paragraphs split at blank lines, a line `Label: URL` alone in its
/// paragraph a button, other web addresses links, everything else text (escaped). Used for
/// drafts, so that an edited text part and the HTML part sent beside it say the same thing.
pub fn html_from_text(text: &str) -> String {
    let mut blocks = Vec::new();
    for paragraph in text.replace("\r\n", "\n").split("\n\n") {
        let paragraph = paragraph.trim_matches('\n');
        if paragraph.trim().is_empty() {
            continue;
        }
        if !paragraph.contains('\n') {
            if let Some((label, url)) = paragraph.rsplit_once(": ") {
                if is_web_url(url.trim()) && !label.trim().is_empty() {
                    let link =
                        Inline::Link { url: url.trim().to_owned(), label: vec![Inline::Text(label.trim().to_owned())] };
                    blocks.push(Block::Paragraph(vec![link]));
                    continue;
                }
            }
        }
        let mut inlines = Vec::new();
        for (i, line) in paragraph.split('\n').enumerate() {
            if i > 0 {
                inlines.push(Inline::Break);
            }
            linkify_into(line, &mut inlines);
        }
        blocks.push(Block::Paragraph(inlines));
    }
    let mut html = String::new();
    write_html(&blocks, &mut html);
    html
}

fn is_web_url(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://")) && !text.contains(char::is_whitespace)
}

/// `line` as text with its web addresses as links.
fn linkify_into(line: &str, out: &mut Vec<Inline>) {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    for span in finder.spans(line) {
        match span.kind() {
            Some(linkify::LinkKind::Url) => {
                let url = span.as_str().to_owned();
                out.push(Inline::Link { label: vec![Inline::Text(url.clone())], url });
            }
            _ => out.push(Inline::Text(span.as_str().to_owned())),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Inline {
    Text(String),
    Code(String),
    Strong(Vec<Inline>),
    Emphasis(Vec<Inline>),
    Link { url: String, label: Vec<Inline> },
    Break,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Block {
    Paragraph(Vec<Inline>),
    Heading(Vec<Inline>),
    List { start: Option<u64>, items: Vec<Vec<Block>> },
    Quote(Vec<Block>),
    Code(String),
    Rule,
}

/// What is being built while the events arrive.
enum Frame {
    Blocks(Vec<Block>),
    Inlines(Vec<Inline>),
    List(Option<u64>, Vec<Vec<Block>>),
    Code(String),
}

fn parse(markdown: &str) -> Vec<Block> {
    let mut stack: Vec<Frame> = vec![Frame::Blocks(Vec::new())];
    let mut links: Vec<String> = Vec::new();
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(tag) => match tag {
                Tag::Paragraph | Tag::Heading { .. } | Tag::Emphasis | Tag::Strong | Tag::Strikethrough => {
                    stack.push(Frame::Inlines(Vec::new()));
                }
                Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                    links.push(dest_url.into_string());
                    stack.push(Frame::Inlines(Vec::new()));
                }
                Tag::BlockQuote(_) | Tag::Item => stack.push(Frame::Blocks(Vec::new())),
                Tag::List(start) => stack.push(Frame::List(start, Vec::new())),
                Tag::CodeBlock(_) => stack.push(Frame::Code(String::new())),
                // Tables, footnotes, HTML blocks and the rest: their text goes where it is.
                _ => {}
            },
            Event::End(end) => {
                let closes_inlines = matches!(
                    end,
                    TagEnd::Paragraph
                        | TagEnd::Heading(_)
                        | TagEnd::Emphasis
                        | TagEnd::Strong
                        | TagEnd::Strikethrough
                        | TagEnd::Link
                        | TagEnd::Image
                );
                if closes_inlines {
                    let Some(Frame::Inlines(inlines)) = stack.pop() else { continue };
                    let made = match end {
                        TagEnd::Paragraph => Err(Block::Paragraph(inlines)),
                        TagEnd::Heading(level) => Err(if level <= HeadingLevel::H6 {
                            Block::Heading(inlines)
                        } else {
                            Block::Paragraph(inlines)
                        }),
                        TagEnd::Emphasis => Ok(Inline::Emphasis(inlines)),
                        TagEnd::Strong => Ok(Inline::Strong(inlines)),
                        TagEnd::Strikethrough => Ok(Inline::Emphasis(inlines)),
                        _ => Ok(Inline::Link { url: links.pop().unwrap_or_default(), label: inlines }),
                    };
                    match made {
                        Ok(inline) => push_inline(&mut stack, inline),
                        Err(block) => push_block(&mut stack, block),
                    }
                    continue;
                }
                match end {
                    TagEnd::BlockQuote(_) => {
                        if let Some(Frame::Blocks(blocks)) = stack.pop() {
                            push_block(&mut stack, Block::Quote(blocks));
                        }
                    }
                    TagEnd::Item => {
                        if let Some(Frame::Blocks(blocks)) = stack.pop() {
                            if let Some(Frame::List(_, items)) = stack.last_mut() {
                                items.push(blocks);
                            }
                        }
                    }
                    TagEnd::List(_) => {
                        if let Some(Frame::List(start, items)) = stack.pop() {
                            push_block(&mut stack, Block::List { start, items });
                        }
                    }
                    TagEnd::CodeBlock => {
                        if let Some(Frame::Code(code)) = stack.pop() {
                            push_block(&mut stack, Block::Code(code));
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(text)
            | Event::Html(text)
            | Event::InlineHtml(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text)
            | Event::FootnoteReference(text) => {
                if let Some(Frame::Code(code)) = stack.last_mut() {
                    code.push_str(&text);
                } else {
                    push_inline(&mut stack, Inline::Text(text.into_string()));
                }
            }
            Event::Code(code) => push_inline(&mut stack, Inline::Code(code.into_string())),
            Event::SoftBreak => push_inline(&mut stack, Inline::Text(" ".into())),
            Event::HardBreak => push_inline(&mut stack, Inline::Break),
            Event::Rule => push_block(&mut stack, Block::Rule),
            Event::TaskListMarker(done) => {
                push_inline(&mut stack, Inline::Text(if done { "[x] " } else { "[ ] " }.into()))
            }
        }
    }
    match stack.into_iter().next() {
        Some(Frame::Blocks(blocks)) => blocks,
        _ => Vec::new(),
    }
}

/// Adds an inline to the innermost inline frame; text outside one (a tight list item's) gets a
/// paragraph of its own.
fn push_inline(stack: &mut [Frame], inline: Inline) {
    match stack.last_mut() {
        Some(Frame::Inlines(inlines)) => inlines.push(inline),
        Some(Frame::Blocks(blocks)) => match blocks.last_mut() {
            Some(Block::Paragraph(inlines)) if !matches!(inline, Inline::Break) => inlines.push(inline),
            _ => blocks.push(Block::Paragraph(vec![inline])),
        },
        _ => {}
    }
}

fn push_block(stack: &mut [Frame], block: Block) {
    match stack.last_mut() {
        Some(Frame::Blocks(blocks)) => blocks.push(block),
        Some(Frame::Inlines(inlines)) => {
            // A block inside inlines (does not happen in CommonMark): keep its text.
            let mut text = String::new();
            write_text(&[block], &mut text, "");
            inlines.push(Inline::Text(text));
        }
        _ => {}
    }
}

/// A paragraph that is one link (and at most blank text around it): the button's URL and label.
fn as_button(inlines: &[Inline]) -> Option<(&str, &[Inline])> {
    let mut found = None;
    for inline in inlines {
        match inline {
            Inline::Text(text) if text.trim().is_empty() => {}
            Inline::Link { url, label } if found.is_none() => found = Some((url.as_str(), label.as_slice())),
            _ => return None,
        }
    }
    found
}

fn inline_text(inlines: &[Inline], out: &mut String) {
    for inline in inlines {
        match inline {
            Inline::Text(text) | Inline::Code(text) => out.push_str(text),
            Inline::Strong(inner) | Inline::Emphasis(inner) => inline_text(inner, out),
            Inline::Link { url, label } => {
                let mut shown = String::new();
                inline_text(label, &mut shown);
                if shown.trim().is_empty() || shown.trim() == url {
                    out.push_str(url);
                } else {
                    out.push_str(&format!("{shown} ({url})"));
                }
            }
            Inline::Break => out.push('\n'),
        }
    }
}

fn write_text(blocks: &[Block], out: &mut String, indent: &str) {
    for block in blocks {
        let mut piece = String::new();
        match block {
            Block::Paragraph(inlines) | Block::Heading(inlines) => match as_button(inlines) {
                Some((url, label)) => {
                    let mut shown = String::new();
                    inline_text(label, &mut shown);
                    piece.push_str(&format!("{}: {url}", shown.trim()));
                }
                None => inline_text(inlines, &mut piece),
            },
            Block::List { start, items } => {
                for (i, item) in items.iter().enumerate() {
                    let marker = match start {
                        Some(n) => format!("{}. ", n + i as u64),
                        None => "- ".to_owned(),
                    };
                    let mut inner = String::new();
                    write_text(item, &mut inner, "");
                    let inner = inner.trim_end().replace("\n\n", "\n").replace('\n', "\n  ");
                    piece.push_str(&format!("{marker}{inner}\n"));
                }
            }
            Block::Quote(inner) => {
                let mut quoted = String::new();
                write_text(inner, &mut quoted, "");
                for line in quoted.trim_end().lines() {
                    piece.push_str(&format!("> {line}\n"));
                }
            }
            Block::Code(code) => piece.push_str(code.trim_end()),
            Block::Rule => piece.push_str("---"),
        }
        let piece = piece.trim_end().trim_start_matches(' ');
        if piece.is_empty() {
            continue;
        }
        for (i, line) in piece.lines().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(indent);
            out.push_str(line);
        }
        out.push_str("\n\n");
    }
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The link targets the HTML part may carry: web and mail addresses; anything else (a
/// `javascript:` URL in a template) is written as text.
fn safe_href(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
}

fn inline_html(inlines: &[Inline], out: &mut String) {
    for inline in inlines {
        match inline {
            Inline::Text(text) => escape(text, out),
            Inline::Code(text) => {
                out.push_str(&format!("<code style=\"{CODE}\">"));
                escape(text, out);
                out.push_str("</code>");
            }
            Inline::Strong(inner) => {
                out.push_str("<strong>");
                inline_html(inner, out);
                out.push_str("</strong>");
            }
            Inline::Emphasis(inner) => {
                out.push_str("<em>");
                inline_html(inner, out);
                out.push_str("</em>");
            }
            Inline::Link { url, label } if safe_href(url) => {
                out.push_str(&format!("<a class=\"accord-link\" style=\"{LINK}\" href=\""));
                escape(url, out);
                out.push_str("\">");
                if label.is_empty() {
                    escape(url, out);
                } else {
                    inline_html(label, out);
                }
                out.push_str("</a>");
            }
            Inline::Link { url, label } => {
                inline_html(label, out);
                out.push_str(" (");
                escape(url, out);
                out.push(')');
            }
            Inline::Break => out.push_str("<br>"),
        }
    }
}

fn write_html(blocks: &[Block], out: &mut String) {
    for block in blocks {
        match block {
            Block::Paragraph(inlines) => match as_button(inlines).filter(|(url, _)| safe_href(url)) {
                Some((url, label)) => {
                    out.push_str(
                        "<table role=\"presentation\" cellspacing=\"0\" cellpadding=\"0\" border=\"0\" \
                         style=\"margin:8px 0 8px 0;border-collapse:separate;\"><tr>",
                    );
                    out.push_str(&format!("<td class=\"accord-button\" style=\"{BUTTON_CELL}\">"));
                    out.push_str(&format!("<a class=\"accord-button\" style=\"{BUTTON}\" href=\""));
                    escape(url, out);
                    out.push_str("\">");
                    inline_html(label, out);
                    out.push_str("</a></td></tr></table>\n");
                    out.push_str(&format!("<p class=\"accord-muted\" style=\"{URL_BESIDE}\">"));
                    out.push_str(
                        "<a class=\"accord-muted\" style=\"color:#57606a;text-decoration:underline;\" href=\"",
                    );
                    escape(url, out);
                    out.push_str("\">");
                    escape(url, out);
                    out.push_str("</a></p>\n");
                }
                None => {
                    out.push_str(&format!("<p class=\"accord-text\" style=\"{TEXT}\">"));
                    inline_html(inlines, out);
                    out.push_str("</p>\n");
                }
            },
            Block::Heading(inlines) => {
                out.push_str(&format!("<h2 class=\"accord-text\" style=\"{HEADING}\">"));
                inline_html(inlines, out);
                out.push_str("</h2>\n");
            }
            Block::List { start, items } => {
                let tag = if start.is_some() { "ol" } else { "ul" };
                let start_attr = match start {
                    Some(n) if *n != 1 => format!(" start=\"{n}\""),
                    _ => String::new(),
                };
                out.push_str(&format!("<{tag}{start_attr} class=\"accord-text\" style=\"{LIST}\">"));
                for item in items {
                    out.push_str("<li style=\"margin:0 0 6px 0;\">");
                    let mut inner = String::new();
                    write_html(item, &mut inner);
                    // A list item's paragraphs sit flush: no paragraph margin inside an item.
                    out.push_str(inner.trim_end().replace(TEXT, "margin:0;").as_str());
                    out.push_str("</li>");
                }
                out.push_str(&format!("</{tag}>\n"));
            }
            Block::Quote(inner) => {
                out.push_str(&format!("<blockquote class=\"accord-quote\" style=\"{QUOTE}\">"));
                let mut quoted = String::new();
                write_html(inner, &mut quoted);
                // The quote's own padding spaces it: its paragraphs have no margin of their own.
                out.push_str(quoted.trim_end().replace(TEXT, "font-size:16px;line-height:1.55;margin:0;").as_str());
                out.push_str("</blockquote>\n");
            }
            Block::Code(code) => {
                out.push_str(&format!(
                    "<pre class=\"accord-text\" style=\"{CODE}white-space:pre-wrap;margin:0 0 16px 0;\">"
                ));
                escape(code, out);
                out.push_str("</pre>\n");
            }
            Block::Rule => out.push_str("<hr style=\"border:0;border-top:1px solid #d0d7de;margin:24px 0;\">\n"),
        }
    }
}

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;
