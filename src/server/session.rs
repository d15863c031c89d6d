//! The session endpoints: login for trusted backends, refresh, logout and logout everywhere for
//! browsers and backends alike, and `/session/me`.
//!
//! | route | who | takes | answers |
//! | --- | --- | --- | --- |
//! | `POST /session/login` | a trusted backend with the `login` permission (HTTP Basic or `client_secret_post` caller credentials) | `sub`, `remember_me`, `claims` (a JSON object), `user_agent`, `ip`, `cookies` | the token pair; with `cookies=1` (body or query) also the access and refresh `Set-Cookie`s |
//! | `POST /session/refresh` | anyone holding a refresh token | `refresh_token` in the body, else the refresh cookie | a new pair; from the cookie: new cookies and the pair *without* its tokens |
//! | `POST /session/logout` | anyone holding a token of the session | `token` (access or refresh) or `refresh_token` in the body, else the bearer header, the access cookie, the refresh cookie | `{"logged_out":true}`; ends the session and revokes its access tokens |
//! | `POST /session/logout-all` | the user | as logout; an access token is enough | `{"logged_out":true,"sub":…,"ended":N}`; ends every session of the user and revokes every token issued to them so far |
//! | `GET /session/me` | the user | the bearer header or the access cookie | the verified claims, the signing `kid`, `exp`, the server's `now`, and the session's record (remember-me, refresh expiry, generation) |
//!
//! Bodies are `application/x-www-form-urlencoded` or `application/json`; an empty body is
//! allowed wherever every field is optional. Booleans accept `true`/`false`, `1`/`0` and
//! `on` (an HTML checkbox). The token pair has the CLI's shape: `{"access_token",
//! "refresh_token", "token_type":"Bearer", "expires_in", "refresh_expires_in", "session_id",
//! "remember_me"}`.
//!
//! # Cookies
//!
//! The access token travels in `__Host-tollgate-access` (`Path=/`, `Secure`, `HttpOnly`,
//! `SameSite=Lax`) and the refresh token in `__Host-tollgate-refresh` (`Path=/`, `Secure`,
//! `HttpOnly`, `SameSite=Strict`, persistent only for remember-me logins); see
//! [`Cookies`](crate::axum::Cookies). The `__Host-` prefix keeps a sibling subdomain from
//! planting either one. A request that carries either cookie twice (an empty one included),
//! or a bearer header and the access cookie together, is refused with 400 `invalid_request`:
//! nothing picks one of them. A refresh that came from the cookie answers with new cookies and
//! a body without tokens, so that a page's script never sees one. Logout, logout-all and a
//! request whose token was refused (reuse, unknown session, revoked, bad token) clear both
//! cookies, and the refresh cookie of earlier versions (`__Secure-tollgate-refresh` on
//! `/session/refresh`, never read), which a refresh also clears whenever a request still
//! carries it. A request that carried no token (`missing_token`) and a 503 keep the cookies,
//! so that the client can refresh first or try again.
//!
//! # Errors
//!
//! Every error is a [`Rejection`](crate::axum::Rejection):
//! `{"error":"<OAuth code>","error_description":"…","kind":"<tollgate kind>",…context}`.
//!
//! | status | `error` | `kind` | when |
//! | --- | --- | --- | --- |
//! | 400 | `invalid_request` | `usage` | a malformed body or query, a missing `sub`, claims that are not an object or use registered names |
//! | 400 | `invalid_request` | `usage` | `claims` with a duplicated member or a registered or reserved name (`"claim"` names it); caller credentials sent both as HTTP Basic and in the body |
//! | 401 | `invalid_client` | `invalid_client` | login without valid caller credentials (and always when none are configured) |
//! | 400 | `unauthorized_client` | `unauthorized_client` | a caller without the `login` permission |
//! | 401 | `invalid_token` | `missing_token`, `reused_refresh_token` (the session is now revoked, counted in `/metrics`), `unknown_session`, `revoked`, `expired`, `malformed`, `wrong_token_type`, … | the token was refused |
//! | 503 | `temporarily_unavailable` | `store_unavailable` | the store cannot be reached (fail closed); `Retry-After: 1` |
//!
//! Unsafe cross-origin requests never get here: the CSRF layer answers them 403.

use std::time::Duration;

