//! The remote API through a real daemon and a real HTTPS client (hyper over
//! rustls, pinning the daemon's certificate by its fingerprint, as the iOS
//! app does): pairing, auth, scopes, decisions bound to content, the event
//! stream, replies, and the Host check.

use crate::common;

mod https;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use common::TestEnv;
use http_body_util::BodyExt;
use https::{Sse, SseReader};
use hyper::body::Incoming;
use serde_json::{json, Value};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-acp-agent");

/// A test env whose daemon listens for the remote API on a free port.
fn remote_env(extra_config: &str) -> (TestEnv, Api) {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.home).unwrap();
    std::fs::write(
        env.home.join("config.toml"),
        format!("[remote]\nlisten = \"127.0.0.1:0\"\n{extra_config}"),
    )
    .unwrap();
    env.ok(&["daemon", "start"]);
    let status = env.json(&["daemon", "status", "--json"]);
    let url = status["remote"]["url"]
        .as_str()
        .expect("remote.url")
        .to_string();
    let fingerprint = status["remote"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0, "{url}");
    let api = Api {
        port,
        fingerprint,
        token: None,
    };
    (env, api)
}

/// Pairs a device; returns its API client (with its token) and its id.
fn pair(env: &TestEnv, api: &Api, args: &[&str]) -> (Api, String) {
    let mut argv = vec!["device", "pair", "--json"];
    argv.extend_from_slice(args);
    let offer = env.json(&argv);
    let code = offer["code"].as_str().unwrap();
    let (status, body) = api.post("/v1/pair", json!({ "code": code, "name": "phone" }));
    assert_eq!(status, 201, "{body}");
    let device = Api {
        token: Some(body["token"].as_str().unwrap().to_string()),
        ..api.clone()
    };
    (device, body["device_id"].as_str().unwrap().to_string())
}

#[derive(Clone)]
struct Api {
    port: u16,
    fingerprint: String,
    token: Option<String>,
}

impl Api {
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None, &[])
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body.to_string()), &[])
    }

    /// A request with extra headers (`Host` among them replaces the usual one).
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        Api::runtime().block_on(async {
            let response = self.send(method, path, body, headers).await;
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
            (status, value)
        })
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> hyper::Response<Incoming> {
        let mut sender = https::connect(self.port, &self.fingerprint)
            .await
            .expect("TLS with the pinned certificate");
        let request = https::request(
            method,
            path,
            self.port,
            self.token.as_deref(),
            body,
            headers,
        )
        .unwrap();
        sender.send_request(request).await.unwrap()
    }

    /// Opens the run's event stream (after `last_id`, if given).
    async fn open(&self, run: &str, last_id: Option<i64>) -> Stream {
        let last = last_id.map(|id| id.to_string());
        let mut headers = vec![];
        if let Some(last) = &last {
            headers.push(("last-event-id", last.as_str()));
        }
        let path = format!("/v1/runs/{run}/events/stream");
        let response = self.send("GET", &path, None, &headers).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream {
            body: response.into_body(),
            reader: SseReader::default(),
            ready: VecDeque::new(),
        }
    }

    /// Opens the run's event stream (after `last_id`, if given) and reads
    /// events until `until` says stop or the stream ends; returns them
    /// (heartbeats left out) and whether the stream ended by itself.
    fn stream(
        &self,
        run: &str,
        last_id: Option<i64>,
        mut until: impl FnMut(&Sse) -> bool,
    ) -> (Vec<Sse>, bool) {
        Api::runtime().block_on(async {
            let mut stream = self.open(run, last_id).await;
            let mut frames = Vec::new();
            while let Some(sse) = stream.next().await {
                if sse.event == "comment" {
                    continue;
                }
                let stop = until(&sse);
                frames.push(sse);
                if stop {
                    return (frames, false);
                }
            }
            (frames, true)
        })
    }
}

/// An open event stream.
struct Stream {
    body: Incoming,
    reader: SseReader,
    ready: VecDeque<Sse>,
}

impl Stream {
    /// The next block, heartbeats included; None once the stream has ended.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(sse) = self.ready.pop_front() {
                return Some(sse);
            }
            let frame = tokio::time::timeout(Duration::from_secs(60), self.body.frame())
                .await
                .expect("the stream went quiet for a minute")?;
            if let Ok(data) = frame.unwrap().into_data() {
                self.ready.extend(self.reader.push(&data));
            }
        }
    }
}

