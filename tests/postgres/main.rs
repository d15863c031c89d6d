//! The PostgreSQL store against real PostgreSQL servers (tests/common/postgres.rs): the
//! revocation contract, the store's clock, sessions, the change feed and a replica, an
//! outage, what the tables hold, and 32 refreshes of one token from two processes.
//!
//! Tests share one server per run of this binary, each in a database of its own; the outage
//! test starts a server of its own.

#[path = "../common/mod.rs"]
mod common;

mod feed;
mod outage;
mod revocations;
mod sessions;
mod tls;

use std::time::Duration;

use common::postgres::PgServer;
use common::{eventually, now};
use serde_json::Map;
use tollgate::keys::Namespace;
use tollgate::store::{
    Device, NewSession, PostgresStore, Replica, Rotation, Scope, Status, StoreClock, TokenRef,
};

pub(crate) const OWN: Namespace = Namespace::Own;

/// A fresh database on the shared server, and a store on it whose clock is `clock`.
pub(crate) async fn store_with(
    label: &str,
    query: &str,
    clock: &StoreClock,
) -> (String, PostgresStore) {
    let url = PgServer::shared().database(label, query);
    let store = PostgresStore::open_with_clock(&url, clock.clone())
        .await
        .unwrap();
    (url, store)
}

fn token<'a>(jti: &'a str, sid: Option<&'a str>, sub: &'a str, iat: i64) -> TokenRef<'a> {
    TokenRef {
        namespace: &OWN,
        jti,
        sid,
        sub,
        kid: "k1",
        iat: Some(iat),
        auth_time: None,
    }
}

pub(crate) fn id_of(scope: Scope) -> String {
    match scope {
        Scope::Global => String::new(),
        scope => format!("{scope}-id"),
    }
}

/// The database name at the end of a URL (before any query).
pub(crate) fn db_of(url: &str) -> &str {
    let path = url.rsplit('/').next().unwrap();
    path.split('?').next().unwrap()
}

pub(crate) fn new_session(sid: &str, sub: &str, hash: u8) -> NewSession {
    NewSession {
        sid: sid.to_owned(),
        sub: sub.to_owned(),
        remember_me: false,
        window: 3_600,
        lifetime: 86_400,
        claims: Map::new(),
        client_id: None,
        device: Device::new(Some("test agent".into()), Some("127.0.0.1".into())),
        hash: [hash; 32],
        issued_at: now(),
        access_exp: now() + 900,
    }
}

pub(crate) fn rotation(
    sid: &str,
    generation: u64,
    hash: u8,
    next: u8,
    grace: i64,
    at: i64,
) -> Rotation {
    Rotation {
        sid: sid.to_owned(),
        generation,
        hash: [hash; 32],
        next_hash: [next; 32],
        sealed: vec![next; 60],
        grace,
        issued_at: at,
        access_exp: at + 900,
    }
}

pub(crate) fn sid(n: u32) -> String {
    format!("3f9a1c2e-0b7d-4e5f-8a9b-{n:012x}")
}

/// Waits until `replica` answers revoked for `t` from memory.
pub(crate) async fn revoked_through_the_replica(
    replica: &Replica<PostgresStore>,
    t: &TokenRef<'_>,
    now: i64,
) {
    eventually(
        "the replica to see the revocation",
        Duration::from_secs(10),
        || async {
            replica
                .check_local(t, now)
                .filter(Status::is_revoked)
                .map(|_| ())
        },
    )
    .await;
}
