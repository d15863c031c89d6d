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
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use futures_util::{Stream, StreamExt};

use crate::error::{Error, ErrorKind, Result, quoted};
use crate::session::{RotateOutcome, Rotation, SessionRecord, SessionStore};

mod fail;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod replica;
#[cfg(feature = "sqlite")]
mod sqlite;
mod url;

pub use fail::{FailMode, FailOpen};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;
pub use replica::{Freshness, Replica, ReplicaConfig};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;
pub use url::{DEFAULT_PREFIX, DEFAULT_TIMEOUT};

use url::StoreUrl;

/// The five revocation scopes, from the most specific to the broadest.
///
/// # Examples
///
/// ```
/// use tollgate::store::Scope;
/// assert_eq!(Scope::Session.as_str(), "session");
/// assert_eq!("user".parse::<Scope>().unwrap(), Scope::User);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// One token, by its `jti`.
    Token,
    /// Every token of one session, by `sid`.
    Session,
    /// Every token of one user (`sub`) issued at or before the revocation time.
    User,
    /// Every token signed by one key, by `kid`.
    Key,
    /// Every token issued at or before the revocation time.
    Global,
}

impl Scope {
    /// Every scope, from the most specific to the broadest (the order [`Status`] reports in).
    pub const ALL: [Scope; 5] = [
        Scope::Token,
        Scope::Session,
        Scope::User,
        Scope::Key,
        Scope::Global,
    ];

    /// The stable name: `token`, `session`, `user`, `key` or `global`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Token => "token",
            Scope::Session => "session",
            Scope::User => "user",
            Scope::Key => "key",
            Scope::Global => "global",
        }
    }

    /// Whether the scope revokes only tokens issued at or before its `revoked_at` (user and
    /// global), rather than everything that matches.
    pub fn is_time_bound(self) -> bool {
        matches!(self, Scope::User | Scope::Global)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;

    /// Parses a scope name.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] naming the value and the accepted names.
    fn from_str(s: &str) -> Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                Error::usage(format!(
                    "unknown revocation scope {}; use token, session, user, key or global",
                    quoted(s)
                ))
            })
    }
}

/// One denylist entry.
///
/// # Examples
///
/// ```
/// use tollgate::store::{Revocation, Scope};
/// let now = 1_800_000_000;
/// // Revoke one access token until it would have expired anyway (exp + 30 s leeway).
/// let entry = Revocation::new(Scope::Token, "3f0b5c1e-6a0f-4c5e-9f51-2a8b7d7f0a11", now, now + 930);
/// assert_eq!(entry.scope.as_str(), "token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Revocation {
    /// What is revoked.
    pub scope: Scope,
    /// The `jti`, `sid`, `sub` or `kid`; empty for [`Scope::Global`].
    pub id: String,
    /// When it was revoked, in Unix seconds. For [`Scope::User`] and [`Scope::Global`], tokens
    /// with `iat <= revoked_at` are revoked; for the other scopes everything matching is.
    pub revoked_at: i64,
    /// Unix seconds after which the entry may disappear: the caller computes it, for example the
    /// token's `exp` plus the leeway, or now plus the longest token lifetime plus the leeway.
    pub expires_at: i64,
}

impl Revocation {
    /// A new entry (no validation; [`RevocationStore::revoke`] validates).
    pub fn new(scope: Scope, id: impl Into<String>, revoked_at: i64, expires_at: i64) -> Self {
        Revocation {
            scope,
            id: id.into(),
            revoked_at,
            expires_at,
        }
    }

    /// Checks the entry's shape: a non-empty id except for global, an empty one for global.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] saying what is wrong.
    pub fn validate(&self) -> Result<()> {
        match (self.scope, self.id.is_empty()) {
            (Scope::Global, false) => Err(Error::usage(format!(
                "a global revocation has no id, got {}",
                quoted(&self.id)
            ))),
            (Scope::Global, true) => Ok(()),
            (scope, true) => Err(Error::usage(format!("a {scope} revocation needs an id"))),
            (_, false) if self.id.len() > MAX_ID_LEN => Err(Error::usage(format!(
                "revocation id {} is longer than {MAX_ID_LEN} bytes",
                quoted(&self.id)
            ))),
            _ => Ok(()),
        }
    }