use ::axum::Router;
use ::axum::extract::State;
use ::axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::App;
use super::body::{Body, flag, query};
use super::caller::Caller;
use super::clients::Permission;
use super::metrics::SessionEvent;
use crate::axum::{
    Cookies, LEGACY_REFRESH_COOKIE, Rejection, cookie, json_response, presented_token,
};
use crate::error::{Class, Error, ErrorKind};
use crate::session::{LoginRequest, SessionInfo, TokenPair};
use crate::store::Scope;
use crate::store::{Device, SessionStore};

/// The session routes.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/session/login", post(login))
        .route("/session/refresh", post(refresh))
        .route("/session/logout", post(logout))
        .route("/session/logout-all", post(logout_all))
        .route("/session/me", get(me))
}

/// The body of `POST /session/login`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LoginBody {
    sub: Option<String>,
    #[serde(deserialize_with = "flag")]
    remember_me: bool,
    /// A JSON object, or (in a form) its JSON text; duplicated member names are refused.
    #[serde(deserialize_with = "crate::json::strict_option")]
    claims: Option<Value>,
    user_agent: Option<String>,
    ip: Option<String>,
    #[serde(deserialize_with = "flag")]
    cookies: bool,
    /// The caller's id with `client_secret_post`.
    client_id: Option<String>,
    /// The caller's secret with `client_secret_post`.
    client_secret: Option<String>,
}

/// Claims a caller may not set through `claims`: registered JWT and OAuth names whose value
/// other services trust because tollgate set it (RFC 7519 §4.1, RFC 9068 §2.2, RFC 8693 §4,
/// RFC 9449 §6, OpenID Connect Core §2). `client_id` is set by tollgate to the caller.
const LOGIN_RESERVED: [&str; 20] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "sid",
    "auth_time",
    "client_id",
    "cnf",
    "scope",
    "typ",
    "azp",
    "act",
    "may_act",
    "acr",
    "amr",
    "nonce",
    "token_use",
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CookiesQuery {
    #[serde(deserialize_with = "flag")]
    cookies: bool,
}

/// The body of refresh, logout and logout-all (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenBody {
    token: Option<String>,
    refresh_token: Option<String>,
}

/// `POST /session/login`.
async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Body(body): Body<LoginBody>,
) -> Response {
    let caller = match Caller::allowed(
        &app,
        &headers,
        uri.path(),
        (body.client_id.as_deref(), body.client_secret.as_deref()),
        Permission::Login,
    ) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let with_cookies = match query::<CookiesQuery>(&uri) {
        Ok(q) => q.cookies || body.cookies,
        Err(e) => return e.into_response(),
    };
    let device = Device::new(body.user_agent.clone(), body.ip.clone());
    let request = match login_request(&body) {
        Ok(request) => request
            .with_device(device)
            .with_client_id(caller.client_id.clone()),
        Err(e) => return e.into_response(),
    };
    match app.gate().login(&request).await {
        Ok(pair) => {
            app.metrics().session(SessionEvent::Login);
            tracing::info!(
                client = %caller.client_id,
                sub = %crate::error::quoted(request.sub()),
                sid = %pair.session_id,
                "session started for a caller"
            );
            let mut response = json_response(StatusCode::OK, &pair_json(&pair, true));
            if with_cookies {
                set_cookies(&mut response, &pair);
            }
            response
        }
        Err(e) => gate_error(&app, e),
    }
}

/// A [`LoginRequest`] from a login body (the demo's too).
///
/// # Errors
///
/// 400 `invalid_request` for a missing subject or claims that are not an object of
/// application claims.
pub(crate) fn login_request(body: &LoginBody) -> Result<LoginRequest, Rejection> {
    let sub = body.sub.as_deref().map(str::trim).unwrap_or_default();
    if sub.is_empty() {
        return Err(Rejection::invalid_request(
            "send sub=<the user> (and optionally remember_me, claims)",
        ));
    }
    let mut request = LoginRequest::new(sub).with_remember_me(body.remember_me);
    let claims = match &body.claims {
        None => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(Value::Object(
            crate::json::parse_object(text.as_bytes()).map_err(|e| {
                Rejection::invalid_request(format!(
                    "claims must be a JSON object with each member once ({e})"
                ))
            })?,
        )),
        Some(value) => Some(value.clone()),
    };
    if let Some(claims) = claims {
        let Some(members) = claims.as_object() else {
            return Err(Rejection::invalid_request("claims must be a JSON object"));
        };
        if let Some(name) = members
            .keys()
            .find(|name| LOGIN_RESERVED.contains(&name.as_str()))
        {
            return Err(Rejection::from(
                Error::usage(format!(
                    "claim {} is registered or reserved and set by tollgate, never by a caller; \
                     remove it from claims",
                    crate::error::quoted(name)
                ))
                .with_context("claim", name.as_str()),
            ));
        }
        request = request
            .with_claims(&claims)
            .map_err(|e| Rejection::invalid_request(e.message().to_owned()))?;
    }
    Ok(request)
}

