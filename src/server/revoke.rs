//! `POST /revoke`: RFC 7009 token revocation for callers authenticated with their client
//! credentials.
//!
//! The token is denylisted until it expires through [`Gate::revoke_token`](crate::Gate::revoke_token):
//! its signature must verify; its time, audience and issuer do not matter. The answer is 200
//! with an empty body for every token, including unknown, invalid and expired ones (RFC 7009
//! §2.2: the caller cannot do anything about them, and the answer reveals nothing); 503 when
//! the store cannot record the revocation (§2.2.1), so the caller knows to retry; 400
//! `unsupported_token_type` for a valid token of another issuer that carries no `jti` and so
//! cannot be revoked on its own.
//!
//! A refresh token (recognised by its `tgr1.` prefix, so `token_type_hint` is not needed) ends
//! its session, as RFC 7009 §2.1 recommends: the session's refresh tokens die and its live
//! access tokens are revoked. Only a genuine token does that (the session's current one or
//! the one it replaced); a forged one, like an unknown one, is answered 200 and ends nothing.
//!
//! Any caller allowed to revoke (permission `revoke`, see [`Permission`](super::Permission))
//! may revoke any token: callers are trusted backends, and tokens are not bound to a client.
//! Others are answered 400 `unauthorized_client`.

use ::axum::extract::State;
use ::axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use ::axum::response::{IntoResponse, Response};

use super::App;
use super::caller::Caller;
use super::clients::Permission;
use super::oauth::{OAuthForm, TokenRequest};
use crate::axum::Rejection;
use crate::error::{Class, ErrorKind};
use crate::gate::Revoked;
use crate::store::Scope;

/// `POST /revoke`.
pub(crate) async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    OAuthForm(request): OAuthForm<TokenRequest>,
) -> Response {
    let caller = match Caller::allowed(
        &app,
        &headers,
        uri.path(),
        (
            request.client_id.as_deref(),
            request.client_secret.as_deref(),
        ),
        Permission::Revoke,
    ) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let token = match request.token() {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    match app.gate().revoke_token(token).await {
        Ok(Revoked::Stored { jti, .. }) => {
            app.metrics().revocation(Scope::Token);
            tracing::info!(client = %caller.client_id, jti = %crate::error::quoted(&jti), "revoked by caller");
        }
        Ok(Revoked::SessionEnded { .. }) => {
            app.metrics().revocation(Scope::Session);
            tracing::info!(client = %caller.client_id, "session ended by caller (refresh token revoked)");
        }
        Ok(Revoked::AlreadyExpired { .. } | Revoked::Scope { .. }) => {}
        // A valid token that cannot be revoked: never a 200, which would say it was.
        Err(e)
            if e.class() == Class::Environment || e.kind() == ErrorKind::UnsupportedTokenType =>
        {
            app.metrics().error(&e);
            return Rejection::from(e).into_response();
        }
        Err(e) => {
            tracing::debug!(client = %caller.client_id, kind = e.kind().as_str(), "revocation of an invalid token ignored");
        }
    }
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
    )
        .into_response()
}
