//! [`RemoteJwks`]: another issuer's JWK Set, fetched over HTTPS and cached (feature `remote`).
//!
//! The set is read by the rules of key files ([`KeySet::from_file`]): only a JWK Set is
//! accepted; a member with a private or secret part refuses the whole set; members tollgate
//! cannot verify with are skipped and counted; a set with no usable key is `bad_key`. Each key
//! is in the issuer's namespace ([`Namespace::Issuer`]) when one is configured, else in its own
//! ([`Namespace::Key`], its RFC 7638 thumbprint), with the lifetime bound of another issuer's
//! keys ([`LifetimeBound::issuer`]) and the state `verify`.
//!
//! Caching, in the manner of panva/jose's `createRemoteJWKSet`:
//! - a set is kept for its response's `Cache-Control: max-age` (less its `Age`), clamped into
//!   [`RemoteConfig::with_cache_bounds`]; without one, [`RemoteConfig::with_default_max_age`];
//! - a token whose kid the cached set lacks makes one refetch, at most once per
//!   [`RemoteConfig::with_cooldown`] across every caller (a flood of made-up kids costs the
//!   issuer one request per cooldown);
//! - one fetch is in flight at a time, and every caller that needs it waits for that one;
//!   callers served from a fresh cache never wait for a fetch;
//! - when a refresh fails because the issuer cannot be reached, the expired set is served for
//!   up to [`RemoteConfig::with_max_stale`] past its expiry (stale-if-error), and retried at
//!   most once per cooldown meanwhile; [`RemoteJwks::status`] says so. A set that arrives but
//!   is refused (`bad_key`) replaces the cached one by nothing: verification fails closed
//!   until the issuer publishes a usable set.
//!
//! Fetching: `https://` (or `http://` to a loopback host), rustls with the aws-lc-rs provider
//! and the system's roots plus a CA file's; redirects refused, `200` only, the body at
//! most [`RemoteConfig::with_max_body`], the whole exchange within
//! [`RemoteConfig::with_timeout`]. A fetch that fails is `jwks_unavailable`.
//!
//! [`KeySet::from_file`]: crate::KeySet::from_file

mod config;
mod endpoint;
mod fetch;

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::keys::jwks::thumbprint;
use crate::keys::namespace::{LifetimeBound, Namespace};
use crate::keys::set::KeySet;
pub use config::RemoteConfig;
use endpoint::Endpoint;
use fetch::Fetcher;

/// Another issuer's JWK Set, fetched from a URL and cached; cheap to clone (clones share the
/// cache and the fetch in flight).
///
/// # Examples
///
/// An issuer serving its set on a loopback port, and a token of it verified through the set:
///
/// ```
/// use std::io::{Read, Write};
/// use tollgate::keys::{RemoteConfig, RemoteJwks};
/// use tollgate::{mint, verify, Algorithm, Clock, Keyring, MintOptions, VerifyOptions};
/// # let dir = tempfile::tempdir().unwrap();
/// let clock = Clock::system();
/// let mut issuer = Keyring::init(dir.path().join("keys"))?;
/// issuer.generate(Algorithm::EdDSA, None, &clock)?;
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// # let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
/// # let body = serde_json::to_string(&issuer.jwks()).unwrap();
/// # std::thread::spawn(move || {
/// #     let (mut socket, _) = listener.accept().unwrap();
/// #     let mut request = Vec::new();
/// #     let mut buf = [0u8; 512];
/// #     while !request.ends_with(b"\r\n\r\n") {
/// #         let n = socket.read(&mut buf).unwrap();
/// #         if n == 0 { break }
/// #         request.extend_from_slice(&buf[..n]);
/// #     }
/// #     let head = format!("HTTP/1.1 200 OK\r\ncache-control: max-age=300\r\ncontent-length: {}\r\n\r\n", body.len());
/// #     socket.write_all(head.as_bytes()).unwrap();
/// #     socket.write_all(body.as_bytes()).unwrap();
/// # });
/// // `url` is http://127.0.0.1:PORT/jwks.json, where the issuer serves `issuer.jwks()`.
/// let iss = "https://issuer.example";
/// let jwks = RemoteJwks::new(&url, Some(iss.into()), RemoteConfig::new())?;
/// let minted = mint(&issuer, &MintOptions::new("alice").with_issuer(iss), &clock)?;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let keys = runtime.block_on(jwks.key_set_for(Some(&minted.kid)))?;
/// let verified = verify::<serde_json::Value>(&minted.token, &keys, &VerifyOptions::new(), &clock)?;
/// assert_eq!(verified.namespace.label(), "iss:https://issuer.example");
///
/// let status = jwks.status();
/// assert_eq!((status.keys, status.fetches, status.stale), (1, 1, false));
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    issuer: Option<String>,
    config: RemoteConfig,
    fetcher: Fetcher,
    /// Held briefly, never across I/O.
    cache: RwLock<Cache>,
    /// Held for the length of a fetch: one in flight.
    flight: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.inner.endpoint.shown)
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