    /// Merges a re-revocation: the later `revoked_at` and the later `expires_at` win.
    pub fn merge(&mut self, other: &Revocation) {
        self.revoked_at = self.revoked_at.max(other.revoked_at);
        self.expires_at = self.expires_at.max(other.expires_at);
    }
}

/// The longest id a revocation may carry, in bytes.
pub const MAX_ID_LEN: usize = 512;

/// What a token offers to the revocation check: its identifiers and issue time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRef<'a> {
    /// The token's `jti`.
    pub jti: &'a str,
    /// The token's `sid`, if it belongs to a session.
    pub sid: Option<&'a str>,
    /// The token's `sub`.
    pub sub: &'a str,
    /// The `kid` of the key that signed it.
    pub kid: &'a str,
    /// The token's `iat`, in Unix seconds.
    pub iat: i64,
}

impl TokenRef<'_> {
    /// The id this token offers for `scope` (`None` for a session when it has no `sid`).
    pub fn id(&self, scope: Scope) -> Option<&str> {
        match scope {
            Scope::Token => Some(self.jti),
            Scope::Session => self.sid,
            Scope::User => Some(self.sub),
            Scope::Key => Some(self.kid),
            Scope::Global => Some(""),
        }
    }
}

/// The answer of a revocation check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No live entry revokes the token.
    Valid,
    /// The token is revoked; when several scopes match, the most specific one is reported
    /// (token, session, user, key, global).
    Revoked {
        /// The matching scope.
        scope: Scope,
        /// The entry's `revoked_at`.
        revoked_at: i64,
    },
}

impl Status {
    /// Whether the token is revoked.
    pub fn is_revoked(&self) -> bool {
        matches!(self, Status::Revoked { .. })
    }

    /// Decides a token's status from candidate entries `(scope, id, revoked_at)` that are live.
    ///
    /// Entries whose id does not match the token are ignored; user and global entries revoke
    /// only tokens with `iat <= revoked_at`; the most specific matching scope wins.
    pub fn from_matches<'e>(
        token: &TokenRef<'_>,
        entries: impl IntoIterator<Item = (Scope, &'e str, i64)>,
    ) -> Status {
        let mut found = [None; 5];
        for (scope, id, revoked_at) in entries {
            if token.id(scope) == Some(id) {
                let slot = &mut found[scope.index()];
                *slot = Some(slot.map_or(revoked_at, |r: i64| r.max(revoked_at)));
            }
        }
        Status::from_slots(token.iat, found)
    }

    /// Decides from the `revoked_at` found per scope (indexed like [`Scope::ALL`]).
    pub(crate) fn from_slots(iat: i64, found: [Option<i64>; 5]) -> Status {
        for scope in Scope::ALL {
            if let Some(revoked_at) = found[scope.index()]
                && (!scope.is_time_bound() || iat <= revoked_at)
            {
                return Status::Revoked { scope, revoked_at };
            }
        }
        Status::Valid
    }
}

/// A store of revocations: the few verbs a verifier and an operator need.
///
/// Implement it with `async fn`; the returned futures are `Send` so that servers can spawn them.
/// Every method takes `now` (Unix seconds, from the injected [`Clock`](crate::Clock)).
pub trait RevocationStore: Send + Sync {
    /// Stores an entry.
    ///
    /// Revoking an entry whose `expires_at <= now` stores nothing and is `Ok`. Re-revoking keeps
    /// the later `revoked_at` and the later `expires_at`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a malformed entry, [`ErrorKind::StoreUnavailable`] when the store
    /// cannot be reached.
    fn revoke(&self, entry: &Revocation, now: i64) -> impl Future<Output = Result<()>> + Send;

