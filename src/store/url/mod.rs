//! Store URLs: parsing, validation and redaction (pure code, no I/O).
//!
//! Accepted forms:
//!
//! | URL | store |
//! | --- | --- |
//! | `memory:` | [`MemoryStore`](super::MemoryStore) |
//! | `sqlite:PATH` | [`SqliteStore`](super::SqliteStore), `PATH` relative or absolute |
//! | `redis://[user:pass@]HOST:PORT[/DB][?prefix=P&timeout=D]` | [`RedisStore`](super::RedisStore), one node |
//! | `rediss://…` | the same over TLS |
//! | `redis+cluster://[user:pass@]HOST:PORT[,HOST:PORT…][?prefix=P&timeout=D]` | Redis Cluster |
//! | `postgres://USER[:PASS]@HOST[:PORT][,HOST[:PORT]…]/DB[?sslmode=M&sslrootcert=FILE&channel_binding=require&timeout=D&pool=N&max_leeway=D]` | [`PostgresStore`](super::PostgresStore) (also `postgresql://`) |

use std::time::Duration;

use crate::error::{Error, Result, quoted};

mod postgres;
mod redis;

pub(crate) use postgres::PostgresUrl;
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use postgres::SslMode;
pub(crate) use redis::RedisUrl;

/// The schemes [`Store::open`](super::Store::open) accepts, for error messages.
pub(crate) const ACCEPTED: &str = "memory:, sqlite:PATH, redis://HOST:PORT/DB, rediss://HOST:PORT/DB, redis+cluster://HOST:PORT,HOST:PORT or postgres://USER@HOST:PORT/DB";

/// The default PostgreSQL port.
pub(crate) const POSTGRES_PORT: u16 = 5432;

/// The default size of a PostgreSQL store's connection pool.
pub(crate) const POSTGRES_POOL: usize = 8;

/// The default Redis key prefix, so that several applications can share one Redis.
pub const DEFAULT_PREFIX: &str = "tg:";

/// The default prefix of the version-1 key layout, read once when a store is upgraded.
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // read by the redis backend only
pub(crate) const V1_DEFAULT_PREFIX: &str = "tg:v1:";