/// What a [`RemoteJwks`] holds and how its fetches went, for health checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RemoteStatus {
    /// The URL, without credentials or query.
    pub url: String,
    /// The issuer whose namespace the keys are in, if one is configured.
    pub issuer: Option<String>,
    /// How many keys the cached set has (0 before the first fetch, and when no set is served).
    pub keys: usize,
    /// How many members of the cached set were skipped (unusable for verification).
    pub skipped: usize,
    /// When the cached set was fetched (Unix seconds).
    pub fetched_at: Option<i64>,
    /// When the cached set expires (Unix seconds).
    pub expires_at: Option<i64>,
    /// Whether the set is being served past its expiry because refreshing it failed.
    pub stale: bool,
    /// Why the last fetch failed, when it did (cleared by the next fetch that succeeds).
    pub last_error: Option<String>,
    /// Fetches tried.
    pub fetches: u64,
    /// Fetches that failed.
    pub failures: u64,
}

/// The cache: the set, when it expires, and how the fetches went.
#[derive(Default)]
struct Cache {
    set: Option<Arc<KeySet>>,
    expires: Option<Instant>,
    fetched_at: Option<i64>,
    expires_at: Option<i64>,
    /// When the last fetch ended, for the cooldown.
    attempted: Option<Instant>,
    /// The last fetch's failure; `None` after a success.
    failed: Option<(ErrorKind, String)>,
    stale: bool,
    /// Bumped by every fetch: a caller that waited for the flight sees whether one ended.
    generation: u64,
    fetches: u64,
    failures: u64,
}

impl Cache {
    /// The set while it is fresh.
    fn fresh(&self, now: Instant) -> Option<&Arc<KeySet>> {
        self.set
            .as_ref()
            .filter(|_| self.expires.is_some_and(|e| now < e))
    }

    /// Whether the last fetch ended less than `cooldown` ago.
    fn cooling(&self, now: Instant, cooldown: Duration) -> bool {
        self.attempted
            .is_some_and(|t| now.saturating_duration_since(t) < cooldown)
    }

    /// What the last fetch leaves a caller with at `now`: its set (fresh, or stale within
    /// `max_stale` after a failed refresh), or its failure.
    fn outcome(&mut self, now: Instant, max_stale: Duration) -> Result<Arc<KeySet>> {
        let (Some(set), Some(expires)) = (self.set.clone(), self.expires) else {
            return Err(self.failure());
        };
        if self.failed.is_none() || now < expires {
            return Ok(set);
        }
        if expires.checked_add(max_stale).is_some_and(|end| now < end) {
            if !self.stale {
                tracing::warn!(
                    error = self.failed.as_ref().map_or("", |f| f.1.as_str()),
                    "serving an expired JWK Set while its issuer cannot be reached"
                );
            }
            self.stale = true;
            return Ok(set);
        }
        self.set = None;
        self.stale = false;
        Err(self.failure())
    }

    fn failure(&self) -> Error {
        match &self.failed {
            Some((kind, message)) => Error::new(*kind, message.clone()),
            None => Error::new(ErrorKind::JwksUnavailable, "no JWK Set fetched yet"),
        }
    }

