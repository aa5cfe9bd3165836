//! Test PKI made at test time: a CA, a server certificate for `127.0.0.1` (IP SAN) and
//! `localhost`, and a client certificate for mutual TLS, all ECDSA P-256, written as PEM
//! files. Nothing here is trusted by the system; a client trusts it only when told to
//! (`vouch --registry-cacert`, [`TlsFiles::agent`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate with its private key, as PEM and DER.
#[derive(Debug, Clone)]
pub struct CertKey {
    /// PEM `CERTIFICATE`.
    pub cert_pem: String,
    /// PEM `PRIVATE KEY` (PKCS#8).
    pub key_pem: String,
    /// The certificate's DER.
    pub cert_der: Vec<u8>,
    /// The key's PKCS#8 DER.
    pub key_der: Vec<u8>,
    /// The key's SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
}

/// How a generated server certificate is made.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Subject alternative names of the server certificate: IP addresses become IP SANs,
    /// everything else DNS SANs. Default `127.0.0.1`, `localhost`.
    pub server_names: Vec<String>,
    /// Make a server certificate that expired in 2001 (the CA stays valid).
    pub expired: bool,
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions {
            server_names: vec!["127.0.0.1".into(), "localhost".into()],
            expired: false,
        }
    }
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
}

/// A CA and the certificates it issued, as PEM files in a temp dir that lives as long as
/// any clone of this value.
#[derive(Clone)]
pub struct TlsFiles {
    dir: Arc<tempfile::TempDir>,
    ca: Arc<Ca>,
    /// `ca.pem`: the CA certificate (what `--registry-cacert` takes).
    pub ca_cert: PathBuf,
    /// `server.pem`: the server certificate (registry `http.tls.certificate`).
    pub server_cert: PathBuf,
    /// `server.key`: its key (registry `http.tls.key`).
    pub server_key: PathBuf,
    /// `client.pem`: a client certificate signed by the same CA, for mutual TLS.
    pub client_cert: PathBuf,
    /// `client.key`: its key.
    pub client_key: PathBuf,
    /// The CA certificate's PEM and DER (the CA key stays inside).
    pub ca_pem: String,
    /// The CA certificate's DER.
    pub ca_der: Vec<u8>,
    /// The server certificate and key.
    pub server: CertKey,
    /// The client certificate and key.
    pub client: CertKey,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "vouch-e2e");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn cert_key(cert: &rcgen::Certificate, key: &KeyPair) -> CertKey {
    use rcgen::PublicKeyData as _;
    CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
        spki_der: key.subject_public_key_info(),
    }
}

impl TlsFiles {
    /// A fresh CA, a server certificate for `127.0.0.1` and `localhost`, and a client
    /// certificate. Each call makes an unrelated CA (so a second one is a "wrong CA").
    pub fn generate() -> TlsFiles {
        TlsFiles::generate_with(TlsOptions::default())
    }

