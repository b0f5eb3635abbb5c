//! The phone page in a real browser: Debian's headless Chromium, driven
//! over WebDriver (chromedriver, through fantoccini; what WebDriver has no
//! verb for through chromedriver's DevTools passthrough), against a real
//! daemon whose remote listener is on loopback. The tests walk what a
//! person does with a phone: pair by opening the QR code's URL, see a run
//! waiting for a diff, approve it, reject the next with a reason, answer
//! questions (text, a whole number, yes or no, a number, a choice, each
//! refused as `m reply` refuses it), cancel a run, and be told when the
//! browser was unpaired; see a command's arguments and directory, an
//! approval decided at the terminal, and a tap that came too late; follow
//! a run across a daemon restart; read the page in dark mode and at 200%
//! text, and use it by keyboard and through its accessibility tree. They
//! check that a hostile diff is shown as text and runs nothing, and save a
//! screenshot of the approval screen on a 390×844 viewport (docs/phone.png
//! is one).
//!
//! Chromium and chromedriver come from Debian's `chromium` and
//! `chromium-driver`, which .ci/run installs; without them the test fails
//! saying so. It is never skipped.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestEnv;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-acp-agent");
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// What a person waits at most for the page to show something.
const PATIENCE: Duration = Duration::from_secs(30);

/// chromedriver, ended with the test.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(log: &Path) -> Driver {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "{path} is not installed: the phone page's browser test needs Debian's \
             `{package}` (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port}; its log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    driver
}

/// A headless Chromium with a phone's viewport (390×844), that takes the
/// daemon's self-signed certificate as the pairing's fingerprint would
/// have the app take it.
async fn browser(driver: &Driver, profile: &Path) -> Client {
    let capabilities = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=390,844",
                format!("--user-data-dir={}", profile.display()),
            ],
            "mobileEmulation": {
                "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2.0 }
            }
        }
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session in headless Chromium")
}

