//! The HTTP service behind `tollgate serve` (feature `server`), for programs in any language.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /.well-known/jwks.json` | the JWK Set, `Cache-Control: public, max-age=300` ([`jwks`](self#rotation-and-the-jwks-cache)) |
//! | `POST /introspect` | RFC 7662 introspection; caller credentials required |
//! | `POST /revoke` | RFC 7009 revocation; caller credentials required |
//! | `GET /healthz` | 200 when the keyring is loaded and the store answers, else 503 |
//! | `GET /metrics` | on a loopback listener only (else on [`serve_metrics`]'s own listener): Prometheus text: verifications by result, introspections, revocations, session events, refresh-token reuse detections, store errors, latency, keyring generation |
//! | `POST /session/login` | starts a session for a trusted backend (caller credentials required) |
//! | `POST /session/refresh`, `/session/logout`, `/session/logout-all`, `GET /session/me` | the session's life, from a browser (cookies) or a backend (see [Sessions](self#sessions)) |
//! | `GET /`, `POST /demo/login` | the demo page, only with [`Config::with_demo`] |
//!
//! Callers of the trusted endpoints authenticate with HTTP Basic client credentials or
//! `client_secret_post` checked against [`Clients`] (hashes only; see [`clients`] for why
//! SHA-256 suffices), and need the endpoint's [`Permission`]. With no callers configured
//! those endpoints answer 401 to everyone. Malformed bodies are 400
//! `invalid_request`, never 422; a store that cannot be reached is 503, never an answer. Unsafe
//! cross-origin browser requests are refused (403) by tower-http's `CsrfLayer`.
//!
//! The keyring and the credentials file are re-read when they change (polled every second), so
//! `tollgate keys rotate` and `tollgate clients add` take effect without a restart. Reloads
//! fail closed: while the keyring cannot be read, nothing verifies (503, `bad_key`), and while
//! the credentials file cannot be read, no caller is accepted.
//!
//! # Sessions
//!
//! `POST /session/login` takes `sub`, `remember_me`, `claims` (a JSON object), `user_agent`,
//! `ip` and `cookies` (form or JSON) from a caller authenticated like those of `/introspect`,
//! and answers with the token pair (`{"access_token", "refresh_token", "token_type",
//! "expires_in", "refresh_expires_in", "session_id", "remember_me"}`); with `cookies=1` it also
//! sets the `__Host-` access and refresh cookies (the refresh cookie persistent only for
//! remember-me), for the backend to pass on to its browser.
//! `POST /session/refresh` rotates the refresh token of the body (`refresh_token=`) or of the
//! refresh cookie; from the cookie it answers with new cookies and no tokens in the body. A
//! reused refresh token is 401 `reused_refresh_token`, revokes the session, clears the cookies
//! and is counted in `/metrics`. `POST /session/logout` ends the session of an access or
//! refresh token; `POST /session/logout-all` ends every session of the token's user. `GET
//! /session/me` answers the verified claims and the signing `kid` of the request's access
//! token. `/introspect` and `/revoke` take refresh tokens too (recognised by their `tgr1.`
//! prefix; `token_type_hint` is not needed).
//!
//! # Rotation and the JWKS cache
//!
//! The JWK Set may be cached for `max-age` seconds (300 by default): stage a key with
//! `tollgate keys rotate --stage` at least that long before the `tollgate keys rotate` that
//! makes it sign, so that every verifier has fetched it first.
//!
//! # Examples
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tollgate::server::{App, Clients, Config};
//! use tollgate::{Gate, Keyring, Store};
//!
//! let gate = Gate::new(Store::open("sqlite:./tollgate.db").await?).with_keyring(Keyring::open("./keys")?);
//! let config = Config::new().with_clients(Clients::load("./tollgate.clients".as_ref())?);
//! let app = App::new(Arc::new(gate), config);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! tollgate::server::serve(listener, app, std::future::pending()).await?;
//! # Ok(()) }
//! ```

mod body;
mod caller;
pub mod clients;
mod demo;
mod health;
mod introspect;
mod jwks;
mod metrics;
mod net;
mod oauth;
mod origin;
mod reload;
mod revoke;
mod session;
mod tls;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ::axum::Router;
use ::axum::extract::State;
use ::axum::extract::{DefaultBodyLimit, FromRef};
use ::axum::http::{StatusCode, header};
use ::axum::middleware::from_fn_with_state;
use ::axum::middleware::map_response_with_state;
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};

