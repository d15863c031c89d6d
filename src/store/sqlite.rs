//! The embedded store (`sqlite:PATH`): one file that several processes share.
//!
//! Every connection runs in WAL mode with `synchronous=FULL` (a lost revocation is a security
//! bug) and a 5-second `busy_timeout`; writes take `BEGIN IMMEDIATE`. Blocking driver calls run
//! on tokio's blocking pool, never on a worker.
//!
//! Schema (version 2; version 1 lacked the `sessions` table, which opening adds):
//!
//! ```sql
//! CREATE TABLE revocations (
//!     scope TEXT NOT NULL, id TEXT NOT NULL,
//!     revoked_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
//!     seq INTEGER NOT NULL,           -- the change sequence, see below
//!     PRIMARY KEY (scope, id)) WITHOUT ROWID;
//! CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
//! CREATE TABLE sessions (          -- one row per session (refresh-token family)
//!     sid TEXT PRIMARY KEY, sub TEXT NOT NULL, generation INTEGER NOT NULL,
//!     created, last_used, rotated_at, remember_me, refresh_window,
//!     expires_at, absolute_expires_at INTEGER NOT NULL,
//!     claims TEXT NOT NULL, user_agent TEXT, ip TEXT,
//!     hash BLOB NOT NULL, parent_hash BLOB,  -- SHA-256 of the current and previous secrets
//!     sealed BLOB NOT NULL,                  -- current secret, AEAD-sealed under the previous
//!     ended_at INTEGER);
//! ```
//!
//! A rotation reads the session row, applies [`Rotation::apply`](crate::store::Rotation::apply)
//! (digests compared in constant time in Rust), and writes the row (and on reuse the session
//! revocation) inside one `BEGIN IMMEDIATE` transaction: SQLite's write lock serialises it
//! against every other writer of the file, in this process or another.
//!
//! Every write takes the next value of `meta.seq` (inside its `BEGIN IMMEDIATE`, so the sequence
//! is strictly increasing across processes) and stamps it on the row it inserts or merges. A
//! replica in another process polls `WHERE seq > last_seen` to learn of new revocations.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use super::{
    Change, ChangeFeed, Revocation, RevocationStore, Scope, Status, Subscription, TokenRef,
};
use crate::error::{Error, Result};

mod sessions;

/// How long a connection waits for another writer's lock. 5 seconds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle connections kept for reuse.
const POOL_SIZE: usize = 8;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS revocations (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (scope, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS revocations_by_seq ON revocations (seq);
CREATE INDEX IF NOT EXISTS revocations_by_expiry ON revocations (expires_at);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', 1), ('seq', 0);
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    sub TEXT NOT NULL,
    generation INTEGER NOT NULL,
    created INTEGER NOT NULL,
    last_used INTEGER NOT NULL,
    rotated_at INTEGER NOT NULL,
    remember_me INTEGER NOT NULL,
    refresh_window INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    claims TEXT NOT NULL,
    user_agent TEXT,
    ip TEXT,
    hash BLOB NOT NULL,
    parent_hash BLOB,
    sealed BLOB NOT NULL,
    ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_by_sub ON sessions (sub);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
UPDATE meta SET value = 2 WHERE name = 'schema' AND value < 2;
";

/// The SQLite revocation store: the embedded default, shared by the processes of one machine.
///
/// Clones share a small pool of connections.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tollgate::store::{Revocation, RevocationStore, Scope, SqliteStore, TokenRef};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tollgate.db");
/// let store = SqliteStore::open(&path).await?;
/// let now = 1_800_000_000;
/// store.revoke(&Revocation::new(Scope::Key, "k1", now, now + 3600), now).await?;
///
/// // Another handle on the same file (as another process would open it) sees the entry.
/// let other = SqliteStore::open(&path).await?;
/// let token = TokenRef { jti: "j", sid: None, sub: "bob", kid: "k1", iat: now };
/// assert!(other.check(&token, now).await?.is_revoked());
/// # Ok::<(), tollgate::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    url: String,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and its schema.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the file cannot
    /// be opened, created or migrated.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let url = format!("sqlite:{}", path.display());
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path,
                url,
                idle: Mutex::new(Vec::new()),
            }),
        };
        store
            .run(|conn| {
                conn.execute_batch(SCHEMA)?;
                Ok(())
            })
            .await?;
        Ok(store)
    }

    /// The store's URL, `sqlite:PATH`.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The current value of the change sequence (the `seq` of the latest write).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the file cannot be
    /// read.
    pub async fn sequence(&self) -> Result<i64> {
        self.run(|conn| {
            conn.query_row("SELECT value FROM meta WHERE name = 'seq'", [], |r| {
                r.get(0)
            })
        })
        .await
    }

    /// Entries written after sequence number `after`, in order, with the last sequence seen.
    async fn changes_since(&self, after: i64) -> Result<(Vec<Revocation>, i64)> {
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT scope, id, revoked_at, expires_at, seq FROM revocations \
                 WHERE seq > ?1 ORDER BY seq LIMIT 10000",
            )?;
            let mut last = after;
            let mut out = Vec::new();
            let mut rows = stmt.query([after])?;
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(4)?;
                last = last.max(seq);
                if let Some(entry) = read_entry(row)? {
                    out.push(entry);
                }
            }
            Ok((out, last))
        })
        .await
    }

    /// Runs `f` on a pooled connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let joined = tokio::task::spawn_blocking(move || {
            let mut conn = inner.take()?;
            let result = f(&mut conn);
            // A connection that failed mid-transaction is dropped rather than reused.
            if result.is_ok() || conn.is_autocommit() {
                inner.give_back(conn);
            }
            result.map_err(|e| inner.error(e))
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(join) => Err(self.inner.error(join)),
        }
    }
}

