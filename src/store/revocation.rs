//! The denylist's entries and the verbs every store offers: [`Revocation`] (what to revoke),
//! [`Entry`] (what a store keeps), [`TokenRef`] (what a token offers to the check), [`Status`]
//! and the one coverage rule ([`covers`]), and the [`RevocationStore`] trait.

use std::future::Future;

use super::{EntryKey, Scope};
use crate::error::{Error, Result, quoted};
use crate::keys::Namespace;

/// The longest id a revocation may name, in bytes: the token size limit, since an id comes from
/// a token (stores keep a fixed-size digest of it, whatever its length).
pub const MAX_ID_LEN: usize = crate::token::MAX_TOKEN_BYTES;

/// The default store-wide maximum leeway: 5 minutes. Every verifier sharing the store may use
/// any leeway up to it, and every entry outlives what it covers by at least that much.
pub const DEFAULT_MAX_LEEWAY: i64 = 300;

/// What to revoke: a scope and id within a namespace, when, and for how long.
///
/// A store keeps the entry until `max(expires_at, now + lifetime)`, `now` being the store's own
/// clock: `expires_at` is a time on the token's axis (a token's `exp` plus the maximum leeway),
/// `lifetime` a span the store measures itself, so that neither a revoker's `--now` nor a
/// revoker whose clock is behind can shorten an entry.
///
/// # Examples
///
/// ```
/// use tollgate::store::{Revocation, Scope};
/// let now = 1_800_000_000;
/// // Revoke one access token until it would have expired anyway (exp + 5 min + 1 s).
/// let entry = Revocation::new(Scope::Token, "3f0b5c1e-6a0f-4c5e-9f51-2a8b7d7f0a11", now, now + 1201);
/// assert_eq!(entry.scope.as_str(), "token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Revocation {
    /// What is revoked.
    pub scope: Scope,
    /// Where the ids come from (the origin of the verifying key).
    pub namespace: Namespace,
    /// The `jti`, `sid`, `sub` or `kid`; empty for [`Scope::Global`]. Only its digest is
    /// stored.
    pub id: String,
    /// When it was revoked, on the revoker's clock (`--now` applies). Tokens of a user or
    /// global revocation with `iat <= revoked_at` plus the maximum leeway are covered.
    pub revoked_at: i64,
    /// Unix seconds (on the tokens' axis) until which the entry must be kept.
    pub expires_at: i64,
    /// Seconds the store keeps the entry at least, counted on its own clock.
    pub lifetime: i64,
}

impl Revocation {
    /// A new entry in tollgate's own namespace, kept until `expires_at` (no validation;
    /// [`RevocationStore::revoke`] validates).
    pub fn new(scope: Scope, id: impl Into<String>, revoked_at: i64, expires_at: i64) -> Self {
        Revocation {
            scope,
            namespace: Namespace::Own,
            id: id.into(),
            revoked_at,
            expires_at,
            lifetime: 0,
        }
    }

    /// The same entry within `namespace`.
    pub fn with_namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = namespace;
        self
    }

    /// The same entry, kept at least `lifetime` seconds from when the store writes it.
    pub fn with_lifetime(mut self, lifetime: i64) -> Self {
        self.lifetime = lifetime.max(0);
        self
    }

    /// The store key of this entry.
    pub fn key(&self) -> EntryKey {
        EntryKey::new(&self.namespace, self.scope, &self.id)
    }

    /// When a store writing it at `now` (its own clock) may drop it: `max(expires_at, now +
    /// lifetime)`.
    pub fn expiry(&self, now: i64) -> i64 {
        self.expires_at.max(now.saturating_add(self.lifetime))
    }

    /// The entry a store keeps, written at `now` (its own clock).
    pub fn entry(&self, now: i64) -> Entry {
        Entry {
            key: self.key(),
            revoked_at: self.revoked_at,
            stamp: now,
            expires_at: self.expiry(now),
        }
    }

    /// Checks the entry's shape: a non-empty id except for global, an empty one for global, at
    /// most [`MAX_ID_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) saying what is wrong.
    pub fn validate(&self) -> Result<()> {
        match (self.scope, self.id.is_empty()) {
            (Scope::Global, false) => Err(Error::usage(format!(
                "a global revocation has no id, got {}",
                quoted(&self.id)
            ))),
            (Scope::Global, true) => Ok(()),
            (scope, true) => Err(Error::usage(format!("a {scope} revocation needs an id"))),
            (_, false) if self.id.len() > MAX_ID_LEN => Err(Error::usage(format!(
                "revocation id {} is {} bytes, longer than any token ({MAX_ID_LEN} bytes)",
                quoted(&self.id),
                self.id.len()
            ))),
            _ => Ok(()),
        }
    }
}

