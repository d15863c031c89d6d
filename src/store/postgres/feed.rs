//! The change feed: `LISTEN` on a dedicated connection for speed, the change sequence polled
//! at every heartbeat for certainty.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, Statement};

use super::{CHANNEL, Cause, HINT, PostgresStore, read_entry, schema};
use crate::error::{Error, Result};
use crate::store::{Change, ChangeFeed, Entry, EntryKey, Subscription, unavailable};

/// Rows one poll reads at most; a full batch is followed by another poll at once.
const BATCH: i64 = 10_000;

/// The notification payload of a stored entry: `<scope><hex digest> <revoked_at> <stamp>
/// <expires_at> <seq>` (the key's digest, never an id).
pub(super) fn encode(entry: &Entry, seq: i64) -> String {
    format!(
        "{} {} {} {} {seq}",
        entry.key.to_hex(),
        entry.revoked_at,
        entry.stamp,
        entry.expires_at
    )
}

/// Parses [`encode`]'s form.
pub(super) fn decode(payload: &str) -> Option<(Entry, i64)> {
    let mut parts = payload.split(' ');
    let key = EntryKey::parse_hex(parts.next()?)?;
    let mut number = || parts.next()?.parse::<i64>().ok();
    let (revoked_at, stamp, expires_at, seq) = (number()?, number()?, number()?, number()?);
    if parts.next().is_some() {
        return None;
    }
    let entry = Entry {
        key,
        revoked_at,
        stamp,
        expires_at,
    };
    Some((entry, seq))
}

impl ChangeFeed for PostgresStore {
    /// Opens a dedicated connection (not one of the pool's), `LISTEN`s on `tollgate_changes`
    /// and reads the change sequence; then yields every notified entry as it arrives, and
    /// every `interval` polls the entries whose sequence number is above the last one polled.
    ///
    /// A poll that finds nothing new is the [`Change::Heartbeat`]; entries it finds that no
    /// notification brought are yielded then. So a notification lost for any reason (the
    /// server does not lose them on a live connection, but nothing here relies on it) delays
    /// its entry by at most one `interval` plus one query, and the feed's staleness while it is
    /// healthy is the notification's delay (sub-millisecond on loopback), at worst `interval`.
    /// A poll that fails or outlasts the store's timeout, or a closed connection, ends the
    /// subscription with an error: the replica then turns strict and resubscribes.
    async fn subscribe(&self, interval: Duration) -> Result<Subscription> {
        let interval = interval.max(Duration::from_millis(1));
        let (client, notes, driver, poll, start) = self.bounded(self.listen()).await?;
        let state = FeedState {
            store: self.clone(),
            client,
            poll,
            notes,
            _driver: driver,
            interval,
            next_poll: Instant::now() + interval,
            polled: start,
            notified: BTreeSet::new(),
            pending: VecDeque::new(),
        };
        let stream = futures_util::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            match state.next().await {
                Ok(change) => Some((Ok(change), Some(state))),
                // The stream ends after reporting the error: the caller resubscribes.
                Err(e) => Some((Err(e), None)),
            }
        });
        Ok(Subscription::from_stream(stream))
    }
}

type Notes = mpsc::UnboundedReceiver<std::result::Result<String, tokio_postgres::Error>>;

/// A listening connection: its client, its notifications, its driver task, the prepared poll
/// and the change sequence when it started listening.
type Listening = (Client, Notes, AbortOnDrop, Statement, i64);

const POLL: &str = "SELECT key, revoked_at, stamp, expires_at, seq FROM tollgate_entries \
    WHERE seq > $1 ORDER BY seq LIMIT $2";

impl PostgresStore {
    /// Connects, starts the task that drives the connection and forwards its notifications,
    /// `LISTEN`s, and reads the change sequence (after `LISTEN`: nothing falls between).
    async fn listen(&self) -> std::result::Result<Listening, Cause> {
        let (client, mut connection) = self.inner.config.connect(self.inner.tls.clone()).await?;
        let (tx, notes) = mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if tx.send(Ok(n.payload().to_owned())).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            // The connection ended: dropping `tx` tells the subscription.
        });
        let driver = AbortOnDrop(driver);
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        let poll = client.prepare(POLL).await?;
        let start: i64 = client.query_one(schema::SEQUENCE, &[]).await?.try_get(0)?;
        Ok((client, notes, driver, poll, start))
    }
}

/// Aborts a task when dropped (the subscription's connection driver).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct FeedState {
    store: PostgresStore,
    client: Client,
    poll: Statement,
    notes: Notes,
    _driver: AbortOnDrop,
    interval: Duration,
    next_poll: Instant,
    /// Every entry written with a sequence number up to this one has been yielded.
    polled: i64,
    /// Sequence numbers above `polled` already yielded from a notification.
    notified: BTreeSet<i64>,
    pending: VecDeque<Entry>,
}

impl FeedState {
    async fn next(&mut self) -> Result<Change> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                return Ok(Change::Revoked(entry));
            }
            tokio::select! {
                note = self.notes.recv() => match note {
                    Some(Ok(payload)) => match decode(&payload) {
                        Some((entry, seq)) if seq > self.polled && self.notified.insert(seq) => {
                            return Ok(Change::Revoked(entry));
                        }
                        Some(_) => {}
                        None => tracing::debug!("ignoring a malformed revocation notification"),
                    },
                    Some(Err(e)) => return Err(self.error(Cause::Pg(e))),
                    None => {
                        return Err(unavailable(self.store.url(), "change feed connection closed", HINT));
                    }
                },
                () = tokio::time::sleep_until(self.next_poll) => {
                    let found = self.store.bounded(poll(&self.client, &self.poll, self.polled)).await?;
                    let full = found.len() as i64 >= BATCH;
                    self.next_poll = if full { Instant::now() } else { Instant::now() + self.interval };
                    for (entry, seq) in found {
                        self.polled = self.polled.max(seq);
                        if !self.notified.contains(&seq) {
                            self.pending.extend(entry);
                        }
                    }
                    let polled = self.polled;
                    self.notified.retain(|seq| *seq > polled);
                    if self.pending.is_empty() {
                        return Ok(Change::Heartbeat);
                    }
                }
            }
        }
    }

    fn error(&self, cause: Cause) -> Error {
        cause.into_error(self.store.url(), self.store.inner.timeout)
    }
}

/// The entries written after `after`, in sequence order (an entry of an unknown scope comes
/// back as `None` with its sequence number, so the poll still moves past it).
async fn poll(
    client: &Client,
    stmt: &Statement,
    after: i64,
) -> std::result::Result<Vec<(Option<Entry>, i64)>, Cause> {
    let mut out = Vec::new();
    for row in client.query(stmt, &[&after, &BATCH]).await? {
        out.push((read_entry(&row)?, row.try_get(4)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Namespace;
    use crate::store::Scope;

    #[test]
    fn notifications_round_trip_and_carry_no_id() {
        let key = EntryKey::new(&Namespace::Own, Scope::User, "alice@example.com");
        let entry = Entry {
            key,
            revoked_at: 1_800_000_000,
            stamp: 1_800_000_001,
            expires_at: 1_800_001_000,
        };
        let payload = encode(&entry, 42);
        assert!(!payload.contains("alice"));
        assert_eq!(decode(&payload), Some((entry, 42)));
        assert_eq!(decode(&format!("{payload} 7")), None);
        assert_eq!(decode("u00 1 2 3 4"), None);
    }
}