pub use caller::Caller;
pub use clients::{
    Clients, Permission, Permissions, generate_secret, hash_secret, validate_client_id,
};
pub use metrics::{Metrics, SessionEvent};
pub use oauth::{OAuthForm, TokenRequest};

use crate::axum::Csrf;
use crate::error::{Error, Result};
use crate::gate::Gate;

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    clients: Clients,
    clients_file: Option<PathBuf>,
    jwks_max_age: Duration,
    reload_interval: Duration,
    body_limit: usize,
    trusted_origins: Vec<String>,
    demo: bool,
    // Network limits and TLS (issue 11; src/server/net.rs, tls.rs).
    limits: net::Limits,
    tls: Option<Arc<tls::Tls>>,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// The defaults: no callers, JWKS `max-age` 300 s, keyring polled every second, request
    /// bodies up to 64 KiB, no trusted cross-origin origins; header timeout 10 s, idle timeout
    /// 60 s, request and body timeouts 30 s, at most 4096 connections, no TLS.
    pub fn new() -> Self {
        Config {
            clients: Clients::new(),
            clients_file: None,
            jwks_max_age: Duration::from_secs(300),
            reload_interval: Duration::from_secs(1),
            body_limit: 64 * 1024,
            trusted_origins: Vec::new(),
            demo: false,
            limits: net::Limits::default(),
            tls: None,
        }
    }

    /// The callers allowed on the trusted endpoints.
    pub fn with_clients(mut self, clients: Clients) -> Self {
        self.clients = clients;
        self
    }

    /// The file the callers came from: re-read when it changes.
    pub fn with_clients_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.clients_file = Some(path.into());
        self
    }

    /// How long verifiers may cache the JWK Set. Defaults to 300 seconds; stage keys at least
    /// this long before they sign.
    pub fn with_jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// How often the keyring and credentials files are checked for changes. Defaults to 1 second.
    pub fn with_reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The largest request body accepted. Defaults to 64 KiB (tokens are at most 16 KiB).
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// An origin (`https://app.example.com`) whose cross-origin requests the CSRF check lets
    /// through.
    ///
    /// It is kept as a browser sends it in `Origin`, the only form that matches: scheme and
    /// host in lower case, the port only when it is not the scheme's default
    /// (`HTTPS://App.Example.com:443` is kept as `https://app.example.com`; see
    /// [`trusted_origins`](Config::trusted_origins)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage), naming the value, for anything a browser
    /// never sends and that could therefore never match: no scheme (a bare host), a scheme
    /// other than http or https, a user name, a path (even `/`), a query, a `*.` wildcard.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate::server::Config;
    /// let config = Config::new().with_trusted_origin("HTTPS://App.Example.com:443").unwrap();
    /// assert_eq!(config.trusted_origins(), ["https://app.example.com"]);
    /// assert!(Config::new().with_trusted_origin("https://*.example.com").is_err());
    /// assert!(Config::new().with_trusted_origin("app.example.com").is_err());
    /// ```
    pub fn with_trusted_origin(mut self, origin: impl AsRef<str>) -> Result<Self> {
        let origin = origin::normalize(origin.as_ref())?;
        let _checked = crate::axum::csrf()
            .add_trusted_origin(&origin)
            .map_err(|e| Error::usage(format!("trusted origin {origin}: {e}")))?;
        if !self.trusted_origins.contains(&origin) {
            self.trusted_origins.push(origin);
        }
        Ok(self)
    }

    /// The trusted origins, as [`with_trusted_origin`](Config::with_trusted_origin) kept them.
    pub fn trusted_origins(&self) -> &[String] {
        &self.trusted_origins
    }

    /// Serves the demo page at `/` and its password-less login at `POST /demo/login` (anyone
    /// can sign in as anyone). Off by default; for trying tollgate on your own machine only.
    /// Give it a gate that nothing else trusts, as `tollgate serve --demo` does: a loopback
    /// listener, [`Keyring::generate_in_memory`](crate::Keyring::generate_in_memory), the
    /// `memory:` store and an audience of its own (`tollgate-demo`).
    pub fn with_demo(mut self, demo: bool) -> Self {
        self.demo = demo;
        self
    }

    /// Whether the demo page is served.
    pub fn is_demo(&self) -> bool {
        self.demo
    }

    // --- Network limits and TLS (issue 11) ---

    /// How long a client may take to send a request head (request line and headers) once the
    /// connection waits for one, and to finish a TLS handshake. Defaults to 10 seconds. Past
    /// it the connection is closed without an answer (hyper's `header_read_timeout`). hyper
    /// also runs this timer while a keep-alive connection waits for its next request.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::server::Config;
    /// let config = Config::new()
    ///     .with_header_timeout(Duration::from_secs(5))
    ///     .with_idle_timeout(Duration::from_secs(30))
    ///     .with_request_timeout(Duration::from_secs(10))
    ///     .with_body_timeout(Duration::from_secs(10))
    ///     .with_max_connections(1024);
    /// assert_eq!(config.header_timeout(), Duration::from_secs(5));
    /// assert_eq!(config.max_connections(), 1024);
    /// ```
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The header timeout.
    pub fn header_timeout(&self) -> Duration {
        self.limits.header_timeout
    }

    /// How long a connection may go without a byte read or written before it is closed: an
    /// idle keep-alive connection, or a client that stopped reading its answer. Defaults to
    /// 60 seconds. Keep it longer than the request timeout, or a slow handler's connection
    /// is closed first. An idle keep-alive connection is closed after the shorter of this and
    /// the [header timeout](Config::with_header_timeout).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.limits.idle_timeout
    }

    /// How long one request may take, from its head being read to its answer (reading the
    /// body included). Defaults to 30 seconds. Past it the answer is `408 Request Timeout`
    /// (tower-http's `TimeoutLayer`).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.limits.request_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.limits.request_timeout
    }

    /// How long receiving a request body may take in all. Defaults to 30 seconds. Past it the
    /// body read fails and the answer is 400 `invalid_request` (tower-http's
    /// `RequestBodyDeadlineLayer`), unless the request timeout answered 408 first.
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.limits.body_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The body timeout.
    pub fn body_timeout(&self) -> Duration {
        self.limits.body_timeout
    }

    /// How many connections are served at once (at least 1). Defaults to 4096. Beyond it new
    /// connections are not accepted: they wait in the kernel's listen backlog until one
    /// closes, while the open ones keep being served.
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max.max(1);
        self
    }

    /// The connection cap.
    pub fn max_connections(&self) -> usize {
        self.limits.max_connections
    }

    /// Serves HTTPS with the PEM certificate chain (leaf first) at `cert` and its private key
    /// at `key`, through rustls with the aws-lc-rs provider. The files are read now and
    /// again whenever they change while serving (see [`serve`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when a file cannot be read;
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when it holds no PEM certificate or
    /// private key, or the key does not belong to the certificate. Messages name the file,
    /// never its contents.
    pub fn with_tls(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self> {
        self.tls = Some(Arc::new(tls::Tls::load(cert.as_ref(), key.as_ref())?));
        Ok(self)
    }

    /// Whether the service answers over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    // --- end of network limits and TLS ---

    fn csrf(&self) -> Csrf {
        // Each origin was checked by `with_trusted_origin`.
        self.trusted_origins
            .iter()
            .fold(crate::axum::csrf(), |layer, origin| {
                layer.clone().add_trusted_origin(origin).unwrap_or(layer)
            })
    }
}