/// Waits until `check` holds, for up to 30 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_listener_is_off_by_default_and_reports_the_port_it_bound() {
    let env = TestEnv::new();
    env.ok(&["daemon", "start"]);
    let status = env.json(&["daemon", "status", "--json"]);
    assert!(status["remote"].is_null(), "{status}");
    let err = env.fails(&["device", "pair"], 2);
    assert!(
        err.contains("remote API is off") && err.contains("[remote]"),
        "{err}"
    );
    env.ok(&["daemon", "stop"]);

    let (env, api) = remote_env("");
    let shown = env.ok(&["daemon", "status"]);
    assert!(
        shown.contains(&format!("https://127.0.0.1:{}", api.port)),
        "{shown}"
    );
    // The self-signed certificate is kept private in the data directory.
    use std::os::unix::fs::PermissionsExt;
    let key = std::fs::metadata(env.home.join("remote/key.pem")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    // Unauthenticated, the API answers 401 with a JSON error and a hint.
    let (status, body) = api.get("/v1/status");
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].is_string() && body["hint"].is_string(),
        "{body}"
    );
}

#[test]
fn pairing_takes_a_good_code_once_refuses_used_and_expired_ones_and_limits_failures() {
    let (env, api) = remote_env("pairing_code_seconds = 2\n");
    let offer = env.json(&["device", "pair", "--json", "--name", "ana"]);
    let code = offer["code"].as_str().unwrap();
    let url = offer["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!(
            "https://127.0.0.1:{}/pair#code={code}&fp={}",
            api.port, api.fingerprint
        )
    );
    assert_eq!(offer["fingerprint"], api.fingerprint.as_str());
    assert!(offer["expires_at"].as_i64().is_some());
    // The terminal form draws the QR code and prints the URL.
    let shown = env.ok(&["device", "pair"]);
    assert!(
        shown.contains('█') && shown.contains("/pair#code="),
        "{shown}"
    );

    let apns = "ab".repeat(32);
    let (status, body) = api.post(
        "/v1/pair",
        json!({ "code": code, "name": "phone", "platform": "ios", "apns_token": apns }),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["name"], "ana",
        "the name given to `m device pair` wins"
    );
    assert_eq!(body["scopes"], json!(["read", "decide", "control"]));
    let token = body["token"].as_str().unwrap();
    // The database keeps no usable token.
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM remote_devices WHERE token_hash LIKE '%{}%'",
            token.split('.').nth(1).unwrap()
        )),
        0
    );
    // The phone's push token is a device of the seed's table.
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM devices WHERE token = '{apns}'"
        )),
        1
    );
    let listed = env.ok(&["device", "list"]);
    assert!(
        listed.contains("ana") && listed.contains("read,decide,control"),
        "{listed}"
    );

    // Used.
    let (status, body) = api.post("/v1/pair", json!({ "code": code }));
    assert_eq!(status, 401, "{body}");
    // Expired.
    let late = env.json(&["device", "pair", "--json"]);
    std::thread::sleep(Duration::from_millis(2500));
    let (status, _) = api.post("/v1/pair", json!({ "code": late["code"] }));
    assert_eq!(status, 401);
    // Rate limited: after 5 failures a minute, even a good code waits.
    let good = env.json(&["device", "pair", "--json"]);
    for _ in 0..3 {
        assert_eq!(api.post("/v1/pair", json!({ "code": "WRONG" })).0, 401);
    }
    let (status, body) = api.post("/v1/pair", json!({ "code": good["code"] }));
    assert_eq!(status, 429, "{body}");
    assert!(body["hint"].as_str().unwrap().contains("minute"), "{body}");
}

