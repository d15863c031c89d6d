//! The verified-token cache of `Gate::verify` (issue 12): a hit skips the signature, never the
//! expiry, the revocation check or a keyring change; only successes are cached; distinct
//! tokens never share an entry; the bounds hold under a flood.

mod common;

use std::time::Duration;

use serde_json::{Map, Value};
use tollgate::gate::CacheConfig;
use tollgate::store::Scope;
use tollgate::validate::VerifyOptions;
use tollgate::{Algorithm, Clock, ErrorKind, Gate, Keyring, MintOptions, Store};

use common::{TempKeyring, now};

async fn gate(ring: &TempKeyring) -> Gate {
    Gate::new(Store::open("memory:").await.unwrap())
        .with_keyring(reopen(ring))
        .with_clock(Clock::fixed(now()))
}

/// The keyring as a reload reads it from its directory.
fn reopen(ring: &TempKeyring) -> Keyring {
    Keyring::open(ring.keyring.dir()).unwrap()
}

async fn verify(gate: &Gate, token: &str) -> tollgate::Result<()> {
    gate.verify::<Map<String, Value>>(token).await.map(|_| ())
}

fn kind(result: tollgate::Result<()>) -> ErrorKind {
    result.expect_err("verification must fail").kind()
}

#[tokio::test]
async fn a_repeated_token_is_a_hit_with_the_same_claims() {
    for alg in [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
        Algorithm::HS256,
    ] {
        let ring = TempKeyring::with_key(alg);
        let gate = gate(&ring).await;
        let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
        let first = gate.verify::<Map<String, Value>>(&token).await.unwrap();
        let second = gate.verify::<Map<String, Value>>(&token).await.unwrap();
        assert_eq!(first.claims, second.claims);
        assert_eq!(first.header.kid, second.header.kid);
        // Typed claims are read from the cached ones.
        let typed = gate.verify::<Value>(&token).await.unwrap();
        assert_eq!(typed.claims.sub.as_deref(), Some("alice"));
        let stats = gate.cache_stats();
        assert_eq!(
            (stats.misses, stats.hits, stats.entries),
            (1, 2, 1),
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn a_hit_still_expires() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let gate = gate(&ring).await;
    let token = gate
        .mint(&MintOptions::new("alice").with_ttl(Duration::from_secs(60)))
        .unwrap()
        .token;
    verify(&gate, &token).await.unwrap();
    // The same gate, its cache included, a second before and at exp + leeway (30 s).
    let gate = gate.with_clock(Clock::fixed(now() + 89));
    verify(&gate, &token).await.unwrap();
    assert_eq!(gate.cache_stats().hits, 1);
    let gate = gate.with_clock(Clock::fixed(now() + 90));
    assert_eq!(kind(verify(&gate, &token).await), ErrorKind::Expired);
    assert_eq!(gate.cache_stats().hits, 1, "an expired entry never answers");
}

#[tokio::test]
async fn a_clock_that_steps_back_misses() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let gate = gate(&ring).await.with_clock(Clock::fixed(now() + 10));
    let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
    verify(&gate, &token).await.unwrap();
    // Before the token's nbf minus the leeway: not yet valid, whatever was cached.
    let gate = gate.with_clock(Clock::fixed(now() - 60));
    assert_eq!(kind(verify(&gate, &token).await), ErrorKind::NotYetValid);
    assert_eq!(gate.cache_stats().hits, 0);
}

#[tokio::test]
async fn a_hit_is_refused_after_any_revocation_that_covers_it() {
    for scope in [Scope::Token, Scope::Session, Scope::User, Scope::Key] {
        let mut ring = TempKeyring::with_key(Algorithm::EdDSA);
        let kid = ring.kid();
        let gate = gate(&ring).await;
        let minted = gate.mint(&MintOptions::new("alice")).unwrap();
        let token = minted.token;
        verify(&gate, &token).await.unwrap();
        verify(&gate, &token).await.unwrap();
        assert_eq!(gate.cache_stats().hits, 1);
        match scope {
            Scope::Token => {
                gate.revoke_token(&token).await.unwrap();
            }
            Scope::Session => {
                let sid = minted.claims.sid.clone().unwrap();
                gate.revoke(Scope::Session, &sid).await.unwrap();
            }
            Scope::User => {
                gate.revoke(Scope::User, "alice").await.unwrap();
            }
            Scope::Key => {
                // A key that signs cannot be revoked: rotate it out first (a new generation,
                // so the next verification is a miss; revoke, then verify twice).
                ring.keyring
                    .rotate(None, false, &Clock::fixed(now()))
                    .unwrap();
                gate.set_keyring(reopen(&ring));
                verify(&gate, &token).await.unwrap();
                verify(&gate, &token).await.unwrap();
                gate.revoke(Scope::Key, &kid).await.unwrap();
            }
            Scope::Global => unreachable!(),
        }
        let hits = gate.cache_stats().hits;
        let err = gate.verify::<Map<String, Value>>(&token).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Revoked, "{scope:?}");
        assert_eq!(err.to_json()["scope"], scope.as_str());
        assert_eq!(
            gate.cache_stats().hits,
            hits + 1,
            "{scope:?}: the entry answered and the revocation check refused it"
        );
    }
}

