//! The OAuth side of the service: the form bodies of introspection (RFC 7662) and revocation
//! (RFC 7009). Their errors are [`Rejection`]s, like every error of the service.

use ::axum::extract::rejection::FormRejection;
use ::axum::extract::{Form, FromRequest, Request};
use ::axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::axum::Rejection;

/// An `application/x-www-form-urlencoded` body whose every failure is an OAuth
/// `invalid_request` (400; 413 when over the body limit), never axum's 415 or 422.
#[derive(Debug, Clone)]
pub struct OAuthForm<T>(pub T);

impl<S, T> FromRequest<S> for OAuthForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Rejection> {
        match Form::<T>::from_request(request, state).await {
            Ok(Form(value)) => Ok(OAuthForm(value)),
            Err(rejection) => Err(form_error(&rejection)),
        }
    }
}

fn form_error(rejection: &FormRejection) -> Rejection {
    match rejection {
        FormRejection::InvalidFormContentType(_) => {
            Rejection::invalid_request("the body must be application/x-www-form-urlencoded")
        }
        FormRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Rejection::too_large()
        }
        FormRejection::BytesRejection(_) => {
            Rejection::invalid_request("the body could not be read")
        }
        // Deserialization errors, whose text could quote the body, are not echoed.
        _ => Rejection::invalid_request(
            "malformed form body: send token=… (and optionally token_type_hint=…, client_id=…, client_secret=…), each once",
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
    /// The caller's id, when it authenticates with `client_secret_post` (RFC 6749 §2.3.1).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The caller's secret, with `client_id` (`client_secret_post`).
    #[serde(default)]
    pub client_secret: Option<String>,
}

impl TokenRequest {
    /// The token, or `invalid_request` when it is empty.
    ///
    /// # Errors
    ///
    /// 400 `invalid_request` for an empty token.
    pub fn token(&self) -> Result<&str, Rejection> {
        let token = self.token.trim();
        if token.is_empty() {
            return Err(Rejection::invalid_request("the token parameter is empty"));
        }
        Ok(token)
    }
}
