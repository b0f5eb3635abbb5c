//! The socket: accepts connections, drops other users' before reading a
//! byte, exchanges `hello`, reads one request and hands it to its handler.
//! A bad frame costs its own connection only. The frames themselves are
//! `connection.rs`, which the handlers use too.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use interprocess::local_socket::tokio::{prelude::*, Listener, Stream};
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

use super::connection::{Connection, Peer};
use super::{handlers, Shared};
use crate::error::{Error, Result};
use crate::protocol::{Hello, Request, Response, PROTOCOL_VERSION};

/// A client has this long to send each frame of its request.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

pub fn listen(path: &Path) -> Result<Listener> {
    let name = path
        .to_fs_name::<GenericFilePath>()
        .map_err(|e| Error::io("name the socket", path, e))?;
    ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .create_tokio()
        .map_err(|e| Error::io("listen on", path, e))
}

pub async fn accept_loop(shared: Arc<Shared>, listener: Listener) {
    let limit = Arc::new(AtLimit::new());
    loop {
        let conn = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) if out_of_descriptors(&e) => {
                limit.refused();
                // The spare descriptor lets one waiting client in, to be
                // answered (`status`) or refused in words, then closed.
                if limit.release_spare() {
                    if let Ok(conn) = listener.accept().await {
                        let shared = shared.clone();
                        let limit = limit.clone();
                        tokio::spawn(async move {
                            if let Some(peer) = ours(&conn) {
                                let mut conn = connection(conn, peer);
                                if let Err(err) = serve_at_limit(&mut conn, &shared).await {
                                    let _ = conn.send(&Response::from(&err)).await;
                                }
                            }
                            limit.keep_spare();
                        });
                        continue;
                    }
                    limit.keep_spare();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(peer) = ours(&conn) else {
            continue;
        };
        tracing::debug!("accepted a connection");
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut conn = connection(conn, peer);
            if let Err(err) = serve(&mut conn, &shared).await {
                tracing::debug!("connection ended with an error: {}", err.message);
                let _ = conn.send(&Response::from(&err)).await;
            }
            drop(conn);
            super::memory::something_ended();
        });
    }
}

/// The process at the other end, if it is our own user's: only our own
/// user may talk to the daemon, which runs commands as us.
fn ours(conn: &Stream) -> Option<Peer> {
    // SAFETY: geteuid has no preconditions.
    let ours = unsafe { libc::geteuid() };
    match conn.peer_creds() {
        Ok(creds) if creds.euid() == Some(ours) => Some(Peer {
            uid: ours,
            pid: creds.pid(),
        }),
        other => {
            let uid = other.map(|c| c.euid());
            tracing::warn!("dropped a connection from another user ({uid:?})");
            None
        }
    }
}

fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// What the daemon does at its limit of open files: a spare descriptor to
/// answer `status` and refuse the rest in words, and a warning a minute.
struct AtLimit {
    spare: std::sync::Mutex<Option<std::fs::File>>,
    /// Connections refused since the last warning, and when that was.
    refused: std::sync::Mutex<(u64, Option<std::time::Instant>)>,
}

impl AtLimit {
    fn new() -> AtLimit {
        AtLimit {
            spare: std::sync::Mutex::new(std::fs::File::open("/dev/null").ok()),
            refused: std::sync::Mutex::new((0, None)),
        }
    }

    /// Closes the spare descriptor, if it is there; whether it was.
    fn release_spare(&self) -> bool {
        self.spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
    }

    fn keep_spare(&self) {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.is_none() {
            *spare = std::fs::File::open("/dev/null").ok();
        }
    }

    fn refused(&self) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.0 += 1;
        if refused
            .1
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            tracing::warn!(
                "at the limit of open files ({}): new connections are refused (`status` still answers); {} refused in the last minute",
                open_files_limit(),
                refused.0
            );
            *refused = (0, Some(std::time::Instant::now()));
        }
    }
}

/// The soft limit of open files, as it stands.
pub fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur
}

/// Raises the soft limit of open files to the hard one: each follower holds
/// a descriptor, and the default soft limit (often 1024) is soon reached.
/// Returns the limit in effect.
pub fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // macOS refuses more than OPEN_MAX: then the old limit stays.
            libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
        }
    }
    open_files_limit()
}

/// The connection over an accepted socket.
fn connection(stream: Stream, peer: Peer) -> Connection {
    let fd = match &stream {
        Stream::UdSocket(stream) => stream.as_fd().as_raw_fd(),
    };
    let (recv, send) = tokio::io::split(stream);
    Connection::new(recv, send, peer).on_socket(fd)
}

/// At the limit of open files: `status` is answered (it needs no
/// descriptor), anything else refused, quickly, to free the spare.
async fn serve_at_limit(conn: &mut Connection, shared: &Arc<Shared>) -> Result<()> {
    const QUICK: Duration = Duration::from_secs(1);
    let hello: Hello = conn.next_within(QUICK).await?;
    conn.send(&Hello::ours()).await?;
    if hello.protocol != PROTOCOL_VERSION {
        return Ok(());
    }
    match conn.next_within(QUICK).await? {
        Request::Status => handlers::handle(shared, Request::Status, conn).await,
        _ => Err(Error::new(
            crate::error::ErrorKind::DaemonUnavailable,
            format!(
                "the daemon is at its limit of open files ({}) and takes no new request now",
                open_files_limit()
            ),
        )
        .with_hint(
            "each follower (`m events --follow`, `--wait`) holds one: end some, or raise the daemon's limit (`ulimit -Hn`, `LimitNOFILE=` in its service)",
        )),
    }
}

async fn serve(conn: &mut Connection, shared: &Arc<Shared>) -> Result<()> {
    let hello: Hello = conn.next_within(FRAME_TIMEOUT).await?;
    conn.send(&Hello::ours()).await?;
    if hello.protocol != PROTOCOL_VERSION {
        // The client restarts us or tells its user what to do.
        return Ok(());
    }
    let request: Request = conn.next_within(FRAME_TIMEOUT).await?;
    if conn.client_left() {
        // It gave up waiting (a daemon that was stopped reads its
        // backlog of requests when continued): nobody wants this done.
        tracing::info!("dropped a request whose client had left");
        return Ok(());
    }
    handlers::handle(shared, request, conn).await
}
