//! The revocation store conformance suite, written once and run against every backend of
//! `common::backends` (memory, SQLite, Redis, Redis Cluster, and the replica over SQLite and
//! over Redis). Then fault tests: Redis outages, killed subscriptions, lost notifications,
//! fail-open as an explicit opt-in, SQLite shared by independent handles, and upgrades from the
//! version-1 key layout.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::backends::{Backend, PATIENCE, replica_config};
use common::{RedisServer, eventually, unique};
use tollgate::keys::Namespace;
use tollgate::store::{
    Entry, EntryKey, Replica, Revocation, RevocationStore, Scope, Status, Store, TokenRef,
};
use tollgate::{Clock, ErrorKind};

/// The default maximum leeway every backend records.
const MAX_LEEWAY: i64 = 300;

fn own() -> &'static Namespace {
    static OWN: Namespace = Namespace::Own;
    &OWN
}

fn token<'a>(
    jti: &'a str,
    sid: Option<&'a str>,
    sub: &'a str,
    kid: &'a str,
    iat: i64,
) -> TokenRef<'a> {
    TokenRef {
        namespace: own(),
        jti,
        sid,
        sub,
        kid,
        iat: Some(iat),
        auth_time: None,
    }
}

fn revoked(scope: Scope, revoked_at: i64) -> Status {
    Status::Revoked { scope, revoked_at }
}

/// The live entry of `key` in `entries`.
fn find(entries: &[Entry], key: EntryKey) -> Option<Entry> {
    entries.iter().find(|e| e.key == key).copied()
}

/// The conformance cases, generic over the store.
mod suite {
    use super::*;

