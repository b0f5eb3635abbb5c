//! Rows 8 and 9 (issue 20): a long history costs nothing, memory comes
//! back, output takes little room, and a human's round trip is quick.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use m::model::{new_event_id, new_id};
use rusqlite::{params, Connection, OpenFlags};

use crate::fixtures::{agent_line, output_data};
use crate::rows::{human, Line, Report};
use crate::util::{
    fail, fmt_mb, fmt_ratio, fmt_secs, mono_ns, percentile, proc_kb, stat, time_cmd, wait_for,
    Bench, MHome, Res, Stat,
};

/// Fills the m database of `home` (whose scratch repo `s` exists) with
/// `runs` finished runs of repo `s`, `events` one-line `output` events
/// spread over them, all through m's own schema (indexes and triggers
/// included), as years of use would leave it. Returns a small run's id.
pub fn gen_history(db: &Path, runs: u64, events: u64) -> Res<String> {
    let store = m::store::Store::open(db)?;
    let conn = store.conn();
    let repo: String = conn.query_row("SELECT id FROM repos WHERE name = 's'", [], |r| r.get(0))?;
    let per_run = (events / runs.max(1)).max(1);
    let start = m::model::now() - 86_400 * 365;
    let mut small = String::new();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    {
        let mut run = conn.prepare(
            "INSERT INTO runs (id, repo_id, prompt, state, workspace_path, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'completed', ?4, ?5, ?5)",
        )?;
        let mut event = conn.prepare(
            "INSERT INTO events (id, run_id, seq, type, data, created_at)
             VALUES (?1, ?2, ?3, 'output', ?4, ?5)",
        )?;
        let mut written = 0;
        for i in 0..runs {
            let id = new_id();
            let at = start + (i as i64 * 86_400 * 365) / runs.max(1) as i64;
            run.execute(params![
                id,
                repo,
                format!("fix the flaky test number {i} in the api crate"),
                format!("/nonexistent/workspaces/{id}"),
                at
            ])?;
            for seq in 1..=per_run {
                if written >= events {
                    break;
                }
                event.execute(params![
                    new_event_id(),
                    id,
                    seq as i64,
                    output_data(&[agent_line(seq)]),
                    at
                ])?;
                written += 1;
            }
            small = id;
            if i % 100_000 == 99_999 {
                conn.execute_batch("COMMIT; BEGIN IMMEDIATE")?;
            }
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(small)
}

/// Row 8: the same commands on an empty history and on a long one.
pub fn history(b: &Bench, report: &mut Report) -> Res<()> {
    let n = b.iterations(15).max(3);
    let runs = b.history.0.unwrap_or(b.sized(1_000_000, 2_000));
    let events = b.history.1.unwrap_or(b.sized(10_000_000, 20_000));
    let empty = MHome::new(b, "history-empty")?;
    empty.ok(&["repo", "add", "--scratch", "--name", "s"])?;
    let full = MHome::new(b, "history-full")?;
    full.ok(&["repo", "add", "--scratch", "--name", "s"])?;
    let t = Instant::now();
    let small = gen_history(&full.db(), runs, events)?;
    eprintln!(
        "  fixture: {} runs, {} events in {}",
        human(runs),
        human(events),
        fmt_secs(t.elapsed().as_secs_f64())
    );
    empty.start_daemon()?;
    full.start_daemon()?;
    let start = |home: &MHome| -> Res<f64> {
        let args = ["run", "start", "-r", "s", "bench", "--wait", "--", "true"];
        Ok(time_cmd(home.m().args(args))?.0)
    };
    start(&empty)?;
    start(&full)?;
    let (mut e, mut f) = (vec![], vec![]);
    for _ in 0..n {
        e.push(start(&empty)?);
        f.push(start(&full)?);
    }
    let (e, f) = (stat(&e), stat(&f));
    let r = f.median / e.median;
    report.push(
        Line::new(
            8,
            format!("m run start --wait, `true`, after {} runs", human(runs)),
        )
        .secs(f)
        .ratio(format!("{} of an empty history", fmt_ratio(r)))
        .target("within 1.2x of an empty history", r <= 1.2),
    );
    report.push(Line::new(8, "m run start --wait, `true`, empty history").secs(e));

    // Reads people type all day, against `m --version` (the cost of
    // starting m at all), interleaved.
    let small_prefix = &small[..8];
    let cases: [(&str, Vec<&str>); 6] = [
        ("m run list", vec!["run", "list"]),
        (
            "m run list --state waiting_approval",
            vec!["run", "list", "--state", "waiting_approval"],
        ),
        ("m approvals", vec!["approvals"]),
        ("m status", vec!["status"]),
        ("m run show RUN", vec!["run", "show", small_prefix]),
        ("m events RUN (a small run)", vec!["events", small_prefix]),
    ];
    let version = || -> Res<f64> { Ok(time_cmd(full.m().arg("--version"))?.0) };
    // Each costs a few ms beside --version's few ms on a shared machine:
    // many pairs, so that the medians' ratio is not one scheduler's mood.
    let pairs = b.iterations(41).max(3);
    for (what, args) in cases {
        let (mut m, mut v) = (vec![], vec![]);
        time_cmd(full.m().args(&args))?;
        for _ in 0..pairs {
            v.push(version()?);
            m.push(time_cmd(full.m().args(&args))?.0);
        }
        let (m, v) = (stat(&m), stat(&v));
        let r = m.median / v.median;
        report.push(
            Line::new(8, format!("{what}, {} runs", human(runs)))
                .secs(m)
                .ratio(format!(
                    "{} of m --version ({})",
                    fmt_ratio(r),
                    fmt_secs(v.median)
                ))
                .target("within 1.5x of m --version", r <= 1.5),
        );
    }
    drop(full);
    drop(empty);
    memory(b, report)?;
    size(b, report)
}

fn one(kb: f64) -> Stat {
    Stat {
        median: kb,
        min: kb,
        max: kb,
    }
}

/// RSS of `pid` once it has had `settle` to give memory back.
fn settled_rss(pid: u32, settle: Duration) -> f64 {
    std::thread::sleep(settle);
    proc_kb(pid, "VmRSS").unwrap_or(0) as f64
}

/// What of `pid`'s RSS is its own memory (anonymous: heap, stacks) and what
/// is mapped files (m's code, shared with the page cache and every m).
fn rss_split(pid: u32) -> String {
    let kb = |key| proc_kb(pid, key).unwrap_or(0) as f64;
    format!(
        "anon {}, files {}",
        fmt_mb(kb("RssAnon")),
        fmt_mb(kb("RssFile"))
    )
}

/// Memory comes back: the daemon's RSS 10 s after a big ingest and after
/// 100 followers leave.
fn memory(b: &Bench, report: &mut Report) -> Res<()> {
    let lines = b.sized(1_000_000, 20_000);
    let followers = b.sized(100, 20);
    let settle = Duration::from_secs(b.sized(10, 3));
    let home = MHome::new(b, "history-memory")?;
    home.ok(&["repo", "add", "--scratch", "--name", "s"])?;
    let pid = home.start_daemon()?;
    let fresh = settled_rss(pid, Duration::from_millis(300));
    let fresh_split = rss_split(pid);
    home.ok(&[
        "run",
        "start",
        "-r",
        "s",
        "bench",
        "--wait",
        "--",
        &b.me_str(),
        "lines",
        &lines.to_string(),
    ])?;
    let peak = proc_kb(pid, "VmHWM").unwrap_or(0) as f64;
    let after_ingest = settled_rss(pid, settle);
    report.push(
        Line::new(
            8,
            format!(
                "m daemon RSS {} s after a {}-line ingest",
                settle.as_secs(),
                human(lines)
            ),
        )
        .shown(one(after_ingest), fmt_mb)
        .ratio(format!(
            "{}; fresh {} ({fresh_split}), peak {}",
            rss_split(pid),
            fmt_mb(fresh),
            fmt_mb(peak)
        ))
        .target("under 15 MB", after_ingest < 15.0 * 1024.0),
    );

    // Followers of a run that prints a line a second, then all leave.
    let run = home.ok(&[
        "run",
        "start",
        "-r",
        "s",
        "ticking",
        "--",
        "sh",
        "-c",
        "while :; do echo tick; sleep 1; done",
    ])?;
    let run = run.trim().to_string();
    let mut children: Vec<Child> = Vec::new();
    for _ in 0..followers {
        children.push(
            home.m()
                .args(["events", &run, "--follow"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    let with = proc_kb(pid, "VmRSS").unwrap_or(0) as f64;
    for child in &mut children {
        let _ = child.kill();
    }
    for mut child in children {
        let _ = child.wait();
    }
    let after = settled_rss(pid, settle);
    let after_split = rss_split(pid);
    home.ok(&["run", "cancel", &run])?;
    report.push(
        Line::new(
            8,
            format!(
                "m daemon RSS {} s after {followers} followers leave",
                settle.as_secs()
            ),
        )
        .shown(one(after), fmt_mb)
        .ratio(format!(
            "{after_split}; {} while they followed",
            fmt_mb(with)
        ))
        .target("under 15 MB", after < 15.0 * 1024.0),
    );
    Ok(())
}

/// Size: the database's bytes per byte of output an agent printed.
fn size(b: &Bench, report: &mut Report) -> Res<()> {
    let lines = b.sized(1_000_000, 20_000);
    let home = MHome::new(b, "history-size")?;
    home.ok(&["repo", "add", "--scratch", "--name", "s"])?;
    home.start_daemon()?;
    // What an empty database takes (its schema's pages) is not output's.
    let pages = |path: &Path| -> Res<i64> {
        let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        Ok(db.query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| r.get(0),
        )?)
    };
    let empty = pages(&home.db())?;
    home.ok(&[
        "run",
        "start",
        "-r",
        "s",
        "bench",
        "--wait",
        "--",
        &b.me_str(),
        "lines",
        &lines.to_string(),
    ])?;
    home.stop_daemon();
    let printed: u64 = (1..=lines).map(|i| agent_line(i).len() as u64 + 1).sum();
    let bytes = pages(&home.db())? - empty;
    let r = bytes as f64 / printed as f64;
    report.push(
        Line::new(
            8,
            format!("database growth per output byte, {}-line run", human(lines)),
        )
        .shown(one(bytes as f64 / 1024.0), fmt_mb)
        .ratio(format!(
            "{r:.2} bytes per byte printed ({} printed; the empty database's {} aside)",
            fmt_mb(printed as f64 / 1024.0),
            fmt_mb(empty as f64 / 1024.0)
        ))
        .target("at most 1.2", r <= 1.2),
    );
    Ok(())
}

// Row 9 -------------------------------------------------------------------

/// A webhook on loopback: answers 200 to every POST and sends the time
/// (CLOCK_MONOTONIC) each arrived.
fn webhook() -> Res<(String, mpsc::Receiver<u64>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut reader = BufReader::new(match stream.try_clone() {
                    Ok(s) => s,
                    Err(_) => return,
                });
                let mut writer = stream;
                // Requests on a kept-alive connection, one after another.
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let at = mono_ns();
                    if writer
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                    let _ = tx.send(at);
                }
            });
        }
    });
    Ok((url, rx))
}

