//! Webhooks against a local axum receiver on 127.0.0.1 that records every request it gets and
//! answers from a script.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hrsync_model::Secret;
use hrsync_webhook::{
    Delivery, RetryPolicy, Webhook, WebhookConfig, WebhookError, client, deliver,
};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A hostile HR/directory value: quotes, apostrophe, markup, form separators, non-ASCII, a line
/// break and a closing brace.
const HOSTILE: &str = "Zoë \"Z\" O'Brien <x>&y=1\n}";

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Raw (still percent-encoded) path.
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: format!("{{\"status\": {status}}}"),
        delay: Duration::ZERO,
    }
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

struct Receiver {
    base: String,
    shared: Shared,
}

impl Receiver {
    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn record(State(s): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    s.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    // After the script runs out: 200.
    let r = s.script.lock().unwrap().pop_front().unwrap_or(reply(200));
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let mut resp = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    for (k, v) in r.headers {
        resp.headers_mut().insert(
            HeaderName::from_static(k),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    resp
}

/// Starts a receiver answering with `script`, then 200.
async fn receiver(script: Vec<Reply>) -> Receiver {
    let shared = Shared::default();
    shared.script.lock().unwrap().extend(script);
    let app = Router::new().fallback(record).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver {
        base: format!("http://{addr}"),
        shared,
    }
}

fn hook(toml_text: &str) -> Webhook {
    #[derive(serde::Deserialize)]
    struct File {
        webhook: Vec<WebhookConfig>,
    }
    let f: File = toml::from_str(toml_text).unwrap();
    Webhook::compile(&f.webhook[0]).unwrap()
}

fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_wait: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

/// Paycor's manners with short waits.
fn paycor_fast() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_wait: Duration::from_millis(50),
        wait_on_429: Some(Duration::from_millis(40)),
        ..RetryPolicy::paycor()
    }
}

/// Renders and delivers `h` with `values`, no secrets, no idempotency key.
async fn send(h: &Webhook, values: &BTreeMap<String, String>) -> Delivery {
    let p = h.render(values).unwrap();
    deliver(&client().unwrap(), h, &p, &[], None, &fast()).await
}

/// Unescapes XML text (the five entities and numeric character references).
fn xml_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').unwrap() + i;
        let ent = &rest[i + 1..end];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ if ent.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&ent[2..], 16).unwrap()).unwrap()
            }
            _ if ent.starts_with('#') => char::from_u32(ent[1..].parse().unwrap()).unwrap(),
            other => panic!("unknown entity &{other};"),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The text of the only `<name>…</name>` element.
fn xml_text<'a>(doc: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    assert_eq!(doc.matches(&open).count(), 1, "{doc}");
    let start = doc.find(&open).unwrap() + open.len();
    let end = doc.find(&close).unwrap();
    &doc[start..end]
}

#[tokio::test]
async fn json_body_carries_a_hostile_value_exactly() {
    let r = receiver(vec![]).await;
    let h = hook(&format!(
        r#"
[[webhook]]
name = "icehrm-writeback"
method = "PUT"
url = "{}/app/api/employees/{{hr.id}}"
headers = {{ "X-Source" = "hrsync {{event}}" }}
query = {{ notify = "{{user.cn}}" }}
message_type = "json"
body = '{{"work_email": "{{user.mail}}", "note": "by hrsync", "tags": ["{{hr.department.display}}"]}}'
"#,
        r.base
    ));
    let d = send(
        &h,
        &vals(&[
            ("hr.id", "42"),
            ("event", "joiner"),
            ("user.cn", HOSTILE),
            ("user.mail", HOSTILE),
            ("hr.department.display", HOSTILE),
        ]),
    )
    .await;
    assert!(d.ok, "{}", d.render_text());
    assert_eq!((d.attempts, d.status), (1, Some(200)));
    let seen = r.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, "PUT");
    assert_eq!(s.path, "/app/api/employees/42");
    assert_eq!(s.header("content-type"), Some("application/json"));
    assert_eq!(s.header("x-source"), Some("hrsync joiner"));
    let q: Vec<(String, String)> =
        url::form_urlencoded::parse(s.query.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(q, [("notify".to_string(), HOSTILE.to_string())]);
    let v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
    assert_eq!(v["work_email"], HOSTILE);
    assert_eq!(v["note"], "by hrsync");
    assert_eq!(v["tags"], serde_json::json!([HOSTILE]));
    assert_eq!(v.as_object().unwrap().len(), 3, "no field added");
    assert_eq!(d.request.body.as_deref(), Some(s.body.as_str()));
}

