//! Verify and mint throughput: tollgate against a bare jsonwebtoken 12 decode/encode of the same
//! token with the same key and backend (aws-lc-rs), in one run, reported as ratios.
//!
//!     cargo bench --bench verify
//!
//! Targets (issue 2): verify >= 0.95x bare decode for EdDSA, ES256, RS256; >= 0.8x for HS256.
//! The bare decode does less: no typ/iss/aud policy, no duplicate-member check, no kid lookup.
//!
//! Second table (issue 3): `Gate::verify` with the revocation check answered by a local
//! `Replica` (over the embedded SQLite store, 10,000 revoked tokens loaded), against the same
//! bare decode. Target: >= 0.9x for EdDSA and HS256.
//!
//! Third table (issue 12): the verified-token cache. `hit`: a repeated token through `Gate`
//! with the replica and the cache, against the bare decode (targets >= 20x EdDSA, >= 10x ES256
//! and RS256, >= 2x HS256). `miss`: 2,000 distinct tokens, each seen once, through a gate with
//! the cache on against one with it off (target >= 0.95x, HS256 reported). `mint`: `mint`
//! against a bare encode of the same claims that also generates a UUID v4 `jti` (target >=
//! 0.95x).

use std::hint::black_box;
use std::time::{Duration, Instant};

use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;
use tollgate::gate::CacheConfig;
use tollgate::store::{Replica, ReplicaConfig, Revocation, RevocationStore, Scope, Store};
use tollgate::{
    Algorithm, Clock, ExportFormat, Gate, Keyring, MintOptions, VerifyOptions, mint, verify,
};

