//! The socket: accepts connections, drops other users' before reading a
//! byte, exchanges `hello`, reads one request and hands it to its handler.
//! A bad frame costs its own connection only. The frames themselves are
//! `connection.rs`, which the handlers use too.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use interprocess::local_socket::tokio::{prelude::*, Listener};
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
            let mut conn = Connection::new(recv, send, peer);
            if let Err(err) = serve(&mut conn, &shared).await {
                tracing::debug!("connection ended with an error: {}", err.message);
                let _ = conn.send(&Response::from(&err)).await;
            }
        });
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
    handlers::handle(shared, request, conn).await
}
