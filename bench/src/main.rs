//! `m-bench`: the helper behind `bench/run` (issue 9). It is the agents the
//! benchmark runs (`lines`, `ticker`, `stamp`) and the driver (`all`) that
//! prepares fixtures, measures m beside its baselines, and writes the table.
//!
//! Built only with `--features bench`.

mod fixtures;
mod history;
mod peer;
mod remote;
mod rows;
mod util;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Parser};

use rows::{Line, Report};
use util::{fmt_secs, mono_ns, Bench, Res};

#[derive(Parser)]
#[command(name = "m-bench", about = "m's benchmark helper (see bench/run)")]
enum Cmd {
    /// Print N numbered lines of 100 bytes as fast as possible (the flooding agent).
    Lines { n: u64 },
    /// Once GO exists, print RATE timestamped lines a second for SECONDS.
    Ticker {
        rate: u64,
        seconds: u64,
        go: PathBuf,
    },
    /// Write the CLOCK_MONOTONIC time this process started (ns) to FILE.
    Stamp { file: PathBuf },
    /// Ask N approvals one after another (`m ask approval` through M),
    /// stamping each ask and each return (CLOCK_MONOTONIC) in STAMPS.
    Asker { n: u64, stamps: PathBuf, m: PathBuf },
    /// Run the benchmark, print the table and write it to --out.
    All(AllArgs),
    /// Create an m database at PATH with RUNS finished runs and EVENTS
    /// one-line output events on the newest (prints its id): for profiling.
    GenDb {
        path: PathBuf,
        runs: u64,
        events: u64,
    },
}

#[derive(Args)]
struct AllArgs {
    /// Smaller sizes, one iteration: a smoke test (no targets are enforced).
    #[arg(long)]
    quick: bool,
    /// Where to write the results (markdown).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Scratch directory for fixtures and m homes (emptied first).
    #[arg(long, default_value = "bench/.work")]
    work: PathBuf,
    /// Only these rows, e.g. `--rows 3,7`.
    #[arg(long, value_delimiter = ',')]
    rows: Vec<u8>,
    /// Directory holding the peer's `pueue` and `pueued`.
    #[arg(long)]
    peer: Option<PathBuf>,
    /// Why the peer is missing (shown in its rows).
    #[arg(long)]
    peer_missing: Option<String>,
    /// The cargo profile m was built with (shown in the header).
    #[arg(long, default_value = "release")]
    profile: String,
    /// Row 8: how many finished runs the long history holds (default
    /// 1,000,000; 2,000 with --quick).
    #[arg(long)]
    history_runs: Option<u64>,
    /// Row 8: how many output events they hold (default 10,000,000; 20,000
    /// with --quick).
    #[arg(long)]
    history_events: Option<u64>,
    /// Keep the scratch directory afterwards.
    #[arg(long)]
    keep: bool,
}

fn main() {
    let started = mono_ns();
    let code = match Cmd::parse() {
        Cmd::Lines { n } => lines(n),
        Cmd::Ticker { rate, seconds, go } => ticker(rate, seconds, &go),
        Cmd::Stamp { file } => stamp(&file, started),
        Cmd::Asker { n, stamps, m } => history::asker(n, &stamps, &m),
        Cmd::All(args) => all(args),
        Cmd::GenDb { path, runs, events } => {
            fixtures::gen_db(&path, runs, events).map(|run| println!("{run}"))
        }
    };
    if let Err(e) = code {
        eprintln!("m-bench: {e}");
        std::process::exit(1);
    }
}

