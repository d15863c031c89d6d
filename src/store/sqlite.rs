//! The embedded store (`sqlite:PATH`): one file that several processes share.
//!
//! Every connection runs in WAL mode with `synchronous=FULL` (a lost revocation is a security
//! bug) and a 5-second `busy_timeout`; writes take `BEGIN IMMEDIATE`. Blocking driver calls run
//! on tokio's blocking pool, never on a worker. Every time the store decides by itself (an
//! entry's `stamp`, a session's creation and expiry, the grace window, the purge cut-off) is read
//! from its [`StoreClock`]: the real clock of the writing process (all processes sharing the
//! file share its machine's clock), never a caller's `--now`.
//!
//! Schema (version 4):
//!
//! ```sql
//! CREATE TABLE entries (             -- the denylist (key layout v2, see EntryKey)
//!     key BLOB PRIMARY KEY,          -- scope letter + 16-byte digest of (namespace, scope, id)
//!     revoked_at INTEGER NOT NULL,   -- the revoker's clock
//!     stamp INTEGER NOT NULL,        -- the store's clock when written (latest, once merged)
//!     expires_at INTEGER NOT NULL,   -- when it may be dropped
//!     seq INTEGER NOT NULL) WITHOUT ROWID;
//! CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
//!     -- schema, seq (the change sequence), max_leeway (seconds)
//! CREATE TABLE sessions (           -- one row per session (refresh-token family)
//!     sid TEXT PRIMARY KEY, sub TEXT NOT NULL, generation INTEGER NOT NULL,
//!     created, last_used, rotated_at, remember_me, refresh_window,
//!     expires_at, absolute_expires_at INTEGER NOT NULL,
//!     claims TEXT NOT NULL, user_agent TEXT, ip TEXT,
//!     hash BLOB NOT NULL, parent_hash BLOB,  -- SHA-256 of the current and previous secrets
//!     sealed BLOB NOT NULL,                  -- current secret, AEAD-sealed under the previous
//!     ended_at INTEGER, issued_at INTEGER NOT NULL, access_exp INTEGER NOT NULL,
//!     undelivered INTEGER,
//!     client_id TEXT);                       -- the caller that started it (schema 4)
//! ```
//!
//! # Upgrading
//!
//! A file of schema 1 or 2 (ids in clear in a `revocations` table) is upgraded when it is
//! opened, in one `BEGIN IMMEDIATE` transaction: every live revocation is copied into `entries`
//! under its digest in tollgate's own namespace, then the old table is dropped, so no live
//! revocation is lost. Session rows gain their new columns (`client_id`, from schema 4, is NULL
//! for sessions started before it was kept; `access_exp` is set to
//! `last_used + 24h`, the longest an access token of theirs could live with the default
//! `max_ttl`). Upgrade every process that shares the file: an old binary would recreate the
//! old table and revoke into it.
//!
//! # Rotation and the change feed
//!
//! A rotation reads the session row, applies [`Rotation::apply`](crate::store::Rotation::apply)
//! (digests compared in constant time in Rust), and writes the row (and on reuse the session
//! revocation) inside one `BEGIN IMMEDIATE` transaction: SQLite's write lock serialises it
//! against every other writer of the file, in this process or another.
//!
//! Every write of an entry takes the next value of `meta.seq` (inside its `BEGIN IMMEDIATE`, so
//! the sequence is strictly increasing across processes) and stamps it on the row it inserts
//! or merges. A replica in another process polls `WHERE seq > last_seen` to learn of new
//! revocations; a sequence cannot lose a change the way a message can.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{
    Change, ChangeFeed, DEFAULT_MAX_LEEWAY, Entry, EntryKey, Revocation, RevocationStore, Scope,
    StoreClock, Subscription, TokenRef, purge_cutoff,
};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::Namespace;

mod sessions;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle connections kept per store.
const POOL_SIZE: usize = 8;

/// The schema version this code writes.
const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', 4), ('seq', 0);
CREATE TABLE IF NOT EXISTS entries (
    key BLOB PRIMARY KEY,
    revoked_at INTEGER NOT NULL,
    stamp INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_seq ON entries (seq);
CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires_at);
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
    ended_at INTEGER,
    issued_at INTEGER NOT NULL DEFAULT 0,
    access_exp INTEGER NOT NULL DEFAULT 0,
    undelivered INTEGER,
    client_id TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_sub ON sessions (sub);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
";

