//! `hrsync endpoint test`: the "Test & Save" of an HR endpoint.

use anyhow::Result;
use hrsync_config::Config;
use hrsync_source::profile::Profile;
use std::path::Path;

/// Which sample values to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Samples {
    /// None at all (`--no-samples`).
    None,
    /// Every field's, except sensitive ones (the default).
    Masked,
    /// Every field's, sensitive ones included (`--show-sensitive`).
    All,
}

pub use hrsync_engine::sensitive::is_sensitive;

/// Replaces the samples of sensitive fields with a mask.
fn mask_sensitive(profile: &mut Profile) {
    for (path, f) in profile.fields.iter_mut() {
        if is_sensitive(path) && !f.samples.is_empty() {
            f.samples = vec!["(masked: sensitive; --show-sensitive reveals)".to_string()];
        }
    }
}

/// How many people `endpoint test` calls a fan-out endpoint for.
const FAN_OUT_SAMPLE: usize = 5;

/// `hrsync endpoint test`: calls the endpoint for real and profiles the fields.
pub async fn run(
    config: &Path,
    integration: &str,
    endpoint: Option<&str>,
    json: bool,
    samples: Samples,
) -> Result<i32> {
    let cfg = Config::load(config)?;
    let (source, offered) = cfg.endpoint_source(integration, endpoint, FAN_OUT_SAMPLE)?;
    let (_, fan_outs) = cfg.integration_endpoints(integration)?;
    let fan_out = fan_outs.contains(&offered);
    let mut profile = hrsync_source::profile::Profile::default();
    let started = std::time::Instant::now();
    let report = if fan_out {
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
    if json {
        let out = serde_json::json!({
            "integration": integration, "endpoint": offered, "request": source.describe_request(),
            "fetch": report, "latency_ms": took.as_millis() as u64, "profile": profile,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(if report.complete { 0 } else { 4 });
    }
    println!("Integration {integration:?}, endpoint {offered:?}");
    println!("Request:");
    for l in source.describe_request().lines() {
        println!("  {l}");
    }
    match &report.error {
        None => println!(
            "Result: complete, {} record(s) in {} page(s), {:.2} s",
            report.records,
            report.pages,
            took.as_secs_f64()
        ),
        Some(e) => println!(
            "Result: INCOMPLETE, {} record(s) in {} page(s), {:.2} s: {e}",
            report.records,
            report.pages,
            took.as_secs_f64()
        ),
    }
    for n in &report.notes {
        println!("  note: {n}");
    }
    let width = profile
        .fields
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(5)
        .min(40);
    println!(
        "\nFields ({} record(s)): path, types, records with a value, samples",
        profile.records
    );
    for (path, f) in &profile.fields {
        let types: Vec<&str> = f.types.iter().copied().collect();
        let samples: Vec<String> = f.samples.iter().map(|s| format!("{s:?}")).collect();
        println!(
            "  {path:<width$}  {:<14} {:>6}/{:<6} {}",
            types.join("|"),
            f.present,
            profile.records,
            samples.join(", ")
        );
    }
    Ok(if report.complete { 0 } else { 4 })
}

#[cfg(test)]
mod tests {
    use super::is_sensitive;

    #[test]
    fn sensitive_fields_are_recognised() {
        for p in [
            "ssn",
            "birthday",
            "birth_date",
            "dateOfBirth",
            "salary",
            "compensation.grade",
            "payRate",
            "bank.iban",
            "bankAccount",
            "tax_id",
            "taxId",
            "nationalId",
            "personal.ssn",
        ] {
            assert!(is_sensitive(p), "{p}");
        }
        for p in [
            "first_name",
            "department.display",
            "work_email",
            "settings",
            "employee_id",
            "job_title.display",
            "supervisor.id",
        ] {
            assert!(!is_sensitive(p), "{p}");
        }
    }
}
