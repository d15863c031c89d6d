//! The local replica: the whole denylist in memory, so that a check costs no round trip.
//!
//! A [`Replica`] subscribes to its store's [`ChangeFeed`] *first*, then loads every live entry
//! with [`list`](RevocationStore::list), then applies the changes that arrived meanwhile: nothing
//! can fall between the load and the subscription (a change seen twice is harmless, since merging
//! keeps the later times). From then on it applies every notification; expired entries stop
//! counting as soon as `now` passes their `expires_at` and a periodic sweep frees them.
//!
//! While the subscription is down, resynchronising, or silent for longer than
//! [`max_staleness`](ReplicaConfig::with_max_staleness) (the feed sends heartbeats), the replica
//! is *stale* and answers from the store directly (strict mode), so a stale replica never
//! answers from old data. It resubscribes and reloads by itself, with backoff.
//!
//! The staleness bound, when fresh, is the feed's delay: SQLite's poll interval
//! ([`with_poll_interval`](ReplicaConfig::with_poll_interval), 50 ms by default) or Redis pub/sub
//! delivery (sub-millisecond on a LAN).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{
    Change, ChangeFeed, FailMode, Revocation, RevocationStore, Scope, Status, Subscription,
    TokenRef, canonical_uuid,
};
use crate::clock::Clock;
use crate::error::{Error, Result};

mod sessions;

/// How a [`Replica`] keeps up with its store.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tollgate::store::{FailMode, ReplicaConfig};
/// let config = ReplicaConfig::default()
///     .with_poll_interval(Duration::from_millis(20))
///     .with_max_staleness(Duration::from_millis(500))
///     .with_fail_mode(FailMode::Closed);
/// assert_eq!(config.poll_interval(), Duration::from_millis(20));
/// ```
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    poll_interval: Duration,
    max_staleness: Duration,
    sweep_interval: Duration,
    retry_min: Duration,
    retry_max: Duration,
    fail_mode: FailMode,
    clock: Clock,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            poll_interval: Duration::from_millis(50),
            max_staleness: Duration::from_secs(1),
            sweep_interval: Duration::from_secs(1),
            retry_min: Duration::from_millis(50),
            retry_max: Duration::from_secs(2),
            fail_mode: FailMode::Closed,
            clock: Clock::System,
        }
    }
}

impl ReplicaConfig {
    /// How often the feed proves it is alive; for SQLite, how often it polls the change sequence,
    /// which bounds how late a revocation reaches the replica. Defaults to 50 ms.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long the feed may stay silent (no change, no heartbeat) before the replica turns stale
    /// and resynchronises. Defaults to 1 second; kept above the poll interval.
    pub fn with_max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = bound;
        self
    }

    /// How often expired entries are freed. Defaults to 1 second.
    pub fn with_sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The backoff between resynchronisation attempts: from `min` doubling up to `max`.
    /// Defaults to 50 ms and 2 seconds.
    pub fn with_retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min.max(Duration::from_millis(1));
        self.retry_max = max.max(self.retry_min);
        self
    }

    /// What a stale replica does when the store cannot answer either. Defaults to
    /// [`FailMode::Closed`].
    pub fn with_fail_mode(mut self, mode: FailMode) -> Self {
        self.fail_mode = mode;
        self
    }

    /// The clock for sweeping and for the last-sync time. Defaults to the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// The staleness bound.
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness.max(self.poll_interval * 2)
    }

    /// The fail mode.
    pub fn fail_mode(&self) -> FailMode {
        self.fail_mode
    }
}

/// A snapshot of a replica's synchronisation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Whether checks are answered from memory (`false`: from the store, strict mode).
    pub fresh: bool,
    /// When the feed last proved it was current (Unix milliseconds by the configured clock).
    pub last_sync_millis: Option<i64>,
    /// How many times the replica has (re)loaded the denylist.
    pub loads: u64,
    /// Checks answered by the store because the replica was stale.
    pub strict_checks: u64,
    /// Checks answered `Valid` because both the replica and the store were unavailable
    /// ([`FailMode::Open`] only).
    pub fail_open_checks: u64,
}

