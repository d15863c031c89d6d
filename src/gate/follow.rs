//! A gate follows its keyring directory by itself: a `tollgate keys rotate`, `retire`, `import`
//! or `prune` made by another process (or a replaced `session.key`) is picked up without a
//! restart.
//!
//! At most once per [`FollowConfig::with_interval`] (1 second by default) a verification, mint
//! or session call looks at the metadata of `keyring.json` and `session.key` (one `stat` each:
//! inode, size, change time, mode, owner); when it differs from the last load, the keyring is
//! reloaded. A token whose `kid` the keyring does not hold also triggers a reload, at most once
//! per [`FollowConfig::with_unknown_kid_cooldown`] (30 seconds by default), so that a flood of
//! invented kids cannot turn verification into file reads. Either way a change is in force at
//! the latest one interval after it was written.
//!
//! Reloads fail closed as `tollgate serve`'s do: while the keyring cannot be read or parsed the
//! gate holds no keyring ([`Gate::set_keyring_failed`](super::Gate::set_keyring_failed)), so
//! every verification fails with `bad_key` (never with the previous keys, in which a key just
//! retired would still verify), until a later check reads it again.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// How a gate follows its keyring directory.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tollgate::gate::FollowConfig;
/// let follow = FollowConfig::new().with_interval(Duration::from_millis(250));
/// assert_eq!(follow.interval(), Some(Duration::from_millis(250)));
/// assert_eq!(FollowConfig::off().interval(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowConfig {
    interval: Option<Duration>,
    unknown_kid_cooldown: Duration,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig::new()
    }
}

impl FollowConfig {
    /// The default: a metadata check at most once a second, a reload on an unknown kid at most
    /// once per 30 seconds.
    pub fn new() -> Self {
        FollowConfig {
            interval: Some(Duration::from_secs(1)),
            unknown_kid_cooldown: Duration::from_secs(30),
        }
    }

    /// Never looks at the directory again (the keyring changes only through
    /// [`Gate::set_keyring`](super::Gate::set_keyring) or
    /// [`Gate::reload_keyring`](super::Gate::reload_keyring)).
    pub fn off() -> Self {
        FollowConfig {
            interval: None,
            unknown_kid_cooldown: Duration::MAX,
        }
    }

    /// How often, at most, the keyring files' metadata is checked (at least 10 ms).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval.max(Duration::from_millis(10)));
        self
    }

    /// How often, at most, a token with an unknown kid makes the gate reload.
    pub fn with_unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.unknown_kid_cooldown = cooldown;
        self
    }

    /// The check interval; `None` when following is off.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// The unknown-kid cooldown.
    pub fn unknown_kid_cooldown(&self) -> Duration {
        self.unknown_kid_cooldown
    }
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    ino: u64,
    len: u64,
    ctime: i64,
    ctime_nsec: i64,
    mtime_nsec: i64,
    mode: u32,
    uid: u32,
}

/// The stamps of `keyring.json` and `session.key`; `None` for a file that cannot be looked at.
pub(crate) type Stamps = [Option<Stamp>; 2];

/// The stamps of the keyring files of `dir` now.
pub(crate) fn stamps(dir: &Path) -> Stamps {
    let stamp = |name: &str| {
        std::fs::metadata(dir.join(name)).ok().map(|m| Stamp {
            ino: m.ino(),
            len: m.len(),
            ctime: m.ctime(),
            ctime_nsec: m.ctime_nsec(),
            mtime_nsec: m.mtime_nsec(),
            mode: m.mode(),
            uid: m.uid(),
        })
    };
    [stamp("keyring.json"), stamp("session.key")]
}

/// A gate's follower state.
pub(crate) struct Follower {
    config: FollowConfig,
    started: Instant,
    /// Milliseconds since `started` of the last metadata check, and of the last reload for an
    /// unknown kid.
    last_check: AtomicI64,
    last_unknown_kid: AtomicI64,
    /// The stamps of the files as of the last load.
    seen: Mutex<Option<Stamps>>,
}

impl Follower {
    pub(crate) fn new(config: FollowConfig) -> Self {
        Follower {
            config,
            started: Instant::now(),
            last_check: AtomicI64::new(i64::MIN),
            last_unknown_kid: AtomicI64::new(i64::MIN),
            seen: Mutex::new(None),
        }
    }

    pub(crate) fn config(&self) -> FollowConfig {
        self.config
    }

    fn elapsed_millis(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// Whether `slot` (a last-time atomic) may run now, at most once per `every`; claims it.
    fn claim(&self, slot: &AtomicI64, every: Duration) -> bool {
        let now = self.elapsed_millis();
        let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        let last = slot.load(Ordering::Relaxed);
        if last != i64::MIN && now.saturating_sub(last) < every {
            return false;
        }
        slot.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Records the files as loaded with these stamps.
    pub(crate) fn loaded(&self, stamps: Stamps) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(stamps);
    }

    /// Whether a metadata check is due (at most once per interval); claims it.
    pub(crate) fn due(&self) -> bool {
        self.config
            .interval
            .is_some_and(|interval| self.claim(&self.last_check, interval))
    }

    /// Whether the files of `dir` changed since the last load (ask [`Follower::due`] first).
    pub(crate) fn changed(&self, dir: &Path) -> bool {
        let now = stamps(dir);
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        *seen != Some(now)
    }

    /// Whether an unknown kid may trigger a reload now (at most once per cooldown).
    pub(crate) fn unknown_kid(&self) -> bool {
        self.config.interval.is_some()
            && self.claim(&self.last_unknown_kid, self.config.unknown_kid_cooldown)
    }
}