#[test]
fn auth_failures_scopes_and_revocation_closing_a_stream() {
    let (env, api) = remote_env("");
    env.repo("api");
    let agent = env.script("agent.sh", "m ask approval --type generic --title deploy");
    let run = env.start("api", "deploy", &agent);
    let (reader, reader_id) = pair(&env, &api, &["--scope", "read"]);

    // Auth failures.
    let wrong = Api {
        token: Some(format!("{reader_id}.{}", "0".repeat(64))),
        ..api.clone()
    };
    assert_eq!(wrong.get("/v1/status").0, 401);
    let garbage = Api {
        token: Some("garbage".into()),
        ..api.clone()
    };
    assert_eq!(garbage.get("/v1/runs").0, 401);
    let (status, body) = api.call("GET", "/v1/runs", None, &[("authorization", "Basic x")]);
    assert_eq!(status, 401, "{body}");

    // Scopes: read may read, not decide nor control.
    let approval = eventually_pending(&reader, &run);
    let (status, body) = reader.get(&format!("/v1/runs/{run}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], run.as_str());
    // The same run object as `m run show --json`.
    let shown = env.json(&["run", "show", &run, "--json"]);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&body), keys(&shown));
    for key in ["id", "repo", "prompt", "agent", "branch", "created_at"] {
        assert_eq!(body[key], shown[key], "{key}");
    }
    let (status, body) = reader.post(
        &format!(
            "/v1/approvals/{}/decision",
            approval["id"].as_str().unwrap()
        ),
        json!({ "decision": "approve", "content_hash": approval["content_hash"] }),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body["hint"].as_str().unwrap().contains("--scope"), "{body}");
    assert_eq!(
        reader.post(&format!("/v1/runs/{run}/cancel"), json!({})).0,
        403
    );
    let listed = env.json(&["device", "list", "--json"]);
    let paired = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "paired")
        .unwrap();
    assert_eq!(paired["scopes"], json!(["read"]));
    assert!(paired["last_seen_at"].as_i64().is_some());

    // Revocation ends an open stream at once, and the token with it.
    let stream_reader = reader.clone();
    let stream_run = run.clone();
    let streaming = std::thread::spawn(move || stream_reader.stream(&stream_run, None, |_| false));
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    env.ok(&["device", "rm", "phone"]);
    let (frames, ended) = streaming.join().unwrap();
    assert!(ended, "the stream ended by itself");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(frames.iter().any(|f| f.event == "event"), "{frames:?}");
    assert_eq!(reader.get("/v1/status").0, 401);
    env.ok(&["run", "cancel", &run]);
}

fn eventually_pending(api: &Api, run: &str) -> Value {
    let mut found = Value::Null;
    eventually("a pending approval", || {
        let (_, list) = api.get(&format!("/v1/approvals?state=pending&run={run}"));
        found = list.get(0).cloned().unwrap_or(Value::Null);
        !found.is_null()
    });
    found
}

#[test]
fn decisions_are_bound_to_content_idempotent_and_never_act_twice() {
    let (env, api) = remote_env("");
    env.repo("api");
    let out = env.dir.path().join("out");
    let agent = env.script(
        "agent.sh",
        &format!(
            "m ask approval --type command -- echo one > {0}.1; echo \"first=$?\" >> {0}\n\
             reason=$(m ask approval --type generic --title two); echo \"second=$? $reason\" >> {0}",
            out.display()
        ),
    );
    let run = env.start("api", "deploy", &agent);
    let (phone, phone_id) = pair(&env, &api, &[]);
    let first = eventually_pending(&phone, &run);
    let id = first["id"].as_str().unwrap();
    let (status, shown) = phone.get(&format!("/v1/approvals/{id}"));
    assert_eq!(status, 200);
    assert_eq!(shown["payload"]["argv"], json!(["echo", "one"]));
    let hash = shown["content_hash"].as_str().unwrap();
    assert_eq!(
        hash,
        env.json(&["approval", "show", id, "--json"])["content_hash"]
    );
    let decision = format!("/v1/approvals/{id}/decision");

    // Stale: not what the phone saw; nothing is decided.
    let (status, body) = phone.post(
        &decision,
        json!({ "decision": "approve", "content_hash": "0".repeat(64) }),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "stale");
    assert_eq!(body["state"], "pending");
    // A content_hash is required.
    let (status, body) = phone.post(&decision, json!({ "decision": "approve" }));
    assert_eq!(status, 400, "{body}");
    // The token is checked first (whatever the body), then the approval.
    let stranger = Api {
        token: Some(format!("{phone_id}.{}", "0".repeat(64))),
        ..api.clone()
    };
    let (status, body) = stranger.post(&decision, json!({ "not": "a decision" }));
    assert_eq!(status, 401, "{body}");
    let (status, body) = phone.post(
        "/v1/approvals/nosuch/decision",
        json!({ "decision": "approve", "content_hash": hash }),
    );
    assert_eq!(status, 404, "{body}");

    let approve = json!({ "decision": "approve", "content_hash": hash });
    let (status, decided) = phone.post(&decision, approve.clone());
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["state"], "approved");
    assert_eq!(
        decided["decided_by"],
        json!({ "kind": "device", "id": phone_id, "name": "phone" })
    );
    // The phone retries: the same answer, nothing done twice.
    let (status, again) = phone.post(&decision, approve);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, decided);
    // Another decision on it is a conflict with its state.
    let (status, body) = phone.post(
        &decision,
        json!({ "decision": "reject", "content_hash": hash }),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "decided");
    assert_eq!(body["state"], "approved");

    // The second, rejected with a reason that reaches the agent.
    let second = eventually_pending(&phone, &run);
    let (status, body) = phone.post(
        &format!("/v1/approvals/{}/decision", second["id"].as_str().unwrap()),
        json!({ "decision": "reject", "reason": "not today", "content_hash": second["content_hash"] }),
    );
    assert_eq!(status, 200, "{body}");
    env.fails(&["run", "wait", &run], 0);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "first=0\nsecond=1 not today\n"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{}.1", out.display())).unwrap(),
        "one\n"
    );
    let resolved: Vec<Value> = env
        .events(&run)
        .into_iter()
        .filter(|e| e["type"] == "approval.resolved")
        .collect();
    assert_eq!(resolved.len(), 2, "one event per decision: {resolved:?}");
    assert_eq!(resolved[0]["data"]["by"]["kind"], "device");
    assert!(env
        .ok(&["approvals", "--state", "all"])
        .contains("device phone"));
    assert!(env.ok(&["events", &run]).contains("by device phone"));
}

