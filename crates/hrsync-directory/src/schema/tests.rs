#![allow(clippy::unwrap_used)]

use super::*;
use hrsync_model::AttrName;

/// Captured from slapd 2.5.13 (Debian 12, schemas core, cosine, nis, inetorgperson): values of
/// `attributeTypes` and `objectClasses` of `cn=Subschema`.
const OPENLDAP_ATTRS: &[&str] = &[
    "( 2.5.4.0 NAME 'objectClass' DESC 'RFC4512: object classes of the entity' EQUALITY objectIdentifierMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.38 )",
    "( 1.3.6.1.1.16.4 NAME 'entryUUID' DESC 'UUID of the entry' EQUALITY UUIDMatch ORDERING UUIDOrderingMatch SYNTAX 1.3.6.1.1.16.1 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
    "( 2.5.4.49 NAME 'distinguishedName' DESC 'RFC4519: common supertype of DN attributes' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
    "( 2.5.4.41 NAME 'name' DESC 'RFC4519: common supertype of name attributes' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{32768} )",
    "( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'RFC4519: common name(s) for which the entity is known by' SUP name )",
    "( 0.9.2342.19200300.100.1.1 NAME ( 'uid' 'userid' ) DESC 'RFC4519: user identifier' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} )",
    "( 1.3.6.1.1.1.1.0 NAME 'uidNumber' DESC 'RFC2307: An integer uniquely identifying a user in an administrative domain' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
    "( 1.3.6.1.1.1.1.1 NAME 'gidNumber' DESC 'RFC2307: An integer uniquely identifying a group in an administrative domain' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
    "( 2.5.4.35 NAME 'userPassword' DESC 'RFC4519/2307: password of user' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40{128} )",
    "( 2.5.4.13 NAME 'description' DESC 'RFC4519: descriptive information' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{1024} )",
    "( 2.5.4.34 NAME 'seeAlso' DESC 'RFC4519: DN of related object' SUP distinguishedName )",
    "( 1.3.6.1.4.1.42.2.27.8.1.17 NAME 'pwdAccountLockedTime' DESC 'The time an user account was locked' EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE USAGE directoryOperation )",
    "( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) DESC 'RFC1274: RFC822 Mailbox' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )",
    "( 2.5.4.4 NAME ( 'sn' 'surname' ) DESC 'RFC2256: last (family) name(s) for which the entity is known by' SUP name )",
    "( 2.5.4.6 NAME ( 'c' 'countryName' ) DESC 'RFC4519: two-letter ISO-3166 country code' SUP name SYNTAX 1.3.6.1.4.1.1466.115.121.1.11 SINGLE-VALUE )",
    "( 2.5.4.12 NAME 'title' DESC 'RFC2256: title associated with the entity' SUP name )",
    "( 2.5.4.20 NAME 'telephoneNumber' DESC 'RFC2256: Telephone Number' EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50{32} )",
    "( 2.5.4.42 NAME ( 'givenName' 'gn' ) DESC 'RFC2256: first name(s) for which the entity is known by' SUP name )",
    "( 0.9.2342.19200300.100.1.10 NAME 'manager' DESC 'RFC1274: DN of manager' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
    "( 1.3.6.1.1.1.1.3 NAME 'homeDirectory' DESC 'The absolute path to the home directory' EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )",
    "( 2.16.840.1.113730.3.1.2 NAME 'departmentNumber' DESC 'RFC2798: identifies a department within an organization' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    "( 2.16.840.1.113730.3.1.241 NAME 'displayName' DESC 'RFC2798: preferred name to be used when displaying entries' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
    "( 2.16.840.1.113730.3.1.3 NAME 'employeeNumber' DESC 'RFC2798: numerically identifies an employee within an organization' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
];

const OPENLDAP_CLASSES: &[&str] = &[
    "( 2.5.6.0 NAME 'top' DESC 'top of the superclass chain' ABSTRACT MUST objectClass )",
    "( 1.3.6.1.4.1.1466.101.120.111 NAME 'extensibleObject' DESC 'RFC4512: extensible object' SUP top AUXILIARY )",
    "( 2.5.6.6 NAME 'person' DESC 'RFC2256: a person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ telephoneNumber $ seeAlso $ description ) )",
    "( 2.5.6.7 NAME 'organizationalPerson' DESC 'RFC2256: an organizational person' SUP person STRUCTURAL MAY ( title $ x121Address $ registeredAddress $ destinationIndicator $ preferredDeliveryMethod $ telexNumber $ teletexTerminalIdentifier $ telephoneNumber $ internationaliSDNNumber $ facsimileTelephoneNumber $ street $ postOfficeBox $ postalCode $ postalAddress $ physicalDeliveryOfficeName $ ou $ st $ l ) )",
    "( 1.3.6.1.1.1.2.0 NAME 'posixAccount' DESC 'Abstraction of an account with POSIX attributes' SUP top AUXILIARY MUST ( cn $ uid $ uidNumber $ gidNumber $ homeDirectory ) MAY ( userPassword $ loginShell $ gecos $ description ) )",
    "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' DESC 'RFC2798: Internet Organizational Person' SUP organizationalPerson STRUCTURAL MAY ( audio $ businessCategory $ carLicense $ departmentNumber $ displayName $ employeeNumber $ employeeType $ givenName $ homePhone $ homePostalAddress $ initials $ jpegPhoto $ labeledURI $ mail $ manager $ mobile $ o $ pager $ photo $ roomNumber $ secretary $ uid $ userCertificate $ x500uniqueIdentifier $ preferredLanguage $ userSMIMECertificate $ userPKCS12 ) )",
];

/// Active Directory's spelling (quoted syntax OIDs, `MUST (a $ b )` as Samba's
/// schema_description.c writes it), with the definitions and ranges of AD's default schema
/// for the attributes an HR mapping writes. Built from those sources, not captured from a DC.
const AD_ATTRS: &[&str] = &[
    "( 2.5.4.0 NAME 'objectClass' SYNTAX '1.3.6.1.4.1.1466.115.121.1.38' NO-USER-MODIFICATION )",
    "( 2.5.4.3 NAME 'cn' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 2.5.4.4 NAME 'sn' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 2.5.4.42 NAME 'givenName' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 2.5.4.12 NAME 'title' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 0.9.2342.19200300.100.1.3 NAME 'mail' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 1.2.840.113556.1.2.13 NAME 'displayName' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 1.2.840.113556.1.2.141 NAME 'department' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.35 NAME 'employeeID' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.656 NAME 'userPrincipalName' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
    "( 0.9.2342.19200300.100.1.10 NAME 'manager' SYNTAX '1.3.6.1.4.1.1466.115.121.1.12' SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.8 NAME 'userAccountControl' SYNTAX '1.3.6.1.4.1.1466.115.121.1.27' SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.96 NAME 'pwdLastSet' SYNTAX '1.2.840.113556.1.4.906' SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.1 NAME 'name' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE NO-USER-MODIFICATION )",
    "( 1.2.840.113556.1.4.2 NAME 'objectGUID' SYNTAX '1.3.6.1.4.1.1466.115.121.1.40' SINGLE-VALUE NO-USER-MODIFICATION )",
    "( 1.2.840.113556.1.4.782 NAME 'objectCategory' SYNTAX '1.3.6.1.4.1.1466.115.121.1.12' SINGLE-VALUE )",
    "( 1.2.840.113556.1.2.1 NAME 'instanceType' SYNTAX '1.3.6.1.4.1.1466.115.121.1.27' SINGLE-VALUE NO-USER-MODIFICATION )",
    "( 1.2.840.113556.1.2.281 NAME 'nTSecurityDescriptor' SYNTAX '1.2.840.113556.1.4.907' SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.146 NAME 'objectSid' SYNTAX '1.3.6.1.4.1.1466.115.121.1.40' SINGLE-VALUE NO-USER-MODIFICATION )",
    "( 1.3.6.1.1.1.1.0 NAME 'uidNumber' SYNTAX '1.3.6.1.4.1.1466.115.121.1.27' SINGLE-VALUE )",
];

const AD_CLASSES: &[&str] = &[
    "( 2.5.6.0 NAME 'top' ABSTRACT MUST (objectClass $ instanceType $ nTSecurityDescriptor $ objectCategory ) MAY (cn $ name $ objectGUID $ displayName ) )",
    "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST (objectClass $ instanceType $ nTSecurityDescriptor $ objectCategory $ cn ) MAY (sn $ title ) )",
    "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL MAY (givenName $ department $ manager ) )",
    "( 1.2.840.113556.1.5.9 NAME 'user' SUP organizationalPerson STRUCTURAL MAY (userAccountControl $ pwdLastSet $ employeeID $ userPrincipalName ) )",
    "( 1.2.840.113556.1.5.6 NAME 'securityPrincipal' SUP top AUXILIARY MUST (objectSid $ sAMAccountName ) MAY (sAMAccountType ) )",
    "( 1.2.840.113556.1.3.46 NAME 'mailRecipient' SUP top AUXILIARY MUST (cn ) MAY (mail ) )",
];

const AD_RULES: &[&str] = &[
    "( 1.2.840.113556.1.5.9 NAME 'user' AUX ( mailRecipient $ securityPrincipal ) MUST (objectSid $ sAMAccountName ) MAY (mail $ sAMAccountType ) )",
];

fn openldap() -> Schema {
    Schema::parse(Dialect::Openldap, OPENLDAP_ATTRS, OPENLDAP_CLASSES)
        .with_object_classes(vec!["inetOrgPerson".into()])
}

fn ad() -> Schema {
    let r = |l, u| Range {
        lower: Some(l),
        upper: Some(u),
    };
    Schema::parse(Dialect::ActiveDirectory, AD_ATTRS, AD_CLASSES)
        .with_content_rules(AD_RULES)
        .with_ranges([
            ("cn".to_string(), r(1, 64)),
            ("sn".to_string(), r(1, 64)),
            ("givenName".to_string(), r(1, 64)),
            ("title".to_string(), r(1, 128)),
            ("mail".to_string(), r(0, 256)),
            ("displayName".to_string(), r(0, 256)),
            ("department".to_string(), r(1, 64)),
            ("employeeID".to_string(), r(0, 16)),
            ("sAMAccountName".to_string(), r(0, 256)),
            ("userPrincipalName".to_string(), r(0, 1024)),
        ])
        .with_object_classes(vec!["user".into()])
}

fn entry(key: &str, dn: &str, attrs: &[(&str, &str)]) -> DesiredEntry {
    let mut m = AttrMap::new();
    for (a, v) in attrs {
        m.entry_or_default(AttrName::new(*a)).push(v.to_string());
    }
    DesiredEntry {
        key: key.into(),
        dn: dn.into(),
        attrs: m,
        leaver: false,
        leaver_reason: None,
        starts: None,
    }
}

fn person(extra: &[(&str, &str)]) -> DesiredEntry {
    let mut a = vec![
        ("uid", "zoe.1"),
        ("cn", "Zoë Example"),
        ("sn", "Example"),
        ("employeeNumber", "E1"),
        ("memberOf", "cn=staff,ou=groups,dc=x"),
    ];
    a.extend_from_slice(extra);
    entry("E1", "uid=zoe.1,ou=people,dc=x", &a)
}

#[test]
fn reads_openldap_definitions_with_inheritance() {
    let s = openldap();
    assert_eq!(s.unparsed(), 0);
    assert_eq!(
        s.syntax("cn"),
        Some(("1.3.6.1.4.1.1466.115.121.1.15", Some(32768)))
    );
    assert_eq!(
        s.syntax("commonName"),
        Some(("1.3.6.1.4.1.1466.115.121.1.15", Some(32768)))
    );
    assert_eq!(
        s.syntax("MAIL"),
        Some(("1.3.6.1.4.1.1466.115.121.1.26", Some(256)))
    );
    // Its own syntax wins over the supertype's.
    assert_eq!(s.syntax("c"), Some(("1.3.6.1.4.1.1466.115.121.1.11", None)));
    assert!(s.attribute("displayName").unwrap().single_value);
    assert!(s.attribute("entryUUID").unwrap().no_user_modification);
    assert_eq!(
        s.object_class("inetorgperson").unwrap().sup,
        ["organizationalPerson"]
    );
}

#[test]
fn a_valid_openldap_entry_has_no_problem() {
    let s = openldap();
    let d = person(&[
        ("mail", "zoe.1@example.test"),
        ("telephoneNumber", "+49 (0)30 1234"),
        ("manager", "uid=boss,ou=people,dc=x"),
        ("displayName", "Zoë"),
    ]);
    assert_eq!(s.check_entry(&d), Vec::<Finding>::new());
    // A leaver is only disabled: nothing to check.
    let mut l = person(&[("mail", "zoë@x")]);
    l.leaver = true;
    assert!(s.check_entry(&l).is_empty());
}

#[test]
fn what_slapd_refuses_is_a_finding_on_the_record() {
    let s = openldap();
    let d = person(&[
        ("mail", "zoë.1@exämple.test"),
        ("telephoneNumber", "call me!"),
        ("manager", "not a dn"),
        ("displayName", "A"),
        ("displayname", "B"),
        ("mial", "typo@example.test"),
        ("uidNumber", "12"),
        ("entryUUID", "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
    ]);
    let f = s.check_entry(&d);
    let by = |attr: &str| {
        f.iter()
            .filter(|x| x.field.as_deref() == Some(attr))
            .collect::<Vec<_>>()
    };
    let mail = by("mail");
    assert_eq!(mail.len(), 1, "{f:#?}");
    assert_eq!(mail[0].severity, "error");
    assert_eq!(mail[0].subject, "E1");
    assert!(
        mail[0].message.contains("IA5 String"),
        "{}",
        mail[0].message
    );
    assert!(
        mail[0].message.contains("'ë' is not ASCII"),
        "{}",
        mail[0].message
    );
    assert!(mail[0].message.contains("|ascii"), "{}", mail[0].message);
    assert!(by("telephoneNumber")[0].message.contains("'!'"));
    assert!(by("manager")[0].message.contains("not a DN"));
    // The two spellings are one attribute with two values.
    assert!(by("displayName")[0].message.contains("SINGLE-VALUE"));
    assert!(by("mial")[0].message.contains("not an attribute type"));
    assert!(
        by("uidNumber")[0]
            .message
            .contains("do not allow uidNumber")
    );
    assert!(by("entryUUID")[0].message.contains("NO-USER-MODIFICATION"));
    // memberOf is the planner's group list, not an attribute.
    assert!(by("memberOf").is_empty());
    assert_eq!(f.len(), 7, "{f:#?}");
}

#[test]
fn missing_required_attributes_and_unknown_classes() {
    let s = openldap();
    let d = entry(
        "E2",
        "uid=e2,ou=people,dc=x",
        &[("uid", "e2"), ("cn", "E Two")],
    );
    let f = s.check_entry(&d);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].field.as_deref(), Some("sn"));
    assert!(f[0].message.contains("required"));
    // The RDN attribute is filled from the DN by the server.
    let d = entry("E3", "cn=E Three,ou=people,dc=x", &[("sn", "Three")]);
    assert!(s.check_entry(&d).is_empty(), "{:#?}", s.check_entry(&d));
    let p = s.check(
        "uid=x,dc=x",
        &["inetOrgPerson".into(), "posixAcount".into()],
        &AttrMap::new(),
    );
    assert!(p.iter().any(|p| p.kind == ProblemKind::UnknownObjectClass
        && p.message.contains("posixAcount")));
    // extensibleObject allows any attribute.
    let p = s.check(
        "uid=x,dc=x",
        &["inetOrgPerson".into(), "extensibleObject".into()],
        &[(AttrName::new("uidNumber"), vec!["1".into()])]
            .into_iter()
            .collect(),
    );
    assert!(
        !p.iter().any(|p| p.kind == ProblemKind::NotAllowed),
        "{p:#?}"
    );
}