/// A local, in-memory copy of a store's denylist, kept current by its [`ChangeFeed`].
///
/// It implements [`RevocationStore`]: `check` answers from memory while fresh and from the store
/// while stale; `revoke` writes through to the store (and applies locally at once); `list` and
/// `purge_expired` go to the store. Dropping the replica stops its background task.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use tollgate::store::{MemoryStore, Replica, ReplicaConfig, Revocation, RevocationStore, Scope, TokenRef};
/// let store = MemoryStore::new();
/// let replica = Replica::start(store.clone(), ReplicaConfig::default())?;
/// assert!(replica.wait_fresh(Duration::from_secs(5)).await);
///
/// let now = 1_800_000_000;
/// store.revoke(&Revocation::new(Scope::Token, "j1", now, now + 900), now).await?;
/// let token = TokenRef { jti: "j1", sid: None, sub: "u", kid: "k", iat: now };
/// // The change arrives through the feed; poll for it (a network feed takes a moment).
/// let mut revoked = false;
/// for _ in 0..500 {
///     if replica.check(&token, now).await?.is_revoked() { revoked = true; break; }
///     tokio::time::sleep(Duration::from_millis(10)).await;
/// }
/// assert!(revoked);
/// # Ok::<(), tollgate::Error>(())
/// # }).unwrap();
/// ```
pub struct Replica<S> {
    shared: Arc<Shared<S>>,
    task: JoinHandle<()>,
}

struct Shared<S> {
    store: S,
    config: ReplicaConfig,
    list: RwLock<Denylist>,
    fresh: AtomicBool,
    last_sync_millis: AtomicI64,
    loads: AtomicU64,
    strict_checks: AtomicU64,
    fail_open_checks: AtomicU64,
}

impl<S> Drop for Replica<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S> std::fmt::Debug for Replica<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("fresh", &self.shared.fresh.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<S: ChangeFeed + 'static> Replica<S> {
    /// Starts a replica of `store`: spawns the task that subscribes, loads and follows.
    ///
    /// Returns at once; the replica is stale (answering from the store) until its first load
    /// completes. Use [`wait_fresh`](Replica::wait_fresh) to wait for it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) when called outside a tokio runtime.
    pub fn start(store: S, config: ReplicaConfig) -> Result<Replica<S>> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::usage("Replica::start needs a tokio runtime; call it from async code")
        })?;
        let shared = Arc::new(Shared {
            store,
            config,
            list: RwLock::new(Denylist::default()),
            fresh: AtomicBool::new(false),
            last_sync_millis: AtomicI64::new(i64::MIN),
            loads: AtomicU64::new(0),
            strict_checks: AtomicU64::new(0),
            fail_open_checks: AtomicU64::new(0),
        });
        let task = handle.spawn(follow(Arc::clone(&shared)));
        Ok(Replica { shared, task })
    }

    /// The replicated store.
    pub fn store(&self) -> &S {
        &self.shared.store
    }

    /// Whether checks are currently answered from memory.
    pub fn is_fresh(&self) -> bool {
        self.shared.fresh.load(Ordering::Acquire)
    }

    /// The synchronisation state and counters.
    pub fn freshness(&self) -> Freshness {
        let last = self.shared.last_sync_millis.load(Ordering::Relaxed);
        Freshness {
            fresh: self.is_fresh(),
            last_sync_millis: (last != i64::MIN).then_some(last),
            loads: self.shared.loads.load(Ordering::Relaxed),
            strict_checks: self.shared.strict_checks.load(Ordering::Relaxed),
            fail_open_checks: self.shared.fail_open_checks.load(Ordering::Relaxed),
        }
    }

    /// Waits until the replica is fresh or `timeout` passes; returns whether it is fresh.
    pub async fn wait_fresh(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.is_fresh() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// How many entries the replica holds (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.shared.read().len()
    }

    /// An estimate of the heap bytes the denylist occupies: hash table slots, control bytes and
    /// the text of string ids (allocator overhead not included).
    pub fn approx_memory(&self) -> usize {
        self.shared.read().approx_memory()
    }

    /// Whether the replica holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The in-memory check: `Some(status)` while fresh, `None` when stale (ask the store).
    ///
    /// This is the hot path: a lock read and up to five hash lookups, without allocating.
    pub fn check_local(&self, token: &TokenRef<'_>, now: i64) -> Option<Status> {
        if !self.is_fresh() {
            return None;
        }
        Some(self.shared.read().status(token, now))
    }
}

impl<S> Shared<S> {
    // A poisoned lock only means a thread panicked while holding it; the maps hold plain values
    // and stay consistent, so keep serving.
    fn read(&self) -> RwLockReadGuard<'_, Denylist> {
        self.list.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Denylist> {
        self.list.write().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self) {
        let now = self.config.clock.now_millis();
        self.last_sync_millis.store(now, Ordering::Relaxed);
    }
}