/// One entry as a store keeps it: the key, the two times the coverage rule reads, and when the
/// store may drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The scope and digest.
    pub key: EntryKey,
    /// When it was revoked, on the revoker's clock (the latest, once merged).
    pub revoked_at: i64,
    /// When the store wrote it, on the store's own clock (the latest, once merged): a user or
    /// global entry covers sessions created at or before it.
    pub stamp: i64,
    /// When the store may drop it (Unix seconds).
    pub expires_at: i64,
}

impl Entry {
    /// Merges a re-revocation: the later times win.
    pub fn merge(&mut self, other: &Entry) {
        self.revoked_at = self.revoked_at.max(other.revoked_at);
        self.stamp = self.stamp.max(other.stamp);
        self.expires_at = self.expires_at.max(other.expires_at);
    }

    /// Whether the entry is still kept at `now`: `now < expires_at`.
    pub fn is_live(&self, now: i64) -> bool {
        now < self.expires_at
    }
}

/// What a token offers to the revocation check: the namespace of its key, its identifiers and
/// its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRef<'a> {
    /// The namespace of the key that verified it.
    pub namespace: &'a Namespace,
    /// The token's `jti`.
    pub jti: &'a str,
    /// The token's `sid`, if it belongs to a session.
    pub sid: Option<&'a str>,
    /// The token's `sub`.
    pub sub: &'a str,
    /// The `kid` of the key that signed it.
    pub kid: &'a str,
    /// The token's `iat`, if it has one (a token without is treated as issued before every
    /// user and global revocation).
    pub iat: Option<i64>,
    /// When its session was created, on the store's clock (`auth_time` of tollgate's own
    /// session tokens; ignored for other namespaces).
    pub auth_time: Option<i64>,
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

    /// The store key this token offers for `scope`.
    pub fn key(&self, scope: Scope) -> Option<EntryKey> {
        self.id(scope)
            .map(|id| EntryKey::new(self.namespace, scope, id))
    }

    /// The store keys of every scope, indexed like [`Scope::ALL`].
    pub fn keys(&self) -> [Option<EntryKey>; 5] {
        Scope::ALL.map(|scope| self.key(scope))
    }
}

