//! The socket: accepts connections, drops other users' before reading a
//! byte, exchanges `hello`, reads one request and hands it to its handler.
//! A bad frame costs its own connection only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
        let peer = match conn.peer_creds() {
            Ok(creds) if creds.euid() == Some(ours) => Peer {
                uid: ours,
                pid: creds.pid(),
            },
            other => {
                let uid = other.map(|c| c.euid());
                tracing::warn!("dropped a connection from another user ({uid:?})");
                continue;
            }
        };
        tracing::debug!("accepted a connection");
        let shared = shared.clone();
        tokio::spawn(async move {
            let (recv, send) = tokio::io::split(conn);
            let mut conn = Connection {
                reader: FrameReader::new(recv),
                send,
                peer,
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
    /// The process at the other end, from the socket (`SO_PEERCRED`).
    pub peer: Peer,
}

/// The process that connected, as the kernel says (not as it claims).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub uid: u32,
    /// None where the platform does not say.
    pub pid: Option<i32>,
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
        handlers::handle(shared, request, self).await
    }

    pub async fn send(&mut self, frame: &impl Serialize) -> Result<()> {
        self.send
            .write_all(&encode(frame))
            .await
            .map_err(|e| Error::failure(format!("the client went away: {e}")))
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
