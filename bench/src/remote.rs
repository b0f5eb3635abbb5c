//! Row 10 (issue 16): what a phone waits for through the remote API, beside
//! the same path through the Unix socket in the same run. A decision:
//! from `POST /v1/approvals/{id}/decision` to the agent going on, beside
//! `m approve`. The live stream: from an event to its arrival on
//! `GET /v1/runs/{id}/events/stream`, beside `m events --follow` reading
//! the same run at the same time.
//!
//! The client is what the iOS app is: HTTPS (rustls) pinning the daemon's
//! self-signed certificate by its fingerprint, one kept-alive connection
//! for decisions, a bearer token from pairing.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::{json, Value};

// The tests' client: one copy, test code kept out of the library.
#[path = "../../tests/remote/https.rs"]
mod https;

use crate::rows::{Line, Report};
use crate::util::{
    fail, fmt_ms, fmt_ratio, fmt_secs, mono_ns, percentile, stat, wait_for, Bench, MHome, Res, Stat,
};

/// A paired device's client: one HTTPS connection, kept alive.
struct Phone {
    rt: tokio::runtime::Runtime,
    port: u16,
    fingerprint: String,
    token: String,
    sender: Option<https::Sender>,
}

impl Phone {
    /// Pairs with the daemon of `home` (listening on loopback).
    fn pair(home: &MHome) -> Res<Phone> {
        let status: Value = serde_json::from_str(&home.ok(&["daemon", "status", "--json"])?)?;
        let url = status["remote"]["url"]
            .as_str()
            .ok_or("the daemon reports no remote.url")?;
        let port = url.rsplit(':').next().unwrap_or("").parse()?;
        let fingerprint = status["remote"]["fingerprint"]
            .as_str()
            .ok_or("no remote.fingerprint")?
            .to_string();
        let offer: Value =
            serde_json::from_str(&home.ok(&["device", "pair", "--json", "--name", "bench"])?)?;
        let mut phone = Phone {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            port,
            fingerprint,
            token: String::new(),
            sender: None,
        };
        let (code, paired) = phone.call(
            "POST",
            "/v1/pair",
            Some(json!({ "code": offer["code"], "name": "bench", "platform": "ios" })),
        )?;
        if code != 201 {
            return fail(format!("pairing answered {code}: {paired}"));
        }
        phone.token = paired["token"].as_str().unwrap_or_default().to_string();
        Ok(phone)
    }

    /// One request on the kept-alive connection (opened on first use).
    fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> Res<(u16, Value)> {
        let (port, fingerprint, token) = (self.port, self.fingerprint.clone(), self.token.clone());
        let mut sender = self.sender.take();
        let (result, sender) = self.rt.block_on(async move {
            if sender.as_ref().is_none_or(|s| s.is_closed()) {
                sender = Some(https::connect(port, &fingerprint).await?);
            }
            let s = sender.as_mut().expect("connected");
            s.ready().await?;
            let token = (!token.is_empty()).then_some(token.as_str());
            let body = body.map(|b| b.to_string());
            let response = s
                .send_request(https::request(method, path, port, token, body, &[])?)
                .await?;
            let code = response.status().as_u16();
            let bytes = response.into_body().collect().await?.to_bytes();
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Res::Ok(((code, value), sender))
        })?;
        self.sender = sender;
        Ok(result)
    }
}

/// A private m home whose daemon listens for the remote API on loopback.
fn remote_home<'a>(b: &'a Bench, name: &str) -> Res<MHome<'a>> {
    let home = MHome::new(b, name)?;
    std::fs::write(
        home.dir.join("config.toml"),
        "[remote]\nlisten = \"127.0.0.1:0\"\n",
    )?;
    home.ok(&["repo", "add", "--scratch", "--name", "s"])?;
    home.start_daemon()?;
    Ok(home)
}

fn one(x: f64) -> Stat {
    Stat {
        median: x,
        min: x,
        max: x,
    }
}

/// Row 10: both measures.
pub fn remote(b: &Bench, report: &mut Report) -> Res<()> {
    decisions(b, report)?;
    stream(b, report)
}

