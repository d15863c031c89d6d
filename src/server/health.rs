//! `GET /healthz`: 200 when the keyring is loaded and the store answers, 503 otherwise.
//!
//! Body: `{"status":"ok"|"unavailable","keyring":"ok"|"unavailable","store":"ok"|"unavailable",
//! "keyring_generation":N,"callers":"ok"|"unavailable"}`, plus `"keyring_error":"<reason>"` while
//! the keyring cannot be read or loaded (every verification answers 503 meanwhile; the reason
//! names the file and the I/O error kind, never a path or contents). `callers` is
//! `unavailable` while the credentials file cannot be read or has loose permissions (every
//! caller is refused meanwhile); it does not make the service unhealthy, since tokens still
//! verify, and with trusted issuers `"issuers":[{"issuer","keys","state":
//! "ok"|"stale"|"unavailable","fetched_at"}]` (a stale or unavailable issuer does not make the
//! service unhealthy: its tokens are refused, tollgate's own still verify), and over a replica
//! `"replica":{"fresh","max_staleness_ms","last_sync_age_ms","entries"}` (a stale replica does
//! not make the service unhealthy either: checks then go to the store, which is what is probed). The store is probed with one revocation check (the request path's
//! own round trip); nothing about the store's address or the failure is sent.

use ::axum::extract::State;
use ::axum::http::StatusCode;
use ::axum::response::Response;
use serde_json::json;

use super::App;
use crate::axum::json_response;
use crate::keys::Namespace;
use crate::store::{RevocationStore, TokenRef};

/// `GET /healthz`.
pub(crate) async fn healthz(State(app): State<App>) -> Response {
    let gate = app.gate();
    let keyring_ok = gate.keyring().is_ok();
    let keyring_error = gate.keyring_failure();
    let own = Namespace::Own;
    let probe = TokenRef {
        namespace: &own,
        jti: "healthz",
        sid: None,
        sub: "healthz",
        kid: "healthz",
        iat: Some(0),
        auth_time: None,
    };
    // Probe the store itself, not the replica in front of it (which answers from memory).
    let store = match gate.store().replica() {
        Some(replica) => replica.store().check(&probe, gate.clock().now()).await,
        None => gate.store().check(&probe, gate.clock().now()).await,
    };
    if let Err(e) = &store {
        app.metrics().error(e);
        tracing::warn!(error = %e, "health check: store unavailable");
    }
    let ok = keyring_ok && store.is_ok();
    let word = |good: bool| if good { "ok" } else { "unavailable" };
    let mut body = json!({
        "status": word(ok),
        "keyring": word(keyring_ok),
        "store": word(store.is_ok()),
        "keyring_generation": app.metrics().keyring_generation(),
        "callers": word(!app.callers_failing()),
    });
    // The replica: stale is not unhealthy (checks then go to the store, probed above).
    if let Some(replica) = gate.store().replica() {
        let f = replica.freshness();
        body["replica"] = json!({
            "fresh": f.fresh,
            "max_staleness_ms": duration_millis(replica.config().max_staleness()),
            "last_sync_age_ms": f.last_sync_millis.map(|t| (replica.config().clock().now_millis() - t).max(0)),
            "entries": replica.len(),
        });
    }
    if let Some(reason) = keyring_error {
        body["keyring_error"] = reason.into();
    }
    // Trusted issuers: their sets' state, never why a fetch failed (that is logged).
    #[cfg(feature = "remote")]
    if !gate.remote_issuers().is_empty() {
        body["issuers"] = gate
            .remote_issuers()
            .iter()
            .map(|issuer| {
                let s = issuer.status();
                let state = match (s.keys, s.stale) {
                    (0, _) => "unavailable",
                    (_, true) => "stale",
                    _ => "ok",
                };
                json!({"issuer": s.issuer, "keys": s.keys, "state": state, "fetched_at": s.fetched_at})
            })
            .collect();
    }
    json_response(
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &body,
    )
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
