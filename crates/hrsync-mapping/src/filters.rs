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
    env.add_filter("translit", |s: String, lang: String| translit(&s, &lang));
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

/// Locale-aware transliteration to ASCII: German writes ä ö ü ß as ae oe ue ss (Müller →
/// Mueller, not Muller); other languages (and what the rules leave) fold like [`ascii`].
pub fn translit(s: &str, lang: &str) -> String {
    let lang = lang.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len() + 4);
    // NFC first, so a decomposed "u + ¨" is seen as ü.
    for c in s.nfc() {
        match (lang.as_str(), c) {
            ("de", 'ä') => out.push_str("ae"),
            ("de", 'ö') => out.push_str("oe"),
            ("de", 'ü') => out.push_str("ue"),
            ("de", 'Ä') => out.push_str("Ae"),
            ("de", 'Ö') => out.push_str("Oe"),
            ("de", 'Ü') => out.push_str("Ue"),
            ("de", 'ß') => out.push_str("ss"),
            ("da" | "no" | "nb" | "nn", 'å') => out.push_str("aa"),
            ("da" | "no" | "nb" | "nn", 'Å') => out.push_str("Aa"),
            ("da" | "no" | "nb" | "nn", 'ø') => out.push_str("oe"),
            ("da" | "no" | "nb" | "nn", 'Ø') => out.push_str("Oe"),
            ("da" | "no" | "nb" | "nn", 'æ') => out.push_str("ae"),
            ("da" | "no" | "nb" | "nn", 'Æ') => out.push_str("Ae"),
            _ => out.push(c),
        }
    }
    ascii(&out)
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
        assert_eq!(translit("José Müller", "de"), "Jose Mueller");
        assert_eq!(translit("Straße Öl Ärger", "de"), "Strasse Oel Aerger");
        assert_eq!(translit("Mu\u{308}ller", "de"), "Mueller", "decomposed ü");
        assert_eq!(translit("Søren Ærø", "da"), "Soeren Aeroe");
        assert_eq!(translit("Müller", "fr"), "Muller");
        assert_eq!(ascii("Łukasz Żółć"), "Lukasz Zolc");
        assert_eq!(ascii("Søren Ærø"), "Soren AEro");
        assert_eq!(login("O'Brien-Smith, Jr."), "obrien-smithjr.");
        assert_eq!(login("Straße"), "strasse");
        assert_eq!(login("Nguyễn"), "nguyen");
    }
}
