//! The client side of the socket: connect, exchange `hello`, start a daemon
//! when none answers (once, however many clients race), replace an idle
//! daemon of another version, send a request, read responses.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interprocess::local_socket::{prelude::*, GenericFilePath, Stream};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};
use crate::model::short_id;
use crate::paths::{self, Paths};
use crate::protocol::{encode, Hello, Request, Response, MAX_FRAME, PROTOCOL_VERSION, VERSION};
use crate::service;

/// How long a started daemon has to answer.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Client {
    reader: BufReader<Stream>,
    /// How long the daemon has to send each frame (a follower's daemon
    /// sends a heartbeat every second while nothing else comes).
    deadline: Duration,
    /// The daemon's pid, from the socket's peer credentials.
    pid: Option<i32>,
}

/// A daemon that takes longer than the deadline is stopped (SIGSTOP, a
/// debugger) or wedged: say so, rather than hang.
fn not_answering(pid: Option<i32>, deadline: Duration) -> Error {
    let pid_text = pid.map_or("?".to_string(), |p| p.to_string());
    Error::new(
        ErrorKind::DaemonUnavailable,
        format!(
            "the daemon (pid {pid_text}) does not answer after {} s",
            deadline.as_secs_f64()
        ),
    )
    .with_hint(format!(
        "if it was stopped (Ctrl-Z, SIGSTOP), `kill -CONT {pid_text}` resumes it; if it is stuck, `kill {pid_text}` ends it and the next command starts a new one; `daemon.answer_timeout_seconds` sets how long m waits"
    ))
}

/// Whether a read or write gave up at the socket's timeout.
fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn unavailable(paths: &Paths, why: &str, hint: &str) -> Error {
    Error::new(
        ErrorKind::DaemonUnavailable,
        format!(
            "no m daemon is running for {} ({why})",
            paths.data_dir.display()
        ),
    )
    .with_hint(hint.to_string())
}

/// Who starts the daemon when none answers.
enum Starter {
    /// This client does (`daemon.autostart`, the default).
    Autostart,
    /// The service manager does: wait for its daemon.
    Service(service::Installed),
    /// Nobody: say why.
    Nobody(String),
}

impl Starter {
    fn for_paths(paths: &Paths) -> Result<Starter> {
        if let Some(installed) = service::installed_for(paths) {
            return Ok(Starter::Service(installed));
        }
        let config = crate::config::load(paths)?;
        if config.daemon.autostart {
            return Ok(Starter::Autostart);
        }
        Ok(Starter::Nobody(match config.source("daemon.autostart") {
            crate::config::Source::Env(var) => format!("{var} is set"),
            _ => format!("`daemon.autostart = false` in {}", config.file.display()),
        }))
    }
}

/// How long a client waits for a service manager's daemon to answer.
const SERVICE_WAIT: Duration = Duration::from_secs(5);

