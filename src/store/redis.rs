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
//! cluster slot as its revocation key (see [`SessionStore`](crate::session::SessionStore) for
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

use futures_util::StreamExt;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, RedisError, Value};

use super::url::{RedisUrl, StoreUrl};
use super::{
    Change, ChangeFeed, Revocation, RevocationStore, Scope, Status, Subscription, TokenRef,
};
use crate::clock::format_duration;
use crate::error::{Error, Result};

mod sessions;

const HINT: &str = "start redis or use --store sqlite:PATH";

/// Keeps the later `revoked_at` and the later expiry, then publishes the change.
/// KEYS[1] = key; ARGV = revoked_at, ttl seconds, channel, message.
const REVOKE_SCRIPT: &str = r"
local rev = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur then
  local c = tonumber(cur)
  if c and c > rev then rev = c end
  local value = string.format('%d', rev)
  if redis.call('PTTL', KEYS[1]) > ttl * 1000 then
    redis.call('SET', KEYS[1], value, 'KEEPTTL')
  else
    redis.call('SET', KEYS[1], value, 'EX', ttl)
  end
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
";

/// Keys fetched per `SCAN` step and per `GET`/`PTTL` pipeline while listing.
const SCAN_BATCH: usize = 1000;

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
    script: redis::Script,
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
                script: redis::Script::new(REVOKE_SCRIPT),
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

    /// The Redis key that holds a revocation of `id` in `scope` (see the key layout above; a
    /// canonical UUID token id is packed into 16 raw bytes, so keys are bytes, not text).
    pub fn key(&self, scope: Scope, id: &str) -> Vec<u8> {
        let mut key = Vec::new();
        self.write_key(&mut key, scope, id);
        key
    }

    /// Appends the key of `(scope, id)` to `out`.
    fn write_key(&self, out: &mut Vec<u8>, scope: Scope, id: &str) {
        out.extend_from_slice(self.inner.parsed.prefix.as_bytes());
        if scope == Scope::Token
            && let Some(uuid) = super::canonical_uuid(id)
        {
            out.push(b'J');
            out.extend_from_slice(&uuid.to_be_bytes());
            return;
        }
        let (open, close) = match scope {
            Scope::Token => ("j:", ""),
            Scope::Session => ("{s:", "}"),
            Scope::User => ("{u:", "}"),
            Scope::Key => ("k:", ""),
            Scope::Global => ("g", ""),
        };
        out.extend_from_slice(open.as_bytes());
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(close.as_bytes());
    }

    /// The scope and id of one of our keys.
    fn parse_key(&self, key: &[u8]) -> Option<(Scope, String)> {
        let rest = key.strip_prefix(self.inner.parsed.prefix.as_bytes())?;
        if let Some(packed) = rest.strip_prefix(b"J") {
            let bytes: [u8; 16] = packed.try_into().ok()?;
            let uuid = uuid::Uuid::from_bytes(bytes);
            return Some((Scope::Token, uuid.hyphenated().to_string()));
        }
        let rest = std::str::from_utf8(rest).ok()?;
        if rest == "g" {
            return Some((Scope::Global, String::new()));
        }
        if let Some(id) = rest.strip_prefix("j:") {
            return Some((Scope::Token, id.to_owned()));
        }
        if let Some(id) = rest.strip_prefix("k:") {
            return Some((Scope::Key, id.to_owned()));
        }
        if let Some(id) = rest.strip_prefix("{s:").and_then(|r| r.strip_suffix('}')) {
            return Some((Scope::Session, id.to_owned()));
        }
        if let Some(id) = rest.strip_prefix("{u:").and_then(|r| r.strip_suffix('}')) {
            return Some((Scope::User, id.to_owned()));
        }
        None
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

    /// The masters of the cluster as `(host, port)`, from `CLUSTER NODES`.
    async fn masters(&self, conn: &mut ClusterConnection) -> Result<Vec<(String, u16)>> {
        let url = &self.inner.url;
        let text: String = bounded(
            url,
            self.inner.parsed.timeout,
            conn.route_command(
                redis::cmd("CLUSTER").arg("NODES").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            ),
        )
        .await
        .and_then(|v| redis::from_redis_value(v).map_err(|e| redis_error(url, e.into())))?;
        Ok(parse_cluster_nodes(&text))
    }

    /// Lists the entries held by one node (`route`) or by the single node (`None`).
    async fn list_node(
        &self,
        route: Option<SingleNodeRoutingInfo>,
        now: i64,
        out: &mut Vec<Revocation>,
    ) -> Result<()> {
        let url = &self.inner.url;
        let timeout = self.inner.parsed.timeout;
        let pattern = format!("{}*", self.inner.parsed.prefix);
        let mut conn = self.inner.conn.clone();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let value = bounded(url, timeout, async {
                match (&mut conn, &route) {
                    (Conn::Node(c), _) => c.req_packed_command(&scan).await,
                    (Conn::Cluster(c), Some(route)) => {
                        c.route_command(scan.clone(), RoutingInfo::SingleNode(route.clone()))
                            .await
                    }
                    (Conn::Cluster(_), None) => unreachable!("a cluster scan names its node"),
                }
            })
            .await?;
            let (next, keys): (u64, Vec<Vec<u8>>) =
                redis::from_redis_value(value).map_err(|e| self.error(e.into()))?;
            let keys: Vec<(Vec<u8>, Scope, String)> = keys
                .into_iter()
                .filter_map(|k| self.parse_key(&k).map(|(scope, id)| (k, scope, id)))
                .collect();
            if !keys.is_empty() {
                let mut pipe = redis::pipe();
                for (key, _, _) in &keys {
                    pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
                }
                let count = keys.len() * 2;
                let values: Vec<Value> = bounded(url, timeout, async {
                    match (&mut conn, &route) {
                        (Conn::Node(c), _) => c.req_packed_commands(&pipe, 0, count).await,
                        (Conn::Cluster(c), Some(route)) => {
                            c.route_pipeline(pipe.clone(), 0, count, route.clone())
                                .await
                        }
                        (Conn::Cluster(_), None) => unreachable!("a cluster scan names its node"),
                    }
                })
                .await?;
                for ((_, scope, id), pair) in keys.into_iter().zip(values.chunks(2)) {
                    let revoked_at: Option<i64> = redis::from_redis_value(pair[0].clone())
                        .map_err(|e| self.error(e.into()))?;
                    let pttl: i64 = redis::from_redis_value(pair[1].clone())
                        .map_err(|e| self.error(e.into()))?;
                    let Some(revoked_at) = revoked_at else {
                        continue; // expired between SCAN and GET
                    };
                    let expires_at = match pttl {
                        -2 => continue,
                        -1 => i64::MAX,
                        ms => now.saturating_add((ms + 999) / 1000),
                    };
                    out.push(Revocation {
                        scope,
                        id,
                        revoked_at,
                        expires_at,
                    });
                }
            }
            cursor = next;
            if cursor == 0 {
                return Ok(());
            }
        }
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
        let mut invocation = self.inner.script.key(&key);
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
        let mut out = Vec::new();
        match &self.inner.conn {
            Conn::Node(_) => self.list_node(None, now, &mut out).await?,
            Conn::Cluster(c) => {
                let mut conn = c.clone();
                for (host, port) in self.masters(&mut conn).await? {
                    let route = SingleNodeRoutingInfo::ByAddress { host, port };
                    self.list_node(Some(route), now, &mut out).await?;
                }
            }
        }
        Ok(out)
    }

    async fn purge_expired(&self, _now: i64) -> Result<u64> {
        Ok(0)
    }
}

