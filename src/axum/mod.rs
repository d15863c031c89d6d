//! The axum integration (feature `axum`): an extractor, a layer, cookies and CSRF protection.
//!
//! - [`Authenticated<C>`]: the verified access token of the request, read from
//!   `Authorization: Bearer …` or from the [`ACCESS_COOKIE`] (a request with both, or with
//!   either twice, is refused: see [`presented_token`]). The [`Gate`] comes from
//!   the application state through [`FromRef`] (put an `Arc<Gate>` in your state, or
//!   implement `FromRef<YourState> for Arc<Gate>`); there are no statics.
//!   `Option<Authenticated<C>>` is `None` only when the request carried no token at all: a token
//!   that fails verification is rejected, never treated as anonymous.
//! - [`require`]: a layer that protects a whole router and puts the verified token in the request
//!   extensions, where [`Authenticated`] (or `Extension<Verified>`) finds it without verifying
//!   again.
//! - [`Rejection`]: `401` with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3; a
//!   request without a token gets a plain `Bearer` challenge, §3.1), `503` when the store cannot
//!   be reached (kind `store_unavailable`: the gate fails closed), `400` for usage errors, each
//!   with the one JSON error shape of tollgate's HTTP answers,
//!   `{"error":"<OAuth code>","error_description":"…","kind":"<stable kind>",…}`.
//! - [`Cookies`]: `Set-Cookie` values for the `__Host-` access and refresh cookies, and their
//!   clearing counterparts.
//! - [`csrf`]: tower-http's [`CsrfLayer`] (the `Sec-Fetch-Site`/`Origin` check of Go 1.25's
//!   `CrossOriginProtection`): unsafe cross-origin requests get `403`. Cookies authenticate
//!   cross-site requests too, so routers that accept the access cookie for unsafe methods
//!   should sit behind it (the cookie's `SameSite=Lax` already keeps it off cross-site `POST`s;
//!   the layer also stops same-site, cross-origin ones).
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use tollgate::axum::{Authenticated, csrf, require};
//! use tollgate::Gate;
//!
//! async fn me(user: Authenticated) -> String {
//!     format!("hello {}", user.sub())
//! }
//!
//! async fn maybe(user: Option<Authenticated>) -> String {
//!     user.map_or_else(|| "hello stranger".into(), |u| format!("hello {}", u.sub()))
//! }
//!
//! fn app(gate: Arc<Gate>) -> Router {
//!     let admin = Router::new()
//!         .route("/admin/stats", get(|| async { "42" }))
//!         .route_layer(require(gate.clone()));
//!     Router::new()
//!         .route("/me", get(me))
//!         .route("/", get(maybe))
//!         .merge(admin)
//!         .layer(csrf())
//!         .with_state(gate)
//! }
//! ```
//!
//! With application claims typed:
//!
//! ```
//! # use tollgate::axum::Authenticated;
//! #[derive(serde::Deserialize)]
//! struct Roles {
//!     #[serde(default)]
//!     role: Option<String>,
//! }
//!
//! async fn admin_only(user: Authenticated<Roles>) -> Result<&'static str, axum::http::StatusCode> {
//!     match user.claims.extra.role.as_deref() {
//!         Some("admin") => Ok("welcome"),
//!         _ => Err(axum::http::StatusCode::FORBIDDEN),
//!     }
//! }
//! ```

mod cookie;
mod layer;
mod log;
mod rejection;

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use ::axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use ::axum::http::request::Parts;
use ::axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use cookie::{ACCESS_COOKIE, Cookies, LEGACY_REFRESH_COOKIE, REFRESH_COOKIE, cookie};
pub use layer::{Require, RequireLayer, require};
pub(crate) use log::LogLimit;
pub use rejection::Rejection;
pub use tower_http::csrf::CsrfLayer;
use tower_http::csrf::ProtectionError;

use crate::error::{Error, Result};
use crate::gate::Gate;
use crate::store::{RevocationStore, Store};
use crate::token::Verified;

