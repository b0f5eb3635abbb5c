//! The rows of the table (issue 9). Each measures m and its baselines side
//! by side, in the same run, and adds its lines to the report.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::fixtures;
use crate::peer::Peer;
use crate::util::{
    fail, fmt_mb, fmt_ms, fmt_rate, fmt_ratio, fmt_secs, mono_ns, percentile, proc_kb, remove,
    run_ok, stat, time_cmd, wait_for, Bench, MHome, Res, RssSampler, Stat,
};

/// One line of the table.
pub struct Line {
    pub row: u8,
    pub what: String,
    pub median: String,
    pub range: String,
    pub ratio: String,
    pub target: String,
    /// Whether the line's target is met, if it has one.
    pub met: Option<bool>,
}

impl Line {
    pub fn new(row: u8, what: impl Into<String>) -> Line {
        Line {
            row,
            what: what.into(),
            median: String::new(),
            range: String::new(),
            ratio: String::new(),
            target: String::new(),
            met: None,
        }
    }

    pub fn shown(mut self, s: Stat, fmt: impl Fn(f64) -> String) -> Line {
        self.median = fmt(s.median);
        self.range = format!("{} … {}", fmt(s.min), fmt(s.max));
        self
    }

    pub fn secs(self, s: Stat) -> Line {
        self.shown(s, fmt_secs)
    }

    pub fn ratio(mut self, text: impl Into<String>) -> Line {
        self.ratio = text.into();
        self
    }

    pub fn target(mut self, text: impl Into<String>, met: bool) -> Line {
        self.target = format!(
            "{}: {}",
            text.into(),
            if met { "met" } else { "**missed**" }
        );
        self.met = Some(met);
        self
    }

    pub fn note(mut self, text: impl Into<String>) -> Line {
        self.target = text.into();
        self
    }

    pub fn unavailable(row: u8, what: impl Into<String>, why: &str) -> Line {
        let mut line = Line::new(row, what);
        line.median = why.to_string();
        line
    }
}

pub type Report = Vec<Line>;

fn repeat(n: usize, mut f: impl FnMut(usize) -> Res<f64>) -> Res<Vec<f64>> {
    (0..n).map(&mut f).collect()
}

/// Spawns `true` and waits for it: the floor of any command.
fn bare_spawn() -> Res<f64> {
    let start = Instant::now();
    let status = Command::new("true").status()?;
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        return fail("`true` failed");
    }
    Ok(secs)
}

// Row 1 -------------------------------------------------------------------

pub fn run_start(b: &Bench, report: &mut Report) -> Res<()> {
    let n = b.iterations(10).max(3);
    let home = MHome::new(b, "start")?;
    home.ok(&["repo", "add", "--scratch", "--name", "s"])?;
    home.start_daemon()?;
    let start = || -> Res<f64> {
        let args = ["run", "start", "-r", "s", "bench", "--wait", "--", "true"];
        Ok(time_cmd(home.m().args(args))?.0)
    };
    start()?; // warm-up
    let peer = Peer::start(b, "start");
    if let Ok(peer) = &peer {
        let id = peer.add(&["true"])?;
        peer.wait(id)?;
    }
    // Each iteration measures every contender, so a change in the machine's
    // load touches them alike.
    let (mut m, mut spawn, mut wait, mut poll) = (vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        m.push(start()?);
        spawn.push(bare_spawn()?);
        spawn.push(bare_spawn()?);
        if let Ok(peer) = &peer {
            let t = Instant::now();
            let id = peer.add(&["true"])?;
            peer.wait(id)?;
            wait.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let id = peer.add(&["true"])?;
            peer.poll_done(id)?;
            poll.push(t.elapsed().as_secs_f64());
        }
    }
    let (m, spawn) = (stat(&m), stat(&spawn));
    let what = "m run start --wait, exec `true`, scratch repo (warm daemon)";
    let peer = match peer {
        Ok(_) => (stat(&wait), stat(&poll)),
        Err(e) => {
            report.push(
                Line::new(1, what)
                    .secs(m)
                    .ratio(format!("{} of spawn", fmt_ratio(m.median / spawn.median))),
            );
            report.push(Line::unavailable(
                1,
                "pueue add + pueue wait, `true` (peer)",
                &e.to_string(),
            ));
            report.push(Line::new(1, "bare spawn of `true` (ceiling)").secs(spawn));
            return Ok(());
        }
    };
    let (wait, poll) = peer;
    report.push(
        Line::new(1, what)
            .secs(m)
            .ratio(format!(
                "{} of pueue, {} of spawn",
                fmt_ratio(m.median / wait.median),
                fmt_ratio(m.median / spawn.median)
            ))
            .target("no slower than pueue add + wait", m.median <= wait.median),
    );
    report.push(
        Line::new(1, "pueue add + pueue wait, `true` (peer)")
            .secs(wait)
            .note("its wait polls every 2 s"),
    );
    report.push(
        Line::new(
            1,
            "pueue add + `pueue status` every 10 ms until done (peer)",
        )
        .secs(poll)
        .ratio(format!("m is {} of it", fmt_ratio(m.median / poll.median)))
        .note("pueue's own floor: its daemon loop"),
    );
    report.push(Line::new(1, "bare spawn of `true` (ceiling)").secs(spawn));
    Ok(())
}

