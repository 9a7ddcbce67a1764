//! Slack Block Kit, the parts every doctor's messages are made of.
//!
//! Every untrusted string (names, ids from events, AWS error messages)
//! goes through [`escape`] (or [`code`] inside a code span, [`code_block`]
//! inside a ``` block) before it reaches mrkdwn: `&`, `<`, `>` become
//! entities, line breaks a space (a quoted message stays in its quote),
//! control and bidirectional characters a visible U+FFFD, and `scheme://`
//! gets a zero-width space so a name is never a link. Every mrkdwn text
//! object is `verbatim`, so Slack does not link bare domains, channel
//! names or mentions either. Every text is cut to Slack's limits (header
//! 150, section 3000, field 2000, context element 2000, 50 blocks, 10
//! fields per section) by the builders below.

use serde_json::{json, Value};

/// Slack's limit on the number of blocks in a message.
pub const BLOCKS_MAX: usize = 50;
/// Slack's limit on the number of fields in a section.
pub const FIELDS_MAX: usize = 10;

/// Slack's limit on header text.
pub const HEADER_MAX: usize = 150;
/// Slack's limit on section text.
pub const SECTION_MAX: usize = 3000;
/// Slack's limit on one section field.
pub const FIELD_MAX: usize = 2000;
/// Slack's limit on context element text.
pub const CONTEXT_MAX: usize = 2000;

/// Makes untrusted text safe for one line of mrkdwn: escapes the three
/// characters Slack treats as control (`&`, `<`, `>`), puts the text on one
/// line and neutralises control and bidirectional characters (see
/// [`crate::text::one_line_char`]), and breaks `://` with a zero-width space
/// so Slack never turns a URL in a name into a link.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(crate::text::one_line_char(c)),
        }
    }
    break_links(&out)
}

/// `text` with a zero-width space after the `:` of every `scheme://`
/// except `file://` (which Slack does not link, and which the fix steps'
/// commands use): `https:\u{200B}//evil.example` reads the same but is not
/// a link.
fn break_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let before = &rest[..i];
        let scheme_start = before
            .rfind(|c: char| !c.is_ascii_alphanumeric() && !matches!(c, '+' | '-' | '.'))
            .map_or(0, |j| j + 1);
        out.push_str(before);
        out.push(':');
        if !before[scheme_start..].eq_ignore_ascii_case("file") {
            out.push('\u{200B}');
        }
        out.push_str("//");
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// Untrusted text as an inline code span: [`escape`]d, with backticks
/// replaced by U+02CB (which looks alike) so the value cannot end the span
/// and let `*`, `_` or `~` in it format the rest.
pub fn code(text: &str) -> String {
    format!("`{}`", escape(text).replace('`', "\u{02CB}"))
}