#[tokio::test]
async fn xml_body_carries_a_hostile_value_exactly() {
    let r = receiver(vec![]).await;
    let h = hook(&format!(
        r#"
[[webhook]]
name = "xml-hook"
method = "POST"
url = "{}/hr/update"
message_type = "xml"
body = '<employee id="{{hr.id}}"><mail>{{user.mail}}</mail><note>by hrsync</note></employee>'
"#,
        r.base
    ));
    let d = send(&h, &vals(&[("hr.id", HOSTILE), ("user.mail", HOSTILE)])).await;
    assert!(d.ok, "{}", d.render_text());
    let s = &r.seen()[0];
    assert_eq!(s.header("content-type"), Some("application/xml"));
    let doc = &s.body;
    // Exactly three elements: three opening and three closing tags, nothing injected.
    assert_eq!(doc.matches('<').count(), 6, "{doc}");
    assert_eq!(doc.matches('>').count(), 6, "{doc}");
    assert_eq!(doc.matches("</").count(), 3, "{doc}");
    assert_eq!(xml_unescape(xml_text(doc, "mail")), HOSTILE);
    assert_eq!(xml_text(doc, "note"), "by hrsync");
    let attr_start = doc.find("id=\"").unwrap() + 4;
    let attr_end = doc[attr_start..].find('"').unwrap() + attr_start;
    assert_eq!(xml_unescape(&doc[attr_start..attr_end]), HOSTILE);

    // A control character XML cannot carry is refused before anything is sent.
    let e = h
        .render(&vals(&[("hr.id", "1"), ("user.mail", "a\u{1}b")]))
        .unwrap_err();
    assert!(e.to_string().contains("xml-hook") && e.to_string().contains("{user.mail}"));
}

