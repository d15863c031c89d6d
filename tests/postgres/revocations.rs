//! The revocation contract: scopes, merging, coverage, the store's clock, purges, the
//! maximum leeway, what the tables hold, URLs.

use tollgate::store::{
    EntryKey, PostgresStore, Revocation, RevocationStore, Scope, Status, Store, StoreClock,
    TokenRef,
};
use tollgate::{Clock, ErrorKind};

use crate::common::now;
use crate::common::postgres::PgServer;
use crate::{OWN, db_of, id_of, store_with, token};

#[tokio::test]
async fn revoke_merges_and_lookup_finds_every_scope() {
    let clock = StoreClock::manual(now());
    let (_, store) = store_with("scopes", "", &clock).await;
    for scope in Scope::ALL {
        let entry = store
            .revoke(&Revocation::new(scope, id_of(scope), now(), now() + 900))
            .await
            .unwrap();
        assert_eq!(entry.key, EntryKey::new(&OWN, scope, &id_of(scope)));
        assert_eq!(
            (entry.revoked_at, entry.stamp, entry.expires_at),
            (now(), now(), now() + 900)
        );
    }
    let t = TokenRef {
        kid: "key-id",
        ..token("token-id", Some("session-id"), "user-id", now() - 10)
    };
    let found = store.lookup(&t, now()).await.unwrap();
    for scope in Scope::ALL {
        let entry = found[scope as usize].unwrap_or_else(|| panic!("{scope} not found"));
        assert_eq!(entry.key.scope(), scope);
    }
    assert_eq!(
        store.check(&t, now()).await.unwrap(),
        Status::Revoked {
            scope: Scope::Token,
            revoked_at: now()
        }
    );

    // Re-revoking keeps the later times, on the store's clock.
    clock.advance(10);
    let merged = store
        .revoke(&Revocation::new(
            Scope::Token,
            "token-id",
            now() - 100,
            now() + 2_000,
        ))
        .await
        .unwrap();
    assert_eq!(
        (merged.revoked_at, merged.stamp, merged.expires_at),
        (now(), now() + 10, now() + 2_000)
    );
    let shorter = store
        .revoke(&Revocation::new(
            Scope::Token,
            "token-id",
            now() + 5,
            now() + 50,
        ))
        .await
        .unwrap();
    assert_eq!(
        (shorter.revoked_at, shorter.expires_at),
        (now() + 5, now() + 2_000)
    );

    // A 600-byte id is revocable: only its digest is stored.
    let long = "s".repeat(600);
    store
        .revoke(&Revocation::new(
            Scope::Session,
            long.as_str(),
            now(),
            now() + 900,
        ))
        .await
        .unwrap();
    let found = store
        .lookup(&token("j", Some(&long), "u", now()), now())
        .await
        .unwrap();
    assert!(found[Scope::Session as usize].is_some());
    assert!(found[Scope::Token as usize].is_none());

    // `now` of a lookup is the verifier's: expired entries are not returned.
    let later = store.lookup(&t, now() + 900).await.unwrap();
    assert!(later[Scope::Token as usize].is_some());
    assert!(later[Scope::Session as usize].is_none());
    assert_eq!(store.lookup(&t, now() + 2_000).await.unwrap(), [None; 5]);

    for bad in [
        Revocation::new(Scope::Global, "x", now(), now() + 1),
        Revocation::new(Scope::Token, "", now(), now() + 1),
        Revocation::new(
            Scope::Token,
            "x".repeat(tollgate::store::MAX_ID_LEN + 1),
            now(),
            now() + 1,
        ),
    ] {
        assert_eq!(
            store.revoke(&bad).await.unwrap_err().kind(),
            ErrorKind::Usage
        );
    }
}

