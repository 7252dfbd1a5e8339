//! Integrations and their endpoints resolved into sources: Paycor's presets, custom REST
//! endpoints, joins, CSV and IceHrm.

use super::raw::{RawIntegration, RawPaging};
use super::{Config, ConfigError, DEFAULT_API_KEY_HEADER};
use hrsync_source::Source;
use hrsync_source::csv::{self as csv_source, Csv, Encoding};
use hrsync_source::http::RetryPolicy;
use hrsync_source::icehrm::{self, IceHrm};
use hrsync_source::rest::join::{JoinPart, JoinSpec};
use hrsync_source::rest::{
    Auth, BodyTemplate, Endpoint, FanOut, Flavor, Limiter, Paging, RestIntegration, Template,
};
use serde_json_path::JsonPath;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

impl Config {
    /// The endpoints of an integration, resolved and checked: Paycor's presets, then the
    /// custom `[[integration.endpoint]]`s. IceHrm's `get_employees` and CSV's `rows` are not
    /// REST endpoints and are not listed.
    pub fn endpoints(&self, key: &str, it: &RawIntegration) -> Result<Vec<Endpoint>, ConfigError> {
        let mut out = if it.kind == "paycor" {
            match &it.include {
                Some(include) => hrsync_source::paycor::preset_endpoints_with(include),
                None => hrsync_source::paycor::preset_endpoints(),
            }
        } else {
            Vec::new()
        };
        let builtin = [icehrm::GET_EMPLOYEES, csv_source::ROWS];
        let reserved = hrsync_source::rest::RESERVED_MACROS;
        if let Some(m) = it.macros.keys().find(|m| {
            reserved.contains(&m.as_str()) || (it.kind == "paycor" && *m == "legalEntityId")
        }) {
            return Err(self.invalid(
                format!("{key}.macros.{m}"),
                format!("{m:?} is set by hrsync itself ({reserved:?}); choose another name"),
            ));
        }
        if let Some(h) = &it.api_key_header
            && reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            return Err(self.invalid(
                format!("{key}.api_key_header"),
                format!("{h:?} is not a header name"),
            ));
        }
        let mut known: Vec<&str> = it.macros.keys().map(String::as_str).collect();
        known.push(hrsync_source::rest::LAST_RUN_TIME);
        if it.kind == "paycor" {
            known.push("legalEntityId");
        }
        for (n, e) in it.endpoints.iter().enumerate() {
            let ekey = format!("{key}.endpoint[{n}] ({})", e.name);
            let bad = |k: &str, m: String| self.invalid(format!("{ekey}.{k}"), m);
            let mut chars = e.name.chars();
            if !(chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err(bad(
                    "name",
                    "use letters, digits and _ (it becomes a field name: {name.field})".into(),
                ));
            }
            if out.iter().any(|x: &Endpoint| x.name == e.name) || builtin.contains(&e.name.as_str())
            {
                return Err(bad(
                    "name",
                    format!("endpoint {:?} is defined twice (or is a preset)", e.name),
                ));
            }
            // hrsync only reads from HR here: GET, or POST for search APIs.
            let method = match e.method.to_uppercase().as_str() {
                "GET" => reqwest::Method::GET,
                "POST" => reqwest::Method::POST,
                other => {
                    return Err(bad(
                        "method",
                        format!(
                            "{other:?}: endpoints read from HR with GET (or POST for search APIs)"
                        ),
                    ));
                }
            };
            if !e.fields.is_empty()
                && !e
                    .fields
                    .contains_key(e.key.split('.').next().unwrap_or_default())
            {
                return Err(bad(
                    "key",
                    format!(
                        "with `fields`, the key must be one of them; {:?} is not",
                        e.key
                    ),
                ));
            }
            let mut allowed = known.clone();
            allowed.extend(["page", "offset", "limit", "cursor"]);
            let for_each = match &e.for_each {
                None => None,
                Some(f) => {
                    let src = it.endpoints.iter().find(|x| x.name == f.endpoint);
                    let preset_list = it.kind == "paycor"
                        && f.endpoint == hrsync_source::paycor::LEGAL_ENTITY_EMPLOYEES
                        || it.kind == "icehrm" && f.endpoint == icehrm::GET_EMPLOYEES;
                    if !preset_list && src.is_none_or(|x| x.for_each.is_some()) {
                        return Err(bad(
                            "for_each.endpoint",
                            format!(
                                "{:?} is not a list endpoint of this integration",
                                f.endpoint
                            ),
                        ));
                    }
                    if reserved.contains(&f.as_macro.as_str())
                        || it.macros.contains_key(&f.as_macro)
                    {
                        return Err(bad(
                            "for_each.as",
                            format!("{:?} is already a macro; choose another name", f.as_macro),
                        ));
                    }
                    if f.as_macro.is_empty()
                        || !f
                            .as_macro
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(bad(
                            "for_each.as",
                            "a macro name: letters, digits and _".into(),
                        ));
                    }
                    Some(FanOut {
                        endpoint: f.endpoint.clone(),
                        field: f.field.clone(),
                        macro_name: f.as_macro.clone(),
                    })
                }
            };
            if let Some(f) = &for_each {
                allowed.push(f.macro_name.as_str());
            }
            let tpl = |k: &str, v: &str| {
                Template::parse(v)
                    .and_then(|t| t.check(&allowed).map(|()| t))
                    .map_err(|err| bad(k, err.to_string()))
            };
            let url = tpl("path", &e.path)?;
            let body = match e.body.as_deref() {
                None => None,
                Some(b) => {
                    let t = BodyTemplate::parse(b).map_err(|m| bad("body", m))?;
                    t.check(&allowed).map_err(|m| bad("body", m.to_string()))?;
                    Some(t)
                }
            };
            if for_each.as_ref().is_some_and(|f| {
                !url.uses(&f.macro_name)
                    && !e
                        .query
                        .values()
                        .any(|q| q.contains(&format!("{{{}}}", f.macro_name)))
                    && !body.as_ref().is_some_and(|b| b.uses(&f.macro_name))
            }) {
                return Err(bad(
                    "path",
                    "a fan-out endpoint must use its for_each macro in the path, query or body"
                        .into(),
                ));
            }
            let mut headers = Vec::new();
            for (h, v) in &e.headers {
                if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(bad("headers", format!("{h:?} is not a header name")));
                }
                headers.push((h.clone(), tpl(&format!("headers.{h}"), v)?));
            }
            let mut query = Vec::new();
            for (q, v) in &e.query {
                query.push((q.clone(), tpl(&format!("query.{q}"), v)?));
            }

            let jp = |k: &str, v: &str| {
                JsonPath::parse(v).map_err(|err| {
                    bad(
                        k,
                        format!("not a JSONPath (RFC 9535), e.g. \"$.data.items[*]\": {err}"),
                    )
                })
            };
            let records = e.records.as_deref().map(|r| jp("records", r)).transpose()?;
            let mut fields = Vec::new();
            for (f, v) in &e.fields {
                fields.push((f.clone(), jp(&format!("fields.{f}"), v)?));
            }
            let opt = |k: &str, v: &Option<String>| v.as_deref().map(|x| jp(k, x)).transpose();
            let sizes = match &e.pagination {
                RawPaging::Page { size, .. } => Some(*size),
                RawPaging::Offset { limit, .. } => Some(*limit),
                RawPaging::Cursor { size, .. }
                | RawPaging::NextUrl { size, .. }
                | RawPaging::LinkHeader { size, .. } => *size,
                RawPaging::None => None,
            };
            if sizes == Some(0) {
                return Err(bad(
                    "pagination.size",
                    "a page size must be at least 1".into(),
                ));
            }
            let paging = match &e.pagination {
                RawPaging::None => Paging::None,
                RawPaging::Page {
                    page_param,
                    size_param,
                    size,
                    first,
                    total_pages,
                    total,
                } => Paging::Page {
                    page_param: Some(page_param.clone()),
                    size_param: size_param.clone(),
                    size: *size,
                    first: *first,
                    total_pages: opt("pagination.total_pages", total_pages)?,
                    total: opt("pagination.total", total)?,
                },
                RawPaging::Offset {
                    offset_param,
                    limit_param,
                    limit,
                    total,
                } => Paging::Offset {
                    offset_param: Some(offset_param.clone()),
                    limit_param: limit_param.clone(),
                    limit: *limit,
                    total: opt("pagination.total", total)?,
                },
                RawPaging::Cursor {
                    param,
                    next,
                    has_more,
                    size_param,
                    size,
                } => {
                    if param.is_none() && !body.as_ref().is_some_and(|b| b.uses("cursor")) {
                        return Err(bad("pagination.param", "name the query parameter that carries the cursor, or put {cursor} in the body".into()));
                    }
                    Paging::Cursor {
                        param: param.clone(),
                        next: jp("pagination.next", next)?,
                        has_more: opt("pagination.has_more", has_more)?,
                        size_param: size_param.clone(),
                        size: *size,
                    }
                }
                RawPaging::NextUrl {
                    next,
                    size_param,
                    size,
                } => Paging::NextUrl {
                    next: jp("pagination.next", next)?,
                    size_param: size_param.clone(),
                    size: *size,
                },
                RawPaging::LinkHeader { size_param, size } => Paging::LinkHeader {
                    size_param: size_param.clone(),
                    size: *size,
                },
            };
            // A query parameter the pagination also sends would go out twice.
            let mut vars = BTreeMap::new();
            paging.first_vars(&mut vars);
            vars.insert("cursor".into(), "x".into());
            if let Some((q, _)) = paging
                .query_params(&vars)
                .into_iter()
                .find(|(q, _)| e.query.contains_key(q))
            {
                return Err(bad(
                    &format!("query.{q}"),
                    "the pagination sends this parameter itself; remove it from query".into(),
                ));
            }
            if for_each.is_some() && !matches!(paging, Paging::None) {
                return Err(bad(
                    "pagination",
                    "a fan-out endpoint is called once per record; it cannot page".into(),
                ));
            }
            if e.lookup.is_some() && for_each.is_some() {
                return Err(bad(
                    "lookup",
                    "a fan-out endpoint is not a list of people; put lookup on the list endpoint"
                        .into(),
                ));
            }
            let lookup = e
                .lookup
                .as_ref()
                .map(|l| l.resolve(&e.key, &known))
                .transpose()
                .map_err(|(k, m)| bad(&format!("lookup.{k}"), m))?;
            out.push(Endpoint {
                name: e.name.clone(),
                method,
                url,
                headers,
                query,
                body,
                records,
                records_src: e.records.clone(),
                fields,
                key: e.key.clone(),
                paging,
                for_each,
                lookup,
            });
        }
        Ok(out)
    }

    /// An integration's list endpoints and fan-out endpoints, by name.
    pub fn endpoint_names(&self, it: &RawIntegration) -> (Vec<String>, Vec<String>) {
        let mut lists = Vec::new();
        let mut fan_outs = Vec::new();
        match it.kind.as_str() {
            "icehrm" => lists.push(icehrm::GET_EMPLOYEES.to_string()),
            "csv" => lists.push(csv_source::ROWS.to_string()),
            _ => {}
        }
        for e in self.endpoints("", it).unwrap_or_default() {
            if e.for_each.is_some() {
                fan_outs.push(e.name);
            } else {
                lists.push(e.name);
            }
        }
        (lists, fan_outs)
    }

    /// The endpoint a mapping reads: the one it names, else the integration's first list
    /// endpoint (IceHrm `get_employees`, Paycor `legal_entity_employees`, CSV `rows`).
    pub fn primary_endpoint(&self, it: &RawIntegration, named: Option<&str>) -> String {
        match named {
            Some(n) => n.to_string(),
            None => self
                .endpoint_names(it)
                .0
                .into_iter()
                .next()
                .unwrap_or_default(),
        }
    }

    fn find_integration(&self, name: &str) -> Result<(usize, &RawIntegration), ConfigError> {
        self.raw
            .integrations
            .iter()
            .enumerate()
            .find(|(_, x)| x.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .raw
                    .integrations
                    .iter()
                    .map(|x| x.name.as_str())
                    .collect();
                self.invalid(
                    "integration",
                    format!("no integration named {name:?}; defined: {known:?}"),
                )
            })
    }

    /// All endpoint names of an integration (for `endpoint test`).
    pub fn integration_endpoints(
        &self,
        name: &str,
    ) -> Result<(Vec<String>, Vec<String>), ConfigError> {
        let (_, it) = self.find_integration(name)?;
        Ok(self.endpoint_names(it))
    }

    /// The source of one endpoint of an integration (for `endpoint test`). A fan-out endpoint
    /// is called for the first `fan_out_sample` records of the endpoint it fans out over; its
    /// data is under the endpoint's name in each record.
    pub fn endpoint_source(
        &self,
        integration: &str,
        endpoint: Option<&str>,
        fan_out_sample: usize,
    ) -> Result<(Source, String), ConfigError> {
        let (ii, it) = self.find_integration(integration)?;
        let base = self.base_dir();
        let name = self.primary_endpoint(it, endpoint);
        let (lists, fan_outs) = self.endpoint_names(it);
        if lists.contains(&name) {
            return Ok((self.source(ii, it, &base, &name)?, name));
        }
        if !fan_outs.contains(&name) {
            return Err(self.invalid(
                "endpoint",
                format!(
                    "integration {integration:?} has no endpoint {name:?}; it offers {:?}",
                    lists.iter().chain(&fan_outs).collect::<Vec<_>>()
                ),
            ));
        }
        let rest = self.rest_integration(ii, it, &base)?;
        let from = rest
            .endpoint(&name)
            .and_then(|e| e.for_each.as_ref())
            .map(|f| f.endpoint.clone())
            .unwrap_or_default();
        let primary = self.source(ii, it, &base, &from)?;
        let key = rest
            .endpoint(&from)
            .map(|e| e.key.clone())
            .unwrap_or_else(|| "id".into());
        Ok((
            Source::Joined(
                Box::new(primary),
                JoinSpec {
                    rest,
                    primary_key: key,
                    parts: vec![JoinPart {
                        endpoint: name.clone(),
                        required: false,
                    }],
                    fan_out_limit: Some(fan_out_sample),
                    only: None,
                },
            ),
            name,
        ))
    }

    /// An API integration (icehrm, paycor, rest) as a REST integration: authorization, limits
    /// and its endpoints (for custom endpoints and joins).
    pub(super) fn rest_integration(
        &self,
        ii: usize,
        it: &RawIntegration,
        base: &Path,
    ) -> Result<RestIntegration, ConfigError> {
        let key = format!("integration[{ii}]");
        let endpoints = self.endpoints(&key, it)?;
        let retry = RetryPolicy {
            max_retries: it.max_retries,
            ..RetryPolicy::default()
        };
        let timeout = Duration::from_secs(it.timeout_secs.max(1));
        if it.kind == "paycor" {
            let subscription_key =
                self.secret(&key, "subscription_key", it.subscription_key.as_ref(), base)?;
            let bearer = self.bearer(ii, &key, it, base)?;
            let custom = endpoints
                .into_iter()
                .filter(|e| it.endpoints.iter().any(|r| r.name == e.name))
                .collect();
            let mut rest = hrsync_source::paycor::integration(
                hrsync_source::paycor::PaycorSettings {
                    name: it.name.clone(),
                    base_url: it.base_url.clone().unwrap_or_default(),
                    bearer,
                    subscription_key,
                    legal_entity_id: it.legal_entity_id.unwrap_or_default().to_string(),
                    rate_limit_per_minute: it.rate_limit_per_minute,
                    concurrency: it.concurrency.max(1),
                    timeout,
                    retry,
                    max_page_bytes: it.max_page_bytes(),
                    include: it.include.clone().unwrap_or_default(),
                },
                custom,
            );
            rest.max_pages = it.max_pages.max(1);
            rest.macros.extend(it.macros.clone());
            rest.limiter = self.shared_limiter(&it.name, rest.limiter.take());
            return Ok(rest);
        }
        let mut headers = Vec::new();
        if let Some(k) = &it.api_key {
            headers.push((
                it.api_key_header
                    .clone()
                    .unwrap_or_else(|| DEFAULT_API_KEY_HEADER.into()),
                self.secret(&key, "api_key", Some(k), base)?,
            ));
        }
        Ok(RestIntegration {
            name: it.name.clone(),
            base_url: it.base_url.clone().unwrap_or_default(),
            auth: Auth {
                bearer: self.bearer(ii, &key, it, base)?,
                headers,
            },
            macros: it.macros.clone(),
            endpoints,
            concurrency: it.concurrency.max(1),
            timeout,
            retry,
            flavor: Flavor::Generic,
            limiter: self.shared_limiter(
                &it.name,
                it.rate_limit_per_minute.and_then(Limiter::per_minute),
            ),
            last_run_time: None,
            max_pages: it.max_pages.max(1),
            max_page_bytes: it.max_page_bytes(),
        })
    }

    /// Resolves one endpoint of an integration into a source (secrets loaded, paths absolute).
    pub(super) fn source(
        &self,
        ii: usize,
        it: &RawIntegration,
        base: &Path,
        endpoint: &str,
    ) -> Result<Source, ConfigError> {
        let key = format!("integration[{ii}]");
        match it.kind.as_str() {
            "csv" => {
                let path = it
                    .path
                    .as_ref()
                    .ok_or_else(|| self.invalid(format!("{key}.path"), "set path"))?;
                let delimiter = match it.delimiter.as_deref() {
                    None => b',',
                    Some("\\t") | Some("\t") => b'\t',
                    Some(d) => *d.as_bytes().first().unwrap_or(&b','),
                };
                let encoding = match it.encoding.as_deref().map(str::to_lowercase).as_deref() {
                    Some("latin-1" | "latin1" | "iso-8859-1") => Encoding::Latin1,
                    _ => Encoding::Utf8,
                };
                Ok(Source::Csv(Csv {
                    name: it.name.clone(),
                    path: base.join(path),
                    delimiter,
                    encoding,
                }))
            }
            "icehrm" if endpoint == icehrm::GET_EMPLOYEES => {
                let token = self.secret(&key, "token", it.token.as_ref(), base)?;
                Ok(Source::IceHrm(IceHrm {
                    name: it.name.clone(),
                    base_url: it.base_url.clone().unwrap_or_default(),
                    token,
                    page_size: it.page_size,
                    concurrency: it.concurrency.max(1),
                    timeout: Duration::from_secs(it.timeout_secs.max(1)),
                    retry: RetryPolicy {
                        max_retries: it.max_retries,
                        ..RetryPolicy::default()
                    },
                    max_page_bytes: it.max_page_bytes(),
                    only: None,
                }))
            }
            _ => Ok(Source::Rest(
                self.rest_integration(ii, it, base)?,
                endpoint.to_string(),
            )),
        }
    }
}
