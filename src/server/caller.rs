//! The caller of a trusted endpoint: client authentication (HTTP Basic with form-url-encoded
//! id and secret, or `client_secret_post`, never both) against the server's [`Clients`], and
//! the permission check of each endpoint. See [`clients`](super::clients) for the file and
//! its rules.

use ::axum::extract::{FromRef, FromRequestParts};
use ::axum::http::request::Parts;
use ::axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

#[cfg(doc)]
use super::clients::Clients;
use super::clients::{Permission, Permissions};
use crate::axum::Rejection;
use crate::error::{Error, ErrorKind, quoted};

/// An authenticated caller of a trusted endpoint: an axum extractor over HTTP Basic
/// credentials checked against the server's [`Clients`].
///
/// Rejects with 401 `{"error":"invalid_client"}` and `WWW-Authenticate: Basic
/// realm="tollgate"` when the credentials are absent or wrong, and always when no caller is
/// configured; 400 `invalid_request` when several `Authorization` headers are sent. The
/// service's own endpoints also accept `client_secret_post` (credentials in the form body)
/// and check the caller's [`Permissions`] for the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's client id.
    pub client_id: String,
    /// What the caller may call.
    pub permissions: Permissions,
}

impl Caller {
    /// Authenticates the caller of a request from its `Authorization: Basic` header or from
    /// `client_id`/`client_secret` of its body (`client_secret_post`), never both.
    pub(crate) fn authenticate(
        app: &super::App,
        headers: &HeaderMap,
        path: &str,
        client_id: Option<&str>,
        client_secret: Option<&str>,
    ) -> Result<Caller, Rejection> {
        // Any client can cause these lines: one a second at most, with the count held back
        // (the metric stays exact).
        static REFUSED: crate::axum::LogLimit = crate::axum::LogLimit::per_second();
        let refuse = |reason: &str| {
            app.metrics().caller_refused();
            if let Some(suppressed) = REFUSED.admit() {
                tracing::warn!(path = %path, reason, suppressed, "caller refused");
            }
            Rejection::invalid_client()
        };
        let basic = basic_credentials(headers);
        let posted = client_id.is_some() || client_secret.is_some();
        let basic = match basic {
            Ok(basic) if !posted || matches!(basic, Basic::Absent) => basic,
            _ => {
                app.metrics().caller_refused();
                if let Some(suppressed) = REFUSED.admit() {
                    tracing::warn!(path = %path, suppressed, "caller refused: credentials sent more than one way");
                }
                return Err(Rejection::invalid_request(
                    "caller credentials were sent more than one way (several Authorization headers, \
                     or both HTTP Basic and client_id/client_secret in the body); send them once \
                     (RFC 6749 §2.3)",
                ));
            }
        };
        let clients = app.clients();
        if clients.is_empty() {
            return Err(refuse(
                "no caller credentials are configured; create some with `tollgate clients add NAME`",
            ));
        }
        let (id, secret) = match basic {
            Basic::Valid(id, secret) => (id, secret),
            Basic::Malformed => return Err(refuse("malformed HTTP Basic credentials")),
            Basic::Absent => match (client_id, client_secret) {
                (Some(id), Some(secret)) => (id.to_owned(), Zeroizing::new(secret.to_owned())),
                (None, None) => {
                    return Err(refuse(
                        "no caller credentials (HTTP Basic or client_id and client_secret)",
                    ));
                }
                _ => return Err(refuse("client_id and client_secret must come together")),
            },
        };
        if !clients.authenticate(&id, &secret) {
            return Err(refuse("wrong client id or secret"));
        }
        let permissions = clients.permissions(&id).unwrap_or(Permissions::NONE);
        Ok(Caller {
            client_id: id,
            permissions,
        })
    }

