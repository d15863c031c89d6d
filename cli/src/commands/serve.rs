//! `tollgate serve`: the HTTP service over the same keyring and store as the other commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use tollgate::gate::CacheConfig;
use tollgate::server::{App, Clients, Config};
use tollgate::session::DEFAULT_ACCESS_TTL;
use tollgate::{
    Algorithm, Error, Gate, Keyring, Result, Store, VerifyOptions, format_duration, parse_duration,
};

use crate::args::duration_help;
use crate::commands::lifetimes::Lifetimes;
use crate::context::Context;
use crate::output::{self, Output};

/// Serve JWKS, introspection, revocation, the session endpoints, /healthz and /metrics over
/// HTTP (and with --demo a demo page).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate serve --demo                   # then open http://127.0.0.1:8080/
  tollgate clients add billing-api        # prints the caller's secret once (introspect only)
  tollgate clients add web --allow introspect,revoke,login
  tollgate serve --listen 127.0.0.1:8080
  tollgate serve --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key --metrics-listen 127.0.0.1:9090
  curl -u billing-api:$SECRET -d token=$TOKEN http://127.0.0.1:8080/introspect
  curl -u web:$SECRET -d sub=alice -d remember_me=1 http://127.0.0.1:8080/session/login
  curl -d refresh_token=$REFRESH http://127.0.0.1:8080/session/refresh

Routes: GET /.well-known/jwks.json; POST /introspect, POST /revoke and POST /session/login
(caller credentials: HTTP Basic or client_id/client_secret in the body, and the caller's
permission for the route, else 400 unauthorized_client); POST /session/refresh, /session/logout,
/session/logout-all and GET /session/me (a token in the body, the bearer header or the
cookies); GET /healthz, GET /metrics. Without caller credentials the service starts, and
the trusted routes refuse every caller (401). /introspect and /revoke take access and
refresh tokens.
--demo adds a demo page at / whose sign-in needs no password (anyone can sign in as
anyone: for your own machine only). It listens on loopback only, signs with one EdDSA key
generated in memory (never written to disk) and keeps sessions in the memory: store, so
--keys, --store, --issuer, --audience and their TOLLGATE_* variables are ignored and
nothing it issues verifies anywhere else; its access tokens carry aud tollgate-demo and
live 30s by default so that automatic refreshes show. Browsers keep the Secure cookies
over https and on http://127.0.0.1 or localhost only.
Network: hyper's HTTP/1.1 server with --header-timeout, --idle-timeout,
--request-timeout (408), --body-timeout and --max-connections. /metrics is served on a
loopback --listen only; elsewhere it answers 404 and --metrics-listen ADDR serves it on
its own listener. --tls-cert and --tls-key serve HTTPS (rustls) and are re-read when
they change; without them a non-loopback --listen expects a TLS proxy in front.
The keyring and the credentials file are re-read when they change. Reloads fail closed:
while keyring.json or session.key cannot be read or parsed, every verification answers 503
(bad_key) and /healthz says why; run key commands as the keyring's owner (not via sudo as
root) to avoid it. A credentials file that cannot be read, or is group- or world-accessible,
means no callers (and at startup, exit 3). SIGTERM or Ctrl-C
stops accepting, lets requests in flight finish (at most --drain-timeout), and exits 0.
Logs go to stderr; set TOLLGATE_LOG (e.g. debug, or tollgate=debug) to change the level.
Lines any client can cause (caller refused, fail closed) are written at most once a second
with suppressed=N, the number held back; /metrics counts every request.
Cookies: __Host-tollgate-access and __Host-tollgate-refresh (Path=/, Secure, HttpOnly). A
request that carries a token two ways (two Authorization headers, a bearer header and the
access cookie, a cookie sent twice) or a malformed Bearer header is 400 invalid_request.
/introspect answers token_type Bearer for access tokens, refresh_token for refresh tokens.")]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed on stderr).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Caller credentials file (`client_id:sha256[:permissions]` lines, written by `tollgate
    /// clients add`; mode 0600, a group- or world-accessible one is refused).
    #[arg(
        long,
        value_name = "FILE",
        env = "TOLLGATE_CLIENTS",
        default_value = "./tollgate.clients"
    )]
    clients: PathBuf,
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5m",
        value_parser = parse_duration,
        help = duration_help!("How long verifiers may cache the JWK Set (Cache-Control max-age). \
            Stage keys with `keys rotate --stage` at least this long before they sign.")
    )]
    jwks_max_age: Duration,
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration,
        help = duration_help!("On SIGTERM, how long requests in flight may take to finish before \
            the process exits.")
    )]
    drain_timeout: Duration,
    /// An origin whose cross-origin browser requests pass the CSRF check (repeatable):
    /// `scheme://host[:port]` as a browser sends it, such as `https://app.example.com`; kept in
    /// lower case without a default port; a path, a user name or a `*.` wildcard is refused.
    #[arg(long = "trusted-origin", value_name = "ORIGIN")]
    trusted_origins: Vec<String>,
    /// Also accept the access tokens of another issuer (repeatable): `ISS=JWKS_URL`, such as
    /// `https://idp.example=https://idp.example/.well-known/jwks.json`. Its tokens must carry
    /// that `iss`, follow RFC 9068 (typ at+jwt; iss, exp, aud, sub, client_id, iat, jti) and
    /// name the audience (--audience or TOLLGATE_AUDIENCE, required with this flag). Its keys
    /// are fetched over https (http only on loopback; --ca-file for a private CA) and cached.
    #[arg(long = "trust-issuer", value_name = "ISS=JWKS_URL")]
    trust_issuers: Vec<String>,
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        value_parser = parse_duration,
        help = duration_help!("Verification answers from a local replica of the store's denylist, \
            kept current by the store's change feed; when the feed has been silent this long, \
            checks go to the store itself until the replica has caught up (/healthz and /metrics \
            show its state).")
    )]
    max_staleness: Duration,
    /// Verified-token cache: at most this many tokens (0 turns it off). A token seen before
    /// skips its signature; its expiry and revocations are still checked on every request.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    cache_entries: usize,
    /// Verified-token cache: at most about this many MiB (0 turns it off).
    #[arg(long, value_name = "MIB", default_value_t = 16)]
    cache_mib: usize,
    /// Serve the demo page at / with a password-less sign-in (DEMO: anyone can sign in as any
    /// user). Loopback --listen only; an in-memory keyring (one fresh EdDSA key, never written
    /// to disk) and the memory: store, whatever --keys and --store say; access tokens with
    /// aud "tollgate-demo", 30s unless --access-ttl is given.
    #[arg(long, conflicts_with = "trust_issuers")]
    demo: bool,
    #[command(flatten)]
    lifetimes: Lifetimes,
    #[command(flatten)]
    net: NetArgs,
}

