//! [`Gate`]: keyring, store, clock and verification options together; the facade the CLI, the
//! axum integration and the HTTP service call.
//!
//! Verification is the synchronous pipeline of [`token::verify`] followed
//! by one revocation check in the store (no round trip at all with a [`Replica`](crate::store::Replica)).
//! A store that cannot be reached fails the verification with `store_unavailable`: the gate
//! never answers "valid" when it could not ask (see [`FailOpen`](crate::store::FailOpen) for the
//! explicit opposite).
//!
//! Revocation has one meaning per scope, written once in [`Gate::revoke`] and
//! [`Gate::revoke_token`], which the CLI, `POST /revoke` and the session endpoints call. Entries
//! live as long as anything they revoke can still verify, for any leeway up to the store's
//! maximum ([`RevocationStore::max_leeway`]): a
//! token's entry through its `exp` plus that maximum; a session's through the latest access
//! token it issued; a user's, key's or global entry for the keyring's `max_ttl` (verification
//! refuses longer lifetimes) plus twice the maximum. ARCHITECTURE.md says where each rule lives.
//!
//! # Examples
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate::{Algorithm, Clock, ErrorKind, Gate, Keyring, MintOptions, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let clock = Clock::fixed(1_800_000_000);
//! let mut keyring = Keyring::init(dir.path().join("keys"))?;
//! keyring.generate(Algorithm::EdDSA, None, &clock)?;
//! let gate = Gate::new(Store::open("memory:").await?).with_keyring(keyring).with_clock(clock);
//!
//! let minted = gate.mint(&MintOptions::new("alice"))?;
//! gate.verify::<serde_json::Value>(&minted.token).await?;
//! gate.revoke_token(&minted.token).await?;
//! let err = gate.verify::<serde_json::Value>(&minted.token).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Revoked);
//! # Ok::<(), tollgate::Error>(())
//! # }).unwrap();
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::claims::MintOptions;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::keys::{DEFAULT_MAX_TTL, Keyring};
use crate::session::SessionConfig;
use crate::store::{RevocationStore, Store};
use crate::token::{self, Minted};
use crate::validate::VerifyOptions;

mod cache;
mod follow;
mod inspect;
mod revoke;
mod session;
mod verify;

pub use cache::{CacheConfig, CacheStats};
pub use follow::FollowConfig;
pub use inspect::{Inspection, Introspection, RefreshTokenInfo};
pub use revoke::Revoked;
pub use verify::token_ref;

/// Keyring, store, clock and options: mint, verify with revocation, revoke.
pub struct Gate<S = Store> {
    /// The keyring and its generation (bumped by every change), read together.
    keyring: RwLock<(KeyringSlot, u64)>,
    /// Tokens verified before (see [`CacheConfig`]).
    cache: cache::VerifiedCache,
    /// Watches the keyring directory (see [`FollowConfig`]).
    follower: follow::Follower,
    store: S,
    clock: Clock,
    options: VerifyOptions,
    /// Session lifetimes and grace window (see [`crate::session`]).
    sessions: SessionConfig,
    /// Refresh-token reuse detections since the gate was built.
    reuse_detections: AtomicU64,
    /// Other issuers whose tokens it accepts, their keys fetched from their JWK Sets.
    #[cfg(feature = "remote")]
    issuers: Vec<crate::keys::RemoteJwks>,
}

/// What the gate holds in place of a keyring.
enum KeyringSlot {
    /// None was ever set.
    Missing,
    /// A loaded keyring.
    Loaded(Arc<Keyring>),
    /// The keyring of `dir` could not be read again: nothing signs or verifies until it can
    /// (fail closed: a retired or removed key must not keep verifying).
    Failed {
        dir: std::path::PathBuf,
        reason: String,
        max_ttl: i64,
    },
}

impl<S> std::fmt::Debug for Gate<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("clock", &self.clock)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S: RevocationStore> Gate<S> {
    /// A gate over `store`, with the system clock, default [`VerifyOptions`] and no keyring yet.
    pub fn new(store: S) -> Self {
        Gate {
            keyring: RwLock::new((KeyringSlot::Missing, 0)),
            cache: cache::VerifiedCache::new(CacheConfig::new()),
            follower: follow::Follower::new(FollowConfig::new()),
            store,
            clock: Clock::System,
            options: VerifyOptions::new(),
            sessions: SessionConfig::new(),
            reuse_detections: AtomicU64::new(0),
            #[cfg(feature = "remote")]
            issuers: Vec::new(),
        }
    }

    /// Also accepts the tokens of another issuer, verified with the keys of its JWK Set (fetched
    /// and cached by `jwks`). Its tokens follow the options' profile for other issuers
    /// ([`Profile::Rfc9068`](crate::validate::Profile::Rfc9068) is the one to choose for an
    /// identity provider's access tokens), must carry `iss` equal to the issuer `jwks` is
    /// bound to, and need an audience configured (RFC 8725 §3.9: without one, the issuer's
    /// ID tokens and other services' tokens would pass). Their ids live in that issuer's
    /// namespace: nothing they carry can revoke or end anything of another issuer.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) when `jwks` is bound to no issuer.
    #[cfg(feature = "remote")]
    pub fn with_remote_issuer(mut self, jwks: crate::keys::RemoteJwks) -> Result<Self> {
        if jwks.issuer().is_none() {
            return Err(Error::usage(format!(
                "a trusted issuer needs its name (the `iss` its tokens carry) for JWKS {}",
                jwks.url()
            )));
        }
        self.issuers.push(jwks);
        Ok(self)
    }

    /// The other issuers it accepts tokens of ([`Gate::with_remote_issuer`]).
    #[cfg(feature = "remote")]
    pub fn remote_issuers(&self) -> &[crate::keys::RemoteJwks] {
        &self.issuers
    }

    /// Sets the keyring that signs and verifies.
    pub fn with_keyring(self, keyring: Keyring) -> Self {
        self.set_keyring(keyring);
        self
    }

    /// Sets the clock every time check and every written time reads.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the verification options (audience, issuer, leeway, algorithms). Forgets the
    /// tokens cached under the previous ones.
    pub fn with_options(mut self, options: VerifyOptions) -> Self {
        self.options = options;
        self.cache.clear();
        self
    }

    /// Bounds the verified-token cache (on by default: 10,000 entries, 16 MiB);
    /// [`CacheConfig::disabled`] turns it off. See [`CacheConfig`] for what a hit skips and
    /// what it never skips.
    pub fn with_cache(mut self, config: CacheConfig) -> Self {
        self.cache = cache::VerifiedCache::new(config);
        self
    }

    /// The verified-token cache's bounds.
    pub fn cache_config(&self) -> CacheConfig {
        self.cache.config()
    }

    /// The verified-token cache's counters: hits, misses, evictions, entries.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Sets the session lifetimes and grace window.
    pub fn with_session_config(mut self, config: SessionConfig) -> Self {
        self.sessions = config;
        self
    }

    /// The session lifetimes and grace window.
    pub fn session_config(&self) -> &SessionConfig {
        &self.sessions
    }

    /// How many refresh-token reuses (theft) this gate has detected.
    pub fn reuse_detections(&self) -> u64 {
        self.reuse_detections.load(Ordering::Relaxed)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The verification options.
    pub fn options(&self) -> &VerifyOptions {
        &self.options
    }

    /// The current keyring.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when the gate has none, or when its
    /// keyring could not be reloaded ([`Gate::set_keyring_failed`]).
    pub fn keyring(&self) -> Result<Arc<Keyring>> {
        self.keyring_generation().map(|(keyring, _)| keyring)
    }

    /// The current keyring and its generation (1 for the first, +1 per change), read at once.
    ///
    /// # Errors
    ///
    /// As [`Gate::keyring`].
    pub fn keyring_generation(&self) -> Result<(Arc<Keyring>, u64)> {
        self.follow_keyring();
        self.current_keyring()
    }

    /// The keyring slot as it is, without looking at the directory.
    fn current_keyring(&self) -> Result<(Arc<Keyring>, u64)> {
        let slot = self
            .keyring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let generation = slot.1;
        match &slot.0 {
            KeyringSlot::Loaded(keyring) => Ok((keyring.clone(), generation)),
            KeyringSlot::Missing => Err(Error::bad_key("no keyring is configured")),
            KeyringSlot::Failed { dir, reason, .. } => Err(Error::bad_key(format!(
                "the keyring {} is unusable ({reason}); nothing verifies until it can be read \
                 again: give the files back to the user the server runs as, or restore \
                 keyring.json",
                dir.display()
            ))),
        }
    }

    /// Replaces the keyring (for example after it changed on disk) and starts a new
    /// generation: no token cached under the previous keyring answers again. In-flight
    /// verifications finish with the one they started with. Also ends a failed state.
    pub fn set_keyring(&self, keyring: Keyring) {
        // Followed from the files as they are now (a change written between the keyring's own
        // load and this call shows at the next change).
        if !keyring.is_in_memory() {
            self.follower.loaded(follow::stamps(keyring.dir()));
        }
        self.install(keyring);
    }

    fn install(&self, keyring: Keyring) {
        let mut slot = self
            .keyring
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = (
            KeyringSlot::Loaded(Arc::new(keyring)),
            slot.1.wrapping_add(1),
        );
    }

    /// Follows the keyring directory ([`Gate::with_keyring_follow`]; on by default): a
    /// check of the files' metadata at most once per interval, and a reload when they changed.
    /// Every call that needs the keyring does this first.
    fn follow_keyring(&self) {
        // One atomic load between checks: nothing is read or allocated on the hot path.
        if !self.follower.due() {
            return;
        }
        let Some(dir) = self.followed_dir() else {
            return;
        };
        if self.follower.changed(&dir) {
            // A failure is recorded in the slot (fail closed); the caller then sees it.
            let _ = self.reload_keyring();
        }
    }

    /// The directory to follow: the keyring's, unless it lives in memory or following is off.
    fn followed_dir(&self) -> Option<std::path::PathBuf> {
        self.follower.config().interval()?;
        match &self
            .keyring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0
        {
            KeyringSlot::Loaded(k) if k.is_in_memory() => None,
            KeyringSlot::Loaded(k) => Some(k.dir().to_path_buf()),
            KeyringSlot::Failed { dir, .. } => Some(dir.clone()),
            KeyringSlot::Missing => None,
        }
    }

    /// After a token named a kid the keyring lacks: reloads, at most once per the follow
    /// cooldown, and tells whether it did (the caller then verifies again).
    pub(crate) fn reload_for_unknown_kid(&self) -> bool {
        self.followed_dir().is_some()
            && self.follower.unknown_kid()
            && self.reload_keyring().is_ok()
    }

    /// How the gate follows its keyring directory: by default it checks the files' metadata at
    /// most once a second and reloads when they changed, and reloads on an unknown kid at most
    /// once per 30 s; [`FollowConfig::off`] turns it off. Reloads fail closed (see
    /// [`FollowConfig`]).
    pub fn with_keyring_follow(mut self, config: FollowConfig) -> Self {
        self.follower = follow::Follower::new(config);
        self
    }

    /// How the gate follows its keyring directory.
    pub fn keyring_follow(&self) -> FollowConfig {
        self.follower.config()
    }

    /// Marks the keyring unusable: until the next [`Gate::set_keyring`] or successful
    /// [`Gate::reload_keyring`], everything that needs it (minting, every verification,
    /// introspection, sessions, revocation of a token) fails with
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey), which is exit 3 and HTTP 503.
    ///
    /// This is how a server fails closed when its keyring changed on disk but cannot be read:
    /// keeping the previous keyring would let a retired key keep verifying. `reason` says why
    /// (without secrets; it is shown by `/healthz`). The keyring's directory is kept so that
    /// a reload can recover. Without a keyring this does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use tollgate::{ErrorKind, Gate, Keyring, Store};
    /// let dir = tempfile::tempdir().unwrap();
    /// let gate = Gate::new(Store::open("memory:").await?).with_keyring(Keyring::init(dir.path().join("k"))?);
    /// gate.set_keyring_failed("keyring.json cannot be read");
    /// assert_eq!(gate.keyring().unwrap_err().kind(), ErrorKind::BadKey);
    /// assert_eq!(gate.keyring_failure().as_deref(), Some("keyring.json cannot be read"));
    /// gate.reload_keyring()?;
    /// assert!(gate.keyring().is_ok() && gate.keyring_failure().is_none());
    /// # Ok::<(), tollgate::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn set_keyring_failed(&self, reason: impl Into<String>) {
        let mut slot = self
            .keyring
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (dir, max_ttl) = match &slot.0 {
            KeyringSlot::Missing => return,
            KeyringSlot::Loaded(k) => (k.dir().to_path_buf(), k.max_ttl()),
            KeyringSlot::Failed { dir, max_ttl, .. } => (dir.clone(), *max_ttl),
        };
        slot.0 = KeyringSlot::Failed {
            dir,
            reason: reason.into(),
            max_ttl,
        };
        slot.1 = slot.1.wrapping_add(1);
    }

    /// Why the keyring is unusable, when [`Gate::set_keyring_failed`] made it so.
    pub fn keyring_failure(&self) -> Option<String> {
        match &self
            .keyring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0
        {
            KeyringSlot::Failed { reason, .. } => Some(reason.clone()),
            _ => None,
        }
    }

    /// The keyring's directory, loaded or failed; `None` without a keyring.
    pub fn keyring_dir(&self) -> Option<std::path::PathBuf> {
        match &self
            .keyring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0
        {
            KeyringSlot::Loaded(k) => Some(k.dir().to_path_buf()),
            KeyringSlot::Failed { dir, .. } => Some(dir.clone()),
            KeyringSlot::Missing => None,
        }
    }

    /// Re-reads the keyring from its directory and swaps it in. An in-memory keyring
    /// ([`Keyring::generate_in_memory`]) has no directory and stays as it is.
    ///
    /// Fails closed: when it cannot be read, the gate keeps no keyring
    /// ([`Gate::set_keyring_failed`]) until a later reload succeeds.
    ///
    /// # Errors
    ///
    /// As [`Keyring::open`]; [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) without a
    /// keyring.
    pub fn reload_keyring(&self) -> Result<()> {
        if self.current_keyring().is_ok_and(|(k, _)| k.is_in_memory()) {
            return Ok(());
        }
        let dir = self
            .keyring_dir()
            .ok_or_else(|| Error::bad_key("no keyring is configured"))?;
        // The files' stamps before the load: a change written during it is seen next time.
        let stamps = follow::stamps(&dir);
        match Keyring::open(&dir) {
            Ok(keyring) => {
                self.install(keyring);
                self.follower.loaded(stamps);
                Ok(())
            }
            Err(e) => {
                self.set_keyring_failed("the keyring cannot be loaded; see the server log");
                Err(e)
            }
        }
    }

    /// The keyring's `max_ttl` (the default 24 hours without a keyring).
    pub(crate) fn max_ttl(&self) -> i64 {
        match &self
            .keyring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0
        {
            KeyringSlot::Loaded(k) => k.max_ttl(),
            // The last one known: revocations must not be sized shorter during a failure.
            KeyringSlot::Failed { max_ttl, .. } => *max_ttl,
            KeyringSlot::Missing => DEFAULT_MAX_TTL,
        }
    }

    /// How long a user, key or session-less revocation must be kept to outlive every token it
    /// covers, for any leeway a verifier of the store may use: a covered token was issued at
    /// most the maximum leeway after the revocation (clock skew), lives at most `max_ttl`, and
    /// is accepted at most the maximum leeway past its `exp` (so `max_ttl + 2 × max leeway`,
    /// plus one second, the entry living through its last second).
    pub(crate) fn scope_lifetime(&self) -> i64
    where
        S: RevocationStore,
    {
        self.max_ttl()
            .saturating_add(self.store.max_leeway().saturating_mul(2))
            .saturating_add(1)
    }

    /// Refuses a verification leeway above the store's maximum: entries are sized with the
    /// maximum, so a larger leeway could outlive them.
    pub(crate) fn check_leeway(&self) -> Result<()>
    where
        S: RevocationStore,
    {
        let max = self.store.max_leeway();
        if self.options.leeway_secs() > max {
            return Err(Error::usage(format!(
                "a leeway of {} is above the store's maximum of {}: revocations are kept only that \
                 long past a token's expiry; use --leeway {} or less (a store's maximum is set \
                 when it is created, with ?max_leeway= on its URL, and never changes)",
                crate::clock::format_duration(self.options.leeway()),
                crate::clock::format_duration(std::time::Duration::from_secs(max.unsigned_abs())),
                crate::clock::format_duration(std::time::Duration::from_secs(max.unsigned_abs()))
            ))
            .with_context("max_leeway", max));
        }
        Ok(())
    }

    /// Mints an access token with the active key and the gate's clock. The issuer and the
    /// audiences of the gate's [`VerifyOptions`] are the defaults: a token minted without its
    /// own `iss` gets the gate's issuer, and one without audiences gets the gate's audiences,
    /// so that the gate verifies what it mints.
    ///
    /// # Errors
    ///
    /// As [`token::mint`].
    pub fn mint(&self, options: &MintOptions) -> Result<Minted> {
        let keyring = self.keyring()?;
        if self.options.fills(options) {
            token::mint(
                &keyring,
                &self.options.mint_defaults(options.clone()),
                &self.clock,
            )
        } else {
            token::mint(&keyring, options, &self.clock)
        }
    }
}
