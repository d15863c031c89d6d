//! The OAuth side of the service: form bodies and error responses of RFC 6749 §5.2, used by
//! introspection (RFC 7662) and revocation (RFC 7009).

use std::borrow::Cow;

use ::axum::extract::rejection::FormRejection;
use ::axum::extract::{Form, FromRequest, Request};
use ::axum::http::{HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::axum::json_response;
use crate::error::{Error, ErrorKind};

/// An OAuth error response: `{"error":"<code>","error_description":"…"}`.
///
/// | code | status | when |
/// | --- | --- | --- |
/// | `invalid_request` | 400 (413 for a body over the limit) | not a form body, bad form, missing `token` |
/// | `invalid_client` | 401, `WWW-Authenticate: Basic realm="tollgate"` | caller credentials absent or wrong, or none configured |
/// | `temporarily_unavailable` | 503, with `"kind"` | the store (or the keyring) cannot be used: fail closed |
#[derive(Debug, Clone)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    kind: Option<ErrorKind>,
}

impl OAuthError {
    /// 400 `invalid_request`.
    pub fn invalid_request(description: &'static str) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            description: Cow::Borrowed(description),
            kind: None,
        }
    }

    /// 413 `invalid_request`: the body is over the limit.
    pub fn too_large() -> Self {
        OAuthError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            ..OAuthError::invalid_request("the body is too large")
        }
    }

    /// 401 `invalid_client`.
    pub fn invalid_client() -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            description: Cow::Borrowed("client authentication failed"),
            kind: None,
        }
    }

    /// 503 `temporarily_unavailable` for an environment failure (logged here with its cause;
    /// the response names only its kind).
    pub fn unavailable(error: &Error) -> Self {
        tracing::warn!(kind = error.kind().as_str(), error = %error, "request failed closed");
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "temporarily_unavailable",
            description: Cow::Borrowed(match error.kind() {
                ErrorKind::StoreUnavailable => {
                    "the revocation store is unavailable; try again later"
                }
                _ => "the keyring is unavailable; try again later",
            }),
            kind: Some(error.kind()),
        }
    }

    /// Replaces the human description (never put a token or a secret in it).
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = description.into();
        self
    }

    /// The human description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The OAuth error code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error".into(), self.code.into());
        body.insert(
            "error_description".into(),
            self.description.into_owned().into(),
        );
        if let Some(kind) = self.kind {
            body.insert("kind".into(), kind.as_str().into());
        }
        let mut response = json_response(self.status, &Value::Object(body));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tollgate\""),
            );
        }
        response
    }
}

/// An `application/x-www-form-urlencoded` body whose every failure is an OAuth
/// `invalid_request` (400; 413 when over the body limit), never axum's 415 or 422.
#[derive(Debug, Clone)]
pub struct OAuthForm<T>(pub T);

impl<S, T> FromRequest<S> for OAuthForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, OAuthError> {
        match Form::<T>::from_request(request, state).await {
            Ok(Form(value)) => Ok(OAuthForm(value)),
            Err(rejection) => Err(form_error(&rejection)),
        }
    }
}

fn form_error(rejection: &FormRejection) -> OAuthError {
    match rejection {
        FormRejection::InvalidFormContentType(_) => {
            OAuthError::invalid_request("the body must be application/x-www-form-urlencoded")
        }
        FormRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            OAuthError::too_large()
        }
        FormRejection::BytesRejection(_) => {
            OAuthError::invalid_request("the body could not be read")
        }
        // Deserialization errors, whose text could quote the body, are not echoed.
        _ => OAuthError::invalid_request(
            "malformed form body: send token=… (and optionally token_type_hint=…), each once",
        ),
    }
}

/// The body of introspection and revocation requests (RFC 7662 §2.1, RFC 7009 §2.1).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenRequest {
    /// The token.
    pub token: String,
    /// `access_token` or `refresh_token`: a hint the server may ignore.
    #[serde(default)]
    pub token_type_hint: Option<String>,
}

impl TokenRequest {
    /// The token, or `invalid_request` when it is empty.
    ///
    /// # Errors
    ///
    /// 400 `invalid_request` for an empty token.
    pub fn token(&self) -> Result<&str, OAuthError> {
        let token = self.token.trim();
        if token.is_empty() {
            return Err(OAuthError::invalid_request("the token parameter is empty"));
        }
        Ok(token)
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}
