//! The session verbs of [`Gate`]: login, refresh, logout, logout-all, list, end one, end others.
//! See the [`session`](crate::session) module for the design and the threat model.

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::Gate;
use crate::claims::MintOptions;
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result, quoted};
use crate::keys::Keyring;
use crate::session::{
    LoginRequest, RefreshToken, Secret, SessionInfo, TOKEN_TYPE, TokenPair, is_session_id, secs,
    sid_prefix,
};
use crate::store::{
    MAX_ID_LEN, Revocation, RotateOutcome, Rotation, Scope, SessionRecord, SessionStore,
};
use crate::token::{self, Checks, Minted, TokenKind};

impl<S: SessionStore> Gate<S> {
    /// Starts a session: a new refresh-token family and its first access token.
    ///
    /// # Errors
    ///
    /// `usage` for an empty or over-long subject or an access-token lifetime beyond the
    /// keyring's `max_ttl`; `bad_key` when the keyring has no active key; `store_unavailable`.
    pub async fn login(&self, request: &LoginRequest) -> Result<TokenPair> {
        let keyring = self.keyring()?;
        self.sessions.validate(keyring.max_ttl())?;
        if request.sub.is_empty() {
            return Err(Error::usage("the subject (sub) must not be empty"));
        }
        if request.sub.len() > MAX_ID_LEN {
            return Err(Error::usage(format!(
                "the subject {} is longer than {MAX_ID_LEN} bytes",
                quoted(&request.sub)
            )));
        }
        let now = self.clock().now();
        let sid = uuid::Uuid::new_v4().hyphenated().to_string();
        let secret = Secret::generate(keyring.session_key()?.as_ref(), &sid, 1)?;
        let (window, lifetime) = if request.remember_me {
            (
                self.sessions.remember_window(),
                self.sessions.absolute_max(),
            )
        } else {
            (
                self.sessions.refresh_window(),
                self.sessions.refresh_window(),
            )
        };
        let absolute_expires_at = now.saturating_add(secs(lifetime));
        let record = SessionRecord {
            sid,
            sub: request.sub.clone(),
            generation: 1,
            created: now,
            last_used: now,
            rotated_at: now,
            remember_me: request.remember_me,
            window: secs(window),
            expires_at: now.saturating_add(secs(window)).min(absolute_expires_at),
            absolute_expires_at,
            claims: request.claims.clone(),
            device: request.device.truncated(),
            hash: secret.hash(),
            parent_hash: None,
            sealed: Vec::new(),
            ended_at: None,
        };
        let access = self.mint_access(&keyring, &record, &secret)?;
        self.store().create_session(&record, now).await?;
        tracing::info!(
            sid = %sid_prefix(&record.sid),
            remember_me = record.remember_me,
            "session started"
        );
        Ok(pair(access, &record, &secret, now))
    }