impl ChangeFeed for RedisStore {
    /// Subscribes to `<prefix>revocations` on a dedicated pub/sub connection (in a cluster, on
    /// the first seed node that answers) and pings it every `max(interval, 250 ms)`: a ping
    /// that fails or times out, or a closed connection, ends the subscription with an error.
    async fn subscribe(&self, interval: Duration) -> Result<Subscription> {
        let url = self.inner.url.clone();
        let timeout = self.inner.parsed.timeout;
        let parsed = &self.inner.parsed;
        let mut last_error = None;
        let mut pubsub = None;
        for (host, port) in &parsed.nodes {
            let attempt = async {
                let client = redis::Client::open(parsed.node_url(host, *port))?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&self.inner.channel).await?;
                Ok::<_, RedisError>(pubsub)
            };
            match bounded(&url, timeout, attempt).await {
                Ok(p) => {
                    pubsub = Some(p);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(pubsub) = pubsub else {
            return Err(last_error
                .unwrap_or_else(|| super::unavailable(&url, "no node to subscribe to", HINT)));
        };
        let (sink, stream) = pubsub.split();
        let ping_every = interval.max(Duration::from_millis(250));
        let state = FeedState {
            sink,
            stream,
            url,
            timeout,
            ping_every,
        };
        let stream = futures_util::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            loop {
                tokio::select! {
                    message = state.stream.next() => {
                        let Some(message) = message else {
                            let e = super::unavailable(&state.url, "subscription closed", HINT);
                            return Some((Err(e), None));
                        };
                        match std::str::from_utf8(message.get_payload_bytes())
                            .ok()
                            .and_then(decode_change)
                        {
                            Some(entry) => return Some((Ok(Change::Revoked(entry)), Some(state))),
                            None => tracing::debug!("ignoring a malformed revocation message"),
                        }
                    }
                    () = tokio::time::sleep(state.ping_every) => {
                        let ping = bounded(&state.url, state.timeout, state.sink.ping::<Value>());
                        return match ping.await {
                            Ok(_) => Some((Ok(Change::Heartbeat), Some(state))),
                            Err(e) => Some((Err(e), None)),
                        };
                    }
                }
            }
        });
        Ok(Subscription::from_stream(stream))
    }
}

