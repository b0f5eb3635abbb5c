//! Notifications at the library level: webhooks on the wire against a real
//! HTTP server on 127.0.0.1, hook commands, and the durable outbox across a
//! restart, with a fake push sender standing in for APNs (which a2 cannot
//! point at a local server). Nothing here leaves the machine.

use crate::common;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use m::model::{new_id, now, DeviceEnv, NotificationState, Platform};
use m::notify::{
    ApnsStatus, BoxFuture, Clock, Dispatcher, NotifyConfig, Outcome, Push, PushSender, RetryPolicy,
};
use m::store::{NewEvent, NewRepo, NewRun, RunDetails, Store};
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

/// A clock the test moves by hand.
struct FakeClock(AtomicI64);

impl FakeClock {
    fn new() -> Arc<FakeClock> {
        Arc::new(FakeClock(AtomicI64::new(now())))
    }

    fn set(&self, at: i64) {
        self.0.store(at, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        self.0
            .fetch_add(duration.as_secs() as i64, Ordering::SeqCst);
        Box::pin(tokio::task::yield_now())
    }
}

/// Records every push; answers per token from a script, else Delivered.
#[derive(Default)]
struct FakeSender {
    answers: Mutex<HashMap<String, VecDeque<Outcome>>>,
    sent: Mutex<Vec<Push>>,
}

impl FakeSender {
    fn answering(token: &str, outcomes: Vec<Outcome>) -> Arc<FakeSender> {
        let sender = FakeSender::default();
        sender
            .answers
            .lock()
            .unwrap()
            .insert(token.to_string(), outcomes.into());
        Arc::new(sender)
    }

    fn sent(&self) -> Vec<Push> {
        let mut sent = self.sent.lock().unwrap().clone();
        sent.sort_by(|a, b| a.token.cmp(&b.token));
        sent
    }
}

impl PushSender for FakeSender {
    fn send<'a>(&'a self, push: &'a Push) -> BoxFuture<'a, Outcome> {
        self.sent.lock().unwrap().push(push.clone());
        let outcome = self
            .answers
            .lock()
            .unwrap()
            .get_mut(&push.token)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Outcome::Delivered);
        Box::pin(async move { outcome })
    }
}

/// A data directory with a repo and one active run.
struct World {
    _dir: tempfile::TempDir,
    db: PathBuf,
    store: Store,
    run: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let mut store = Store::open(&db).unwrap();
    let repo = store
        .add_repo(NewRepo {
            name: "webapp".into(),
            git_url: None,
        })
        .unwrap();
    let run = new_id();
    let mut batch = store.batch().unwrap();
    batch
        .create_run(
            &run,
            NewRun {
                repo_id: repo.id,
                prompt: "fix the flaky login test".into(),
                workspace_path: "/tmp/workspace".into(),
                details: RunDetails::default(),
            },
        )
        .unwrap();
    batch.commit().unwrap();
    World {
        _dir: dir,
        db,
        store,
        run,
    }
}

impl World {
    /// Appends an event (and its notification, in the same transaction);
    /// returns the notification's id.
    fn event(&mut self, event_type: &str, data: Value) -> i64 {
        self.store
            .append_events_with_notifications(&[NewEvent::new(
                &self.run,
                event_type.parse().unwrap(),
                data,
            )])
            .unwrap();
        self.store.list_notifications(1).unwrap()[0].id
    }

    fn dir(&self) -> &Path {
        self.db.parent().unwrap()
    }
}

fn config(toml_text: &str) -> NotifyConfig {
    toml::from_str(toml_text).unwrap()
}

fn token(c: char) -> String {
    c.to_string().repeat(64)
}

// ------------------------------------------------------- the HTTP server

/// A request as the test server saw it.
#[derive(Debug)]
struct Received {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Value,
}

enum Answer {
    Status(u16),
    /// Read the request and never answer.
    Silence,
}

struct TestServer {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl TestServer {
    fn received(&self) -> std::sync::MutexGuard<'_, Vec<Received>> {
        self.received.lock().unwrap()
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 answering each connection with the
/// next scripted answer (200 once the script is used up). It serves at
/// most 20 connections, then its thread ends.
fn serve(script: Vec<Answer>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        let mut silent = Vec::new();
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let Some(request) = read_request(&mut stream) else {
                continue;
            };
            log.lock().unwrap().push(request);
            match script.next().unwrap_or(Answer::Status(200)) {
                Answer::Status(code) => {
                    let body = format!("status {code}");
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                Answer::Silence => silent.push(stream),
            }
        }
    });
    TestServer { url, received }
}