/// The default bound on one store operation (connect or command). Defaults to 1 second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    Memory {
        max_leeway: Option<i64>,
    },
    Sqlite {
        path: String,
        max_leeway: Option<i64>,
    },
    Redis(RedisUrl),
    Postgres(PostgresUrl),
}
impl StoreUrl {
    /// Parses a store URL.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) naming the value (password redacted) and the
    /// accepted schemes.
    pub(crate) fn parse(url: &str) -> Result<StoreUrl> {
        let bad = |why: &str| {
            Error::usage(format!(
                "invalid store URL {} ({why}); use {ACCEPTED}",
                quoted(&redact_raw(url))
            ))
            .with_context("store", redact_raw(url))
        };
        let url = url.trim();
        if let Some(rest) = url
            .strip_prefix("memory://")
            .or_else(|| url.strip_prefix("memory:"))
        {
            let query = match rest {
                "" => "",
                q => q
                    .strip_prefix('?')
                    .ok_or_else(|| bad("memory: takes no path"))?,
            };
            return Ok(StoreUrl::Memory {
                max_leeway: max_leeway_only(query).map_err(&bad)?,
            });
        }
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            // `sqlite:PATH?max_leeway=10m`: a query only when it parses as one.
            let (path, max_leeway) = match path.rsplit_once('?') {
                Some((p, q)) if q.starts_with("max_leeway=") => {
                    (p, max_leeway_only(q).map_err(&bad)?)
                }
                _ => (path, None),
            };
            if path.is_empty() {
                return Err(bad("sqlite needs a file path"));
            }
            return Ok(StoreUrl::Sqlite {
                path: path.to_owned(),
                max_leeway,
            });
        }
        if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            return Ok(StoreUrl::Postgres(PostgresUrl::parse(rest, &bad)?));
        }
        let (tls, cluster, rest) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
            (false, true, rest)
        } else if let Some(rest) = url.strip_prefix("rediss://") {
            (true, false, rest)
        } else if let Some(rest) = url.strip_prefix("redis://") {
            (false, false, rest)
        } else {
            return Err(bad("unknown scheme"));
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        };
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (user, pass) = match u.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (u, None),
                };
                let user = pct_decode(user).ok_or_else(|| bad("bad percent-encoding"))?;
                let pass = pass
                    .map(|p| pct_decode(p).ok_or_else(|| bad("bad percent-encoding")))
                    .transpose()?;
                ((!user.is_empty()).then_some(user), pass)
            }
        };
        let mut nodes = Vec::new();
        for node in hosts.split(',') {
            nodes.push(parse_host_port(node).ok_or_else(|| bad("expected HOST:PORT"))?);
        }
        if !cluster && nodes.len() != 1 {
            return Err(bad("several hosts need redis+cluster://"));
        }
        let db = if path.is_empty() {
            0
        } else {
            path.parse::<i64>()
                .ok()
                .filter(|db| *db >= 0)
                .ok_or_else(|| bad("the database must be a number"))?
        };
        if cluster && db != 0 {
            return Err(bad("Redis Cluster has only database 0"));
        }
        let mut prefix = DEFAULT_PREFIX.to_owned();
        let mut prefix_given = false;
        let mut timeout = DEFAULT_TIMEOUT;
        let mut max_leeway = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("prefix", value)) => {
                    let value = pct_decode(value).ok_or_else(|| bad("bad percent-encoding"))?;
                    if value.is_empty()
                        || !value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b":_.-".contains(&b))
                    {
                        return Err(bad("a prefix uses only letters, digits and : _ . -"));
                    }
                    prefix = value;
                    prefix_given = true;
                }
                Some(("timeout", value)) => {
                    timeout = parse_timeout(value)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad("timeout is a duration such as 2s or 500ms"))?;
                }
                Some(("max_leeway", value)) => {
                    max_leeway = Some(parse_max_leeway(value).map_err(&bad)?);
                }
                _ => {
                    return Err(bad(
                        "unknown query parameter; use prefix=, timeout= or max_leeway=",
                    ));
                }
            }
        }
        Ok(StoreUrl::Redis(RedisUrl {
            tls,
            cluster,
            username,
            password,
            nodes,
            db,
            prefix,
            prefix_given,
            timeout,
            max_leeway,
        }))
    }

    /// The URL for messages and logs, password redacted.
    pub(crate) fn redacted(&self) -> String {
        match self {
            StoreUrl::Memory { .. } => "memory:".to_owned(),
            StoreUrl::Sqlite { path, .. } => format!("sqlite:{path}"),
            StoreUrl::Redis(r) => r.redacted(),
            StoreUrl::Postgres(p) => p.redacted(),
        }
    }
}

/// The only query `memory:` and `sqlite:` take: `max_leeway=D`.
fn max_leeway_only(query: &str) -> std::result::Result<Option<i64>, &'static str> {
    let mut max_leeway = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("max_leeway", value)) => max_leeway = Some(parse_max_leeway(value)?),
            _ => return Err("unknown query parameter; use max_leeway="),
        }
    }
    Ok(max_leeway)
}

/// `max_leeway=` in seconds: a duration with a unit, at most a day.
fn parse_max_leeway(value: &str) -> std::result::Result<i64, &'static str> {
    crate::clock::parse_duration(value)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .filter(|s| *s <= 86_400)
        .ok_or("max_leeway is a duration such as 5m, at most 1d")
}

/// A duration with a unit such as `2s`, `1m` or `500ms` ([`parse_duration`](crate::parse_duration)'s
/// rules, sub-second values allowed).
fn parse_timeout(value: &str) -> Option<Duration> {
    crate::clock::parse_timeout(value).ok()
}

fn parse_host_port(node: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = node.strip_prefix('[') {
        let (host, rest) = rest.split_once(']')?;
        (host, rest.strip_prefix(':')?)
    } else {
        node.rsplit_once(':')?
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    Some((host.to_owned(), port))
}

/// Redacts the password of a URL that may not even parse: everything between `://` … `:` and
/// `@` becomes `***`.
pub(crate) fn redact_raw(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{hosts}{}", &rest[end..])
        }
        None => url.to_owned(),
    }
}

