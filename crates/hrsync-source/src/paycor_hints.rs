//! What Paycor's refusals mean, in words: an expired or revoked pasted access token (401 with
//! an empty body) and the Data Access permission a 403 probably lacks. The REST engine
//! ([`crate::rest`]) meets the refusals and the Paycor preset ([`crate::paycor`]) names the
//! include blocks; both use this module, which uses neither.

use hrsync_model::Secret;

/// The `include` blocks of the employee list and of one employee, with the Data Access
/// permission each needs (list / one employee). `All` needs every one of them.
pub const INCLUDE_BLOCKS: [(&str, &str, &str); 4] = [
    (
        "EmploymentDates",
        "View Legal Entity Employees Employment Dates",
        "View Employee Employment Dates",
    ),
    (
        "Status",
        "View Legal Entity Employees Status",
        "View Employee Status",
    ),
    (
        "Position",
        "View Legal Entity Employees Position",
        "View Employee Position",
    ),
    (
        "WorkLocation",
        "View Legal Entity Employees Work Location",
        "View Employee Work Location",
    ),
];

/// Why a static (pasted) Paycor access token was refused (401 with an empty body). Live access
/// tokens last 30 minutes (`expires_in: 1800`), so a pasted one stops working half an hour
/// after it was copied. When the token is a JWT whose `exp` has passed, the message says when it
/// expired; otherwise it cannot be told from a revoked token, and the message says both.
pub fn static_token_refused(token: &Secret) -> String {
    let fix = "configure `oauth` so hrsync refreshes it (README \"Sources: Paycor\": \
               `hrsync oauth authorize` once)";
    match jwt_expiry(token.expose()) {
        Some(exp) if exp <= chrono_now_secs() => {
            let when = chrono::DateTime::from_timestamp(exp, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| exp.to_string());
            format!("the Paycor access token expired (at {when}); {fix}")
        }
        _ => format!(
            "the Paycor access token expired (a pasted access token lasts 30 minutes) or was \
             revoked; {fix}"
        ),
    }
}

fn chrono_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `exp` claim of a JWT (not verified: only to explain a refusal).
fn jwt_expiry(token: &str) -> Option<i64> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (_, claims, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("exp")?.as_i64()
}

/// What a 403 on `path` with `query` probably lacks: the Data Access permission(s) named as on
/// Paycor's Data Access screen, and what to do.
pub fn forbidden_hint(path: &str, query: &[(String, String)]) -> String {
    let p = path.trim_end_matches('/').to_ascii_lowercase();
    let blocks: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("include"))
        .map(|(_, v)| v.as_str())
        .collect();
    // (base permission of the call, whether blocks are the per-employee ones)
    let (base, per_employee) = if p.ends_with("/person") {
        (Some("View Employee Person"), true)
    } else if p.contains("/legalentities/") && p.ends_with("/employees") {
        (Some("View Legal Entity Employees"), false)
    } else if p.contains("/employees/") {
        (Some("View Employee Information"), true)
    } else {
        (None, false)
    };
    // The blocks first: the base permission is granted whenever any call of the kind worked.
    let mut perms: Vec<&str> = Vec::new();
    if base.is_some() {
        for b in &blocks {
            for (block, list, one) in &INCLUDE_BLOCKS {
                let name = if per_employee { *one } else { *list };
                if (b.eq_ignore_ascii_case("All") || b.eq_ignore_ascii_case(block))
                    && !perms.contains(&name)
                {
                    perms.push(name);
                }
            }
        }
    }
    perms.extend(base);
    let asked = if blocks.is_empty() {
        String::new()
    } else {
        format!(" with include={}", blocks.join(","))
    };
    if perms.is_empty() {
        return "the token lacks the Data Access this call needs (AppCreator → Data Access), or the legal entity is not activated for the app".into();
    }
    format!(
        "the token lacks a Data Access permission for {path}{asked}; probably missing: {} (grant it in AppCreator → Data Access and re-authorize, or set the integration's include to the blocks that are granted, e.g. include = [\"Status\"])",
        perms
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_refused_static_token_is_explained() {
        use base64::Engine as _;
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = |exp: i64| {
            Secret::new(format!(
                "{}.{}.sig",
                enc(r#"{"alg":"RS256"}"#),
                enc(&format!(r#"{{"exp":{exp}}}"#))
            ))
        };
        let expired = static_token_refused(&jwt(1_700_000_000));
        assert!(expired.starts_with("the Paycor access token expired (at 2023-11-14 22:13:20 UTC); configure `oauth` so hrsync refreshes it"), "{expired}");
        let opaque = static_token_refused(&Secret::new("opaque"));
        assert!(opaque.contains("expired (a pasted access token lasts 30 minutes) or was revoked; configure `oauth` so hrsync refreshes it"), "{opaque}");
        let live = static_token_refused(&jwt(i64::MAX / 2));
        assert_eq!(live, opaque);
    }

    #[test]
    fn a_403_names_the_data_access_permission_probably_missing() {
        let q = |v: &[&str]| {
            v.iter()
                .map(|b| ("include".to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        let m = forbidden_hint("/v1/legalentities/501123/employees", &q(&["All"]));
        assert!(
            m.contains("\"View Legal Entity Employees Work Location\""),
            "{m}"
        );
        assert!(m.contains("include = ["), "{m}");
        let m = forbidden_hint("/v1/legalentities/501123/employees", &q(&["Status"]));
        assert!(m.contains("\"View Legal Entity Employees Status\""), "{m}");
        assert!(!m.contains("Position"), "{m}");
        let m = forbidden_hint("/v1/employees/abc/person", &q(&["Email"]));
        assert!(m.contains("\"View Employee Person\""), "{m}");
        let m = forbidden_hint("/v1/employees/abc", &q(&["Position"]));
        assert!(m.contains("\"View Employee Position\""), "{m}");
    }
}