fn read_request(stream: &mut TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).ok()?,
    })
}

// ------------------------------------------------------------- webhooks

#[tokio::test]
async fn a_webhook_gets_the_event_run_and_headers_as_json() {
    let server = serve(vec![]);
    let mut w = world();
    let id = w.event("input.requested", json!({"question": "Which database?"}));
    let dispatcher = Dispatcher::from_config(&config(&format!(
        r#"[[webhook]]
           name = "ntfy"
           url = "{}"
           headers = {{ Authorization = "Bearer tk_123" }}"#,
        server.url
    )));

    let report = dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(report.delivered, 1);

    let received = server.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/hook")
    );
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["authorization"], "Bearer tk_123");
    assert!(request.headers["user-agent"].starts_with("m/"));
    let body = &request.body;
    assert_eq!(body["event"], "input.requested");
    // The run's first event is run.created.
    assert_eq!(body["seq"], 2);
    assert_eq!(body["run"]["id"], w.run.as_str());
    assert_eq!(body["run"]["repo"], "webapp");
    assert_eq!(body["run"]["prompt"], "fix the flaky login test");
    assert_eq!(body["data"]["question"], "Which database?");
    assert_eq!(body["title"], "webapp: question");
    let entry = w.store.get_notification(id).unwrap();
    assert_eq!(entry.state, NotificationState::Delivered);
    assert_eq!(entry.done_targets, ["webhook:ntfy"]);
}

#[tokio::test]
async fn a_redacting_webhook_gets_no_prompt_or_question() {
    let server = serve(vec![]);
    let mut w = world();
    w.event("input.requested", json!({"question": "Which database?"}));
    let dispatcher = Dispatcher::from_config(&config(&format!(
        "redact = true\n[[webhook]]\nurl = \"{}\"",
        server.url
    )));
    dispatcher.deliver_due(&mut w.store).await.unwrap();
    let received = server.received();
    let text = received[0].body.to_string();
    assert!(!text.contains("flaky"), "{text}");
    assert!(!text.contains("database"), "{text}");
    assert_eq!(received[0].body["run"]["id"], w.run.as_str());
}

#[tokio::test]
async fn a_webhook_answering_500_is_retried_and_then_delivered() {
    let server = serve(vec![Answer::Status(500), Answer::Status(200)]);
    let mut w = world();
    let id = w.event(
        "run.finished",
        json!({"state": "failed", "reason": "exit 2"}),
    );
    let clock = FakeClock::new();
    let dispatcher =
        Dispatcher::from_config(&config(&format!("[[webhook]]\nurl = \"{}\"", server.url)))
            .with_clock(clock.clone());

    let report = dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(report.retrying, 1);
    let entry = w.store.get_notification(id).unwrap();
    assert_eq!(entry.state, NotificationState::Pending);
    assert!(
        entry
            .last_error
            .as_deref()
            .unwrap()
            .contains("answered 500"),
        "{entry:?}"
    );
    assert!(entry.next_attempt_at > clock.now());

    // Not yet due: nothing happens.
    dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(server.received().len(), 1);

    clock.set(entry.next_attempt_at);
    let report = dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(server.received().len(), 2);
    assert_eq!(server.received()[1].body["event"], "run.failed");
    let entry = w.store.get_notification(id).unwrap();
    assert_eq!(
        (entry.state, entry.attempts),
        (NotificationState::Delivered, 2)
    );
}

