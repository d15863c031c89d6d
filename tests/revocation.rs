//! The revocation store conformance suite, written once and run against every backend: memory,
//! SQLite (a temp file), Redis (its own server), Redis Cluster (its own three nodes), and the
//! replica over SQLite and over Redis. Then fault tests: Redis outages, killed subscriptions,
//! fail-open as an explicit opt-in, and SQLite shared by independent handles.

mod common;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use common::{NOW, RedisCluster, RedisServer, eventually, unique};
use tollgate::ErrorKind;
use tollgate::store::{
    MemoryStore, Replica, ReplicaConfig, Revocation, RevocationStore, Scope, Status, Store,
    TokenRef,
};

/// How long eventual things (propagation, reconnection) may take before a test gives up.
const PATIENCE: Duration = Duration::from_secs(20);

/// One backend under test.
struct Backend<S> {
    /// The store under test.
    store: S,
    /// Another, independent handle on the same data (a second `Store::open` of the same URL).
    second: Store,
    /// `check` honours the injected `now` for expiry (Redis relies on real TTLs instead).
    check_by_now: bool,
    /// `list` and `purge_expired` honour the injected `now`.
    store_by_now: bool,
    /// For Redis backends: the key of an entry, and its real PTTL in milliseconds.
    redis: Option<RedisProbe>,
    _guards: Vec<Box<dyn Any + Send + Sync>>,
}

/// Reads a key's real PTTL in milliseconds.
type PttlFn = Box<dyn Fn(&[u8]) -> i64 + Send + Sync>;

struct RedisProbe {
    store: tollgate::store::RedisStore,
    pttl: PttlFn,
}

impl RedisProbe {
    fn pttl(&self, scope: Scope, id: &str) -> i64 {
        (self.pttl)(&self.store.key(scope, id))
    }
}

/// The replica reads the same fixed clock as the tests (Redis lists expiries relative to it).
fn replica_config() -> ReplicaConfig {
    ReplicaConfig::default()
        .with_clock(tollgate::Clock::fixed(NOW))
        .with_poll_interval(Duration::from_millis(10))
        .with_max_staleness(Duration::from_millis(500))
        .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

fn redis_probe(store: &Store, pttl: PttlFn) -> RedisProbe {
    let Store::Redis(redis) = store else {
        panic!("not a Redis store: {}", store.url())
    };
    RedisProbe {
        store: redis.clone(),
        pttl,
    }
}

async fn memory(_test: &str) -> Option<Backend<Store>> {
    let shared = MemoryStore::new();
    Some(Backend {
        store: Store::Memory(shared.clone()),
        second: Store::Memory(shared),
        check_by_now: true,
        store_by_now: true,
        redis: None,
        _guards: Vec::new(),
    })
}

async fn sqlite(_test: &str) -> Option<Backend<Store>> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    Some(Backend {
        store: Store::open(&url).await.unwrap(),
        second: Store::open(&url).await.unwrap(),
        check_by_now: true,
        store_by_now: true,
        redis: None,
        _guards: vec![Box::new(dir)],
    })
}

async fn redis(test: &str) -> Option<Backend<Store>> {
    let server = Arc::new(RedisServer::start(test)?);
    let url = server.url(&format!("?prefix={}:", unique("t")));
    let store = Store::open(&url).await.unwrap();
    let probe_server = Arc::clone(&server);
    let redis = redis_probe(
        &store,
        Box::new(move |key| probe_server.cmd(redis::cmd("PTTL").arg(key))),
    );
    Some(Backend {
        second: Store::open(&url).await.unwrap(),
        store,
        check_by_now: false,
        store_by_now: false,
        redis: Some(redis),
        _guards: vec![Box::new(server)],
    })
}

async fn redis_cluster(test: &str) -> Option<Backend<Store>> {
    let cluster = Arc::new(RedisCluster::start(test)?);
    let url = cluster.url(&format!("?prefix={}:", unique("t")));
    let store = Store::open(&url).await.unwrap();
    assert!(matches!(&store, Store::Redis(r) if r.is_cluster()));
    let probe_cluster = Arc::clone(&cluster);
    let redis = redis_probe(&store, Box::new(move |key| probe_cluster.pttl(key)));
    Some(Backend {
        second: Store::open(&url).await.unwrap(),
        store,
        check_by_now: false,
        store_by_now: false,
        redis: Some(redis),
        _guards: vec![Box::new(cluster)],
    })
}