#[test]
fn a_stream_resumed_with_last_event_id_has_no_gap_and_no_duplicate() {
    let (env, api) = remote_env("");
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        "for i in $(seq 1 30); do echo before $i; done\n\
         answer=$(m ask input 'go on?')\n\
         for i in $(seq 1 30); do echo after $answer $i; done",
    );
    let run = env.start("api", "count", &agent);
    let (phone, _) = pair(&env, &api, &[]);
    // Read until the question, then drop the connection.
    let (first, ended) = phone.stream(&run, None, |f| f.data.contains("input.requested"));
    assert!(!ended);
    let last = first.last().unwrap().id.unwrap();
    // While nobody listens, the run goes on.
    let (status, body) = phone.post(&format!("/v1/runs/{run}/reply"), json!({ "text": "yes" }));
    assert_eq!(status, 200, "{body}");
    env.fails(&["run", "wait", &run], 0);
    let (rest, ended) = phone.stream(&run, Some(last), |_| false);
    assert!(ended, "the stream ends with the run");
    let end = rest.last().unwrap();
    assert_eq!(end.event, "end");
    assert_eq!(
        serde_json::from_str::<Value>(&end.data).unwrap()["state"],
        "completed"
    );
    let seqs: Vec<i64> = first
        .iter()
        .chain(rest.iter())
        .filter(|f| f.event == "event")
        .map(|f| f.id.unwrap())
        .collect();
    let all = env.events(&run);
    let expected: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, expected);
    // Each frame's data is the event itself.
    let provided = rest
        .iter()
        .find(|f| f.data.contains("input.provided"))
        .unwrap();
    let event: Value = serde_json::from_str(&provided.data).unwrap();
    assert_eq!(event["data"]["text"], "yes");
    assert_eq!(Some(event["seq"].as_i64().unwrap()), provided.id);
    // ?since= works as Last-Event-ID does.
    let (status, events) = phone.get(&format!("/v1/runs/{run}/events?since={last}"));
    assert_eq!(status, 200);
    assert_eq!(events[0]["seq"].as_i64(), Some(last + 1));
}

/// Reads `stream` until the run asks a question and then waits: the
/// question and two heartbeats of the quiet that follows. Every event's
/// data is the whole event, its `id` its seq: a heartbeat never splits one.
async fn until_two_heartbeats_after_a_question(stream: &mut Stream) -> Vec<Sse> {
    let (mut frames, mut asked, mut beats) = (Vec::new(), false, 0);
    while beats < 2 {
        let sse = stream
            .next()
            .await
            .expect("the stream goes on while the run waits");
        if sse.event == "comment" {
            assert_eq!(sse.data, "heartbeat");
            assert_eq!(sse.id, None, "a heartbeat moves no resume point");
            beats += usize::from(asked);
        } else {
            let event: Value = serde_json::from_str(&sse.data).unwrap();
            assert_eq!(Some(event["seq"].as_i64().unwrap()), sse.id);
            asked |= event["type"] == "input.requested";
        }
        frames.push(sse);
    }
    frames
}