/// The verified access token of a request: an axum extractor.
///
/// Reads `Authorization: Bearer <token>` or the [`ACCESS_COOKIE`] ([`presented_token`]: a
/// request that carries both, or either twice, is refused), and verifies the token with the `Arc<Gate<S>>` found in the state through [`FromRef`] (signature, claims and
/// the revocation check). Behind [`require`] it takes the token the layer verified instead of
/// verifying again.
///
/// `C` is the type of the application claims (by default a JSON object); `S` is the gate's
/// store type, [`Store`] unless you bring your own. Dereferences to [`Verified<C>`].
///
/// As `Option<Authenticated<C>>` it yields `None` when the request carries no token, and
/// rejects a token that fails verification exactly as `Authenticated<C>` does.
///
/// # Rejections
///
/// A [`Rejection`]: 401 (`missing_token` and every verification kind such as `expired` or
/// `revoked`), 503 (`store_unavailable`, `bad_key`), 400 `invalid_request` (kind `usage`) for
/// malformed or ambiguous credentials.
pub struct Authenticated<C = Map<String, Value>, S = Store> {
    verified: Verified<C>,
    store: PhantomData<fn() -> S>,
}

impl<C, S> Authenticated<C, S> {
    /// Wraps a verified token.
    pub fn new(verified: Verified<C>) -> Self {
        Authenticated {
            verified,
            store: PhantomData,
        }
    }

    /// The verified token.
    pub fn into_inner(self) -> Verified<C> {
        self.verified
    }

    /// The authenticated user: the token's `sub`. The extractor rejects a token without one
    /// (`missing_claim`: it names no user), so this is never empty for an `Authenticated` it
    /// produced; for one made with [`Authenticated::new`] from such a token it is `""`.
    pub fn sub(&self) -> &str {
        self.verified.claims.sub.as_deref().unwrap_or_default()
    }
}

/// An `Authenticated` names a user: a token without `sub` (possible from another issuer under
/// the RFC 7519 profile) is refused.
fn names_a_user<C>(verified: Verified<C>) -> Result<Verified<C>, Rejection> {
    if verified.claims.sub.is_none() {
        return Err(Rejection::from(
            crate::Error::new(
                crate::ErrorKind::MissingClaim,
                "token has no `sub` claim: it names no user to authenticate",
            )
            .with_context("claim", "sub"),
        ));
    }
    Ok(verified)
}

impl<C, S> Deref for Authenticated<C, S> {
    type Target = Verified<C>;

    fn deref(&self) -> &Verified<C> {
        &self.verified
    }
}

impl<C: std::fmt::Debug, S> std::fmt::Debug for Authenticated<C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Authenticated")
            .field(&self.verified)
            .finish()
    }
}

impl<C: Clone, S> Clone for Authenticated<C, S> {
    fn clone(&self) -> Self {
        Authenticated::new(self.verified.clone())
    }
}

impl<St, C, S> FromRequestParts<St> for Authenticated<C, S>
where
    Arc<Gate<S>>: FromRef<St>,
    St: Send + Sync,
    S: RevocationStore + 'static,
    C: DeserializeOwned + Send + 'static,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        match <Self as OptionalFromRequestParts<St>>::from_request_parts(parts, state).await? {
            Some(found) => Ok(found),
            None => Err(Rejection::missing()),
        }
    }
}

impl<St, C, S> OptionalFromRequestParts<St> for Authenticated<C, S>
where
    Arc<Gate<S>>: FromRef<St>,
    St: Send + Sync,
    S: RevocationStore + 'static,
    C: DeserializeOwned + Send + 'static,
{
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &St,
    ) -> Result<Option<Self>, Self::Rejection> {
        if let Some(verified) = parts.extensions.get::<Verified>() {
            return Ok(Some(Authenticated::new(names_a_user(with_claims_as(
                verified,
            )?)?)));
        }
        let Some(token) = presented_token(&parts.headers)? else {
            return Ok(None);
        };
        let gate = Arc::<Gate<S>>::from_ref(state);
        let verified = gate.verify::<C>(token).await.map_err(Rejection::from)?;
        Ok(Some(Authenticated::new(names_a_user(verified)?)))
    }
}

/// Verifies the token a request presents; `Ok(None)` when it presents none.
///
/// This is what [`Authenticated`] and [`require`] do, for code that is not an extractor.
///
/// # Errors
///
/// A [`Rejection`] for a malformed `Authorization` header and for every verification failure.
pub async fn authenticate<C, S>(
    gate: &Gate<S>,
    headers: &HeaderMap,
) -> Result<Option<Verified<C>>, Rejection>
where
    C: DeserializeOwned + 'static,
    S: RevocationStore,
{
    match presented_token(headers)? {
        Some(token) => Ok(Some(gate.verify::<C>(token).await?)),
        None => Ok(None),
    }
}

