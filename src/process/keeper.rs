//! The keeper: m itself, re-executed as `m keeper`, between the daemon and a
//! run's agent. It is the agent's parent and a child subreaper, so every
//! process the agent leaves behind, however it daemonised (`&`, `setsid`, a
//! double fork), becomes its child. It holds one end of a socket whose other
//! end only the daemon has, and kills everything below it when
//!
//! - the agent exits: its leftovers get SIGTERM, and SIGKILL after the grace
//!   period (a dev server started with `&` never keeps a run open);
//! - the daemon says so (`t`: SIGTERM, SIGKILL after the grace period; `k`:
//!   SIGKILL now);
//! - the daemon dies in any way, `kill -9` and the OOM killer included: the
//!   kernel closes its end of the socket, and the keeper sees end of file.
//!
//! It exits once nothing is left below it, so a keeper that has exited means
//! the run owns no process any more. It tells the daemon over the same
//! socket whether the agent started (`started PID` or `failed ERRNO`) and,
//! when it exits, its wait status (`exited STATUS`).
//!
//! Without /proc (macOS) there is no subreaper: the keeper kills the
//! agent's process group, and a process that left the group (`setsid`)
//! escapes it (docs/reliability.md).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::process::Child;
use tokio::sync::watch;

use super::{cloexec_from, die_with_parent, signal_group};

/// The keeper's argument that names its end of the control socket.
pub const CONTROL_ARG: &str = "--control-fd";
/// How often the keeper looks for orders, exits and deadlines.
const TICK: Duration = Duration::from_millis(20);
/// How long past the grace period the daemon waits for a keeper that was
/// told to stop, before it kills the keeper itself.
const KEEPER_SLACK: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// The daemon's side.
// ---------------------------------------------------------------------------

/// The binary this process runs, to re-execute as a keeper: on Linux the
/// very file, even if an upgrade replaced or removed its path since.
pub fn this_binary() -> std::path::PathBuf {
    if cfg!(target_os = "linux") {
        return "/proc/self/exe".into();
    }
    std::env::current_exe().unwrap_or_else(|_| "m".into())
}

/// A run's agent, started under its keeper.
pub struct Keeper {
    /// The keeper process. Its stdin, stdout and stderr are the agent's.
    pub process: Child,
    /// The keeper's pid, also its process group (the agent's leftovers that
    /// stayed in a group are in the agent's own).
    pub pid: i32,
    control: tokio::net::unix::OwnedWriteHalf,
    /// `None` while the agent runs; then its wait status, or `None` inside
    /// when the keeper ended without saying (it was killed).
    agent: watch::Receiver<Option<Option<ExitStatus>>>,
}

/// What starting an agent needs: where, with what environment, its stdin,
/// the grace period, and the m binary to re-execute as its keeper.
pub struct Start<'a> {
    pub workspace: &'a Path,
    /// The agent's whole environment (the keeper starts with it alone).
    pub env: Vec<(OsString, OsString)>,
    pub stdin: Stdio,
    pub grace: Duration,
    pub m_binary: &'a Path,
}

