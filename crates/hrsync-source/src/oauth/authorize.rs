//! The authorization-code flow's client side (RFC 6749 §4.1 with PKCE, RFC 7636): the URL an
//! admin opens, the PKCE pair and `state`, and reading the code back from the redirect.
//! The exchange itself is [`super::TokenProvider::authorize_with_code`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hrsync_model::Secret;
use sha2::{Digest, Sha256};

/// Paycor's authorize (activation) page.
pub const PAYCOR_AUTHORIZE_URL: &str = "https://hcm.paycor.com/AppActivation/Authorize";

/// The scope that makes the token endpoint hand out a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A PKCE pair (`S256`) and an anti-CSRF `state`, from the operating system's random source.
pub struct Pkce {
    /// 43 characters of base64url (32 random bytes): sent with the code exchange only.
    pub verifier: Secret,
    /// `BASE64URL(SHA256(verifier))`: sent in the authorize URL.
    pub challenge: String,
    /// Random; the redirect must carry it back unchanged.
    pub state: String,
}

impl Pkce {
    pub fn new() -> Result<Pkce, String> {
        let mut bytes = [0_u8; 48];
        getrandom::fill(&mut bytes)
            .map_err(|e| format!("the operating system's random source failed: {e}"))?;
        let verifier = URL_SAFE_NO_PAD.encode(&bytes[..32]);
        let state = URL_SAFE_NO_PAD.encode(&bytes[32..]);
        Ok(Pkce {
            challenge: challenge_of(&verifier),
            verifier: Secret::new(verifier),
            state,
        })
    }
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What goes into the authorize URL.
pub struct AuthorizeRequest<'a> {
    /// The authorize page, e.g. [`PAYCOR_AUTHORIZE_URL`].
    pub authorize_url: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// The app's scope (Paycor: the "Scope (Version) Identifier"); `offline_access` is added.
    pub scope: &'a str,
    /// Query parameters the page needs besides the OAuth ones (Paycor: `subscription-key`).
    pub extra: &'a [(&'a str, &'a str)],
    pub pkce: &'a Pkce,
}

/// The URL an admin opens to authorize the app. It holds no secret but the subscription key
/// (Paycor requires it there; it is not a credential on its own).
pub fn authorize_url(r: &AuthorizeRequest<'_>) -> Result<String, String> {
    let mut url = reqwest::Url::parse(r.authorize_url).map_err(|e| {
        format!(
            "authorize_url {:?} is not a valid URL: {e}",
            r.authorize_url
        )
    })?;
    let mut scope: Vec<&str> = r.scope.split_whitespace().collect();
    if !scope.contains(&OFFLINE_ACCESS) {
        scope.push(OFFLINE_ACCESS);
    }
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", r.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", r.redirect_uri)
            .append_pair("scope", &scope.join(" "));
        for (k, v) in r.extra {
            q.append_pair(k, v);
        }
        q.append_pair("code_challenge", &r.pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &r.pkce.state);
    }
    Ok(url.into())
}

/// The code from what the admin pasted: the whole redirect URL (its `state` must match) or the
/// bare code. An `error` in the redirect (the admin declined) is reported.
pub fn code_from_pasted(text: &str, state: &str) -> Result<Secret, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("nothing was pasted".to_owned());
    }
    if text.contains("://") || text.starts_with('?') || text.contains("code=") {
        let query = match reqwest::Url::parse(text) {
            Ok(u) => u.query().unwrap_or_default().to_owned(),
            Err(_) => text.trim_start_matches('?').to_owned(),
        };
        return code_from_query(&query, state);
    }
    if text.chars().any(char::is_whitespace) || text.len() > 2048 {
        return Err("that is not an authorization code (paste the code or the whole address the browser was sent to)".to_owned());
    }
    Ok(Secret::new(text))
}

/// The code from a redirect's query string, checking `state` (anti-CSRF: a redirect this run
/// did not start is refused).
pub fn code_from_query(query: &str, state: &str) -> Result<Secret, String> {
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in form_urlencoded_pairs(query) {
        match k.as_str() {
            "code" => code = Some(v),
            "state" => got_state = Some(v),
            "error" => error = Some(v),
            "error_description" => description = Some(v),
            _ => {}
        }
    }
    if let Some(e) = error {
        let e: String = e.chars().filter(|c| !c.is_control()).take(100).collect();
        let d: String = description
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        return Err(format!("the authorization was not granted: {e} {d}")
            .trim()
            .to_owned());
    }
    match got_state {
        Some(s) if s == state => {}
        Some(_) => {
            return Err(
                "the redirect's state does not match this authorization (an old or foreign \
                 redirect); start again"
                    .to_owned(),
            );
        }
        None => {
            return Err("the redirect carries no state; start again".to_owned());
        }
    }
    match code {
        Some(c) if !c.trim().is_empty() => Ok(Secret::new(c.trim())),
        _ => Err("the redirect carries no code".to_owned()),
    }
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    // reqwest::Url decodes query pairs (application/x-www-form-urlencoded).
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_pairs_are_random_and_well_formed() {
        let a = Pkce::new().unwrap();
        let b = Pkce::new().unwrap();
        assert_ne!(a.verifier.expose(), b.verifier.expose());
        assert_ne!(a.state, b.state);
        assert_eq!(
            a.verifier.expose().len(),
            43,
            "RFC 7636: 43 to 128 characters"
        );
        assert_eq!(a.challenge, challenge_of(a.verifier.expose()));
    }

    #[test]
    fn url_has_every_parameter_and_offline_access_once() {
        let pkce = Pkce::new().unwrap();
        let url = authorize_url(&AuthorizeRequest {
            authorize_url: PAYCOR_AUTHORIZE_URL,
            client_id: "cid",
            redirect_uri: "http://127.0.0.1:8765/callback",
            scope: "abc123",
            extra: &[("subscription-key", "k1")],
            pkce: &pkce,
        })
        .unwrap();
        let u = reqwest::Url::parse(&url).unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8765/callback");
        assert_eq!(q["scope"], "abc123 offline_access");
        assert_eq!(q["subscription-key"], "k1");
        assert_eq!(q["code_challenge"], pkce.challenge);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], pkce.state);
        assert!(!url.contains(pkce.verifier.expose()));
        let again = authorize_url(&AuthorizeRequest {
            scope: "abc123 offline_access",
            authorize_url: PAYCOR_AUTHORIZE_URL,
            client_id: "cid",
            redirect_uri: "x",
            extra: &[],
            pkce: &pkce,
        })
        .unwrap();
        assert_eq!(again.matches("offline_access").count(), 1);
    }

    #[test]
    fn pasted_codes_and_redirects() {
        assert_eq!(
            code_from_pasted(" ABC123 \n", "s").unwrap().expose(),
            "ABC123"
        );
        assert_eq!(
            code_from_pasted("https://example.com/cb?code=XYZ&state=s%2B1", "s+1")
                .unwrap()
                .expose(),
            "XYZ"
        );
        let wrong = code_from_pasted("https://example.com/cb?code=XYZ&state=other", "s");
        assert!(wrong.unwrap_err().contains("state does not match"));
        let declined = code_from_query("error=access_denied&state=s", "s");
        assert!(declined.unwrap_err().contains("access_denied"));
        assert!(code_from_pasted("", "s").is_err());
        assert!(code_from_pasted("two words", "s").is_err());
    }
}