    pub(crate) async fn each_scope_revokes_what_it_must_and_nothing_more<S: RevocationStore>(
        b: &Backend<S>,
    ) {
        let now = b.t0;
        for scope in Scope::ALL {
            let jti = uuid::Uuid::new_v4().to_string();
            let (sid, sub, kid) = (unique("sid"), unique("sub"), unique("kid"));
            let target = token(&jti, Some(&sid), &sub, &kid, now - 10);
            assert_eq!(b.store.check(&target, now).await.unwrap(), Status::Valid);

            let id = target.id(scope).unwrap();
            let entry = Revocation::new(scope, id, now, now + 600);
            b.store.revoke(&entry).await.unwrap();
            assert_eq!(
                b.store.check(&target, now).await.unwrap(),
                revoked(scope, now),
                "{scope}"
            );

            // Tokens that differ in this scope's field are untouched.
            let other_jti = uuid::Uuid::new_v4().to_string();
            let mut others: Vec<TokenRef<'_>> = match scope {
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
                // Global revokes every token issued before it (plus the maximum leeway for
                // issuers' clock skew), and none after.
                Scope::Global => vec![TokenRef {
                    iat: Some(now + MAX_LEEWAY + 1),
                    ..target
                }],
            };
            // The same ids signed by another issuer's key are another namespace: untouched by
            // token, session and user revocations. Key and global revocations hold for every
            // issuer (a key revoked in the keyring stays revoked however it comes back).
            let foreign = Namespace::Issuer("https://idp.example".into());
            let theirs = TokenRef {
                namespace: &foreign,
                ..target
            };
            if matches!(scope, Scope::Key | Scope::Global) {
                assert!(
                    b.store.check(&theirs, now + 1).await.unwrap().is_revoked(),
                    "{scope} revocation must reach another issuer's token"
                );
            } else {
                others.push(theirs);
            }
            for other in others {
                assert_eq!(
                    b.store.check(&other, now + 1).await.unwrap(),
                    Status::Valid,
                    "{scope} revocation leaked to {other:?}"
                );
            }
        }
    }

    pub(crate) async fn user_and_global_revoke_tokens_issued_up_to_then_on_either_clock<
        S: RevocationStore,
    >(
        b: &Backend<S>,
    ) {
        let now = b.t0;
        let sub = unique("sub");
        let at = |iat| token("j", None, &sub, "k", iat);
        let entry = Revocation::new(Scope::User, sub.as_str(), now, now + 600);
        b.store.revoke(&entry).await.unwrap();
        let user = revoked(Scope::User, now);
        assert_eq!(b.store.check(&at(now - 1), now).await.unwrap(), user);
        assert_eq!(b.store.check(&at(now), now).await.unwrap(), user);
        // An issuer whose clock runs 20 s fast issued this before the revocation: covered.
        assert_eq!(b.store.check(&at(now + 20), now).await.unwrap(), user);
        assert_eq!(
            b.store.check(&at(now + MAX_LEEWAY), now).await.unwrap(),
            user
        );
        assert_eq!(
            b.store
                .check(&at(now + MAX_LEEWAY + 1), now + 1)
                .await
                .unwrap(),
            Status::Valid
        );
        // No iat: treated as issued before (fail closed).
        let no_iat = TokenRef { iat: None, ..at(0) };
        assert_eq!(b.store.check(&no_iat, now).await.unwrap(), user);

        // A session token is judged by its session's creation on the store's clock (auth_time)
        // against the entry's stamp on that clock, whatever its iat.
        let stored = b
            .store
            .revoke(&Revocation::new(Scope::Global, "", now + 100, now + 700))
            .await
            .unwrap();
        let session = |auth_time| TokenRef {
            auth_time: Some(auth_time),
            iat: Some(now + 10_000),
            ..token("j2", None, "someone", "k", 0)
        };
        assert!(
            b.store
                .check(&session(stored.stamp), now)
                .await
                .unwrap()
                .is_revoked()
        );
        assert_eq!(
            b.store
                .check(&session(stored.stamp + 1), now)
                .await
                .unwrap(),
            Status::Valid
        );
        // Both match an old token: the more specific (user) is reported.
        assert_eq!(b.store.check(&at(now - 1), now).await.unwrap(), user);
    }

    pub(crate) async fn the_most_specific_scope_is_reported<S: RevocationStore>(b: &Backend<S>) {
        let now = b.t0;
        let (jti, sid, sub, kid) = (unique("jti"), unique("sid"), unique("sub"), unique("kid"));
        let t = token(&jti, Some(&sid), &sub, &kid, now - 10);
        for scope in Scope::ALL.into_iter().rev() {
            let id = t.id(scope).unwrap();
            let at = now + scope as i64;
            b.store
                .revoke(&Revocation::new(scope, id, at, now + 600))
                .await
                .unwrap();
            assert_eq!(b.store.check(&t, now).await.unwrap(), revoked(scope, at));
        }
    }

    pub(crate) async fn entries_live_through_their_last_second<S: RevocationStore>(b: &Backend<S>) {
        let now = b.t0;
        let jti = uuid::Uuid::new_v4().to_string();
        let t = token(&jti, None, "u", "k", now);
        let revocation = Revocation::new(Scope::Token, jti.as_str(), now, now + 100);
        let stored = b.store.revoke(&revocation).await.unwrap();
        assert_eq!(stored.expires_at, now + 100);
        assert!(b.store.check(&t, now + 99).await.unwrap().is_revoked());
        if b.redis.is_none() {
            // The verifier's clock decides which entries still count.
            assert_eq!(b.store.check(&t, now + 100).await.unwrap(), Status::Valid);
        }
        if let Some(redis) = &b.redis {
            // The key expires (EXAT) at the entry's expiry, by the server's clock.
            let pttl = (redis.pttl)(&redis.store.entry_key(&revocation.key()));
            assert!(
                (690_000..=700_000).contains(&pttl),
                "{}: PTTL {pttl}",
                b.name
            );
        }
        if b.manual() && b.redis.is_none() {
            // The store drops it by its own clock, after the purge margin.
            b.set_store_time(now + 100);
            assert!(find(&b.store.list().await.unwrap(), revocation.key()).is_none());
            // SQLite is purged by every writing process on its own clock: it keeps a day more,
            // so that one process whose clock runs ahead cannot delete what others still need.
            let margin = if b.name.contains("sqlite") {
                (MAX_LEEWAY + 300).max(86_400)
            } else {
                MAX_LEEWAY + 300
            };
            b.set_store_time(now + 100 + margin - 1);
            b.store.purge_expired().await.unwrap();
            b.set_store_time(now);
            assert!(
                b.store.check(&t, now + 99).await.unwrap().is_revoked(),
                "kept through the purge margin"
            );
            b.set_store_time(now + 100 + margin);
            assert!(b.store.purge_expired().await.unwrap() >= 1);
            b.set_store_time(now);
            if !b.name.starts_with("replica") {
                // (A replica keeps its copy until the entry's expiry on its own clock.)
                assert_eq!(b.store.check(&t, now + 99).await.unwrap(), Status::Valid);
            }
        }
    }

    /// An entry whose expiry the store's clock has passed is still stored, and answers a
    /// verifier whose clock lags (the attack review: Redis dropped it and reported success,
    /// and a server 200 s behind accepted the token). It is not live for a verifier on time.
    pub(crate) async fn an_entry_past_its_expiry_still_answers_a_lagging_verifier<
        S: RevocationStore,
    >(
        b: &Backend<S>,
    ) {
        let now = b.store_now();
        let (a, c) = (unique("jti"), unique("jti"));
        for (jti, expires_at) in [(&a, now), (&c, now - 100)] {
            let revocation =
                Revocation::new(Scope::Token, jti.as_str(), now - 250, expires_at).with_lifetime(0);
            let stored = b.store.revoke(&revocation).await.unwrap();
            // (Never earlier than the store's now: `Revocation::expiry`.)
            assert_eq!(stored.expires_at, now, "{}", b.name);
            let t = token(jti, None, "u", "k", now - 1000);
            assert_eq!(b.store.check(&t, now).await.unwrap(), Status::Valid);
            assert!(
                b.store.check(&t, now - 200).await.unwrap().is_revoked(),
                "{}: a verifier 200 s behind must still find it",
                b.name
            );
            if let Some(redis) = &b.redis {
                // Kept the purge margin (maximum leeway + 5 minutes) past its expiry.
                let pttl = (redis.pttl)(&redis.store.entry_key(&revocation.key()));
                assert!((590_000..=600_000).contains(&pttl), "PTTL {pttl}");
            }
            assert!(find(&b.store.list().await.unwrap(), revocation.key()).is_none());
        }
    }

    pub(crate) async fn re_revoking_keeps_the_later_times<S: RevocationStore>(b: &Backend<S>) {
        let now = b.t0;
        let sub = unique("sub");
        let key = EntryKey::new(own(), Scope::User, &sub);
        let revoke = |revoked_at, expires_at| {
            let revocation = Revocation::new(Scope::User, sub.as_str(), revoked_at, expires_at);
            async move { b.store.revoke(&revocation).await.unwrap() }
        };
        revoke(now, now + 100).await;
        let merged = revoke(now - 50, now + 200).await;
        assert_eq!((merged.revoked_at, merged.expires_at), (now, now + 200));
        let e = find(&b.store.list().await.unwrap(), key).expect("entry listed");
        assert_eq!(e.revoked_at, now);
        assert!((e.expires_at - (now + 200)).abs() <= 2, "{e:?}");

        revoke(now + 10, now + 50).await;
        let e = find(&b.store.list().await.unwrap(), key).expect("entry listed");
        assert_eq!(e.revoked_at, now + 10);
        assert!((e.expires_at - (now + 200)).abs() <= 2, "{e:?}");
        let t = token("j", None, &sub, "k", now + 5);
        assert_eq!(
            b.store.check(&t, now + 20).await.unwrap(),
            revoked(Scope::User, now + 10)
        );
        if let Some(redis) = &b.redis {
            let pttl = (redis.pttl)(&redis.store.entry_key(&key));
            assert!((790_000..=800_000).contains(&pttl), "PTTL {pttl}");
        }
    }

    pub(crate) async fn a_revocation_is_seen_through_another_instance<S: RevocationStore>(
        b: &Backend<S>,
    ) {
        let now = b.t0;
        let (jti, sid) = (uuid::Uuid::new_v4().to_string(), unique("sid"));
        let t = token(&jti, Some(&sid), "u", "k", now);
        let revocation = Revocation::new(Scope::Token, jti.as_str(), now, now + 600);
        b.second.revoke(&revocation).await.unwrap();
        eventually("the other instance's revocation", PATIENCE, || async {
            b.store
                .check(&t, now)
                .await
                .unwrap()
                .is_revoked()
                .then_some(())
        })
        .await;

        let revocation = Revocation::new(Scope::Session, sid.as_str(), now, now + 600);
        b.store.revoke(&revocation).await.unwrap();
        let only_session = TokenRef { jti: "other", ..t };
        assert_eq!(
            b.second.check(&only_session, now).await.unwrap(),
            revoked(Scope::Session, now)
        );
    }

    pub(crate) async fn list_returns_every_live_entry<S: RevocationStore>(b: &Backend<S>) {
        let now = b.t0;
        let mut expected = Vec::new();
        for scope in Scope::ALL {
            let n = if scope == Scope::Global { 1 } else { 3 };
            for i in 0..n {
                let id = if scope == Scope::Global {
                    String::new()
                } else if scope == Scope::Token && i == 0 {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    format!("{} with spaces {{and}} braces", unique(scope.as_str()))
                };
                let revocation = Revocation::new(scope, id, now - i, now + 300 + i);
                b.store.revoke(&revocation).await.unwrap();
                expected.push(revocation);
            }
        }
        let listed = b.store.list().await.unwrap();
        assert_eq!(listed.len(), expected.len(), "{listed:?}");
        for revocation in &expected {
            let e = find(&listed, revocation.key()).expect("listed");
            assert_eq!(e.revoked_at, revocation.revoked_at);
            assert!(
                (e.expires_at - revocation.expires_at).abs() <= 2,
                "{e:?} vs {revocation:?}"
            );
        }
    }

    pub(crate) async fn malformed_entries_are_usage_errors<S: RevocationStore>(b: &Backend<S>) {
        let now = b.t0;
        for revocation in [
            Revocation::new(Scope::Global, "x", now, now + 10),
            Revocation::new(Scope::Token, "", now, now + 10),
            Revocation::new(Scope::Session, "s".repeat(20_000), now, now + 10),
        ] {
            let err = b.store.revoke(&revocation).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Usage, "{revocation:?}");
        }
        assert!(b.store.list().await.unwrap().is_empty());
    }

    /// Issue 8, item 9: ids of any length are revocable (stores keep a fixed-size digest), and
    /// a short id and a long one never share an entry.
    pub(crate) async fn issue_8_ids_of_any_length_are_revocable<S: RevocationStore>(
        b: &Backend<S>,
    ) {
        let now = b.t0;
        let long = "s".repeat(600);
        for scope in [Scope::Token, Scope::Session, Scope::User, Scope::Key] {
            let id = format!("{scope}{long}");
            let t = token(&id, Some(&id), &id, &id, now);
            b.store
                .revoke(&Revocation::new(scope, id.as_str(), now, now + 600))
                .await
                .unwrap();
            assert_eq!(
                b.store.check(&t, now).await.unwrap(),
                revoked(scope, now),
                "{scope}"
            );
            let short = token("s", Some("s"), "s", "s", now);
            assert_eq!(b.store.check(&short, now).await.unwrap(), Status::Valid);
        }
        // No id is kept in clear.
        if let Some(dump) = &b.raw {
            let haystack = dump().concat();
            assert!(
                !haystack.windows(50).any(|w| w == &long.as_bytes()[..50]),
                "an id is stored in clear"
            );
        }
    }

    /// Issue 8, item 8: a token whose `exp` is far in the future can be revoked (Redis refused
    /// the expire time before, reported as store_unavailable, and the token stayed valid).
    pub(crate) async fn issue_8_a_far_future_expiry_is_stored<S: RevocationStore>(b: &Backend<S>) {
        let now = b.t0;
        let jti = unique("far");
        for expires_at in [now + 100 * 365 * 86_400, i64::MAX / 2, i64::MAX] {
            let revocation = Revocation::new(Scope::Token, jti.as_str(), now, expires_at);
            let stored = b.store.revoke(&revocation).await.unwrap();
            assert!(stored.expires_at > now + 86_400, "{stored:?}");
            let t = token(&jti, None, "u", "k", now);
            assert!(b.store.check(&t, now).await.unwrap().is_revoked());
        }
    }

    /// Issue 8, item 7: a writer whose clock (or `--now`) is far ahead cannot purge live
    /// entries: purges follow the store's clock.
    pub(crate) async fn issue_8_a_writer_from_the_future_purges_nothing<S: RevocationStore>(
        b: &Backend<S>,
    ) {
        let now = b.t0;
        let jti = unique("live");
        b.store
            .revoke(&Revocation::new(Scope::Token, jti.as_str(), now, now + 900))
            .await
            .unwrap();
        // `revoke --session x --now 4102444800` against the same store.
        b.store
            .revoke(&Revocation::new(
                Scope::Session,
                "x",
                4_102_444_800,
                4_102_444_800 + 900,
            ))
            .await
            .unwrap();
        b.store.purge_expired().await.unwrap();
        let t = token(&jti, None, "u", "k", now);
        assert!(b.store.check(&t, now + 60).await.unwrap().is_revoked());
    }

    /// Issue 8, item 12: a revoker whose clock is behind (or whose `--now` is in the past)
    /// cannot shorten an entry below its lifetime on the store's clock.
    pub(crate) async fn issue_8_an_entry_lives_its_lifetime_on_the_stores_clock<
        S: RevocationStore,
    >(
        b: &Backend<S>,
    ) {
        let store_now = b.store_now();
        let sub = unique("sub");
        let behind = store_now - 3_600;
        let revocation =
            Revocation::new(Scope::User, sub.as_str(), behind, behind + 600).with_lifetime(600);
        let stored = b.store.revoke(&revocation).await.unwrap();
        assert!(
            stored.expires_at >= store_now + 598,
            "{}: {stored:?}",
            b.name
        );
        if let Some(redis) = &b.redis {
            let pttl = (redis.pttl)(&redis.store.entry_key(&revocation.key()));
            assert!((1_190_000..=1_200_000).contains(&pttl), "PTTL {pttl}");
        }
        // Its stamp is the store's clock, whatever the revoker said.
        assert!((stored.stamp - store_now).abs() <= 2, "{stored:?}");
    }

    /// The maximum leeway is a property of the store.
    pub(crate) async fn the_store_records_its_maximum_leeway<S: RevocationStore>(b: &Backend<S>) {
        assert_eq!(b.store.max_leeway(), MAX_LEEWAY, "{}", b.name);
        assert_eq!(b.second.max_leeway(), MAX_LEEWAY);
    }
}