#[tokio::test]
async fn form_body_carries_a_hostile_value_exactly() {
    let r = receiver(vec![]).await;
    let h = hook(&format!(
        r#"
[[webhook]]
name = "form-hook"
method = "POST"
url = "{}/hr/form"
message_type = "form"
body = "work_email={{user.mail}}&note=by+hrsync&{{hr.field}}=1"
"#,
        r.base
    ));
    let d = send(&h, &vals(&[("user.mail", HOSTILE), ("hr.field", "a=b&c")])).await;
    assert!(d.ok, "{}", d.render_text());
    let s = &r.seen()[0];
    assert_eq!(
        s.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(s.body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        pairs,
        [
            ("work_email".to_string(), HOSTILE.to_string()),
            ("note".into(), "by hrsync".into()),
            ("a=b&c".into(), "1".into()),
        ]
    );
}

#[tokio::test]
async fn header_macro_with_a_newline_is_refused() {
    let h = hook(
        r#"
[[webhook]]
name = "hdr"
method = "POST"
url = "http://127.0.0.1:9/x"
headers = { "X-Name" = "{user.cn}" }
"#,
    );
    for bad in [HOSTILE, "a\r\nX-Evil: 1", "a\rb", "a\u{0}b"] {
        let e = h.render(&vals(&[("user.cn", bad)])).unwrap_err();
        assert!(
            matches!(&e, WebhookError::Render { field, .. } if field == "headers.X-Name"),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.contains("hdr") && text.contains("{user.cn}"), "{text}");
    }
    // Non-ASCII without line breaks is fine.
    let p = h.render(&vals(&[("user.cn", "Zoë O'Brien")])).unwrap();
    assert_eq!(p.headers, [("X-Name".into(), "Zoë O'Brien".into())]);
}

#[tokio::test]
async fn path_macros_are_encoded_and_never_change_the_path() {
    let r = receiver(vec![]).await;
    let h = hook(&format!(
        r#"
[[webhook]]
name = "path"
method = "DELETE"
url = "{}/api/employees/{{hr.id}}/mail"
"#,
        r.base
    ));
    for (id, expected) in [
        ("../x", "/api/employees/..%2Fx/mail"),
        ("/", "/api/employees/%2F/mail"),
        ("a/b?c=d#e", "/api/employees/a%2Fb%3Fc%3Dd%23e/mail"),
        ("../../admin", "/api/employees/..%2F..%2Fadmin/mail"),
        ("Zoë O'Brien", "/api/employees/Zo%C3%AB%20O%27Brien/mail"),
    ] {
        let d = send(&h, &vals(&[("hr.id", id)])).await;
        assert!(d.ok, "{}", d.render_text());
        let seen = r.seen();
        let s = seen.last().unwrap();
        assert_eq!(s.path, expected, "{id}");
        assert_eq!(s.query, None);
        assert_eq!(
            s.path.split('/').count(),
            5,
            "{id}: same number of segments"
        );
    }
    // `.` and `..` alone stay dot segments even encoded: refused.
    for id in [".", ".."] {
        assert!(h.render(&vals(&[("hr.id", id)])).is_err(), "{id}");
    }
}

#[tokio::test]
async fn secret_headers_reach_the_server_but_are_redacted_everywhere() {
    const TOKEN: &str = "s3cr3t-bearer-token-9f8e7d";
    const API_KEY: &str = "api-key-0a1b2c3d4e";
    // The server echoes the API key back: it is scrubbed from the recorded response too.
    let mut echo = reply(200);
    echo.body = format!("{{\"you_sent\": \"{API_KEY}\"}}");
    let r = receiver(vec![echo]).await;
    let h = hook(&format!(
        r#"
[[webhook]]
name = "secret-hook"
method = "POST"
url = "{}/hook"
body = '{{"a": "{{key}}"}}'
auth = "icehrm"
"#,
        r.base
    ));
    let p = h.render(&vals(&[("key", "E1")])).unwrap();
    let secrets = vec![
        (
            "Authorization".to_string(),
            Secret::new(format!("Bearer {TOKEN}")),
        ),
        ("X-Api-Key".to_string(), Secret::new(API_KEY)),
    ];
    let d = deliver(&client().unwrap(), &h, &p, &secrets, None, &fast()).await;
    assert!(d.ok, "{}", d.render_text());

    let s = &r.seen()[0];
    assert_eq!(
        s.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(s.header("x-api-key"), Some(API_KEY));

    let shown: BTreeMap<_, _> = d.request.headers.iter().cloned().collect();
    assert_eq!(shown["Authorization"], "[redacted]");
    assert_eq!(shown["X-Api-Key"], "[redacted]");
    assert_eq!(shown["Content-Type"], "application/json");
    assert!(
        d.response_body.contains("[redacted]"),
        "{}",
        d.response_body
    );

    let text = d.render_text();
    assert!(text.contains("> Authorization: [redacted]"), "{text}");
    assert!(text.contains("> X-Api-Key: [redacted]"), "{text}");
    let debug = format!("{d:?}");
    let json = serde_json::to_string(&d).unwrap();
    for secret in [TOKEN, API_KEY] {
        assert!(!debug.contains(secret), "Debug leaks");
        assert!(!json.contains(secret), "JSON leaks");
        assert!(!text.contains(secret), "render_text leaks");
    }
}

#[tokio::test]
async fn post_answered_500_is_sent_once_and_not_retried() {
    let r = receiver(vec![reply(500), reply(500), reply(500)]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"icehrm-writeback\"\nmethod = \"POST\"\nurl = \"{}/x\"\nbody = '{{\"a\": \"b\"}}'\n",
        r.base
    ));
    let d = send(&h, &BTreeMap::new()).await;
    assert_eq!(r.seen().len(), 1);
    assert!(!d.ok);
    assert_eq!((d.attempts, d.status), (1, Some(500)));
    assert_eq!(
        d.error.as_deref(),
        Some(
            "webhook icehrm-writeback: HTTP 500 Internal Server Error after 1 attempt (POST is not idempotent, not retried)"
        )
    );
    assert_eq!(d.notes.len(), 1);
    assert!(
        d.notes[0].contains("not retried") && d.notes[0].contains("not idempotent"),
        "{:?}",
        d.notes
    );
    assert!(d.response_body.contains("500"));
}

#[tokio::test]
async fn put_answered_500_500_200_is_retried_until_ok() {
    let r = receiver(vec![reply(500), reply(502), reply(200)]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"put\"\nmethod = \"PUT\"\nurl = \"{}/x\"\nbody = '{{\"a\": \"b\"}}'\n",
        r.base
    ));
    let d = send(&h, &BTreeMap::new()).await;
    assert!(d.ok, "{}", d.render_text());
    assert_eq!(
        (d.attempts, d.status, d.error.as_deref()),
        (3, Some(200), None)
    );
    let seen = r.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.body == r#"{"a":"b"}"#));
    assert_eq!(d.notes.len(), 2);
    assert!(
        d.notes
            .iter()
            .all(|n| n.contains("PUT is idempotent") && n.contains("retrying"))
    );
}

