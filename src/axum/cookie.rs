//! `Set-Cookie` values for the access and refresh cookies, and reading cookies back.
//!
//! Hand-written rather than through the `cookie` crate: tollgate sets two cookies with fixed
//! attributes and reads one by name, the values are tokens whose alphabet is already
//! cookie-safe (checked anyway), and the crate would bring `time` along for nothing.

use std::time::Duration;

use ::axum::http::{HeaderMap, HeaderValue, header};

use crate::error::{Error, Result};

/// The access cookie's name. The `__Host-` prefix makes browsers insist on `Secure`, `Path=/`
/// and no `Domain`, so a sibling subdomain cannot plant or shadow it.
pub const ACCESS_COOKIE: &str = "__Host-tollgate-access";

/// The refresh cookie's name. `__Host-` like the access cookie (`Secure`, `Path=/`, no
/// `Domain`): a sibling subdomain cannot plant one (login fixation) or shadow it. It is
/// `SameSite=Strict`, so it never leaves with a cross-site request.
pub const REFRESH_COOKIE: &str = "__Host-tollgate-refresh";

/// The refresh cookie's name before the `__Host-` one ([`REFRESH_COOKIE`]): `__Secure-`, on
/// the path `/session/refresh`. Never read (a sibling subdomain could plant it); cleared with
/// the others so that browsers drop it after the upgrade.
pub const LEGACY_REFRESH_COOKIE: &str = "__Secure-tollgate-refresh";

/// Builds the `Set-Cookie` values for a session's tokens.
///
/// - access: `__Host-tollgate-access=<token>; Max-Age=<lifetime>; Path=/; Secure; HttpOnly;
///   SameSite=Lax`. Lax lets the cookie follow top-level navigations to the site but not
///   cross-site subresource requests or `POST`s.
/// - refresh: `__Host-tollgate-refresh=<token>; Path=/; Secure; HttpOnly; SameSite=Strict`,
///   with `Max-Age=<lifetime>` only for remember-me sessions; otherwise it is a browser-session
///   cookie, gone when the browser closes. Strict: no cross-site request carries it.
///
/// Both take plain lifetimes and a `remember_me` flag, so they fit any token pair. Reading
/// them back ([`cookie`], [`Cookies::refresh_token`]) refuses a request that carries one of
/// them twice.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tollgate::axum::Cookies;
/// let cookies = Cookies::new();
/// let access = cookies.access("aaa.bbb.ccc", Duration::from_secs(900))?;
/// assert_eq!(
///     access.to_str().unwrap(),
///     "__Host-tollgate-access=aaa.bbb.ccc; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax"
/// );
/// let refresh = cookies.refresh("r.s", Duration::from_secs(3600), false)?;
/// assert_eq!(
///     refresh.to_str().unwrap(),
///     "__Host-tollgate-refresh=r.s; Path=/; Secure; HttpOnly; SameSite=Strict"
/// );
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookies {
    _private: (),
}

impl Cookies {
    /// The access and refresh cookies.
    pub fn new() -> Self {
        Cookies { _private: () }
    }

    /// The access cookie carrying `token` for `lifetime` (the token's own lifetime).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) when `token` has characters a cookie value
    /// cannot carry.
    pub fn access(&self, token: &str, lifetime: Duration) -> Result<HeaderValue> {
        check_value(token)?;
        header_value(format!(
            "{ACCESS_COOKIE}={token}; Max-Age={}; Path=/; Secure; HttpOnly; SameSite=Lax",
            lifetime.as_secs()
        ))
    }

    /// The refresh cookie carrying `token`: persistent for `lifetime` when `remember_me`, a
    /// browser-session cookie otherwise.
    ///
    /// # Errors
    ///
    /// As [`Cookies::access`].
    pub fn refresh(
        &self,
        token: &str,
        lifetime: Duration,
        remember_me: bool,
    ) -> Result<HeaderValue> {
        check_value(token)?;
        let max_age = if remember_me {
            format!("; Max-Age={}", lifetime.as_secs())
        } else {
            String::new()
        };
        header_value(format!(
            "{REFRESH_COOKIE}={token}{max_age}; Path=/; Secure; HttpOnly; SameSite=Strict"
        ))
    }

    /// Deletes the access cookie (logout).
    pub fn clear_access(&self) -> HeaderValue {
        HeaderValue::from_static(
            "__Host-tollgate-access=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax",
        )
    }

    /// Deletes the refresh cookie (logout).
    pub fn clear_refresh(&self) -> HeaderValue {
        HeaderValue::from_static(
            "__Host-tollgate-refresh=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict",
        )
    }

    /// Deletes the [`LEGACY_REFRESH_COOKIE`] where tollgate used to set it
    /// (`Path=/session/refresh`), so that browsers drop it.
    pub fn clear_legacy_refresh(&self) -> HeaderValue {
        HeaderValue::from_static(
            "__Secure-tollgate-refresh=; Max-Age=0; Path=/session/refresh; Secure; HttpOnly; SameSite=Strict",
        )
    }