/// From a decision sent to the agent going on: the phone's POST and
/// `m approve` taking turns on one agent's approvals.
fn decisions(b: &Bench, report: &mut Report) -> Res<()> {
    let n = b.sized(200, 10);
    let home = remote_home(b, "remote-decide")?;
    let mut phone = Phone::pair(&home)?;
    let stamps = b.work.join("remote-asker.stamps");
    crate::util::remove(&stamps)?;
    let run = home.ok(&[
        "run",
        "start",
        "-r",
        "s",
        "asks",
        "--",
        &b.me_str(),
        "asker",
        &n.to_string(),
        &stamps.display().to_string(),
        &b.m.display().to_string(),
    ])?;
    let run = run.trim().to_string();
    // The asker writes "ask I T" before each `m ask approval` and "went I T"
    // when it returns.
    let read = |kind: &str, i: u64| -> Option<u64> {
        let text = std::fs::read_to_string(&stamps).unwrap_or_default();
        text.lines().find_map(|l| {
            let mut w = l.split(' ');
            (w.next() == Some(kind) && w.next() == Some(&i.to_string()))
                .then(|| w.next().and_then(|t| t.parse().ok()))
                .flatten()
        })
    };
    let (mut api, mut socket) = (vec![], vec![]);
    for i in 0..n {
        // Not timed: until approval i is pending (both paths alike).
        let mut pending = Value::Null;
        wait_for("a pending approval", Duration::from_secs(30), || {
            let (_, list) = phone.call(
                "GET",
                &format!("/v1/approvals?state=pending&run={run}"),
                None,
            )?;
            pending = list.get(0).cloned().unwrap_or(Value::Null);
            Ok(!pending.is_null())
        })?;
        let id = pending["id"].as_str().unwrap_or_default().to_string();
        let sent = mono_ns();
        if i % 2 == 0 {
            let (code, body) = phone.call(
                "POST",
                &format!("/v1/approvals/{id}/decision"),
                Some(json!({ "decision": "approve", "content_hash": pending["content_hash"] })),
            )?;
            if code != 200 {
                return fail(format!("the decision answered {code}: {body}"));
            }
        } else {
            crate::util::run_ok(home.m().args(["approve", &id]))?;
        }
        let mut went = None;
        wait_for("the agent to go on", Duration::from_secs(10), || {
            went = read("went", i);
            Ok(went.is_some())
        })?;
        let latency = went.unwrap_or(sent).saturating_sub(sent) as f64 / 1e9;
        if i % 2 == 0 {
            api.push(latency);
        } else {
            socket.push(latency);
        }
    }
    home.ok(&["run", "wait", &run])?;
    let pct = |s: &[f64], p: f64| percentile(s, p);
    for p in [50.0, 99.0] {
        let (ours, base) = (pct(&api, p), pct(&socket, p));
        let mut line = Line::new(
            10,
            format!("POST /v1/approvals/ID/decision (HTTPS) -> the agent goes on, p{p:.0}"),
        )
        .shown(one(ours), fmt_secs)
        .ratio(format!(
            "{} of m approve's ({}); {} decisions each",
            fmt_ratio(ours / base),
            fmt_secs(base),
            api.len()
        ));
        if p == 99.0 {
            line = line.target("under 20 ms", ours < 0.020);
        }
        report.push(line);
    }
    for p in [50.0, 99.0] {
        report.push(
            Line::new(
                10,
                format!("m approve ID (Unix socket) -> the agent goes on, p{p:.0} (baseline)"),
            )
            .shown(one(pct(&socket, p)), fmt_secs)
            .ratio(format!("max {}", fmt_secs(stat(&socket).max))),
        );
    }
    Ok(())
}

fn tick_ns(line: &str) -> Option<u64> {
    let mut words = line.split_whitespace();
    (words.next()? == "tick").then_some(())?;
    words.next()?;
    words.next()?.parse().ok()
}

/// The latencies (ms) of the ticks in one event (`m events --json`'s
/// shape), arrived at `now`.
fn ticks(event: &Value, now: u64, into: &mut Vec<f64>) {
    if event["type"] != "output" {
        return;
    }
    for line in event["data"]["lines"].as_array().into_iter().flatten() {
        if let Some(ns) = tick_ns(line.as_str().unwrap_or("")) {
            into.push(now.saturating_sub(ns) as f64 / 1e6);
        }
    }
}

/// Reads a run's event stream to its `end`; `ready` is set at its first
/// event. The latencies (ms) of its ticks.
fn read_stream(
    port: u16,
    fingerprint: String,
    token: String,
    run: String,
    ready: Arc<AtomicBool>,
) -> Res<Vec<f64>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut sender = https::connect(port, &fingerprint).await?;
        let path = format!("/v1/runs/{run}/events/stream");
        let response = sender
            .send_request(https::request("GET", &path, port, Some(&token), None, &[])?)
            .await?;
        if response.status() != 200 {
            return fail(format!("the stream answered {}", response.status()));
        }
        let mut body = response.into_body();
        let (mut reader, mut latencies, mut last) = (https::SseReader::default(), Vec::new(), 0);
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(120), body.frame())
                .await
                .map_err(|_| "the stream went quiet for two minutes")?;
            let Some(frame) = frame else {
                return fail("the stream ended before the run's end");
            };
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            let now = mono_ns();
            for sse in reader.push(&data) {
                match sse.event.as_str() {
                    "end" => return Ok(latencies),
                    "event" => {
                        ready.store(true, Ordering::SeqCst);
                        // What is measured must be the stream as promised.
                        let seq = sse.id.unwrap_or(0);
                        if seq <= last {
                            return fail(format!("seq {seq} came after {last}"));
                        }
                        last = seq;
                        if let Ok(event) = serde_json::from_str::<Value>(&sse.data) {
                            ticks(&event, now, &mut latencies);
                        }
                    }
                    _ => {}
                }
            }
        }
    })
}

