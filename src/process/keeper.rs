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
//! With a cgroup for the run (`--cgroup`, see `cgroup.rs`) the keeper moves
//! the agent into it before it executes, stays outside it itself, kills
//! with `cgroup.kill`, and exits once the cgroup is empty, having removed it.
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

use super::{cgroup, cloexec_from, die_with_parent, signal_group};

/// The keeper's argument that names its end of the control socket.
pub const CONTROL_ARG: &str = "--control-fd";
/// The keeper's argument that names the run's cgroup.
pub const CGROUP_ARG: &str = "--cgroup";
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
    /// The run's cgroup, when it has one.
    cgroup: Option<std::path::PathBuf>,
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
    /// The run's cgroup (made by the daemon), to move the agent into.
    pub cgroup: Option<&'a Path>,
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
            .arg(start.grace.as_millis().to_string());
        if let Some(cgroup) = start.cgroup {
            cmd.arg(CGROUP_ARG).arg(cgroup);
        }
        cmd.arg("--")
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
        let cgroup = start.cgroup.map(Path::to_path_buf);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                forget_cgroup(cgroup.as_deref()).await;
                return Err(e);
            }
        };
        drop(theirs);
        let pid = child.id().map(|id| id as i32).unwrap_or(0);
        ours.set_nonblocking(true)?;
        let (read, control) = tokio::net::UnixStream::from_std(ours)?.into_split();
        let mut lines = tokio::io::BufReader::new(read).lines();
        let first = match lines.next_line().await {
            Ok(Some(line)) => line,
            _ => {
                let _ = child.kill().await;
                forget_cgroup(cgroup.as_deref()).await;
                return Err(io::Error::other(
                    "the agent's keeper ended before it started",
                ));
            }
        };
        match first.split_once(' ') {
            Some(("started", _)) => {}
            Some(("failed", errno)) => {
                let _ = child.wait().await;
                forget_cgroup(cgroup.as_deref()).await;
                let errno = errno.parse().unwrap_or(libc::EIO);
                return Err(io::Error::from_raw_os_error(errno));
            }
            _ => {
                let _ = child.kill().await;
                forget_cgroup(cgroup.as_deref()).await;
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
            cgroup,
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
    /// `grace` after the agent's exit), and makes sure of it past that: a
    /// keeper the agent killed leaves its run's cgroup to the daemon.
    pub async fn wait_gone(&mut self, grace: Duration) {
        self.wait_keeper(grace).await;
        forget_cgroup(self.cgroup.as_deref()).await;
    }

    async fn wait_keeper(&mut self, grace: Duration) {
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

/// Kills whatever is left in a run's cgroup, waits until it is empty (a
/// second at most) and removes it, with the directory of the run cgroups
/// when it was the last.
pub async fn forget_cgroup(cgroup: Option<&Path>) {
    let Some(cgroup) = cgroup else { return };
    let path = cgroup.to_path_buf();
    let removed = tokio::task::spawn_blocking(move || {
        let removed = cgroup::remove(&path, KEEPER_SLACK);
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
        removed
    })
    .await;
    if let Ok(Err(e)) = removed {
        tracing::warn!(cgroup = %cgroup.display(), "cannot remove the run's cgroup: {e}");
    }
}

// ---------------------------------------------------------------------------
// The keeper's side (`m keeper`).
// ---------------------------------------------------------------------------

static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_terminate(_: libc::c_int) {
    TERMINATE.store(true, Ordering::Relaxed);
}

/// Runs the keeper: starts `argv` (in `cgroup`, when given), and returns
/// its exit code once nothing is left below it.
pub fn serve(
    control_fd: RawFd,
    grace: Duration,
    cgroup: Option<std::path::PathBuf>,
    argv: &[String],
) -> u8 {
    // SAFETY: the daemon passed this descriptor, open, for us alone.
    let mut control = unsafe { UnixStream::from_raw_fd(control_fd) };
    cloexec_from(3);
    let Some((program, args)) = argv.split_first() else {
        let _ = writeln!(control, "failed {}", libc::EINVAL);
        return 2;
    };
    // Opened here (close-on-exec), written by the agent before it executes:
    // it moves itself, and so all it will start, into the run's cgroup.
    let procs = match &cgroup {
        Some(cgroup) => match std::fs::OpenOptions::new()
            .write(true)
            .open(cgroup.join("cgroup.procs"))
        {
            Ok(procs) => Some(procs),
            Err(e) => {
                let _ = writeln!(control, "failed {}", e.raw_os_error().unwrap_or(libc::EIO));
                return 1;
            }
        },
        None => None,
    };
    let procs_fd = procs.as_ref().map(|f| f.as_raw_fd());
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
    // SAFETY: prctl, getppid and write are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            die_with_parent(keeper)?;
            if let Some(fd) = procs_fd {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    drop(procs);
    let agent = match spawned {
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
        cgroup,
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
    cgroup: Option<std::path::PathBuf>,
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
                self.signal_all(libc::SIGKILL);
            }
            let populated = self.cgroup.as_deref().is_some_and(cgroup::populated);
            if !self.reap() && !populated {
                // Nothing is left below the keeper, nor in the run's cgroup.
                if let Some(cgroup) = &self.cgroup {
                    let _ = cgroup::remove_tree(cgroup);
                    // The last run's keeper removes the directory of them all.
                    if let Some(dir) = cgroup.parent() {
                        let _ = std::fs::remove_dir(dir);
                    }
                }
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
            self.signal_all(libc::SIGTERM);
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

    /// Every process of the run: in its cgroup (SIGKILL through
    /// `cgroup.kill`, all at once), below the keeper, and in the agent's
    /// process group (all there is to go by without /proc).
    fn signal_all(&self, signal: i32) {
        if let Some(cgroup) = &self.cgroup {
            if signal == libc::SIGKILL {
                let _ = cgroup::kill(cgroup);
            } else {
                for pid in cgroup::members(cgroup) {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid, signal) };
                }
            }
        }
        signal_group(self.agent, signal);
        for pid in descendants(std::process::id() as i32) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, signal) };
        }
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
