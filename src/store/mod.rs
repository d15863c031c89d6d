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
//! | `postgres://`, `postgresql://` | [`PostgresStore`] | feature `postgres`; applications that run PostgreSQL already |
//!
//! A verifier that wants no round trip at all keeps a [`Replica`]: the whole denylist in memory,
//! kept current by the store's [`ChangeFeed`] (Redis pub/sub, PostgreSQL's `LISTEN/NOTIFY`
//! checked against its change sequence, or polling SQLite's change sequence), and answering from the store directly whenever it is not fresh.
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
//! use tollgate::{Clock, Result};
//! use tollgate::store::{Entry, EntryKey, Revocation, RevocationStore, Scope, TokenRef, purge_cutoff};
//!
//! /// Keeps entries in a map behind a mutex, on the real clock.
//! #[derive(Default)]
//! struct MapStore(Mutex<HashMap<EntryKey, Entry>>);
//!
//! impl RevocationStore for MapStore {
//!     async fn revoke(&self, revocation: &Revocation) -> Result<Entry> {
//!         revocation.validate()?;
//!         let new = revocation.entry(Clock::system().now());
//!         let mut entries = self.0.lock().unwrap();
//!         let stored = entries.entry(new.key).or_insert(new);
//!         stored.merge(&new);
//!         Ok(*stored)
//!     }
//!     async fn lookup(&self, token: &TokenRef<'_>, now: i64) -> Result<[Option<Entry>; 5]> {
//!         let entries = self.0.lock().unwrap();
//!         Ok(token.keys().map(|key| {
//!             key.and_then(|k| entries.get(&k).copied()).filter(|e| e.is_live(now))
//!         }))
//!     }
//!     async fn list(&self) -> Result<Vec<Entry>> {
//!         let now = Clock::system().now();
//!         Ok(self.0.lock().unwrap().values().filter(|e| e.is_live(now)).copied().collect())
//!     }
//!     async fn purge_expired(&self) -> Result<u64> {
//!         let cutoff = purge_cutoff(Clock::system().now(), self.max_leeway());
//!         let mut entries = self.0.lock().unwrap();
//!         let before = entries.len();
//!         entries.retain(|_, e| e.expires_at > cutoff);
//!         Ok((before - entries.len()) as u64)
//!     }
//!     fn max_leeway(&self) -> i64 {
//!         tollgate::store::DEFAULT_MAX_LEEWAY
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MapStore::default();
//! let now = Clock::system().now();
//! store.revoke(&Revocation::new(Scope::Session, "s1", now, now + 900)).await?;
//! let own = tollgate::keys::Namespace::Own;
//! let token = TokenRef {
//!     namespace: &own, jti: "j1", sid: Some("s1"), sub: "alice", kid: "k1",
//!     iat: Some(now - 10), auth_time: None,
//! };
//! assert!(store.check(&token, now).await?.is_revoked());
//! assert!(!store.check(&token, now + 900).await?.is_revoked());
//! # Ok::<(), tollgate::Error>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

mod clock;
mod fail;
mod feed;
mod key;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
mod replica;
mod replicated;
mod revocation;
mod scope;
mod session;
#[cfg(feature = "sqlite")]
mod sqlite;
mod url;

pub use clock::StoreClock;
pub use fail::{FailMode, FailOpen};
pub use feed::{Change, ChangeFeed, Subscription};
pub use key::{DIGEST_LEN, EntryKey};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;
pub use replica::{Freshness, Replica, ReplicaConfig};
pub use revocation::{
    DEFAULT_MAX_LEEWAY, Entry, MAX_ID_LEN, Revocation, RevocationStore, Status, TokenRef,
    check_max_leeway, covers, purge_cutoff, purge_margin,
};
pub use scope::Scope;
pub(crate) use session::sid_prefix;
pub use session::{
    Device, Ended, Match, NewSession, RotateOutcome, Rotation, SecretHash, SessionRecord,
    SessionStore, digests_match,
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
    /// `postgres://` and `postgresql://`
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    Postgres(PostgresStore),
    /// Another store behind a local [`Replica`] ([`Store::replicated`]): checks answered from
    /// memory while its change feed is current, everything else by the store.
    Replica(Arc<Replica<Store>>),
}