/// Waits for what the page shows to satisfy `check` (the page updates as
/// events arrive); fails naming what it waited for, with the page's text.
async fn until<F, Fut>(page: &Client, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        if Instant::now() > deadline {
            let text = body_text(page).await;
            panic!("the page never showed {what}; it shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn body_text(page: &Client) -> String {
    match page.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn script(page: &Client, js: &str) -> Value {
    page.execute(js, vec![]).await.expect(js)
}

/// The button with exactly this label.
async fn button(page: &Client, label: &str) -> fantoccini::elements::Element {
    let xpath = format!("//button[normalize-space()='{label}' and not(@hidden)]");
    let mut found = None;
    until(page, &format!("a button '{label}'"), || {
        let xpath = xpath.clone();
        async move {
            match page.find(Locator::XPath(&xpath)).await {
                Ok(element) => element.is_displayed().await.unwrap_or(false),
                Err(_) => false,
            }
        }
    })
    .await;
    if let Ok(element) = page.find(Locator::XPath(&xpath)).await {
        found = Some(element);
    }
    found.unwrap()
}

async fn shows(page: &Client, text: &str) -> bool {
    body_text(page).await.contains(text)
}

/// The page never scrolls sideways: nothing is wider than the screen.
async fn fits_the_width(page: &Client) -> bool {
    script(
        page,
        "return document.documentElement.scrollWidth <= window.innerWidth",
    )
    .await
        == json!(true)
}

fn eventually_output(env: &TestEnv, run: &str, line: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let lines = env.output_lines(run);
        if lines.iter().any(|l| l == line) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} never printed {line:?}; it printed {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Chrome DevTools Protocol command, through chromedriver's passthrough
/// (`goog/cdp/execute`): what WebDriver has no verb for (colour scheme,
/// font size, the accessibility tree, holding a request).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

async fn cdp(page: &Client, cmd: &'static str, params: Value) -> Value {
    page.issue_cmd(Cdp { cmd, params })
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// A test's daemon with its remote listener on `listen`, and a repo `web`.
fn daemon(listen: &str) -> TestEnv {
    let env = TestEnv::new();
    env.write_config(&format!("[remote]\nlisten = \"{listen}\"\n"));
    env.ok(&["daemon", "start"]);
    env.repo("web");
    env
}

/// Starts a run of the fake ACP agent playing `scenario` on the repo `web`.
fn start_acp(env: &TestEnv, prompt: &str, options: &[&str], scenario: &str) -> String {
    let mut args = vec!["run", "start", "-r", "web", prompt, "--acp"];
    args.extend_from_slice(options);
    args.extend(["--", FAKE, scenario]);
    env.ok(&args).trim().to_string()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A browser paired with the test's daemon, as a person pairs one: by
/// opening the URL of `m device pair`'s QR code.
struct Phone {
    page: Client,
    origin: String,
    _driver: Driver,
}

impl Phone {
    async fn pair(env: &TestEnv) -> Phone {
        let offer = env.json(&["device", "pair", "--json", "--name", "browser"]);
        let url = offer["url"].as_str().unwrap().to_string();
        let origin = url.split("/pair#").next().unwrap().to_string();
        let work = env.dir.path();
        let driver = start_driver(&work.join("chromedriver.log"));
        let page = browser(&driver, &work.join("chromium-profile")).await;
        page.goto(&url).await.unwrap();
        until(&page, "that it paired", || async {
            script(&page, "return localStorage.getItem('m.token')")
                .await
                .is_string()
        })
        .await;
        Phone {
            page,
            origin,
            _driver: driver,
        }
    }

    async fn open_run(&self, run: &str) {
        self.page
            .goto(&format!("{}/#/runs/{run}", self.origin))
            .await
            .unwrap();
    }

    async fn close(self) {
        let _ = self.page.close().await;
    }
}

/// The button `label` on the card of this approval.
async fn card_button(page: &Client, approval: &str, label: &str) -> fantoccini::elements::Element {
    let xpath =
        format!("//section[@data-approval='{approval}']//button[normalize-space()='{label}']");
    page.find(Locator::XPath(&xpath)).await.unwrap()
}

/// How many buttons the card of this approval offers.
async fn card_buttons(page: &Client, approval: &str) -> Value {
    script(
        page,
        &format!(
            "return document.querySelectorAll(\".approval[data-approval='{approval}'] button\").length"
        ),
    )
    .await
}

/// The text of the approval card of this approval.
async fn card_text(page: &Client, approval: &str) -> String {
    match page
        .find(Locator::Css(&format!(
            ".approval[data-approval='{approval}']"
        )))
        .await
    {
        Ok(card) => card.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn pending_approval(env: &TestEnv, run: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(a) = env
            .approvals_of(run)
            .into_iter()
            .find(|a| a["state"] == "pending")
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} never asked for an approval"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The seqs of the events the run page lists, in order.
async fn shown_seqs(page: &Client) -> Vec<i64> {
    let seqs = script(
        page,
        "return [...document.querySelectorAll('ol.events li')].map(li => Number(li.dataset.seq))",
    )
    .await;
    serde_json::from_value(seqs).unwrap()
}

fn stored_seqs(env: &TestEnv, run: &str) -> Vec<i64> {
    env.events(run)
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

/// Where the screenshot of the approval screen goes (docs/phone.png is a
/// copy of one).
fn screenshot_path() -> PathBuf {
    shot_path("phone.png")
}

/// Where the tests' other screenshots go, for a person to look at.
fn shot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn a_phone_browser_pairs_watches_approves_rejects_answers_and_cancels() {
    let env = daemon("127.0.0.1:0");
    let work = env.dir.path();
    // A diff an agent wrote to attack the page: markup, an event handler
    // and the end of a script element, each of which must stay text.
    let hostile = "diff --git a/index.html b/index.html\n\
                   --- a/index.html\n\
                   +++ b/index.html\n\
                   @@ -1,2 +1,2 @@\n \
                   <p>keep</p>\n\
                   -</script><script>document.title='pwned by script'</script>\n\
                   +<img src=x onerror=\"document.title='pwned by img'\">\n";
    std::fs::write(work.join("hostile.diff"), hostile).unwrap();
    std::fs::write(
        work.join("second.diff"),
        "--- a/README\n+++ b/README\n@@ -1 +1 @@\n-old\n+new\n",
    )
    .unwrap();
    let agent = env.script(
        "agent.sh",
        &format!(
            "m ask approval --type diff --diff-file {0}/hostile.diff; echo \"first=$?\"\n\
             reason=$(m ask approval --type diff --diff-file {0}/second.diff); echo \"second=$? $reason\"\n\
             answer=$(m ask input 'Which branch should I push to?'); echo \"answer=$answer\"",
            work.display()
        ),
    );
    let run = env.start("web", "update the page", &agent);
    runtime().block_on(async {
        // Pairing: the page sends the code from the fragment, keeps the
        // token, and drops the code from the address bar.
        let phone = Phone::pair(&env).await;
        walk(&env, &phone, &run).await;
        phone.close().await;
    });
}

async fn walk(env: &TestEnv, phone: &Phone, run: &str) {
    let page = &phone.page;
    let address = page.current_url().await.unwrap().to_string();
    assert!(!address.contains("code"), "{address}");
    assert!(!address.contains("pair"), "{address}");
    let devices = env.json(&["device", "list", "--json"]);
    assert!(
        devices.to_string().contains("browser"),
        "the browser is a paired device: {devices}"
    );

    // The list shows the run, waiting for a diff approval.
    let link = format!("a[data-run='{run}']");
    until(page, "the run waiting for a diff approval", || async {
        match page.find(Locator::Css(&link)).await {
            Ok(row) => row
                .text()
                .await
                .unwrap_or_default()
                .contains("waits for diff approval"),
            Err(_) => false,
        }
    })
    .await;
    let row = page.find(Locator::Css(&link)).await.unwrap();
    let row_text = row.text().await.unwrap();
    assert!(row_text.contains("update the page"), "{row_text}");
    assert!(row_text.contains("web"), "{row_text}");
    row.click().await.unwrap();

    // The approval: the diff as text, coloured by line, nothing run.
    until(page, "the diff approval", || async {
        page.find(Locator::Css(".approval .diff .add"))
            .await
            .is_ok()
    })
    .await;
    let diff = page
        .find(Locator::Css(".approval .diff"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        diff.contains("<img src=x onerror=\"document.title='pwned by img'\">"),
        "{diff}"
    );
    assert!(diff.contains("</script><script>"), "{diff}");
    let added = page.find(Locator::Css(".diff .add")).await.unwrap();
    assert!(added.text().await.unwrap().starts_with("+<img"));
    let removed = page.find(Locator::Css(".diff .del")).await.unwrap();
    assert!(removed.text().await.unwrap().starts_with("-</script>"));
    let file = page.find(Locator::Css(".diff .file")).await.unwrap();
    assert!(file.text().await.unwrap().contains("index.html"));
    assert_eq!(
        script(
            page,
            "return document.querySelectorAll('img, main script').length"
        )
        .await,
        json!(0),
        "agent-written markup became elements"
    );
    assert_eq!(script(page, "return document.title").await, json!("m"));
    assert!(fits_the_width(page).await, "the page scrolls sideways");
    let shot = page.screenshot().await.unwrap();
    assert_eq!(&shot[1..4], b"PNG");
    std::fs::write(screenshot_path(), &shot).unwrap();

    // Approve: the run goes on.
    button(page, "Approve").await.click().await.unwrap();
    eventually_output(env, run, "first=0");
    let resolved = env.events_of(run, "approval.resolved");
    assert_eq!(resolved[0]["data"]["by"]["kind"], "device");
    assert_eq!(resolved[0]["data"]["by"]["name"], "browser");

    // The next request: Reject asks for a reason, which reaches the run.
    until(page, "the second diff", || async {
        match page.find(Locator::Css(".approval .diff")).await {
            Ok(diff) => diff.text().await.unwrap_or_default().contains("README"),
            Err(_) => false,
        }
    })
    .await;
    button(page, "Reject").await.click().await.unwrap();
    let reason = page.find(Locator::Css(".approval textarea")).await.unwrap();
    reason
        .send_keys("too risky before the release")
        .await
        .unwrap();
    button(page, "Send rejection").await.click().await.unwrap();
    eventually_output(env, run, "second=1 too risky before the release");

    // A question: a free-text form.
    until(page, "the question", || async {
        shows(page, "Which branch should I push to?").await
    })
    .await;
    let answer = page.find(Locator::Css(".question textarea")).await.unwrap();
    answer.send_keys("release-2").await.unwrap();
    button(page, "Answer").await.click().await.unwrap();
    eventually_output(env, run, "answer=release-2");
    env.wait_state(run, "completed");
    until(page, "the run completed", || async {
        match page.find(Locator::Css("main .card .state")).await {
            Ok(state) => state.text().await.unwrap_or_default() == "completed",
            Err(_) => false,
        }
    })
    .await;
    // The events came live over the stream, in order, none twice.
    assert_eq!(
        shown_seqs(page).await,
        stored_seqs(env, run),
        "the page's events are the run's, no gap, no duplicate"
    );

    // A question with a form: a choice, from the schema.
    let choice = start_acp(env, "pick", &["--once"], "elicit");
    env.wait_state(&choice, "waiting_input");
    phone.open_run(&choice).await;
    until(page, "the choice question", || async {
        page.find(Locator::Css(".question select")).await.is_ok()
    })
    .await;
    // Without a choice the page says so and sends nothing.
    button(page, "Answer").await.click().await.unwrap();
    until(page, "that a choice is needed", || async {
        shows(page, "choose one").await
    })
    .await;
    assert_eq!(env.run_state(&choice), "waiting_input");
    let select = page.find(Locator::Css(".question select")).await.unwrap();
    select.select_by_label("SQLite").await.unwrap();
    button(page, "Answer").await.click().await.unwrap();
    env.wait_state(&choice, "completed");

    // Cancel, with a confirmation.
    let waiting = env.script(
        "waits.sh",
        "m ask approval --type generic --title 'deploy to production?'",
    );
    let doomed = env.start("web", "deploy", &waiting);
    env.wait_state(&doomed, "waiting_approval");
    phone.open_run(&doomed).await;
    button(page, "Cancel run").await.click().await.unwrap();
    assert_eq!(env.run_state(&doomed), "waiting_approval", "asked first");
    button(page, "Keep it running").await.click().await.unwrap();
    assert_eq!(env.run_state(&doomed), "waiting_approval");
    button(page, "Cancel run").await.click().await.unwrap();
    button(page, "Yes, cancel it").await.click().await.unwrap();
    env.wait_state(&doomed, "cancelled");

    // Unpaired from the terminal while the page follows a live run: its
    // stream is closed, and the page says so without being touched.
    let asker = env.script("asks.sh", "m ask input 'Still there?'");
    let live = env.start("web", "wait", &asker);
    env.wait_state(&live, "waiting_input");
    phone.open_run(&live).await;
    until(page, "the live run's question", || async {
        shows(page, "Still there?").await
    })
    .await;
    let devices = env.json(&["device", "list", "--json"]);
    let id = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "browser")
        .and_then(|d| d["id"].as_str())
        .expect("the browser's device id")
        .to_string();
    env.ok(&["device", "rm", &id]);
    until(page, "that it was unpaired", || async {
        shows(page, "This browser was unpaired").await
    })
    .await;
    assert_eq!(
        script(page, "return localStorage.getItem('m.token')").await,
        Value::Null
    );
}

/// A command approval shows each argument and where it runs; one decided
/// at the terminal while the page shows it stays on screen saying so; and
/// a tap that reaches the daemon after another decision decides nothing,
/// and the page says so, showing the approval as it stands.
#[test]
fn a_phone_page_shows_commands_and_says_when_an_approval_was_decided_elsewhere() {
    let env = daemon("127.0.0.1:0");
    let agent = env.script(
        "agent.sh",
        "m ask approval --type command -- echo shipped to 'main branch'; echo \"push=$?\"\n\
         reason=$(m ask approval --type generic --title 'tag the release?'); echo \"tag=$? $reason\"",
    );
    let run = env.start("web", "release", &agent);
    let push = pending_approval(&env, &run);
    let push_id = push["id"].as_str().unwrap().to_string();
    let cwd = push["payload"]["cwd"].as_str().unwrap().to_string();
    runtime().block_on(async {
        let phone = Phone::pair(&env).await;
        let page = &phone.page;
        phone.open_run(&run).await;

        // The command: its line, each argument on its own, its directory.
        until(page, "the command approval", || async {
            card_text(page, &push_id).await.contains("Run this command?")
        })
        .await;
        let argv = script(
            page,
            "return [...document.querySelectorAll('.approval ol.argv li')].map(li => li.textContent)",
        )
        .await;
        assert_eq!(
            argv,
            json!(["echo", "shipped", "to", "main branch"])
        );
        let line = page.find(Locator::Css(".approval .command")).await.unwrap();
        let line = line.text().await.unwrap();
        assert!(
            line.starts_with("$ echo shipped to ")
                && line.contains("main branch"),
            "{line}"
        );
        let shown_cwd = page.find(Locator::Css(".approval .cwd")).await.unwrap();
        assert_eq!(shown_cwd.text().await.unwrap(), format!("in {cwd}"));
        assert!(fits_the_width(page).await, "the page scrolls sideways");

        // Approved at the terminal while the page shows it: the card stays
        // and says by whom, with nothing left to tap.
        env.ok(&["approve", &push_id]);
        eventually_output(&env, &run, "shipped to main branch");
        eventually_output(&env, &run, "push=0");
        until(page, "that it was approved at the terminal", || async {
            card_text(page, &push_id)
                .await
                .contains("Already approved at the terminal")
        })
        .await;
        assert_eq!(
            card_buttons(page, &push_id).await,
            json!(0),
            "a decided approval offers no decision"
        );
        let shot = page.screenshot().await.unwrap();
        std::fs::write(shot_path("phone-decided.png"), shot).unwrap();

        // A tap that loses the race: the page sends Approve, which the
        // browser holds (as a slow network would) until the terminal has
        // rejected it; the daemon decides nothing and the page says so.
        let tag = pending_approval(&env, &run);
        let tag_id = tag["id"].as_str().unwrap().to_string();
        until(page, "the second approval", || async {
            card_text(page, &tag_id).await.contains("tag the release?")
        })
        .await;
        cdp(
            page,
            "Fetch.enable",
            json!({ "patterns": [{ "urlPattern": "*/decision", "requestStage": "Request" }] }),
        )
        .await;
        card_button(page, &tag_id, "Approve")
            .await
            .click()
            .await
            .unwrap();
        until(page, "the decision being sent", || async {
            card_text(page, &tag_id).await.contains("Sending")
        })
        .await;
        env.ok(&["reject", &tag_id, "--reason", "not on a Friday"]);
        eventually_output(&env, &run, "tag=1 not on a Friday");
        cdp(page, "Fetch.disable", json!({})).await;
        until(page, "that the tap came too late", || async {
            let text = card_text(page, &tag_id).await;
            text.contains("Nothing was decided by your tap")
                && text.contains("Already rejected at the terminal: not on a Friday")
        })
        .await;
        let tag_now = env.approvals_of(&run)
            .into_iter()
            .find(|a| a["id"] == tag_id.as_str())
            .unwrap();
        assert_eq!(tag_now["state"], "rejected", "the late tap changed nothing");
        env.wait_state(&run, "completed");
        phone.close().await;
    });
}

/// A port no one listens on now: chromedriver's, and a daemon's that must
/// come back on the same address (the page's origin, and its token's
/// storage, are per port).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The run page's event stream is cut when the daemon stops; the page
/// reconnects by itself to the daemon that starts again, from the last
/// event it showed, and shows exactly the run's events: the ones written
/// while it was away, and the ones after, in order, none twice.
#[test]
fn a_phone_page_resumes_its_event_stream_after_the_daemon_restarts() {
    let env = daemon(&format!("127.0.0.1:{}", free_port()));
    let run = start_acp(&env, "first", &[], "resumable");
    env.wait_state(&run, "waiting_input");
    runtime().block_on(async {
        let phone = Phone::pair(&env).await;
        let page = &phone.page;
        phone.open_run(&run).await;
        let before = stored_seqs(&env, &run);
        until(page, "the run's events so far", || async {
            shown_seqs(page).await == before
        })
        .await;
        // The page is never reloaded: this stays set only if it is not.
        script(page, "window.sameDocument = true; return true").await;

        env.ok(&["daemon", "stop"]);
        until(page, "that the stream was lost", || async {
            shows(page, "reconnecting").await
        })
        .await;
        env.ok(&["daemon", "start"]);
        env.wait_event(&run, "agent.resumed");
        env.wait_state(&run, "waiting_input");
        env.ok(&["reply", &run, "second"]);
        eventually_message(&env, &run, "heard \"second\"");
        env.wait_state(&run, "waiting_input");
        env.ok(&["run", "done", &run]);
        env.wait_state(&run, "completed");

        let stored = stored_seqs(&env, &run);
        assert!(stored.len() > before.len() + 3, "{stored:?}");
        until(page, "every event of the run, once, in order", || async {
            shown_seqs(page).await == stored
        })
        .await;
        assert_eq!(
            script(page, "return window.sameDocument === true").await,
            json!(true),
            "the page was reloaded instead of resuming its stream"
        );
        let kinds = script(
            page,
            "return [...document.querySelectorAll('ol.events li .type')].map(t => t.textContent)",
        )
        .await;
        let kinds = kinds.to_string();
        for kind in ["agent.suspended", "agent.resumed", "run.finished"] {
            assert!(kinds.contains(kind), "{kind} not shown: {kinds}");
        }
        phone.close().await;
    });
}

fn eventually_message(env: &TestEnv, run: &str, part: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let said: Vec<String> = env
            .events_of(run, "agent.message")
            .into_iter()
            .filter_map(|e| e["data"]["text"].as_str().map(str::to_string))
            .collect();
        if said.iter().any(|m| m.contains(part)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} never said {part:?}; it said {said:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fills a question's field: clears it, then types or chooses.
async fn fill(page: &Client, css: &str, text: &str) {
    let field = page.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn choose(page: &Client, label: &str, option: &str) {
    let xpath =
        format!("//label[starts-with(normalize-space(), '{label}')]/following-sibling::select[1]");
    let select = page.find(Locator::XPath(&xpath)).await.unwrap();
    select.select_by_label(option).await.unwrap();
}

/// The question card's message: the page's own refusal, or the daemon's.
async fn question_says(page: &Client, text: &str) -> bool {
    match page.find(Locator::Css(".question [role=status]")).await {
        Ok(note) => note.text().await.unwrap_or_default().contains(text),
        Err(_) => false,
    }
}

fn answers_given(env: &TestEnv, run: &str) -> usize {
    env.events_of(run, "input.provided").len()
}

/// Question forms of number, boolean and choice fields: the page refuses
/// what `m reply` refuses, in its words, sending nothing, and what it
/// accepts reaches the agent as typed values.
#[test]
fn a_phone_page_question_forms_check_numbers_booleans_and_choices() {
    let env = daemon("127.0.0.1:0");
    let run = start_acp(&env, "deploy", &["--once"], "elicit-form");
    env.wait_state(&run, "waiting_input");
    // What `m reply` says of the same replies, which the page must match.
    let not_whole = env.fails(&["reply", &run, "many"], 2);
    assert!(
        not_whole.contains("Replicas (replicas): 'many' is not a whole number"),
        "{not_whole}"
    );
    let too_many = env.fails(&["reply", &run, "12"], 2);
    assert!(
        too_many.contains("Replicas (replicas): must be at most 10"),
        "{too_many}"
    );
    runtime().block_on(async {
        let phone = Phone::pair(&env).await;
        let page = &phone.page;
        phone.open_run(&run).await;
        until(page, "the number question", || async {
            shows(page, "How many replicas should I start?").await
        })
        .await;
        let field = ".question input[inputmode=numeric]";
        for (typed, refusal) in [
            ("many", "Replicas (replicas): 'many' is not a whole number"),
            ("2.5", "Replicas (replicas): '2.5' is not a whole number"),
            ("12", "Replicas (replicas): must be at most 10"),
            ("0", "Replicas (replicas): must be at least 1"),
        ] {
            fill(page, field, typed).await;
            button(page, "Answer").await.click().await.unwrap();
            until(page, &format!("the refusal of {typed:?}"), || async {
                question_says(page, refusal).await
            })
            .await;
            // The field at fault is marked and has the focus.
            assert_eq!(
                script(
                    page,
                    "return document.activeElement.getAttribute('aria-invalid')"
                )
                .await,
                json!("true")
            );
        }
        assert_eq!(answers_given(&env, &run), 0, "a refused answer was sent");
        assert_eq!(env.run_state(&run), "waiting_input");
        fill(page, field, "3").await;
        button(page, "Answer").await.click().await.unwrap();
        eventually_message(&env, &run, r#"answer: "accept" {"replicas":3}"#);

        // A form: yes or no (nothing chosen for the human), a number, a choice.
        until(page, "the form", || async {
            shows(page, "Deploy with these settings?").await
        })
        .await;
        let chosen = script(
            page,
            "return [...document.querySelectorAll('.question select')].map(s => s.value)",
        )
        .await;
        assert_eq!(
            chosen,
            json!(["", ""]),
            "an answer was chosen for the human"
        );
        button(page, "Answer").await.click().await.unwrap();
        until(page, "that a yes or no is needed", || async {
            question_says(page, "Deploy now (confirm): choose yes or no").await
        })
        .await;
        choose(page, "Deploy now", "Yes").await;
        fill(page, ".question input[inputmode=decimal]", "-5").await;
        button(page, "Answer").await.click().await.unwrap();
        until(page, "the refusal of a negative budget", || async {
            question_says(page, "Budget in euros (budget): must be at least 0").await
        })
        .await;
        fill(page, ".question input[inputmode=decimal]", "12.5").await;
        choose(page, "Region", "us-east").await;
        assert_eq!(answers_given(&env, &run), 1);
        button(page, "Answer").await.click().await.unwrap();
        eventually_message(
            &env,
            &run,
            r#"answer: "accept" {"budget":12.5,"confirm":true,"region":"us-east"}"#,
        );
        env.wait_state(&run, "completed");
        phone.close().await;
    });
}

/// Presses a key, as a keyboard does (on whatever has the focus).
async fn press(page: &Client, key: fantoccini::key::Key) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let value = key.chars().next().unwrap();
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value })
        .then(KeyAction::Up { value });
    page.perform_actions(actions).await.unwrap();
}

/// What has the focus: its tag and its text or label.
async fn focused(page: &Client) -> String {
    let found = script(
        page,
        "const e = document.activeElement; \
         const label = e.labels && e.labels.length ? e.labels[0].textContent : ''; \
         return e.tagName.toLowerCase() + ' ' + (label || e.textContent).trim().slice(0, 60)",
    )
    .await;
    found.as_str().unwrap_or_default().to_string()
}

/// Tabs through the page from its start, once round: every control must
/// take the focus in turn. Returns what took it, in order.
async fn tab_through(page: &Client) -> Vec<String> {
    script(
        page,
        "document.activeElement.blur(); window.scrollTo(0, 0); \
         document.querySelectorAll('[data-tabbed]').forEach(e => delete e.dataset.tabbed); return true",
    )
    .await;
    let mut order = Vec::new();
    let mut wrapped = 0;
    for _ in 0..80 {
        press(page, fantoccini::key::Key::Tab).await;
        let seen = script(
            page,
            "const e = document.activeElement; \
             if (e === document.body) return 'body'; \
             if (e.dataset.tabbed) return 'again'; \
             e.dataset.tabbed = 'yes'; return 'new'",
        )
        .await;
        match seen.as_str() {
            Some("new") => order.push(focused(page).await),
            // Past the last control the focus leaves the page, then comes
            // back at the first.
            Some("body") if wrapped < 2 => wrapped += 1,
            _ => break,
        }
    }
    // Every control a finger can reach, the keyboard reached.
    let missed = script(
        page,
        "return [...document.querySelectorAll('a[href], button, select, textarea, input, summary')] \
           .filter(e => e.getClientRects().length && !e.disabled && !e.dataset.tabbed) \
           .map(e => e.outerHTML.slice(0, 120))",
    )
    .await;
    assert_eq!(missed, json!([]), "controls the keyboard never reached");
    order
}

/// Presses Tab until the control whose name (as [`focused`] gives it)
/// holds `what` has the focus.
async fn tab_to(page: &Client, what: &str) {
    let mut seen = Vec::new();
    for _ in 0..80 {
        press(page, fantoccini::key::Key::Tab).await;
        let now = focused(page).await;
        if now.contains(what) {
            return;
        }
        seen.push(now);
    }
    panic!("Tab never reached {what}; it went through {seen:?}");
}

/// What a screen reader is told (Chromium's accessibility tree): every
/// control has a role a reader knows and a name; returns "role: name" of each.
async fn accessible_controls(page: &Client) -> Vec<String> {
    let tree = cdp(page, "Accessibility.getFullAXTree", json!({})).await;
    let mut controls = Vec::new();
    for node in tree["nodes"].as_array().unwrap() {
        if node["ignored"] == json!(true) {
            continue;
        }
        let focusable = node["properties"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "focusable" && p["value"]["value"] == json!(true));
        let role = node["role"]["value"].as_str().unwrap_or_default();
        if !focusable || ["RootWebArea", "main", "generic", "status"].contains(&role) {
            continue;
        }
        let name = node["name"]["value"].as_str().unwrap_or_default().trim();
        assert!(
            ["button", "link", "combobox", "textbox", "spinbutton"].contains(&role),
            "a control a screen reader cannot name the kind of: {node}"
        );
        assert!(!name.is_empty(), "a {role} without a name: {node}");
        controls.push(format!("{role}: {name}"));
    }
    controls
}

/// Text the page shows whose contrast with what is behind it is below
/// WCAG's 4.5:1 (AA for text), with the colour scheme the page is in.
async fn low_contrast(page: &Client) -> Value {
    script(
        page,
        r#"
        const rgb = (c) => {
          const m = c.match(/rgba?\(([^)]+)\)/);
          if (!m) return null;
          const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
          return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
        };
        const lum = (c) => {
          const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
          return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
        };
        const behind = (e) => {
          for (; e; e = e.parentElement) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (c && c.a > 0) return c;
          }
          return { r: 255, g: 255, b: 255 };
        };
        const low = [];
        let checked = 0;
        for (const e of document.querySelectorAll('body *')) {
          const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
          if (!own || !e.getClientRects().length || e.tagName === 'OPTION') continue;
          checked += 1;
          const fg = lum(rgb(getComputedStyle(e).color));
          const bg = lum(behind(e));
          const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
          if (ratio < 4.5) low.push(e.textContent.trim().slice(0, 40) + ' ' + ratio.toFixed(2));
        }
        return checked > 5 ? low : ['only ' + checked + ' texts were found'];
        "#,
    )
    .await
}

async fn background_luminance(page: &Client) -> f64 {
    script(
        page,
        "const p = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number); \
         const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; \
         return 0.2126 * f(p[0]) + 0.7152 * f(p[1]) + 0.0722 * f(p[2])",
    )
    .await
    .as_f64()
    .unwrap()
}

async fn color_scheme(page: &Client, scheme: &str) {
    cdp(
        page,
        "Emulation.setEmulatedMedia",
        json!({ "media": "", "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
    )
    .await;
}

/// The browser's own text size (its font-size setting), as a person with
/// poor sight sets it: 16 px is 100%.
async fn text_size(page: &Client, percent: u32) {
    let standard = 16 * percent / 100;
    let fixed = 13 * percent / 100;
    cdp(
        page,
        "Page.setFontSizes",
        json!({ "fontSizes": { "standard": standard, "fixed": fixed } }),
    )
    .await;
}

/// Checks the screen as it stands in both colour schemes and at 200%
/// text: readable contrast, dark really dark, nothing wider than the
/// phone, every control on screen.
async fn check_readable(page: &Client, screen: &str) {
    for scheme in ["light", "dark"] {
        color_scheme(page, scheme).await;
        let dark = background_luminance(page).await;
        match scheme {
            "dark" => assert!(dark < 0.05, "{screen}: not dark in dark mode ({dark})"),
            _ => assert!(dark > 0.8, "{screen}: not light in light mode ({dark})"),
        }
        assert_eq!(
            low_contrast(page).await,
            json!([]),
            "{screen}: text hard to read in {scheme} mode"
        );
        for percent in [200, 100] {
            text_size(page, percent).await;
            let size = script(page, "return getComputedStyle(document.body).fontSize").await;
            assert_eq!(size, json!(format!("{}px", 16 * percent / 100)));
            assert!(
                fits_the_width(page).await,
                "{screen}: scrolls sideways at {percent}% in {scheme} mode"
            );
            let outside = script(
                page,
                "return [...document.querySelectorAll('button, a, select, textarea, input')] \
                   .filter(e => e.getClientRects().length) \
                   .filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth; }) \
                   .map(e => e.outerHTML.slice(0, 80))",
            )
            .await;
            assert_eq!(
                outside,
                json!([]),
                "{screen}: controls off screen at {percent}% in {scheme} mode"
            );
        }
    }
    color_scheme(page, "light").await;
}

/// After a decision made by keyboard: its card (`card`) goes, the status
/// line says what was done (`said`), and the focus is at the start of the
/// view, not lost out of the page.
async fn settled_after_keyboard(page: &Client, card: &str, said: &str) {
    until(page, &format!("the {card} card gone"), || async {
        page.find(Locator::Css(card)).await.is_err()
    })
    .await;
    let status = page.find(Locator::Css("#status")).await.unwrap();
    assert_eq!(status.text().await.unwrap(), said);
    assert_eq!(
        script(page, "return document.activeElement.id").await,
        json!("main")
    );
}

/// The page as people use phones: in dark mode and light, with the text
/// at 200%, by keyboard alone, and through what a screen reader is told.
/// Runs are links (they go to a page, and a reader says so; the address
/// is the run's), every action a button, every field labelled.
#[test]
fn a_phone_page_reads_in_dark_mode_at_200_percent_and_works_by_keyboard() {
    let env = daemon("127.0.0.1:0");
    env.repo("api");
    let long = format!("+{}\n", "x".repeat(300));
    std::fs::write(
        env.dir.path().join("long.diff"),
        format!("--- a/README\n+++ b/README\n@@ -1 +1 @@\n-hello\n{long}"),
    )
    .unwrap();
    let agent = env.script(
        "agent.sh",
        &format!(
            "reason=$(m ask approval --type diff --diff-file {}/long.diff); echo \"diff=$? $reason\"",
            env.dir.path().display()
        ),
    );
    let diff_run = env.start("web", "a very long line", &agent);
    let asker = env.script(
        "asker.sh",
        "answer=$(m ask input 'Which tag?'); echo \"tag=$answer\"",
    );
    let question_run = env.start("api", "tag it", &asker);
    env.wait_state(&diff_run, "waiting_approval");
    env.wait_state(&question_run, "waiting_input");
    runtime().block_on(async {
        let phone = Phone::pair(&env).await;
        let page = &phone.page;
        use fantoccini::key::Key;

        // The runs: each a link a reader names by its run, reached by Tab
        // and opened by Enter.
        for run in [&diff_run, &question_run] {
            let link = format!("a[data-run='{run}']");
            until(page, "the runs", || async {
                page.find(Locator::Css(&link)).await.is_ok()
            })
            .await;
        }
        check_readable(page, "the runs").await;
        let controls = accessible_controls(page).await;
        assert!(
            controls
                .iter()
                .any(|c| c.starts_with("link: waiting_approval") && c.contains("a very long line")),
            "{controls:?}"
        );
        let order = tab_through(page).await;
        assert!(
            order.iter().any(|f| f.contains("a very long line")),
            "the run is not in the tab order: {order:?}"
        );
        tab_to(page, "a very long line").await;
        // The list updates live (the ages here change) without taking the
        // focus from the row a keyboard is on.
        let row_text =
            format!("return document.querySelector(\"a[data-run='{diff_run}']\").textContent");
        let was = script(page, &row_text).await;
        until(page, "the list updated", || async {
            script(page, &row_text).await != was
        })
        .await;
        let now = focused(page).await;
        assert!(
            now.starts_with("a ") && now.contains("a very long line"),
            "the list's update took the focus: {now}"
        );
        press(page, Key::Enter).await;
        until(page, "the run's approval, opened by keyboard", || async {
            page.find(Locator::Css(".approval .diff .add"))
                .await
                .is_ok()
        })
        .await;

        // The approval: readable, reachable, named; rejected by keyboard.
        check_readable(page, "the approval").await;
        color_scheme(page, "dark").await;
        text_size(page, 200).await;
        let shot = page.screenshot().await.unwrap();
        std::fs::write(shot_path("phone-dark-200.png"), shot).unwrap();
        text_size(page, 100).await;
        color_scheme(page, "light").await;
        let controls = accessible_controls(page).await;
        for control in [
            "button: Approve",
            "button: Reject",
            "button: Cancel run",
            "link: m: all runs",
        ] {
            assert!(
                controls.iter().any(|c| c == control),
                "{control}: {controls:?}"
            );
        }
        let order = tab_through(page).await;
        assert!(
            order.iter().any(|f| f == "button Approve"),
            "Approve is not in the tab order: {order:?}"
        );
        tab_to(page, "button Reject").await;
        assert_eq!(focused(page).await, "button Reject");
        press(page, Key::Enter).await;
        // The reason's field takes the focus; Tab goes on to send it.
        assert_eq!(focused(page).await, "textarea Why reject?");
        page.active_element()
            .await
            .unwrap()
            .send_keys("wrap it first")
            .await
            .unwrap();
        check_readable(page, "the rejection's reason").await;
        press(page, Key::Tab).await;
        press(page, Key::Tab).await;
        assert_eq!(focused(page).await, "button Send rejection");
        press(page, Key::Enter).await;
        eventually_output(&env, &diff_run, "diff=1 wrap it first");
        settled_after_keyboard(page, ".approval", "Rejected.").await;

        // A question, answered by keyboard.
        phone.open_run(&question_run).await;
        until(page, "the question", || async {
            page.find(Locator::Css(".question textarea")).await.is_ok()
        })
        .await;
        check_readable(page, "the question").await;
        let controls = accessible_controls(page).await;
        assert!(
            controls
                .iter()
                .any(|c| c == "textbox: Which tag? Your answer"),
            "the answer's field is named by the question: {controls:?}"
        );
        let order = tab_through(page).await;
        assert!(
            order.iter().any(|f| f == "textarea Your answer"),
            "the answer's field is not in the tab order: {order:?}"
        );
        tab_to(page, "textarea Your answer").await;
        page.active_element()
            .await
            .unwrap()
            .send_keys("v1.2")
            .await
            .unwrap();
        press(page, Key::Tab).await;
        assert_eq!(focused(page).await, "button Answer");
        press(page, Key::Enter).await;
        eventually_output(&env, &question_run, "tag=v1.2");
        settled_after_keyboard(page, ".question", "Answered.").await;
        phone.close().await;
    });
}

/// An end-of-run review whose worktree changed after the page showed it:
/// the tap carries the hash of what was shown, the daemon decides nothing
/// and asks the review again, and the page says so and shows the new one,
/// whose approval ends the run.
#[test]
fn a_phone_page_says_a_review_went_stale_and_shows_it_asked_again() {
    let env = daemon("127.0.0.1:0");
    let agent = env.script("agent.sh", "echo first > change.txt");
    let run = env.start_with("web", "review me", &["--review"], &agent);
    let first = pending_approval(&env, &run);
    let first_id = first["id"].as_str().unwrap().to_string();
    let worktree = PathBuf::from(
        env.json(&["run", "show", &run, "--json"])["workspace_path"]
            .as_str()
            .unwrap(),
    );
    runtime().block_on(async {
        let phone = Phone::pair(&env).await;
        let page = &phone.page;
        phone.open_run(&run).await;
        until(page, "the review", || async {
            card_text(page, &first_id).await.contains("+first")
        })
        .await;

        // The user edits the worktree while the phone shows the review.
        std::fs::write(worktree.join("change.txt"), "second\n").unwrap();
        card_button(page, &first_id, "Approve")
            .await
            .click()
            .await
            .unwrap();
        until(page, "that the review went stale", || async {
            let text = card_text(page, &first_id).await;
            text.contains("It changed since you saw it, and nothing was decided")
                && text.contains("asked again above")
                && text.contains("Already rejected by m: stale: the worktree changed")
        })
        .await;
        assert_eq!(
            card_buttons(page, &first_id).await,
            json!(0),
            "the stale review offers no decision"
        );

        // Asked again, with what the worktree holds now, above the old one.
        let second = pending_approval(&env, &run);
        let second_id = second["id"].as_str().unwrap().to_string();
        assert_ne!(second_id, first_id);
        until(page, "the review asked again", || async {
            card_text(page, &second_id).await.contains("+second")
        })
        .await;
        let order = script(
            page,
            "return [...document.querySelectorAll('.approval')].map(c => c.dataset.approval)",
        )
        .await;
        assert_eq!(order, json!([second_id, first_id]), "the new one is on top");
        card_button(page, &second_id, "Approve")
            .await
            .click()
            .await
            .unwrap();
        env.wait_state(&run, "completed");
        phone.close().await;
    });
}