/// Row 9: from an agent's `m ask approval` to the webhook, and from
/// `m approve` to the agent going on, p50 and p99.
pub fn round_trip(b: &Bench, report: &mut Report) -> Res<()> {
    let n = b.sized(200, 10);
    let (url, hits) = webhook()?;
    let home = MHome::new(b, "round-trip")?;
    std::fs::write(
        home.dir.join("config.toml"),
        format!(
            "[notify]\nevents = [\"approval.requested\"]\n[[notify.webhook]]\nurl = \"{url}\"\n"
        ),
    )?;
    home.ok(&["repo", "add", "--scratch", "--name", "s"])?;
    home.start_daemon()?;
    let stamps = b.work.join("asker.stamps");
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
    let read = |kind: &str, i: u64| -> Res<Option<u64>> {
        let text = std::fs::read_to_string(&stamps).unwrap_or_default();
        Ok(text.lines().find_map(|l| {
            let mut w = l.split(' ');
            (w.next() == Some(kind) && w.next() == Some(&i.to_string()))
                .then(|| w.next().and_then(|t| t.parse().ok()))
                .flatten()
        }))
    };
    let (mut to_hook, mut to_agent) = (vec![], vec![]);
    for i in 0..n {
        let hit = hits
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("no webhook for approval {i}"))?;
        let mut asked = None;
        wait_for("the asker's stamp", Duration::from_secs(10), || {
            asked = read("ask", i)?;
            Ok(asked.is_some())
        })?;
        to_hook.push(hit.saturating_sub(asked.unwrap_or(hit)) as f64 / 1e9);
        let approve = mono_ns();
        crate::util::run_ok(home.m().args(["approve", &run]))?;
        let mut went = None;
        wait_for("the agent to go on", Duration::from_secs(10), || {
            went = read("went", i)?;
            Ok(went.is_some())
        })?;
        to_agent.push(went.unwrap_or(approve).saturating_sub(approve) as f64 / 1e9);
    }
    home.ok(&["run", "wait", &run])?;
    for (what, samples) in [
        ("m ask approval -> webhook on loopback", &to_hook),
        ("m approve -> the agent goes on", &to_agent),
    ] {
        let (p50, p99) = (percentile(samples, 50.0), percentile(samples, 99.0));
        report.push(
            Line::new(9, format!("{what}, p50"))
                .shown(one(p50), fmt_secs)
                .ratio(format!("{} round trips", samples.len())),
        );
        report.push(
            Line::new(9, format!("{what}, p99"))
                .shown(one(p99), fmt_secs)
                .ratio(format!("max {}", fmt_secs(stat(samples).max)))
                .target("under 20 ms", p99 < 0.020),
        );
    }
    Ok(())
}

/// The agent of row 9: asks `n` approvals one after another, stamping
/// each ask and each return in `stamps`.
pub fn asker(n: u64, stamps: &Path, m: &Path) -> Res<()> {
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stamps)?;
    for i in 0..n {
        writeln!(out, "ask {i} {}", mono_ns())?;
        let status = std::process::Command::new(m)
            .args(["ask", "approval", "--type", "generic", "--title"])
            .arg(format!("step {i}"))
            .stdout(Stdio::null())
            .status()?;
        writeln!(out, "went {i} {}", mono_ns())?;
        if !status.success() {
            return fail(format!("m ask approval exited with {status}"));
        }
    }
    Ok(())
}
