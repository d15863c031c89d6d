//! What is refused: redirects, other statuses, bodies over the limit, an issuer that never
//! answers, plain http to a remote host, and sets with a private member or of the wrong form.

use std::time::Duration;

use tollgate::keys::{RemoteConfig, RemoteJwks};
use tollgate::{Algorithm, ErrorKind, ExportFormat};

use crate::config;
use crate::issuer::{Issuer, JwksServer, Mode, SilentServer};

/// The error of one `key_set()` on a fresh client of `url`.
async fn fetch_error(url: &str, config: RemoteConfig) -> tollgate::Error {
    let jwks = RemoteJwks::new(url, None, config).unwrap();
    let err = jwks.key_set().await.unwrap_err();
    let status = jwks.status();
    assert_eq!((status.keys, status.fetches, status.failures), (0, 1, 1));
    assert_eq!(status.last_error.as_deref(), Some(err.message()));
    err
}

#[tokio::test]
async fn redirects_are_refused_naming_the_status_and_host() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let server = JwksServer::start(issuer.jwks(), None).await;
    server.set_mode(Mode::Redirect("https://elsewhere.example/jwks.json"));
    let err = fetch_error(&server.url(), config()).await;
    assert_eq!(err.kind(), ErrorKind::JwksUnavailable);
    let message = err.message();
    assert!(
        message.contains("302") && message.contains("elsewhere.example"),
        "{message}"
    );
    assert!(message.contains(&server.url()), "{message}");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_status_other_than_200_is_refused() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let server = JwksServer::start(issuer.jwks(), None).await;
    for code in [404, 500, 204] {
        server.set_mode(Mode::Status(code));
        let err = fetch_error(&server.url(), config()).await;
        assert_eq!(err.kind(), ErrorKind::JwksUnavailable);
        assert!(err.message().contains(&code.to_string()), "{err}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_declared_or_streamed() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let server = JwksServer::start(issuer.jwks(), None).await;
    let limited = || config().with_max_body(4096);

    server.set_mode(Mode::Large(4097));
    let err = fetch_error(&server.url(), limited()).await;
    assert_eq!(err.kind(), ErrorKind::JwksUnavailable);
    assert!(err.message().contains("Content-Length 4097"), "{err}");

    // Endless and without a length: refused at the limit (not by the timeout).
    server.set_mode(Mode::Endless);
    let err = fetch_error(&server.url(), limited()).await;
    assert_eq!(err.kind(), ErrorKind::JwksUnavailable);
    assert!(err.message().contains("4096-byte limit"), "{err}");

    // At the limit exactly: read (and then refused as not a JWK Set).
    server.set_mode(Mode::Large(4096));
    let err = fetch_error(&server.url(), limited()).await;
    assert_eq!(err.kind(), ErrorKind::BadKey, "{err}");
}

#[tokio::test]
async fn an_issuer_that_never_answers_hits_the_timeout() {
    let silent = SilentServer::start().await;
    let url = format!("http://{}/jwks.json", silent.addr);
    let config = config().with_timeout(Duration::from_millis(300));
    let err = fetch_error(&url, config).await;
    assert_eq!(err.kind(), ErrorKind::JwksUnavailable);
    assert!(err.message().contains("did not answer within"), "{err}");
}

#[test]
fn plain_http_to_a_remote_host_is_refused_at_construction() {
    let url = "http://issuer.example/.well-known/jwks.json";
    let err = RemoteJwks::new(url, None, RemoteConfig::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert!(err.message().contains(url), "{err}");
    assert_eq!(err.class().exit_code(), 2);
    for loopback in [
        "http://127.0.0.1:9/jwks.json",
        "http://[::1]:9/jwks.json",
        "http://localhost:9/jwks.json",
    ] {
        RemoteJwks::new(loopback, None, RemoteConfig::new()).unwrap();
    }
}

#[tokio::test]
async fn a_set_with_a_private_member_is_refused_whole() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let kid = issuer.kid();
    let public: serde_json::Value = serde_json::from_str(&issuer.jwks()).unwrap();
    let private: serde_json::Value = serde_json::from_str(
        &issuer
            .keyring
            .export(&kid, true, Some(ExportFormat::Jwk))
            .unwrap(),
    )
    .unwrap();
    let mut leaked = private.clone();
    leaked["kid"] = "leaked".into();
    let body = serde_json::json!({"keys": [public["keys"][0], leaked]}).to_string();
    let server = JwksServer::start(body, None).await;
    let err = fetch_error(&server.url(), config()).await;
    assert_eq!(err.kind(), ErrorKind::BadKey);
    let message = err.message();
    assert!(message.contains("private member \"d\""), "{message}");
    assert!(message.contains(&server.url()), "{message}");
    let d = private["d"].as_str().unwrap();
    assert!(!message.contains(d), "the message carries no key material");
}

#[tokio::test]
async fn only_a_jwk_set_is_accepted() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let public: serde_json::Value = serde_json::from_str(&issuer.jwks()).unwrap();
    let pem = issuer
        .keyring
        .export(&issuer.kid(), false, Some(ExportFormat::Pem))
        .unwrap()
        .to_string();
    for body in [
        // A lone JWK, a lone oct JWK (a secret), a PEM key, nothing usable.
        public["keys"][0].to_string(),
        r#"{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}"#.to_owned(),
        pem,
        r#"{"keys":[{"kty":"EC","crv":"P-521","x":"AQ","y":"AQ"}]}"#.to_owned(),
        r#"{"keys":[]}"#.to_owned(),
    ] {
        let server = JwksServer::start(body, None).await;
        let err = fetch_error(&server.url(), config()).await;
        assert_eq!(err.kind(), ErrorKind::BadKey, "{err}");
    }

    // An unusable member beside a usable one is skipped and counted.
    let mixed = serde_json::json!({"keys": [
        public["keys"][0],
        {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AQ", "y": "AQ"}
    ]});
    let server = JwksServer::start(mixed.to_string(), None).await;
    let jwks = RemoteJwks::new(&server.url(), None, config()).unwrap();
    let set = jwks.key_set().await.unwrap();
    assert_eq!(set.skipped(), 1);
    let status = jwks.status();
    assert_eq!((status.keys, status.skipped), (1, 1));
}

#[tokio::test]
async fn a_refused_set_replaces_the_cached_one_by_nothing() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let server = JwksServer::start(issuer.jwks(), Some("max-age=0")).await;
    let config = config()
        .with_cache_bounds(Duration::ZERO, Duration::ZERO)
        .with_cooldown(Duration::ZERO);
    let jwks = RemoteJwks::new(&server.url(), None, config).unwrap();
    jwks.key_set().await.unwrap();
    server.set_body(r#"{"keys":[]}"#.to_owned());
    let err = jwks.key_set().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadKey);
    assert_eq!(jwks.status().keys, 0);
    // The issuer down now: nothing stale to serve, the set was refused.
    server.stop().await;
    let err = jwks.key_set().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JwksUnavailable);
}
