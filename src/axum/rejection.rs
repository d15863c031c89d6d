//! [`Rejection`]: a failed authentication as an HTTP response.

use ::axum::http::{HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{Class, Error, ErrorKind};

/// Why a request was not authenticated, as a response.
///
/// | kind | status | `WWW-Authenticate` |
/// | --- | --- | --- |
/// | `missing_token` | 401 | `Bearer` (RFC 6750 §3.1: no error code when no token was sent) |
/// | `expired`, `revoked`, `bad_signature`, … (rejected) | 401 | `Bearer error="invalid_token", error_description="token rejected: <kind>"` |
/// | `usage` | 400 | `Bearer error="invalid_request"` |
/// | `store_unavailable`, `bad_key` (environment) | 503 | none |
///
/// The body is `{"error":{"kind":"…","message":"…", …context}}` (plus `"errors":[…]` when a
/// verification failed several checks). The description never contains the token. Environment
/// failures carry a generic message: the store's address and the cause are logged, not sent.
#[derive(Debug)]
pub struct Rejection {
    error: Error,
}

impl Rejection {
    /// The rejection of a request that carried no token.
    pub fn missing() -> Self {
        Rejection {
            error: Error::new(
                ErrorKind::MissingToken,
                "no access token: send Authorization: Bearer <token> or the access cookie",
            ),
        }
    }

    /// The error behind the rejection.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The HTTP status: 401, 400 or 503 by the error's [`Class`].
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.error.class().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let error = &self.error;
        if error.class() == Class::Environment {
            let message = match error.kind() {
                ErrorKind::StoreUnavailable => {
                    "the revocation store is unavailable, so the token cannot be checked; try again later"
                }
                _ => "the server's keyring is unavailable; try again later",
            };
            return json!({"error": {"kind": error.kind().as_str(), "message": message}});
        }
        let mut body = json!({"error": error.to_json()});
        if error.all().count() > 1 {
            body["errors"] = error.all().map(Error::to_json).collect();
        }
        body
    }

    fn challenge(&self) -> Option<HeaderValue> {
        let kind = self.error.kind();
        match self.error.class() {
            Class::Rejected if kind == ErrorKind::MissingToken => {
                Some(HeaderValue::from_static("Bearer"))
            }
            // Kind strings are snake_case ASCII: safe inside a quoted-string.
            Class::Rejected => HeaderValue::from_str(&format!(
                "Bearer error=\"invalid_token\", error_description=\"token rejected: {}\"",
                kind.as_str()
            ))
            .ok(),
            Class::Usage => Some(HeaderValue::from_static("Bearer error=\"invalid_request\"")),
            Class::Environment => None,
        }
    }
}

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Rejection { error }
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
                tracing::warn!(kind = self.kind().as_str(), error = %self.error, "request refused: fail closed");
            }
            _ => tracing::debug!(kind = self.kind().as_str(), "request not authenticated"),
        }
        let status = self.status();
        let challenge = self.challenge();
        let mut response = super::json_response(status, &self.body());
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