struct FeedState {
    sink: redis::aio::PubSubSink,
    stream: redis::aio::PubSubStream,
    url: String,
    timeout: Duration,
    ping_every: Duration,
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

/// `(host, port)` of every master that is not failed, from `CLUSTER NODES` output.
fn parse_cluster_nodes(text: &str) -> Vec<(String, u16)> {
    let mut masters = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(addr), Some(flags)) = (fields.get(1), fields.get(2)) else {
            continue;
        };
        if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
            continue;
        }
        // ip:port@cport[,hostname]
        let addr = addr.split(['@', ',']).next().unwrap_or("");
        if let Some((host, port)) = addr.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
            && !host.is_empty()
            && port != 0
        {
            masters.push((host.to_owned(), port));
        }
    }
    masters
}

/// The compact text form of a change, as Redis publishes it: `<scope letter> <revoked_at>
/// <expires_at> <id>` (the id last, so that it may contain spaces).
fn encode_change(entry: &Revocation) -> String {
    format!(
        "{} {} {} {}",
        scope_letter(entry.scope),
        entry.revoked_at,
        entry.expires_at,
        entry.id
    )
}

/// Parses [`encode_change`]'s form.
fn decode_change(text: &str) -> Option<Revocation> {
    let mut parts = text.splitn(4, ' ');
    let scope = scope_from_letter(parts.next()?)?;
    let revoked_at = parts.next()?.parse().ok()?;
    let expires_at = parts.next()?.parse().ok()?;
    let id = parts.next()?.to_owned();
    Some(Revocation {
        scope,
        id,
        revoked_at,
        expires_at,
    })
}

fn scope_letter(scope: Scope) -> char {
    match scope {
        Scope::Token => 'j',
        Scope::Session => 's',
        Scope::User => 'u',
        Scope::Key => 'k',
        Scope::Global => 'g',
    }
}

fn scope_from_letter(letter: &str) -> Option<Scope> {
    Some(match letter {
        "j" => Scope::Token,
        "s" => Scope::Session,
        "u" => Scope::User,
        "k" => Scope::Key,
        "g" => Scope::Global,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes_masters_only() {
        let text = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003,host.example master - 0 1426238318243 3 connected 10923-16383
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
aaaa :0@0 master,noaddr - 0 0 0 disconnected
bbbb 127.0.0.1:30009@40009 master,fail - 0 0 0 connected
";
        assert_eq!(
            parse_cluster_nodes(text),
            [
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30003),
                ("127.0.0.1".to_owned(), 30001),
            ]
        );
    }

    #[test]
    fn changes_round_trip_through_text() {
        for entry in [
            Revocation::new(Scope::Token, "a b c", 1, 2),
            Revocation::new(Scope::Global, "", -5, 9),
        ] {
            assert_eq!(decode_change(&encode_change(&entry)), Some(entry));
        }
        assert_eq!(decode_change("x 1 2 id"), None);
        assert_eq!(decode_change("j one 2 id"), None);
    }
}
