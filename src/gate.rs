//! [`Gate`]: keyring, store, clock and verification options together; the facade the CLI, the
//! axum integration and the HTTP service call.
//!
//! Verification is the synchronous pipeline of [`token::verify`] followed
//! by one revocation check in the store (no round trip at all with a [`Replica`](crate::store::Replica)).
//! A store that cannot be reached fails the verification with `store_unavailable`: the gate
//! never answers "valid" when it could not ask (see [`FailOpen`](crate::store::FailOpen) for the
//! explicit opposite).
//!
//! Revocation entries live as long as anything they revoke can still be valid: a token's entry
//! until its `exp` plus the leeway; a session's, user's, key's or global entry for the keyring's
//! `max_ttl` (the longest lifetime any token can have) plus the leeway.
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

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::claims::MintOptions;
use crate::clock::{Clock, format_time};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{DEFAULT_MAX_TTL, KeySet, Keyring};
use crate::session::SessionConfig;
use crate::store::{Revocation, RevocationStore, Scope, Status, Store, TokenRef};
use crate::token::{self, Checks, Minted, Verified};
use crate::validate::VerifyOptions;

/// Keyring, store, clock and options: mint, verify with revocation, revoke.
pub struct Gate<S = Store> {
    keyring: RwLock<Option<Arc<Keyring>>>,
    store: S,
    clock: Clock,
    options: VerifyOptions,
    /// Session lifetimes and grace window (see [`crate::session`]).
    pub(crate) sessions: SessionConfig,
    /// Refresh-token reuse detections since the gate was built.
    pub(crate) reuse_detections: AtomicU64,
}

impl<S> std::fmt::Debug for Gate<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("clock", &self.clock)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What [`Gate::revoke_token`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The entry now in the store.
    Stored(Revocation),
    /// The token had expired already (beyond the leeway): nothing needed storing.
    AlreadyExpired {
        /// The token's `jti`.
        jti: String,
        /// Its `exp`.
        exp: i64,
    },
}