/// The SQLite store. Clones share a small pool of connections to the file.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tollgate::store::{Revocation, RevocationStore, Scope, SqliteStore};
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(dir.path().join("tollgate.db")).await?;
/// let now = tollgate::Clock::system().now();
/// let entry = store.revoke(&Revocation::new(Scope::Session, "s1", now, now + 900)).await?;
/// assert_eq!(entry.expires_at, now + 900);
/// assert_eq!(store.max_leeway(), 300);
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
    clock: StoreClock,
    /// Read from the file when it is opened.
    max_leeway: AtomicI64,
    /// The file's device and inode when first opened: a file deleted or replaced under a running
    /// process (a restored backup, `rm` and a new file) is noticed instead of used forever.
    identity: Mutex<Option<(u64, u64)>>,
    /// How many times the file was found replaced: a change feed started before restarts.
    replaced: std::sync::atomic::AtomicU64,
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path` on the real clock, with the maximum
    /// leeway recorded in it (5 minutes by default).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when the file cannot
    /// be opened, created or upgraded.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        SqliteStore::open_with(path, StoreClock::system(), None).await
    }

    /// Opens the store file at `path` reading `clock`; `max_leeway` (seconds), when given and
    /// larger than the one recorded in the file, is recorded (a maximum leeway only grows:
    /// entries already written were sized with the old one).
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open`].
    pub async fn open_with(
        path: impl AsRef<Path>,
        clock: StoreClock,
        max_leeway: Option<i64>,
    ) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let url = format!("sqlite:{}", path.display());
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path,
                url,
                idle: Mutex::new(Vec::new()),
                clock,
                max_leeway: AtomicI64::new(DEFAULT_MAX_LEEWAY),
                identity: Mutex::new(None),
                replaced: std::sync::atomic::AtomicU64::new(0),
            }),
        };
        let recorded = store
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute_batch(SCHEMA)?;
                upgrade(&tx)?;
                let recorded = record_max_leeway(&tx, max_leeway)?;
                tx.commit()?;
                Ok(recorded)
            })
            .await?;
        crate::store::check_max_leeway(&store.inner.url, max_leeway, recorded)?;
        store.inner.max_leeway.store(recorded, Ordering::Relaxed);
        Ok(store)
    }

    /// The store's URL (`sqlite:PATH`).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The store's clock.
    pub fn clock(&self) -> &StoreClock {
        &self.inner.clock
    }

    /// The current value of the change sequence.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable).
    pub async fn sequence(&self) -> Result<i64> {
        self.run(|conn| {
            conn.query_row("SELECT value FROM meta WHERE name = 'seq'", [], |r| {
                r.get(0)
            })
        })
        .await
    }

    /// The entries changed after `after`, the last sequence among them, and the store's current
    /// sequence.
    async fn changes_since(&self, after: i64) -> Result<(Vec<Entry>, i64, i64)> {
        self.run(move |conn| {
            let current: i64 = conn
                .prepare_cached("SELECT value FROM meta WHERE name = 'seq'")?
                .query_row([], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(
                "SELECT key, revoked_at, stamp, expires_at, seq FROM entries \
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
            Ok((out, last, current))
        })
        .await
    }

    /// Runs `f` with a pooled connection on the blocking pool; `f` receives the store's "now".
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

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction, with the store's clock read once the
    /// write lock is held (so that the times of writes follow their order).
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> rusqlite::Result<T> + Send + 'static,
    {
        let clock = self.inner.clock.clone();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx, clock.now())?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

impl Inner {
    fn take(&self) -> Result<Connection> {
        self.check_identity()?;
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => {
                let conn = self.connect().map_err(|e| self.error(e))?;
                self.remember_identity();
                Ok(conn)
            }
        }
    }

    /// The file at the path now, as `(device, inode)`.
    fn current_identity(&self) -> std::io::Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path).map(|m| (m.dev(), m.ino()))
    }

    fn remember_identity(&self) {
        let mut known = self
            .identity
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if known.is_none() {
            *known = self.current_identity().ok();
        }
    }

    /// Fails when the file was deleted while in use; drops the pooled connections (to the old
    /// file) when another file took its place, so that this process and the CLI use the same.
    fn check_identity(&self) -> Result<()> {
        let mut known = self
            .identity
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let Some(was) = *known else {
            return Ok(());
        };
        match self.current_identity() {
            Ok(now) if now == was => Ok(()),
            Ok(now) => {
                *known = Some(now);
                self.idle
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .clear();
                self.replaced.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(store = %self.url, "the SQLite file was replaced while in use; now using the new one");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::new(
                ErrorKind::StoreUnavailable,
                format!(
                    "store {} was deleted while in use: its revocations are gone from this \
                     path; restore the file (or start over with a new one) and try again",
                    self.url
                ),
            )),
            Err(e) => Err(self.error(e)),
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

/// Upgrades a schema-1 or schema-2 file: every live revocation (ids in clear) is copied under
/// its digest in tollgate's own namespace, then the old table goes; session rows get their new
/// columns. Runs inside the opening transaction.
fn upgrade(tx: &Connection) -> rusqlite::Result<()> {
    let version: i64 = tx.query_row("SELECT value FROM meta WHERE name = 'schema'", [], |r| {
        r.get(0)
    })?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let has_old = tx
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'revocations'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if has_old {
        let mut copied = 0u64;
        let rows: Vec<(String, String, i64, i64)> = tx
            .prepare("SELECT scope, id, revoked_at, expires_at FROM revocations")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (scope, id, revoked_at, expires_at) in rows {
            let Ok(scope) = scope.parse::<Scope>() else {
                continue;
            };
            let mut revocation = Revocation::new(scope, id, revoked_at, expires_at);
            revocation.namespace = Namespace::Own;
            // The old entries' stamp: their revocation time (the only time they recorded).
            insert_entry(tx, &revocation.entry(revoked_at))?;
            copied += 1;
        }
        tx.execute_batch("DROP TABLE revocations;")?;
        tracing::info!(copied, "upgraded the SQLite store to key layout v2");
    }
    let columns: Vec<String> = tx
        .prepare("SELECT name FROM pragma_table_info('sessions')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (column, ddl) in [
        (
            "issued_at",
            "ALTER TABLE sessions ADD COLUMN issued_at INTEGER NOT NULL DEFAULT 0",
        ),
        (
            "access_exp",
            "ALTER TABLE sessions ADD COLUMN access_exp INTEGER NOT NULL DEFAULT 0",
        ),
        (
            "undelivered",
            "ALTER TABLE sessions ADD COLUMN undelivered INTEGER",
        ),
        // Issue 11: the caller that started the session (NULL in older rows).
        (
            "client_id",
            "ALTER TABLE sessions ADD COLUMN client_id TEXT",
        ),
    ] {
        if !columns.iter().any(|c| c == column) {
            tx.execute_batch(ddl)?;
        }
    }
    tx.execute(
        "UPDATE sessions SET issued_at = rotated_at, access_exp = last_used + ?1 \
         WHERE access_exp = 0",
        [crate::keys::DEFAULT_MAX_TTL],
    )?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'schema'",
        [SCHEMA_VERSION],
    )?;
    Ok(())
}

/// The maximum leeway recorded in the file; on a new file, `asked` (or the default) is recorded.
/// It never changes afterwards (see [`check_max_leeway`](crate::store::check_max_leeway)).
fn record_max_leeway(tx: &Connection, asked: Option<i64>) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT OR IGNORE INTO meta (name, value) VALUES ('max_leeway', ?1)",
        [asked.unwrap_or(DEFAULT_MAX_LEEWAY)],
    )?;
    tx.query_row(
        "SELECT value FROM meta WHERE name = 'max_leeway'",
        [],
        |r| r.get(0),
    )
}

