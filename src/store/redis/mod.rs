//! The distributed store: Redis (one node, `redis://`/`rediss://`) and Redis Cluster
//! (`redis+cluster://`).
//!
//! # Key layout (version 2)
//!
//! One key per entry, named by its scope and the 16-byte digest of its namespace and id (see
//! the `layout` module's table and [`EntryKey`]): no subject, session id or token id is ever in
//! a key name or a published message, and ids of any length are revocable. Each key expires
//! (`EXAT`) when its entry may be dropped, on the Redis server's clock; its value is
//! `revoked_at` (user and global entries: `revoked_at:stamp`). The prefix defaults to `tg:`
//! (`?prefix=`), then `v2:`, so several applications share one Redis. Session and user entries
//! carry a hash tag so that a session's record and a user's index share their entry's cluster
//! slot.
//!
//! # The store's clock
//!
//! Every script reads `TIME`: entry expiry, stamps, session creation and expiry, and the grace
//! window follow the Redis server's clock, whatever the application servers' clocks say.
//!
//! # One round trip
//!
//! On one node, [`lookup`](RevocationStore::lookup) is one `MGET` of the five keys. In a cluster
//! the five keys hash to different slots; the cluster connection splits the `MGET` by slot and
//! sends the parts to their nodes at the same time, then reassembles the answer: one concurrent
//! round whose latency is one network round trip (the slowest of at most five parallel
//! requests), not five sequential ones. A part that cannot be routed or answered fails the whole
//! check.
//!
//! # Re-revocation and notifications
//!
//! [`revoke`](RevocationStore::revoke) runs one small Lua script on the key's node: it keeps the
//! later times, then `PUBLISH`es the entry on `<prefix>v2:changes` as `<scope><hex digest>
//! <revoked_at> <stamp> <expires_at>`, so every [`Replica`](super::Replica) learns of it.
//! Publishing inside the script orders the message after the write. In a cluster, classic
//! `PUBLISH` reaches subscribers on every node.
//!
//! # Upgrading from layout version 1
//!
//! The first time a version-2 store opens a Redis (its settings hash lacks `v1`), it copies
//! every live version-1 entry (`tg:v1:…` by default, ids in clear) into the version-2 layout
//! with its remaining TTL, then records that it did: no live revocation is lost. Version-1
//! session records are not copied (their users log in again); upgrade every process that
//! revokes before revoking again, since an old binary writes only the old layout.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, RedisError, Value};

use super::url::{RedisUrl, StoreUrl};
use super::{DEFAULT_MAX_LEEWAY, Entry, EntryKey, Revocation, RevocationStore, TokenRef};
use crate::clock::format_duration;
use crate::error::{Error, Result};

mod feed;
mod layout;
mod list;
mod migrate;
mod scripts;
mod sessions;

const HINT: &str = "start redis or use --store sqlite:PATH";

/// The Redis revocation store, one node or a cluster.
///
/// Clones share one connection: a [`ConnectionManager`] for one node (it reconnects by itself
/// after a drop; the command that meets the drop fails with `StoreUnavailable`), the async
/// [`ClusterConnection`] for a cluster. Every operation is bounded by the URL's `timeout`
/// (1 second by default).
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> tollgate::Result<()> {
/// use tollgate::store::{RedisStore, Revocation, RevocationStore, Scope};
/// let store = RedisStore::open("redis://127.0.0.1:6379/0?prefix=myapp:").await?;
/// let now = 1_800_000_000;
/// let revocation = Revocation::new(Scope::Session, "s1", now, now + 900);
/// store.revoke(&revocation).await?;
/// assert!(store.entry_key(&revocation.key()).starts_with(b"myapp:v2:{s"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    parsed: RedisUrl,
    url: String,
    channel: String,
    /// Read from (and recorded in) the settings hash when the store is opened.
    max_leeway: AtomicI64,
}

