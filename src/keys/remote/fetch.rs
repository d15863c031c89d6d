//! One JWKS fetch over HTTP(S): hyper-util's client over hyper-rustls (aws-lc-rs), with the
//! limits of a [`RemoteConfig`]: no redirect followed, `200` only, a bounded body, one timeout
//! for the whole exchange.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AGE, CACHE_CONTROL, CONTENT_LENGTH, LOCATION, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::clock::format_duration;
use crate::error::{Error, ErrorKind, Result};
use crate::keys::remote::config::RemoteConfig;
use crate::keys::remote::endpoint::Endpoint;

/// What one successful fetch brought: the body, and how long to keep it.
pub(super) struct Fetched {
    pub(super) body: Vec<u8>,
    pub(super) ttl: Duration,
}

/// The HTTP client of one [`RemoteJwks`](super::RemoteJwks).
pub(super) struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Fetcher {
    /// A client trusting `config`'s CA file, or the system's roots; nothing is connected yet.
    ///
    /// # Errors
    ///
    /// `io` for an unreadable CA file, `usage` for one without a certificate, and
    /// `jwks_unavailable` when an `https` URL is given and the system has no root certificate.
    pub(super) fn new(endpoint: &Endpoint, config: &RemoteConfig) -> Result<Fetcher> {
        let tls = match (config.ca_file(), endpoint.uri.scheme_str()) {
            // The CA file's certificates in addition to the system's (CLI.md: `--ca-file`
            // gives extra CA certificates).
            (Some(path), _) => {
                let mut roots = system_roots().clone();
                roots.extend(ca_file_roots(path)?.roots);
                with_roots(roots)
            }
            (None, Some("https")) => system_config().clone(),
            // Plain http to loopback: no certificate is ever checked.
            (None, _) => with_roots(RootCertStore::empty()),
        }
        .map_err(|reason| {
            Error::new(
                ErrorKind::JwksUnavailable,
                format!(
                    "JWKS {}: {reason}; install the system's CA certificates (the \
                         ca-certificates package) or give a CA file",
                    endpoint.shown
                ),
            )
        })?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.timeout()));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // Fetches are minutes apart: no idle connection is kept.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(https);
        Ok(Fetcher { client })
    }

    /// Fetches the set once, within `config`'s timeout and body limit.
    ///
    /// # Errors
    ///
    /// `jwks_unavailable` naming the URL, what failed and what to do.
    pub(super) async fn fetch(
        &self,
        endpoint: &Endpoint,
        config: &RemoteConfig,
    ) -> Result<Fetched> {
        let timeout = config.timeout();
        match tokio::time::timeout(timeout, self.exchange(endpoint, config)).await {
            Ok(result) => result,
            Err(_) => Err(unavailable(
                endpoint,
                format!(
                    "did not answer within {}; check that the issuer is up and reachable, or \
                     allow a longer timeout",
                    show_duration(timeout)
                ),
            )),
        }
    }

    async fn exchange(&self, endpoint: &Endpoint, config: &RemoteConfig) -> Result<Fetched> {
        let request = Request::get(endpoint.uri.clone())
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .header(USER_AGENT, concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| Error::usage(format!("JWKS {}: bad request ({e})", endpoint.shown)))?;
        let response = self.client.request(request).await.map_err(|e| {
            let cause = causes(&e);
            let hint = if cause.contains("certificate") {
                "if the issuer's certificate comes from a private CA, give that CA's file"
            } else {
                "check the URL, the network, and that the issuer is up"
            };
            unavailable(endpoint, format!("unreachable ({cause}); {hint}")).with_source(e)
        })?;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
        };
        if status.is_redirection() {
            let location = header(LOCATION).first().copied();
            return Err(unavailable(
                endpoint,
                format!(
                    "answered {} redirecting to host {}; redirects are not followed: give the \
                     final URL of the key set",
                    show(status),
                    endpoint.location_host(location)
                ),
            )
            .with_context("status", status.as_u16()));
        }
        if status != StatusCode::OK {
            return Err(unavailable(
                endpoint,
                format!(
                    "answered {}, not 200 OK; check the URL and the issuer",
                    show(status)
                ),
            )
            .with_context("status", status.as_u16()));
        }
        let limit = config.max_body();
        let too_large = |size: String| {
            unavailable(
                endpoint,
                format!(
                    "the response is larger than the {limit}-byte limit ({size}); check the URL, \
                     or raise the limit if the key set is really that large"
                ),
            )
        };
        let declared = header(CONTENT_LENGTH)
            .first()
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(length) = declared
            && length > limit as u64
        {
            return Err(too_large(format!("Content-Length {length}")));
        }
        let ttl = config.cache_time(header(CACHE_CONTROL), header(AGE).first().copied());
        let mut body = response.into_body();
        let mut bytes = Vec::with_capacity(declared.map_or(0, |l| l as usize));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                unavailable(
                    endpoint,
                    format!(
                        "the response broke off ({}); try again, or check the issuer",
                        causes(&e)
                    ),
                )
                .with_source(e)
            })?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > limit {
                    // Reading stops here; dropping the body closes the connection.
                    return Err(too_large("streamed without a length".to_owned()));
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(Fetched { body: bytes, ttl })
    }
}

/// A `jwks_unavailable` error naming the URL.
pub(super) fn unavailable(endpoint: &Endpoint, what: String) -> Error {
    Error::new(
        ErrorKind::JwksUnavailable,
        format!("JWKS {} {what}", endpoint.shown),
    )
    .with_context("url", endpoint.shown.clone())
}

/// `5s`, `1m30s`, or `300ms` when there is a fraction of a second.
fn show_duration(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format_duration(duration)
    } else {
        format!("{}ms", duration.as_millis())
    }
}

fn show(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// An error and its causes, each once: `client error (Connect): tcp connect error: …`.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// A TLS configuration trusting `roots`, with the aws-lc-rs provider.
fn with_roots(roots: RootCertStore) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed ({e})"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The system's root certificates, read once per process (none on a system without them).
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(found.certs);
        roots
    })
}

/// The TLS configuration with the system's roots, built once per process.
fn system_config() -> &'static Result<ClientConfig, String> {
    static CONFIG: OnceLock<Result<ClientConfig, String>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let roots = system_roots();
        if roots.is_empty() {
            return Err("no system root certificate found".to_owned());
        }
        with_roots(roots.clone())
    })
}

/// The certificates of a PEM file.
fn ca_file_roots(path: &Path) -> Result<RootCertStore> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::io(format!("cannot read CA file {}: {e}", path.display())).with_source(e)
    })?;
    let wrong = |what: String| {
        Error::usage(format!(
            "CA file {}: {what}; give a PEM file of CERTIFICATE blocks",
            path.display()
        ))
    };
    let blocks = pem::parse_many(&bytes).map_err(|e| wrong(format!("unreadable PEM ({e})")))?;
    let mut roots = RootCertStore::empty();
    for block in blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE") {
        roots
            .add(CertificateDer::from(block.into_contents()))
            .map_err(|e| wrong(format!("a certificate cannot be used ({e})")))?;
    }
    if roots.is_empty() {
        return Err(wrong("no CERTIFICATE block".to_owned()));
    }
    Ok(roots)
}
