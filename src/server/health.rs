//! `GET /healthz`: 200 when the keyring is loaded and the store answers, 503 otherwise.
//!
//! Body: `{"status":"ok"|"unavailable","keyring":"ok"|"unavailable","store":"ok"|"unavailable",
//! "keyring_generation":N}`. The store is probed with one revocation check (the request path's
//! own round trip); nothing about the store's address or the failure is sent.

use ::axum::extract::State;
use ::axum::http::StatusCode;
use ::axum::response::Response;
use serde_json::json;

use super::App;
use crate::axum::json_response;
use crate::store::{RevocationStore, TokenRef};

/// `GET /healthz`.
pub(crate) async fn healthz(State(app): State<App>) -> Response {
    let gate = app.gate();
    let keyring_ok = gate.keyring().is_ok();
    let probe = TokenRef {
        jti: "healthz",
        sid: None,
        sub: "healthz",
        kid: "healthz",
        iat: 0,
    };
    let store = gate.store().check(&probe, gate.clock().now()).await;
    if let Err(e) = &store {
        app.metrics().error(e);
        tracing::warn!(error = %e, "health check: store unavailable");
    }
    let ok = keyring_ok && store.is_ok();
    let word = |good: bool| if good { "ok" } else { "unavailable" };
    json_response(
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &json!({
            "status": word(ok),
            "keyring": word(keyring_ok),
            "store": word(store.is_ok()),
            "keyring_generation": app.metrics().keyring_generation(),
        }),
    )
}