impl Client {
    /// Connects to the daemon. When none answers, one is started if
    /// autostart is allowed, or awaited if a service manages it.
    pub fn connect(paths: &Paths) -> Result<Client> {
        let starter = Starter::for_paths(paths)?;
        match Client::try_connect(paths)? {
            Some((client, hello)) => client.check_version(paths, hello, &starter),
            None => match starter {
                Starter::Autostart => {
                    start_daemon(paths)?;
                    match Client::try_connect(paths)? {
                        Some((client, hello)) => client.check_version(paths, hello, &starter),
                        None => Err(unavailable(
                            paths,
                            "it did not answer after starting",
                            &format!("see its log: {}", paths.daemon_log().display()),
                        )),
                    }
                }
                Starter::Service(ref installed) => {
                    let deadline = Instant::now() + SERVICE_WAIT;
                    while Instant::now() < deadline {
                        if let Some((client, hello)) = Client::try_connect(paths)? {
                            return client.check_version(paths, hello, &starter);
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let manager = installed.manager;
                    Err(unavailable(
                        paths,
                        &format!(
                            "it runs as a {} service here ({}), and that daemon did not answer within {} seconds",
                            manager.name(),
                            installed.file.display(),
                            SERVICE_WAIT.as_secs()
                        ),
                        &format!(
                            "start it with `{}` (logs: {}), or `m daemon uninstall` to let m start it itself",
                            manager.start_command(),
                            manager.logs(paths)
                        ),
                    ))
                }
                Starter::Nobody(why) => Err(unavailable(
                    paths,
                    &format!("{why}, so m does not start one"),
                    "start one with `m daemon start`",
                )),
            },
        }
    }

    /// Connects to the daemon that runs now, of this version; never starts
    /// or replaces one (clients inside a run use this).
    pub fn connect_running(paths: &Paths) -> Result<Client> {
        match Client::try_connect(paths)? {
            Some((client, hello)) => {
                client.check_version(paths, hello, &Starter::Nobody(String::new()))
            }
            None => Err(unavailable(
                paths,
                "none answers",
                "start one with `m daemon start`",
            )),
        }
    }

    /// Connects to the daemon that runs `run_id`, for a command that acts on
    /// the live run (`m approve`, `m reject`, `m reply`). Never starts one:
    /// with no daemon the run is not running either, and a new daemon's
    /// recovery would fail it, withdrawing what the command meant to answer.
    /// (A daemon that is there but does not answer is reported as such.)
    pub fn connect_to_run(paths: &Paths, run_id: &str) -> Result<Client> {
        match Client::try_connect(paths)? {
            Some((client, hello)) => {
                client.check_version(paths, hello, &Starter::Nobody(String::new()))
            }
            None => Err(Error::new(
                ErrorKind::DaemonUnavailable,
                format!(
                    "no daemon is running, so run {} is not running either: nothing waits for this answer",
                    short_id(run_id)
                ),
            )
            .with_hint(format!(
                "`m daemon start` records the run as failed (the daemon stopped during it); see `m run show {}`",
                short_id(run_id)
            ))),
        }
    }

    /// Connects only if a daemon is already there.
    pub fn try_connect(paths: &Paths) -> Result<Option<(Client, Hello)>> {
        // No directory yet: no daemon. It may appear between two looks (a
        // daemon starting): then it is checked again, as it is now.
        paths::check_private_dir(&paths.runtime_dir).or_else(|_| {
            if std::fs::symlink_metadata(&paths.runtime_dir).is_err() {
                Ok(())
            } else {
                paths::check_private_dir(&paths.runtime_dir)
            }
        })?;
        let socket = paths.socket();
        let name = socket
            .as_path()
            .to_fs_name::<GenericFilePath>()
            .map_err(|e| Error::io("name the socket", &socket, e))?;
        let stream = match Stream::connect(name) {
            Ok(stream) => stream,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(Error::io("connect to", &socket, e)),
        };
        // Only a daemon of our own user may answer: anyone else's socket
        // there (planted, or left by another account) is refused unread.
        let creds = stream
            .peer_creds()
            .map_err(|e| Error::io("check who serves", &socket, e))?;
        // SAFETY: geteuid has no preconditions.
        let ours = unsafe { libc::geteuid() };
        if creds.euid() != Some(ours) {
            return Err(Error::new(
                ErrorKind::DaemonUnavailable,
                format!(
                    "refusing to talk to {}: it is served by uid {}, not by you (uid {ours})",
                    socket.display(),
                    creds.euid().map_or("unknown".to_string(), |u| u.to_string())
                ),
            )
            .with_hint(format!(
                "something other than your m daemon put a socket there; check what (`ls -l {}`), remove it, and run the command again",
                socket.display()
            )));
        }
        let deadline = answer_timeout(paths);
        let timeouts = stream
            .set_recv_timeout(Some(deadline))
            .and_then(|()| stream.set_send_timeout(Some(deadline)));
        timeouts.map_err(|e| Error::io("set a deadline on", &socket, e))?;
        let mut client = Client {
            reader: BufReader::new(stream),
            deadline,
            pid: creds.pid(),
        };
        // A daemon that hangs up during hello is going away (it accepted us
        // while shutting down): as good as none, so callers wait for it to
        // be gone or start the next one (which waits for its lock).
        let hung_up = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
            )
        };
        match client.reader.get_ref().write_all(&encode(&Hello::ours())) {
            Ok(()) => {}
            Err(e) if hung_up(&e) => return Ok(None),
            Err(e) => return Err(client.io_error("write to", e)),
        }
        let line = match client.read_line() {
            Ok(line) if line.is_empty() => return Ok(None),
            Ok(line) => line,
            Err(e) if hung_up(&e) => return Ok(None),
            Err(e) => return Err(client.io_error("read from", e)),
        };
        let hello: Hello = serde_json::from_slice(&line)
            .map_err(|e| Error::failure(format!("the daemon sent a malformed hello: {e}")))?;
        Ok(Some((client, hello)))
    }

