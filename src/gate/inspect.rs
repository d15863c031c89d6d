//! Looking tokens up without changing anything: [`Gate::inspect`] (a token decoded WITHOUT
//! verification, with what the keyring and the store say about it: `tollgate inspect`),
//! [`Gate::introspect`] (RFC 7662: `POST /introspect`), and refresh tokens looked up without
//! spending them.

use serde::Serialize;
use serde_json::{Map, Value};

use super::Gate;
use crate::dangerous::{self, Unverified};
use crate::error::{ErrorKind, Result};
use crate::keys::KeyEntry;
use crate::keys::Namespace;
use crate::session::RefreshToken;
use crate::store::{
    Entry, EntryKey, Match, RevocationStore, Scope, SessionRecord, SessionStore, TokenRef, covers,
};
use crate::token::{TokenKind, Verified};

/// What [`Gate::inspect`] found: the token as sent (NOT verified), the keyring's key that its
/// `kid` names, and the live revocations that cover it.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The header and claims, decoded but not verified.
    pub unverified: Unverified,
    /// The keyring's entry for the token's `kid`, when the gate has a keyring and the kid is
    /// in it.
    pub key: Option<KeyEntry>,
    /// Live revocation entries that cover the token (by its claims as sent), most specific
    /// first (each entry's scope is its key's).
    pub revocations: Vec<Entry>,
}

/// What [`Gate::introspect`] says about a token (RFC 7662).
#[derive(Debug, Clone)]
pub enum Introspection {
    /// A valid access token (signature, type, time, issuer, audience, not revoked).
    Access(Box<Verified>),
    /// The current refresh token of a live session.
    Refresh(RefreshTokenInfo),
    /// Anything else: invalid, expired, revoked, spent, forged or unknown. An RFC 7662 answer
    /// says nothing more; `kind` (when the access-token pipeline refused it) is for metrics
    /// and logs.
    Inactive {
        /// Why an access token was refused; `None` for a refresh token.
        kind: Option<ErrorKind>,
    },
}

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

impl<S: SessionStore> Gate<S> {
    /// Decodes `token` WITHOUT verifying it, and reports the keyring's key that its `kid` names
    /// and every live revocation that covers it (by its claims as sent). For `tollgate inspect`:
    /// nothing here may be used for an access decision.
    ///
    /// # Errors
    ///
    /// `malformed` when the token cannot be decoded; `store_unavailable`.
    pub async fn inspect(&self, token: &str) -> Result<Inspection> {
        let unverified = dangerous::decode_unverified(token)?;
        let kid = unverified.header.get("kid").and_then(Value::as_str);
        let keyring = self.keyring().ok();
        let key = kid.and_then(|kid| keyring.as_ref()?.entry(kid).cloned());
        // The namespace of the key the kid names (tollgate's own when it names none: inspect
        // shows what this keyring's revocations say).
        let namespace = kid
            .and_then(|kid| Some(keyring.as_ref()?.key_set().get(kid)?.namespace().clone()))
            .unwrap_or(Namespace::Own);
        let claim = |name: &str| unverified.claims.get(name).and_then(Value::as_str);
        let time = |name: &str| unverified.claims.get(name).and_then(Value::as_i64);
        let probe = TokenRef {
            namespace: &namespace,
            jti: claim("jti").unwrap_or_default(),
            sid: claim("sid"),
            sub: claim("sub").unwrap_or_default(),
            kid: kid.unwrap_or_default(),
            // A token without a numeric `iat` is treated as issued before any revocation.
            iat: time("iat"),
            auth_time: time("auth_time"),
        };
        let revocations = self.revocations_of(&probe).await?;
        Ok(Inspection {
            unverified,
            key,
            revocations,
        })
    }

    /// RFC 7662 introspection: verifies an access token (with the keyring and the store), or
    /// looks a refresh token up without spending it.
    ///
    /// # Errors
    ///
    /// Only environment failures (`store_unavailable`, `bad_key`): every refused token is
    /// [`Introspection::Inactive`].
    pub async fn introspect(&self, token: &str) -> Result<Introspection> {
        if TokenKind::is_refresh(token) {
            return match self.refresh_token_info(token).await {
                Ok(Some(info)) => Ok(Introspection::Refresh(info)),
                Err(e) if e.class() == crate::Class::Environment => Err(e),
                Ok(None) | Err(_) => Ok(Introspection::Inactive { kind: None }),
            };
        }
        match self.verify::<Map<String, Value>>(token).await {
            Ok(verified) => Ok(Introspection::Access(Box::new(verified))),
            Err(e) if e.class() == crate::Class::Environment => Err(e),
            Err(e) => Ok(Introspection::Inactive {
                kind: Some(e.kind()),
            }),
        }
    }

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
        // The store keeps a record only until it expires (its own clock).
        let Some(record) = self.store().session(&presented.sid).await? else {
            return Ok(None);
        };
        if record.ended_at.is_some() || record.sid != presented.sid {
            return Ok(None);
        }
        let Some(presented_match) =
            record.presented(presented.generation, &presented.secret.hash())
        else {
            return Ok(None);
        };
        // As a rotation does: a session revoked by its session scope is over.
        let key = EntryKey::new(&Namespace::Own, Scope::Session, &record.sid);
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
        let found = self.store().lookup(&probe, self.clock().now()).await?;
        if found[Scope::Session.index()].is_some_and(|e| e.key == key) {
            return Ok(None);
        }
        Ok(Some((record, presented_match)))
    }
}

impl<S: RevocationStore> Gate<S> {
    /// Every live revocation entry that covers a token, most specific first (for `inspect`):
    /// token, session and key entries that match, user and global ones that
    /// [the coverage rule](crate::store::covers) says apply.
    ///
    /// # Errors
    ///
    /// `store_unavailable`.
    pub async fn revocations_of(&self, token: &TokenRef<'_>) -> Result<Vec<Entry>> {
        let found = self.store().lookup(token, self.clock().now()).await?;
        let max_leeway = self.store().max_leeway();
        Ok(found
            .into_iter()
            .flatten()
            .filter(|e| {
                !e.key.scope().is_time_bound() || covers(token, e.revoked_at, e.stamp, max_leeway)
            })
            .collect())
    }
}