#[tokio::test]
async fn user_and_global_entries_cover_by_the_one_rule() {
    let clock = StoreClock::manual(now());
    let (_, store) = store_with("covers", "", &clock).await;
    assert_eq!(store.max_leeway(), 300);
    store
        .revoke(&Revocation::new(Scope::User, "alice", now(), now() + 900))
        .await
        .unwrap();
    // An issuer up to the maximum leeway fast is still covered; later tokens are not.
    let at = |iat| token("j", None, "alice", iat);
    assert!(
        store
            .check(&at(now() + 300), now())
            .await
            .unwrap()
            .is_revoked()
    );
    assert!(
        !store
            .check(&at(now() + 301), now())
            .await
            .unwrap()
            .is_revoked()
    );
    assert!(
        !store
            .check(&token("j", None, "bob", now()), now())
            .await
            .unwrap()
            .is_revoked()
    );
    // A session token is judged by its session's creation against the entry's stamp, both on
    // the store's clock, whatever its iat.
    let session = |auth_time| TokenRef {
        auth_time: Some(auth_time),
        ..at(now() - 1_000)
    };
    assert!(
        store
            .check(&session(now()), now())
            .await
            .unwrap()
            .is_revoked()
    );
    assert!(
        !store
            .check(&session(now() + 1), now())
            .await
            .unwrap()
            .is_revoked()
    );

    clock.advance(1_000);
    store
        .revoke(&Revocation::new(
            Scope::Global,
            "",
            now() + 1_000,
            now() + 2_000,
        ))
        .await
        .unwrap();
    let everyone = token("j2", None, "carol", now() + 1_000);
    assert_eq!(
        store.check(&everyone, now() + 1_000).await.unwrap(),
        Status::Revoked {
            scope: Scope::Global,
            revoked_at: now() + 1_000
        }
    );
}

#[tokio::test]
async fn entries_expire_and_are_purged_on_the_store_clock() {
    let clock = StoreClock::manual(now());
    let (url, store) = store_with("expiry", "", &clock).await;
    // The store keeps it for its lifetime on its own clock, past the revoker's expires_at.
    let entry = store
        .revoke(&Revocation::new(Scope::Token, "j", now(), now() + 10).with_lifetime(100))
        .await
        .unwrap();
    assert_eq!(entry.expires_at, now() + 100);
    assert_eq!(store.list().await.unwrap(), vec![entry]);
    clock.advance(100);
    assert!(
        store.list().await.unwrap().is_empty(),
        "list follows the store's clock"
    );
    // Purging waits for the maximum leeway plus 5 minutes after expiry.
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    clock.advance(599);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    clock.advance(1);
    assert_eq!(store.purge_expired().await.unwrap(), 1);
    let db = db_of(&url);
    assert_eq!(
        PgServer::shared().psql(db, "SELECT count(*) FROM tollgate_entries"),
        "0"
    );

    // An expired leftover is replaced, not merged.
    let now = clock.now();
    store
        .revoke(&Revocation::new(Scope::Key, "k", now, now + 10))
        .await
        .unwrap();
    clock.advance(20);
    let replaced = store
        .revoke(&Revocation::new(Scope::Key, "k", now - 50, now + 5).with_lifetime(30))
        .await
        .unwrap();
    assert_eq!(
        (replaced.revoked_at, replaced.stamp, replaced.expires_at),
        (now - 50, now + 20, now + 50)
    );
}

#[tokio::test]
async fn without_an_injected_clock_the_server_clock_decides() {
    let url = PgServer::shared().database("server_clock", "");
    let store = PostgresStore::open(&url).await.unwrap();
    let before = Clock::System.now();
    // A revoker whose clock is far in the past: the entry still lives `lifetime` on the
    // server's clock.
    let entry = store
        .revoke(&Revocation::new(Scope::Token, "j", 1_000, 1_100).with_lifetime(60))
        .await
        .unwrap();
    let after = Clock::System.now();
    assert!(before <= entry.stamp && entry.stamp <= after, "{entry:?}");
    assert!(entry.expires_at >= before + 60 && entry.expires_at <= after + 60);
    assert_eq!(entry.revoked_at, 1_000);
    assert_eq!(store.list().await.unwrap(), vec![entry]);
}

#[tokio::test]
async fn max_leeway_is_set_when_the_store_is_created() {
    let server = PgServer::shared();
    let url = server.database("leeway", "?max_leeway=20m");
    let db = db_of(&url).to_owned();
    let open = |query: &str| {
        let url = server.url(&db, query);
        async move { Store::open(&url).await }
    };
    assert_eq!(open("?max_leeway=20m").await.unwrap().max_leeway(), 1_200);
    assert_eq!(open("").await.unwrap().max_leeway(), 1_200);
    for other in ["?max_leeway=1h", "?max_leeway=1m"] {
        assert_eq!(
            open(other).await.unwrap_err().kind(),
            tollgate::ErrorKind::Usage,
            "{other}"
        );
    }
    assert_eq!(
        server.psql(
            &db,
            "SELECT value FROM tollgate_meta WHERE name = 'max_leeway'"
        ),
        "1200"
    );
}