/// The access token a request presents: the `Authorization: Bearer` credentials (RFC 6750
/// §2.1) or the [`ACCESS_COOKIE`]; `Ok(None)` when there is neither.
///
/// The request must name its token one way, once (RFC 6750 §2: "clients MUST NOT use more
/// than one method"): two `Authorization` headers, a bearer header together with the access
/// cookie, or the access cookie twice (an empty one included) are refused, never resolved by
/// picking one. The header must read `Bearer`, one or more spaces, and a `b64token` (letters,
/// digits, `-._~+/`, then optional `=`); the scheme is case-insensitive. An `Authorization`
/// header of another scheme (such as `Basic`) is not a bearer token and is skipped; one that
/// starts with `Bearer` but does not follow that grammar (`Bearer<TAB>token`, `Bearer`
/// alone, two tokens) is refused, never taken as no token. A lone empty cookie counts as absent
/// (that is what clearing one leaves behind).
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) for malformed or ambiguous credentials: [`Rejection`] answers it 400
/// `invalid_request` with `WWW-Authenticate: Bearer error="invalid_request"` (RFC 6750 §3.1).
/// The message names the problem, never the token.
///
/// # Examples
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use tollgate::axum::presented_token;
/// let mut headers = HeaderMap::new();
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer aaa.bbb.ccc"));
/// assert_eq!(presented_token(&headers)?, Some("aaa.bbb.ccc"));
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer\taaa.bbb.ccc"));
/// assert!(presented_token(&headers).is_err());
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer aaa.bbb.ccc"));
/// headers.insert(header::COOKIE, HeaderValue::from_static("__Host-tollgate-access=aaa.bbb.ccc"));
/// assert!(presented_token(&headers).is_err(), "a header and a cookie: ambiguous");
/// # Ok::<(), tollgate::Error>(())
/// ```
pub fn presented_token(headers: &HeaderMap) -> Result<Option<&str>> {
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let first = authorization.next();
    if first.is_some() && authorization.next().is_some() {
        return Err(Error::usage(
            "the request has more than one Authorization header; send one: \
             Authorization: Bearer <token>",
        ));
    }
    let bearer = match first {
        Some(value) => bearer_token(value.as_bytes())?,
        None => None,
    };
    let cookie = cookie(headers, ACCESS_COOKIE)?.filter(|v| !v.is_empty());
    match (bearer, cookie) {
        (Some(_), Some(_)) => Err(Error::usage(format!(
            "the request carries a token in both the Authorization header and the {ACCESS_COOKIE} \
             cookie; send it one way only (RFC 6750 §2)"
        ))),
        (Some(token), None) | (None, Some(token)) => Ok(Some(token)),
        (None, None) => Ok(None),
    }
}

/// The token of an `Authorization` header value when its scheme is `Bearer`: `Ok(None)` for
/// another scheme, an error for a bearer header that does not follow RFC 6750 §2.1.
fn bearer_token(value: &[u8]) -> Result<Option<&str>> {
    // The auth-scheme is a token (RFC 9110 §11.1): it ends at the first byte that is not a
    // tchar, so `Bearer\ttoken` has the scheme `Bearer` followed by a tab.
    let scheme_len = value
        .iter()
        .position(|b| !is_tchar(*b))
        .unwrap_or(value.len());
    if !value[..scheme_len].eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let rest = &value[scheme_len..];
    let token = rest.trim_ascii();
    if token.is_empty() {
        return Err(malformed_bearer("it says Bearer but carries no token"));
    }
    if !rest.starts_with(b" ") {
        return Err(malformed_bearer(
            "Bearer must be followed by a space (not a tab or another byte), then the token",
        ));
    }
    if !is_b64token(token) {
        return Err(malformed_bearer(
            "the token has bytes a bearer token cannot have (whitespace, a comma and a second \
             value, or anything but letters, digits and -._~+/ with trailing =)",
        ));
    }
    // A b64token is ASCII.
    Ok(std::str::from_utf8(token).ok())
}

fn malformed_bearer(what: &str) -> Error {
    Error::usage(format!(
        "malformed Authorization header: {what}; send Authorization: Bearer <token>"
    ))
}

/// RFC 9110 §5.6.2 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6750 §2.1 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body = token.len() - token.iter().rev().take_while(|b| **b == b'=').count();
    body > 0
        && token[..body]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b))
}

/// The token verified by [`require`], with its application claims read as `C`.
fn with_claims_as<C: DeserializeOwned + 'static>(verified: &Verified) -> Result<Verified<C>> {
    crate::token::with_claims_as(verified.clone())
}

