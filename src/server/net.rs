//! The connection loop of `tollgate serve`: hyper's HTTP/1.1 server with its timer, so that the
//! service can face a network.
//!
//! | limit | built with | what happens |
//! | --- | --- | --- |
//! | header timeout | hyper `http1::Builder::header_read_timeout` ([`TokioTimer`]) | a request head not complete in time: the connection is closed (no answer) |
//! | idle timeout | [`tokio_io_timeout::TimeoutStream`] read and write timeouts | no byte read or written for that long: the connection is closed |
//! | request timeout | tower-http [`TimeoutLayer`](tower_http::timeout::TimeoutLayer) | the whole request (body and handler) not answered in time: `408` |
//! | body timeout | tower-http [`RequestBodyDeadlineLayer`](tower_http::timeout::RequestBodyDeadlineLayer) | the request body not received in time: the body read fails, `400 invalid_request` |
//! | max connections | a [`Semaphore`] permit per connection, taken *before* `accept` | beyond it new connections wait in the kernel's backlog; open ones are served |
//!
//! hyper starts its header timer as soon as a connection waits for a request head, on a new
//! connection and between two requests of a keep-alive connection alike: an idle keep-alive
//! connection is therefore closed after the shorter of the idle and the header timeouts. With
//! TLS the handshake must also finish within the header timeout.
//!
//! Shutdown: the listener stops accepting, every connection finishes the request it is
//! handling (hyper-util's [`GracefulShutdown`]) and idle ones close.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use ::axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tokio_rustls::TlsAcceptor;

/// The connection and request limits (see [`Config`](super::Config)'s `with_*_timeout` and
/// [`with_max_connections`](super::Config::with_max_connections)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) header_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// Serves `router` on `listener` with `limits` (and TLS when `tls` is given) until `shutdown`
/// completes, then drains the open connections.
pub(crate) async fn run<F>(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    let service = TowerToHyperService::new(router);
    loop {
        // The permit comes first: beyond the cap, connections are left in the kernel's
        // backlog, where they cost this process nothing.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning (as hyper's
                // and axum's servers do).
                tracing::error!(error = %e, "accept failed; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let service = service.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let io = idle_limited(stream, limits.idle_timeout);
            match tls {
                None => serve_connection(io, service, limits, watcher, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(io)).await {
                        Ok(Ok(io)) => serve_connection(io, service, limits, watcher, peer).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake not done within the header timeout")
                        }
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The stream with read and write inactivity timeouts of `idle`.
fn idle_limited(stream: TcpStream, idle: Duration) -> std::pin::Pin<Box<TimeoutStream<TcpStream>>> {
    let mut io = TimeoutStream::new(stream);
    io.set_read_timeout(Some(idle));
    io.set_write_timeout(Some(idle));
    Box::pin(io)
}

async fn serve_connection<I>(
    io: I,
    service: TowerToHyperService<Router>,
    limits: Limits,
    watcher: Watcher,
    peer: SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(connection).await {
        // Timeouts, resets and malformed requests: the peer's doing, not the service's.
        tracing::debug!(%peer, error = %e, "connection closed");
    }
}

/// Errors of one connection that `accept` reports and that do not concern the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
