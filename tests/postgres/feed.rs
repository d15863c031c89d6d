//! The change feed and a replica over `LISTEN/NOTIFY` and the change sequence.

use std::time::{Duration, Instant};

use tollgate::Clock;
use tollgate::store::{
    ChangeFeed, Entry, EntryKey, PostgresStore, Replica, ReplicaConfig, Revocation,
    RevocationStore, Scope,
};

use crate::common::postgres::PgServer;
use crate::{OWN, db_of, revoked_through_the_replica, token};

#[tokio::test]
async fn a_replica_follows_revocations_and_repairs_lost_notifications() {
    let server = PgServer::shared();
    let url = server.database("replica", "");
    let db = db_of(&url).to_owned();
    let writer = PostgresStore::open(&url).await.unwrap();
    let follower = PostgresStore::open(&url).await.unwrap();
    // A long poll interval: a prompt answer can only have come by notification.
    let config = ReplicaConfig::default()
        .with_poll_interval(Duration::from_secs(5))
        .with_max_staleness(Duration::from_secs(30))
        .with_resync_interval(Duration::from_millis(300));
    let replica = Replica::start(follower, config).unwrap();
    assert!(replica.wait_fresh(Duration::from_secs(10)).await);
    let now = Clock::System.now();

    let t1 = token("notified", None, "u", now);
    let started = Instant::now();
    writer
        .revoke(&Revocation::new(Scope::Token, "notified", now, now + 900))
        .await
        .unwrap();
    revoked_through_the_replica(&replica, &t1, now).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "came by notification, not the 5 s poll"
    );

    // A row written behind the store's back (no NOTIFY, an old sequence number, as if its
    // notification and its poll had both been missed): the periodic resync brings it in.
    let lost = EntryKey::new(&OWN, Scope::Token, "lost");
    let hex: String = lost.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    server.psql(
        &db,
        &format!(
            "INSERT INTO tollgate_entries (key, revoked_at, stamp, expires_at, seq) \
             VALUES ('\\x{hex}'::bytea, {now}, {now}, {}, 0)",
            now + 900
        ),
    );
    let t2 = token("lost", None, "u", now);
    revoked_through_the_replica(&replica, &t2, now).await;
    assert!(replica.freshness().resyncs >= 1);
    assert!(replica.is_fresh());
}

#[tokio::test]
async fn the_feed_polls_the_sequence_at_each_heartbeat() {
    let server = PgServer::shared();
    let url = server.database("feed", "");
    let db = db_of(&url).to_owned();
    let store = PostgresStore::open(&url).await.unwrap();
    let mut feed = store.subscribe(Duration::from_millis(50)).await.unwrap();
    assert_eq!(
        feed.next().await.unwrap().unwrap(),
        tollgate::store::Change::Heartbeat
    );

    // Notified: arrives as written.
    let now = Clock::System.now();
    let written = store
        .revoke(&Revocation::new(Scope::Session, "s", now, now + 60))
        .await
        .unwrap();
    let change = next_revoked(&mut feed).await;
    assert_eq!(change, written);

    // Not notified, but with the next sequence number: the next poll finds it.
    let key = EntryKey::new(&OWN, Scope::Key, "silent");
    let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    server.psql(
        &db,
        &format!(
            "WITH s AS (UPDATE tollgate_meta SET value = value + 1 WHERE name = 'seq' \
             RETURNING value) \
             INSERT INTO tollgate_entries (key, revoked_at, stamp, expires_at, seq) \
             SELECT '\\x{hex}'::bytea, {now}, {now}, {}, value FROM s",
            now + 60
        ),
    );
    let polled = next_revoked(&mut feed).await;
    assert_eq!(polled.key, key);
    // Each change once: the notified entry is not yielded again by the poll.
    for _ in 0..3 {
        assert_eq!(
            feed.next().await.unwrap().unwrap(),
            tollgate::store::Change::Heartbeat
        );
    }
}

async fn next_revoked(feed: &mut tollgate::store::Subscription) -> Entry {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match feed.next().await.expect("feed ended").expect("feed failed") {
                tollgate::store::Change::Revoked(entry) => return entry,
                _ => continue,
            }
        }
    })
    .await
    .expect("no change within 10 s")
}
