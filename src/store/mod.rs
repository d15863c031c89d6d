//! Revocation stores: the denylist that makes stateless tokens revocable.
//!
//! A revocation names one of five [`Scope`]s (a token by `jti`, a session by `sid`, a user by
//! `sub`, a key by `kid`, or everything) and lives until its `expires_at`, after which every token
//! it could revoke has expired anyway. [`RevocationStore::check`] looks all five scopes up at once
//! (at most one store round trip) and reports the most specific match.
//!
//! Backends, chosen at run time by URL with [`Store::open`]:
//!
//! | URL | backend | notes |
//! | --- | --- | --- |
//! | `memory:` | [`MemoryStore`] | in-process; tests and demos |
//! | `sqlite:PATH` | [`SqliteStore`] | feature `sqlite`; several processes share one file |
//! | `redis://`, `rediss://`, `redis+cluster://` | [`RedisStore`] | feature `redis`; many servers |
//!
//! A verifier that wants no round trip at all keeps a [`Replica`]: the whole denylist in memory,
//! kept current by the store's [`ChangeFeed`] (Redis pub/sub, or polling SQLite's change
//! sequence), and answering from the store directly whenever it is not fresh.
//!
//! # Failing closed
//!
//! Every store error during [`check`](RevocationStore::check) is
//! [`ErrorKind::StoreUnavailable`], never
//! [`Status::Valid`]: a verifier that cannot ask the store does not know whether a token was
//! revoked. Store operations are bounded by a timeout (1 second by default; `?timeout=` in Redis
//! URLs), so an outage fails fast rather than hanging requests. Failing open is an explicit,
//! logged and counted opt-in: [`FailOpen`] or [`ReplicaConfig::with_fail_mode`].
//!
//! # A custom store
//!
//! Implement [`RevocationStore`] (and [`ChangeFeed`] if it should back a [`Replica`]):
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use tollgate::Result;
//! use tollgate::store::{Revocation, RevocationStore, Scope, Status, TokenRef};
//!
//! /// Keeps entries in a plain vector behind a mutex.
//! #[derive(Default)]
//! struct VecStore(Mutex<Vec<Revocation>>);
//!
//! impl RevocationStore for VecStore {
//!     async fn revoke(&self, entry: &Revocation, now: i64) -> Result<()> {
//!         if entry.expires_at > now {
//!             self.0.lock().unwrap().push(entry.clone());
//!         }
//!         Ok(())
//!     }
//!     async fn check(&self, token: &TokenRef<'_>, now: i64) -> Result<Status> {
//!         let entries = self.0.lock().unwrap();
//!         let live = entries.iter().filter(|e| e.expires_at > now);
//!         Ok(Status::from_matches(token, live.map(|e| (e.scope, e.id.as_str(), e.revoked_at))))
//!     }
//!     async fn list(&self, now: i64) -> Result<Vec<Revocation>> {
//!         Ok(self.0.lock().unwrap().iter().filter(|e| e.expires_at > now).cloned().collect())
//!     }
//!     async fn purge_expired(&self, now: i64) -> Result<u64> {
//!         let mut entries = self.0.lock().unwrap();
//!         let before = entries.len();
//!         entries.retain(|e| e.expires_at > now);
//!         Ok((before - entries.len()) as u64)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = VecStore::default();
//! let now = 1_800_000_000;
//! store.revoke(&Revocation::new(Scope::Session, "s1", now, now + 900), now).await?;
//! let token = TokenRef { jti: "j1", sid: Some("s1"), sub: "alice", kid: "k1", iat: now - 10 };
//! assert!(store.check(&token, now).await?.is_revoked());
//! assert!(!store.check(&token, now + 901).await?.is_revoked());
//! # Ok::<(), tollgate::Error>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

mod fail;
mod feed;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod replica;
mod revocation;
mod scope;
mod session;
#[cfg(feature = "sqlite")]
mod sqlite;
mod url;

pub use fail::{FailMode, FailOpen};
pub use feed::{Change, ChangeFeed, Subscription};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;
pub use replica::{Freshness, Replica, ReplicaConfig};
pub use revocation::{MAX_ID_LEN, Revocation, RevocationStore, Status, TokenRef};
pub use scope::Scope;
pub use session::{
    Device, Match, RotateOutcome, Rotation, SecretHash, SessionRecord, SessionStore, digests_match,
};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;
pub use url::{DEFAULT_PREFIX, DEFAULT_TIMEOUT};

use url::StoreUrl;

/// The backend chosen at run time from a URL by [`Store::open`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Store {
    /// `memory:`
    Memory(MemoryStore),
    /// `sqlite:PATH`
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    Sqlite(SqliteStore),
    /// `redis://`, `rediss://` and `redis+cluster://`
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    Redis(RedisStore),
}

