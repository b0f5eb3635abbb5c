//! Clocks, processes, statistics, and the private m homes the rows use.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub fn fail<T>(msg: impl Into<String>) -> Res<T> {
    Err(msg.into().into())
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the
/// machine, so an agent's timestamp can be compared with a follower's.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Runs a command to completion; its stdout, or an error with its stderr.
pub fn run_ok(cmd: &mut Command) -> Res<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return fail(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Times a command from spawn to exit while its stdout is read through a
/// pipe and thrown away (as a pager or a script would read it). Returns the
/// seconds and the bytes it printed.
pub fn time_cmd(cmd: &mut Command) -> Res<(f64, u64)> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr = child.stderr.take().expect("piped");
    let errs = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut out = child.stdout.take().expect("piped");
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = out.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
    }
    let status = child.wait()?;
    let secs = start.elapsed().as_secs_f64();
    let errs = errs.join().unwrap_or_default();
    if !status.success() {
        return fail(format!("{cmd:?} failed ({status}): {}", errs.trim()));
    }
    Ok((secs, bytes))
}

/// Polls `done` every millisecond until it holds or `limit` passes.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> Res<bool>) -> Res<()> {
    let deadline = Instant::now() + limit;
    while !done()? {
        if Instant::now() > deadline {
            return fail(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// A field of /proc/PID/status in kB (VmRSS, VmHWM).
pub fn proc_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Samples a process's VmRSS every 5 ms on a thread; `finish` gives the
/// samples as (seconds since the start, kB).
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(f64, u64)>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Some(kb) = proc_kb(pid, "VmRSS") {
                    samples.push((start.elapsed().as_secs_f64(), kb));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            samples
        });
        RssSampler { stop, thread }
    }

    pub fn finish(self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Median, min and max of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn stat(samples: &[f64]) -> Stat {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return Stat {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Stat {
        median,
        min: v[0],
        max: v[n - 1],
    }
}

/// The nearest-rank percentile (`p` in 0..=100) of a sample.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// What the bench knows about its tools and where it works.
pub struct Bench {
    pub m: PathBuf,
    /// This helper: the agents (`lines`, `ticker`, `stamp`) are subcommands.
    pub me: PathBuf,
    pub work: PathBuf,
    pub quick: bool,
    pub pueue: Option<crate::peer::PeerBins>,
    pub peer_missing: String,
    pub sqlite3: Option<PathBuf>,
    /// Row 8's history, when not the default size (runs, events).
    pub history: (Option<u64>, Option<u64>),
}

impl Bench {
    /// The environment every measured command gets, m and peer alike: a
    /// small fixed one, so results do not depend on the caller's shell.
    pub fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.work.join("home"))
            .env("LANG", "C.UTF-8")
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "m bench")
            .env("GIT_AUTHOR_EMAIL", "bench@m.invalid")
            .env("GIT_COMMITTER_NAME", "m bench")
            .env("GIT_COMMITTER_EMAIL", "bench@m.invalid");
    }

    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        self.env(&mut cmd);
        cmd
    }

    pub fn me_str(&self) -> String {
        self.me.display().to_string()
    }

    pub fn sized(&self, full: u64, quick: u64) -> u64 {
        if self.quick {
            quick
        } else {
            full
        }
    }

    pub fn iterations(&self, full: usize) -> usize {
        if self.quick {
            1
        } else {
            full
        }
    }
}

/// A private m data directory (`M_HOME`) with its own daemon; stopped and
/// removed when dropped.
pub struct MHome<'a> {
    pub dir: PathBuf,
    bench: &'a Bench,
}

impl<'a> MHome<'a> {
    pub fn new(bench: &'a Bench, name: &str) -> Res<MHome<'a>> {
        let dir = bench.work.join("homes").join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(MHome { dir, bench })
    }

    pub fn m(&self) -> Command {
        let mut cmd = self.bench.cmd(&self.bench.m);
        cmd.env("M_HOME", &self.dir).env("M_GRACE_MS", "1000");
        cmd
    }

    pub fn ok(&self, args: &[&str]) -> Res<String> {
        run_ok(self.m().args(args))
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join("m.db")
    }

    /// Starts the daemon (so no measurement pays for its start); its pid.
    pub fn start_daemon(&self) -> Res<u32> {
        self.ok(&["daemon", "start"])?;
        self.daemon_pid()
    }

    pub fn daemon_pid(&self) -> Res<u32> {
        let text = std::fs::read_to_string(self.dir.join("daemon.lock"))?;
        Ok(text.trim().parse()?)
    }

    pub fn stop_daemon(&self) {
        let _ = self
            .m()
            .args(["daemon", "stop"])
            .env("M_NO_AUTOSTART", "1")
            .stdin(Stdio::null())
            .output();
    }
}

impl Drop for MHome<'_> {
    fn drop(&mut self) {
        self.stop_daemon();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes `path` if it exists.
pub fn remove(path: &Path) -> Res<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path)?,
        Ok(_) => std::fs::remove_file(path)?,
        Err(_) => {}
    }
    Ok(())
}

// Formatting for the table.

pub fn fmt_secs(s: f64) -> String {
    if !s.is_finite() {
        "-".into()
    } else if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 0.01 {
        format!("{:.2} ms", s * 1e3)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

pub fn fmt_ms(ms: f64) -> String {
    fmt_secs(ms / 1e3)
}

pub fn fmt_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.0}k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}/s")
    }
}

pub fn fmt_mb(kb: f64) -> String {
    format!("{:.1} MB", kb / 1024.0)
}

pub fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        "-".into()
    } else if r >= 10.0 {
        format!("{r:.0}x")
    } else if r < 0.1 {
        format!("{r:.3}x")
    } else {
        format!("{r:.2}x")
    }
}