#[test]
fn the_length_bound_is_a_warning_the_rdn_limit_an_error() {
    let s = openldap();
    let long_phone = "1".repeat(33);
    let f = s.check_entry(&person(&[("telephoneNumber", &long_phone)]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, "warning");
    assert!(f[0].message.contains("{32}"), "{}", f[0].message);
    // An 11 KB cn used as the RDN: refused by slapd.
    let cn = "c".repeat(11_000);
    let d = entry(
        "E4",
        &format!("cn={cn},ou=people,dc=x"),
        &[("cn", cn.as_str()), ("sn", "x")],
    );
    let f = s.check_entry(&d);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, "error");
    assert_eq!(f[0].field.as_deref(), Some("cn"));
    assert!(
        f[0].message.contains("too long for OpenLDAP"),
        "{}",
        f[0].message
    );
    assert!(
        f[0].message.contains("(11000 characters)"),
        "{}",
        f[0].message
    );
    // The measured edge: 242 ASCII characters fit, 243 do not.
    let ok = "a".repeat(242);
    assert_eq!(openldap_rdn_bytes("cn", "cn", &ok), 490);
    assert_eq!(openldap_rdn_bytes("cn", "cn", &"a".repeat(243)), 492);
    // Commas take three bytes each (\2C), in both forms: 60 fit, 61 do not (measured).
    assert!(openldap_rdn_bytes("cn", "cn", &"k,".repeat(60)) <= OPENLDAP_MAX_RDN_BYTES);
    assert!(openldap_rdn_bytes("cn", "cn", &"k,".repeat(61)) > OPENLDAP_MAX_RDN_BYTES);
    // Runs of spaces count once in the normalized form: 96 fit, 97 do not (measured).
    let spaced = |k: usize| format!("{}h", "h  ".repeat(k));
    assert!(openldap_rdn_bytes("cn", "cn", &spaced(96)) <= OPENLDAP_MAX_RDN_BYTES);
    assert!(openldap_rdn_bytes("cn", "cn", &spaced(97)) > OPENLDAP_MAX_RDN_BYTES);
    // Two-byte characters: 120 fit in a uid, 121 do not (measured).
    assert!(openldap_rdn_bytes("uid", "uid", &"ä".repeat(120)) <= OPENLDAP_MAX_RDN_BYTES);
    assert!(openldap_rdn_bytes("uid", "uid", &"ä".repeat(121)) > OPENLDAP_MAX_RDN_BYTES);
}