async fn replica_over_sqlite(test: &str) -> Option<Backend<Replica<Store>>> {
    let base = sqlite(test).await?;
    let replica = Replica::start(base.store, replica_config()).unwrap();
    assert!(replica.wait_fresh(PATIENCE).await, "replica never fresh");
    Some(Backend {
        store: replica,
        second: base.second,
        check_by_now: true,
        store_by_now: true,
        redis: None,
        _guards: base._guards,
    })
}

async fn replica_over_redis(test: &str) -> Option<Backend<Replica<Store>>> {
    let base = redis(test).await?;
    let replica = Replica::start(base.store, replica_config()).unwrap();
    assert!(replica.wait_fresh(PATIENCE).await, "replica never fresh");
    Some(Backend {
        store: replica,
        second: base.second,
        check_by_now: true,
        store_by_now: false,
        redis: base.redis,
        _guards: base._guards,
    })
}

/// The conformance cases, generic over the store.
mod suite {
    use super::*;

    fn token<'a>(jti: &'a str, sid: Option<&'a str>, sub: &'a str, kid: &'a str) -> TokenRef<'a> {
        TokenRef {
            jti,
            sid,
            sub,
            kid,
            iat: NOW - 10,
        }
    }

    fn revoked(scope: Scope, revoked_at: i64) -> Status {
        Status::Revoked { scope, revoked_at }
    }