#[test]
fn an_idle_stream_sends_heartbeats_and_resumes_around_them_with_no_gap() {
    let (env, api) = remote_env("heartbeat = \"1s\"\n");
    env.repo("api");
    let agent = env.script(
        "agent.sh",
        "for i in $(seq 1 5); do echo before $i; done\n\
         a=$(m ask input 'first?')\n\
         for i in $(seq 1 5); do echo middle $a $i; done\n\
         b=$(m ask input 'second?')\n\
         for i in $(seq 1 5); do echo after $b $i; done",
    );
    let run = env.start("api", "idle", &agent);
    let (phone, _) = pair(&env, &api, &[]);
    let rt = Api::runtime();

    // The run waits for its first answer: heartbeats, then the phone leaves
    // (its last frames were heartbeats). Two come well within the default
    // interval (15 s) of each other: the configured one is used.
    let started = Instant::now();
    let first = rt.block_on(async {
        let mut stream = phone.open(&run, None).await;
        until_two_heartbeats_after_a_question(&mut stream).await
    });
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(first.last().unwrap().event, "comment");
    let last = first.iter().filter_map(|f| f.id).next_back().unwrap();
    env.ok(&["reply", &run, "one"]);

    // Resumed after the last event seen: the rest, quiet again at the
    // second question, then to the end.
    let rest = rt.block_on(async {
        let mut stream = phone.open(&run, Some(last)).await;
        let mut rest = until_two_heartbeats_after_a_question(&mut stream).await;
        env.ok(&["reply", &run, "two"]);
        while let Some(sse) = stream.next().await {
            rest.push(sse);
        }
        rest
    });
    assert_eq!(rest.last().unwrap().event, "end");
    let seqs: Vec<i64> = first
        .iter()
        .chain(rest.iter())
        .filter(|f| f.event == "event")
        .map(|f| f.id.unwrap())
        .collect();
    let all = env.events(&run);
    let expected: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, expected, "no gap and no duplicate");
    let lines: Vec<&str> = all
        .iter()
        .filter(|e| e["type"] == "output")
        .flat_map(|e| e["data"]["lines"].as_array().unwrap())
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(lines.contains(&"after two 5"), "{lines:?}");
}

