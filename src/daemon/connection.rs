//! One client connection's frames: newline-delimited JSON, none longer than
//! [`MAX_FRAME`]. The server reads the request off it; handlers answer on
//! it, stream events to followers, and learn when the client went away.

use std::os::fd::RawFd;
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
    /// The Unix socket underneath, if that is what it is: for the size of
    /// what the client has not read yet, and whether it left.
    socket: Option<RawFd>,
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
            socket: None,
            peer,
        }
    }

    /// A connection over the Unix socket `fd` (which it must outlive).
    pub fn on_socket(mut self, fd: RawFd) -> Connection {
        self.socket = Some(fd);
        self
    }

    /// The next frame, which must come within `limit`.
    pub async fn next_within<T: DeserializeOwned>(&mut self, limit: Duration) -> Result<T> {
        self.reader.next_within(limit).await
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
    pub fn client_left(&self) -> bool {
        let Some(fd) = self.socket else {
            return false;
        };
        let mut byte = 0u8;
        // SAFETY: a non-blocking peek of one byte into a buffer we own.
        let n = unsafe {
            libc::recv(
                fd,
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n == 0
    }

    /// Asks for a send buffer of `bytes` (the system may give less);
    /// returns the size it has (`bytes` when there is no socket).
    pub fn grow_send_buffer(&self, bytes: usize) -> usize {
        let Some(fd) = self.socket else {
            return bytes;
        };
        let wanted = bytes.min(i32::MAX as usize) as libc::c_int;
        let mut size: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: socket options on a descriptor this connection owns,
        // with buffers of the sizes given.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&wanted as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&mut size as *mut libc::c_int).cast(),
                &mut len,
            );
        }
        size.max(0) as usize
    }

    /// Bytes sent that the client has not read yet (as the system counts
    /// them, with its own overhead); 0 when there is no socket.
    pub fn unread(&self) -> usize {
        let Some(fd) = self.socket else {
            return 0;
        };
        let mut queued: libc::c_int = 0;
        #[cfg(target_os = "linux")]
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int.
        let ok = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) } == 0;
        #[cfg(not(target_os = "linux"))]
        let ok = {
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: SO_NWRITE writes one int.
            (unsafe {
                libc::getsockopt(
                    fd,
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