#[tokio::test]
async fn put_answered_500_gives_up_after_max_attempts() {
    let r = receiver(vec![reply(500); 5]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"put\"\nmethod = \"PUT\"\nurl = \"{}/x\"\nmax_attempts = 2\n",
        r.base
    ));
    let d = send(&h, &BTreeMap::new()).await;
    assert_eq!(r.seen().len(), 2);
    assert!(!d.ok);
    let e = d.error.unwrap();
    assert!(
        e.starts_with("webhook put: HTTP 500")
            && e.contains("2 attempts")
            && e.contains("max_attempts = 2"),
        "{e}"
    );
}

#[tokio::test]
async fn post_with_an_idempotency_key_is_retried_with_the_same_key() {
    let r = receiver(vec![reply(500), reply(503)]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"post-key\"\nmethod = \"POST\"\nurl = \"{}/x\"\nbody = '{{\"k\": \"{{key}}\"}}'\n",
        r.base
    ));
    assert!(!h.idempotent());
    let p = h.render(&vals(&[("key", "E1")])).unwrap();
    let d = deliver(
        &client().unwrap(),
        &h,
        &p,
        &[],
        Some("hrsync-run7-E1-writeback"),
        &fast(),
    )
    .await;
    assert!(d.ok, "{}", d.render_text());
    assert_eq!(d.attempts, 3);
    let seen = r.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(
            s.header("idempotency-key"),
            Some("hrsync-run7-E1-writeback")
        );
    }
    assert!(d.notes[0].contains("Idempotency-Key"), "{:?}", d.notes);
    assert!(
        d.request
            .headers
            .contains(&("Idempotency-Key".into(), "hrsync-run7-E1-writeback".into()))
    );
}

#[tokio::test]
async fn too_many_requests_with_retry_after_is_retried_even_for_post() {
    let mut busy = reply(429);
    busy.headers.push(("retry-after", "0".into()));
    let r = receiver(vec![busy]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"busy\"\nmethod = \"POST\"\nurl = \"{}/x\"\nbody = '{{}}'\n",
        r.base
    ));
    let d = send(&h, &BTreeMap::new()).await;
    assert!(d.ok, "{}", d.render_text());
    assert_eq!(r.seen().len(), 2);
    assert!(
        d.notes[0].contains("429") && d.notes[0].contains("Retry-After: 0 s"),
        "{:?}",
        d.notes
    );
}

#[tokio::test]
async fn retry_after_is_capped_by_max_wait() {
    let mut busy = reply(503);
    busy.headers.push(("retry-after", "3600".into()));
    let r = receiver(vec![busy]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"busy\"\nmethod = \"POST\"\nurl = \"{}/x\"\nbody = '{{}}'\n",
        r.base
    ));
    let started = std::time::Instant::now();
    let d = send(&h, &BTreeMap::new()).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(d.ok, "{}", d.render_text());
    assert_eq!(r.seen().len(), 2);
    assert!(d.notes[0].contains("capped"), "{:?}", d.notes);
}

#[tokio::test]
async fn service_unavailable_without_retry_after_is_not_retried_for_post() {
    let r = receiver(vec![reply(503)]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"down\"\nmethod = \"POST\"\nurl = \"{}/x\"\nbody = '{{}}'\n",
        r.base
    ));
    let d = send(&h, &BTreeMap::new()).await;
    assert!(!d.ok);
    assert_eq!(r.seen().len(), 1);
}

