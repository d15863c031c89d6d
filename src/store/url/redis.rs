//! `redis://`, `rediss://` and `redis+cluster://` URLs.

use super::*;

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
    /// Whether `?prefix=` was given (the version-1 layout's default prefix differed).
    pub(crate) prefix_given: bool,
    pub(crate) timeout: Duration,
    /// The maximum leeway asked for (`?max_leeway=`), recorded in the store if larger.
    pub(crate) max_leeway: Option<i64>,
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
