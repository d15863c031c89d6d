//! The store side of sessions: the [`SessionStore`] trait, the per-session record it keeps, and
//! the rules every backend applies in one atomic step: which secret a presented refresh token
//! carries ([`SessionRecord::presented`]), rotation ([`Rotation::apply`]) and ending a session
//! ([`SessionRecord::end`]).
//!
//! The session *logic* (login, refresh, logout) is [`Gate`](crate::Gate)'s; the refresh-token
//! format and its cryptography are in the `session` module. Stores know only digests.

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Entry, Revocation, RevocationStore, Scope};
use crate::error::Result;

/// A SHA-256 digest of a refresh secret: what a store keeps instead of the secret.
pub type SecretHash = [u8; 32];

/// Compares two digests (or any two byte strings) in constant time.
pub fn digests_match(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

const MAX_USER_AGENT: usize = 256;
const MAX_IP: usize = 64;

/// Where a login came from: shown in the session list, never used for a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The client's user agent (at most 256 characters are kept).
    pub user_agent: Option<String>,
    /// The client's IP address, as the application saw it (at most 64 characters are kept).
    pub ip: Option<String>,
}

impl Device {
    /// A device with a user agent and an IP, either optional.
    pub fn new(user_agent: Option<String>, ip: Option<String>) -> Self {
        Device { user_agent, ip }
    }

    /// The device with its fields cut to the lengths a store keeps.
    pub fn truncated(&self) -> Device {
        let cut =
            |s: &Option<String>, max: usize| s.as_ref().map(|s| s.chars().take(max).collect());
        Device {
            user_agent: cut(&self.user_agent, MAX_USER_AGENT),
            ip: cut(&self.ip, MAX_IP),
        }
    }
}

/// Which of a session's secrets a presented refresh token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The current generation: the token would rotate.
    Current,
    /// The immediate parent (spent by the last rotation).
    Parent,
}

/// One session (a refresh-token family), as a store keeps it.
///
/// It holds no secret: the current refresh secret and its parent only as SHA-256 digests, and the
/// current secret once more sealed under a key derived from the parent's secret (for the grace
/// window). Reading every record of a store lets nobody refresh or mint anything.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session id (a lower-case UUID), the `sid` claim of its access tokens.
    pub sid: String,
    /// The user.
    pub sub: String,
    /// The generation of the current refresh token: 1 at login, +1 per rotation.
    pub generation: u64,
    /// Login time (Unix seconds).
    pub created: i64,
    /// Time of the last login or rotation.
    pub last_used: i64,
    /// Time of the last rotation (the login time before the first one); the grace window counts
    /// from it.
    pub rotated_at: i64,
    /// Whether the login asked to be remembered.
    pub remember_me: bool,
    /// The sliding refresh window in seconds: each rotation moves `expires_at` to
    /// `min(now + window, absolute_expires_at)`.
    pub window: i64,
    /// When the current refresh token stops working unless rotated (Unix seconds).
    pub expires_at: i64,
    /// The hard end of the session, whatever happens (Unix seconds).
    pub absolute_expires_at: i64,
    /// Application claims copied into every access token of the session.
    pub claims: Map<String, Value>,
    /// The trusted caller (client id) that started the session, carried as the `client_id`
    /// claim of its access tokens; `None` for sessions started otherwise (the CLI, the library)
    /// and for records written before it was kept.
    pub client_id: Option<String>,
    /// Where the login came from.
    pub device: Device,
    /// SHA-256 of the current refresh secret.
    pub hash: SecretHash,
    /// SHA-256 of the previous refresh secret (none before the first rotation).
    pub parent_hash: Option<SecretHash>,
    /// The current refresh secret sealed under a key derived from the previous one (empty
    /// before the first rotation).
    pub sealed: Vec<u8>,
    /// When the session was ended (logout, logout-all, reuse detection), if it was.
    pub ended_at: Option<i64>,
    /// `iat` of the current generation's access token, on the clock of the gate that minted
    /// it: a grace-window replay re-derives the same token from it.
    pub issued_at: i64,
    /// The latest `exp` of any access token the session has issued: a revocation of the
    /// session is kept until then plus the maximum leeway, and no longer.
    pub access_exp: i64,
    /// A generation whose answer was never delivered (the access token could not be minted
    /// after the rotation committed): presenting its parent again is answered as a replay,
    /// whatever the grace window.
    pub undelivered: Option<u64>,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("sid", &self.sid)
            .field("sub", &self.sub)
            .field("generation", &self.generation)
            .field("created", &self.created)
            .field("last_used", &self.last_used)
            .field("rotated_at", &self.rotated_at)
            .field("remember_me", &self.remember_me)
            .field("expires_at", &self.expires_at)
            .field("absolute_expires_at", &self.absolute_expires_at)
            .field("ended_at", &self.ended_at)
            .field("issued_at", &self.issued_at)
            .field("access_exp", &self.access_exp)
            .field("undelivered", &self.undelivered)
            .finish_non_exhaustive()
    }
}

