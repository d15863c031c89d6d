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
//! ([`with_poll_interval`](ReplicaConfig::with_poll_interval), 50 ms by default), Redis pub/sub
//! delivery (sub-millisecond on a LAN), or PostgreSQL's `NOTIFY` delivery, at worst the poll
//! interval (its feed also polls the change sequence, so a missed notification waits one
//! interval, not a resync).
//!
//! # Anti-entropy
//!
//! A notification can be lost while the subscription stays up (Redis drops pub/sub messages to
//! a client whose output buffer overflows, for one). The replica therefore also reloads the
//! whole denylist every [`resync_interval`](ReplicaConfig::with_resync_interval) (60 seconds by
//! default) and merges it in: an entry whose notification was lost is in force locally at the
//! latest one resync interval (plus the time the reload takes) after it was stored. Merging
//! never removes an entry, so nothing applied meanwhile can be undone by a reload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{
    Change, ChangeFeed, DIGEST_LEN, Entry, EntryKey, FailMode, Revocation, RevocationStore, Scope,
    Status, Subscription, TokenRef,
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
    resync_interval: Duration,
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
            resync_interval: Duration::from_secs(60),
            fail_mode: FailMode::Closed,
            clock: Clock::System,
        }
    }
}

impl ReplicaConfig {
    /// The clock that stamps syncs and sweeps expired entries.
    pub fn clock(&self) -> Clock {
        self.clock
    }

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

