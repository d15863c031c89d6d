//! Looking a refresh token up without spending it: for RFC 7662 introspection, and to check
//! that a refresh token presented to end a session is genuine.

use serde::Serialize;

use super::refresh::{RefreshToken, digests_match};
use super::{SessionRecord, SessionStore};
use crate::error::Result;
use crate::gate::Gate;
use crate::store::{Scope, Status, TokenRef};

/// What the store says about a refresh token that is the current one of a live session.
///
/// Nothing in it is secret: no token, no secret, no digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshTokenInfo {
    /// The session id.
    pub sid: String,
    /// The user.
    pub sub: String,
    /// The token's generation (1 at login, +1 per rotation).
    pub generation: u64,
    /// When this token was issued: the login or the rotation that produced it (Unix seconds).
    pub issued_at: i64,
    /// When it stops working unless it is used (Unix seconds).
    pub expires_at: i64,
    /// When the session ends whatever happens (Unix seconds).
    pub absolute_expires_at: i64,
    /// Whether the login was remembered.
    pub remember_me: bool,
}

/// Which of a session's secrets a presented refresh token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// The current generation: the token would rotate.
    Current,
    /// The immediate parent (spent by the last rotation).
    Parent,
}

impl<S: SessionStore> Gate<S> {
    /// The session of `refresh_token` when the token is the current one of a live session, or
    /// `Ok(None)`: the session does not exist, has ended, has expired or was revoked, or the
    /// token was spent by a rotation or never issued (a wrong secret). The token is not spent and
    /// nothing is written, so a spent token presented here does not trigger reuse detection.
    ///
    /// `Some` means that [`Gate::refresh`] with this token would rotate now.
    ///
    /// # Errors
    ///
    /// `wrong_token_type` for an access token, `malformed` for anything else that is not a
    /// refresh token; `store_unavailable`.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use tollgate::session::LoginRequest;
    /// use tollgate::{Algorithm, Clock, Gate, Keyring, Store};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let clock = Clock::fixed(1_800_000_000);
    /// # let mut keyring = Keyring::init(dir.path().join("keys"))?;
    /// # keyring.generate(Algorithm::EdDSA, None, &clock)?;
    /// let gate = Gate::new(Store::open("memory:").await?).with_keyring(keyring).with_clock(clock);
    /// let pair = gate.login(&LoginRequest::new("alice").with_remember_me(true)).await?;
    /// let info = gate.refresh_token_info(&pair.refresh_token).await?.expect("current");
    /// assert_eq!((info.sub.as_str(), info.generation), ("alice", 1));
    ///
    /// gate.refresh(&pair.refresh_token).await?;
    /// assert_eq!(gate.refresh_token_info(&pair.refresh_token).await?, None, "spent");
    /// # Ok::<(), tollgate::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn refresh_token_info(
        &self,
        refresh_token: &str,
    ) -> Result<Option<RefreshTokenInfo>> {
        Ok(match self.refresh_session(refresh_token).await? {
            Some((record, Match::Current)) => Some(RefreshTokenInfo {
                sid: record.sid,
                sub: record.sub,
                generation: record.generation,
                issued_at: record.rotated_at,
                expires_at: record.expires_at,
                absolute_expires_at: record.absolute_expires_at,
                remember_me: record.remember_me,
            }),
            _ => None,
        })
    }

    /// The live, unrevoked session whose current or previous secret `refresh_token` carries
    /// (digests compared in constant time), and which of the two it is.
    pub(crate) async fn refresh_session(
        &self,
        refresh_token: &str,
    ) -> Result<Option<(SessionRecord, Match)>> {
        let presented = RefreshToken::parse(refresh_token)?;
        let now = self.clock().now();
        let Some(record) = self.store().session(&presented.sid, now).await? else {
            return Ok(None);
        };
        if !record.is_live(now) || record.sid != presented.sid {
            return Ok(None);
        }
        let hash = presented.secret.hash();
        let found =
            if presented.generation == record.generation && digests_match(&hash, &record.hash) {
                Match::Current
            } else if presented.generation.checked_add(1) == Some(record.generation)
                && record
                    .parent_hash
                    .is_some_and(|parent| digests_match(&hash, &parent))
            {
                Match::Parent
            } else {
                return Ok(None);
            };
        // As a rotation does: a session revoked by its session scope is over.
        let probe = TokenRef {
            jti: "",
            sid: Some(&record.sid),
            sub: &record.sub,
            kid: "",
            iat: record.rotated_at,
        };
        if let Status::Revoked {
            scope: Scope::Session,
            ..
        } = self.store().check(&probe, now).await?
        {
            return Ok(None);
        }
        Ok(Some((record, found)))
    }
}
