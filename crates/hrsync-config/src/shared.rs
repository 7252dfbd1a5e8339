//! What everything built from one [`Config`] shares per integration: its OAuth token provider
//! (one cache, one refresh at a time) and its rate limiter (one budget), and the clock OAuth
//! expiry is judged by.

use super::{Config, ConfigError, RawIntegration};
use hrsync_source::oauth::OAuthRefresh;
use hrsync_source::rest::{Bearer, Limiter};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One OAuth token provider and one rate limiter per integration, shared by everything built
/// from one [`Config`] (a daemon's fetches, webhooks and orchestration steps): one access-token
/// cache, one refresh at a time, one call budget.
#[derive(Default)]
pub(super) struct Shared {
    providers: std::sync::Mutex<BTreeMap<String, hrsync_source::oauth::TokenProvider>>,
    limiters: std::sync::Mutex<BTreeMap<String, Option<Limiter>>>,
    clock: hrsync_source::oauth::Clock,
}

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Config {
    /// Judge OAuth token expiry by `clock` (tests simulate hours of a daemon's life with it).
    /// Call before the first job is built.
    pub fn set_oauth_clock(&mut self, clock: hrsync_source::oauth::Clock) {
        self.shared.clock = clock;
        locked(&self.shared.providers).clear();
    }

    /// The integration's rate limiter, shared by its fetches and the webhooks that borrow it;
    /// `fresh` is used the first time.
    pub(crate) fn shared_limiter(
        &self,
        integration: &str,
        fresh: Option<Limiter>,
    ) -> Option<Limiter> {
        locked(&self.shared.limiters)
            .entry(integration.to_string())
            .or_insert(fresh)
            .clone()
    }

    /// The OAuth settings of integration `it` (index `ii`), secrets resolved.
    pub fn oauth_settings(
        &self,
        ii: usize,
        it: &RawIntegration,
    ) -> Result<Option<OAuthRefresh>, ConfigError> {
        let Some(o) = &it.oauth else {
            return Ok(None);
        };
        let base = self.base_dir();
        let key = format!("integration[{ii}]");
        let okey = format!("{key}.oauth");
        let store = match &o.store {
            Some(p) => base.join(p),
            None => self
                .state_path()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(format!("{}.refresh-token", it.name)),
        };
        let query_secrets = if it.kind == "paycor" {
            vec![(
                "subscription-key".to_string(),
                self.secret(
                    &key,
                    "subscription_key",
                    it.subscription_key.as_ref(),
                    &base,
                )?,
            )]
        } else {
            Vec::new()
        };
        Ok(Some(OAuthRefresh {
            integration: it.name.clone(),
            token_url: o.token_url.clone(),
            client_id: o.client_id.clone(),
            client_secret: self.secret(&okey, "client_secret", Some(&o.client_secret), &base)?,
            initial_refresh_token: match &o.refresh_token {
                Some(r) => Some(self.secret(&okey, "refresh_token", Some(r), &base)?),
                None => None,
            },
            store,
            query_secrets,
            timeout: Duration::from_secs(it.timeout_secs.max(1)),
            clock: self.shared.clock.clone(),
        }))
    }

    /// The integration's one token provider (created on first use).
    pub fn token_provider(
        &self,
        ii: usize,
        it: &RawIntegration,
    ) -> Result<Option<hrsync_source::oauth::TokenProvider>, ConfigError> {
        if let Some(p) = locked(&self.shared.providers).get(&it.name) {
            return Ok(Some(p.clone()));
        }
        let Some(settings) = self.oauth_settings(ii, it)? else {
            return Ok(None);
        };
        Ok(Some(
            locked(&self.shared.providers)
                .entry(it.name.clone())
                .or_insert_with(|| settings.into_provider())
                .clone(),
        ))
    }

    /// The bearer of an API integration: OAuth when configured, else the static token (also
    /// what a webhook borrowing the integration sends).
    pub(crate) fn bearer(
        &self,
        ii: usize,
        key: &str,
        it: &RawIntegration,
        base: &Path,
    ) -> Result<Bearer, ConfigError> {
        if let Some(p) = self.token_provider(ii, it)? {
            return Ok(Bearer::OAuth(p));
        }
        match &it.token {
            Some(t) => Ok(Bearer::Static(self.secret(key, "token", Some(t), base)?)),
            None => Ok(Bearer::None),
        }
    }
}
