//! The PostgreSQL store (`postgres://`, `postgresql://`): for applications that already run
//! PostgreSQL, with the same semantics as the SQLite store.
//!
//! # Driver, pool and TLS
//!
//! [tokio-postgres](https://docs.rs/tokio-postgres) is the async, pure-Rust driver (its SCRAM
//! login uses RustCrypto; nothing links OpenSSL or ring). Connections are pooled by
//! [deadpool-postgres](https://docs.rs/deadpool-postgres), the pool built for it: it checks a
//! connection is still open before handing it out and drops it otherwise, and it caches
//! prepared statements per connection, so after a server restart the pool fills up again by
//! itself and the store needs no reopening. The pool holds at most `?pool=` connections (8 by
//! default). Of several hosts (`postgres://USER@h1,h2/DB`), the first that accepts writes is
//! used. The server's `statement_timeout` and `lock_timeout` are set to the store's timeout on
//! its connections (so not through a pooler such as PgBouncer in transaction mode, which also
//! would not carry `LISTEN`). Every operation (waiting for a connection, connecting, its statements, its
//! retries) is bounded by `?timeout=` (1 second by default), and every failure is
//! [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable): a verifier that cannot
//! ask the store fails closed.
//!
//! TLS (`?sslmode=require` or `verify-full`, libpq's meanings) goes through rustls with the
//! aws-lc-rs provider by a small connector of tollgate's own (the common ones link ring);
//! `verify-full` trusts the system's roots or those of `?sslrootcert=FILE`. The default is
//! `disable`, as `redis://` is plain TCP: use `verify-full` across any network you do not own.
//! A SCRAM password login over TLS is bound to the server's certificate (`tls-server-end-point`
//! channel binding) whenever the certificate's signature algorithm allows it;
//! `?channel_binding=require` refuses a login without it.
//!
//! # The store's clock
//!
//! Every time the store decides by itself (an entry's `stamp` and expiry, a session's creation,
//! expiry and grace window, the purge cut-off) is the PostgreSQL server's clock, read with
//! `clock_timestamp()` inside the transaction after its locks are taken, so that the times of
//! writes follow their order. One SQL function, `tollgate_now(injected)`, is that rule; tests
//! inject a [`StoreClock`] ([`PostgresStore::open_with_clock`]) whose reading the function
//! returns instead, through the same statements.
//!
//! # Schema (version 1)
//!
//! Created on open (`CREATE TABLE IF NOT EXISTS`, under an advisory lock so that processes
//! opening at once do not race), in the connection's default schema, every name prefixed
//! `tollgate_` so that it can share the application's database:
//!
//! ```sql
//! CREATE TABLE tollgate_meta (name text PRIMARY KEY, value bigint NOT NULL);
//!     -- schema, seq (the change sequence), max_leeway (seconds, set when the store is created)
//! CREATE TABLE tollgate_entries (      -- the denylist (key layout v2, see EntryKey)
//!     key bytea PRIMARY KEY,           -- scope letter + 16-byte digest: no id in clear
//!     revoked_at bigint NOT NULL,      -- the revoker's clock
//!     stamp bigint NOT NULL,           -- the store's clock when written (latest, once merged)
//!     expires_at bigint NOT NULL,      -- when it may be dropped
//!     seq bigint NOT NULL);            -- the change sequence of its last write
//! CREATE TABLE tollgate_sessions (...) -- one row per session, the columns of SQLite's
//! ```
//!
//! # Durability
//!
//! A revocation is acknowledged once its transaction has committed. Where the server or the
//! role defaults to `synchronous_commit = off` (a commit acknowledged before it reaches the
//! disk, lost in a crash), the store turns it on for its own writes.
//!
//! # Atomic steps
//!
//! A rotation locks its session row (`SELECT … FOR UPDATE`), reads the clock, applies
//! [`Rotation::apply`](crate::store::Rotation::apply) and writes the outcome (on reuse, with
//! the session revocation) in one transaction: two refreshes of one token, from any number of
//! processes, are serialised by the row lock. Every write of an entry first takes the next
//! value of `tollgate_meta.seq` (`UPDATE … RETURNING`, whose row lock is held until commit, so
//! sequence numbers become visible in their order), merges the entry with `INSERT … ON
//! CONFLICT (key) DO UPDATE` (the later times win; an expired leftover is replaced) and
//! `NOTIFY`s it, all in the same transaction. Logins and user-wide ends of one user are
//! serialised by a transaction-level advisory lock on the user (class `0x7467_7573`), so a
//! login either commits before [`revoke_user`](crate::store::SessionStore::revoke_user) (and is
//! ended by it) or reads the clock after it. Locks are always taken in the order advisory lock,
//! session rows, sequence row, entry rows, so the store's own transactions cannot deadlock;
//! a deadlock or serialisation failure caused by anything else is retried within the timeout.
//!
//! # The change feed
//!
//! See [`ChangeFeed`](crate::store::ChangeFeed) for `PostgresStore`: `LISTEN` on a dedicated
//! connection, with the change sequence polled at every heartbeat so that a lost notification
//! costs at most one interval.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Row;