/// From a ticker's line to its arrival, on the SSE stream and on
/// `m events --follow --json`, both reading the same run at once.
fn stream(b: &Bench, report: &mut Report) -> Res<()> {
    let home = remote_home(b, "remote-stream")?;
    let phone = Phone::pair(&home)?;
    let (rate, secs) = (1000u64, b.sized(3, 1));
    let (mut sse_runs, mut follow_runs) = (vec![], vec![]);
    for i in 0..b.iterations(3) {
        let go = b.work.join(format!("go-remote-{i}"));
        crate::util::remove(&go)?;
        let run = home
            .ok(&[
                "run",
                "start",
                "-r",
                "s",
                "bench",
                "--",
                &b.me_str(),
                "ticker",
                &rate.to_string(),
                &secs.to_string(),
                &go.display().to_string(),
            ])?
            .trim()
            .to_string();
        let sse_ready = Arc::new(AtomicBool::new(false));
        let sse = {
            let (port, fp, token, run, ready) = (
                phone.port,
                phone.fingerprint.clone(),
                phone.token.clone(),
                run.clone(),
                sse_ready.clone(),
            );
            std::thread::spawn(move || {
                read_stream(port, fp, token, run, ready).map_err(|e| e.to_string())
            })
        };
        let follow_ready = Arc::new(AtomicBool::new(false));
        let mut child = home
            .m()
            .args(["events", &run, "--follow", "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let out = child.stdout.take().expect("piped");
        let follow = {
            let ready = follow_ready.clone();
            std::thread::spawn(move || -> Result<Vec<f64>, String> {
                let mut latencies = Vec::new();
                for line in BufReader::new(out).lines() {
                    let line = line.map_err(|e| e.to_string())?;
                    let now = mono_ns();
                    ready.store(true, Ordering::SeqCst);
                    let event: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
                    ticks(&event, now, &mut latencies);
                }
                Ok(latencies)
            })
        };
        // The ticker starts once both readers have the run's first events.
        wait_for("both readers", Duration::from_secs(30), || {
            Ok(sse_ready.load(Ordering::SeqCst) && follow_ready.load(Ordering::SeqCst))
        })?;
        std::fs::write(&go, "")?;
        let sse = sse.join().map_err(|_| "the stream reader panicked")??;
        let follow = follow.join().map_err(|_| "the follower panicked")??;
        let status = child.wait()?;
        if !status.success() {
            return fail(format!("m events --follow exited with {status}"));
        }
        for (name, got) in [("the stream", &sse), ("m events --follow", &follow)] {
            if got.len() as u64 != rate * secs {
                return fail(format!("{name} got {} of {} lines", got.len(), rate * secs));
            }
        }
        sse_runs.push(sse);
        follow_runs.push(follow);
    }
    for p in [50.0, 99.0] {
        let of =
            |runs: &[Vec<f64>]| stat(&runs.iter().map(|l| percentile(l, p)).collect::<Vec<_>>());
        let (sse, follow) = (of(&sse_runs), of(&follow_runs));
        let mut line = Line::new(
            10,
            format!("event -> GET /v1/runs/ID/events/stream (HTTPS SSE), p{p:.0} at 1k/s"),
        )
        .shown(sse, fmt_ms)
        .ratio(format!(
            "{} of m events --follow's ({}), same run",
            fmt_ratio(sse.median / follow.median),
            fmt_ms(follow.median)
        ));
        if p == 99.0 {
            line = line.target("p99 under 5 ms at 1k/s, as row 4", sse.median < 5.0);
        }
        report.push(line);
    }
    for p in [50.0, 99.0] {
        let follow = stat(
            &follow_runs
                .iter()
                .map(|l| percentile(l, p))
                .collect::<Vec<_>>(),
        );
        report.push(
            Line::new(
                10,
                format!("event -> m events --follow (Unix socket), p{p:.0} at 1k/s (baseline)"),
            )
            .shown(follow, fmt_ms),
        );
    }
    Ok(())
}
