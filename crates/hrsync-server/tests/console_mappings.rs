//! The console's Mappings screens, in process: the list, the "Data Source – LDAP Attribute
//! Mapping" editor (fields offered from the last Test & Save, formats checked as you type, a
//! live preview of the unsaved definition), saving through the API (comments kept; an invalid
//! mapping refused inline with nothing saved), and roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_support;

use axum::http::StatusCode;
use hrsync_auth::Role;

/// The fixture, its directory password in a file so that the API can validate and save edits.
fn console() -> console_support::Console {
    let c = console_support::console("");
    std::fs::write(c.dir.path().join("bind.pw"), "secret").unwrap();
    let text = c.config_text().replace(
        r#"bind_password = { env = "HRSYNC_TEST_NOWHERE_PW" }"#,
        r#"bind_password = { file = "bind.pw" }"#,
    );
    std::fs::write(&c.config, text).unwrap();
    c
}

/// The hidden `etag` of the editor page.
fn etag_of(body: &str) -> String {
    let at = body.find(r#"name="etag" value=""#).expect("an etag field") + 19;
    body[at..].split('"').next().unwrap().to_string()
}

fn new_mapping<'a>(etag: &'a str, cn: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("original", ""),
        ("etag", etag),
        ("name", "contractors"),
        ("description", "Contractors from the CSV export"),
        ("category", "user-creation"),
        ("integration", "hr"),
        ("endpoint", "rows"),
        ("join", ""),
        ("primary_key", "id"),
        ("rdn_attribute", "uid"),
        ("scope_when", ""),
        ("out_of_scope", "ignore"),
        ("leaver_when", ""),
        ("attr_name", "uid"),
        ("attr_format", "c{id}"),
        ("attr_name", "cn"),
        ("attr_format", cn),
        ("attr_name", "sn"),
        ("attr_format", "{last}"),
        ("attr_name", ""),
        ("attr_format", ""),
        ("preview_key", ""),
    ]
}

