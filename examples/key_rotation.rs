//! The key-rotation timeline: stage, rotate, verify old tokens, retire, prune.
//!
//!     cargo run --example key_rotation

use std::time::Duration;

use serde_json::Value;
use tollgate::{Algorithm, Clock, Keyring, MintOptions, VerifyOptions, mint, verify};

fn main() -> Result<(), tollgate::Error> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let t0 = 1_800_000_000;
    let mut keyring = Keyring::init(dir.path().join("keys"))?;
    let first = keyring.generate(Algorithm::ES256, None, &Clock::fixed(t0))?;
    let old_token = mint(&keyring, &MintOptions::new("alice"), &Clock::fixed(t0))?.token;

    // Publish the next key a day ahead so JWKS caches pick it up, then promote it.
    let staged = keyring.rotate(None, true, &Clock::fixed(t0))?;
    println!(
        "staged {} (published in JWKS: {})",
        staged.kid,
        keyring.jwks().keys.len() == 2
    );
    let active = keyring.rotate(None, false, &Clock::fixed(t0 + 86_400))?;
    println!("active now {}; {} is verify-only", active.kid, first.kid);

    let check = |keyring: &Keyring, t: i64| {
        verify::<Value>(
            &old_token,
            keyring.key_set(),
            &VerifyOptions::new(),
            &Clock::fixed(t),
        )
        .map(|_| "valid".to_string())
        .unwrap_or_else(|e| e.kind().to_string())
    };
    println!(
        "old token right after rotation: {}",
        check(&keyring, t0 + 60)
    );

    keyring.retire(&first.kid, &Clock::fixed(t0 + 2 * 86_400))?;
    println!(
        "old token after retiring its key: {}",
        check(&keyring, t0 + 60)
    );
    let pruned = keyring.prune(Duration::ZERO, &Clock::fixed(t0 + 3 * 86_400))?;
    println!("pruned {pruned:?}");
    Ok(())
}