#[tokio::test]
async fn a_webhook_that_never_answers_times_out_retries_and_fails() {
    let server = serve(vec![Answer::Silence, Answer::Silence]);
    let mut w = world();
    let id = w.event("run.finished", json!({"state": "completed"}));
    let clock = FakeClock::new();
    let dispatcher = Dispatcher::from_config(&config(&format!(
        "[[webhook]]\nurl = \"{}\"\ntimeout_secs = 0.3",
        server.url
    )))
    .with_clock(clock.clone())
    .with_retry_policy(RetryPolicy {
        max_attempts: 2,
        ..RetryPolicy::default()
    });

    let started = Instant::now();
    let report = dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(report.retrying, 1);
    clock.set(w.store.get_notification(id).unwrap().next_attempt_at);
    let report = dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(report.failed, 1);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");

    // The server logs a request once its thread has read it: maybe later.
    common::wait_within(Duration::from_secs(10), "the second request", || {
        server.received().len() >= 2
    });
    assert_eq!(server.received().len(), 2);
    let entry = w.store.get_notification(id).unwrap();
    assert_eq!(
        (entry.state, entry.attempts),
        (NotificationState::Failed, 2)
    );
    assert!(
        entry
            .last_error
            .as_deref()
            .unwrap()
            .contains("no answer within"),
        "{entry:?}"
    );
    // Failed for good: never tried again.
    clock.set(clock.now() + 86_400);
    dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_refused_webhook_is_dropped_at_once() {
    let server = serve(vec![Answer::Status(404)]);
    let mut w = world();
    let id = w.event("run.finished", json!({"state": "cancelled"}));
    let dispatcher =
        Dispatcher::from_config(&config(&format!("[[webhook]]\nurl = \"{}\"", server.url)));
    let report = dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(report.failed, 1);
    let entry = w.store.get_notification(id).unwrap();
    assert_eq!(
        (entry.state, entry.attempts),
        (NotificationState::Failed, 1)
    );
    assert!(entry.last_error.unwrap().contains("404"));
}

// ------------------------------------------------------ hook commands

#[tokio::test]
async fn a_hook_command_gets_the_json_on_stdin_and_the_ids_in_its_environment() {
    let mut w = world();
    let approval = new_id();
    let id = w.event(
        "approval.requested",
        json!({"approval_id": approval, "type": "command"}),
    );
    let stdin_file = w.dir().join("stdin.json");
    let env_file = w.dir().join("env.txt");
    let script = r#"cat > "$1"; printf '%s\n%s\n%s\n%s\n' "$M_EVENT" "$M_RUN_ID" "$M_APPROVAL_ID" "$M_SEQ" > "$2""#;
    let argv = json!(["sh", "-c", script, "hook", stdin_file, env_file]);
    let dispatcher = Dispatcher::from_config(&config(&format!(
        "[[command]]\nname = \"log\"\nargv = {argv}"
    )));

    let report = dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(report.delivered, 1);

    let stdin: Value =
        serde_json::from_str(&std::fs::read_to_string(&stdin_file).unwrap()).unwrap();
    assert_eq!(stdin["event"], "approval.requested");
    assert_eq!(stdin["run"]["id"], w.run.as_str());
    assert_eq!(stdin["data"]["approval_id"], approval.as_str());
    let env = std::fs::read_to_string(&env_file).unwrap();
    let lines: Vec<&str> = env.lines().collect();
    assert_eq!(
        lines,
        ["approval.requested", w.run.as_str(), approval.as_str(), "2"]
    );
    let entry = w.store.get_notification(id).unwrap();
    assert_eq!(entry.notification.approval_id, Some(approval));
    assert_eq!(entry.done_targets, ["command:log"]);
}

#[tokio::test]
async fn hook_commands_are_time_limited_and_their_exit_says_what_next() {
    let mut w = world();
    let dispatcher = Dispatcher::from_config(&config(
        r#"
        [[command]]
        name = "ok"
        argv = ["sh", "-c", "cat > /dev/null"]
        [[command]]
        name = "slow"
        argv = ["sh", "-c", "sleep 30"]
        timeout_secs = 0.3
        [[command]]
        name = "busy"
        argv = ["sh", "-c", "echo try later >&2; exit 75"]
        [[command]]
        name = "broken"
        argv = ["sh", "-c", "echo no such thing >&2; exit 3"]
        [[command]]
        name = "missing"
        argv = ["/nonexistent/hook"]
        "#,
    ));
    let started = Instant::now();
    let results = dispatcher.send_test(&mut w.store).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let by_sink: HashMap<&str, (bool, &str)> = results
        .iter()
        .map(|r| (r.sink.as_str(), (r.ok, r.detail.as_str())))
        .collect();
    assert_eq!(by_sink.len(), 5, "{results:?}");
    assert_eq!(by_sink["command ok"], (true, "delivered"));
    let (ok, detail) = by_sink["command slow"];
    assert!(!ok && detail.contains("ran out of time"), "{detail}");
    let (ok, detail) = by_sink["command busy"];
    assert!(
        !ok && detail.contains("75") && detail.contains("try later"),
        "{detail}"
    );
    let (ok, detail) = by_sink["command broken"];
    assert!(!ok && detail.contains("no such thing"), "{detail}");
    let (ok, detail) = by_sink["command missing"];
    assert!(
        !ok && detail.contains("cannot run /nonexistent/hook"),
        "{detail}"
    );
}

// ------------------------------------------------------------ the outbox

#[tokio::test]
async fn a_notification_pending_when_the_daemon_stops_is_delivered_after_restart() {
    let mut w = world();
    w.store
        .add_device_with_details(
            &token('a'),
            Platform::Ios,
            DeviceEnv::Production,
            Some("iphone"),
        )
        .unwrap();
    w.store
        .add_device_with_details(&token('b'), Platform::Ios, DeviceEnv::Sandbox, None)
        .unwrap();
    let approval = new_id();
    w.store
        .append_events_with_notifications(&[NewEvent::new(
            &w.run,
            "output".parse().unwrap(),
            json!({"stream": "stdout", "lines": ["working"]}),
        )])
        .unwrap();
    assert!(w.store.list_notifications(10).unwrap().is_empty());
    let id = w.event(
        "approval.requested",
        json!({"approval_id": approval, "type": "command"}),
    );
    // The daemon dies before delivering: only the database is left.
    let World {
        _dir,
        db,
        store,
        run,
        ..
    } = w;
    drop(store);

    let mut store = Store::open(&db).unwrap();
    let entry = store.get_notification(id).unwrap();
    assert_eq!(
        (entry.state, entry.attempts),
        (NotificationState::Pending, 0)
    );

    let sender = Arc::new(FakeSender::default());
    let dispatcher =
        Dispatcher::from_config(&NotifyConfig::default()).with_push_sender(sender.clone());
    let report = dispatcher.deliver_due(&mut store).await.unwrap();
    assert_eq!(report.delivered, 1);

    let sent = sender.sent();
    assert_eq!(sent.len(), 2, "one push per device");
    assert_eq!(
        (sent[0].token.clone(), sent[0].env),
        (token('a'), DeviceEnv::Production)
    );
    assert_eq!(
        (sent[1].token.clone(), sent[1].env),
        (token('b'), DeviceEnv::Sandbox)
    );
    for push in &sent {
        let json: Value = serde_json::from_str(&push.to_json_string().unwrap()).unwrap();
        assert_eq!(json["run_id"], run.as_str());
        assert_eq!(json["approval_id"], approval.as_str());
        assert_eq!(json["seq"], 3);
        assert_eq!(json["event"], "approval.requested");
        assert_eq!(json["aps"]["thread-id"], run.as_str());
        assert_eq!(json["aps"]["category"], "M_APPROVAL");
        assert_eq!(json["aps"]["alert"]["title"], "webapp: approval needed");
    }
    let entry = store.get_notification(id).unwrap();
    assert_eq!(entry.state, NotificationState::Delivered);
    assert_eq!(
        entry.done_targets,
        [
            format!("apns:{}", token('a')),
            format!("apns:{}", token('b'))
        ]
    );
    // Delivered once: a second pass sends nothing.
    dispatcher.deliver_due(&mut store).await.unwrap();
    assert_eq!(sender.sent().len(), 2);
}

/// What the iOS app's actions need (docs/push.md), from a real approval
/// and a real question: the approval's own `content_hash` (the one the
/// decision endpoint checks), its ids, the diff's summary unless redacted,
/// and the categories the app registers its actions under.
#[tokio::test]
async fn pushes_carry_what_the_apps_actions_need_and_redact_only_the_content() {
    for redact in [false, true] {
        let mut w = world();
        w.store
            .add_device_with_details(&token('a'), Platform::Ios, DeviceEnv::Production, None)
            .unwrap();
        let payload = json!({
            "title": "review the run's changes",
            "patch": "--- a/secret.rs\n+++ b/secret.rs\n+let key = \"s3cr3t\";\n",
            "stat": {"files": 2, "insertions": 5, "deletions": 1},
            "truncated": false,
            "tree": "ab".repeat(20),
        });
        let mut batch = w.store.batch().unwrap();
        let approval = batch
            .request_approval(&w.run, m::model::ApprovalType::Diff, payload, None)
            .unwrap();
        batch.commit().unwrap();
        let stored = w.store.get_approval(&approval.id).unwrap();
        w.event(
            "input.requested",
            json!({"question": "which database?", "schema": null}),
        );
        let sender = Arc::new(FakeSender::default());
        let config = NotifyConfig {
            redact,
            ..NotifyConfig::default()
        };
        let dispatcher = Dispatcher::from_config(&config).with_push_sender(sender.clone());
        dispatcher.deliver_due(&mut w.store).await.unwrap();
        let sent: Vec<Value> = sender
            .sent()
            .iter()
            .map(|p| serde_json::from_str(&p.to_json_string().unwrap()).unwrap())
            .collect();
        let push = |event: &str| {
            sent.iter()
                .find(|p| p["event"] == event)
                .unwrap_or_else(|| panic!("no {event} push in {sent:?}"))
                .clone()
        };
        let asked = push("approval.requested");
        assert_eq!(asked["aps"]["category"], "M_APPROVAL", "{asked}");
        assert_eq!(asked["approval_id"], approval.id.as_str());
        assert_eq!(asked["run_id"], w.run.as_str());
        assert_eq!(asked["content_hash"], stored.content_hash.as_str());
        assert_eq!(stored.content_hash.len(), 64);
        assert_eq!(asked["approval_type"], "diff");
        if redact {
            assert!(asked.get("summary").is_none(), "{asked}");
            assert!(!asked.to_string().contains("s3cr3t"), "{asked}");
        } else {
            assert_eq!(asked["summary"], "2 files, +5 -1", "{asked}");
        }
        let question = push("input.requested");
        assert_eq!(question["aps"]["category"], "M_QUESTION", "{question}");
        assert_eq!(question["run_id"], w.run.as_str());
        assert!(question.get("approval_id").is_none(), "{question}");
        assert!(question.get("content_hash").is_none(), "{question}");
        assert_eq!(
            question["aps"]["alert"]["body"]
                .as_str()
                .unwrap()
                .contains("which database?"),
            !redact,
            "{question}"
        );
    }
}

#[tokio::test]
async fn a_dead_token_removes_its_device_and_is_remembered() {
    let mut w = world();
    for c in ['a', 'b'] {
        w.store
            .add_device_with_details(&token(c), Platform::Ios, DeviceEnv::Production, None)
            .unwrap();
    }
    let id = w.event("run.finished", json!({"state": "completed"}));
    let sender = FakeSender::answering(
        &token('a'),
        vec![Outcome::Prune {
            reason: "APNs answered 410 Unregistered".into(),
        }],
    );
    let dispatcher =
        Dispatcher::from_config(&NotifyConfig::default()).with_push_sender(sender.clone());

    let report = dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(report.delivered, 1, "a pruned device is not a failure");
    let devices = w.store.list_device_infos().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].token, token('b'));
    let history = w.store.device_history(10).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].token, token('a'));
    assert_eq!(history[0].reason, "APNs answered 410 Unregistered");
    assert_eq!(dispatcher.health().pruned, 1);
    let entry = w.store.get_notification(id).unwrap();
    assert_eq!(entry.state, NotificationState::Delivered);
    assert_eq!(entry.done_targets.len(), 2);

    // The next notification reaches the live device only.
    w.event("run.finished", json!({"state": "cancelled"}));
    dispatcher.deliver_due(&mut w.store).await.unwrap();
    let sent = sender.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent.iter().filter(|p| p.token == token('a')).count(), 1);
}

