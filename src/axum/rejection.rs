//! [`Rejection`]: every error tollgate answers over HTTP, in one shape.

use ::axum::http::{HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::LogLimit;
use crate::error::{Class, Error, ErrorKind};

/// Why a request was refused, as a response: every error tollgate answers over HTTP.
///
/// The extractor, the `require` layer and every endpoint of `tollgate serve` turn a
/// [`tollgate::Error`](crate::Error) into a response here and nowhere else. The body is
///
/// ```json
/// {"error": "invalid_token", "error_description": "token expired at …", "kind": "expired", "exp": 1800000900, "now": 1800003000}
/// ```
///
/// a string `error` as OAuth clients expect (RFC 6749 §5.2, RFC 6750 §3.1), a human
/// `error_description`, tollgate's stable `kind` (the CLI contract's strings), the error's
/// context fields, and `errors` (every failed check) when a verification failed several.
///
/// | kind | status | `error` | `WWW-Authenticate` |
/// | --- | --- | --- | --- |
/// | `missing_token` | 401 | `invalid_token` | `Bearer` (RFC 6750 §3.1: no error code when no token was sent) |
/// | `invalid_client` | 401 | `invalid_client` | `Basic realm="tollgate"` |
/// | other rejections (`expired`, `revoked`, `bad_signature`, `reused_refresh_token`, …) | 401 | `invalid_token` | `Bearer error="invalid_token", error_description="token rejected: <kind>"` |
/// | `unauthorized_client` | 400 | `unauthorized_client` | none |
/// | `unsupported_token_type` | 400 | `unsupported_token_type` (RFC 7009 §2.2.1) | none |
/// | `usage` | 400 (413 for a body over the limit) | `invalid_request` | `Bearer error="invalid_request"` when the request's credentials were malformed or ambiguous (RFC 6750 §3.1) |
/// | `cross_origin` | 403 | `invalid_request` | none |
/// | `store_unavailable`, `bad_key`, `io` (environment) | 503, `Retry-After: 1` | `temporarily_unavailable` | none |
///
/// Environment failures carry a generic description: the store's address and the cause are
/// logged, never sent. No description ever contains a token or a secret.
#[derive(Debug)]
pub struct Rejection {
    error: Error,
    status: Option<StatusCode>,
    bearer: bool,
}

impl Rejection {
    /// The rejection of a request that carried no token.
    pub fn missing() -> Self {
        Rejection::from(Error::new(
            ErrorKind::MissingToken,
            "no access token: send Authorization: Bearer <token> or the access cookie",
        ))
    }

    /// 400 `invalid_request` for a malformed request body, query or parameter.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Rejection {
            error: Error::usage(description),
            status: None,
            bearer: false,
        }
    }

    /// 413 `invalid_request`: the body is over the limit.
    pub fn too_large() -> Self {
        Rejection {
            status: Some(StatusCode::PAYLOAD_TOO_LARGE),
            ..Rejection::invalid_request("the body is too large")
        }
    }

    /// 401 `invalid_client`: caller credentials absent or wrong, or none configured.
    pub fn invalid_client() -> Self {
        Rejection::from(Error::new(
            ErrorKind::InvalidClient,
            "client authentication failed: send HTTP Basic credentials of a configured caller",
        ))
    }

    /// 403 `cross_origin`: an unsafe cross-origin browser request refused by the CSRF check.
    pub fn cross_origin() -> Self {
        Rejection::from(Error::new(
            ErrorKind::CrossOrigin,
            "cross-origin request refused: unsafe methods are accepted from the same origin or a trusted one",
        ))
    }

    /// The error behind the rejection.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The HTTP status (see the table on [`Rejection`]).
    pub fn status(&self) -> StatusCode {
        if let Some(status) = self.status {
            return status;
        }
        match self.error.kind() {
            ErrorKind::CrossOrigin => StatusCode::FORBIDDEN,
            kind => StatusCode::from_u16(kind.class().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// The OAuth error code of the body's `error` member.
    pub fn code(&self) -> &'static str {
        match self.error.kind() {
            ErrorKind::InvalidClient => "invalid_client",
            ErrorKind::UnauthorizedClient => "unauthorized_client",
            ErrorKind::UnsupportedTokenType => "unsupported_token_type",
            ErrorKind::CrossOrigin => "invalid_request",
            kind => match kind.class() {
                Class::Rejected => "invalid_token",
                Class::Usage => "invalid_request",
                Class::Environment => "temporarily_unavailable",
            },
        }
    }

    /// The JSON body. Its `error_description` is the error's message without the advice meant
    /// for the command line (flags, `tollgate …` commands, environment variables), which an
    /// HTTP client cannot follow.
    pub fn body(&self) -> Value {
        let error = &self.error;
        let mut body = Map::new();
        let description = if error.class() == Class::Environment {
            match error.kind() {
                ErrorKind::StoreUnavailable => {
                    "the revocation store is unavailable, so the token cannot be checked; try again later"
                }
                ErrorKind::BadKey => "the server's keyring is unavailable; try again later",
                _ => "the server cannot answer right now; try again later",
            }
            .to_owned()
        } else {
            for (key, value) in error.context() {
                body.insert((*key).to_owned(), value.clone());
            }
            if error.all().count() > 1 {
                body.insert(
                    "errors".into(),
                    error.all().map(Error::to_json).collect::<Vec<_>>().into(),
                );
            }
            http_description(error.message())
        };
        body.insert("error".into(), self.code().into());
        body.insert("error_description".into(), description.into());
        body.insert("kind".into(), error.kind().as_str().into());
        Value::Object(body)
    }

    fn challenge(&self) -> Option<HeaderValue> {
        let kind = self.error.kind();
        match kind {
            ErrorKind::InvalidClient => Some(HeaderValue::from_static("Basic realm=\"tollgate\"")),
            ErrorKind::MissingToken => Some(HeaderValue::from_static("Bearer")),
            ErrorKind::UnauthorizedClient
            | ErrorKind::CrossOrigin
            | ErrorKind::UnsupportedTokenType => None,
            // Kind strings are snake_case ASCII: safe inside a quoted-string.
            _ if kind.class() == Class::Rejected => HeaderValue::from_str(&format!(
                "Bearer error=\"invalid_token\", error_description=\"token rejected: {}\"",
                kind.as_str()
            ))
            .ok(),
            _ if kind.class() == Class::Usage && self.bearer => {
                Some(HeaderValue::from_static("Bearer error=\"invalid_request\""))
            }
            _ => None,
        }
    }
}

impl From<Error> for Rejection {
    /// The rejection of an error met while authenticating a request's bearer credentials.
    fn from(error: Error) -> Self {
        Rejection {
            error,
            status: None,
            bearer: true,
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self.error.class() {
            Class::Environment => {
                // Every request while the store is down lands here: one line a second at most.
                static FAIL_CLOSED: LogLimit = LogLimit::per_second();
                if let Some(suppressed) = FAIL_CLOSED.admit() {
                    tracing::warn!(
                        kind = self.kind().as_str(),
                        error = %self.error,
                        suppressed,
                        "request refused: fail closed"
                    );
                }
            }
            _ => tracing::debug!(kind = self.kind().as_str(), "request refused"),
        }
        let status = self.status();
        let challenge = self.challenge();
        let mut response = super::json_response(status, &self.body());
        let headers = response.headers_mut();
        if let Some(challenge) = challenge {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// `message` without its clauses (separated by `; `) that advise command-line flags, `tollgate`
/// commands or environment variables: what happened stays, advice for another entry point goes.
fn http_description(message: &str) -> String {
    let cli_advice = |clause: &str| {
        clause.contains("--")
            || clause.contains("`tollgate")
            || clause.contains("TOLLGATE_")
            || clause.contains("tollgate keys")
    };
    let mut clauses = message.split("; ");
    let first = clauses.next().unwrap_or_default();
    let mut out = if cli_advice(first) {
        // Keep the part before the parenthesised flag list, if any.
        first
            .split(" (--")
            .next()
            .unwrap_or(first)
            .trim_end()
            .to_owned()
    } else {
        first.to_owned()
    };
    for clause in clauses.filter(|c| !cli_advice(c)) {
        out.push_str("; ");
        out.push_str(clause);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_descriptions_drop_advice_for_the_command_line() {
        assert_eq!(
            http_description(
                "token is meant for audience \"api\", but no audience is configured; pass that \
                 audience (--aud) to accept it"
            ),
            "token is meant for audience \"api\", but no audience is configured"
        );
        assert_eq!(
            http_description(
                "no key with kid \"k\" in the keyring; see `tollgate keys list` or import the issuer's JWKS"
            ),
            "no key with kid \"k\" in the keyring"
        );
        assert_eq!(
            http_description("an audience is expected (--aud, --audience or TOLLGATE_AUDIENCE)"),
            "an audience is expected"
        );
        // Advice an HTTP client can follow stays.
        assert_eq!(
            http_description("token expired at 2027-01-01 00:00:00 UTC; refresh or mint a new one"),
            "token expired at 2027-01-01 00:00:00 UTC; refresh or mint a new one"
        );
        let r = Rejection::from(Error::new(
            ErrorKind::BadAudience,
            "token is meant for audience \"api\"; pass that audience (--aud) to accept it",
        ));
        assert!(
            !r.body()["error_description"]
                .as_str()
                .unwrap()
                .contains("--aud")
        );
    }

    #[test]
    fn every_class_has_its_status_code_and_shape() {
        let expired =
            Rejection::from(Error::new(ErrorKind::Expired, "token expired").with_context("exp", 5));
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        let body = expired.body();
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["kind"], "expired");
        assert_eq!(body["error_description"], "token expired");
        assert_eq!(body["exp"], 5);

        let usage = Rejection::invalid_request("bad body");
        assert_eq!(usage.status(), StatusCode::BAD_REQUEST);
        assert_eq!(usage.body()["error"], "invalid_request");
        assert_eq!(usage.body()["kind"], "usage");
        assert!(usage.challenge().is_none());
        assert_eq!(
            Rejection::too_large().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );

        let down = Rejection::from(
            Error::new(
                ErrorKind::StoreUnavailable,
                "store redis://secret@x unreachable",
            )
            .with_context("store", "redis://secret@x"),
        );
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = down.body();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert!(
            body.get("store").is_none(),
            "no store address leaks: {body}"
        );
        assert!(!body.to_string().contains("secret"));

        let client = Rejection::invalid_client();
        assert_eq!(client.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(client.body()["error"], "invalid_client");
        assert_eq!(
            client.challenge().unwrap(),
            HeaderValue::from_static("Basic realm=\"tollgate\"")
        );
        assert_eq!(Rejection::cross_origin().status(), StatusCode::FORBIDDEN);
        assert_eq!(Rejection::missing().challenge().unwrap(), "Bearer");
    }
}
