//! TLS for PostgreSQL connections: a small `MakeTlsConnect` over tokio-rustls with the
//! aws-lc-rs provider.
//!
//! The usual rustls connectors for tokio-postgres (`tokio-postgres-rustls`, `postgres-rustls`)
//! link `ring`, which tollgate never links beside aws-lc-rs; this one is the few lines they
//! amount to. It also offers `tls-server-end-point` channel binding (RFC 5929), so that a SCRAM
//! login over TLS is bound to the certificate the client saw.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aws_lc_rs::digest;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use x509_cert::der::Decode;

use crate::store::url::SslMode;

/// Makes TLS connectors for tokio-postgres; `None` inside when the URL says
/// `sslmode=disable` (tokio-postgres then never asks it to connect).
#[derive(Clone)]
pub(crate) struct MakeRustls {
    config: Option<Arc<ClientConfig>>,
}

impl MakeRustls {
    /// The connector for `mode`: `verify-full` checks the chain against `roots` (PEM file
    /// contents) or the system's roots, and the name against the host; `require` encrypts
    /// without checking the certificate (libpq's meaning).
    ///
    /// Errors are messages for a `StoreUnavailable` error (an unreadable root file, no root).
    pub(crate) fn new(mode: SslMode, roots: Option<&[u8]>) -> Result<MakeRustls, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let config = match mode {
            SslMode::Disable => return Ok(MakeRustls { config: None }),
            SslMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoNameCheck {
                    algorithms: provider.signature_verification_algorithms,
                }))
                .with_no_client_auth(),
            SslMode::VerifyFull => builder
                .with_root_certificates(root_store(roots)?)
                .with_no_client_auth(),
        };
        Ok(MakeRustls {
            config: Some(Arc::new(config)),
        })
    }
}

/// The trusted roots: the certificates of a PEM file, or the system's.
fn root_store(pem_file: Option<&[u8]>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match pem_file {
        Some(bytes) => {
            let blocks = pem::parse_many(bytes).map_err(|e| format!("sslrootcert: {e}"))?;
            for block in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
                store
                    .add(CertificateDer::from(block.contents().to_vec()))
                    .map_err(|e| format!("sslrootcert: {e}"))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    "no system root certificate found; name one with sslrootcert=FILE".to_owned(),
                );
            }
        }
    }
    if store.is_empty() {
        return Err("sslrootcert holds no CERTIFICATE block".to_owned());
    }
    Ok(store)
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let Some(config) = &self.config else {
            return Ok(RustlsConnect { target: None });
        };
        // An IP address or a DNS name; a Unix socket "domain" never reaches a TLS handshake.
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnect {
            target: Some((Arc::clone(config), name)),
        })
    }
}

/// One TLS handshake to come.
pub(crate) struct RustlsConnect {
    target: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

type Handshake<S> = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Handshake<S>;

    fn connect(self, stream: S) -> Handshake<S> {
        Box::pin(async move {
            let Some((config, name)) = self.target else {
                return Err(io::Error::other("TLS is disabled (sslmode=disable)"));
            };
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await?;
            let binding = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| server_end_point(cert));
            Ok(RustlsStream { tls, binding })
        })
    }
}

/// `tls-server-end-point` (RFC 5929 §4.1): the server certificate's hash, with the hash of its
/// signature algorithm (SHA-256 for MD5 and SHA-1). `None` for an algorithm without one
/// (Ed25519, RSA-PSS): SCRAM then runs without channel binding.
fn server_end_point(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let parsed = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    let algorithm = match parsed.signature_algorithm().oid.to_string().as_str() {
        // md5/sha1/sha256 with RSA, ecdsa-with-SHA1/SHA256
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.2" => &digest::SHA256,
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => &digest::SHA384,
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => &digest::SHA512,
        _ => return None,
    };
    Some(digest::digest(algorithm, cert.as_ref()).as_ref().to_vec())
}

/// A TLS connection to PostgreSQL.
pub(crate) struct RustlsStream<S> {
    tls: tokio_rustls::client::TlsStream<S>,
    binding: Option<Vec<u8>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        match &self.binding {
            Some(hash) => ChannelBinding::tls_server_end_point(hash.clone()),
            None => ChannelBinding::none(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }
}

/// `sslmode=require`: any certificate is accepted (libpq's meaning: encryption against a
/// passive eavesdropper, no protection from an active one), but the handshake signatures are
/// still checked, so the session keys belong to whoever holds the presented certificate.
#[derive(Debug)]
struct NoNameCheck {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoNameCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