/// `POST /session/refresh`. A request that still carries the refresh cookie of earlier
/// versions gets it cleared, whatever the answer.
async fn refresh(
    State(app): State<App>,
    headers: HeaderMap,
    Body(body): Body<TokenBody>,
) -> Response {
    let response = refresh_response(&app, &headers, body).await;
    if matches!(
        cookie(&headers, LEGACY_REFRESH_COOKIE),
        Ok(Some(_)) | Err(_)
    ) {
        return with_legacy_cleared(response);
    }
    response
}

async fn refresh_response(app: &App, headers: &HeaderMap, body: TokenBody) -> Response {
    let cookies = Cookies::new();
    let (token, from_cookie) = match non_empty(body.refresh_token) {
        // A token in the body and the refresh cookie: ambiguous, never a silent choice.
        Some(_) if matches!(cookies.refresh_token(headers), Ok(Some(_)) | Err(_)) => {
            return Rejection::invalid_request(
                "the request carries a refresh token in both the body and the refresh cookie; \
                 send it one way only",
            )
            .into_response();
        }
        Some(token) => (token, false),
        None => match cookies.refresh_token(headers) {
            Ok(Some(token)) => (token.to_owned(), true),
            Ok(None) => {
                return Rejection::from(Error::new(
                    ErrorKind::MissingToken,
                    "no refresh token: send refresh_token=… or the refresh cookie",
                ))
                .into_response();
            }
            Err(e) => return Rejection::invalid_request(e.message().to_owned()).into_response(),
        },
    };
    match app.gate().refresh(&token).await {
        Ok(pair) => {
            app.metrics().session(SessionEvent::Refresh);
            if from_cookie {
                let mut response = json_response(StatusCode::OK, &pair_json(&pair, false));
                set_cookies(&mut response, &pair);
                response
            } else {
                json_response(StatusCode::OK, &pair_json(&pair, true))
            }
        }
        Err(e) => {
            if e.kind() == ErrorKind::ReusedRefreshToken {
                app.metrics().refresh_reused();
                app.metrics().revocation(Scope::Session);
            }
            gate_error(app, e)
        }
    }
}

/// `POST /session/logout`.
async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    Body(body): Body<TokenBody>,
) -> Response {
    let token = match session_token(&headers, body) {
        Ok(Some(token)) => token,
        Ok(None) => return Rejection::missing().into_response(),
        Err(e) => return gate_error(&app, e),
    };
    match app.gate().logout(&token).await {
        Ok(_) => {
            app.metrics().session(SessionEvent::Logout);
            app.metrics().revocation(Scope::Session);
            with_cleared_cookies(json_response(StatusCode::OK, &json!({"logged_out": true})))
        }
        Err(e) => gate_error(&app, e),
    }
}

/// `POST /session/logout-all`.
async fn logout_all(
    State(app): State<App>,
    headers: HeaderMap,
    Body(body): Body<TokenBody>,
) -> Response {
    let token = match session_token(&headers, body) {
        Ok(Some(token)) => token,
        Ok(None) => return Rejection::missing().into_response(),
        Err(e) => return gate_error(&app, e),
    };
    match app.gate().logout_all_by_token(&token).await {
        Ok((sub, ended)) => {
            app.metrics().session(SessionEvent::LogoutAll);
            app.metrics().revocation(Scope::User);
            with_cleared_cookies(json_response(
                StatusCode::OK,
                &json!({"logged_out": true, "sub": sub, "ended": ended}),
            ))
        }
        Err(e) => gate_error(&app, e),
    }
}