#[derive(Clone)]
enum Conn {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis node or cluster named by `url`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) for a URL that is not a Redis URL;
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) when no connection
    /// could be made within the timeout.
    pub async fn open(url: &str) -> Result<RedisStore> {
        match StoreUrl::parse(url)? {
            StoreUrl::Redis(parsed) => RedisStore::open_parsed(parsed).await,
            other => Err(Error::usage(format!(
                "{} is not a Redis URL; use redis://HOST:PORT/DB, rediss://… or redis+cluster://…",
                other.redacted()
            ))),
        }
    }

    pub(crate) async fn open_parsed(parsed: RedisUrl) -> Result<RedisStore> {
        let url = parsed.redacted();
        let timeout = parsed.timeout;
        if parsed.tls {
            // redis's rustls config uses the process default provider: make it aws-lc-rs unless
            // the application installed one already (not an error).
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let bad_url =
            |e: RedisError| Error::usage(format!("invalid Redis URL {url}: {e}")).with_source(e);
        // Connecting may retry a few times (50 ms, 100 ms, …): allow three timeouts in all.
        let connect_bound = timeout.saturating_mul(3);
        let conn = if parsed.cluster {
            let nodes: Vec<String> = parsed
                .nodes
                .iter()
                .map(|(h, p)| parsed.node_url(h, *p))
                .collect();
            let client = ClusterClientBuilder::new(nodes)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(2)
                .min_retry_wait(50)
                .max_retry_wait(500)
                .build()
                .map_err(bad_url)?;
            let conn = bounded(&url, connect_bound, client.get_async_connection()).await?;
            Conn::Cluster(conn)
        } else {
            let (host, port) = &parsed.nodes[0];
            let client = redis::Client::open(parsed.node_url(host, *port)).map_err(bad_url)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(2)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500));
            let manager = bounded(
                &url,
                connect_bound,
                ConnectionManager::new_with_config(client, config),
            )
            .await?;
            Conn::Node(manager)
        };
        let channel = format!("{}v2:changes", parsed.prefix);
        let asked = parsed.max_leeway;
        let store = RedisStore {
            inner: Arc::new(Inner {
                conn,
                url,
                channel,
                parsed,
                max_leeway: AtomicI64::new(DEFAULT_MAX_LEEWAY),
            }),
        };
        // Prove the connection answers (and that AUTH and SELECT worked), then read the
        // settings, and upgrade a version-1 layout once.
        let _: Value = store.query(&redis::cmd("PING")).await?;
        store.refuse_eviction().await?;
        let mut invocation = scripts::MAX_LEEWAY.prepare_invoke();
        invocation
            .key(store.meta_key())
            .arg(asked.unwrap_or(DEFAULT_MAX_LEEWAY));
        let max_leeway: i64 = store.invoke(invocation).await?;
        crate::store::check_max_leeway(&store.inner.url, asked, max_leeway)?;
        store.inner.max_leeway.store(max_leeway, Ordering::Relaxed);
        store.upgrade_v1().await?;
        Ok(store)
    }

    /// The URL, password redacted.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The key prefix (`tg:` unless the URL set `?prefix=`; the layout version follows it).
    pub fn prefix(&self) -> &str {
        &self.inner.parsed.prefix
    }

    /// The pub/sub channel every revocation is published on: `<prefix>v2:changes`.
    pub fn channel(&self) -> &str {
        &self.inner.channel
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.conn, Conn::Cluster(_))
    }

    fn error(&self, e: RedisError) -> Error {
        redis_error(&self.inner.url, e)
    }

    /// Runs one command within the timeout.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T> {
        let mut conn = self.inner.conn.clone();
        let value = bounded(&self.inner.url, self.inner.parsed.timeout, async {
            match &mut conn {
                Conn::Node(c) => c.req_packed_command(cmd).await,
                Conn::Cluster(c) => c.req_packed_command(cmd).await,
            }
        })
        .await?;
        redis::from_redis_value(value).map_err(|e| self.error(e.into()))
    }
}

impl RedisStore {
    /// Runs one of the store's scripts within the timeout.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        let mut conn = self.inner.conn.clone();
        let value: Value = bounded(&self.inner.url, self.inner.parsed.timeout, async {
            match &mut conn {
                Conn::Node(c) => invocation.invoke_async(c).await,
                Conn::Cluster(c) => invocation.invoke_async(c).await,
            }
        })
        .await?;
        redis::from_redis_value(value).map_err(|e| self.error(e.into()))
    }

    /// A stored entry from a script's `{revoked_at, stamp, expires_at}` (empty: nothing
    /// stored, the entry had expired already).
    fn stored(&self, key: EntryKey, times: &[i64]) -> Result<Entry> {
        match times {
            [revoked_at, stamp, expires_at] => Ok(Entry {
                key,
                revoked_at: *revoked_at,
                stamp: *stamp,
                expires_at: *expires_at,
            }),
            // The scripts always store and answer the entry: anything else is not ours.
            other => Err(super::unavailable(
                &self.inner.url,
                format!(
                    "storing entry {} answered {} values, not 3",
                    key.short(),
                    other.len()
                ),
                HINT,
            )),
        }
    }
}

