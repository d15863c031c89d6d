//! Caching: max-age within bounds, refetch on an unknown kid at most once per cooldown, one
//! fetch for concurrent cold callers, stale-if-error until the stale limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate::keys::{RemoteConfig, RemoteJwks};
use tollgate::{Algorithm, Clock, ErrorKind};

use crate::config;
use crate::issuer::{Issuer, JwksServer};

const SECOND: Duration = Duration::from_secs(1);

/// The cache time the status reports: `expires_at - fetched_at`, in seconds.
fn cached_for(jwks: &RemoteJwks) -> i64 {
    let status = jwks.status();
    status.expires_at.unwrap() - status.fetched_at.unwrap()
}

#[tokio::test]
async fn max_age_is_honoured_within_the_bounds() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let bounded = || {
        config()
            .with_cache_bounds(SECOND, 3 * SECOND)
            .with_default_max_age(2 * SECOND)
    };
    for (cache_control, seconds) in [
        (Some("public, max-age=3600"), 3),
        (Some("max-age=2"), 2),
        (Some("max-age=0"), 1),
        (Some("no-store"), 1),
        (Some("max-age=3600, no-cache"), 1),
        (None, 2),
    ] {
        let server = JwksServer::start(issuer.jwks(), cache_control).await;
        let jwks = RemoteJwks::new(&server.url(), None, bounded()).unwrap();
        jwks.key_set().await.unwrap();
        assert_eq!(cached_for(&jwks), seconds, "{cache_control:?}");
    }

    // Within max-age the cache answers; after it, one new fetch.
    let server = JwksServer::start(issuer.jwks(), Some("max-age=1")).await;
    let jwks = RemoteJwks::new(&server.url(), None, bounded()).unwrap();
    let first = jwks.key_set().await.unwrap();
    for _ in 0..10 {
        let again = jwks.key_set().await.unwrap();
        assert!(Arc::ptr_eq(&first, &again));
    }
    assert_eq!(server.hits(), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let refreshed = jwks.key_set().await.unwrap();
    assert!(!Arc::ptr_eq(&first, &refreshed));
    assert_eq!(server.hits(), 2);
    let status = jwks.status();
    assert_eq!(
        (status.keys, status.skipped, status.fetches, status.failures),
        (1, 0, 2, 0)
    );
    assert!(!status.stale && status.last_error.is_none());
}

#[tokio::test]
async fn a_rotated_issuer_is_picked_up_through_its_new_kid() {
    let mut issuer = Issuer::new(Algorithm::EdDSA);
    let old = issuer.kid();
    let server = JwksServer::start(issuer.jwks(), Some("max-age=3600")).await;
    let jwks = RemoteJwks::new(&server.url(), None, config().with_cooldown(SECOND)).unwrap();
    assert!(jwks.key_set().await.unwrap().get(&old).is_some());

    issuer
        .keyring
        .rotate(None, false, &Clock::system())
        .unwrap();
    let new = issuer.kid();
    server.set_body(issuer.jwks());

    // Right after a fetch the cooldown holds: the cached set, no request.
    let set = jwks.key_set_for(Some(&new)).await.unwrap();
    assert!(set.get(&new).is_none());
    assert_eq!(server.hits(), 1);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let set = jwks.key_set_for(Some(&new)).await.unwrap();
    assert!(set.get(&new).is_some() && set.get(&old).is_some());
    assert_eq!(server.hits(), 2);

    // Known kids, old and new, never fetch.
    for kid in [&old, &new] {
        jwks.key_set_for(Some(kid)).await.unwrap();
    }
    jwks.key_set_for(None).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_cooldown() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let server = JwksServer::start(issuer.jwks(), Some("max-age=3600")).await;
    let cooldown = SECOND;
    let jwks = RemoteJwks::new(&server.url(), None, config().with_cooldown(cooldown)).unwrap();
    jwks.key_set().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // 1000 made-up kids: 10 waves of 100 concurrent callers, 250 ms apart.
    let start = Instant::now();
    for _ in 0..10 {
        let wave: Vec<_> = (0..100)
            .map(|_| {
                let jwks = jwks.clone();
                let kid = uuid::Uuid::new_v4().to_string();
                tokio::spawn(async move {
                    let set = jwks.key_set_for(Some(&kid)).await.unwrap();
                    assert!(set.get(&kid).is_none());
                })
            })
            .collect();
        for task in wave {
            task.await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let windows = start.elapsed().as_secs_f64() / cooldown.as_secs_f64();
    let refetches = server.hits() - 1;
    // One refetch at the first wave (the cooldown had passed), then at most one per cooldown.
    assert!(refetches >= 1, "the first unknown kid refetches");
    assert!(
        refetches as f64 <= 1.0 + windows.ceil(),
        "{refetches} refetches in {windows:.1} cooldowns"
    );
    assert_eq!(jwks.status().failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_callers_share_one_fetch() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let server = JwksServer::start(issuer.jwks(), Some("max-age=3600")).await;
    // The issuer is slow, so that every caller arrives while the fetch is in flight.
    server.set_delay(Duration::from_millis(300));
    let jwks = RemoteJwks::new(&server.url(), None, config()).unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let callers: Vec<_> = (0..100)
        .map(|i| {
            let (jwks, barrier) = (jwks.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                if i % 2 == 0 {
                    jwks.key_set().await
                } else {
                    jwks.key_set_for(Some("not-there")).await
                }
            })
        })
        .collect();
    let mut sets = Vec::new();
    for caller in callers {
        sets.push(caller.await.unwrap().unwrap());
    }
    assert_eq!(server.hits(), 1);
    assert!(sets.iter().all(|s| Arc::ptr_eq(s, &sets[0])));
    assert_eq!(jwks.status().fetches, 1);
}

#[tokio::test]
async fn a_stopped_issuer_is_served_stale_until_the_stale_limit() {
    let issuer = Issuer::new(Algorithm::EdDSA);
    let server = JwksServer::start(issuer.jwks(), Some("max-age=1")).await;
    let config: RemoteConfig = config()
        .with_cache_bounds(SECOND, SECOND)
        .with_cooldown(SECOND)
        .with_max_stale(2 * SECOND);
    let jwks = RemoteJwks::new(&server.url(), None, config).unwrap();
    let fetched = jwks.key_set().await.unwrap();
    server.stop().await;

    // Expired, the issuer gone: the old set, marked stale, with the failure.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let stale = jwks.key_set().await.unwrap();
    assert!(Arc::ptr_eq(&fetched, &stale));
    let status = jwks.status();
    assert!(status.stale, "{status:?}");
    assert_eq!((status.keys, status.fetches, status.failures), (1, 2, 1));
    let error = status.last_error.expect("last error");
    assert!(error.contains(&jwks.url().to_owned()), "{error}");
    // Within the cooldown after the failure: the stale set again, without a new attempt.
    jwks.key_set_for(Some("other")).await.unwrap();
    assert_eq!(jwks.status().fetches, 2);

    // Past expiry + max_stale: nothing stands in any more.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let err = jwks.key_set().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JwksUnavailable, "{err}");
    assert_eq!(err.class().exit_code(), 3);
    let status = jwks.status();
    assert!(!status.stale && status.keys == 0, "{status:?}");
    assert!(status.last_error.is_some());
}
