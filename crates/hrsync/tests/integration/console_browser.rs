//! A real browser for the web console's tests: Debian's chromium, headless, driven through
//! chromium-driver (WebDriver, started by `scripts/test.sh`, which exports
//! `HRSYNC_TEST_WEBDRIVER`). Every wait is bounded; a failed wait names what it waited for and
//! saves the page's source beside the test's other output.

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// How long a wait for an element or a text lasts at most.
const WAIT: Duration = Duration::from_secs(30);

pub(crate) struct Browser {
    pub(crate) c: Client,
    pub(crate) base: String,
    /// Every page source seen (to grep for secrets afterwards).
    pub(crate) seen: std::sync::Mutex<String>,
}

/// Where the screenshots of the main screens go (the README shows them).
pub(crate) fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

impl Browser {
    /// A new headless chromium of 1280×800 on `base` (`http://127.0.0.1:PORT`).
    pub(crate) async fn open(base: &str) -> Browser {
        Browser::open_sized(base, 1280, 800).await
    }

    pub(crate) async fn open_sized(base: &str, w: u32, h: u32) -> Browser {
        let url = std::env::var("HRSYNC_TEST_WEBDRIVER").expect(
            "HRSYNC_TEST_WEBDRIVER is not set: run the tests through scripts/test.sh, which installs chromium and starts chromium-driver",
        );
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", format!("--window-size={w},{h}"),
                "--lang=en-US"
            ]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot start chromium through {url}: {e}"));
        Browser {
            c,
            base: base.to_string(),
            seen: Default::default(),
        }
    }

    pub(crate) async fn goto(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
        self.remember().await;
    }

    /// The page's source (also kept for the secret grep).
    pub(crate) async fn source(&self) -> String {
        let s = self.c.source().await.unwrap_or_default();
        self.seen.lock().unwrap().push_str(&s);
        s
    }

    async fn remember(&self) {
        let _ = self.source().await;
    }

    /// Waits for an element matching `css`.
    pub(crate) async fn wait(&self, css: &str) -> Element {
        match self
            .c
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let src = self.source().await;
                panic!(
                    "no element {css} on {} after {WAIT:?} ({e}); the page:\n{}",
                    self.c
                        .current_url()
                        .await
                        .map(|u| u.to_string())
                        .unwrap_or_default(),
                    &src[..src.len().min(6000)]
                )
            }
        }
    }

    /// Waits until the text of `css` contains `want`; returns the text.
    pub(crate) async fn wait_text(&self, css: &str, want: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let text = match self.c.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(want) {
                self.remember().await;
                return text;
            }
            if tokio::time::Instant::now() > deadline {
                let src = self.source().await;
                panic!(
                    "{css} never contained {want:?} (last: {text:?}); the page:\n{}",
                    &src[..src.len().min(6000)]
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Whether an element matching `css` is on the page now.
    pub(crate) async fn has(&self, css: &str) -> bool {
        self.c.find(Locator::Css(css)).await.is_ok()
    }

    /// Types into the input of id `id` (cleared first).
    pub(crate) async fn fill(&self, id: &str, text: &str) {
        let e = self.wait(&format!("#{id}")).await;
        e.clear()
            .await
            .unwrap_or_else(|err| panic!("cannot clear #{id}: {err}"));
        e.send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("cannot type into #{id}: {err}"));
    }

    /// How many elements match `css`.
    pub(crate) async fn nth_count(&self, css: &str) -> usize {
        self.c
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    /// Types into the `n`th (from 0) element matching `css` (cleared first).
    pub(crate) async fn fill_nth(&self, css: &str, n: usize, text: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.nth_count(css).await <= n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let all = self.c.find_all(Locator::Css(css)).await.unwrap();
        let e = all
            .get(n)
            .unwrap_or_else(|| panic!("no element {n} of {css} (only {})", all.len()));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Chooses the option of value `value` in the select of id `id`.
    pub(crate) async fn select(&self, id: &str, value: &str) {
        let e = self.wait(&format!("#{id}")).await;
        if let Err(err) = e.select_by_value(value).await {
            let html = e.html(false).await.unwrap_or_default();
            panic!("cannot choose {value} in #{id}: {err}; the select: {html}");
        }
    }

    pub(crate) async fn click(&self, css: &str) {
        let e = self.wait(css).await;
        e.click()
            .await
            .unwrap_or_else(|err| panic!("cannot click {css}: {err}"));
    }

    /// Runs a script in the page (an `async` body whose last `arguments[0](value)` returns).
    pub(crate) async fn run_async(&self, script: &str) -> Value {
        self.c
            .execute_async(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Signs in through the sign-in page.
    pub(crate) async fn sign_in(&self, user: &str, password: &str) {
        self.goto("/console/login").await;
        self.fill("f-user", user).await;
        self.fill("f-password", password).await;
        self.click("form[action='/console/login'] button[type=submit]")
            .await;
        self.wait("nav.side").await;
        self.remember().await;
    }

    pub(crate) async fn sign_out(&self) {
        self.click("form[action='/console/logout'] button").await;
        self.wait("#f-user").await;
    }

    /// Saves a PNG of the page as docs/screenshots/NAME.png.
    pub(crate) async fn shot(&self, name: &str) {
        let png = self
            .c
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// A POST from the page's own JavaScript (same origin, the session cookie sent): the status.
    pub(crate) async fn forged_post(&self, path: &str, form: &str) -> u16 {
        let script = format!(
            "const done = arguments[0]; fetch({path:?}, {{method: 'POST', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: {form:?}, redirect: 'manual'}}).then(r => done(r.status)).catch(e => done(String(e)));"
        );
        let v = self.run_async(&script).await;
        v.as_u64()
            .unwrap_or_else(|| panic!("the forged POST did not answer: {v}")) as u16
    }

    pub(crate) async fn close(self) {
        let _ = self.c.close().await;
    }
}
