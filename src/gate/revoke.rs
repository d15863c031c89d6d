//! [`Gate::revoke`] and [`Gate::revoke_token`]: the one place that says what revoking each scope
//! means. The CLI's `revoke`, the service's `POST /revoke` and applications call these and add
//! nothing of their own.

use serde_json::Value;

use super::Gate;
use crate::error::{Error, ErrorKind, Result, quoted};
use crate::keys::{KeySet, KeyState, Namespace};
use crate::store::{Ended, Entry, Revocation, RevocationStore, Scope, SessionRecord, SessionStore};
use crate::token::{self, Checks, TokenKind};

/// What [`Gate::revoke_token`] or [`Gate::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// One access token: the entry now in the store.
    Stored {
        /// The token's `jti`.
        jti: String,
        /// The entry as stored.
        entry: Entry,
    },
    /// The token had expired already for every verifier (its `exp` plus the store's maximum
    /// leeway has passed): nothing needed storing.
    AlreadyExpired {
        /// The token's `jti`.
        jti: String,
        /// Its `exp`.
        exp: i64,
    },
    /// A refresh token: its session has ended (and its access tokens are revoked).
    SessionEnded {
        /// The session id.
        sid: String,
    },
    /// A session, user, key or everything.
    Scope {
        /// What was revoked (its id is not kept in the store, only a digest).
        revocation: Revocation,
        /// The entry as stored; `None` when nothing needed writing (a session that had ended
        /// already: its revocation was written then).
        entry: Option<Entry>,
        /// Live sessions ended by it (0 for key and global scopes).
        sessions_ended: u64,
        /// Something the caller should know: the id names nothing known to this gate.
        note: Option<String>,
    },
}

impl<S: SessionStore> Gate<S> {
    /// Revokes a token: an access token is denylisted for as long as any verifier of the store
    /// could accept it (its `exp` plus the store's maximum leeway); its signature must verify,
    /// its time, audience and issuer do not matter, and one that has expired for every verifier
    /// stores nothing. A refresh token ends its session as [`Gate::logout`] does (RFC 7009
    /// §2.1), when it is the session's current token or the one it replaced.
    ///
    /// # Errors
    ///
    /// The signature and structure kinds of [`token::verify`]; for a refresh token those of
    /// [`Gate::logout`]; `store_unavailable`.
    pub async fn revoke_token(&self, token: &str) -> Result<Revoked> {
        if TokenKind::is_refresh(token) {
            let sid = self.logout(token).await?;
            return Ok(Revoked::SessionEnded { sid });
        }
        let keyring = self.keyring()?;
        self.revoke_token_with(token, keyring.key_set()).await
    }
}

impl<S: RevocationStore> Gate<S> {
    /// Like [`Gate::revoke_token`] for an access token, against explicit keys.
    ///
    /// # Errors
    ///
    /// As [`Gate::revoke_token`].
    pub async fn revoke_token_with(&self, token: &str, keys: &KeySet) -> Result<Revoked> {
        let verified = token::verify_inner::<Value>(
            token,
            keys,
            self.options(),
            self.clock(),
            Checks::Revocation,
        )?;
        // Another issuer's token need not carry a jti; without one it has no entry of its own.
        let Some(jti) = verified.claims.jti else {
            return Err(Error::new(
                ErrorKind::UnsupportedTokenType,
                "the token has no `jti` claim, so it cannot be revoked on its own; revoke its \
                 user (--user SUB, with --iss or --from-key for its issuer) or its key \
                 (--kid KID) instead",
            )
            .with_context("claim", "jti"));
        };
        let now = self.clock().now();
        let max_leeway = self.store().max_leeway();
        // A verifier accepts the token while now < exp + its leeway (at most the maximum): the
        // entry lives through exp + max leeway.
        let last = verified.claims.exp.saturating_add(max_leeway);
        if now > last {
            return Ok(Revoked::AlreadyExpired {
                jti,
                exp: verified.claims.exp,
            });
        }
        let revocation = Revocation::new(Scope::Token, jti.as_str(), now, last.saturating_add(1))
            .with_namespace(verified.namespace.clone());
        let entry = self.store().revoke(&revocation).await?;
        tracing::info!(scope = "token", jti = %quoted(&revocation.id), "revoked");
        Ok(Revoked::Stored { jti, entry })
    }
}