/// The daemon's anonymous resident memory (its heap: not the binary's
/// pages), in bytes.
fn anonymous_memory(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

#[test]
fn a_stream_whose_reader_stops_holds_up_nobody_and_later_gets_everything() {
    let (env, api) = remote_env("");
    env.repo("api");
    // About 48 MB of output, far more than the connection's buffers and
    // the daemon's ring of recent events hold, past a reader that reads
    // nothing: its stream falls behind and catches up from the database.
    // Then small events, one at a time, so that the ring (which keeps the
    // last few hundred events whoever has read them) no longer holds big
    // ones.
    let go = env.dir.path().join("go");
    let agent = env.script(
        "agent.sh",
        &format!(
            "while [ ! -e {} ]; do sleep 0.05; done\n\
             yes 'a line of output of about a hundred bytes, printed over and over to fill the log.....' | head -n 480000\n\
             for i in $(seq 1 300); do echo tail $i; sleep 0.01; done",
            go.display()
        ),
    );
    let run = env.start("api", "flood", &agent);
    let (phone, _) = pair(&env, &api, &[]);
    let daemon = env.daemon_pid().unwrap();
    let rt = Api::runtime();
    let mut stalled = rt.block_on(async {
        let mut stream = phone.open(&run, None).await;
        let first = stream.next().await.unwrap();
        assert_eq!(first.event, "event");
        stream
    });
    // Outside `block_on` this client reads nothing: its connection is not
    // even polled. A terminal and another phone follow the run live.
    let mut terminal = env
        .m()
        .args(["events", &run, "--follow", "--json"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::fs::write(&go, "").unwrap();
    let (other, ended) = phone.stream(&run, None, |_| false);
    assert!(ended);
    assert_eq!(other.last().unwrap().event, "end");
    assert!(terminal.wait().unwrap().success());
    assert_eq!(env.run_state(&run), "completed");
    let all = env.events(&run);
    let expected: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let seqs: Vec<i64> = other.iter().filter_map(|f| f.id).collect();
    assert_eq!(seqs, expected);
    // The daemon holds no copy of what the stalled reader has not read.
    let stored: u64 = all
        .iter()
        .filter(|e| e["type"] == "output")
        .map(|e| e["data"].to_string().len() as u64)
        .sum();
    assert!(stored > 40 << 20, "{stored} bytes of output");
    eventually("the daemon's heap to settle under half the output", || {
        anonymous_memory(daemon) < stored / 2
    });
    // The reader reads again: everything, in order, once, then the end.
    let rest = rt.block_on(async {
        let mut rest = Vec::new();
        while let Some(sse) = stalled.next().await {
            rest.push(sse);
        }
        rest
    });
    assert_eq!(rest.last().unwrap().event, "end");
    let seqs: Vec<i64> = rest.iter().filter_map(|f| f.id).collect();
    assert_eq!(seqs, expected[1..], "no gap and no duplicate");
}

#[test]
fn a_reply_that_does_not_fit_its_form_is_refused_and_one_that_fits_answers() {
    let (env, api) = remote_env("");
    env.repo("api");
    let run = env
        .ok(&[
            "run", "start", "-r", "api", "pick", "--acp", "--once", "--", FAKE, "elicit",
        ])
        .trim()
        .to_string();
    env.fails(&["run", "wait", &run], 13);
    let (phone, device_id) = pair(&env, &api, &[]);
    let (_, shown) = phone.get(&format!("/v1/runs/{run}"));
    assert_eq!(
        shown["pending_questions"][0]["question"],
        "Which database should I use?"
    );
    let reply = format!("/v1/runs/{run}/reply");
    let (status, body) = phone.post(&reply, json!({ "value": "mysql" }));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("'mysql' is not one of"),
        "{body}"
    );
    assert_eq!(env.run_state(&run), "waiting_input");
    let (status, body) = phone.post(&reply, json!({ "value": 3, "text": "x" }));
    assert_eq!(status, 400, "{body}");
    let (status, body) = phone.post(&reply, json!({ "value": "SQLite" }));
    assert_eq!(status, 200, "{body}");
    env.fails(&["run", "wait", &run], 0);
    // The answer is a human's, recorded as by the device that sent it.
    let provided = env
        .events(&run)
        .into_iter()
        .find(|e| e["type"] == "input.provided")
        .unwrap();
    assert_eq!(provided["data"]["text"], "SQLite");
    assert_eq!(provided["data"]["by"]["kind"], "device", "{provided}");
    assert_eq!(provided["data"]["by"]["id"], device_id, "{provided}");
    assert_eq!(provided["data"]["by"]["name"], "phone", "{provided}");
}

#[test]
fn hostile_host_headers_bodies_and_paths_get_json_errors() {
    let (env, api) = remote_env("");
    let (phone, _) = pair(&env, &api, &[]);
    for host in [
        "evil.example",
        "127.0.0.1.evil.example",
        "localhost.evil.example:443",
        "",
    ] {
        let (status, body) = phone.call("GET", "/v1/status", None, &[("host", host)]);
        assert_eq!(status, 403, "{host}: {body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("not a name of this daemon"));
    }
    let port = api.port.to_string();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "LOCALHOST".into(),
    ] {
        let (status, body) = phone.call("GET", "/v1/status", None, &[("host", &host)]);
        assert_eq!(status, 200, "{host}: {body}");
    }
    // No CORS: a page elsewhere gets no permission to read answers.
    let response = Api::runtime().block_on(phone.send(
        "GET",
        "/v1/status",
        None,
        &[("origin", "https://evil.example")],
    ));
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert_eq!(response.headers()["cache-control"], "no-store");
    // The phone page: served without a token, with a policy that runs no
    // inline script and loads nothing from elsewhere.
    for (path, kind) in [
        ("/", "text/html"),
        ("/pair", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
    ] {
        let page = Api {
            token: None,
            ..api.clone()
        };
        let response = Api::runtime().block_on(page.send("GET", path, None, &[]));
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(!policy.contains("unsafe-eval"), "{policy}");
    }
    // Bodies: capped, JSON only.
    let big = json!({ "code": "x".repeat(400 * 1024) }).to_string();
    let (status, body) = api.call("POST", "/v1/pair", Some(big), &[]);
    assert_eq!(status, 413, "{body}");
    assert!(body["hint"].as_str().unwrap().contains("KiB"), "{body}");
    let (status, body) = api.call("POST", "/v1/pair", Some("{".into()), &[]);
    assert_eq!(status, 400, "{body}");
    let (status, body) = phone.get("/v1/nothing");
    assert_eq!(status, 404, "{body}");
    let (status, body) = phone.get("/v1/runs/ffffffff");
    assert_eq!(status, 404, "{body}");
    let (status, body) = phone.post("/v1/status", json!({}));
    assert_eq!(status, 405, "{body}");
}

/// A client that sends its whole request before reading the answer (most
/// do) gets the 413 for a body over the limit, not a reset connection: the
/// daemon reads the rest of the body before it answers and closes. The body
/// is larger than both sides' socket buffers together, so without that the
/// client could not finish sending.
#[test]
fn an_oversized_body_sent_in_full_gets_its_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_env, api) = remote_env("");
    const MIB: usize = 1024 * 1024;
    let size = 40 * MIB;
    let answer = Api::runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", api.port))
            .await
            .unwrap();
        let mut tls = https::tls_connector(&api.fingerprint)
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let head = format!(
            "POST /v1/pair HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n",
            api.port
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b' '; MIB];
        for sent in 0..size / MIB {
            tls.write_all(&chunk)
                .await
                .unwrap_or_else(|e| panic!("after {sent} MiB of the body: {e}"));
        }
        tls.flush().await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0; 4096];
        // Up to the end (or the close without TLS's goodbye).
        while let Ok(n @ 1..) = tls.read(&mut buf).await {
            answer.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    });
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("320 KiB at most"), "{answer}");
}

