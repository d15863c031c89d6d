//! Mint an access token and verify it, with a keyring in a temporary directory.
//!
//!     cargo run --example mint_verify

use serde_json::Value;
use tollgate::{Algorithm, Clock, Keyring, MintOptions, VerifyOptions, mint, verify};

fn main() -> Result<(), tollgate::Error> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let clock = Clock::system();
    let mut keyring = Keyring::init(dir.path().join("keys"))?;
    let key = keyring.generate(Algorithm::EdDSA, None, &clock)?;
    println!("generated {} key {}", key.alg, key.kid);

    let options = MintOptions::new("alice")
        .with_audience("api")
        .with_claim("role", "admin")?;
    let minted = mint(&keyring, &options, &clock)?;
    println!(
        "minted token {}… (jti {})",
        &minted.token[..8],
        minted.claims.jti.as_deref().unwrap_or_default()
    );

    let verified = verify::<Value>(
        &minted.token,
        keyring.key_set(),
        &VerifyOptions::new().with_audience("api"),
        &clock,
    )?;
    println!(
        "verified: sub={} role={}",
        verified.claims.sub.as_deref().unwrap_or_default(),
        verified.claims.extra["role"]
    );

    let wrong = verify::<Value>(
        &minted.token,
        keyring.key_set(),
        &VerifyOptions::new().with_audience("billing"),
        &clock,
    );
    println!(
        "for another audience: {}",
        wrong
            .map(|_| "valid".to_string())
            .unwrap_or_else(|e| e.kind().to_string())
    );
    Ok(())
}
