//! The distributed store: Redis (one node, `redis://`/`rediss://`) and Redis Cluster
//! (`redis+cluster://`).
//!
//! # Key layout
//!
//! One key per revoked item, with a TTL of `expires_at - now` seconds (at least 1), whose value
//! is `revoked_at` (an integer, which Redis stores in 16 bytes). Keys are short, since the
//! denylist's memory is mostly key names: a token id that is a canonical (lower-case, hyphenated)
//! UUID, as tollgate mints them, is packed into its 16 raw bytes (a 24-byte key with the default
//! prefix, instead of 44):
//!
//! | scope | key |
//! | --- | --- |
//! | token | `<prefix>J<16 bytes>` when the `jti` is a canonical UUID, else `<prefix>j:<jti>` |
//! | session | `<prefix>{s:<sid>}` |
//! | user | `<prefix>{u:<sub>}` |
//! | key | `<prefix>k:<kid>` |
//! | global | `<prefix>g` |
//!
//! The prefix defaults to `tg:v1:` (`?prefix=` in the URL), so several applications share one
//! Redis. Session and user keys carry a hash tag so that a session's record lives in the same
//! cluster slot as its revocation key (see [`SessionStore`](crate::store::SessionStore) for
//! the session keys: `<prefix>{s:<sid>}:f` and `<prefix>{u:<sub>}:s`).
//!
//! # One round trip
//!
//! On one node, [`check`](RevocationStore::check) is one `MGET` of the five keys. In a cluster the
//! five keys hash to different slots; the cluster connection splits the `MGET` by slot and sends
//! the parts to their nodes at the same time, then reassembles the answer: one concurrent round
//! whose latency is one network round trip (the slowest of at most five parallel requests), not
//! five sequential ones. A part that cannot be routed or answered fails the whole check.
//!
//! # Re-revocation and notifications
//!
//! [`revoke`](RevocationStore::revoke) runs one small Lua script on the key's node: it keeps the
//! later `revoked_at` and the later expiry, then `PUBLISH`es the change on
//! `<prefix>revocations` as `<scope letter> <revoked_at> <expires_at> <id>`, so every
//! [`Replica`](super::Replica) learns of it. Publishing inside the script orders the message after
//! the write. In a cluster, classic `PUBLISH` reaches subscribers on every node.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, RedisError, Value};

use super::url::{RedisUrl, StoreUrl};
use super::{Revocation, RevocationStore, Scope, Status, TokenRef};
use crate::clock::format_duration;
use crate::error::{Error, Result};

mod feed;
mod layout;
mod list;
mod scripts;
mod sessions;

use layout::encode_change;

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
/// store.revoke(&Revocation::new(Scope::Session, "s1", now, now + 900), now).await?;
/// assert_eq!(store.key(Scope::Session, "s1"), b"myapp:{s:s1}");
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
        let channel = format!("{}revocations", parsed.prefix);
        let store = RedisStore {
            inner: Arc::new(Inner {
                conn,
                url,
                channel,
                parsed,
            }),
        };
        // Prove the connection answers (and that AUTH and SELECT worked).
        let _: Value = store.query(&redis::cmd("PING")).await?;
        Ok(store)
    }

    /// The URL, password redacted.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The key prefix (`tg:v1:` unless the URL set `?prefix=`).
    pub fn prefix(&self) -> &str {
        &self.inner.parsed.prefix
    }

    /// The pub/sub channel every revocation is published on: `<prefix>revocations`.
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

impl RevocationStore for RedisStore {
    async fn revoke(&self, entry: &Revocation, now: i64) -> Result<()> {
        entry.validate()?;
        if entry.expires_at <= now {
            return Ok(());
        }
        let ttl = entry.expires_at.saturating_sub(now).max(1);
        let key = self.key(entry.scope, &entry.id);
        let mut invocation = scripts::REVOKE.key(&key);
        invocation
            .arg(entry.revoked_at)
            .arg(ttl)
            .arg(&self.inner.channel)
            .arg(encode_change(entry));
        let mut conn = self.inner.conn.clone();
        let _: Value = bounded(&self.inner.url, self.inner.parsed.timeout, async {
            match &mut conn {
                Conn::Node(c) => invocation.invoke_async(c).await,
                Conn::Cluster(c) => invocation.invoke_async(c).await,
            }
        })
        .await?;
        tracing::debug!(scope = entry.scope.as_str(), id = %entry.id, ttl, "revoked (redis)");
        Ok(())
    }

    async fn check(&self, token: &TokenRef<'_>, _now: i64) -> Result<Status> {
        // TTLs do the expiry: a key that exists is live.
        let mut mget = redis::cmd("MGET");
        let mut scopes = [Scope::Token; 5];
        let mut n = 0;
        let mut key = Vec::with_capacity(128);
        for scope in Scope::ALL {
            if let Some(id) = token.id(scope) {
                key.clear();
                self.write_key(&mut key, scope, id);
                mget.arg(key.as_slice());
                scopes[n] = scope;
                n += 1;
            }
        }
        let values: Vec<Option<i64>> = self.query(&mget).await?;
        if values.len() != n {
            return Err(super::unavailable(
                &self.inner.url,
                format!("MGET of {n} keys answered {} values", values.len()),
                HINT,
            ));
        }
        let mut found = [None; 5];
        for (scope, value) in scopes.into_iter().zip(values) {
            found[scope.index()] = value;
        }
        Ok(Status::from_slots(token.iat, found))
    }

    async fn list(&self, now: i64) -> Result<Vec<Revocation>> {
        self.list_all(now).await
    }

    async fn purge_expired(&self, _now: i64) -> Result<u64> {
        Ok(0)
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