impl Store {
    /// Opens the store named by `url` (see the [module docs](self) for the forms).
    ///
    /// SQLite creates the file and its schema if needed; Redis connects (bounded by the URL's
    /// `timeout`, 1 second by default).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a malformed URL, an unknown scheme or a backend compiled out;
    /// [`ErrorKind::StoreUnavailable`] when the store cannot be reached or opened.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use tollgate::store::Store;
    /// let store = Store::open("memory:").await?;
    /// assert_eq!(store.url(), "memory:");
    /// let err = Store::open("postgres://db").await.unwrap_err();
    /// assert_eq!(err.kind(), tollgate::ErrorKind::Usage);
    /// # Ok::<(), tollgate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(url: &str) -> Result<Store> {
        match StoreUrl::parse(url)? {
            StoreUrl::Memory => Ok(Store::Memory(MemoryStore::new())),
            #[cfg(feature = "sqlite")]
            StoreUrl::Sqlite { path } => Ok(Store::Sqlite(SqliteStore::open(&path).await?)),
            #[cfg(feature = "redis")]
            StoreUrl::Redis(parsed) => Ok(Store::Redis(RedisStore::open_parsed(parsed).await?)),
            #[allow(unreachable_patterns)] // reachable only when a backend feature is off
            other => Err(Error::usage(format!(
                "store {} needs a backend this build left out; rebuild tollgate with its feature",
                other.redacted()
            ))),
        }
    }

    /// The store's URL with any password redacted.
    pub fn url(&self) -> &str {
        match self {
            Store::Memory(_) => "memory:",
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => s.url(),
            #[cfg(feature = "redis")]
            Store::Redis(s) => s.url(),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $body:expr) => {
        match $self {
            Store::Memory($s) => $body,
            #[cfg(feature = "sqlite")]
            Store::Sqlite($s) => $body,
            #[cfg(feature = "redis")]
            Store::Redis($s) => $body,
        }
    };
}

impl RevocationStore for Store {
    async fn revoke(&self, entry: &Revocation, now: i64) -> Result<()> {
        dispatch!(self, s => s.revoke(entry, now).await)
    }

    async fn check(&self, token: &TokenRef<'_>, now: i64) -> Result<Status> {
        dispatch!(self, s => s.check(token, now).await)
    }

    async fn list(&self, now: i64) -> Result<Vec<Revocation>> {
        dispatch!(self, s => s.list(now).await)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        dispatch!(self, s => s.purge_expired(now).await)
    }
}

impl SessionStore for Store {
    async fn create_session(&self, record: &SessionRecord, now: i64) -> Result<()> {
        dispatch!(self, s => s.create_session(record, now).await)
    }

    async fn rotate_session(&self, rotation: &Rotation, now: i64) -> Result<RotateOutcome> {
        dispatch!(self, s => s.rotate_session(rotation, now).await)
    }

    async fn session(&self, sid: &str, now: i64) -> Result<Option<SessionRecord>> {
        dispatch!(self, s => s.session(sid, now).await)
    }

    async fn user_sessions(&self, sub: &str, now: i64) -> Result<Vec<SessionRecord>> {
        dispatch!(self, s => s.user_sessions(sub, now).await)
    }

    async fn end_session(
        &self,
        sid: &str,
        sub: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<Option<SessionRecord>> {
        dispatch!(self, s => s.end_session(sid, sub, revocation_expires_at, now).await)
    }

    async fn end_user_sessions(
        &self,
        sub: &str,
        keep: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<u64> {
        dispatch!(self, s => s.end_user_sessions(sub, keep, revocation_expires_at, now).await)
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        dispatch!(self, s => s.purge_sessions(now).await)
    }
}

impl ChangeFeed for Store {
    async fn subscribe(&self, interval: Duration) -> Result<Subscription> {
        dispatch!(self, s => s.subscribe(interval).await)
    }
}

/// A `StoreUnavailable` error for `url`: `store URL unreachable (REASON); HINT`.
pub(crate) fn unavailable(url: &str, reason: impl fmt::Display, hint: &str) -> Error {
    Error::new(
        ErrorKind::StoreUnavailable,
        format!("store {url} unreachable ({reason}); {hint}"),
    )
    .with_context("store", url.to_owned())
}

/// The UUID in `id` if `id` is exactly its canonical form (lower-case, hyphenated), so that the
/// 16-byte form maps back to the same string and distinct strings never share it.
pub(crate) fn canonical_uuid(id: &str) -> Option<u128> {
    if id.len() != 36 || id.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    uuid::Uuid::try_parse(id).ok().map(|u| u.as_u128())
}
