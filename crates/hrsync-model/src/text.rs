//! Text that goes into logs and stored messages: never unbounded. An error can carry what a
//! hostile peer sent (a 2.7 MB URL built from a 900 KB employee id); one such message must not
//! flood the log or the state database.

use std::borrow::Cow;

/// How long a logged or stored message may be (bytes).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// `text` cut to at most `max` bytes (at a character boundary), with a marker saying how much
/// was cut: `… [123456 more bytes cut]`. Short text is returned unchanged.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… [{} more bytes cut]",
        &text[..end],
        text.len() - end
    ))
}

/// [`clip`] at [`MAX_MESSAGE_BYTES`].
pub fn clip_message(text: &str) -> Cow<'_, str> {
    clip(text, MAX_MESSAGE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_a_marker_and_short_text_is_kept() {
        assert_eq!(clip("short", 10), "short");
        let long = "é".repeat(10); // 20 bytes
        let c = clip(&long, 5);
        assert_eq!(c, "éé… [16 more bytes cut]", "cut at a character boundary");
        let huge = "E".repeat(900_000);
        let c = clip_message(&huge);
        assert!(c.len() < MAX_MESSAGE_BYTES + 40, "{}", c.len());
        assert!(
            c.ends_with("… [895904 more bytes cut]"),
            "{}",
            &c[c.len() - 40..]
        );
    }
}
