//! One client connection's frames: newline-delimited JSON, none longer than
//! [`MAX_FRAME`]. The server reads the request off it; handlers answer on
//! it, stream events to followers, and learn when the client went away.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::error::{Error, Result};
use crate::protocol::{encode, MAX_FRAME};

/// One client's connection: frames in, frames out.
pub struct Connection {
    reader: FrameReader<Box<dyn AsyncRead + Send + Unpin>>,
    send: Box<dyn AsyncWrite + Send + Unpin>,
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
    pub fn new(
        recv: impl AsyncRead + Send + Unpin + 'static,
        send: impl AsyncWrite + Send + Unpin + 'static,
        peer: Peer,
    ) -> Connection {
        Connection {
            reader: FrameReader::new(Box::new(recv)),
            send: Box::new(send),
            peer,
        }
    }

    /// The next frame, which must come within `limit`.
    pub async fn next_within<T: DeserializeOwned>(&mut self, limit: Duration) -> Result<T> {
        self.reader.next_within(limit).await
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