use super::url::{PostgresUrl, SslMode, StoreUrl};
use super::{
    DEFAULT_MAX_LEEWAY, Entry, EntryKey, Revocation, RevocationStore, StoreClock, TokenRef,
    purge_cutoff,
};
use crate::error::{Error, ErrorKind, Result};

mod cause;
mod feed;
mod schema;
mod sessions;
mod tls;

pub(crate) use cause::Cause;
use cause::{format_millis, is_transient};
use tls::MakeRustls;

const HINT: &str = "start PostgreSQL or check the URL, or use --store sqlite:PATH";

/// The channel every entry write is `NOTIFY`'d on.
pub(crate) const CHANNEL: &str = "tollgate_changes";

/// The store's clock in SQL: the injected reading (`$n`), or the server's clock.
const NOW: &str = "SELECT tollgate_now($1)";

/// Attempts of a transaction that met a deadlock or a serialisation failure.
const ATTEMPTS: usize = 3;

/// The PostgreSQL store. Clones share one connection pool.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> tollgate::Result<()> {
/// use tollgate::store::{PostgresStore, Revocation, RevocationStore, Scope};
/// let store = PostgresStore::open("postgres://tollgate@127.0.0.1:5432/app?timeout=2s").await?;
/// let now = tollgate::Clock::system().now();
/// let entry = store.revoke(&Revocation::new(Scope::Session, "s1", now, now + 900)).await?;
/// assert!(entry.expires_at >= now + 900);
/// assert_eq!(store.max_leeway(), 300);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// For the change feed's dedicated connections.
    config: tokio_postgres::Config,
    tls: MakeRustls,
    url: String,
    timeout: Duration,
    /// An injected clock (tests); `None`: the server's.
    clock: Option<StoreClock>,
    /// Read from (and recorded in) `tollgate_meta` when the store is opened.
    max_leeway: AtomicI64,
    /// Whether writes must turn `synchronous_commit` on (it is off for this role).
    force_sync: AtomicBool,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database named by `url` (see [`Store`](super::Store) for the form),
    /// creates the schema if needed, and records `?max_leeway=` on a new store (on an existing
    /// one it must equal the recorded one: entries already written were sized with it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a URL that is not a PostgreSQL URL;
    /// [`ErrorKind::StoreUnavailable`] when the server cannot be reached within the timeout,
    /// refuses the login, or the schema cannot be created (for one, a newer tollgate's).
    pub async fn open(url: &str) -> Result<PostgresStore> {
        PostgresStore::open_parsed(parse(url)?, None).await
    }

    /// [`open`](Self::open), with `clock` standing in for the server's clock in everything the
    /// store decides by itself (for tests that move time; a real deployment uses the server's).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub async fn open_with_clock(url: &str, clock: StoreClock) -> Result<PostgresStore> {
        PostgresStore::open_parsed(parse(url)?, Some(clock)).await
    }

    pub(crate) async fn open_parsed(
        parsed: PostgresUrl,
        clock: Option<StoreClock>,
    ) -> Result<PostgresStore> {
        let url = parsed.redacted();
        let roots = match &parsed.sslrootcert {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                Error::new(
                    ErrorKind::StoreUnavailable,
                    format!("cannot read sslrootcert {path} for {url}: {e}"),
                )
                .with_context("store", url.clone())
                .with_source(e)
            })?),
            None => None,
        };
        let tls = MakeRustls::new(parsed.sslmode, roots.as_deref())
            .map_err(|why| super::unavailable(&url, why, "fix the TLS settings in the URL"))?;
        let config = pg_config(&parsed);
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(parsed.pool)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(parsed.timeout))
            .create_timeout(Some(parsed.timeout))
            .recycle_timeout(Some(parsed.timeout))
            .build()
            .map_err(|e| super::unavailable(&url, e, HINT))?;
        let store = PostgresStore {
            inner: Arc::new(Inner {
                pool,
                config,
                tls,
                url,
                timeout: parsed.timeout,
                clock,
                max_leeway: AtomicI64::new(DEFAULT_MAX_LEEWAY),
                force_sync: AtomicBool::new(false),
            }),
        };
        let asked = parsed.max_leeway;
        // Creating the schema may wait for another process's; allow three timeouts.
        let recorded = store
            .bounded_by(
                parsed.timeout.saturating_mul(3),
                store.attempts(|| store.prepare(asked)),
            )
            .await?;
        crate::store::check_max_leeway(&store.inner.url, asked, recorded)?;
        store.inner.max_leeway.store(recorded, Ordering::Relaxed);
        Ok(store)
    }

    /// The URL, password redacted.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The current value of the change sequence (every entry write takes the next one).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::StoreUnavailable`].
    pub async fn sequence(&self) -> Result<i64> {
        self.bounded(async {
            let client = self.inner.pool.get().await?;
            let stmt = client.prepare_cached(schema::SEQUENCE).await?;
            Ok(client.query_one(&stmt, &[]).await?.try_get(0)?)
        })
        .await
    }

    /// Creates the schema and records the maximum leeway, in one transaction; notes whether
    /// commits must be made synchronous.
    async fn prepare(&self, asked: Option<i64>) -> Result<i64, Cause> {
        let mut client = self.inner.pool.get().await?;
        let setting: String = client
            .query_one("SELECT current_setting('synchronous_commit')", &[])
            .await?
            .try_get(0)?;
        if setting == "off" {
            tracing::warn!(
                store = %self.inner.url,
                "synchronous_commit is off for this role; tollgate turns it on for its writes"
            );
            self.inner.force_sync.store(true, Ordering::Relaxed);
        }
        let tx = self.begin(&mut client).await?;
        let recorded = schema::create(&tx, asked).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    /// Starts a write transaction: durable at commit even where the server's or the role's
    /// default is `synchronous_commit = off` (an acknowledged revocation must survive a crash).
    async fn begin<'c>(
        &self,
        client: &'c mut deadpool_postgres::Client,
    ) -> Result<deadpool_postgres::Transaction<'c>, Cause> {
        let tx = client.transaction().await?;
        if self.inner.force_sync.load(Ordering::Relaxed) {
            tx.batch_execute("SET LOCAL synchronous_commit = on")
                .await?;
        }
        Ok(tx)
    }

    /// The injected clock's reading, `None` for the server's (the parameter of
    /// `tollgate_now`).
    fn injected(&self) -> Option<i64> {
        self.inner.clock.as_ref().map(StoreClock::now)
    }

    fn leeway(&self) -> i64 {
        self.inner.max_leeway.load(Ordering::Relaxed)
    }

    /// The store's clock, read inside `tx`.
    async fn now(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<i64, Cause> {
        let stmt = tx.prepare_cached(NOW).await?;
        Ok(tx.query_one(&stmt, &[&self.injected()]).await?.try_get(0)?)
    }

    /// Runs `fut` within the store's timeout, mapping every failure to `StoreUnavailable`.
    async fn bounded<T>(&self, fut: impl Future<Output = Result<T, Cause>>) -> Result<T> {
        self.bounded_by(self.inner.timeout, fut).await
    }

    async fn bounded_by<T>(
        &self,
        timeout: Duration,
        fut: impl Future<Output = Result<T, Cause>>,
    ) -> Result<T> {
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(cause)) => Err(cause.into_error(&self.inner.url, timeout)),
            Err(_elapsed) => Err(super::unavailable(
                &self.inner.url,
                format!("no answer within {}", format_millis(timeout)),
                HINT,
            )),
        }
    }

    /// Runs one transaction (made by `attempt`) again when it met a deadlock or a
    /// serialisation failure, at most [`ATTEMPTS`] times.
    async fn attempts<T, F, Fut>(&self, mut attempt: F) -> Result<T, Cause>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Cause>>,
    {
        let mut left = ATTEMPTS;
        loop {
            match attempt().await {
                Err(Cause::Pg(e)) if left > 1 && is_transient(&e) => {
                    left -= 1;
                    tracing::debug!(error = %e, "retrying a PostgreSQL transaction");
                }
                other => return other,
            }
        }
    }

    /// One write transaction, retried on transient conflicts, within the timeout.
    async fn write<T, F, Fut>(&self, attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Cause>>,
    {
        self.bounded(self.attempts(attempt)).await
    }

    async fn revoke_tx(&self, revocation: &Revocation) -> Result<Entry, Cause> {
        let mut client = self.inner.pool.get().await?;
        let tx = self.begin(&mut client).await?;
        let now = self.now(&tx).await?;
        let stored = write_revocation(&tx, revocation, now, self.leeway()).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn purge_tx(&self) -> Result<u64, Cause> {
        let mut client = self.inner.pool.get().await?;
        let tx = self.begin(&mut client).await?;
        // Entry rows are only ever written under the sequence row's lock (no deadlock).
        let stmt = tx.prepare_cached(schema::LOCK_SEQUENCE).await?;
        tx.execute(&stmt, &[]).await?;
        let now = self.now(&tx).await?;
        let purged = purge(&tx, now, self.leeway()).await?;
        tx.commit().await?;
        Ok(purged)
    }
}

fn parse(url: &str) -> Result<PostgresUrl> {
    match StoreUrl::parse(url)? {
        StoreUrl::Postgres(parsed) => Ok(parsed),
        other => Err(Error::usage(format!(
            "{} is not a PostgreSQL URL; use postgres://USER[:PASS]@HOST[:PORT]/DB",
            other.redacted()
        ))),
    }
}

/// The driver's settings for a parsed URL.
fn pg_config(parsed: &PostgresUrl) -> tokio_postgres::Config {
    // The server gives up on a statement or a lock wait when the client does: a connection
    // whose operation timed out is free again, not stuck behind a lock for the next caller.
    let millis = parsed.timeout.as_millis().max(1);
    let mut config = tokio_postgres::Config::new();
    config
        .user(&parsed.username)
        .dbname(&parsed.dbname)
        .application_name("tollgate")
        .options(format!(
            "-c statement_timeout={millis} -c lock_timeout={millis}"
        ))
        // Revocations are written, and NOTIFY is only delivered, on a primary: of several
        // hosts, the first that accepts writes.
        .target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite)
        .connect_timeout(parsed.timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .ssl_mode(match parsed.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
    if parsed.channel_binding_required {
        config.channel_binding(tokio_postgres::config::ChannelBinding::Require);
    }
    if let Some(password) = &parsed.password {
        config.password(password);
    }
    for (host, port) in &parsed.hosts {
        config.host(host).port(*port);
    }
    config
}

/// An entry from a row `key, revoked_at, stamp, expires_at`; `None` for a key of an unknown
/// scope (a newer schema), which is skipped rather than guessed at.
fn read_entry(row: &Row) -> Result<Option<Entry>, Cause> {
    let key: Vec<u8> = row.try_get(0)?;
    let Some(key) = EntryKey::from_bytes(&key) else {
        return Ok(None);
    };
    Ok(Some(Entry {
        key,
        revoked_at: row.try_get(1)?,
        stamp: row.try_get(2)?,
        expires_at: row.try_get(3)?,
    }))
}

/// Stores `revocation` at `now` (the store's clock) with the next change sequence number and
/// notifies it, then purges what expired long enough ago; returns the entry as stored.
async fn write_revocation(
    tx: &deadpool_postgres::Transaction<'_>,
    revocation: &Revocation,
    now: i64,
    max_leeway: i64,
) -> Result<Entry, Cause> {
    let entry = revocation.entry(now);
    let next = tx.prepare_cached(schema::NEXT_SEQUENCE).await?;
    let seq: i64 = tx.query_one(&next, &[]).await?.try_get(0)?;
    let upsert = tx.prepare_cached(schema::UPSERT_ENTRY).await?;
    let key = entry.key.to_bytes();
    let row = tx
        .query_one(
            &upsert,
            &[
                &key.as_slice(),
                &entry.revoked_at,
                &entry.stamp,
                &entry.expires_at,
                &seq,
            ],
        )
        .await?;
    let stored = read_entry(&row)?.unwrap_or(entry);
    let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
    tx.execute(&notify, &[&CHANNEL, &feed::encode(&stored, seq)])
        .await?;
    // Opportunistic cleanup on the store's clock: an index range delete, usually of nothing.
    purge(tx, now, max_leeway).await?;
    tracing::debug!(entry = %stored.key.short(), "revoked (postgres)");
    Ok(stored)
}

async fn purge(
    tx: &deadpool_postgres::Transaction<'_>,
    now: i64,
    max_leeway: i64,
) -> Result<u64, Cause> {
    let stmt = tx
        .prepare_cached("DELETE FROM tollgate_entries WHERE expires_at <= $1")
        .await?;
    Ok(tx.execute(&stmt, &[&purge_cutoff(now, max_leeway)]).await?)
}

/// The live entry of `key` at `now`.
async fn live_entry(
    tx: &deadpool_postgres::Transaction<'_>,
    key: &EntryKey,
    now: i64,
) -> Result<Option<Entry>, Cause> {
    let stmt = tx
        .prepare_cached(
            "SELECT key, revoked_at, stamp, expires_at FROM tollgate_entries \
             WHERE key = $1 AND expires_at > $2",
        )
        .await?;
    let bytes = key.to_bytes();
    match tx.query_opt(&stmt, &[&bytes.as_slice(), &now]).await? {
        Some(row) => read_entry(&row),
        None => Ok(None),
    }
}

impl RevocationStore for PostgresStore {
    async fn revoke(&self, revocation: &Revocation) -> Result<Entry> {
        revocation.validate()?;
        self.write(|| self.revoke_tx(revocation)).await
    }

    async fn lookup(&self, token: &TokenRef<'_>, now: i64) -> Result<[Option<Entry>; 5]> {
        let keys: Vec<Vec<u8>> = token
            .keys()
            .into_iter()
            .flatten()
            .map(|k| k.to_bytes().to_vec())
            .collect();
        self.bounded(async {
            let client = self.inner.pool.get().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT key, revoked_at, stamp, expires_at FROM tollgate_entries \
                     WHERE key = ANY($1) AND expires_at > $2",
                )
                .await?;
            let mut found = [None; 5];
            for row in client.query(&stmt, &[&keys, &now]).await? {
                if let Some(entry) = read_entry(&row)? {
                    found[entry.key.scope().index()] = Some(entry);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        self.bounded(async {
            let client = self.inner.pool.get().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT key, revoked_at, stamp, expires_at FROM tollgate_entries \
                     WHERE expires_at > tollgate_now($1)",
                )
                .await?;
            let mut out = Vec::new();
            for row in client.query(&stmt, &[&self.injected()]).await? {
                if let Some(entry) = read_entry(&row)? {
                    out.push(entry);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn purge_expired(&self) -> Result<u64> {
        self.write(|| self.purge_tx()).await
    }

    fn max_leeway(&self) -> i64 {
        self.leeway()
    }
}
