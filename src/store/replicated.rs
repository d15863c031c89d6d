//! The calls of [`Store::Replica`](super::Store::Replica), each as a boxed future of a named
//! type. A `Store` holding a `Replica<Store>` has futures that hold the store's own: boxing
//! them here, outside the `Store` impls, gives those futures a finite type whose `Send` the
//! compiler can see.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{
    ChangeFeed, Ended, Entry, NewSession, Replica, Revocation, RevocationStore, RotateOutcome,
    Rotation, SessionRecord, SessionStore, Status, Store, Subscription, TokenRef,
};
use crate::error::Result;

/// A boxed, sendable future.
pub(super) type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

pub(super) fn revoke<'a>(r: &'a Replica<Store>, revocation: &'a Revocation) -> Boxed<'a, Entry> {
    Box::pin(r.revoke(revocation))
}

pub(super) fn lookup<'a>(
    r: &'a Replica<Store>,
    token: &'a TokenRef<'_>,
    now: i64,
) -> Boxed<'a, [Option<Entry>; 5]> {
    Box::pin(r.lookup(token, now))
}

pub(super) fn check<'a>(
    r: &'a Replica<Store>,
    token: &'a TokenRef<'_>,
    now: i64,
) -> Boxed<'a, Status> {
    Box::pin(r.check(token, now))
}

pub(super) fn list(r: &Replica<Store>) -> Boxed<'_, Vec<Entry>> {
    Box::pin(r.list())
}

pub(super) fn purge_expired(r: &Replica<Store>) -> Boxed<'_, u64> {
    Box::pin(r.purge_expired())
}

pub(super) fn create_session<'a>(
    r: &'a Replica<Store>,
    session: &'a NewSession,
) -> Boxed<'a, SessionRecord> {
    Box::pin(r.create_session(session))
}

pub(super) fn rotate_session<'a>(
    r: &'a Replica<Store>,
    rotation: &'a Rotation,
) -> Boxed<'a, RotateOutcome> {
    Box::pin(r.rotate_session(rotation))
}

pub(super) fn mark_undelivered<'a>(
    r: &'a Replica<Store>,
    sid: &'a str,
    generation: u64,
    undelivered: bool,
) -> Boxed<'a, ()> {
    Box::pin(r.mark_undelivered(sid, generation, undelivered))
}

pub(super) fn session<'a>(r: &'a Replica<Store>, sid: &'a str) -> Boxed<'a, Option<SessionRecord>> {
    Box::pin(r.session(sid))
}

pub(super) fn user_sessions<'a>(
    r: &'a Replica<Store>,
    sub: &'a str,
) -> Boxed<'a, Vec<SessionRecord>> {
    Box::pin(r.user_sessions(sub))
}

pub(super) fn end_session<'a>(
    r: &'a Replica<Store>,
    sid: &'a str,
    owner: Option<&'a str>,
) -> Boxed<'a, Ended> {
    Box::pin(r.end_session(sid, owner))
}

pub(super) fn revoke_user<'a>(
    r: &'a Replica<Store>,
    revocation: &'a Revocation,
) -> Boxed<'a, (Entry, Vec<SessionRecord>)> {
    Box::pin(r.revoke_user(revocation))
}

pub(super) fn end_user_sessions<'a>(
    r: &'a Replica<Store>,
    sub: &'a str,
    keep: Option<&'a str>,
) -> Boxed<'a, Vec<SessionRecord>> {
    Box::pin(r.end_user_sessions(sub, keep))
}

pub(super) fn purge_sessions(r: &Replica<Store>) -> Boxed<'_, u64> {
    Box::pin(r.purge_sessions())
}

/// A replica's feed is its store's.
pub(super) fn subscribe(r: &Replica<Store>, interval: Duration) -> Boxed<'_, Subscription> {
    Box::pin(r.store().subscribe(interval))
}