    /// Rotates a refresh token: returns a new pair and spends the presented token.
    ///
    /// Presenting the immediate parent again within the grace window returns the same pair as
    /// its first use; any other reuse revokes the whole session (see the
    /// [session module docs](crate::session)).
    ///
    /// # Errors
    ///
    /// `wrong_token_type` for an access token; `malformed` for anything else that is not a
    /// refresh token; `reused_refresh_token` on reuse (the session is now revoked);
    /// `unknown_session` for a session that does not exist, ended, expired or was revoked;
    /// `bad_key`; `usage` for lifetimes beyond the keyring's `max_ttl`; `store_unavailable`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let presented = RefreshToken::parse(refresh_token)?;
        let keyring = self.keyring()?;
        self.sessions.validate(keyring.max_ttl())?;
        let session_key = keyring.session_key()?;
        authentic(&presented, session_key.as_ref())?;
        let now = self.clock().now();
        let sid = presented.sid.as_str();
        let successor = Secret::generate(session_key.as_ref(), sid, presented.generation + 1)?;
        let rotation = Rotation {
            sid: presented.sid.clone(),
            generation: presented.generation,
            hash: presented.secret.hash(),
            next_hash: successor.hash(),
            sealed: presented
                .secret
                .seal(sid, presented.generation + 1, &successor)?,
            grace: secs(self.sessions.grace()),
            revocation_expires_at: now.saturating_add(self.scope_lifetime()),
        };
        match self.store().rotate_session(&rotation, now).await? {
            RotateOutcome::Rotated(record) => {
                tracing::debug!(
                    sid = %sid_prefix(sid),
                    generation = record.generation,
                    "session refreshed"
                );
                let access = self.mint_access(&keyring, &record, &successor)?;
                Ok(pair(access, &record, &successor, now))
            }
            RotateOutcome::Grace(record) => {
                let successor = presented
                    .secret
                    .open(sid, record.generation, &record.sealed)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::UnknownSession,
                            format!(
                                "the stored successor of session {} does not open; log in again",
                                sid_prefix(sid)
                            ),
                        )
                    })?;
                tracing::debug!(
                    sid = %sid_prefix(sid),
                    generation = presented.generation,
                    "parent refresh token replayed within the grace window"
                );
                let access = self.mint_access(&keyring, &record, &successor)?;
                Ok(pair(access, &record, &successor, now))
            }
            RotateOutcome::Reused(_) => {
                self.reuse_detections.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    sid = %sid_prefix(sid),
                    generation = presented.generation,
                    "refresh token reuse detected; session revoked"
                );
                Err(Error::new(
                    ErrorKind::ReusedRefreshToken,
                    format!(
                        "refresh token already used; session {} is now revoked, log in again",
                        sid_prefix(sid)
                    ),
                )
                .with_context("session", sid_prefix(sid))
                .with_context("generation", presented.generation))
            }
            RotateOutcome::Unknown => Err(unknown_session(sid)),
        }
    }

    /// Ends the session of an access token (whose signature must verify; it may have expired)
    /// or of a refresh token, and revokes its live access tokens.
    ///
    /// # Errors
    ///
    /// The signature and structure kinds of [`verify`](crate::token::verify) for an access
    /// token, `missing_claim` when it has no `sid`; `malformed` for a broken refresh token,
    /// `unknown_session` when its session is not live; `store_unavailable`. Returns the session
    /// id.
    pub async fn logout(&self, token: &str) -> Result<String> {
        let now = self.clock().now();
        let expires_at = now.saturating_add(self.scope_lifetime());
        if TokenKind::is_refresh(token) {
            let presented = RefreshToken::parse(token)?;
            authentic(&presented, self.keyring()?.session_key()?.as_ref())?;
            // Only the session's current token or the one it replaced ends it: an older one,
            // even genuine, ends nothing here (a refresh with it is what detects theft).
            if self.refresh_session(token).await?.is_none() {
                return Err(unknown_session(&presented.sid));
            }
            return match self
                .store()
                .end_session(&presented.sid, None, expires_at, now)
                .await?
            {
                Some(record) => {
                    log_end(&record, "logout");
                    Ok(record.sid)
                }
                None => Err(unknown_session(&presented.sid)),
            };
        }
        let keyring = self.keyring()?;
        let verified = token::verify_inner::<Value>(
            token,
            keyring.key_set(),
            self.options(),
            self.clock(),
            Checks::Revocation,
        )?;
        let sid = verified.claims.sid.ok_or_else(|| {
            Error::new(
                ErrorKind::MissingClaim,
                "the token has no `sid` claim, so it belongs to no session; revoke it instead",
            )
            .with_context("claim", "sid")
        })?;
        let sub = verified.claims.sub;
        match self
            .store()
            .end_session(&sid, Some(&sub), expires_at, now)
            .await?
        {
            Some(record) => log_end(&record, "logout"),
            // No live family (a token from `mint`, or a session that ended): its access tokens
            // die all the same.
            None => {
                let entry = Revocation::new(Scope::Session, sid.as_str(), now, expires_at);
                entry.validate()?;
                self.store().revoke(&entry, now).await?;
            }
        }
        Ok(sid)
    }

    /// Ends every session of `sub` and revokes every access token issued to `sub` up to now:
    /// [`Gate::revoke`] of the user scope. Returns how many sessions were live.
    ///
    /// # Errors
    ///
    /// `usage` for an empty subject; `store_unavailable`.
    pub async fn logout_all(&self, sub: &str) -> Result<u64> {
        let ended = match self.revoke(Scope::User, sub).await? {
            crate::gate::Revoked::Scope { sessions_ended, .. } => sessions_ended,
            _ => 0,
        };
        tracing::info!(sub = %quoted(sub), ended, "logged out everywhere");
        Ok(ended)
    }

    /// Logs the user of `token` out everywhere ([`Gate::logout_all`]), where `token` is an access
    /// token that verifies, or the current refresh token of a live session (a made-up or spent
    /// refresh token is refused before anything is written). Returns the subject and how many
    /// sessions were live.
    ///
    /// # Errors
    ///
    /// As [`Gate::verify`] for an access token; `unknown_session` for a refresh token that is not
    /// the current one of a live session; `store_unavailable`.
    pub async fn logout_all_by_token(&self, token: &str) -> Result<(String, u64)> {
        let sub = if TokenKind::is_refresh(token) {
            let presented = RefreshToken::parse(token)?;
            authentic(&presented, self.keyring()?.session_key()?.as_ref())?;
            match self.refresh_token_info(token).await? {
                Some(info) => info.sub,
                None => return Err(unknown_session(&presented.sid)),
            }
        } else {
            self.verify::<Value>(token).await?.claims.sub
        };
        let ended = self.logout_all(&sub).await?;
        Ok((sub, ended))
    }

    /// The live sessions of `sub`, most recently used first.
    ///
    /// # Errors
    ///
    /// `store_unavailable`.
    pub async fn sessions(&self, sub: &str) -> Result<Vec<SessionInfo>> {
        let now = self.clock().now();
        let mut list: Vec<SessionInfo> = self
            .store()
            .user_sessions(sub, now)
            .await?
            .into_iter()
            .filter(|r| r.is_live(now) && r.sub == sub)
            .map(SessionInfo::from)
            .collect();
        list.sort_by(|a, b| {
            (b.last_used, b.created, &b.sid).cmp(&(a.last_used, a.created, &a.sid))
        });
        Ok(list)
    }

    /// Ends one session of `sub` ("log out that device") and revokes its access tokens.
    ///
    /// # Errors
    ///
    /// `unknown_session` when `sid` is not a live session of `sub`; `store_unavailable`.
    pub async fn end_session(&self, sub: &str, sid: &str) -> Result<()> {
        if !is_session_id(sid) {
            return Err(unknown_session(sid));
        }
        let now = self.clock().now();
        let expires_at = now.saturating_add(self.scope_lifetime());
        match self
            .store()
            .end_session(sid, Some(sub), expires_at, now)
            .await?
        {
            Some(record) => {
                log_end(&record, "ended by its user");
                Ok(())
            }
            None => Err(unknown_session(sid)),
        }
    }

    /// Ends every session of `sub` but `keep_sid` ("log out my other devices") and revokes
    /// their access tokens. Returns how many were ended.
    ///
    /// # Errors
    ///
    /// `store_unavailable`.
    pub async fn end_other_sessions(&self, sub: &str, keep_sid: &str) -> Result<u64> {
        let now = self.clock().now();
        let expires_at = now.saturating_add(self.scope_lifetime());
        let ended = self
            .store()
            .end_user_sessions(sub, Some(keep_sid), expires_at, now)
            .await?;
        tracing::info!(
            sub = %quoted(sub),
            kept = %sid_prefix(keep_sid),
            ended,
            "other sessions ended"
        );
        Ok(ended)
    }

    /// Mints the access token of a session generation: deterministic given the record and the
    /// generation's refresh secret (the `jti` derives from the secret, `iat` is the rotation
    /// time), so that a grace-window replay re-derives the same token.
    fn mint_access(
        &self,
        keyring: &Keyring,
        record: &SessionRecord,
        secret: &Secret,
    ) -> Result<Minted> {
        let mut options = self.options().mint_defaults(
            MintOptions::new(record.sub.clone())
                .with_ttl(self.sessions.access_ttl())
                .with_sid(record.sid.clone()),
        );
        options.extra.clone_from(&record.claims);
        options.jti = Some(secret.access_jti(&record.sid)?);
        token::mint(keyring, &options, &Clock::fixed(record.rotated_at))
    }
}