    /// Looks up all five scopes of a token, in at most one store round trip.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`] for any store failure: never [`Status::Valid`] when the
    /// store could not answer.
    fn check(&self, token: &TokenRef<'_>, now: i64) -> impl Future<Output = Result<Status>> + Send;

    /// Every live entry (for a replica's load and for listing).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`] when the store cannot be reached.
    fn list(&self, now: i64) -> impl Future<Output = Result<Vec<Revocation>>> + Send;

    /// Drops expired entries and returns how many (Redis returns 0: key TTLs do it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`] when the store cannot be reached.
    fn purge_expired(&self, now: i64) -> impl Future<Output = Result<u64>> + Send;
}

/// A notification from a [`ChangeFeed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// An entry was stored (or re-revoked; merge it with [`Revocation::merge`]).
    Revoked(Revocation),
    /// The feed is alive and nothing was missed up to now.
    Heartbeat,
}

/// Stores that can notify a [`Replica`] of new revocations.
pub trait ChangeFeed: RevocationStore {
    /// Subscribes to changes made after this call returns.
    ///
    /// The subscription yields a [`Change::Heartbeat`] at least every `interval` while it is
    /// healthy (SQLite polls its change sequence at this interval; Redis pings its pub/sub
    /// connection at the larger of `interval` and 250 ms). When it yields an error or ends,
    /// changes may have been missed: subscribe again and reload with
    /// [`list`](RevocationStore::list).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`] when the store cannot be reached.
    fn subscribe(&self, interval: Duration) -> impl Future<Output = Result<Subscription>> + Send;
}

/// A stream of [`Change`]s from [`ChangeFeed::subscribe`].
pub struct Subscription {
    stream: Pin<Box<dyn Stream<Item = Result<Change>> + Send>>,
}

impl Subscription {
    /// Wraps any stream of changes (for custom stores).
    pub fn from_stream(stream: impl Stream<Item = Result<Change>> + Send + 'static) -> Self {
        Subscription {
            stream: Box::pin(stream),
        }
    }

    /// The next change; `None` or an error means the subscription is broken and changes may
    /// have been missed.
    pub async fn next(&mut self) -> Option<Result<Change>> {
        self.stream.next().await
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Subscription")
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_strings_are_stable() {
        let names: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["token", "session", "user", "key", "global"]);
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
        }
        let err = "jti".parse::<Scope>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
    }

    #[test]
    fn most_specific_scope_wins_and_time_bound_scopes_respect_iat() {
        let token = TokenRef {
            jti: "j",
            sid: Some("s"),
            sub: "u",
            kid: "k",
            iat: 100,
        };
        let all = [
            (Scope::Global, "", 200),
            (Scope::Key, "k", 50),
            (Scope::User, "u", 99),
            (Scope::Session, "s", 10),
        ];
        assert_eq!(
            Status::from_matches(&token, all),
            Status::Revoked {
                scope: Scope::Session,
                revoked_at: 10
            }
        );
        // The user entry predates the token, so it does not revoke it; the key does.
        assert_eq!(
            Status::from_matches(&token, [(Scope::User, "u", 99), (Scope::Key, "k", 5)]),
            Status::Revoked {
                scope: Scope::Key,
                revoked_at: 5
            }
        );
        assert_eq!(
            Status::from_matches(&token, [(Scope::User, "u", 100)]),
            Status::Revoked {
                scope: Scope::User,
                revoked_at: 100
            }
        );
        assert_eq!(
            Status::from_matches(&token, [(Scope::Global, "", 99), (Scope::Token, "x", 1)]),
            Status::Valid
        );
    }

    #[test]
    fn validate_checks_ids() {
        assert!(Revocation::new(Scope::Global, "", 1, 2).validate().is_ok());
        assert!(
            Revocation::new(Scope::Global, "x", 1, 2)
                .validate()
                .is_err()
        );
        assert!(Revocation::new(Scope::Token, "", 1, 2).validate().is_err());
        assert!(
            Revocation::new(Scope::Token, "x".repeat(513), 1, 2)
                .validate()
                .is_err()
        );
    }
}
