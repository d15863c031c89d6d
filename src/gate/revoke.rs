//! [`Gate::revoke`] and [`Gate::revoke_token`]: the one place that says what revoking each scope
//! means. The CLI's `revoke`, the service's `POST /revoke` and applications call these and add
//! nothing of their own.

use serde_json::Value;

use super::Gate;
use crate::error::{Error, Result, quoted};
use crate::keys::KeySet;
use crate::store::{Revocation, RevocationStore, Scope, SessionStore};
use crate::token::{self, Checks, TokenKind};

/// What [`Gate::revoke_token`] or [`Gate::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// One token: the entry now in the store.
    Stored(Revocation),
    /// The token had expired already (beyond the leeway): nothing needed storing.
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
    /// A session, user, key or everything: the entry now in the store, and how many live
    /// sessions the revocation ended.
    Scope {
        /// The entry.
        entry: Revocation,
        /// Live sessions ended by it (always 0 for key and global scopes).
        sessions_ended: u64,
    },
}

impl<S: SessionStore> Gate<S> {
    /// Revokes a token: an access token is denylisted until it expires (plus the leeway); its
    /// signature must verify, its time, audience and issuer do not matter, and an expired one
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
        let now = self.clock().now();
        let expires_at = verified
            .claims
            .exp
            .saturating_add(self.options().leeway_secs());
        if expires_at <= now {
            return Ok(Revoked::AlreadyExpired {
                jti: verified.claims.jti,
                exp: verified.claims.exp,
            });
        }
        let entry = Revocation::new(Scope::Token, verified.claims.jti, now, expires_at);
        self.store().revoke(&entry, now).await?;
        tracing::info!(scope = "token", jti = %entry.id, "revoked");
        Ok(Revoked::Stored(entry))
    }
}

impl<S: SessionStore> Gate<S> {
    /// Revokes every token of a session, of a user (issued up to now), of a key, or (with
    /// [`Scope::Global`] and an empty id) every token issued up to now, with all that the scope
    /// means (see the table below): a session scope also ends the session, a user
    /// scope every session of the user.
    ///
    /// | scope | what it does |
    /// | --- | --- |
    /// | token | denylists one access token until it expires |
    /// | session | every token of the session is refused, and the session ends for good: it never refreshes again and leaves the session list |
    /// | user | every token of the user issued up to now is refused, and every session of the user ends |
    /// | key | every token signed by the key is refused |
    /// | global | every token issued up to now is refused |
    ///
    /// # Errors
    ///
    /// `usage` for the token scope (use [`Gate::revoke_token`]), an empty id (or a non-empty
    /// one for global); `store_unavailable`.
    pub async fn revoke(&self, scope: Scope, id: &str) -> Result<Revoked> {
        if scope == Scope::Token {
            return Err(Error::usage(
                "revoke a token by passing the token itself, not its jti",
            ));
        }
        let now = self.clock().now();
        let expires_at = now.saturating_add(self.scope_lifetime());
        let entry = Revocation::new(scope, id, now, expires_at);
        entry.validate()?;
        let sessions_ended = match scope {
            Scope::Session => {
                let ended = self.store().end_session(id, None, expires_at, now).await?;
                if ended.is_none() {
                    // No live session of that id (a token from `mint --sid`, or a session that
                    // ended): its tokens are refused all the same.
                    self.store().revoke(&entry, now).await?;
                }
                u64::from(ended.is_some())
            }
            Scope::User => {
                let ended = self
                    .store()
                    .end_user_sessions(id, None, expires_at, now)
                    .await?;
                self.store().revoke(&entry, now).await?;
                ended
            }
            Scope::Key | Scope::Global | Scope::Token => {
                self.store().revoke(&entry, now).await?;
                0
            }
        };
        tracing::info!(scope = scope.as_str(), id = %quoted(id), sessions_ended, "revoked");
        Ok(Revoked::Scope {
            entry,
            sessions_ended,
        })
    }
}