    /// Like [`TlsFiles::generate`] with other server names (a name mismatch) or an expired
    /// server certificate.
    pub fn generate_with(options: TlsOptions) -> TlsFiles {
        let dir = tempfile::tempdir().expect("tempdir for TLS files");

        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = dn("vouch-e2e test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.not_before = date_time_ymd(2020, 1, 1);
        ca_params.not_after = date_time_ymd(2100, 1, 1);
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
        let ca_pem = ca_cert.pem();
        let ca_der = ca_cert.der().to_vec();
        let ca = Ca {
            issuer: Issuer::new(ca_params, ca_key),
        };

        let server = ca.issue(&options.server_names, false, options.expired);
        let client = ca.issue(&["vouch-e2e client".to_string()], true, false);

        let write = |name: &str, text: &str| -> PathBuf {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write TLS file");
            path
        };
        let ca_cert = write("ca.pem", &ca_pem);
        let server_cert = write("server.pem", &server.cert_pem);
        let server_key = write("server.key", &server.key_pem);
        let client_cert = write("client.pem", &client.cert_pem);
        let client_key = write("client.key", &client.key_pem);
        TlsFiles {
            dir: Arc::new(dir),
            ca: Arc::new(ca),
            ca_cert,
            server_cert,
            server_key,
            client_cert,
            client_key,
            ca_pem,
            ca_der,
            server,
            client,
        }
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Another certificate from this CA: a server certificate for `names`, or a client
    /// certificate (`client = true`, `names[0]` its common name).
    pub fn issue(&self, names: &[String], client: bool) -> CertKey {
        self.ca.issue(names, client, false)
    }

    /// A rustls server config presenting the server certificate; with `require_client_cert`
    /// it demands a client certificate signed by the CA (what `http.tls.clientcas` does).
    pub fn server_config(&self, require_client_cert: bool) -> Arc<rustls::ServerConfig> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if require_client_cert {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                self.roots(),
                provider(),
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(
                vec![CertificateDer::from(self.server.cert_der.clone())],
                private_key(&self.server.key_der),
            )
            .expect("server certificate");
        Arc::new(config)
    }

    /// A rustls client config trusting only this CA, presenting the client certificate when
    /// `with_client_cert`.
    pub fn client_config(&self, with_client_cert: bool) -> Arc<rustls::ClientConfig> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(self.roots());
        let config = if with_client_cert {
            builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(self.client.cert_der.clone())],
                    private_key(&self.client.key_der),
                )
                .expect("client certificate")
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }

    fn roots(&self) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca_der.clone()))
            .expect("add CA to root store");
        Arc::new(roots)
    }

    /// A ureq agent trusting only this CA (4xx/5xx are not errors, 30 s timeout).
    pub fn agent(&self) -> ureq::Agent {
        self.agent_inner(false)
    }

    /// Like [`TlsFiles::agent`], presenting the client certificate (for mutual TLS).
    pub fn agent_with_client_cert(&self) -> ureq::Agent {
        self.agent_inner(true)
    }

    /// An agent trusting this CA and presenting `client` (e.g. another CA's client
    /// certificate, which a mutual-TLS registry must refuse).
    pub fn agent_presenting(&self, client: &CertKey) -> ureq::Agent {
        self.build_agent(Some(client))
    }

    fn agent_inner(&self, with_client_cert: bool) -> ureq::Agent {
        self.build_agent(with_client_cert.then_some(&self.client))
    }

    fn build_agent(&self, client: Option<&CertKey>) -> ureq::Agent {
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};
        let mut tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::new_with_certs(&[Certificate::from_der(
                &self.ca_der,
            )
            .to_owned()]))
            .unversioned_rustls_crypto_provider(provider());
        if let Some(client) = client {
            tls = tls.client_cert(Some(ClientCert::new_with_certs(
                &[Certificate::from_der(&client.cert_der).to_owned()],
                PrivateKey::from_pem(client.key_pem.as_bytes()).expect("client key PEM"),
            )));
        }
        ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into()
    }
}

impl Ca {
    fn issue(&self, names: &[String], client: bool, expired: bool) -> CertKey {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = if client {
            CertificateParams::default()
        } else {
            CertificateParams::new(names.to_vec()).expect("server names")
        };
        params.distinguished_name = dn(names.first().map(String::as_str).unwrap_or("vouch-e2e"));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        params.use_authority_key_identifier_extension = true;
        if expired {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        } else {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2099, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        cert_key(&cert, &key)
    }
}

/// rustls's ring provider (the workspace avoids aws-lc).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn private_key(pkcs8: &[u8]) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec()))
}

/// A self-signed certificate (no CA), e.g. for a token signing key that a registry trusts
/// directly through its `rootcertbundle`.
pub fn self_signed(common_name: &str) -> CertKey {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(common_name);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 1, 1);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).expect("self-sign");
    cert_key(&cert, &key)
}
