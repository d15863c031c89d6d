//! Helpers shared by the integration tests: real Redis servers and clusters, bounded polling and
//! fixed instants.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, unreachable_pub)]

pub mod redis;

use std::future::Future;
use std::time::{Duration, Instant};

pub use self::redis::{RedisCluster, RedisServer};

/// A fixed "now" for tests: 2027-01-15T08:00:00Z.
pub const NOW: i64 = 1_800_000_000;

/// Polls `probe` every 10 ms until it returns `Some`, for at most `limit`; panics with `what`
/// if it never does. For eventual things (propagation, reconnection); never a timing assertion.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A process-unique id, e.g. `tok-7`.
pub fn unique(label: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{label}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
