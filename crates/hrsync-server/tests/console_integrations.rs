//! The console's Applications screens, in process: the catalogue (search, enable switch),
//! adding an application with a write-only token, its page (authorization, endpoints with the
//! macro chooser, + Add API endpoint), Test & Save of a CSV endpoint (the field table, the
//! fields kept for the mapping editor), and roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_support;

use axum::http::StatusCode;
use hrsync_auth::Role;

/// The fixture, its directory password in a file so that the API can validate and save edits.
fn console(extra: &str) -> console_support::Console {
    let c = console_support::console(extra);
    std::fs::write(c.dir.path().join("bind.pw"), "secret").unwrap();
    let text = c.config_text().replace(
        r#"bind_password = { env = "HRSYNC_TEST_NOWHERE_PW" }"#,
        r#"bind_password = { file = "bind.pw" }"#,
    );
    std::fs::write(&c.config, text).unwrap();
    c
}

const REST: &str = r#"
# The Acme HR API.
[[integration]]
name = "acme"
kind = "rest"
base_url = "http://127.0.0.1:1/api"
token = { env = "HRSYNC_TEST_ACME_TOKEN" }
macros = { companyName = "acme" }

[[integration.endpoint]]
name = "employees"
path = "/companies/{companyName}/employees"
pagination = { style = "page", size = 50 }

[[integration]]
name = "spare"
kind = "csv"
path = "people.csv"
"#;