/// `GET /session/me`: the verified access token of the request, without the token itself.
async fn me(State(app): State<App>, headers: HeaderMap) -> Response {
    let token = match presented_token(&headers) {
        Ok(Some(token)) => token,
        Ok(None) => return Rejection::missing().into_response(),
        Err(e) => return Rejection::from(e).into_response(),
    };
    let gate = app.gate();
    let verified = gate.verify::<Map<String, Value>>(token).await;
    app.metrics().verification(&verified);
    let verified = match verified {
        Ok(v) => v,
        Err(e) => return Rejection::from(e).into_response(),
    };
    let now = gate.clock().now();
    let session = match &verified.claims.sid {
        Some(sid) if verified.namespace.is_own() => match gate.store().session(sid).await {
            Ok(record) => record
                .filter(|r| {
                    r.ended_at.is_none() && Some(r.sub.as_str()) == verified.claims.sub.as_deref()
                })
                .map(SessionInfo::from),
            Err(e) => return Rejection::from(e).into_response(),
        },
        _ => None,
    };
    let claims = serde_json::to_value(&verified.claims).unwrap_or(Value::Null);
    json_response(
        StatusCode::OK,
        &json!({
            "sub": verified.claims.sub,
            "sid": verified.claims.sid,
            "jti": verified.claims.jti,
            "iat": verified.claims.iat,
            "exp": verified.claims.exp,
            "kid": verified.header.kid,
            "alg": verified.header.alg.as_str(),
            "key_state": verified.key_state.as_str(),
            "claims": claims,
            "session": session,
            "now": now,
        }),
    )
}

/// The token a logout names: the body's `token` or `refresh_token`, else the bearer header or
/// the access cookie, else the refresh cookie (on `Path=/`, it reaches these routes too, so a
/// browser whose access cookie has expired can still log out). Ambiguous credentials (two
/// headers, a header and the access cookie, a cookie sent twice) are a usage error.
fn session_token(headers: &HeaderMap, body: TokenBody) -> crate::Result<Option<String>> {
    if let Some(token) = non_empty(body.token).or_else(|| non_empty(body.refresh_token)) {
        return Ok(Some(token));
    }
    if let Some(token) = presented_token(headers)? {
        return Ok(Some(token.to_owned()));
    }
    Ok(Cookies::new().refresh_token(headers)?.map(str::to_owned))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A gate failure as a response: usage errors are `invalid_request`; refusals clear the
/// cookies (the tokens they hold are useless now); environment failures keep them.
pub(crate) fn gate_error(app: &App, error: Error) -> Response {
    match error.class() {
        Class::Usage => Rejection::invalid_request(error.message().to_owned()).into_response(),
        Class::Environment => {
            app.metrics().error(&error);
            Rejection::from(error).into_response()
        }
        Class::Rejected => with_cleared_cookies(Rejection::from(error).into_response()),
    }
}

/// The pair as JSON, with or without its two tokens.
pub(crate) fn pair_json(pair: &TokenPair, with_tokens: bool) -> Value {
    let mut value = serde_json::to_value(pair).unwrap_or(Value::Null);
    if !with_tokens && let Value::Object(map) = &mut value {
        map.remove("access_token");
        map.remove("refresh_token");
    }
    value
}

/// Adds the access and refresh `Set-Cookie`s of `pair`.
pub(crate) fn set_cookies(response: &mut Response, pair: &TokenPair) {
    let cookies = Cookies::new();
    let secs = |s: i64| Duration::from_secs(s.max(0).unsigned_abs());
    // Tokens tollgate mints are cookie-safe; a failure here would leave the cookie unset.
    let values = [
        cookies.access(&pair.access_token, secs(pair.expires_in)),
        cookies.refresh(
            &pair.refresh_token,
            secs(pair.refresh_expires_in),
            pair.remember_me,
        ),
    ];
    for value in values.into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Adds the clearing `Set-Cookie`s: access, refresh, and the legacy refresh cookie.
pub(crate) fn with_cleared_cookies(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for value in Cookies::new().clear_all() {
        headers.append(header::SET_COOKIE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Adds the `Set-Cookie` that clears the legacy refresh cookie, unless the response clears it
/// already.
fn with_legacy_cleared(mut response: Response) -> Response {
    let clear = Cookies::new().clear_legacy_refresh();
    let headers = response.headers_mut();
    if !headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| *v == clear)
    {
        headers.append(header::SET_COOKIE, clear);
    }
    response
}
