//! The verified-token cache: a token the gate has verified before skips parsing, the signature
//! and the claim decoding, never the checks that can change.
//!
//! A client presents the same access token for its whole life, so nearly every verification
//! repeats one already done, and the signature is most of its cost. [`Gate::verify`](super::Gate::verify)
//! therefore keeps what it verified, keyed by the SHA-256 of the whole token (collision
//! resistant: no other token, not even one differing in a padding bit, finds the entry).
//!
//! | a hit skips | a hit never skips |
//! | --- | --- |
//! | base64 and JSON parsing, the signature, the claim decoding, the lifetime and key-state checks | `exp` against the clock (with the leeway), the revocation check (replica or store) |
//!
//! An entry belongs to one verification context: the gate (its options: audiences, issuer,
//! type, required claims, profile, leeway) and the keyring *generation*, which every keyring
//! change bumps ([`Gate::set_keyring`](super::Gate::set_keyring), so a reload after `keys
//! rotate`, `retire`, `import` or `prune`): an entry of an earlier generation never answers,
//! so a key retired or removed after a token was cached makes its next lookup a full
//! verification. A clock that steps back before the moment an entry was verified also misses
//! (the time checks a hit skips only get easier as time passes). Tokens of other issuers'
//! remote JWK Sets and [`verify_with`](super::Gate::verify_with) bypass the cache.
//!
//! Only complete successes are cached (signature, claims and revocation check passed): a failure
//! is never remembered, so nobody can fill the cache with garbage. An entry stops answering at
//! `exp + leeway` and is swept out within a second after that; the cache is bounded by a number
//! of entries and an estimate of their bytes ([`CacheConfig`]), evicting by quick_cache's
//! S3-FIFO-like policy.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::{Map, Value};

use crate::token::Verified;

/// The bounds of a gate's verified-token cache.
///
/// # Examples
///
/// ```
/// use tollgate::gate::CacheConfig;
/// let config = CacheConfig::new().with_max_entries(50_000).with_max_bytes(64 << 20);
/// assert_eq!(config.max_entries(), 50_000);
/// assert!(CacheConfig::disabled().is_disabled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    max_entries: usize,
    max_bytes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig::new()
    }
}

impl CacheConfig {
    /// The default bounds: 10,000 entries and 16 MiB (estimated).
    pub fn new() -> Self {
        CacheConfig {
            max_entries: 10_000,
            max_bytes: 16 << 20,
        }
    }

    /// No cache: every verification checks the signature.
    pub fn disabled() -> Self {
        CacheConfig {
            max_entries: 0,
            max_bytes: 0,
        }
    }

    /// At most this many tokens (0 disables the cache).
    pub fn with_max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// At most about this many bytes of cached tokens and claims (0 disables the cache).
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The entry bound.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Whether either bound is zero.
    pub fn is_disabled(&self) -> bool {
        self.max_entries == 0 || self.max_bytes == 0
    }

    /// The weight every entry has at least, so that the byte capacity also caps the count.
    fn min_weight(&self) -> u64 {
        (self.max_bytes as u64).div_ceil(self.max_entries.max(1) as u64)
    }
}

/// The cache's counters, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Verifications answered from the cache.
    pub hits: u64,
    /// Verifications of the keyring's tokens that were not in the cache (or whose entry could
    /// not answer: another keyring generation, past `exp`).
    pub misses: u64,
    /// Entries pushed out by the bounds (expired entries swept out are not counted).
    pub evictions: u64,
    /// Entries now held.
    pub entries: u64,
    /// Their estimated bytes (at least the per-entry share of the byte bound each).
    pub weight: u64,
}

/// What a hit returns.
pub(crate) struct Cached {
    generation: u64,
    verified_at: i64,
    /// `exp + leeway`: the first second the token is expired.
    expires: i64,
    weight: u64,
    pub(crate) verified: Verified<Map<String, Value>>,
}

type Digest = [u8; 32];

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<Digest, Arc<Cached>> for Weigh {
    fn weight(&self, _key: &Digest, value: &Arc<Cached>) -> u64 {
        value.weight
    }
}

/// The digest is already uniform: its first eight bytes are the hash.
#[derive(Clone, Default)]
struct DigestHash;

#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its bytes (after no length prefix for arrays).
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

impl BuildHasher for DigestHash {
    type Hasher = DigestHasher;

    fn build_hasher(&self) -> DigestHasher {
        DigestHasher::default()
    }
}

/// Counts evictions.
#[derive(Clone, Default)]
struct Evictions(Arc<AtomicU64>);

impl quick_cache::Lifecycle<Digest, Arc<Cached>> for Evictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: Digest, _value: Arc<Cached>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

type Inner = quick_cache::sync::Cache<Digest, Arc<Cached>, Weigh, DigestHash, Evictions>;

/// A gate's cache of verified tokens.
pub(crate) struct VerifiedCache {
    config: CacheConfig,
    cache: Option<Inner>,
    evictions: Evictions,
    hits: AtomicU64,
    misses: AtomicU64,
    /// The second of the last sweep of expired entries.
    last_sweep: AtomicI64,
}

impl VerifiedCache {
    pub(crate) fn new(config: CacheConfig) -> Self {
        let evictions = Evictions::default();
        let cache = (!config.is_disabled()).then(|| {
            Inner::with(
                config.max_entries,
                config.max_bytes as u64,
                Weigh,
                DigestHash,
                evictions.clone(),
            )
        });
        VerifiedCache {
            config,
            cache,
            evictions,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            last_sweep: AtomicI64::new(i64::MIN),
        }
    }

    pub(crate) fn config(&self) -> CacheConfig {
        self.config
    }

    /// The digest a token is cached under, when the cache is on.
    pub(crate) fn key(&self, token: &str) -> Option<Digest> {
        self.cache.as_ref()?;
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        Some(key)
    }

    /// The entry for `key` if it can answer for `generation` at `now`.
    pub(crate) fn get(&self, key: &Digest, generation: u64, now: i64) -> Option<Arc<Cached>> {
        let cache = self.cache.as_ref()?;
        let found = cache
            .get(key)
            .filter(|c| c.generation == generation && c.verified_at <= now && now < c.expires);
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Keeps a verification that fully succeeded; `leeway` is the gate's, in seconds.
    pub(crate) fn insert(
        &self,
        key: Digest,
        generation: u64,
        now: i64,
        leeway: i64,
        token_len: usize,
        verified: &Verified<Map<String, Value>>,
    ) {
        let Some(cache) = self.cache.as_ref() else {
            return;
        };
        let exp = verified.claims.exp;
        self.sweep(cache, now);
        // The token's bytes twice over (decoded header and claims, their parsed strings) and
        // the fixed parts of an entry.
        let estimate = (token_len as u64).saturating_mul(2) + 512;
        let weight = estimate.max(self.config.min_weight());
        let cached = Cached {
            generation,
            verified_at: now,
            expires: exp.saturating_add(leeway),
            weight,
            verified: verified.clone(),
        };
        cache.insert(key, Arc::new(cached));
    }

    /// Removes expired entries, at most once a second.
    fn sweep(&self, cache: &Inner, now: i64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if last == now
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        cache.retain(|_, c| now < c.expires);
    }

    /// Forgets every entry (the options changed).
    pub(crate) fn clear(&self) {
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.0.load(Ordering::Relaxed),
            entries: self.cache.as_ref().map_or(0, |c| c.len() as u64),
            weight: self.cache.as_ref().map_or(0, Inner::weight),
        }
    }
}
