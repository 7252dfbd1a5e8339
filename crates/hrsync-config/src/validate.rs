//! The checks a file passes before it is used: references, names, formats, presets.

use super::raw::RawAttr;
use super::{Config, ConfigError};
use hrsync_directory::Dialect;

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_service()?;
        self.validate_server()?;
        self.validate_notify()?;
        self.validate_plans()?;
        self.validate_actions()?;
        let r = &self.raw;
        let mut names = std::collections::BTreeSet::new();
        for (i, it) in r.integrations.iter().enumerate() {
            let key = format!("integration[{i}]");
            if !names.insert(it.name.as_str()) {
                return Err(self.invalid(
                    format!("{key}.name"),
                    format!("integration {:?} is defined twice", it.name),
                ));
            }
            match it.kind.as_str() {
                "icehrm" => {
                    let url = it.base_url.as_deref().unwrap_or_default();
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(self.invalid(
                            format!("{key}.base_url"),
                            "set the API base URL; it must start with http:// or https://",
                        ));
                    }
                    if it.token.is_none() {
                        return Err(self.invalid(
                            format!("{key}.token"),
                            "set token = { env = \"VAR\" } or { file = \"path\" }",
                        ));
                    }
                }
                "paycor" => {
                    let url = it.base_url.as_deref().unwrap_or_default();
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(self.invalid(
                            format!("{key}.base_url"),
                            "set the API base, e.g. \"https://apis.paycor.com\"",
                        ));
                    }
                    if it.token.is_none() && it.oauth.is_none() {
                        return Err(self.invalid(
                            format!("{key}.oauth"),
                            "Paycor needs a bearer token: configure [integration.oauth] (token_url, client_id, client_secret, scope, redirect_uri; then `hrsync oauth authorize` once), see the README \"Sources: Paycor\" (a pasted token = { env = \"VAR\" } expires after 30 minutes)",
                        ));
                    }
                    if it.subscription_key.is_none() {
                        return Err(self.invalid(
                            format!("{key}.subscription_key"),
                            "Paycor needs both the bearer token and the subscription key: set it to { env = \"VAR\" } or { file = \"path\" }",
                        ));
                    }
                    if it.legal_entity_id.is_none() {
                        return Err(self.invalid(
                            format!("{key}.legal_entity_id"),
                            "set the Paycor legal entity (client) id, e.g. legal_entity_id = 501123",
                        ));
                    }
                    if let Some(include) = &it.include {
                        let known: Vec<&str> = std::iter::once("All")
                            .chain(hrsync_source::paycor::INCLUDE_BLOCKS.iter().map(|b| b.0))
                            .collect();
                        if let Some(b) = include
                            .iter()
                            .find(|b| !known.iter().any(|k| k.eq_ignore_ascii_case(b)))
                        {
                            return Err(self.invalid(
                                format!("{key}.include"),
                                format!("{b:?} is not an include block of Paycor's employee list; choose from {known:?}"),
                            ));
                        }
                        if !include.iter().any(|b| {
                            b.eq_ignore_ascii_case("All") || b.eq_ignore_ascii_case("Status")
                        }) {
                            return Err(self.invalid(
                                format!("{key}.include"),
                                "include must contain \"Status\" (or \"All\"): leavers are read from statusData.status; without it nobody would ever leave",
                            ));
                        }
                    }
                }
                "rest" => {
                    let url = it.base_url.as_deref().unwrap_or_default();
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(self.invalid(
                            format!("{key}.base_url"),
                            "set the API base URL; it must start with http:// or https://",
                        ));
                    }
                    if it.token.is_none() && it.oauth.is_none() && it.api_key.is_none() {
                        return Err(self.invalid(
                            format!("{key}.token"),
                            "set token = { env = \"VAR\" } (bearer), oauth = { … } or api_key = { env = \"VAR\" }",
                        ));
                    }
                    if it.endpoints.is_empty() {
                        return Err(self.invalid(
                            format!("{key}.endpoint"),
                            "define at least one [[integration.endpoint]] with name and path",
                        ));
                    }
                }
                "csv" => {
                    if !it.endpoints.is_empty() {
                        return Err(self.invalid(
                            format!("{key}.endpoint"),
                            "a csv integration has no HTTP endpoints",
                        ));
                    }
                    if it.path.is_none() {
                        return Err(
                            self.invalid(format!("{key}.path"), "set path = \"export.csv\"")
                        );
                    }
                    if it
                        .delimiter
                        .as_deref()
                        .is_some_and(|d| d.len() != 1 && d != "\\t")
                    {
                        return Err(self.invalid(
                            format!("{key}.delimiter"),
                            "must be one ASCII character, e.g. \",\" or \";\" (\"\\t\" for tab)",
                        ));
                    }
                    if let Some(e) = &it.encoding
                        && !matches!(
                            e.to_lowercase().as_str(),
                            "utf-8" | "utf8" | "latin-1" | "latin1" | "iso-8859-1"
                        )
                    {
                        return Err(self.invalid(
                            format!("{key}.encoding"),
                            format!("unknown encoding {e:?}; supported: \"utf-8\", \"latin-1\""),
                        ));
                    }
                }
                other => {
                    return Err(self.invalid(
                        format!("{key}.kind"),
                        format!(
                            "unknown kind {other:?}; supported: \"icehrm\", \"paycor\", \"rest\", \"csv\""
                        ),
                    ));
                }
            }
            if it.rate_limit_per_minute == Some(0) {
                return Err(self.invalid(
                    format!("{key}.rate_limit_per_minute"),
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
            self.endpoints(&key, it)?;
            if it.page_size == 0 || it.page_size > 10_000 {
                return Err(self.invalid(format!("{key}.page_size"), "must be between 1 and 10000"));
            }
            if it.max_page_mb == 0 || it.max_page_mb > 1_048_576 {
                return Err(self.invalid(
                    format!("{key}.max_page_mb"),
                    "must be between 1 and 1048576 (MB of one page)",
                ));
            }
        }
        let d = &r.directory;
        if !(d.url.starts_with("ldap://")
            || d.url.starts_with("ldaps://")
            || d.url.starts_with("ldapi://"))
        {
            return Err(self.invalid(
                "directory.url",
                "must start with ldap://, ldaps:// or ldapi://",
            ));
        }
        if let Some(ca) = &d.ca_cert {
            let path = self.base_dir().join(ca);
            if !path.is_file() {
                return Err(self.invalid(
                    "directory.ca_cert",
                    format!(
                        "{} is not a readable file; point ca_cert at the PEM file of the CA that signed the directory's certificate",
                        path.display()
                    ),
                ));
            }
        }
        if d.starttls && d.url.starts_with("ldaps://") {
            return Err(self.invalid(
                "directory.starttls",
                "StartTLS is for ldap:// URLs; ldaps:// is already TLS",
            ));
        }
        for (k, v) in [
            ("directory.base_dn", &d.base_dn),
            ("directory.users_ou", &d.users_ou),
            ("directory.bind_dn", &d.bind_dn),
        ] {
            if let Err(e) = hrsync_model::dn::Dn::parse(v) {
                return Err(self.invalid(k, e.to_string()));
            }
        }
        if !hrsync_model::dn::same(&d.users_ou, &d.base_dn)
            && !d
                .users_ou
                .to_lowercase()
                .ends_with(&format!(",{}", d.base_dn.to_lowercase()))
        {
            return Err(self.invalid(
                "directory.users_ou",
                format!("must be under base_dn {:?}", d.base_dn),
            ));
        }
        if d.kind == Dialect::ActiveDirectory {
            if !(d.url.starts_with("ldaps://") || d.starttls) {
                return Err(self.invalid(
                    "directory.url",
                    "Active Directory takes passwords only over TLS: use ldaps:// or starttls = true",
                ));
            }
            match &d.passwords {
                None => {
                    return Err(self.invalid(
                        "directory.passwords",
                        "Active Directory accounts are created with an initial password: set [directory.passwords] file = \"/var/lib/hrsync/initial-passwords.jsonl\"",
                    ));
                }
                Some(p) => {
                    if let Some(pol) = &p.policy
                        && let Err(e) = pol.validate()
                    {
                        return Err(self.invalid("directory.passwords.policy", e));
                    }
                }
            }
        }
        if d.object_classes().is_empty() {
            return Err(self.invalid(
                "directory.object_classes",
                "name at least one object class, e.g. [\"inetOrgPerson\"]",
            ));
        }
        for name in [&d.key_attribute()] {
            if !valid_attr(name) {
                return Err(self.invalid(
                    "directory.key_attribute",
                    format!("{name:?} is not an attribute name"),
                ));
            }
        }
        if r.lifecycle.leaver_action != "disable" {
            return Err(self.invalid(
                "lifecycle.leaver_action",
                format!(
                    "unsupported {:?}; supported: \"disable\"",
                    r.lifecycle.leaver_action
                ),
            ));
        }
        if let Some(ou) = &r.lifecycle.disabled_ou {
            let under = ou
                .to_lowercase()
                .ends_with(&format!(",{}", r.directory.base_dn.to_lowercase()));
            if hrsync_model::dn::Dn::parse(ou).is_err() || !under {
                return Err(self.invalid(
                    "lifecycle.disabled_ou",
                    format!("must be a DN under directory.base_dn {:?} (so disabled accounts stay in view)", r.directory.base_dn),
                ));
            }
        }
        if r.lifecycle.delete_after_days == Some(0) {
            return Err(self.invalid(
                "lifecycle.delete_after_days",
                "0 would delete at once; use at least 1 (or leave it out to never delete)",
            ));
        }
        if r.lifecycle.missing_confirmations == 0 {
            return Err(self.invalid(
                "lifecycle.missing_confirmations",
                "use at least 1 (1 = act on the first complete fetch that misses a person; 2, the default, waits for the next one)",
            ));
        }
        if !matches!(r.lifecycle.leaver_groups.as_str(), "keep" | "remove") {
            return Err(self.invalid("lifecycle.leaver_groups", "\"keep\" or \"remove\""));
        }
        for (i, m) in r.mappings.iter().enumerate() {
            for (j, g) in m.groups.iter().enumerate() {
                let key = format!("mapping[{i}] ({}).group[{j}]", m.name);
                match (&g.dn, &g.cn, &g.under) {
                    (Some(d), None, None) => {
                        if let Err(e) = hrsync_model::dn::Dn::parse(d) {
                            return Err(self.invalid(format!("{key}.dn"), e.to_string()));
                        }
                    }
                    (None, Some(_), Some(u)) => {
                        if let Err(e) = hrsync_model::dn::Dn::parse(u) {
                            return Err(self.invalid(format!("{key}.under"), e.to_string()));
                        }
                    }
                    _ => {
                        return Err(self.invalid(
                            key,
                            "set either dn = \"CN=…\" or cn = \"{department.display} Team\" with under = \"OU=Groups,…\"",
                        ));
                    }
                }
            }
        }
        if !(0.0..=100.0).contains(&r.lifecycle.max_record_drop_percent) {
            return Err(self.invalid(
                "lifecycle.max_record_drop_percent",
                "must be between 0 and 100",
            ));
        }
        // With [server.auth] the console and the API add mappings: a configuration may start
        // with the directory and the daemon only.
        if r.mappings.is_empty() && r.serve.auth.is_none() {
            return Err(self.invalid(
                "mapping",
                "define at least one [[mapping]] (or a [server.auth] section, to add them from the web console or the API)",
            ));
        }
        let mut mnames = std::collections::BTreeSet::new();
        for (i, m) in r.mappings.iter().enumerate() {
            let key = format!("mapping[{i}] ({})", m.name);
            if !mnames.insert(m.name.as_str()) {
                return Err(self.invalid(format!("{key}.name"), "mapping name is used twice"));
            }
            let Some(it) = r.integrations.iter().find(|x| x.name == m.integration) else {
                let known: Vec<&str> = r.integrations.iter().map(|x| x.name.as_str()).collect();
                return Err(self.invalid(
                    format!("{key}.integration"),
                    format!(
                        "no [[integration]] named {:?}; defined: {known:?}",
                        m.integration
                    ),
                ));
            };
            let (lists, fan_outs) = self.endpoint_names(it);
            let primary = self.primary_endpoint(it, m.endpoint.as_deref());
            if !lists.contains(&primary) {
                return Err(self.invalid(
                    format!("{key}.endpoint"),
                    if fan_outs.contains(&primary) {
                        format!("{primary:?} is a fan-out endpoint (for_each); a mapping reads a list endpoint: {lists:?}")
                    } else {
                        format!("integration {:?} has no endpoint {primary:?}; it offers {lists:?}", it.name)
                    },
                ));
            }
            let mut joined = std::collections::BTreeSet::new();
            for (j, join) in m.join.iter().enumerate() {
                let name = join.endpoint().to_string();
                let jkey = format!("{key}.join[{j}]");
                if it.kind == "csv" {
                    return Err(self.invalid(jkey, "a csv integration has nothing to join"));
                }
                if name == primary || !joined.insert(name.clone()) {
                    return Err(self.invalid(
                        jkey,
                        format!("{name:?} is joined twice or is the mapping's own endpoint"),
                    ));
                }
                let eps = self.endpoints(&format!("integration[{}]", m.integration), it)?;
                if let Some(e) = eps.iter().find(|e| e.name == name) {
                    let t = hrsync_source::rest::LAST_RUN_TIME;
                    if e.url.uses(t)
                        || e.query.iter().any(|(_, v)| v.uses(t))
                        || e.body.as_ref().is_some_and(|b| b.uses(t))
                    {
                        return Err(self.invalid(
                            jkey,
                            format!("{name:?} uses {{lastRunTime}}; a joined endpoint must return everyone (only the mapping's own endpoint may be incremental)"),
                        ));
                    }
                }
                if fan_outs.contains(&name) {
                    let from = eps
                        .iter()
                        .find(|e| e.name == name)
                        .and_then(|e| e.for_each.as_ref())
                        .map(|f| f.endpoint.clone())
                        .unwrap_or_default();
                    if from != primary {
                        return Err(self.invalid(jkey, format!("{name:?} fans out over {from:?}, but this mapping reads {primary:?}")));
                    }
                } else if !lists.contains(&name) {
                    return Err(self.invalid(
                        jkey,
                        format!(
                            "integration {:?} has no endpoint {name:?}; it offers {:?}",
                            it.name,
                            lists.iter().chain(&fan_outs).collect::<Vec<_>>()
                        ),
                    ));
                }
            }
            for (a, spec) in &m.attributes {
                if let RawAttr::Table(t) = spec {
                    if t.unique && a.eq_ignore_ascii_case(&m.rdn_attribute) {
                        return Err(self.invalid(
                            format!("{key}.attributes.{a}.unique"),
                            "the RDN attribute cannot be unique-by-candidates yet; make another attribute unique (e.g. sAMAccountName or uid with rdn_attribute = \"cn\")",
                        ));
                    }
                    if !t.unique && (!t.candidates.is_empty() || t.max_length.is_some()) {
                        return Err(self.invalid(
                            format!("{key}.attributes.{a}"),
                            "candidates and max_length need unique = true",
                        ));
                    }
                    if let Some(r) = &t.refers_to {
                        if r != "person" {
                            return Err(self.invalid(
                                format!("{key}.attributes.{a}.refers_to"),
                                format!("{r:?} is not supported; the one kind is \"person\" (the value is an HR primary key)"),
                            ));
                        }
                        if t.unique || a.eq_ignore_ascii_case(&m.rdn_attribute) {
                            return Err(self.invalid(
                                format!("{key}.attributes.{a}.refers_to"),
                                "a person reference cannot be unique or the RDN attribute",
                            ));
                        }
                    }
                    if t.by.is_some() && t.refers_to.is_none() {
                        return Err(self.invalid(
                            format!("{key}.attributes.{a}.by"),
                            "by needs refers_to = \"person\"",
                        ));
                    }
                    if t.max_length == Some(0) {
                        return Err(self.invalid(
                            format!("{key}.attributes.{a}.max_length"),
                            "must be at least 1",
                        ));
                    }
                }
            }
            for a in &m.match_on {
                if !m.attributes.keys().any(|k| k.eq_ignore_ascii_case(a)) {
                    return Err(self.invalid(
                        format!("{key}.match_on"),
                        format!("{a:?} is not a mapped attribute; match_on compares the mapped value with the account's"),
                    ));
                }
            }
            for a in m.attributes.keys().chain(std::iter::once(&m.rdn_attribute)) {
                if !valid_attr(a) {
                    return Err(self.invalid(
                        format!("{key}.attributes.{a}"),
                        "not a valid LDAP attribute name",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn valid_attr(a: &str) -> bool {
    let mut chars = a.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}