impl<S: ChangeFeed + 'static> RevocationStore for Replica<S> {
    async fn revoke(&self, entry: &Revocation, now: i64) -> Result<()> {
        self.shared.store.revoke(entry, now).await?;
        if entry.expires_at > now {
            self.shared.write().apply(entry, now);
        }
        Ok(())
    }

    async fn check(&self, token: &TokenRef<'_>, now: i64) -> Result<Status> {
        if let Some(status) = self.check_local(token, now) {
            return Ok(status);
        }
        self.shared.strict_checks.fetch_add(1, Ordering::Relaxed);
        // Boxed: the store's future is large, and keeping it inline would make every fresh
        // (in-memory) check build and move it too.
        let result = Box::pin(self.shared.store.check(token, now)).await;
        self.shared
            .config
            .fail_mode
            .apply(result, token, &self.shared.fail_open_checks)
    }

    async fn list(&self, now: i64) -> Result<Vec<Revocation>> {
        self.shared.store.list(now).await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        self.shared.write().sweep(now);
        self.shared.store.purge_expired(now).await
    }
}

/// The background task: subscribe, load, follow; on any failure turn stale and start over.
async fn follow<S: ChangeFeed>(shared: Arc<Shared<S>>) {
    let config = shared.config.clone();
    let mut backoff = config.retry_min;
    loop {
        shared.fresh.store(false, Ordering::Release);
        match load(&shared).await {
            Ok(subscription) => {
                backoff = config.retry_min;
                let reason = track(&shared, subscription).await;
                shared.fresh.store(false, Ordering::Release);
                tracing::warn!(%reason, "revocation replica is stale; resynchronising");
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "revocation replica cannot load");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.retry_max);
            }
        }
    }
}

/// Subscribes, then loads, then applies what arrived meanwhile, then turns fresh.
async fn load<S: ChangeFeed>(shared: &Shared<S>) -> Result<Subscription> {
    let mut subscription = shared.store.subscribe(shared.config.poll_interval).await?;
    let now = shared.config.clock.now();
    let entries = shared.store.list(now).await?;
    let mut list = Denylist::default();
    for entry in &entries {
        list.apply(entry, now);
    }
    // Changes that are already waiting (made during the load) go in before turning fresh.
    while let Some(Some(item)) = subscription.next().now_or_never() {
        match item? {
            Change::Revoked(entry) => list.apply(&entry, now),
            Change::Heartbeat => {}
        }
    }
    *shared.write() = list;
    shared.loads.fetch_add(1, Ordering::Relaxed);
    shared.touch();
    shared.fresh.store(true, Ordering::Release);
    tracing::debug!(entries = entries.len(), "revocation replica loaded");
    Ok(subscription)
}

/// Applies changes until the feed fails or falls silent; returns why it stopped.
async fn track<S>(shared: &Shared<S>, mut subscription: Subscription) -> String {
    let max_staleness = shared.config.max_staleness();
    let mut deadline = Instant::now() + max_staleness;
    let mut sweep = tokio::time::interval(shared.config.sweep_interval);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            item = tokio::time::timeout_at(deadline, subscription.next()) => match item {
                Ok(Some(Ok(change))) => {
                    if let Change::Revoked(entry) = change {
                        let now = shared.config.clock.now();
                        shared.write().apply(&entry, now);
                    }
                    shared.touch();
                    deadline = Instant::now() + max_staleness;
                }
                Ok(Some(Err(e))) => return e.to_string(),
                Ok(None) => return "subscription ended".to_owned(),
                Err(_) => return format!("no heartbeat within {max_staleness:?}"),
            },
            _ = sweep.tick() => {
                let now = shared.config.clock.now();
                shared.write().sweep(now);
            }
        }
    }
}

/// `revoked_at` and `expires_at` of one entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    revoked_at: i64,
    expires_at: i64,
}

/// The denylist: a map per scope. Token ids that are canonical UUIDs (lower-case, hyphenated,
/// as tollgate mints them) are kept as 16-byte integers: 32 bytes per slot plus the table's
/// control byte and slack.
#[derive(Debug, Default)]
struct Denylist {
    uuid_tokens: HashMap<u128, Entry>,
    other_tokens: HashMap<Box<str>, Entry>,
    sessions: HashMap<Box<str>, Entry>,
    users: HashMap<Box<str>, Entry>,
    keys: HashMap<Box<str>, Entry>,
    global: Option<Entry>,
}

impl Denylist {
    fn len(&self) -> usize {
        self.uuid_tokens.len()
            + self.other_tokens.len()
            + self.sessions.len()
            + self.users.len()
            + self.keys.len()
            + usize::from(self.global.is_some())
    }