#[test]
fn control_starts_a_named_agent_and_cancels_it() {
    let (env, api) = remote_env(&format!(
        "[agents.claude]\ncommand = [\"{FAKE}\", \"elicit\"]\n"
    ));
    env.repo("api");
    let (phone, _) = pair(&env, &api, &[]);
    let (status, run) = phone.post(
        "/v1/runs",
        json!({ "repo": "api", "prompt": "choose a database", "agent": "claude" }),
    );
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap();
    assert_eq!(run["prompt"], "choose a database");
    env.fails(&["run", "wait", id], 13);
    let (status, body) = phone.post(&format!("/v1/runs/{id}/cancel"), json!({}));
    assert_eq!(status, 200, "{body}");
    env.wait_state(id, "cancelled");
    let (status, body) = phone.post(&format!("/v1/runs/{id}/cancel"), json!({}));
    assert_eq!(status, 409, "{body}");
    let (status, listed) = phone.get("/v1/runs?state=cancelled&repo=api");
    assert_eq!(status, 200);
    assert_eq!(listed[0]["id"], id);
}

/// The end-of-run review is bound to the worktree's tree: a file changed
/// after the review was asked makes a decision carrying the old hash (from
/// the API) or none (`m approve`) stale, and the review is asked again with
/// the new content; an unchanged worktree approves as usual.
#[test]
fn a_review_whose_worktree_changed_is_stale_and_asked_again() {
    let (env, api) = remote_env("");
    let repo = env.repo("api");
    let agent = env.script("agent.sh", "echo first > change.txt");
    let start = |prompt: &str| {
        env.ok(&[
            "run",
            "start",
            "-r",
            "api",
            prompt,
            "--review",
            "--",
            agent.to_str().unwrap(),
        ])
        .trim()
        .to_string()
    };
    let worktree = |run: &str| {
        std::path::PathBuf::from(
            env.json(&["run", "show", run, "--json"])["workspace_path"]
                .as_str()
                .unwrap(),
        )
    };
    let (phone, _) = pair(&env, &api, &[]);

    let run = start("review me");
    let first = eventually_pending(&phone, &run);
    let (old_id, old_hash) = (
        first["id"].as_str().unwrap().to_string(),
        first["content_hash"].as_str().unwrap().to_string(),
    );
    let tree = first["payload"]["tree"].as_str().unwrap();
    assert_eq!(tree.len(), 40, "a git tree id: {first}");
    assert!(first["payload"]["patch"]
        .as_str()
        .unwrap()
        .contains("+first"));

    // The user edits the worktree while the phone shows the review.
    std::fs::write(worktree(&run).join("change.txt"), "second\n").unwrap();
    let decision = format!("/v1/approvals/{old_id}/decision");
    let (status, body) = phone.post(
        &decision,
        json!({ "decision": "approve", "content_hash": old_hash }),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "stale", "{body}");
    assert_eq!(body["state"], "rejected", "closed as stale: {body}");
    assert_eq!(body["approval"]["decided_by"]["kind"], "m", "{body}");
    let reason = body["approval"]["rejection_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("stale: the worktree changed"),
        "{reason}"
    );

    // Asked again, with what the worktree holds now and its own hash.
    let second = eventually_pending(&phone, &run);
    let new_id = second["id"].as_str().unwrap();
    assert_eq!(body["asked_again"], new_id, "{body}");
    assert_ne!(new_id, old_id);
    assert_ne!(second["content_hash"], old_hash);
    assert_ne!(second["payload"]["tree"], tree);
    assert!(
        second["payload"]["patch"]
            .as_str()
            .unwrap()
            .contains("+second"),
        "{second}"
    );
    assert!(reason.contains(&new_id[..8]), "names the new one: {reason}");
    assert_eq!(env.run_state(&run), "waiting_approval");
    // The phone retries the old one, even as a rejection: still stale,
    // never taken for m's own closing of it.
    for decision_kind in ["approve", "reject"] {
        let (status, body) = phone.post(
            &decision,
            json!({ "decision": decision_kind, "content_hash": old_hash }),
        );
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "stale", "{body}");
    }
    // The log says why, by m.
    let closed = env
        .events(&run)
        .into_iter()
        .find(|e| e["type"] == "approval.resolved" && e["data"]["approval_id"] == old_id.as_str())
        .expect("the stale review's approval.resolved");
    assert_eq!(closed["data"]["by"]["kind"], "m");
    assert_eq!(closed["data"]["state"], "rejected");
    assert!(closed["data"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("stale:"));
    // The new review, unchanged since, approves fine and its work lands.
    let (status, body) = phone.post(
        &format!("/v1/approvals/{new_id}/decision"),
        json!({ "decision": "approve", "content_hash": second["content_hash"] }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "approved");
    env.fails(&["run", "wait", &run], 0);
    let branch = env.json(&["run", "show", &run, "--json"])["branch"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:change.txt")]),
        "second\n"
    );

    // At the terminal: `m approve` without a hash notices the change too.
    let run = start("review me at the terminal");
    let first = eventually_pending(&phone, &run);
    std::fs::write(worktree(&run).join("other.txt"), "late\n").unwrap();
    let err = env.fails(&["approve", &run], 4);
    assert!(
        err.contains("stale") && err.contains("asked again as approval") && err.contains("hint:"),
        "{err}"
    );
    let second = eventually_pending(&phone, &run);
    assert_ne!(second["id"], first["id"]);
    assert!(second["payload"]["patch"]
        .as_str()
        .unwrap()
        .contains("+late"));
    // `m approve` of the same approval again: stale, not "already decided".
    let err = env.fails(&["approve", first["id"].as_str().unwrap()], 4);
    assert!(err.contains("stale"), "{err}");
    env.ok(&["approve", &run]);
    env.fails(&["run", "wait", &run], 0);
    let branch = env.json(&["run", "show", &run, "--json"])["branch"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:other.txt")]),
        "late\n"
    );
}

/// `[remote] tls_cert`/`tls_key` serve a certificate of one's own (the
/// client pins its fingerprint, and no self-signed one is made), and
/// `M_REMOTE_LISTEN` wins over the file's address (port 1, which this
/// user cannot bind: the daemon would not start on it).
#[test]
fn a_configured_certificate_is_served_and_the_environment_address_wins() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.home).unwrap();
    let own = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let certs = env.dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("box.crt"), own.cert.pem()).unwrap();
    std::fs::write(certs.join("box.key"), own.key_pair.serialize_pem()).unwrap();
    std::fs::write(
        env.home.join("config.toml"),
        format!(
            "[remote]\nlisten = \"127.0.0.1:1\"\ntls_cert = \"{0}/box.crt\"\ntls_key = \"{0}/box.key\"\n",
            certs.display()
        ),
    )
    .unwrap();
    let out = env
        .m()
        .env("M_REMOTE_LISTEN", "127.0.0.1:0")
        .args(["daemon", "start"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = env.json(&["daemon", "status", "--json"]);
    let url = status["remote"]["url"].as_str().unwrap();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 1, "{url}");
    let fingerprint = m::model::hex(
        ring::digest::digest(&ring::digest::SHA256, own.cert.der().as_ref()).as_ref(),
    );
    assert_eq!(status["remote"]["fingerprint"], fingerprint.as_str());
    assert!(
        !env.home.join("remote/key.pem").exists(),
        "no self-signed certificate is made"
    );
    let api = Api {
        port,
        fingerprint,
        token: None,
    };
    // The pinned client reaches it: TLS shows the configured certificate.
    let (phone, phone_id) = pair(&env, &api, &[]);
    let (status, body) = phone.get("/v1/status");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{body}");
    assert_eq!(body["active_runs"], json!([]), "the live runs' ids: {body}");
    assert_eq!(body["pending_approvals"], 0, "{body}");
    assert_eq!(body["device"]["id"], phone_id.as_str(), "{body}");
    // A client pinning another certificate is refused.
    let other = Api {
        fingerprint: "0".repeat(64),
        ..api.clone()
    };
    let refused = std::panic::catch_unwind(|| other.get("/v1/status"));
    assert!(refused.is_err(), "a wrong pin must fail the handshake");
}
