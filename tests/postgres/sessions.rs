//! Sessions: creation, rotation, the grace window, reuse and ends (the two-process race is in tests/session_race.rs).

use tollgate::ErrorKind;
use tollgate::store::{
    Ended, Revocation, RevocationStore, RotateOutcome, Scope, SessionStore, StoreClock, TokenRef,
};

use crate::common::now;
use crate::{new_session, rotation, sid, store_with, token};

#[tokio::test]
async fn sessions_rotate_replay_within_grace_and_end_on_reuse() {
    let clock = StoreClock::manual(now());
    let (_, store) = store_with("rotate", "", &clock).await;
    let s = sid(1);
    let created = store
        .create_session(&new_session(&s, "alice", 1))
        .await
        .unwrap();
    assert_eq!((created.created, created.generation), (now(), 1));
    assert_eq!(created.expires_at, now() + 3_600);
    assert_eq!(store.session(&s).await.unwrap(), Some(created.clone()));

    clock.advance(5);
    let RotateOutcome::Rotated(rotated) = store
        .rotate_session(&rotation(&s, 1, 1, 2, 10, now() + 5))
        .await
        .unwrap()
    else {
        panic!("not rotated")
    };
    assert_eq!((rotated.generation, rotated.rotated_at), (2, now() + 5));
    assert_eq!(rotated.expires_at, now() + 5 + 3_600);
    assert_eq!(rotated.sealed, vec![2; 60]);
    assert_eq!(store.session(&s).await.unwrap(), Some(rotated.clone()));

    // The parent within the grace window (store clock): the same successor, nothing changes.
    clock.advance(10);
    assert_eq!(
        store
            .rotate_session(&rotation(&s, 1, 1, 3, 10, now() + 15))
            .await
            .unwrap(),
        RotateOutcome::Grace(rotated.clone())
    );
    // After it: theft. The session ends and its entry is written in the same transaction,
    // sized by the latest access token the session issued.
    clock.advance(1);
    let RotateOutcome::Reused(ended) = store
        .rotate_session(&rotation(&s, 1, 1, 3, 10, now() + 16))
        .await
        .unwrap()
    else {
        panic!("not reuse")
    };
    assert_eq!(ended.ended_at, Some(now() + 16));
    let access = TokenRef {
        sid: Some(&s),
        ..token("j", None, "alice", now() + 5)
    };
    let found = store.lookup(&access, now() + 16).await.unwrap();
    let entry = found[Scope::Session as usize].expect("session entry");
    assert_eq!(entry.stamp, now() + 16);
    assert_eq!(
        entry.expires_at,
        rotated.access_exp + store.max_leeway() + 1
    );
    assert_eq!(
        rotated.access_exp,
        now() + 5 + 900,
        "a rotation records its access token's exp (Rotation::apply)"
    );
    // The current token is dead too.
    assert_eq!(
        store
            .rotate_session(&rotation(&s, 2, 2, 4, 10, now() + 17))
            .await
            .unwrap(),
        RotateOutcome::Unknown
    );
    assert_eq!(
        store
            .rotate_session(&rotation(&sid(999), 1, 1, 2, 10, now()))
            .await
            .unwrap(),
        RotateOutcome::Unknown
    );
}

#[tokio::test]
async fn an_undelivered_answer_is_replayed_to_its_parent() {
    let clock = StoreClock::manual(now());
    let (_, store) = store_with("undelivered", "", &clock).await;
    let s = sid(2);
    store
        .create_session(&new_session(&s, "alice", 1))
        .await
        .unwrap();
    let RotateOutcome::Rotated(_) = store
        .rotate_session(&rotation(&s, 1, 1, 2, 0, now()))
        .await
        .unwrap()
    else {
        panic!("not rotated")
    };
    // A mark for another generation does nothing.
    store.mark_undelivered(&s, 1, true).await.unwrap();
    assert_eq!(store.session(&s).await.unwrap().unwrap().undelivered, None);
    store.mark_undelivered(&s, 2, true).await.unwrap();
    assert_eq!(
        store.session(&s).await.unwrap().unwrap().undelivered,
        Some(2)
    );
    clock.advance(1_000);
    assert!(matches!(
        store
            .rotate_session(&rotation(&s, 1, 1, 3, 0, now() + 1_000))
            .await
            .unwrap(),
        RotateOutcome::Grace(_)
    ));
}

