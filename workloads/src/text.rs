//! Quoting user text in error messages.

use std::borrow::Cow;

/// `text` with its control characters escaped (`\r` as `\\r`, ESC as `\\u{1b}`), so that an
/// error quoting it stays on one line and sends no escape sequence to the terminal.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("wr\rite \u{1b}[31mé\t"), "wr\\rite \\u{1b}[31mé\\t");
        assert!(matches!(printable("plain 'text'"), Cow::Borrowed("plain 'text'")));
    }
}
