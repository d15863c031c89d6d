//! `GET /.well-known/jwks.json`: the keyring's JWK Set.
//!
//! It holds the `next`, `active` and `verify` public keys (never private members, never
//! symmetric keys) and is served with `Cache-Control: public, max-age=N`, N being
//! [`Config::with_jwks_max_age`](super::Config::with_jwks_max_age) (300 s by default).
//!
//! # Rotation timeline
//!
//! A verifier that cached the set can hold it for N seconds, so a key must be published at
//! least N seconds before it signs: `tollgate keys rotate --stage` publishes the `next` key,
//! and the following `tollgate keys rotate`, at least N seconds later (plus whatever caches sit
//! between), promotes it. The old key stays in the set (as `verify`) until every token it
//! signed has expired, so dropping it from caches late is harmless.

use ::axum::extract::State;
use ::axum::http::{HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};

use super::App;
use crate::axum::Rejection;

/// `GET /.well-known/jwks.json`.
pub(crate) async fn jwks(State(app): State<App>) -> Response {
    let keyring = match app.gate().keyring() {
        Ok(keyring) => keyring,
        Err(e) => return Rejection::from(e).into_response(),
    };
    let Ok(body) = serde_json::to_vec(&keyring.jwks()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let cache = HeaderValue::try_from(format!(
        "public, max-age={}",
        app.config().jwks_max_age.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, cache),
            // Public keys: any page may fetch them.
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        body,
    )
        .into_response()
}
