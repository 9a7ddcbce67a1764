//! Neutralising untrusted text (instance names, ARNs, ids and AWS error
//! messages from events) before it reaches a terminal or Slack.
//!
//! Such text may carry characters that change how the text around it is
//! shown: line breaks that forge a new line or leave a quote, terminal
//! escape sequences (ESC, CSI) that recolour or rewrite the screen, and
//! Unicode bidirectional controls that reorder what is displayed
//! ("Trojan Source"). Each is replaced by something visible and inert.

/// The character shown in place of a control or bidirectional character.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether `c` is a Unicode bidirectional formatting character: the
/// embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069, and
/// the marks U+200E, U+200F and U+061C.
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Whether `c` must not appear raw in rendered untrusted text: a C0 or C1
/// control character (ESC, CR, LF, DEL, CSI, ...) or a bidirectional one.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi(c)
}

/// `c` as it may be shown on one line: whitespace controls (tab, line
/// breaks) become a space, so words stay apart; every other control or
/// bidirectional character becomes [`REPLACEMENT`].
pub fn one_line_char(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => ' ',
        c if is_unsafe(c) => REPLACEMENT,
        c => c,
    }
}

/// `text` on one line with every control and bidirectional character
/// neutralised (see [`one_line_char`]).
pub fn one_line(text: &str) -> String {
    text.chars().map(one_line_char).collect()
}

/// An error and all its causes on one line, `": "` between them. The AWS
/// SDK keeps the service's message, and reqwest "connection refused" or
/// "timed out", in the causes, which an error's own message leaves out.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_become_spaces() {
        assert_eq!(one_line("a\nb\r\nc\td\u{2028}e"), "a b  c d e");
    }

    #[test]
    fn terminal_escapes_are_replaced() {
        assert_eq!(
            one_line("\u{1b}[31mred\u{9b}2J\u{7f}"),
            "\u{FFFD}[31mred\u{FFFD}2J\u{FFFD}"
        );
    }

    #[test]
    fn bidi_controls_are_replaced() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}',
        ] {
            assert_eq!(
                one_line(&format!("x{c}y")),
                "x\u{FFFD}y",
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn ordinary_text_is_kept() {
        let text = "AWSReservedSSO_Admin_0123 über 日本 & <ok>";
        assert_eq!(one_line(text), text);
    }

    #[test]
    fn an_error_chain_names_every_cause() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("timed out"));
        assert_eq!(error_chain(&e), "dispatch failure: timed out");
    }
}