    pub(crate) async fn each_scope_revokes_what_it_must_and_nothing_more<S: RevocationStore>(
        b: &Backend<S>,
    ) {
        for scope in Scope::ALL {
            let jti = uuid::Uuid::new_v4().to_string();
            let (sid, sub, kid) = (unique("sid"), unique("sub"), unique("kid"));
            let target = token(&jti, Some(&sid), &sub, &kid);
            assert_eq!(b.store.check(&target, NOW).await.unwrap(), Status::Valid);

            let id = target.id(scope).unwrap();
            let entry = Revocation::new(scope, id, NOW, NOW + 600);
            b.store.revoke(&entry, NOW).await.unwrap();
            assert_eq!(
                b.store.check(&target, NOW).await.unwrap(),
                revoked(scope, NOW),
                "{scope}"
            );

            // Tokens that differ in this scope's field are untouched.
            let other_jti = uuid::Uuid::new_v4().to_string();
            let others: Vec<TokenRef<'_>> = match scope {
                Scope::Token => vec![TokenRef {
                    jti: &other_jti,
                    ..target
                }],
                Scope::Session => vec![
                    TokenRef {
                        sid: Some("another-session"),
                        ..target
                    },
                    TokenRef {
                        sid: None,
                        ..target
                    },
                ],
                Scope::User => vec![TokenRef {
                    sub: "another-user",
                    ..target
                }],
                Scope::Key => vec![TokenRef {
                    kid: "another-key",
                    ..target
                }],
                // Global revokes every token issued before it, and none after.
                Scope::Global => vec![TokenRef {
                    iat: NOW + 1,
                    ..target
                }],
            };
            for other in others {
                assert_eq!(
                    b.store.check(&other, NOW + 1).await.unwrap(),
                    Status::Valid,
                    "{scope} revocation leaked to {other:?}"
                );
            }
        }
    }

    pub(crate) async fn user_and_global_revoke_only_tokens_issued_at_or_before<
        S: RevocationStore,
    >(
        b: &Backend<S>,
    ) {
        let sub = unique("sub");
        let at = |iat| TokenRef {
            jti: "j",
            sid: None,
            sub: &sub,
            kid: "k",
            iat,
        };
        let entry = Revocation::new(Scope::User, sub.as_str(), NOW, NOW + 600);
        b.store.revoke(&entry, NOW).await.unwrap();
        let user = revoked(Scope::User, NOW);
        assert_eq!(b.store.check(&at(NOW - 1), NOW).await.unwrap(), user);
        assert_eq!(b.store.check(&at(NOW), NOW).await.unwrap(), user);
        assert_eq!(
            b.store.check(&at(NOW + 1), NOW + 1).await.unwrap(),
            Status::Valid
        );

        let epoch = Revocation::new(Scope::Global, "", NOW + 100, NOW + 700);
        b.store.revoke(&epoch, NOW + 100).await.unwrap();
        let global = revoked(Scope::Global, NOW + 100);
        assert_eq!(
            b.store.check(&at(NOW + 50), NOW + 100).await.unwrap(),
            global
        );
        assert_eq!(
            b.store.check(&at(NOW + 100), NOW + 100).await.unwrap(),
            global
        );
        assert_eq!(
            b.store.check(&at(NOW + 101), NOW + 101).await.unwrap(),
            Status::Valid
        );
        // Both match an old token: the more specific (user) is reported.
        assert_eq!(b.store.check(&at(NOW - 1), NOW + 100).await.unwrap(), user);
    }

    pub(crate) async fn the_most_specific_scope_is_reported<S: RevocationStore>(b: &Backend<S>) {
        let (jti, sid, sub, kid) = (unique("jti"), unique("sid"), unique("sub"), unique("kid"));
        let t = token(&jti, Some(&sid), &sub, &kid);
        for scope in Scope::ALL.into_iter().rev() {
            let id = t.id(scope).unwrap();
            let at = NOW + scope as i64;
            b.store
                .revoke(&Revocation::new(scope, id, at, NOW + 600), NOW)
                .await
                .unwrap();
            assert_eq!(b.store.check(&t, NOW).await.unwrap(), revoked(scope, at));
        }
    }

    pub(crate) async fn entries_expire_when_they_should<S: RevocationStore>(b: &Backend<S>) {
        let jti = uuid::Uuid::new_v4().to_string();
        let t = token(&jti, None, "u", "k");
        let entry = Revocation::new(Scope::Token, jti.as_str(), NOW, NOW + 100);
        b.store.revoke(&entry, NOW).await.unwrap();
        assert!(b.store.check(&t, NOW + 99).await.unwrap().is_revoked());
        if b.check_by_now {
            assert_eq!(b.store.check(&t, NOW + 100).await.unwrap(), Status::Valid);
        }
        if b.store_by_now {
            assert_eq!(
                b.store.list(NOW + 99).await.unwrap(),
                std::slice::from_ref(&entry)
            );
            assert!(b.store.list(NOW + 100).await.unwrap().is_empty());
            assert_eq!(b.store.purge_expired(NOW + 100).await.unwrap(), 1);
            assert!(b.store.list(NOW).await.unwrap().is_empty());
        }
        if let Some(redis) = &b.redis {
            // The real TTL is the entry's remaining life.
            let pttl = redis.pttl(Scope::Token, &jti);
            assert!((90_000..=100_000).contains(&pttl), "PTTL {pttl}");
            if !b.check_by_now {
                // And Redis really drops it: a 1-second entry disappears by itself.
                let short = uuid::Uuid::new_v4().to_string();
                let entry = Revocation::new(Scope::Token, short.as_str(), NOW, NOW + 1);
                b.store.revoke(&entry, NOW).await.unwrap();
                let t = token(&short, None, "u", "k");
                assert!(b.store.check(&t, NOW).await.unwrap().is_revoked());
                eventually("the 1 s key to expire", PATIENCE, || async {
                    (b.store.check(&t, NOW).await.unwrap() == Status::Valid).then_some(())
                })
                .await;
            }
        }
    }

    pub(crate) async fn revoking_an_expired_entry_stores_nothing<S: RevocationStore>(
        b: &Backend<S>,
    ) {
        let (a, c) = (unique("jti"), unique("jti"));
        for (jti, expires_at) in [(&a, NOW), (&c, NOW - 1)] {
            let entry = Revocation::new(Scope::Token, jti.as_str(), NOW - 50, expires_at);
            b.store.revoke(&entry, NOW).await.unwrap();
            let t = token(jti, None, "u", "k");
            assert_eq!(b.store.check(&t, NOW).await.unwrap(), Status::Valid);
            assert_eq!(b.store.check(&t, NOW - 10).await.unwrap(), Status::Valid);
            if let Some(redis) = &b.redis {
                assert_eq!(redis.pttl(Scope::Token, jti), -2, "the key must not exist");
            }
        }
        assert!(b.store.list(NOW - 10).await.unwrap().is_empty());
    }

    pub(crate) async fn re_revoking_keeps_the_later_times<S: RevocationStore>(b: &Backend<S>) {
        let sub = unique("sub");
        let tolerance = if b.store_by_now { 0 } else { 2 };
        let live = |entries: Vec<Revocation>| {
            entries
                .into_iter()
                .find(|e| e.scope == Scope::User && e.id == sub)
                .expect("entry listed")
        };
        let revoke = |revoked_at, expires_at| {
            let entry = Revocation::new(Scope::User, sub.as_str(), revoked_at, expires_at);
            async move { b.store.revoke(&entry, NOW).await.unwrap() }
        };
        revoke(NOW, NOW + 100).await;
        revoke(NOW - 50, NOW + 200).await;
        let e = live(b.store.list(NOW).await.unwrap());
        assert_eq!(e.revoked_at, NOW);
        assert!((e.expires_at - (NOW + 200)).abs() <= tolerance, "{e:?}");

        revoke(NOW + 10, NOW + 50).await;
        let e = live(b.store.list(NOW).await.unwrap());
        assert_eq!(e.revoked_at, NOW + 10);
        assert!((e.expires_at - (NOW + 200)).abs() <= tolerance, "{e:?}");
        let t = TokenRef {
            iat: NOW + 5,
            ..token("j", None, &sub, "k")
        };
        assert_eq!(
            b.store.check(&t, NOW + 20).await.unwrap(),
            revoked(Scope::User, NOW + 10)
        );
        if let Some(redis) = &b.redis {
            let pttl = redis.pttl(Scope::User, &sub);
            assert!((190_000..=200_000).contains(&pttl), "PTTL {pttl}");
        }
    }

    pub(crate) async fn a_revocation_is_seen_through_another_instance<S: RevocationStore>(
        b: &Backend<S>,
    ) {
        let (jti, sid) = (uuid::Uuid::new_v4().to_string(), unique("sid"));
        let t = token(&jti, Some(&sid), "u", "k");
        let entry = Revocation::new(Scope::Token, jti.as_str(), NOW, NOW + 600);
        b.second.revoke(&entry, NOW).await.unwrap();
        eventually("the other instance's revocation", PATIENCE, || async {
            b.store
                .check(&t, NOW)
                .await
                .unwrap()
                .is_revoked()
                .then_some(())
        })
        .await;

        let entry = Revocation::new(Scope::Session, sid.as_str(), NOW, NOW + 600);
        b.store.revoke(&entry, NOW).await.unwrap();
        let only_session = TokenRef { jti: "other", ..t };
        assert_eq!(
            b.second.check(&only_session, NOW).await.unwrap(),
            revoked(Scope::Session, NOW)
        );
    }

    pub(crate) async fn list_returns_every_live_entry<S: RevocationStore>(b: &Backend<S>) {
        let mut expected = Vec::new();
        for scope in Scope::ALL {
            let n = if scope == Scope::Global { 1 } else { 3 };
            for i in 0..n {
                let id = if scope == Scope::Global {
                    String::new()
                } else if scope == Scope::Token && i == 0 {
                    // A canonical UUID: Redis packs it into 16 bytes, list must unpack it.
                    uuid::Uuid::new_v4().to_string()
                } else {
                    format!("{} with spaces {{and}} braces", unique(scope.as_str()))
                };
                let entry = Revocation::new(scope, id, NOW - i, NOW + 300 + i);
                b.store.revoke(&entry, NOW).await.unwrap();
                expected.push(entry);
            }
        }
        let mut listed = b.store.list(NOW).await.unwrap();
        let key = |e: &Revocation| (e.scope, e.id.clone(), e.revoked_at);
        listed.sort_by_key(key);
        expected.sort_by_key(key);
        assert_eq!(
            listed.iter().map(key).collect::<Vec<_>>(),
            expected.iter().map(key).collect::<Vec<_>>()
        );
        let tolerance = if b.store_by_now { 0 } else { 2 };
        for (l, e) in listed.iter().zip(&expected) {
            assert!(
                (l.expires_at - e.expires_at).abs() <= tolerance,
                "{l:?} vs {e:?}"
            );
        }
    }

    pub(crate) async fn malformed_entries_are_usage_errors<S: RevocationStore>(b: &Backend<S>) {
        for entry in [
            Revocation::new(Scope::Global, "x", NOW, NOW + 10),
            Revocation::new(Scope::Token, "", NOW, NOW + 10),
            Revocation::new(Scope::Session, "s".repeat(10_000), NOW, NOW + 10),
        ] {
            let err = b.store.revoke(&entry, NOW).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Usage, "{entry:?}");
        }
        assert!(b.store.list(NOW).await.unwrap().is_empty());
    }
}