/// The smallest `--max-staleness`: durations are whole seconds, and a second is twenty times
/// the replica feed's 50 ms poll/heartbeat interval.
const MIN_STALENESS: Duration = Duration::from_secs(1);

/// How long `serve` waits at startup for the replica's first load of the denylist.
const REPLICA_WAIT: Duration = Duration::from_secs(5);

/// The access-token lifetime of `serve --demo`: short, so that automatic refreshes show.
const DEMO_ACCESS_TTL: Duration = Duration::from_secs(30);

pub(crate) async fn run(ctx: &Context, args: ServeArgs) -> Result<Output> {
    let jwks_max_age = args.jwks_max_age;
    if args.max_staleness < MIN_STALENESS {
        return Err(Error::usage(format!(
            "--max-staleness {} is too short: give at least {} (the replica's feed beats every \
             50ms; the bound is how long it may stay silent)",
            format_duration(args.max_staleness),
            format_duration(MIN_STALENESS)
        )));
    }
    let drain_timeout = args.drain_timeout;
    if args.demo {
        demo_listen(args.listen)?;
    }
    // Origins first: a value that could never match is a usage error before anything opens.
    let mut config = Config::new();
    for origin in &args.trusted_origins {
        config = config.with_trusted_origin(origin)?;
    }
    if ctx.args.now.is_some() {
        return Err(Error::usage(
            "--now does not apply to serve: a server answers on the real clock (a frozen one \
             would never let a token expire); drop --now",
        ));
    }
    if config.trusted_origins() != args.trusted_origins.as_slice() {
        output::notice(&format!(
            "trusted origins, as browsers send them: {}",
            config.trusted_origins().join(", ")
        ));
    }
    // Limits and TLS next: a bad value or an unusable certificate stops here.
    config = args.net.apply(config)?;
    let sessions = args.lifetimes.config(if args.demo {
        DEMO_ACCESS_TTL
    } else {
        DEFAULT_ACCESS_TTL
    });
    let gate = if args.demo {
        demo_gate(ctx).await?
    } else {
        let issuers = trusted_issuers(ctx, &args.trust_issuers)?;
        let mut options = ctx.options(Vec::new(), None);
        if !issuers.is_empty() {
            if options.audiences().is_empty() {
                return Err(Error::usage(
                    "--trust-issuer needs an audience: give this service's with --audience or \
                     TOLLGATE_AUDIENCE (without one, the issuer's ID tokens and its tokens for \
                     other services would pass, RFC 8725 §3.9)",
                ));
            }
            options = options.with_profile(tollgate::validate::Profile::Rfc9068);
        }
        let mut gate = ctx
            .serving_gate(options, args.max_staleness, REPLICA_WAIT)
            .await?;
        for issuer in issuers {
            gate = gate.with_remote_issuer(issuer)?;
        }
        gate
    };
    let gate = Arc::new(
        gate.with_session_config(sessions).with_cache(
            CacheConfig::new()
                .with_max_entries(args.cache_entries)
                .with_max_bytes(args.cache_mib.saturating_mul(1 << 20)),
        ),
    );
    let clients = Clients::load(&args.clients)?;
    let config = config
        .with_clients_file(&args.clients)
        .with_jwks_max_age(jwks_max_age)
        .with_demo(args.demo);
    if clients.is_empty() {
        output::warn(&format!(
            "no caller credentials in {}: /introspect, /revoke and /session/login refuse every caller (401); \
             create one with `tollgate clients add NAME` (read again while serving), \
             or point --clients / TOLLGATE_CLIENTS at a credentials file",
            args.clients.display()
        ));
    }
    let app = App::new(gate, config.with_clients(clients));
    // Signal handlers first: a SIGTERM that arrives right after the address is printed must
    // drain, not kill.
    let term = signal(SignalKind::terminate())
        .map_err(|e| Error::io(format!("cannot handle SIGTERM: {e}")))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            Error::io(format!(
                "cannot listen on {}: {e}; choose another --listen",
                args.listen
            ))
        })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io(format!("cannot read the bound address: {e}")))?;
    if args.demo {
        output::warn(&format!(
            "DEMO MODE: the page at http://{bound}/ signs anyone in as any user without a \
             password (access tokens live {}); for trying tollgate on your own machine only, \
             never expose it",
            format_duration(app.gate().session_config().access_ttl())
        ));
    }
    let metrics_listener = args.net.bind_metrics(bound).await?;
    let scheme = if app.config().is_tls() {
        "https"
    } else {
        "http"
    };
    output::notice(&format!(
        "listening on {scheme}://{bound} (keys {}, store {})",
        app.gate().keyring().map_or_else(
            |_| ctx.args.keys.display().to_string(),
            |k| k.dir().display().to_string()
        ),
        app.gate().store().url()
    ));
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let (stopped_tx, stopped_rx) = tokio::sync::watch::channel(false);
    if let Some(listener) = metrics_listener {
        let mut stopped = stopped_rx.clone();
        let metrics = tollgate::server::serve_metrics(listener, app.clone(), async move {
            let _ = stopped.wait_for(|stopped| *stopped).await;
        });
        tokio::spawn(async move {
            if let Err(e) = metrics.await {
                output::warn(&format!("the metrics listener failed: {e}"));
            }
        });
    }
    let shutdown = async move {
        wait_for_signal(term).await;
        output::notice("shutting down: no new connections; draining requests in flight");
        let _ = stopped_tx.send(true);
        let _ = stopping_tx.send(());
    };
    let server = tollgate::server::serve(listener, app, shutdown);
    let deadline = async move {
        match stopping_rx.await {
            Ok(()) => tokio::time::sleep(drain_timeout).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        served = server => served.map_err(|e| Error::io(format!("serving failed: {e}")))?,
        () = deadline => output::warn(&format!(
            "requests still in flight after --drain-timeout {}; exiting anyway",
            format_duration(drain_timeout)
        )),
    }
    output::notice("stopped");
    Ok(Output::Text(String::new()))
}

