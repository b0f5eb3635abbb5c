//! Child processes m starts (agents, hook commands, git): process groups,
//! the parent-death signal, and the descriptors a child may keep. A run's
//! agent is started under its keeper (`keeper.rs`).

pub mod cgroup;
pub mod keeper;

use std::io;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Linux refuses an environment string or argument longer than this
/// (MAX_ARG_STRLEN: 32 pages of 4 KiB).
pub const MAX_EXEC_STRING: usize = 128 * 1024;

/// Room kept for what m adds to an agent's environment (`M_RUN_ID`,
/// `M_SOCKET`, `M_HOME`, `M_PROMPT_FILE`, its directory on PATH).
const M_ENV_ROOM: usize = 8 * 1024;

/// How much exec takes for these strings: each with its NUL and pointer.
fn exec_size<'a>(strings: impl IntoIterator<Item = &'a str>) -> usize {
    strings.into_iter().map(|s| s.len() + 1 + 8).sum()
}

/// The most exec takes for arguments and environment together (ARG_MAX).
fn arg_max() -> usize {
    // SAFETY: sysconf has no preconditions.
    let max = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
    if max > 0 {
        max as usize
    } else {
        128 * 1024
    }
}

fn env_strings(env: &[(String, String)]) -> Vec<String> {
    env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Why `argv` cannot be started with `env` (plus m's own variables), if it
/// cannot: a string too long for exec, or all of them together.
pub fn cannot_exec(argv: &[String], env: &[(String, String)]) -> Option<String> {
    let vars = env_strings(env);
    let strings = argv.iter().chain(vars.iter());
    if let Some(long) = strings.clone().find(|s| s.len() + 1 > MAX_EXEC_STRING) {
        let name: String = long.chars().take(20).collect();
        return Some(format!(
            "'{name}...' is {} KiB; the system starts no command with a single argument or \
             environment variable over {} KiB",
            long.len() / 1024,
            MAX_EXEC_STRING / 1024
        ));
    }
    let size = exec_size(strings.map(String::as_str)) + M_ENV_ROOM;
    (size > arg_max()).then(|| {
        format!(
            "the agent's command line and environment take {} KiB; the system starts no \
             command with over {} KiB",
            size / 1024,
            arg_max() / 1024
        )
    })
}

/// Whether the prompt also fits in the agent's environment as `M_PROMPT`
/// beside `argv` and `env`: no NUL byte, under the system's limit for one
/// string, and within its limit for all of them. (It is always in the file
/// `M_PROMPT_FILE` names.)
pub fn prompt_fits_env(prompt: &str, argv: &[String], env: &[(String, String)]) -> bool {
    let var = "M_PROMPT=".len() + prompt.len() + 1;
    let vars = env_strings(env);
    let others = exec_size(argv.iter().chain(vars.iter()).map(String::as_str));
    !prompt.contains('\0') && var <= MAX_EXEC_STRING && others + var + 8 + M_ENV_ROOM <= arg_max()
}

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
    // SAFETY: die_with_parent is async-signal-safe, as pre_exec requires.
    let parent = std::process::id() as i32;
    unsafe {
        cmd.pre_exec(move || die_with_parent(parent));
    }
}

/// In a child between fork and exec: asks for SIGKILL when the parent
/// (`parent`) dies, and fails if it already has. Async-signal-safe.
pub fn die_with_parent(parent: i32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        return Err(io::Error::other(
            "the parent exited while starting the child",
        ));
    }
    Ok(())
}

/// Marks every descriptor from `first` up close-on-exec, so that a process
/// m starts gets only the descriptors it is given. Async-signal-safe (it is
/// called between fork and exec).
pub fn cloexec_from(first: i32) {
    #[cfg(target_os = "linux")]
    {
        const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
        // SAFETY: close_range with the CLOEXEC flag only sets flags.
        let done = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            )
        } == 0;
        if done {
            return;
        }
    }
    // Older kernels, macOS: one descriptor at a time, up to the limit.
    // SAFETY: sysconf and fcntl have no memory-safety preconditions.
    let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(256, 65536) as i32;
    for fd in first..max {
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// Closes every descriptor from `first` up: a process that starts with
/// whatever its starter left open (the daemon) keeps none of it.
pub fn close_from(first: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range on descriptors nothing in this process uses yet.
        let done = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                libc::c_uint::MAX,
                0 as libc::c_uint,
            )
        } == 0;
        if done {
            return;
        }
    }
    // SAFETY: as above.
    let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(256, 65536) as i32;
    for fd in first..max {
        unsafe { libc::close(fd) };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, usize)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, len)| (k.to_string(), "x".repeat(*len)))
            .collect()
    }

    #[test]
    fn a_prompt_goes_in_the_environment_only_when_the_system_takes_it() {
        let argv = vec!["agent".to_string()];
        assert!(prompt_fits_env("short", &argv, &env(&[("HOME", 10)])));
        assert!(!prompt_fits_env("a\0b", &argv, &[]));
        assert!(prompt_fits_env(&"p".repeat(100 * 1024), &argv, &[]));
        assert!(!prompt_fits_env(&"p".repeat(128 * 1024), &argv, &[]));
        let full = env(&[("A", 120 * 1024); 40]);
        assert!(!prompt_fits_env("short", &argv, &full));
    }

    #[test]
    fn a_command_the_system_cannot_start_is_named() {
        let argv = vec!["agent".to_string()];
        assert_eq!(cannot_exec(&argv, &env(&[("HOME", 10)])), None);
        let why = cannot_exec(&argv, &env(&[("HUGE", 200 * 1024)])).unwrap();
        assert!(why.contains("'HUGE=xxx"), "{why}");
        let why = cannot_exec(&argv, &env(&[("A", 120 * 1024); 40])).unwrap();
        assert!(why.contains("command line and environment take"), "{why}");
    }
}
