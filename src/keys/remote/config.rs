//! [`RemoteConfig`]: the limits and cache policy of a [`RemoteJwks`](super::RemoteJwks).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::format_duration;
use crate::error::{Error, Result};

/// The longest cache time and stale limit accepted: a year (an issuer rotates sooner).
const LONGEST: Duration = Duration::from_secs(365 * 86_400);

/// Default time allowed for one fetch, connection and whole response included: 5 seconds.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest JWK Set body accepted: 256 KiB.
const DEFAULT_MAX_BODY: usize = 256 * 1024;
/// Default shortest time a fetched set is kept: 1 minute.
const DEFAULT_MIN_AGE: Duration = Duration::from_secs(60);
/// Default longest time a fetched set is kept: 24 hours.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Default time a set is kept when its response has no `max-age`: 5 minutes.
const DEFAULT_DEFAULT_MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// Default least time between two fetches for an unknown kid, or after a failed fetch:
/// 30 seconds (as panva/jose's `cooldownDuration`).
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// Default longest time an expired set is still served while its issuer cannot be reached:
/// 24 hours past its expiry.
const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 3600);

/// How a [`RemoteJwks`](super::RemoteJwks) fetches and caches: timeouts, sizes, cache bounds,
/// the refetch cooldown, stale-if-error, and the CA certificates trusted for HTTPS.
///
/// The defaults suit an identity provider on the internet; each `with_*` method replaces one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tollgate::keys::RemoteConfig;
/// let config = RemoteConfig::new()
///     .with_timeout(Duration::from_secs(2))
///     .with_cache_bounds(Duration::from_secs(30), Duration::from_secs(3600))
///     .with_cooldown(Duration::from_secs(10));
/// assert_eq!(config.timeout(), Duration::from_secs(2));
/// assert_eq!(config.max_body(), 256 * 1024);
/// assert_eq!(RemoteConfig::new().cache_bounds(), (Duration::from_secs(60), Duration::from_secs(86_400)));
/// ```
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    pub(super) timeout: Duration,
    pub(super) max_body: usize,
    pub(super) min_age: Duration,
    pub(super) max_age: Duration,
    pub(super) default_max_age: Duration,
    pub(super) cooldown: Duration,
    pub(super) max_stale: Duration,
    pub(super) ca_file: Option<PathBuf>,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig::new()
    }
}

impl RemoteConfig {
    /// The defaults: timeout 5 s, body at most 256 KiB, cache bounds 1 min to 24 h, 5 min when
    /// the response says nothing, cooldown 30 s, stale-if-error up to 24 h past expiry, and the
    /// system's root certificates.
    pub fn new() -> Self {
        RemoteConfig {
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            min_age: DEFAULT_MIN_AGE,
            max_age: DEFAULT_MAX_AGE,
            default_max_age: DEFAULT_DEFAULT_MAX_AGE,
            cooldown: DEFAULT_COOLDOWN,
            max_stale: DEFAULT_MAX_STALE,
            ca_file: None,
        }
    }