// ---- serve --demo (serve-http) ----

/// The audience of the demo's access tokens, which the demo's gate requires.
const DEMO_AUDIENCE: &str = "tollgate-demo";

/// `serve --demo` listens on loopback only: its sign-in needs no password.
fn demo_listen(listen: SocketAddr) -> Result<()> {
    if listen.ip().is_loopback() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "--demo refuses --listen {listen}: that address can be reachable from other machines, \
         and the demo signs anyone in as any user without a password; listen on loopback \
         (--listen 127.0.0.1:{port} or [::1]:{port}) and reach it from another machine \
         through an SSH tunnel (ssh -L {port}:127.0.0.1:{port} HOST)",
        port = listen.port()
    )))
}

/// The demo's gate: one fresh EdDSA key in memory (never written to disk), the `memory:`
/// store, and access tokens for [`DEMO_AUDIENCE`] only. The keyring, store, issuer and
/// audience options are ignored, and the notice says so when they were given.
async fn demo_gate(ctx: &Context) -> Result<Gate> {
    let keyring = Keyring::generate_in_memory(Algorithm::EdDSA, &ctx.clock)?;
    let kid = keyring.active().map(|e| e.kid.clone()).unwrap_or_default();
    output::notice(&format!(
        "demo: one EdDSA key, kid {kid}, generated in memory and never written to disk; \
         sessions in the memory: store; access tokens for aud \"{DEMO_AUDIENCE}\" only: \
         nothing the demo issues verifies anywhere else or outlives the process"
    ));
    let env = |name: &str| std::env::var_os(name).is_some();
    let mut ignored = Vec::new();
    if env("TOLLGATE_KEYS") || ctx.args.keys != std::path::Path::new("./keys") {
        ignored.push(format!(
            "the keyring {} (--keys, TOLLGATE_KEYS)",
            ctx.args.keys.display()
        ));
    }
    // The URL is not shown: it may carry a password.
    if ctx.args.store.is_some() {
        ignored.push("the store (--store, TOLLGATE_STORE)".to_owned());
    }
    if ctx.args.issuer.is_some() {
        ignored.push("--issuer (TOLLGATE_ISSUER)".to_owned());
    }
    if ctx.args.audience.is_some() {
        ignored.push("--audience (TOLLGATE_AUDIENCE)".to_owned());
    }
    if !ignored.is_empty() {
        output::notice(&format!(
            "demo: ignoring {}: --demo never signs with a real keyring or writes to a real store",
            ignored.join(", ")
        ));
    }
    Ok(Gate::new(Store::open("memory:").await?)
        .with_clock(ctx.clock)
        .with_options(VerifyOptions::new().with_audience(DEMO_AUDIENCE))
        .with_keyring(keyring))
}