impl<S: RevocationStore> Gate<S> {
    /// A gate over `store`, with the system clock, default [`VerifyOptions`] and no keyring yet.
    pub fn new(store: S) -> Self {
        Gate {
            keyring: RwLock::new(None),
            store,
            clock: Clock::System,
            options: VerifyOptions::new(),
            sessions: SessionConfig::new(),
            reuse_detections: AtomicU64::new(0),
        }
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

    /// Sets the verification options (audience, issuer, leeway, algorithms).
    pub fn with_options(mut self, options: VerifyOptions) -> Self {
        self.options = options;
        self
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
    /// [`ErrorKind::BadKey`] when the gate has none.
    pub fn keyring(&self) -> Result<Arc<Keyring>> {
        self.keyring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or_else(|| Error::bad_key("no keyring is configured"))
    }

    /// Replaces the keyring (for example after it changed on disk); in-flight verifications
    /// finish with the one they started with.
    pub fn set_keyring(&self, keyring: Keyring) {
        *self
            .keyring
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(keyring));
    }

    /// Re-reads the keyring from its directory and swaps it in.
    ///
    /// # Errors
    ///
    /// As [`Keyring::open`]; the current keyring stays in use on error.
    pub fn reload_keyring(&self) -> Result<()> {
        let dir = self.keyring()?.dir().to_path_buf();
        self.set_keyring(Keyring::open(dir)?);
        Ok(())
    }

    /// How long session, user, key and global revocations are kept: the keyring's `max_ttl`
    /// plus the leeway.
    pub(crate) fn scope_lifetime(&self) -> i64 {
        let max_ttl = self.keyring().map_or(DEFAULT_MAX_TTL, |k| k.max_ttl());
        max_ttl.saturating_add(self.options.leeway_secs())
    }

    /// Mints an access token with the active key and the gate's clock.
    ///
    /// # Errors
    ///
    /// As [`token::mint`].
    pub fn mint(&self, options: &MintOptions) -> Result<Minted> {
        let keyring = self.keyring()?;
        token::mint(&keyring, options, &self.clock)
    }

    /// Verifies an access token with the keyring, then checks the store.
    ///
    /// # Errors
    ///
    /// Every kind of [`token::verify`]; `revoked` (with context `scope`
    /// and `revoked_at`); `store_unavailable` when the store cannot be asked.
    pub async fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<Verified<C>> {
        let keyring = self.keyring()?;
        self.verify_with(token, keyring.key_set()).await
    }

    /// Like [`Gate::verify`], against explicit keys instead of the keyring.
    ///
    /// # Errors
    ///
    /// As [`Gate::verify`].
    pub async fn verify_with<C: DeserializeOwned>(
        &self,
        token: &str,
        keys: &KeySet,
    ) -> Result<Verified<C>> {
        let verified = token::verify::<C>(token, keys, &self.options, &self.clock)?;
        let status = self
            .store
            .check(&token_ref(&verified), self.clock.now())
            .await?;
        if let Status::Revoked { scope, revoked_at } = status {
            return Err(revoked_error(scope, revoked_at));
        }
        Ok(verified)
    }

    /// Denylists one access token until it expires (plus the leeway). The token's signature must
    /// verify; its time, audience and issuer do not matter. An expired token stores nothing.
    ///
    /// # Errors
    ///
    /// The signature and structure kinds of [`token::verify`];
    /// `store_unavailable`.
    pub async fn revoke_token(&self, token: &str) -> Result<Revoked> {
        let keyring = self.keyring()?;
        self.revoke_token_with(token, keyring.key_set()).await
    }

    /// Like [`Gate::revoke_token`], against explicit keys.
    ///
    /// # Errors
    ///
    /// As [`Gate::revoke_token`].
    pub async fn revoke_token_with(&self, token: &str, keys: &KeySet) -> Result<Revoked> {
        let verified = token::verify_inner::<Value>(
            token,
            keys,
            &self.options,
            &self.clock,
            Checks::Revocation,
        )?;
        let now = self.clock.now();
        let expires_at = verified
            .claims
            .exp
            .saturating_add(self.options.leeway_secs());
        if expires_at <= now {
            return Ok(Revoked::AlreadyExpired {
                jti: verified.claims.jti,
                exp: verified.claims.exp,
            });
        }
        let entry = Revocation::new(Scope::Token, verified.claims.jti, now, expires_at);
        self.store.revoke(&entry, now).await?;
        tracing::info!(scope = "token", jti = %entry.id, "revoked");
        Ok(Revoked::Stored(entry))
    }

    /// Revokes every token of a session, of a user (issued up to now), of a key, or (with
    /// [`Scope::Global`] and an empty id) every token issued up to now.
    ///
    /// # Errors
    ///
    /// `usage` for an empty id (or a non-empty one for global); `store_unavailable`.
    pub async fn revoke(&self, scope: Scope, id: &str) -> Result<Revocation> {
        if scope == Scope::Token {
            return Err(Error::usage("revoke a token by passing the token itself"));
        }
        let now = self.clock.now();
        let entry = Revocation::new(scope, id, now, now.saturating_add(self.scope_lifetime()));
        entry.validate()?;
        self.store.revoke(&entry, now).await?;
        tracing::info!(scope = scope.as_str(), id = %crate::error::quoted(id), "revoked");
        Ok(entry)
    }

    /// Every live revocation entry that applies to a verified or decoded token, most specific
    /// first (for `inspect`). Reads the whole denylist: not for the hot path.
    ///
    /// # Errors
    ///
    /// `store_unavailable`.
    pub async fn revocations_of(&self, token: &TokenRef<'_>) -> Result<Vec<Revocation>> {
        let mut found: Vec<Revocation> = self
            .store
            .list(self.clock.now())
            .await?
            .into_iter()
            .filter(|e| token.id(e.scope) == Some(e.id.as_str()))
            .filter(|e| !e.scope.is_time_bound() || token.iat <= e.revoked_at)
            .collect();
        found.sort_by_key(|e| e.scope);
        Ok(found)
    }
}

/// The identifiers of a verified token, for the store.
pub fn token_ref<C>(verified: &Verified<C>) -> TokenRef<'_> {
    TokenRef {
        jti: &verified.claims.jti,
        sid: verified.claims.sid.as_deref(),
        sub: &verified.claims.sub,
        kid: verified.header.kid.as_deref().unwrap_or_default(),
        iat: verified.claims.iat,
    }
}

fn revoked_error(scope: Scope, revoked_at: i64) -> Error {
    let what = match scope {
        Scope::Token => "the token was revoked",
        Scope::Session => "its session was revoked",
        Scope::User => "every token of its user issued before then was revoked",
        Scope::Key => "every token signed by its key was revoked",
        Scope::Global => "every token issued before then was revoked",
    };
    Error::new(
        ErrorKind::Revoked,
        format!(
            "token revoked: {what} at {}; log in again",
            format_time(revoked_at)
        ),
    )
    .with_context("scope", scope.as_str())
    .with_context("revoked_at", revoked_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_errors_name_their_scope() {
        let e = revoked_error(Scope::Session, 0);
        assert_eq!(e.kind(), ErrorKind::Revoked);
        assert_eq!(e.to_json()["scope"], "session");
    }
}