#[tokio::test]
async fn global_revocation_refuses_a_hit() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let gate = gate(&ring).await;
    let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
    verify(&gate, &token).await.unwrap();
    gate.revoke(Scope::Global, "").await.unwrap();
    assert_eq!(kind(verify(&gate, &token).await), ErrorKind::Revoked);
}

#[tokio::test]
async fn a_key_retired_after_the_token_was_cached_refuses_it() {
    let mut ring = TempKeyring::with_key(Algorithm::EdDSA);
    let old = ring.kid();
    let gate = gate(&ring).await;
    let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
    verify(&gate, &token).await.unwrap();
    let clock = Clock::fixed(now());
    ring.keyring.rotate(None, false, &clock).unwrap();
    ring.keyring.retire(&old, &clock).unwrap();
    // What a reload does after `tollgate keys retire` in another process.
    gate.set_keyring(reopen(&ring));
    assert_eq!(kind(verify(&gate, &token).await), ErrorKind::RetiredKid);
    // And a keyring without the key at all.
    let other = TempKeyring::with_key(Algorithm::EdDSA);
    gate.set_keyring(reopen(&other));
    assert_eq!(kind(verify(&gate, &token).await), ErrorKind::UnknownKid);
    assert_eq!(gate.cache_stats().hits, 0);
}

#[tokio::test]
async fn options_are_part_of_the_context() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let gate = gate(&ring).await;
    let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
    verify(&gate, &token).await.unwrap();
    // The same gate (and cache) told to require an audience, an issuer, a type: the token
    // verified without them never answers a call that requires them.
    let gate = gate.with_options(VerifyOptions::new().with_audience("api"));
    assert_eq!(kind(verify(&gate, &token).await), ErrorKind::MissingClaim);
    // And one minted for another audience.
    let other_aud = gate
        .mint(&MintOptions::new("alice").with_audience("web"))
        .unwrap()
        .token;
    assert_eq!(
        kind(verify(&gate, &other_aud).await),
        ErrorKind::BadAudience
    );
    let gate = gate.with_options(VerifyOptions::new().with_issuer("https://issuer.example"));
    let err = kind(verify(&gate, &token).await);
    assert!(
        matches!(err, ErrorKind::BadIssuer | ErrorKind::MissingClaim),
        "{err:?}"
    );
    let gate = gate.with_options(VerifyOptions::new().with_type("JWT"));
    assert_eq!(kind(verify(&gate, &token).await), ErrorKind::WrongTokenType);
    assert_eq!(gate.cache_stats().hits, 0);
    // Another keyring's gate (another key set) never shares entries.
    let other = TempKeyring::with_key(Algorithm::EdDSA);
    let gate = Gate::new(Store::open("memory:").await.unwrap())
        .with_keyring(reopen(&other))
        .with_clock(Clock::fixed(now()));
    assert_eq!(kind(verify(&gate, &token).await), ErrorKind::UnknownKid);
}