/// The service's state: the gate, the callers, the metrics and the settings. Cheap to clone.
///
/// Handlers take it with `State<App>`; the gate is also reachable as `Arc<Gate>` through [`FromRef`], so
/// [`Authenticated`](crate::axum::Authenticated) works on the service's routes.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    gate: Arc<Gate>,
    clients: RwLock<Arc<Clients>>,
    /// Set while the credentials file cannot be read (then there are no callers).
    callers_failing: std::sync::atomic::AtomicBool,
    metrics: Metrics,
    config: Config,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl App {
    /// The service over `gate` with `config`.
    pub fn new(gate: Arc<Gate>, config: Config) -> Self {
        App {
            inner: Arc::new(Inner {
                gate,
                clients: RwLock::new(Arc::new(config.clients.clone())),
                callers_failing: std::sync::atomic::AtomicBool::new(false),
                metrics: Metrics::new(),
                config,
            }),
        }
    }

    /// The gate.
    pub fn gate(&self) -> &Arc<Gate> {
        &self.inner.gate
    }

    /// The callers currently allowed.
    pub fn clients(&self) -> Arc<Clients> {
        self.inner
            .clients
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the callers (the watcher does this when the file changes).
    pub fn set_clients(&self, clients: Clients) {
        *self
            .inner
            .clients
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(clients);
        self.inner
            .callers_failing
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Drops every caller because the credentials file cannot be read (fail closed: a caller
    /// just removed must not stay); `/healthz` reports `"callers":"unavailable"` until the
    /// next [`App::set_clients`].
    pub fn set_clients_failed(&self) {
        self.set_clients(Clients::new());
        self.inner
            .callers_failing
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the credentials file could not be read at the last check.
    pub fn callers_failing(&self) -> bool {
        self.inner
            .callers_failing
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}

impl FromRef<App> for Arc<Gate> {
    fn from_ref(app: &App) -> Arc<Gate> {
        app.inner.gate.clone()
    }
}

/// The service's routes, ready to serve, `/metrics` included (mount it where only trusted
/// clients reach it; [`serve`] leaves `/metrics` out on a listener that is not loopback).
///
/// Route files plug in here: each exposes `fn routes() -> Router<App>` and is merged below,
/// inside the metrics, CSRF and body-limit layers.
pub fn router(app: App) -> Router {
    routes(app, true)
}

fn routes(app: App, with_metrics: bool) -> Router {
    let routes: Router<App> = Router::new()
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/introspect", post(introspect::introspect))
        .route("/revoke", post(revoke::revoke))
        .route("/healthz", get(health::healthz))
        .merge(session::routes());
    let routes = if with_metrics {
        routes.route("/metrics", get(metrics::metrics))
    } else {
        routes
    };
    let routes = if app.config().is_demo() {
        routes.merge(demo::routes())
    } else {
        routes
    };
    routes
        .route_layer(from_fn_with_state(app.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(app.config().body_limit))
        .layer(app.config().csrf())
        .with_state(app)
}

/// Only `GET /metrics`, for a listener of its own ([`serve_metrics`]).
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .with_state(app)
}

/// The request limits of `config` around `router`: the request timeout (408) and the body
/// deadline.
fn limited(router: Router, config: &Config) -> Router {
    let limit = config.limits.request_timeout;
    router
        .layer(RequestBodyDeadlineLayer::new(config.limits.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limit,
        ))
        .layer(map_response_with_state(limit, timed_out))
}

/// The timeout layer's empty 408, in the one shape of every error answer.
async fn timed_out(State(limit): State<Duration>, response: Response) -> Response {
    if response.status() != StatusCode::REQUEST_TIMEOUT
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let mut answer = crate::axum::Rejection::invalid_request(format!(
        "the request was not completed within the request timeout ({}); send it at once, \
         or ask the operator about --request-timeout",
        crate::format_duration(limit)
    ))
    .into_response();
    *answer.status_mut() = StatusCode::REQUEST_TIMEOUT;
    answer
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets requests
/// in flight finish, and returns. Watches the keyring and credentials files meanwhile, and
/// the TLS certificate and key when [`Config::with_tls`] set them.
///
/// Connections are served by hyper's HTTP/1.1 server with the limits of [`Config`] (header,
/// idle, request and body timeouts, a connection cap). `/metrics` is served only when the
/// listener's address is loopback; otherwise give it a listener of its own with
/// [`serve_metrics`].
///
/// # Errors
///
/// The I/O error of the listener, if any.
pub async fn serve<F>(listener: TcpListener, app: App, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let with_metrics = listener.local_addr()?.ip().is_loopback();
    let watcher = reload::spawn(app.clone());
    let tls = app.config().tls.clone();
    let (acceptor, tls_watcher) = match &tls {
        Some(tls) => (
            Some(tls.acceptor().map_err(std::io::Error::other)?),
            Some(tls.spawn_reloader(app.config().reload_interval)),
        ),
        None => (None, None),
    };
    let limits = app.config().limits;
    let router = limited(routes(app.clone(), with_metrics), app.config());
    let result = net::run(listener, router, limits, acceptor, shutdown).await;
    watcher.abort();
    if let Some(handle) = tls_watcher {
        handle.abort();
    }
    result
}

/// Serves only `GET /metrics` of `app` on `listener` (plain HTTP, with the same connection
/// limits as [`serve`]) until `shutdown` completes: the metrics of a service whose main
/// listener is not loopback, on an address only the scraper reaches.
///
/// # Errors
///
/// The I/O error of the listener, if any.
pub async fn serve_metrics<F>(listener: TcpListener, app: App, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let limits = app.config().limits;
    let router = limited(metrics_router(app.clone()), app.config());
    net::run(listener, router, limits, None, shutdown).await
}