impl Keeper {
    /// Starts `program` under a new keeper, in the run's workspace and with
    /// its environment. An agent that cannot start is an error of its own
    /// kind (`NotFound` for a missing program).
    pub async fn start(program: &str, args: &[String], start: Start<'_>) -> io::Result<Keeper> {
        let (ours, theirs) = UnixStream::pair()?;
        let their_fd = theirs.as_raw_fd();
        let mut cmd = tokio::process::Command::new(start.m_binary);
        cmd.arg0("m")
            .arg("keeper")
            .arg(CONTROL_ARG)
            .arg(their_fd.to_string())
            .arg("--grace-ms")
            .arg(start.grace.as_millis().to_string())
            .arg("--")
            .arg(program)
            .args(args)
            .current_dir(start.workspace)
            .env_clear()
            .envs(start.env)
            .stdin(start.stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: only async-signal-safe calls (fcntl, syscall) in pre_exec.
        unsafe {
            cmd.pre_exec(move || {
                cloexec_from(3);
                // The keeper's one descriptor beyond stdio: its control socket.
                if libc::fcntl(their_fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        drop(theirs);
        let pid = child.id().map(|id| id as i32).unwrap_or(0);
        ours.set_nonblocking(true)?;
        let (read, control) = tokio::net::UnixStream::from_std(ours)?.into_split();
        let mut lines = tokio::io::BufReader::new(read).lines();
        let first = match lines.next_line().await {
            Ok(Some(line)) => line,
            _ => {
                let _ = child.kill().await;
                return Err(io::Error::other(
                    "the agent's keeper ended before it started",
                ));
            }
        };
        match first.split_once(' ') {
            Some(("started", _)) => {}
            Some(("failed", errno)) => {
                let _ = child.wait().await;
                let errno = errno.parse().unwrap_or(libc::EIO);
                return Err(io::Error::from_raw_os_error(errno));
            }
            _ => {
                let _ = child.kill().await;
                return Err(io::Error::other(format!(
                    "the agent's keeper said something unexpected: {first}"
                )));
            }
        }
        let (tx, agent) = watch::channel(None);
        tokio::spawn(async move {
            let mut status = None;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(raw) = line.strip_prefix("exited ") {
                    status = raw.parse().ok().map(ExitStatus::from_raw);
                    let _ = tx.send(Some(status));
                }
            }
            // End of file: the keeper is gone, with nothing left below it
            // (or it was killed).
            tx.send_replace(Some(status));
        });
        Ok(Keeper {
            process: child,
            pid,
            control,
            agent,
        })
    }

    /// Resolves once the agent (the process the keeper started) has exited,
    /// with its status; `None` if the keeper itself was killed first. Its
    /// leftovers may live on for the grace period.
    pub async fn agent_exited(&mut self) -> Option<ExitStatus> {
        let mut agent = self.agent.clone();
        let status = match agent.wait_for(Option::is_some).await {
            Ok(status) => status.flatten(),
            Err(_) => None,
        };
        status
    }

    /// The agent's status if it has exited.
    pub fn agent_status(&self) -> Option<ExitStatus> {
        self.agent.borrow().flatten()
    }

    /// Stops everything of the run: SIGTERM now, SIGKILL after `grace`.
    /// Returns once nothing is left, within `grace` and a second.
    pub async fn terminate(&mut self, grace: Duration) {
        let _ = self.control.write_all(b"t").await;
        self.wait_gone(grace).await;
    }

    /// Waits until the keeper is gone (it ends the agent's leftovers itself,
    /// `grace` after the agent's exit), and makes sure of it past that.
    pub async fn wait_gone(&mut self, grace: Duration) {
        let limit = grace + KEEPER_SLACK;
        if tokio::time::timeout(limit, self.process.wait())
            .await
            .is_ok()
        {
            return;
        }
        let _ = self.control.write_all(b"k").await;
        if tokio::time::timeout(KEEPER_SLACK, self.process.wait())
            .await
            .is_ok()
        {
            return;
        }
        // A keeper that does not answer: kill its group, and it.
        tracing::warn!(
            keeper = self.pid,
            "the agent's keeper did not stop; killing it"
        );
        signal_group(self.pid, libc::SIGKILL);
        let _ = self.process.kill().await;
    }
}

// ---------------------------------------------------------------------------
// The keeper's side (`m keeper`).
// ---------------------------------------------------------------------------

static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_terminate(_: libc::c_int) {
    TERMINATE.store(true, Ordering::Relaxed);
}

/// Runs the keeper: starts `argv`, and returns its exit code once nothing
/// is left below it.
pub fn serve(control_fd: RawFd, grace: Duration, argv: &[String]) -> u8 {
    // SAFETY: the daemon passed this descriptor, open, for us alone.
    let mut control = unsafe { UnixStream::from_raw_fd(control_fd) };
    cloexec_from(3);
    let Some((program, args)) = argv.split_first() else {
        let _ = writeln!(control, "failed {}", libc::EINVAL);
        return 2;
    };
    become_subreaper();
    // SIGTERM, SIGINT and SIGHUP to the keeper end the run like `t`.
    // Handlers, unlike ignored signals, are reset for the agent by exec.
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            libc::signal(
                signal,
                on_terminate as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
    let keeper = std::process::id() as i32;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).process_group(0);
    // SAFETY: prctl and getppid are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            die_with_parent(keeper)?;
            Ok(())
        });
    }
    let agent = match cmd.spawn() {
        Ok(child) => child.id() as i32,
        Err(e) => {
            let _ = writeln!(control, "failed {}", e.raw_os_error().unwrap_or(libc::EIO));
            return 1;
        }
    };
    let _ = writeln!(control, "started {agent}");
    // The agent's output pipes end when the agent and its leftovers close
    // them, not when the keeper does.
    detach_stdio();
    let _ = control.set_nonblocking(true);
    Watch {
        control,
        agent,
        grace,
        kill_at: None,
        killing: false,
        daemon_gone: false,
    }
    .run()
}

struct Watch {
    control: UnixStream,
    agent: i32,
    grace: Duration,
    /// When whatever is left gets SIGKILL.
    kill_at: Option<Instant>,
    /// Everything below is being killed, again each tick until nothing is left.
    killing: bool,
    daemon_gone: bool,
}

impl Watch {
    fn run(mut self) -> u8 {
        loop {
            self.read_orders();
            if TERMINATE.load(Ordering::Relaxed) {
                self.terminate();
            }
            if self.kill_at.is_some_and(|at| Instant::now() >= at) {
                self.killing = true;
            }
            if self.killing {
                signal_all(self.agent, libc::SIGKILL);
            }
            if !self.reap() {
                // Nothing is left below the keeper.
                return 0;
            }
            std::thread::sleep(TICK);
        }
    }