#[tokio::test]
async fn a_retry_reaches_only_the_targets_not_yet_done() {
    let server = serve(vec![]);
    let mut w = world();
    w.store
        .add_device_with_details(&token('a'), Platform::Ios, DeviceEnv::Production, None)
        .unwrap();
    let id = w.event("run.finished", json!({"state": "completed"}));
    let sender = FakeSender::answering(
        &token('a'),
        vec![Outcome::Retry {
            reason: "APNs answered 503".into(),
        }],
    );
    let clock = FakeClock::new();
    let dispatcher =
        Dispatcher::from_config(&config(&format!("[[webhook]]\nurl = \"{}\"", server.url)))
            .with_push_sender(sender.clone())
            .with_clock(clock.clone());

    dispatcher.deliver_due(&mut w.store).await.unwrap();
    let entry = w.store.get_notification(id).unwrap();
    assert_eq!(entry.done_targets, ["webhook:webhook-1"]);
    clock.set(entry.next_attempt_at);
    let report = dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(server.received().len(), 1, "the webhook got it once");
    assert_eq!(sender.sent().len(), 2, "the device got it on the retry");
}

#[tokio::test]
async fn bad_apns_configuration_leaves_push_off_and_webhooks_working() {
    let server = serve(vec![]);
    let mut w = world();
    w.store
        .add_device_with_details(&token('a'), Platform::Ios, DeviceEnv::Production, None)
        .unwrap();
    let id = w.event("input.requested", json!({"question": "?"}));
    let dispatcher = Dispatcher::from_config(&config(&format!(
        r#"
        [apns]
        key_path = "{}"
        key_id = "ABCDE12345"
        team_id = "FGHIJ67890"
        topic = "com.example.m"
        [[webhook]]
        url = "{}"
        "#,
        w.dir().join("missing.p8").display(),
        server.url
    )));
    let health = dispatcher.health();
    assert!(
        matches!(health.apns, ApnsStatus::Unavailable { .. }),
        "{health:?}"
    );
    assert!(!health.is_healthy());

    dispatcher.deliver_due(&mut w.store).await.unwrap();
    assert_eq!(server.received().len(), 1);
    assert_eq!(
        w.store.get_notification(id).unwrap().state,
        NotificationState::Delivered
    );

    let results = dispatcher.send_test(&mut w.store).await.unwrap();
    let apns = results.iter().find(|r| r.sink == "APNs").unwrap();
    assert!(!apns.ok && apns.detail.contains("missing.p8"), "{apns:?}");
}

