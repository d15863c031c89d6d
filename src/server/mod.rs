//! The HTTP service behind `tollgate serve` (feature `server`), for programs in any language.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /.well-known/jwks.json` | the JWK Set, `Cache-Control: public, max-age=300` ([`jwks`](self#rotation-and-the-jwks-cache)) |
//! | `POST /introspect` | RFC 7662 introspection; caller credentials required |
//! | `POST /revoke` | RFC 7009 revocation; caller credentials required |
//! | `GET /healthz` | 200 when the keyring is loaded and the store answers, else 503 |
//! | `GET /metrics` | Prometheus text: verifications by result, introspections, revocations, session events, refresh-token reuse detections, store errors, latency, keyring generation |
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
mod oauth;
mod origin;
mod reload;
mod revoke;
mod session;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ::axum::Router;
use ::axum::extract::{DefaultBodyLimit, FromRef};
use ::axum::middleware::from_fn_with_state;
use ::axum::routing::{get, post};
use tokio::net::TcpListener;

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
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// The defaults: no callers, JWKS `max-age` 300 s, keyring polled every second, request
    /// bodies up to 64 KiB, no trusted cross-origin origins.
    pub fn new() -> Self {
        Config {
            clients: Clients::new(),
            clients_file: None,
            jwks_max_age: Duration::from_secs(300),
            reload_interval: Duration::from_secs(1),
            body_limit: 64 * 1024,
            trusted_origins: Vec::new(),
            demo: false,
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

/// The service's routes, ready to serve.
///
/// Route files plug in here: each exposes `fn routes() -> Router<App>` and is merged below,
/// inside the metrics, CSRF and body-limit layers.
pub fn router(app: App) -> Router {
    let routes: Router<App> = Router::new()
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/introspect", post(introspect::introspect))
        .route("/revoke", post(revoke::revoke))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .merge(session::routes());
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

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets requests
/// in flight finish, and returns. Watches the keyring and credentials files meanwhile.
///
/// # Errors
///
/// The I/O error of the listener, if any.
pub async fn serve<F>(listener: TcpListener, app: App, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let watcher = reload::spawn(app.clone());
    let result = ::axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await;
    watcher.abort();
    result
}