    fn check_version(self, paths: &Paths, hello: Hello, starter: &Starter) -> Result<Client> {
        if hello == Hello::ours() {
            return Ok(self);
        }
        let theirs = format!("{} (protocol {})", hello.version, hello.protocol);
        let ours = format!("{VERSION} (protocol {PROTOCOL_VERSION})");
        let replace = match starter {
            Starter::Service(installed) => format!(
                "restart it with `{}` (its active runs will fail)",
                installed.manager.restart_command()
            ),
            _ => {
                "stop it with `m daemon stop` (its active runs will fail) and run the command again"
                    .to_string()
            }
        };
        if hello.protocol == PROTOCOL_VERSION && matches!(starter, Starter::Autostart) {
            // An idle daemon of another build is replaced by one of ours.
            drop(self);
            let status = Client::existing(paths)?.request(&Request::Status)?;
            if let Response::Status(status) = status {
                if status.active_runs.is_empty() {
                    Client::existing(paths)?.request(&Request::Shutdown)?;
                    wait_until_gone(paths)?;
                    return Client::connect(paths);
                }
                return Err(Error::conflict(format!(
                    "the running daemon is m {theirs}, this is m {ours}, and it has {} active run(s)",
                    status.active_runs.len()
                ))
                .with_hint("let them finish, then `m daemon stop`; the next command starts the new daemon"));
            }
        }
        Err(Error::conflict(format!(
            "the running daemon is m {theirs}; this is m {ours}"
        ))
        .with_hint(replace))
    }

    /// The daemon that answers now, whatever its version.
    fn existing(paths: &Paths) -> Result<Client> {
        match Client::try_connect(paths)? {
            Some((client, _)) => Ok(client),
            None => Err(unavailable(
                paths,
                "it stopped",
                "run the command again; it starts one",
            )),
        }
    }

    fn send(&mut self, frame: &impl serde::Serialize) -> Result<()> {
        let line = encode(frame);
        if line.len() > MAX_FRAME {
            return Err(Error::usage(format!(
                "the request is {} KiB; the daemon takes at most {} KiB",
                line.len() / 1024,
                MAX_FRAME / 1024
            )));
        }
        self.reader
            .get_ref()
            .write_all(&line)
            .map_err(|e| self.io_error("write to", e))
    }

    fn io_error(&self, action: &str, e: std::io::Error) -> Error {
        if timed_out(&e) {
            not_answering(self.pid, self.deadline)
        } else {
            Error::failure(format!("cannot {action} the daemon: {e}"))
        }
    }

    /// The next frame, or `None` when the daemon closed the connection.
    /// The next line as read (empty when the daemon closed the connection).
    fn read_line(&mut self) -> std::io::Result<Vec<u8>> {
        let mut line = Vec::new();
        std::io::Read::take(&mut self.reader, MAX_FRAME as u64 + 1).read_until(b'\n', &mut line)?;
        Ok(line)
    }