#[tokio::test]
async fn the_test_notification_goes_through_every_sink() {
    let server = serve(vec![]);
    let mut w = world();
    w.store
        .add_device_with_details(
            &token('a'),
            Platform::Ios,
            DeviceEnv::Sandbox,
            Some("phone"),
        )
        .unwrap();
    let sender = Arc::new(FakeSender::default());
    let dispatcher = Dispatcher::from_config(&config(&format!(
        r#"
        events = ["approval.requested"]
        [[webhook]]
        url = "{}"
        events = []
        [[command]]
        argv = ["true"]
        "#,
        server.url
    )))
    .with_push_sender(sender.clone());

    let results = dispatcher.send_test(&mut w.store).await.unwrap();
    let sinks: Vec<(&str, bool)> = results.iter().map(|r| (r.sink.as_str(), r.ok)).collect();
    assert_eq!(
        sinks,
        [
            ("APNs phone (sandbox, aaaaaaaaaaaa…)", true),
            ("webhook webhook-1", true),
            ("command command-1", true),
        ]
    );
    assert_eq!(server.received()[0].body["event"], "test");
    let push = &sender.sent()[0];
    assert_eq!(push.title, "m: test notification");
    // Nothing was queued for it.
    assert!(w.store.list_notifications(10).unwrap().is_empty());
}

