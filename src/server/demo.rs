//! The demo page of `tollgate serve --demo`: one self-contained page (HTML, CSS and a script
//! compiled into the binary; no CDN, no build step) that shows a session's life.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /` | the page |
//! | `GET /demo.js`, `GET /demo.css` | its script and style |
//! | `POST /demo/login` | signs anyone in as any user, **without a password or caller credentials**: `sub`, `remember_me` |
//!
//! These routes exist only when [`Config::with_demo`](super::Config::with_demo) is on.
//! `tollgate serve --demo` runs them on loopback only, over a gate of its own that nothing
//! else trusts: an in-memory keyring with one fresh EdDSA key
//! ([`Keyring::generate_in_memory`](crate::Keyring::generate_in_memory), never written to
//! disk), the `memory:` store, and the audience `tollgate-demo`, which its access tokens carry
//! and its gate requires. Whatever `--keys` and `--store` say, a demo token never verifies
//! against a real keyring, and its sessions end with the process. The
//! demo login sets the session's cookies and answers with the pair *without* its tokens; the
//! page then uses the ordinary session endpoints: it polls `GET /session/me` every second,
//! refreshes through `POST /session/refresh` (the refresh cookie) once a third of the access
//! token's life is left, and logs out through `POST /session/logout` and
//! `/session/logout-all`. Its script never sees a token: both cookies are `HttpOnly`.
//!
//! The access cookie is `__Host-` and `Secure`: browsers keep it over https, and on
//! `http://localhost` and `http://127.0.0.1`, which they treat as secure contexts (checked in
//! headless Chromium by `tests/browser`). On another plain-http address the browser drops the
//! cookies and the page says why.

use ::axum::Router;
use ::axum::extract::State;
use ::axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{get, post};
use serde::Deserialize;

use super::App;
use super::body::{Body, flag};
use super::metrics::SessionEvent;
use super::session::{pair_json, set_cookies};
use crate::axum::Rejection;
use crate::axum::json_response;
use crate::session::LoginRequest;
use crate::store::Device;

const PAGE: &str = include_str!("demo/page.html");
const SCRIPT: &str = include_str!("demo/page.js");
const STYLE: &str = include_str!("demo/page.css");

/// What the page may load and where it may connect: itself only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The demo routes.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route(
            "/",
            get(|| async { asset(PAGE, "text/html; charset=utf-8") }),
        )
        .route(
            "/demo.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/demo.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/demo/login", post(login))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DemoLogin {
    sub: Option<String>,
    #[serde(deserialize_with = "flag")]
    remember_me: bool,
}

/// `POST /demo/login`: no credentials at all; that is what makes it a demo.
async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    Body(body): Body<DemoLogin>,
) -> Response {
    let sub = body.sub.as_deref().map(str::trim).unwrap_or_default();
    if sub.is_empty() {
        return Rejection::invalid_request("send sub=<a user name>").into_response();
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = match LoginRequest::new(sub)
        .with_remember_me(body.remember_me)
        .with_claim("demo", true)
    {
        Ok(request) => request.with_device(Device::new(user_agent, None)),
        Err(e) => {
            return Rejection::invalid_request(e.message().to_owned()).into_response();
        }
    };
    match app.gate().login(&request).await {
        Ok(pair) => {
            app.metrics().session(SessionEvent::Login);
            tracing::info!(remember_me = pair.remember_me, "demo login");
            let mut response = json_response(StatusCode::OK, &pair_json(&pair, false));
            set_cookies(&mut response, &pair);
            response
        }
        Err(e) => super::session::gate_error(&app, e),
    }
}
