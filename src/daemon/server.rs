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
    loop {
        let conn = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Only our own user may talk to the daemon: it runs commands as us.
        // SAFETY: geteuid has no preconditions.
        let ours = unsafe { libc::geteuid() };
        match conn.peer_creds().map(|c| c.euid()) {
            Ok(Some(uid)) if uid == ours => {}
            other => {
                tracing::warn!("dropped a connection from another user ({other:?})");
                continue;
            }
        }
        tracing::debug!("accepted a connection");
        let shared = shared.clone();
        tokio::spawn(async move {
            let fd = match &conn {
                Stream::UdSocket(stream) => stream.as_fd().as_raw_fd(),
            };
            let (recv, send) = tokio::io::split(conn);
            let mut conn = Connection {
                reader: FrameReader::new(recv),
                send,
                fd,
            };
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

impl Connection {
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