impl<S: SessionStore> Gate<S> {
    /// Revokes every token of a session, of a user (issued up to now), of a key, or (with
    /// [`Scope::Global`] and an empty id) every token issued up to now, in tollgate's own
    /// namespace, with all that the scope means:
    ///
    /// | scope | what it does |
    /// | --- | --- |
    /// | token | refused: revoke a token with [`Gate::revoke_token`] |
    /// | session | every token of the session is refused, and the session ends for good: it never refreshes again and leaves the session list |
    /// | user | every token of the user issued up to now is refused, and every session of the user ends |
    /// | key | every token signed by the key is refused (a key that still signs is refused: rotate it out first) |
    /// | global | every token issued up to now is refused, and every session created before it ends: it never refreshes again and leaves the session list (its record is ended at its next refresh, or purged) |
    ///
    /// Each entry lives as long as a token it covers could verify, for any leeway up to the
    /// store's maximum, and no longer: a session's until its latest access token expires; a
    /// user's or key's for the keyring's `max_ttl` (the longest a token can live) plus twice
    /// the maximum leeway; the global one also as long as a session created before it could
    /// still refresh.
    ///
    /// # Errors
    ///
    /// `usage` for the token scope, an empty id (or a non-empty one for global), or the key
    /// that signs (or is staged to); `store_unavailable`.
    pub async fn revoke(&self, scope: Scope, id: &str) -> Result<Revoked> {
        self.revoke_in(&Namespace::Own, scope, id).await
    }

    /// Like [`Gate::revoke`], for the tokens of another issuer: `namespace` is the one its
    /// keys put their tokens in ([`VerifyingKey::namespace`](crate::keys::VerifyingKey::namespace):
    /// a key imported with `--iss`, or the key's own). Session and user scopes then only refuse
    /// tokens (another issuer's sessions are not tollgate's to end), for as long as that issuer's
    /// tokens may live (24 hours) plus twice the maximum leeway; key and global scopes belong to
    /// no namespace and do what [`Gate::revoke`] does.
    ///
    /// # Errors
    ///
    /// As [`Gate::revoke`].
    pub async fn revoke_in(
        &self,
        namespace: &Namespace,
        scope: Scope,
        id: &str,
    ) -> Result<Revoked> {
        let now = self.clock().now();
        let own = namespace.is_own() || matches!(scope, Scope::Key | Scope::Global);
        let lifetime = if own {
            self.scope_lifetime()
        } else {
            crate::keys::LifetimeBound::issuer()
                .max_lifetime()
                .saturating_add(self.store().max_leeway().saturating_mul(2))
                .saturating_add(1)
        };
        let scoped = Revocation::new(scope, id, now, now.saturating_add(lifetime))
            .with_lifetime(lifetime)
            .with_namespace(if own {
                Namespace::Own
            } else {
                namespace.clone()
            });
        scoped.validate()?;
        let (revocation, entry, sessions_ended, note) = match scope {
            Scope::Token => {
                return Err(Error::usage(
                    "revoke a token by passing the token itself, not its jti",
                ));
            }
            Scope::Session | Scope::User if !own => {
                let entry = self.store().revoke(&scoped).await?;
                (scoped, Some(entry), 0, None)
            }
            Scope::Session => {
                let (entry, ended, note) = self.revoke_session(&scoped).await?;
                (scoped, Some(entry), u64::from(ended), note)
            }
            Scope::User => {
                let (entry, ended) = self.store().revoke_user(&scoped).await?;
                let ended = ended.len() as u64;
                let note = (ended == 0).then(|| {
                    format!(
                        "no live session of {} was found; the tokens this keyring's keys issued \
                         to them up to now are refused all the same",
                        quoted(id)
                    )
                });
                (scoped, Some(entry), ended, note)
            }
            Scope::Key => {
                let (revocation, note) = self.key_revocation(scoped)?;
                let entry = self.store().revoke(&revocation).await?;
                (revocation, Some(entry), 0, note)
            }
            Scope::Global => {
                // Sessions are not ended one by one: the entry lives as long as a session
                // created before it could still refresh, and refresh checks it.
                // Sessions are created by services with their own configurations: the entry
                // outlives the longest any session may live, not this gate's windows.
                let lifetime = lifetime.max(
                    crate::session::MAX_SESSION_LIFETIME
                        .saturating_add(self.store().max_leeway())
                        .saturating_add(1),
                );
                let revocation = Revocation::new(scope, "", now, now.saturating_add(lifetime))
                    .with_lifetime(lifetime);
                let entry = self.store().revoke(&revocation).await?;
                (revocation, Some(entry), 0, None)
            }
        };
        tracing::info!(scope = scope.as_str(), id = %quoted(id), sessions_ended, "revoked");
        Ok(Revoked::Scope {
            revocation,
            entry,
            sessions_ended,
            note,
        })
    }

