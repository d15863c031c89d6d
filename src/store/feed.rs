//! Change feeds: how a [`Replica`](super::Replica) learns of revocations made elsewhere.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};

use super::{Entry, RevocationStore};
use crate::error::Result;

/// A notification from a [`ChangeFeed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// An entry was stored, as stored (or re-revoked; merge it with [`Entry::merge`]).
    Revoked(Entry),
    /// The feed is alive and nothing was missed up to now.
    Heartbeat,
}

/// Stores that can notify a [`Replica`](super::Replica) of new revocations.
pub trait ChangeFeed: RevocationStore {
    /// Subscribes to changes made after this call returns.
    ///
    /// The subscription yields a [`Change::Heartbeat`] at least every `interval` while it is
    /// healthy (SQLite polls its change sequence at this interval; Redis pings its pub/sub
    /// connection at the larger of `interval` and 250 ms; PostgreSQL polls its change sequence
    /// on its `LISTEN` connection at this interval, between notifications). When it yields an error or ends,
    /// changes may have been missed: subscribe again and reload with
    /// [`list`](RevocationStore::list).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the store cannot be reached.
    fn subscribe(&self, interval: Duration) -> impl Future<Output = Result<Subscription>> + Send;
}

/// A stream of [`Change`]s from [`ChangeFeed::subscribe`].
pub struct Subscription {
    stream: Pin<Box<dyn Stream<Item = Result<Change>> + Send>>,
}

impl Subscription {
    /// Wraps any stream of changes (for custom stores).
    pub fn from_stream(stream: impl Stream<Item = Result<Change>> + Send + 'static) -> Self {
        Subscription {
            stream: Box::pin(stream),
        }
    }

    /// The next change; `None` or an error means the subscription is broken and changes may
    /// have been missed.
    pub async fn next(&mut self) -> Option<Result<Change>> {
        self.stream.next().await
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Subscription")
    }
}
