//! `/metrics`: counters and a latency histogram in the Prometheus text format (0.0.4),
//! written by hand from atomics.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `tollgate_verifications_total` | counter | `result`: `valid` or an error kind |
//! | `tollgate_introspections_total` | counter | `active`: `true`/`false` |
//! | `tollgate_revocations_total` | counter | `scope`: `token`, `session`, `user`, `key`, `global` |
//! | `tollgate_store_errors_total` | counter | |
//! | `tollgate_caller_refusals_total` | counter | |
//! | `tollgate_session_events_total` | counter | `event`: `login`, `refresh`, `logout`, `logout_all` |
//! | `tollgate_refresh_reuse_detections_total` | counter | (each one revoked its session) |
//! | `tollgate_keyring_generation` | gauge | (1 at start, +1 per reload) |
//! | `tollgate_keyring_reload_errors_total` | counter | (each failed check; the keyring is unusable meanwhile) |
//! | `tollgate_keyring_usable` | gauge | 1, or 0 while the keyring cannot be read or loaded (every verification answers 503) |
//! | `tollgate_callers_reload_errors_total` | counter | (each failed check of the credentials file; no caller is accepted meanwhile) |
//! | `tollgate_http_request_duration_seconds` | histogram | `route` (the matched route, never a raw path) |
//!
//! The verified-token cache: `tollgate_verify_cache_hits_total`, `_misses_total`,
//! `_evictions_total` (counters), `tollgate_verify_cache_entries` and `_bytes` (gauges).
//!
//! Over a store with a replica, also `tollgate_replica_fresh` (gauge, 1 while checks answer
//! from memory), `tollgate_replica_max_staleness_seconds`, `tollgate_replica_last_sync_age_seconds`
//! (-1 before the first sync), `tollgate_replica_entries`, and the counters
//! `tollgate_replica_loads_total`, `tollgate_replica_resyncs_total` and
//! `tollgate_replica_strict_checks_total` (checks the store answered because the replica was stale).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use ::axum::extract::{MatchedPath, Request, State};
use ::axum::http::{HeaderValue, header};
use ::axum::middleware::Next;
use ::axum::response::{IntoResponse, Response};

use super::App;
use crate::error::{Error, ErrorKind, Result};
use crate::store::Scope;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    /// Per bucket (not cumulative), then the overflow.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        // Saturating float-to-int cast: a negative or absurd value cannot wrap.
        let micros = (seconds * 1e6) as u64;
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// A session endpoint's success, counted by [`Metrics::session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A session started (`/session/login`, the demo's login).
    Login,
    /// A refresh token was rotated (or replayed within the grace window).
    Refresh,
    /// One session ended.
    Logout,
    /// Every session of a user ended.
    LogoutAll,
}

impl SessionEvent {
    /// Every event, in the order of the exposition.
    pub const ALL: [SessionEvent; 4] = [
        SessionEvent::Login,
        SessionEvent::Refresh,
        SessionEvent::Logout,
        SessionEvent::LogoutAll,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEvent::Login => "login",
            SessionEvent::Refresh => "refresh",
            SessionEvent::Logout => "logout",
            SessionEvent::LogoutAll => "logout_all",
        }
    }
}

/// The service's counters.
#[derive(Default)]
pub struct Metrics {
    /// Index 0 is `valid`, then one per [`ErrorKind::ALL`].
    verifications: [AtomicU64; ErrorKind::ALL.len() + 1],
    introspections: [AtomicU64; 2],
    revocations: [AtomicU64; Scope::ALL.len()],
    store_errors: AtomicU64,
    caller_refusals: AtomicU64,
    sessions: [AtomicU64; SessionEvent::ALL.len()],
    refresh_reuses: AtomicU64,
    keyring_generation: AtomicU64,
    keyring_reload_errors: AtomicU64,
    /// 1 while the keyring cannot be used (0 by default: usable).
    keyring_unusable: AtomicU64,
    callers_reload_errors: AtomicU64,
    latency: RwLock<BTreeMap<String, Arc<Histogram>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Zeroed counters, keyring generation 1.
    pub fn new() -> Self {
        let metrics = Metrics::default();
        metrics.keyring_generation.store(1, Ordering::Relaxed);
        metrics
    }

