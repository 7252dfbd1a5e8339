//! LDAP result codes by name, so a failure reads `noSuchObject (32): uid=…` instead of a bare
//! number. The table covers RFC 4511, the codes of the LDAP extensions a server may return
//! (LCUP RFC 3928, cancel RFC 3909, assertion RFC 4528, proxied authorization RFC 4370, content
//! synchronization RFC 4533, sort/VLV, OpenLDAP's no-op, chaining and transaction codes) and the
//! client-side codes of the old C API (81–97), which some tools print.

/// The result code's name as the RFCs spell it (`noSuchObject`), `None` for an unassigned code.
pub fn name(rc: u32) -> Option<&'static str> {
    Some(match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        5 => "compareFalse",
        6 => "compareTrue",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        9 => "partialResults",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        14 => "saslBindInProgress",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        33 => "aliasProblem",
        34 => "invalidDNSyntax",
        35 => "isLeaf",
        36 => "aliasDereferencingProblem",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        60 => "sortControlMissing",
        61 => "offsetRangeError",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        70 => "resultsTooLarge",
        71 => "affectsMultipleDSAs",
        76 => "virtualListViewError",
        80 => "other",
        // Client-side codes of the LDAP C API (never sent by a server).
        81 => "serverDown",
        82 => "localError",
        83 => "encodingError",
        84 => "decodingError",
        85 => "timeout",
        86 => "authUnknown",
        87 => "filterError",
        88 => "userCanceled",
        89 => "paramError",
        90 => "noMemory",
        91 => "connectError",
        92 => "notSupported",
        93 => "controlNotFound",
        94 => "noResultsReturned",
        95 => "moreResultsToReturn",
        96 => "clientLoop",
        97 => "referralLimitExceeded",
        // Extensions: LCUP (RFC 3928), cancel (RFC 3909), assertion (RFC 4528), proxied
        // authorization (RFC 4370), content synchronization (RFC 4533), OpenLDAP's private ones.
        113 => "lcupResourcesExhausted",
        114 => "lcupSecurityViolation",
        115 => "lcupInvalidData",
        116 => "lcupUnsupportedScheme",
        117 => "lcupReloadRequired",
        118 => "canceled",
        119 => "noSuchOperation",
        120 => "tooLate",
        121 => "cannotCancel",
        122 => "assertionFailed",
        123 => "authorizationDenied",
        4096 => "e-syncRefreshRequired",
        0x4100 => "x-syncRefreshRequired",
        0x410e => "x-noOperation",
        0x410f => "x-assertionFailed",
        0x4110 => "x-noReferralsFound",
        0x4111 => "x-cannotChain",
        0x4112 => "x-invalidReference",
        0x4120 => "x-txnSpecifyOkay",
        0x4121 => "x-txnIdInvalid",
        _ => return None,
    })
}

/// `noSuchObject (32)`; `result code 12345` for an unassigned code.
pub fn describe(rc: u32) -> String {
    match name(rc) {
        Some(n) => format!("{n} ({rc})"),
        None => format!("result code {rc}"),
    }
}

/// What a failed operation on `dn` says: `noSuchObject (32): uid=x,ou=gone,dc=example,dc=com`,
/// then the server's diagnostic text when it sent one, and for a missing entry the nearest one
/// that exists (the server's matched DN).
pub fn failure(rc: u32, dn: &str, text: &str, matched: &str) -> String {
    let mut s = describe(rc);
    if !dn.is_empty() {
        s.push_str(": ");
        s.push_str(dn);
    }
    let text = text.trim();
    if !text.is_empty() {
        s.push_str(": ");
        s.push_str(text);
        if let Some(hint) = ad_hint(text) {
            s.push_str(&format!(" ({hint})"));
        }
    }
    let matched = matched.trim();
    if rc == 32 && !matched.is_empty() && !matched.eq_ignore_ascii_case(dn) {
        s.push_str(&format!(" (the nearest existing entry is {matched})"));
    }
    s
}