    fn approx_memory(&self) -> usize {
        fn table<K, V>(map: &HashMap<K, V>) -> usize {
            let cap = map.capacity();
            if cap == 0 {
                return 0;
            }
            // hashbrown: buckets are a power of two, at most 7/8 full; one control byte each
            // plus one group of 16.
            let buckets = if cap < 8 {
                (cap + 1).next_power_of_two()
            } else {
                (cap * 8 / 7).next_power_of_two()
            };
            buckets * (std::mem::size_of::<(K, V)>() + 1) + 16
        }
        let text = |map: &HashMap<Box<str>, Entry>| {
            table(map) + map.keys().map(|k| k.len()).sum::<usize>()
        };
        table(&self.uuid_tokens)
            + text(&self.other_tokens)
            + text(&self.sessions)
            + text(&self.users)
            + text(&self.keys)
    }

    fn map(&mut self, scope: Scope) -> Option<&mut HashMap<Box<str>, Entry>> {
        match scope {
            Scope::Token => Some(&mut self.other_tokens),
            Scope::Session => Some(&mut self.sessions),
            Scope::User => Some(&mut self.users),
            Scope::Key => Some(&mut self.keys),
            Scope::Global => None,
        }
    }

    fn apply(&mut self, entry: &Revocation, now: i64) {
        if entry.expires_at <= now {
            return;
        }
        let new = Entry {
            revoked_at: entry.revoked_at,
            expires_at: entry.expires_at,
        };
        let merge = |slot: &mut Entry| {
            if slot.expires_at <= now {
                *slot = new;
            } else {
                slot.revoked_at = slot.revoked_at.max(new.revoked_at);
                slot.expires_at = slot.expires_at.max(new.expires_at);
            }
        };
        if entry.scope == Scope::Token
            && let Some(uuid) = canonical_uuid(&entry.id)
        {
            merge(self.uuid_tokens.entry(uuid).or_insert(new));
            return;
        }
        match self.map(entry.scope) {
            Some(map) => match map.get_mut(entry.id.as_str()) {
                Some(slot) => merge(slot),
                None => {
                    map.insert(entry.id.as_str().into(), new);
                }
            },
            None => merge(self.global.get_or_insert(new)),
        }
    }

    fn sweep(&mut self, now: i64) {
        let live = |e: &mut Entry| e.expires_at > now;
        self.uuid_tokens.retain(|_, e| live(e));
        self.other_tokens.retain(|_, e| live(e));
        self.sessions.retain(|_, e| live(e));
        self.users.retain(|_, e| live(e));
        self.keys.retain(|_, e| live(e));
        if self.global.is_some_and(|e| e.expires_at <= now) {
            self.global = None;
        }
    }

    fn status(&self, token: &TokenRef<'_>, now: i64) -> Status {
        let live = |e: Option<&Entry>| e.filter(|e| e.expires_at > now).map(|e| e.revoked_at);
        let jti = match canonical_uuid(token.jti) {
            Some(uuid) => self.uuid_tokens.get(&uuid),
            None => self.other_tokens.get(token.jti),
        };
        let found = [
            live(jti),
            token.sid.and_then(|sid| live(self.sessions.get(sid))),
            live(self.users.get(token.sub)),
            live(self.keys.get(token.kid)),
            live(self.global.as_ref()),
        ];
        Status::from_slots(token.iat, found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_uuids_are_packed() {
        let id = "3f0b5c1e-6a0f-4c5e-9f51-2a8b7d7f0a11";
        let packed = canonical_uuid(id).unwrap();
        assert_eq!(uuid::Uuid::from_u128(packed).hyphenated().to_string(), id);
        assert_eq!(canonical_uuid(&id.to_uppercase()), None);
        assert_eq!(canonical_uuid("3f0b5c1e6a0f4c5e9f512a8b7d7f0a11"), None);
        assert_eq!(canonical_uuid("not-a-uuid"), None);
    }

    #[test]
    fn denylist_merges_and_expires() {
        let mut list = Denylist::default();
        let id = "3f0b5c1e-6a0f-4c5e-9f51-2a8b7d7f0a11";
        list.apply(&Revocation::new(Scope::Token, id, 10, 100), 0);
        list.apply(&Revocation::new(Scope::Token, id, 5, 200), 0);
        let token = TokenRef {
            jti: id,
            sid: None,
            sub: "u",
            kid: "k",
            iat: 0,
        };
        assert_eq!(
            list.status(&token, 150),
            Status::Revoked {
                scope: Scope::Token,
                revoked_at: 10
            }
        );
        assert_eq!(list.status(&token, 200), Status::Valid);
        list.apply(&Revocation::new(Scope::Global, "", 50, 300), 0);
        list.sweep(250);
        assert_eq!(list.len(), 1);
    }
}
