//! The session verbs of [`Gate`]: login, refresh, logout, logout-all, list, end one, end others.
//! See the [`session`](crate::session) module for the design and the threat model.

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::Gate;
use super::verify::revoked_error;
use crate::claims::MintOptions;
use crate::clock::{Clock, format_time};
use crate::error::{Error, ErrorKind, Result, quoted};
use crate::keys::{Keyring, Namespace};
use crate::session::{
    LoginRequest, RefreshToken, Secret, SessionInfo, TOKEN_TYPE, TokenPair, is_session_id, secs,
    sid_prefix,
};
use crate::store::{
    Ended, Entry, MAX_ID_LEN, NewSession, Revocation, RotateOutcome, Rotation, Scope,
    SessionRecord, SessionStore, Status, TokenRef,
};
use crate::token::{self, Checks, Minted, TokenKind};
use tracing::Instrument;

impl<S: SessionStore> Gate<S> {
    /// Starts a session: a new refresh-token family and its first access token.
    ///
    /// The session's creation time is the store's (the `auth_time` of all its access tokens,
    /// compared with user and global revocations on that same clock).
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
        // Fail before the store is touched when the keyring cannot sign.
        keyring.signer(None)?;
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
        let session = NewSession {
            sid,
            sub: request.sub.clone(),
            remember_me: request.remember_me,
            window: secs(window),
            lifetime: secs(lifetime),
            claims: request.claims.clone(),
            client_id: request.client_id.clone(),
            device: request.device.clone(),
            hash: secret.hash(),
            issued_at: now,
            access_exp: now.saturating_add(secs(self.sessions.access_ttl())),
        };
        let record = self.store().create_session(&session).await?;
        let access = match self.mint_access(&keyring, &record, &secret) {
            Ok(access) => access,
            Err(e) => {
                // Nobody holds this session: end it rather than leave it to expire.
                let _ = self.store().end_session(&record.sid, None).await;
                return Err(e);
            }
        };
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
    /// [session module docs](crate::session)). A session created before a user or global
    /// revocation never refreshes again (`revoked`, with that scope), and is ended.
    ///
    /// # Errors
    ///
    /// `wrong_token_type` for an access token; `malformed` for anything else that is not a
    /// refresh token; `reused_refresh_token` on reuse (the session is now revoked);
    /// `unknown_session` for a session that does not exist, ended, expired or was revoked;
    /// `revoked` when a user or global revocation covers the session; `bad_key`; `usage` for
    /// lifetimes beyond the keyring's `max_ttl`; `store_unavailable`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        // A span for the user's traces: the session id's prefix and the outcome, never a token.
        let span = tracing::debug_span!(
            "tollgate.refresh",
            sid = tracing::field::Empty,
            result = tracing::field::Empty,
        );
        let result = self
            .refresh_inner(refresh_token, &span)
            .instrument(span.clone())
            .await;
        span.record(
            "result",
            match &result {
                Ok(_) => "rotated",
                Err(e) => e.kind().as_str(),
            },
        );
        result
    }

    async fn refresh_inner(&self, refresh_token: &str, span: &tracing::Span) -> Result<TokenPair> {
        let presented = RefreshToken::parse(refresh_token)?;
        span.record("sid", tracing::field::display(sid_prefix(&presented.sid)));
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
            issued_at: now,
            access_exp: now.saturating_add(secs(self.sessions.access_ttl())),
        };
        let (record, secret) = match self.store().rotate_session(&rotation).await? {
            RotateOutcome::Rotated(record) => {
                tracing::debug!(
                    sid = %sid_prefix(sid),
                    generation = record.generation,
                    "session refreshed"
                );
                (record, successor)
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
                    "parent refresh token replayed (grace window or undelivered answer)"
                );
                (record, successor)
            }
            RotateOutcome::Reused(_) => {
                self.reuse_detections.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    sid = %sid_prefix(sid),
                    generation = presented.generation,
                    "refresh token reuse detected; session revoked"
                );
                return Err(Error::new(
                    ErrorKind::ReusedRefreshToken,
                    format!(
                        "refresh token already used; session {} is now revoked, log in again",
                        sid_prefix(sid)
                    ),
                )
                .with_context("session", sid_prefix(sid))
                .with_context("generation", presented.generation));
            }
            RotateOutcome::Unknown => return Err(self.why_unknown(sid).await),
        };
        self.refuse_if_revoked(&record).await?;
        match self.mint_access(&keyring, &record, &secret) {
            Ok(access) => {
                // A replay that made up for an undelivered answer delivered it: from now on the
                // parent is spent as usual (a later presentation past the grace window is theft).
                if record.undelivered == Some(record.generation)
                    && let Err(mark) = self
                        .store()
                        .mark_undelivered(&record.sid, record.generation, false)
                        .await
                {
                    tracing::warn!(error = %mark, sid = %sid_prefix(sid), "could not clear an undelivered mark");
                }
                Ok(pair(access, &record, &secret, now))
            }
            Err(e) => {
                // The rotation committed but its answer cannot be produced: let the client's
                // retry with the same (now parent) token be answered as a replay, whatever the
                // grace window, rather than taken for theft.
                if let Err(mark) = self
                    .store()
                    .mark_undelivered(&record.sid, record.generation, true)
                    .await
                {
                    tracing::warn!(error = %mark, sid = %sid_prefix(sid), "could not mark an undelivered refresh");
                }
                Err(e)
            }
        }
    }

    /// Why a session cannot refresh: `revoked` (with the scope) when a user or global
    /// revocation ended or covers it, else `unknown_session`. Asked only on that failure path.
    async fn why_unknown(&self, sid: &str) -> Error {
        let Ok(Some(record)) = self.store().session(sid).await else {
            return unknown_session(sid);
        };
        match self.user_and_global_entries(&record.sub).await {
            Ok(entries) => match self.covered(&record, &entries) {
                Status::Revoked { scope, revoked_at } => revoked_error(scope, revoked_at),
                Status::Valid => unknown_session(sid),
            },
            Err(_) => unknown_session(sid),
        }
    }

    /// Refuses (and ends) a session that a user or global revocation covers: its creation
    /// time, on the store's clock, is at or before the revocation's stamp on that clock. On
    /// Redis Cluster the rotation runs on the session's slot and cannot read those entries in
    /// the same step; this check after it, and the same rule at every verification of the
    /// session's access tokens (`auth_time`), close the gap.
    async fn refuse_if_revoked(&self, record: &SessionRecord) -> Result<()> {
        let entries = self.user_and_global_entries(&record.sub).await?;
        if let Status::Revoked { scope, revoked_at } = self.covered(record, &entries) {
            if let Err(e) = self.store().end_session(&record.sid, None).await {
                tracing::warn!(error = %e, sid = %sid_prefix(&record.sid), "could not end a revoked session");
            }
            return Err(revoked_error(scope, revoked_at));
        }
        Ok(())
    }

    /// The live user and global entries of `sub` (indexed like [`Scope::ALL`], the other
    /// scopes empty): one lookup, whatever the number of sessions they are checked against.
    async fn user_and_global_entries(&self, sub: &str) -> Result<[Option<Entry>; 5]> {
        let own = Namespace::Own;
        let probe = TokenRef {
            namespace: &own,
            jti: "",
            sid: None,
            sub,
            kid: "",
            iat: None,
            auth_time: None,
        };
        let found = self.store().lookup(&probe, self.clock().now()).await?;
        // Only the user and global scopes: the session scope is decided inside the rotation,
        // atomically (a concurrent theft detection after it does not unmake the answer), and
        // the token and key probes are empty ids.
        Ok([
            None,
            None,
            found[Scope::User.index()],
            None,
            found[Scope::Global.index()],
        ])
    }

    /// Whether a user or global revocation (`entries`, from
    /// [`user_and_global_entries`](Self::user_and_global_entries)) covers a session: it was
    /// created (its tokens' `auth_time`) no later than the revocation, on the store's clock.
    fn covered(&self, record: &SessionRecord, entries: &[Option<Entry>; 5]) -> Status {
        let own = Namespace::Own;
        let probe = TokenRef {
            namespace: &own,
            jti: "",
            sid: Some(&record.sid),
            sub: &record.sub,
            kid: "",
            iat: None,
            auth_time: Some(record.created),
        };
        Status::decide(&probe, entries, self.store().max_leeway())
    }

    /// Ends the session of an access token or of a refresh token, and revokes its live access
    /// tokens. Returns the session id.
    ///
    /// An access token must verify, or have expired less than the keyring's `max_ttl` ago (its
    /// signature must verify either way), and be one of tollgate's own: a token of another
    /// issuer belongs to no tollgate session. A refresh token must be the session's current one
    /// or the one it replaced. Logging out a session that has already ended writes nothing.
    ///
    /// # Errors
    ///
    /// The signature and structure kinds of [`verify`](crate::token::verify) for an access
    /// token, `expired` when it expired longer ago than that, `missing_claim` when it has no
    /// `sid`, `unknown_session` for another issuer's token; `malformed` for a broken refresh
    /// token, `unknown_session` when its session is not live; `store_unavailable`.
    pub async fn logout(&self, token: &str) -> Result<String> {
        if TokenKind::is_refresh(token) {
            let presented = RefreshToken::parse(token)?;
            authentic(&presented, self.keyring()?.session_key()?.as_ref())?;
            // Only the session's current token or the one it replaced ends it: an older one,
            // even genuine, ends nothing here (a refresh with it is what detects theft).
            if self.refresh_session(token).await?.is_none() {
                return Err(unknown_session(&presented.sid));
            }
            return match self.store().end_session(&presented.sid, None).await? {
                Ended::Now(record) => {
                    log_end(&record, "logout");
                    Ok(record.sid)
                }
                Ended::Already(_) | Ended::Missing => Err(unknown_session(&presented.sid)),
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
        if !verified.namespace.is_own() {
            return Err(Error::new(
                ErrorKind::UnknownSession,
                format!(
                    "the token was signed by {}, not by this keyring: it belongs to no tollgate session",
                    verified.namespace
                ),
            ));
        }
        let now = self.clock().now();
        let window = self.max_ttl();
        if now >= verified.claims.exp.saturating_add(window) {
            return Err(Error::new(
                ErrorKind::Expired,
                format!(
                    "the token expired at {}, longer ago than the keyring's max_ttl: its session \
                     has no token left to revoke; nothing to log out",
                    format_time(verified.claims.exp)
                ),
            )
            .with_context("exp", verified.claims.exp)
            .with_context("now", now));
        }
        // A token revoked on its own (or by its user, key or everyone) no longer speaks for
        // its session: whoever holds a leaked, revoked token cannot end the victim's session
        // with it. Revoked by its session: the session ended already, and nothing is written.
        if let Status::Revoked { scope, revoked_at } = self
            .store()
            .check(&super::verify::token_ref(&verified), now)
            .await?
            && scope != Scope::Session
        {
            return Err(revoked_error(scope, revoked_at));
        }
        let sid = verified.claims.sid.ok_or_else(|| {
            Error::new(
                ErrorKind::MissingClaim,
                "the token has no `sid` claim, so it belongs to no session; revoke it instead",
            )
            .with_context("claim", "sid")
        })?;
        match self
            .store()
            // Own tokens always carry `sub` (the strict profile requires it).
            .end_session(
                &sid,
                Some(verified.claims.sub.as_deref().unwrap_or_default()),
            )
            .await?
        {
            Ended::Now(record) => log_end(&record, "logout"),
            // Ended before: its revocation was written then; one that expired unended may
            // still have a live access token.
            Ended::Already(record) => {
                self.revoke_expired_session(&record).await?;
            }
            // No record (a token from `mint --sid`, or a purged session): its access tokens
            // die all the same.
            Ended::Missing => {
                let lifetime = self.scope_lifetime();
                let entry = Revocation::new(
                    Scope::Session,
                    sid.as_str(),
                    now,
                    now.saturating_add(lifetime),
                )
                .with_lifetime(lifetime);
                entry.validate()?;
                self.store().revoke(&entry).await?;
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

    /// Logs the user of `token` out everywhere ([`Gate::logout_all`]), where `token` is one of
    /// tollgate's own access tokens that verifies, or the current refresh token of a live
    /// session (a made-up or spent refresh token is refused before anything is written).
    /// Returns the subject and how many sessions were live.
    ///
    /// # Errors
    ///
    /// As [`Gate::verify`] for an access token, `unknown_session` for another issuer's;
    /// `unknown_session` for a refresh token that is not the current one of a live session;
    /// `store_unavailable`.
    pub async fn logout_all_by_token(&self, token: &str) -> Result<(String, u64)> {
        let sub = if TokenKind::is_refresh(token) {
            let presented = RefreshToken::parse(token)?;
            authentic(&presented, self.keyring()?.session_key()?.as_ref())?;
            match self.refresh_token_info(token).await? {
                Some(info) => info.sub,
                None => return Err(unknown_session(&presented.sid)),
            }
        } else {
            let verified = self.verify::<Value>(token).await?;
            if !verified.namespace.is_own() {
                return Err(Error::new(
                    ErrorKind::UnknownSession,
                    "the token was not signed by this keyring: its user has no tollgate session",
                ));
            }
            // Own tokens always carry `sub` (the strict profile requires it).
            verified.claims.sub.unwrap_or_default()
        };
        let ended = self.logout_all(&sub).await?;
        Ok((sub, ended))
    }

    /// The live sessions of `sub`, most recently used first: not ended, and not covered by a
    /// user or global revocation.
    ///
    /// # Errors
    ///
    /// `store_unavailable`.
    pub async fn sessions(&self, sub: &str) -> Result<Vec<SessionInfo>> {
        let entries = self.user_and_global_entries(sub).await?;
        // A session a user or global revocation covers can never refresh again: not live, even
        // before its record is ended (at its next refresh) or purged.
        let mut list: Vec<SessionInfo> = self
            .store()
            .user_sessions(sub)
            .await?
            .into_iter()
            .filter(|r| {
                r.ended_at.is_none() && r.sub == sub && !self.covered(r, &entries).is_revoked()
            })
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
        match self.store().end_session(sid, Some(sub)).await? {
            Ended::Now(record) => {
                log_end(&record, "ended by its user");
                Ok(())
            }
            Ended::Already(_) | Ended::Missing => Err(unknown_session(sid)),
        }
    }

    /// Ends every session of `sub` but `keep_sid` ("log out my other devices") and revokes
    /// their access tokens. Returns how many were ended.
    ///
    /// # Errors
    ///
    /// `store_unavailable`.
    pub async fn end_other_sessions(&self, sub: &str, keep_sid: &str) -> Result<u64> {
        let ended = self
            .store()
            .end_user_sessions(sub, Some(keep_sid))
            .await?
            .len() as u64;
        tracing::info!(
            sub = %quoted(sub),
            kept = %sid_prefix(keep_sid),
            ended,
            "other sessions ended"
        );
        Ok(ended)
    }

    /// Mints the access token of a session generation: deterministic given the record and the
    /// generation's refresh secret (the `jti` derives from the secret, `iat` is the record's
    /// `issued_at`, `auth_time` its creation), so that a replay re-derives the same token.
    ///
    /// Its `exp` never passes the record's `access_exp`, the latest expiry the session has
    /// recorded and the one its revocation is sized by: a replay answered by a service with a
    /// longer access lifetime than the one that rotated gets a token that ends no later.
    fn mint_access(
        &self,
        keyring: &Keyring,
        record: &SessionRecord,
        secret: &Secret,
    ) -> Result<Minted> {
        let recorded = record.access_exp.saturating_sub(record.issued_at).max(1);
        let ttl = self
            .sessions
            .access_ttl()
            .min(std::time::Duration::from_secs(recorded.unsigned_abs()));
        let mut options = self.options().mint_defaults(
            MintOptions::new(record.sub.clone())
                .with_ttl(ttl)
                .with_sid(record.sid.clone()),
        );
        options.extra.clone_from(&record.claims);
        // The caller that started the session (RFC 9068 §2.2); callers cannot set it as a claim.
        if let Some(client_id) = &record.client_id {
            options
                .extra
                .insert("client_id".to_owned(), client_id.clone().into());
        }
        options.jti = Some(secret.access_jti(&record.sid)?);
        options.auth_time = Some(record.created);
        token::mint(keyring, &options, &Clock::fixed(record.issued_at))
    }
}

fn pair(access: Minted, record: &SessionRecord, secret: &Secret, now: i64) -> TokenPair {
    TokenPair {
        expires_in: access.claims.exp.saturating_sub(now).max(0),
        access_token: access.token,
        refresh_token: RefreshToken::format(&record.sid, record.generation, secret),
        token_type: TOKEN_TYPE,
        // Both times on the store's clock.
        refresh_expires_in: record.expires_at.saturating_sub(record.last_used).max(0),
        session_id: record.sid.clone(),
        remember_me: record.remember_me,
    }
}

pub(crate) fn unknown_session(sid: &str) -> Error {
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
pub(crate) fn authentic(presented: &RefreshToken, session_key: &[u8]) -> Result<()> {
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