    fn read_frame<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        let line = self
            .read_line()
            .map_err(|e| self.io_error("read from", e))?;
        if line.is_empty() {
            return Ok(None);
        }
        if line.len() > MAX_FRAME {
            return Err(Error::failure("the daemon sent an oversized frame"));
        }
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(|e| Error::failure(format!("the daemon sent a malformed frame: {e}")))
    }

    /// Sends one request and reads its one response; error frames become errors.
    pub fn request(mut self, request: &Request) -> Result<Response> {
        self.send(request)?;
        self.next_response()?
            .ok_or_else(|| Error::failure("the daemon closed the connection without answering"))
    }

    /// Sends a request whose answer is a stream of frames (follow).
    pub fn stream(mut self, request: &Request) -> Result<Client> {
        self.send(request)?;
        Ok(self)
    }

    /// Like [`Client::next_response`], but while no frame has come it also
    /// watches `output` (our stdout), if given: when its reader goes away
    /// (`m events RUN --follow | head -3`) it fails with `OutputClosed`,
    /// which ends the program quietly, as `tail -f` does. Without this a
    /// follower whose run is quiet (waiting for an approval) would wait
    /// forever for a write to fail. Past `deadline` it fails with `TimedOut`.
    pub fn next_response_watching(
        &mut self,
        output: Option<BorrowedFd<'_>>,
        deadline: Option<Instant>,
    ) -> Result<Option<Response>> {
        loop {
            if self.reader.buffer().is_empty() {
                self.wait_for_frame(output, deadline)?;
            }
            // A heartbeat: back to watching, with the deadlines checked.
            match self.read_frame::<Response>()? {
                Some(Response::Heartbeat) => continue,
                Some(response) => return response.into_result().map(Some),
                None => return Ok(None),
            }
        }
    }

    /// Blocks until the daemon has sent something (or hung up), or
    /// `output`'s reader is gone, or the deadline passed. A pipe whose
    /// reader closed polls as POLLERR, a socket or terminal as POLLHUP; both
    /// are reported even though no event is asked for. A daemon that says
    /// nothing (not even a heartbeat) for the answer timeout does not answer.
    fn wait_for_frame(
        &self,
        output: Option<BorrowedFd<'_>>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let socket = match self.reader.get_ref() {
            Stream::UdSocket(stream) => stream.as_fd().as_raw_fd(),
        };
        // poll ignores a negative fd.
        let mut output = output.map_or(-1, |fd| fd.as_raw_fd());
        let silent_after = Instant::now() + self.deadline;
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| d <= now) {
                return Err(Error::new(ErrorKind::TimedOut, "time is up"));
            }
            if silent_after <= now {
                return Err(not_answering(self.pid, self.deadline));
            }
            let until = deadline.map_or(silent_after, |d| d.min(silent_after));
            let timeout_ms = until
                .saturating_duration_since(now)
                .as_millis()
                .clamp(1, i32::MAX as u128) as i32;
            let mut fds = [
                libc::pollfd {
                    fd: socket,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: output,
                    events: 0,
                    revents: 0,
                },
            ];
            // SAFETY: poll reads and writes only the two pollfds we own.
            let ready =
                unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
            if ready < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::failure(format!("cannot wait for the daemon: {err}")));
            }
            let gone = fds[1].revents;
            if gone & libc::POLLNVAL != 0 {
                // Stdout is not open at all: nothing to watch, and nothing
                // to print either.
                output = -1;
            } else if gone & (libc::POLLERR | libc::POLLHUP) != 0 {
                return Err(Error::new(ErrorKind::OutputClosed, "output closed"));
            }
            if fds[0].revents != 0 {
                return Ok(());
            }
        }
    }

    /// The next response of a stream; `None` when it ends. Heartbeats only
    /// say the daemon is alive: they are read and skipped.
    pub fn next_response(&mut self) -> Result<Option<Response>> {
        loop {
            match self.read_frame::<Response>()? {
                Some(Response::Heartbeat) => continue,
                Some(response) => return response.into_result().map(Some),
                None => return Ok(None),
            }
        }
    }
}

/// How long a command waits for each frame from the daemon: the config's
/// `daemon.answer_timeout_seconds` (a config that cannot be read is
/// reported by the command's own load of it).
fn answer_timeout(paths: &Paths) -> Duration {
    crate::config::load(paths)
        .map(|c| c.daemon.answer_timeout)
        .unwrap_or(crate::config::DEFAULT_ANSWER_TIMEOUT)
}