#[tokio::test]
async fn no_id_is_kept_in_clear_in_the_entries() {
    let server = PgServer::shared();
    let clock = StoreClock::manual(now());
    let (url, store) = store_with("no_clear_ids", "", &clock).await;
    let db = db_of(&url).to_owned();
    let ids = [
        (Scope::Token, "jti-7f3e9a1c"),
        (Scope::Session, "sid-5b2d8e40"),
        (Scope::User, "alice-3c9f@example.com"),
        (Scope::Key, "kid-a1b2c3d4"),
    ];
    for (scope, id) in ids {
        store
            .revoke(&Revocation::new(scope, id, now(), now() + 900))
            .await
            .unwrap();
    }
    store
        .revoke(&Revocation::new(Scope::Global, "", now(), now() + 900))
        .await
        .unwrap();
    // Every column of every row of the tables a revocation writes, as text and as hex.
    let dump = server.psql(
        &db,
        "SELECT row_to_json(e)::text FROM tollgate_entries e \
         UNION ALL SELECT row_to_json(m)::text FROM tollgate_meta m",
    );
    for (_, id) in ids {
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.contains(id), "{id} in clear:\n{dump}");
        assert!(!dump.to_lowercase().contains(&hex), "{id} as hex:\n{dump}");
    }
    // The digest layout: 17 bytes, a scope letter then 16 bytes of digest.
    let keys = server.psql(
        &db,
        "SELECT encode(key, 'hex') FROM tollgate_entries ORDER BY key",
    );
    let mut found: Vec<String> = keys.lines().map(str::to_owned).collect();
    let mut expected: Vec<String> = ids
        .iter()
        .map(|(scope, id)| EntryKey::new(&OWN, *scope, id))
        .chain([EntryKey::new(&OWN, Scope::Global, "")])
        .map(|k| k.to_bytes().iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    assert!(found.iter().all(|k| k.len() == 34));
    // Nor in any other table but the sessions' (whose `sub` is sealed by a later change).
    let tables = server.psql(
        &db,
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables \
         WHERE table_schema = 'public'",
    );
    assert_eq!(tables, "tollgate_entries,tollgate_meta,tollgate_sessions");
    assert_eq!(
        server.psql(&db, "SELECT count(*) FROM tollgate_sessions"),
        "0"
    );
}

#[tokio::test]
async fn urls_open_the_store_and_never_show_the_password() {
    let server = PgServer::shared();
    let url = server.database("urls", "?timeout=2s&pool=2");
    let store = Store::open(&url.replace("postgres://", "postgresql://"))
        .await
        .unwrap();
    assert!(store.url().starts_with("postgres://tollgate@127.0.0.1:"));
    let db = db_of(&url).to_owned();
    // A password (trust ignores it) is redacted everywhere.
    let with_password = format!(
        "postgres://tollgate:hunter2@127.0.0.1:{}/{db}",
        server.port()
    );
    let store = Store::open(&with_password).await.unwrap();
    assert!(store.url().contains(":***@") && !store.url().contains("hunter2"));
    assert!(!format!("{store:?}").contains("hunter2"));
    // A missing database answers, and refuses.
    let err = Store::open(&format!(
        "postgres://tollgate:hunter2@127.0.0.1:{}/no_such_db",
        server.port()
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().contains("3D000"), "{err}");
    let err = Store::open("postgres://127.0.0.1/db").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
}

#[tokio::test]
async fn writes_work_where_the_database_turns_synchronous_commit_off() {
    let server = PgServer::shared();
    let url = server.database("async_commit", "");
    let db = db_of(&url).to_owned();
    server.psql(
        "postgres",
        &format!("ALTER DATABASE {db} SET synchronous_commit = off"),
    );
    let store = PostgresStore::open(&url).await.unwrap();
    let now = Clock::System.now();
    let entry = store
        .revoke(&Revocation::new(Scope::Token, "durable", now, now + 60))
        .await
        .unwrap();
    assert_eq!(store.list().await.unwrap(), vec![entry]);
}
