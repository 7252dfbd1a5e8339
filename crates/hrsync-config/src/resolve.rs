//! Raw to resolved: loading and parsing a file, and each mapping's [`Job`](super::Job)
//! (mapping compiled, source and directory resolved).

use super::raw::{AttrWhen, RawAttr, RawConfig, RawIntegration, RawMapping};
use super::shared::Shared;
use super::{Config, ConfigError, Job, plans};
use hrsync_directory::password::PasswordFile;
use hrsync_directory::{DirectoryConfig, Passwords};
use hrsync_mapping::{AttrSpec, Mapper, MappingSpec};
use hrsync_source::Source;
use hrsync_source::rest::join::{JoinPart, JoinSpec};
use std::path::Path;
use std::time::Duration;

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(path, text)
    }

    /// A configuration from its text, as if read from `path` (relative paths resolve beside
    /// it): `hrsync replay` reads back the text a run used.
    pub fn parse(path: &Path, text: String) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            let mut message = e.to_string();
            // `[server]` is an alias of `[serve]`: serde names only the field.
            if message.contains("duplicate field `serve`") {
                message.push_str(
                    "[serve] and [server] are the same section (hrsync serve's): keep one of them",
                );
            }
            ConfigError::Parse {
                path: path.display().to_string(),
                message,
            }
        })?;
        let cfg = Config {
            path: path.to_path_buf(),
            raw,
            text,
            shared: Shared::default(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Names of the enabled mappings, in file order.
    pub fn mapping_names(&self) -> Vec<String> {
        self.raw
            .mappings
            .iter()
            .filter(|m| m.enabled)
            .map(|m| m.name.clone())
            .collect()
    }

    /// The mapping named `mapping`, with its index in the file; an error names the ones defined.
    fn find_mapping(&self, mapping: &str) -> Result<(usize, &RawMapping), ConfigError> {
        self.raw
            .mappings
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == mapping)
            .ok_or_else(|| {
                self.invalid(
                    "mapping",
                    format!(
                        "no mapping named {mapping:?}; defined: {:?}",
                        self.mapping_names()
                    ),
                )
            })
    }

    /// The offline half of [`Config::job`]: the mapping compiled and the status rule, without
    /// secrets, HR or the directory (`hrsync test` runs mapping test cases with only this).
    pub fn mapper(
        &self,
        mapping: &str,
    ) -> Result<(Mapper, Option<super::statuses::StatusRule>), ConfigError> {
        let r = &self.raw;
        let (i, m) = self.find_mapping(mapping)?;
        let key = format!("mapping[{i}] ({})", m.name);
        let it = r
            .integrations
            .iter()
            .find(|x| x.name == m.integration)
            .ok_or_else(|| self.invalid(format!("{key}.integration"), "unknown integration"))?;
        let (spec, statuses) = self.mapping_spec(i, m, it)?;
        let mapper = Mapper::new(spec)
            .map_err(|e| self.invalid(format!("{key}.attributes"), e.to_string()))?;
        Ok((mapper, statuses))
    }

    /// Mapping `i` (`m`, reading integration `it`) as the mapping crate takes it, and its
    /// status rule.
    fn mapping_spec(
        &self,
        i: usize,
        m: &RawMapping,
        it: &RawIntegration,
    ) -> Result<(MappingSpec, Option<super::statuses::StatusRule>), ConfigError> {
        let key = format!("mapping[{i}] ({})", m.name);
        let d = &self.raw.directory;
        let statuses = match (it.kind.as_str(), m.unknown_status) {
            ("paycor", u) => Some(super::statuses::StatusRule {
                field: hrsync_source::paycor::STATUS_FIELD.into(),
                known: hrsync_source::paycor::STATUSES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                unknown: u.unwrap_or_default(),
            }),
            (_, None) => None,
            (kind, Some(_)) => {
                return Err(self.invalid(
                    format!("{key}.unknown_status"),
                    format!(
                        "unknown_status applies to Paycor mappings (its documented statuses); integration {:?} is {kind:?}: remove it",
                        it.name
                    ),
                ));
            }
        };
        let spec = MappingSpec {
            name: m.name.clone(),
            primary_key: m.primary_key.clone(),
            source_id_field: matches!(it.kind.as_str(), "icehrm" | "paycor").then(|| "id".into()),
            rdn_attribute: m.rdn_attribute.clone(),
            parent_dn: d.users_ou.clone(),
            key_attribute: d.key_attribute(),
            attributes: m
                .attributes
                .iter()
                .map(|(name, a)| match a {
                    RawAttr::Format(f) => AttrSpec {
                        name: name.clone(),
                        format: f.clone(),
                        required: false,
                    },
                    RawAttr::Table(t) => AttrSpec {
                        name: name.clone(),
                        format: t.format.clone(),
                        required: t.required,
                    },
                })
                // Each person's own value for references `by` another field travels as a
                // pseudo attribute to the planner (never to the directory).
                .chain(m.attributes.iter().filter_map(|(name, a)| match a {
                    RawAttr::Table(t) => t.by.as_ref().map(|by| AttrSpec {
                        name: ref_by_attr(name),
                        format: by.clone(),
                        required: false,
                    }),
                    RawAttr::Format(_) => None,
                }))
                .collect(),
            // IceHrm marks leavers with status Terminated; other kinds say it in the config.
            leaver_when: m.leaver_when.clone().or_else(|| match it.kind.as_str() {
                "icehrm" => Some("status == 'Terminated'".into()),
                "paycor" => Some(hrsync_source::paycor::default_leaver_when()),
                _ => None,
            }),
            ou: m.ou.clone(),
            scope_when: m.scope_when.clone(),
            dates: hrsync_mapping::EffectiveDates {
                start: m.start_date.clone(),
                prehire_days: m.prehire_days,
                end: m.end_date.clone(),
                grace_days: m.grace_days,
            },
            out_of_scope: m.out_of_scope,
            unique: m
                .attributes
                .iter()
                .filter_map(|(n, a)| match a {
                    RawAttr::Table(t) if t.unique => Some(hrsync_mapping::UniqueSpec {
                        attr: n.clone(),
                        candidates: t.candidates.clone(),
                        max_length: t.max_length,
                    }),
                    _ => None,
                })
                .collect(),
            groups: m
                .groups
                .iter()
                .map(|g| hrsync_mapping::GroupRule {
                    dn: g.dn.clone(),
                    cn: g.cn.clone(),
                    under: g.under.clone(),
                    when: g.when.clone(),
                })
                .collect(),
        };
        Ok((spec, statuses))
    }

    /// Resolves one mapping into a runnable job: loads secrets, compiles formats.
    pub fn job(&self, mapping: &str) -> Result<Job, ConfigError> {
        let r = &self.raw;
        let (i, m) = self.find_mapping(mapping)?;
        let key = format!("mapping[{i}] ({})", m.name);
        let (ii, it) = r
            .integrations
            .iter()
            .enumerate()
            .find(|(_, x)| x.name == m.integration)
            .ok_or_else(|| self.invalid(format!("{key}.integration"), "unknown integration"))?;
        if !it.enabled {
            return Err(self.invalid(
                format!("integration[{ii}].enabled"),
                format!(
                    "integration {:?} is disabled; enable it or disable mapping {:?}",
                    it.name, m.name
                ),
            ));
        }
        let (spec, statuses) = self.mapping_spec(i, m, it)?;
        let base = self.base_dir();
        let d = &r.directory;
        let password = d
            .bind_password
            .resolve(&base)
            .map_err(|e| self.invalid("directory.bind_password", e.to_string()))?;
        let mapper = Mapper::new(spec)
            .map_err(|e| self.invalid(format!("{key}.attributes"), e.to_string()))?;
        let primary = self.primary_endpoint(it, m.endpoint.as_deref());
        let mut source = self.source(ii, it, &base, &primary)?;
        if !m.join.is_empty() {
            source = Source::Joined(
                Box::new(source),
                JoinSpec {
                    rest: self.rest_integration(ii, it, &base)?,
                    primary_key: m.primary_key.clone(),
                    parts: m
                        .join
                        .iter()
                        .map(|j| JoinPart {
                            endpoint: j.endpoint().to_string(),
                            required: j.required(),
                        })
                        .collect(),
                    fan_out_limit: None,
                    only: None,
                },
            );
        }
        let mut directory = d.connection(&base, password);
        directory.rdn_attribute = m.rdn_attribute.clone();
        directory.match_attributes = m.match_on.clone();
        directory.owned = m
            .attributes
            .keys()
            .cloned()
            .chain((!m.groups.is_empty()).then(|| hrsync_mapping::MEMBER_OF.to_string()))
            .collect();
        directory.passwords = match &d.passwords {
            None => None,
            Some(p) => Some(Passwords {
                policy: p.policy.clone().unwrap_or_default(),
                file: std::sync::Arc::new(
                    PasswordFile::open(&base.join(&p.file))
                        .map_err(|e| self.invalid("directory.passwords.file", e.to_string()))?,
                ),
                mapping: m.name.clone(),
                must_change: p.must_change,
            }),
        };
        Ok(Job {
            mapping: std::sync::Arc::new(mapper),
            description: m.description.clone(),
            category: m.category.clone(),
            actions: m.actions(),
            source,
            directory,
            missing_from_hr: r.lifecycle.missing_from_hr,
            max_record_drop_percent: r.lifecycle.max_record_drop_percent,
            unlinked: r.lifecycle.unlinked,
            missing_confirmations: r.lifecycle.missing_confirmations,
            managed_groups: m.groups.iter().filter_map(|g| g.dn.clone()).collect(),
            managed_group_bases: m.groups.iter().filter_map(|g| g.under.clone()).collect(),
            leaver_removes_groups: r.lifecycle.leaver_groups == "remove",
            create_only: m
                .attributes
                .iter()
                // A unique name is chosen once, at creation; it never follows later HR changes.
                .filter(
                    |(_, a)| matches!(a, RawAttr::Table(t) if t.on == AttrWhen::Create || t.unique),
                )
                .map(|(n, _)| n.clone())
                .collect(),
            disabled_ou: r.lifecycle.disabled_ou.clone(),
            delete_after_days: r.lifecycle.delete_after_days,
            thresholds: r.lifecycle.thresholds,
            match_on: m.match_on.clone(),
            orchestrations: r.orchestrations.clone(),
            statuses,
            approval: m.approval.clone().filter(|a| !a.require.is_empty()),
            config_fingerprint: plans::fingerprint(&self.text, &m.name)
                .map_err(|e| self.invalid("mapping", e))?,
            hr_snapshots: (r.state.keep_hr_snapshots > 0).then(|| super::snapshots::SnapshotSpec {
                dir: super::snapshots::dir_for(&self.state_path(), &m.name),
                keep: r.state.keep_hr_snapshots,
                config_path: self.path.clone(),
                config_text: self.text.clone(),
            }),
            plan_expiry: r.plans.expiry().ok_or_else(|| {
                self.invalid(
                    "plans.expire_hours",
                    "must be a positive number of hours, e.g. 24",
                )
            })?,
            ref_fields: m
                .attributes
                .iter()
                .filter_map(|(n, a)| match a {
                    RawAttr::Table(t) if t.refers_to.is_some() => {
                        let field = match &t.by {
                            None => Some(m.primary_key.clone()),
                            Some(by) => plain_field(by),
                        };
                        field.map(|f| (hrsync_model::AttrName::new(n.clone()), f))
                    }
                    _ => None,
                })
                .collect(),
            person_refs: m
                .attributes
                .iter()
                .filter_map(|(n, a)| match a {
                    RawAttr::Table(t) if t.refers_to.is_some() => Some(hrsync_plan::PersonRef {
                        attr: hrsync_model::AttrName::new(n.clone()),
                        by: t
                            .by
                            .as_ref()
                            .map(|_| hrsync_model::AttrName::new(ref_by_attr(n))),
                    }),
                    _ => None,
                })
                .collect(),
        })
    }
}