/// The meaning of Active Directory's `data NNN` sub-code in a bind or password failure
/// (`80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563`).
pub fn ad_hint(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("data ")?;
    let code: String = lower[at + 5..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    Some(match code.as_str() {
        "525" => "user not found",
        "52e" => "wrong user name or password",
        "530" => "logon not permitted at this time",
        "531" => "logon not permitted from this workstation",
        "532" => "password expired",
        "533" => "account disabled",
        "568" => "too many security identifiers",
        "701" => "account expired",
        "773" => "the user must change the password at the next logon",
        "775" => "account locked out",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rfc_4511_code_has_its_name() {
        // RFC 4511 appendix A, in order.
        let rfc: &[(u32, &str)] = &[
            (0, "success"),
            (1, "operationsError"),
            (2, "protocolError"),
            (3, "timeLimitExceeded"),
            (4, "sizeLimitExceeded"),
            (5, "compareFalse"),
            (6, "compareTrue"),
            (7, "authMethodNotSupported"),
            (8, "strongerAuthRequired"),
            (10, "referral"),
            (11, "adminLimitExceeded"),
            (12, "unavailableCriticalExtension"),
            (13, "confidentialityRequired"),
            (14, "saslBindInProgress"),
            (16, "noSuchAttribute"),
            (17, "undefinedAttributeType"),
            (18, "inappropriateMatching"),
            (19, "constraintViolation"),
            (20, "attributeOrValueExists"),
            (21, "invalidAttributeSyntax"),
            (32, "noSuchObject"),
            (33, "aliasProblem"),
            (34, "invalidDNSyntax"),
            (36, "aliasDereferencingProblem"),
            (48, "inappropriateAuthentication"),
            (49, "invalidCredentials"),
            (50, "insufficientAccessRights"),
            (51, "busy"),
            (52, "unavailable"),
            (53, "unwillingToPerform"),
            (54, "loopDetect"),
            (64, "namingViolation"),
            (65, "objectClassViolation"),
            (66, "notAllowedOnNonLeaf"),
            (67, "notAllowedOnRDN"),
            (68, "entryAlreadyExists"),
            (69, "objectClassModsProhibited"),
            (71, "affectsMultipleDSAs"),
            (80, "other"),
        ];
        for (rc, n) in rfc {
            assert_eq!(name(*rc), Some(*n), "{rc}");
        }
        assert_eq!(name(118), Some("canceled"));
        assert_eq!(name(122), Some("assertionFailed"));
        assert_eq!(name(4096), Some("e-syncRefreshRequired"));
        assert_eq!(name(15), None);
        assert_eq!(describe(49), "invalidCredentials (49)");
        assert_eq!(describe(15), "result code 15");
    }

    #[test]
    fn failures_carry_dn_text_and_matched() {
        assert_eq!(
            failure(32, "uid=a,ou=gone,dc=x", "", "dc=x"),
            "noSuchObject (32): uid=a,ou=gone,dc=x (the nearest existing entry is dc=x)"
        );
        assert_eq!(
            failure(21, "uid=a,dc=x", "mail: value #0 invalid per syntax\n", ""),
            "invalidAttributeSyntax (21): uid=a,dc=x: mail: value #0 invalid per syntax"
        );
        assert_eq!(
            failure(68, "uid=a,dc=x", " ", ""),
            "entryAlreadyExists (68): uid=a,dc=x"
        );
        assert_eq!(
            failure(
                49,
                "CN=svc,DC=x",
                "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563",
                ""
            ),
            "invalidCredentials (49): CN=svc,DC=x: 80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563 (wrong user name or password)"
        );
        assert_eq!(
            ad_hint("... data 773, v4563"),
            Some("the user must change the password at the next logon")
        );
        assert_eq!(ad_hint("no data here"), None);
    }
}