/// Whether a user or global entry (revoked at `revoked_at` on the revoker's clock, stored at
/// `stamp` on the store's) covers `token`: the one rule of the time-bound scopes.
///
/// - a session token of tollgate's own (it carries `auth_time`, its session's creation on the
///   store's clock): covered iff `auth_time <= stamp`. Both times come from the store's clock,
///   so no clock skew between application servers matters; a session created in the same
///   second as the revocation is covered (the cost: a user who logs in again within that second
///   must log in once more);
/// - any other token: covered iff its `iat` is at most `revoked_at` plus the store's maximum
///   leeway, so an issuer whose clock runs ahead by up to that much cannot slip a token issued
///   before the revocation through (the cost: such tokens issued in the first `max_leeway`
///   after a revocation are refused too); a token without `iat` is covered (fail closed).
///
/// # Examples
///
/// ```
/// use tollgate::keys::Namespace;
/// use tollgate::store::{TokenRef, covers};
/// let own = Namespace::Own;
/// let token = |iat, auth_time| TokenRef { namespace: &own, jti: "j", sid: None, sub: "alice", kid: "k", iat, auth_time };
/// // An issuer 20 s fast: iat after the revocation on the revoker's clock, still covered.
/// assert!(covers(&token(Some(1_020), None), 1_000, 1_000, 300));
/// assert!(!covers(&token(Some(1_301), None), 1_000, 1_000, 300));
/// assert!(covers(&token(None, None), 1_000, 1_000, 300));
/// // A session made after the revocation (store clock) is not covered, whatever its iat.
/// assert!(!covers(&token(Some(990), Some(1_001)), 1_000, 1_000, 300));
/// ```
pub fn covers(token: &TokenRef<'_>, revoked_at: i64, stamp: i64, max_leeway: i64) -> bool {
    match (token.namespace.is_own(), token.auth_time, token.iat) {
        (true, Some(auth_time), _) => auth_time <= stamp,
        (_, _, Some(iat)) => iat <= revoked_at.saturating_add(max_leeway),
        (_, _, None) => true,
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

    /// Decides a token's status from the live entry found per scope (indexed like
    /// [`Scope::ALL`]): token, session and key entries revoke whatever they match; user and
    /// global entries what [`covers`] says; the most specific revoking scope wins.
    pub fn decide(token: &TokenRef<'_>, found: &[Option<Entry>; 5], max_leeway: i64) -> Status {
        for scope in Scope::ALL {
            if let Some(entry) = found[scope.index()]
                && (!scope.is_time_bound()
                    || covers(token, entry.revoked_at, entry.stamp, max_leeway))
            {
                return Status::Revoked {
                    scope,
                    revoked_at: entry.revoked_at,
                };
            }
        }
        Status::Valid
    }
}

/// A store of revocations: the few verbs a verifier and an operator need.
///
/// Implement it with `async fn`; the returned futures are `Send` so that servers can spawn them.
/// Times a store decides by itself (when to drop an entry, the purge cut-off, the `stamp` of a
/// write) come from its own clock; `now` passed to [`lookup`](Self::lookup) is the verifier's.
pub trait RevocationStore: Send + Sync {
    /// Stores an entry and returns it as stored (merged with an earlier one of the same key:
    /// the later times win).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) for a malformed entry,
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the store
    /// cannot be reached: the revocation is then NOT known to be stored (revoking again is
    /// safe).
    fn revoke(&self, revocation: &Revocation) -> impl Future<Output = Result<Entry>> + Send;

    /// The live entry of each of a token's five scopes (indexed like [`Scope::ALL`]), in at
    /// most one store round trip. `now` is the verifier's clock: an entry with
    /// `expires_at <= now` is not returned.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) for any store
    /// failure: never an empty answer when the store could not answer.
    fn lookup(
        &self,
        token: &TokenRef<'_>,
        now: i64,
    ) -> impl Future<Output = Result<[Option<Entry>; 5]>> + Send;

    /// Decides whether `token` is revoked: [`lookup`](Self::lookup), then [`Status::decide`]
    /// with the store's [`max_leeway`](Self::max_leeway).
    ///
    /// # Errors
    ///
    /// As [`lookup`](Self::lookup).
    fn check(&self, token: &TokenRef<'_>, now: i64) -> impl Future<Output = Result<Status>> + Send {
        async move {
            let found = self.lookup(token, now).await?;
            Ok(Status::decide(token, &found, self.max_leeway()))
        }
    }

    /// Every live entry, by the store's clock (for a replica's load).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the store
    /// cannot be reached.
    fn list(&self) -> impl Future<Output = Result<Vec<Entry>>> + Send;

    /// Drops entries that expired more than the maximum leeway plus 5 minutes ago by the
    /// store's clock, and returns how many (Redis returns 0: key expiry does it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the store
    /// cannot be reached.
    fn purge_expired(&self) -> impl Future<Output = Result<u64>> + Send;

    /// The store-wide maximum leeway in seconds ([`DEFAULT_MAX_LEEWAY`] unless recorded
    /// otherwise): verifiers may use any leeway up to it, and entries are sized with it.
    fn max_leeway(&self) -> i64;
}

/// How long after an entry expired a purge may delete it: the maximum leeway plus 5 minutes.
pub fn purge_cutoff(store_now: i64, max_leeway: i64) -> i64 {
    store_now.saturating_sub(purge_margin(max_leeway))
}

/// How long a store keeps an entry past its `expires_at` on its own clock (the maximum leeway
/// plus 5 minutes): verifiers judge expiry on their clocks, which may lag the store's.
pub fn purge_margin(max_leeway: i64) -> i64 {
    max_leeway.saturating_add(300)
}

/// Checks the maximum leeway asked for on a store's URL (`?max_leeway=`) against the one the
/// store recorded when it was created. It never changes: every entry already written was sized
/// with it, so a larger one would let a verifier accept revoked tokens past their entries, and
/// a smaller one would size new entries shorter than verifiers may still need.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) when `asked` differs from `recorded`.
pub fn check_max_leeway(url: &str, asked: Option<i64>, recorded: i64) -> crate::Result<()> {
    match asked {
        Some(asked) if asked != recorded => {
            let text = |s: i64| {
                crate::clock::format_duration(std::time::Duration::from_secs(s.unsigned_abs()))
            };
            Err(crate::Error::usage(format!(
                "store {url} keeps revocations for a maximum leeway of {}, set when it was \
                 created; ?max_leeway={} cannot change it (entries already written are sized \
                 with it): leave the option out, or create a new store with it",
                text(recorded),
                text(asked)
            ))
            .with_context("max_leeway", recorded))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(scope: Scope, revoked_at: i64, stamp: i64) -> [Option<Entry>; 5] {
        let mut out = [None; 5];
        out[scope.index()] = Some(Entry {
            key: EntryKey::new(&Namespace::Own, scope, "x"),
            revoked_at,
            stamp,
            expires_at: i64::MAX,
        });
        out
    }

    #[test]
    fn most_specific_scope_wins_and_time_bound_scopes_follow_the_coverage_rule() {
        let ns = Namespace::Own;
        let token = TokenRef {
            namespace: &ns,
            jti: "j",
            sid: Some("s"),
            sub: "u",
            kid: "k",
            iat: Some(1_000),
            auth_time: None,
        };
        let mut all = found(Scope::Global, 2_000, 2_000);
        all[Scope::Session.index()] = found(Scope::Session, 10, 10)[Scope::Session.index()];
        assert_eq!(
            Status::decide(&token, &all, 300),
            Status::Revoked {
                scope: Scope::Session,
                revoked_at: 10
            }
        );
        // A user entry older than the token by more than the maximum leeway does not cover it.
        assert_eq!(
            Status::decide(&token, &found(Scope::User, 699, 699), 300),
            Status::Valid
        );
        assert!(Status::decide(&token, &found(Scope::User, 700, 700), 300).is_revoked());
        // A session token (own namespace, auth_time) is judged on the store's clock only.
        let session = TokenRef {
            auth_time: Some(950),
            ..token
        };
        assert!(Status::decide(&session, &found(Scope::Global, 0, 950), 300).is_revoked());
        assert_eq!(
            Status::decide(&session, &found(Scope::Global, 5_000, 949), 300),
            Status::Valid
        );
        // Another issuer's auth_time is not trusted: its iat decides.
        let other = Namespace::Key("k".into());
        let foreign = TokenRef {
            namespace: &other,
            ..session
        };
        assert!(Status::decide(&foreign, &found(Scope::Global, 700, 0), 300).is_revoked());
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
            Revocation::new(Scope::Session, "x".repeat(600), 1, 2)
                .validate()
                .is_ok(),
            "long ids are revocable"
        );
        assert!(
            Revocation::new(Scope::Token, "x".repeat(MAX_ID_LEN + 1), 1, 2)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn the_store_keeps_an_entry_for_the_later_of_its_two_bounds() {
        let r = Revocation::new(Scope::User, "u", 100, 500).with_lifetime(1_000);
        assert_eq!(r.expiry(0), 1_000, "its own clock far behind the revoker's");
        assert_eq!(
            r.expiry(10_000),
            11_000,
            "a revoker whose --now is in the past"
        );
        let entry = r.entry(200);
        assert_eq!((entry.stamp, entry.expires_at), (200, 1_200));
        assert!(entry.is_live(1_199) && !entry.is_live(1_200));
    }
}