    /// Ends a session for good and refuses every token carrying its id for as long as any
    /// token can live (`revocation`, the scope's): its session's own tokens, and any minted
    /// with its id outside the session (`mint --sid`), which the session's record does not
    /// know. Returns the entry, whether a live session ended, and a note when no session of that
    /// id is known.
    async fn revoke_session(
        &self,
        revocation: &Revocation,
    ) -> Result<(Entry, bool, Option<String>)> {
        let sid = revocation.id.as_str();
        let (ended, note) = match self.store().end_session(sid, None).await? {
            Ended::Now(_) => (true, None),
            Ended::Already(_) => (false, None),
            Ended::Missing => (
                false,
                Some(format!(
                    "no session {} is known to the store; tokens carrying that sid are refused \
                     all the same",
                    quoted(sid)
                )),
            ),
        };
        // Merged with the entry the end wrote (if any): the later expiry wins.
        let entry = self.store().revoke(revocation).await?;
        Ok((entry, ended, note))
    }

    /// A session that expired without being ended may still have a live access token (one
    /// minted near its absolute expiry): refuse it until that token expires. One that was ended
    /// had its entry written then: nothing to write.
    pub(crate) async fn revoke_expired_session(
        &self,
        record: &SessionRecord,
    ) -> Result<Option<Entry>> {
        if record.ended_at.is_some() {
            return Ok(None);
        }
        let now = self.clock().now();
        let revocation = record.revocation(now, self.store().max_leeway());
        if revocation.expires_at <= now {
            return Ok(None);
        }
        Ok(Some(self.store().revoke(&revocation).await?))
    }

    /// The key-scope revocation of `kid`: refused for a key that signs or is staged to (its
    /// tokens would keep coming after the entry expires); in the namespace of the key when the
    /// keyring holds it, with a note when it does not.
    fn key_revocation(&self, revocation: Revocation) -> Result<(Revocation, Option<String>)> {
        let Ok(keyring) = self.keyring() else {
            return Ok((revocation, None));
        };
        let kid = revocation.id.clone();
        match keyring.entry(&kid) {
            Some(entry) if matches!(entry.state, KeyState::Active | KeyState::Next) => {
                Err(Error::usage(format!(
                    "key {} is {} and {}: a revocation would lapse while it keeps signing; \
                     rotate first (`tollgate keys rotate`{}), then revoke it, or retire it \
                     (`tollgate keys retire {kid}`)",
                    quoted(&kid),
                    entry.state,
                    if entry.state == KeyState::Active {
                        "signs new tokens"
                    } else {
                        "will sign after the next rotation"
                    },
                    if entry.state == KeyState::Next {
                        " twice, or retire it"
                    } else {
                        ""
                    }
                )))
            }
            Some(entry) => {
                let namespace = keyring
                    .key_set()
                    .get(&kid)
                    .map_or(Namespace::Own, |k| k.namespace().clone());
                // Its tokens were signed up to when it stopped signing (which a clock set
                // ahead may have put in the future): the entry outlives the last of them.
                let mut revocation = revocation;
                if let Some(stopped) = entry.deactivated {
                    let lifetime = revocation.expires_at.saturating_sub(revocation.revoked_at);
                    revocation.expires_at =
                        revocation.expires_at.max(stopped.saturating_add(lifetime));
                }
                // An imported key may keep signing at its issuer.
                let note = (!entry.private).then(|| {
                    format!(
                        "key {} was imported and may keep signing at its issuer; this \
                         revocation lapses with the keyring's max_ttl: retire it \
                         (`tollgate keys retire {kid}`) for a refusal that does not",
                        quoted(&kid)
                    )
                });
                Ok((revocation.with_namespace(namespace), note))
            }
            None => Ok((
                revocation,
                Some(format!(
                    "no key {} in the keyring; the revocation is recorded all the same, for the \
                     keyring's max_ttl: retire the key where it lives for a revocation that does \
                     not lapse",
                    quoted(&kid)
                )),
            )),
        }
    }
}