for_each_backend!(
    suite,
    [
        each_scope_revokes_what_it_must_and_nothing_more,
        user_and_global_revoke_tokens_issued_up_to_then_on_either_clock,
        the_most_specific_scope_is_reported,
        entries_live_through_their_last_second,
        an_entry_past_its_expiry_still_answers_a_lagging_verifier,
        re_revoking_keeps_the_later_times,
        a_revocation_is_seen_through_another_instance,
        list_returns_every_live_entry,
        malformed_entries_are_usage_errors,
        issue_8_ids_of_any_length_are_revocable,
        issue_8_a_far_future_expiry_is_stored,
        issue_8_a_writer_from_the_future_purges_nothing,
        issue_8_an_entry_lives_its_lifetime_on_the_stores_clock,
        the_store_records_its_maximum_leeway,
    ]
);

mod opening {
    use super::*;

    #[tokio::test]
    async fn malformed_urls_and_unknown_schemes_are_usage_errors() {
        for url in [
            "",
            "mongodb://db:5432",
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
        let server = RedisServer::start("urls_are_reported_redacted").expect("redis-server");
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

    /// The maximum leeway is recorded when the store is created and never changes: entries
    /// already written were sized with it (the attack review raised it on an existing store
    /// and a revoked token verified again with the larger leeway).
    #[tokio::test]
    async fn the_maximum_leeway_is_set_when_the_store_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.db");
        let sqlite = |q: &str| format!("sqlite:{}{q}", path.display());
        assert_eq!(
            Store::open(&sqlite("?max_leeway=10m"))
                .await
                .unwrap()
                .max_leeway(),
            600
        );
        assert_eq!(Store::open(&sqlite("")).await.unwrap().max_leeway(), 600);
        assert_eq!(
            Store::open(&sqlite("?max_leeway=10m"))
                .await
                .unwrap()
                .max_leeway(),
            600
        );
        for other in ["?max_leeway=1h", "?max_leeway=1m"] {
            let err = Store::open(&sqlite(other)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Usage, "{other}");
            assert!(err.message().contains("set when it was created"), "{err}");
        }
        let fresh = dir.path().join("default.db");
        assert_eq!(
            Store::open(&format!("sqlite:{}", fresh.display()))
                .await
                .unwrap()
                .max_leeway(),
            300
        );

        let server = RedisServer::start("max leeway").expect("redis-server");
        let url = |q: &str| server.url(q);
        assert_eq!(Store::open(&url("")).await.unwrap().max_leeway(), 300);
        let err = Store::open(&url("?max_leeway=15m")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert_eq!(
            Store::open(&url("?max_leeway=5m"))
                .await
                .unwrap()
                .max_leeway(),
            300
        );
        let other = server.url("?prefix=other:&max_leeway=15m");
        assert_eq!(Store::open(&other).await.unwrap().max_leeway(), 900);
        assert_eq!(Store::open(&other).await.unwrap().max_leeway(), 900);
    }
}

/// Upgrades from the version-1 key layout keep every live revocation (issue 8).
mod upgrades {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn issue_8_a_sqlite_file_of_layout_1_keeps_its_revocations() {
        let now = Clock::system().now();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // The schema-2 file the first release wrote, with ids in clear.
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE revocations (scope TEXT NOT NULL, id TEXT NOT NULL, \
                 revoked_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, seq INTEGER NOT NULL, \
                 PRIMARY KEY (scope, id)) WITHOUT ROWID;
                 CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                 INSERT INTO meta VALUES ('schema', 2), ('seq', 2);
                 CREATE TABLE sessions (sid TEXT PRIMARY KEY, sub TEXT NOT NULL, generation INTEGER NOT NULL, \
                 created INTEGER NOT NULL, last_used INTEGER NOT NULL, rotated_at INTEGER NOT NULL, \
                 remember_me INTEGER NOT NULL, refresh_window INTEGER NOT NULL, expires_at INTEGER NOT NULL, \
                 absolute_expires_at INTEGER NOT NULL, claims TEXT NOT NULL, user_agent TEXT, ip TEXT, \
                 hash BLOB NOT NULL, parent_hash BLOB, sealed BLOB NOT NULL, ended_at INTEGER);",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO revocations VALUES ('user', 'alice', ?1, ?2, 1), ('token', 'j-1', ?1, ?2, 2)",
                [now - 10, now + 600],
            )
            .unwrap();
        }
        let store = Store::open(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        assert!(
            store
                .check(&token("x", None, "alice", "k", now - 20), now)
                .await
                .unwrap()
                .is_revoked()
        );
        assert_eq!(
            store
                .check(&token("j-1", None, "bob", "k", now - 20), now)
                .await
                .unwrap(),
            revoked(Scope::Token, now - 10)
        );
        // The old table, ids in clear, is gone.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let old: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'revocations'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn issue_8_a_redis_of_layout_1_keeps_its_revocations() {
        let now = Clock::system().now();
        let server = RedisServer::start("upgrade").expect("redis-server");
        // What the first release wrote with the default prefix `tg:v1:`.
        server.cmd::<()>(
            redis::cmd("SET")
                .arg("tg:v1:{u:alice}")
                .arg(now - 10)
                .arg("EX")
                .arg(600),
        );
        let mut packed = b"tg:v1:J".to_vec();
        let jti = uuid::Uuid::new_v4();
        packed.extend_from_slice(jti.as_bytes());
        server.cmd::<()>(
            redis::cmd("SET")
                .arg(&packed)
                .arg(now - 5)
                .arg("EX")
                .arg(300),
        );
        let store = Store::open(&server.url("")).await.unwrap();
        assert!(
            store
                .check(&token("x", None, "alice", "k", now - 20), now)
                .await
                .unwrap()
                .is_revoked()
        );
        let jti = jti.hyphenated().to_string();
        assert_eq!(
            store
                .check(&token(&jti, None, "bob", "k", now - 20), now)
                .await
                .unwrap(),
            revoked(Scope::Token, now - 5)
        );
        // With its remaining time.
        let Store::Redis(redis) = &store else {
            unreachable!()
        };
        let key = redis.entry_key(&EntryKey::new(own(), Scope::User, "alice"));
        let pttl: i64 = server.cmd(redis::cmd("PTTL").arg(&key));
        // Its remaining 600 s, plus the purge margin (maximum leeway + 5 minutes).
        assert!((1_190_000..=1_200_000).contains(&pttl), "PTTL {pttl}");
        // Once: a second open copies nothing again (a v1 entry added now stays v1).
        server.cmd::<()>(
            redis::cmd("SET")
                .arg("tg:v1:{u:carol}")
                .arg(now)
                .arg("EX")
                .arg(600),
        );
        let again = Store::open(&server.url("")).await.unwrap();
        assert_eq!(
            again
                .check(&token("x", None, "carol", "k", now - 20), now)
                .await
                .unwrap(),
            Status::Valid
        );
        // The copied keys (ids in clear) are gone; carol's, added after the upgrade, stays.
        let left: Vec<Vec<u8>> = server.cmd(redis::cmd("KEYS").arg("tg:v1:*"));
        assert_eq!(left, [b"tg:v1:{u:carol}".to_vec()]);
        // A user entry's stamp is its revocation time, the only time version 1 recorded: a
        // session created after it (its tokens' auth_time) is not covered by it.
        let after = TokenRef {
            auth_time: Some(now - 5),
            ..token("y", Some("s"), "alice", "k", now - 5)
        };
        assert_eq!(store.check(&after, now).await.unwrap(), Status::Valid);
        let before = TokenRef {
            auth_time: Some(now - 11),
            ..token("y", Some("s"), "alice", "k", now - 11)
        };
        assert!(store.check(&before, now).await.unwrap().is_revoked());
    }

    /// Version 1 with `?prefix=tg:` given explicitly kept its keys under `tg:` itself (the
    /// attack review: the upgrade looked under `tg:v1:`, the default, and missed them all).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn issue_8_a_redis_of_layout_1_with_an_explicit_prefix_keeps_its_revocations() {
        let now = Clock::system().now();
        let server = RedisServer::start("upgrade-prefix").expect("redis-server");
        for (key, ttl) in [
            ("tg:{u:bob}", 600),
            ("tg:k:old-key", 300),
            ("tg:{s:s-1}", 300),
        ] {
            server.cmd::<()>(redis::cmd("SET").arg(key).arg(now - 10).arg("EX").arg(ttl));
        }
        let store = Store::open(&server.url("?prefix=tg:")).await.unwrap();
        for (t, scope) in [
            (token("x", None, "bob", "k", now - 20), Scope::User),
            (token("x", None, "u", "old-key", now - 20), Scope::Key),
            (token("x", Some("s-1"), "u", "k", now - 20), Scope::Session),
        ] {
            assert_eq!(
                store.check(&t, now).await.unwrap(),
                revoked(scope, now - 10),
                "{scope}"
            );
        }
        let left: Vec<Vec<u8>> = server.cmd(redis::cmd("KEYS").arg("tg:{*"));
        assert!(left.is_empty(), "{left:?}");
    }
}