fn read_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Entry>> {
    let key: Vec<u8> = row.get(0)?;
    // Rows of unknown scopes (a newer schema) are skipped, not guessed at.
    let Some(key) = EntryKey::from_bytes(&key) else {
        return Ok(None);
    };
    Ok(Some(Entry {
        key,
        revoked_at: row.get(1)?,
        stamp: row.get(2)?,
        expires_at: row.get(3)?,
    }))
}

/// Stores `entry` with the next change sequence number: an expired leftover row is replaced,
/// a live one keeps the later times. Returns the entry as stored.
fn insert_entry(tx: &Connection, entry: &Entry) -> rusqlite::Result<Entry> {
    let seq: i64 = tx.query_row(
        "UPDATE meta SET value = value + 1 WHERE name = 'seq' RETURNING value",
        [],
        |r| r.get(0),
    )?;
    tx.prepare_cached(
        "INSERT INTO entries (key, revoked_at, stamp, expires_at, seq) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (key) DO UPDATE SET \
           revoked_at = CASE WHEN expires_at <= excluded.stamp THEN excluded.revoked_at \
                        ELSE max(revoked_at, excluded.revoked_at) END, \
           stamp = CASE WHEN expires_at <= excluded.stamp THEN excluded.stamp \
                   ELSE max(stamp, excluded.stamp) END, \
           expires_at = CASE WHEN expires_at <= excluded.stamp THEN excluded.expires_at \
                        ELSE max(expires_at, excluded.expires_at) END, \
           seq = excluded.seq \
         RETURNING key, revoked_at, stamp, expires_at",
    )?
    .query_row(
        params![
            entry.key.to_bytes().as_slice(),
            entry.revoked_at,
            entry.stamp,
            entry.expires_at,
            seq
        ],
        |row| Ok(read_entry(row)?.unwrap_or(*entry)),
    )
}