#[tokio::test]
async fn the_list_and_the_editor_by_role() {
    let c = console();
    let admin = c.browser("adam", Role::Admin);
    let p = c.get(Some(&admin), "/console/mappings").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains(r#"data-mapping="staff""#), "{}", p.body);
    assert!(p.body.contains(r#"id="new-mapping""#));
    let p = c.get(Some(&admin), "/console/mappings/new").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for id in [
        r#"id="mapping-form""#,
        r#"id="f-name""#,
        r#"id="f-description""#,
        r#"id="f-category""#,
        r#"id="f-integration""#,
        r#"id="f-endpoint""#,
        r#"id="f-primary_key""#,
        r#"name="attr_name""#,
        r#"name="attr_format""#,
        r#"id="add-attribute""#,
        r#"id="f-preview_key""#,
        r#"id="preview""#,
        r#"id="preview-result""#,
        r#"id="save-mapping""#,
        r#"<option value="user-deletion">"#,
    ] {
        assert!(p.body.contains(id), "{id}: {}", p.body);
    }
    // "+ Mapping attribute" copies this row (console.js), its ids made unique.
    let tpl = &p.body[p.body.find(r#"<template id="attr-row-template">"#).unwrap()..];
    let tpl = &tpl[..tpl.find("</template>").unwrap()];
    assert!(
        tpl.contains(r#"id="attr-format-__n__" name="attr_format""#),
        "{tpl}"
    );
    assert!(tpl.contains(r#"list="hr-fields""#) && tpl.contains(r##"hx-target="#fc-__n__""##));
    assert!(
        p.body
            .contains(r#"data-add-row="attr-row-template" data-rows="attr-rows""#)
    );
    // The saved mapping in the editor.
    let p = c.get(Some(&admin), "/console/mappings/staff").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains(r#"value="{first} {last}""#), "{}", p.body);
    // A viewer reads it without Save, Preview or the format check; a forged save is refused.
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), "/console/mappings/staff").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for hidden in [
        r#"id="save-mapping""#,
        r#"id="preview""#,
        r#"id="add-attribute""#,
        "format-check\" hx-trigger",
    ] {
        assert!(!p.body.contains(hidden), "{hidden}: {}", p.body);
    }
    let p = c.get(Some(&viewer), "/console/mappings").await;
    assert!(!p.body.contains(r#"id="new-mapping""#));
    let before = c.config_text();
    let etag = etag_of(&c.get(Some(&admin), "/console/mappings/new").await.body);
    let p = c
        .post_form(
            &viewer,
            "/console/mappings/save",
            &new_mapping(&etag, "{first} {last}"),
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    let p = c
        .htmx(
            &viewer,
            "POST",
            "/console/mappings/preview",
            &[("preview_key", "1")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert_eq!(c.config_text(), before);
}

#[tokio::test]
async fn formats_are_checked_as_typed_against_the_discovered_fields() {
    let c = console();
    let op = c.browser("otto", Role::Operator);
    let check = |format: &'static str| {
        let c = &c;
        let op = op.clone();
        async move {
            let uri = format!(
                "/console/mappings/format-check?integration=hr&endpoint=rows&attr_name=cn&attr_format={}",
                urlencode(format)
            );
            c.htmx(&op, "GET", &uri, &[]).await
        }
    };
    let p = check("{first|nosuchfilter}").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains(r#"class="format-error""#), "{}", p.body);
    assert!(p.body.contains("nosuchfilter"), "{}", p.body);
    let p = check("{{ first ").await;
    assert!(p.body.contains(r#"class="format-error""#), "{}", p.body);
    let p = check("{first}.{last|lower}").await;
    assert!(p.body.contains("format-ok"), "{}", p.body);
    // Not tested yet: fields are not compared. After Test & Save, an unknown one is an error.
    let p = check("{frist}").await;
    assert!(p.body.contains("format-ok"), "{}", p.body);
    let t = c
        .htmx(
            &op,
            "POST",
            "/console/applications/hr/endpoints/rows/test",
            &[],
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    let p = check("{frist}").await;
    assert!(p.body.contains(r#"class="format-error""#), "{}", p.body);
    assert!(p.body.contains("frist"), "{}", p.body);
    let p = check("{first}").await;
    assert!(p.body.contains("format-ok"), "{}", p.body);
    // The API answers the same check.
    let p = c.get(Some(&op), "/console/mappings/new").await;
    assert!(p.body.contains(r#"<option value="{last}">"#), "{}", p.body);
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_string()
}

#[tokio::test]
async fn an_unsaved_mapping_is_previewed_then_saved_with_the_comments_kept() {
    let c = console();
    let admin = c.browser("adam", Role::Admin);
    let page = c.get(Some(&admin), "/console/mappings/new").await;
    let etag = etag_of(&page.body);
    let before = c.config_text();
    // Preview before saving: the explanation of person 1 with the typed formats.
    let mut fields = new_mapping(&etag, "{first} {last|upper}");
    for f in fields.iter_mut() {
        if f.0 == "preview_key" {
            f.1 = "1";
        }
    }
    let p = c
        .htmx(&admin, "POST", "/console/mappings/preview", &fields)
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("Ada LOVELACE"), "{}", p.body);
    assert!(
        p.body.contains(r#"data-preview-attribute="cn""#),
        "{}",
        p.body
    );
    assert_eq!(c.config_text(), before, "a preview saves nothing");
    // An invalid format: refused by the API, shown inline, nothing saved.
    let p = c
        .post_form(
            &admin,
            "/console/mappings/save",
            &new_mapping(&etag, "{first|nosuchfilter}"),
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains(r#"role="alert""#), "{}", p.body);
    assert!(p.body.contains("nosuchfilter"), "{}", p.body);
    assert!(p.body.contains("Nothing was saved"), "{}", p.body);
    let row = &p.body[p.body.find(r#"data-attribute="cn""#).unwrap()..];
    let row = &row[..row.find(r#"class="attr-row""#).unwrap_or(row.len())];
    assert!(
        row.contains(r#"class="format-error""#),
        "the error next to its row: {row}"
    );
    assert!(
        p.body.contains(r#"value="{first|nosuchfilter}""#),
        "the typed rows come back: {}",
        p.body
    );
    assert_eq!(c.config_text(), before);
    // Valid: saved, the file's comments kept, the new mapping in it.
    let p = c
        .post_form(
            &admin,
            "/console/mappings/save",
            &new_mapping(&etag, "{first} {last}"),
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        p.headers["location"],
        "/console/mappings/contractors?saved=1"
    );
    let text = c.config_text();
    assert!(text.contains("# The staff mapping."), "{text}");
    assert!(text.contains("name = \"contractors\""), "{text}");
    assert!(text.contains("category = \"user-creation\""), "{text}");
    assert!(text.contains("uid = \"c{id}\""), "{text}");
    let p = c
        .get(Some(&admin), "/console/mappings/contractors?saved=1")
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("Saved."), "{}", p.body);
    // A stale If-Match (the page read before that save) is refused.
    let p = c
        .post_form(
            &admin,
            "/console/mappings/save",
            &new_mapping(&etag, "{first}"),
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::PRECONDITION_FAILED, "{}", p.body);
}

#[tokio::test]
async fn editing_a_mapping_replaces_its_rows_and_keeps_the_rest() {
    let c = console();
    // A comment on an attribute and a key the editor does not show.
    let text = c
        .config_text()
        .replace(
            "uid = \"{id}\"",
            "# uid: the HR id, stable.\nuid = \"{id}\"",
        )
        .replace(
            "rdn_attribute = \"uid\"",
            "rdn_attribute = \"uid\"\nmatch_on = [\"cn\"]",
        );
    std::fs::write(&c.config, text).unwrap();
    let admin = c.browser("adam", Role::Admin);
    let page = c.get(Some(&admin), "/console/mappings/staff").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let etag = etag_of(&page.body);
    let p = c
        .post_form(
            &admin,
            "/console/mappings/save",
            &[
                ("original", "staff"),
                ("etag", &etag),
                ("name", "staff"),
                ("description", "All staff"),
                ("category", "user-provisioning"),
                ("integration", "hr"),
                ("endpoint", "rows"),
                ("join", ""),
                ("primary_key", "id"),
                ("rdn_attribute", "uid"),
                ("scope_when", ""),
                ("out_of_scope", "ignore"),
                ("leaver_when", ""),
                ("attr_name", "uid"),
                ("attr_format", "{id}"),
                ("attr_name", "cn"),
                ("attr_format", "{first}.{last|lower}"),
                ("attr_name", "sn"),
                ("attr_format", "{last}"),
                ("attr_name", "givenName"),
                ("attr_format", "{first}"),
            ],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let text = c.config_text();
    assert!(text.contains("# The staff mapping."), "{text}");
    assert!(text.contains("# uid: the HR id, stable."), "{text}");
    assert!(text.contains("match_on = [\"cn\"]"), "kept: {text}");
    assert!(text.contains("cn = \"{first}.{last|lower}\""), "{text}");
    assert!(text.contains("givenName = \"{first}\""), "{text}");
    assert!(text.contains("description = \"All staff\""), "{text}");
}