    fn record(&mut self, result: &Result<(Arc<KeySet>, Duration)>, now: Instant) {
        self.generation += 1;
        self.fetches += 1;
        self.attempted = Some(now);
        match result {
            Ok((set, ttl)) => {
                let unix = Clock::system().now();
                self.set = Some(Arc::clone(set));
                self.expires = Some(now + *ttl);
                self.fetched_at = Some(unix);
                let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
                self.expires_at = Some(unix.saturating_add(secs));
                self.failed = None;
                self.stale = false;
            }
            Err(e) => {
                self.failures += 1;
                self.failed = Some((e.kind(), e.message().to_owned()));
                if e.kind() == ErrorKind::BadKey {
                    // A set that arrived and was refused (a leaked private key, nothing
                    // usable): no older set stands in for it.
                    self.set = None;
                    self.stale = false;
                }
            }
        }
    }
}

impl RemoteJwks {
    /// A cache of the JWK Set at `url`; nothing is fetched yet.
    ///
    /// `url` is `https://`, or `http://` only for a loopback host (127.0.0.0/8, `::1`,
    /// `localhost`), without credentials. With `issuer`, every key's namespace is
    /// [`Namespace::Issuer`] of it; without, each key's own [`Namespace::Key`] (its RFC 7638
    /// thumbprint). Keys get [`LifetimeBound::issuer`] and the state `verify`.
    ///
    /// It reads the configured CA file, or the system's root certificates (once per process),
    /// for an `https` URL.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::Usage`] naming the URL for a malformed URL, another scheme, `http://` to
    ///   a host that is not loopback, or credentials in the URL; for an empty issuer, cache
    ///   bounds out of order, a zero timeout or body limit, or a CA file without a certificate;
    /// - [`ErrorKind::Io`] for a CA file that cannot be read;
    /// - [`ErrorKind::JwksUnavailable`] when the system has no root certificate.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate::ErrorKind;
    /// use tollgate::keys::{RemoteConfig, RemoteJwks};
    /// let jwks = RemoteJwks::new("http://127.0.0.1:8080/jwks.json", None, RemoteConfig::new())?;
    /// assert_eq!(jwks.url(), "http://127.0.0.1:8080/jwks.json");
    /// let err = RemoteJwks::new("http://idp.example/jwks.json", None, RemoteConfig::new()).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Usage);
    /// # Ok::<(), tollgate::Error>(())
    /// ```
    pub fn new(url: &str, issuer: Option<String>, config: RemoteConfig) -> Result<RemoteJwks> {
        let endpoint = Endpoint::parse(url)?;
        if issuer.as_deref() == Some("") {
            return Err(Error::usage(format!(
                "the issuer of JWKS {} is empty; name it, or give none to key tokens by each \
                 key's thumbprint",
                endpoint.shown
            )));
        }
        config.check()?;
        let fetcher = Fetcher::new(&endpoint, &config)?;
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                endpoint,
                issuer,
                config,
                fetcher,
                cache: RwLock::new(Cache::default()),
                flight: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The URL, as shown in messages and [`status`](Self::status): without credentials or
    /// query.
    pub fn url(&self) -> &str {
        &self.inner.endpoint.shown
    }

    /// The issuer its keys are bound to, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// The cached set; fetched first when there is none yet or it has expired.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::JwksUnavailable`] when the set cannot be fetched and no cached set may
    ///   stand in (none yet, or expired longer ago than the stale limit); within the cooldown
    ///   after a failed fetch, that failure again without a new fetch;
    /// - [`ErrorKind::BadKey`] when the issuer's set is refused (a member with a private part,
    ///   no usable key, not a JWK Set).
    pub async fn key_set(&self) -> Result<Arc<KeySet>> {
        self.get(None).await
    }

    /// Like [`key_set`](Self::key_set), and when the cached set has no key with `kid`, fetched
    /// again first, at most once per cooldown across every caller. The set returned may still
    /// lack `kid` (verification then says `unknown_kid`).
    ///
    /// # Errors
    ///
    /// As [`key_set`](Self::key_set). A refetch for an unknown kid that fails while the cached
    /// set is fresh returns that set (and records the failure in [`status`](Self::status)).
    pub async fn key_set_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>> {
        self.get(kid).await
    }

    /// What the cache holds and how fetches went.
    pub fn status(&self) -> RemoteStatus {
        let cache = self.read();
        let set = cache.set.as_deref();
        RemoteStatus {
            url: self.inner.endpoint.shown.clone(),
            issuer: self.inner.issuer.clone(),
            keys: set.map_or(0, |s| s.iter().count()),
            skipped: set.map_or(0, KeySet::skipped),
            fetched_at: cache.fetched_at,
            expires_at: cache.expires_at,
            stale: cache.stale && set.is_some(),
            last_error: cache.failed.as_ref().map(|f| f.1.clone()),
            fetches: cache.fetches,
            failures: cache.failures,
        }
    }

    async fn get(&self, kid: Option<&str>) -> Result<Arc<KeySet>> {
        let config = &self.inner.config;
        let now = Instant::now();
        let seen = {
            let cache = self.read();
            if let Some(set) = cache.fresh(now)
                && (kid.is_none_or(|k| has(set, k)) || cache.cooling(now, config.cooldown))
            {
                return Ok(Arc::clone(set));
            }
            cache.generation
        };
        {
            // Expired or missing, right after a failed fetch: no new fetch yet.
            let mut cache = self.write();
            if cache.fresh(now).is_none()
                && cache.failed.is_some()
                && cache.cooling(now, config.cooldown)
            {
                return cache.outcome(now, config.max_stale);
            }
        }
        let _flight = self.inner.flight.lock().await;
        {
            let mut cache = self.write();
            if cache.generation != seen {
                // A fetch ended while this caller waited: its outcome is this caller's too.
                return cache.outcome(Instant::now(), config.max_stale);
            }
        }
        let result = self.fetch().await;
        let done = Instant::now();
        let mut cache = self.write();
        cache.record(&result, done);
        match result {
            Ok((set, _)) => Ok(set),
            Err(e) => {
                tracing::warn!(url = %self.inner.endpoint.shown, error = %e, "JWKS fetch failed");
                cache.outcome(done, config.max_stale).map_err(|_| e)
            }
        }
    }

    /// One fetch, parsed, with each key's origin set.
    async fn fetch(&self) -> Result<(Arc<KeySet>, Duration)> {
        let inner = &self.inner;
        let fetched = inner.fetcher.fetch(&inner.endpoint, &inner.config).await?;
        let source = format!("JWKS {}", inner.endpoint.shown);
        let set = KeySet::from_jwk_set(&fetched.body, &source)
            .map_err(|e| {
                Error::bad_key(format!("{source}: {}", e.message()))
                    .with_context("url", inner.endpoint.shown.clone())
            })?
            .map_keys(|key| {
                let namespace = match (&inner.issuer, key.public_key()) {
                    (Some(iss), _) => Namespace::Issuer(iss.clone()),
                    (None, Some(public)) => Namespace::Key(thumbprint(public)),
                    // A JWK Set never yields a secret (its `k` refuses the set).
                    (None, None) => key.namespace().clone(),
                };
                key.with_origin(namespace, LifetimeBound::issuer())
            });
        tracing::debug!(
            url = %inner.endpoint.shown,
            keys = set.iter().count(),
            skipped = set.skipped(),
            ttl = fetched.ttl.as_secs(),
            "JWKS fetched"
        );
        Ok((Arc::new(set), fetched.ttl))
    }

    fn read(&self) -> RwLockReadGuard<'_, Cache> {
        // The cache is left consistent at every step: a panic elsewhere cannot break it.
        self.inner
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Cache> {
        self.inner
            .cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether the set has a key with `kid` (one, or several: then no refetch changes anything).
fn has(set: &KeySet, kid: &str) -> bool {
    set.get(kid).is_some() || set.is_ambiguous(kid)
}