    /// The authenticated caller of a request to an endpoint that needs `permission`: as
    /// [`Caller::authenticate`], then [`Caller::require`].
    pub(crate) fn allowed(
        app: &super::App,
        headers: &HeaderMap,
        path: &str,
        (client_id, client_secret): (Option<&str>, Option<&str>),
        permission: Permission,
    ) -> Result<Caller, Rejection> {
        let caller = Caller::authenticate(app, headers, path, client_id, client_secret)?;
        caller.require(app, permission)?;
        Ok(caller)
    }

    /// Refuses a caller that may not call this endpoint: 400 `unauthorized_client`
    /// (RFC 6749 §5.2), naming the permission it lacks.
    ///
    /// # Errors
    ///
    /// The rejection to answer with.
    pub(crate) fn require(
        &self,
        app: &super::App,
        permission: Permission,
    ) -> Result<(), Rejection> {
        if self.permissions.allows(permission) {
            return Ok(());
        }
        app.metrics().caller_refused();
        tracing::warn!(client = %self.client_id, permission = permission.as_str(), "caller refused: not allowed on this endpoint");
        Err(Rejection::from(
            Error::new(
                ErrorKind::UnauthorizedClient,
                format!(
                    "client {} may not {permission}: allow it with `tollgate clients remove` and \
                     `tollgate clients add ID --allow {permission},…`",
                    quoted(&self.client_id)
                ),
            )
            .with_context("permission", permission.as_str()),
        ))
    }
}

impl<S> FromRequestParts<S> for Caller
where
    super::App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let app = super::App::from_ref(state);
        Caller::authenticate(&app, &parts.headers, parts.uri.path(), None, None)
    }
}

/// What the `Authorization` header holds as HTTP Basic credentials.
enum Basic {
    Absent,
    Malformed,
    Valid(String, Zeroizing<String>),
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))`, decoded; `Err` when there
/// are several `Authorization` headers.
fn basic_credentials(headers: &HeaderMap) -> Result<Basic, ()> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(Basic::Absent);
    };
    if values.next().is_some() {
        return Err(());
    }
    Ok(basic_value(value))
}

fn basic_value(value: &::axum::http::HeaderValue) -> Basic {
    let Ok(value) = value.to_str() else {
        return Basic::Malformed;
    };
    let Some((scheme, encoded)) = value.trim().split_once([' ', '\t']) else {
        return Basic::Malformed;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Basic::Malformed;
    }
    let Ok(decoded) = STANDARD.decode(encoded.trim()).map(Zeroizing::new) else {
        return Basic::Malformed;
    };
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return Basic::Malformed;
    };
    let Some((id, secret)) = text.split_once(':') else {
        return Basic::Malformed;
    };
    match (form_decode(id), form_decode(secret)) {
        (Some(id), Some(secret)) => Basic::Valid(id.to_string(), secret),
        _ => Basic::Malformed,
    }
}

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a space, `%XX` a byte),
/// as RFC 6749 §2.3.1 asks of HTTP Basic client credentials.
fn form_decode(value: &str) -> Option<Zeroizing<String>> {
    let spaced = Zeroizing::new(value.replace('+', " "));
    let bytes = Zeroizing::new(percent_encoding::percent_decode_str(&spaced).collect::<Vec<u8>>());
    std::str::from_utf8(&bytes)
        .ok()
        .map(|s| Zeroizing::new(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_url_decoded() {
        let header = |raw: &str| {
            let mut headers = HeaderMap::new();
            let value = format!("Basic {}", STANDARD.encode(raw));
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        let Ok(Basic::Valid(id, secret)) = basic_credentials(&header("a%2Eb:s%3Ac+d")) else {
            panic!("expected credentials");
        };
        assert_eq!((id.as_str(), secret.as_str()), ("a.b", "s:c d"));
        assert!(matches!(
            basic_credentials(&header("a:%FF")),
            Ok(Basic::Malformed)
        ));
        let mut two = header("a:b");
        two.append(header::AUTHORIZATION, "Basic eDp5".parse().unwrap());
        assert!(basic_credentials(&two).is_err());
        assert!(matches!(
            basic_credentials(&HeaderMap::new()),
            Ok(Basic::Absent)
        ));
    }
}
