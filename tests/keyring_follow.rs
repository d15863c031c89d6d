//! A library gate follows its keyring directory by itself (issue 17): a rotation, a retirement
//! or a corrupt manifest written by another process (another `Keyring` handle on the same
//! directory, as `tollgate keys …` would) takes effect without a restart, failing closed.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate::gate::FollowConfig;
use tollgate::{Algorithm, Clock, ErrorKind, Gate, Keyring, MintOptions, Store, mint};

use common::{TempKeyring, now};

async fn gate(ring: &TempKeyring, follow: FollowConfig) -> Gate {
    Gate::new(Store::open("memory:").await.unwrap())
        .with_keyring(Keyring::open(ring.keyring.dir()).unwrap())
        .with_clock(Clock::fixed(now()))
        .with_keyring_follow(follow)
}

/// What another process sees: its own handle on the directory.
fn other_process(ring: &TempKeyring) -> Keyring {
    Keyring::open(ring.keyring.dir()).unwrap()
}

async fn verify(gate: &Gate, token: &str) -> tollgate::Result<()> {
    gate.verify::<Value>(token).await.map(|_| ())
}

/// Polls `probe` every 20 ms for at most 10 s.
async fn eventually(what: &str, mut probe: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn fast() -> FollowConfig {
    FollowConfig::new().with_interval(Duration::from_millis(50))
}

#[tokio::test]
async fn a_retirement_by_another_process_is_followed_without_a_restart() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let old_kid = ring.kid();
    let gate = gate(&ring, fast()).await;
    let old = gate.mint(&MintOptions::new("alice")).unwrap().token;
    verify(&gate, &old).await.unwrap();
    verify(&gate, &old).await.unwrap(); // cached

    let mut other = other_process(&ring);
    let clock = Clock::fixed(now());
    other.rotate(None, false, &clock).unwrap();
    other.retire(&old_kid, &clock).unwrap();
    eventually("the retirement to be followed", async || {
        verify(&gate, &old)
            .await
            .is_err_and(|e| e.kind() == ErrorKind::RetiredKid)
    })
    .await;
    // The gate signs with the new active key too.
    let minted = gate.mint(&MintOptions::new("alice")).unwrap();
    assert_ne!(minted.kid, old_kid);
    verify(&gate, &minted.token).await.unwrap();
}

#[tokio::test]
async fn a_token_of_a_key_rotated_in_elsewhere_verifies_at_once() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    // Metadata checks rare: only the unknown kid can make the gate look.
    let gate = gate(
        &ring,
        FollowConfig::new().with_interval(Duration::from_secs(3600)),
    )
    .await;
    let before = gate.mint(&MintOptions::new("alice")).unwrap().token;
    verify(&gate, &before).await.unwrap();

    let mut other = other_process(&ring);
    other.rotate(None, false, &Clock::fixed(now())).unwrap();
    let token = mint(&other, &MintOptions::new("bob"), &Clock::fixed(now()))
        .unwrap()
        .token;
    verify(&gate, &token).await.unwrap();

    // A flood of invented kids reloads at most once per cooldown.
    let stranger = TempKeyring::with_key(Algorithm::EdDSA);
    let foreign = mint(
        &stranger.keyring,
        &MintOptions::new("eve"),
        &Clock::fixed(now()),
    )
    .unwrap()
    .token;
    let (_, generation) = gate.keyring_generation().unwrap();
    for _ in 0..100 {
        assert_eq!(
            verify(&gate, &foreign).await.unwrap_err().kind(),
            ErrorKind::UnknownKid
        );
    }
    let (_, after) = gate.keyring_generation().unwrap();
    assert_eq!(
        after, generation,
        "the cooldown started with the reload above"
    );
}

#[tokio::test]
async fn a_corrupt_manifest_fails_closed_and_a_repaired_one_recovers() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let gate = gate(&ring, fast()).await;
    let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
    verify(&gate, &token).await.unwrap();

    let manifest = ring.keyring.dir().join("keyring.json");
    let good = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, b"{ not json").unwrap();
    eventually("the corrupt manifest to fail closed", async || {
        verify(&gate, &token)
            .await
            .is_err_and(|e| e.kind() == ErrorKind::BadKey)
    })
    .await;
    assert!(gate.keyring_failure().is_some());
    assert_eq!(
        gate.mint(&MintOptions::new("alice")).unwrap_err().kind(),
        ErrorKind::BadKey
    );

    std::fs::write(&manifest, &good).unwrap();
    eventually("the repaired manifest to be read again", async || {
        verify(&gate, &token).await.is_ok()
    })
    .await;
    assert!(gate.keyring_failure().is_none());
}

#[tokio::test]
async fn following_can_be_turned_off() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let old_kid = ring.kid();
    let gate = gate(&ring, FollowConfig::off()).await;
    let old = gate.mint(&MintOptions::new("alice")).unwrap().token;
    let mut other = other_process(&ring);
    let clock = Clock::fixed(now());
    other.rotate(None, false, &clock).unwrap();
    other.retire(&old_kid, &clock).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Off: the gate keeps what it was given until told (reload_keyring).
    verify(&gate, &old).await.unwrap();
    gate.reload_keyring().unwrap();
    assert_eq!(
        verify(&gate, &old).await.unwrap_err().kind(),
        ErrorKind::RetiredKid
    );
}