#[tokio::test]
async fn the_catalogue_is_searchable_and_shows_buttons_by_role() {
    let c = console("");
    let admin = c.browser("adam", Role::Admin);
    let p = c.get(Some(&admin), "/console/applications").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for preset in ["icehrm", "paycor", "rest", "csv"] {
        assert!(
            p.body.contains(&format!(r#"data-preset="{preset}""#)),
            "{preset}: {}",
            p.body
        );
        assert!(p.body.contains(&format!(r#"id="add-{preset}""#)));
    }
    assert!(p.body.contains(r#"data-integration="hr""#));
    assert!(p.body.contains(r#"id="enable-hr""#), "the admin's switch");
    assert!(p.body.contains(r#"hx-trigger="input changed delay:300ms"#));
    // The search box asks for the catalogue alone, filtered on the server.
    let p = c
        .htmx(&admin, "GET", "/console/applications?q=payc", &[])
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains(r#"data-preset="paycor""#), "{}", p.body);
    assert!(!p.body.contains(r#"data-preset="icehrm""#), "{}", p.body);
    assert!(!p.body.contains("<html"), "a fragment: {}", p.body);
    let p = c.get(Some(&admin), "/console/applications?q=csv").await;
    assert!(p.body.contains(r#"data-integration="hr""#), "by kind");
    // A viewer sees the catalogue without Add buttons or switches.
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), "/console/applications").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains(r#"data-preset="icehrm""#));
    assert!(!p.body.contains(r#"id="add-icehrm""#), "{}", p.body);
    assert!(!p.body.contains(r#"id="enable-hr""#));
}

#[tokio::test]
async fn an_added_application_keeps_its_token_write_only_and_the_file_its_comments() {
    let c = console("");
    let admin = c.browser("adam", Role::Admin);
    let p = c
        .get(Some(&admin), "/console/applications/new?kind=icehrm")
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for id in [
        r#"id="integration-form""#,
        r#"id="f-name""#,
        r#"id="f-kind""#,
        r#"id="f-base_url""#,
        r#"id="f-token""#,
        r#"id="save-integration""#,
    ] {
        assert!(p.body.contains(id), "{id}: {}", p.body);
    }
    const TOKEN: &str = "eyJ-very-secret-icehrm-token";
    let p = c
        .post_form(
            &admin,
            "/console/applications/new",
            &[
                ("name", "icehrm"),
                ("kind", "icehrm"),
                ("base_url", "http://127.0.0.1:1/app/api"),
                ("token", TOKEN),
            ],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        p.headers["location"],
        "/console/applications/icehrm?saved=1"
    );
    let text = c.config_text();
    assert!(text.contains("name = \"icehrm\""), "{text}");
    assert!(
        !text.contains(TOKEN),
        "the token is in a file, not the TOML"
    );
    assert!(
        text.contains("# The staff mapping."),
        "comments kept: {text}"
    );
    // No page shows it again; the form shows only that one is stored.
    let page = c
        .get(Some(&admin), "/console/applications/icehrm?saved=1")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("stored (type to replace)"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"id="test-get_employees""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("Authorization"));
    for uri in [
        "/console/applications",
        "/console/applications/icehrm",
        "/console/mappings/new?integration=icehrm",
        "/api/v1/integrations/icehrm",
        "/api/v1/config",
    ] {
        let p = c.get(Some(&admin), uri).await;
        assert!(!p.body.contains(TOKEN), "{uri} shows the token");
    }
    // Configure (authorization) with the token left empty keeps it; a new one replaces it.
    let p = c
        .post_form(
            &admin,
            "/console/applications/icehrm/auth",
            &[("base_url", "http://127.0.0.1:2/app/api"), ("token", "")],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let text = c.config_text();
    assert!(text.contains("http://127.0.0.1:2/app/api"), "{text}");
    assert!(text.contains("token = {"), "kept: {text}");
    // An invalid application: the form again with the API's reason; nothing saved.
    let before = c.config_text();
    let p = c
        .post_form(
            &admin,
            "/console/applications/new",
            &[("name", "bad"), ("kind", "nosuchkind"), ("token", TOKEN)],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains(r#"role="alert""#), "{}", p.body);
    assert!(!p.body.contains(TOKEN), "a typed secret is not echoed");
    assert_eq!(c.config_text(), before);
}

#[tokio::test]
async fn test_and_save_shows_the_fields_and_keeps_them_for_the_mapping_editor() {
    let c = console("");
    let op = c.browser("otto", Role::Operator);
    let page = c.get(Some(&op), "/console/applications/hr").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"id="test-rows""#), "{}", page.body);
    assert!(
        page.body.contains(r#"data-mapping="staff""#),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(r#"id="save-auth""#),
        "an operator cannot configure"
    );
    let p = c
        .htmx(
            &op,
            "POST",
            "/console/applications/hr/endpoints/rows/test",
            &[],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for f in ["id", "first", "last"] {
        assert!(
            p.body.contains(&format!(r#"data-field="{f}""#)),
            "{f}: {}",
            p.body
        );
    }
    assert!(p.body.contains("100%"), "fill rate: {}", p.body);
    assert!(p.body.contains("Lovelace"), "samples: {}", p.body);
    // Kept: the API gives them back, the page says when, the mapping editor offers them.
    let kept = c
        .get(Some(&op), "/api/v1/integrations/hr/endpoints/rows/fields")
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    let v: serde_json::Value = serde_json::from_str(&kept.body).unwrap();
    assert_eq!(v["records"], 2);
    assert_eq!(v["tested_by"], "otto");
    let names: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first", "id", "last"]);
    assert!(!kept.body.contains("Lovelace"), "no values are kept");
    let default = c
        .get(
            Some(&op),
            "/api/v1/integrations/hr/endpoints/default/fields",
        )
        .await;
    assert_eq!(default.status, StatusCode::OK, "{}", default.body);
    let page = c.get(Some(&op), "/console/applications/hr").await;
    assert!(page.body.contains("Last tested"), "{}", page.body);
    let editor = c
        .get(Some(&op), "/console/mappings/new?integration=hr")
        .await;
    assert_eq!(editor.status, StatusCode::OK, "{}", editor.body);
    assert!(
        editor.body.contains(r#"<option value="{first}">"#),
        "{}",
        editor.body
    );
    assert!(editor.body.contains(r#"data-hr-field="last""#));
}

#[tokio::test]
async fn a_viewer_gets_no_test_or_save_buttons_and_a_forged_post_is_refused() {
    let c = console(REST);
    let viewer = c.browser("vera", Role::Viewer);
    let page = c.get(Some(&viewer), "/console/applications/acme").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for hidden in [
        r#"id="test-employees""#,
        r#"id="save-auth""#,
        r#"id="add-endpoint""#,
        r#"id="save-endpoint-employees""#,
        r#"id="enable-switch""#,
    ] {
        assert!(!page.body.contains(hidden), "{hidden}: {}", page.body);
    }
    let before = c.config_text();
    for (uri, fields) in [
        ("/console/applications/hr/endpoints/rows/test", vec![]),
        (
            "/console/applications/new",
            vec![("name", "x"), ("kind", "csv"), ("path", "p.csv")],
        ),
        (
            "/console/applications/spare/enabled",
            vec![("enabled", "false")],
        ),
        (
            "/console/applications/acme/auth",
            vec![("base_url", "http://x")],
        ),
        (
            "/console/applications/acme/endpoints",
            vec![("ep_name", "x"), ("ep_path", "/x")],
        ),
    ] {
        let p = c.post_form(&viewer, uri, &fields, true).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{uri}: {}", p.body);
    }
    assert_eq!(c.config_text(), before, "nothing changed");
    assert!(
        c.get(
            Some(&viewer),
            "/api/v1/integrations/hr/endpoints/rows/fields"
        )
        .await
        .status
            == StatusCode::NOT_FOUND,
        "nothing tested"
    );
}

#[tokio::test]
async fn endpoints_offer_the_macros_they_may_use_and_are_added_and_saved() {
    let c = console(REST);
    let admin = c.browser("adam", Role::Admin);
    let m = c
        .get(Some(&admin), "/api/v1/integrations/acme/macros")
        .await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.body);
    let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
    let names: Vec<&str> = v["macros"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["companyName", "lastRunTime"]);
    let ep = &v["endpoints"][0];
    assert_eq!(ep["name"], "employees");
    assert_eq!(ep["preset"], false);
    let own: Vec<&str> = ep["macros"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(own, ["page", "limit"]);
    let page = c.get(Some(&admin), "/console/applications/acme").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(r#"data-insert="{companyName}" data-target="ep-employees-path""#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"data-insert="{page}""#));
    assert!(page.body.contains(r#"id="add-endpoint""#));
    assert!(
        page.body
            .contains("companies&#x2f;{companyName}&#x2f;employees")
    );
    // + Add API endpoint: its form, then the endpoint in the file (comments kept).
    let form = c
        .htmx(
            &admin,
            "GET",
            "/console/applications/acme/endpoints/new",
            &[],
        )
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(
        form.body.contains(r#"data-insert="{companyName}""#),
        "{}",
        form.body
    );
    let p = c
        .post_form(
            &admin,
            "/console/applications/acme/endpoints",
            &[
                ("ep_name", "details"),
                ("ep_method", "GET"),
                ("ep_path", "/companies/{companyName}/details"),
                ("ep_headers", "Accept: application/json"),
                ("ep_query", "active=true"),
                ("ep_key", "employee_id"),
                ("ep_paging", ""),
            ],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let text = c.config_text();
    assert!(text.contains("name = \"details\""), "{text}");
    assert!(text.contains("/companies/{companyName}/details"), "{text}");
    assert!(text.contains("# The Acme HR API."), "{text}");
    // Saving an endpoint keeps what its form does not show; a bad macro is the API's 422.
    let p = c
        .post_form(
            &admin,
            "/console/applications/acme/endpoints/employees",
            &[
                ("ep_name", "employees"),
                ("ep_method", "GET"),
                ("ep_path", "/companies/{nosuch}/employees"),
                ("ep_paging", r#"{"style": "page", "size": 50}"#),
            ],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("nosuch"), "{}", p.body);
    assert_eq!(c.config_text(), text, "nothing saved");
    // The application's own macros: saved, then offered by the chooser.
    assert!(page.body.contains("companyName=acme"), "{}", page.body);
    let p = c
        .post_form(
            &admin,
            "/console/applications/acme/macros",
            &[("macros", "companyName=acme\nregion=eu")],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert!(
        c.config_text().contains("region = \"eu\""),
        "{}",
        c.config_text()
    );
    let page = c.get(Some(&admin), "/console/applications/acme").await;
    assert!(
        page.body.contains(r#"data-insert="{region}""#),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn the_enable_switch_sets_enabled_and_refuses_while_a_mapping_uses_it() {
    let c = console(REST);
    let admin = c.browser("adam", Role::Admin);
    let before = c.config_text();
    let p = c
        .htmx(
            &admin,
            "POST",
            "/console/applications/hr/enabled",
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("disable mapping"), "{}", p.body);
    assert_eq!(c.config_text(), before);
    let p = c
        .htmx(
            &admin,
            "POST",
            "/console/applications/spare/enabled",
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(p.status, StatusCode::NO_CONTENT, "{}", p.body);
    assert!(p.headers.contains_key("hx-redirect"));
    let text = c.config_text();
    assert!(text.contains("enabled = false"), "{text}");
    let page = c.get(Some(&admin), "/console/applications").await;
    assert!(
        page.body.contains(r#"aria-checked="false""#),
        "{}",
        page.body
    );
}

/// The administrator's path on the IceHrm emulator: add IceHrm with its token, Test & Save
/// its preset endpoint, then build a mapping from the discovered fields, check a custom format
/// as typed, preview a person before saving, and save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icehrm_from_the_catalogue_to_a_saved_mapping() {
    use hrsync_emulator::icehrm::{self, IceHrmConfig, IceHrmState};
    let emu = IceHrmConfig {
        employees: 5,
        ..Default::default()
    };
    let state = IceHrmState::generate(&emu);
    let (addr, task) = icehrm::serve(state, "/app/api", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = console("");
    let admin = c.browser("adam", Role::Admin);
    let base = format!("http://{addr}/app/api");
    let p = c
        .post_form(
            &admin,
            "/console/applications/new",
            &[
                ("name", "icehrm"),
                ("kind", "icehrm"),
                ("base_url", &base),
                ("token", &emu.token),
            ],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = c
        .htmx(
            &admin,
            "POST",
            "/console/applications/icehrm/endpoints/get_employees/test",
            &[],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for f in ["employee_id", "first_name", "department.display"] {
        assert!(
            p.body.contains(&format!(r#"data-field="{f}""#)),
            "{f}: {}",
            p.body
        );
    }
    assert!(!p.body.contains(&emu.token), "the request is redacted");
    let editor = c
        .get(Some(&admin), "/console/mappings/new?integration=icehrm")
        .await;
    assert_eq!(editor.status, StatusCode::OK, "{}", editor.body);
    assert!(
        editor
            .body
            .contains(r#"<option value="{department.display}">"#)
    );
    let etag = editor.body[editor.body.find(r#"name="etag" value=""#).unwrap() + 19..]
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let check = c
        .htmx(
            &admin,
            "GET",
            "/console/mappings/format-check?integration=icehrm&attr_name=cn&attr_format=%7Bfirst_name%7D.%7Blast_nme%7Clower%7D",
            &[],
        )
        .await;
    assert!(
        check.body.contains(r#"class="format-error""#),
        "{}",
        check.body
    );
    assert!(check.body.contains("last_nme"), "{}", check.body);
    let form = |key: &'static str| {
        vec![
            ("original", String::new()),
            ("etag", etag.clone()),
            ("name", "icehrm-staff".into()),
            ("description", "Everyone in IceHrm".into()),
            ("category", "user-provisioning".into()),
            ("integration", "icehrm".into()),
            ("endpoint", "".into()),
            ("primary_key", "employee_id".into()),
            ("rdn_attribute", "uid".into()),
            ("leaver_when", "status == 'Terminated'".into()),
            ("attr_name", "uid".into()),
            ("attr_format", "{employee_id|lower}".into()),
            ("attr_name", "cn".into()),
            ("attr_format", "{first_name} {last_name}".into()),
            ("attr_name", "sn".into()),
            ("attr_format", "{last_name}".into()),
            ("attr_name", "departmentNumber".into()),
            ("attr_format", "{department.display}".into()),
            ("preview_key", key.into()),
        ]
    };
    let fields = form("EMP00002");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let before = c.config_text();
    let p = c
        .htmx(&admin, "POST", "/console/mappings/preview", &fields)
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        p.body.contains(r#"data-preview-key="EMP00002""#),
        "{}",
        p.body
    );
    assert!(
        p.body
            .contains(r#"data-preview-attribute="departmentNumber""#)
    );
    assert_eq!(c.config_text(), before, "a preview saves nothing");
    let p = c
        .post_form(&admin, "/console/mappings/save", &fields, true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let text = c.config_text();
    assert!(text.contains("name = \"icehrm-staff\""), "{text}");
    assert!(
        text.contains("departmentNumber = \"{department.display}\""),
        "{text}"
    );
    assert!(text.contains("# The staff mapping."), "{text}");
    assert!(!text.contains(&emu.token));
    task.abort();
}