impl Inner {
    fn take(&self) -> Result<Connection> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => self.connect().map_err(|e| self.error(e)),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if idle.len() < POOL_SIZE {
            idle.push(conn);
        }
    }

    /// A new connection with the settings every connection needs.
    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode returns the resulting mode as a row.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
        Ok(conn)
    }

    fn error(&self, cause: impl std::error::Error + Send + Sync + 'static) -> Error {
        super::unavailable(
            &self.url,
            &cause,
            "check the file's path and permissions, or use --store memory:",
        )
        .with_source(cause)
    }
}

fn read_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Revocation>> {
    let scope: String = row.get(0)?;
    // Rows of unknown scopes (a newer schema) are skipped, not guessed at.
    let Ok(scope) = scope.parse::<Scope>() else {
        return Ok(None);
    };
    Ok(Some(Revocation {
        scope,
        id: row.get(1)?,
        revoked_at: row.get(2)?,
        expires_at: row.get(3)?,
    }))
}

/// Stores (or merges) a live entry inside the caller's `BEGIN IMMEDIATE` transaction, stamped
/// with the next change sequence; returns that sequence.
fn insert_revocation(tx: &Connection, entry: &Revocation, now: i64) -> rusqlite::Result<i64> {
    let seq: i64 = tx.query_row(
        "UPDATE meta SET value = value + 1 WHERE name = 'seq' RETURNING value",
        [],
        |r| r.get(0),
    )?;
    // An expired leftover row is replaced; a live one keeps the later times.
    tx.execute(
        "INSERT INTO revocations (scope, id, revoked_at, expires_at, seq) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (scope, id) DO UPDATE SET \
           revoked_at = CASE WHEN expires_at <= ?6 THEN excluded.revoked_at \
                        ELSE max(revoked_at, excluded.revoked_at) END, \
           expires_at = max(expires_at, excluded.expires_at), \
           seq = excluded.seq",
        params![
            entry.scope.as_str(),
            entry.id,
            entry.revoked_at,
            entry.expires_at,
            seq,
            now
        ],
    )?;
    // Opportunistic cleanup: an index range delete, usually of nothing.
    purge(tx, now)?;
    Ok(seq)
}

fn purge(conn: &Connection, now: i64) -> rusqlite::Result<u64> {
    let purged = conn.execute("DELETE FROM revocations WHERE expires_at <= ?1", [now])?;
    Ok(purged as u64)
}

impl RevocationStore for SqliteStore {
    async fn revoke(&self, entry: &Revocation, now: i64) -> Result<()> {
        entry.validate()?;
        if entry.expires_at <= now {
            return Ok(());
        }
        let entry = entry.clone();
        let scope = entry.scope.as_str();
        let seq = self
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let seq = insert_revocation(&tx, &entry, now)?;
                tx.commit()?;
                Ok(seq)
            })
            .await?;
        tracing::debug!(scope, seq, "revoked (sqlite)");
        Ok(())
    }

    async fn check(&self, token: &TokenRef<'_>, now: i64) -> Result<Status> {
        let iat = token.iat;
        let ids: [Option<String>; 5] = Scope::ALL.map(|scope| token.id(scope).map(str::to_owned));
        let found = self
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT scope, revoked_at FROM revocations WHERE expires_at > ?1 AND ( \
                       (scope = 'token' AND id = ?2) OR (scope = 'session' AND id = ?3) OR \
                       (scope = 'user' AND id = ?4) OR (scope = 'key' AND id = ?5) OR \
                       (scope = 'global' AND id = ?6))",
                )?;
                let [jti, sid, sub, kid, global] = &ids;
                let mut rows = stmt.query(params![now, jti, sid, sub, kid, global])?;
                let mut found = [None; 5];
                while let Some(row) = rows.next()? {
                    let scope: String = row.get(0)?;
                    if let Ok(scope) = scope.parse::<Scope>() {
                        found[scope.index()] = Some(row.get::<_, i64>(1)?);
                    }
                }
                Ok(found)
            })
            .await?;
        Ok(Status::from_slots(iat, found))
    }

    async fn list(&self, now: i64) -> Result<Vec<Revocation>> {
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT scope, id, revoked_at, expires_at FROM revocations WHERE expires_at > ?1",
            )?;
            let mut rows = stmt.query([now])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                if let Some(entry) = read_entry(row)? {
                    out.push(entry);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let purged = purge(&tx, now)?;
            tx.commit()?;
            Ok(purged)
        })
        .await
    }
}

impl ChangeFeed for SqliteStore {
    /// Polls the change sequence every `interval` (the replica's staleness bound), yielding
    /// each new or merged entry and a heartbeat after every poll that found nothing.
    async fn subscribe(&self, interval: Duration) -> Result<Subscription> {
        let start = self.sequence().await?;
        let state = PollState {
            store: self.clone(),
            after: start,
            pending: VecDeque::new(),
            interval,
            first: true,
        };
        let stream = futures_util::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            loop {
                if let Some(entry) = state.pending.pop_front() {
                    return Some((Ok(Change::Revoked(entry)), Some(state)));
                }
                if !state.first {
                    tokio::time::sleep(state.interval).await;
                }
                state.first = false;
                match state.store.changes_since(state.after).await {
                    Ok((entries, last)) => {
                        state.after = last;
                        if entries.is_empty() {
                            return Some((Ok(Change::Heartbeat), Some(state)));
                        }
                        state.pending.extend(entries);
                    }
                    // The stream ends after reporting the error: the caller resubscribes.
                    Err(e) => return Some((Err(e), None)),
                }
            }
        });
        Ok(Subscription::from_stream(stream))
    }
}

struct PollState {
    store: SqliteStore,
    after: i64,
    pending: VecDeque<Revocation>,
    interval: Duration,
    first: bool,
}