    /// The time allowed for one fetch: connecting (DNS and TLS included), sending, and reading
    /// the whole response. Defaults to 5 seconds.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes; a larger one (by its `Content-Length`, or
    /// as it streams) is refused and reading stops. Defaults to 256 KiB.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How long a fetched set is kept at least and at most: the response's `Cache-Control:
    /// max-age` (less its `Age`) is clamped into these bounds. Defaults to 1 minute and 24
    /// hours. `min` must not exceed `max`, nor `max` a year ([`RemoteJwks::new`] refuses).
    ///
    /// [`RemoteJwks::new`]: super::RemoteJwks::new
    pub fn with_cache_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_age = min;
        self.max_age = max;
        self
    }

    /// How long a set is kept when its response has no `max-age` (clamped into the cache
    /// bounds too). `no-cache` and `no-store` keep it for the lower bound. Defaults to 5
    /// minutes.
    pub fn with_default_max_age(mut self, age: Duration) -> Self {
        self.default_max_age = age;
        self
    }

    /// The least time between two fetches made because a token named a kid the cached set
    /// lacks, and between a failed fetch and the next try, across every caller of one
    /// [`RemoteJwks`](super::RemoteJwks). Defaults to 30 seconds.
    pub fn with_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How long past its expiry a set is still served when it cannot be refreshed because the
    /// issuer cannot be reached (stale-if-error, RFC 5861). Zero serves nothing stale; at most
    /// a year. Defaults to 24 hours.
    pub fn with_max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// Trusts the certificates of this PEM file for HTTPS, in addition to the system's root
    /// certificates: for an issuer behind a private CA (the CLI's `--ca-file`). The
    /// file is read by [`RemoteJwks::new`](super::RemoteJwks::new).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// The fetch timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The largest body accepted, in bytes.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// The cache bounds: (least, most).
    pub fn cache_bounds(&self) -> (Duration, Duration) {
        (self.min_age, self.max_age)
    }

    /// The cache time when a response has no `max-age`.
    pub fn default_max_age(&self) -> Duration {
        self.default_max_age
    }

    /// The refetch cooldown.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// How long past expiry a set may be served while its issuer cannot be reached.
    pub fn max_stale(&self) -> Duration {
        self.max_stale
    }

    /// The CA file, if one was given.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Refuses settings that cannot work, naming them.
    pub(super) fn check(&self) -> Result<()> {
        if self.min_age > self.max_age {
            return Err(Error::usage(format!(
                "JWKS cache bounds: the least age ({}) exceeds the most ({}); give min <= max",
                format_duration(self.min_age),
                format_duration(self.max_age)
            )));
        }
        if self.max_age > LONGEST || self.max_stale > LONGEST {
            return Err(Error::usage(format!(
                "JWKS cache bounds and stale limit are at most {}; give shorter ones",
                format_duration(LONGEST)
            )));
        }
        if self.timeout.is_zero() {
            return Err(Error::usage(
                "JWKS fetch timeout is zero; give it a positive duration (default 5s)",
            ));
        }
        if self.max_body == 0 {
            return Err(Error::usage(
                "JWKS body limit is zero; give it a positive size (default 256 KiB)",
            ));
        }
        Ok(())
    }

    /// How long a response with these `Cache-Control` values and this `Age` is kept.
    ///
    /// `max-age` less `Age`, else the default; `no-cache`/`no-store` the lower bound; always
    /// clamped into the bounds.
    pub(super) fn cache_time<'a>(
        &self,
        cache_control: impl IntoIterator<Item = &'a str>,
        age: Option<&str>,
    ) -> Duration {
        let mut max_age = None;
        let mut no_store = false;
        for directive in cache_control.into_iter().flat_map(|v| v.split(',')) {
            let (name, value) = match directive.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                no_store = true;
            } else if name.eq_ignore_ascii_case("max-age") {
                // An unreadable max-age is ignored (RFC 9111 §4.2.1 treats it as stale; the
                // lower bound below keeps that from turning into a fetch per call).
                max_age = max_age.or(value.and_then(|v| v.parse::<u64>().ok()));
            }
        }
        let chosen = if no_store {
            self.min_age
        } else if let Some(secs) = max_age {
            let age = age.and_then(|a| a.trim().parse::<u64>().ok()).unwrap_or(0);
            Duration::from_secs(secs.saturating_sub(age))
        } else {
            self.default_max_age
        };
        chosen.clamp(self.min_age, self.max_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(config: &RemoteConfig, values: &[&str], age: Option<&str>) -> u64 {
        config.cache_time(values.iter().copied(), age).as_secs()
    }

    #[test]
    fn max_age_is_clamped_into_the_bounds() {
        let config = RemoteConfig::new();
        assert_eq!(secs(&config, &["public, max-age=600"], None), 600);
        assert_eq!(secs(&config, &["max-age=5"], None), 60);
        assert_eq!(secs(&config, &["max-age=999999999"], None), 86_400);
        assert_eq!(secs(&config, &["MAX-AGE=\"120\""], None), 120);
    }

    #[test]
    fn age_is_subtracted_from_max_age() {
        let config = RemoteConfig::new();
        assert_eq!(secs(&config, &["max-age=600"], Some("100")), 500);
        assert_eq!(secs(&config, &["max-age=600"], Some("900")), 60);
        assert_eq!(secs(&config, &["max-age=600"], Some("x")), 600);
    }

    #[test]
    fn no_max_age_takes_the_default_and_no_store_the_minimum() {
        let config = RemoteConfig::new();
        assert_eq!(secs(&config, &[], None), 300);
        assert_eq!(secs(&config, &["public"], None), 300);
        assert_eq!(secs(&config, &["max-age=soon"], None), 300);
        assert_eq!(secs(&config, &["no-store"], None), 60);
        assert_eq!(secs(&config, &["max-age=600", "no-cache"], None), 60);
        let short = RemoteConfig::new()
            .with_cache_bounds(Duration::from_secs(1), Duration::from_secs(10))
            .with_default_max_age(Duration::from_secs(300));
        assert_eq!(secs(&short, &[], None), 10);
    }

    #[test]
    fn bounds_out_of_order_are_a_usage_error() {
        let config =
            RemoteConfig::new().with_cache_bounds(Duration::from_secs(10), Duration::from_secs(5));
        let err = config.check().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Usage);
        assert!(RemoteConfig::new().check().is_ok());
    }
}
