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

use std::time::Duration;

use crate::error::{Error, Result, quoted};

/// The schemes [`Store::open`](super::Store::open) accepts, for error messages.
pub(crate) const ACCEPTED: &str = "memory:, sqlite:PATH, redis://HOST:PORT/DB, rediss://HOST:PORT/DB or redis+cluster://HOST:PORT,HOST:PORT";

/// The default Redis key prefix, so that several applications can share one Redis.
pub const DEFAULT_PREFIX: &str = "tg:v1:";

/// The default bound on one store operation (connect or command). Defaults to 1 second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    Memory,
    Sqlite { path: String },
    Redis(RedisUrl),
}

/// A parsed `redis://`, `rediss://` or `redis+cluster://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    pub(crate) tls: bool,
    pub(crate) cluster: bool,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// `host:port` pairs (exactly one unless `cluster`).
    pub(crate) nodes: Vec<(String, u16)>,
    pub(crate) db: i64,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
}

impl RedisUrl {
    /// The URL of one node for the redis crate (credentials included, no query).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // only the redis backend connects
    pub(crate) fn node_url(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = match (&self.username, &self.password) {
            (Some(u), Some(p)) => format!("{}:{}@", pct_encode(u), pct_encode(p)),
            (None, Some(p)) => format!(":{}@", pct_encode(p)),
            (Some(u), None) => format!("{}@", pct_encode(u)),
            (None, None) => String::new(),
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        format!("{scheme}://{auth}{host}:{port}/{}", self.db)
    }

    /// The URL for messages and logs: the password replaced by `***`.
    pub(crate) fn redacted(&self) -> String {
        let scheme = match (self.cluster, self.tls) {
            (true, _) => "redis+cluster",
            (false, true) => "rediss",
            (false, false) => "redis",
        };
        let auth = match (&self.username, &self.password) {
            (Some(u), Some(_)) => format!("{u}:***@"),
            (None, Some(_)) => ":***@".to_owned(),
            (Some(u), None) => format!("{u}@"),
            (None, None) => String::new(),
        };
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|(h, p)| {
                if h.contains(':') {
                    format!("[{h}]:{p}")
                } else {
                    format!("{h}:{p}")
                }
            })
            .collect();
        let mut out = format!("{scheme}://{auth}{}", nodes.join(","));
        if !self.cluster {
            out.push_str(&format!("/{}", self.db));
        }
        if self.prefix != DEFAULT_PREFIX {
            out.push_str(&format!("?prefix={}", self.prefix));
        }
        out
    }
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
        if url == "memory:" || url == "memory://" {
            return Ok(StoreUrl::Memory);
        }
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(bad("sqlite needs a file path"));
            }
            return Ok(StoreUrl::Sqlite {
                path: path.to_owned(),
            });
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
        let mut timeout = DEFAULT_TIMEOUT;
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
                }
                Some(("timeout", value)) => {
                    timeout = parse_timeout(value)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad("timeout is a duration such as 2s or 500ms"))?;
                }
                _ => return Err(bad("unknown query parameter; use prefix= or timeout=")),
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
            timeout,
        }))
    }

    /// The URL for messages and logs, password redacted.
    pub(crate) fn redacted(&self) -> String {
        match self {
            StoreUrl::Memory => "memory:".to_owned(),
            StoreUrl::Sqlite { path } => format!("sqlite:{path}"),
            StoreUrl::Redis(r) => r.redacted(),
        }
    }
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
        assert_eq!(StoreUrl::parse("memory:").unwrap(), StoreUrl::Memory);
        assert_eq!(
            StoreUrl::parse("sqlite:tollgate.db").unwrap(),
            StoreUrl::Sqlite {
                path: "tollgate.db".into()
            }
        );
        assert_eq!(
            StoreUrl::parse("sqlite:/var/lib/tg.db").unwrap(),
            StoreUrl::Sqlite {
                path: "/var/lib/tg.db".into()
            }
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/tg.db").unwrap(),
            StoreUrl::Sqlite {
                path: "/var/lib/tg.db".into()
            }
        );
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