macro_rules! conformance {
    ($module:ident, $make:path) => {
        conformance!(@cases $module, $make, [
            each_scope_revokes_what_it_must_and_nothing_more,
            user_and_global_revoke_only_tokens_issued_at_or_before,
            the_most_specific_scope_is_reported,
            entries_expire_when_they_should,
            revoking_an_expired_entry_stores_nothing,
            re_revoking_keeps_the_later_times,
            a_revocation_is_seen_through_another_instance,
            list_returns_every_live_entry,
            malformed_entries_are_usage_errors,
        ]);
    };
    (@cases $module:ident, $make:path, [$($case:ident),* $(,)?]) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let name = concat!(stringify!($module), "::", stringify!($case));
                    let Some(backend) = $make(name).await else { return };
                    suite::$case(&backend).await;
                }
            )*
        }
    };
}

conformance!(memory_store, memory);
conformance!(sqlite_store, sqlite);
conformance!(redis_store, redis);
conformance!(redis_cluster_store, redis_cluster);
conformance!(replica_over_sqlite_store, replica_over_sqlite);
conformance!(replica_over_redis_store, replica_over_redis);

mod opening {
    use super::*;

    #[tokio::test]
    async fn malformed_urls_and_unknown_schemes_are_usage_errors() {
        for url in [
            "",
            "postgres://db:5432",
            "redis://nohost",
            "sqlite:",
            "memory",
        ] {
            let err = Store::open(url).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Usage, "{url}");
            assert!(
                err.message().contains("redis+cluster://"),
                "{}",
                err.message()
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_store_unavailable_without_its_password() {
        let port = common::redis::free_port();
        let url = format!("redis://app:hunter2@127.0.0.1:{port}/0?timeout=500ms");
        let err = Store::open(&url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
        assert_eq!(err.class().exit_code(), 3);
        let message = err.to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(
            message.starts_with(&format!(
                "store redis://app:***@127.0.0.1:{port}/0 unreachable"
            )),
            "{message}"
        );
        assert!(message.contains("connection refused"), "{message}");
        assert!(message.contains("sqlite:PATH"), "{message}");
    }

    #[tokio::test]
    async fn urls_are_reported_redacted() {
        let Some(server) = RedisServer::start("urls_are_reported_redacted") else {
            return;
        };
        server.cmd::<()>(
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("requirepass")
                .arg("pw0"),
        );
        let url = format!("redis://:pw0@127.0.0.1:{}/3", server.port());
        let store = Store::open(&url).await.unwrap();
        assert_eq!(
            store.url(),
            format!("redis://:***@127.0.0.1:{}/3", server.port())
        );
        assert!(!format!("{store:?}").contains("pw0"));
    }
}

/// Redis outages: fail closed while down, recover by itself.
mod redis_faults {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    fn t(jti: &str) -> TokenRef<'_> {
        TokenRef {
            jti,
            sid: Some("s"),
            sub: "u",
            kid: "k",
            iat: NOW - 10,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_during_an_outage_fail_closed_and_service_resumes() {
        let Some(mut server) = RedisServer::start("outage") else {
            return;
        };
        let url = server.url("?timeout=300ms");
        let store = Arc::new(Store::open(&url).await.unwrap());
        let entry = Revocation::new(Scope::Token, "gone", NOW, NOW + 600);
        store.revoke(&entry, NOW).await.unwrap();
        assert!(store.check(&t("gone"), NOW).await.unwrap().is_revoked());

        // Checks run continuously; those that start and end inside the outage must all fail
        // with StoreUnavailable.
        let down = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (in_outage, valid_in_outage) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (store, down, stop) = (store.clone(), down.clone(), stop.clone());
            let (in_outage, valid_in_outage) = (in_outage.clone(), valid_in_outage.clone());
            workers.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let before = down.load(Ordering::SeqCst);
                    let result = store.check(&t("gone"), NOW).await;
                    if before && down.load(Ordering::SeqCst) {
                        in_outage.fetch_add(1, Ordering::SeqCst);
                        match result {
                            Err(e) => assert_eq!(e.kind(), ErrorKind::StoreUnavailable, "{e}"),
                            Ok(status) => {
                                valid_in_outage.fetch_add(1, Ordering::SeqCst);
                                panic!("check answered {status:?} while Redis was down");
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.stop();
        down.store(true, Ordering::SeqCst);
        // Also a few sequential checks, each bounded by the timeout.
        for _ in 0..5 {
            let err = store.check(&t("gone"), NOW).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
            assert!(err.to_string().contains("unreachable"), "{err}");
        }
        eventually("checks to run during the outage", PATIENCE, || async {
            (in_outage.load(Ordering::SeqCst) >= 20).then_some(())
        })
        .await;
        down.store(false, Ordering::SeqCst);
        server.restart();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.await.unwrap();
        }
        assert_eq!(valid_in_outage.load(Ordering::SeqCst), 0);

        // Service resumes by itself on the same port (the restarted server lost its data).
        eventually("the store to answer again", PATIENCE, || async {
            store.check(&t("gone"), NOW).await.ok()
        })
        .await;
        store.revoke(&entry, NOW).await.unwrap();
        assert!(store.check(&t("gone"), NOW).await.unwrap().is_revoked());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_resyncs_after_an_outage_and_sees_what_was_revoked_meanwhile() {
        let Some(mut server) = RedisServer::start("replica outage") else {
            return;
        };
        let url = server.url("?timeout=300ms");
        let replica = Replica::start(Store::open(&url).await.unwrap(), replica_config()).unwrap();
        assert!(replica.wait_fresh(PATIENCE).await);
        assert_eq!(replica.check(&t("late"), NOW).await.unwrap(), Status::Valid);

        server.stop();
        eventually("the replica to turn stale", PATIENCE, || async {
            (!replica.is_fresh()).then_some(())
        })
        .await;
        // Stale and the store is down: fail closed.
        let err = replica.check(&t("late"), NOW).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
        assert!(replica.freshness().strict_checks >= 1);

        server.restart();
        // Revoked through another connection while the replica is still resynchronising.
        let other = Store::open(&url).await.unwrap();
        let entry = Revocation::new(Scope::Token, "late", NOW, NOW + 600);
        other.revoke(&entry, NOW).await.unwrap();
        eventually("the replica to reject the token", PATIENCE, || async {
            matches!(replica.check(&t("late"), NOW).await, Ok(s) if s.is_revoked()).then_some(())
        })
        .await;
        assert!(replica.wait_fresh(PATIENCE).await);
        assert_eq!(
            replica.check_local(&t("late"), NOW),
            Some(Status::Revoked {
                scope: Scope::Token,
                revoked_at: NOW
            })
        );
        assert!(replica.freshness().loads >= 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_whose_subscription_is_killed_reloads_what_it_missed() {
        let Some(server) = RedisServer::start("killed subscription") else {
            return;
        };
        let url = server.url("?timeout=500ms");
        let replica = Replica::start(Store::open(&url).await.unwrap(), replica_config()).unwrap();
        assert!(replica.wait_fresh(PATIENCE).await);
        let loads = replica.freshness().loads;

        // A write whose notification is lost (a raw SET, no PUBLISH): the replica misses it.
        let Store::Redis(redis_store) = replica.store() else {
            unreachable!()
        };
        let key = redis_store.key(Scope::Session, "s");
        server.cmd::<()>(redis::cmd("SET").arg(&key).arg(NOW).arg("EX").arg(600));
        let any = t("any");
        assert_eq!(replica.check_local(&any, NOW), Some(Status::Valid));

        // Killing its subscription makes it resubscribe and reload, which brings the entry.
        let killed: i64 = server.cmd(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"));
        assert_eq!(killed, 1);
        eventually("the reload to bring the missed entry", PATIENCE, || async {
            replica
                .check_local(&any, NOW)
                .filter(Status::is_revoked)
                .map(|_| ())
        })
        .await;
        assert!(replica.freshness().loads > loads);
        assert_eq!(
            replica.check_local(&any, NOW),
            Some(Status::Revoked {
                scope: Scope::Session,
                revoked_at: NOW
            })
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_open_is_an_explicit_counted_opt_in() {
        use tollgate::store::{FailMode, FailOpen};
        let Some(mut server) = RedisServer::start("fail open") else {
            return;
        };
        let url = server.url("?timeout=300ms");
        let closed = Store::open(&url).await.unwrap();
        let open = FailOpen::new(Store::open(&url).await.unwrap());
        let replica = Replica::start(
            Store::open(&url).await.unwrap(),
            replica_config().with_fail_mode(FailMode::Open),
        )
        .unwrap();
        assert!(replica.wait_fresh(PATIENCE).await);
        server.stop();

        let err = closed.check(&t("x"), NOW).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
        assert_eq!(open.check(&t("x"), NOW).await.unwrap(), Status::Valid);
        assert_eq!(open.fail_open_count(), 1);
        // The revocation itself still reports the outage.
        let entry = Revocation::new(Scope::Token, "x", NOW, NOW + 60);
        assert_eq!(
            open.revoke(&entry, NOW).await.unwrap_err().kind(),
            ErrorKind::StoreUnavailable
        );
        eventually("the replica to turn stale", PATIENCE, || async {
            (!replica.is_fresh()).then_some(())
        })
        .await;
        assert_eq!(replica.check(&t("x"), NOW).await.unwrap(), Status::Valid);
        assert!(replica.freshness().fail_open_checks >= 1);
    }
}

/// SQLite shared by independent handles (as by several processes).
mod sqlite_sharing {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_on_one_file_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("shared.db").display());
        let (a, b) = (
            Arc::new(Store::open(&url).await.unwrap()),
            Arc::new(Store::open(&url).await.unwrap()),
        );
        let mut tasks = Vec::new();
        for (name, store) in [("a", a.clone()), ("b", b.clone())] {
            for worker in 0..4 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..50 {
                        let id = format!("{name}-{worker}-{i}");
                        let entry = Revocation::new(Scope::Token, id, NOW, NOW + 600);
                        store.revoke(&entry, NOW).await.unwrap();
                    }
                }));
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(a.list(NOW).await.unwrap().len(), 400);
        assert_eq!(b.list(NOW).await.unwrap().len(), 400);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_polls_changes_made_through_another_handle() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("poll.db").display());
        let writer = Store::open(&url).await.unwrap();
        let early = Revocation::new(Scope::Key, "k-old", NOW, NOW + 600);
        writer.revoke(&early, NOW).await.unwrap();

        let replica = Replica::start(Store::open(&url).await.unwrap(), replica_config()).unwrap();
        assert!(replica.wait_fresh(PATIENCE).await);
        let t = TokenRef {
            jti: "j",
            sid: None,
            sub: "u",
            kid: "k-old",
            iat: NOW,
        };
        assert!(replica.check_local(&t, NOW).unwrap().is_revoked());

        for i in 0..20 {
            let entry = Revocation::new(Scope::User, format!("user-{i}"), NOW, NOW + 600);
            writer.revoke(&entry, NOW).await.unwrap();
        }
        let last = TokenRef {
            sub: "user-19",
            kid: "k",
            ..t
        };
        eventually("the replica to poll the change", PATIENCE, || async {
            replica
                .check_local(&last, NOW)
                .filter(Status::is_revoked)
                .map(|_| ())
        })
        .await;
        assert_eq!(replica.len(), 21);
    }
}
