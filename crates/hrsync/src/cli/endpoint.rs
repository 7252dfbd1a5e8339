//! `hrsync endpoint test`: the "Test & Save" of an HR endpoint.

use anyhow::Result;
use hrsync_config::Config;
use std::path::Path;

pub use hrsync_engine::endpoint_test::Samples;

/// `hrsync endpoint test`: calls the endpoint for real and profiles the fields.
pub async fn run(
    config: &Path,
    integration: &str,
    endpoint: Option<&str>,
    json: bool,
    samples: Samples,
) -> Result<i32> {
    let cfg = Config::load(config)?;
    let t = hrsync_engine::endpoint_test::test(&cfg, integration, endpoint, samples).await?;
    let (offered, report, profile) = (&t.endpoint, &t.fetch, &t.profile);
    let took = std::time::Duration::from_millis(t.latency_ms);
    if json {
        println!("{}", serde_json::to_string_pretty(&t)?);
        return Ok(if report.complete { 0 } else { 4 });
    }
    println!("Integration {integration:?}, endpoint {offered:?}");
    println!("Request:");
    for l in t.request.lines() {
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
    use hrsync_engine::sensitive::is_sensitive;

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
