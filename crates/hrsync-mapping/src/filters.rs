//! Filters for building directory values from names.

use minijinja::Environment;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("ascii", |s: String| ascii(&s));
    env.add_filter("login", |s: String| login(&s));
    env.add_filter("initial", |s: String| {
        s.chars().next().map(String::from).unwrap_or_default()
    });
    env.add_filter("left", |s: String, n: usize| {
        s.chars().take(n).collect::<String>()
    });
}

/// Diacritics folded to ASCII: NFKD with combining marks removed, then deunicode for what NFKD
/// cannot split (ł, ø, ß, æ, non-Latin scripts).
pub fn ascii(s: &str) -> String {
    let folded: String = s.nfkd().filter(|c| !is_combining_mark(*c)).collect();
    deunicode::deunicode(&folded)
}

/// A login-safe token: ascii, lower-case, only `[a-z0-9._-]` kept.
pub fn login(s: &str) -> String {
    ascii(s)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn folding() {
        assert_eq!(ascii("José Müller"), "Jose Muller");
        assert_eq!(ascii("Łukasz Żółć"), "Lukasz Zolc");
        assert_eq!(ascii("Søren Ærø"), "Soren AEro");
        assert_eq!(login("O'Brien-Smith, Jr."), "obrien-smithjr.");
        assert_eq!(login("Straße"), "strasse");
        assert_eq!(login("Nguyễn"), "nguyen");
    }
}