impl RedisStore {
    /// Refuses a Redis that may evict keys: every entry has a TTL (it expires with what it
    /// covers), so under memory pressure any policy but `noeviction` could delete live
    /// revocations, and revoked tokens would verify again.
    async fn refuse_eviction(&self) -> Result<()> {
        let info: Value = self.query(redis::cmd("INFO").arg("memory")).await?;
        let mut texts = Vec::new();
        collect_text(&info, &mut texts);
        for text in texts {
            let policy = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("maxmemory_policy:"));
            if let Some(policy) = policy
                && policy != "noeviction"
            {
                return Err(Error::new(
                    crate::ErrorKind::StoreUnavailable,
                    format!(
                        "Redis {} evicts keys under memory pressure (maxmemory-policy {policy}): \
                         revocations could be deleted and revoked tokens would verify again; \
                         set `maxmemory-policy noeviction` (CONFIG SET, or redis.conf), or give \
                         tollgate a Redis of its own that does not evict",
                        self.inner.url
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Stores `revocation` with the server's clock as its stamp, or `stamp` (upgrades only).
    pub(super) async fn store_entry(
        &self,
        revocation: &Revocation,
        stamp: Option<i64>,
    ) -> Result<Entry> {
        revocation.validate()?;
        let key = revocation.key();
        let mut invocation = scripts::REVOKE.prepare_invoke();
        invocation
            .key(self.entry_key(&key))
            .arg(revocation.revoked_at)
            .arg(revocation.expires_at)
            .arg(revocation.lifetime)
            .arg(crate::store::purge_margin(self.max_leeway()))
            .arg(&self.inner.channel)
            .arg(key.to_hex());
        if let Some(stamp) = stamp {
            invocation.arg(stamp);
        }
        let times: Vec<i64> = self.invoke(invocation).await?;
        let stored = self.stored(key, &times)?;
        tracing::debug!(entry = %key.short(), "revoked (redis)");
        Ok(stored)
    }
}

impl RevocationStore for RedisStore {
    async fn revoke(&self, revocation: &Revocation) -> Result<Entry> {
        self.store_entry(revocation, None).await
    }

    async fn lookup(&self, token: &TokenRef<'_>, now: i64) -> Result<[Option<Entry>; 5]> {
        let mut mget = redis::cmd("MGET");
        let mut asked = [None; 5];
        let mut n = 0;
        let mut buf = Vec::with_capacity(32);
        for key in token.keys().into_iter().flatten() {
            buf.clear();
            self.write_entry_key(&mut buf, &key);
            mget.arg(buf.as_slice());
            asked[n] = Some(key);
            n += 1;
        }
        let values: Vec<Option<Vec<u8>>> = self.query(&mget).await?;
        if values.len() != n {
            return Err(super::unavailable(
                &self.inner.url,
                format!("MGET of {n} keys answered {} values", values.len()),
                HINT,
            ));
        }
        let mut found = [None; 5];
        for (key, value) in asked.into_iter().flatten().zip(values) {
            let Some(value) = value else { continue };
            let Some((revoked_at, stamp, expires_at)) = layout::parse_value(&value) else {
                return Err(super::unavailable(
                    &self.inner.url,
                    format!("entry {} holds a malformed value", key.short()),
                    HINT,
                ));
            };
            // Keys outlive their entries by the purge margin (server clock); the verifier's
            // clock decides, as with every store.
            if expires_at <= now {
                continue;
            }
            found[key.scope().index()] = Some(Entry {
                key,
                revoked_at,
                stamp,
                expires_at,
            });
        }
        Ok(found)
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        self.list_all().await
    }

    async fn purge_expired(&self) -> Result<u64> {
        Ok(0)
    }

    fn max_leeway(&self) -> i64 {
        self.inner.max_leeway.load(Ordering::Relaxed)
    }
}

/// Runs a Redis future within `timeout`, mapping every failure to `StoreUnavailable`.
async fn bounded<T>(
    url: &str,
    timeout: Duration,
    fut: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(redis_error(url, e)),
        Err(_elapsed) => Err(super::unavailable(
            url,
            format!("no answer within {}", format_duration_ms(timeout)),
            HINT,
        )),
    }
}

fn format_duration_ms(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format_duration(d)
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A `StoreUnavailable` error naming the cause briefly (never a password: the URL is redacted
/// and redis errors do not carry credentials).
fn redis_error(url: &str, e: RedisError) -> Error {
    let reason = if e.is_connection_refusal() {
        "connection refused".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connection_dropped() {
        "connection dropped".to_owned()
    } else {
        e.to_string()
    };
    // "start redis" fits only when nothing answered. A server that answered refused what the
    // URL asked of it, and its answer says what to change.
    let answered = if reason.contains("DB index is out of range") {
        Some(
            "it has no such database: use a DB index below its `databases` setting (16 by default)",
        )
    } else if reason.contains("cluster support disabled") {
        Some("it is a single server, not a cluster: use redis://HOST:PORT/DB")
    } else if e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
    {
        Some("check the user name and password in the URL")
    } else {
        None
    };
    match answered {
        Some(hint) => Error::new(
            crate::ErrorKind::StoreUnavailable,
            format!("store {url} answered but refused ({reason}); {hint}"),
        )
        .with_context("store", url.to_owned())
        .with_source(e),
        None => super::unavailable(url, reason, HINT).with_source(e),
    }
}

/// Every text in a reply (`INFO` answers one text per node, in a map on a cluster).
fn collect_text(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::BulkString(bytes) => out.push(String::from_utf8_lossy(bytes).into_owned()),
        Value::VerbatimString { text, .. } | Value::SimpleString(text) => out.push(text.clone()),
        Value::Array(items) | Value::Set(items) => {
            items.iter().for_each(|v| collect_text(v, out));
        }
        Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            collect_text(k, out);
            collect_text(v, out);
        }),
        _ => {}
    }
}