    /// Counts a verification by its result (and a store error when it is one).
    pub fn verification<T>(&self, result: &Result<T>) {
        let i = match result {
            Ok(_) => 0,
            Err(e) => {
                self.error(e);
                ErrorKind::ALL
                    .iter()
                    .position(|k| *k == e.kind())
                    .map_or(0, |p| p + 1)
            }
        };
        self.verifications[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a successful verification.
    pub fn verified(&self) {
        self.verifications[0].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a verification refused with `kind`.
    pub fn refused(&self, kind: ErrorKind) {
        let i = ErrorKind::ALL
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |p| p + 1);
        self.verifications[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error: store errors are counted apart.
    pub fn error(&self, error: &Error) {
        if error.is_store_unavailable() {
            self.store_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an introspection answer.
    pub fn introspection(&self, active: bool) {
        self.introspections[usize::from(active)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a stored revocation.
    pub fn revocation(&self, scope: Scope) {
        self.revocations[scope_index(scope)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refused caller.
    pub fn caller_refused(&self) {
        self.caller_refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a session endpoint's success.
    pub fn session(&self, event: SessionEvent) {
        let i = SessionEvent::ALL
            .iter()
            .position(|e| *e == event)
            .unwrap_or(0);
        self.sessions[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a detected refresh-token reuse (the session was revoked).
    pub fn refresh_reused(&self) {
        self.refresh_reuses.fetch_add(1, Ordering::Relaxed);
    }

    /// Refresh-token reuses detected so far.
    pub fn refresh_reuses(&self) -> u64 {
        self.refresh_reuses.load(Ordering::Relaxed)
    }

    /// Counts a keyring reload.
    pub fn keyring_reloaded(&self) -> u64 {
        self.keyring_generation.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a failed keyring reload.
    pub fn keyring_reload_failed(&self) {
        self.keyring_reload_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Records whether the keyring can be used (the gauge `tollgate_keyring_usable`).
    pub fn keyring_usable(&self, usable: bool) {
        self.keyring_unusable
            .store(u64::from(!usable), Ordering::Relaxed);
    }

    /// Counts a failed check of the caller credentials file.
    pub fn callers_reload_failed(&self) {
        self.callers_reload_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The keyring generation: 1 at start, +1 per reload.
    pub fn keyring_generation(&self) -> u64 {
        self.keyring_generation.load(Ordering::Relaxed)
    }

    /// Records one request's latency under its route.
    pub fn observe(&self, route: &str, seconds: f64) {
        let found = self
            .latency
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
            .cloned();
        let histogram = match found {
            Some(h) => h,
            None => self
                .latency
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(route.to_owned())
                .or_default()
                .clone(),
        };
        histogram.observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP tollgate_verifications_total Access-token verifications by result (valid or the error kind).\n\
             # TYPE tollgate_verifications_total counter"
        );
        let results = std::iter::once("valid").chain(ErrorKind::ALL.iter().map(|k| k.as_str()));
        for (name, counter) in results.zip(&self.verifications) {
            let _ = writeln!(
                out,
                "tollgate_verifications_total{{result=\"{name}\"}} {}",
                get(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_introspections_total RFC 7662 introspection answers.\n\
             # TYPE tollgate_introspections_total counter\n\
             tollgate_introspections_total{{active=\"false\"}} {}\n\
             tollgate_introspections_total{{active=\"true\"}} {}",
            get(&self.introspections[0]),
            get(&self.introspections[1])
        );
        let _ = writeln!(
            out,
            "# HELP tollgate_revocations_total Revocations stored, by scope.\n\
             # TYPE tollgate_revocations_total counter"
        );
        for scope in Scope::ALL {
            let _ = writeln!(
                out,
                "tollgate_revocations_total{{scope=\"{}\"}} {}",
                scope.as_str(),
                get(&self.revocations[scope_index(scope)])
            );
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_session_events_total Session endpoint successes, by event.\n\
             # TYPE tollgate_session_events_total counter"
        );
        for (event, counter) in SessionEvent::ALL.iter().zip(&self.sessions) {
            let _ = writeln!(
                out,
                "tollgate_session_events_total{{event=\"{}\"}} {}",
                event.as_str(),
                get(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_refresh_reuse_detections_total Refresh tokens presented again after their rotation (theft); each revoked its session.\n\
             # TYPE tollgate_refresh_reuse_detections_total counter\n\
             tollgate_refresh_reuse_detections_total {}",
            get(&self.refresh_reuses)
        );
        let _ = writeln!(
            out,
            "# HELP tollgate_store_errors_total Store failures (each one failed its request closed).\n\
             # TYPE tollgate_store_errors_total counter\n\
             tollgate_store_errors_total {}\n\
             # HELP tollgate_caller_refusals_total Callers refused by the trusted endpoints.\n\
             # TYPE tollgate_caller_refusals_total counter\n\
             tollgate_caller_refusals_total {}\n\
             # HELP tollgate_keyring_generation Keyring generation: 1 at start, +1 per reload.\n\
             # TYPE tollgate_keyring_generation gauge\n\
             tollgate_keyring_generation {}\n\
             # HELP tollgate_keyring_reload_errors_total Keyring checks that failed (nothing verifies meanwhile).\n\
             # TYPE tollgate_keyring_reload_errors_total counter\n\
             tollgate_keyring_reload_errors_total {}\n\
             # HELP tollgate_keyring_usable 1, or 0 while the keyring cannot be read or loaded (verification answers 503).\n\
             # TYPE tollgate_keyring_usable gauge\n\
             tollgate_keyring_usable {}\n\
             # HELP tollgate_callers_reload_errors_total Checks of the caller credentials file that failed (no caller is accepted meanwhile).\n\
             # TYPE tollgate_callers_reload_errors_total counter\n\
             tollgate_callers_reload_errors_total {}",
            get(&self.store_errors),
            get(&self.caller_refusals),
            get(&self.keyring_generation),
            get(&self.keyring_reload_errors),
            1 - get(&self.keyring_unusable).min(1),
            get(&self.callers_reload_errors)
        );
        let _ = writeln!(
            out,
            "# HELP tollgate_http_request_duration_seconds Request latency by route.\n\
             # TYPE tollgate_http_request_duration_seconds histogram"
        );
        let latency = self.latency.read().unwrap_or_else(|p| p.into_inner());
        for (route, h) in latency.iter() {
            let route = route.replace('\\', "\\\\").replace('"', "\\\"");
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&h.counts) {
                cumulative += get(count);
                let _ = writeln!(
                    out,
                    "tollgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += get(&h.counts[BUCKETS.len()]);
            let _ = writeln!(
                out,
                "tollgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}\n\
                 tollgate_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 tollgate_http_request_duration_seconds_count{{route=\"{route}\"}} {cumulative}",
                get(&h.sum_micros) as f64 / 1e6
            );
        }
        out
    }
}

fn scope_index(scope: Scope) -> usize {
    Scope::ALL.iter().position(|s| *s == scope).unwrap_or(0)
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(app): State<App>) -> Response {
    let mut text = app.metrics().render();
    text.push_str(&render_cache(&app.gate().cache_stats()));
    if let Some(replica) = app.gate().store().replica() {
        text.push_str(&render_replica(replica));
    }
    #[cfg(feature = "remote")]
    text.push_str(&render_issuers(app.gate().remote_issuers()));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// The verified-token cache's counters.
fn render_cache(stats: &crate::gate::CacheStats) -> String {
    format!(
        "# HELP tollgate_verify_cache_hits_total Verifications answered from the verified-token cache (exp and revocation still checked).\n\
         # TYPE tollgate_verify_cache_hits_total counter\n\
         tollgate_verify_cache_hits_total {}\n\
         # HELP tollgate_verify_cache_misses_total Verifications of the keyring's tokens that needed the signature.\n\
         # TYPE tollgate_verify_cache_misses_total counter\n\
         tollgate_verify_cache_misses_total {}\n\
         # HELP tollgate_verify_cache_evictions_total Entries pushed out of the verified-token cache by its bounds.\n\
         # TYPE tollgate_verify_cache_evictions_total counter\n\
         tollgate_verify_cache_evictions_total {}\n\
         # HELP tollgate_verify_cache_entries Tokens in the verified-token cache.\n\
         # TYPE tollgate_verify_cache_entries gauge\n\
         tollgate_verify_cache_entries {}\n\
         # HELP tollgate_verify_cache_bytes Estimated bytes of the verified-token cache.\n\
         # TYPE tollgate_verify_cache_bytes gauge\n\
         tollgate_verify_cache_bytes {}\n",
        stats.hits, stats.misses, stats.evictions, stats.entries, stats.weight
    )
}

/// The replica in front of the store: whether it answers from memory, how far behind it may be,
/// and how often checks went to the store instead.
fn render_replica(replica: &crate::store::Replica<crate::store::Store>) -> String {
    let f = replica.freshness();
    let config = replica.config();
    let age = f.last_sync_millis.map_or(-1.0, |t| {
        (config.clock().now_millis() - t).max(0) as f64 / 1000.0
    });
    format!(
        "# HELP tollgate_replica_fresh 1 while verification answers from the local replica of the denylist, 0 while checks go to the store.\n\
         # TYPE tollgate_replica_fresh gauge\n\
         tollgate_replica_fresh {}\n\
         # HELP tollgate_replica_max_staleness_seconds The staleness bound: a feed silent this long sends checks to the store.\n\
         # TYPE tollgate_replica_max_staleness_seconds gauge\n\
         tollgate_replica_max_staleness_seconds {}\n\
         # HELP tollgate_replica_last_sync_age_seconds Seconds since the feed last proved the replica current (-1: never).\n\
         # TYPE tollgate_replica_last_sync_age_seconds gauge\n\
         tollgate_replica_last_sync_age_seconds {age}\n\
         # HELP tollgate_replica_entries Entries in the local replica of the denylist.\n\
         # TYPE tollgate_replica_entries gauge\n\
         tollgate_replica_entries {}\n\
         # HELP tollgate_replica_loads_total Full loads of the denylist (start and after a stale spell).\n\
         # TYPE tollgate_replica_loads_total counter\n\
         tollgate_replica_loads_total {}\n\
         # HELP tollgate_replica_resyncs_total Periodic anti-entropy reloads merged in.\n\
         # TYPE tollgate_replica_resyncs_total counter\n\
         tollgate_replica_resyncs_total {}\n\
         # HELP tollgate_replica_strict_checks_total Checks answered by the store because the replica was stale.\n\
         # TYPE tollgate_replica_strict_checks_total counter\n\
         tollgate_replica_strict_checks_total {}\n",
        u8::from(f.fresh),
        config.max_staleness().as_secs_f64(),
        replica.len(),
        f.loads,
        f.resyncs,
        f.strict_checks,
    )
}

/// The trusted issuers' JWK Sets: keys served, whether stale, fetches and failures.
#[cfg(feature = "remote")]
fn render_issuers(issuers: &[crate::keys::RemoteJwks]) -> String {
    use std::fmt::Write as _;
    if issuers.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "# HELP tollgate_jwks_keys Keys in a trusted issuer's cached JWK Set (0: none served).\n\
         # TYPE tollgate_jwks_keys gauge\n",
    );
    let statuses: Vec<_> = issuers
        .iter()
        .map(crate::keys::RemoteJwks::status)
        .collect();
    let label = |s: &crate::keys::RemoteStatus| {
        // Label values escape backslash, quote and newline (the text format).
        s.issuer
            .as_deref()
            .unwrap_or(&s.url)
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    for s in &statuses {
        let _ = writeln!(
            out,
            "tollgate_jwks_keys{{issuer=\"{}\"}} {}",
            label(s),
            s.keys
        );
    }
    out.push_str(
        "# HELP tollgate_jwks_stale 1 while a trusted issuer's JWK Set is served past its \
         expiry because refreshing it failed.\n# TYPE tollgate_jwks_stale gauge\n",
    );
    for s in &statuses {
        let _ = writeln!(
            out,
            "tollgate_jwks_stale{{issuer=\"{}\"}} {}",
            label(s),
            u8::from(s.stale)
        );
    }
    out.push_str(
        "# HELP tollgate_jwks_fetches_total JWK Set fetches tried.\n\
         # TYPE tollgate_jwks_fetches_total counter\n",
    );
    for s in &statuses {
        let _ = writeln!(
            out,
            "tollgate_jwks_fetches_total{{issuer=\"{}\"}} {}",
            label(s),
            s.fetches
        );
    }
    out.push_str(
        "# HELP tollgate_jwks_fetch_failures_total JWK Set fetches that failed.\n\
         # TYPE tollgate_jwks_fetch_failures_total counter\n",
    );
    for s in &statuses {
        let _ = writeln!(
            out,
            "tollgate_jwks_fetch_failures_total{{issuer=\"{}\"}} {}",
            label(s),
            s.failures
        );
    }
    out
}

/// Middleware timing every routed request under its matched route.
pub(crate) async fn track(State(app): State<App>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    app.metrics().observe(&route, elapsed.as_secs_f64());
    // The route and status only: never a header, a query or a body.
    tracing::debug!(%method, route, status = response.status().as_u16(), micros = elapsed.as_micros() as u64, "request");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family_and_cumulative_buckets() {
        let m = Metrics::new();
        m.verification::<()>(&Ok(()));
        m.verification::<()>(&Err(Error::new(ErrorKind::Expired, "x")));
        m.verification::<()>(&Err(Error::new(ErrorKind::StoreUnavailable, "x")));
        m.introspection(true);
        m.revocation(Scope::Token);
        m.session(SessionEvent::Refresh);
        m.refresh_reused();
        m.observe("/introspect", 0.0003);
        m.observe("/introspect", 0.2);
        m.observe("/introspect", 9.0);
        let text = m.render();
        for line in [
            "tollgate_verifications_total{result=\"valid\"} 1",
            "tollgate_verifications_total{result=\"expired\"} 1",
            "tollgate_verifications_total{result=\"store_unavailable\"} 1",
            "tollgate_store_errors_total 1",
            "tollgate_introspections_total{active=\"true\"} 1",
            "tollgate_revocations_total{scope=\"token\"} 1",
            "tollgate_session_events_total{event=\"refresh\"} 1",
            "tollgate_session_events_total{event=\"login\"} 0",
            "tollgate_refresh_reuse_detections_total 1",
            "tollgate_keyring_generation 1",
            "tollgate_http_request_duration_seconds_bucket{route=\"/introspect\",le=\"0.0005\"} 1",
            "tollgate_http_request_duration_seconds_bucket{route=\"/introspect\",le=\"0.25\"} 2",
            "tollgate_http_request_duration_seconds_bucket{route=\"/introspect\",le=\"+Inf\"} 3",
            "tollgate_http_request_duration_seconds_count{route=\"/introspect\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }
}