/// Redis outages: fail closed while down, recover by itself.
mod redis_faults {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    fn t(jti: &str, now: i64) -> TokenRef<'_> {
        token(jti, Some("s"), "u", "k", now - 10)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_during_an_outage_fail_closed_and_service_resumes() {
        let now = Clock::system().now();
        let mut server = RedisServer::start("outage").expect("redis-server");
        let url = server.url("?timeout=300ms");
        let store = Arc::new(Store::open(&url).await.unwrap());
        let revocation = Revocation::new(Scope::Token, "gone", now, now + 600);
        store.revoke(&revocation).await.unwrap();
        assert!(
            store
                .check(&t("gone", now), now)
                .await
                .unwrap()
                .is_revoked()
        );

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
                    let result = store.check(&t("gone", now), now).await;
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
        for _ in 0..5 {
            let err = store.check(&t("gone", now), now).await.unwrap_err();
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
            store.check(&t("gone", now), now).await.ok()
        })
        .await;
        store.revoke(&revocation).await.unwrap();
        assert!(
            store
                .check(&t("gone", now), now)
                .await
                .unwrap()
                .is_revoked()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_resyncs_after_an_outage_and_sees_what_was_revoked_meanwhile() {
        let now = Clock::system().now();
        let mut server = RedisServer::start("replica outage").expect("redis-server");
        let url = server.url("?timeout=300ms");
        let replica = Replica::start(
            Store::open(&url).await.unwrap(),
            replica_config(Clock::System),
        )
        .unwrap();
        assert!(replica.wait_fresh(PATIENCE).await);
        assert_eq!(
            replica.check(&t("late", now), now).await.unwrap(),
            Status::Valid
        );

        server.stop();
        eventually("the replica to turn stale", PATIENCE, || async {
            (!replica.is_fresh()).then_some(())
        })
        .await;
        // Stale and the store is down: fail closed.
        let err = replica.check(&t("late", now), now).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
        assert!(replica.freshness().strict_checks >= 1);

        server.restart();
        let other = Store::open(&url).await.unwrap();
        let revocation = Revocation::new(Scope::Token, "late", now, now + 600);
        other.revoke(&revocation).await.unwrap();
        eventually("the replica to reject the token", PATIENCE, || async {
            matches!(replica.check(&t("late", now), now).await, Ok(s) if s.is_revoked())
                .then_some(())
        })
        .await;
        assert!(replica.wait_fresh(PATIENCE).await);
        assert_eq!(
            replica.check_local(&t("late", now), now),
            Some(revoked(Scope::Token, now))
        );
        assert!(replica.freshness().loads >= 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_whose_subscription_is_killed_reloads_what_it_missed() {
        let now = Clock::system().now();
        let server = RedisServer::start("killed subscription").expect("redis-server");
        let url = server.url("?timeout=500ms");
        let replica = Replica::start(
            Store::open(&url).await.unwrap(),
            replica_config(Clock::System),
        )
        .unwrap();
        assert!(replica.wait_fresh(PATIENCE).await);
        let loads = replica.freshness().loads;

        // A write whose notification is lost (a raw SET, no PUBLISH): the replica misses it.
        let Store::Redis(redis_store) = replica.store() else {
            unreachable!()
        };
        let key = redis_store.entry_key(&EntryKey::new(own(), Scope::Session, "s"));
        // (The value is `revoked_at:stamp:expires_at`, the layout's.)
        server.cmd::<()>(
            redis::cmd("SET")
                .arg(&key)
                .arg(format!("{now}:{now}:{}", now + 600))
                .arg("EX")
                .arg(600),
        );
        let any = t("any", now);
        assert_eq!(replica.check_local(&any, now), Some(Status::Valid));

        // Killing its subscription makes it resubscribe and reload, which brings the entry.
        let killed: i64 = server.cmd(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"));
        assert_eq!(killed, 1);
        eventually("the reload to bring the missed entry", PATIENCE, || async {
            replica
                .check_local(&any, now)
                .filter(Status::is_revoked)
                .map(|_| ())
        })
        .await;
        assert!(replica.freshness().loads > loads);
        assert_eq!(
            replica.check_local(&any, now),
            Some(revoked(Scope::Session, now))
        );
    }

    /// Issue 8, item 13: a notification lost while the subscription stays up is repaired by
    /// the replica's periodic resync, within one resync interval.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn issue_8_a_lost_notification_is_repaired_within_the_resync_interval() {
        let now = Clock::system().now();
        let server = RedisServer::start("lost message").expect("redis-server");
        let url = server.url("?timeout=500ms");
        let config = replica_config(Clock::System).with_resync_interval(Duration::from_millis(300));
        let replica = Replica::start(Store::open(&url).await.unwrap(), config).unwrap();
        assert!(replica.wait_fresh(PATIENCE).await);
        let loads = replica.freshness().loads;
        let Store::Redis(redis_store) = replica.store() else {
            unreachable!()
        };
        let key = redis_store.entry_key(&EntryKey::new(own(), Scope::Session, "s"));
        // (The value is `revoked_at:stamp:expires_at`, the layout's.)
        server.cmd::<()>(
            redis::cmd("SET")
                .arg(&key)
                .arg(format!("{now}:{now}:{}", now + 600))
                .arg("EX")
                .arg(600),
        );
        let any = t("any", now);
        eventually("the resync to bring the lost entry", PATIENCE, || async {
            replica
                .check_local(&any, now)
                .filter(Status::is_revoked)
                .map(|_| ())
        })
        .await;
        let freshness = replica.freshness();
        assert_eq!(
            freshness.loads, loads,
            "no reload: the subscription stayed up"
        );
        assert!(freshness.resyncs >= 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_open_is_an_explicit_counted_opt_in() {
        use tollgate::store::{FailMode, FailOpen};
        let now = Clock::system().now();
        let mut server = RedisServer::start("fail open").expect("redis-server");
        let url = server.url("?timeout=300ms");
        let closed = Store::open(&url).await.unwrap();
        let open = FailOpen::new(Store::open(&url).await.unwrap());
        let replica = Replica::start(
            Store::open(&url).await.unwrap(),
            replica_config(Clock::System).with_fail_mode(FailMode::Open),
        )
        .unwrap();
        assert!(replica.wait_fresh(PATIENCE).await);
        server.stop();

        let err = closed.check(&t("x", now), now).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
        assert_eq!(open.check(&t("x", now), now).await.unwrap(), Status::Valid);
        assert_eq!(open.fail_open_count(), 1);
        // The revocation itself still reports the outage.
        let revocation = Revocation::new(Scope::Token, "x", now, now + 60);
        assert_eq!(
            open.revoke(&revocation).await.unwrap_err().kind(),
            ErrorKind::StoreUnavailable
        );
        eventually("the replica to turn stale", PATIENCE, || async {
            (!replica.is_fresh()).then_some(())
        })
        .await;
        assert_eq!(
            replica.check(&t("x", now), now).await.unwrap(),
            Status::Valid
        );
        assert!(replica.freshness().fail_open_checks >= 1);
    }
}

/// SQLite shared by independent handles (as by several processes).
mod sqlite_sharing {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_on_one_file_lose_nothing() {
        let now = Clock::system().now();
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
                        let revocation = Revocation::new(Scope::Token, id, now, now + 600);
                        store.revoke(&revocation).await.unwrap();
                    }
                }));
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(a.list().await.unwrap().len(), 400);
        assert_eq!(b.list().await.unwrap().len(), 400);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_polls_changes_made_through_another_handle() {
        let now = Clock::system().now();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("poll.db").display());
        let writer = Store::open(&url).await.unwrap();
        let early = Revocation::new(Scope::Key, "k-old", now, now + 600);
        writer.revoke(&early).await.unwrap();

        let replica = Replica::start(
            Store::open(&url).await.unwrap(),
            replica_config(Clock::System),
        )
        .unwrap();
        assert!(replica.wait_fresh(PATIENCE).await);
        let t = token("j", None, "u", "k-old", now);
        assert!(replica.check_local(&t, now).unwrap().is_revoked());

        for i in 0..20 {
            let revocation = Revocation::new(Scope::User, format!("user-{i}"), now, now + 600);
            writer.revoke(&revocation).await.unwrap();
        }
        let last = TokenRef {
            sub: "user-19",
            kid: "k",
            ..t
        };
        eventually("the replica to poll the change", PATIENCE, || async {
            replica
                .check_local(&last, now)
                .filter(Status::is_revoked)
                .map(|_| ())
        })
        .await;
        assert_eq!(replica.len(), 21);
    }
}

/// A Redis that may evict keys would drop live revocations under memory pressure (every entry
/// has a TTL): the store refuses to open on it (the attack review filled a shared Redis and
/// 46,441 entries were evicted; revoked tokens verified again).
#[tokio::test]
async fn a_redis_that_evicts_keys_is_refused() {
    if !common::redis::redis_available("eviction") {
        return;
    }
    let port = common::redis::free_port();
    let server = RedisServer::start_with(
        port,
        vec!["--maxmemory-policy".into(), "volatile-ttl".into()],
    );
    let err = Store::open(&server.url("")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
    assert!(err.message().contains("volatile-ttl"), "{err}");
    assert!(err.message().contains("noeviction"), "{err}");
    server.cmd::<()>(
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg("noeviction"),
    );
    Store::open(&server.url("")).await.unwrap();
}
