//! The in-process store (`memory:`): one map of entries and the sessions behind locks, expiry by
//! the store's clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use super::{
    Change, ChangeFeed, DEFAULT_MAX_LEEWAY, Entry, EntryKey, Revocation, RevocationStore, Scope,
    StoreClock, Subscription, TokenRef, purge_cutoff,
};
use crate::error::Result;

mod sessions;

/// An in-process store, for tests and single-process demos. Clones share the same data.
///
/// Its clock is the real one unless [`with_clock`](MemoryStore::with_clock) injects another
/// (tests move a [`StoreClock::manual`] to make entries and sessions expire).
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    entries: RwLock<HashMap<EntryKey, Entry>>,
    changes: broadcast::Sender<Entry>,
    sessions: Mutex<sessions::Sessions>,
    clock: StoreClock,
    max_leeway: i64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store on the real clock, with the default maximum leeway (5 minutes).
    pub fn new() -> Self {
        MemoryStore::with_clock(StoreClock::system())
    }

    /// An empty store reading `clock`.
    pub fn with_clock(clock: StoreClock) -> Self {
        MemoryStore::with_settings(clock, DEFAULT_MAX_LEEWAY)
    }

    /// An empty store reading `clock`, with a maximum leeway of `max_leeway` seconds.
    pub fn with_settings(clock: StoreClock, max_leeway: i64) -> Self {
        let (changes, _) = broadcast::channel(4096);
        MemoryStore {
            inner: Arc::new(Inner {
                entries: RwLock::new(HashMap::new()),
                changes,
                sessions: Mutex::new(sessions::Sessions::default()),
                clock,
                max_leeway: max_leeway.max(0),
            }),
        }
    }

    /// The store's clock.
    pub fn clock(&self) -> &StoreClock {
        &self.inner.clock
    }

    // A poisoned lock only means another thread panicked mid-update of plain values; the map
    // is still consistent, so keep serving.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<EntryKey, Entry>> {
        self.inner
            .entries
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<EntryKey, Entry>> {
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

    /// Stores `revocation` at `now` (the store's clock): an expired leftover is replaced, a
    /// live entry merged. Returns the entry as stored, and publishes it.
    fn store_entry(&self, revocation: &Revocation, now: i64) -> Entry {
        let new = revocation.entry(now);
        let stored = {
            let mut entries = self.write();
            let slot = entries.entry(new.key).or_insert(new);
            if slot.is_live(now) {
                slot.merge(&new);
            } else {
                *slot = new;
            }
            *slot
        };
        // No subscriber is not an error.
        let _ = self.inner.changes.send(stored);
        tracing::debug!(entry = %stored.key.short(), "revoked (memory)");
        stored
    }

    /// The live entry of `key` at `now`.
    fn live(&self, key: &EntryKey, now: i64) -> Option<Entry> {
        self.read().get(key).copied().filter(|e| e.is_live(now))
    }
}

impl RevocationStore for MemoryStore {
    async fn revoke(&self, revocation: &Revocation) -> Result<Entry> {
        revocation.validate()?;
        Ok(self.store_entry(revocation, self.inner.clock.now()))
    }

    async fn lookup(&self, token: &TokenRef<'_>, now: i64) -> Result<[Option<Entry>; 5]> {
        let entries = self.read();
        Ok(Scope::ALL.map(|scope| {
            token
                .key(scope)
                .and_then(|key| entries.get(&key).copied())
                .filter(|e| e.is_live(now))
        }))
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        let now = self.inner.clock.now();
        Ok(self
            .read()
            .values()
            .filter(|e| e.is_live(now))
            .copied()
            .collect())
    }

    async fn purge_expired(&self) -> Result<u64> {
        let cutoff = purge_cutoff(self.inner.clock.now(), self.inner.max_leeway);
        let mut entries = self.write();
        let before = entries.len();
        entries.retain(|_, e| e.expires_at > cutoff);
        Ok((before - entries.len()) as u64)
    }

    fn max_leeway(&self) -> i64 {
        self.inner.max_leeway
    }
}

impl ChangeFeed for MemoryStore {
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
