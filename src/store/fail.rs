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

use super::{Revocation, RevocationStore, Status, TokenRef};
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
/// let token = TokenRef { jti: "j", sid: None, sub: "u", kid: "k", iat: 0 };
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
    async fn revoke(&self, entry: &Revocation, now: i64) -> Result<()> {
        self.store.revoke(entry, now).await
    }

    async fn check(&self, token: &TokenRef<'_>, now: i64) -> Result<Status> {
        let result = self.store.check(token, now).await;
        FailMode::Open.apply(result, token, &self.failed_open)
    }

    async fn list(&self, now: i64) -> Result<Vec<Revocation>> {
        self.store.list(now).await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        self.store.purge_expired(now).await
    }
}