/// `"{id}"` → `id`: the field a format is, when it is nothing but one field.
fn plain_field(format: &str) -> Option<String> {
    let inner = format.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    (!inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
    .then(|| inner.to_string())
}

/// The pseudo attribute carrying each person's own value for the reference `attr` (`by`).
fn ref_by_attr(attr: &str) -> String {
    format!("hrsync-ref-by-{}", attr.to_ascii_lowercase())
}

impl super::raw::RawDirectory {
    /// How to reach this directory, whatever the mapping: the connection, bind, base, key
    /// attribute and limits, with no mapping's naming attribute, match attributes, owned
    /// attributes or password delivery (a mapping's job sets those; a lookup needs none).
    pub fn connection(&self, base: &Path, bind_password: hrsync_model::Secret) -> DirectoryConfig {
        DirectoryConfig {
            dialect: self.kind,
            url: self.url.clone(),
            starttls: self.starttls,
            ca_cert: self.ca_cert.as_ref().map(|p| base.join(p)),
            insecure_skip_verify: self.insecure_skip_verify,
            bind_dn: self.bind_dn.clone(),
            bind_password,
            base_dn: self.base_dn.clone(),
            users_ou: self.users_ou.clone(),
            object_classes: self.object_classes(),
            rdn_attribute: "cn".into(),
            key_attribute: self.key_attribute(),
            match_attributes: Vec::new(),
            owned: Vec::new(),
            connections: self.connections.max(1),
            in_flight: self.in_flight.max(1),
            page_size: self.page_size,
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            passwords: None,
        }
    }
}
