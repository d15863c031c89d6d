//! The axum integration through `Router::oneshot`: the extractor, `Option` semantics, the
//! cookie fallback, the `require` layer, every rejection's status, header and body, CSRF, and a
//! store that is down.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

use common::{RedisServer, TempKeyring, now};
use tollgate::axum::{ACCESS_COOKIE, Authenticated, Cookies, csrf, require};
use tollgate::{Algorithm, Clock, Gate, MintOptions, Store, Verified};

#[derive(Debug, Deserialize)]
struct Roles {
    role: String,
}

struct Fixture {
    gate: Arc<Gate>,
    ring: TempKeyring,
}

impl Fixture {
    async fn new() -> Fixture {
        let ring = TempKeyring::with_key(Algorithm::EdDSA);
        let gate = Fixture::gate_at(&ring, now(), "memory:").await;
        Fixture { gate, ring }
    }

    async fn gate_at(ring: &TempKeyring, now: i64, store: &str) -> Arc<Gate> {
        let keyring = tollgate::Keyring::open(ring.keyring.dir()).unwrap();
        Arc::new(
            Gate::new(Store::open(store).await.unwrap())
                .with_keyring(keyring)
                .with_clock(Clock::fixed(now)),
        )
    }

    fn token(&self) -> String {
        self.gate
            .mint(
                &MintOptions::new("alice")
                    .with_claim("role", "admin")
                    .unwrap(),
            )
            .unwrap()
            .token
    }
}

fn app(gate: Arc<Gate>) -> Router {
    let admin = Router::new()
        .route(
            "/admin",
            get(
                |Extension(v): Extension<Verified>| async move { v.claims.sub.unwrap_or_default() },
            ),
        )
        .route(
            "/admin/typed",
            get(|user: Authenticated<Roles>| async move { user.claims.extra.role.clone() }),
        )
        .route_layer(require(gate.clone()));
    Router::new()
        .route(
            "/me",
            get(|user: Authenticated| async move { user.sub().to_owned() }),
        )
        .route(
            "/typed",
            get(|user: Authenticated<Roles>| async move { user.claims.extra.role.clone() }),
        )
        .route(
            "/maybe",
            get(|user: Option<Authenticated>| async move {
                user.map_or_else(|| "anonymous".to_owned(), |u| u.sub().to_owned())
            }),
        )
        .route(
            "/write",
            post(|user: Authenticated| async move { format!("written by {}", user.sub()) }),
        )
        .merge(admin)
        .layer(csrf())
        .with_state(gate)
}

struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }

    fn kind(&self) -> String {
        self.json()["kind"].as_str().unwrap_or_default().to_owned()
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        challenge,
        body,
    }
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::get(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_valid_bearer_token_reaches_the_handler_with_typed_claims() {
    let f = Fixture::new().await;
    let app = app(f.gate.clone());
    let token = f.token();
    let r = send(&app, get_with("/me", &[("authorization", &bearer(&token))])).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "alice"));
    let r = send(
        &app,
        get_with("/typed", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "admin"));
}

#[tokio::test]
async fn a_missing_token_is_401_with_a_plain_bearer_challenge() {
    let f = Fixture::new().await;
    let r = send(&app(f.gate.clone()), get_with("/me", &[])).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge.as_deref(), Some("Bearer"));
    assert_eq!(r.kind(), "missing_token");
    assert!(r.json()["error_description"].is_string());
    assert_eq!(r.json()["error"], "invalid_token");
    // Another scheme is not a bearer token: still "missing".
    let r = send(
        &app(f.gate.clone()),
        get_with("/me", &[("authorization", "Basic YWxpY2U6cHc=")]),
    )
    .await;
    assert_eq!(r.kind(), "missing_token");
}

#[tokio::test]
async fn each_rejected_token_is_401_invalid_token_with_its_kind_and_no_token_in_the_header() {
    let f = Fixture::new().await;
    let token = f.token();
    // Expired: the same keyring an hour later.
    let later = Fixture::gate_at(&f.ring, now() + 3600, "memory:").await;
    let r = send(
        &app(later),
        get_with("/me", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.kind(), "expired");
    assert_eq!(
        r.challenge.as_deref(),
        Some("Bearer error=\"invalid_token\", error_description=\"token rejected: expired\"")
    );

    // Altered signature: one character well inside it (the last one carries padding bits,
    // whose change is `malformed` instead).
    let at = token.len() - 10;
    let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
    let mut forged = token.clone();
    forged.replace_range(at..=at, swapped);
    let app = app(f.gate.clone());
    let r = send(
        &app,
        get_with("/me", &[("authorization", &bearer(&forged))]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.kind(), "bad_signature");
    let challenge = r.challenge.unwrap();
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""));
    for part in forged.split('.') {
        assert!(!challenge.contains(part), "the challenge leaks the token");
    }

    // Garbage and an empty bearer.
    let r = send(
        &app,
        get_with("/me", &[("authorization", "Bearer not-a-jwt")]),
    )
    .await;
    assert_eq!(
        (r.status, r.kind().as_str()),
        (StatusCode::UNAUTHORIZED, "malformed")
    );
    // Issue 11: a bearer header without a token is a malformed request (RFC 6750 §3.1
    // invalid_request, 400), no longer a 401 `malformed` token.
    let r = send(&app, get_with("/me", &[("authorization", "Bearer ")])).await;
    assert_eq!(
        (r.status, r.kind().as_str()),
        (StatusCode::BAD_REQUEST, "usage")
    );
    assert_eq!(
        r.challenge.as_deref(),
        Some("Bearer error=\"invalid_request\"")
    );

    // Revoked: the context names the scope.
    f.gate.revoke_token(&token).await.unwrap();
    let r = send(&app, get_with("/me", &[("authorization", &bearer(&token))])).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.kind(), "revoked");
    assert_eq!(r.json()["scope"], "token");
    assert!(r.challenge.unwrap().contains("token rejected: revoked"));
}