fn pct_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn pct_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(url: &str) -> RedisUrl {
        match StoreUrl::parse(url).unwrap() {
            StoreUrl::Redis(r) => r,
            other => panic!("not redis: {other:?}"),
        }
    }

    #[test]
    fn parses_memory_and_sqlite() {
        assert_eq!(
            StoreUrl::parse("memory:").unwrap(),
            StoreUrl::Memory { max_leeway: None }
        );
        assert_eq!(
            StoreUrl::parse("memory:?max_leeway=10m").unwrap(),
            StoreUrl::Memory {
                max_leeway: Some(600)
            }
        );
        let sqlite = |path: &str, max_leeway| StoreUrl::Sqlite {
            path: path.into(),
            max_leeway,
        };
        assert_eq!(
            StoreUrl::parse("sqlite:tollgate.db").unwrap(),
            sqlite("tollgate.db", None)
        );
        assert_eq!(
            StoreUrl::parse("sqlite:/var/lib/tg.db").unwrap(),
            sqlite("/var/lib/tg.db", None)
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/tg.db").unwrap(),
            sqlite("/var/lib/tg.db", None)
        );
        assert_eq!(
            StoreUrl::parse("sqlite:tg.db?max_leeway=1m").unwrap(),
            sqlite("tg.db", Some(60))
        );
        for bad in [
            "memory:x",
            "memory:?ttl=1s",
            "sqlite:tg.db?max_leeway=2d",
            "sqlite:tg.db?max_leeway=5",
        ] {
            assert_eq!(
                StoreUrl::parse(bad).unwrap_err().kind(),
                crate::ErrorKind::Usage,
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_redis_forms() {
        let r = redis("redis://127.0.0.1:6379/2");
        assert_eq!(r.nodes, [("127.0.0.1".to_owned(), 6379)]);
        assert_eq!((r.db, r.tls, r.cluster), (2, false, false));
        assert_eq!(r.prefix, DEFAULT_PREFIX);
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);

        let r = redis("rediss://app:s%40cret@cache.internal:6380/0?prefix=app1:&timeout=2s");
        assert!(r.tls);
        assert_eq!(r.username.as_deref(), Some("app"));
        assert_eq!(r.password.as_deref(), Some("s@cret"));
        assert_eq!(r.prefix, "app1:");
        assert_eq!(r.timeout, Duration::from_secs(2));
        assert_eq!(
            r.node_url("cache.internal", 6380),
            "rediss://app:s%40cret@cache.internal:6380/0"
        );

        let r = redis("redis+cluster://h1:7000,h2:7001,[::1]:7002");
        assert!(r.cluster);
        assert_eq!(r.nodes.len(), 3);
        assert_eq!(r.nodes[2], ("::1".to_owned(), 7002));

        assert_eq!(
            redis("redis://h:1?timeout=250ms").timeout,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn rejects_malformed_urls_with_usage_naming_the_value() {
        for bad in [
            "",
            "postgres://x",
            "sqlite:",
            "redis://",
            "redis://host",
            "redis://host:0",
            "redis://host:port",
            "redis://h:1/x",
            "redis://h1:1,h2:2",
            "redis+cluster://h:1/3",
            "redis://h:1?prefix=a*b",
            "redis://h:1?prefix=",
            "redis://h:1?timeout=0s",
            "redis://h:1?color=red",
        ] {
            let err = StoreUrl::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Usage, "{bad}");
            assert!(err.message().contains("memory:"), "{}", err.message());
        }
        let err = StoreUrl::parse("mysql://u:hunter2@h:1").unwrap_err();
        assert!(
            err.message().contains("mysql://u:***@h:1"),
            "{}",
            err.message()
        );
        assert!(!err.message().contains("hunter2"));
    }

    #[test]
    fn redaction_hides_passwords() {
        let r = redis("redis://u:hunter2@h:1/3?prefix=x:");
        assert_eq!(r.redacted(), "redis://u:***@h:1/3?prefix=x:");
        assert_eq!(redis("redis://:pw@h:1").redacted(), "redis://:***@h:1/0");
        assert_eq!(
            redis("redis+cluster://a:1,b:2").redacted(),
            "redis+cluster://a:1,b:2"
        );
        assert_eq!(redact_raw("rediss://u:pw@h:1/0"), "rediss://u:***@h:1/0");
        assert_eq!(redact_raw("sqlite:x.db"), "sqlite:x.db");
    }
}
