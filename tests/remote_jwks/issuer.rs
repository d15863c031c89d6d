//! A test issuer: a keyring, and an axum server on a free loopback port serving its JWK Set (or
//! a chosen misbehaviour), counting the requests it receives. Stopped on drop.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tollgate::{Algorithm, Clock, Keyring};

/// The path the set is served at.
pub(crate) const PATH: &str = "/.well-known/jwks.json";

/// What the server answers.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// The body, with the Cache-Control chosen.
    Serve,
    /// A 302 to this location.
    Redirect(&'static str),
    /// This status, with an empty body.
    Status(u16),
    /// A body of this many bytes, with its Content-Length.
    Large(usize),
    /// An endless chunked body, without Content-Length.
    Endless,
}

struct Shared {
    body: Mutex<String>,
    cache_control: Mutex<Option<String>>,
    mode: Mutex<Mode>,
    delay: Mutex<Duration>,
    hits: AtomicUsize,
}

/// A keyring in a temporary directory.
pub(crate) struct Issuer {
    pub(crate) keyring: Keyring,
    _dir: TempDir,
}

impl Issuer {
    /// A keyring with one active key of `alg`.
    pub(crate) fn new(alg: Algorithm) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut keyring = Keyring::init(dir.path().join("keys")).expect("init keyring");
        keyring
            .generate(alg, None, &Clock::system())
            .expect("generate");
        Issuer { keyring, _dir: dir }
    }

    /// The active key's kid.
    pub(crate) fn kid(&self) -> String {
        self.keyring.active().expect("active key").kid.clone()
    }

    /// Its JWK Set as served.
    pub(crate) fn jwks(&self) -> String {
        serde_json::to_string(&self.keyring.jwks()).expect("JWKS serializes")
    }
}

/// A running JWKS server.
pub(crate) struct JwksServer {
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    tls: bool,
}

impl JwksServer {
    /// Serves `body` over plain HTTP on 127.0.0.1, with `cache_control` when given.
    pub(crate) async fn start(body: String, cache_control: Option<&str>) -> Self {
        JwksServer::start_with(body, cache_control, None).await
    }

    /// Serves `body` over TLS with `acceptor`.
    pub(crate) async fn start_tls(body: String, acceptor: TlsAcceptor) -> Self {
        JwksServer::start_with(body, Some("max-age=300"), Some(acceptor)).await
    }

    async fn start_with(
        body: String,
        cache_control: Option<&str>,
        acceptor: Option<TlsAcceptor>,
    ) -> Self {
        let shared = Arc::new(Shared {
            body: Mutex::new(body),
            cache_control: Mutex::new(cache_control.map(str::to_owned)),
            mode: Mutex::new(Mode::Serve),
            delay: Mutex::new(Duration::ZERO),
            hits: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route(PATH, get(answer))
            .with_state(Arc::clone(&shared));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let tls = acceptor.is_some();
        let task = match acceptor {
            None => tokio::spawn(async move {
                axum::serve(listener, router).await.expect("serve");
            }),
            Some(acceptor) => tokio::spawn(async move {
                axum::serve(TlsListener { listener, acceptor }, router)
                    .await
                    .expect("serve");
            }),
        };
        JwksServer {
            addr,
            shared,
            task,
            tls,
        }
    }

    /// The set's URL, by IP address.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{PATH}", self.addr)
    }

    /// Requests received so far.
    pub(crate) fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Serves another body from now on.
    pub(crate) fn set_body(&self, body: String) {
        *self.shared.body.lock().unwrap() = body;
    }

    /// Answers this way from now on.
    pub(crate) fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Waits this long before each answer.
    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// Stops serving: the port then refuses connections.
    pub(crate) async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(shared): State<Arc<Shared>>) -> Response {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let delay = *shared.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mode = shared.mode.lock().unwrap().clone();
    match mode {
        Mode::Serve => {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            );
            if let Some(cc) = shared.cache_control.lock().unwrap().as_deref() {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(cc).unwrap());
            }
            let body = shared.body.lock().unwrap().clone();
            (headers, body).into_response()
        }
        Mode::Redirect(location) => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        Mode::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Mode::Large(size) => vec![b' '; size].into_response(),
        Mode::Endless => {
            let chunk = Bytes::from(vec![b' '; 16 * 1024]);
            let stream =
                futures_util::stream::iter(std::iter::repeat(chunk).map(Ok::<_, Infallible>));
            Body::from_stream(stream).into_response()
        }
    }
}

/// A TCP listener that completes a TLS handshake before handing a connection to axum;
/// handshakes that fail (a client that does not trust the certificate) are dropped.
struct TlsListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.listener.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A server that accepts connections and never answers; stopped on drop.
pub(crate) struct SilentServer {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SilentServer {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        SilentServer { addr, task }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