/// Best of several timed batches, in nanoseconds per operation.
fn measure(mut op: impl FnMut()) -> f64 {
    let mut iters = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            op();
        }
        if start.elapsed() > Duration::from_millis(50) {
            break;
        }
        iters *= 2;
    }
    (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                op();
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn keys_for(keyring: &Keyring, alg: Algorithm) -> (EncodingKey, DecodingKey) {
    let kid = keyring.active().unwrap().kid.clone();
    if alg.is_symmetric() {
        let jwk: Value = serde_json::from_str(&keyring.export(&kid, true, None).unwrap()).unwrap();
        let k = jwk["k"].as_str().unwrap();
        return (
            EncodingKey::from_base64_secret(&std_b64(k)).unwrap(),
            DecodingKey::from_base64_secret(&std_b64(k)).unwrap(),
        );
    }
    let private = keyring.export(&kid, true, Some(ExportFormat::Pem)).unwrap();
    let public = keyring
        .export(&kid, false, Some(ExportFormat::Pem))
        .unwrap();
    match alg {
        Algorithm::EdDSA => (
            EncodingKey::from_ed_pem(private.as_bytes()).unwrap(),
            DecodingKey::from_ed_pem(public.as_bytes()).unwrap(),
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(private.as_bytes()).unwrap(),
            DecodingKey::from_ec_pem(public.as_bytes()).unwrap(),
        ),
        _ => (
            EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
            DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        ),
    }
}

fn std_b64(url: &str) -> String {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(url)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Like [`measure`], for an async operation run back to back on a current-thread runtime.
fn measure_async<F: std::future::Future<Output = ()>>(
    rt: &tokio::runtime::Runtime,
    mut op: impl FnMut() -> F,
) -> f64 {
    let mut iters = 1u64;
    loop {
        let start = Instant::now();
        rt.block_on(async {
            for _ in 0..iters {
                op().await;
            }
        });
        if start.elapsed() > Duration::from_millis(50) {
            break;
        }
        iters *= 2;
    }
    (0..7)
        .map(|_| {
            let start = Instant::now();
            rt.block_on(async {
                for _ in 0..iters {
                    op().await;
                }
            });
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Gate::verify through a replica of a SQLite store vs a bare decode.
fn replica_table() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = Clock::System;
    println!();
    println!(
        "{:<7} {:>18} {:>14} {:>7}",
        "alg", "gate+replica ns", "bare decode", "ratio"
    );
    for alg in [Algorithm::HS256, Algorithm::EdDSA] {
        let dir = tempfile::tempdir().unwrap();
        let mut keyring = Keyring::init(dir.path().join("keys")).unwrap();
        keyring.generate(alg, None, &clock).unwrap();
        let minted = mint(
            &keyring,
            &MintOptions::new("alice")
                .with_claim("role", "admin")
                .unwrap(),
            &clock,
        )
        .unwrap();
        let (_, decoding) = keys_for(&keyring, alg);
        let url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
        let gate = rt.block_on(async {
            let store = Store::open(&url).await.unwrap();
            let now = clock.now();
            for i in 0..10_000 {
                let entry = Revocation::new(
                    Scope::Token,
                    format!("00000000-0000-4000-8000-{i:012}"),
                    now,
                    now + 900,
                );
                store.revoke(&entry).await.unwrap();
            }
            let replica = Replica::start(store, ReplicaConfig::default()).unwrap();
            assert!(
                replica.wait_fresh(Duration::from_secs(10)).await,
                "replica fresh"
            );
            Gate::new(replica).with_keyring(keyring).with_clock(clock)
        });
        let token = minted.token.clone();
        rt.block_on(async { gate.verify::<Value>(&token).await.unwrap() });
        let jwt_alg: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
        let mut validation = Validation::new(jwt_alg);
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        let ours = measure_async(&rt, || {
            let (gate, token) = (&gate, &token);
            async move {
                black_box(gate.verify::<Value>(black_box(token)).await.unwrap());
            }
        });
        let bare = measure(|| {
            black_box(
                jsonwebtoken::decode::<Value>(black_box(&token), &decoding, &validation).unwrap(),
            );
        });
        println!(
            "{:<7} {:>18.0} {:>14.0} {:>6.2}x",
            alg.as_str(),
            ours,
            bare,
            bare / ours
        );
    }
}

/// The verified-token cache: hits and misses through a gate over a replicated SQLite store.
fn cache_table() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = Clock::System;
    println!();
    println!(
        "{:<7} {:>10} {:>12} {:>8}   {:>12} {:>12} {:>7}   {:>10} {:>16} {:>7}",
        "alg",
        "hit ns",
        "bare decode",
        "ratio",
        "miss on ns",
        "miss off ns",
        "ratio",
        "mint ns",
        "encode+uuid ns",
        "ratio"
    );
    for alg in [
        Algorithm::HS256,
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut keyring = Keyring::init(dir.path().join("keys")).unwrap();
        keyring.generate(alg, None, &clock).unwrap();
        let options = MintOptions::new("alice")
            .with_claim("role", "admin")
            .unwrap();
        let minted = mint(&keyring, &options, &clock).unwrap();
        let (encoding, decoding) = keys_for(&keyring, alg);
        let url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
        let store = rt.block_on(async {
            let store = Store::open(&url)
                .await
                .unwrap()
                .replicated(ReplicaConfig::default())
                .unwrap();
            assert!(
                store
                    .replica()
                    .unwrap()
                    .wait_fresh(Duration::from_secs(10))
                    .await
            );
            store
        });
        let gate_with = |cache: CacheConfig| {
            Gate::new(store.clone())
                .with_keyring(Keyring::open(keyring.dir()).unwrap())
                .with_clock(clock)
                .with_cache(cache)
        };
        let jwt_alg: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
        let mut validation = Validation::new(jwt_alg);
        validation.required_spec_claims.clear();
        validation.validate_aud = false;

        // Hit: the same token again and again.
        let gate = gate_with(CacheConfig::new());
        let token = minted.token.clone();
        rt.block_on(async { gate.verify::<Value>(&token).await.unwrap() });
        let hit = measure_async(&rt, || {
            let (gate, token) = (&gate, &token);
            async move {
                black_box(gate.verify::<Value>(black_box(token)).await.unwrap());
            }
        });
        assert!(gate.cache_stats().hits > 0);
        let bare = measure(|| {
            black_box(
                jsonwebtoken::decode::<Value>(black_box(&token), &decoding, &validation).unwrap(),
            );
        });

        // Miss: distinct tokens, each verified once by a fresh gate (cache on or off).
        let tokens: Vec<String> = (0..2_000)
            .map(|i| {
                mint(&keyring, &MintOptions::new(format!("user-{i}")), &clock)
                    .unwrap()
                    .token
            })
            .collect();
        let pass = |cache: CacheConfig| {
            let gate = gate_with(cache);
            let start = Instant::now();
            rt.block_on(async {
                for token in &tokens {
                    black_box(gate.verify::<Value>(black_box(token)).await.unwrap());
                }
            });
            start.elapsed().as_nanos() as f64 / tokens.len() as f64
        };
        let (mut miss_on, mut miss_off) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..5 {
            miss_on = miss_on.min(pass(CacheConfig::new()));
            miss_off = miss_off.min(pass(CacheConfig::disabled()));
        }

        // Mint against encode + a UUID v4 jti.
        let mut header = Header::new(jwt_alg);
        header.kid = Some(minted.kid.clone());
        header.typ = Some("at+jwt".into());
        let claims = serde_json::to_value(&minted.claims).unwrap();
        let ours_mint = measure(|| {
            black_box(mint(&keyring, &options, &clock).unwrap());
        });
        let bare_mint = measure(|| {
            let mut claims = claims.clone();
            claims["jti"] = Value::String(uuid::Uuid::new_v4().to_string());
            black_box(jsonwebtoken::encode(&header, &claims, &encoding).unwrap());
        });
        println!(
            "{:<7} {:>10.0} {:>12.0} {:>7.1}x   {:>12.0} {:>12.0} {:>6.2}x   {:>10.0} {:>16.0} {:>6.2}x",
            alg.as_str(),
            hit,
            bare,
            bare / hit,
            miss_on,
            miss_off,
            miss_off / miss_on,
            ours_mint,
            bare_mint,
            bare_mint / ours_mint
        );
    }
}

fn main() {
    tollgate::token::install_crypto_provider();
    let clock = Clock::System;
    println!(
        "{:<7} {:>14} {:>14} {:>7}   {:>14} {:>14} {:>7}",
        "alg", "verify ns", "bare decode", "ratio", "mint ns", "bare encode", "ratio"
    );
    for alg in [
        Algorithm::HS256,
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut keyring = Keyring::init(dir.path().join("keys")).unwrap();
        keyring.generate(alg, None, &clock).unwrap();
        let options = MintOptions::new("alice")
            .with_claim("role", "admin")
            .unwrap();
        let minted = mint(&keyring, &options, &clock).unwrap();
        let token = minted.token.clone();
        let (encoding, decoding) = keys_for(&keyring, alg);
        let jwt_alg: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
        let mut validation = Validation::new(jwt_alg);
        validation.required_spec_claims.clear();
        validation.validate_aud = false;

        let keys = keyring.key_set();
        let verify_options = VerifyOptions::new();
        assert!(verify::<Value>(&token, keys, &verify_options, &clock).is_ok());
        assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &validation).is_ok());

        let ours = measure(|| {
            black_box(verify::<Value>(black_box(&token), keys, &verify_options, &clock).unwrap());
        });
        let bare = measure(|| {
            black_box(
                jsonwebtoken::decode::<Value>(black_box(&token), &decoding, &validation).unwrap(),
            );
        });
        let mut header = Header::new(jwt_alg);
        header.kid = Some(minted.kid.clone());
        header.typ = Some("at+jwt".into());
        let claims = serde_json::to_value(&minted.claims).unwrap();
        let ours_mint = measure(|| {
            black_box(mint(&keyring, &options, &clock).unwrap());
        });
        let bare_mint = measure(|| {
            black_box(jsonwebtoken::encode(&header, &claims, &encoding).unwrap());
        });
        // Throughput ratio = bare time / our time (1.0 = as fast; > 1 faster).
        println!(
            "{:<7} {:>14.0} {:>14.0} {:>6.2}x   {:>14.0} {:>14.0} {:>6.2}x",
            alg.as_str(),
            ours,
            bare,
            bare / ours,
            ours_mint,
            bare_mint,
            bare_mint / ours_mint
        );
    }
    replica_table();
    cache_table();
}