/// Through the real binary and daemon: what a user with a webhook and a
/// hook command configured sees.
mod through_the_binary {
    use super::common::{wait_for, TestEnv};
    use super::*;

    #[test]
    fn an_approval_in_a_run_calls_the_webhook_and_the_hook_once_with_the_ids() {
        let env = TestEnv::new();
        let server = serve(vec![]);
        let hook_out = env.dir.path().join("hook.jsonl");
        let hook = env.script(
            "hook.sh",
            &format!(
                r#"printf '%s %s ' "$M_EVENT" "$M_APPROVAL_ID" >> {0}; cat >> {0}; echo >> {0}"#,
                hook_out.display()
            ),
        );
        env.write_config(&format!(
            "[notify]\nevents = [\"approval.requested\", \"run.completed\"]\n\n\
                 [[notify.webhook]]\nurl = \"{}\"\n\n[[notify.command]]\nargv = [\"{}\"]\n",
            server.url,
            hook.display()
        ));
        env.repo("api");
        let agent = env.script("agent.sh", "m ask approval --type command -- true");
        let run = env.start("api", "publish", &agent);
        env.fails(&["run", "wait", &run], 12);
        let approval = env.json(&["approvals", "--json"])[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        wait_for("the webhook", || !server.received().is_empty());
        {
            let received = server.received();
            assert_eq!(received.len(), 1);
            assert_eq!(received[0].method, "POST");
            let body = &received[0].body;
            assert_eq!(body["event"], "approval.requested");
            assert_eq!(body["run"]["id"], run.as_str());
            assert_eq!(body["approval"]["id"], approval.as_str());
        }
        // The hook writes its line in three steps: wait for the whole line.
        wait_for("the hook", || {
            let written = std::fs::read_to_string(&hook_out).unwrap_or_default();
            written.contains(&approval) && written.ends_with('\n')
        });
        let line = std::fs::read_to_string(&hook_out).unwrap();
        assert!(
            line.starts_with(&format!("approval.requested {approval} {{")),
            "{line}"
        );
        env.ok(&["approve", &run]);
        env.fails(&["run", "wait", &run], 0);
        wait_for("the completion webhook", || server.received().len() == 2);
        assert_eq!(server.received()[1].body["event"], "run.completed");
        let status = env.json(&["daemon", "status", "--json"]);
        assert!(status["daemon"]["notifications"].is_object(), "{status}");
    }

    #[test]
    fn a_notification_queued_before_a_crash_is_delivered_after_restart() {
        let env = TestEnv::new();
        // The hook asks to be tried again (exit 75) until the flag exists:
        // the notification is still pending when the daemon dies.
        let hook_out = env.dir.path().join("hook.txt");
        let flag = env.dir.path().join("flag");
        let hook = env.script(
            "hook.sh",
            &format!(
                "[ -e {} ] || exit 75; cat >> {}",
                flag.display(),
                hook_out.display()
            ),
        );
        env.write_config(&format!(
            "[notify]\nevents = [\"input.requested\"]\n\n[[notify.command]]\nargv = [\"{}\"]\n",
            hook.display()
        ));
        env.repo("api");
        let agent = env.script("agent.sh", "m ask input 'which database?'");
        let run = env.start("api", "ask", &agent);
        env.fails(&["run", "wait", &run], 13);
        env.kill_daemon();
        std::fs::write(&flag, "").unwrap();
        env.ok(&["daemon", "start"]);
        wait_for("the hook after restart", || {
            std::fs::read_to_string(&hook_out)
                .unwrap_or_default()
                .contains("which database?")
        });
    }

    #[test]
    fn notify_test_reports_each_sink() {
        let env = TestEnv::new();
        let server = serve(vec![]);
        env.write_config(&format!("[[notify.webhook]]\nurl = \"{}\"\n", server.url));
        let out = env.ok(&["notify", "test"]);
        assert!(out.starts_with("ok"), "{out}");
        assert_eq!(server.received().len(), 1);
        let env = TestEnv::new();
        env.fails(&["notify", "test"], 1);
    }

    /// Regression (QA): a webhook the config gets wrong was left out of the
    /// report without a word.
    #[test]
    fn notify_test_reports_a_sink_the_config_gets_wrong() {
        let env = TestEnv::new();
        let server = serve(vec![]);
        env.write_config(&format!(
                "[[notify.webhook]]\nurl = \"{}\"\n\n[[notify.webhook]]\nname = \"bad\"\nurl = \"ftp://example.com/x\"\n",
                server.url
            ));
        let out = env.m().args(["notify", "test"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("ok"), "{stdout}");
        assert!(
            stdout.contains("FAILED") && stdout.contains("ftp://example.com/x"),
            "{stdout}"
        );
        assert_eq!(server.received().len(), 1);
    }

    #[test]
    fn devices_take_an_environment_and_a_name() {
        let env = TestEnv::new();
        let token = "ab".repeat(32);
        env.ok(&[
            "device", "add", &token, "--env", "sandbox", "--name", "my phone",
        ]);
        let list = env.json(&["device", "list", "--json"]);
        assert_eq!(list[0]["env"], "sandbox");
        assert_eq!(list[0]["name"], "my phone");
        let out = env.ok(&["device", "add", &token, "--env", "production"]);
        assert!(out.contains("updated"), "{out}");
        env.fails(&["device", "add", &token, "--env", "staging"], 2);
    }
}
