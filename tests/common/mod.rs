//! Helpers shared by the integration tests: temporary keyrings and fixed instants.
// Each test binary uses a different subset of the helpers, and `pub` is how they share them.
#![allow(dead_code, unreachable_pub)]

use std::sync::OnceLock;

use tempfile::TempDir;
use tollgate::{Algorithm, Clock, Keyring, MintOptions, mint};

/// A fixed instant all time-dependent tests use: 2027-01-15T08:00:00Z.
pub const NOW: i64 = 1_800_000_000;

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

    /// A keyring with one active key of `alg`, created at [`NOW`].
    pub fn with_key(alg: Algorithm) -> Self {
        let mut ring = TempKeyring::new();
        ring.keyring
            .generate(alg, None, &Clock::fixed(NOW))
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
            &Clock::fixed(NOW),
        )
        .unwrap()
        .token;
        // The directory must outlive the static; it is small and removed with the test's tmp.
        let TempKeyring { keyring, dir } = ring;
        std::mem::forget(dir);
        (token, keyring)
    })
}