fn pair(access: Minted, record: &SessionRecord, secret: &Secret, now: i64) -> TokenPair {
    TokenPair {
        expires_in: access.claims.exp.saturating_sub(now).max(0),
        access_token: access.token,
        refresh_token: RefreshToken::format(&record.sid, record.generation, secret),
        token_type: TOKEN_TYPE,
        refresh_expires_in: record.expires_at.saturating_sub(now).max(0),
        session_id: record.sid.clone(),
        remember_me: record.remember_me,
    }
}

fn unknown_session(sid: &str) -> Error {
    Error::new(
        ErrorKind::UnknownSession,
        format!(
            "session {} does not exist, has ended or has expired; log in again",
            quoted(&sid_prefix(sid))
        ),
    )
}

fn log_end(record: &SessionRecord, why: &str) {
    tracing::info!(sid = %sid_prefix(&record.sid), why, "session ended");
}

/// Refuses a refresh token this keyring's services did not issue, before the store is asked:
/// someone who only knows a session id (every access token carries it) must not be able to
/// pass a made-up token for a stolen one and so end the session.
fn authentic(presented: &RefreshToken, session_key: &[u8]) -> Result<()> {
    if presented
        .secret
        .is_authentic(session_key, &presented.sid, presented.generation)
    {
        return Ok(());
    }
    tracing::warn!(sid = %sid_prefix(&presented.sid), generation = presented.generation, "refresh token with a bad tag refused");
    Err(Error::new(
        ErrorKind::UnknownSession,
        format!(
            "refresh token for session {} was not issued with this keyring's session key; log in again",
            sid_prefix(&presented.sid)
        ),
    ))
}
