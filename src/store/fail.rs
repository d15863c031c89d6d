//! Failing open: the explicit, logged and counted opt-in to treat an unreachable store as "not
//! revoked".
//!
//! tollgate fails closed by default: when the store cannot answer, verification fails with
//! [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) (exit 3, HTTP 503). Some
//! applications prefer availability to revocation during an outage; they wrap their store in
//! [`FailOpen`] (or set [`ReplicaConfig::with_fail_mode`](super::ReplicaConfig::with_fail_mode)),
//! and every check answered that way is logged with `tracing::warn!` and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    Ended, Entry, NewSession, Revocation, RevocationStore, RotateOutcome, Rotation, SessionRecord,
    SessionStore, Status, TokenRef,
};
use crate::error::Result;

/// What a check does when the store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Fail with `StoreUnavailable` (the default).
    #[default]
    Closed,
    /// Answer [`Status::Valid`], with a warning and a count: revocations are not enforced
    /// during the outage.
    Open,
}

impl FailMode {
    /// Applies the mode to a check's result, counting failed-open checks in `counter`.
    pub(crate) fn apply(
        self,
        result: Result<Status>,
        token: &TokenRef<'_>,
        counter: &AtomicU64,
    ) -> Result<Status> {
        match (self, result) {
            (FailMode::Open, Err(e)) if e.is_store_unavailable() => {
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    jti = token.jti,
                    kid = token.kid,
                    error = %e,
                    "revocation store unavailable; failing open as configured"
                );
                Ok(Status::Valid)
            }
            (_, result) => result,
        }
    }
}

/// A store wrapper that fails open: a check the store cannot answer returns [`Status::Valid`],
/// logged with `tracing::warn!` and counted in [`fail_open_count`](FailOpen::fail_open_count).
///
/// Other verbs (revoke, list, purge) still report errors: an operator must know a revocation
/// did not land.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tollgate::store::{FailOpen, MemoryStore, RevocationStore, Status, TokenRef};
/// let store = FailOpen::new(MemoryStore::new());
/// let ns = tollgate::keys::Namespace::Own;
/// let token = TokenRef { namespace: &ns, jti: "j", sid: None, sub: "u", kid: "k", iat: Some(0), auth_time: None };
/// assert_eq!(store.check(&token, 1).await?, Status::Valid);
/// assert_eq!(store.fail_open_count(), 0);
/// # Ok::<(), tollgate::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FailOpen<S> {
    store: S,
    failed_open: Arc<AtomicU64>,
}

impl<S: RevocationStore> FailOpen<S> {
    /// Wraps `store`.
    pub fn new(store: S) -> Self {
        FailOpen {
            store,
            failed_open: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many checks were answered `Valid` because the store was unavailable.
    pub fn fail_open_count(&self) -> u64 {
        self.failed_open.load(Ordering::Relaxed)
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.store
    }
}

impl<S: RevocationStore> RevocationStore for FailOpen<S> {
    async fn revoke(&self, revocation: &Revocation) -> Result<Entry> {
        self.store.revoke(revocation).await
    }

    async fn lookup(&self, token: &TokenRef<'_>, now: i64) -> Result<[Option<Entry>; 5]> {
        match self.store.lookup(token, now).await {
            Ok(found) => Ok(found),
            Err(e) => FailMode::Open
                .apply(Err(e), token, &self.failed_open)
                .map(|_| [None; 5]),
        }
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        self.store.list().await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.store.purge_expired().await
    }

    fn max_leeway(&self) -> i64 {
        self.store.max_leeway()
    }
}

/// Sessions fail closed whatever the mode: failing open applies to the revocation check only,
/// never to creating, rotating or ending a session.
impl<S: SessionStore> SessionStore for FailOpen<S> {
    async fn create_session(&self, session: &NewSession) -> Result<SessionRecord> {
        self.store.create_session(session).await
    }

    async fn rotate_session(&self, rotation: &Rotation) -> Result<RotateOutcome> {
        self.store.rotate_session(rotation).await
    }

    async fn mark_undelivered(&self, sid: &str, generation: u64, undelivered: bool) -> Result<()> {
        self.store
            .mark_undelivered(sid, generation, undelivered)
            .await
    }

    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>> {
        self.store.session(sid).await
    }

    async fn user_sessions(&self, sub: &str) -> Result<Vec<SessionRecord>> {
        self.store.user_sessions(sub).await
    }

    async fn end_session(&self, sid: &str, owner: Option<&str>) -> Result<Ended> {
        self.store.end_session(sid, owner).await
    }

    async fn revoke_user(&self, revocation: &Revocation) -> Result<(Entry, Vec<SessionRecord>)> {
        self.store.revoke_user(revocation).await
    }

    async fn end_user_sessions(&self, sub: &str, keep: Option<&str>) -> Result<Vec<SessionRecord>> {
        self.store.end_user_sessions(sub, keep).await
    }

    async fn purge_sessions(&self) -> Result<u64> {
        self.store.purge_sessions().await
    }
}
