//! The remote API: the daemon's second front door, for the iOS app (and
//! the phone page), over HTTPS only. Off unless `[remote] listen` (or
//! `M_REMOTE_LISTEN`) is set. It answers with the same handlers as the
//! socket (`daemon::handlers`); what it adds is its own: TLS, pairing,
//! bearer tokens with scopes, the `Host` check, and JSON errors.
//! docs/api.md is its contract.

mod api;
pub mod auth;
mod page;
mod stream;
mod tls;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_rustls::TlsAcceptor;

use super::Shared;
use crate::config::RemoteConfig;
use crate::error::{Error, Result};
use crate::model::{now, Scope};
use crate::protocol::{PairingOffer, RemoteStatus};

/// A client has this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections at most; more wait to be accepted.
const MAX_CONNECTIONS: usize = 128;

/// The listener as the daemon knows it.
pub struct Remote {
    /// `https://HOST:PORT`, as phones reach it.
    pub url: String,
    pub addr: SocketAddr,
    pub fingerprint: String,
    /// `Host` header values accepted (lowercase, without port).
    hosts: BTreeSet<String>,
    pub pairings: auth::Pairings,
    code_lifetime: Duration,
    /// How often an idle event stream says it is alive (`[remote] heartbeat`).
    heartbeat: Duration,
    /// Ids of devices just unpaired: their open streams end.
    revoked: broadcast::Sender<String>,
}

impl Remote {
    pub fn status(&self) -> RemoteStatus {
        RemoteStatus {
            url: self.url.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }

    /// A one-time pairing code, and the URL the QR code carries.
    pub fn offer(&self, name: Option<String>, scopes: Vec<Scope>) -> PairingOffer {
        let (code, _) = self
            .pairings
            .issue(name, scopes.clone(), self.code_lifetime);
        PairingOffer {
            url: format!("{}/pair#code={code}&fp={}", self.url, self.fingerprint),
            code,
            fingerprint: self.fingerprint.clone(),
            expires_at: now() + self.code_lifetime.as_secs() as i64,
            scopes,
        }
    }

    /// Ends the open streams of a device just unpaired.
    pub fn revoke(&self, device_id: &str) {
        let _ = self.revoked.send(device_id.to_string());
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.contains(&strip_port(host).to_ascii_lowercase())
    }
}

/// Binds the listener if `[remote] listen` is set, and serves it on a task
/// of its own. A listener that cannot start stops the daemon's start:
/// better a clear error than phones that silently cannot connect.
pub async fn start(shared: Arc<Shared>, config: &RemoteConfig) -> Result<Option<Arc<Remote>>> {
    let Some(listen) = config.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(listen).await.map_err(|e| {
        Error::failure(format!("cannot listen on {listen} for the remote API: {e}"))
            .with_hint("choose another [remote] listen address or port (0 picks a free one)")
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::failure(format!("cannot read the remote API's address: {e}")))?;
    let hosts = host_names(addr.ip(), &config.hosts);
    // The certificate names what the Host check accepts (IPv6 unbracketed).
    let names: Vec<String> = hosts
        .iter()
        .map(|h| h.trim_matches(['[', ']']).to_string())
        .collect();
    let identity = tls::identity(&shared.paths, config, &names)?;
    let url_host = url_host(addr.ip(), &config.hosts);
    let remote = Arc::new(Remote {
        url: format!("https://{url_host}:{}", addr.port()),
        addr,
        fingerprint: identity.fingerprint,
        hosts,
        pairings: auth::Pairings::default(),
        code_lifetime: config.pairing_code_lifetime,
        heartbeat: config.heartbeat,
        revoked: broadcast::channel(64).0,
    });
    tracing::info!(url = %remote.url, "remote API listening");
    let acceptor = TlsAcceptor::from(identity.config);
    tokio::spawn(accept_loop(shared, remote.clone(), listener, acceptor));
    Ok(Some(remote))
}

async fn accept_loop(
    shared: Arc<Shared>,
    remote: Arc<Remote>,
    listener: TcpListener,
    acceptor: TlsAcceptor,
) {
    let router = api::router(shared.clone(), remote.clone());
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut stopping = shared.stopping.subscribe();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("remote accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { drop(stopping.wait_for(|s| *s).await) } => return,
        };
        // Each event of a stream is a small write of its own: with Nagle's
        // algorithm one waits for the phone's (delayed) ACK of the last.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
        }
        let acceptor = acceptor.clone();
        let service = router.clone().layer(axum::Extension(api::Peer(peer)));
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            let io = hyper_util::rt::TokioIo::new(tls);
            let service = hyper_util::service::TowerToHyperService::new(service);
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(io, service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, "remote connection ended: {e}");
            }
        });
    }
}