    fn read_orders(&mut self) {
        if self.daemon_gone {
            return;
        }
        let mut buf = [0u8; 16];
        match self.control.read(&mut buf) {
            // The daemon is gone: nobody is left to watch the run.
            Ok(0) => {
                self.daemon_gone = true;
                self.killing = true;
            }
            Ok(n) => {
                for order in &buf[..n] {
                    match order {
                        b't' => self.terminate(),
                        b'k' => self.killing = true,
                        _ => {}
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                self.daemon_gone = true;
                self.killing = true;
            }
        }
    }

    /// SIGTERM to everything below, SIGKILL after the grace period.
    fn terminate(&mut self) {
        if self.kill_at.is_none() {
            signal_all(self.agent, libc::SIGTERM);
            self.kill_at = Some(Instant::now() + self.grace);
        }
    }

    /// Reaps every child that exited; whether any is left.
    fn reap(&mut self) -> bool {
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status into our local.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid > 0 {
                if pid == self.agent {
                    if !self.daemon_gone {
                        let _ = writeln!(self.control, "exited {status}");
                    }
                    // The agent is done: its leftovers get the grace period.
                    self.terminate();
                }
                continue;
            }
            if pid == 0 {
                return true;
            }
            return io::Error::last_os_error().raw_os_error() != Some(libc::ECHILD);
        }
    }
}

/// Every process below the keeper, and the agent's process group (all
/// there is to go by without /proc).
fn signal_all(agent: i32, signal: i32) {
    signal_group(agent, signal);
    for pid in descendants(std::process::id() as i32) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, signal) };
    }
}

/// The processes below `root`, from /proc (empty without it).
fn descendants(root: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parents = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        next += 1;
    }
    found.remove(0);
    found
}

/// A process's parent, from /proc/PID/stat (the field after the state,
/// which follows the command name in parentheses).
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// How a keeper holds its run's processes on this system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// A child subreaper that finds every descendant in /proc (Linux).
    Subreaper,
    /// The agent's process group only (macOS).
    ProcessGroup,
}

pub fn mechanism() -> Mechanism {
    if cfg!(target_os = "linux") && std::path::Path::new("/proc/self/stat").exists() {
        Mechanism::Subreaper
    } else {
        Mechanism::ProcessGroup
    }
}

#[cfg(target_os = "linux")]
fn become_subreaper() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

#[cfg(not(target_os = "linux"))]
fn become_subreaper() {}

/// Points the keeper's own stdin, stdout and stderr at /dev/null.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let null = OwnedFd::from(null);
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}