#[tokio::test]
async fn connect_refused_is_retried_max_attempts_times() {
    // A port that was just free: nothing listens on it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let h = hook(&format!(
        "[[webhook]]\nname = \"nowhere\"\nmethod = \"POST\"\nurl = \"http://127.0.0.1:{port}/x\"\nbody = '{{}}'\nmax_attempts = 4\n"
    ));
    let d = send(&h, &BTreeMap::new()).await;
    assert!(!d.ok);
    assert_eq!(d.attempts, 4);
    assert_eq!(d.status, None);
    let e = d.error.as_deref().unwrap();
    assert!(e.starts_with("webhook nowhere: cannot connect"), "{e}");
    assert!(e.contains("4 attempts"), "{e}");
    assert_eq!(d.notes.len(), 4);
    assert!(
        d.notes[0].contains("never reached the server"),
        "{:?}",
        d.notes
    );
    assert!(d.render_text().contains("(no response)"));
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    let r = receiver(vec![reply(400), reply(200)]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"bad\"\nmethod = \"PUT\"\nurl = \"{}/x\"\nbody = '{{}}'\n",
        r.base
    ));
    let d = send(&h, &BTreeMap::new()).await;
    assert!(!d.ok);
    assert_eq!(r.seen().len(), 1);
    assert_eq!((d.attempts, d.status), (1, Some(400)));
    assert!(
        d.error
            .unwrap()
            .contains("HTTP 400 Bad Request after 1 attempt (client error, not retried)")
    );
}

#[tokio::test]
async fn a_timed_out_post_is_not_retried_but_a_put_is() {
    let mut slow = reply(200);
    slow.delay = Duration::from_millis(2500);
    let r = receiver(vec![slow.clone(), slow]).await;
    let post = hook(&format!(
        "[[webhook]]\nname = \"slow-post\"\nmethod = \"POST\"\nurl = \"{}/x\"\nbody = '{{}}'\ntimeout_secs = 1\n",
        r.base
    ));
    let d = send(&post, &BTreeMap::new()).await;
    assert!(!d.ok);
    assert_eq!(d.attempts, 1);
    assert!(
        d.error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        d.error
    );
    assert!(d.notes[0].contains("not retried"), "{:?}", d.notes);

    let put = hook(&format!(
        "[[webhook]]\nname = \"slow-put\"\nmethod = \"PUT\"\nurl = \"{}/x\"\nbody = '{{}}'\ntimeout_secs = 1\n",
        r.base
    ));
    // The second slow reply times out; the third answers at once.
    let d = send(&put, &BTreeMap::new()).await;
    assert!(d.ok, "{}", d.render_text());
    assert_eq!(d.attempts, 2);
    assert_eq!(r.seen().len(), 3);
}

#[tokio::test]
async fn a_large_response_body_is_cut_with_a_note() {
    let mut big = reply(200);
    big.body = "é".repeat(40_000); // 80 000 bytes
    let r = receiver(vec![big]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"big\"\nmethod = \"GET\"\nurl = \"{}/x\"\n",
        r.base
    ));
    let d = send(&h, &BTreeMap::new()).await;
    assert!(d.ok);
    assert!(d.response_body.len() <= 64 * 1024);
    assert!(d.response_body.chars().all(|c| c == 'é'));
    assert!(
        d.notes.iter().any(|n| n.contains("cut at 65536")),
        "{:?}",
        d.notes
    );
}

#[tokio::test]
async fn render_text_shows_request_and_response() {
    let mut created = reply(201);
    created.headers.push(("x-request-id", "r-1".into()));
    created.body = "{\"id\": 7}".into();
    let r = receiver(vec![created]).await;
    let h = hook(&format!(
        r#"
[[webhook]]
name = "icehrm-writeback"
method = "POST"
url = "{}/employees/{{hr.id}}"
headers = {{ "X-Source" = "hrsync {{event}}" }}
body = '{{"work_email": "{{user.mail}}"}}'
"#,
        r.base
    ));
    let d = send(
        &h,
        &vals(&[
            ("hr.id", "42"),
            ("event", "joiner"),
            ("user.mail", "z@x.org"),
        ]),
    )
    .await;
    let text = d.render_text();
    let expected_start = format!(
        "webhook icehrm-writeback\n> POST {}/employees/42\n> Content-Type: application/json\n> X-Source: hrsync joiner\n>\n> {{\"work_email\":\"z@x.org\"}}\n\n< HTTP 201 Created\n",
        r.base
    );
    assert!(text.starts_with(&expected_start), "{text}");
    assert!(text.contains("< x-request-id: r-1\n"), "{text}");
    assert!(text.contains("<\n< {\"id\": 7}\n"), "{text}");
    assert!(text.contains("ok: 1 attempt, "), "{text}");
    let json: serde_json::Value = serde_json::to_value(&d).unwrap();
    assert_eq!(json["status"], 201);
    assert_eq!(json["request"]["method"], "POST");
    assert_eq!(json["ok"], true);
}