impl SessionRecord {
    /// Whether the session can still be refreshed at `now`: not ended and not expired.
    pub fn is_live(&self, now: i64) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }

    /// Which of this session's secrets a refresh token of `generation` whose secret digests to
    /// `hash` carries: the current one, its immediate parent, or neither (`None`). Digests are
    /// compared in constant time. The one match rule of rotation, introspection and logout.
    pub fn presented(&self, generation: u64, hash: &SecretHash) -> Option<Match> {
        if generation == self.generation && digests_match(hash, &self.hash) {
            return Some(Match::Current);
        }
        let parent = generation.checked_add(1) == Some(self.generation)
            && self
                .parent_hash
                .is_some_and(|parent| digests_match(hash, &parent));
        parent.then_some(Match::Parent)
    }

    /// The end-session rule, which every store applies inside one atomic step: a live session
    /// is marked ended at `now` and the step also writes [`revocation`](Self::revocation)
    /// (returns `true`); an ended or expired one is left as it is and nothing is written
    /// (returns `false`: its tokens were revoked when it ended, or have expired).
    pub fn end(&mut self, now: i64) -> bool {
        let was_live = self.is_live(now);
        if was_live {
            self.ended_at = Some(now);
        }
        was_live
    }

    /// The session-scope revocation that ending this session writes at `now` (the store's
    /// clock): kept until the latest access token the session issued has expired, plus the
    /// maximum leeway, and no longer.
    pub fn revocation(&self, now: i64, max_leeway: i64) -> Revocation {
        Revocation::new(
            Scope::Session,
            self.sid.as_str(),
            now,
            self.access_exp.saturating_add(max_leeway).saturating_add(1),
        )
    }
}

/// A session to create: everything but the times the store stamps on its own clock.
#[derive(Clone)]
pub struct NewSession {
    /// The session id (a lower-case UUID).
    pub sid: String,
    /// The user.
    pub sub: String,
    /// Whether the login asked to be remembered.
    pub remember_me: bool,
    /// The sliding refresh window in seconds.
    pub window: i64,
    /// The hard end of the session, in seconds after its creation.
    pub lifetime: i64,
    /// Application claims copied into every access token of the session.
    pub claims: Map<String, Value>,
    /// The trusted caller (client id) that started the session, if any.
    pub client_id: Option<String>,
    /// Where the login came from.
    pub device: Device,
    /// SHA-256 of the first refresh secret.
    pub hash: SecretHash,
    /// `iat` of the first access token (the gate's clock).
    pub issued_at: i64,
    /// `exp` of the first access token (the gate's clock).
    pub access_exp: i64,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("sid", &self.sid)
            .field("remember_me", &self.remember_me)
            .finish_non_exhaustive()
    }
}

impl NewSession {
    /// The record of this session created at `now` (the store's clock): generation 1, the
    /// sliding expiry capped by the absolute one.
    pub fn record(&self, now: i64) -> SessionRecord {
        let absolute_expires_at = now.saturating_add(self.lifetime);
        SessionRecord {
            sid: self.sid.clone(),
            sub: self.sub.clone(),
            generation: 1,
            created: now,
            last_used: now,
            rotated_at: now,
            remember_me: self.remember_me,
            window: self.window,
            expires_at: now.saturating_add(self.window).min(absolute_expires_at),
            absolute_expires_at,
            claims: self.claims.clone(),
            client_id: self.client_id.clone(),
            device: self.device.truncated(),
            hash: self.hash,
            parent_hash: None,
            sealed: Vec::new(),
            ended_at: None,
            issued_at: self.issued_at,
            access_exp: self.access_exp,
            undelivered: None,
        }
    }
}

/// What [`SessionStore::end_session`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The session was live and has ended now; its session revocation was written.
    Now(SessionRecord),
    /// The session had already ended (or expired): nothing was written.
    Already(SessionRecord),
    /// No record of the session (never created, purged, or another owner's): nothing was
    /// written.
    Missing,
}