#[test]
fn ad_ranges_rdn_and_auxiliary_classes() {
    let s = ad();
    let ok = entry(
        "E5",
        "CN=Zoë Example,OU=People,DC=x",
        &[
            ("cn", "Zoë Example"),
            ("sn", "Example"),
            ("sAMAccountName", "zoe.1"),
            ("mail", "zoë.1@exämple.test"),
            ("employeeID", "E5"),
            ("userPrincipalName", "zoe.1@x.test"),
            ("manager", "CN=Boss,OU=People,DC=x"),
        ],
    );
    // AD's mail is a Unicode string: non-ASCII is fine. sAMAccountName comes from the
    // securityPrincipal auxiliary class (dITContentRules).
    assert_eq!(s.check_entry(&ok), Vec::<Finding>::new());
    let cn = "x".repeat(65);
    let bad = entry(
        "E6",
        &format!("CN={cn},OU=People,DC=x"),
        &[
            ("cn", cn.as_str()),
            ("sn", "Example"),
            ("employeeID", "12345678901234567"),
            ("sAMAccountName", "e6"),
            ("uid", "e6"),
            ("userAccountControl", "0512"),
            ("uidNumber", "1000"),
        ],
    );
    let f = s.check_entry(&bad);
    let by = |attr: &str| {
        f.iter()
            .filter(|x| x.field.as_deref() == Some(attr))
            .count()
    };
    assert_eq!(by("cn"), 1, "{f:#?}");
    assert!(f.iter().any(|x| x.message.contains("more than the 64")));
    assert!(f.iter().any(|x| x.message.contains("more than the 16")));
    assert_eq!(by("uid"), 1, "{f:#?}");
    assert_eq!(by("userAccountControl"), 1, "{f:#?}");
    // Not allowed by user's classes and content rule: a warning on AD.
    let uid_number: Vec<_> = f
        .iter()
        .filter(|x| x.field.as_deref() == Some("uidNumber"))
        .collect();
    assert_eq!(uid_number.len(), 1, "{f:#?}");
    assert_eq!(uid_number[0].severity, "warning");
    assert_eq!(f.len(), 5, "{f:#?}");
    // Without cn in the attributes the RDN limit still applies.
    let f = s.check_entry(&entry(
        "E7",
        &format!("CN={cn},OU=People,DC=x"),
        &[("sn", "x"), ("sAMAccountName", "e7")],
    ));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].message.contains("Active Directory allows 64"),
        "{}",
        f[0].message
    );
    // AD counts UTF-16 code units: 32 emoji are 64 units and fit; 33 do not.
    let emoji = |n: usize| "😀".repeat(n);
    assert!(
        s.check_entry(&entry(
            "E8",
            &format!("CN={},DC=x", emoji(32)),
            &[("cn", &emoji(32)), ("sn", "x"), ("sAMAccountName", "e8")]
        ))
        .is_empty()
    );
    assert_eq!(
        s.check_entry(&entry(
            "E9",
            &format!("CN={},DC=x", emoji(33)),
            &[("cn", &emoji(33)), ("sn", "x"), ("sAMAccountName", "e9")]
        ))
        .len(),
        1
    );
}

#[test]
fn a_mapping_is_checked_without_records() {
    let s = openldap();
    let p = s.check_mapping(
        &["inetOrgPerson".into()],
        "uid",
        &["uid".into(), "cn".into(), "mail".into(), "emial".into()],
    );
    let kinds: Vec<_> = p.iter().map(|p| (p.attr.as_deref(), p.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (Some("emial"), ProblemKind::UnknownAttribute),
            (Some("sn"), ProblemKind::MissingRequired)
        ]
    );
}

#[test]
fn rdn_bytes_of_plain_values_are_those_of_the_normalized_form() {
    for v in [
        "emp00017",
        "Zoë O'Brien",
        "a  b",
        " lead",
        "trail ",
        "tab\there",
        "vt\u{b}here",
        "#hash, and+more=\"x\"",
        "UPPER lower",
        "",
    ] {
        assert_eq!(
            openldap_rdn_bytes("cn", "commonName", v),
            super::openldap_rdn_bytes_normalizing("cn", "commonName", v),
            "{v:?}"
        );
    }
}
