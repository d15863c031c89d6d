//! `RemoteJwks` (feature `remote`) against real servers on free loopback ports, started and
//! stopped by each test (issuer.rs): caching by `Cache-Control`, refetch on an unknown kid
//! within the cooldown, one fetch for many callers, stale-if-error, the refusals (redirects,
//! status, size, time, plain http, private members), HTTPS with a test CA, and a token verified
//! end to end.
//!
//! Times are real (short cache bounds and cooldowns, real sleeps); assertions are on request
//! counts and error kinds, never on how long something took.

mod cache;
mod issuer;
mod refusals;
mod tls;
mod verify;

use std::time::Duration;

use tollgate::keys::RemoteConfig;

/// A configuration for tests: the defaults, with a short timeout so that a failure is quick.
pub(crate) fn config() -> RemoteConfig {
    RemoteConfig::new().with_timeout(Duration::from_secs(2))
}