#[tokio::test]
async fn an_idempotency_key_header_in_the_config_also_makes_post_retryable() {
    let r = receiver(vec![reply(500)]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"cfg-key\"\nmethod = \"POST\"\nurl = \"{}/x\"\nbody = '{{}}'\nheaders = {{ \"Idempotency-Key\" = \"hrsync-{{event}}-{{key}}\", \"X-Api-Key\" = \"placeholder\" }}\n",
        r.base
    ));
    assert!(h.has_idempotency_header() && !h.idempotent());
    let p = h
        .render(&vals(&[("event", "joiner"), ("key", "E1")]))
        .unwrap();
    let secrets = [("x-api-key".to_string(), Secret::new("real-key-123456"))];
    let d = deliver(&client().unwrap(), &h, &p, &secrets, None, &fast()).await;
    assert!(d.ok, "{}", d.render_text());
    let seen = r.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.header("idempotency-key"), Some("hrsync-joiner-E1"));
        // The secret header replaces the config header of the same name.
        let keys: Vec<_> = s
            .headers
            .iter()
            .filter(|(k, _)| k == "x-api-key")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(keys, ["real-key-123456"]);
    }
    assert!(!format!("{d:?}").contains("real-key-123456"));
    assert!(!format!("{d:?}").contains("placeholder"));
}

// ---- Paycor's manners (webhooks that borrow a Paycor integration). ----

#[test]
fn paycor_policy_waits_60_s_on_a_bare_429_and_needs_an_opt_in_for_5xx() {
    let p = RetryPolicy::paycor();
    assert_eq!(p.wait_on_429, Some(Duration::from_secs(60)));
    assert!(p.max_wait >= Duration::from_secs(60));
    assert!(p.server_errors_need_opt_in);
    let d = RetryPolicy::default();
    assert_eq!(d.wait_on_429, None);
    assert!(!d.server_errors_need_opt_in);
}

#[tokio::test]
async fn paycor_put_answered_500_is_not_retried_unless_configured() {
    let r = receiver(vec![reply(500), reply(200)]).await;
    let text = format!(
        "[[webhook]]\nname = \"put\"\nmethod = \"PUT\"\nurl = \"{}/x\"\n",
        r.base
    );
    let h = hook(&text);
    let p = h.render(&BTreeMap::new()).unwrap();
    let d = deliver(&client().unwrap(), &h, &p, &[], None, &paycor_fast()).await;
    assert_eq!(
        r.seen().len(),
        1,
        "a PUT is idempotent, but Paycor asks not to repeat it"
    );
    assert!(!d.ok);
    let e = d.error.unwrap();
    assert!(e.contains("HTTP 500") && e.contains("not retried"), "{e}");
    assert!(
        d.notes[0].contains("set idempotent = true"),
        "{:?}",
        d.notes
    );

    // With idempotent = true in the config it is retried.
    let r = receiver(vec![reply(500), reply(200)]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"put\"\nmethod = \"PUT\"\nurl = \"{}/x\"\nidempotent = true\n",
        r.base
    ));
    let p = h.render(&BTreeMap::new()).unwrap();
    let d = deliver(&client().unwrap(), &h, &p, &[], None, &paycor_fast()).await;
    assert!(d.ok, "{}", d.render_text());
    assert_eq!(r.seen().len(), 2);
}

#[tokio::test]
async fn paycor_429_without_retry_after_waits_the_api_s_window() {
    let r = receiver(vec![reply(429), reply(200)]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"post\"\nmethod = \"POST\"\nurl = \"{}/x\"\n",
        r.base
    ));
    let p = h.render(&BTreeMap::new()).unwrap();
    let d = deliver(&client().unwrap(), &h, &p, &[], None, &paycor_fast()).await;
    assert!(d.ok, "{}", d.render_text());
    assert!(
        d.notes[0].contains("retrying in 40 ms") && d.notes[0].contains("no Retry-After"),
        "{:?}",
        d.notes
    );
    // The default policy backs off instead (1 ms base here).
    let r = receiver(vec![reply(429), reply(200)]).await;
    let h = hook(&format!(
        "[[webhook]]\nname = \"post\"\nmethod = \"POST\"\nurl = \"{}/x\"\n",
        r.base
    ));
    let p = h.render(&BTreeMap::new()).unwrap();
    let d = deliver(&client().unwrap(), &h, &p, &[], None, &fast()).await;
    assert!(d.ok);
    assert!(!d.notes[0].contains("retrying in 40 ms"), "{:?}", d.notes);
}