// ---- end of serve --demo ----

async fn wait_for_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The `--trust-issuer ISS=JWKS_URL` values, checked before anything opens.
fn trusted_issuers(ctx: &Context, values: &[String]) -> Result<Vec<tollgate::keys::RemoteJwks>> {
    values
        .iter()
        .map(|value| {
            let (iss, url) = value
                .split_once('=')
                .filter(|(iss, url)| !iss.is_empty() && !url.is_empty())
                .ok_or_else(|| {
                    Error::usage(format!(
                        "--trust-issuer {value:?} is not ISS=JWKS_URL, such as \
                         https://idp.example=https://idp.example/.well-known/jwks.json"
                    ))
                })?;
            ctx.remote_jwks(url, Some(iss.to_string()))
        })
        .collect()
}

// --- Network limits, TLS and the metrics listener (issue 11) ---

/// `serve`'s connection limits, TLS and metrics listener.
#[derive(Debug, Args)]
struct NetArgs {
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        value_parser = parse_duration,
        help = duration_help!("How long a client may take to send a request's line and headers \
            (and to finish the TLS handshake); past it the connection is closed. Also closes a \
            keep-alive connection that waits that long for its next request.")
    )]
    header_timeout: Duration,
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        value_parser = parse_duration,
        help = duration_help!("A connection with no byte read or written for this long is closed \
            (idle keep-alive connections, clients that stop reading). Keep it above \
            --request-timeout.")
    )]
    idle_timeout: Duration,
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration,
        help = duration_help!("How long one request may take, body included, before it is answered \
            408 Request Timeout.")
    )]
    request_timeout: Duration,
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration,
        help = duration_help!("How long receiving a request body may take in all; past it the \
            request fails (400 invalid_request, or 408 when --request-timeout comes first).")
    )]
    body_timeout: Duration,
    /// How many connections are served at once; beyond it new connections wait in the
    /// kernel's listen backlog until one closes, while open ones keep being served.
    #[arg(long, value_name = "N", default_value = "4096", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Serve /metrics on this address too, and only there when --listen is not loopback (a
    /// non-loopback --listen does not serve /metrics: it answers 404). Plain HTTP.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key. Re-read
    /// when it changes (checked every second); a bad new pair keeps the previous one. Without
    /// TLS, a non-loopback --listen expects a TLS-terminating proxy in front.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert; needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl NetArgs {
    /// The limits and TLS on `config`; zero timeouts are usage errors, unusable TLS files
    /// environment errors (exit 3).
    fn apply(&self, config: Config) -> Result<Config> {
        for (flag, value) in [
            ("--header-timeout", self.header_timeout),
            ("--idle-timeout", self.idle_timeout),
            ("--request-timeout", self.request_timeout),
            ("--body-timeout", self.body_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::usage(format!(
                    "{flag} 0 would refuse every request; give a duration such as 10s"
                )));
            }
        }
        if self.idle_timeout < self.request_timeout {
            output::warn(&format!(
                "--idle-timeout {} is shorter than --request-timeout {}: a request still being \
                 handled after {} loses its connection; raise --idle-timeout",
                format_duration(self.idle_timeout),
                format_duration(self.request_timeout),
                format_duration(self.idle_timeout)
            ));
        }
        let config = config
            .with_header_timeout(self.header_timeout)
            .with_idle_timeout(self.idle_timeout)
            .with_request_timeout(self.request_timeout)
            .with_body_timeout(self.body_timeout)
            .with_max_connections(self.max_connections as usize);
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => config.with_tls(cert, key),
            (None, None) => Ok(config),
            // clap's `requires` refuses these first.
            _ => Err(Error::usage(
                "--tls-cert and --tls-key go together: give both or neither",
            )),
        }
    }

    /// Binds --metrics-listen, and says where /metrics is and whether TLS is expected in
    /// front of the main listener bound at `main`.
    async fn bind_metrics(&self, main: SocketAddr) -> Result<Option<tokio::net::TcpListener>> {
        if !main.ip().is_loopback() && self.tls_cert.is_none() {
            output::notice(&format!(
                "{main} is not a loopback address and serves plain http: put a TLS-terminating \
                 proxy in front of it, or give --tls-cert and --tls-key"
            ));
        }
        let Some(addr) = self.metrics_listen else {
            if !main.ip().is_loopback() {
                output::notice(&format!(
                    "/metrics is not served on {main} (not a loopback address; it answers 404): \
                     give --metrics-listen ADDR to serve it on a listener of its own"
                ));
            }
            return Ok(None);
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::io(format!(
                "cannot listen on {addr} for /metrics: {e}; choose another --metrics-listen"
            ))
        })?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::io(format!("cannot read the metrics address: {e}")))?;
        let also = if main.ip().is_loopback() {
            "also "
        } else {
            "only "
        };
        output::notice(&format!("metrics {also}on http://{bound}/metrics"));
        Ok(Some(listener))
    }
}
