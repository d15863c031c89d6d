//! `POST /introspect`: RFC 7662 token introspection for callers authenticated with their
//! client credentials.
//!
//! A valid access token (signature, type, time, issuer, audience, and not revoked) answers
//! `{"active":true, …}` with its claims: `sub`, `exp`, `iat`, `nbf`, `jti`, `sid`, `aud`, `iss`,
//! every application claim (such as `scope`, `client_id` or `role`), `token_type:
//! "access_token"` and the signing key's `kid`. Any other token answers `{"active":false}` and
//! nothing more: the caller learns neither why nor what the token says. When the store cannot
//! be asked the answer is 503 (`temporarily_unavailable`, kind `store_unavailable`), never
//! `active`.
//!
//! `token_type_hint` is accepted and, as RFC 7662 §2.1 allows, ignored: only access tokens are
//! introspected for now.

use ::axum::extract::State;
use ::axum::http::StatusCode;
use ::axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::App;
use super::clients::Caller;
use super::oauth::{OAuthError, OAuthForm, TokenRequest};
use crate::axum::json_response;
use crate::error::Class;
use crate::token::Verified;

/// `POST /introspect`.
pub(crate) async fn introspect(
    State(app): State<App>,
    caller: Caller,
    OAuthForm(request): OAuthForm<TokenRequest>,
) -> Response {
    let token = match request.token() {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    let result = app.gate().verify::<Map<String, Value>>(token).await;
    app.metrics().verification(&result);
    match result {
        Ok(verified) => {
            app.metrics().introspection(true);
            tracing::debug!(client = %caller.client_id, jti = %verified.claims.jti, "introspected: active");
            json_response(StatusCode::OK, &active(&verified))
        }
        Err(e) if e.class() == Class::Environment => OAuthError::unavailable(&e).into_response(),
        Err(e) => {
            app.metrics().introspection(false);
            tracing::debug!(client = %caller.client_id, kind = e.kind().as_str(), "introspected: inactive");
            json_response(StatusCode::OK, &json!({"active": false}))
        }
    }
}

/// The RFC 7662 response for a valid token: application claims, then the registered ones
/// (which win over application claims of the same name).
fn active(verified: &Verified) -> Value {
    let mut out = verified.claims.extra.clone();
    if let Ok(Value::Object(registered)) = serde_json::to_value(&verified.claims) {
        out.extend(registered);
    }
    out.insert("active".into(), true.into());
    out.insert("token_type".into(), "access_token".into());
    if let Some(kid) = &verified.header.kid {
        out.insert("kid".into(), kid.clone().into());
    }
    Value::Object(out)
}
