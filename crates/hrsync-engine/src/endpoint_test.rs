//! The "Test & Save" of an HR endpoint (`hrsync endpoint test`, `POST
//! /api/v1/integrations/{name}/endpoints/{endpoint}/test`): the endpoint called for real, its
//! request (secrets redacted), whether the fetch was complete, and a profile of its fields
//! (types, how many records have a value, sample values — sensitive ones masked).

use crate::sensitive::is_sensitive;
use hrsync_config::Config;
use hrsync_model::FetchReport;
use hrsync_source::profile::Profile;
use serde::Serialize;

/// Which sample values to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Samples {
    /// None at all.
    None,
    /// Every field's, except sensitive ones (the default).
    Masked,
    /// Every field's, sensitive ones included.
    All,
}

/// What a test found.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointTest {
    pub integration: String,
    pub endpoint: String,
    /// The request as sent, secrets redacted.
    pub request: String,
    /// Records, pages, completeness (`complete`, `error`), notes.
    pub fetch: FetchReport,
    pub latency_ms: u64,
    pub profile: Profile,
}

/// Why a test could not be made (a fetch that failed part-way is no error: see
/// [`FetchReport::complete`]).
#[derive(Debug, thiserror::Error)]
pub enum EndpointTestError {
    #[error(transparent)]
    Config(#[from] hrsync_config::ConfigError),
    #[error(transparent)]
    Source(#[from] hrsync_source::SourceError),
}

/// How many people a fan-out endpoint is called for.
pub const FAN_OUT_SAMPLE: usize = 5;

/// Replaces the samples of sensitive fields with a mask.
fn mask_sensitive(profile: &mut Profile) {
    for (path, f) in profile.fields.iter_mut() {
        if is_sensitive(path) && !f.samples.is_empty() {
            f.samples = vec![crate::sensitive::MASK.to_string()];
        }
    }
}

/// Calls the endpoint (the integration's default with None) for real and profiles the fields.
pub async fn test(
    cfg: &Config,
    integration: &str,
    endpoint: Option<&str>,
    samples: Samples,
) -> Result<EndpointTest, EndpointTestError> {
    let (source, offered) = cfg.endpoint_source(integration, endpoint, FAN_OUT_SAMPLE)?;
    let (_, fan_outs) = cfg.integration_endpoints(integration)?;
    let fan_out = fan_outs.contains(&offered);
    let mut profile = Profile::default();
    let started = std::time::Instant::now();
    let fetch = if fan_out {
        // Only the fan-out's own data, for the sampled people.
        let keep = std::collections::BTreeSet::from([offered.clone()]);
        source
            .fetch_with(Some(&keep), |r| {
                if let Some(serde_json::Value::Object(m)) = r.fields.get(&offered) {
                    profile.add(m);
                }
            })
            .await?
    } else {
        source.fetch_with(None, |r| profile.add(&r.fields)).await?
    };
    let took = started.elapsed();
    match samples {
        Samples::None => profile.fields.values_mut().for_each(|f| f.samples.clear()),
        Samples::Masked => mask_sensitive(&mut profile),
        Samples::All => {}
    }
    Ok(EndpointTest {
        integration: integration.to_string(),
        endpoint: offered,
        request: source.describe_request(),
        fetch,
        latency_ms: took.as_millis() as u64,
        profile,
    })
}