#[tokio::test]
async fn a_token_that_differs_in_one_byte_never_hits() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let gate = gate(&ring).await;
    let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
    verify(&gate, &token).await.unwrap();
    let bytes = token.as_bytes();
    let sig_start = token.rfind('.').unwrap() + 1;
    // Every position of the signature, one of the payload and one of the header; the last
    // signature character also changes only padding bits in some variants.
    let mut positions: Vec<usize> = (sig_start..bytes.len()).collect();
    positions.extend([1, sig_start - 3]);
    for at in positions {
        for replacement in [b'A', b'B', b'Q', b'g', b'-'] {
            if bytes[at] == replacement {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[at] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            assert!(
                verify(&gate, &changed).await.is_err(),
                "byte {at} -> {}",
                replacement as char
            );
        }
    }
    // Surrounding whitespace is not the same token either.
    assert!(verify(&gate, &format!("{token} ")).await.is_err());
    let stats = gate.cache_stats();
    assert_eq!(stats.hits, 0, "no altered token ever hit");
    assert_eq!(stats.entries, 1, "failures are not cached");
}

#[tokio::test]
async fn failures_are_not_cached() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let expired = gate(&ring)
        .await
        .with_clock(Clock::fixed(now() - 3600))
        .mint(&MintOptions::new("alice").with_ttl(Duration::from_secs(60)))
        .unwrap()
        .token;
    let gate = gate(&ring).await;
    let other = TempKeyring::with_key(Algorithm::EdDSA);
    let foreign = tollgate::mint(
        &other.keyring,
        &MintOptions::new("eve"),
        &Clock::fixed(now()),
    )
    .unwrap()
    .token;
    let revoked = gate.mint(&MintOptions::new("bob")).unwrap().token;
    gate.revoke_token(&revoked).await.unwrap();
    for _ in 0..3 {
        for token in [
            expired.as_str(),
            foreign.as_str(),
            revoked.as_str(),
            "garbage",
        ] {
            assert!(verify(&gate, token).await.is_err());
        }
    }
    let stats = gate.cache_stats();
    assert_eq!((stats.hits, stats.entries), (0, 0), "{stats:?}");
}

#[tokio::test]
async fn the_bounds_hold_under_a_flood_of_distinct_valid_tokens() {
    let ring = TempKeyring::with_key(Algorithm::HS256);
    let gate = gate(&ring).await.with_cache(
        CacheConfig::new()
            .with_max_entries(100)
            .with_max_bytes(1 << 20),
    );
    for i in 0..2_000 {
        let token = gate
            .mint(&MintOptions::new(format!("user-{i}")))
            .unwrap()
            .token;
        verify(&gate, &token).await.unwrap();
        let stats = gate.cache_stats();
        assert!(stats.entries <= 100, "{stats:?}");
        assert!(stats.weight <= 1 << 20, "{stats:?}");
    }
    let stats = gate.cache_stats();
    assert!(stats.evictions >= 1_900, "{stats:?}");
    assert_eq!(stats.misses, 2_000);

    // A byte bound tighter than the entry bound caps the count too.
    let gate = gate.with_cache(
        CacheConfig::new()
            .with_max_entries(10_000)
            .with_max_bytes(64 << 10),
    );
    for i in 0..500 {
        let token = gate
            .mint(&MintOptions::new(format!("user-{i}")))
            .unwrap()
            .token;
        verify(&gate, &token).await.unwrap();
    }
    let stats = gate.cache_stats();
    assert!(stats.weight <= 64 << 10, "{stats:?}");
    assert!(stats.entries < 500, "{stats:?}");
}

#[tokio::test]
async fn a_disabled_cache_verifies_every_time() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let gate = gate(&ring).await.with_cache(CacheConfig::disabled());
    let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
    for _ in 0..3 {
        verify(&gate, &token).await.unwrap();
    }
    assert_eq!(gate.cache_stats(), tollgate::gate::CacheStats::default());
    let gate = gate.with_cache(CacheConfig::new().with_max_entries(0));
    verify(&gate, &token).await.unwrap();
    assert_eq!(gate.cache_stats().entries, 0);
}
