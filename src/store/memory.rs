//! The in-process store (`memory:`): a map per scope behind a lock, expiry by `now`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use super::{
    Change, ChangeFeed, Revocation, RevocationStore, Scope, Status, Subscription, TokenRef,
};
use crate::error::Result;

mod sessions;

/// An in-process revocation store, for tests and single-process demos.
///
/// Clones share the same entries. Nothing survives the process.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tollgate::store::{MemoryStore, Revocation, RevocationStore, Scope, Status, TokenRef};
/// let store = MemoryStore::new();
/// let now = 1_800_000_000;
/// store.revoke(&Revocation::new(Scope::User, "alice", now, now + 900), now).await?;
/// let old = TokenRef { jti: "j1", sid: None, sub: "alice", kid: "k1", iat: now - 60 };
/// let new = TokenRef { iat: now + 1, ..old };
/// assert_eq!(store.check(&old, now).await?, Status::Revoked { scope: Scope::User, revoked_at: now });
/// assert_eq!(store.check(&new, now + 1).await?, Status::Valid);
/// # Ok::<(), tollgate::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    entries: RwLock<Entries>,
    changes: broadcast::Sender<Revocation>,
    sessions: Mutex<sessions::Sessions>,
}

/// `(revoked_at, expires_at)` per id, one map per scope (global uses the id "").
#[derive(Debug, Default)]
struct Entries {
    maps: [HashMap<String, (i64, i64)>; 5],
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(4096);
        MemoryStore {
            inner: Arc::new(Inner {
                entries: RwLock::new(Entries::default()),
                changes,
                sessions: Mutex::new(sessions::Sessions::default()),
            }),
        }
    }

    // A poisoned lock only means another thread panicked mid-update of plain integers; the map
    // is still consistent, so keep serving.
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.inner
            .entries
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.inner
            .entries
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn sessions(&self) -> MutexGuard<'_, sessions::Sessions> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Stores a validated entry and notifies subscribers (no await: callable under a lock).
    fn store_entry(&self, entry: &Revocation, now: i64) {
        if entry.expires_at <= now {
            return;
        }
        {
            let mut entries = self.write();
            let slot = entries.maps[entry.scope.index()]
                .entry(entry.id.clone())
                .or_insert((entry.revoked_at, entry.expires_at));
            // An expired leftover is replaced, a live one merged.
            if slot.1 <= now {
                *slot = (entry.revoked_at, entry.expires_at);
            } else {
                *slot = (slot.0.max(entry.revoked_at), slot.1.max(entry.expires_at));
            }
        }
        // No subscriber is not an error.
        let _ = self.inner.changes.send(entry.clone());
        tracing::debug!(scope = entry.scope.as_str(), id = %entry.id, "revoked (memory)");
    }
}

impl RevocationStore for MemoryStore {
    async fn revoke(&self, entry: &Revocation, now: i64) -> Result<()> {
        entry.validate()?;
        self.store_entry(entry, now);
        Ok(())
    }

    async fn check(&self, token: &TokenRef<'_>, now: i64) -> Result<Status> {
        let entries = self.read();
        let mut found = [None; 5];
        for scope in Scope::ALL {
            if let Some(id) = token.id(scope)
                && let Some(&(revoked_at, expires_at)) = entries.maps[scope.index()].get(id)
                && expires_at > now
            {
                found[scope.index()] = Some(revoked_at);
            }
        }
        Ok(Status::from_slots(token.iat, found))
    }

    async fn list(&self, now: i64) -> Result<Vec<Revocation>> {
        let entries = self.read();
        let mut out = Vec::new();
        for scope in Scope::ALL {
            for (id, &(revoked_at, expires_at)) in &entries.maps[scope.index()] {
                if expires_at > now {
                    out.push(Revocation::new(scope, id.clone(), revoked_at, expires_at));
                }
            }
        }
        Ok(out)
    }

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        let mut entries = self.write();
        let mut purged = 0;
        for map in &mut entries.maps {
            let before = map.len();
            map.retain(|_, (_, expires_at)| *expires_at > now);
            purged += (before - map.len()) as u64;
        }
        Ok(purged)
    }
}

impl ChangeFeed for MemoryStore {
    /// In-process notifications; a subscriber that falls more than 4096 changes behind gets an
    /// error and must reload.
    async fn subscribe(&self, interval: Duration) -> Result<Subscription> {
        let receiver = self.inner.changes.subscribe();
        let stream = futures_util::stream::unfold(Some(receiver), move |state| async move {
            let mut receiver = state?;
            let item = match tokio::time::timeout(interval, receiver.recv()).await {
                Err(_elapsed) => Ok(Change::Heartbeat),
                Ok(Ok(entry)) => Ok(Change::Revoked(entry)),
                Ok(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    return Some((
                        Err(super::unavailable(
                            "memory:",
                            format!("subscriber fell {missed} changes behind"),
                            "reload",
                        )),
                        None,
                    ));
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            };
            Some((item, Some(receiver)))
        });
        Ok(Subscription::from_stream(stream))
    }
}