// Row 2 -------------------------------------------------------------------

pub fn workspace(b: &Bench, report: &mut Report, repo: &Path, files: u64) -> Res<()> {
    // Seven: checkouts of 20k files on a shared disk vary by seconds.
    let n = b.iterations(7);
    let home = MHome::new(b, "workspace")?;
    let repo_str = repo.display().to_string();
    home.ok(&["repo", "add", &repo_str, "--name", "big"])?;
    home.start_daemon()?;
    let me = b.me_str();
    // Each contender starts from written-back, undeleted files: deleting
    // 20k files (the disk may discard them) and writing back the last
    // checkout's dirty pages slowed whatever ran next by seconds, so the
    // copies are removed only after the timings, and `sync` runs first.
    let settle = || run_ok(&mut Command::new("sync")).map(drop);
    let mut runs = Vec::new();
    let mut run_once = |i: usize| -> Res<f64> {
        let stamp = b.work.join(format!("stamp-{i}"));
        remove(&stamp)?;
        let stamp_str = stamp.display().to_string();
        settle()?;
        let t0 = mono_ns();
        let id = home.ok(&[
            "run", "start", "-r", "big", "bench", "--", &me, "stamp", &stamp_str,
        ])?;
        let id = id.trim().to_string();
        wait_for("the agent to start", Duration::from_secs(120), || {
            Ok(stamp.exists())
        })?;
        let spawned: u64 = std::fs::read_to_string(&stamp)?.trim().parse()?;
        home.ok(&["run", "wait", &id])?;
        runs.push(id);
        Ok(spawned.saturating_sub(t0) as f64 / 1e9)
    };
    run_once(1000)?; // warm-up
    let git = |args: &[&str]| run_ok(b.cmd("git").current_dir(repo).args(args));
    let worktree_once = |i: usize| -> Res<f64> {
        let path = b.work.join(format!("wt-{i}"));
        let path_str = path.display().to_string();
        let branch = format!("bench-wt-{i}");
        settle()?;
        let t = Instant::now();
        git(&[
            "worktree",
            "add",
            "--quiet",
            "--no-track",
            "-b",
            &branch,
            "--",
            &path_str,
            "HEAD",
        ])?;
        Ok(t.elapsed().as_secs_f64())
    };
    let clone_once = |i: usize| -> Res<f64> {
        let path = b.work.join(format!("clone-{i}"));
        remove(&path)?;
        settle()?;
        let t = Instant::now();
        run_ok(
            b.cmd("git")
                .args(["clone", "--quiet", "--", &repo_str])
                .arg(&path),
        )?;
        Ok(t.elapsed().as_secs_f64())
    };
    worktree_once(1000)?;
    // Interleaved, so a change in the machine's load touches all three.
    let (mut m, mut worktree, mut clone) = (vec![], vec![], vec![]);
    for i in 0..n {
        m.push(run_once(i)?);
        worktree.push(worktree_once(i)?);
        clone.push(clone_once(i)?);
    }
    for id in &runs {
        home.ok(&["run", "rm", id])?;
    }
    for i in (0..n).chain([1000]) {
        let path = b.work.join(format!("wt-{i}")).display().to_string();
        git(&["worktree", "remove", "--force", &path])?;
        git(&["branch", "-D", &format!("bench-wt-{i}")])?;
        remove(&b.work.join(format!("clone-{i}")))?;
    }
    // The disk's speed drifts by seconds from one minute to the next, so
    // each ratio is taken within an iteration (back-to-back timings), and
    // the median of those is reported.
    let paired = |a: &[f64], b: &[f64]| {
        stat(&a.iter().zip(b).map(|(a, b)| a / b).collect::<Vec<_>>()).median
    };
    let (ratio, clone_ratio) = (paired(&m, &worktree), paired(&clone, &worktree));
    let (m, worktree, clone) = (stat(&m), stat(&worktree), stat(&clone));
    report.push(
        Line::new(
            2,
            format!("m run start until the agent runs, {files} files"),
        )
        .secs(m)
        .ratio(format!("{} of worktree add (paired)", fmt_ratio(ratio)))
        .target("within 1.2x of git worktree add", ratio <= 1.2),
    );
    report.push(Line::new(2, "git worktree add (ceiling)").secs(worktree));
    report.push(
        Line::new(2, "git clone of the same repo (naive)")
            .secs(clone)
            .ratio(format!(
                "{} of worktree add (paired)",
                fmt_ratio(clone_ratio)
            )),
    );
    Ok(())
}