/// The `error:` and `hint:` lines a daemon that exited printed to its log
/// past `from` (`main` prints them so).
fn last_error(log: &std::path::Path, from: u64) -> (Option<String>, Option<String>) {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut file) = File::open(log) {
        let _ = file.seek(SeekFrom::Start(from));
        let _ = file.take(64 * 1024).read_to_string(&mut text);
    }
    let line = |prefix: &str| {
        text.lines()
            .rev()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::to_string)
    };
    (line("error: "), line("hint: "))
}

/// Starts `m daemon run` in the background, detached, logging to a file,
/// and waits until it answers. A lock makes racing clients start one.
pub fn start_daemon(paths: &Paths) -> Result<()> {
    paths::create_private_dir(&paths.data_dir)?;
    let _lock = lock_file(&paths.autostart_lock())?;
    // Another client may have started it while we waited for the lock.
    if Client::try_connect(paths)?.is_some() {
        return Ok(());
    }
    paths::create_private_dir(&paths.logs())?;
    let log_path = paths.daemon_log();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| Error::io("open", &log_path, e))?;
    // Where this daemon's lines begin, to quote its error if it exits.
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let exe = std::env::current_exe()
        .map_err(|e| Error::failure(format!("cannot find the m binary: {e}")))?;
    let mut cmd = Command::new(&exe);
    // A daemon started from inside a run must not carry that run's identity
    // into every agent it starts.
    cmd.args(["daemon", "run"])
        .env("M_HOME", &paths.data_dir)
        .env_remove("M_RUN_ID")
        .env_remove("M_PROMPT")
        .env_remove("M_SOCKET")
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| Error::io("open", &log_path, e))?,
        )
        .stderr(log)
        .process_group(0);
    // SAFETY: cloexec_from is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            crate::process::cloexec_from(3);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::failure(format!("cannot start the daemon ({}): {e}", exe.display())))?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if Client::try_connect(paths)?.is_some() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let see = format!("see its log: {}", log_path.display());
            let (error, hint) = last_error(&log_path, log_start);
            return Err(match error {
                Some(error) => Error::new(
                    ErrorKind::DaemonUnavailable,
                    format!("the daemon exited at start-up: {error}"),
                )
                .with_hint(match hint {
                    Some(hint) => format!("{hint}; {see}"),
                    None => see,
                }),
                None => Error::new(
                    ErrorKind::DaemonUnavailable,
                    format!("the daemon exited at start-up ({status})"),
                )
                .with_hint(see),
            });
        }
        if Instant::now() > deadline {
            return Err(Error::new(
                ErrorKind::DaemonUnavailable,
                "the daemon did not answer within 15 seconds",
            )
            .with_hint(format!("see its log: {}", log_path.display())));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until no daemon answers any more (after `shutdown`).
pub fn wait_until_gone(paths: &Paths) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Client::try_connect(paths) {
            Ok(None) => break,
            Ok(Some(_)) => {}
            // A daemon on its way out may accept a connection and drop it
            // mid-hello (connection reset): that is it going, not an error.
            Err(err) if Instant::now() > deadline => return Err(err),
            Err(_) => {}
        }
        if Instant::now() > deadline {
            return Err(Error::failure("the daemon did not stop within 30 seconds")
                .with_hint(format!("see its log: {}", paths.daemon_log().display())));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The socket is gone before the lock is released; wait for the lock too.
    let _lock = lock_file(&paths.daemon_lock())?;
    Ok(())
}

/// An exclusive lock held until the returned file is dropped.
fn lock_file(path: &std::path::Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::io("lock", path, std::io::Error::last_os_error()));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_that_vanishes_during_hello_is_no_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        paths::create_private_dir(&paths.runtime_dir).unwrap();
        // A listener that never accepts, then closes: the connection waits
        // in its backlog and is reset, as when a killed daemon's last thread
        // exits.
        let listener = std::os::unix::net::UnixListener::bind(paths.socket()).unwrap();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(listener);
        });
        assert!(Client::try_connect(&paths).unwrap().is_none());
        closer.join().unwrap();
        assert!(Client::try_connect(&paths).unwrap().is_none(), "refused");
    }
}