/// Writes a revocation at `now` (the store's clock), and purges what expired long enough ago.
fn write_revocation(
    tx: &Connection,
    revocation: &Revocation,
    now: i64,
    max_leeway: i64,
) -> rusqlite::Result<Entry> {
    let stored = insert_entry(tx, &revocation.entry(now))?;
    // Opportunistic cleanup on the store's clock: an index range delete, usually of nothing.
    purge(tx, now, max_leeway)?;
    Ok(stored)
}

/// How far behind the writing process's clock a purge stays, at least: every process that
/// writes the file purges by its own clock, so one whose clock runs ahead (a VM resumed from
/// suspend, a machine booted with a wrong hardware clock) must not delete what the others still
/// need. A day of expired rows is cheap on disk.
const CLOCK_GUARD: i64 = 86_400;

fn purge(conn: &Connection, now: i64, max_leeway: i64) -> rusqlite::Result<u64> {
    let cutoff = purge_cutoff(now, max_leeway).min(now.saturating_sub(CLOCK_GUARD));
    let purged = conn
        .prepare_cached("DELETE FROM entries WHERE expires_at <= ?1")?
        .execute([cutoff])?;
    Ok(purged as u64)
}

fn live_entry(conn: &Connection, key: &EntryKey, now: i64) -> rusqlite::Result<Option<Entry>> {
    conn.prepare_cached(
        "SELECT key, revoked_at, stamp, expires_at FROM entries WHERE key = ?1 AND expires_at > ?2",
    )?
    .query_row(params![key.to_bytes().as_slice(), now], |row| {
        read_entry(row)
    })
    .optional()
    .map(Option::flatten)
}

impl RevocationStore for SqliteStore {
    async fn revoke(&self, revocation: &Revocation) -> Result<Entry> {
        revocation.validate()?;
        let revocation = revocation.clone();
        let max_leeway = self.inner.max_leeway.load(Ordering::Relaxed);
        let stored = self
            .write(move |tx, now| write_revocation(tx, &revocation, now, max_leeway))
            .await?;
        tracing::debug!(entry = %stored.key.short(), "revoked (sqlite)");
        Ok(stored)
    }

    async fn lookup(&self, token: &TokenRef<'_>, now: i64) -> Result<[Option<Entry>; 5]> {
        let keys = token.keys();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT key, revoked_at, stamp, expires_at FROM entries \
                 WHERE expires_at > ?1 AND key IN (?2, ?3, ?4, ?5, ?6)",
            )?;
            let bytes = keys.map(|k| k.map(|k| k.to_bytes().to_vec()));
            let [a, b, c, d, e] = &bytes;
            let mut rows = stmt.query(params![now, a, b, c, d, e])?;
            let mut found = [None; 5];
            while let Some(row) = rows.next()? {
                if let Some(entry) = read_entry(row)? {
                    found[entry.key.scope().index()] = Some(entry);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        let now = self.inner.clock.now();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT key, revoked_at, stamp, expires_at FROM entries WHERE expires_at > ?1",
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

    async fn purge_expired(&self) -> Result<u64> {
        let max_leeway = self.inner.max_leeway.load(Ordering::Relaxed);
        self.write(move |tx, now| purge(tx, now, max_leeway)).await
    }

    fn max_leeway(&self) -> i64 {
        self.inner.max_leeway.load(Ordering::Relaxed)
    }
}

impl ChangeFeed for SqliteStore {
    async fn subscribe(&self, interval: Duration) -> Result<Subscription> {
        let replaced = self.inner.replaced.load(Ordering::Relaxed);
        let start = self.sequence().await?;
        let state = PollState {
            store: self.clone(),
            replaced,
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
                    // Another file, or this one restored to an earlier state (its change
                    // sequence went back): what was read so far no longer describes it, so the
                    // feed ends and the replica reloads.
                    Ok(_)
                        if state.store.inner.replaced.load(Ordering::Relaxed) != state.replaced =>
                    {
                        return Some((Err(feed_restart(&state.store, "was replaced")), None));
                    }
                    Ok((_, _, current)) if current < state.after => {
                        return Some((
                            Err(feed_restart(
                                &state.store,
                                "went back to an earlier state (restored?)",
                            )),
                            None,
                        ));
                    }
                    Ok((entries, last, _)) => {
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

/// The error that ends a feed whose file changed under it.
fn feed_restart(store: &SqliteStore, what: &str) -> Error {
    tracing::warn!(store = %store.url(), "the SQLite file {what}; the replica reloads");
    Error::new(
        ErrorKind::StoreUnavailable,
        format!("store {} {what}; reloading", store.url()),
    )
}

struct PollState {
    store: SqliteStore,
    /// The store's replacement count when the feed started.
    replaced: u64,
    after: i64,
    pending: VecDeque<Entry>,
    interval: Duration,
    first: bool,
}
