//! How the daemon itself stands, for `m status`: whether its writer stores
//! what it is given, the last error a commit met, the free space in the data
//! directory, log lines lost. And the watch on the threads it cannot live
//! without: when one of them ends, the daemon exits at once (non-zero), so
//! that its service manager or the next command starts a new one, whose
//! recovery ends the runs cleanly, rather than living on half alive.

use std::path::Path;
use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::error::Error;
use crate::model::now;
use crate::protocol::DaemonHealth;

/// The writer's side of the health report, updated after every commit.
#[derive(Default)]
pub struct WriterHealth(Mutex<WriterState>);

#[derive(Default, Clone)]
struct WriterState {
    /// Batches of agent output waiting for space, in order.
    unstored: usize,
    last_error: Option<(i64, String)>,
    /// When a failure of the current streak was last logged: a full disk
    /// fails a write every half second, and the log may be on that disk.
    logged: Option<std::time::Instant>,
}

/// How often a streak of failed commits is logged.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl WriterHealth {
    pub fn committed(&self, unstored: usize) {
        let mut state = self.lock();
        state.unstored = unstored;
        if unstored == 0 {
            state.logged = None;
        }
    }

    /// Records a failed write; true when it is worth a line in the log (the
    /// first of a streak, then one a minute).
    pub fn failed(&self, err: &Error, unstored: usize) -> bool {
        let mut state = self.lock();
        state.unstored = unstored;
        state.last_error = Some((now(), err.message.clone()));
        let log = state.logged.is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if log {
            state.logged = Some(std::time::Instant::now());
        }
        log
    }

    /// Whether agents' output is waiting for disk space.
    pub fn waiting_for_space(&self) -> bool {
        self.lock().unstored > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The whole report, with the free space of `data_dir`.
    pub fn report(&self, data_dir: &Path) -> DaemonHealth {
        let state = self.lock().clone();
        DaemonHealth {
            writer: if state.unstored > 0 {
                "waiting_for_space".into()
            } else {
                "ok".into()
            },
            unstored_batches: state.unstored,
            last_commit_error: state.last_error.as_ref().map(|(_, m)| m.clone()),
            last_commit_error_at: state.last_error.map(|(at, _)| at),
            free_bytes: free_bytes(data_dir),
            log_write_failures: super::log::failed_writes(),
        }
    }
}

/// Bytes an unprivileged process may still write on the disk of `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we own from a NUL-terminated path.
    unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut stat) != 0 {
            return None;
        }
        Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
    }
}

/// Reports the end of the threads and tasks given a [`Lifeline`].
pub struct Watch {
    tx: mpsc::UnboundedSender<&'static str>,
    rx: mpsc::UnboundedReceiver<&'static str>,
}

impl Watch {
    pub fn new() -> Watch {
        let (tx, rx) = mpsc::unbounded_channel();
        Watch { tx, rx }
    }

    /// To be moved into the thread or task called `name`.
    pub fn lifeline(&self, name: &'static str) -> Lifeline {
        Lifeline {
            name,
            tx: self.tx.clone(),
        }
    }

    /// The names of the watched threads that ended, once one has: the
    /// first, and those that ended with it (a moment later).
    pub async fn first_end(&mut self) -> String {
        let Some(first) = self.rx.recv().await else {
            // Unreachable while `self` holds a sender.
            return std::future::pending().await;
        };
        let mut ended = vec![first];
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        while let Ok(name) = self.rx.try_recv() {
            ended.push(name);
        }
        // The checkpointer stops when the writer's connection closes: the
        // writer's end is the news.
        if ended.contains(&"writer") {
            ended.retain(|name| *name != "checkpointer");
        }
        ended.join(" and ")
    }
}

/// Dropped when its thread ends, by returning or by a panic.
pub struct Lifeline {
    name: &'static str,
    tx: mpsc::UnboundedSender<&'static str>,
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        let _ = self.tx.send(self.name);
    }
}

/// A panic injected into thread `name` when `M_TEST_FAULT` says so: how the
/// tests (built with `test-agents`) make an essential thread die.
pub fn injected_fault(name: &str) {
    #[cfg(feature = "test-agents")]
    if std::env::var("M_TEST_FAULT").is_ok_and(|v| v == name) {
        panic!("fault injected by M_TEST_FAULT={name}");
    }
    #[cfg(not(feature = "test-agents"))]
    let _ = name;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_thread_that_panics_is_reported_by_name() {
        let mut watch = Watch::new();
        let line = watch.lifeline("writer");
        let _ = std::thread::spawn(move || {
            let _line = line;
            panic!("boom");
        })
        .join();
        assert_eq!(watch.first_end().await, "writer");
    }

    #[tokio::test]
    async fn the_checkpointer_ending_with_the_writer_is_not_news() {
        let mut watch = Watch::new();
        drop(watch.lifeline("checkpointer"));
        drop(watch.lifeline("writer"));
        assert_eq!(watch.first_end().await, "writer");
        drop(watch.lifeline("dispatcher"));
        drop(watch.lifeline("listener"));
        assert_eq!(watch.first_end().await, "dispatcher and listener");
    }

    #[test]
    fn the_data_directory_has_some_free_space() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        assert_eq!(free_bytes(&dir.path().join("missing")), None);
    }
}