/// One refresh attempt, as the store sees it: the presented generation and secret digest, and
/// the successor to install if the presented token is current.
#[derive(Clone)]
pub struct Rotation {
    /// The session named by the presented token.
    pub sid: String,
    /// The presented generation.
    pub generation: u64,
    /// SHA-256 of the presented secret.
    pub hash: SecretHash,
    /// SHA-256 of the successor secret.
    pub next_hash: SecretHash,
    /// The successor secret sealed under a key derived from the presented secret.
    pub sealed: Vec<u8>,
    /// The grace window in seconds (0 disables it).
    pub grace: i64,
    /// `iat` of the access token the caller will mint for the new generation (its clock).
    pub issued_at: i64,
    /// Its `exp`.
    pub access_exp: i64,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("sid", &self.sid)
            .field("generation", &self.generation)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

/// What [`SessionStore::rotate_session`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was current: the session moved to the next generation (the record
    /// as stored now).
    Rotated(SessionRecord),
    /// The presented token is the immediate parent and the rotation happened within the grace
    /// window: nothing changed; the record's `sealed` holds the successor for the caller to open.
    Grace(SessionRecord),
    /// Any other presentation of a known live session: the session is now ended and a
    /// session-scope revocation was written (the record as stored now).
    Reused(SessionRecord),
    /// No such session, or it has ended, expired, or been revoked by session: nothing changed.
    Unknown,
}

impl Rotation {
    /// The rotation rule, which every store applies to its record inside one atomic step
    /// (a lock, a transaction, a Lua script), then persists as the outcome says:
    ///
    /// `now` is the store's clock (the grace window and the expiry are decided on it):
    ///
    /// - the record is missing, ended, expired (`expires_at <= now`) or its session is revoked
    ///   (`session_revoked`): [`RotateOutcome::Unknown`], nothing changes;
    /// - the presented generation is current and its digest matches (compared in constant
    ///   time): generation + 1, the new digest and sealed successor, `rotated_at` and
    ///   `last_used` = now, `expires_at = min(now + window, absolute_expires_at)`, the new
    ///   access token's `issued_at`, `access_exp` the later of the old and the new:
    ///   [`RotateOutcome::Rotated`], store the record;
    /// - the presented generation is the immediate parent, its digest matches the parent digest,
    ///   and either the grace window is on and `now - rotated_at <= grace`, or the current
    ///   generation's answer was never delivered ([`SessionRecord::undelivered`]):
    ///   [`RotateOutcome::Grace`], nothing changes;
    /// - anything else (an older generation, a wrong digest, the parent after the grace window):
    ///   `ended_at = now`: [`RotateOutcome::Reused`]; store the record AND its
    ///   [`revocation`](SessionRecord::revocation) in the same atomic step.
    pub fn apply(
        &self,
        record: Option<SessionRecord>,
        session_revoked: bool,
        now: i64,
    ) -> RotateOutcome {
        let Some(mut record) = record else {
            return RotateOutcome::Unknown;
        };
        if !record.is_live(now) || session_revoked || record.sid != self.sid {
            return RotateOutcome::Unknown;
        }
        let presented = record.presented(self.generation, &self.hash);
        if presented == Some(Match::Current) {
            record.generation += 1;
            record.parent_hash = Some(record.hash);
            record.hash = self.next_hash;
            record.sealed.clone_from(&self.sealed);
            record.rotated_at = now;
            record.last_used = now;
            record.expires_at = now
                .saturating_add(record.window)
                .min(record.absolute_expires_at);
            record.issued_at = self.issued_at;
            record.access_exp = record.access_exp.max(self.access_exp);
            record.undelivered = None;
            return RotateOutcome::Rotated(record);
        }
        let within_grace = self.grace > 0 && now.saturating_sub(record.rotated_at) <= self.grace;
        let undelivered = record.undelivered == Some(record.generation);
        if presented == Some(Match::Parent) && (within_grace || undelivered) {
            return RotateOutcome::Grace(record);
        }
        record.ended_at = Some(now);
        RotateOutcome::Reused(record)
    }
}

/// Stores that keep sessions (refresh-token families) next to their revocations.
///
/// Few verbs: create, rotate (ONE atomic step), mark an answer undelivered, get, list by user,
/// end one, revoke a user (ending every session of theirs), end the others, purge. Every time
/// a store decides (creation, expiry, the grace window) comes from its own clock. Implement it
/// with `async fn`, like [`RevocationStore`].
///
/// A store must keep the rotation atomic: two refreshes of one token, from any number of
/// processes at once, must see one another's effect, so that exactly one rotates. The built-in
/// stores use a mutex (memory), `BEGIN IMMEDIATE` (SQLite), a row lock (PostgreSQL) and one Lua
/// script (Redis).
pub trait SessionStore: RevocationStore {
    /// Creates a session, stamping its times on the store's clock, and returns its record
    /// (`created` is the `auth_time` of its access tokens).
    ///
    /// # Errors
    ///
    /// `store_unavailable` when the store cannot be reached.
    fn create_session(
        &self,
        session: &NewSession,
    ) -> impl Future<Output = Result<SessionRecord>> + Send;