/// Text for a ``` code block: `&`, `<`, `>` escaped, backticks replaced as
/// in [`code`], control (except line breaks) and bidirectional characters
/// neutralised. Line breaks are kept: the block is multi-line by design.
pub fn code_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\u{02CB}'),
            '\n' => out.push('\n'),
            c if crate::text::is_unsafe(c) => out.push(crate::text::REPLACEMENT),
            c => out.push(c),
        }
    }
    out
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`,
/// never inside an `&…;` escape.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut.truncate(amp);
        }
    }
    cut.push('…');
    cut
}

/// As many whole `items` (of `total`) as fit in `max` characters, joined
/// by commas, and `…and N more` for the rest: a link is never cut in half
/// and the count of what is left out always shows.
pub fn whole_items(items: &[String], total: usize, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for (shown, item) in items.iter().enumerate() {
        let rest = total.saturating_sub(shown + 1);
        let tail = if rest > 0 {
            format!("\n…and {rest} more").chars().count()
        } else {
            0
        };
        let sep = if shown == 0 { 0 } else { 2 };
        let len = item.chars().count();
        if used + sep + len + tail > max {
            let left = total.saturating_sub(shown);
            out.push_str(&format!("\n…and {left} more"));
            return out;
        }
        if shown > 0 {
            out.push_str(", ");
        }
        out.push_str(item);
        used += sep + len;
    }
    let left = total.saturating_sub(items.len());
    if left > 0 {
        out.push_str(&format!("\n…and {left} more"));
    }
    out
}

/// A mrkdwn link to `url` labelled `label` (escaped), or the label as code
/// when there is no URL.
pub fn link(url: Option<String>, label: &str) -> String {
    match url {
        Some(url) => format!("<{url}|{}>", escape(label)),
        None => code(label),
    }
}

/// A mrkdwn text object. `verbatim` stops Slack from linking URLs, bare
/// domains and channel names or parsing mentions in the text itself; the
/// links written as `<url|label>` still work.
pub fn mrkdwn(text: String) -> Value {
    json!({ "type": "mrkdwn", "text": text, "verbatim": true })
}

/// A header block (plain text, cut to [`HEADER_MAX`]).
pub fn header(text: &str) -> Value {
    json!({ "type": "header", "text": { "type": "plain_text", "text": fit(text, HEADER_MAX), "emoji": true } })
}

/// A section block of mrkdwn `text` (already escaped), cut to
/// [`SECTION_MAX`].
pub fn section(text: String) -> Value {
    json!({ "type": "section", "text": mrkdwn(fit(&text, SECTION_MAX)) })
}

/// A section field: a bold `label` over `value` (already escaped), cut to
/// [`FIELD_MAX`].
pub fn field(label: &str, value: String) -> Value {
    mrkdwn(fit(&format!("*{label}*\n{value}"), FIELD_MAX))
}

/// A section block of at most [`FIELDS_MAX`] fields (the rest is dropped:
/// callers keep their fields under the limit).
pub fn fields(mut fields: Vec<Value>) -> Value {
    fields.truncate(FIELDS_MAX);
    json!({ "type": "section", "fields": fields })
}

/// A context block of one mrkdwn element (already escaped), cut to
/// [`CONTEXT_MAX`].
pub fn context(text: &str) -> Value {
    json!({ "type": "context", "elements": [mrkdwn(fit(text, CONTEXT_MAX))] })
}

/// A message: the notification `fallback` (already escaped) and its
/// blocks (at most [`BLOCKS_MAX`]).
pub fn message(fallback: &str, mut blocks: Vec<Value>) -> Value {
    blocks.truncate(BLOCKS_MAX);
    json!({ "text": fit(fallback, SECTION_MAX), "blocks": blocks })
}

/// Sections naming every one of `ids` (plain, as code), under `label` in
/// the first, as many ids per section as fit [`SECTION_MAX`], at most
/// `max_blocks` sections (the last says how many it could not name).
pub fn id_sections(label: &str, ids: &[&str], max_blocks: usize) -> Vec<Value> {
    let mut sections: Vec<String> = Vec::new();
    let mut current = format!("*{label} ({})*\n", ids.len());
    for id in ids {
        let item = code(id);
        if current.chars().count() + item.chars().count() + 2 > SECTION_MAX - 40 {
            sections.push(std::mem::take(&mut current));
        }
        if !current.is_empty() && !current.ends_with('\n') {
            current.push_str(", ");
        }
        current.push_str(&item);
    }
    sections.push(current);
    if sections.len() > max_blocks {
        let named: usize = sections[..max_blocks]
            .iter()
            .map(|s| s.matches('`').count() / 2)
            .sum();
        sections.truncate(max_blocks);
        if let Some(last) = sections.last_mut() {
            last.push_str(&format!("\n…and {} more", ids.len().saturating_sub(named)));
        }
    }
    sections.into_iter().map(section).collect()
}

/// A thread reply (or a short message) carrying one mrkdwn text (already
/// escaped).
pub fn reply(text: &str) -> Value {
    let text = fit(text, SECTION_MAX);
    json!({
        "text": text,
        "blocks": [{ "type": "section", "text": mrkdwn(text) }]
    })
}