    /// How often the whole denylist is reloaded and merged in, which bounds how long an entry
    /// whose notification was lost can stay missing. Defaults to 60 seconds.
    pub fn with_resync_interval(mut self, interval: Duration) -> Self {
        self.resync_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The resync interval.
    pub fn resync_interval(&self) -> Duration {
        self.resync_interval
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
    /// How many periodic resyncs (anti-entropy reloads) it has merged in.
    pub resyncs: u64,
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
/// let now = tollgate::Clock::system().now();
/// store.revoke(&Revocation::new(Scope::Token, "j1", now, now + 900)).await?;
/// let own = tollgate::keys::Namespace::Own;
/// let token = TokenRef { namespace: &own, jti: "j1", sid: None, sub: "u", kid: "k", iat: Some(now), auth_time: None };
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
    resyncs: AtomicU64,
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
            resyncs: AtomicU64::new(0),
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

    /// The settings it was started with.
    pub fn config(&self) -> &ReplicaConfig {
        &self.shared.config
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
            resyncs: self.shared.resyncs.load(Ordering::Relaxed),
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
        let found = self.lookup_local(token, now)?;
        Some(Status::decide(
            token,
            &found,
            self.shared.store.max_leeway(),
        ))
    }

    /// The in-memory lookup: `Some(entries)` while fresh, `None` when stale.
    pub fn lookup_local(&self, token: &TokenRef<'_>, now: i64) -> Option<[Option<Entry>; 5]> {
        if !self.is_fresh() {
            return None;
        }
        Some(self.shared.read().lookup(token, now))
    }
}

impl<S: RevocationStore> Shared<S> {
    /// The instant before which the local copy may drop an entry: the replica's clock less the
    /// store's purge margin (the maximum leeway plus 5 minutes), as the stores keep theirs, so
    /// that a verifier whose clock lags still finds what it must refuse.
    fn horizon(&self) -> i64 {
        self.config
            .clock
            .now()
            .saturating_sub(crate::store::purge_margin(self.store.max_leeway()))
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
    async fn revoke(&self, revocation: &Revocation) -> Result<Entry> {
        let stored = self.shared.store.revoke(revocation).await?;
        let horizon = self.shared.horizon();
        self.shared.write().apply(&stored, horizon);
        Ok(stored)
    }

    async fn lookup(&self, token: &TokenRef<'_>, now: i64) -> Result<[Option<Entry>; 5]> {
        if let Some(found) = self.lookup_local(token, now) {
            return Ok(found);
        }
        self.shared.strict_checks.fetch_add(1, Ordering::Relaxed);
        // Boxed: the store's future is large, and keeping it inline would make every fresh
        // (in-memory) check build and move it too.
        match Box::pin(self.shared.store.lookup(token, now)).await {
            Ok(found) => Ok(found),
            Err(e) => self
                .shared
                .config
                .fail_mode
                .apply(Err(e), token, &self.shared.fail_open_checks)
                .map(|_| [None; 5]),
        }
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        self.shared.store.list().await
    }

    async fn purge_expired(&self) -> Result<u64> {
        let horizon = self.shared.horizon();
        self.shared.write().sweep(horizon);
        self.shared.store.purge_expired().await
    }

    fn max_leeway(&self) -> i64 {
        self.shared.store.max_leeway()
    }
}

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
    let now = shared.horizon();
    let entries = shared.store.list().await?;
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
async fn track<S: ChangeFeed>(shared: &Shared<S>, mut subscription: Subscription) -> String {
    let max_staleness = shared.config.max_staleness();
    let mut deadline = Instant::now() + max_staleness;
    let mut sweep = tokio::time::interval(shared.config.sweep_interval);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let resync_every = shared.config.resync_interval;
    let mut resync = tokio::time::interval_at(Instant::now() + resync_every, resync_every);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The sweep frees entries by the replica's clock: if that clock steps back, entries freed
    // while it was ahead may still be needed, so the replica reloads (strict meanwhile).
    let mut latest = shared.config.clock.now();
    loop {
        tokio::select! {
            item = tokio::time::timeout_at(deadline, subscription.next()) => match item {
                Ok(Some(Ok(change))) => {
                    if let Change::Revoked(entry) = change {
                        let horizon = shared.horizon();
                        shared.write().apply(&entry, horizon);
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
                if now < latest.saturating_sub(1) {
                    return format!("the clock stepped back {}s", latest - now);
                }
                latest = latest.max(now);
                let horizon = shared.horizon();
                shared.write().sweep(horizon);
            }
            _ = resync.tick() => {
                // Anti-entropy: merge a full reload in, so that a lost notification is repaired
                // within one resync interval. A failed reload leaves the replica as it was; the
                // feed's own heartbeat decides freshness.
                match shared.store.list().await {
                    Ok(entries) => {
                        let horizon = shared.horizon();
                        let mut list = shared.write();
                        for entry in &entries {
                            list.apply(entry, horizon);
                        }
                        drop(list);
                        shared.resyncs.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!(error = %e, "revocation replica could not resync"),
                }
            }
        }
    }
}

/// `revoked_at` and `expires_at` of one entry.
/// When a token, session or key entry revoked, and until when it is kept.
type Plain = (i64, i64);

/// The whole denylist, one map per scope keyed by the 16-byte digest: token, session and key
/// entries keep `(revoked_at, expires_at)`, user and global ones the whole [`Entry`] times
/// (the coverage rule reads their store stamp too).
#[derive(Debug, Default)]
struct Denylist {
    plain: [HashMap<[u8; DIGEST_LEN], Plain>; 3],
    timed: [HashMap<[u8; DIGEST_LEN], (i64, i64, i64)>; 2],
}

impl Denylist {
    fn len(&self) -> usize {
        self.plain.iter().map(HashMap::len).sum::<usize>()
            + self.timed.iter().map(HashMap::len).sum::<usize>()
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
        self.plain.iter().map(table).sum::<usize>() + self.timed.iter().map(table).sum::<usize>()
    }

    /// The map slot of a scope: `Ok(plain index)` or `Err(timed index)`.
    fn slot(scope: Scope) -> Result<usize, usize> {
        match scope {
            Scope::Token => Ok(0),
            Scope::Session => Ok(1),
            Scope::Key => Ok(2),
            Scope::User => Err(0),
            Scope::Global => Err(1),
        }
    }

    fn apply(&mut self, entry: &Entry, now: i64) {
        if !entry.is_live(now) {
            return;
        }
        let digest = *entry.key.digest();
        match Denylist::slot(entry.key.scope()) {
            Ok(i) => {
                let slot = self.plain[i]
                    .entry(digest)
                    .or_insert((entry.revoked_at, entry.expires_at));
                if slot.1 <= now {
                    *slot = (entry.revoked_at, entry.expires_at);
                } else {
                    *slot = (slot.0.max(entry.revoked_at), slot.1.max(entry.expires_at));
                }
            }
            Err(i) => {
                let new = (entry.revoked_at, entry.stamp, entry.expires_at);
                let slot = self.timed[i].entry(digest).or_insert(new);
                if slot.2 <= now {
                    *slot = new;
                } else {
                    *slot = (slot.0.max(new.0), slot.1.max(new.1), slot.2.max(new.2));
                }
            }
        }
    }

    fn sweep(&mut self, now: i64) {
        for map in &mut self.plain {
            map.retain(|_, e| e.1 > now);
        }
        for map in &mut self.timed {
            map.retain(|_, e| e.2 > now);
        }
    }

    fn get(&self, key: &EntryKey, now: i64) -> Option<Entry> {
        let (revoked_at, stamp, expires_at) = match Denylist::slot(key.scope()) {
            Ok(i) => self.plain[i].get(key.digest()).map(|&(r, e)| (r, r, e))?,
            Err(i) => *self.timed[i].get(key.digest())?,
        };
        let entry = Entry {
            key: *key,
            revoked_at,
            stamp,
            expires_at,
        };
        entry.is_live(now).then_some(entry)
    }

    fn lookup(&self, token: &TokenRef<'_>, now: i64) -> [Option<Entry>; 5] {
        Scope::ALL.map(|scope| token.key(scope).and_then(|key| self.get(&key, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Namespace;

    fn entry(scope: Scope, id: &str, revoked_at: i64, expires_at: i64) -> Entry {
        Revocation::new(scope, id, revoked_at, expires_at).entry(revoked_at)
    }

    #[test]
    fn denylist_merges_and_expires() {
        let mut list = Denylist::default();
        list.apply(&entry(Scope::Token, "j1", 10, 100), 0);
        list.apply(&entry(Scope::Token, "j1", 5, 200), 0);
        let ns = Namespace::Own;
        let token = TokenRef {
            namespace: &ns,
            jti: "j1",
            sid: None,
            sub: "u",
            kid: "k",
            iat: Some(0),
            auth_time: None,
        };
        let found = list.lookup(&token, 150);
        let e = found[Scope::Token.index()].unwrap();
        assert_eq!((e.revoked_at, e.expires_at), (10, 200));
        assert_eq!(list.lookup(&token, 200), [None; 5]);
        list.apply(&entry(Scope::Global, "", 50, 300), 0);
        list.sweep(250);
        assert_eq!(list.len(), 1);
    }
}