// Rows 3, 6, 7: ingest --------------------------------------------------------

pub struct Ingest {
    pub lines: u64,
    pub secs: f64,
    pub events: u64,
    pub peak_kb: u64,
    /// Peaks of VmRSS over the first and the second half of the run.
    pub early_kb: u64,
    pub late_kb: u64,
    pub hwm_kb: u64,
    /// `m events RUN` (text) over the run's log, and sqlite3 on the same query.
    pub list_m: f64,
    pub list_sqlite: Option<f64>,
    /// Seconds the raw ceiling took to insert the same rows.
    pub raw_same: f64,
}

fn sqlite3_events_query(run: &str) -> String {
    format!(
        "SELECT id, run_id, seq, type, data, created_at FROM events \
         WHERE run_id = '{run}' AND seq > 0 ORDER BY seq;"
    )
}

/// One agent printing `lines` lines through m, until the run completed with
/// every line stored; then the same rows through the raw ceiling.
pub fn ingest_once(b: &Bench, lines: u64) -> Res<Ingest> {
    let home = MHome::new(b, "ingest")?;
    home.ok(&["repo", "add", "--scratch", "--name", "s"])?;
    let pid = home.start_daemon()?;
    let me = b.me_str();
    let count = lines.to_string();
    let sampler = RssSampler::start(pid);
    let t = Instant::now();
    let out = run_ok(home.m().args([
        "run", "start", "-r", "s", "bench", "--wait", "--", &me, "lines", &count,
    ]))?;
    let secs = t.elapsed().as_secs_f64();
    let samples = sampler.finish();
    let peak = |from: f64, to: f64| {
        samples
            .iter()
            .filter(|(t, _)| *t >= from * secs && *t < to * secs)
            .map(|(_, kb)| *kb)
            .max()
            .unwrap_or(0)
    };
    let (peak_kb, early_kb, late_kb) = (peak(0.0, 2.0), peak(0.0, 0.5), peak(0.5, 2.0));
    let hwm_kb = proc_kb(pid, "VmHWM").unwrap_or(0);
    let run = out.trim().to_string();
    home.stop_daemon();

    let db = Connection::open_with_flags(home.db(), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let (events, stored): (i64, i64) = db.query_row(
        "SELECT count(*), COALESCE(sum(json_array_length(data, '$.lines')), 0)
         FROM events WHERE run_id = ?1 AND type = 'output'",
        [&run],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if stored as u64 != lines {
        return fail(format!("m stored {stored} of {lines} lines"));
    }
    let rows: Vec<(String, Option<String>)> = {
        let mut stmt =
            db.prepare("SELECT type, data FROM events WHERE run_id = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([&run], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    drop(db);
    let list_m = time_cmd(home.m().args(["events", &run]))?.0;
    let list_sqlite = match &b.sqlite3 {
        Some(sqlite3) => Some(
            time_cmd(
                b.cmd(sqlite3)
                    .arg(home.db())
                    .arg(sqlite3_events_query(&run)),
            )?
            .0,
        ),
        None => None,
    };
    drop(home);
    let raw_same = fixtures::raw_insert(&b.work.join("raw.db"), &rows, 512)?;
    Ok(Ingest {
        lines,
        secs,
        events: events as u64,
        peak_kb,
        early_kb,
        late_kb,
        hwm_kb,
        list_m,
        list_sqlite,
        raw_same,
    })
}

/// The same agent under pueue, to completion (polled every 10 ms).
fn pueue_ingest(b: &Bench, peer: &Peer, lines: u64) -> Res<f64> {
    let me = b.me_str();
    let count = lines.to_string();
    let t = Instant::now();
    let id = peer.add(&[&me, "lines", &count])?;
    peer.poll_done(id)?;
    let secs = t.elapsed().as_secs_f64();
    let log = std::fs::read(peer.task_log(id))?;
    let got = log.iter().filter(|&&c| c == b'\n').count() as u64;
    if got < lines {
        return fail(format!("pueue's log holds {got} of {lines} lines"));
    }
    peer.ok(&["clean"])?;
    Ok(secs)
}

pub fn ingest(b: &Bench, report: &mut Report, lines: u64) -> Res<Vec<Ingest>> {
    // More than elsewhere: pueue's times depend on where in its loop a task
    // lands, and m's pipeline on what else the two cores are doing.
    let n = b.iterations(7);
    let per_line: Vec<(String, Option<String>)> = (1..=lines)
        .map(|i| {
            (
                "output".to_string(),
                Some(fixtures::output_data(&[fixtures::agent_line(i)])),
            )
        })
        .collect();
    let peer = Peer::start(b, "ingest");
    // Interleaved, so a change in the machine's load touches all alike.
    let (mut runs, mut raw_lines, mut pueue) = (vec![], vec![], vec![]);
    for i in 0..n {
        runs.push(ingest_once(b, lines)?);
        // The one-row-per-line reference is slow (seconds) and steady.
        if i < 3 {
            let raw = fixtures::raw_insert(&b.work.join("raw.db"), &per_line, 512)?;
            raw_lines.push(lines as f64 / raw);
        }
        if let Ok(peer) = &peer {
            let secs = pueue_ingest(b, peer, lines)?;
            // Its fixed cost: the same add and poll of a task that prints nothing.
            let t = Instant::now();
            let id = peer.add(&["true"])?;
            peer.poll_done(id)?;
            let fixed = t.elapsed().as_secs_f64();
            pueue.push((lines as f64 / secs, secs, fixed));
        }
    }
    drop(per_line);
    let raw_lines = stat(&raw_lines);
    let pueue_secs = stat(&pueue.iter().map(|p| p.1).collect::<Vec<_>>());
    let pueue_fixed = stat(&pueue.iter().map(|p| p.2).collect::<Vec<_>>());
    let pueue = peer.map(|_| stat(&pueue.iter().map(|p| p.0).collect::<Vec<_>>()));
    let m_lines = stat(
        &runs
            .iter()
            .map(|r| r.lines as f64 / r.secs)
            .collect::<Vec<_>>(),
    );
    let m_rows = stat(
        &runs
            .iter()
            .map(|r| r.events as f64 / r.secs)
            .collect::<Vec<_>>(),
    );
    let raw_rows = stat(
        &runs
            .iter()
            .map(|r| r.events as f64 / r.raw_same)
            .collect::<Vec<_>>(),
    );
    let per_event =
        lines as f64 / stat(&runs.iter().map(|r| r.events as f64).collect::<Vec<_>>()).median;
    let size = human(lines);
    let mut line = Line::new(
        3,
        format!("m: agent prints {size} lines, until completed with all stored"),
    )
    .shown(m_lines, fmt_rate)
    .ratio(format!(
        "{} in {}",
        fmt_secs(stat(&runs.iter().map(|r| r.secs).collect::<Vec<_>>()).median),
        size
    ));
    if let Ok(p) = &pueue {
        let ratio = format!(
            "{}; {} of pueue",
            line.ratio,
            fmt_ratio(m_lines.median / p.median)
        );
        line = line
            .ratio(ratio)
            .target("lines/s at least pueue's", m_lines.median >= p.median);
    }
    report.push(line);
    let row_ratio = m_rows.median / raw_rows.median;
    report.push(
        Line::new(
            3,
            format!("m: event rows stored ({per_event:.0} lines per event)"),
        )
        .shown(m_rows, fmt_rate)
        .ratio(format!("{} of raw, same rows", fmt_ratio(row_ratio)))
        .target("at least 0.6x of the raw ceiling", row_ratio >= 0.6),
    );
    report.push(
        Line::new(3, "raw rusqlite insert of the rows m stored (ceiling)")
            .shown(raw_rows, fmt_rate)
            .note("same schema, pragmas, v7 ids, 512 rows a transaction"),
    );
    report.push(
        Line::new(
            3,
            format!("raw rusqlite, one row per line, {size} rows (reference)"),
        )
        .shown(raw_lines, fmt_rate)
        .ratio(format!(
            "m's lines/s is {} of it",
            fmt_ratio(m_lines.median / raw_lines.median)
        )),
    );
    match pueue {
        Ok(p) => {
            report.push(
                Line::new(3, format!("pueue runs the same agent, {size} lines (peer)"))
                    .shown(p, fmt_rate)
                    .ratio(format!("{} in {size}", fmt_secs(pueue_secs.median)))
                    .note("appends to a flat log file"),
            );
            report.push(
                Line::new(3, "pueue runs `true` the same way (its fixed cost)")
                    .secs(pueue_fixed)
                    .note("its daemon's loop: the lines above fit inside it"),
            );
        }
        Err(e) => report.push(Line::unavailable(
            3,
            "pueue runs the same agent (peer)",
            &e.to_string(),
        )),
    }
    Ok(runs)
}

pub fn human(n: u64) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

// Row 4 -------------------------------------------------------------------

fn tick_ns(line: &str) -> Option<u64> {
    let mut words = line.split_whitespace();
    (words.next()? == "tick").then_some(())?;
    words.next()?;
    words.next()?.parse().ok()
}

/// Latencies (ms) from the ticker writing a line to a reader getting it:
/// through `m events --follow --json`, or straight through a pipe.
fn follow_once(b: &Bench, home: Option<&MHome>, rate: u64, secs: u64, tag: &str) -> Res<Vec<f64>> {
    let go = b.work.join(format!("go-{tag}"));
    remove(&go)?;
    let go_str = go.display().to_string();
    let (rate_s, secs_s) = (rate.to_string(), secs.to_string());
    let ticker = [b.me_str(), "ticker".into(), rate_s, secs_s, go_str];
    let mut child = match home {
        Some(home) => {
            let mut args = vec![
                "run".to_string(),
                "start".into(),
                "-r".into(),
                "s".into(),
                "bench".into(),
                "--".into(),
            ];
            args.extend(ticker.iter().cloned());
            let id = home.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
            home.m()
                .args(["events", id.trim(), "--follow", "--json"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?
        }
        None => {
            let child = b
                .cmd(&ticker[0])
                .args(&ticker[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()?;
            std::fs::write(&go, "")?;
            child
        }
    };
    let mut latencies = Vec::with_capacity((rate * secs) as usize);
    let reader = BufReader::new(child.stdout.take().expect("piped"));
    for line in reader.lines() {
        let line = line?;
        let now = mono_ns();
        if !go.exists() {
            std::fs::write(&go, "")?;
        }
        let mut record = |text: &str| {
            if let Some(ns) = tick_ns(text) {
                latencies.push(now.saturating_sub(ns) as f64 / 1e6);
            }
        };
        if home.is_some() {
            let event: serde_json::Value = serde_json::from_str(&line)?;
            if event["type"] == "output" {
                for text in event["data"]["lines"].as_array().into_iter().flatten() {
                    record(text.as_str().unwrap_or(""));
                }
            }
        } else {
            record(&line);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        return fail(format!("the follower exited with {status}"));
    }
    if latencies.len() as u64 != rate * secs {
        return fail(format!("got {} of {} lines", latencies.len(), rate * secs));
    }
    Ok(latencies)
}

pub fn follow(b: &Bench, report: &mut Report) -> Res<()> {
    let n = b.iterations(3);
    let home = MHome::new(b, "follow")?;
    home.ok(&["repo", "add", "--scratch", "--name", "s"])?;
    home.start_daemon()?;
    for (rate, secs) in [(1000u64, b.sized(3, 1)), (10_000, b.sized(2, 1))] {
        let rate_name = format!("{}k/s", rate / 1000);
        let mut m_runs = Vec::new();
        let mut pipe_runs = Vec::new();
        for i in 0..n {
            m_runs.push(follow_once(
                b,
                Some(&home),
                rate,
                secs,
                &format!("m{rate}-{i}"),
            )?);
            pipe_runs.push(follow_once(b, None, rate, secs, &format!("p{rate}-{i}"))?);
        }
        for p in [50.0, 99.0] {
            let m = stat(&m_runs.iter().map(|l| percentile(l, p)).collect::<Vec<_>>());
            let pipe = stat(
                &pipe_runs
                    .iter()
                    .map(|l| percentile(l, p))
                    .collect::<Vec<_>>(),
            );
            let mut line = Line::new(4, format!("m events --follow, p{p:.0} at {rate_name}"))
                .shown(m, fmt_ms)
                .ratio(format!("pipe: {}", fmt_ms(pipe.median)));
            if rate == 1000 && p == 99.0 {
                line = line.target("p99 under 5 ms at 1k/s", m.median < 5.0);
            }
            report.push(line);
        }
        let worst = m_runs.iter().flatten().cloned().fold(0.0, f64::max);
        report.push(
            Line::new(4, format!("m events --follow, max at {rate_name}")).note(format!(
                "{} over {} lines",
                fmt_ms(worst),
                rate * secs * n as u64
            )),
        );
    }
    Ok(())
}

// Row 5 -------------------------------------------------------------------

pub fn reads(b: &Bench, report: &mut Report) -> Res<()> {
    let n = b.iterations(5);
    let (runs, events) = (b.sized(100_000, 10_000), b.sized(1_000_000, 100_000));
    let home = MHome::new(b, "reads")?;
    let t = Instant::now();
    let run = fixtures::gen_db(&home.db(), runs, events)?;
    eprintln!(
        "  fixture: {} runs, {} events in {}",
        human(runs),
        human(events),
        fmt_secs(t.elapsed().as_secs_f64())
    );
    let db = home.db();
    let sqlite = |args: &[&str]| -> Res<f64> {
        let sqlite3 = b.sqlite3.as_ref().ok_or("no sqlite3 shell")?;
        Ok(time_cmd(b.cmd(sqlite3).args(args))?.0)
    };
    let db_str = db.display().to_string();
    let list_sql = "SELECT id, repo_id, prompt, state, workspace_path, created_at, updated_at \
                    FROM runs WHERE 1=1 ORDER BY created_at DESC, rowid DESC;";
    let events_sql = sqlite3_events_query(&run);
    let cases: [(String, Vec<&str>, Vec<&str>); 3] = [
        (
            // Every run, as the shell's SELECT (the table shows 20 unless told).
            format!("m run list --all, {} runs", human(runs)),
            vec!["run", "list", "--all"],
            vec![&db_str, list_sql],
        ),
        (
            format!("m events RUN, {} events", human(events)),
            vec!["events", &run],
            vec![&db_str, &events_sql],
        ),
        (
            format!("m events RUN --json, {} events", human(events)),
            vec!["events", &run, "--json"],
            vec!["-json", &db_str, &events_sql],
        ),
    ];
    for (what, m_args, sql_args) in cases {
        // Interleaved, so a change in the machine's load touches both alike.
        let (mut m, mut shell) = (vec![], Ok(vec![]));
        for _ in 0..n {
            m.push(time_cmd(home.m().args(&m_args))?.0);
            if let Ok(samples) = &mut shell {
                match sqlite(&sql_args) {
                    Ok(secs) => samples.push(secs),
                    Err(e) => shell = Err(e),
                }
            }
        }
        let m = stat(&m);
        let line = Line::new(5, what).secs(m);
        match shell {
            Ok(s) => {
                let s = stat(&s);
                let r = m.median / s.median;
                report.push(
                    line.ratio(format!(
                        "{} of sqlite3 ({})",
                        fmt_ratio(r),
                        fmt_secs(s.median)
                    ))
                    .target("within 1.5x of sqlite3", r <= 1.5),
                );
            }
            Err(e) => report.push(line.note(format!("sqlite3: {e}"))),
        }
    }
    drop(home);

    // The peer's listing, against m's over as many runs.
    let tasks = b.sized(10_000, 1_000);
    let home = MHome::new(b, "reads-peer")?;
    fixtures::gen_db(&home.db(), tasks, 0)?;
    let m = stat(&repeat(n, |_| {
        Ok(time_cmd(home.m().args(["run", "list", "--all"]))?.0)
    })?);
    let line = Line::new(5, format!("m run list --all, {} runs", human(tasks))).secs(m);
    let peer = Peer::start(b, "status").and_then(|mut peer| {
        let id = peer.add(&["true"])?;
        peer.poll_done(id)?;
        peer.restart_with_copies(tasks as usize)?;
        let s = repeat(n, |_| Ok(time_cmd(peer.cmd().arg("status"))?.0))?;
        Ok(stat(&s))
    });
    match peer {
        Ok(p) => {
            report.push(line.ratio(format!("{} of pueue", fmt_ratio(m.median / p.median))));
            report
                .push(Line::new(5, format!("pueue status, {} tasks (peer)", human(tasks))).secs(p));
        }
        Err(e) => {
            report.push(line);
            report.push(Line::unavailable(5, "pueue status (peer)", &e.to_string()));
        }
    }
    drop(home);

    // Small commands people type all day.
    let home = MHome::new(b, "small")?;
    fixtures::gen_db(&home.db(), 10, 0)?;
    let k = 20;
    let spawn = stat(&repeat(k, |_| bare_spawn())?);
    for (what, args) in [
        ("m --version", vec!["--version"]),
        ("m run list, 10 runs", vec!["run", "list"]),
    ] {
        let m = stat(&repeat(k, |_| Ok(time_cmd(home.m().args(&args))?.0))?);
        report.push(
            Line::new(5, what)
                .secs(m)
                .ratio(format!("{} of spawn", fmt_ratio(m.median / spawn.median)))
                .target("under 5 ms", m.median < 0.005),
        );
    }
    report.push(Line::new(5, "bare spawn of `true` (ceiling)").secs(spawn));
    Ok(())
}

// Row 6 -------------------------------------------------------------------

pub fn memory(b: &Bench, report: &mut Report, ingests: &[(u64, Vec<Ingest>)]) -> Res<()> {
    let active = b.sized(100, 20);
    let home = MHome::new(b, "memory")?;
    {
        let mut store = m::store::Store::open(&home.db())?;
        for i in 0..active {
            store.add_repo(m::store::NewRepo {
                name: format!("s{i}"),
                git_url: None,
            })?;
        }
    }
    let pid = home.start_daemon()?;
    std::thread::sleep(Duration::from_millis(300));
    let idle = proc_kb(pid, "VmRSS").unwrap_or(0) as f64;
    home.ok(&["run", "start", "-r", "s0", "bench", "--wait", "--", "true"])?;
    std::thread::sleep(Duration::from_millis(300));
    let idle_after = proc_kb(pid, "VmRSS").unwrap_or(0) as f64;
    for i in 0..active {
        home.ok(&[
            "run",
            "start",
            "-r",
            &format!("s{i}"),
            "bench",
            "--",
            "sleep",
            "600",
        ])?;
    }
    let db = Connection::open_with_flags(home.db(), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    wait_for("every agent to start", Duration::from_secs(60), || {
        let n: i64 = db.query_row(
            "SELECT count(*) FROM runs JOIN run_details ON run_id = id
             WHERE state = 'running' AND pgid IS NOT NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64 == active)
    })?;
    std::thread::sleep(Duration::from_millis(500));
    let busy = proc_kb(pid, "VmRSS").unwrap_or(0) as f64;
    drop(home);

    let one = |kb: f64| Stat {
        median: kb,
        min: kb,
        max: kb,
    };
    let peer = Peer::start(b, "memory").and_then(|peer| {
        std::thread::sleep(Duration::from_millis(300));
        let idle = peer.rss_kb() as f64;
        peer.ok(&["parallel", &active.to_string()])?;
        for _ in 0..active {
            peer.add(&["sleep", "600"])?;
        }
        wait_for("pueue to run every task", Duration::from_secs(60), || {
            Ok(peer.count("Running")? as u64 == active)
        })?;
        std::thread::sleep(Duration::from_millis(500));
        Ok((idle, peer.rss_kb() as f64))
    });
    let (p_idle, p_busy) = match &peer {
        Ok((i, b)) => (
            format!("pueued: {}", fmt_mb(*i)),
            format!("pueued: {}", fmt_mb(*b)),
        ),
        Err(e) => (e.to_string(), e.to_string()),
    };
    report.push(
        Line::new(6, "m daemon RSS, idle (fresh)")
            .shown(one(idle), fmt_mb)
            .ratio(p_idle.clone())
            .target("under 15 MB", idle < 15.0 * 1024.0),
    );
    report.push(
        Line::new(6, "m daemon RSS, idle after a run")
            .shown(one(idle_after), fmt_mb)
            .ratio(p_idle)
            .target("under 15 MB", idle_after < 15.0 * 1024.0),
    );
    let what = format!("m daemon RSS, {active} active runs");
    report.push(
        Line::new(6, what)
            .shown(one(busy), fmt_mb)
            .ratio(p_busy)
            .target(format!("under 40 MB (at {active})"), busy < 40.0 * 1024.0),
    );
    // Bounded: over the largest ingest, memory reaches a plateau; the second
    // half of the run peaks no higher than the first (the queues fill early).
    for (i, (lines, runs)) in ingests.iter().enumerate() {
        let of =
            |f: fn(&Ingest) -> u64| stat(&runs.iter().map(|r| f(r) as f64).collect::<Vec<_>>());
        let (peak, hwm, early, late) = (
            of(|r| r.peak_kb),
            of(|r| r.hwm_kb),
            of(|r| r.early_kb).median,
            of(|r| r.late_kb).median,
        );
        let mut line = Line::new(
            6,
            format!("m daemon peak RSS during a {}-line ingest", human(*lines)),
        )
        .shown(peak, fmt_mb)
        .ratio(format!(
            "VmHWM {}; halves {} / {}",
            fmt_mb(hwm.median),
            fmt_mb(early),
            fmt_mb(late)
        ));
        if i + 1 == ingests.len() {
            let bounded = late <= early * 1.1 + 2048.0;
            line = line.target(
                "bounded: the 2nd half peaks no higher than the 1st",
                bounded,
            );
        }
        report.push(line);
    }
    Ok(())
}

// Row 7 -------------------------------------------------------------------

pub fn growth(b: &Bench, report: &mut Report, sizes: &[(u64, Vec<Ingest>)]) {
    let Some(base_rate) = sizes.first().map(|(lines, runs)| {
        stat(
            &runs
                .iter()
                .map(|r| *lines as f64 / r.secs)
                .collect::<Vec<_>>(),
        )
        .median
    }) else {
        return;
    };
    let _ = b;
    for (lines, runs) in sizes {
        let rate = stat(
            &runs
                .iter()
                .map(|r| *lines as f64 / r.secs)
                .collect::<Vec<_>>(),
        );
        let events = stat(&runs.iter().map(|r| r.events as f64).collect::<Vec<_>>()).median;
        report.push(
            Line::new(
                7,
                format!("ingest, {}-line run ({events:.0} events)", human(*lines)),
            )
            .shown(rate, fmt_rate)
            .ratio(format!(
                "{} of the smallest's rate",
                fmt_ratio(rate.median / base_rate)
            )),
        );
        let list = stat(&runs.iter().map(|r| r.list_m).collect::<Vec<_>>());
        let per_line = list.median / *lines as f64 * 1e9;
        let mut line = Line::new(7, format!("m events RUN, {} lines", human(*lines))).secs(list);
        let sqlite: Vec<f64> = runs.iter().filter_map(|r| r.list_sqlite).collect();
        line.ratio = if sqlite.is_empty() {
            format!("{per_line:.0} ns/line")
        } else {
            format!(
                "{per_line:.0} ns/line; {} of sqlite3",
                fmt_ratio(list.median / stat(&sqlite).median)
            )
        };
        report.push(line);
    }
}
