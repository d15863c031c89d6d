//! A server that stops: every operation fails closed, and the same store serves again.

use std::time::Duration;

use tollgate::store::{
    ChangeFeed, PostgresStore, Replica, ReplicaConfig, Revocation, RevocationStore, Scope,
    SessionStore, Store,
};
use tollgate::{Clock, ErrorKind};

use crate::common::postgres::PgServer;
use crate::common::{eventually, now};
use crate::{new_session, revoked_through_the_replica, rotation, sid, token};

/// Every verb of both traits and the feed, on a store whose server is down.
async fn assert_every_operation_fails_closed(store: &PostgresStore) {
    let t = token("j", Some("s"), "u", now());
    let s = sid(50);
    let expect = |what: &str, kind: Option<ErrorKind>| {
        assert_eq!(kind, Some(ErrorKind::StoreUnavailable), "{what}");
    };
    let rev = Revocation::new(Scope::Token, "j", now(), now() + 60);
    expect("revoke", store.revoke(&rev).await.err().map(|e| e.kind()));
    expect(
        "lookup",
        store.lookup(&t, now()).await.err().map(|e| e.kind()),
    );
    expect(
        "check",
        store.check(&t, now()).await.err().map(|e| e.kind()),
    );
    expect("list", store.list().await.err().map(|e| e.kind()));
    expect("purge", store.purge_expired().await.err().map(|e| e.kind()));
    expect(
        "create",
        store
            .create_session(&new_session(&s, "u", 1))
            .await
            .err()
            .map(|e| e.kind()),
    );
    expect(
        "rotate",
        store
            .rotate_session(&rotation(&s, 1, 1, 2, 10, now()))
            .await
            .err()
            .map(|e| e.kind()),
    );
    expect(
        "undelivered",
        store
            .mark_undelivered(&s, 1, true)
            .await
            .err()
            .map(|e| e.kind()),
    );
    expect("session", store.session(&s).await.err().map(|e| e.kind()));
    expect(
        "user_sessions",
        store.user_sessions("u").await.err().map(|e| e.kind()),
    );
    expect(
        "end",
        store.end_session(&s, None).await.err().map(|e| e.kind()),
    );
    let user = Revocation::new(Scope::User, "u", now(), now() + 60);
    expect(
        "revoke_user",
        store.revoke_user(&user).await.err().map(|e| e.kind()),
    );
    expect(
        "end_user_sessions",
        store
            .end_user_sessions("u", None)
            .await
            .err()
            .map(|e| e.kind()),
    );
    expect(
        "purge_sessions",
        store.purge_sessions().await.err().map(|e| e.kind()),
    );
    expect(
        "subscribe",
        store
            .subscribe(Duration::from_millis(50))
            .await
            .err()
            .map(|e| e.kind()),
    );
}

#[tokio::test]
async fn a_store_down_fails_closed_and_recovers_without_reopening() {
    let mut server = PgServer::start();
    let url = server.database("outage", "?timeout=500ms");
    let store = PostgresStore::open(&url).await.unwrap();
    let now = Clock::System.now();
    store
        .revoke(&Revocation::new(Scope::Token, "before", now, now + 900))
        .await
        .unwrap();
    let replica = Replica::start(
        store.clone(),
        ReplicaConfig::default()
            .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(200)),
    )
    .unwrap();
    assert!(replica.wait_fresh(Duration::from_secs(10)).await);
    let mut feed = store.subscribe(Duration::from_millis(50)).await.unwrap();

    server.stop();
    assert_every_operation_fails_closed(&store).await;
    // The feed reports the outage rather than going quiet.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match feed.next().await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Some(e.kind()),
                None => return None,
            }
        }
    })
    .await
    .expect("the feed noticed within 5 s");
    assert_eq!(ended, Some(ErrorKind::StoreUnavailable));
    // The replica turns strict, and strict checks fail closed.
    eventually(
        "the replica to turn stale",
        Duration::from_secs(10),
        || async { (!replica.is_fresh()).then_some(()) },
    )
    .await;
    let t = token("before", None, "u", now);
    assert_eq!(
        replica.check(&t, now).await.unwrap_err().kind(),
        ErrorKind::StoreUnavailable
    );
    assert_eq!(
        Store::open(&url).await.unwrap_err().kind(),
        ErrorKind::StoreUnavailable
    );

    server.start_again();
    // The same store serves again once its pool has reconnected.
    let status = eventually(
        "the store to answer again",
        Duration::from_secs(10),
        || async {
            match store.check(&t, now).await {
                Ok(status) => Some(status),
                Err(e) => {
                    eprintln!("after restart: {e}");
                    None
                }
            }
        },
    )
    .await;
    assert!(status.is_revoked(), "the revocation survived the restart");
    store
        .revoke(&Revocation::new(Scope::Token, "after", now, now + 900))
        .await
        .unwrap();
    assert!(replica.wait_fresh(Duration::from_secs(10)).await);
    revoked_through_the_replica(&replica, &token("after", None, "u", now), now).await;
    drop(replica);
    drop(server);
}
