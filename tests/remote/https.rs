//! The remote API's client as the iOS app is one: HTTPS (rustls) trusting
//! exactly the daemon's certificate, by the SHA-256 fingerprint that
//! pairing shows, HTTP/1.1, a bearer token, and a reader of server-sent
//! events.
//!
//! One copy for the tests (`tests/remote.rs` declares it as its module) and
//! for the benchmark (`bench/src/remote.rs` includes this file with
//! `#[path]`). It is test code: kept out of the library, it is in no binary
//! a user installs.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use tokio_rustls::rustls;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Sends requests on one connection.
pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Opens a connection to the remote API listening on loopback `port`,
/// trusting only the certificate whose SHA-256 is `fingerprint`; a task of
/// the current runtime drives it.
pub async fn connect(port: u16, fingerprint: &str) -> Result<Sender, Error> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let tls = tls_connector(fingerprint)
        .connect("localhost".try_into()?, tcp)
        .await?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A request as the app sends it: `Host` (unless `headers` have one), the
/// bearer token if any, a JSON body if any, and `headers`.
pub fn request(
    method: &str,
    path: &str,
    port: u16,
    token: Option<&str>,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Result<hyper::Request<Full<Bytes>>, Error> {
    let mut request = hyper::Request::builder().method(method).uri(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request = request.header("host", format!("127.0.0.1:{port}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    Ok(request.body(Full::new(Bytes::from(body.unwrap_or_default())))?)
}

/// One block of an event stream: an event (`event`, its `id`, its `data`),
/// or a comment such as a heartbeat (`event` is `"comment"`, `data` its
/// text).
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub event: String,
    pub id: Option<i64>,
    pub data: String,
}

/// Cuts a stream's bytes into its blocks, however the bytes arrive.
#[derive(Default)]
pub struct SseReader {
    buffer: Vec<u8>,
}

impl SseReader {
    /// The blocks that `bytes` completes.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Sse> {
        self.buffer.extend_from_slice(bytes);
        let mut blocks = Vec::new();
        let mut start = 0;
        while let Some(end) = self.buffer[start..]
            .windows(2)
            .position(|w| w == b"\n\n")
            .map(|at| start + at)
        {
            let block = String::from_utf8_lossy(&self.buffer[start..end]).into_owned();
            start = end + 2;
            blocks.push(parse(&block));
        }
        self.buffer.drain(..start);
        blocks
    }
}

fn parse(block: &str) -> Sse {
    let mut sse = Sse {
        event: "message".into(),
        id: None,
        data: String::new(),
    };
    if block.lines().all(|line| line.starts_with(':')) {
        sse.event = "comment".into();
        sse.data = block.trim_start_matches(':').trim().to_string();
        return sse;
    }
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            sse.event = v.into();
        } else if let Some(v) = line.strip_prefix("id: ") {
            sse.id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("data: ") {
            sse.data.push_str(v);
        }
    }
    sse
}

/// TLS that trusts only the certificate whose SHA-256 is `fingerprint`.
pub fn tls_connector(fingerprint: &str) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("rustls's default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            fingerprint: fingerprint.to_string(),
            provider,
        }))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Trusts exactly the certificate with this SHA-256, as the app pins it.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if m::model::hex(digest.as_ref()) == self.fingerprint {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned certificate".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