#[tokio::test]
async fn claims_of_the_wrong_shape_are_rejected_not_defaulted() {
    let f = Fixture::new().await;
    let token = f.gate.mint(&MintOptions::new("bob")).unwrap().token;
    let app = app(f.gate.clone());
    let r = send(
        &app,
        get_with("/typed", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!(
        (r.status, r.kind().as_str()),
        (StatusCode::UNAUTHORIZED, "malformed")
    );
    // Behind `require`, the claims the layer verified are converted the same way.
    let r = send(
        &app,
        get_with("/admin/typed", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!(
        (r.status, r.kind().as_str()),
        (StatusCode::UNAUTHORIZED, "malformed")
    );
}

#[tokio::test]
async fn option_is_none_only_without_a_token_and_an_invalid_token_is_never_anonymous() {
    let f = Fixture::new().await;
    let app = app(f.gate.clone());
    let r = send(&app, get_with("/maybe", &[])).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "anonymous"));
    let r = send(
        &app,
        get_with("/maybe", &[("authorization", &bearer(&f.token()))]),
    )
    .await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "alice"));
    let r = send(
        &app,
        get_with("/maybe", &[("authorization", "Bearer x.y.z")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.kind(), "malformed");
    let cookie = format!("{ACCESS_COOKIE}=x.y.z");
    let r = send(&app, get_with("/maybe", &[("cookie", &cookie)])).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a bad cookie is not anonymous"
    );
}

#[tokio::test]
async fn the_access_cookie_is_the_other_way_and_a_header_beside_it_is_refused() {
    let f = Fixture::new().await;
    let app = app(f.gate.clone());
    let token = f.token();
    // The cookie exactly as `Cookies::access` sets it, sent back as a browser would.
    let set = Cookies::new()
        .access(&token, Duration::from_secs(900))
        .unwrap();
    let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
    let r = send(
        &app,
        get_with("/me", &[("cookie", &format!("theme=dark; {pair}"))]),
    )
    .await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "alice"));
    // Issue 11: a header and a cookie are two ways at once (RFC 6750 §2): refused, even when
    // the header is valid; before, the header silently won.
    let r = send(
        &app,
        get_with(
            "/me",
            &[
                ("authorization", &bearer(&token)),
                ("cookie", &format!("{ACCESS_COOKIE}=garbage")),
            ],
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.kind().as_str()),
        (StatusCode::BAD_REQUEST, "usage")
    );
    // A cleared (empty) cookie is no token.
    let r = send(
        &app,
        get_with("/me", &[("cookie", &format!("{ACCESS_COOKIE}="))]),
    )
    .await;
    assert_eq!(r.kind(), "missing_token");
}

#[tokio::test]
async fn require_protects_a_whole_router_and_passes_the_verified_token_on() {
    let f = Fixture::new().await;
    let app = app(f.gate.clone());
    let r = send(&app, get_with("/admin", &[])).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge.as_deref(), Some("Bearer"));
    let r = send(
        &app,
        get_with("/admin", &[("authorization", "Bearer a.b.c")]),
    )
    .await;
    assert_eq!(
        (r.status, r.kind().as_str()),
        (StatusCode::UNAUTHORIZED, "malformed")
    );
    let token = f.token();
    let r = send(
        &app,
        get_with("/admin", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "alice"));
    let r = send(
        &app,
        get_with("/admin/typed", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "admin"));
    // route_layer: unknown paths stay 404.
    let r = send(&app, get_with("/admin/nothing", &[])).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