    /// Applies [`Rotation::apply`] to the session `rotation.sid` and persists its outcome, all
    /// in one atomic step (including the session revocation on reuse).
    ///
    /// # Errors
    ///
    /// `store_unavailable` when the store cannot be reached.
    fn rotate_session(
        &self,
        rotation: &Rotation,
    ) -> impl Future<Output = Result<RotateOutcome>> + Send;

    /// Records whether the answer of `generation` (the current one) was delivered: when it was
    /// not (`undelivered`), the parent's next presentation is a replay ([`Rotation::apply`]);
    /// once that replay's answer is delivered, the mark goes, and a later presentation of the
    /// parent is theft again (after the grace window). Nothing happens when the session has
    /// moved on.
    ///
    /// # Errors
    ///
    /// `store_unavailable` when the store cannot be reached.
    fn mark_undelivered(
        &self,
        sid: &str,
        generation: u64,
        undelivered: bool,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The session `sid` if its record still exists (ended sessions included until they
    /// expire; check [`SessionRecord::is_live`]).
    ///
    /// # Errors
    ///
    /// `store_unavailable` when the store cannot be reached.
    fn session(&self, sid: &str) -> impl Future<Output = Result<Option<SessionRecord>>> + Send;

    /// The live sessions of `sub`, in no particular order.
    ///
    /// # Errors
    ///
    /// `store_unavailable` when the store cannot be reached.
    fn user_sessions(&self, sub: &str) -> impl Future<Output = Result<Vec<SessionRecord>>> + Send;

    /// Ends the session `sid` (only if it belongs to `owner`, when given) by
    /// [`SessionRecord::end`], writing its [`revocation`](SessionRecord::revocation) in the same
    /// atomic step when it ends it now.
    ///
    /// # Errors
    ///
    /// `store_unavailable` when the store cannot be reached.
    fn end_session(
        &self,
        sid: &str,
        owner: Option<&str>,
    ) -> impl Future<Output = Result<Ended>> + Send;

    /// Writes a user-scope `revocation` and ends every live session of its user (its `id`) as
    /// [`end_session`](Self::end_session) does one, so that a session created before it can
    /// never refresh again; returns the entry as stored and the sessions it ended. Sessions created at the same time either
    /// are ended or were created after the revocation, on the store's clock.
    ///
    /// # Errors
    ///
    /// `usage` when `revocation` is not of the user scope in tollgate's own namespace;
    /// `store_unavailable` when the store cannot be reached.
    fn revoke_user(
        &self,
        revocation: &Revocation,
    ) -> impl Future<Output = Result<(Entry, Vec<SessionRecord>)>> + Send;

    /// Ends every live session of `sub` except `keep`, as [`end_session`](Self::end_session)
    /// does one; returns the sessions it ended.
    ///
    /// # Errors
    ///
    /// `store_unavailable` when the store cannot be reached.
    fn end_user_sessions(
        &self,
        sub: &str,
        keep: Option<&str>,
    ) -> impl Future<Output = Result<Vec<SessionRecord>>> + Send;

    /// Deletes the records of expired sessions (by the store's clock); returns how many (Redis
    /// returns 0: key TTLs do it).
    ///
    /// # Errors
    ///
    /// `store_unavailable` when the store cannot be reached.
    fn purge_sessions(&self) -> impl Future<Output = Result<u64>> + Send;
}

/// The usage error of [`SessionStore::revoke_user`] for an entry of another scope or namespace.
pub(crate) fn check_user_revocation(revocation: &Revocation) -> Result<()> {
    revocation.validate()?;
    if revocation.scope != Scope::User || !revocation.namespace.is_own() {
        return Err(crate::error::Error::usage(
            "revoke_user takes a user-scope revocation of tollgate's own namespace",
        ));
    }
    Ok(())
}

/// The first 8 characters of a session id, for messages and logs.
pub(crate) fn sid_prefix(sid: &str) -> String {
    let prefix: String = sid.chars().take(8).collect();
    if prefix.len() < sid.len() {
        format!("{prefix}…")
    } else {
        prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "3f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn sid_prefixes_are_short() {
        assert_eq!(sid_prefix(SID), "3f9a1c2e…");
        assert_eq!(sid_prefix("abc"), "abc");
    }

    fn record() -> SessionRecord {
        SessionRecord {
            sid: SID.into(),
            sub: "alice".into(),
            generation: 3,
            created: 100,
            last_used: 200,
            rotated_at: 200,
            remember_me: true,
            window: 1000,
            expires_at: 1200,
            absolute_expires_at: 1500,
            claims: Map::new(),
            client_id: None,
            device: Device::default(),
            hash: [3; 32],
            parent_hash: Some([2; 32]),
            sealed: vec![9; 60],
            ended_at: None,
            issued_at: 200,
            access_exp: 1100,
            undelivered: None,
        }
    }

    fn rotation(generation: u64, hash: u8, grace: i64) -> Rotation {
        Rotation {
            sid: SID.into(),
            generation,
            hash: [hash; 32],
            next_hash: [4; 32],
            sealed: vec![7; 60],
            grace,
            issued_at: 290,
            access_exp: 1190,
        }
    }

    #[test]
    fn current_rotates_and_slides_up_to_the_cap() {
        let RotateOutcome::Rotated(r) = rotation(3, 3, 10).apply(Some(record()), false, 300) else {
            panic!()
        };
        assert_eq!(
            (r.generation, r.hash, r.parent_hash),
            (4, [4; 32], Some([3; 32]))
        );
        assert_eq!((r.rotated_at, r.last_used, r.expires_at), (300, 300, 1300));
        assert_eq!(r.sealed, vec![7; 60]);
        assert_eq!(
            (r.issued_at, r.access_exp, r.undelivered),
            (290, 1190, None)
        );
        let RotateOutcome::Rotated(r) = rotation(3, 3, 10).apply(Some(record()), false, 1100)
        else {
            panic!()
        };
        assert_eq!(r.expires_at, 1500, "capped by the absolute expiry");
    }

    #[test]
    fn the_parent_within_grace_gets_the_sealed_successor() {
        let base = record();
        assert_eq!(
            rotation(2, 2, 10).apply(Some(base.clone()), false, 210),
            RotateOutcome::Grace(base.clone())
        );
        for (r, now) in [
            (rotation(2, 2, 10), 211), // after the window
            (rotation(2, 2, 0), 200),  // grace disabled
            (rotation(2, 9, 10), 205), // wrong digest
            (rotation(1, 2, 10), 205), // older generation
            (rotation(3, 9, 10), 205), // current generation, wrong digest
            (rotation(4, 3, 10), 205), // a future generation
        ] {
            let RotateOutcome::Reused(ended) = r.apply(Some(base.clone()), false, now) else {
                panic!("{r:?} at {now}")
            };
            assert_eq!(ended.ended_at, Some(now));
            assert_eq!(ended.generation, 3);
        }
    }

    #[test]
    fn an_undelivered_answer_is_replayed_to_its_parent_whatever_the_grace_window() {
        let base = SessionRecord {
            undelivered: Some(3),
            ..record()
        };
        // Long after the grace window, and with grace disabled: still a replay, not theft.
        assert_eq!(
            rotation(2, 2, 0).apply(Some(base.clone()), false, 1_000),
            RotateOutcome::Grace(base.clone())
        );
        // A wrong digest is still theft.
        assert!(matches!(
            rotation(2, 9, 0).apply(Some(base.clone()), false, 1_000),
            RotateOutcome::Reused(_)
        ));
        // A mark for an older generation does not count.
        let stale = SessionRecord {
            undelivered: Some(2),
            ..record()
        };
        assert!(matches!(
            rotation(2, 2, 0).apply(Some(stale), false, 1_000),
            RotateOutcome::Reused(_)
        ));
    }

    #[test]
    fn ending_writes_a_revocation_sized_by_the_latest_access_token() {
        let mut r = record();
        assert!(r.end(300));
        assert_eq!(r.ended_at, Some(300));
        assert!(!r.end(301), "an ended session is not ended again");
        let entry = r.revocation(300, 300);
        assert_eq!(
            (entry.scope, entry.id.as_str(), entry.expires_at),
            (Scope::Session, SID, 1100 + 300 + 1)
        );
    }

    #[test]
    fn ended_expired_revoked_and_missing_sessions_are_unknown() {
        let r = rotation(3, 3, 10);
        assert_eq!(r.apply(None, false, 300), RotateOutcome::Unknown);
        assert_eq!(r.apply(Some(record()), true, 300), RotateOutcome::Unknown);
        assert_eq!(r.apply(Some(record()), false, 1200), RotateOutcome::Unknown);
        let ended = SessionRecord {
            ended_at: Some(250),
            ..record()
        };
        assert_eq!(r.apply(Some(ended), false, 300), RotateOutcome::Unknown);
    }
}
