//! Helpers shared by the integration tests: real Redis servers and clusters, bounded polling,
//! temporary keyrings and fixed instants.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod backends;
pub mod http;
pub mod postgres;
pub mod race;
pub mod redis;
pub mod serve;

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tollgate::{Algorithm, Clock, Keyring, MintOptions, mint};

pub use self::redis::{RedisCluster, RedisServer};

/// "Now" for tests: the real clock when the test binary started, on a whole minute (stores keep
/// entries on the real clock, so a fixed date would make tests fail once it passed).
pub fn now() -> i64 {
    static START: OnceLock<i64> = OnceLock::new();
    *START.get_or_init(|| {
        let real = Clock::system().now();
        real - real % 60
    })
}

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

/// A keyring in its own temporary directory, removed on drop.
pub struct TempKeyring {
    pub keyring: Keyring,
    pub dir: TempDir,
}

impl TempKeyring {
    /// An empty keyring.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let keyring = Keyring::init(dir.path().join("keys")).expect("init keyring");
        TempKeyring { keyring, dir }
    }

    /// A keyring with one active key of `alg`, created at [`now()`].
    pub fn with_key(alg: Algorithm) -> Self {
        let mut ring = TempKeyring::new();
        ring.keyring
            .generate(alg, None, &Clock::fixed(now()))
            .expect("generate");
        ring
    }

    /// The active key's kid.
    pub fn kid(&self) -> String {
        self.keyring.active().expect("active key").kid.clone()
    }
}

/// One EdDSA token and its keyring, made once per test binary (for property tests).
pub fn shared_token() -> &'static (String, Keyring) {
    static SHARED: OnceLock<(String, Keyring)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let ring = TempKeyring::with_key(Algorithm::EdDSA);
        let token = mint(
            &ring.keyring,
            &MintOptions::new("alice"),
            &Clock::fixed(now()),
        )
        .unwrap()
        .token;
        // The directory must outlive the static; it is small and removed with the test's tmp.
        let TempKeyring { keyring, dir } = ring;
        std::mem::forget(dir);
        (token, keyring)
    })
}