/// A JSON response with `Cache-Control: no-store` (nothing tollgate answers is cacheable
/// except the JWK Set).
pub(crate) fn json_response(
    status: ::axum::http::StatusCode,
    body: &Value,
) -> ::axum::response::Response {
    use ::axum::response::IntoResponse;
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                ::axum::http::HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                ::axum::http::HeaderValue::from_static("no-store"),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// The CSRF layer [`csrf`] returns: tower-http's [`CsrfLayer`] whose refusals are
/// [`Rejection::cross_origin`] (403, the one JSON error shape).
pub type Csrf = CsrfLayer<fn(ProtectionError) -> ::axum::response::Response>;

/// tower-http's CSRF protection with its defaults: safe methods pass; unsafe ones pass when
/// `Sec-Fetch-Site` is `same-origin` or `none`, or, without it, when `Origin` is absent or
/// matches the request's host; every other request gets `403` with the JSON body of
/// [`Rejection::cross_origin`] (`{"error":"invalid_request","kind":"cross_origin",…}`).
///
/// Add trusted origins with [`CsrfLayer::add_trusted_origin`].
pub fn csrf() -> Csrf {
    CsrfLayer::new().with_rejection_response(cross_origin_refused)
}

fn cross_origin_refused(_: ProtectionError) -> ::axum::response::Response {
    use ::axum::response::IntoResponse;
    Rejection::cross_origin().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use ::axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_cookie_never_both() {
        let h = headers(&[("authorization", "Bearer h.h.h")]);
        assert_eq!(presented_token(&h).unwrap(), Some("h.h.h"));
        let h = headers(&[("cookie", "a=b; __Host-tollgate-access=c.c.c")]);
        assert_eq!(presented_token(&h).unwrap(), Some("c.c.c"));
        // Issue 11: a header and a cookie are ambiguous, even when they carry the same token.
        for token in ["h.h.h", "c.c.c"] {
            let h = headers(&[
                ("cookie", "__Host-tollgate-access=c.c.c"),
                ("authorization", &format!("Bearer {token}")),
            ]);
            assert_eq!(presented_token(&h).unwrap_err().kind(), ErrorKind::Usage);
        }
        // A cleared (empty) cookie beside the header is no second token.
        let h = headers(&[
            ("cookie", "__Host-tollgate-access="),
            ("authorization", "Bearer h.h.h"),
        ]);
        assert_eq!(presented_token(&h).unwrap(), Some("h.h.h"));
    }

    #[test]
    fn scheme_is_case_insensitive_and_other_schemes_are_skipped() {
        let h = headers(&[("authorization", "bearer t.t.t")]);
        assert_eq!(presented_token(&h).unwrap(), Some("t.t.t"));
        let h = headers(&[("authorization", "BEARER   t.t.t=")]);
        assert_eq!(presented_token(&h).unwrap(), Some("t.t.t="));
        let h = headers(&[("authorization", "Basic YTpi")]);
        assert_eq!(presented_token(&h).unwrap(), None);
        let h = headers(&[("authorization", "Bearerx t")]);
        assert_eq!(presented_token(&h).unwrap(), None);
    }

    #[test]
    fn issue_11_malformed_or_repeated_credentials_are_refused_never_absent() {
        for value in [
            "Bearer",
            "Bearer   ",
            "Bearer\tt.t.t",
            "Bearer a b",
            "Bearer a,Bearer b",
            "Bearer =abc",
            "Bearer a=b",
        ] {
            let h = headers(&[("authorization", value)]);
            let err = presented_token(&h).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Usage, "{value:?}");
            assert!(err.message().contains("Authorization"), "{}", err.message());
        }
        let h = headers(&[
            ("authorization", "Bearer a.a.a"),
            ("authorization", "Bearer b.b.b"),
        ]);
        assert_eq!(presented_token(&h).unwrap_err().kind(), ErrorKind::Usage);
        let h = headers(&[
            ("authorization", "Basic YTpi"),
            ("authorization", "Bearer b.b.b"),
        ]);
        assert_eq!(presented_token(&h).unwrap_err().kind(), ErrorKind::Usage);
        for cookies in [
            "__Host-tollgate-access=; __Host-tollgate-access=c.c.c",
            "__Host-tollgate-access=a.a.a; __Host-tollgate-access=c.c.c",
        ] {
            let h = headers(&[("cookie", cookies)]);
            assert_eq!(presented_token(&h).unwrap_err().kind(), ErrorKind::Usage);
        }
        let h = headers(&[("cookie", "__Host-tollgate-access=")]);
        assert_eq!(presented_token(&h).unwrap(), None);
    }
}
