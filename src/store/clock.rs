//! The store's clock: what every time a store decides by itself is read from (purges, entry
//! and record expiry, the grace window), never a caller's `--now` or an application server's
//! clock.
//!
//! The embedded stores read the real clock; tests inject a [`StoreClock::manual`] one to move
//! time. Redis scripts read `TIME` inside the script; PostgreSQL reads its own clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::clock::Clock;

/// The clock of a memory or SQLite store.
///
/// # Examples
///
/// ```
/// use tollgate::store::StoreClock;
/// let clock = StoreClock::manual(1_800_000_000);
/// clock.advance(60);
/// assert_eq!(clock.now(), 1_800_000_060);
/// assert!(StoreClock::system().now() > 1_700_000_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct StoreClock {
    manual: Option<Arc<AtomicI64>>,
}

impl StoreClock {
    /// The real clock.
    pub fn system() -> Self {
        StoreClock::default()
    }

    /// A clock that reads `start` until it is moved with [`advance`](Self::advance) or
    /// [`set`](Self::set); clones share it (for tests).
    pub fn manual(start: i64) -> Self {
        StoreClock {
            manual: Some(Arc::new(AtomicI64::new(start))),
        }
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::SeqCst),
            None => Clock::System.now(),
        }
    }

    /// Moves a manual clock by `secs` (no effect on the real clock).
    pub fn advance(&self, secs: i64) {
        if let Some(t) = &self.manual {
            t.fetch_add(secs, Ordering::SeqCst);
        }
    }

    /// Sets a manual clock (no effect on the real clock).
    pub fn set(&self, unix_seconds: i64) {
        if let Some(t) = &self.manual {
            t.store(unix_seconds, Ordering::SeqCst);
        }
    }
}