fn post_with(headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::post("/write").header("host", "app.example");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn csrf_refuses_cross_origin_posts_and_lets_same_origin_ones_through() {
    let f = Fixture::new().await;
    let app = app(f.gate.clone());
    let cookie = format!("{ACCESS_COOKIE}={}", f.token());
    let cookie = cookie.as_str();

    let r = send(
        &app,
        post_with(&[("cookie", cookie), ("sec-fetch-site", "cross-site")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &app,
        post_with(&[("cookie", cookie), ("sec-fetch-site", "same-site")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Older browsers: no Sec-Fetch-Site, an Origin that is not the host.
    let r = send(
        &app,
        post_with(&[("cookie", cookie), ("origin", "https://evil.example")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = send(
        &app,
        post_with(&[("cookie", cookie), ("sec-fetch-site", "same-origin")]),
    )
    .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::OK, "written by alice")
    );
    let r = send(
        &app,
        post_with(&[("cookie", cookie), ("origin", "https://app.example")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // Non-browser clients send neither header.
    let r = send(&app, post_with(&[("cookie", cookie)])).await;
    assert_eq!(r.status, StatusCode::OK);
    // Safe methods are never refused.
    let r = send(
        &app,
        get_with(
            "/me",
            &[("cookie", cookie), ("sec-fetch-site", "cross-site")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_store_that_is_down_is_503_store_unavailable_and_fails_closed() {
    let Some(mut redis) = RedisServer::start("a_store_that_is_down_is_503") else {
        return;
    };
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let url = redis.url("?timeout=200ms");
    let gate = Fixture::gate_at(&ring, now(), &url).await;
    let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
    let app = app(gate.clone());
    let r = send(&app, get_with("/me", &[("authorization", &bearer(&token))])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    redis.stop();
    for path in ["/me", "/maybe", "/admin"] {
        let r = send(&app, get_with(path, &[("authorization", &bearer(&token))])).await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            r.text()
        );
        assert_eq!(r.kind(), "store_unavailable");
        assert_eq!(r.challenge, None);
        let message = r.json()["error_description"].as_str().unwrap().to_owned();
        assert_eq!(r.json()["error"], "temporarily_unavailable");
        assert!(
            !message.contains("127.0.0.1") && !message.contains(&redis.port().to_string()),
            "the store's address leaked: {message}"
        );
    }
}

#[tokio::test]
async fn rejection_status_follows_the_error_class() {
    use axum::response::IntoResponse;
    use tollgate::axum::Rejection;
    use tollgate::{Error, ErrorKind};

    let usage = Rejection::from(Error::usage("bad request")).into_response();
    assert_eq!(usage.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        usage.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"invalid_request\""
    );
    let body = axum::body::to_bytes(usage.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["kind"], "usage");
    assert_eq!(body["error"], "invalid_request");

    // Environment failures: 503, no challenge, and a message that names no path or host.
    let no_keys = Rejection::from(Error::bad_key("keyring /secret/path unreadable"));
    assert_eq!(no_keys.status(), StatusCode::SERVICE_UNAVAILABLE);
    let response = no_keys.into_response();
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["kind"], "bad_key");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(!body.to_string().contains("/secret/path"));

    let missing = Rejection::missing();
    assert_eq!(missing.kind(), ErrorKind::MissingToken);
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
}

/// Issue 11: credentials that are malformed or name a token more than one way are 400
/// `invalid_request` (RFC 6750 §2, §3.1) on every path (the extractor, `Option`, the
/// `require` layer): never anonymous, never a silent pick of one of them.
#[tokio::test]
async fn issue_11_ambiguous_or_malformed_credentials_are_400_invalid_request_never_a_choice() {
    let f = Fixture::new().await;
    let app = app(f.gate.clone());
    let token = f.token();
    let other = f
        .gate
        .mint(
            &MintOptions::new("mallory")
                .with_claim("role", "admin")
                .unwrap(),
        )
        .unwrap()
        .token;
    let tab = format!("Bearer\t{token}");
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("Bearer<TAB>token", vec![("authorization", tab)]),
        (
            "two Authorization headers",
            vec![
                ("authorization", bearer(&token)),
                ("authorization", bearer(&other)),
            ],
        ),
        (
            "a bearer header and the access cookie",
            vec![
                ("authorization", bearer(&token)),
                ("cookie", format!("{ACCESS_COOKIE}={token}")),
            ],
        ),
        (
            "an empty access cookie, then another",
            vec![(
                "cookie",
                format!("{ACCESS_COOKIE}=; {ACCESS_COOKIE}={other}"),
            )],
        ),
        (
            "the access cookie in two Cookie headers",
            vec![
                ("cookie", format!("{ACCESS_COOKIE}={token}")),
                ("cookie", format!("{ACCESS_COOKIE}={other}")),
            ],
        ),
        (
            "two tokens in one header",
            vec![("authorization", format!("Bearer {token}, Bearer {other}"))],
        ),
    ];
    for (what, headers) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        for path in ["/me", "/maybe", "/admin"] {
            let r = send(&app, get_with(path, &headers)).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{what} on {path}: {}",
                r.text()
            );
            let body = r.json();
            assert_eq!(body["error"], "invalid_request", "{what}");
            assert_eq!(body["kind"], "usage", "{what}");
            assert_eq!(
                r.challenge.as_deref(),
                Some("Bearer error=\"invalid_request\""),
                "{what} on {path}"
            );
            assert!(
                !r.text().contains(&token) && !r.text().contains(&other),
                "no token in the answer: {}",
                r.text()
            );
        }
    }
    // Each way alone still works.
    let r = send(&app, get_with("/me", &[("authorization", &bearer(&other))])).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "mallory"));
    let cookie = format!("{ACCESS_COOKIE}={other}");
    let r = send(&app, get_with("/admin", &[("cookie", &cookie)])).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "mallory"));
}
