//! The denylist's entries and the verbs every store offers: [`Revocation`], [`TokenRef`],
//! [`Status`] and the [`RevocationStore`] trait.

use std::future::Future;

use super::Scope;
use crate::error::{Error, Result, quoted};

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
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) for a malformed entry, [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the store
    /// cannot be reached.
    fn revoke(&self, entry: &Revocation, now: i64) -> impl Future<Output = Result<()>> + Send;

    /// Looks up all five scopes of a token, in at most one store round trip.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) for any store failure: never [`Status::Valid`] when the
    /// store could not answer.
    fn check(&self, token: &TokenRef<'_>, now: i64) -> impl Future<Output = Result<Status>> + Send;

    /// Every live entry (for a replica's load and for listing).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the store cannot be reached.
    fn list(&self, now: i64) -> impl Future<Output = Result<Vec<Revocation>>> + Send;

    /// Drops expired entries and returns how many (Redis returns 0: key TTLs do it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the store cannot be reached.
    fn purge_expired(&self, now: i64) -> impl Future<Output = Result<u64>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

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
