//! HTTPS with a test CA made by rcgen: trusted with `with_ca_file`, refused without it or with
//! another CA.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tollgate::keys::RemoteJwks;
use tollgate::{Algorithm, ErrorKind};

use crate::config;
use crate::issuer::{Issuer, JwksServer};

/// A CA: its certificate's PEM, and the issuer that signs with it.
fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A TLS acceptor whose certificate (for 127.0.0.1 and localhost) `ca` signed.
fn acceptor(ca: &CertifiedIssuer<'static, KeyPair>) -> TlsAcceptor {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cert = params.signed_by(&key, ca).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn https_with_a_test_ca_works_with_its_ca_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let authority = ca("tollgate test CA");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, authority.pem()).unwrap();
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, ca("another CA").pem()).unwrap();

    let issuer = Issuer::new(Algorithm::EdDSA);
    let server = JwksServer::start_tls(issuer.jwks(), acceptor(&authority)).await;
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"));

    let trusted = RemoteJwks::new(&url, None, config().with_ca_file(&ca_file)).unwrap();
    let set = trusted.key_set().await.unwrap();
    assert!(set.get(&issuer.kid()).is_some());

    // Without the CA file (system roots) and with another CA's: the certificate is refused.
    for config in [config(), config().with_ca_file(&other_file)] {
        let err = match RemoteJwks::new(&url, None, config) {
            Ok(jwks) => jwks.key_set().await.unwrap_err(),
            // A machine without system roots refuses already here, of the same kind.
            Err(err) => err,
        };
        assert_eq!(err.kind(), ErrorKind::JwksUnavailable, "{err}");
        assert!(err.message().contains("certificate"), "{err}");
    }
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_ca_file_that_cannot_be_used_is_refused_at_construction() {
    let dir = tempfile::tempdir().unwrap();
    let url = "https://127.0.0.1:9/jwks.json";
    let missing = dir.path().join("missing.pem");
    let err = RemoteJwks::new(url, None, config().with_ca_file(&missing)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains("missing.pem"), "{err}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let err = RemoteJwks::new(url, None, config().with_ca_file(&empty)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
}
