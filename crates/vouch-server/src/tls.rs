//! The serving certificate, re-read when its files change (cert-manager or a Secret update
//! rotates it without a restart), with HTTP/2 and HTTP/1.1 offered over ALPN.
//!
//! A handshake checks the files' metadata at most once a second; a new pair is used only if
//! it parses and the key matches the certificate, otherwise the old pair stays and the
//! failure is logged.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::watch::{Stamp, stamp};

/// PEM files larger than this are not certificates or keys.
const MAX_PEM_BYTES: u64 = 1024 * 1024;
/// How often a handshake may look at the files.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Where the serving certificate chain and its key are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

/// Why the serving certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The certificate file holds no certificate, or bad PEM.
    #[error("{path}: {reason}")]
    Certificate {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The key file holds no usable key, or not the certificate's key.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A certificate resolver that reloads its files when they change.
pub struct ReloadingCertificate {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    checked: Mutex<Checked>,
}

struct Checked {
    at: Instant,
    stamps: (Option<Stamp>, Option<Stamp>),
}

impl std::fmt::Debug for ReloadingCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCertificate")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    let err = |reason: String| TlsError::Read {
        path: path.display().to_string(),
        reason,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(err(format!("larger than {MAX_PEM_BYTES} bytes")));
    }
    Ok(bytes)
}

/// Reads and checks a certificate chain and its key.
pub fn load_pair(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let cert_path = files.cert.display().to_string();
    let key_path = files.key.display().to_string();
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read_pem(&files.cert)?)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Certificate {
                path: cert_path.clone(),
                reason: format!("bad PEM: {e}"),
            })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert_path,
            reason: "no CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&read_pem(&files.key)?).map_err(|e| TlsError::Key {
        path: key_path.clone(),
        reason: format!("no usable private key: {e}"),
    })?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| TlsError::Key {
            path: key_path.clone(),
            reason: format!("unsupported key: {e}"),
        })?;
    let pair = CertifiedKey::new(certs, signing);
    pair.keys_match().map_err(|e| TlsError::Key {
        path: key_path,
        reason: format!("not the key of {cert_path}: {e}"),
    })?;
    Ok(pair)
}

impl ReloadingCertificate {
    /// Loads the pair once; later handshakes pick up changes.
    pub fn load(files: TlsFiles) -> Result<Arc<ReloadingCertificate>, TlsError> {
        let stamps = (stamp(&files.cert), stamp(&files.key));
        let pair = load_pair(&files)?;
        Ok(Arc::new(ReloadingCertificate {
            files,
            current: RwLock::new(Arc::new(pair)),
            checked: Mutex::new(Checked {
                at: Instant::now(),
                stamps,
            }),
        }))
    }

    /// A rustls server configuration serving this certificate, offering HTTP/2 and HTTP/1.1.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Re-reads the files if they changed since the last look (at most once a second).
    pub fn refresh(&self) {
        let stamps = {
            let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
            if checked.at.elapsed() < CHECK_INTERVAL {
                return;
            }
            checked.at = Instant::now();
            let now = (stamp(&self.files.cert), stamp(&self.files.key));
            if now == checked.stamps {
                return;
            }
            checked.stamps = now.clone();
            now
        };
        match load_pair(&self.files) {
            Ok(pair) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(pair);
                crate::log::info(serde_json::json!({
                    "event": "tls-certificate-reloaded",
                    "cert": self.files.cert.display().to_string(),
                }));
            }
            Err(e) => {
                // Half-written files (cert updated, key not yet) are retried on the next change.
                let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
                if checked.stamps == stamps {
                    checked.stamps = (None, None);
                }
                crate::log::warn(serde_json::json!({
                    "event": "tls-certificate-reload-refused",
                    "reason": e.to_string(),
                }));
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> TlsFiles {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let files = TlsFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).expect("cert");
        std::fs::write(&files.key, key.serialize_pem()).expect("key");
        files
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let a = write_pair(dir.path(), "a");
        let b = write_pair(dir.path(), "b");
        load_pair(&a).expect("a matches");
        let mixed = TlsFiles {
            cert: a.cert.clone(),
            key: b.key.clone(),
        };
        let err = load_pair(&mixed).expect_err("mismatch");
        assert!(err.to_string().contains("not the key of"), "{err}");
        std::fs::write(&a.cert, "not pem").expect("write");
        let err = load_pair(&a).expect_err("no certificate");
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    }

    #[test]
    fn changed_files_are_picked_up_and_bad_ones_ignored() {
        let dir = tempfile::tempdir().expect("dir");
        let files = write_pair(dir.path(), "a");
        let resolver = ReloadingCertificate::load(files.clone()).expect("loads");
        let first = resolver.current.read().expect("lock").cert[0].clone();
        // A broken key is refused; the old pair stays.
        std::fs::write(&files.key, "garbage").expect("write");
        resolver.checked.lock().expect("lock").at -= CHECK_INTERVAL;
        resolver.refresh();
        assert_eq!(resolver.current.read().expect("lock").cert[0], first);
        // A new valid pair replaces it.
        let other = write_pair(dir.path(), "b");
        std::fs::rename(&other.cert, &files.cert).expect("cert");
        std::fs::rename(&other.key, &files.key).expect("key");
        resolver.checked.lock().expect("lock").at -= CHECK_INTERVAL;
        resolver.refresh();
        assert_ne!(resolver.current.read().expect("lock").cert[0], first);
    }
}