impl Store {
    /// Opens the store named by `url` (see the [module docs](self) for the forms).
    ///
    /// SQLite creates the file and its schema if needed; Redis connects (bounded by the URL's
    /// `timeout`, 1 second by default); PostgreSQL connects (bounded likewise) and creates its
    /// tables if needed.
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
    /// let err = Store::open("mongodb://db").await.unwrap_err();
    /// assert_eq!(err.kind(), tollgate::ErrorKind::Usage);
    /// # Ok::<(), tollgate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(url: &str) -> Result<Store> {
        match StoreUrl::parse(url)? {
            StoreUrl::Memory { max_leeway } => Ok(Store::Memory(MemoryStore::with_settings(
                StoreClock::system(),
                max_leeway.unwrap_or(DEFAULT_MAX_LEEWAY),
            ))),
            #[cfg(feature = "sqlite")]
            StoreUrl::Sqlite { path, max_leeway } => Ok(Store::Sqlite(
                SqliteStore::open_with(&path, StoreClock::system(), max_leeway).await?,
            )),
            #[cfg(feature = "redis")]
            StoreUrl::Redis(parsed) => Ok(Store::Redis(RedisStore::open_parsed(parsed).await?)),
            #[cfg(feature = "postgres")]
            StoreUrl::Postgres(parsed) => Ok(Store::Postgres(
                PostgresStore::open_parsed(parsed, None).await?,
            )),
            #[allow(unreachable_patterns)] // reachable only when a backend feature is off
            other => Err(Error::usage(format!(
                "store {} needs a backend this build left out; rebuild tollgate with its feature",
                other.redacted()
            ))),
        }
    }

    /// Deletes expired revocation entries and session records, by the store's own clock:
    /// entries once they expired more than the maximum leeway plus 5 minutes ago (see
    /// [`RevocationStore::purge_expired`]), records once they expired. Redis purges nothing:
    /// its keys expire by themselves.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`] when the store cannot be reached.
    pub async fn purge(&self) -> Result<Purged> {
        Ok(Purged {
            entries: self.purge_expired().await?,
            sessions: self.purge_sessions().await?,
        })
    }

    /// The backend's name, for traces and logs: `memory`, `sqlite`, `redis`, `postgres`, or
    /// `replica` (a local replica in front of one of them).
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            #[cfg(feature = "sqlite")]
            Store::Sqlite(_) => "sqlite",
            #[cfg(feature = "redis")]
            Store::Redis(_) => "redis",
            #[cfg(feature = "postgres")]
            Store::Postgres(_) => "postgres",
            Store::Replica(_) => "replica",
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
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.url(),
            Store::Replica(r) => r.store().url(),
        }
    }

    /// This store behind a local [`Replica`] started with `config`, when it has a change feed
    /// worth following (SQLite, Redis, Redis Cluster, PostgreSQL); the `memory:` store, which
    /// lives in this process already, and a store that is a replica already are returned as
    /// they are.
    ///
    /// # Errors
    ///
    /// As [`Replica::start`] (no tokio runtime).
    pub fn replicated(self, config: ReplicaConfig) -> Result<Store> {
        match self {
            Store::Memory(_) | Store::Replica(_) => Ok(self),
            #[allow(unreachable_patterns)] // reachable when a backend with a feed is built in
            store => Ok(Store::Replica(Arc::new(Replica::start(store, config)?))),
        }
    }

    /// The replica in front of this store, if there is one.
    pub fn replica(&self) -> Option<&Replica<Store>> {
        match self {
            Store::Replica(r) => Some(r),
            _ => None,
        }
    }
}

/// Calls the same method on whichever backend a [`Store`] is; a replica through
/// [`replicated`], whose boxed futures keep the types finite.
///
/// Each call runs in a `tollgate.store` span (debug level) naming the backend and the operation,
/// so that a user's traces show the round trip.
macro_rules! dispatch {
    ($self:ident, $s:ident => $method:ident($($arg:expr),*)) => {{
        let span = tracing::debug_span!(
            "tollgate.store",
            backend = $self.backend(),
            op = stringify!($method)
        );
        tracing::Instrument::instrument(
            async {
                match $self {
                    Store::Memory($s) => $s.$method($($arg),*).await,
                    #[cfg(feature = "sqlite")]
                    Store::Sqlite($s) => $s.$method($($arg),*).await,
                    #[cfg(feature = "redis")]
                    Store::Redis($s) => $s.$method($($arg),*).await,
                    #[cfg(feature = "postgres")]
                    Store::Postgres($s) => $s.$method($($arg),*).await,
                    Store::Replica($s) => replicated::$method($s, $($arg),*).await,
                }
            },
            span,
        )
        .await
    }};
}

impl RevocationStore for Store {
    async fn revoke(&self, revocation: &Revocation) -> Result<Entry> {
        dispatch!(self, s => revoke(revocation))
    }

    async fn lookup(&self, token: &TokenRef<'_>, now: i64) -> Result<[Option<Entry>; 5]> {
        dispatch!(self, s => lookup(token, now))
    }

    async fn check(&self, token: &TokenRef<'_>, now: i64) -> Result<Status> {
        dispatch!(self, s => check(token, now))
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        dispatch!(self, s => list())
    }

    async fn purge_expired(&self) -> Result<u64> {
        dispatch!(self, s => purge_expired())
    }

    fn max_leeway(&self) -> i64 {
        match self {
            Store::Memory(s) => s.max_leeway(),
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => s.max_leeway(),
            #[cfg(feature = "redis")]
            Store::Redis(s) => s.max_leeway(),
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.max_leeway(),
            Store::Replica(s) => s.max_leeway(),
        }
    }
}