#[tokio::test]
async fn ending_sessions_reports_now_already_and_missing() {
    let clock = StoreClock::manual(now());
    let (_, store) = store_with("end", "", &clock).await;
    let s = sid(3);
    store
        .create_session(&new_session(&s, "alice", 1))
        .await
        .unwrap();
    assert_eq!(
        store.end_session(&s, Some("mallory")).await.unwrap(),
        Ended::Missing,
        "another owner's session"
    );
    assert_eq!(
        store.end_session(&sid(998), None).await.unwrap(),
        Ended::Missing
    );
    clock.advance(3);
    let Ended::Now(record) = store.end_session(&s, Some("alice")).await.unwrap() else {
        panic!("not ended now")
    };
    assert_eq!(record.ended_at, Some(now() + 3));
    let Ended::Already(again) = store.end_session(&s, None).await.unwrap() else {
        panic!("not already ended")
    };
    assert_eq!(again.ended_at, Some(now() + 3));
    let session_token = TokenRef {
        sid: Some(&s),
        ..token("j", None, "alice", now())
    };
    let entry = store.lookup(&session_token, now() + 3).await.unwrap()[Scope::Session as usize]
        .expect("written when it ended");
    assert_eq!(
        (entry.stamp, entry.expires_at),
        (now() + 3, now() + 900 + 300 + 1)
    );
    assert!(store.user_sessions("alice").await.unwrap().is_empty());
}

#[tokio::test]
async fn revoke_user_ends_every_live_session_and_end_user_sessions_keeps_one() {
    let clock = StoreClock::manual(now());
    let (_, store) = store_with("users", "", &clock).await;
    for n in 10..13 {
        store
            .create_session(&new_session(&sid(n), "alice", 1))
            .await
            .unwrap();
    }
    store
        .create_session(&new_session(&sid(20), "bob", 1))
        .await
        .unwrap();
    store
        .create_session(&new_session(&sid(21), "bob", 1))
        .await
        .unwrap();
    store.end_session(&sid(12), None).await.unwrap();
    assert_eq!(store.user_sessions("alice").await.unwrap().len(), 2);

    clock.advance(7);
    let revocation = Revocation::new(Scope::User, "alice", now() + 7, now() + 1_000);
    let (entry, ended) = store.revoke_user(&revocation).await.unwrap();
    let mut ended: Vec<String> = ended.into_iter().map(|r| r.sid).collect();
    ended.sort();
    assert_eq!(ended, [sid(10), sid(11)]);
    assert_eq!((entry.stamp, entry.key), (now() + 7, revocation.key()));
    assert!(store.user_sessions("alice").await.unwrap().is_empty());
    for n in [10, 11] {
        let record = store.session(&sid(n)).await.unwrap().unwrap();
        assert_eq!(record.ended_at, Some(now() + 7));
    }
    // A session created afterwards (store clock) is not covered by the user entry.
    clock.advance(1);
    let fresh = store
        .create_session(&new_session(&sid(13), "alice", 1))
        .await
        .unwrap();
    let t = TokenRef {
        sid: Some(&fresh.sid),
        auth_time: Some(fresh.created),
        ..token("j", None, "alice", now() + 8)
    };
    assert!(!store.check(&t, now() + 8).await.unwrap().is_revoked());
    let bad = Revocation::new(Scope::Session, "alice", now(), now() + 1);
    assert_eq!(
        store.revoke_user(&bad).await.unwrap_err().kind(),
        ErrorKind::Usage
    );

    assert_eq!(
        store
            .end_user_sessions("bob", Some(&sid(21)))
            .await
            .unwrap()
            .len(),
        1
    );
    let bobs: Vec<String> = store
        .user_sessions("bob")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.sid)
        .collect();
    assert_eq!(bobs, [sid(21)]);
    let ended = store.end_user_sessions("bob", None).await.unwrap();
    assert_eq!(ended[0].sid, sid(21));
    assert_eq!(ended.len(), 1);

    // Expired sessions go with a purge, by the store's clock.
    assert_eq!(store.purge_sessions().await.unwrap(), 0);
    clock.advance(3_600);
    assert_eq!(store.purge_sessions().await.unwrap(), 6);
}

/// Issue 11: a database written before sessions recorded their caller (no `client_id` column)
/// still opens, its sessions load without a caller, and new ones keep theirs.
#[tokio::test]
async fn issue_11_a_database_from_before_client_id_still_works() {
    let clock = StoreClock::manual(now());
    let (url, store) = store_with("before_client_id", "", &clock).await;
    let old = sid(40);
    store
        .create_session(&crate::NewSession {
            client_id: Some("web".into()),
            ..new_session(&old, "alice", 1)
        })
        .await
        .unwrap();
    drop(store);
    // As the previous version left it.
    let db = crate::db_of(&url);
    crate::PgServer::shared().psql(db, "ALTER TABLE tollgate_sessions DROP COLUMN client_id");

    let store = tollgate::store::PostgresStore::open_with_clock(&url, clock.clone())
        .await
        .unwrap();
    let record = store.session(&old).await.unwrap().expect("the old session");
    assert_eq!((record.sub.as_str(), record.client_id), ("alice", None));
    let new = sid(41);
    store
        .create_session(&crate::NewSession {
            client_id: Some("web".into()),
            ..new_session(&new, "alice", 2)
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .session(&new)
            .await
            .unwrap()
            .unwrap()
            .client_id
            .as_deref(),
        Some("web")
    );
}
