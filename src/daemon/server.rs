//! The socket: accepts connections, drops other users' before reading a
//! byte, exchanges `hello`, reads one request and hands it to its handler.
//! A bad frame costs its own connection only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::os::fd::{AsFd, AsRawFd, RawFd};

use interprocess::local_socket::tokio::{prelude::*, Listener, Stream};
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};

use super::{handlers, Shared};
use crate::error::{Error, Result};
use crate::protocol::{encode, Hello, Request, Response, MAX_FRAME, PROTOCOL_VERSION};

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
                            if ours(&conn) {
                                let mut conn = Connection::new(conn);
                                if let Err(err) = conn.serve_at_limit(&shared).await {
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
        if !ours(&conn) {
            continue;
        }
        tracing::debug!("accepted a connection");
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut conn = Connection::new(conn);
            if let Err(err) = conn.serve(&shared).await {
                tracing::debug!("connection ended with an error: {}", err.message);
                let _ = conn.send(&Response::from(&err)).await;
            }
        });
    }
}

pub struct Connection {
    reader: FrameReader<ReadHalf<Stream>>,
    send: WriteHalf<Stream>,
    /// The socket, for the size of what the client has not read yet.
    fd: RawFd,
}

/// Only our own user may talk to the daemon: it runs commands as us.
fn ours(conn: &Stream) -> bool {
    // SAFETY: geteuid has no preconditions.
    let ours = unsafe { libc::geteuid() };
    match conn.peer_creds().map(|c| c.euid()) {
        Ok(Some(uid)) if uid == ours => true,
        other => {
            tracing::warn!("dropped a connection from another user ({other:?})");
            false
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

impl Connection {
    fn new(conn: Stream) -> Connection {
        let fd = match &conn {
            Stream::UdSocket(stream) => stream.as_fd().as_raw_fd(),
        };
        let (recv, send) = tokio::io::split(conn);
        Connection {
            reader: FrameReader::new(recv),
            send,
            fd,
        }
    }

    /// At the limit of open files: `status` is answered (it needs no
    /// descriptor), anything else refused, quickly, to free the spare.
    async fn serve_at_limit(&mut self, shared: &Arc<Shared>) -> Result<()> {
        const QUICK: Duration = Duration::from_secs(1);
        let hello: Hello = self.reader.next_within(QUICK).await?;
        self.send(&Hello::ours()).await?;
        if hello.protocol != PROTOCOL_VERSION {
            return Ok(());
        }
        match self.reader.next_within(QUICK).await? {
            Request::Status => handlers::handle(shared, Request::Status, self).await,
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

    async fn serve(&mut self, shared: &Arc<Shared>) -> Result<()> {
        let hello: Hello = self.reader.next_within(FRAME_TIMEOUT).await?;
        self.send(&Hello::ours()).await?;
        if hello.protocol != PROTOCOL_VERSION {
            // The client restarts us or tells its user what to do.
            return Ok(());
        }
        let request: Request = self.reader.next_within(FRAME_TIMEOUT).await?;
        if self.client_left() {
            // It gave up waiting (a daemon that was stopped reads its
            // backlog of requests when continued): nobody wants this done.
            tracing::info!("dropped a request whose client had left");
            return Ok(());
        }
        handlers::handle(shared, request, self).await
    }

    pub async fn send(&mut self, frame: &impl Serialize) -> Result<()> {
        self.send_bytes(&encode(frame)).await
    }

    /// Sends a frame already encoded.
    pub async fn send_bytes(&mut self, frame: &[u8]) -> Result<()> {
        self.send
            .write_all(frame)
            .await
            .map_err(|e| Error::failure(format!("the client went away: {e}")))
    }

    /// Whether the client has closed the connection (nothing more to read,
    /// and the end of the stream already there).
    fn client_left(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: a non-blocking peek of one byte into a buffer we own.
        let n = unsafe {
            libc::recv(
                self.fd,
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n == 0
    }

    /// Asks for a send buffer of `bytes` (the system may give less);
    /// returns the size it has.
    pub fn grow_send_buffer(&self, bytes: usize) -> usize {
        let wanted = bytes.min(i32::MAX as usize) as libc::c_int;
        let mut size: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: socket options on a descriptor this connection owns,
        // with buffers of the sizes given.
        unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&wanted as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
            libc::getsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&mut size as *mut libc::c_int).cast(),
                &mut len,
            );
        }
        size.max(0) as usize
    }

    /// Bytes sent that the client has not read yet (as the system counts
    /// them, with its own overhead).
    pub fn unread(&self) -> usize {
        let mut queued: libc::c_int = 0;
        #[cfg(target_os = "linux")]
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int.
        let ok = unsafe { libc::ioctl(self.fd, libc::TIOCOUTQ, &mut queued) } == 0;
        #[cfg(not(target_os = "linux"))]
        let ok = {
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: SO_NWRITE writes one int.
            (unsafe {
                libc::getsockopt(
                    self.fd,
                    libc::SOL_SOCKET,
                    libc::SO_NWRITE,
                    (&mut queued as *mut libc::c_int).cast(),
                    &mut len,
                )
            }) == 0
        };
        if ok {
            queued.max(0) as usize
        } else {
            0
        }
    }

    /// Resolves when the client closes its side (a follower that left).
    pub async fn closed(&mut self) {
        let _ = self.reader.next::<serde_json::Value>().await;
    }
}

/// Reads newline-delimited JSON frames, refusing any longer than [`MAX_FRAME`].
pub struct FrameReader<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
}

impl<R: tokio::io::AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner: BufReader::new(inner),
            line: Vec::new(),
        }
    }

    async fn next_within<T: DeserializeOwned>(&mut self, limit: Duration) -> Result<T> {
        tokio::time::timeout(limit, self.next())
            .await
            .map_err(|_| Error::usage("timed out waiting for a complete frame"))?
    }

    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<T> {
        self.line.clear();
        loop {
            let available = self
                .inner
                .fill_buf()
                .await
                .map_err(|e| Error::failure(format!("cannot read from the client: {e}")))?;
            if available.is_empty() {
                return Err(Error::usage(
                    "the connection closed before a complete frame",
                ));
            }
            let (take, done) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (end, true),
                None => (available.len(), false),
            };
            if self.line.len() + take > MAX_FRAME {
                return Err(Error::usage(format!("frame longer than {MAX_FRAME} bytes")));
            }
            self.line.extend_from_slice(&available[..take]);
            self.inner.consume(take + usize::from(done));
            if done {
                return serde_json::from_slice(&self.line)
                    .map_err(|e| Error::usage(format!("malformed frame: {e}")));
            }
        }
    }
}
