//! The daemon's log: lines on stderr (a file, a journal, or nothing at
//! all). A line that cannot be written (a full disk, `2>/dev/full`, a closed
//! journal) is counted and dropped: logging must never stop the daemon, and
//! a failed print that panics would kill whichever thread was logging.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

static FAILED_WRITES: AtomicU64 = AtomicU64::new(0);

/// How many log lines could not be written since the daemon started.
pub fn failed_writes() -> u64 {
    FAILED_WRITES.load(Ordering::Relaxed)
}

/// Sends the daemon's `tracing` output to stderr, filtered by `M_LOG`
/// (default `info`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("M_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr)
        .with_ansi(false)
        // Its way of reporting a failed write is a print to stderr, which
        // panics when stderr is what failed.
        .log_internal_errors(false)
        .try_init();
}

/// Stderr that reports every write as done, counting those that were not.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if io::stderr().write_all(buf).is_err() {
            FAILED_WRITES.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}