    /// Every clearing `Set-Cookie` (logout, a refused token): the access cookie, the refresh
    /// cookie and the legacy refresh cookie.
    pub fn clear_all(&self) -> [HeaderValue; 3] {
        [
            self.clear_access(),
            self.clear_refresh(),
            self.clear_legacy_refresh(),
        ]
    }

    /// The refresh token a request carries in the [`REFRESH_COOKIE`], if any (an empty one
    /// counts as absent). The [`LEGACY_REFRESH_COOKIE`] is never read.
    ///
    /// # Errors
    ///
    /// As [`cookie`]: the request carries the refresh cookie more than once.
    pub fn refresh_token<'h>(&self, headers: &'h HeaderMap) -> Result<Option<&'h str>> {
        Ok(cookie(headers, REFRESH_COOKIE)?.filter(|v| !v.is_empty()))
    }
}

/// The value of the cookie `name` in a request's `Cookie` headers (surrounding double quotes
/// removed); `Ok(None)` when the request does not carry it.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) (answered 400 `invalid_request`) when the
/// request carries `name` more than once, empty values included: which one the browser meant
/// cannot be told (one may have been planted), so none is chosen. The message names the
/// cookie, never a value.
///
/// # Examples
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use tollgate::axum::{ACCESS_COOKIE, cookie};
/// let mut headers = HeaderMap::new();
/// headers.insert(header::COOKIE, HeaderValue::from_static("a=1; __Host-tollgate-access=t.t.t"));
/// assert_eq!(cookie(&headers, ACCESS_COOKIE)?, Some("t.t.t"));
/// headers.append(header::COOKIE, HeaderValue::from_static("__Host-tollgate-access=u.u.u"));
/// assert!(cookie(&headers, ACCESS_COOKIE).is_err());
/// # Ok::<(), tollgate::Error>(())
/// ```
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| {
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        });
    let first = found.next();
    if first.is_some() && found.next().is_some() {
        return Err(Error::usage(format!(
            "the request carries the cookie {name} more than once, and which one counts cannot \
             be told; clear the site's cookies and sign in again"
        )));
    }
    Ok(first)
}

/// RFC 6265 cookie-octets: visible ASCII except `"`, `,`, `;` and `\`.
fn check_value(value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(
            "a cookie value must be non-empty visible ASCII without \" , ; or \\",
        ))
    }
}

fn header_value(text: String) -> Result<HeaderValue> {
    HeaderValue::try_from(text).map_err(|e| Error::usage(format!("not a header value: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_cookie_is_host_prefixed_and_persistent_only_with_remember_me() {
        let c = Cookies::new();
        let long = c.refresh("r.s", Duration::from_secs(86400), true).unwrap();
        assert_eq!(
            long.to_str().unwrap(),
            "__Host-tollgate-refresh=r.s; Max-Age=86400; Path=/; Secure; HttpOnly; SameSite=Strict"
        );
        let short = c.refresh("r.s", Duration::from_secs(86400), false).unwrap();
        assert_eq!(
            short.to_str().unwrap(),
            "__Host-tollgate-refresh=r.s; Path=/; Secure; HttpOnly; SameSite=Strict"
        );
        let cleared: Vec<String> = c
            .clear_all()
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            cleared,
            [
                "__Host-tollgate-access=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax",
                "__Host-tollgate-refresh=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict",
                "__Secure-tollgate-refresh=; Max-Age=0; Path=/session/refresh; Secure; HttpOnly; SameSite=Strict",
            ]
        );
    }

    #[test]
    fn values_that_would_break_the_header_are_refused() {
        let c = Cookies::new();
        assert!(c.access("a;b", Duration::from_secs(1)).is_err());
        assert!(c.access("", Duration::from_secs(1)).is_err());
        assert!(c.refresh("a,b", Duration::from_secs(1), false).is_err());
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("x__Host-tollgate-access=no; b=\"q\""),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-tollgate-access=yes"),
        );
        assert_eq!(cookie(&h, ACCESS_COOKIE).unwrap(), Some("yes"));
        assert_eq!(cookie(&h, "b").unwrap(), Some("q"));
        assert_eq!(cookie(&h, "c").unwrap(), None);
    }

    #[test]
    fn a_cookie_sent_twice_is_refused_never_chosen() {
        let twice = |values: &[&'static str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::COOKIE, HeaderValue::from_static(v));
            }
            h
        };
        for h in [
            twice(&["__Host-tollgate-refresh=a; __Host-tollgate-refresh=b"]),
            twice(&["__Host-tollgate-refresh=a", "__Host-tollgate-refresh=b"]),
            twice(&["__Host-tollgate-refresh=; __Host-tollgate-refresh=b"]),
        ] {
            let err = Cookies::new().refresh_token(&h).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Usage);
            assert!(err.message().contains(REFRESH_COOKIE), "{}", err.message());
        }
        // The legacy cookie is never read, and does not count as a second refresh cookie.
        let h = twice(&["__Secure-tollgate-refresh=old; __Host-tollgate-refresh=new"]);
        assert_eq!(Cookies::new().refresh_token(&h).unwrap(), Some("new"));
        let h = twice(&["__Secure-tollgate-refresh=old"]);
        assert_eq!(Cookies::new().refresh_token(&h).unwrap(), None);
    }
}
