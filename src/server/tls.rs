//! HTTPS for `tollgate serve`: rustls with the aws-lc-rs provider, through tokio-rustls, and a
//! certificate that is picked up again when its files change.
//!
//! The certificate chain and its private key are PEM files (the chain leaf first; the key in
//! PKCS#8, PKCS#1 or SEC1 form). Both are read at startup, where a file that cannot be read is
//! an [`Io`](crate::ErrorKind::Io) error and one that holds no usable certificate or key, or
//! a key that does not belong to the certificate, is a [`BadKey`](crate::ErrorKind::BadKey)
//! error (both exit 3 in the CLI). While serving, the two files are compared with what was
//! last loaded every [`reload interval`](super::Config::with_reload_interval) (1 s by
//! default); a changed pair that loads is used for every new handshake, one that does not is
//! logged (never its contents) and the previous certificate stays in use. A pair caught
//! halfway through a replacement is refused once (logged) and taken at the next check after
//! both files are in place.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// A certificate and key loaded from two PEM files, swapped in place when they change.
pub(crate) struct Tls {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The bytes of the pair last tried (loaded or refused), so a bad pair is logged once.
    last: std::sync::Mutex<(Vec<u8>, Vec<u8>)>,
    /// Whether the files could not be read at the last check (logged once).
    unreadable: AtomicBool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads and checks the pair.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Tls> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let (cert_bytes, key_bytes) = read_pair(cert, key)?;
        let certified = certified_key(cert, &cert_bytes, key, &key_bytes, &provider)?;
        Ok(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(certified)),
            last: std::sync::Mutex::new((cert_bytes, key_bytes)),
            unreadable: AtomicBool::new(false),
        })
    }

    /// A TLS 1.2/1.3 acceptor that always presents the current certificate.
    pub(crate) fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .map_err(|e| Error::io(format!("cannot set up TLS: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Loads the pair again if either file changed since the last check.
    fn check(&self) {
        let (cert_bytes, key_bytes) = match read_pair(&self.cert, &self.key) {
            Ok(pair) => {
                self.unreadable.store(false, Ordering::Relaxed);
                pair
            }
            Err(e) => {
                // Removed or made unreadable: keep serving with the certificate in memory,
                // and say so once.
                if !self.unreadable.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %e, "still serving the previous TLS certificate");
                }
                return;
            }
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.0 == cert_bytes && last.1 == key_bytes {
            return;
        }
        match certified_key(
            &self.cert,
            &cert_bytes,
            &self.key,
            &key_bytes,
            &self.provider,
        ) {
            Ok(certified) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(certified);
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => tracing::error!(
                error = %e,
                "the changed TLS certificate or key was refused; still serving the previous certificate"
            ),
        }
        *last = (cert_bytes, key_bytes);
    }

    /// Checks the files every `interval` until the handle is aborted.
    pub(crate) fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> JoinHandle<()> {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let tls = tls.clone();
                if tokio::task::spawn_blocking(move || tls.check())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    }
}

#[derive(Debug)]
struct Resolver(Arc<Tls>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

fn read_pair(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).map_err(|e| {
            Error::io(format!(
                "cannot read the TLS {what} {}: {e}; check the path given to --tls-{what} and \
                 that this user may read it",
                path.display()
            ))
        })
    };
    Ok((read(cert, "cert")?, read(key, "key")?))
}

/// The pair as rustls uses it. Messages never quote the files' contents (a PEM parser's error
/// may carry a line of the key).
fn certified_key(
    cert_path: &Path,
    cert: &[u8],
    key_path: &Path,
    key: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<std::result::Result<Vec<_>, _>>()
        .ok()
        .filter(|chain| !chain.is_empty())
        .ok_or_else(|| {
            Error::bad_key(format!(
                "no PEM certificate (\"-----BEGIN CERTIFICATE-----\") in {}; give the \
                 certificate chain, leaf first, with --tls-cert",
                cert_path.display()
            ))
        })?;
    let private = PrivateKeyDer::from_pem_slice(key).map_err(|_| {
        Error::bad_key(format!(
            "no PEM private key (PKCS#8, PKCS#1 or SEC1) in {}; give the certificate's key \
             with --tls-key",
            key_path.display()
        ))
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        Error::bad_key(format!(
            "the key in {} cannot serve the certificate in {} ({e}); give the certificate's \
             own private key",
            key_path.display(),
            cert_path.display()
        ))
    })
}