fn lines(n: u64) -> Res<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    for i in 1..=n {
        out.write_all(fixtures::agent_line(i).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn ticker(rate: u64, seconds: u64, go: &Path) -> Res<()> {
    util::wait_for("the go file", Duration::from_secs(60), || Ok(go.exists()))?;
    let start = mono_ns();
    let interval = 1_000_000_000 / rate.max(1);
    let mut out = std::io::stdout().lock();
    for i in 0..rate * seconds {
        let due = start + i * interval;
        let now = mono_ns();
        if due > now {
            std::thread::sleep(Duration::from_nanos(due - now));
        }
        // One write per line, stamped just before it.
        let mut line = format!("tick {i} {} ", mono_ns());
        while line.len() < 99 {
            line.push('x');
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn stamp(file: &Path, started: u64) -> Res<()> {
    // Written whole, then renamed: the reader never sees half a number.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, started.to_string())?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn first_line(cmd: &mut std::process::Command) -> String {
    cmd.output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn all(args: AllArgs) -> Res<()> {
    let me = std::env::current_exe()?;
    let m = me.with_file_name("m");
    if !m.is_file() {
        return util::fail(format!("no m binary beside {}", me.display()));
    }
    util::remove(&args.work)?;
    std::fs::create_dir_all(args.work.join("home"))?;
    let work = std::fs::canonicalize(&args.work)?;
    let (pueue, peer_missing) = match &args.peer {
        Some(dir) => match peer::PeerBins::find(dir) {
            Ok(bins) => (Some(bins), String::new()),
            Err(e) => (None, format!("peer unavailable: {e}")),
        },
        None => (
            None,
            format!(
                "peer unavailable: {}",
                args.peer_missing
                    .clone()
                    .unwrap_or_else(|| "not installed".into())
            ),
        ),
    };
    let bench = Bench {
        m,
        me,
        work: work.clone(),
        quick: args.quick,
        pueue,
        peer_missing,
        sqlite3: find_in_path("sqlite3"),
        history: (args.history_runs, args.history_events),
    };
    let wanted = |row: u8| args.rows.is_empty() || args.rows.contains(&row);
    let header = header(&bench, &args);
    eprintln!("{header}");

    let mut report: Report = Vec::new();
    let mut failed: BTreeSet<u8> = BTreeSet::new();
    let mut step =
        |row: u8, name: &str, report: &mut Report, f: &mut dyn FnMut(&mut Report) -> Res<()>| {
            let t = Instant::now();
            eprintln!("row {row}: {name}...");
            if let Err(e) = f(report) {
                eprintln!("row {row} failed: {e}");
                report.push(Line::unavailable(row, name, &format!("failed: {e}")));
                failed.insert(row);
            }
            eprintln!(
                "row {row}: {name} took {}",
                fmt_secs(t.elapsed().as_secs_f64())
            );
        };

    if wanted(1) {
        step(1, "run start", &mut report, &mut |r| {
            rows::run_start(&bench, r)
        });
    }
    if wanted(2) {
        step(2, "workspace creation", &mut report, &mut |r| {
            let files = bench.sized(20_000, 2_000);
            let repo = bench.work.join("repo");
            let t = Instant::now();
            fixtures::gen_repo(&bench, &repo, files)?;
            eprintln!(
                "  fixture: a repo of {files} files in {}",
                fmt_secs(t.elapsed().as_secs_f64())
            );
            rows::workspace(&bench, r, &repo, files)
        });
    }
    let largest = bench.sized(1_000_000, 100_000);
    let mut ingests: Vec<(u64, Vec<rows::Ingest>)> = Vec::new();
    if wanted(3) || wanted(6) || wanted(7) {
        step(3, "event ingest", &mut report, &mut |r| {
            let runs = rows::ingest(&bench, r, largest)?;
            ingests.push((largest, runs));
            Ok(())
        });
    }
    if wanted(6) || wanted(7) {
        step(7, "growth", &mut report, &mut |_| {
            for size in [largest / 100, largest / 10] {
                let runs = (0..bench.iterations(3))
                    .map(|_| rows::ingest_once(&bench, size))
                    .collect::<Res<Vec<_>>>()?;
                ingests.push((size, runs));
            }
            Ok(())
        });
        ingests.sort_by_key(|(size, _)| *size);
    }
    if wanted(4) {
        step(4, "follow latency", &mut report, &mut |r| {
            rows::follow(&bench, r)
        });
    }
    if wanted(5) {
        step(5, "reads", &mut report, &mut |r| rows::reads(&bench, r));
    }
    if wanted(6) {
        step(6, "memory", &mut report, &mut |r| {
            rows::memory(&bench, r, &ingests)
        });
    }
    if wanted(7) {
        rows::growth(&bench, &mut report, &ingests);
    }
    if wanted(8) {
        step(8, "history", &mut report, &mut |r| {
            history::history(&bench, r)
        });
    }
    if wanted(9) {
        step(9, "human round trip", &mut report, &mut |r| {
            history::round_trip(&bench, r)
        });
    }
    if wanted(10) {
        step(10, "remote API", &mut report, &mut |r| {
            remote::remote(&bench, r)
        });
    }
    if !wanted(3) {
        report.retain(|l| l.row != 3 || l.median.starts_with("failed"));
    }
    report.sort_by_key(|l| l.row);

    let table = table(&report);
    println!("\n{table}");
    let summary = summary(&report);
    println!("{summary}");
    let out = args.out.clone().unwrap_or_else(|| work.join("RESULTS.md"));
    write_results(&out, &header, &table, &summary)?;
    eprintln!("written to {}", out.display());
    if !args.keep {
        util::remove(&work)?;
    }
    if !failed.is_empty() {
        return util::fail(format!("rows {failed:?} failed"));
    }
    Ok(())
}

const ROW_NAMES: [&str; 11] = [
    "",
    "1 run start",
    "2 workspace",
    "3 ingest",
    "4 follow",
    "5 reads",
    "6 memory",
    "7 growth",
    "8 history",
    "9 round trip",
    "10 remote",
];

fn table(report: &Report) -> String {
    let mut out = String::from(
        "| row | measurement | median | min … max | ratio | target |\n|---|---|---|---|---|---|\n",
    );
    let mut last = 0;
    for line in report {
        let row = if line.row != last {
            ROW_NAMES[line.row as usize]
        } else {
            ""
        };
        last = line.row;
        out.push_str(&format!(
            "| {row} | {} | {} | {} | {} | {} |\n",
            line.what, line.median, line.range, line.ratio, line.target
        ));
    }
    out
}

fn summary(report: &Report) -> String {
    let met: Vec<&Line> = report.iter().filter(|l| l.met == Some(true)).collect();
    let missed: Vec<&Line> = report.iter().filter(|l| l.met == Some(false)).collect();
    let mut out = format!("Targets: {} met, {} missed.\n", met.len(), missed.len());
    for line in missed {
        out.push_str(&format!(
            "- missed: {} ({}: {})\n",
            line.what,
            line.target.replace(": **missed**", ""),
            line.median
        ));
    }
    out
}

fn header(bench: &Bench, args: &AllArgs) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let git = first_line(std::process::Command::new("git").arg("--version"));
    let kernel = first_line(std::process::Command::new("uname").args(["-sr"]));
    let date = first_line(std::process::Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]));
    let commit =
        first_line(std::process::Command::new("git").args(["rev-parse", "--short", "HEAD"]));
    let dirty = !first_line(std::process::Command::new("git").args([
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":!bench/RESULTS.md",
    ]))
    .is_empty();
    let sqlite3 = match &bench.sqlite3 {
        Some(path) => format!(
            "sqlite3 shell {}",
            first_line(std::process::Command::new(path).arg("--version"))
                .split_whitespace()
                .next()
                .unwrap_or("?")
        ),
        None => "no sqlite3 shell (its comparisons are skipped)".into(),
    };
    let peer = match &bench.pueue {
        Some(bins) => bins.version.clone(),
        None => bench.peer_missing.clone(),
    };
    let mode = if args.quick {
        "quick (smaller sizes, one iteration: a smoke test, not a measurement)".to_string()
    } else {
        "full: medians of 3 to 20 runs per figure (see each row)".to_string()
    };
    format!(
        "| | |\n|---|---|\n\
         | date | {date} |\n\
         | m | commit {commit}{}, {} build |\n\
         | cores | {cores} ({model}) |\n\
         | memory | {:.1} GiB |\n\
         | kernel | {kernel} |\n\
         | git | {} |\n\
         | SQLite | {} in m (bundled), {sqlite3} |\n\
         | peer | {peer} |\n\
         | mode | {mode} |\n",
        if dirty { " + local changes" } else { "" },
        args.profile,
        mem_kb / 1024.0 / 1024.0,
        git.trim_start_matches("git version "),
        rusqlite::version(),
    )
}

const NOTES: &str = "\
## How each row is measured

Every command runs with a small fixed environment (PATH, HOME, LANG, git identity),
m and pueue alike; m's daemon and pueued are started before timing, each on
a private data directory and socket. Outputs are read through a pipe.

1. **Run start**: `m run start -r s \"bench\" --wait -- true` on a scratch repo
   (`m repo add --scratch`), wall time of the client; pueue: `pueue add -- true`
   then `pueue wait ID` (which polls every 2 s), and the same with
   `pueue status --json` polled every 10 ms instead; ceiling: spawning `true`.
2. **Workspace**: from spawning `m run start` until the agent (`m-bench stamp`)
   records that it runs (CLOCK_MONOTONIC), on a generated repo of ~1 kB
   files; ceiling: `git worktree add -b BRANCH PATH HEAD` on the same repo; naive:
   `git clone` of it. `sync` runs before each, the copies are deleted only
   after all timings (deleting 20k files slowed whatever ran next by seconds),
   and the repo is packed (a background `gc --auto` of 20k loose objects ran
   during the timings). The ratio is the median of the ratios within each
   iteration: this disk's speed drifts by seconds from minute to minute.
3. **Ingest**: `m run start --wait -- m-bench lines N` (N lines of 100 bytes as
   fast as it can print), until the run completed; then every line is counted in
   the database (`json_array_length` of each `output` event). Ceiling: the rows
   m stored, inserted again with rusqlite into a fresh m database (same schema
   and pragmas: it is opened by m's `Store::open`), time-ordered ids, 512 rows a
   transaction. Reference: the same with one row per line. Peer: pueue running
   the same agent, `pueue status` polled every 10 ms until done, and `true` run
   the same way: pueue's daemon loop, which the 1M lines fit inside.
4. **Follow**: the agent `m-bench ticker` writes lines stamped with
   CLOCK_MONOTONIC at a fixed rate; `m events RUN --follow --json` prints them and
   the bench stamps each line as it reads it from the pipe. Baseline: the ticker
   piped straight to the bench.
5. **Reads**: databases generated through m's own store (one repo, N finished
   runs, 1-line `output` events), no daemon; the `sqlite3` shell runs the
   exact SELECT m runs. pueue's 10k tasks are copies of one finished task in its
   state file (adding them one by one would take minutes).
6. **Memory**: VmRSS of the daemon (/proc/PID/status), fresh, after one run,
   and with N runs whose agents (`sleep 600`) all run; during ingest, the peak of
   VmRSS sampled every 10 ms, and VmHWM at the end.
7. **Growth**: row 3's measure at 1/100 and 1/10 of its size, and the time of
   `m events RUN` (text) over each run's log.
8. **History** (issue 20): one scratch repo holding N finished runs and M
   one-line `output` events spread over them, written through m's own schema
   (its indexes and triggers); the same repo on an empty history beside it,
   both daemons warm. `m run start --wait` alternates between the two; each
   read alternates with `m --version` (the cost of starting m at all), 41
   pairs each. Memory: VmRSS of the daemon (and its split: RssAnon, the heap
   and stacks; RssFile, mostly m's own code) a few seconds after a `lines`
   run and after N `m events --follow` of a live run are killed. Size: what the database's pages
   (page_count x page_size) grew by in a `lines` run, over the bytes the
   agent printed (newlines included).
9. **Round trip** (issue 20): the agent `m-bench asker` stamps
   CLOCK_MONOTONIC, runs `m ask approval`, and stamps again when it returns;
   a webhook on loopback (in the bench, HTTP/1.1, answering 200) stamps each
   POST's arrival; the bench stamps just before spawning `m approve RUN`. So:
   ask -> webhook, and approve -> the agent goes on, one approval at a time.
10. **Remote API** (issue 16): a daemon with `[remote] listen` on loopback
   and a client as the iOS app is one (HTTPS, rustls, pinning the daemon's
   certificate, paired with `m device pair`, one kept-alive connection).
   Decisions: row 9's asker; its approvals are approved in turn by
   `POST /v1/approvals/ID/decision` and by `m approve ID` (the baseline), the
   bench stamping just before each and the asker when `m ask` returns.
   Stream: row 4's ticker at 1k/s, read at the same time by
   `GET /v1/runs/ID/events/stream` and by `m events --follow --json` (the
   baseline), each line's delay from its stamp to its arrival; the part
   before the event's commit (pipe, batching, commit) is the same for both.
";

const ANALYSIS_MARK: &str =
    "<!-- analysis: everything below is kept when bench/run rewrites this file -->";

fn write_results(path: &Path, header: &str, table: &str, summary: &str) -> Res<()> {
    let kept = std::fs::read_to_string(path)
        .ok()
        .and_then(|old| old.find(ANALYSIS_MARK).map(|i| old[i..].to_string()))
        .unwrap_or_else(|| format!("{ANALYSIS_MARK}\n"));
    let text = format!(
        "# m benchmarks\n\nWritten by `bench/run` (issue 9). Medians with min … max; ratios compare medians \
         measured side by side in this run (the machine is shared and noisy: compare ratios, not \
         absolute times across runs).\n\n{header}\n{table}\n{summary}\n{NOTES}\n{kept}"
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}
