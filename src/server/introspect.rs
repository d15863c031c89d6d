//! `POST /introspect`: RFC 7662 token introspection for callers authenticated with their
//! client credentials.
//!
//! A valid access token (signature, type, time, issuer, audience, and not revoked) answers
//! `{"active":true, …}` with its claims: `sub`, `exp`, `iat`, `nbf`, `jti`, `sid`, `aud`, `iss`,
//! every application claim (such as `scope`, `client_id` or `role`), `token_type: "Bearer"` and
//! the signing key's `kid`. Any other token answers `{"active":false}` and
//! nothing more: the caller learns neither why nor what the token says. When the store cannot
//! be asked the answer is 503 (`temporarily_unavailable`, kind `store_unavailable`), never
//! `active`.
//!
//! Refresh tokens are introspected too: recognised by their `tgr1.` prefix (an access token is
//! a compact JWS and never has it), so `token_type_hint` is accepted and, as RFC 7662 §2.1
//! allows, not needed. The current refresh token of a live session answers `{"active":true,
//! "token_type":"refresh_token", "sub", "sid", "exp" (when it stops working unless used),
//! "iat" (when it was issued), "remember_me", "generation"}`, with nothing secret; a spent,
//! forged or unknown one, or one whose session ended or was revoked, `{"active":false}`.
//! Introspecting a refresh token does not spend it and never counts as a reuse.
//!
//! # `token_type`
//!
//! RFC 7662 §2.2 defines `token_type` as the OAuth token type of RFC 6749 §7.1: how the token
//! is presented to a resource server. An active access token is a bearer token (RFC 6750), so
//! it answers `"Bearer"` (`"DPoP"` once sender-constrained tokens exist). A refresh token is
//! never presented to a resource server and has no such type; it answers `"refresh_token"`,
//! the name RFC 7009 §2.1 and RFC 7662 §2.1 give it as a `token_type_hint`. The two values never
//! meet: a resource server that accepts only `active` answers whose `token_type` is `"Bearer"`
//! can never take a refresh token for an access token.

use ::axum::extract::State;
use ::axum::http::{HeaderMap, StatusCode, Uri};
use ::axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::App;
use super::caller::Caller;
use super::clients::Permission;
use super::oauth::{OAuthForm, TokenRequest};
use crate::axum::Rejection;
use crate::axum::json_response;
use crate::gate::{Introspection, RefreshTokenInfo};
use crate::token::Verified;

/// `POST /introspect`.
pub(crate) async fn introspect(
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
        Permission::Introspect,
    ) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let token = match request.token() {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    let answer = match app.gate().introspect(token).await {
        Ok(answer) => answer,
        Err(e) => {
            app.metrics().error(&e);
            return Rejection::from(e).into_response();
        }
    };
    let body = match &answer {
        Introspection::Access(verified) => {
            app.metrics().verified();
            tracing::debug!(client = %caller.client_id, jti = %verified.claims.jti.as_deref().unwrap_or("-"), "introspected: active");
            active(verified)
        }
        Introspection::Refresh(info) => {
            tracing::debug!(client = %caller.client_id, "introspected a refresh token: active");
            active_refresh(info)
        }
        Introspection::Inactive { kind } => {
            if let Some(kind) = kind {
                app.metrics().refused(*kind);
            }
            tracing::debug!(client = %caller.client_id, "introspected: inactive");
            json!({"active": false})
        }
    };
    app.metrics()
        .introspection(!matches!(answer, Introspection::Inactive { .. }));
    json_response(StatusCode::OK, &body)
}

/// The `token_type` of an active access token: the OAuth token type (RFC 6749 §7.1).
const ACCESS_TOKEN_TYPE: &str = "Bearer";

/// The `token_type` of an active refresh token: the `token_type_hint` name of RFC 7009 §2.1, as
/// a refresh token has no OAuth token type (see the module docs).
const REFRESH_TOKEN_TYPE: &str = "refresh_token";

/// The RFC 7662 response for a valid access token: application claims, then the registered
/// ones (which win over application claims of the same name).
fn active(verified: &Verified) -> Value {
    let mut out = verified.claims.extra.clone();
    if let Ok(Value::Object(registered)) = serde_json::to_value(&verified.claims) {
        out.extend(registered);
    }
    out.insert("active".into(), true.into());
    out.insert("token_type".into(), ACCESS_TOKEN_TYPE.into());
    if let Some(kid) = &verified.header.kid {
        out.insert("kid".into(), kid.clone().into());
    }
    Value::Object(out)
}

/// The RFC 7662 response for the current refresh token of a live session (nothing secret).
fn active_refresh(info: &RefreshTokenInfo) -> Value {
    json!({
        "active": true,
        "token_type": REFRESH_TOKEN_TYPE,
        "sub": info.sub,
        "sid": info.sid,
        "exp": info.expires_at,
        "iat": info.issued_at,
        "remember_me": info.remember_me,
        "generation": info.generation,
    })
}
