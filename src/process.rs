//! Child processes m starts (agents, hook commands): each in its own process
//! group, so that cancelling reaches every child it forked, and tied to the
//! daemon's life.

use std::io;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Why an agent's `program` was not found, as a sentence's end: a path
/// names a file that is not there; a bare name was looked up on PATH.
pub fn not_found(program: &str) -> String {
    if program.contains('/') {
        format!("'{program}' does not exist")
    } else {
        format!("'{program}' is not on PATH")
    }
}

/// Prepares `cmd` to run as the leader of a new process group that is killed
/// if the daemon dies. (The kernel delivers the parent-death signal to the
/// leader only; the daemon's start-up recovery kills what is left of the
/// group, using the pgid recorded for the run.)
pub fn configure(cmd: &mut Command) {
    cmd.process_group(0);
    cmd.kill_on_drop(true);
    // SAFETY: prctl and getppid are async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The daemon may have died between fork and prctl.
            if libc::getppid() == 1 {
                return Err(io::Error::other(
                    "the daemon exited while starting the agent",
                ));
            }
            Ok(())
        });
    }
}

/// Sends `signal` to every process of the group. A group that is already
/// gone is not an error.
pub fn signal_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: killpg has no memory-safety preconditions.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// Whether any process of the group is still alive.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pgid > 1 && unsafe { libc::killpg(pgid, 0) } == 0
}

/// SIGTERM to the group, then SIGKILL to whatever is left after `grace`.
/// Waits for the leader, and then for the whole group to be gone.
pub async fn terminate_group(child: &mut Child, pgid: i32, grace: Duration) {
    signal_group(pgid, libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        signal_group(pgid, libc::SIGKILL);
        let _ = child.wait().await;
    }
    reap_group(pgid, grace).await;
}

/// Kills whatever of the group outlived its leader (a forked child that
/// ignores SIGTERM, a daemonised grandchild that kept the group). Bounded in
/// time: a killed process that nobody reaps stays a zombie in the group.
pub async fn reap_group(pgid: i32, grace: Duration) {
    wait_group_gone(pgid, grace).await;
    if group_alive(pgid) {
        signal_group(pgid, libc::SIGKILL);
        wait_group_gone(pgid, Duration::from_secs(1)).await;
    }
}

async fn wait_group_gone(pgid: i32, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while group_alive(pgid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Kills what is left of a run's agent after a daemon crash. On Linux every
/// process that carries the run's `M_RUN_ID` in its environment is killed,
/// wherever it is: the recorded group id may have been reused since, and it
/// may never have been recorded at all (the daemon can die between spawning
/// the agent and committing its pgid). Without /proc (macOS) the recorded
/// group is all there is to go by.
pub fn kill_orphans(pgid: Option<i32>, run_id: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        if let Some(pgid) = pgid {
            signal_group(pgid, libc::SIGKILL);
        }
        return 0;
    };
    let marker = format!("M_RUN_ID={run_id}");
    let own = std::process::id() as i32;
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ
            .split(|&b| b == 0)
            .any(|var| var == marker.as_bytes())
        {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed += 1;
        }
    }
    killed
}
