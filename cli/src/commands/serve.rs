//! `tollgate serve`: the HTTP service over the same keyring and store as the other commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use tollgate::server::{App, Clients, Config};
use tollgate::{Error, Result, parse_duration};

use crate::context::Context;
use crate::output::{self, Output};

/// Serve JWKS, RFC 7662 introspection, RFC 7009 revocation, /healthz and /metrics over HTTP.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate clients add billing-api        # prints the caller's secret once
  tollgate serve --listen 127.0.0.1:8080
  curl -u billing-api:$SECRET -d token=$TOKEN http://127.0.0.1:8080/introspect

Routes: GET /.well-known/jwks.json, POST /introspect, POST /revoke (both need caller
credentials, HTTP Basic), GET /healthz, GET /metrics. Without caller credentials the
service starts, and /introspect and /revoke refuse every caller (401).
The keyring and the credentials file are re-read when they change. SIGTERM or Ctrl-C
stops accepting, lets requests in flight finish (at most --drain-timeout), and exits 0.
Logs go to stderr; set TOLLGATE_LOG (e.g. debug, or tollgate=debug) to change the level.")]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed on stderr).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Caller credentials file (client_id:sha256 lines, written by `tollgate clients add`).
    #[arg(
        long,
        value_name = "FILE",
        env = "TOLLGATE_CLIENTS",
        default_value = "./tollgate.clients"
    )]
    clients: PathBuf,
    /// How long verifiers may cache the JWK Set (Cache-Control max-age). Stage keys with
    /// `keys rotate --stage` at least this long before they sign.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    jwks_max_age: String,
    /// On SIGTERM, how long requests in flight may take to finish before the process exits.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    drain_timeout: String,
    /// An origin whose cross-origin browser requests pass the CSRF check (repeatable), such
    /// as `https://app.example.com`.
    #[arg(long = "trusted-origin", value_name = "ORIGIN")]
    trusted_origins: Vec<String>,
}

pub(crate) async fn run(ctx: &Context, args: ServeArgs) -> Result<Output> {
    let jwks_max_age = parse_duration(&args.jwks_max_age)?;
    let drain_timeout = parse_duration(&args.drain_timeout)?;
    let gate = Arc::new(ctx.gate(ctx.verify_options(), true).await?);
    let clients = Clients::load(&args.clients)?;
    let mut config = Config::new()
        .with_clients_file(&args.clients)
        .with_jwks_max_age(jwks_max_age);
    for origin in args.trusted_origins {
        config = config.with_trusted_origin(origin)?;
    }
    if clients.is_empty() {
        output::warn(&format!(
            "no caller credentials in {}: /introspect and /revoke refuse every caller (401); \
             create one with `tollgate clients add NAME` (read again while serving), \
             or point --clients / TOLLGATE_CLIENTS at a credentials file",
            args.clients.display()
        ));
    }
    let app = App::new(gate, config.with_clients(clients));
    // Signal handlers first: a SIGTERM that arrives right after the address is printed must
    // drain, not kill.
    let term = signal(SignalKind::terminate())
        .map_err(|e| Error::usage(format!("cannot handle SIGTERM: {e}")))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            Error::usage(format!(
                "cannot listen on {}: {e}; choose another --listen",
                args.listen
            ))
        })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::usage(format!("cannot read the bound address: {e}")))?;
    output::notice(&format!(
        "listening on http://{bound} (keys {}, store {})",
        ctx.args.keys.display(),
        app.gate().store().url()
    ));
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        wait_for_signal(term).await;
        output::notice("shutting down: no new connections; draining requests in flight");
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
        served = server => served.map_err(|e| Error::usage(format!("serving failed: {e}")))?,
        () = deadline => output::warn(&format!(
            "requests still in flight after --drain-timeout {}; exiting anyway",
            args.drain_timeout
        )),
    }
    output::notice("stopped");
    Ok(Output::Text(String::new()))
}

async fn wait_for_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
