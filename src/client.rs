//! The client side of the socket: connect, exchange `hello`, start a daemon
//! when none answers (once, however many clients race), replace an idle
//! daemon of another version, send a request, read responses.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interprocess::local_socket::{prelude::*, GenericFilePath, Stream};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};
use crate::paths::{self, Paths};
use crate::protocol::{encode, Hello, Request, Response, MAX_FRAME, PROTOCOL_VERSION, VERSION};

/// How long a started daemon has to answer.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Client {
    reader: BufReader<Stream>,
}

fn unavailable(paths: &Paths, why: &str) -> Error {
    Error::new(
        ErrorKind::DaemonUnavailable,
        format!(
            "no m daemon is running for {} ({why})",
            paths.data_dir.display()
        ),
    )
    .with_hint("start one with `m daemon start` (or unset M_NO_AUTOSTART to let m start it)")
}

fn autostart_allowed() -> bool {
    !matches!(
        std::env::var("M_NO_AUTOSTART").as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

impl Client {
    /// Connects to the daemon, starting one if none answers and autostart
    /// is allowed.
    pub fn connect(paths: &Paths) -> Result<Client> {
        Client::connect_with(paths, autostart_allowed())
    }

    pub fn connect_with(paths: &Paths, autostart: bool) -> Result<Client> {
        match Client::try_connect(paths)? {
            Some((client, hello)) => client.check_version(paths, hello, autostart),
            None if !autostart => Err(unavailable(paths, "M_NO_AUTOSTART is set")),
            None => {
                start_daemon(paths)?;
                match Client::try_connect(paths)? {
                    Some((client, hello)) => client.check_version(paths, hello, false),
                    None => Err(unavailable(paths, "it did not answer after starting")),
                }
            }
        }
    }

    /// Connects only if a daemon is already there.
    pub fn try_connect(paths: &Paths) -> Result<Option<(Client, Hello)>> {
        paths::check_private_dir(&paths.runtime_dir).or_else(|err| {
            if std::fs::symlink_metadata(&paths.runtime_dir).is_err() {
                Ok(())
            } else {
                Err(err)
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
        let mut client = Client {
            reader: BufReader::new(stream),
        };
        // A daemon that was just killed can still hold its listening socket
        // while its last threads exit: the connection is accepted into the
        // backlog, then reset. That daemon is gone; the caller may start one.
        let vanished = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            )
        };
        if let Err(e) = client.reader.get_ref().write_all(&encode(&Hello::ours())) {
            return match vanished(&e) {
                true => Ok(None),
                false => Err(Error::failure(format!("cannot write to the daemon: {e}"))),
            };
        }
        let mut line = Vec::new();
        match std::io::Read::take(&mut client.reader, MAX_FRAME as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Err(e) if vanished(&e) => return Ok(None),
            Err(e) => return Err(Error::failure(format!("cannot read from the daemon: {e}"))),
            Ok(0) => {
                return Err(Error::failure(
                    "the daemon closed the connection during hello",
                ))
            }
            Ok(_) if line.len() > MAX_FRAME => {
                return Err(Error::failure("the daemon sent an oversized frame"))
            }
            Ok(_) => {}
        }
        let hello: Hello = serde_json::from_slice(&line)
            .map_err(|e| Error::failure(format!("the daemon sent a malformed hello: {e}")))?;
        Ok(Some((client, hello)))
    }

    fn check_version(self, paths: &Paths, hello: Hello, may_restart: bool) -> Result<Client> {
        if hello == Hello::ours() {
            return Ok(self);
        }
        let theirs = format!("{} (protocol {})", hello.version, hello.protocol);
        let ours = format!("{VERSION} (protocol {PROTOCOL_VERSION})");
        if hello.protocol == PROTOCOL_VERSION && may_restart {
            drop(self);
            let status = Client::connect_with(paths, false)?.request(&Request::Status)?;
            if let Response::Status(status) = status {
                if status.active_runs.is_empty() {
                    Client::connect_with(paths, false)?.request(&Request::Shutdown)?;
                    wait_until_gone(paths)?;
                    return Client::connect_with(paths, true);
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
        .with_hint(
            "stop it with `m daemon stop` (its active runs will fail) and run the command again",
        ))
    }

    fn send(&mut self, frame: &impl serde::Serialize) -> Result<()> {
        self.reader
            .get_ref()
            .write_all(&encode(frame))
            .map_err(|e| Error::failure(format!("cannot write to the daemon: {e}")))
    }

    /// The next frame, or `None` when the daemon closed the connection.
    fn read_frame<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        let mut line = Vec::new();
        let read = std::io::Read::take(&mut self.reader, MAX_FRAME as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::failure(format!("cannot read from the daemon: {e}")))?;
        if read == 0 {
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

    /// The next response of a stream; `None` when it ends.
    pub fn next_response(&mut self) -> Result<Option<Response>> {
        match self.read_frame::<Response>()? {
            Some(response) => response.into_result().map(Some),
            None => Ok(None),
        }
    }
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
    let exe = std::env::current_exe()
        .map_err(|e| Error::failure(format!("cannot find the m binary: {e}")))?;
    let mut cmd = Command::new(&exe);
    cmd.args(["daemon", "run"])
        .env("M_HOME", &paths.data_dir)
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| Error::io("open", &log_path, e))?,
        )
        .stderr(log)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::failure(format!("cannot start the daemon ({}): {e}", exe.display())))?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if Client::try_connect(paths)?.is_some() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::new(
                ErrorKind::DaemonUnavailable,
                format!("the daemon exited at start-up ({status})"),
            )
            .with_hint(format!("see its log: {}", log_path.display())));
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