/// The names a `Host` header may carry: the bound address, the loopback
/// names when bound there, this machine's name, and `[remote] hosts`.
/// Anything else is a DNS name pointed at us by someone else (rebinding).
fn host_names(ip: IpAddr, configured: &[String]) -> BTreeSet<String> {
    let mut hosts: BTreeSet<String> = configured.iter().cloned().collect();
    if ip.is_unspecified() {
        hosts.extend(local_addresses().iter().map(ip_host));
        hosts.extend(["localhost".to_string(), "127.0.0.1".into(), "[::1]".into()]);
    } else {
        hosts.insert(ip_host(&ip));
    }
    if ip.is_loopback() {
        hosts.extend(["localhost".to_string(), "127.0.0.1".into(), "[::1]".into()]);
    }
    if let Some(name) = machine_name() {
        hosts.insert(format!("{name}.local"));
        hosts.insert(name);
    }
    hosts
}

/// The host of the pairing URL: the first configured name, else the bound
/// address, else (bound to every interface) this machine's first LAN address.
fn url_host(ip: IpAddr, configured: &[String]) -> String {
    if let Some(first) = configured.first() {
        return first.clone();
    }
    if !ip.is_unspecified() {
        return ip_host(&ip);
    }
    local_addresses()
        .iter()
        .find(|a| a.is_ipv4() && !a.is_loopback())
        .map(ip_host)
        .or_else(machine_name)
        .unwrap_or_else(|| "localhost".into())
}

/// An address as it stands in a URL's host: IPv6 in brackets.
fn ip_host(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// `host:port` -> `host`; `[::1]:8443` -> `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn machine_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0)?;
    let name = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
    (ok && !name.is_empty()).then_some(name)
}

/// Every address of this machine's interfaces.
fn local_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, which is walked read-only and freed once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut cursor = list;
        while !cursor.is_null() {
            let addr = (*cursor).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(addr as *const libc::sockaddr_in);
                        found.push(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(addr as *const libc::sockaddr_in6);
                        found.push(IpAddr::from(v6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cursor = (*cursor).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_compared_without_their_port() {
        assert_eq!(strip_port("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(strip_port("[::1]:8443"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("box.tail.ts.net"), "box.tail.ts.net");
    }

    #[test]
    fn the_bound_names_are_the_address_the_loopback_names_and_the_configured_ones() {
        let loopback = host_names("127.0.0.1".parse().unwrap(), &["box.ts.net".into()]);
        for name in ["127.0.0.1", "localhost", "[::1]", "box.ts.net"] {
            assert!(loopback.contains(name), "{name}: {loopback:?}");
        }
        assert!(!loopback.contains("evil.example"));
        let lan = host_names("192.0.2.7".parse().unwrap(), &[]);
        assert!(lan.contains("192.0.2.7") && !lan.contains("localhost"));
        assert_eq!(url_host("192.0.2.7".parse().unwrap(), &[]), "192.0.2.7");
        assert_eq!(url_host("::1".parse().unwrap(), &[]), "[::1]");
        assert_eq!(
            url_host("0.0.0.0".parse().unwrap(), &["box.ts.net".into()]),
            "box.ts.net"
        );
    }
}
