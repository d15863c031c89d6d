//! `Set-Cookie` values for the access and refresh cookies, and reading cookies back.
//!
//! Hand-written rather than through the `cookie` crate: tollgate sets two cookies with fixed
//! attributes and reads one by name, the values are tokens whose alphabet is already
//! cookie-safe (checked anyway), and the crate would bring `time` along for nothing.

use std::time::Duration;

use ::axum::http::{HeaderMap, HeaderValue, header};

use crate::error::{Error, Result, quoted};

/// The access cookie's name. The `__Host-` prefix makes browsers insist on `Secure`, `Path=/`
/// and no `Domain`, so a sibling subdomain cannot plant or shadow it.
pub const ACCESS_COOKIE: &str = "__Host-tollgate-access";

/// The refresh cookie's name. `__Secure-` (not `__Host-`, which requires `Path=/`): the cookie
/// is scoped to the refresh path and must be `Secure`.
pub const REFRESH_COOKIE: &str = "__Secure-tollgate-refresh";

/// The path the refresh cookie is sent to by default.
pub const DEFAULT_REFRESH_PATH: &str = "/session/refresh";

/// Builds the `Set-Cookie` values for a session's tokens.
///
/// - access: `__Host-tollgate-access=<token>; Max-Age=<lifetime>; Path=/; Secure; HttpOnly;
///   SameSite=Lax`. Lax lets the cookie follow top-level navigations to the site but not
///   cross-site subresource requests or `POST`s.
/// - refresh: `__Secure-tollgate-refresh=<token>; Path=<refresh path>; Secure; HttpOnly;
///   SameSite=Strict`, with `Max-Age=<lifetime>` only for remember-me sessions; otherwise it is
///   a browser-session cookie, gone when the browser closes. Only the refresh endpoint ever
///   receives it.
///
/// Both take plain lifetimes and a `remember_me` flag, so they fit any token pair.
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
/// assert!(!refresh.to_str().unwrap().contains("Max-Age"));
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookies {
    refresh_path: String,
}

impl Default for Cookies {
    fn default() -> Self {
        Cookies::new()
    }
}

impl Cookies {
    /// Cookies with the refresh cookie on [`DEFAULT_REFRESH_PATH`].
    pub fn new() -> Self {
        Cookies {
            refresh_path: DEFAULT_REFRESH_PATH.to_owned(),
        }
    }

    /// Sets the path the refresh cookie is sent to.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) unless the path starts with `/` and is
    /// visible ASCII without `;`.
    pub fn with_refresh_path(mut self, path: impl Into<String>) -> Result<Self> {
        let path = path.into();
        if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
            return Err(Error::usage(format!(
                "cookie path {} must start with / and be visible ASCII without ;",
                quoted(&path)
            )));
        }
        self.refresh_path = path;
        Ok(self)
    }

    /// The path the refresh cookie is sent to.
    pub fn refresh_path(&self) -> &str {
        &self.refresh_path
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
            "{REFRESH_COOKIE}={token}{max_age}; Path={}; Secure; HttpOnly; SameSite=Strict",
            self.refresh_path
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
        header_value(format!(
            "{REFRESH_COOKIE}=; Max-Age=0; Path={}; Secure; HttpOnly; SameSite=Strict",
            self.refresh_path
        ))
        // The path was checked by `with_refresh_path`, so the value is valid.
        .unwrap_or_else(|_| HeaderValue::from_static("__Secure-tollgate-refresh=; Max-Age=0"))
    }

    /// The refresh token a request carries in the refresh cookie, if any.
    pub fn refresh_token<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        cookie(headers, REFRESH_COOKIE).filter(|v| !v.is_empty())
    }
}

/// The value of the cookie `name` in a request's `Cookie` headers (the first one; surrounding
/// double quotes removed).
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| {
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
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
    fn refresh_cookie_is_persistent_only_with_remember_me() {
        let c = Cookies::new().with_refresh_path("/auth/refresh").unwrap();
        let long = c.refresh("r.s", Duration::from_secs(86400), true).unwrap();
        assert_eq!(
            long.to_str().unwrap(),
            "__Secure-tollgate-refresh=r.s; Max-Age=86400; Path=/auth/refresh; Secure; HttpOnly; SameSite=Strict"
        );
        let short = c.refresh("r.s", Duration::from_secs(86400), false).unwrap();
        assert_eq!(
            short.to_str().unwrap(),
            "__Secure-tollgate-refresh=r.s; Path=/auth/refresh; Secure; HttpOnly; SameSite=Strict"
        );
        assert!(
            c.clear_refresh()
                .to_str()
                .unwrap()
                .contains("Max-Age=0; Path=/auth/refresh")
        );
        assert!(
            c.clear_access()
                .to_str()
                .unwrap()
                .starts_with("__Host-tollgate-access=; Max-Age=0")
        );
    }

    #[test]
    fn values_and_paths_that_would_break_the_header_are_refused() {
        let c = Cookies::new();
        assert!(c.access("a;b", Duration::from_secs(1)).is_err());
        assert!(c.access("", Duration::from_secs(1)).is_err());
        assert!(Cookies::new().with_refresh_path("x").is_err());
        assert!(Cookies::new().with_refresh_path("/a;Domain=evil").is_err());
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
        assert_eq!(cookie(&h, ACCESS_COOKIE), Some("yes"));
        assert_eq!(cookie(&h, "b"), Some("q"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