impl SessionStore for Store {
    async fn create_session(&self, session: &NewSession) -> Result<SessionRecord> {
        dispatch!(self, s => create_session(session))
    }

    async fn rotate_session(&self, rotation: &Rotation) -> Result<RotateOutcome> {
        dispatch!(self, s => rotate_session(rotation))
    }

    async fn mark_undelivered(&self, sid: &str, generation: u64, undelivered: bool) -> Result<()> {
        dispatch!(self, s => mark_undelivered(sid, generation, undelivered))
    }

    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>> {
        dispatch!(self, s => session(sid))
    }

    async fn user_sessions(&self, sub: &str) -> Result<Vec<SessionRecord>> {
        dispatch!(self, s => user_sessions(sub))
    }

    async fn end_session(&self, sid: &str, owner: Option<&str>) -> Result<Ended> {
        dispatch!(self, s => end_session(sid, owner))
    }

    async fn revoke_user(&self, revocation: &Revocation) -> Result<(Entry, Vec<SessionRecord>)> {
        dispatch!(self, s => revoke_user(revocation))
    }

    async fn end_user_sessions(&self, sub: &str, keep: Option<&str>) -> Result<Vec<SessionRecord>> {
        dispatch!(self, s => end_user_sessions(sub, keep))
    }

    async fn purge_sessions(&self) -> Result<u64> {
        dispatch!(self, s => purge_sessions())
    }
}

impl ChangeFeed for Store {
    async fn subscribe(&self, interval: Duration) -> Result<Subscription> {
        dispatch!(self, s => subscribe(interval))
    }
}

/// What [`Store::purge`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Revocation entries.
    pub entries: u64,
    /// Session records.
    pub sessions: u64,
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

/// A store shared behind an `Arc` is a store: several gates (or a gate and a background task)
/// can use one store and its connections.
impl<T: RevocationStore> RevocationStore for std::sync::Arc<T> {
    fn revoke(&self, revocation: &Revocation) -> impl Future<Output = Result<Entry>> + Send {
        (**self).revoke(revocation)
    }

    fn lookup(
        &self,
        token: &TokenRef<'_>,
        now: i64,
    ) -> impl Future<Output = Result<[Option<Entry>; 5]>> + Send {
        (**self).lookup(token, now)
    }

    fn check(&self, token: &TokenRef<'_>, now: i64) -> impl Future<Output = Result<Status>> + Send {
        (**self).check(token, now)
    }

    fn list(&self) -> impl Future<Output = Result<Vec<Entry>>> + Send {
        (**self).list()
    }

    fn purge_expired(&self) -> impl Future<Output = Result<u64>> + Send {
        (**self).purge_expired()
    }

    fn max_leeway(&self) -> i64 {
        (**self).max_leeway()
    }
}

impl<T: SessionStore> SessionStore for std::sync::Arc<T> {
    fn create_session(
        &self,
        session: &NewSession,
    ) -> impl Future<Output = Result<SessionRecord>> + Send {
        (**self).create_session(session)
    }

    fn rotate_session(
        &self,
        rotation: &Rotation,
    ) -> impl Future<Output = Result<RotateOutcome>> + Send {
        (**self).rotate_session(rotation)
    }

    fn mark_undelivered(
        &self,
        sid: &str,
        generation: u64,
        undelivered: bool,
    ) -> impl Future<Output = Result<()>> + Send {
        (**self).mark_undelivered(sid, generation, undelivered)
    }

    fn session(&self, sid: &str) -> impl Future<Output = Result<Option<SessionRecord>>> + Send {
        (**self).session(sid)
    }

    fn user_sessions(&self, sub: &str) -> impl Future<Output = Result<Vec<SessionRecord>>> + Send {
        (**self).user_sessions(sub)
    }

    fn end_session(
        &self,
        sid: &str,
        owner: Option<&str>,
    ) -> impl Future<Output = Result<Ended>> + Send {
        (**self).end_session(sid, owner)
    }

    fn revoke_user(
        &self,
        revocation: &Revocation,
    ) -> impl Future<Output = Result<(Entry, Vec<SessionRecord>)>> + Send {
        (**self).revoke_user(revocation)
    }

    fn end_user_sessions(
        &self,
        sub: &str,
        keep: Option<&str>,
    ) -> impl Future<Output = Result<Vec<SessionRecord>>> + Send {
        (**self).end_user_sessions(sub, keep)
    }

    fn purge_sessions(&self) -> impl Future<Output = Result<u64>> + Send {
        (**self).purge_sessions()
    }
}

impl<T: ChangeFeed> ChangeFeed for std::sync::Arc<T> {
    fn subscribe(&self, interval: Duration) -> impl Future<Output = Result<Subscription>> + Send {
        (**self).subscribe(interval)
    }
}
